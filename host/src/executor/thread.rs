//! Executor threads: the supervisor that spawns workers, the workers, and `run_job` — the one
//! place where a thread enters a namespace, runs a job, restores and verifies.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::job::{JobReport, RestoreFailure, Target, Task};
use super::{Completed, Counters, SetnsPurpose, Syscalls};
use crate::error::{Error, Result};
use crate::netns::{NsId, NsKind};
use crate::sys;

/// How long `build` waits for the initial workers to verify their origin.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct Config {
    pub(crate) paranoid: bool,
    pub(crate) deadline: Duration,
    pub(crate) syscalls: Arc<dyn Syscalls>,
}

/// The process's namespaces when the executor was built, one per enterable kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Baseline([NsId; NsKind::ENTERABLE.len()]);

impl Baseline {
    /// Reads `/proc/self/ns/*` and checks that the calling thread is in every one of them.
    pub(crate) fn capture() -> Result<Baseline> {
        let mut ids = [NsId { dev: 0, ino: 0 }; NsKind::ENTERABLE.len()];
        for (slot, kind) in ids.iter_mut().zip(NsKind::ENTERABLE) {
            let read = |path: String| {
                sys::path_identity(std::path::Path::new(&path)).map_err(|source| Error::Open {
                    path: path.into(),
                    source,
                })
            };
            let process = read(sys::process_ns_path(kind))?;
            if read(sys::thread_ns_path(kind))? != process {
                return Err(Error::NotInBaseline { kind });
            }
            *slot = process;
        }
        Ok(Baseline(ids))
    }

    fn check_current_thread(&self) -> Result<()> {
        for (kind, expected) in NsKind::ENTERABLE.into_iter().zip(self.0) {
            let here = sys::thread_ns_id(kind).map_err(|source| Error::Resource {
                what: "reading the thread's namespace",
                source,
            })?;
            if here != expected {
                return Err(Error::NotInBaseline { kind });
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct AtomicCounters {
    jobs: AtomicU64,
    inline_jobs: AtomicU64,
    entries: AtomicU64,
    enter_failures: AtomicU64,
    restores: AtomicU64,
    kills: AtomicU64,
    respawns: AtomicU64,
    timeouts: AtomicU64,
    panics: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

#[derive(Default)]
struct Threads {
    workers: usize,
    supervisor: bool,
    /// Workers that failed to start (origin not the baseline, or unreadable).
    failed_starts: usize,
}

pub(crate) enum SupervisorMsg {
    /// Spawn one worker (initially, or replacing a killed or stuck one).
    Spawn {
        replacement: bool,
    },
    Shutdown,
}

/// What the executor's threads share. Workers and the supervisor hold it; callers reach it
/// through the executor handle.
pub(crate) struct Shared {
    pub(crate) config: Config,
    baseline: Baseline,
    counters: AtomicCounters,
    jobs: Receiver<Task>,
    pub(crate) supervisor: Sender<SupervisorMsg>,
    supervisor_rx: Mutex<Option<Receiver<SupervisorMsg>>>,
    threads: Mutex<Threads>,
    threads_changed: Condvar,
    next_worker: AtomicU64,
}

impl Shared {
    pub(crate) fn new(baseline: Baseline, config: Config, jobs: Receiver<Task>) -> Arc<Shared> {
        let (supervisor, supervisor_rx) = crossbeam_channel::unbounded();
        Arc::new(Shared {
            config,
            baseline,
            counters: AtomicCounters::default(),
            jobs,
            supervisor,
            supervisor_rx: Mutex::new(Some(supervisor_rx)),
            threads: Mutex::new(Threads::default()),
            threads_changed: Condvar::new(),
            next_worker: AtomicU64::new(0),
        })
    }

    fn threads(&self) -> MutexGuard<'_, Threads> {
        self.threads.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update_threads(&self, f: impl FnOnce(&mut Threads)) {
        f(&mut self.threads());
        self.threads_changed.notify_all();
    }

    pub(crate) fn counters(&self) -> Counters {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counters {
            jobs: get(&c.jobs),
            inline_jobs: get(&c.inline_jobs),
            entries: get(&c.entries),
            enter_failures: get(&c.enter_failures),
            restores: get(&c.restores),
            kills: get(&c.kills),
            respawns: get(&c.respawns),
            timeouts: get(&c.timeouts),
            panics: get(&c.panics),
            live_workers: self.threads().workers as u64,
        }
    }

    /// A caller stopped waiting. If the job had started, its thread is stuck: replace it.
    pub(crate) fn on_timeout(&self, target: &Target, deadline: Duration, was_running: bool) {
        bump(&self.counters.timeouts);
        tracing::warn!(ns = %target, ?deadline, was_running, "namespace job timed out");
        if was_running {
            let _ = self
                .supervisor
                .send(SupervisorMsg::Spawn { replacement: true });
        }
    }

    pub(crate) fn wait_for_workers(&self, n: usize) -> Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut threads = self.threads();
        while threads.workers < n {
            if threads.failed_starts > 0 {
                return Err(Error::Resource {
                    what: "starting executor workers",
                    source: std::io::Error::other(
                        "a worker's origin namespace is not the process's (see the log)",
                    ),
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Resource {
                    what: "starting executor workers",
                    source: std::io::ErrorKind::TimedOut.into(),
                });
            }
            threads = self
                .threads_changed
                .wait_timeout(threads, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Ok(())
    }

    pub(crate) fn wait_for_exit(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut threads = self.threads();
        while threads.workers > 0 || threads.supervisor {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            threads = self
                .threads_changed
                .wait_timeout(threads, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

/// Starts the supervisor, which spawns `workers` workers. Called by the thread building the
/// executor, after it verified that it is in the baseline.
pub(crate) fn start_supervisor(shared: &Arc<Shared>, workers: usize) -> Result<()> {
    let rx = shared
        .supervisor_rx
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .ok_or(Error::ShutDown)?;
    for _ in 0..workers {
        let _ = shared
            .supervisor
            .send(SupervisorMsg::Spawn { replacement: false });
    }
    let sup_shared = Arc::clone(shared);
    shared.update_threads(|t| t.supervisor = true);
    std::thread::Builder::new()
        .name("nsplug-supervisor".into())
        .spawn(move || supervise(sup_shared, rx))
        .map(drop)
        .map_err(|source| {
            shared.update_threads(|t| t.supervisor = false);
            Error::Resource {
                what: "spawning the executor supervisor thread",
                source,
            }
        })
}

/// The supervisor never runs a job and never enters a namespace: threads it spawns inherit a
/// clean origin.
fn supervise(shared: Arc<Shared>, rx: Receiver<SupervisorMsg>) {
    if let Err(e) = shared.baseline.check_current_thread() {
        tracing::error!(error = %e, "executor supervisor is not in the baseline; spawning nothing");
        shared.update_threads(|t| {
            t.failed_starts += 1;
            t.supervisor = false;
        });
        return;
    }
    while let Ok(SupervisorMsg::Spawn { replacement }) = rx.recv() {
        let id = shared.next_worker.fetch_add(1, Ordering::Relaxed);
        let worker_shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name(format!("nsplug-worker-{id}"))
            .spawn(move || worker_main(worker_shared, id));
        match spawned {
            Ok(_) if replacement => {
                bump(&shared.counters.respawns);
                tracing::info!(worker = id, "spawned replacement executor worker");
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot spawn executor worker"),
        }
    }
    shared.update_threads(|t| t.supervisor = false);
}

/// A thread's origin in one kind of namespace.
struct Origin {
    fd: sys::NsFd,
    id: NsId,
}

enum ThreadState {
    Idle,
    InJob(NsId),
    Poisoned,
}

/// Everything a worker knows about itself, reachable from inline jobs via a thread-local.
struct ThreadCtx {
    shared: Arc<Shared>,
    origins: Vec<Origin>,
    caps: u64,
    state: RefCell<ThreadState>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<ThreadCtx>>> = const { RefCell::new(None) };
}

impl ThreadCtx {
    /// Captures the calling thread's origin, on that thread, and checks it against the baseline.
    fn capture(shared: Arc<Shared>) -> Result<ThreadCtx> {
        let mut origins = Vec::with_capacity(NsKind::ENTERABLE.len());
        for (kind, expected) in NsKind::ENTERABLE.into_iter().zip(shared.baseline.0) {
            let path = sys::thread_ns_path(kind);
            let fd =
                sys::open_ns(std::path::Path::new(&path), false).map_err(|source| Error::Open {
                    path: path.clone().into(),
                    source,
                })?;
            let id = sys::fd_identity(&fd).map_err(|source| Error::Open {
                path: path.into(),
                source,
            })?;
            if id != expected {
                return Err(Error::NotInBaseline { kind });
            }
            origins.push(Origin { fd, id });
        }
        let caps = sys::effective_caps().map_err(|source| Error::Resource {
            what: "reading the worker's capabilities",
            source,
        })?;
        Ok(ThreadCtx {
            shared,
            origins,
            caps,
            state: RefCell::new(ThreadState::Idle),
        })
    }

    fn origin(&self, kind: NsKind) -> &Origin {
        let index = kind
            .enterable_index()
            .expect("callers refuse kinds that cannot be entered");
        &self.origins[index]
    }

    fn is_poisoned(&self) -> bool {
        matches!(*self.state.borrow(), ThreadState::Poisoned)
    }

    /// Checks that the thread is back in its origin (the job's kind, or every kind when
    /// `thorough`) with its original capabilities.
    fn verify(&self, kind: NsKind, thorough: bool) -> Option<RestoreFailure> {
        let kinds: &[NsKind] = if thorough {
            &NsKind::ENTERABLE
        } else {
            std::slice::from_ref(&kind)
        };
        for &kind in kinds {
            let expected = self.origin(kind).id;
            if sys::thread_ns_ino(kind).ok() != Some(expected.ino) {
                return Some(RestoreFailure::WrongNamespace {
                    kind,
                    expected,
                    found: sys::thread_ns_id(kind).ok(),
                });
            }
        }
        let after = sys::effective_caps().unwrap_or(0);
        (after != self.caps).then_some(RestoreFailure::CapabilitiesChanged {
            before: self.caps,
            after,
        })
    }
}

/// Enters `target`, runs `body`, restores and verifies: the only code that switches namespaces.
fn run_job(ctx: &ThreadCtx, target: &Target, body: &mut dyn FnMut()) -> JobReport {
    let shared = &ctx.shared;
    let kind = target.kind();
    let origin = ctx.origin(kind);
    let refuse = |e| JobReport {
        entered: Err(e),
        panic: None,
        restore_failure: None,
    };
    bump(&shared.counters.jobs);

    // Where the thread is now decides whether it can take this job at all.
    let target_id = match target {
        Target::Enter(ns) => Some(ns.id()),
        Target::Fresh(_) => None,
    };
    let nested_same = match *ctx.state.borrow() {
        ThreadState::Poisoned => return refuse(Error::ThreadPoisoned),
        ThreadState::InJob(current) if Some(current) == target_id => true,
        ThreadState::InJob(_) => {
            return refuse(Error::NestedJob {
                current: "another namespace".to_owned(),
                requested: target.to_string(),
            });
        }
        ThreadState::Idle => false,
    };
    if nested_same {
        // Already inside this very namespace (a job's own inline job): just run it.
        let panic = catch_unwind(AssertUnwindSafe(&mut *body)).err();
        return JobReport {
            entered: Ok(()),
            panic: panic.map(|p| note_panic(shared, target, p)),
            restore_failure: None,
        };
    }

    // Enter. The host's own namespace needs no switch.
    let switch = target_id != Some(origin.id);
    if switch {
        let entered = match target {
            Target::Enter(ns) => shared
                .config
                .syscalls
                .setns(ns.fd(), kind, SetnsPurpose::Enter),
            Target::Fresh(kind) => sys::unshare(*kind),
        };
        if let Err(source) = entered {
            bump(&shared.counters.enter_failures);
            tracing::warn!(ns = %target, error = %source, "entering namespace failed");
            // setns and unshare are atomic, but check: a thread that cannot be shown clean dies.
            let restore_failure = ctx.verify(kind, shared.config.paranoid);
            if let Some(failure) = &restore_failure {
                poison(ctx, target, failure);
            }
            return JobReport {
                entered: Err(Error::Enter {
                    ns: target.to_string(),
                    source,
                }),
                panic: None,
                restore_failure,
            };
        }
        bump(&shared.counters.entries);
    }

    // Run. A job in the origin leaves the thread "idle": its own inline jobs may enter any
    // namespace, since they restore to exactly where it runs.
    if switch {
        *ctx.state.borrow_mut() = ThreadState::InJob(target_id.unwrap_or(NsId { dev: 0, ino: 0 }));
    }
    let panic = catch_unwind(AssertUnwindSafe(&mut *body))
        .err()
        .map(|p| note_panic(shared, target, p));
    if switch && !ctx.is_poisoned() {
        *ctx.state.borrow_mut() = ThreadState::Idle;
    }

    // Restore, and verify when asked to or when anything went wrong.
    let check = shared.config.paranoid || panic.is_some();
    let restore_failure = if switch {
        match shared
            .config
            .syscalls
            .setns(&origin.fd, kind, SetnsPurpose::Restore)
        {
            Ok(()) => {
                bump(&shared.counters.restores);
                if check {
                    ctx.verify(kind, shared.config.paranoid)
                } else {
                    None
                }
            }
            Err(source) => Some(RestoreFailure::Setns { kind, source }),
        }
    } else if check {
        // The job ran in the origin; make sure it did not move the thread itself.
        ctx.verify(kind, shared.config.paranoid)
    } else {
        None
    };
    if let Some(failure) = &restore_failure {
        poison(ctx, target, failure);
    }
    JobReport {
        entered: Ok(()),
        panic,
        restore_failure,
    }
}

fn note_panic(shared: &Shared, target: &Target, payload: Box<dyn std::any::Any + Send>) -> String {
    bump(&shared.counters.panics);
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned());
    tracing::warn!(ns = %target, %message, "namespace job panicked");
    message
}

/// Marks the thread as dying: it runs no further job and exits when its current one ends.
fn poison(ctx: &ThreadCtx, target: &Target, failure: &RestoreFailure) {
    *ctx.state.borrow_mut() = ThreadState::Poisoned;
    bump(&ctx.shared.counters.kills);
    tracing::error!(
        ns = %target,
        tid = sys::gettid(),
        %failure,
        "executor thread could not restore its namespace; killing it"
    );
}

/// Runs `job` inline if the calling thread is a worker of this executor; gives it back otherwise.
pub(crate) fn try_inline<F, R>(
    shared: &Arc<Shared>,
    target: &Target,
    job: F,
) -> std::result::Result<Result<Completed<R>>, F>
where
    F: FnOnce() -> R,
{
    let ctx = CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|ctx| Arc::ptr_eq(&ctx.shared, shared))
            .cloned()
    });
    let Some(ctx) = ctx else {
        return Err(job);
    };
    bump(&shared.counters.inline_jobs);
    let mut job = Some(job);
    let mut value = None;
    let report = run_job(&ctx, target, &mut || {
        if let Some(job) = job.take() {
            value = Some(job());
        }
    });
    Ok(report.into_result(value, target))
}

/// Whether the calling thread is an executor thread that failed to restore its namespace (it
/// runs no further job and exits when its current one ends). False on any other thread.
pub fn current_thread_poisoned() -> bool {
    CURRENT.with(|c| c.borrow().as_ref().is_some_and(|ctx| ctx.is_poisoned()))
}

/// Tells the supervisor when a worker thread ends, however it ends.
struct LiveWorker<'a>(&'a Shared);

impl Drop for LiveWorker<'_> {
    fn drop(&mut self) {
        self.0.update_threads(|t| t.workers -= 1);
    }
}

fn worker_main(shared: Arc<Shared>, id: u64) {
    let ctx = match ThreadCtx::capture(Arc::clone(&shared)) {
        Ok(ctx) => Rc::new(ctx),
        Err(e) => {
            tracing::error!(worker = id, error = %e, "executor worker refused to start");
            shared.update_threads(|t| t.failed_starts += 1);
            return;
        }
    };
    shared.update_threads(|t| t.workers += 1);
    let _live = LiveWorker(&shared);
    CURRENT.with(|c| *c.borrow_mut() = Some(Rc::clone(&ctx)));
    while let Ok(task) = shared.jobs.recv() {
        let Task { target, mut job } = task;
        if !job.start() {
            continue; // its caller gave up while it was queued
        }
        let report = run_job(&ctx, &target, &mut || job.run());
        let killed = report.restore_failure.is_some();
        let wanted = job.finish(report, &target);
        if ctx.is_poisoned() || killed {
            // A caller that gave up on this job already had the thread replaced.
            if wanted {
                let _ = shared
                    .supervisor
                    .send(SupervisorMsg::Spawn { replacement: true });
            }
            break;
        }
        if !wanted {
            // The caller timed out while this job ran and a replacement exists already.
            tracing::info!(worker = id, "worker finished an abandoned job; exiting");
            break;
        }
    }
    // Close the origin descriptors before the thread counts as gone.
    CURRENT.with(|c| c.borrow_mut().take());
    drop(ctx);
}

#[cfg(test)]
mod tests {
    #[test]
    fn namespace_handles_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<crate::netns::Namespace>();
        check::<super::super::Executor>();
    }
}
