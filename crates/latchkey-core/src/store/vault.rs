//! The vault: an encrypted file in the config dir that holds the keychain's items where no
//! Secret Service runs. Never plain text, never a silent fallback (see [`super::choice`]).
//!
//! **File** (`vault.json`, mode 0600): a small JSON envelope
//! `{"format": "latchkey-vault", "version": 1, "recipient": "age1…", "key": "-----BEGIN AGE…",
//! "data": "<base64>"}`.
//! - `key` is the vault's key — an age X25519 identity made when the vault was created — itself
//!   age-encrypted to the passphrase (age's scrypt recipient, work factor 2^18 unless a test
//!   build says otherwise; at most 2^22 is accepted when opening).
//! - `data` is the items (`{"<key>": "<value>"}`, the same keys as the Secret Service items:
//!   `<id>/tokens`, `<id>/client-secret`, `<id>/dpop-key`, `<id>/derived/<digest>`,
//!   `pending/<digest>`) as JSON, age-encrypted to `recipient` (the key's public half) with a
//!   fresh file key on every write.
//! - `recipient` is public; it tells a cached or remembered key that belongs to another vault
//!   from the right one without trying it.
//!
//! So the passphrase is needed once per session, to unwrap the key ([`super::unlock`] says where
//! the key is then kept); every read decrypts `data` with the key, every write re-encrypts it.
//! A wrong passphrase fails the unwrap (age's authenticated encryption) and changes nothing.
//!
//! **Writes** are read-modify-write under `vault.lock` (an advisory lock beside the vault, held
//! from the read to the rename), through [`crate::private::replace`] (temporary file, fsync,
//! rename, directory fsync): ten processes refreshing at once each see the others' writes, and
//! a process killed in the middle leaves the previous vault whole (its temporary is removed by
//! the next writer). Reads take no lock: a rename is atomic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use age::secrecy::{ExposeSecret, SecretString};
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::SecretStore;
use super::unlock::{PassphraseRequest, UnlockOptions, cache_name};
use crate::error::{Error, KeychainProblem, Result};
use crate::secret::Secret;

const FORMAT: &str = "latchkey-vault";
const VERSION: u32 = 1;
/// Largest scrypt work factor accepted when opening a vault (2^22: ~16 s, 4 GiB).
const MAX_WORK_FACTOR: u8 = 22;
/// Longest wait for another process's read-modify-write.
const LOCK_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest vault file read (a guard against a wrong file, not a real limit).
const MAX_FILE: u64 = 64 * 1024 * 1024;

#[derive(Serialize, Deserialize)]
struct Envelope {
    format: String,
    version: u32,
    recipient: String,
    key: String,
    data: String,
}

type Items = BTreeMap<String, Secret>;

fn failed(detail: impl Into<String>) -> Error {
    Error::keychain(KeychainProblem::VaultFailed, detail)
}

/// The vault as a [`SecretStore`]. One per process and config dir: the unwrapped key stays in
/// it (and so in the memory of the agent or the app) once unlocked.
pub struct VaultStore {
    path: PathBuf,
    lock_path: PathBuf,
    options: UnlockOptions,
    /// Why this vault is used (said when a new one is created).
    reason: Mutex<String>,
    /// The unwrapped key (`AGE-SECRET-KEY-1…`) and its recipient, once unlocked.
    key: Mutex<Option<(Secret, String)>>,
}

impl std::fmt::Debug for VaultStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultStore")
            .field("path", &self.path)
            .field("unlocked", &self.is_unlocked())
            .finish_non_exhaustive()
    }
}

/// Whether a vault file is at `path`.
pub fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

impl VaultStore {
    /// The vault at `path`, written under `lock_path`; `reason` says why it is used.
    pub fn new(
        path: impl Into<PathBuf>,
        lock_path: impl Into<PathBuf>,
        options: UnlockOptions,
        reason: impl Into<String>,
    ) -> Self {
        VaultStore {
            path: path.into(),
            lock_path: lock_path.into(),
            options,
            reason: Mutex::new(reason.into()),
            key: Mutex::new(None),
        }
    }

    /// Sets why this vault is used (told to the person asked for a new vault's passphrase).
    pub fn set_reason(&self, reason: &str) {
        if let Ok(mut r) = self.reason.lock() {
            *r = reason.to_string();
        }
    }

    /// The vault file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the vault file exists.
    pub fn exists(&self) -> bool {
        exists(&self.path)
    }

    /// Whether this process holds the key.
    pub fn is_unlocked(&self) -> bool {
        self.key.lock().map(|k| k.is_some()).unwrap_or(false)
    }

    fn remembered(&self) -> Option<(Secret, String)> {
        self.key.lock().ok().and_then(|k| k.clone())
    }

    fn remember(&self, identity: Secret, recipient: String) {
        // Best effort: the agent and the app hold it for hours.
        identity.keep_in_ram();
        if let Ok(mut k) = self.key.lock() {
            *k = Some((identity, recipient));
        }
    }

    fn forget(&self) {
        if let Ok(mut k) = self.key.lock() {
            *k = None;
        }
    }

    fn read_envelope(&self) -> Result<Option<Envelope>> {
        use std::io::Read;
        let file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(failed(format!("reading {}: {e}", self.path.display()))),
        };
        let mut text = String::new();
        file.take(MAX_FILE)
            .read_to_string(&mut text)
            .map_err(|e| failed(format!("reading {}: {e}", self.path.display())))?;
        let env: Envelope = serde_json::from_str(&text).map_err(|e| {
            failed(format!(
                "{} is not a Latchkey vault ({e}); it was left as it is",
                self.path.display()
            ))
        })?;
        if env.format != FORMAT || env.version != VERSION {
            return Err(failed(format!(
                "{} is a vault of another format or version ({} {}); it was left as it is",
                self.path.display(),
                env.format,
                env.version
            )));
        }
        Ok(Some(env))
    }

    /// Whether a call needs the key first, and it is not in this process: the keychain runs
    /// [`Self::unlock_for`] outside its deadline then (a person may be typing).
    pub fn needs_unlock(&self, write: bool) -> bool {
        !self.is_unlocked() && (write || self.exists())
    }

    /// Makes the key available: from this process's memory, the key cache, the password
    /// command or the person (in that order; see [`super::unlock`]). For a write where no
    /// vault exists yet, creates it (the person is asked for a new passphrase, twice).
    pub fn unlock_for(&self, write: bool) -> Result<()> {
        let env = self.read_envelope()?;
        if let Some((_, recipient)) = self.remembered() {
            match &env {
                Some(env) if env.recipient != recipient => self.forget(),
                _ => return Ok(()),
            }
        }
        match env {
            Some(env) => {
                if self.take_cached_key(&env) {
                    return Ok(());
                }
                let pass = self.options.passphrase(&PassphraseRequest::Unlock {
                    vault: self.path.clone(),
                })?;
                self.open_with(&env, &pass)
            }
            None if !write => Ok(()),
            None => {
                let reason = self.reason.lock().map(|r| r.clone()).unwrap_or_default();
                let pass = self.options.passphrase(&PassphraseRequest::Create {
                    vault: self.path.clone(),
                    reason,
                })?;
                self.create_with(&pass)
            }
        }
    }

    /// Unlocks the existing vault with `passphrase` (the app's dialog, `latchkey unlock`) and
    /// caches the key. A wrong passphrase is [`KeychainProblem::WrongPassphrase`].
    pub fn unlock_with(&self, passphrase: &Secret) -> Result<()> {
        match self.read_envelope()? {
            Some(env) => self.open_with(&env, passphrase),
            None => Err(failed(format!(
                "there is no vault at {} yet",
                self.path.display()
            ))),
        }
    }

    /// Where the key is cached between processes, for people.
    pub fn key_cache(&self) -> String {
        self.options.cache.describe()
    }

    /// Forgets the key: this process's copy and the cached one. `Ok(true)` if a cached key was
    /// removed.
    pub fn lock_now(&self) -> Result<bool> {
        self.forget();
        self.options.cache.clear(&cache_name(&self.path))
    }

    fn take_cached_key(&self, env: &Envelope) -> bool {
        let name = cache_name(&self.path);
        match self.options.cache.get(&name) {
            Ok(Some(identity)) => match recipient_of(&identity) {
                Ok(r) if r == env.recipient => {
                    tracing::debug!("vault key taken from {}", self.options.cache.describe());
                    self.remember(identity, r);
                    true
                }
                _ => {
                    // A key of an older vault at this path.
                    let _ = self.options.cache.clear(&name);
                    false
                }
            },
            Ok(None) => false,
            Err(e) => {
                tracing::info!("the vault key cache cannot be used: {e}");
                false
            }
        }
    }

    fn cache(&self, identity: &Secret) {
        let name = cache_name(&self.path);
        match self
            .options
            .cache
            .put(&name, identity, self.options.cache_ttl)
        {
            Ok(()) => tracing::info!(
                "vault key cached in {} for {} s (locking removes it)",
                self.options.cache.describe(),
                self.options.cache_ttl.as_secs()
            ),
            Err(e) => tracing::info!(
                "the vault key could not be cached ({e}); the next process asks again"
            ),
        }
    }

    fn open_with(&self, env: &Envelope, passphrase: &Secret) -> Result<()> {
        if passphrase.is_empty() {
            return Err(Error::keychain(
                KeychainProblem::VaultLocked,
                "an empty passphrase is refused",
            ));
        }
        let identity = unwrap_key(&env.key, passphrase)?;
        let recipient = recipient_of(&identity)?;
        if recipient != env.recipient {
            return Err(failed(format!(
                "{}: the key does not match the vault's recipient; it was left as it is",
                self.path.display()
            )));
        }
        self.cache(&identity);
        self.remember(identity, recipient);
        Ok(())
    }

    fn create_with(&self, passphrase: &Secret) -> Result<()> {
        if passphrase.is_empty() {
            return Err(Error::keychain(
                KeychainProblem::VaultLocked,
                "an empty passphrase is refused",
            ));
        }
        let _lock = self.lock()?;
        // Another process may have created it meanwhile: then this passphrase must open it.
        if let Some(env) = self.read_envelope()? {
            return self.open_with(&env, passphrase);
        }
        let identity = age::x25519::Identity::generate();
        let secret = Secret::new(identity.to_string().expose_secret());
        let recipient = identity.to_public().to_string();
        let env = Envelope {
            format: FORMAT.into(),
            version: VERSION,
            recipient: recipient.clone(),
            key: wrap_key(&secret, passphrase, self.options.work_factor)?,
            data: seal(&recipient, &Items::new())?,
        };
        self.write(&env)?;
        tracing::info!(vault = %self.path.display(), "vault created");
        self.cache(&secret);
        self.remember(secret, recipient);
        Ok(())
    }

    fn lock(&self) -> Result<crate::lock::FileLock> {
        crate::lock::acquire_blocking(&self.lock_path, LOCK_TIMEOUT)
    }

    fn write(&self, env: &Envelope) -> Result<()> {
        let text = serde_json::to_string_pretty(env)
            .map_err(|e| failed(format!("encoding the vault: {e}")))?;
        if let Some(dir) = self.path.parent() {
            crate::private::create_dir(dir)
                .map_err(|e| failed(format!("creating {}: {e}", dir.display())))?;
        }
        crate::private::replace(
            &self.path,
            text.as_bytes(),
            crate::private::NewMode::Private,
        )
        .map_err(|e| failed(format!("writing {}: {e}", self.path.display())))?;
        Ok(())
    }

    /// The items, decrypted with the key in memory.
    fn items(&self, env: &Envelope) -> Result<Items> {
        let (identity, recipient) = self.remembered().ok_or_else(|| {
            Error::keychain(
                KeychainProblem::VaultLocked,
                self.path.display().to_string(),
            )
        })?;
        if recipient != env.recipient {
            self.forget();
            return Err(Error::keychain(
                KeychainProblem::VaultLocked,
                format!(
                    "{} was replaced by another vault; unlock it again",
                    self.path.display()
                ),
            ));
        }
        open(&identity, &env.data).map_err(|e| {
            failed(format!(
                "{}: {e}; it was left as it is",
                self.path.display()
            ))
        })
    }

    fn read_items(&self) -> Result<Option<Items>> {
        match self.read_envelope()? {
            Some(env) => self.items(&env).map(Some),
            None => Ok(None),
        }
    }

    /// Read-modify-write under the lock; `change` returns whether it changed anything (else
    /// nothing is written).
    fn update<T>(&self, change: impl FnOnce(&mut Items) -> (T, bool)) -> Result<T> {
        let _lock = self.lock()?;
        self.remove_stale_temporaries();
        let mut env = self.read_envelope()?.ok_or_else(|| {
            failed(format!(
                "{} disappeared while Latchkey was using it",
                self.path.display()
            ))
        })?;
        let mut items = self.items(&env)?;
        let (out, changed) = change(&mut items);
        if changed {
            env.data = seal(&env.recipient, &items)?;
            self.write(&env)?;
        }
        Ok(out)
    }

    /// Temporaries of writers killed before their rename (only while holding the lock: no
    /// writer is between its write and its rename then).
    fn remove_stale_temporaries(&self) {
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else {
            return;
        };
        let prefix = format!(".{}.", name.to_string_lossy());
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let n = entry.file_name().to_string_lossy().into_owned();
            if n.starts_with(&prefix) && n.ends_with(".tmp") {
                tracing::info!(file = %n, "removing the temporary of an interrupted vault write");
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

impl SecretStore for VaultStore {
    fn get(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .read_items()?
            .and_then(|items| items.get(key).map(|v| v.expose().to_string())))
    }

    fn set(&self, key: &str, value: &str) -> Result<()> {
        if !self.exists() {
            self.unlock_for(true)?;
        }
        self.update(|items| {
            items.insert(key.to_string(), Secret::new(value));
            ((), true)
        })
    }

    fn delete(&self, key: &str) -> Result<bool> {
        if !self.exists() {
            return Ok(false);
        }
        self.update(|items| {
            let removed = items.remove(key).is_some();
            (removed, removed)
        })
    }

    fn max_value_len(&self) -> usize {
        // As the Secret Service: values are never split.
        1024 * 1024
    }

    fn keys_with_prefix(&self, prefix: &str) -> Result<Option<Vec<String>>> {
        Ok(Some(
            self.read_items()?
                .map(|items| {
                    items
                        .keys()
                        .filter(|k| k.starts_with(prefix))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default(),
        ))
    }

    fn needs_unlock(&self, write: bool) -> bool {
        VaultStore::needs_unlock(self, write)
    }

    fn unlock(&self, write: bool) -> Result<()> {
        self.unlock_for(write)
    }
}

fn recipient_of(identity: &Secret) -> Result<String> {
    age::x25519::Identity::from_str(identity.expose())
        .map(|i| i.to_public().to_string())
        .map_err(|_| failed("the vault key is malformed"))
}

fn wrap_key(identity: &Secret, passphrase: &Secret, work_factor: u8) -> Result<String> {
    let mut recipient =
        age::scrypt::Recipient::new(SecretString::from(passphrase.expose().to_string()));
    recipient.set_work_factor(work_factor);
    age::encrypt_and_armor(&recipient, identity.expose().as_bytes())
        .map_err(|e| failed(format!("encrypting the vault key: {e}")))
}

fn unwrap_key(wrapped: &str, passphrase: &Secret) -> Result<Secret> {
    let mut identity =
        age::scrypt::Identity::new(SecretString::from(passphrase.expose().to_string()));
    identity.set_max_work_factor(MAX_WORK_FACTOR);
    let plain = zeroize::Zeroizing::new(age::decrypt(&identity, wrapped.as_bytes()).map_err(
        |e| match e {
            age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
                Error::keychain(KeychainProblem::WrongPassphrase, "")
            }
            other => failed(format!("opening the vault key: {other}")),
        },
    )?);
    let text = std::str::from_utf8(&plain).map_err(|_| failed("the vault key is not text"))?;
    Ok(Secret::new(text))
}

fn seal(recipient: &str, items: &Items) -> Result<String> {
    let recipient = age::x25519::Recipient::from_str(recipient)
        .map_err(|_| failed("the vault's recipient is malformed"))?;
    let json = zeroize::Zeroizing::new(
        serde_json::to_vec(items).map_err(|e| failed(format!("encoding the items: {e}")))?,
    );
    let sealed = age::encrypt(&recipient, &json).map_err(|e| failed(format!("encrypting: {e}")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
}

fn open(identity: &Secret, data: &str) -> std::result::Result<Items, String> {
    let identity = age::x25519::Identity::from_str(identity.expose())
        .map_err(|_| "the vault key is malformed".to_string())?;
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|_| "the vault's data is not base64".to_string())?;
    let json = zeroize::Zeroizing::new(
        age::decrypt(&identity, &sealed).map_err(|e| format!("cannot decrypt the items: {e}"))?,
    );
    serde_json::from_slice(&json).map_err(|_| "the decrypted items are not JSON".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::unlock::{KeyCache, NoCache, PassphraseSource};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A person who types `pass`, counting how often they were asked.
    struct Typist {
        pass: &'static str,
        asked: AtomicUsize,
    }

    impl PassphraseSource for Typist {
        fn passphrase(&self, _r: &PassphraseRequest) -> Result<Secret> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            Ok(Secret::new(self.pass))
        }
    }

    /// An in-memory key cache (the kernel keyring's stand-in).
    #[derive(Default)]
    struct MemCache(Mutex<BTreeMap<String, Secret>>);

    impl KeyCache for MemCache {
        fn get(&self, name: &str) -> Result<Option<Secret>> {
            Ok(self.0.lock().unwrap().get(name).cloned())
        }
        fn put(&self, name: &str, value: &Secret, _ttl: Duration) -> Result<()> {
            self.0.lock().unwrap().insert(name.into(), value.clone());
            Ok(())
        }
        fn clear(&self, name: &str) -> Result<bool> {
            Ok(self.0.lock().unwrap().remove(name).is_some())
        }
        fn describe(&self) -> String {
            "memory".into()
        }
    }

    fn vault(
        dir: &Path,
        pass: &'static str,
        cache: Arc<dyn KeyCache>,
    ) -> (VaultStore, Arc<Typist>) {
        let typist = Arc::new(Typist {
            pass,
            asked: AtomicUsize::new(0),
        });
        let options = UnlockOptions {
            password_command: None,
            person: typist.clone(),
            cache,
            cache_ttl: Duration::from_secs(60),
            work_factor: 10,
        };
        (
            VaultStore::new(
                dir.join("vault.json"),
                dir.join("vault.lock"),
                options,
                "test",
            ),
            typist,
        )
    }

    #[test]
    fn items_round_trip_encrypted_and_reads_need_no_vault() {
        let dir = tempfile::tempdir().unwrap();
        let (v, typist) = vault(dir.path(), "pw", Arc::new(NoCache));
        assert!(!v.needs_unlock(false), "nothing to read yet");
        assert_eq!(v.get("a").unwrap(), None);
        assert!(!v.delete("a").unwrap());
        assert!(v.needs_unlock(true));
        v.unlock_for(true).unwrap();
        assert_eq!(typist.asked.load(Ordering::SeqCst), 1);
        v.set("id/tokens", "TOKEN-VALUE-123").unwrap();
        v.set("pending/abc", "P").unwrap();
        assert_eq!(
            v.get("id/tokens").unwrap().as_deref(),
            Some("TOKEN-VALUE-123")
        );
        assert_eq!(
            v.keys_with_prefix("pending/").unwrap().unwrap(),
            vec!["pending/abc".to_string()]
        );
        let text = std::fs::read_to_string(dir.path().join("vault.json")).unwrap();
        assert!(!text.contains("TOKEN-VALUE-123"));
        assert!(!text.contains("pending/abc"), "keys are secret too");
        assert!(v.delete("pending/abc").unwrap());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("vault.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_wrong_passphrase_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (v, _) = vault(dir.path(), "right", Arc::new(NoCache));
        v.unlock_for(true).unwrap();
        v.set("k", "v").unwrap();
        let before = std::fs::read(dir.path().join("vault.json")).unwrap();
        let (w, _) = vault(dir.path(), "wrong", Arc::new(NoCache));
        assert!(w.needs_unlock(false));
        let e = w.unlock_for(false).unwrap_err();
        assert!(matches!(
            e,
            Error::Keychain {
                problem: KeychainProblem::WrongPassphrase,
                ..
            }
        ));
        assert!(e.to_string().contains("wrong passphrase"), "{e}");
        assert!(w.get("k").is_err(), "still locked");
        assert!(w.set("k", "x").is_err());
        assert_eq!(
            std::fs::read(dir.path().join("vault.json")).unwrap(),
            before
        );
        let (r, _) = vault(dir.path(), "right", Arc::new(NoCache));
        r.unlock_for(false).unwrap();
        assert_eq!(r.get("k").unwrap().as_deref(), Some("v"));
    }

    #[test]
    fn the_cached_key_spares_the_passphrase_and_lock_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache: Arc<MemCache> = Arc::new(MemCache::default());
        let (v, _) = vault(dir.path(), "pw", cache.clone());
        v.unlock_for(true).unwrap();
        v.set("k", "v").unwrap();
        let cached = cache.get(&cache_name(v.path())).unwrap().unwrap();
        assert!(
            cached.expose().starts_with("AGE-SECRET-KEY-1"),
            "the key, not the passphrase"
        );
        let (second, typist) = vault(dir.path(), "pw", cache.clone());
        second.unlock_for(false).unwrap();
        assert_eq!(typist.asked.load(Ordering::SeqCst), 0, "not asked again");
        assert_eq!(second.get("k").unwrap().as_deref(), Some("v"));
        assert!(second.lock_now().unwrap());
        let (third, typist) = vault(dir.path(), "pw", cache);
        third.unlock_for(false).unwrap();
        assert_eq!(typist.asked.load(Ordering::SeqCst), 1, "asked after lock");
    }

    #[test]
    fn an_empty_passphrase_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (v, _) = vault(dir.path(), "", Arc::new(NoCache));
        let e = v.unlock_for(true).unwrap_err();
        assert!(e.to_string().contains("empty passphrase"), "{e}");
        assert!(!v.exists(), "no vault was created");
    }

    #[test]
    fn concurrent_writers_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (v, _) = vault(dir.path(), "pw", Arc::new(NoCache));
        v.unlock_for(true).unwrap();
        let path = dir.path().to_path_buf();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let (w, _) = vault(&path, "pw", Arc::new(NoCache));
                    w.unlock_for(false).unwrap();
                    for i in 0..5 {
                        w.set(&format!("t{t}/i{i}"), "x").unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(v.keys_with_prefix("t").unwrap().unwrap().len(), 40);
    }

    #[test]
    fn a_leftover_temporary_is_removed_and_a_bad_file_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (v, _) = vault(dir.path(), "pw", Arc::new(NoCache));
        v.unlock_for(true).unwrap();
        let tmp = dir.path().join(".vault.json.0123456789abcdef.tmp");
        std::fs::write(&tmp, "half").unwrap();
        v.set("k", "v").unwrap();
        assert!(!tmp.exists());
        std::fs::write(dir.path().join("vault.json"), "not json").unwrap();
        let e = v.set("k", "w").unwrap_err();
        assert!(e.to_string().contains("not a Latchkey vault"), "{e}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("vault.json")).unwrap(),
            "not json"
        );
    }
}
