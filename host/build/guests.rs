// Builds WebAssembly guests (wasm32-wasip2 components) from a build script, the way wasmtime's
// test-programs do: a nested `cargo build` into a target directory of its own, shared by every
// build script of the workspace (cargo's lock serialises them).
//
// Used by host/build.rs (the demo plugin) and tests/build.rs (the test guests).

mod guests {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// The target directory for guests: `<workspace target>/wasm-guests`.
    pub(crate) fn target_dir() -> PathBuf {
        let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
        // OUT_DIR is <target>/<profile>/build/<pkg>-<hash>/out.
        let target = out
            .ancestors()
            .nth(4)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| out.join("wasm"));
        target.join("wasm-guests")
    }

    /// Builds `packages` for wasm32-wasip2 (release, as components) and returns each one's
    /// `.wasm` path, or the reason it could not. Guest crates are rlibs natively, so each is
    /// built with `cargo rustc --crate-type cdylib`.
    pub(crate) fn build(workspace: &Path, packages: &[&str]) -> Result<Vec<PathBuf>, String> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let target_dir = target_dir();
        let mut paths = Vec::new();
        for package in packages {
            let mut cmd = Command::new(&cargo);
            cmd.current_dir(workspace)
                .args(["rustc", "--release", "--target", "wasm32-wasip2"])
                .args(["--crate-type", "cdylib", "-p", package, "--target-dir"])
                .arg(&target_dir);
            // Nothing of the outer build's configuration applies to the guests.
            for var in [
                "CARGO_ENCODED_RUSTFLAGS",
                "RUSTFLAGS",
                "CARGO_BUILD_TARGET",
                "CARGO_TARGET_DIR",
                "CARGO_MAKEFLAGS",
                "MAKEFLAGS",
                "RUSTC_WORKSPACE_WRAPPER",
            ] {
                cmd.env_remove(var);
            }
            let mut out = cmd
                .output()
                .map_err(|e| format!("cannot run {cargo}: {e}"))?;
            let missing_target = |out: &std::process::Output| {
                let stderr = String::from_utf8_lossy(&out.stderr);
                stderr.contains("wasm32-wasip2") && stderr.contains("may not be installed")
            };
            if !out.status.success() && missing_target(&out) {
                // A fresh machine with only rustup: install the target once, then retry.
                println!("cargo:warning=installing the wasm32-wasip2 target with rustup");
                let added = Command::new("rustup")
                    .args(["target", "add", "wasm32-wasip2"])
                    .status();
                if matches!(added, Ok(s) if s.success()) {
                    out = cmd
                        .output()
                        .map_err(|e| format!("cannot run {cargo}: {e}"))?;
                }
            }
            if !out.status.success() {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let hint = if missing_target(&out) {
                    "\n(install the target: rustup target add wasm32-wasip2)"
                } else {
                    ""
                };
                return Err(format!("building {package} for wasm32-wasip2 failed:\n{stderr}{hint}"));
            }
            paths.push(
                target_dir
                    .join("wasm32-wasip2/release")
                    .join(format!("{}.wasm", package.replace('-', "_"))),
            );
        }
        Ok(paths)
    }

    /// Re-run the build script when any of these change.
    pub(crate) fn rerun_if_changed(workspace: &Path, paths: &[&str]) {
        for p in paths {
            println!("cargo:rerun-if-changed={}", workspace.join(p).display());
        }
    }
}
