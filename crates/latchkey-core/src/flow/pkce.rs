//! Authorization code + PKCE (RFC 7636, S256 only): the pieces of a sign-in.
//!
//! - [`PendingFlow`]: `state`, `nonce` (≥ 128 bits from the OS CSPRNG) and the verifier
//!   (43 chars of base64url = 256 bits), stored in the keychain under `pending/<sha256(state)>`
//!   for [`PENDING_TTL`] so another process (the desktop app cold-started by the deep link) can
//!   complete the flow. It is consumed once, under the account lock.
//! - [`authorization_url`]: the browser URL (with the provider's extra parameters).
//! - [`Callback::parse`]: the redirect, from a loopback request or a deep link.

use openidconnect::PkceCodeChallenge;
use rand::TryRngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use url::Url;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::secret::{Secret, ct_eq};

/// How long a started sign-in stays valid.
pub const PENDING_TTL: time::Duration = time::Duration::minutes(10);

/// A random URL-safe string with `bytes` bytes of entropy from the OS CSPRNG.
pub fn random_token(bytes: usize) -> Result<Secret> {
    use base64::Engine;
    let mut buf = vec![0u8; bytes];
    OsRng
        .try_fill_bytes(&mut buf)
        .map_err(|e| Error::Other(format!("the OS random number generator failed: {e}")))?;
    Ok(Secret::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&buf),
    ))
}

/// SHA-256 of a state value, hex: the keychain key of its pending flow.
pub fn state_digest(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

/// The keychain key of a pending flow.
pub fn pending_key(digest: &str) -> String {
    format!("pending/{digest}")
}

/// A sign-in in progress (stored in the keychain as JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingFlow {
    /// The account being signed in.
    pub account_id: Uuid,
    /// The `state` sent to the provider.
    pub state: Secret,
    /// The PKCE verifier.
    pub verifier: Secret,
    /// The OIDC nonce (absent for plain OAuth providers).
    #[serde(default)]
    pub nonce: Option<Secret>,
    /// The exact `redirect_uri` sent.
    pub redirect_uri: String,
    /// When the flow started.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops being accepted.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Allow the sign-in to replace the account's identity.
    #[serde(default)]
    pub replace_identity: bool,
    /// Scopes this sign-in adds to the account (incremental authorization): written to the
    /// account when the new tokens are stored, by whichever process completes the sign-in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_scopes: Vec<String>,
    /// Resources this sign-in adds to the account.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_resources: Vec<String>,
    /// Step-up: the `max_age` asked for (the id_token's `auth_time` is checked against it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u64>,
    /// Step-up: the `acr_values` asked for (the id_token's `acr` is compared with them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr_values: Option<String>,
}

/// What [`PendingFlow::start`] makes besides the flow: the S256 challenge.
pub struct NewFlow {
    /// The flow to store.
    pub flow: PendingFlow,
    /// `code_challenge` (S256).
    pub challenge: String,
}

impl PendingFlow {
    /// Creates fresh secrets for a sign-in.
    pub fn start(
        account_id: Uuid,
        redirect_uri: String,
        oidc: bool,
        replace_identity: bool,
        now: OffsetDateTime,
    ) -> Result<NewFlow> {
        let state = random_token(32)?;
        let nonce = if oidc { Some(random_token(32)?) } else { None };
        let verifier = random_token(32)?; // 43 chars, within 43..=128
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(
            &openidconnect::PkceCodeVerifier::new(verifier.expose().to_string()),
        );
        Ok(NewFlow {
            challenge: challenge.as_str().to_string(),
            flow: PendingFlow {
                account_id,
                state,
                verifier,
                nonce,
                redirect_uri,
                created_at: now,
                expires_at: now + PENDING_TTL,
                replace_identity,
                add_scopes: Vec::new(),
                add_resources: Vec::new(),
                max_age: None,
                acr_values: None,
            },
        })
    }

    /// The digest under which this flow is stored.
    pub fn digest(&self) -> String {
        state_digest(self.state.expose())
    }

    /// Serializes for the keychain.
    pub fn to_secret(&self) -> Result<Secret> {
        serde_json::to_string(self)
            .map(Secret::new)
            .map_err(|e| Error::Other(format!("cannot serialize the sign-in: {e}")))
    }

    /// Parses what [`PendingFlow::to_secret`] wrote.
    pub fn from_secret(s: &Secret) -> Result<Self> {
        serde_json::from_str(s.expose()).map_err(|_| {
            Error::Callback("the stored sign-in is unreadable; start the sign-in again".into())
        })
    }
}

/// Parameters for the authorization URL.
pub struct AuthRequest<'a> {
    /// The authorization endpoint.
    pub endpoint: &'a Url,
    /// The OAuth client id sent as `client_id`.
    pub client_id: &'a str,
    /// Scopes (space-joined).
    pub scopes: &'a [String],
    /// The stored flow.
    pub flow: &'a PendingFlow,
    /// S256 challenge.
    pub challenge: &'a str,
    /// Extra provider parameters (Google: `access_type=offline`, `prompt=consent`).
    pub extra: &'a [(&'a str, &'a str)],
}

/// The authorization request parameters (also what a PAR request pushes).
pub fn authorization_params(req: &AuthRequest<'_>) -> Vec<(String, String)> {
    let mut p = vec![
        ("response_type".to_string(), "code".to_string()),
        ("client_id".into(), req.client_id.to_string()),
        ("redirect_uri".into(), req.flow.redirect_uri.clone()),
        ("state".into(), req.flow.state.expose().to_string()),
        ("code_challenge".into(), req.challenge.to_string()),
        ("code_challenge_method".into(), "S256".into()),
    ];
    if !req.scopes.is_empty() {
        p.push(("scope".into(), req.scopes.join(" ")));
    }
    if let Some(nonce) = &req.flow.nonce {
        p.push(("nonce".into(), nonce.expose().to_string()));
    }
    for (k, v) in req.extra {
        p.push(((*k).to_string(), (*v).to_string()));
    }
    p
}

/// Builds the URL to open in the browser.
pub fn authorization_url(req: &AuthRequest<'_>) -> Url {
    let mut url = req.endpoint.clone();
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in authorization_params(req) {
            q.append_pair(&k, &v);
        }
    }
    url
}

/// A parsed authorization response (the redirect back to us).
#[derive(Debug, Clone)]
pub struct Callback {
    /// The URL without its query, for matching against the redirect URI.
    pub base: String,
    /// `state`.
    pub state: Option<Secret>,
    /// `code`.
    pub code: Option<Secret>,
    /// `iss` (RFC 9207).
    pub iss: Option<String>,
    /// `error`.
    pub error: Option<String>,
    /// `error_description`.
    pub error_description: Option<String>,
}

impl Callback {
    /// Parses a callback URL (`http://127.0.0.1:PORT/callback?...` or `scheme:/callback?...`).
    pub fn parse(raw: &str) -> Result<Self> {
        let raw = raw.trim();
        if raw.len() > 16 * 1024 {
            return Err(Error::Callback("the callback URL is too long".into()));
        }
        let url = Url::parse(raw)
            .map_err(|_| Error::Callback("the callback is not a valid URL".into()))?;
        let mut cb = Callback {
            base: {
                let mut u = url.clone();
                u.set_query(None);
                u.set_fragment(None);
                u.to_string()
            },
            state: None,
            code: None,
            iss: None,
            error: None,
            error_description: None,
        };
        for (k, v) in url.query_pairs() {
            let dup = match k.as_ref() {
                "state" => cb.state.replace(Secret::new(v.into_owned())).is_some(),
                "code" => cb.code.replace(Secret::new(v.into_owned())).is_some(),
                "iss" => cb.iss.replace(v.into_owned()).is_some(),
                "error" => cb.error.replace(v.into_owned()).is_some(),
                "error_description" => cb.error_description.replace(v.into_owned()).is_some(),
                _ => false,
            };
            if dup {
                return Err(Error::Callback(format!(
                    "the callback repeats the `{k}` parameter"
                )));
            }
        }
        Ok(cb)
    }

    /// True if this callback carries `state` equal to `expected` (constant time).
    pub fn state_matches(&self, expected: &Secret) -> bool {
        self.state
            .as_ref()
            .is_some_and(|s| ct_eq(s.expose(), expected.expose()))
    }
}

/// True if the callback arrived at the redirect URI the flow used (scheme, host, port, path).
pub fn same_redirect(callback_base: &str, redirect_uri: &str) -> bool {
    match (Url::parse(callback_base), Url::parse(redirect_uri)) {
        (Ok(a), Ok(b)) => {
            a.scheme() == b.scheme()
                && a.host_str() == b.host_str()
                && a.port_or_known_default() == b.port_or_known_default()
                && a.path() == b.path()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_flows_have_strong_random_values() {
        let now = OffsetDateTime::now_utc();
        let a = PendingFlow::start(
            Uuid::new_v4(),
            "http://127.0.0.1:1/callback".into(),
            true,
            false,
            now,
        )
        .unwrap();
        let b = PendingFlow::start(
            Uuid::new_v4(),
            "http://127.0.0.1:1/callback".into(),
            true,
            false,
            now,
        )
        .unwrap();
        assert_ne!(a.flow.state, b.flow.state);
        assert!(a.flow.state.expose().len() >= 22, "≥ 128 bits");
        let v = a.flow.verifier.expose().len();
        assert!((43..=128).contains(&v));
        assert_eq!(a.challenge.len(), 43);
        assert_ne!(a.challenge, a.flow.verifier.expose());
        assert_eq!(a.flow.expires_at - a.flow.created_at, PENDING_TTL);
    }

    #[test]
    fn pkce_challenge_is_base64url_sha256_of_the_verifier() {
        use base64::Engine;
        let now = OffsetDateTime::now_utc();
        let f = PendingFlow::start(Uuid::new_v4(), "x:/cb".into(), false, false, now).unwrap();
        let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(f.flow.verifier.expose().as_bytes()));
        assert_eq!(f.challenge, expected);
        assert!(
            f.challenge
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert!(f.flow.nonce.is_none(), "no nonce for plain OAuth");
    }

    #[test]
    fn url_has_all_parameters() {
        let now = OffsetDateTime::now_utc();
        let f = PendingFlow::start(
            Uuid::new_v4(),
            "dev.latchkey.app:/callback".into(),
            true,
            false,
            now,
        )
        .unwrap();
        let ep = Url::parse("https://idp.example/authorize?tenant=x").unwrap();
        let scopes = vec!["openid".to_string(), "email".to_string()];
        let url = authorization_url(&AuthRequest {
            endpoint: &ep,
            client_id: "cid",
            scopes: &scopes,
            flow: &f.flow,
            challenge: &f.challenge,
            extra: &[("access_type", "offline")],
        });
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["tenant"], "x");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["scope"], "openid email");
        assert_eq!(q["redirect_uri"], "dev.latchkey.app:/callback");
        assert_eq!(q["access_type"], "offline");
        assert_eq!(q["state"], f.flow.state.expose());
        assert!(q.contains_key("nonce"));
    }

    #[test]
    fn callbacks() {
        let cb =
            Callback::parse("http://127.0.0.1:4000/callback?code=c&state=s&iss=https%3A%2F%2Fidp")
                .unwrap();
        assert_eq!(cb.base, "http://127.0.0.1:4000/callback");
        assert!(cb.state_matches(&Secret::new("s")));
        assert!(!cb.state_matches(&Secret::new("t")));
        assert_eq!(cb.iss.as_deref(), Some("https://idp"));
        let cb = Callback::parse("dev.latchkey.app:/callback?error=access_denied&state=s").unwrap();
        assert_eq!(cb.error.as_deref(), Some("access_denied"));
        assert!(Callback::parse("not a url").is_err());
        assert!(Callback::parse("http://x/cb?state=a&state=b").is_err());
        assert!(same_redirect(
            "http://127.0.0.1:4000/callback",
            "http://127.0.0.1:4000/callback"
        ));
        assert!(!same_redirect(
            "http://127.0.0.1:4001/callback",
            "http://127.0.0.1:4000/callback"
        ));
        assert!(same_redirect(
            "dev.latchkey.app:/callback",
            "dev.latchkey.app:/callback"
        ));
        assert!(!same_redirect(
            "evil.app:/callback",
            "dev.latchkey.app:/callback"
        ));
    }
}

/// The answer of an RFC 9126 pushed authorization request.
#[derive(Debug, serde::Deserialize)]
pub struct PushedRequest {
    /// The `request_uri` the browser URL then carries.
    pub request_uri: String,
}

impl PushedRequest {
    /// Reads the PAR endpoint's response (201 with JSON, or an OAuth error); an empty
    /// `request_uri` is refused. `redirect_uri` is for the wording of a redirect mismatch.
    pub fn parse(resp: &crate::http::Response, redirect_uri: &str) -> Result<Self> {
        let pushed: PushedRequest = crate::token::interpret_json(
            resp,
            &crate::token::ErrorContext {
                redirect_uri: Some(redirect_uri),
                errors_with_200: false,
            },
        )?;
        if pushed.request_uri.is_empty() {
            return Err(Error::BadResponse {
                url: resp.url.clone(),
                status: resp.status,
                detail: "the pushed authorization response has an empty `request_uri`".into(),
            });
        }
        Ok(pushed)
    }
}
