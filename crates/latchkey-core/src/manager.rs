//! [`LoginManager`]: the one façade the CLI and the desktop app call.
//!
//! It ties the metadata file, the keychain, the provider and the locks together and carries the
//! two protocols whose invariants keep tokens safe:
//!
//! **Refresh** ([`LoginManager::access_token`]): the hot path is one keychain read. Otherwise take
//! the in-process async mutex of the account, then its cross-process lock file, re-read the
//! keychain (another task or process may have refreshed meanwhile), refresh, and write the new
//! set (rotated refresh token included) to the keychain *before* releasing the locks or handing
//! out the access token. `invalid_grant` clears the tokens and marks the account *needs sign-in*.
//! Network failures and 5xx serve the old token while it is still valid (*degraded*), else
//! retry with exponential backoff and jitter, then fail.
//!
//! **Sign-in** ([`LoginManager::start_sign_in`], [`LoginManager::complete_sign_in`]): the
//! pending flow lives in the keychain for 10 minutes; completion (from a loopback request or a
//! deep link: the same function) looks it up by `state`, consumes it once under the account lock,
//! checks `error`, `iss` and the redirect URI, exchanges the code with the verifier, validates
//! the id_token, refuses a silent identity switch, then stores tokens and identity.
//!
//! **Other grants.** The device authorization grant ([`LoginManager::start_device_sign_in`] →
//! show [`DeviceSignIn`] → [`LoginManager::finish_device_sign_in`], or
//! [`LoginManager::sign_in_device`] in one call) ends in the same storing tail as the browser
//! sign-in. Client-credentials accounts have no sign-in: in [`LoginManager::access_token`] their
//! "refresh" is a new `client_credentials` grant, through the same locks and re-read. DPoP
//! accounts ([`crate::dpop`]) send proofs on every token request; when the provider has a PAR
//! endpoint the authorization request is pushed first. [`LoginManager::request`] and
//! [`LoginManager::introspect`] use an account's token at a resource server / the RFC 7662
//! endpoint.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use serde::Serialize;
use time::OffsetDateTime;
use url::Url;
use uuid::Uuid;

use crate::accounts::{
    Account, ClientAuthMethod, GrantFlow, Identity, PendingIndex, RedirectMode, Registry,
    validate_name,
};
use crate::clock::{Clock, SystemClock};
use crate::config::{Paths, SCHEME_REDIRECT_URI};
use crate::dpop::DpopKey;
use crate::error::{Error, ErrorKind, Result};
use crate::flow::device::{self, DEVICE_CODE_GRANT, PollSchedule};
use crate::flow::loopback::LoopbackListener;
use crate::flow::pkce::{self, AuthRequest, Callback, PendingFlow, pending_key, state_digest};
use crate::http::{ClientAuth, HttpClient, Presented, ResourceRequest, Response};
use crate::lock;
use crate::oidc::{self, IdTokenCheck};
use crate::provider::{IdentitySource, ProviderConfig, ProviderSpec, Resolution};
use crate::secret::{Secret, ct_eq};
use crate::store::Keychain;
use crate::token::{ErrorContext, TokenResponse, TokenSet, interpret_json, request_token};

/// Default minimum remaining validity before a token is refreshed.
pub const DEFAULT_MIN_TTL: Duration = Duration::from_secs(60);

/// How transient refresh failures are retried when no valid token is left to serve.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all (≥ 1).
    pub attempts: u32,
    /// First pause; doubled each time, ±50 % jitter.
    pub base_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(400),
        }
    }
}

/// Construction parameters of a [`LoginManager`].
#[derive(Clone)]
pub struct ManagerOptions {
    /// Config dir layout.
    pub paths: Paths,
    /// The keychain.
    pub keychain: Keychain,
    /// HTTP client.
    pub http: HttpClient,
    /// Clock.
    pub clock: Arc<dyn Clock>,
    /// Refresh when less than this is left.
    pub min_ttl: Duration,
    /// Longest wait for another process holding an account's lock.
    pub lock_timeout: Duration,
    /// Retry policy for transient failures.
    pub retry: RetryPolicy,
}

impl ManagerOptions {
    /// Defaults from the environment (`LATCHKEY_CONFIG_DIR`), the platform keychain with the
    /// given deadline, and the system clock.
    pub fn from_env(keychain_deadline: Duration) -> Result<Self> {
        Ok(ManagerOptions {
            paths: Paths::from_env()?,
            keychain: Keychain::platform(keychain_deadline),
            http: HttpClient::new()?,
            clock: Arc::new(SystemClock),
            min_ttl: DEFAULT_MIN_TTL,
            lock_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
        })
    }
}

/// A new account's settings.
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    /// Unique user-facing name.
    pub name: String,
    /// Provider as typed.
    pub provider: ProviderSpec,
    /// OAuth client id.
    pub client_id: String,
    /// Client secret, if the client has one (stored in the keychain).
    pub client_secret: Option<Secret>,
    /// Scopes; empty → the preset's defaults.
    pub scopes: Vec<String>,
    /// Redirect mode.
    pub redirect: RedirectMode,
    /// Fixed loopback port.
    pub port: Option<u16>,
    /// Keep signed in (desktop app background refresh).
    pub keep_signed_in: bool,
    /// Free-text label.
    pub label: Option<String>,
    /// How the account obtains tokens (default: authorization code + PKCE).
    pub flow: GrantFlow,
    /// Client authentication at the token endpoint (`None`: the preset's default, else basic).
    pub client_auth: Option<ClientAuthMethod>,
    /// Ask for DPoP-bound tokens (RFC 9449): a key pair is created and kept in the keychain.
    pub dpop: bool,
}

/// Changes to an account; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct AccountEdit {
    /// New label (`Some(None)` clears it).
    pub label: Option<Option<String>>,
    /// New client id (signs the account out: its tokens belong to the old client).
    pub client_id: Option<String>,
    /// New client secret (`Some(None)` deletes it).
    pub client_secret: Option<Option<Secret>>,
    /// New scopes (take effect at the next sign-in).
    pub scopes: Option<Vec<String>>,
    /// New redirect mode.
    pub redirect: Option<RedirectMode>,
    /// New fixed port (`Some(None)`: ephemeral).
    pub port: Option<Option<u16>>,
    /// Keep signed in.
    pub keep_signed_in: Option<bool>,
    /// New grant flow (to or from client credentials signs the account out: the tokens
    /// belong to a user, or to the client itself).
    pub flow: Option<GrantFlow>,
    /// New client authentication method (`Some(None)`: the default, basic).
    pub client_auth: Option<Option<ClientAuthMethod>>,
    /// Ask for DPoP-bound tokens or not (a change signs the account out: bound tokens cannot
    /// be used as bearer tokens and the other way round).
    pub dpop: Option<bool>,
}

/// What an edit did.
#[derive(Debug, Clone, Serialize)]
pub struct EditOutcome {
    /// The account after the edit.
    pub account: Account,
    /// True if the tokens were removed (the change invalidated them).
    pub signed_out: bool,
    /// Human notes ("scopes take effect at the next sign-in").
    pub notes: Vec<String>,
}

/// Token state of an account, for `list`, `status` and the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenStatus {
    /// Valid access token.
    SignedIn,
    /// Valid, but within the refresh window.
    ExpiresSoon,
    /// Expired; a refresh token is available.
    ExpiredRefreshable,
    /// Must sign in (no tokens after an `invalid_grant`, or expired without refresh token).
    NeedsSignIn,
    /// Never signed in, or signed out.
    SignedOut,
    /// The keychain could not be read.
    Unknown,
}

impl TokenStatus {
    /// Words for people.
    pub fn label(self) -> &'static str {
        match self {
            TokenStatus::SignedIn => "signed in",
            TokenStatus::ExpiresSoon => "expires soon",
            TokenStatus::ExpiredRefreshable => "expired, refreshable",
            TokenStatus::NeedsSignIn => "needs sign-in",
            TokenStatus::SignedOut => "signed out",
            TokenStatus::Unknown => "unknown",
        }
    }
}

/// An account with its token state: what `list`/`status` and the UI show. Never a token.
#[derive(Debug, Clone, Serialize)]
pub struct AccountSummary {
    /// Metadata.
    #[serde(flatten)]
    pub account: Account,
    /// Token state.
    pub status: TokenStatus,
    /// Access token expiry.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Seconds until expiry (negative: expired).
    pub expires_in: Option<i64>,
    /// A refresh token is stored.
    pub has_refresh_token: bool,
    /// Scopes of the current token.
    pub token_scope: Option<String>,
    /// Problems a person should know about.
    pub problems: Vec<String>,
}

/// An access token handed to a caller.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The token.
    pub token: Secret,
    /// `Bearer` or `DPoP`.
    pub token_type: String,
    /// Expiry.
    pub expires_at: Option<OffsetDateTime>,
    /// Scope.
    pub scope: Option<String>,
    /// Set when the provider could not be reached and a still-valid token is served anyway.
    pub degraded: Option<String>,
    /// True if this call refreshed the token.
    pub refreshed: bool,
}

/// Options of [`LoginManager::access_token`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenOptions {
    /// Override of the minimum remaining validity.
    pub min_ttl: Option<Duration>,
    /// Refresh even if the token is fresh.
    pub force: bool,
}

/// A started sign-in.
#[derive(Debug)]
pub struct SignInStart {
    /// Open this in the browser.
    pub url: Url,
    /// The redirect URI in the request (show it: it must be registered at the provider).
    pub redirect_uri: String,
    /// The loopback listener, for loopback sign-ins.
    pub listener: Option<LoopbackListener>,
    /// The state (to match the callback).
    pub state: Secret,
    /// Digest of the state (identifies the pending flow).
    pub digest: String,
    /// When the sign-in expires.
    pub expires_at: OffsetDateTime,
}

/// A finished sign-in.
#[derive(Debug, Clone, Serialize)]
pub struct SignedIn {
    /// Account name.
    pub account: String,
    /// Who.
    pub identity: Option<Identity>,
    /// Access token expiry.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Granted scope.
    pub scope: Option<String>,
    /// A refresh token was issued.
    pub has_refresh_token: bool,
}

/// Options of a sign-in.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignInOptions {
    /// Allow the sign-in to replace the account's identity.
    pub replace_identity: bool,
    /// Use this redirect mode instead of the account's.
    pub redirect: Option<RedirectMode>,
}

/// What sign-out did.
#[derive(Debug, Clone, Serialize, Default)]
pub struct LogoutReport {
    /// Account name.
    pub account: String,
    /// There were tokens to remove.
    pub had_tokens: bool,
    /// The provider has an RFC 7009 endpoint.
    pub revocation_supported: bool,
    /// Token kinds revoked at the provider.
    pub revoked: Vec<String>,
    /// Revocation failures (tokens were deleted locally anyway).
    pub revocation_errors: Vec<String>,
}

/// See the module docs.
pub struct LoginManager {
    opts: ManagerOptions,
    registry: Registry,
    locks: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for LoginManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginManager")
            .field("config_dir", &self.opts.paths.dir())
            .finish_non_exhaustive()
    }
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

impl LoginManager {
    /// A manager with explicit options.
    pub fn new(opts: ManagerOptions) -> Self {
        let registry = Registry::new(opts.paths.clone());
        LoginManager {
            opts,
            registry,
            locks: Mutex::new(HashMap::new()),
        }
    }

    /// The config dir layout.
    pub fn paths(&self) -> &Paths {
        &self.opts.paths
    }

    fn now(&self) -> OffsetDateTime {
        self.opts.clock.now()
    }

    fn local_lock(&self, id: Uuid) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = match self.locks.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.entry(id).or_default().clone()
    }

    /// Takes the account's in-process mutex, then its cross-process lock file.
    async fn lock_account(
        &self,
        id: Uuid,
    ) -> Result<(tokio::sync::OwnedMutexGuard<()>, lock::FileLock)> {
        let local = self.local_lock(id).lock_owned().await;
        let file =
            lock::acquire(&self.opts.paths.account_lock(&id), self.opts.lock_timeout).await?;
        Ok((local, file))
    }

    /// All accounts (metadata only; no keychain access).
    pub fn accounts(&self) -> Result<Vec<Account>> {
        Ok(self.registry.load()?.accounts)
    }

    /// One account by name.
    pub fn account(&self, name: &str) -> Result<Account> {
        self.registry
            .load()?
            .by_name(name)
            .cloned()
            .ok_or_else(|| Error::UnknownAccount(name.to_string()))
    }

    async fn resolve_provider(&self, spec: &ProviderSpec) -> Result<ProviderConfig> {
        spec.validate()?;
        match spec.plan()? {
            Resolution::Ready(cfg) => Ok(cfg),
            Resolution::Discover { candidates } => {
                let mut last_err = None;
                for url in &candidates {
                    match self.opts.http.get(url, None).await {
                        Ok(resp) if resp.status == 200 => {
                            return spec.from_document(url, &resp.body);
                        }
                        Ok(resp) if resp.status >= 500 => {
                            last_err = Some(Error::Unreachable {
                                url: resp.url.clone(),
                                detail: format!("HTTP {}", resp.status),
                            });
                        }
                        Ok(resp) => {
                            last_err = Some(Error::BadResponse {
                                url: resp.url.clone(),
                                status: resp.status,
                                detail: format!(
                                    "no discovery document here ({})",
                                    resp.error_page_summary()
                                ),
                            });
                        }
                        Err(e) => last_err = Some(e),
                    }
                }
                Err(last_err.unwrap_or_else(|| {
                    Error::InvalidInput("no discovery document location for this provider".into())
                }))
            }
        }
    }

    /// Adds an account (runs discovery; stores the client secret in the keychain).
    pub async fn add(&self, new: NewAccount) -> Result<Account> {
        validate_name(&new.name)?;
        if new.client_id.trim().is_empty() {
            return Err(Error::InvalidInput(
                "the client id is empty (--client-id)".into(),
            ));
        }
        if self.registry.load()?.by_name(&new.name).is_some() {
            return Err(Error::AccountExists(new.name));
        }
        let provider = self.resolve_provider(&new.provider).await?;
        let quirks = provider.quirks();
        if new.flow == GrantFlow::ClientCredentials && new.client_secret.is_none() {
            return Err(Error::InvalidInput(
                "the client credentials grant needs the client secret: pass it on standard input with --client-secret-stdin".into(),
            ));
        }
        if new.flow == GrantFlow::Device && provider.endpoints.device_authorization.is_none() {
            return Err(Error::InvalidInput(format!(
                "{} at this address announces no device authorization endpoint (RFC 8628), so --flow device cannot work; use the browser sign-in",
                new.provider.preset.display_name()
            )));
        }
        if new.client_auth.is_some() && new.client_secret.is_none() {
            return Err(Error::InvalidInput(
                "--auth applies to clients with a secret: add --client-secret-stdin".into(),
            ));
        }
        if quirks.client_secret_required
            && new.client_secret.is_none()
            && new.flow != GrantFlow::ClientCredentials
        {
            return Err(Error::InvalidInput(format!(
                "{} clients need their client secret: pass it on standard input with --client-secret-stdin",
                new.provider.preset.display_name()
            )));
        }
        if quirks.loopback_only && new.redirect == RedirectMode::Scheme {
            return Err(Error::InvalidInput(format!(
                "{} desktop clients accept only loopback redirects; use --redirect loopback",
                new.provider.preset.display_name()
            )));
        }
        if quirks.exact_redirect_port
            && new.redirect == RedirectMode::Loopback
            && new.port.is_none()
        {
            return Err(Error::InvalidInput(format!(
                "{} matches redirect URIs exactly, port included: pass a fixed --port and register http://127.0.0.1:PORT/callback",
                new.provider.preset.display_name()
            )));
        }
        let scopes = if new.scopes.is_empty() && new.flow == GrantFlow::ClientCredentials {
            // No user: the OIDC defaults (openid, profile, …) mean nothing here.
            Vec::new()
        } else if new.scopes.is_empty() {
            let mut s: Vec<String> = quirks
                .default_scopes
                .iter()
                .map(|s| s.to_string())
                .collect();
            if let Some(off) = quirks.offline_scope
                && !s.iter().any(|x| x == off)
            {
                s.push(off.to_string());
            }
            s
        } else {
            new.scopes.clone()
        };
        let account = Account {
            id: Uuid::new_v4(),
            name: new.name.clone(),
            label: new.label.clone(),
            client_id: new.client_id.trim().to_string(),
            scopes,
            redirect: new.redirect,
            port: new.port,
            keep_signed_in: new.keep_signed_in,
            has_client_secret: new.client_secret.is_some(),
            flow: new.flow,
            client_auth: new.client_auth,
            dpop: new.dpop,
            identity: None,
            granted_scopes: Vec::new(),
            needs_sign_in: None,
            created_at: self.now(),
            signed_in_at: None,
            last_refresh_at: None,
            provider,
        };
        if let Some(secret) = &new.client_secret {
            self.opts
                .keychain
                .set(&account.client_secret_key(), secret)
                .await?;
        }
        if account.dpop {
            let key = DpopKey::generate()?;
            self.opts
                .keychain
                .set(&account.dpop_key_key(), &key.to_secret()?)
                .await?;
        }
        for w in account.warnings() {
            tracing::warn!(account = %account.name, "{w}");
        }
        let added = account.clone();
        let result = self
            .registry
            .update(move |f| {
                if f.by_name(&account.name).is_some() {
                    return Err(Error::AccountExists(account.name.clone()));
                }
                f.accounts.push(account);
                Ok(())
            })
            .await;
        if let Err(e) = result {
            if added.has_client_secret {
                let _ = self.opts.keychain.delete(&added.client_secret_key()).await;
            }
            if added.dpop {
                let _ = self.opts.keychain.delete(&added.dpop_key_key()).await;
            }
            return Err(e);
        }
        tracing::info!(account = %added.name, id = %added.id, "account added");
        Ok(added)
    }

    /// Changes an account. Changes that invalidate its tokens (client id) sign it out.
    pub async fn edit(&self, name: &str, edit: AccountEdit) -> Result<EditOutcome> {
        let account = self.account(name)?;
        let mut notes = Vec::new();
        let mut signed_out = false;
        if let Some(Some(mode)) = edit.redirect.map(Some)
            && mode == RedirectMode::Scheme
            && account.provider.quirks().loopback_only
        {
            return Err(Error::InvalidInput(
                "this provider accepts only loopback redirects".into(),
            ));
        }
        let will_have_secret = match &edit.client_secret {
            Some(s) => s.is_some(),
            None => account.has_client_secret,
        };
        if edit.flow == Some(GrantFlow::ClientCredentials) && !will_have_secret {
            return Err(Error::InvalidInput(
                "client credentials need the client secret: pass it with --client-secret-stdin"
                    .into(),
            ));
        }
        let mut sign_out_because = None;
        if let Some(cid) = &edit.client_id {
            if cid.trim().is_empty() {
                return Err(Error::InvalidInput("the client id is empty".into()));
            }
            if cid.trim() != account.client_id {
                sign_out_because = Some("the tokens belonged to the old client");
            }
        }
        if let Some(flow) = edit.flow
            && (flow == GrantFlow::ClientCredentials)
                != (account.flow == GrantFlow::ClientCredentials)
        {
            sign_out_because =
                Some("client-credentials tokens and user tokens are not interchangeable");
        }
        if let Some(dpop) = edit.dpop
            && dpop != account.dpop
        {
            sign_out_because = Some("DPoP-bound and bearer tokens are not interchangeable");
        }
        if let Some(reason) = sign_out_because {
            let (_l, _f) = self.lock_account(account.id).await?;
            self.delete_tokens(&account).await?;
            signed_out = true;
            notes.push(format!(
                "{reason}, so the tokens were removed; run `latchkey login {name}`"
            ));
        }
        match &edit.client_secret {
            Some(Some(secret)) => {
                self.opts
                    .keychain
                    .set(&account.client_secret_key(), secret)
                    .await?
            }
            Some(None) => {
                self.opts
                    .keychain
                    .delete(&account.client_secret_key())
                    .await?
            }
            None => {}
        }
        if let Some(scopes) = &edit.scopes
            && scopes != &account.scopes
        {
            notes.push(format!(
                "the new scopes take effect at the next sign-in (`latchkey login {name}`)"
            ));
        }
        let id = account.id;
        let updated = self
            .registry
            .update(move |f| {
                let a = f
                    .by_id_mut(&id)
                    .ok_or_else(|| Error::UnknownAccount(account.name.clone()))?;
                if let Some(l) = edit.label {
                    a.label = l;
                }
                if let Some(c) = edit.client_id {
                    a.client_id = c.trim().to_string();
                }
                if let Some(s) = &edit.client_secret {
                    a.has_client_secret = s.is_some();
                }
                if let Some(s) = edit.scopes {
                    a.scopes = s;
                }
                if let Some(r) = edit.redirect {
                    a.redirect = r;
                }
                if let Some(p) = edit.port {
                    a.port = p;
                }
                if let Some(k) = edit.keep_signed_in {
                    a.keep_signed_in = k;
                }
                if let Some(flow) = edit.flow {
                    a.flow = flow;
                }
                if let Some(m) = edit.client_auth {
                    a.client_auth = m;
                }
                if let Some(d) = edit.dpop {
                    a.dpop = d;
                }
                if signed_out {
                    a.signed_in_at = None;
                    a.granted_scopes.clear();
                }
                Ok(a.clone())
            })
            .await?;
        Ok(EditOutcome {
            account: updated,
            signed_out,
            notes,
        })
    }

    async fn read_tokens(&self, account: &Account) -> Result<Option<TokenSet>> {
        match self.opts.keychain.get(&account.tokens_key()).await? {
            Some(s) => TokenSet::from_secret(&s).map(Some),
            None => Ok(None),
        }
    }

    async fn write_tokens(&self, account: &Account, set: &TokenSet) -> Result<()> {
        let secret = set.to_secret()?;
        let mut last = None;
        for attempt in 0..3u32 {
            match self.opts.keychain.set(&account.tokens_key(), &secret).await {
                Ok(()) => {
                    crate::watch::note_tokens_changed(&self.opts.paths);
                    return Ok(());
                }
                Err(e) => {
                    tracing::error!(account = %account.name, attempt, error = %e, "could not store new tokens");
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
            }
        }
        let e = last.unwrap_or_else(|| Error::Other("could not store tokens".into()));
        Err(Error::Other(format!(
            "new tokens for `{}` could not be saved to the keychain ({e}); the previous refresh token may no longer be valid at the provider, so you may need to sign in again",
            account.name
        )))
    }

    async fn delete_tokens(&self, account: &Account) -> Result<()> {
        self.opts.keychain.delete(&account.tokens_key()).await?;
        crate::watch::note_tokens_changed(&self.opts.paths);
        Ok(())
    }

    async fn client_auth(&self, account: &Account) -> Result<ClientAuth> {
        if !account.has_client_secret {
            return Ok(ClientAuth::None {
                client_id: account.client_id.clone(),
            });
        }
        let secret = self
            .opts
            .keychain
            .get(&account.client_secret_key())
            .await?
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "the client secret of `{}` is missing from the keychain; set it again with `latchkey edit {} --client-secret-stdin`",
                    account.name, account.name
                ))
            })?;
        let client_id = account.client_id.clone();
        let post = match account.client_auth {
            Some(ClientAuthMethod::Post) => true,
            Some(ClientAuthMethod::Basic) => false,
            None => account.provider.quirks().client_secret_post,
        };
        Ok(if post {
            ClientAuth::Post { client_id, secret }
        } else {
            ClientAuth::Basic { client_id, secret }
        })
    }

    /// The account's DPoP key (`None` unless the account uses DPoP). Created and stored on
    /// first use if `latchkey add --dpop` did not create it.
    async fn dpop_key(&self, account: &Account) -> Result<Option<DpopKey>> {
        if !account.dpop {
            return Ok(None);
        }
        if let Some(stored) = self.opts.keychain.get(&account.dpop_key_key()).await? {
            return DpopKey::from_secret(&stored).map(Some);
        }
        let key = DpopKey::generate()?;
        self.opts
            .keychain
            .set(&account.dpop_key_key(), &key.to_secret()?)
            .await?;
        tracing::info!(account = %account.name, jkt = %key.thumbprint(), "DPoP key created");
        Ok(Some(key))
    }

    async fn client_secret(&self, account: &Account) -> Result<Option<Secret>> {
        if account.has_client_secret {
            self.opts.keychain.get(&account.client_secret_key()).await
        } else {
            Ok(None)
        }
    }

    fn status_of(&self, account: &Account, tokens: Option<&TokenSet>) -> TokenStatus {
        let now = self.now();
        match tokens {
            None if account.needs_sign_in.is_some() => TokenStatus::NeedsSignIn,
            None => TokenStatus::SignedOut,
            Some(t) => {
                let min_ttl = time::Duration::try_from(self.opts.min_ttl).unwrap_or_default();
                if t.is_fresh(now, min_ttl) {
                    TokenStatus::SignedIn
                } else if t.is_unexpired(now) {
                    TokenStatus::ExpiresSoon
                } else if t.refresh_token.is_some() {
                    TokenStatus::ExpiredRefreshable
                } else {
                    TokenStatus::NeedsSignIn
                }
            }
        }
    }

    async fn summarize(&self, mut account: Account) -> AccountSummary {
        let mut problems = Vec::new();
        let (tokens, status) = match self.read_tokens(&account).await {
            Ok(t) => {
                let s = self.status_of(&account, t.as_ref());
                (t, s)
            }
            Err(e) => {
                problems.push(e.to_string());
                (None, TokenStatus::Unknown)
            }
        };
        if let Some(reason) = &account.needs_sign_in {
            problems.push(format!("needs sign-in: {reason}"));
        }
        problems.extend(account.warnings());
        if let Some(t) = &tokens
            && t.refresh_token.is_none()
            && t.expires_at.is_some()
        {
            problems.push(
                "no refresh token: the account must sign in again when the access token expires"
                    .into(),
            );
        }
        // A token obtained after the last sign-in came from a refresh (or a renewed
        // client-credentials grant): that is the last refresh time.
        if let Some(t) = &tokens
            && account.signed_in_at.is_none_or(|s| t.obtained_at > s)
        {
            account.last_refresh_at = Some(t.obtained_at);
        }
        let now = self.now();
        AccountSummary {
            status,
            expires_at: tokens.as_ref().and_then(|t| t.expires_at),
            expires_in: tokens
                .as_ref()
                .and_then(|t| t.remaining(now))
                .map(|d| d.whole_seconds()),
            has_refresh_token: tokens.as_ref().is_some_and(|t| t.refresh_token.is_some()),
            token_scope: tokens.as_ref().and_then(|t| t.scope.clone()),
            problems,
            account,
        }
    }

    /// Every account with its token state (one keychain read per account).
    pub async fn summaries(&self) -> Result<Vec<AccountSummary>> {
        let mut out = Vec::new();
        for a in self.accounts()? {
            out.push(self.summarize(a).await);
        }
        Ok(out)
    }

    /// One account with its token state.
    pub async fn summary(&self, name: &str) -> Result<AccountSummary> {
        let a = self.account(name)?;
        Ok(self.summarize(a).await)
    }

    /// A valid access token: the stored one if it has more than `min_ttl` left, else refreshed
    /// (single-flight across tasks and processes). See the module docs.
    pub async fn access_token(&self, name: &str, opts: TokenOptions) -> Result<AccessToken> {
        let account = self.account(name)?;
        let min_ttl =
            time::Duration::try_from(opts.min_ttl.unwrap_or(self.opts.min_ttl)).unwrap_or_default();
        // Client credentials: "refresh" is a new grant, through the same single-flight path.
        let client_credentials = account.flow == GrantFlow::ClientCredentials;
        if !opts.force {
            match self.read_tokens(&account).await? {
                Some(t) if t.is_fresh(self.now(), min_ttl) => return Ok(hand_out(t, None, false)),
                Some(_) => {}
                None if client_credentials => {}
                None => return Err(self.needs_sign_in_error(&account)),
            }
        }
        let (_local, _file) = self.lock_account(account.id).await?;
        // Re-read: another task or process may have refreshed while we waited.
        let account = self.account(name)?;
        let current = self.read_tokens(&account).await?;
        if client_credentials {
            if !opts.force
                && let Some(t) = current.as_ref().filter(|t| t.is_fresh(self.now(), min_ttl))
            {
                tracing::debug!(account = %account.name, "renewed by someone else meanwhile");
                return Ok(hand_out(t.clone(), None, false));
            }
            return self
                .refresh_locked(&account, current, Renewal::ClientCredentials)
                .await;
        }
        let current = current.ok_or_else(|| self.needs_sign_in_error(&account))?;
        let now = self.now();
        if !opts.force && current.is_fresh(now, min_ttl) {
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
        )
        .await
    }

    fn needs_sign_in_error(&self, account: &Account) -> Error {
        Error::NeedsSignIn {
            account: account.name.clone(),
            reason: account
                .needs_sign_in
                .clone()
                .unwrap_or_else(|| "it is not signed in".into()),
        }
    }

    /// Refreshes; the caller holds the account locks.
    async fn refresh_locked(
        &self,
        account: &Account,
        current: Option<TokenSet>,
        renewal: Renewal,
    ) -> Result<AccessToken> {
        let auth = self.client_auth(account).await?;
        let dpop = self.dpop_key(account).await?;
        let token_url = account.provider.endpoints.token.clone();
        let quirks = account.provider.quirks();
        let ctx = ErrorContext {
            redirect_uri: None,
            errors_with_200: quirks.token_errors_with_http_200,
        };
        let scope = account.scopes.join(" ");
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
        let client_credentials = matches!(renewal, Renewal::ClientCredentials);
        let mut attempt = 0u32;
        let response = loop {
            attempt += 1;
            let result = request_token(
                &self.opts.http,
                &token_url,
                &auth,
                &params,
                &ctx,
                dpop.as_ref(),
            )
            .await;
            match result {
                Ok(r) => break r,
                Err(Error::ProviderError {
                    error, description, ..
                }) if client_credentials
                    && matches!(error.as_str(), "invalid_client" | "unauthorized_client") =>
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
                }) if error == "invalid_grant" && !client_credentials => {
                    tracing::warn!(account = %account.name, "refresh token rejected (invalid_grant); tokens cleared");
                    let reason = format!(
                        "the provider no longer accepts its refresh token (invalid_grant{})",
                        description.map(|d| format!(": {d}")).unwrap_or_default()
                    );
                    self.delete_tokens(account).await?;
                    let id = account.id;
                    let r = reason.clone();
                    self.registry
                        .update(move |f| {
                            if let Some(a) = f.by_id_mut(&id) {
                                a.needs_sign_in = Some(r);
                            }
                            Ok(())
                        })
                        .await?;
                    return Err(Error::NeedsSignIn {
                        account: account.name.clone(),
                        reason,
                    });
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
                    tokio::time::sleep(pause).await;
                }
                Err(e) => return Err(e),
            }
        };
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
        self.registry
            .update(move |f| {
                // The refresh time is the token set's `obtained_at` (in the keychain): the
                // file is rewritten only when something in it changes, not on every refresh.
                if let Some(a) = f.by_id_mut(&id) {
                    a.needs_sign_in = None;
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

    async fn validate_id_token(
        &self,
        account: &Account,
        id_token: &Secret,
        nonce: Option<&Secret>,
        expected_sub: Option<&str>,
    ) -> Result<Identity> {
        let endpoints = &account.provider.endpoints;
        let (Some(issuer), Some(jwks_uri)) = (&endpoints.issuer, &endpoints.jwks_uri) else {
            return Err(Error::InvalidIdToken(
                "the provider sent an id_token but its discovery document has no issuer/jwks_uri"
                    .into(),
            ));
        };
        let secret = self.client_secret(account).await?;
        let quirks = account.provider.quirks();
        let cache = self.opts.paths.jwks_cache(jwks_uri);
        let check = |jwks: &openidconnect::core::CoreJsonWebKeySet| {
            oidc::validate_id_token(
                id_token,
                &IdTokenCheck {
                    client_id: &account.client_id,
                    client_secret: secret.as_ref(),
                    issuer,
                    issuer_template: quirks.issuer_template,
                    jwks,
                    algs: &endpoints.id_token_signing_algs,
                    nonce,
                    expected_sub,
                    now: self.now(),
                },
            )
        };
        // Keys cached from an earlier sign-in save a request per refresh; on any failure the
        // keys are fetched again (the provider may have rotated them) and checked once more.
        if let Some(cached) = oidc::read_cached_jwks(&cache, self.now())
            && let Ok(identity) = check(&cached)
        {
            return Ok(identity);
        }
        let jwks = oidc::fetch_jwks(&self.opts.http, jwks_uri).await?;
        let identity = check(&jwks)?;
        oidc::write_cached_jwks(&cache, &jwks, self.now());
        Ok(identity)
    }

    /// Starts a sign-in: creates and stores the pending flow, binds the loopback listener if
    /// needed, and returns the URL to open.
    pub async fn start_sign_in(&self, name: &str, opts: SignInOptions) -> Result<SignInStart> {
        let account = self.account(name)?;
        let provider = &account.provider;
        let quirks = provider.quirks();
        let Some(auth_endpoint) = provider.endpoints.authorization.clone() else {
            return Err(Error::InvalidInput(format!(
                "the provider of `{name}` has no authorization endpoint"
            )));
        };
        if !quirks.pkce_supported {
            tracing::warn!(account = %name, "provider documents no PKCE support; sending S256 anyway");
        }
        self.sweep_expired_pending().await;
        let mode = opts.redirect.unwrap_or(account.redirect);
        let (listener, redirect_uri) = match mode {
            RedirectMode::Loopback => {
                let l = LoopbackListener::bind(account.port).await?;
                let uri = l.redirect_uri();
                (Some(l), uri)
            }
            RedirectMode::Scheme => {
                if quirks.loopback_only {
                    return Err(Error::InvalidInput(
                        "this provider accepts only loopback redirects".into(),
                    ));
                }
                (None, SCHEME_REDIRECT_URI.to_string())
            }
        };
        let now = self.now();
        let new = PendingFlow::start(
            account.id,
            redirect_uri.clone(),
            provider.is_oidc(),
            opts.replace_identity,
            now,
        )?;
        let digest = new.flow.digest();
        let extra: Vec<(&str, &str)> = quirks.extra_authorize_params.to_vec();
        let request = AuthRequest {
            endpoint: &auth_endpoint,
            client_id: &account.client_id,
            scopes: &account.scopes,
            flow: &new.flow,
            challenge: &new.challenge,
            extra: &extra,
        };
        let url = match &provider.endpoints.pushed_authorization_request {
            Some(par) => {
                self.push_authorization_request(&account, par, &request)
                    .await?
            }
            None if provider.endpoints.require_pushed_authorization_requests => {
                return Err(Error::InvalidInput(format!(
                    "the provider of `{name}` requires pushed authorization requests but announces no endpoint for them"
                )));
            }
            None => pkce::authorization_url(&request),
        };
        self.opts
            .keychain
            .set(&pending_key(&digest), &new.flow.to_secret()?)
            .await?;
        let index = PendingIndex {
            digest: digest.clone(),
            account_id: account.id,
            expires_at: new.flow.expires_at,
        };
        self.registry
            .update(move |f| {
                f.pending.push(index);
                Ok(())
            })
            .await?;
        tracing::info!(account = %name, redirect = %redirect_uri, "sign-in started");
        Ok(SignInStart {
            url,
            redirect_uri,
            listener,
            state: new.flow.state.clone(),
            digest,
            expires_at: new.flow.expires_at,
        })
    }

    /// Abandons a started sign-in (timeout, Ctrl-C): removes its pending flow.
    pub async fn cancel_sign_in(&self, digest: &str) -> Result<()> {
        self.opts.keychain.delete(&pending_key(digest)).await?;
        let d = digest.to_string();
        self.registry
            .update(move |f| {
                f.pending.retain(|p| p.digest != d);
                Ok(())
            })
            .await
    }

    async fn sweep_expired_pending(&self) {
        let now = self.now();
        let Ok(file) = self.registry.load() else {
            return;
        };
        let expired: Vec<String> = file
            .pending
            .iter()
            .filter(|p| p.expires_at < now || file.by_id(&p.account_id).is_none())
            .map(|p| p.digest.clone())
            .collect();
        for d in expired {
            if let Err(e) = self.cancel_sign_in(&d).await {
                tracing::debug!(error = %e, "could not clean up an expired sign-in");
            }
        }
    }

    /// Starts a loopback sign-in, calls `open` with the URL, waits for the callback (at most
    /// `timeout`) and completes it. The pending flow is removed if the wait fails.
    /// If `cancel` completes first (Ctrl-C, a Cancel button), the sign-in is abandoned and
    /// [`Error::Interrupted`] returned.
    pub async fn sign_in_loopback<F, C>(
        &self,
        name: &str,
        opts: SignInOptions,
        timeout: Duration,
        open: F,
        cancel: C,
    ) -> Result<SignedIn>
    where
        F: FnOnce(&SignInStart),
        C: std::future::Future<Output = ()>,
    {
        let mut start = self
            .start_sign_in(
                name,
                SignInOptions {
                    redirect: Some(RedirectMode::Loopback),
                    ..opts
                },
            )
            .await?;
        let Some(listener) = start.listener.take() else {
            return Err(Error::Other("no loopback listener".into()));
        };
        open(&start);
        let wait = listener.wait(&start.state, timeout, |url| async move {
            let done = self.complete_sign_in(&url).await?;
            let who = done
                .identity
                .as_ref()
                .map(|i| {
                    format!(
                        "Signed in to Latchkey account `{}` as {}.",
                        done.account,
                        i.display()
                    )
                })
                .unwrap_or_else(|| format!("Signed in to Latchkey account `{}`.", done.account));
            Ok((done, who))
        });
        let result = tokio::select! {
            r = wait => r,
            () = cancel => Err(Error::Interrupted),
        };
        if result.is_err() {
            // Consumed already if the callback arrived; otherwise clean up.
            let _ = self.cancel_sign_in(&start.digest).await;
        }
        result
    }

    /// Waits until another process (the desktop app) completes or abandons the sign-in with
    /// this digest, polling the metadata file.
    pub async fn wait_for_completion(
        &self,
        name: &str,
        digest: &str,
        started: OffsetDateTime,
        timeout: Duration,
    ) -> Result<SignedIn> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let file = self.registry.load()?;
            if !file.pending.iter().any(|p| p.digest == digest) {
                let id = file
                    .by_name(name)
                    .map(|a| a.id)
                    .ok_or_else(|| Error::UnknownAccount(name.to_string()))?;
                // The completing process consumed the flow under the account lock and holds
                // it until tokens and metadata are written: wait for it, then read the result.
                let (_local, _file) = self.lock_account(id).await?;
                let account = self.account(name)?;
                let tokens = self.read_tokens(&account).await?;
                return match (account.signed_in_at, tokens) {
                    (Some(at), Some(t)) if at >= started - time::Duration::seconds(1) => Ok(SignedIn {
                        account: account.name.clone(),
                        identity: account.identity.clone(),
                        expires_at: t.expires_at,
                        scope: t.scope.clone(),
                        has_refresh_token: t.refresh_token.is_some(),
                    }),
                    _ => Err(Error::Callback(
                        "the sign-in was completed elsewhere but did not succeed; see the Latchkey app or `latchkey status`".into(),
                    )),
                };
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = self.cancel_sign_in(digest).await;
                return Err(Error::Timeout(format!(
                    "after {} s waiting for the Latchkey app to receive the sign-in callback",
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Completes a sign-in from its callback URL (loopback request or deep link).
    pub async fn complete_sign_in(&self, callback_url: &str) -> Result<SignedIn> {
        let cb = Callback::parse(callback_url)?;
        let unknown = || {
            Error::Callback(
                "this callback does not belong to a sign-in in progress (unknown, already used or expired state); start the sign-in again".into(),
            )
        };
        let state = cb
            .state
            .clone()
            .ok_or_else(|| Error::Callback("the callback has no `state` parameter".into()))?;
        let digest = state_digest(state.expose());
        let key = pending_key(&digest);
        let stored = self.opts.keychain.get(&key).await?.ok_or_else(unknown)?;
        let flow = PendingFlow::from_secret(&stored)?;
        if !ct_eq(flow.state.expose(), state.expose()) {
            return Err(unknown());
        }
        let file = self.registry.load()?;
        let Some(account) = file.by_id(&flow.account_id).cloned() else {
            let _ = self.cancel_sign_in(&digest).await;
            return Err(Error::Callback(
                "the account of this sign-in was removed".into(),
            ));
        };
        let (_local, _file_lock) = self.lock_account(account.id).await?;
        // Consume once: only the holder of the lock who still finds the flow proceeds.
        if self.opts.keychain.get(&key).await?.is_none() {
            return Err(unknown());
        }
        self.cancel_sign_in(&digest).await?;
        let account = self.account(&account.name)?;
        let now = self.now();
        if now > flow.expires_at {
            return Err(Error::Callback(
                "this sign-in expired (10 minutes); start it again".into(),
            ));
        }
        if !pkce::same_redirect(&cb.base, &flow.redirect_uri) {
            return Err(Error::Callback(format!(
                "the callback arrived at {}, but the sign-in used {}",
                cb.base, flow.redirect_uri
            )));
        }
        let endpoints = &account.provider.endpoints;
        match (&cb.iss, &endpoints.issuer) {
            (Some(iss), Some(expected)) => {
                let ok = iss == expected.as_str()
                    || iss.trim_end_matches('/') == expected.as_str().trim_end_matches('/')
                    || account
                        .provider
                        .quirks()
                        .issuer_template
                        .is_some_and(|t| oidc::matches_template(iss, t));
                if !ok {
                    return Err(Error::Callback(format!(
                        "the response came from issuer `{iss}`, not `{expected}` (possible mix-up attack; RFC 9207)"
                    )));
                }
            }
            (None, Some(_)) if endpoints.authorization_response_iss_parameter_supported => {
                return Err(Error::Callback(
                    "the provider announces RFC 9207 but the response has no `iss`".into(),
                ));
            }
            _ => {}
        }
        if let Some(error) = &cb.error {
            return Err(crate::token::provider_error(
                crate::token::OAuthErrorBody {
                    error: error.clone(),
                    error_description: cb.error_description.clone(),
                    error_uri: None,
                },
                &ErrorContext {
                    redirect_uri: Some(&flow.redirect_uri),
                    errors_with_200: false,
                },
            ));
        }
        let code = cb
            .code
            .clone()
            .ok_or_else(|| Error::Callback("the callback has neither `code` nor `error`".into()))?;
        let auth = self.client_auth(&account).await?;
        let dpop = self.dpop_key(&account).await?;
        let quirks = account.provider.quirks();
        let response = request_token(
            &self.opts.http,
            &endpoints.token,
            &auth,
            &[
                ("grant_type", "authorization_code"),
                ("code", code.expose()),
                ("redirect_uri", &flow.redirect_uri),
                ("code_verifier", flow.verifier.expose()),
            ],
            &ErrorContext {
                redirect_uri: Some(&flow.redirect_uri),
                errors_with_200: quirks.token_errors_with_http_200,
            },
            dpop.as_ref(),
        )
        .await?;
        self.store_sign_in(
            &account,
            response,
            flow.nonce.as_ref(),
            flow.replace_identity,
        )
        .await
    }

    /// The shared tail of every interactive sign-in (authorization code, device): tokens
    /// received → validate the id_token (with the sign-in's nonce, if any) → read userinfo →
    /// refuse a silent identity switch → write the tokens → write the metadata. The caller
    /// holds the account locks.
    async fn store_sign_in(
        &self,
        account: &Account,
        response: TokenResponse,
        nonce: Option<&Secret>,
        replace_identity: bool,
    ) -> Result<SignedIn> {
        let quirks = account.provider.quirks();
        let identity = self.identify(account, &response, nonce).await?;
        if let (Some(old), Some(new)) = (&account.identity, &identity)
            && old.sub != new.sub
            && !replace_identity
        {
            return Err(Error::IdentityMismatch {
                account: account.name.clone(),
                existing: old.display().to_string(),
                new: new.display().to_string(),
            });
        }
        let now = self.now();
        let set = TokenSet::from_response(response, now, None, quirks.scope_delimiter);
        self.write_tokens(account, &set).await?;
        let id = account.id;
        let granted = scope_list(set.scope.as_deref());
        let ident = identity.clone();
        self.registry
            .update(move |f| {
                if let Some(a) = f.by_id_mut(&id) {
                    a.signed_in_at = Some(now);
                    a.needs_sign_in = None;
                    a.granted_scopes = granted;
                    if ident.is_some() {
                        a.identity = ident;
                    }
                }
                Ok(())
            })
            .await?;
        tracing::info!(account = %account.name, sub = identity.as_ref().map(|i| i.sub.as_str()).unwrap_or("-"), "signed in");
        Ok(SignedIn {
            account: account.name.clone(),
            identity: identity.or(account.identity.clone()),
            expires_at: set.expires_at,
            scope: set.scope.clone(),
            has_refresh_token: set.refresh_token.is_some(),
        })
    }

    async fn identify(
        &self,
        account: &Account,
        response: &crate::token::TokenResponse,
        nonce: Option<&Secret>,
    ) -> Result<Option<Identity>> {
        let endpoints = &account.provider.endpoints;
        match account.provider.quirks().identity {
            IdentitySource::GithubUser => {
                let Some(url) = &endpoints.userinfo else {
                    return Ok(None);
                };
                match oidc::fetch_github_user(&self.opts.http, url, &response.access_token).await {
                    Ok(i) => Ok(Some(i)),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not read the GitHub user");
                        Ok(None)
                    }
                }
            }
            IdentitySource::IdToken => {
                let Some(id_token) = &response.id_token else {
                    if account.provider.is_oidc() && account.scopes.iter().any(|s| s == "openid") {
                        return Err(Error::InvalidIdToken(
                            "the provider returned no id_token although `openid` was requested"
                                .into(),
                        ));
                    }
                    return Ok(None);
                };
                let mut identity = self
                    .validate_id_token(account, id_token, nonce, None)
                    .await?;
                if let Some(url) = &endpoints.userinfo {
                    let key = if response.token_type.eq_ignore_ascii_case("dpop") {
                        self.dpop_key(account).await?
                    } else {
                        None
                    };
                    match oidc::fetch_userinfo(
                        &self.opts.http,
                        url,
                        Presented {
                            token: &response.access_token,
                            token_type: &response.token_type,
                            dpop: key.as_ref(),
                        },
                        &identity.sub,
                    )
                    .await
                    {
                        Ok(Some(info)) => {
                            identity.email = identity.email.or(info.email);
                            identity.name = identity.name.or(info.name);
                            identity.username = identity.username.or(info.username);
                        }
                        Ok(None) => {}
                        Err(e) => tracing::debug!(error = %e, "userinfo unavailable"),
                    }
                }
                Ok(Some(identity))
            }
        }
    }

    /// Signs out: revokes at the provider (RFC 7009) when it can, and deletes the tokens even
    /// if revocation fails.
    pub async fn logout(&self, name: &str) -> Result<LogoutReport> {
        let account = self.account(name)?;
        let (_local, _file) = self.lock_account(account.id).await?;
        let tokens = self.read_tokens(&account).await?;
        let quirks = account.provider.quirks();
        let endpoint = account
            .provider
            .endpoints
            .revocation
            .clone()
            .filter(|_| quirks.rfc7009_revocation);
        let mut report = LogoutReport {
            account: account.name.clone(),
            had_tokens: tokens.is_some(),
            revocation_supported: endpoint.is_some(),
            ..Default::default()
        };
        if let (Some(t), Some(url)) = (&tokens, &endpoint) {
            match self.client_auth(&account).await {
                Ok(auth) => {
                    let mut items: Vec<(&str, &Secret)> = Vec::new();
                    if let Some(rt) = &t.refresh_token {
                        items.push(("refresh_token", rt));
                    }
                    items.push(("access_token", &t.access_token));
                    for (hint, token) in items {
                        match self
                            .opts
                            .http
                            .post_form(
                                url,
                                &auth,
                                &[("token", token.expose()), ("token_type_hint", hint)],
                            )
                            .await
                        {
                            Ok(r) if r.status == 200 => report.revoked.push(hint.to_string()),
                            Ok(r) => report.revocation_errors.push(format!(
                                "{hint}: HTTP {} ({})",
                                r.status,
                                if r.looks_like_json() {
                                    serde_json::from_slice::<crate::token::OAuthErrorBody>(&r.body)
                                        .map(|b| b.error)
                                        .unwrap_or_else(|_| "unreadable error".into())
                                } else {
                                    r.error_page_summary()
                                }
                            )),
                            Err(e) => report.revocation_errors.push(format!("{hint}: {e}")),
                        }
                    }
                }
                Err(e) => report.revocation_errors.push(e.to_string()),
            }
        }
        self.delete_tokens(&account).await?;
        let id = account.id;
        self.registry
            .update(move |f| {
                if let Some(a) = f.by_id_mut(&id) {
                    a.signed_in_at = None;
                    a.needs_sign_in = None;
                    a.granted_scopes.clear();
                }
                Ok(())
            })
            .await?;
        tracing::info!(account = %account.name, revoked = report.revoked.len(), "signed out");
        Ok(report)
    }

    /// Signs out and forgets the account (client secret and metadata too).
    pub async fn remove(&self, name: &str) -> Result<LogoutReport> {
        let report = self.logout(name).await?;
        let account = self.account(name)?;
        self.opts
            .keychain
            .delete(&account.client_secret_key())
            .await?;
        self.opts.keychain.delete(&account.dpop_key_key()).await?;
        let id = account.id;
        self.registry
            .update(move |f| {
                f.accounts.retain(|a| a.id != id);
                f.pending.retain(|p| p.account_id != id);
                Ok(())
            })
            .await?;
        let _ = std::fs::remove_file(self.opts.paths.account_lock(&id));
        Ok(report)
    }
}

/// How [`LoginManager`] renews a token under the account locks.
enum Renewal {
    /// `grant_type=refresh_token`.
    RefreshToken(Secret),
    /// `grant_type=client_credentials` (a new grant replaces the old token).
    ClientCredentials,
}

/// A device sign-in in progress (RFC 8628): show [`Self::user_code`] and
/// [`Self::verification_uri`] (or [`Self::verification_uri_complete`]) to the user, then wait
/// with [`LoginManager::finish_device_sign_in`]. Serializes without the device code, so it can go
/// to a UI as is.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceSignIn {
    /// Account name.
    pub account: String,
    /// The code the user enters.
    pub user_code: String,
    /// Where the user enters it.
    pub verification_uri: Url,
    /// The verification URI with the code filled in (open it, or show it as a QR code).
    pub verification_uri_complete: Option<Url>,
    /// When the codes expire.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The polling interval at the start, in seconds.
    pub interval_secs: u64,
    #[serde(skip)]
    device_code: Secret,
    #[serde(skip)]
    account_id: Uuid,
    #[serde(skip)]
    interval: Option<Duration>,
    #[serde(skip)]
    replace_identity: bool,
}

/// The answer of an RFC 9126 pushed authorization request.
#[derive(Debug, serde::Deserialize)]
struct PushedRequest {
    request_uri: String,
}

/// An RFC 7662 introspection answer (the fields Latchkey shows; others are kept in `extra`).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Introspection {
    /// Whether the provider considers the token active.
    pub active: bool,
    /// Granted scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Expiry, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issued at, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// The client the token was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `Bearer` or `DPoP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Human-readable user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Every other member of the answer.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl LoginManager {
    /// Sends the authorization request parameters to the PAR endpoint (RFC 9126) and returns
    /// the browser URL, which then carries only `client_id` and `request_uri`.
    async fn push_authorization_request(
        &self,
        account: &Account,
        endpoint: &Url,
        request: &AuthRequest<'_>,
    ) -> Result<Url> {
        let auth = self.client_auth(account).await?;
        let dpop = self.dpop_key(account).await?;
        let params = pkce::authorization_params(request);
        // The client authentication adds `client_id` where it belongs.
        let form: Vec<(&str, &str)> = params
            .iter()
            .filter(|(k, _)| k != "client_id")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let resp = self
            .opts
            .http
            .post_form_dpop(endpoint, &auth, &form, dpop.as_ref())
            .await?;
        let pushed: PushedRequest = interpret_json(
            &resp,
            &ErrorContext {
                redirect_uri: Some(&request.flow.redirect_uri),
                errors_with_200: false,
            },
        )?;
        if pushed.request_uri.is_empty() {
            return Err(Error::BadResponse {
                url: resp.url,
                status: resp.status,
                detail: "the pushed authorization response has an empty `request_uri`".into(),
            });
        }
        tracing::debug!(account = %account.name, "authorization request pushed (PAR)");
        let mut url = request.endpoint.clone();
        url.query_pairs_mut()
            .append_pair("client_id", &account.client_id)
            .append_pair("request_uri", &pushed.request_uri);
        Ok(url)
    }

    /// Starts a device sign-in (RFC 8628) for any account whose provider has a device
    /// authorization endpoint: requests the codes and returns what to show the user. Nothing is
    /// stored until [`Self::finish_device_sign_in`] succeeds; dropping the value abandons it.
    pub async fn start_device_sign_in(
        &self,
        name: &str,
        opts: SignInOptions,
    ) -> Result<DeviceSignIn> {
        let account = self.account(name)?;
        if account.flow == GrantFlow::ClientCredentials {
            return Err(Error::InvalidInput(format!(
                "`{name}` uses the client credentials grant, which has no user sign-in; run `latchkey token {name}`"
            )));
        }
        let Some(endpoint) = account.provider.endpoints.device_authorization.clone() else {
            return Err(Error::InvalidInput(format!(
                "the provider of `{name}` has no device authorization endpoint (RFC 8628); sign in with the browser instead"
            )));
        };
        let auth = self.client_auth(&account).await?;
        let codes =
            device::request_codes(&self.opts.http, &endpoint, &auth, &account.scopes).await?;
        let now = self.now();
        let expires_at = now + time::Duration::try_from(codes.expires_in).unwrap_or_default();
        tracing::info!(account = %name, expires_in_s = codes.expires_in.as_secs(), "device sign-in started");
        Ok(DeviceSignIn {
            account: account.name.clone(),
            user_code: codes.user_code,
            verification_uri: codes.verification_uri,
            verification_uri_complete: codes.verification_uri_complete,
            expires_at,
            interval_secs: PollSchedule::new(codes.interval).interval().as_secs(),
            device_code: codes.device_code,
            account_id: account.id,
            interval: codes.interval,
            replace_identity: opts.replace_identity,
        })
    }

    /// Polls until the user approves or denies the device sign-in, or the codes expire, then
    /// stores the tokens and identity like any sign-in. If `cancel` completes first (Ctrl-C, a
    /// Cancel button), polling stops and [`Error::Interrupted`] is returned.
    pub async fn finish_device_sign_in<C>(
        &self,
        started: &DeviceSignIn,
        cancel: C,
    ) -> Result<SignedIn>
    where
        C: std::future::Future<Output = ()>,
    {
        let account = self
            .registry
            .load()?
            .by_id(&started.account_id)
            .cloned()
            .ok_or_else(|| Error::UnknownAccount(started.account.clone()))?;
        let auth = self.client_auth(&account).await?;
        let dpop = self.dpop_key(&account).await?;
        let quirks = account.provider.quirks();
        let ctx = ErrorContext {
            redirect_uri: None,
            errors_with_200: quirks.token_errors_with_http_200,
        };
        let params = [
            ("grant_type", DEVICE_CODE_GRANT),
            ("device_code", started.device_code.expose()),
        ];
        let left = started.expires_at - self.now();
        let expires =
            tokio::time::Instant::now() + Duration::try_from(left).unwrap_or(Duration::ZERO);
        let mut schedule = PollSchedule::new(started.interval);
        let (http, url, auth_ref, params_ref, ctx_ref, key) = (
            &self.opts.http,
            &account.provider.endpoints.token,
            &auth,
            &params[..],
            &ctx,
            dpop.as_ref(),
        );
        let poll = device::poll_until(&mut schedule, expires, move || {
            request_token(http, url, auth_ref, params_ref, ctx_ref, key)
        });
        let response = tokio::select! {
            r = poll => r?,
            () = cancel => return Err(Error::Interrupted),
        };
        let (_local, _file) = self.lock_account(account.id).await?;
        let account = self.account(&account.name)?;
        self.store_sign_in(&account, response, None, started.replace_identity)
            .await
    }

    /// [`Self::start_device_sign_in`], then `show` (print the codes, open the browser), then
    /// [`Self::finish_device_sign_in`].
    pub async fn sign_in_device<F, C>(
        &self,
        name: &str,
        opts: SignInOptions,
        show: F,
        cancel: C,
    ) -> Result<SignedIn>
    where
        F: FnOnce(&DeviceSignIn),
        C: std::future::Future<Output = ()>,
    {
        let started = self.start_device_sign_in(name, opts).await?;
        show(&started);
        self.finish_device_sign_in(&started, cancel).await
    }

    /// For a client-credentials account: obtains a new token now (what `latchkey login` does
    /// for such accounts; `latchkey token` does it by itself when needed).
    pub async fn sign_in_client_credentials(&self, name: &str) -> Result<SignedIn> {
        let account = self.account(name)?;
        if account.flow != GrantFlow::ClientCredentials {
            return Err(Error::InvalidInput(format!(
                "`{name}` does not use the client credentials grant"
            )));
        }
        let token = self
            .access_token(
                name,
                TokenOptions {
                    min_ttl: None,
                    force: true,
                },
            )
            .await?;
        if let Some(why) = token.degraded {
            return Err(Error::Unreachable {
                url: display_endpoint(&account.provider.endpoints.token),
                detail: why,
            });
        }
        Ok(SignedIn {
            account: account.name,
            identity: None,
            expires_at: token.expires_at,
            scope: token.scope,
            has_refresh_token: false,
        })
    }

    /// Makes an HTTP request with the account's access token (fresh, refreshed if needed):
    /// `Authorization: Bearer`, or `DPoP` with a proof for DPoP-bound tokens. On a 401 whose
    /// `WWW-Authenticate` says `invalid_token`, the token is refreshed once and the request
    /// retried. The response is returned whatever its status. The token never leaves the
    /// process except in this request's headers.
    pub async fn request(&self, name: &str, request: ResourceRequest) -> Result<Response> {
        if !endpoint_allowed(&request.url) {
            return Err(Error::InvalidInput(format!(
                "refusing to send a token to {}: use https (plain http only to 127.0.0.1/localhost)",
                crate::http::display_url(&request.url)
            )));
        }
        let account = self.account(name)?;
        let token = self.access_token(name, TokenOptions::default()).await?;
        let key = self.dpop_key(&account).await?;
        let resp = self
            .opts
            .http
            .resource_request(
                &request,
                Presented {
                    token: &token.token,
                    token_type: &token.token_type,
                    dpop: key.as_ref(),
                },
            )
            .await?;
        let invalid_token = resp.status == 401
            && (resp
                .headers
                .get_all(reqwest::header::WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.contains("invalid_token"))
                || (resp.looks_like_json()
                    && serde_json::from_slice::<crate::token::OAuthErrorBody>(&resp.body)
                        .is_ok_and(|b| b.error == "invalid_token")));
        if !invalid_token {
            return Ok(resp);
        }
        tracing::info!(account = %name, "the resource server rejected the token (invalid_token); refreshing once");
        let fresh = self
            .access_token(
                name,
                TokenOptions {
                    min_ttl: None,
                    force: true,
                },
            )
            .await?;
        self.opts
            .http
            .resource_request(
                &request,
                Presented {
                    token: &fresh.token,
                    token_type: &fresh.token_type,
                    dpop: key.as_ref(),
                },
            )
            .await
    }

    /// Asks the provider about the account's current access token (RFC 7662), authenticating
    /// as the account's client. The token is not refreshed first.
    pub async fn introspect(&self, name: &str) -> Result<Introspection> {
        let account = self.account(name)?;
        let Some(endpoint) = account.provider.endpoints.introspection.clone() else {
            return Err(Error::InvalidInput(format!(
                "the provider of `{name}` offers no token introspection (RFC 7662)"
            )));
        };
        let tokens = self
            .read_tokens(&account)
            .await?
            .ok_or_else(|| self.needs_sign_in_error(&account))?;
        let auth = self.client_auth(&account).await?;
        let resp = self
            .opts
            .http
            .post_form(
                &endpoint,
                &auth,
                &[
                    ("token", tokens.access_token.expose()),
                    ("token_type_hint", "access_token"),
                ],
            )
            .await?;
        interpret_json(&resp, &ErrorContext::default())
    }
}

fn display_endpoint(url: &Url) -> String {
    crate::http::display_url(url)
}

fn scope_list(scope: Option<&str>) -> Vec<String> {
    scope
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

fn hand_out(t: TokenSet, degraded: Option<String>, refreshed: bool) -> AccessToken {
    AccessToken {
        token: t.access_token,
        token_type: t.token_type,
        expires_at: t.expires_at,
        scope: t.scope,
        degraded,
        refreshed,
    }
}

/// True if the URL may be used as an endpoint: https, or http on a loopback host.
pub fn endpoint_allowed(url: &Url) -> bool {
    url.scheme() == "https" || (url.scheme() == "http" && is_loopback_host(url))
}
