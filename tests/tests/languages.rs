//! One plugin, four languages: `examples/list-links-{rust,python,js,c}` run against the same
//! namespaces and policies and must answer byte for byte alike — the same output document, the
//! same error codes for denied, invalid and missing namespaces, the same plugin errors for bad
//! input — and each must stay inside the policy's time, memory and operation limits.
//!
//! The components are built by this crate's build script (each example's `build.sh`); the
//! runtime caches their compiled forms under the target directory, so the 18 MiB Python
//! component is compiled once, not once per test.

use std::path::Path;
use std::time::{Duration, Instant};

use nsplug_host::policy::Limits;
use nsplug_host::{CallError, Executor, OpClass, Plugin, Policy, Runtime};
use nsplug_tests::*;
use serde_json::Value;

const GUESTS: [(&str, &str); 4] = [
    ("rust", env!("GUEST_LIST_LINKS")),
    ("python", env!("GUEST_LIST_LINKS_PYTHON")),
    ("js", env!("GUEST_LIST_LINKS_JS")),
    ("c", env!("GUEST_LIST_LINKS_C")),
];

fn runtime() -> Runtime {
    let executor = Executor::builder()
        .workers(2)
        .paranoid(true)
        .build()
        .unwrap();
    Runtime::builder()
        .executor(executor)
        .cache_dir(Path::new(env!("CARGO_TARGET_TMPDIR")).join("nsplug-language-cache"))
        .build()
        .expect("runtime")
}

/// Every language's plugin under `policy`.
fn load_all(rt: &Runtime, policy: &Policy) -> Vec<(&'static str, Plugin)> {
    GUESTS
        .iter()
        .map(|(lang, path)| {
            let plugin = rt
                .load(Path::new(path), policy.clone())
                .unwrap_or_else(|e| panic!("loading the {lang} plugin: {e}"));
            (*lang, plugin)
        })
        .collect()
}

/// Calls every plugin and returns the answers, asserting they are all the Rust plugin's.
fn same_everywhere(
    plugins: &[(&str, Plugin)],
    command: &str,
    input: &str,
) -> Result<String, String> {
    let answer = |p: &Plugin| match p.call(command, input) {
        Ok(out) => Ok(out),
        Err(CallError::Plugin {
            code, host_error, ..
        }) => Err(format!("plugin error {code} (host error {host_error:?})")),
        Err(other) => panic!("{}: {other}", p.name()),
    };
    let reference = answer(&plugins[0].1);
    for (lang, plugin) in &plugins[1..] {
        assert_eq!(
            answer(plugin),
            reference,
            "the {lang} plugin answers {command:?} {input:?} unlike the Rust one"
        );
    }
    reference
}

#[test]
fn four_languages_list_identically() {
    let _serial = serial();
    let (granted, other) = (TestNs::new("lang-a"), TestNs::new("lang-b"));
    granted.ip(&[
        "link", "add", "nsp-l0", "type", "veth", "peer", "name", "nsp-l1",
    ]);
    granted.ip(&["link", "set", "lo", "up"]);
    granted.ip(&["address", "add", "10.75.0.1/24", "dev", "nsp-l0"]);
    let missing = format!("{}-absent", granted.name());
    let policy = Policy::granting([granted.name()], [OpClass::Read]).with_prefix(&missing);
    let rt = runtime();
    let plugins = load_all(&rt, &policy);

    let input = serde_json::json!({
        "namespaces": [granted.name(), other.name(), "../x", missing],
    })
    .to_string();
    let out = same_everywhere(&plugins, "list", &input).expect("listing succeeds");
    // And the shared answer is right: iproute2 is the oracle.
    let doc: Value = serde_json::from_str(&out).unwrap();
    let listed = &doc["namespaces"];
    let oracle: Value = serde_json::from_str(&granted.ip(&["-j", "address", "show"])).unwrap();
    let names: Vec<&str> = oracle
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ifname"].as_str().unwrap())
        .collect();
    let ours: Vec<&str> = listed[0]["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(ours, names);
    let addresses: Vec<&str> = listed[0]["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["address"].as_str().unwrap())
        .collect();
    assert!(
        addresses.contains(&"10.75.0.1") && addresses.contains(&"127.0.0.1"),
        "{addresses:?}"
    );
    assert_eq!(listed[1]["error"], "denied-by-policy");
    assert_eq!(listed[2]["error"], "invalid-argument");
    assert_eq!(listed[3]["error"], "not-found");

    // Without input each lists exactly what it is granted (and exists).
    let out = same_everywhere(&plugins, "run", "").expect("listing succeeds");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["namespaces"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(doc["namespaces"][0]["name"], granted.name());
}

#[test]
fn four_languages_fail_alike() {
    let _serial = serial();
    let t = TestNs::new("lang-err");
    let rt = runtime();
    let plugins = load_all(&rt, &Policy::granting([t.name()], [OpClass::Read]));
    for (command, input, code) in [
        ("list", "not json", "bad-input"),
        ("list", r#"{"namespaces": 5}"#, "bad-input"),
        ("list", r#"{"namespaces": ["a", 1]}"#, "bad-input"),
        ("frobnicate", "", "unknown-command"),
    ] {
        let err = same_everywhere(&plugins, command, input).expect_err("a plugin error");
        assert_eq!(
            err,
            format!("plugin error {code} (host error None)"),
            "{command} {input}"
        );
    }
    // Not an object, or no `namespaces`: what is granted.
    for input in ["[1, 2]", "{}", r#"{"other": true}"#] {
        let out = same_everywhere(&plugins, "list", input).unwrap();
        assert!(out.contains(t.name()), "{input}: {out}");
    }
}

#[test]
fn four_languages_keep_to_the_operation_budget() {
    let _serial = serial();
    let names: Vec<TestNs> = (0..3)
        .map(|i| TestNs::new(&format!("lang-ops{i}")))
        .collect();
    let rt = runtime();
    // Each namespace costs three operations (open, then a batch of two): the budget of five
    // covers the first, and the second namespace's batch goes over it.
    let policy =
        Policy::granting(names.iter().map(TestNs::name), [OpClass::Read]).with_limits(Limits {
            ops_per_call: 5,
            ..Limits::default()
        });
    let plugins = load_all(&rt, &policy);
    let input =
        serde_json::json!({ "namespaces": names.iter().map(TestNs::name).collect::<Vec<_>>() })
            .to_string();
    let out = same_everywhere(&plugins, "list", &input).unwrap();
    let doc: Value = serde_json::from_str(&out).unwrap();
    let listed = doc["namespaces"].as_array().unwrap();
    assert!(listed[0].get("links").is_some(), "{doc}");
    assert_eq!(listed[1]["error"], "limit-exceeded", "{doc}");
    assert_eq!(listed[2]["error"], "limit-exceeded", "{doc}");
}

#[test]
fn four_languages_keep_to_time_and_memory_limits() {
    let _serial = serial();
    let t = TestNs::new("lang-limits");
    let rt = runtime();

    // 20,000 ungranted names: each is a host call that is denied, which takes every language
    // well past a 5 ms budget. The call is interrupted, within the budget plus 50 ms.
    let budget = Duration::from_millis(5);
    let tight_time = Policy::granting([t.name()], [OpClass::Read]).with_limits(Limits {
        wall_time: budget,
        ops_per_call: 1_000_000,
        ..Limits::default()
    });
    let many: Vec<String> = (0..20_000).map(|i| format!("nsplug-denied-{i}")).collect();
    let input = serde_json::json!({ "namespaces": many }).to_string();
    for (lang, plugin) in load_all(&rt, &tight_time) {
        let start = Instant::now();
        let result = plugin.call("list", &input);
        let elapsed = start.elapsed();
        assert!(
            matches!(result, Err(CallError::OutOfTime { .. })),
            "{lang}: {result:?}"
        );
        assert!(
            elapsed < budget + Duration::from_millis(50),
            "{lang}: interrupted after {elapsed:?}"
        );
    }

    // An input document larger than the memory limit cannot even be handed to the guest: the
    // call ends (a trap), and the host is fine.
    let small = Policy::granting([t.name()], [OpClass::Read]).with_limits(Limits {
        memory_bytes: 32 << 20,
        ..Limits::default()
    });
    let huge = format!(
        r#"{{"namespaces": [], "padding": "{}"}}"#,
        "x".repeat(48 << 20)
    );
    for (lang, plugin) in load_all(&rt, &small) {
        match plugin.call("list", &huge) {
            Err(CallError::Trap { .. }) => {}
            other => panic!("{lang}: a 48 MiB input under a 32 MiB limit gave {other:?}"),
        }
        // The next call of the same plugin works.
        let out = plugin
            .call("list", "")
            .unwrap_or_else(|e| panic!("{lang}: {e}"));
        assert!(out.contains(t.name()), "{lang}: {out}");
    }
    assert!(threads_outside_host().is_empty());
}
