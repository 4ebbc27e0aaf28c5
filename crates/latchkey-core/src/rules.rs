//! Account selection by context: one rule set for every integration (git, Docker/OCI
//! registries, kubectl, `latchkey which`).
//!
//! A [`Rule`] maps a *host* (with an optional port), an optional *path prefix* (a git remote
//! path, a registry repository, a cluster server path) and an optional *username* to an
//! account. [`select`] is pure: given the rules, what a tool asks about ([`Target`]) and the
//! `LATCHKEY_ACCOUNT` override, it says which account answers and why. Among the matching
//! rules the longest path prefix wins; at equal length a rule naming the port, then one naming
//! the username, beats one that does not, then the rule written first. `LATCHKEY_ACCOUNT`
//! chooses the account only for targets some rule matches. Rules live in `accounts.toml`
//! (`[[rule]]`), changed only through [`crate::LoginManager::add_rule`] /
//! [`crate::LoginManager::remove_rule`] under the registry lock. There is no "current
//! account": nothing here changes when a tool asks, so concurrent processes never race on it.
//!
//! A rule may also say what the token is for ([`TokenSpec`]: `scopes`, `resources`,
//! `audience`, flat in the `[[rule]]` table): the tool then gets the account's token for exactly
//! that (`latchkey token NAME --resource URI`), not the account's own. The spec belongs to the
//! server the rule names, so it is the winning rule's spec even when `LATCHKEY_ACCOUNT` chooses
//! the account. A rule without these fields (every file written before them) is unchanged.
//!
//! Paths (a rule's prefix, a tool's repository path, a cluster's server path) go through one
//! normalisation, [`normalise_path`], before anything is compared: percent-decoded, `.` segments
//! removed (RFC 3986 §5.2.4), and refused — no rule matches, no token — when a segment is `..`
//! (literal or `%2e%2e`), or decodes to a `/` (`%2F`) or holds a `\`. A `..` is refused rather
//! than resolved because git hands its path over already decoded, so a literal `..` cannot be
//! told from `%2e%2e`, which web servers resolve differently; resolving it the way one server
//! does would give `org-a`'s token to a request another server serves from `org-b`.
//!
//! Where a token may travel is one rule too, [`transport_allowed`]: https, or plain http only to
//! this machine (loopback). git, Docker, kubectl, `setup` and `latchkey request` all ask it.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};
use crate::target::TokenSpec;

/// One selection rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Host name, optionally with `:port` (lower case). Without a port, any port matches.
    pub host: String,
    /// Path prefix, without leading or trailing `/` (`org-a`, `org-a/repo`); matches whole
    /// path segments only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The username the tool must ask with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The account that answers.
    pub account: String,
    /// What the token is for (empty: the account's own token). Flat in the table:
    /// `scopes = [...]`, `resources = [...]`, `audience = "..."`.
    #[serde(flatten, default)]
    pub spec: TokenSpec,
}

impl Rule {
    /// A rule, normalised and checked: `host` may be `host`, `host:port` or a URL (whose
    /// path, if any and `path` is `None`, becomes the prefix).
    pub fn new(
        host: &str,
        path: Option<&str>,
        username: Option<&str>,
        account: &str,
    ) -> Result<Rule> {
        let (host, url_path) = parse_host(host)?;
        let path = match path {
            Some(p) => normalise_path(p)?,
            None => url_path,
        };
        let username = username.filter(|u| !u.is_empty()).map(str::to_string);
        Ok(Rule {
            host,
            path,
            username,
            account: account.to_string(),
            spec: TokenSpec::default(),
        })
    }

    /// The same rule, answering with the token for `spec` (see [`TokenSpec::new`]).
    pub fn with_spec(mut self, spec: TokenSpec) -> Rule {
        self.spec = spec;
        self
    }

    /// `host[:port][/path]`, for people.
    pub fn pattern(&self) -> String {
        let user = self
            .username
            .as_deref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        match &self.path {
            Some(p) => format!("{user}{}/{p}", self.host),
            None => format!("{user}{}", self.host),
        }
    }

    /// `pattern → account`, with the token spec when there is one, for people.
    pub fn describe(&self) -> String {
        let mut s = format!("{} → {}", self.pattern(), self.account);
        if !self.spec.is_empty() {
            s.push_str(&format!(" (the token for {})", self.spec.describe()));
        }
        s
    }

    fn matches(&self, t: &Target) -> bool {
        if !host_matches(&self.host, &t.host, t.port) {
            return false;
        }
        if let Some(u) = &self.username
            && t.username.as_deref() != Some(u.as_str())
        {
            return false;
        }
        match &self.path {
            None => true,
            Some(prefix) => {
                let path = t.path.as_deref().unwrap_or("");
                path == prefix
                    || path
                        .strip_prefix(prefix.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
                    // `org/repo.git` is the same repository as the rule `org/repo`.
                    || path.strip_suffix(".git") == Some(prefix.as_str())
            }
        }
    }

    fn specificity(&self) -> (usize, bool, bool) {
        (
            self.path.as_ref().map_or(0, |p| p.len() + 1),
            split_authority(&self.host).1.is_some(),
            self.username.is_some(),
        )
    }
}

/// What a tool asks about: the server it talks to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Target {
    /// Scheme (`https`, `http`), if known.
    pub protocol: Option<String>,
    /// Host name (lower case), without port.
    pub host: String,
    /// Port, if given.
    pub port: Option<u16>,
    /// Path without leading/trailing `/`, if known.
    pub path: Option<String>,
    /// Username the tool asks with, if any.
    pub username: Option<String>,
}

/// `s` as an error message may quote it: without the user-info part (`user:password@`, which
/// git and Docker may pass), control characters stripped, length capped.
fn shown(s: &str) -> String {
    let start = s.find("://").map_or(0, |i| i + 3);
    let end = s[start..]
        .find(['/', '?', '#'])
        .map_or(s.len(), |i| start + i);
    let s = match s[start..end].rfind('@') {
        Some(at) => format!("{}…@{}", &s[..start], &s[start + at + 1..]),
        None => s.to_string(),
    };
    crate::text::clean(&s, crate::text::MAX_URI)
}

impl Target {
    /// From a URL (`https://host/org/repo.git`) or a bare `host[:port][/path]`. The path is
    /// taken as written (not as the URL parser resolved it) and normalised by
    /// [`normalise_path`], so `org-a/%2e%2e/org-b` is refused here as it is from git.
    pub fn parse(s: &str) -> Result<Target> {
        let s = s.trim();
        let with_scheme = if s.contains("://") {
            s.to_string()
        } else {
            format!("https://{s}")
        };
        let url = Url::parse(&with_scheme).map_err(|e| {
            Error::InvalidInput(format!("`{}` is not a URL or host name: {e}", shown(s)))
        })?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| Error::InvalidInput(format!("`{}` has no host", shown(s))))?;
        Ok(Target {
            protocol: s.contains("://").then(|| url.scheme().to_string()),
            host: host.trim_matches(['[', ']']).to_ascii_lowercase(),
            port: url.port(),
            path: normalise_path(raw_path(&with_scheme))?,
            username: Some(url.username())
                .filter(|u| !u.is_empty())
                .map(|u| String::from_utf8_lossy(&percent_decode(u)).into_owned()),
        })
    }

    /// From git's `host` field (`host` or `host:port`) and `path`.
    pub fn from_host_field(
        protocol: Option<&str>,
        host_field: &str,
        path: Option<&str>,
        username: Option<&str>,
    ) -> Result<Target> {
        let mut t = Target::parse(host_field)?;
        t.protocol = protocol.map(str::to_string);
        t.path = match path {
            Some(p) => normalise_path(p)?,
            None => None,
        };
        t.username = username.filter(|u| !u.is_empty()).map(str::to_string);
        Ok(t)
    }

    /// Refuses to send a token to this server unless [`transport_allowed`] says so: https, or
    /// plain http to this machine. A target without a scheme (a bare `host`, as Docker names
    /// registries) counts as https.
    pub fn check_transport(&self) -> Result<()> {
        let scheme = self.protocol.as_deref().unwrap_or("https");
        if transport_allowed(scheme, &self.host) {
            return Ok(());
        }
        Err(Error::InvalidInput(format!(
            "not sending a token over {}:// to {}: use https (plain http only to 127.0.0.1/localhost)",
            crate::text::clean(scheme, 20),
            self.authority()
        )))
    }

    /// `host[:port]`.
    pub fn authority(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }

    /// True when the host is a loopback address or `localhost`.
    pub fn is_loopback(&self) -> bool {
        host_is_loopback(&self.host)
    }
}

/// Why an account was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Reason {
    /// `LATCHKEY_ACCOUNT` was set.
    Environment,
    /// The kubeconfig user's exec args name the account, for this cluster server
    /// ([`crate::kube::select_for_cluster`]).
    Kubeconfig {
        /// The cluster's server.
        server: String,
    },
    /// A rule matched.
    Rule {
        /// The winning rule.
        rule: Rule,
        /// How many rules matched in all.
        candidates: usize,
    },
}

/// The outcome of [`select`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Selection {
    /// The account name.
    pub account: String,
    /// Why.
    pub reason: Reason,
    /// What the token is for: the most specific matching rule's spec (empty: the account's
    /// own token), also when `LATCHKEY_ACCOUNT` chose the account.
    #[serde(skip_serializing_if = "TokenSpec::is_empty")]
    pub spec: TokenSpec,
}

impl Selection {
    /// One line for people: why this account, and which token when a rule says.
    pub fn explain(&self) -> String {
        let mut s = self.explain_account();
        if !self.spec.is_empty() {
            s.push_str(&format!("; the token for {}", self.spec.describe()));
        }
        s
    }

    fn explain_account(&self) -> String {
        match &self.reason {
            Reason::Environment => "LATCHKEY_ACCOUNT is set".to_string(),
            Reason::Kubeconfig { server } => {
                format!("the kubeconfig user names it (cluster server {server})")
            }
            Reason::Rule { rule, candidates } => {
                let mut s = format!("rule {} → {}", rule.pattern(), rule.account);
                if *candidates > 1 {
                    s.push_str(&format!(
                        " (the most specific of {candidates} matching rules)"
                    ));
                }
                s
            }
        }
    }
}

/// Picks the account for `target`: the most specific matching rule, or `env_override`
/// (`LATCHKEY_ACCOUNT`) when it is set and some rule matches. A target no rule matches gets
/// `None` even with the override: a token goes only to servers a rule names, never to whatever
/// host a tool happens to ask about.
pub fn select(rules: &[Rule], target: &Target, env_override: Option<&str>) -> Option<Selection> {
    let matching: Vec<&Rule> = rules.iter().filter(|r| r.matches(target)).collect();
    let mut best: Option<&Rule> = None;
    for r in &matching {
        // Strictly greater: at a tie the rule written first stays.
        if best.is_none_or(|b| r.specificity() > b.specificity()) {
            best = Some(r);
        }
    }
    let best = best?;
    if let Some(name) = env_override.map(str::trim).filter(|n| !n.is_empty()) {
        return Some(Selection {
            account: name.to_string(),
            reason: Reason::Environment,
            spec: best.spec.clone(),
        });
    }
    Some(Selection {
        account: best.account.clone(),
        reason: Reason::Rule {
            rule: best.clone(),
            candidates: matching.len(),
        },
        spec: best.spec.clone(),
    })
}

fn host_matches(rule_host: &str, host: &str, port: Option<u16>) -> bool {
    let (h, p) = split_authority(rule_host);
    h == host && p.is_none_or(|p| Some(p) == port)
}

/// `name`, `name:port`, `[v6]`, `[v6]:port` → (host without brackets, port).
fn split_authority(a: &str) -> (&str, Option<u16>) {
    if let Some(rest) = a.strip_prefix('[') {
        let (h, tail) = rest.split_once(']').unwrap_or((rest, ""));
        return (h, tail.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match a.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()),
        None => (a, None),
    }
}

fn parse_host(s: &str) -> Result<(String, Option<String>)> {
    let t = Target::parse(s)?;
    let host = if t.host.contains(':') {
        format!("[{}]", t.host)
    } else {
        t.host.clone()
    };
    Ok((
        match t.port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        },
        t.path,
    ))
}

/// True when `host` (a name, an IPv4 address or an IPv6 address with or without brackets) is
/// this machine: `localhost`, 127.0.0.0/8 or ::1.
pub fn host_is_loopback(host: &str) -> bool {
    let h = host.trim_matches(['[', ']']);
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The one rule on where a token may travel: `https`, or plain `http` only to a loopback host
/// (a server on this machine, as in tests). Every integration and `latchkey request` ask this
/// before a token leaves.
pub fn transport_allowed(scheme: &str, host: &str) -> bool {
    scheme.eq_ignore_ascii_case("https")
        || (scheme.eq_ignore_ascii_case("http") && host_is_loopback(host))
}

/// [`transport_allowed`] for a parsed URL: whether a token may be sent to it (the device flow's
/// verification URI, `latchkey request`, the integrations).
pub fn endpoint_allowed(url: &Url) -> bool {
    transport_allowed(url.scheme(), url.host_str().unwrap_or_default())
}

/// The path of `url` (which has a scheme) as written: after the authority, before `?` or `#`.
fn raw_path(url: &str) -> &str {
    let rest = url.find("://").map_or(url, |i| &url[i + 3..]);
    let Some(start) = rest.find(['/', '\\', '?', '#']) else {
        return "";
    };
    let path = &rest[start..];
    &path[..path.find(['?', '#']).unwrap_or(path.len())]
}

/// The one normalisation of a path before rules compare it (see the module doc): leading and
/// trailing `/` dropped, each segment percent-decoded, `.` segments removed (RFC 3986 §5.2.4);
/// a `..` segment (literal or encoded), a segment that decodes to a `/` (`%2F`), a `\` (which
/// some servers read as `/`) or a control character is refused with an error that says so.
/// `None` for an empty path.
pub fn normalise_path(p: &str) -> Result<Option<String>> {
    let refuse = |why: &str| {
        Error::InvalidInput(format!(
            "the path `{}` {why}; latchkey matches no rule and sends no token for it (use the path without it)",
            crate::text::clean(p, crate::text::MAX_URI)
        ))
    };
    let mut out: Vec<String> = Vec::new();
    for raw in p.trim().trim_matches('/').split('/') {
        let bytes = percent_decode(raw);
        let seg = String::from_utf8_lossy(&bytes);
        if seg.contains('/') {
            return Err(refuse("has an encoded `/` (%2F) in a segment"));
        }
        if seg.contains('\\') {
            return Err(refuse("has a `\\`"));
        }
        if seg.chars().any(char::is_control) {
            return Err(refuse("has a control character"));
        }
        match seg.as_ref() {
            "." => {}
            ".." => return Err(refuse("has a `..` segment")),
            _ => out.push(seg.into_owned()),
        }
    }
    let joined = out.join("/");
    Ok((!joined.trim_matches('/').is_empty()).then_some(joined))
}

/// `%XX` decoded (anything else, including a stray `%`, kept as is).
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|c| (*c as char).to_digit(16)),
                b.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(host: &str, path: Option<&str>, user: Option<&str>, acct: &str) -> Rule {
        Rule::new(host, path, user, acct).unwrap()
    }

    #[test]
    fn a_bad_url_is_quoted_without_its_password() {
        for bad in ["https://bob:hunter2@bad host/x", "bob:hunter2@bad host"] {
            let e = Target::parse(bad).unwrap_err().to_string();
            assert!(!e.contains("hunter2") && !e.contains("bob"), "{e}");
            assert!(e.contains("bad host"), "{e}");
        }
    }

    fn t(s: &str) -> Target {
        Target::parse(s).unwrap()
    }

    #[test]
    fn longest_prefix_wins_on_whole_segments() {
        let rules = vec![
            rule("git.example.com", None, None, "default"),
            rule("git.example.com", Some("org-a"), None, "a"),
            rule("git.example.com", Some("/org-a/secret/"), None, "secret"),
        ];
        let pick = |u: &str| select(&rules, &t(u), None).map(|s| s.account);
        assert_eq!(
            pick("https://git.example.com/org-a/x.git").as_deref(),
            Some("a")
        );
        assert_eq!(
            pick("https://git.example.com/org-a/secret/x.git").as_deref(),
            Some("secret")
        );
        assert_eq!(
            pick("https://git.example.com/org-a/secret.git").as_deref(),
            Some("secret"),
            "org-a/secret.git is the repository org-a/secret"
        );
        assert_eq!(
            pick("https://git.example.com/org-ab/x.git").as_deref(),
            Some("default"),
            "a prefix matches whole segments only"
        );
        assert_eq!(pick("https://GIT.example.com").as_deref(), Some("default"));
        assert_eq!(pick("https://other.example.com/org-a").as_deref(), None);
        let s = select(&rules, &t("https://git.example.com/org-a/secret/y"), None).unwrap();
        assert_eq!(
            s.explain(),
            "rule git.example.com/org-a/secret → secret (the most specific of 3 matching rules)"
        );
    }

    #[test]
    fn environment_overrides_rules_and_nothing_matches_without_rules() {
        let rules = vec![rule("h.test", None, None, "a")];
        let s = select(&rules, &t("h.test"), Some("b")).unwrap();
        assert_eq!(s.account, "b");
        assert_eq!(s.reason, Reason::Environment);
        assert_eq!(
            select(&rules, &t("h.test"), Some("  ")).unwrap().account,
            "a"
        );
        assert!(select(&[], &t("h.test"), None).is_none());
    }

    #[test]
    fn ports_and_usernames() {
        let rules = vec![
            rule("127.0.0.1", None, None, "anyport"),
            rule("127.0.0.1:8443", None, None, "exact"),
            rule("127.0.0.1:8443", None, Some("bob"), "bob"),
        ];
        let pick = |u: &str| select(&rules, &t(u), None).map(|s| s.account);
        assert_eq!(pick("http://127.0.0.1:9000/x").as_deref(), Some("anyport"));
        assert_eq!(pick("https://127.0.0.1:8443/x").as_deref(), Some("exact"));
        assert_eq!(pick("https://bob@127.0.0.1:8443/x").as_deref(), Some("bob"));
        assert_eq!(
            pick("https://alice@127.0.0.1:8443/x").as_deref(),
            Some("exact")
        );
        // git's host field carries the port.
        let g =
            Target::from_host_field(Some("http"), "127.0.0.1:8443", Some("a/b.git"), None).unwrap();
        assert_eq!(g.port, Some(8443));
        assert_eq!(g.path.as_deref(), Some("a/b.git"));
        assert_eq!(select(&rules, &g, None).unwrap().account, "exact");
    }

    #[test]
    fn equal_rules_keep_the_first_and_url_hosts_give_a_path() {
        let rules = vec![
            rule("h.test", Some("x"), None, "first"),
            rule("h.test", Some("x"), None, "second"),
        ];
        assert_eq!(
            select(&rules, &t("h.test/x/y"), None).unwrap().account,
            "first"
        );
        let r = rule("https://Registry.Test:5000/team/app", None, None, "a");
        assert_eq!(r.host, "registry.test:5000");
        assert_eq!(r.path.as_deref(), Some("team/app"));
        assert_eq!(r.pattern(), "registry.test:5000/team/app");
        assert!(Rule::new("", None, None, "a").is_err());
        assert!(Rule::new("https://", None, None, "a").is_err());
    }

    #[test]
    fn rules_round_trip_through_toml() {
        #[derive(Serialize, Deserialize)]
        struct F {
            rule: Vec<Rule>,
        }
        let f = F {
            rule: vec![rule("h.test", Some("a"), Some("u"), "x")],
        };
        let text = toml::to_string(&f).unwrap();
        let back: F = toml::from_str(&text).unwrap();
        assert_eq!(back.rule, f.rule);
    }

    #[test]
    fn a_rule_with_a_token_spec_round_trips_flat_and_old_files_still_load() {
        #[derive(Serialize, Deserialize)]
        struct F {
            rule: Vec<Rule>,
        }
        let spec = TokenSpec::new(
            &["read write".into()],
            &["https://api.test".into()],
            Some("aud-1"),
        )
        .unwrap();
        let f = F {
            rule: vec![
                rule("k.test:6443", None, None, "x").with_spec(spec.clone()),
                rule("h.test", Some("a"), None, "y"),
            ],
        };
        let text = toml::to_string(&f).unwrap();
        assert!(
            text.contains("resources = [\"https://api.test\"]")
                && text.contains("audience = \"aud-1\"")
                && !text.contains("[rule.spec]"),
            "the spec is flat in the rule's table:\n{text}"
        );
        let back: F = toml::from_str(&text).unwrap();
        assert_eq!(back.rule, f.rule);
        assert_eq!(back.rule[0].spec, spec);
        assert!(back.rule[1].spec.is_empty());
        assert!(
            !text[text.rfind("[[rule]]").unwrap()..].contains("scopes"),
            "a rule without a spec writes no spec fields:\n{text}"
        );
        // A file written before the fields existed.
        let old: F =
            toml::from_str("[[rule]]\nhost = \"h.test\"\npath = \"a\"\naccount = \"x\"\n").unwrap();
        assert_eq!(old.rule[0], rule("h.test", Some("a"), None, "x"));
        assert!(old.rule[0].spec.is_empty());
    }

    #[test]
    fn the_winning_rule_gives_its_spec_also_under_the_override() {
        let api = TokenSpec::new(&[], &["https://api.test/".into()], None).unwrap();
        let rules = vec![
            rule("h.test", None, None, "a"),
            rule("h.test", Some("team"), None, "a").with_spec(api.clone()),
        ];
        let s = select(&rules, &t("https://h.test/team/x"), None).unwrap();
        assert_eq!(s.account, "a");
        assert_eq!(s.spec, api);
        assert_eq!(
            s.explain(),
            "rule h.test/team → a (the most specific of 2 matching rules); the token for resource https://api.test/"
        );
        let other = select(&rules, &t("https://h.test/other"), None).unwrap();
        assert!(other.spec.is_empty(), "the less specific rule has no spec");
        assert_eq!(other.explain(), "rule h.test → a");
        let env = select(&rules, &t("https://h.test/team/x"), Some("b")).unwrap();
        assert_eq!((env.account.as_str(), &env.spec), ("b", &api));
        assert!(select(&rules, &t("https://nope.test/team"), Some("b")).is_none());
        assert_eq!(
            rules[1].describe(),
            "h.test/team → a (the token for resource https://api.test/)"
        );
    }

    #[test]
    fn a_hand_edited_spec_is_checked_and_sorted_as_it_is_read() {
        #[derive(Deserialize)]
        struct F {
            rule: Vec<Rule>,
        }
        let f: F = toml::from_str(
            "[[rule]]\nhost = \"h.test\"\naccount = \"a\"\nscopes = [\"b\", \"a\", \"a\"]\n",
        )
        .unwrap();
        assert_eq!(f.rule[0].spec.scopes(), ["a", "b"]);
        let e = toml::from_str::<F>(
            "[[rule]]\nhost = \"h.test\"\naccount = \"a\"\nresources = [\"not a uri\"]\n",
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("not an absolute URI"), "{e}");
    }

    #[test]
    fn dot_segments_and_encoded_separators_are_refused_or_removed_the_same_everywhere() {
        let rules = vec![
            rule("h.test", Some("org-a"), None, "a"),
            rule("h.test", Some("org-b"), None, "b"),
        ];
        // `..` literal or encoded, from a URL (which, Docker, kubectl) or git's decoded field.
        for url in [
            "https://h.test/org-a/%2e%2e/org-b",
            "https://h.test/org-a/%2E%2E/org-b.git",
            "https://h.test/org-a/.%2e/org-b",
            "https://h.test/org-a/../org-b",
            "h.test/org-a/%2e%2e/org-b",
            "https://h.test/org-a%2F..%2Forg-b",
            "https://h.test/org-a/%5C..%5Corg-b",
            "https://h.test/org-a\\..\\org-b",
        ] {
            let e = Target::parse(url).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidInput, "{url}");
            assert!(e.to_string().contains("sends no token"), "{url}: {e}");
        }
        for path in [
            "org-a/../org-b.git",
            "org-a/%2e%2e/org-b.git",
            "org-a/x%2Fy",
            "a\\b",
        ] {
            assert!(
                Target::from_host_field(Some("https"), "h.test", Some(path), None).is_err(),
                "{path}"
            );
        }
        // `.` segments go (RFC 3986 §5.2.4), encoded or not; decoding happens once.
        let t = Target::parse("https://h.test/./org-a/%2e/x.git?q=1#f").unwrap();
        assert_eq!(t.path.as_deref(), Some("org-a/x.git"));
        assert_eq!(select(&rules, &t, None).unwrap().account, "a");
        let g =
            Target::from_host_field(Some("https"), "h.test", Some("org-b/./y.git"), None).unwrap();
        assert_eq!(select(&rules, &g, None).unwrap().account, "b");
        assert_eq!(
            Target::parse("https://h.test/a%20b/%2541")
                .unwrap()
                .path
                .as_deref(),
            Some("a b/%41")
        );
        // A rule's path is checked the same way.
        assert!(Rule::new("h.test", Some("org-a/.."), None, "a").is_err());
        assert!(Rule::new("https://h.test/x/%2e%2e", None, None, "a").is_err());
        assert_eq!(Target::parse("https://h.test/").unwrap().path, None);
        assert_eq!(Target::parse("https://h.test/./").unwrap().path, None);
    }

    #[test]
    fn tokens_travel_over_https_or_to_loopback_only() {
        for ok in [
            "https://h.test",
            "h.test",
            "http://127.0.0.1:8080",
            "http://localhost",
            "http://[::1]:5000",
            "HTTP://LOCALHOST",
        ] {
            assert!(t(ok).check_transport().is_ok(), "{ok}");
        }
        for bad in [
            "http://h.test",
            "http://10.0.0.1",
            "ftp://h.test",
            "http://localhost.evil.test",
        ] {
            let e = t(bad).check_transport().unwrap_err().to_string();
            assert!(e.contains("use https"), "{bad}: {e}");
        }
        assert!(transport_allowed("http", "[::1]"));
        assert!(!transport_allowed("ws", "127.0.0.1"));
    }
}
