//! `latchkey`: the command-line face of Latchkey. Parses arguments, makes one core call per
//! command, prints tables or JSON, and maps errors to documented exit codes. All OAuth, keychain
//! and file logic lives in `latchkey-core`.

mod browser;
mod cli;
#[cfg(test)]
mod cli_tests;
mod commands;
mod exit;
mod logging;
mod output;
mod passphrase;
mod speak;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use latchkey_core::manager::{DRAIN_AT_EXIT, LoginManager};
use latchkey_core::{Error, ErrorKind};

use crate::cli::Cli;

fn main() -> ExitCode {
    // Multi-call: Docker runs `docker-credential-latchkey ACTION`.
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.first().is_some_and(|a0| {
        std::path::Path::new(a0).file_name()
            == Some(std::ffi::OsStr::new(commands::docker::BINARY_NAME))
    }) {
        args.splice(0..1, ["latchkey".into(), "docker-credential".into()]);
    }
    // cargo runs a credential provider `["/abs/latchkey", "cargo-credential"]` as
    // `/abs/latchkey --cargo-plugin`, the rest of the array going into each request's `args`.
    if args.len() == 2 && args[1] == "--cargo-plugin" {
        args.splice(
            1..2,
            [commands::cargo::COMMAND.into(), "--cargo-plugin".into()],
        );
    }
    let direct = commands::DirectPath::default();
    if let Some(done) = commands::tokens::token_first(&args, &direct) {
        return match done {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                logging::init(0);
                report(&e)
            }
        };
    }
    let cli = Cli::parse_from(args);
    logging::init(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("latchkey: cannot start: {e}");
            return ExitCode::from(exit::status(ErrorKind::Other));
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
                    std::process::exit(exit::code(ErrorKind::Interrupted));
                }
            }
        });
        let interrupted = interrupt_rx.clone();
        let r = commands::run(cli, &direct, interrupt_rx).await;
        if *interrupted.borrow() {
            Err(Error::Interrupted)
        } else {
            r
        }
    });
    let code = match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => report(&e),
    };
    if let Some(manager) = direct.made() {
        finish_background_renewals(&runtime, manager);
    }
    // A keychain call stuck on an unlock prompt must not keep the process alive.
    runtime.shutdown_timeout(Duration::from_millis(300));
    code
}

/// A failed command: logged, worded on standard error, and its exit code.
fn report(e: &Error) -> ExitCode {
    tracing::info!(kind = %e.kind(), "command failed: {e}");
    eprintln!("latchkey: {}", speak::error(e));
    ExitCode::from(exit::status(e.kind()))
}

/// A proactive renewal that outlived its deadline goes on after the current token was printed:
/// its answer may carry the only valid (rotated) refresh token, so the process stays until it
/// is stored ([`LoginManager::drain`], at most [`DRAIN_AT_EXIT`]). The output is complete, so
/// standard output and error are let go first: a caller reading them to the end
/// (`$(latchkey token)`) carries on with the token at once.
fn finish_background_renewals(runtime: &tokio::runtime::Runtime, manager: &LoginManager) {
    if manager.background_renewals() == 0 {
        return;
    }
    release_std_streams();
    runtime.block_on(manager.drain(DRAIN_AT_EXIT));
}

/// Points standard output and error at /dev/null, so whoever reads them sees their end.
fn release_std_streams() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    #[cfg(unix)]
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdout(&null);
        let _ = nix::unistd::dup2_stderr(&null);
    }
}

#[cfg(test)]
mod unwind_tests {
    /// build.rs links GCC's unwinder statically instead of `libgcc_s`: a panic still unwinds,
    /// runs destructors and is caught, on this thread and on another.
    #[test]
    fn panics_unwind_with_the_linked_unwinder() {
        struct Dropped<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Dropped<'_> {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let dropped = std::sync::atomic::AtomicBool::new(false);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _guard = Dropped(&dropped);
            panic!("unwinds");
        }));
        assert!(caught.is_err());
        assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
        let joined = std::thread::spawn(|| panic!("in a thread")).join();
        assert!(joined.is_err());
    }
}
