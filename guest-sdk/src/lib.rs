//! # nsplug-guest
//!
//! Write [nsplug](https://example.invalid/nsplug) plugins in Rust. A plugin is a WebAssembly
//! component that asks the nsplug host for network work in named namespaces; the host checks
//! every request against the operator's policy and runs it on its own threads.
//!
//! Build with plain `cargo build --target wasm32-wasip2` (crate type `cdylib`).
//!
//! ```no_run
//! use nsplug_guest::{ErrorCode, Netns, NetnsExt, OpClass, Plugin, PluginError, Requirements};
//!
//! struct ListLinks;
//!
//! impl Plugin for ListLinks {
//!     fn declare() -> Requirements {
//!         Requirements { classes: vec![OpClass::Read], host_namespace: false }
//!     }
//!
//!     fn handle(_command: String, input: String) -> Result<String, PluginError> {
//!         let ns = Netns::open(input.trim())?; // `denied-by-policy` unless granted
//!         let names: Vec<String> = ns.links()?.into_iter().map(|l| l.name).collect();
//!         Ok(names.join("\n"))
//!     }
//! }
//!
//! nsplug_guest::export_plugin!(ListLinks);
//! # fn main() {}
//! ```
//!
//! Host failures arrive as [`ErrorCode`]s (a policy denial is `ErrorCode::DeniedByPolicy`, never
//! a trap); `?` turns them into a [`PluginError`] carrying the code.

/// The generated bindings for `wit/` (world `plugin`). Prefer the re-exports below.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_plugin_world",
        default_bindings_module: "::nsplug_guest::bindings",
    });
}

pub use bindings::nsplug::netns::log::Level;
pub use bindings::nsplug::netns::namespace::{BatchError, Netns, Op, OpResult, granted};
pub use bindings::nsplug::netns::types::{
    Address, ErrorCode, Link, OpClass, PluginError, Requirements,
};

/// What a plugin implements; export it with [`export_plugin!`].
pub trait Plugin {
    /// What the plugin needs. Called once when the host loads it; the host grants the
    /// intersection with the operator's policy.
    fn declare() -> Requirements;

    /// Handles one command with the controller's input document; returns the output document.
    fn handle(command: String, input: String) -> Result<String, PluginError>;
}

/// Exports a type implementing [`Plugin`] as the component's `nsplug:netns/handler`.
///
/// A panic in the plugin aborts its instance (WebAssembly has no unwinding here): the host sees
/// a trap. The export installs a panic hook first, so the panic's message reaches the host's
/// log.
#[macro_export]
macro_rules! export_plugin {
    ($ty:ident) => {
        #[doc(hidden)]
        pub struct __NsplugExport;

        impl $crate::bindings::exports::nsplug::netns::handler::Guest for __NsplugExport {
            fn declare() -> $crate::Requirements {
                $crate::__install_panic_hook();
                <$ty as $crate::Plugin>::declare()
            }

            fn handle(
                command: ::std::string::String,
                input: ::std::string::String,
            ) -> ::std::result::Result<::std::string::String, $crate::PluginError> {
                $crate::__install_panic_hook();
                <$ty as $crate::Plugin>::handle(command, input)
            }
        }

        $crate::bindings::__export_plugin_world!(__NsplugExport with_types_in $crate::bindings);
    };
}

/// Sends panic messages to the host's log before the abort. Used by [`export_plugin!`].
#[doc(hidden)]
pub fn __install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            log(Level::Error, &format!("plugin panicked: {info}"));
        }));
    });
}

/// Splits a sysctl key into components: on `/` if it has one (`net/ipv4/conf/eth0.100/forwarding`),
/// otherwise on `.` (`net.ipv4.ip_forward`).
pub fn sysctl_key(key: &str) -> Vec<String> {
    let sep = if key.contains('/') { '/' } else { '.' };
    key.split(sep).map(str::to_owned).collect()
}

/// Convenience methods on an open namespace.
pub trait NetnsExt {
    /// Every link: `ip -n NS link show`.
    fn links(&self) -> Result<Vec<Link>, ErrorCode>;
    /// One link by name: `ip -n NS link show dev NAME`.
    fn link(&self, name: &str) -> Result<Link, ErrorCode>;
    /// Every address: `ip -n NS address show`.
    fn addresses(&self) -> Result<Vec<Address>, ErrorCode>;
    /// Reads a sysctl (`net.ipv4.ip_forward` or `net/ipv4/conf/eth0.100/forwarding`).
    fn sysctl(&self, key: &str) -> Result<String, ErrorCode>;
    /// Writes a sysctl.
    fn set_sysctl(&self, key: &str, value: &str) -> Result<(), ErrorCode>;
    /// Starts a batch: several ops in one visit to the namespace
    /// (`ns.ops().link_list().address_list().run()`).
    fn ops(&self) -> Batch<'_>;
}

impl NetnsExt for Netns {
    fn links(&self) -> Result<Vec<Link>, ErrorCode> {
        bindings::nsplug::netns::link::list(self)
    }

    fn link(&self, name: &str) -> Result<Link, ErrorCode> {
        bindings::nsplug::netns::link::get(self, name)
    }

    fn addresses(&self) -> Result<Vec<Address>, ErrorCode> {
        bindings::nsplug::netns::address::list(self)
    }

    fn sysctl(&self, key: &str) -> Result<String, ErrorCode> {
        bindings::nsplug::netns::sysctl::get(self, &sysctl_key(key))
    }

    fn set_sysctl(&self, key: &str, value: &str) -> Result<(), ErrorCode> {
        bindings::nsplug::netns::sysctl::set(self, &sysctl_key(key), value)
    }

    fn ops(&self) -> Batch<'_> {
        Batch {
            ns: self,
            ops: Vec::new(),
        }
    }
}

/// A batch of ops for one namespace, built with chained calls and sent with [`Batch::run`].
///
/// The host checks the whole batch against its policy before running any of it, runs the ops in
/// order in one visit to the namespace, and stops at the first failure.
#[derive(Debug)]
#[must_use = "a batch does nothing until run"]
pub struct Batch<'a> {
    ns: &'a Netns,
    ops: Vec<Op>,
}

impl Batch<'_> {
    /// Adds `link list`.
    pub fn link_list(mut self) -> Self {
        self.ops.push(Op::LinkList);
        self
    }

    /// Adds `link get NAME`.
    pub fn link_get(mut self, name: &str) -> Self {
        self.ops.push(Op::LinkGet(name.to_owned()));
        self
    }

    /// Adds `address list`.
    pub fn address_list(mut self) -> Self {
        self.ops.push(Op::AddressList);
        self
    }

    /// Adds a sysctl read.
    pub fn sysctl_get(mut self, key: &str) -> Self {
        self.ops.push(Op::SysctlGet(sysctl_key(key)));
        self
    }

    /// Adds a sysctl write.
    pub fn sysctl_set(mut self, key: &str, value: &str) -> Self {
        self.ops
            .push(Op::SysctlSet((sysctl_key(key), value.to_owned())));
        self
    }

    /// Adds a raw op.
    pub fn op(mut self, op: Op) -> Self {
        self.ops.push(op);
        self
    }

    /// Runs the batch: one result per op, or the first failure with its index.
    pub fn run(self) -> Result<Vec<OpResult>, BatchError> {
        self.ns.batch(&self.ops)
    }
}

/// Logs into the host's log, tagged with the plugin's name.
pub fn log(level: Level, message: &str) {
    bindings::nsplug::netns::log::log(level, message);
}

impl From<ErrorCode> for PluginError {
    fn from(code: ErrorCode) -> PluginError {
        PluginError {
            code: "host-error".to_owned(),
            message: format!("host call failed: {}", code.name()),
            host_error: Some(code),
        }
    }
}

impl From<BatchError> for PluginError {
    fn from(e: BatchError) -> PluginError {
        PluginError {
            code: "host-error".to_owned(),
            message: format!("batch op {} failed: {}", e.index, e.code.name()),
            host_error: Some(e.code),
        }
    }
}

impl PluginError {
    /// A plugin error with a code and message and no host error behind it.
    pub fn new(code: &str, message: impl Into<String>) -> PluginError {
        PluginError {
            code: code.to_owned(),
            message: message.into(),
            host_error: None,
        }
    }
}
