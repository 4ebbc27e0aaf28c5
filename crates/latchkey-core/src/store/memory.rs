//! An in-memory [`SecretStore`] for unit tests only (compiled under `cfg(test)` or the
//! `test-support` feature, never in a release build). It can simulate a size limit, a hang
//! and typed failures.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::SecretStore;
use crate::error::{Error, KeychainProblem, Result};

/// See the module docs.
#[derive(Debug)]
pub struct MemoryStore {
    items: Mutex<HashMap<String, String>>,
    limit: usize,
    hang: Mutex<Duration>,
    fail: Mutex<Option<KeychainProblem>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_limit(usize::MAX)
    }
}

impl MemoryStore {
    /// A store whose items hold at most `limit` bytes.
    pub fn with_limit(limit: usize) -> Self {
        MemoryStore {
            items: Mutex::new(HashMap::new()),
            limit,
            hang: Mutex::new(Duration::ZERO),
            fail: Mutex::new(None),
        }
    }

    /// Makes every call block this long first (a locked keyring waiting for a prompt).
    pub fn set_hang(&self, d: Duration) {
        if let Ok(mut h) = self.hang.lock() {
            *h = d;
        }
    }

    /// Makes every call fail with this problem (or succeed again with `None`).
    pub fn fail_with(&self, p: Option<KeychainProblem>) {
        if let Ok(mut f) = self.fail.lock() {
            *f = p;
        }
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.lock().map(|i| i.len()).unwrap_or(0)
    }

    /// True if there are no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All keys (sorted), for snapshots in tests.
    pub fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self
            .items
            .lock()
            .map(|i| i.keys().cloned().collect())
            .unwrap_or_default();
        k.sort();
        k
    }

    fn before(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, String>>> {
        let hang = self.hang.lock().map(|h| *h).unwrap_or_default();
        if !hang.is_zero() {
            std::thread::sleep(hang);
        }
        if let Some(p) = self.fail.lock().ok().and_then(|f| *f) {
            return Err(Error::keychain(p, "simulated"));
        }
        self.items
            .lock()
            .map_err(|_| Error::keychain(KeychainProblem::Failed, "poisoned"))
    }
}

impl SecretStore for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<String>> {
        Ok(self.before()?.get(key).cloned())
    }

    fn set(&self, key: &str, value: &str) -> Result<()> {
        if value.len() > self.limit {
            return Err(Error::keychain(KeychainProblem::Failed, "value too long"));
        }
        self.before()?.insert(key.to_string(), value.to_string());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<bool> {
        Ok(self.before()?.remove(key).is_some())
    }

    fn max_value_len(&self) -> usize {
        self.limit
    }

    fn keys_with_prefix(&self, prefix: &str) -> Result<Option<Vec<String>>> {
        Ok(Some(
            self.before()?
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect(),
        ))
    }
}
