//! Addresses: `ip address`.

use std::net::IpAddr;

use crate::error::Result;
use crate::executor::Executor;
use crate::netlink::RouteSocket;
use crate::netns::Namespace;

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

/// Every address of `ns`: `ip -n NS address show`, through the executor's cached socket.
pub fn list(executor: &Executor, ns: &Namespace) -> Result<Vec<Address>> {
    list_with(&*executor.sockets().get(executor, ns)?)
}

/// Every address of the namespace `socket` was opened in.
pub fn list_with(socket: &RouteSocket) -> Result<Vec<Address>> {
    imp::list(socket)
}

#[cfg(target_os = "linux")]
mod imp {
    use netlink_packet_route::RouteNetlinkMessage;
    use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};

    use super::Address;
    use crate::error::Result;
    use crate::netlink::{Reply, RouteSocket};

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
    use super::Address;
    use crate::error::Result;
    use crate::netlink::RouteSocket;

    pub(super) fn list(socket: &RouteSocket) -> Result<Vec<Address>> {
        socket.never()
    }
}
