//! Remembered decisions: "always allow /usr/bin/git for this account", kept in
//! `approvals.toml` in the config dir (mode 0600, written by [`crate::private::replace`] under
//! a lock), listed and revoked with `latchkey approvals [--revoke ID]`.
//!
//! A decision names an executable by path. It is refused for a program the user can change
//! ([`user_can_change`]: the file, or a directory above it, is the user's or writable by group
//! or others): anything running as the user could replace that file and inherit the decision.
//! The same check runs again at each use, so a decision stops covering a file that became
//! changeable.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Result};

/// The file's name in the config dir.
pub const FILE_NAME: &str = "approvals.toml";

/// One remembered decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    /// Short id for `latchkey approvals --revoke ID`.
    pub id: String,
    /// The account.
    pub account: String,
    /// The executable's absolute path.
    pub program: String,
    /// When it was decided.
    #[serde(with = "time::serde::rfc3339")]
    pub decided_at: OffsetDateTime,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    #[serde(default, rename = "always")]
    always: Vec<Remembered>,
}

/// The file in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

fn lock_path(dir: &Path) -> PathBuf {
    dir.join("approvals.lock")
}

fn read(dir: &Path) -> Result<File> {
    let p = path(dir);
    match std::fs::read_to_string(&p) {
        Ok(text) => toml::from_str(&text).map_err(|e| Error::Config {
            path: p.display().to_string(),
            detail: format!("not a valid approvals file: {}", e.message()),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(File::default()),
        Err(e) => Err(Error::io(format!("reading {}", p.display()), e)),
    }
}

fn write(dir: &Path, file: &File) -> Result<()> {
    let text =
        toml::to_string(file).map_err(|e| Error::Other(format!("encoding approvals: {e}")))?;
    let body = format!(
        "# Latchkey: programs always allowed to get an account's tokens (the approvals list shows them).\n{text}"
    );
    crate::private::replace(
        &path(dir),
        body.as_bytes(),
        crate::private::NewMode::Private,
    )
    .map(drop)
    .map_err(|e| Error::io("writing approvals.toml", e))
}

/// The remembered decisions.
pub fn list(dir: &Path) -> Result<Vec<Remembered>> {
    Ok(read(dir)?.always)
}

/// Whether a decision covers `program` for `account` (and the file is still one the user
/// cannot change).
pub fn covers(list: &[Remembered], account: &str, program: &str) -> bool {
    list.iter()
        .any(|r| r.account == account && r.program == program)
        && user_can_change(Path::new(program)).is_ok()
}

/// Remembers `program` for `account` (refused for a program the user can change); the
/// decision, existing or new.
pub async fn add(
    dir: &Path,
    account: &str,
    program: &str,
    now: OffsetDateTime,
) -> Result<Remembered> {
    user_can_change(Path::new(program)).map_err(Error::InvalidInput)?;
    let _lock = crate::lock::acquire(&lock_path(dir), Duration::from_secs(10)).await?;
    let mut file = read(dir)?;
    if let Some(r) = file
        .always
        .iter()
        .find(|r| r.account == account && r.program == program)
    {
        return Ok(r.clone());
    }
    let r = Remembered {
        id: super::new_id(),
        account: account.to_string(),
        program: program.to_string(),
        decided_at: now,
    };
    file.always.push(r.clone());
    write(dir, &file)?;
    tracing::info!(account, program, "decision remembered");
    Ok(r)
}

/// Forgets the decision `id`.
pub async fn revoke(dir: &Path, id: &str) -> Result<Remembered> {
    let _lock = crate::lock::acquire(&lock_path(dir), Duration::from_secs(10)).await?;
    let mut file = read(dir)?;
    let Some(i) = file.always.iter().position(|r| r.id == id) else {
        return Err(Error::InvalidInput(format!(
            "no remembered approval `{}`",
            crate::text::clean(id, 40)
        )));
    };
    let r = file.always.remove(i);
    write(dir, &file)?;
    Ok(r)
}

/// Forgets every decision for `account` (it was removed).
pub async fn forget_account(dir: &Path, account: &str) -> Result<()> {
    if !path(dir).exists() {
        return Ok(());
    }
    let _lock = crate::lock::acquire(&lock_path(dir), Duration::from_secs(10)).await?;
    let mut file = read(dir)?;
    let before = file.always.len();
    file.always.retain(|r| r.account != account);
    if file.always.len() != before {
        write(dir, &file)?;
    }
    Ok(())
}

/// `Ok` when neither `program` nor a directory above it can be changed by this user; else why
/// (for people).
pub fn user_can_change(program: &Path) -> std::result::Result<(), String> {
    user_can_change_as(program, crate::private::current_uid())
}

/// [`user_can_change`] for `uid`.
pub fn user_can_change_as(program: &Path, uid: u32) -> std::result::Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if !program.is_absolute() {
            return Err(format!(
                "{} is not an absolute path",
                crate::text::clean(&program.to_string_lossy(), crate::text::MAX_URI)
            ));
        }
        let shown = crate::text::clean(&program.to_string_lossy(), crate::text::MAX_URI);
        if uid == 0 {
            return Err(format!(
                "you are root, and root can change {shown}: a remembered decision would cover whatever replaces it"
            ));
        }
        let mut current = Some(program);
        let mut first = true;
        while let Some(p) = current {
            let meta = std::fs::metadata(p).map_err(|e| format!("cannot inspect {shown}: {e}"))?;
            let mode = meta.mode();
            let sticky_dir = !first && mode & 0o1000 != 0;
            if meta.uid() == uid {
                return Err(format!(
                    "{} belongs to you, so any program running as you could replace {shown}",
                    crate::text::clean(&p.to_string_lossy(), crate::text::MAX_URI)
                ));
            }
            if mode & 0o022 != 0 && !sticky_dir {
                return Err(format!(
                    "{} can be written by other users, so {shown} could be replaced",
                    crate::text::clean(&p.to_string_lossy(), crate::text::MAX_URI)
                ));
            }
            first = false;
            current = p.parent();
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        let _ = (program, uid);
        Err("remembered decisions are only kept on Unix".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_programs_can_be_remembered_by_a_user_and_own_files_cannot() {
        // /usr/bin/env: root's, in root's directories.
        assert!(user_can_change_as(Path::new("/usr/bin/env"), 1000).is_ok());
        let why = user_can_change_as(Path::new("/usr/bin/env"), 0).unwrap_err();
        assert!(why.contains("root"), "{why}");
        let dir = tempfile::tempdir().unwrap();
        let mine = dir.path().join("tool");
        std::fs::write(&mine, "#!/bin/sh\n").unwrap();
        let me = match crate::private::current_uid() {
            0 => {
                std::os::unix::fs::chown(&mine, Some(4242), None).unwrap();
                4242
            }
            uid => uid,
        };
        let why = user_can_change_as(&mine, me).unwrap_err();
        assert!(why.contains("belongs to you"), "{why}");
        // A world-writable directory above a file makes it replaceable by others.
        let open_dir = dir.path().join("open");
        std::fs::create_dir(&open_dir).unwrap();
        std::fs::set_permissions(
            &open_dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .unwrap();
        let inside = open_dir.join("tool");
        std::fs::write(&inside, "").unwrap();
        let why = user_can_change_as(&inside, 4243).unwrap_err();
        assert!(
            why.contains("other users") || why.contains("belongs to you"),
            "{why}"
        );
        assert!(user_can_change_as(Path::new("relative/git"), 1000).is_err());
        assert!(user_can_change_as(Path::new("/no/such/program"), 1000).is_err());
    }

    #[tokio::test]
    async fn decisions_are_added_once_listed_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        if crate::private::current_uid() == 0 {
            // Root can change every program: nothing can be remembered.
            assert!(
                add(
                    dir.path(),
                    "work",
                    "/usr/bin/env",
                    OffsetDateTime::now_utc()
                )
                .await
                .is_err()
            );
            assert!(list(dir.path()).unwrap().is_empty());
            // The file format still round-trips.
            let f = File {
                always: vec![Remembered {
                    id: "abc".into(),
                    account: "work".into(),
                    program: "/usr/bin/env".into(),
                    decided_at: OffsetDateTime::from_unix_timestamp(0).unwrap(),
                }],
            };
            write(dir.path(), &f).unwrap();
            assert_eq!(list(dir.path()).unwrap(), f.always);
            assert_eq!(revoke(dir.path(), "abc").await.unwrap().account, "work");
            assert!(list(dir.path()).unwrap().is_empty());
            return;
        }
        let now = OffsetDateTime::now_utc();
        let a = add(dir.path(), "work", "/usr/bin/env", now).await.unwrap();
        let b = add(dir.path(), "work", "/usr/bin/env", now).await.unwrap();
        assert_eq!(a, b);
        let l = list(dir.path()).unwrap();
        assert!(covers(&l, "work", "/usr/bin/env"));
        assert!(!covers(&l, "home", "/usr/bin/env"));
        revoke(dir.path(), &a.id).await.unwrap();
        assert!(list(dir.path()).unwrap().is_empty());
        assert!(revoke(dir.path(), &a.id).await.is_err());
    }
}
