//! `latchkey kubectl-credential [ACCOUNT]`: a kubectl exec credential plugin.
//!
//! kubectl describes the call in `KUBERNETES_EXEC_INFO` (an `ExecCredential` with
//! `apiVersion` `client.authentication.k8s.io/v1` or `v1beta1`, `spec.interactive`, and with
//! `provideClusterInfo` the cluster's `server`). The answer is an `ExecCredential` in the same
//! apiVersion with `status.token` and `status.expirationTimestamp`. An account that needs
//! sign-in is signed in (`latchkey login`, its messages on stderr) only when kubectl says the
//! session is interactive; otherwise a one-line reason on stderr, nothing on stdout, exit 3.
//! Without ACCOUNT the selection rules pick one from the cluster's server URL.
//! `--scope/--resource/--audience` (in the kubeconfig's exec args, written by `latchkey setup
//! kubectl ... --resource URI`), or the spec of the rule that picked the account, ask for the
//! token for exactly that (`latchkey token ACCOUNT --resource URI`), not the account's own.

use std::io::Write;
use std::os::fd::AsFd;

use clap::Args;
use latchkey_core::rules::Target;
use latchkey_core::{Error, ErrorKind, TokenOptions};
use serde::Deserialize;

use super::manager;
use super::tokens::{account_override, fresh_token_for, token_spec};

/// The apiVersions this plugin speaks.
pub const API_VERSIONS: [&str; 2] = [
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
];

/// `latchkey kubectl-credential`.
#[derive(Debug, Args)]
pub struct KubectlArgs {
    /// Account name (default: the selection rules, by the cluster's server URL).
    pub name: Option<String>,
    #[command(flatten)]
    pub target: crate::cli::TargetArgs,
}

#[derive(Debug, Deserialize, Default)]
struct ExecInfo {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    #[serde(default)]
    spec: ExecSpec,
}

#[derive(Debug, Deserialize, Default)]
struct ExecSpec {
    #[serde(default)]
    interactive: bool,
    #[serde(default)]
    cluster: Option<ClusterInfo>,
}

#[derive(Debug, Deserialize)]
struct ClusterInfo {
    server: Option<String>,
}

/// What kubectl asked for: (apiVersion, interactive, cluster server).
fn exec_info(raw: Option<&str>) -> Result<(String, bool, Option<String>), Error> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        // kubectl always sets it; run by hand, answer in v1 and never prompt.
        return Ok((API_VERSIONS[0].to_string(), false, None));
    };
    let info: ExecInfo = serde_json::from_str(raw).map_err(|e| {
        Error::InvalidInput(format!(
            "KUBERNETES_EXEC_INFO is not an ExecCredential: {e}"
        ))
    })?;
    let version = info.api_version.unwrap_or_else(|| API_VERSIONS[1].into());
    if !API_VERSIONS.contains(&version.as_str()) {
        return Err(Error::InvalidInput(format!(
            "kubectl asked for ExecCredential {version}; latchkey speaks {}",
            API_VERSIONS.join(" and ")
        )));
    }
    Ok((
        version,
        info.spec.interactive,
        info.spec.cluster.and_then(|c| c.server),
    ))
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
pub async fn credential(k: KubectlArgs) -> Result<u8, Error> {
    let raw = std::env::var("KUBERNETES_EXEC_INFO").ok();
    let (api_version, interactive, server) = exec_info(raw.as_deref())?;
    let given = token_spec(&k.target)?;
    let m = manager()?;
    let (name, rule_spec) = match (k.name, account_override()) {
        (Some(n), _) | (None, Some(n)) => (n, Default::default()),
        (None, None) => {
            let server = server.ok_or_else(|| {
                Error::InvalidInput("no account given: name one (`latchkey kubectl-credential ACCOUNT`), or set provideClusterInfo: true so the selection rules can use the cluster's server URL".into())
            })?;
            let s = m.select_account(&Target::parse(&server)?, None)?
                .ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "no selection rule matches the cluster server {server}; name the account in the kubeconfig (`latchkey setup kubectl ACCOUNT --cluster NAME`)"
                    ))
                })?;
            (s.account, s.spec)
        }
    };
    // Options given to the plugin win over the rule's.
    let spec = if given.is_empty() { rule_spec } else { given };
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
    fn answers_in_the_version_kubectl_asks_for() {
        let (v, i, s) = exec_info(Some(r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":true,"cluster":{"server":"https://k.test:6443"}}}"#)).unwrap();
        assert_eq!(v, "client.authentication.k8s.io/v1beta1");
        assert!(i);
        assert_eq!(s.as_deref(), Some("https://k.test:6443"));
        let (v, i, _) = exec_info(Some(
            r#"{"apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#,
        ))
        .unwrap();
        assert_eq!(v, "client.authentication.k8s.io/v1");
        assert!(!i);
        assert!(exec_info(Some(r#"{"apiVersion":"client.authentication.k8s.io/v2"}"#)).is_err());
        assert!(exec_info(Some("{not json")).is_err());
        let exp = time::macros::datetime!(2030-01-02 03:04:05 UTC);
        let c = exec_credential("client.authentication.k8s.io/v1", "tok", Some(exp));
        assert_eq!(c["status"]["expirationTimestamp"], "2030-01-02T03:04:05Z");
        assert_eq!(c["kind"], "ExecCredential");
    }
}
