//! The compile cache: compiled components on disk, keyed by content and engine.
//!
//! A file `<key>.cwasm` where the key is the SHA-256 of the component's bytes and of the
//! engine's precompile compatibility hash (wasmtime version, target, settings). A plugin is
//! compiled once per version and engine; a changed plugin or engine gets a new key. Files are
//! written to a temporary name and renamed, so a reader never sees half a file; a file that fails
//! to load is recompiled and replaced.
//!
//! Loading a `.cwasm` runs the machine code in it, so the cache directory must be writable only
//! by the host's user: it is created with mode 0700, and files with 0600.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Why the cache could not produce a component.
#[derive(Debug)]
pub(crate) enum CacheError {
    /// The bytes do not compile.
    Compile(String),
    /// The compiled form could not be written.
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Default)]
pub(crate) struct ComponentCache {
    dir: Option<PathBuf>,
    hits: AtomicU64,
    compiles: AtomicU64,
}

/// Feeds `Hash` output into SHA-256, so the engine's compatibility hash becomes stable bytes.
struct ShaHasher<'a>(&'a mut Sha256);

impl Hasher for ShaHasher<'_> {
    fn finish(&self) -> u64 {
        0 // unused: the digest is read from the Sha256 itself
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl ComponentCache {
    pub(crate) fn new(dir: Option<PathBuf>) -> ComponentCache {
        ComponentCache {
            dir,
            ..ComponentCache::default()
        }
    }

    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.compiles.load(Ordering::Relaxed),
        )
    }

    fn key(engine: &Engine, bytes: &[u8]) -> String {
        let mut sha = Sha256::new();
        sha.update(b"nsplug-cwasm-v1\0");
        engine
            .precompile_compatibility_hash()
            .hash(&mut ShaHasher(&mut sha));
        sha.update((bytes.len() as u64).to_le_bytes());
        sha.update(bytes);
        sha.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The compiled component, and whether it came from the cache.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
    ) -> Result<(Component, bool), CacheError> {
        let compile = || {
            self.compiles.fetch_add(1, Ordering::Relaxed);
            Component::new(engine, bytes).map_err(|e| CacheError::Compile(format!("{e:#}")))
        };
        let Some(dir) = &self.dir else {
            return compile().map(|c| (c, false));
        };
        let path = dir.join(format!("{}.cwasm", Self::key(engine, bytes)));
        if path.exists() {
            // SAFETY: the file was written by `store` below into a directory only this user can
            // write (mode 0700), under a key that includes the engine's compatibility hash;
            // wasmtime additionally checks the header and refuses an incompatible artifact.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok((component, true));
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "unusable cache entry; recompiling");
                }
            }
        }
        let component = compile()?;
        if let Err(source) = store(dir, &path, &component) {
            tracing::warn!(path = %path.display(), error = %source, "cannot write the compile cache");
            return Err(CacheError::Write { path, source });
        }
        Ok((component, false))
    }
}

fn store(
    dir: &std::path::Path,
    path: &std::path::Path,
    component: &Component,
) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(dir)?;
    let bytes = component.serialize().map_err(std::io::Error::other)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut options = std::fs::File::options();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}
