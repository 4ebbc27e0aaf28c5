//! The agent's wire protocol (version [`PROTOCOL_VERSION`]), described for people in
//! `docs/agent-protocol.md`.
//!
//! A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON. A client
//! sends a [`Request`] frame and reads one [`Response`] frame; it may send further requests on
//! the same connection. Requests are at most [`MAX_REQUEST`] bytes, responses at most
//! [`MAX_RESPONSE`]; a length over the bound ends the connection. Every read has a deadline.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::manager::{AccessToken, AccountSummary, Introspection, KeychainState};
use crate::secret::Secret;

pub use latchkey_wire::frame::{FrameError, encode, read_frame, write_frame};
pub use latchkey_wire::{MAX_REQUEST, MAX_RESPONSE, PROTOCOL_VERSION};

// An answer to an executed `request` always fits: the largest resource response the HTTP
// client accepts, base64 in the frame, and room for its headers.
const _: () = assert!(MAX_RESPONSE >= crate::http::MAX_RESOURCE_BODY.div_ceil(3) * 4 + 1024 * 1024);

/// Error kinds of the protocol itself (beside the core's [`crate::ErrorKind`] names). A client
/// that gets one of these falls back to the direct path.
pub mod kinds {
    /// The agent does not speak the request's version.
    pub const UNSUPPORTED_VERSION: &str = "unsupported_version";
    /// The request was not understood (bad JSON, unknown operation).
    pub const BAD_REQUEST: &str = "bad_request";
    /// The peer is not the agent's user.
    pub const REFUSED: &str = "refused";
    /// Too many connections at once.
    pub const BUSY: &str = "busy";
    /// The client uses another config dir than the agent.
    pub const OTHER_CONFIG: &str = "other_config_dir";
    /// The agent did what was asked (an HTTP request was sent) but its answer does not fit in
    /// a frame. Final: the client reports it and never repeats the request itself.
    pub const EXECUTED_TOO_LARGE: &str = "executed_answer_too_large";

    /// Whether an error of this kind (with this message) proves the operation was not carried
    /// out, so the client may do it itself. Everything else an agent says about an operation
    /// with effects elsewhere (an HTTP request) is final: an older agent also answered
    /// `bad_request` when its answer was too large, after it had sent the request.
    pub fn not_executed(kind: &str, message: &str) -> bool {
        match kind {
            UNSUPPORTED_VERSION | REFUSED | BUSY | OTHER_CONFIG => true,
            // Before anything is done: JSON it cannot read, an operation it does not know.
            BAD_REQUEST => {
                message.starts_with("unknown or malformed request")
                    || message.starts_with("not JSON")
                    || message.starts_with("request of ")
            }
            _ => false,
        }
    }
}

/// A request frame.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    /// Protocol version ([`PROTOCOL_VERSION`]).
    pub v: u32,
    /// The client's `LATCHKEY_CONFIG_DIR`, when it set one: the agent answers only for its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_dir: Option<PathBuf>,
    /// What to do.
    #[serde(flatten)]
    pub op: Op,
}

/// The operations.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Is an agent there? Answers [`Answer::Pong`].
    Ping,
    /// An access token (`latchkey token`; with `force`, `latchkey refresh --force`).
    Token {
        /// Account name.
        account: String,
        /// Minimum remaining validity in seconds.
        #[serde(default)]
        min_ttl: Option<u64>,
        /// Refresh even if fresh.
        #[serde(default)]
        force: bool,
    },
    /// Every account with its state (`latchkey list`, `latchkey status`).
    List,
    /// One account with its state (`latchkey status NAME`).
    Status {
        /// Account name.
        account: String,
    },
    /// An HTTP request with the account's token (`latchkey request`).
    Request {
        /// Account name.
        account: String,
        /// HTTP method.
        method: String,
        /// URL.
        url: url::Url,
        /// Extra headers.
        #[serde(default)]
        headers: Vec<(String, String)>,
        /// Body, base64.
        #[serde(default)]
        body_b64: Option<String>,
    },
    /// RFC 7662 introspection of the account's token (`latchkey introspect`).
    Introspect {
        /// Account name.
        account: String,
    },
    /// A token for exactly these scopes, resources and audience (`latchkey token NAME
    /// --resource URI`, the integrations' rules): [`crate::LoginManager::token_for`]. An
    /// operation of its own rather than new fields on `token`: an agent that does not know it
    /// answers `bad_request` and the client falls back, where fields it did not know would be
    /// ignored and the account's own token served.
    TokenFor {
        /// Account name.
        account: String,
        /// Minimum remaining validity in seconds.
        #[serde(default)]
        min_ttl: Option<u64>,
        /// Obtain a new one even if the cached one is fresh.
        #[serde(default)]
        force: bool,
        /// What the token is for.
        #[serde(flatten)]
        spec: crate::target::TokenSpec,
    },
    /// An HTTP request with the token for a spec (`latchkey request NAME --resource URI`):
    /// [`crate::LoginManager::request_with`]. Its own operation for the same reason as
    /// [`Op::TokenFor`].
    RequestFor {
        /// Account name.
        account: String,
        /// HTTP method.
        method: String,
        /// URL.
        url: url::Url,
        /// Extra headers.
        #[serde(default)]
        headers: Vec<(String, String)>,
        /// Body, base64.
        #[serde(default)]
        body_b64: Option<String>,
        /// What the token is for.
        #[serde(flatten)]
        spec: crate::target::TokenSpec,
    },
    /// A tool's credential (git, Docker, kubectl, `exec`):
    /// [`crate::LoginManager::credential_for`] — selection rules, https only, the token, bearer
    /// only, the username, decided by the agent. Answers [`Answer::Handout`]. An agent that
    /// does not know it answers `bad_request` ("unknown or malformed request…") and the client
    /// decides itself.
    Credential {
        /// What the tool asks.
        request: crate::handout::CredentialRequest,
    },
    /// The approval prompts waiting in the agent (`latchkey pending`). Answers
    /// [`Answer::Pending`].
    Pending,
    /// Answers a waiting prompt (`latchkey approve|deny ID`, the window). Answers
    /// [`Answer::Decided`].
    Decide {
        /// The prompt's id.
        id: String,
        /// The answer.
        decision: crate::approval::Decision,
    },
    /// Remembered decisions and live session grants (`latchkey approvals`). Answers
    /// [`Answer::Approvals`].
    Approvals,
    /// Forgets a remembered decision (`latchkey approvals --revoke ID`). Answers
    /// [`Answer::Revoked`].
    Revoke {
        /// The decision's id.
        id: String,
    },
    /// Ends every session grant and forgets the vault key (`latchkey lock`). Answers
    /// [`Answer::Locked`].
    Lock,
    /// The activity records (`latchkey activity`), once the agent's own records still on
    /// their way are written. Answers [`Answer::Activity`].
    Activity {
        /// Which.
        #[serde(flatten)]
        filter: crate::activity::Filter,
    },
    /// AWS `credential_process` (`latchkey aws-credential`): [`crate::tools::aws::credentials_at`]
    /// run by the agent — its keychain cache, the entry's lock, the hand-out and the STS
    /// request — so the client opens no keychain. Answers [`Answer::Aws`]. An agent that does
    /// not know it answers `bad_request` and the client serves itself.
    Aws {
        /// The account whose identity is exchanged.
        account: String,
        /// The role to assume.
        role_arn: String,
        /// `--duration` in seconds.
        #[serde(default)]
        duration: Option<u32>,
        /// `--session-name`.
        #[serde(default)]
        session_name: Option<String>,
        /// `--region`.
        #[serde(default)]
        region: Option<String>,
        /// `--refresh`: skip the cached entry.
        #[serde(default)]
        refresh: bool,
        /// The STS endpoint the client's environment names (checked again by the agent).
        endpoint: String,
        /// What the token is for (empty: the id_token).
        #[serde(flatten)]
        spec: crate::target::TokenSpec,
    },
}

/// A response frame.
#[derive(Debug, Serialize, Deserialize)]
pub struct Response {
    /// Protocol version of the answer.
    pub v: u32,
    /// The agent's process id.
    pub pid: u32,
    /// The answer.
    #[serde(flatten)]
    pub answer: Answer,
}

/// The answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Answer {
    /// The operation failed: a core [`crate::ErrorKind`] name or one of [`kinds`].
    Error {
        /// Kind.
        kind: String,
        /// Message for people (never a secret, never a command).
        message: String,
        /// What to do about it, for the client to word (optional; added within v1: an older
        /// client ignores it, an older agent sends none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remedy: Option<crate::remedy::Remedy>,
    },
    /// Answer to [`Op::Ping`].
    Pong {
        /// What the agent's last keychain call found.
        keychain: KeychainState,
    },
    /// An access token.
    Token(TokenAnswer),
    /// Accounts with their state.
    Accounts {
        /// The accounts.
        accounts: Vec<AccountSummary>,
        /// The keychain as the agent sees it now.
        keychain: KeychainState,
        /// Rotated token sets waiting for the keychain.
        #[serde(default)]
        unwritten: usize,
    },
    /// A resource server's response.
    Http {
        /// Status code.
        status: u16,
        /// Headers (values as text).
        headers: Vec<(String, String)>,
        /// Body, base64.
        body_b64: String,
    },
    /// An introspection answer.
    Introspection {
        /// The answer.
        introspection: Introspection,
    },
    /// Answer to [`Op::Credential`].
    Handout {
        /// What the tool gets.
        handout: HandoutAnswer,
    },
    /// Sent before the final answer when a hand-out waits for the owner's approval: the
    /// client says what it waits for and reads on, up to `wait_secs` more.
    Waiting {
        /// The prompt.
        pending: crate::approval::PendingApproval,
        /// Seconds the agent waits for an answer.
        wait_secs: u64,
    },
    /// Answer to [`Op::Pending`].
    Pending {
        /// The prompts, oldest first.
        pending: Vec<crate::approval::PendingApproval>,
    },
    /// Answer to [`Op::Decide`].
    Decided {
        /// The prompt that was answered.
        pending: crate::approval::PendingApproval,
    },
    /// Answer to [`Op::Approvals`].
    Approvals {
        /// Remembered decisions and session grants.
        approvals: crate::manager::Approvals,
    },
    /// Answer to [`Op::Revoke`].
    Revoked {
        /// The decision forgotten.
        remembered: crate::approval::remembered::Remembered,
    },
    /// Answer to [`Op::Lock`].
    Locked {
        /// Session grants ended.
        ended: usize,
    },
    /// Answer to [`Op::Activity`].
    Activity {
        /// The records, oldest first.
        records: Vec<crate::activity::ActivityRecord>,
    },
    /// Answer to [`Op::Aws`].
    Aws {
        /// The temporary AWS credentials.
        credentials: crate::tools::aws::AwsCredentials,
    },
}

/// A [`crate::handout::Handout`] on the wire.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "handout", rename_all = "snake_case")]
pub enum HandoutAnswer {
    /// No rule names the server.
    NoRule,
    /// No token may travel there.
    Refused {
        /// Why (for people).
        reason: String,
    },
    /// The credential.
    Issued {
        /// The account.
        account: String,
        /// The username beside the token.
        username: String,
        /// The token.
        token: TokenAnswer,
    },
}

impl From<crate::handout::Handout> for HandoutAnswer {
    fn from(h: crate::handout::Handout) -> Self {
        use crate::handout::Handout;
        match h {
            Handout::NoRule => HandoutAnswer::NoRule,
            Handout::Refused(reason) => HandoutAnswer::Refused { reason },
            Handout::Issued(c) => HandoutAnswer::Issued {
                account: c.account,
                username: c.username,
                token: c.token.into(),
            },
        }
    }
}

impl From<HandoutAnswer> for crate::handout::Handout {
    /// The agent's words reach a terminal: text is cleaned of control characters and bounded.
    fn from(h: HandoutAnswer) -> Self {
        use crate::handout::{Credential, Handout};
        let clean = |s: &str| crate::text::clean(s, crate::text::MAX_IDENTITY);
        match h {
            HandoutAnswer::NoRule => Handout::NoRule,
            HandoutAnswer::Refused { reason } => {
                Handout::Refused(crate::text::clean(&reason, crate::text::MAX_DESCRIPTION))
            }
            HandoutAnswer::Issued {
                account,
                username,
                token,
            } => Handout::Issued(Credential {
                account: clean(&account),
                username: clean(&username),
                token: token.into(),
            }),
        }
    }
}

/// An access token on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenAnswer {
    /// The token.
    pub access_token: Secret,
    /// `Bearer` or `DPoP` (a string on the wire).
    pub token_type: crate::token::TokenType,
    /// Expiry.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Scope.
    #[serde(default)]
    pub scope: Option<String>,
    /// Degraded-mode warning.
    #[serde(default)]
    pub degraded: Option<String>,
    /// This call refreshed the token.
    #[serde(default)]
    pub refreshed: bool,
}

impl From<AccessToken> for TokenAnswer {
    fn from(t: AccessToken) -> Self {
        TokenAnswer {
            access_token: t.token,
            token_type: t.token_type,
            expires_at: t.expires_at,
            scope: t.scope,
            degraded: t.degraded,
            refreshed: t.refreshed,
        }
    }
}

impl From<TokenAnswer> for AccessToken {
    fn from(t: TokenAnswer) -> Self {
        AccessToken {
            token: t.access_token,
            token_type: t.token_type,
            expires_at: t.expires_at,
            scope: t.scope,
            degraded: t.degraded,
            refreshed: t.refreshed,
        }
    }
}

/// Reads one frame of at most `max` bytes (async; the caller applies the deadline).
pub async fn read_frame_async<R>(r: &mut R, max: usize) -> Result<Vec<u8>, FrameError>
where
    R: tokio::io::AsyncRead + Unpin,
{
    use tokio::io::AsyncReadExt;
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]).await? {
            0 if got == 0 => return Err(FrameError::Closed),
            0 => return Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into())),
            n => got += n,
        }
    }
    let n = latchkey_wire::frame::announced(len, max)?;
    let mut buf = vec![0u8; n];
    r.read_exact(&mut buf).await?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A request in a frame (the frames' bounds: latchkey-wire's `frame` tests).
    #[test]
    fn a_token_request_round_trips_in_a_frame() {
        let req = Request {
            v: PROTOCOL_VERSION,
            config_dir: None,
            op: Op::Token {
                account: "work".into(),
                min_ttl: Some(30),
                force: false,
            },
        };
        let bytes = encode(&serde_json::to_vec(&req).unwrap());
        let body = read_frame(&mut &bytes[..], MAX_REQUEST).unwrap();
        let back: Request = serde_json::from_slice(&body).unwrap();
        assert!(
            matches!(back.op, Op::Token { ref account, min_ttl: Some(30), force: false } if account == "work")
        );
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"v":1,"op":"token","account":"work","min_ttl":30,"force":false}"#
        );
    }

    #[test]
    fn token_for_is_its_own_operation_with_a_flat_spec() {
        let spec =
            crate::target::TokenSpec::new(&["b a".into()], &["https://api.test".into()], Some("x"))
                .unwrap();
        let req = Request {
            v: PROTOCOL_VERSION,
            config_dir: None,
            op: Op::TokenFor {
                account: "work".into(),
                min_ttl: None,
                force: false,
                spec: spec.clone(),
            },
        };
        let json = serde_json::to_string(&req).unwrap();
        assert_eq!(
            json,
            r#"{"v":1,"op":"token_for","account":"work","min_ttl":null,"force":false,"scopes":["a","b"],"resources":["https://api.test"],"audience":"x"}"#
        );
        let back: Request = serde_json::from_str(&json).unwrap();
        let Op::TokenFor { spec: wire, .. } = back.op else {
            panic!("not token_for: {json}")
        };
        assert_eq!(wire, spec);
        // Fields left out are an empty spec; a bad one is refused as the request is read, and
        // an unsorted one is sorted.
        let back: Request = serde_json::from_str(
            r#"{"v":1,"op":"request_for","account":"w","method":"GET","url":"https://r.test/"}"#,
        )
        .unwrap();
        let Op::RequestFor { spec: wire, .. } = back.op else {
            panic!("not request_for")
        };
        assert!(wire.is_empty());
        assert!(
            serde_json::from_str::<Request>(r#"{"v":1,"op":"request_for","account":"w","method":"GET","url":"https://r.test/","resources":["no uri"]}"#).is_err()
        );
        let back: Request =
            serde_json::from_str(r#"{"v":1,"op":"token_for","account":"w","min_ttl":null,"force":false,"scopes":["b","a","b"]}"#).unwrap();
        let Op::TokenFor { spec: wire, .. } = back.op else {
            panic!("not token_for")
        };
        assert_eq!(wire.scopes(), ["a", "b"]);
        // The fields on the old `token` operation would be ignored: that is why the spec has
        // its own operations.
        let old: Request = serde_json::from_str(
            r#"{"v":1,"op":"token","account":"w","resources":["https://api.test"]}"#,
        )
        .unwrap();
        assert!(matches!(old.op, Op::Token { .. }));
    }

    /// The `latchkey` front writes its one request and reads its one answer without these
    /// types (latchkey-wire): they must stay the same bytes.
    #[test]
    fn the_fronts_request_and_answer_are_this_protocols() {
        let dir = std::path::Path::new("/home/me/.config/latchkey");
        for config_dir in [None, Some(dir)] {
            let bytes = latchkey_wire::front::token_request(config_dir, "work").unwrap();
            let req: Request = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(req.v, PROTOCOL_VERSION);
            assert_eq!(req.config_dir.as_deref(), config_dir);
            assert!(
                matches!(req.op, Op::Token { ref account, min_ttl: None, force: false } if account == "work")
            );
        }
        let answer = |degraded: Option<&str>| Response {
            v: PROTOCOL_VERSION,
            pid: 7,
            answer: Answer::Token(TokenAnswer {
                access_token: Secret::new("s3cr3t"),
                token_type: crate::token::TokenType::DPoP,
                expires_at: Some(OffsetDateTime::UNIX_EPOCH),
                scope: Some("a b".into()),
                degraded: degraded.map(str::to_string),
                refreshed: true,
            }),
        };
        for degraded in [None, Some("the keychain is locked")] {
            let bytes = serde_json::to_vec(&answer(degraded)).unwrap();
            match latchkey_wire::front::first_answer(&bytes) {
                latchkey_wire::front::FirstAnswer::Token { token, degraded: d } => {
                    assert_eq!(token.expose(), "s3cr3t");
                    assert_eq!(d.as_deref(), degraded);
                }
                other => panic!("{other:?}"),
            }
        }
        let error = Response {
            v: PROTOCOL_VERSION,
            pid: 7,
            answer: Answer::Error {
                kind: "needs_sign_in".into(),
                message: "sign in".into(),
                remedy: None,
            },
        };
        assert!(matches!(
            latchkey_wire::front::first_answer(&serde_json::to_vec(&error).unwrap()),
            latchkey_wire::front::FirstAnswer::Other
        ));
    }

    #[test]
    fn a_token_answer_keeps_the_token_out_of_debug() {
        let r = Response {
            v: 1,
            pid: 7,
            answer: Answer::Token(TokenAnswer {
                access_token: Secret::new("s3cr3t"),
                token_type: "Bearer".into(),
                expires_at: None,
                scope: None,
                degraded: None,
                refreshed: false,
            }),
        };
        assert!(!format!("{r:?}").contains("s3cr3t"));
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains(r#""result":"token""#), "{json}");
        let back: Response = serde_json::from_str(&json).unwrap();
        match back.answer {
            Answer::Token(t) => assert_eq!(t.access_token.expose(), "s3cr3t"),
            other => panic!("{other:?}"),
        }
    }
}
