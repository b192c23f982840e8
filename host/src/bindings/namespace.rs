//! `nsplug:netns/namespace`: opening namespaces (policy-checked) and batches.

use wasmtime::component::Resource;

use super::batch::batch_error;
use super::generated::nsplug::netns::namespace::{BatchError, Host, HostNetns, Op, OpResult};
use super::generated::nsplug::netns::types::{Address, ErrorCode, Link};
use super::{HostError, NetnsHandle, StoreState};
use crate::netns::validate_name;
use crate::ops::batch::{Op as HostOp, Outcome};
use crate::ops::sysctl::SysctlKey;
use crate::policy::Denial;

impl StoreState {
    fn push_handle(&mut self, handle: NetnsHandle) -> Result<Resource<NetnsHandle>, HostError> {
        let limit = self.plugin.grant.policy().limits.open_namespaces;
        if self.open_handles >= limit {
            tracing::warn!(plugin = %self.plugin.name, limit, "too many open namespace handles");
            return Err(ErrorCode::LimitExceeded.into());
        }
        let resource = self
            .table
            .push(handle)
            .map_err(|e| HostError::Trap(e.into()))?;
        self.open_handles += 1;
        Ok(resource)
    }
}

impl HostNetns for StoreState {
    fn open(&mut self, name: String) -> Result<Resource<NetnsHandle>, HostError> {
        // A malformed name is the guest's mistake whatever the policy says.
        validate_name(&name).map_err(HostError::from)?;
        if let Err(denial) = self.plugin.grant.check_namespace(&name) {
            return Err(self.deny(denial, &name, "namespace open"));
        }
        self.spend(1)?;
        let ns = self.plugin.executor.open(&name).map_err(HostError::from)?;
        self.push_handle(NetnsHandle { ns, name })
    }

    fn host(&mut self) -> Result<Resource<NetnsHandle>, HostError> {
        if let Err(denial) = self.plugin.grant.check_host() {
            return Err(self.deny(denial, "host", "namespace host"));
        }
        self.spend(1)?;
        let ns = self.plugin.executor.host().clone();
        self.push_handle(NetnsHandle {
            ns,
            name: "host".to_owned(),
        })
    }

    fn create(&mut self, name: String) -> Result<Resource<NetnsHandle>, HostError> {
        validate_name(&name).map_err(HostError::from)?;
        if let Err(denial) = self.plugin.grant.check_lifecycle(&name) {
            return Err(self.deny(denial, &name, "namespace create"));
        }
        self.spend(1)?;
        let created = self.plugin.executor.create_namespace(&name);
        self.check_thread().map_err(HostError::Trap)?;
        let ns = created.map_err(HostError::from)?;
        self.push_handle(NetnsHandle { ns, name })
    }

    fn open_path(&mut self, path: String) -> Result<Resource<NetnsHandle>, HostError> {
        let granted = self
            .path_grants
            .iter()
            .find(|(granted, _)| *granted == path)
            .map(|(_, ns)| ns.clone());
        let Some(ns) = granted else {
            let denial = Denial::PathNotGranted(path.clone());
            return Err(self.deny(denial, &path, "namespace open-path"));
        };
        self.spend(1)?;
        // The grant pinned the namespace when the call began; a path deleted since is gone.
        ns.check_current().map_err(HostError::from)?;
        self.push_handle(NetnsHandle { ns, name: path })
    }

    fn name(&mut self, ns: Resource<NetnsHandle>) -> wasmtime::Result<String> {
        Ok(self.handle(&ns)?.name.clone())
    }

    /// The 0.1.0 batch: a thin adapter over the one batch path (`batch.run`).
    fn batch(
        &mut self,
        ns: Resource<NetnsHandle>,
        ops: Vec<Op>,
    ) -> wasmtime::Result<Result<Vec<OpResult>, BatchError>> {
        if ops.len() > super::MAX_BATCH {
            return Ok(Err(batch_error(0, ErrorCode::LimitExceeded)));
        }
        let mut plan = Vec::with_capacity(ops.len());
        for (index, op) in ops.into_iter().enumerate() {
            let planned = match op {
                Op::LinkList => Ok(HostOp::LinkList),
                Op::LinkGet(name) => Ok(HostOp::LinkGet(name)),
                Op::AddressList => Ok(HostOp::AddressList),
                Op::SysctlGet(key) => SysctlKey::new(key).map(HostOp::SysctlGet),
                Op::SysctlSet((key, value)) => super::sysctl::sysctl_set(key, value),
            };
            match planned {
                Ok(op) => plan.push(op),
                Err(e) => return Ok(Err(batch_error(index, e.code().into()))),
            }
        }
        Ok(self
            .perform(&ns, plan)?
            .map(|outcomes| outcomes.into_iter().map(op_result).collect())
            .map_err(|(index, code)| batch_error(index, code)))
    }

    fn drop(&mut self, ns: Resource<NetnsHandle>) -> wasmtime::Result<()> {
        self.table.delete(ns)?;
        self.open_handles = self.open_handles.saturating_sub(1);
        Ok(())
    }
}

impl Host for StoreState {
    fn delete(&mut self, name: String) -> Result<(), HostError> {
        validate_name(&name).map_err(HostError::from)?;
        if let Err(denial) = self.plugin.grant.check_lifecycle(&name) {
            return Err(self.deny(denial, &name, "namespace delete"));
        }
        self.spend(1)?;
        self.plugin
            .executor
            .delete_namespace(&name)
            .map_err(HostError::from)
    }

    fn granted(&mut self) -> wasmtime::Result<Vec<String>> {
        let policy = self.plugin.grant.policy();
        let mut names = std::collections::BTreeSet::new();
        for dir in self.plugin.executor.namespace_dirs().dirs() {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if validate_name(&name).is_ok() && policy.grants_namespace(&name) {
                    names.insert(name);
                }
            }
        }
        Ok(names.into_iter().collect())
    }
}

/// A 0.2-shaped outcome as a 0.1.0 `op-result` (0.1.0 ops only produce these shapes).
fn op_result(outcome: Outcome) -> OpResult {
    match outcome {
        Outcome::Links(links) => OpResult::Links(links.into_iter().map(Link::from).collect()),
        Outcome::Link(l) => OpResult::Link(l.into()),
        Outcome::Addresses(all) => {
            OpResult::Addresses(all.into_iter().map(Address::from).collect())
        }
        Outcome::Value(v) => OpResult::Value(v),
        _ => OpResult::Done,
    }
}
