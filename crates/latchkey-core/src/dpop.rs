//! DPoP (RFC 9449): sender-constrained tokens.
//!
//! A [`DpopKey`] is an ES256 (P-256) key pair, one per account, generated once from the OS
//! CSPRNG and kept in the keychain as a JWK with its private part (`<id>/dpop-key`). Every
//! request that uses or obtains a DPoP-bound token carries a fresh proof ([`DpopKey::proof`]):
//! a JWT with header `typ: dpop+jwt`, `alg: ES256` and the public `jwk`, and claims `jti`
//! (random, unique), `htm` (method), `htu` (the URL without query and fragment), `iat`, plus
//! `nonce` when the server issued one and `ath` (base64url SHA-256 of the access token) on
//! resource requests. The server nonce handling (`use_dpop_nonce`, one retry, latest nonce
//! per origin) lives in [`crate::http`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use rand::TryRngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use crate::error::{Error, KeychainProblem, Result};
use crate::secret::Secret;

/// The only proof algorithm Latchkey uses.
pub const DPOP_ALG: &str = "ES256";

/// An account's DPoP key pair. `Debug` never shows the private key.
#[derive(Clone)]
pub struct DpopKey {
    key: SigningKey,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey")
            .field("thumbprint", &self.thumbprint())
            .finish_non_exhaustive()
    }
}

/// The public JWK of a P-256 key (RFC 7517/7518), members in RFC 7638 order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    /// Curve: `P-256`.
    pub crv: String,
    /// Key type: `EC`.
    pub kty: String,
    /// X coordinate, base64url.
    pub x: String,
    /// Y coordinate, base64url.
    pub y: String,
}

/// The stored form: the public JWK plus `d`.
#[derive(Serialize, Deserialize)]
struct PrivateJwk {
    kty: String,
    crv: String,
    x: String,
    y: String,
    d: Secret,
}

/// What a proof is for.
#[derive(Debug, Clone, Copy)]
pub struct ProofInput<'a> {
    /// HTTP method (`POST`, `GET`, …).
    pub method: &'a str,
    /// The request URL (query and fragment are stripped for `htu`).
    pub url: &'a Url,
    /// The server's latest `DPoP-Nonce`, if any.
    pub nonce: Option<&'a str>,
    /// The access token sent with the request (resource requests): adds `ath`.
    pub access_token: Option<&'a Secret>,
    /// Seconds since the Unix epoch (`iat`).
    pub now: i64,
}

/// `htu`: scheme, authority and path of the URL, without query and fragment (RFC 9449 §4.2).
pub fn htu(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// `ath`: base64url(SHA-256(access token)).
pub fn ath(access_token: &Secret) -> String {
    B64.encode(Sha256::digest(access_token.expose().as_bytes()))
}

impl DpopKey {
    /// A fresh key from the OS CSPRNG.
    pub fn generate() -> Result<Self> {
        for _ in 0..8 {
            let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
            OsRng
                .try_fill_bytes(bytes.as_mut())
                .map_err(|e| Error::Other(format!("the OS random number generator failed: {e}")))?;
            // A 32-byte string is a valid scalar except with probability ~2^-32.
            if let Ok(key) = SigningKey::from_slice(bytes.as_ref()) {
                return Ok(DpopKey { key });
            }
        }
        Err(Error::Other("could not generate a DPoP key".into()))
    }

    /// The public key as a JWK.
    pub fn public_jwk(&self) -> PublicJwk {
        let point = self.key.verifying_key().to_sec1_point(false);
        let coord = |c: Option<&[u8]>| c.map(|b| B64.encode(b)).unwrap_or_default();
        PublicJwk {
            crv: "P-256".into(),
            kty: "EC".into(),
            x: coord(point.x().map(|a| a.as_slice())),
            y: coord(point.y().map(|a| a.as_slice())),
        }
    }

    /// The RFC 7638 JWK thumbprint (what the server binds tokens to: `cnf.jkt`).
    pub fn thumbprint(&self) -> String {
        let jwk = self.public_jwk();
        let canonical = format!(
            r#"{{"crv":"{}","kty":"{}","x":"{}","y":"{}"}}"#,
            jwk.crv, jwk.kty, jwk.x, jwk.y
        );
        B64.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// Serializes the key pair (private part included) for the keychain.
    pub fn to_secret(&self) -> Result<Secret> {
        let jwk = self.public_jwk();
        let private = PrivateJwk {
            kty: jwk.kty,
            crv: jwk.crv,
            x: jwk.x,
            y: jwk.y,
            d: Secret::new(B64.encode(self.key.to_bytes())),
        };
        serde_json::to_string(&private)
            .map(Secret::new)
            .map_err(|e| Error::Other(format!("cannot serialize the DPoP key: {e}")))
    }

    /// Parses what [`DpopKey::to_secret`] wrote (checks that the public part matches).
    pub fn from_secret(s: &Secret) -> Result<Self> {
        let corrupt = || Error::keychain(KeychainProblem::Corrupt, "the stored DPoP key");
        let private: PrivateJwk = serde_json::from_str(s.expose()).map_err(|_| corrupt())?;
        if private.kty != "EC" || private.crv != "P-256" {
            return Err(corrupt());
        }
        let d = zeroize::Zeroizing::new(
            B64.decode(private.d.expose().as_bytes())
                .map_err(|_| corrupt())?,
        );
        let key = SigningKey::from_slice(&d).map_err(|_| corrupt())?;
        let me = DpopKey { key };
        let public = me.public_jwk();
        if public.x != private.x || public.y != private.y {
            return Err(corrupt());
        }
        Ok(me)
    }

    /// A DPoP proof JWT for one request (see the module docs).
    pub fn proof(&self, input: &ProofInput<'_>) -> Result<String> {
        let header = serde_json::json!({
            "typ": "dpop+jwt",
            "alg": DPOP_ALG,
            "jwk": self.public_jwk(),
        });
        let jti = crate::flow::pkce::random_token(16)?;
        let mut claims = serde_json::json!({
            "jti": jti.expose(),
            "htm": input.method.to_ascii_uppercase(),
            "htu": htu(input.url),
            "iat": input.now,
        });
        if let Some(obj) = claims.as_object_mut() {
            if let Some(nonce) = input.nonce {
                obj.insert("nonce".into(), nonce.into());
            }
            if let Some(token) = input.access_token {
                obj.insert("ath".into(), ath(token).into());
            }
        }
        let encode = |v: &serde_json::Value| -> Result<String> {
            serde_json::to_vec(v)
                .map(|b| B64.encode(b))
                .map_err(|e| Error::Other(format!("cannot build a DPoP proof: {e}")))
        };
        let signing_input = format!("{}.{}", encode(&header)?, encode(&claims)?);
        let signature: Signature = self.key.sign(signing_input.as_bytes());
        Ok(format!(
            "{signing_input}.{}",
            B64.encode(signature.to_bytes())
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;

    fn parts(jwt: &str) -> (serde_json::Value, serde_json::Value, Vec<u8>, String) {
        let mut it = jwt.split('.');
        let h = it.next().unwrap();
        let c = it.next().unwrap();
        let s = it.next().unwrap();
        assert!(it.next().is_none());
        (
            serde_json::from_slice(&B64.decode(h).unwrap()).unwrap(),
            serde_json::from_slice(&B64.decode(c).unwrap()).unwrap(),
            B64.decode(s).unwrap(),
            format!("{h}.{c}"),
        )
    }

    #[test]
    fn proof_has_the_rfc_9449_shape_and_verifies_with_its_jwk() {
        let key = DpopKey::generate().unwrap();
        let url = Url::parse("https://as.example/token?x=1#frag").unwrap();
        let jwt = key
            .proof(&ProofInput {
                method: "post",
                url: &url,
                nonce: None,
                access_token: None,
                now: 1_700_000_000,
            })
            .unwrap();
        let (h, c, sig, input) = parts(&jwt);
        assert_eq!(h["typ"], "dpop+jwt");
        assert_eq!(h["alg"], "ES256");
        assert_eq!(h["jwk"]["kty"], "EC");
        assert_eq!(h["jwk"]["crv"], "P-256");
        assert!(h["jwk"].get("d").is_none(), "never the private key");
        assert_eq!(c["htm"], "POST");
        assert_eq!(c["htu"], "https://as.example/token");
        assert_eq!(c["iat"], 1_700_000_000);
        assert!(c["jti"].as_str().unwrap().len() >= 22);
        assert!(c.get("ath").is_none());
        assert!(c.get("nonce").is_none());
        // The signature is the 64-byte r||s form JWS wants, valid for the embedded key.
        assert_eq!(sig.len(), 64);
        let x = B64.decode(h["jwk"]["x"].as_str().unwrap()).unwrap();
        let y = B64.decode(h["jwk"]["y"].as_str().unwrap()).unwrap();
        let mut sec1 = vec![4u8];
        sec1.extend_from_slice(&x);
        sec1.extend_from_slice(&y);
        let vk = VerifyingKey::from_sec1_bytes(&sec1).unwrap();
        let sig = Signature::from_slice(&sig).unwrap();
        vk.verify(input.as_bytes(), &sig).unwrap();
    }

    #[test]
    fn resource_proofs_carry_ath_and_nonce_and_fresh_jti() {
        let key = DpopKey::generate().unwrap();
        let url = Url::parse("https://api.example/v1/me?q=1").unwrap();
        let token = Secret::new("access-token-value");
        let input = ProofInput {
            method: "GET",
            url: &url,
            nonce: Some("n-1"),
            access_token: Some(&token),
            now: 5,
        };
        let (_, c1, _, _) = parts(&key.proof(&input).unwrap());
        let (_, c2, _, _) = parts(&key.proof(&input).unwrap());
        assert_eq!(c1["nonce"], "n-1");
        assert_eq!(c1["htu"], "https://api.example/v1/me");
        let want = B64.encode(Sha256::digest(b"access-token-value"));
        assert_eq!(c1["ath"], want.as_str());
        assert_ne!(c1["jti"], c2["jti"], "jti is unique per proof");
    }

    #[test]
    fn key_round_trips_through_the_keychain_form_and_thumbprint_is_stable() {
        let key = DpopKey::generate().unwrap();
        let stored = key.to_secret().unwrap();
        assert!(stored.expose().contains("\"d\""));
        let back = DpopKey::from_secret(&stored).unwrap();
        assert_eq!(back.public_jwk(), key.public_jwk());
        assert_eq!(back.thumbprint(), key.thumbprint());
        assert_eq!(key.thumbprint().len(), 43);
        assert!(!format!("{key:?}").contains(stored.expose()));
        let other = DpopKey::generate().unwrap();
        assert_ne!(other.thumbprint(), key.thumbprint());
        assert!(DpopKey::from_secret(&Secret::new("{}")).is_err());
    }

    #[test]
    fn rfc_7638_thumbprint_example_shape() {
        // The canonical JSON has exactly the required members in lexicographic order.
        let key = DpopKey::generate().unwrap();
        let jwk = serde_json::to_string(&key.public_jwk()).unwrap();
        assert!(
            jwk.starts_with(r#"{"crv":"P-256","kty":"EC","x":""#),
            "{jwk}"
        );
    }
}
