//! `cargo bench -p nsplug-tests --bench cni` (as root; needs Debian's
//! containernetworking-plugins, which `tests/run` installs).
//!
//! ADD and DEL of one container on a bridge network with host-local IPAM, three ways, in
//! alternating rounds of one run:
//!
//! * `reference`: exec `/usr/lib/cni/bridge` (which execs `host-local`), as a runtime does;
//! * `nsplug`: exec `nsplug` as the CNI plugin, running the Wasm bridge (`examples/bridge-rust`)
//!   from the compile cache;
//! * `in-process`: the same Wasm bridge through the embedding API (`nsplug_host::cni::Shim`),
//!   no process per call;
//! * `kernel veth delete`: the floor under every DEL: one netlink RTM_DELLINK of a veth end
//!   (made untimed with `ip`) from inside its namespace, in-process.
//!
//! Each round runs the three plugins in a rotating order, so the kernel's deferred cleanup of
//! one DEL lands on each of them alike.
//!
//! The benchmark re-executes itself inside a fresh "node" namespace (`ip netns exec`) that
//! stands in for the host, so bridges and forwarding never touch the real host, and removes it
//! at the end. Prints a table, then one JSON object as the last line: p50/p99 in nanoseconds
//! per case and the ratios to the reference (targets: nsplug ADD ≤ 0.25×, DEL ≤ 0.5×).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use nsplug_host::Runtime;
use nsplug_host::cni::{Command as CniCommand, Request, Shim};
use nsplug_tests::TestNs;
use nsplug_tests::cni::{TempDir, bridge_policy, warm_cache};
use serde_json::{Value, json};

const NSPLUG: &str = env!("CARGO_BIN_EXE_nsplug-exec");
const BRIDGE: &str = env!("GUEST_BRIDGE");
const REFERENCE: &str = "/usr/lib/cni/bridge";
const ROUNDS: usize = 40;
const INNER: &str = "NSPLUG_CNI_BENCH_CONTAINERS";

fn main() {
    if let Ok(containers) = std::env::var(INNER) {
        let names: Vec<&str> = containers.split(',').collect();
        inside_node(&names);
        return;
    }
    nsplug_tests::require_privileges();
    assert!(
        Path::new(REFERENCE).exists(),
        "{REFERENCE} is missing: apt-get install containernetworking-plugins"
    );
    let node = TestNs::new("cnib-node");
    node.ip(&["link", "set", "lo", "up"]);
    let containers: Vec<TestNs> = ["ref", "exe", "inp", "flr"]
        .iter()
        .map(|t| TestNs::new(&format!("cnib-{t}")))
        .collect();
    let names: Vec<&str> = containers.iter().map(TestNs::name).collect();
    let status = Command::new("ip")
        .args(["netns", "exec", node.name()])
        .arg(std::env::current_exe().expect("the bench's own path"))
        .env(INNER, names.join(","))
        .status()
        .expect("running ip netns exec");
    assert!(status.success(), "the benchmark failed inside its node");
}

struct Case {
    name: &'static str,
    samples: Vec<u64>,
}

impl Case {
    fn percentile(&self, p: f64) -> u64 {
        nsplug_tests::percentile(&self.samples, p)
    }
}

fn exec(program: &Path, command: &str, container: &str, conf: &[u8]) -> u64 {
    let start = Instant::now();
    let mut child = Command::new(program)
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", "bench")
        .env("CNI_NETNS", format!("/run/netns/{container}"))
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", "/usr/lib/cni")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning the plugin");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(conf)
        .expect("writing the configuration");
    let out = child.wait_with_output().expect("waiting for the plugin");
    let elapsed = start.elapsed().as_nanos() as u64;
    assert!(
        out.status.success(),
        "{} {command} failed: {}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

fn conf(name: &str, bridge: &str, subnet: &str, data_dir: &Path, nsplug: Option<&Value>) -> Value {
    let mut c = json!({
        "cniVersion": "1.0.0",
        "name": name,
        "type": if nsplug.is_some() { "nsplug" } else { "bridge" },
        "bridge": bridge,
        "isGateway": true,
        "ipam": {"type": "host-local", "subnet": subnet, "dataDir": data_dir},
    });
    if let Some(n) = nsplug {
        c["nsplug"] = n.clone();
    }
    c
}

fn inside_node(containers: &[&str]) {
    let state = TempDir::new("cni-bench");
    let cache = state.path().join("cache");
    let policy = state.path().join("policy.toml");
    std::fs::write(&policy, bridge_policy(state.path())).expect("policy");
    warm_cache(Path::new(NSPLUG), Path::new(BRIDGE), &cache);
    let settings = json!({"plugin": BRIDGE, "policy": policy, "cacheDir": cache});
    let reference = conf("benchref", "brref", "10.91.0.0/24", state.path(), None);
    let exe = conf(
        "benchexe",
        "brexe",
        "10.92.0.0/24",
        state.path(),
        Some(&settings),
    );
    let inproc = conf(
        "benchinp",
        "brinp",
        "10.93.0.0/24",
        state.path(),
        Some(&settings),
    );
    let (reference, exe, inproc) = (
        reference.to_string().into_bytes(),
        exe.to_string().into_bytes(),
        inproc.to_string().into_bytes(),
    );

    let shim = Shim::new(
        Runtime::builder()
            .cache_dir(&cache)
            .build()
            .expect("runtime"),
    );
    let request = |command| Request {
        container_id: Some("bench".into()),
        netns: Some(format!("/run/netns/{}", containers[2])),
        ifname: Some("eth0".into()),
        path: Some("/usr/lib/cni".into()),
        ..Request::new(command)
    };
    let (add, del) = (request(CniCommand::Add), request(CniCommand::Del));
    let in_process = |req: &Request| {
        let start = Instant::now();
        shim.invoke(req, &inproc)
            .unwrap_or_else(|e| panic!("in-process {:?}: {e}", req.command));
        start.elapsed().as_nanos() as u64
    };
    // One untimed round each: bridges created, caches warm.
    let reference_bin = PathBuf::from(REFERENCE);
    let nsplug_bin = PathBuf::from(NSPLUG);
    exec(&reference_bin, "ADD", containers[0], &reference);
    exec(&reference_bin, "DEL", containers[0], &reference);
    exec(&nsplug_bin, "ADD", containers[1], &exe);
    exec(&nsplug_bin, "DEL", containers[1], &exe);
    in_process(&add);
    in_process(&del);

    let mut cases: Vec<Case> = [
        "reference ADD",
        "reference DEL",
        "nsplug ADD",
        "nsplug DEL",
        "in-process ADD",
        "in-process DEL",
        "kernel veth delete",
    ]
    .into_iter()
    .map(|name| Case {
        name,
        samples: Vec::with_capacity(ROUNDS),
    })
    .collect();
    let floor_ns = nsplug_host::Namespace::open_path(
        format!("/run/netns/{}", containers[3]),
        nsplug_host::NsKind::Net,
    )
    .expect("the floor's namespace");
    let executor = shim.runtime().executor();
    for round in 0..ROUNDS {
        for turn in 0..3 {
            let (add_case, program, container, conf) = match (round + turn) % 3 {
                0 => (0, &reference_bin, containers[0], &reference),
                1 => (2, &nsplug_bin, containers[1], &exe),
                _ => {
                    cases[4].samples.push(in_process(&add));
                    cases[5].samples.push(in_process(&del));
                    continue;
                }
            };
            let added = exec(program, "ADD", container, conf);
            cases[add_case].samples.push(added);
            let deleted = exec(program, "DEL", container, conf);
            cases[add_case + 1].samples.push(deleted);
        }
        let ns = containers[3];
        nsplug_tests::run(
            "ip",
            &[
                "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0",
            ],
        );
        let start = Instant::now();
        nsplug_host::ops::link::del(executor, &floor_ns, "eth0").expect("veth delete");
        cases[6].samples.push(start.elapsed().as_nanos() as u64);
    }

    println!("CNI ADD/DEL, {ROUNDS} rounds alternating (one container, bridge + host-local)");
    println!("{:<20} {:>12} {:>12}", "case", "p50 µs", "p99 µs");
    let mut json_cases = serde_json::Map::new();
    for c in &cases {
        let (p50, p99) = (c.percentile(0.5), c.percentile(0.99));
        println!(
            "{:<20} {:>12.1} {:>12.1}",
            c.name,
            p50 as f64 / 1e3,
            p99 as f64 / 1e3
        );
        json_cases.insert(
            c.name.replace(' ', "_"),
            json!({"p50_ns": p50, "p99_ns": p99}),
        );
    }
    let p50 = |i: usize| cases[i].percentile(0.5) as f64;
    let ratios = json!({
        "nsplug_add_over_reference": p50(2) / p50(0),
        "nsplug_del_over_reference": p50(3) / p50(1),
        "in_process_add_over_reference": p50(4) / p50(0),
        "in_process_del_over_reference": p50(5) / p50(1),
        "kernel_veth_delete_over_reference_del": p50(6) / p50(1),
    });
    println!(
        "ratios (p50): nsplug ADD {:.3}× (target ≤ 0.25), DEL {:.3}× (target ≤ 0.5); \
         in-process ADD {:.4}×, DEL {:.4}×; the kernel's veth delete alone is {:.3}× the \
         reference DEL",
        p50(2) / p50(0),
        p50(3) / p50(1),
        p50(4) / p50(0),
        p50(5) / p50(1),
        p50(6) / p50(1)
    );
    println!(
        "{}",
        json!({"bench": "cni", "rounds": ROUNDS, "cases": json_cases, "ratios": ratios})
    );
}
