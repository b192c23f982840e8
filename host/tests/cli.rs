#![cfg(target_os = "linux")]
//! The `nsplug` command line, run as a process (as root): exit statuses, stdout and stderr.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const NSPLUG: &str = env!("CARGO_BIN_EXE_nsplug");
#[cfg(nsplug_demo_plugin)]
const PLUGIN: &str = env!("NSPLUG_DEMO_PLUGIN");

fn nsplug(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(NSPLUG)
        .args(args)
        .env(
            "NSPLUG_CACHE_DIR",
            std::env::temp_dir().join("nsplug-cli-test-cache"),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running nsplug");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

/// The plugin tests below exist only when the build script could build the demo plugin; this
/// one makes its absence a failure, never a silent skip.
#[test]
fn the_demo_plugin_was_built() {
    assert!(
        option_env!("NSPLUG_DEMO_PLUGIN").is_some(),
        "host/build.rs could not build examples/list-links-rust for wasm32-wasip2 (see its cargo \
         warnings), so the CLI's plugin tests were not compiled"
    );
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A namespace made with iproute2, removed on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        assert_eq!(euid, 0, "the CLI tests need root; they never skip");
        let name = format!("nsplug-cli{}-{tag}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap();
        assert!(ok.success());
        Netns(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn policy_file(tag: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("nsplug-cli{}-{tag}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn help_teaches_the_commands() {
    let out = nsplug(&["--help"], None);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for word in ["run", "inspect", "compile", "demo", "Exit status"] {
        assert!(help.contains(word), "--help lacks {word}:\n{help}");
    }
    let out = nsplug(&["frobnicate"], None);
    assert_eq!(out.status.code(), Some(1), "a usage error is status 1");
    assert!(text(&out.stderr).contains("frobnicate"));
}

#[cfg(nsplug_demo_plugin)]
#[test]
fn run_prints_the_output_document_and_uses_exit_codes() {
    let ns = Netns::new("run");
    let policy = policy_file(
        "run",
        &format!(
            "[grant]\nnamespaces = [\"{}\"]\noperations = [\"read\"]\n",
            ns.0
        ),
    );
    let policy = policy.to_str().unwrap();
    let input = format!(r#"{{"namespaces": ["{}"]}}"#, ns.0);
    let out = nsplug(
        &[
            "run",
            PLUGIN,
            "--policy",
            policy,
            "--command",
            "list",
            "--input",
            "-",
        ],
        Some(&input),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(doc["namespaces"][0]["links"][0]["name"], "lo");

    // The plugin's own error: exit status 2, the error on stderr, nothing on stdout.
    let out = nsplug(
        &["run", PLUGIN, "--policy", policy, "--command", "bogus"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown-command"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

#[cfg(nsplug_demo_plugin)]
#[test]
fn bad_policy_is_a_host_error_naming_the_line() {
    let policy = policy_file(
        "bad",
        "[grant]\nnamespaces = [\"a\"]\nnamespaces_typo = 1\n",
    );
    let out = nsplug(&["run", PLUGIN, "--policy", policy.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:3:", policy.display())),
        "{stderr}"
    );
}

#[cfg(nsplug_demo_plugin)]
#[test]
fn inspect_names_the_version() {
    let out = nsplug(&["inspect", PLUGIN], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("nsplug:netns version: 0.1.2"), "{stdout}");
    assert!(
        stdout.contains("supported by this host (nsplug:netns@0.1.2): yes"),
        "{stdout}"
    );
    assert!(stdout.contains("nsplug:netns/handler@0.1.2"), "{stdout}");
    let out = nsplug(&["inspect", "/etc/hostname"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not a valid WebAssembly component"));
}

/// The demo tests check `ip netns list` for demo namespaces: one at a time.
#[cfg(nsplug_demo_plugin)]
static DEMO: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(nsplug_demo_plugin)]
fn demo_namespaces() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    text(&out.stdout)
        .lines()
        .filter(|l| l.contains("nsplug-demo-"))
        .map(str::to_owned)
        .collect()
}

#[cfg(nsplug_demo_plugin)]
#[test]
fn demo_runs_and_cleans_up() {
    let _one = DEMO.lock().unwrap_or_else(|e| e.into_inner());
    let out = nsplug(&["demo"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("\"denied-by-policy\""), "{stdout}");
    assert!(stdout.contains("\"lo\""), "{stdout}");
    assert_eq!(
        demo_namespaces(),
        Vec::<String>::new(),
        "the demo left these"
    );
}

/// Output that cannot be written stops the demo, never panics it, and it still removes its
/// namespaces: a reader that leaves (`nsplug demo | head -1`) ends it quietly with status 141,
/// as SIGPIPE would; a full disk is an error on stderr with status 1.
#[cfg(nsplug_demo_plugin)]
#[test]
fn demo_cleans_up_when_its_output_fails() {
    let _one = DEMO.lock().unwrap_or_else(|e| e.into_inner());
    // A pipe whose reader is gone before the demo starts: its first line (after it created
    // its first namespace) fails.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let child = Command::new(NSPLUG)
        .arg("demo")
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("running nsplug demo");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "", "a reader leaving is not an error");
    assert_eq!(demo_namespaces(), Vec::<String>::new());

    let full = std::fs::File::options()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(NSPLUG)
        .arg("demo")
        .stdout(full)
        .output()
        .expect("running nsplug demo");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("nsplug: error: writing to standard output"),
        "{stderr}"
    );
    assert_eq!(demo_namespaces(), Vec::<String>::new());
}

/// With `CNI_COMMAND` set, the binary is a CNI plugin: VERSION answers without a plugin, and
/// errors are the spec's JSON on stdout with exit status 1.
#[test]
fn cni_mode_answers_version_and_reports_errors_as_json() {
    let cni = |command: &str, stdin: &str| {
        let mut child = Command::new(NSPLUG)
            .env("CNI_COMMAND", command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running nsplug");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let version = cni("VERSION", r#"{"cniVersion": "1.0.0"}"#);
    assert!(version.status.success(), "{}", text(&version.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&version.stdout).unwrap();
    assert_eq!(doc["cniVersion"], "1.0.0");
    assert_eq!(
        doc["supportedVersions"],
        serde_json::json!(["0.4.0", "1.0.0", "1.1.0"])
    );

    let missing = cni("ADD", r#"{"cniVersion": "1.0.0", "name": "n"}"#);
    assert_eq!(missing.status.code(), Some(1));
    let err: serde_json::Value = serde_json::from_slice(&missing.stdout).unwrap();
    assert_eq!(err["code"], 4, "{err}");
    assert_eq!(err["cniVersion"], "1.0.0");
    assert!(
        err["msg"].as_str().unwrap().contains("CNI_CONTAINERID"),
        "{err}"
    );
    assert!(
        !text(&missing.stderr).is_empty(),
        "the failure is logged on stderr"
    );
}
