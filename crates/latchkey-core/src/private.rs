//! Private files: everything Latchkey writes to its config dir is for the user alone.
//!
//! The config dir holds identities, client ids, endpoints and pending-flow digests: it is created
//! `0700` and every file in it `0600` (lock files, `accounts.toml`, `latchkey.log`, caches, the
//! change marker). [`tighten`] fixes the modes of what an older version created with the umask's
//! defaults; [`open_log`] opens the log for appending without following a symlink planted in
//! its place. On platforms without Unix modes these are plain creates/opens.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

use crate::config::Paths;

/// Mode of the config dir and its subdirectories.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file Latchkey writes.
pub const FILE_MODE: u32 = 0o600;

/// `create_dir_all` with mode [`DIR_MODE`] for what it creates, and the leaf tightened to it.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(DIR_MODE);
    }
    b.create(dir)?;
    set_mode(dir, DIR_MODE);
    Ok(())
}

/// Open options that create files with mode [`FILE_MODE`].
pub fn options() -> OpenOptions {
    #[allow(unused_mut)]
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(FILE_MODE);
    }
    o
}

/// Creates (or truncates) `path` for writing, mode [`FILE_MODE`].
pub fn create_file(path: &Path) -> io::Result<File> {
    options().write(true).create(true).truncate(true).open(path)
}

/// Writes `contents` to `path` atomically (a private temporary file renamed over it). The
/// temporary name is unique per process and call, so two tasks may write the same file at once.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let tmp = path.with_extension(format!(
        "{}.{}.tmp",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = create_file(&tmp)?;
        f.write_all(contents)?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Opens the log for appending (created `0600`), refusing to follow a symlink at `path`.
pub fn open_log(path: &Path) -> io::Result<File> {
    let mut o = options();
    o.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NOFOLLOW);
    }
    let file = o.open(path)?;
    // An existing log from an older version may still be group/world readable.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE));
    }
    Ok(file)
}

/// Tightens the config dir and the files and folders Latchkey keeps there (start-up): the
/// metadata file, its index and lock, the log (and its rotated copy), the change marker, and
/// everything in `locks/`, `cache/` and `token-state/` (looked at file by file only when the
/// folder itself was not private: one stat per start, not one per account). Anything else a person put in the directory is left alone. Best
/// effort: a file that cannot be changed is logged, never fatal. Symlinks are not followed.
pub fn tighten(paths: &Paths) {
    let dir = paths.dir();
    if !dir.is_dir() {
        return;
    }
    set_mode(dir, DIR_MODE);
    let log = paths.log_file();
    for file in [
        paths.accounts_file(),
        paths.accounts_lock(),
        paths.accounts_index(),
        paths.tokens_changed_marker(),
        log.with_extension("log.1"),
        log,
    ] {
        set_mode(&file, FILE_MODE);
    }
    for sub in ["locks", "cache", "token-state"] {
        let sub = dir.join(sub);
        if !std::fs::symlink_metadata(&sub).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        // A folder already private was made (or tightened) by this version, which creates
        // every file in it 0600: no need to look at each of its files (there is one per
        // account) on every start.
        if !set_mode(&sub, DIR_MODE) {
            continue;
        }
        if let Ok(entries) = std::fs::read_dir(&sub) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_file()) {
                    set_mode(&entry.path(), FILE_MODE);
                }
            }
        }
    }
}

/// Sets the mode of `path` if it differs (Unix; no-op elsewhere); true if it differed.
fn set_mode(path: &Path, mode: u32) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return false;
        };
        if meta.file_type().is_symlink() || meta.permissions().mode() & 0o777 == mode {
            return false;
        }
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
            tracing::warn!(path = %path.display(), error = %e, "could not make a Latchkey file private");
        }
        true
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        false
    }
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn creates_private_and_tightens_old_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cfg");
        std::fs::create_dir_all(dir.join("locks")).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.join("accounts.toml"), "version = 1\n").unwrap();
        std::fs::write(dir.join("locks/x.lock"), "").unwrap();
        std::fs::write(dir.join("mine.sh"), "").unwrap();
        std::fs::set_permissions(dir.join("mine.sh"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::fs::set_permissions(
            dir.join("accounts.toml"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        tighten(&Paths::new(&dir));
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("locks")), 0o700);
        assert_eq!(mode(&dir.join("accounts.toml")), 0o600);
        assert_eq!(mode(&dir.join("locks/x.lock")), 0o600);
        assert_eq!(
            mode(&dir.join("mine.sh")),
            0o755,
            "not Latchkey's: left alone"
        );

        let fresh = tmp.path().join("new/sub");
        create_dir(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);
        write_atomic(&fresh.join("f"), b"x").unwrap();
        assert_eq!(mode(&fresh.join("f")), 0o600);
    }

    #[test]
    fn the_log_is_not_opened_through_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("elsewhere");
        std::fs::write(&target, "keep").unwrap();
        let log = tmp.path().join("latchkey.log");
        std::os::unix::fs::symlink(&target, &log).unwrap();
        assert!(open_log(&log).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        let real = tmp.path().join("real.log");
        open_log(&real).unwrap();
        assert_eq!(mode(&real), 0o600);
    }
}
