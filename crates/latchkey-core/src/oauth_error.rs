//! Typed OAuth error codes, in the shape of oauth2-rs's `BasicErrorResponseType` and
//! `DeviceCodeErrorResponseType`: the codes of RFC 6749 §5.2, RFC 8628 §3.5, RFC 6750 §3.1 and
//! RFC 9449 that Latchkey acts on, plus [`OAuthErrorCode::Extension`] for any other code, kept
//! verbatim. Code that decides what to do matches on the enum, never on strings.
//!
//! [`OAuthErrorBody`] is the JSON body that carries one (`error`, `error_description`,
//! `error_uri`): read by the token protocol (`token.rs`) and by the HTTP layer (`http.rs`, a
//! resource server's error), so it lives here, below both.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An OAuth `error` code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OAuthErrorCode {
    /// `invalid_request` (RFC 6749 §5.2).
    InvalidRequest,
    /// `invalid_client`.
    InvalidClient,
    /// `invalid_grant`: the code, refresh token or device code is no longer accepted.
    InvalidGrant,
    /// `unauthorized_client`.
    UnauthorizedClient,
    /// `unsupported_grant_type`.
    UnsupportedGrantType,
    /// `invalid_scope`.
    InvalidScope,
    /// `access_denied` (also RFC 8628 §3.5 and the authorization response).
    AccessDenied,
    /// `server_error` (authorization response).
    ServerError,
    /// `temporarily_unavailable` (authorization response).
    TemporarilyUnavailable,
    /// `authorization_pending` (RFC 8628): keep polling.
    AuthorizationPending,
    /// `slow_down` (RFC 8628): keep polling, less often.
    SlowDown,
    /// `expired_token` (RFC 8628): the device code expired.
    ExpiredToken,
    /// `invalid_token` (RFC 6750 §3.1): a resource server rejected the access token.
    InvalidToken,
    /// `use_dpop_nonce` (RFC 9449 §8): retry with the server's nonce.
    UseDpopNonce,
    /// GitHub's `incorrect_client_credentials` (its spelling of `invalid_client`).
    IncorrectClientCredentials,
    /// Any other code, as the provider spelled it.
    Extension(String),
}

impl OAuthErrorCode {
    /// Parses a code (exact, case-sensitive as the RFCs define them).
    pub fn parse(code: &str) -> Self {
        use OAuthErrorCode::*;
        match code {
            "invalid_request" => InvalidRequest,
            "invalid_client" => InvalidClient,
            "invalid_grant" => InvalidGrant,
            "unauthorized_client" => UnauthorizedClient,
            "unsupported_grant_type" => UnsupportedGrantType,
            "invalid_scope" => InvalidScope,
            "access_denied" => AccessDenied,
            "server_error" => ServerError,
            "temporarily_unavailable" => TemporarilyUnavailable,
            "authorization_pending" => AuthorizationPending,
            "slow_down" => SlowDown,
            "expired_token" => ExpiredToken,
            "invalid_token" => InvalidToken,
            "use_dpop_nonce" => UseDpopNonce,
            "incorrect_client_credentials" => IncorrectClientCredentials,
            other => Extension(other.to_string()),
        }
    }

    /// The code as sent on the wire.
    pub fn as_str(&self) -> &str {
        use OAuthErrorCode::*;
        match self {
            InvalidRequest => "invalid_request",
            InvalidClient => "invalid_client",
            InvalidGrant => "invalid_grant",
            UnauthorizedClient => "unauthorized_client",
            UnsupportedGrantType => "unsupported_grant_type",
            InvalidScope => "invalid_scope",
            AccessDenied => "access_denied",
            ServerError => "server_error",
            TemporarilyUnavailable => "temporarily_unavailable",
            AuthorizationPending => "authorization_pending",
            SlowDown => "slow_down",
            ExpiredToken => "expired_token",
            InvalidToken => "invalid_token",
            UseDpopNonce => "use_dpop_nonce",
            IncorrectClientCredentials => "incorrect_client_credentials",
            Extension(s) => s,
        }
    }

    /// The client was not accepted (`invalid_client`, `unauthorized_client`, GitHub's
    /// `incorrect_client_credentials`).
    pub fn is_client_rejected(&self) -> bool {
        matches!(
            self,
            OAuthErrorCode::InvalidClient
                | OAuthErrorCode::UnauthorizedClient
                | OAuthErrorCode::IncorrectClientCredentials
        )
    }
}

impl From<&str> for OAuthErrorCode {
    fn from(code: &str) -> Self {
        OAuthErrorCode::parse(code)
    }
}

impl From<String> for OAuthErrorCode {
    fn from(code: String) -> Self {
        OAuthErrorCode::parse(&code)
    }
}

/// Compares with the code as spelled on the wire (for code written before the enum; prefer
/// matching on the variants).
impl PartialEq<str> for OAuthErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for OAuthErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for OAuthErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for OAuthErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(OAuthErrorCode::from)
    }
}

/// An OAuth error response body.
#[derive(Debug, Clone, Deserialize)]
pub struct OAuthErrorBody {
    /// The error code.
    pub error: OAuthErrorCode,
    /// Human description.
    #[serde(default)]
    pub error_description: Option<String>,
    /// A page about the error.
    #[serde(default)]
    pub error_uri: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_are_kept() {
        for code in [
            "invalid_request",
            "invalid_client",
            "invalid_grant",
            "unauthorized_client",
            "unsupported_grant_type",
            "invalid_scope",
            "access_denied",
            "server_error",
            "temporarily_unavailable",
            "authorization_pending",
            "slow_down",
            "expired_token",
            "invalid_token",
            "use_dpop_nonce",
            "incorrect_client_credentials",
        ] {
            let parsed = OAuthErrorCode::parse(code);
            assert!(!matches!(parsed, OAuthErrorCode::Extension(_)), "{code}");
            assert_eq!(parsed.as_str(), code);
        }
        let other = OAuthErrorCode::parse("consent_required");
        assert_eq!(other, OAuthErrorCode::Extension("consent_required".into()));
        assert_eq!(other.to_string(), "consent_required");
        // Codes are case-sensitive: a differently spelled code is not mistaken for a known one.
        assert!(matches!(
            OAuthErrorCode::parse("Invalid_Grant"),
            OAuthErrorCode::Extension(_)
        ));
        let json: OAuthErrorCode = serde_json::from_str("\"slow_down\"").unwrap();
        assert_eq!(json, OAuthErrorCode::SlowDown);
        assert_eq!(serde_json::to_string(&json).unwrap(), "\"slow_down\"");
        assert!(json == "slow_down" && json != "authorization_pending");
    }
}
