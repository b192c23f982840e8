//! The executor's invariants, proven on the real kernel with real namespaces (run as root).

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::time::Duration;

use nsplug_host::executor::{RestoreFailure, SetnsPurpose, Syscalls};
use nsplug_host::{Error, Executor, Namespace, NamespaceDirs, NsFd, NsKind, current_thread_netns};
use nsplug_tests::*;

const SETTLE: Duration = Duration::from_secs(10);

fn executor(workers: usize) -> Executor {
    Executor::builder()
        .workers(workers)
        .paranoid(true)
        .build()
        .expect("building the executor")
}

fn assert_all_threads_home() {
    assert!(
        eventually(SETTLE, || threads_outside_host().is_empty()),
        "threads left outside the host namespace: {:?}",
        threads_outside_host()
    );
}

#[test]
fn executor_stress() {
    let _serial = serial();
    require_privileges();
    const CALLERS: usize = 4;
    const JOBS: usize = 5_000;
    let fds_before = fd_count();
    let host = host_netns();
    let test_ns: Vec<TestNs> = (0..4).map(|i| TestNs::new(&format!("stress{i}"))).collect();

    let exec = executor(4);
    let namespaces: Vec<Namespace> = test_ns
        .iter()
        .map(|t| exec.open(t.name()).expect("open test namespace"))
        .collect();
    for (ns, t) in namespaces.iter().zip(&test_ns) {
        assert_eq!(ns.id(), t.id(), "handle identity matches the filesystem's");
    }

    // Watch the main thread for the whole run: it must never leave the host namespace.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut samples = 0u64;
            while !stop.load(Ordering::Relaxed) {
                assert_eq!(main_thread_netns(), host, "the main thread left the host");
                samples += 1;
            }
            samples
        })
    };

    let callers: Vec<_> = (0..CALLERS)
        .map(|c| {
            let exec = exec.clone();
            let namespaces = namespaces.clone();
            std::thread::spawn(move || {
                for j in 0..JOBS {
                    let ns = &namespaces[(c + j) % namespaces.len()];
                    let expected = ns.id();
                    let inside = exec
                        .run(ns, move || current_thread_netns().map(|id| id == expected))
                        .expect("job ran")
                        .into_value()
                        .expect("job read its namespace");
                    assert!(inside, "job {j} of caller {c} was not inside {ns}");
                    assert_eq!(current_thread_netns().unwrap(), host, "caller moved");
                }
            })
        })
        .collect();
    for caller in callers {
        caller.join().expect("caller thread");
    }
    stop.store(true, Ordering::Relaxed);
    let samples = watcher.join().expect("main-thread watcher");
    assert!(samples > 0, "the watcher sampled the main thread");

    let c = exec.counters();
    assert_eq!(c.jobs, (CALLERS * JOBS) as u64);
    assert_eq!(c.entries, c.jobs);
    assert_eq!(c.restores, c.jobs);
    assert_eq!((c.kills, c.timeouts, c.panics), (0, 0, 0));
    // Idle workers are all home, and so is every other thread of the process.
    assert_eq!(threads_outside_host(), Default::default());
    assert_eq!(main_thread_netns(), host);

    drop(namespaces);
    assert!(exec.shutdown(SETTLE), "executor threads exited");
    drop(test_ns);
    assert_eq!(fd_count(), fds_before, "file descriptors leaked");
}

#[test]
fn restore_failure_kills_worker() {
    let _serial = serial();
    let t = TestNs::new("restore");
    let exec = executor(2);
    let ns = exec.open(t.name()).unwrap();
    let expected = ns.id();

    // The job drops CAP_SYS_ADMIN from its own thread: setns back to the origin really fails.
    let done = exec
        .run(&ns, move || {
            let inside = current_thread_netns().unwrap() == expected;
            drop_sys_admin();
            (gettid(), inside)
        })
        .expect("the job's result is delivered");
    let (tid, inside) = done.value;
    assert!(inside, "the job ran inside the namespace");
    match &done.thread_killed {
        Some(RestoreFailure::Setns { source, .. }) => {
            assert_eq!(source.raw_os_error(), Some(libc::EPERM), "{source}");
        }
        other => panic!("expected a flagged setns failure, got {other:?}"),
    }

    assert!(
        eventually(SETTLE, || !thread_exists(tid)),
        "killed worker {tid} is still in /proc/self/task"
    );
    assert!(
        eventually(SETTLE, || exec.counters().live_workers == 2),
        "a replacement worker exists: {:?}",
        exec.counters()
    );
    let c = exec.counters();
    assert_eq!((c.kills, c.respawns), (1, 1), "{c:?}");

    for _ in 0..100 {
        let ok = exec
            .run(&ns, move || current_thread_netns().unwrap() == expected)
            .expect("job after the kill")
            .value;
        assert!(ok);
    }
    assert_all_threads_home();
}

/// A `Syscalls` that fails the first restore without calling the kernel, so the thread is
/// really still inside the namespace when the executor finds out.
#[derive(Debug, Default)]
struct FailFirstRestore {
    failed: AtomicU32,
}

impl Syscalls for FailFirstRestore {
    fn setns(&self, fd: &NsFd, kind: NsKind, purpose: SetnsPurpose) -> io::Result<()> {
        if purpose == SetnsPurpose::Restore && self.failed.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        nsplug_host::executor::KernelSyscalls.setns(fd, kind, purpose)
    }
}

#[test]
fn injected_restore_failure_kills_worker() {
    let _serial = serial();
    let t = TestNs::new("inject");
    let exec = Executor::builder()
        .workers(1)
        .paranoid(false)
        .syscalls(Arc::new(FailFirstRestore::default()))
        .build()
        .unwrap();
    let ns = exec.open(t.name()).unwrap();
    let done = exec.run(&ns, gettid).unwrap();
    assert!(
        matches!(done.thread_killed, Some(RestoreFailure::Setns { .. })),
        "{:?}",
        done.thread_killed
    );
    // The thread was left inside the namespace; it must be gone, not reused.
    assert!(eventually(SETTLE, || !thread_exists(done.value)));
    let next = exec.run(&ns, gettid).unwrap();
    assert_ne!(next.value, done.value, "the killed thread ran another job");
    assert!(next.thread_killed.is_none());
    assert_all_threads_home();
}

#[test]
fn panic_in_job_is_contained() {
    let _serial = serial();
    let t = TestNs::new("panic");
    let exec = executor(1);
    let ns = exec.open(t.name()).unwrap();
    let tid = Arc::new(AtomicI32::new(0));

    let seen = Arc::clone(&tid);
    let err = exec
        .run(&ns, move || {
            seen.store(gettid(), Ordering::SeqCst);
            panic!("plugin bug");
        })
        .map(|_: nsplug_host::Completed<()>| ())
        .expect_err("a panicking job is an error");
    assert!(
        matches!(&err, Error::JobPanicked { message, .. } if message == "plugin bug"),
        "{err}"
    );

    // The same thread restored and serves the next job (it was not killed).
    let expected = ns.id();
    let next = exec
        .run(&ns, move || {
            (gettid(), current_thread_netns().unwrap() == expected)
        })
        .unwrap();
    assert_eq!(
        next.value.0,
        tid.load(Ordering::SeqCst),
        "worker was replaced"
    );
    assert!(next.value.1);
    let c = exec.counters();
    assert_eq!((c.panics, c.kills), (1, 0), "{c:?}");
    assert_all_threads_home();
}

#[test]
fn enter_failure_leaves_thread_clean() {
    let _serial = serial();
    let t = TestNs::new("enter");
    // Not paranoid, so the capability loss below goes unnoticed until the next setns.
    let exec = Executor::builder()
        .workers(1)
        .paranoid(false)
        .build()
        .unwrap();
    let ns = exec.open(t.name()).unwrap();

    // A job in the host namespace (no switch) drops CAP_SYS_ADMIN from the worker...
    let degraded = exec
        .run(exec.host(), || {
            drop_sys_admin();
            gettid()
        })
        .unwrap()
        .value;
    // ...so entering really fails with EPERM on that thread.
    let err = exec
        .run(&ns, gettid)
        .map(|_| ())
        .expect_err("entering without CAP_SYS_ADMIN fails");
    match &err {
        Error::Enter { source, .. } => assert_eq!(source.raw_os_error(), Some(libc::EPERM)),
        other => panic!("expected Error::Enter, got {other}"),
    }
    let c = exec.counters();
    assert_eq!(c.enter_failures, 1, "{c:?}");
    // The thread was still in its origin (verified), but a worker that lost its capabilities
    // is retired rather than kept half-useful.
    assert_eq!(c.kills, 1, "{c:?}");
    assert!(eventually(SETTLE, || !thread_exists(degraded)));
    let expected = ns.id();
    let ok = exec
        .run(&ns, move || current_thread_netns().unwrap() == expected)
        .unwrap()
        .value;
    assert!(ok, "the replacement enters fine");
    assert_all_threads_home();
}

/// A `Syscalls` that refuses every enter, leaving the thread untouched.
#[derive(Debug)]
struct RefuseEnter;

impl Syscalls for RefuseEnter {
    fn setns(&self, fd: &NsFd, kind: NsKind, purpose: SetnsPurpose) -> io::Result<()> {
        match purpose {
            SetnsPurpose::Enter => Err(io::Error::from_raw_os_error(libc::EINVAL)),
            _ => nsplug_host::executor::KernelSyscalls.setns(fd, kind, purpose),
        }
    }
}

#[test]
fn injected_enter_failure_keeps_worker() {
    let _serial = serial();
    let t = TestNs::new("refuse");
    let exec = Executor::builder()
        .workers(1)
        .paranoid(true)
        .syscalls(Arc::new(RefuseEnter))
        .build()
        .unwrap();
    let ns = exec.open(t.name()).unwrap();
    let before = exec.run(exec.host(), gettid).unwrap().value;
    let err = exec.run(&ns, gettid).map(|_| ()).unwrap_err();
    assert!(matches!(err, Error::Enter { .. }), "{err}");
    // Verified clean, so the very same thread goes on serving.
    let after = exec.run(exec.host(), gettid).unwrap().value;
    assert_eq!(before, after);
    assert_eq!(exec.counters().kills, 0);
    assert_all_threads_home();
}

#[test]
fn stale_namespace_detected() {
    let _serial = serial();
    let t = TestNs::new("stale");
    let exec = executor(1);
    let old = exec.open(t.name()).unwrap();
    old.check_current().expect("fresh handle is current");

    t.recreate();
    let err = old.check_current().unwrap_err();
    assert!(
        matches!(&err, Error::Stale { now, .. } if now.contains("different")),
        "{err}"
    );
    let new = exec.open(t.name()).unwrap();
    assert_ne!(
        old.id(),
        new.id(),
        "a re-created namespace has a new identity"
    );
    new.check_current().unwrap();

    // The stale handle still pins the old namespace: jobs land there, never in the new one.
    let old_id = old.id();
    let landed = exec.run(&old, current_thread_netns).unwrap().value.unwrap();
    assert_eq!(landed, old_id);

    run("ip", &["netns", "del", t.name()]);
    let err = new.check_current().unwrap_err();
    assert!(
        matches!(&err, Error::Stale { now, .. } if now.contains("nothing")),
        "{err}"
    );
    assert_all_threads_home();
}

#[test]
fn invalid_names_refused() {
    let dir = std::env::temp_dir().join(format!("nsplug-names-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A name that would escape the directory must not even be looked up.
    let dirs = NamespaceDirs::new([&dir]);
    let long = "n".repeat(256);
    for name in [
        "",
        ".",
        "..",
        "a/b",
        "a\0b",
        long.as_str(),
        "../../proc/1/ns/net",
    ] {
        let err = dirs.open(name).unwrap_err();
        assert!(matches!(err, Error::InvalidName { .. }), "{name:?}: {err}");
    }
    // A symbolic link in the namespace directory is refused, not followed.
    std::os::unix::fs::symlink("/proc/1/ns/net", dir.join("evil")).unwrap();
    let err = dirs.open("evil").unwrap_err();
    assert!(
        matches!(&err, Error::Open { source, .. } if source.raw_os_error() == Some(libc::ELOOP)),
        "{err}"
    );
    assert!(matches!(
        dirs.open("absent").unwrap_err(),
        Error::NamespaceNotFound { .. }
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn job_deadline() {
    let _serial = serial();
    let t = TestNs::new("deadline");
    let exec = executor(1);
    let ns = exec.open(t.name()).unwrap();
    let (release, blocked) = crossbeam_channel::bounded::<()>(0);

    let err = exec
        .run_with_deadline(&ns, Duration::from_millis(100), move || {
            let _ = blocked.recv();
        })
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err, Error::TimedOut { .. }), "{err}");

    // With one worker stuck, the executor still serves: the supervisor replaced it.
    let expected = ns.id();
    for _ in 0..10 {
        let ok = exec
            .run(&ns, move || current_thread_netns().unwrap() == expected)
            .unwrap()
            .value;
        assert!(ok);
    }
    let c = exec.counters();
    assert_eq!((c.timeouts, c.respawns), (1, 1), "{c:?}");

    // When the stuck job returns, its thread restores and exits; nobody is left inside.
    release.send(()).unwrap();
    assert!(eventually(SETTLE, || exec.counters().live_workers == 1));
    assert_all_threads_home();
}

#[test]
fn job_abandoned_in_queue_never_runs() {
    let _serial = serial();
    let t = TestNs::new("queued");
    let exec = executor(1);
    let ns = exec.open(t.name()).unwrap();
    let (release, blocked) = crossbeam_channel::bounded::<()>(0);
    let blocker = {
        let exec = exec.clone();
        let ns = ns.clone();
        std::thread::spawn(move || exec.run(&ns, move || blocked.recv().is_ok()))
    };
    assert!(eventually(SETTLE, || exec.counters().jobs == 1));

    let ran = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&ran);
    let err = exec
        .run_with_deadline(&ns, Duration::from_millis(50), move || {
            flag.store(true, Ordering::SeqCst)
        })
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err, Error::TimedOut { .. }), "{err}");
    release.send(()).unwrap();
    assert!(blocker.join().unwrap().unwrap().value);
    // The worker has taken and dropped the abandoned job by the time this one runs.
    exec.run(&ns, || ()).unwrap().into_value();
    assert!(
        !ran.load(Ordering::SeqCst),
        "a job whose caller gave up ran anyway"
    );
    let c = exec.counters();
    assert_eq!(
        (c.timeouts, c.respawns),
        (1, 0),
        "no replacement for a queued job: {c:?}"
    );
}

#[test]
fn jobs_from_a_worker_run_inline() {
    let _serial = serial();
    let (a, b) = (TestNs::new("inline-a"), TestNs::new("inline-b"));
    let exec = executor(2);
    let ns_a = exec.open(a.name()).unwrap();
    let ns_b = exec.open(b.name()).unwrap();

    let inner = exec.clone();
    let (ns, expected) = (ns_a.clone(), ns_a.id());
    let (outer_tid, inner_tid, inner_ns) = exec
        .run_on_worker(Duration::from_secs(5), move || {
            let outer = gettid();
            let (tid, id) = inner
                .run(&ns, || (gettid(), current_thread_netns().unwrap()))
                .unwrap()
                .value;
            (outer, tid, id)
        })
        .unwrap()
        .value;
    assert_eq!(outer_tid, inner_tid, "no handoff from an executor thread");
    assert_eq!(inner_ns, expected);
    assert_eq!(exec.counters().inline_jobs, 1);

    // A job inside `a` cannot enter `b` without leaving `a` midway: refused.
    let inner = exec.clone();
    let nested = exec
        .run(&ns_a, move || inner.run(&ns_b, || ()).map(|_| ()))
        .unwrap()
        .value;
    assert!(matches!(nested, Err(Error::NestedJob { .. })), "{nested:?}");
    assert_all_threads_home();
}

#[test]
fn unsafe_kinds_refused() {
    let exec = executor(1);
    for (path, kind) in [
        ("/proc/self/ns/mnt", NsKind::Mnt),
        ("/proc/self/ns/user", NsKind::User),
        ("/proc/self/ns/time", NsKind::Time),
    ] {
        let ns = Namespace::open_path(path, kind).expect(path);
        let err = exec.run(&ns, || ()).map(|_| ()).unwrap_err();
        assert!(
            matches!(err, Error::KindNotEnterable { .. }),
            "{kind}: {err}"
        );
    }
    assert_eq!(exec.counters().jobs, 0, "nothing was attempted");
    // Wrong kind and non-namespace files are refused at open.
    let err = Namespace::open_path("/proc/self/ns/uts", NsKind::Net).unwrap_err();
    assert!(matches!(err, Error::WrongKind { .. }), "{err}");
    let err = Namespace::open_path("/etc/hostname", NsKind::Net).unwrap_err();
    assert!(matches!(err, Error::WrongKind { .. }), "{err}");
}

#[test]
fn executor_refuses_a_foreign_baseline() {
    let _serial = serial();
    let t = TestNs::new("foreign");
    let exec = executor(1);
    let ns = exec.open(t.name()).unwrap();
    // Building an executor from a thread inside another namespace is an error.
    let built = exec
        .run(&ns, || Executor::builder().workers(1).build().map(|_| ()))
        .unwrap()
        .value;
    assert!(
        matches!(built, Err(Error::NotInBaseline { kind: NsKind::Net })),
        "{built:?}"
    );
    assert_all_threads_home();
}
