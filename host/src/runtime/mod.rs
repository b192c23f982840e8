//! The plugin runtime: one wasmtime [`Engine`] per host, plugins compiled once and cached on
//! disk, instances from a pre-linked `InstancePre`, and every call in a fresh `Store` with
//! limits, on an executor-owned thread.
//!
//! * **Engine.** Cranelift, synchronous (`concurrency_support(false)`), epoch interruption driven
//!   by a ticker thread every [`EPOCH_TICK`]. The pooling allocator sized by
//!   [`RuntimeBuilder::pool_slots`]; if the machine refuses its reservation the runtime falls
//!   back to on-demand allocation (logged).
//! * **Cache.** Compiled components are kept as `.cwasm` files keyed by the component's SHA-256
//!   and the engine's compatibility hash ([`cache`]), so compiling is paid once per plugin
//!   version and engine.
//! * **Calls.** A call runs on an executor thread ([`Executor::run_on_worker`]), so the
//!   namespace jobs its host calls submit run inline on that same thread: enter, work, restore,
//!   with the guest never running while the thread is in a foreign namespace. Each call gets a
//!   fresh `Store` with the policy's memory limit, a table/instance cap, an operation budget and
//!   an epoch deadline (the wall-clock budget), and an empty WASI context (no files but the
//!   directories a call is granted with [`CallGrants`], within the policy's `state_dirs`;
//!   no sockets, environment or arguments). A trap ends the call
//!   and its instance; the next call instantiates anew, so a misbehaving plugin never takes the
//!   host down.
//! * **Versions.** Plugins built against an `nsplug:netns` version this host does not support are
//!   refused at load, naming both versions.

pub mod cache;
pub mod grants;

pub use grants::CallGrants;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

use crate::bindings::{self, PluginPre, StoreState};
use crate::error::ErrorCode;
use crate::executor::Executor;
use crate::policy::{Grant, OpClass, Policy};

/// The `nsplug:netns` version this host implements. Components built against an earlier
/// release of the same line (`0.1.0`, `0.1.1`) run unchanged: later versions only add items,
/// and wasmtime links a `0.1.0` import to the `0.1.2` definition ([`supports_version`]).
pub const NETNS_VERSION: &str = "0.1.2";

/// How often the epoch advances: the granularity of call deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Slack the executor gives a call beyond its wall-clock budget before it stops waiting.
const HANDOFF_SLACK: Duration = Duration::from_secs(2);

/// Budget for a plugin's `declare` at load.
const DECLARE_BUDGET: Duration = Duration::from_secs(5);

/// Why a plugin could not be loaded, compiled or inspected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read plugin {path}")]
    Read {
        /// The plugin file.
        path: PathBuf,
        /// The operating system's answer.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid component for this engine.
    #[error("plugin {plugin} is not a valid WebAssembly component: {message}")]
    Invalid {
        /// The plugin.
        plugin: String,
        /// What wasmtime said.
        message: String,
    },
    /// The plugin targets an `nsplug:netns` version this host does not implement.
    #[error(
        "plugin {plugin} targets nsplug:netns@{found}, but this host supports nsplug:netns@{supported} (and earlier releases of its line); rebuild the plugin against {supported} or upgrade the host"
    )]
    UnsupportedVersion {
        /// The plugin.
        plugin: String,
        /// The version it targets.
        found: String,
        /// The version this host implements.
        supported: &'static str,
    },
    /// The component is not an nsplug plugin (it does not export the handler), or it imports
    /// something the host does not provide.
    #[error("plugin {plugin} cannot be linked: {message}")]
    Link {
        /// The plugin.
        plugin: String,
        /// What is missing.
        message: String,
    },
    /// The plugin's `declare` failed.
    #[error("plugin {plugin} failed in `declare`")]
    Declare {
        /// The plugin.
        plugin: String,
        /// How it failed.
        #[source]
        source: Box<CallError>,
    },
    /// The compile cache could not be written (the plugin still loads; this is for `compile`).
    #[error("cannot write the compile cache at {path}")]
    Cache {
        /// The cache file.
        path: PathBuf,
        /// The operating system's answer.
        #[source]
        source: std::io::Error,
    },
    /// The engine could not be created.
    #[error("cannot create the WebAssembly engine: {0}")]
    Engine(String),
    /// The executor refused.
    #[error(transparent)]
    Executor(#[from] crate::Error),
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The plugin returned its own structured error.
    #[error("plugin {plugin} returned error {code}: {message}")]
    Plugin {
        /// The plugin.
        plugin: String,
        /// The plugin's error code.
        code: String,
        /// The plugin's message.
        message: String,
        /// The host error behind it, if the plugin says so.
        host_error: Option<ErrorCode>,
    },
    /// The plugin trapped (a contract violation, a failed allocation, a panic that aborted).
    /// Its instance is gone; the next call starts a fresh one.
    #[error("plugin {plugin} trapped: {message}")]
    Trap {
        /// The plugin.
        plugin: String,
        /// The trap and its backtrace.
        message: String,
    },
    /// The call used up its wall-clock budget and was interrupted.
    #[error("plugin {plugin} ran out of its {budget:?} wall-clock budget and was interrupted")]
    OutOfTime {
        /// The plugin.
        plugin: String,
        /// The budget.
        budget: Duration,
    },
    /// The call's own grants ([`CallGrants`]) exceed the policy, or cannot be set up (a state
    /// directory outside `state_dirs`, or one that cannot be opened). The guest did not run.
    #[error("plugin {plugin} was not called: {message}")]
    Denied {
        /// The plugin.
        plugin: String,
        /// What was refused, and why.
        message: String,
    },
    /// The executor could not run the call (shut down, or stuck in a host call past its
    /// deadline).
    #[error("plugin {plugin} could not be run")]
    Executor {
        /// The plugin.
        plugin: String,
        /// Why.
        #[source]
        source: crate::Error,
    },
}

/// Configuration of a [`Runtime`].
#[derive(Debug, Clone, Default)]
pub struct RuntimeBuilder {
    executor: Option<Executor>,
    cache_dir: Option<PathBuf>,
    pool_slots: Option<u32>,
    pooling: Option<bool>,
}

impl RuntimeBuilder {
    /// The executor plugin calls run on (default: a new one with default settings).
    pub fn executor(mut self, executor: Executor) -> Self {
        self.executor = Some(executor);
        self
    }

    /// Where compiled components are cached (default: none, compile on every load).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// How many instances may exist at once (concurrent calls over all plugins), which sizes
    /// the pooling allocator. Default 32.
    pub fn pool_slots(mut self, slots: u32) -> Self {
        self.pool_slots = Some(slots.max(1));
        self
    }

    /// Use the pooling allocator (default) or allocate on demand.
    pub fn pooling(mut self, on: bool) -> Self {
        self.pooling = Some(on);
        self
    }

    /// Creates the engine, its epoch ticker and the linker.
    pub fn build(self) -> Result<Runtime, LoadError> {
        let executor = match self.executor {
            Some(e) => e,
            None => Executor::new()?,
        };
        let slots = self.pool_slots.unwrap_or(32);
        let (engine, pooled) = if self.pooling.unwrap_or(true) {
            match Engine::new(&engine_config(Some(slots))) {
                Ok(engine) => (engine, true),
                Err(e) => {
                    tracing::warn!(error = %e, "pooling allocator unavailable; allocating on demand");
                    (new_engine(None)?, false)
                }
            }
        } else {
            (new_engine(None)?, false)
        };
        let mut linker = Linker::new(&engine);
        bindings::add_to_linker(&mut linker).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        start_ticker(engine.weak(), Arc::clone(&stop))?;
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                executor,
                cache: cache::ComponentCache::new(self.cache_dir),
                stop,
                pooled,
                counters: RuntimeCounters::default(),
            }),
        })
    }
}

fn new_engine(slots: Option<u32>) -> Result<Engine, LoadError> {
    Engine::new(&engine_config(slots)).map_err(|e| LoadError::Engine(format!("{e:#}")))
}

fn engine_config(pool_slots: Option<u32>) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.concurrency_support(false);
    config.epoch_interruption(true);
    if let Some(slots) = pool_slots {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(slots)
            .total_core_instances(slots.saturating_mul(16))
            .total_memories(slots.saturating_mul(4))
            .total_tables(slots.saturating_mul(8))
            .total_stacks(slots)
            .max_memories_per_component(16)
            .max_tables_per_component(64)
            .max_core_instances_per_component(64)
            .max_memory_size(1 << 30)
            .max_component_instance_size(1 << 20)
            .max_core_instance_size(1 << 20)
            .table_elements(1 << 20)
            // Reset what a call touched with memset rather than madvise, found with the
            // PAGEMAP_SCAN ioctl where the kernel has it (6.7+): a reused slot takes no page
            // faults, and instantiation gets cheaper.
            .linear_memory_keep_resident(1 << 20)
            .table_keep_resident(1 << 16)
            .pagemap_scan(wasmtime::Enabled::Auto);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the runtime drops. Spawned by the
/// thread building the runtime (never from inside a namespace).
fn start_ticker(engine: wasmtime::EngineWeak, stop: Arc<AtomicBool>) -> Result<(), LoadError> {
    std::thread::Builder::new()
        .name("nsplug-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                match engine.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => return,
                }
            }
        })
        .map(drop)
        .map_err(|e| LoadError::Engine(format!("cannot start the epoch ticker: {e}")))
}

/// Counters of a runtime, read with [`Runtime::counters`].
#[derive(Debug, Default)]
struct RuntimeCounters {
    calls: AtomicU64,
    traps: AtomicU64,
    out_of_time: AtomicU64,
    denials: AtomicU64,
}

/// A snapshot of a runtime's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuntimeStats {
    /// Plugin calls made (including `declare` at load).
    pub calls: u64,
    /// Calls that trapped.
    pub traps: u64,
    /// Calls interrupted at their deadline.
    pub out_of_time: u64,
    /// Requests denied by policy.
    pub denials: u64,
    /// Compiled components loaded from the disk cache.
    pub cache_hits: u64,
    /// Components compiled.
    pub compiles: u64,
    /// The executor's counters.
    pub executor: crate::Counters,
    /// Whether the pooling allocator is in use.
    pub pooling: bool,
}

struct RuntimeInner {
    engine: Engine,
    linker: Linker<StoreState>,
    executor: Executor,
    cache: cache::ComponentCache,
    stop: Arc<AtomicBool>,
    pooled: bool,
    counters: RuntimeCounters,
}

impl Drop for RuntimeInner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Loads and runs plugins. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// What `inspect` finds in a component.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Inspection {
    /// The `nsplug:netns` version the component targets, if it uses the package at all.
    pub netns_version: Option<String>,
    /// Whether this host can run it.
    pub supported: bool,
    /// Why not, if not.
    pub problem: Option<String>,
    /// Its imports, by name.
    pub imports: Vec<String>,
    /// Its exports, by name.
    pub exports: Vec<String>,
    /// Whether the compiled form came from the cache.
    pub cached: bool,
}

impl Runtime {
    /// A runtime with its own executor and no compile cache.
    pub fn new() -> Result<Runtime, LoadError> {
        Self::builder().build()
    }

    /// Configure a runtime.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// The executor plugin calls run on.
    pub fn executor(&self) -> &Executor {
        &self.inner.executor
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> RuntimeStats {
        let c = &self.inner.counters;
        let (cache_hits, compiles) = self.inner.cache.counts();
        RuntimeStats {
            calls: c.calls.load(Ordering::Relaxed),
            traps: c.traps.load(Ordering::Relaxed),
            out_of_time: c.out_of_time.load(Ordering::Relaxed),
            denials: c.denials.load(Ordering::Relaxed),
            cache_hits,
            compiles,
            executor: self.inner.executor.counters(),
            pooling: self.inner.pooled,
        }
    }

    fn compile(&self, name: &str, bytes: &[u8]) -> Result<(Component, bool), LoadError> {
        self.inner
            .cache
            .load_or_compile(&self.inner.engine, bytes)
            .map_err(|e| cache_error(name, e))
    }

    /// The component's import and export names.
    fn names(&self, component: &Component) -> (Vec<String>, Vec<String>) {
        let ty = component.component_type();
        let engine = &self.inner.engine;
        let imports = ty.imports(engine).map(|(n, _)| n.to_owned()).collect();
        let exports = ty.exports(engine).map(|(n, _)| n.to_owned()).collect();
        (imports, exports)
    }

    /// Compiles `wasm` into the cache (no-op when it is there already). Returns whether it was.
    pub fn precompile(&self, path: &Path) -> Result<bool, LoadError> {
        let bytes = read(path)?;
        let (_, cached) = self.compile(&path.display().to_string(), &bytes)?;
        Ok(cached)
    }

    /// Describes a component: the `nsplug:netns` version it targets, imports and exports.
    pub fn inspect(&self, path: &Path) -> Result<Inspection, LoadError> {
        let name = path.display().to_string();
        let bytes = read(path)?;
        let (component, cached) = self.compile(&name, &bytes)?;
        let (imports, exports) = self.names(&component);
        let problem = check_version(&name, &imports, &exports).err();
        let netns_version = imports
            .iter()
            .chain(&exports)
            .find_map(|n| netns_version(n))
            .map(str::to_owned);
        Ok(Inspection {
            supported: problem.is_none(),
            problem: problem.map(|e| e.to_string()),
            netns_version,
            imports,
            exports,
            cached,
        })
    }

    /// Loads a plugin file with its policy: compiles (or loads from the cache), checks the
    /// `nsplug:netns` version, links, and calls its `declare`. The plugin is named after the
    /// policy's `[plugin] name`, else the file name.
    pub fn load(&self, path: &Path, policy: Policy) -> Result<Plugin, LoadError> {
        let name = policy.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map_or_else(|| "plugin".to_owned(), |s| s.to_string_lossy().into_owned())
        });
        let loaded = self
            .inner
            .cache
            .load_file(&self.inner.engine, path, || read(path))?;
        let (component, _) = loaded.map_err(|e| cache_error(&name, e))?;
        self.link(&name, component, policy)
    }

    /// Loads a plugin from bytes; see [`Runtime::load`].
    pub fn load_bytes(
        &self,
        name: &str,
        bytes: &[u8],
        policy: Policy,
    ) -> Result<Plugin, LoadError> {
        let (component, _) = self.compile(name, bytes)?;
        self.link(name, component, policy)
    }

    /// Checks the version, links, and asks the plugin what it needs.
    fn link(&self, name: &str, component: Component, policy: Policy) -> Result<Plugin, LoadError> {
        let (imports, exports) = self.names(&component);
        check_version(name, &imports, &exports)?;
        let link_err = |e: wasmtime::Error| LoadError::Link {
            plugin: name.to_owned(),
            message: format!("{e:#}"),
        };
        let instance_pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(link_err)?;
        let pre = PluginPre::new(instance_pre).map_err(link_err)?;

        // Ask the plugin what it needs, under a policy that grants nothing.
        let probe = Arc::new(PluginShared {
            name: name.into(),
            grant: Grant::new(Policy::default(), [], false),
            executor: self.inner.executor.clone(),
            runtime: Arc::downgrade(&self.inner),
        });
        let declared = call_on_worker(
            &self.inner,
            &probe,
            &pre,
            CallContext::empty(),
            DECLARE_BUDGET,
            |bindings, store| bindings.nsplug_netns_handler().call_declare(store),
        )
        .map_err(|e| LoadError::Declare {
            plugin: name.to_owned(),
            source: Box::new(e),
        })?;
        let classes: Vec<OpClass> = declared.classes.into_iter().map(OpClass::from).collect();
        tracing::info!(
            plugin = name,
            ?classes,
            host = declared.host_namespace,
            "plugin loaded"
        );
        Ok(Plugin {
            shared: Arc::new(PluginShared {
                name: name.into(),
                grant: Grant::new(policy, classes, declared.host_namespace),
                executor: self.inner.executor.clone(),
                runtime: Arc::downgrade(&self.inner),
            }),
            pre,
            runtime: self.clone(),
        })
    }
}

fn cache_error(plugin: &str, e: cache::CacheError) -> LoadError {
    match e {
        cache::CacheError::Compile(message) => LoadError::Invalid {
            plugin: plugin.to_owned(),
            message,
        },
        cache::CacheError::Write { path, source } => LoadError::Cache { path, source },
    }
}

fn read(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The version in an `nsplug:netns/<interface>@<version>` name.
fn netns_version(name: &str) -> Option<&str> {
    name.strip_prefix("nsplug:netns/")?
        .split_once('@')
        .map(|(_, v)| v)
}

/// Whether a component built against `nsplug:netns@found` runs on this host: the same `0.x`
/// line (semver: within `0.x`, later versions only add items) and not newer than
/// [`NETNS_VERSION`]. A newer `0.1.y` may import items this host lacks, so it is refused up
/// front with both versions named, not left to fail at link time.
pub fn supports_version(found: &str) -> bool {
    fn parse(v: &str) -> Option<(u64, u64, u64)> {
        let mut parts = v.split('.').map(|p| p.parse::<u64>().ok());
        let version = (parts.next()??, parts.next()??, parts.next()??);
        parts.next().is_none().then_some(version)
    }
    // Pre-release and build suffixes (`0.1.2-rc1`) are not compatible with a release.
    match (parse(found), parse(NETNS_VERSION)) {
        (Some((major, minor, patch)), Some((our_major, our_minor, our_patch))) => {
            (major, minor) == (our_major, our_minor)
                && (major > 0 || minor > 0 || patch == our_patch)
                && patch <= our_patch
        }
        _ => false,
    }
}

/// Refuses components that target another `nsplug:netns` version, or do not export the
/// handler.
fn check_version(plugin: &str, imports: &[String], exports: &[String]) -> Result<(), LoadError> {
    for name in imports.iter().chain(exports) {
        if let Some(found) = netns_version(name)
            && !supports_version(found)
        {
            return Err(LoadError::UnsupportedVersion {
                plugin: plugin.to_owned(),
                found: found.to_owned(),
                supported: NETNS_VERSION,
            });
        }
    }
    if !exports
        .iter()
        .any(|e| e.starts_with("nsplug:netns/handler@"))
    {
        return Err(LoadError::Link {
            plugin: plugin.to_owned(),
            message: format!(
                "it does not export nsplug:netns/handler@{NETNS_VERSION}; is it an nsplug plugin? (exports: {})",
                if exports.is_empty() {
                    "none".to_owned()
                } else {
                    exports.join(", ")
                }
            ),
        });
    }
    Ok(())
}

/// What every call of one plugin shares.
pub(crate) struct PluginShared {
    pub(crate) name: Arc<str>,
    pub(crate) grant: Grant,
    pub(crate) executor: Executor,
    runtime: Weak<RuntimeInner>,
}

impl PluginShared {
    pub(crate) fn count_denial(&self) {
        if let Some(rt) = self.runtime.upgrade() {
            rt.counters.denials.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A loaded plugin. Cheap to clone; `Send + Sync`: call it from as many threads as you like.
#[derive(Clone)]
pub struct Plugin {
    shared: Arc<PluginShared>,
    pre: PluginPre<StoreState>,
    runtime: Runtime,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.shared.name)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// The plugin's name in logs and errors.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The policy it was loaded with.
    pub fn policy(&self) -> &Policy {
        self.shared.grant.policy()
    }

    /// Calls the plugin's `handle(command, input)` in a fresh instance, on an executor thread,
    /// within the policy's limits; returns its output document.
    pub fn call(&self, command: &str, input: &str) -> Result<String, CallError> {
        self.call_with(command, input, &CallGrants::new())
    }

    /// [`Plugin::call`] with extra rights for this call only: a namespace the guest may open by
    /// path, state directories preopened in its WASI context ([`CallGrants`]). Grants beyond the
    /// policy are refused before the guest runs.
    pub fn call_with(
        &self,
        command: &str,
        input: &str,
        grants: &CallGrants,
    ) -> Result<String, CallError> {
        let denied = |message: String| CallError::Denied {
            plugin: self.shared.name.to_string(),
            message,
        };
        let policy = self.shared.grant.policy();
        let dirs = grants.checked_dirs(policy).map_err(denied)?;
        let context = CallContext::new(grants.namespaces.clone(), &dirs).map_err(denied)?;
        let (command, input) = (command.to_owned(), input.to_owned());
        let budget = policy.limits.wall_time;
        let result = call_on_worker(
            &self.runtime.inner,
            &self.shared,
            &self.pre,
            context,
            budget,
            move |bindings, store| {
                bindings
                    .nsplug_netns_handler()
                    .call_handle(store, &command, &input)
            },
        )?;
        result.map_err(|e| CallError::Plugin {
            plugin: self.shared.name.to_string(),
            code: e.code,
            message: e.message,
            host_error: e.host_error.map(Into::into),
        })
    }
}

/// What one call's store starts with besides the plugin: its WASI context (empty but for the
/// granted directories) and the namespaces granted by path. Built on the caller's thread, so a
/// directory that cannot be opened is refused before anything runs.
pub(crate) struct CallContext {
    pub(crate) wasi: wasmtime_wasi::WasiCtxBuilder,
    pub(crate) namespaces: Vec<(String, crate::Namespace)>,
}

impl CallContext {
    fn empty() -> CallContext {
        CallContext {
            wasi: wasmtime_wasi::WasiCtxBuilder::new(),
            namespaces: Vec::new(),
        }
    }

    fn new(
        namespaces: Vec<(String, crate::Namespace)>,
        dirs: &[(PathBuf, String)],
    ) -> Result<CallContext, String> {
        let mut context = CallContext::empty();
        for (dir, guest) in dirs {
            context
                .wasi
                .preopened_dir(dir, guest, wasmtime_wasi::FsPerms::ReadWrite)
                .map_err(|e| format!("cannot open state directory {}: {e:#}", dir.display()))?;
        }
        context.namespaces = namespaces;
        Ok(context)
    }
}

/// Instantiates the plugin in a fresh store on an executor thread, runs `f`, and classifies how
/// it ended.
fn call_on_worker<R, F>(
    runtime: &Arc<RuntimeInner>,
    plugin: &Arc<PluginShared>,
    pre: &PluginPre<StoreState>,
    context: CallContext,
    budget: Duration,
    f: F,
) -> Result<R, CallError>
where
    R: Send + 'static,
    F: FnOnce(&bindings::PluginBindings, &mut Store<StoreState>) -> wasmtime::Result<R>
        + Send
        + 'static,
{
    runtime.counters.calls.fetch_add(1, Ordering::Relaxed);
    let (job_plugin, pre) = (Arc::clone(plugin), pre.clone());
    let engine = runtime.engine.clone();
    let ticks = budget.as_nanos().div_ceil(EPOCH_TICK.as_nanos()).max(1) as u64;
    let started = Instant::now();
    let ran = runtime
        .executor
        .run_on_worker(budget + HANDOFF_SLACK, move || {
            let mut store = Store::new(&engine, StoreState::new(job_plugin, context));
            store.limiter(|state| &mut state.limits);
            store.set_epoch_deadline(ticks);
            store.epoch_deadline_trap();
            let result = pre
                .instantiate(&mut store)
                .and_then(|bindings| f(&bindings, &mut store));
            store.data().flush_output();
            result
        });
    let name = plugin.name.to_string();
    let outcome = match ran {
        Ok(done) => done.into_value(),
        Err(source) => {
            return Err(CallError::Executor {
                plugin: name,
                source,
            });
        }
    };
    outcome.map_err(|e| {
        if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            runtime.counters.out_of_time.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(plugin = %name, ?budget, elapsed = ?started.elapsed(), "plugin call interrupted at its deadline");
            CallError::OutOfTime {
                plugin: name,
                budget,
            }
        } else {
            runtime.counters.traps.fetch_add(1, Ordering::Relaxed);
            let message = format!("{e:?}");
            tracing::warn!(plugin = %name, %message, "plugin trapped");
            CallError::Trap {
                plugin: name,
                message,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::{NETNS_VERSION, supports_version};

    #[test]
    fn versions_of_the_same_line_up_to_ours_are_supported() {
        assert!(supports_version(NETNS_VERSION));
        assert!(supports_version("0.1.0"));
        assert!(supports_version("0.1.1"));
        for refused in [
            "0.1.3",
            "0.2.0",
            "1.1.1",
            "0.0.1",
            "0.1",
            "0.1.2-rc1",
            "x.y.z",
            "",
        ] {
            assert!(!supports_version(refused), "{refused}");
        }
    }
}
