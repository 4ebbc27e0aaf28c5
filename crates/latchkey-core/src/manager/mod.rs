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
//! retry with exponential backoff and jitter, then fail. One engine (`renewal.rs`) runs this for
//! the account's own token (`refresh.rs`) and for tokens for other APIs (`derived.rs`),
//! including a proactive request that outlives [`PROACTIVE_REFRESH_DEADLINE`] and finishes in
//! the background; the manager owns that background work, and every process exit calls
//! [`LoginManager::drain`] first.
//!
//! **Keep signed in** (`keep_signed_in.rs`): the policy that decides which marked accounts are
//! due, and one sweep ([`LoginManager::keep_signed_in`]) that the agent and the desktop app
//! run periodically.
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
//!
//! **Tokens for other APIs** ([`LoginManager::token_for`], `derived.rs`): narrower scopes,
//! resources and audiences from the account's one refresh token, cached per [`TokenSpec`],
//! under the same account locks; a rotated refresh token goes to the account's set first. A
//! cached token belongs to the sign-in that obtained it ([`Account::sign_in_generation`]). A
//! refresh token the provider may have spent (a refused request: [`Error::RefreshRefused`]) is
//! never reused blindly, and after `invalid_grant` on any path nobody sends it again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use url::Url;
use uuid::Uuid;

use crate::accounts::{
    Account, ClientAuthMethod, GrantFlow, Identity, PendingIndex, RedirectMode, Registry,
    validate_name,
};
use crate::clock::{Clock, SystemClock};
use crate::config::Paths;
use crate::dpop::DpopKey;
use crate::error::{Error, ErrorKind, Result};
use crate::flow::device::{self, DEVICE_CODE_GRANT, PollSchedule};
use crate::flow::loopback::LoopbackListener;
use crate::flow::pkce::{self, AuthRequest, Callback, PendingFlow, pending_key, state_digest};
use crate::http::{ClientAuth, HttpClient, Presented, ResourceRequest, Response};
use crate::lock;
use crate::oidc::{self, IdTokenCheck};
use crate::provider::{IdentitySource, ProviderConfig, ProviderSpec, Resolution};
use crate::remedy::Remedy;
use crate::secret::{Secret, ct_eq};
use crate::store::Keychain;
use crate::token::{ErrorContext, TokenResponse, TokenSet, interpret_json, request_token};

mod accounts;
mod approvals;
mod aws;
mod client_credentials;
mod derived;
#[cfg(test)]
mod derived_tests;
mod device_grant;
mod integrations;
mod keep_signed_in;
mod memory;
mod refresh;
mod renewal;
mod resource;
mod sign_in;
#[cfg(test)]
mod tests;

pub use crate::target::TokenSpec;
pub use approvals::{Approvals, Locked};
pub use derived::CachedToken;
pub use device_grant::DeviceSignIn;
pub(crate) use integrations::token_rejected;
pub use integrations::{AskedManager, RuleChange};
pub use keep_signed_in::{
    KEEP_SIGNED_IN_MARGIN, KEEP_SIGNED_IN_SWEEP, Kept, KeptAccount, MIN_KEEP_SIGNED_IN_MARGIN,
    Renew, due_for_refresh, margin_for,
};
pub use memory::KeychainState;
pub use renewal::{DRAIN_AT_EXIT, Drained, PROACTIVE_REFRESH_DEADLINE};
pub use resource::Introspection;
pub use sign_in::SignInMethod;

/// Default minimum remaining validity before a token is refreshed.
pub const DEFAULT_MIN_TTL: Duration = Duration::from_secs(60);

/// How transient renewal failures are retried when no valid token is left to serve.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all (≥ 1).
    pub attempts: u32,
    /// First pause; doubled each time, ±50 % jitter.
    pub base_delay: Duration,
}

impl RetryPolicy {
    /// The pauses between attempts: [`RetryPolicy::base_delay`] doubling, ±50 % jitter.
    pub fn backoff(&self) -> crate::backoff::Backoff {
        crate::backoff::Backoff::doubling(self.base_delay, Duration::MAX).jittered()
    }
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
    /// Where tokens, client secrets, DPoP keys and pending sign-ins are kept (deadline-bound).
    pub keychain: Keychain,
    /// HTTP client.
    pub http: HttpClient,
    /// "Now" for expiry checks and the waits of backoff and polling (tests: [`crate::clock::ManualClock`]).
    pub clock: Arc<dyn Clock>,
    /// Refresh when less than this is left.
    pub min_ttl: Duration,
    /// Longest wait for another process holding an account's lock.
    pub lock_timeout: Duration,
    /// Retry policy for transient failures.
    pub retry: RetryPolicy,
}

impl ManagerOptions {
    /// Defaults from the environment (`LATCHKEY_CONFIG_DIR`), the secret store chosen by
    /// [`crate::store::choice`] with the given deadline (a vault is unlocked by its cached key
    /// or `LATCHKEY_VAULT_PASSWORD_COMMAND`; nobody is asked), and the system clock.
    pub fn from_env(keychain_deadline: Duration) -> Result<Self> {
        Self::from_env_asking(
            keychain_deadline,
            Arc::new(crate::store::unlock::NobodyToAsk),
        )
    }

    /// [`Self::from_env`] where `person` is asked for the vault's passphrase when neither the
    /// key cache nor a password command gives it (the CLI's terminal prompt).
    pub fn from_env_asking(
        keychain_deadline: Duration,
        person: Arc<dyn crate::store::unlock::PassphraseSource>,
    ) -> Result<Self> {
        let paths = Paths::from_env()?;
        let unlock = crate::store::unlock::UnlockOptions::from_env(person);
        let selector = crate::store::choice::StoreSelector::new(&paths, unlock)?;
        Ok(ManagerOptions {
            paths,
            keychain: Keychain::selected(Arc::new(selector), keychain_deadline),
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
    /// Loopback (`http://127.0.0.1`) or the desktop app's URL scheme.
    pub redirect: RedirectMode,
    /// Fixed loopback port.
    pub port: Option<u16>,
    /// Keep signed in: renewed ahead of expiry by the agent or the desktop app
    /// ([`LoginManager::keep_signed_in`]).
    pub keep_signed_in: bool,
    /// When hand-outs need the owner's approval ([`crate::approval`]).
    pub approval: crate::approval::ApprovalMode,
    /// Session grants' idle time and maximum in seconds ([`crate::approval::parse_ttl`];
    /// `None`: 10 minutes and 12 hours).
    pub approval_ttl: Option<(u64, Option<u64>)>,
    /// Free-text label.
    pub label: Option<String>,
    /// How the account obtains tokens (default: authorization code + PKCE).
    pub flow: GrantFlow,
    /// Client authentication at the token endpoint (`None`: the preset's default, else basic).
    pub client_auth: Option<ClientAuthMethod>,
    /// Ask for DPoP-bound tokens (RFC 9449): a key pair is created and kept in the keychain.
    pub dpop: bool,
    /// Resources (RFC 8707) to ask for at sign-in (`--resource`).
    pub resources: Vec<String>,
    /// Send `prompt=consent` with offline access (`--offline-consent`; `None`: the provider's
    /// quirk). See [`Account::offline_consent`].
    pub offline_consent: Option<bool>,
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
    /// New approval mode (ends the account's session grants).
    pub approval: Option<crate::approval::ApprovalMode>,
    /// New session-grant idle time and maximum in seconds.
    pub approval_ttl: Option<(u64, Option<u64>)>,
    /// The provider's session maximum in seconds (`Some(None)`: unknown).
    pub session_max_secs: Option<Option<u64>>,
    /// Seconds of warning before the session ends (`Some(None)`: the default).
    pub session_warning_secs: Option<Option<u64>>,
    /// New grant flow (to or from client credentials signs the account out: the tokens
    /// belong to a user, or to the client itself).
    pub flow: Option<GrantFlow>,
    /// New client authentication method (`Some(None)`: the default, basic).
    pub client_auth: Option<Option<ClientAuthMethod>>,
    /// Ask for DPoP-bound tokens or not (a change signs the account out: bound tokens cannot
    /// be used as bearer tokens and the other way round).
    pub dpop: Option<bool>,
    /// Switch to (or back from) the account's own redirect URI, `…/callback/<name>` (see
    /// [`Account::per_account_redirect`]).
    pub per_account_redirect: Option<bool>,
    /// New resources asked for at sign-in (replace the old ones; take effect at the next
    /// sign-in).
    pub resources: Option<Vec<String>>,
    /// Send `prompt=consent` with offline access or not (takes effect at the next sign-in).
    pub offline_consent: Option<bool>,
}

/// What an edit did.
#[derive(Debug, Clone, Serialize)]
pub struct EditOutcome {
    /// The account after the edit.
    pub account: Account,
    /// True if the tokens were removed (the change invalidated them).
    pub signed_out: bool,
    /// Notes for people ("scopes take effect at the next sign-in"), each with what to do.
    pub notes: Vec<crate::remedy::Advice>,
}

/// Token state of an account, for `list`, `status` and the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
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
    /// Not read yet: the summary was made from the metadata alone
    /// ([`LoginManager::summaries_from_metadata`]), to show a list before the keychain answers.
    Checking,
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
            TokenStatus::Checking => "checking",
        }
    }
}

/// An account with its token state: what `list`/`status` and the UI show. Never a token.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct AccountSummary {
    /// The account's metadata (flattened into the JSON).
    #[serde(flatten)]
    pub account: Account,
    /// Whether it can hand out a token now, and if not why.
    pub status: TokenStatus,
    /// Access token expiry.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Seconds until expiry (negative: expired).
    pub expires_in: Option<i64>,
    /// A refresh token is stored.
    pub has_refresh_token: bool,
    /// The current access token's whole lifetime in seconds (expiry minus when it was obtained).
    pub token_lifetime: Option<i64>,
    /// Scopes of the current token.
    pub token_scope: Option<String>,
    /// Problems a person should know about.
    pub problems: Vec<String>,
    /// When the session ends and a sign-in is needed whatever the refreshes (see
    /// [`AccountSummary::session_warning`]).
    #[serde(with = "time::serde::rfc3339::option")]
    pub session_ends_at: Option<OffsetDateTime>,
    /// Seconds until then.
    pub session_ends_in: Option<i64>,
    /// The account's extra cached tokens (`latchkey token NAME --scope/--resource/--audience`):
    /// what each is for, what was granted, its expiry. Never a token.
    #[serde(default)]
    pub cached_tokens: Vec<CachedToken>,
    /// Whether the sign-in got the offline access it asked for; `None` when it asked for none
    /// or holds no tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline_access: Option<OfflineAccess>,
}

/// What a sign-in that asked for offline access ([`Account::asks_for_offline_access`]) got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "offline")]
pub enum OfflineAccess {
    /// A refresh token is stored.
    Granted,
    /// No refresh token: the account must sign in again when the access token expires.
    NotGranted {
        /// The sign-in sent `prompt=consent` (OpenID Connect Core §11). Without it, a provider
        /// that follows §11 drops offline access: `latchkey edit NAME --offline-consent true`.
        consent_sent: bool,
    },
}

impl OfflineAccess {
    /// What `account` got, given whether a refresh token is stored (`None` without tokens or
    /// when it asked for no offline access).
    pub fn of(account: &Account, has_refresh_token: Option<bool>) -> Option<OfflineAccess> {
        if !account.asks_for_offline_access() || account.flow == GrantFlow::ClientCredentials {
            return None;
        }
        has_refresh_token.map(|has| {
            if has {
                OfflineAccess::Granted
            } else {
                OfflineAccess::NotGranted {
                    consent_sent: account.sends_offline_consent(),
                }
            }
        })
    }
}

/// How long before the end of a session the app warns, unless the account says otherwise.
pub const DEFAULT_SESSION_WARNING: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// A session that ends soon (see [`AccountSummary::session_warning`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionWarning {
    /// When it ends; one warning per account and end time.
    pub ends_at: OffsetDateTime,
    /// Seconds left.
    pub seconds_left: i64,
}

impl AccountSummary {
    /// Whether to warn now that the session ends soon: the account has usable tokens, the
    /// provider or the account settings tell when the session ends, and less than the
    /// account's warning time (default [`DEFAULT_SESSION_WARNING`]) is left. The caller warns
    /// once per [`SessionWarning::ends_at`].
    pub fn session_warning(&self) -> Option<SessionWarning> {
        let usable = matches!(
            self.status,
            TokenStatus::SignedIn | TokenStatus::ExpiresSoon | TokenStatus::ExpiredRefreshable
        );
        let (ends_at, left) = (self.session_ends_at?, self.session_ends_in?);
        let warn = self
            .account
            .session_warning_secs
            .unwrap_or(DEFAULT_SESSION_WARNING.as_secs());
        (usable && left > 0 && u64::try_from(left).is_ok_and(|l| l <= warn)).then_some(
            SessionWarning {
                ends_at,
                seconds_left: left,
            },
        )
    }
}

pub use crate::token::AccessToken;

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
    /// The account signed in.
    pub account: String,
    /// The user it is signed in as (`None` for plain OAuth without a userinfo endpoint).
    pub identity: Option<Identity>,
    /// Access token expiry.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// The scopes granted, space-separated.
    pub scope: Option<String>,
    /// A refresh token was issued.
    pub has_refresh_token: bool,
    /// Whether the offline access the sign-in asked for was granted (`None`: not asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offline_access: Option<OfflineAccess>,
}

/// Options of a sign-in.
#[derive(Debug, Clone, Default)]
pub struct SignInOptions {
    /// Allow the sign-in to replace the account's identity.
    pub replace_identity: bool,
    /// Use this redirect mode instead of the account's.
    pub redirect: Option<RedirectMode>,
    /// Incremental authorization (`latchkey login --add-scope`): ask for the account's scopes
    /// and these; the identity must stay the same, and once the new tokens are stored the
    /// account's scopes are the union.
    pub add_scopes: Vec<String>,
    /// Resources (RFC 8707) to add the same way (`--add-resource`).
    pub add_resources: Vec<String>,
    /// Step-up (RFC 9470): `acr_values` for the authorization request (`--acr`).
    pub acr_values: Option<String>,
    /// Step-up (RFC 9470): `max_age` in seconds (`--max-age`).
    pub max_age: Option<u64>,
}

impl SignInOptions {
    /// True if the sign-in asks for more than the account's own settings (scopes, resources,
    /// step-up).
    pub fn asks_for_more(&self) -> bool {
        !self.add_scopes.is_empty()
            || !self.add_resources.is_empty()
            || self.acr_values.is_some()
            || self.max_age.is_some()
    }
}

/// What sign-out did.
#[derive(Debug, Clone, Serialize, Default)]
pub struct LogoutReport {
    /// The account signed out.
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
    locks: Arc<Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>>,
    memory: Option<Arc<memory::TokenMemory>>,
    ignored: tokio::sync::broadcast::Sender<crate::flow::loopback::IgnoredCallback>,
    /// Renewals finishing in the background ([`LoginManager::drain`] waits for them).
    background: Arc<renewal::BackgroundWork>,
    /// Approval prompts and session grants ([`crate::approval`]).
    gate: Arc<crate::approval::Gate>,
    /// Activity records of this process still to be written ([`crate::activity::Later`]).
    activity_in_flight: Arc<crate::activity::InFlight>,
}

impl std::fmt::Debug for LoginManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginManager")
            .field("config_dir", &self.opts.paths.dir())
            .finish_non_exhaustive()
    }
}

impl LoginManager {
    /// A manager with explicit options.
    pub fn new(opts: ManagerOptions) -> Self {
        let registry = Registry::new(opts.paths.clone());
        // Files an older version created with the umask's modes become private.
        crate::private::tighten(&opts.paths);
        LoginManager {
            opts,
            registry,
            locks: Arc::default(),
            memory: None,
            ignored: tokio::sync::broadcast::Sender::new(16),
            background: Arc::default(),
            gate: Arc::default(),
            activity_in_flight: Arc::default(),
        }
    }

    /// A second handle on the same keychain, files, account locks, token memory and background
    /// work, for a task that outlives its caller (a renewal finishing in the background).
    fn detached(&self) -> LoginManager {
        LoginManager {
            opts: self.opts.clone(),
            registry: self.registry.clone(),
            locks: self.locks.clone(),
            memory: self.memory.clone(),
            ignored: self.ignored.clone(),
            background: self.background.clone(),
            gate: self.gate.clone(),
            activity_in_flight: self.activity_in_flight.clone(),
        }
    }

    /// Callbacks that loopback sign-ins of this manager answered and ignored (another state,
    /// another account's path): the sign-in keeps waiting; a shell may tell the user.
    pub fn ignored_callbacks(
        &self,
    ) -> tokio::sync::broadcast::Receiver<crate::flow::loopback::IgnoredCallback> {
        self.ignored.subscribe()
    }

    /// The secret store (the Secret Service or the vault) under its deadline.
    pub fn keychain(&self) -> &Keychain {
        &self.opts.keychain
    }

    /// Which store holds the secrets and why, and what it holds by kind (the vault is unlocked
    /// for it if needed). Never a value.
    pub async fn store_report(&self) -> Result<crate::store::choice::StoreReport> {
        let Some(choice) = self.opts.keychain.choice().await else {
            return Err(Error::Other(
                "this Latchkey has a fixed secret store".into(),
            ));
        };
        let choice = choice?;
        let items = self
            .opts
            .keychain
            .keys_with_prefix("")
            .await?
            .map(|keys| crate::store::choice::ItemCounts::of(&keys));
        let key_cache = self
            .opts
            .keychain
            .selector()
            .map(|s| s.vault().key_cache())
            .unwrap_or_default();
        Ok(crate::store::choice::StoreReport {
            choice,
            items,
            key_cache,
        })
    }

    /// Unlocks the store now if it is the vault (asking for the passphrase if the key is
    /// neither in memory nor cached; creating the vault if there is none yet) and says which
    /// store is used.
    pub async fn unlock_store(&self) -> Result<crate::store::choice::StoreChoice> {
        let choice = match self.opts.keychain.choice().await {
            Some(c) => c?,
            None => {
                return Err(Error::Other(
                    "this Latchkey has a fixed secret store".into(),
                ));
            }
        };
        let create = choice.kind == crate::store::choice::StoreKind::Vault;
        self.opts.keychain.unlock(create).await?;
        Ok(choice)
    }

    /// Unlocks the vault with `passphrase` (the window's unlock dialog), then asks the store
    /// once so that what this manager last saw of it ([`Self::keychain_state`]) is current:
    /// a "locked" from before the unlock must not stay on screen. A wrong passphrase is an error
    /// and changes nothing.
    pub async fn unlock_vault_with(&self, passphrase: crate::Secret) -> Result<KeychainState> {
        let vault = self
            .opts
            .keychain
            .selector()
            .map(|s| s.vault().clone())
            .ok_or_else(|| Error::Other("the secrets are not in a vault here".into()))?;
        tokio::task::spawn_blocking(move || vault.unlock_with(&passphrase))
            .await
            .map_err(|e| Error::Other(format!("unlocking failed: {e}")))??;
        Ok(self.probe_keychain().await)
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

    /// The accounts from position `offset`, at most `limit` of them (all when `None`), in the
    /// file's order ([`Registry::accounts_range`]).
    pub fn accounts_range(&self, offset: usize, limit: Option<usize>) -> Result<Vec<Account>> {
        self.registry.accounts_range(offset, limit)
    }

    /// One account by name.
    pub fn account(&self, name: &str) -> Result<Account> {
        self.registry
            .account(name)?
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
                    "the client secret of `{}` is missing from the keychain; set it again",
                    account.name
                ))
                .with_remedy(Remedy::SetClientSecret {
                    account: account.name.clone(),
                })
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
}

/// A clean-up (rollback) step runs while another error is being returned: its own failure must
/// not replace that error, and must not vanish either. It is logged.
fn log_cleanup_failure<T>(account: &str, what: &str, result: Result<T>) {
    if let Err(e) = result {
        tracing::error!(account = %account, error = %e, "{what} failed; remove it by hand if it stays");
    }
}

fn display_endpoint(url: &Url) -> String {
    crate::http::display_url(url)
}

fn scope_list(scope: Option<&str>) -> Vec<String> {
    scope
        .map(|s| crate::scope::Scopes::parse(s).into_vec())
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

#[cfg(test)]
mod session_warning_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn summary(status: TokenStatus, ends_in: Option<i64>, warn: Option<u64>) -> AccountSummary {
        let mut account: Account = serde_json::from_value(serde_json::json!({
            "id": "6f1c8a52-9a42-4a55-8a9b-0d5f3c8e8b11",
            "name": "work",
            "client_id": "cid",
            "created_at": "2026-01-01T00:00:00Z",
            "provider": {
                "spec": {"preset": "oidc", "issuer": "https://id.example.com"},
                "endpoints": {"token": "https://id.example.com/token"}
            }
        }))
        .unwrap();
        account.session_warning_secs = warn;
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        AccountSummary {
            account,
            status,
            expires_at: None,
            expires_in: None,
            has_refresh_token: true,
            token_lifetime: None,
            token_scope: None,
            problems: vec![],
            session_ends_at: ends_in.map(|s| now + time::Duration::seconds(s)),
            session_ends_in: ends_in,
            cached_tokens: vec![],
            offline_access: None,
        }
    }

    #[test]
    fn warns_within_the_warning_time_of_a_known_end_only() {
        let w = summary(TokenStatus::SignedIn, Some(600), None)
            .session_warning()
            .unwrap();
        assert_eq!(w.seconds_left, 600);
        // Default warning time is 15 minutes.
        assert!(
            summary(TokenStatus::SignedIn, Some(16 * 60), None)
                .session_warning()
                .is_none()
        );
        // Configurable per account.
        assert!(
            summary(TokenStatus::SignedIn, Some(16 * 60), Some(3600))
                .session_warning()
                .is_some()
        );
        assert!(
            summary(TokenStatus::SignedIn, Some(600), Some(60))
                .session_warning()
                .is_none()
        );
        // Unknown end, already ended, or nothing usable to lose: no warning.
        assert!(
            summary(TokenStatus::SignedIn, None, None)
                .session_warning()
                .is_none()
        );
        assert!(
            summary(TokenStatus::SignedIn, Some(0), None)
                .session_warning()
                .is_none()
        );
        assert!(
            summary(TokenStatus::NeedsSignIn, Some(60), None)
                .session_warning()
                .is_none()
        );
        assert!(
            summary(TokenStatus::SignedOut, Some(60), None)
                .session_warning()
                .is_none()
        );
        assert!(
            summary(TokenStatus::ExpiredRefreshable, Some(60), None)
                .session_warning()
                .is_some()
        );
    }
}
