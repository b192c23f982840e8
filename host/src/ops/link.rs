//! Links (network interfaces): `ip link`.

use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::netlink::RouteSocket;
use crate::netns::Namespace;
use crate::ops::MacAddr;

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

/// Traffic counters, as `ip -s link show` reports them (`IFLA_STATS64`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Received packets dropped.
    pub rx_dropped: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// Packets dropped on transmit.
    pub tx_dropped: u64,
}

/// A link with what `ip -d -s link show` adds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkDetails {
    /// What [`list`] reports.
    pub link: Link,
    /// Promiscuous mode (`IFF_PROMISC`).
    pub promisc: bool,
    /// Transmit queue length.
    pub txqlen: Option<u32>,
    /// Hairpin mode, for a bridge port.
    pub hairpin: Option<bool>,
    /// Counters.
    pub stats: Option<LinkStats>,
}

/// MAC-VLAN modes (`mode private|vepa|bridge|passthru|source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MacvlanMode {
    /// `private`.
    Private,
    /// `vepa`.
    Vepa,
    /// `bridge`.
    Bridge,
    /// `passthru`.
    Passthru,
    /// `source`.
    Source,
}

/// IP-VLAN modes (`mode l2|l3|l3s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IpvlanMode {
    /// `l2`.
    L2,
    /// `l3`.
    L3,
    /// `l3s`.
    L3s,
}

/// A VXLAN device: `type vxlan id VNI [remote|group IP] [local IP] [dev PARENT] [dstport P]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VxlanConfig {
    /// VXLAN network identifier (24 bits).
    pub vni: u32,
    /// Unicast remote or multicast group.
    pub remote: Option<std::net::IpAddr>,
    /// Local source address.
    pub local: Option<std::net::IpAddr>,
    /// Underlying device, by name.
    pub parent: Option<String>,
    /// Destination UDP port (the kernel's default is 8472).
    pub port: Option<u16>,
    /// `learning` / `nolearning`.
    pub learning: Option<bool>,
}

impl VxlanConfig {
    /// A VXLAN with this identifier and the kernel's defaults for everything else.
    pub fn new(vni: u32) -> VxlanConfig {
        VxlanConfig {
            vni,
            ..VxlanConfig::default()
        }
    }
}

/// What kind of link to create.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum LinkKind {
    /// `type veth peer name PEER [netns PEER_NS] [address PEER_MAC]`. Without `peer_ns`, the
    /// peer is created in the namespace the request runs in.
    Veth {
        /// The peer's name.
        peer: String,
        /// Where the peer is created.
        peer_ns: Option<Namespace>,
        /// The peer's hardware address.
        peer_mac: Option<MacAddr>,
    },
    /// `type bridge`.
    Bridge,
    /// `link PARENT type macvlan mode MODE`.
    Macvlan {
        /// The parent device, in the namespace the request runs in.
        parent: String,
        /// The mode.
        mode: MacvlanMode,
    },
    /// `type vxlan …`.
    Vxlan(VxlanConfig),
    /// `type dummy` (not on every kernel).
    Dummy,
    /// `link PARENT type vlan id ID` (not on every kernel).
    Vlan {
        /// The parent device.
        parent: String,
        /// The VLAN id (1 to 4094).
        id: u16,
    },
    /// `link PARENT type ipvlan mode MODE` (not on every kernel).
    Ipvlan {
        /// The parent device.
        parent: String,
        /// The mode.
        mode: IpvlanMode,
    },
}

/// A link to create: `ip link add NAME [netns NS] [mtu N] [address MAC] [txqueuelen N] type …`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewLink {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: LinkKind,
    /// Create it in this namespace rather than the one the request runs in.
    pub target_ns: Option<Namespace>,
    /// MTU (a veth's peer gets it too).
    pub mtu: Option<u32>,
    /// Hardware address.
    pub mac: Option<MacAddr>,
    /// Transmit queue length.
    pub txqlen: Option<u32>,
}

impl NewLink {
    /// A link called `name` of `kind`, with the kernel's defaults for everything else.
    pub fn new(name: impl Into<String>, kind: LinkKind) -> NewLink {
        NewLink {
            name: name.into(),
            kind,
            target_ns: None,
            mtu: None,
            mac: None,
            txqlen: None,
        }
    }

    /// Names every interface the request mentions, for validation.
    fn names(&self) -> impl Iterator<Item = &str> {
        let extra = match &self.kind {
            LinkKind::Veth { peer, .. } => Some(peer.as_str()),
            LinkKind::Macvlan { parent, .. }
            | LinkKind::Vlan { parent, .. }
            | LinkKind::Ipvlan { parent, .. } => Some(parent.as_str()),
            LinkKind::Vxlan(cfg) => cfg.parent.as_deref(),
            LinkKind::Bridge | LinkKind::Dummy => None,
        };
        std::iter::once(self.name.as_str()).chain(extra)
    }

    /// The namespaces other than the request's own that the link or its peer lands in.
    pub fn other_namespaces(&self) -> impl Iterator<Item = &Namespace> {
        let peer = match &self.kind {
            LinkKind::Veth { peer_ns, .. } => peer_ns.as_ref(),
            _ => None,
        };
        self.target_ns.iter().chain(peer)
    }
}

/// A change of master: `master BRIDGE` or `nomaster`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterChange {
    /// Enslave to this bridge.
    Set(String),
    /// Release.
    NoMaster,
}

/// Changes to a link (`ip link set dev NAME …`); `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkChanges {
    /// `up` / `down`.
    pub up: Option<bool>,
    /// `mtu N`.
    pub mtu: Option<u32>,
    /// `address MAC`.
    pub mac: Option<MacAddr>,
    /// `name NEW`.
    pub rename: Option<String>,
    /// `master BRIDGE` / `nomaster`.
    pub master: Option<MasterChange>,
    /// `promisc on|off`.
    pub promisc: Option<bool>,
    /// `txqueuelen N`.
    pub txqlen: Option<u32>,
    /// `type bridge_slave hairpin on|off`.
    pub hairpin: Option<bool>,
}

impl LinkChanges {
    /// Only `up` / `down`: `ip link set dev NAME up`.
    pub fn up(up: bool) -> LinkChanges {
        LinkChanges {
            up: Some(up),
            ..LinkChanges::default()
        }
    }
}

/// Every link of `ns`: `ip -n NS link show`. Uses the executor's socket cached for `ns`, so
/// after the first call no thread switches namespace.
pub fn list(executor: &Executor, ns: &Namespace) -> Result<Vec<Link>> {
    list_with(&*executor.sockets().get(executor, ns)?)
}

/// Every link of the namespace `socket` was opened in: `ip -n NS link show`.
pub fn list_with(socket: &RouteSocket) -> Result<Vec<Link>> {
    Ok(imp::dump(socket, false)?
        .into_iter()
        .map(|d| d.link)
        .collect())
}

/// The link called `name` in `ns`: `ip -n NS link show dev NAME`.
pub fn get(executor: &Executor, ns: &Namespace, name: &str) -> Result<Link> {
    details_impl(executor, ns, name, false).map(|d| d.link)
}

/// Every link of `ns` with details and counters: `ip -d -s -n NS link show`.
pub fn list_details(executor: &Executor, ns: &Namespace) -> Result<Vec<LinkDetails>> {
    imp::dump(&*executor.sockets().get(executor, ns)?, true)
}

/// One link with details and counters: `ip -d -s -n NS link show dev NAME`.
pub fn details(executor: &Executor, ns: &Namespace, name: &str) -> Result<LinkDetails> {
    details_impl(executor, ns, name, true)
}

fn details_impl(
    executor: &Executor,
    ns: &Namespace,
    name: &str,
    stats: bool,
) -> Result<LinkDetails> {
    validate_ifname(name)?;
    imp::get(&*executor.sockets().get(executor, ns)?, name, stats)
}

/// Creates a link: `ip -n NS link add NAME … type KIND …`.
pub fn add(executor: &Executor, ns: &Namespace, link: &NewLink) -> Result<()> {
    link.names().try_for_each(validate_ifname)?;
    if let LinkKind::Vlan { id, .. } = link.kind
        && !(1..=4094).contains(&id)
    {
        return Err(Error::invalid(
            "VLAN id",
            &id.to_string(),
            "must be 1 to 4094",
        ));
    }
    if let LinkKind::Vxlan(cfg) = &link.kind
        && cfg.vni >= 1 << 24
    {
        return Err(Error::invalid(
            "VXLAN id",
            &cfg.vni.to_string(),
            "must be below 16777216",
        ));
    }
    imp::add(&*executor.sockets().get(executor, ns)?, link)
}

/// Changes a link: `ip -n NS link set dev NAME …`. Hairpin, a bridge-port setting, is applied
/// after the rest (so `master` and `hairpin` can be set together).
pub fn set(executor: &Executor, ns: &Namespace, name: &str, changes: &LinkChanges) -> Result<()> {
    validate_ifname(name)?;
    if let Some(new) = &changes.rename {
        validate_ifname(new)?;
    }
    if let Some(MasterChange::Set(master)) = &changes.master {
        validate_ifname(master)?;
    }
    imp::set(&*executor.sockets().get(executor, ns)?, name, changes)
}

/// Moves a link to another namespace: `ip -n NS link set dev NAME netns TO`.
pub fn set_netns(executor: &Executor, ns: &Namespace, name: &str, to: &Namespace) -> Result<()> {
    validate_ifname(name)?;
    imp::set_netns(&*executor.sockets().get(executor, ns)?, name, to)
}

/// Deletes a link (a veth's peer goes with it): `ip -n NS link del dev NAME`.
pub fn del(executor: &Executor, ns: &Namespace, name: &str) -> Result<()> {
    validate_ifname(name)?;
    imp::del(&*executor.sockets().get(executor, ns)?, name)
}

/// The index of the link called `name` in the namespace of `socket` (for the other netlink
/// operations, which are Linux-only).
#[cfg(target_os = "linux")]
pub(crate) fn index_of(socket: &RouteSocket, name: &str) -> Result<u32> {
    validate_ifname(name)?;
    imp::index_of(socket, name)
}

/// The name of every link of the namespace of `socket`, by index (for dumps that name devices
/// by index: routes, neighbours).
#[cfg(target_os = "linux")]
pub(crate) fn names_by_index(
    socket: &RouteSocket,
) -> Result<std::collections::HashMap<u32, String>> {
    Ok(list_with(socket)?
        .into_iter()
        .map(|l| (l.index, l.name))
        .collect())
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
    use std::net::IpAddr;
    use std::os::fd::{AsFd, AsRawFd};

    use netlink_packet_core::{
        DecodeError, NLA_ALIGNTO, NLA_HEADER_SIZE, NLA_TYPE_MASK, NetlinkHeader, NlaBuffer,
        ParseableParametrized,
    };
    use netlink_packet_route::RouteNetlinkMessage;
    use netlink_packet_route::link::{
        InfoBridgePort, InfoData, InfoIpVlan, InfoKind, InfoMacVlan, InfoPortData, InfoPortKind,
        InfoVeth, InfoVlan, InfoVxlan, IpVlanMode, LinkAttribute, LinkExtentMask, LinkFlags,
        LinkHeader, LinkInfo, LinkMessage, MacVlanMode, State,
    };

    /// Size of `struct ifinfomsg`, which comes before a link message's attributes.
    const LINK_HEADER_LEN: usize = 16;

    use super::{
        IpvlanMode, Link, LinkChanges, LinkDetails, LinkKind, LinkStats, MacvlanMode, MasterChange,
        NewLink,
    };
    use crate::error::Result;
    use crate::netlink::{Change, Reply, RouteSocket};
    use crate::netns::Namespace;
    use crate::ops::format_mac;

    /// Every link; without `stats` the kernel is asked to skip the counters.
    pub(super) fn dump(socket: &RouteSocket, stats: bool) -> Result<Vec<LinkDetails>> {
        let mut msg = LinkMessage::default();
        if !stats {
            msg.attributes
                .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        }
        socket.request_with(
            "link show",
            RouteNetlinkMessage::GetLink(msg),
            Reply::Dump,
            decode,
        )
    }

    pub(super) fn get(socket: &RouteSocket, name: &str, stats: bool) -> Result<LinkDetails> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        if !stats {
            msg.attributes
                .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        }
        socket
            .request_with(
                "link show dev",
                RouteNetlinkMessage::GetLink(msg),
                Reply::One,
                decode,
            )?
            .pop()
            .ok_or_else(|| socket.error("link show dev", libc::ENODEV))
    }

    pub(super) fn index_of(socket: &RouteSocket, name: &str) -> Result<u32> {
        get(socket, name, false).map(|d| d.link.index)
    }

    fn ns_fd(ns: &Namespace) -> LinkAttribute {
        LinkAttribute::NetNsFd(ns.fd().as_fd().as_raw_fd())
    }

    pub(super) fn add(socket: &RouteSocket, link: &NewLink) -> Result<()> {
        let mut msg = LinkMessage::default();
        let attrs = &mut msg.attributes;
        attrs.push(LinkAttribute::IfName(link.name.clone()));
        if let Some(ns) = &link.target_ns {
            attrs.push(ns_fd(ns));
        }
        if let Some(mtu) = link.mtu {
            attrs.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(mac) = link.mac {
            attrs.push(LinkAttribute::Address(mac.0.to_vec()));
        }
        if let Some(txqlen) = link.txqlen {
            attrs.push(LinkAttribute::TxQueueLen(txqlen));
        }
        let parent = |name: &str| index_of(socket, name).map(LinkAttribute::Link);
        let (kind, data) = match &link.kind {
            LinkKind::Veth {
                peer,
                peer_ns,
                peer_mac,
            } => {
                let mut peer_msg = LinkMessage::default();
                let p = &mut peer_msg.attributes;
                p.push(LinkAttribute::IfName(peer.clone()));
                if let Some(ns) = peer_ns {
                    p.push(ns_fd(ns));
                }
                if let Some(mac) = peer_mac {
                    p.push(LinkAttribute::Address(mac.0.to_vec()));
                }
                if let Some(mtu) = link.mtu {
                    p.push(LinkAttribute::Mtu(mtu));
                }
                (
                    InfoKind::Veth,
                    Some(InfoData::Veth(InfoVeth::Peer(peer_msg))),
                )
            }
            LinkKind::Bridge => (InfoKind::Bridge, None),
            LinkKind::Dummy => (InfoKind::Dummy, None),
            LinkKind::Macvlan { parent: p, mode } => {
                attrs.push(parent(p)?);
                let mode = match mode {
                    MacvlanMode::Private => MacVlanMode::Private,
                    MacvlanMode::Vepa => MacVlanMode::Vepa,
                    MacvlanMode::Bridge => MacVlanMode::Bridge,
                    MacvlanMode::Passthru => MacVlanMode::Passthrough,
                    MacvlanMode::Source => MacVlanMode::Source,
                };
                (
                    InfoKind::MacVlan,
                    Some(InfoData::MacVlan(vec![InfoMacVlan::Mode(mode)])),
                )
            }
            LinkKind::Vlan { parent: p, id } => {
                attrs.push(parent(p)?);
                (
                    InfoKind::Vlan,
                    Some(InfoData::Vlan(vec![InfoVlan::Id(*id)])),
                )
            }
            LinkKind::Ipvlan { parent: p, mode } => {
                attrs.push(parent(p)?);
                let mode = match mode {
                    IpvlanMode::L2 => IpVlanMode::L2,
                    IpvlanMode::L3 => IpVlanMode::L3,
                    IpvlanMode::L3s => IpVlanMode::L3S,
                };
                (
                    InfoKind::IpVlan,
                    Some(InfoData::IpVlan(vec![InfoIpVlan::Mode(mode)])),
                )
            }
            LinkKind::Vxlan(cfg) => {
                let mut data = vec![InfoVxlan::Id(cfg.vni)];
                match cfg.remote {
                    Some(IpAddr::V4(ip)) => data.push(InfoVxlan::Group(ip)),
                    Some(IpAddr::V6(ip)) => data.push(InfoVxlan::Group6(ip)),
                    None => {}
                }
                match cfg.local {
                    Some(IpAddr::V4(ip)) => data.push(InfoVxlan::Local(ip)),
                    Some(IpAddr::V6(ip)) => data.push(InfoVxlan::Local6(ip)),
                    None => {}
                }
                if let Some(p) = &cfg.parent {
                    data.push(InfoVxlan::Link(index_of(socket, p)?));
                }
                if let Some(port) = cfg.port {
                    data.push(InfoVxlan::Port(port));
                }
                if let Some(learning) = cfg.learning {
                    data.push(InfoVxlan::Learning(learning));
                }
                (InfoKind::Vxlan, Some(InfoData::Vxlan(data)))
            }
        };
        let mut info = vec![LinkInfo::Kind(kind)];
        info.extend(data.map(LinkInfo::Data));
        attrs.push(LinkAttribute::LinkInfo(info));
        socket.change(
            "link add",
            RouteNetlinkMessage::NewLink(msg),
            Change::Create,
        )
    }

    pub(super) fn set(socket: &RouteSocket, name: &str, changes: &LinkChanges) -> Result<()> {
        let index = index_of(socket, name)?;
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        let mut flag = |flag: LinkFlags, on: Option<bool>| {
            if let Some(on) = on {
                msg.header.change_mask |= flag;
                if on {
                    msg.header.flags |= flag;
                }
            }
        };
        flag(LinkFlags::Up, changes.up);
        flag(LinkFlags::Promisc, changes.promisc);
        let attrs = &mut msg.attributes;
        if let Some(mtu) = changes.mtu {
            attrs.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(mac) = changes.mac {
            attrs.push(LinkAttribute::Address(mac.0.to_vec()));
        }
        if let Some(new) = &changes.rename {
            attrs.push(LinkAttribute::IfName(new.clone()));
        }
        if let Some(txqlen) = changes.txqlen {
            attrs.push(LinkAttribute::TxQueueLen(txqlen));
        }
        match &changes.master {
            Some(MasterChange::Set(master)) => {
                attrs.push(LinkAttribute::Controller(index_of(socket, master)?));
            }
            Some(MasterChange::NoMaster) => attrs.push(LinkAttribute::Controller(0)),
            None => {}
        }
        if !msg.attributes.is_empty() || !msg.header.change_mask.is_empty() {
            socket.change(
                "link set",
                RouteNetlinkMessage::NewLink(msg),
                Change::Existing,
            )?;
        }
        if let Some(hairpin) = changes.hairpin {
            // `ip link set dev NAME type bridge_slave hairpin on|off`.
            let mut msg = LinkMessage::default();
            msg.header.index = index;
            msg.attributes.push(LinkAttribute::LinkInfo(vec![
                LinkInfo::PortKind(InfoPortKind::Bridge),
                LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(
                    hairpin,
                )])),
            ]));
            socket.change(
                "link set type bridge_slave",
                RouteNetlinkMessage::NewLink(msg),
                Change::Existing,
            )?;
        }
        Ok(())
    }

    pub(super) fn set_netns(socket: &RouteSocket, name: &str, to: &Namespace) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        msg.attributes.push(ns_fd(to));
        socket.change(
            "link set netns",
            RouteNetlinkMessage::SetLink(msg),
            Change::Existing,
        )
    }

    pub(super) fn del(socket: &RouteSocket, name: &str) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        socket.change(
            "link del",
            RouteNetlinkMessage::DelLink(msg),
            Change::Existing,
        )
    }

    /// Decodes an `RTM_NEWLINK` answer (anything else is skipped). Only the attributes a
    /// [`LinkDetails`] holds are parsed, each by netlink-packet-route as before; the rest (the
    /// per-family configuration above all: most of the message) is stepped over unread. Parsing
    /// the whole message was four fifths of a link listing's user-space work.
    fn decode(
        header: &NetlinkHeader,
        payload: &[u8],
    ) -> std::result::Result<Option<LinkDetails>, DecodeError> {
        if header.message_type != libc::RTM_NEWLINK {
            return Ok(None);
        }
        let head = LinkHeader::parse(payload)?;
        let mut link = Link {
            index: head.index,
            name: String::new(),
            kind: None,
            mtu: None,
            address: None,
            up: head.flags.contains(LinkFlags::Up),
            oper_state: "UNKNOWN".to_owned(),
            master: None,
            link: None,
        };
        let (mut txqlen, mut hairpin, mut stats) = (None, None, None);
        for nla in attributes(payload.get(LINK_HEADER_LEN..).unwrap_or_default()) {
            let (kind, nla) = nla?;
            if !matches!(
                kind,
                libc::IFLA_IFNAME
                    | libc::IFLA_MTU
                    | libc::IFLA_ADDRESS
                    | libc::IFLA_OPERSTATE
                    | libc::IFLA_MASTER
                    | libc::IFLA_LINK
                    | libc::IFLA_TXQLEN
                    | libc::IFLA_STATS64
                    | libc::IFLA_LINKINFO
            ) {
                continue;
            }
            let nla = NlaBuffer::new_checked(nla)?;
            match LinkAttribute::parse_with_param(&nla, head.interface_family)? {
                LinkAttribute::IfName(name) => link.name = name,
                LinkAttribute::Mtu(mtu) => link.mtu = Some(mtu),
                LinkAttribute::Address(bytes) if !bytes.is_empty() => {
                    link.address = Some(format_mac(&bytes));
                }
                LinkAttribute::OperState(state) => link.oper_state = oper_state(state),
                LinkAttribute::Controller(index) => link.master = Some(index),
                LinkAttribute::Link(index) => link.link = Some(index),
                LinkAttribute::TxQueueLen(len) => txqlen = Some(len),
                LinkAttribute::Stats64(s) => {
                    stats = Some(LinkStats {
                        rx_packets: s.rx_packets,
                        rx_bytes: s.rx_bytes,
                        rx_errors: s.rx_errors,
                        rx_dropped: s.rx_dropped,
                        tx_packets: s.tx_packets,
                        tx_bytes: s.tx_bytes,
                        tx_errors: s.tx_errors,
                        tx_dropped: s.tx_dropped,
                    });
                }
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        match info {
                            LinkInfo::Kind(InfoKind::Other(kind)) => link.kind = Some(kind),
                            LinkInfo::Kind(kind) => link.kind = Some(kind.to_string()),
                            LinkInfo::PortData(InfoPortData::BridgePort(port)) => {
                                hairpin = port.into_iter().find_map(|p| match p {
                                    InfoBridgePort::HairpinMode(on) => Some(on),
                                    _ => None,
                                });
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(Some(LinkDetails {
            promisc: head.flags.contains(LinkFlags::Promisc),
            link,
            txqlen,
            hairpin,
            stats,
        }))
    }

    /// The attributes in `bytes`, each as its type (flag bits cleared) and its bytes, header
    /// included. Like netlink-packet-core's `NlasIterator` without building a checked buffer
    /// for the many attributes that are stepped over.
    fn attributes(
        mut bytes: &[u8],
    ) -> impl Iterator<Item = std::result::Result<(u16, &[u8]), DecodeError>> {
        std::iter::from_fn(move || {
            let header = bytes.get(..NLA_HEADER_SIZE)?;
            let len = usize::from(u16::from_ne_bytes([header[0], header[1]]));
            let kind = u16::from_ne_bytes([header[2], header[3]]) & NLA_TYPE_MASK;
            if len < NLA_HEADER_SIZE || len > bytes.len() {
                let left = std::mem::take(&mut bytes).len();
                return Some(Err(DecodeError::from(format!(
                    "attribute of type {kind} has a length of {len} bytes, outside 4..={left}"
                ))));
            }
            let (nla, rest) = bytes.split_at(len);
            let padding = len.next_multiple_of(NLA_ALIGNTO) - len;
            bytes = rest.get(padding..).unwrap_or_default();
            Some(Ok((kind, nla)))
        })
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

    #[cfg(test)]
    mod tests {
        use netlink_packet_core::{Emitable, NetlinkHeader};
        use netlink_packet_route::link::{
            InfoBridgePort, InfoKind, InfoPortData, InfoPortKind, LinkAttribute, LinkFlags,
            LinkInfo, LinkMessage, State,
        };

        use super::{attributes, decode};

        fn emitted(msg: &LinkMessage) -> Vec<u8> {
            let mut bytes = vec![0; msg.buffer_len()];
            msg.emit(&mut bytes);
            bytes
        }

        fn answer() -> NetlinkHeader {
            let mut header = NetlinkHeader::default();
            header.message_type = libc::RTM_NEWLINK;
            header
        }

        /// A veth enslaved to a bridge, with two attributes the decoder steps over.
        fn sample() -> LinkMessage {
            let mut msg = LinkMessage::default();
            msg.header.index = 7;
            msg.header.flags = LinkFlags::Up | LinkFlags::Promisc;
            msg.attributes = vec![
                LinkAttribute::IfName("veth0".into()),
                LinkAttribute::Promiscuity(1), // stepped over
                LinkAttribute::TxQueueLen(1000),
                LinkAttribute::OperState(State::LowerLayerDown),
                LinkAttribute::Mtu(1400),
                LinkAttribute::Group(0), // stepped over
                LinkAttribute::Controller(3),
                LinkAttribute::Link(8),
                LinkAttribute::Address(vec![0x02, 0xab, 0, 0x10, 0xff, 0x9e]),
                LinkAttribute::LinkInfo(vec![
                    LinkInfo::Kind(InfoKind::Veth),
                    LinkInfo::PortKind(InfoPortKind::Bridge),
                    LinkInfo::PortData(InfoPortData::BridgePort(vec![
                        InfoBridgePort::HairpinMode(true),
                    ])),
                ]),
            ];
            msg
        }

        #[test]
        fn a_link_message_decodes_to_the_attributes_it_carries() {
            let msg = sample();
            let d = decode(&answer(), &emitted(&msg)).unwrap().unwrap();
            assert_eq!(
                (d.link.index, d.link.name.as_str(), d.link.kind.as_deref()),
                (7, "veth0", Some("veth"))
            );
            assert_eq!(
                (d.link.mtu, d.link.address.as_deref()),
                (Some(1400), Some("02:ab:00:10:ff:9e"))
            );
            assert_eq!(
                (
                    d.link.up,
                    d.link.oper_state.as_str(),
                    d.link.master,
                    d.link.link
                ),
                (true, "LOWERLAYERDOWN", Some(3), Some(8))
            );
            assert_eq!(
                (d.promisc, d.txqlen, d.hairpin, d.stats),
                (true, Some(1000), Some(true), None)
            );

            let mut other = answer();
            other.message_type = libc::RTM_NEWADDR;
            assert!(decode(&other, &emitted(&msg)).unwrap().is_none());
        }

        #[test]
        fn malformed_attributes_are_errors_not_panics() {
            let mut msg = LinkMessage::default();
            msg.attributes = vec![
                LinkAttribute::IfName("lo".into()),
                LinkAttribute::Mtu(65536),
            ];
            let good = emitted(&msg);
            let attrs = &good[16..];
            // Every attribute, padding skipped: "lo\0" is padded to 4 bytes.
            let kinds: Vec<u16> = attributes(attrs).map(|a| a.unwrap().0).collect();
            assert_eq!(kinds, [libc::IFLA_IFNAME, libc::IFLA_MTU]);
            // A final attribute without its padding is still whole.
            assert_eq!(attributes(&attrs[..7]).count(), 1);

            for (at, len) in [(0, 2u16), (0, 200), (8, 3), (8, 9)] {
                let mut bad = good.clone();
                bad[16 + at..16 + at + 2].copy_from_slice(&len.to_ne_bytes());
                assert!(
                    decode(&answer(), &bad).is_err(),
                    "length {len} at {at} should be refused"
                );
            }
            assert!(decode(&answer(), &good[..10]).is_err(), "a short header");
        }

        #[test]
        fn truncated_or_corrupted_messages_never_panic() {
            let good = emitted(&sample());
            // Cut anywhere: an error inside the header or an attribute, a shorter link at an
            // attribute boundary; never a panic.
            let whole: Vec<usize> = (0..good.len())
                .filter(|&len| decode(&answer(), &good[..len]).is_ok())
                .collect();
            assert_eq!(whole[0], 16, "no link without its header");
            assert!(
                whole.len() >= 10,
                "one cut per attribute boundary: {whole:?}"
            );
            let mut refused = 0;
            for at in 0..good.len() {
                for value in [0x00, 0x01, 0x04, 0x7f, 0x80, 0xff] {
                    let mut bad = good.clone();
                    bad[at] = value;
                    refused += usize::from(decode(&answer(), &bad).is_err());
                }
            }
            assert!(refused > 0, "some corruptions must be refused");
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::{LinkChanges, LinkDetails, NewLink};
    use crate::error::Result;
    use crate::netns::Namespace;

    crate::netlink::unsupported_ops! {
        fn dump(socket, stats: bool) -> Result<Vec<LinkDetails>>;
        fn get(socket, name: &str, stats: bool) -> Result<LinkDetails>;
        fn add(socket, link: &NewLink) -> Result<()>;
        fn set(socket, name: &str, changes: &LinkChanges) -> Result<()>;
        fn set_netns(socket, name: &str, to: &Namespace) -> Result<()>;
        fn del(socket, name: &str) -> Result<()>;
    }
}
