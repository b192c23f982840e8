//! `nsplug:netns/neighbor`: `ip neighbour`.

use wasmtime::component::Resource;

use super::generated::nsplug::netns::neighbor::{Host, Neighbor};
use super::{HostError, NetnsHandle, StoreState};
use crate::ops::batch::{Op, Outcome};
use crate::ops::{self, neighbor as host};

impl Host for StoreState {
    fn list(&mut self, ns: Resource<NetnsHandle>) -> Result<Vec<Neighbor>, HostError> {
        match self.perform_one(&ns, Op::NeighborList)? {
            Outcome::Neighbors(all) => Ok(all.into_iter().map(Neighbor::from).collect()),
            _ => Err(HostError::unexpected()),
        }
    }

    fn set(
        &mut self,
        ns: Resource<NetnsHandle>,
        dev: String,
        address: String,
        lladdr: String,
    ) -> Result<(), HostError> {
        let op = neighbor_set(dev, &address, &lladdr).map_err(HostError::from)?;
        self.perform_done(&ns, op)
    }

    fn del(
        &mut self,
        ns: Resource<NetnsHandle>,
        dev: String,
        address: String,
    ) -> Result<(), HostError> {
        let ip = ops::parse_ip("neighbour address", &address).map_err(HostError::from)?;
        self.perform_done(&ns, Op::NeighborDel(dev, ip))
    }
}

/// A permanent neighbour entry in host types.
pub(super) fn neighbor_set(dev: String, address: &str, lladdr: &str) -> crate::Result<Op> {
    let ip = ops::parse_ip("neighbour address", address)?;
    Ok(Op::NeighborSet(dev, ip, lladdr.parse()?))
}

impl From<host::Neighbor> for Neighbor {
    fn from(n: host::Neighbor) -> Self {
        Neighbor {
            dev: n.dev,
            address: n.address.to_string(),
            lladdr: n.lladdr,
            state: n.state,
        }
    }
}
