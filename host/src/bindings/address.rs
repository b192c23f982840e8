//! `nsplug:netns/address`: `ip address`.

use wasmtime::component::Resource;

use super::generated::nsplug::netns::address::{AddressFlags, Host};
use super::generated::nsplug::netns::types::Address;
use super::{HostError, NetnsHandle, StoreState};
use crate::ops::address as host;
use crate::ops::batch::{Op, Outcome};

impl Host for StoreState {
    fn list(&mut self, ns: Resource<NetnsHandle>) -> Result<Vec<Address>, HostError> {
        match self.perform_one(&ns, Op::AddressList)? {
            Outcome::Addresses(all) => Ok(all.into_iter().map(Address::from).collect()),
            _ => Err(HostError::unexpected()),
        }
    }

    fn add(
        &mut self,
        ns: Resource<NetnsHandle>,
        dev: String,
        address: String,
        flags: AddressFlags,
    ) -> Result<(), HostError> {
        let prefix = address.parse().map_err(HostError::from)?;
        self.perform_done(&ns, Op::AddressAdd(dev, prefix, host_flags(flags)))
    }

    fn del(
        &mut self,
        ns: Resource<NetnsHandle>,
        dev: String,
        address: String,
    ) -> Result<(), HostError> {
        let prefix = address.parse().map_err(HostError::from)?;
        self.perform_done(&ns, Op::AddressDel(dev, prefix))
    }
}

/// `address-flags` in host types.
pub(super) fn host_flags(flags: AddressFlags) -> host::AddressFlags {
    host::AddressFlags::new(
        flags.contains(AddressFlags::NODAD),
        flags.contains(AddressFlags::NOPREFIXROUTE),
    )
}

impl From<host::Address> for Address {
    fn from(a: host::Address) -> Self {
        Address {
            index: a.index,
            address: a.address.to_string(),
            prefix_len: a.prefix_len,
            ipv6: a.address.is_ipv6(),
            scope: a.scope,
            label: a.label,
        }
    }
}
