//! `nsplug:netns/sysctl`: `ip netns exec NS sysctl`.

use wasmtime::component::Resource;

use super::generated::nsplug::netns::sysctl::Host;
use super::generated::nsplug::netns::types::ErrorCode;
use super::{HostError, NetnsHandle, StoreState};
use crate::ops::sysctl::{self as ops, SysctlKey};

impl Host for StoreState {
    fn get(&mut self, ns: Resource<NetnsHandle>, key: Vec<String>) -> Result<String, HostError> {
        let key = SysctlKey::new(key).map_err(HostError::from)?;
        let (executor, ns) = self.begin_read(&ns, "sysctl get")?;
        let result = ops::get(&executor, &ns, &key).map_err(HostError::from);
        self.after_op(result)
    }

    fn set(
        &mut self,
        ns: Resource<NetnsHandle>,
        key: Vec<String>,
        value: String,
    ) -> Result<(), HostError> {
        let key = SysctlKey::new(key).map_err(HostError::from)?;
        let handle = self.handle(&ns).map_err(HostError::Trap)?;
        let ns = handle.ns.clone();
        if let Err(denial) = self.plugin.grant.check_sysctl_write(&key) {
            let name = self.handle_name(&ns);
            return Err(self.deny(denial, &name, "sysctl set"));
        }
        if value.len() > ops::MAX_VALUE_LEN {
            return Err(ErrorCode::InvalidArgument.into());
        }
        self.spend(1)?;
        let executor = self.plugin.executor.clone();
        let result = ops::set(&executor, &ns, &key, &value).map_err(HostError::from);
        self.after_op(result)
    }
}
