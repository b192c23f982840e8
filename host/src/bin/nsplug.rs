//! The `nsplug` command. See `nsplug --help`; with `CNI_COMMAND` set it is a CNI plugin.

fn main() -> std::process::ExitCode {
    nsplug_host::cli::entry()
}
