//! The vault's passphrase asked on the terminal (`/dev/tty`, never standard input, which may
//! carry a pasted redirect URL or git's credential protocol), without echo. A new vault is
//! explained first and its passphrase asked twice. Where there is no terminal, the core's
//! "vault locked" error says what to do instead (`latchkey unlock`, the password command).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use latchkey_core::store::unlock::{PASSWORD_COMMAND_ENV, PassphraseRequest, PassphraseSource};
use latchkey_core::{Error, KeychainProblem, Secret};

/// Asks on the terminal while enabled (the agent asks only before it serves).
#[derive(Debug, Clone)]
pub struct TerminalPrompt {
    enabled: Arc<AtomicBool>,
}

impl TerminalPrompt {
    /// A prompt that asks.
    pub fn new() -> Self {
        TerminalPrompt {
            enabled: Arc::new(AtomicBool::new(true)),
        }
    }

    /// From now on nobody is asked (the call fails as a locked vault).
    pub fn disable(&self) {
        self.enabled.store(false, Ordering::SeqCst);
    }
}

fn locked(detail: String) -> Error {
    Error::keychain(KeychainProblem::VaultLocked, detail)
}

fn ask(prompt: &str) -> Result<Secret, Error> {
    rpassword::prompt_password(prompt)
        .map(Secret::new)
        .map_err(|e| {
            locked(format!(
                "no terminal to ask for the vault's passphrase ({e})"
            ))
        })
}

impl PassphraseSource for TerminalPrompt {
    fn passphrase(&self, request: &PassphraseRequest) -> Result<Secret, Error> {
        if !self.enabled.load(Ordering::SeqCst) {
            return latchkey_core::store::unlock::NobodyToAsk.passphrase(request);
        }
        match request {
            PassphraseRequest::Unlock { vault } => {
                let pass = ask(&format!(
                    "Passphrase of the Latchkey vault ({}): ",
                    vault.display()
                ))?;
                if pass.is_empty() {
                    return Err(locked("an empty passphrase is refused".into()));
                }
                Ok(pass)
            }
            PassphraseRequest::Create { vault, reason } => {
                if cfg!(unix) && std::fs::File::open("/dev/tty").is_err() {
                    return Err(latchkey_core::store::unlock::cannot_create(
                        vault,
                        reason,
                        "there is no terminal to ask for its passphrase",
                    ));
                }
                eprintln!(
                    "latchkey: {reason}.\n  Latchkey never keeps secrets in plain files: it will keep them in an encrypted vault,\n  {}, unlocked with a passphrase you choose now (asked once per session;\n  or set {PASSWORD_COMMAND_ENV}, e.g. `pass show latchkey`).",
                    vault.display()
                );
                for _ in 0..3 {
                    let first = ask("New vault passphrase: ")?;
                    if first.is_empty() {
                        eprintln!("latchkey: an empty passphrase is refused; try again.");
                        continue;
                    }
                    let second = ask("The same passphrase again: ")?;
                    if first == second {
                        return Ok(first);
                    }
                    eprintln!("latchkey: the two passphrases differ; try again.");
                }
                Err(locked(
                    "no vault was created (no passphrase confirmed)".into(),
                ))
            }
        }
    }
}
