//! `latchkey git-credential get|store|erase`: git's credential helper protocol
//! (gitcredentials(7), git-credential(1)).
//!
//! git writes `key=value` lines and a blank line (or closes the pipe); unknown keys are
//! ignored, as git does. `get` answers `username`, `password` (the access token) and
//! `password_expiry_utc` for the account the selection rules pick — or, when the server asks
//! only for a Bearer token and git announced `capability[]=authtype`, `authtype=Bearer` and
//! `credential`. It never hands out a refresh token. No matching rule: nothing on stdout, so
//! git tries its next helper. `store` is a no-op (the tokens live in the keychain). `erase`
//! (git had the token rejected) makes the next `get` refresh once; it never signs out.

use std::io::{BufRead, Write};

use clap::{Args, ValueEnum};
use latchkey_core::rules::Target;
use latchkey_core::{Error, TokenOptions};

use super::DirectPath;
use super::tokens::{account_override, fresh_token_for};

/// The helper's action (git appends it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Action {
    /// Answer a credential.
    Get,
    /// git reports a credential that worked (nothing to store: tokens live in the keychain).
    Store,
    /// git reports a credential that was rejected.
    Erase,
}

/// `latchkey git-credential`.
#[derive(Debug, Args)]
pub struct GitCredentialArgs {
    /// get, store or erase.
    #[arg(value_enum)]
    pub action: Action,
}

/// The most input a request may have (git's are a few hundred bytes).
const MAX_INPUT: usize = 64 * 1024;

/// A parsed request.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// `protocol`.
    pub protocol: Option<String>,
    /// `host` (with `:port`).
    pub host: Option<String>,
    /// `path` (only with `credential.useHttpPath`).
    pub path: Option<String>,
    /// `username`.
    pub username: Option<String>,
    /// `wwwauth[]`: the server's `WWW-Authenticate` challenges.
    pub wwwauth: Vec<String>,
    /// `capability[]`.
    pub capabilities: Vec<String>,
    /// A `password` was sent (its value is not kept).
    pub has_password: bool,
}

/// Reads git's request: `key=value` lines until a blank line or the end of input.
pub fn read_request(input: &mut impl BufRead) -> Result<Request, Error> {
    let mut req = Request::default();
    let mut total = 0usize;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = std::io::Read::take(&mut *input, (MAX_INPUT - total + 1) as u64)
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io("reading git's credential request", e))?;
        if n == 0 {
            break;
        }
        total += n;
        if total > MAX_INPUT {
            return Err(Error::InvalidInput(format!(
                "git-credential: the request is longer than {MAX_INPUT} bytes"
            )));
        }
        let text = std::str::from_utf8(&line)
            .map_err(|_| Error::InvalidInput("git-credential: the request is not UTF-8".into()))?;
        let text = text.strip_suffix('\n').unwrap_or(text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        if text.is_empty() {
            break;
        }
        if text.contains('\0') {
            return Err(Error::InvalidInput(
                "git-credential: the request contains a NUL byte".into(),
            ));
        }
        let Some((key, value)) = text.split_once('=') else {
            // Nothing of the line is echoed: without `=` there is no key, and the text may be
            // a secret pasted in the wrong place.
            return Err(Error::InvalidInput(
                "git-credential: malformed line without `=` (expected key=value; its text is not shown)"
                    .into(),
            ));
        };
        let v = || Some(value.to_string());
        match key {
            "protocol" => req.protocol = v(),
            "host" => req.host = v(),
            "path" => req.path = v(),
            "username" => req.username = v(),
            "password" => req.has_password = !value.is_empty(),
            "wwwauth[]" if value.is_empty() => req.wwwauth.clear(),
            "wwwauth[]" => req.wwwauth.push(value.to_string()),
            "capability[]" if value.is_empty() => req.capabilities.clear(),
            "capability[]" => req.capabilities.push(value.to_string()),
            "url" => {
                let t = Target::parse(value)?;
                req.protocol = t.protocol.clone().or(req.protocol);
                req.host = Some(t.authority());
                req.path = t.path.clone();
                req.username = t.username.clone();
            }
            _ => {} // Unknown keys are ignored, as git does.
        }
    }
    Ok(req)
}

impl Request {
    /// The server asks for a Bearer token only and git can send one (`authtype`).
    pub fn wants_bearer(&self) -> bool {
        let scheme = |c: &String| {
            c.split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase()
        };
        self.capabilities.iter().any(|c| c == "authtype")
            && self.wwwauth.iter().any(|c| scheme(c) == "bearer")
            && !self.wwwauth.iter().any(|c| scheme(c) == "basic")
    }
}

/// `latchkey git-credential ACTION`.
pub async fn credential(direct: &DirectPath, args: GitCredentialArgs) -> Result<u8, Error> {
    let req = read_request(&mut std::io::stdin().lock())?;
    if args.action == Action::Store {
        return Ok(0);
    }
    let (Some(protocol), Some(host)) = (req.protocol.as_deref(), req.host.as_deref()) else {
        eprintln!(
            "latchkey: git-credential: the request names no protocol and host; answering nothing"
        );
        return Ok(0);
    };
    let target = Target::from_host_field(
        Some(protocol),
        host,
        req.path.as_deref(),
        req.username.as_deref(),
    )?;
    let m = direct.manager()?;
    let Some(selection) = m.select_account(&target, account_override().as_deref())? else {
        tracing::debug!(host = %target.authority(), "no rule matches; answering nothing");
        return Ok(0);
    };
    if args.action == Action::Erase {
        m.mark_token_rejected(&selection.account).await?;
        return Ok(0);
    }
    if let Err(e) = target.check_transport() {
        // Nothing on stdout: git goes on without a token.
        eprintln!("latchkey: git-credential: {e}");
        return Ok(0);
    }
    let account = m.account(&selection.account)?;
    // A rule that names scopes, resources or an audience gets that token (same cache, locks
    // and rotation as `latchkey token NAME --resource URI`).
    let tok = fresh_token_for(&m, &account.name, &selection.spec, TokenOptions::default()).await?;
    if let Some(w) = &tok.degraded {
        eprintln!("latchkey: warning: {w}");
    }
    if tok.token_type.eq_ignore_ascii_case("dpop") {
        return Err(Error::InvalidInput(format!(
            "account `{}` has DPoP-bound tokens, which git cannot use; pick an account without --dpop",
            account.name
        )));
    }
    let mut out = String::new();
    if req.wants_bearer() {
        out.push_str("capability[]=authtype\nauthtype=Bearer\n");
        out.push_str(&format!("credential={}\n", tok.token.expose()));
    } else {
        out.push_str(&format!("username={}\n", m.token_username(&account)));
        out.push_str(&format!("password={}\n", tok.token.expose()));
    }
    if let Some(exp) = tok.expires_at {
        out.push_str(&format!("password_expiry_utc={}\n", exp.unix_timestamp()));
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::io("answering git", e))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Request, Error> {
        read_request(&mut s.as_bytes())
    }

    #[test]
    fn reads_until_the_blank_line_and_ignores_unknown_keys() {
        let r = parse(
            "protocol=https\nhost=git.example.com:8443\npath=org/repo.git\nusername=bob\npassword=x\nwwwauth[]=Basic realm=\"x\"\ncapability[]=authtype\nfuture_key=1\n\nhost=ignored\n",
        )
        .unwrap();
        assert_eq!(r.protocol.as_deref(), Some("https"));
        assert_eq!(r.host.as_deref(), Some("git.example.com:8443"));
        assert_eq!(r.path.as_deref(), Some("org/repo.git"));
        assert_eq!(r.username.as_deref(), Some("bob"));
        assert!(r.has_password);
        assert_eq!(r.wwwauth, vec!["Basic realm=\"x\""]);
        assert_eq!(r.capabilities, vec!["authtype"]);
        assert!(!r.wants_bearer(), "Basic is offered: username + password");
    }

    #[test]
    fn end_of_input_ends_the_request_and_url_fills_the_parts() {
        let r = parse("url=https://alice@h.test/a/b.git").unwrap();
        assert_eq!(r.host.as_deref(), Some("h.test"));
        assert_eq!(r.path.as_deref(), Some("a/b.git"));
        assert_eq!(r.username.as_deref(), Some("alice"));
        assert_eq!(parse("").unwrap(), Request::default());
    }

    #[test]
    fn bearer_only_with_the_capability_and_a_bearer_only_server() {
        let r = parse(
            "protocol=https\nhost=h\nwwwauth[]=Bearer realm=\"r\"\ncapability[]=authtype\n\n",
        )
        .unwrap();
        assert!(r.wants_bearer());
        let r = parse("protocol=https\nhost=h\nwwwauth[]=Bearer realm=\"r\"\n\n").unwrap();
        assert!(!r.wants_bearer(), "git did not announce authtype");
    }

    #[test]
    fn malformed_input_is_a_clear_error_that_never_echoes_a_value() {
        let e = parse("protocol=https\nthis line has no equals sign and a secret\n").unwrap_err();
        assert_eq!(e.kind(), latchkey_core::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("malformed line"), "{e}");
        assert!(!e.to_string().contains("secret"), "{e}");
        assert!(parse("host=a\0b\n").is_err());
        assert!(read_request(&mut &[b'h', b'=', 0xff, b'\n'][..]).is_err());
        let long = format!("host={}\n", "a".repeat(MAX_INPUT + 10));
        assert!(
            parse(&long)
                .unwrap_err()
                .to_string()
                .contains("longer than")
        );
    }
}
