//! `latchkey setup git|kubectl|docker ACCOUNT ...`: points a tool at Latchkey and writes the
//! selection rule it needs. Idempotent (a second run changes nothing and says so), prints every
//! change, `--dry-run` only prints them, `--undo` takes them back.
//!
//! - git: `git config --global` (never a hand edit of the file): for `credential.<url>` an
//!   empty `helper` (so helpers configured for every host do not answer first), Latchkey's
//!   `helper`, and `useHttpPath = true` (git then sends the repository path the rules match
//!   on); plus the rule host[/path] → ACCOUNT.
//! - kubectl: the kubeconfig (`--kubeconfig`, else the first file of `KUBECONFIG`, else
//!   `~/.kube/config`) gets a `users` entry `latchkey-ACCOUNT` (exec plugin,
//!   `interactiveMode: IfAvailable`) and a context `latchkey-ACCOUNT@CLUSTER`; every other
//!   entry is kept.
//! - Docker: `credHelpers[REGISTRY] = "latchkey"` in `$DOCKER_CONFIG/config.json` (default
//!   `~/.docker/config.json`), every other key kept; plus the rule REGISTRY → ACCOUNT.
//!
//! `--scope/--resource/--audience` say which token the tool gets (as `latchkey token ACCOUNT
//! --resource URI` does): in the rule for git and Docker, in the exec plugin's args for kubectl.
//! Setting up the same host again with another spec replaces the rule; `--undo` without them
//! removes the rule whatever its spec.
//!
//! A file that is malformed or read-only is never rewritten: the command stops with an error
//! that names it. Files are replaced atomically (temporary file, then rename) with their mode.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{Args, Subcommand};
use latchkey_core::Error;
use latchkey_core::manager::{LoginManager, RuleChange};
use latchkey_core::rules::{Rule, Target};
use latchkey_core::target::TokenSpec;

use crate::cli::TargetArgs;

use super::manager;

/// `latchkey setup`.
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// The tool.
    #[command(subcommand)]
    pub tool: Tool,
}

/// Flags of every `setup` command.
#[derive(Debug, Args, Clone, Copy)]
pub struct Mode {
    /// Print what would change; change nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Take the set-up back out.
    #[arg(long, global = true)]
    pub undo: bool,
}

/// The tools `setup` knows.
#[derive(Debug, Subcommand)]
pub enum Tool {
    /// git over HTTPS: the credential helper for a host, and the rule host[/path] → ACCOUNT.
    Git {
        /// Account name.
        account: String,
        /// Host (`git.example.com`, `host:port`, or a URL such as `http://127.0.0.1:8080`;
        /// default: the provider's code host for GitHub and GitLab accounts).
        #[arg(long)]
        host: Option<String>,
        /// Only repositories under this path prefix (e.g. `my-org`).
        #[arg(long)]
        path: Option<String>,
        /// Only when git asks with this username.
        #[arg(long)]
        username: Option<String>,
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        mode: Mode,
    },
    /// kubectl: a kubeconfig user (exec plugin) and a context for the cluster.
    Kubectl {
        /// Account name.
        account: String,
        /// The kubeconfig cluster name.
        #[arg(long)]
        cluster: String,
        /// The kubeconfig file (default: first of KUBECONFIG, else ~/.kube/config).
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        mode: Mode,
    },
    /// Docker / OCI registries: credHelpers entry and the rule REGISTRY → ACCOUNT.
    Docker {
        /// Account name.
        account: String,
        /// Registry host (`registry.example.com`, `host:port`).
        #[arg(long)]
        registry: String,
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        mode: Mode,
    },
}

/// What a set-up changes (or would change).
#[derive(Debug, Default)]
struct Plan {
    changes: Vec<String>,
}

/// `latchkey setup`.
pub async fn setup(s: SetupArgs, json: bool) -> Result<u8, Error> {
    let m = manager()?;
    let (plan, mode) = match s.tool {
        Tool::Git {
            account,
            host,
            path,
            username,
            target,
            mode,
        } => {
            let spec = super::tokens::token_spec(&target)?;
            (
                git(&m, &account, host, path, username, spec, mode).await?,
                mode,
            )
        }
        Tool::Kubectl {
            account,
            cluster,
            kubeconfig,
            target,
            mode,
        } => {
            let spec = super::tokens::token_spec(&target)?;
            (
                kubectl(&m, &account, &cluster, kubeconfig, &spec, mode)?,
                mode,
            )
        }
        Tool::Docker {
            account,
            registry,
            target,
            mode,
        } => {
            let spec = super::tokens::token_spec(&target)?;
            (docker(&m, &account, &registry, spec, mode).await?, mode)
        }
    };
    if json {
        println!(
            "{}",
            serde_json::json!({"changed": !plan.changes.is_empty() && !mode.dry_run, "dry_run": mode.dry_run, "changes": plan.changes})
        );
    } else if plan.changes.is_empty() {
        println!(
            "Nothing to change: {}.",
            if mode.undo {
                "not set up"
            } else {
                "already set up"
            }
        );
    } else {
        println!(
            "{}",
            if mode.dry_run {
                "Would change (dry run):"
            } else {
                "Changed:"
            }
        );
        for c in &plan.changes {
            println!("  {c}");
        }
    }
    Ok(0)
}

fn exe() -> Result<String, Error> {
    let p = std::env::current_exe().map_err(|e| Error::io("finding the latchkey binary", e))?;
    p.to_str()
        .map(str::to_string)
        .ok_or_else(|| Error::InvalidInput(format!("the path {} is not UTF-8", p.display())))
}

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

/// For `--undo` without `--scope/--resource/--audience`: the written rule for the same host,
/// path, username and account whatever its spec (else `rule` itself).
fn rule_to_undo(m: &LoginManager, rule: Rule) -> Result<Rule, Error> {
    if !rule.spec.is_empty() {
        return Ok(rule);
    }
    Ok(m.rules()?
        .into_iter()
        .find(|r| {
            r.host == rule.host
                && r.path == rule.path
                && r.username == rule.username
                && r.account == rule.account
        })
        .unwrap_or(rule))
}

async fn apply_rule(
    m: &LoginManager,
    rule: Rule,
    mode: Mode,
    plan: &mut Plan,
) -> Result<(), Error> {
    let present = m.rules()?.contains(&rule);
    let line = format!("rule {}", rule.describe());
    if mode.undo {
        if present {
            if !mode.dry_run {
                m.remove_rule(&rule).await?;
            }
            plan.changes.push(format!("- {line}"));
        }
    } else if !present {
        // The same host, path and username with another account or token spec is replaced.
        let replaced = m
            .rules()?
            .into_iter()
            .find(|r| r.host == rule.host && r.path == rule.path && r.username == rule.username);
        if !mode.dry_run && m.add_rule(rule).await? == RuleChange::Unchanged {
            return Ok(());
        }
        plan.changes.push(match replaced {
            Some(old) => format!("~ {line} (was {})", old.describe()),
            None => format!("+ {line}"),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// git
// ---------------------------------------------------------------------------------------------

fn git_global_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("GIT_CONFIG_GLOBAL").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".gitconfig"))
}

fn run_git(args: &[&str]) -> Result<(i32, String), Error> {
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

async fn git(
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
    if protocol != "https" && !(protocol == "http" && target.is_loopback()) {
        return Err(Error::InvalidInput(format!(
            "{protocol}:// would send tokens in clear text; use https (http only to 127.0.0.1/localhost)"
        )));
    }
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

fn read_config(path: &Path) -> Result<Option<String>, Error> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

fn config_error(path: &Path, detail: impl Into<String>) -> Error {
    Error::Config {
        path: path.display().to_string(),
        detail: detail.into(),
    }
}

fn write_config(path: &Path, text: &str) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let mode = match std::fs::metadata(path) {
        Ok(meta) if meta.permissions().readonly() => {
            return Err(config_error(
                path,
                "the file is read-only; nothing was changed (make it writable and run again)",
            ));
        }
        Ok(meta) => meta.permissions().mode() & 0o7777,
        Err(_) => 0o600,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "config".into());
    let tmp = dir.join(format!(".{name}.latchkey.{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(format!("writing {}", path.display()), e));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// kubectl
// ---------------------------------------------------------------------------------------------

fn kubeconfig_path(explicit: Option<PathBuf>) -> Result<PathBuf, Error> {
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

/// The kubeconfig user name for an account.
pub fn kube_user(account: &str) -> String {
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
    for s in &spec.scopes {
        out.extend(["--scope".to_string(), s.clone()]);
    }
    for r in &spec.resources {
        out.extend(["--resource".to_string(), r.clone()]);
    }
    if let Some(a) = &spec.audience {
        out.extend(["--audience".to_string(), a.clone()]);
    }
    out
}

/// Adds (or with `undo` removes) the user and context in a kubeconfig document. Returns the
/// changes; `doc` is changed in place. Pure, for tests.
pub fn edit_kubeconfig(
    doc: &mut serde_norway::Value,
    account: &str,
    cluster: &str,
    command: &str,
    spec: &TokenSpec,
    undo: bool,
) -> Result<Vec<String>, String> {
    use serde_norway::{Mapping, Value};
    let root = doc
        .as_mapping_mut()
        .ok_or("the document is not a kubeconfig (not a YAML mapping)")?;
    let has_cluster = root
        .get("clusters")
        .and_then(Value::as_sequence)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.get("name").and_then(Value::as_str) == Some(cluster))
        });
    if !has_cluster && !undo {
        return Err(format!(
            "there is no cluster named `{cluster}` (see `kubectl config get-clusters`)"
        ));
    }
    let user_name = kube_user(account);
    let context_name = kube_context(account, cluster);
    let mut user: Value = serde_norway::from_str(&format!(
        "name: {user}\nuser:\n  exec:\n    apiVersion: client.authentication.k8s.io/v1\n    command: {cmd}\n    args: [kubectl-credential, {acct}]\n    interactiveMode: IfAvailable\n    provideClusterInfo: false\n",
        user = serde_norway::to_string(&user_name).map_err(|e| e.to_string())?.trim(),
        cmd = serde_norway::to_string(command).map_err(|e| e.to_string())?.trim(),
        acct = serde_norway::to_string(account).map_err(|e| e.to_string())?.trim(),
    ))
    .map_err(|e| e.to_string())?;
    if let Some(args) = user
        .get_mut("user")
        .and_then(|u| u.get_mut("exec"))
        .and_then(|e| e.get_mut("args"))
        .and_then(Value::as_sequence_mut)
    {
        args.extend(spec_args(spec).into_iter().map(Value::from));
    }
    let mut context = Mapping::new();
    context.insert("name".into(), context_name.clone().into());
    let mut inner = Mapping::new();
    inner.insert("cluster".into(), cluster.into());
    inner.insert("user".into(), user_name.clone().into());
    context.insert("context".into(), Value::Mapping(inner));
    let mut changes = Vec::new();
    for (list, name, entry) in [
        ("users", user_name, user),
        ("contexts", context_name, Value::Mapping(context)),
    ] {
        let seq = root
            .entry(list.into())
            .or_insert_with(|| Value::Sequence(Vec::new()));
        if seq.is_null() {
            *seq = Value::Sequence(Vec::new());
        }
        let seq = seq
            .as_sequence_mut()
            .ok_or_else(|| format!("`{list}` is not a list"))?;
        let pos = seq
            .iter()
            .position(|e| e.get("name").and_then(Value::as_str) == Some(name.as_str()));
        match (pos, undo) {
            (Some(i), true) => {
                seq.remove(i);
                changes.push(format!("- {list}: {name}"));
            }
            (None, true) => {}
            (Some(i), false) if seq[i] == entry => {}
            (Some(i), false) => {
                seq[i] = entry;
                changes.push(format!("~ {list}: {name} (updated)"));
            }
            (None, false) => {
                seq.push(entry);
                changes.push(format!("+ {list}: {name}"));
            }
        }
    }
    Ok(changes)
}

fn kubectl(
    m: &LoginManager,
    account: &str,
    cluster: &str,
    kubeconfig: Option<PathBuf>,
    spec: &TokenSpec,
    mode: Mode,
) -> Result<Plan, Error> {
    m.account(account)?;
    let path = kubeconfig_path(kubeconfig)?;
    let text = read_config(&path)?.ok_or_else(|| {
        config_error(
            &path,
            format!("no kubeconfig here, so no cluster `{cluster}` to sign in to"),
        )
    })?;
    let mut doc: serde_norway::Value = serde_norway::from_str(&text)
        .map_err(|e| config_error(&path, format!("not valid YAML ({e}); nothing was changed")))?;
    let changes = edit_kubeconfig(&mut doc, account, cluster, &exe()?, spec, mode.undo)
        .map_err(|e| config_error(&path, format!("{e}; nothing was changed")))?;
    if !changes.is_empty() && !mode.dry_run {
        let out = serde_norway::to_string(&doc)
            .map_err(|e| config_error(&path, format!("cannot write YAML: {e}")))?;
        write_config(&path, &out)?;
    }
    if !mode.undo {
        eprintln!(
            "Use it with `kubectl --context {ctx} ...` (or `kubectl config use-context {ctx}`).",
            ctx = kube_context(account, cluster)
        );
    }
    Ok(Plan { changes })
}

// ---------------------------------------------------------------------------------------------
// Docker
// ---------------------------------------------------------------------------------------------

fn docker_config_path() -> Result<PathBuf, Error> {
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

async fn docker(
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
    let mut plan = Plan { changes };
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

fn binary_on_path() -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| d.join(super::docker::BINARY_NAME).exists())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECONFIG: &str = "apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://k.example.com:6443
contexts:
- name: admin@prod
  context: {cluster: prod, user: admin}
current-context: admin@prod
users:
- name: admin
  user: {token: keep-me}
preferences: {colors: true}
";

    #[test]
    fn kubeconfig_edit_adds_user_and_context_keeps_the_rest_and_undoes() {
        let mut doc: serde_norway::Value = serde_norway::from_str(KUBECONFIG).unwrap();
        let original = doc.clone();
        let ch = edit_kubeconfig(
            &mut doc,
            "work",
            "prod",
            "/usr/bin/latchkey",
            &TokenSpec::default(),
            false,
        )
        .unwrap();
        assert_eq!(
            ch,
            vec!["+ users: latchkey-work", "+ contexts: latchkey-work@prod"]
        );
        let users = doc["users"].as_sequence().unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[0]["user"]["token"], "keep-me");
        let exec = &users[1]["user"]["exec"];
        assert_eq!(exec["interactiveMode"], "IfAvailable");
        assert_eq!(exec["apiVersion"], "client.authentication.k8s.io/v1");
        assert_eq!(exec["args"][1], "work");
        assert_eq!(doc["current-context"], "admin@prod");
        assert_eq!(doc["preferences"]["colors"], true);
        // Idempotent.
        let again = doc.clone();
        assert!(
            edit_kubeconfig(
                &mut doc,
                "work",
                "prod",
                "/usr/bin/latchkey",
                &TokenSpec::default(),
                false
            )
            .unwrap()
            .is_empty()
        );
        assert_eq!(doc, again);
        // Undo restores the original.
        let ch = edit_kubeconfig(
            &mut doc,
            "work",
            "prod",
            "/usr/bin/latchkey",
            &TokenSpec::default(),
            true,
        )
        .unwrap();
        assert_eq!(ch.len(), 2);
        assert_eq!(doc, original);
        // An unknown cluster or a non-kubeconfig is an error.
        assert!(
            edit_kubeconfig(&mut doc, "work", "nope", "x", &TokenSpec::default(), false)
                .unwrap_err()
                .contains("no cluster named `nope`")
        );
        let mut bad: serde_norway::Value = serde_norway::from_str("- a\n- b\n").unwrap();
        assert!(edit_kubeconfig(&mut bad, "w", "prod", "x", &TokenSpec::default(), false).is_err());
    }

    #[test]
    fn kubeconfig_exec_args_carry_the_token_spec_and_a_new_spec_updates_the_user() {
        let mut doc: serde_norway::Value = serde_norway::from_str(KUBECONFIG).unwrap();
        let spec = TokenSpec::new(
            &["pods:read".into()],
            &["https://k.example.com".into()],
            None,
        )
        .unwrap();
        edit_kubeconfig(&mut doc, "work", "prod", "/usr/bin/latchkey", &spec, false).unwrap();
        let args: Vec<&str> = doc["users"][1]["user"]["exec"]["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            args,
            [
                "kubectl-credential",
                "work",
                "--scope",
                "pods:read",
                "--resource",
                "https://k.example.com"
            ]
        );
        // The same spec again: nothing; another spec: the user is updated, the context kept.
        assert!(
            edit_kubeconfig(&mut doc, "work", "prod", "/usr/bin/latchkey", &spec, false)
                .unwrap()
                .is_empty()
        );
        let ch = edit_kubeconfig(
            &mut doc,
            "work",
            "prod",
            "/usr/bin/latchkey",
            &TokenSpec::default(),
            false,
        )
        .unwrap();
        assert_eq!(ch, vec!["~ users: latchkey-work (updated)"]);
        assert_eq!(
            doc["users"][1]["user"]["exec"]["args"]
                .as_sequence()
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn docker_edit_keeps_other_keys_in_order_and_undoes() {
        let text = r#"{"auths":{"r.test":{"auth":"abc"}},"credHelpers":{"gcr.io":"gcloud"},"zeta":1,"alpha":2}"#;
        let mut doc: serde_json::Value = serde_json::from_str(text).unwrap();
        let ch = edit_docker_config(&mut doc, "registry.example.com:5000", false).unwrap();
        assert_eq!(
            ch,
            vec!["+ credHelpers[\"registry.example.com:5000\"] = \"latchkey\""]
        );
        assert_eq!(doc["credHelpers"]["gcr.io"], "gcloud");
        assert_eq!(doc["auths"]["r.test"]["auth"], "abc");
        let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["auths", "credHelpers", "zeta", "alpha"],
            "key order is kept"
        );
        assert!(
            edit_docker_config(&mut doc, "registry.example.com:5000", false)
                .unwrap()
                .is_empty()
        );
        edit_docker_config(&mut doc, "registry.example.com:5000", true).unwrap();
        assert_eq!(
            doc,
            serde_json::from_str::<serde_json::Value>(text).unwrap()
        );
        let mut bad = serde_json::json!({"credHelpers": []});
        assert!(edit_docker_config(&mut bad, "r", false).is_err());
        let mut bad = serde_json::json!([1]);
        assert!(edit_docker_config(&mut bad, "r", false).is_err());
    }
}
