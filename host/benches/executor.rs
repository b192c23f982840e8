//! `cargo bench -p nsplug-host --bench executor` (as root).
//!
//! Every case runs in the same process, interleaved in rounds so that drift and this machine's
//! bimodal thread wake-ups hit all cases alike. Prints a table, then one JSON object as the last
//! line: p50/p99 in nanoseconds per case, and the ratios.
//!
//! Cases:
//! * `floor` — a bare dedicated thread: setns in, setns back, identity check, driven through a
//!   channel round trip (the least any handed-off design pays).
//! * `executor_noop` — the executor's round trip for a no-op job (release build: not paranoid).
//! * `executor_noop_paranoid` — the same with identity and capability checks after every job.
//! * `inline_noop` — a no-op job submitted from an executor thread (no handoff: two setns).
//! * `spawn_thread_per_job` — a new thread per job: spawn, setns, job, setns back, join.
//! * `link_list_cached` — link dump (3 links) through the executor's cached namespace socket.
//! * `link_list_socket_per_call` — the same dump with a socket opened inside the namespace per
//!   call.
//! * `link_dump_kernel_floor` — the kernel's share alone: the same dump request sent on a
//!   namespace-bound socket and its answer received until `NLMSG_DONE`, nothing parsed. No
//!   link listing through a socket can be cheaper on this machine.

use std::hint::black_box;
use std::time::{Duration, Instant};

use nsplug_host::executor::floor::{FloorThread, spawn_per_job};
use nsplug_host::netlink::RouteSocket;
use nsplug_host::ops::link;
use nsplug_host::{Executor, Namespace};

mod common;

use common::{BenchNs, Case, p50, report};

/// A raw netlink link dump, nothing parsed: the kernel floor of `link_list_cached`.
#[cfg(target_os = "linux")]
mod kernel_floor {
    use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage};
    use netlink_packet_route::RouteNetlinkMessage;
    use netlink_packet_route::link::{LinkAttribute, LinkExtentMask, LinkMessage};
    use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
    use nsplug_host::{Executor, Namespace};

    pub(crate) struct RawDump {
        socket: Socket,
        request: Vec<u8>,
        buf: Vec<u8>,
    }

    impl RawDump {
        /// A socket created inside `ns` (a job on the executor), and the request `link::list`
        /// sends: `RTM_GETLINK` dump, counters skipped.
        pub(crate) fn open(executor: &Executor, ns: &Namespace) -> RawDump {
            let socket = executor
                .run(ns, || -> std::io::Result<Socket> {
                    let mut socket = Socket::new(NETLINK_ROUTE)?;
                    socket.bind_auto()?;
                    socket.connect(&SocketAddr::new(0, 0))?;
                    Ok(socket)
                })
                .expect("socket job")
                .into_value()
                .expect("netlink socket");
            let mut msg = LinkMessage::default();
            msg.attributes
                .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
            let mut packet = NetlinkMessage::new(
                NetlinkHeader::default(),
                RouteNetlinkMessage::GetLink(msg).into(),
            );
            packet.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
            packet.finalize();
            let mut request = vec![0; packet.buffer_len()];
            packet.serialize(&mut request);
            RawDump {
                socket,
                request,
                buf: vec![0; 64 * 1024],
            }
        }

        /// Sends the dump request and receives until `NLMSG_DONE`; returns the links counted.
        pub(crate) fn dump(&mut self) -> usize {
            self.socket.send(&self.request, 0).expect("send");
            let mut links = 0;
            loop {
                let len = self.socket.recv(&mut &mut self.buf[..], 0).expect("recv");
                let mut offset = 0;
                while offset + 16 <= len {
                    let header = &self.buf[offset..offset + 16];
                    let msg_len = u32::from_ne_bytes(header[0..4].try_into().expect("4 bytes"));
                    let kind = u16::from_ne_bytes(header[4..6].try_into().expect("2 bytes"));
                    if kind == 3 {
                        return links; // NLMSG_DONE
                    }
                    links += 1;
                    offset += (msg_len as usize).next_multiple_of(4).max(16);
                }
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod kernel_floor {
    use nsplug_host::{Executor, Namespace};

    pub(crate) struct RawDump;

    impl RawDump {
        pub(crate) fn open(_: &Executor, _: &Namespace) -> RawDump {
            panic!("the benchmark needs Linux")
        }

        pub(crate) fn dump(&mut self) -> usize {
            0
        }
    }
}

const ROUNDS: usize = 10;

fn main() {
    let executor = Executor::builder()
        .workers(2)
        .paranoid(false)
        .build()
        .expect("executor");
    let paranoid = Executor::builder()
        .workers(2)
        .paranoid(true)
        .build()
        .expect("paranoid executor");
    let bench_ns = BenchNs::new(&executor, "executor");
    let ns: Namespace = bench_ns.ns.clone();
    assert_eq!(link::list(&executor, &ns).expect("links").len(), 3);

    let floor = FloorThread::start(&ns).expect("floor thread");
    let mut cases = [
        Case::new("floor", 20_000, ROUNDS),
        Case::new("executor_noop", 20_000, ROUNDS),
        Case::new("executor_noop_paranoid", 20_000, ROUNDS),
        Case::new("inline_noop", 20_000, ROUNDS),
        Case::new("spawn_thread_per_job", 2_000, ROUNDS),
        Case::new("link_list_cached", 20_000, ROUNDS),
        Case::new("link_list_socket_per_call", 5_000, ROUNDS),
        Case::new("link_dump_kernel_floor", 20_000, ROUNDS),
    ];
    let mut raw = kernel_floor::RawDump::open(&executor, &ns);
    assert_eq!(raw.dump(), 3, "the raw dump sees the three links");

    // Warm up every path once.
    floor.round_trip().unwrap();
    executor.run(&ns, || ()).unwrap().into_value();
    paranoid.run(&ns, || ()).unwrap().into_value();

    for _ in 0..ROUNDS {
        let [
            floor_c,
            exec_c,
            para_c,
            inline_c,
            spawn_c,
            cached_c,
            per_call_c,
            raw_c,
        ] = &mut cases;
        floor_c.time(|| floor.round_trip().expect("floor round trip"));
        exec_c.time(|| executor.run(&ns, || ()).expect("no-op job").into_value());
        para_c.time(|| paranoid.run(&ns, || ()).expect("no-op job").into_value());
        {
            // Timed on the worker itself: a plugin call's host call pays exactly this.
            let inner = executor.clone();
            let target = ns.clone();
            let n = inline_c.per_round;
            let samples = executor
                .run_on_worker(Duration::from_secs(60), move || {
                    (0..n)
                        .map(|_| {
                            let start = Instant::now();
                            inner.run(&target, || ()).expect("inline job").into_value();
                            start.elapsed().as_nanos() as u64
                        })
                        .collect::<Vec<_>>()
                })
                .expect("inline batch")
                .into_value();
            inline_c.samples.extend(samples);
        }
        spawn_c.time(|| spawn_per_job(&ns, || ()).expect("thread per job"));
        cached_c.time(|| {
            black_box(link::list(&executor, &ns).expect("link list"));
        });
        per_call_c.time(|| {
            let socket = RouteSocket::open(&executor, &ns).expect("socket");
            black_box(link::list_with(&socket).expect("link list"));
        });
        raw_c.time(|| {
            black_box(raw.dump());
        });
    }
    drop(floor);

    let ratios = [
        (
            "executor_noop_over_floor_p50",
            p50(&cases, "executor_noop") / p50(&cases, "floor"),
        ),
        (
            "paranoid_over_floor_p50",
            p50(&cases, "executor_noop_paranoid") / p50(&cases, "floor"),
        ),
        (
            "inline_over_floor_p50",
            p50(&cases, "inline_noop") / p50(&cases, "floor"),
        ),
        (
            "spawn_over_executor_p50",
            p50(&cases, "spawn_thread_per_job") / p50(&cases, "executor_noop"),
        ),
        (
            "link_per_call_over_cached_p50",
            p50(&cases, "link_list_socket_per_call") / p50(&cases, "link_list_cached"),
        ),
        (
            "link_cached_over_kernel_floor_p50",
            p50(&cases, "link_list_cached") / p50(&cases, "link_dump_kernel_floor"),
        ),
    ];
    let met = ratios[0].1 <= 1.3;
    report(
        "executor",
        &cases,
        &ratios,
        &[("executor_noop_p50_le_1.3x_floor", met)],
    );
}
