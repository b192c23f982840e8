//! `cargo bench -p nsplug-host --bench ops` (as root).
//!
//! The cost of the catalogue's operations through the Rust API, in one process, interleaved in
//! rounds. Each timed operation is undone untimed (an address added is deleted again), so every
//! sample does the same work. Prints a table, then one JSON object as the last line: p50/p99 in
//! nanoseconds per case, and the ratios.
//!
//! Cases:
//! * `address_add`, `route_add`, `link_set_up`, `veth_create` — one netlink request through the
//!   namespace's cached socket (no namespace switch at all).
//! * `sysctl_set` — a write under `/proc/sys/net`: a job handed to an executor thread inside the
//!   namespace (from a plugin, the same job runs inline on the plugin's thread).
//! * `batch10_address` vs `single10_address` — ten address additions as one batch, and as ten
//!   calls.
//! * `batch10_sysctl` vs `single10_sysctl` — ten sysctl writes as one batch (one visit: one
//!   handoff, one setns pair) and as ten calls (ten of each).
//! * `ip_address_add` — the baseline: `ip -n NS address add …` as a process, what a shell-out
//!   controller pays.

use std::process::Command;
use std::time::{Duration, Instant};

use nsplug_host::Executor;
use nsplug_host::ops::IpPrefix;
use nsplug_host::ops::address::{self, AddressFlags};
use nsplug_host::ops::batch::{self, Op};
use nsplug_host::ops::link::{self, LinkChanges, LinkKind, NewLink};
use nsplug_host::ops::route::{self, Route};
use nsplug_host::ops::sysctl::{self, SysctlKey};

mod common;

use common::{BenchNs, Case, p50, report};

const ROUNDS: usize = 10;

/// Times `op(i)` for each sample of the round, then runs `undo(i)` untimed.
fn time_undone(case: &mut Case, mut op: impl FnMut(usize), mut undo: impl FnMut(usize)) {
    for i in 0..case.per_round {
        let start = Instant::now();
        op(i);
        case.samples.push(start.elapsed().as_nanos() as u64);
        undo(i);
    }
}

fn prefix(s: &str) -> IpPrefix {
    s.parse().expect("prefix")
}

fn main() {
    let executor = Executor::builder()
        .workers(2)
        .paranoid(false)
        .build()
        .expect("executor");
    let bench_ns = BenchNs::new(&executor, "ops");
    let ns = bench_ns.ns.clone();
    for dev in ["b0", "b1"] {
        link::set(&executor, &ns, dev, &LinkChanges::up(true)).expect("set up");
    }
    address::add(
        &executor,
        &ns,
        "b0",
        prefix("10.80.0.1/24"),
        AddressFlags::default(),
    )
    .expect("address");
    link::add(&executor, &ns, &NewLink::new("bbr", LinkKind::Bridge)).expect("bridge");

    let forwarding = SysctlKey::parse("net/ipv4/conf/b0/forwarding").expect("sysctl key");
    let ten_addresses: Vec<IpPrefix> = (1..=10)
        .map(|i| prefix(&format!("10.82.0.{i}/32")))
        .collect();
    let ten_keys: Vec<SysctlKey> = ["b0", "b1", "bbr", "lo", "all"]
        .iter()
        .flat_map(|dev| {
            ["forwarding", "accept_local"]
                .iter()
                .map(move |k| SysctlKey::new(["net", "ipv4", "conf", dev, k]).expect("key"))
        })
        .collect();
    let none = AddressFlags::default();

    let mut cases = [
        Case::new("address_add", 5_000, ROUNDS),
        Case::new("route_add", 5_000, ROUNDS),
        Case::new("link_set_up", 5_000, ROUNDS),
        Case::new("sysctl_set", 5_000, ROUNDS),
        Case::new("veth_create", 1_000, ROUNDS),
        Case::new("batch10_address", 1_000, ROUNDS),
        Case::new("single10_address", 1_000, ROUNDS),
        Case::new("batch10_sysctl", 1_000, ROUNDS),
        Case::new("single10_sysctl", 1_000, ROUNDS),
        Case::new("ip_address_add", 200, ROUNDS),
    ];

    // Warm up: the cached socket and both sysctl paths.
    sysctl::set(&executor, &ns, &forwarding, "0").expect("sysctl");

    let flush = |addresses: &[IpPrefix]| {
        for a in addresses {
            address::del(&executor, &ns, "b0", *a).expect("address del");
        }
    };
    for _ in 0..ROUNDS {
        let [
            addr_c,
            route_c,
            up_c,
            sysctl_c,
            veth_c,
            batch_addr_c,
            single_addr_c,
            batch_sysctl_c,
            single_sysctl_c,
            ip_c,
        ] = &mut cases;
        let one = prefix("10.81.0.1/32");
        time_undone(
            addr_c,
            |_| address::add(&executor, &ns, "b0", one, none).expect("address add"),
            |_| address::del(&executor, &ns, "b0", one).expect("address del"),
        );
        let mut r = Route::to(prefix("10.83.0.0/24"));
        r.gateway = Some("10.80.0.2".parse().expect("ip"));
        r.dev = Some("b0".into());
        time_undone(
            route_c,
            |_| route::add(&executor, &ns, &r).expect("route add"),
            |_| route::del(&executor, &ns, &r).expect("route del"),
        );
        time_undone(
            up_c,
            |_| link::set(&executor, &ns, "bbr", &LinkChanges::up(true)).expect("up"),
            |_| link::set(&executor, &ns, "bbr", &LinkChanges::up(false)).expect("down"),
        );
        let mut on = false;
        sysctl_c.time(|| {
            on = !on;
            let value = if on { "1" } else { "0" };
            sysctl::set(&executor, &ns, &forwarding, value).expect("sysctl set");
        });
        let pair = NewLink::new(
            "bva",
            LinkKind::Veth {
                peer: "bvb".into(),
                peer_ns: None,
                peer_mac: None,
            },
        );
        time_undone(
            veth_c,
            |_| link::add(&executor, &ns, &pair).expect("veth add"),
            |_| link::del(&executor, &ns, "bva").expect("veth del"),
        );
        time_undone(
            batch_addr_c,
            |_| {
                let ops = ten_addresses
                    .iter()
                    .map(|a| Op::AddressAdd("b0".into(), *a, none))
                    .collect();
                batch::run(&executor, &ns, ops).expect("batch");
            },
            |_| flush(&ten_addresses),
        );
        time_undone(
            single_addr_c,
            |_| {
                for a in &ten_addresses {
                    address::add(&executor, &ns, "b0", *a, none).expect("address add");
                }
            },
            |_| flush(&ten_addresses),
        );
        time_undone(
            batch_sysctl_c,
            |i| {
                let value = if i % 2 == 0 { "1" } else { "0" };
                let ops = ten_keys
                    .iter()
                    .map(|k| Op::SysctlSet(k.clone(), value.into()))
                    .collect();
                batch::run(&executor, &ns, ops).expect("batch");
            },
            |_| {},
        );
        time_undone(
            single_sysctl_c,
            |i| {
                let value = if i % 2 == 0 { "1" } else { "0" };
                for k in &ten_keys {
                    sysctl::set(&executor, &ns, k, value).expect("sysctl set");
                }
            },
            |_| {},
        );
        time_undone(
            ip_c,
            |_| {
                let status = Command::new("ip")
                    .args(["-n", &bench_ns.name, "address", "add", "10.81.0.1/32"])
                    .args(["dev", "b0"])
                    .status()
                    .expect("ip");
                assert!(status.success(), "ip address add failed");
            },
            |_| address::del(&executor, &ns, "b0", one).expect("address del"),
        );
    }

    let ratios = [
        (
            "batch10_over_single10_address_p50",
            p50(&cases, "batch10_address") / p50(&cases, "single10_address"),
        ),
        (
            "batch10_over_single10_sysctl_p50",
            p50(&cases, "batch10_sysctl") / p50(&cases, "single10_sysctl"),
        ),
        (
            "ip_process_over_address_add_p50",
            p50(&cases, "ip_address_add") / p50(&cases, "address_add"),
        ),
    ];
    let batch_pays = ratios[1].1 < 1.0;
    report(
        "ops",
        &cases,
        &ratios,
        &[("batch10_sysctl_cheaper_than_single10", batch_pays)],
    );
    drop(bench_ns);
    let _ = executor.shutdown(Duration::from_secs(5));
}
