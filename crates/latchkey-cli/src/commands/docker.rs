//! The Docker credential helper, run as `docker-credential-latchkey ACTION` (the same binary
//! under a second name: `main` looks at `argv[0]`) or as `latchkey docker-credential ACTION`.
//! The protocol is [`latchkey_core::tools::docker`]; this adapter wires standard input and
//! output, `LATCHKEY_ACCOUNT` and the exit code.

use clap::Args;

pub use latchkey_core::tools::docker::BINARY_NAME;

use super::DirectPath;
use super::tokens::account_override;

/// `latchkey docker-credential`.
#[derive(Debug, Args)]
pub struct DockerArgs {
    /// get, store, erase, list or version.
    pub action: String,
}

/// Runs one helper action; the result is the exit code.
pub async fn helper(direct: &DirectPath, action: &str) -> u8 {
    latchkey_core::tools::docker::main(
        action,
        account_override().as_deref(),
        std::io::stdin().lock(),
        std::io::stdout().lock(),
        std::io::stderr(),
        &direct.source(),
        |e| (crate::speak::error(e), crate::exit::status(e.kind())),
    )
    .await
}
