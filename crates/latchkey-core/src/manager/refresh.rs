//! The refresh protocol: `access_token` (hot path, then single-flight renewal under the account locks).
//!
//! A proactive refresh that outlives [`PROACTIVE_REFRESH_DEADLINE`] is not dropped: its answer
//! may carry the only valid (rotated) refresh token. The caller gets the current token
//! (degraded) and the request goes on in a background task that keeps the account locks and
//! stores the answer; the next caller waits for the locks and finds the new set. A process that
//! is about to exit waits for [`background_refreshes_finished`] first.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::oauth_error::OAuthErrorCode;

/// How long a *proactive* refresh (the current token is still valid) may take before the current
/// token is served instead (degraded): a hanging token endpoint must not hold a caller who has
/// a usable token for the full request timeout. With no usable token the full timeout applies.
/// The request itself is not abandoned: it finishes in the background (see the module docs).
pub const PROACTIVE_REFRESH_DEADLINE: Duration = Duration::from_secs(5);

/// The account's in-process mutex and cross-process lock file, held while refreshing.
pub(super) type AccountLocks = (tokio::sync::OwnedMutexGuard<()>, lock::FileLock);

static IN_BACKGROUND: AtomicUsize = AtomicUsize::new(0);
static BACKGROUND_DONE: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Counts a background refresh while it lives (also when its task is aborted).
pub(super) struct InBackground;

impl InBackground {
    pub(super) fn start() -> Self {
        IN_BACKGROUND.fetch_add(1, Ordering::SeqCst);
        InBackground
    }
}

impl Drop for InBackground {
    fn drop(&mut self) {
        IN_BACKGROUND.fetch_sub(1, Ordering::SeqCst);
        BACKGROUND_DONE.notify_waiters();
    }
}

/// How many refreshes of this process are still finishing in the background (their callers
/// were served the current token after [`PROACTIVE_REFRESH_DEADLINE`]).
pub fn background_refreshes() -> usize {
    IN_BACKGROUND.load(Ordering::SeqCst)
}

/// Waits until every background refresh of this process has stored its answer or given up. A
/// short-lived process (the CLI) calls this before it exits, so a rotated refresh token the
/// provider already issued is not lost with the process.
pub async fn background_refreshes_finished() {
    loop {
        let done = BACKGROUND_DONE.notified();
        tokio::pin!(done);
        done.as_mut().enable();
        if background_refreshes() == 0 {
            return;
        }
        done.await;
    }
}

/// How [`LoginManager`] renews a token under the account locks.
#[derive(Clone)]
pub(super) enum Renewal {
    /// `grant_type=refresh_token`.
    RefreshToken(Secret),
    /// `grant_type=client_credentials` (a new grant replaces the old token).
    ClientCredentials,
}

impl LoginManager {
    /// A valid access token: the stored one if it has more than `min_ttl` left, else refreshed
    /// (single-flight across tasks and processes). See the module docs.
    pub async fn access_token(&self, name: &str, opts: TokenOptions) -> Result<AccessToken> {
        let account = self.account(name)?;
        let min_ttl =
            time::Duration::try_from(opts.min_ttl.unwrap_or(self.opts.min_ttl)).unwrap_or_default();
        // Client credentials: "refresh" is a new grant, through the same single-flight path.
        let client_credentials = account.flow == GrantFlow::ClientCredentials;
        let mut in_hand = None;
        if !opts.force {
            match self.read_tokens(&account).await? {
                Some(t) if t.is_fresh(self.now(), min_ttl) && !token_rejected(&account, &t) => {
                    return Ok(hand_out(t, None, false));
                }
                Some(t) if t.is_unexpired(self.now()) && !token_rejected(&account, &t) => {
                    in_hand = Some(t);
                }
                Some(_) => {}
                None if client_credentials => {}
                None => return Err(self.needs_sign_in_error(&account)),
            }
        }
        // With a usable token in hand, the wait for a refresh someone else is running (a slow
        // provider, a refresh finishing in the background) is bounded like the refresh itself.
        let locks = match in_hand {
            Some(t) => {
                match tokio::time::timeout(
                    PROACTIVE_REFRESH_DEADLINE,
                    self.lock_account(account.id),
                )
                .await
                {
                    Ok(locks) => locks?,
                    Err(_) => {
                        return Ok(hand_out(
                            t,
                            Some(format!(
                                "another refresh of this account has been running for over {} s; serving the current token (still valid)",
                                PROACTIVE_REFRESH_DEADLINE.as_secs()
                            )),
                            false,
                        ));
                    }
                }
            }
            None => self.lock_account(account.id).await?,
        };
        // Re-read: another task or process may have refreshed while we waited.
        let account = self.account(name)?;
        let current = self.read_tokens_locked(&account).await?;
        if client_credentials {
            if !opts.force
                && let Some(t) = current
                    .as_ref()
                    .filter(|t| t.is_fresh(self.now(), min_ttl) && !token_rejected(&account, t))
            {
                tracing::debug!(account = %account.name, "renewed by someone else meanwhile");
                return Ok(hand_out(t.clone(), None, false));
            }
            return self
                .refresh_locked(&account, current, Renewal::ClientCredentials, locks)
                .await;
        }
        let current = current.ok_or_else(|| self.needs_sign_in_error(&account))?;
        let now = self.now();
        if !opts.force && current.is_fresh(now, min_ttl) && !token_rejected(&account, &current) {
            tracing::debug!(account = %account.name, "refreshed by someone else meanwhile");
            return Ok(hand_out(current, None, false));
        }
        let Some(refresh_token) = current.refresh_token.clone() else {
            if current.is_unexpired(now) {
                return Ok(hand_out(
                    current,
                    Some("no refresh token: this token cannot be renewed; sign in again before it expires".into()),
                    false,
                ));
            }
            return Err(Error::NeedsSignIn {
                account: account.name.clone(),
                reason: "the access token expired and the provider issued no refresh token".into(),
            });
        };
        self.refresh_locked(
            &account,
            Some(current),
            Renewal::RefreshToken(refresh_token),
            locks,
        )
        .await
    }

    /// [`Self::access_token`] with `force`: a new token even if the stored one is fresh.
    pub(super) async fn force_refresh(&self, name: &str) -> Result<AccessToken> {
        self.access_token(
            name,
            TokenOptions {
                min_ttl: None,
                force: true,
            },
        )
        .await
    }

    pub(super) fn needs_sign_in_error(&self, account: &Account) -> Error {
        Error::NeedsSignIn {
            account: account.name.clone(),
            reason: account
                .needs_sign_in
                .clone()
                .unwrap_or_else(|| "it is not signed in".into()),
        }
    }

    /// Refreshes under the account locks (`locks`: released when this returns, or handed to the
    /// background task that finishes a refresh which outlived [`PROACTIVE_REFRESH_DEADLINE`]).
    pub(super) async fn refresh_locked(
        &self,
        account: &Account,
        current: Option<TokenSet>,
        renewal: Renewal,
        locks: AccountLocks,
    ) -> Result<AccessToken> {
        let auth = self.client_auth(account).await?;
        let dpop = self.dpop_key(account).await?;
        let token_url = account.provider.endpoints.token.clone();
        let quirks = account.provider.quirks();
        let client_credentials = matches!(renewal, Renewal::ClientCredentials);
        let mut attempt = 0u32;
        let response = loop {
            attempt += 1;
            let in_hand = current
                .as_ref()
                .filter(|c| c.is_unexpired(self.now()))
                .cloned();
            let mut request = Box::pin(token_request(
                self.opts.http.clone(),
                token_url.clone(),
                auth.clone(),
                dpop.clone(),
                renewal.clone(),
                account.scopes.join(" "),
                quirks.token_errors_with_http_200,
            ));
            let result = if let Some(in_hand) = in_hand {
                match tokio::time::timeout(PROACTIVE_REFRESH_DEADLINE, &mut request).await {
                    Ok(r) => r,
                    Err(_) => {
                        return Ok(self.finish_in_background(
                            account,
                            in_hand,
                            request,
                            client_credentials,
                            locks,
                        ));
                    }
                }
            } else {
                request.await
            };
            match result {
                Ok(r) => break r,
                Err(Error::ProviderError {
                    error, description, ..
                }) if client_credentials
                    && matches!(
                        error,
                        OAuthErrorCode::InvalidClient | OAuthErrorCode::UnauthorizedClient
                    ) =>
                {
                    return Err(Error::ProviderError {
                        hint: Some(format!(
                            "The provider did not accept the client credentials of `{}`: check the client id and secret (`latchkey edit {} --client-secret-stdin`), that the client may use the client_credentials grant, and that it is registered for the authentication method in use ({}; see `--auth basic|post`)",
                            account.name,
                            account.name,
                            match &auth {
                                ClientAuth::Post { .. } => "client_secret_post",
                                _ => "client_secret_basic",
                            }
                        )),
                        error,
                        description,
                    });
                }
                Err(Error::ProviderError {
                    error, description, ..
                }) if error == OAuthErrorCode::InvalidGrant && !client_credentials => {
                    return Err(self.refresh_token_rejected(account, description).await?);
                }
                // Not repeated: the provider may have spent the refresh token with it.
                Err(Error::ProviderError {
                    error,
                    description,
                    hint,
                }) if !client_credentials && error != OAuthErrorCode::InvalidClient => {
                    return Err(self
                        .refresh_refused(account, "a renewal", error, description, hint)
                        .await);
                }
                // A garbage answer (truncated JSON, a captive portal's page) while the current
                // token is valid is served like an outage: degraded, not a failure.
                Err(e @ Error::BadResponse { .. })
                    if current.as_ref().is_some_and(|c| c.is_unexpired(self.now())) =>
                {
                    let Some(current) = current.clone() else {
                        return Err(e);
                    };
                    tracing::warn!(account = %account.name, error = %e, "the provider's answer to a refresh was unusable; serving the current token (degraded)");
                    return Ok(hand_out(
                        current,
                        Some(format!(
                            "could not refresh, serving the current token until it expires: {e}"
                        )),
                        false,
                    ));
                }
                Err(e) if e.kind() == ErrorKind::ProviderUnreachable => {
                    let now = self.now();
                    if let Some(current) = current.as_ref().filter(|c| c.is_unexpired(now)) {
                        tracing::warn!(account = %account.name, error = %e, "refresh failed; serving the current token (degraded)");
                        return Ok(hand_out(
                            current.clone(),
                            Some(format!(
                                "could not refresh, serving the current token until it expires: {e}"
                            )),
                            false,
                        ));
                    }
                    if attempt >= self.opts.retry.attempts.max(1) {
                        return Err(e);
                    }
                    let base = self.opts.retry.base_delay * 2u32.pow(attempt - 1);
                    let jitter = rand::rng().random_range(0.5..1.5);
                    let pause = base.mul_f64(jitter);
                    tracing::info!(account = %account.name, attempt, pause_ms = pause.as_millis() as u64, "provider unreachable; retrying");
                    self.opts.clock.sleep(pause).await;
                }
                Err(e) => return Err(e),
            }
        };
        // `locks` are held until the answer is stored.
        let stored = self
            .store_refreshed(account, current, response, client_credentials)
            .await;
        drop(locks);
        stored
    }

    /// The caller gets `current` (degraded) now; `request` goes on in a background task that
    /// keeps the account locks and stores its answer (a rotated refresh token must not be lost).
    fn finish_in_background(
        &self,
        account: &Account,
        current: TokenSet,
        request: std::pin::Pin<Box<impl Future<Output = Result<TokenResponse>> + Send + 'static>>,
        client_credentials: bool,
        locks: AccountLocks,
    ) -> AccessToken {
        let counted = InBackground::start();
        let manager = self.detached();
        let account = account.clone();
        let previous = current.clone();
        tracing::warn!(account = %account.name, "the token endpoint did not answer within {} s; serving the current token and finishing the refresh in the background", PROACTIVE_REFRESH_DEADLINE.as_secs());
        tokio::spawn(async move {
            let _counted = counted;
            let _locks = locks;
            match request.await {
                Ok(response) => {
                    match manager
                        .store_refreshed(&account, Some(previous), response, client_credentials)
                        .await
                    {
                        Ok(_) => {
                            tracing::info!(account = %account.name, "late refresh answer stored")
                        }
                        Err(e) => {
                            tracing::error!(account = %account.name, error = %e, "could not store a late refresh answer")
                        }
                    }
                }
                Err(Error::ProviderError {
                    error: OAuthErrorCode::InvalidGrant,
                    description,
                    ..
                }) if !client_credentials => {
                    if let Err(e) = manager.refresh_token_rejected(&account, description).await {
                        tracing::error!(account = %account.name, error = %e, "could not record a rejected refresh token");
                    }
                }
                Err(e) => {
                    tracing::warn!(account = %account.name, error = %e, "a refresh finished in the background failed; the current token stays until it expires");
                }
            }
        });
        hand_out(
            current,
            Some(format!(
                "the provider did not answer within {} s; serving the current token (still valid) while the refresh finishes in the background",
                PROACTIVE_REFRESH_DEADLINE.as_secs()
            )),
            false,
        )
    }

    /// The provider refused the refresh token (`invalid_grant`), on a renewal of the account's
    /// own token or on a request for another API (`derived.rs`): the tokens (and the cached
    /// tokens for other APIs) are deleted from the keychain and the account marked needs
    /// sign-in, so no caller, in this process or another, sends the dead refresh token again
    /// (the others find no tokens when they get the account locks). Returns the error for the
    /// caller. Under the account locks.
    pub(super) async fn refresh_token_rejected(
        &self,
        account: &Account,
        description: Option<String>,
    ) -> Result<Error> {
        tracing::warn!(account = %account.name, "refresh token rejected (invalid_grant); tokens cleared");
        // The account on file: another process may have recorded a refused request since.
        let at_risk = self.registry.load().ok().and_then(|f| {
            f.by_id(&account.id)
                .and_then(|a| a.refresh_token_at_risk.clone())
        });
        let reason = format!(
            "the provider no longer accepts its refresh token (invalid_grant{}){}",
            description.map(|d| format!(": {d}")).unwrap_or_default(),
            at_risk
                .map(|r| format!("; probably because {r}"))
                .unwrap_or_default()
        );
        // Marked first, then deleted: a caller that finds the tokens gone (on the hot path,
        // without the locks) finds the reason recorded too.
        let id = account.id;
        let r = reason.clone();
        let marked = self
            .registry
            .update(move |f| {
                if let Some(a) = f.by_id_mut(&id) {
                    a.needs_sign_in = Some(r);
                    a.refresh_token_at_risk = None;
                }
                Ok(())
            })
            .await;
        self.delete_tokens(account).await?;
        marked?;
        Ok(Error::NeedsSignIn {
            account: account.name.clone(),
            reason,
        })
    }

    /// The provider refused a request made with the account's refresh token (`what`: a
    /// renewal, a token for another API), with an error other than `invalid_grant`. Some
    /// providers spend the refresh token before they check the request (panva's oidc-provider
    /// rotates it before it checks `resource`), so it may be gone. The request is not repeated;
    /// the account records what happened (`latchkey status` shows it, and an `invalid_grant`
    /// on the next request says why); the error says what to do. Under the account locks.
    pub(super) async fn refresh_refused(
        &self,
        account: &Account,
        what: &str,
        error: OAuthErrorCode,
        description: Option<String>,
        hint: Option<String>,
    ) -> Error {
        let when = self
            .now()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let note = format!(
            "the provider refused {what} ({error}) at {when} and may have spent the refresh token with it"
        );
        tracing::warn!(account = %account.name, "{note}");
        let id = account.id;
        let result = self
            .registry
            .update(move |f| {
                if let Some(a) = f.by_id_mut(&id) {
                    a.refresh_token_at_risk = Some(note);
                }
                Ok(())
            })
            .await;
        log_cleanup_failure(&account.name, "recording a refused request", result);
        Error::RefreshRefused {
            account: account.name.clone(),
            error,
            description,
            hint,
            remedy: format!(
                "the account's tokens are kept; if its next token request fails, sign in again: `latchkey login {}`",
                account.name
            ),
        }
    }

    /// Stores a refresh answer: the rotated set first, then the identity and the metadata. The
    /// caller holds the account locks.
    async fn store_refreshed(
        &self,
        account: &Account,
        current: Option<TokenSet>,
        response: TokenResponse,
        client_credentials: bool,
    ) -> Result<AccessToken> {
        let quirks = account.provider.quirks();
        let now = self.now();
        let mut set =
            TokenSet::from_response(response, now, current.as_ref(), quirks.scope_delimiter);
        // Invariant: the rotated refresh token is stored before anything else can fail and
        // before the access token is handed out.
        self.write_tokens(account, &set).await?;
        let mut identity_update = None;
        let previous_id_token = current.as_ref().and_then(|c| c.id_token.clone());
        let new_id_token = set
            .id_token
            .clone()
            .filter(|t| Some(t) != previous_id_token.as_ref());
        if let Some(id_token) = new_id_token
            && account.provider.is_oidc()
        {
            // Refreshed id_tokens carry no nonce; the subject must not change. A bad one does
            // not undo the refresh (the tokens came from the token endpoint over TLS); it is
            // dropped and the identity on record stays.
            match self
                .validate_id_token(
                    account,
                    &id_token,
                    None,
                    account.identity.as_ref().map(|i| i.sub.as_str()),
                )
                .await
            {
                Ok(identity) => identity_update = Some(identity),
                Err(e) => {
                    tracing::warn!(account = %account.name, error = %e, "refreshed id_token rejected; keeping the previous one");
                    set.id_token = previous_id_token.clone();
                    self.write_tokens(account, &set).await?;
                }
            }
        }
        let id = account.id;
        let granted = scope_list(set.scope.as_deref());
        let obtained = set.obtained_at;
        self.registry
            .update(move |f| {
                // The refresh time is the token set's `obtained_at` (in the keychain): the
                // file is rewritten only when something in it changes, not on every refresh.
                if let Some(a) = f.by_id_mut(&id) {
                    a.needs_sign_in = None;
                    // The refresh token worked: it was not spent by a refused request.
                    a.refresh_token_at_risk = None;
                    // The token a tool reported rejected is replaced: the marker is used up.
                    if a.token_rejected_at.is_some_and(|r| r <= obtained) {
                        a.token_rejected_at = None;
                    }
                    if client_credentials && a.signed_in_at.is_none() {
                        a.signed_in_at = Some(now);
                    }
                    if !granted.is_empty() {
                        a.granted_scopes = granted;
                    }
                    if let Some(mut i) = identity_update {
                        // Keep what the refresh did not carry.
                        if let Some(old) = &a.identity {
                            i.email = i.email.or(old.email.clone());
                            i.name = i.name.or(old.name.clone());
                            i.username = i.username.or(old.username.clone());
                        }
                        a.identity = Some(i);
                    }
                }
                Ok(())
            })
            .await?;
        tracing::info!(account = %account.name, "token refreshed");
        Ok(hand_out(set, None, true))
    }
}

/// One token request with everything it needs owned, so it can outlive its caller (see
/// [`LoginManager::finish_in_background`]).
async fn token_request(
    http: HttpClient,
    token_url: Url,
    auth: ClientAuth,
    dpop: Option<DpopKey>,
    renewal: Renewal,
    scope: String,
    errors_with_200: bool,
) -> Result<TokenResponse> {
    let ctx = ErrorContext {
        redirect_uri: None,
        errors_with_200,
    };
    let params: Vec<(&str, &str)> = match &renewal {
        Renewal::RefreshToken(rt) => vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.expose()),
        ],
        Renewal::ClientCredentials if scope.is_empty() => {
            vec![("grant_type", "client_credentials")]
        }
        Renewal::ClientCredentials => {
            vec![("grant_type", "client_credentials"), ("scope", &scope)]
        }
    };
    request_token(&http, &token_url, &auth, &params, &ctx, dpop.as_ref()).await
}
