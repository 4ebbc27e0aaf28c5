//! End-to-end tests of the `latchkey` binary against the real test provider (panva
//! oidc-provider, `tests/provider/`) and the real Secret Service (gnome-keyring in the
//! `dbus-run-session` that `scripts/test.sh` sets up). The "browser" is the headless
//! `tests/provider/browser.mjs`, which takes the code only from the provider's final redirect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use latchkey_testkit::{Keyring, Provider, Sandbox, code, require_secret_service, stderr, stdout};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_latchkey");

fn provider(extra: Value) -> Provider {
    Provider::start_merged(json!({"accessTokenTtl": 60}), extra)
}

fn tokens_in_keychain(id: &str) -> Value {
    Keyring::tokens(id).expect("tokens are in the keychain")
}

fn list_json(sb: &Sandbox) -> Vec<Value> {
    serde_json::from_str::<Value>(&sb.ok(&["list", "--json"]))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// Snapshot of everything a failed operation must leave alone.
fn snapshot(sb: &Sandbox, id: &str) -> (String, Vec<String>, Option<String>) {
    (
        sb.accounts_toml(),
        Keyring::items(id),
        Keyring::lookup(&format!("{id}/tokens")),
    )
}

#[test]
fn lifecycle_add_login_token_refresh_logout() {
    let p = provider(json!({"accessTokenTtl": 30}));
    let sb = Sandbox::new(BIN);
    let out = sb.ok(&[
        "add",
        "work",
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
    ]);
    assert!(
        out.contains("http://127.0.0.1:<any port>/callback"),
        "{out}"
    );
    let out = sb.ok(&["login", "work", "--timeout", "60"]);
    assert!(out.contains("alice@example.test"), "{out}");
    let id = sb.account_id("work");

    // The keychain holds the tokens under the account id (checked from outside).
    assert_eq!(Keyring::items(&id), vec![format!("{id}/tokens")]);
    let first = tokens_in_keychain(&id);
    let at1 = first["access_token"].as_str().unwrap().to_string();
    let rt1 = first["refresh_token"].as_str().unwrap().to_string();
    assert!(first["id_token"].is_string());

    // list shows identity and status.
    let list = list_json(&sb);
    assert_eq!(list[0]["identity"]["sub"], "alice");
    assert_eq!(list[0]["identity"]["name"], "Alice Example");
    assert_eq!(list[0]["identity"]["email"], "alice@example.test");
    assert_eq!(list[0]["provider"], "oidc");

    // A fresh token is served from the keychain without a refresh.
    let t = sb.ok(&["token", "work", "--min-ttl", "0"]);
    assert_eq!(t.trim(), at1);
    assert_eq!(p.count("grant.success", Some("refresh_token")), 0);

    let tj: Value =
        serde_json::from_str(&sb.ok(&["token", "work", "--json", "--min-ttl", "0"])).unwrap();
    assert_eq!(tj["access_token"], at1.as_str());
    assert_eq!(tj["token_type"], "Bearer");
    assert!(tj["expires_at"].as_str().unwrap().contains('T'));
    assert!(tj["scope"].as_str().unwrap().contains("openid"));
    assert_eq!(tj["degraded"], false);

    // Within the refresh window (30 s left, 60 s asked for): refreshed, rotated, stored. No
    // real-time wait: an expired token takes the same path (in-process tests in the core).
    let t2 = sb.ok(&["token", "work", "--min-ttl", "60"]);
    assert_ne!(t2.trim(), at1);
    assert_eq!(p.count("grant.success", Some("refresh_token")), 1);
    let second = tokens_in_keychain(&id);
    assert_eq!(second["access_token"], t2.trim());
    let rt2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(
        rt2, rt1,
        "the provider rotates refresh tokens and the new one is stored"
    );
    assert_eq!(
        p.introspect(&rt1)["active"],
        false,
        "the old refresh token was consumed"
    );
    assert_eq!(p.introspect(&rt2)["active"], true);

    // refresh --force refreshes even a fresh token.
    let out = sb.ok(&["refresh", "work", "--force"]);
    assert!(out.contains("Refreshed"), "{out}");
    assert_eq!(p.count("grant.success", Some("refresh_token")), 2);
    let third = tokens_in_keychain(&id);
    let at3 = third["access_token"].as_str().unwrap().to_string();
    let rt3 = third["refresh_token"].as_str().unwrap().to_string();

    // status is like `gh auth status`.
    let st = sb.ok(&["status", "work"]);
    assert!(
        st.contains("Signed in as Alice Example <alice@example.test> (sub alice)"),
        "{st}"
    );
    assert!(st.contains("Refresh token: yes"), "{st}");

    // logout revokes at the provider and deletes the tokens.
    let out = sb.ok(&["logout", "work"]);
    assert!(out.contains("Revoked at the provider"), "{out}");
    assert_eq!(p.introspect(&rt3)["active"], false);
    assert_eq!(p.introspect(&at3)["active"], false);
    assert!(Keyring::items(&id).is_empty());

    let out = sb.run(&["token", "work"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("latchkey login work"),
        "{}",
        stderr(&out)
    );
    let st = sb.run(&["status", "work"]);
    assert_eq!(code(&st), 3);

    // remove forgets the account.
    sb.ok(&["remove", "work"]);
    assert!(list_json(&sb).is_empty());
    assert_eq!(p.grant_errors().len(), 0, "{:?}", p.grant_errors());
}

#[test]
fn ten_processes_on_an_expired_token_cause_one_refresh() {
    // The signed-in token (30 s) is inside the 600 s window every process asks for; the
    // refreshed one (3600 s) is not, so the re-read under the lock finds it fresh. No waiting.
    let p = provider(json!({"accessTokenTtl": 30, "refreshedAccessTokenTtl": 3600}));
    let sb = Sandbox::new(BIN);
    let id = sb.add_and_login(&p, "conc");
    // A gate: every process waits on its stdin until all are started.
    let outs = sb.run_gated(10, &["token", "conc", "--min-ttl", "600"]);
    for o in &outs {
        assert_eq!(code(o), 0, "{}", stderr(o));
    }
    let tokens: std::collections::HashSet<String> =
        outs.iter().map(|o| stdout(o).trim().to_string()).collect();
    assert_eq!(tokens.len(), 1, "all callers got the same refreshed token");
    assert_eq!(
        p.count("grant.success", Some("refresh_token")),
        1,
        "exactly one refresh"
    );
    assert!(
        p.grant_errors().is_empty(),
        "no invalid_grant: {:?}",
        p.grant_errors()
    );
    assert_eq!(
        tokens_in_keychain(&id)["access_token"],
        tokens.iter().next().unwrap().as_str()
    );
}

#[test]
fn scheme_redirect_is_completed_by_another_process_and_cannot_be_replayed() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    let urls = sb.config_dir().join("deep-links.txt");
    let handler = sb.config_dir().join("handle-deep-link.sh");
    std::fs::write(
        &handler,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\nexec '{BIN}' complete \"$1\"\n",
            urls.display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&handler)
        .status()
        .unwrap();
    let mut sb = sb;
    sb.env.push((
        "LATCHKEY_TEST_DEEP_LINK_CMD".into(),
        handler.display().to_string(),
    ));
    let out = sb.ok(&[
        "add",
        "app",
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
        "--redirect",
        "scheme",
    ]);
    assert!(out.contains("dev.latchkey.app:/callback"), "{out}");
    let out = sb.run(&["login", "app", "--timeout", "60"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("alice@example.test"));
    let id = sb.account_id("app");
    let before = snapshot(&sb, &id);

    // Replaying the deep link is refused and changes nothing.
    let url = std::fs::read_to_string(&urls).unwrap().trim().to_string();
    assert!(url.starts_with("dev.latchkey.app:/callback/app?"), "{url}");
    let out = sb.run(&["complete", &url]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("does not belong to a sign-in in progress"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(&sb, &id), before);
    assert_eq!(p.count("grant.success", Some("authorization_code")), 1);
}

#[test]
fn loopback_ignores_wrong_path_and_state_and_keeps_waiting() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    sb.ok(&[
        "add",
        "w",
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
    ]);
    let (child, auth_url) = start_idle_login(&sb, "w");
    let parsed = url::Url::parse(&auth_url).unwrap();
    let redirect = parsed
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .unwrap()
        .1
        .to_string();
    let port: u16 = url::Url::parse(&redirect).unwrap().port().unwrap();
    let (s, _) = latchkey_testkit::http(port, "GET", "/favicon.ico", &[], "");
    assert_eq!(s, 404);
    // Another account's redirect path (the shared `/callback` of old accounts) is not this one.
    let (s, _) = latchkey_testkit::http(port, "GET", "/callback?code=forged&state=x", &[], "");
    assert_eq!(s, 404);
    let (s, body) =
        latchkey_testkit::http(port, "GET", "/callback/w?code=forged&state=wrong", &[], "");
    assert_eq!(s, 400);
    assert!(body.contains("does not belong"), "{body}");
    // Still waiting: now the real browser completes it.
    let st = std::process::Command::new("node")
        .arg(latchkey_testkit::repo_root().join("tests/provider/browser.mjs"))
        .arg(&auth_url)
        .env("LATCHKEY_TEST_BROWSER_MODE", "approve")
        .status()
        .unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 0);
    assert!(
        stdout(&out).contains("Signed in to `w` as alice@example.test"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn access_denied_is_a_clear_provider_error_and_changes_nothing() {
    let p = provider(json!({}));
    let mut sb = Sandbox::new(BIN);
    sb.env
        .push(("LATCHKEY_TEST_BROWSER_MODE".into(), "deny".into()));
    sb.ok(&[
        "add",
        "d",
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
    ]);
    let id = sb.account_id("d");
    let before = snapshot(&sb, &id);
    let out = sb.run(&["login", "d", "--timeout", "60"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("access_denied"), "{}", stderr(&out));
    assert_eq!(snapshot(&sb, &id), before);
}

/// Starts `latchkey login` with a browser that does nothing; returns the child and the
/// authorization URL it printed.
fn start_idle_login(sb: &Sandbox, name: &str) -> (std::process::Child, String) {
    let mut child = sb
        .cmd(&["login", name, "--timeout", "60"])
        .env("LATCHKEY_TEST_BROWSER_MODE", "ignore")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 {
        if line.trim().starts_with("http") {
            let url = line.trim().to_string();
            // Keep draining stderr so the child never blocks on it.
            std::thread::spawn(move || for _ in err.lines() {});
            return (child, url);
        }
        line.clear();
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("login printed no URL");
}

#[test]
fn ctrl_c_during_login_exits_130_and_cleans_up() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    sb.ok(&[
        "add",
        "c",
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
    ]);
    let id = sb.account_id("c");
    let before = snapshot(&sb, &id);
    let (child, _url) = start_idle_login(&sb, "c");
    assert!(
        sb.accounts_toml().contains("[[pending]]"),
        "a sign-in is in progress"
    );
    let st = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 130);
    assert_eq!(
        snapshot(&sb, &id),
        before,
        "the pending sign-in was removed"
    );
}

#[test]
fn login_timeout_cleans_up() {
    let p = provider(json!({}));
    let mut sb = Sandbox::new(BIN);
    sb.env
        .push(("LATCHKEY_TEST_BROWSER_MODE".into(), "ignore".into()));
    sb.ok(&[
        "add",
        "t",
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
    ]);
    let id = sb.account_id("t");
    let before = snapshot(&sb, &id);
    let out = sb.run(&["login", "t", "--timeout", "2"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
    assert_eq!(snapshot(&sb, &id), before, "no pending sign-in left behind");
}

#[test]
fn garbage_and_unknown_callbacks_are_rejected() {
    require_secret_service();
    let sb = Sandbox::new(BIN);
    let out = sb.run(&["complete", "not a url"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("not a valid URL"), "{}", stderr(&out));
    let out = sb.run(&["complete", "dev.latchkey.app:/callback?code=abc"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("no `state`"), "{}", stderr(&out));
    let out = sb.run(&["complete", "dev.latchkey.app:/callback?code=abc&state=nope"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("does not belong"), "{}", stderr(&out));
    assert_eq!(sb.accounts_toml(), "");
}

/// Sign-in against a provider whose token endpoint misbehaves once.
fn login_with_fault(mode: &str) -> (std::process::Output, bool) {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    sb.ok(&[
        "add",
        "f",
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
    ]);
    let id = sb.account_id("f");
    let before = snapshot(&sb, &id);
    p.fault("token", mode, 1);
    let out = sb.run(&["login", "f", "--timeout", "60"]);
    let unchanged = snapshot(&sb, &id) == before;
    (out, unchanged)
}

#[test]
fn token_endpoint_html_500_during_login() {
    let (out, unchanged) = login_with_fault("html500");
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("HTTP 500"), "{}", stderr(&out));
    assert!(unchanged);
}

#[test]
fn token_endpoint_html_400_during_login() {
    let (out, unchanged) = login_with_fault("html400");
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("HTTP 400"), "{}", stderr(&out));
    assert!(unchanged);
}

#[test]
fn token_endpoint_malformed_json_during_login() {
    let (out, unchanged) = login_with_fault("malformed_json");
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("not valid JSON"), "{}", stderr(&out));
    assert!(unchanged);
}

#[test]
fn id_token_with_wrong_audience_is_rejected() {
    let (out, unchanged) = login_with_fault("id_token_wrong_aud");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("id_token was rejected: wrong audience"),
        "{}",
        stderr(&out)
    );
    assert!(unchanged);
}

#[test]
fn id_token_with_wrong_nonce_is_rejected() {
    let (out, unchanged) = login_with_fault("id_token_wrong_nonce");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("nonce"), "{}", stderr(&out));
    assert!(unchanged);
}

#[test]
fn id_token_with_bad_signature_is_rejected() {
    let (out, unchanged) = login_with_fault("id_token_bad_signature");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("signature"), "{}", stderr(&out));
    assert!(unchanged);
}

#[test]
fn id_token_signed_by_unknown_key_is_rejected() {
    let (out, unchanged) = login_with_fault("id_token_wrong_key");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("id_token was rejected"),
        "{}",
        stderr(&out)
    );
    assert!(unchanged);
}

#[test]
fn id_token_alg_none_is_rejected() {
    let (out, unchanged) = login_with_fault("id_token_alg_none");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("id_token was rejected"),
        "{}",
        stderr(&out)
    );
    assert!(unchanged);
}

#[test]
fn refresh_failures_degraded_retry_and_invalid_grant() {
    let p = provider(json!({"accessTokenTtl": 3}));
    let sb = Sandbox::new(BIN);
    let id = sb.add_and_login(&p, "r");
    let at = tokens_in_keychain(&id)["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    // Provider down while the token is still valid: served, degraded, exit 0.
    p.fault("token", "html500", -1);
    let out = sb.run(&["token", "r", "--json", "--min-ttl", "3600"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["degraded"], true);
    assert_eq!(j["access_token"], at.as_str());
    assert!(stderr(&out).contains("warning"), "{}", stderr(&out));

    // Expired and still down: retried with backoff, then exit 4; tokens kept.
    std::thread::sleep(Duration::from_secs(4));
    let before = snapshot(&sb, &id);
    let started = Instant::now();
    let out = sb.run(&["token", "r"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "backed off between attempts"
    );
    assert!(stderr(&out).contains("HTTP 500"), "{}", stderr(&out));
    assert_eq!(snapshot(&sb, &id), before);
    p.clear_faults();

    // Malformed JSON on refresh: provider error (4), tokens kept.
    p.fault("token", "malformed_json", 1);
    let out = sb.run(&["token", "r"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert_eq!(snapshot(&sb, &id), before);

    // invalid_grant: needs sign-in, tokens cleared, no retry.
    p.fault("token", "invalid_grant", 1);
    let refreshes = p.count("token.request", Some("refresh_token"));
    let out = sb.run(&["token", "r"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("invalid_grant"), "{}", stderr(&out));
    assert_eq!(
        p.count("token.request", Some("refresh_token")),
        refreshes + 1,
        "no retry"
    );
    assert!(Keyring::items(&id).is_empty());
    let list = list_json(&sb);
    assert_eq!(list[0]["status"], "needs_sign_in");
    let out = sb.run(&["token", "r"]);
    assert_eq!(code(&out), 3);
}

#[test]
fn missing_keychain_is_exit_5_and_says_so() {
    let sb = Sandbox::new(BIN);
    // A session bus address where nothing listens.
    let out = sb
        .cmd(&["token", "x"])
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/latchkey-test-bus",
        )
        .output()
        .unwrap();
    // No account yet: the name check fails first (metadata needs no keychain)...
    assert_eq!(code(&out), 1);
    // ...so add one (discovery needs no keychain either) with a secret, which must be stored.
    require_secret_service();
    let p = provider(json!({}));
    let out = sb
        .cmd(&[
            "add",
            "k",
            "--issuer",
            &p.issuer,
            "--client-id",
            "latchkey-confidential",
            "--client-secret-stdin",
        ])
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/latchkey-test-bus",
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin
                .take()
                .unwrap()
                .write_all(b"confidential-secret-0123456789abcdef")
                .unwrap();
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("keychain is not available"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("never stores secrets in plain files"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sb.accounts_toml(), "", "nothing half-added");
}

#[test]
fn trace_logs_record_the_flow_but_never_a_token() {
    let p = provider(json!({"accessTokenTtl": 60}));
    let mut sb = Sandbox::new(BIN);
    sb.env.push(("LATCHKEY_LOG".into(), "trace".into()));
    let mut captured = String::new();
    let mut run = |args: &[&str]| {
        let out = sb.run(args);
        captured.push_str(&stdout(&out));
        captured.push_str(&stderr(&out));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        stdout(&out)
    };
    run(&[
        "add",
        "log",
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
    ]);
    run(&["login", "log", "--timeout", "60"]);
    let id = sb.account_id("log");
    let first = tokens_in_keychain(&id);
    run(&["refresh", "log", "--force"]);
    let second = tokens_in_keychain(&id);
    run(&["status", "log"]);
    run(&["list"]);
    let log = std::fs::read_to_string(sb.config_dir().join("latchkey.log")).unwrap();
    assert!(!log.is_empty());
    assert!(log.contains("signed in"), "{log}");
    assert!(log.contains("token refreshed"), "{log}");
    assert!(
        captured.contains("TRACE") || captured.contains("DEBUG"),
        "trace logging reached stderr"
    );
    let files = sb.all_files_text();
    for set in [&first, &second] {
        for field in ["access_token", "refresh_token", "id_token"] {
            let t = set[field].as_str().unwrap();
            assert!(t.len() > 10);
            assert!(!captured.contains(t), "{field} leaked to the output");
            assert!(!log.contains(t), "{field} leaked to the log");
            assert!(
                !files.contains(t),
                "{field} leaked to a file in the config dir"
            );
        }
    }
}

#[test]
fn usage_errors_exit_2() {
    let sb = Sandbox::new(BIN);
    let out = sb.run(&["add"]);
    assert_eq!(code(&out), 2);
    let out = sb.run(&["frobnicate"]);
    assert_eq!(code(&out), 2);
    let out = sb.run(&[
        "add",
        "bad/name",
        "--issuer",
        "https://idp.example",
        "--client-id",
        "x",
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let out = sb.run(&[
        "add",
        "h",
        "--issuer",
        "http://idp.example",
        "--client-id",
        "x",
    ]);
    assert_eq!(
        code(&out),
        2,
        "http issuers are refused unless loopback: {}",
        stderr(&out)
    );
    let help = sb.ok(&["--help"]);
    assert!(
        help.contains("needs sign-in"),
        "exit codes documented: {help}"
    );
}

#[test]
fn identity_switch_is_refused_unless_replace() {
    let p = provider(json!({}));
    let mut sb = Sandbox::new(BIN);
    let id = sb.add_and_login(&p, "me");
    let before = snapshot(&sb, &id);
    sb.env.push(("LATCHKEY_TEST_LOGIN".into(), "bob".into()));
    let out = sb.run(&["login", "me", "--timeout", "60"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("--replace"), "{}", stderr(&out));
    assert_eq!(snapshot(&sb, &id), before);
    let out = sb.ok(&["login", "me", "--replace", "--timeout", "60"]);
    assert!(out.contains("bob@example.test"), "{out}");
    assert_eq!(list_json(&sb)[0]["identity"]["sub"], "bob");
}

#[test]
fn edit_changes_scopes_without_signing_out_and_client_id_with() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    let id = sb.add_and_login(&p, "e");
    let out = sb.ok(&[
        "edit",
        "e",
        "--scope",
        "openid email offline_access",
        "--label",
        "Work",
    ]);
    assert!(out.contains("next sign-in"), "{out}");
    assert_eq!(Keyring::items(&id).len(), 1, "still signed in");
    let list = list_json(&sb);
    assert_eq!(list[0]["label"], "Work");
    assert_eq!(
        list[0]["scopes"],
        json!(["openid", "email", "offline_access"])
    );
    let out = sb.ok(&["edit", "e", "--client-id", "latchkey-dpop"]);
    assert!(out.contains("latchkey login e"), "{out}");
    assert!(Keyring::items(&id).is_empty());
}

#[test]
fn locked_keyring_with_a_display_exits_5_within_the_deadline() {
    let p = provider(json!({}));
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/locked-keyring.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg(BIN)
        .arg(&p.issuer)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "script failed: {text}\n{}",
        stderr(&out)
    );
    let first = text
        .lines()
        .find(|l| l.starts_with("exit="))
        .unwrap_or_else(|| panic!("no result line: {text}"));
    let rc: i32 = first
        .split_whitespace()
        .find_map(|w| w.strip_prefix("exit="))
        .unwrap()
        .parse()
        .unwrap();
    let ms: u64 = first
        .split_whitespace()
        .find_map(|w| w.strip_prefix("elapsed_ms="))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(rc, 5, "{text}");
    assert!(
        ms < 20_000,
        "answered within the deadline (8 s + start-up), took {ms} ms"
    );
    assert!(
        text.contains("did not answer in time"),
        "the read hung on the unlock prompt and the deadline ended it: {text}"
    );
    assert!(
        ms >= 7_000,
        "the deadline (8 s), not an immediate refusal, ended it: {ms} ms"
    );
}

#[test]
#[cfg(target_os = "linux")]
fn the_cli_does_not_link_webkit_or_gtk() {
    let out = std::process::Command::new("ldd").arg(BIN).output().unwrap();
    let libs = stdout(&out).to_lowercase();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(libs.contains("libc.so"), "ldd listed the libraries: {libs}");
    for lib in ["webkit", "gtk", "javascriptcore", "libsoup", "gdk"] {
        assert!(!libs.contains(lib), "latchkey links {lib}:\n{libs}");
    }
}

#[test]
fn provider_requests_go_through_the_proxy_from_the_environment() {
    let p = provider(json!({}));
    let proxy = latchkey_testkit::ForwardProxy::start();
    let mut sb = Sandbox::new(BIN);
    let via = format!("http://127.0.0.1:{}", proxy.port);
    sb.env.push(("HTTP_PROXY".into(), via.clone()));
    sb.env.push(("HTTPS_PROXY".into(), via));
    sb.env.push(("NO_PROXY".into(), String::new()));
    sb.ok(&[
        "add",
        "px",
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
    ]);
    sb.ok(&["login", "px", "--timeout", "60"]);
    sb.ok(&["refresh", "px", "--force"]);
    let seen = proxy.requests();
    let discovery = format!("GET {}/.well-known/openid-configuration", p.issuer);
    assert!(seen.contains(&discovery), "{seen:?}");
    assert!(
        seen.iter()
            .filter(|r| r.starts_with("POST ") && r.contains("/token"))
            .count()
            >= 2,
        "code exchange and refresh went through the proxy: {seen:?}"
    );
}

/// An HTTPS server on 127.0.0.1 serving an OIDC discovery document, with a certificate from a
/// throwaway CA. Returns (issuer, CA file, server child).
fn tls_discovery_server(
    dir: &std::path::Path,
) -> (String, std::path::PathBuf, std::process::Child) {
    let sh = |cmd: &str| {
        let st = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(dir)
            .status()
            .unwrap();
        assert!(st.success(), "{cmd}");
    };
    sh(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=Latchkey-Test-CA 2>/dev/null",
    );
    sh(
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 2>/dev/null",
    );
    sh(
        "printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext.cnf && openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext.cnf 2>/dev/null",
    );
    let script = r#"
const https = require('https'); const fs = require('fs');
const s = https.createServer({key: fs.readFileSync('srv.key'), cert: fs.readFileSync('srv.pem')}, (req, res) => {
  const iss = 'https://127.0.0.1:' + s.address().port;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({issuer: iss, authorization_endpoint: iss + '/auth', token_endpoint: iss + '/token',
    jwks_uri: iss + '/jwks', response_types_supported: ['code'], subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'], code_challenge_methods_supported: ['S256']}));
});
s.listen(0, '127.0.0.1', () => console.log(s.address().port));
"#;
    let mut child = std::process::Command::new("node")
        .arg("-e")
        .arg(script)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (
        format!("https://127.0.0.1:{}", line.trim()),
        dir.join("ca.pem"),
        child,
    )
}

#[test]
fn https_uses_the_os_trust_store_and_refuses_unknown_cas() {
    require_secret_service();
    let dir = tempfile::tempdir().unwrap();
    let (issuer, ca, mut server) = tls_discovery_server(dir.path());
    let sb = Sandbox::new(BIN);
    // Not trusted: refused, with a message about the certificate.
    let out = sb.run(&["add", "tls", "--issuer", &issuer, "--client-id", "x"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).to_lowercase().contains("certificate"),
        "{}",
        stderr(&out)
    );
    // Trusted the way the OS trust store is configured (SSL_CERT_FILE, as for a corporate CA).
    let out = sb
        .cmd(&["add", "tls", "--issuer", &issuer, "--client-id", "x"])
        .env("SSL_CERT_FILE", &ca)
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        list_json(&sb)[0]["issuer"]
            .as_str()
            .unwrap()
            .starts_with("https://127.0.0.1:")
    );
}

#[test]
fn edit_flow_auth_and_dpop() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    let id = sb.add_and_login(&p, "fx");
    // The device flow signs in the same user with the same client: still signed in.
    sb.ok(&["edit", "fx", "--flow", "device"]);
    assert_eq!(list_json(&sb)[0]["flow"], "device");
    assert_eq!(Keyring::items(&id).len(), 1, "still signed in");
    // DPoP on: bearer tokens cannot be used as bound ones, so they are removed.
    let out = sb.ok(&[
        "edit",
        "fx",
        "--dpop",
        "true",
        "--flow",
        "authorization-code",
    ]);
    assert!(out.contains("DPoP-bound and bearer tokens"), "{out}");
    assert!(Keyring::items(&id).iter().all(|i| !i.ends_with("/tokens")));
    assert_eq!(list_json(&sb)[0]["dpop"], true);
    // Client credentials without a secret is refused, and nothing changes.
    let before = sb.accounts_toml();
    let out = sb.run(&["edit", "fx", "--flow", "client-credentials"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--client-secret-stdin"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sb.accounts_toml(), before);
}

#[test]
fn edit_session_max_tells_when_the_session_ends() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    sb.add_and_login(&p, "sx");
    // The test provider's refresh tokens are opaque and it sends no refresh_expires_in: the
    // end of the session is unknown until the account says it.
    assert_eq!(list_json(&sb)[0]["session_ends_at"], Value::Null);
    sb.ok(&[
        "edit",
        "sx",
        "--session-max",
        "600",
        "--session-warning",
        "300",
    ]);
    let a = &list_json(&sb)[0];
    assert_eq!(a["session_max_secs"], 600);
    assert_eq!(a["session_warning_secs"], 300);
    let left = a["session_ends_in"].as_i64().unwrap();
    assert!((1..=600).contains(&left), "{a}");
    // 0 = unknown / the default again.
    sb.ok(&["edit", "sx", "--session-max", "0", "--session-warning", "0"]);
    let a = &list_json(&sb)[0];
    assert_eq!(a["session_ends_at"], Value::Null);
    assert!(a.get("session_max_secs").is_none_or(Value::is_null), "{a}");
    assert!(
        a.get("session_warning_secs").is_none_or(Value::is_null),
        "{a}"
    );
}
