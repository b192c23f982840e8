//! The crate's error type.
//!
//! Every error a caller can hit says what failed, on which namespace or path, and, where there is
//! one, what to do about it. The underlying cause is the error's `source()`, not repeated in its
//! message; print the chain (`{:#}` with anyhow) to see both. [`Error::raw_os_error`] exposes the kernel's errno when one exists,
//! so later layers (the guest-visible `error-code`) convert in one place.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::netns::NsKind;

/// What went wrong with a namespace operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A namespace name failed validation; nothing was opened.
    #[error("invalid namespace name {name:?}: {reason}")]
    InvalidName {
        /// The name as given (truncated to 64 characters for display).
        name: String,
        /// Which rule it broke.
        reason: &'static str,
    },

    /// No namespace of that name exists in any of the configured directories.
    #[error(
        "network namespace {name:?} not found (looked in {searched}); create it with `ip netns add {name}`"
    )]
    NamespaceNotFound {
        /// The name looked up.
        name: String,
        /// The directories searched, comma separated.
        searched: String,
    },

    /// The path could not be opened.
    #[error("cannot open namespace file {path}")]
    Open {
        /// The namespace file.
        path: PathBuf,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },

    /// The path exists but is not a namespace of the expected kind.
    #[error("{path} is not a {expected} namespace ({found})")]
    WrongKind {
        /// The file opened.
        path: PathBuf,
        /// The kind the caller asked for.
        expected: NsKind,
        /// What it is instead.
        found: String,
    },

    /// The handle's name now refers to a different namespace (deleted and re-created) or to
    /// nothing; the handle still pins the old namespace but must not be used as "that name".
    #[error("namespace handle {what} is stale: the name now {now}; open it again")]
    Stale {
        /// The handle's description.
        what: String,
        /// What the name refers to now.
        now: &'static str,
    },

    /// The kind cannot be entered by one thread of a multithreaded process.
    #[error(
        "{kind} namespaces cannot be entered by a thread of a multithreaded process (setns(2) requires a single-threaded caller or affects only children); refusing"
    )]
    KindNotEnterable {
        /// The refused kind.
        kind: NsKind,
    },

    /// `setns` into the target failed; the thread is verified to still be in its origin.
    #[error("entering namespace {ns} failed")]
    Enter {
        /// The target namespace.
        ns: String,
        /// The kernel's answer (EPERM: the thread lacks CAP_SYS_ADMIN over the target).
        #[source]
        source: io::Error,
    },

    /// The job did not finish within its deadline. The executor has already replaced the thread
    /// that is still running it; that thread restores and exits when the job returns.
    #[error("job in namespace {ns} did not finish within {deadline:?}")]
    TimedOut {
        /// The target namespace.
        ns: String,
        /// The deadline that passed.
        deadline: Duration,
    },

    /// The job panicked. The thread restored its namespace (or was killed if it could not).
    #[error("job in namespace {ns} panicked: {message}")]
    JobPanicked {
        /// The target namespace.
        ns: String,
        /// The panic message, if it was a string.
        message: String,
    },

    /// A job running inside a namespace asked for a job in another namespace; it would have to
    /// leave its own namespace midway, so it is refused. Submit it from outside the job.
    #[error(
        "nested job refused: this thread is inside {current} and cannot enter {requested} without leaving it"
    )]
    NestedJob {
        /// The namespace the thread is in.
        current: String,
        /// The namespace asked for.
        requested: String,
    },

    /// An inline job was asked of an executor thread that already failed to restore its
    /// namespace; it runs nothing more and exits when its current job ends.
    #[error("this executor thread failed to restore its namespace and runs no further job")]
    ThreadPoisoned,

    /// The executor must be built from a thread in the process's own namespaces.
    #[error(
        "executor built from a thread whose {kind} namespace is not the process's; build it from a thread that never entered a namespace (the main thread, for example)"
    )]
    NotInBaseline {
        /// The kind that differs.
        kind: NsKind,
    },

    /// The executor is shutting down or its threads are gone.
    #[error("namespace executor is shut down")]
    ShutDown,

    /// A netlink request failed (the kernel's errno is in `source`).
    #[error("netlink {op} in namespace {ns} failed")]
    Netlink {
        /// What was asked, in `ip` terms.
        op: &'static str,
        /// The target namespace.
        ns: String,
        /// The kernel's answer, or a timeout / decoding failure.
        #[source]
        source: io::Error,
    },

    /// A malformed argument (an address, a prefix, a MAC, an interface name, …); nothing was
    /// sent to the kernel.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidArgument {
        /// What the argument is (`address`, `MAC address`, …).
        what: &'static str,
        /// The value as given (truncated to 64 characters).
        value: String,
        /// Which rule it broke.
        reason: &'static str,
    },

    /// A sysctl key failed validation.
    #[error("invalid sysctl key {key:?}: {reason}")]
    InvalidSysctlKey {
        /// The key as given.
        key: String,
        /// Which rule it broke.
        reason: &'static str,
    },

    /// Reading or writing a sysctl failed.
    #[error("sysctl {key} in namespace {ns} failed")]
    Sysctl {
        /// The key, dotted.
        key: String,
        /// The target namespace.
        ns: String,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },

    /// Creating or deleting a named namespace failed.
    #[error("cannot {op} namespace {path}")]
    Lifecycle {
        /// `create` or `delete`.
        op: &'static str,
        /// The namespace file.
        path: PathBuf,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },

    /// Namespaces do not exist on this platform.
    #[error("{what} is not supported on this platform (Linux namespaces are required)")]
    NotSupported {
        /// What was attempted.
        what: &'static str,
    },

    /// The operating system refused a resource the executor needs (threads, descriptors).
    #[error("{what} failed")]
    Resource {
        /// What was being obtained.
        what: &'static str,
        /// The operating system's answer.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// The kernel errno behind this error, when there is one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Open { source, .. }
            | Error::Enter { source, .. }
            | Error::Netlink { source, .. }
            | Error::Sysctl { source, .. }
            | Error::Lifecycle { source, .. }
            | Error::Resource { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The guest-visible error code: the WIT `error-code` enum of `nsplug:netns/types`, and the one
/// place kernel errnos and internal errors are mapped to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The policy does not allow the request; nothing was executed.
    DeniedByPolicy,
    /// EPERM, EACCES, EROFS.
    PermissionDenied,
    /// ENOENT, ENODEV, ESRCH, ENXIO, ENOTDIR, EADDRNOTAVAIL, ENETUNREACH, EHOSTUNREACH; a
    /// namespace name that does not exist.
    NotFound,
    /// EEXIST, EADDRINUSE.
    AlreadyExists,
    /// EINVAL, ERANGE, E2BIG, ENAMETOOLONG, EISDIR, EMSGSIZE; invalid names, keys and values.
    InvalidArgument,
    /// EOPNOTSUPP, ENOSYS, EAFNOSUPPORT, EPROTONOSUPPORT, ENOPKG; a link kind this kernel lacks;
    /// platforms without namespaces.
    NotSupported,
    /// ETIMEDOUT, ETIME; a netlink receive timeout; a job deadline.
    TimedOut,
    /// EBUSY, EAGAIN, ENOTEMPTY, EALREADY, EINPROGRESS.
    Busy,
    /// ENOMEM, ENOBUFS, ENOSPC, ENFILE, EMFILE, EMLINK.
    ResourceExhausted,
    /// A per-call policy limit was reached.
    LimitExceeded,
    /// Any other error (logged where it is mapped).
    Io,
}

impl ErrorCode {
    /// The code for a kernel errno. Every Linux errno has an entry in [`ErrorCode::for_errno`];
    /// a number outside that table is `Io`, logged with the number.
    pub fn from_errno(errno: i32) -> ErrorCode {
        ErrorCode::for_errno(errno).unwrap_or_else(|| {
            tracing::warn!(errno, "unknown errno mapped to error-code `io`");
            ErrorCode::Io
        })
    }

    /// The table: every Linux errno (1 to 133), each mapped deliberately; `None` for numbers
    /// that are not Linux errnos (and on other platforms).
    pub fn for_errno(errno: i32) -> Option<ErrorCode> {
        #[cfg(target_os = "linux")]
        {
            use ErrorCode::*;
            use libc::*;
            Some(match errno {
                EPERM | EACCES | EROFS | EKEYEXPIRED | EKEYREVOKED | EKEYREJECTED => {
                    PermissionDenied
                }
                ENOENT | ESRCH | ENXIO | ENODEV | ENOTDIR | ENOMSG | EIDRM | ENODATA | ENONET
                | EADDRNOTAVAIL | ENETUNREACH | EHOSTUNREACH | ESTALE | ENOMEDIUM | ENOKEY => {
                    NotFound
                }
                EEXIST | EADDRINUSE | ENOTUNIQ | EISCONN => AlreadyExists,
                E2BIG | ENOTBLK | EXDEV | EISDIR | EINVAL | EFBIG | ESPIPE | EDOM | ERANGE
                | ENAMETOOLONG | ELOOP | EBADMSG | EOVERFLOW | EILSEQ | EDESTADDRREQ | EMSGSIZE
                | EMEDIUMTYPE => InvalidArgument,
                ENOTTY | ENOSYS | ENOPKG | ELIBACC | ELIBBAD | ELIBSCN | ELIBMAX | ELIBEXEC
                | EPROTOTYPE | ENOPROTOOPT | EPROTONOSUPPORT | ESOCKTNOSUPPORT | EOPNOTSUPP
                | EPFNOSUPPORT | EAFNOSUPPORT => NotSupported,
                ETIME | ETIMEDOUT => TimedOut,
                EAGAIN | EBUSY | ETXTBSY | EDEADLK | ENOTEMPTY | EALREADY | EINPROGRESS => Busy,
                ENOMEM | ENFILE | EMFILE | ENOSPC | EMLINK | ENOLCK | ENOSR | EUSERS | ENOBUFS
                | ETOOMANYREFS | EDQUOT => ResourceExhausted,
                EINTR | EIO | ENOEXEC | EBADF | ECHILD | EFAULT | EPIPE | ECHRNG | EL2NSYNC
                | EL3HLT | EL3RST | ELNRNG | EUNATCH | ENOCSI | EL2HLT | EBADE | EBADR | EXFULL
                | ENOANO | EBADRQC | EBADSLT | EBFONT | ENOSTR | EREMOTE | ENOLINK | EADV
                | ESRMNT | ECOMM | EPROTO | EMULTIHOP | EDOTDOT | EBADFD | EREMCHG | ERESTART
                | ESTRPIPE | ENOTSOCK | ENETDOWN | ENETRESET | ECONNABORTED | ECONNRESET
                | ENOTCONN | ESHUTDOWN | ECONNREFUSED | EHOSTDOWN | EUCLEAN | ENOTNAM | ENAVAIL
                | EISNAM | EREMOTEIO | ECANCELED | EOWNERDEAD | ENOTRECOVERABLE | ERFKILL
                | EHWPOISON => Io,
                _ => return None,
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = errno;
            None
        }
    }

    /// The WIT name of the code (`denied-by-policy`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::DeniedByPolicy => "denied-by-policy",
            ErrorCode::PermissionDenied => "permission-denied",
            ErrorCode::NotFound => "not-found",
            ErrorCode::AlreadyExists => "already-exists",
            ErrorCode::InvalidArgument => "invalid-argument",
            ErrorCode::NotSupported => "not-supported",
            ErrorCode::TimedOut => "timed-out",
            ErrorCode::Busy => "busy",
            ErrorCode::ResourceExhausted => "resource-exhausted",
            ErrorCode::LimitExceeded => "limit-exceeded",
            ErrorCode::Io => "io",
        }
    }
}

impl Error {
    /// An [`Error::InvalidArgument`] for `value`, truncated for display.
    pub(crate) fn invalid(what: &'static str, value: &str, reason: &'static str) -> Error {
        Error::InvalidArgument {
            what,
            value: value.chars().take(64).collect(),
            reason,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// The guest-visible code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidName { .. }
            | Error::InvalidSysctlKey { .. }
            | Error::InvalidArgument { .. } => ErrorCode::InvalidArgument,
            Error::NamespaceNotFound { .. } | Error::Stale { .. } => ErrorCode::NotFound,
            Error::WrongKind { .. } => ErrorCode::InvalidArgument,
            Error::KindNotEnterable { .. } | Error::NotSupported { .. } => ErrorCode::NotSupported,
            Error::TimedOut { .. } => ErrorCode::TimedOut,
            Error::NestedJob { .. } => ErrorCode::Busy,
            Error::Open { source, .. }
            | Error::Enter { source, .. }
            | Error::Netlink { source, .. }
            | Error::Sysctl { source, .. }
            | Error::Lifecycle { source, .. }
            | Error::Resource { source, .. } => match source.raw_os_error() {
                Some(errno) => ErrorCode::from_errno(errno),
                None if source.kind() == io::ErrorKind::TimedOut => ErrorCode::TimedOut,
                None => ErrorCode::Io,
            },
            Error::JobPanicked { .. }
            | Error::ThreadPoisoned
            | Error::NotInBaseline { .. }
            | Error::ShutDown => ErrorCode::Io,
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::ErrorCode;

    #[test]
    fn every_linux_errno_is_mapped_deliberately() {
        // Linux errnos are 1..=133 except 41 and 58, which are unused.
        for errno in (1..=133).filter(|e| ![41, 58].contains(e)) {
            assert!(
                ErrorCode::for_errno(errno).is_some(),
                "errno {errno} ({}) has no entry",
                std::io::Error::from_raw_os_error(errno)
            );
        }
        assert_eq!(ErrorCode::for_errno(41), None);
        assert_eq!(ErrorCode::for_errno(4000), None);
        assert_eq!(ErrorCode::from_errno(4000), ErrorCode::Io);
    }

    #[test]
    fn the_codes_plugins_rely_on() {
        use libc::*;
        let cases = [
            (EPERM, ErrorCode::PermissionDenied),
            (EEXIST, ErrorCode::AlreadyExists),
            (ENODEV, ErrorCode::NotFound),
            (EOPNOTSUPP, ErrorCode::NotSupported),
            (EINVAL, ErrorCode::InvalidArgument),
            (EBUSY, ErrorCode::Busy),
            (ENOBUFS, ErrorCode::ResourceExhausted),
            (ETIMEDOUT, ErrorCode::TimedOut),
            (ENETDOWN, ErrorCode::Io),
        ];
        for (errno, code) in cases {
            assert_eq!(ErrorCode::from_errno(errno), code, "errno {errno}");
        }
    }
}
