//! Route sockets where netlink does not exist: nothing can be opened.

use std::convert::Infallible;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::netns::Namespace;

/// A `NETLINK_ROUTE` socket bound to a namespace; cannot exist on this platform.
#[derive(Debug)]
pub struct RouteSocket {
    never: Infallible,
}

impl RouteSocket {
    /// Always [`Error::NotSupported`] on this platform.
    pub fn open(_executor: &Executor, _ns: &Namespace) -> Result<RouteSocket> {
        Err(Error::NotSupported {
            what: "netlink sockets",
        })
    }

    pub(crate) fn never(&self) -> ! {
        match self.never {}
    }
}

#[derive(Debug, Default)]
pub(crate) struct SocketCache;

impl SocketCache {
    pub(crate) fn get(&self, executor: &Executor, ns: &Namespace) -> Result<Arc<RouteSocket>> {
        RouteSocket::open(executor, ns).map(Arc::new)
    }
}

/// The platform-specific half of an `ops` module where netlink does not exist: each function
/// takes the (uninhabited) socket first, so none can ever be called.
macro_rules! unsupported_ops {
    ($(fn $name:ident(socket $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;)*) => {$(
        pub(super) fn $name(socket: &$crate::netlink::RouteSocket $(, $arg: $ty)*) -> $ret {
            $(let _ = $arg;)*
            socket.never()
        }
    )*};
}
pub(crate) use unsupported_ops;
