//! The compile cache: compiled components on disk, keyed by content and engine.
//!
//! A file `<key>.cwasm` where the key is the SHA-256 of the component's bytes and of the
//! engine's precompile compatibility hash (wasmtime version, target, settings). A plugin is
//! compiled once per version and engine; a changed plugin or engine gets a new key. Files are
//! written to a temporary name and renamed, so a reader never sees half a file; a file that fails
//! to load is recompiled and replaced.
//!
//! Loading a plugin *file* skips even reading and hashing it when the file is unchanged: a small
//! memo `stat-<id>` maps the file's identity and change times (device, inode, size, mtime and
//! ctime in nanoseconds, which no user can set back) to its content key. As git does with its
//! index, a memo is only written for a file last changed at least [`RACY`] ago: the kernel's
//! timestamps are coarse, so a file rewritten within one tick could otherwise keep its memo
//! while its content changed. A one-shot process,
//! such as `nsplug` run as a CNI plugin, saves the read and the SHA-256 of the whole component.
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
    /// The memo file for the plugin file with metadata `md`, if there is a cache directory
    /// (and the platform has inodes and change times).
    fn stat_memo(&self, engine: &Engine, md: &std::fs::Metadata) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        let id = file_identity(md)?;
        let mut sha = Sha256::new();
        sha.update(b"nsplug-stat-v1\0");
        engine
            .precompile_compatibility_hash()
            .hash(&mut ShaHasher(&mut sha));
        for n in id {
            sha.update(n.to_le_bytes());
        }
        let name: String = sha.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Some(dir.join(format!("stat-{name}")))
    }

    /// Loads the component in the file at `path`: through its stat memo when the file is
    /// unchanged (no read, no hash), else by content like [`ComponentCache::load_or_compile`].
    /// `read` reads the file's bytes (errors are the caller's to shape).
    pub(crate) fn load_file<E>(
        &self,
        engine: &Engine,
        path: &std::path::Path,
        read: impl FnOnce() -> Result<Vec<u8>, E>,
    ) -> Result<Result<(Component, bool), CacheError>, E> {
        let md = std::fs::metadata(path).ok();
        let memo = md.as_ref().and_then(|md| self.stat_memo(engine, md));
        if let (Some(memo), Some(dir)) = (&memo, &self.dir)
            && let Ok(key) = std::fs::read_to_string(memo)
            && key.len() == 64
            && key.bytes().all(|b| b.is_ascii_hexdigit())
        {
            let cwasm = dir.join(format!("{key}.cwasm"));
            // SAFETY: as in `load_or_compile`: written by `store` into a directory only this
            // user can write, under a key that includes the engine's compatibility hash.
            if let Ok(component) = unsafe { Component::deserialize_file(engine, &cwasm) } {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(Ok((component, true)));
            }
        }
        let bytes = read()?;
        let key = Self::key(engine, &bytes);
        let loaded = self.load_or_compile_keyed(engine, &bytes, &key);
        let settled = md
            .and_then(|md| changed_ago(&md))
            .is_some_and(|ago| ago >= RACY);
        if let (Some(memo), Ok(_), true) = (&memo, &loaded, settled) {
            // Best effort: without the memo the next load just reads and hashes again.
            let tmp = memo.with_extension(format!("tmp{}", std::process::id()));
            if std::fs::write(&tmp, &key).is_ok() {
                let _ = std::fs::rename(&tmp, memo);
            }
        }
        Ok(loaded)
    }

    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
    ) -> Result<(Component, bool), CacheError> {
        self.load_or_compile_keyed(engine, bytes, &Self::key(engine, bytes))
    }

    fn load_or_compile_keyed(
        &self,
        engine: &Engine,
        bytes: &[u8],
        key: &str,
    ) -> Result<(Component, bool), CacheError> {
        let compile = || {
            self.compiles.fetch_add(1, Ordering::Relaxed);
            Component::new(engine, bytes).map_err(|e| CacheError::Compile(format!("{e:#}")))
        };
        let Some(dir) = &self.dir else {
            return compile().map(|c| (c, false));
        };
        let path = dir.join(format!("{key}.cwasm"));
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

/// How long ago a file must have last changed for its stat memo to be trusted.
pub const RACY: std::time::Duration = std::time::Duration::from_secs(2);

/// How long ago the file last changed (its ctime), if the platform says.
#[cfg(unix)]
fn changed_ago(md: &std::fs::Metadata) -> Option<std::time::Duration> {
    use std::os::unix::fs::MetadataExt;
    let ctime = std::time::UNIX_EPOCH
        + std::time::Duration::new(
            md.ctime().try_into().ok()?,
            md.ctime_nsec().try_into().ok()?,
        );
    std::time::SystemTime::now().duration_since(ctime).ok()
}

#[cfg(not(unix))]
fn changed_ago(_md: &std::fs::Metadata) -> Option<std::time::Duration> {
    None
}

/// Device, inode, size, and modification and change times to the nanosecond.
#[cfg(unix)]
fn file_identity(md: &std::fs::Metadata) -> Option<[u64; 7]> {
    use std::os::unix::fs::MetadataExt;
    Some([
        md.dev(),
        md.ino(),
        md.size(),
        md.mtime() as u64,
        md.mtime_nsec() as u64,
        md.ctime() as u64,
        md.ctime_nsec() as u64,
    ])
}

#[cfg(not(unix))]
fn file_identity(_md: &std::fs::Metadata) -> Option<[u64; 7]> {
    None
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

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// The smallest component: the preamble of an empty one.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    #[test]
    fn an_unchanged_file_loads_through_its_stat_memo() {
        let dir = std::env::temp_dir().join(format!("nsplug-cache-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("p.wasm");
        std::fs::write(&file, EMPTY_COMPONENT).unwrap();
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        let engine = Engine::new(&config).unwrap();
        let cache = ComponentCache::new(Some(dir.join("cache")));
        let read = || std::fs::read(&file);

        // Just written: loaded by content, and no memo for a file that may still change.
        let (_, cached) = cache.load_file(&engine, &file, read).unwrap().unwrap();
        assert!(!cached);
        let memos = || {
            std::fs::read_dir(dir.join("cache"))
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("stat-"))
                .count()
        };
        assert_eq!(memos(), 0, "no memo for a file changed less than RACY ago");

        std::thread::sleep(RACY + std::time::Duration::from_millis(100));
        let (_, cached) = cache.load_file(&engine, &file, read).unwrap().unwrap();
        assert!(cached, "the content key found the compiled component");
        assert_eq!(memos(), 1);
        let unread = || -> std::io::Result<Vec<u8>> { panic!("the memo must spare the read") };
        let (_, cached) = cache.load_file(&engine, &file, unread).unwrap().unwrap();
        assert!(cached);

        // Rewritten: its change time moves, so it is read again.
        std::fs::write(&file, EMPTY_COMPONENT).unwrap();
        let mut was_read = false;
        let reading = || {
            was_read = true;
            std::fs::read(&file)
        };
        cache.load_file(&engine, &file, reading).unwrap().unwrap();
        assert!(was_read, "a changed file is read and hashed again");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
