//! Docker / OCI registries: `credHelpers[REGISTRY] = "latchkey"` in Docker's `config.json`
//! (every other key kept, in order) and the rule REGISTRY → ACCOUNT.

use std::path::{Path, PathBuf};

use super::{
    FileChange, SetupPlan, SetupRequest, config_error, plan_rule, read_config, rule_to_undo,
};
use crate::rules::{Rule, Target};
use crate::{Error, Result};

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> Result<PathBuf> {
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
) -> std::result::Result<Vec<String>, String> {
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

fn parse(path: &Path, text: Option<&str>) -> Result<serde_json::Value> {
    Ok(match text {
        Some(t) if !t.trim().is_empty() => serde_json::from_str(t).map_err(|e| {
            config_error(path, format!("not valid JSON ({e}); nothing was changed"))
        })?,
        _ => serde_json::json!({}),
    })
}

pub(super) fn plan(
    plan: &mut SetupPlan,
    rules: &[Rule],
    registry: &str,
    request: &SetupRequest,
) -> Result<()> {
    let target = Target::parse(registry)?;
    let key = target.authority();
    let path = request.files.docker()?.to_path_buf();
    let before = read_config(&path)?;
    let mut doc = parse(&path, before.as_deref())?;
    let changes = edit_docker_config(&mut doc, &key, request.undo)
        .map_err(|e| config_error(&path, format!("{e}; nothing was changed")))?;
    if !changes.is_empty() {
        let mut after = serde_json::to_string_pretty(&doc)
            .map_err(|e| config_error(&path, format!("cannot write JSON: {e}")))?;
        after.push('\n');
        plan.files.push(FileChange {
            path,
            before,
            after,
            description: changes.clone(),
        });
    }
    plan.changes.extend(changes);
    let mut rule =
        Rule::new(registry, None, None, &request.account)?.with_spec(request.spec.clone());
    if request.undo {
        rule = rule_to_undo(rules, rule);
    }
    if let Some((edit, line)) = plan_rule(rules, rule, request.undo) {
        plan.rule = Some(edit);
        plan.changes.push(line);
    }
    Ok(())
}

/// The registries whose `credHelpers` entry is `latchkey`.
pub(super) fn registries(path: &Path) -> Result<Vec<String>> {
    let doc = parse(path, read_config(path)?.as_deref())?;
    Ok(doc
        .get("credHelpers")
        .and_then(serde_json::Value::as_object)
        .map(|h| {
            h.iter()
                .filter(|(_, v)| v.as_str() == Some("latchkey"))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default())
}
