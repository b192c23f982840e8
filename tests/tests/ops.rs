//! Operations through the executor, checked against iproute2 as the oracle.

use nsplug_host::Executor;
use nsplug_host::ops::{link, sysctl};
use nsplug_tests::*;

fn executor() -> Executor {
    Executor::builder()
        .workers(2)
        .paranoid(true)
        .build()
        .unwrap()
}

#[test]
fn links_match_iproute2() {
    let _serial = serial();
    let t = TestNs::new("links");
    t.ip(&[
        "link", "add", "nsp-a", "type", "veth", "peer", "name", "nsp-b",
    ]);
    t.ip(&["link", "set", "nsp-a", "mtu", "1400", "up"]);
    let exec = executor();
    let ns = exec.open(t.name()).unwrap();

    let ours = link::list(&exec, &ns).unwrap();
    let oracle: serde_json::Value =
        serde_json::from_str(&t.ip(&["-j", "-d", "link", "show"])).unwrap();
    let oracle = oracle.as_array().unwrap();
    assert_eq!(ours.len(), oracle.len(), "{ours:?}");
    for (l, o) in ours.iter().zip(oracle) {
        assert_eq!(u64::from(l.index), o["ifindex"].as_u64().unwrap());
        assert_eq!(l.name, o["ifname"].as_str().unwrap());
        assert_eq!(u64::from(l.mtu.unwrap()), o["mtu"].as_u64().unwrap());
        assert_eq!(l.oper_state, o["operstate"].as_str().unwrap());
        assert_eq!(l.address.as_deref(), o["address"].as_str());
        let flags: Vec<&str> = o["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        assert_eq!(l.up, flags.contains(&"UP"), "{}", l.name);
        assert_eq!(
            l.kind.as_deref(),
            o["linkinfo"]["info_kind"].as_str(),
            "{}",
            l.name
        );
    }
    let a = link::get(&exec, &ns, "nsp-a").unwrap();
    assert_eq!((a.mtu, a.up), (Some(1400), true));
    let b = link::get(&exec, &ns, "nsp-b").unwrap();
    assert_eq!(a.link, Some(b.index), "veth peer index");

    let missing = link::get(&exec, &ns, "nsp-none").unwrap_err();
    assert_eq!(missing.raw_os_error(), Some(libc::ENODEV), "{missing}");
    assert!(link::get(&exec, &ns, "sixteen-bytes-xx").is_err());

    // After the first call, listing needs no namespace switch: the socket is cached.
    let entries = exec.counters().entries;
    for _ in 0..10 {
        link::list(&exec, &ns).unwrap();
    }
    assert_eq!(exec.counters().entries, entries);
}

#[test]
fn sysctl_is_per_namespace() {
    let _serial = serial();
    let t = TestNs::new("sysctl");
    let exec = executor();
    let ns = exec.open(t.name()).unwrap();
    let key = sysctl::SysctlKey::parse("net.ipv4.ip_forward").unwrap();
    let host_before = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();

    sysctl::set(&exec, &ns, &key, "1").unwrap();
    assert_eq!(sysctl::get(&exec, &ns, &key).unwrap(), "1");
    let oracle = run(
        "ip",
        &[
            "netns",
            "exec",
            t.name(),
            "cat",
            "/proc/sys/net/ipv4/ip_forward",
        ],
    );
    assert_eq!(oracle.trim(), "1");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_before,
        "the host's value changed"
    );

    // Interface names with dots are unambiguous as components.
    t.ip(&["link", "add", "br.100", "type", "bridge"]);
    let dotted = sysctl::SysctlKey::new(["net", "ipv4", "conf", "br.100", "forwarding"]).unwrap();
    sysctl::set(&exec, &ns, &dotted, "1").unwrap();
    let oracle = run(
        "ip",
        &[
            "netns",
            "exec",
            t.name(),
            "cat",
            "/proc/sys/net/ipv4/conf/br.100/forwarding",
        ],
    );
    assert_eq!(oracle.trim(), "1");

    let missing = sysctl::SysctlKey::parse("net/ipv4/no_such_key").unwrap();
    let err = sysctl::get(&exec, &ns, &missing).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{err}");
}

#[test]
fn namespace_lifecycle_is_iproute2_compatible() {
    let _serial = serial();
    require_privileges();
    let exec = executor();
    let name = format!("nsplug-t{}-life", std::process::id());
    let ns = exec.create_namespace(&name).unwrap();
    let listed = run("ip", &["netns", "list"]);
    assert!(
        listed
            .lines()
            .any(|l| l.split_whitespace().next() == Some(&name)),
        "{listed}"
    );
    // iproute2 sees the same namespace we pinned.
    let t_id = ns_id(std::path::Path::new(&format!("/run/netns/{name}"))).unwrap();
    assert_eq!(ns.id(), t_id);
    run("ip", &["-n", &name, "link", "set", "lo", "up"]);
    let lo = link::get(&exec, &ns, "lo").unwrap();
    assert!(lo.up, "change made by ip is seen through our handle");

    assert!(
        exec.create_namespace(&name).is_err(),
        "creating twice fails"
    );
    exec.delete_namespace(&name).unwrap();
    let listed = run("ip", &["netns", "list"]);
    assert!(!listed.contains(&name), "{listed}");
    assert!(
        ns.check_current().is_err(),
        "the handle is stale after delete"
    );
}
