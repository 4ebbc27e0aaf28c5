//! `latchkey`, the front: the program on `PATH` that tools and scripts start.
//!
//! `latchkey token NAME` — the command a git fetch, a kubectl call or a script line starts —
//! is answered here when the agent hands out the token at once. Everything else (every other
//! command; no agent; an error or an approval prompt from the agent) is the full CLI's:
//! this process becomes `latchkey-full` (`exec`, same pid, same arguments, `argv[0]` kept, so
//! Docker's `docker-credential-latchkey` still reads as itself) and says what it already did
//! ([`latchkey_wire::front`]). It links latchkey-wire, serde_json and std, not the core: a
//! `latchkey token` through the agent loads a tenth of the code (BENCHMARKS.md, "Start-up").

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode, Stdio};

use latchkey_wire::front::{self, Asked, FULL_BINARY, HANDOFF_ENV, LIBEXEC_DIR};

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let mut handoff = None;
    if let Some(name) = front::token_name(&args)
        && !latchkey_wire::no_agent()
    {
        let socket = latchkey_wire::socket::socket_path();
        let config_dir = latchkey_wire::config_dir_from_env();
        match front::ask_token(
            &socket,
            config_dir.as_deref(),
            name,
            latchkey_wire::ANSWER_DEADLINE,
        ) {
            Asked::Token { token, degraded } => return print(token.expose(), degraded),
            Asked::Handoff(h, connection) => handoff = Some((h, connection)),
        }
    }
    let full = match std::env::current_exe() {
        Ok(exe) => match front::full_for(&exe) {
            Some(full) => full,
            None => {
                eprintln!(
                    "latchkey: {FULL_BINARY} is neither beside {} nor in {LIBEXEC_DIR} beside it; reinstall Latchkey",
                    exe.display()
                );
                return ExitCode::FAILURE;
            }
        },
        Err(e) => {
            eprintln!("latchkey: cannot find this program's own path: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut cmd = Command::new(&full);
    if let Some(arg0) = args.first() {
        cmd.arg0(arg0);
    }
    cmd.args(args.iter().skip(1)).env_remove(HANDOFF_ENV);
    if let Some((h, connection)) = handoff {
        cmd.env(HANDOFF_ENV, h.to_env());
        if let Some(stream) = connection {
            cmd.stdin(Stdio::from(std::os::fd::OwnedFd::from(stream)));
        }
    }
    let e = cmd.exec();
    eprintln!("latchkey: cannot run {}: {e}", full.display());
    ExitCode::FAILURE
}

/// What `latchkey token NAME` prints (the full CLI's `output::token`): the warning, the token.
fn print(token: &str, degraded: Option<String>) -> ExitCode {
    if let Some(w) = degraded {
        eprintln!("latchkey: warning: {w}");
    }
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{token}").and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("latchkey: cannot write the token: {e}");
            ExitCode::FAILURE
        }
    }
}
