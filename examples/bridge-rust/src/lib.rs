//! nsplug example plugin: the CNI reference `bridge` plugin, with `host-local` IPAM, as a Wasm
//! component run by nsplug's CNI shim (`nsplug` installed as a CNI plugin binary).
//!
//! It does what `/usr/lib/cni/bridge` does, through nsplug's typed operations:
//!
//! * **ADD**: creates or reuses the bridge in the host namespace (`mtu`, up, `promiscMode`),
//!   creates a veth pair with the container end created straight in the container's namespace
//!   (`CNI_IFNAME`, `mtu`, `mac` from `runtimeConfig`), enslaves the host end (`hairpinMode`),
//!   allocates one address per IPAM range set (host-local, same files as the reference), adds
//!   them with the IPAM routes in the container, and with `isGateway` puts the gateway
//!   addresses on the bridge and turns forwarding on; `isDefaultGateway` adds default routes via
//!   the gateway. If any step fails, everything it created is removed again (the veth pair, the
//!   reservation); the bridge, shared with other containers, stays. Prints the CNI result in the
//!   configuration's version (0.4.0, 1.0.0, 1.1.0).
//! * **DEL**: releases the container's addresses and deletes its interface (which deletes the
//!   pair). Succeeds when things are already gone.
//! * **CHECK**: verifies the container interface, its addresses and routes, the host end and its
//!   bridge, and the reservations against `prevResult`.
//! * **STATUS**: ready when the IPAM state directory is usable. **GC**: releases every
//!   reservation not in `cni.dev/valid-attachments`.
//!
//! `ipMasq: true` is refused with CNI error 2 (unsupported field): nsplug has no masquerade
//! operation. IPAM types other than host-local are refused with error 7.
//!
//! Failures are plugin errors whose code is the CNI error code in decimal; the shim prints them
//! as the spec's error JSON.

mod ipam;

use std::net::IpAddr;

use nsplug_guest::{
    AddressFlags, ErrorCode, Link, LinkChanges, LinkKind, MasterChange, Netns, NetnsExt, NewLink,
    OpClass, Plugin, PluginError, Requirements, Route, VethPeer,
};
use serde::Deserialize;
use serde_json::{Value, json};

use ipam::{Allocation, Cidr, IpamConf, RouteConf, Store};

/// The CNI error codes this plugin returns.
mod cni_code {
    pub(crate) const UNSUPPORTED_FIELD: u32 = 2;
    pub(crate) const IO: u32 = 5;
    pub(crate) const DECODE: u32 = 6;
    pub(crate) const INVALID_CONFIG: u32 = 7;
    pub(crate) const INTERNAL: u32 = 999;
}

/// A failure on its way to becoming a CNI error.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u32,
    message: String,
    host: Option<ErrorCode>,
}

impl Failure {
    pub(crate) fn new(code: u32, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            host: None,
        }
    }

    /// A host call that failed while doing `what`.
    fn host(what: impl Into<String>, code: ErrorCode) -> Failure {
        Failure {
            code: cni_code::INTERNAL,
            message: format!("{}: {}", what.into(), code.name()),
            host: Some(code),
        }
    }
}

impl From<Failure> for PluginError {
    fn from(f: Failure) -> PluginError {
        PluginError {
            code: f.code.to_string(),
            message: f.message,
            host_error: f.host,
        }
    }
}

/// `.map_err(at("doing X"))` for host calls.
fn at(what: impl Into<String>) -> impl FnOnce(ErrorCode) -> Failure {
    let what = what.into();
    move |code| Failure::host(what, code)
}

/// The shim's input document.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Input {
    container_id: Option<String>,
    netns: Option<String>,
    ifname: Option<String>,
    state_dir: Option<String>,
    config: NetConf,
}

/// The network configuration (the bridge plugin's keys; others are ignored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NetConf {
    cni_version: String,
    #[serde(default = "default_bridge")]
    bridge: String,
    #[serde(default)]
    is_gateway: bool,
    #[serde(default)]
    is_default_gateway: bool,
    #[serde(default)]
    ip_masq: bool,
    mtu: Option<u32>,
    #[serde(default)]
    hairpin_mode: bool,
    #[serde(default)]
    promisc_mode: bool,
    ipam: Option<IpamConf>,
    #[serde(default)]
    runtime_config: RuntimeConfig,
    dns: Option<Value>,
    prev_result: Option<Value>,
    #[serde(rename = "cni.dev/valid-attachments")]
    valid_attachments: Option<Vec<Attachment>>,
}

fn default_bridge() -> String {
    "cni0".to_owned()
}

#[derive(Debug, Default, Deserialize)]
struct RuntimeConfig {
    mac: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Attachment {
    #[serde(rename = "containerID")]
    container_id: String,
    ifname: String,
}

struct Bridge;

impl Plugin for Bridge {
    fn declare() -> Requirements {
        Requirements {
            classes: vec![
                OpClass::Read,
                OpClass::Link,
                OpClass::Address,
                OpClass::Route,
                OpClass::Sysctl,
            ],
            host_namespace: true,
        }
    }

    fn handle(command: String, input: String) -> Result<String, PluginError> {
        let input: Input = serde_json::from_str(&input).map_err(|e| {
            Failure::new(
                cni_code::DECODE,
                format!("decoding the network configuration: {e}"),
            )
        })?;
        let conf = &input.config;
        if conf.ip_masq {
            return Err(Failure::new(
                cni_code::UNSUPPORTED_FIELD,
                "ipMasq is not supported: nsplug has no masquerade operation; set \"ipMasq\": false",
            )
            .into());
        }
        if let Some(ipam) = &conf.ipam
            && !ipam.kind.is_empty()
            && ipam.kind != "host-local"
        {
            return Err(Failure::new(
                cni_code::INVALID_CONFIG,
                format!(
                    "IPAM type {:?} is not supported: this plugin implements host-local",
                    ipam.kind
                ),
            )
            .into());
        }
        Ok(match command.as_str() {
            "ADD" => add(&input)?.to_string(),
            "DEL" => del(&input).map(|()| String::new())?,
            "CHECK" => check(&input).map(|()| String::new())?,
            "STATUS" => status(&input).map(|()| String::new())?,
            "GC" => gc(&input).map(|()| String::new())?,
            other => {
                return Err(
                    Failure::new(cni_code::INTERNAL, format!("unknown command {other:?}")).into(),
                );
            }
        })
    }
}

nsplug_guest::export_plugin!(Bridge);

fn required<'a>(value: &'a Option<String>, what: &str) -> Result<&'a str, Failure> {
    value
        .as_deref()
        .ok_or_else(|| Failure::new(cni_code::INTERNAL, format!("{what} is missing")))
}

/// The host-local store, when the configuration uses IPAM.
fn store(input: &Input) -> Result<Option<Store>, Failure> {
    match &input.config.ipam {
        Some(ipam) if ipam.kind == "host-local" => {
            let dir = required(&input.state_dir, "the IPAM state directory")?;
            Store::new(dir, ipam).map(Some)
        }
        _ => Ok(None),
    }
}

/// What ADD created so far, undone if a later step fails.
struct Undo<'a> {
    container: &'a Netns,
    ifname: &'a str,
    veth: bool,
    store: Option<(&'a Store, &'a str)>,
}

impl Undo<'_> {
    fn run(self) {
        if self.veth {
            // Deleting one end of the pair deletes both.
            let _ = self.container.del_link(self.ifname);
        }
        if let Some((store, id)) = self.store {
            let _ = store.release(id, self.ifname);
        }
    }
}

fn add(input: &Input) -> Result<Value, Failure> {
    let conf = &input.config;
    let id = required(&input.container_id, "CNI_CONTAINERID")?;
    let ifname = required(&input.ifname, "CNI_IFNAME")?;
    let netns_path = required(&input.netns, "CNI_NETNS")?;
    let store = store(input)?;
    let host = Netns::host().map_err(at("opening the host namespace"))?;
    let container =
        Netns::open_path(netns_path).map_err(at(format!("opening netns {netns_path:?}")))?;

    let bridge = ensure_bridge(&host, conf)?;
    let mut undo = Undo {
        container: &container,
        ifname,
        veth: false,
        store: None,
    };
    let result = (|| {
        let host_veth = create_veth(&host, &container, ifname, conf)?;
        undo.veth = true;
        let allocations = match &store {
            Some(store) => {
                let a = store.allocate(id, ifname)?;
                undo.store = Some((store, id));
                a
            }
            None => Vec::new(),
        };
        let routes = configure_container(&container, ifname, conf, &allocations)?;
        if conf.is_gateway || conf.is_default_gateway {
            configure_gateway(&host, &bridge, &allocations)?;
        }
        let container_link = container
            .link(ifname)
            .map_err(at(format!("reading {ifname}")))?;
        let host_link = host
            .link(&host_veth)
            .map_err(at(format!("reading {host_veth}")))?;
        Ok(result_document(
            conf,
            [&bridge, &host_link, &container_link],
            netns_path,
            &allocations,
            &routes,
        ))
    })();
    if result.is_err() {
        undo.run();
    }
    result
}

/// Creates the bridge or reuses the one there, and sets it up.
fn ensure_bridge(host: &Netns, conf: &NetConf) -> Result<Link, Failure> {
    let name = &conf.bridge;
    match host.link_details(name) {
        Ok(d) if d.link.kind.as_deref() == Some("bridge") => {}
        Ok(_) => {
            return Err(Failure::new(
                cni_code::INTERNAL,
                format!("{name:?} already exists but is not a bridge"),
            ));
        }
        Err(ErrorCode::NotFound) => {
            // A MAC of its own, as the reference sets: a bridge with a kernel-chosen MAC takes
            // its lowest port's, so its MAC (the containers' gateway) would change as
            // containers come and go.
            let new = NewLink {
                mtu: conf.mtu,
                mac: Some(random_mac()),
                ..NewLink::new(name, LinkKind::Bridge)
            };
            match host.add_link(&new) {
                // Another ADD created it meanwhile: use it.
                Ok(()) | Err(ErrorCode::AlreadyExists) => {}
                Err(code) => return Err(Failure::host(format!("creating bridge {name}"), code)),
            }
        }
        Err(code) => return Err(Failure::host(format!("reading {name}"), code)),
    }
    let changes = LinkChanges {
        up: Some(true),
        promisc: conf.promisc_mode.then_some(true),
        ..LinkChanges::default()
    };
    host.set_link(name, &changes)
        .map_err(at(format!("setting bridge {name} up")))?;
    host.link(name).map_err(at(format!("reading {name}")))
}

/// 64 random bits. The standard library seeds every `RandomState` from WASI's random source.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u8(0);
    hasher.finish()
}

/// A host-side veth name as the reference makes them: `veth` and 8 random hex digits.
fn random_veth_name() -> String {
    format!("veth{:08x}", random_u64() as u32)
}

/// A random unicast, locally administered MAC.
fn random_mac() -> String {
    let b = random_u64().to_be_bytes();
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        (b[0] & 0xfe) | 0x02,
        b[1],
        b[2],
        b[3],
        b[4],
        b[5]
    )
}

/// Creates the pair from inside the container (`ip -n C link add IFNAME type veth peer name
/// vethXXXX netns HOST`), enslaves the host end and sets both up. Returns the host end's name.
fn create_veth(
    host: &Netns,
    container: &Netns,
    ifname: &str,
    conf: &NetConf,
) -> Result<String, Failure> {
    let mut attempts = 0;
    let host_veth = loop {
        let peer = random_veth_name();
        let new = NewLink {
            mtu: conf.mtu,
            mac: conf.runtime_config.mac.clone(),
            ..NewLink::new(ifname, LinkKind::Veth(VethPeer::new(&peer, Some(host))))
        };
        match container.add_link(&new) {
            Ok(()) => break peer,
            Err(ErrorCode::AlreadyExists) => {
                if container.link(ifname).is_ok() {
                    return Err(Failure::new(
                        cni_code::INTERNAL,
                        format!("container veth name provided ({ifname}) already exists"),
                    ));
                }
                // The random host-side name was taken: draw another.
                attempts += 1;
                if attempts == 4 {
                    return Err(Failure::host(
                        "creating the veth pair",
                        ErrorCode::AlreadyExists,
                    ));
                }
            }
            Err(code) => return Err(Failure::host("creating the veth pair", code)),
        }
    };
    let changes = LinkChanges {
        up: Some(true),
        master: Some(MasterChange::Set(conf.bridge.clone())),
        hairpin: Some(conf.hairpin_mode),
        ..LinkChanges::default()
    };
    host.set_link(&host_veth, &changes)
        .map_err(at(format!("attaching {host_veth} to {}", conf.bridge)))?;
    container
        .set_up(ifname)
        .map_err(at(format!("setting {ifname} up")))?;
    Ok(host_veth)
}

/// Adds the addresses and routes in the container; returns the result's routes.
fn configure_container(
    container: &Netns,
    ifname: &str,
    conf: &NetConf,
    allocations: &[Allocation],
) -> Result<Vec<RouteConf>, Failure> {
    for a in allocations {
        // DAD would hold an IPv6 address tentative (and with hairpin mode fail on our own
        // echo), as the reference plugin also avoids.
        let flags = if a.address.ip.is_ipv6() {
            AddressFlags::NODAD
        } else {
            AddressFlags::empty()
        };
        container
            .add_address_with(ifname, &a.address.to_string(), flags)
            .map_err(at(format!("adding {} to {ifname}", a.address)))?;
    }
    let mut routes: Vec<RouteConf> = conf
        .ipam
        .as_ref()
        .map(|i| i.routes.clone())
        .unwrap_or_default();
    if conf.is_default_gateway {
        for a in allocations {
            let dst = if a.address.ip.is_ipv4() {
                "0.0.0.0/0"
            } else {
                "::/0"
            };
            if !routes.iter().any(|r| r.dst == dst) {
                routes.push(RouteConf {
                    dst: dst.to_owned(),
                    gw: Some(a.gateway.to_string()),
                });
            }
        }
    }
    for r in &routes {
        let dst = Cidr::parse(&r.dst).ok_or_else(|| {
            Failure::new(
                cni_code::INVALID_CONFIG,
                format!("ipam: invalid route destination {:?}", r.dst),
            )
        })?;
        // Without its own gateway a route goes via the gateway of its family.
        let gw = match &r.gw {
            Some(gw) => Some(gw.clone()),
            None => allocations
                .iter()
                .find(|a| a.gateway.is_ipv4() == dst.ip.is_ipv4())
                .map(|a| a.gateway.to_string()),
        };
        let route = Route {
            gateway: gw,
            dev: Some(ifname.to_owned()),
            ..Route::to(&r.dst)
        };
        container
            .add_route(&route)
            .map_err(at(format!("adding route {} in the container", r.dst)))?;
    }
    Ok(routes)
}

/// Puts each range's gateway on the bridge and turns forwarding on for its family.
fn configure_gateway(
    host: &Netns,
    bridge_link: &Link,
    allocations: &[Allocation],
) -> Result<(), Failure> {
    let (bridge, index) = (bridge_link.name.as_str(), bridge_link.index);
    let present = host
        .addresses()
        .map_err(at("listing the host's addresses"))?;
    for a in allocations {
        let gw = Cidr {
            ip: a.gateway,
            len: a.address.len,
        };
        let there = present.iter().any(|p| {
            p.index == index && p.address.parse::<IpAddr>() == Ok(gw.ip) && p.prefix_len == gw.len
        });
        if !there {
            match host.add_address(bridge, &gw.to_string()) {
                Ok(()) | Err(ErrorCode::AlreadyExists) => {}
                Err(code) => return Err(Failure::host(format!("adding {gw} to {bridge}"), code)),
            }
        }
        let key = if gw.ip.is_ipv4() {
            "net/ipv4/ip_forward"
        } else {
            "net/ipv6/conf/all/forwarding"
        };
        if host
            .sysctl(key)
            .map_err(at(format!("reading {key}")))?
            .trim()
            != "1"
        {
            host.set_sysctl(key, "1")
                .map_err(at(format!("enabling forwarding ({key})")))?;
        }
    }
    Ok(())
}

/// The CNI result, in the configuration's version.
fn result_document(
    conf: &NetConf,
    [bridge, host_veth, container]: [&Link; 3],
    netns: &str,
    allocations: &[Allocation],
    routes: &[RouteConf],
) -> Value {
    let ips: Vec<Value> = allocations
        .iter()
        .map(|a| {
            let mut ip = json!({
                "interface": 2,
                "address": a.address.to_string(),
                "gateway": a.gateway.to_string(),
            });
            if conf.cni_version == "0.4.0" {
                ip["version"] = json!(if a.address.ip.is_ipv4() { "4" } else { "6" });
            }
            ip
        })
        .collect();
    let mut doc = json!({
        "cniVersion": conf.cni_version,
        "interfaces": [
            {"name": bridge.name, "mac": bridge.address},
            {"name": host_veth.name, "mac": host_veth.address},
            {"name": container.name, "mac": container.address, "sandbox": netns},
        ],
        "dns": conf.dns.clone().unwrap_or_else(|| json!({})),
    });
    if !ips.is_empty() {
        doc["ips"] = json!(ips);
    }
    if !routes.is_empty() {
        doc["routes"] = json!(routes);
    }
    doc
}

fn del(input: &Input) -> Result<(), Failure> {
    let id = required(&input.container_id, "CNI_CONTAINERID")?;
    let ifname = required(&input.ifname, "CNI_IFNAME")?;
    if let Some(store) = store(input)? {
        store.release(id, ifname)?;
    }
    let Some(path) = &input.netns else {
        return Ok(());
    };
    let container = match Netns::open_path(path) {
        Ok(ns) => ns,
        // Gone since the shim opened it: nothing left to delete.
        Err(ErrorCode::NotFound) => return Ok(()),
        Err(code) => return Err(Failure::host(format!("opening netns {path:?}"), code)),
    };
    match container.del_link(ifname) {
        Ok(()) | Err(ErrorCode::NotFound) => Ok(()),
        Err(code) => Err(Failure::host(format!("deleting {ifname}"), code)),
    }
}

fn check(input: &Input) -> Result<(), Failure> {
    let conf = &input.config;
    let id = required(&input.container_id, "CNI_CONTAINERID")?;
    let ifname = required(&input.ifname, "CNI_IFNAME")?;
    let path = required(&input.netns, "CNI_NETNS")?;
    let prev = conf.prev_result.as_ref().ok_or_else(|| {
        Failure::new(
            cni_code::INVALID_CONFIG,
            "CHECK needs prevResult in the configuration",
        )
    })?;
    let mismatch = |msg: String| Failure::new(cni_code::INTERNAL, msg);
    let interfaces = prev["interfaces"].as_array().cloned().unwrap_or_default();
    let name_of = |i: &Value| i["name"].as_str().unwrap_or_default().to_owned();
    let container_if = interfaces
        .iter()
        .find(|i| i["sandbox"].as_str() == Some(path) && name_of(i) == ifname)
        .ok_or_else(|| mismatch(format!("prevResult has no interface {ifname} in {path}")))?;
    let host_if = interfaces
        .iter()
        .find(|i| i["sandbox"].is_null() && name_of(i) != conf.bridge)
        .ok_or_else(|| mismatch("prevResult has no host-side veth".into()))?;

    let host = Netns::host().map_err(at("opening the host namespace"))?;
    let container = Netns::open_path(path).map_err(at(format!("opening netns {path:?}")))?;
    let bridge = host
        .link(&conf.bridge)
        .map_err(|_| mismatch(format!("bridge {} not found", conf.bridge)))?;
    let veth_name = name_of(host_if);
    let veth = host
        .link(&veth_name)
        .map_err(|_| mismatch(format!("Interface name {veth_name} not found")))?;
    if veth.master != Some(bridge.index) {
        return Err(mismatch(format!(
            "{veth_name} is not a port of {}",
            conf.bridge
        )));
    }
    let link = container
        .link(ifname)
        .map_err(|_| mismatch(format!("Interface name {ifname} not found")))?;
    if link.kind.as_deref() != Some("veth") {
        return Err(mismatch(format!("{ifname} is not a veth")));
    }
    if let Some(mac) = container_if["mac"].as_str()
        && link.address.as_deref() != Some(mac)
    {
        return Err(mismatch(format!(
            "{ifname} has MAC {:?}, not {mac}",
            link.address
        )));
    }
    let addresses = container.addresses().map_err(at("listing addresses"))?;
    let ips = prev["ips"].as_array().cloned().unwrap_or_default();
    let store = store(input)?;
    let held = match &store {
        Some(s) => s.held_by(id, ifname)?,
        None => Vec::new(),
    };
    for ip in &ips {
        let want = ip["address"]
            .as_str()
            .and_then(Cidr::parse)
            .ok_or_else(|| mismatch(format!("prevResult has a bad address {ip}")))?;
        let found = addresses.iter().any(|a| {
            a.index == link.index
                && a.address.parse::<IpAddr>() == Ok(want.ip)
                && a.prefix_len == want.len
        });
        if !found {
            return Err(mismatch(format!("{ifname} does not have {want}")));
        }
        if store.is_some() && !held.contains(&want.ip) {
            return Err(mismatch(format!(
                "failed to find address {} reserved for {id}",
                want.ip
            )));
        }
    }
    let routes = container.routes(None).map_err(at("listing routes"))?;
    for r in prev["routes"].as_array().cloned().unwrap_or_default() {
        let dst = r["dst"].as_str().unwrap_or_default();
        let dst = Cidr::parse(dst).map(|c| c.to_string()).unwrap_or_default();
        if !routes
            .iter()
            .any(|have| Cidr::parse(&have.destination).map(|c| c.to_string()) == Some(dst.clone()))
        {
            return Err(mismatch(format!(
                "route to {dst} is missing in the container"
            )));
        }
    }
    Ok(())
}

fn status(input: &Input) -> Result<(), Failure> {
    if let (Some(_), Some(dir)) = (store(input)?, &input.state_dir) {
        std::fs::read_dir(dir)
            .map_err(|e| Failure::new(cni_code::IO, format!("IPAM state directory {dir}: {e}")))?;
    }
    Ok(())
}

fn gc(input: &Input) -> Result<(), Failure> {
    let Some(store) = store(input)? else {
        return Ok(());
    };
    let valid: Vec<(String, String)> = input
        .config
        .valid_attachments
        .iter()
        .flatten()
        .map(|a| (a.container_id.clone(), a.ifname.clone()))
        .collect();
    store.release_all_but(&valid).map(drop)
}
