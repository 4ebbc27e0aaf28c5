//! Where Latchkey keeps things. The core owns these names so the desktop app, the CLI and
//! scripts always agree.
//!
//! - Non-secret files live in the config dir: `$LATCHKEY_CONFIG_DIR`, else the platform config
//!   dir (`~/.config/latchkey` on Linux). It holds `accounts.toml` (metadata, no secrets),
//!   `accounts.lock` and `locks/<account id>.lock` (cross-process locks), `latchkey.log`,
//!   `accounts.index` (a byte-range cache of `accounts.toml`) and `token-state/<account id>.json`
//!   and `token-state/<account id>.derived.json` (non-secret token expiry and status of the
//!   account's own tokens and of its tokens for other APIs).
//! - Secrets live in the OS keychain under service [`KEYCHAIN_SERVICE`], keyed by account id;
//!   where no Secret Service runs, in the encrypted vault `vault.json` (never in plain text; see
//!   [`crate::store::vault`]), written under `vault.lock`. `store.toml` pins which of the two
//!   is used ([`crate::store::choice`]).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Keychain service name of every Latchkey item.
pub const KEYCHAIN_SERVICE: &str = "latchkey";

/// Environment variable overriding the config dir.
pub use latchkey_wire::CONFIG_DIR_ENV;

/// The private-use URI scheme of the desktop app (RFC 8252 §7.1, reverse-domain style).
pub const URI_SCHEME: &str = "dev.latchkey.app";

/// The redirect URI used with [`URI_SCHEME`].
pub const SCHEME_REDIRECT_URI: &str = "dev.latchkey.app:/callback";

/// The file layout under one config dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    dir: PathBuf,
}

impl Paths {
    /// Paths under an explicit directory.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Paths { dir: dir.into() }
    }

    /// `$LATCHKEY_CONFIG_DIR`, else the platform config dir.
    pub fn from_env() -> Result<Self> {
        if let Some(dir) = std::env::var_os(CONFIG_DIR_ENV).filter(|d| !d.is_empty()) {
            return Ok(Paths::new(dir));
        }
        directories::ProjectDirs::from("dev", "latchkey", "latchkey")
            .map(|p| Paths::new(p.config_dir()))
            .ok_or_else(|| {
                Error::Other(format!(
                    "cannot find a home directory for the configuration; set {CONFIG_DIR_ENV}"
                ))
            })
    }

    /// The platform's config dir for Latchkey (`~/.config/latchkey`), whatever
    /// `$LATCHKEY_CONFIG_DIR` says: the one a client means when it names none.
    pub fn platform_dir() -> Option<PathBuf> {
        directories::ProjectDirs::from("dev", "latchkey", "latchkey")
            .map(|p| p.config_dir().to_path_buf())
    }

    /// The config dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The metadata file.
    pub fn accounts_file(&self) -> PathBuf {
        self.dir.join("accounts.toml")
    }

    /// The byte-range index of the metadata file (a cache; see [`crate::accounts_index`]).
    pub fn accounts_index(&self) -> PathBuf {
        self.dir.join("accounts.index")
    }

    /// Non-secret token state of one account (expiry, scope, refresh token present; see
    /// [`crate::token_state`]), so `list` needs no keychain read.
    pub fn token_state(&self, id: &uuid::Uuid) -> PathBuf {
        self.token_state_dir().join(format!("{id}.json"))
    }

    /// Non-secret facts of the account's extra cached tokens (tokens for other APIs, keyed by
    /// their spec's digest; see [`crate::token_state::read_derived`]).
    pub fn derived_token_state(&self, id: &uuid::Uuid) -> PathBuf {
        self.token_state_dir().join(format!("{id}.derived.json"))
    }

    /// The folder of [`Self::token_state`] files.
    pub fn token_state_dir(&self) -> PathBuf {
        self.dir.join("token-state")
    }

    /// The lock guarding read-modify-write of the metadata file.
    pub fn accounts_lock(&self) -> PathBuf {
        self.dir.join("accounts.lock")
    }

    /// The cross-process lock of one account (refresh, sign-in completion).
    pub fn account_lock(&self, id: &uuid::Uuid) -> PathBuf {
        self.dir.join("locks").join(format!("{id}.lock"))
    }

    /// The cross-process lock of one cached AWS credential of an account (its own file, not
    /// the account lock: obtaining the credentials may refresh the account under that one).
    pub fn aws_lock(&self, id: &uuid::Uuid, digest: &str) -> PathBuf {
        self.dir
            .join("locks")
            .join(format!("{id}.aws-{digest}.lock"))
    }

    /// Cached public signing keys (JWKS) of a provider: public data, kept to save a request
    /// per refresh.
    pub fn jwks_cache(&self, jwks_uri: &url::Url) -> PathBuf {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(jwks_uri.as_str().as_bytes());
        self.dir
            .join("cache")
            .join(format!("jwks-{}.json", &hex::encode(digest)[..16]))
    }

    /// Marker bumped whenever tokens change (see [`crate::watch`]).
    pub fn tokens_changed_marker(&self) -> PathBuf {
        self.dir.join("tokens.changed")
    }

    /// The log file.
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("latchkey.log")
    }

    /// The encrypted vault (secrets where no Secret Service runs; [`crate::store::vault`]).
    pub fn vault_file(&self) -> PathBuf {
        self.dir.join("vault.json")
    }

    /// The lock held across every read-modify-write of the vault.
    pub fn vault_lock(&self) -> PathBuf {
        self.dir.join("vault.lock")
    }

    /// Which store holds the secrets (`latchkey store use`; [`crate::store::choice`]).
    pub fn store_settings(&self) -> PathBuf {
        self.dir.join("store.toml")
    }
}
