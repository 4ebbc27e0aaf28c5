//! `latchkey`: the command-line face of Latchkey. Parses arguments, makes one core call per
//! command, prints tables or JSON, and maps errors to documented exit codes. All OAuth, keychain
//! and file logic lives in `latchkey-core`.

mod browser;
mod cli;
#[cfg(test)]
mod cli_tests;
mod commands;
mod logging;
mod output;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use latchkey_core::{Error, ErrorKind};

use crate::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("latchkey: cannot start: {e}");
            return ExitCode::from(ErrorKind::Other.exit_status());
        }
    };
    // Ctrl-C: the first one asks the command to stop at a safe point (a sign-in is abandoned
    // and cleaned up; a refresh in flight still stores its rotated token); a second one exits.
    let (interrupt_tx, interrupt_rx) = tokio::sync::watch::channel(false);
    let result = runtime.block_on(async {
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = interrupt_tx.send(true);
                eprintln!(
                    "latchkey: interrupted; finishing safely (press Ctrl-C again to quit now)"
                );
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(ErrorKind::Interrupted.exit_code());
                }
            }
        });
        let interrupted = interrupt_rx.clone();
        let r = commands::run(cli, interrupt_rx).await;
        if *interrupted.borrow() {
            Err(Error::Interrupted)
        } else {
            r
        }
    });
    // A keychain call stuck on an unlock prompt must not keep the process alive.
    runtime.shutdown_timeout(Duration::from_millis(300));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            tracing::info!(kind = %e.kind(), "command failed: {e}");
            eprintln!("latchkey: {e}");
            ExitCode::from(e.kind().exit_status())
        }
    }
}
