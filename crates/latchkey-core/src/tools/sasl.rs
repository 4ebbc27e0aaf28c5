//! SASL initial responses for mail (IMAP `AUTHENTICATE`, SMTP `AUTH`) with an OAuth token,
//! printed by `latchkey token NAME --sasl MECH --user ADDRESS` for clients that want the whole
//! response rather than the bare token (msmtp's `passwordeval`, mbsync's `PassCmd` and neomutt
//! take the bare token from `latchkey token NAME` and build these themselves).
//!
//! - `XOAUTH2` (Google's and Microsoft's): base64 of `user=ADDRESS ^A auth=Bearer TOKEN ^A ^A`.
//! - `OAUTHBEARER` (RFC 7628): base64 of the GS2 header `n,a=ADDRESS,` then `^A`-separated
//!   `host=`, `port=` (both optional) and `auth=Bearer TOKEN`, ending `^A^A`; the address is a
//!   GS2 `saslname` (`,` and `=` escaped as `=2C`, `=3D`, RFC 5801).
//!
//! Both carry only a Bearer token: a DPoP-bound one is refused (it is useless without a proof
//! per request, and no mail server takes one). No error quotes the token.

use base64::Engine as _;

use crate::error::{Error, Result};
use crate::secret::Secret;

/// The SASL mechanisms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// `XOAUTH2`.
    Xoauth2,
    /// `OAUTHBEARER` (RFC 7628).
    OauthBearer,
}

impl std::str::FromStr for Mechanism {
    type Err = Error;

    fn from_str(s: &str) -> Result<Mechanism> {
        match s.to_ascii_lowercase().as_str() {
            "xoauth2" => Ok(Mechanism::Xoauth2),
            "oauthbearer" => Ok(Mechanism::OauthBearer),
            _ => Err(Error::InvalidInput(format!(
                "--sasl `{}` is not a mechanism Latchkey knows: xoauth2 or oauthbearer",
                crate::text::clean(s, crate::text::MAX_ERROR_CODE)
            ))),
        }
    }
}

/// Who and where, beside the token.
#[derive(Debug, Clone, Default)]
pub struct Identity<'a> {
    /// The mail address (the login).
    pub user: &'a str,
    /// `host=` (OAUTHBEARER only).
    pub host: Option<&'a str>,
    /// `port=` (OAUTHBEARER only).
    pub port: Option<u16>,
}

fn check_field(what: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.chars().any(char::is_control) {
        return Err(Error::InvalidInput(format!(
            "{what} must be non-empty, without control characters"
        )));
    }
    Ok(())
}

/// RFC 5801 `saslname`: `,` → `=2C`, `=` → `=3D`.
fn saslname(s: &str) -> String {
    s.replace('=', "=3D").replace(',', "=2C")
}

/// The initial response (base64) for `mechanism`, or why not: a token type other than Bearer,
/// an empty address, control characters in a field.
pub fn initial_response(
    mechanism: Mechanism,
    who: &Identity<'_>,
    token: &Secret,
    token_type: &crate::token::TokenType,
) -> Result<Secret> {
    if !token_type.is_bearer() {
        return Err(Error::InvalidInput(format!(
            "the account's tokens are {}-bound; SASL {} sends only Bearer tokens (pick an account without --dpop)",
            crate::text::clean(token_type.as_str(), 20),
            match mechanism {
                Mechanism::Xoauth2 => "XOAUTH2",
                Mechanism::OauthBearer => "OAUTHBEARER",
            }
        )));
    }
    check_field("--user", who.user)?;
    if let Some(h) = who.host {
        check_field("--host", h)?;
    }
    if token.expose().is_empty() || token.expose().chars().any(char::is_control) {
        return Err(Error::InvalidInput(
            "the provider's access token has control characters; it cannot go into a SASL response"
                .into(),
        ));
    }
    let raw = match mechanism {
        Mechanism::Xoauth2 => format!(
            "user={}\x01auth=Bearer {}\x01\x01",
            who.user,
            token.expose()
        ),
        Mechanism::OauthBearer => {
            let mut s = format!("n,a={},\x01", saslname(who.user));
            if let Some(h) = who.host {
                s.push_str(&format!("host={h}\x01"));
            }
            if let Some(p) = who.port {
                s.push_str(&format!("port={p}\x01"));
            }
            s.push_str(&format!("auth=Bearer {}\x01\x01", token.expose()));
            s
        }
    };
    Ok(Secret::new(
        base64::engine::general_purpose::STANDARD.encode(raw.as_bytes()),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn response(m: Mechanism, who: Identity<'_>, token: &str) -> String {
        initial_response(m, &who, &Secret::new(token), &"Bearer".into())
            .unwrap()
            .expose()
            .to_string()
    }

    #[test]
    fn oauthbearer_matches_rfc_7628_section_4_1() {
        let who = Identity {
            user: "user@example.com",
            host: Some("server.example.com"),
            port: Some(143),
        };
        assert_eq!(
            response(
                Mechanism::OauthBearer,
                who,
                "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="
            ),
            "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB"
        );
    }

    #[test]
    fn xoauth2_matches_googles_example() {
        let who = Identity {
            user: "someuser@example.com",
            ..Identity::default()
        };
        assert_eq!(
            response(
                Mechanism::Xoauth2,
                who,
                "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
            ),
            "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
        );
    }

    #[test]
    fn oauthbearer_without_host_and_port_escapes_the_authzid() {
        let b64 = response(
            Mechanism::OauthBearer,
            Identity {
                user: "a,b=c@x",
                ..Identity::default()
            },
            "t",
        );
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(raw, b"n,a=a=2Cb=3Dc@x,\x01auth=Bearer t\x01\x01");
    }

    #[test]
    fn refusals_never_quote_the_token() {
        let who = Identity {
            user: "u@x",
            ..Identity::default()
        };
        let e = initial_response(
            Mechanism::Xoauth2,
            &who,
            &Secret::new("s3cret"),
            &"DPoP".into(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("DPoP-bound") && !e.contains("s3cret"), "{e}");
        for user in ["", "a\x01b", "a\nb"] {
            let who = Identity {
                user,
                ..Identity::default()
            };
            let e = initial_response(
                Mechanism::OauthBearer,
                &who,
                &Secret::new("s3cret"),
                &"Bearer".into(),
            )
            .unwrap_err()
            .to_string();
            assert!(!e.contains("s3cret"), "{e}");
        }
        let e = initial_response(
            Mechanism::Xoauth2,
            &who,
            &Secret::new("a\x01b"),
            &"bearer".into(),
        )
        .unwrap_err()
        .to_string();
        assert!(!e.contains("a\x01b"), "{e}");
        assert_eq!("XOAUTH2".parse::<Mechanism>().unwrap(), Mechanism::Xoauth2);
        assert!("plain".parse::<Mechanism>().is_err());
    }
}
