//! The Docker credential helper protocol (docker-credential-helpers): `get`, `store`, `erase`,
//! `list`, `version`, run as `docker-credential-latchkey ACTION` or `latchkey
//! docker-credential ACTION`.
//!
//! `get` reads a server URL on stdin ([`server_url`]) and prints
//! `{"ServerURL","Username","Secret"}` with a fresh access token of the account the selection
//! rules pick — never for an explicit `http://` server other than loopback, nor for a path the
//! rules refuse (`..`, `%2F`), nor a DPoP-bound token (the one hand-out,
//! [`crate::LoginManager::credential_for`]). Errors go to stdout (where Docker reads them) and
//! stderr, with a non-zero exit. No matching rule prints exactly [`NOT_FOUND`], which Docker
//! treats as "no credentials". `store` keeps nothing (tokens live in the keychain) and says
//! so; `erase` makes the next `get` refresh once; `list` maps each rule to its username.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::handout::{CredentialRequest, Handout, Handouts, Subject, Tool};
use crate::remedy::Remedy;
use crate::rules::Target;

/// The protocol's not-found message (docker-credential-helpers `credentials.ErrCredentialsNotFound`).
pub const NOT_FOUND: &str = "credentials not found in native keychain";

/// The name Docker runs (`credHelpers` value `latchkey`).
pub const BINARY_NAME: &str = "docker-credential-latchkey";

/// The most input read from stdin.
pub const MAX_INPUT: u64 = 64 * 1024;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Credentials<'a> {
    #[serde(rename = "ServerURL")]
    server_url: &'a str,
    username: &'a str,
    secret: &'a str,
}

/// A `store` request (`Secret` is never read into memory).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StoreRequest {
    /// The registry.
    #[serde(rename = "ServerURL")]
    pub server_url: String,
    /// The username Docker would store.
    #[serde(default)]
    pub username: Option<String>,
}

/// What an action printed, before the exit code is chosen.
enum Outcome {
    /// Print this on stdout, exit 0.
    Ok(String),
    /// The protocol's not-found answer.
    NotFound,
}

fn read_input(stdin: &mut impl Read) -> Result<String> {
    let mut bytes = Vec::new();
    stdin
        .take(MAX_INPUT)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("reading the request from standard input", e))?;
    String::from_utf8(bytes)
        .map_err(|_| Error::InvalidInput("the request on standard input is not UTF-8".into()))
}

/// The one server URL of a `get` or `erase` request.
pub fn server_url(input: &str) -> Result<String> {
    let url = input.trim();
    if url.is_empty() {
        return Err(Error::InvalidInput(
            "no server URL on standard input".into(),
        ));
    }
    if url.contains(char::is_whitespace) {
        return Err(Error::InvalidInput(
            "expected one server URL on standard input".into(),
        ));
    }
    Ok(url.to_string())
}

/// Parses a `store` request (the error quotes no part of it: it carries a secret).
pub fn store_request(input: &str) -> Result<StoreRequest> {
    serde_json::from_str(input).map_err(|e| {
        Error::InvalidInput(format!(
            "store: expected {{\"ServerURL\",\"Username\",\"Secret\"}} JSON ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

/// Runs one helper action; the result is the exit code (what went wrong is already written,
/// to `stdout` for Docker and to `stderr` for people). `say` is the shell's words for an error
/// and its exit code (the core names no command and owns no exit code).
pub async fn main(
    action: &str,
    env_override: Option<&str>,
    mut stdin: impl Read,
    mut stdout: impl Write,
    mut stderr: impl Write,
    latchkey: &impl Handouts,
    say: impl Fn(&Error) -> (String, u8),
) -> u8 {
    let outcome = run(action, env_override, &mut stdin, &mut stderr, latchkey).await;
    let written = match outcome {
        Ok(Outcome::Ok(out)) => stdout.write_all(out.as_bytes()).map(|()| 0),
        Ok(Outcome::NotFound) => writeln!(stdout, "{NOT_FOUND}").map(|()| 1),
        Err(e) => {
            // Docker shows what the helper printed on stdout; people running it see stderr.
            let (words, code) = say(&e);
            let msg = format!("{BINARY_NAME}: {words}");
            let _ = writeln!(stderr, "{msg}");
            writeln!(stdout, "{msg}").map(|()| code)
        }
    };
    written
        .and_then(|code| stdout.flush().map(|()| code))
        .unwrap_or(1)
}

async fn run(
    action: &str,
    env: Option<&str>,
    stdin: &mut impl Read,
    stderr: &mut impl Write,
    latchkey: &impl Handouts,
) -> Result<Outcome> {
    match action {
        "get" => {
            let url = server_url(&read_input(stdin)?)?;
            // Parsed here too: a bad URL is refused before anything is asked.
            Target::parse(&url)?;
            let request = CredentialRequest {
                tool: Tool::Docker,
                subject: Subject::Server { url: url.clone() },
                env_override: env.map(str::to_string),
                min_ttl: None,
            };
            let credential = match latchkey.credential(request).await? {
                Handout::NoRule => return Ok(Outcome::NotFound),
                Handout::Refused(reason) => return Err(Error::InvalidInput(reason)),
                Handout::Issued(c) => c,
            };
            if let Some(w) = &credential.token.degraded {
                let _ = writeln!(stderr, "{BINARY_NAME}: warning: {w}");
            }
            let json = serde_json::to_string(&Credentials {
                server_url: &url,
                username: &credential.username,
                secret: credential.token.token.expose(),
            })
            .map_err(|e| Error::Other(format!("cannot encode the answer: {e}")))?;
            Ok(Outcome::Ok(json + "\n"))
        }
        "store" => {
            let req = store_request(&read_input(stdin)?)?;
            let target = Target::parse(&req.server_url)?;
            let subject = Subject::Server {
                url: req.server_url,
            };
            match latchkey.select(&subject, env).await? {
                Some(sel) => Err(Error::InvalidInput(format!(
                    "{} gets tokens from the Latchkey account `{}`; Latchkey stores no registry passwords (sign in instead)",
                    target.authority(),
                    sel.account,
                ))
                .with_remedy(Remedy::SignIn {
                    account: sel.account,
                })),
                None => Err(Error::InvalidInput(format!(
                    "no Latchkey rule for {}; Latchkey stores no registry passwords (set up Docker for it instead)",
                    target.authority(),
                ))
                .with_remedy(Remedy::SetupDocker {
                    registry: target.authority().to_string(),
                })),
            }
        }
        "erase" => {
            let url = server_url(&read_input(stdin)?)?;
            Target::parse(&url)?;
            match latchkey
                .token_rejected(&Subject::Server { url }, env)
                .await?
            {
                Some(_) => Ok(Outcome::Ok(String::new())),
                None => Ok(Outcome::NotFound),
            }
        }
        "list" => {
            let mut map = serde_json::Map::new();
            for (pattern, username) in latchkey.usernames().await? {
                map.insert(pattern, serde_json::Value::String(username));
            }
            Ok(Outcome::Ok(
                serde_json::Value::Object(map).to_string() + "\n",
            ))
        }
        "version" => Ok(Outcome::Ok(format!(
            "{BINARY_NAME} (latchkey {})\n",
            env!("CARGO_PKG_VERSION")
        ))),
        other => Err(Error::InvalidInput(format!(
            "unknown action `{}`; usage: {BINARY_NAME} <get|store|erase|list|version>",
            crate::text::clean(other, crate::text::MAX_ERROR_CODE)
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::tools::fake::{Fake, block, issued};

    fn run(action: &str, input: &[u8], fake: &Fake) -> (u8, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let say = |e: &Error| {
            let code = match e.kind() {
                crate::ErrorKind::InvalidInput => 2,
                _ => 1,
            };
            (e.to_string(), code)
        };
        let code = block(main(action, None, input, &mut out, &mut err, fake, say));
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn get_prints_the_credentials_json_for_the_server() {
        let fake = Fake::answering(Ok(issued("tok-d")));
        let (code, out, _) = run("get", b"registry.test:5000\n", &fake);
        assert_eq!(code, 0);
        assert_eq!(
            out,
            "{\"ServerURL\":\"registry.test:5000\",\"Username\":\"x-access-token\",\"Secret\":\"tok-d\"}\n"
        );
        let asked = fake.asked.borrow();
        assert_eq!(asked[0].tool, Tool::Docker);
        assert_eq!(
            asked[0].subject,
            Subject::Server {
                url: "registry.test:5000".into()
            }
        );
    }

    #[test]
    fn no_rule_is_the_protocols_not_found_and_a_refusal_an_error_on_both_streams() {
        let (code, out, _) = run("get", b"r.test", &Fake::answering(Ok(Handout::NoRule)));
        assert_eq!(
            (code, out.as_str()),
            (1, "credentials not found in native keychain\n")
        );
        let refused = Fake::answering(Ok(Handout::Refused(
            "not sending a token over http://".into(),
        )));
        let (code, out, err) = run("get", b"http://r.test", &refused);
        assert_eq!(code, 2);
        assert_eq!(
            out,
            "docker-credential-latchkey: not sending a token over http://\n"
        );
        assert_eq!(out, err);
    }

    #[test]
    fn hostile_input_gets_no_token_and_printable_errors() {
        for input in [
            &b""[..],
            b"two urls\n",
            b"\xff\xfe",
            b"https://\x1b[2J/",
            b"https://h/a/%2e%2e/b",
        ] {
            let fake = Fake::answering(Ok(issued("never")));
            let (code, out, _) = run("get", input, &fake);
            assert_ne!(code, 0, "{input:?}");
            assert!(!out.contains("never"), "{input:?}");
            assert!(
                !out.trim_end().chars().any(crate::text::is_unsafe),
                "{out:?}"
            );
            assert!(fake.asked.borrow().is_empty(), "{input:?}: nothing asked");
        }
        let (code, out, _) = run(
            "\x1b]0;evil\x07",
            b"",
            &Fake::answering(Ok(Handout::NoRule)),
        );
        assert_eq!(code, 2);
        assert!(
            !out.trim_end().chars().any(crate::text::is_unsafe),
            "{out:?}"
        );
    }

    #[test]
    fn store_refuses_and_never_echoes_the_secret_erase_marks_list_maps() {
        let fake = Fake::answering(Ok(Handout::NoRule));
        let (code, out, _) = run(
            "store",
            br#"{"ServerURL":"r.test","Username":"u","Secret":"s3cret"}"#,
            &fake,
        );
        assert_eq!(code, 2);
        assert!(out.contains("no Latchkey rule for r.test"), "{out}");
        let (code, out, _) = run("store", br#"{"ServerURL": 1, "Secret":"s3cret"}"#, &fake);
        assert_eq!(code, 2);
        assert!(!out.contains("s3cret"), "{out}");
        let (code, out, _) = run("erase", b"r.test\n", &fake);
        assert_eq!((code, out.as_str()), (0, ""));
        assert_eq!(fake.rejected.borrow().len(), 1);
        let mut fake = Fake::answering(Ok(Handout::NoRule));
        fake.usernames = vec![("r.test".into(), "oauth2".into())];
        let (code, out, _) = run("list", b"", &fake);
        assert_eq!((code, out.as_str()), (0, "{\"r.test\":\"oauth2\"}\n"));
        let (code, out, _) = run("version", b"", &fake);
        assert_eq!(code, 0);
        assert!(
            out.starts_with("docker-credential-latchkey (latchkey "),
            "{out}"
        );
    }
}
