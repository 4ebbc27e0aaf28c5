//! The CLI's words for what the core decided: each [`Remedy`] as the `latchkey …` command to
//! run, appended to the core's message (which names no command). The core says *what* to do;
//! only the shells know how a person does it here.

use latchkey_core::challenge::Explained;
use latchkey_core::{Advice, Error, Remedy};

/// The exact command a remedy stands for.
pub fn command(r: &Remedy) -> String {
    match r {
        Remedy::SignIn { account } | Remedy::SignInWithBrowser { account } => {
            format!("latchkey login {account}")
        }
        Remedy::SignInAgain { account, replace } => {
            if *replace {
                format!("latchkey login {account} --replace")
            } else {
                format!("latchkey login {account}")
            }
        }
        Remedy::AddScopes { account, scopes } => {
            if scopes.is_empty() {
                format!("latchkey login {account} --add-scope SCOPE")
            } else {
                let flags: Vec<String> =
                    scopes.iter().map(|s| format!("--add-scope {s}")).collect();
                format!("latchkey login {account} {}", flags.join(" "))
            }
        }
        Remedy::AddResources { account, resources } => {
            let flags: Vec<String> = resources
                .iter()
                .map(|r| format!("--add-resource {r}"))
                .collect();
            format!("latchkey login {account} {}", flags.join(" "))
        }
        Remedy::StepUp {
            account,
            acr,
            max_age,
        } => {
            let mut cmd = format!("latchkey login {account}");
            if !acr.is_empty() {
                cmd.push_str(&format!(" --acr \"{}\"", acr.join(" ")));
            }
            if let Some(m) = max_age {
                cmd.push_str(&format!(" --max-age {m}"));
            }
            cmd
        }
        Remedy::RequestToken { account, for_api } => {
            if *for_api {
                format!("latchkey token {account} --scope … --resource …")
            } else {
                format!("latchkey token {account}")
            }
        }
        Remedy::SetClientSecret { account } => {
            format!("latchkey edit {account} --client-secret-stdin")
        }
        Remedy::CheckStatus => "latchkey status".into(),
        Remedy::ListAccounts => "latchkey list".into(),
        Remedy::EditAccount => "latchkey edit".into(),
        Remedy::UnlockVault => "latchkey unlock".into(),
        Remedy::StartAgent => "latchkey agent".into(),
        Remedy::ListPending => "latchkey pending".into(),
        Remedy::SetupKubectl { account } => format!(
            "latchkey setup kubectl {} --cluster NAME",
            account.as_deref().unwrap_or("ACCOUNT")
        ),
        Remedy::SetupDocker { registry } => {
            format!("latchkey setup docker ACCOUNT --registry {registry}")
        }
        Remedy::SignOut { account } => format!("latchkey logout {account}"),
        Remedy::OwnRedirectUri { account } => {
            format!("latchkey edit {account} --per-account-redirect")
        }
        Remedy::SetupGit { account } => {
            format!("latchkey setup git {account} --host git.example.com")
        }
        Remedy::SetupNpm { registry } => {
            format!("latchkey setup npm ACCOUNT --registry {registry}")
        }
        Remedy::SetupCargo { index } => {
            format!("latchkey setup cargo --registry NAME --index {index} ACCOUNT")
        }
        _ => "latchkey --help".into(),
    }
}

/// The remedy as the words that follow a message (with their joining punctuation).
pub fn suffix(r: &Remedy) -> String {
    let cmd = command(r);
    match r {
        Remedy::SignIn { .. } => format!("; run `{cmd}`"),
        Remedy::SignInAgain { replace: true, .. } => format!(" (`{cmd}`)"),
        Remedy::ListAccounts => format!(" (see `{cmd}`)"),
        Remedy::EditAccount => format!(" or `{cmd}` it"),
        Remedy::CheckStatus => format!(" (`{cmd}`)"),
        Remedy::SetupNpm { .. } | Remedy::SetupCargo { .. } => {
            format!(" (set it up with `{cmd}`)")
        }
        Remedy::SignOut { .. } => format!(" (sign out with `{cmd}`)"),
        _ => format!(": `{cmd}`"),
    }
}

/// An error as the CLI prints it: the core's message, then the command that fixes it.
pub fn error(e: &Error) -> String {
    match e.remedy() {
        Some(r) => format!("{e}{}", suffix(&r)),
        None => e.to_string(),
    }
}

/// A note with what to do, as the CLI prints it.
pub fn advice(a: &Advice) -> String {
    match &a.remedy {
        Some(r) => format!("{}{}", a.text, suffix(r)),
        None => a.text.clone(),
    }
}

/// A resource server's challenge explained, the command on its own line.
pub fn challenge(x: &Explained) -> String {
    format!("{}:\n  {}", x.text, command(&x.remedy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remedies_read_as_todays_commands() {
        let e = Error::NeedsSignIn {
            account: "work".into(),
            reason: "no tokens".into(),
        };
        assert_eq!(
            error(&e),
            "account `work` needs sign-in: no tokens; run `latchkey login work`"
        );
        assert_eq!(
            error(&Error::UnknownAccount("x".into())),
            "no account named `x` (see `latchkey list`)"
        );
        assert_eq!(
            error(&Error::AccountExists("x".into())),
            "an account named `x` already exists; pick another name or `latchkey edit` it"
        );
        let e = Error::IdentityMismatch {
            account: "a".into(),
            existing: "e".into(),
            new: "n".into(),
        };
        assert!(error(&e).ends_with("or replace the identity (`latchkey login a --replace`)"));
        assert_eq!(
            command(&Remedy::StepUp {
                account: "work".into(),
                acr: vec!["phr".into(), "phrh".into()],
                max_age: Some(300)
            }),
            r#"latchkey login work --acr "phr phrh" --max-age 300"#
        );
        assert_eq!(
            command(&Remedy::AddScopes {
                account: "w".into(),
                scopes: vec!["a".into(), "b".into()]
            }),
            "latchkey login w --add-scope a --add-scope b"
        );
        let e = Error::InvalidInput("no Latchkey rule for https://r.test/".into()).with_remedy(
            Remedy::SetupNpm {
                registry: "https://r.test/".into(),
            },
        );
        assert_eq!(
            error(&e),
            "no Latchkey rule for https://r.test/ (set it up with `latchkey setup npm ACCOUNT --registry https://r.test/`)"
        );
        let e = Error::InvalidInput("give the git host".into()).with_remedy(Remedy::SetupGit {
            account: "work".into(),
        });
        assert_eq!(
            error(&e),
            "give the git host: `latchkey setup git work --host git.example.com`"
        );
        let a = Advice {
            text: "shared".into(),
            remedy: Some(Remedy::OwnRedirectUri {
                account: "w".into(),
            }),
        };
        assert_eq!(
            advice(&a),
            "shared: `latchkey edit w --per-account-redirect`"
        );
    }
}
