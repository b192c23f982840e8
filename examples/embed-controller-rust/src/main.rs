//! A small network controller embedding nsplug: loads every plugin in a directory (`NAME.wasm`
//! with its policy `NAME.toml` beside it), then calls each from several threads at once and
//! prints what they return.
//!
//! ```sh
//! embed-controller-rust DIR [COMMAND] [INPUT]
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nsplug_host::{Executor, Plugin, Policy, Runtime};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        bail!("usage: embed-controller-rust DIR [COMMAND] [INPUT]");
    };
    let command = args.next().unwrap_or_else(|| "run".to_owned());
    let input = args.next().unwrap_or_default();

    // One executor and one runtime for the whole controller; both are Send + Sync.
    let executor = Executor::builder()
        .deadline(Duration::from_secs(5))
        .build()
        .context("starting the namespace executor (are you root?)")?;
    let runtime = Runtime::builder()
        .executor(executor)
        .cache_dir(std::env::temp_dir().join("nsplug-embed-cache"))
        .build()?;

    let plugins = load_all(&runtime, &dir)?;
    if plugins.is_empty() {
        bail!("no NAME.wasm with a NAME.toml policy in {}", dir.display());
    }

    // Call every plugin from its own thread.
    std::thread::scope(|s| {
        for plugin in &plugins {
            let (command, input) = (&command, &input);
            s.spawn(move || match plugin.call(command, input) {
                Ok(output) => println!("{}: {output}", plugin.name()),
                Err(e) => eprintln!("{}: {e}", plugin.name()),
            });
        }
    });
    let stats = runtime.stats();
    eprintln!(
        "calls {} traps {} denials {} cache hits {} compiles {}",
        stats.calls, stats.traps, stats.denials, stats.cache_hits, stats.compiles
    );
    Ok(())
}

fn load_all(runtime: &Runtime, dir: &Path) -> Result<Vec<Plugin>> {
    let mut plugins = Vec::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let wasm = entry?.path();
        if wasm.extension().is_none_or(|e| e != "wasm") {
            continue;
        }
        let policy_path = wasm.with_extension("toml");
        if !policy_path.exists() {
            eprintln!(
                "skipping {}: no policy {}",
                wasm.display(),
                policy_path.display()
            );
            continue;
        }
        let policy = Policy::load(&policy_path)?;
        plugins.push(runtime.load(&wasm, policy)?);
    }
    Ok(plugins)
}
