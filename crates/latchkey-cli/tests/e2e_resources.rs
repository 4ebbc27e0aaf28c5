//! End-to-end tests of tokens for several APIs from one sign-in (issue 11): RFC 8707 resources,
//! narrower scopes, rotation during a derived refresh, single flight across processes,
//! incremental authorization (`login --add-scope/--add-resource`) and the explained
//! `insufficient_scope` challenge. Against the real test provider with its
//! `resourceIndicators` feature on (resource servers `https://a.api.test`, `https://b.api.test`)
//! and the real Secret Service; audiences are checked by the provider's introspection.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpListener;

use latchkey_testkit::{Keyring, Provider, Sandbox, code, stderr, stdout};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_latchkey");
const A: &str = "https://a.api.test";
const B: &str = "https://b.api.test";

fn provider(extra: Value) -> Provider {
    Provider::start_merged(
        json!({"accessTokenTtl": 3600, "resourceIndicators": true}),
        extra,
    )
}

/// Adds `name` (public client) with these scopes and resources, signs it in, returns its id.
fn add_and_login(
    sb: &Sandbox,
    p: &Provider,
    name: &str,
    scope: &str,
    resources: &[&str],
) -> String {
    let mut args = vec![
        "add",
        name,
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
        "--scope",
        scope,
    ];
    for r in resources {
        args.extend(["--resource", r]);
    }
    sb.ok(&args);
    sb.ok(&["login", name, "--timeout", "60"]);
    sb.account_id(name)
}

fn token(sb: &Sandbox, args: &[&str]) -> String {
    let mut all = vec!["token"];
    all.extend(args);
    sb.ok(&all).trim().to_string()
}

fn account_json(sb: &Sandbox, name: &str) -> Value {
    let list: Value = serde_json::from_str(&sb.ok(&["list", "--json"])).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap()
        .clone()
}

#[test]
fn two_resources_from_one_sign_in_each_with_its_audience_and_a_narrower_scope() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    let id = add_and_login(
        &sb,
        &p,
        "res",
        "openid offline_access api:read api:write",
        &[A, B],
    );
    let own = token(&sb, &["res"]);
    let ta = token(&sb, &["res", "--resource", A]);
    let tb = token(&sb, &["res", "--resource", B]);
    assert!(ta != tb && ta != own && tb != own);
    let ia = p.introspect(&ta);
    let ib = p.introspect(&tb);
    assert_eq!(ia["active"], true, "{ia}");
    assert_eq!(ia["aud"], A, "{ia}");
    assert_eq!(ib["aud"], B, "{ib}");
    assert_eq!(ia["sub"], "alice");
    // Each derived request named its resource; one sign-in, no second authorization.
    let resources: Vec<Value> = p
        .events()
        .into_iter()
        .filter(|e| e["event"] == "grant.success" && e["grant_type"] == "refresh_token")
        .map(|e| e["resource"].clone())
        .collect();
    assert_eq!(resources, [json!(A), json!(B)]);
    assert_eq!(p.count("authorization.success", None), 1);

    // A narrower scope for resource A: only api:read.
    let narrow = token(&sb, &["res", "--resource", A, "--scope", "api:read"]);
    let info = p.introspect(&narrow);
    assert_eq!(info["scope"], "api:read", "{info}");
    assert_eq!(info["aud"], A);
    // Cached: asking again (scopes in another spelling) makes no request.
    let before = p.count("token.request", None);
    assert_eq!(
        token(&sb, &["res", "--scope", "api:read", "--resource", A]),
        narrow
    );
    assert_eq!(token(&sb, &["res", "--resource", A]), ta);
    assert_eq!(p.count("token.request", None), before);
    // The account's own token is still the userinfo one.
    assert_eq!(token(&sb, &["res"]), own);

    // status/list show the cached tokens, never a token.
    let a = account_json(&sb, "res");
    let cached = a["cached_tokens"].as_array().unwrap();
    assert_eq!(cached.len(), 3, "{a}");
    assert!(cached.iter().any(|c| c["resources"] == json!([A])
        && c["granted_scope"] == "api:read"
        && c["expires_in"].as_i64().unwrap() > 3000));
    let status = sb.ok(&["status", "res"]);
    assert!(
        status.contains(&format!("Cached token for resource {B}")),
        "{status}"
    );
    for t in [&ta, &tb, &narrow] {
        assert!(!status.contains(t.as_str()) && !a.to_string().contains(t.as_str()));
        assert!(
            !sb.all_files_text().contains(t.as_str()),
            "no token in files"
        );
    }
    assert_eq!(Keyring::items(&format!("{id}/derived/")).len(), 3);

    // logout revokes and deletes every one of them.
    sb.ok(&["logout", "res"]);
    assert!(Keyring::items(&format!("{id}/derived/")).is_empty());
    for t in [&ta, &tb, &narrow] {
        assert_eq!(p.introspect(t)["active"], false);
    }
    assert!(
        account_json(&sb, "res")["cached_tokens"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(p.grant_errors().is_empty(), "{:?}", p.grant_errors());
}

#[test]
fn rotation_during_derived_refreshes_keeps_every_entry_usable() {
    // rotateRefreshToken is on: every refresh (derived or not) rotates, and replaying a used
    // refresh token would revoke the whole grant.
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    let id = add_and_login(
        &sb,
        &p,
        "rot",
        "openid offline_access api:read api:write",
        &[A, B],
    );
    let rt0 = Keyring::tokens(&id).unwrap()["refresh_token"].clone();
    let ta = token(&sb, &["rot", "--resource", A]);
    let rt1 = Keyring::tokens(&id).unwrap()["refresh_token"].clone();
    assert_ne!(
        rt0, rt1,
        "the derived refresh rotated the account's refresh token"
    );
    let tb = token(&sb, &["rot", "--resource", B]);
    // Renew everything, in turns: each with the newest refresh token.
    let ta2 = token(&sb, &["rot", "--resource", A, "--min-ttl", "100000"]);
    sb.ok(&["refresh", "rot", "--force"]);
    let tb2 = token(&sb, &["rot", "--resource", B, "--min-ttl", "100000"]);
    let narrow = token(&sb, &["rot", "--scope", "openid"]);
    assert!(ta2 != ta && tb2 != tb);
    for (t, aud) in [(&ta2, A), (&tb2, B)] {
        let info = p.introspect(t);
        assert_eq!(info["active"], true, "{info}");
        assert_eq!(info["aud"], aud);
    }
    assert_eq!(p.introspect(&narrow)["active"], true);
    // The first tokens are still valid too (rotation does not revoke access tokens).
    assert_eq!(p.introspect(&ta)["active"], true);
    // Every refresh presented the refresh token the one before it was given.
    let refreshes: Vec<Value> = p
        .events()
        .into_iter()
        .filter(|e| e["event"] == "grant.success" && e["grant_type"] == "refresh_token")
        .collect();
    assert_eq!(refreshes.len(), 6);
    for pair in refreshes.windows(2) {
        assert_eq!(
            pair[1]["presented_refresh_token_ref"],
            pair[0]["refresh_token_ref"]
        );
    }
    assert!(p.grant_errors().is_empty(), "{:?}", p.grant_errors());
    assert_eq!(p.count("grant.revoked", None), 0);
}

#[test]
fn ten_processes_asking_for_the_same_expiring_derived_token_cause_one_token_request() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    add_and_login(&sb, &p, "conc", "openid offline_access api:read", &[A]);
    // The first derived token is recorded as lasting 30 s (inside the 600 s window every
    // process asks for); the renewed one lasts the provider's 3600 s. No waiting.
    p.fault("token", r#"patch:{"expires_in":30}"#, 1);
    let first = token(&sb, &["conc", "--resource", A]);
    let before = p.count("token.request", None);
    let outs = sb.run_gated(10, &["token", "conc", "--resource", A, "--min-ttl", "600"]);
    for o in &outs {
        assert_eq!(code(o), 0, "{}", stderr(o));
    }
    let tokens: std::collections::HashSet<String> =
        outs.iter().map(|o| stdout(o).trim().to_string()).collect();
    assert_eq!(tokens.len(), 1, "every process got the same renewed token");
    assert!(!tokens.contains(&first));
    assert_eq!(
        p.count("token.request", None) - before,
        1,
        "exactly one token request"
    );
    assert!(p.grant_errors().is_empty(), "{:?}", p.grant_errors());
}

#[test]
fn a_resource_not_named_at_sign_in_is_explained_and_add_resource_fixes_it() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    let id = add_and_login(&sb, &p, "tgt", "openid offline_access api:read", &[A]);
    let own = token(&sb, &["tgt"]);
    let main_before = Keyring::tokens(&id).unwrap();
    let requests = p.count("token.request", None);
    let out = sb.run(&["token", "tgt", "--resource", B]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("latchkey login tgt --add-resource {B}")),
        "{err}"
    );
    // Not asked: the provider would refuse it after spending the refresh token.
    assert_eq!(p.count("token.request", None), requests);
    // The account's own tokens are untouched.
    assert_eq!(Keyring::tokens(&id).unwrap(), main_before);
    assert_eq!(token(&sb, &["tgt"]), own);
    // A malformed resource and a scope the sign-in did not grant: clear errors, exit codes.
    let out = sb.run(&["token", "tgt", "--resource", "not a uri"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let out = sb.run(&["token", "tgt", "--scope", "api:write"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("latchkey login tgt --add-scope api:write")
            && stderr(&out).contains("may have used up the sign-in"),
        "{}",
        stderr(&out)
    );
    assert_eq!(Keyring::tokens(&id).unwrap(), main_before);

    sb.ok(&["login", "tgt", "--add-resource", B, "--timeout", "60"]);
    let a = account_json(&sb, "tgt");
    assert_eq!(a["resources"], json!([A, B]));
    let tb = token(&sb, &["tgt", "--resource", B]);
    assert_eq!(p.introspect(&tb)["aud"], B);
}

#[test]
fn an_ungranted_resource_costs_nothing_and_every_caller_keeps_working() {
    // rotateRefreshToken: panva's oidc-provider spends the refresh token before it checks
    // `resource`; a replayed one revokes the grant.
    let p = provider(json!({"rotateRefreshToken": true}));
    let sb = Sandbox::new(BIN);
    add_and_login(&sb, &p, "keep", "openid offline_access api:read", &[A]);
    let before = p.count("token.request", None);
    let out = sb.run(&["token", "keep", "--resource", B]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("latchkey login keep --add-resource {B}")),
        "{}",
        stderr(&out)
    );
    assert_eq!(p.count("token.request", None), before, "nothing sent");
    // The account keeps working: its own token, a granted resource, ten processes at once
    // (each renewing: --min-ttl is beyond every token's lifetime).
    sb.ok(&["refresh", "keep", "--force"]);
    let ta = token(&sb, &["keep", "--resource", A]);
    assert_eq!(p.introspect(&ta)["aud"], A);
    for args in [
        &["token", "keep", "--resource", A, "--min-ttl", "100000"][..],
        &["token", "keep", "--min-ttl", "100000"][..],
    ] {
        for o in sb.run_gated(10, args) {
            assert_eq!(code(&o), 0, "{}", stderr(&o));
        }
    }
    assert_eq!(p.introspect(&token(&sb, &["keep"]))["active"], true);
    assert!(p.grant_errors().is_empty(), "{:?}", p.grant_errors());
    assert_eq!(p.count("grant.revoked", None), 0);
}

#[test]
fn after_invalid_grant_ten_processes_send_the_dead_refresh_token_at_most_once() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    let id = add_and_login(&sb, &p, "dead", "openid offline_access api:read", &[A]);
    // The grant ends at the provider (revoked elsewhere): the refresh token is dead.
    let rt = Keyring::tokens(&id).unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = latchkey_testkit::http(
        p.port,
        "POST",
        "/token/revocation",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &format!("token={rt}&token_type_hint=refresh_token&client_id=latchkey-public"),
    );
    assert_eq!(status, 200, "{body}");
    let sent = || p.count("token.request", Some("refresh_token"));
    let before = sent();
    // Ten processes that need a token for another API, then ten that need the account's own.
    for o in sb.run_gated(10, &["token", "dead", "--resource", A]) {
        assert_eq!(code(&o), 3, "{}", stderr(&o));
    }
    assert_eq!(sent() - before, 1, "{:?}", p.grant_errors());
    for o in sb.run_gated(10, &["token", "dead", "--min-ttl", "100000"]) {
        assert_eq!(code(&o), 3, "{}", stderr(&o));
    }
    assert_eq!(sent() - before, 1, "nobody sent it again");
    assert!(Keyring::tokens(&id).is_none());
    let status = sb.run(&["status", "dead"]);
    assert!(
        stdout(&status).contains("needs sign-in"),
        "{}",
        stdout(&status)
    );
}

#[test]
fn add_scope_keeps_the_identity_and_refuses_another_user() {
    let p = provider(json!({}));
    let mut sb = Sandbox::new(BIN);
    let id = add_and_login(&sb, &p, "inc", "openid offline_access", &[]);
    let before = account_json(&sb, "inc");
    assert!(!before["token_scope"].as_str().unwrap().contains("api:read"));
    sb.ok(&["login", "inc", "--add-scope", "api:read", "--timeout", "60"]);
    let after = account_json(&sb, "inc");
    assert_eq!(after["identity"]["sub"], "alice");
    assert_eq!(
        after["scopes"],
        json!(["openid", "offline_access", "api:read"])
    );
    assert!(
        after["token_scope"].as_str().unwrap().contains("api:read"),
        "{after}"
    );
    // The authorization request asked for the union.
    let own = token(&sb, &["inc"]);
    assert!(
        p.introspect(&own)["scope"]
            .as_str()
            .unwrap()
            .contains("api:read")
    );

    // Another user: refused, nothing changes, the old tokens stay.
    let kept = Keyring::tokens(&id).unwrap();
    sb.set_env("LATCHKEY_TEST_LOGIN", "bob");
    let out = sb.run(&[
        "login",
        "inc",
        "--add-scope",
        "api:write",
        "--timeout",
        "60",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("alice"), "{}", stderr(&out));
    assert_eq!(Keyring::tokens(&id).unwrap(), kept);
    let unchanged = account_json(&sb, "inc");
    assert_eq!(unchanged["identity"]["sub"], "alice");
    assert_eq!(unchanged["scopes"], after["scopes"]);
    assert_eq!(token(&sb, &["inc"]), own);
    // --replace and --add-scope do not go together.
    let out = sb.run(&["login", "inc", "--add-scope", "x", "--replace"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

/// A resource server that answers every request with 403 and this `WWW-Authenticate`.
fn challenging_server(header: &'static str) -> (u16, std::thread::JoinHandle<Option<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().ok()?;
        let mut buf = [0u8; 8192];
        let mut req = Vec::new();
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            req.extend_from_slice(&buf[..n]);
        }
        let body = "{\"error\":\"insufficient_scope\"}";
        let resp = format!(
            "HTTP/1.1 403 Forbidden\r\nWWW-Authenticate: {header}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(resp.as_bytes()).ok()?;
        Some(String::from_utf8_lossy(&req).to_string())
    });
    (port, handle)
}

#[test]
fn insufficient_scope_and_step_up_are_explained_with_the_command() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    add_and_login(&sb, &p, "api", "openid offline_access api:read", &[]);
    let (port, server) = challenging_server(
        r#"Bearer realm="files", error="insufficient_scope", scope="api:write""#,
    );
    let out = sb.run(&["request", "api", &format!("http://127.0.0.1:{port}/files")]);
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("insufficient_scope") && err.contains("api:write"),
        "{err}"
    );
    assert!(
        err.contains("latchkey login api --add-scope api:write"),
        "{err}"
    );
    let seen = server.join().unwrap().unwrap();
    assert!(seen.contains("Bearer "), "the request carried the token");

    let (port, server) = challenging_server(
        r#"Bearer error="insufficient_user_authentication", acr_values="urn:example:mfa", max_age=60"#,
    );
    let out = sb.run(&["request", "api", &format!("http://127.0.0.1:{port}/admin")]);
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(r#"latchkey login api --acr "urn:example:mfa" --max-age 60"#),
        "{err}"
    );
    server.join().unwrap();

    // The step-up sign-in sends max_age (and acr_values) in the authorization request and
    // keeps the identity.
    sb.ok(&["login", "api", "--max-age", "0", "--timeout", "60"]);
    assert_eq!(account_json(&sb, "api")["identity"]["sub"], "alice");
    assert_eq!(p.count("authorization.success", None), 2);

    // A provider that answers a step-up with an old authentication (auth_time beyond max_age)
    // is refused, and the account keeps its tokens.
    let before = Keyring::tokens(&sb.account_id("api")).unwrap();
    p.fault("token", r#"id_token_patch:{"auth_time":1000000000}"#, 1);
    let out = sb.run(&["login", "api", "--max-age", "0", "--timeout", "60"]);
    assert_ne!(code(&out), 0);
    let err = stderr(&out);
    assert!(
        err.contains("max_age 0 s") && err.contains("did not ask you to sign in again"),
        "{err}"
    );
    assert_eq!(
        Keyring::tokens(&sb.account_id("api")).unwrap()["access_token"],
        before["access_token"],
        "the account's tokens are unchanged"
    );
}

#[test]
fn broader_grants_and_an_ignored_resource_are_said_under_verbose_and_recorded_as_granted() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    add_and_login(
        &sb,
        &p,
        "loose",
        "openid offline_access api:read api:write",
        &[A],
    );
    // The provider answers with more scopes than asked.
    p.fault("token", r#"patch:{"scope":"api:read api:write"}"#, 1);
    let out = sb.run(&[
        "token",
        "loose",
        "--resource",
        A,
        "--scope",
        "api:read",
        "-v",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("granted more than asked: api:write"),
        "{}",
        stderr(&out)
    );
    let a = account_json(&sb, "loose");
    let entry = a["cached_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["scopes"] == json!(["api:read"]))
        .cloned()
        .unwrap();
    assert_eq!(entry["granted_scope"], "api:read api:write", "{a}");
    // A provider that ignores `resource`: a JWT access token for another audience.
    let jwt = format!(
        "eyJhbGciOiJub25lIn0.{}.x",
        base64_url(r#"{"aud":"https://elsewhere.test","sub":"alice"}"#)
    );
    p.fault("token", &format!(r#"patch:{{"access_token":"{jwt}"}}"#), 1);
    let out = sb.run(&[
        "token",
        "loose",
        "--resource",
        A,
        "--scope",
        "api:write",
        "-v",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("seems to have ignored `resource`"),
        "{}",
        stderr(&out)
    );
    // Without -v nothing is said.
    let quiet = sb.run(&["token", "loose", "--resource", A, "--scope", "api:write"]);
    assert_eq!(code(&quiet), 0);
    assert!(stderr(&quiet).is_empty(), "{}", stderr(&quiet));
}

#[test]
fn cached_tokens_belong_to_their_sign_in_but_survive_a_same_identity_add_scope() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    let id = add_and_login(&sb, &p, "gen", "openid offline_access api:read", &[A]);
    let ta = token(&sb, &["gen", "--resource", A]);
    // The same user adds a scope: the cached token stays and is served without a request.
    sb.ok(&[
        "login",
        "gen",
        "--add-scope",
        "api:write",
        "--timeout",
        "60",
    ]);
    let before = p.count("token.request", None);
    assert_eq!(token(&sb, &["gen", "--resource", A]), ta);
    assert_eq!(p.count("token.request", None), before);
    // A new sign-in: the cached token of the old one is gone and never served.
    sb.ok(&["login", "gen", "--timeout", "60"]);
    assert!(Keyring::items(&format!("{id}/derived/")).is_empty());
    let ta2 = token(&sb, &["gen", "--resource", A]);
    assert_ne!(ta2, ta);
    assert_eq!(p.introspect(&ta2)["aud"], A);
    assert!(p.grant_errors().is_empty(), "{:?}", p.grant_errors());
}

#[test]
fn a_cached_token_nothing_lists_is_deleted_by_logout_and_remove() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    let id = add_and_login(&sb, &p, "orph", "openid offline_access api:read", &[A]);
    token(&sb, &["orph", "--resource", A]);
    // An entry as a crash between the keychain write and its listing (or an older Latchkey)
    // leaves it: in the keychain, in no record and in no metadata.
    let orphan = format!("{id}/derived/{}", "0".repeat(64));
    Keyring::store(&orphan, r#"{"spec":{},"set":{}}"#);
    let other = "00000000-0000-4000-8000-000000000000/derived/keep";
    Keyring::store(other, "{}");
    assert_eq!(Keyring::items(&format!("{id}/derived/")).len(), 2);
    sb.ok(&["logout", "orph"]);
    assert!(
        Keyring::items(&format!("{id}/derived/")).is_empty(),
        "{:?}",
        Keyring::items(&format!("{id}/derived/"))
    );
    assert_eq!(
        Keyring::items(other),
        [other],
        "another account's items stay"
    );
    // remove sweeps as well.
    sb.ok(&["login", "orph", "--timeout", "60"]);
    Keyring::store(&orphan, "{}");
    sb.ok(&["remove", "orph"]);
    assert!(Keyring::items(&format!("{id}/")).is_empty());
    // clean up the foreign item
    let _ = std::process::Command::new("secret-tool")
        .args(["clear", "service", "latchkey", "username", other])
        .status();
}

#[test]
fn offline_access_asks_for_consent_where_the_provider_follows_oidc_core_11() {
    // Stock oidc-provider: offline_access (and so a refresh token) only with prompt=consent.
    let p = provider(json!({"stockRefreshTokens": true}));
    let sb = Sandbox::new(BIN);
    sb.ok(&[
        "add",
        "off",
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
        "--scope",
        "openid offline_access",
    ]);
    let out = sb.run(&["login", "off", "--timeout", "60", "-v"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("latchkey edit off --offline-consent true"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("OpenID Connect Core §11"),
        "{}",
        stderr(&out)
    );
    let a = account_json(&sb, "off");
    assert_eq!(a["has_refresh_token"], false, "{a}");
    assert_eq!(a["offline_access"]["offline"], "not_granted", "{a}");
    assert_eq!(a["offline_access"]["consent_sent"], false, "{a}");
    let status = sb.ok(&["status", "off"]);
    assert!(
        status.contains("Offline access: the provider granted no offline access"),
        "{status}"
    );

    sb.ok(&["edit", "off", "--offline-consent", "true"]);
    sb.ok(&["login", "off", "--timeout", "60"]);
    let a = account_json(&sb, "off");
    assert_eq!(a["has_refresh_token"], true, "{a}");
    assert_eq!(a["offline_access"]["offline"], "granted", "{a}");
    assert_eq!(a["offline_consent"], true);
    assert!(!sb.ok(&["status", "off"]).contains("Offline access:"));
    sb.ok(&["refresh", "off", "--force"]);
    assert!(p.grant_errors().is_empty(), "{:?}", p.grant_errors());
}

fn base64_url(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}
