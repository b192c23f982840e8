//! Batches: several operations in one visit to a namespace, in host types.
//!
//! Every operation a plugin asks for, single or batched, becomes an [`Op`] and runs through
//! [`run`]: one policy check path (the caller checks each `Op` before any runs), one execution
//! path. Netlink operations use the socket cached for the namespace and need no namespace switch;
//! if the batch holds two or more operations that must run inside the namespace (sysctls), the
//! whole batch runs as one executor job there — one `setns` pair however long it is.

use std::net::IpAddr;

use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::netns::Namespace;
use crate::ops::address::{self, Address, AddressFlags};
use crate::ops::link::{self, Link, LinkChanges, LinkDetails, NewLink};
use crate::ops::neighbor::{self, Neighbor};
use crate::ops::route::{self, Route};
use crate::ops::sysctl::{self, SysctlKey};
use crate::ops::{IpPrefix, MacAddr};
use crate::policy::OpClass;

/// One operation on a namespace. Each variant is the function of the same name in [`crate::ops`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Op {
    /// [`link::list`].
    LinkList,
    /// [`link::get`].
    LinkGet(String),
    /// [`link::list_details`].
    LinkListDetails,
    /// [`link::details`].
    LinkDetails(String),
    /// [`link::add`].
    LinkAdd(NewLink),
    /// [`link::set`].
    LinkSet(String, LinkChanges),
    /// [`link::set_netns`].
    LinkSetNetns(String, Namespace),
    /// [`link::del`].
    LinkDel(String),
    /// [`address::list`].
    AddressList,
    /// [`address::add`].
    AddressAdd(String, IpPrefix, AddressFlags),
    /// [`address::del`].
    AddressDel(String, IpPrefix),
    /// [`route::list`].
    RouteList(Option<u32>),
    /// [`route::add`].
    RouteAdd(Route),
    /// [`route::replace`].
    RouteReplace(Route),
    /// [`route::del`].
    RouteDel(Route),
    /// [`neighbor::list`].
    NeighborList,
    /// [`neighbor::set`].
    NeighborSet(String, IpAddr, MacAddr),
    /// [`neighbor::del`].
    NeighborDel(String, IpAddr),
    /// [`sysctl::get`].
    SysctlGet(SysctlKey),
    /// [`sysctl::set`].
    SysctlSet(SysctlKey, String),
}

/// The result of one [`Op`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Of [`Op::LinkList`].
    Links(Vec<Link>),
    /// Of [`Op::LinkGet`].
    Link(Link),
    /// Of [`Op::LinkListDetails`].
    AllDetails(Vec<LinkDetails>),
    /// Of [`Op::LinkDetails`].
    Details(LinkDetails),
    /// Of [`Op::AddressList`].
    Addresses(Vec<Address>),
    /// Of [`Op::RouteList`].
    Routes(Vec<Route>),
    /// Of [`Op::NeighborList`].
    Neighbors(Vec<Neighbor>),
    /// Of [`Op::SysctlGet`].
    Value(String),
    /// Of an operation with no value.
    Done,
}

/// Which operation of a batch failed, and why. Operations before it ran (and are not undone);
/// operations after it did not. A batch that could not enter its namespace fails at index 0
/// with nothing run.
#[derive(Debug, thiserror::Error)]
#[error("operation {index} of the batch failed")]
pub struct BatchFailure {
    /// Position of the failing operation.
    pub index: usize,
    /// Why it failed.
    #[source]
    pub error: Error,
}

impl Op {
    /// The operation class a policy must grant (and the plugin declare) for it.
    pub fn class(&self) -> OpClass {
        match self {
            Op::LinkList
            | Op::LinkGet(_)
            | Op::LinkListDetails
            | Op::LinkDetails(_)
            | Op::AddressList
            | Op::RouteList(_)
            | Op::NeighborList
            | Op::SysctlGet(_) => OpClass::Read,
            Op::LinkAdd(_) | Op::LinkSet(..) | Op::LinkSetNetns(..) | Op::LinkDel(_) => {
                OpClass::Link
            }
            Op::AddressAdd(..) | Op::AddressDel(..) => OpClass::Address,
            Op::RouteAdd(_) | Op::RouteReplace(_) | Op::RouteDel(_) => OpClass::Route,
            Op::NeighborSet(..) | Op::NeighborDel(..) => OpClass::Neighbor,
            Op::SysctlSet(..) => OpClass::Sysctl,
        }
    }

    /// Whether it changes anything.
    pub fn writes(&self) -> bool {
        self.class() != OpClass::Read
    }

    /// The namespaces it touches besides the one it runs in (a new link's target, a veth
    /// peer's namespace, where a link moves to).
    pub fn other_namespaces(&self) -> Vec<&Namespace> {
        match self {
            Op::LinkAdd(new) => new.other_namespaces().collect(),
            Op::LinkSetNetns(_, to) => vec![to],
            _ => Vec::new(),
        }
    }

    /// Its name in `ip` terms, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Op::LinkList => "link show",
            Op::LinkGet(_) => "link show dev",
            Op::LinkListDetails => "link show -d -s",
            Op::LinkDetails(_) => "link show -d -s dev",
            Op::LinkAdd(_) => "link add",
            Op::LinkSet(..) => "link set",
            Op::LinkSetNetns(..) => "link set netns",
            Op::LinkDel(_) => "link del",
            Op::AddressList => "address show",
            Op::AddressAdd(..) => "address add",
            Op::AddressDel(..) => "address del",
            Op::RouteList(_) => "route show",
            Op::RouteAdd(_) => "route add",
            Op::RouteReplace(_) => "route replace",
            Op::RouteDel(_) => "route del",
            Op::NeighborList => "neighbour show",
            Op::NeighborSet(..) => "neighbour replace",
            Op::NeighborDel(..) => "neighbour del",
            Op::SysctlGet(_) => "sysctl get",
            Op::SysctlSet(..) => "sysctl set",
        }
    }

    /// Whether it must run on a thread inside the namespace (sysctl files follow the opening
    /// thread's namespace; netlink goes through the namespace's own socket).
    fn needs_thread_inside(&self) -> bool {
        matches!(self, Op::SysctlGet(_) | Op::SysctlSet(..))
    }

    /// Runs it in `ns`.
    pub fn run(&self, executor: &Executor, ns: &Namespace) -> Result<Outcome> {
        Ok(match self {
            Op::LinkList => Outcome::Links(link::list(executor, ns)?),
            Op::LinkGet(name) => Outcome::Link(link::get(executor, ns, name)?),
            Op::LinkListDetails => Outcome::AllDetails(link::list_details(executor, ns)?),
            Op::LinkDetails(name) => Outcome::Details(link::details(executor, ns, name)?),
            Op::LinkAdd(new) => done(link::add(executor, ns, new))?,
            Op::LinkSet(name, changes) => done(link::set(executor, ns, name, changes))?,
            Op::LinkSetNetns(name, to) => done(link::set_netns(executor, ns, name, to))?,
            Op::LinkDel(name) => done(link::del(executor, ns, name))?,
            Op::AddressList => Outcome::Addresses(address::list(executor, ns)?),
            Op::AddressAdd(dev, prefix, flags) => {
                done(address::add(executor, ns, dev, *prefix, *flags))?
            }
            Op::AddressDel(dev, prefix) => done(address::del(executor, ns, dev, *prefix))?,
            Op::RouteList(table) => Outcome::Routes(route::list(executor, ns, *table)?),
            Op::RouteAdd(r) => done(route::add(executor, ns, r))?,
            Op::RouteReplace(r) => done(route::replace(executor, ns, r))?,
            Op::RouteDel(r) => done(route::del(executor, ns, r))?,
            Op::NeighborList => Outcome::Neighbors(neighbor::list(executor, ns)?),
            Op::NeighborSet(dev, ip, mac) => done(neighbor::set(executor, ns, dev, *ip, *mac))?,
            Op::NeighborDel(dev, ip) => done(neighbor::del(executor, ns, dev, *ip))?,
            Op::SysctlGet(key) => Outcome::Value(sysctl::get(executor, ns, key)?),
            Op::SysctlSet(key, value) => done(sysctl::set(executor, ns, key, value))?,
        })
    }
}

fn done(result: Result<()>) -> Result<Outcome> {
    result.map(|()| Outcome::Done)
}

/// Runs `ops` in order in `ns`, stopping at the first failure. The caller has checked them
/// against its policy.
pub fn run(
    executor: &Executor,
    ns: &Namespace,
    ops: Vec<Op>,
) -> std::result::Result<Vec<Outcome>, BatchFailure> {
    // One job for the whole batch pays off when two or more operations must run inside the
    // namespace (they share one setns pair); a single one enters by itself.
    if ops.iter().filter(|op| op.needs_thread_inside()).count() < 2 {
        return run_here(executor, ns, &ops);
    }
    let (job_executor, job_ns) = (executor.clone(), ns.clone());
    match executor.run(ns, move || run_here(&job_executor, &job_ns, &ops)) {
        Ok(done) => done.into_value(),
        Err(error) => Err(BatchFailure { index: 0, error }),
    }
}

fn run_here(
    executor: &Executor,
    ns: &Namespace,
    ops: &[Op],
) -> std::result::Result<Vec<Outcome>, BatchFailure> {
    ops.iter()
        .enumerate()
        .map(|(index, op)| {
            op.run(executor, ns)
                .map_err(|error| BatchFailure { index, error })
        })
        .collect()
}
