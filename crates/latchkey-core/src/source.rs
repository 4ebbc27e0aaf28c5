//! Where a shell's tokens come from: the agent first, else this process.
//!
//! [`Source`] is the one "ask the agent, else do it here" of Latchkey. Every shell uses it —
//! the CLI (`token`, `refresh`, `list`, `status`, `request`, `introspect`), the tool adapters
//! (git, Docker, kubectl, pnpm, cargo, `exec`: [`Source::credential`]; AWS's
//! `credential_process` as a whole: [`crate::tools::aws::AwsSource`]) and the desktop app:
//!
//! - It asks the agent ([`crate::agent::client::Client`], blocking, on tokio's blocking pool)
//!   unless `LATCHKEY_NO_AGENT` is set or this process itself serves the socket
//!   ([`Source::serve`], held by [`Source::host`] while it serves).
//! - Only when the agent does not answer (absent, slow, another config dir, an operation it
//!   does not know) does it use a [`LoginManager`]; for the CLI that manager is built then, on
//!   first use ([`Source::from_env`]): an answered call builds no HTTPS client and opens no
//!   keychain. The reason is logged at `info` (`-v`).
//! - An agent's answer is final, errors included. For `request` an answer that was lost after
//!   the request was sent ([`Outcome::Lost`]) is an error too: the HTTP request may have reached
//!   the server and is never sent twice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;

use crate::agent::client::{self, ANSWER_DEADLINE, Client, Outcome, REQUEST_DEADLINE};
use crate::agent::protocol::{Answer, Op};
use crate::approval::{Decision, Origin, PendingApproval};
use crate::error::{Error, Result};
use crate::handout::{Asker, CredentialRequest, Handout, Handouts, Subject};
use crate::http::ResourceRequest;
use crate::manager::{
    AccessToken, AccountSummary, Approvals, Introspection, KeychainState, Locked, LoginManager,
    TokenOptions,
};
use crate::rules::Selection;
use crate::target::TokenSpec;
use latchkey_wire::no_agent;

pub use latchkey_wire::NO_AGENT_ENV;

/// Who answered a `list` or `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// The agent with this pid.
    Agent {
        /// Its pid.
        pid: u32,
        /// The keychain as the agent sees it.
        keychain: KeychainState,
        /// Rotated token sets the agent could not store yet.
        unwritten: usize,
    },
    /// This process, from the keychain (no agent answered).
    Direct,
}

/// A resource server's response, whoever made the request.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    /// Status code.
    pub status: u16,
    /// Headers (values as text).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

type Build = Box<dyn Fn() -> Result<Arc<LoginManager>> + Send + Sync>;

/// The agent first, else this process's own [`LoginManager`] (see the module doc).
pub struct Source {
    agent: Option<Client>,
    build: Option<Build>,
    manager: Mutex<Option<Arc<LoginManager>>>,
    serving: AtomicBool,
    /// The desktop app's own source: its direct hand-outs are the window's buttons.
    window: bool,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("agent", &self.agent)
            .field("manager_built", &self.manager_built())
            .field("serving", &self.serving.load(Ordering::Relaxed))
            .finish()
    }
}

/// While held, the [`Source`] it came from is the agent itself and asks no other.
#[derive(Debug)]
pub struct Serving<'a>(&'a Source);

impl Drop for Serving<'_> {
    fn drop(&mut self) {
        self.0.serving.store(false, Ordering::Relaxed);
    }
}

impl Source {
    /// The CLI's source: the agent at [`crate::agent::socket_path`] (sending
    /// `$LATCHKEY_CONFIG_DIR` when set), else a manager made by `build` on first use (the
    /// caller keeps a handle on it: it drains the manager's background renewals at exit).
    pub fn from_env(build: impl Fn() -> Result<Arc<LoginManager>> + Send + Sync + 'static) -> Self {
        Source {
            agent: (!no_agent()).then(Client::from_env),
            build: Some(Box::new(build)),
            manager: Mutex::new(None),
            serving: AtomicBool::new(false),
            window: false,
        }
    }

    /// A long-lived process with its own manager (the desktop app): the agent when another
    /// process serves the socket (the manager's config dir goes with each request: an agent
    /// serving other accounts says so), else `manager`.
    pub fn with_manager(manager: Arc<LoginManager>) -> Self {
        let dir = manager.paths().dir().to_path_buf();
        Source {
            agent: (!no_agent()).then(|| Client::new(crate::agent::socket_path(), Some(dir))),
            build: None,
            manager: Mutex::new(Some(manager)),
            serving: AtomicBool::new(false),
            window: true,
        }
    }

    /// A source that asks `agent` (tests, a client of an explicit socket).
    pub fn with_agent(
        agent: Option<Client>,
        build: impl Fn() -> Result<Arc<LoginManager>> + Send + Sync + 'static,
    ) -> Self {
        Source {
            agent,
            build: Some(Box::new(build)),
            manager: Mutex::new(None),
            serving: AtomicBool::new(false),
            window: false,
        }
    }

    /// This source, telling `hook` when the agent says a hand-out waits for approval.
    pub fn on_wait(mut self, hook: client::WaitHook) -> Self {
        self.agent = self.agent.map(|a| a.on_wait(hook));
        self
    }

    /// Who asks when this process serves a hand-out itself: the window's buttons, or this
    /// process (the CLI's direct path, which cannot ask for approval).
    fn direct_origin(&self) -> Origin {
        if self.window {
            Origin::Window
        } else {
            Origin::Direct(crate::approval::Requester::this_process())
        }
    }

    /// For a process that is an agent only when no other one runs (the desktop app): serves the
    /// agent socket from this source's manager if it is free ([`crate::agent::server::host`]),
    /// until `shutdown`. While it serves, this source answers from its own manager
    /// ([`Self::serve`]); when another agent serves the socket, this process stays that agent's
    /// client through this source.
    pub async fn host(&self, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
        let manager = self.manager()?;
        crate::agent::server::host(manager, || self.serve(), shutdown).await
    }

    /// Marks this process as the agent until the guard drops: its own manager answers
    /// everything, no socket is asked.
    pub fn serve(&self) -> Serving<'_> {
        self.serving.store(true, Ordering::Relaxed);
        Serving(self)
    }

    /// Whether the direct path's manager exists (built, or given).
    pub fn manager_built(&self) -> bool {
        self.manager
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// This process's own manager (built on first use).
    pub fn manager(&self) -> Result<Arc<LoginManager>> {
        let mut held = self.manager.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = held.as_ref() {
            return Ok(m.clone());
        }
        let build = self
            .build
            .as_ref()
            .ok_or_else(|| Error::Other("no login manager to fall back to".into()))?;
        let m = build()?;
        *held = Some(m.clone());
        Ok(m)
    }

    /// Whether this process is the agent: its own manager answers (and nothing is logged: the
    /// window asks for the waiting prompts twice a second).
    fn serving_here(&self) -> bool {
        self.serving.load(Ordering::Relaxed)
    }

    /// Asks the agent (on the blocking pool); a fallback when none should be asked.
    async fn ask(&self, op: Op, deadline: Duration) -> Outcome<Answer> {
        if self.serving.load(Ordering::Relaxed) {
            return Outcome::Fallback("this process is the agent".into());
        }
        let Some(agent) = self.agent.clone() else {
            return Outcome::Fallback(format!("{NO_AGENT_ENV} is set"));
        };
        match tokio::task::spawn_blocking(move || agent.call(op, deadline)).await {
            Ok(outcome) => outcome,
            Err(e) => Outcome::Fallback(format!("asking the agent failed: {e}")),
        }
    }

    /// A valid access token for `name`, for exactly `spec` (empty: the account's own token):
    /// the agent's `token` / `token_for`, else [`LoginManager::token_for`]. `opts.force` is
    /// `latchkey refresh --force`.
    pub async fn token(
        &self,
        name: &str,
        spec: &TokenSpec,
        opts: TokenOptions,
    ) -> Result<AccessToken> {
        let (op, what) = token_op(name, spec, opts);
        let reason = match token_answer(self.ask(op, ANSWER_DEADLINE).await, what) {
            Ok(answer) => return answer,
            Err(reason) => reason,
        };
        fallback(&reason);
        let origin = self.direct_origin();
        self.manager()?
            .hand_out_token(&Asker::new(&origin), name, spec, opts)
            .await
    }

    /// [`Self::token`]'s question to the agent, asked on this thread without a runtime (the
    /// CLI's `latchkey token NAME` asks it before it parses anything else): `Ok` with the
    /// agent's answer (a token or its error), `Err(reason)` when the direct path must serve —
    /// the caller then goes on with [`Self::without_agent`], so the agent is asked once.
    pub fn token_from_agent(
        &self,
        name: &str,
        spec: &TokenSpec,
        opts: TokenOptions,
    ) -> std::result::Result<Result<AccessToken>, String> {
        if self.serving.load(Ordering::Relaxed) {
            return Err("this process is the agent".into());
        }
        let Some(agent) = &self.agent else {
            return Err(format!("{NO_AGENT_ENV} is set"));
        };
        let (op, what) = token_op(name, spec, opts);
        token_answer(agent.call(op, ANSWER_DEADLINE), what)
    }

    /// [`Self::token_from_agent`] for the full CLI the `latchkey` front handed over to: the
    /// front asked the agent already ([`latchkey_wire::front::Handoff`]). A fallback is not
    /// asked again; an answer (`first`, not a token) is read on, from the connection the front
    /// left on standard input.
    pub fn token_handed_over(
        &self,
        handoff: latchkey_wire::front::Handoff,
    ) -> std::result::Result<Result<AccessToken>, String> {
        use latchkey_wire::front::Handoff;
        let first = match handoff {
            Handoff::Fallback(reason) => return Err(reason),
            Handoff::Answered(first) => first,
        };
        let Some(agent) = &self.agent else {
            return Err(format!("{NO_AGENT_ENV} is set"));
        };
        #[cfg(unix)]
        {
            use std::os::fd::AsFd;
            let stream = std::io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .map(std::os::unix::net::UnixStream::from)
                .map_err(|e| format!("the front's connection to the agent is gone: {e}"))?;
            token_answer(
                agent.resume(stream, first.into_bytes(), ANSWER_DEADLINE),
                "token",
            )
        }
        #[cfg(not(unix))]
        {
            let _ = (agent, first);
            Err("the agent is only available on Unix".into())
        }
    }

    /// The same source without its agent (already asked: `reason` says why it did not serve,
    /// logged when the direct path is used).
    pub fn without_agent(mut self, reason: &str) -> Self {
        if self.agent.take().is_some() {
            fallback(reason);
        }
        self
    }

    /// Every account with its state (`latchkey list`), and who answered.
    pub async fn list(&self) -> Result<(Vec<AccountSummary>, Served)> {
        self.accounts(None).await
    }

    /// One account (`Some`) or every account with its state (`latchkey status`), and who
    /// answered.
    pub async fn accounts(&self, name: Option<&str>) -> Result<(Vec<AccountSummary>, Served)> {
        let op = match name {
            Some(n) => Op::Status {
                account: n.to_string(),
            },
            None => Op::List,
        };
        let reason = match self.ask(op, ANSWER_DEADLINE).await {
            Outcome::Served {
                pid,
                result:
                    Ok(Answer::Accounts {
                        accounts,
                        keychain,
                        unwritten,
                    }),
            } => {
                let served = Served::Agent {
                    pid,
                    keychain,
                    unwritten,
                };
                return Ok((accounts, served));
            }
            Outcome::Served { result: Err(e), .. } => return Err(e),
            Outcome::Served { pid, .. } => client::unexpected(pid, "status"),
            Outcome::Fallback(r) | Outcome::Lost(r) => r,
        };
        fallback(&reason);
        let m = self.manager()?;
        let all = match name {
            Some(n) => vec![m.summary(n).await?],
            None => m.summaries().await?,
        };
        Ok((all, Served::Direct))
    }

    /// RFC 7662 introspection of the account's token (`latchkey introspect`).
    pub async fn introspect(&self, name: &str) -> Result<Introspection> {
        let op = Op::Introspect {
            account: name.to_string(),
        };
        let reason = match self.ask(op, ANSWER_DEADLINE).await {
            Outcome::Served {
                result: Ok(Answer::Introspection { introspection }),
                ..
            } => return Ok(introspection),
            Outcome::Served { result: Err(e), .. } => return Err(e),
            Outcome::Served { pid, .. } => client::unexpected(pid, "introspect"),
            Outcome::Fallback(r) | Outcome::Lost(r) => r,
        };
        fallback(&reason);
        self.manager()?.introspect(name).await
    }

    /// An HTTP request with the account's token for `spec` (`latchkey request`). Sent once:
    /// once the agent may have sent it, whatever happens next is the answer.
    pub async fn request(
        &self,
        name: &str,
        spec: &TokenSpec,
        request: ResourceRequest,
    ) -> Result<HttpAnswer> {
        let body_b64 = request
            .body
            .as_ref()
            .map(|b| base64::engine::general_purpose::STANDARD.encode(b));
        let op = if spec.is_empty() {
            Op::Request {
                account: name.to_string(),
                method: request.method.clone(),
                url: request.url.clone(),
                headers: request.headers.clone(),
                body_b64,
            }
        } else {
            // Its own operation: an older agent answers `bad_request` without sending anything.
            Op::RequestFor {
                account: name.to_string(),
                method: request.method.clone(),
                url: request.url.clone(),
                headers: request.headers.clone(),
                body_b64,
                spec: spec.clone(),
            }
        };
        let not_repeated = |reason: String| {
            Error::Other(format!(
                "{reason}; the request may or may not have reached the server, so it was not repeated"
            ))
        };
        match self.ask(op, REQUEST_DEADLINE).await {
            Outcome::Served {
                result:
                    Ok(Answer::Http {
                        status,
                        headers,
                        body_b64,
                    }),
                pid,
            } => match base64::engine::general_purpose::STANDARD.decode(body_b64) {
                Ok(body) => Ok(HttpAnswer {
                    status,
                    headers,
                    body,
                }),
                Err(_) => Err(not_repeated(client::unexpected(pid, "request"))),
            },
            Outcome::Served { result: Err(e), .. } => Err(e),
            Outcome::Served { pid, .. } => Err(not_repeated(client::unexpected(pid, "request"))),
            Outcome::Lost(reason) => Err(not_repeated(reason)),
            Outcome::Fallback(reason) => {
                fallback(&reason);
                let origin = self.direct_origin();
                let resp = self
                    .manager()?
                    .hand_out_request(&Asker::new(&origin), name, spec, request)
                    .await?;
                Ok(HttpAnswer {
                    status: resp.status,
                    headers: resp.header_lines(),
                    body: resp.body,
                })
            }
        }
    }

    /// A tool's credential: the agent's `credential` operation, else
    /// [`LoginManager::credential_for`] — the same decision either way.
    pub async fn credential(&self, request: CredentialRequest) -> Result<Handout> {
        let op = Op::Credential {
            request: request.clone(),
        };
        let reason = match self.ask(op, ANSWER_DEADLINE).await {
            Outcome::Served {
                result: Ok(Answer::Handout { handout }),
                ..
            } => return Ok(handout.into()),
            Outcome::Served { result: Err(e), .. } => return Err(e),
            Outcome::Served { pid, .. } => client::unexpected(pid, "credential"),
            Outcome::Fallback(r) | Outcome::Lost(r) => r,
        };
        fallback(&reason);
        let origin = self.direct_origin();
        self.manager()?
            .credential_for(&request, &Asker::new(&origin))
            .await
    }

    /// The approval prompts waiting (`latchkey pending`, the window): the agent's, else this
    /// process's own (the app when it is the agent; empty for a CLI without an agent).
    pub async fn pending(&self) -> Result<Vec<PendingApproval>> {
        if self.serving_here() {
            return Ok(self.manager()?.pending_approvals());
        }
        let reason = match self.ask(Op::Pending, ANSWER_DEADLINE).await {
            Outcome::Served {
                result: Ok(Answer::Pending { pending }),
                ..
            } => return Ok(pending.into_iter().map(PendingApproval::cleaned).collect()),
            Outcome::Served { result: Err(e), .. } => return Err(e),
            Outcome::Served { pid, .. } => client::unexpected(pid, "pending"),
            Outcome::Fallback(r) | Outcome::Lost(r) => r,
        };
        fallback(&reason);
        Ok(self.manager()?.pending_approvals())
    }

    /// Answers a waiting prompt (`latchkey approve|deny`, the window).
    pub async fn decide(&self, id: &str, decision: Decision) -> Result<PendingApproval> {
        if self.serving_here() {
            return self.manager()?.decide_approval(id, decision);
        }
        let op = Op::Decide {
            id: id.to_string(),
            decision,
        };
        let reason = match self.ask(op, ANSWER_DEADLINE).await {
            Outcome::Served {
                result: Ok(Answer::Decided { pending }),
                ..
            } => return Ok(pending.cleaned()),
            Outcome::Served { result: Err(e), .. } => return Err(e),
            Outcome::Served { pid, .. } => client::unexpected(pid, "decide"),
            Outcome::Fallback(r) | Outcome::Lost(r) => r,
        };
        fallback(&reason);
        self.manager()?.decide_approval(id, decision)
    }

    /// Remembered decisions and the serving process's session grants (`latchkey approvals`).
    pub async fn approvals(&self) -> Result<Approvals> {
        if self.serving_here() {
            return self.manager()?.approvals();
        }
        let reason = match self.ask(Op::Approvals, ANSWER_DEADLINE).await {
            Outcome::Served {
                result: Ok(Answer::Approvals { approvals }),
                ..
            } => return Ok(approvals),
            Outcome::Served { result: Err(e), .. } => return Err(e),
            Outcome::Served { pid, .. } => client::unexpected(pid, "approvals"),
            Outcome::Fallback(r) | Outcome::Lost(r) => r,
        };
        fallback(&reason);
        self.manager()?.approvals()
    }

    /// Forgets a remembered decision (`latchkey approvals --revoke ID`).
    pub async fn revoke(&self, id: &str) -> Result<crate::approval::remembered::Remembered> {
        let op = Op::Revoke { id: id.to_string() };
        let reason = match self.ask(op, ANSWER_DEADLINE).await {
            Outcome::Served {
                result: Ok(Answer::Revoked { remembered }),
                ..
            } => return Ok(remembered),
            Outcome::Served { result: Err(e), .. } => return Err(e),
            Outcome::Served { pid, .. } => client::unexpected(pid, "revoke"),
            Outcome::Fallback(r) | Outcome::Lost(r) => r,
        };
        fallback(&reason);
        self.manager()?.revoke_approval(id).await
    }

    /// The activity records that pass `filter` (`latchkey activity`): through the agent, which
    /// first writes its own records still on their way; else read here.
    pub async fn activity(
        &self,
        filter: &crate::activity::Filter,
    ) -> Result<Vec<crate::activity::ActivityRecord>> {
        let op = Op::Activity {
            filter: filter.clone(),
        };
        let reason = match self.ask(op, ANSWER_DEADLINE).await {
            Outcome::Served {
                result: Ok(Answer::Activity { records }),
                ..
            } => {
                return Ok(records
                    .into_iter()
                    .map(crate::activity::ActivityRecord::cleaned)
                    .collect());
            }
            Outcome::Served { result: Err(e), .. } => return Err(e),
            Outcome::Served { pid, .. } => client::unexpected(pid, "activity"),
            Outcome::Fallback(r) | Outcome::Lost(r) => r,
        };
        fallback(&reason);
        self.manager()?.activity(filter)
    }

    /// `latchkey lock`: the agent ends its session grants and forgets its vault key; then this
    /// process forgets the cached vault key too. Session grants ended (by the agent).
    pub async fn lock(&self) -> Result<Locked> {
        let ended = match self.ask(Op::Lock, ANSWER_DEADLINE).await {
            Outcome::Served {
                result: Ok(Answer::Locked { ended }),
                ..
            } => Some(ended),
            Outcome::Served { result: Err(e), .. } => return Err(e),
            Outcome::Served { pid, .. } => {
                tracing::info!("{}", client::unexpected(pid, "lock"));
                None
            }
            Outcome::Fallback(r) | Outcome::Lost(r) => {
                tracing::info!("no agent to lock ({r})");
                None
            }
        };
        let mine = self.manager()?.lock("locked on request")?;
        Ok(Locked {
            grants_ended: ended.unwrap_or(0) + mine.grants_ended,
            vault_key_removed: mine.vault_key_removed,
        })
    }
}

/// The operation that asks the agent for a token: `token`, or `token_for` with a spec.
fn token_op(name: &str, spec: &TokenSpec, opts: TokenOptions) -> (Op, &'static str) {
    let min_ttl = opts.min_ttl.map(|d| d.as_secs());
    if spec.is_empty() {
        let op = Op::Token {
            account: name.to_string(),
            min_ttl,
            force: opts.force,
        };
        (op, "token")
    } else {
        let op = Op::TokenFor {
            account: name.to_string(),
            min_ttl,
            force: opts.force,
            spec: spec.clone(),
        };
        (op, "token_for")
    }
}

/// The agent's answer to a token operation, or why the direct path must serve.
fn token_answer(
    outcome: Outcome<Answer>,
    what: &str,
) -> std::result::Result<Result<AccessToken>, String> {
    match outcome {
        Outcome::Served {
            result: Ok(Answer::Token(t)),
            ..
        } => Ok(Ok(t.into())),
        Outcome::Served { result: Err(e), .. } => Ok(Err(e)),
        Outcome::Served { pid, .. } => Err(client::unexpected(pid, what)),
        Outcome::Fallback(r) | Outcome::Lost(r) => Err(r),
    }
}

/// A keep-signed-in sweep of the desktop app renews through its source: the agent when another
/// process serves it, else its own manager.
impl crate::manager::Renew for Source {
    async fn renew(&self, name: &str, opts: TokenOptions) -> Result<AccessToken> {
        self.token(name, &TokenSpec::default(), opts).await
    }
}

impl crate::tools::aws::AwsSource for Source {
    /// The agent's `aws` operation, else [`crate::tools::aws::credentials_at`] with this
    /// process's manager (built only then). An answer lost after the agent was asked is served
    /// here too: another `AssumeRoleWithWebIdentity` spends nothing (the token is not
    /// consumed), and the cache entry's lock keeps concurrent callers to one exchange.
    async fn aws_credentials(
        &self,
        inv: &crate::tools::aws::Invocation,
        endpoint: &url::Url,
    ) -> Result<crate::tools::aws::AwsCredentials> {
        let op = Op::Aws {
            account: inv.account.clone(),
            role_arn: inv.role_arn.clone(),
            duration: inv.duration,
            session_name: inv.session_name.clone(),
            region: inv.region.clone(),
            refresh: inv.refresh,
            endpoint: endpoint.to_string(),
            spec: inv.spec.clone(),
        };
        let reason = match self.ask(op, REQUEST_DEADLINE).await {
            Outcome::Served {
                result: Ok(Answer::Aws { credentials }),
                ..
            } => return Ok(credentials),
            Outcome::Served { result: Err(e), .. } => return Err(e),
            Outcome::Served { pid, .. } => client::unexpected(pid, "aws"),
            Outcome::Fallback(r) | Outcome::Lost(r) => r,
        };
        fallback(&reason);
        let m = self.manager()?;
        let handouts = Source::with_manager(m.clone()).without_agent(&reason);
        crate::tools::aws::credentials_at(inv, endpoint, &handouts, &*m).await
    }
}

fn fallback(reason: &str) {
    tracing::info!("agent not used ({reason}); using the direct path");
}

impl Handouts for Source {
    async fn credential(&self, request: CredentialRequest) -> Result<Handout> {
        Source::credential(self, request).await
    }

    async fn select(
        &self,
        subject: &Subject,
        env_override: Option<&str>,
    ) -> Result<Option<Selection>> {
        self.manager()?.select_for(subject, env_override)
    }

    async fn token_rejected(
        &self,
        subject: &Subject,
        env_override: Option<&str>,
    ) -> Result<Option<String>> {
        self.manager()?
            .token_rejected_for(subject, env_override)
            .await
    }

    async fn usernames(&self) -> Result<Vec<(String, String)>> {
        self.manager()?.rule_usernames()
    }
}
