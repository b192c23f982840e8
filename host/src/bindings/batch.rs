//! `nsplug:netns/batch`: several requests in one visit to a namespace.

use wasmtime::component::Resource;

use super::generated::nsplug::netns::batch::{Host, Request, Response};
use super::generated::nsplug::netns::namespace::BatchError;
use super::generated::nsplug::netns::types::{Address, ErrorCode, Link};
use super::{NetnsHandle, StoreState, address, link, neighbor, route, sysctl};
use crate::ops::batch::{Op, Outcome};
use crate::ops::sysctl::SysctlKey;

impl Host for StoreState {
    fn run(
        &mut self,
        ns: Resource<NetnsHandle>,
        requests: Vec<Request>,
    ) -> wasmtime::Result<Result<Vec<Response>, BatchError>> {
        if requests.len() > super::MAX_BATCH {
            return Ok(Err(batch_error(0, ErrorCode::LimitExceeded)));
        }
        let mut ops = Vec::with_capacity(requests.len());
        for (index, request) in requests.into_iter().enumerate() {
            match self.request_op(request) {
                Ok(op) => ops.push(op),
                Err(e) => return Ok(Err(batch_error(index, e.code().into()))),
            }
        }
        Ok(self
            .perform(&ns, ops)?
            .map(|outcomes| outcomes.into_iter().map(Response::from).collect())
            .map_err(|(index, code)| batch_error(index, code)))
    }
}

pub(super) fn batch_error(index: usize, code: ErrorCode) -> BatchError {
    BatchError {
        index: u32::try_from(index).unwrap_or(u32::MAX),
        code,
    }
}

impl StoreState {
    /// A request in host types, validated.
    fn request_op(&self, request: Request) -> crate::Result<Op> {
        Ok(match request {
            Request::LinkList => Op::LinkList,
            Request::LinkGet(name) => Op::LinkGet(name),
            Request::LinkListDetails => Op::LinkListDetails,
            Request::LinkDetails(name) => Op::LinkDetails(name),
            Request::LinkAdd(new) => self.link_add(new)?,
            Request::LinkSet(update) => {
                Op::LinkSet(update.name, link::host_changes(update.changes)?)
            }
            Request::LinkSetNetns(mv) => {
                let to = self.namespace(&mv.to).map_err(|_| {
                    crate::Error::invalid("namespace handle", "", "not a live handle")
                })?;
                Op::LinkSetNetns(mv.name, to)
            }
            Request::LinkDel(name) => Op::LinkDel(name),
            Request::AddressList => Op::AddressList,
            Request::AddressAdd(a) => {
                Op::AddressAdd(a.dev, a.address.parse()?, address::host_flags(a.flags))
            }
            Request::AddressDel(a) => Op::AddressDel(a.dev, a.address.parse()?),
            Request::RouteList(table) => Op::RouteList(table),
            Request::RouteAdd(r) => Op::RouteAdd(route::host_route(r)?),
            Request::RouteReplace(r) => Op::RouteReplace(route::host_route(r)?),
            Request::RouteDel(r) => Op::RouteDel(route::host_route(r)?),
            Request::NeighborList => Op::NeighborList,
            Request::NeighborSet(n) => neighbor::neighbor_set(n.dev, &n.address, &n.lladdr)?,
            Request::NeighborDel(n) => Op::NeighborDel(
                n.dev,
                crate::ops::parse_ip("neighbour address", &n.address)?,
            ),
            Request::SysctlGet(key) => Op::SysctlGet(SysctlKey::new(key)?),
            Request::SysctlSet(w) => sysctl::sysctl_set(w.key, w.value)?,
        })
    }
}

impl From<Outcome> for Response {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Links(links) => Response::Links(links.into_iter().map(Link::from).collect()),
            Outcome::Link(l) => Response::Link(l.into()),
            Outcome::AllDetails(all) => {
                Response::AllDetails(all.into_iter().map(Into::into).collect())
            }
            Outcome::Details(d) => Response::Details(d.into()),
            Outcome::Addresses(all) => {
                Response::Addresses(all.into_iter().map(Address::from).collect())
            }
            Outcome::Routes(all) => Response::Routes(all.into_iter().map(Into::into).collect()),
            Outcome::Neighbors(all) => {
                Response::Neighbors(all.into_iter().map(Into::into).collect())
            }
            Outcome::Value(v) => Response::Value(v),
            Outcome::Done => Response::Done,
        }
    }
}
