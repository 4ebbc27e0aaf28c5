//! End-to-end tests of the other grants and sender-constrained tokens, against the real test
//! provider and the real Secret Service: the device authorization grant (headless approver,
//! denial, expiry, `slow_down` spacing read from the provider's event log), client credentials
//! (basic, post, wrong secret, single-flight across processes), DPoP (sign-in, refresh,
//! `latchkey request`, server nonces, the binding proved with a foreign key), PAR, `latchkey
//! request` and `latchkey introspect`, and malformed provider answers as typed errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use latchkey_core::Secret;
use latchkey_core::dpop::{DpopKey, ProofInput};
use latchkey_testkit::{Keyring, Provider, Sandbox, code, http, repo_root, stderr, stdout};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_latchkey");
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const SVC_SECRET: &str = "svc-secret-0123456789abcdef";
const SVC_POST_SECRET: &str = "svc-post-secret-0123456789abcdef";

fn provider(extra: Value) -> Provider {
    Provider::start_merged(json!({"accessTokenTtl": 300, "deviceInterval": 1}), extra)
}

fn approver() -> String {
    format!(
        "node {}",
        repo_root()
            .join("tests/provider/approve-device.mjs")
            .display()
    )
}

/// A sandbox whose "browser" approves device codes.
fn device_sandbox() -> Sandbox {
    let mut sb = Sandbox::new(BIN);
    sb.env = vec![("LATCHKEY_BROWSER".into(), approver())];
    sb
}

fn tokens_in_keychain(id: &str) -> Value {
    Keyring::tokens(id).expect("tokens are in the keychain")
}

/// `t` (ms) of every device-code poll that reached the provider.
fn device_polls(p: &Provider) -> Vec<i64> {
    p.events()
        .iter()
        .filter(|e| e["event"] == "token.request" && e["grant_type"] == DEVICE_GRANT)
        .map(|e| e["t"].as_i64().unwrap())
        .collect()
}

fn add_device(sb: &Sandbox, p: &Provider, name: &str) {
    sb.ok(&[
        "add",
        name,
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
        "--flow",
        "device",
    ]);
}

#[test]
fn device_flow_end_to_end_with_the_headless_approver() {
    let p = provider(json!({}));
    let sb = device_sandbox();
    add_device(&sb, &p, "tv");
    let out = sb.run(&["login", "tv"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("enter the code"), "{err}");
    assert!(err.contains("/device"), "{err}");
    assert!(err.contains("user_code="), "complete URL shown: {err}");
    assert!(
        stdout(&out).contains("alice@example.test"),
        "{}",
        stdout(&out)
    );
    let id = sb.account_id("tv");
    let t = tokens_in_keychain(&id);
    assert!(t["refresh_token"].is_string());
    assert!(t["id_token"].is_string());
    assert_eq!(p.count("grant.success", Some(DEVICE_GRANT)), 1);
    // Polls were spaced by at least the interval (1 s), measured by the provider.
    let polls = device_polls(&p);
    assert!(!polls.is_empty());
    for w in polls.windows(2) {
        assert!(w[1] - w[0] >= 990, "polls too close: {polls:?}");
    }
    let tok = sb.ok(&["token", "tv"]);
    assert_eq!(tok.trim(), t["access_token"].as_str().unwrap());

    // `login --device` for an account that normally uses the browser.
    sb.ok(&[
        "add",
        "work",
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
    ]);
    let out = sb.run(&["login", "work", "--device"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(p.count("grant.success", Some(DEVICE_GRANT)), 2);
    // The device sign-in is refreshable like any other.
    let out = sb.ok(&["refresh", "work", "--force"]);
    assert!(out.contains("Refreshed"), "{out}");
    // `authorization_pending` is the normal answer while the approver is still at work (a
    // slow machine sees some); every other grant error is a failure.
    let errors: Vec<_> = p
        .grant_errors()
        .into_iter()
        .filter(|e| !e.to_string().contains("authorization_pending"))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn device_flow_denied_is_a_clear_error() {
    let p = provider(json!({}));
    let mut sb = device_sandbox();
    sb.env
        .push(("LATCHKEY_TEST_BROWSER_MODE".into(), "deny".into()));
    add_device(&sb, &p, "tv");
    let out = sb.run(&["login", "tv"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("access_denied"), "{}", stderr(&out));
    assert!(stderr(&out).contains("declined"), "{}", stderr(&out));
    assert!(Keyring::items(&sb.account_id("tv")).is_empty());
}

#[test]
fn device_code_expiry_is_a_clear_error() {
    let p = provider(json!({"deviceCodeTtl": 3}));
    let sb = device_sandbox();
    add_device(&sb, &p, "tv");
    let out = sb.run(&["login", "tv", "--no-browser"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 4, "{err}");
    assert!(err.contains("expired_token"), "{err}");
    assert!(err.contains("expired before"), "{err}");
    assert!(Keyring::items(&sb.account_id("tv")).is_empty());
}

#[test]
fn slow_down_adds_five_seconds_and_the_client_keeps_it() {
    let p = provider(json!({"slowDown": true}));
    let sb = device_sandbox();
    add_device(&sb, &p, "tv");
    // The second poll is answered slow_down; the provider then holds the device code to 6 s.
    let body =
        json!({"route": "token", "mode": "slow_down", "count": 1, "grant_type": DEVICE_GRANT});
    let (status, _) = http(
        p.port,
        "POST",
        "/__test/fault",
        &[("Content-Type", "application/json")],
        &body.to_string(),
    );
    assert_eq!(status, 200);
    let out = sb.run(&["login", "tv"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let polls = device_polls(&p);
    assert!(polls.len() >= 2, "{polls:?}");
    assert!(polls[1] - polls[0] >= 5990, "slow_down ignored: {polls:?}");
    for w in polls[1..].windows(2) {
        assert!(w[1] - w[0] >= 5990, "interval not kept: {polls:?}");
    }
    // Exactly the injected slow_down: the client never polled too early by itself.
    let slow: Vec<Value> = p
        .events()
        .into_iter()
        .filter(|e| e["event"] == "device.slow_down")
        .collect();
    assert_eq!(slow.len(), 1, "{slow:?}");
    assert_eq!(slow[0]["fault"], true);
}

#[test]
fn ctrl_c_during_device_login_exits_130() {
    let p = provider(json!({}));
    let sb = device_sandbox();
    add_device(&sb, &p, "tv");
    let child = sb
        .cmd(&["login", "tv", "--no-browser"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 130, "{}", stderr(&out));
}

fn add_svc(sb: &Sandbox, p: &Provider, name: &str, client: &str, secret: &str, auth: &str) {
    let out = sb.run_stdin(
        &[
            "add",
            name,
            "--issuer",
            &p.issuer,
            "--client-id",
            client,
            "--flow",
            "client-credentials",
            "--client-secret-stdin",
            "--scope",
            "api:read api:write",
            "--auth",
            auth,
        ],
        &format!("{secret}\n"),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn client_credentials_basic_and_post_cached_introspected_revoked() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    add_svc(&sb, &p, "svc", "latchkey-svc", SVC_SECRET, "basic");
    add_svc(
        &sb,
        &p,
        "svcpost",
        "latchkey-svc-post",
        SVC_POST_SECRET,
        "post",
    );
    assert!(!sb.all_files_text().contains(SVC_SECRET));
    for (name, client) in [("svc", "latchkey-svc"), ("svcpost", "latchkey-svc-post")] {
        let t1 = sb.ok(&["token", name]);
        let t2 = sb.ok(&["token", name]);
        assert_eq!(t1, t2, "the cached token is reused");
        let info = p.introspect(t1.trim());
        assert_eq!(info["active"], true);
        assert_eq!(info["client_id"], client);
        assert_eq!(info["scope"], "api:read api:write");
        let mine: Value = serde_json::from_str(&sb.ok(&["introspect", name, "--json"])).unwrap();
        assert_eq!(mine["active"], true);
        assert_eq!(mine["scope"], "api:read api:write");
        assert!(mine["exp"].as_i64().unwrap() > 0);
    }
    assert_eq!(p.count("grant.success", Some("client_credentials")), 2);
    // login = a new grant now; logout revokes.
    let out = sb.ok(&["login", "svc"]);
    assert!(out.contains("Signed in to `svc`"), "{out}");
    assert_eq!(p.count("grant.success", Some("client_credentials")), 3);
    let t = sb.ok(&["token", "svc"]);
    let out = sb.ok(&["logout", "svc"]);
    assert!(out.contains("Revoked"), "{out}");
    assert_eq!(p.introspect(t.trim())["active"], false);
    // No cached token is not a problem for a service account; one is fetched on demand.
    let st = sb.ok(&["status", "svc"]);
    assert!(st.contains("Grant: client-credentials"), "{st}");
    assert!(st.contains("fetches one"), "{st}");
    sb.ok(&["token", "svc"]);
    assert_eq!(p.count("grant.success", Some("client_credentials")), 4);
    assert_eq!(p.grant_errors().len(), 0, "{:?}", p.grant_errors());
}

#[test]
fn client_credentials_wrong_secret_or_method_exit_4_with_an_explanation() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    add_svc(&sb, &p, "bad", "latchkey-svc", "not-the-secret", "basic");
    let out = sb.run(&["token", "bad"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 4, "{err}");
    assert!(err.contains("invalid_client"), "{err}");
    assert!(
        err.contains("did not accept the client credentials"),
        "{err}"
    );
    assert!(
        err.contains("latchkey edit bad --client-secret-stdin"),
        "{err}"
    );
    assert!(!err.contains("not-the-secret"), "{err}");
    // The right secret with the wrong method.
    add_svc(&sb, &p, "wrongmethod", "latchkey-svc", SVC_SECRET, "post");
    let out = sb.run(&["token", "wrongmethod"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("client_secret_post"),
        "{}",
        stderr(&out)
    );
    // Without a secret: usage error at add.
    let out = sb.run(&[
        "add",
        "nosecret",
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-svc",
        "--flow",
        "client-credentials",
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[test]
fn ten_processes_on_an_expired_client_credentials_token_cause_one_grant() {
    let p = provider(json!({"clientCredentialsTtl": 2}));
    let sb = Sandbox::new(BIN);
    add_svc(&sb, &p, "svc", "latchkey-svc", SVC_SECRET, "basic");
    sb.ok(&["token", "svc", "--min-ttl", "0"]);
    assert_eq!(p.count("grant.success", Some("client_credentials")), 1);
    std::thread::sleep(Duration::from_secs(3));
    let outs = sb.run_gated(10, &["token", "svc", "--min-ttl", "0"]);
    for o in &outs {
        assert_eq!(code(o), 0, "{}", stderr(o));
    }
    let tokens: std::collections::HashSet<String> =
        outs.iter().map(|o| stdout(o).trim().to_string()).collect();
    assert_eq!(tokens.len(), 1, "all callers got the same new token");
    assert_eq!(
        p.count("grant.success", Some("client_credentials")),
        2,
        "exactly one new grant for ten processes"
    );
}

fn add_dpop_and_login(sb: &Sandbox, p: &Provider, name: &str) -> String {
    let out = sb.run(&[
        "add",
        name,
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-dpop",
        "--dpop",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("does not advertise"),
        "{}",
        stderr(&out)
    );
    let out = sb.run(&["login", name, "--timeout", "60"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    sb.account_id(name)
}

/// GET /me with an explicit DPoP proof signed by `key`.
fn userinfo_with(p: &Provider, token: &str, key: &DpopKey, nonce: Option<&str>) -> (u16, String) {
    let url = url::Url::parse(&format!("{}/me", p.issuer)).unwrap();
    let proof = key
        .proof(&ProofInput {
            method: "GET",
            url: &url,
            nonce,
            access_token: Some(&Secret::new(token)),
            now: time::OffsetDateTime::now_utc().unix_timestamp(),
        })
        .unwrap();
    http(
        p.port,
        "GET",
        "/me",
        &[
            ("Authorization", &format!("DPoP {token}")),
            ("DPoP", &proof),
        ],
        "",
    )
}

#[test]
fn dpop_sign_in_refresh_request_and_the_binding_is_real() {
    let p = provider(json!({"dpop": true}));
    let sb = Sandbox::new(BIN);
    let id = add_dpop_and_login(&sb, &p, "bound");
    let items = Keyring::items(&id);
    assert!(items.contains(&format!("{id}/dpop-key")), "{items:?}");
    let t = tokens_in_keychain(&id);
    assert_eq!(t["token_type"], "DPoP");
    let success = |grant: &str| -> Vec<Value> {
        p.events()
            .into_iter()
            .filter(|e| e["event"] == "grant.success" && e["grant_type"] == grant)
            .collect()
    };
    assert_eq!(success("authorization_code")[0]["dpop_bound"], true);
    // Sign-in read userinfo with the DPoP-bound token (proof and all).
    assert_eq!(p.count("userinfo.success", None), 1);

    let out = sb.ok(&["refresh", "bound", "--force"]);
    assert!(out.contains("Refreshed"), "{out}");
    assert_eq!(success("refresh_token")[0]["dpop_bound"], true);
    let t = tokens_in_keychain(&id);
    let at = t["access_token"].as_str().unwrap().to_string();
    let tj: Value = serde_json::from_str(&sb.ok(&["token", "bound", "--json"])).unwrap();
    assert_eq!(tj["token_type"], "DPoP");

    // `latchkey request` to the provider's userinfo endpoint.
    let me = format!("{}/me", p.issuer);
    let out = sb.run(&["request", "bound", &me]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("HTTP 200"), "{}", stderr(&out));
    let body: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(body["sub"], "alice");
    let out = sb.run(&["request", "bound", &me, "--include"]);
    assert!(stdout(&out).starts_with("HTTP 200"), "{}", stdout(&out));

    // The binding: the right key works, a foreign key and plain Bearer are refused.
    let key = DpopKey::from_secret(&Secret::new(
        Keyring::lookup(&format!("{id}/dpop-key")).unwrap(),
    ))
    .unwrap();
    let (status, _) = userinfo_with(&p, &at, &key, None);
    assert_eq!(status, 200);
    let (status, body) = userinfo_with(&p, &at, &DpopKey::generate().unwrap(), None);
    assert_eq!(status, 401, "{body}");
    let (status, body) = http(
        p.port,
        "GET",
        "/me",
        &[("Authorization", &format!("Bearer {at}"))],
        "",
    );
    assert_eq!(status, 401, "{body}");
    assert_eq!(p.grant_errors().len(), 0, "{:?}", p.grant_errors());
}

#[test]
fn dpop_with_required_server_nonces() {
    let p = provider(json!({"dpopRequireNonce": true}));
    let sb = Sandbox::new(BIN);
    let id = add_dpop_and_login(&sb, &p, "bound");
    assert_eq!(tokens_in_keychain(&id)["token_type"], "DPoP");
    assert_eq!(p.count("userinfo.success", None), 1);
    sb.ok(&["refresh", "bound", "--force"]);
    let out = sb.run(&["request", "bound", &format!("{}/me", p.issuer)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("alice"), "{}", stdout(&out));
    // Each process met the nonce requirement once at the token endpoint and retried.
    let requests = |g: &str| {
        p.events()
            .iter()
            .filter(|e| e["event"] == "token.request" && e["grant_type"] == g)
            .count()
    };
    assert_eq!(requests("authorization_code"), 2);
    assert_eq!(p.count("grant.success", Some("authorization_code")), 1);
    assert_eq!(p.count("grant.success", Some("refresh_token")), 1);
}

#[test]
fn dpop_on_a_provider_without_dpop_warns() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    let out = sb.run(&[
        "add",
        "bound",
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-dpop",
        "--dpop",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("dpop_signing_alg_values_supported"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn par_is_used_when_advertised_and_when_required() {
    for cfg in [json!({"par": true}), json!({"requirePar": true})] {
        let p = provider(cfg);
        let sb = Sandbox::new(BIN);
        sb.ok(&[
            "add",
            "work",
            "--issuer",
            &p.issuer,
            "--client-id",
            "latchkey-public",
        ]);
        let out = sb.run(&["login", "work", "--timeout", "60"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(p.count("pushed_authorization_request.success", None), 1);
        // The browser URL carries only client_id and request_uri.
        let err = stderr(&out);
        assert!(err.contains("request_uri="), "{err}");
        assert!(!err.contains("code_challenge="), "{err}");
        assert_eq!(p.count("grant.success", Some("authorization_code")), 1);
    }
}

#[test]
fn request_retries_once_on_invalid_token_and_exits_6_on_errors() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    sb.ok(&[
        "add",
        "work",
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
    ]);
    sb.ok(&["login", "work", "--timeout", "60"]);
    let me = format!("{}/me", p.issuer);
    let out = sb.run(&["request", "work", &me]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("\"sub\":\"alice\""),
        "{}",
        stdout(&out)
    );
    assert_eq!(p.count("grant.success", Some("refresh_token")), 0);

    // A 401 invalid_token: refresh once, retry.
    p.fault("userinfo", r#"json:401:{"error":"invalid_token"}"#, 1);
    let out = sb.run(&["request", "work", &me]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(p.count("grant.success", Some("refresh_token")), 1);

    // HTTP ≥ 400: body on stdout, status on stderr, exit 6.
    p.fault("userinfo", r#"json:403:{"error":"insufficient_scope"}"#, 1);
    let out = sb.run(&["request", "work", &me, "-H", "X-Test: 1"]);
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(stderr(&out).contains("HTTP 403"), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("insufficient_scope"),
        "{}",
        stdout(&out)
    );

    // POST with a body from a file.
    let f = sb.config_dir().join("body.txt");
    std::fs::write(&f, "a=b").unwrap();
    let out = sb.run(&["request", "work", &me, "-d", &format!("@{}", f.display())]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // Tokens go only to https or loopback; Authorization is Latchkey's.
    let out = sb.run(&["request", "work", "http://example.com/"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let out = sb.run(&["request", "work", &me, "-H", "Authorization: x"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let out = sb.run(&["request", "work", &me, "-H", "no colon"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));

    // introspection of a user token, then after sign-out.
    let info: Value = serde_json::from_str(&sb.ok(&["introspect", "work", "--json"])).unwrap();
    assert_eq!(info["active"], true);
    assert_eq!(info["sub"], "alice");
    let text = sb.ok(&["introspect", "work"]);
    assert!(text.contains("active") && text.contains("true"), "{text}");
    sb.ok(&["logout", "work"]);
    let out = sb.run(&["introspect", "work"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));

    let help = sb.ok(&["--help"]);
    assert!(help.contains("6    `latchkey request`"), "{help}");
}

/// Runs `args` with a fault set first; returns the output.
fn with_fault(
    sb: &Sandbox,
    p: &Provider,
    route: &str,
    mode: &str,
    args: &[&str],
) -> std::process::Output {
    p.clear_faults();
    p.fault(route, mode, 1);
    sb.run(args)
}

#[test]
fn malformed_and_unknown_provider_answers_are_typed_errors() {
    let p = provider(json!({}));
    let sb = device_sandbox();
    add_device(&sb, &p, "tv");
    add_svc(&sb, &p, "svc", "latchkey-svc", SVC_SECRET, "basic");
    let cases: Vec<(&str, &str, Vec<&str>, i32, &str)> = vec![
        // device authorization endpoint
        (
            "device",
            "malformed_json",
            vec!["login", "tv", "--no-browser"],
            4,
            "not valid JSON",
        ),
        (
            "device",
            r#"json:200:{"device_code":"d","user_code":"U","expires_in":60}"#,
            vec!["login", "tv", "--no-browser"],
            4,
            "verification_uri",
        ),
        (
            "device",
            r#"json:200:{"device_code":"d","user_code":"U","verification_uri":"https://x/d"}"#,
            vec!["login", "tv", "--no-browser"],
            4,
            "expires_in",
        ),
        (
            "device",
            r#"json:400:{"error":"invalid_client"}"#,
            vec!["login", "tv", "--no-browser"],
            4,
            "invalid_client",
        ),
        (
            "device",
            "html500",
            vec!["login", "tv", "--no-browser"],
            4,
            "HTTP 500",
        ),
        // device polling: an unknown error code stops the flow
        (
            "token",
            r#"json:400:{"error":"weird_new_error","error_description":"?"}"#,
            vec!["login", "tv", "--no-browser"],
            4,
            "weird_new_error",
        ),
        // client credentials token responses
        (
            "token",
            r#"json:200:{"token_type":"Bearer","expires_in":60}"#,
            vec!["token", "svc"],
            4,
            "missing field `access_token`",
        ),
        (
            "token",
            r#"json:200:{"access_token":"x","token_type":"mac"}"#,
            vec!["token", "svc"],
            4,
            "unsupported token_type",
        ),
        (
            "token",
            r#"json:200:{"access_token":"x","token_type":"DPoP"}"#,
            vec!["token", "svc"],
            4,
            "DPoP-bound",
        ),
        (
            "token",
            "malformed_json",
            vec!["token", "svc"],
            4,
            "not valid JSON",
        ),
        (
            "token",
            r#"json:400:{"error":"unknown_thing"}"#,
            vec!["token", "svc"],
            4,
            "unknown_thing",
        ),
        (
            "token",
            r#"json:400:not json"#,
            vec!["token", "svc"],
            4,
            "expected an OAuth JSON error",
        ),
    ];
    for (route, mode, args, want, text) in cases {
        let out = with_fault(&sb, &p, route, mode, &args);
        let err = stderr(&out);
        assert_eq!(code(&out), want, "{route} {mode}: {err}");
        assert!(err.contains(text), "{route} {mode}: {err}");
        assert!(!err.contains("{\""), "never echoes a body: {err}");
    }
    p.clear_faults();
    assert!(Keyring::items(&sb.account_id("tv")).is_empty());
    // After all that, both still work.
    sb.ok(&["token", "svc"]);
    let out = sb.run(&["login", "tv"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}
