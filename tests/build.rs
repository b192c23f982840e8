//! Builds the guests the tests run, as real components (wasmtime style): the test guest, a
//! guest targeting an unsupported nsplug:netns version, a guest built against the frozen 0.1.0
//! WIT, and the example plugins — in Rust (wasm32-wasip2), and list-links again in Python, in
//! JavaScript and in C, each with its example's own `build.sh`. Their paths reach the tests as
//! `GUEST_*` environment variables at compile time; a guest no test names fails the build, and
//! so does a missing toolchain (`tests/run` installs them), loudly.

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
            "examples/bridge-rust",
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
            "bridge-rust",
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut vars = vec![
        "GUEST_TEST",
        "GUEST_FUTURE",
        "GUEST_V0_1_0",
        "GUEST_LIST_LINKS",
        "GUEST_VETH_PAIR",
        "GUEST_BRIDGE",
    ];
    assert_eq!(vars.len(), built.len(), "every guest built has a variable");
    let mut built = built;
    for (var, path) in other_languages(&workspace) {
        vars.push(var);
        built.push(path);
    }
    let tests = test_sources(&workspace.join("tests/tests"));
    for (var, path) in vars.iter().zip(built) {
        assert!(
            tests.contains(&format!("env!(\"{var}\")")),
            "guest {var} is built but no test in tests/tests uses it: add a test or drop the guest"
        );
        println!("cargo:rustc-env={var}={}", path.display());
    }
}

/// Builds `examples/list-links-{python,js,c}` with their `build.sh` into `OUT_DIR`.
fn other_languages(workspace: &std::path::Path) -> Vec<(&'static str, std::path::PathBuf)> {
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let adapter = out_dir.join("wasi_snapshot_preview1.reactor.wasm");
    std::fs::write(
        &adapter,
        wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
    )
    .expect("writing the WASI reactor adapter");
    let mut built = Vec::new();
    for (var, lang, sources) in [
        (
            "GUEST_LIST_LINKS_PYTHON",
            "python",
            &["app.py", "build.sh"][..],
        ),
        (
            "GUEST_LIST_LINKS_JS",
            "js",
            &["app.js", "build.sh", "package.json", "package-lock.json"],
        ),
        ("GUEST_LIST_LINKS_C", "c", &["app.c", "build.sh"]),
    ] {
        let dir = workspace.join(format!("examples/list-links-{lang}"));
        for source in sources {
            println!("cargo:rerun-if-changed={}", dir.join(source).display());
        }
        let wasm = out_dir.join(format!("list_links_{lang}.wasm"));
        let out = std::process::Command::new("bash")
            .arg(dir.join("build.sh"))
            .arg(&wasm)
            .env("WASI_ADAPTER", &adapter)
            .output()
            .unwrap_or_else(|e| panic!("cannot run bash for {lang}: {e}"));
        assert!(
            out.status.success(),
            "building examples/list-links-{lang} failed (tests/run installs its toolchain; see \
             that example's README):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        built.push((var, wasm));
    }
    built
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
