//! Core tests against the real test provider and the real Secret Service: single-flight
//! refresh across 20 tasks of one process, and one-shot completion of a sign-in.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashSet;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use latchkey_core::clock::{Clock, OffsetClock, SystemClock};
use latchkey_core::config::Paths;
use latchkey_core::http::HttpClient;
use latchkey_core::manager::{DEFAULT_MIN_TTL, RetryPolicy};
use latchkey_core::store::{CLI_DEADLINE, Keychain};
use latchkey_core::{
    ErrorKind, LoginManager, ManagerOptions, NewAccount, Preset, ProviderSpec, RedirectMode,
    SignInOptions, TokenOptions,
};
use latchkey_testkit::{Provider, repo_root, require_secret_service};
use serde_json::json;

fn manager(dir: &std::path::Path) -> LoginManager {
    manager_with_clock(dir, Arc::new(SystemClock))
}

fn manager_with_clock(dir: &std::path::Path, clock: Arc<dyn Clock>) -> LoginManager {
    LoginManager::new(ManagerOptions {
        paths: Paths::new(dir),
        keychain: Keychain::platform(CLI_DEADLINE),
        http: HttpClient::new().unwrap(),
        clock,
        min_ttl: DEFAULT_MIN_TTL,
        lock_timeout: Duration::from_secs(30),
        retry: RetryPolicy::default(),
    })
}

async fn add(m: &LoginManager, p: &Provider, name: &str, redirect: RedirectMode) {
    m.add(NewAccount {
        name: name.into(),
        provider: ProviderSpec {
            preset: Preset::Oidc,
            issuer: Some(p.issuer.parse().unwrap()),
            ..Default::default()
        },
        client_id: "latchkey-public".into(),
        redirect,
        ..Default::default()
    })
    .await
    .unwrap();
}

fn browser(url: &str) -> std::process::Output {
    Command::new("node")
        .arg(repo_root().join("tests/provider/browser.mjs"))
        .arg(url)
        .env_remove("LATCHKEY_TEST_DEEP_LINK_CMD")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_tasks_on_an_expired_token_cause_one_refresh() {
    require_secret_service();
    let p = Provider::start(json!({"accessTokenTtl": 2}));
    let dir = tempfile::tempdir().unwrap();
    // The expiry is the client's view: move its clock instead of waiting for real time.
    let clock = OffsetClock::default();
    let m = Arc::new(manager_with_clock(dir.path(), Arc::new(clock.clone())));
    add(&m, &p, "st", RedirectMode::Loopback).await;
    let done = m
        .sign_in_loopback(
            "st",
            SignInOptions::default(),
            Duration::from_secs(60),
            |start| {
                let url = start.url.to_string();
                std::thread::spawn(move || browser(&url));
            },
            std::future::pending(),
        )
        .await
        .unwrap();
    assert_eq!(done.identity.unwrap().sub, "alice");
    clock.advance(time::Duration::seconds(3));

    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let m = m.clone();
            let b = barrier.clone();
            tokio::spawn(async move {
                b.wait().await;
                m.access_token(
                    "st",
                    TokenOptions {
                        min_ttl: Some(Duration::ZERO),
                        force: false,
                    },
                )
                .await
            })
        })
        .collect();
    let mut tokens = HashSet::new();
    let mut refreshed = 0;
    for t in tasks {
        let tok = t.await.unwrap().unwrap();
        assert!(tok.degraded.is_none());
        refreshed += usize::from(tok.refreshed);
        tokens.insert(tok.token.expose().to_string());
    }
    assert_eq!(tokens.len(), 1, "every task got the same token");
    assert_eq!(
        refreshed, 1,
        "one task refreshed, the others reused its result"
    );
    assert_eq!(p.count("grant.success", Some("refresh_token")), 1);
    assert!(p.grant_errors().is_empty(), "{:?}", p.grant_errors());
    m.remove("st").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_callback_is_consumed_exactly_once() {
    require_secret_service();
    let p = Provider::start(json!({}));
    let dir = tempfile::tempdir().unwrap();
    let m = Arc::new(manager(dir.path()));
    add(&m, &p, "once", RedirectMode::Scheme).await;
    let start = m
        .start_sign_in("once", SignInOptions::default())
        .await
        .unwrap();
    assert_eq!(start.redirect_uri, "dev.latchkey.app:/callback");
    let out = browser(start.url.as_str());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let callback = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        callback.starts_with("dev.latchkey.app:/callback?code="),
        "{callback}"
    );

    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let race: Vec<_> = (0..2)
        .map(|_| {
            let m = m.clone();
            let b = barrier.clone();
            let url = callback.clone();
            tokio::spawn(async move {
                b.wait().await;
                m.complete_sign_in(&url).await
            })
        })
        .collect();
    let mut ok = 0;
    for r in race {
        match r.await.unwrap() {
            Ok(s) => {
                ok += 1;
                assert_eq!(
                    s.identity.unwrap().email.as_deref(),
                    Some("alice@example.test")
                );
            }
            Err(e) => assert_eq!(e.kind(), ErrorKind::Callback, "{e}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(p.count("grant.success", Some("authorization_code")), 1);
    m.remove("once").await.unwrap();
}
