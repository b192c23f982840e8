//! The `nsplug` command. See `nsplug --help`.

use std::process::ExitCode;

use clap::Parser;
use nsplug_host::cli::{self, Cli};

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NSPLUG_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::try_parse() {
        Ok(parsed) => cli::main(parsed),
        // --help and --version print to stdout and succeed; usage errors are status 1, as the
        // help text says (status 2 means the plugin returned an error).
        Err(e) => {
            let _ = e.print();
            ExitCode::from(if e.use_stderr() { 1 } else { 0 })
        }
    }
}
