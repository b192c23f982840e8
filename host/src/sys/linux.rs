//! Linux implementation of the platform layer.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use crate::netns::{NsId, NsKind};

/// A pinned namespace: an `O_RDONLY | O_CLOEXEC` descriptor of a namespace file.
///
/// Handed to [`Syscalls`](crate::executor::Syscalls) implementations; it cannot be made from
/// outside the crate.
#[derive(Debug)]
pub struct NsFd(OwnedFd);

impl AsFd for NsFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// `NS_GET_NSTYPE` from `<linux/nsfs.h>`: `_IO(0xb7, 0x3)`.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
/// `NSFS_MAGIC` from `<linux/magic.h>`.
const NSFS_MAGIC: i64 = 0x6e73_6673;

pub(crate) fn clone_flag(kind: NsKind) -> CloneFlags {
    match kind {
        NsKind::Net => CloneFlags::CLONE_NEWNET,
        NsKind::Uts => CloneFlags::CLONE_NEWUTS,
        NsKind::Ipc => CloneFlags::CLONE_NEWIPC,
        NsKind::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        NsKind::Mnt => CloneFlags::CLONE_NEWNS,
        NsKind::User => CloneFlags::CLONE_NEWUSER,
        NsKind::Pid => CloneFlags::CLONE_NEWPID,
        // CLONE_NEWTIME is not in nix's CloneFlags on every version; the raw value is stable.
        NsKind::Time => CloneFlags::from_bits_retain(0x80),
    }
}

fn kind_from_clone_flag(flag: libc::c_int) -> Option<NsKind> {
    NsKind::ALL
        .into_iter()
        .find(|k| clone_flag(*k).bits() == flag)
}

/// Opens a namespace file. `no_follow` refuses a symbolic link as the last component (names
/// resolved in a namespace directory); `/proc/PID/ns/net` is a magic link and needs following.
pub(crate) fn open_ns(path: &Path, no_follow: bool) -> io::Result<NsFd> {
    let mut flags = libc::O_CLOEXEC;
    if no_follow {
        flags |= libc::O_NOFOLLOW;
    }
    let file = File::options().read(true).custom_flags(flags).open(path)?;
    Ok(NsFd(OwnedFd::from(file)))
}

/// The `(st_dev, st_ino)` identity of an open namespace.
pub(crate) fn fd_identity(fd: &NsFd) -> io::Result<NsId> {
    let st = nix::sys::stat::fstat(fd.as_fd()).map_err(io::Error::from)?;
    Ok(NsId {
        dev: st.st_dev,
        ino: st.st_ino,
    })
}

/// The `(st_dev, st_ino)` identity of a namespace file, following links.
pub(crate) fn path_identity(path: &Path) -> io::Result<NsId> {
    let md = std::fs::metadata(path)?;
    Ok(NsId {
        dev: md.dev(),
        ino: md.ino(),
    })
}

/// Which kind of namespace `fd` refers to, or `None` if it is not a namespace at all.
pub(crate) fn ns_kind(fd: &NsFd) -> io::Result<Option<NsKind>> {
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the descriptor, which is open for
    // the duration of the call because `fd` borrows it.
    let ret = unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), NS_GET_NSTYPE) };
    if ret >= 0 {
        return Ok(kind_from_clone_flag(ret));
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::ENOTTY) && err.raw_os_error() != Some(libc::EINVAL) {
        return Err(err);
    }
    // Not an nsfs file (ENOTTY), or a kernel before 4.11: fall back to the filesystem magic,
    // which says "a namespace" but not which kind.
    let fs = nix::sys::statfs::fstatfs(fd.as_fd()).map_err(io::Error::from)?;
    if fs.filesystem_type().0 as i64 == NSFS_MAGIC {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "kernel cannot report the namespace type (NS_GET_NSTYPE needs Linux 4.11)",
        ))
    } else {
        Ok(None)
    }
}

/// `setns(2)` for the calling thread. Only the executor calls this.
pub(crate) fn setns(fd: &NsFd, kind: NsKind) -> io::Result<()> {
    nix::sched::setns(fd.as_fd(), clone_flag(kind)).map_err(io::Error::from)
}

/// `unshare(2)` of one namespace kind for the calling thread. Only the executor calls this.
pub(crate) fn unshare(kind: NsKind) -> io::Result<()> {
    nix::sched::unshare(clone_flag(kind)).map_err(io::Error::from)
}

/// The calling thread's kernel thread id.
pub(crate) fn gettid() -> i32 {
    nix::unistd::gettid().as_raw()
}

/// The calling thread's effective capability set as a bit mask (capabilities are per thread).
pub(crate) fn effective_caps() -> io::Result<u64> {
    let set = caps::read(None, caps::CapSet::Effective).map_err(io::Error::other)?;
    Ok(set.iter().fold(0, |mask, cap| mask | cap.bitmask()))
}

/// Makes `dir` a shared mount point, as iproute2's `ip netns add` does, so that namespace bind
/// mounts below it propagate to every mount namespace that `ip netns` users see.
pub(crate) fn ensure_shared_mount_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)?;
    let mut made_mount = false;
    loop {
        match nix::mount::mount(
            Some(""),
            dir,
            Some("none"),
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        ) {
            Ok(()) => return Ok(()),
            Err(nix::errno::Errno::EINVAL) if !made_mount => {
                // Not a mount point yet: bind it onto itself, then retry.
                nix::mount::mount(
                    Some(dir),
                    dir,
                    Some("none"),
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )
                .map_err(io::Error::from)?;
                made_mount = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Creates the empty mount target for a named namespace; fails if it exists.
pub(crate) fn create_mount_target(path: &Path) -> io::Result<()> {
    File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o000)
        .open(path)
        .map(drop)
}

/// Bind-mounts the calling thread's namespace of `kind` onto `target`.
pub(crate) fn bind_thread_ns(kind: NsKind, target: &Path) -> io::Result<()> {
    let source = format!("/proc/self/task/{}/ns/{}", gettid(), kind.proc_name());
    nix::mount::mount(
        Some(source.as_str()),
        target,
        Some("none"),
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(io::Error::from)
}

/// Detaches the bind mount at `path` (if any) and removes the file, as `ip netns del` does.
pub(crate) fn unmount_and_remove(path: &Path) -> io::Result<()> {
    match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) => {}
        Err(e) => return Err(e.into()),
    }
    std::fs::remove_file(path)
}
