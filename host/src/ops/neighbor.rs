//! Neighbours (ARP and NDP entries): `ip neighbour`.

use std::net::IpAddr;

use crate::error::Result;
use crate::executor::Executor;
use crate::netns::Namespace;
use crate::ops::MacAddr;
use crate::ops::link::validate_ifname;

/// A neighbour entry, as `ip neighbour show` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Neighbor {
    /// The device, by name.
    pub dev: String,
    /// The neighbour's IP address.
    pub address: IpAddr,
    /// Its hardware address, if known.
    pub lladdr: Option<String>,
    /// The state as `ip` prints it: `PERMANENT`, `REACHABLE`, `STALE`, …
    pub state: String,
}

/// Every entry, IPv4 and IPv6, except `NOARP` ones (as `ip neighbour show` hides them):
/// `ip -n NS neighbour show`.
pub fn list(executor: &Executor, ns: &Namespace) -> Result<Vec<Neighbor>> {
    imp::list(&*executor.sockets().get(executor, ns)?)
}

/// Adds or replaces a permanent entry:
/// `ip -n NS neighbour replace ADDRESS lladdr LLADDR dev DEV nud permanent`.
pub fn set(
    executor: &Executor,
    ns: &Namespace,
    dev: &str,
    address: IpAddr,
    lladdr: MacAddr,
) -> Result<()> {
    validate_ifname(dev)?;
    imp::change(
        &*executor.sockets().get(executor, ns)?,
        dev,
        address,
        Some(lladdr),
    )
}

/// Deletes an entry: `ip -n NS neighbour del ADDRESS dev DEV`.
pub fn del(executor: &Executor, ns: &Namespace, dev: &str, address: IpAddr) -> Result<()> {
    validate_ifname(dev)?;
    imp::change(&*executor.sockets().get(executor, ns)?, dev, address, None)
}

#[cfg(target_os = "linux")]
mod imp {
    use std::collections::HashMap;
    use std::net::IpAddr;

    use netlink_packet_route::neighbour::{
        NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
    };
    use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

    use super::Neighbor;
    use crate::error::Result;
    use crate::netlink::{Change, Reply, RouteSocket};
    use crate::ops::{MacAddr, format_mac, link};

    pub(super) fn list(socket: &RouteSocket) -> Result<Vec<Neighbor>> {
        let answers = socket.request(
            "neighbour show",
            RouteNetlinkMessage::GetNeighbour(NeighbourMessage::default()),
            Reply::Dump,
        )?;
        let names = link::names_by_index(socket)?;
        Ok(answers
            .into_iter()
            .filter_map(|msg| match msg {
                RouteNetlinkMessage::NewNeighbour(n) => from_message(n, &names),
                _ => None,
            })
            .collect())
    }

    /// Sets a permanent entry (`lladdr` given) or deletes one.
    pub(super) fn change(
        socket: &RouteSocket,
        dev: &str,
        address: IpAddr,
        lladdr: Option<MacAddr>,
    ) -> Result<()> {
        let mut msg = NeighbourMessage::default();
        msg.header.ifindex = link::index_of(socket, dev)?;
        let destination = match address {
            IpAddr::V4(v4) => {
                msg.header.family = AddressFamily::Inet;
                NeighbourAddress::Inet(v4)
            }
            IpAddr::V6(v6) => {
                msg.header.family = AddressFamily::Inet6;
                NeighbourAddress::Inet6(v6)
            }
        };
        msg.attributes
            .push(NeighbourAttribute::Destination(destination));
        let Some(lladdr) = lladdr else {
            return socket.change(
                "neighbour del",
                RouteNetlinkMessage::DelNeighbour(msg),
                Change::Existing,
            );
        };
        msg.header.state = NeighbourState::Permanent;
        msg.attributes
            .push(NeighbourAttribute::LinkLayerAddress(lladdr.0.to_vec()));
        socket.change(
            "neighbour replace",
            RouteNetlinkMessage::NewNeighbour(msg),
            Change::Replace,
        )
    }

    fn from_message(msg: NeighbourMessage, names: &HashMap<u32, String>) -> Option<Neighbor> {
        let state = match msg.header.state {
            NeighbourState::Noarp => return None,
            NeighbourState::Incomplete => "INCOMPLETE".to_owned(),
            NeighbourState::Reachable => "REACHABLE".to_owned(),
            NeighbourState::Stale => "STALE".to_owned(),
            NeighbourState::Delay => "DELAY".to_owned(),
            NeighbourState::Probe => "PROBE".to_owned(),
            NeighbourState::Failed => "FAILED".to_owned(),
            NeighbourState::Permanent => "PERMANENT".to_owned(),
            NeighbourState::None => "NONE".to_owned(),
            other => format!("{:#x}", u16::from(other)),
        };
        let mut address = None;
        let mut lladdr = None;
        for attr in msg.attributes {
            match attr {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => {
                    address = Some(v4.into());
                }
                NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => {
                    address = Some(v6.into());
                }
                NeighbourAttribute::LinkLayerAddress(bytes) if !bytes.is_empty() => {
                    lladdr = Some(format_mac(&bytes));
                }
                _ => {}
            }
        }
        Some(Neighbor {
            dev: names.get(&msg.header.ifindex)?.clone(),
            address: address?,
            lladdr,
            state,
        })
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::net::IpAddr;

    use super::Neighbor;
    use crate::error::Result;
    use crate::ops::MacAddr;

    crate::netlink::unsupported_ops! {
        fn list(socket) -> Result<Vec<Neighbor>>;
        fn change(socket, dev: &str, address: IpAddr, lladdr: Option<MacAddr>) -> Result<()>;
    }
}
