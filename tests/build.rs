//! Builds the guests the tests run, as real wasm32-wasip2 components (wasmtime style): the test
//! guest, a guest targeting an unsupported nsplug:netns version, and the example plugin. Their
//! paths reach the tests as `GUEST_*` environment variables at compile time.

include!("../host/build/guests.rs");

fn main() {
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    guests::rerun_if_changed(
        &workspace,
        &[
            "wit",
            "guest-sdk",
            "tests/guest",
            "tests/guest-future",
            "examples/list-links-rust",
        ],
    );
    let built = guests::build(
        &workspace,
        &[
            "nsplug-test-guest",
            "nsplug-test-guest-future",
            "list-links-rust",
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    for (var, path) in ["GUEST_TEST", "GUEST_FUTURE", "GUEST_LIST_LINKS"]
        .iter()
        .zip(built)
    {
        println!("cargo:rustc-env={var}={}", path.display());
    }
}
