//! `latchkey setup cargo --registry NAME --index URL ACCOUNT`: the registry in cargo's user
//! config (`$CARGO_HOME/config.toml`, default `~/.cargo/config.toml`; the legacy
//! extensionless `config` when only that exists) with Latchkey as its credential provider, and
//! the rule INDEX → ACCOUNT. What the file says comes from
//! [`latchkey_core::tools::cargo::edit_config`] (every other line and comment kept; never a
//! token); `--undo` removes what was added (the whole table only when Latchkey created it) and
//! the rule.

use latchkey_core::tools::cargo::{self, Index};

use super::*;

pub(super) fn cargo_config_path() -> Result<PathBuf, Error> {
    let home = match std::env::var_os("CARGO_HOME").filter(|p| !p.is_empty()) {
        Some(h) => PathBuf::from(h),
        None => std::env::var_os("HOME")
            .map(|h| Path::new(&h).join(".cargo"))
            .ok_or_else(|| Error::InvalidInput("no HOME: set CARGO_HOME".into()))?,
    };
    let toml = home.join("config.toml");
    let legacy = home.join("config");
    Ok(if !toml.exists() && legacy.is_file() {
        legacy
    } else {
        toml
    })
}

pub(super) async fn setup(
    m: &LoginManager,
    account: &str,
    registry: &str,
    index: &str,
    spec: TokenSpec,
    mode: Mode,
) -> Result<Plan, Error> {
    m.account(account)?;
    cargo::check_registry_name(registry)?;
    let index = Index::parse(index)?;
    let path = cargo_config_path()?;
    let text = read_config(&path)?.unwrap_or_default();
    let edit = cargo::edit_config(&text, registry, &index, &exe()?, mode.undo)
        .map_err(|detail| config_error(&path, detail))?;
    if !edit.changes.is_empty() && !mode.dry_run {
        write_config(&path, &edit.text)?;
    }
    let mut plan = Plan::default();
    plan.changes.extend(
        edit.changes
            .into_iter()
            .map(|c| format!("{}: {c}", path.display())),
    );
    let mut rule = Rule::new(&index.registry.url, None, None, account)?.with_spec(spec);
    if mode.undo {
        rule = rule_to_undo(m, rule)?;
    }
    apply_rule(m, rule, mode, &mut plan).await?;
    Ok(plan)
}
