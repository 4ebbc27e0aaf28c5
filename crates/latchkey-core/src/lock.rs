//! Cross-process locks: an advisory lock on a file in the config dir.
//!
//! Used for the metadata file's read-modify-write and for each account's refresh and sign-in
//! completion, so the desktop app, the CLI and scripts never refresh the same token at once.
//! The lock is released when the [`FileLock`] is dropped (or the process dies: the OS drops it).
//! Waiting polls `try_lock` so it never parks a thread and honours a deadline.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// A held lock; released on drop.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl Drop for FileLock {
    fn drop(&mut self) {
        if let Err(e) = self.file.unlock() {
            tracing::warn!(path = %self.path.display(), error = %e, "could not release lock");
        }
    }
}

fn open(path: &Path) -> Result<File> {
    if let Some(parent) = path.parent() {
        crate::private::create_dir(parent)
            .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
    }
    crate::private::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(format!("opening lock file {}", path.display()), e))
}

/// One attempt: `true` if the lock is now held, `false` while another process holds it and
/// time is left.
fn try_acquire(file: &File, path: &Path, start: Instant, timeout: Duration) -> Result<bool> {
    match file.try_lock() {
        Ok(()) => return Ok(true),
        Err(TryLockError::WouldBlock) => {}
        Err(TryLockError::Error(e)) => {
            return Err(Error::io(format!("locking {}", path.display()), e));
        }
    }
    if start.elapsed() >= timeout {
        return Err(Error::Timeout(format!(
            "waiting for another Latchkey process to release {}",
            path.display()
        )));
    }
    Ok(false)
}

/// Pauses between tries of a busy lock: 2 ms doubling to 20 ms.
const POLL: crate::backoff::Backoff =
    crate::backoff::Backoff::doubling(Duration::from_millis(2), Duration::from_millis(20));

/// Takes the lock at `path`, waiting at most `timeout`.
pub async fn acquire(path: &Path, timeout: Duration) -> Result<FileLock> {
    let file = open(path)?;
    let start = Instant::now();
    let mut attempt = 0;
    loop {
        if try_acquire(&file, path, start, timeout)? {
            return Ok(FileLock {
                file,
                path: path.to_path_buf(),
            });
        }
        attempt += 1;
        tokio::time::sleep(POLL.delay(attempt)).await;
    }
}

/// Blocking variant for code that is not async.
pub fn acquire_blocking(path: &Path, timeout: Duration) -> Result<FileLock> {
    let file = open(path)?;
    let start = Instant::now();
    loop {
        if try_acquire(&file, path, start, timeout)? {
            return Ok(FileLock {
                file,
                path: path.to_path_buf(),
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn second_holder_waits_then_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("locks/a.lock");
        let held = acquire(&p, Duration::from_secs(1)).await.unwrap();
        let err = acquire(&p, Duration::from_millis(50)).await.unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Timeout);
        drop(held);
        acquire(&p, Duration::from_millis(50)).await.unwrap();
    }
}
