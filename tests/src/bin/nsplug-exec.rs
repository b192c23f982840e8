//! The `nsplug` program itself (`nsplug_host::cli::entry`), built in this crate so that its
//! CNI tests and benchmark can exec it as a CNI plugin binary (`CARGO_BIN_EXE_nsplug-exec`):
//! cargo gives integration tests the paths of their own package's binaries only.

fn main() -> std::process::ExitCode {
    nsplug_host::cli::entry()
}
