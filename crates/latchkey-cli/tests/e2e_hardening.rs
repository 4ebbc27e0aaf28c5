//! End-to-end hardening tests (issue 10) of the `latchkey` binary against the real test provider
//! and the real Secret Service: hostile numbers and hostile text from a provider, private
//! files, faults while a valid token is in hand, and the mix-up defence (two providers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use latchkey_testkit::{Keyring, Provider, Sandbox, code, stderr, stdout};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_latchkey");

fn provider(extra: Value) -> Provider {
    Provider::start_merged(json!({"accessTokenTtl": 300}), extra)
}

fn tokens_in_keychain(id: &str) -> Value {
    Keyring::tokens(id).expect("tokens are in the keychain")
}

fn expires_at(tokens: &Value) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(
        tokens["expires_at"].as_str().expect("an expiry is stored"),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
}

/// A provider's hostile `expires_in` in a refresh answer: no panic, exit 0, the rotated refresh
/// token stored (and live at the provider), the expiry clamped to at most a year, or to "now"
/// for values that are no lifetime at all.
#[test]
fn hostile_expires_in_on_refresh_keeps_the_rotated_refresh_token() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    let id = sb.add_and_login(&p, "n");
    let cases: [(&str, bool); 6] = [
        (r#""expires_in":1e300"#, true),
        (r#""expires_in":18446744073709551615"#, true),
        (r#""expires_in":-5"#, false),
        (r#""expires_in":"soon""#, false),
        (r#""expires_in":"-1e300""#, false),
        (r#""expires_in":{"nested":true}"#, false),
    ];
    for (patch, huge) in cases {
        let before = tokens_in_keychain(&id);
        let old_rt = before["refresh_token"].as_str().unwrap().to_string();
        p.fault("token", &format!("patch:{{{patch}}}"), 1);
        let out = sb.run(&["refresh", "n", "--force"]);
        assert_eq!(code(&out), 0, "{patch}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
        let after = tokens_in_keychain(&id);
        let new_rt = after["refresh_token"].as_str().unwrap().to_string();
        assert_ne!(
            new_rt, old_rt,
            "{patch}: the rotated refresh token is stored"
        );
        assert_eq!(p.introspect(&new_rt)["active"], true, "{patch}");
        let exp = expires_at(&after);
        let now = time::OffsetDateTime::now_utc();
        if huge {
            assert!(exp > now + time::Duration::days(300), "{patch}: {exp}");
            assert!(exp <= now + time::Duration::days(367), "{patch}: {exp}");
        } else {
            assert!(exp <= now + time::Duration::seconds(5), "{patch}: {exp}");
        }
        // The account goes on working: the next token call refreshes normally if needed.
        let out = sb.run(&["token", "n"]);
        assert_eq!(code(&out), 0, "{patch}: {}", stderr(&out));
    }
    assert!(p.grant_errors().is_empty(), "{:?}", p.grant_errors());
}

/// Modes of the config dir (0700) and of every file in it (0600), recursively.
fn assert_private(sb: &Sandbox, when: &str) {
    use std::os::unix::fs::PermissionsExt;
    fn walk(p: &std::path::Path, when: &str, seen: &mut usize) {
        let mode = std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
        if p.is_dir() {
            assert_eq!(mode, 0o700, "{when}: {} is {mode:o}", p.display());
            for e in std::fs::read_dir(p).unwrap().flatten() {
                walk(&e.path(), when, seen);
            }
        } else {
            *seen += 1;
            assert_eq!(mode, 0o600, "{when}: {} is {mode:o}", p.display());
        }
    }
    let mut seen = 0;
    walk(sb.config_dir(), when, &mut seen);
    assert!(seen > 0, "{when}: no files to check");
}

#[test]
fn config_dir_and_files_are_private_and_old_ones_are_tightened() {
    use std::os::unix::fs::PermissionsExt;
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    // The sandbox's dir is made 0755, like a dir an older version created.
    std::fs::set_permissions(sb.config_dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    sb.ok(&[
        "add",
        "f",
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
    ]);
    assert_private(&sb, "after add");
    sb.ok(&["login", "f", "--timeout", "60"]);
    assert_private(&sb, "after login");
    sb.ok(&["refresh", "f", "--force"]);
    assert_private(&sb, "after refresh");
    let log = sb.config_dir().join("latchkey.log");
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("token refreshed"),
        "the log is written"
    );
    for f in ["accounts.toml", "latchkey.log", "tokens.changed"] {
        assert!(sb.config_dir().join(f).exists(), "{f}");
    }
    assert!(sb.config_dir().join("locks").is_dir());
    assert!(sb.config_dir().join("cache").is_dir());

    // Files left world-readable by an older version are tightened at start-up.
    for f in ["accounts.toml", "latchkey.log"] {
        std::fs::set_permissions(
            sb.config_dir().join(f),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
    }
    std::fs::set_permissions(
        sb.config_dir().join("locks"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    sb.ok(&["list"]);
    assert_private(&sb, "after start-up");

    // A symlink planted as the log is not followed (the target stays untouched).
    let target = sb
        .dir
        .path()
        .parent()
        .unwrap()
        .join(format!("latchkey-log-target-{}", std::process::id()));
    std::fs::write(&target, "untouched\n").unwrap();
    std::fs::remove_file(&log).unwrap();
    std::os::unix::fs::symlink(&target, &log).unwrap();
    sb.ok(&["refresh", "f", "--force"]);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched\n");
    std::fs::remove_file(&target).unwrap();
}

/// Terminal escapes as a hostile provider would write them inside JSON strings: OSC 0 (window
/// title), SGR 8 (hidden text), OSC 52 (clipboard write), a C1 CSI and a bidi override.
const HOSTILE_JSON: &str =
    r"\u001b]0;pwned\u0007\u001b[8mhidden\u001b[0m\u001b]52;c;cHduZWQ=\u0007\u009b31m\u202e";

/// True if `s` has a control character other than a line break or tab, or a bidi override.
fn has_escapes(s: &str) -> bool {
    s.chars().any(|c| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    })
}

/// The metadata file as TOML stores escapes (`\u001B`), or raw.
fn toml_has_escapes(s: &str) -> bool {
    has_escapes(s) || s.to_ascii_lowercase().contains("\\u00") || s.contains("\\e")
}

#[test]
fn hostile_text_from_the_provider_is_stripped_and_capped() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    sb.ok(&[
        "add",
        "t",
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
    ]);
    // Identity names with escapes, one of them 20,000 characters long.
    let long_name = format!("{HOSTILE_JSON}Mallory {}", "m".repeat(20_000));
    p.fault(
        "token",
        &format!(
            r#"id_token_patch:{{"name":"{long_name}","email":"{HOSTILE_JSON}mallory@example.test"}}"#
        ),
        1,
    );
    let out = sb.run(&["login", "t", "--timeout", "60"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!has_escapes(&stdout(&out)), "{:?}", stdout(&out));
    assert!(!has_escapes(&stderr(&out)), "{:?}", stderr(&out));
    assert!(
        stdout(&out).contains("]0;pwned[8mhidden[0m]52;c;cHduZWQ=31mmallory@example.test"),
        "{}",
        stdout(&out)
    );
    for args in [&["list"][..], &["status", "t"], &["list", "--json"]] {
        let out = sb.run(args);
        assert!(!has_escapes(&stdout(&out)), "{args:?}: {:?}", stdout(&out));
        assert!(!stdout(&out).contains("\\u001b"), "{args:?}");
    }
    let toml = sb.accounts_toml();
    assert!(!toml_has_escapes(&toml), "{toml}");
    assert!(toml.contains("Mallory"), "{toml}");
    assert!(!toml.contains(&"m".repeat(300)), "the name is capped");

    // A refresh refused with a hostile, 50,000-character error_description.
    let desc = format!("{HOSTILE_JSON}{}", "x".repeat(50_000));
    p.fault(
        "token",
        &format!(r#"json:400:{{"error":"invalid_grant","error_description":"{desc}"}}"#),
        1,
    );
    let out = sb.run(&["token", "t", "--min-ttl", "400"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!has_escapes(&err), "{err:?}");
    assert!(err.contains("invalid_grant"), "{err}");
    assert!(err.len() < 2_000, "stderr is {} bytes", err.len());
    let toml = sb.accounts_toml();
    assert!(!toml_has_escapes(&toml), "{toml}");
    assert!(
        toml.contains("needs-sign-in") || toml.contains("needs_sign_in"),
        "{toml}"
    );
    assert!(toml.len() < 4_000, "accounts.toml is {} bytes", toml.len());
    let out = sb.run(&["status", "t"]);
    assert!(!has_escapes(&stdout(&out)) && !has_escapes(&stderr(&out)));
}

#[test]
fn hostile_introspection_text_is_stripped_and_capped() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    sb.add_and_login(&p, "intro");
    let long = "s".repeat(20_000);
    p.fault(
        "introspection",
        &format!(
            r#"patch:{{"sub":"{HOSTILE_JSON}alice","username":"{HOSTILE_JSON}","scope":"{long}"}}"#
        ),
        1,
    );
    let out = sb.run(&["introspect", "intro"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!has_escapes(&text), "{text:?}");
    assert!(text.contains("pwned") && text.contains("alice"), "{text}");
    assert!(text.len() < 4_000, "capped: {} bytes", text.len());
}

#[test]
fn hostile_device_user_code_is_stripped() {
    let p = provider(json!({"deviceInterval": 1}));
    let mut sb = Sandbox::new(BIN);
    sb.env = vec![(
        "LATCHKEY_BROWSER".into(),
        format!(
            "node {}",
            latchkey_testkit::repo_root()
                .join("tests/provider/approve-device.mjs")
                .display()
        ),
    )];
    sb.ok(&[
        "add",
        "tv",
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
        "--flow",
        "device",
    ]);
    p.fault(
        "device",
        &format!(r#"patch:{{"user_code":"{HOSTILE_JSON}WDJB-MJHT"}}"#),
        1,
    );
    let out = sb.run(&["login", "tv"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!has_escapes(&stderr(&out)), "{:?}", stderr(&out));
    assert!(!has_escapes(&stdout(&out)), "{:?}", stdout(&out));
    assert!(stderr(&out).contains("31mWDJB-MJHT"), "{}", stderr(&out));
}

/// A sandbox whose "browser" only records the URLs it is asked to open (one per line).
fn recording_sandbox() -> (Sandbox, std::path::PathBuf) {
    let mut sb = Sandbox::new(BIN);
    let urls = sb.config_dir().join("opened-urls.txt");
    let script = sb.config_dir().join("record-url.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n", urls.display()),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();
    sb.env = vec![("LATCHKEY_BROWSER".into(), script.display().to_string())];
    (sb, urls)
}

/// Waits (bounded) until the recording browser has been asked to open a URL.
fn wait_for_url(urls: &std::path::Path) -> url::Url {
    for _ in 0..400 {
        if let Some(line) = std::fs::read_to_string(urls)
            .ok()
            .and_then(|t| t.lines().last().map(str::to_string))
        {
            return url::Url::parse(&line).unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("latchkey did not open a URL");
}

fn param(u: &url::Url, name: &str) -> String {
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {name} in {u}"))
}

/// What `latchkey add` says to register.
fn registered_uri(add_output: &str) -> String {
    add_output
        .lines()
        .find_map(|l| l.strip_prefix("Redirect URI to register at the provider: "))
        .expect("add names the redirect URI")
        .trim()
        .to_string()
}

/// Runs the headless browser on `url` (approving) and returns the custom-scheme callback it
/// was sent to (printed, since no deep-link command is set), or delivers a loopback one.
fn browse(url: &str) -> String {
    let out = std::process::Command::new("node")
        .arg(latchkey_testkit::repo_root().join("tests/provider/browser.mjs"))
        .arg(url)
        .env("LATCHKEY_TEST_BROWSER_MODE", "approve")
        .env_remove("LATCHKEY_TEST_DEEP_LINK_CMD")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_string()
}

/// RFC 9700 §4.4 mix-up: the provider of another account ("evil", no RFC 9207 `iss`) starts
/// its own sign-in and sends the browser to the honest provider with *its* state and code
/// challenge. The honest provider's callback arrives at the honest account's redirect URI, so
/// it does not match the evil flow's: refused, and the evil token endpoint receives nothing
/// (neither the honest code nor the verifier). Both redirect kinds: scheme and loopback.
#[test]
fn mix_up_callback_for_another_account_is_refused_before_any_token_request() {
    let honest = provider(json!({}));
    let evil = provider(json!({}));
    let (sb, urls) = recording_sandbox();
    for (mode, evil_name, honest_name) in [
        ("scheme", "evil-s", "honest-s"),
        ("loopback", "evil-l", "honest-l"),
    ] {
        let _ = std::fs::remove_file(&urls);
        let honest_uri = registered_uri(&sb.ok(&[
            "add",
            honest_name,
            "--issuer",
            &honest.issuer,
            "--client-id",
            "latchkey-public",
            "--redirect",
            mode,
        ]));
        let auth = format!(
            "{}{}",
            evil.issuer,
            evil.endpoint_path("authorization_endpoint")
        );
        let token = format!("{}{}", evil.issuer, evil.endpoint_path("token_endpoint"));
        sb.ok(&[
            "add",
            evil_name,
            "--auth-url",
            &auth,
            "--token-url",
            &token,
            "--client-id",
            "latchkey-public",
            "--redirect",
            mode,
        ]);
        // The evil account's sign-in waits for its callback.
        let mut login = sb
            .cmd(&["login", evil_name, "--timeout", "60"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let evil_url = wait_for_url(&urls);
        // The attacker's provider sends the browser to the honest one with its own state and
        // challenge, and the redirect URI the honest client has registered.
        let mut at_honest = url::Url::parse(&format!(
            "{}{}",
            honest.issuer,
            honest.endpoint_path("authorization_endpoint")
        ))
        .unwrap();
        let honest_redirect = if mode == "loopback" {
            let port = url::Url::parse(&param(&evil_url, "redirect_uri"))
                .unwrap()
                .port()
                .unwrap();
            honest_uri.replace("<any port>", &port.to_string())
        } else {
            honest_uri.clone()
        };
        at_honest
            .query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", "latchkey-public")
            .append_pair("redirect_uri", &honest_redirect)
            .append_pair("scope", "openid profile")
            .append_pair("state", &param(&evil_url, "state"))
            .append_pair("code_challenge", &param(&evil_url, "code_challenge"))
            .append_pair("code_challenge_method", "S256");
        let printed = browse(at_honest.as_str());
        if mode == "scheme" {
            // The OS hands the honest provider's callback to Latchkey.
            assert!(printed.contains("code="), "{printed}");
            let out = sb.run(&["complete", &printed]);
            assert_ne!(code(&out), 0, "{mode}: the mixed-up callback was accepted");
            assert!(
                stderr(&out).contains("the callback arrived at"),
                "{}",
                stderr(&out)
            );
            let _ = login.kill();
            let _ = login.wait();
        } else {
            // The loopback listener answered it as "not this sign-in" and keeps waiting.
            let _ = login.kill();
            let out = login.wait_with_output().unwrap();
            assert!(
                !stdout(&out).contains("Signed in"),
                "{mode}: {}",
                stdout(&out)
            );
            // Point 9: the terminal says a callback was ignored and that it keeps waiting.
            assert!(
                stderr(&out).contains("ignored a callback")
                    && stderr(&out).contains("still waiting"),
                "{}",
                stderr(&out)
            );
        }
        assert_eq!(
            evil.count("token.request", None),
            0,
            "{mode}: the evil token endpoint received a request: {:?}",
            evil.events()
        );
        assert_eq!(
            honest.count("grant.success", Some("authorization_code")),
            0,
            "{mode}"
        );
    }
}

/// Point 7: with a valid token in hand, a garbage `200` answer to a proactive refresh (a broken
/// server, a captive portal) serves the current token degraded (exit 0), and a hanging token
/// endpoint is given a short deadline of its own, not the full request timeout.
#[test]
fn proactive_refresh_faults_serve_the_current_token() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    let id = sb.add_and_login(&p, "g");
    let current = tokens_in_keychain(&id)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    // 300 s left, asked for 400: a proactive refresh.
    p.fault("token", "malformed_json", 1);
    let out = sb.run(&["token", "g", "--min-ttl", "400"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), current);
    assert!(
        stderr(&out).contains("could not refresh"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("\"trunc"),
        "the body is never echoed"
    );

    // A slow endpoint (it answers after 20 s, and rotates the refresh token): the current token
    // is printed after the short deadline and standard output ends there, while the process
    // stays to store the late answer. The full request timeout is 30 s, so without the
    // deadline this call would have waited for the refresh.
    let before = tokens_in_keychain(&id);
    let old_rt = before["refresh_token"].as_str().unwrap().to_string();
    p.fault("token", "delay:20000", 1);
    let mut child = sb
        .cmd(&["token", "g", "--min-ttl", "400", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut printed = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut printed).unwrap();
    let j: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(j["access_token"], current.as_str());
    assert_eq!(j["degraded"], true, "{j}");
    assert!(
        child.try_wait().unwrap().is_none(),
        "standard output ends before the late answer is stored"
    );
    // Another process meanwhile: the account lock is held by the background refresh, and with
    // a valid token in hand it waits no longer than the same deadline; no second request.
    let refreshes = p.count("grant.success", Some("refresh_token"));
    let other = sb.run(&["token", "g", "--min-ttl", "400"]);
    assert_eq!(
        p.count("grant.success", Some("refresh_token")),
        refreshes,
        "no second refresh while the first is in flight"
    );
    assert_eq!(code(&other), 0, "{}", stderr(&other));
    assert_eq!(stdout(&other).trim(), current);
    assert!(
        stderr(&other).contains("another refresh"),
        "{}",
        stderr(&other)
    );
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        p.count("grant.success", Some("refresh_token")),
        refreshes + 1,
        "the slow refresh completed at the provider"
    );
    assert!(
        stderr(&out).contains("did not answer within 5 s"),
        "{}",
        stderr(&out)
    );
    // The late answer's rotated refresh token was stored, and it is the live one.
    let after = tokens_in_keychain(&id);
    let new_rt = after["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(new_rt, old_rt, "the rotated refresh token is stored");
    assert_ne!(after["access_token"], current.as_str());
    assert_eq!(p.introspect(&new_rt)["active"], true);
    // The account goes on refreshing with it (a lost rotation would be `invalid_grant`).
    let out = sb.run(&["refresh", "g", "--force"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(p.grant_errors().is_empty(), "{:?}", p.grant_errors());
}

/// `exec` with a slow token endpoint and a token inside the refresh window: CMD gets the current
/// token after the short deadline, but `execve` ends latchkey's tasks, so the refresh still in
/// flight is drained first — CMD starts only once the rotated set is in the keychain (CMD reads
/// the keychain itself). Before the drain, CMD started at the deadline beside an old set, and
/// the rotated refresh token the provider issued was lost with the process.
#[test]
fn exec_stores_a_refresh_finishing_in_the_background_before_it_becomes_the_command() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    let id = sb.add_and_login(&p, "x");
    let before = tokens_in_keychain(&id);
    let current = before["access_token"].as_str().unwrap().to_string();
    let old_rt = before["refresh_token"].as_str().unwrap().to_string();
    let refreshes = p.count("grant.success", Some("refresh_token"));
    // 300 s left, asked for 400: a proactive refresh; the provider answers (and rotates) after
    // 12 s, well past the 5 s deadline and within the 30 s request timeout.
    p.fault("token", "delay:12000", 1);
    let item = format!("{id}/tokens");
    let out = sb.run(&[
        "exec",
        "x",
        "--min-ttl",
        "400",
        "--",
        "sh",
        "-c",
        "printf '%s\\n' \"$LATCHKEY_ACCESS_TOKEN\"; secret-tool lookup service latchkey username \"$0\"",
        &item,
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let printed = stdout(&out);
    let (handed, seen) = printed.split_once('\n').unwrap();
    // CMD got the current token (still valid), served degraded after the deadline.
    assert_eq!(handed, current);
    assert!(
        stderr(&out).contains("in the background"),
        "{}",
        stderr(&out)
    );
    // When CMD ran, the keychain already held the rotated set of the late answer.
    let seen: Value = serde_json::from_str(seen.trim()).unwrap();
    let seen_rt = seen["refresh_token"].as_str().unwrap();
    assert_ne!(
        seen_rt, old_rt,
        "CMD started before the background refresh was stored"
    );
    assert_eq!(
        p.count("grant.success", Some("refresh_token")),
        refreshes + 1
    );
    assert_eq!(p.introspect(seen_rt)["active"], true);
    assert_eq!(tokens_in_keychain(&id)["refresh_token"], seen_rt);
    // The account goes on refreshing with it (a lost rotation would be `invalid_grant`).
    let out = sb.run(&["refresh", "x", "--force"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(p.grant_errors().is_empty(), "{:?}", p.grant_errors());
}

/// Point 5: `remove` deletes the keychain items of a sign-in in progress.
#[test]
fn remove_deletes_pending_sign_in_items() {
    let p = provider(json!({}));
    let (sb, urls) = recording_sandbox();
    sb.ok(&[
        "add",
        "r",
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
        "--redirect",
        "scheme",
    ]);
    let mut login = sb
        .cmd(&["login", "r", "--timeout", "60"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = wait_for_url(&urls);
    let digest = latchkey_core::flow::pkce::state_digest(&param(&url, "state"));
    let item = format!("pending/{digest}");
    assert!(
        Keyring::lookup(&item).is_some(),
        "the pending flow is stored"
    );
    let _ = login.kill();
    let _ = login.wait();
    sb.ok(&["remove", "r"]);
    assert!(
        Keyring::lookup(&item).is_none(),
        "remove left the pending sign-in in the keychain"
    );
}

/// Point 5: `remove` also finds pending sign-ins the index does not list (a crash between the
/// keychain write and the index, an older version) by searching the keychain for `pending/`
/// items: the removed account's go, another account's stay.
#[test]
fn remove_sweeps_pending_items_left_out_of_the_index() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    for name in ["gone", "kept"] {
        sb.ok(&[
            "add",
            name,
            "--issuer",
            &p.issuer,
            "--client-id",
            "latchkey-public",
        ]);
    }
    let flow = |id: &str| {
        json!({
            "account_id": id,
            "state": "s",
            "verifier": "v",
            "redirect_uri": "http://127.0.0.1/callback",
            "created_at": "2030-01-01T00:00:00Z",
            "expires_at": "2030-01-01T00:10:00Z",
        })
        .to_string()
    };
    let digest = |tag: &str| {
        latchkey_core::flow::pkce::state_digest(&format!("{tag}-{}", sb.config_dir().display()))
    };
    let gone_item = format!("pending/{}", digest("gone"));
    let kept_item = format!("pending/{}", digest("kept"));
    for (item, owner) in [(&gone_item, "gone"), (&kept_item, "kept")] {
        let out = latchkey_testkit::output_with_stdin(
            std::process::Command::new("secret-tool").args([
                "store",
                "--label",
                "Latchkey: leftover",
                "service",
                "latchkey",
                "username",
                item,
            ]),
            &flow(&sb.account_id(owner)),
        );
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(Keyring::lookup(item).is_some());
    }
    sb.ok(&["remove", "gone"]);
    assert!(
        Keyring::lookup(&gone_item).is_none(),
        "remove left a pending sign-in of the account in the keychain"
    );
    assert!(
        Keyring::lookup(&kept_item).is_some(),
        "another account's pending sign-in stays"
    );
    sb.ok(&["remove", "kept"]);
    assert!(Keyring::lookup(&kept_item).is_none());
}

/// Point 6: an account with an identity on record, signed in again by an answer that says
/// nobody (no `openid` asked), is refused instead of keeping the old identity.
#[test]
fn a_sign_in_without_identity_does_not_keep_the_old_one() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    let id = sb.add_and_login(&p, "who");
    let before = tokens_in_keychain(&id);
    sb.ok(&["edit", "who", "--scope", "profile email"]);
    let out = sb.run(&["login", "who", "--timeout", "60"]);
    assert_ne!(code(&out), 0, "{}", stdout(&out));
    assert!(stderr(&out).contains("--replace"), "{}", stderr(&out));
    assert_eq!(
        tokens_in_keychain(&id)["access_token"],
        before["access_token"],
        "nothing stored"
    );
    // With --replace the identity on record is dropped, not kept.
    sb.ok(&["login", "who", "--timeout", "60", "--replace"]);
    let list: Value = serde_json::from_str(&sb.ok(&["list", "--json"])).unwrap();
    assert!(list[0]["identity"].is_null(), "{}", list[0]);
}

/// Point 9 (DPoP): the authorization request names the account's key (`dpop_jkt`), and a
/// sign-in answered with a Bearer token although DPoP was asked for is refused, storing nothing.
#[test]
fn dpop_sign_in_sends_dpop_jkt_and_refuses_a_bearer_answer() {
    // A provider with DPoP on: the browser URL carries dpop_jkt.
    let p = provider(json!({"dpop": true}));
    let (sb, urls) = recording_sandbox();
    sb.ok(&[
        "add",
        "d",
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
        "--dpop",
    ]);
    let mut login = sb
        .cmd(&["login", "d", "--timeout", "60"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = wait_for_url(&urls);
    let _ = login.kill();
    let _ = login.wait();
    let jkt = param(&url, "dpop_jkt");
    assert_eq!(jkt.len(), 43, "a base64url SHA-256 thumbprint: {jkt}");

    // A provider without DPoP issues Bearer tokens: the sign-in is refused.
    let plain = provider(json!({}));
    let sb = Sandbox::new(BIN);
    sb.ok(&[
        "add",
        "b",
        "--issuer",
        &plain.issuer,
        "--client-id",
        "latchkey-public",
        "--dpop",
    ]);
    let out = sb.run(&["login", "b", "--timeout", "60"]);
    assert_ne!(code(&out), 0, "{}", stdout(&out));
    assert!(stderr(&out).contains("Bearer"), "{}", stderr(&out));
    let id = sb.account_id("b");
    assert!(Keyring::lookup(&format!("{id}/tokens")).is_none());
}

/// Issue 16.8: what a person types into `latchkey request` that may be a secret — a malformed
/// `-H` (a pasted `Authorization Bearer …`), a header value with control characters, a URL's
/// `user:password@` — reaches neither the terminal nor any file of the config dir
/// (`latchkey.log`), on refusals and on connection errors alike.
#[test]
fn request_input_that_may_be_secret_is_never_echoed_or_logged() {
    let p = provider(json!({}));
    let sb = Sandbox::new(BIN);
    sb.add_and_login(&p, "r");
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cases: Vec<Vec<String>> = vec![
        vec!["-H".into(), "Authorization Bearer SECRET-ONE".into()],
        vec!["-H".into(), "X-Key: SECRET-TWO\u{1}".into()],
        vec!["-H".into(), "Bad Name SECRET-THREE: v".into()],
    ];
    for extra in &cases {
        let mut args = vec!["-v", "request", "r", &p.issuer];
        args.extend(extra.iter().map(String::as_str));
        let out = sb.run(&args);
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        assert!(!stderr(&out).contains("SECRET"), "{}", stderr(&out));
    }
    for url in [
        "http://user:SECRET-FOUR@example.com/".to_string(),
        format!("http://user:SECRET-FIVE@127.0.0.1:{closed}/x"),
    ] {
        let out = sb.run(&["-vv", "request", "r", &url]);
        assert_ne!(code(&out), 0);
        assert!(!stderr(&out).contains("SECRET"), "{}", stderr(&out));
    }
    let files = sb.all_files_text();
    assert!(files.contains("command failed"), "the log was written");
    assert!(!files.contains("SECRET"), "a secret reached a file");
}

/// build.rs links GCC's unwinder statically: the binary loads no `libgcc_s.so.1` (a library
/// whose constructor runs `cpuid` in every `latchkey token`), and keeps its other hardening:
/// position independent (ASLR) and immediate binding (a read-only GOT).
#[test]
fn the_binary_loads_no_libgcc_s_and_stays_pie_with_full_relro() {
    // Both: the front (`latchkey`) and the full CLI it hands over to.
    for bin in [BIN, env!("CARGO_BIN_EXE_latchkey-full")] {
        check_loads_no_libgcc_s_and_is_pie_with_full_relro(bin);
    }
}

fn check_loads_no_libgcc_s_and_is_pie_with_full_relro(bin: &str) {
    let out = std::process::Command::new("readelf")
        .args(["-h", "-d", bin])
        .output()
        .unwrap();
    assert!(out.status.success(), "readelf: {:?}", out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("(NEEDED)") && text.contains("[libc.so.6]"),
        "{text}"
    );
    assert!(!text.contains("libgcc_s"), "{text}");
    assert!(
        text.contains("DYN (Position-Independent Executable file)"),
        "{text}"
    );
    assert!(
        text.contains("BIND_NOW") || text.contains("Flags: NOW"),
        "{text}"
    );
}
