//! The WIT glue: the one `bindgen!` of the crate, and the host side of every `nsplug:netns`
//! interface, one file each. Glue converts types, checks policy, submits work and maps errors;
//! it holds no logic of its own.
//!
//! Policy denials and kernel errors are `error-code` values returned to the guest, never traps.
//! Traps are for contract violations (a dropped handle, which the component model itself
//! catches) and for an executor thread that lost its namespace under a call.

mod address;
mod batch;
mod link;
mod log;
mod namespace;
mod neighbor;
mod route;
mod sysctl;

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker, Resource, ResourceTable};
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::error::ErrorCode as HostCode;
use crate::netns::Namespace;
use crate::ops::batch::{Op, Outcome};
use crate::policy::Denial;
use crate::runtime::{CallContext, PluginShared};

/// Longest batch accepted, whatever the policy's operation budget.
pub(crate) const MAX_BATCH: usize = 4096;

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "nsplug:netns/plugin",
        imports: { default: trappable },
        trappable_error_type: {
            "nsplug:netns/types.error-code" => super::HostError,
        },
        with: {
            "nsplug:netns/namespace.netns": super::NetnsHandle,
        },
        require_store_data_send: true,
    });
}

pub(crate) use generated::Plugin as PluginBindings;
pub(crate) use generated::PluginPre;
pub(crate) use generated::nsplug::netns::types::{ErrorCode, OpClass as WitOpClass};

/// Bytes of guest stdout or stderr kept per call (more is refused to the guest).
const OUTPUT_CAPACITY: usize = 64 * 1024;

/// An error from a host function: a code for the guest, or a trap.
#[derive(Debug)]
pub(crate) enum HostError {
    Code(ErrorCode),
    Trap(wasmtime::Error),
}

impl HostError {
    /// An outcome of the wrong shape for its operation: a host bug, reported as `io`.
    fn unexpected() -> HostError {
        tracing::error!("host operation returned an outcome of the wrong kind");
        HostError::Code(ErrorCode::Io)
    }
}

impl From<ErrorCode> for HostError {
    fn from(code: ErrorCode) -> Self {
        HostError::Code(code)
    }
}

impl From<crate::Error> for HostError {
    fn from(e: crate::Error) -> Self {
        tracing::debug!(error = %e, "host operation failed");
        HostError::Code(e.code().into())
    }
}

impl From<HostCode> for ErrorCode {
    fn from(code: HostCode) -> Self {
        match code {
            HostCode::DeniedByPolicy => ErrorCode::DeniedByPolicy,
            HostCode::PermissionDenied => ErrorCode::PermissionDenied,
            HostCode::NotFound => ErrorCode::NotFound,
            HostCode::AlreadyExists => ErrorCode::AlreadyExists,
            HostCode::InvalidArgument => ErrorCode::InvalidArgument,
            HostCode::NotSupported => ErrorCode::NotSupported,
            HostCode::TimedOut => ErrorCode::TimedOut,
            HostCode::Busy => ErrorCode::Busy,
            HostCode::ResourceExhausted => ErrorCode::ResourceExhausted,
            HostCode::LimitExceeded => ErrorCode::LimitExceeded,
            HostCode::Io => ErrorCode::Io,
        }
    }
}

impl From<ErrorCode> for HostCode {
    fn from(code: ErrorCode) -> Self {
        match code {
            ErrorCode::DeniedByPolicy => HostCode::DeniedByPolicy,
            ErrorCode::PermissionDenied => HostCode::PermissionDenied,
            ErrorCode::NotFound => HostCode::NotFound,
            ErrorCode::AlreadyExists => HostCode::AlreadyExists,
            ErrorCode::InvalidArgument => HostCode::InvalidArgument,
            ErrorCode::NotSupported => HostCode::NotSupported,
            ErrorCode::TimedOut => HostCode::TimedOut,
            ErrorCode::Busy => HostCode::Busy,
            ErrorCode::ResourceExhausted => HostCode::ResourceExhausted,
            ErrorCode::LimitExceeded => HostCode::LimitExceeded,
            ErrorCode::Io => HostCode::Io,
        }
    }
}

impl From<WitOpClass> for crate::policy::OpClass {
    fn from(c: WitOpClass) -> Self {
        use crate::policy::OpClass;
        match c {
            WitOpClass::Read => OpClass::Read,
            WitOpClass::Link => OpClass::Link,
            WitOpClass::Address => OpClass::Address,
            WitOpClass::Route => OpClass::Route,
            WitOpClass::Neighbor => OpClass::Neighbor,
            WitOpClass::Sysctl => OpClass::Sysctl,
            WitOpClass::Namespace => OpClass::Namespace,
        }
    }
}

/// The host side of a guest's `netns` resource: the capability to ask for work in `ns`.
#[derive(Debug)]
#[expect(
    unreachable_pub,
    reason = "bindgen! re-exports it from the generated module"
)]
pub struct NetnsHandle {
    pub(crate) ns: Namespace,
    pub(crate) name: String,
}

/// Everything one call's `Store` holds.
pub(crate) struct StoreState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: StoreLimits,
    pub(crate) plugin: Arc<PluginShared>,
    /// Namespaces this call may open by path (`open-path`), with the path granted.
    pub(crate) path_grants: Vec<(String, Namespace)>,
    ops_left: u64,
    open_handles: u32,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl StoreState {
    /// A fresh state: the call's WASI context (no sockets, environment or arguments; no files
    /// but the directories granted for the call) whose stdout and stderr are captured for the
    /// log, the namespaces granted by path, and the plugin's limits.
    pub(crate) fn new(plugin: Arc<PluginShared>, context: CallContext) -> StoreState {
        let stdout = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let stderr = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let CallContext {
            wasi: mut builder,
            namespaces,
        } = context;
        let wasi = builder
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build();
        let limits = plugin.grant.policy().limits;
        StoreState {
            wasi,
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .instances(64)
                .memories(16)
                .tables(64)
                .table_elements(1 << 20)
                .build(),
            ops_left: limits.ops_per_call,
            open_handles: 0,
            path_grants: namespaces,
            plugin,
            stdout,
            stderr,
        }
    }

    /// Sends what the guest printed to the host's log, tagged with the plugin.
    pub(crate) fn flush_output(&self) {
        for (stream, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let bytes = pipe.contents();
            for line in String::from_utf8_lossy(&bytes).lines() {
                tracing::info!(plugin = %self.plugin.name, stream, "{line}");
            }
        }
    }

    /// Counts `n` operations against the call's budget.
    fn spend(&mut self, n: u64) -> Result<(), HostError> {
        if n > self.ops_left {
            tracing::warn!(plugin = %self.plugin.name, "operation budget of the call exhausted");
            return Err(ErrorCode::LimitExceeded.into());
        }
        self.ops_left -= n;
        Ok(())
    }

    /// Records and logs a denial; the guest gets `denied-by-policy`.
    fn deny(&self, denial: Denial, ns: &str, op: &str) -> HostError {
        self.plugin.count_denial();
        tracing::warn!(plugin = %self.plugin.name, namespace = ns, operation = op, %denial, "denied by policy");
        ErrorCode::DeniedByPolicy.into()
    }

    fn handle(&self, ns: &Resource<NetnsHandle>) -> wasmtime::Result<&NetnsHandle> {
        Ok(self.table.get(ns)?)
    }

    /// The namespace behind a handle the guest passed (a borrow the component model keeps
    /// valid for the call; a bad one is a contract violation, so a trap).
    fn namespace(&self, ns: &Resource<NetnsHandle>) -> wasmtime::Result<Namespace> {
        Ok(self.handle(ns)?.ns.clone())
    }

    /// The one admission path every request of a guest takes: checks all of `ops` against the
    /// policy before any runs and spends the call's operation budget. Gives the namespace to run
    /// them in, or the index and code of the first refusal. The outer error is a trap.
    fn admit(
        &mut self,
        ns: &Resource<NetnsHandle>,
        ops: &[Op],
    ) -> wasmtime::Result<Result<Namespace, (usize, ErrorCode)>> {
        let handle = self.handle(ns)?;
        if ops.len() > MAX_BATCH {
            tracing::warn!(plugin = %self.plugin.name, len = ops.len(), "batch too long");
            return Ok(Err((0, ErrorCode::LimitExceeded)));
        }
        let host = self.plugin.executor.host();
        for (index, op) in ops.iter().enumerate() {
            if let Err(denial) = self.plugin.grant.check_op(op, &handle.ns, host) {
                self.deny(denial, &handle.name, op.name());
                return Ok(Err((index, ErrorCode::DeniedByPolicy)));
            }
        }
        let target = handle.ns.clone();
        if let Err(HostError::Code(code)) = self.spend(ops.len() as u64) {
            return Ok(Err((0, code)));
        }
        Ok(Ok(target))
    }

    /// Logs a host operation's failure (at debug: the guest gets its code) and maps it.
    fn failed(&self, ns: &Resource<NetnsHandle>, index: usize, error: &crate::Error) -> ErrorCode {
        let name = self.handle(ns).map(|h| h.name.as_str()).unwrap_or("?");
        tracing::debug!(plugin = %self.plugin.name, namespace = %name, index, %error, "host operation failed");
        error.code().into()
    }

    /// A batch: [`StoreState::admit`]s all of `ops`, runs them in their namespace in one
    /// visit and maps the first failure to its index and code. The outer error is a trap.
    fn perform(
        &mut self,
        ns: &Resource<NetnsHandle>,
        ops: Vec<Op>,
    ) -> wasmtime::Result<Result<Vec<Outcome>, (usize, ErrorCode)>> {
        let target = match self.admit(ns, &ops)? {
            Ok(target) => target,
            Err(refused) => return Ok(Err(refused)),
        };
        let result = crate::ops::batch::run(&self.plugin.executor, &target, ops)
            .map_err(|f| (f.index, self.failed(ns, f.index, &f.error)));
        self.check_thread()?;
        Ok(result)
    }

    /// One operation, the path of every request that is not a batch: [`StoreState::perform`]
    /// without the batch's vectors.
    fn perform_one(&mut self, ns: &Resource<NetnsHandle>, op: Op) -> Result<Outcome, HostError> {
        let target = match self
            .admit(ns, std::slice::from_ref(&op))
            .map_err(HostError::Trap)?
        {
            Ok(target) => target,
            Err((_, code)) => return Err(HostError::Code(code)),
        };
        let result = op
            .run(&self.plugin.executor, &target)
            .map_err(|error| HostError::Code(self.failed(ns, 0, &error)));
        self.check_thread().map_err(HostError::Trap)?;
        result
    }

    /// [`StoreState::perform_one`] for an operation with no value.
    fn perform_done(&mut self, ns: &Resource<NetnsHandle>, op: Op) -> Result<(), HostError> {
        self.perform_one(ns, op).map(drop)
    }

    /// After a host operation: if the executor thread running this call could not restore its
    /// namespace, the call must end now with a trap (its instance dies with the thread).
    fn check_thread(&self) -> wasmtime::Result<()> {
        if crate::executor::current_thread_poisoned() {
            wasmtime::bail!(
                "the executor thread running this call lost its namespace; the call is aborted"
            );
        }
        Ok(())
    }
}

impl generated::nsplug::netns::types::Host for StoreState {
    fn convert_error_code(&mut self, err: HostError) -> wasmtime::Result<ErrorCode> {
        match err {
            HostError::Code(code) => Ok(code),
            HostError::Trap(trap) => Err(trap),
        }
    }
}

/// Adds WASI (preview 2, synchronous) and every `nsplug:netns` interface to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    PluginBindings::add_to_linker::<StoreState, HasSelf<StoreState>>(linker, |s| s)
}
