//! Handing a tool its credential: the one decision every integration (git, Docker, kubectl,
//! AWS, pnpm, cargo, `exec`) asks for, whichever process serves it.
//!
//! A tool adapter parses its protocol into a [`CredentialRequest`] (which tool, what it talks
//! to, `LATCHKEY_ACCOUNT`) and words the [`Handout`] it gets back. Everything between lives in
//! [`crate::LoginManager::credential_for`] and nowhere else:
//!
//! 1. **Which account and token spec**: the selection rules ([`crate::rules::select`], with
//!    `LATCHKEY_ACCOUNT`) for a server, [`crate::kube::select_for_cluster`] for a cluster, the
//!    named account for `exec`. No rule: [`Handout::NoRule`] (the tool tries its next helper).
//! 2. **https only** (plain http only to loopback, [`crate::rules::transport_allowed`]):
//!    [`Handout::Refused`] otherwise, before any token is read.
//! 3. **The token** for exactly that spec ([`crate::LoginManager::token_for`]: hot path,
//!    single-flight refresh, rotation).
//! 4. **Bearer only**: every tool here can only send `Authorization: Bearer`, so a DPoP-bound
//!    token (useless without a proof per request) is never handed to one; the error says which
//!    account and what to do.
//! 5. **The username** a provider expects beside a token
//!    ([`crate::LoginManager::token_username`]).
//!
//! The agent serves the same call as its `credential` operation ([`crate::agent::protocol`]),
//! so a tool answered by the agent needs no keychain, HTTPS client or manager of its own
//! ([`crate::source::Source`]).

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::rules::Selection;
use crate::token::AccessToken;

/// The tools a token is handed to. All of them send only Bearer tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tool {
    /// `latchkey git-credential`.
    Git,
    /// `docker-credential-latchkey`.
    Docker,
    /// `latchkey kubectl-credential`.
    Kubectl,
    /// `latchkey exec`.
    Exec,
    /// `latchkey aws-credential`: an empty spec hands out the account's id_token (the web
    /// identity STS exchanges), any spec the access token for it.
    Aws,
    /// `latchkey npm-token-helper` (pnpm's `tokenHelper`).
    Npm,
    /// `latchkey cargo-credential` (cargo's credential provider).
    Cargo,
}

impl Tool {
    /// The tool's name as people know it.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Git => "git",
            Tool::Docker => "Docker",
            Tool::Kubectl => "kubectl",
            Tool::Exec => "exec",
            Tool::Aws => "AWS",
            Tool::Npm => "pnpm",
            Tool::Cargo => "cargo",
        }
    }

    /// The tool's stable id in records and JSON (`git`, `docker`, `kubectl`, `exec`, `aws`,
    /// `npm`).
    pub fn id(self) -> &'static str {
        match self {
            Tool::Git => "git",
            Tool::Docker => "docker",
            Tool::Kubectl => "kubectl",
            Tool::Exec => "exec",
            Tool::Aws => "aws",
            Tool::Npm => "npm",
            Tool::Cargo => "cargo",
        }
    }

    /// Whether an empty token spec means the account's id_token rather than its access token
    /// (AWS STS takes an OpenID Connect id_token as the web identity).
    pub fn wants_id_token(self) -> bool {
        self == Tool::Aws
    }

    /// The one bearer-only rule: whether the tool can send nothing but `Authorization: Bearer`
    /// (so a DPoP-bound token is refused). True of every tool Latchkey integrates with today;
    /// a tool that learns DPoP changes its answer here.
    pub fn bearer_only(self) -> bool {
        match self {
            Tool::Git
            | Tool::Docker
            | Tool::Kubectl
            | Tool::Exec
            | Tool::Aws
            | Tool::Npm
            | Tool::Cargo => true,
        }
    }
}

/// What the tool talks to, as its protocol named it (parsed by the core, on whichever side
/// serves the request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    /// git's request: `protocol`, `host` (with `:port`), `path`, `username`.
    GitRequest {
        /// `protocol`.
        protocol: Option<String>,
        /// `host`.
        host: String,
        /// `path`.
        #[serde(default)]
        path: Option<String>,
        /// `username`.
        #[serde(default)]
        username: Option<String>,
    },
    /// A server URL or a bare `host[:port][/path]` (Docker's registries).
    Server {
        /// As the tool sent it.
        url: String,
    },
    /// The cluster kubectl runs `kubectl-credential` for.
    Cluster {
        /// The cluster's server from `KUBERNETES_EXEC_INFO`.
        #[serde(default)]
        server: Option<String>,
        /// The account the exec args name.
        #[serde(default)]
        account: Option<String>,
        /// The server the exec args record (`--server`).
        #[serde(default)]
        recorded_server: Option<String>,
        /// `--scope/--resource/--audience` of the exec args.
        #[serde(default)]
        spec: crate::target::TokenSpec,
    },
    /// An account the caller names (`exec ACCOUNT`), with a token spec.
    Account {
        /// The account.
        account: String,
        /// What the token is for (empty: the account's own token).
        #[serde(default)]
        spec: crate::target::TokenSpec,
    },
}

/// A tool's request for a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialRequest {
    /// Who asks.
    pub tool: Tool,
    /// For what.
    pub subject: Subject,
    /// `LATCHKEY_ACCOUNT` (the override of the selection rules).
    #[serde(default)]
    pub env_override: Option<String>,
    /// Minimum remaining validity in seconds (`exec --min-ttl`).
    #[serde(default)]
    pub min_ttl: Option<u64>,
}

/// A credential handed to a tool.
#[derive(Debug, Clone)]
pub struct Credential {
    /// The account it belongs to.
    pub account: String,
    /// The username to present beside the token (git over HTTPS, registries).
    pub username: String,
    /// The (Bearer) access token.
    pub token: AccessToken,
}

/// The outcome of [`crate::LoginManager::credential_for`].
#[derive(Debug, Clone)]
pub enum Handout {
    /// No selection rule names this server: the tool should look elsewhere.
    NoRule,
    /// A rule names it but no token may travel there (plain http to another host); the reason
    /// is for people and quotes no secret.
    Refused(String),
    /// The credential.
    Issued(Credential),
}

/// What a tool protocol ([`crate::tools`]) asks of Latchkey. [`crate::source::Source`]
/// implements it (the agent first, else this process); tests use fakes.
pub trait Handouts {
    /// The credential for `request` ([`crate::LoginManager::credential_for`]).
    fn credential(&self, request: CredentialRequest) -> impl Future<Output = Result<Handout>>;
    /// The account the rules pick for `subject` (Docker's `store` names it in its refusal).
    fn select(
        &self,
        subject: &Subject,
        env_override: Option<&str>,
    ) -> impl Future<Output = Result<Option<Selection>>>;
    /// The tool had the account's token rejected (`erase`): the next hand-out refreshes once.
    /// The account marked, or `None` when no rule names `subject`.
    fn token_rejected(
        &self,
        subject: &Subject,
        env_override: Option<&str>,
    ) -> impl Future<Output = Result<Option<String>>>;
    /// Each rule's pattern with the username its account presents (Docker's `list`).
    fn usernames(&self) -> impl Future<Output = Result<Vec<(String, String)>>>;
}

/// A hand-out's origin, whom to tell when it waits, and where its activity record goes.
#[derive(Clone, Copy)]
pub struct Asker<'a> {
    /// Who asks.
    pub origin: &'a crate::approval::Origin,
    /// Told once when a prompt is raised.
    pub on_wait: Option<crate::approval::OnWait<'a>>,
    /// Records kept until the answer is sent (the agent), else written at once.
    pub later: Option<&'a crate::activity::Later>,
}

impl std::fmt::Debug for Asker<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Asker")
            .field("origin", self.origin)
            .finish()
    }
}

impl<'a> Asker<'a> {
    /// An asker nobody is told about.
    pub fn new(origin: &'a crate::approval::Origin) -> Self {
        Asker {
            origin,
            on_wait: None,
            later: None,
        }
    }
}
