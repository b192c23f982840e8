//! The namespace executor: the only code in nsplug that changes a thread's namespace.
//!
//! A job submitted with [`Executor::run`] runs on a thread the executor owns, inside the target
//! namespace, and that thread goes back to where it came from — verified — or dies. The
//! invariants below are the product; each says why it holds in this code.
//!
//! 1. **No foreign thread ever changes namespace.** [`setns(2)`] is called only in
//!    `thread::run_job`, which runs only on threads the executor spawned (workers). A job
//!    submitted from a worker of the same executor runs *inline* on it (no handoff); a job from
//!    any other thread is handed to a worker through a queue. The main thread, the caller's thread
//!    and async-runtime workers are never touched.
//! 2. **Origin is captured per thread, on that thread.** A worker opens
//!    `/proc/thread-self/ns/{net,uts,ipc,cgroup}` when it starts and compares each identity with
//!    the baseline the executor captured from `/proc/self/ns/*` (the process's view). A worker
//!    whose origin differs exits at once. Building an executor from a thread that is not in the
//!    baseline is [`Error::NotInBaseline`], never a silent new baseline.
//! 3. **Restore is checked.** After every job the worker `setns`es back to its origin descriptor
//!    and the kernel's answer is checked. After any failure or panic, and after every job in
//!    paranoid mode ([`ExecutorBuilder::paranoid`]; on by default in debug builds, which is what
//!    tests and CI run), the identity of `/proc/thread-self/ns/*` is compared with the origin's
//!    and the thread's effective capabilities with those it started with. The fast path trusts the
//!    kernel's answer: the identity check costs more than the switch.
//! 4. **Restore-or-kill.** If restoring fails or cannot be verified, the worker runs no further job
//!    and its OS thread exits. The job's own result is still delivered, flagged in
//!    [`Completed::thread_killed`]; [`Counters::kills`] and a `tracing` error record it. An inline
//!    job whose restore fails poisons its thread: the outer job gets the flag, further inline jobs
//!    get [`Error::ThreadPoisoned`], and the thread exits when the outer job ends.
//! 5. **Replacements come from a clean thread.** A new thread inherits its creator's namespaces,
//!    so only the supervisor thread — spawned by the (verified) building thread, and which never
//!    runs a job — spawns workers, initially and after every kill or abandoned job.
//! 6. **Panics are contained.** The job runs under `catch_unwind`; restore runs regardless and the
//!    caller gets [`Error::JobPanicked`].
//! 7. **Entering failure leaves the thread clean.** `setns` is atomic; after a failure the thread's
//!    namespace and capabilities are verified anyway, and the caller gets [`Error::Enter`]. A
//!    worker whose capabilities a previous job dropped is retired rather than kept half-useful.
//! 8. **Namespaces are pinned by descriptor** ([`Namespace`]): `O_RDONLY | O_CLOEXEC`, checked
//!    with `NS_GET_NSTYPE`, names validated and resolved in configurable directories, staleness
//!    detectable with [`Namespace::check_current`].
//! 9. **Namespace-bound sockets** are created by a job inside the namespace and then used from any
//!    thread (see [`crate::netlink`]).
//! 10. **Kinds.** Net, UTS, IPC and cgroup namespaces can be entered per thread; mount, user, time
//!     (and PID, which affects only children) cannot in a multithreaded process and are refused
//!     with [`Error::KindNotEnterable`] before any system call.
//!
//! **Deadlines.** Every handed-off job has a deadline ([`ExecutorBuilder::deadline`],
//! [`Executor::run_with_deadline`]). When it passes, the caller gets [`Error::TimedOut`] at once
//! and, if the job had started, the supervisor spawns a replacement so the executor keeps its
//! capacity; the stuck thread restores and exits when the job finally returns. A job still queued
//! when its caller gave up is never run. Inline jobs cannot be preempted by their own thread; the
//! caller's own budget (a plugin's epoch deadline) bounds them.
//!
//! **Jobs must not spawn threads**: a thread created inside a namespace inherits it (DESIGN.md,
//! invariant 5). Nothing the executor itself does inside a job creates one.
//!
//! [`setns(2)`]: https://man7.org/linux/man-pages/man2/setns.2.html

mod job;
mod thread;

#[doc(hidden)]
pub mod floor;

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender};

use crate::error::{Error, Result};
use crate::netlink::SocketCache;
use crate::netns::{Namespace, NamespaceDirs, NsId, NsKind, NsSource};
use crate::sys;

pub use job::{Completed, RestoreFailure};
use job::{Handoff, JobState, Target, Task};
pub use thread::current_thread_poisoned;
use thread::{Shared, SupervisorMsg};

/// Which `setns` of a job a [`Syscalls`] implementation is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetnsPurpose {
    /// Entering the job's target namespace.
    Enter,
    /// Going back to the thread's origin after the job.
    Restore,
}

/// The system calls the executor makes to switch namespaces: a fault-injection seam.
///
/// The default, [`KernelSyscalls`], calls the kernel. A test can wrap it to fail a chosen call and
/// watch restore-or-kill happen; this is *in addition to* provoking the real fault (a job that
/// drops `CAP_SYS_ADMIN` makes the real restore fail with `EPERM`).
pub trait Syscalls: Send + Sync + fmt::Debug {
    /// Moves the calling thread into the namespace pinned by `fd`.
    fn setns(&self, fd: &sys::NsFd, kind: NsKind, purpose: SetnsPurpose) -> io::Result<()>;
}

/// The real kernel.
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelSyscalls;

impl Syscalls for KernelSyscalls {
    fn setns(&self, fd: &sys::NsFd, kind: NsKind, _purpose: SetnsPurpose) -> io::Result<()> {
        sys::setns(fd, kind)
    }
}

/// Configuration for an [`Executor`].
#[derive(Debug, Clone)]
pub struct ExecutorBuilder {
    workers: usize,
    deadline: Duration,
    paranoid: bool,
    dirs: NamespaceDirs,
    syscalls: Arc<dyn Syscalls>,
}

impl Default for ExecutorBuilder {
    fn default() -> Self {
        ExecutorBuilder {
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            deadline: Duration::from_secs(10),
            paranoid: cfg!(debug_assertions),
            dirs: NamespaceDirs::default(),
            syscalls: Arc::new(KernelSyscalls),
        }
    }
}

impl ExecutorBuilder {
    /// Number of worker threads (at least 1; default: the available parallelism).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    /// Default deadline of a handed-off job (default 10 s).
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Verify namespace identity and capabilities after every job, not only after failures.
    /// Costs about 1 µs per kind per job. Default: on in debug builds, off in release builds.
    pub fn paranoid(mut self, on: bool) -> Self {
        self.paranoid = on;
        self
    }

    /// Where named namespaces are looked up and created (default `/run/netns`, `/var/run/netns`).
    pub fn namespace_dirs(mut self, dirs: NamespaceDirs) -> Self {
        self.dirs = dirs;
        self
    }

    /// Replace the namespace system calls (fault injection; see [`Syscalls`]).
    pub fn syscalls(mut self, syscalls: Arc<dyn Syscalls>) -> Self {
        self.syscalls = syscalls;
        self
    }

    /// Builds the executor: captures the baseline, starts the supervisor and the workers, and
    /// waits until every worker has captured and verified its origin.
    ///
    /// Must be called from a thread in the process's own namespaces ([`Error::NotInBaseline`]).
    pub fn build(self) -> Result<Executor> {
        if !cfg!(target_os = "linux") {
            return Err(Error::NotSupported {
                what: "the namespace executor",
            });
        }
        if self.workers == 0 {
            return Err(Error::Resource {
                what: "building the executor",
                source: io::Error::new(io::ErrorKind::InvalidInput, "workers must be at least 1"),
            });
        }
        let baseline = thread::Baseline::capture()?;
        let host = Namespace::open_host(NsKind::Net)?;
        let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded();
        let shared = Shared::new(
            baseline,
            thread::Config {
                paranoid: self.paranoid,
                deadline: self.deadline,
                syscalls: self.syscalls,
            },
            jobs_rx,
        );
        thread::start_supervisor(&shared, self.workers)?;
        let executor = Executor {
            inner: Arc::new(Inner {
                shared,
                jobs: jobs_tx,
                host,
                dirs: self.dirs,
                sockets: SocketCache::default(),
            }),
        };
        executor.inner.shared.wait_for_workers(self.workers)?;
        Ok(executor)
    }
}

/// Counters of an executor's life, read with [`Executor::counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Jobs run (handed off or inline), including failed ones.
    pub jobs: u64,
    /// Of those, jobs run inline on the submitting worker.
    pub inline_jobs: u64,
    /// Successful `setns` into a target (or `unshare` of a fresh namespace).
    pub entries: u64,
    /// Failed attempts to enter.
    pub enter_failures: u64,
    /// Successful restores to the origin.
    pub restores: u64,
    /// Threads killed because restoring failed or could not be verified.
    pub kills: u64,
    /// Workers spawned to replace killed or stuck ones.
    pub respawns: u64,
    /// Jobs whose caller stopped waiting at the deadline.
    pub timeouts: u64,
    /// Jobs that panicked.
    pub panics: u64,
    /// Workers alive now.
    pub live_workers: u64,
}

/// Runs jobs inside namespaces on threads it owns, with restore-or-kill semantics.
///
/// Cheap to clone; `Send + Sync`. When the last clone drops, workers finish their current job and
/// exit; [`Executor::shutdown`] waits for that.
#[derive(Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    jobs: Sender<Task>,
    host: Namespace,
    dirs: NamespaceDirs,
    sockets: SocketCache,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The job queue closes when `jobs` drops (workers then exit); the supervisor is told.
        let _ = self.shared.supervisor.send(SupervisorMsg::Shutdown);
    }
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("counters", &self.counters())
            .finish_non_exhaustive()
    }
}

impl Executor {
    /// An executor with the default configuration.
    pub fn new() -> Result<Executor> {
        Self::builder().build()
    }

    /// Configure an executor.
    pub fn builder() -> ExecutorBuilder {
        ExecutorBuilder::default()
    }

    /// The host's own network namespace: the baseline captured when the executor was built.
    pub fn host(&self) -> &Namespace {
        &self.inner.host
    }

    /// Opens the network namespace `name` in the configured directories.
    pub fn open(&self, name: &str) -> Result<Namespace> {
        self.inner.dirs.open(name)
    }

    /// The configured namespace directories.
    pub fn namespace_dirs(&self) -> &NamespaceDirs {
        &self.inner.dirs
    }

    /// Runs `job` inside `ns` with the default deadline. See [`Executor::run_with_deadline`].
    pub fn run<F, R>(&self, ns: &Namespace, job: F) -> Result<Completed<R>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.run_with_deadline(ns, self.inner.shared.config.deadline, job)
    }

    /// Runs `job` inside `ns` on an executor thread and returns its value.
    ///
    /// Handed off to a worker unless the calling thread is a worker of this executor, in which
    /// case it runs inline (no deadline applies then). The result is delivered even if the thread
    /// is killed afterwards for failing to restore; [`Completed::thread_killed`] says so.
    pub fn run_with_deadline<F, R>(
        &self,
        ns: &Namespace,
        deadline: Duration,
        job: F,
    ) -> Result<Completed<R>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        if !ns.kind().is_enterable() {
            return Err(Error::KindNotEnterable { kind: ns.kind() });
        }
        self.submit(Target::Enter(ns.clone()), deadline, job)
    }

    /// Runs `job` on an executor thread in the host namespaces, without entering anything: the
    /// way to give a long computation (a plugin call) an executor-owned thread, so that the
    /// namespace jobs it submits run inline.
    pub fn run_on_worker<F, R>(&self, deadline: Duration, job: F) -> Result<Completed<R>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.submit(Target::Enter(self.inner.host.clone()), deadline, job)
    }

    fn submit<F, R>(&self, target: Target, deadline: Duration, job: F) -> Result<Completed<R>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let shared = &self.inner.shared;
        let job = match thread::try_inline(shared, &target, job) {
            Ok(inline) => return inline,
            Err(job) => job,
        };
        let (handoff, reply, state) = Handoff::new(job);
        self.inner
            .jobs
            .send(Task {
                target: target.clone(),
                job: Box::new(handoff),
            })
            .map_err(|_| Error::ShutDown)?;
        match reply.recv_timeout(deadline) {
            Ok(result) => result,
            Err(RecvTimeoutError::Disconnected) => Err(Error::ShutDown),
            Err(RecvTimeoutError::Timeout) => match state.abandon() {
                // The result arrived as we gave up: it is in the channel or about to be.
                JobState::Done => reply.recv().unwrap_or(Err(Error::ShutDown)),
                was => {
                    shared.on_timeout(&target, deadline, was == JobState::Running);
                    Err(Error::TimedOut {
                        ns: target.to_string(),
                        deadline,
                    })
                }
            },
        }
    }

    /// Creates a named network namespace in the first namespace directory, compatible with
    /// iproute2 (`ip netns add NAME`: a bind mount of the namespace under a shared `/run/netns`).
    pub fn create_namespace(&self, name: &str) -> Result<Namespace> {
        let path = self.inner.dirs.create_path(name)?;
        let lifecycle = |source| Error::Lifecycle {
            op: "create",
            path: path.clone(),
            source,
        };
        let dir = path.parent().unwrap_or(&path);
        sys::ensure_shared_mount_dir(dir).map_err(lifecycle)?;
        sys::create_mount_target(&path).map_err(lifecycle)?;
        let target = path.clone();
        let bound = self
            .submit(
                Target::Fresh(NsKind::Net),
                self.inner.shared.config.deadline,
                move || sys::bind_thread_ns(NsKind::Net, &target),
            )
            .and_then(|done| done.value.map_err(lifecycle));
        let opened = bound.and_then(|()| {
            Namespace::open(
                &path,
                NsKind::Net,
                true,
                NsSource::Named {
                    name: name.to_owned(),
                    path: path.clone(),
                },
            )
        });
        if opened.is_err() {
            let _ = sys::unmount_and_remove(&path);
        }
        opened
    }

    /// Deletes a named network namespace (`ip netns del NAME`). Handles still open keep the
    /// namespace itself alive until they drop; they become stale.
    pub fn delete_namespace(&self, name: &str) -> Result<()> {
        let path = self.inner.dirs.resolve(name)?;
        sys::unmount_and_remove(&path).map_err(|source| Error::Lifecycle {
            op: "delete",
            path,
            source,
        })
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        self.inner.shared.counters()
    }

    pub(crate) fn sockets(&self) -> &SocketCache {
        &self.inner.sockets
    }

    /// Drops this handle and, if it was the last, waits up to `timeout` for every executor thread
    /// to exit. Returns whether they all did (a job stuck past its deadline keeps its thread).
    pub fn shutdown(self, timeout: Duration) -> bool {
        let shared = Arc::clone(&self.inner.shared);
        drop(self);
        shared.wait_for_exit(timeout)
    }
}

/// The identity of the calling thread's network namespace (`/proc/thread-self/ns/net`).
///
/// For jobs and tests that check where they run.
pub fn current_thread_netns() -> Result<NsId> {
    sys::thread_ns_id(NsKind::Net).map_err(|source| Error::Resource {
        what: "reading /proc/thread-self/ns/net",
        source,
    })
}
