//! nsplug example plugin: lists the links and addresses of namespaces.
//!
//! Command `list` (or `run`, the CLI's default); input: empty, or `{"namespaces": ["blue", "red"]}`. Without names it lists
//! every namespace the host grants it. Output (JSON):
//!
//! ```json
//! {"namespaces":[{"name":"blue","links":[{"index":1,"name":"lo","kind":null,"mtu":65536,
//!   "address":"00:00:00:00:00:00","up":false,"oper_state":"DOWN"}],
//!   "addresses":[{"index":1,"address":"127.0.0.1","prefix_len":8,"scope":"host"}]},
//!   {"name":"red","error":"denied-by-policy"}]}
//! ```
//!
//! A namespace the host refuses or cannot read is reported with its error code; the others are
//! still listed.

use nsplug_guest::{
    Address, Level, Link, Netns, NetnsExt, OpClass, Plugin, PluginError, Requirements, log,
};
use serde_json::{Value, json};

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
        let namespaces: Vec<Value> = names.iter().map(|name| describe(name)).collect();
        Ok(json!({ "namespaces": namespaces }).to_string())
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

fn describe(name: &str) -> Value {
    let listed = Netns::open(name).and_then(|ns| {
        let batch = ns.ops().link_list().address_list().run();
        match batch {
            Ok(results) => Ok(results),
            Err(e) => Err(e.code),
        }
    });
    match listed {
        Ok(results) => {
            let mut links = Vec::new();
            let mut addresses = Vec::new();
            for result in results {
                match result {
                    nsplug_guest::Response::Links(l) => links = l.iter().map(link_json).collect(),
                    nsplug_guest::Response::Addresses(a) => {
                        addresses = a.iter().map(address_json).collect()
                    }
                    _ => {}
                }
            }
            json!({ "name": name, "links": links, "addresses": addresses })
        }
        Err(code) => json!({ "name": name, "error": code.name() }),
    }
}

fn link_json(l: &Link) -> Value {
    json!({
        "index": l.index,
        "name": l.name,
        "kind": l.kind,
        "mtu": l.mtu,
        "address": l.address,
        "up": l.up,
        "oper_state": l.oper_state,
    })
}

fn address_json(a: &Address) -> Value {
    json!({
        "index": a.index,
        "address": a.address,
        "prefix_len": a.prefix_len,
        "scope": a.scope,
    })
}

nsplug_guest::export_plugin!(ListLinks);
