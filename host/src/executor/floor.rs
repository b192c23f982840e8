//! Baselines the executor benchmark compares against. Not for production use.
//!
//! They live here because they call `setns`, which only `executor/` may do.

use std::path::Path;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use crate::error::{Error, Result};
use crate::netns::{Namespace, NsKind};
use crate::sys;

/// The floor: one bare dedicated thread that, per request, `setns`es into the namespace and back
/// and checks its identity, driven through a channel round trip. No queue sharing, no job boxing,
/// no panic handling: the least any correct design must pay per handed-off job.
#[derive(Debug)]
pub struct FloorThread {
    requests: Option<Sender<()>>,
    replies: Receiver<std::io::Result<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FloorThread {
    /// Starts the thread. Call it from a thread in the host namespace.
    pub fn start(ns: &Namespace) -> Result<FloorThread> {
        let (requests, rx) = crossbeam_channel::bounded::<()>(1);
        let (tx, replies) = crossbeam_channel::bounded(1);
        let ns = ns.clone();
        let thread = std::thread::Builder::new()
            .name("nsplug-floor".into())
            .spawn(move || {
                let path = sys::thread_ns_path(NsKind::Net);
                let origin = match sys::open_ns(Path::new(&path), false) {
                    Ok(fd) => fd,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let origin_id = sys::fd_identity(&origin);
                while rx.recv().is_ok() {
                    let round = (|| {
                        sys::setns(ns.fd(), NsKind::Net)?;
                        sys::setns(&origin, NsKind::Net)?;
                        let here = sys::thread_ns_ino(NsKind::Net)?;
                        if Some(here) != origin_id.as_ref().ok().map(|id| id.ino) {
                            return Err(std::io::Error::other("floor thread not restored"));
                        }
                        Ok(())
                    })();
                    let failed = round.is_err();
                    let _ = tx.send(round);
                    if failed {
                        return;
                    }
                }
            })
            .map_err(|source| Error::Resource {
                what: "spawning the floor thread",
                source,
            })?;
        Ok(FloorThread {
            requests: Some(requests),
            replies,
            thread: Some(thread),
        })
    }

    /// One round trip: enter, restore, verify on the floor thread.
    pub fn round_trip(&self) -> std::io::Result<()> {
        let sent = self.requests.as_ref().map(|r| r.send(()));
        if !matches!(sent, Some(Ok(()))) {
            return Err(std::io::Error::other("floor thread is gone"));
        }
        self.replies
            .recv()
            .unwrap_or_else(|_| Err(std::io::Error::other("floor thread is gone")))
    }
}

impl Drop for FloorThread {
    fn drop(&mut self) {
        self.requests.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Spawns a fresh thread that enters `ns`, runs `job`, restores and is joined: what a design
/// without a pool pays per job.
pub fn spawn_per_job<R: Send + 'static>(
    ns: &Namespace,
    job: impl FnOnce() -> R + Send + 'static,
) -> std::io::Result<R> {
    let ns = ns.clone();
    let thread = std::thread::spawn(move || {
        let path = sys::thread_ns_path(NsKind::Net);
        let origin = sys::open_ns(Path::new(&path), false)?;
        sys::setns(ns.fd(), NsKind::Net)?;
        let value = job();
        sys::setns(&origin, NsKind::Net)?;
        Ok(value)
    });
    thread
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("job panicked")))
}
