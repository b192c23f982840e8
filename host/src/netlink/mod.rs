//! `NETLINK_ROUTE` sockets bound to a namespace.
//!
//! A netlink socket talks to the network namespace it was *created* in, whichever thread uses it
//! later. So a [`RouteSocket`] is created by an executor job inside the namespace (one `setns`
//! pair, once) and then used from any thread with no namespace switch at all. The executor caches
//! one per namespace identity; an entry is dropped when no [`Namespace`](crate::Namespace) handle for it is alive,
//! so a cached socket never keeps a deleted namespace around for long. Every socket has a receive
//! timeout: a silent kernel cannot hang a caller forever.

#[cfg(target_os = "linux")]
mod route;
#[cfg(target_os = "linux")]
pub use route::RouteSocket;
#[cfg(target_os = "linux")]
pub(crate) use route::{Change, Reply, SocketCache};

#[cfg(not(target_os = "linux"))]
mod unsupported;
#[cfg(not(target_os = "linux"))]
pub use unsupported::RouteSocket;
#[cfg(not(target_os = "linux"))]
pub(crate) use unsupported::{SocketCache, unsupported_ops};

/// How long a request waits for the kernel's answer.
pub const RECEIVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
