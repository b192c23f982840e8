//! Kernel operations inside a namespace: plain Rust, no WIT types. Each names its `ip`
//! equivalent.
//!
//! Netlink operations go through the executor's route socket cached for the namespace (created
//! inside it once), so they switch no namespace at all; sysctls are jobs on an executor thread
//! inside the namespace. [`batch`] runs several operations in one visit.

pub mod address;
pub mod batch;
pub mod link;
pub mod neighbor;
pub mod route;
pub mod sysctl;

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::error::{Error, Result};

/// An address with a prefix length: `10.22.0.2/24`, `fd00::/64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpPrefix {
    /// The address.
    pub addr: IpAddr,
    /// The prefix length (at most 32 for IPv4, 128 for IPv6).
    pub len: u8,
}

impl IpPrefix {
    /// A prefix; fails if `len` is too long for the family.
    pub fn new(addr: IpAddr, len: u8) -> Result<IpPrefix> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(Error::invalid(
                "prefix",
                &format!("{addr}/{len}"),
                "the prefix length is longer than the address",
            ));
        }
        Ok(IpPrefix { addr, len })
    }

    /// Whether this is an IPv6 prefix.
    pub fn is_ipv6(&self) -> bool {
        self.addr.is_ipv6()
    }

    /// The IPv4 broadcast address of the prefix, as `ip address add … brd +` computes it
    /// (none for IPv6 and for /31 and /32).
    pub fn broadcast(&self) -> Option<std::net::Ipv4Addr> {
        match self.addr {
            IpAddr::V4(v4) if self.len < 31 => {
                let host_bits = u32::MAX.checked_shr(u32::from(self.len)).unwrap_or(0);
                Some((u32::from(v4) | host_bits).into())
            }
            _ => None,
        }
    }
}

impl FromStr for IpPrefix {
    type Err = Error;

    /// `ADDRESS/LEN`; a bare address is a host prefix (`/32`, `/128`).
    fn from_str(s: &str) -> Result<IpPrefix> {
        let bad = |reason| Error::invalid("prefix", s, reason);
        let (addr, len) = match s.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| bad("not an IPv4 or IPv6 address"))?;
        let len = match len {
            Some(len) => len
                .parse::<u8>()
                .map_err(|_| bad("the prefix length is not a number"))?,
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        IpPrefix::new(addr, len)
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// A 48-bit hardware address, `aa:bb:cc:dd:ee:ff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl FromStr for MacAddr {
    type Err = Error;

    fn from_str(s: &str) -> Result<MacAddr> {
        let bad = || {
            Error::invalid(
                "MAC address",
                s,
                "expected six hex bytes, aa:bb:cc:dd:ee:ff",
            )
        };
        let mut bytes = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut bytes {
            let part = parts.next().ok_or_else(bad)?;
            if part.len() != 2 {
                return Err(bad());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(bytes))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_mac(&self.0).fmt(f)
    }
}

/// `aa:bb:cc:…` for any number of bytes, as `ip` prints link-layer addresses.
pub(crate) fn format_mac(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

/// Parses an IP address argument.
pub(crate) fn parse_ip(what: &'static str, s: &str) -> Result<IpAddr> {
    s.parse()
        .map_err(|_| Error::invalid(what, s, "not an IPv4 or IPv6 address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_parse_and_print() {
        let p: IpPrefix = "10.22.0.2/24".parse().unwrap();
        assert_eq!(p.to_string(), "10.22.0.2/24");
        assert_eq!(p.broadcast(), Some("10.22.0.255".parse().unwrap()));
        let host: IpPrefix = "fd00::1".parse().unwrap();
        assert_eq!((host.len, host.broadcast()), (128, None));
        assert_eq!(
            "0.0.0.0/0".parse::<IpPrefix>().unwrap().broadcast(),
            Some([255; 4].into())
        );
        for bad in [
            "10.0.0.1/33",
            "fd00::/129",
            "10.0.0/8",
            "x/1",
            "10.0.0.1/",
            "::/-1",
        ] {
            assert!(bad.parse::<IpPrefix>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn macs_parse_and_print() {
        let mac: MacAddr = "02:aB:00:10:ff:9e".parse().unwrap();
        assert_eq!(mac.to_string(), "02:ab:00:10:ff:9e");
        for bad in [
            "02:ab:00:10:ff",
            "02:ab:00:10:ff:9e:00",
            "2:ab:00:10:ff:9e",
            "zz:ab:00:10:ff:9e",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad} should be refused");
        }
    }
}
