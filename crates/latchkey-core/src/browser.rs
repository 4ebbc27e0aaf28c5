//! Opening the system browser, shared by the CLI and the desktop app.
//!
//! `LATCHKEY_BROWSER` (a command line; the URL is appended as the last argument; `none`: no
//! browser at all, see [`crate::headless`]) wins; else the
//! platform opener (`xdg-open`, `open`, or the Windows URL handler — never `cmd /c start`, which
//! splits URLs at `&`). The browser is started detached: nobody waits for it.

use std::process::{Command, Stdio};

use url::Url;

use crate::error::{Error, Result};

/// Environment variable naming the command that opens URLs.
pub const BROWSER_ENV: &str = "LATCHKEY_BROWSER";

/// The value of [`BROWSER_ENV`] that turns the browser off.
pub const BROWSER_NONE: &str = "none";

/// Opens `url` in the browser (`LATCHKEY_BROWSER`, else the platform opener).
///
/// The error says which command failed; it never contains the URL (which carries `state`).
pub fn open(url: &Url) -> Result<()> {
    let (program, mut args) = command()?;
    args.push(url.to_string());
    Command::new(&program)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map(|_child| ())
        .map_err(|e| Error::Other(format!("could not start the browser `{program}`: {e}")))
}

/// The program and leading arguments that open a URL here.
pub fn command() -> Result<(String, Vec<String>)> {
    match std::env::var(BROWSER_ENV) {
        Ok(cmd) if cmd.trim().eq_ignore_ascii_case(BROWSER_NONE) => Err(Error::InvalidInput(
            format!("{BROWSER_ENV}=none: no browser is opened; open the sign-in URL yourself"),
        )),
        Ok(cmd) if !cmd.trim().is_empty() => {
            let mut words = shell_words::split(&cmd).map_err(|e| {
                Error::InvalidInput(format!("{BROWSER_ENV} is not a valid command line: {e}"))
            })?;
            if words.is_empty() {
                return Err(Error::InvalidInput(format!("{BROWSER_ENV} is empty")));
            }
            let program = words.remove(0);
            Ok((program, words))
        }
        _ => Ok(platform_opener()),
    }
}

#[cfg(target_os = "macos")]
fn platform_opener() -> (String, Vec<String>) {
    ("open".into(), vec![])
}

#[cfg(target_os = "windows")]
fn platform_opener() -> (String, Vec<String>) {
    // `cmd /c start` would split the URL at `&`.
    (
        "rundll32".into(),
        vec!["url.dll,FileProtocolHandler".into()],
    )
}

#[cfg(not(any(target_os = "macos", target_os = "windows")))]
fn platform_opener() -> (String, Vec<String>) {
    ("xdg-open".into(), vec![])
}
