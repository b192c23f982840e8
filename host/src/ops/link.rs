//! Links (network interfaces): `ip link`.

use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::netlink::RouteSocket;
use crate::netns::Namespace;

/// A link as `ip -d link show` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Link {
    /// Interface index (`ifindex`).
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Driver kind (`veth`, `bridge`, …); `None` for devices without one (loopback).
    pub kind: Option<String>,
    /// MTU.
    pub mtu: Option<u32>,
    /// Hardware address, `aa:bb:cc:dd:ee:ff`.
    pub address: Option<String>,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Operational state as `ip` prints it (`UP`, `DOWN`, `UNKNOWN`, …).
    pub oper_state: String,
    /// Index of the master device (bridge), if enslaved.
    pub master: Option<u32>,
    /// Index of the peer or lower device (`IFLA_LINK`: a veth's peer, a macvlan's parent).
    pub link: Option<u32>,
}

/// Every link of `ns`: `ip -n NS link show`. Uses the executor's socket cached for `ns`, so
/// after the first call no thread switches namespace.
pub fn list(executor: &Executor, ns: &Namespace) -> Result<Vec<Link>> {
    list_with(&*executor.sockets().get(executor, ns)?)
}

/// Every link of the namespace `socket` was opened in: `ip -n NS link show`.
pub fn list_with(socket: &RouteSocket) -> Result<Vec<Link>> {
    imp::list(socket)
}

/// The link called `name` in `ns`: `ip -n NS link show dev NAME`.
pub fn get(executor: &Executor, ns: &Namespace, name: &str) -> Result<Link> {
    validate_ifname(name)?;
    imp::get(&*executor.sockets().get(executor, ns)?, ns, name)
}

/// Longest interface name the kernel accepts (`IFNAMSIZ - 1`).
pub const MAX_IFNAME_LEN: usize = 15;

/// Checks an interface name before the kernel sees it: 1 to 15 bytes, no `/`, whitespace, `:`
/// or NUL, not `.` or `..` (the kernel's `dev_valid_name`).
pub fn validate_ifname(name: &str) -> Result<()> {
    let bad = if name.is_empty() || name.len() > MAX_IFNAME_LEN {
        Some("an interface name has 1 to 15 bytes")
    } else if name == "." || name == ".." {
        Some("`.` and `..` are not interface names")
    } else if name
        .bytes()
        .any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace())
    {
        Some("an interface name cannot contain `/`, `:`, whitespace or NUL")
    } else {
        None
    };
    match bad {
        Some(reason) => Err(Error::InvalidName {
            name: name.chars().take(64).collect(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use netlink_packet_route::RouteNetlinkMessage;
    use netlink_packet_route::link::{
        InfoKind, LinkAttribute, LinkExtentMask, LinkFlags, LinkInfo, LinkMessage, State,
    };

    use super::Link;
    use crate::error::{Error, Result};
    use crate::netlink::{Reply, RouteSocket};
    use crate::netns::Namespace;

    /// Every link of the namespace `socket` was opened in: `ip -n NS link show`.
    pub(super) fn list(socket: &RouteSocket) -> Result<Vec<Link>> {
        // `Link` carries no counters: ask the kernel not to fill and send them.
        let mut msg = LinkMessage::default();
        msg.attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        let answers =
            socket.request("link show", RouteNetlinkMessage::GetLink(msg), Reply::Dump)?;
        Ok(answers
            .into_iter()
            .filter_map(|msg| match msg {
                RouteNetlinkMessage::NewLink(link) => Some(from_message(link)),
                _ => None,
            })
            .collect())
    }

    /// The link called `name` in `ns`: `ip -n NS link show dev NAME`.
    pub(super) fn get(socket: &RouteSocket, ns: &Namespace, name: &str) -> Result<Link> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        let answers = socket.request(
            "link show dev",
            RouteNetlinkMessage::GetLink(msg),
            Reply::One,
        )?;
        answers
            .into_iter()
            .find_map(|msg| match msg {
                RouteNetlinkMessage::NewLink(link) => Some(from_message(link)),
                _ => None,
            })
            .ok_or_else(|| Error::Netlink {
                op: "link show dev",
                ns: ns.to_string(),
                source: std::io::Error::from_raw_os_error(libc::ENODEV),
            })
    }

    fn from_message(msg: LinkMessage) -> Link {
        let mut link = Link {
            index: msg.header.index,
            name: String::new(),
            kind: None,
            mtu: None,
            address: None,
            up: msg.header.flags.contains(LinkFlags::Up),
            oper_state: "UNKNOWN".to_owned(),
            master: None,
            link: None,
        };
        for attr in msg.attributes {
            match attr {
                LinkAttribute::IfName(name) => link.name = name,
                LinkAttribute::Mtu(mtu) => link.mtu = Some(mtu),
                LinkAttribute::Address(bytes) if !bytes.is_empty() => {
                    link.address = Some(
                        bytes
                            .iter()
                            .map(|b| format!("{b:02x}"))
                            .collect::<Vec<_>>()
                            .join(":"),
                    );
                }
                LinkAttribute::OperState(state) => link.oper_state = oper_state(state),
                LinkAttribute::Controller(index) => link.master = Some(index),
                LinkAttribute::Link(index) => link.link = Some(index),
                LinkAttribute::LinkInfo(infos) => {
                    link.kind = infos.into_iter().find_map(|info| match info {
                        LinkInfo::Kind(InfoKind::Other(kind)) => Some(kind),
                        LinkInfo::Kind(kind) => Some(kind.to_string()),
                        _ => None,
                    });
                }
                _ => {}
            }
        }
        link
    }

    fn oper_state(state: State) -> String {
        match state {
            State::Up => "UP",
            State::Down => "DOWN",
            State::LowerLayerDown => "LOWERLAYERDOWN",
            State::Dormant => "DORMANT",
            State::Testing => "TESTING",
            State::NotPresent => "NOTPRESENT",
            _ => "UNKNOWN",
        }
        .to_owned()
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::Link;
    use crate::error::Result;
    use crate::netlink::RouteSocket;
    use crate::netns::Namespace;

    pub(super) fn list(socket: &RouteSocket) -> Result<Vec<Link>> {
        socket.never()
    }

    pub(super) fn get(socket: &RouteSocket, _ns: &Namespace, _name: &str) -> Result<Link> {
        socket.never()
    }
}
