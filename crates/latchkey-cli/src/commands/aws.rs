//! `latchkey aws-credential ACCOUNT --role-arn ARN`: AWS's `credential_process`. The protocol
//! (the id_token exchanged at STS, the `Version: 1` JSON, the keychain cache and its lock) is
//! [`latchkey_core::tools::aws`]; the token is the one hand-out
//! ([`latchkey_core::LoginManager::credential_for`]); when the agent runs it serves the whole
//! call (cache, lock, hand-out, STS), so this process opens no keychain. This adapter reads
//! the args and the environment and writes stdout.

use clap::Args;
use latchkey_core::Error;
use latchkey_core::tools::aws::{self, Invocation};

use super::DirectPath;
use super::tokens::token_spec;

/// `latchkey aws-credential`.
#[derive(Debug, Args)]
pub struct AwsArgs {
    /// Account name (its id_token is the web identity).
    pub name: String,
    /// The IAM role to assume (`arn:aws:iam::ACCOUNT:role/NAME`).
    #[arg(long, value_name = "ARN")]
    pub role_arn: String,
    /// How long the credentials last, in seconds (STS's default: 3600).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<u32>,
    /// The role session name (default: latchkey).
    #[arg(long, value_name = "NAME")]
    pub session_name: Option<String>,
    /// The STS region (default: AWS_REGION, else AWS_DEFAULT_REGION, else the global endpoint).
    #[arg(long)]
    pub region: Option<String>,
    /// Ask STS again even when cached credentials are still good.
    #[arg(long)]
    pub refresh: bool,
    #[command(flatten)]
    pub target: crate::cli::TargetArgs,
}

/// `latchkey aws-credential`.
pub async fn credential(direct: &DirectPath, a: AwsArgs) -> Result<u8, Error> {
    let invocation = Invocation {
        account: a.name,
        role_arn: a.role_arn,
        duration: a.duration,
        session_name: a.session_name,
        region: a.region,
        spec: token_spec(&a.target)?,
        refresh: a.refresh,
    };
    // The agent serves the whole call when it runs (no keychain, no manager here).
    aws::main(
        invocation,
        |name| std::env::var(name).ok(),
        std::io::stdout().lock(),
        &direct.source(),
    )
    .await?;
    Ok(0)
}
