//! The `nsplug` command line. `anyhow` lives here and in `bin/nsplug.rs` only.

use std::process::ExitCode;

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::ops::link::Link;
use crate::ops::{link, sysctl};
use crate::policy::{OpClass, Policy};
use crate::runtime::{CallError, Runtime};
use crate::{Executor, Namespace};

/// Run network-namespace work for sandboxed WebAssembly plugins.
///
/// Plugins are WASI preview-2 components built against the nsplug:netns WIT package. A policy
/// file (TOML) grants each plugin its namespaces and operation classes; everything else is
/// denied. Namespace work runs on dedicated threads that always return to the host namespace,
/// verified, or die. Commands that touch namespaces need root.
///
/// Exit status: 0 success; 1 usage, load or host error; 2 the plugin returned an error;
/// 3 the plugin trapped or ran out of time; 141 the reader of stdout went away (as SIGPIPE).
///
/// With CNI_COMMAND set in the environment, nsplug is a CNI plugin instead: it reads the
/// network configuration on stdin and runs the Wasm plugin it names (see the README's CNI
/// section).
#[derive(Debug, Parser)]
#[command(name = "nsplug", version, propagate_version = true)]
pub struct Cli {
    /// Directory of compiled plugins (default: /var/cache/nsplug as root, else
    /// $XDG_CACHE_HOME/nsplug or ~/.cache/nsplug).
    #[arg(long, global = true, env = "NSPLUG_CACHE_DIR", value_name = "DIR")]
    cache_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create two namespaces, run the example plugin (list-links) against them under a policy
    /// that grants only one, print what it returns, and remove everything again.
    Demo,
    /// Run a plugin: call its handler with a command and an input document; print its output.
    Run {
        /// The plugin component (.wasm).
        plugin: PathBuf,
        /// The policy file granting it namespaces and operations.
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
        /// The command passed to the plugin's handler.
        #[arg(long, default_value = "run")]
        command: String,
        /// The input document: a file, or `-` for stdin (default: empty).
        #[arg(long, value_name = "FILE|-")]
        input: Option<PathBuf>,
    },
    /// Show which nsplug:netns version a plugin targets, whether this host supports it, and
    /// its imports and exports.
    Inspect {
        /// The plugin component (.wasm).
        plugin: PathBuf,
    },
    /// Compile plugins into the cache, so that loading them later costs no compilation.
    Compile {
        /// The plugin components (.wasm).
        #[arg(required = true)]
        plugins: Vec<PathBuf>,
    },
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

/// How a command failed: decides the exit status.
enum Failure {
    Host(anyhow::Error),
    PluginError(anyhow::Error),
    PluginCrashed(anyhow::Error),
    /// Standard output could not be written (a closed pipe: `nsplug demo | head -1`).
    Output(std::io::Error),
}

/// `println!` that fails the command instead of panicking when standard output is gone, so
/// the command's guards still clean up (the demo removes its namespaces).
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*).map_err(Failure::Output)?
    };
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Host(e)
    }
}

macro_rules! impl_host_failure {
    ($($t:ty),*) => {$(
        impl From<$t> for Failure {
            fn from(e: $t) -> Self {
                Failure::Host(e.into())
            }
        }
    )*};
}
impl_host_failure!(crate::Error, crate::LoadError, crate::policy::PolicyError);

impl From<CallError> for Failure {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Plugin { .. } => Failure::PluginError(e.into()),
            CallError::Trap { .. } | CallError::OutOfTime { .. } => {
                Failure::PluginCrashed(e.into())
            }
            _ => Failure::Host(e.into()),
        }
    }
}

/// The whole `nsplug` program: logs to stderr (`NSPLUG_LOG` sets the filter), then the CNI
/// shim when `CNI_COMMAND` is set, else the command line.
pub fn entry() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NSPLUG_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if std::env::var_os("CNI_COMMAND").is_some() {
        return crate::cni::main();
    }
    match Cli::try_parse() {
        Ok(parsed) => main(parsed),
        // --help and --version print to stdout and succeed; usage errors are status 1, as the
        // help text says (status 2 means the plugin returned an error).
        Err(e) => {
            let _ = e.print();
            ExitCode::from(if e.use_stderr() { 1 } else { 0 })
        }
    }
}

/// Runs the parsed command line; errors go to stderr with their causes.
pub fn main(cli: Cli) -> ExitCode {
    let (status, e) = match run(cli) {
        Ok(()) => return ExitCode::SUCCESS,
        Err(Failure::Host(e)) => (1, e),
        Err(Failure::PluginError(e)) => (2, e),
        Err(Failure::PluginCrashed(e)) => (3, e),
        // As a program killed by SIGPIPE ends, without a word: the reader left.
        Err(Failure::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            return ExitCode::from(141);
        }
        Err(Failure::Output(e)) => (
            1,
            anyhow::Error::new(e).context("writing to standard output"),
        ),
    };
    eprintln!("nsplug: error: {e:#}");
    let denied = e
        .chain()
        .filter_map(|cause| cause.downcast_ref::<crate::Error>())
        .filter_map(crate::Error::raw_os_error)
        .any(|errno| {
            std::io::Error::from_raw_os_error(errno).kind() == std::io::ErrorKind::PermissionDenied
        });
    if denied {
        eprintln!("nsplug: hint: namespace work needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN)");
    }
    ExitCode::from(status)
}

fn default_cache_dir() -> PathBuf {
    // SAFETY: geteuid has no preconditions and cannot fail.
    #[cfg(target_os = "linux")]
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/cache/nsplug");
    }
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("nsplug")
}

fn runtime(cache_dir: Option<PathBuf>) -> Result<Runtime, Failure> {
    let executor = Executor::new().context("starting the namespace executor")?;
    Ok(Runtime::builder()
        .executor(executor)
        .cache_dir(cache_dir.unwrap_or_else(default_cache_dir))
        .build()?)
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Demo => demo(&runtime(cli.cache_dir)?),
        Command::Run {
            plugin,
            policy,
            command,
            input,
        } => {
            let policy = Policy::load(&policy)?;
            let input = match input {
                None => String::new(),
                Some(p) if p.as_os_str() == "-" => {
                    let mut s = String::new();
                    std::io::stdin()
                        .read_to_string(&mut s)
                        .context("reading the input document from stdin")?;
                    s
                }
                Some(p) => std::fs::read_to_string(&p)
                    .with_context(|| format!("reading the input document {}", p.display()))?,
            };
            let runtime = runtime(cli.cache_dir)?;
            let plugin = runtime.load(&plugin, policy)?;
            say!("{}", plugin.call(&command, &input)?);
            Ok(())
        }
        Command::Inspect { plugin } => {
            let i = runtime(cli.cache_dir)?.inspect(&plugin)?;
            say!(
                "nsplug:netns version: {}",
                i.netns_version
                    .as_deref()
                    .unwrap_or("none (does not use nsplug:netns)")
            );
            say!(
                "supported by this host (nsplug:netns@{}): {}",
                crate::runtime::NETNS_VERSION,
                if i.supported { "yes" } else { "no" }
            );
            if let Some(problem) = &i.problem {
                say!("problem: {problem}");
            }
            say!("imports:");
            for name in &i.imports {
                say!("  {name}");
            }
            say!("exports:");
            for name in &i.exports {
                say!("  {name}");
            }
            if !i.supported {
                return Err(Failure::Host(anyhow::anyhow!(
                    "{} cannot run on this host",
                    plugin.display()
                )));
            }
            Ok(())
        }
        Command::Compile { plugins } => {
            let runtime = runtime(cli.cache_dir)?;
            for plugin in plugins {
                let cached = runtime.precompile(&plugin)?;
                say!(
                    "{}: {}",
                    plugin.display(),
                    if cached { "already cached" } else { "compiled" }
                );
            }
            Ok(())
        }
        Command::Links { namespace } => {
            let executor = Executor::new().context("starting the namespace executor")?;
            let ns = open(&executor, &namespace)?;
            print_links(&link::list(&executor, &ns)?)?;
            Ok(())
        }
        Command::Sysctl {
            namespace,
            key,
            value,
        } => {
            let executor = Executor::new().context("starting the namespace executor")?;
            let ns = open(&executor, &namespace)?;
            let key = sysctl::SysctlKey::parse(&key)?;
            if let Some(value) = value {
                sysctl::set(&executor, &ns, &key, &value)?;
            }
            say!("{key} = {}", sysctl::get(&executor, &ns, &key)?);
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

fn print_links(links: &[Link]) -> Result<(), Failure> {
    for l in links {
        say!(
            "  {:>3}: {:<15} {:<8} mtu {:<5} {:<8} {}",
            l.index,
            l.name,
            l.kind.as_deref().unwrap_or("-"),
            l.mtu.map_or_else(|| "-".to_owned(), |m| m.to_string()),
            l.oper_state,
            l.address.as_deref().unwrap_or("")
        );
    }
    Ok(())
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
                // Never a panic here: this also runs when the demo stops on a failed write.
                Ok(()) => {
                    let _ = writeln!(std::io::stdout(), "removed namespace {name}");
                }
                Err(e) => {
                    let _ = writeln!(
                        std::io::stderr(),
                        "nsplug: warning: could not remove namespace {name}: {e}"
                    );
                }
            }
        }
    }
}

/// The example plugin (examples/list-links-rust), built by build.rs.
#[cfg(nsplug_demo_plugin)]
const DEMO_PLUGIN: Option<&[u8]> = Some(include_bytes!(env!("NSPLUG_DEMO_PLUGIN")));
#[cfg(not(nsplug_demo_plugin))]
const DEMO_PLUGIN: Option<&[u8]> = None;

fn demo(runtime: &Runtime) -> Result<(), Failure> {
    let Some(wasm) = DEMO_PLUGIN else {
        return Err(Failure::Host(anyhow::anyhow!(
            "this nsplug was built without the demo plugin; run `rustup target add wasm32-wasip2` \
             and rebuild inside the nsplug repository"
        )));
    };
    let executor = runtime.executor();
    let mut created = DemoNamespaces {
        executor,
        names: Vec::new(),
    };
    let mut names = Vec::new();
    for suffix in ["blue", "red"] {
        let name = format!("nsplug-demo-{}-{suffix}", std::process::id());
        let ns = executor
            .create_namespace(&name)
            .with_context(|| format!("creating namespace {name}"))?;
        created.names.push(name.clone());
        say!("created namespace {name} (identity {})", ns.id());
        names.push(name);
    }

    // The operator grants the plugin `blue` only, for reading.
    let policy = Policy::granting([names[0].clone()], [OpClass::Read]);
    say!("\npolicy: grant {} for `read`; nothing else", names[0]);
    let plugin = runtime.load_bytes("list-links", wasm, policy)?;
    let input = format!(r#"{{"namespaces": ["{}", "{}"]}}"#, names[0], names[1]);
    say!("calling list-links with {input}\n");
    let output = plugin.call("list", &input)?;
    match serde_json::from_str::<serde_json::Value>(&output) {
        Ok(doc) => say!("{}", serde_json::to_string_pretty(&doc).unwrap_or(output)),
        Err(_) => say!("{output}"),
    }

    let stats = runtime.stats();
    let c = stats.executor;
    say!(
        "\nruntime: calls {} traps {} denials {} | executor: jobs {} entries {} restores {} \
         kills {} live workers {}\n",
        stats.calls,
        stats.traps,
        stats.denials,
        c.jobs,
        c.entries,
        c.restores,
        c.kills,
        c.live_workers
    );
    drop(created);
    Ok(())
}
