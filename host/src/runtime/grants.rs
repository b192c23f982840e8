//! Rights for one call on top of the plugin's policy: what a CNI runtime hands a plugin for
//! one command (the container's namespace, the network's state directory).

use std::path::{Path, PathBuf};

use crate::netns::Namespace;
use crate::policy::Policy;

/// Extra rights for one call ([`Plugin::call_with`](super::Plugin::call_with)), dropped when
/// the call returns.
///
/// * A **namespace by path**: the guest may open it with `netns.open-path(path)` (WIT 0.1.2),
///   and use it within the operation classes its policy grants. This is how CNI's `CNI_NETNS`
///   reaches a plugin: granted for that call only, whatever its name.
/// * A **directory**, preopened read-write in the guest's WASI context at a guest path. It must
///   lie inside one of the policy's `state_dirs`; otherwise the call is refused before the guest
///   runs ([`CallError::Denied`](super::CallError::Denied)).
#[derive(Debug, Clone, Default)]
pub struct CallGrants {
    pub(crate) namespaces: Vec<(String, Namespace)>,
    pub(crate) dirs: Vec<(PathBuf, String)>,
}

impl CallGrants {
    /// No extra rights: what [`Plugin::call`](super::Plugin::call) uses.
    pub fn new() -> CallGrants {
        CallGrants::default()
    }

    /// Lets the guest open `ns` by `path` with `netns.open-path` during this call.
    pub fn namespace(mut self, path: impl Into<String>, ns: Namespace) -> CallGrants {
        self.namespaces.push((path.into(), ns));
        self
    }

    /// Preopens the host directory `dir` read-write at `guest_path` in the guest (it must lie
    /// inside one of the policy's `state_dirs`).
    pub fn dir(mut self, dir: impl Into<PathBuf>, guest_path: impl Into<String>) -> CallGrants {
        self.dirs.push((dir.into(), guest_path.into()));
        self
    }

    /// Checks every directory against the policy's `state_dirs` (after resolving symbolic
    /// links and `..`), returning the resolved paths with their guest paths.
    pub(crate) fn checked_dirs(&self, policy: &Policy) -> Result<Vec<(PathBuf, String)>, String> {
        self.dirs
            .iter()
            .map(|(dir, guest)| {
                let real = dir
                    .canonicalize()
                    .map_err(|e| format!("state directory {}: {e}", dir.display()))?;
                if policy.grants_dir(&real) {
                    Ok((real, guest.clone()))
                } else {
                    Err(format!(
                        "state directory {} is outside the policy's state_dirs",
                        dir.display()
                    ))
                }
            })
            .collect()
    }
}

/// Whether `dir` is `granted` or below it, component by component (both already resolved).
pub(crate) fn within(dir: &Path, granted: &Path) -> bool {
    dir.starts_with(granted)
}
