//! Provider-supplied text made safe to show and to store.
//!
//! Every string a provider (or a callback URL) controls — `error`, `error_description`,
//! `error_uri`, device `user_code`, identity names, HTML page titles — passes through
//! [`clean`] where it enters the core. It removes what a terminal or a log viewer would
//! interpret (C0 controls including ESC and newlines, DEL, C1 controls such as CSI/OSC, and the
//! Unicode bidi overrides that reorder text) and caps the length, so a hostile provider cannot
//! rewrite the terminal title, hide text, write the clipboard (OSC 52) or fill `accounts.toml`
//! with a megabyte of "reason".
//!
//! Also the one way a length of time is written for people ([`human_duration`]): the CLI, the
//! tray, the app's notifications and (mirrored in `ui/main.js`) the window say it alike.

/// Longest `error_description` kept (characters).
pub const MAX_DESCRIPTION: usize = 300;
/// Longest OAuth `error` code kept.
pub const MAX_ERROR_CODE: usize = 64;
/// Longest `error_uri` kept.
pub const MAX_URI: usize = 200;
/// Longest identity field (sub, email, name, username) kept.
pub const MAX_IDENTITY: usize = 256;
/// Longest device `user_code` kept.
pub const MAX_USER_CODE: usize = 64;
/// Longest HTML title or body snippet quoted in an error.
pub const MAX_SNIPPET: usize = 120;

/// A length of time for people, in its two largest units: "59s", "4m 10s", "2h 5m", "1d 1h";
/// negative (in the past): "3m 0s ago". The one formatter of the CLI, the tray and the app's
/// notifications; `ui/main.js` (`fmtDuration`) follows the same rules.
pub fn human_duration(secs: i64) -> String {
    let s = secs.unsigned_abs();
    let text = if s >= 86_400 {
        format!("{}d {}h", s / 86_400, (s % 86_400) / 3600)
    } else if s >= 3600 {
        format!("{}h {}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m {}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    };
    if secs < 0 {
        format!("{text} ago")
    } else {
        text
    }
}

pub use latchkey_wire::text::{clean, clean_lines, is_unsafe};

/// The crates whose events `LATCHKEY_LOG=<level>` turns on.
pub const LOG_CRATES: [&str; 3] = ["latchkey", "latchkey_core", "latchkey_app"];

/// A `LATCHKEY_LOG` value as a tracing filter: a bare level (`trace`, `debug`) applies to
/// Latchkey's own crates only, not to hyper, reqwest, rustls or zbus (whose trace output is huge
/// and can carry request details); a full directive list (`latchkey_core=debug,hyper=trace`,
/// anything with `=` or `,`) is taken as written.
pub fn log_filter(value: &str) -> String {
    let v = value.trim();
    if v.contains('=') || v.contains(',') || v.is_empty() {
        return v.to_string();
    }
    LOG_CRATES
        .iter()
        .map(|c| format!("{c}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// [`clean`] on an optional string; an empty result becomes `None`.
pub fn clean_opt(s: Option<String>, max: usize) -> Option<String> {
    s.map(|s| clean(&s, max)).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_the_same_everywhere() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(59), "59s");
        assert_eq!(human_duration(250), "4m 10s");
        assert_eq!(human_duration(7500), "2h 5m");
        assert_eq!(human_duration(-180), "3m 0s ago");
        assert_eq!(human_duration(90_000), "1d 1h");
        assert!(human_duration(i64::MIN).ends_with("h ago"));
    }

    #[test]
    fn clean_lines_keeps_line_breaks_and_indents_only() {
        let c = clean_lines("bad\u{1b}[2J thing:\n  latchkey login x\r\u{7}", 100);
        assert_eq!(c, "bad[2J thing:\n  latchkey login x");
        assert!(!c.chars().any(|c| c != '\n' && is_unsafe(c)));
    }

    #[test]
    fn strips_escapes_and_controls() {
        let hostile = "\u{1b}]0;pwned\u{7}\u{1b}[8mhidden\u{1b}[0m\u{1b}]52;c;Y3VybA==\u{7}\u{9b}31m ok\u{202E}gnp";
        let c = clean(hostile, 100);
        assert!(!c.chars().any(is_unsafe), "{c:?}");
        assert!(!c.contains('\u{1b}'));
        assert_eq!(c, "]0;pwned[8mhidden[0m]52;c;Y3VybA==31m okgnp");
    }

    #[test]
    fn a_bare_log_level_is_scoped_to_latchkey() {
        assert_eq!(
            log_filter("trace"),
            "latchkey=trace,latchkey_core=trace,latchkey_app=trace"
        );
        assert!(!log_filter("trace").contains("hyper"));
        assert_eq!(log_filter("hyper=trace"), "hyper=trace");
        assert_eq!(log_filter("info,zbus=debug"), "info,zbus=debug");
    }

    #[test]
    fn caps_length_and_folds_whitespace() {
        let long = "x".repeat(1 << 20);
        let c = clean(&long, MAX_DESCRIPTION);
        assert_eq!(c.chars().count(), MAX_DESCRIPTION + 1);
        assert!(c.ends_with('…'));
        assert_eq!(clean("  a\r\n\tb  ", 10), "a b");
        assert_eq!(clean_opt(Some("\u{1b}\u{7}".into()), 10), None);
        assert_eq!(clean("ünïcødé ok", 7), "ünïcødé…");
    }
}
