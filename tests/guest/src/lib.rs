//! The plugin the integration tests run. `handle(command, input)` does one thing per command,
//! most of them things a plugin should not do; the tests check the host survives each.

use nsplug_guest::{
    ErrorCode, Level, LinkChanges, LinkKind, Netns, NetnsExt, NewLink, Op, OpClass, Plugin,
    PluginError, Requirements, Response, log,
};

struct TestGuest;

fn code(c: ErrorCode) -> String {
    c.name().to_owned()
}

impl Plugin for TestGuest {
    fn declare() -> Requirements {
        Requirements {
            classes: vec![
                OpClass::Read,
                OpClass::Sysctl,
                OpClass::Link,
                OpClass::Address,
                OpClass::Namespace,
            ],
            host_namespace: true,
        }
    }

    fn handle(command: String, input: String) -> Result<String, PluginError> {
        match command.as_str() {
            // Nothing at all: instantiate + call cost.
            "noop" => Ok(String::new()),
            // One namespace open; `input` is the name. Returns the link names.
            "links" => {
                let ns = Netns::open(&input)?;
                let names: Vec<String> = ns.links()?.into_iter().map(|l| l.name).collect();
                Ok(names.join(","))
            }
            // Open, then list `n` times (the bench's guest-side loop is in the host).
            "open" => Netns::open(&input)
                .map(|_| "opened".to_owned())
                .map_err(Into::into),
            // Opening the host namespace.
            "host" => Netns::host().map(|ns| ns.name()).map_err(Into::into),
            // Returns the error code of opening `input`, and proves the guest goes on afterwards.
            "try-open" => {
                let first = match Netns::open(&input) {
                    Ok(_) => "ok".to_owned(),
                    Err(c) => code(c),
                };
                log(Level::Info, &format!("try-open {input:?}: {first}"));
                Ok(format!("{first};still-running"))
            }
            // Opens the namespace at path `input` (0.1.2): the error code, or `ok` and its link
            // names.
            "try-open-path" => Ok(match Netns::open_path(&input) {
                Ok(ns) => {
                    let names: Vec<String> = ns.links()?.into_iter().map(|l| l.name).collect();
                    format!("ok;{}", names.join(","))
                }
                Err(c) => code(c),
            }),
            // A batch of sysctl reads/writes: `ns|key=value,key,...`: a key alone is a read.
            "batch" => {
                let (ns, ops) = input.split_once('|').unwrap_or((&input, ""));
                let ns = Netns::open(ns)?;
                let mut batch = ns.ops();
                for op in ops.split(',').filter(|s| !s.is_empty()) {
                    batch = match op.split_once('=') {
                        Some((k, v)) => batch.sysctl_set(k, v),
                        None => batch.sysctl_get(op),
                    };
                }
                match batch.run() {
                    Ok(results) => Ok(results
                        .into_iter()
                        .map(|r| match r {
                            Response::Value(v) => v,
                            Response::Done => "done".to_owned(),
                            _ => "other".to_owned(),
                        })
                        .collect::<Vec<_>>()
                        .join(",")),
                    Err(e) => Ok(format!("error at {}: {}", e.index, code(e.code))),
                }
            }
            // `ns|bridge|cidr` (`host` for the host's namespace): one batch that creates a
            // bridge, adds an address to it and sets it up.
            "bridge-batch" => {
                let mut parts = input.split('|');
                let (ns, bridge, cidr) = (
                    parts.next().unwrap_or(""),
                    parts.next().unwrap_or(""),
                    parts.next().unwrap_or(""),
                );
                let ns = if ns == "host" {
                    Netns::host()?
                } else {
                    Netns::open(ns)?
                };
                let batch = ns
                    .ops()
                    .link_add(NewLink::new(bridge, LinkKind::Bridge))
                    .address_add(bridge, cidr)
                    .link_set(bridge, LinkChanges::up());
                Ok(match batch.run() {
                    Ok(responses) => format!("ran {}", responses.len()),
                    Err(e) => format!("error at {}: {}", e.index, code(e.code)),
                })
            }
            // Creates the named namespace, counts its links, deletes it; each step's error code
            // ends the answer.
            "lifecycle" => {
                let ns = match Netns::create(&input) {
                    Ok(ns) => ns,
                    Err(c) => return Ok(format!("create: {}", code(c))),
                };
                let links = ns.links().map(|l| l.len().to_string());
                let deleted = nsplug_guest::delete(&input);
                Ok(format!(
                    "created;links={};{}",
                    links.unwrap_or_else(code),
                    match deleted {
                        Ok(()) => "deleted".to_owned(),
                        Err(c) => format!("delete: {}", code(c)),
                    }
                ))
            }
            // A sysctl read by components (for a `key` with dots in a component).
            "sysctl-get" => {
                let (ns, key) = input.split_once('|').unwrap_or((&input, ""));
                Netns::open(ns)?.sysctl(key).map_err(Into::into)
            }
            "sysctl-set" => {
                let (ns, rest) = input.split_once('|').unwrap_or((&input, ""));
                let (key, value) = rest.split_once('=').unwrap_or((rest, ""));
                Netns::open(ns)?
                    .set_sysctl(key, value)
                    .map(|()| "set".to_owned())
                    .map_err(Into::into)
            }
            // `ns|key|n`: n sysctl reads in one call (the benchmark's guest-side loop).
            "sysctl-loop" => {
                let mut parts = input.split('|');
                let (ns, key) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let n: u32 = parts.next().and_then(|n| n.parse().ok()).unwrap_or(1);
                let ns = Netns::open(ns)?;
                let mut last = String::new();
                for _ in 0..n {
                    last = ns.sysctl(key)?;
                }
                Ok(last)
            }
            // `ns|n`: n link listings in one call.
            "links-loop" => {
                let (ns, n) = input.split_once('|').unwrap_or((&input, "1"));
                let n: u32 = n.parse().unwrap_or(1);
                let ns = Netns::open(ns)?;
                let mut count = 0;
                for _ in 0..n {
                    count = ns.links()?.len();
                }
                Ok(count.to_string())
            }
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "membomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "huge-name" => {
                let name = "n".repeat(1 << 20);
                Ok(match Netns::open(&name) {
                    Ok(_) => "ok".to_owned(),
                    Err(c) => code(c),
                })
            }
            "huge-batch" => {
                let ns = Netns::open(&input)?;
                let ops: Vec<Op> = (0..100_000).map(|_| Op::LinkList).collect();
                Ok(match ns.batch(&ops) {
                    Ok(r) => format!("ran {}", r.len()),
                    Err(e) => format!("error at {}: {}", e.index, code(e.code)),
                })
            }
            "many-handles" => {
                let mut held = Vec::new();
                loop {
                    match Netns::open(&input) {
                        Ok(ns) => held.push(ns),
                        Err(c) => return Ok(format!("{} then {}", held.len(), code(c))),
                    }
                }
            }
            "use-dropped" => {
                let ns = Netns::open(&input)?;
                let raw = ns.take_handle();
                // SAFETY: deliberately wrong — the handle is dropped, then used: the host must
                // trap this instance (a contract violation), not crash.
                let again = unsafe { Netns::from_handle(raw) };
                drop(again);
                // SAFETY: as above, on purpose: `raw` names a handle that no longer exists.
                let stale = unsafe { Netns::from_handle(raw) };
                Ok(stale.name())
            }
            "panic" => panic!("the test guest panics on purpose"),
            "fail" => Err(PluginError::new(
                "bad-input",
                "the test guest fails on purpose",
            )),
            "print" => {
                println!("hello from the guest's stdout");
                eprintln!("hello from the guest's stderr");
                Ok("printed".to_owned())
            }
            other => Err(PluginError::new("unknown-command", other.to_owned())),
        }
    }
}

nsplug_guest::export_plugin!(TestGuest);
