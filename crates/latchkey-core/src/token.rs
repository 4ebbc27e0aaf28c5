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
pub use crate::oauth_error::OAuthErrorBody;
use crate::secret::Secret;
pub use crate::token_type::TokenType;

/// The tokens of one account, as stored in the keychain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSet {
    /// The access token.
    pub access_token: Secret,
    /// `Bearer` or `DPoP`.
    pub token_type: TokenType,
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
    /// When the refresh token (the session) stops working, when the provider says so
    /// (`refresh_expires_in`, or the refresh token's own JWT `exp`).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub session_expires_at: Option<OffsetDateTime>,
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
        let expires_at = resp.expires_in.map(|s| expiry_after(now, s));
        let scope = resp
            .scope
            .map(|s| crate::scope::Scopes::parse_delimited(&s, scope_delimiter).to_string())
            .or_else(|| previous.and_then(|p| p.scope.clone()));
        let rotated = resp.refresh_token.is_some();
        // Keycloak sends `refresh_expires_in: 0` for offline tokens: no end.
        let session_expires_at = match resp.refresh_expires_in {
            Some(0) => None,
            // A hostile number (`1e300` saturates to u64::MAX) must not panic in the time
            // arithmetic: beyond the representable range there is simply no known end.
            Some(s) => now.checked_add(time::Duration::seconds(s.min(i64::MAX as u64 / 2) as i64)),
            None if rotated => resp.refresh_token.as_ref().and_then(jwt_exp),
            None => previous.and_then(|p| p.session_expires_at),
        };
        TokenSet {
            access_token: resp.access_token,
            token_type: resp.token_type,
            refresh_token: resp
                .refresh_token
                .or_else(|| previous.and_then(|p| p.refresh_token.clone())),
            id_token: resp
                .id_token
                .or_else(|| previous.and_then(|p| p.id_token.clone())),
            expires_at,
            scope,
            obtained_at: now,
            session_expires_at,
        }
    }
}

/// The longest access-token lifetime Latchkey believes (a larger `expires_in` is clamped).
pub const MAX_TOKEN_LIFETIME_SECS: u64 = 366 * 24 * 3600;

/// `now + secs`, with `secs` clamped to [`MAX_TOKEN_LIFETIME_SECS`] (never overflows).
pub fn expiry_after(now: OffsetDateTime, secs: u64) -> OffsetDateTime {
    if secs > MAX_TOKEN_LIFETIME_SECS {
        tracing::warn!(
            expires_in = secs,
            "the provider's expires_in is beyond one year; clamped"
        );
    }
    let secs = secs.min(MAX_TOKEN_LIFETIME_SECS) as i64;
    now.checked_add(time::Duration::seconds(secs))
        .unwrap_or(now)
}

/// The `exp` of a token that is a JWT (Keycloak's refresh tokens are); `None` for opaque
/// tokens. Only read to know when to warn, never trusted for anything else.
fn jwt_exp(token: &Secret) -> Option<OffsetDateTime> {
    let exp = crate::jwt::UnverifiedJwt::parse(token.expose())?
        .unverified_claims()
        .get("exp")?
        .as_i64()?;
    // Keycloak offline tokens carry `exp: 0` (no end).
    if exp <= 0 {
        return None;
    }
    OffsetDateTime::from_unix_timestamp(exp).ok()
}

/// A successful token endpoint answer.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: Secret,
    /// The token type.
    #[serde(default = "bearer")]
    pub token_type: TokenType,
    /// Lifetime in seconds.
    #[serde(default, deserialize_with = "de_opt_u64")]
    pub expires_in: Option<u64>,
    /// Lifetime of the refresh token in seconds (Keycloak; not in RFC 6749).
    #[serde(default, deserialize_with = "de_opt_u64")]
    pub refresh_expires_in: Option<u64>,
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

fn bearer() -> TokenType {
    TokenType::Bearer
}

/// Accepts a number of seconds (`expires_in`, `interval`) as a number or a numeric string (some
/// providers send strings). Never fails, so a hostile value cannot make the whole answer — and
/// a rotated refresh token in it — unreadable: negative, `NaN`, non-numeric strings and other
/// JSON types count as 0 (expired / the shortest interval), fractions are cut, huge values
/// saturate (callers clamp them).
pub(crate) fn de_opt_u64<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<u64>, D::Error> {
    fn from_f64(f: f64) -> u64 {
        if f.is_nan() || f <= 0.0 {
            0
        } else {
            f as u64 // saturates at u64::MAX
        }
    }
    let value = Option::<serde_json::Value>::deserialize(d)?;
    let secs = match value {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_i64().map(|_| 0))
            .or_else(|| n.as_f64().map(from_f64))
            .unwrap_or(0),
        Some(serde_json::Value::String(s)) => {
            let t = s.trim();
            t.parse::<u64>()
                .ok()
                .or_else(|| t.parse::<f64>().ok().map(from_f64))
                .unwrap_or(0)
        }
        Some(_) => 0,
    };
    Ok(Some(secs))
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
    // Provider text enters the core here: no terminal escapes, bounded length.
    let body = OAuthErrorBody {
        error: crate::oauth_error::OAuthErrorCode::parse(&crate::text::clean(
            body.error.as_str(),
            crate::text::MAX_ERROR_CODE,
        )),
        error_description: crate::text::clean_opt(
            body.error_description,
            crate::text::MAX_DESCRIPTION,
        ),
        error_uri: crate::text::clean_opt(body.error_uri, crate::text::MAX_URI),
    };
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
                "Check the account's client id and client secret".to_string(),
            ),
            C::InvalidScope => Some("Ask for scopes this client is allowed (edit the account's scopes)".to_string()),
            C::AccessDenied => Some("The sign-in was declined at the provider".to_string()),
            C::ExpiredToken => Some(
                "The device code expired before the sign-in was approved; sign in again and approve it sooner".to_string(),
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
    if let TokenType::Other(other) = &tr.token_type {
        return Err(Error::BadResponse {
            url: resp.url,
            status: resp.status,
            detail: format!("unsupported token_type `{other}`"),
        });
    }
    if dpop.is_some() && !tr.token_type.is_dpop() {
        // A new grant that should be sender-constrained but is not: refused (nothing is stored
        // yet). A refresh answer is kept (refusing it would lose a rotated refresh token).
        let refresh = params
            .iter()
            .any(|(k, v)| *k == "grant_type" && *v == "refresh_token");
        if !refresh {
            return Err(Error::BadResponse {
                url: resp.url,
                status: resp.status,
                detail: "DPoP was requested but the provider issued a Bearer token (not sender-constrained); check that the client is allowed DPoP, or turn DPoP off for this account".into(),
            });
        }
        tracing::warn!(url = %resp.url, "DPoP was requested but the provider issued a Bearer token on refresh (not sender-constrained)");
    }
    if dpop.is_none() && tr.token_type.is_dpop() {
        return Err(Error::BadResponse {
            url: resp.url,
            status: resp.status,
            detail: "the provider issued a DPoP-bound token although no DPoP proof was sent; turn DPoP on for this account".into(),
        });
    }
    Ok(tr)
}

/// An access token handed to a caller (what [`crate::LoginManager`] and the agent answer).
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The access token (never logged; redacted in `Debug`).
    pub token: Secret,
    /// `Bearer` or `DPoP` (or `id_token` for the id_token a tool is given).
    pub token_type: TokenType,
    /// When it expires (`None`: the provider gave no lifetime).
    pub expires_at: Option<OffsetDateTime>,
    /// The scopes it carries, space-separated, as granted.
    pub scope: Option<String>,
    /// Set when the provider could not be reached and a still-valid token is served anyway.
    pub degraded: Option<String>,
    /// True if this call refreshed the token.
    pub refreshed: bool,
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
        assert_eq!(set.token_type, TokenType::Bearer);
        assert_eq!(set.expires_at, Some(now + time::Duration::seconds(3600)));
        // Stored with the type's own spelling.
        assert!(
            serde_json::to_string(&set)
                .unwrap()
                .contains(r#""token_type":"Bearer""#)
        );
        assert!(!format!("{set:?}").contains("AT"));
    }

    #[test]
    fn hostile_expires_in_never_panics_and_is_clamped() {
        let now = OffsetDateTime::now_utc();
        let year = time::Duration::seconds(MAX_TOKEN_LIFETIME_SECS as i64);
        for (raw, want) in [
            ("1e300", Some(now + year)),
            ("18446744073709551615", Some(now + year)),
            ("-5", Some(now)),
            ("-1e300", Some(now)),
            (r#""soon""#, Some(now)),
            (r#""120""#, Some(now + time::Duration::seconds(120))),
            (r#""90.5""#, Some(now + time::Duration::seconds(90))),
            ("true", Some(now)),
            (r#"{"a":1}"#, Some(now)),
            ("null", None),
        ] {
            let body = format!(
                r#"{{"access_token":"AT","token_type":"Bearer","refresh_token":"RT2","expires_in":{raw}}}"#
            );
            let t: TokenResponse = interpret_json(&resp(200, "application/json", &body), &ctx())
                .unwrap_or_else(|e| panic!("{raw}: {e}"));
            let set = TokenSet::from_response(t, now, None, ' ');
            assert_eq!(set.expires_at, want, "{raw}");
            assert_eq!(set.refresh_token, Some(Secret::new("RT2")), "{raw}");
        }
        // At the end of time's range the sum cannot overflow either.
        let end = time::PrimitiveDateTime::MAX.assume_utc();
        assert_eq!(expiry_after(end, u64::MAX), end);
    }

    #[test]
    fn hostile_error_text_is_stripped_and_capped() {
        let desc = format!(r"\u001b]0;pwned\u0007\u009b8m{}", "x".repeat(100_000));
        let body = format!(
            r#"{{"error":"invalid_grant\u001b[2J","error_description":"{desc}","error_uri":"https://e/\u001b]52;c;eA==\u0007"}}"#
        );
        let e = interpret_json::<TokenResponse>(&resp(400, "application/json", &body), &ctx())
            .unwrap_err();
        let text = e.to_string();
        assert!(!text.chars().any(crate::text::is_unsafe), "{text:?}");
        assert!(text.contains("invalid_grant[2J"), "{text}");
        assert!(text.len() < 1_500, "{} bytes", text.len());
        // An HTML error page's title (a proxy's, a captive portal's).
        let page = resp(
            502,
            "text/html",
            "<html><head><title>\u{1b}]0;evil\u{7}Bad \u{9b}Gateway</title></head></html>",
        );
        let e = interpret_json::<TokenResponse>(&page, &ctx()).unwrap_err();
        let text = e.to_string();
        assert!(!text.chars().any(crate::text::is_unsafe), "{text:?}");
        assert!(text.contains("]0;evilBad Gateway"), "{text}");
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
                refresh_expires_in: None,
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
                refresh_expires_in: None,
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

    fn response(json: &str) -> TokenResponse {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn session_end_comes_from_refresh_expires_in_or_the_refresh_jwt() {
        use base64::Engine;
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        // Keycloak: refresh_expires_in (a number or a string), 0 = offline token, no end.
        let kc = TokenSet::from_response(
            response(
                r#"{"access_token":"a","expires_in":300,"refresh_expires_in":"1800","refresh_token":"r"}"#,
            ),
            now,
            None,
            ' ',
        );
        assert_eq!(
            kc.session_expires_at,
            Some(now + time::Duration::seconds(1800))
        );
        let offline = TokenSet::from_response(
            response(r#"{"access_token":"a","refresh_expires_in":0,"refresh_token":"r"}"#),
            now,
            None,
            ' ',
        );
        assert_eq!(offline.session_expires_at, None);
        // A hostile number: no panic, no known end.
        let huge = TokenSet::from_response(
            response(r#"{"access_token":"a","refresh_expires_in":1e300,"refresh_token":"r"}"#),
            now,
            None,
            ' ',
        );
        assert_eq!(huge.session_expires_at, None);
        assert_eq!(huge.refresh_token.as_ref().map(Secret::expose), Some("r"));
        // A refresh token that is a JWT: its exp.
        let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let jwt = format!(
            "{}.{}.sig",
            b64(r#"{"alg":"HS256"}"#),
            b64(r#"{"exp":1800007200,"typ":"Refresh"}"#)
        );
        let by_jwt = TokenSet::from_response(
            response(&format!(
                r#"{{"access_token":"a","refresh_token":"{jwt}"}}"#
            )),
            now,
            None,
            ' ',
        );
        assert_eq!(
            by_jwt.session_expires_at,
            Some(OffsetDateTime::from_unix_timestamp(1_800_007_200).unwrap())
        );
        // Opaque refresh tokens tell nothing; a refresh without rotation keeps the end.
        let opaque = TokenSet::from_response(
            response(r#"{"access_token":"a","refresh_token":"opaque-token"}"#),
            now,
            None,
            ' ',
        );
        assert_eq!(opaque.session_expires_at, None);
        let refreshed =
            TokenSet::from_response(response(r#"{"access_token":"a2"}"#), now, Some(&kc), ' ');
        assert_eq!(refreshed.session_expires_at, kc.session_expires_at);
        // Stored and read back.
        let back = TokenSet::from_secret(&kc.to_secret().unwrap()).unwrap();
        assert_eq!(back.session_expires_at, kc.session_expires_at);
    }
}
