//! Network sysctls under `/proc/sys/net`: `ip netns exec NS sysctl`.
//!
//! The files under `/proc/sys/net` show the namespace of the thread that *opens* them, so every
//! read and write is a job on an executor thread inside the namespace. Keys are lists of path
//! components, so an interface called `eth0.100` is unambiguous
//! (`["net", "ipv4", "conf", "eth0.100", "forwarding"]`).

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::netns::Namespace;

/// Longest value written to a sysctl, in bytes.
pub const MAX_VALUE_LEN: usize = 4096;
const MAX_COMPONENTS: usize = 16;

/// A validated sysctl key under `net/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SysctlKey {
    components: Vec<String>,
}

impl SysctlKey {
    /// A key from its path components; the first must be `net`.
    pub fn new<I, S>(components: I) -> Result<SysctlKey>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let components: Vec<String> = components.into_iter().map(Into::into).collect();
        let invalid = |reason| {
            Err(Error::InvalidSysctlKey {
                key: components.join("/").chars().take(128).collect(),
                reason,
            })
        };
        if components.first().map(String::as_str) != Some("net") {
            return invalid("only keys under net/ are allowed");
        }
        if components.len() < 2 || components.len() > MAX_COMPONENTS {
            return invalid("a key has 2 to 16 components");
        }
        for c in &components {
            if c.is_empty() || c == "." || c == ".." || c.len() > 255 {
                return invalid("a component is empty, `.`, `..` or longer than 255 bytes");
            }
            if c.contains('/') || c.contains('\0') {
                return invalid("a component cannot contain `/` or NUL");
            }
        }
        Ok(SysctlKey { components })
    }

    /// Parses `net/ipv4/ip_forward` (components split on `/`) or, when there is no `/`,
    /// `net.ipv4.ip_forward` (split on `.`; use the `/` form for names with dots).
    pub fn parse(key: &str) -> Result<SysctlKey> {
        if key.contains('/') {
            SysctlKey::new(key.split('/'))
        } else {
            SysctlKey::new(key.split('.'))
        }
    }

    /// The path components.
    pub fn components(&self) -> &[String] {
        &self.components
    }

    fn path(&self) -> PathBuf {
        let mut path = PathBuf::from("/proc/sys");
        path.extend(&self.components);
        path
    }
}

impl fmt::Display for SysctlKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.components.join("/"))
    }
}

/// Reads a sysctl in `ns`: `ip netns exec NS sysctl -n KEY`. Trailing newline removed.
pub fn get(executor: &Executor, ns: &Namespace, key: &SysctlKey) -> Result<String> {
    let path = key.path();
    let read = executor.run(ns, move || read_value(&path))?;
    let mut value = read
        .into_value()
        .map_err(|source| sysctl_error(key, ns, source))?;
    if value.ends_with('\n') {
        value.pop();
    }
    Ok(value)
}

/// Reads a whole sysctl file. Not `read_to_string`: on a `File` that first asks for the size
/// (`statx`, `lseek`), two system calls that procfs answers with 0.
fn read_value(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut value = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => value.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    String::from_utf8(value)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()))
}

/// Writes a sysctl in `ns`: `ip netns exec NS sysctl -w KEY=VALUE`. One `write` at offset 0 of
/// a freshly opened file, as the kernel expects (a short write is an error, not retried at a
/// later offset).
pub fn set(executor: &Executor, ns: &Namespace, key: &SysctlKey, value: &str) -> Result<()> {
    validate_value(key, value)?;
    let path = key.path();
    let bytes = value.as_bytes().to_vec();
    let written = executor.run(ns, move || -> std::io::Result<()> {
        let mut file = std::fs::File::options().write(true).open(&path)?;
        let n = file.write(&bytes)?;
        if n != bytes.len() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                format!("short write: {n} of {} bytes", bytes.len()),
            ));
        }
        Ok(())
    })?;
    written
        .into_value()
        .map_err(|source| sysctl_error(key, ns, source))
}

/// Checks a value before it is written: at most [`MAX_VALUE_LEN`] bytes, no NUL.
pub fn validate_value(key: &SysctlKey, value: &str) -> Result<()> {
    if value.len() > MAX_VALUE_LEN || value.contains('\0') {
        return Err(Error::InvalidSysctlKey {
            key: key.to_string(),
            reason: "the value is longer than 4096 bytes or contains NUL",
        });
    }
    Ok(())
}

fn sysctl_error(key: &SysctlKey, ns: &Namespace, source: std::io::Error) -> Error {
    Error::Sysctl {
        key: key.to_string(),
        ns: ns.to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms() {
        let dotted = SysctlKey::parse("net.ipv4.ip_forward").unwrap();
        let slashed = SysctlKey::parse("net/ipv4/ip_forward").unwrap();
        assert_eq!(dotted, slashed);
        assert_eq!(
            dotted.path(),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
        let vlan = SysctlKey::parse("net/ipv4/conf/eth0.100/forwarding").unwrap();
        assert_eq!(vlan.components()[3], "eth0.100");
    }

    #[test]
    fn refuses_keys_outside_net_and_traversal() {
        for key in [
            "kernel.hostname",
            "net",
            "net/../kernel/hostname",
            "net//x",
            "net/a\0b",
        ] {
            assert!(SysctlKey::parse(key).is_err(), "{key:?} should be refused");
        }
        assert!(SysctlKey::new(["net", "ipv4", "conf", "a/b", "forwarding"]).is_err());
    }
}
