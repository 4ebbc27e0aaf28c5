//! Signing in where no browser can be opened: the decision (pure, from the environment) and
//! the small pieces the no-browser sign-in prints or checks.
//!
//! A browser is not tried when `LATCHKEY_BROWSER=none`, when the session is remote
//! (`SSH_CONNECTION` / `SSH_TTY`: a browser would open on the far machine, or nowhere), or, on
//! Linux and the BSDs, when there is no display (`DISPLAY` and `WAYLAND_DISPLAY` unset). A
//! browser command set explicitly in `LATCHKEY_BROWSER` (say `w3m`) is trusted even then.
//!
//! Without a browser the caller prints the URL and (a) offers or uses the device flow where the
//! provider has one, (b) for a loopback redirect prints the exact `ssh -L` command that brings
//! the callback to this machine, and (c) accepts the final redirect URL pasted on standard
//! input, completed through [`crate::LoginManager::complete_sign_in`] like a real callback.

use crate::browser::{BROWSER_ENV, BROWSER_NONE};
use crate::flow::pkce::Callback;
use crate::manager::SignInMethod;
use crate::secret::Secret;

/// Why no browser is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoBrowserReason {
    /// The caller asked for it (`latchkey login --no-browser`).
    Requested,
    /// `LATCHKEY_BROWSER=none`.
    Disabled,
    /// `SSH_CONNECTION` or `SSH_TTY` is set.
    Remote,
    /// Neither `DISPLAY` nor `WAYLAND_DISPLAY` is set (Linux, BSD).
    NoDisplay,
}

impl NoBrowserReason {
    /// A sentence for the person at the terminal.
    pub fn explain(self) -> &'static str {
        match self {
            NoBrowserReason::Requested => "--no-browser: not opening a browser.",
            NoBrowserReason::Disabled => "LATCHKEY_BROWSER=none: not opening a browser.",
            NoBrowserReason::Remote => {
                "This is a remote (SSH) session: not opening a browser here."
            }
            NoBrowserReason::NoDisplay => {
                "No display (DISPLAY and WAYLAND_DISPLAY are unset): not opening a browser."
            }
        }
    }
}

/// Whether a browser can be opened, from the environment (`var` looks a variable up; empty
/// values count as unset). `needs_display` is true where browsers need an X11/Wayland display
/// (Linux, BSD); see [`platform_needs_display`].
pub fn no_browser_reason(
    var: impl Fn(&str) -> Option<String>,
    needs_display: bool,
) -> Option<NoBrowserReason> {
    let set = |name: &str| var(name).is_some_and(|v| !v.trim().is_empty());
    match var(BROWSER_ENV).map(|v| v.trim().to_string()) {
        Some(v) if v.eq_ignore_ascii_case(BROWSER_NONE) => return Some(NoBrowserReason::Disabled),
        // An explicit browser command is the user's choice, even over SSH.
        Some(v) if !v.is_empty() => return None,
        _ => {}
    }
    if set("SSH_CONNECTION") || set("SSH_TTY") {
        return Some(NoBrowserReason::Remote);
    }
    if needs_display && !set("DISPLAY") && !set("WAYLAND_DISPLAY") {
        return Some(NoBrowserReason::NoDisplay);
    }
    None
}

/// True where opening a browser needs an X11 or Wayland display.
pub const fn platform_needs_display() -> bool {
    cfg!(all(unix, not(target_os = "macos")))
}

/// [`no_browser_reason`] for this process's environment.
pub fn detect() -> Option<NoBrowserReason> {
    no_browser_reason(|k| std::env::var(k).ok(), platform_needs_display())
}

/// The `ssh -L` command that forwards a loopback callback on `port` from the machine with the
/// browser to this one. With `SSH_CONNECTION` (`client_ip client_port server_ip server_port`)
/// the host and port are this session's; otherwise a placeholder names them.
pub fn ssh_forward_command(port: u16, var: impl Fn(&str) -> Option<String>) -> String {
    let user = var("USER")
        .or_else(|| var("LOGNAME"))
        .filter(|u| !u.is_empty());
    let conn = var("SSH_CONNECTION").unwrap_or_default();
    let parts: Vec<&str> = conn.split_whitespace().collect();
    let (host, ssh_port) = match parts.as_slice() {
        [_, _, server, sport] => {
            // IPv6 addresses need no brackets for ssh's host argument.
            (
                server.to_string(),
                (*sport != "22").then(|| sport.to_string()),
            )
        }
        _ => ("<this-host>".to_string(), None),
    };
    let target = match user {
        Some(u) => format!("{u}@{host}"),
        None => host,
    };
    let port_flag = ssh_port.map(|p| format!(" -p {p}")).unwrap_or_default();
    format!("ssh -L {port}:127.0.0.1:{port}{port_flag} {target}")
}

/// The sign-in method where no browser can be opened: with `auto` (`latchkey login --auto`), a
/// browser sign-in becomes the device flow when the provider has a device endpoint; anything
/// else stays as [`SignInMethod::for_account`] chose.
pub fn method_without_browser(
    method: SignInMethod,
    device_capable: bool,
    auto: bool,
) -> SignInMethod {
    match method {
        SignInMethod::Loopback | SignInMethod::Scheme if auto && device_capable => {
            SignInMethod::Device
        }
        other => other,
    }
}

/// What a line pasted during a no-browser sign-in is.
#[derive(Debug, PartialEq, Eq)]
pub enum Pasted {
    /// Blank: ignore.
    Empty,
    /// A redirect URL carrying this sign-in's `state`: complete the sign-in with it.
    ThisSignIn(String),
    /// Not a redirect URL of this sign-in (no URL, no `state`, another `state`): refused,
    /// nothing is sent anywhere. The text says why.
    Refused(&'static str),
}

/// The longest pasted line taken (a redirect URL with a code, state and `iss` is well under
/// 8 KiB; browsers cap addresses near 64 KiB). A longer line is read to its end and refused.
pub const MAX_PASTED_LINE: usize = 64 * 1024;

/// What [`read_pasted_line`] read.
#[derive(Debug, PartialEq, Eq)]
pub enum PastedLine {
    /// A line (without its line break; invalid UTF-8 replaced).
    Line(String),
    /// A line longer than the limit (consumed and dropped).
    TooLong,
    /// End of input.
    End,
}

/// Reads one line of at most `max` bytes from `input`, never holding more than `max` bytes of
/// it: a longer line is consumed to its end and reported as [`PastedLine::TooLong`].
pub fn read_pasted_line(
    input: &mut impl std::io::BufRead,
    max: usize,
) -> std::io::Result<PastedLine> {
    let mut line = Vec::new();
    let mut too_long = false;
    let mut any = false;
    loop {
        let (done, used) = {
            let buf = match input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                (true, 0)
            } else {
                any = true;
                let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
                    Some(i) => (&buf[..i], Some(i + 1)),
                    None => (buf, None),
                };
                if !too_long {
                    if line.len() + chunk.len() > max {
                        too_long = true;
                        line = Vec::new();
                    } else {
                        line.extend_from_slice(chunk);
                    }
                }
                match done {
                    Some(used) => (true, used),
                    None => (false, buf.len()),
                }
            }
        };
        input.consume(used);
        if done {
            break;
        }
    }
    Ok(if too_long {
        PastedLine::TooLong
    } else if !any {
        PastedLine::End
    } else {
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        PastedLine::Line(String::from_utf8_lossy(&line).into_owned())
    })
}

/// Classifies a pasted line against the sign-in's `state` (constant-time comparison). The
/// completion ([`crate::LoginManager::complete_sign_in`]) checks it all again.
pub fn classify_pasted(line: &str, expected_state: &Secret) -> Pasted {
    let line = line.trim();
    if line.is_empty() {
        return Pasted::Empty;
    }
    match Callback::parse(line) {
        Err(_) => Pasted::Refused(
            "that is not a URL; paste the whole address from the browser's address bar",
        ),
        Ok(cb) if cb.state.is_none() => Pasted::Refused(
            "that URL has no `state` parameter; paste the address the provider redirected to",
        ),
        Ok(cb) if !cb.state_matches(expected_state) => Pasted::Refused(
            "that URL does not belong to this sign-in (its `state` differs); nothing was sent",
        ),
        Ok(_) => Pasted::ThisSignIn(line.to_string()),
    }
}

#[cfg(test)]
mod pasted_line_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Issue 16.8: a pasted line is read with a bound; an endless one is consumed, not kept.
    #[test]
    fn lines_are_bounded_and_a_long_one_is_dropped_whole() {
        let mut input = std::io::BufReader::with_capacity(
            7,
            std::io::Cursor::new(format!("short\r\n{}\nnext\nlast", "x".repeat(100))),
        );
        let mut read = || read_pasted_line(&mut input, 20).unwrap();
        assert_eq!(read(), PastedLine::Line("short".into()));
        assert_eq!(read(), PastedLine::TooLong);
        assert_eq!(read(), PastedLine::Line("next".into()));
        assert_eq!(read(), PastedLine::Line("last".into()));
        assert_eq!(read(), PastedLine::End);
        // Exactly at the limit is taken.
        let mut input = std::io::Cursor::new(b"12345\n".to_vec());
        assert_eq!(
            read_pasted_line(&mut input, 5).unwrap(),
            PastedLine::Line("12345".into())
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn a_desktop_session_opens_the_browser() {
        assert_eq!(no_browser_reason(env(&[("DISPLAY", ":0")]), true), None);
        assert_eq!(
            no_browser_reason(env(&[("WAYLAND_DISPLAY", "wayland-0")]), true),
            None
        );
        // macOS / Windows need no display variable.
        assert_eq!(no_browser_reason(env(&[]), false), None);
    }

    #[test]
    fn no_display_remote_or_none_means_no_browser() {
        assert_eq!(
            no_browser_reason(env(&[]), true),
            Some(NoBrowserReason::NoDisplay)
        );
        assert_eq!(
            no_browser_reason(env(&[("DISPLAY", "  ")]), true),
            Some(NoBrowserReason::NoDisplay)
        );
        assert_eq!(
            no_browser_reason(
                env(&[
                    ("DISPLAY", ":0"),
                    ("SSH_CONNECTION", "10.0.0.2 5000 10.0.0.1 22")
                ]),
                true
            ),
            Some(NoBrowserReason::Remote)
        );
        assert_eq!(
            no_browser_reason(env(&[("SSH_TTY", "/dev/pts/3")]), false),
            Some(NoBrowserReason::Remote)
        );
        assert_eq!(
            no_browser_reason(
                env(&[("DISPLAY", ":0"), ("LATCHKEY_BROWSER", "none")]),
                true
            ),
            Some(NoBrowserReason::Disabled)
        );
        assert_eq!(
            no_browser_reason(env(&[("LATCHKEY_BROWSER", "NONE")]), false),
            Some(NoBrowserReason::Disabled)
        );
    }

    #[test]
    fn an_explicit_browser_command_is_trusted_even_remotely() {
        assert_eq!(
            no_browser_reason(
                env(&[("LATCHKEY_BROWSER", "w3m"), ("SSH_TTY", "/dev/pts/1")]),
                true
            ),
            None
        );
        // Empty LATCHKEY_BROWSER is unset.
        assert_eq!(
            no_browser_reason(env(&[("LATCHKEY_BROWSER", ""), ("SSH_TTY", "x")]), true),
            Some(NoBrowserReason::Remote)
        );
    }

    #[test]
    fn ssh_command_names_this_session() {
        let vars = [
            ("USER", "ada"),
            ("SSH_CONNECTION", "192.0.2.7 51000 198.51.100.4 22"),
        ];
        assert_eq!(
            ssh_forward_command(43123, env(&vars)),
            "ssh -L 43123:127.0.0.1:43123 ada@198.51.100.4"
        );
        let vars = [("LOGNAME", "bo"), ("SSH_CONNECTION", "::1 51000 ::1 2222")];
        assert_eq!(
            ssh_forward_command(8000, env(&vars)),
            "ssh -L 8000:127.0.0.1:8000 -p 2222 bo@::1"
        );
        assert_eq!(
            ssh_forward_command(8000, env(&[])),
            "ssh -L 8000:127.0.0.1:8000 <this-host>"
        );
    }

    #[test]
    fn auto_picks_the_device_flow_only_for_browser_sign_ins_of_device_capable_providers() {
        use SignInMethod::*;
        assert_eq!(method_without_browser(Loopback, true, true), Device);
        assert_eq!(method_without_browser(Scheme, true, true), Device);
        assert_eq!(method_without_browser(Scheme, true, false), Scheme);
        assert_eq!(method_without_browser(Loopback, false, true), Loopback);
        assert_eq!(method_without_browser(Device, false, false), Device);
        assert_eq!(
            method_without_browser(ClientCredentials, true, true),
            ClientCredentials
        );
    }

    #[test]
    fn pasted_lines_are_classified_by_state() {
        let state = Secret::new("s3cret-state");
        assert_eq!(classify_pasted("  \n", &state), Pasted::Empty);
        assert!(matches!(
            classify_pasted("hello", &state),
            Pasted::Refused(m) if m.contains("not a URL")
        ));
        assert!(matches!(
            classify_pasted("http://127.0.0.1:5000/callback?code=c", &state),
            Pasted::Refused(m) if m.contains("no `state`")
        ));
        assert!(matches!(
            classify_pasted("http://127.0.0.1:5000/callback?code=c&state=other", &state),
            Pasted::Refused(m) if m.contains("does not belong")
        ));
        assert_eq!(
            classify_pasted(
                " dev.latchkey.app:/callback?code=c&state=s3cret-state \n",
                &state
            ),
            Pasted::ThisSignIn("dev.latchkey.app:/callback?code=c&state=s3cret-state".into())
        );
    }
}
