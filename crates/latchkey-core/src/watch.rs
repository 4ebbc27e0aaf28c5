//! Cheap change detection for the metadata file, so a long-running process (the desktop app)
//! notices what another one (the CLI, a background refresh) changed.
//!
//! Every change to `accounts.toml` is an atomic replace (a new file renamed over the old one),
//! so its modification time, length and inode change together. [`fingerprint`] reads them with
//! one `stat`; comparing two fingerprints tells whether to reload. Token-only changes (a refresh,
//! which does not rewrite the metadata file) bump the marker file `tokens.changed` instead
//! (no secret in it, no `fsync`: one small write), which the fingerprint includes.

use std::time::SystemTime;

use crate::config::Paths;

/// What [`fingerprint`] saw: equal fingerprints mean "no change since".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
    tokens_changed: Option<(Option<SystemTime>, u64)>,
}

/// Records that some account's tokens changed (called after every keychain write or delete
/// of tokens). Best effort: a failure only delays what a watcher sees.
pub fn note_tokens_changed(paths: &Paths) {
    use std::io::Write;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let result = crate::private::create_dir(paths.dir()).and_then(|()| {
        crate::private::create_file(&paths.tokens_changed_marker())
            .and_then(|mut f| writeln!(f, "{stamp}"))
    });
    if let Err(e) = result {
        tracing::debug!(error = %e, "could not note a token change");
    }
}

/// The metadata file's fingerprint, or `None` if it does not exist (yet).
pub fn fingerprint(paths: &Paths) -> Option<Fingerprint> {
    let meta = std::fs::metadata(paths.accounts_file()).ok()?;
    let tokens_changed = std::fs::metadata(paths.tokens_changed_marker())
        .ok()
        .map(|m| (m.modified().ok(), m.len()));
    Some(Fingerprint {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode: inode(&meta),
        tokens_changed,
    })
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.ino()
}

#[cfg(not(unix))]
fn inode(_meta: &std::fs::Metadata) -> u64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_an_atomic_replace() {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = Paths::new(dir.path());
        assert_eq!(fingerprint(&paths), None);
        std::fs::write(paths.accounts_file(), "version = 1\n").expect("write");
        let first = fingerprint(&paths);
        assert!(first.is_some());
        assert_eq!(fingerprint(&paths), first, "stable while nothing changes");
        let tmp = dir.path().join("accounts.toml.tmp");
        std::fs::write(&tmp, "version = 1\n").expect("write");
        std::fs::rename(&tmp, paths.accounts_file()).expect("rename");
        assert_ne!(fingerprint(&paths), first, "same content, new file");
        let second = fingerprint(&paths);
        std::thread::sleep(std::time::Duration::from_millis(5));
        note_tokens_changed(&paths);
        assert_ne!(fingerprint(&paths), second, "a token change is seen");
    }
}
