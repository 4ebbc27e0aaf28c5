//! `latchkey agent --install` / `--uninstall`: the systemd *user* unit
//! `latchkey-agent.service`, written under `$XDG_CONFIG_HOME/systemd/user` (default
//! `~/.config/systemd/user`) and enabled with `systemctl --user` when that is available.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// The unit's file name.
pub const UNIT_NAME: &str = "latchkey-agent.service";

/// What an install or uninstall did.
#[derive(Debug, Clone)]
pub struct UnitReport {
    /// The unit file.
    pub path: PathBuf,
    /// `Ok(())` if `systemctl --user` did its part, else why not (the file step still
    /// happened).
    pub systemctl: std::result::Result<(), String>,
}

/// `$XDG_CONFIG_HOME/systemd/user`, else `~/.config/systemd/user`.
pub fn unit_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("systemd/user"));
    }
    directories::BaseDirs::new()
        .map(|b| b.home_dir().join(".config/systemd/user"))
        .ok_or_else(|| Error::Other("cannot find the home directory; set XDG_CONFIG_HOME".into()))
}

fn quote(s: &str) -> String {
    // systemd command-line quoting: double quotes, with `\` and `"` escaped; `%` doubled
    // (specifier escape); `$` doubled (no variable expansion).
    let escaped = s
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%")
        .replace('$', "$$");
    format!("\"{escaped}\"")
}

/// A value for one line of the unit: refused when it holds a control character (a newline
/// would start a line of its own — `ExecStartPre=`, say — in a unit systemd runs at login).
fn unit_value(what: &str, value: &str) -> Result<String> {
    if value.chars().any(char::is_control) {
        return Err(Error::InvalidInput(format!(
            "{what} contains a control character (a line break?); the unit was not written"
        )));
    }
    Ok(value.to_string())
}

/// The unit text for the `latchkey` binary at `exe`. The config dir and socket the installing
/// shell uses (`LATCHKEY_CONFIG_DIR`, `LATCHKEY_AGENT_SOCK`) are carried into the unit.
pub fn unit_text(exe: &Path) -> Result<String> {
    let mut env = String::new();
    for var in [crate::config::CONFIG_DIR_ENV, super::SOCKET_ENV] {
        if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            let v = unit_value(&format!("${var}"), &v.to_string_lossy())?;
            env.push_str(&format!("Environment={}\n", quote(&format!("{var}={v}"))));
        }
    }
    let exe = unit_value("the path of latchkey", &exe.to_string_lossy())?;
    Ok(format!(
        "# Written by Latchkey when its agent was installed; uninstalling the agent removes it.\n\
[Unit]\n\
Description=Latchkey agent: OAuth tokens for the CLI, the desktop app and integrations\n\
Documentation=https://github.com/latchkey-app/latchkey#the-agent\n\
\n\
[Service]\n\
Type=simple\n\
ExecStart={} agent\n\
{env}\
Restart=on-failure\n\
RestartSec=2\n\
# A process that holds tokens in memory: no core dumps.\n\
LimitCORE=0\n\
\n\
[Install]\n\
WantedBy=default.target\n",
        quote(&exe)
    ))
}

fn systemctl(args: &[&str]) -> std::result::Result<(), String> {
    let out = Command::new("systemctl")
        .arg("--user")
        .args(args)
        .output()
        .map_err(|e| format!("`systemctl --user` could not be run ({e})"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`systemctl --user {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Writes the unit for `exe`, then `systemctl --user daemon-reload` and
/// `enable --now` it when systemd's user manager is there.
pub fn install(exe: &Path) -> Result<UnitReport> {
    let dir = unit_dir()?;
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let path = dir.join(UNIT_NAME);
    let text = unit_text(exe)?;
    crate::private::replace(
        &path,
        text.as_bytes(),
        crate::private::NewMode::KeepExisting,
    )
    .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    let systemctl =
        systemctl(&["daemon-reload"]).and_then(|()| systemctl(&["enable", "--now", UNIT_NAME]));
    Ok(UnitReport { path, systemctl })
}

/// Stops and disables the unit (when systemd is there) and removes its file.
pub fn uninstall() -> Result<UnitReport> {
    let path = unit_dir()?.join(UNIT_NAME);
    let stopped = systemctl(&["disable", "--now", UNIT_NAME]);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(format!("removing {}", path.display()), e)),
    }
    let systemctl = stopped.and_then(|()| systemctl(&["daemon-reload"]));
    Ok(UnitReport { path, systemctl })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn exec_start_is_quoted_for_systemd() {
        let text = unit_text(Path::new("/opt/my apps/latchkey")).unwrap();
        assert!(
            text.contains("ExecStart=\"/opt/my apps/latchkey\" agent\n"),
            "{text}"
        );
        assert!(text.contains("WantedBy=default.target"));
        assert_eq!(quote("a%b$c\"d"), "\"a%%b$$c\\\"d\"");
    }

    /// Issue 16.8: a newline in a path would add a directive of its own to the unit.
    #[test]
    fn control_characters_are_refused_not_written() {
        let e = unit_text(Path::new("/opt/latchkey\nExecStartPre=/bin/evil")).unwrap_err();
        assert!(e.to_string().contains("control character"), "{e}");
        assert!(unit_value("$X", "/a\tb").is_err());
        assert!(unit_value("$X", "/home/ü/.config").is_ok());
    }
}
