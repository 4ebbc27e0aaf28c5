//! Token sets and the token endpoint protocol (RFC 6749 §5).
//!
//! [`TokenSet`] is what is stored in the keychain (as JSON, `expires_at` beside the tokens so a
//! re-read after taking the refresh lock is consistent). [`request_token`] POSTs a grant and
//! turns every possible answer into a [`TokenResponse`] or a typed [`Error`]: OAuth errors with
//! their `error`/`error_description`, GitHub's errors sent with HTTP 200, HTML error pages,
//! 5xx (provider unreachable), malformed JSON (never echoed: it may hold tokens).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use url::Url;

use crate::dpop::DpopKey;
use crate::error::{Error, Result};
use crate::http::{ClientAuth, HttpClient, Response};
use crate::secret::Secret;

/// The tokens of one account, as stored in the keychain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSet {
    /// The access token.
    pub access_token: Secret,
    /// `Bearer` or `DPoP`.
    pub token_type: String,
    /// The refresh token, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    /// The last id_token, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<Secret>,
    /// When the access token expires (`None`: the provider said it does not).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
    /// Granted scopes (space-separated, as the provider said them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// When this set was obtained.
    #[serde(with = "time::serde::rfc3339")]
    pub obtained_at: OffsetDateTime,
}

impl TokenSet {
    /// Seconds of validity left at `now` (`None` if it never expires; negative if expired).
    pub fn remaining(&self, now: OffsetDateTime) -> Option<time::Duration> {
        self.expires_at.map(|e| e - now)
    }

    /// True if the access token is valid for more than `min_ttl` at `now`.
    pub fn is_fresh(&self, now: OffsetDateTime, min_ttl: time::Duration) -> bool {
        match self.remaining(now) {
            None => true,
            Some(left) => left > min_ttl,
        }
    }

    /// True if the access token has not expired at `now`.
    pub fn is_unexpired(&self, now: OffsetDateTime) -> bool {
        self.is_fresh(now, time::Duration::ZERO)
    }

    /// Serializes for the keychain.
    pub fn to_secret(&self) -> Result<Secret> {
        serde_json::to_string(self)
            .map(Secret::new)
            .map_err(|e| Error::Other(format!("cannot serialize tokens: {e}")))
    }

    /// Parses what [`TokenSet::to_secret`] wrote.
    pub fn from_secret(s: &Secret) -> Result<Self> {
        serde_json::from_str(s.expose()).map_err(|_| {
            Error::keychain(
                crate::error::KeychainProblem::Corrupt,
                "stored tokens are unreadable",
            )
        })
    }

    /// Builds the set to store from a token response. `previous` supplies the refresh token
    /// (and id_token) when a refresh response does not rotate them.
    pub fn from_response(
        resp: TokenResponse,
        now: OffsetDateTime,
        previous: Option<&TokenSet>,
        scope_delimiter: char,
    ) -> Self {
        let expires_at = resp
            .expires_in
            .map(|s| now + time::Duration::seconds(s.min(i64::MAX as u64 / 2) as i64));
        let scope = resp
            .scope
            .map(|s| normalize_scope(&s, scope_delimiter))
            .or_else(|| previous.and_then(|p| p.scope.clone()));
        TokenSet {
            access_token: resp.access_token,
            token_type: normalize_token_type(&resp.token_type),
            refresh_token: resp
                .refresh_token
                .or_else(|| previous.and_then(|p| p.refresh_token.clone())),
            id_token: resp
                .id_token
                .or_else(|| previous.and_then(|p| p.id_token.clone())),
            expires_at,
            scope,
            obtained_at: now,
        }
    }
}

fn normalize_scope(s: &str, delimiter: char) -> String {
    s.split([delimiter, ' '])
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn normalize_token_type(t: &str) -> String {
    if t.eq_ignore_ascii_case("bearer") {
        "Bearer".into()
    } else if t.eq_ignore_ascii_case("dpop") {
        "DPoP".into()
    } else {
        t.to_string()
    }
}

/// A successful token endpoint answer.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: Secret,
    /// The token type.
    #[serde(default = "bearer")]
    pub token_type: String,
    /// Lifetime in seconds.
    #[serde(default, deserialize_with = "de_opt_u64")]
    pub expires_in: Option<u64>,
    /// The (possibly rotated) refresh token.
    #[serde(default)]
    pub refresh_token: Option<Secret>,
    /// The id_token (OIDC).
    #[serde(default)]
    pub id_token: Option<Secret>,
    /// Granted scopes.
    #[serde(default)]
    pub scope: Option<String>,
}

fn bearer() -> String {
    "Bearer".into()
}

/// Accepts `expires_in` as a number or a numeric string (some providers send strings).
pub(crate) fn de_opt_u64<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        U(u64),
        F(f64),
        S(String),
    }
    Ok(match Option::<N>::deserialize(d)? {
        None => None,
        Some(N::U(u)) => Some(u),
        Some(N::F(f)) if f >= 0.0 => Some(f as u64),
        Some(N::F(_)) => None,
        Some(N::S(s)) => s.trim().parse().ok(),
    })
}

/// An OAuth error response body.
#[derive(Debug, Clone, Deserialize)]
pub struct OAuthErrorBody {
    /// The error code.
    pub error: crate::oauth_error::OAuthErrorCode,
    /// Human description.
    #[serde(default)]
    pub error_description: Option<String>,
    /// A page about the error.
    #[serde(default)]
    pub error_uri: Option<String>,
}

/// Context that makes error messages actionable.
#[derive(Debug, Clone, Default)]
pub struct ErrorContext<'a> {
    /// The redirect URI used, named when the provider rejects it.
    pub redirect_uri: Option<&'a str>,
    /// True if the provider answers errors with HTTP 200 (GitHub).
    pub errors_with_200: bool,
}

/// Turns an OAuth error body into an [`Error::ProviderError`] with a hint.
pub fn provider_error(body: OAuthErrorBody, ctx: &ErrorContext<'_>) -> Error {
    let desc = body.error_description.clone().unwrap_or_default();
    let mentions_redirect = body.error.as_str().contains("redirect_uri")
        || desc.to_ascii_lowercase().contains("redirect_uri")
        || desc.to_ascii_lowercase().contains("redirect uri");
    let hint = if mentions_redirect {
        Some(match ctx.redirect_uri {
            Some(uri) => format!(
                "The provider does not accept the redirect URI; register exactly `{uri}` for this client at the provider"
            ),
            None => "The provider does not accept the redirect URI; check the client's registered redirect URIs".to_string(),
        })
    } else {
        use crate::oauth_error::OAuthErrorCode as C;
        match &body.error {
            c if c.is_client_rejected() => Some(
                "Check the client id and client secret (`latchkey edit NAME --client-id … --client-secret-stdin`)".to_string(),
            ),
            C::InvalidScope => Some("Ask for scopes this client is allowed (`latchkey edit NAME --scope …`)".to_string()),
            C::AccessDenied => Some("The sign-in was declined at the provider".to_string()),
            C::ExpiredToken => Some(
                "The device code expired before the sign-in was approved; run `latchkey login` again and approve it sooner".to_string(),
            ),
            C::UnsupportedGrantType => Some(
                "This client or provider does not allow this grant; check the client's registration (allowed grant types)".to_string(),
            ),
            C::TemporarilyUnavailable | C::ServerError => {
                Some("The provider has a problem; try again later".to_string())
            }
            _ => None,
        }
    };
    let description = match (body.error_description, body.error_uri) {
        (Some(d), Some(u)) => Some(format!("{d}; see {u}")),
        (Some(d), None) => Some(d),
        (None, Some(u)) => Some(format!("see {u}")),
        (None, None) => None,
    };
    Error::ProviderError {
        error: body.error,
        description,
        hint,
    }
}

/// Interprets a token-endpoint-style response (also used for device authorization).
pub fn interpret_json<T: serde::de::DeserializeOwned>(
    resp: &Response,
    ctx: &ErrorContext<'_>,
) -> Result<T> {
    let status = resp.status;
    if status >= 500 {
        return Err(Error::Unreachable {
            url: resp.url.clone(),
            detail: format!(
                "the provider answered HTTP {status} with {}",
                resp.error_page_summary()
            ),
        });
    }
    if !(200..300).contains(&status) {
        if resp.looks_like_json()
            && let Ok(body) = serde_json::from_slice::<OAuthErrorBody>(&resp.body)
        {
            return Err(provider_error(body, ctx));
        }
        let detail = if (300..400).contains(&status) {
            "the endpoint redirected (is the URL right?)".to_string()
        } else {
            format!(
                "expected an OAuth JSON error, got {}",
                resp.error_page_summary()
            )
        };
        return Err(Error::BadResponse {
            url: resp.url.clone(),
            status,
            detail,
        });
    }
    // 2xx: the body may hold tokens; never echo it.
    let value: serde_json::Value =
        serde_json::from_slice(&resp.body).map_err(|e| Error::BadResponse {
            url: resp.url.clone(),
            status,
            detail: format!(
                "the response is not valid JSON ({} at line {} column {}; content type `{}`)",
                e.classify_name(),
                e.line(),
                e.column(),
                resp.content_type()
            ),
        })?;
    if value.get("error").and_then(|e| e.as_str()).is_some()
        && let Ok(body) = serde_json::from_value::<OAuthErrorBody>(value.clone())
    {
        return Err(provider_error(body, ctx));
    }
    serde_json::from_value(value).map_err(|e| Error::BadResponse {
        url: resp.url.clone(),
        status,
        detail: format!(
            "the response is missing or has a malformed field ({})",
            safe_serde_message(&e)
        ),
    })
}

/// serde messages can quote values; keep only the structural part.
fn safe_serde_message(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    if msg.starts_with("missing field") {
        msg.split(" at line")
            .next()
            .unwrap_or("malformed")
            .to_string()
    } else {
        "a field has the wrong type".to_string()
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

/// POSTs a grant to the token endpoint, with a DPoP proof when `dpop` is given (the server's
/// `use_dpop_nonce` is retried once by [`HttpClient::post_form_dpop`]).
pub async fn request_token(
    http: &HttpClient,
    token_url: &Url,
    auth: &ClientAuth,
    params: &[(&str, &str)],
    ctx: &ErrorContext<'_>,
    dpop: Option<&DpopKey>,
) -> Result<TokenResponse> {
    let resp = http.post_form_dpop(token_url, auth, params, dpop).await?;
    let tr: TokenResponse = interpret_json(&resp, ctx)?;
    if tr.access_token.is_empty() {
        return Err(Error::BadResponse {
            url: resp.url,
            status: resp.status,
            detail: "the access_token is empty".into(),
        });
    }
    if !(tr.token_type.eq_ignore_ascii_case("bearer") || tr.token_type.eq_ignore_ascii_case("dpop"))
    {
        return Err(Error::BadResponse {
            url: resp.url,
            status: resp.status,
            detail: format!("unsupported token_type `{}`", tr.token_type),
        });
    }
    if dpop.is_some() && !tr.token_type.eq_ignore_ascii_case("dpop") {
        tracing::warn!(url = %resp.url, "DPoP was requested but the provider issued a Bearer token (not sender-constrained)");
    }
    if dpop.is_none() && tr.token_type.eq_ignore_ascii_case("dpop") {
        return Err(Error::BadResponse {
            url: resp.url,
            status: resp.status,
            detail: "the provider issued a DPoP-bound token although no DPoP proof was sent; enable DPoP for this account (`latchkey add … --dpop`)".into(),
        });
    }
    Ok(tr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

    fn resp(status: u16, ct: &str, body: &str) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        Response {
            url: "https://idp.example/token".into(),
            status,
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    fn ctx() -> ErrorContext<'static> {
        ErrorContext {
            redirect_uri: Some("http://127.0.0.1:5555/callback"),
            errors_with_200: false,
        }
    }

    #[test]
    fn ok_response() {
        let r = resp(
            200,
            "application/json",
            r#"{"access_token":"AT","token_type":"bearer","expires_in":"3600","refresh_token":"RT","scope":"a b"}"#,
        );
        let t: TokenResponse = interpret_json(&r, &ctx()).unwrap();
        assert_eq!(t.expires_in, Some(3600));
        let now = OffsetDateTime::now_utc();
        let set = TokenSet::from_response(t, now, None, ' ');
        assert_eq!(set.token_type, "Bearer");
        assert_eq!(set.expires_at, Some(now + time::Duration::seconds(3600)));
        assert!(!format!("{set:?}").contains("AT"));
    }

    #[test]
    fn github_error_with_200() {
        let r = resp(
            200,
            "application/json",
            r#"{"error":"bad_verification_code","error_description":"The code passed is incorrect or expired.","error_uri":"https://docs.github.com/x"}"#,
        );
        let e = interpret_json::<TokenResponse>(&r, &ctx()).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Provider);
        assert!(e.to_string().contains("bad_verification_code"));
    }

    #[test]
    fn html_500_is_unreachable_and_html_400_is_bad_response() {
        let e =
            interpret_json::<TokenResponse>(&resp(500, "text/html", "<title>Oops</title>"), &ctx())
                .unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::ProviderUnreachable);
        assert!(e.to_string().contains("Oops"));
        let e =
            interpret_json::<TokenResponse>(&resp(400, "text/html", "<title>Bad</title>"), &ctx())
                .unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Provider);
    }

    #[test]
    fn malformed_json_is_not_echoed() {
        let e = interpret_json::<TokenResponse>(
            &resp(200, "application/json", r#"{"access_token":"SECRETVALUE","#),
            &ctx(),
        )
        .unwrap_err();
        assert!(!e.to_string().contains("SECRETVALUE"), "{e}");
        let e = interpret_json::<TokenResponse>(
            &resp(200, "application/json", r#"{"access_token":123}"#),
            &ctx(),
        )
        .unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Provider);
    }

    #[test]
    fn redirect_mismatch_names_the_uri() {
        let e = interpret_json::<TokenResponse>(
            &resp(
                400,
                "application/json",
                r#"{"error":"invalid_grant","error_description":"grant request is invalid: redirect_uri mismatch"}"#,
            ),
            &ctx(),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("http://127.0.0.1:5555/callback"),
            "{e}"
        );
    }

    #[test]
    fn rotation_keeps_old_refresh_token_when_none_returned() {
        let now = OffsetDateTime::now_utc();
        let first = TokenSet::from_response(
            TokenResponse {
                access_token: Secret::new("a1"),
                token_type: "Bearer".into(),
                expires_in: Some(60),
                refresh_token: Some(Secret::new("r1")),
                id_token: None,
                scope: Some("repo,gist".into()),
            },
            now,
            None,
            ',',
        );
        assert_eq!(first.scope.as_deref(), Some("repo gist"));
        let second = TokenSet::from_response(
            TokenResponse {
                access_token: Secret::new("a2"),
                token_type: "Bearer".into(),
                expires_in: None,
                refresh_token: None,
                id_token: None,
                scope: None,
            },
            now,
            Some(&first),
            ' ',
        );
        assert_eq!(second.refresh_token, Some(Secret::new("r1")));
        assert!(second.is_fresh(now, time::Duration::seconds(60)));
    }
}
