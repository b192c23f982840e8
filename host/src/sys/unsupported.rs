//! The platform layer where Linux namespaces do not exist: every call is `Unsupported`.

use std::io;
use std::path::Path;

use crate::netns::{NsId, NsKind};

/// A pinned namespace (see the Linux build). Uninhabited: no namespace can be opened on this platform.
#[derive(Debug)]
pub enum NsFd {}

fn unsupported<T>() -> io::Result<T> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "Linux namespaces are not available on this platform",
    ))
}

pub(crate) fn open_ns(_path: &Path, _no_follow: bool) -> io::Result<NsFd> {
    unsupported()
}

pub(crate) fn fd_identity(fd: &NsFd) -> io::Result<NsId> {
    match *fd {}
}

pub(crate) fn path_identity(_path: &Path) -> io::Result<NsId> {
    unsupported()
}

pub(crate) fn ns_kind(fd: &NsFd) -> io::Result<Option<NsKind>> {
    match *fd {}
}

pub(crate) fn setns(fd: &NsFd, _kind: NsKind) -> io::Result<()> {
    match *fd {}
}

pub(crate) fn unshare(_kind: NsKind) -> io::Result<()> {
    unsupported()
}

pub(crate) fn gettid() -> i32 {
    0
}

pub(crate) fn effective_caps() -> io::Result<u64> {
    unsupported()
}

pub(crate) fn ensure_shared_mount_dir(_dir: &Path) -> io::Result<()> {
    unsupported()
}

pub(crate) fn create_mount_target(_path: &Path) -> io::Result<()> {
    unsupported()
}

pub(crate) fn bind_thread_ns(_kind: NsKind, _target: &Path) -> io::Result<()> {
    unsupported()
}

pub(crate) fn unmount_and_remove(_path: &Path) -> io::Result<()> {
    unsupported()
}
