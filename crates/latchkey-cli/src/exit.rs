//! The CLI's exit codes (documented in `latchkey --help`): the core classifies an error by its
//! stable [`ErrorKind`]; which number a process exits with is the CLI's business.

use latchkey_core::ErrorKind;

/// Exit status of `latchkey request` when the server answered with HTTP 400 or more: not an
/// error of Latchkey (the response is printed), so it has no [`ErrorKind`]; the other exit codes
/// all come from [`code`].
pub const EXIT_HTTP_ERROR_STATUS: u8 = 6;

/// The exit code for an error of this kind.
pub fn code(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::InvalidInput => 2,
        ErrorKind::NeedsSignIn => 3,
        ErrorKind::Provider | ErrorKind::RefreshRefused | ErrorKind::ProviderUnreachable => 4,
        ErrorKind::Keychain => 5,
        ErrorKind::Denied => 7,
        ErrorKind::Interrupted => 130,
        _ => 1,
    }
}

/// [`code`] as a process exit status.
pub fn status(kind: ErrorKind) -> u8 {
    u8::try_from(code(kind)).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_stable() {
        assert_eq!(code(ErrorKind::NeedsSignIn), 3);
        assert_eq!(code(ErrorKind::ProviderUnreachable), 4);
        assert_eq!(code(ErrorKind::Provider), 4);
        assert_eq!(code(ErrorKind::RefreshRefused), 4);
        assert_eq!(code(ErrorKind::Keychain), 5);
        assert_eq!(code(ErrorKind::InvalidInput), 2);
        assert_eq!(code(ErrorKind::Interrupted), 130);
        assert_eq!(code(ErrorKind::Other), 1);
        assert_eq!(code(ErrorKind::Denied), 7);
        assert_eq!(code(ErrorKind::NotFound), 1);
        assert_eq!(status(ErrorKind::Interrupted), 130);
        assert_eq!(EXIT_HTTP_ERROR_STATUS, 6);
    }
}
