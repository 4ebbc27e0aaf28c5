//! What a person can do about an outcome, as data.
//!
//! The core decides *that* an account must be signed in again (or needs a scope, a client
//! secret, a kubectl rule, …) and says so with a [`Remedy`]; it never spells out a command. The
//! shells word it: the CLI as the exact `latchkey …` command to run
//! (`crates/latchkey-cli/src/speak.rs`), the desktop app as a button or a sentence. An
//! [`crate::Error`] carries its remedy ([`crate::Error::remedy`]), and the agent's error answer
//! carries it as an optional `remedy` field, so a CLI served by the agent words it the same.

use serde::{Deserialize, Serialize};

/// Something the user can do next, for one account (or none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Remedy {
    /// Sign the account in (its tokens are gone or unusable).
    SignIn {
        /// Account name.
        account: String,
    },
    /// Sign in again; with `replace`, accept another identity for the account.
    SignInAgain {
        /// Account name.
        account: String,
        /// Replace the account's identity.
        replace: bool,
    },
    /// Sign in again with more scopes (empty: the server did not say which).
    AddScopes {
        /// Account name.
        account: String,
        /// The scopes to add.
        scopes: Vec<String>,
    },
    /// Sign in again naming more resources (RFC 8707).
    AddResources {
        /// Account name.
        account: String,
        /// The resources to add.
        resources: Vec<String>,
    },
    /// Sign in again, stronger or more recently (RFC 9470).
    StepUp {
        /// Account name.
        account: String,
        /// The authentication context class references asked for.
        acr: Vec<String>,
        /// The maximum age of the authentication, in seconds.
        max_age: Option<u64>,
    },
    /// Sign in with the browser instead of the device flow (for options the device flow
    /// cannot carry).
    SignInWithBrowser {
        /// Account name.
        account: String,
    },
    /// Ask for a token (an account without a user sign-in: client credentials).
    RequestToken {
        /// Account name.
        account: String,
        /// Whether the token is for another API (scopes, resources).
        for_api: bool,
    },
    /// Set the account's client secret again.
    SetClientSecret {
        /// Account name.
        account: String,
    },
    /// Look at the accounts' state.
    CheckStatus,
    /// List the accounts.
    ListAccounts,
    /// Edit the existing account.
    EditAccount,
    /// Unlock the encrypted vault.
    UnlockVault,
    /// Add a kubectl rule for a cluster.
    SetupKubectl {
        /// Account name, when known.
        account: Option<String>,
    },
    /// Add a Docker rule for a registry.
    SetupDocker {
        /// The registry.
        registry: String,
    },
    /// Start the agent (or the desktop app): only it can ask the owner before handing out a
    /// token of an account that needs approval.
    StartAgent,
    /// Look at the approvals waiting.
    ListPending,
    /// Sign the account out.
    SignOut {
        /// Account name.
        account: String,
    },
    /// Give the account its own redirect URI (the mix-up defence; after registering it at the
    /// provider).
    OwnRedirectUri {
        /// Account name.
        account: String,
    },
    /// Set git up for the account, naming the git host.
    SetupGit {
        /// Account name.
        account: String,
    },
    /// Set pnpm up for a registry.
    SetupNpm {
        /// The registry URL.
        registry: String,
    },
    /// Set cargo up for a registry.
    SetupCargo {
        /// The registry's index URL.
        index: String,
    },
}

impl Remedy {
    /// The account the remedy is for, if any.
    pub fn account(&self) -> Option<&str> {
        match self {
            Remedy::SignIn { account }
            | Remedy::SignInAgain { account, .. }
            | Remedy::AddScopes { account, .. }
            | Remedy::AddResources { account, .. }
            | Remedy::StepUp { account, .. }
            | Remedy::SignInWithBrowser { account }
            | Remedy::RequestToken { account, .. }
            | Remedy::SetClientSecret { account }
            | Remedy::SignOut { account }
            | Remedy::OwnRedirectUri { account }
            | Remedy::SetupGit { account } => Some(account),
            Remedy::SetupKubectl { account } => account.as_deref(),
            Remedy::CheckStatus
            | Remedy::ListAccounts
            | Remedy::EditAccount
            | Remedy::UnlockVault
            | Remedy::StartAgent
            | Remedy::ListPending
            | Remedy::SetupDocker { .. }
            | Remedy::SetupNpm { .. }
            | Remedy::SetupCargo { .. } => None,
        }
    }

    /// Whether the remedy is a sign-in of [`Self::account`] (a shell can offer a "Sign in"
    /// button for it).
    pub fn is_sign_in(&self) -> bool {
        matches!(
            self,
            Remedy::SignIn { .. }
                | Remedy::SignInAgain { .. }
                | Remedy::AddScopes { .. }
                | Remedy::AddResources { .. }
                | Remedy::StepUp { .. }
                | Remedy::SignInWithBrowser { .. }
        )
    }

    /// The remedy with every text made safe to show ([`crate::text::clean`]): for a remedy that
    /// came from another process (the agent).
    pub fn cleaned(self) -> Remedy {
        let c = |s: String| crate::text::clean(&s, crate::text::MAX_URI);
        let all = |v: Vec<String>| v.into_iter().map(c).collect();
        match self {
            Remedy::SignIn { account } => Remedy::SignIn {
                account: c(account),
            },
            Remedy::SignInAgain { account, replace } => Remedy::SignInAgain {
                account: c(account),
                replace,
            },
            Remedy::AddScopes { account, scopes } => Remedy::AddScopes {
                account: c(account),
                scopes: all(scopes),
            },
            Remedy::AddResources { account, resources } => Remedy::AddResources {
                account: c(account),
                resources: all(resources),
            },
            Remedy::StepUp {
                account,
                acr,
                max_age,
            } => Remedy::StepUp {
                account: c(account),
                acr: all(acr),
                max_age,
            },
            Remedy::SignInWithBrowser { account } => Remedy::SignInWithBrowser {
                account: c(account),
            },
            Remedy::RequestToken { account, for_api } => Remedy::RequestToken {
                account: c(account),
                for_api,
            },
            Remedy::SetClientSecret { account } => Remedy::SetClientSecret {
                account: c(account),
            },
            Remedy::SetupKubectl { account } => Remedy::SetupKubectl {
                account: account.map(c),
            },
            Remedy::SetupDocker { registry } => Remedy::SetupDocker {
                registry: c(registry),
            },
            Remedy::SignOut { account } => Remedy::SignOut {
                account: c(account),
            },
            Remedy::OwnRedirectUri { account } => Remedy::OwnRedirectUri {
                account: c(account),
            },
            Remedy::SetupGit { account } => Remedy::SetupGit {
                account: c(account),
            },
            Remedy::SetupNpm { registry } => Remedy::SetupNpm {
                registry: c(registry),
            },
            Remedy::SetupCargo { index } => Remedy::SetupCargo { index: c(index) },
            r @ (Remedy::CheckStatus
            | Remedy::ListAccounts
            | Remedy::EditAccount
            | Remedy::UnlockVault
            | Remedy::StartAgent
            | Remedy::ListPending) => r,
        }
    }
}

/// Something said beside a result (a warning, a note after an edit), with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advice {
    /// What happened, for people (never a command).
    pub text: String,
    /// What to do about it, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remedy: Option<Remedy>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn serializes_tagged_and_round_trips() {
        let r = Remedy::AddScopes {
            account: "work".into(),
            scopes: vec!["api:write".into()],
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["do"], "add_scopes");
        assert_eq!(v["account"], "work");
        assert_eq!(serde_json::from_value::<Remedy>(v).unwrap(), r);
        assert!(r.is_sign_in());
        assert_eq!(r.account(), Some("work"));
        let dirty = Remedy::SignIn {
            account: "a\u{1b}[2Jb".into(),
        };
        assert_eq!(dirty.cleaned().account(), Some("a[2Jb"));
    }
}
