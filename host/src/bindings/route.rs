//! `nsplug:netns/route`: `ip route`.

use wasmtime::component::Resource;

use super::generated::nsplug::netns::route::{Host, Route, Scope};
use super::{HostError, NetnsHandle, StoreState};
use crate::ops::batch::{Op, Outcome};
use crate::ops::{self, route as host};

impl Host for StoreState {
    fn list(
        &mut self,
        ns: Resource<NetnsHandle>,
        table: Option<u32>,
    ) -> Result<Vec<Route>, HostError> {
        match self.perform_one(&ns, Op::RouteList(table))? {
            Outcome::Routes(all) => Ok(all.into_iter().map(Route::from).collect()),
            _ => Err(HostError::unexpected()),
        }
    }

    fn add(&mut self, ns: Resource<NetnsHandle>, route: Route) -> Result<(), HostError> {
        let route = host_route(route).map_err(HostError::from)?;
        self.perform_done(&ns, Op::RouteAdd(route))
    }

    fn replace(&mut self, ns: Resource<NetnsHandle>, route: Route) -> Result<(), HostError> {
        let route = host_route(route).map_err(HostError::from)?;
        self.perform_done(&ns, Op::RouteReplace(route))
    }

    fn del(&mut self, ns: Resource<NetnsHandle>, route: Route) -> Result<(), HostError> {
        let route = host_route(route).map_err(HostError::from)?;
        self.perform_done(&ns, Op::RouteDel(route))
    }
}

/// A `route` in host types.
pub(super) fn host_route(r: Route) -> crate::Result<host::Route> {
    let ip = |s: Option<String>, what| s.map(|s| ops::parse_ip(what, &s)).transpose();
    let mut out = host::Route::to(r.destination.parse()?);
    out.gateway = ip(r.gateway, "gateway")?;
    out.dev = r.dev;
    out.source = ip(r.source, "source address")?;
    out.metric = r.metric;
    out.table = r.table;
    out.scope = r.scope.map(|s| match s {
        Scope::Global => host::RouteScope::Global,
        Scope::Site => host::RouteScope::Site,
        Scope::Link => host::RouteScope::Link,
        Scope::Host => host::RouteScope::Host,
        Scope::Nowhere => host::RouteScope::Nowhere,
    });
    out.mtu = r.mtu;
    Ok(out)
}

impl From<host::Route> for Route {
    fn from(r: host::Route) -> Self {
        Route {
            destination: r.destination.to_string(),
            gateway: r.gateway.map(|ip| ip.to_string()),
            dev: r.dev,
            source: r.source.map(|ip| ip.to_string()),
            metric: r.metric,
            table: r.table,
            scope: r.scope.map(|s| match s {
                host::RouteScope::Global => Scope::Global,
                host::RouteScope::Site => Scope::Site,
                host::RouteScope::Link => Scope::Link,
                host::RouteScope::Host => Scope::Host,
                host::RouteScope::Nowhere => Scope::Nowhere,
            }),
            mtu: r.mtu,
        }
    }
}
