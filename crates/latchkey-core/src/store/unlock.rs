//! Where the vault's passphrase and key come from: unlock once per session.
//!
//! In order, [`super::vault::VaultStore`] tries: the key already in this process's memory (the
//! agent and the desktop app keep it for their life, pages locked in RAM where the OS allows);
//! the key cached in the kernel keyring ([`KeyCache`]: the user's session keyring, else the
//! user keyring, with a timeout, default [`DEFAULT_CACHE_TTL`]); the password command
//! ([`PASSWORD_COMMAND_ENV`], e.g. `pass show latchkey`: its standard output is the
//! passphrase); and last a person ([`PassphraseSource`], injected by the shell: the CLI asks on
//! the terminal, the desktop app shows its unlock dialog, tests script it).
//!
//! What is cached is the vault's key (an age X25519 identity unwrapped with the passphrase),
//! never the passphrase itself. `latchkey lock` removes it ([`KeyCache::clear`]). The cache is
//! best effort: where the kernel keyring cannot be used (containers whose seccomp filter refuses
//! `add_key`, kernels without keys) every process asks again, and `-v` says why.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, KeychainProblem, Result};
use crate::secret::Secret;

/// Environment variable naming a command whose standard output is the vault's passphrase.
pub const PASSWORD_COMMAND_ENV: &str = "LATCHKEY_VAULT_PASSWORD_COMMAND";

/// How long the kernel keyring keeps the vault key unless the settings say otherwise.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(8 * 3600);

/// Longest run of the password command.
const COMMAND_DEADLINE: Duration = Duration::from_secs(60);

/// Why a passphrase is asked for: the words are the shell's, the facts the core's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassphraseRequest {
    /// Open the existing vault at this path.
    Unlock {
        /// The vault file.
        vault: std::path::PathBuf,
    },
    /// Create a new vault at this path (a person is asked twice).
    Create {
        /// The vault file.
        vault: std::path::PathBuf,
        /// Why the vault is being created (e.g. no Secret Service answered, and what it said).
        reason: String,
    },
}

/// A person asked for the vault's passphrase (the CLI's terminal prompt without echo, the
/// app's dialog). Blocking. Returns an error of kind keychain ([`KeychainProblem::VaultLocked`])
/// when nobody can be asked here.
pub trait PassphraseSource: Send + Sync {
    /// The passphrase for `request` (for [`PassphraseRequest::Create`], already confirmed).
    fn passphrase(&self, request: &PassphraseRequest) -> Result<Secret>;
}

/// The source of a process that cannot ask anyone (a service, the desktop app before its
/// dialog answered): always [`KeychainProblem::VaultLocked`].
#[derive(Debug, Default, Clone, Copy)]
pub struct NobodyToAsk;

impl PassphraseSource for NobodyToAsk {
    fn passphrase(&self, request: &PassphraseRequest) -> Result<Secret> {
        Err(match request {
            PassphraseRequest::Unlock { vault } => {
                Error::keychain(KeychainProblem::VaultLocked, format!("{}", vault.display()))
            }
            PassphraseRequest::Create { vault, reason } => cannot_create(
                vault,
                reason,
                "there is nobody to ask for its passphrase here",
            ),
        })
    }
}

/// The error when no store can be used: no Secret Service answered (`reason`) and a new vault
/// cannot be created because no passphrase can be had (`why`). Of kind keychain
/// ([`KeychainProblem::Unavailable`]: "Latchkey never stores secrets in plain files"), saying
/// how to get a vault.
pub fn cannot_create(vault: &Path, reason: &str, why: &str) -> Error {
    Error::keychain(
        KeychainProblem::Unavailable,
        format!(
            "{reason}; an encrypted vault would be created at {}, but {why}: unlock it in a terminal, or set {PASSWORD_COMMAND_ENV}",
            vault.display()
        ),
    )
    .with_remedy(crate::remedy::Remedy::UnlockVault)
}

/// Runs the password command (`sh -c COMMAND`, stdin closed, stderr passed through) and returns
/// its standard output without the trailing newline. A failing command, an empty output or a
/// run longer than a minute is an error that names the variable, never the output.
pub fn run_password_command(command: &str) -> Result<Secret> {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let failed = |detail: String| {
        Error::keychain(
            KeychainProblem::VaultLocked,
            format!("{PASSWORD_COMMAND_ENV}: {detail}"),
        )
    };
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| failed(format!("cannot run the command ({e})")))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| failed("no standard output".into()))?;
    let reader = std::thread::spawn(move || {
        let mut out = zeroize::Zeroizing::new(Vec::new());
        // At most 64 KiB: a passphrase, not a file.
        let _ = (&mut stdout).take(64 * 1024).read_to_end(&mut out);
        out
    });
    let start = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() < COMMAND_DEADLINE => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed(format!(
                    "the command did not finish within {} s",
                    COMMAND_DEADLINE.as_secs()
                )));
            }
            Err(e) => return Err(failed(format!("waiting for the command ({e})"))),
        }
    };
    let out = reader
        .join()
        .map_err(|_| failed("reading the command's output failed".into()))?;
    if !status.success() {
        return Err(failed(format!("the command failed ({status})")));
    }
    let text = std::str::from_utf8(&out).map_err(|_| failed("the output is not UTF-8".into()))?;
    let pass = text.strip_suffix('\n').unwrap_or(text);
    let pass = pass.strip_suffix('\r').unwrap_or(pass);
    if pass.is_empty() {
        return Err(failed(
            "the command printed nothing (an empty passphrase is refused)".into(),
        ));
    }
    Ok(Secret::new(pass))
}

/// A cache of the unwrapped vault key with a timeout. Blocking; best effort (a failure is
/// logged by the caller and the key is asked for again).
pub trait KeyCache: Send + Sync {
    /// The cached value under `name`, if any.
    fn get(&self, name: &str) -> Result<Option<Secret>>;
    /// Caches `value` under `name` for `ttl`.
    fn put(&self, name: &str, value: &Secret, ttl: Duration) -> Result<()>;
    /// Removes `name`; `Ok(true)` if something was removed.
    fn clear(&self, name: &str) -> Result<bool>;
    /// Where the cache is, for people ("the kernel session keyring").
    fn describe(&self) -> String;
}

/// No cache: every process asks (tests; platforms without a kernel keyring).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoCache;

impl KeyCache for NoCache {
    fn get(&self, _name: &str) -> Result<Option<Secret>> {
        Ok(None)
    }
    fn put(&self, _name: &str, _value: &Secret, _ttl: Duration) -> Result<()> {
        Ok(())
    }
    fn clear(&self, _name: &str) -> Result<bool> {
        Ok(false)
    }
    fn describe(&self) -> String {
        "no key cache".into()
    }
}

/// The Linux kernel keyring (keyutils): the process's session keyring, else the user keyring.
/// Keys live in kernel memory only, are lost at reboot and expire after their timeout.
#[derive(Debug, Default, Clone, Copy)]
pub struct KernelKeyring;

#[cfg(target_os = "linux")]
mod kernel {
    use super::*;
    use linux_keyutils::{KeyError, KeyRing, KeyRingIdentifier};

    fn failed(what: &str, e: KeyError) -> Error {
        Error::keychain(
            KeychainProblem::VaultFailed,
            format!("kernel keyring: {what}: {e:?}"),
        )
    }

    /// The session keyring if this process has one, else the user keyring.
    pub(super) fn ring() -> Result<(KeyRing, &'static str)> {
        match KeyRing::from_special_id(KeyRingIdentifier::Session, false) {
            Ok(r) => Ok((r, "session")),
            Err(_) => KeyRing::from_special_id(KeyRingIdentifier::User, true)
                .map(|r| (r, "user"))
                .map_err(|e| failed("no session or user keyring", e)),
        }
    }

    impl KeyCache for KernelKeyring {
        fn get(&self, name: &str) -> Result<Option<Secret>> {
            let (ring, _) = ring()?;
            let key = match ring.search(name) {
                Ok(k) => k,
                Err(KeyError::KeyDoesNotExist | KeyError::KeyExpired | KeyError::KeyRevoked) => {
                    return Ok(None);
                }
                Err(e) => return Err(failed("search", e)),
            };
            let bytes = zeroize::Zeroizing::new(key.read_to_vec().map_err(|e| failed("read", e))?);
            let text = std::str::from_utf8(&bytes).map_err(|_| {
                Error::keychain(
                    KeychainProblem::VaultFailed,
                    "kernel keyring: cached key is not text",
                )
            })?;
            Ok(Some(Secret::new(text)))
        }

        fn put(&self, name: &str, value: &Secret, ttl: Duration) -> Result<()> {
            let (ring, _) = ring()?;
            let key = ring
                .add_key(name, value.expose().as_bytes())
                .map_err(|e| failed("add", e))?;
            key.set_timeout(usize::try_from(ttl.as_secs()).unwrap_or(usize::MAX))
                .map_err(|e| failed("timeout", e))?;
            Ok(())
        }

        fn clear(&self, name: &str) -> Result<bool> {
            let mut removed = false;
            // Both rings: a key cached from a process without a session keyring sits in the
            // user keyring.
            for id in [KeyRingIdentifier::Session, KeyRingIdentifier::User] {
                let Ok(ring) = KeyRing::from_special_id(id, false) else {
                    continue;
                };
                while let Ok(key) = ring.search(name) {
                    key.invalidate().map_err(|e| failed("invalidate", e))?;
                    removed = true;
                }
            }
            Ok(removed)
        }

        fn describe(&self) -> String {
            match ring() {
                Ok((_, which)) => format!("the kernel {which} keyring"),
                Err(e) => format!("no kernel keyring ({e})"),
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
impl KeyCache for KernelKeyring {
    fn get(&self, name: &str) -> Result<Option<Secret>> {
        NoCache.get(name)
    }
    fn put(&self, name: &str, value: &Secret, ttl: Duration) -> Result<()> {
        NoCache.put(name, value, ttl)
    }
    fn clear(&self, name: &str) -> Result<bool> {
        NoCache.clear(name)
    }
    fn describe(&self) -> String {
        "no kernel keyring on this platform".into()
    }
}

/// The name of a vault's key in the cache: one per vault file (config dir), so two config dirs
/// never share a key.
pub fn cache_name(vault: &Path) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(vault.to_string_lossy().as_bytes());
    format!("latchkey:vault:{}", &hex::encode(digest)[..16])
}

/// How the vault is unlocked: the password command, the person, the cache and its timeout.
#[derive(Clone)]
pub struct UnlockOptions {
    /// `LATCHKEY_VAULT_PASSWORD_COMMAND`.
    pub password_command: Option<String>,
    /// Asked when there is no command.
    pub person: Arc<dyn PassphraseSource>,
    /// Where the unwrapped key is cached between processes.
    pub cache: Arc<dyn KeyCache>,
    /// How long the cache keeps it.
    pub cache_ttl: Duration,
    /// scrypt work factor (log2 N) of a new vault's passphrase wrapping.
    pub work_factor: u8,
}

impl std::fmt::Debug for UnlockOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnlockOptions")
            .field("password_command", &self.password_command.is_some())
            .field("cache_ttl", &self.cache_ttl)
            .field("work_factor", &self.work_factor)
            .finish_non_exhaustive()
    }
}

/// scrypt work factor of a new vault: 2^18 (age's own target of about a second; 256 MiB).
pub const DEFAULT_WORK_FACTOR: u8 = 18;

impl UnlockOptions {
    /// From the environment: the password command, the kernel keyring with the default
    /// timeout, and `person` (the shell's prompt). Debug builds honour
    /// `LATCHKEY_TEST_VAULT_WORK_FACTOR` (10–22) so end-to-end tests need not spend a second
    /// of scrypt per process; release builds always use [`DEFAULT_WORK_FACTOR`].
    pub fn from_env(person: Arc<dyn PassphraseSource>) -> Self {
        let password_command = std::env::var(PASSWORD_COMMAND_ENV)
            .ok()
            .filter(|c| !c.trim().is_empty());
        #[cfg(debug_assertions)]
        let work_factor = std::env::var("LATCHKEY_TEST_VAULT_WORK_FACTOR")
            .ok()
            .and_then(|v| v.parse::<u8>().ok())
            .filter(|n| (10..=22).contains(n))
            .unwrap_or(DEFAULT_WORK_FACTOR);
        #[cfg(not(debug_assertions))]
        let work_factor = DEFAULT_WORK_FACTOR;
        UnlockOptions {
            password_command,
            person,
            cache: Arc::new(KernelKeyring),
            cache_ttl: DEFAULT_CACHE_TTL,
            work_factor,
        }
    }

    /// The passphrase for `request`: the command's output if one is set, else the person's.
    /// An empty passphrase is refused.
    pub fn passphrase(&self, request: &PassphraseRequest) -> Result<Secret> {
        let pass = match &self.password_command {
            Some(cmd) => run_password_command(cmd)?,
            None => self.person.passphrase(request)?,
        };
        if pass.is_empty() {
            return Err(Error::keychain(
                KeychainProblem::VaultLocked,
                "an empty passphrase is refused",
            ));
        }
        Ok(pass)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_command_output_is_the_passphrase() {
        let p = run_password_command("printf 'correct horse\\n'").unwrap();
        assert_eq!(p.expose(), "correct horse");
        let e = run_password_command("true").unwrap_err();
        assert!(e.to_string().contains("empty passphrase is refused"), "{e}");
        let e = run_password_command("echo s3cret-out; exit 3").unwrap_err();
        assert!(e.to_string().contains("failed"), "{e}");
        assert!(!e.to_string().contains("s3cret-out"), "{e}");
    }

    #[test]
    fn nobody_to_ask_is_a_locked_vault() {
        let e = NobodyToAsk
            .passphrase(&PassphraseRequest::Unlock {
                vault: "/x/vault.json".into(),
            })
            .unwrap_err();
        assert!(matches!(
            e,
            Error::Keychain {
                problem: KeychainProblem::VaultLocked,
                ..
            }
        ));
        assert_eq!(e.remedy(), Some(crate::remedy::Remedy::UnlockVault));
    }

    #[test]
    fn cache_names_differ_per_vault() {
        assert_ne!(
            cache_name(Path::new("/a/vault.json")),
            cache_name(Path::new("/b/vault.json"))
        );
        assert!(cache_name(Path::new("/a/vault.json")).starts_with("latchkey:vault:"));
    }
}
