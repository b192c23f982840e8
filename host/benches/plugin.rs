//! `cargo bench -p nsplug-host --bench plugin` (as root, inside the nsplug repository).
//!
//! Cases, interleaved in rounds in one process; a table, then one JSON object as the last line:
//! * `instantiate_call_noop` — `Plugin::call` of a no-op command from a plain thread: handoff
//!   to an executor thread, instantiation from `InstancePre`, the call, the store's teardown.
//! * `instantiate_call_noop_on_worker` — the same from an executor thread (no handoff).
//! * `guest_sysctl_get` / `rust_sysctl_get` — one namespace job (setns in, read
//!   `net/ipv4/ip_forward`, setns back) initiated by the guest, per op, against the same job
//!   from Rust on an executor thread. The WIT has no op that does nothing inside a namespace, so
//!   the cheapest real namespace job stands in; the difference is the guest's overhead.
//! * `guest_link_list` / `rust_link_list` — listing 3 links through the namespace-bound socket.
//! * `component_load_from_cache` — loading the compiled component from the disk cache.
//!
//! Guest-side per-op costs come from calls that loop `N` times inside the guest, minus a no-op
//! call, divided by `N`.
//!
//! For a profiler (`perf record`, `valgrind --tool=callgrind`), `NSPLUG_BENCH_PROFILE=CASE`
//! runs only one case's calls, `NSPLUG_BENCH_PROFILE_CALLS` times (default 2,000), and prints
//! no table: `noop` (instantiate+call on a worker), `sysctl` or `links` (the guest loops above,
//! 200 operations a call), `rust-sysctl` or `rust-links` (200 of the same from Rust a call).
//! `host/benches/instructions.sh CASE…` turns two such runs under callgrind into user-space
//! instructions per operation, a count that repeats (within 1 %) where timings wander.

mod common;

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{BenchNs, Case, p50, report};
use nsplug_host::ops::{link, sysctl};
use nsplug_host::{Executor, Namespace, OpClass, Policy, Runtime};

const ROUNDS: usize = 10;
const LOOP: u32 = 200;

fn main() {
    let Some(guest) = option_env!("NSPLUG_BENCH_GUEST") else {
        eprintln!(
            "the plugin benchmark needs the test guest: build inside the nsplug repository with the wasm32-wasip2 target installed"
        );
        std::process::exit(1);
    };
    let executor = Executor::builder()
        .workers(2)
        .paranoid(false)
        .build()
        .expect("executor");
    let bench_ns = BenchNs::new(&executor, "plugin");
    let (name, ns) = (bench_ns.name.clone(), bench_ns.ns.clone());

    let cache = std::env::temp_dir().join(format!("nsplug-bench-cache-{}", std::process::id()));
    let runtime = Runtime::builder()
        .executor(executor.clone())
        .cache_dir(&cache)
        .build()
        .expect("runtime");
    let plugin = runtime
        .load(
            Path::new(guest),
            Policy::granting([name.clone()], [OpClass::Read]),
        )
        .expect("loading the test guest");
    let key = sysctl::SysctlKey::parse("net/ipv4/ip_forward").unwrap();
    let sysctl_input = format!("{name}|net/ipv4/ip_forward|{LOOP}");
    let links_input = format!("{name}|{LOOP}");
    assert_eq!(
        plugin.call("links-loop", &format!("{name}|1")).unwrap(),
        "3"
    );

    if let Ok(case) = std::env::var("NSPLUG_BENCH_PROFILE") {
        let guest = match case.as_str() {
            "noop" => Some(("noop", String::new())),
            "sysctl" => Some(("sysctl-loop", sysctl_input)),
            "links" => Some(("links-loop", links_input)),
            "rust-sysctl" | "rust-links" => None,
            other => {
                eprintln!(
                    "NSPLUG_BENCH_PROFILE: unknown case {other:?} (noop, sysctl, links, rust-sysctl, rust-links)"
                );
                std::process::exit(2);
            }
        };
        let calls: usize = std::env::var("NSPLUG_BENCH_PROFILE_CALLS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(2_000);
        let list = case == "rust-links";
        let (p, exec, ns) = (plugin.clone(), executor.clone(), ns.clone());
        let start = Instant::now();
        executor
            .run_on_worker(Duration::from_secs(600), move || {
                for _ in 0..calls {
                    match &guest {
                        Some((command, input)) => {
                            black_box(p.call(command, input).expect(command));
                        }
                        // The Rust twins of the guest loops: LOOP operations a "call".
                        None => (0..LOOP).for_each(|_| rust_op(&exec, &ns, &key, list)),
                    }
                }
            })
            .unwrap()
            .into_value();
        eprintln!("{calls} calls in {:?}", start.elapsed());
        let _ = std::fs::remove_dir_all(&cache);
        return;
    }

    let mut cases = [
        Case::new("instantiate_call_noop", 5_000, ROUNDS),
        Case::new("instantiate_call_noop_on_worker", 5_000, ROUNDS),
        Case::new("guest_sysctl_get_call_x200", 200, ROUNDS),
        Case::new("rust_sysctl_get", 5_000, ROUNDS),
        Case::new("guest_link_list_call_x200", 200, ROUNDS),
        Case::new("rust_link_list", 5_000, ROUNDS),
        Case::new("component_load_from_cache", 200, ROUNDS),
    ];
    for _ in 0..ROUNDS {
        let [noop, noop_w, g_sys, r_sys, g_link, r_link, load] = &mut cases;
        noop.time(|| {
            plugin.call("noop", "").expect("noop");
        });
        {
            let (p, n) = (plugin.clone(), noop_w.per_round);
            let samples = executor
                .run_on_worker(Duration::from_secs(60), move || {
                    (0..n)
                        .map(|_| {
                            let start = Instant::now();
                            p.call("noop", "").expect("noop");
                            start.elapsed().as_nanos() as u64
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap()
                .into_value();
            noop_w.samples.extend(samples);
        }
        // Guest loops run on an executor thread too, like every call.
        g_sys.time(|| {
            black_box(
                plugin
                    .call("sysctl-loop", &sysctl_input)
                    .expect("sysctl loop"),
            );
        });
        g_link.time(|| {
            black_box(plugin.call("links-loop", &links_input).expect("links loop"));
        });
        for (case, list) in [(r_sys, false), (r_link, true)] {
            let (exec, ns, key, n) = (executor.clone(), ns.clone(), key.clone(), case.per_round);
            let samples = executor
                .run_on_worker(Duration::from_secs(60), move || {
                    (0..n)
                        .map(|_| {
                            let start = Instant::now();
                            rust_op(&exec, &ns, &key, list);
                            start.elapsed().as_nanos() as u64
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap()
                .into_value();
            case.samples.extend(samples);
        }
        load.time(|| {
            assert!(runtime.precompile(Path::new(guest)).expect("cache load"));
        });
    }
    let _ = std::fs::remove_dir_all(&cache);

    let per_op = |call: &str| {
        (p50(&cases, call) - p50(&cases, "instantiate_call_noop_on_worker")) / f64::from(LOOP)
    };
    let guest_sysctl = per_op("guest_sysctl_get_call_x200");
    let guest_links = per_op("guest_link_list_call_x200");
    let rust_sysctl = p50(&cases, "rust_sysctl_get");
    let rust_links = p50(&cases, "rust_link_list");
    let instantiate = p50(&cases, "instantiate_call_noop");
    let ratios = [
        ("guest_sysctl_get_per_op_p50_ns", guest_sysctl),
        (
            "guest_overhead_per_namespace_job_ns",
            guest_sysctl - rust_sysctl,
        ),
        ("guest_link_list_per_op_p50_ns", guest_links),
        ("guest_overhead_per_link_list_ns", guest_links - rust_links),
        ("guest_over_rust_sysctl_get", guest_sysctl / rust_sysctl),
        ("guest_over_rust_link_list", guest_links / rust_links),
        (
            "handoff_share_of_instantiate_call",
            1.0 - p50(&cases, "instantiate_call_noop_on_worker") / instantiate,
        ),
    ];
    report(
        "plugin",
        &cases,
        &ratios,
        &[
            ("instantiate_call_p50_le_20us", instantiate <= 20_000.0),
            // The same on an executor thread, the path plugin calls take when the caller is
            // one: no handoff, whose cost is the VM's thread wake-up rather than nsplug's.
            (
                "instantiate_call_on_worker_p50_le_20us",
                p50(&cases, "instantiate_call_noop_on_worker") <= 20_000.0,
            ),
            (
                "guest_overhead_le_1us",
                guest_sysctl - rust_sysctl <= 1_000.0,
            ),
            ("guest_link_list_3_links_p50_le_8us", guest_links <= 8_000.0),
        ],
    );
}

/// The Rust twin of a guest loop's operation, on the calling executor thread: listing the
/// links of `ns`, or reading `key` there.
fn rust_op(executor: &Executor, ns: &Namespace, key: &sysctl::SysctlKey, list: bool) {
    if list {
        black_box(link::list(executor, ns).expect("links"));
    } else {
        black_box(sysctl::get(executor, ns, key).expect("sysctl"));
    }
}
