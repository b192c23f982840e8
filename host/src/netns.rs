//! Namespace handles: name validation, resolution, pinning by descriptor, identity.
//!
//! A [`Namespace`] pins its namespace with an `O_RDONLY | O_CLOEXEC` descriptor, checked with
//! `NS_GET_NSTYPE` to be the kind asked for, and remembers its identity `(st_dev, st_ino)`. The
//! descriptor keeps the namespace alive even if its name is deleted; [`Namespace::check_current`]
//! tells whether the name still refers to the same namespace (a name deleted and re-created has a
//! new identity, so a stale handle is detected rather than silently used as "that name").

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::sys;

/// The longest accepted namespace name, in bytes (`NAME_MAX`, the longest file name).
pub const MAX_NAME_LEN: usize = 255;

/// A kind of Linux namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NsKind {
    /// Network: links, addresses, routes, `/proc/sys/net`.
    Net,
    /// UTS: host and domain name.
    Uts,
    /// System V IPC and POSIX message queues.
    Ipc,
    /// Cgroup root view.
    Cgroup,
    /// Mount. Refused: `setns` needs a thread that shares no filesystem info with others.
    Mnt,
    /// User. Refused: `setns` needs a single-threaded process.
    User,
    /// Time. Refused: `setns` needs a single-threaded process.
    Time,
    /// PID. Refused: entering affects only children, and executor threads never create any.
    Pid,
}

impl NsKind {
    /// Every kind.
    pub const ALL: [NsKind; 8] = [
        NsKind::Net,
        NsKind::Uts,
        NsKind::Ipc,
        NsKind::Cgroup,
        NsKind::Mnt,
        NsKind::User,
        NsKind::Time,
        NsKind::Pid,
    ];

    /// The kinds one thread of a multithreaded process can enter and leave safely.
    pub const ENTERABLE: [NsKind; 4] = [NsKind::Net, NsKind::Uts, NsKind::Ipc, NsKind::Cgroup];

    /// The file name under `/proc/*/ns/`.
    pub fn proc_name(self) -> &'static str {
        match self {
            NsKind::Net => "net",
            NsKind::Uts => "uts",
            NsKind::Ipc => "ipc",
            NsKind::Cgroup => "cgroup",
            NsKind::Mnt => "mnt",
            NsKind::User => "user",
            NsKind::Time => "time",
            NsKind::Pid => "pid",
        }
    }

    /// Whether the executor can enter this kind on one of its threads.
    pub fn is_enterable(self) -> bool {
        Self::ENTERABLE.contains(&self)
    }

    pub(crate) fn enterable_index(self) -> Option<usize> {
        Self::ENTERABLE.iter().position(|k| *k == self)
    }
}

impl fmt::Display for NsKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.proc_name())
    }
}

/// The identity of a namespace: device and inode of its nsfs file, as `stat` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NsId {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

impl fmt::Display for NsId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.dev, self.ino)
    }
}

/// Where a handle came from; decides how staleness is checked and how it is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NsSource {
    /// A validated name resolved in a namespace directory.
    Named {
        /// The name.
        name: String,
        /// The file it resolved to.
        path: PathBuf,
    },
    /// An explicit path (`/run/netns/x`, `/proc/PID/ns/net`).
    Path(PathBuf),
    /// The host baseline: the process's own namespace when the executor was built.
    Host,
}

#[derive(Debug)]
struct Inner {
    fd: sys::NsFd,
    kind: NsKind,
    id: NsId,
    source: NsSource,
}

/// A pinned namespace. Cheap to clone; the descriptor closes when the last clone drops.
#[derive(Debug, Clone)]
pub struct Namespace {
    inner: Arc<Inner>,
}

impl Namespace {
    /// Opens the namespace file at `path` (for CNI: `/run/netns/x`, `/proc/PID/ns/net`) and
    /// checks that it is a namespace of `kind`.
    pub fn open_path(path: impl AsRef<Path>, kind: NsKind) -> Result<Namespace> {
        let path = path.as_ref();
        Self::open(path, kind, false, NsSource::Path(path.to_path_buf()))
    }

    pub(crate) fn open_host(kind: NsKind) -> Result<Namespace> {
        let path = sys::process_ns_path(kind);
        Self::open(Path::new(&path), kind, false, NsSource::Host)
    }

    pub(crate) fn open(
        path: &Path,
        kind: NsKind,
        no_follow: bool,
        source: NsSource,
    ) -> Result<Namespace> {
        let open_err = |source| Error::Open {
            path: path.to_path_buf(),
            source,
        };
        let fd = sys::open_ns(path, no_follow).map_err(|e| match e.kind() {
            std::io::ErrorKind::Unsupported => Error::NotSupported {
                what: "opening a namespace",
            },
            _ => open_err(e),
        })?;
        match sys::ns_kind(&fd).map_err(open_err)? {
            Some(found) if found == kind => {}
            Some(found) => {
                return Err(Error::WrongKind {
                    path: path.to_path_buf(),
                    expected: kind,
                    found: format!("it is a {found} namespace"),
                });
            }
            None => {
                return Err(Error::WrongKind {
                    path: path.to_path_buf(),
                    expected: kind,
                    found: "not a namespace file at all".to_owned(),
                });
            }
        }
        let id = sys::fd_identity(&fd).map_err(open_err)?;
        Ok(Namespace {
            inner: Arc::new(Inner {
                fd,
                kind,
                id,
                source,
            }),
        })
    }

    /// The namespace's kind.
    pub fn kind(&self) -> NsKind {
        self.inner.kind
    }

    /// The namespace's identity, fixed when the handle was opened.
    pub fn id(&self) -> NsId {
        self.inner.id
    }

    /// Where the handle came from.
    pub fn source(&self) -> &NsSource {
        &self.inner.source
    }

    /// The name, for handles opened by name.
    pub fn name(&self) -> Option<&str> {
        match &self.inner.source {
            NsSource::Named { name, .. } => Some(name),
            _ => None,
        }
    }

    pub(crate) fn fd(&self) -> &sys::NsFd {
        &self.inner.fd
    }

    /// A weak reference that tells whether any handle to this namespace is still alive.
    #[cfg(target_os = "linux")]
    pub(crate) fn pin(&self) -> NsPin {
        NsPin(Arc::downgrade(&self.inner))
    }

    /// Checks that the handle's name or path still refers to the namespace it pins.
    ///
    /// Returns [`Error::Stale`] when the name was deleted, or deleted and re-created (a new
    /// namespace has a new identity). The host handle is always current.
    pub fn check_current(&self) -> Result<()> {
        let path = match &self.inner.source {
            NsSource::Named { path, .. } => path,
            NsSource::Path(path) => path,
            NsSource::Host => return Ok(()),
        };
        let stale = |now| Error::Stale {
            what: self.to_string(),
            now,
        };
        match sys::path_identity(path) {
            Ok(id) if id == self.inner.id => Ok(()),
            Ok(_) => Err(stale("refers to a different namespace")),
            Err(_) => Err(stale("refers to nothing")),
        }
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.source {
            NsSource::Named { name, .. } => write!(f, "{name:?}"),
            NsSource::Path(path) => write!(f, "{}", path.display()),
            NsSource::Host => write!(f, "host {}", self.inner.kind),
        }
    }
}

/// A weak reference to a handle; see [`Namespace::pin`].
#[derive(Debug, Clone)]
#[cfg(target_os = "linux")]
pub(crate) struct NsPin(std::sync::Weak<Inner>);

#[cfg(target_os = "linux")]
impl NsPin {
    /// Whether some [`Namespace`] for it is still alive.
    pub(crate) fn is_alive(&self) -> bool {
        self.0.strong_count() > 0
    }
}

/// Where named network namespaces live: tried in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceDirs {
    dirs: Vec<PathBuf>,
}

impl Default for NamespaceDirs {
    /// `/run/netns`, then `/var/run/netns` (iproute2's locations).
    fn default() -> Self {
        NamespaceDirs {
            dirs: vec![PathBuf::from("/run/netns"), PathBuf::from("/var/run/netns")],
        }
    }
}

impl NamespaceDirs {
    /// Directories tried in order; the first is where new namespaces are created.
    pub fn new(dirs: impl IntoIterator<Item = impl Into<PathBuf>>) -> NamespaceDirs {
        NamespaceDirs {
            dirs: dirs.into_iter().map(Into::into).collect(),
        }
    }

    /// The directories, in lookup order.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The path a (validated) name resolves to: the first directory holding it.
    pub fn resolve(&self, name: &str) -> Result<PathBuf> {
        validate_name(name)?;
        for dir in &self.dirs {
            let candidate = dir.join(name);
            if std::fs::symlink_metadata(&candidate).is_ok() {
                return Ok(candidate);
            }
        }
        Err(Error::NamespaceNotFound {
            name: name.to_owned(),
            searched: self
                .dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// The path a new namespace of this name gets: in the first directory.
    pub(crate) fn create_path(&self, name: &str) -> Result<PathBuf> {
        validate_name(name)?;
        let dir = self.dirs.first().ok_or(Error::InvalidName {
            name: name.to_owned(),
            reason: "no namespace directory is configured",
        })?;
        Ok(dir.join(name))
    }

    /// Opens the network namespace called `name`.
    pub fn open(&self, name: &str) -> Result<Namespace> {
        let path = self.resolve(name)?;
        Namespace::open(
            &path,
            NsKind::Net,
            true,
            NsSource::Named {
                name: name.to_owned(),
                path: path.clone(),
            },
        )
    }
}

/// Checks a namespace name: 1 to [`MAX_NAME_LEN`] bytes of `[A-Za-z0-9_.-]`, not `.` or `..`.
///
/// This excludes `/`, NUL and every other byte that could leave the namespace directory.
pub fn validate_name(name: &str) -> Result<()> {
    let invalid = |reason| {
        Err(Error::InvalidName {
            name: name.chars().take(64).collect(),
            reason,
        })
    };
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return invalid("it is longer than 255 bytes");
    }
    if name == "." || name == ".." {
        return invalid("`.` and `..` are not names");
    }
    if let Some(bad) = name
        .bytes()
        .find(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')))
    {
        return invalid(match bad {
            b'/' => "it contains `/`",
            0 => "it contains a NUL byte",
            _ => "only ASCII letters, digits, `_`, `.` and `-` are allowed",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in [
            "blue",
            "cni-1234abcd-56ef",
            "a.b_c-d",
            "x",
            &"n".repeat(255),
        ] {
            assert!(validate_name(name).is_ok(), "{name} should be valid");
        }
    }

    #[test]
    fn refuses_each_rule() {
        let cases: [(&str, &str); 7] = [
            ("", "empty"),
            (".", "`.`"),
            ("..", "`.`"),
            ("a/b", "`/`"),
            ("a\0b", "NUL"),
            ("../../proc/1/ns/net", "`/`"),
            ("tab\there", "ASCII"),
        ];
        for (name, why) in cases {
            let err = validate_name(name).unwrap_err().to_string();
            assert!(err.contains(why), "{name:?}: {err}");
        }
        let long = "n".repeat(256);
        assert!(
            validate_name(&long)
                .unwrap_err()
                .to_string()
                .contains("255")
        );
    }
}
