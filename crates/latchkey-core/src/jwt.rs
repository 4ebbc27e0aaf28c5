//! Reading a JWT **without verifying it**: [`UnverifiedJwt`], the one decoder of a JWS compact
//! serialization (`header.payload.signature`) in Latchkey, named for what it is not. What it
//! yields is never trusted for a decision about who someone is — that is
//! [`crate::oidc::validate_id_token`]'s job, which verifies the signature. It serves the
//! checks around that validation and the notes Latchkey shows: a refresh token's `exp`
//! (Keycloak), an access token's `aud`, an Entra id_token's `tid`, a step-up's `auth_time`/`acr`,
//! and the HMAC signature length that openidconnect would panic on.
//!
//! A JWT here has exactly three parts; the header and payload are base64url (padding tolerated)
//! JSON objects. Anything else — opaque tokens, JWE's five parts — is `None`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// A JWT's decoded header and claims, and its signature as sent. Not verified.
#[derive(Debug, Clone)]
pub struct UnverifiedJwt {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    signature: String,
}

impl UnverifiedJwt {
    /// Decodes `token`; `None` unless it is a three-part JWT with JSON-object header and
    /// payload.
    pub fn parse(token: &str) -> Option<Self> {
        let mut parts = token.split('.');
        let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        Some(UnverifiedJwt {
            header: object(header)?,
            claims: object(payload)?,
            signature: signature.to_string(),
        })
    }

    /// The header (`alg`, `kid`, `typ`…).
    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }

    /// The payload's claims, as sent: not verified.
    pub fn unverified_claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// A string claim.
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name)?.as_str()
    }

    /// The signature's bytes, strictly base64url without padding (`None` when it is not).
    pub fn signature_bytes(&self) -> Option<Vec<u8>> {
        URL_SAFE_NO_PAD.decode(&self.signature).ok()
    }

    /// `aud` as a list (a single string is one audience).
    pub fn audiences(&self) -> Option<Vec<String>> {
        match self.claims.get("aud")? {
            Value::String(s) => Some(vec![s.clone()]),
            Value::Array(a) => Some(
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
            ),
            _ => None,
        }
    }
}

fn object(part: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn enc(v: &str) -> String {
        URL_SAFE_NO_PAD.encode(v)
    }

    #[test]
    fn three_parts_with_object_header_and_payload_only() {
        let h = enc(r#"{"alg":"HS256"}"#);
        let p = enc(r#"{"aud":["a","b"],"exp":5,"tid":"t"}"#);
        let jwt = UnverifiedJwt::parse(&format!("{h}.{p}.{}", enc("sig"))).unwrap();
        assert_eq!(jwt.header()["alg"], "HS256");
        assert_eq!(jwt.audiences().unwrap(), vec!["a", "b"]);
        assert_eq!(jwt.claim_str("tid"), Some("t"));
        assert_eq!(jwt.signature_bytes().unwrap(), b"sig");
        // Padding on the payload is tolerated; the signature must be strict.
        let padded = format!("{h}.{}==.{}=", enc(r#"{"aud":"x"}"#), enc("s"));
        let jwt = UnverifiedJwt::parse(&padded).unwrap();
        assert_eq!(jwt.audiences().unwrap(), vec!["x"]);
        assert!(jwt.signature_bytes().is_none());
        // Not JWTs: opaque, two parts, five parts (JWE), a payload that is not an object.
        for t in [
            "opaque-token".to_string(),
            format!("{h}.{p}"),
            format!("{h}.{p}.s.x.y"),
            format!("{h}.{}.s", enc("[1]")),
            format!("{h}.%%%.s"),
        ] {
            assert!(UnverifiedJwt::parse(&t).is_none(), "{t}");
        }
    }
}
