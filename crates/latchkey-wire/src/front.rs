//! The `latchkey` front and the full CLI it hands over to.
//!
//! `latchkey` is two programs. The front (`latchkey`, on `PATH`) answers `latchkey token NAME`
//! through the agent when the agent hands out the token at once, and `exec`s the full CLI
//! ([`FULL_BINARY`], beside it or in `../libexec/latchkey/`) for everything else: every other
//! command, no agent, an approval prompt, an error. The full CLI then carries on exactly where
//! the front stopped — it is told what the front already did ([`Handoff`], in
//! [`HANDOFF_ENV`]) and, when the agent answered, reads the rest of that answer from the same
//! connection (the front's standard input becomes the socket), so the agent is asked once and
//! sees one requester (the same pid: `exec` keeps it).
//!
//! Nothing here words errors or owns exit codes: the full CLI does, once.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The full CLI's file name.
pub const FULL_BINARY: &str = "latchkey-full";
/// The front's file name (the `latchkey` people and tools run).
pub const FRONT_BINARY: &str = "latchkey";
/// Where the full CLI is installed relative to the front's directory, when it is not beside
/// it: `<prefix>/bin/latchkey` → `<prefix>/libexec/latchkey/latchkey-full`.
pub const LIBEXEC_DIR: &str = "../libexec/latchkey";
/// Environment variable carrying a [`Handoff`] from the front to the full CLI.
pub const HANDOFF_ENV: &str = "LATCHKEY_FRONT_HANDOFF";
/// The largest first answer the front hands over in [`HANDOFF_ENV`] (one environment string
/// holds at most 128 KiB on Linux); a larger one is read again by the full CLI.
pub const MAX_HANDED_FRAME: usize = 64 * 1024;

/// The full CLI for the front at `front_exe`: beside it, else in [`LIBEXEC_DIR`].
pub fn full_for(front_exe: &Path) -> Option<PathBuf> {
    let dir = front_exe.parent()?;
    [
        dir.join(FULL_BINARY),
        dir.join(LIBEXEC_DIR).join(FULL_BINARY),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// The `latchkey` to name in tools' settings, service units and messages, for a process whose
/// executable is `exe`: the front when `exe` is the full CLI and its front is where
/// [`full_for`] looks from (beside it, or `bin/` above `libexec/latchkey/`); else `exe`.
pub fn front_for(exe: &Path) -> PathBuf {
    if exe.file_name() != Some(std::ffi::OsStr::new(FULL_BINARY)) {
        return exe.to_path_buf();
    }
    let Some(dir) = exe.parent() else {
        return exe.to_path_buf();
    };
    let beside = dir.join(FRONT_BINARY);
    if beside.is_file() {
        return beside;
    }
    if dir.ends_with("libexec/latchkey")
        && let Some(prefix) = dir.parent().and_then(Path::parent)
    {
        let bin = prefix.join("bin").join(FRONT_BINARY);
        if bin.is_file() {
            return bin;
        }
    }
    exe.to_path_buf()
}

/// What the front did before it handed over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Handoff {
    /// The agent was not asked or did not answer: the full CLI takes the direct path without
    /// asking it again (the reason is for `-v`).
    Fallback(String),
    /// The agent answered with this frame (not a token), and the connection is the full CLI's
    /// standard input: an error to word, or a prompt to wait on.
    Answered(String),
}

impl Handoff {
    /// The hand-over in this process's environment, if the front left one.
    pub fn from_env() -> Option<Handoff> {
        let v = std::env::var_os(HANDOFF_ENV)?;
        serde_json::from_str(v.to_str()?).ok()
    }

    /// As the value of [`HANDOFF_ENV`].
    pub fn to_env(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// An access token read by the front: shown only by [`Token::expose`].
pub struct Token(String);

impl Token {
    /// The token itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Serialize)]
struct TokenRequest<'a> {
    v: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    config_dir: Option<&'a Path>,
    op: &'static str,
    account: &'a str,
}

/// The `token` request of `latchkey token NAME` (the core's `Op::Token` with no minimum
/// lifetime and no force), or `None` when the config dir cannot be written in JSON.
pub fn token_request(config_dir: Option<&Path>, account: &str) -> Option<Vec<u8>> {
    serde_json::to_vec(&TokenRequest {
        v: crate::PROTOCOL_VERSION,
        config_dir,
        op: "token",
        account,
    })
    .ok()
}

/// The account of `latchkey token NAME` when those are all the arguments (no option, no
/// `--`): the one command line the front answers. The full CLI reads the same line first.
pub fn token_name(args: &[std::ffi::OsString]) -> Option<&str> {
    let [_, command, name] = args else {
        return None;
    };
    if command != "token" {
        return None;
    }
    name.to_str()
        .filter(|n| !n.is_empty() && !n.starts_with('-'))
}

/// The fields of a `token` answer the front prints (and those every token answer has: `pid`,
/// `token_type`); anything else is not a token answer.
#[derive(Deserialize)]
struct TokenFrame {
    v: u32,
    #[serde(rename = "pid")]
    _pid: u32,
    #[serde(rename = "token_type")]
    _token_type: String,
    result: String,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    degraded: Option<String>,
}

/// What the agent's first answer to a `token` request is, for the front.
#[derive(Debug)]
pub enum FirstAnswer {
    /// A token, with the degraded-mode warning the agent gave (cleaned).
    Token {
        /// The token.
        token: Token,
        /// Degraded-mode warning.
        degraded: Option<String>,
    },
    /// Anything else (an error, a prompt, another version): the full CLI reads it.
    Other,
}

/// Reads the agent's first answer to a `token` request.
pub fn first_answer(frame: &[u8]) -> FirstAnswer {
    match serde_json::from_slice::<TokenFrame>(frame) {
        Ok(TokenFrame {
            v,
            result,
            access_token: Some(token),
            degraded,
            ..
        }) if v == crate::PROTOCOL_VERSION && result == "token" && !token.is_empty() => {
            FirstAnswer::Token {
                token: Token(token),
                degraded: degraded.map(|d| crate::text::clean_lines(&d, 2000)),
            }
        }
        _ => FirstAnswer::Other,
    }
}

/// What the front does with `latchkey token NAME`.
#[cfg(unix)]
#[derive(Debug)]
pub enum Asked {
    /// Print this token.
    Token {
        /// The token.
        token: Token,
        /// Degraded-mode warning.
        degraded: Option<String>,
    },
    /// Hand over to the full CLI, with the connection when the agent answered.
    Handoff(Handoff, Option<std::os::unix::net::UnixStream>),
}

/// Asks the agent at `socket` for `account`'s token, as `latchkey token NAME` does, within
/// `deadline`.
#[cfg(unix)]
pub fn ask_token(
    socket: &Path,
    config_dir: Option<&Path>,
    account: &str,
    deadline: std::time::Duration,
) -> Asked {
    use crate::conn::Connection;
    let fallback = |reason: String| Asked::Handoff(Handoff::Fallback(reason), None);
    let Some(body) = token_request(config_dir, account) else {
        return fallback("the config dir is not UTF-8".into());
    };
    let mut conn = match Connection::open(socket, deadline) {
        Ok(c) => c,
        Err(e) => return fallback(e.reason),
    };
    // An agent may answer before it reads (refused, busy): its answer counts even when the
    // request could not be written.
    let _ = conn.send(&body);
    let frame = match conn.read(crate::MAX_RESPONSE) {
        Ok(f) => f,
        // No answer: `token` is idempotent, so the direct path serves, as the full CLI would.
        Err(e) if crate::conn::timed_out(&e) => {
            return fallback(format!(
                "the agent at {} did not answer within {} ms",
                socket.display(),
                deadline.as_millis()
            ));
        }
        Err(e) => {
            return fallback(format!(
                "the agent at {} closed the connection: {e}",
                socket.display()
            ));
        }
    };
    match first_answer(&frame) {
        FirstAnswer::Token { token, degraded } => Asked::Token { token, degraded },
        FirstAnswer::Other => match String::from_utf8(frame) {
            Ok(text) if text.len() <= MAX_HANDED_FRAME && handed_over(&text) => {
                Asked::Handoff(Handoff::Answered(text), Some(conn.into_stream()))
            }
            // Anything else (a token answer the front did not take, another version) the full
            // CLI would not use either: it falls back, and no token travels in the environment.
            _ => fallback("the agent's answer is not one the front can hand over".into()),
        },
    }
}

/// Whether a first answer goes to the full CLI: only an error or a prompt of this version, the
/// answers that carry no token.
fn handed_over(frame: &str) -> bool {
    #[derive(Deserialize)]
    struct Kind {
        v: u32,
        result: String,
    }
    serde_json::from_str::<Kind>(frame).is_ok_and(|k| {
        k.v == crate::PROTOCOL_VERSION && matches!(k.result.as_str(), "error" | "waiting")
    })
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_full_cli_is_found_beside_the_front_or_in_libexec_and_back() {
        let dir = tempfile::tempdir().unwrap();
        let touch = |p: &Path| {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"").unwrap();
        };
        // Installed: /usr/bin/latchkey and /usr/libexec/latchkey/latchkey-full.
        let front = dir.path().join("usr/bin/latchkey");
        let full = dir.path().join("usr/libexec/latchkey/latchkey-full");
        touch(&front);
        assert_eq!(full_for(&front), None);
        touch(&full);
        let found = full_for(&front).unwrap();
        assert_eq!(found.canonicalize().unwrap(), full.canonicalize().unwrap());
        assert_eq!(front_for(&full), front);
        // A cargo target dir: both side by side; the one beside wins.
        let beside = dir.path().join("usr/bin/latchkey-full");
        touch(&beside);
        assert_eq!(full_for(&front).unwrap(), beside);
        assert_eq!(front_for(&beside), front);
        // Any other program is itself; a full CLI with no front names itself.
        assert_eq!(front_for(&front), front);
        let lone = dir.path().join("opt/latchkey-full");
        touch(&lone);
        assert_eq!(front_for(&lone), lone);
    }

    #[test]
    fn only_a_token_answer_of_this_version_is_printed_by_the_front() {
        let t = br#"{"v":1,"pid":7,"result":"token","access_token":"tok","token_type":"Bearer","degraded":"kept \u001b[2Jin memory"}"#;
        match first_answer(t) {
            FirstAnswer::Token { token, degraded } => {
                assert_eq!(token.expose(), "tok");
                assert_eq!(degraded.as_deref(), Some("kept [2Jin memory"));
                assert_eq!(format!("{token:?}"), "[redacted]");
            }
            other => panic!("{other:?}"),
        }
        // Only errors and prompts of this version are handed over in the environment; a token
        // answer the front did not take never is.
        assert!(handed_over(
            r#"{"v":1,"pid":7,"result":"error","kind":"not_found","message":"no account"}"#
        ));
        assert!(handed_over(
            r#"{"v":1,"pid":7,"result":"waiting","wait_secs":60}"#
        ));
        for kept in [
            r#"{"v":1,"pid":7,"result":"token","access_token":"tok"}"#,
            r#"{"v":2,"pid":7,"result":"error","message":"x"}"#,
            r#"{"v":1,"pid":7,"result":"handout","handout":{"token":{"access_token":"t"}}}"#,
            "not json",
        ] {
            assert!(!handed_over(kept), "{kept}");
        }
        for other in [
            &br#"{"v":2,"pid":7,"result":"token","access_token":"tok","token_type":"Bearer"}"#[..],
            br#"{"v":1,"result":"token","access_token":"tok","token_type":"Bearer"}"#,
            br#"{"v":1,"pid":7,"result":"token","access_token":"tok"}"#,
            br#"{"v":1,"pid":7,"result":"error","kind":"not_found","message":"no account"}"#,
            br#"{"v":1,"pid":7,"result":"waiting","pending":{},"wait_secs":60}"#,
            br#"{"v":1,"pid":7,"result":"token","access_token":"","token_type":"Bearer"}"#,
            b"not json",
        ] {
            assert!(matches!(first_answer(other), FirstAnswer::Other));
        }
    }

    #[test]
    fn only_token_and_a_name_is_the_fronts() {
        let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert_eq!(
            token_name(&args(&["latchkey", "token", "work"])),
            Some("work")
        );
        for other in [
            &["latchkey", "token"][..],
            &["latchkey", "token", "-v"],
            &["latchkey", "token", "--json"],
            &["latchkey", "token", ""],
            &["latchkey", "token", "work", "--json"],
            &["latchkey", "refresh", "work"],
            &["latchkey", "-v", "token", "work"],
        ] {
            assert_eq!(token_name(&args(other)), None, "{other:?}");
        }
    }

    #[test]
    fn a_handoff_survives_the_environment() {
        for h in [
            Handoff::Fallback("no agent socket at /x".into()),
            Handoff::Answered(r#"{"v":1,"result":"error","message":"a \"quoted\" word"}"#.into()),
        ] {
            let back: Handoff = serde_json::from_str(&h.to_env()).unwrap();
            assert_eq!(back, h);
        }
    }

    #[test]
    fn the_token_request_names_the_config_dir_only_when_set() {
        assert_eq!(
            token_request(None, "work").unwrap(),
            br#"{"v":1,"op":"token","account":"work"}"#
        );
        assert_eq!(
            token_request(Some(Path::new("/c")), "w").unwrap(),
            br#"{"v":1,"config_dir":"/c","op":"token","account":"w"}"#
        );
    }
}
