//! git's credential helper protocol (gitcredentials(7), git-credential(1)), run as
//! `latchkey git-credential get|store|erase`.
//!
//! git writes `key=value` lines and a blank line (or closes the pipe); unknown keys are
//! ignored, as git does ([`read_request`]: bounded, UTF-8, no NUL, a line without `=` is an
//! error that quotes none of it). `get` answers `username`, `password` (the access token) and
//! `password_expiry_utc` for the account the selection rules pick — or, when the server asks
//! only for a Bearer token and git announced `capability[]=authtype`, `authtype=Bearer` and
//! `credential`. It never hands out a refresh token. No matching rule: nothing on stdout, so
//! git tries its next helper; a rule for a plain-http server: one line on stderr, nothing on
//! stdout. `store` is a no-op (the tokens live in the keychain). `erase` (git had the token
//! rejected) makes the next `get` refresh once; it never signs out.

use std::io::{BufRead, Write};

use crate::error::{Error, Result};
use crate::handout::{CredentialRequest, Handout, Handouts, Subject, Tool};
use crate::rules::Target;

/// The helper's action (git appends it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Answer a credential.
    Get,
    /// git reports a credential that worked (nothing to store: tokens live in the keychain).
    Store,
    /// git reports a credential that was rejected.
    Erase,
}

/// The most input a request may have (git's are a few hundred bytes).
pub const MAX_INPUT: usize = 64 * 1024;

/// A parsed request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
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
pub fn read_request(input: &mut impl BufRead) -> Result<Request> {
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

    /// What git talks to (`None` without `protocol` and `host`).
    pub fn subject(&self) -> Option<Subject> {
        let (Some(protocol), Some(host)) = (&self.protocol, &self.host) else {
            return None;
        };
        Some(Subject::GitRequest {
            protocol: Some(protocol.clone()),
            host: host.clone(),
            path: self.path.clone(),
            username: self.username.clone(),
        })
    }
}

/// Runs one helper action: reads git's request from `stdin`, answers on `stdout`, says why
/// nothing was answered on `stderr`. An `Err` is for the caller to print (exit non-zero).
pub async fn main(
    action: Action,
    env_override: Option<&str>,
    mut stdin: impl BufRead,
    mut stdout: impl Write,
    mut stderr: impl Write,
    latchkey: &impl Handouts,
) -> Result<()> {
    let req = read_request(&mut stdin)?;
    if action == Action::Store {
        return Ok(());
    }
    let Some(subject) = req.subject() else {
        let _ = writeln!(
            stderr,
            "latchkey: git-credential: the request names no protocol and host; answering nothing"
        );
        return Ok(());
    };
    if action == Action::Erase {
        latchkey.token_rejected(&subject, env_override).await?;
        return Ok(());
    }
    let handout = latchkey
        .credential(CredentialRequest {
            tool: Tool::Git,
            subject,
            env_override: env_override.map(str::to_string),
            min_ttl: None,
        })
        .await?;
    let credential = match handout {
        Handout::NoRule => return Ok(()),
        Handout::Refused(reason) => {
            // Nothing on stdout: git goes on without a token.
            let _ = writeln!(stderr, "latchkey: git-credential: {reason}");
            return Ok(());
        }
        Handout::Issued(c) => c,
    };
    if let Some(w) = &credential.token.degraded {
        let _ = writeln!(stderr, "latchkey: warning: {w}");
    }
    let token = credential.token.token.expose();
    let mut out = String::new();
    if req.wants_bearer() {
        out.push_str("capability[]=authtype\nauthtype=Bearer\n");
        out.push_str(&format!("credential={token}\n"));
    } else {
        out.push_str(&format!("username={}\n", credential.username));
        out.push_str(&format!("password={token}\n"));
    }
    if let Some(exp) = credential.token.expires_at {
        out.push_str(&format!("password_expiry_utc={}\n", exp.unix_timestamp()));
    }
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::io("answering git", e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::tools::fake::{Fake, block, issued};

    fn parse(s: &str) -> Result<Request> {
        read_request(&mut s.as_bytes())
    }

    fn run(action: Action, input: &[u8], fake: &Fake) -> (Result<()>, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let r = block(main(action, None, input, &mut out, &mut err, fake));
        (
            r,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
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
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
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

    #[test]
    fn get_answers_username_password_and_expiry_for_the_request() {
        let fake = Fake::answering(Ok(issued("tok-1")));
        let (r, out, err) = run(
            Action::Get,
            b"protocol=https\nhost=git.test:8443\npath=org/r.git\nusername=bob\n\n",
            &fake,
        );
        r.unwrap();
        assert_eq!(
            out,
            "username=x-access-token\npassword=tok-1\npassword_expiry_utc=1893553445\n"
        );
        assert_eq!(err, "");
        let asked = fake.asked.borrow();
        assert_eq!(asked[0].tool, Tool::Git);
        assert_eq!(
            asked[0].subject,
            Subject::GitRequest {
                protocol: Some("https".into()),
                host: "git.test:8443".into(),
                path: Some("org/r.git".into()),
                username: Some("bob".into()),
            }
        );
    }

    #[test]
    fn get_answers_bearer_when_git_and_the_server_agree() {
        let fake = Fake::answering(Ok(issued("tok-2")));
        let (r, out, _) = run(
            Action::Get,
            b"protocol=https\nhost=h\nwwwauth[]=Bearer realm=\"r\"\ncapability[]=authtype\n\n",
            &fake,
        );
        r.unwrap();
        assert_eq!(
            out,
            "capability[]=authtype\nauthtype=Bearer\ncredential=tok-2\npassword_expiry_utc=1893553445\n"
        );
    }

    #[test]
    fn no_rule_refused_store_and_a_request_without_host_answer_nothing() {
        let (r, out, err) = run(
            Action::Get,
            b"protocol=https\nhost=h\n\n",
            &Fake::answering(Ok(Handout::NoRule)),
        );
        r.unwrap();
        assert_eq!((out.as_str(), err.as_str()), ("", ""));
        let refused = Fake::answering(Ok(Handout::Refused(
            "not sending a token over http://".into(),
        )));
        let (r, out, err) = run(Action::Get, b"protocol=http\nhost=h\n\n", &refused);
        r.unwrap();
        assert_eq!(out, "");
        assert!(err.contains("not sending a token over http://"), "{err}");
        let fake = Fake::answering(Ok(issued("never")));
        let (r, out, _) = run(
            Action::Store,
            b"protocol=https\nhost=h\npassword=p\n\n",
            &fake,
        );
        r.unwrap();
        assert_eq!(out, "");
        let (r, out, err) = run(Action::Get, b"path=x\n\n", &fake);
        r.unwrap();
        assert_eq!(out, "");
        assert!(err.contains("names no protocol and host"), "{err}");
        assert!(fake.asked.borrow().is_empty(), "nothing was asked");
    }

    #[test]
    fn erase_marks_the_token_rejected_and_hostile_input_answers_nothing() {
        let fake = Fake::answering(Ok(issued("never")));
        let (r, out, _) = run(Action::Erase, b"protocol=https\nhost=h\n\n", &fake);
        r.unwrap();
        assert_eq!(out, "");
        assert_eq!(fake.rejected.borrow().len(), 1);
        for hostile in [
            &b"protocol=https\nhost=h\nthis is not a pair\n"[..],
            b"protocol=https\nhost=\x1b[2Jh\0\n",
            b"\xff\xfe=\n",
        ] {
            let fake = Fake::answering(Ok(issued("never")));
            let (r, out, _) = run(Action::Get, hostile, &fake);
            let e = r.unwrap_err();
            assert!(!e.to_string().chars().any(crate::text::is_unsafe), "{e:?}");
            assert_eq!(out, "", "no token for hostile input");
        }
    }

    #[test]
    fn a_degraded_token_is_still_answered_with_a_warning() {
        let mut h = issued("tok-3");
        if let Handout::Issued(c) = &mut h {
            c.token.degraded = Some("provider unreachable".into());
        }
        let (r, out, err) = run(
            Action::Get,
            b"protocol=https\nhost=h\n\n",
            &Fake::answering(Ok(h)),
        );
        r.unwrap();
        assert!(out.contains("password=tok-3"));
        assert_eq!(err, "latchkey: warning: provider unreachable\n");
    }
}
