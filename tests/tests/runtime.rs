//! The plugin runtime end to end: real components, real wasmtime, real namespaces (as root).
//!
//! Every test takes [`serial`]: the descriptor, memory and thread checks need the process to
//! themselves, and the other tests open descriptors and start threads.

use std::path::Path;
use std::time::{Duration, Instant};

use nsplug_host::policy::Limits;
use nsplug_host::{
    CallError, CallGrants, ErrorCode, Executor, LoadError, Namespace, NsKind, OpClass, Plugin,
    Policy, Runtime,
};
use nsplug_tests::*;

const TEST_GUEST: &str = env!("GUEST_TEST");
const FUTURE_GUEST: &str = env!("GUEST_FUTURE");
const LIST_LINKS: &str = env!("GUEST_LIST_LINKS");

fn runtime() -> Runtime {
    let executor = Executor::builder()
        .workers(2)
        .paranoid(true)
        .build()
        .unwrap();
    Runtime::builder()
        .executor(executor)
        .build()
        .expect("runtime")
}

fn load(rt: &Runtime, policy: Policy) -> Plugin {
    rt.load(Path::new(TEST_GUEST), policy)
        .expect("loading the test guest")
}

fn read_policy(t: &TestNs) -> Policy {
    Policy::granting([t.name()], [OpClass::Read])
}

fn with_veth(t: &TestNs) {
    t.ip(&[
        "link", "add", "nsp0", "type", "veth", "peer", "name", "nsp1",
    ]);
}

#[test]
fn plugin_lists_links_end_to_end() {
    let _serial = serial();
    let t = TestNs::new("rt-happy");
    with_veth(&t);
    t.ip(&["address", "add", "10.99.0.1/24", "dev", "nsp0"]);
    let rt = runtime();

    let out = load(&rt, read_policy(&t)).call("links", t.name()).unwrap();
    let oracle: serde_json::Value = serde_json::from_str(&t.ip(&["-j", "link", "show"])).unwrap();
    let expected: Vec<&str> = oracle
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ifname"].as_str().unwrap())
        .collect();
    assert_eq!(out, expected.join(","));

    // The example plugin, with one granted and one ungranted namespace.
    let other = TestNs::new("rt-other");
    let example = rt
        .load(Path::new(LIST_LINKS), read_policy(&t))
        .expect("loading the example");
    let input = format!(r#"{{"namespaces": ["{}", "{}"]}}"#, t.name(), other.name());
    let doc: serde_json::Value =
        serde_json::from_str(&example.call("list", &input).unwrap()).unwrap();
    let granted = &doc["namespaces"][0];
    assert_eq!(granted["name"], t.name());
    assert_eq!(granted["links"].as_array().unwrap().len(), expected.len());
    let addresses: Vec<&str> = granted["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["address"].as_str().unwrap())
        .collect();
    assert!(addresses.contains(&"10.99.0.1"), "{addresses:?}");
    assert_eq!(doc["namespaces"][1]["error"], "denied-by-policy");
    // Without input the plugin lists exactly what it is granted.
    let doc: serde_json::Value = serde_json::from_str(&example.call("list", "").unwrap()).unwrap();
    assert_eq!(doc["namespaces"].as_array().unwrap().len(), 1, "{doc}");
}

#[test]
fn ungranted_namespace_is_denied_not_trapped() {
    let _serial = serial();
    let (t, other) = (TestNs::new("rt-deny"), TestNs::new("rt-deny2"));
    let rt = runtime();
    let plugin = load(&rt, read_policy(&t));
    assert_eq!(
        plugin.call("try-open", other.name()).unwrap(),
        "denied-by-policy;still-running"
    );
    assert_eq!(
        plugin.call("try-open", t.name()).unwrap(),
        "ok;still-running"
    );
    let stats = rt.stats();
    assert_eq!((stats.denials, stats.traps), (1, 0), "{stats:?}");
}

#[test]
fn host_namespace_needs_a_grant() {
    let _serial = serial();
    let t = TestNs::new("rt-host");
    let rt = runtime();
    match load(&rt, read_policy(&t)).call("host", "") {
        Err(CallError::Plugin { host_error, .. }) => {
            assert_eq!(host_error, Some(ErrorCode::DeniedByPolicy));
        }
        other => panic!("expected a denial, got {other:?}"),
    }
    let granted = load(
        &rt,
        read_policy(&t).with_host(nsplug_host::policy::HostAccess::Read),
    );
    assert_eq!(granted.call("host", "").unwrap(), "host");
}

#[test]
fn invalid_names_are_invalid_argument() {
    let _serial = serial();
    let t = TestNs::new("rt-names");
    let rt = runtime();
    // Even a policy granting every name by prefix cannot make these valid.
    let plugin = load(&rt, read_policy(&t).with_prefix("nsplug"));
    for name in [
        "",
        ".",
        "..",
        "a/b",
        "../../proc/1/ns/net",
        "nsplug/../../etc",
    ] {
        assert_eq!(
            plugin.call("try-open", name).unwrap(),
            "invalid-argument;still-running",
            "{name:?}"
        );
    }
    assert_eq!(
        plugin.call("try-open", "nsplug-missing-ns").unwrap(),
        "not-found;still-running"
    );
}

#[test]
fn denied_batch_runs_nothing() {
    let _serial = serial();
    let t = TestNs::new("rt-batch");
    let rt = runtime();
    let prefix = nsplug_host::ops::sysctl::SysctlKey::parse("net/ipv4/conf").unwrap();
    let plugin = load(&rt, read_policy(&t).with_sysctl_prefix(&prefix));
    let lo = "/proc/sys/net/ipv4/conf/lo/forwarding";
    let oracle = |t: &TestNs| {
        run("ip", &["netns", "exec", t.name(), "cat", lo])
            .trim()
            .to_owned()
    };
    assert_eq!(oracle(&t), "0");

    // The second op is outside the granted prefix: the first must not run either.
    let input = format!(
        "{}|net/ipv4/conf/lo/forwarding=1,net/ipv4/ip_forward=1",
        t.name()
    );
    assert_eq!(
        plugin.call("batch", &input).unwrap(),
        "error at 1: denied-by-policy"
    );
    assert_eq!(oracle(&t), "0", "a denied batch ran its first op");

    let input = format!(
        "{}|net/ipv4/conf/lo/forwarding=1,net/ipv4/conf/lo/forwarding",
        t.name()
    );
    assert_eq!(plugin.call("batch", &input).unwrap(), "done,1");
    assert_eq!(oracle(&t), "1");
    // A failing op stops the batch and says which.
    let input = format!(
        "{}|net/ipv4/conf/lo/forwarding,net/ipv4/conf/nope/forwarding,net/ipv4/conf/lo/forwarding=0",
        t.name()
    );
    assert_eq!(
        plugin.call("batch", &input).unwrap(),
        "error at 1: not-found"
    );
    assert_eq!(oracle(&t), "1", "ops after the failing one ran");
}

#[test]
fn infinite_loop_is_interrupted_within_budget() {
    let _serial = serial();
    let t = TestNs::new("rt-loop");
    let rt = runtime();
    let budget = Duration::from_millis(200);
    let plugin = load(
        &rt,
        read_policy(&t).with_limits(Limits {
            wall_time: budget,
            ..Limits::default()
        }),
    );
    let start = Instant::now();
    let err = plugin.call("loop", "").unwrap_err();
    let elapsed = start.elapsed();
    assert!(matches!(err, CallError::OutOfTime { .. }), "{err}");
    // The issue's bound: trapped within the budget plus 50 ms.
    assert!(
        elapsed < budget + Duration::from_millis(50),
        "interrupted after {elapsed:?}"
    );
    assert_eq!(
        plugin.call("links", t.name()).unwrap(),
        "lo",
        "next call works"
    );
    assert_eq!(rt.stats().out_of_time, 1);
}

#[test]
fn memory_bomb_is_contained() {
    let _serial = serial();
    let t = TestNs::new("rt-bomb");
    let rt = runtime();
    let plugin = load(
        &rt,
        read_policy(&t).with_limits(Limits {
            memory_bytes: 32 << 20,
            ..Limits::default()
        }),
    );
    let rss_before = rss_bytes();
    let err = plugin.call("membomb", "").unwrap_err();
    assert!(matches!(err, CallError::Trap { .. }), "{err}");
    assert!(
        rss_bytes() < rss_before + (64 << 20),
        "host memory grew by {} MiB",
        (rss_bytes() - rss_before) >> 20
    );
    assert_eq!(plugin.call("links", t.name()).unwrap(), "lo");
}

#[test]
fn huge_inputs_are_clean_errors() {
    let _serial = serial();
    let t = TestNs::new("rt-huge");
    let rt = runtime();
    let plugin = load(&rt, read_policy(&t).with_prefix("n"));
    assert_eq!(plugin.call("huge-name", "").unwrap(), "invalid-argument");
    assert_eq!(
        plugin.call("huge-batch", t.name()).unwrap(),
        "error at 0: limit-exceeded"
    );
    let limited = load(
        &rt,
        read_policy(&t).with_limits(Limits {
            open_namespaces: 4,
            ..Limits::default()
        }),
    );
    assert_eq!(
        limited.call("many-handles", t.name()).unwrap(),
        "4 then limit-exceeded"
    );
    assert_eq!(rt.stats().traps, 0);
}

#[test]
fn dropped_handle_traps_only_that_instance() {
    let _serial = serial();
    let t = TestNs::new("rt-dropped");
    let rt = runtime();
    let plugin = load(&rt, read_policy(&t));
    let err = plugin.call("use-dropped", t.name()).unwrap_err();
    assert!(matches!(err, CallError::Trap { .. }), "{err}");
    assert_eq!(plugin.call("links", t.name()).unwrap(), "lo");
}

#[test]
fn guest_panic_and_error_leave_the_host_fine() {
    let _serial = serial();
    let t = TestNs::new("rt-panic");
    let rt = runtime();
    let plugin = load(&rt, read_policy(&t));
    // A Rust panic aborts the wasm instance: a trap for this call only.
    let err = plugin.call("panic", "").unwrap_err();
    assert!(matches!(err, CallError::Trap { .. }), "{err}");
    match plugin.call("fail", "").unwrap_err() {
        CallError::Plugin {
            code, host_error, ..
        } => {
            assert_eq!((code.as_str(), host_error), ("bad-input", None));
        }
        other => panic!("expected the plugin's own error, got {other}"),
    }
    assert_eq!(plugin.call("print", "").unwrap(), "printed");
    assert_eq!(plugin.call("links", t.name()).unwrap(), "lo");
}

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn ten_thousand_calls_keep_memory_and_fds_flat() {
    let _serial = serial();
    let t = TestNs::new("rt-flat");
    let rt = runtime();
    let plugin = load(&rt, read_policy(&t));
    for _ in 0..500 {
        plugin.call("links", t.name()).unwrap();
    }
    let (rss, fds) = (rss_bytes(), fd_count());
    for _ in 0..10_000 {
        assert_eq!(plugin.call("links", t.name()).unwrap(), "lo");
    }
    // Tolerance: 8 MiB of resident memory (allocator and cache noise), not one descriptor.
    let grown = rss_bytes().saturating_sub(rss);
    assert!(
        grown < 8 << 20,
        "RSS grew by {} KiB over 10,000 calls",
        grown >> 10
    );
    assert_eq!(fd_count(), fds, "file descriptors leaked over 10,000 calls");
}

#[test]
fn parallel_calls_from_eight_threads_to_four_plugins() {
    let _serial = serial();
    let namespaces: Vec<TestNs> = (0..4).map(|i| TestNs::new(&format!("rt-par{i}"))).collect();
    for (i, t) in namespaces.iter().enumerate() {
        t.ip(&[
            "link",
            "add",
            &format!("par{i}a"),
            "type",
            "veth",
            "peer",
            "name",
            &format!("par{i}b"),
        ]);
    }
    let rt = runtime();
    let plugins: Vec<(Plugin, String, String)> = namespaces
        .iter()
        .enumerate()
        .map(|(i, t)| {
            (
                load(&rt, read_policy(t)),
                t.name().to_owned(),
                format!("lo,par{i}b,par{i}a"),
            )
        })
        .collect();
    std::thread::scope(|s| {
        for thread in 0..8 {
            let plugins = &plugins;
            s.spawn(move || {
                for call in 0..100 {
                    let (plugin, ns, expected) = &plugins[(thread + call) % plugins.len()];
                    let mut got: Vec<String> = plugin
                        .call("links", ns)
                        .unwrap()
                        .split(',')
                        .map(str::to_owned)
                        .collect();
                    let mut want: Vec<String> = expected.split(',').map(str::to_owned).collect();
                    got.sort();
                    want.sort();
                    assert_eq!(got, want);
                    // Another plugin's namespace is not this one's.
                    let (_, foreign, _) = &plugins[(thread + call + 1) % plugins.len()];
                    assert_eq!(
                        plugin.call("try-open", foreign).unwrap(),
                        "denied-by-policy;still-running"
                    );
                }
            });
        }
    });
    assert!(
        eventually(Duration::from_secs(10), || threads_outside_host()
            .is_empty()),
        "threads outside the host namespace: {:?}",
        threads_outside_host()
    );
    assert_eq!(rt.stats().traps, 0);
}

#[test]
fn policy_files_with_mistakes_name_file_and_line() {
    let _serial = serial();
    let dir = std::env::temp_dir().join(format!("nsplug-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        (
            "unknown.toml",
            "[grant]\nnamespaces = [\"a\"]\nnamespace = [\"b\"]\n",
            3,
        ),
        ("badname.toml", "[grant]\n\nnamespaces = [\"../x\"]\n", 3),
        ("badclass.toml", "[grant]\noperations = [\"root\"]\n", 2),
        ("badlimit.toml", "[limits]\nmemory_mib = -1\n", 2),
        ("section.toml", "[grants]\nnamespaces = []\n", 1),
    ];
    for (file, text, line) in cases {
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        let err = Policy::load(&path).unwrap_err();
        assert_eq!(err.line, line, "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("{}:{line}:", path.display())),
            "{err}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unsupported_version_is_refused_naming_both() {
    let _serial = serial();
    let rt = runtime();
    let err = rt
        .load(Path::new(FUTURE_GUEST), Policy::default())
        .unwrap_err();
    assert!(matches!(err, LoadError::UnsupportedVersion { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("nsplug:netns@0.9.0"), "{message}");
    assert!(message.contains("nsplug:netns@0.1.2"), "{message}");
    let inspection = rt.inspect(Path::new(FUTURE_GUEST)).unwrap();
    assert_eq!(inspection.netns_version.as_deref(), Some("0.9.0"));
    assert!(!inspection.supported);
}

#[test]
fn compiled_plugins_are_cached_on_disk() {
    let _serial = serial();
    let dir = std::env::temp_dir().join(format!("nsplug-cache-{}", std::process::id()));
    let build = || {
        Runtime::builder()
            .executor(Executor::builder().workers(1).build().unwrap())
            .cache_dir(&dir)
            .build()
            .unwrap()
    };
    let first = build();
    first
        .load(Path::new(TEST_GUEST), Policy::default())
        .unwrap();
    assert_eq!((first.stats().compiles, first.stats().cache_hits), (1, 0));
    let second = build();
    second
        .load(Path::new(TEST_GUEST), Policy::default())
        .unwrap();
    assert_eq!((second.stats().compiles, second.stats().cache_hits), (0, 1));
    // A corrupt entry is recompiled, not trusted.
    for entry in std::fs::read_dir(&dir).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    let third = build();
    third
        .load(Path::new(TEST_GUEST), Policy::default())
        .unwrap();
    assert_eq!(third.stats().compiles, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A namespace granted by path (CNI's `CNI_NETNS`) opens for the call that grants it, and for no
/// other; a state directory outside the policy's `state_dirs` is refused before the guest runs.
#[test]
fn namespace_paths_and_dirs_are_granted_per_call() {
    let _serial = serial();
    let t = TestNs::new("rt-path");
    with_veth(&t);
    let rt = runtime();
    let plugin = load(&rt, Policy::granting(Vec::<String>::new(), [OpClass::Read]));
    let path = format!("/run/netns/{}", t.name());

    assert_eq!(
        plugin.call("try-open-path", &path).unwrap(),
        "denied-by-policy"
    );
    let ns = Namespace::open_path(&path, NsKind::Net).unwrap();
    let grants = CallGrants::new().namespace(path.clone(), ns);
    let out = plugin.call_with("try-open-path", &path, &grants).unwrap();
    assert!(out.starts_with("ok;") && out.contains("nsp0"), "{out}");
    let other = "/proc/1/ns/net";
    assert_eq!(
        plugin.call_with("try-open-path", other, &grants).unwrap(),
        "denied-by-policy",
        "only the granted path"
    );
    assert_eq!(
        plugin.call("try-open-path", &path).unwrap(),
        "denied-by-policy",
        "the grant was for that call only"
    );

    let dir = std::env::temp_dir();
    let refused = plugin.call_with("noop", "", &CallGrants::new().dir(&dir, "/state"));
    assert!(
        matches!(refused, Err(CallError::Denied { .. })),
        "a directory outside state_dirs: {refused:?}"
    );
    let allowed = load(&rt, Policy::default().with_state_dir(&dir));
    allowed
        .call_with("noop", "", &CallGrants::new().dir(&dir, "/state"))
        .expect("a directory inside state_dirs");
}
