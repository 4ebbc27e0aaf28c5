//! OpenID Connect: id_token validation and userinfo.
//!
//! Validation is done by the `openidconnect` crate's `IdTokenVerifier` (JWKS signature with the
//! algorithms the provider advertises, never `alg=none`; `iss`; `aud`; `exp`), plus what it
//! leaves to the caller: `azp` (must be our client id when present), `iat` not in the future
//! beyond the allowed skew, `nonce` (required at sign-in, absent on refresh), and Entra-style
//! templated issuers (`https://login.microsoftonline.com/{tenantid}/v2.0`).

use openidconnect::core::{
    CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
};
use openidconnect::{ClientId, ClientSecret, IssuerUrl, Nonce};
use serde::Deserialize;
use time::OffsetDateTime;
use url::Url;

use crate::accounts::Identity;
use crate::error::{Error, Result};
use crate::http::HttpClient;
use crate::secret::{Secret, ct_eq};

/// Clock skew tolerated on `exp` and `iat`.
pub const CLOCK_SKEW: time::Duration = time::Duration::seconds(60);

/// Everything needed to check one id_token.
pub struct IdTokenCheck<'a> {
    /// Our client id (the expected `aud`).
    pub client_id: &'a str,
    /// Client secret, for providers that sign with HS256.
    pub client_secret: Option<&'a Secret>,
    /// The validated issuer.
    pub issuer: &'a Url,
    /// A templated issuer (`{tenantid}`) accepted instead of an exact match.
    pub issuer_template: Option<&'a str>,
    /// The provider's keys.
    pub jwks: &'a CoreJsonWebKeySet,
    /// Algorithms the provider advertised (`none` is ignored); empty → RS256.
    pub algs: &'a [String],
    /// Expected nonce at sign-in; `None` on refresh (no nonce in refreshed id_tokens).
    pub nonce: Option<&'a Secret>,
    /// The subject the token must be about (on refresh), if known.
    pub expected_sub: Option<&'a str>,
    /// The time `exp` and `iat` are checked against (the manager's clock).
    pub now: OffsetDateTime,
}

fn to_chrono(t: OffsetDateTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(t.unix_timestamp(), 0).unwrap_or_default()
}

pub use crate::issuer::matches_template;

/// The `tid` (tenant) claim of a JWT whose signature has already been verified.
fn tenant_claim(raw: &Secret) -> Option<String> {
    payload_claims(raw)?
        .get("tid")?
        .as_str()
        .map(str::to_string)
}

/// The claims of a JWT's payload, without any check (for the checks made on top of
/// [`validate_id_token`], which verifies the signature).
fn payload_claims(raw: &Secret) -> Option<serde_json::Value> {
    crate::jwt::UnverifiedJwt::parse(raw.expose())
        .map(|j| serde_json::Value::Object(j.unverified_claims().clone()))
}

/// Checks a step-up sign-in's id_token against what the authorization request asked for
/// (RFC 9470; OIDC Core §3.1.2.1 and §3.1.3.7): with `max_age`, `auth_time` must be present and
/// no older than `max_age` (plus the clock skew) — else an error, since the resource asked for
/// a recent authentication; with `acr_values`, an `acr` that is none of them is returned as a
/// note to report (`acr_values` is a voluntary request; the resource server decides).
pub fn check_step_up(
    raw: &Secret,
    max_age: Option<u64>,
    acr_values: Option<&str>,
    now: OffsetDateTime,
) -> Result<Option<String>> {
    let claims = payload_claims(raw).unwrap_or_default();
    if let Some(max_age) = max_age {
        let Some(auth_time) = claims.get("auth_time").and_then(serde_json::Value::as_i64) else {
            return Err(Error::InvalidIdToken(format!(
                "the sign-in asked for max_age {max_age} s, but the id_token has no auth_time (OpenID Connect requires it then)"
            )));
        };
        let age = now.unix_timestamp().saturating_sub(auth_time);
        let allowed = i64::try_from(max_age)
            .unwrap_or(i64::MAX)
            .saturating_add(CLOCK_SKEW.whole_seconds());
        if age > allowed {
            return Err(Error::InvalidIdToken(format!(
                "the sign-in asked for max_age {max_age} s, but the provider reports the last authentication {age} s ago (it did not ask you to sign in again); the account's tokens are unchanged"
            )));
        }
    }
    if let Some(wanted) = acr_values {
        let got = claims.get("acr").and_then(serde_json::Value::as_str);
        if !got.is_some_and(|g| wanted.split_whitespace().any(|w| w == g)) {
            return Ok(Some(format!(
                "the sign-in asked for acr_values `{}`, the provider reports {}; the resource may still refuse the token",
                crate::text::clean(wanted, crate::text::MAX_DESCRIPTION),
                match got {
                    Some(g) => format!("`{}`", crate::text::clean(g, crate::text::MAX_DESCRIPTION)),
                    None => "no acr".to_string(),
                }
            )));
        }
    }
    Ok(None)
}

/// Refuses an HMAC-signed (HS256/384/512) token whose signature is not exactly the MAC's
/// length: openidconnect 4.1 converts it into a fixed-size array and *panics* otherwise (found
/// by fuzzing, FUZZING.md). Other shapes are left to openidconnect, which rejects them.
fn check_hmac_signature_length(raw: &str) -> Result<()> {
    // Not three parts, or not JSON: openidconnect rejects it without looking at a signature.
    let Some(jwt) = crate::jwt::UnverifiedJwt::parse(raw) else {
        if raw.split('.').count() != 3 {
            return Err(Error::InvalidIdToken(
                "it is not a signed JWT (three base64url parts)".into(),
            ));
        }
        return Ok(());
    };
    let Some(alg) = jwt.header().get("alg").and_then(|a| a.as_str()) else {
        return Ok(());
    };
    let want = match alg {
        "HS256" => 32,
        "HS384" => 48,
        "HS512" => 64,
        _ => return Ok(()),
    };
    // Strict base64url: a lenient decoder elsewhere must never see what this one refuses.
    match jwt.signature_bytes() {
        Some(sig) if sig.len() == want => Ok(()),
        Some(sig) => Err(Error::InvalidIdToken(format!(
            "its {alg} signature is {} bytes long, not {want}",
            sig.len()
        ))),
        None => Err(Error::InvalidIdToken(format!(
            "its {alg} signature is not base64url"
        ))),
    }
}

/// Validates an id_token and returns the identity it asserts.
pub fn validate_id_token(raw: &Secret, check: &IdTokenCheck<'_>) -> Result<Identity> {
    // The reasons quote the token's claims (audiences, issuer): provider text, sanitized.
    validate_id_token_inner(raw, check).map_err(|e| match e {
        Error::InvalidIdToken(m) => {
            Error::InvalidIdToken(crate::text::clean(&m, 2 * crate::text::MAX_DESCRIPTION))
        }
        other => other,
    })
}

fn validate_id_token_inner(raw: &Secret, check: &IdTokenCheck<'_>) -> Result<Identity> {
    check_hmac_signature_length(raw.expose())?;
    let token: CoreIdToken = raw
        .expose()
        .parse()
        .map_err(|_| Error::InvalidIdToken("it is not a well-formed JWT".into()))?;
    let mut algs: Vec<CoreJwsSigningAlgorithm> = check
        .algs
        .iter()
        .filter(|a| !a.eq_ignore_ascii_case("none"))
        .filter_map(|a| serde_json::from_value(serde_json::Value::String(a.clone())).ok())
        .collect();
    if algs.is_empty() {
        algs.push(CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256);
    }
    let issuer_exact = IssuerUrl::new(check.issuer.to_string())
        .map_err(|e| Error::InvalidIdToken(format!("bad issuer: {e}")))?;
    let client_id = ClientId::new(check.client_id.to_string());
    let mut verifier = match check.client_secret {
        Some(secret) => CoreIdTokenVerifier::new_confidential_client(
            client_id,
            ClientSecret::new(secret.expose().to_string()),
            issuer_exact,
            check.jwks.clone(),
        ),
        None => CoreIdTokenVerifier::new_public_client(client_id, issuer_exact, check.jwks.clone()),
    }
    .set_allowed_algs(algs);
    // The issuer is compared below (exactly, or against the template).
    verifier = verifier.require_issuer_match(false);
    let skewed_now = to_chrono(check.now - CLOCK_SKEW);
    let latest_iat = to_chrono(check.now + CLOCK_SKEW);
    verifier = verifier
        .set_time_fn(move || skewed_now)
        .set_issue_time_verifier_fn(move |iat| {
            if iat > latest_iat {
                Err("issued in the future".to_string())
            } else {
                Ok(())
            }
        });
    let expected_nonce = check.nonce.map(|n| Nonce::new(n.expose().to_string()));
    let claims = token
        .claims(&verifier, |got: Option<&Nonce>| {
            match (&expected_nonce, got) {
                (Some(want), Some(got)) if ct_eq(want.secret(), got.secret()) => Ok(()),
                (Some(_), Some(_)) => Err("the nonce does not match this sign-in".to_string()),
                (Some(_), None) => Err("the nonce is missing".to_string()),
                (None, _) => Ok(()),
            }
        })
        .map_err(|e| Error::InvalidIdToken(describe_claims_error(&e)))?;

    let iss = claims.issuer().as_str();
    let want = check.issuer.as_str();
    // A templated issuer (Entra `{tenantid}`) must name the token's own tenant (`tid`),
    // not just any tenant.
    let tid = tenant_claim(raw);
    let iss_ok = crate::issuer::issuer_matches(
        iss,
        want,
        check.issuer_template,
        crate::issuer::Tenant::Claimed(tid.as_deref()),
    );
    if !iss_ok {
        return Err(Error::InvalidIdToken(format!(
            "it was issued by `{}`, expected `{want}`",
            crate::text::clean(iss, crate::text::MAX_URI)
        )));
    }
    if let Some(azp) = claims.authorized_party()
        && azp.as_str() != check.client_id
    {
        return Err(Error::InvalidIdToken(format!(
            "its authorized party (azp) is `{}`, not this client",
            azp.as_str()
        )));
    }
    // Compared in the form it is stored in (see `Identity::sanitized`).
    let sub = crate::text::clean(claims.subject().as_str(), crate::text::MAX_IDENTITY);
    if let Some(expected) = check.expected_sub
        && expected != sub
    {
        return Err(Error::InvalidIdToken(
            "the refreshed id_token is about another user (sub changed)".into(),
        ));
    }
    Ok(Identity {
        sub,
        email: claims.email().map(|e| e.as_str().to_string()),
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_string()),
        username: claims.preferred_username().map(|u| u.as_str().to_string()),
    }
    .sanitized())
}

fn describe_claims_error(e: &openidconnect::ClaimsVerificationError) -> String {
    use openidconnect::ClaimsVerificationError as C;
    match e {
        C::Expired(_) => "it has expired (check the computer's clock)".into(),
        C::InvalidAudience(m) => format!("wrong audience: {m}"),
        C::InvalidIssuer(m) => format!("wrong issuer: {m}"),
        C::InvalidNonce(m) => format!("nonce check failed: {m}"),
        C::SignatureVerification(s) => format!("its signature is invalid: {s}"),
        C::Unsupported(m) => format!("unsupported: {m}"),
        C::InvalidAuthTime(m) | C::InvalidAuthContext(m) => m.clone(),
        C::Other(m) => m.clone(),
        other => other.to_string(),
    }
}

/// Fetches and parses the provider's JWKS.
pub async fn fetch_jwks(http: &HttpClient, jwks_uri: &Url) -> Result<CoreJsonWebKeySet> {
    let resp = http.get(jwks_uri, None).await?;
    if resp.status >= 500 {
        return Err(Error::Unreachable {
            url: resp.url.clone(),
            detail: format!("HTTP {} with {}", resp.status, resp.error_page_summary()),
        });
    }
    if resp.status != 200 {
        return Err(Error::BadResponse {
            url: resp.url.clone(),
            status: resp.status,
            detail: format!(
                "could not fetch the signing keys: {}",
                resp.error_page_summary()
            ),
        });
    }
    serde_json::from_slice(&resp.body).map_err(|e| Error::BadResponse {
        url: resp.url.clone(),
        status: resp.status,
        detail: format!("the key set is not valid JWKS JSON ({e})"),
    })
}

/// How long cached JWKS are trusted before they are fetched again.
pub const JWKS_CACHE_TTL: time::Duration = time::Duration::hours(24);

#[derive(serde::Serialize, Deserialize)]
struct CachedJwks {
    #[serde(with = "time::serde::rfc3339")]
    fetched_at: OffsetDateTime,
    jwks: CoreJsonWebKeySet,
}

/// Reads a JWKS cache file if it is younger than [`JWKS_CACHE_TTL`].
pub fn read_cached_jwks(path: &std::path::Path, now: OffsetDateTime) -> Option<CoreJsonWebKeySet> {
    let text = std::fs::read_to_string(path).ok()?;
    let cached: CachedJwks = serde_json::from_str(&text).ok()?;
    let age = now - cached.fetched_at;
    (age >= time::Duration::ZERO && age < JWKS_CACHE_TTL).then_some(cached.jwks)
}

/// Writes a JWKS cache file atomically (failures only cost a request later).
pub fn write_cached_jwks(path: &std::path::Path, jwks: &CoreJsonWebKeySet, now: OffsetDateTime) {
    let Some(dir) = path.parent() else { return };
    let write = || -> std::io::Result<()> {
        crate::private::create_dir(dir)?;
        let text = serde_json::to_string(&CachedJwks {
            fetched_at: now,
            jwks: jwks.clone(),
        })
        .map_err(std::io::Error::other)?;
        crate::private::write_atomic(path, text.as_bytes())
    };
    if let Err(e) = write() {
        tracing::debug!(error = %e, "could not cache the provider's keys");
    }
}

#[derive(Deserialize)]
struct UserInfo {
    sub: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
}

/// Fetches OIDC userinfo. Its values are used only if its `sub` equals `sub`.
pub async fn fetch_userinfo(
    http: &HttpClient,
    url: &Url,
    token: crate::http::Presented<'_>,
    sub: &str,
) -> Result<Option<Identity>> {
    // Through the resource-request path, so DPoP-bound tokens carry their proof.
    let request = crate::http::ResourceRequest {
        method: "GET".into(),
        url: url.clone(),
        headers: vec![("Accept".into(), "application/json".into())],
        body: None,
    };
    let resp = http.resource_request(&request, token).await?;
    if resp.status != 200 {
        tracing::debug!(status = resp.status, "userinfo not available");
        return Ok(None);
    }
    let ct = resp.content_type();
    if ct == "application/jwt" {
        // Signed userinfo: not needed for identity display; skip.
        return Ok(None);
    }
    let Ok(info) = serde_json::from_slice::<UserInfo>(&resp.body) else {
        tracing::debug!("userinfo response not understood; ignored");
        return Ok(None);
    };
    if crate::text::clean(&info.sub, crate::text::MAX_IDENTITY) != sub {
        tracing::warn!("userinfo sub differs from the id_token; userinfo ignored");
        return Ok(None);
    }
    Ok(Some(
        Identity {
            sub: info.sub,
            email: info.email,
            name: info.name,
            username: info.preferred_username,
        }
        .sanitized(),
    ))
}

#[derive(Deserialize)]
struct GithubUser {
    id: serde_json::Value,
    login: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

/// GitHub-style identity (`GET /user`): `id` becomes `sub`, `login` the user name.
pub async fn fetch_github_user(
    http: &HttpClient,
    url: &Url,
    access_token: &Secret,
) -> Result<Identity> {
    let resp = http
        .get_with(
            url,
            Some(access_token),
            &[("Accept", "application/vnd.github+json")],
        )
        .await?;
    if resp.status >= 500 {
        return Err(Error::Unreachable {
            url: resp.url.clone(),
            detail: format!("HTTP {}", resp.status),
        });
    }
    if resp.status != 200 {
        return Err(Error::BadResponse {
            url: resp.url.clone(),
            status: resp.status,
            detail: "could not read the signed-in user".into(),
        });
    }
    let user: GithubUser = serde_json::from_slice(&resp.body).map_err(|_| Error::BadResponse {
        url: resp.url.clone(),
        status: resp.status,
        detail: "the user response is not understood".into(),
    })?;
    let sub = match user.id {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s,
        _ => user.login.clone(),
    };
    Ok(Identity {
        sub,
        email: user.email,
        name: user.name,
        username: Some(user.login),
    }
    .sanitized())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_template() {
        let t = "https://login.microsoftonline.com/{tenantid}/v2.0";
        assert!(matches_template(
            "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
            t
        ));
        assert!(!matches_template("https://evil.example/9188040d/v2.0", t));
        assert!(!matches_template(
            "https://login.microsoftonline.com/a/b/v2.0",
            t
        ));
        assert!(!matches_template(
            "https://login.microsoftonline.com//v2.0",
            t
        ));
    }

    #[test]
    fn step_up_checks_auth_time_against_max_age_and_reports_another_acr() {
        use base64::Engine;
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let jwt = |claims: &str| {
            Secret::new(format!("{}.{}.sig", enc(r#"{"alg":"RS256"}"#), enc(claims)))
        };
        let now = OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap();
        let fresh = jwt(r#"{"auth_time":1899999990,"acr":"urn:mfa"}"#);
        assert_eq!(
            check_step_up(&fresh, Some(60), Some("urn:mfa urn:phr"), now).unwrap(),
            None
        );
        // An authentication older than max_age (+ skew) is refused, a missing auth_time too.
        let old = jwt(r#"{"auth_time":1899990000,"acr":"urn:mfa"}"#);
        let e = check_step_up(&old, Some(60), None, now)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("max_age 60 s") && e.contains("10000 s ago"),
            "{e}"
        );
        let none = jwt(r#"{"acr":"urn:mfa"}"#);
        assert!(check_step_up(&none, Some(60), None, now).is_err());
        assert_eq!(check_step_up(&none, None, None, now).unwrap(), None);
        // Another acr, or none: reported, not refused.
        let weak = jwt(r#"{"auth_time":1899999990,"acr":"urn:pwd"}"#);
        let note = check_step_up(&weak, Some(60), Some("urn:mfa"), now)
            .unwrap()
            .unwrap();
        assert!(
            note.contains("`urn:pwd`") && note.contains("`urn:mfa`"),
            "{note}"
        );
        let note = check_step_up(&jwt("{}"), None, Some("urn:mfa"), now)
            .unwrap()
            .unwrap();
        assert!(note.contains("no acr"), "{note}");
    }

    #[test]
    fn tenant_claim_is_read_from_the_payload() {
        use base64::Engine;
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let jwt = format!(
            "{}.{}.sig",
            enc(r#"{"alg":"RS256"}"#),
            enc(r#"{"tid":"9188040d-6c67-4c5b-b112-36a304b66dad"}"#)
        );
        assert_eq!(
            tenant_claim(&Secret::new(jwt)).as_deref(),
            Some("9188040d-6c67-4c5b-b112-36a304b66dad")
        );
        let no_tid = format!("{}.{}.sig", enc("{}"), enc(r#"{"sub":"x"}"#));
        assert_eq!(tenant_claim(&Secret::new(no_tid)), None);
        assert_eq!(tenant_claim(&Secret::new("garbage")), None);
    }

    #[test]
    fn jwks_cache_expires() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache/jwks-x.json");
        let jwks: CoreJsonWebKeySet = serde_json::from_str(r#"{"keys":[]}"#).unwrap();
        let now = OffsetDateTime::now_utc();
        assert!(read_cached_jwks(&path, now).is_none());
        write_cached_jwks(&path, &jwks, now);
        assert!(read_cached_jwks(&path, now + time::Duration::hours(1)).is_some());
        assert!(read_cached_jwks(&path, now + JWKS_CACHE_TTL).is_none());
        assert!(read_cached_jwks(&path, now - time::Duration::hours(1)).is_none());
    }

    #[test]
    fn garbage_is_rejected() {
        let jwks: CoreJsonWebKeySet = serde_json::from_str(r#"{"keys":[]}"#).unwrap();
        let iss = Url::parse("https://idp.example").unwrap();
        let check = IdTokenCheck {
            client_id: "c",
            client_secret: None,
            issuer: &iss,
            issuer_template: None,
            jwks: &jwks,
            algs: &[],
            nonce: None,
            expected_sub: None,
            now: OffsetDateTime::now_utc(),
        };
        let e = validate_id_token(&Secret::new("not.a.jwt"), &check).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidIdToken);
        // alg=none with an empty signature.
        let none = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIiwic3ViIjoieCIsImF1ZCI6ImMiLCJleHAiOjQxMDI0NDQ4MDAsImlhdCI6MH0.";
        let e = validate_id_token(&Secret::new(none), &check).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidIdToken);
    }
}
