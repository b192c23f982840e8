//! A plugin built against `wit/netns.wit` as it was released in nsplug:netns@0.1.0 (a frozen
//! copy in this crate's `wit/`). Every later 0.1.x host must load and run it unchanged: that is
//! the compatibility promise of additive WIT versions, and the test `guest_built_for_0_1_0_runs`
//! holds the host to it.

wit_bindgen::generate!({
    path: "wit",
    world: "plugin",
});

use exports::nsplug::netns::handler::Guest;
use nsplug::netns::namespace::{Netns, Op, OpResult};
use nsplug::netns::types::{OpClass, PluginError, Requirements};
use nsplug::netns::{link, sysctl};

struct V010;

fn host_error(code: nsplug::netns::types::ErrorCode) -> PluginError {
    PluginError {
        code: "host-error".to_owned(),
        message: code.name().to_owned(),
        host_error: Some(code),
    }
}

impl Guest for V010 {
    fn declare() -> Requirements {
        Requirements {
            classes: vec![OpClass::Read],
            host_namespace: false,
        }
    }

    fn handle(command: String, input: String) -> Result<String, PluginError> {
        let ns = Netns::open(&input).map_err(host_error)?;
        match command.as_str() {
            // The link names, through the 0.1.0 `link.list`.
            "links" => Ok(link::list(&ns)
                .map_err(host_error)?
                .into_iter()
                .map(|l| l.name)
                .collect::<Vec<_>>()
                .join(",")),
            // The 0.1.0 batch: link list, address count, a sysctl read.
            "batch" => {
                let ops = [
                    Op::LinkList,
                    Op::AddressList,
                    Op::SysctlGet(vec!["net".into(), "ipv4".into(), "ip_forward".into()]),
                ];
                let results = ns.batch(&ops).map_err(|e| host_error(e.code))?;
                let mut out = Vec::new();
                for result in results {
                    out.push(match result {
                        OpResult::Links(l) => format!("links={}", l.len()),
                        OpResult::Addresses(a) => format!("addresses={}", a.len()),
                        OpResult::Value(v) => format!("ip_forward={v}"),
                        OpResult::Link(_) | OpResult::Done => "unexpected".to_owned(),
                    });
                }
                Ok(out.join(";"))
            }
            // A write the policy does not grant: the 0.1.0 guest sees `denied-by-policy`.
            "write" => match sysctl::set(
                &ns,
                &["net".into(), "ipv4".into(), "ip_forward".into()],
                "1",
            ) {
                Ok(()) => Ok("written".to_owned()),
                Err(code) => Ok(code.name().to_owned()),
            },
            other => Err(PluginError {
                code: "unknown-command".to_owned(),
                message: other.to_owned(),
                host_error: None,
            }),
        }
    }
}

export!(V010);
