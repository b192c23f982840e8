//! Inside the nsplug repository: builds the example plugin `examples/list-links-rust`, embedded
//! for `nsplug demo`, and the test guest `tests/guest`, whose path the plugin benchmark reads
//! (`NSPLUG_BENCH_GUEST`). Elsewhere (or without the wasm32-wasip2 target) the demo is built
//! without its plugin and says how to get it.

include!("build/guests.rs");

fn main() {
    println!("cargo::rustc-check-cfg=cfg(nsplug_demo_plugin)");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build/guests.rs");
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if !workspace
        .join("examples/list-links-rust/Cargo.toml")
        .exists()
    {
        return;
    }
    guests::rerun_if_changed(
        &workspace,
        &[
            "wit",
            "guest-sdk",
            "examples/list-links-rust",
            "tests/guest",
        ],
    );
    match guests::build(&workspace, &["list-links-rust", "nsplug-test-guest"]) {
        Ok(paths) => {
            println!("cargo:rustc-cfg=nsplug_demo_plugin");
            println!("cargo:rustc-env=NSPLUG_DEMO_PLUGIN={}", paths[0].display());
            println!("cargo:rustc-env=NSPLUG_BENCH_GUEST={}", paths[1].display());
        }
        Err(e) => {
            let first = e.lines().next().unwrap_or_default().to_owned();
            println!("cargo:warning=nsplug demo will lack its plugin: {first}");
            println!(
                "cargo:warning=install the target with `rustup target add wasm32-wasip2` and rebuild"
            );
        }
    }
}
