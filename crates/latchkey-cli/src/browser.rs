//! Opening the system browser: `LATCHKEY_BROWSER` (a command; the URL is appended as the last
//! argument), else the platform opener. The URL is always printed on stderr too, so sign-in
//! works over SSH by opening it on another machine.

use std::process::{Command, Stdio};

use url::Url;

/// Prints the URL and, unless `no_browser`, opens it.
pub fn present(url: &Url, no_browser: bool) {
    eprintln!("To sign in, open this URL in a browser:\n\n  {url}\n");
    if no_browser {
        return;
    }
    if let Err(e) = open(url) {
        eprintln!("(could not open a browser: {e}; open the URL above yourself)");
    }
}

fn open(url: &Url) -> Result<(), String> {
    let (program, mut args) = match std::env::var("LATCHKEY_BROWSER") {
        Ok(cmd) if !cmd.trim().is_empty() => {
            let mut words = shell_words::split(&cmd)
                .map_err(|e| format!("LATCHKEY_BROWSER is not a valid command line: {e}"))?;
            if words.is_empty() {
                return Err("LATCHKEY_BROWSER is empty".into());
            }
            let program = words.remove(0);
            (program, words)
        }
        _ => platform_opener(),
    };
    args.push(url.to_string());
    Command::new(&program)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map(|_child| ())
        .map_err(|e| format!("`{program}`: {e}"))
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
