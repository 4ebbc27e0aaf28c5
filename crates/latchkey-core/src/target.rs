//! What a token is for: [`TokenSpec`] (scopes, RFC 8707 resources, an audience), its stable
//! digest (the keychain key of its cached token), and how each provider is asked for it
//! ([`crate::provider::TargetStyle`]): on a refresh ([`TokenSpec::token_params`]) and at
//! sign-in ([`authorization_params`]). Pure: no I/O. The protocol that uses it is in
//! `manager/derived.rs`.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::provider::TargetStyle;

/// A token for exactly this: scopes (a subset of the account's, RFC 6749 §6), resources
/// (RFC 8707) and an audience (Auth0 and servers that take `audience`). Sorted and without
/// duplicates, so the same request in any order is the same cache entry. Empty: the account's
/// own token.
///
/// Always checked: the fields are private, and a spec is made by [`TokenSpec::new`] or read
/// (from `accounts.toml`, a rule, the agent's wire) through the same checks
/// (`#[serde(try_from)]`), so a spec in hand needs no second look. Written as `scopes = [...]`,
/// `resources = [...]`, `audience = "..."`, each left out when empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(try_from = "SpecFields")]
pub struct TokenSpec {
    /// Scopes asked for (empty: the provider's choice, normally all the account's scopes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    scopes: Vec<String>,
    /// Resources (absolute URIs without fragment).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resources: Vec<String>,
    /// Audience.
    #[serde(skip_serializing_if = "Option::is_none")]
    audience: Option<String>,
}

/// A spec as written, before [`TokenSpec::new`] checks and sorts it.
#[derive(Deserialize)]
struct SpecFields {
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    audience: Option<String>,
}

impl TryFrom<SpecFields> for TokenSpec {
    type Error = Error;

    fn try_from(f: SpecFields) -> Result<Self> {
        TokenSpec::new(&f.scopes, &f.resources, f.audience.as_deref())
    }
}

/// True for an RFC 6749 §3.3 scope-token: `%x21 / %x23-5B / %x5D-7E`, at least one.
pub fn valid_scope(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Checks a resource indicator (RFC 8707 §2: an absolute URI without a fragment) and returns
/// it as typed (not normalized: the provider compares it as a string).
pub fn check_resource(r: &str) -> Result<String> {
    let r = r.trim();
    let url = url::Url::parse(r).map_err(|e| {
        Error::InvalidInput(format!(
            "--resource `{}` is not an absolute URI ({e}); a resource is named by a URI such as https://api.example.com",
            crate::text::clean(r, crate::text::MAX_URI)
        ))
    })?;
    if url.fragment().is_some() {
        return Err(Error::InvalidInput(format!(
            "--resource `{}` has a fragment (`#…`), which RFC 8707 does not allow",
            crate::text::clean(r, crate::text::MAX_URI)
        )));
    }
    if r.len() > crate::text::MAX_URI || r.chars().any(char::is_control) {
        return Err(Error::InvalidInput(
            "--resource is too long or has control characters".into(),
        ));
    }
    Ok(r.to_string())
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

impl TokenSpec {
    /// A checked, sorted spec. Scopes may be given space- or comma-separated.
    pub fn new(scopes: &[String], resources: &[String], audience: Option<&str>) -> Result<Self> {
        let scopes = crate::scope::Scopes::from_input(scopes).into_vec();
        if let Some(bad) = scopes.iter().find(|s| !valid_scope(s)) {
            return Err(Error::InvalidInput(format!(
                "--scope `{}` is not a scope (printable characters without `\"` or `\\`)",
                crate::text::clean(bad, 200)
            )));
        }
        let resources = resources
            .iter()
            .map(|r| check_resource(r))
            .collect::<Result<Vec<_>>>()?;
        let audience = match audience.map(str::trim) {
            None => None,
            Some("") => {
                return Err(Error::InvalidInput("--audience is empty".into()));
            }
            Some(a) if a.len() > crate::text::MAX_URI || a.chars().any(char::is_control) => {
                return Err(Error::InvalidInput(
                    "--audience is too long or has control characters".into(),
                ));
            }
            Some(a) => Some(a.to_string()),
        };
        Ok(TokenSpec {
            scopes: sorted(scopes),
            resources: sorted(resources),
            audience,
        })
    }

    /// The scopes, sorted (empty: the provider's choice).
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The resources (RFC 8707), sorted.
    pub fn resources(&self) -> &[String] {
        &self.resources
    }

    /// The audience.
    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// No scope, resource or audience: the account's own token.
    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty() && self.resources.is_empty() && self.audience.is_none()
    }

    /// A stable digest (hex, 128 bits) of the spec: the name of its cached token in the
    /// keychain. The same spec gives the same digest in every version that writes `v1`.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"latchkey-token-spec:v1\n");
        for s in &self.scopes {
            h.update(b"s ");
            h.update(s.as_bytes());
            h.update(b"\n");
        }
        for r in &self.resources {
            h.update(b"r ");
            h.update(r.as_bytes());
            h.update(b"\n");
        }
        if let Some(a) = &self.audience {
            h.update(b"a ");
            h.update(a.as_bytes());
            h.update(b"\n");
        }
        hex::encode(&h.finalize()[..16])
    }

    /// Words for people: `scope a b, resource https://x, audience y`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.scopes.is_empty() {
            parts.push(format!("scope {}", self.scopes.join(" ")));
        }
        for r in &self.resources {
            parts.push(format!("resource {r}"));
        }
        if let Some(a) = &self.audience {
            parts.push(format!("audience {a}"));
        }
        if parts.is_empty() {
            "the account's own token".into()
        } else {
            parts.join(", ")
        }
    }

    /// The parameters that ask the provider for this token, added to a `refresh_token` (or
    /// `client_credentials`) grant. Refuses what the provider cannot do, saying what to do.
    pub fn token_params(&self, style: TargetStyle) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        match style {
            TargetStyle::Rfc8707 => {
                if !self.scopes.is_empty() {
                    out.push(("scope".into(), self.scopes.join(" ")));
                }
                for r in &self.resources {
                    out.push(("resource".into(), r.clone()));
                }
                if let Some(a) = &self.audience {
                    out.push(("audience".into(), a.clone()));
                }
            }
            TargetStyle::EntraDefaultScope => {
                if self.audience.is_some() {
                    return Err(Error::InvalidInput(
                        "Microsoft Entra ID has no audience parameter: name the API with --resource (its application ID URI, e.g. https://graph.microsoft.com, or api://<client id>)".into(),
                    ));
                }
                if self.resources.len() > 1 {
                    return Err(Error::InvalidInput(
                        "Microsoft Entra ID issues a token for one resource at a time: ask for each --resource separately".into(),
                    ));
                }
                let mut scopes = self.scopes.clone();
                if let Some(r) = self.resources.first() {
                    if !self.scopes.is_empty() {
                        return Err(Error::InvalidInput(format!(
                            "with Microsoft Entra ID, ask either for the whole resource (--resource {r}, sent as the scope {}) or for some of its permissions by full name (--scope {}/Permission.Name), not both",
                            entra_default_scope(r),
                            r.trim_end_matches('/')
                        )));
                    }
                    scopes.push(entra_default_scope(r));
                }
                // The answer then carries a (rotated) refresh token for the account.
                if !scopes.iter().any(|s| s == "offline_access") {
                    scopes.push("offline_access".into());
                }
                out.push(("scope".into(), scopes.join(" ")));
            }
            TargetStyle::Auth0Audience => {
                let mut targets: Vec<&String> = self.resources.iter().collect();
                targets.extend(self.audience.iter());
                if targets.len() > 1 {
                    return Err(Error::InvalidInput(
                        "Auth0 issues a token for one API at a time: give one --audience (or --resource) per token".into(),
                    ));
                }
                if !self.scopes.is_empty() {
                    out.push(("scope".into(), self.scopes.join(" ")));
                }
                if let Some(a) = targets.first() {
                    out.push(("audience".into(), (*a).clone()));
                }
            }
            TargetStyle::Unsupported(why) => {
                if !self.resources.is_empty() || self.audience.is_some() {
                    return Err(Error::InvalidInput(why.to_string()));
                }
                if !self.scopes.is_empty() {
                    out.push(("scope".into(), self.scopes.join(" ")));
                }
            }
        }
        Ok(out)
    }
}

/// Entra's scope for a whole resource: `RESOURCE/.default`.
pub fn entra_default_scope(resource: &str) -> String {
    format!("{}/.default", resource.trim_end_matches('/'))
}

/// The authorization request parameters that name the account's resources at sign-in
/// (`latchkey add/edit --resource`, `latchkey login --add-resource`).
pub fn authorization_params(
    resources: &[String],
    style: TargetStyle,
) -> Result<Vec<(String, String)>> {
    if resources.is_empty() {
        return Ok(Vec::new());
    }
    match style {
        TargetStyle::Rfc8707 => Ok(resources
            .iter()
            .map(|r| ("resource".to_string(), r.clone()))
            .collect()),
        // One refresh token serves every consented resource: nothing to name at sign-in.
        TargetStyle::EntraDefaultScope => Ok(Vec::new()),
        TargetStyle::Auth0Audience if resources.len() == 1 => {
            Ok(vec![("audience".into(), resources[0].clone())])
        }
        TargetStyle::Auth0Audience => Err(Error::InvalidInput(
            "Auth0 signs in for one API (audience) at a time: keep one --resource; a token for another API is asked for by its audience".into(),
        )),
        TargetStyle::Unsupported(why) => Err(Error::InvalidInput(why.to_string())),
    }
}

/// The `aud` claim(s) of an access token that is a JWT (`None` for opaque tokens). Only read
/// to tell a person that the provider seems to have ignored a resource, never trusted.
pub fn jwt_audiences(token: &str) -> Option<Vec<String>> {
    crate::jwt::UnverifiedJwt::parse(token)?.audiences()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_string()).collect()
    }

    #[test]
    fn order_and_duplicates_do_not_change_the_entry() {
        let a = TokenSpec::new(
            &s(&["b a", "a"]),
            &s(&["https://y.example", "https://x.example"]),
            None,
        )
        .unwrap();
        let b = TokenSpec::new(
            &s(&["a,b"]),
            &s(&[
                "https://x.example",
                "https://y.example",
                "https://x.example",
            ]),
            None,
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.digest().len(), 32);
        // Each part counts: a scope is not a resource, an audience is not a resource.
        let r = TokenSpec::new(&[], &s(&["https://x.example"]), None).unwrap();
        let aud = TokenSpec::new(&[], &[], Some("https://x.example")).unwrap();
        assert_ne!(r.digest(), aud.digest());
        assert!(TokenSpec::new(&[], &[], None).unwrap().is_empty());
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(TokenSpec::new(&s(&["a\"b"]), &[], None).is_err());
        assert!(TokenSpec::new(&[], &s(&["api.example.com"]), None).is_err());
        assert!(TokenSpec::new(&[], &s(&["https://x.example/#f"]), None).is_err());
        assert!(TokenSpec::new(&[], &[], Some(" ")).is_err());
    }

    #[test]
    fn rfc8707_sends_resource_scope_and_audience() {
        let spec = TokenSpec::new(
            &s(&["api:read"]),
            &s(&["https://a.example", "https://b.example"]),
            Some("x"),
        )
        .unwrap();
        assert_eq!(
            spec.token_params(TargetStyle::Rfc8707).unwrap(),
            vec![
                ("scope".to_string(), "api:read".to_string()),
                ("resource".into(), "https://a.example".into()),
                ("resource".into(), "https://b.example".into()),
                ("audience".into(), "x".into()),
            ]
        );
    }

    #[test]
    fn unsupported_styles_refuse_targets_but_allow_narrower_scopes() {
        let style = TargetStyle::Unsupported("use --scope");
        let r = TokenSpec::new(&[], &s(&["https://a.example"]), None).unwrap();
        match r.token_params(style) {
            Err(Error::InvalidInput(m)) => assert_eq!(m, "use --scope"),
            other => panic!("{other:?}"),
        }
        let narrow = TokenSpec::new(&s(&["read"]), &[], None).unwrap();
        assert_eq!(
            narrow.token_params(style).unwrap(),
            vec![("scope".to_string(), "read".to_string())]
        );
        assert!(authorization_params(&s(&["https://a.example"]), style).is_err());
    }
}
