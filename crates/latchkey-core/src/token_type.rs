//! The type of an access token (RFC 6749 §7.1): [`TokenType`], how a token is presented to a
//! resource server (`Bearer`, RFC 6750; `DPoP`, RFC 9449) — a token endpoint answers with it,
//! a token set stores it, the HTTP layer presents by it and the bearer-only tools check it.
//! Below every other module (it imports none), so `http` and `token` both use it without a
//! loop.

use serde::{Deserialize, Serialize};

/// How an access token is presented (RFC 6749 §7.1): `Bearer` (RFC 6750), `DPoP`
/// (RFC 9449, with a proof per request), or another type, kept as the provider spelled it.
/// Read case-insensitively; written (stored, sent on the agent's wire, shown) as one string:
/// `Bearer`, `DPoP`, or the other type's own spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TokenType {
    /// `Bearer`.
    Bearer,
    /// `DPoP`.
    DPoP,
    /// Any other type (also the `id_token` a tool is given in place of an access token).
    Other(String),
}

impl TokenType {
    /// `s` as a token type, case-insensitively (`bearer` is [`TokenType::Bearer`]).
    pub fn parse(s: &str) -> TokenType {
        if s.eq_ignore_ascii_case("bearer") {
            TokenType::Bearer
        } else if s.eq_ignore_ascii_case("dpop") {
            TokenType::DPoP
        } else {
            TokenType::Other(s.to_string())
        }
    }

    /// The type as written: `Bearer`, `DPoP`, or the other type's own spelling.
    pub fn as_str(&self) -> &str {
        match self {
            TokenType::Bearer => "Bearer",
            TokenType::DPoP => "DPoP",
            TokenType::Other(s) => s,
        }
    }

    /// True for a bearer token (sent as it is, no proof).
    pub fn is_bearer(&self) -> bool {
        *self == TokenType::Bearer
    }

    /// True for a DPoP-bound token (needs a proof with the account's key per request).
    pub fn is_dpop(&self) -> bool {
        *self == TokenType::DPoP
    }
}

impl std::fmt::Display for TokenType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for TokenType {
    fn from(s: &str) -> Self {
        TokenType::parse(s)
    }
}

impl Serialize for TokenType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TokenType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(TokenType::parse(&s))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn token_types_read_case_insensitively_and_keep_other_spellings() {
        assert_eq!(TokenType::parse("bEaReR"), TokenType::Bearer);
        assert_eq!(TokenType::parse("dpop"), TokenType::DPoP);
        assert!(TokenType::parse("BEARER").is_bearer() && TokenType::parse("DPOP").is_dpop());
        let mac = TokenType::parse("MAC");
        assert_eq!(mac, TokenType::Other("MAC".into()));
        assert!(!mac.is_bearer() && !mac.is_dpop());
        // One string on every wire, with the canonical or the provider's spelling.
        assert_eq!(
            serde_json::to_string(&TokenType::DPoP).unwrap(),
            r#""DPoP""#
        );
        assert_eq!(serde_json::to_string(&mac).unwrap(), r#""MAC""#);
        assert_eq!(
            serde_json::from_str::<TokenType>(r#""bearer""#).unwrap(),
            TokenType::Bearer
        );
        assert_eq!(mac.to_string(), "MAC");
    }
}
