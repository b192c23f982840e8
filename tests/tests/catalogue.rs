//! The operation catalogue (links, addresses, routes, neighbours, sysctls, batches), each
//! operation checked against `ip -j -n NS …` as the oracle, not only against its own return
//! value; its error paths; and the plugins that use it (`examples/veth-pair-rust` pinging across
//! the pair it made, policy denials that execute nothing, a guest built for 0.1.0).

use std::net::IpAddr;
use std::path::Path;

use nsplug_host::ops::address::{self, AddressFlags};
use nsplug_host::ops::batch::{self, Op, Outcome};
use nsplug_host::ops::link::{
    self, LinkChanges, LinkKind, MacvlanMode, MasterChange, NewLink, VxlanConfig,
};
use nsplug_host::ops::neighbor;
use nsplug_host::ops::route::{self, Route, RouteScope};
use nsplug_host::ops::sysctl::SysctlKey;
use nsplug_host::ops::{IpPrefix, MacAddr};
use nsplug_host::policy::HostAccess;
use nsplug_host::{CallError, ErrorCode, Executor, Namespace, OpClass, Policy, Runtime};
use nsplug_tests::*;
use serde_json::Value;

const TEST_GUEST: &str = env!("GUEST_TEST");
const V0_1_0_GUEST: &str = env!("GUEST_V0_1_0");
const VETH_PAIR: &str = env!("GUEST_VETH_PAIR");

fn executor() -> Executor {
    Executor::builder()
        .workers(2)
        .paranoid(true)
        .build()
        .unwrap()
}

/// `ip -j -n NS <args>`, parsed.
fn ip_json(t: &TestNs, args: &[&str]) -> Value {
    let mut full = vec!["-j"];
    full.extend_from_slice(args);
    let out = t.ip(&full);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("ip -j {args:?}: {e}: {out}"))
}

/// The oracle's view of one link: `ip -j -d -n NS link show dev NAME`.
fn ip_link(t: &TestNs, name: &str) -> Value {
    ip_json(t, &["-d", "link", "show", "dev", name])[0].clone()
}

/// Whether the oracle sees a link called `name` in `t`.
fn has_link(t: &TestNs, name: &str) -> bool {
    ip_json(t, &["link", "show"])
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["ifname"] == name)
}

fn flags(link: &Value) -> Vec<String> {
    link["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect()
}

fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

fn prefix(s: &str) -> IpPrefix {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn veth(name: &str, peer: &str, peer_ns: Option<&Namespace>) -> NewLink {
    NewLink::new(
        name,
        LinkKind::Veth {
            peer: peer.to_owned(),
            peer_ns: peer_ns.cloned(),
            peer_mac: None,
        },
    )
}

/// The code of an error, for assertions.
fn code<T: std::fmt::Debug>(r: nsplug_host::Result<T>) -> ErrorCode {
    r.expect_err("expected an error").code()
}

#[test]
fn veth_peer_created_in_another_namespace() {
    let (a, b) = (TestNs::new("cat-va"), TestNs::new("cat-vb"));
    let exec = executor();
    let (na, nb) = (exec.open(a.name()).unwrap(), exec.open(b.name()).unwrap());
    let mut new = veth("nsp-a", "nsp-b", Some(&nb));
    new.mtu = Some(1400);
    new.mac = Some(mac("02:00:00:00:aa:01"));
    if let LinkKind::Veth { peer_mac, .. } = &mut new.kind {
        *peer_mac = Some(mac("02:00:00:00:bb:01"));
    }
    link::add(&exec, &na, &new).unwrap();

    let oa = ip_link(&a, "nsp-a");
    assert_eq!(oa["linkinfo"]["info_kind"], "veth");
    assert_eq!(oa["mtu"], 1400);
    assert_eq!(oa["address"], "02:00:00:00:aa:01");
    assert!(
        !has_link(&a, "nsp-b"),
        "the peer was created beside the first end"
    );
    let ob = ip_link(&b, "nsp-b");
    assert_eq!(ob["linkinfo"]["info_kind"], "veth");
    assert_eq!(ob["mtu"], 1400, "the peer gets the MTU too");
    assert_eq!(ob["address"], "02:00:00:00:bb:01");
    // Our view of the peer index agrees with the oracle's.
    let ours = link::get(&exec, &na, "nsp-a").unwrap();
    assert_eq!(ours.link.map(u64::from), oa["link_index"].as_u64());
    assert_eq!(ob["ifindex"].as_u64(), ours.link.map(u64::from));
    assert_eq!(ours.kind.as_deref(), Some("veth"));
}

#[test]
fn link_created_straight_into_a_target_namespace() {
    let (a, b) = (TestNs::new("cat-ta"), TestNs::new("cat-tb"));
    let exec = executor();
    let (na, nb) = (exec.open(a.name()).unwrap(), exec.open(b.name()).unwrap());
    let mut new = NewLink::new("nsp-br", LinkKind::Bridge);
    new.target_ns = Some(nb.clone());
    new.txqlen = Some(500);
    link::add(&exec, &na, &new).unwrap();
    assert!(!has_link(&a, "nsp-br"));
    let ob = ip_link(&b, "nsp-br");
    assert_eq!(ob["linkinfo"]["info_kind"], "bridge");
    assert_eq!(ob["txqlen"], 500);

    // A veth whose both ends land elsewhere: first end in `b`, peer in `a`.
    let mut new = veth("nsp-x", "nsp-y", Some(&na));
    new.target_ns = Some(nb);
    link::add(&exec, &na, &new).unwrap();
    assert!(has_link(&b, "nsp-x") && has_link(&a, "nsp-y"));
    assert!(!has_link(&a, "nsp-x") && !has_link(&b, "nsp-y"));
}

#[test]
fn bridge_macvlan_and_vxlan_match_iproute2() {
    let t = TestNs::new("cat-kinds");
    let exec = executor();
    let ns = exec.open(t.name()).unwrap();
    link::add(&exec, &ns, &NewLink::new("nsp-br0", LinkKind::Bridge)).unwrap();
    link::add(&exec, &ns, &veth("nsp-v0", "nsp-v1", None)).unwrap();
    let mv = NewLink::new(
        "nsp-mv0",
        LinkKind::Macvlan {
            parent: "nsp-v0".into(),
            mode: MacvlanMode::Bridge,
        },
    );
    link::add(&exec, &ns, &mv).unwrap();
    let mut vx = VxlanConfig::new(4242);
    vx.port = Some(4789);
    vx.learning = Some(false);
    vx.parent = Some("nsp-v0".into());
    vx.local = Some(ip("10.77.0.1"));
    vx.remote = Some(ip("10.77.0.2"));
    link::add(&exec, &ns, &NewLink::new("nsp-vx0", LinkKind::Vxlan(vx))).unwrap();

    assert_eq!(ip_link(&t, "nsp-br0")["linkinfo"]["info_kind"], "bridge");
    let omv = ip_link(&t, "nsp-mv0");
    assert_eq!(omv["linkinfo"]["info_kind"], "macvlan");
    assert_eq!(omv["linkinfo"]["info_data"]["mode"], "bridge");
    assert_eq!(omv["link"], "nsp-v0");
    let ovx = ip_link(&t, "nsp-vx0");
    let data = &ovx["linkinfo"]["info_data"];
    assert_eq!(ovx["linkinfo"]["info_kind"], "vxlan");
    assert_eq!(data["id"], 4242);
    assert_eq!(data["port"], 4789);
    assert_eq!(data["learning"], false);
    assert_eq!(data["local"], "10.77.0.1");
    assert_eq!(data["remote"], "10.77.0.2");
    assert_eq!(data["link"], "nsp-v0");

    // Our listing agrees with the oracle's, link by link.
    let ours = link::list(&exec, &ns).unwrap();
    let oracle = ip_json(&t, &["-d", "link", "show"]);
    let oracle = oracle.as_array().unwrap();
    assert_eq!(ours.len(), oracle.len());
    for (l, o) in ours.iter().zip(oracle) {
        assert_eq!(l.name, o["ifname"].as_str().unwrap());
        assert_eq!(l.kind.as_deref(), o["linkinfo"]["info_kind"].as_str());
    }
    let parent = link::get(&exec, &ns, "nsp-v0").unwrap();
    let ours_mv = link::get(&exec, &ns, "nsp-mv0").unwrap();
    assert_eq!(
        ours_mv.link,
        Some(parent.index),
        "a macvlan's link is its parent"
    );
}

/// Kinds this kernel may lack (this CI machine's lacks all three): ours must succeed exactly when
/// iproute2 does, and otherwise say `not-supported`.
#[test]
fn kinds_the_kernel_lacks_are_not_supported() {
    let t = TestNs::new("cat-missing");
    let exec = executor();
    let ns = exec.open(t.name()).unwrap();
    link::add(&exec, &ns, &veth("nsp-p0", "nsp-p1", None)).unwrap();
    let cases: [(&str, &[&str], LinkKind); 3] = [
        ("nsp-dummy", &["type", "dummy"], LinkKind::Dummy),
        (
            "nsp-vlan",
            &["link", "nsp-p0", "type", "vlan", "id", "100"],
            LinkKind::Vlan {
                parent: "nsp-p0".into(),
                id: 100,
            },
        ),
        (
            "nsp-ipvl",
            &["link", "nsp-p0", "type", "ipvlan", "mode", "l2"],
            LinkKind::Ipvlan {
                parent: "nsp-p0".into(),
                mode: link::IpvlanMode::L2,
            },
        ),
    ];
    for (name, ip_args, kind) in cases {
        let oracle_name = format!("{name}o");
        let mut args = vec!["-n", t.name(), "link", "add", oracle_name.as_str()];
        args.extend_from_slice(ip_args);
        let oracle_ok = std::process::Command::new("ip")
            .args(&args)
            .output()
            .unwrap()
            .status
            .success();
        let ours = link::add(&exec, &ns, &NewLink::new(name, kind));
        if oracle_ok {
            ours.unwrap_or_else(|e| panic!("{name}: iproute2 could, we could not: {e}"));
            assert!(has_link(&t, name));
        } else {
            let err = ours.expect_err("iproute2 could not, we did");
            assert_eq!(err.code(), ErrorCode::NotSupported, "{name}: {err}");
            assert!(!has_link(&t, name));
        }
    }
    let bad_vlan = LinkKind::Vlan {
        parent: "nsp-p0".into(),
        id: 4095,
    };
    assert_eq!(
        code(link::add(&exec, &ns, &NewLink::new("nsp-vl2", bad_vlan))),
        ErrorCode::InvalidArgument
    );
}

#[test]
fn link_changes_match_iproute2() {
    let t = TestNs::new("cat-set");
    let exec = executor();
    let ns = exec.open(t.name()).unwrap();
    link::add(&exec, &ns, &NewLink::new("nsp-br", LinkKind::Bridge)).unwrap();
    link::add(&exec, &ns, &veth("nsp-s0", "nsp-s1", None)).unwrap();

    let mut c = LinkChanges::up(true);
    c.mtu = Some(1280);
    c.mac = Some(mac("02:11:22:33:44:55"));
    c.promisc = Some(true);
    c.txqlen = Some(321);
    c.master = Some(MasterChange::Set("nsp-br".into()));
    c.hairpin = Some(true);
    link::set(&exec, &ns, "nsp-s0", &c).unwrap();
    let o = ip_link(&t, "nsp-s0");
    assert!(flags(&o).contains(&"UP".to_owned()), "{o}");
    assert!(flags(&o).contains(&"PROMISC".to_owned()), "{o}");
    assert_eq!(o["mtu"], 1280);
    assert_eq!(o["address"], "02:11:22:33:44:55");
    assert_eq!(o["txqlen"], 321);
    assert_eq!(o["master"], "nsp-br");
    assert_eq!(o["linkinfo"]["info_slave_kind"], "bridge");
    assert_eq!(o["linkinfo"]["info_slave_data"]["hairpin"], true);
    let d = link::details(&exec, &ns, "nsp-s0").unwrap();
    let br = link::get(&exec, &ns, "nsp-br").unwrap();
    assert_eq!(
        (d.promisc, d.txqlen, d.hairpin, d.link.master),
        (true, Some(321), Some(true), Some(br.index))
    );

    // Release, down, rename.
    let mut c = LinkChanges::up(false);
    c.master = Some(MasterChange::NoMaster);
    c.promisc = Some(false);
    link::set(&exec, &ns, "nsp-s0", &c).unwrap();
    let mut c = LinkChanges::default();
    c.rename = Some("nsp-renamed".into());
    link::set(&exec, &ns, "nsp-s0", &c).unwrap();
    let o = ip_link(&t, "nsp-renamed");
    assert!(!flags(&o).contains(&"UP".to_owned()), "{o}");
    assert!(o.get("master").is_none(), "{o}");
    assert!(!has_link(&t, "nsp-s0"));
    let d = link::details(&exec, &ns, "nsp-renamed").unwrap();
    assert_eq!((d.promisc, d.hairpin, d.link.master), (false, None, None));

    // Hairpin is a bridge-port setting.
    let mut c = LinkChanges::default();
    c.hairpin = Some(true);
    assert!(link::set(&exec, &ns, "nsp-renamed", &c).is_err());
    assert_eq!(
        code(link::set(&exec, &ns, "nsp-none", &LinkChanges::up(true))),
        ErrorCode::NotFound
    );
}

#[test]
fn links_move_between_namespaces() {
    let (a, b) = (TestNs::new("cat-ma"), TestNs::new("cat-mb"));
    let exec = executor();
    let (na, nb) = (exec.open(a.name()).unwrap(), exec.open(b.name()).unwrap());
    link::add(&exec, &na, &veth("nsp-m0", "nsp-m1", None)).unwrap();
    link::set_netns(&exec, &na, "nsp-m1", &nb).unwrap();
    assert!(has_link(&a, "nsp-m0") && !has_link(&a, "nsp-m1"));
    assert!(has_link(&b, "nsp-m1"));
    // Our listing of `b` shows it too, with the peer index the oracle reports.
    let moved = link::get(&exec, &nb, "nsp-m1").unwrap();
    assert_eq!(
        Some(u64::from(moved.index)),
        ip_link(&b, "nsp-m1")["ifindex"].as_u64()
    );
    assert_eq!(
        code(link::set_netns(&exec, &na, "nsp-m1", &nb)),
        ErrorCode::NotFound
    );
}

#[test]
fn link_errors_have_their_codes() {
    let t = TestNs::new("cat-lerr");
    let exec = executor();
    let ns = exec.open(t.name()).unwrap();
    link::add(&exec, &ns, &veth("nsp-e0", "nsp-e1", None)).unwrap();
    assert_eq!(
        code(link::add(&exec, &ns, &veth("nsp-e0", "nsp-e2", None))),
        ErrorCode::AlreadyExists
    );
    assert!(!has_link(&t, "nsp-e2"));
    assert_eq!(code(link::del(&exec, &ns, "nsp-none")), ErrorCode::NotFound);
    assert_eq!(code(link::get(&exec, &ns, "nsp-none")), ErrorCode::NotFound);
    let orphan = NewLink::new(
        "nsp-mv",
        LinkKind::Macvlan {
            parent: "nsp-none".into(),
            mode: MacvlanMode::Private,
        },
    );
    assert_eq!(code(link::add(&exec, &ns, &orphan)), ErrorCode::NotFound);
    // Names are validated before the kernel sees them.
    for bad in ["", "sixteen-bytes-xx", "a/b", "a b", "a:b", ".", ".."] {
        assert_eq!(
            code(link::add(&exec, &ns, &NewLink::new(bad, LinkKind::Bridge))),
            ErrorCode::InvalidArgument,
            "{bad:?}"
        );
    }
    assert_eq!(
        code(link::add(
            &exec,
            &ns,
            &veth("nsp-ok", "peer-name-too-long", None)
        )),
        ErrorCode::InvalidArgument
    );
    // Deleting one end removes the pair.
    link::del(&exec, &ns, "nsp-e0").unwrap();
    assert!(!has_link(&t, "nsp-e0") && !has_link(&t, "nsp-e1"));
}

#[test]
fn addresses_match_iproute2() {
    let t = TestNs::new("cat-addr");
    let exec = executor();
    let ns = exec.open(t.name()).unwrap();
    link::add(&exec, &ns, &veth("nsp-a0", "nsp-a1", None)).unwrap();
    link::set(&exec, &ns, "nsp-a0", &LinkChanges::up(true)).unwrap();
    let none = AddressFlags::default();
    address::add(&exec, &ns, "nsp-a0", prefix("10.66.0.2/24"), none).unwrap();
    address::add(
        &exec,
        &ns,
        "nsp-a0",
        prefix("10.67.0.2/16"),
        AddressFlags::new(false, true),
    )
    .unwrap();
    address::add(
        &exec,
        &ns,
        "nsp-a0",
        prefix("fd66::2/64"),
        AddressFlags::new(true, false),
    )
    .unwrap();

    let oracle = ip_json(&t, &["address", "show", "dev", "nsp-a0"]);
    let infos = oracle[0]["addr_info"].as_array().unwrap();
    let find = |local: &str| {
        infos
            .iter()
            .find(|i| i["local"] == local)
            .unwrap_or_else(|| panic!("{local} missing: {oracle}"))
    };
    let v4 = find("10.66.0.2");
    assert_eq!(
        (v4["prefixlen"].as_u64(), v4["broadcast"].as_str()),
        (Some(24), Some("10.66.0.255"))
    );
    assert_eq!(find("10.67.0.2")["noprefixroute"], true);
    let v6 = find("fd66::2");
    assert_eq!(v6["prefixlen"], 64);
    assert_eq!(v6["nodad"], true);
    assert!(
        v6.get("tentative").is_none(),
        "nodad: no DAD, so not tentative: {v6}"
    );

    // Our listing has exactly the oracle's addresses (all devices).
    let all = ip_json(&t, &["address", "show"]);
    let mut expected: Vec<(u64, String, u64)> = Vec::new();
    for l in all.as_array().unwrap() {
        for i in l["addr_info"].as_array().unwrap() {
            expected.push((
                l["ifindex"].as_u64().unwrap(),
                i["local"].as_str().unwrap().to_owned(),
                i["prefixlen"].as_u64().unwrap(),
            ));
        }
    }
    let mut ours: Vec<(u64, String, u64)> = address::list(&exec, &ns)
        .unwrap()
        .into_iter()
        .map(|a| {
            (
                u64::from(a.index),
                a.address.to_string(),
                u64::from(a.prefix_len),
            )
        })
        .collect();
    expected.sort();
    ours.sort();
    assert_eq!(ours, expected);

    assert_eq!(
        code(address::add(
            &exec,
            &ns,
            "nsp-a0",
            prefix("10.66.0.2/24"),
            none
        )),
        ErrorCode::AlreadyExists
    );
    address::del(&exec, &ns, "nsp-a0", prefix("10.66.0.2/24")).unwrap();
    let after = ip_json(&t, &["address", "show", "dev", "nsp-a0"]);
    assert!(!after.to_string().contains("10.66.0.2"), "{after}");
    assert_eq!(
        code(address::del(&exec, &ns, "nsp-a0", prefix("10.66.0.2/24"))),
        ErrorCode::NotFound
    );
    assert_eq!(
        code(address::add(
            &exec,
            &ns,
            "nsp-none",
            prefix("10.1.0.1/24"),
            none
        )),
        ErrorCode::NotFound
    );
    assert!("10.1.0.1/33".parse::<IpPrefix>().is_err());
}

/// A route as the comparisons see it: destination, gateway, device, metric.
type RouteKey = (String, Option<String>, Option<String>, Option<u64>);

/// The oracle's routes of one family and table.
fn oracle_routes(t: &TestNs, family: &str, table: &str) -> Vec<RouteKey> {
    let routes = ip_json(t, &[family, "route", "show", "table", table]);
    let mut out: Vec<_> = routes
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("type").is_none_or(|ty| ty == "unicast"))
        .map(|r| {
            let dst = r["dst"].as_str().unwrap();
            let dst = match (dst, family) {
                ("default", "-4") => "0.0.0.0/0".to_owned(),
                ("default", _) => "::/0".to_owned(),
                (d, "-4") if !d.contains('/') => format!("{d}/32"),
                (d, _) if !d.contains('/') => format!("{d}/128"),
                (d, _) => d.to_owned(),
            };
            (
                dst,
                r["gateway"].as_str().map(str::to_owned),
                r["dev"].as_str().map(str::to_owned),
                r["metric"].as_u64(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn routes_match_iproute2() {
    let t = TestNs::new("cat-route");
    let exec = executor();
    let ns = exec.open(t.name()).unwrap();
    link::add(&exec, &ns, &veth("nsp-r0", "nsp-r1", None)).unwrap();
    link::set(&exec, &ns, "nsp-r0", &LinkChanges::up(true)).unwrap();
    link::set(&exec, &ns, "nsp-r1", &LinkChanges::up(true)).unwrap();
    let nodad = AddressFlags::new(true, false);
    address::add(&exec, &ns, "nsp-r0", prefix("10.68.0.1/24"), nodad).unwrap();
    address::add(&exec, &ns, "nsp-r0", prefix("fd68::1/64"), nodad).unwrap();

    let mut via = Route::to(prefix("10.99.0.0/24"));
    via.gateway = Some(ip("10.68.0.2"));
    via.dev = Some("nsp-r0".into());
    via.metric = Some(50);
    via.mtu = Some(1300);
    via.source = Some(ip("10.68.0.1"));
    route::add(&exec, &ns, &via).unwrap();
    let mut onlink = Route::to(prefix("10.98.0.7/32"));
    onlink.dev = Some("nsp-r0".into());
    route::add(&exec, &ns, &onlink).unwrap();
    let mut v6 = Route::to(prefix("fd99::/48"));
    v6.gateway = Some(ip("fd68::2"));
    route::add(&exec, &ns, &v6).unwrap();
    let mut default = Route::to(prefix("0.0.0.0/0"));
    default.gateway = Some(ip("10.68.0.254"));
    default.table = Some(100);
    route::add(&exec, &ns, &default).unwrap();
    let mut default6 = Route::to(prefix("::/0"));
    default6.gateway = Some(ip("fd68::fe"));
    default6.table = Some(100);
    default6.metric = Some(7);
    route::add(&exec, &ns, &default6).unwrap();

    let o = ip_json(&t, &["route", "show", "10.99.0.0/24"]);
    let o = &o[0];
    assert_eq!(o["gateway"], "10.68.0.2");
    assert_eq!(o["dev"], "nsp-r0");
    assert_eq!(o["metric"], 50);
    assert_eq!(o["prefsrc"], "10.68.0.1");
    assert_eq!(o["metrics"][0]["mtu"], 1300, "{o}");
    let o = ip_json(&t, &["route", "show", "10.98.0.7"]);
    assert_eq!(
        o[0]["scope"], "link",
        "no gateway: scope link, as ip chooses"
    );
    let o = ip_json(&t, &["route", "show", "table", "100"]);
    assert_eq!(
        (o[0]["dst"].as_str(), o[0]["gateway"].as_str()),
        (Some("default"), Some("10.68.0.254"))
    );

    // Our listings equal the oracle's, table by table, both families.
    for (table, name) in [(None, "main"), (Some(100), "100")] {
        let mut ours: Vec<RouteKey> = route::list(&exec, &ns, table)
            .unwrap()
            .into_iter()
            .map(|r| {
                (
                    r.destination.to_string(),
                    r.gateway.map(|g| g.to_string()),
                    r.dev,
                    r.metric.map(u64::from),
                )
            })
            .collect();
        ours.sort();
        let mut expected = oracle_routes(&t, "-4", name);
        expected.extend(oracle_routes(&t, "-6", name));
        expected.sort();
        assert_eq!(ours, expected, "table {name}");
    }
    let listed = route::list(&exec, &ns, None).unwrap();
    let ours_via = listed
        .iter()
        .find(|r| r.destination == prefix("10.99.0.0/24"))
        .unwrap();
    assert_eq!(
        (ours_via.mtu, ours_via.source),
        (Some(1300), Some(ip("10.68.0.1")))
    );
    assert_eq!(ours_via.scope, Some(RouteScope::Global));

    // add twice, replace, del, del twice.
    assert_eq!(code(route::add(&exec, &ns, &via)), ErrorCode::AlreadyExists);
    let mut moved = via.clone();
    moved.gateway = Some(ip("10.68.0.3"));
    moved.mtu = None;
    route::replace(&exec, &ns, &moved).unwrap();
    let o = ip_json(&t, &["route", "show", "10.99.0.0/24"]);
    assert_eq!(
        o.as_array().unwrap().len(),
        1,
        "replace left one route: {o}"
    );
    assert_eq!(o[0]["gateway"], "10.68.0.3");
    route::del(&exec, &ns, &Route::to(prefix("10.99.0.0/24"))).unwrap();
    assert_eq!(
        ip_json(&t, &["route", "show", "10.99.0.0/24"]),
        Value::Array(vec![])
    );
    assert_eq!(
        code(route::del(&exec, &ns, &Route::to(prefix("10.99.0.0/24")))),
        ErrorCode::NotFound
    );
    let mut mixed = Route::to(prefix("10.97.0.0/24"));
    mixed.gateway = Some(ip("fd68::2"));
    assert_eq!(
        code(route::add(&exec, &ns, &mixed)),
        ErrorCode::InvalidArgument
    );
    let mut unreachable = Route::to(prefix("10.96.0.0/24"));
    unreachable.gateway = Some(ip("192.0.2.1"));
    assert!(
        route::add(&exec, &ns, &unreachable).is_err(),
        "gateway not on any link"
    );
}

#[test]
fn neighbors_match_iproute2() {
    let t = TestNs::new("cat-neigh");
    let exec = executor();
    let ns = exec.open(t.name()).unwrap();
    link::add(&exec, &ns, &veth("nsp-n0", "nsp-n1", None)).unwrap();
    link::set(&exec, &ns, "nsp-n0", &LinkChanges::up(true)).unwrap();
    neighbor::set(
        &exec,
        &ns,
        "nsp-n0",
        ip("10.69.0.9"),
        mac("02:00:00:00:69:09"),
    )
    .unwrap();
    neighbor::set(
        &exec,
        &ns,
        "nsp-n0",
        ip("fd69::9"),
        mac("02:00:00:00:69:99"),
    )
    .unwrap();

    let o = ip_json(&t, &["neighbour", "show", "dev", "nsp-n0"]);
    let find = |dst: &str| {
        o.as_array()
            .unwrap()
            .iter()
            .find(|n| n["dst"] == dst)
            .unwrap_or_else(|| panic!("{dst} missing: {o}"))
            .clone()
    };
    let v4 = find("10.69.0.9");
    assert_eq!(v4["lladdr"], "02:00:00:00:69:09");
    assert_eq!(v4["state"][0], "PERMANENT");
    assert_eq!(find("fd69::9")["lladdr"], "02:00:00:00:69:99");

    let ours = neighbor::list(&exec, &ns).unwrap();
    let mut ours: Vec<(String, String, Option<String>, String)> = ours
        .into_iter()
        .map(|n| (n.dev, n.address.to_string(), n.lladdr, n.state))
        .collect();
    ours.sort();
    let all = ip_json(&t, &["neighbour", "show"]);
    let mut expected: Vec<(String, String, Option<String>, String)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["dev"].as_str().unwrap().to_owned(),
                n["dst"].as_str().unwrap().to_owned(),
                n["lladdr"].as_str().map(str::to_owned),
                n["state"][0].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    expected.sort();
    assert_eq!(ours, expected);

    // Replace in place, then delete.
    neighbor::set(
        &exec,
        &ns,
        "nsp-n0",
        ip("10.69.0.9"),
        mac("02:00:00:00:69:10"),
    )
    .unwrap();
    let o = ip_json(&t, &["neighbour", "show", "10.69.0.9", "dev", "nsp-n0"]);
    assert_eq!(o[0]["lladdr"], "02:00:00:00:69:10");
    neighbor::del(&exec, &ns, "nsp-n0", ip("10.69.0.9")).unwrap();
    let o = ip_json(&t, &["neighbour", "show", "10.69.0.9", "dev", "nsp-n0"]);
    assert_eq!(o, Value::Array(vec![]));
    assert_eq!(
        code(neighbor::del(&exec, &ns, "nsp-n0", ip("10.69.0.9"))),
        ErrorCode::NotFound
    );
}

#[test]
fn link_details_report_counters_as_iproute2_does() {
    let t = TestNs::new("cat-stats");
    run("ip", &["-n", t.name(), "link", "set", "lo", "up"]);
    run(
        "ip",
        &[
            "netns",
            "exec",
            t.name(),
            "ping",
            "-c",
            "3",
            "-i",
            "0.01",
            "-W",
            "1",
            "127.0.0.1",
        ],
    );
    let exec = executor();
    let ns = exec.open(t.name()).unwrap();
    let ours = link::details(&exec, &ns, "lo").unwrap();
    let o = ip_json(&t, &["-s", "link", "show", "dev", "lo"]);
    let s = &o[0]["stats64"];
    let stats = ours.stats.expect("counters");
    assert!(
        stats.rx_packets >= 6,
        "3 pings and 3 replies on lo: {stats:?}"
    );
    assert_eq!(Some(stats.rx_packets), s["rx"]["packets"].as_u64());
    assert_eq!(Some(stats.tx_bytes), s["tx"]["bytes"].as_u64());
    assert_eq!(Some(stats.rx_dropped), s["rx"]["dropped"].as_u64());
    let all = link::list_details(&exec, &ns).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].stats, ours.stats);
}

#[test]
fn batch_visits_once_and_stops_at_the_first_error() {
    let t = TestNs::new("cat-batch");
    let exec = executor();
    let ns = exec.open(t.name()).unwrap();
    link::list(&exec, &ns).unwrap(); // the namespace's socket is now cached
    let before = exec.counters().entries;
    let forwarding = SysctlKey::parse("net/ipv4/conf/all/forwarding").unwrap();
    let ops = vec![
        Op::LinkAdd(NewLink::new("nsp-bb", LinkKind::Bridge)),
        Op::LinkSet("nsp-bb".into(), LinkChanges::up(true)),
        Op::AddressAdd(
            "nsp-bb".into(),
            prefix("10.70.0.1/24"),
            AddressFlags::default(),
        ),
        Op::SysctlSet(forwarding.clone(), "1".into()),
        Op::SysctlGet(forwarding.clone()),
        Op::LinkGet("nsp-bb".into()),
    ];
    let out = batch::run(&exec, &ns, ops).unwrap();
    assert_eq!(out.len(), 6);
    assert_eq!(out[4], Outcome::Value("1".into()));
    assert!(matches!(&out[5], Outcome::Link(l) if l.up && l.kind.as_deref() == Some("bridge")));
    assert_eq!(
        exec.counters().entries - before,
        1,
        "six operations, one of them inside the namespace: one setns pair in all"
    );
    let forwarding_now = run(
        "ip",
        &[
            "netns",
            "exec",
            t.name(),
            "cat",
            "/proc/sys/net/ipv4/conf/all/forwarding",
        ],
    );
    assert_eq!(forwarding_now.trim(), "1");
    assert!(
        ip_json(&t, &["address", "show", "dev", "nsp-bb"])
            .to_string()
            .contains("10.70.0.1")
    );

    // The second op fails: the first ran, the third did not.
    let ops = vec![
        Op::LinkAdd(NewLink::new("nsp-b2", LinkKind::Bridge)),
        Op::LinkAdd(NewLink::new("nsp-bb", LinkKind::Bridge)),
        Op::LinkAdd(NewLink::new("nsp-b3", LinkKind::Bridge)),
    ];
    let failure = batch::run(&exec, &ns, ops).unwrap_err();
    assert_eq!(
        (failure.index, failure.error.code()),
        (1, ErrorCode::AlreadyExists)
    );
    assert!(has_link(&t, "nsp-b2") && !has_link(&t, "nsp-b3"));
}

fn runtime() -> Runtime {
    Runtime::builder()
        .executor(executor())
        .build()
        .expect("runtime")
}

fn veth_pair_input(a: &TestNs, b: &TestNs) -> String {
    serde_json::json!({
        "a": {"namespace": a.name(), "ifname": "nsp-pa", "address": "10.71.0.1/24",
              "routes": ["10.72.0.0/24"]},
        "b": {"namespace": b.name(), "ifname": "nsp-pb", "address": "10.71.0.2/24"},
        "mtu": 1400,
    })
    .to_string()
}

#[test]
fn veth_pair_plugin_connects_two_namespaces() {
    let (a, b) = (TestNs::new("cat-pa"), TestNs::new("cat-pb"));
    let rt = runtime();
    let policy = Policy::load(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/veth-pair-rust/policy.toml"),
    )
    .expect("the example's policy loads");
    assert!(
        !policy.grants_namespace(a.name()),
        "the example grants blue and red only"
    );
    let policy = Policy::granting(
        [a.name(), b.name()],
        [
            OpClass::Read,
            OpClass::Link,
            OpClass::Address,
            OpClass::Route,
        ],
    );
    let plugin = rt
        .load(Path::new(VETH_PAIR), policy)
        .expect("loading veth-pair");
    let input = veth_pair_input(&a, &b);
    let out: Value = serde_json::from_str(&plugin.call("connect", &input).unwrap()).unwrap();

    // The oracle sees what the plugin says it made.
    let oa = ip_link(&a, "nsp-pa");
    let ob = ip_link(&b, "nsp-pb");
    assert_eq!(out["a"]["index"], oa["ifindex"]);
    assert_eq!(out["b"]["index"], ob["ifindex"]);
    assert_eq!(out["a"]["mac"], oa["address"]);
    assert_eq!(
        (oa["mtu"].as_u64(), ob["mtu"].as_u64()),
        (Some(1400), Some(1400))
    );
    assert!(flags(&oa).contains(&"UP".to_owned()) && flags(&ob).contains(&"UP".to_owned()));
    let route = ip_json(&a, &["route", "show", "10.72.0.0/24"]);
    assert_eq!(
        (route[0]["gateway"].as_str(), route[0]["dev"].as_str()),
        (Some("10.71.0.2"), Some("nsp-pa"))
    );

    // Traffic crosses the pair (between the two test namespaces only).
    run(
        "ip",
        &["netns", "exec", a.name(), "ping", "-c1", "-W1", "10.71.0.2"],
    );
    run(
        "ip",
        &["netns", "exec", b.name(), "ping", "-c1", "-W1", "10.71.0.1"],
    );

    // Connecting again fails cleanly and leaves the pair as it was.
    match plugin.call("connect", &input) {
        Err(CallError::Plugin {
            code, host_error, ..
        }) => {
            assert_eq!(
                (code.as_str(), host_error),
                ("connect", Some(ErrorCode::AlreadyExists))
            );
        }
        other => panic!("expected already-exists, got {other:?}"),
    }
    assert!(has_link(&a, "nsp-pa") && has_link(&b, "nsp-pb"));

    let removed: Value = serde_json::from_str(&plugin.call("disconnect", &input).unwrap()).unwrap();
    assert_eq!(removed["removed"], true);
    assert!(!has_link(&a, "nsp-pa") && !has_link(&b, "nsp-pb"));
    let again: Value = serde_json::from_str(&plugin.call("disconnect", &input).unwrap()).unwrap();
    assert_eq!(again["removed"], false, "disconnect is idempotent");

    // Bad input is a plugin error, not a trap.
    match plugin.call("connect", r#"{"a": {}}"#) {
        Err(CallError::Plugin { code, .. }) => assert_eq!(code, "bad-input"),
        other => panic!("expected bad-input, got {other:?}"),
    }
}

#[test]
fn veth_pair_without_a_class_changes_nothing() {
    let (a, b) = (TestNs::new("cat-da"), TestNs::new("cat-db"));
    let rt = runtime();
    let input = veth_pair_input(&a, &b);
    // No `link`: the very first request is denied; nothing exists anywhere.
    let no_link = Policy::granting(
        [a.name(), b.name()],
        [OpClass::Read, OpClass::Address, OpClass::Route],
    );
    let plugin = rt.load(Path::new(VETH_PAIR), no_link).unwrap();
    match plugin.call("connect", &input) {
        Err(CallError::Plugin { host_error, .. }) => {
            assert_eq!(host_error, Some(ErrorCode::DeniedByPolicy));
        }
        other => panic!("expected a denial, got {other:?}"),
    }
    assert_eq!(
        ip_json(&a, &["link", "show"]).as_array().unwrap().len(),
        1,
        "only lo"
    );
    assert_eq!(
        ip_json(&b, &["link", "show"]).as_array().unwrap().len(),
        1,
        "only lo"
    );
    // No `route`: the whole configuration batch of `a` is denied before any of it runs, and the
    // plugin rolls back the pair it made; nothing is left.
    let no_route = Policy::granting(
        [a.name(), b.name()],
        [OpClass::Read, OpClass::Link, OpClass::Address],
    );
    let plugin = rt.load(Path::new(VETH_PAIR), no_route).unwrap();
    match plugin.call("connect", &input) {
        Err(CallError::Plugin { host_error, .. }) => {
            assert_eq!(host_error, Some(ErrorCode::DeniedByPolicy));
        }
        other => panic!("expected a denial, got {other:?}"),
    }
    assert!(!has_link(&a, "nsp-pa") && !has_link(&b, "nsp-pb"));
    assert!(rt.stats().denials >= 2);
}

#[test]
fn denied_class_in_a_batch_runs_nothing() {
    let t = TestNs::new("cat-deny");
    let rt = runtime();
    let input = format!("{}|nsp-dbr|10.73.0.1/24", t.name());
    let link_only = Policy::granting([t.name()], [OpClass::Read, OpClass::Link]);
    let plugin = rt.load(Path::new(TEST_GUEST), link_only).unwrap();
    assert_eq!(
        plugin.call("bridge-batch", &input).unwrap(),
        "error at 1: denied-by-policy"
    );
    assert!(
        !has_link(&t, "nsp-dbr"),
        "the allowed first request of a denied batch ran"
    );

    let granted = Policy::granting([t.name()], [OpClass::Read, OpClass::Link, OpClass::Address]);
    let plugin = rt.load(Path::new(TEST_GUEST), granted).unwrap();
    assert_eq!(plugin.call("bridge-batch", &input).unwrap(), "ran 3");
    let o = ip_link(&t, "nsp-dbr");
    assert!(flags(&o).contains(&"UP".to_owned()));
    assert!(
        ip_json(&t, &["address", "show", "dev", "nsp-dbr"])
            .to_string()
            .contains("10.73.0.1")
    );
}

#[test]
fn host_namespace_writes_need_a_write_grant() {
    let _serial = serial();
    let rt = runtime();
    let name = format!("nsp-h{}", std::process::id() % 100_000);
    let input = format!("host|{name}|10.74.0.1/24");
    let host_has = |name: &str| run("ip", &["-j", "link", "show"]).contains(&format!("\"{name}\""));
    let read_only = Policy::granting(
        Vec::<String>::new(),
        [OpClass::Read, OpClass::Link, OpClass::Address],
    )
    .with_host(HostAccess::Read);
    let plugin = rt.load(Path::new(TEST_GUEST), read_only).unwrap();
    assert_eq!(
        plugin.call("bridge-batch", &input).unwrap(),
        "error at 0: denied-by-policy"
    );
    assert!(!host_has(&name), "a read-only host grant changed the host");
}

#[test]
fn guest_built_for_0_1_0_runs() {
    let t = TestNs::new("cat-v010");
    t.ip(&[
        "link", "add", "nsp-o0", "type", "veth", "peer", "name", "nsp-o1",
    ]);
    let rt = runtime();
    let inspection = rt.inspect(Path::new(V0_1_0_GUEST)).unwrap();
    assert_eq!(inspection.netns_version.as_deref(), Some("0.1.0"));
    assert!(inspection.supported, "{inspection:?}");
    let plugin = rt
        .load(
            Path::new(V0_1_0_GUEST),
            Policy::granting([t.name()], [OpClass::Read]),
        )
        .expect("a 0.1.0 guest loads on this host");
    let names: Vec<String> = ip_json(&t, &["link", "show"])
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ifname"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(plugin.call("links", t.name()).unwrap(), names.join(","));
    assert_eq!(
        plugin.call("batch", t.name()).unwrap(),
        "links=3;addresses=0;ip_forward=0"
    );
    assert_eq!(plugin.call("write", t.name()).unwrap(), "denied-by-policy");
}

#[test]
fn plugins_create_and_delete_namespaces_when_granted() {
    require_privileges();
    let rt = runtime();
    let name = format!("nsplug-t{}-plugin-life", std::process::id());
    let listed = || run("ip", &["netns", "list"]).contains(&name);
    let granted = Policy::granting([name.as_str()], [OpClass::Read, OpClass::Namespace]);
    let plugin = rt.load(Path::new(TEST_GUEST), granted).unwrap();
    assert_eq!(
        plugin.call("lifecycle", &name).unwrap(),
        "created;links=1;deleted"
    );
    assert!(!listed(), "the namespace outlived its delete");

    // Without the class, or for a name not granted: denied, nothing created.
    let no_class = Policy::granting([name.as_str()], [OpClass::Read]);
    let plugin = rt.load(Path::new(TEST_GUEST), no_class).unwrap();
    assert_eq!(
        plugin.call("lifecycle", &name).unwrap(),
        "create: denied-by-policy"
    );
    let other_name = Policy::granting(["nsplug-other"], [OpClass::Read, OpClass::Namespace]);
    let plugin = rt.load(Path::new(TEST_GUEST), other_name).unwrap();
    assert_eq!(
        plugin.call("lifecycle", &name).unwrap(),
        "create: denied-by-policy"
    );
    assert!(!listed());

    // A name iproute2 already made: already-exists, and it is left alone.
    let t = TestNs::new("cat-life");
    let taken = Policy::granting([t.name()], [OpClass::Read, OpClass::Namespace]);
    let plugin = rt.load(Path::new(TEST_GUEST), taken).unwrap();
    assert_eq!(
        plugin.call("lifecycle", t.name()).unwrap(),
        "create: already-exists"
    );
    assert!(run("ip", &["netns", "list"]).contains(t.name()));
}
