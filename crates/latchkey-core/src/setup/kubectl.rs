//! kubectl: per account and cluster a kubeconfig user `latchkey-ACCOUNT@CLUSTER` (exec plugin
//! `kubectl-credential ACCOUNT --server URL`, `provideClusterInfo: true`, `interactiveMode:
//! IfAvailable`) and a context of the same name; the legacy shared user's migration; and the
//! rule SERVER → ACCOUNT. A user is removed only when no context refers to it any more. Every
//! other entry is kept; comments are not (the YAML library drops them).

use std::path::{Path, PathBuf};

use super::{
    FileChange, SetupPlan, SetupRequest, SetupWarning, config_error, plan_rule, read_config,
    rule_to_undo,
};
use crate::rules::{Rule, Target};
use crate::target::TokenSpec;
use crate::{Error, Result};

/// True if the YAML text has a comment (`#` at the start of a line or after a blank, outside
/// quotes): rewriting the document loses it.
pub fn yaml_has_comments(text: &str) -> bool {
    text.lines().any(|line| {
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for c in line.chars() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '"' || c == '\'' => quote = Some(c),
                None if c == '#' && prev.is_whitespace() => return true,
                None => {}
            }
            prev = c;
        }
        false
    })
}

/// The kubeconfig: `explicit`, else the first file of `KUBECONFIG`, else `~/.kube/config`.
pub fn kubeconfig_path(explicit: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p);
    }
    if let Some(first) = std::env::var_os("KUBECONFIG")
        .and_then(|v| std::env::split_paths(&v).find(|p| !p.as_os_str().is_empty()))
    {
        return Ok(first);
    }
    std::env::var_os("HOME")
        .map(|h| Path::new(&h).join(".kube").join("config"))
        .ok_or_else(|| Error::InvalidInput("no HOME: pass --kubeconfig".into()))
}

/// The kubeconfig user name for an account and cluster (one per cluster: each carries the
/// cluster's server and token options in its exec args).
pub fn kube_user(account: &str, cluster: &str) -> String {
    format!("latchkey-{account}@{cluster}")
}

/// The one user per account that older versions wrote and shared between clusters.
pub fn legacy_kube_user(account: &str) -> String {
    format!("latchkey-{account}")
}

/// The kubeconfig context name for an account and cluster.
pub fn kube_context(account: &str, cluster: &str) -> String {
    format!("latchkey-{account}@{cluster}")
}

/// `--scope S... --resource URI... --audience A` for the exec plugin's args (each value its
/// own argument, so no quoting is involved).
pub fn spec_args(spec: &TokenSpec) -> Vec<String> {
    let mut out = Vec::new();
    for s in spec.scopes() {
        out.extend(["--scope".to_string(), s.clone()]);
    }
    for r in spec.resources() {
        out.extend(["--resource".to_string(), r.clone()]);
    }
    if let Some(a) = spec.audience() {
        out.extend(["--audience".to_string(), a.to_string()]);
    }
    out
}

/// What [`edit_kubeconfig`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct KubeEdit {
    /// One line per change.
    pub changes: Vec<String>,
    /// The cluster's server (from `clusters`, or on undo from the removed user's `--server`).
    pub server: Option<String>,
}

fn entry_name(e: &serde_norway::Value) -> Option<&str> {
    e.get("name").and_then(serde_norway::Value::as_str)
}

/// Adds (or with `undo` removes) the account's user and context for `cluster` in a kubeconfig
/// document, and removes Latchkey's users of the account that no context refers to any more
/// (the old shared `latchkey-ACCOUNT` included). Returns the changes and the cluster's server;
/// `doc` is changed in place. Pure, for tests.
pub fn edit_kubeconfig(
    doc: &mut serde_norway::Value,
    account: &str,
    cluster: &str,
    command: &str,
    spec: &TokenSpec,
    undo: bool,
) -> std::result::Result<KubeEdit, String> {
    use serde_norway::{Mapping, Value};
    let root = doc
        .as_mapping_mut()
        .ok_or("the document is not a kubeconfig (not a YAML mapping)")?;
    let cluster_entry = root
        .get("clusters")
        .and_then(Value::as_sequence)
        .and_then(|cs| cs.iter().find(|c| entry_name(c) == Some(cluster)));
    let mut server = cluster_entry
        .and_then(|c| c.get("cluster"))
        .and_then(|c| c.get("server"))
        .and_then(Value::as_str)
        .map(str::to_string);
    if !undo {
        if cluster_entry.is_none() {
            return Err(format!(
                "there is no cluster named `{cluster}` (see `kubectl config get-clusters`)"
            ));
        }
        if server.is_none() {
            return Err(format!("the cluster `{cluster}` has no `server`"));
        }
    }
    for list in ["users", "contexts"] {
        let seq = root
            .entry(list.into())
            .or_insert_with(|| Value::Sequence(Vec::new()));
        if seq.is_null() {
            *seq = Value::Sequence(Vec::new());
        }
        if !seq.is_sequence() {
            return Err(format!("`{list}` is not a list"));
        }
    }
    let user_name = kube_user(account, cluster);
    let context_name = kube_context(account, cluster);
    let mut changes = Vec::new();
    let seq = |root: &mut Mapping, list: &str| -> Vec<Value> {
        root.get(list)
            .and_then(Value::as_sequence)
            .cloned()
            .unwrap_or_default()
    };
    let mut users = seq(root, "users");
    let mut contexts = seq(root, "contexts");
    if undo {
        if let Some(i) = contexts
            .iter()
            .position(|c| entry_name(c) == Some(context_name.as_str()))
        {
            contexts.remove(i);
            changes.push(format!("- contexts: {context_name}"));
        }
        if server.is_none() {
            // The cluster is gone from the file: the server the user was set up for.
            server = users
                .iter()
                .find(|u| entry_name(u) == Some(user_name.as_str()))
                .and_then(recorded_server);
        }
    } else {
        let server = server.as_deref().unwrap_or_default();
        let mut args = vec![
            "kubectl-credential".to_string(),
            account.to_string(),
            "--server".to_string(),
            server.to_string(),
        ];
        args.extend(spec_args(spec));
        let user: Value = serde_norway::from_str(&format!(
            "name: {user}\nuser:\n  exec:\n    apiVersion: client.authentication.k8s.io/v1\n    command: {cmd}\n    args: {args}\n    interactiveMode: IfAvailable\n    provideClusterInfo: true\n",
            user = yaml_scalar(&user_name)?,
            cmd = yaml_scalar(command)?,
            args = serde_json::to_string(&args).map_err(|e| e.to_string())?,
        ))
        .map_err(|e| e.to_string())?;
        let mut inner = Mapping::new();
        inner.insert("cluster".into(), cluster.into());
        inner.insert("user".into(), user_name.clone().into());
        let mut context = Mapping::new();
        context.insert("name".into(), context_name.clone().into());
        context.insert("context".into(), Value::Mapping(inner));
        for (list, seq, name, entry) in [
            ("users", &mut users, &user_name, user),
            (
                "contexts",
                &mut contexts,
                &context_name,
                Value::Mapping(context),
            ),
        ] {
            match seq
                .iter()
                .position(|e| entry_name(e) == Some(name.as_str()))
            {
                Some(i) if seq[i] == entry => {}
                Some(i) => {
                    seq[i] = entry;
                    changes.push(format!("~ {list}: {name} (updated)"));
                }
                None => {
                    seq.push(entry);
                    changes.push(format!("+ {list}: {name}"));
                }
            }
        }
    }
    // Latchkey's users of this account that no context uses any more go (never a user a
    // context still names: another cluster's context may use the old shared user).
    let in_use = |name: &str| {
        contexts.iter().any(|c| {
            c.get("context")
                .and_then(|c| c.get("user"))
                .and_then(Value::as_str)
                == Some(name)
        })
    };
    let legacy = legacy_kube_user(account);
    let mut kept = Vec::with_capacity(users.len());
    for u in users {
        let name = entry_name(&u).unwrap_or_default().to_string();
        let ours = name == legacy || (undo && name == user_name);
        if ours && !in_use(&name) {
            changes.push(if name == legacy {
                format!("- users: {name} (the user older versions shared between clusters; no context uses it any more)")
            } else {
                format!("- users: {name}")
            });
        } else {
            kept.push(u);
        }
    }
    root.insert("users".into(), Value::Sequence(kept));
    root.insert("contexts".into(), Value::Sequence(contexts));
    Ok(KubeEdit { changes, server })
}

/// A plain string as a YAML scalar (quoted when it needs to be).
fn yaml_scalar(s: &str) -> std::result::Result<String, String> {
    Ok(serde_norway::to_string(s)
        .map_err(|e| e.to_string())?
        .trim()
        .to_string())
}

/// The `--server URL` in a Latchkey user's exec args.
fn recorded_server(user: &serde_norway::Value) -> Option<String> {
    let args = user.get("user")?.get("exec")?.get("args")?.as_sequence()?;
    let i = args.iter().position(|a| a.as_str() == Some("--server"))?;
    args.get(i + 1)?.as_str().map(str::to_string)
}

pub(super) fn plan(
    plan: &mut SetupPlan,
    rules: &[Rule],
    cluster: &str,
    kubeconfig: Option<PathBuf>,
    request: &SetupRequest,
) -> Result<()> {
    let account = request.account.as_str();
    let path = request.files.kubeconfig(kubeconfig.as_deref())?;
    let before = read_config(&path)?.ok_or_else(|| {
        config_error(
            &path,
            format!("no kubeconfig here, so no cluster `{cluster}` to sign in to"),
        )
    })?;
    let mut doc: serde_norway::Value = serde_norway::from_str(&before)
        .map_err(|e| config_error(&path, format!("not valid YAML ({e}); nothing was changed")))?;
    let edit = edit_kubeconfig(
        &mut doc,
        account,
        cluster,
        &request.program,
        &request.spec,
        request.undo,
    )
    .map_err(|e| config_error(&path, format!("{e}; nothing was changed")))?;
    // The token goes only over https (plain http only to loopback): checked before anything
    // is written, by the rule every tool follows.
    let rule = match &edit.server {
        Some(server) => {
            if !request.undo {
                if !server.contains("://") {
                    return Err(config_error(
                        &path,
                        format!(
                            "the cluster `{cluster}` has the server `{server}` without https://; nothing was changed (write it as https://…)"
                        ),
                    ));
                }
                Target::parse(server)?.check_transport().map_err(|e| {
                    config_error(
                        &path,
                        format!("the cluster `{cluster}`: {e}; nothing was changed"),
                    )
                })?;
            }
            Some(Rule::new(server, None, None, account)?.with_spec(request.spec.clone()))
        }
        None => None,
    };
    if !edit.changes.is_empty() {
        if yaml_has_comments(&before) {
            plan.warnings
                .push(SetupWarning::CommentsDropped { path: path.clone() });
        }
        let after = serde_norway::to_string(&doc)
            .map_err(|e| config_error(&path, format!("cannot write YAML: {e}")))?;
        plan.files.push(FileChange {
            path,
            before: Some(before),
            after,
            description: edit.changes.clone(),
        });
    }
    plan.changes.extend(edit.changes);
    if let Some(mut rule) = rule {
        if request.undo {
            rule = rule_to_undo(rules, rule);
        }
        if let Some((e, line)) = plan_rule(rules, rule, request.undo) {
            plan.rule = Some(e);
            plan.changes.push(line);
        }
    }
    if !request.undo {
        plan.context = Some(kube_context(account, cluster));
    }
    Ok(())
}

/// The clusters of the default kubeconfig set up for `account` (a user
/// `latchkey-ACCOUNT@CLUSTER` that a context uses), with the server the user was written for.
pub(super) fn clusters_of(path: &Path, account: &str) -> Result<Vec<(String, String)>> {
    let Some(text) = read_config(path)? else {
        return Ok(Vec::new());
    };
    let doc: serde_norway::Value = serde_norway::from_str(&text)
        .map_err(|e| config_error(path, format!("not valid YAML ({e})")))?;
    let prefix = format!("latchkey-{account}@");
    let mut out = Vec::new();
    for u in doc
        .get("users")
        .and_then(serde_norway::Value::as_sequence)
        .into_iter()
        .flatten()
    {
        if let Some(cluster) = entry_name(u).and_then(|n| n.strip_prefix(&prefix))
            && let Some(server) = recorded_server(u)
        {
            out.push((cluster.to_string(), server));
        }
    }
    Ok(out)
}
