//! `nsplug:netns/link`: `ip link`.

use wasmtime::component::Resource;

use super::generated::nsplug::netns::link::Host;
use super::generated::nsplug::netns::types::Link;
use super::{HostError, NetnsHandle, StoreState};
use crate::ops::link as ops;
use crate::policy::OpClass;

impl Host for StoreState {
    fn list(&mut self, ns: Resource<NetnsHandle>) -> Result<Vec<Link>, HostError> {
        let (executor, ns) = self.begin_read(&ns, "link list")?;
        let result = ops::list(&executor, &ns)
            .map(|links| links.into_iter().map(Link::from).collect())
            .map_err(HostError::from);
        self.after_op(result)
    }

    fn get(&mut self, ns: Resource<NetnsHandle>, name: String) -> Result<Link, HostError> {
        let (executor, ns) = self.begin_read(&ns, "link get")?;
        let result = ops::get(&executor, &ns, &name)
            .map(Link::from)
            .map_err(HostError::from);
        self.after_op(result)
    }
}

impl StoreState {
    /// Policy and budget for one read op; the executor and namespace to run it with.
    pub(super) fn begin_read(
        &mut self,
        ns: &Resource<NetnsHandle>,
        op: &str,
    ) -> Result<(crate::Executor, crate::Namespace), HostError> {
        let handle = self.handle(ns).map_err(HostError::Trap)?;
        let ns = handle.ns.clone();
        if let Err(denial) = self.plugin.grant.check_class(OpClass::Read) {
            let name = self.handle_name(&ns);
            return Err(self.deny(denial, &name, op));
        }
        self.spend(1)?;
        Ok((self.plugin.executor.clone(), ns))
    }

    pub(super) fn handle_name(&self, ns: &crate::Namespace) -> String {
        ns.name().map_or_else(|| ns.to_string(), str::to_owned)
    }
}

impl From<crate::ops::link::Link> for Link {
    fn from(l: crate::ops::link::Link) -> Self {
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
