//! `latchkey setup git|kubectl|docker|aws|npm|cargo ...`: points a tool at Latchkey and writes the
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
//! - npm registries (pnpm): a wrapper script in `<config>/npm/` that runs `latchkey
//!   npm-token-helper --registry URL`, the `tokenHelper` line naming it in the user `.npmrc`
//!   (`NPM_CONFIG_USERCONFIG`, else `~/.npmrc`), and the rule URL → ACCOUNT. No token is written.
//! - cargo: `[registries.NAME]` in `$CARGO_HOME/config.toml` (default `~/.cargo/config.toml`)
//!   with `index = "sparse+URL"` and `credential-provider = ["<this binary>",
//!   "cargo-credential"]`, comments and layout kept (the table marked as Latchkey's when it
//!   creates it, so `--undo` removes exactly that); plus the rule INDEX → ACCOUNT. No token.
//! - AWS: a profile in `AWS_CONFIG_FILE` (else `~/.aws/config`, never `~/.aws/credentials`)
//!   whose `credential_process` is `latchkey aws-credential ACCOUNT --role-arn ARN`; no rule (the
//!   account is named in the command).
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

mod aws;
mod cargo;
mod docker;
mod git;
mod kubectl;
mod npm;

#[cfg(test)]
use self::docker::edit_docker_config;
#[cfg(test)]
use self::kubectl::*;

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
    /// AWS: a profile in ~/.aws/config whose credential_process is `latchkey aws-credential`.
    Aws {
        /// The AWS profile name (`default` for the default profile).
        profile: String,
        /// Account name (its id_token is exchanged at STS).
        #[arg(long)]
        account: String,
        /// The IAM role to assume.
        #[arg(long, value_name = "ARN")]
        role_arn: String,
        /// The profile's region (also where STS is asked).
        #[arg(long)]
        region: Option<String>,
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        mode: Mode,
    },
    /// npm registries for pnpm: its `tokenHelper` in the user `.npmrc` (a wrapper script in the
    /// config dir; never a token) and the rule REGISTRY → ACCOUNT.
    Npm {
        /// Account name.
        account: String,
        /// Registry URL (`https://npm.example.com/`, `https://host/path/`; plain http only to
        /// 127.0.0.1/localhost).
        #[arg(long)]
        registry: String,
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        mode: Mode,
    },
    /// cargo registries: `[registries.NAME]` in ~/.cargo/config.toml with Latchkey as its
    /// credential provider (never a token) and the rule INDEX → ACCOUNT.
    Cargo {
        /// Account name.
        account: String,
        /// The registry's name in cargo's config (`--registry NAME` of cargo's commands).
        #[arg(long, value_name = "NAME")]
        registry: String,
        /// The sparse index URL (`https://crates.example.com/index/`; `sparse+` is added;
        /// plain http only to 127.0.0.1/localhost).
        #[arg(long, value_name = "URL")]
        index: String,
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
                git::setup(&m, &account, host, path, username, spec, mode).await?,
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
                kubectl::setup(&m, &account, &cluster, kubeconfig, spec, mode).await?,
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
            (
                docker::setup(&m, &account, &registry, spec, mode).await?,
                mode,
            )
        }
        Tool::Npm {
            account,
            registry,
            target,
            mode,
        } => {
            let spec = super::tokens::token_spec(&target)?;
            (npm::setup(&m, &account, &registry, spec, mode).await?, mode)
        }
        Tool::Cargo {
            account,
            registry,
            index,
            target,
            mode,
        } => {
            let spec = super::tokens::token_spec(&target)?;
            (
                cargo::setup(&m, &account, &registry, &index, spec, mode).await?,
                mode,
            )
        }
        Tool::Aws {
            profile,
            account,
            role_arn,
            region,
            target,
            mode,
        } => {
            let spec = super::tokens::token_spec(&target)?;
            (
                aws::setup(
                    &m,
                    &profile,
                    &account,
                    &role_arn,
                    region.as_deref(),
                    spec,
                    mode,
                )
                .await?,
                mode,
            )
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

pub(super) fn read_config(path: &Path) -> Result<Option<String>, Error> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

pub(super) fn config_error(path: &Path, detail: impl Into<String>) -> Error {
    Error::Config {
        path: path.display().to_string(),
        detail: detail.into(),
    }
}

/// Replaces a tool's file through the core's one atomic writer (through a symlink, keeping the
/// file's mode, 0600 when new); a read-only file is refused.
pub(super) fn write_config(path: &Path, text: &str) -> Result<(), Error> {
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
