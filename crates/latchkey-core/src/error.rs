//! The one error type of the core, and its stable [`ErrorKind`]s.
//!
//! Every failure the core can report is an [`Error`]. Its `Display` text is written for a
//! person: it says what happened and what to do, and never contains a secret. Programs (the
//! CLI's exit codes, the desktop app's IPC `{kind, message, remedy}`) branch on
//! [`Error::kind`], whose values are stable. What to do about an error is data
//! ([`Error::remedy`]): the message names no command, the shells word the remedy.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A stable, machine-readable classification of an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller asked for something malformed (bad flag combination, bad URL, unknown preset).
    InvalidInput,
    /// No account by that name or id.
    NotFound,
    /// An account with that name already exists.
    AlreadyExists,
    /// The account has no usable tokens, or the provider answered `invalid_grant`.
    NeedsSignIn,
    /// The provider answered with an OAuth error or an unusable response.
    Provider,
    /// The provider refused a request made with the account's refresh token, and may have
    /// spent the refresh token with it (the error's remedy says what to do next).
    RefreshRefused,
    /// The provider could not be reached (DNS, TCP, TLS, timeout, HTTP 5xx).
    ProviderUnreachable,
    /// The OS keychain is missing, locked, refused access or did not answer in time.
    Keychain,
    /// A sign-in callback (loopback request or deep link) was rejected.
    Callback,
    /// The id_token failed validation.
    InvalidIdToken,
    /// Signing in would replace the account's identity with another one.
    IdentityMismatch,
    /// The non-secret configuration file is unreadable or could not be written.
    Config,
    /// A wait (for a browser callback, a lock) ran out of time.
    Timeout,
    /// The operation was cancelled by the user.
    Interrupted,
    /// The owner did not approve the hand-out (denied, unanswered in time, or nobody could be
    /// asked: see [`crate::approval`]).
    Denied,
    /// Anything else (local I/O and the like).
    Other,
}

impl ErrorKind {
    /// The stable snake_case name used in JSON and IPC.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::NeedsSignIn => "needs_sign_in",
            ErrorKind::Provider => "provider",
            ErrorKind::RefreshRefused => "refresh_refused",
            ErrorKind::ProviderUnreachable => "provider_unreachable",
            ErrorKind::Keychain => "keychain",
            ErrorKind::Callback => "callback",
            ErrorKind::InvalidIdToken => "invalid_id_token",
            ErrorKind::IdentityMismatch => "identity_mismatch",
            ErrorKind::Config => "config",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::Denied => "denied",
            ErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the keychain could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeychainProblem {
    /// No keychain service is running or reachable (e.g. no Secret Service on the session bus).
    Unavailable,
    /// The keychain is locked, or the user dismissed the unlock prompt.
    Locked,
    /// The keychain did not answer within the deadline (often: waiting for an unlock prompt).
    TimedOut,
    /// The keychain answered with an error.
    Failed,
    /// An item in the keychain is not in the format Latchkey wrote.
    Corrupt,
    /// The encrypted vault (the store where no Secret Service runs) needs its passphrase and
    /// none could be asked for here (no terminal, no password command, no cached key).
    VaultLocked,
    /// The passphrase given for the vault does not open it (nothing was changed).
    WrongPassphrase,
    /// The vault file could not be read, decrypted or written.
    VaultFailed,
}

/// The core's error type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Malformed input from the caller.
    #[error("{0}")]
    InvalidInput(String),

    /// No such account.
    #[error("no account named `{0}`")]
    UnknownAccount(String),

    /// An account with this name exists already.
    #[error("an account named `{0}` already exists; pick another name")]
    AccountExists(String),

    /// The account must be signed in (again).
    #[error("account `{account}` needs sign-in: {reason}")]
    NeedsSignIn {
        /// Account name.
        account: String,
        /// Why, in words.
        reason: String,
    },

    /// The provider answered with an OAuth error (`error`, `error_description`).
    #[error("the provider refused the request: {error}{}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default(), hint.as_deref().map(|h| format!(". {h}")).unwrap_or_default())]
    ProviderError {
        /// The OAuth `error` code.
        error: crate::oauth_error::OAuthErrorCode,
        /// The provider's `error_description`, if any.
        description: Option<String>,
        /// What the user can do about it.
        hint: Option<String>,
    },

    /// The provider refused a request made with the account's refresh token (not with
    /// `invalid_grant`). Some providers spend (rotate) the refresh token before they check
    /// the request, so the sign-in may be used up: the request is not repeated, and `remedy`
    /// says what to do.
    #[error("the provider refused the request: {error}{}{}. It may have used up the sign-in of `{account}` with it (some providers spend the refresh token before they check the request); {advice}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default(), hint.as_deref().map(|h| format!(". {h}")).unwrap_or_default())]
    RefreshRefused {
        /// Account name.
        account: String,
        /// The OAuth `error` code.
        error: crate::oauth_error::OAuthErrorCode,
        /// The provider's `error_description`, if any.
        description: Option<String>,
        /// What the refusal means for this request.
        hint: Option<String>,
        /// What the refusal means for the sign-in, in words (no command).
        advice: &'static str,
        /// What to do about the sign-in.
        remedy: Box<crate::remedy::Remedy>,
    },

    /// The provider answered with something that is not a usable OAuth response.
    #[error("unexpected response from {url} (HTTP {status}): {detail}")]
    BadResponse {
        /// The endpoint (without query).
        url: String,
        /// HTTP status.
        status: u16,
        /// What was wrong (never the raw body of a successful token response).
        detail: String,
    },

    /// The provider could not be reached, or answered 5xx.
    #[error("could not reach the provider at {url}: {detail}")]
    Unreachable {
        /// The endpoint (without query).
        url: String,
        /// What went wrong.
        detail: String,
    },

    /// The keychain could not be used.
    #[error("{}", keychain_message(*problem, detail))]
    Keychain {
        /// The kind of problem.
        problem: KeychainProblem,
        /// Details from the platform (never a secret).
        detail: String,
    },

    /// A sign-in callback was rejected.
    #[error("sign-in callback rejected: {0}")]
    Callback(String),

    /// The id_token was invalid.
    #[error("the provider's id_token was rejected: {0}")]
    InvalidIdToken(String),

    /// Re-signing in would change the account's identity.
    #[error(
        "account `{account}` belongs to `{existing}`, but the sign-in was for `{new}`; sign in as `{existing}`, or replace the identity"
    )]
    IdentityMismatch {
        /// Account name.
        account: String,
        /// Identity on record.
        existing: String,
        /// Identity just signed in.
        new: String,
    },

    /// The configuration file could not be read or written.
    #[error("configuration file {path}: {detail}")]
    Config {
        /// File path.
        path: String,
        /// What went wrong.
        detail: String,
    },

    /// A wait ran out.
    #[error("timed out {0}")]
    Timeout(String),

    /// Cancelled by the user.
    #[error("interrupted")]
    Interrupted,

    /// Local I/O failure.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The agent answered with an error (its kind and message, as the agent's core said
    /// them; see [`crate::agent`]).
    #[error("{message}")]
    Agent {
        /// The kind the agent reported.
        kind: ErrorKind,
        /// The agent's message (never a secret).
        message: String,
        /// What the agent's core said to do about it.
        remedy: Option<Box<crate::remedy::Remedy>>,
    },

    /// An error with what to do about it ([`Error::with_remedy`]); says what the inner error
    /// says.
    #[error("{error}")]
    Remedied {
        /// The error.
        error: Box<Error>,
        /// What to do about it.
        remedy: Box<crate::remedy::Remedy>,
    },

    /// The owner did not approve a hand-out (see [`crate::approval`]); the message says who
    /// asked for what and why it was not approved.
    #[error("{message}")]
    Denied {
        /// For people.
        message: String,
        /// Nobody answered in time (rather than a "Deny").
        timed_out: bool,
    },

    /// Anything else.
    #[error("{0}")]
    Other(String),
}

fn keychain_message(problem: KeychainProblem, detail: &str) -> String {
    let what = match problem {
        KeychainProblem::Unavailable => {
            "the OS keychain is not available (on Linux: is a Secret Service such as gnome-keyring or KeePassXC running on the session D-Bus?); Latchkey never stores secrets in plain files"
        }
        KeychainProblem::Locked => {
            "the OS keychain is locked or access was refused; unlock it (e.g. log in to the desktop session, or `gnome-keyring-daemon --unlock`) and try again"
        }
        KeychainProblem::TimedOut => {
            "the OS keychain did not answer in time (it may be waiting for an unlock prompt); unlock it and try again"
        }
        KeychainProblem::Failed => "the OS keychain reported an error",
        KeychainProblem::Corrupt => {
            "a Latchkey item in the OS keychain is not in the expected format; sign in again to rewrite it"
        }
        KeychainProblem::VaultLocked => {
            "the Latchkey vault is locked; unlock it in a terminal, or set LATCHKEY_VAULT_PASSWORD_COMMAND to a command that prints its passphrase"
        }
        KeychainProblem::WrongPassphrase => {
            "wrong passphrase for the Latchkey vault; nothing was changed"
        }
        KeychainProblem::VaultFailed => "the Latchkey vault could not be used",
    };
    if detail.is_empty() {
        what.to_string()
    } else {
        format!("{what} ({detail})")
    }
}

impl Error {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidInput(_) => ErrorKind::InvalidInput,
            Error::UnknownAccount(_) => ErrorKind::NotFound,
            Error::AccountExists(_) => ErrorKind::AlreadyExists,
            Error::NeedsSignIn { .. } => ErrorKind::NeedsSignIn,
            Error::ProviderError { .. } | Error::BadResponse { .. } => ErrorKind::Provider,
            Error::RefreshRefused { .. } => ErrorKind::RefreshRefused,
            Error::Unreachable { .. } => ErrorKind::ProviderUnreachable,
            Error::Keychain { .. } => ErrorKind::Keychain,
            Error::Callback(_) => ErrorKind::Callback,
            Error::InvalidIdToken(_) => ErrorKind::InvalidIdToken,
            Error::IdentityMismatch { .. } => ErrorKind::IdentityMismatch,
            Error::Config { .. } => ErrorKind::Config,
            Error::Timeout(_) => ErrorKind::Timeout,
            Error::Interrupted => ErrorKind::Interrupted,
            Error::Denied { .. } => ErrorKind::Denied,
            Error::Agent { kind, .. } => *kind,
            Error::Remedied { error, .. } => error.kind(),
            Error::Io { .. } | Error::Other(_) => ErrorKind::Other,
        }
    }

    /// What the user can do about this error, if the core knows (the shells word it: a
    /// command in the CLI, a button in the app). The message ([`std::fmt::Display`]) never
    /// names a command.
    pub fn remedy(&self) -> Option<crate::remedy::Remedy> {
        use crate::remedy::Remedy;
        match self {
            Error::UnknownAccount(_) => Some(Remedy::ListAccounts),
            Error::AccountExists(_) => Some(Remedy::EditAccount),
            Error::NeedsSignIn { account, .. } => Some(Remedy::SignIn {
                account: account.clone(),
            }),
            Error::RefreshRefused { remedy, .. } | Error::Remedied { remedy, .. } => {
                Some((**remedy).clone())
            }
            Error::IdentityMismatch { account, .. } => Some(Remedy::SignInAgain {
                account: account.clone(),
                replace: true,
            }),
            Error::Keychain {
                problem: KeychainProblem::VaultLocked,
                ..
            } => Some(Remedy::UnlockVault),
            Error::Agent { remedy, .. } => remedy.as_deref().cloned(),
            _ => None,
        }
    }

    /// This error with `remedy` as what to do about it (its message and kind unchanged).
    pub fn with_remedy(self, remedy: crate::remedy::Remedy) -> Self {
        Error::Remedied {
            error: Box::new(self),
            remedy: Box::new(remedy),
        }
    }

    /// Shorthand for an I/O error with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Shorthand for a keychain error.
    pub fn keychain(problem: KeychainProblem, detail: impl Into<String>) -> Self {
        Error::Keychain {
            problem,
            detail: detail.into(),
        }
    }
}

/// The core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_error_message_names_code_and_description() {
        let e = Error::ProviderError {
            error: "access_denied".into(),
            description: Some("user said no".into()),
            hint: None,
        };
        assert_eq!(
            e.to_string(),
            "the provider refused the request: access_denied (user said no)"
        );
        assert_eq!(e.kind(), ErrorKind::Provider);
    }

    #[test]
    fn keychain_message_says_what_to_do() {
        let e = Error::keychain(KeychainProblem::Locked, "");
        assert!(e.to_string().contains("unlock"));
        assert_eq!(e.kind(), ErrorKind::Keychain);
    }
}
