//! Private files: everything Latchkey writes to its config dir is for the user alone.
//!
//! The config dir holds identities, client ids, endpoints and pending-flow digests: it is created
//! `0700` and every file in it `0600` (lock files, `accounts.toml`, `latchkey.log`, caches, the
//! change marker). [`tighten`] fixes the modes of what an older version created with the umask's
//! defaults; [`open_log`] opens the log for appending without following a symlink planted in
//! its place. On platforms without Unix modes these are plain creates/opens.
//!
//! Every file Latchkey replaces — its own (`accounts.toml`, the index, token state) and the
//! tools' it sets up (a kubeconfig, Docker's `config.json`, the agent's systemd unit) — goes
//! through one writer, [`replace`]: a symlink at the path is followed and its target replaced
//! (the link stays a link); the temporary file has a random name in the target's directory and
//! is created with `O_CREAT|O_EXCL|O_NOFOLLOW` and its final mode (0600, or the replaced file's
//! mode), so it is never readable by others, not even for a moment; the data is fsynced, renamed
//! over the target, and the directory fsynced. [`current_uid`] is the user they are private to.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

use crate::config::Paths;

/// Mode of the config dir and its subdirectories.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file Latchkey writes.
pub const FILE_MODE: u32 = 0o600;
/// Mode of a script Latchkey writes for a tool to run: the user's alone, executable.
pub const PROGRAM_MODE: u32 = 0o700;

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

/// The mode [`replace`] gives the new file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewMode {
    /// [`FILE_MODE`] whatever the file had: Latchkey's own files.
    Private,
    /// The replaced file's permission bits, else [`FILE_MODE`]: files of other tools.
    KeepExisting,
    /// [`PROGRAM_MODE`]: a script Latchkey writes for a tool to run (pnpm's `tokenHelper`).
    Program,
}

/// Writes `contents` to `path` atomically, mode [`FILE_MODE`] ([`replace`] with
/// [`NewMode::Private`]). Two tasks may write the same file at once: each has its own temporary.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    replace(path, contents, NewMode::Private).map(drop)
}

/// The one atomic writer (see the module doc). Returns the file actually written: `path`, or
/// the file a symlink at `path` points to.
pub fn replace(path: &Path, contents: &[u8], mode: NewMode) -> io::Result<std::path::PathBuf> {
    use std::io::Write;
    let target = resolve_links(path)?;
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let mode = match mode {
        NewMode::Private => FILE_MODE,
        NewMode::KeepExisting => existing_mode(&target).unwrap_or(FILE_MODE),
        NewMode::Program => PROGRAM_MODE,
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let (tmp, mut file) = create_temp(&dir, &name, mode)?;
    let written = (|| {
        file.write_all(contents)?;
        // The umask may have taken bits off at creation (never added any): set the mode exactly.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        file.sync_all()?;
        drop(file);
        pause_before_rename(&target);
        std::fs::rename(&tmp, &target)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(&dir)?;
    Ok(target)
}

/// Test hook (debug builds only): with `LATCHKEY_TEST_PAUSE_BEFORE_RENAME` naming the target's
/// file name, the writer stops for a minute between the complete, synced temporary and the
/// rename, and says so on standard error: end-to-end tests kill the process there (kill -9 in
/// the middle of a write) and check that nothing was lost. Release builds never pause.
fn pause_before_rename(target: &Path) {
    #[cfg(debug_assertions)]
    if let Some(name) = std::env::var_os("LATCHKEY_TEST_PAUSE_BEFORE_RENAME")
        && target.file_name() == Some(name.as_os_str())
    {
        eprintln!("latchkey-test: paused before renaming {}", target.display());
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
    #[cfg(not(debug_assertions))]
    let _ = target;
}

/// `path`, or what the chain of symlinks at `path` ends at (which may not exist yet).
pub fn resolve_links(path: &Path) -> io::Result<std::path::PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = std::fs::read_link(&p)?;
                p = match p.parent() {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(io::Error::other(format!(
        "{}: too many levels of symbolic links",
        path.display()
    )))
}

/// The permission bits of an existing file (not set-id or sticky bits).
fn existing_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// A new file `.NAME.RANDOM.tmp` in `dir`, created exclusively, not through a symlink, with
/// `mode` from the start.
fn create_temp(dir: &Path, name: &str, mode: u32) -> io::Result<(std::path::PathBuf, File)> {
    let mut last = None;
    for _ in 0..8 {
        let tmp = dir.join(format!(".{name}.{:016x}.tmp", rand::random::<u64>()));
        let mut o = OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(mode).custom_flags(libc::O_NOFOLLOW);
        }
        #[cfg(not(unix))]
        let _ = mode;
        match o.open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary file name")))
}

/// fsync of a directory, so a rename in it survives a crash (Unix; no-op elsewhere).
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
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
        paths.vault_file(),
        paths.vault_lock(),
        paths.store_settings(),
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

pub use latchkey_wire::current_uid;

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

    #[test]
    fn replace_writes_through_a_symlink_keeps_the_mode_and_leaves_no_temporary() {
        let tmp = tempfile::tempdir().unwrap();
        let real_dir = tmp.path().join("dotfiles");
        std::fs::create_dir(&real_dir).unwrap();
        let real = real_dir.join("config");
        std::fs::write(&real, "old").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = tmp.path().join("config");
        std::os::unix::fs::symlink("dotfiles/config", &link).unwrap();

        let written = replace(&link, b"new", NewMode::KeepExisting).unwrap();
        assert_eq!(written, tmp.path().join("dotfiles/config"));
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        assert_eq!(mode(&real), 0o640, "the file's mode is kept");
        // Latchkey's own files are private whatever they were.
        write_atomic(&link, b"mine").unwrap();
        assert_eq!(mode(&real), 0o600);
        // A dangling link: the file it names is created, 0600.
        let dangling = tmp.path().join("dangling");
        std::os::unix::fs::symlink("dotfiles/new", &dangling).unwrap();
        replace(&dangling, b"x", NewMode::KeepExisting).unwrap();
        assert_eq!(mode(&real_dir.join("new")), 0o600);
        assert!(
            std::fs::symlink_metadata(&dangling)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        // No temporary is left, and none was ever a symlink target or a shared name.
        let left: Vec<_> = std::fs::read_dir(&real_dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        // A loop of links is an error, not a hang.
        let a = tmp.path().join("loop-a");
        std::os::unix::fs::symlink("loop-b", &a).unwrap();
        std::os::unix::fs::symlink("loop-a", tmp.path().join("loop-b")).unwrap();
        assert!(replace(&a, b"x", NewMode::Private).is_err());
    }

    #[test]
    fn the_temporary_is_created_exclusively_with_its_final_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let (path, _f) = create_temp(tmp.path(), "config", 0o600).unwrap();
        // Created with the final mode: never wider, whatever the umask.
        assert_eq!(mode(&path) & 0o077, 0);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(".config.") && name.ends_with(".tmp"),
            "{name}"
        );
        let (other, _g) = create_temp(tmp.path(), "config", 0o600).unwrap();
        assert_ne!(path, other, "a random name per call");
    }
}
