//! The blocking agent client: a std `UnixStream` with connect/read/write timeouts, no runtime.
//!
//! Every call returns [`Outcome::Served`] with the agent's answer (which may be an error the
//! agent's core reported, as [`crate::Error::Agent`]), or [`Outcome::Fallback`] with the reason
//! the caller should use the direct path instead: no socket, nobody listening, no answer in
//! time, a protocol version or operation the agent does not know, a refused peer, a busy agent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::protocol::{self, Answer, Op, PROTOCOL_VERSION, Request, Response};
use crate::error::{Error, ErrorKind};
#[cfg(unix)]
use latchkey_wire::conn::Connection;

/// How long a client waits for an answer to a request that may refresh a token.
pub const ANSWER_DEADLINE: Duration = latchkey_wire::ANSWER_DEADLINE;
/// How long `latchkey request` waits (the agent makes the HTTP request too).
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(60);
/// The longest message of an agent's error shown to a person.
const MAX_AGENT_MESSAGE: usize = 2000;

/// The agent answered, or the caller should fall back.
#[derive(Debug)]
pub enum Outcome<T> {
    /// The agent's answer.
    Served {
        /// The agent's pid.
        pid: u32,
        /// What it said.
        result: Result<T, Error>,
    },
    /// Use the direct path; the reason is for `-v`.
    Fallback(String),
    /// The request was sent but no usable answer came (the agent died or timed out): an
    /// idempotent request may fall back; one with effects elsewhere (`request`) must not
    /// be sent twice.
    Lost(String),
}

/// Told when the agent says a hand-out waits for the owner's approval (the CLI prints what
/// it waits for).
pub type WaitHook = std::sync::Arc<dyn Fn(&crate::approval::PendingApproval) + Send + Sync>;

/// A client of the agent at one socket path.
#[derive(Clone)]
pub struct Client {
    path: PathBuf,
    config_dir: Option<PathBuf>,
    on_wait: Option<WaitHook>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("path", &self.path)
            .field("config_dir", &self.config_dir)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of the agent at [`super::socket_path`], sending `$LATCHKEY_CONFIG_DIR` when set.
    /// A client that sends none means the platform's default config dir: an agent that serves
    /// another one refuses it (`other_config_dir`), and the caller uses its own accounts. (The
    /// default is not sent as a path: over a forwarded socket the remote's home is not the
    /// agent's.)
    pub fn from_env() -> Self {
        Client {
            path: super::socket_path(),
            config_dir: latchkey_wire::config_dir_from_env(),
            on_wait: None,
        }
    }

    /// A client of the agent at `path`.
    pub fn new(path: impl Into<PathBuf>, config_dir: Option<PathBuf>) -> Self {
        Client {
            path: path.into(),
            config_dir,
            on_wait: None,
        }
    }

    /// This client, telling `hook` when a hand-out waits for approval.
    pub fn on_wait(mut self, hook: WaitHook) -> Self {
        self.on_wait = Some(hook);
        self
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends one request and reads its answer.
    pub fn call(&self, op: Op, deadline: Duration) -> Outcome<Answer> {
        // An HTTP request the agent may have sent must never be sent again by the caller.
        let has_effects = matches!(op, Op::Request { .. } | Op::RequestFor { .. });
        self.outcome(has_effects, self.call_inner(op, deadline))
    }

    /// Carries on with a `token` request the `latchkey` front sent on `stream` (its standard
    /// input, handed over): `first` is the answer it read, not a token — an error, or a prompt
    /// whose outcome is read from `stream`. The agent is not asked again.
    #[cfg(unix)]
    pub fn resume(
        &self,
        stream: std::os::unix::net::UnixStream,
        first: Vec<u8>,
        deadline: Duration,
    ) -> Outcome<Answer> {
        let answered = Connection::adopt(stream, deadline)
            .map_err(|e| (e.reason, false))
            .and_then(|conn| self.answers(conn, Some(first), Ok(()), deadline));
        self.outcome(false, answered)
    }

    fn outcome(
        &self,
        has_effects: bool,
        answered: Result<Response, (String, bool)>,
    ) -> Outcome<Answer> {
        match answered {
            Ok(resp) if resp.v != PROTOCOL_VERSION => Outcome::Fallback(format!(
                "the agent answered with protocol version {} (this latchkey speaks {PROTOCOL_VERSION})",
                resp.v
            )),
            Ok(Response {
                pid,
                answer:
                    Answer::Error {
                        kind,
                        message,
                        remedy,
                    },
                ..
            }) => {
                // The agent's words reach a terminal: no control characters, bounded.
                let message = crate::text::clean_lines(&message, MAX_AGENT_MESSAGE);
                let kind = crate::text::clean(&kind, crate::text::MAX_ERROR_CODE);
                let remedy = remedy.map(|r| Box::new(r.cleaned()));
                match serde_json::from_value::<ErrorKind>(serde_json::Value::String(kind.clone())) {
                    Ok(kind) => Outcome::Served {
                        pid,
                        result: Err(Error::Agent {
                            kind,
                            message,
                            remedy,
                        }),
                    },
                    Err(_) if has_effects && !protocol::kinds::not_executed(&kind, &message) => {
                        Outcome::Served {
                            pid,
                            result: Err(Error::Agent {
                                kind: ErrorKind::Other,
                                message,
                                remedy,
                            }),
                        }
                    }
                    Err(_) => {
                        Outcome::Fallback(format!("the agent (pid {pid}) said {kind}: {message}"))
                    }
                }
            }
            Ok(resp) => Outcome::Served {
                pid: resp.pid,
                result: Ok(resp.answer),
            },
            Err((reason, false)) => Outcome::Fallback(reason),
            Err((reason, true)) => Outcome::Lost(reason),
        }
    }

    #[cfg(unix)]
    fn call_inner(&self, op: Op, deadline: Duration) -> Result<Response, (String, bool)> {
        let req = Request {
            v: PROTOCOL_VERSION,
            config_dir: self.config_dir.clone(),
            op,
        };
        let body =
            serde_json::to_vec(&req).map_err(|e| (format!("encoding the request: {e}"), false))?;
        if body.len() > protocol::MAX_REQUEST {
            return Err((
                format!(
                    "the request is over the agent's {} MiB limit",
                    protocol::MAX_REQUEST >> 20
                ),
                false,
            ));
        }
        let mut conn = Connection::open(&self.path, deadline).map_err(|e| {
            if e.untrusted {
                tracing::warn!(socket = %self.path.display(), "not asking the agent: {}", e.reason);
            }
            (e.reason, false)
        })?;
        // The agent may answer before reading (refused, busy) and close: read its answer even
        // if the write failed.
        let written = conn.send(&body);
        self.answers(conn, None, written, deadline)
    }

    /// Reads the answers to one request: a `waiting` frame (said once, through the wait hook)
    /// and then the answer; `first` is one already read.
    #[cfg(unix)]
    fn answers(
        &self,
        mut conn: Connection,
        mut first: Option<Vec<u8>>,
        written: std::io::Result<()>,
        deadline: Duration,
    ) -> Result<Response, (String, bool)> {
        let shown = self.path.display();
        let io = |e: &std::io::Error| (format!("talking to the agent at {shown}: {e}"), false);
        let mut waited = false;
        loop {
            let answer = match first.take() {
                Some(frame) => frame,
                None => conn
                    .read(protocol::MAX_RESPONSE)
                    .map_err(|e| {
                        if latchkey_wire::conn::timed_out(&e) {
                            format!(
                                "the agent at {shown} did not answer within {} ms",
                                deadline.as_millis()
                            )
                        } else {
                            format!("the agent at {shown} closed the connection: {e}")
                        }
                    })
                    .map_err(|r| match &written {
                        Err(e) => io(e),
                        // Once a prompt was raised the request was carried as far as a person:
                        // never asked again on another path.
                        Ok(()) => (r, true),
                    })?,
            };
            let resp: Response = serde_json::from_slice(&answer).map_err(|e| {
                (
                    // Not serde's message: it may quote a value of the answer (a token).
                    format!(
                        "the agent at {shown} answered something this latchkey does not understand ({:?} at line {}, column {})",
                        e.classify(),
                        e.line(),
                        e.column()
                    ),
                    true,
                )
            })?;
            match resp.answer {
                Answer::Waiting { pending, wait_secs } if !waited => {
                    waited = true;
                    let pending = pending.cleaned();
                    if let Some(tell) = &self.on_wait {
                        tell(&pending);
                    }
                    // The owner has this long to answer; then the agent's answer comes.
                    conn.extend(Duration::from_secs(wait_secs.min(600)) + ANSWER_DEADLINE);
                }
                Answer::Waiting { .. } => {
                    return Err((format!("the agent at {shown} said it waits twice"), true));
                }
                _ => return Ok(resp),
            }
        }
    }

    #[cfg(not(unix))]
    fn call_inner(&self, _op: Op, _deadline: Duration) -> Result<Response, (String, bool)> {
        Err(("the agent is only available on Unix".into(), false))
    }
}

/// Maps an answer of an unexpected shape to a fallback.
pub fn unexpected(pid: u32, what: &str) -> String {
    format!("the agent (pid {pid}) answered a {what} request with something else")
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// An agent (of this uid) that answers every request with `answer`, once per connection.
    fn agent_answering(answer: serde_json::Value) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let _ = protocol::read_frame(&mut conn, protocol::MAX_REQUEST);
                let body = serde_json::to_vec(&answer).unwrap();
                let _ = protocol::write_frame(&mut conn, &body);
            }
        });
        (dir, path)
    }

    fn request_op() -> Op {
        Op::Request {
            account: "a".into(),
            method: "POST".into(),
            url: url::Url::parse("https://api.example/x").unwrap(),
            headers: vec![],
            body_b64: None,
        }
    }

    /// Issue 16, point 4: an older agent answered `bad_request` *after* sending the request when
    /// the answer was too large. For an HTTP request only a refusal that proves nothing was done
    /// lets the caller send it itself; a token request may always fall back.
    #[test]
    fn an_answer_after_an_executed_request_is_final_never_a_fallback() {
        let too_large = serde_json::json!({"v": 1, "pid": 7, "result": "error",
            "kind": "bad_request", "message": "the answer is over the protocol's size limit"});
        let (_d, path) = agent_answering(too_large);
        let client = Client::new(&path, None);
        match client.call(request_op(), Duration::from_secs(5)) {
            Outcome::Served { result: Err(e), .. } => {
                assert!(e.to_string().contains("size limit"), "{e}")
            }
            other => panic!("the request must not be repeated: {other:?}"),
        }
        let token = Op::Token {
            account: "a".into(),
            min_ttl: None,
            force: false,
        };
        assert!(matches!(
            client.call(token, Duration::from_secs(5)),
            Outcome::Fallback(_)
        ));

        let new_kind = serde_json::json!({"v": 1, "pid": 7, "result": "error",
            "kind": protocol::kinds::EXECUTED_TOO_LARGE, "message": "sent; \u{1b}[2Jtoo large"});
        let (_d2, path) = agent_answering(new_kind);
        match Client::new(&path, None).call(request_op(), Duration::from_secs(5)) {
            Outcome::Served { result: Err(e), .. } => {
                assert_eq!(
                    e.to_string(),
                    "sent; [2Jtoo large",
                    "control characters stripped"
                )
            }
            other => panic!("final: {other:?}"),
        }

        // An operation it does not know: nothing was sent, the direct path may do it.
        let unknown = serde_json::json!({"v": 1, "pid": 7, "result": "error",
            "kind": "bad_request", "message": "unknown or malformed request `request_for` (Data error)"});
        let (_d3, path) = agent_answering(unknown);
        assert!(matches!(
            Client::new(&path, None).call(request_op(), Duration::from_secs(5)),
            Outcome::Fallback(_)
        ));
    }
}
