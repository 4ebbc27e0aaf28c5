//! The one error type the app's commands return over IPC: `{kind, message}`.
//!
//! `kind` is the core's stable [`ErrorKind`] (snake_case), so the page can branch on it (offer
//! "Replace identity?" for `identity_mismatch`, "unlock your keyring" for `keychain`, …);
//! `message` is the core's text for people. Core messages never contain a secret, and nothing
//! else is added here.

use latchkey_core::{Error, ErrorKind};
use serde::Serialize;

/// An error as the web page receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IpcError {
    /// Stable machine-readable kind.
    pub kind: ErrorKind,
    /// What happened and what to do, for people.
    pub message: String,
}

impl IpcError {
    /// An error of `kind` with this message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        IpcError {
            kind,
            message: message.into(),
        }
    }
}

impl From<Error> for IpcError {
    fn from(e: Error) -> Self {
        tracing::debug!(kind = %e.kind(), "command failed: {e}");
        IpcError {
            kind: e.kind(),
            message: e.to_string(),
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
        assert_eq!(json.as_object().map(|o| o.len()), Some(2));
    }
}
