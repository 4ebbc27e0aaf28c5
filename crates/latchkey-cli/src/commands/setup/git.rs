//! `latchkey setup git`: `git config --global` entries for `credential.<url>` (an empty
//! `helper`, Latchkey's `helper`, `useHttpPath = true`) and the rule host[/path] → ACCOUNT.

use super::*;

pub(super) fn git_global_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("GIT_CONFIG_GLOBAL").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".gitconfig"))
}

pub(super) fn run_git(args: &[&str]) -> Result<(i32, String), Error> {
    let out = Command::new("git")
        .args(["config", "--global"])
        .args(args)
        .output()
        .map_err(|e| Error::io("running git (is it installed?)", e))?;
    let code = out.status.code().unwrap_or(-1);
    // 0: ok; 1: the key is not set (for --get-all / --unset-all) or nothing to unset.
    if code != 0 && code != 1 && code != 5 {
        let file = git_global_path()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the global git config".into());
        return Err(Error::Config {
            path: file,
            detail: format!(
                "`git config --global {}` failed: {}; nothing was changed",
                args.first().copied().unwrap_or(""),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok((code, String::from_utf8_lossy(&out.stdout).to_string()))
}

pub(super) async fn setup(
    m: &LoginManager,
    account_name: &str,
    host: Option<String>,
    path: Option<String>,
    username: Option<String>,
    spec: TokenSpec,
    mode: Mode,
) -> Result<Plan, Error> {
    let account = m.account(account_name)?;
    let host = host
        .or_else(|| m.default_git_host(&account))
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "give the git host: `latchkey setup git {account_name} --host git.example.com`"
            ))
        })?;
    let target = Target::parse(&host)?;
    let protocol = target.protocol.clone().unwrap_or_else(|| "https".into());
    target.check_transport()?;
    let mut rule =
        Rule::new(&host, path.as_deref(), username.as_deref(), account_name)?.with_spec(spec);
    if mode.undo {
        rule = rule_to_undo(m, rule)?;
    }
    let section = format!("credential.{protocol}://{}", rule.host);
    let helper_key = format!("{section}.helper");
    let path_key = format!("{section}.useHttpPath");
    let helper = format!("{} git-credential", shell_words::quote(&exe()?));
    if let Some(file) = git_global_path()
        && !mode.dry_run
        && let Ok(meta) = std::fs::metadata(&file)
        && meta.permissions().readonly()
    {
        return Err(Error::Config {
            path: file.display().to_string(),
            detail: "the file is read-only; nothing was changed (make it writable, or add the lines yourself)".into(),
        });
    }
    // Reading first also fails early, with git's own message, on a malformed file.
    let (_, current) = run_git(&["--get-all", &helper_key])?;
    let values: Vec<&str> = current.lines().collect();
    let (_, use_path) = run_git(&["--get", &path_key])?;
    let mut plan = Plan::default();
    if mode.undo {
        // The rule first; the helper stays while other rules for the host still need it.
        apply_rule(m, rule.clone(), mode, &mut plan).await?;
        let others = m
            .rules()?
            .into_iter()
            .any(|r| r.host == rule.host && (mode.dry_run.then_some(&r) != Some(&rule)));
        if !others && values.contains(&helper.as_str()) {
            if !mode.dry_run {
                run_git(&["--fixed-value", "--unset-all", &helper_key, &helper])?;
                run_git(&["--fixed-value", "--unset-all", &helper_key, ""])?;
                run_git(&["--unset", &path_key])?;
            }
            plan.changes.push(format!(
                "- git config --global {helper_key} (Latchkey's helper and the reset before it)"
            ));
            plan.changes
                .push(format!("- git config --global {path_key}"));
        }
        return Ok(plan);
    }
    if !values.contains(&helper.as_str()) {
        if !mode.dry_run {
            if values.first() != Some(&"") {
                run_git(&["--add", &helper_key, ""])?;
            }
            run_git(&["--add", &helper_key, &helper])?;
        }
        if values.first() != Some(&"") {
            plan.changes.push(format!(
                "+ git config --global --add {helper_key} '' (helpers for every host do not answer for this one)"
            ));
        }
        plan.changes.push(format!(
            "+ git config --global --add {helper_key} '{helper}'"
        ));
    }
    if use_path.trim() != "true" {
        if !mode.dry_run {
            run_git(&[&path_key, "true"])?;
        }
        plan.changes.push(format!(
            "+ git config --global {path_key} true (git sends the repository path)"
        ));
    }
    apply_rule(m, rule, mode, &mut plan).await?;
    Ok(plan)
}

// ---------------------------------------------------------------------------------------------
// Files: read (never clobber a malformed or read-only file), write atomically
// ---------------------------------------------------------------------------------------------
