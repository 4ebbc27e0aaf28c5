//! One function per `latchkey` command, grouped by concern; [`run`] dispatches to them. Each
//! parses nothing (clap did), makes its core calls and prints through [`crate::output`].

mod accounts;
#[cfg(unix)]
mod agent;
pub mod docker;
pub mod exec;
pub mod git;
pub mod kubectl;
pub mod setup;
mod sign_in;
pub mod tokens;
pub mod which;

use std::io::Read;
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

/// The direct path's manager (the CLI's keychain deadline).
pub fn manager() -> Result<LoginManager, Error> {
    Ok(LoginManager::new(ManagerOptions::from_env(CLI_DEADLINE)?))
}

/// Where the commands that hand out tokens or read state get them: the agent first, else
/// [`manager`], built only when the agent does not answer.
pub fn source() -> Source {
    Source::from_env(manager)
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
    let mut out: Vec<String> = Vec::new();
    for s in raw.iter().flat_map(|s| s.split([' ', ','])) {
        if !s.is_empty() && !out.iter().any(|x| x == s) {
            out.push(s.to_string());
        }
    }
    out
}

/// Runs the parsed command; the result is its exit code.
pub async fn run(cli: Cli, interrupt: Interrupt) -> Result<u8, Error> {
    let json = cli.json;
    match cli.command {
        Command::Add(a) => accounts::add(a).await,
        Command::Edit(e) => accounts::edit(e).await,
        Command::List(l) => accounts::list(l, json).await,
        Command::Status(s) => accounts::status(s, json).await,
        Command::Logout(l) => accounts::logout(l, json).await,
        Command::Remove(r) => accounts::remove(r, json).await,
        Command::Login(l) => sign_in::login(l, json, interrupt).await,
        Command::Complete(c) => sign_in::complete(c, json).await,
        Command::Token(t) => tokens::token(t, json).await,
        Command::Refresh(r) => tokens::refresh(r, json).await,
        Command::Request(r) => tokens::request(r).await,
        Command::Introspect(n) => tokens::introspect(n, json).await,
        #[cfg(unix)]
        Command::Agent(a) => agent::agent(a, interrupt).await,
        #[cfg(not(unix))]
        Command::Agent(_) => Err(Error::InvalidInput(
            "the agent is only available on Unix".into(),
        )),
        Command::Which(w) => which::which(w, json).await,
        Command::GitCredential(g) => git::credential(g).await,
        Command::KubectlCredential(k) => kubectl::credential(k).await,
        Command::DockerCredential(d) => Ok(docker::helper(&d.action).await),
        Command::Exec(e) => exec::exec(e, interrupt).await,
        Command::Setup(s) => setup::setup(s, json).await,
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
