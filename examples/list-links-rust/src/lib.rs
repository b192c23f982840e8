//! nsplug example plugin: lists the links and addresses of namespaces.
//!
//! Command `list` (or `run`, the CLI's default); input: empty, or `{"namespaces": ["blue", "red"]}`. Without names it lists
//! every namespace the host grants it. Output (JSON):
//!
//! ```json
//! {"namespaces":[{"addresses":[{"address":"127.0.0.1","index":1,"prefix_len":8,"scope":"host"}],
//!   "links":[{"address":"00:00:00:00:00:00","index":1,"kind":null,"mtu":65536,"name":"lo",
//!   "oper_state":"UNKNOWN","up":true}],"name":"blue"},
//!   {"error":"denied-by-policy","name":"red"}]}
//! ```
//!
//! A namespace the host refuses or cannot read is reported with its error code; the others are
//! still listed.

use nsplug_guest::{
    Address, Level, Link, Netns, NetnsExt, OpClass, Plugin, PluginError, Requirements, log,
};
use serde::Serialize;
use serde_json::Value;

struct ListLinks;

impl Plugin for ListLinks {
    fn declare() -> Requirements {
        Requirements {
            classes: vec![OpClass::Read],
            host_namespace: false,
        }
    }

    fn handle(command: String, input: String) -> Result<String, PluginError> {
        if command != "list" && command != "run" {
            return Err(PluginError::new(
                "unknown-command",
                format!("unknown command {command:?}; this plugin knows `list` (or `run`)"),
            ));
        }
        let names = requested_namespaces(&input)?;
        log(Level::Info, &format!("listing {} namespaces", names.len()));
        let namespaces = names.iter().map(|name| describe(name)).collect();
        serde_json::to_string(&Output { namespaces })
            .map_err(|e| PluginError::new("internal", format!("cannot write the output: {e}")))
    }
}

fn requested_namespaces(input: &str) -> Result<Vec<String>, PluginError> {
    if input.trim().is_empty() {
        return Ok(nsplug_guest::granted());
    }
    let doc: Value = serde_json::from_str(input)
        .map_err(|e| PluginError::new("bad-input", format!("input is not JSON: {e}")))?;
    match doc.get("namespaces") {
        None => Ok(nsplug_guest::granted()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    PluginError::new("bad-input", "`namespaces` must be a list of strings")
                })
            })
            .collect(),
        Some(_) => Err(PluginError::new(
            "bad-input",
            "`namespaces` must be a list of strings",
        )),
    }
}

/// The output document. Fields are in alphabetical order, as every example language writes
/// them (`sort_keys`), so that all four answer byte for byte alike.
#[derive(Serialize)]
struct Output {
    namespaces: Vec<Namespace>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Namespace {
    Listed {
        addresses: Vec<AddressOut>,
        links: Vec<LinkOut>,
        name: String,
    },
    Failed {
        error: &'static str,
        name: String,
    },
}

#[derive(Serialize)]
struct LinkOut {
    address: Option<String>,
    index: u32,
    kind: Option<String>,
    mtu: Option<u32>,
    name: String,
    oper_state: String,
    up: bool,
}

#[derive(Serialize)]
struct AddressOut {
    address: String,
    index: u32,
    prefix_len: u8,
    scope: String,
}

fn describe(name: &str) -> Namespace {
    let listed = Netns::open(name).and_then(|ns| {
        let batch = ns.ops().link_list().address_list().run();
        match batch {
            Ok(results) => Ok(results),
            Err(e) => Err(e.code),
        }
    });
    let name = name.to_owned();
    match listed {
        Ok(results) => {
            let mut links = Vec::new();
            let mut addresses = Vec::new();
            for result in results {
                match result {
                    nsplug_guest::Response::Links(l) => {
                        links = l.into_iter().map(LinkOut::from).collect()
                    }
                    nsplug_guest::Response::Addresses(a) => {
                        addresses = a.into_iter().map(AddressOut::from).collect()
                    }
                    _ => {}
                }
            }
            Namespace::Listed {
                addresses,
                links,
                name,
            }
        }
        Err(code) => Namespace::Failed {
            error: code.name(),
            name,
        },
    }
}

impl From<Link> for LinkOut {
    fn from(l: Link) -> LinkOut {
        LinkOut {
            address: l.address,
            index: l.index,
            kind: l.kind,
            mtu: l.mtu,
            name: l.name,
            oper_state: l.oper_state,
            up: l.up,
        }
    }
}

impl From<Address> for AddressOut {
    fn from(a: Address) -> AddressOut {
        AddressOut {
            address: a.address,
            index: a.index,
            prefix_len: a.prefix_len,
            scope: a.scope,
        }
    }
}

nsplug_guest::export_plugin!(ListLinks);
