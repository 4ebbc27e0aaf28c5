//! What a Latchkey process needs to reach the agent, and nothing more: the frames of the
//! protocol ([`frame`]), where the socket lives and which directory may hold it ([`socket`]),
//! the connection that talks only to an agent of the caller's own uid, under one deadline
//! ([`conn`]), the text cleaning applied to whatever the agent says ([`text`]), and the
//! `latchkey` front's side of the hand-over to the full CLI ([`front`]).
//!
//! It exists so that `latchkey token NAME` — a process started for every git fetch, kubectl
//! call and script line — can be answered by a small binary that links serde_json and std, not
//! tokio, reqwest, rustls, zbus and clap (BENCHMARKS.md, "Start-up"). `latchkey-core` builds its
//! agent client and server on this crate, so the protocol's bytes, bounds and peer checks are
//! written once. The requests and answers themselves (`latchkey_core::agent::protocol`) stay
//! with the core, except the one request the front sends and the one answer it reads
//! ([`front::token_request`], [`front::TokenFrame`]), which the core's tests hold to its types.

pub mod conn;
pub mod frame;
pub mod front;
pub mod socket;
pub mod text;

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// Largest request frame (bytes of JSON).
pub const MAX_REQUEST: usize = 8 * 1024 * 1024;
/// Largest response frame (bytes of JSON): room for the largest resource response the core's
/// HTTP client accepts (64 MiB, base64 in the frame) and its headers; the core checks this
/// against its own limit at compile time.
pub const MAX_RESPONSE: usize = (64 * 1024 * 1024usize).div_ceil(3) * 4 + 8 * 1024 * 1024;

/// How long a client waits for an answer to a request that may refresh a token.
pub const ANSWER_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// Environment variable that keeps every shell off the agent (set, and not `0`).
pub const NO_AGENT_ENV: &str = "LATCHKEY_NO_AGENT";
/// Environment variable naming the config dir (`accounts.toml` and the rest).
pub const CONFIG_DIR_ENV: &str = "LATCHKEY_CONFIG_DIR";

/// `LATCHKEY_NO_AGENT` is set (and not `0`).
pub fn no_agent() -> bool {
    std::env::var_os(NO_AGENT_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

/// `$LATCHKEY_CONFIG_DIR` when set and not empty: sent with every request, so that an agent
/// serving another config dir refuses (`other_config_dir`) instead of answering for it.
pub fn config_dir_from_env() -> Option<std::path::PathBuf> {
    std::env::var_os(CONFIG_DIR_ENV)
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
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
