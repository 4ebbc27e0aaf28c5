//! `latchkey exec ACCOUNT [--env VAR]... [--min-ttl SECS] [--scope S]... [--resource URI]...
//! [--audience A] -- CMD ARGS...`: runs CMD with a
//! fresh access token in its environment (never in any argv) and its expiry in
//! `LATCHKEY_ACCESS_TOKEN_EXPIRES_AT` (RFC 3339).
//!
//! Once the token is in hand, latchkey *becomes* CMD (`execve`, as `exec` in a shell does):
//! same process id, same process group and terminal, so Ctrl-C and any signal sent to "us"
//! reach CMD itself, and the caller sees CMD's own exit status — or CMD's death by a signal
//! (a shell shows 143 for SIGTERM). Nothing of latchkey is left running that could hold a
//! signal back or hide a status. Only if CMD cannot be run does latchkey exit itself: 127 when
//! it is not found, 126 otherwise (as shells do). Like every exit, `execve` comes after
//! [`latchkey_core::LoginManager::drain`]: a renewal still finishing in the background is
//! stored first.

use std::os::unix::process::CommandExt;
use std::time::Duration;

use clap::Args;
use latchkey_core::manager::DRAIN_AT_EXIT;
use latchkey_core::{Error, TokenOptions};

use super::DirectPath;
use super::tokens::fresh_token_for;

/// The default variable for the token.
pub const DEFAULT_VAR: &str = "LATCHKEY_ACCESS_TOKEN";
/// The variable for the expiry.
pub const EXPIRES_VAR: &str = "LATCHKEY_ACCESS_TOKEN_EXPIRES_AT";

/// `latchkey exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Account name.
    pub name: String,
    /// Put the token in this environment variable (repeatable; default LATCHKEY_ACCESS_TOKEN).
    #[arg(long = "env", value_name = "VAR")]
    pub env: Vec<String>,
    /// Refresh first if fewer than this many seconds are left (default 60).
    #[arg(long)]
    pub min_ttl: Option<u64>,
    #[command(flatten)]
    pub target: crate::cli::TargetArgs,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
}

fn valid_var(v: &str) -> bool {
    let mut chars = v.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `latchkey exec`.
pub async fn exec(
    direct: &DirectPath,
    e: ExecArgs,
    interrupt: super::Interrupt,
) -> Result<u8, Error> {
    let vars = if e.env.is_empty() {
        vec![DEFAULT_VAR.to_string()]
    } else {
        e.env.clone()
    };
    if let Some(bad) = vars.iter().find(|v| !valid_var(v)) {
        return Err(Error::InvalidInput(format!(
            "--env `{bad}` is not a variable name (letters, digits and `_`, not starting with a digit)"
        )));
    }
    let Some((program, args)) = e.command.split_first() else {
        return Err(Error::InvalidInput("no command after `--`".into()));
    };
    let spec = super::tokens::token_spec(&e.target)?;
    let m = direct.manager()?;
    let tok = fresh_token_for(
        &m,
        &e.name,
        &spec,
        TokenOptions {
            min_ttl: e.min_ttl.map(Duration::from_secs),
            force: false,
        },
    )
    .await?;
    if let Some(w) = &tok.degraded {
        eprintln!("latchkey: warning: {w}");
    }
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    for v in &vars {
        cmd.env(v, tok.token.expose());
    }
    match crate::output::rfc3339(tok.expires_at) {
        Some(exp) => cmd.env(EXPIRES_VAR, exp),
        None => cmd.env_remove(EXPIRES_VAR),
    };
    drop(tok);
    // Ctrl-C while the token was fetched (a refresh finishes and stores its rotated token
    // first): do not start CMD. After `exec` the signal handlers are gone (reset by execve).
    if *interrupt.borrow() {
        return Err(Error::Interrupted);
    }
    // `execve` ends this process's tasks: a renewal finishing in the background (the token
    // endpoint was slower than the proactive deadline, CMD got the current token) is stored
    // first, or its rotated refresh token would be lost with them.
    if m.background_renewals() > 0 {
        m.drain(DRAIN_AT_EXIT).await;
    }
    // Only returns if CMD could not be run.
    let err = cmd.exec();
    let code = if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    eprintln!(
        "latchkey: cannot run `{}`: {err}",
        program.to_string_lossy()
    );
    Ok(code)
}

#[cfg(test)]
mod tests {
    #[test]
    fn variable_names() {
        assert!(super::valid_var("LATCHKEY_ACCESS_TOKEN"));
        assert!(super::valid_var("_x1"));
        assert!(!super::valid_var("1X"));
        assert!(!super::valid_var("A-B"));
        assert!(!super::valid_var(""));
        assert!(!super::valid_var("A=B"));
    }
}
