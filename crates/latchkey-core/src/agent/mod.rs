//! The agent: one process per user that owns the tokens and answers the CLI, the desktop app
//! and every integration over a user-only Unix socket.
//!
//! - [`protocol`]: the versioned, length-prefixed JSON frames (`docs/agent-protocol.md`).
//! - [`server`]: binds the socket (one agent at a time: a lock file beside it; a stale socket of
//!   a dead agent is replaced), checks every peer's uid, serves requests from one long-lived
//!   [`crate::LoginManager`] with token memory, watches the config dir and retries keychain
//!   writes that failed.
//! - [`client`]: the blocking client the CLI uses before it builds any runtime; any failure to
//!   get an answer is a reason to fall back to the direct path, never an error.
//!
//! The socket is `$LATCHKEY_AGENT_SOCK` if set, else `$XDG_RUNTIME_DIR/latchkey/agent.sock`
//! (directory 0700, socket 0600), else `<tmp>/latchkey-<uid>/agent.sock`.

pub mod client;
#[cfg(unix)]
pub mod install;
pub mod protocol;
#[cfg(unix)]
pub mod server;

use std::path::PathBuf;

use crate::error::Result;
use crate::manager::{AccessToken, LoginManager, TokenOptions};

/// Environment variable naming the socket (both the agent and its clients).
pub const SOCKET_ENV: &str = "LATCHKEY_AGENT_SOCK";

/// Where the agent listens: `$LATCHKEY_AGENT_SOCK`, else the per-user runtime dir.
pub fn socket_path() -> PathBuf {
    if let Some(p) = std::env::var_os(SOCKET_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    default_socket_dir().join("agent.sock")
}

/// `$XDG_RUNTIME_DIR/latchkey`, else `<tmp>/latchkey-<uid>`.
pub fn default_socket_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|p| !p.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("latchkey"),
        None => std::env::temp_dir().join(format!("latchkey-{}", current_uid())),
    }
}

/// The real uid of this process.
#[cfg(unix)]
pub fn current_uid() -> u32 {
    nix::unistd::getuid().as_raw()
}

/// The real uid of this process (0 where there are no uids).
#[cfg(not(unix))]
pub fn current_uid() -> u32 {
    0
}

/// An access token for a long-lived process that has its own `manager` (the desktop app): from
/// the agent when another process serves the socket, else from `manager` (which is then the
/// agent itself, or there is none). Same refresh protocol either way.
pub async fn access_token(
    manager: &LoginManager,
    name: &str,
    opts: TokenOptions,
) -> Result<AccessToken> {
    #[cfg(unix)]
    if !server::serving() {
        let op = protocol::Op::Token {
            account: name.to_string(),
            min_ttl: opts.min_ttl.map(|d| d.as_secs()),
            force: opts.force,
        };
        // The app's own config dir goes with the request: an agent serving other accounts
        // says so, and the app uses its own manager.
        let agent = client::Client::new(socket_path(), Some(manager.paths().dir().to_path_buf()));
        let asked =
            tokio::task::spawn_blocking(move || agent.call(op, client::ANSWER_DEADLINE)).await;
        match asked {
            Ok(client::Outcome::Served {
                result: Ok(protocol::Answer::Token(t)),
                ..
            }) => return Ok(t.into()),
            Ok(client::Outcome::Served { result: Err(e), .. }) => return Err(e),
            Ok(client::Outcome::Served { pid, .. }) => {
                tracing::info!("{}", client::unexpected(pid, "token"));
            }
            Ok(client::Outcome::Fallback(reason) | client::Outcome::Lost(reason)) => {
                tracing::debug!("agent not used ({reason})");
            }
            Err(e) => tracing::warn!(error = %e, "asking the agent failed"),
        }
    }
    manager.access_token(name, opts).await
}
