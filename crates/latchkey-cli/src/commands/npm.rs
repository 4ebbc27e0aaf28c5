//! `latchkey npm-token-helper --registry URL`: pnpm's `tokenHelper`, run (through the wrapper
//! script `latchkey setup npm` writes) with no arguments of pnpm's own. The protocol is
//! [`latchkey_core::tools::npm`]; this adapter wires the registry flag, `LATCHKEY_ACCOUNT`,
//! standard output and the exit code.

use clap::Args;

use super::DirectPath;
use super::tokens::account_override;

/// `latchkey npm-token-helper`.
#[derive(Debug, Args)]
pub struct NpmTokenHelperArgs {
    /// The registry URL (`https://npm.example.com/`) whose token to print.
    #[arg(long)]
    pub registry: String,
}

/// Prints `Bearer <token>` for the registry; the result is the exit code.
pub async fn token_helper(direct: &DirectPath, a: &NpmTokenHelperArgs) -> u8 {
    latchkey_core::tools::npm::token_helper(
        &a.registry,
        account_override().as_deref(),
        std::io::stdout().lock(),
        std::io::stderr(),
        &direct.source(),
        |e| (crate::speak::error(e), crate::exit::status(e.kind())),
    )
    .await
}
