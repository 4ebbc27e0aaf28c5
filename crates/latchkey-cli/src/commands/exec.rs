//! `latchkey exec ACCOUNT [--env VAR]... [--min-ttl SECS] [--scope S]... [--resource URI]...
//! [--audience A] -- CMD ARGS...`: runs CMD with a fresh access token in its environment
//! (never in any argv) and its expiry in `LATCHKEY_ACCESS_TOKEN_EXPIRES_AT` (RFC 3339). The
//! token is the one hand-out for `exec` (bearer only) and the environment is
//! [`latchkey_core::tools::exec`]'s; this adapter runs the command.
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

use clap::Args;
use latchkey_core::Error;
use latchkey_core::handout::Handout;
use latchkey_core::manager::DRAIN_AT_EXIT;
use latchkey_core::tools::exec::{self as protocol, EXPIRES_VAR};

use super::DirectPath;

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

/// `latchkey exec`.
pub async fn exec(
    direct: &DirectPath,
    e: ExecArgs,
    interrupt: super::Interrupt,
) -> Result<u8, Error> {
    let vars = protocol::variables(&e.env)?;
    let Some((program, args)) = e.command.split_first() else {
        return Err(Error::InvalidInput("no command after `--`".into()));
    };
    let spec = super::tokens::token_spec(&e.target)?;
    let credential = match direct
        .source()
        .credential(protocol::request(&e.name, &spec, e.min_ttl))
        .await?
    {
        Handout::Issued(c) => c,
        // A named account has no rule to miss and no server to refuse.
        Handout::NoRule | Handout::Refused(_) => {
            return Err(Error::Other(format!(
                "no token was handed out for `{}`",
                e.name
            )));
        }
    };
    if let Some(w) = &credential.token.degraded {
        eprintln!("latchkey: warning: {w}");
    }
    let env = protocol::environment(&vars, &credential);
    drop(credential);
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    for (v, token) in &env.token {
        cmd.env(v, token.expose());
    }
    match &env.expires_at {
        Some(exp) => cmd.env(EXPIRES_VAR, exp),
        None => cmd.env_remove(EXPIRES_VAR),
    };
    drop(env);
    // Ctrl-C while the token was fetched (a refresh finishes and stores its rotated token
    // first): do not start CMD. After `exec` the signal handlers are gone (reset by execve).
    if *interrupt.borrow() {
        return Err(Error::Interrupted);
    }
    // `execve` ends this process's tasks: a renewal finishing in the background on the direct
    // path (the token endpoint was slower than the proactive deadline, CMD got the current
    // token) is stored first, or its rotated refresh token would be lost with them. (Served by
    // the agent, there is no manager here: the agent finishes its own.)
    if let Some(m) = direct.made()
        && m.background_renewals() > 0
    {
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
