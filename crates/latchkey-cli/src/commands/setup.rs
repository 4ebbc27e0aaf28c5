//! `latchkey setup git|kubectl|docker ACCOUNT ...`: points a tool at Latchkey and writes the
//! selection rule it needs. Idempotent (a second run changes nothing and says so), prints every
//! change, `--dry-run` only prints them, `--undo` takes them back.
//!
//! - git: `git config --global` (never a hand edit of the file): for `credential.<url>` an
//!   empty `helper` (so helpers configured for every host do not answer first), Latchkey's
//!   `helper`, and `useHttpPath = true` (git then sends the repository path the rules match
//!   on); plus the rule host[/path] → ACCOUNT.
//! - kubectl: the kubeconfig (`--kubeconfig`, else the first file of `KUBECONFIG`, else
//!   `~/.kube/config`) gets, per account *and* cluster, a `users` entry `latchkey-ACCOUNT@CLUSTER`
//!   (exec plugin `kubectl-credential ACCOUNT --server URL`, `provideClusterInfo: true`,
//!   `interactiveMode: IfAvailable`) and a context `latchkey-ACCOUNT@CLUSTER`; plus the rule
//!   SERVER → ACCOUNT. The cluster's server must be https (plain http only to loopback). A user is
//!   removed only when no context refers to it any more — including the one user
//!   `latchkey-ACCOUNT` that older versions shared between clusters, whose contexts move to the
//!   per-cluster user when their cluster is set up again. Every other entry is kept; comments are
//!   not (the YAML library drops them), and the output says so.
//! - Docker: `credHelpers[REGISTRY] = "latchkey"` in `$DOCKER_CONFIG/config.json` (default
//!   `~/.docker/config.json`), every other key kept; plus the rule REGISTRY → ACCOUNT.
//!
//! `--scope/--resource/--audience` say which token the tool gets (as `latchkey token ACCOUNT
//! --resource URI` does): in the rule for git and Docker, in the exec plugin's args for kubectl.
//! Setting up the same host again with another spec replaces the rule; `--undo` without them
//! removes the rule whatever its spec.
//!
//! A file that is malformed or read-only is never rewritten: the command stops with an error
//! that names it. Files are replaced by the core's one atomic writer
//! ([`latchkey_core::private::replace`]): through a symlink (the link stays), keeping the file's
//! mode (0600 for a new file), never readable by others while it is written.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{Args, Subcommand};
use latchkey_core::Error;
use latchkey_core::manager::{LoginManager, RuleChange};
use latchkey_core::rules::{Rule, Target};
use latchkey_core::target::TokenSpec;

use crate::cli::TargetArgs;

use super::DirectPath;

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
    /// Said on stderr (and in the JSON): what the change costs (e.g. comments lost).
    warnings: Vec<String>,
}

/// `latchkey setup`.
pub async fn setup(direct: &DirectPath, s: SetupArgs, json: bool) -> Result<u8, Error> {
    let m = direct.manager()?;
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
                kubectl(&m, &account, &cluster, kubeconfig, spec, mode).await?,
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
    for w in &plan.warnings {
        eprintln!("latchkey: warning: {w}");
    }
    if json {
        println!(
            "{}",
            serde_json::json!({"changed": !plan.changes.is_empty() && !mode.dry_run, "dry_run": mode.dry_run, "changes": plan.changes, "warnings": plan.warnings})
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

/// Replaces a tool's file through the core's one atomic writer (through a symlink, keeping the
/// file's mode, 0600 when new); a read-only file is refused.
fn write_config(path: &Path, text: &str) -> Result<(), Error> {
    if std::fs::metadata(path).is_ok_and(|m| m.permissions().readonly()) {
        return Err(config_error(
            path,
            "the file is read-only; nothing was changed (make it writable and run again)",
        ));
    }
    let target = latchkey_core::private::resolve_links(path)
        .map_err(|e| Error::io(format!("resolving {}", path.display()), e))?;
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    }
    latchkey_core::private::replace(
        path,
        text.as_bytes(),
        latchkey_core::private::NewMode::KeepExisting,
    )
    .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    Ok(())
}

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
) -> Result<KubeEdit, String> {
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
fn yaml_scalar(s: &str) -> Result<String, String> {
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

async fn kubectl(
    m: &LoginManager,
    account: &str,
    cluster: &str,
    kubeconfig: Option<PathBuf>,
    spec: TokenSpec,
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
    let edit = edit_kubeconfig(&mut doc, account, cluster, &exe()?, &spec, mode.undo)
        .map_err(|e| config_error(&path, format!("{e}; nothing was changed")))?;
    // The token goes only over https (plain http only to loopback): checked before anything
    // is written, by the rule every tool follows.
    let rule = match &edit.server {
        Some(server) => {
            if !mode.undo {
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
            Some(Rule::new(server, None, None, account)?.with_spec(spec))
        }
        None => None,
    };
    let mut plan = Plan {
        changes: edit.changes,
        warnings: Vec::new(),
    };
    if !plan.changes.is_empty() {
        if yaml_has_comments(&text) {
            plan.warnings.push(format!(
                "{} has comments, which {} not kept: the YAML library drops them when it rewrites the file",
                path.display(),
                if mode.dry_run { "would be" } else { "were" }
            ));
        }
        if !mode.dry_run {
            let out = serde_norway::to_string(&doc)
                .map_err(|e| config_error(&path, format!("cannot write YAML: {e}")))?;
            write_config(&path, &out)?;
        }
    }
    if let Some(mut rule) = rule {
        if mode.undo {
            rule = rule_to_undo(m, rule)?;
        }
        apply_rule(m, rule, mode, &mut plan).await?;
    }
    if !mode.undo {
        eprintln!(
            "Use it with `kubectl --context {ctx} ...` (or `kubectl config use-context {ctx}`).",
            ctx = kube_context(account, cluster)
        );
    }
    Ok(plan)
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

    fn edit(
        doc: &mut serde_norway::Value,
        cluster: &str,
        spec: &TokenSpec,
        undo: bool,
    ) -> Vec<String> {
        edit_kubeconfig(doc, "work", cluster, "/usr/bin/latchkey", spec, undo)
            .unwrap()
            .changes
    }

    fn args(doc: &serde_norway::Value, user: &str) -> Vec<String> {
        doc["users"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|u| u["name"] == user)
            .unwrap()["user"]["exec"]["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn kubeconfig_edit_adds_user_and_context_keeps_the_rest_and_undoes() {
        let mut doc: serde_norway::Value = serde_norway::from_str(KUBECONFIG).unwrap();
        let original = doc.clone();
        let e = edit_kubeconfig(
            &mut doc,
            "work",
            "prod",
            "/usr/bin/latchkey",
            &TokenSpec::default(),
            false,
        )
        .unwrap();
        assert_eq!(
            e.changes,
            vec![
                "+ users: latchkey-work@prod",
                "+ contexts: latchkey-work@prod"
            ]
        );
        assert_eq!(e.server.as_deref(), Some("https://k.example.com:6443"));
        let users = doc["users"].as_sequence().unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[0]["user"]["token"], "keep-me");
        let exec = &users[1]["user"]["exec"];
        assert_eq!(exec["interactiveMode"], "IfAvailable");
        assert_eq!(exec["provideClusterInfo"], true);
        assert_eq!(exec["apiVersion"], "client.authentication.k8s.io/v1");
        assert_eq!(
            args(&doc, "latchkey-work@prod"),
            [
                "kubectl-credential",
                "work",
                "--server",
                "https://k.example.com:6443"
            ]
        );
        assert_eq!(doc["contexts"][1]["context"]["user"], "latchkey-work@prod");
        assert_eq!(doc["current-context"], "admin@prod");
        assert_eq!(doc["preferences"]["colors"], true);
        // Idempotent.
        let again = doc.clone();
        assert!(edit(&mut doc, "prod", &TokenSpec::default(), false).is_empty());
        assert_eq!(doc, again);
        // Undo restores the original.
        let ch = edit(&mut doc, "prod", &TokenSpec::default(), true);
        assert_eq!(
            ch,
            vec![
                "- contexts: latchkey-work@prod",
                "- users: latchkey-work@prod"
            ]
        );
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

    const TWO: &str = "apiVersion: v1
clusters:
- name: a
  cluster: {server: 'https://a.test:6443'}
- name: b
  cluster: {server: 'https://b.test:6443'}
";

    #[test]
    fn each_cluster_gets_its_own_user_and_undoing_one_keeps_the_other() {
        let mut doc: serde_norway::Value = serde_norway::from_str(TWO).unwrap();
        let ra = TokenSpec::new(&[], &["https://ra.test".into()], None).unwrap();
        let rb = TokenSpec::new(&[], &["https://rb.test".into()], None).unwrap();
        edit(&mut doc, "a", &ra, false);
        let a_user = args(&doc, "latchkey-work@a");
        assert_eq!(
            edit(&mut doc, "b", &rb, false),
            vec!["+ users: latchkey-work@b", "+ contexts: latchkey-work@b"]
        );
        assert_eq!(
            args(&doc, "latchkey-work@a"),
            a_user,
            "a's user is untouched"
        );
        assert_eq!(
            args(&doc, "latchkey-work@b"),
            [
                "kubectl-credential",
                "work",
                "--server",
                "https://b.test:6443",
                "--resource",
                "https://rb.test"
            ]
        );
        assert!(a_user.contains(&"https://ra.test".to_string()));
        let e = edit_kubeconfig(
            &mut doc,
            "work",
            "b",
            "/usr/bin/latchkey",
            &TokenSpec::default(),
            true,
        )
        .unwrap();
        assert_eq!(e.server.as_deref(), Some("https://b.test:6443"));
        assert_eq!(doc["users"].as_sequence().unwrap().len(), 1);
        assert_eq!(args(&doc, "latchkey-work@a"), a_user);
        assert_eq!(doc["contexts"][0]["name"], "latchkey-work@a");
        // A new spec for a: its user is updated, its context kept.
        assert_eq!(
            edit(&mut doc, "a", &TokenSpec::default(), false),
            vec!["~ users: latchkey-work@a (updated)"]
        );
        assert_eq!(args(&doc, "latchkey-work@a").len(), 4);
    }

    #[test]
    fn the_old_shared_user_is_kept_while_a_context_uses_it_and_then_removed() {
        let old = format!(
            "{TWO}users:
- name: latchkey-work
  user:
    exec: {{command: /usr/bin/latchkey, args: [kubectl-credential, work], provideClusterInfo: false}}
contexts:
- name: latchkey-work@a
  context: {{cluster: a, user: latchkey-work}}
- name: latchkey-work@b
  context: {{cluster: b, user: latchkey-work}}
"
        );
        let mut doc: serde_norway::Value = serde_norway::from_str(&old).unwrap();
        // Setting a up again moves its context to a's own user; b still uses the old one.
        assert_eq!(
            edit(&mut doc, "a", &TokenSpec::default(), false),
            vec![
                "+ users: latchkey-work@a",
                "~ contexts: latchkey-work@a (updated)"
            ]
        );
        assert_eq!(doc["contexts"][1]["context"]["user"], "latchkey-work");
        assert!(
            doc["users"]
                .as_sequence()
                .unwrap()
                .iter()
                .any(|u| u["name"] == "latchkey-work")
        );
        // Undoing b removes its context and then the old user, which nothing uses any more.
        let ch = edit(&mut doc, "b", &TokenSpec::default(), true);
        assert_eq!(ch.len(), 2, "{ch:?}");
        assert_eq!(ch[0], "- contexts: latchkey-work@b");
        assert!(
            ch[1].starts_with("- users: latchkey-work (the user older versions shared"),
            "{ch:?}"
        );
        let names: Vec<&str> = doc["users"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|u| u["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["latchkey-work@a"]);
    }

    #[test]
    fn comments_are_noticed_outside_quotes() {
        assert!(yaml_has_comments("# top\napiVersion: v1\n"));
        assert!(yaml_has_comments("apiVersion: v1 # trailing\n"));
        assert!(!yaml_has_comments(
            "server: 'https://h/#x'\nname: \"a #b\"\n"
        ));
        assert!(!yaml_has_comments("token: abc#def\n"));
        assert!(!yaml_has_comments(KUBECONFIG));
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
