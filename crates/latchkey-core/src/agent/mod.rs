//! The agent: one process per user that owns the tokens and answers the CLI, the desktop app
//! and every integration over a user-only Unix socket.
//!
//! - [`protocol`]: the versioned, length-prefixed JSON frames (`docs/agent-protocol.md`).
//! - [`server`]: binds the socket (one agent at a time: a lock file beside it; a stale socket of
//!   a dead agent is replaced), checks every peer's uid, serves requests from one long-lived
//!   [`crate::LoginManager`] with token memory, watches the config dir and retries keychain
//!   writes that failed.
//! - [`client`]: the blocking client; any failure to get an answer is a reason to fall back to
//!   the direct path, never an error. Shells use it through [`crate::source::Source`], the one
//!   "agent, else this process".
//!
//! The socket is `$LATCHKEY_AGENT_SOCK` if set, else `$XDG_RUNTIME_DIR/latchkey/agent.sock`,
//! else `<cache dir>/latchkey/agent/agent.sock` (`~/.cache/latchkey/agent/agent.sock`):
//! never a shared directory such as `/tmp`, where another local user could create the path
//! first. A default directory is used only when it is a real directory (not a symlink) owned by
//! this uid with no access for others ([`check_private_dir`]); whatever the path, a client
//! talks only to a server running as its own uid (`SO_PEERCRED`, checked in [`client`]).

pub mod client;
#[cfg(unix)]
pub mod install;
pub mod protocol;
#[cfg(unix)]
pub mod server;

#[cfg(unix)]
pub use latchkey_wire::socket::check_private_dir;
pub use latchkey_wire::socket::{SOCKET_ENV, default_socket_dir, in_default_dir, socket_path};

pub use crate::private::current_uid;
