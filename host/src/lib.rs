//! # nsplug-host
//!
//! Run network-namespace work on dedicated threads with strict **restore-or-kill** semantics: a
//! thread that entered a namespace goes back to its origin, verified, or it dies and is never
//! reused. This is the Rust answer to moby libnetwork's `InvokeFunc` and CNI's `ns.Do`, and the
//! host side of nsplug, which runs that work for sandboxed WebAssembly plugins.
//!
//! * [`Executor`] — owns the threads that enter namespaces; see [`executor`] for its invariants.
//! * [`Namespace`] — a namespace pinned by descriptor, opened by validated name, by path
//!   (`/proc/PID/ns/net`, for CNI) or as the host's own ([`Executor::host`]).
//! * [`ops`] — kernel operations inside a namespace (links, addresses, sysctls), each naming its
//!   `ip` equivalent.
//! * [`Runtime`], [`Plugin`], [`Policy`] — sandboxed WebAssembly plugins that ask for that work.
//! * [`cni`] — the CNI shim: `nsplug` as a CNI plugin binary running a Wasm plugin, and
//!   [`cni::Shim`] for runtimes that embed it.
//!
//! ```no_run
//! use nsplug_host::{Executor, ops};
//!
//! # fn main() -> Result<(), nsplug_host::Error> {
//! let executor = Executor::new()?;
//! let blue = executor.open("blue")?; // /run/netns/blue, as `ip netns add blue` made it
//!
//! // Runs on an executor thread inside `blue`, which then returns to the host namespace.
//! let inside = executor.run(&blue, nsplug_host::current_thread_netns)?.into_value()?;
//! assert_eq!(inside, blue.id());
//!
//! for link in ops::link::list(&executor, &blue)? {
//!     println!("{} {} {}", link.index, link.name, link.oper_state);
//! }
//! let key = ops::sysctl::SysctlKey::parse("net.ipv4.ip_forward")?;
//! println!("ip_forward = {}", ops::sysctl::get(&executor, &blue, &key)?);
//! println!("{:?}", executor.counters());
//! # Ok(())
//! # }
//! ```
//!
//! Plugins ([`runtime`]): a [`Runtime`] loads WebAssembly components with their [`Policy`]
//! and calls them from any thread; every request a plugin makes is checked against the policy
//! and runs on the executor's threads.
//!
//! ```no_run
//! use std::path::Path;
//! use nsplug_host::{OpClass, Policy, Runtime};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = Runtime::builder().cache_dir("/var/cache/nsplug").build()?;
//! let policy = Policy::granting(["blue"], [OpClass::Read]); // or Policy::load("policy.toml")?
//! let plugin = runtime.load(Path::new("list_links_rust.wasm"), policy)?;
//! let output = plugin.call("list", r#"{"namespaces": ["blue"]}"#)?;
//! println!("{output}");
//! # Ok(())
//! # }
//! ```
//!
//! On targets other than Linux the crate builds and every namespace call returns
//! [`Error::NotSupported`].

mod bindings;
#[doc(hidden)]
pub mod cli;
pub mod cni;
pub mod error;
pub mod executor;
pub mod netlink;
pub mod netns;
pub mod ops;
pub mod policy;
pub mod runtime;
mod sys;

pub use error::{Error, ErrorCode, Result};
pub use executor::{Completed, Counters, Executor, ExecutorBuilder, current_thread_netns};
pub use netns::{Namespace, NamespaceDirs, NsId, NsKind};
pub use policy::{OpClass, Policy};
pub use runtime::{CallError, CallGrants, LoadError, Plugin, Runtime};
pub use sys::NsFd;
