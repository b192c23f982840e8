//! nsplug example plugin: connects two namespaces with a veth pair, addresses and routes.
//!
//! Command `connect` (or `run`, the CLI's default). Input (JSON):
//!
//! ```json
//! {"a": {"namespace": "blue", "ifname": "veth-blue", "address": "10.55.0.1/24",
//!        "routes": ["10.99.0.0/24"]},
//!  "b": {"namespace": "red", "ifname": "veth-red", "address": "10.55.0.2/24"},
//!  "mtu": 1400}
//! ```
//!
//! It creates the veth pair in `a`'s namespace with the peer created straight in `b`'s
//! (`ip -n blue link add veth-blue mtu 1400 type veth peer name veth-red netns red`), adds each
//! end's address, sets both ends and both loopbacks up, and adds each end's `routes` through the
//! other end's address. Each namespace is visited once, with one batch. If anything fails after
//! the pair exists, the pair is deleted again, so a failed `connect` leaves nothing behind.
//!
//! Output: `{"a": {"namespace", "ifname", "index", "mac", "mtu", "address"}, "b": {…}}`.
//!
//! Command `disconnect` takes the same document and deletes the pair (from `a`'s side, which
//! removes both ends). It succeeds when the pair is already gone: `{"removed": false}`.
//!
//! A failure is a plugin error whose code says which step failed (`bad-input`, `open`,
//! `connect`, `disconnect`) and carries the host's error code (`denied-by-policy`,
//! `already-exists`, …).

use nsplug_guest::{
    ErrorCode, Level, LinkChanges, LinkKind, Netns, NetnsExt, NewLink, OpClass, Plugin,
    PluginError, Requirements, Response, Route, VethPeer, log,
};
use serde::Deserialize;
use serde_json::{Value, json};

struct VethPair;

/// One end of the pair.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct End {
    namespace: String,
    ifname: String,
    /// `10.55.0.1/24` or `fd55::1/64`.
    address: String,
    /// Destinations reached through the other end's address.
    #[serde(default)]
    routes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    a: End,
    b: End,
    mtu: Option<u32>,
}

impl Plugin for VethPair {
    fn declare() -> Requirements {
        Requirements {
            classes: vec![
                OpClass::Read,
                OpClass::Link,
                OpClass::Address,
                OpClass::Route,
            ],
            host_namespace: false,
        }
    }

    fn handle(command: String, input: String) -> Result<String, PluginError> {
        let input: Input = serde_json::from_str(&input)
            .map_err(|e| PluginError::new("bad-input", format!("input document: {e}")))?;
        let output = match command.as_str() {
            "connect" | "run" => connect(&input)?,
            "disconnect" => disconnect(&input)?,
            other => {
                return Err(PluginError::new(
                    "unknown-command",
                    format!(
                        "unknown command {other:?}; this plugin knows `connect` and `disconnect`"
                    ),
                ));
            }
        };
        Ok(output.to_string())
    }
}

/// A plugin error for `step` failing with the host's `code`.
fn failed(step: &str, what: &str, code: ErrorCode) -> PluginError {
    PluginError {
        code: step.to_owned(),
        message: format!("{what}: {}", code.name()),
        host_error: Some(code),
    }
}

fn open(name: &str) -> Result<Netns, PluginError> {
    Netns::open(name).map_err(|code| failed("open", &format!("opening namespace {name}"), code))
}

/// The address part of `10.55.0.2/24`.
fn host_part(cidr: &str) -> &str {
    cidr.split_once('/').map_or(cidr, |(ip, _)| ip)
}

/// The requests that configure one end once its link exists: address, up, loopback up, routes
/// through `gateway`.
fn configure<'a>(ns: &'a Netns, end: &End, gateway: &str) -> nsplug_guest::Batch<'a> {
    let mut batch = ns
        .ops()
        .address_add(&end.ifname, &end.address)
        .link_set(&end.ifname, LinkChanges::up())
        .link_set("lo", LinkChanges::up());
    for destination in &end.routes {
        let mut route = Route::to(destination);
        route.gateway = Some(gateway.to_owned());
        route.dev = Some(end.ifname.clone());
        batch = batch.route_add(route);
    }
    batch.link_get(&end.ifname)
}

fn connect(input: &Input) -> Result<Value, PluginError> {
    let (a, b) = (open(&input.a.namespace)?, open(&input.b.namespace)?);
    let mut pair = NewLink::new(
        &input.a.ifname,
        LinkKind::Veth(VethPeer::new(&input.b.ifname, Some(&b))),
    );
    pair.mtu = input.mtu;
    a.add_link(&pair).map_err(|code| {
        failed(
            "connect",
            &format!("creating {} in {}", input.a.ifname, input.a.namespace),
            code,
        )
    })?;
    log(
        Level::Info,
        &format!(
            "created {}@{} <-> {}@{}",
            input.a.ifname, input.a.namespace, input.b.ifname, input.b.namespace
        ),
    );

    let mut ends = Vec::new();
    for (ns, end, gateway) in [
        (&a, &input.a, host_part(&input.b.address)),
        (&b, &input.b, host_part(&input.a.address)),
    ] {
        match configure(ns, end, gateway).run() {
            Ok(responses) => ends.push(describe(end, &responses)),
            Err(e) => {
                // Roll back: deleting one end removes the pair.
                if let Err(code) = a.del_link(&input.a.ifname) {
                    log(
                        Level::Warn,
                        &format!("rollback of {} failed: {}", input.a.ifname, code.name()),
                    );
                }
                return Err(failed(
                    "connect",
                    &format!("request {} of the batch in {}", e.index, end.namespace),
                    e.code,
                ));
            }
        }
    }
    let b_end = ends.pop();
    Ok(json!({ "a": ends.pop(), "b": b_end }))
}

/// An end as the output reports it, from its batch's final `link-get`.
fn describe(end: &End, responses: &[Response]) -> Value {
    let link = responses.iter().rev().find_map(|r| match r {
        Response::Link(link) => Some(link),
        _ => None,
    });
    json!({
        "namespace": end.namespace,
        "ifname": end.ifname,
        "index": link.map(|l| l.index),
        "mac": link.and_then(|l| l.address.clone()),
        "mtu": link.and_then(|l| l.mtu),
        "address": end.address,
    })
}

fn disconnect(input: &Input) -> Result<Value, PluginError> {
    let a = open(&input.a.namespace)?;
    match a.del_link(&input.a.ifname) {
        Ok(()) => Ok(json!({ "removed": true })),
        Err(ErrorCode::NotFound) => Ok(json!({ "removed": false })),
        Err(code) => Err(failed(
            "disconnect",
            &format!("deleting {} in {}", input.a.ifname, input.a.namespace),
            code,
        )),
    }
}

nsplug_guest::export_plugin!(VethPair);
