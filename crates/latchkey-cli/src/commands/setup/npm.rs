//! `latchkey setup npm ACCOUNT --registry URL`: pnpm's `tokenHelper` for the registry and the
//! rule URL → ACCOUNT.
//!
//! Writes the wrapper script `<config>/npm/token-helper-<digest>` (0700; it runs `latchkey
//! npm-token-helper --registry URL`, since pnpm passes a helper no arguments) and the line
//! `//host[:port]/path/:tokenHelper=<script>` in the user `.npmrc` (`NPM_CONFIG_USERCONFIG`,
//! else `~/.npmrc`: pnpm reads helpers from no other file). What they say comes from
//! [`latchkey_core::tools::npm`]; no token is ever written. `--undo` removes the line (only if
//! it names Latchkey's script), the script and the rule.

use latchkey_core::tools::npm::{self, Registry};

use super::*;

pub(super) fn npmrc_path() -> Result<PathBuf, Error> {
    for var in ["NPM_CONFIG_USERCONFIG", "npm_config_userconfig"] {
        if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
            return Ok(PathBuf::from(p));
        }
    }
    std::env::var_os("HOME")
        .map(|h| Path::new(&h).join(".npmrc"))
        .ok_or_else(|| Error::InvalidInput("no HOME: set NPM_CONFIG_USERCONFIG".into()))
}

pub(super) async fn setup(
    m: &LoginManager,
    account: &str,
    registry: &str,
    spec: TokenSpec,
    mode: Mode,
) -> Result<Plan, Error> {
    m.account(account)?;
    let registry = Registry::parse(registry)?;
    let helper = m
        .paths()
        .dir()
        .join(npm::HELPERS_DIR)
        .join(npm::helper_file_name(&registry));
    let helper_str = helper
        .to_str()
        .ok_or_else(|| Error::InvalidInput(format!("{} is not UTF-8", helper.display())))?
        .to_string();
    npm::check_helper_path(&helper_str)?;
    let mut plan = Plan::default();

    // The wrapper script (before the line that names it; removed after it).
    let script = npm::helper_script(&exe()?, &registry);
    let current = read_config(&helper)?;
    if !mode.undo && current.as_deref() != Some(script.as_str()) {
        if !mode.dry_run {
            latchkey_core::private::create_dir(helper.parent().unwrap_or(Path::new("/")))
                .map_err(|e| Error::io(format!("creating {}", helper.display()), e))?;
            latchkey_core::private::replace(
                &helper,
                script.as_bytes(),
                latchkey_core::private::NewMode::Program,
            )
            .map_err(|e| Error::io(format!("writing {}", helper.display()), e))?;
        }
        plan.changes.push(format!(
            "{} {helper_str} (runs `latchkey {} --registry {}`)",
            if current.is_some() { "~" } else { "+" },
            npm::HELPER_COMMAND,
            registry.url
        ));
    }

    let path = npmrc_path()?;
    let text = read_config(&path)?.unwrap_or_default();
    let edit = npm::edit_npmrc(&text, &registry, &helper_str, mode.undo);
    if !edit.changes.is_empty() && !mode.dry_run {
        write_config(&path, &edit.text)?;
    }
    plan.changes.extend(
        edit.changes
            .into_iter()
            .map(|c| format!("{}: {c}", path.display())),
    );

    if mode.undo && current.is_some() {
        if !mode.dry_run {
            std::fs::remove_file(&helper)
                .map_err(|e| Error::io(format!("removing {}", helper.display()), e))?;
        }
        plan.changes.push(format!("- {helper_str}"));
    }

    let mut rule = Rule::new(&registry.url, None, None, account)?.with_spec(spec);
    if mode.undo {
        rule = rule_to_undo(m, rule)?;
    }
    apply_rule(m, rule, mode, &mut plan).await?;
    Ok(plan)
}
