//! CNI: `nsplug` as a CNI plugin binary that runs a WebAssembly plugin.
//!
//! When `CNI_COMMAND` is set, the `nsplug` binary behaves as a CNI plugin (spec 1.1.0; network
//! configurations of versions 0.4.0, 1.0.0 and 1.1.0): it reads the network configuration on
//! stdin, loads the Wasm plugin the configuration names under the operator's policy, grants it
//! the runtime's `CNI_NETNS` for this one call, runs the command and prints the CNI result on
//! stdout — or the spec's error JSON, also on stdout, with a non-zero exit status. Logs go to
//! stderr. [`Shim`] is the same machinery for embedders, without a process per call.
//!
//! The configuration names the plugin and its policy in an `nsplug` object; everything else is
//! the plugin's:
//!
//! ```json
//! {
//!   "cniVersion": "1.1.0",
//!   "name": "mynet",
//!   "type": "nsplug",
//!   "nsplug": {
//!     "plugin": "/opt/cni/wasm/bridge_rust.wasm",
//!     "policy": "/etc/nsplug/bridge.toml"
//!   },
//!   "bridge": "cni0",
//!   "isGateway": true,
//!   "ipam": { "type": "host-local", "subnet": "10.22.0.0/16" }
//! }
//! ```
//!
//! * **The host namespace** (the one the runtime runs the plugin in) is the operator's to grant,
//!   in the policy file (`host = "write"`), never the configuration's.
//! * **`CNI_NETNS`** is opened and pinned by the shim, and the plugin may open it with
//!   `netns.open-path(CNI_NETNS)` during this call only. A path that is not a network namespace
//!   is refused with code 4 before the plugin runs.
//! * **IPAM state.** With `ipam.type = "host-local"`, the network's directory
//!   (`ipam.dataDir`, default `/var/lib/cni/networks`, then the network name) is created,
//!   locked exactly as the reference host-local plugin locks it (`flock` on its `lock` file, so
//!   the two can share a node), and preopened read-write for the plugin at the same path. The
//!   policy must grant it (`state_dirs`). Calls on one network are therefore serialised, across
//!   processes, and concurrent ADDs never hand out one address twice.
//! * **Compiled plugins** are cached in `nsplug.cacheDir`, else `$NSPLUG_CACHE_DIR`, else
//!   `/var/cache/nsplug`.
//!
//! The plugin's `handle` gets the command (`ADD`, `DEL`, `CHECK`, `STATUS`, `GC`) and this
//! input document; VERSION is answered by the shim itself:
//!
//! ```json
//! {"containerId": "…", "netns": "/run/netns/x", "ifname": "eth0", "args": "K=V;…",
//!  "path": ["/opt/cni/bin"], "stateDir": "/var/lib/cni/networks/mynet", "config": { … }}
//! ```
//!
//! `netns` is null when the runtime gave none (GC, STATUS) or, on DEL, when the namespace is
//! already gone (DEL must still release what it can). The plugin returns the result document
//! in the configuration's `cniVersion` (empty for commands without a result), or a plugin error
//! whose `code` is the CNI error code in decimal (`"7"`); any other code becomes 999.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::policy::Policy;
use crate::runtime::{CallError, CallGrants, Plugin, Runtime};
use crate::{Namespace, NsKind};

/// The CNI versions whose configurations the shim accepts, oldest first.
pub const SUPPORTED_VERSIONS: [&str; 3] = ["0.4.0", "1.0.0", "1.1.0"];

/// Where host-local keeps its state unless `ipam.dataDir` says otherwise.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/networks";

/// The CNI spec's error codes.
pub mod code {
    /// Incompatible CNI version.
    pub const INCOMPATIBLE_VERSION: u32 = 1;
    /// Unsupported field in the network configuration.
    pub const UNSUPPORTED_FIELD: u32 = 2;
    /// Container unknown or does not exist.
    pub const UNKNOWN_CONTAINER: u32 = 3;
    /// Invalid necessary environment variables.
    pub const INVALID_ENV: u32 = 4;
    /// I/O failure.
    pub const IO: u32 = 5;
    /// Failed to decode content.
    pub const DECODE: u32 = 6;
    /// Invalid network configuration.
    pub const INVALID_CONFIG: u32 = 7;
    /// Try again later.
    pub const TRY_AGAIN: u32 = 11;
    /// Internal error (anything else).
    pub const INTERNAL: u32 = 999;
}

/// A CNI command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// Attach a container.
    Add,
    /// Detach a container (idempotent).
    Del,
    /// Check a container's attachment against `prevResult`.
    Check,
    /// Whether the plugin is ready to attach containers (1.1.0).
    Status,
    /// Release everything not in `cni.dev/valid-attachments` (1.1.0).
    Gc,
    /// Report the supported versions.
    Version,
}

impl Command {
    /// Parses `CNI_COMMAND`.
    pub fn parse(s: &str) -> Option<Command> {
        Some(match s {
            "ADD" => Command::Add,
            "DEL" => Command::Del,
            "CHECK" => Command::Check,
            "STATUS" => Command::Status,
            "GC" => Command::Gc,
            "VERSION" => Command::Version,
            _ => return None,
        })
    }

    /// The name CNI gives it, which is also the command the plugin's `handle` receives.
    pub fn name(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
            Command::Check => "CHECK",
            Command::Status => "STATUS",
            Command::Gc => "GC",
            Command::Version => "VERSION",
        }
    }

    /// The oldest configuration version that has this command.
    fn since(self) -> &'static str {
        match self {
            Command::Status | Command::Gc => "1.1.0",
            _ => "0.4.0",
        }
    }
}

/// A CNI error, printed as the spec's error JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("CNI error {code}: {msg}{}", if details.is_empty() { String::new() } else { format!(" ({details})") })]
pub struct CniError {
    /// The spec's error code ([`code`]).
    pub code: u32,
    /// What went wrong.
    pub msg: String,
    /// More about it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub details: String,
}

impl CniError {
    /// An error with a code and message.
    pub fn new(code: u32, msg: impl Into<String>) -> CniError {
        CniError {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    fn details(mut self, details: impl Into<String>) -> CniError {
        self.details = details.into();
        self
    }

    /// The error JSON for a configuration of `cni_version`.
    pub fn to_json(&self, cni_version: Option<&str>) -> String {
        let mut doc = json!({ "code": self.code, "msg": self.msg });
        if let Some(v) = cni_version {
            doc["cniVersion"] = json!(v);
        }
        if !self.details.is_empty() {
            doc["details"] = json!(self.details);
        }
        doc.to_string()
    }
}

/// One invocation's environment (`CNI_*` variables).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// `CNI_COMMAND`.
    pub command: Option<Command>,
    /// `CNI_CONTAINERID`.
    pub container_id: Option<String>,
    /// `CNI_NETNS`.
    pub netns: Option<String>,
    /// `CNI_IFNAME`.
    pub ifname: Option<String>,
    /// `CNI_ARGS`.
    pub args: Option<String>,
    /// `CNI_PATH`.
    pub path: Option<String>,
}

impl Request {
    /// Reads the `CNI_*` variables and checks the ones `CNI_COMMAND` requires (code 4 names
    /// every missing one, as libcni's plugins do).
    pub fn from_env() -> Result<Request, CniError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let command = var("CNI_COMMAND").unwrap_or_default();
        let request = Request {
            command: Some(Command::parse(&command).ok_or_else(|| {
                CniError::new(
                    code::INVALID_ENV,
                    format!("unknown CNI_COMMAND: {command:?}"),
                )
                .details("expected ADD, DEL, CHECK, STATUS, GC or VERSION")
            })?),
            container_id: var("CNI_CONTAINERID"),
            netns: var("CNI_NETNS"),
            ifname: var("CNI_IFNAME"),
            args: var("CNI_ARGS"),
            path: var("CNI_PATH"),
        };
        request.check()?;
        Ok(request)
    }

    /// A request for `command` with nothing else set.
    pub fn new(command: Command) -> Request {
        Request {
            command: Some(command),
            ..Request::default()
        }
    }

    fn command(&self) -> Result<Command, CniError> {
        self.command
            .ok_or_else(|| CniError::new(code::INVALID_ENV, "CNI_COMMAND is missing"))
    }

    /// Checks that the variables the command needs are there and well formed.
    pub fn check(&self) -> Result<(), CniError> {
        let command = self.command()?;
        use Command::*;
        let needs = [
            (
                "CNI_CONTAINERID",
                &self.container_id,
                &[Add, Del, Check][..],
            ),
            ("CNI_NETNS", &self.netns, &[Add, Check]),
            ("CNI_IFNAME", &self.ifname, &[Add, Del, Check]),
            ("CNI_PATH", &self.path, &[Add, Del, Check, Status, Gc]),
        ];
        let missing: Vec<&str> = needs
            .iter()
            .filter(|(_, value, commands)| value.is_none() && commands.contains(&command))
            .map(|(name, _, _)| *name)
            .collect();
        if !missing.is_empty() {
            return Err(CniError::new(
                code::INVALID_ENV,
                format!("required env variables [{}] missing", missing.join(",")),
            ));
        }
        if let Some(id) = &self.container_id
            && !valid_identifier(id)
        {
            return Err(
                CniError::new(code::INVALID_ENV, "invalid characters in CNI_CONTAINERID")
                    .details(id.clone()),
            );
        }
        if let Some(ifname) = &self.ifname
            && !valid_ifname(ifname)
        {
            return Err(
                CniError::new(code::INVALID_ENV, format!("invalid CNI_IFNAME {ifname:?}")).details(
                    "1 to 15 bytes, none of them '/', ':' or white space, and not . or ..",
                ),
            );
        }
        Ok(())
    }
}

/// `[A-Za-z0-9][A-Za-z0-9_.-]*`: what CNI accepts as a container id or network name.
fn valid_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// What Linux accepts as an interface name.
fn valid_ifname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s != "."
        && s != ".."
        && !s
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace())
}

/// The `nsplug` object of a network configuration.
#[derive(Debug, Clone)]
struct Settings {
    plugin: PathBuf,
    policy: PathBuf,
}

/// A parsed network configuration (its version checked): name, settings, the whole document.
#[derive(Debug)]
struct Config {
    name: Option<String>,
    settings: Settings,
    doc: Map<String, Value>,
}

fn invalid(msg: impl Into<String>) -> CniError {
    CniError::new(code::INVALID_CONFIG, msg)
}

impl Config {
    fn parse(stdin: &[u8], command: Command) -> Result<Config, CniError> {
        let doc: Map<String, Value> = serde_json::from_slice(stdin).map_err(|e| {
            CniError::new(
                code::DECODE,
                format!("error parsing the network configuration: {e}"),
            )
        })?;
        let version = match doc.get("cniVersion") {
            Some(Value::String(v)) => v.clone(),
            Some(_) => return Err(invalid("cniVersion must be a string")),
            None => return Err(invalid("cniVersion is missing")),
        };
        if !SUPPORTED_VERSIONS.contains(&version.as_str()) {
            return Err(incompatible(&version));
        }
        if version_lt(&version, command.since()) {
            return Err(CniError::new(
                code::INCOMPATIBLE_VERSION,
                format!("config version does not allow {}", command.name()),
            )
            .details(format!(
                "{} needs cniVersion {} or later; the configuration has {version}",
                command.name(),
                command.since()
            )));
        }
        let name = match doc.get("name") {
            Some(Value::String(n)) if valid_identifier(n) => Some(n.clone()),
            Some(Value::String(n)) => {
                return Err(invalid(format!(
                    "invalid network name {n:?}: it must match [A-Za-z0-9][A-Za-z0-9_.-]*"
                )));
            }
            Some(_) => return Err(invalid("name must be a string")),
            None => None,
        };
        if name.is_none() && command != Command::Status {
            return Err(invalid("the network configuration has no name"));
        }
        let section = doc
            .get("nsplug")
            .and_then(Value::as_object)
            .ok_or_else(|| {
                invalid(
                    "the network configuration has no \"nsplug\" object naming the Wasm plugin \
                     and its policy ({\"plugin\": \"….wasm\", \"policy\": \"….toml\"})",
                )
            })?;
        let path = |key: &str| -> Result<PathBuf, CniError> {
            match section.get(key) {
                Some(Value::String(p)) if Path::new(p).is_absolute() => Ok(PathBuf::from(p)),
                Some(Value::String(p)) => Err(invalid(format!(
                    "nsplug.{key} must be an absolute path, not {p:?}"
                ))),
                _ => Err(invalid(format!("nsplug.{key} is missing"))),
            }
        };
        let settings = Settings {
            plugin: path("plugin")?,
            policy: path("policy")?,
        };
        for key in section.keys() {
            if !matches!(key.as_str(), "plugin" | "policy" | "cacheDir") {
                return Err(CniError::new(
                    code::UNSUPPORTED_FIELD,
                    format!("unknown key nsplug.{key}"),
                )
                .details("nsplug takes plugin, policy and cacheDir"));
            }
        }
        Ok(Config {
            name,
            settings,
            doc,
        })
    }

    /// The host-local state directory of this network, if its IPAM is host-local.
    fn state_dir(&self) -> Result<Option<PathBuf>, CniError> {
        let Some(ipam) = self.doc.get("ipam").and_then(Value::as_object) else {
            return Ok(None);
        };
        if ipam.get("type").and_then(Value::as_str) != Some("host-local") {
            return Ok(None);
        }
        let data_dir = match ipam.get("dataDir") {
            None => PathBuf::from(DEFAULT_DATA_DIR),
            Some(Value::String(d)) if Path::new(d).is_absolute() => PathBuf::from(d),
            Some(other) => {
                return Err(invalid(format!(
                    "ipam.dataDir must be an absolute path, not {other}"
                )));
            }
        };
        Ok(self.name.as_ref().map(|name| data_dir.join(name)))
    }
}

fn incompatible(version: &str) -> CniError {
    CniError::new(code::INCOMPATIBLE_VERSION, "incompatible CNI versions").details(format!(
        "config is {version:?}, plugin supports {:?}",
        SUPPORTED_VERSIONS
    ))
}

/// `a < b` for `x.y.z` versions (unparseable parts count as 0).
fn version_lt(a: &str, b: &str) -> bool {
    let parse = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parse(a) < parse(b)
}

/// The VERSION answer.
pub fn version_result(stdin: &[u8]) -> String {
    let asked = serde_json::from_slice::<Value>(stdin)
        .ok()
        .and_then(|v| v.get("cniVersion")?.as_str().map(str::to_owned))
        .filter(|v| SUPPORTED_VERSIONS.contains(&v.as_str()));
    json!({
        "cniVersion": asked.as_deref().unwrap_or(SUPPORTED_VERSIONS[SUPPORTED_VERSIONS.len() - 1]),
        "supportedVersions": SUPPORTED_VERSIONS,
    })
    .to_string()
}

/// Runs CNI commands through Wasm plugins: the shim of the `nsplug` binary, usable in-process
/// by a runtime that embeds nsplug. Loaded plugins are kept per (plugin, policy) path pair, so
/// repeated calls pay neither compilation nor linking. `Send + Sync`.
#[derive(Debug)]
pub struct Shim {
    runtime: Runtime,
    plugins: Mutex<HashMap<(PathBuf, PathBuf), Plugin>>,
}

impl Shim {
    /// A shim running plugins on `runtime`.
    pub fn new(runtime: Runtime) -> Shim {
        Shim {
            runtime,
            plugins: Mutex::new(HashMap::new()),
        }
    }

    /// The runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Runs one CNI command: `request` is the environment, `stdin` the network configuration.
    /// Returns what to print on stdout on success (the result JSON, or nothing).
    pub fn invoke(&self, request: &Request, stdin: &[u8]) -> Result<String, CniError> {
        let command = request.command()?;
        request.check()?;
        if command == Command::Version {
            return Ok(version_result(stdin));
        }
        let config = Config::parse(stdin, command)?;
        let plugin = self.plugin(&config.settings)?;

        let mut grants = CallGrants::new();
        let netns = match (&request.netns, command) {
            (Some(path), Command::Add | Command::Check | Command::Del) => {
                match Namespace::open_path(path, NsKind::Net) {
                    Ok(ns) => {
                        grants = grants.namespace(path.clone(), ns);
                        Some(path.clone())
                    }
                    // DEL must succeed when the container is already gone.
                    Err(e) if command == Command::Del => {
                        tracing::info!(netns = %path, error = %e, "DEL: the namespace is gone");
                        None
                    }
                    Err(e) => {
                        return Err(CniError::new(
                            code::INVALID_ENV,
                            format!("CNI_NETNS {path:?} cannot be used: {e}"),
                        ));
                    }
                }
            }
            _ => None,
        };

        let state_dir = config.state_dir()?;
        let _lock = match &state_dir {
            Some(dir) => {
                let lock = lock_state_dir(dir)?;
                grants = grants.dir(dir, dir.to_string_lossy());
                Some(lock)
            }
            None => None,
        };

        let input = json!({
            "containerId": request.container_id,
            "netns": netns,
            "ifname": request.ifname,
            "args": request.args,
            "path": request
                .path
                .as_deref()
                .map(|p| p.split(':').filter(|s| !s.is_empty()).collect::<Vec<_>>())
                .unwrap_or_default(),
            "stateDir": state_dir,
            "config": Value::Object(config.doc),
        });
        match plugin.call_with(command.name(), &input.to_string(), &grants) {
            Ok(output) => check_output(command, output),
            Err(CallError::Plugin {
                code: plugin_code,
                message,
                host_error,
                ..
            }) => {
                let code = plugin_code.parse::<u32>().unwrap_or(code::INTERNAL);
                let mut e = CniError::new(code, message);
                if let Some(host) = host_error {
                    e = e.details(format!("host error: {}", host.as_str()));
                } else if code == code::INTERNAL && plugin_code.parse::<u32>().is_err() {
                    e = e.details(format!("plugin error code {plugin_code:?}"));
                }
                Err(e)
            }
            Err(e @ CallError::Denied { .. }) => Err(invalid(e.to_string())),
            Err(e) => Err(CniError::new(code::INTERNAL, e.to_string())),
        }
    }

    fn plugin(&self, settings: &Settings) -> Result<Plugin, CniError> {
        let key = (settings.plugin.clone(), settings.policy.clone());
        let mut plugins = self.plugins.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(plugin) = plugins.get(&key) {
            return Ok(plugin.clone());
        }
        let policy =
            Policy::load(&settings.policy).map_err(|e| invalid(format!("nsplug policy: {e}")))?;
        let plugin = self
            .runtime
            .load(&settings.plugin, policy)
            .map_err(|e| CniError::new(code::INTERNAL, format!("{e}")))?;
        plugins.insert(key, plugin.clone());
        Ok(plugin)
    }
}

/// Creates the network's state directory and takes host-local's lock on it: `flock(LOCK_EX)`
/// on its `lock` file, held until the returned file is dropped.
fn lock_state_dir(dir: &Path) -> Result<File, CniError> {
    let io = |what: &str, e: std::io::Error| {
        CniError::new(code::IO, format!("{what} {}: {e}", dir.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| io("cannot create the state directory", e))?;
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join("lock"))
        .map_err(|e| io("cannot open the lock file in", e))?;
    lock.lock().map_err(|e| io("cannot lock", e))?;
    Ok(lock)
}

/// A result must be a JSON object; commands without a result print nothing.
fn check_output(command: Command, output: String) -> Result<String, CniError> {
    if output.trim().is_empty() {
        return if command == Command::Add {
            Err(CniError::new(
                code::INTERNAL,
                "the plugin returned no result for ADD",
            ))
        } else {
            Ok(String::new())
        };
    }
    match serde_json::from_str::<Value>(&output) {
        Ok(Value::Object(_)) => Ok(output),
        _ => Err(
            CniError::new(code::INTERNAL, "the plugin's result is not a JSON object")
                .details(output.chars().take(200).collect::<String>()),
        ),
    }
}

fn cache_dir(doc: Option<&Value>) -> PathBuf {
    doc.and_then(|v| {
        v.get("nsplug")?
            .get("cacheDir")?
            .as_str()
            .map(PathBuf::from)
    })
    .or_else(|| std::env::var_os("NSPLUG_CACHE_DIR").map(PathBuf::from))
    .unwrap_or_else(|| PathBuf::from("/var/cache/nsplug"))
}

/// The `nsplug` binary as a CNI plugin (`CNI_COMMAND` is set): reads stdin, runs the command,
/// prints the result or the error JSON on stdout. Exit status 0 on success, 1 on error.
pub fn main() -> ExitCode {
    let mut stdin = Vec::new();
    let read = std::io::stdin().read_to_end(&mut stdin);
    // Read once for the error JSON's version and the cache directory; the shim validates it.
    let doc = serde_json::from_slice::<Value>(&stdin).ok();
    let version = doc
        .as_ref()
        .and_then(|v| v.get("cniVersion")?.as_str().map(str::to_owned));
    let outcome = read
        .map_err(|e| CniError::new(code::IO, format!("cannot read stdin: {e}")))
        .and_then(|_| {
            let request = Request::from_env()?;
            if request.command == Some(Command::Version) {
                return Ok(version_result(&stdin));
            }
            // One call per process: one worker is all it can use.
            let executor = crate::Executor::builder()
                .workers(1)
                .build()
                .map_err(|e| CniError::new(code::INTERNAL, format!("{e}")))?;
            let runtime = Runtime::builder()
                .executor(executor)
                .cache_dir(cache_dir(doc.as_ref()))
                // One call per process: a pool's reservation would cost more than it saves.
                .pooling(false)
                .build()
                .map_err(|e| CniError::new(code::INTERNAL, format!("{e}")))?;
            Shim::new(runtime).invoke(&request, &stdin)
        });
    let (answer, status) = match outcome {
        Ok(out) => (out, ExitCode::SUCCESS),
        Err(e) => {
            tracing::error!(code = e.code, msg = %e.msg, details = %e.details, "CNI command failed");
            (e.to_json(version.as_deref()), ExitCode::from(1))
        }
    };
    if answer.is_empty() {
        return status;
    }
    // A runtime that closed our stdout gets no answer, and no panic either: a failure status.
    match writeln!(std::io::stdout(), "{answer}") {
        Ok(()) => status,
        Err(e) => {
            tracing::error!(error = %e, "cannot write the CNI answer to stdout");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_ifnames() {
        assert!(valid_identifier("c1") && valid_identifier("a.b-c_d"));
        assert!(!valid_identifier("") && !valid_identifier("-x") && !valid_identifier("a/b"));
        assert!(valid_ifname("eth0") && valid_ifname("a23456789012345"));
        for bad in ["", ".", "..", "a/b", "a:b", "a b", "a234567890123456"] {
            assert!(!valid_ifname(bad), "{bad}");
        }
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(version_lt("0.4.0", "1.1.0") && version_lt("1.0.0", "1.1.0"));
        assert!(!version_lt("1.1.0", "1.1.0") && !version_lt("1.10.0", "1.9.0"));
    }

    #[test]
    fn missing_variables_are_all_named() {
        let e = Request::new(Command::Add).check().unwrap_err();
        assert_eq!(e.code, code::INVALID_ENV);
        assert_eq!(
            e.msg,
            "required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH] missing"
        );
        let del = Request {
            container_id: Some("c".into()),
            ifname: Some("eth0".into()),
            path: Some("/opt/cni/bin".into()),
            ..Request::new(Command::Del)
        };
        assert_eq!(del.check(), Ok(()), "DEL needs no CNI_NETNS");
    }

    #[test]
    fn config_errors_have_the_spec_codes() {
        let parse = |s: &str| Config::parse(s.as_bytes(), Command::Add).unwrap_err().code;
        assert_eq!(parse("{bad"), code::DECODE);
        assert_eq!(
            parse(r#"{"cniVersion": "9.9.9", "name": "n"}"#),
            code::INCOMPATIBLE_VERSION
        );
        assert_eq!(
            parse(r#"{"cniVersion": "1.0.0", "name": "n"}"#),
            code::INVALID_CONFIG
        );
        assert_eq!(
            parse(r#"{"cniVersion": "1.0.0", "name": "../x"}"#),
            code::INVALID_CONFIG
        );
        let gc = Config::parse(br#"{"cniVersion": "1.0.0", "name": "n"}"#, Command::Gc);
        assert_eq!(gc.unwrap_err().code, code::INCOMPATIBLE_VERSION);
    }

    #[test]
    fn version_answers_in_the_asked_version() {
        let v: Value = serde_json::from_str(&version_result(br#"{"cniVersion":"1.0.0"}"#)).unwrap();
        assert_eq!(v["cniVersion"], "1.0.0");
        assert_eq!(v["supportedVersions"], json!(SUPPORTED_VERSIONS));
        let v: Value = serde_json::from_str(&version_result(b"")).unwrap();
        assert_eq!(v["cniVersion"], "1.1.0");
    }
}
