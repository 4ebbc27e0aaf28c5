//! The platform keychain through `keyring-core` and the platform store crates.
//!
//! - Linux/BSD: Secret Service over D-Bus (`zbus-secret-service-keyring-store`). Verified.
//! - macOS: Keychain Services (`apple-native-keyring-store`). Unverified: not yet tested on a Mac.
//! - Windows: Credential Manager (`windows-native-keyring-store`), whose items hold at most
//!   2,560 bytes; [`super::Keychain`] splits longer values. Unverified: not yet tested on Windows.
//!
//! Items use service [`KEYCHAIN_SERVICE`] and user `<key>` so that
//! `secret-tool search --all service latchkey` lists them.

use std::collections::HashMap;
use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};

use super::SecretStore;
use crate::config::KEYCHAIN_SERVICE;
use crate::error::{Error, KeychainProblem, Result};

/// A [`SecretStore`] over a `keyring-core` credential store.
pub struct KeyringStore {
    store: Arc<CredentialStore>,
    service: String,
    max_len: usize,
}

impl KeyringStore {
    /// Wraps a `keyring-core` store under a service name.
    pub fn new(store: Arc<CredentialStore>, service: impl Into<String>, max_len: usize) -> Self {
        KeyringStore {
            store,
            service: service.into(),
            max_len,
        }
    }

    fn entry(&self, key: &str) -> Result<Entry> {
        let label = format!("Latchkey: {key}");
        let mods = HashMap::from([("label", label.as_str())]);
        Entry::new_in_store_with_modifiers(&self.store, &self.service, key, &mods)
            .or_else(|_| Entry::new_in_store(&self.store, &self.service, key))
            .map_err(map_error)
    }
}

/// Maps a `keyring-core` error to ours (never includes secret data: `BadEncoding` bytes are dropped).
pub fn map_error(e: keyring_core::Error) -> Error {
    use keyring_core::Error as K;
    match e {
        K::NoStorageAccess(inner) => Error::keychain(KeychainProblem::Locked, inner.to_string()),
        K::PlatformFailure(inner) => {
            let text = inner.to_string();
            Error::keychain(classify_platform_failure(&text), text)
        }
        K::NoDefaultStore => Error::keychain(KeychainProblem::Unavailable, "no store"),
        K::BadEncoding(_) | K::BadDataFormat(..) => {
            Error::keychain(KeychainProblem::Corrupt, "item is not UTF-8 text")
        }
        other => Error::keychain(KeychainProblem::Failed, other.to_string()),
    }
}

fn classify_platform_failure(text: &str) -> KeychainProblem {
    let t = text.to_ascii_lowercase();
    let unavailable = [
        "serviceunknown",
        "not provided by any .service",
        "no such file",
        "connection refused",
        "failed to connect",
        "address",
        "dbus_session_bus_address",
        "name has no owner",
    ];
    if unavailable.iter().any(|p| t.contains(p)) {
        KeychainProblem::Unavailable
    } else if t.contains("locked") || t.contains("prompt") {
        KeychainProblem::Locked
    } else {
        KeychainProblem::Failed
    }
}

impl SecretStore for KeyringStore {
    fn get(&self, key: &str) -> Result<Option<String>> {
        match self.entry(key)?.get_password() {
            Ok(v) => Ok(Some(v)),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_error(e)),
        }
    }

    fn set(&self, key: &str, value: &str) -> Result<()> {
        self.entry(key)?.set_password(value).map_err(map_error)
    }

    fn delete(&self, key: &str) -> Result<bool> {
        match self.entry(key)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            Err(e) => Err(map_error(e)),
        }
    }

    fn max_value_len(&self) -> usize {
        self.max_len
    }

    /// Secret Service: a search by the `service` attribute, then the `username` attribute
    /// (our key) of each item. Elsewhere no search (the stores' search specs differ).
    fn keys_with_prefix(&self, prefix: &str) -> Result<Option<Vec<String>>> {
        if !cfg!(any(
            target_os = "linux",
            target_os = "freebsd",
            target_os = "openbsd"
        )) {
            return Ok(None);
        }
        let spec = HashMap::from([("service", self.service.as_str())]);
        let entries = self.store.search(&spec).map_err(map_error)?;
        let mut keys = Vec::new();
        for entry in entries {
            // An item deleted since the search (another process finishing a sign-in) is gone.
            let Ok(attributes) = entry.get_attributes() else {
                continue;
            };
            if attributes.get("service").map(String::as_str) != Some(self.service.as_str()) {
                continue;
            }
            if let Some(user) = attributes.get("username")
                && user.starts_with(prefix)
            {
                keys.push(user.clone());
            }
        }
        Ok(Some(keys))
    }
}

/// Opens the platform's keychain (blocking; [`super::Keychain`] calls it under its deadline).
pub fn platform_store() -> Result<Arc<dyn SecretStore>> {
    platform_store_for(KEYCHAIN_SERVICE)
}

/// Opens the platform's keychain under another service name (tests use this to stay apart).
pub fn platform_store_for(service: &str) -> Result<Arc<dyn SecretStore>> {
    let (store, max_len) = open_platform()?;
    Ok(Arc::new(KeyringStore::new(store, service, max_len)))
}

#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
fn open_platform() -> Result<(Arc<CredentialStore>, usize)> {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none()
        && std::env::var_os("XDG_RUNTIME_DIR").is_none()
    {
        return Err(Error::keychain(
            KeychainProblem::Unavailable,
            "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)",
        ));
    }
    let store = zbus_secret_service_keyring_store::Store::new().map_err(|e| {
        let text = e.to_string();
        Error::keychain(KeychainProblem::Unavailable, text)
    })?;
    Ok((store as Arc<CredentialStore>, 1024 * 1024))
}

/// A keychain service that started less than this long ago is reported as restarted.
const RECENT_START_SECS: u64 = 120;

/// After a failed call: whether the Secret Service daemon (the owner of
/// `org.freedesktop.secrets`) is missing, or started recently or after this process — a
/// restarted daemon (it crashed, or D-Bus activated a new one), which may be locked and then
/// refuses or prompts. `None` when nothing points that way or it cannot be told.
pub fn service_restart_note() -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        use zbus::blocking::{Connection, fdo::DBusProxy};
        use zbus::names::BusName;
        let conn = Connection::session().ok()?;
        let bus = DBusProxy::new(&conn).ok()?;
        let name = BusName::try_from("org.freedesktop.secrets").ok()?;
        let Ok(owner) = bus.get_name_owner(name.clone()) else {
            return Some(
                "no keychain service owns org.freedesktop.secrets on the session bus now (the daemon stopped?)"
                    .into(),
            );
        };
        let pid = bus.get_connection_unix_process_id(name).ok()?;
        let age = process_age_secs(pid)?;
        let ours = process_age_secs(std::process::id())?;
        if age < ours {
            return Some(format!(
                "the keychain service restarted while Latchkey was running (pid {pid}, bus name {owner}, started {age} s ago); the new one may be locked: unlock the keyring if asked"
            ));
        }
        if age < RECENT_START_SECS {
            return Some(format!(
                "the keychain service (pid {pid}, bus name {owner}) started only {age} s ago; if it restarted, the new one may be locked: unlock the keyring if asked"
            ));
        }
        None
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// Seconds since process `pid` started (`/proc/<pid>/stat` field 22, in USER_HZ = 100 ticks).
#[cfg(target_os = "linux")]
fn process_age_secs(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces and parentheses) start at field 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    let start_ticks: u64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
    let up: f64 = uptime.split_whitespace().next()?.parse().ok()?;
    Some((up as u64).saturating_sub(start_ticks / 100))
}

#[cfg(target_os = "macos")]
fn open_platform() -> Result<(Arc<CredentialStore>, usize)> {
    let store = apple_native_keyring_store::keychain::Store::new().map_err(map_error)?;
    Ok((store as Arc<CredentialStore>, 64 * 1024))
}

#[cfg(target_os = "windows")]
fn open_platform() -> Result<(Arc<CredentialStore>, usize)> {
    let store = windows_native_keyring_store::Store::new().map_err(map_error)?;
    // 2,560 bytes per item; values are stored as UTF-16, so stay at half in UTF-8 bytes.
    Ok((store as Arc<CredentialStore>, 1200))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_failures_are_classified() {
        assert_eq!(
            classify_platform_failure(
                "org.freedesktop.DBus.Error.ServiceUnknown: The name org.freedesktop.secrets was not provided by any .service files"
            ),
            KeychainProblem::Unavailable
        );
        assert_eq!(
            classify_platform_failure("collection is locked"),
            KeychainProblem::Locked
        );
        assert_eq!(
            classify_platform_failure("something odd"),
            KeychainProblem::Failed
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn process_age_of_this_process_is_known_and_small() {
        let age = process_age_secs(std::process::id()).expect("/proc is readable");
        // This test process started at most a few minutes ago.
        assert!(age < 3600, "{age}");
        assert!(process_age_secs(u32::MAX).is_none());
    }

    #[test]
    fn bad_encoding_never_carries_bytes() {
        let e = map_error(keyring_core::Error::BadEncoding(b"secret-bytes".to_vec()));
        assert!(!e.to_string().contains("secret"));
    }
}
