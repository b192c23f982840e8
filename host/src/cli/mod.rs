//! The `nsplug` command line. `anyhow` lives here and in `bin/nsplug.rs` only.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::ops::link::Link;
use crate::ops::{link, sysctl};
use crate::{Executor, Namespace};

/// Run network-namespace work on dedicated threads with restore-or-kill semantics.
///
/// Every command that touches a namespace runs as root (CAP_SYS_ADMIN and CAP_NET_ADMIN).
/// Namespaces are named as `ip netns` names them (looked up in /run/netns, then /var/run/netns).
#[derive(Debug, Parser)]
#[command(name = "nsplug", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create two namespaces, list their links, read and write a sysctl in each, print the
    /// executor's counters, and remove everything again.
    Demo,
    /// List the links of a namespace (`ip -n NS link show`).
    Links {
        /// Namespace name, or `host` for the host's own.
        namespace: String,
    },
    /// Read a sysctl under net/ in a namespace, or write it when VALUE is given.
    Sysctl {
        /// Namespace name, or `host` for the host's own.
        namespace: String,
        /// Key, `net.ipv4.ip_forward` or `net/ipv4/conf/eth0.100/forwarding`.
        key: String,
        /// New value to write.
        value: Option<String>,
    },
}

/// Runs the parsed command line; errors go to stderr with their causes, exit status 1.
pub fn main(cli: Cli) -> ExitCode {
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nsplug: error: {e:#}");
            let denied = e
                .chain()
                .filter_map(|cause| cause.downcast_ref::<crate::Error>())
                .filter_map(crate::Error::raw_os_error)
                .any(|errno| {
                    std::io::Error::from_raw_os_error(errno).kind()
                        == std::io::ErrorKind::PermissionDenied
                });
            if denied {
                eprintln!("nsplug: hint: namespace work needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN)");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let executor = Executor::new().context("starting the namespace executor")?;
    match cli.command {
        Command::Demo => demo(&executor),
        Command::Links { namespace } => {
            let ns = open(&executor, &namespace)?;
            print_links(&link::list(&executor, &ns)?);
            Ok(())
        }
        Command::Sysctl {
            namespace,
            key,
            value,
        } => {
            let ns = open(&executor, &namespace)?;
            let key = sysctl::SysctlKey::parse(&key)?;
            if let Some(value) = value {
                sysctl::set(&executor, &ns, &key, &value)?;
            }
            println!("{key} = {}", sysctl::get(&executor, &ns, &key)?);
            Ok(())
        }
    }
}

fn open(executor: &Executor, name: &str) -> Result<Namespace> {
    if name == "host" {
        return Ok(executor.host().clone());
    }
    Ok(executor.open(name)?)
}

fn print_links(links: &[Link]) {
    for l in links {
        println!(
            "  {:>3}: {:<15} {:<8} mtu {:<5} {:<8} {}",
            l.index,
            l.name,
            l.kind.as_deref().unwrap_or("-"),
            l.mtu.map_or_else(|| "-".to_owned(), |m| m.to_string()),
            l.oper_state,
            l.address.as_deref().unwrap_or("")
        );
    }
}

/// Namespaces the demo created; removed when dropped, whatever happened in between.
struct DemoNamespaces<'a> {
    executor: &'a Executor,
    names: Vec<String>,
}

impl Drop for DemoNamespaces<'_> {
    fn drop(&mut self) {
        for name in &self.names {
            match self.executor.delete_namespace(name) {
                Ok(()) => println!("removed namespace {name}"),
                Err(e) => eprintln!("nsplug: warning: could not remove namespace {name}: {e}"),
            }
        }
    }
}

fn demo(executor: &Executor) -> Result<()> {
    let mut created = DemoNamespaces {
        executor,
        names: Vec::new(),
    };
    let forward = sysctl::SysctlKey::parse("net.ipv4.ip_forward")?;
    let host_forward = sysctl::get(executor, executor.host(), &forward)?;
    println!("host namespace: net.ipv4.ip_forward = {host_forward}");

    for (i, suffix) in ["blue", "red"].into_iter().enumerate() {
        let name = format!("nsplug-demo-{}-{suffix}", std::process::id());
        let ns = executor
            .create_namespace(&name)
            .with_context(|| format!("creating namespace {name}"))?;
        created.names.push(name.clone());
        println!("\ncreated namespace {name} (identity {})", ns.id());
        println!("links:");
        print_links(&link::list(executor, &ns)?);
        let value = if i == 0 { "1" } else { "0" };
        sysctl::set(executor, &ns, &forward, value)?;
        println!(
            "set net.ipv4.ip_forward = {} inside it",
            sysctl::get(executor, &ns, &forward)?
        );
    }

    let after = sysctl::get(executor, executor.host(), &forward)?;
    println!("\nhost namespace: net.ipv4.ip_forward = {after} (untouched)");
    anyhow::ensure!(
        after == host_forward,
        "the host's net.ipv4.ip_forward changed from {host_forward} to {after}"
    );
    drop(created);

    let c = executor.counters();
    println!(
        "\nexecutor counters: jobs {} entries {} restores {} kills {} respawns {} timeouts {} \
         live workers {}",
        c.jobs, c.entries, c.restores, c.kills, c.respawns, c.timeouts, c.live_workers
    );
    Ok(())
}
