//! Addresses: `ip address`.

use std::net::IpAddr;

use crate::error::Result;
use crate::executor::Executor;
use crate::netlink::RouteSocket;
use crate::netns::Namespace;
use crate::ops::IpPrefix;
use crate::ops::link::validate_ifname;

/// An address as `ip address show` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Address {
    /// Index of the interface it is on.
    pub index: u32,
    /// The address (`IFA_LOCAL`, or `IFA_ADDRESS` when there is no local one, as `ip` shows).
    pub address: IpAddr,
    /// Prefix length.
    pub prefix_len: u8,
    /// Scope as `ip` prints it: `global`, `site`, `link`, `host`, `nowhere`.
    pub scope: String,
    /// The label (IPv4 only), if any.
    pub label: Option<String>,
}

/// Flags of a new address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AddressFlags {
    /// `nodad`: skip duplicate address detection (IPv6).
    pub nodad: bool,
    /// `noprefixroute`: add no prefix route.
    pub noprefixroute: bool,
}

impl AddressFlags {
    /// The given flags.
    pub fn new(nodad: bool, noprefixroute: bool) -> AddressFlags {
        AddressFlags {
            nodad,
            noprefixroute,
        }
    }
}

/// Every address of `ns`: `ip -n NS address show`, through the executor's cached socket.
pub fn list(executor: &Executor, ns: &Namespace) -> Result<Vec<Address>> {
    list_with(&*executor.sockets().get(executor, ns)?)
}

/// Every address of the namespace `socket` was opened in.
pub fn list_with(socket: &RouteSocket) -> Result<Vec<Address>> {
    imp::list(socket)
}

/// Adds `prefix` to `dev`: `ip -n NS address add PREFIX dev DEV [nodad] [noprefixroute]`. An
/// IPv4 address gets its prefix's broadcast address (`brd +`), as the CNI plugins set it.
pub fn add(
    executor: &Executor,
    ns: &Namespace,
    dev: &str,
    prefix: IpPrefix,
    flags: AddressFlags,
) -> Result<()> {
    validate_ifname(dev)?;
    imp::change(
        &*executor.sockets().get(executor, ns)?,
        dev,
        prefix,
        Some(flags),
    )
}

/// Removes `prefix` from `dev`: `ip -n NS address del PREFIX dev DEV`.
pub fn del(executor: &Executor, ns: &Namespace, dev: &str, prefix: IpPrefix) -> Result<()> {
    validate_ifname(dev)?;
    imp::change(&*executor.sockets().get(executor, ns)?, dev, prefix, None)
}

#[cfg(target_os = "linux")]
mod imp {
    use std::net::IpAddr;

    use netlink_packet_route::address::{
        AddressAttribute, AddressFlags as NlFlags, AddressHeaderFlags, AddressMessage, AddressScope,
    };
    use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

    use super::{Address, AddressFlags};
    use crate::error::Result;
    use crate::netlink::{Change, Reply, RouteSocket};
    use crate::ops::{IpPrefix, link};

    pub(super) fn list(socket: &RouteSocket) -> Result<Vec<Address>> {
        let answers = socket.request(
            "address show",
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            Reply::Dump,
        )?;
        Ok(answers
            .into_iter()
            .filter_map(|msg| match msg {
                RouteNetlinkMessage::NewAddress(a) => from_message(a),
                _ => None,
            })
            .collect())
    }

    /// Adds (`flags` given) or deletes (`None`) an address.
    pub(super) fn change(
        socket: &RouteSocket,
        dev: &str,
        prefix: IpPrefix,
        flags: Option<AddressFlags>,
    ) -> Result<()> {
        let mut msg = AddressMessage::default();
        msg.header.index = link::index_of(socket, dev)?;
        msg.header.prefix_len = prefix.len;
        msg.header.family = match prefix.addr {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        let attrs = &mut msg.attributes;
        attrs.push(AddressAttribute::Local(prefix.addr));
        attrs.push(AddressAttribute::Address(prefix.addr));
        let Some(flags) = flags else {
            return socket.change(
                "address del",
                RouteNetlinkMessage::DelAddress(msg),
                Change::Existing,
            );
        };
        if let Some(brd) = prefix.broadcast() {
            attrs.push(AddressAttribute::Broadcast(brd));
        }
        let mut nl = NlFlags::empty();
        if flags.nodad {
            nl |= NlFlags::Nodad;
            msg.header.flags |= AddressHeaderFlags::Nodad;
        }
        if flags.noprefixroute {
            nl |= NlFlags::Noprefixroute;
        }
        if !nl.is_empty() {
            msg.attributes.push(AddressAttribute::Flags(nl));
        }
        socket.change(
            "address add",
            RouteNetlinkMessage::NewAddress(msg),
            Change::Create,
        )
    }

    fn from_message(msg: AddressMessage) -> Option<Address> {
        let mut local = None;
        let mut address = None;
        let mut label = None;
        for attr in msg.attributes {
            match attr {
                AddressAttribute::Local(ip) => local = Some(ip),
                AddressAttribute::Address(ip) => address = Some(ip),
                AddressAttribute::Label(l) => label = Some(l),
                _ => {}
            }
        }
        Some(Address {
            index: msg.header.index,
            address: local.or(address)?,
            prefix_len: msg.header.prefix_len,
            scope: match msg.header.scope {
                AddressScope::Universe => "global".to_owned(),
                AddressScope::Site => "site".to_owned(),
                AddressScope::Link => "link".to_owned(),
                AddressScope::Host => "host".to_owned(),
                AddressScope::Nowhere => "nowhere".to_owned(),
                other => format!("{}", u8::from(other)),
            },
            label,
        })
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::{Address, AddressFlags};
    use crate::error::Result;
    use crate::ops::IpPrefix;

    crate::netlink::unsupported_ops! {
        fn list(socket) -> Result<Vec<Address>>;
        fn change(socket, dev: &str, prefix: IpPrefix, flags: Option<AddressFlags>) -> Result<()>;
    }
}
