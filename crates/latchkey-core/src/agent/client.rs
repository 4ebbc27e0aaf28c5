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

/// How long a client waits for an answer to a request that may refresh a token.
pub const ANSWER_DEADLINE: Duration = Duration::from_secs(5);
/// How long `latchkey request` waits (the agent makes the HTTP request too).
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(60);

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

/// A client of the agent at one socket path.
#[derive(Debug, Clone)]
pub struct Client {
    path: PathBuf,
    config_dir: Option<PathBuf>,
}

impl Client {
    /// A client of the agent at [`super::socket_path`], sending `$LATCHKEY_CONFIG_DIR` when set.
    pub fn from_env() -> Self {
        Client {
            path: super::socket_path(),
            config_dir: std::env::var_os(crate::config::CONFIG_DIR_ENV)
                .filter(|d| !d.is_empty())
                .map(PathBuf::from),
        }
    }

    /// A client of the agent at `path`.
    pub fn new(path: impl Into<PathBuf>, config_dir: Option<PathBuf>) -> Self {
        Client {
            path: path.into(),
            config_dir,
        }
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends one request and reads its answer.
    pub fn call(&self, op: Op, deadline: Duration) -> Outcome<Answer> {
        match self.call_inner(op, deadline) {
            Ok(resp) if resp.v != PROTOCOL_VERSION => Outcome::Fallback(format!(
                "the agent answered with protocol version {} (this latchkey speaks {PROTOCOL_VERSION})",
                resp.v
            )),
            Ok(Response {
                pid,
                answer: Answer::Error { kind, message },
                ..
            }) => {
                match serde_json::from_value::<ErrorKind>(serde_json::Value::String(kind.clone())) {
                    Ok(kind) => Outcome::Served {
                        pid,
                        result: Err(Error::Agent { kind, message }),
                    },
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
        use std::os::unix::net::UnixStream;
        let shown = self.path.display();
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
        let mut stream = UnixStream::connect(&self.path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => format!("no agent socket at {shown}"),
                std::io::ErrorKind::ConnectionRefused => {
                    format!("no agent listening at {shown} (stale socket)")
                }
                _ => format!("cannot connect to the agent at {shown}: {e}"),
            })
            .map_err(|r| (r, false))?;
        let io = |e: std::io::Error| (format!("talking to the agent at {shown}: {e}"), false);
        stream.set_write_timeout(Some(deadline)).map_err(io)?;
        stream.set_read_timeout(Some(deadline)).map_err(io)?;
        // The agent may answer before reading (refused, busy) and close: read its answer even
        // if the write failed.
        let written = protocol::write_frame(&mut stream, &body);
        let answer = protocol::read_frame(&mut stream, protocol::MAX_RESPONSE)
            .map_err(|e| match e {
                protocol::FrameError::Io(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    format!(
                        "the agent at {shown} did not answer within {} ms",
                        deadline.as_millis()
                    )
                }
                e => format!("the agent at {shown} closed the connection: {e}"),
            })
            .map_err(|r| match &written {
                Err(e) => io(std::io::Error::new(e.kind(), e.to_string())),
                Ok(()) => (r, true),
            })?;
        serde_json::from_slice(&answer).map_err(|e| {
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
        })
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
