//! `latchkey setup git|kubectl|docker|aws|npm|cargo ...`: points a tool at Latchkey and writes the
//! selection rule it needs. Idempotent (a second run changes nothing and says so), prints every
//! change, `--dry-run` only prints them, `--undo` takes them back.
//!
//! - git, kubectl, Docker: planned and applied by the core ([`latchkey_core::setup`]), the same
//!   calls the window's "Connect…" and "Undo" make; see that module for what each tool gets.
//!   This command words the plan (`Changed:` / `Would change (dry run):`, `Nothing to change`)
//!   and the warnings.
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

use clap::{Args, Subcommand};
use latchkey_core::Error;
use latchkey_core::manager::{LoginManager, RuleChange};
use latchkey_core::rules::Rule;
use latchkey_core::setup::{SetupRequest, SetupTarget, SetupWarning, ToolFiles};
use latchkey_core::target::TokenSpec;

use crate::cli::TargetArgs;

use super::DirectPath;

mod aws;
mod cargo;
mod npm;

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
            let target_spec = super::tokens::token_spec(&target)?;
            let t = SetupTarget::Git {
                host,
                path,
                username,
            };
            (tool_setup(&m, &account, t, target_spec, mode).await?, mode)
        }
        Tool::Kubectl {
            account,
            cluster,
            kubeconfig,
            target,
            mode,
        } => {
            let spec = super::tokens::token_spec(&target)?;
            let t = SetupTarget::Kubectl {
                cluster,
                kubeconfig,
            };
            (tool_setup(&m, &account, t, spec, mode).await?, mode)
        }
        Tool::Docker {
            account,
            registry,
            target,
            mode,
        } => {
            let spec = super::tokens::token_spec(&target)?;
            let t = SetupTarget::Docker { registry };
            (tool_setup(&m, &account, t, spec, mode).await?, mode)
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

/// git, kubectl and Docker: the core's plan, applied unless `--dry-run`, in the CLI's words.
async fn tool_setup(
    m: &LoginManager,
    account: &str,
    target: SetupTarget,
    spec: TokenSpec,
    mode: Mode,
) -> Result<Plan, Error> {
    let docker = matches!(target, SetupTarget::Docker { .. });
    let request = SetupRequest {
        account: account.to_string(),
        target,
        spec,
        undo: mode.undo,
        program: exe()?,
        files: ToolFiles::from_env(),
    };
    let plan = m.plan_setup(&request).await?;
    if !mode.dry_run && !plan.is_empty() {
        m.apply_setup(&plan).await?;
    }
    let warnings = plan
        .warnings
        .iter()
        .map(|w| match w {
            SetupWarning::CommentsDropped { path } => format!(
                "{} has comments, which {} not kept: the YAML library drops them when it rewrites the file",
                path.display(),
                if mode.dry_run { "would be" } else { "were" }
            ),
        })
        .collect();
    if let Some(ctx) = &plan.context {
        eprintln!(
            "Use it with `kubectl --context {ctx} ...` (or `kubectl config use-context {ctx}`)."
        );
    }
    if docker && !plan.is_empty() && !mode.undo && !docker_helper_on_path() {
        eprintln!(
            "latchkey: note: Docker runs `docker-credential-latchkey`, which is not on PATH; install the package, or link it: ln -s {} ~/.local/bin/docker-credential-latchkey",
            exe().unwrap_or_else(|_| "/usr/bin/latchkey".into())
        );
    }
    Ok(Plan {
        changes: plan.changes,
        warnings,
    })
}

fn docker_helper_on_path() -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| d.join(crate::commands::docker::BINARY_NAME).exists())
    })
}

fn exe() -> Result<String, Error> {
    // The `latchkey` on PATH (the front), not the full CLI it handed over to.
    let p = std::env::current_exe()
        .map(|exe| latchkey_wire::front::front_for(&exe))
        .map_err(|e| Error::io("finding the latchkey binary", e))?;
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
// Files: read (never clobber a malformed or read-only file), write atomically
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
