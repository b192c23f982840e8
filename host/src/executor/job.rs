//! Jobs: what a worker runs, what it reports, and how a result reaches a caller who may have
//! stopped waiting.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use crossbeam_channel::{Receiver, Sender};

use crate::error::{Error, Result};
use crate::netns::{Namespace, NsId, NsKind};

/// A job's value, delivered even when its thread could not restore its namespace afterwards.
#[derive(Debug)]
#[must_use]
pub struct Completed<R> {
    /// What the job returned.
    pub value: R,
    /// `Some` when the thread that ran the job failed to restore its namespace and was killed.
    /// The job itself completed; the embedder may want to know.
    pub thread_killed: Option<RestoreFailure>,
}

impl<R> Completed<R> {
    /// The job's value, whatever happened to its thread afterwards (that is counted and logged).
    pub fn into_value(self) -> R {
        self.value
    }
}

/// Why a thread could not return to its origin namespace (and was killed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreFailure {
    /// `setns` back to the origin failed.
    #[error("setns back to the origin {kind} namespace failed")]
    Setns {
        /// The kind being restored.
        kind: NsKind,
        /// The kernel's answer (EPERM: the job dropped `CAP_SYS_ADMIN`).
        #[source]
        source: io::Error,
    },
    /// The thread's namespace is not its origin after the job.
    #[error("thread is in {kind} namespace {found:?} instead of its origin {expected}")]
    WrongNamespace {
        /// The kind checked.
        kind: NsKind,
        /// The origin.
        expected: NsId,
        /// Where it is (`None`: could not be read).
        found: Option<NsId>,
    },
    /// The job changed the thread's capabilities (they are per thread).
    #[error("thread capabilities changed during the job (effective {before:#x} -> {after:#x})")]
    CapabilitiesChanged {
        /// Effective set when the thread started.
        before: u64,
        /// Effective set now (0 if unreadable).
        after: u64,
    },
}

/// What a job runs in.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// An existing namespace (the host's own means: no switch).
    Enter(Namespace),
    /// A new namespace of this kind, made by `unshare` on the worker.
    Fresh(NsKind),
}

impl Target {
    pub(crate) fn kind(&self) -> NsKind {
        match self {
            Target::Enter(ns) => ns.kind(),
            Target::Fresh(kind) => *kind,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Enter(ns) => ns.fmt(f),
            Target::Fresh(kind) => write!(f, "new {kind} namespace"),
        }
    }
}

/// How a run went, from the thread's point of view.
#[derive(Debug)]
pub(crate) struct JobReport {
    /// `Err` if the job never ran (entering failed, nested, poisoned thread).
    pub(crate) entered: Result<()>,
    /// The panic message, if the job panicked.
    pub(crate) panic: Option<String>,
    /// `Some` if the thread could not be brought back (it is now poisoned).
    pub(crate) restore_failure: Option<RestoreFailure>,
}

impl JobReport {
    /// The caller's view: the value, or why there is none.
    pub(crate) fn into_result<R>(self, value: Option<R>, target: &Target) -> Result<Completed<R>> {
        self.entered?;
        if let Some(message) = self.panic {
            return Err(Error::JobPanicked {
                ns: target.to_string(),
                message,
            });
        }
        match value {
            Some(value) => Ok(Completed {
                value,
                thread_killed: self.restore_failure,
            }),
            // A job that neither panicked nor produced a value cannot exist; be safe anyway.
            None => Err(Error::ShutDown),
        }
    }
}

/// A job in the queue.
pub(crate) struct Task {
    pub(crate) target: Target,
    pub(crate) job: Box<dyn ErasedJob>,
}

/// A type-erased job: run it, then deliver its result.
pub(crate) trait ErasedJob: Send {
    /// Claims the job for running; false if its caller already gave up (then it is dropped).
    fn start(&self) -> bool;
    /// Runs the closure, keeping its value.
    fn run(&mut self);
    /// Delivers the result; false if the caller gave up while it ran (the thread was replaced).
    fn finish(self: Box<Self>, report: JobReport, target: &Target) -> bool;
}

/// Where a handed-off job is, as both sides see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum JobState {
    Queued = 0,
    Running = 1,
    Done = 2,
    AbandonedQueued = 3,
    AbandonedRunning = 4,
}

#[derive(Debug, Default)]
pub(crate) struct SharedState(AtomicU8);

impl SharedState {
    fn transition(&self, from: JobState, to: JobState) -> bool {
        self.0
            .compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The caller gives up. Returns the state it found: `Queued` (never runs), `Running` (its
    /// thread is stuck and must be replaced) or `Done` (the result is there after all).
    pub(crate) fn abandon(&self) -> JobState {
        if self.transition(JobState::Queued, JobState::AbandonedQueued) {
            JobState::Queued
        } else if self.transition(JobState::Running, JobState::AbandonedRunning) {
            JobState::Running
        } else {
            JobState::Done
        }
    }
}

/// A job handed from a caller's thread to a worker.
pub(crate) struct Handoff<F, R> {
    f: Option<F>,
    value: Option<R>,
    state: Arc<SharedState>,
    reply: Sender<Result<Completed<R>>>,
}

impl<F, R> Handoff<F, R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    pub(crate) fn new(f: F) -> (Self, Receiver<Result<Completed<R>>>, Arc<SharedState>) {
        let (reply, rx) = crossbeam_channel::bounded(1);
        let state = Arc::new(SharedState::default());
        let job = Handoff {
            f: Some(f),
            value: None,
            state: Arc::clone(&state),
            reply,
        };
        (job, rx, state)
    }
}

impl<F, R> ErasedJob for Handoff<F, R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    fn start(&self) -> bool {
        self.state.transition(JobState::Queued, JobState::Running)
    }

    fn run(&mut self) {
        if let Some(f) = self.f.take() {
            self.value = Some(f());
        }
    }

    fn finish(self: Box<Self>, report: JobReport, target: &Target) -> bool {
        let this = *self;
        if !this.state.transition(JobState::Running, JobState::Done) {
            return false;
        }
        // The caller may drop its receiver only after seeing `Done`, so this send is received.
        let _ = this.reply.send(report.into_result(this.value, target));
        true
    }
}
