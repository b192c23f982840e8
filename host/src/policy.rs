//! Policy: what the operator grants a plugin. Deny by default.
//!
//! The operator grants, the plugin declares (its `declare` export); a request needs both. A
//! policy is parsed and validated once, at load — unknown keys and bad values are errors that
//! name the file, line and column — and checked on every request. Every denial is a typed
//! [`Denial`], logged by the caller with plugin, namespace and operation.
//!
//! ```toml
//! [plugin]
//! name = "list-links"                 # used in logs (default: the file name)
//!
//! [grant]
//! namespaces = ["blue", "red"]        # exact names
//! namespace_prefixes = ["cni-"]       # any namespace whose name starts with one of these
//! host = "none"                       # the host's own namespace: "none" (default), "read"
//!                                     # (open it and read), or "write" (change it too)
//! operations = ["read"]               # read, link, address, route, neighbor, sysctl, namespace
//! sysctl_prefixes = ["net/ipv4/conf"] # keys the plugin may write (with `sysctl`)
//! state_dirs = ["/var/lib/cni/networks"] # directories a call may be handed read-write
//!                                     # (CNI: the IPAM state of one network), absolute
//!
//! [limits]
//! memory_mib = 64                     # linear memory of one call
//! wall_time_ms = 1000                 # wall-clock budget of one call
//! ops_per_call = 1000                 # host operations per call (each op of a batch counts)
//! open_namespaces = 16                # namespace handles open at once
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::netns::{Namespace, validate_name};
use crate::ops::batch::Op;
use crate::ops::sysctl::SysctlKey;

/// A class of operations, as policies grant and plugins declare them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum OpClass {
    /// Reading links, addresses, sysctls.
    Read,
    /// Creating, changing, deleting links.
    Link,
    /// Adding and deleting addresses.
    Address,
    /// Adding and deleting routes.
    Route,
    /// Adding and deleting neighbour entries.
    Neighbor,
    /// Writing sysctls under granted prefixes.
    Sysctl,
    /// Creating and deleting named namespaces.
    Namespace,
}

impl fmt::Display for OpClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpClass::Read => "read",
            OpClass::Link => "link",
            OpClass::Address => "address",
            OpClass::Route => "route",
            OpClass::Neighbor => "neighbor",
            OpClass::Sysctl => "sysctl",
            OpClass::Namespace => "namespace",
        })
    }
}

/// What a policy grants on the host's own namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostAccess {
    /// Not even opening it (the default).
    #[default]
    None,
    /// Opening it and reading (links, addresses, routes, sysctls).
    Read,
    /// Also changing it, within the granted operation classes.
    Write,
}

/// Per-call limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory of one call, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock budget of one call.
    pub wall_time: Duration,
    /// Host operations per call.
    pub ops_per_call: u64,
    /// Namespace handles open at once.
    pub open_namespaces: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            wall_time: Duration::from_millis(1000),
            ops_per_call: 1000,
            open_namespaces: 16,
        }
    }
}

/// A validated policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// The plugin's name in logs, if the policy sets one.
    pub name: Option<String>,
    namespaces: BTreeSet<String>,
    prefixes: Vec<String>,
    host: HostAccess,
    classes: BTreeSet<OpClass>,
    sysctl_prefixes: Vec<Vec<String>>,
    state_dirs: Vec<PathBuf>,
    /// Per-call limits.
    pub limits: Limits,
}

/// A policy file that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}:{column}: {message}")]
pub struct PolicyError {
    /// The file (or `<string>`).
    pub origin: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    plugin: Option<PluginSection>,
    #[serde(default)]
    grant: Option<GrantSection>,
    #[serde(default)]
    limits: Option<LimitsSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginSection {
    name: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GrantSection {
    #[serde(default)]
    namespaces: Vec<Spanned<String>>,
    #[serde(default)]
    namespace_prefixes: Vec<Spanned<String>>,
    #[serde(default)]
    host: HostAccess,
    #[serde(default)]
    operations: Vec<OpClass>,
    #[serde(default)]
    sysctl_prefixes: Vec<Spanned<String>>,
    #[serde(default)]
    state_dirs: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    memory_mib: Option<Spanned<u64>>,
    wall_time_ms: Option<Spanned<u64>>,
    ops_per_call: Option<Spanned<u64>>,
    open_namespaces: Option<Spanned<u32>>,
}

impl Policy {
    /// Reads and validates a policy file.
    pub fn load(path: impl AsRef<Path>) -> Result<Policy, PolicyError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
            origin: origin.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read the policy file: {e}"),
        })?;
        Policy::parse(&text, &origin)
    }

    /// Parses and validates policy text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        let at = |offset: usize, message: String| {
            let before = &text[..offset.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            PolicyError {
                origin: origin.to_owned(),
                line,
                column,
                message,
            }
        };
        let file: File = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            at(offset, e.message().trim().to_owned())
        })?;

        let mut policy = Policy {
            name: None,
            ..Policy::default()
        };
        if let Some(name) = file.plugin.and_then(|p| p.name) {
            if name.get_ref().is_empty() || name.get_ref().len() > 64 {
                return Err(at(
                    name.span().start,
                    "plugin name must have 1 to 64 characters".into(),
                ));
            }
            policy.name = Some(name.into_inner());
        }
        let grant = file.grant.unwrap_or_default();
        for ns in grant.namespaces {
            validate_name(ns.get_ref()).map_err(|e| at(ns.span().start, e.to_string()))?;
            policy.namespaces.insert(ns.into_inner());
        }
        for prefix in grant.namespace_prefixes {
            // A prefix must itself be a valid beginning of a name.
            validate_name(prefix.get_ref())
                .map_err(|e| at(prefix.span().start, format!("namespace prefix: {e}")))?;
            policy.prefixes.push(prefix.into_inner());
        }
        policy.host = grant.host;
        policy.classes = grant.operations.into_iter().collect();
        for prefix in grant.sysctl_prefixes {
            let key = SysctlKey::parse(prefix.get_ref().trim_end_matches('/'))
                .map_err(|e| at(prefix.span().start, format!("sysctl prefix: {e}")))?;
            policy.sysctl_prefixes.push(key.components().to_vec());
        }
        for dir in grant.state_dirs {
            let path = PathBuf::from(dir.get_ref());
            if !path.is_absolute() || dir.get_ref().contains('\0') {
                return Err(at(
                    dir.span().start,
                    format!("state_dirs: {:?} is not an absolute path", dir.get_ref()),
                ));
            }
            policy.state_dirs.push(path);
        }
        if !policy.sysctl_prefixes.is_empty() && !policy.classes.contains(&OpClass::Sysctl) {
            return Err(at(
                0,
                "sysctl_prefixes are granted but `sysctl` is not in operations".into(),
            ));
        }
        if let Some(limits) = file.limits {
            let positive = |v: &Spanned<u64>, what: &str, max: u64| {
                if *v.get_ref() == 0 || *v.get_ref() > max {
                    Err(at(
                        v.span().start,
                        format!("{what} must be between 1 and {max}"),
                    ))
                } else {
                    Ok(*v.get_ref())
                }
            };
            if let Some(v) = &limits.memory_mib {
                policy.limits.memory_bytes = (positive(v, "memory_mib", 4096)? as usize) << 20;
            }
            if let Some(v) = &limits.wall_time_ms {
                policy.limits.wall_time =
                    Duration::from_millis(positive(v, "wall_time_ms", 600_000)?);
            }
            if let Some(v) = &limits.ops_per_call {
                policy.limits.ops_per_call = positive(v, "ops_per_call", 1_000_000)?;
            }
            if let Some(v) = &limits.open_namespaces {
                let wide = Spanned::new(v.span(), u64::from(*v.get_ref()));
                policy.limits.open_namespaces = positive(&wide, "open_namespaces", 1024)? as u32;
            }
        }
        Ok(policy)
    }

    /// A policy granting the named namespaces for the given classes (for embedders and tests).
    pub fn granting(
        namespaces: impl IntoIterator<Item = impl Into<String>>,
        classes: impl IntoIterator<Item = OpClass>,
    ) -> Policy {
        Policy {
            namespaces: namespaces.into_iter().map(Into::into).collect(),
            classes: classes.into_iter().collect(),
            ..Policy::default()
        }
    }

    /// Also grant namespaces whose names start with `prefix`.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Policy {
        self.prefixes.push(prefix.into());
        self
    }

    /// Also grant the host's own namespace, for reading or also for writing.
    pub fn with_host(mut self, access: HostAccess) -> Policy {
        self.host = access;
        self
    }

    /// What the policy grants on the host's own namespace.
    pub fn host_access(&self) -> HostAccess {
        self.host
    }

    /// Also grant sysctl writes under `prefix` (components, e.g. `["net", "ipv4", "conf"]`).
    pub fn with_sysctl_prefix(mut self, prefix: &SysctlKey) -> Policy {
        self.classes.insert(OpClass::Sysctl);
        self.sysctl_prefixes.push(prefix.components().to_vec());
        self
    }

    /// Also grant directories below `dir` to calls (see
    /// [`CallGrants::dir`](crate::runtime::CallGrants::dir)).
    pub fn with_state_dir(mut self, dir: impl Into<PathBuf>) -> Policy {
        self.state_dirs.push(dir.into());
        self
    }

    /// Whether the resolved directory `dir` lies in a granted state directory (each resolved
    /// now, so a symbolic link in the policy's path is followed once, by the host).
    pub fn grants_dir(&self, dir: &Path) -> bool {
        self.state_dirs.iter().any(|granted| {
            granted
                .canonicalize()
                .is_ok_and(|g| crate::runtime::grants::within(dir, &g))
        })
    }

    /// Replace the limits.
    pub fn with_limits(mut self, limits: Limits) -> Policy {
        self.limits = limits;
        self
    }

    /// Whether the namespace `name` is granted (exactly or by prefix).
    pub fn grants_namespace(&self, name: &str) -> bool {
        self.namespaces.contains(name) || self.prefixes.iter().any(|p| name.starts_with(p))
    }

    /// The exact names granted, and the prefixes.
    pub fn granted_names(&self) -> (&BTreeSet<String>, &[String]) {
        (&self.namespaces, &self.prefixes)
    }
}

/// Why a request was denied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denial {
    /// The operator did not grant this namespace.
    #[error("namespace {0:?} is not granted by the policy")]
    NamespaceNotGranted(String),
    /// The host namespace needs an explicit grant and a declaration.
    #[error("the host namespace is not {0}")]
    HostNotGranted(&'static str),
    /// Changing the host namespace needs `host = "write"`.
    #[error("changes to the host namespace ({0}) are not granted by the policy (host = \"write\")")]
    HostWriteNotGranted(&'static str),
    /// The operator did not grant this class.
    #[error("operation class `{0}` is not granted by the policy")]
    ClassNotGranted(OpClass),
    /// The plugin did not declare this class.
    #[error("operation class `{0}` was not declared by the plugin")]
    ClassNotDeclared(OpClass),
    /// The namespace path was not granted for this call (only a call's own grants, such as a
    /// CNI runtime's `CNI_NETNS`, can be opened by path).
    #[error("namespace path {0:?} is not granted for this call")]
    PathNotGranted(String),
    /// The sysctl key is outside every granted prefix.
    #[error("sysctl {0} is outside the granted prefixes")]
    SysctlKeyNotGranted(String),
}

/// What one plugin may do: the policy intersected with its declaration.
#[derive(Debug, Clone)]
pub struct Grant {
    policy: Policy,
    declared: BTreeSet<OpClass>,
    declared_host: bool,
}

impl Grant {
    /// The grant for a plugin that declared `declared` (and, if `declared_host`, the host
    /// namespace) under `policy`.
    pub fn new(
        policy: Policy,
        declared: impl IntoIterator<Item = OpClass>,
        declared_host: bool,
    ) -> Grant {
        Grant {
            policy,
            declared: declared.into_iter().collect(),
            declared_host,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// May the plugin open the namespace `name`?
    pub fn check_namespace(&self, name: &str) -> Result<(), Denial> {
        if self.policy.grants_namespace(name) {
            Ok(())
        } else {
            Err(Denial::NamespaceNotGranted(name.to_owned()))
        }
    }

    /// May the plugin open the host's own namespace?
    pub fn check_host(&self) -> Result<(), Denial> {
        match (self.policy.host, self.declared_host) {
            (HostAccess::None, _) => Err(Denial::HostNotGranted("granted by the policy")),
            (_, false) => Err(Denial::HostNotGranted("declared by the plugin")),
            (_, true) => Ok(()),
        }
    }

    /// May the plugin run `op` in `ns`? Checks its class (and sysctl key), and, when it changes
    /// the host's own namespace (`host`) — where it runs, where a new link lands, where a link
    /// moves — that the policy grants host writes. Namespaces themselves were checked when the
    /// plugin opened them.
    pub fn check_op(&self, op: &Op, ns: &Namespace, host: &Namespace) -> Result<(), Denial> {
        match op {
            Op::SysctlSet(key, _) => self.check_sysctl_write(key)?,
            _ => self.check_class(op.class())?,
        }
        let touches_host = || {
            std::iter::once(ns)
                .chain(op.other_namespaces())
                .any(|n| n.id() == host.id())
        };
        if op.writes() && self.policy.host != HostAccess::Write && touches_host() {
            return Err(Denial::HostWriteNotGranted(op.name()));
        }
        Ok(())
    }

    /// May the plugin create or delete the named namespace?
    pub fn check_lifecycle(&self, name: &str) -> Result<(), Denial> {
        self.check_class(OpClass::Namespace)?;
        self.check_namespace(name)
    }

    /// May the plugin use operations of `class`?
    pub fn check_class(&self, class: OpClass) -> Result<(), Denial> {
        if !self.policy.classes.contains(&class) {
            Err(Denial::ClassNotGranted(class))
        } else if !self.declared.contains(&class) {
            Err(Denial::ClassNotDeclared(class))
        } else {
            Ok(())
        }
    }

    /// May the plugin write this sysctl?
    pub fn check_sysctl_write(&self, key: &SysctlKey) -> Result<(), Denial> {
        self.check_class(OpClass::Sysctl)?;
        let components = key.components();
        if self
            .policy
            .sysctl_prefixes
            .iter()
            .any(|p| components.starts_with(p))
        {
            Ok(())
        } else {
            Err(Denial::SysctlKeyNotGranted(key.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
[plugin]
name = "list-links"

[grant]
namespaces = ["blue"]
namespace_prefixes = ["cni-"]
operations = ["read", "sysctl"]
sysctl_prefixes = ["net/ipv4/conf"]

[limits]
memory_mib = 32
wall_time_ms = 500
"#;

    #[test]
    fn parses_a_full_policy() {
        let p = Policy::parse(FULL, "p.toml").unwrap();
        assert_eq!(p.name.as_deref(), Some("list-links"));
        assert!(p.grants_namespace("blue") && p.grants_namespace("cni-1234"));
        assert!(!p.grants_namespace("red") && !p.grants_namespace("blu"));
        assert_eq!(p.limits.memory_bytes, 32 << 20);
        assert_eq!(p.limits.wall_time, Duration::from_millis(500));
        assert_eq!(p.limits.ops_per_call, Limits::default().ops_per_call);
    }

    #[test]
    fn state_dirs_grant_what_lies_below_them() {
        let tmp = std::env::temp_dir().join(format!("nsplug-policy-{}", std::process::id()));
        let inner = tmp.join("net1");
        std::fs::create_dir_all(&inner).unwrap();
        let p = Policy::parse(
            &format!("[grant]\nstate_dirs = [{:?}]\n", tmp.display().to_string()),
            "p.toml",
        )
        .unwrap();
        assert!(p.grants_dir(&inner.canonicalize().unwrap()));
        assert!(p.grants_dir(&tmp.canonicalize().unwrap()));
        assert!(!p.grants_dir(Path::new("/etc")));
        assert!(!Policy::default().grants_dir(&inner));
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn empty_policy_denies_everything() {
        let g = Grant::new(Policy::parse("", "p.toml").unwrap(), [OpClass::Read], true);
        assert_eq!(g.policy().host_access(), HostAccess::None);
        assert!(g.check_namespace("blue").is_err());
        assert!(g.check_host().is_err());
        assert!(g.check_class(OpClass::Read).is_err());
    }

    #[test]
    fn a_request_needs_grant_and_declaration() {
        let p = Policy::parse(FULL, "p.toml").unwrap();
        let g = Grant::new(p.clone(), [OpClass::Read], false);
        assert_eq!(g.check_class(OpClass::Read), Ok(()));
        assert_eq!(
            g.check_class(OpClass::Sysctl),
            Err(Denial::ClassNotDeclared(OpClass::Sysctl))
        );
        assert_eq!(
            g.check_class(OpClass::Link),
            Err(Denial::ClassNotGranted(OpClass::Link))
        );
        let g = Grant::new(p, [OpClass::Read, OpClass::Sysctl], false);
        let inside = SysctlKey::parse("net/ipv4/conf/eth0.100/forwarding").unwrap();
        let outside = SysctlKey::parse("net/ipv4/ip_forward").unwrap();
        assert_eq!(g.check_sysctl_write(&inside), Ok(()));
        assert!(g.check_sysctl_write(&outside).is_err());
    }

    #[test]
    fn host_needs_both_sides() {
        let granted = Policy::default().with_host(HostAccess::Read);
        assert!(Grant::new(granted.clone(), [], true).check_host().is_ok());
        assert!(Grant::new(granted, [], false).check_host().is_err());
        assert!(
            Grant::new(Policy::default(), [], true)
                .check_host()
                .is_err()
        );
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let unknown = "[grant]\nnamespaces = [\"a\"]\nnamespacez = [\"b\"]\n";
        let e = Policy::parse(unknown, "bad.toml").unwrap_err();
        assert_eq!((e.origin.as_str(), e.line), ("bad.toml", 3), "{e}");
        assert!(e.message.contains("namespacez"), "{e}");

        let bad_name = "[grant]\nnamespaces = [\"ok\", \"../etc\"]\n";
        let e = Policy::parse(bad_name, "bad.toml").unwrap_err();
        assert_eq!((e.line, e.column), (2, 21), "{e}");

        let bad_class = "[grant]\noperations = [\"read\", \"format-disk\"]\n";
        let e = Policy::parse(bad_class, "bad.toml").unwrap_err();
        assert_eq!(e.line, 2, "{e}");

        let bad_limit = "[limits]\nwall_time_ms = 0\n";
        let e = Policy::parse(bad_limit, "bad.toml").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.to_string().starts_with("bad.toml:2:"), "{e}");

        let relative = "[grant]\nstate_dirs = [\"var/lib\"]\n";
        let e = Policy::parse(relative, "bad.toml").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("absolute"), "{e}");

        let bad_type = "[grant]\nhost = true\n";
        assert_eq!(Policy::parse(bad_type, "bad.toml").unwrap_err().line, 2);
    }
}
