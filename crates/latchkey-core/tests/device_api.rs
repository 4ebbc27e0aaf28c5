//! The device sign-in API as the desktop app drives it (start → show codes → finish, or
//! cancel), against the real test provider and the real Secret Service.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use latchkey_core::clock::SystemClock;
use latchkey_core::config::Paths;
use latchkey_core::http::HttpClient;
use latchkey_core::manager::{DEFAULT_MIN_TTL, RetryPolicy};
use latchkey_core::store::{CLI_DEADLINE, Keychain};
use latchkey_core::{
    ErrorKind, GrantFlow, LoginManager, ManagerOptions, NewAccount, Preset, ProviderSpec,
    SignInOptions, TokenOptions,
};
use latchkey_testkit::{Provider, repo_root, require_secret_service};
use serde_json::json;

fn manager(dir: &std::path::Path) -> LoginManager {
    LoginManager::new(ManagerOptions {
        paths: Paths::new(dir),
        keychain: Keychain::platform(CLI_DEADLINE),
        http: HttpClient::new().unwrap(),
        clock: Arc::new(SystemClock),
        min_ttl: DEFAULT_MIN_TTL,
        lock_timeout: Duration::from_secs(30),
        retry: RetryPolicy::default(),
    })
}

async fn add_device(m: &LoginManager, p: &Provider, name: &str) {
    m.add(NewAccount {
        name: name.into(),
        provider: ProviderSpec {
            preset: Preset::Oidc,
            issuer: Some(p.issuer.parse().unwrap()),
            ..Default::default()
        },
        client_id: "latchkey-public".into(),
        flow: GrantFlow::Device,
        ..Default::default()
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_then_finish_after_approval_and_cancel() {
    require_secret_service();
    let p = Provider::start(json!({"deviceInterval": 1, "accessTokenTtl": 300}));
    let dir = tempfile::tempdir().unwrap();
    let m = manager(dir.path());
    add_device(&m, &p, "tv").await;

    // Cancelled: nothing stored, a typed error.
    let started = m
        .start_device_sign_in("tv", SignInOptions::default())
        .await
        .unwrap();
    let err = m
        .finish_device_sign_in(&started, tokio::time::sleep(Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Interrupted);
    assert!(m.access_token("tv", TokenOptions::default()).await.is_err());

    // What a UI gets: codes and expiry, never the device code.
    let started = m
        .start_device_sign_in("tv", SignInOptions::default())
        .await
        .unwrap();
    let shown = serde_json::to_value(&started).unwrap();
    assert_eq!(shown["account"], "tv");
    assert!(shown["user_code"].as_str().unwrap().len() >= 4);
    assert!(shown.get("device_code").is_none(), "{shown}");
    assert_eq!(shown["interval_secs"], 1);
    let complete = started
        .verification_uri_complete
        .clone()
        .unwrap()
        .to_string();
    std::thread::spawn(move || {
        Command::new("node")
            .arg(repo_root().join("tests/provider/approve-device.mjs"))
            .arg(complete)
            .output()
            .unwrap()
    });
    let done = m
        .finish_device_sign_in(&started, std::future::pending())
        .await
        .unwrap();
    assert_eq!(done.identity.unwrap().sub, "alice");
    assert!(done.has_refresh_token);
    let tok = m.access_token("tv", TokenOptions::default()).await.unwrap();
    assert!(!tok.refreshed);
    assert_eq!(
        p.count(
            "grant.success",
            Some("urn:ietf:params:oauth:grant-type:device_code")
        ),
        1
    );
}
