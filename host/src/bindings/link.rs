//! `nsplug:netns/link`: `ip link`.

use wasmtime::component::Resource;

use super::generated::nsplug::netns::link::{
    Host, IpvlanMode, LinkChanges, LinkDetails, LinkKind, LinkStats, MacvlanMode, MasterChange,
    NewLink, VxlanConfig,
};
use super::generated::nsplug::netns::types::Link;
use super::{HostError, NetnsHandle, StoreState};
use crate::ops::batch::{Op, Outcome};
use crate::ops::{self, link as host};

impl Host for StoreState {
    fn list(&mut self, ns: Resource<NetnsHandle>) -> Result<Vec<Link>, HostError> {
        match self.perform_one(&ns, Op::LinkList)? {
            Outcome::Links(links) => Ok(links.into_iter().map(Link::from).collect()),
            _ => Err(HostError::unexpected()),
        }
    }

    fn get(&mut self, ns: Resource<NetnsHandle>, name: String) -> Result<Link, HostError> {
        match self.perform_one(&ns, Op::LinkGet(name))? {
            Outcome::Link(link) => Ok(link.into()),
            _ => Err(HostError::unexpected()),
        }
    }

    fn list_details(&mut self, ns: Resource<NetnsHandle>) -> Result<Vec<LinkDetails>, HostError> {
        match self.perform_one(&ns, Op::LinkListDetails)? {
            Outcome::AllDetails(all) => Ok(all.into_iter().map(LinkDetails::from).collect()),
            _ => Err(HostError::unexpected()),
        }
    }

    fn details(
        &mut self,
        ns: Resource<NetnsHandle>,
        name: String,
    ) -> Result<LinkDetails, HostError> {
        match self.perform_one(&ns, Op::LinkDetails(name))? {
            Outcome::Details(details) => Ok(details.into()),
            _ => Err(HostError::unexpected()),
        }
    }

    fn add(&mut self, ns: Resource<NetnsHandle>, link: NewLink) -> Result<(), HostError> {
        let op = self.link_add(link).map_err(HostError::from)?;
        self.perform_done(&ns, op)
    }

    fn set(
        &mut self,
        ns: Resource<NetnsHandle>,
        name: String,
        changes: LinkChanges,
    ) -> Result<(), HostError> {
        let changes = host_changes(changes).map_err(HostError::from)?;
        self.perform_done(&ns, Op::LinkSet(name, changes))
    }

    fn set_netns(
        &mut self,
        ns: Resource<NetnsHandle>,
        name: String,
        to: Resource<NetnsHandle>,
    ) -> Result<(), HostError> {
        let to = self.namespace(&to).map_err(HostError::Trap)?;
        self.perform_done(&ns, Op::LinkSetNetns(name, to))
    }

    fn del(&mut self, ns: Resource<NetnsHandle>, name: String) -> Result<(), HostError> {
        self.perform_done(&ns, Op::LinkDel(name))
    }
}

impl StoreState {
    /// A `new-link` in host types (the namespaces it names resolved from their handles).
    pub(super) fn link_add(&self, link: NewLink) -> crate::Result<Op> {
        let resolve = |ns: Option<Resource<NetnsHandle>>| {
            ns.map(|r| self.namespace(&r))
                .transpose()
                .map_err(|_| crate::Error::invalid("namespace handle", "", "not a live handle"))
        };
        let kind = match link.kind {
            LinkKind::Veth(peer) => host::LinkKind::Veth {
                peer: peer.name,
                peer_ns: resolve(peer.target_ns)?,
                peer_mac: peer.mac.as_deref().map(str::parse).transpose()?,
            },
            LinkKind::Bridge => host::LinkKind::Bridge,
            LinkKind::Dummy => host::LinkKind::Dummy,
            LinkKind::Macvlan((parent, mode)) => host::LinkKind::Macvlan {
                parent,
                mode: match mode {
                    MacvlanMode::Private => host::MacvlanMode::Private,
                    MacvlanMode::Vepa => host::MacvlanMode::Vepa,
                    MacvlanMode::Bridge => host::MacvlanMode::Bridge,
                    MacvlanMode::Passthru => host::MacvlanMode::Passthru,
                    MacvlanMode::Source => host::MacvlanMode::Source,
                },
            },
            LinkKind::Vlan((parent, id)) => host::LinkKind::Vlan { parent, id },
            LinkKind::Ipvlan((parent, mode)) => host::LinkKind::Ipvlan {
                parent,
                mode: match mode {
                    IpvlanMode::L2 => host::IpvlanMode::L2,
                    IpvlanMode::L3 => host::IpvlanMode::L3,
                    IpvlanMode::L3s => host::IpvlanMode::L3s,
                },
            },
            LinkKind::Vxlan(cfg) => host::LinkKind::Vxlan(vxlan(cfg)?),
        };
        let mut new = host::NewLink::new(link.name, kind);
        new.target_ns = resolve(link.target_ns)?;
        new.mtu = link.mtu;
        new.mac = link.mac.as_deref().map(str::parse).transpose()?;
        new.txqlen = link.txqlen;
        Ok(Op::LinkAdd(new))
    }
}

fn vxlan(cfg: VxlanConfig) -> crate::Result<host::VxlanConfig> {
    let ip = |s: Option<String>, what| s.map(|s| ops::parse_ip(what, &s)).transpose();
    let mut out = host::VxlanConfig::new(cfg.vni);
    out.remote = ip(cfg.remote, "VXLAN remote")?;
    out.local = ip(cfg.local, "VXLAN local address")?;
    out.parent = cfg.parent;
    out.port = cfg.port;
    out.learning = cfg.learning;
    Ok(out)
}

/// `link-changes` in host types.
pub(super) fn host_changes(c: LinkChanges) -> crate::Result<host::LinkChanges> {
    Ok(host::LinkChanges {
        up: c.up,
        mtu: c.mtu,
        mac: c.mac.as_deref().map(str::parse).transpose()?,
        rename: c.rename,
        master: c.master.map(|m| match m {
            MasterChange::Set(name) => host::MasterChange::Set(name),
            MasterChange::Nomaster => host::MasterChange::NoMaster,
        }),
        promisc: c.promisc,
        txqlen: c.txqlen,
        hairpin: c.hairpin,
    })
}

impl From<host::Link> for Link {
    fn from(l: host::Link) -> Self {
        Link {
            index: l.index,
            name: l.name,
            kind: l.kind,
            mtu: l.mtu,
            address: l.address,
            up: l.up,
            oper_state: l.oper_state,
            master: l.master,
            link: l.link,
        }
    }
}

impl From<host::LinkDetails> for LinkDetails {
    fn from(d: host::LinkDetails) -> Self {
        LinkDetails {
            link: d.link.into(),
            promisc: d.promisc,
            txqlen: d.txqlen,
            hairpin: d.hairpin,
            stats: d.stats.map(|s| LinkStats {
                rx_packets: s.rx_packets,
                rx_bytes: s.rx_bytes,
                rx_errors: s.rx_errors,
                rx_dropped: s.rx_dropped,
                tx_packets: s.tx_packets,
                tx_bytes: s.tx_bytes,
                tx_errors: s.tx_errors,
                tx_dropped: s.tx_dropped,
            }),
        }
    }
}
