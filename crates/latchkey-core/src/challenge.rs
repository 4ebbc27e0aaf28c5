//! A resource server's `WWW-Authenticate: Bearer` challenge (RFC 6750 §3, RFC 9470 step-up),
//! turned into words and the exact `latchkey login` command that gets what it asks for:
//! `insufficient_scope` → `--add-scope`, `insufficient_user_authentication` → `--acr` /
//! `--max-age`. Pure: the CLI calls [`explain`] on the headers of any response (direct or from
//! the agent). Values from the server reach the terminal only when they are plain scope
//! tokens; anything else is left out.

use crate::remedy::Remedy;

/// The parameters of one `Bearer` (or `DPoP`) challenge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BearerChallenge {
    /// `error`.
    pub error: Option<String>,
    /// `scope` (RFC 6750 §3: the scopes needed).
    pub scope: Option<String>,
    /// `acr_values` (RFC 9470 §3).
    pub acr_values: Option<String>,
    /// `max_age` in seconds (RFC 9470 §3).
    pub max_age: Option<u64>,
}

/// Parses the first `Bearer` or `DPoP` challenge of a `WWW-Authenticate` value.
///
/// Works on the header's bytes as they came off the wire (RFC 9110 §11.6.1: challenges are
/// `token` schemes with `token=token / quoted-string` parameters); values are turned into text
/// lossily, and only what [`explain`] filters reaches a person. Every step of the loop consumes
/// at least one byte, so any input — invalid UTF-8, non-ASCII spaces, a lone `=` — ends.
pub fn parse(header: impl AsRef<[u8]>) -> Option<BearerChallenge> {
    let mut p = Parser {
        s: header.as_ref(),
        i: 0,
    };
    // The challenge being read: whether it is ours, and its parameters.
    let mut current: Option<(bool, BearerChallenge)> = None;
    loop {
        p.skip_separators();
        if p.done() {
            break;
        }
        let token = p.token();
        if token.is_empty() {
            // Not a token character (a stray quote, a non-ASCII byte…): skip it.
            p.i += 1;
            continue;
        }
        p.skip_space();
        if p.peek() == Some(b'=') {
            // `key=value`: a parameter of the challenge being read.
            p.i += 1;
            p.skip_space();
            let value = p.value();
            if let Some((_, c)) = current.as_mut() {
                let value = String::from_utf8_lossy(&value).into_owned();
                match token.to_ascii_lowercase().as_slice() {
                    b"error" => c.error = Some(value),
                    b"scope" => c.scope = Some(value),
                    b"acr_values" => c.acr_values = Some(value),
                    b"max_age" => c.max_age = value.trim().parse().ok(),
                    _ => {}
                }
            }
            continue;
        }
        // A new scheme: the previous challenge is complete.
        if let Some((true, c)) = current.take() {
            return Some(c);
        }
        let ours = token.eq_ignore_ascii_case(b"bearer") || token.eq_ignore_ascii_case(b"dpop");
        current = Some((ours, BearerChallenge::default()));
    }
    match current {
        Some((true, c)) => Some(c),
        _ => None,
    }
}

/// A cursor over a header value's bytes.
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Spaces, tabs and commas (list separators and optional whitespace).
    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    /// A `token` (RFC 9110 §5.6.2), possibly empty.
    fn token(&mut self) -> &'a [u8] {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    /// A parameter value: a `quoted-string` (backslash escapes, to its closing quote or the
    /// end) or a `token` (which may be empty).
    fn value(&mut self) -> Vec<u8> {
        if self.peek() != Some(b'"') {
            return self.token().to_vec();
        }
        self.i += 1;
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(n) = self.peek() {
                        out.push(n);
                        self.i += 1;
                    }
                }
                b => out.push(b),
            }
        }
        out
    }
}

/// `tchar` of RFC 9110 §5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// What a response's challenge asks for, for a person, and the sign-in that gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explained {
    /// What the server asks for, in words (no command).
    pub text: String,
    /// The sign-in that gives it ([`Remedy::AddScopes`] or [`Remedy::StepUp`]).
    pub remedy: Remedy,
}

/// What a response's challenge asks for and the sign-in that gives it, when it asks for more
/// scope or a stronger sign-in; `None` otherwise.
pub fn explain<V: AsRef<[u8]>>(
    account: &str,
    status: u16,
    www_authenticate: impl IntoIterator<Item = V>,
) -> Option<Explained> {
    if status != 401 && status != 403 {
        return None;
    }
    let c = www_authenticate.into_iter().find_map(parse)?;
    match c.error.as_deref()? {
        "insufficient_scope" => {
            let said = crate::scope::Scopes::parse(c.scope.as_deref().unwrap_or(""));
            let scopes: Vec<&str> = said
                .iter()
                .filter(|s| crate::target::valid_scope(s) && s.len() <= 200)
                .collect();
            let text = if scopes.is_empty() {
                format!(
                    "the server says the token of `{account}` lacks a scope (insufficient_scope) but does not say which; add it to the sign-in with"
                )
            } else {
                format!(
                    "the server needs the scope {} (insufficient_scope), which the token of `{account}` does not carry; add it to the sign-in with",
                    scopes.join(" "),
                )
            };
            Some(Explained {
                text,
                remedy: Remedy::AddScopes {
                    account: account.to_string(),
                    scopes: scopes.iter().map(|s| s.to_string()).collect(),
                },
            })
        }
        "insufficient_user_authentication" => {
            let acr: Vec<&str> = c
                .acr_values
                .as_deref()
                .unwrap_or("")
                .split_whitespace()
                .filter(|s| crate::target::valid_scope(s) && s.len() <= 200)
                .collect();
            let mut asked = Vec::new();
            if !acr.is_empty() {
                asked.push(format!("acr_values {}", acr.join(" ")));
            }
            if let Some(m) = c.max_age {
                asked.push(format!("max_age {m} s"));
            }
            let text = if asked.is_empty() {
                "the server asks for a stronger or more recent sign-in (insufficient_user_authentication, RFC 9470) without saying which; sign in again with".to_string()
            } else {
                format!(
                    "the server asks for a stronger or more recent sign-in (insufficient_user_authentication, RFC 9470): {}; sign in again with",
                    asked.join(", "),
                )
            };
            Some(Explained {
                text,
                remedy: Remedy::StepUp {
                    account: account.to_string(),
                    acr: acr.iter().map(|s| s.to_string()).collect(),
                    max_age: c.max_age,
                },
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_quoted_and_plain_parameters_of_the_bearer_challenge() {
        let c = parse(r#"Basic realm="x", Bearer realm="api", error="insufficient_scope", scope="api:write files:read""#).unwrap();
        assert_eq!(c.error.as_deref(), Some("insufficient_scope"));
        assert_eq!(c.scope.as_deref(), Some("api:write files:read"));
        let c = parse(r#"Bearer error="insufficient_user_authentication", error_description="x, y", acr_values="urn:mfa", max_age=5"#).unwrap();
        assert_eq!(c.acr_values.as_deref(), Some("urn:mfa"));
        assert_eq!(c.max_age, Some(5));
        assert!(parse(r#"Basic realm="x""#).is_none());
        // Parameters of an earlier, foreign challenge are not ours.
        let c = parse(r#"Basic error="x", Bearer scope="a""#).unwrap();
        assert_eq!(c.error, None);
        assert_eq!(c.scope.as_deref(), Some("a"));
        // token68 and a quoted value with an escaped quote and a comma.
        let c = parse(r#"Negotiate YWJj==, DPoP error="a\"b, c""#).unwrap();
        assert_eq!(c.error.as_deref(), Some(r#"a"b, c"#));
    }

    /// The input that spun the old parser at 100 % CPU (issue 16): a non-ASCII space after the
    /// scheme. Run on a thread so a regression fails the test instead of hanging the suite.
    #[test]
    fn every_input_ends_even_with_non_ascii_spaces_and_invalid_utf8() {
        let inputs: Vec<Vec<u8>> = vec![
            "Bearer, \u{a0}".into(),
            "Bearer \u{a0}error=x".into(),
            "\u{2003}".into(),
            b"Bearer error=\"\xff\xfe".to_vec(),
            b"=".to_vec(),
            b"==,,=\"".to_vec(),
            b"\"\"\"".to_vec(),
            b"Bearer\x00\x01 error=insufficient_scope".to_vec(),
        ];
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for i in &inputs {
                let _ = parse(i);
            }
            let _ = tx.send(());
        });
        assert!(
            rx.recv_timeout(std::time::Duration::from_secs(10)).is_ok(),
            "challenge::parse did not return"
        );
        let c = parse(b"Bearer \xc2\xa0 error=\"insufficient_scope\", scope=\"a\xffb\"").unwrap();
        assert_eq!(c.error.as_deref(), Some("insufficient_scope"));
        assert_eq!(c.scope.as_deref(), Some("a\u{fffd}b"));
    }

    #[test]
    fn insufficient_scope_names_the_scope_and_the_command() {
        let text = explain(
            "work",
            403,
            [r#"Bearer error="insufficient_scope", scope="api:write""#],
        )
        .unwrap();
        assert!(text.text.contains("api:write"), "{text:?}");
        assert_eq!(
            text.remedy,
            Remedy::AddScopes {
                account: "work".into(),
                scopes: vec!["api:write".into()]
            }
        );
        // A hostile scope never reaches the terminal.
        let text = explain(
            "work",
            403,
            ["Bearer error=\"insufficient_scope\", scope=\"\u{1b}]0;x\u{7}\""],
        )
        .unwrap();
        assert!(!format!("{text:?}").contains('\u{1b}'), "{text:?}");
        assert!(explain("work", 200, [r#"Bearer error="insufficient_scope""#]).is_none());
        assert!(explain("work", 401, [r#"Bearer error="invalid_token""#]).is_none());
    }

    #[test]
    fn step_up_names_acr_and_max_age() {
        let text = explain(
            "work",
            401,
            [r#"Bearer error="insufficient_user_authentication", acr_values="phr phrh", max_age=300"#],
        )
        .unwrap();
        assert_eq!(
            text.remedy,
            Remedy::StepUp {
                account: "work".into(),
                acr: vec!["phr".into(), "phrh".into()],
                max_age: Some(300)
            }
        );
    }
}
