//! A resource server's `WWW-Authenticate: Bearer` challenge (RFC 6750 §3, RFC 9470 step-up),
//! turned into words and the exact `latchkey login` command that gets what it asks for:
//! `insufficient_scope` → `--add-scope`, `insufficient_user_authentication` → `--acr` /
//! `--max-age`. Pure: the CLI calls [`explain`] on the headers of any response (direct or from
//! the agent). Values from the server reach the terminal only when they are plain scope
//! tokens; anything else is left out.

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
pub fn parse(header: &str) -> Option<BearerChallenge> {
    let mut rest = header.trim_start();
    let mut found: Option<BearerChallenge> = None;
    while !rest.is_empty() {
        // A scheme (token), then auth-params until the next scheme.
        let end = rest
            .find(|c: char| c.is_whitespace() || c == ',')
            .unwrap_or(rest.len());
        let word = &rest[..end];
        rest = rest[end..].trim_start_matches([' ', '\t', ',']);
        if word.contains('=') || word.is_empty() {
            // Stray parameter of a challenge that is not ours.
            skip_param(&mut rest);
            continue;
        }
        let ours = word.eq_ignore_ascii_case("bearer") || word.eq_ignore_ascii_case("dpop");
        let mut c = BearerChallenge::default();
        while let Some((key, value)) = next_param(&mut rest) {
            match key.to_ascii_lowercase().as_str() {
                "error" => c.error = Some(value),
                "scope" => c.scope = Some(value),
                "acr_values" => c.acr_values = Some(value),
                "max_age" => c.max_age = value.trim().parse().ok(),
                _ => {}
            }
        }
        if ours && found.is_none() {
            found = Some(c);
        }
    }
    found
}

fn skip_param(rest: &mut &str) {
    let _ = next_param(rest);
}

/// `key=value` or `key="quoted"` at the start of `rest`; `None` (and `rest` untouched) when
/// the next word is a new scheme.
fn next_param(rest: &mut &str) -> Option<(String, String)> {
    let s = rest.trim_start_matches([' ', '\t', ',']);
    let eq = s.find('=')?;
    let key = &s[..eq];
    if key.is_empty() || key.contains([' ', '\t', ',', '"']) {
        return None;
    }
    let after = s[eq + 1..].trim_start();
    let (value, remaining) = if let Some(q) = after.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = q.char_indices();
        let mut end = q.len();
        while let Some((i, ch)) = chars.next() {
            match ch {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        out.push(n);
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => out.push(c),
            }
        }
        (out, &q[end.min(q.len())..])
    } else {
        let end = after.find([',', ' ', '\t']).unwrap_or(after.len());
        (after[..end].to_string(), &after[end..])
    };
    *rest = remaining.trim_start_matches([' ', '\t', ',']);
    Some((key.to_string(), value))
}

/// Words for a person and the command to run, when a response's challenge asks for more scope
/// or a stronger sign-in; `None` otherwise.
pub fn explain<'a>(
    account: &str,
    status: u16,
    www_authenticate: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    if status != 401 && status != 403 {
        return None;
    }
    let c = www_authenticate.into_iter().find_map(parse)?;
    match c.error.as_deref()? {
        "insufficient_scope" => {
            let scopes: Vec<&str> = c
                .scope
                .as_deref()
                .unwrap_or("")
                .split_whitespace()
                .filter(|s| crate::target::valid_scope(s) && s.len() <= 200)
                .collect();
            Some(if scopes.is_empty() {
                format!(
                    "the server says the token of `{account}` lacks a scope (insufficient_scope) but does not say which; add it with `latchkey login {account} --add-scope SCOPE`"
                )
            } else {
                format!(
                    "the server needs the scope {} (insufficient_scope), which the token of `{account}` does not carry; add it to the sign-in with:\n  latchkey login {account} {}",
                    scopes.join(" "),
                    scopes
                        .iter()
                        .map(|s| format!("--add-scope {s}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                )
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
            let mut flags = Vec::new();
            if !acr.is_empty() {
                asked.push(format!("acr_values {}", acr.join(" ")));
                flags.push(format!("--acr \"{}\"", acr.join(" ")));
            }
            if let Some(m) = c.max_age {
                asked.push(format!("max_age {m} s"));
                flags.push(format!("--max-age {m}"));
            }
            Some(if flags.is_empty() {
                format!(
                    "the server asks for a stronger or more recent sign-in (insufficient_user_authentication, RFC 9470) without saying which; sign in again: `latchkey login {account}`"
                )
            } else {
                format!(
                    "the server asks for a stronger or more recent sign-in (insufficient_user_authentication, RFC 9470): {}; sign in again with:\n  latchkey login {account} {}",
                    asked.join(", "),
                    flags.join(" ")
                )
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
    }

    #[test]
    fn insufficient_scope_names_the_scope_and_the_command() {
        let text = explain(
            "work",
            403,
            [r#"Bearer error="insufficient_scope", scope="api:write""#],
        )
        .unwrap();
        assert!(text.contains("api:write"), "{text}");
        assert!(
            text.contains("latchkey login work --add-scope api:write"),
            "{text}"
        );
        // A hostile scope never reaches the terminal.
        let text = explain(
            "work",
            403,
            ["Bearer error=\"insufficient_scope\", scope=\"\u{1b}]0;x\u{7}\""],
        )
        .unwrap();
        assert!(!text.contains('\u{1b}'), "{text}");
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
        assert!(
            text.contains(r#"latchkey login work --acr "phr phrh" --max-age 300"#),
            "{text}"
        );
    }
}
