//! The Docker credential helper (docker-credential-helpers protocol): `get`, `store`, `erase`,
//! `list`, `version`. It runs as `docker-credential-latchkey ACTION` (the same binary under a
//! second name: `main` looks at `argv[0]`) or as `latchkey docker-credential ACTION`.
//!
//! `get` reads a server URL on stdin and prints `{"ServerURL","Username","Secret"}` with a
//! fresh access token of the account the selection rules pick — never for an explicit
//! `http://` server other than loopback ([`latchkey_core::rules::Target::check_transport`], as
//! for git and kubectl), nor for a path the rules refuse (`..`, `%2F`); errors go to stdout (where
//! Docker reads them) and stderr, with a non-zero exit. No matching rule prints exactly
//! [`NOT_FOUND`], which Docker treats as "no credentials". `store` keeps nothing (tokens live
//! in the keychain); `erase` makes the next `get` refresh once; `list` maps each rule to its
//! username.

use std::io::{Read, Write};

use clap::Args;
use latchkey_core::rules::Target;
use latchkey_core::{Error, TokenOptions};
use serde::{Deserialize, Serialize};

use super::DirectPath;
use super::tokens::{account_override, fresh_token_for};

/// The protocol's not-found message (docker-credential-helpers `credentials.ErrCredentialsNotFound`).
pub const NOT_FOUND: &str = "credentials not found in native keychain";

/// The name Docker runs (`credHelpers` value `latchkey`).
pub const BINARY_NAME: &str = "docker-credential-latchkey";

/// `latchkey docker-credential`.
#[derive(Debug, Args)]
pub struct DockerArgs {
    /// get, store, erase, list or version.
    pub action: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Credentials<'a> {
    #[serde(rename = "ServerURL")]
    server_url: &'a str,
    username: &'a str,
    secret: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StoreRequest {
    #[serde(rename = "ServerURL")]
    server_url: String,
    #[allow(dead_code)]
    username: Option<String>,
}

enum Outcome {
    /// Print this on stdout, exit 0.
    Ok(String),
    /// The protocol's not-found answer.
    NotFound,
}

/// Runs one helper action; the result is the exit code.
pub async fn helper(direct: &DirectPath, action: &str) -> u8 {
    match run(direct, action).await {
        Ok(Outcome::Ok(out)) => {
            let mut stdout = std::io::stdout().lock();
            if stdout
                .write_all(out.as_bytes())
                .and_then(|()| stdout.flush())
                .is_err()
            {
                return 1;
            }
            0
        }
        Ok(Outcome::NotFound) => {
            println!("{NOT_FOUND}");
            1
        }
        Err(e) => {
            // Docker shows what the helper printed on stdout; people running it see stderr.
            let msg = format!("{BINARY_NAME}: {e}");
            println!("{msg}");
            eprintln!("{msg}");
            e.kind().exit_status()
        }
    }
}

fn read_stdin() -> Result<String, Error> {
    let mut s = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut s)
        .map_err(|e| Error::io("reading the request from standard input", e))?;
    Ok(s)
}

fn server_url(input: &str) -> Result<String, Error> {
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

async fn run(direct: &DirectPath, action: &str) -> Result<Outcome, Error> {
    match action {
        "get" => {
            let url = server_url(&read_stdin()?)?;
            let target = Target::parse(&url)?;
            let m = direct.manager()?;
            let Some(sel) = m.select_account(&target, account_override().as_deref())? else {
                return Ok(Outcome::NotFound);
            };
            // https only (plain http only to loopback), the rule git and kubectl follow.
            target.check_transport()?;
            let account = m.account(&sel.account)?;
            let tok =
                fresh_token_for(&m, &account.name, &sel.spec, TokenOptions::default()).await?;
            if let Some(w) = &tok.degraded {
                eprintln!("{BINARY_NAME}: warning: {w}");
            }
            let username = m.token_username(&account);
            let json = serde_json::to_string(&Credentials {
                server_url: &url,
                username: &username,
                secret: tok.token.expose(),
            })
            .map_err(|e| Error::Other(format!("cannot encode the answer: {e}")))?;
            Ok(Outcome::Ok(json + "\n"))
        }
        "store" => {
            let req: StoreRequest = serde_json::from_str(&read_stdin()?).map_err(|e| {
                Error::InvalidInput(format!(
                    "store: expected {{\"ServerURL\",\"Username\",\"Secret\"}} JSON: {e}"
                ))
            })?;
            let target = Target::parse(&req.server_url)?;
            let m = direct.manager()?;
            match m.select_account(&target, account_override().as_deref())? {
                Some(sel) => Err(Error::InvalidInput(format!(
                    "{} gets tokens from the Latchkey account `{}`; Latchkey stores no registry passwords (sign in with `latchkey login {}`)",
                    target.authority(),
                    sel.account,
                    sel.account
                ))),
                None => Err(Error::InvalidInput(format!(
                    "no Latchkey rule for {}; Latchkey stores no registry passwords (set it up with `latchkey setup docker ACCOUNT --registry {}`)",
                    target.authority(),
                    target.authority()
                ))),
            }
        }
        "erase" => {
            let url = server_url(&read_stdin()?)?;
            let target = Target::parse(&url)?;
            let m = direct.manager()?;
            let Some(sel) = m.select_account(&target, account_override().as_deref())? else {
                return Ok(Outcome::NotFound);
            };
            m.mark_token_rejected(&sel.account).await?;
            Ok(Outcome::Ok(String::new()))
        }
        "list" => {
            let m = direct.manager()?;
            let mut map = serde_json::Map::new();
            for rule in m.rules()? {
                if let Ok(account) = m.account(&rule.account) {
                    map.insert(
                        rule.pattern(),
                        serde_json::Value::String(m.token_username(&account)),
                    );
                }
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
            "unknown action `{other}`; usage: {BINARY_NAME} <get|store|erase|list|version>"
        ))),
    }
}
