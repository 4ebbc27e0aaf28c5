//! cargo: a credential provider speaking cargo's JSON-lines protocol, and the registry entry
//! `latchkey setup cargo` writes into cargo's `config.toml`.
//!
//! **The provider** ([`main`]). For `credential-provider = ["/abs/latchkey",
//! "cargo-credential"]` cargo runs `/abs/latchkey --cargo-plugin` (the rest of the array
//! arrives as each request's `args`, unused here); the provider prints its hello
//! `{"v":[1]}`, then answers one JSON request per line until stdin ends:
//!
//! - `"kind":"get"` (any `operation`: read, publish, yank, …): the token of the account the
//!   rule for the registry's index URL (or `LATCHKEY_ACCOUNT`) picks, from the one hand-out
//!   ([`crate::LoginManager::credential_for`]: https only except loopback, bearer only).
//!   cargo sends the token verbatim as the `Authorization` value, so the answer is
//!   `Bearer <token>`, cacheable by cargo until [`CACHE_MARGIN`] before the token expires
//!   (`"cache":"expires"`; `"never"` when the expiry is unknown or too near) and
//!   `operation_independent`. No rule for the index: `not-found` (cargo tries its next
//!   provider, then says it found no token), with a line on stderr saying how to set it up.
//!   Refused or failed: `other` with the reason (what to do included).
//! - `"kind":"login"` / `"logout"`: Latchkey keeps no registry token, so there is nothing to
//!   store or remove; both are answered `operation-not-supported`, with a message naming the
//!   account and the command that signs it in (or out) — in the answer and on stderr, since
//!   cargo shows only the kind. A token cargo passes with `login` is skipped by the parser and
//!   kept nowhere.
//! - Unknown fields are ignored, unknown kinds are `operation-not-supported`, and a line that
//!   is no request (malformed JSON, another protocol version, longer than [`MAX_LINE`]) gets
//!   `other` with what was wrong — the loop goes on.
//!
//! **The config entry** ([`edit_config`]): `[registries.NAME]` with `index = "sparse+URL"` and
//! the provider above, edited with `toml_edit` so every other line and comment stays as
//! written. A table Latchkey creates carries a comment line ([`MARKER`]) so `--undo` removes
//! the whole table only when Latchkey wrote it (else only the `credential-provider` key).
//! Never a token. The index URL follows the registry rule of [`super::npm::Registry`]
//! (http(s), no user-info, plain http only to loopback).

use std::io::{BufRead, Write};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use toml_edit::{Array, DocumentMut, Item, Table, Value};

use super::npm::Registry;
use crate::error::{Error, Result};
use crate::handout::{CredentialRequest, Handout, Handouts, Subject, Tool};
use crate::remedy::Remedy;

/// The CLI command of the provider (the second word of its `credential-provider` array).
pub const HELPER_COMMAND: &str = "cargo-credential";

/// How long before the token's expiry cargo must stop reusing it.
pub const CACHE_MARGIN: Duration = Duration::from_secs(60);

/// The longest request line read; a longer one is answered `other` and skipped.
pub const MAX_LINE: usize = 64 * 1024;

/// The comment above a `[registries.NAME]` table `setup cargo` created.
pub const MARKER: &str = "# Added by Latchkey's cargo set-up (its token comes from Latchkey; `--undo` removes this table).";

/// The part of [`MARKER`] `--undo` looks for: the same in the marker of earlier versions (which
/// named the set-up command), so their tables are still recognised.
const MARKER_TAIL: &str = "(its token comes from Latchkey; `--undo` removes this table).";

/// The protocol versions this provider speaks.
const HELLO: &[u8] = b"{\"v\":[1]}\n";

/// A sparse registry index, checked and in one canonical spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    /// `sparse+https://host[:port]/path/`, as cargo's config holds it.
    pub url: String,
    /// The registry URL without `sparse+` (what the rules match on).
    pub registry: Registry,
}

impl Index {
    /// Parses `sparse+https://host/path/`, `https://host/path/` or a bare host (https). Plain
    /// http is refused except to loopback.
    pub fn parse(url: &str) -> Result<Index> {
        let url = url.trim();
        let rest = url.strip_prefix("sparse+").unwrap_or(url);
        let registry = Registry::parse(rest)?;
        Ok(Index {
            url: format!("sparse+{}", registry.url),
            registry,
        })
    }
}

/// Checks a cargo registry name (`[registries.NAME]`): letters, digits, `-` and `_`.
pub fn check_registry_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::InvalidInput(format!(
            "not a cargo registry name: `{}` (letters, digits, `-` and `_`)",
            crate::text::clean(name, 64)
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The provider
// ---------------------------------------------------------------------------------------------

/// A request from cargo; fields this provider does not use (the `login` token, `headers`,
/// `args`, the operation's crate name and version) are not even read.
#[derive(Debug, Deserialize)]
struct Request {
    v: u32,
    registry: RegistryInfo,
    kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RegistryInfo {
    index_url: String,
}

/// How long cargo may reuse a token.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "cache", rename_all = "kebab-case")]
enum Cache {
    /// Ask again for every request.
    Never,
    /// Until this UNIX time.
    Expires { expiration: i64 },
}

/// One answer line.
#[derive(Serialize)]
enum Answer {
    Ok(Issued),
    Err(Failure),
}

#[derive(Serialize)]
struct Issued {
    kind: &'static str,
    token: String,
    #[serde(flatten)]
    cache: Cache,
    operation_independent: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Failure {
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caused_by: Option<Vec<String>>,
}

impl Answer {
    fn error(kind: &'static str, message: Option<String>) -> Answer {
        let caused_by = (kind == "other").then(Vec::new);
        Answer::Err(Failure {
            kind,
            message: message.map(|m| crate::text::clean(&m, 1000)),
            caused_by,
        })
    }

    fn other(message: impl Into<String>) -> Answer {
        Answer::error("other", Some(message.into()))
    }
}

/// One line of input, bounded.
enum Line {
    Text(Vec<u8>),
    TooLong,
}

/// Reads up to the next `\n` (`None` at the end of input); a line longer than `max` is
/// consumed and reported as [`Line::TooLong`] without being kept.
fn read_line(input: &mut impl BufRead, max: usize) -> std::io::Result<Option<Line>> {
    let mut buf = Vec::new();
    let mut too_long = false;
    let mut any = false;
    loop {
        let available = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(match (any, too_long) {
                (false, _) => None,
                (true, true) => Some(Line::TooLong),
                (true, false) => Some(Line::Text(buf)),
            });
        }
        any = true;
        let (chunk, used, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (&available[..i], i + 1, true),
            None => (available, available.len(), false),
        };
        if !too_long {
            if buf.len() + chunk.len() > max {
                too_long = true;
                buf = Vec::new();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        input.consume(used);
        if done {
            return Ok(Some(if too_long {
                Line::TooLong
            } else {
                Line::Text(buf)
            }));
        }
    }
}

/// What the provider answers for `index_url` (cargo's `registry.index-url`).
fn subject(index_url: &str) -> Subject {
    let url = index_url.strip_prefix("sparse+").unwrap_or(index_url);
    Subject::Server { url: url.into() }
}

/// The hand-out cargo's `get` asks for.
pub fn request(index_url: &str, env_override: Option<&str>) -> CredentialRequest {
    CredentialRequest {
        tool: Tool::Cargo,
        subject: subject(index_url),
        env_override: env_override.map(str::to_string),
        min_ttl: Some(CACHE_MARGIN.as_secs()),
    }
}

/// How long cargo may keep `expires_at`'s token, seen at `now`.
fn cache_for(expires_at: Option<OffsetDateTime>, now: OffsetDateTime) -> Cache {
    match expires_at.map(|e| e - CACHE_MARGIN) {
        Some(until) if until > now => Cache::Expires {
            expiration: until.unix_timestamp(),
        },
        _ => Cache::Never,
    }
}

/// The provider: the hello, then one answer line per request line on `stdin` until it ends.
/// Only writing to `stdout` can fail it. `say` is the shell's words for an error (with what to
/// do); `now` the clock for the cache deadline.
#[allow(clippy::too_many_arguments)]
pub async fn main(
    mut stdin: impl BufRead,
    mut stdout: impl Write,
    mut stderr: impl Write,
    env_override: Option<&str>,
    latchkey: &impl Handouts,
    now: impl Fn() -> OffsetDateTime,
    say: impl Fn(&Error) -> String,
) -> std::io::Result<()> {
    stdout.write_all(HELLO)?;
    stdout.flush()?;
    loop {
        let answer = match read_line(&mut stdin, MAX_LINE)? {
            None => return Ok(()),
            Some(Line::TooLong) => Answer::other(format!(
                "a request line longer than {} KiB: not a cargo credential request",
                MAX_LINE / 1024
            )),
            Some(Line::Text(line)) if line.trim_ascii().is_empty() => continue,
            Some(Line::Text(line)) => {
                answer(&line, &mut stderr, env_override, latchkey, &now, &say).await
            }
        };
        serde_json::to_writer(&mut stdout, &answer)?;
        stdout.write_all(b"\n")?;
        stdout.flush()?;
    }
}

async fn answer(
    line: &[u8],
    stderr: &mut impl Write,
    env_override: Option<&str>,
    latchkey: &impl Handouts,
    now: &impl Fn() -> OffsetDateTime,
    say: &impl Fn(&Error) -> String,
) -> Answer {
    let request: Request = match serde_json::from_slice(line) {
        Ok(r) => r,
        Err(e) => {
            return Answer::other(format!(
                "not a cargo credential request: {}",
                crate::text::clean(&e.to_string(), crate::text::MAX_DESCRIPTION)
            ));
        }
    };
    if request.v != 1 {
        return Answer::other(format!(
            "cargo asked in protocol version {}; Latchkey speaks version 1",
            request.v
        ));
    }
    let index = &request.registry.index_url;
    let shown = crate::text::clean(index, crate::text::MAX_URI);
    match request.kind.as_str() {
        "get" => get(index, stderr, env_override, latchkey, now, say).await,
        "login" | "logout" => {
            let account = latchkey
                .select(&subject(index), env_override)
                .await
                .ok()
                .flatten()
                .map(|s| s.account);
            let said = match (request.kind.as_str(), account) {
                ("login", Some(a)) => Error::Other(format!(
                    "Latchkey keeps no registry token, so there is nothing to store: cargo gets a fresh token of the account `{a}` for every command"
                ))
                .with_remedy(Remedy::SignIn { account: a }),
                ("logout", Some(a)) => Error::Other(format!(
                    "Latchkey stored no token for cargo, so there is nothing to remove: the registry gets the account `{a}`'s token while it is signed in, or until cargo's set-up is taken back"
                ))
                .with_remedy(Remedy::SignOut { account: a }),
                _ => Error::Other(format!(
                    "Latchkey keeps no registry token, and no Latchkey rule names {shown}"
                ))
                .with_remedy(Remedy::SetupCargo { index: shown }),
            };
            let words = say(&said);
            // cargo shows only "requested operation not supported" for this kind: the words
            // go to stderr (cargo's own) too.
            let _ = writeln!(
                stderr,
                "latchkey {HELPER_COMMAND}: {}",
                crate::text::clean(&words, 1000)
            );
            Answer::error("operation-not-supported", Some(words))
        }
        _ => Answer::error("operation-not-supported", None),
    }
}

async fn get(
    index: &str,
    stderr: &mut impl Write,
    env_override: Option<&str>,
    latchkey: &impl Handouts,
    now: &impl Fn() -> OffsetDateTime,
    say: &impl Fn(&Error) -> String,
) -> Answer {
    let shown = crate::text::clean(index, crate::text::MAX_URI);
    match latchkey.credential(request(index, env_override)).await {
        Ok(Handout::NoRule) => {
            let said = Error::InvalidInput(format!("no Latchkey rule for {shown}"))
                .with_remedy(Remedy::SetupCargo { index: shown });
            let _ = writeln!(stderr, "latchkey {HELPER_COMMAND}: {}", say(&said));
            Answer::error("not-found", None)
        }
        Ok(Handout::Refused(reason)) => Answer::other(reason),
        Ok(Handout::Issued(c)) => {
            if let Some(w) = &c.token.degraded {
                let _ = writeln!(stderr, "latchkey {HELPER_COMMAND}: warning: {w}");
            }
            let value = match super::bearer_value(&c.token.token, &c.token.token_type) {
                Ok(v) => v,
                Err(e) => return Answer::other(say(&e)),
            };
            Answer::Ok(Issued {
                kind: "get",
                token: value.expose().to_string(),
                cache: cache_for(c.token.expires_at, now()),
                operation_independent: true,
            })
        }
        Err(e) => Answer::other(say(&e)),
    }
}

// ---------------------------------------------------------------------------------------------
// The config entry
// ---------------------------------------------------------------------------------------------

/// The result of [`edit_config`].
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigEdit {
    /// The new text (the old one, byte for byte, when nothing changed).
    pub text: String,
    /// What changed, for people (`+ [registries.NAME] index = …`); empty: nothing.
    pub changes: Vec<String>,
}

/// The `credential-provider` value: this binary and the command.
fn provider_array(latchkey: &str) -> Array {
    let mut a = Array::new();
    a.push(latchkey);
    a.push(HELPER_COMMAND);
    a
}

/// Whether `item` is a provider Latchkey wrote (this binary, or any `…/latchkey`, running
/// `cargo-credential`).
fn is_latchkey_provider(item: Option<&Item>, latchkey: &str) -> bool {
    let Some(a) = item.and_then(Item::as_array) else {
        return false;
    };
    let words: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
    match words.as_slice() {
        [program, command] if words.len() == a.len() && *command == HELPER_COMMAND => {
            *program == latchkey
                || std::path::Path::new(program)
                    .file_name()
                    .is_some_and(|n| n == "latchkey")
        }
        _ => false,
    }
}

/// Sets (or, with `undo`, removes) the registry `name` with `index` and Latchkey as its
/// credential provider in cargo's `config.toml` text, keeping everything else as written.
/// Pure. Refuses (the detail of a config error) a file that is not TOML, a `registries` or
/// `registries.NAME` that is not a table, and a registry `name` with another index.
pub fn edit_config(
    text: &str,
    name: &str,
    index: &Index,
    latchkey: &str,
    undo: bool,
) -> std::result::Result<ConfigEdit, String> {
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        format!(
            "not TOML: {}",
            crate::text::clean(e.message(), crate::text::MAX_DESCRIPTION)
        )
    })?;
    let head = format!("[registries.{name}]");
    let unchanged = || ConfigEdit {
        text: text.to_string(),
        changes: Vec::new(),
    };
    let root = doc.as_table_mut();
    let mut changes = Vec::new();
    if undo {
        let Some(regs) = root.get_mut("registries") else {
            return Ok(unchanged());
        };
        let Some(regs) = regs.as_table_like_mut() else {
            return Ok(unchanged());
        };
        let Some(reg) = regs.get(name) else {
            return Ok(unchanged());
        };
        let current = reg
            .as_table_like()
            .and_then(|t| t.get("credential-provider"));
        if !is_latchkey_provider(current, latchkey) {
            return Ok(unchanged());
        }
        let created = reg.as_table().is_some_and(|t| {
            t.decor()
                .prefix()
                .and_then(|p| p.as_str())
                .is_some_and(|p| p.contains(MARKER_TAIL))
                && t.iter()
                    .all(|(k, _)| k == "index" || k == "credential-provider")
        });
        if created {
            regs.remove(name);
            changes.push(format!("- {head}"));
            if root
                .get("registries")
                .and_then(Item::as_table)
                .is_some_and(|t| t.is_empty() && t.is_implicit())
            {
                root.remove("registries");
            }
        } else if let Some(reg) = regs.get_mut(name).and_then(Item::as_table_like_mut) {
            reg.remove("credential-provider");
            changes.push(format!(
                "- {head} credential-provider = {}",
                provider_array(latchkey)
            ));
        }
        return Ok(ConfigEdit {
            text: doc.to_string(),
            changes,
        });
    }

    if !root.contains_key("registries") {
        let mut t = Table::new();
        t.set_implicit(true);
        root.insert("registries", Item::Table(t));
    }
    let regs = root
        .get_mut("registries")
        .ok_or_else(|| "the `registries` table went missing".to_string())?;
    if regs.is_inline_table() {
        // An inline table is closed: the new entry could carry no marker, so `--undo` could not
        // tell it from the user's own.
        return Err(format!(
            "`registries` is written inline (`registries = {{ … }}`): write it as `[registries.…]` sections so `[registries.{name}]` can be added and taken back exactly"
        ));
    }
    let regs = regs
        .as_table_like_mut()
        .ok_or_else(|| "`registries` is not a table".to_string())?;
    match regs.get_mut(name) {
        None => {
            let mut t = Table::new();
            t.insert("index", toml_edit::value(index.url.as_str()));
            t.insert(
                "credential-provider",
                toml_edit::value(provider_array(latchkey)),
            );
            let lead = if text.trim().is_empty() { "" } else { "\n" };
            t.decor_mut().set_prefix(format!("{lead}{MARKER}\n"));
            changes.push(format!("+ {head} index = \"{}\"", index.url));
            changes.push(format!(
                "+ {head} credential-provider = {}",
                provider_array(latchkey)
            ));
            regs.insert(name, Item::Table(t));
        }
        Some(reg) => {
            let reg = reg
                .as_table_like_mut()
                .ok_or_else(|| format!("`registries.{name}` is not a table"))?;
            match reg.get("index").map(|i| i.as_str()) {
                None => {
                    reg.insert("index", toml_edit::value(index.url.as_str()));
                    changes.push(format!("+ {head} index = \"{}\"", index.url));
                }
                Some(Some(have)) if Index::parse(have).is_ok_and(|h| h.url == index.url) => {}
                Some(have) => {
                    return Err(format!(
                        "the registry `{name}` has the index `{}` there, not `{}`: choose another --registry name, or change the file",
                        crate::text::clean(have.unwrap_or("(not a string)"), crate::text::MAX_URI),
                        index.url
                    ));
                }
            }
            let wanted = provider_array(latchkey);
            let same = reg
                .get("credential-provider")
                .and_then(Item::as_array)
                .is_some_and(|a| {
                    a.iter().map(Value::as_str).collect::<Vec<_>>()
                        == [Some(latchkey), Some(HELPER_COMMAND)]
                });
            if !same {
                let change = match reg.get("credential-provider") {
                    Some(old) => format!(
                        "~ {head} credential-provider = {wanted} (was {})",
                        crate::text::clean(&old.to_string(), crate::text::MAX_URI).trim()
                    ),
                    None => format!("+ {head} credential-provider = {wanted}"),
                };
                reg.insert("credential-provider", toml_edit::value(wanted));
                changes.push(change);
            }
        }
    }
    if changes.is_empty() {
        return Ok(unchanged());
    }
    Ok(ConfigEdit {
        text: doc.to_string(),
        changes,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::tools::fake::{Fake, block, issued};

    const EXE: &str = "/usr/bin/latchkey";

    fn index(s: &str) -> Index {
        Index::parse(s).unwrap()
    }

    #[test]
    fn index_urls_are_sparse_canonical_and_https_only() {
        let i = index("https://Crates.Example.com/index");
        assert_eq!(i.url, "sparse+https://crates.example.com/index/");
        assert_eq!(i.registry.url, "https://crates.example.com/index/");
        assert_eq!(
            index("sparse+http://127.0.0.1:8080/").url,
            "sparse+http://127.0.0.1:8080/"
        );
        for bad in [
            "http://crates.example.com/",
            "sparse+http://crates.example.com/",
            "ssh://h/",
            "https://u:p@h/",
        ] {
            assert!(Index::parse(bad).is_err(), "{bad}");
        }
        check_registry_name("my-reg_1").unwrap();
        for bad in ["", "a.b", "a b", "x]"] {
            assert!(check_registry_name(bad).is_err(), "{bad:?}");
        }
    }

    fn talk(input: &str, fake: &Fake) -> (Vec<serde_json::Value>, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let now = time::macros::datetime!(2030-01-01 00:00:00 UTC);
        block(main(
            input.as_bytes(),
            &mut out,
            &mut err,
            Some("work"),
            fake,
            || now,
            |e| match e.remedy() {
                Some(r) => format!("said: {e} [{r:?}]"),
                None => format!("said: {e}"),
            },
        ))
        .unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.ends_with('\n'), "{out:?}");
        (
            out.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
            String::from_utf8(err).unwrap(),
        )
    }

    const GET: &str = r#"{"v":1,"registry":{"index-url":"sparse+https://crates.example.com/","name":"corp","headers":["WWW-Authenticate: Cargo"]},"kind":"get","operation":"read","args":[],"new":1}"#;

    #[test]
    fn get_answers_the_bearer_value_cached_until_before_expiry() {
        let fake = Fake::answering(Ok(issued("tok-c")));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let now = time::macros::datetime!(2030-01-01 00:00:00 UTC);
        block(main(
            format!("{GET}\n").as_bytes(),
            &mut out,
            &mut err,
            None,
            &fake,
            || now,
            |e| e.to_string(),
        ))
        .unwrap();
        // Byte for byte: the hello, then the answer (the fake's token expires 2030-01-02T03:04:05Z).
        let expiry = time::macros::datetime!(2030-01-02 03:03:05 UTC).unix_timestamp();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "{{\"v\":[1]}}\n{{\"Ok\":{{\"kind\":\"get\",\"token\":\"Bearer tok-c\",\"cache\":\"expires\",\"expiration\":{expiry},\"operation_independent\":true}}}}\n"
            )
        );
        let asked = fake.asked.borrow();
        assert_eq!(asked[0].tool, Tool::Cargo);
        assert_eq!(
            asked[0].subject,
            Subject::Server {
                url: "https://crates.example.com/".into()
            }
        );
        assert_eq!(asked[0].min_ttl, Some(60));
    }

    #[test]
    fn a_token_near_its_expiry_is_not_cached() {
        let t = time::macros::datetime!(2030-01-02 03:04:05 UTC);
        assert_eq!(
            cache_for(Some(t), t - Duration::from_secs(30)),
            Cache::Never
        );
        assert_eq!(cache_for(None, t), Cache::Never);
        assert_eq!(
            cache_for(Some(t), t - Duration::from_secs(3600)),
            Cache::Expires {
                expiration: t.unix_timestamp() - 60
            }
        );
    }

    #[test]
    fn no_rule_is_not_found_with_a_hint_and_refusals_and_errors_are_other() {
        let (out, err) = talk(&format!("{GET}\n"), &Fake::answering(Ok(Handout::NoRule)));
        assert_eq!(out[0], serde_json::json!({"v": [1]}));
        assert_eq!(out[1], serde_json::json!({"Err": {"kind": "not-found"}}));
        assert!(
            err.contains(
                r#"said: no Latchkey rule for sparse+https://crates.example.com/ [SetupCargo { index: "sparse+https://crates.example.com/" }]"#
            ),
            "{err}"
        );
        let (out, _) = talk(
            &format!("{GET}\n"),
            &Fake::answering(Ok(Handout::Refused("not over http".into()))),
        );
        assert_eq!(
            out[1],
            serde_json::json!({"Err": {"kind": "other", "message": "not over http", "caused-by": []}})
        );
        let (out, _) = talk(
            &format!("{GET}\n"),
            &Fake::answering(Err(Error::NeedsSignIn {
                account: "work".into(),
                reason: "no tokens".into(),
            })),
        );
        let msg = out[1]["Err"]["message"].as_str().unwrap();
        assert!(msg.starts_with("said: "), "{msg}");
        assert!(!out[1].to_string().contains("Bearer"));
    }

    #[test]
    fn login_and_logout_have_nothing_to_store_and_say_so() {
        let mut fake = Fake::answering(Ok(Handout::NoRule));
        fake.select = Some(crate::rules::Selection {
            account: "work".into(),
            reason: crate::rules::Reason::Environment,
            spec: Default::default(),
        });
        let input = r#"{"v":1,"registry":{"index-url":"sparse+https://crates.example.com/"},"kind":"login","token":"pasted-secret","login-url":null}
{"v":1,"registry":{"index-url":"sparse+https://crates.example.com/"},"kind":"logout"}
{"v":1,"registry":{"index-url":"sparse+https://crates.example.com/"},"kind":"teleport"}
"#;
        let (out, err) = talk(input, &fake);
        assert!(err.contains(r#"[SignIn { account: "work" }]"#), "{err}");
        assert_eq!(out.len(), 4);
        for a in &out[1..] {
            assert_eq!(a["Err"]["kind"], "operation-not-supported", "{a}");
        }
        let login = out[1]["Err"]["message"].as_str().unwrap();
        assert!(login.contains(r#"[SignIn { account: "work" }]"#), "{login}");
        assert!(!out[1].to_string().contains("pasted-secret"));
        let logout = out[2]["Err"]["message"].as_str().unwrap();
        assert!(
            logout.contains(r#"[SignOut { account: "work" }]"#),
            "{logout}"
        );
        assert!(out[3]["Err"].get("message").is_none());
        assert!(fake.asked.borrow().is_empty(), "no hand-out for login");
    }

    #[test]
    fn malformed_lines_get_an_error_and_the_loop_goes_on() {
        let long = "x".repeat(MAX_LINE + 10);
        let input = format!(
            "not json\n\n{{\"v\":2,\"registry\":{{\"index-url\":\"x\"}},\"kind\":\"get\"}}\n{{\"v\":1,\"kind\":\"get\"}}\n{long}\n\u{1b}[31m\n{GET}"
        );
        let (out, _) = talk(&input, &Fake::answering(Ok(issued("tok-d"))));
        assert_eq!(out.len(), 7, "{out:?}");
        for a in &out[1..6] {
            assert_eq!(a["Err"]["kind"], "other", "{a}");
            let m = a["Err"]["message"].as_str().unwrap();
            assert!(!m.chars().any(crate::text::is_unsafe), "{m:?}");
        }
        assert!(
            out[2]["Err"]["message"]
                .as_str()
                .unwrap()
                .contains("version 2")
        );
        assert!(
            out[4]["Err"]["message"]
                .as_str()
                .unwrap()
                .contains("longer than")
        );
        // The last line, without a newline, is still answered.
        assert_eq!(out[6]["Ok"]["token"], "Bearer tok-d");
    }

    #[test]
    fn config_edit_adds_is_idempotent_and_undoes_byte_for_byte() {
        let i = index("http://127.0.0.1:8080/index/");
        for before in [
            "",
            "# my cargo config\n[net]\nretry = 3 # comment\n\n[registries.other]\nindex = \"sparse+https://o.test/\"\n",
            "[registries]\nmine = { index = \"sparse+https://m.test/\" }\n",
        ] {
            let e = edit_config(before, "corp", &i, EXE, false).unwrap();
            assert_eq!(e.changes.len(), 2, "{e:?}");
            assert!(e.text.starts_with(before), "{}", e.text);
            assert!(e.text.contains(MARKER));
            let parsed: toml::Table = toml::from_str(&e.text).unwrap();
            let reg = &parsed["registries"]["corp"];
            assert_eq!(
                reg["index"].as_str(),
                Some("sparse+http://127.0.0.1:8080/index/")
            );
            assert_eq!(
                reg["credential-provider"],
                toml::Value::Array(vec![EXE.into(), "cargo-credential".into()])
            );
            let again = edit_config(&e.text, "corp", &i, EXE, false).unwrap();
            assert!(again.changes.is_empty());
            assert_eq!(again.text, e.text);
            let undone = edit_config(&e.text, "corp", &i, EXE, true).unwrap();
            assert_eq!(undone.changes, ["- [registries.corp]"]);
            assert_eq!(undone.text, before);
            assert!(
                edit_config(before, "corp", &i, EXE, true)
                    .unwrap()
                    .changes
                    .is_empty()
            );
        }
    }

    #[test]
    fn a_table_marked_by_an_earlier_version_is_still_undone_whole() {
        let i = index("https://crates.example.com/");
        let e = edit_config("", "corp", &i, EXE, false).unwrap();
        let earlier = e.text.replace(
            MARKER,
            &format!("# Added by `{} setup cargo` {MARKER_TAIL}", "latchkey"),
        );
        assert_ne!(earlier, e.text);
        let undone = edit_config(&earlier, "corp", &i, EXE, true).unwrap();
        assert_eq!(undone.changes, ["- [registries.corp]"]);
        assert_eq!(undone.text, "");
    }

    #[test]
    fn an_existing_registry_keeps_its_keys_and_only_the_provider_is_undone() {
        let i = index("https://crates.example.com/");
        let before = "[registries.corp] # ours\nindex = \"sparse+https://crates.example.com\"\nprotocol = \"sparse\"\ncredential-provider = \"cargo:token\"\n";
        let e = edit_config(before, "corp", &i, EXE, false).unwrap();
        assert_eq!(
            e.changes,
            [format!(
                "~ [registries.corp] credential-provider = [\"{EXE}\", \"cargo-credential\"] (was \"cargo:token\")"
            )]
        );
        assert!(e.text.contains("protocol = \"sparse\""));
        assert!(e.text.starts_with("[registries.corp] # ours\n"));
        let undone = edit_config(&e.text, "corp", &i, EXE, true).unwrap();
        assert_eq!(undone.changes.len(), 1);
        assert!(
            undone
                .text
                .contains("index = \"sparse+https://crates.example.com\"")
        );
        assert!(!undone.text.contains("credential-provider"));
        // Another index under the same name is refused; so is a file that is not TOML.
        let other = index("https://elsewhere.example.com/");
        assert!(
            edit_config(before, "corp", &other, EXE, false)
                .unwrap_err()
                .contains("choose another --registry name")
        );
        assert!(edit_config("[oops", "corp", &i, EXE, false).is_err());
        assert!(edit_config("registries = 3\n", "corp", &i, EXE, false).is_err());
        assert!(
            edit_config(
                "registries = { a = { index = \"x\" } }\n",
                "corp",
                &i,
                EXE,
                false
            )
            .unwrap_err()
            .contains("written inline")
        );
        // A provider that is not Latchkey's is never undone.
        assert!(
            edit_config(before, "corp", &i, EXE, true)
                .unwrap()
                .changes
                .is_empty()
        );
        // Nor is a token ever written.
        assert!(!e.text.contains("token ="));
    }
}
