//! The one error type the app's commands return over IPC: `{kind, message, remedy?}`.
//!
//! `kind` is the core's stable [`ErrorKind`] (snake_case), so the page can branch on it (offer
//! "Replace identity?" for `identity_mismatch`, "unlock your keyring" for `keychain`, …);
//! `message` is the core's text for people. Core messages never contain a secret, and nothing
//! else is added here.

use latchkey_core::{Error, ErrorKind, Remedy};
use serde::Serialize;

/// An error as the web page receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IpcError {
    /// Stable machine-readable kind.
    pub kind: ErrorKind,
    /// What happened, for people (names no command).
    pub message: String,
    /// What to do about it, as data: the page offers a "Sign in" button for a sign-in
    /// remedy ([`Remedy::is_sign_in`], `remedy.account`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<Remedy>,
}

impl IpcError {
    /// An error of `kind` with this message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        IpcError {
            kind,
            message: message.into(),
            remedy: None,
        }
    }
}

impl From<Error> for IpcError {
    fn from(e: Error) -> Self {
        tracing::debug!(kind = %e.kind(), "command failed: {e}");
        IpcError {
            kind: e.kind(),
            message: e.to_string(),
            remedy: e.remedy(),
        }
    }
}

impl std::fmt::Display for IpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_kind_and_message() {
        let e = IpcError::from(Error::UnknownAccount("work".into()));
        let json = serde_json::to_value(&e).expect("serializes");
        assert_eq!(json["kind"], "not_found");
        assert!(json["message"].as_str().is_some_and(|m| m.contains("work")));
        assert_eq!(json["remedy"]["do"], "list_accounts");
        let e = IpcError::from(Error::NeedsSignIn {
            account: "work".into(),
            reason: "no tokens".into(),
        });
        let json = serde_json::to_value(&e).expect("serializes");
        assert_eq!(json["remedy"]["do"], "sign_in");
        assert_eq!(json["remedy"]["account"], "work");
        assert!(
            json["message"]
                .as_str()
                .is_some_and(|m| !m.contains("latchkey login"))
        );
        let e = IpcError::new(ErrorKind::Other, "x");
        let json = serde_json::to_value(&e).expect("serializes");
        assert_eq!(json.as_object().map(|o| o.len()), Some(2));
    }
}
