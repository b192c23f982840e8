//! host-local IPAM inside the guest, with the reference plugin's on-disk format, so a node can
//! switch between the two without losing allocations.
//!
//! The network's directory (`<dataDir>/<network>`, preopened by the host, which also holds
//! host-local's `flock` on its `lock` file for the whole call) holds:
//!
//! * one file per allocated address, named by the address (`10.22.0.5`, `fd00::5`), holding
//!   `<containerID>\r\n<ifname>`;
//! * `last_reserved_ip.<N>`: the last address handed out from range set `N`, where allocation
//!   resumes (round-robin, as host-local does);
//! * `lock`.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Failure, cni_code};

/// host-local's line break between the container id and the interface name.
const LINE_BREAK: &str = "\r\n";
const LAST_RESERVED: &str = "last_reserved_ip.";

/// An IP prefix: an address (host bits allowed) and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    pub(crate) ip: IpAddr,
    pub(crate) len: u8,
}

impl Cidr {
    pub(crate) fn parse(s: &str) -> Option<Cidr> {
        let (ip, len) = s.split_once('/')?;
        let ip: IpAddr = ip.parse().ok()?;
        let len: u8 = len.parse().ok()?;
        (len <= bits(ip)).then_some(Cidr { ip, len })
    }

    fn network(self) -> IpAddr {
        from_u128(self.ip, to_u128(self.ip) & mask(self.ip, self.len))
    }

    fn contains(self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.ip.is_ipv4()
            && to_u128(ip) & mask(ip, self.len) == to_u128(self.network())
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.ip, self.len)
    }
}

fn bits(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_u128(like: IpAddr, n: u128) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4((n as u32).into()),
        IpAddr::V6(_) => IpAddr::V6(n.into()),
    }
}

/// Every bit of the family's width set.
fn full(ip: IpAddr) -> u128 {
    if ip.is_ipv4() {
        u128::from(u32::MAX)
    } else {
        u128::MAX
    }
}

/// The network mask of a prefix length, in the family's width.
fn mask(ip: IpAddr, len: u8) -> u128 {
    let host_bits = u32::from(bits(ip) - len);
    if host_bits == 128 {
        0
    } else {
        full(ip) & !((1u128 << host_bits) - 1)
    }
}

/// One range of a range set, as the configuration gives it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RangeConf {
    subnet: String,
    range_start: Option<String>,
    range_end: Option<String>,
    gateway: Option<String>,
}

/// A route of the IPAM configuration.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub(crate) struct RouteConf {
    pub(crate) dst: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) gw: Option<String>,
}

/// The `ipam` object (host-local's keys; others are ignored, as host-local ignores them).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IpamConf {
    #[serde(rename = "type", default)]
    pub(crate) kind: String,
    subnet: Option<String>,
    range_start: Option<String>,
    range_end: Option<String>,
    gateway: Option<String>,
    ranges: Option<Vec<Vec<RangeConf>>>,
    #[serde(default)]
    pub(crate) routes: Vec<RouteConf>,
}

/// A checked range: every address inclusive from `start` to `end`, minus the gateway.
#[derive(Debug, Clone, Copy)]
struct Range {
    subnet: Cidr,
    start: u128,
    end: u128,
    gateway: IpAddr,
}

fn bad(msg: String) -> Failure {
    Failure::new(cni_code::INVALID_CONFIG, msg)
}

impl Range {
    fn new(conf: &RangeConf) -> Result<Range, Failure> {
        let subnet = Cidr::parse(&conf.subnet)
            .ok_or_else(|| bad(format!("ipam: invalid subnet {:?}", conf.subnet)))?;
        let ip = subnet.ip;
        if (ip.is_ipv4() && subnet.len > 30) || (ip.is_ipv6() && subnet.len > 126) {
            return Err(bad(format!(
                "ipam: network {} too small to allocate from",
                conf.subnet
            )));
        }
        let network = to_u128(subnet.network());
        let last = network | (!mask(ip, subnet.len) & full(ip));
        let parse = |what: &str, s: &Option<String>, default: u128| -> Result<u128, Failure> {
            match s {
                None => Ok(default),
                Some(s) => {
                    let addr: IpAddr = s
                        .parse()
                        .map_err(|_| bad(format!("ipam: invalid {what} {s:?}")))?;
                    if subnet.contains(addr) {
                        Ok(to_u128(addr))
                    } else {
                        Err(bad(format!("ipam: {what} {s} is outside {}", conf.subnet)))
                    }
                }
            }
        };
        // As host-local: the first host address, the last one (not IPv4's broadcast), and the
        // first host address as the gateway.
        let start = parse("rangeStart", &conf.range_start, network + 1)?;
        let end = parse(
            "rangeEnd",
            &conf.range_end,
            if ip.is_ipv4() { last - 1 } else { last },
        )?;
        let gateway = from_u128(ip, parse("gateway", &conf.gateway, network + 1)?);
        if start > end {
            return Err(bad(format!(
                "ipam: rangeStart is after rangeEnd in {}",
                conf.subnet
            )));
        }
        Ok(Range {
            subnet: Cidr {
                ip: subnet.network(),
                len: subnet.len,
            },
            start,
            end,
            gateway,
        })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        self.subnet.contains(ip) && (self.start..=self.end).contains(&to_u128(ip))
    }
}

/// An address handed out: `10.22.0.5/16` and its range's gateway.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Allocation {
    pub(crate) address: Cidr,
    pub(crate) gateway: IpAddr,
}

/// The host-local store of one network.
#[derive(Debug)]
pub(crate) struct Store {
    dir: PathBuf,
    range_sets: Vec<Vec<Range>>,
}

impl Store {
    pub(crate) fn new(dir: &str, conf: &IpamConf) -> Result<Store, Failure> {
        let sets: Vec<Vec<RangeConf>> = match (&conf.ranges, &conf.subnet) {
            (Some(ranges), _) => ranges.clone(),
            (None, Some(subnet)) => vec![vec![RangeConf {
                subnet: subnet.clone(),
                range_start: conf.range_start.clone(),
                range_end: conf.range_end.clone(),
                gateway: conf.gateway.clone(),
            }]],
            (None, None) => return Err(bad("ipam: no IP ranges specified".into())),
        };
        let mut range_sets = Vec::new();
        for set in &sets {
            if set.is_empty() {
                return Err(bad("ipam: empty range set".into()));
            }
            let ranges = set.iter().map(Range::new).collect::<Result<Vec<_>, _>>()?;
            if ranges
                .iter()
                .any(|r| r.subnet.ip.is_ipv4() != ranges[0].subnet.ip.is_ipv4())
            {
                return Err(bad("ipam: a range set mixes IPv4 and IPv6".into()));
            }
            range_sets.push(ranges);
        }
        Ok(Store {
            dir: PathBuf::from(dir),
            range_sets,
        })
    }

    fn io(&self, what: &str, e: std::io::Error) -> Failure {
        Failure::new(
            cni_code::IO,
            format!("host-local store {}: {what}: {e}", self.dir.display()),
        )
    }

    /// Every allocation file: (address, owner text).
    fn entries(&self) -> Result<Vec<(IpAddr, PathBuf, String)>, Failure> {
        let mut out = Vec::new();
        let dir = std::fs::read_dir(&self.dir).map_err(|e| self.io("listing", e))?;
        for entry in dir {
            let entry = entry.map_err(|e| self.io("listing", e))?;
            let name = entry.file_name();
            let Some(ip) = name.to_str().and_then(|n| n.parse::<IpAddr>().ok()) else {
                continue;
            };
            let path = entry.path();
            let text = std::fs::read_to_string(&path).map_err(|e| self.io("reading", e))?;
            out.push((ip, path, text.trim().to_owned()))
        }
        Ok(out)
    }

    /// The addresses held by (`id`, `ifname`).
    pub(crate) fn held_by(&self, id: &str, ifname: &str) -> Result<Vec<IpAddr>, Failure> {
        let owner = owner(id, ifname);
        Ok(self
            .entries()?
            .into_iter()
            .filter(|(_, _, text)| *text == owner)
            .map(|(ip, _, _)| ip)
            .collect())
    }

    /// One address from every range set, reserved for (`id`, `ifname`).
    pub(crate) fn allocate(&self, id: &str, ifname: &str) -> Result<Vec<Allocation>, Failure> {
        let held = self.held_by(id, ifname)?;
        for set in &self.range_sets {
            if let Some(ip) = held.iter().find(|ip| set.iter().any(|r| r.contains(**ip))) {
                return Err(Failure::new(
                    cni_code::INTERNAL,
                    format!("{ip} has been allocated to {id}, duplicate allocation is not allowed"),
                ));
            }
        }
        let mut done = Vec::new();
        for (index, set) in self.range_sets.iter().enumerate() {
            match self.allocate_from(index, set, id, ifname) {
                Ok(a) => done.push(a),
                Err(e) => {
                    for a in &done {
                        let _ = std::fs::remove_file(self.dir.join(a.address.ip.to_string()));
                    }
                    return Err(e);
                }
            }
        }
        Ok(done)
    }

    fn allocate_from(
        &self,
        index: usize,
        set: &[Range],
        id: &str,
        ifname: &str,
    ) -> Result<Allocation, Failure> {
        let last_file = self.dir.join(format!("{LAST_RESERVED}{index}"));
        let last: Option<IpAddr> = std::fs::read_to_string(&last_file)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        // Resume after the last address handed out, if it is still in the set; else from the
        // start of the first range. Walk every range once, round the set, as host-local does.
        let (mut range_index, mut next) =
            match last.and_then(|ip| set.iter().position(|r| r.contains(ip)).map(|i| (i, ip))) {
                Some((i, ip)) => (i, Some(to_u128(ip))),
                None => (0, None),
            };
        let total: u128 = set.iter().map(|r| r.end - r.start + 1).sum();
        let mut tried: u128 = 0;
        while tried < total {
            let r = &set[range_index];
            let candidate = match next {
                None => r.start,
                Some(cur) if cur >= r.end => {
                    range_index = (range_index + 1) % set.len();
                    set[range_index].start
                }
                Some(cur) => cur + 1,
            };
            let r = &set[range_index];
            next = Some(candidate);
            tried += 1;
            let ip = from_u128(r.subnet.ip, candidate);
            if ip == r.gateway {
                continue;
            }
            if self.reserve(ip, id, ifname, &last_file)? {
                return Ok(Allocation {
                    address: Cidr {
                        ip,
                        len: r.subnet.len,
                    },
                    gateway: r.gateway,
                });
            }
        }
        let first = set[0];
        let last = set[set.len() - 1];
        Err(Failure::new(
            cni_code::INTERNAL,
            format!(
                "no IP addresses available in range set: {}-{}",
                from_u128(first.subnet.ip, first.start),
                from_u128(last.subnet.ip, last.end)
            ),
        ))
    }

    /// Creates the address's file exclusively; false if it exists (someone holds it).
    fn reserve(&self, ip: IpAddr, id: &str, ifname: &str, last: &Path) -> Result<bool, Failure> {
        let path = self.dir.join(ip.to_string());
        let mut file = match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(self.io("reserving", e)),
        };
        file.write_all(owner(id, ifname).as_bytes())
            .map_err(|e| self.io("writing", e))?;
        std::fs::write(last, ip.to_string()).map_err(|e| self.io("writing", e))?;
        Ok(true)
    }

    /// Releases what (`id`, `ifname`) holds; returns how many addresses.
    pub(crate) fn release(&self, id: &str, ifname: &str) -> Result<usize, Failure> {
        let owner = owner(id, ifname);
        let mut n = 0;
        for (_, path, text) in self.entries()? {
            if text == owner {
                std::fs::remove_file(&path).map_err(|e| self.io("releasing", e))?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Releases every allocation whose owner is not in `valid` (id, ifname pairs).
    pub(crate) fn release_all_but(&self, valid: &[(String, String)]) -> Result<usize, Failure> {
        let keep: Vec<String> = valid.iter().map(|(id, ifname)| owner(id, ifname)).collect();
        let mut n = 0;
        for (_, path, text) in self.entries()? {
            if !keep.contains(&text) {
                std::fs::remove_file(&path).map_err(|e| self.io("releasing", e))?;
                n += 1;
            }
        }
        Ok(n)
    }
}

fn owner(id: &str, ifname: &str) -> String {
    format!("{}{LINE_BREAK}{ifname}", id.trim())
}
