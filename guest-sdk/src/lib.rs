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

pub use bindings::nsplug::netns::address::AddressFlags;
pub use bindings::nsplug::netns::batch::{Request, Response};
pub use bindings::nsplug::netns::link::{
    IpvlanMode, LinkChanges, LinkDetails, LinkKind, LinkStats, MacvlanMode, MasterChange, NewLink,
    VethPeer, VxlanConfig,
};
pub use bindings::nsplug::netns::log::Level;
pub use bindings::nsplug::netns::namespace::{BatchError, Netns, Op, OpResult, delete, granted};
pub use bindings::nsplug::netns::neighbor::Neighbor;
pub use bindings::nsplug::netns::route::{Route, Scope};
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
    // Byte loops rather than `contains`/`split` on a char, which call `memchr` once per piece:
    // in WebAssembly (no SIMD) that costs more than the key's few bytes do.
    let sep = if key.bytes().any(|b| b == b'/') {
        b'/'
    } else {
        b'.'
    };
    let mut parts = Vec::with_capacity(key.bytes().filter(|&b| b == sep).count() + 1);
    let mut start = 0;
    for (i, b) in key.bytes().enumerate() {
        if b == sep {
            // `sep` is ASCII, so `i` is a character boundary.
            parts.push(key[start..i].to_owned());
            start = i + 1;
        }
    }
    parts.push(key[start..].to_owned());
    parts
}

/// Convenience methods on an open namespace. Each names its `ip` equivalent; every call is
/// checked against the host's policy.
pub trait NetnsExt {
    /// Every link: `ip -n NS link show`.
    fn links(&self) -> Result<Vec<Link>, ErrorCode>;
    /// One link by name: `ip -n NS link show dev NAME`.
    fn link(&self, name: &str) -> Result<Link, ErrorCode>;
    /// Every link with details and counters: `ip -d -s -n NS link show`.
    fn links_details(&self) -> Result<Vec<LinkDetails>, ErrorCode>;
    /// One link with details and counters: `ip -d -s -n NS link show dev NAME`.
    fn link_details(&self, name: &str) -> Result<LinkDetails, ErrorCode>;
    /// Creates a link: `ip -n NS link add …` (see [`NewLink::new`]).
    fn add_link(&self, link: &NewLink<'_>) -> Result<(), ErrorCode>;
    /// Creates a veth pair whose peer is created in `peer_ns` (or here):
    /// `ip -n NS link add NAME type veth peer name PEER [netns PEER_NS]`.
    fn add_veth(&self, name: &str, peer: &str, peer_ns: Option<&Netns>) -> Result<(), ErrorCode>;
    /// Creates a bridge: `ip -n NS link add NAME type bridge`.
    fn add_bridge(&self, name: &str) -> Result<(), ErrorCode>;
    /// Changes a link: `ip -n NS link set dev NAME …` (start from `LinkChanges::default()`).
    fn set_link(&self, name: &str, changes: &LinkChanges) -> Result<(), ErrorCode>;
    /// `ip -n NS link set dev NAME up`.
    fn set_up(&self, name: &str) -> Result<(), ErrorCode>;
    /// Moves a link to another namespace: `ip -n NS link set dev NAME netns TO`.
    fn move_link(&self, name: &str, to: &Netns) -> Result<(), ErrorCode>;
    /// Deletes a link: `ip -n NS link del dev NAME`.
    fn del_link(&self, name: &str) -> Result<(), ErrorCode>;
    /// Every address: `ip -n NS address show`.
    fn addresses(&self) -> Result<Vec<Address>, ErrorCode>;
    /// Adds an address (`10.22.0.2/24`): `ip -n NS address add CIDR dev DEV`.
    fn add_address(&self, dev: &str, cidr: &str) -> Result<(), ErrorCode>;
    /// Adds an address with flags: `ip -n NS address add CIDR dev DEV [nodad] [noprefixroute]`.
    fn add_address_with(&self, dev: &str, cidr: &str, flags: AddressFlags)
    -> Result<(), ErrorCode>;
    /// Removes an address: `ip -n NS address del CIDR dev DEV`.
    fn del_address(&self, dev: &str, cidr: &str) -> Result<(), ErrorCode>;
    /// The routes of a table (`None`: main): `ip -n NS route show [table T]`, both families.
    fn routes(&self, table: Option<u32>) -> Result<Vec<Route>, ErrorCode>;
    /// Adds a route (see [`Route::to`]): `ip -n NS route add …`.
    fn add_route(&self, route: &Route) -> Result<(), ErrorCode>;
    /// Adds or replaces a route: `ip -n NS route replace …`.
    fn replace_route(&self, route: &Route) -> Result<(), ErrorCode>;
    /// Deletes a route: `ip -n NS route del …`.
    fn del_route(&self, route: &Route) -> Result<(), ErrorCode>;
    /// Every neighbour entry: `ip -n NS neighbour show`.
    fn neighbors(&self) -> Result<Vec<Neighbor>, ErrorCode>;
    /// Sets a permanent entry: `ip -n NS neighbour replace IP lladdr MAC dev DEV nud permanent`.
    fn set_neighbor(&self, dev: &str, ip: &str, mac: &str) -> Result<(), ErrorCode>;
    /// Deletes an entry: `ip -n NS neighbour del IP dev DEV`.
    fn del_neighbor(&self, dev: &str, ip: &str) -> Result<(), ErrorCode>;
    /// Reads a sysctl (`net.ipv4.ip_forward` or `net/ipv4/conf/eth0.100/forwarding`).
    fn sysctl(&self, key: &str) -> Result<String, ErrorCode>;
    /// Writes a sysctl.
    fn set_sysctl(&self, key: &str, value: &str) -> Result<(), ErrorCode>;
    /// Starts a batch: several requests in one visit to the namespace
    /// (`ns.ops().link_list().address_list().run()`).
    fn ops(&self) -> Batch<'_>;
}

use bindings::nsplug::netns::{address, link, neighbor, route, sysctl};

impl NetnsExt for Netns {
    fn links(&self) -> Result<Vec<Link>, ErrorCode> {
        link::list(self)
    }

    fn link(&self, name: &str) -> Result<Link, ErrorCode> {
        link::get(self, name)
    }

    fn links_details(&self) -> Result<Vec<LinkDetails>, ErrorCode> {
        link::list_details(self)
    }

    fn link_details(&self, name: &str) -> Result<LinkDetails, ErrorCode> {
        link::details(self, name)
    }

    fn add_link(&self, new: &NewLink<'_>) -> Result<(), ErrorCode> {
        link::add(self, new)
    }

    fn add_veth(&self, name: &str, peer: &str, peer_ns: Option<&Netns>) -> Result<(), ErrorCode> {
        self.add_link(&NewLink::new(
            name,
            LinkKind::Veth(VethPeer::new(peer, peer_ns)),
        ))
    }

    fn add_bridge(&self, name: &str) -> Result<(), ErrorCode> {
        self.add_link(&NewLink::new(name, LinkKind::Bridge))
    }

    fn set_link(&self, name: &str, changes: &LinkChanges) -> Result<(), ErrorCode> {
        link::set(self, name, changes)
    }

    fn set_up(&self, name: &str) -> Result<(), ErrorCode> {
        self.set_link(name, &LinkChanges::up())
    }

    fn move_link(&self, name: &str, to: &Netns) -> Result<(), ErrorCode> {
        link::set_netns(self, name, to)
    }

    fn del_link(&self, name: &str) -> Result<(), ErrorCode> {
        link::del(self, name)
    }

    fn addresses(&self) -> Result<Vec<Address>, ErrorCode> {
        address::list(self)
    }

    fn add_address(&self, dev: &str, cidr: &str) -> Result<(), ErrorCode> {
        address::add(self, dev, cidr, AddressFlags::empty())
    }

    fn add_address_with(
        &self,
        dev: &str,
        cidr: &str,
        flags: AddressFlags,
    ) -> Result<(), ErrorCode> {
        address::add(self, dev, cidr, flags)
    }

    fn del_address(&self, dev: &str, cidr: &str) -> Result<(), ErrorCode> {
        address::del(self, dev, cidr)
    }

    fn routes(&self, table: Option<u32>) -> Result<Vec<Route>, ErrorCode> {
        route::list(self, table)
    }

    fn add_route(&self, r: &Route) -> Result<(), ErrorCode> {
        route::add(self, r)
    }

    fn replace_route(&self, r: &Route) -> Result<(), ErrorCode> {
        route::replace(self, r)
    }

    fn del_route(&self, r: &Route) -> Result<(), ErrorCode> {
        route::del(self, r)
    }

    fn neighbors(&self) -> Result<Vec<Neighbor>, ErrorCode> {
        neighbor::list(self)
    }

    fn set_neighbor(&self, dev: &str, ip: &str, mac: &str) -> Result<(), ErrorCode> {
        neighbor::set(self, dev, ip, mac)
    }

    fn del_neighbor(&self, dev: &str, ip: &str) -> Result<(), ErrorCode> {
        neighbor::del(self, dev, ip)
    }

    fn sysctl(&self, key: &str) -> Result<String, ErrorCode> {
        sysctl::get(self, &sysctl_key(key))
    }

    fn set_sysctl(&self, key: &str, value: &str) -> Result<(), ErrorCode> {
        sysctl::set(self, &sysctl_key(key), value)
    }

    fn ops(&self) -> Batch<'_> {
        Batch {
            ns: self,
            requests: Vec::new(),
        }
    }
}

impl<'a> NewLink<'a> {
    /// A link called `name` of `kind`, created where the request runs, with the kernel's
    /// defaults for MTU, MAC and queue length.
    pub fn new(name: &str, kind: LinkKind<'a>) -> NewLink<'a> {
        NewLink {
            name: name.to_owned(),
            kind,
            target_ns: None,
            mtu: None,
            mac: None,
            txqlen: None,
        }
    }
}

impl<'a> VethPeer<'a> {
    /// The peer `name`, created in `target_ns` (or beside the first end), with a random MAC.
    pub fn new(name: &str, target_ns: Option<&'a Netns>) -> VethPeer<'a> {
        VethPeer {
            name: name.to_owned(),
            target_ns,
            mac: None,
        }
    }
}

impl Default for LinkChanges {
    /// No change at all.
    fn default() -> Self {
        LinkChanges {
            up: None,
            mtu: None,
            mac: None,
            rename: None,
            master: None,
            promisc: None,
            txqlen: None,
            hairpin: None,
        }
    }
}

impl LinkChanges {
    /// Only `up`.
    pub fn up() -> LinkChanges {
        LinkChanges {
            up: Some(true),
            ..LinkChanges::default()
        }
    }
}

impl Route {
    /// A route to `destination` (`10.1.0.0/16`, `0.0.0.0/0` for the default route) with the
    /// kernel's defaults for everything else; set `gateway`, `dev`, … on the result.
    pub fn to(destination: &str) -> Route {
        Route {
            destination: destination.to_owned(),
            gateway: None,
            dev: None,
            source: None,
            metric: None,
            table: None,
            scope: None,
            mtu: None,
        }
    }
}

/// A batch of requests for one namespace, built with chained calls and sent with [`Batch::run`].
///
/// The host checks the whole batch against its policy before running any of it, runs the
/// requests in order in one visit to the namespace, and stops at the first failure.
#[derive(Debug)]
#[must_use = "a batch does nothing until run"]
pub struct Batch<'a> {
    ns: &'a Netns,
    requests: Vec<Request<'a>>,
}

impl<'a> Batch<'a> {
    /// Adds a request.
    pub fn request(mut self, request: Request<'a>) -> Self {
        self.requests.push(request);
        self
    }

    /// Adds `link list`.
    pub fn link_list(self) -> Self {
        self.request(Request::LinkList)
    }

    /// Adds `link get NAME`.
    pub fn link_get(self, name: &str) -> Self {
        self.request(Request::LinkGet(name.to_owned()))
    }

    /// Adds a link creation.
    pub fn link_add(self, link: NewLink<'a>) -> Self {
        self.request(Request::LinkAdd(link))
    }

    /// Adds a link change.
    pub fn link_set(self, name: &str, changes: LinkChanges) -> Self {
        self.request(Request::LinkSet(
            bindings::nsplug::netns::batch::LinkUpdate {
                name: name.to_owned(),
                changes,
            },
        ))
    }

    /// Adds a move of a link to `to`.
    pub fn link_set_netns(self, name: &str, to: &'a Netns) -> Self {
        self.request(Request::LinkSetNetns(
            bindings::nsplug::netns::batch::LinkMove {
                name: name.to_owned(),
                to,
            },
        ))
    }

    /// Adds a link deletion.
    pub fn link_del(self, name: &str) -> Self {
        self.request(Request::LinkDel(name.to_owned()))
    }

    /// Adds `address list`.
    pub fn address_list(self) -> Self {
        self.request(Request::AddressList)
    }

    /// Adds an address (`10.22.0.2/24`) to `dev`.
    pub fn address_add(self, dev: &str, cidr: &str) -> Self {
        self.request(Request::AddressAdd(
            bindings::nsplug::netns::batch::AddressChange {
                dev: dev.to_owned(),
                address: cidr.to_owned(),
                flags: AddressFlags::empty(),
            },
        ))
    }

    /// Adds `route list` of a table (`None`: main).
    pub fn route_list(self, table: Option<u32>) -> Self {
        self.request(Request::RouteList(table))
    }

    /// Adds a route.
    pub fn route_add(self, route: Route) -> Self {
        self.request(Request::RouteAdd(route))
    }

    /// Adds a sysctl read.
    pub fn sysctl_get(self, key: &str) -> Self {
        self.request(Request::SysctlGet(sysctl_key(key)))
    }

    /// Adds a sysctl write.
    pub fn sysctl_set(self, key: &str, value: &str) -> Self {
        self.request(Request::SysctlSet(
            bindings::nsplug::netns::batch::SysctlWrite {
                key: sysctl_key(key),
                value: value.to_owned(),
            },
        ))
    }

    /// Runs the batch: one response per request, or the first failure with its index.
    pub fn run(self) -> Result<Vec<Response>, BatchError> {
        bindings::nsplug::netns::batch::run(self.ns, &self.requests)
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

#[cfg(test)]
mod tests {
    use super::sysctl_key;

    #[test]
    fn sysctl_keys_split_on_slashes_else_dots() {
        assert_eq!(
            sysctl_key("net/ipv4/conf/eth0.100/forwarding"),
            ["net", "ipv4", "conf", "eth0.100", "forwarding"]
        );
        assert_eq!(
            sysctl_key("net.ipv4.ip_forward"),
            ["net", "ipv4", "ip_forward"]
        );
        // Empty components are kept: the host refuses them with `invalid-argument`.
        assert_eq!(sysctl_key("net//x/"), ["net", "", "x", ""]);
        assert_eq!(sysctl_key(""), [""]);
        assert_eq!(sysctl_key("net/é/ü"), ["net", "é", "ü"]);
    }
}
