//! Secret storage: the OS keychain behind a deadline.
//!
//! [`SecretStore`] is the blocking, platform-facing trait (one implementation per platform in
//! [`keyring`], plus an in-memory one for unit tests). [`Keychain`] is what the rest of the core
//! uses: every call runs on `spawn_blocking` under a deadline, because a locked Secret Service
//! with a display attached waits for an unlock prompt forever. After a timeout the stuck store
//! is dropped and a fresh one is created on the next call (the stuck one keeps its internal
//! lock). Values larger than the platform's item limit are split over several items.
//!
//! Item layout (service [`crate::config::KEYCHAIN_SERVICE`]), all keyed by the account's
//! stable id, never its user-facing name: `<id>/tokens` (the token set as JSON),
//! `<id>/client-secret`, `<id>/dpop-key` (the account's DPoP private key, RFC 9449),
//! `<id>/derived/<digest>` (a cached token for another API, `manager/derived.rs`), and
//! `pending/<sha256(state)>` (a sign-in in progress, 10 minutes). A value over the store's item
//! limit is kept as `<key>#1`, `<key>#2`, … with the count in `<key>`.
//!
//! Two stores sit behind the trait: the Secret Service ([`keyring`]) and, where none runs, the
//! encrypted vault ([`vault`]; how it is unlocked once per session: [`unlock`]). Which one a
//! process uses, and why, is decided once in [`choice`] (`latchkey store`). A store that needs a
//! person to unlock it says so ([`SecretStore::needs_unlock`]): the keychain then unlocks it
//! before the call, outside the deadline (a person may be typing a passphrase).

pub mod choice;
pub mod keyring;
#[cfg(any(test, feature = "test-support"))]
pub mod memory;
pub mod unlock;
pub mod vault;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{Error, KeychainProblem, Result};
use crate::secret::Secret;

/// A blocking key/value store of secrets. Implementations map "no such item" to `Ok(None)`.
pub trait SecretStore: Send + Sync + 'static {
    /// Reads an item.
    fn get(&self, key: &str) -> Result<Option<String>>;
    /// Creates or replaces an item.
    fn set(&self, key: &str, value: &str) -> Result<()>;
    /// Deletes an item; `Ok(false)` if there was none.
    fn delete(&self, key: &str) -> Result<bool>;
    /// Longest value one item may hold (in bytes of UTF-8).
    fn max_value_len(&self) -> usize {
        usize::MAX
    }
    /// Keys of this service's items that start with `prefix`, found by searching the store
    /// (not through an index); `Ok(None)` where the store cannot search.
    fn keys_with_prefix(&self, _prefix: &str) -> Result<Option<Vec<String>>> {
        Ok(None)
    }
    /// Whether a call must first [`Self::unlock`] the store (the vault before its passphrase
    /// was given); `create` for a write that creates the store if there is none yet (a read or
    /// a delete never does). Cheap, never blocks on a person.
    fn needs_unlock(&self, _create: bool) -> bool {
        false
    }
    /// Unlocks the store for a call (`create` as in [`Self::needs_unlock`]); may ask a person
    /// (no deadline applies).
    fn unlock(&self, _create: bool) -> Result<()> {
        Ok(())
    }
}

/// Creates a connection to a store (called again after a timeout).
pub type StoreFactory = Arc<dyn Fn() -> Result<Arc<dyn SecretStore>> + Send + Sync>;

/// Looks at the keychain service after a failed call and returns a note for people (e.g. "the
/// keychain service restarted 2 s ago"), or `None` when there is nothing to add. Blocking.
pub type StoreDiagnosis = fn() -> Option<String>;

/// Pauses before the retries of a call that failed transiently ([`is_transient`]).
pub const TRANSIENT_PAUSES: [Duration; 2] = [Duration::from_millis(50), Duration::from_millis(250)];

/// Longest wait for a [`StoreDiagnosis`].
const DIAGNOSIS_DEADLINE: Duration = Duration::from_secs(1);

/// Whether a keychain failure is one a new connection can cure: the daemon dropped the call
/// ("Message recipient disconnected", no reply) or no longer knows our session or item object
/// (`NoSession`, "Object does not exist": it restarted). A locked keychain, a missing service (`ServiceUnknown`), a timeout and bad
/// items are not.
pub fn is_transient(e: &Error) -> bool {
    // Unavailable too: a daemon that goes away while the session is opened fails the store's
    // creation, which is reported as "not available".
    let Error::Keychain {
        problem: KeychainProblem::Failed | KeychainProblem::Unavailable,
        detail,
    } = e
    else {
        return false;
    };
    let d = detail.to_ascii_lowercase();
    [
        "disconnected",
        "noreply",
        "no reply",
        "did not receive a reply",
        "unknownobject",
        "unknown object",
        "no such object",
        "object does not exist",
        "nosession",
        "session does not exist",
        "broken pipe",
        "connection reset",
    ]
    .iter()
    .any(|p| d.contains(p))
}

/// Default deadline for the CLI: long enough for a healthy keychain (milliseconds), short enough
/// that a stuck one is reported quickly.
pub const CLI_DEADLINE: Duration = Duration::from_secs(8);
/// Default deadline for the desktop app: long enough for a person to answer an unlock prompt.
pub const APP_DEADLINE: Duration = Duration::from_secs(120);

const CHUNK_MARKER: &str = "latchkey-chunked:v1:";

/// Item size from which a store is treated as never needing to split tokens.
const LARGE_ITEMS: usize = 64 * 1024;

/// The keychain as the core uses it: async, deadline-bound, chunking.
#[derive(Clone)]
pub struct Keychain {
    inner: Arc<Inner>,
}

struct Inner {
    factory: StoreFactory,
    current: Mutex<Option<Arc<dyn SecretStore>>>,
    deadline: Duration,
    diagnose: Option<StoreDiagnosis>,
    selector: Option<Arc<choice::StoreSelector>>,
}

impl std::fmt::Debug for Keychain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keychain")
            .field("deadline", &self.inner.deadline)
            .finish_non_exhaustive()
    }
}

impl Keychain {
    /// A keychain over the platform store.
    pub fn platform(deadline: Duration) -> Self {
        let mut keychain = Self::with_factory(Arc::new(keyring::platform_store), deadline);
        if let Some(inner) = Arc::get_mut(&mut keychain.inner) {
            inner.diagnose = Some(keyring::service_restart_note);
        }
        keychain
    }

    /// A keychain over any store factory.
    pub fn with_factory(factory: StoreFactory, deadline: Duration) -> Self {
        Keychain {
            inner: Arc::new(Inner {
                factory,
                current: Mutex::new(None),
                deadline,
                diagnose: None,
                selector: None,
            }),
        }
    }

    /// A keychain over the store [`choice::StoreSelector`] picks (the Secret Service or the
    /// vault; see [`choice`]).
    pub fn selected(selector: Arc<choice::StoreSelector>, deadline: Duration) -> Self {
        let mut keychain = Self::with_factory(selector.factory(), deadline);
        if let Some(inner) = Arc::get_mut(&mut keychain.inner) {
            inner.diagnose = Some(keyring::service_restart_note);
            inner.selector = Some(selector);
        }
        keychain
    }

    /// The selector behind [`Self::selected`] (`None` for a fixed store).
    pub fn selector(&self) -> Option<&Arc<choice::StoreSelector>> {
        self.inner.selector.as_ref()
    }

    /// Which store this keychain uses and why (`None` for a fixed store). Decides it if no
    /// call did yet (the Secret Service is asked under the deadline).
    pub async fn choice(&self) -> Option<Result<choice::StoreChoice>> {
        let selector = self.inner.selector.clone()?;
        let task = tokio::task::spawn_blocking(move || selector.choice());
        Some(
            match tokio::time::timeout(self.inner.deadline, task).await {
                Ok(Ok(r)) => r,
                Ok(Err(join)) => Err(Error::keychain(
                    KeychainProblem::Failed,
                    format!("keychain task failed: {join}"),
                )),
                Err(_) => Err(Error::keychain(
                    KeychainProblem::TimedOut,
                    format!("no answer within {} s", self.inner.deadline.as_secs()),
                )),
            },
        )
    }

    /// Unlocks the store now if it needs it (`latchkey unlock`, the agent at start); with
    /// `create`, a vault that does not exist yet is created.
    pub async fn unlock(&self, create: bool) -> Result<()> {
        match self.prepare(create).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.explained(e, 0).await),
        }
    }

    /// Unlocks the store if a call of this kind needs it first ([`SecretStore::needs_unlock`]):
    /// the store is opened under the deadline, the unlock itself (a person typing a passphrase,
    /// a password command) has none.
    async fn prepare(&self, write: bool) -> Result<()> {
        let this = self.clone();
        let opened = tokio::task::spawn_blocking(move || this.store());
        let store = match tokio::time::timeout(self.inner.deadline, opened).await {
            Ok(Ok(store)) => store?,
            Ok(Err(join)) => {
                return Err(Error::keychain(
                    KeychainProblem::Failed,
                    format!("keychain task failed: {join}"),
                ));
            }
            Err(_) => {
                self.forget_store();
                return Err(Error::keychain(
                    KeychainProblem::TimedOut,
                    format!("no answer within {} s", self.inner.deadline.as_secs()),
                ));
            }
        };
        if !store.needs_unlock(write) {
            return Ok(());
        }
        tokio::task::spawn_blocking(move || store.unlock(write))
            .await
            .map_err(|join| {
                Error::keychain(
                    KeychainProblem::Failed,
                    format!("keychain task failed: {join}"),
                )
            })?
    }

    /// The deadline applied to each call.
    pub fn deadline(&self) -> Duration {
        self.inner.deadline
    }

    fn store(&self) -> Result<Arc<dyn SecretStore>> {
        let lock = || {
            self.inner
                .current
                .lock()
                .map_err(|_| Error::keychain(KeychainProblem::Failed, "internal lock poisoned"))
        };
        if let Some(store) = lock()?.as_ref() {
            return Ok(store.clone());
        }
        // Created without holding the lock: creating can hang (a stopped Secret Service), and
        // `forget_store` after the deadline must not wait for it.
        let store = (self.inner.factory)()?;
        Ok(lock()?.get_or_insert(store).clone())
    }

    fn forget_store(&self) {
        if let Ok(mut guard) = self.inner.current.lock() {
            *guard = None;
        }
    }

    /// Runs a blocking store operation under the deadline. A failure a new connection can cure
    /// (the keychain daemon dropped the call or the session: see [`is_transient`]) is retried on
    /// a fresh store after a short pause, at most [`TRANSIENT_PAUSES`]`.len()` times; the last
    /// failure says so, and whether the keychain service restarted (see [`StoreDiagnosis`]).
    async fn run<T, F>(&self, what: &'static str, write: bool, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&dyn SecretStore) -> Result<T> + Send + Sync + 'static,
    {
        if let Err(e) = self.prepare(write).await {
            return Err(self.explained(e, 0).await);
        }
        let op = Arc::new(op);
        let mut pauses = TRANSIENT_PAUSES.iter();
        let mut retried = 0;
        loop {
            let once = op.clone();
            let error = match self.run_once(what, move |store| once(store)).await {
                Err(e) if is_transient(&e) => e,
                Err(e) => return Err(self.explained(e, retried).await),
                ok => return ok,
            };
            let Some(pause) = pauses.next() else {
                return Err(self.explained(error, retried).await);
            };
            tracing::info!(operation = what, error = %error, "transient keychain failure; reconnecting");
            self.forget_store();
            tokio::time::sleep(*pause).await;
            retried += 1;
        }
    }

    async fn run_once<T, F>(&self, what: &'static str, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn SecretStore) -> Result<T> + Send + 'static,
    {
        let this = self.clone();
        let task = tokio::task::spawn_blocking(move || {
            let store = this.store()?;
            op(store.as_ref())
        });
        match tokio::time::timeout(self.inner.deadline, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(Error::keychain(
                KeychainProblem::Failed,
                format!("keychain task failed: {join}"),
            )),
            Err(_) => {
                tracing::warn!(
                    operation = what,
                    deadline_ms = self.inner.deadline.as_millis() as u64,
                    "keychain call timed out"
                );
                self.forget_store();
                Err(Error::keychain(
                    KeychainProblem::TimedOut,
                    format!("no answer within {} s", self.inner.deadline.as_secs()),
                ))
            }
        }
    }

    /// Adds to a final keychain error what was tried and, where the platform can tell, that the
    /// keychain service restarted (a new daemon may be locked).
    async fn explained(&self, e: Error, retried: usize) -> Error {
        let Error::Keychain { problem, detail } = e else {
            return e;
        };
        if matches!(
            problem,
            KeychainProblem::Corrupt
                | KeychainProblem::VaultLocked
                | KeychainProblem::WrongPassphrase
                | KeychainProblem::VaultFailed
        ) {
            return Error::Keychain { problem, detail };
        }
        let mut notes = Vec::new();
        if retried > 0 {
            notes.push(format!("failed again after {retried} reconnect(s)"));
        }
        if let Some(diagnose) = self.inner.diagnose {
            let task = tokio::task::spawn_blocking(diagnose);
            if let Ok(Ok(Some(note))) = tokio::time::timeout(DIAGNOSIS_DEADLINE, task).await {
                tracing::info!("{note}");
                notes.push(note);
            }
        }
        let detail = std::iter::once(detail)
            .filter(|d| !d.is_empty())
            .chain(notes)
            .collect::<Vec<_>>()
            .join("; ");
        Error::Keychain { problem, detail }
    }

    /// Reads a secret; `None` if there is no such item.
    pub async fn get(&self, key: &str) -> Result<Option<Secret>> {
        let key = key.to_string();
        self.run("get", false, move |store| read_chunked(store, &key))
            .await
            .map(|v| v.map(Secret::new))
    }

    /// Writes a secret (replacing any previous value).
    pub async fn set(&self, key: &str, value: &Secret) -> Result<()> {
        let key = key.to_string();
        let value = value.clone();
        self.run("set", true, move |store| {
            write_chunked(store, &key, value.expose())
        })
        .await
    }

    /// Deletes a secret; succeeds if it did not exist.
    pub async fn delete(&self, key: &str) -> Result<()> {
        let key = key.to_string();
        self.run("delete", false, move |store| delete_chunked(store, &key))
            .await
    }

    /// Keys of the items that start with `prefix`, by a search of the store (the parts of a
    /// split value are not listed); `Ok(None)` where the store cannot search.
    pub async fn keys_with_prefix(&self, prefix: &str) -> Result<Option<Vec<String>>> {
        let prefix = prefix.to_string();
        self.run("search", false, move |store| {
            Ok(store.keys_with_prefix(&prefix)?.map(|keys| {
                let mut keys: Vec<String> = keys.into_iter().filter(|k| !k.contains('#')).collect();
                keys.sort();
                keys.dedup();
                keys
            }))
        })
        .await
    }
}

fn chunk_key(key: &str, i: usize) -> String {
    format!("{key}#{i}")
}

fn read_chunked(store: &dyn SecretStore, key: &str) -> Result<Option<String>> {
    let Some(head) = store.get(key)? else {
        return Ok(None);
    };
    let Some(count) = head.strip_prefix(CHUNK_MARKER) else {
        return Ok(Some(head));
    };
    let count: usize = count
        .parse()
        .map_err(|_| Error::keychain(KeychainProblem::Corrupt, format!("item {key}")))?;
    let mut out = String::new();
    for i in 1..=count {
        let part = store.get(&chunk_key(key, i))?.ok_or_else(|| {
            Error::keychain(
                KeychainProblem::Corrupt,
                format!("item {key} part {i} missing"),
            )
        })?;
        out.push_str(&part);
    }
    Ok(Some(out))
}

fn split_at_char_boundaries(value: &str, max: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        let mut end = max.min(rest.len());
        while end > 0 && !rest.is_char_boundary(end) {
            end -= 1;
        }
        if end == 0 {
            // max smaller than one character: take the character anyway.
            end = rest
                .chars()
                .next()
                .map(char::len_utf8)
                .unwrap_or(rest.len());
        }
        let (a, b) = rest.split_at(end);
        parts.push(a);
        rest = b;
    }
    parts
}

fn write_chunked(store: &dyn SecretStore, key: &str, value: &str) -> Result<()> {
    let max = store.max_value_len();
    if max >= LARGE_ITEMS && value.len() <= max && !value.starts_with(CHUNK_MARKER) {
        // Stores with large items (Secret Service: 1 MiB, macOS) never split a real value, so
        // there are no old parts to clean up: skip the read (one round trip less per write).
        return store.set(key, value);
    }
    let old_count = match store.get(key)? {
        Some(head) => head
            .strip_prefix(CHUNK_MARKER)
            .and_then(|c| c.parse::<usize>().ok())
            .unwrap_or(0),
        None => 0,
    };
    let new_count = if value.len() <= max && !value.starts_with(CHUNK_MARKER) {
        store.set(key, value)?;
        0
    } else {
        let parts = split_at_char_boundaries(value, max);
        for (i, part) in parts.iter().enumerate() {
            store.set(&chunk_key(key, i + 1), part)?;
        }
        store.set(key, &format!("{CHUNK_MARKER}{}", parts.len()))?;
        parts.len()
    };
    for i in (new_count + 1)..=old_count {
        store.delete(&chunk_key(key, i))?;
    }
    Ok(())
}

fn delete_chunked(store: &dyn SecretStore, key: &str) -> Result<()> {
    if let Some(head) = store.get(key)?
        && let Some(count) = head
            .strip_prefix(CHUNK_MARKER)
            .and_then(|c| c.parse::<usize>().ok())
    {
        for i in 1..=count {
            store.delete(&chunk_key(key, i))?;
        }
    }
    store.delete(key)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::memory::MemoryStore;
    use super::*;

    fn keychain_with(store: Arc<MemoryStore>, deadline: Duration) -> Keychain {
        Keychain::with_factory(
            Arc::new(move || Ok(store.clone() as Arc<dyn SecretStore>)),
            deadline,
        )
    }

    #[tokio::test]
    async fn missing_item_is_none() {
        let kc = keychain_with(Arc::new(MemoryStore::default()), Duration::from_secs(1));
        assert!(kc.get("nope").await.unwrap().is_none());
        kc.delete("nope").await.unwrap();
    }

    #[tokio::test]
    async fn long_values_are_split_and_joined() {
        let store = Arc::new(MemoryStore::with_limit(24));
        let kc = keychain_with(store.clone(), Duration::from_secs(1));
        let long = "é".repeat(41); // 82 bytes, multi-byte chars straddle the limit
        kc.set("k", &Secret::new(long.clone())).await.unwrap();
        assert!(store.len() > 2, "value must be split");
        assert_eq!(kc.get("k").await.unwrap().unwrap().expose(), long);
        kc.set("k", &Secret::new("short")).await.unwrap();
        assert_eq!(store.len(), 1, "old parts removed when value shrinks");
        assert_eq!(kc.get("k").await.unwrap().unwrap().expose(), "short");
        kc.set("k", &Secret::new(long.clone())).await.unwrap();
        kc.delete("k").await.unwrap();
        assert_eq!(store.len(), 0);
    }

    #[tokio::test]
    async fn stuck_store_times_out_and_is_replaced() {
        let store = Arc::new(MemoryStore::default());
        store.set_hang(Duration::from_secs(3));
        let kc = keychain_with(store.clone(), Duration::from_millis(100));
        let err = kc.get("k").await.unwrap_err();
        assert!(matches!(
            err,
            Error::Keychain {
                problem: KeychainProblem::TimedOut,
                ..
            }
        ));
        assert_eq!(err.kind(), crate::ErrorKind::Keychain);
        store.set_hang(Duration::ZERO);
        assert!(kc.get("k").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn locked_store_is_a_typed_error() {
        let store = Arc::new(MemoryStore::default());
        store.fail_with(Some(KeychainProblem::Locked));
        let kc = keychain_with(store, Duration::from_secs(1));
        let err = kc.set("k", &Secret::new("v")).await.unwrap_err();
        assert!(err.to_string().contains("unlock"), "{err}");
    }

    /// A store whose first `failures` calls fail with `detail` (as a daemon that dropped the
    /// call would), counting connections made and calls seen.
    struct Flaky {
        inner: MemoryStore,
        failures: std::sync::atomic::AtomicUsize,
        problem: KeychainProblem,
        detail: &'static str,
    }

    impl SecretStore for Flaky {
        fn get(&self, key: &str) -> Result<Option<String>> {
            use std::sync::atomic::Ordering;
            if self
                .failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(Error::keychain(self.problem, self.detail));
            }
            self.inner.get(key)
        }
        fn set(&self, key: &str, value: &str) -> Result<()> {
            self.inner.set(key, value)
        }
        fn delete(&self, key: &str) -> Result<bool> {
            self.inner.delete(key)
        }
    }

    fn flaky(
        failures: usize,
        problem: KeychainProblem,
        detail: &'static str,
    ) -> (Keychain, Arc<std::sync::atomic::AtomicUsize>) {
        let store = Arc::new(Flaky {
            inner: MemoryStore::default(),
            failures: failures.into(),
            problem,
            detail,
        });
        store.inner.set("k", "v").unwrap();
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = connections.clone();
        let kc = Keychain::with_factory(
            Arc::new(move || {
                c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(store.clone() as Arc<dyn SecretStore>)
            }),
            Duration::from_secs(1),
        );
        (kc, connections)
    }

    const DROPPED: &str = "org.freedesktop.DBus.Error.NoReply: Message recipient disconnected from message bus without replying";

    #[tokio::test(start_paused = true)]
    async fn a_dropped_call_is_retried_on_a_new_connection() {
        let (kc, connections) = flaky(2, KeychainProblem::Failed, DROPPED);
        assert_eq!(kc.get("k").await.unwrap().unwrap().expose(), "v");
        assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_dropped_every_time_fails_saying_it_was_retried() {
        let (kc, connections) = flaky(usize::MAX, KeychainProblem::Failed, DROPPED);
        let e = kc.get("k").await.unwrap_err();
        assert_eq!(
            connections.load(std::sync::atomic::Ordering::SeqCst),
            1 + TRANSIENT_PAUSES.len()
        );
        assert!(e.to_string().contains("disconnected"), "{e}");
        assert!(e.to_string().contains("after 2 reconnect(s)"), "{e}");
    }

    #[test]
    fn only_dropped_calls_are_transient() {
        let e = |p, d: &str| Error::keychain(p, d);
        assert!(is_transient(&e(KeychainProblem::Failed, DROPPED)));
        assert!(is_transient(&e(KeychainProblem::Unavailable, DROPPED)));
        assert!(is_transient(&e(
            KeychainProblem::Failed,
            "zbus error: org.freedesktop.Secret.Error.NoSession: The session does not exist"
        )));
        assert!(is_transient(&e(
            KeychainProblem::Failed,
            "zbus error: org.freedesktop.DBus.Error.UnknownMethod: Object does not exist at path “/org/freedesktop/secrets/collection/login/2”"
        )));
        assert!(!is_transient(&e(
            KeychainProblem::Unavailable,
            "org.freedesktop.DBus.Error.ServiceUnknown: The name org.freedesktop.secrets was not provided by any .service files"
        )));
        assert!(!is_transient(&e(
            KeychainProblem::Locked,
            "prompt dismissed"
        )));
        assert!(!is_transient(&e(
            KeychainProblem::TimedOut,
            "no answer within 8 s"
        )));
        assert!(!is_transient(&e(KeychainProblem::Failed, "something odd")));
    }

    #[tokio::test(start_paused = true)]
    async fn a_locked_keychain_is_not_retried() {
        let (kc, connections) = flaky(1, KeychainProblem::Locked, "prompt dismissed");
        let e = kc.get("k").await.unwrap_err();
        assert!(!is_transient(&e));
        assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(e.to_string().contains("unlock"), "{e}");
    }
}
