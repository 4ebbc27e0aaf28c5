//! kubectl's exec credential plugin protocol (`latchkey kubectl-credential [ACCOUNT] [--server
//! URL]`): `KUBERNETES_EXEC_INFO` in ([`crate::kube::parse_exec_info`]), an `ExecCredential`
//! out ([`exec_credential`]) in the apiVersion kubectl asked for, with `status.token` and
//! `status.expirationTimestamp`.
//!
//! Which account and token the cluster gets, if any, is the one hand-out
//! ([`crate::LoginManager::credential_for`] with [`Subject::Cluster`]: https, the server
//! recorded by `latchkey setup kubectl` or a selection rule must match the cluster, bearer
//! only). An account that needs sign-in is signed in (through the caller's `sign_in`) only when
//! kubectl says the session is interactive; otherwise the error goes back to the caller (one
//! line on stderr, nothing on stdout, exit 3).

use std::io::Write;

use crate::error::{Error, ErrorKind, Result};
use crate::handout::{Credential, CredentialRequest, Handout, Handouts, Subject, Tool};
use crate::kube::parse_exec_info;
use crate::target::TokenSpec;

/// What the plugin's exec args say (written by `latchkey setup kubectl`).
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// The account the args name.
    pub account: Option<String>,
    /// `--server`: the cluster this kubeconfig user was set up for.
    pub recorded_server: Option<String>,
    /// `--scope/--resource/--audience`.
    pub spec: TokenSpec,
}

/// The answer: an `ExecCredential` in `api_version`.
pub fn exec_credential(
    api_version: &str,
    token: &str,
    expires_at: Option<time::OffsetDateTime>,
) -> serde_json::Value {
    let mut status = serde_json::json!({ "token": token });
    if let Some(exp) = super::rfc3339(expires_at) {
        status["expirationTimestamp"] = serde_json::Value::String(exp);
    }
    serde_json::json!({
        "apiVersion": api_version,
        "kind": "ExecCredential",
        "status": status,
    })
}

/// Answers kubectl: parses `exec_info` (`KUBERNETES_EXEC_INFO`), asks for the cluster's
/// credential, signs in through `sign_in` (then asks again) when the account needs it and
/// kubectl runs interactively, and writes the `ExecCredential` on `stdout`. Warnings go to
/// `stderr`; an `Err` is for the caller to print.
pub async fn main(
    invocation: Invocation,
    exec_info: Option<&str>,
    env_override: Option<&str>,
    mut stdout: impl Write,
    mut stderr: impl Write,
    latchkey: &impl Handouts,
    sign_in: impl AsyncFnOnce(String) -> Result<()>,
) -> Result<()> {
    let info = parse_exec_info(exec_info)?;
    let request = CredentialRequest {
        tool: Tool::Kubectl,
        subject: Subject::Cluster {
            server: info.server.clone(),
            account: invocation.account,
            recorded_server: invocation.recorded_server,
            spec: invocation.spec.clone(),
        },
        env_override: env_override.map(str::to_string),
        min_ttl: None,
    };
    let credential = match latchkey.credential(request.clone()).await {
        Err(e) if e.kind() == ErrorKind::NeedsSignIn && info.interactive => {
            let account = match &e {
                Error::NeedsSignIn { account, .. } => account.clone(),
                _ => return Err(e),
            };
            let _ = writeln!(stderr, "latchkey: {e}");
            let _ = writeln!(
                stderr,
                "latchkey: kubectl runs interactively: signing in now"
            );
            sign_in(account).await?;
            issued(latchkey.credential(request).await?)?
        }
        r => issued(r?)?,
    };
    if let Some(w) = &credential.token.degraded {
        let _ = writeln!(stderr, "latchkey: warning: {w}");
    }
    let body = exec_credential(
        &info.api_version,
        credential.token.token.expose(),
        credential.token.expires_at,
    );
    writeln!(stdout, "{body}")
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::io("answering kubectl", e))
}

/// A cluster's hand-out is a credential or an error (the cluster selection says why).
fn issued(h: Handout) -> Result<Credential> {
    match h {
        Handout::Issued(c) => Ok(c),
        Handout::NoRule => Err(Error::InvalidInput(
            "no account answers for this cluster; set up kubectl for it".into(),
        )
        .with_remedy(crate::remedy::Remedy::SetupKubectl { account: None })),
        Handout::Refused(reason) => Err(Error::InvalidInput(reason)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::tools::fake::{Fake, block, issued as issued_token};

    const V1: &str = "client.authentication.k8s.io/v1";

    fn info(server: &str, interactive: bool) -> String {
        serde_json::json!({"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
            "spec": {"interactive": interactive, "cluster": {"server": server}}})
        .to_string()
    }

    #[test]
    fn the_answer_is_an_exec_credential() {
        let exp = time::macros::datetime!(2030-01-02 03:04:05 UTC);
        let c = exec_credential(V1, "tok", Some(exp));
        assert_eq!(c["status"]["expirationTimestamp"], "2030-01-02T03:04:05Z");
        assert_eq!(c["kind"], "ExecCredential");
        assert_eq!(c["apiVersion"], V1);
        assert!(
            exec_credential(V1, "tok", None)["status"]
                .get("expirationTimestamp")
                .is_none()
        );
    }

    #[test]
    fn answers_in_the_asked_version_for_the_cluster() {
        let fake = Fake::answering(Ok(issued_token("tok-k")));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let inv = Invocation {
            account: Some("work".into()),
            recorded_server: Some("https://k.test:6443".into()),
            spec: TokenSpec::default(),
        };
        let raw = info("https://k.test:6443", false);
        block(main(
            inv,
            Some(&raw),
            None,
            &mut out,
            &mut err,
            &fake,
            async |_| panic!("no sign-in"),
        ))
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["apiVersion"], "client.authentication.k8s.io/v1beta1");
        assert_eq!(v["status"]["token"], "tok-k");
        let asked = fake.asked.borrow();
        assert_eq!(asked[0].tool, Tool::Kubectl);
        assert!(
            matches!(&asked[0].subject, Subject::Cluster { server: Some(s), account: Some(a), .. }
            if s == "https://k.test:6443" && a == "work")
        );
    }

    #[test]
    fn needs_sign_in_signs_in_only_when_interactive() {
        let needs = || {
            Err(Error::NeedsSignIn {
                account: "work".into(),
                reason: "no tokens".into(),
            })
        };
        // Not interactive: the error, nothing on stdout.
        let fake = Fake::answering(needs());
        let mut out = Vec::new();
        let raw = info("https://k.test", false);
        let e = block(main(
            Invocation::default(),
            Some(&raw),
            None,
            &mut out,
            Vec::new(),
            &fake,
            async |_| panic!("no sign-in"),
        ))
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NeedsSignIn);
        assert!(out.is_empty());
        // Interactive: signs in, then asks again.
        let fake = Fake::answering(needs());
        let signed = std::cell::Cell::new(false);
        let raw = info("https://k.test", true);
        let mut out = Vec::new();
        let r = block(main(
            Invocation::default(),
            Some(&raw),
            None,
            &mut out,
            Vec::new(),
            &fake,
            async |a| {
                assert_eq!(a, "work");
                signed.set(true);
                *fake.answer.borrow_mut() = Some(Ok(issued_token("after")));
                Ok(())
            },
        ));
        r.unwrap();
        assert!(signed.get());
        assert!(String::from_utf8(out).unwrap().contains("\"after\""));
    }

    #[test]
    fn hostile_exec_info_is_refused_before_anything_is_asked() {
        for raw in [
            "{",
            "[]",
            r#"{"apiVersion":"client.authentication.k8s.io/v9\u001b[2J"}"#,
        ] {
            let fake = Fake::answering(Ok(issued_token("never")));
            let mut out = Vec::new();
            let e = block(main(
                Invocation::default(),
                Some(raw),
                None,
                &mut out,
                Vec::new(),
                &fake,
                async |_| Ok(()),
            ))
            .unwrap_err();
            assert!(!e.to_string().chars().any(crate::text::is_unsafe), "{e:?}");
            assert!(out.is_empty());
            assert!(fake.asked.borrow().is_empty());
        }
    }
}
