//! Running CNI plugins the way a container runtime does: exec the binary with the `CNI_*`
//! environment and the network configuration on stdin, inside a "node" namespace that stands
//! in for the host (so bridges, gateway addresses and `ip_forward` never touch the real host).
//! The reference plugins (Debian's `containernetworking-plugins`) and `nsplug` with the Wasm
//! bridge run through the same code.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};

use crate::{TestNs, run};

/// The reference bridge plugin.
pub const REFERENCE_BRIDGE: &str = "/usr/lib/cni/bridge";

/// A CNI plugin under test: the reference bridge, or nsplug running the Wasm bridge.
#[derive(Debug, Clone)]
pub enum Impl {
    /// `/usr/lib/cni/bridge` (with `/usr/lib/cni/host-local`).
    Reference,
    /// The `nsplug` binary running a Wasm plugin under a policy.
    Nsplug {
        /// The binary.
        program: PathBuf,
        /// The Wasm plugin.
        plugin: PathBuf,
        /// The compile cache shared by every call.
        cache_dir: PathBuf,
    },
}

impl Impl {
    /// A short name for messages.
    pub fn label(&self) -> &'static str {
        match self {
            Impl::Reference => "reference",
            Impl::Nsplug { .. } => "nsplug",
        }
    }
}

/// A temporary directory, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `$TMPDIR/nsplug-<tag>-<pid>-<n>`.
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "nsplug-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("creating a temporary directory");
        TempDir(path)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One side of a comparison: a node namespace (the "host"), its IPAM data directory, the
/// policy nsplug runs under, and the plugin.
#[derive(Debug)]
pub struct Node {
    /// The namespace standing in for the host.
    pub ns: TestNs,
    /// IPAM state (`ipam.dataDir`).
    pub data_dir: TempDir,
    /// The plugin.
    pub plugin: Impl,
    policy: PathBuf,
}

/// What one invocation printed and how it exited.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Exit status 0.
    pub ok: bool,
    /// Stdout.
    pub stdout: String,
    /// Stderr.
    pub stderr: String,
}

impl Outcome {
    /// Stdout as JSON (`null` if empty).
    pub fn json(&self) -> Value {
        if self.stdout.trim().is_empty() {
            return Value::Null;
        }
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    /// The CNI error code, if this is an error.
    pub fn error_code(&self) -> Option<u64> {
        (!self.ok).then(|| self.json()["code"].as_u64().expect("error JSON has a code"))
    }

    /// Panics unless the command failed with CNI error `code` and its `msg` or `details`
    /// mention `text`.
    pub fn expect_error(&self, code: u64, text: &str) {
        assert_eq!(self.error_code(), Some(code), "{}", self.stdout);
        let doc = self.json();
        let said = format!("{} {}", doc["msg"], doc["details"]);
        assert!(
            said.contains(text),
            "error without {text:?}: {}",
            self.stdout
        );
    }

    /// Panics unless the command succeeded.
    pub fn expect_ok(self, what: &str) -> Outcome {
        assert!(
            self.ok,
            "{what} failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

/// The `CNI_*` environment of one invocation.
#[derive(Debug, Clone, Default)]
pub struct Env<'a> {
    /// `CNI_COMMAND`.
    pub command: &'a str,
    /// `CNI_CONTAINERID`.
    pub container_id: Option<&'a str>,
    /// `CNI_NETNS`.
    pub netns: Option<String>,
    /// `CNI_IFNAME`.
    pub ifname: Option<&'a str>,
}

impl<'a> Env<'a> {
    /// `command` with no container (VERSION, STATUS, GC).
    pub fn bare(command: &'a str) -> Env<'a> {
        Env {
            command,
            ..Env::default()
        }
    }

    /// `command` for container `id` in `netns` (a TestNs), interface `ifname`.
    pub fn new(command: &'a str, id: &'a str, netns: &TestNs, ifname: &'a str) -> Env<'a> {
        Env {
            command,
            container_id: Some(id),
            netns: Some(format!("/run/netns/{}", netns.name())),
            ifname: Some(ifname),
        }
    }
}

impl Node {
    /// A fresh node for `plugin`, with loopback up.
    pub fn new(plugin: Impl) -> Node {
        let ns = TestNs::new(&format!("node-{}", &plugin.label()[..3]));
        ns.ip(&["link", "set", "lo", "up"]);
        let data_dir = TempDir::new("ipam");
        let policy = data_dir.path().join("policy.toml");
        std::fs::write(&policy, bridge_policy(data_dir.path())).expect("writing the policy");
        Node {
            ns,
            data_dir,
            plugin,
            policy,
        }
    }

    /// The network configuration `conf` as this node's plugin takes it: the IPAM data
    /// directory set and, for nsplug, the `nsplug` object naming the plugin and policy.
    pub fn config(&self, conf: &Value) -> Value {
        let mut conf = conf.clone();
        if conf.get("ipam").is_some_and(|i| i["type"] == "host-local") {
            conf["ipam"]["dataDir"] = json!(self.data_dir.path());
        }
        match &self.plugin {
            Impl::Reference => conf["type"] = json!("bridge"),
            Impl::Nsplug {
                plugin, cache_dir, ..
            } => {
                conf["type"] = json!("nsplug");
                conf["nsplug"] = json!({
                    "plugin": plugin,
                    "policy": self.policy,
                    "cacheDir": cache_dir,
                });
            }
        }
        conf
    }

    /// Runs the plugin inside the node with `env` and `conf` (completed by [`Node::config`]).
    pub fn invoke(&self, env: &Env<'_>, conf: &Value) -> Outcome {
        self.invoke_raw(env, self.config(conf).to_string().as_bytes())
    }

    /// Runs the plugin inside the node with `env` and raw stdin.
    pub fn invoke_raw(&self, env: &Env<'_>, stdin: &[u8]) -> Outcome {
        let program: &Path = match &self.plugin {
            Impl::Reference => Path::new(REFERENCE_BRIDGE),
            Impl::Nsplug { program, .. } => program,
        };
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.ns.name()])
            .arg(program)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("CNI_COMMAND", env.command)
            .env("CNI_PATH", "/usr/lib/cni")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (var, value) in [
            ("CNI_CONTAINERID", env.container_id.map(str::to_owned)),
            ("CNI_NETNS", env.netns.clone()),
            ("CNI_IFNAME", env.ifname.map(str::to_owned)),
        ] {
            if let Some(v) = value {
                cmd.env(var, v);
            }
        }
        let mut child = cmd.spawn().expect("spawning ip netns exec");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin)
            .expect("writing the configuration");
        let out = child.wait_with_output().expect("waiting for the plugin");
        Outcome {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The IPAM directory of network `name`: its file names, sorted.
    pub fn ipam_files(&self, name: &str) -> Vec<String> {
        let dir = self.data_dir.path().join(name);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The node's link names other than `lo`.
    pub fn links(&self) -> Vec<String> {
        link_names(&self.ns)
    }
}

/// Names of a namespace's links other than `lo`.
pub fn link_names(ns: &TestNs) -> Vec<String> {
    let links: Value = serde_json::from_str(&ns.ip(&["-j", "link", "show"])).expect("ip -j");
    links
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["ifname"].as_str())
        .filter(|n| *n != "lo")
        .map(str::to_owned)
        .collect()
}

/// The policy the Wasm bridge runs under: the host (node) namespace writable for links,
/// addresses, routes and the forwarding sysctls, and `data_dir` for IPAM state.
pub fn bridge_policy(data_dir: &Path) -> String {
    format!(
        r#"[plugin]
name = "bridge"

[grant]
host = "write"
operations = ["read", "link", "address", "route", "sysctl"]
sysctl_prefixes = ["net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"]
state_dirs = [{:?}]

[limits]
wall_time_ms = 10000
"#,
        data_dir.display().to_string()
    )
}

/// Compiles the Wasm plugin into the cache once (so parallel first calls do not all compile).
pub fn warm_cache(program: &Path, plugin: &Path, cache_dir: &Path) {
    run(
        program.to_str().expect("utf-8 path"),
        &[
            "--cache-dir",
            cache_dir.to_str().expect("utf-8 path"),
            "compile",
            plugin.to_str().expect("utf-8 path"),
        ],
    );
}

/// A result with what legitimately differs between runs replaced: MACs, the host-side veth
/// name (random), the container namespace path.
pub fn normalize_result(result: &Value) -> Value {
    let mut r = result.clone();
    if let Some(interfaces) = r["interfaces"].as_array_mut() {
        for (i, iface) in interfaces.iter_mut().enumerate() {
            if iface.get("mac").is_some() {
                iface["mac"] = json!("<mac>");
            }
            if iface.get("sandbox").is_some() {
                iface["sandbox"] = json!("<netns>");
            }
            if i == 1 {
                iface["name"] = json!("<veth>");
            }
        }
    }
    r
}

/// What `ip` shows of one interface, minus what differs between runs (MACs, indexes,
/// link-local addresses): flags, MTU, state, addresses.
pub fn interface_state(ns: &TestNs, ifname: &str) -> Value {
    let link: Value =
        serde_json::from_str(&ns.ip(&["-j", "-d", "address", "show", "dev", ifname])).expect("ip");
    let link = &link[0];
    let mut addresses: Vec<Value> = link["addr_info"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["scope"] != "link")
        .map(|a| {
            json!({
                "family": a["family"], "local": a["local"], "prefixlen": a["prefixlen"],
                "broadcast": a["broadcast"], "scope": a["scope"],
            })
        })
        .collect();
    addresses.sort_by_key(|a| a.to_string());
    let mut flags: Vec<String> = link["flags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(str::to_owned))
        .collect();
    flags.sort();
    json!({
        "flags": flags,
        "mtu": link["mtu"],
        "operstate": link["operstate"],
        "kind": link["linkinfo"]["info_kind"],
        "addresses": addresses,
    })
}

/// The routes of a namespace (both families, main table), minus link-local and the local
/// table's: destination, gateway, device, scope, protocol.
pub fn routes(ns: &TestNs) -> Vec<Value> {
    let mut all = Vec::new();
    for family in ["-4", "-6"] {
        let r: Value =
            serde_json::from_str(&ns.ip(&[family, "-j", "route", "show"])).expect("ip route");
        for route in r.as_array().into_iter().flatten() {
            if route["dst"].as_str().is_some_and(|d| d.starts_with("fe80")) {
                continue;
            }
            all.push(json!({
                "dst": route["dst"], "gateway": route["gateway"], "dev": route["dev"],
                "scope": route["scope"], "protocol": route["protocol"],
            }));
        }
    }
    all.sort_by_key(|r| r.to_string());
    all
}

/// The ports of bridge `bridge` in `ns` with their hairpin setting and MTU.
pub fn bridge_ports(ns: &TestNs, bridge: &str) -> Vec<Value> {
    let ports: Value =
        serde_json::from_str(&ns.ip(&["-j", "-d", "link", "show", "master", bridge]))
            .expect("ip link show master");
    ports
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            json!({
                "mtu": p["mtu"],
                "hairpin": p["linkinfo"]["info_slave_data"]["hairpin"],
                "kind": p["linkinfo"]["info_kind"],
                "up": p["flags"].as_array().is_some_and(|f| f.iter().any(|x| x == "UP")),
            })
        })
        .collect()
}

/// A sysctl of a namespace, read with `ip netns exec NS cat`.
pub fn sysctl(ns: &TestNs, path: &str) -> String {
    run(
        "ip",
        &[
            "netns",
            "exec",
            ns.name(),
            "cat",
            &format!("/proc/sys/{path}"),
        ],
    )
    .trim()
    .to_owned()
}
