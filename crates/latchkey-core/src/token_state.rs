//! Non-secret token state per account, kept beside `accounts.toml` so `latchkey list`, the
//! app's list and the agent's `list` need no keychain read per account (one read each was
//! ~0.5 s for 1,000 accounts).
//!
//! `token-state/<account id>.json` (directory 0700, files 0600) holds what a list shows: when
//! the access token expires, when it was obtained, its scope and type, whether a refresh token
//! and an id_token are stored, when the session ends. **Never a token**: the keychain stays the
//! only home of secrets. The core writes the file after every keychain write or delete of the
//! account's tokens (and after a keychain read that finds it missing or different, which
//! brings files of an older Latchkey up to date). It is a view, not the truth: the refresh path
//! never reads it, and `latchkey status NAME` reads the keychain.
//!
//! `token-state/<account id>.derived.json` does the same for the account's extra cached tokens
//! (tokens for other APIs, `manager/derived.rs`): per spec digest, the granted scope and the
//! expiry, written whenever such a token is stored or deleted (under the account locks).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::config::Paths;
use crate::secret::Secret;
use crate::token::TokenSet;

/// What the file says: `tokens: None` means "no tokens stored" (signed out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenState {
    /// Format version (1).
    pub v: u32,
    /// The stored set's non-secret facts, if a set is stored.
    pub tokens: Option<TokenFacts>,
}

/// The non-secret facts of a stored token set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenFacts {
    /// `Bearer` or `DPoP` (a string in the file).
    pub token_type: crate::token::TokenType,
    /// Access token expiry.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When the set was obtained.
    #[serde(with = "time::serde::rfc3339")]
    pub obtained_at: OffsetDateTime,
    /// Granted scopes.
    pub scope: Option<String>,
    /// A refresh token is stored.
    pub has_refresh_token: bool,
    /// An id_token is stored.
    pub has_id_token: bool,
    /// When the session ends, if the provider said.
    #[serde(with = "time::serde::rfc3339::option")]
    pub session_expires_at: Option<OffsetDateTime>,
}

impl TokenState {
    fn of(set: Option<&TokenSet>) -> TokenState {
        TokenState {
            v: 1,
            tokens: set.map(|t| TokenFacts {
                token_type: t.token_type.clone(),
                expires_at: t.expires_at,
                obtained_at: t.obtained_at,
                scope: t.scope.clone(),
                has_refresh_token: t.refresh_token.is_some(),
                has_id_token: t.id_token.is_some(),
                session_expires_at: t.session_expires_at,
            }),
        }
    }

    /// A token set with the same facts and **empty** secrets, for status computations only
    /// (never handed out: the secrets are empty strings).
    pub(crate) fn shadow(&self) -> Option<TokenSet> {
        self.tokens.as_ref().map(|f| TokenSet {
            access_token: Secret::new(String::new()),
            token_type: f.token_type.clone(),
            refresh_token: f.has_refresh_token.then(|| Secret::new(String::new())),
            id_token: f.has_id_token.then(|| Secret::new(String::new())),
            expires_at: f.expires_at,
            scope: f.scope.clone(),
            obtained_at: f.obtained_at,
            session_expires_at: f.session_expires_at,
        })
    }
}

/// The account's recorded state; `None` if there is no (readable, current-format) file.
pub fn read(paths: &Paths, id: &Uuid) -> Option<TokenState> {
    let bytes = std::fs::read(paths.token_state(id)).ok()?;
    serde_json::from_slice::<TokenState>(&bytes)
        .ok()
        .filter(|s| s.v == 1)
}

/// Records the account's stored set (`None`: no tokens). Best effort: a failure is logged and
/// only means the next list reads the keychain for this account.
pub fn write(paths: &Paths, id: &Uuid, set: Option<&TokenSet>) {
    write_json(paths, &paths.token_state(id), &TokenState::of(set));
}

/// Writes `value` as JSON to `file` in the state folder, atomically
/// ([`crate::private::write_atomic`]). Best effort: a failure is logged.
fn write_json<T: Serialize>(paths: &Paths, file: &Path, value: &T) {
    let result = serde_json::to_vec(value)
        .map_err(std::io::Error::other)
        .and_then(|bytes| {
            crate::private::create_dir(&paths.token_state_dir())?;
            crate::private::write_atomic(file, &bytes)
        });
    if let Err(e) = result {
        tracing::debug!(error = %e, "could not record the token state");
    }
}

/// The non-secret facts of one extra cached token (a token for another API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DerivedFacts {
    /// The scopes the provider granted.
    pub granted_scope: Option<String>,
    /// When the cached token expires.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct DerivedState {
    v: u32,
    /// Spec digest → facts.
    tokens: BTreeMap<String, DerivedFacts>,
}

/// The recorded facts of the account's extra cached tokens, by spec digest; `None` if there is
/// no (readable, current-format) file.
pub fn read_derived(paths: &Paths, id: &Uuid) -> Option<BTreeMap<String, DerivedFacts>> {
    let bytes = std::fs::read(paths.derived_token_state(id)).ok()?;
    serde_json::from_slice::<DerivedState>(&bytes)
        .ok()
        .filter(|s| s.v == 1)
        .map(|s| s.tokens)
}

/// Records (or with `None`, forgets) the facts of the cached token with spec digest `digest`.
/// The caller holds the account locks (read-modify-write of one account's file). Best effort
/// (see [`try_record_derived`] for a write whose failure counts).
pub fn record_derived(paths: &Paths, id: &Uuid, digest: &str, facts: Option<DerivedFacts>) {
    if let Err(e) = try_record_derived(paths, id, digest, facts) {
        tracing::debug!(error = %e, "could not record the token state");
    }
}

/// [`record_derived`], reporting a failed write: a cached token is recorded here *before* its
/// keychain entry is written, so that a sign-out finds every entry (an entry with no record
/// would only be found by a keychain search); with no record, no entry is written.
pub fn try_record_derived(
    paths: &Paths,
    id: &Uuid,
    digest: &str,
    facts: Option<DerivedFacts>,
) -> std::io::Result<()> {
    let mut tokens = read_derived(paths, id).unwrap_or_default();
    let changed = match facts {
        Some(f) => tokens.insert(digest.to_string(), f.clone()) != Some(f),
        None => tokens.remove(digest).is_some(),
    };
    if changed || !paths.derived_token_state(id).exists() {
        let bytes =
            serde_json::to_vec(&DerivedState { v: 1, tokens }).map_err(std::io::Error::other)?;
        crate::private::create_dir(&paths.token_state_dir())?;
        crate::private::write_atomic(&paths.derived_token_state(id), &bytes)?;
    }
    Ok(())
}

/// Writes the state only if the file is missing or says something else (after a keychain
/// read: brings the file of an older Latchkey, or one a crash left behind, up to date).
pub fn sync(paths: &Paths, id: &Uuid, set: Option<&TokenSet>) {
    if read(paths, id).as_ref() != Some(&TokenState::of(set)) {
        write(paths, id, set);
    }
}

/// Removes the account's files (the account was removed).
pub fn remove(paths: &Paths, id: &Uuid) {
    let _ = std::fs::remove_file(paths.token_state(id));
    remove_derived(paths, id);
}

/// Removes the facts of every extra cached token of the account (they were deleted).
pub fn remove_derived(paths: &Paths, id: &Uuid) {
    let _ = std::fs::remove_file(paths.derived_token_state(id));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_holds_no_secret_and_shadow_has_empty_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        let id = Uuid::new_v4();
        assert!(read(&paths, &id).is_none());
        let set = TokenSet {
            access_token: Secret::new("at-very-secret"),
            token_type: "Bearer".into(),
            refresh_token: Some(Secret::new("rt-very-secret")),
            id_token: None,
            expires_at: Some(OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap()),
            scope: Some("openid".into()),
            obtained_at: OffsetDateTime::from_unix_timestamp(1_899_996_400).unwrap(),
            session_expires_at: None,
        };
        write(&paths, &id, Some(&set));
        let text = std::fs::read_to_string(paths.token_state(&id)).unwrap();
        assert!(!text.contains("very-secret"), "{text}");
        let state = read(&paths, &id).unwrap();
        let shadow = state.shadow().unwrap();
        assert_eq!(shadow.expires_at, set.expires_at);
        assert_eq!(shadow.access_token.expose(), "");
        assert_eq!(shadow.refresh_token.as_ref().map(Secret::expose), Some(""));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(paths.token_state(&id))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        write(&paths, &id, None);
        assert_eq!(read(&paths, &id).unwrap().tokens, None);
        remove(&paths, &id);
        assert!(read(&paths, &id).is_none());
    }

    #[test]
    fn derived_facts_are_recorded_forgotten_and_removed_with_the_account() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        let id = Uuid::new_v4();
        assert!(read_derived(&paths, &id).is_none());
        let facts = DerivedFacts {
            granted_scope: Some("api:read".into()),
            expires_at: Some(OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap()),
        };
        record_derived(&paths, &id, "d1", Some(facts.clone()));
        record_derived(&paths, &id, "d2", Some(facts.clone()));
        let got = read_derived(&paths, &id).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got["d1"], facts);
        record_derived(&paths, &id, "d1", None);
        assert_eq!(
            read_derived(&paths, &id)
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["d2"]
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(paths.derived_token_state(&id))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        write(&paths, &id, None);
        remove(&paths, &id);
        assert!(read_derived(&paths, &id).is_none());
    }
}
