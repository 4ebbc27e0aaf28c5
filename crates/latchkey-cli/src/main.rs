//! `latchkey`: the command-line face of Latchkey. Parses arguments, makes one core call per
//! command, prints tables or JSON, and maps errors to documented exit codes. All OAuth, keychain
//! and file logic lives in `latchkey-core`.

mod browser;
mod cli;
mod logging;
mod output;

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use latchkey_core::http::ResourceRequest;
use latchkey_core::manager::{AccountEdit, LoginManager, ManagerOptions, NewAccount};
use latchkey_core::store::CLI_DEADLINE;
use latchkey_core::{Error, GrantFlow, RedirectMode, Secret, SignInOptions, TokenOptions};

use crate::cli::{Cli, Command, ProviderArgs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("latchkey: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    // Ctrl-C: the first one asks the command to stop at a safe point (a sign-in is abandoned
    // and cleaned up; a refresh in flight still stores its rotated token); a second one exits.
    let (interrupt_tx, interrupt_rx) = tokio::sync::watch::channel(false);
    let result = runtime.block_on(async {
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = interrupt_tx.send(true);
                eprintln!(
                    "latchkey: interrupted; finishing safely (press Ctrl-C again to quit now)"
                );
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        });
        let interrupted = interrupt_rx.clone();
        let r = run(cli, interrupt_rx).await;
        if *interrupted.borrow() {
            Err(Error::Interrupted)
        } else {
            r
        }
    });
    // A keychain call stuck on an unlock prompt must not keep the process alive.
    runtime.shutdown_timeout(Duration::from_millis(300));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            tracing::info!(kind = %e.kind(), "command failed: {e}");
            eprintln!("latchkey: {e}");
            let code = e.kind().exit_code();
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
    }
}

fn manager() -> Result<LoginManager, Error> {
    Ok(LoginManager::new(ManagerOptions::from_env(CLI_DEADLINE)?))
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

async fn run(cli: Cli, interrupt: tokio::sync::watch::Receiver<bool>) -> Result<u8, Error> {
    match cli.command {
        Command::Add(a) => {
            let m = manager()?;
            let secret = if a.client_secret_stdin {
                Some(read_secret_stdin()?)
            } else {
                None
            };
            let spec = provider_spec(&a.provider)?;
            let account = m
                .add(NewAccount {
                    name: a.name.clone(),
                    provider: spec,
                    client_id: a.client_id.clone(),
                    client_secret: secret,
                    scopes: split_scopes(&a.scope),
                    redirect: a.redirect.unwrap_or_default(),
                    port: a.port,
                    keep_signed_in: a.keep_signed_in,
                    label: a.label.clone(),
                    flow: a.flow.unwrap_or_default(),
                    client_auth: a.auth,
                    dpop: a.dpop,
                })
                .await?;
            output::added(&account);
            Ok(0)
        }
        Command::Edit(e) => {
            let m = manager()?;
            let secret = if e.client_secret_stdin {
                Some(Some(read_secret_stdin()?))
            } else if e.remove_client_secret {
                Some(None)
            } else {
                None
            };
            let scopes = if e.scope.is_empty() {
                None
            } else {
                Some(split_scopes(&e.scope))
            };
            let port = match (e.port, e.ephemeral_port) {
                (Some(p), _) => Some(Some(p)),
                (None, true) => Some(None),
                (None, false) => None,
            };
            let label = match (e.label, e.remove_label) {
                (Some(l), _) => Some(Some(l)),
                (None, true) => Some(None),
                (None, false) => None,
            };
            let out = m
                .edit(
                    &e.name,
                    AccountEdit {
                        label,
                        client_id: e.client_id,
                        client_secret: secret,
                        scopes,
                        redirect: e.redirect,
                        port,
                        keep_signed_in: e.keep_signed_in,
                        flow: e.flow,
                        client_auth: e.auth.map(Some),
                        dpop: e.dpop,
                    },
                )
                .await?;
            output::edited(&out);
            Ok(0)
        }
        Command::Login(l) => {
            let m = manager()?;
            let account = m.account(&l.name)?;
            let opts = SignInOptions {
                replace_identity: l.replace,
                redirect: None,
            };
            let timeout = Duration::from_secs(l.timeout);
            if account.flow == GrantFlow::ClientCredentials {
                let done = m.sign_in_client_credentials(&l.name).await?;
                output::signed_in(&done, cli.json || l.json);
                return Ok(0);
            }
            if l.device || account.flow == GrantFlow::Device {
                let started = m.start_device_sign_in(&l.name, opts).await?;
                output::device_codes(&started);
                if !l.no_browser
                    && let Some(url) = &started.verification_uri_complete
                    && let Err(e) = latchkey_core::browser::open(url)
                {
                    eprintln!("(could not open a browser: {e})");
                }
                let done = tokio::select! {
                    r = m.finish_device_sign_in(&started, interrupted(interrupt.clone())) => r,
                    () = output::countdown(started.expires_at) => Err(Error::Interrupted),
                };
                output::end_countdown();
                output::signed_in(&done?, cli.json || l.json);
                return Ok(0);
            }
            let done = match account.redirect {
                RedirectMode::Loopback => {
                    m.sign_in_loopback(
                        &l.name,
                        opts,
                        timeout,
                        |start| browser::present(&start.url, l.no_browser),
                        interrupted(interrupt.clone()),
                    )
                    .await?
                }
                RedirectMode::Scheme => {
                    let started = time::OffsetDateTime::now_utc();
                    let start = m.start_sign_in(&l.name, opts).await?;
                    browser::present(&start.url, l.no_browser);
                    eprintln!(
                        "Waiting for the Latchkey desktop app to receive the callback at {} …",
                        start.redirect_uri
                    );
                    let waited = tokio::select! {
                        r = m.wait_for_completion(&l.name, &start.digest, started, timeout) => r,
                        () = interrupted(interrupt.clone()) => Err(Error::Interrupted),
                    };
                    if waited.is_err() {
                        let _ = m.cancel_sign_in(&start.digest).await;
                    }
                    waited?
                }
            };
            output::signed_in(&done, cli.json || l.json);
            Ok(0)
        }
        Command::Complete(c) => {
            let m = manager()?;
            let done = m.complete_sign_in(&c.url).await?;
            output::signed_in(&done, cli.json || c.json);
            Ok(0)
        }
        Command::List(l) => {
            let m = manager()?;
            let all = m.summaries().await?;
            output::list(&all, cli.json || l.json);
            Ok(0)
        }
        Command::Status(s) => {
            let m = manager()?;
            let all = match &s.name {
                Some(n) => vec![m.summary(n).await?],
                None => m.summaries().await?,
            };
            let ok = output::status(&all, cli.json || s.json);
            Ok(if ok { 0 } else { 3 })
        }
        Command::Token(t) => {
            let m = manager()?;
            let tok = m
                .access_token(
                    &t.name,
                    TokenOptions {
                        min_ttl: t.min_ttl.map(Duration::from_secs),
                        force: false,
                    },
                )
                .await?;
            output::token(&tok, cli.json || t.json);
            Ok(0)
        }
        Command::Refresh(r) => {
            let m = manager()?;
            let tok = m
                .access_token(
                    &r.name,
                    TokenOptions {
                        min_ttl: None,
                        force: r.force,
                    },
                )
                .await?;
            output::refreshed(&r.name, &tok, cli.json || r.json);
            Ok(0)
        }
        Command::Request(r) => {
            let m = manager()?;
            let body = match r.data.as_deref() {
                None => None,
                Some("@-") => {
                    let mut buf = Vec::new();
                    std::io::stdin().read_to_end(&mut buf).map_err(|e| {
                        Error::io("reading the request body from standard input", e)
                    })?;
                    Some(buf)
                }
                Some(d) if d.starts_with('@') => Some(
                    std::fs::read(&d[1..])
                        .map_err(|e| Error::io(format!("reading {}", &d[1..]), e))?,
                ),
                Some(d) => Some(d.as_bytes().to_vec()),
            };
            let mut headers = Vec::new();
            for h in &r.headers {
                let (k, v) = h.split_once(':').ok_or_else(|| {
                    Error::InvalidInput(format!("-H `{h}`: use the form `Name: value`"))
                })?;
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
            if body.is_some()
                && !headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
                // As curl does for -d.
                headers.push((
                    "Content-Type".into(),
                    "application/x-www-form-urlencoded".into(),
                ));
            }
            let method = r
                .method
                .clone()
                .unwrap_or_else(|| if body.is_some() { "POST" } else { "GET" }.into());
            let resp = m
                .request(
                    &r.name,
                    ResourceRequest {
                        method,
                        url: r.url.clone(),
                        headers,
                        body,
                    },
                )
                .await?;
            output::response(&resp, r.include);
            Ok(if resp.status >= 400 { 6 } else { 0 })
        }
        Command::Introspect(n) => {
            let m = manager()?;
            let info = m.introspect(&n.name).await?;
            output::introspection(&n.name, &info, cli.json || n.json);
            Ok(0)
        }
        Command::Logout(l) => {
            let m = manager()?;
            let report = m.logout(&l.name).await?;
            output::logged_out(&report, false, cli.json || l.json);
            Ok(0)
        }
        Command::Remove(r) => {
            let m = manager()?;
            let report = m.remove(&r.name).await?;
            output::logged_out(&report, true, cli.json || r.json);
            Ok(0)
        }
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
