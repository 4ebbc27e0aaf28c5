//! git: the global config's `credential.<url>` entries (an empty `helper`, Latchkey's
//! `helper`, `useHttpPath = true`) and the rule host[/path] → ACCOUNT. The plan runs git's own
//! `git config --file` on a private copy of the file, so the bytes are the ones git writes;
//! applying writes that copy's text back atomically.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{
    FileChange, SetupPlan, SetupRequest, config_error, plan_rule, read_config, rule_to_undo,
};
use crate::rules::{Rule, Target};
use crate::{Error, Result};

/// The file `git config --global` writes: `GIT_CONFIG_GLOBAL`, else `~/.gitconfig` when it
/// exists or the XDG one (`$XDG_CONFIG_HOME/git/config`) does not, else the XDG one.
pub fn git_global_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("GIT_CONFIG_GLOBAL").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let home = PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty())?);
    let dot = home.join(".gitconfig");
    if std::fs::symlink_metadata(&dot).is_ok() {
        return Some(dot);
    }
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|x| !x.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".config"))
        .join("git")
        .join("config");
    Some(if xdg.is_file() { xdg } else { dot })
}

/// `git config --file FILE ARGS` (FILE: the private copy); errors name `shown`, the real file.
fn run_git(file: &Path, shown: &Path, args: &[&str]) -> Result<(i32, String)> {
    let out = Command::new("git")
        .arg("config")
        .arg("--file")
        .arg(file)
        .args(args)
        .output()
        .map_err(|e| Error::io("running git (is it installed?)", e))?;
    let code = out.status.code().unwrap_or(-1);
    // 0: ok; 1: the key is not set (for --get-all / --unset-all); 5: nothing to unset.
    if code != 0 && code != 1 && code != 5 {
        let stderr = String::from_utf8_lossy(&out.stderr)
            .replace(&file.display().to_string(), &shown.display().to_string());
        return Err(config_error(
            shown,
            format!(
                "`git config --global {}` failed: {}; nothing was changed",
                args.first().copied().unwrap_or(""),
                stderr.trim()
            ),
        ));
    }
    Ok((code, String::from_utf8_lossy(&out.stdout).to_string()))
}

pub(super) fn plan(
    plan: &mut SetupPlan,
    rules: &[Rule],
    host: &str,
    path: Option<&str>,
    username: Option<&str>,
    request: &SetupRequest,
) -> Result<()> {
    let target = Target::parse(host)?;
    let protocol = target.protocol.clone().unwrap_or_else(|| "https".into());
    target.check_transport()?;
    let mut rule =
        Rule::new(host, path, username, &request.account)?.with_spec(request.spec.clone());
    if request.undo {
        rule = rule_to_undo(rules, rule);
    }
    let section = format!("credential.{protocol}://{}", rule.host);
    let helper_key = format!("{section}.helper");
    let path_key = format!("{section}.useHttpPath");
    let helper = format!("{} git-credential", shell_words::quote(&request.program));
    let file = request.files.git()?.to_path_buf();
    let before = read_config(&file)?;
    // git edits a private copy; the real file is only written by `apply_setup`.
    let dir = tempfile::Builder::new()
        .prefix("latchkey-setup-")
        .tempdir()
        .map_err(|e| Error::io("creating a temporary directory", e))?;
    let copy = dir.path().join("config");
    if let Some(text) = &before {
        std::fs::write(&copy, text).map_err(|e| Error::io("copying the git config", e))?;
    }
    let git = |args: &[&str]| run_git(&copy, &file, args);
    // Reading first also fails early, with git's own message, on a malformed file.
    let (_, current) = git(&["--get-all", &helper_key])?;
    let values: Vec<&str> = current.lines().collect();
    let (_, use_path) = git(&["--get", &path_key])?;
    let mut lines = Vec::new();
    let rule_edit = plan_rule(rules, rule.clone(), request.undo);
    if request.undo {
        // The helper stays while other rules for the host still need it.
        let others = rules.iter().any(|r| r.host == rule.host && r != &rule);
        if !others && values.contains(&helper.as_str()) {
            git(&["--fixed-value", "--unset-all", &helper_key, &helper])?;
            git(&["--fixed-value", "--unset-all", &helper_key, ""])?;
            git(&["--unset", &path_key])?;
            lines.push(format!(
                "- git config --global {helper_key} (Latchkey's helper and the reset before it)"
            ));
            lines.push(format!("- git config --global {path_key}"));
        }
    } else {
        if !values.contains(&helper.as_str()) {
            if values.first() != Some(&"") {
                git(&["--add", &helper_key, ""])?;
                lines.push(format!(
                    "+ git config --global --add {helper_key} '' (helpers for every host do not answer for this one)"
                ));
            }
            git(&["--add", &helper_key, &helper])?;
            lines.push(format!(
                "+ git config --global --add {helper_key} '{helper}'"
            ));
        }
        if use_path.trim() != "true" {
            git(&[&path_key, "true"])?;
            lines.push(format!(
                "+ git config --global {path_key} true (git sends the repository path)"
            ));
        }
    }
    let after = read_config(&copy)?.unwrap_or_default();
    if after != before.as_deref().unwrap_or("") {
        plan.files.push(FileChange {
            path: file,
            before,
            after,
            description: lines.clone(),
        });
    }
    let (rule_edit, rule_line) = match rule_edit {
        Some((e, l)) => (Some(e), Some(l)),
        None => (None, None),
    };
    plan.rule = rule_edit;
    if request.undo {
        plan.changes.extend(rule_line);
        plan.changes.extend(lines);
    } else {
        plan.changes.extend(lines);
        plan.changes.extend(rule_line);
    }
    Ok(())
}

/// The hosts whose global git config names Latchkey's helper: (`protocol://authority`, the
/// authority). Empty when git or the file cannot be read.
pub(super) fn helper_hosts(file: &Path) -> Vec<(String, String)> {
    let Ok((_, out)) = run_git(file, file, &["--get-regexp", r"^credential\..*\.helper$"]) else {
        return Vec::new();
    };
    out.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(' ')?;
            if !value.ends_with(" git-credential") {
                return None;
            }
            let url = key.strip_prefix("credential.")?.strip_suffix(".helper")?;
            let authority = Target::parse(url).ok()?.authority();
            Some((url.to_string(), authority))
        })
        .collect()
}
