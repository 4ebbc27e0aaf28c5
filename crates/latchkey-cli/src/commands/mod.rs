//! One function per `latchkey` command, grouped by concern; [`run`] dispatches to them. Each
//! parses nothing (clap did), makes its core calls and prints through [`crate::output`].

mod accounts;
#[cfg(unix)]
mod agent;
mod approvals;
pub mod aws;
pub mod cargo;
pub mod docker;
pub mod exec;
pub mod git;
pub mod kubectl;
pub mod npm;
pub mod setup;
mod sign_in;
mod store;
pub mod tokens;
pub mod which;

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use latchkey_core::http::ResourceRequest;
use latchkey_core::manager::{AccountEdit, LoginManager, ManagerOptions, NewAccount};
use latchkey_core::source::Source;
use latchkey_core::store::CLI_DEADLINE;
use latchkey_core::{
    Error, RedirectMode, Secret, SignInMethod, SignInOptions, TokenOptions, TokenSpec,
};

use crate::cli::*;
use crate::{browser, output};

/// Becomes `true` when the user presses Ctrl-C.
pub type Interrupt = tokio::sync::watch::Receiver<bool>;

/// The direct path of one `latchkey` run: its one [`LoginManager`] (the CLI's keychain
/// deadline; a vault's passphrase, when needed, is asked on the terminal), made when a command
/// first needs it, and kept so that `main` can [`LoginManager::drain`] the renewals it left
/// finishing in the background before the process exits.
#[derive(Default, Clone)]
pub struct DirectPath {
    manager: Arc<std::sync::OnceLock<Arc<LoginManager>>>,
    /// Why the agent did not serve, when it was already asked this run
    /// ([`tokens::token_first`]): it is not asked again.
    agent_declined: Arc<std::sync::OnceLock<String>>,
}

impl DirectPath {
    /// The run's manager.
    pub fn manager(&self) -> Result<Arc<LoginManager>, Error> {
        if let Some(m) = self.manager.get() {
            return Ok(m.clone());
        }
        let m = Arc::new(LoginManager::new(ManagerOptions::from_env_asking(
            CLI_DEADLINE,
            std::sync::Arc::new(crate::passphrase::TerminalPrompt::new()),
        )?));
        Ok(self.manager.get_or_init(|| m).clone())
    }

    /// The run's manager if a command made it.
    pub fn made(&self) -> Option<&Arc<LoginManager>> {
        self.manager.get()
    }

    /// Where the commands that hand out tokens or read state get them: the agent first, else
    /// this run's manager, built only when the agent does not answer.
    pub fn source(&self) -> Source {
        let direct = self.clone();
        let source = Source::from_env(move || direct.manager()).on_wait(Arc::new(
            |p: &latchkey_core::approval::PendingApproval| output::waiting(p),
        ));
        match self.agent_declined.get() {
            Some(reason) => source.without_agent(reason),
            None => source,
        }
    }

    /// Records that the agent was asked and did not serve (`reason`).
    pub fn agent_declined(&self, reason: String) {
        let _ = self.agent_declined.set(reason);
    }
}

fn read_secret_stdin() -> Result<Secret, Error> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| Error::io("reading the client secret from standard input", e))?;
    let s = s.trim_end_matches(['\n', '\r']).to_string();
    if s.is_empty() {
        return Err(Error::InvalidInput(
            "--client-secret-stdin: standard input was empty".into(),
        ));
    }
    Ok(Secret::new(s))
}

fn split_scopes(raw: &[String]) -> Vec<String> {
    latchkey_core::scope::Scopes::from_input(raw).into_vec()
}

/// Runs the parsed command; the result is its exit code.
pub async fn run(cli: Cli, direct: &DirectPath, interrupt: Interrupt) -> Result<u8, Error> {
    let json = cli.json;
    match cli.command {
        Command::Add(a) => accounts::add(direct, a).await,
        Command::Edit(e) => accounts::edit(direct, e).await,
        Command::List(l) => accounts::list(direct, l, json).await,
        Command::Status(s) => accounts::status(direct, s, json).await,
        Command::Logout(l) => accounts::logout(direct, l, json).await,
        Command::Remove(r) => accounts::remove(direct, r, json).await,
        Command::Login(l) => sign_in::login(direct, l, json, interrupt).await,
        Command::Complete(c) => sign_in::complete(direct, c, json).await,
        Command::Token(t) => tokens::token(direct, t, json).await,
        Command::Refresh(r) => tokens::refresh(direct, r, json).await,
        Command::Request(r) => tokens::request(direct, r).await,
        Command::Introspect(n) => tokens::introspect(direct, n, json).await,
        #[cfg(unix)]
        Command::Agent(a) => agent::agent(a, interrupt).await,
        #[cfg(not(unix))]
        Command::Agent(_) => Err(Error::InvalidInput(
            "the agent is only available on Unix".into(),
        )),
        Command::Which(w) => which::which(direct, w, json).await,
        Command::GitCredential(g) => git::credential(direct, g).await,
        Command::KubectlCredential(k) => kubectl::credential(direct, k).await,
        Command::AwsCredential(a) => aws::credential(direct, a).await,
        Command::DockerCredential(d) => Ok(docker::helper(direct, &d.action).await),
        Command::NpmTokenHelper(a) => Ok(npm::token_helper(direct, &a).await),
        Command::CargoCredential(a) => Ok(cargo::credential(direct, &a).await),
        Command::Exec(e) => exec::exec(direct, e, interrupt).await,
        Command::Setup(s) => setup::setup(direct, s, json).await,
        Command::Store(s) => store::store(direct, s, json).await,
        Command::Unlock(u) => store::unlock(direct, json || u.json).await,
        Command::Lock(l) => approvals::lock(direct, json || l.json).await,
        Command::Pending(p) => approvals::pending(direct, json || p.json).await,
        Command::Approve(a) => approvals::approve(direct, a, json).await,
        Command::Deny(d) => approvals::deny(direct, d, json).await,
        Command::Approvals(a) => approvals::approvals(direct, a, json).await,
        Command::Activity(a) => approvals::activity(direct, a, json).await,
    }
}

/// Completes when the user presses Ctrl-C.
async fn interrupted(mut rx: tokio::sync::watch::Receiver<bool>) {
    if rx.wait_for(|v| *v).await.is_err() {
        // No signal handling on this platform: never interrupted.
        std::future::pending::<()>().await;
    }
}

fn provider_spec(p: &ProviderArgs) -> Result<latchkey_core::ProviderSpec, Error> {
    let preset = match &p.provider {
        Some(name) => name
            .parse::<latchkey_core::Preset>()
            .map_err(|e| Error::InvalidInput(e.to_string()))?,
        None if p.auth_url.is_some() || p.token_url.is_some() => latchkey_core::Preset::Manual,
        None => latchkey_core::Preset::Oidc,
    };
    Ok(latchkey_core::ProviderSpec {
        preset,
        issuer: p.issuer.clone(),
        tenant: p.tenant.clone(),
        domain: p.domain.clone(),
        base_url: p.base_url.clone(),
        realm: p.realm.clone(),
        region: p.region.clone(),
        user_pool_id: p.user_pool_id.clone(),
        auth_url: p.auth_url.clone(),
        token_url: p.token_url.clone(),
        revocation_url: p.revocation_url.clone(),
        userinfo_url: p.userinfo_url.clone(),
        device_url: p.device_url.clone(),
    })
}
