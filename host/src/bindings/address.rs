//! `nsplug:netns/address`: `ip address`.

use wasmtime::component::Resource;

use super::generated::nsplug::netns::address::Host;
use super::generated::nsplug::netns::types::Address;
use super::{HostError, NetnsHandle, StoreState};
use crate::ops::address as ops;

impl Host for StoreState {
    fn list(&mut self, ns: Resource<NetnsHandle>) -> Result<Vec<Address>, HostError> {
        let (executor, ns) = self.begin_read(&ns, "address list")?;
        let result = ops::list(&executor, &ns)
            .map(|addresses| addresses.into_iter().map(Address::from).collect())
            .map_err(HostError::from);
        self.after_op(result)
    }
}

impl From<crate::ops::address::Address> for Address {
    fn from(a: crate::ops::address::Address) -> Self {
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
