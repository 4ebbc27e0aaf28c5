//! `latchkey git-credential get|store|erase`: git's credential helper. The protocol (reading
//! git's request, wording the answer) is [`latchkey_core::tools::git`]; the hand-out behind it
//! is the agent's or this process's ([`super::source`]). This adapter only wires standard
//! input and output and `LATCHKEY_ACCOUNT`.

use clap::{Args, ValueEnum};
use latchkey_core::Error;
use latchkey_core::tools::git;

use super::DirectPath;
use super::tokens::account_override;

/// The helper's action (git appends it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Action {
    /// Answer a credential.
    Get,
    /// git reports a credential that worked (nothing to store: tokens live in the keychain).
    Store,
    /// git reports a credential that was rejected.
    Erase,
}

/// `latchkey git-credential`.
#[derive(Debug, Args)]
pub struct GitCredentialArgs {
    /// get, store or erase.
    #[arg(value_enum)]
    pub action: Action,
}

/// `latchkey git-credential ACTION`.
pub async fn credential(direct: &DirectPath, args: GitCredentialArgs) -> Result<u8, Error> {
    let action = match args.action {
        Action::Get => git::Action::Get,
        Action::Store => git::Action::Store,
        Action::Erase => git::Action::Erase,
    };
    git::main(
        action,
        account_override().as_deref(),
        std::io::stdin().lock(),
        std::io::stdout().lock(),
        std::io::stderr(),
        &direct.source(),
    )
    .await?;
    Ok(0)
}
