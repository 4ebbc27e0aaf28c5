//! `latchkey setup docker`: `credHelpers[REGISTRY] = "latchkey"` in Docker's config.json
//! (every other key kept) and the rule REGISTRY → ACCOUNT.

use super::*;

pub(super) fn docker_config_path() -> Result<PathBuf, Error> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Ok(Path::new(&d).join("config.json"));
    }
    std::env::var_os("HOME")
        .map(|h| Path::new(&h).join(".docker").join("config.json"))
        .ok_or_else(|| Error::InvalidInput("no HOME: set DOCKER_CONFIG".into()))
}

/// Adds (or removes) `credHelpers[registry] = "latchkey"`, keeping every other key. Pure.
pub fn edit_docker_config(
    doc: &mut serde_json::Value,
    registry: &str,
    undo: bool,
) -> Result<Vec<String>, String> {
    let root = doc.as_object_mut().ok_or("the file is not a JSON object")?;
    let helpers = root
        .entry("credHelpers")
        .or_insert_with(|| serde_json::json!({}));
    let helpers = helpers
        .as_object_mut()
        .ok_or("`credHelpers` is not a JSON object")?;
    let current = helpers
        .get(registry)
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let mut changes = Vec::new();
    match (current.as_deref(), undo) {
        (Some("latchkey"), true) => {
            helpers.remove(registry);
            changes.push(format!("- credHelpers[\"{registry}\"] = \"latchkey\""));
        }
        (_, true) | (Some("latchkey"), false) => {}
        (other, false) => {
            helpers.insert(registry.into(), "latchkey".into());
            changes.push(match other {
                Some(o) => format!("~ credHelpers[\"{registry}\"] = \"latchkey\" (was \"{o}\")"),
                None => format!("+ credHelpers[\"{registry}\"] = \"latchkey\""),
            });
        }
    }
    if helpers.is_empty() {
        root.remove("credHelpers");
    }
    Ok(changes)
}

pub(super) async fn setup(
    m: &LoginManager,
    account: &str,
    registry: &str,
    spec: TokenSpec,
    mode: Mode,
) -> Result<Plan, Error> {
    m.account(account)?;
    let target = Target::parse(registry)?;
    let key = target.authority();
    let path = docker_config_path()?;
    let text = read_config(&path)?;
    let mut doc: serde_json::Value = match &text {
        Some(t) if !t.trim().is_empty() => serde_json::from_str(t).map_err(|e| {
            config_error(&path, format!("not valid JSON ({e}); nothing was changed"))
        })?,
        _ => serde_json::json!({}),
    };
    let changes = edit_docker_config(&mut doc, &key, mode.undo)
        .map_err(|e| config_error(&path, format!("{e}; nothing was changed")))?;
    if !changes.is_empty() && !mode.dry_run {
        let mut out = serde_json::to_string_pretty(&doc)
            .map_err(|e| config_error(&path, format!("cannot write JSON: {e}")))?;
        out.push('\n');
        write_config(&path, &out)?;
    }
    let mut plan = Plan {
        changes,
        warnings: Vec::new(),
    };
    let mut rule = Rule::new(registry, None, None, account)?.with_spec(spec);
    if mode.undo {
        rule = rule_to_undo(m, rule)?;
    }
    apply_rule(m, rule, mode, &mut plan).await?;
    if !plan.changes.is_empty() && !mode.undo && !binary_on_path() {
        eprintln!(
            "latchkey: note: Docker runs `docker-credential-latchkey`, which is not on PATH; install the package, or link it: ln -s {} ~/.local/bin/docker-credential-latchkey",
            exe().unwrap_or_else(|_| "/usr/bin/latchkey".into())
        );
    }
    Ok(plan)
}

pub(super) fn binary_on_path() -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| d.join(crate::commands::docker::BINARY_NAME).exists())
    })
}
