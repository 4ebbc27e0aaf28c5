//! The environment `latchkey exec ACCOUNT [--env VAR]... -- CMD` gives its command: the token
//! in each named variable (default [`DEFAULT_VAR`]; never in any argv) and its expiry in
//! [`EXPIRES_VAR`] (RFC 3339; removed when the token has none). The token comes from the one
//! hand-out ([`crate::LoginManager::credential_for`], [`Tool::Exec`]: bearer only).

use crate::error::{Error, Result};
use crate::handout::{Credential, CredentialRequest, Subject, Tool};
use crate::secret::Secret;
use crate::target::TokenSpec;

/// The default variable for the token.
pub const DEFAULT_VAR: &str = "LATCHKEY_ACCESS_TOKEN";
/// The variable for the expiry.
pub const EXPIRES_VAR: &str = "LATCHKEY_ACCESS_TOKEN_EXPIRES_AT";

/// Whether `v` may name an environment variable (letters, digits, `_`, not starting with a
/// digit).
pub fn valid_var(v: &str) -> bool {
    let mut chars = v.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The variables `--env` names (none: [`DEFAULT_VAR`]), checked.
pub fn variables(env: &[String]) -> Result<Vec<String>> {
    let vars = if env.is_empty() {
        vec![DEFAULT_VAR.to_string()]
    } else {
        env.to_vec()
    };
    if let Some(bad) = vars.iter().find(|v| !valid_var(v)) {
        return Err(Error::InvalidInput(format!(
            "--env `{}` is not a variable name (letters, digits and `_`, not starting with a digit)",
            crate::text::clean(bad, crate::text::MAX_ERROR_CODE)
        )));
    }
    Ok(vars)
}

/// The hand-out `exec` asks for.
pub fn request(account: &str, spec: &TokenSpec, min_ttl: Option<u64>) -> CredentialRequest {
    CredentialRequest {
        tool: Tool::Exec,
        subject: Subject::Account {
            account: account.to_string(),
            spec: spec.clone(),
        },
        env_override: None,
        min_ttl,
    }
}

/// What to change in the command's environment.
#[derive(Debug)]
pub struct Environment {
    /// Variables to set to the token.
    pub token: Vec<(String, Secret)>,
    /// [`EXPIRES_VAR`]: set to this, or removed (`None`).
    pub expires_at: Option<String>,
}

/// The environment for `credential` in `vars`.
pub fn environment(vars: &[String], credential: &Credential) -> Environment {
    Environment {
        token: vars
            .iter()
            .map(|v| (v.clone(), credential.token.token.clone()))
            .collect(),
        expires_at: super::rfc3339(credential.token.expires_at),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::handout::Handout;
    use crate::tools::fake::issued;

    #[test]
    fn variable_names() {
        assert!(valid_var("LATCHKEY_ACCESS_TOKEN"));
        assert!(valid_var("_x1"));
        assert!(!valid_var("1X"));
        assert!(!valid_var("A-B"));
        assert!(!valid_var(""));
        assert!(!valid_var("A=B"));
        assert_eq!(variables(&[]).unwrap(), vec![DEFAULT_VAR]);
        let e = variables(&["OK".into(), "\u{1b}[2J".into()]).unwrap_err();
        assert!(!e.to_string().chars().any(crate::text::is_unsafe), "{e:?}");
    }

    #[test]
    fn the_token_goes_in_every_variable_and_the_expiry_beside_it() {
        let Handout::Issued(c) = issued("tok-e") else {
            unreachable!()
        };
        let env = environment(&["A".into(), "B".into()], &c);
        assert_eq!(env.token.len(), 2);
        assert!(env.token.iter().all(|(_, t)| t.expose() == "tok-e"));
        assert_eq!(env.expires_at.as_deref(), Some("2030-01-02T03:04:05Z"));
        let r = request("work", &TokenSpec::default(), Some(30));
        assert_eq!((r.tool, r.min_ttl), (Tool::Exec, Some(30)));
    }
}
