//! [`Secret`]: a string that never prints itself.
//!
//! Tokens, client secrets, PKCE verifiers and keys are held in `Secret`s. `Debug` and
//! `Display` print `[redacted]`, equality is constant-time, and the memory is zeroed on drop.
//! The only way to see the value is [`Secret::expose`], which makes every use greppable.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// A secret string (token, client secret, verifier). See the module docs.
#[derive(Clone, Default)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Zeroizing::new(value.into()))
    }

    /// The secret value. Use it only to send it where it belongs.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    /// Asks the OS to keep the memory holding this value in RAM, never written to swap
    /// (`mlock`; `VirtualLock` on Windows), for values a long-lived process holds (the agent's
    /// token memory). Best effort, within the OS's locked-memory limit (`RLIMIT_MEMLOCK`, often
    /// 8 MiB); returns whether it worked. The pages stay locked until the process exits (another
    /// value may share a page, and unlocking one would unlock both); the value is still zeroed
    /// on drop. Copies made later (a clone handed to a caller) are not locked.
    pub fn keep_in_ram(&self) -> bool {
        let capacity = self.0.capacity();
        if capacity == 0 {
            return true;
        }
        match region::lock(self.0.as_ptr(), capacity) {
            Ok(guard) => {
                // Unlocking on drop could unlock a page another held value shares.
                std::mem::forget(guard);
                true
            }
            Err(_) => false,
        }
    }

    /// True if the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for Secret {}

/// Constant-time comparison of two strings (lengths may leak, contents do not).
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Serializes the *value*: use only for writing to the keychain.
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pages of a value kept in RAM are locked (Linux: they count in `VmLck`).
    #[cfg(target_os = "linux")]
    #[test]
    fn keep_in_ram_locks_the_pages_of_the_value() {
        use nix::sys::resource::{Resource, getrlimit};
        let locked_kb = || -> u64 {
            std::fs::read_to_string("/proc/self/status")
                .unwrap()
                .lines()
                .find_map(|l| l.strip_prefix("VmLck:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap()
        };
        let (soft, _) = getrlimit(Resource::RLIMIT_MEMLOCK).unwrap();
        let s = Secret::new("x".repeat(6000));
        let ok = s.keep_in_ram();
        if soft >= 64 * 1024 {
            assert!(ok, "mlock within a {soft} byte limit");
            // 6,000 bytes span at least two 4 KiB pages.
            assert!(locked_kb() >= 8, "VmLck {} kB", locked_kb());
        }
        assert!(Secret::new("").keep_in_ram(), "nothing to lock");
        assert_eq!(s.expose().len(), 6000, "the value is untouched");
    }

    #[test]
    fn never_prints_its_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&s)), "Some([redacted])");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn compares_by_value() {
        assert_eq!(Secret::new("a"), Secret::new("a"));
        assert_ne!(Secret::new("a"), Secret::new("b"));
        assert_ne!(Secret::new("a"), Secret::new("ab"));
        assert!(ct_eq("state", "state"));
        assert!(!ct_eq("state", "stat3"));
    }

    #[test]
    fn serde_roundtrip_keeps_value() {
        let s = Secret::new("v");
        let j = serde_json::to_string(&s).unwrap_or_default();
        assert_eq!(j, "\"v\"");
        let back: Secret = serde_json::from_str(&j).unwrap_or_default();
        assert_eq!(back, s);
    }
}
