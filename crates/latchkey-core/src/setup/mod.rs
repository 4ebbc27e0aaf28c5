//! Pointing a tool at Latchkey — git, kubectl, Docker — as a plan first, then applied: the one
//! implementation behind `latchkey setup git|kubectl|docker [--dry-run] [--undo]` and the
//! window's "Connect…" / "Undo" (both call [`LoginManager::plan_setup`] and
//! [`LoginManager::apply_setup`]).
//!
//! A [`SetupPlan`] is computed without touching anything: per file its text before and after
//! (git's own `git config --file` edits a private copy, so git decides the bytes as it always
//! did), the rule to add or remove in `accounts.toml`, and one line per change in the words the
//! CLI prints. [`LoginManager::apply_setup`] checks every file still reads as it did when the
//! plan was made (a preview shown in the window may be minutes old), refuses a read-only file
//! before anything is written, then writes each file through the one atomic writer
//! ([`crate::private::replace`]: through a symlink, keeping the mode, 0600 when new) and
//! changes the rule last. A malformed file fails the plan and nothing is written.
//!
//! What each tool gets:
//! - git: in the global config, for `credential.<url>` an empty `helper` (helpers configured
//!   for every host do not answer first), Latchkey's `helper`, `useHttpPath = true`; plus the
//!   rule host[/path] → ACCOUNT. Undo keeps the helper while another rule needs the host.
//! - kubectl: per account *and* cluster a kubeconfig user `latchkey-ACCOUNT@CLUSTER` (exec
//!   plugin) and context; plus the rule SERVER → ACCOUNT (https only, http to loopback). The
//!   YAML library drops comments: [`SetupWarning::CommentsDropped`] says so.
//! - Docker: `credHelpers[REGISTRY] = "latchkey"` in `$DOCKER_CONFIG/config.json`; plus the
//!   rule REGISTRY → ACCOUNT.
//!
//! [`LoginManager::connections`] reads it back: the rules naming an account, each with the tool
//! whose files point at Latchkey for it, and what undoing it takes.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::manager::LoginManager;
use crate::rules::Rule;
use crate::target::TokenSpec;
use crate::{Error, Result};

mod docker;
mod git;
mod kubectl;

pub use docker::{docker_config_path, edit_docker_config};
pub use git::git_global_path;
pub use kubectl::{
    KubeEdit, edit_kubeconfig, kube_context, kube_user, kubeconfig_path, legacy_kube_user,
    spec_args, yaml_has_comments,
};

/// The tool and where: what `latchkey setup TOOL ...` names besides the account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(tag = "tool", rename_all = "snake_case")]
pub enum SetupTarget {
    /// git over HTTPS for a host (and optionally a path prefix and username).
    Git {
        /// `git.example.com`, `host:port` or a URL; `None`: the provider's code host (GitHub,
        /// GitLab).
        #[serde(default)]
        host: Option<String>,
        /// Only repositories under this path prefix.
        #[serde(default)]
        path: Option<String>,
        /// Only when git asks with this username.
        #[serde(default)]
        username: Option<String>,
    },
    /// kubectl for a cluster of a kubeconfig.
    Kubectl {
        /// The kubeconfig cluster name.
        cluster: String,
        /// The kubeconfig (default: first of `KUBECONFIG`, else `~/.kube/config`).
        #[serde(default)]
        kubeconfig: Option<PathBuf>,
    },
    /// Docker / OCI registries.
    Docker {
        /// Registry host (`registry.example.com`, `host:port`).
        registry: String,
    },
}

/// What to set up (or undo).
#[derive(Debug, Clone)]
pub struct SetupRequest {
    /// The account the tool's requests use.
    pub account: String,
    /// The tool and where.
    pub target: SetupTarget,
    /// Which token the tool gets (empty: the account's own). On undo, empty means "whatever
    /// spec the rule has".
    pub spec: TokenSpec,
    /// Take the set-up back out.
    pub undo: bool,
    /// The `latchkey` program the tool runs (absolute path), as it is written into the files.
    pub program: String,
    /// Where the tools' files are.
    pub files: ToolFiles,
}

/// Where the tools' files are: [`ToolFiles::from_env`] the way each tool finds its own
/// (tests name temporary files).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolFiles {
    /// The file `git config --global` writes.
    pub git: Option<PathBuf>,
    /// Docker's `config.json`.
    pub docker: Option<PathBuf>,
    /// The kubeconfig (a request's own `kubeconfig` wins).
    pub kubeconfig: Option<PathBuf>,
}

impl ToolFiles {
    /// Each tool's file as the tool finds it: `GIT_CONFIG_GLOBAL` / `~/.gitconfig` (see
    /// [`git_global_path`]), `DOCKER_CONFIG` / `~/.docker/config.json`, the first file of
    /// `KUBECONFIG` / `~/.kube/config`.
    pub fn from_env() -> Self {
        ToolFiles {
            git: git_global_path(),
            docker: docker_config_path().ok(),
            kubeconfig: kubeconfig_path(None).ok(),
        }
    }

    fn git(&self) -> Result<&Path> {
        self.git
            .as_deref()
            .ok_or_else(|| Error::InvalidInput("no HOME: set GIT_CONFIG_GLOBAL".into()))
    }

    fn docker(&self) -> Result<&Path> {
        self.docker
            .as_deref()
            .ok_or_else(|| Error::InvalidInput("no HOME: set DOCKER_CONFIG".into()))
    }

    fn kubeconfig(&self, explicit: Option<&Path>) -> Result<PathBuf> {
        explicit
            .or(self.kubeconfig.as_deref())
            .map(Path::to_path_buf)
            .ok_or_else(|| Error::InvalidInput("no HOME: pass --kubeconfig".into()))
    }
}

/// One file a plan changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    /// The file (as named: a symlink stays a symlink).
    pub path: PathBuf,
    /// Its text when the plan was made (`None`: no such file).
    pub before: Option<String>,
    /// Its text after the change.
    pub after: String,
    /// One line per change, for people.
    pub description: Vec<String>,
}

/// A changed line of a [`FileChange`], for a preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffLine {
    /// `+` added, `-` removed.
    pub op: char,
    /// The line (a value after a secret-looking key is shown as `[redacted]`).
    pub text: String,
}

impl FileChange {
    /// The lines removed and added, in file order: the common head and tail are skipped, the
    /// middle compared line by line (longest common subsequence; when that would be large, the
    /// middle is shown as removed then added). Values of secret-looking keys (`token`,
    /// `password`, `auth`, …) are redacted: a preview must not carry another tool's secret.
    pub fn diff(&self) -> Vec<DiffLine> {
        /// Above this many cells the middle is not compared line by line.
        const MAX_CELLS: usize = 1 << 20;
        let a: Vec<&str> = self.before.as_deref().unwrap_or("").lines().collect();
        let b: Vec<&str> = self.after.lines().collect();
        let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
        let tail = a[head..]
            .iter()
            .rev()
            .zip(b[head..].iter().rev())
            .take_while(|(x, y)| x == y)
            .count();
        let (a, b) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
        let (n, m) = (a.len(), b.len());
        let line = |op, text: &str| DiffLine {
            op,
            text: redact_line(text),
        };
        if (n + 1).saturating_mul(m + 1) > MAX_CELLS {
            return a
                .iter()
                .map(|t| line('-', t))
                .chain(b.iter().map(|t| line('+', t)))
                .collect();
        }
        let mut lcs = vec![vec![0u32; m + 1]; n + 1];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i][j] = if a[i] == b[j] {
                    lcs[i + 1][j + 1] + 1
                } else {
                    lcs[i + 1][j].max(lcs[i][j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < n || j < m {
            if i < n && j < m && a[i] == b[j] {
                i += 1;
                j += 1;
            } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
                out.push(line('+', b[j]));
                j += 1;
            } else {
                out.push(line('-', a[i]));
                i += 1;
            }
        }
        out
    }
}

/// `key: value` / `key = value` / `"key": value` with a secret-looking key → the value redacted.
fn redact_line(line: &str) -> String {
    const SECRET_KEYS: &[&str] = &[
        "token",
        "password",
        "secret",
        "auth",
        "key-data",
        "identitytoken",
        "extraheader",
    ];
    if line.trim_start().starts_with('[') {
        // A section header (`[credential "https://host"]`): no value.
        return line.to_string();
    }
    let Some(at) = line.find([':', '=']) else {
        return line.to_string();
    };
    let key = line[..at]
        .trim()
        .trim_start_matches("- ")
        .trim_matches(['"', '\'', '{', ' '])
        .to_ascii_lowercase();
    // Latchkey's own git section names `credential.…`: its values are commands, not secrets.
    let ours = line.contains("git-credential") || key == "usehttppath" || key == "helper";
    if !ours && !key.is_empty() && SECRET_KEYS.iter().any(|k| key.contains(k)) {
        let value = line[at + 1..].trim();
        if !value.is_empty() && value != "{" && value != "[" {
            return format!("{} [redacted]", &line[..=at]);
        }
    }
    line.to_string()
}

/// The rule a plan adds or removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum RuleEdit {
    /// Add the rule; `replaces` is the rule for the same host, path and username it replaces.
    Add {
        /// The new rule.
        rule: Rule,
        /// The rule it replaces.
        replaces: Option<Rule>,
    },
    /// Remove the rule.
    Remove {
        /// The rule.
        rule: Rule,
    },
}

/// What a set-up costs, said beside the changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SetupWarning {
    /// The file has comments, which the rewrite drops (kubeconfig: the YAML library).
    CommentsDropped {
        /// The file.
        path: PathBuf,
    },
}

/// What a set-up (or undo) changes: computed by [`LoginManager::plan_setup`], carried out by
/// [`LoginManager::apply_setup`]. Empty: nothing to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetupPlan {
    /// The request's account.
    pub account: String,
    /// The request's tool and where.
    pub target: SetupTarget,
    /// An undo.
    pub undo: bool,
    /// The files to change (only those whose text changes).
    pub files: Vec<FileChange>,
    /// The rule to add or remove.
    pub rule: Option<RuleEdit>,
    /// Every change, one line each, in order (the words `latchkey setup` prints).
    pub changes: Vec<String>,
    /// What the change costs.
    pub warnings: Vec<SetupWarning>,
    /// The kubeconfig context to use (kubectl, not on undo).
    pub context: Option<String>,
}

impl SetupPlan {
    /// Nothing to change (already set up, or not set up for an undo).
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Reads a tool's file; `None` when there is none.
pub(crate) fn read_config(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

pub(crate) fn config_error(path: &Path, detail: impl Into<String>) -> Error {
    Error::Config {
        path: path.display().to_string(),
        detail: detail.into(),
    }
}

/// Refuses a read-only file (nothing is written then).
fn check_writable(path: &Path) -> Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.permissions().readonly()) {
        return Err(config_error(
            path,
            "the file is read-only; nothing was changed (make it writable and run again)",
        ));
    }
    Ok(())
}

/// Replaces a tool's file through the core's one atomic writer (through a symlink, keeping the
/// file's mode, 0600 when new), creating its directory.
fn write_config(path: &Path, text: &str) -> Result<()> {
    let target = crate::private::resolve_links(path)
        .map_err(|e| Error::io(format!("resolving {}", path.display()), e))?;
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    }
    crate::private::replace(path, text.as_bytes(), crate::private::NewMode::KeepExisting)
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    Ok(())
}

/// For an undo without a token spec: the written rule for the same host, path, username and
/// account whatever its spec (else `rule` itself).
fn rule_to_undo(rules: &[Rule], rule: Rule) -> Rule {
    if !rule.spec.is_empty() {
        return rule;
    }
    rules
        .iter()
        .find(|r| {
            r.host == rule.host
                && r.path == rule.path
                && r.username == rule.username
                && r.account == rule.account
        })
        .cloned()
        .unwrap_or(rule)
}

/// The rule edit (and its line) that sets up or undoes `rule` given the written `rules`.
fn plan_rule(rules: &[Rule], rule: Rule, undo: bool) -> Option<(RuleEdit, String)> {
    let present = rules.contains(&rule);
    let line = format!("rule {}", rule.describe());
    if undo {
        return present.then(|| (RuleEdit::Remove { rule }, format!("- {line}")));
    }
    if present {
        return None;
    }
    // The same host, path and username with another account or token spec is replaced.
    let replaces = rules
        .iter()
        .find(|r| r.host == rule.host && r.path == rule.path && r.username == rule.username)
        .cloned();
    let text = match &replaces {
        Some(old) => format!("~ {line} (was {})", old.describe()),
        None => format!("+ {line}"),
    };
    Some((RuleEdit::Add { rule, replaces }, text))
}

impl LoginManager {
    /// What setting up (or undoing) `request` would change, touching nothing (see the module
    /// docs). An unknown account, a malformed file or a server the token may not go to
    /// (https only; http to loopback) is an error.
    pub async fn plan_setup(&self, request: &SetupRequest) -> Result<SetupPlan> {
        let account = self.account(&request.account)?;
        let rules = self.rules()?;
        let mut plan = SetupPlan {
            account: account.name.clone(),
            target: request.target.clone(),
            undo: request.undo,
            files: Vec::new(),
            rule: None,
            changes: Vec::new(),
            warnings: Vec::new(),
            context: None,
        };
        match &request.target {
            SetupTarget::Git {
                host,
                path,
                username,
            } => {
                let host = host
                    .clone()
                    .filter(|h| !h.trim().is_empty())
                    .or_else(|| self.default_git_host(&account))
                    .ok_or_else(|| {
                        Error::InvalidInput("give the git host".into()).with_remedy(
                            crate::remedy::Remedy::SetupGit {
                                account: account.name.clone(),
                            },
                        )
                    })?;
                git::plan(
                    &mut plan,
                    &rules,
                    &host,
                    path.as_deref(),
                    username.as_deref(),
                    request,
                )?;
            }
            SetupTarget::Kubectl {
                cluster,
                kubeconfig,
            } => kubectl::plan(&mut plan, &rules, cluster, kubeconfig.clone(), request)?,
            SetupTarget::Docker { registry } => docker::plan(&mut plan, &rules, registry, request)?,
        }
        Ok(plan)
    }

    /// Carries out a plan from [`Self::plan_setup`]: every file must still read as it did
    /// then and be writable (else nothing is written and the error says to look again); the
    /// files are replaced atomically, then the rule is changed. Returns the plan's changes.
    pub async fn apply_setup(&self, plan: &SetupPlan) -> Result<Vec<String>> {
        for f in &plan.files {
            if read_config(&f.path)? != f.before {
                return Err(config_error(
                    &f.path,
                    "the file changed since the preview; nothing was changed (look at the preview again)",
                ));
            }
            check_writable(&f.path)?;
        }
        for f in &plan.files {
            write_config(&f.path, &f.after)?;
        }
        match &plan.rule {
            Some(RuleEdit::Add { rule, .. }) => {
                let change = self.add_rule(rule.clone()).await?;
                tracing::debug!(?change, "rule added");
            }
            Some(RuleEdit::Remove { rule }) => {
                self.remove_rule(rule).await?;
            }
            None => {}
        }
        Ok(plan.changes.clone())
    }

    /// What points at Latchkey for `account`: each rule naming it, with the tool whose files
    /// were set up for it (git, kubectl, Docker; [`ConnectionTool::Rule`] when none is found,
    /// e.g. npm or a rule written by hand), and kubeconfig users set up for it whose rule is
    /// gone. Each set-up connection carries the [`SetupTarget`] that undoes it. Reads files
    /// only; a tool's file that cannot be read is passed over.
    pub fn connections(&self, account: &str, files: &ToolFiles) -> Result<Vec<Connection>> {
        let account = self.account(account)?;
        let rules: Vec<Rule> = self
            .rules()?
            .into_iter()
            .filter(|r| r.account == account.name)
            .collect();
        let docker = files
            .docker()
            .and_then(docker::registries)
            .unwrap_or_default();
        let kube = files
            .kubeconfig(None)
            .and_then(|k| kubectl::clusters_of(&k, &account.name))
            .unwrap_or_default();
        let git_hosts = files.git().map(git::helper_hosts).unwrap_or_default();
        let mut out = Vec::new();
        let mut kube_seen = Vec::new();
        for rule in rules {
            let authority = rule.host.clone();
            let kube_hit = kube.iter().find(|(_, server)| {
                crate::rules::Target::parse(server).is_ok_and(|t| t.authority() == authority)
            });
            let (tool, target) = if let Some((cluster, _)) = kube_hit
                && rule.path.is_none()
            {
                kube_seen.push(cluster.clone());
                (
                    ConnectionTool::Kubectl,
                    Some(SetupTarget::Kubectl {
                        cluster: cluster.clone(),
                        kubeconfig: None,
                    }),
                )
            } else if rule.path.is_none() && rule.username.is_none() && docker.contains(&authority)
            {
                (
                    ConnectionTool::Docker,
                    Some(SetupTarget::Docker {
                        registry: authority.clone(),
                    }),
                )
            } else if let Some((url, _)) = git_hosts.iter().find(|(_, a)| a == &authority) {
                (
                    ConnectionTool::Git,
                    Some(SetupTarget::Git {
                        host: Some(url.clone()),
                        path: rule.path.clone(),
                        username: rule.username.clone(),
                    }),
                )
            } else {
                (ConnectionTool::Rule, None)
            };
            let detail = match &target {
                Some(SetupTarget::Kubectl { cluster, .. }) => format!("cluster {cluster}"),
                _ => rule.pattern(),
            };
            out.push(Connection {
                tool,
                detail,
                rule: Some(rule.describe()),
                token_for: (!rule.spec.is_empty()).then(|| rule.spec.describe()),
                undo: target,
            });
        }
        for (cluster, server) in kube {
            if !kube_seen.contains(&cluster) {
                out.push(Connection {
                    tool: ConnectionTool::Kubectl,
                    detail: format!("cluster {cluster} ({server}; no rule)"),
                    rule: None,
                    token_for: None,
                    undo: Some(SetupTarget::Kubectl {
                        cluster,
                        kubeconfig: None,
                    }),
                });
            }
        }
        Ok(out)
    }
}

/// Which tool a [`Connection`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionTool {
    /// git's credential helper.
    Git,
    /// A kubeconfig user (exec plugin) and context.
    Kubectl,
    /// Docker's `credHelpers`.
    Docker,
    /// A rule whose tool set-up was not found (npm, or written by hand).
    Rule,
}

/// One thing that points at Latchkey for an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Connection {
    /// The tool.
    pub tool: ConnectionTool,
    /// Where, for people (`host/path`, `cluster NAME`, the registry).
    pub detail: String,
    /// The rule, for people (`pattern → account (the token for …)`).
    pub rule: Option<String>,
    /// The token spec the rule names, for people (`None`: the account's own token).
    pub token_for: Option<String>,
    /// What [`LoginManager::plan_setup`] with `undo` takes back (`None`: no tool set-up to
    /// undo from here).
    pub undo: Option<SetupTarget>,
}

/// The `latchkey` CLI to write into a tool's files when the caller is another program (the
/// desktop app): the `latchkey` beside `exe`, if there is one.
pub fn cli_beside(exe: &Path) -> Option<PathBuf> {
    let cli = exe.with_file_name(if cfg!(windows) {
        "latchkey.exe"
    } else {
        "latchkey"
    });
    cli.is_file().then_some(cli)
}

#[cfg(test)]
mod tests;
