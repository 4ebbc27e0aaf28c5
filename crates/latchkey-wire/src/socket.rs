//! Where the agent listens, and which directory may hold its socket.
//!
//! The socket is `$LATCHKEY_AGENT_SOCK` if set, else `$XDG_RUNTIME_DIR/latchkey/agent.sock`,
//! else `<cache dir>/latchkey/agent/agent.sock` (`~/.cache/latchkey/agent/agent.sock`):
//! never a shared directory such as `/tmp`, where another local user could create the path
//! first. A default directory is used only when it is a real directory (not a symlink) owned by
//! this uid with no access for others ([`check_private_dir`]); whatever the path, a client
//! talks only to a server running as its own uid ([`crate::conn`]).

use std::path::{Path, PathBuf};

/// Environment variable naming the socket (both the agent and its clients).
pub const SOCKET_ENV: &str = "LATCHKEY_AGENT_SOCK";

/// Where the agent listens: `$LATCHKEY_AGENT_SOCK`, else the per-user runtime dir.
pub fn socket_path() -> PathBuf {
    if let Some(p) = std::env::var_os(SOCKET_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    default_socket_dir().join("agent.sock")
}

/// `$XDG_RUNTIME_DIR/latchkey`, else `<cache dir>/latchkey/agent` (a directory of the user's
/// own, never the shared temporary directory); `/nonexistent/latchkey-agent` when there is no
/// home either (nothing can be served or reached there).
pub fn default_socket_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|p| !p.is_empty()) {
        return PathBuf::from(dir).join("latchkey");
    }
    directories::ProjectDirs::from("dev", "latchkey", "latchkey")
        .map(|p| p.cache_dir().join("agent"))
        .unwrap_or_else(|| PathBuf::from("/nonexistent/latchkey-agent"))
}

/// Whether `socket` lives in the default socket directory (which must then pass
/// [`check_private_dir`]); an explicit `$LATCHKEY_AGENT_SOCK` or `--socket` is the user's
/// choice (an SSH-forwarded socket, say) and is protected by the peer check alone.
pub fn in_default_dir(socket: &Path) -> bool {
    socket.parent() == Some(default_socket_dir().as_path())
}

/// Why a directory may not hold the agent's socket: it is a symlink, not a directory, owned by
/// another uid, or open to group or others. `Ok` when it is private to this uid.
#[cfg(unix)]
pub fn check_private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    if meta.file_type().is_symlink() {
        return Err(format!("{} is a symbolic link", dir.display()));
    }
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let me = crate::current_uid();
    if meta.uid() != me {
        return Err(format!(
            "{} belongs to uid {}, not to you (uid {me})",
            dir.display(),
            meta.uid(),
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{} is open to other users (mode {:o})",
            dir.display(),
            meta.permissions().mode() & 0o777
        ));
    }
    Ok(())
}
