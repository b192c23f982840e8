//! Builds the guests the tests run, as real wasm32-wasip2 components (wasmtime style): the test
//! guest, a guest targeting an unsupported nsplug:netns version, a guest built against the
//! frozen 0.1.0 WIT, and the example plugins. Their paths reach the tests as `GUEST_*`
//! environment variables at compile time; a guest no test names fails the build.

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
            "tests/guest-v0_1_0",
            "examples/list-links-rust",
            "examples/veth-pair-rust",
        ],
    );
    let built = guests::build(
        &workspace,
        &[
            "nsplug-test-guest",
            "nsplug-test-guest-future",
            "nsplug-test-guest-v0-1-0",
            "list-links-rust",
            "veth-pair-rust",
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let vars = [
        "GUEST_TEST",
        "GUEST_FUTURE",
        "GUEST_V0_1_0",
        "GUEST_LIST_LINKS",
        "GUEST_VETH_PAIR",
    ];
    assert_eq!(vars.len(), built.len(), "every guest built has a variable");
    let tests = test_sources(&workspace.join("tests/tests"));
    for (var, path) in vars.iter().zip(built) {
        assert!(
            tests.contains(&format!("env!(\"{var}\")")),
            "guest {var} is built but no test in tests/tests uses it: add a test or drop the guest"
        );
        println!("cargo:rustc-env={var}={}", path.display());
    }
}

/// The text of every integration test source.
fn test_sources(dir: &std::path::Path) -> String {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).expect("tests/tests") {
        let path = entry.expect("tests/tests entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            text.push_str(&std::fs::read_to_string(&path).expect("test source"));
        }
    }
    text
}
