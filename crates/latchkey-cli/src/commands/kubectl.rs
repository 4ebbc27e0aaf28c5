//! `latchkey kubectl-credential [ACCOUNT] [--server URL]`: a kubectl exec credential plugin.
//!
//! kubectl describes the call in `KUBERNETES_EXEC_INFO` (an `ExecCredential` with
//! `apiVersion` `client.authentication.k8s.io/v1` or `v1beta1`, `spec.interactive`, and with
//! `provideClusterInfo: true` the cluster's `server`); the core parses it
//! ([`latchkey_core::kube::parse_exec_info`]) and decides which account and token the cluster
//! gets, if any ([`latchkey_core::LoginManager::select_for_cluster`]: https, and the server
//! recorded in the args by `latchkey setup kubectl` or a selection rule must match the
//! cluster). This adapter reads the variable and words the answer: an `ExecCredential` in the
//! same apiVersion with `status.token` and `status.expirationTimestamp`, or one line on stderr
//! saying what to do. An account that needs sign-in is signed in (`latchkey login`, its messages
//! on stderr) only when kubectl says the session is interactive; otherwise a one-line reason on
//! stderr, nothing on stdout, exit 3. `--scope/--resource/--audience` (in the exec args, written
//! by `latchkey setup kubectl ... --resource URI`), or the spec of the rule that matches the
//! cluster, ask for the token for exactly that (`latchkey token ACCOUNT --resource URI`).

use std::io::Write;
use std::os::fd::AsFd;

use clap::Args;
use latchkey_core::kube::{ClusterRequest, parse_exec_info};
use latchkey_core::{Error, ErrorKind, TokenOptions};

use super::DirectPath;
use super::tokens::{account_override, fresh_token_for, token_spec};

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

/// The answer.
pub fn exec_credential(
    api_version: &str,
    token: &str,
    expires_at: Option<time::OffsetDateTime>,
) -> serde_json::Value {
    let mut status = serde_json::json!({ "token": token });
    if let Some(exp) = crate::output::rfc3339(expires_at) {
        status["expirationTimestamp"] = serde_json::Value::String(exp);
    }
    serde_json::json!({
        "apiVersion": api_version,
        "kind": "ExecCredential",
        "status": status,
    })
}

/// `latchkey kubectl-credential`.
pub async fn credential(direct: &DirectPath, k: KubectlArgs) -> Result<u8, Error> {
    let raw = std::env::var("KUBERNETES_EXEC_INFO").ok();
    let info = parse_exec_info(raw.as_deref())?;
    let given = token_spec(&k.target)?;
    let m = direct.manager()?;
    let env = account_override();
    let selection = m.select_for_cluster(&ClusterRequest {
        server: info.server.as_deref(),
        account: k.name.as_deref(),
        recorded_server: k.server.as_deref(),
        spec: given,
        env_override: env.as_deref(),
    })?;
    let (name, spec, interactive, api_version) = (
        selection.account,
        selection.spec,
        info.interactive,
        info.api_version,
    );
    let tok = match fresh_token_for(&m, &name, &spec, TokenOptions::default()).await {
        Err(e) if e.kind() == ErrorKind::NeedsSignIn && interactive => {
            eprintln!("latchkey: {e}");
            eprintln!("latchkey: kubectl runs interactively: signing in now");
            sign_in_on_stderr(&name)?;
            fresh_token_for(&m, &name, &spec, TokenOptions::default()).await?
        }
        r => r?,
    };
    if let Some(w) = &tok.degraded {
        eprintln!("latchkey: warning: {w}");
    }
    if tok.token_type.eq_ignore_ascii_case("dpop") {
        return Err(Error::InvalidInput(format!(
            "account `{name}` has DPoP-bound tokens, which kubectl cannot use"
        )));
    }
    let body = exec_credential(&api_version, tok.token.expose(), tok.expires_at).to_string();
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{body}")
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::io("answering kubectl", e))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_an_exec_credential() {
        let exp = time::macros::datetime!(2030-01-02 03:04:05 UTC);
        let c = exec_credential("client.authentication.k8s.io/v1", "tok", Some(exp));
        assert_eq!(c["status"]["expirationTimestamp"], "2030-01-02T03:04:05Z");
        assert_eq!(c["kind"], "ExecCredential");
        assert_eq!(c["apiVersion"], "client.authentication.k8s.io/v1");
    }
}
