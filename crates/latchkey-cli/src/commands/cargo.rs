//! `latchkey cargo-credential`: cargo's credential provider, run by cargo as
//! `credential-provider = ["/abs/latchkey", "cargo-credential"]`: cargo starts the program
//! alone with `--cargo-plugin` (the rest of the array goes into each request's `args`), which
//! `main` turns into this command. The protocol (the hello, one JSON request per line, `Bearer <token>` for
//! the registry's index, `login`/`logout` answered with nothing to store) is
//! [`latchkey_core::tools::cargo`]; this adapter wires stdin, stdout, stderr,
//! `LATCHKEY_ACCOUNT` and the exit code.

use clap::Args;

use super::DirectPath;
use super::tokens::account_override;

/// The command's name (`credential-provider = ["latchkey", "cargo-credential"]`).
pub const COMMAND: &str = latchkey_core::tools::cargo::HELPER_COMMAND;

/// `latchkey cargo-credential`.
#[derive(Debug, Args)]
pub struct CargoCredentialArgs {
    /// Added by cargo when it runs a credential provider (nothing changes with it).
    #[arg(long, hide = true)]
    pub cargo_plugin: bool,
}

/// Answers cargo's requests until its stdin ends; exits 1 only when stdout fails.
pub async fn credential(direct: &DirectPath, _a: &CargoCredentialArgs) -> u8 {
    let done = latchkey_core::tools::cargo::main(
        std::io::stdin().lock(),
        std::io::stdout().lock(),
        std::io::stderr(),
        account_override().as_deref(),
        &direct.source(),
        time::OffsetDateTime::now_utc,
        crate::speak::error,
    )
    .await;
    match done {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("latchkey cargo-credential: writing to cargo: {e}");
            1
        }
    }
}
