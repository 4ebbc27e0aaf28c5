//! The agent's server: binds the socket, checks peers, answers requests from one long-lived
//! [`LoginManager`] with token memory.
//!
//! - **One agent at a time.** [`bind`] takes an advisory lock on `<socket>.lock` (released by
//!   the OS when the process dies), then replaces a stale socket file left by a dead agent. A
//!   socket that still answers a connect is never removed.
//! - **User only.** The default directory is created 0700 and the socket is 0600; every
//!   connection's peer uid (`SO_PEERCRED`) must equal the agent's, whatever the file modes say.
//! - **Bounded.** Requests of at most [`protocol::MAX_REQUEST`] bytes, a deadline on every
//!   read and write, at most [`MAX_CONNECTIONS`] connections served at once and at most
//!   [`MAX_CONNECTIONS_PER_PEER`] for one peer process (more are told `busy` and fall back).
//! - **Hardened.** Whichever process serves (the agent, the desktop app) makes itself
//!   non-dumpable with no core dumps ([`harden_process`]) before it answers anyone.
//! - **Fresh.** A watcher on the config dir marks the token memory stale when `accounts.toml`
//!   or `tokens.changed` change (no polling: the OS wakes the agent). Rotated tokens the
//!   keychain refused are retried with backoff until stored (and never served before).
//! - **Keeps accounts signed in.** `latchkey agent` ([`serve`]) runs the core's
//!   keep-signed-in sweep every [`KEEP_SIGNED_IN_SWEEP`], so a marked account stays fresh with
//!   no client asking and no window open (the desktop app, serving through [`host`], sweeps
//!   from its own background task instead).
//! - **Drains at exit.** On shutdown a sweep in progress finishes, then
//!   [`LoginManager::drain`] stores renewals finishing in the background and rotated sets
//!   the keychain refused (bounded by [`DRAIN_AT_EXIT`]).

use std::fs::File;
use std::future::Future;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener as StdListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

use super::protocol::{self, Answer, FrameError, Op, PROTOCOL_VERSION, Request, Response, kinds};
use crate::approval::{OnWait, Origin};
use crate::backoff::Backoff;
use crate::error::{Error, Result};
use crate::handout::Asker;
use crate::handout::Subject;
use crate::http::ResourceRequest;
use crate::manager::{DRAIN_AT_EXIT, KEEP_SIGNED_IN_SWEEP, LoginManager, TokenOptions};

/// Deadline for each read of a request (and each write of an answer).
pub const READ_DEADLINE: Duration = Duration::from_secs(5);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 512;
/// Connections served at once for one peer process: one client cannot take every permit and
/// leave the user's other programs to be told `busy`.
pub const MAX_CONNECTIONS_PER_PEER: usize = 64;

/// Connections held per peer pid.
#[derive(Default)]
struct PeerSlots(std::sync::Mutex<std::collections::HashMap<i32, usize>>);

/// One connection's place in [`PeerSlots`], given back on drop.
struct PeerSlot {
    slots: Arc<PeerSlots>,
    pid: i32,
}

impl PeerSlots {
    fn claim(self: &Arc<Self>, pid: i32) -> Option<PeerSlot> {
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = held.entry(pid).or_insert(0);
        if *n >= MAX_CONNECTIONS_PER_PEER {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            slots: self.clone(),
            pid,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut held = self.slots.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = held.get_mut(&self.pid) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.pid);
            }
        }
    }
}

/// A bound, locked agent socket. The socket file is removed on drop.
#[derive(Debug)]
pub struct Bound {
    listener: StdListener,
    path: PathBuf,
    _lock: File,
}

impl Bound {
    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Bound {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The lock file that makes sure only one agent serves `socket`.
pub fn lock_path(socket: &Path) -> PathBuf {
    let mut name = socket.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    socket.with_file_name(name)
}

fn prepare_dir(socket: &Path) -> Result<()> {
    let Some(dir) = socket.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    let default = super::in_default_dir(socket);
    if std::fs::symlink_metadata(dir).is_err() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::io(format!("creating the agent directory {}", dir.display()), e))?;
    }
    if default {
        // Our own directory: it must be ours and private. One of ours with a wider mode (an
        // older Latchkey, a umask) is narrowed; anything else is refused.
        let meta = std::fs::symlink_metadata(dir)
            .map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
        if meta.is_dir()
            && !meta.file_type().is_symlink()
            && meta.uid() == super::current_uid()
            && meta.permissions().mode() & 0o077 != 0
        {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| Error::io(format!("making {} private", dir.display()), e))?;
        }
        super::check_private_dir(dir).map_err(|why| {
            Error::Other(format!(
                "the agent's directory cannot be used: {why}; remove it, or choose a socket with --socket / {}",
                super::SOCKET_ENV
            ))
        })?;
    }
    Ok(())
}

/// Binds the agent socket at `path`: takes the lock beside it, replaces a stale socket, makes
/// the socket 0600. Fails with a clear message when another agent serves it.
pub fn bind(path: &Path) -> Result<Bound> {
    use std::io::Write;
    prepare_dir(path)?;
    let lock_file = lock_path(path);
    let mut lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&lock_file)
        .map_err(|e| Error::io(format!("opening {}", lock_file.display()), e))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let pid = std::fs::read_to_string(&lock_file).unwrap_or_default();
            return Err(Error::Other(format!(
                "another Latchkey agent (pid {}) already serves {}; stop it first, or use another --socket",
                pid.trim(),
                path.display()
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(Error::io(format!("locking {}", lock_file.display()), e));
        }
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(Error::Other(format!(
                "{} exists and is not a socket; move it away or use another --socket",
                path.display()
            )));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(Error::Other(format!(
                "another process already answers on {}; stop it first, or use another --socket",
                path.display()
            )));
        }
        tracing::info!(socket = %path.display(), "replacing the stale socket of an agent that is gone");
        std::fs::remove_file(path)
            .map_err(|e| Error::io(format!("removing the stale socket {}", path.display()), e))?;
    }
    let listener = StdListener::bind(path)
        .map_err(|e| Error::io(format!("listening on {}", path.display()), e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::io(format!("making {} private", path.display()), e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::io("configuring the agent socket", e))?;
    let _ = lock.set_len(0);
    let _ = writeln!(lock, "{}", std::process::id());
    Ok(Bound {
        listener,
        path: path.to_path_buf(),
        _lock: lock,
    })
}

/// Makes the process harder to read secrets from: no core dumps, not dumpable (which also
/// keeps other same-uid processes from attaching a debugger). Best effort; never fails.
pub fn harden_process() {
    use nix::sys::resource::{Resource, setrlimit};
    if let Err(e) = setrlimit(Resource::RLIMIT_CORE, 0, 0) {
        tracing::debug!(error = %e, "could not disable core dumps");
    }
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        tracing::debug!(error = %e, "could not mark the process not dumpable");
    }
}

struct Server {
    manager: Arc<LoginManager>,
    uid: u32,
    pid: u32,
    config_dir: PathBuf,
}

/// Serves `bound` from `manager` (which should hold tokens in memory:
/// [`LoginManager::with_token_memory`]) until `shutdown` completes.
pub async fn serve(
    manager: Arc<LoginManager>,
    bound: Bound,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let _watcher = watch(manager.clone());
    serve_bound(manager, bound, shutdown, KeepSignedIn::Sweep).await
}

/// For a process that is an agent only when no other one runs (the desktop app, through
/// [`crate::source::Source::host`]): watches the config dir for the token memory of `manager`,
/// and serves the socket ([`super::socket_path`]) if it is free, until `shutdown`, holding what
/// `serving` returns while it serves. When another agent serves the socket, only the watcher runs.
pub async fn host<G>(
    manager: Arc<LoginManager>,
    serving: impl FnOnce() -> G,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let _watcher = watch(manager.clone());
    let path = super::socket_path();
    match bind(&path) {
        Ok(bound) => {
            let _serving = serving();
            serve_bound(manager, bound, shutdown, KeepSignedIn::Elsewhere).await
        }
        Err(e) => {
            tracing::info!(error = %e, "not serving the agent socket; asking the agent that serves it");
            shutdown.await;
            Ok(())
        }
    }
}

/// Whether the serving process runs the keep-signed-in sweep itself.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeepSignedIn {
    /// `latchkey agent`: every [`KEEP_SIGNED_IN_SWEEP`].
    Sweep,
    /// The desktop app: its background sweep does it.
    Elsewhere,
}

async fn serve_bound(
    manager: Arc<LoginManager>,
    bound: Bound,
    shutdown: impl Future<Output = ()>,
    keep: KeepSignedIn,
) -> Result<()> {
    let listener = tokio::net::UnixListener::from_std(
        bound
            .listener
            .try_clone()
            .map_err(|e| Error::io("using the agent socket", e))?,
    )
    .map_err(|e| Error::io("using the agent socket", e))?;
    let config_dir = manager.paths().dir().to_path_buf();
    let server = Arc::new(Server {
        uid: super::current_uid(),
        pid: std::process::id(),
        config_dir: std::fs::canonicalize(&config_dir).unwrap_or(config_dir),
        manager: manager.clone(),
    });
    // Whatever process serves (`latchkey agent`, the desktop app): it now holds every
    // account's tokens for other processes.
    harden_process();
    let retry = tokio::spawn(retry_unwritten(manager.clone()));
    let (stop_sweeps, stopped) = tokio::sync::watch::channel(false);
    let sweeps = (keep == KeepSignedIn::Sweep)
        .then(|| tokio::spawn(keep_signed_in_forever(manager.clone(), stopped)));
    // The screen locking ends every session grant.
    let locking = manager.clone();
    crate::approval::screen_lock::watch(Arc::new(move |reason: &str| {
        locking.end_session_grants(reason);
    }));
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let peers = Arc::new(PeerSlots::default());
    tracing::info!(socket = %bound.path.display(), pid = server.pid, "agent serving");
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let server = server.clone();
                    let peer_pid = stream.peer_cred().ok().and_then(|c| c.pid()).unwrap_or(0);
                    match (peers.claim(peer_pid), permits.clone().try_acquire_owned()) {
                        (Some(slot), Ok(permit)) => {
                            tokio::spawn(async move {
                                server.connection(stream).await;
                                drop(permit);
                                drop(slot);
                            });
                        }
                        _ => {
                            tokio::spawn(async move {
                                let mut stream = stream;
                                let _ = server.send(&mut stream, error(kinds::BUSY, "too many connections; use the direct path")).await;
                            });
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
    retry.abort();
    // A sweep in progress is let finish (never dropped mid-request: its answer may rotate the
    // refresh token), within the drain's bound.
    let _ = stop_sweeps.send(true);
    if let Some(sweeps) = sweeps
        && tokio::time::timeout(DRAIN_AT_EXIT, sweeps).await.is_err()
    {
        tracing::error!("a keep-signed-in sweep did not finish before exiting");
    }
    // Renewals finishing in the background, and rotated tokens still waiting for the
    // keychain: stored before exiting (bounded; the manager logs what it had to leave).
    manager.drain(DRAIN_AT_EXIT).await;
    tracing::info!("agent stopped");
    drop(bound);
    Ok(())
}

fn error(kind: &str, message: impl Into<String>) -> Answer {
    Answer::Error {
        kind: kind.into(),
        message: message.into(),
        remedy: None,
    }
}

fn core_error(e: &Error) -> Answer {
    Answer::Error {
        kind: e.kind().as_str().into(),
        message: e.to_string(),
        remedy: e.remedy(),
    }
}

impl Server {
    async fn send(&self, stream: &mut UnixStream, answer: Answer) -> std::io::Result<()> {
        let resp = Response {
            v: PROTOCOL_VERSION,
            pid: self.pid,
            answer,
        };
        let body = serde_json::to_vec(&resp).map_err(std::io::Error::other)?;
        if body.len() > protocol::MAX_RESPONSE {
            let what = match &resp.answer {
                Answer::Http { status, .. } => {
                    format!("the request was sent and the server answered {status}, but")
                }
                _ => "the agent did what was asked, but".to_string(),
            };
            let too_big = Response {
                v: PROTOCOL_VERSION,
                pid: self.pid,
                answer: error(
                    kinds::EXECUTED_TOO_LARGE,
                    format!(
                        "{what} the answer ({} MiB) is over the agent protocol's {} MiB limit; it was not repeated",
                        body.len() >> 20,
                        protocol::MAX_RESPONSE >> 20
                    ),
                ),
            };
            let body = serde_json::to_vec(&too_big).map_err(std::io::Error::other)?;
            return self.write(stream, &body).await;
        }
        self.write(stream, &body).await
    }

    async fn write(&self, stream: &mut UnixStream, body: &[u8]) -> std::io::Result<()> {
        let frame = protocol::encode(body);
        match tokio::time::timeout(READ_DEADLINE, stream.write_all(&frame)).await {
            Ok(r) => r,
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }

    async fn connection(&self, mut stream: UnixStream) {
        let peer = match stream.peer_cred() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a connection's peer credentials; refused");
                return;
            }
        };
        if peer.uid() != self.uid {
            tracing::warn!(
                peer_uid = peer.uid(),
                peer_pid = peer.pid(),
                "refused a connection from another user"
            );
            let _ = self
                .send(
                    &mut stream,
                    error(
                        kinds::REFUSED,
                        format!("this agent serves uid {} only", self.uid),
                    ),
                )
                .await;
            return;
        }
        // Who this peer is, read from /proc once, when an operation hands something out.
        let origin = std::sync::OnceLock::new();
        loop {
            let frame = match tokio::time::timeout(
                READ_DEADLINE,
                protocol::read_frame_async(&mut stream, protocol::MAX_REQUEST),
            )
            .await
            {
                Ok(Ok(frame)) => frame,
                Ok(Err(FrameError::Closed)) => return,
                Ok(Err(FrameError::TooLarge(n))) => {
                    tracing::warn!(bytes = n, "refused an oversized request");
                    let _ = self
                        .send(
                            &mut stream,
                            error(
                                kinds::BAD_REQUEST,
                                format!(
                                    "request of {n} bytes is over the limit of {}",
                                    protocol::MAX_REQUEST
                                ),
                            ),
                        )
                        .await;
                    return;
                }
                Ok(Err(FrameError::Io(e))) => {
                    tracing::debug!(error = %e, "connection ended mid-request");
                    return;
                }
                Err(_) => {
                    tracing::debug!("a client sent nothing in time; connection closed");
                    return;
                }
            };
            // A hand-out that waits for approval says so first (`Answer::Waiting`), then
            // answers; nothing else is sent in between.
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let wait_secs = self.manager.gate().timeout().as_secs();
            let on_wait = move |p: &crate::approval::PendingApproval| {
                let _ = tx.send(Answer::Waiting {
                    pending: p.clone(),
                    wait_secs,
                });
            };
            let peer_pid = peer.pid().and_then(|p| u32::try_from(p).ok()).unwrap_or(0);
            // Activity records of this request: written once the answer is out.
            let later = std::sync::Arc::new(crate::activity::Later::new(
                self.manager.activity_in_flight().clone(),
            ));
            let answering = self.answer(&frame, peer_pid, &origin, &on_wait, &later);
            tokio::pin!(answering);
            let mut waiting = false;
            let answer = loop {
                tokio::select! {
                    a = &mut answering => break a,
                    Some(w) = rx.recv() => {
                        waiting = true;
                        if self.send(&mut stream, w).await.is_err() {
                            return;
                        }
                    }
                    // A client that goes away while its hand-out waits for approval (Ctrl-C)
                    // takes its prompt with it: nobody is asked for what nobody waits for.
                    closed = client_gone(&stream), if waiting => {
                        if closed {
                            tracing::info!("the client went away; its approval prompt is withdrawn");
                            return;
                        }
                    }
                }
            };
            while let Ok(w) = rx.try_recv() {
                if self.send(&mut stream, w).await.is_err() {
                    return;
                }
            }
            let sent = self.send(&mut stream, answer).await;
            // Naming the requester reads /proc and the append writes a file: on a blocking
            // thread, awaited so this connection's records keep their order. A request that
            // handed nothing out has nothing to write and takes no thread.
            if !later.is_empty() {
                let dir = self.manager.paths().dir().to_path_buf();
                let origin_now = origin.get().cloned();
                let later = later.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    later.flush(&dir, || match origin_now {
                        Some(o) => o.requester(),
                        None => crate::approval::Requester::unknown(peer_pid),
                    });
                })
                .await;
            }
            if sent.is_err() {
                return;
            }
        }
    }

    async fn answer(
        &self,
        frame: &[u8],
        peer_pid: u32,
        origin: &std::sync::OnceLock<Origin>,
        on_wait: OnWait<'_>,
        later: &crate::activity::Later,
    ) -> Answer {
        let value: serde_json::Value = match serde_json::from_slice(frame) {
            Ok(v) => v,
            Err(e) => return error(kinds::BAD_REQUEST, format!("not JSON: {e}")),
        };
        let v = value.get("v").and_then(|v| v.as_u64());
        if v != Some(u64::from(PROTOCOL_VERSION)) {
            return error(
                kinds::UNSUPPORTED_VERSION,
                format!(
                    "this agent speaks protocol version {PROTOCOL_VERSION}, not {}",
                    v.map(|v| v.to_string()).unwrap_or_else(|| "none".into())
                ),
            );
        }
        let op = value
            .get("op")
            .and_then(serde_json::Value::as_str)
            .map(|o| crate::text::clean(o, crate::text::MAX_ERROR_CODE))
            .unwrap_or_default();
        let req: Request = match serde_json::from_value(value) {
            Ok(r) => r,
            // Not serde's message: it may quote a value of the request (a header, a body).
            Err(e) => {
                return error(
                    kinds::BAD_REQUEST,
                    format!(
                        "unknown or malformed request `{op}` ({:?} error)",
                        e.classify()
                    ),
                );
            }
        };
        // A client that names no config dir means the platform's default one: an agent serving
        // another dir must not answer it with other accounts. (`ping` says nothing of them.)
        let asked = match &req.op {
            Op::Ping => None,
            _ => req
                .config_dir
                .clone()
                .or_else(crate::config::Paths::platform_dir),
        };
        if let Some(dir) = asked {
            let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
            if dir != self.config_dir {
                return error(
                    kinds::OTHER_CONFIG,
                    format!(
                        "this agent serves the accounts in {}",
                        self.config_dir.display()
                    ),
                );
            }
        }
        let m = &self.manager;
        let asker = || Asker {
            origin: origin.get_or_init(|| {
                Origin::Peer(std::sync::Arc::new(crate::approval::Peer::new(peer_pid)))
            }),
            on_wait: Some(on_wait),
            later: Some(later),
        };
        match req.op {
            Op::Ping => Answer::Pong {
                keychain: m.keychain_state(),
            },
            Op::Token {
                account,
                min_ttl,
                force,
            } => {
                tracing::debug!(account = %account, force, "token request");
                match m
                    .hand_out_token(
                        &asker(),
                        &account,
                        &crate::target::TokenSpec::default(),
                        TokenOptions {
                            min_ttl: min_ttl.map(Duration::from_secs),
                            force,
                        },
                    )
                    .await
                {
                    Ok(t) => Answer::Token(t.into()),
                    Err(e) => core_error(&e),
                }
            }
            Op::List => {
                let keychain = m.probe_keychain().await;
                match m.summaries().await {
                    Ok(accounts) => Answer::Accounts {
                        accounts,
                        keychain,
                        unwritten: m.unwritten_count(),
                    },
                    Err(e) => core_error(&e),
                }
            }
            Op::Status { account } => {
                let keychain = m.probe_keychain().await;
                match m.summary(&account).await {
                    Ok(s) => Answer::Accounts {
                        accounts: vec![s],
                        keychain,
                        unwritten: m.unwritten_count(),
                    },
                    Err(e) => core_error(&e),
                }
            }
            Op::Request {
                account,
                method,
                url,
                headers,
                body_b64,
            } => {
                let body = match body_b64
                    .map(|b| base64::engine::general_purpose::STANDARD.decode(b))
                    .transpose()
                {
                    Ok(b) => b,
                    Err(e) => return error(kinds::BAD_REQUEST, format!("body is not base64: {e}")),
                };
                match m
                    .hand_out_request(
                        &asker(),
                        &account,
                        &crate::target::TokenSpec::default(),
                        ResourceRequest {
                            method,
                            url,
                            headers,
                            body,
                        },
                    )
                    .await
                {
                    Ok(resp) => http_answer(&resp),
                    Err(e) => core_error(&e),
                }
            }
            Op::Introspect { account } => match m.introspect(&account).await {
                Ok(introspection) => Answer::Introspection { introspection },
                Err(e) => core_error(&e),
            },
            Op::TokenFor {
                account,
                min_ttl,
                force,
                spec,
            } => {
                tracing::debug!(account = %account, force, "token request for {}", spec.describe());
                let opts = TokenOptions {
                    min_ttl: min_ttl.map(Duration::from_secs),
                    force,
                };
                match m.hand_out_token(&asker(), &account, &spec, opts).await {
                    Ok(t) => Answer::Token(t.into()),
                    Err(e) => core_error(&e),
                }
            }
            Op::Credential { request } => {
                if let Subject::Account { spec, .. } | Subject::Cluster { spec, .. } =
                    &request.subject
                    && !spec.is_empty()
                {
                    tracing::debug!(
                        tool = request.tool.name(),
                        "token request for {}",
                        spec.describe()
                    );
                }
                tracing::debug!(tool = request.tool.name(), "credential request");
                match m.credential_for(&request, &asker()).await {
                    Ok(h) => Answer::Handout { handout: h.into() },
                    Err(e) => core_error(&e),
                }
            }
            Op::Aws {
                account,
                role_arn,
                duration,
                session_name,
                region,
                refresh,
                endpoint,
                spec,
            } => {
                let endpoint = match url::Url::parse(&endpoint) {
                    Ok(u) => u,
                    Err(e) => {
                        return error(
                            kinds::BAD_REQUEST,
                            format!("the STS endpoint is not a URL: {e}"),
                        );
                    }
                };
                tracing::debug!(account = %account, "AWS credentials request");
                let inv = crate::tools::aws::Invocation {
                    account,
                    role_arn,
                    duration,
                    session_name,
                    region,
                    spec,
                    refresh,
                };
                // The agent's own hand-out (never its socket), approved and recorded for the
                // peer that asked.
                let handouts = crate::manager::AskedManager {
                    manager: m,
                    asker: asker(),
                };
                match crate::tools::aws::credentials_at(&inv, &endpoint, &handouts, &**m).await {
                    Ok(credentials) => Answer::Aws { credentials },
                    Err(e) => core_error(&e),
                }
            }
            Op::RequestFor {
                account,
                method,
                url,
                headers,
                body_b64,
                spec,
            } => {
                let body = match body_b64
                    .map(|b| base64::engine::general_purpose::STANDARD.decode(b))
                    .transpose()
                {
                    Ok(b) => b,
                    Err(e) => return error(kinds::BAD_REQUEST, format!("body is not base64: {e}")),
                };
                tracing::debug!(account = %account, "request with the token for {}", spec.describe());
                let request = ResourceRequest {
                    method,
                    url,
                    headers,
                    body,
                };
                match m.hand_out_request(&asker(), &account, &spec, request).await {
                    Ok(resp) => http_answer(&resp),
                    Err(e) => core_error(&e),
                }
            }
            Op::Pending => Answer::Pending {
                pending: m.pending_approvals(),
            },
            Op::Decide { id, decision } => match m.decide_approval(&id, decision) {
                Ok(pending) => Answer::Decided { pending },
                Err(e) => core_error(&e),
            },
            Op::Approvals => match m.approvals() {
                Ok(approvals) => Answer::Approvals { approvals },
                Err(e) => core_error(&e),
            },
            Op::Revoke { id } => match m.revoke_approval(&id).await {
                Ok(remembered) => Answer::Revoked { remembered },
                Err(e) => core_error(&e),
            },
            Op::Activity { filter } => {
                let m = m.clone();
                match tokio::task::spawn_blocking(move || m.activity(&filter)).await {
                    Ok(Ok(records)) => Answer::Activity { records },
                    Ok(Err(e)) => core_error(&e),
                    Err(e) => error(
                        kinds::BAD_REQUEST,
                        format!("reading the activity failed: {e}"),
                    ),
                }
            }
            Op::Lock => match m.lock("locked on request") {
                Ok(l) => Answer::Locked {
                    ended: l.grants_ended,
                },
                Err(e) => core_error(&e),
            },
        }
    }
}

/// Waits until the client's side of `stream` is readable: `true` when it closed (or sent
/// something mid-request, which the protocol does not allow), `false` on a spurious wake-up.
async fn client_gone(stream: &UnixStream) -> bool {
    if stream.readable().await.is_err() {
        return true;
    }
    let mut probe = [0u8; 1];
    match stream.try_read(&mut probe) {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            // Readable reported, nothing there yet: look again shortly.
            tokio::time::sleep(Duration::from_millis(20)).await;
            false
        }
        Err(_) => true,
    }
}

/// A resource server's response as an [`Answer::Http`].
fn http_answer(resp: &crate::http::Response) -> Answer {
    Answer::Http {
        status: resp.status,
        headers: resp.header_lines(),
        body_b64: base64::engine::general_purpose::STANDARD.encode(&resp.body),
    }
}

/// Watches the config dir; a change of `accounts.toml` or `tokens.changed` marks the token
/// memory stale. `None` (logged) if the OS offers no watcher: memory then stays until a
/// refresh or sign-out through this manager.
fn watch(manager: Arc<LoginManager>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let paths = manager.paths().clone();
    if let Err(e) = std::fs::create_dir_all(paths.dir()) {
        tracing::warn!(error = %e, "cannot create the config dir to watch it");
    }
    let accounts = paths.accounts_file();
    let marker = paths.tokens_changed_marker();
    let weak = Arc::downgrade(&manager);
    let watcher =
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let Ok(event) = res else { return };
            if event.kind.is_access() {
                return;
            }
            if event.paths.iter().any(|p| {
                p.file_name() == accounts.file_name() || p.file_name() == marker.file_name()
            }) && let Some(m) = weak.upgrade()
            {
                m.forget_stale();
            }
        });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the config dir; changes by other processes are seen at the next refresh");
            return None;
        }
    };
    if let Err(e) = watcher.watch(paths.dir(), notify::RecursiveMode::NonRecursive) {
        tracing::warn!(error = %e, "cannot watch the config dir; changes by other processes are seen at the next refresh");
        return None;
    }
    Some(watcher)
}

/// Keeps the accounts marked keep-signed-in fresh with no client asking
/// ([`LoginManager::keep_signed_in_sweep`]): one sweep at start, then every
/// [`KEEP_SIGNED_IN_SWEEP`], until `stop` turns true (checked between sweeps only).
async fn keep_signed_in_forever(
    manager: Arc<LoginManager>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = manager.keep_signed_in_sweep().await {
            tracing::debug!(error = %e, "keep-signed-in sweep failed");
        }
        tokio::select! {
            () = tokio::time::sleep(KEEP_SIGNED_IN_SWEEP) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Stores rotated sets the keychain refused, with backoff (1 s doubling to 30 s) while any
/// wait; sleeps without waking while none do.
async fn retry_unwritten(manager: Arc<LoginManager>) {
    let backoff = Backoff::doubling(Duration::from_secs(1), Duration::from_secs(30));
    loop {
        manager.unwritten_added().await;
        let mut attempt = 0;
        loop {
            attempt += 1;
            tokio::time::sleep(backoff.delay(attempt)).await;
            if manager.flush_unwritten().await == 0 {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::clock::ManualClock;
    use crate::config::Paths;
    use crate::http::testing::{ScriptedTransport, unreachable};
    use crate::manager::{ManagerOptions, RetryPolicy};
    use crate::store::memory::MemoryStore;
    use crate::store::{Keychain, SecretStore};

    fn manager(dir: &Path) -> Arc<LoginManager> {
        let store = Arc::new(MemoryStore::default());
        let keychain = Keychain::with_factory(
            Arc::new(move || Ok(store.clone() as Arc<dyn SecretStore>)),
            Duration::from_secs(5),
        );
        Arc::new(LoginManager::new(ManagerOptions {
            paths: Paths::new(dir),
            keychain,
            http: ScriptedTransport::new(|r| Err(unreachable(r))).client(),
            clock: Arc::new(ManualClock::new(time::OffsetDateTime::now_utc())),
            min_ttl: crate::manager::DEFAULT_MIN_TTL,
            lock_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }))
    }

    fn ping(stream: &mut std::os::unix::net::UnixStream) -> serde_json::Value {
        // A refused peer (`busy`) gets its answer and the connection closed at once, perhaps
        // before this write: read the answer whatever the write says, as the real client does.
        let _ = protocol::write_frame(stream, br#"{"v":1,"op":"ping"}"#);
        serde_json::from_slice(&protocol::read_frame(stream, protocol::MAX_RESPONSE).unwrap())
            .unwrap()
    }

    /// Issue 16.8: whoever serves the socket is hardened (the desktop app serves through
    /// [`host`], not through the CLI's `agent` command, and was not), and one peer process
    /// cannot hold more than [`MAX_CONNECTIONS_PER_PEER`] connections.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_serving_process_is_hardened_and_one_peer_gets_its_share_only() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        let bound = bind(&socket).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(serve_bound(
            manager(dir.path()),
            bound,
            async {
                let _ = stopped.await;
            },
            KeepSignedIn::Elsewhere,
        ));
        let path = socket.clone();
        let answers = tokio::task::spawn_blocking(move || {
            let mut held = Vec::new();
            let mut kinds = Vec::new();
            for _ in 0..MAX_CONNECTIONS_PER_PEER + 3 {
                let mut s = std::os::unix::net::UnixStream::connect(&path).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let a = ping(&mut s);
                kinds.push(
                    a["result"]
                        .as_str()
                        .map(|r| {
                            if r == "error" {
                                a["kind"].to_string()
                            } else {
                                r.to_string()
                            }
                        })
                        .unwrap_or_default(),
                );
                held.push(s);
            }
            kinds
        })
        .await
        .unwrap();
        #[cfg(target_os = "linux")]
        {
            assert!(!nix::sys::prctl::get_dumpable().unwrap(), "not dumpable");
            let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
            let core = limits
                .lines()
                .find(|l| l.starts_with("Max core file size"))
                .unwrap();
            assert!(core.split_whitespace().nth(4) == Some("0"), "{core}");
        }
        let pongs = answers.iter().filter(|k| *k == "pong").count();
        let busy = answers.iter().filter(|k| *k == "\"busy\"").count();
        assert_eq!((pongs, busy), (MAX_CONNECTIONS_PER_PEER, 3), "{answers:?}");
        let _ = stop.send(());
        served.await.unwrap().unwrap();
    }
}
