//! Routes: `ip route`.

use std::net::IpAddr;

use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::netns::Namespace;
use crate::ops::IpPrefix;
use crate::ops::link::validate_ifname;

/// The `main` routing table, which `ip route` uses unless told otherwise.
pub const MAIN_TABLE: u32 = 254;

/// Route scopes, as `ip route` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RouteScope {
    /// `global` (`universe`).
    Global,
    /// `site`.
    Site,
    /// `link`.
    Link,
    /// `host`.
    Host,
    /// `nowhere`.
    Nowhere,
}

/// A route, as `ip route show` reports it and `ip route add` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Route {
    /// Destination prefix; `0.0.0.0/0` or `::/0` is the default route.
    pub destination: IpPrefix,
    /// Next hop (`via`).
    pub gateway: Option<IpAddr>,
    /// Output device by name (`dev`).
    pub dev: Option<String>,
    /// Preferred source address (`src`).
    pub source: Option<IpAddr>,
    /// Priority (`metric`).
    pub metric: Option<u32>,
    /// Routing table (`table`); `None` is `main` when adding and listing.
    pub table: Option<u32>,
    /// Scope. When adding, `None` is `link` without a gateway and `global` with one (as `ip`
    /// chooses); when deleting, `None` matches any.
    pub scope: Option<RouteScope>,
    /// Path MTU (`mtu`).
    pub mtu: Option<u32>,
}

impl Route {
    /// A route to `destination` with nothing else set.
    pub fn to(destination: IpPrefix) -> Route {
        Route {
            destination,
            gateway: None,
            dev: None,
            source: None,
            metric: None,
            table: None,
            scope: None,
            mtu: None,
        }
    }

    /// Checks the parts of a route that must agree before the kernel sees it.
    fn validate(&self) -> Result<()> {
        if let Some(dev) = &self.dev {
            validate_ifname(dev)?;
        }
        let v6 = self.destination.is_ipv6();
        let family_mismatch = [self.gateway, self.source]
            .into_iter()
            .flatten()
            .any(|ip| ip.is_ipv6() != v6);
        if family_mismatch {
            return Err(Error::invalid(
                "route",
                &self.destination.to_string(),
                "the gateway and source must be of the destination's address family",
            ));
        }
        Ok(())
    }
}

/// The routes of one table (`None`: `main`), IPv4 and IPv6:
/// `ip -n NS route show [table T]` and `ip -n NS -6 route show [table T]`. Only unicast routes
/// (`local`, `broadcast`, `blackhole` and other types are left out).
pub fn list(executor: &Executor, ns: &Namespace, table: Option<u32>) -> Result<Vec<Route>> {
    imp::list(
        &*executor.sockets().get(executor, ns)?,
        table.unwrap_or(MAIN_TABLE),
    )
}

/// Adds a route: `ip -n NS route add …`.
pub fn add(executor: &Executor, ns: &Namespace, route: &Route) -> Result<()> {
    route.validate()?;
    imp::change(
        &*executor.sockets().get(executor, ns)?,
        route,
        imp::Verb::Add,
    )
}

/// Adds or replaces a route: `ip -n NS route replace …`.
pub fn replace(executor: &Executor, ns: &Namespace, route: &Route) -> Result<()> {
    route.validate()?;
    imp::change(
        &*executor.sockets().get(executor, ns)?,
        route,
        imp::Verb::Replace,
    )
}

/// Deletes a route: `ip -n NS route del …`.
pub fn del(executor: &Executor, ns: &Namespace, route: &Route) -> Result<()> {
    route.validate()?;
    imp::change(
        &*executor.sockets().get(executor, ns)?,
        route,
        imp::Verb::Del,
    )
}

#[cfg(target_os = "linux")]
mod imp {
    use std::collections::HashMap;
    use std::net::IpAddr;

    use netlink_packet_route::route::{
        RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteMetric, RouteProtocol,
        RouteScope as NlScope, RouteType,
    };
    use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

    use super::{Route, RouteScope};
    use crate::error::Result;
    use crate::netlink::{Change, Reply, RouteSocket};
    use crate::ops::{IpPrefix, link};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) enum Verb {
        Add,
        Replace,
        Del,
    }

    pub(super) fn list(socket: &RouteSocket, table: u32) -> Result<Vec<Route>> {
        let answers = socket.request(
            "route show",
            RouteNetlinkMessage::GetRoute(RouteMessage::default()),
            Reply::Dump,
        )?;
        let names = link::names_by_index(socket)?;
        Ok(answers
            .into_iter()
            .filter_map(|msg| match msg {
                RouteNetlinkMessage::NewRoute(r) => from_message(r, &names),
                _ => None,
            })
            .filter(|r| r.table == Some(table))
            .collect())
    }

    fn address(ip: IpAddr) -> RouteAddress {
        match ip {
            IpAddr::V4(v4) => RouteAddress::Inet(v4),
            IpAddr::V6(v6) => RouteAddress::Inet6(v6),
        }
    }

    fn ip_of(addr: RouteAddress) -> Option<IpAddr> {
        match addr {
            RouteAddress::Inet(v4) => Some(v4.into()),
            RouteAddress::Inet6(v6) => Some(v6.into()),
            _ => None,
        }
    }

    fn to_nl(scope: RouteScope) -> NlScope {
        match scope {
            RouteScope::Global => NlScope::Universe,
            RouteScope::Site => NlScope::Site,
            RouteScope::Link => NlScope::Link,
            RouteScope::Host => NlScope::Host,
            RouteScope::Nowhere => NlScope::NoWhere,
        }
    }

    fn from_nl(scope: NlScope) -> Option<RouteScope> {
        Some(match scope {
            NlScope::Universe => RouteScope::Global,
            NlScope::Site => RouteScope::Site,
            NlScope::Link => RouteScope::Link,
            NlScope::Host => RouteScope::Host,
            NlScope::NoWhere => RouteScope::Nowhere,
            _ => return None,
        })
    }

    /// Builds the request the way `ip route add|replace|del` does.
    pub(super) fn change(socket: &RouteSocket, route: &Route, verb: Verb) -> Result<()> {
        let dst = route.destination;
        let table = route.table.unwrap_or(super::MAIN_TABLE);
        let mut header = RouteHeader {
            address_family: if dst.is_ipv6() {
                AddressFamily::Inet6
            } else {
                AddressFamily::Inet
            },
            destination_prefix_length: dst.len,
            table: u8::try_from(table).unwrap_or(0),
            ..RouteHeader::default()
        };
        header.scope = match (route.scope, verb) {
            (Some(scope), _) => to_nl(scope),
            (None, Verb::Del) => NlScope::NoWhere,
            (None, _) if route.gateway.is_none() => NlScope::Link,
            (None, _) => NlScope::Universe,
        };
        if verb != Verb::Del {
            header.protocol = RouteProtocol::Boot;
            header.kind = RouteType::Unicast;
        }
        let mut msg = RouteMessage::default();
        msg.header = header;
        let attrs = &mut msg.attributes;
        if dst.len > 0 {
            attrs.push(RouteAttribute::Destination(address(dst.addr)));
        }
        if let Some(gw) = route.gateway {
            attrs.push(RouteAttribute::Gateway(address(gw)));
        }
        if let Some(dev) = &route.dev {
            attrs.push(RouteAttribute::Oif(link::index_of(socket, dev)?));
        }
        if let Some(src) = route.source {
            attrs.push(RouteAttribute::PrefSource(address(src)));
        }
        if let Some(metric) = route.metric {
            attrs.push(RouteAttribute::Priority(metric));
        }
        attrs.push(RouteAttribute::Table(table));
        if let Some(mtu) = route.mtu {
            attrs.push(RouteAttribute::Metrics(vec![RouteMetric::Mtu(mtu)]));
        }
        let (op, message, change) = match verb {
            Verb::Add => (
                "route add",
                RouteNetlinkMessage::NewRoute(msg),
                Change::Create,
            ),
            Verb::Replace => (
                "route replace",
                RouteNetlinkMessage::NewRoute(msg),
                Change::Replace,
            ),
            Verb::Del => (
                "route del",
                RouteNetlinkMessage::DelRoute(msg),
                Change::Existing,
            ),
        };
        socket.change(op, message, change)
    }

    fn from_message(msg: RouteMessage, names: &HashMap<u32, String>) -> Option<Route> {
        if msg.header.kind != RouteType::Unicast {
            return None;
        }
        let v6 = match msg.header.address_family {
            AddressFamily::Inet => false,
            AddressFamily::Inet6 => true,
            _ => return None,
        };
        let any: IpAddr = if v6 {
            std::net::Ipv6Addr::UNSPECIFIED.into()
        } else {
            std::net::Ipv4Addr::UNSPECIFIED.into()
        };
        let mut route = Route::to(IpPrefix {
            addr: any,
            len: msg.header.destination_prefix_length,
        });
        route.table = Some(u32::from(msg.header.table));
        route.scope = from_nl(msg.header.scope);
        for attr in msg.attributes {
            match attr {
                RouteAttribute::Destination(a) => route.destination.addr = ip_of(a)?,
                RouteAttribute::Gateway(a) => route.gateway = ip_of(a),
                RouteAttribute::PrefSource(a) => route.source = ip_of(a),
                RouteAttribute::Oif(index) => route.dev = names.get(&index).cloned(),
                RouteAttribute::Priority(metric) => route.metric = Some(metric),
                RouteAttribute::Table(table) => route.table = Some(table),
                RouteAttribute::Metrics(metrics) => {
                    route.mtu = metrics.into_iter().find_map(|m| match m {
                        RouteMetric::Mtu(mtu) => Some(mtu),
                        _ => None,
                    });
                }
                _ => {}
            }
        }
        Some(route)
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::Route;
    use crate::error::Result;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) enum Verb {
        Add,
        Replace,
        Del,
    }

    crate::netlink::unsupported_ops! {
        fn list(socket, table: u32) -> Result<Vec<Route>>;
        fn change(socket, route: &Route, verb: Verb) -> Result<()>;
    }
}
