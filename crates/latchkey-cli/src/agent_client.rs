//! The CLI's side of the agent: ask the agent first, fall back to the direct path.
//!
//! - [`fast_path`] runs in `main` before any runtime, HTTPS client or config parse: for
//!   `token`, `refresh`, `list`, `status`, `request` and `introspect` it asks the agent over a
//!   blocking socket and prints its answer. No agent, no answer in time, or an unknown protocol
//!   version → `None`, and the command runs the direct path (the reason is printed with `-v`).
//! - [`access_token`] is THE agent-first token fetch for code that runs inside the runtime
//!   (integrations: git, kubectl, Docker, `exec`): the agent if it answers, else the direct
//!   path through [`LoginManager`](latchkey_core::LoginManager).

use std::process::ExitCode;
use std::time::Duration;

use base64::Engine;
use latchkey_core::agent::client::{self, ANSWER_DEADLINE, Client, Outcome, REQUEST_DEADLINE};
use latchkey_core::agent::protocol::{Answer, Op};
use latchkey_core::target::TokenSpec;
use latchkey_core::{AccessToken, Error, TokenOptions};

use crate::cli::{Cli, Command};
use crate::output;

/// A valid access token for `name`: from the agent when one answers, else from the keychain
/// and the provider directly through `direct` (the same refresh protocol either way). The
/// fallback reason is logged at `info` (shown with `-v`). The integrations (git, kubectl,
/// Docker, `exec`) call it through `commands::tokens::fresh_token_for`.
pub async fn access_token_or(
    direct: &latchkey_core::LoginManager,
    name: &str,
    opts: TokenOptions,
) -> Result<AccessToken, Error> {
    let asked = if no_agent() {
        Outcome::Fallback("LATCHKEY_NO_AGENT is set".into())
    } else {
        ask_token(name, opts)
    };
    match asked {
        Outcome::Served { result, .. } => result,
        Outcome::Fallback(reason) | Outcome::Lost(reason) => {
            tracing::info!("agent not used ({reason}); using the direct path");
            direct.access_token(name, opts).await
        }
    }
}

/// [`access_token_or`] for exactly `spec` (scopes, resources, audience): the agent's
/// `token_for` operation when one answers, else [`LoginManager::token_for`]
/// (latchkey_core::LoginManager::token_for) — same keychain cache, locks and rotation. An agent
/// that does not know the operation answers `bad_request`, and the direct path serves.
pub async fn token_for_or(
    direct: &latchkey_core::LoginManager,
    name: &str,
    spec: &TokenSpec,
    opts: TokenOptions,
) -> Result<AccessToken, Error> {
    if spec.is_empty() {
        return access_token_or(direct, name, opts).await;
    }
    let asked = if no_agent() {
        Outcome::Fallback("LATCHKEY_NO_AGENT is set".into())
    } else {
        ask_token_for(name, spec, opts)
    };
    match asked {
        Outcome::Served { result, .. } => result,
        Outcome::Fallback(reason) | Outcome::Lost(reason) => {
            tracing::info!("agent not used ({reason}); using the direct path");
            direct.token_for(name, spec, opts).await
        }
    }
}

fn ask_token_for(name: &str, spec: &TokenSpec, opts: TokenOptions) -> Outcome<AccessToken> {
    let op = Op::TokenFor {
        account: name.to_string(),
        min_ttl: opts.min_ttl.map(|d| d.as_secs()),
        force: opts.force,
        spec: spec.into(),
    };
    ask_for_token(op, "token_for")
}

/// `LATCHKEY_NO_AGENT` set (and not `0`): never ask the agent.
fn no_agent() -> bool {
    std::env::var_os("LATCHKEY_NO_AGENT").is_some_and(|v| !v.is_empty() && v != "0")
}

fn ask_token(name: &str, opts: TokenOptions) -> Outcome<AccessToken> {
    let op = Op::Token {
        account: name.to_string(),
        min_ttl: opts.min_ttl.map(|d| d.as_secs()),
        force: opts.force,
    };
    ask_for_token(op, "token")
}

/// Sends `op` (a `token` or `token_for`) and maps the answer: a token, the agent's error, or a
/// fall back to the direct path (no agent, or an answer of another kind).
fn ask_for_token(op: Op, what: &'static str) -> Outcome<AccessToken> {
    match Client::from_env().call(op, ANSWER_DEADLINE) {
        Outcome::Served {
            pid,
            result: Ok(Answer::Token(t)),
        } => Outcome::Served {
            pid,
            result: Ok(t.into()),
        },
        Outcome::Served { pid, result: Ok(_) } => Outcome::Fallback(client::unexpected(pid, what)),
        Outcome::Served {
            pid,
            result: Err(e),
        } => Outcome::Served {
            pid,
            result: Err(e),
        },
        Outcome::Fallback(r) | Outcome::Lost(r) => Outcome::Fallback(r),
    }
}

fn exit_for(e: &Error) -> ExitCode {
    eprintln!("latchkey: {e}");
    ExitCode::from(e.kind().exit_status())
}

/// Tries the agent for the commands it serves; `Some(exit code)` when it answered.
pub fn fast_path(cli: &mut Cli) -> Option<ExitCode> {
    if no_agent() {
        return None;
    }
    let verbose = cli.verbose;
    let json = cli.json;
    let fallback = |reason: String| {
        if verbose > 0 {
            eprintln!("latchkey: agent not used ({reason}); using the direct path");
        }
        None
    };
    let agent = Client::from_env();
    match &mut cli.command {
        // A token for other APIs (`--scope/--resource/--audience`): the agent's `token_for`
        // (an older agent answers `bad_request`, and the direct path serves).
        Command::Token(t) if !t.target.is_empty() => {
            // A bad spec: the direct path says what is wrong.
            let spec = crate::commands::tokens::token_spec(&t.target).ok()?;
            let opts = TokenOptions {
                min_ttl: t.min_ttl.map(Duration::from_secs),
                force: false,
            };
            match ask_token_for(&t.name, &spec, opts) {
                Outcome::Served {
                    result: Ok(tok), ..
                } => {
                    output::token(&tok, json || t.json);
                    Some(ExitCode::SUCCESS)
                }
                Outcome::Served { result: Err(e), .. } => Some(exit_for(&e)),
                Outcome::Fallback(r) | Outcome::Lost(r) => fallback(r),
            }
        }
        Command::Token(t) => {
            let opts = TokenOptions {
                min_ttl: t.min_ttl.map(Duration::from_secs),
                force: false,
            };
            match ask_token(&t.name, opts) {
                Outcome::Served {
                    result: Ok(tok), ..
                } => {
                    output::token(&tok, json || t.json);
                    Some(ExitCode::SUCCESS)
                }
                Outcome::Served { result: Err(e), .. } => Some(exit_for(&e)),
                Outcome::Fallback(r) | Outcome::Lost(r) => fallback(r),
            }
        }
        Command::Refresh(r) => {
            let opts = TokenOptions {
                min_ttl: None,
                force: r.force,
            };
            match ask_token(&r.name, opts) {
                Outcome::Served {
                    result: Ok(tok), ..
                } => {
                    output::refreshed(&r.name, &tok, json || r.json);
                    Some(ExitCode::SUCCESS)
                }
                Outcome::Served { result: Err(e), .. } => Some(exit_for(&e)),
                Outcome::Fallback(r) | Outcome::Lost(r) => fallback(r),
            }
        }
        Command::List(l) => match agent.call(Op::List, ANSWER_DEADLINE) {
            Outcome::Served {
                result: Ok(Answer::Accounts { accounts, .. }),
                ..
            } => {
                output::list(&accounts, json || l.json);
                Some(ExitCode::SUCCESS)
            }
            Outcome::Served { result: Err(e), .. } => Some(exit_for(&e)),
            Outcome::Served { pid, .. } => fallback(client::unexpected(pid, "list")),
            Outcome::Fallback(r) | Outcome::Lost(r) => fallback(r),
        },
        Command::Status(s) => {
            let op = match &s.name {
                Some(n) => Op::Status { account: n.clone() },
                None => Op::List,
            };
            match agent.call(op, ANSWER_DEADLINE) {
                Outcome::Served {
                    pid,
                    result:
                        Ok(Answer::Accounts {
                            accounts,
                            keychain,
                            unwritten,
                        }),
                } => {
                    let served = output::Served::Agent {
                        pid,
                        keychain,
                        unwritten,
                    };
                    let ok = output::status(&accounts, json || s.json, served);
                    Some(ExitCode::from(if ok { 0 } else { 3 }))
                }
                Outcome::Served { result: Err(e), .. } => Some(exit_for(&e)),
                Outcome::Served { pid, .. } => fallback(client::unexpected(pid, "status")),
                Outcome::Fallback(r) | Outcome::Lost(r) => fallback(r),
            }
        }
        Command::Introspect(n) => match agent.call(
            Op::Introspect {
                account: n.name.clone(),
            },
            ANSWER_DEADLINE,
        ) {
            Outcome::Served {
                result: Ok(Answer::Introspection { introspection }),
                ..
            } => {
                output::introspection(&n.name, &introspection, json || n.json);
                Some(ExitCode::SUCCESS)
            }
            Outcome::Served { result: Err(e), .. } => Some(exit_for(&e)),
            Outcome::Served { pid, .. } => fallback(client::unexpected(pid, "introspect")),
            Outcome::Fallback(r) | Outcome::Lost(r) => fallback(r),
        },
        Command::Request(r) => {
            let body = match crate::commands::request_body(r) {
                Ok(b) => b,
                Err(e) => return Some(exit_for(&e)),
            };
            let head = crate::commands::request_head(r, body.is_some());
            let (method, headers) = match head {
                Ok(h) => h,
                Err(e) => return Some(exit_for(&e)),
            };
            let body_b64 = body
                .as_ref()
                .map(|b| base64::engine::general_purpose::STANDARD.encode(b));
            let op = if r.target.is_empty() {
                Op::Request {
                    account: r.name.clone(),
                    method,
                    url: r.url.clone(),
                    headers,
                    body_b64,
                }
            } else {
                // With `--scope/--resource/--audience`: `request_for` (an older agent answers
                // `bad_request` without sending anything, and the direct path serves).
                let spec = match crate::commands::tokens::token_spec(&r.target) {
                    Ok(s) => s,
                    Err(e) => return Some(exit_for(&e)),
                };
                Op::RequestFor {
                    account: r.name.clone(),
                    method,
                    url: r.url.clone(),
                    headers,
                    body_b64,
                    spec: (&spec).into(),
                }
            };
            let outcome = agent.call(op, REQUEST_DEADLINE);
            let reason = match outcome {
                Outcome::Served {
                    result:
                        Ok(Answer::Http {
                            status,
                            headers,
                            body_b64,
                        }),
                    pid,
                } => match base64::engine::general_purpose::STANDARD.decode(body_b64) {
                    Ok(bytes) => {
                        output::response_parts(status, &headers, &bytes, r.include);
                        crate::commands::tokens::explain_challenge(
                            &r.name,
                            status,
                            headers
                                .iter()
                                .filter(|(k, _)| k.eq_ignore_ascii_case("www-authenticate"))
                                .map(|(_, v)| v.as_str()),
                        );
                        return Some(ExitCode::from(if status >= 400 {
                            latchkey_core::error::EXIT_HTTP_ERROR_STATUS
                        } else {
                            0
                        }));
                    }
                    Err(_) => client::unexpected(pid, "request"),
                },
                Outcome::Served { result: Err(e), .. } => return Some(exit_for(&e)),
                Outcome::Served { pid, .. } => client::unexpected(pid, "request"),
                Outcome::Fallback(reason) => reason,
                Outcome::Lost(reason) => {
                    // The agent may have sent the request already: never send it twice.
                    return Some(exit_for(&Error::Other(format!(
                        "{reason}; the request may or may not have reached the server, so it was not repeated"
                    ))));
                }
            };
            // Standard input is read once: hand the body to the direct path.
            r.preread_body = Some(body);
            fallback(reason)
        }
        _ => None,
    }
}
