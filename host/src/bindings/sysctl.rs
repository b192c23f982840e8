//! `nsplug:netns/sysctl`: `ip netns exec NS sysctl`.

use wasmtime::component::Resource;

use super::generated::nsplug::netns::sysctl::Host;
use super::{HostError, NetnsHandle, StoreState};
use crate::ops::batch::{Op, Outcome};
use crate::ops::sysctl::{self as host, SysctlKey};

impl Host for StoreState {
    fn get(&mut self, ns: Resource<NetnsHandle>, key: Vec<String>) -> Result<String, HostError> {
        let key = SysctlKey::new(key).map_err(HostError::from)?;
        match self.perform_one(&ns, Op::SysctlGet(key))? {
            Outcome::Value(value) => Ok(value),
            _ => Err(HostError::unexpected()),
        }
    }

    fn set(
        &mut self,
        ns: Resource<NetnsHandle>,
        key: Vec<String>,
        value: String,
    ) -> Result<(), HostError> {
        let op = sysctl_set(key, value).map_err(HostError::from)?;
        self.perform_done(&ns, op)
    }
}

/// A sysctl write in host types, validated (key under `net/`, value length).
pub(super) fn sysctl_set(key: Vec<String>, value: String) -> crate::Result<Op> {
    let key = SysctlKey::new(key)?;
    host::validate_value(&key, &value)?;
    Ok(Op::SysctlSet(key, value))
}
