//! The tools' own protocols, as library code: bytes (or environment) in, bytes out, with
//! Latchkey behind a [`crate::handout::Handouts`] — so they are unit-tested without processes and
//! fuzzed (`fuzz/`: `git_credential`, `docker_helper`, `kube_exec_info`, `sts_response`,
//! `cargo_request`).
//!
//! - [`git`]: git's credential helper (`get`/`store`/`erase`, `key=value` lines).
//! - [`docker`]: the Docker credential helper (`get` with a server URL on stdin, `list`,
//!   `store`, `erase`, `version`).
//! - [`kubectl`]: the kubectl exec credential plugin (`KUBERNETES_EXEC_INFO` in, an
//!   `ExecCredential` out).
//! - [`aws`]: AWS's `credential_process` (the id_token exchanged at STS for role credentials,
//!   cached in the keychain).
//! - [`exec`]: the environment `latchkey exec` gives its command.
//! - [`npm`]: pnpm's `tokenHelper` (`Bearer <token>` for a registry) and the `.npmrc` line and
//!   wrapper script `latchkey setup npm` writes.
//! - [`cargo`]: cargo's credential provider (JSON lines: `Bearer <token>` for a registry's
//!   index) and the `[registries.NAME]` entry `latchkey setup cargo` writes in `config.toml`.
//! - [`sasl`]: the SASL initial responses mail clients send (`XOAUTH2`, RFC 7628
//!   `OAUTHBEARER`) for `latchkey token --sasl`.
//!
//! Each only parses and words: which account, which token, https only and bearer only are
//! decided by [`crate::LoginManager::credential_for`]. The CLI's command files are thin
//! adapters (argv, environment, exit codes) over these.

pub mod aws;
pub mod cargo;
pub mod docker;
pub mod exec;
pub mod git;
pub mod kubectl;
pub mod npm;
pub mod sasl;

/// The whole `Authorization` value for tools that send what they are given verbatim (cargo's
/// provider answer, `latchkey token --bearer` for `cargo:token-from-stdout`): `Bearer <token>`.
/// A token of another type (DPoP-bound: useless without a proof per request) is refused.
pub fn bearer_value(
    token: &crate::secret::Secret,
    token_type: &crate::token::TokenType,
) -> crate::error::Result<crate::secret::Secret> {
    if !token_type.is_bearer() {
        return Err(crate::error::Error::InvalidInput(format!(
            "the account's tokens are {}-bound; an `Authorization: Bearer` value cannot carry them (pick an account without --dpop)",
            crate::text::clean(token_type.as_str(), 20)
        )));
    }
    Ok(crate::secret::Secret::new(format!(
        "Bearer {}",
        token.expose()
    )))
}

/// An expiry as RFC 3339 (`2030-01-02T03:04:05Z`), as the tools' answers carry it.
pub fn rfc3339(t: Option<time::OffsetDateTime>) -> Option<String> {
    t.and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
}

/// Test helpers: a [`crate::handout::Handouts`] that answers from a script.
#[cfg(test)]
pub(crate) mod fake {
    use std::cell::RefCell;

    use crate::error::Result;
    use crate::handout::{Credential, CredentialRequest, Handout, Handouts, Subject};
    use crate::manager::AccessToken;
    use crate::rules::Selection;
    use crate::secret::Secret;

    /// What the fake answers and what it was asked.
    pub struct Fake {
        pub answer: RefCell<Option<Result<Handout>>>,
        pub asked: RefCell<Vec<CredentialRequest>>,
        pub rejected: RefCell<Vec<Subject>>,
        pub select: Option<Selection>,
        pub usernames: Vec<(String, String)>,
    }

    pub fn token(value: &str, token_type: &str) -> AccessToken {
        AccessToken {
            token: Secret::new(value),
            token_type: crate::token::TokenType::parse(token_type),
            expires_at: Some(time::macros::datetime!(2030-01-02 03:04:05 UTC)),
            scope: None,
            degraded: None,
            refreshed: false,
        }
    }

    pub fn issued(value: &str) -> Handout {
        Handout::Issued(Credential {
            account: "work".into(),
            username: "x-access-token".into(),
            token: token(value, "Bearer"),
        })
    }

    impl Fake {
        pub fn answering(answer: Result<Handout>) -> Fake {
            Fake {
                answer: RefCell::new(Some(answer)),
                asked: RefCell::new(Vec::new()),
                rejected: RefCell::new(Vec::new()),
                select: None,
                usernames: Vec::new(),
            }
        }
    }

    impl Handouts for Fake {
        async fn credential(&self, request: CredentialRequest) -> Result<Handout> {
            self.asked.borrow_mut().push(request);
            self.answer
                .borrow_mut()
                .take()
                .unwrap_or(Ok(Handout::NoRule))
        }

        async fn select(&self, _: &Subject, _: Option<&str>) -> Result<Option<Selection>> {
            Ok(self.select.clone())
        }

        async fn token_rejected(
            &self,
            subject: &Subject,
            _: Option<&str>,
        ) -> Result<Option<String>> {
            self.rejected.borrow_mut().push(subject.clone());
            Ok(Some("work".into()))
        }

        async fn usernames(&self) -> Result<Vec<(String, String)>> {
            Ok(self.usernames.clone())
        }
    }

    /// Runs a future to completion on a fresh current-thread runtime.
    pub fn block<F: std::future::Future>(f: F) -> F::Output {
        #[allow(clippy::unwrap_used)]
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::secret::Secret;

    #[test]
    fn bearer_values_refuse_other_token_types() {
        let t = Secret::new("tok-x");
        assert_eq!(
            super::bearer_value(&t, &"bearer".into()).unwrap().expose(),
            "Bearer tok-x"
        );
        let e = super::bearer_value(&t, &"DPoP".into())
            .unwrap_err()
            .to_string();
        assert!(e.contains("DPoP-bound") && !e.contains("tok-x"), "{e}");
    }
}
