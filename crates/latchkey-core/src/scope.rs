//! OAuth scopes (RFC 6749 §3.3) split, de-duplicated and joined in one place: [`Scopes`].
//!
//! Scopes arrive three ways — a provider's `scope` string (space-delimited; some providers use
//! another delimiter, see `Quirks::scope_delimiter`), a resource server's challenge, and what
//! a person types (`--scope "a b"`, `--scope a,b`, repeated) — and leave as one space-joined
//! `scope` parameter. Each way is one constructor here; order is kept (the first of a repeated
//! scope wins), so a parameter is sent as it was asked. Below every other module.

use std::fmt;

/// Scopes in order, each once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// A `scope` value as a provider or resource server sends it: space-delimited.
    pub fn parse(s: &str) -> Scopes {
        s.split_whitespace().map(str::to_string).collect()
    }

    /// A `scope` value of a provider that delimits with `delimiter` (GitHub's `,`); spaces
    /// delimit too.
    pub fn parse_delimited(s: &str, delimiter: char) -> Scopes {
        s.split([delimiter, ' '])
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// What a person typed: each value may hold several scopes, separated by spaces or commas.
    pub fn from_input<S: AsRef<str>>(values: &[S]) -> Scopes {
        values
            .iter()
            .flat_map(|v| v.as_ref().split([' ', ',']))
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// The scopes, in order.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// The scopes, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// True if `scope` is one of them.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    /// No scope.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes as a list.
    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

/// Each scope once, the first occurrence kept in its place.
impl FromIterator<String> for Scopes {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        let mut out: Vec<String> = Vec::new();
        for s in iter {
            if !out.contains(&s) {
                out.push(s);
            }
        }
        Scopes(out)
    }
}

/// The `scope` parameter: the scopes joined by single spaces.
impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_way_in_splits_and_dedups_keeping_order() {
        assert_eq!(Scopes::parse(" b  a\tb ").as_slice(), ["b", "a"]);
        assert_eq!(
            Scopes::parse_delimited("repo,user repo", ',').as_slice(),
            ["repo", "user"]
        );
        assert_eq!(
            Scopes::from_input(&["b a", "a,c", ""]).as_slice(),
            ["b", "a", "c"]
        );
        let s = Scopes::parse("openid email");
        assert_eq!(s.to_string(), "openid email");
        assert!(s.contains("email") && !s.contains("mail"));
        assert!(Scopes::parse("  ").is_empty());
        assert_eq!(Scopes::default().to_string(), "");
    }
}
