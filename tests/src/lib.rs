//! Test harness for nsplug's integration tests: real kernel, real namespaces.
//!
//! Privileged tests create their namespaces with [`TestNs::new`], which uses iproute2 (the
//! oracle, independent of the code under test), gives each a unique name and removes it in
//! `Drop`. Without root they fail loudly — they never skip.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nsplug_host::NsId;

pub mod cni;

/// The `p` quantile (0.0–1.0) of benchmark samples (nearest rank); 0 for no samples.
pub fn percentile(samples: &[u64], p: f64) -> u64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(rank).copied().unwrap_or(0)
}

/// Serialises tests that check process-wide state (every thread's namespace, the fd count):
/// another test's jobs would show up in those checks. Survives a failed test's poisoning.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Panics with instructions unless the process can manage network namespaces.
pub fn require_privileges() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "nsplug's namespace tests need root (CAP_SYS_ADMIN, CAP_NET_ADMIN); run them as root \
         (for example `sudo -E cargo test --workspace`). They never skip."
    );
}

/// Runs a command and returns its stdout; panics with its stderr if it fails.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e} (is iproute2 installed?)"));
    assert!(
        out.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A unique network namespace made by `ip netns add`, removed by `ip netns del` on drop.
#[derive(Debug)]
pub struct TestNs {
    name: String,
}

impl TestNs {
    /// Creates `nsplug-t<pid>-<n>-<tag>`.
    pub fn new(tag: &str) -> TestNs {
        require_privileges();
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "nsplug-t{}-{}-{tag}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        run("ip", &["netns", "add", &name]);
        TestNs { name }
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n NAME <args>`.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// The namespace's identity as the filesystem reports it.
    pub fn id(&self) -> NsId {
        ns_id(Path::new(&format!("/run/netns/{}", self.name)))
            .unwrap_or_else(|| panic!("/run/netns/{} vanished", self.name))
    }

    /// Deletes and re-creates the namespace under the same name (a new identity).
    pub fn recreate(&self) {
        run("ip", &["netns", "del", &self.name]);
        run("ip", &["netns", "add", &self.name]);
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// The identity of a namespace file, or `None` if it cannot be read (thread gone).
pub fn ns_id(path: &Path) -> Option<NsId> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(path).ok()?;
    Some(NsId {
        dev: md.dev(),
        ino: md.ino(),
    })
}

/// The process's own network namespace (`/proc/self/ns/net`).
pub fn host_netns() -> NsId {
    ns_id(Path::new("/proc/self/ns/net")).expect("/proc/self/ns/net is readable")
}

/// The main thread's network namespace (`/proc/self/task/<pid>/ns/net`).
pub fn main_thread_netns() -> NsId {
    ns_id(Path::new(&format!(
        "/proc/self/task/{}/ns/net",
        std::process::id()
    )))
    .expect("the main thread's namespace is readable")
}

/// Every live thread of the process with its network namespace.
pub fn thread_netns() -> BTreeMap<i32, NsId> {
    let mut map = BTreeMap::new();
    for entry in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let entry = entry.expect("task entry");
        let Ok(tid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Some(id) = ns_id(&entry.path().join("ns/net")) {
            map.insert(tid, id);
        }
    }
    map
}

/// Threads whose network namespace is not the host's.
pub fn threads_outside_host() -> BTreeMap<i32, NsId> {
    let host = host_netns();
    thread_netns()
        .into_iter()
        .filter(|(_, id)| *id != host)
        .collect()
}

/// Whether thread `tid` of this process still exists.
pub fn thread_exists(tid: i32) -> bool {
    Path::new(&format!("/proc/self/task/{tid}")).exists()
}

/// The calling thread's kernel id.
pub fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::gettid() }
}

/// Number of open file descriptors of the process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Polls `cond` every millisecond until it holds or `timeout` passes; returns whether it held.
/// For things that happen asynchronously by design (a killed thread leaving /proc).
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Drops `CAP_SYS_ADMIN` from the calling thread's effective set (capabilities are per thread),
/// so a later `setns` by this thread fails with EPERM.
pub fn drop_sys_admin() {
    caps::drop(
        None,
        caps::CapSet::Effective,
        caps::Capability::CAP_SYS_ADMIN,
    )
    .expect("dropping CAP_SYS_ADMIN from this thread");
}
