//! `latchkey kubectl-credential [ACCOUNT] [--server URL]`: a kubectl exec credential plugin.
//! The protocol (`KUBERNETES_EXEC_INFO` in, an `ExecCredential` out, sign-in only when kubectl
//! runs interactively) is [`latchkey_core::tools::kubectl`]; which account and token the
//! cluster gets is the one hand-out ([`latchkey_core::LoginManager::credential_for`], through
//! the agent when it runs). This adapter reads the variable and the args, and runs `latchkey
//! login` with its output on stderr when the core asks for a sign-in.

use std::os::fd::AsFd;

use clap::Args;
use latchkey_core::Error;
use latchkey_core::tools::kubectl::{self, Invocation};

use super::DirectPath;
use super::tokens::{account_override, token_spec};

/// `latchkey kubectl-credential`.
#[derive(Debug, Args)]
pub struct KubectlArgs {
    /// Account name (default: the selection rules, by the cluster's server URL).
    pub name: Option<String>,
    /// The cluster server this kubeconfig user was set up for (written by `latchkey setup
    /// kubectl`); the token goes only to a cluster with this server.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    #[command(flatten)]
    pub target: crate::cli::TargetArgs,
}

/// `latchkey kubectl-credential`.
pub async fn credential(direct: &DirectPath, k: KubectlArgs) -> Result<u8, Error> {
    let raw = std::env::var("KUBERNETES_EXEC_INFO").ok();
    let invocation = Invocation {
        account: k.name,
        recorded_server: k.server,
        spec: token_spec(&k.target)?,
    };
    kubectl::main(
        invocation,
        raw.as_deref(),
        account_override().as_deref(),
        std::io::stdout().lock(),
        std::io::stderr(),
        &direct.source(),
        async |name: String| sign_in_on_stderr(&name),
    )
    .await?;
    Ok(0)
}

/// Runs `latchkey login NAME` with its standard output on our stderr: kubectl reads only the
/// ExecCredential from stdout.
fn sign_in_on_stderr(name: &str) -> Result<(), Error> {
    let exe = std::env::current_exe().map_err(|e| Error::io("finding the latchkey binary", e))?;
    let err = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| Error::io("duplicating stderr", e))?;
    let status = std::process::Command::new(exe)
        .args(["login", name])
        .stdin(std::process::Stdio::inherit())
        .stdout(std::process::Stdio::from(err))
        .status()
        .map_err(|e| Error::io("running latchkey login", e))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::NeedsSignIn {
            account: name.to_string(),
            reason: format!("the sign-in did not complete ({status})"),
        })
    }
}
