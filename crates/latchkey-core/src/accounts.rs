//! The account registry: one human-readable TOML file of non-secret metadata.
//!
//! Writers take `accounts.lock`, re-read the file, change it, write a temporary file, `fsync`
//! it and rename it over the old one, so the app and the CLI can both write at once and a
//! reader never sees half a file. Nothing secret is ever stored here: tokens and client
//! secrets live in the keychain under the account's stable [`Account::id`].

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::accounts_index::{self, Lookup, Stamp};
use crate::config::Paths;
use crate::error::{Error, Result};
use crate::lock;
use crate::provider::ProviderConfig;
use crate::remedy::{Advice, Remedy};

/// How the authorization response comes back to Latchkey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RedirectMode {
    /// A listener on `127.0.0.1` (RFC 8252 §7.3).
    #[default]
    Loopback,
    /// The desktop app's private-use URI scheme (RFC 8252 §7.1).
    Scheme,
}

impl std::str::FromStr for RedirectMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "loopback" => Ok(RedirectMode::Loopback),
            "scheme" => Ok(RedirectMode::Scheme),
            other => Err(Error::InvalidInput(format!(
                "unknown redirect mode `{other}` (use `loopback` or `scheme`)"
            ))),
        }
    }
}

impl std::fmt::Display for RedirectMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RedirectMode::Loopback => "loopback",
            RedirectMode::Scheme => "scheme",
        })
    }
}

/// How an account obtains its tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum GrantFlow {
    /// Authorization code + PKCE in the system browser (RFC 6749 §4.1, RFC 7636).
    #[default]
    AuthorizationCode,
    /// Device authorization grant (RFC 8628): a code typed in on another device.
    Device,
    /// Client credentials (RFC 6749 §4.4): a confidential client acting for itself, no user.
    ClientCredentials,
}

impl GrantFlow {
    /// The kebab-case name (`--flow` value, stored form).
    pub fn as_str(self) -> &'static str {
        match self {
            GrantFlow::AuthorizationCode => "authorization-code",
            GrantFlow::Device => "device",
            GrantFlow::ClientCredentials => "client-credentials",
        }
    }
}

impl std::str::FromStr for GrantFlow {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "authorization-code" | "code" | "browser" => Ok(GrantFlow::AuthorizationCode),
            "device" | "device-code" => Ok(GrantFlow::Device),
            "client-credentials" => Ok(GrantFlow::ClientCredentials),
            other => Err(Error::InvalidInput(format!(
                "unknown flow `{other}` (use `authorization-code`, `device` or `client-credentials`)"
            ))),
        }
    }
}

impl std::fmt::Display for GrantFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a confidential client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientAuthMethod {
    /// `client_secret_basic`: HTTP Basic (RFC 6749 §2.3.1).
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form.
    Post,
}

impl std::str::FromStr for ClientAuthMethod {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "basic" | "client_secret_basic" => Ok(ClientAuthMethod::Basic),
            "post" | "client_secret_post" => Ok(ClientAuthMethod::Post),
            other => Err(Error::InvalidInput(format!(
                "unknown client authentication `{other}` (use `basic` or `post`)"
            ))),
        }
    }
}

impl std::fmt::Display for ClientAuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClientAuthMethod::Basic => "basic",
            ClientAuthMethod::Post => "post",
        })
    }
}

/// The identity an account is signed in as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Identity {
    /// The provider's stable subject identifier.
    pub sub: String,
    /// E-mail address, if the provider gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Display name, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Login / preferred user name, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

impl Identity {
    /// The identity with every field passed through [`crate::text::clean`] (the provider
    /// controls them; they end up on terminals and in the metadata file).
    pub fn sanitized(self) -> Identity {
        use crate::text::{MAX_IDENTITY, clean, clean_opt};
        Identity {
            sub: clean(&self.sub, MAX_IDENTITY),
            email: clean_opt(self.email, MAX_IDENTITY),
            name: clean_opt(self.name, MAX_IDENTITY),
            username: clean_opt(self.username, MAX_IDENTITY),
        }
    }

    /// The best short human description: email, else username, else name, else sub.
    pub fn display(&self) -> &str {
        self.email
            .as_deref()
            .or(self.username.as_deref())
            .or(self.name.as_deref())
            .unwrap_or(&self.sub)
    }
}

/// One account's metadata (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Stable internal id; keychain items are keyed by it.
    pub id: Uuid,
    /// User-facing unique name.
    pub name: String,
    /// Optional free-text label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// OAuth client id.
    pub client_id: String,
    /// Scopes to request.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// How the callback returns.
    #[serde(default)]
    pub redirect: RedirectMode,
    /// Fixed loopback port (for providers that match ports exactly), else ephemeral.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Refresh in the background (desktop app) before expiry.
    #[serde(default)]
    pub keep_signed_in: bool,
    /// When its hand-outs need the owner's approval ([`crate::approval`]).
    #[serde(default, skip_serializing_if = "ApprovalMode::is_off")]
    pub approval: ApprovalMode,
    /// A session grant ends after this many seconds unused (default 10 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_idle_secs: Option<u64>,
    /// A session grant ends this many seconds after it was given (default 12 hours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_max_secs: Option<u64>,
    /// A client secret is stored in the keychain for this account.
    #[serde(default)]
    pub has_client_secret: bool,
    /// How the account obtains tokens.
    #[serde(default)]
    pub flow: GrantFlow,
    /// How the client authenticates (`None`: the provider preset's default, else basic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_auth: Option<ClientAuthMethod>,
    /// Ask for DPoP-bound tokens (RFC 9449); the key is `<id>/dpop-key` in the keychain.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dpop: bool,
    /// Who the account is signed in as (kept after sign-out, to refuse a silent switch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    /// Scopes the provider granted at the last sign-in or refresh.
    #[serde(default)]
    pub granted_scopes: Vec<String>,
    /// The provider's fixed session length in seconds from sign-in, when known (a setting:
    /// some providers end every session after, say, 12 hours whatever the refreshes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_max_secs: Option<u64>,
    /// Warn this many seconds before the session ends (default
    /// [`crate::manager::DEFAULT_SESSION_WARNING`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_warning_secs: Option<u64>,
    /// Set when the account must be signed in again, with the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs_sign_in: Option<String>,
    /// A tool (git `erase`, Docker `erase`) reported the access token rejected at this time:
    /// a token obtained at or before it is not served again; the next request refreshes once.
    /// Not a secret, and never a sign-out.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub token_rejected_at: Option<OffsetDateTime>,
    /// When the account was added.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last successful sign-in.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub signed_in_at: Option<OffsetDateTime>,
    /// Last successful refresh.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_refresh_at: Option<OffsetDateTime>,
    /// Provider, endpoints (resolved at `add`) and preset.
    pub provider: ProviderConfig,
    /// The account's redirect URIs carry its name (`/callback/<name>`), so a callback meant for
    /// another account's provider is refused (mix-up defence, RFC 9700 §4.4). Accounts added
    /// before this existed keep the shared `/callback` until `latchkey edit NAME
    /// --per-account-redirect` (after registering the new URI at the provider).
    #[serde(default, skip_serializing_if = "is_false")]
    pub per_account_redirect: bool,
    /// Resources (RFC 8707) asked for at sign-in (`latchkey add/edit --resource`): servers
    /// such as panva's oidc-provider mint tokens on a refresh only for these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// The specs of the account's extra cached tokens (`latchkey token NAME --scope/--resource/
    /// --audience`), each kept in the keychain under [`Account::derived_key`]. Only the specs
    /// are here; tokens and expiries are in the keychain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived_tokens: Vec<crate::target::TokenSpec>,
    /// Counts the account's sign-ins: each new one (all but a same-identity `login
    /// --add-scope/--add-resource` or step-up) takes the next number, and a cached token for
    /// another API is served only while it carries the number of the sign-in that obtained it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sign_in_generation: u64,
    /// The resources the current sign-in asked for (`None`: signed in before Latchkey
    /// recorded them; [`Account::resources`] is taken instead). See
    /// [`Account::sign_in_resources`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_in_resources: Option<Vec<String>>,
    /// Learned: the provider answered `invalid_target` to a refresh for a resource the sign-in
    /// did not name, so such a request is not sent again (the quirk table's
    /// `new_resources_at_refresh` said it might work).
    #[serde(default, skip_serializing_if = "is_false")]
    pub refuses_new_resources: bool,
    /// The provider refused a request made with the refresh token (other than
    /// `invalid_grant`), and may have spent the refresh token with it (some rotate it before
    /// they check the request): what was refused and when. Cleared by the next refresh that
    /// works and by a sign-in; shown by `latchkey status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_at_risk: Option<String>,
    /// Send `prompt=consent` when a sign-in asks for offline access (OpenID Connect Core §11;
    /// `latchkey add|edit --offline-consent`); `None`: the provider's quirk
    /// ([`crate::provider::Quirks::offline_consent`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline_consent: Option<bool>,
}

impl Account {
    /// Whether a sign-in asks for offline access (a refresh token): the provider's offline
    /// scope is among the account's scopes, or (no offline scope: Google) the provider grants
    /// it by parameter and consent.
    pub fn asks_for_offline_access(&self) -> bool {
        let quirks = self.provider.quirks();
        match quirks.offline_scope {
            Some(scope) => self.scopes.iter().any(|s| s == scope),
            None => quirks.offline_consent,
        }
    }

    /// Whether a sign-in sends `prompt=consent` (OpenID Connect Core §11): it asks for offline
    /// access, and the account's setting (else the provider's quirk) says so.
    pub fn sends_offline_consent(&self) -> bool {
        self.flow != GrantFlow::ClientCredentials
            && self.asks_for_offline_access()
            && self
                .offline_consent
                .unwrap_or(self.provider.quirks().offline_consent)
    }

    /// The resources the current sign-in asked for.
    pub fn sign_in_resources(&self) -> &[String] {
        self.signed_in_resources
            .as_deref()
            .unwrap_or(&self.resources)
    }

    /// The keychain key of this account's token set.
    pub fn tokens_key(&self) -> String {
        format!("{}/tokens", self.id)
    }

    /// The keychain key of the account's cached token for `spec` (see [`crate::target`]).
    pub fn derived_key(&self, spec: &crate::target::TokenSpec) -> String {
        format!("{}/derived/{}", self.id, spec.digest())
    }

    /// The keychain key of this account's client secret.
    pub fn client_secret_key(&self) -> String {
        format!("{}/client-secret", self.id)
    }

    /// The keychain key of this account's DPoP key pair (a JWK with its private part).
    pub fn dpop_key_key(&self) -> String {
        format!("{}/dpop-key", self.id)
    }

    /// The path of the account's redirect URIs: `/callback/<name>`, or `/callback` for
    /// accounts added before per-account redirect URIs.
    pub fn callback_path(&self) -> String {
        callback_path(&self.name, self.per_account_redirect)
    }

    /// The redirect URI of the desktop app's scheme for this account.
    pub fn scheme_redirect_uri(&self) -> String {
        format!("{}:{}", crate::config::URI_SCHEME, self.callback_path())
    }

    /// The redirect URI a person registers at the provider for this account.
    pub fn redirect_uri_to_register(&self) -> String {
        redirect_uri_to_register(
            &self.name,
            self.per_account_redirect,
            self.redirect,
            self.port,
        )
    }

    /// Configuration problems a person should know about (shown by `add` and `status`), each
    /// with what to do about it.
    pub fn warnings(&self) -> Vec<Advice> {
        let mut out = Vec::new();
        if !self.per_account_redirect && self.flow == GrantFlow::AuthorizationCode {
            out.push(Advice {
                text: format!(
                    "this account uses the redirect URI shared by all accounts ({}), which does not protect against mix-up attacks by another provider you added; register {} at the provider, then give the account its own redirect URI",
                    redirect_uri_to_register(&self.name, false, self.redirect, self.port),
                    redirect_uri_to_register(&self.name, true, self.redirect, self.port),
                ),
                remedy: Some(Remedy::OwnRedirectUri {
                    account: self.name.clone(),
                }),
            });
        }
        let algs = &self.provider.endpoints.dpop_signing_algs;
        if self.dpop && algs.is_empty() {
            out.push(Advice {
                text: "DPoP is on, but the provider does not advertise `dpop_signing_alg_values_supported`: it may ignore the proofs and issue plain Bearer tokens".to_string(),
                remedy: None,
            });
        } else if self.dpop && !algs.iter().any(|a| a == crate::dpop::DPOP_ALG) {
            out.push(Advice {
                text: format!(
                    "DPoP is on, but the provider lists only {} for proofs, not ES256",
                    algs.join(", ")
                ),
                remedy: None,
            });
        }
        out
    }
}

impl accounts_index::Indexed for Account {
    fn index_name(&self) -> &str {
        &self.name
    }
}

/// The redirect path of account `name` (see [`Account::callback_path`]).
pub fn callback_path(name: &str, per_account: bool) -> String {
    if per_account {
        format!("/callback/{name}")
    } else {
        "/callback".to_string()
    }
}

/// The redirect URI to register for an account (also for one not added yet: the add dialog
/// shows it while the name is typed). An ephemeral loopback port shows as `<any port>`.
pub fn redirect_uri_to_register(
    name: &str,
    per_account: bool,
    mode: RedirectMode,
    port: Option<u16>,
) -> String {
    let path = callback_path(name, per_account);
    match (mode, port) {
        (RedirectMode::Scheme, _) => format!("{}:{path}", crate::config::URI_SCHEME),
        (RedirectMode::Loopback, Some(p)) => format!("http://127.0.0.1:{p}{path}"),
        (RedirectMode::Loopback, None) => format!("http://127.0.0.1:<any port>{path}"),
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A sign-in in progress, indexed here so that stale ones can be cleaned up. The secret half
/// (state, verifier, nonce) is in the keychain under `pending/<digest>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingIndex {
    /// SHA-256 of the `state`, hex.
    pub digest: String,
    /// The account being signed in.
    pub account_id: Uuid,
    /// When the flow stops being accepted.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// The whole metadata file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountsFile {
    /// Format version.
    pub version: u32,
    /// Accounts, in the order they were added.
    #[serde(default, rename = "account")]
    pub accounts: Vec<Account>,
    /// Sign-ins in progress.
    #[serde(default, rename = "pending", skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<PendingIndex>,
    /// Account selection rules for the integrations (see [`crate::rules`]).
    #[serde(default, rename = "rule", skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<crate::rules::Rule>,
}

impl Default for AccountsFile {
    fn default() -> Self {
        AccountsFile {
            version: 1,
            accounts: Vec::new(),
            pending: Vec::new(),
            rules: Vec::new(),
        }
    }
}

impl AccountsFile {
    /// Looks an account up by name.
    pub fn by_name(&self, name: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.name == name)
    }

    /// Looks an account up by name, mutably.
    pub fn by_name_mut(&mut self, name: &str) -> Option<&mut Account> {
        self.accounts.iter_mut().find(|a| a.name == name)
    }

    /// Looks an account up by id, mutably.
    pub fn by_id_mut(&mut self, id: &Uuid) -> Option<&mut Account> {
        self.accounts.iter_mut().find(|a| &a.id == id)
    }

    /// Looks an account up by id.
    pub fn by_id(&self, id: &Uuid) -> Option<&Account> {
        self.accounts.iter().find(|a| &a.id == id)
    }
}

/// Reads and writes the metadata file.
///
/// Reads are cheap when nothing changed: the last parse is kept with the file's
/// [`Stamp`](crate::accounts_index::Stamp) (device, inode, length, mtime, ctime of the open
/// file) and reused while the stamp is the same, and [`Registry::account`] reads one account's
/// bytes through the index (`accounts.index`) instead of parsing the whole file.
#[derive(Debug, Clone)]
pub struct Registry {
    paths: Paths,
    cache: Arc<Mutex<Option<Parsed>>>,
}

/// The last parse of the file, with the stamp of the file it came from.
type Parsed = (Stamp, Arc<AccountsFile>);

const LOCK_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER: &str = "# Latchkey accounts (no secrets here: tokens live in the OS keychain).\n";

impl Registry {
    /// A registry over a config dir.
    pub fn new(paths: Paths) -> Self {
        Registry {
            paths,
            cache: Arc::default(),
        }
    }

    /// The file layout.
    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    fn path(&self) -> PathBuf {
        self.paths.accounts_file()
    }

    fn cached(&self, stamp: Option<Stamp>) -> Option<Arc<AccountsFile>> {
        let stamp = stamp?;
        let guard = match self.cache.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        guard
            .as_ref()
            .filter(|(s, _)| *s == stamp)
            .map(|(_, f)| f.clone())
    }

    /// Reads the file (an absent file is an empty registry). Writers replace it atomically,
    /// so no lock is needed to read.
    pub fn load(&self) -> Result<AccountsFile> {
        Ok(self.load_shared(false)?.as_ref().clone())
    }

    /// The accounts from position `offset` (in the file's order), at most `limit` of them (all
    /// when `None`): like [`Self::load`], but copies only those accounts.
    pub fn accounts_range(&self, offset: usize, limit: Option<usize>) -> Result<Vec<Account>> {
        Ok(self
            .load_shared(false)?
            .accounts
            .iter()
            .skip(offset)
            .take(limit.unwrap_or(usize::MAX))
            .cloned()
            .collect())
    }

    /// [`Self::load`] without copying; `index` also writes `accounts.index` when it is stale.
    fn load_shared(&self, index: bool) -> Result<Arc<AccountsFile>> {
        let path = self.path();
        let mut f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Arc::new(AccountsFile::default()));
            }
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        let stamp = f.metadata().ok().as_ref().and_then(Stamp::of);
        if let Some(file) = self.cached(stamp) {
            return Ok(file);
        }
        let mut text = String::new();
        std::io::Read::read_to_string(&mut f, &mut text)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let file: AccountsFile = toml::from_str(&text).map_err(|e| Error::Config {
            path: path.display().to_string(),
            detail: format!("{e}; fix or move the file aside"),
        })?;
        if file.version != 1 {
            return Err(Error::Config {
                path: path.display().to_string(),
                detail: format!(
                    "format version {} is not supported by this Latchkey",
                    file.version
                ),
            });
        }
        let file = Arc::new(file);
        if let Some(stamp) = stamp {
            if index
                && !accounts_index::is_current(&self.paths.accounts_index(), stamp)
                && let Some(entries) = accounts_index::build(&text, &file.accounts)
            {
                accounts_index::write(&self.paths, stamp, &entries);
            }
            let mut guard = match self.cache.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            *guard = Some((stamp, file.clone()));
        }
        Ok(file)
    }

    /// The id of the first account, if any (without copying the file's accounts).
    pub fn first_account_id(&self) -> Option<Uuid> {
        self.load_shared(false)
            .ok()
            .and_then(|f| f.accounts.first().map(|a| a.id))
    }

    /// One account by name, without parsing the whole file when the index or the last parse
    /// is current (see the type's docs). Same answer as `load()?.by_name(name)`.
    pub fn account(&self, name: &str) -> Result<Option<Account>> {
        let path = self.path();
        let stamp = std::fs::metadata(&path).ok().as_ref().and_then(Stamp::of);
        if let Some(file) = self.cached(stamp) {
            return Ok(file.by_name(name).cloned());
        }
        match accounts_index::lookup(&self.paths, name) {
            Lookup::Found(a) => Ok(Some(*a)),
            Lookup::Absent => Ok(None),
            Lookup::Miss => Ok(self.load_shared(true)?.by_name(name).cloned()),
        }
    }

    /// Locked read-modify-write. `change` sees the current file; its changes are written
    /// only if it returns `Ok`.
    pub async fn update<T>(
        &self,
        change: impl FnOnce(&mut AccountsFile) -> Result<T>,
    ) -> Result<T> {
        let _guard = lock::acquire(&self.paths.accounts_lock(), LOCK_TIMEOUT).await?;
        let mut file = self.load()?;
        let before = file.clone();
        let out = change(&mut file)?;
        if file != before {
            self.write(&file)?;
        }
        Ok(out)
    }

    fn write(&self, file: &AccountsFile) -> Result<()> {
        let path = self.path();
        let dir = self.paths.dir();
        crate::private::create_dir(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let text = toml::to_string_pretty(file).map_err(|e| Error::Config {
            path: path.display().to_string(),
            detail: format!("cannot serialize: {e}"),
        })?;
        let whole = format!("{HEADER}{text}");
        let result = crate::private::write_atomic(&path, whole.as_bytes());
        if result.is_ok() {
            // Writers hold `accounts.lock`: nobody replaced the file since the rename.
            if let (Some(stamp), Some(entries)) = (
                std::fs::metadata(&path).ok().as_ref().and_then(Stamp::of),
                accounts_index::build(&whole, &file.accounts),
            ) {
                accounts_index::write(&self.paths, stamp, &entries);
            }
        }
        if let Err(e) = result {
            return Err(Error::io(format!("writing {}", path.display()), e));
        }
        Ok(())
    }
}

/// Checks an account name: 1–64 of `A–Z a–z 0–9 . _ -`, not starting with `-`.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "invalid account name `{name}`: use 1–64 letters, digits, `.`, `_` or `-`"
        )))
    }
}

/// When an account's hand-outs need the owner's approval ([`crate::approval`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalMode {
    /// Never (today's behaviour).
    #[default]
    Off,
    /// Once per requester (executable + terminal or session) until the grant is idle or old.
    Session,
    /// At every hand-out (unless a remembered decision covers the program).
    EveryUse,
}

impl ApprovalMode {
    /// The name on the command line and in files: `off`, `session`, `every-use`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalMode::Off => "off",
            ApprovalMode::Session => "session",
            ApprovalMode::EveryUse => "every-use",
        }
    }

    /// Parses [`Self::as_str`] (also `every_use`).
    pub fn parse(s: &str) -> crate::Result<Self> {
        match s {
            "off" => Ok(ApprovalMode::Off),
            "session" => Ok(ApprovalMode::Session),
            "every-use" | "every_use" => Ok(ApprovalMode::EveryUse),
            other => Err(crate::Error::InvalidInput(format!(
                "unknown approval mode `{}` (off, session or every-use)",
                crate::text::clean(other, 40)
            ))),
        }
    }

    /// Whether `off`.
    pub fn is_off(&self) -> bool {
        *self == ApprovalMode::Off
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("work").is_ok());
        assert!(validate_name("gh.enterprise_2-x").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("-x").is_err());
        assert!(validate_name("a/b").is_err());
        assert!(validate_name("a b").is_err());
    }

    #[tokio::test]
    async fn missing_file_is_empty_and_update_is_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::new(Paths::new(dir.path()));
        assert!(reg.load().unwrap().accounts.is_empty());
        // A failing change writes nothing.
        let err = reg
            .update(|f| -> Result<()> {
                f.version = 7;
                Err(Error::Other("no".into()))
            })
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "no");
        assert!(!dir.path().join("accounts.toml").exists());
    }

    fn account(name: &str, label: &str) -> Account {
        serde_json::from_value(serde_json::json!({
            "id": Uuid::new_v4(),
            "name": name,
            "label": label,
            "client_id": "cid",
            "scopes": ["openid", "profile"],
            "created_at": "2026-01-01T00:00:00Z",
            "provider": {
                "spec": {"preset": "oidc", "issuer": "https://id.example.com"},
                "endpoints": {"token": "https://id.example.com/token"}
            }
        }))
        .unwrap()
    }

    fn index_text(dir: &std::path::Path) -> Option<String> {
        std::fs::read_to_string(dir.join("accounts.index")).ok()
    }

    #[tokio::test]
    async fn lookup_by_name_reads_one_account_and_follows_rewrites_by_others() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::new(Paths::new(dir.path()));
        reg.update(|f| {
            for i in 0..50 {
                f.accounts.push(account(&format!("a{i}"), "old"));
            }
            f.rules
                .push(toml::from_str("host = \"example.com\"\naccount = \"a1\"\n").unwrap());
            Ok(())
        })
        .await
        .unwrap();
        // The writer indexed the file; every lookup agrees with a full parse.
        assert!(index_text(dir.path()).unwrap().lines().count() == 52);
        let full = reg.load().unwrap();
        for a in &full.accounts {
            // A fresh registry (another process): through the index, not the cache.
            let other = Registry::new(Paths::new(dir.path()));
            assert!(matches!(
                accounts_index::lookup::<Account>(other.paths(), &a.name),
                Lookup::Found(ref f) if **f == *a
            ));
            assert_eq!(other.account(&a.name).unwrap().as_ref(), Some(a));
        }
        assert_eq!(reg.account("nope").unwrap(), None);

        // Another process rewrites the file (same length, other label): the stale index and
        // the stale cache are not used.
        let path = dir.path().join("accounts.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let changed = text.replacen("label = \"old\"", "label = \"new\"", 1);
        assert_eq!(text.len(), changed.len());
        let tmp = dir.path().join("other.tmp");
        std::fs::write(&tmp, &changed).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        let first = full.accounts[0].name.clone();
        assert_eq!(
            reg.account(&first).unwrap().unwrap().label.as_deref(),
            Some("new")
        );
        let other = Registry::new(Paths::new(dir.path()));
        assert_eq!(
            other.account(&first).unwrap().unwrap().label.as_deref(),
            Some("new")
        );
        // … and the reader that parsed the whole file wrote a fresh index.
        assert!(matches!(
            accounts_index::lookup::<Account>(other.paths(), &first),
            Lookup::Found(ref f) if f.label.as_deref() == Some("new")
        ));

        // Edited in place (same inode): still seen.
        let edited = changed.replacen("label = \"new\"", "label = \"ed!\"", 1);
        std::fs::write(&path, &edited).unwrap();
        assert_eq!(
            Registry::new(Paths::new(dir.path()))
                .account(&first)
                .unwrap()
                .unwrap()
                .label
                .as_deref(),
            Some("ed!")
        );
    }

    #[test]
    fn a_hand_written_file_of_odd_layout_is_read_correctly_without_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let a = account("a", "x");
        let b = account("b", "y");
        let one = |acc: &Account| {
            toml::to_string_pretty(&AccountsFile {
                accounts: vec![acc.clone()],
                ..Default::default()
            })
            .unwrap()
        };
        // A multi-line label holding a line that looks like an account header: slices would
        // cut it there, so the file gets no index, and lookups parse it whole.
        let b_text = one(&b).replace(
            "label = \"y\"",
            "label = \"\"\"\nline\n[[account]]\nname = \"evil\"\n\"\"\"",
        );
        let b_text = b_text.trim_start_matches("version = 1\n");
        let text = format!("{}{b_text}", one(&a));
        let path = dir.path().join("accounts.toml");
        std::fs::write(&path, &text).unwrap();
        let reg = Registry::new(Paths::new(dir.path()));
        assert_eq!(reg.load().unwrap().accounts.len(), 2, "{text}");
        let label = "line\n[[account]]\nname = \"evil\"\n";
        assert_eq!(
            reg.account("b").unwrap().unwrap().label.as_deref(),
            Some(label)
        );
        let other = Registry::new(Paths::new(dir.path()));
        assert_eq!(other.account("evil").unwrap(), None);
        assert_eq!(other.account("a").unwrap(), Some(a));
        assert!(index_text(dir.path()).is_none(), "{text}");
    }

    #[test]
    fn corrupt_file_is_a_config_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("accounts.toml"), "this is [not toml").unwrap();
        let err = Registry::new(Paths::new(dir.path())).load().unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Config);
        assert!(err.to_string().contains("accounts.toml"));
    }

    #[test]
    fn a_hand_edited_token_spec_is_checked_as_the_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let rule = "version = 1\n[[rule]]\nhost = \"h.test\"\naccount = \"a\"\n";
        std::fs::write(
            dir.path().join("accounts.toml"),
            format!("{rule}audience = \"\\u0007x\"\n"),
        )
        .unwrap();
        let err = Registry::new(Paths::new(dir.path())).load().unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Config);
        let text = err.to_string();
        assert!(
            text.contains("accounts.toml") && text.contains("control characters"),
            "{text}"
        );
        std::fs::write(
            dir.path().join("accounts.toml"),
            format!("{rule}scopes = [\"b\", \"a\"]\n"),
        )
        .unwrap();
        let file = Registry::new(Paths::new(dir.path())).load().unwrap();
        assert_eq!(file.rules[0].spec.scopes(), ["a", "b"]);
    }
}
