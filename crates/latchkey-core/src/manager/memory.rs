//! Token memory of a long-lived [`LoginManager`] (the agent, the desktop app): token sets held
//! in memory so the hot path needs no keychain call, and rotated sets the keychain refused,
//! kept aside (never handed out) until a retry stores them.
//!
//! Memory never replaces the refresh invariant: under the account locks the refresh path reads
//! the keychain again ([`LoginManager::read_tokens_locked`]), and a set is put in memory only
//! after the keychain accepted it. A change seen by the agent's watcher (another process wrote
//! `accounts.toml` or bumped `tokens.changed`) makes every entry *stale*: the next read goes to
//! the keychain, and only if the keychain cannot be used is a stale entry served (a sign-out
//! deletes the keychain item, which cannot happen while the keychain is unusable).
//! [`crate::secret::Secret`] zeroizes the tokens when an entry is dropped.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::*;
use crate::backoff::Backoff;
use crate::error::KeychainProblem;

/// Pauses between the keychain writes of a rotated set in a process without token memory.
const WRITE_RETRY: Backoff =
    Backoff::doubling(Duration::from_millis(100), Duration::from_millis(400));

/// What the last keychain call of a long-lived manager found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum KeychainState {
    /// No keychain call yet.
    #[default]
    Unknown,
    /// The last call worked.
    Available,
    /// Locked, or access refused.
    Locked,
    /// No keychain service.
    Unavailable,
    /// No answer within the deadline.
    TimedOut,
    /// Another error.
    Failed,
}

impl KeychainState {
    /// Words for people.
    pub fn label(self) -> &'static str {
        match self {
            KeychainState::Unknown => "not used yet",
            KeychainState::Available => "available",
            KeychainState::Locked => "locked",
            KeychainState::Unavailable => "unavailable",
            KeychainState::TimedOut => "not answering",
            KeychainState::Failed => "failing",
        }
    }

    fn of<T>(r: &Result<T>) -> Option<KeychainState> {
        match r {
            Ok(_) => Some(KeychainState::Available),
            Err(Error::Keychain { problem, .. }) => Some(match problem {
                KeychainProblem::Locked
                | KeychainProblem::VaultLocked
                | KeychainProblem::WrongPassphrase => KeychainState::Locked,
                KeychainProblem::Unavailable => KeychainState::Unavailable,
                KeychainProblem::TimedOut => KeychainState::TimedOut,
                KeychainProblem::Failed | KeychainProblem::VaultFailed => KeychainState::Failed,
                // A bad item says nothing about the keychain itself.
                KeychainProblem::Corrupt => KeychainState::Available,
            }),
            Err(_) => None,
        }
    }
}

struct Entry {
    set: TokenSet,
    generation: u64,
}

impl Entry {
    /// An entry whose secrets are kept out of swap where the OS allows ([`pin`]).
    fn new(set: TokenSet, generation: u64) -> Entry {
        pin(&set);
        Entry { set, generation }
    }
}

/// Asks the OS to keep the buffers of a held set's secrets in RAM
/// ([`crate::secret::Secret::keep_in_ram`]); best effort, logged once when refused.
fn pin(set: &TokenSet) {
    static REFUSED: std::sync::Once = std::sync::Once::new();
    let all = [
        Some(&set.access_token),
        set.refresh_token.as_ref(),
        set.id_token.as_ref(),
    ];
    let locked = all.into_iter().flatten().all(|s| s.keep_in_ram());
    if !locked {
        REFUSED.call_once(|| {
            tracing::info!("the OS refused to lock more token memory (RLIMIT_MEMLOCK); tokens held from now on may be swapped")
        });
    }
}

#[derive(Default)]
struct State {
    generation: u64,
    sets: HashMap<Uuid, Entry>,
    /// Rotated sets the keychain did not accept: never served, written first.
    unwritten: HashMap<Uuid, (Account, TokenSet)>,
    keychain: KeychainState,
    /// Recorded token states ([`crate::token_state`]) read for lists, valid for one generation.
    listed: HashMap<Uuid, (u64, Option<TokenSet>)>,
}

/// See the module docs.
#[derive(Default)]
pub(crate) struct TokenMemory {
    state: Mutex<State>,
    unwritten_added: tokio::sync::Notify,
}

impl TokenMemory {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut guard = match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }
}

impl LoginManager {
    /// Makes this manager hold token sets in memory (for a long-lived process: the agent, the
    /// desktop app). See [`crate::manager`]'s memory notes; call [`Self::forget_stale`] when the
    /// accounts file or the `tokens.changed` marker changes.
    pub fn with_token_memory(mut self) -> Self {
        self.memory = Some(Arc::new(TokenMemory::default()));
        self
    }

    /// Marks every token set in memory stale (another process changed accounts or tokens).
    pub fn forget_stale(&self) {
        if let Some(m) = &self.memory {
            m.with(|s| s.generation += 1);
        }
    }

    /// What the last keychain call found (`Unknown` without token memory).
    pub fn keychain_state(&self) -> KeychainState {
        self.memory
            .as_ref()
            .map(|m| m.with(|s| s.keychain))
            .unwrap_or_default()
    }

    /// Asks the keychain now (one read of an account's tokens) and returns its state.
    pub async fn probe_keychain(&self) -> KeychainState {
        let key = self
            .registry
            .first_account_id()
            .map(|id| format!("{id}/tokens"))
            .unwrap_or_else(|| "latchkey-agent/probe".into());
        let r = self.opts.keychain.get(&key).await;
        self.note_keychain(&r);
        KeychainState::of(&r).unwrap_or(KeychainState::Failed)
    }

    /// Number of rotated token sets waiting for the keychain.
    pub fn unwritten_count(&self) -> usize {
        self.memory
            .as_ref()
            .map(|m| m.with(|s| s.unwritten.len()))
            .unwrap_or(0)
    }

    /// Tries to store every rotated set the keychain refused earlier; returns how many are
    /// still waiting. Each is written under its account's locks.
    pub async fn flush_unwritten(&self) -> usize {
        let Some(m) = &self.memory else { return 0 };
        let ids: Vec<Uuid> = m.with(|s| s.unwritten.keys().copied().collect());
        for id in ids {
            match self.lock_account(id).await {
                Ok((_local, _file)) => {
                    if let Err(e) = self.write_unwritten(id).await {
                        tracing::debug!(error = %e, "rotated tokens still not stored");
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "could not lock an account to store its tokens")
                }
            }
        }
        self.unwritten_count()
    }

    /// Waits until a rotated set is put aside for a later write.
    pub async fn unwritten_added(&self) {
        match &self.memory {
            Some(m) => m.unwritten_added.notified().await,
            None => std::future::pending().await,
        }
    }

    fn note_keychain<T>(&self, r: &Result<T>) {
        if let (Some(m), Some(state)) = (&self.memory, KeychainState::of(r)) {
            m.with(|s| s.keychain = state);
        }
    }

    /// Writes the put-aside set of `id`, if any (the caller holds the account locks).
    async fn write_unwritten(&self, id: Uuid) -> Result<Option<TokenSet>> {
        let Some(m) = &self.memory else {
            return Ok(None);
        };
        let Some((account, set)) =
            m.with(|s| s.unwritten.get(&id).map(|(a, t)| (a.clone(), t.clone())))
        else {
            return Ok(None);
        };
        let r = self
            .opts
            .keychain
            .set(&account.tokens_key(), &set.to_secret()?)
            .await;
        self.note_keychain(&r);
        r?;
        crate::token_state::write(&self.opts.paths, &account.id, Some(&set));
        crate::watch::note_tokens_changed(&self.opts.paths);
        tracing::warn!(account = %account.name, "rotated tokens stored in the keychain after a retry");
        m.with(|s| {
            s.unwritten.remove(&id);
            let generation = s.generation;
            s.sets.insert(id, Entry::new(set.clone(), generation));
        });
        Ok(Some(set))
    }

    /// The account's tokens: from memory when held and current, else the keychain.
    pub(super) async fn read_tokens(&self, account: &Account) -> Result<Option<TokenSet>> {
        let Some(m) = &self.memory else {
            return self.read_tokens_keychain(account).await;
        };
        let stale = match m.with(|s| {
            let generation = s.generation;
            s.sets
                .get(&account.id)
                .map(|e| (e.generation == generation, e.set.clone()))
        }) {
            Some((true, set)) => return Ok(Some(set)),
            Some((false, set)) => Some(set),
            None => None,
        };
        match self.read_tokens_keychain(account).await {
            Err(e) if e.kind() == ErrorKind::Keychain && stale.is_some() => {
                tracing::info!(account = %account.name, error = %e, "keychain unusable; serving the tokens held in memory");
                Ok(stale)
            }
            r => r,
        }
    }

    /// The account's tokens for a list: held in memory and current, else the recorded
    /// non-secret state ([`crate::token_state`]; a set with empty secrets, for status only),
    /// else the keychain (which records the state for the next list).
    pub(super) async fn listed_tokens(&self, account: &Account) -> Result<Option<TokenSet>> {
        if let Some(m) = &self.memory
            && let Some(set) = m.with(|s| {
                s.sets
                    .get(&account.id)
                    .filter(|e| e.generation == s.generation)
                    .map(|e| e.set.clone())
            })
        {
            return Ok(Some(set));
        }
        if let Some(m) = &self.memory
            && let Some(shadow) = m.with(|s| {
                s.listed
                    .get(&account.id)
                    .filter(|(g, _)| *g == s.generation)
                    .map(|(_, t)| t.clone())
            })
        {
            return Ok(shadow);
        }
        let generation = self.memory.as_ref().map(|m| m.with(|s| s.generation));
        if let Some(state) = crate::token_state::read(&self.opts.paths, &account.id) {
            let shadow = state.shadow();
            if let (Some(m), Some(g)) = (&self.memory, generation) {
                m.with(|s| s.listed.insert(account.id, (g, shadow.clone())));
            }
            return Ok(shadow);
        }
        self.read_tokens(account).await
    }

    /// The account's tokens from the keychain (never from memory; a put-aside rotated set is
    /// written first). For reads under the account locks.
    pub(super) async fn read_tokens_locked(&self, account: &Account) -> Result<Option<TokenSet>> {
        if let Some(set) = self.write_unwritten(account.id).await? {
            return Ok(Some(set));
        }
        self.read_tokens_keychain(account).await
    }

    async fn read_tokens_keychain(&self, account: &Account) -> Result<Option<TokenSet>> {
        let r = self.opts.keychain.get(&account.tokens_key()).await;
        self.note_keychain(&r);
        let set = match r? {
            Some(s) => Some(TokenSet::from_secret(&s)?),
            None => None,
        };
        crate::token_state::sync(&self.opts.paths, &account.id, set.as_ref());
        if let Some(m) = &self.memory {
            m.with(|s| {
                let generation = s.generation;
                match &set {
                    Some(t) => {
                        s.sets.insert(account.id, Entry::new(t.clone(), generation));
                    }
                    None => {
                        s.sets.remove(&account.id);
                        s.listed.remove(&account.id);
                    }
                }
            });
        }
        Ok(set)
    }

    pub(super) async fn write_tokens(&self, account: &Account, set: &TokenSet) -> Result<()> {
        let secret = set.to_secret()?;
        let mut last = None;
        // With memory, one attempt: a refused set is kept and retried in the background
        // ([`Self::flush_unwritten`]) instead of holding the caller.
        let attempts = if self.memory.is_some() { 1 } else { 3 };
        for attempt in 0..attempts {
            let r = self.opts.keychain.set(&account.tokens_key(), &secret).await;
            self.note_keychain(&r);
            match r {
                Ok(()) => {
                    crate::token_state::write(&self.opts.paths, &account.id, Some(set));
                    crate::watch::note_tokens_changed(&self.opts.paths);
                    if let Some(m) = &self.memory {
                        m.with(|s| {
                            s.unwritten.remove(&account.id);
                            let generation = s.generation;
                            s.sets
                                .insert(account.id, Entry::new(set.clone(), generation));
                        });
                    }
                    return Ok(());
                }
                Err(e) => {
                    tracing::error!(account = %account.name, attempt, error = %e, "could not store new tokens");
                    last = Some(e);
                    if self.memory.is_none() {
                        self.opts.clock.sleep(WRITE_RETRY.delay(attempt + 1)).await;
                    }
                }
            }
        }
        let consequence = if let Some(m) = &self.memory {
            // Keep the rotated set (its refresh token may be the only valid one now) and
            // retry later; it is not handed out before it is stored.
            m.with(|s| {
                let set = set.clone();
                pin(&set);
                s.unwritten.insert(account.id, (account.clone(), set));
            });
            m.unwritten_added.notify_one();
            format!(
                "new tokens for `{}` could not be saved to the keychain yet; they are kept in memory and saved as soon as the keychain is usable again (unlock it); no token is handed out until then",
                account.name
            )
        } else {
            format!(
                "new tokens for `{}` could not be saved; the previous refresh token may no longer be valid at the provider, so you may need to sign in again",
                account.name
            )
        };
        // Stays a keychain error (exit code 5), with what it means for the account.
        Err(match last {
            Some(Error::Keychain { problem, detail }) => Error::Keychain {
                problem,
                detail: if detail.is_empty() {
                    consequence
                } else {
                    format!("{detail}; {consequence}")
                },
            },
            Some(e) => Error::Other(format!("{consequence} ({e})")),
            None => Error::Other(consequence),
        })
    }

    pub(super) async fn delete_tokens(&self, account: &Account) -> Result<()> {
        let r = self.opts.keychain.delete(&account.tokens_key()).await;
        self.note_keychain(&r);
        r?;
        // The cached tokens for other APIs go with the account's own (derived.rs).
        self.delete_derived(account).await?;
        if let Some(m) = &self.memory {
            m.with(|s| {
                s.sets.remove(&account.id);
                s.listed.remove(&account.id);
                s.unwritten.remove(&account.id);
            });
        }
        crate::token_state::write(&self.opts.paths, &account.id, None);
        crate::watch::note_tokens_changed(&self.opts.paths);
        Ok(())
    }
}
