//! CNI: `nsplug` as a CNI plugin running the Wasm bridge (`examples/bridge-rust`), against the
//! reference bridge + host-local plugins (Debian's containernetworking-plugins, installed by
//! `tests/run`) as the oracle. Each side gets its own node namespace (standing in for the
//! host: its bridge, gateway addresses and `ip_forward` never touch the real host) and its own
//! container namespaces; the same configuration runs on both and the results, the container's
//! addresses, routes, flags and MTU, and the node's bridge and ports are compared.
//!
//! The reference installed here speaks CNI up to 1.0.0, so the parity tests use 1.0.0 and
//! 0.4.0; the 1.1.0 commands (STATUS, GC) are tested on nsplug alone.

use std::path::PathBuf;
use std::sync::OnceLock;

use nsplug_tests::TestNs;
use nsplug_tests::cni::{
    Env, Impl, Node, bridge_ports, interface_state, link_names, normalize_result, routes, sysctl,
    warm_cache,
};
use serde_json::{Value, json};

const NSPLUG: &str = env!("CARGO_BIN_EXE_nsplug-exec");
const BRIDGE: &str = env!("GUEST_BRIDGE");

fn nsplug() -> Impl {
    static CACHE: OnceLock<PathBuf> = OnceLock::new();
    let cache_dir = CACHE.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cni-cache");
        warm_cache(NSPLUG.as_ref(), BRIDGE.as_ref(), &dir);
        dir
    });
    Impl::Nsplug {
        program: NSPLUG.into(),
        plugin: BRIDGE.into(),
        cache_dir: cache_dir.clone(),
    }
}

fn reference() -> Impl {
    assert!(
        std::path::Path::new(nsplug_tests::cni::REFERENCE_BRIDGE).exists(),
        "the reference plugins are missing: apt-get install containernetworking-plugins \
         (tests/run installs them)"
    );
    Impl::Reference
}

fn ipv4_conf(version: &str) -> Value {
    json!({
        "cniVersion": version,
        "name": "parity4",
        "bridge": "cnibr0",
        "isGateway": true,
        "ipam": {
            "type": "host-local",
            "subnet": "10.77.0.0/24",
            "routes": [{"dst": "0.0.0.0/0"}],
        },
    })
}

/// One ADD on a fresh node and container; what the parity tests compare.
struct Added {
    node: Node,
    container: TestNs,
    result: Value,
}

fn add_one(plugin: Impl, conf: &Value) -> Added {
    let node = Node::new(plugin);
    let container = TestNs::new("ctr");
    let out = node
        .invoke(&Env::new("ADD", "c1", &container, "eth0"), conf)
        .expect_ok(&format!("{} ADD", node.plugin.label()));
    Added {
        result: out.json(),
        node,
        container,
    }
}

/// Runs `conf` through both plugins and asserts the same result and the same kernel state.
fn assert_parity(conf: &Value) -> (Added, Added) {
    let r = add_one(reference(), conf);
    let n = add_one(nsplug(), conf);
    assert_eq!(
        normalize_result(&n.result),
        normalize_result(&r.result),
        "result JSON differs (left nsplug, right reference)"
    );
    assert_eq!(
        interface_state(&n.container, "eth0"),
        interface_state(&r.container, "eth0"),
        "the container interface differs (left nsplug, right reference)"
    );
    assert_eq!(
        routes(&n.container),
        routes(&r.container),
        "container routes differ (left nsplug, right reference)"
    );
    let bridge = conf["bridge"].as_str().unwrap_or("cni0");
    assert_eq!(
        interface_state(&n.node.ns, bridge),
        interface_state(&r.node.ns, bridge),
        "the bridge differs (left nsplug, right reference)"
    );
    assert_eq!(
        bridge_ports(&n.node.ns, bridge),
        bridge_ports(&r.node.ns, bridge),
        "bridge ports differ (left nsplug, right reference)"
    );
    assert_eq!(n.node.links().len(), r.node.links().len(), "node links");
    for side in [&r, &n] {
        // The bridge keeps the MAC the result reports (the containers' gateway MAC must not
        // follow whichever port is lowest).
        let link: Value =
            serde_json::from_str(&side.node.ns.ip(&["-j", "link", "show", "dev", bridge]))
                .expect("ip -j link show");
        assert_eq!(
            side.result["interfaces"][0]["mac"],
            link[0]["address"],
            "{}: the bridge's MAC changed after ADD",
            side.node.plugin.label()
        );
    }
    for key in ["net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"] {
        assert_eq!(
            sysctl(&n.node.ns, key),
            sysctl(&r.node.ns, key),
            "{key} in the node"
        );
    }
    let name = conf["name"].as_str().expect("name");
    assert_eq!(
        n.node.ipam_files(name),
        r.node.ipam_files(name),
        "IPAM files"
    );
    (r, n)
}

#[test]
fn parity_ipv4_gateway() {
    let (_, n) = assert_parity(&ipv4_conf("1.0.0"));
    assert_eq!(n.result["ips"][0]["address"], "10.77.0.2/24");
    assert_eq!(sysctl(&n.node.ns, "net/ipv4/ip_forward"), "1");
    let held = std::fs::read_to_string(n.node.data_dir.path().join("parity4/10.77.0.2"))
        .expect("host-local's file for the address");
    assert_eq!(held, "c1\r\neth0", "host-local's on-disk format");
}

#[test]
fn parity_cni_0_4_0_result() {
    let (_, n) = assert_parity(&ipv4_conf("0.4.0"));
    assert_eq!(n.result["cniVersion"], "0.4.0");
    assert_eq!(n.result["ips"][0]["version"], "4");
}

#[test]
fn parity_ipv6() {
    let conf = json!({
        "cniVersion": "1.0.0",
        "name": "parity6",
        "bridge": "cnibr6",
        "isDefaultGateway": true,
        "hairpinMode": true,
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": "10.78.0.0/24"}], [{"subnet": "fd78::/64"}]],
        },
    });
    let (_, n) = assert_parity(&conf);
    assert_eq!(n.result["ips"][1]["address"], "fd78::2/64");
    assert_eq!(sysctl(&n.node.ns, "net/ipv6/conf/all/forwarding"), "1");
}

#[test]
fn parity_custom_mtu_mac_promisc() {
    let conf = json!({
        "cniVersion": "1.0.0",
        "name": "paritymtu",
        "bridge": "cnibrm",
        "mtu": 1400,
        "promiscMode": true,
        "runtimeConfig": {"mac": "02:42:ac:11:00:09"},
        "ipam": {"type": "host-local", "subnet": "10.79.0.0/24"},
    });
    let (r, n) = assert_parity(&conf);
    for side in [&r, &n] {
        assert_eq!(interface_state(&side.container, "eth0")["mtu"], 1400);
        assert_eq!(side.result["interfaces"][2]["mac"], "02:42:ac:11:00:09");
    }
}

#[test]
fn two_containers_on_one_bridge_ping_each_other() {
    for plugin in [reference(), nsplug()] {
        let node = Node::new(plugin);
        let conf = ipv4_conf("1.0.0");
        let a = TestNs::new("pa");
        let b = TestNs::new("pb");
        let label = node.plugin.label();
        node.invoke(&Env::new("ADD", "ca", &a, "eth0"), &conf)
            .expect_ok(&format!("{label} ADD a"));
        let added = node
            .invoke(&Env::new("ADD", "cb", &b, "eth0"), &conf)
            .expect_ok(&format!("{label} ADD b"));
        let b_addr = added.json()["ips"][0]["address"]
            .as_str()
            .and_then(|a| a.split('/').next())
            .expect("b's address")
            .to_owned();
        nsplug_tests::run(
            "ip",
            &["netns", "exec", a.name(), "ping", "-c1", "-W2", &b_addr],
        );
    }
}

#[test]
fn repeated_add_fails_on_both() {
    for plugin in [reference(), nsplug()] {
        let node = Node::new(plugin);
        let c = TestNs::new("rep");
        let env = Env::new("ADD", "c1", &c, "eth0");
        let conf = ipv4_conf("1.0.0");
        node.invoke(&env, &conf).expect_ok("first ADD");
        let again = node.invoke(&env, &conf);
        assert_eq!(
            again.error_code(),
            Some(999),
            "{}: {}",
            node.plugin.label(),
            again.stdout
        );
        assert!(
            again.json()["msg"]
                .as_str()
                .unwrap()
                .contains("already exists")
        );
        assert_eq!(
            node.ipam_files("parity4").len(),
            3,
            "still one address held"
        );
    }
}

#[test]
fn double_del_succeeds_on_both_and_leaves_nothing() {
    for plugin in [reference(), nsplug()] {
        let node = Node::new(plugin);
        let c = TestNs::new("del");
        let conf = ipv4_conf("1.0.0");
        node.invoke(&Env::new("ADD", "c1", &c, "eth0"), &conf)
            .expect_ok("ADD");
        for round in 0..2 {
            let out = node.invoke(&Env::new("DEL", "c1", &c, "eth0"), &conf);
            assert!(
                out.ok,
                "{} DEL #{round}: {}",
                node.plugin.label(),
                out.stdout
            );
            assert_eq!(out.stdout.trim(), "", "DEL prints nothing");
        }
        assert!(link_names(&c).is_empty(), "container interface removed");
        assert_eq!(node.links(), vec!["cnibr0"], "only the bridge stays");
        assert_eq!(
            node.ipam_files("parity4"),
            vec!["last_reserved_ip.0", "lock"]
        );
        // DEL without the namespace (the container is gone) succeeds too.
        let mut gone = Env::new("DEL", "c1", &c, "eth0");
        gone.netns = Some("/run/netns/nsplug-no-such-namespace".into());
        assert!(node.invoke(&gone, &conf).ok, "DEL with a vanished netns");
    }
}

#[test]
fn check_after_add_and_after_damage() {
    for plugin in [reference(), nsplug()] {
        let node = Node::new(plugin);
        let c = TestNs::new("chk");
        let mut conf = ipv4_conf("1.0.0");
        let added = node
            .invoke(&Env::new("ADD", "c1", &c, "eth0"), &conf)
            .expect_ok("ADD");
        conf["prevResult"] = added.json();
        let label = node.plugin.label();
        let ok = node.invoke(&Env::new("CHECK", "c1", &c, "eth0"), &conf);
        assert!(ok.ok, "{label} CHECK: {}", ok.stdout);
        c.ip(&["address", "del", "10.77.0.2/24", "dev", "eth0"]);
        let damaged = node.invoke(&Env::new("CHECK", "c1", &c, "eth0"), &conf);
        assert!(
            !damaged.ok,
            "{label} CHECK must fail once the address is gone"
        );
    }
}

#[test]
fn concurrent_adds_get_distinct_addresses() {
    const N: usize = 20;
    let mut leftovers = Vec::new();
    for plugin in [reference(), nsplug()] {
        let node = Node::new(plugin);
        let conf = ipv4_conf("1.0.0");
        let containers: Vec<TestNs> = (0..N).map(|i| TestNs::new(&format!("k{i}"))).collect();
        let ids: Vec<String> = (0..N).map(|i| format!("c{i}")).collect();
        let results: Vec<Value> = std::thread::scope(|s| {
            let handles: Vec<_> = containers
                .iter()
                .zip(&ids)
                .map(|(c, id)| {
                    let (node, conf) = (&node, &conf);
                    s.spawn(move || {
                        node.invoke(&Env::new("ADD", id, c, "eth0"), conf)
                            .expect_ok("parallel ADD")
                            .json()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut addresses: Vec<&str> = results
            .iter()
            .map(|r| r["ips"][0]["address"].as_str().unwrap())
            .collect();
        addresses.sort();
        addresses.dedup();
        assert_eq!(addresses.len(), N, "{}: {addresses:?}", node.plugin.label());
        std::thread::scope(|s| {
            for (c, id) in containers.iter().zip(&ids) {
                let (node, conf) = (&node, &conf);
                s.spawn(move || {
                    node.invoke(&Env::new("DEL", id, c, "eth0"), conf)
                        .expect_ok("parallel DEL");
                });
            }
        });
        let dir = node.data_dir.path().join("parity4");
        let last = std::fs::read_to_string(dir.join("last_reserved_ip.0")).unwrap();
        leftovers.push((node.ipam_files("parity4"), last));
    }
    assert_eq!(leftovers[1], leftovers[0], "left nsplug, right host-local");
    assert_eq!(leftovers[0].0, vec!["last_reserved_ip.0", "lock"]);
}

/// Bad input: each gives its CNI code, and nothing is left behind.
#[test]
fn bad_input_gets_spec_codes_and_leaves_nothing() {
    let node = Node::new(nsplug());
    let c = TestNs::new("bad");
    let conf = ipv4_conf("1.0.0");
    let add = Env::new("ADD", "c1", &c, "eth0");

    node.invoke_raw(&add, b"{\"cniVersion\": ")
        .expect_error(6, "parsing");

    let mut no_netns = add.clone();
    no_netns.netns = None;
    node.invoke(&no_netns, &conf).expect_error(4, "CNI_NETNS");

    let mut unknown = conf.clone();
    unknown["cniVersion"] = json!("9.9.9");
    node.invoke(&add, &unknown).expect_error(1, "9.9.9");

    let mut nonexistent = add.clone();
    nonexistent.netns = Some("/run/netns/nsplug-no-such-namespace".into());
    node.invoke(&nonexistent, &conf)
        .expect_error(4, "nsplug-no-such-namespace");

    let file = node.data_dir.path().join("not-a-namespace");
    std::fs::write(&file, "").unwrap();
    let mut not_ns = add.clone();
    not_ns.netns = Some(file.display().to_string());
    node.invoke(&not_ns, &conf)
        .expect_error(4, "not-a-namespace");

    let no_command = Env {
        command: "FROB",
        ..add.clone()
    };
    node.invoke(&no_command, &conf).expect_error(4, "FROB");

    let mut masq = conf.clone();
    masq["ipMasq"] = json!(true);
    node.invoke(&add, &masq).expect_error(2, "ipMasq");

    let mut no_plugin = conf.clone();
    no_plugin["nsplug"] = json!({});
    node.invoke_raw(&add, no_plugin.to_string().as_bytes())
        .expect_error(7, "nsplug");

    assert!(node.links().is_empty(), "nothing created in the node");
    assert!(
        link_names(&c).is_empty(),
        "nothing created in the container"
    );
    assert!(
        node.ipam_files("parity4")
            .iter()
            .all(|f| !f.starts_with("10.")),
        "no address reserved"
    );
}

#[test]
fn add_failing_half_way_rolls_back() {
    let node = Node::new(nsplug());
    let c = TestNs::new("rb");
    let mut conf = ipv4_conf("1.0.0");
    // A route via a gateway on no connected network: the kernel refuses it (ENETUNREACH) after
    // the veth pair, the reservation and the addresses exist.
    conf["ipam"]["routes"] = json!([{"dst": "10.99.0.0/16", "gw": "192.0.2.1"}]);
    let out = node.invoke(&Env::new("ADD", "c1", &c, "eth0"), &conf);
    assert!(!out.ok, "ADD must fail: {}", out.stdout);
    assert!(link_names(&c).is_empty(), "container side removed");
    assert_eq!(
        node.links(),
        vec!["cnibr0"],
        "host veth removed, bridge kept"
    );
    assert!(
        !node
            .ipam_files("parity4")
            .iter()
            .any(|f| f.starts_with("10.")),
        "reservation released: {:?}",
        node.ipam_files("parity4")
    );
    // And the network still works afterwards.
    conf["ipam"]["routes"] = json!([]);
    node.invoke(&Env::new("ADD", "c1", &c, "eth0"), &conf)
        .expect_ok("ADD after the rollback");
}

#[test]
fn version_status_and_gc() {
    let node = Node::new(nsplug());
    let mut conf = ipv4_conf("1.1.0");
    let version = node.invoke(&Env::bare("VERSION"), &conf);
    assert_eq!(
        version.expect_ok("VERSION").json()["supportedVersions"],
        json!(["0.4.0", "1.0.0", "1.1.0"])
    );
    let a = TestNs::new("gca");
    let b = TestNs::new("gcb");
    node.invoke(&Env::new("ADD", "keep", &a, "eth0"), &conf)
        .expect_ok("ADD keep");
    node.invoke(&Env::new("ADD", "stale", &b, "eth0"), &conf)
        .expect_ok("ADD stale");
    let status = node.invoke(&Env::bare("STATUS"), &conf);
    assert_eq!(status.expect_ok("STATUS").stdout.trim(), "");

    conf["cni.dev/valid-attachments"] = json!([{"containerID": "keep", "ifname": "eth0"}]);
    let gc = Env::bare("GC");
    node.invoke(&gc, &conf).expect_ok("GC");
    let files = node.ipam_files("parity4");
    assert_eq!(
        files,
        vec!["10.77.0.2", "last_reserved_ip.0", "lock"],
        "only keep's address"
    );

    // GC is a 1.1.0 command.
    let mut old = conf.clone();
    old["cniVersion"] = json!("1.0.0");
    assert_eq!(node.invoke(&gc, &old).error_code(), Some(1));
}
