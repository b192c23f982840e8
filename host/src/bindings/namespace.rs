//! `nsplug:netns/namespace`: opening namespaces (policy-checked) and batches.

use wasmtime::component::Resource;

use super::generated::nsplug::netns::namespace::{BatchError, Host, HostNetns, Op, OpResult};
use super::generated::nsplug::netns::types::{Address, ErrorCode, Link};
use super::{HostError, NetnsHandle, StoreState};
use crate::netns::validate_name;
use crate::ops::{address, link, sysctl};
use crate::policy::OpClass;

/// Longest batch accepted, whatever the policy's operation budget.
pub(crate) const MAX_BATCH: usize = 4096;

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

    fn name(&mut self, ns: Resource<NetnsHandle>) -> wasmtime::Result<String> {
        Ok(self.handle(&ns)?.name.clone())
    }

    fn batch(
        &mut self,
        ns: Resource<NetnsHandle>,
        ops: Vec<Op>,
    ) -> wasmtime::Result<Result<Vec<OpResult>, BatchError>> {
        let fail = |index: usize, code: ErrorCode| {
            Ok(Err(BatchError {
                index: index as u32,
                code,
            }))
        };
        let handle = self.handle(&ns)?;
        let (target, name) = (handle.ns.clone(), handle.name.clone());
        if ops.len() > MAX_BATCH {
            tracing::warn!(plugin = %self.plugin.name, len = ops.len(), "batch too long");
            return fail(0, ErrorCode::LimitExceeded);
        }
        // Check the whole batch before anything runs.
        let mut plan = Vec::with_capacity(ops.len());
        for (index, op) in ops.into_iter().enumerate() {
            let planned = match op {
                Op::LinkList => Planned::LinkList,
                Op::LinkGet(ifname) => match link::validate_ifname(&ifname) {
                    Ok(()) => Planned::LinkGet(ifname),
                    Err(_) => return fail(index, ErrorCode::InvalidArgument),
                },
                Op::AddressList => Planned::AddressList,
                Op::SysctlGet(key) => match sysctl::SysctlKey::new(key) {
                    Ok(key) => Planned::SysctlGet(key),
                    Err(_) => return fail(index, ErrorCode::InvalidArgument),
                },
                Op::SysctlSet((key, value)) => match sysctl::SysctlKey::new(key) {
                    Ok(key) if value.len() <= sysctl::MAX_VALUE_LEN => {
                        Planned::SysctlSet(key, value)
                    }
                    _ => return fail(index, ErrorCode::InvalidArgument),
                },
            };
            let allowed = match &planned {
                Planned::SysctlSet(key, _) => self.plugin.grant.check_sysctl_write(key),
                _ => self.plugin.grant.check_class(OpClass::Read),
            };
            if let Err(denial) = allowed {
                self.deny(denial, &name, planned.op_name());
                return fail(index, ErrorCode::DeniedByPolicy);
            }
            plan.push(planned);
        }
        if let Err(HostError::Code(code)) = self.spend(plan.len() as u64) {
            return fail(0, code);
        }

        // One visit to the namespace: the whole batch is one executor job (inline on the
        // thread running this call); the netlink ops use the socket bound to the namespace.
        let executor = self.plugin.executor.clone();
        let job_ns = target.clone();
        let ran = executor.run(&target, {
            let executor = executor.clone();
            move || run_plan(&executor, &job_ns, plan)
        });
        let result = match ran {
            Ok(done) => match done.into_value() {
                Ok(results) => Ok(results),
                Err((index, e)) => Err(BatchError {
                    index: index as u32,
                    code: HostError::from(e).code_or_io(),
                }),
            },
            Err(e) => Err(BatchError {
                index: 0,
                code: HostError::from(e).code_or_io(),
            }),
        };
        match self.after_op(Ok(())) {
            Ok(()) => Ok(result),
            Err(HostError::Trap(trap)) => Err(trap),
            Err(HostError::Code(_)) => Ok(result),
        }
    }

    fn drop(&mut self, ns: Resource<NetnsHandle>) -> wasmtime::Result<()> {
        self.table.delete(ns)?;
        self.open_handles = self.open_handles.saturating_sub(1);
        Ok(())
    }
}

impl Host for StoreState {
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

impl HostError {
    fn code_or_io(self) -> ErrorCode {
        match self {
            HostError::Code(code) => code,
            HostError::Trap(_) => ErrorCode::Io,
        }
    }
}

/// A batch op after validation, in host types.
enum Planned {
    LinkList,
    LinkGet(String),
    AddressList,
    SysctlGet(sysctl::SysctlKey),
    SysctlSet(sysctl::SysctlKey, String),
}

impl Planned {
    fn op_name(&self) -> &'static str {
        match self {
            Planned::LinkList => "link list",
            Planned::LinkGet(_) => "link get",
            Planned::AddressList => "address list",
            Planned::SysctlGet(_) => "sysctl get",
            Planned::SysctlSet(..) => "sysctl set",
        }
    }
}

/// Runs a checked batch inside the namespace; stops at the first failure.
fn run_plan(
    executor: &crate::Executor,
    ns: &crate::Namespace,
    plan: Vec<Planned>,
) -> Result<Vec<OpResult>, (usize, crate::Error)> {
    let mut results = Vec::with_capacity(plan.len());
    for (index, op) in plan.into_iter().enumerate() {
        let result = match op {
            Planned::LinkList => link::list(executor, ns)
                .map(|links| OpResult::Links(links.into_iter().map(Link::from).collect())),
            Planned::LinkGet(name) => {
                link::get(executor, ns, &name).map(|l| OpResult::Link(Link::from(l)))
            }
            Planned::AddressList => address::list(executor, ns).map(|addresses| {
                OpResult::Addresses(addresses.into_iter().map(Address::from).collect())
            }),
            Planned::SysctlGet(key) => sysctl::get(executor, ns, &key).map(OpResult::Value),
            Planned::SysctlSet(key, value) => {
                sysctl::set(executor, ns, &key, &value).map(|()| OpResult::Done)
            }
        };
        results.push(result.map_err(|e| (index, e))?);
    }
    Ok(results)
}
