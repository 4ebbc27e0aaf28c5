//! The renewal engine: steps 2 to 7 of the refresh protocol, for every token renewed with the
//! account's grant — the account's own token (`refresh.rs`: a `refresh_token` or a new
//! `client_credentials` grant) and a token for another API (`derived.rs`). Those files say what
//! a renewal *means* (its form, where the answer is kept, what a refusal says); this one runs it:
//!
//! - **Locks.** The account's in-process mutex, then its lock file ([`LoginManager::lock_for_renewal`]).
//!   With a valid token in hand the wait is bounded by [`PROACTIVE_REFRESH_DEADLINE`]: a
//!   renewal someone else is running (a slow provider, a late answer finishing in the
//!   background) does not hold a caller who has a usable token; it is served, degraded.
//! - **Deadline.** A *proactive* request (a valid token in hand) gets
//!   [`PROACTIVE_REFRESH_DEADLINE`]; after it the token in hand is served (degraded) and the
//!   request is not dropped — its answer may carry the only valid (rotated) refresh token. It
//!   goes on in a background task that keeps the account locks and stores the answer as a
//!   prompt one would be; the next caller waits for the locks and finds the new set.
//! - **Degraded.** A transient failure (unreachable, 5xx, a garbage answer) with a valid token
//!   in hand serves that token, marked degraded, with no retry.
//! - **Backoff.** With nothing to serve, an unreachable provider is retried
//!   ([`RetryPolicy`], the one [`crate::backoff`] rule), then the error is returned.
//! - **Storing.** The answer is stored under the locks, the rotated refresh token into the
//!   account's own set before anything is handed out (`store_refreshed`, `store_derived`).
//! - **Background work belongs to the manager.** Each late answer is counted in the manager's
//!   [`BackgroundWork`] (shared by its detached handles); a process that is about to exit —
//!   the CLI, `exec` before `execve`, the agent, the desktop app — calls
//!   [`LoginManager::drain`] first.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::oauth_error::OAuthErrorCode;
use crate::target::TokenSpec;

/// How long a *proactive* renewal (the current token is still valid) may take before the
/// current token is served instead (degraded): a hanging token endpoint must not hold a caller
/// who has a usable token for the full request timeout. With no usable token the full timeout
/// applies. The request itself is not abandoned: it finishes in the background (module docs).
pub const PROACTIVE_REFRESH_DEADLINE: Duration = Duration::from_secs(5);

/// The longest wait at exit for [`LoginManager::drain`]: the request timeout, the keychain
/// write and the lock, with room to spare.
pub const DRAIN_AT_EXIT: Duration = Duration::from_secs(90);

/// The account's in-process mutex and cross-process lock file, held while renewing.
pub(super) type AccountLocks = (tokio::sync::OwnedMutexGuard<()>, lock::FileLock);

/// A token request that owns everything it needs, so it can outlive its caller.
type OwnedRequest = Pin<Box<dyn Future<Output = Result<TokenResponse>> + Send>>;

/// The renewals of one manager (and its detached handles) still finishing in the background.
#[derive(Default)]
pub(super) struct BackgroundWork {
    running: AtomicUsize,
    done: tokio::sync::Notify,
}

/// Counts one background renewal while it lives (also when its task is aborted).
struct InBackground(Arc<BackgroundWork>);

impl InBackground {
    fn start(work: &Arc<BackgroundWork>) -> Self {
        work.running.fetch_add(1, Ordering::SeqCst);
        InBackground(work.clone())
    }
}

impl Drop for InBackground {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
        self.0.done.notify_waiters();
    }
}

impl BackgroundWork {
    fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    async fn finished(&self) {
        loop {
            let done = self.done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if self.running() == 0 {
                return;
            }
            done.await;
        }
    }
}

/// What [`LoginManager::drain`] left behind (both zero: nothing was lost).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Drained {
    /// Renewals still running in the background at the deadline (abandoned by the exit).
    pub abandoned: usize,
    /// Accounts whose rotated set the keychain still refuses (kept in token memory only).
    pub unwritten: usize,
}

impl Drained {
    /// Nothing was lost.
    pub fn is_clean(&self) -> bool {
        *self == Drained::default()
    }
}

/// What a renewal is for; the engine asks it what to send, what to call the token it serves
/// meanwhile, how to read a refusal and where to store the answer.
#[derive(Clone)]
pub(super) enum Purpose {
    /// The account's own token (`refresh.rs`).
    Own {
        /// A new `client_credentials` grant, not a `refresh_token` grant.
        client_credentials: bool,
    },
    /// A token for another API (`derived.rs`).
    Other {
        /// What it is for.
        spec: TokenSpec,
        /// The account's own token set, whose refresh token the request sends (`None`:
        /// client credentials). A rotated refresh token is stored into it first.
        main: Option<Box<TokenSet>>,
    },
}

impl Purpose {
    /// The token served meanwhile, for messages.
    fn served(&self) -> String {
        match self {
            Purpose::Own { .. } => "the current token".into(),
            Purpose::Other { spec, .. } => format!("the cached token for {}", spec.describe()),
        }
    }

    /// The same without what it is for.
    fn served_short(&self) -> &'static str {
        match self {
            Purpose::Own { .. } => "the current token",
            Purpose::Other { .. } => "the cached token",
        }
    }

    /// What failed when a request fails: "refresh" for the account's own token, "renew" for a
    /// token for another API.
    fn verb(&self) -> &'static str {
        match self {
            Purpose::Own { .. } => "refresh",
            Purpose::Other { .. } => "renew",
        }
    }

    /// The request, for messages.
    fn noun(&self) -> &'static str {
        match self {
            Purpose::Own { .. } => "refresh",
            Purpose::Other { .. } => "request",
        }
    }
}

/// One renewal for the engine: what it is for, its form, and the token in hand.
pub(super) struct Renewal {
    /// What it is for.
    pub purpose: Purpose,
    /// The token request's form (`grant_type` and the rest).
    pub form: Vec<(String, Secret)>,
    /// The token a caller may be served meanwhile while it is unexpired (the account's
    /// current set, or the cached token for the spec); for the account's own token also the
    /// set the answer is merged into.
    pub current: Option<TokenSet>,
}

/// The outcome of [`LoginManager::lock_for_renewal`].
pub(super) enum Locked {
    /// The account locks: go on.
    Held(AccountLocks),
    /// The wait outlived the deadline with a valid token in hand: serve this.
    Served(AccessToken),
}

impl LoginManager {
    /// The `min_ttl` of a request (the manager's default unless given), as a `time` duration.
    pub(super) fn min_ttl(&self, opts: &TokenOptions) -> time::Duration {
        time::Duration::try_from(opts.min_ttl.unwrap_or(self.opts.min_ttl)).unwrap_or_default()
    }

    /// True if `t` can be handed out without a renewal: more than `min_ttl` left and not the
    /// token a tool reported rejected.
    pub(super) fn fresh_enough(
        &self,
        account: &Account,
        t: &TokenSet,
        min_ttl: time::Duration,
    ) -> bool {
        t.is_fresh(self.now(), min_ttl) && !token_rejected(account, t)
    }

    /// True if `t` may be served while a renewal is slow or fails: unexpired and not the token
    /// a tool reported rejected.
    pub(super) fn servable(&self, account: &Account, t: &TokenSet) -> bool {
        t.is_unexpired(self.now()) && !token_rejected(account, t)
    }

    /// Takes the account locks for a renewal. With a valid token `in_hand` the wait is bounded
    /// by [`PROACTIVE_REFRESH_DEADLINE`], after which that token is served (degraded).
    pub(super) async fn lock_for_renewal(
        &self,
        account: &Account,
        in_hand: Option<TokenSet>,
        purpose: &Purpose,
    ) -> Result<Locked> {
        let Some(t) = in_hand else {
            return Ok(Locked::Held(self.lock_account(account.id).await?));
        };
        match tokio::time::timeout(PROACTIVE_REFRESH_DEADLINE, self.lock_account(account.id)).await
        {
            Ok(locks) => Ok(Locked::Held(locks?)),
            Err(_) => Ok(Locked::Served(hand_out(
                t,
                Some(format!(
                    "another refresh of this account has been running for over {} s; serving {} (still valid)",
                    PROACTIVE_REFRESH_DEADLINE.as_secs(),
                    purpose.served()
                )),
                false,
            ))),
        }
    }

    /// Sends the renewal under `locks` and stores its answer (see the module docs). `locks`
    /// are released when this returns, or handed to the background task that finishes a
    /// request which outlived [`PROACTIVE_REFRESH_DEADLINE`].
    pub(super) async fn renew(
        &self,
        account: &Account,
        renewal: Renewal,
        locks: AccountLocks,
    ) -> Result<AccessToken> {
        let Renewal {
            purpose,
            form,
            current,
        } = renewal;
        let auth = self.client_auth(account).await?;
        let dpop = self.dpop_key(account).await?;
        let token_url = account.provider.endpoints.token.clone();
        let errors_with_200 = account.provider.quirks().token_errors_with_http_200;
        let form = Arc::new(form);
        let backoff = self.opts.retry.backoff();
        let mut attempt = 0u32;
        let response = loop {
            attempt += 1;
            let in_hand = current.as_ref().filter(|c| c.is_unexpired(self.now()));
            let mut request: OwnedRequest = Box::pin(token_request(
                self.opts.http.clone(),
                token_url.clone(),
                auth.clone(),
                dpop.clone(),
                form.clone(),
                errors_with_200,
            ));
            let result = match in_hand {
                Some(in_hand) => {
                    match tokio::time::timeout(PROACTIVE_REFRESH_DEADLINE, &mut request).await {
                        Ok(r) => r,
                        Err(_) => {
                            let in_hand = in_hand.clone();
                            return Ok(self.finish_in_background(
                                account, purpose, current, in_hand, auth, request, locks,
                            ));
                        }
                    }
                }
                None => request.await,
            };
            let e = match result {
                Ok(r) => break r,
                Err(Error::ProviderError {
                    error,
                    description,
                    hint,
                }) => {
                    return Err(self
                        .renewal_refused(account, &purpose, &auth, error, description, hint)
                        .await?);
                }
                Err(e) => e,
            };
            // An outage, a 5xx or a garbage answer (truncated JSON, a captive portal's page)
            // while a valid token is in hand: served, degraded, not a failure.
            let transient = e.kind() == ErrorKind::ProviderUnreachable
                || matches!(e, Error::BadResponse { .. });
            if transient && let Some(c) = current.as_ref().filter(|c| c.is_unexpired(self.now())) {
                tracing::warn!(account = %account.name, error = %e, "could not {}; serving {} (degraded)", purpose.verb(), purpose.served());
                return Ok(hand_out(
                    c.clone(),
                    Some(format!(
                        "could not {}, serving {} until it expires: {e}",
                        purpose.verb(),
                        purpose.served_short()
                    )),
                    false,
                ));
            }
            if e.kind() != ErrorKind::ProviderUnreachable
                || attempt >= self.opts.retry.attempts.max(1)
            {
                return Err(e);
            }
            let pause = backoff.delay(attempt);
            tracing::info!(account = %account.name, attempt, pause_ms = pause.as_millis() as u64, "provider unreachable; retrying");
            self.opts.clock.sleep(pause).await;
        };
        // `locks` are held until the answer is stored.
        let stored = self
            .store_renewal(account, &purpose, current, response)
            .await;
        drop(locks);
        stored
    }

    /// The caller gets `in_hand` (degraded) now; `request` goes on in a background task,
    /// counted in the manager's [`BackgroundWork`], that keeps the account locks and stores
    /// its answer (a rotated refresh token must not be lost) or records its refusal.
    #[allow(clippy::too_many_arguments)]
    fn finish_in_background(
        &self,
        account: &Account,
        purpose: Purpose,
        current: Option<TokenSet>,
        in_hand: TokenSet,
        auth: ClientAuth,
        request: OwnedRequest,
        locks: AccountLocks,
    ) -> AccessToken {
        let counted = InBackground::start(&self.background);
        let manager = self.detached();
        let account = account.clone();
        let served = purpose.served();
        let served_short = purpose.served_short();
        let noun = purpose.noun();
        tracing::warn!(account = %account.name, "the token endpoint did not answer within {} s; serving {served} and finishing the {noun} in the background", PROACTIVE_REFRESH_DEADLINE.as_secs());
        tokio::spawn(async move {
            let _counted = counted;
            let _locks = locks;
            let outcome = match request.await {
                Ok(response) => manager
                    .store_renewal(&account, &purpose, current, response)
                    .await
                    .map(|_| ()),
                Err(Error::ProviderError {
                    error,
                    description,
                    hint,
                }) => Err(manager
                    .renewal_refused(&account, &purpose, &auth, error, description, hint)
                    .await
                    .unwrap_or_else(|e| e)),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => {
                    tracing::info!(account = %account.name, "late answer to a {noun} stored ({served})")
                }
                Err(e) => {
                    tracing::warn!(account = %account.name, error = %e, "a {noun} finished in the background failed; {served} stays until it expires")
                }
            }
        });
        hand_out(
            in_hand,
            Some(format!(
                "the provider did not answer within {} s; serving {} (still valid) while the {} finishes in the background",
                PROACTIVE_REFRESH_DEADLINE.as_secs(),
                served_short,
                noun
            )),
            false,
        )
    }

    /// Stores an answer under the account locks, where its purpose keeps it.
    async fn store_renewal(
        &self,
        account: &Account,
        purpose: &Purpose,
        current: Option<TokenSet>,
        response: TokenResponse,
    ) -> Result<AccessToken> {
        match purpose {
            Purpose::Own { client_credentials } => {
                self.store_refreshed(account, current, response, *client_credentials)
                    .await
            }
            Purpose::Other { spec, main } => {
                self.store_derived(account, spec, main.as_deref().cloned(), response)
                    .await
            }
        }
    }

    /// What a provider's refusal means for its purpose (the error for the caller; under the
    /// account locks).
    async fn renewal_refused(
        &self,
        account: &Account,
        purpose: &Purpose,
        auth: &ClientAuth,
        error: OAuthErrorCode,
        description: Option<String>,
        hint: Option<String>,
    ) -> Result<Error> {
        match purpose {
            Purpose::Own { client_credentials } => {
                self.refresh_refusal(account, *client_credentials, auth, error, description, hint)
                    .await
            }
            Purpose::Other { spec, .. } => {
                self.derived_refused(account, spec, error, description, hint)
                    .await
            }
        }
    }

    /// Renewals of this manager still finishing in the background (their callers were served
    /// the current token after [`PROACTIVE_REFRESH_DEADLINE`]).
    pub fn background_renewals(&self) -> usize {
        self.background.running()
    }

    /// Before the process exits: waits (at most `deadline`) until every renewal of this
    /// manager finishing in the background has stored its answer or given up, then makes one
    /// last attempt to store rotated sets the keychain refused (token memory). A rotated
    /// refresh token the provider already issued is not lost with the process. Every exit
    /// calls it: the CLI (after its output), `exec` before `execve`, the agent on shutdown,
    /// the desktop app on quit.
    pub async fn drain(&self, deadline: Duration) -> Drained {
        let until = tokio::time::Instant::now() + deadline;
        if self.background.running() > 0 {
            tracing::info!(
                count = self.background.running(),
                "waiting for renewals finishing in the background"
            );
        }
        let abandoned = match tokio::time::timeout_at(until, self.background.finished()).await {
            Ok(()) => 0,
            Err(_) => {
                let n = self.background.running();
                tracing::error!(
                    count = n,
                    "renewals still running in the background were abandoned at exit; their accounts may need to sign in again"
                );
                n
            }
        };
        let unwritten = match tokio::time::timeout_at(until, self.flush_unwritten()).await {
            Ok(n) => n,
            Err(_) => self.unwritten_count(),
        };
        if unwritten > 0 {
            tracing::error!(
                accounts = unwritten,
                "exiting with rotated tokens the keychain did not accept; those accounts may need to sign in again"
            );
        }
        Drained {
            abandoned,
            unwritten,
        }
    }
}

/// One token request with everything it needs owned, so it can outlive its caller.
async fn token_request(
    http: HttpClient,
    token_url: Url,
    auth: ClientAuth,
    dpop: Option<DpopKey>,
    form: Arc<Vec<(String, Secret)>>,
    errors_with_200: bool,
) -> Result<TokenResponse> {
    let ctx = ErrorContext {
        redirect_uri: None,
        errors_with_200,
    };
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.expose())).collect();
    request_token(&http, &token_url, &auth, &form, &ctx, dpop.as_ref()).await
}
