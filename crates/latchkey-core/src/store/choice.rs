//! Which store holds the secrets, and why: the one rule.
//!
//! The setting (`store.toml` in the config dir, `use = "auto" | "vault" | "secret-service"`,
//! written by `latchkey store use`) pins a store. `auto` (the default) decides once per process:
//! 1. a vault file exists → the vault (that is where the items are; `latchkey store migrate
//!    --to secret-service` moves them);
//! 2. else the Secret Service answers (a locked one counts: it answered) → the Secret Service;
//! 3. else the vault, created on the first write, with the reason given to the person who is
//!    asked for its passphrase.
//!
//! There is no plain-text store and no silent fallback: a pinned Secret Service that does not
//! answer is an error, and the vault is encrypted with a passphrase or it is not created.
//! [`migrate`] moves every item from one store to the other, verifies each copy, pins the
//! target, and only then deletes the originals.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::unlock::UnlockOptions;
use super::vault::VaultStore;
use super::{Keychain, SecretStore, StoreFactory};
use crate::config::Paths;
use crate::error::{Error, KeychainProblem, Result};
use crate::secret::ct_eq;

/// The setting: which store to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StorePreference {
    /// The vault if it exists, else the Secret Service if it answers, else a new vault.
    #[default]
    Auto,
    /// Always the vault.
    Vault,
    /// Always the Secret Service.
    SecretService,
}

impl std::str::FromStr for StorePreference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(StorePreference::Auto),
            "vault" => Ok(StorePreference::Vault),
            "secret-service" => Ok(StorePreference::SecretService),
            other => Err(Error::InvalidInput(format!(
                "unknown store `{other}`: use auto, vault or secret-service"
            ))),
        }
    }
}

impl StorePreference {
    /// The setting's word.
    pub fn as_str(self) -> &'static str {
        match self {
            StorePreference::Auto => "auto",
            StorePreference::Vault => "vault",
            StorePreference::SecretService => "secret-service",
        }
    }
}

/// A store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreKind {
    /// The Secret Service (gnome-keyring, KeePassXC…) on the session D-Bus; the OS keychain
    /// elsewhere.
    SecretService,
    /// The encrypted vault file in the config dir.
    Vault,
}

impl StoreKind {
    /// Words for people.
    pub fn label(self) -> &'static str {
        match self {
            StoreKind::SecretService => "Secret Service",
            StoreKind::Vault => "vault",
        }
    }
}

/// Which store is used and why: what `latchkey store`, `latchkey status` and the app's footer
/// show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreChoice {
    /// The store in use.
    pub kind: StoreKind,
    /// The setting that led to it.
    pub preference: StorePreference,
    /// Why, in words.
    pub reason: String,
    /// The vault file (whether or not it is the store in use).
    pub vault: PathBuf,
    /// Whether the vault file exists.
    pub vault_exists: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(rename = "use", default)]
    preference: StorePreference,
    /// Seconds the kernel keyring keeps the vault key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cache_seconds: Option<u64>,
}

fn read_settings(paths: &Paths) -> Result<Settings> {
    let path = paths.store_settings();
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|e| Error::Config {
            path: path.display().to_string(),
            detail: format!(
                "{e}; expected `use = \"auto\"`, `\"vault\"` or `\"secret-service\"` (the file was left as it is)"
            ),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

/// The pinned store (`auto` when nothing is pinned).
pub fn preference(paths: &Paths) -> Result<StorePreference> {
    read_settings(paths).map(|s| s.preference)
}

/// Pins a store (`latchkey store use`); other settings in the file are kept.
pub fn set_preference(paths: &Paths, preference: StorePreference) -> Result<()> {
    let mut settings = read_settings(paths)?;
    settings.preference = preference;
    let text = toml::to_string(&settings).map_err(|e| Error::Other(e.to_string()))?;
    crate::private::create_dir(paths.dir())
        .map_err(|e| Error::io(format!("creating {}", paths.dir().display()), e))?;
    crate::private::write_atomic(&paths.store_settings(), text.as_bytes())
        .map_err(|e| Error::io(format!("writing {}", paths.store_settings().display()), e))
}

/// Picks the store once per process (see the module docs) and opens it.
pub struct StoreSelector {
    paths: Paths,
    preference: StorePreference,
    vault: Arc<VaultStore>,
    secret_service: StoreFactory,
    decided: Mutex<Option<StoreChoice>>,
}

impl std::fmt::Debug for StoreSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSelector")
            .field("preference", &self.preference)
            .field("vault", &self.vault)
            .finish_non_exhaustive()
    }
}

impl StoreSelector {
    /// The selector of a config dir: its setting, the platform's Secret Service, and the vault
    /// unlocked as `unlock` says (the setting's `cache_seconds` overrides its cache timeout).
    pub fn new(paths: &Paths, mut unlock: UnlockOptions) -> Result<Self> {
        let settings = read_settings(paths)?;
        if let Some(secs) = settings.cache_seconds {
            unlock.cache_ttl = Duration::from_secs(secs);
        }
        Ok(Self::with_secret_service(
            paths,
            settings.preference,
            unlock,
            Arc::new(super::keyring::platform_store),
        ))
    }

    /// A selector with an explicit preference and Secret Service (tests).
    pub fn with_secret_service(
        paths: &Paths,
        preference: StorePreference,
        unlock: UnlockOptions,
        secret_service: StoreFactory,
    ) -> Self {
        StoreSelector {
            paths: paths.clone(),
            preference,
            vault: Arc::new(VaultStore::new(
                paths.vault_file(),
                paths.vault_lock(),
                unlock,
                "",
            )),
            secret_service,
            decided: Mutex::new(None),
        }
    }

    /// The vault of this config dir (used or not).
    pub fn vault(&self) -> &Arc<VaultStore> {
        &self.vault
    }

    /// The config dir layout.
    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// Opens the platform's Secret Service (blocking).
    pub fn open_secret_service(&self) -> Result<Arc<dyn SecretStore>> {
        (self.secret_service)()
    }

    /// Which store, and why (blocking: may ask the Secret Service whether it answers).
    pub fn choice(&self) -> Result<StoreChoice> {
        self.decide().map(|(c, _)| c)
    }

    fn decided(&self) -> Option<StoreChoice> {
        self.decided.lock().ok().and_then(|d| d.clone())
    }

    fn decide(&self) -> Result<(StoreChoice, Option<Arc<dyn SecretStore>>)> {
        if let Some(c) = self.decided() {
            return Ok((c, None));
        }
        let vault_path = self.paths.vault_file();
        let vault_exists = self.vault.exists();
        let choice = |kind, reason: String| StoreChoice {
            kind,
            preference: self.preference,
            reason,
            vault: vault_path.clone(),
            vault_exists,
        };
        let (made, opened) = match self.preference {
            StorePreference::Vault => (
                choice(StoreKind::Vault, "chosen in the store setting".into()),
                None,
            ),
            StorePreference::SecretService => (
                choice(
                    StoreKind::SecretService,
                    "chosen in the store setting".into(),
                ),
                None,
            ),
            StorePreference::Auto if vault_exists => (
                choice(
                    StoreKind::Vault,
                    format!(
                        "a vault exists at {} (migrating the store to secret-service moves its items)",
                        vault_path.display()
                    ),
                ),
                None,
            ),
            StorePreference::Auto => match (self.secret_service)() {
                Ok(store) => (
                    choice(
                        StoreKind::SecretService,
                        "the Secret Service answers".into(),
                    ),
                    Some(store),
                ),
                Err(Error::Keychain {
                    problem: KeychainProblem::Unavailable,
                    detail,
                }) => (
                    choice(
                        StoreKind::Vault,
                        format!("no Secret Service answered ({detail})"),
                    ),
                    None,
                ),
                Err(e) => return Err(e),
            },
        };
        if made.kind == StoreKind::Vault {
            self.vault.set_reason(&made.reason);
        }
        tracing::info!(store = made.kind.label(), reason = %made.reason, "secret store chosen");
        if let Ok(mut d) = self.decided.lock() {
            *d = Some(made.clone());
        }
        Ok((made, opened))
    }

    /// The factory a [`Keychain`] calls (again after a timeout): the chosen store.
    pub fn factory(self: &Arc<Self>) -> StoreFactory {
        let this = self.clone();
        Arc::new(move || {
            let (choice, opened) = this.decide()?;
            match choice.kind {
                StoreKind::Vault => Ok(this.vault.clone() as Arc<dyn SecretStore>),
                StoreKind::SecretService => match opened {
                    Some(store) => Ok(store),
                    None => (this.secret_service)(),
                },
            }
        })
    }
}

/// What a store holds, by kind of item (never a value).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ItemCounts {
    /// Accounts' token sets (`<id>/tokens`).
    pub tokens: usize,
    /// Client secrets.
    pub client_secrets: usize,
    /// DPoP private keys.
    pub dpop_keys: usize,
    /// Tokens for other APIs (`<id>/derived/…`).
    pub other_api_tokens: usize,
    /// Sign-ins in progress.
    pub pending_sign_ins: usize,
    /// Anything else under Latchkey's service name.
    pub other: usize,
}

impl ItemCounts {
    /// Counts `keys` by kind.
    pub fn of<S: AsRef<str>>(keys: &[S]) -> ItemCounts {
        let mut c = ItemCounts::default();
        for k in keys {
            let k = k.as_ref();
            if k.starts_with("pending/") {
                c.pending_sign_ins += 1;
            } else if k.contains("/derived/") {
                c.other_api_tokens += 1;
            } else if k.ends_with("/tokens") {
                c.tokens += 1;
            } else if k.ends_with("/client-secret") {
                c.client_secrets += 1;
            } else if k.ends_with("/dpop-key") {
                c.dpop_keys += 1;
            } else {
                c.other += 1;
            }
        }
        c
    }

    /// All items.
    pub fn total(&self) -> usize {
        self.tokens
            + self.client_secrets
            + self.dpop_keys
            + self.other_api_tokens
            + self.pending_sign_ins
            + self.other
    }
}

/// `latchkey store`: the store in use, why, and what it holds.
#[derive(Debug, Clone, Serialize)]
pub struct StoreReport {
    /// The store in use and why.
    #[serde(flatten)]
    pub choice: StoreChoice,
    /// What it holds (`None` where it cannot list its items).
    pub items: Option<ItemCounts>,
    /// Where the vault key is cached between processes.
    pub key_cache: String,
}

/// What [`migrate`] did.
#[derive(Debug, Clone, Serialize)]
pub struct Migration {
    /// Where the items were.
    pub from: StoreKind,
    /// Where they are now (and the pinned store).
    pub to: StoreKind,
    /// Items copied, verified and deleted from `from`.
    pub moved: usize,
}

/// Moves every Latchkey item of this config dir from the other store to `to`: from the vault
/// (one per config dir) every item; from the Secret Service (shared by every config dir of the
/// user) the items of `accounts` (`<id>/…`; sign-ins in progress there are left to expire).
/// Each is copied and read back
/// (compared in constant time); then `to` is pinned (`store.toml`), items changed meanwhile are
/// copied again, and only then are the originals deleted. Any failure before the deletions
/// leaves every original in place (copies already made are harmless: the pin is not written).
/// Run it while no other Latchkey process signs in or refreshes.
pub async fn migrate(
    selector: &Arc<StoreSelector>,
    to: StoreKind,
    accounts: &[uuid::Uuid],
    deadline: Duration,
) -> Result<Migration> {
    let vault = {
        let v = selector.vault.clone();
        Keychain::with_factory(
            Arc::new(move || Ok(v.clone() as Arc<dyn SecretStore>)),
            deadline,
        )
    };
    let secret_service = Keychain::with_factory(selector.secret_service.clone(), deadline);
    let from = match to {
        StoreKind::Vault => StoreKind::SecretService,
        StoreKind::SecretService => StoreKind::Vault,
    };
    let (source, target) = match to {
        StoreKind::Vault => (&secret_service, &vault),
        StoreKind::SecretService => (&vault, &secret_service),
    };
    if from == StoreKind::Vault && !selector.vault.exists() {
        return Err(Error::InvalidInput(format!(
            "there is no vault at {} to move items from",
            selector.vault.path().display()
        )));
    }
    let prefixes: Vec<String> = accounts.iter().map(|id| format!("{id}/")).collect();
    let keys: Vec<String> = source
        .keys_with_prefix("")
        .await?
        .ok_or_else(|| {
            Error::keychain(
                KeychainProblem::Failed,
                format!("the {} cannot list its items here", from.label()),
            )
        })?
        .into_iter()
        .filter(|k| from == StoreKind::Vault || prefixes.iter().any(|p| k.starts_with(p)))
        .collect();
    let copy = |key: String| async move {
        let Some(value) = source.get(&key).await? else {
            return Ok::<bool, Error>(false);
        };
        if let Some(there) = target.get(&key).await?
            && ct_eq(there.expose(), value.expose())
        {
            return Ok(true);
        }
        target.set(&key, &value).await?;
        match target.get(&key).await? {
            Some(back) if ct_eq(back.expose(), value.expose()) => Ok(true),
            _ => Err(Error::keychain(
                KeychainProblem::Failed,
                format!(
                    "item {key} did not read back the same from the {}; nothing was deleted",
                    to.label()
                ),
            )),
        }
    };
    let mut copied = Vec::new();
    for key in &keys {
        if copy(key.clone()).await? {
            copied.push(key.clone());
        }
    }
    set_preference(
        &selector.paths,
        match to {
            StoreKind::Vault => StorePreference::Vault,
            StoreKind::SecretService => StorePreference::SecretService,
        },
    )?;
    // A refresh in another process may have rotated an item since it was copied.
    for key in &copied {
        copy(key.clone()).await?;
    }
    for key in &copied {
        source.delete(key).await?;
    }
    Ok(Migration {
        from,
        to,
        moved: copied.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::store::memory::MemoryStore;
    use crate::store::unlock::{NoCache, PassphraseRequest, PassphraseSource};

    struct Pass;
    impl PassphraseSource for Pass {
        fn passphrase(&self, _r: &PassphraseRequest) -> Result<Secret> {
            Ok(Secret::new("pw"))
        }
    }

    fn unlock() -> UnlockOptions {
        UnlockOptions {
            password_command: None,
            person: Arc::new(Pass),
            cache: Arc::new(NoCache),
            cache_ttl: Duration::from_secs(60),
            work_factor: 10,
        }
    }

    fn selector(
        paths: &Paths,
        pref: StorePreference,
        ss: Option<Arc<MemoryStore>>,
    ) -> Arc<StoreSelector> {
        let factory: StoreFactory = match ss {
            Some(s) => Arc::new(move || Ok(s.clone() as Arc<dyn SecretStore>)),
            None => Arc::new(|| {
                Err(Error::keychain(
                    KeychainProblem::Unavailable,
                    "no D-Bus session bus",
                ))
            }),
        };
        Arc::new(StoreSelector::with_secret_service(
            paths,
            pref,
            unlock(),
            factory,
        ))
    }

    #[test]
    fn auto_prefers_an_existing_vault_then_the_secret_service_then_a_new_vault() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        let ss = Arc::new(MemoryStore::default());
        let c = selector(&paths, StorePreference::Auto, Some(ss.clone()))
            .choice()
            .unwrap();
        assert_eq!(c.kind, StoreKind::SecretService);
        let c = selector(&paths, StorePreference::Auto, None)
            .choice()
            .unwrap();
        assert_eq!(c.kind, StoreKind::Vault);
        assert!(c.reason.contains("no D-Bus session bus"), "{}", c.reason);
        // A locked Secret Service answered: it is not silently replaced.
        let locked: StoreFactory =
            Arc::new(|| Err(Error::keychain(KeychainProblem::Locked, "locked")));
        let s = StoreSelector::with_secret_service(&paths, StorePreference::Auto, unlock(), locked);
        assert!(s.choice().is_err());
        // Once a vault exists, auto keeps using it.
        let v = selector(&paths, StorePreference::Vault, None);
        v.vault().unlock_for(true).unwrap();
        let c = selector(&paths, StorePreference::Auto, Some(ss))
            .choice()
            .unwrap();
        assert_eq!(c.kind, StoreKind::Vault);
        assert!(c.reason.contains("a vault exists"), "{}", c.reason);
    }

    #[test]
    fn the_setting_round_trips_and_a_bad_one_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        assert_eq!(preference(&paths).unwrap(), StorePreference::Auto);
        set_preference(&paths, StorePreference::Vault).unwrap();
        assert_eq!(preference(&paths).unwrap(), StorePreference::Vault);
        std::fs::write(paths.store_settings(), "use = \"plaintext\"\n").unwrap();
        let e = preference(&paths).unwrap_err();
        assert!(e.to_string().contains("secret-service"), "{e}");
        assert_eq!(
            std::fs::read_to_string(paths.store_settings()).unwrap(),
            "use = \"plaintext\"\n"
        );
    }

    #[tokio::test]
    async fn migrate_moves_every_item_both_ways() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        let ss = Arc::new(MemoryStore::default());
        let (a, other) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        ss.set(&format!("{a}/tokens"), "T").unwrap();
        ss.set(&format!("{a}/dpop-key"), "P").unwrap();
        ss.set(&format!("{other}/tokens"), "another config dir's")
            .unwrap();
        let s = selector(&paths, StorePreference::Auto, Some(ss.clone()));
        let m = migrate(&s, StoreKind::Vault, &[a], Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(m.moved, 2);
        assert_eq!(
            ss.keys(),
            vec![format!("{other}/tokens")],
            "only this dir's items"
        );
        assert_eq!(preference(&paths).unwrap(), StorePreference::Vault);
        assert_eq!(
            s.vault().get(&format!("{a}/tokens")).unwrap().as_deref(),
            Some("T")
        );
        let m = migrate(&s, StoreKind::SecretService, &[a], Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(m.moved, 2);
        assert_eq!(
            ss.get(&format!("{a}/dpop-key")).unwrap().as_deref(),
            Some("P")
        );
        assert_eq!(s.vault().keys_with_prefix("").unwrap().unwrap().len(), 0);
        assert_eq!(preference(&paths).unwrap(), StorePreference::SecretService);
    }
}
