//! `latchkey login` where no browser can be opened (SSH session, no display,
//! `LATCHKEY_BROWSER=none`), end to end against the real test provider and the real Secret
//! Service: (a) the device flow chosen by `--auto`, approved on "another device"
//! (`approve-device.mjs`); (b) a loopback sign-in that prints the exact `ssh -L` command and
//! keeps listening until the (forwarded) callback arrives; (c) the final redirect URL pasted on
//! standard input, for a scheme and a loopback account, with a wrong-`state` paste refused
//! first (nothing sent, nothing stored).
//!
//! A tripwire `xdg-open` first on `PATH` records any attempt to open a browser: there must be
//! none.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

use latchkey_testkit::{
    Interactive, Keyring, Provider, Sandbox, browse, code, is_url, repo_root,
    require_secret_service,
};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_latchkey");

fn provider() -> Provider {
    require_secret_service();
    Provider::start(json!({"accessTokenTtl": 300, "deviceInterval": 1}))
}

/// A sandbox with no browser command and a tripwire `xdg-open` on `PATH`; `env` is added.
fn headless_sandbox(env: &[(&str, &str)]) -> (Sandbox, PathBuf) {
    let mut sb = Sandbox::new(BIN);
    sb.env.clear();
    let bin = sb.config_dir().join("tripwire-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let marker = sb.config_dir().join("browser-opened");
    let script = bin.join("xdg-open");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\n", marker.display()),
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    sb.env.push(("PATH".into(), path));
    for (k, v) in env {
        sb.env.push((k.to_string(), v.to_string()));
    }
    (sb, marker)
}

fn add(sb: &Sandbox, p: &Provider, name: &str, redirect: &str) -> String {
    sb.ok(&[
        "add",
        name,
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
        "--redirect",
        redirect,
    ]);
    sb.account_id(name)
}

/// A running `latchkey ARGS` with only the environment the test sets: not the SSH session,
/// browser or display of whoever runs the suite (unless the sandbox sets them), minus
/// `remove_env`.
fn start_login(sb: &Sandbox, args: &[&str], remove_env: &[&str]) -> Interactive {
    let mut cmd = sb.cmd(args);
    for k in [
        "SSH_CONNECTION",
        "SSH_TTY",
        "LATCHKEY_BROWSER",
        "WAYLAND_DISPLAY",
    ] {
        if !sb.env.iter().any(|(n, _)| n == k) {
            cmd.env_remove(k);
        }
    }
    for k in remove_env {
        cmd.env_remove(k);
    }
    Interactive::spawn(cmd)
}

fn tokens(id: &str) -> Option<Value> {
    Keyring::tokens(id)
}

fn with_state(url: &str, state: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                state.to_string()
            } else {
                v.to_string()
            };
            (k.to_string(), v)
        })
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u.to_string()
}

#[test]
fn no_display_with_auto_signs_in_with_the_device_flow() {
    let p = provider();
    let (sb, marker) = headless_sandbox(&[]);
    let id = add(&sb, &p, "box", "loopback");
    // No DISPLAY, no WAYLAND_DISPLAY, no LATCHKEY_BROWSER: a server console.
    let mut login = start_login(
        &sb,
        &["login", "box", "--auto", "--timeout", "60"],
        &["DISPLAY", "WAYLAND_DISPLAY"],
    );
    login.line("the reason", |l| l.contains("No display"));
    let complete = login.line("the verification URL", |l| {
        is_url(l) && l.contains("user_code=")
    });
    assert_eq!(
        p.count("device_authorization.success", None),
        1,
        "--auto chose the device flow"
    );
    let st = Command::new("node")
        .arg(repo_root().join("tests/provider/approve-device.mjs"))
        .arg(&complete)
        .status()
        .unwrap();
    assert!(st.success(), "approving on the second device");
    let (rc, out, err) = login.finish();
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("alice@example.test"), "{out}");
    assert!(tokens(&id).unwrap()["access_token"].is_string());
    assert_eq!(p.count("grant.success", Some("authorization_code")), 0);
    assert!(!marker.exists(), "a browser was opened");
}

#[test]
fn over_ssh_a_loopback_login_prints_the_ssh_command_and_keeps_listening() {
    let p = provider();
    let (sb, marker) = headless_sandbox(&[
        ("DISPLAY", ":99"),
        ("SSH_CONNECTION", "192.0.2.7 51000 198.51.100.4 2222"),
        ("USER", "ada"),
    ]);
    let id = add(&sb, &p, "ssh", "loopback");
    let mut login = start_login(&sb, &["login", "ssh", "--timeout", "60"], &[]);
    login.line("the reason", |l| l.contains("remote (SSH) session"));
    login.line("the device-flow offer", |l| {
        l.contains("login ssh --device")
    });
    let auth = login.line("the URL", is_url);
    let redirect = url::Url::parse(&auth)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .unwrap()
        .1
        .to_string();
    let port = url::Url::parse(&redirect).unwrap().port().unwrap();
    let ssh = login.line("the ssh command", |l| l.starts_with("ssh "));
    assert_eq!(
        ssh,
        format!("ssh -L {port}:127.0.0.1:{port} -p 2222 ada@198.51.100.4")
    );
    // Through the tunnel, the browser's redirect reaches 127.0.0.1:PORT here.
    browse(&auth, false);
    let (rc, out, err) = login.finish();
    assert_eq!(rc, 0, "{err}");
    assert!(
        out.contains("Signed in to `ssh` as alice@example.test"),
        "{out}"
    );
    assert!(tokens(&id).unwrap()["refresh_token"].is_string());
    assert!(!marker.exists(), "a browser was opened");
}

#[test]
fn a_pasted_redirect_url_completes_the_sign_in_and_a_wrong_state_is_refused() {
    let p = provider();
    let (sb, marker) = headless_sandbox(&[("DISPLAY", ":99"), ("LATCHKEY_BROWSER", "none")]);
    let id = add(&sb, &p, "paste", "scheme");
    let before = (sb.accounts_toml(), Keyring::items(&id));
    let mut login = start_login(&sb, &["login", "paste", "--timeout", "60"], &[]);
    login.line("the reason", |l| l.contains("LATCHKEY_BROWSER=none"));
    let auth = login.line("the URL", is_url);
    // The person signs in elsewhere and copies the address the provider redirected to.
    let callback = browse(&auth, false);
    assert!(
        callback.starts_with("dev.latchkey.app:/callback/paste?"),
        "{callback}"
    );
    assert!(callback.contains("code="));

    // A URL with another state: refused before anything is sent; nothing stored.
    login.paste("not a url");
    login.line("the refusal of garbage", |l| l.contains("not a URL"));
    login.paste(&with_state(&callback, "forged-state"));
    login.line("the refusal", |l| {
        l.contains("refused") && l.contains("does not belong to this sign-in")
    });
    assert!(tokens(&id).is_none(), "nothing was stored");
    assert_eq!(p.count("grant.success", None), 0, "no code was redeemed");
    assert_eq!(
        p.count("token.request", None),
        0,
        "nothing was sent to the token endpoint"
    );

    // The real one completes it, through the same checks as a callback.
    login.paste(&callback);
    let (rc, out, err) = login.finish();
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("alice@example.test"), "{out}");
    assert!(tokens(&id).unwrap()["access_token"].is_string());
    assert_eq!(p.count("grant.success", Some("authorization_code")), 1);
    assert!(!marker.exists(), "a browser was opened");

    // Pasting it again later is a replay: refused, and nothing changes.
    let after = (sb.accounts_toml(), Keyring::items(&id));
    assert_ne!(after, before);
    let out = sb.run(&["complete", &callback]);
    assert_eq!(code(&out), 1);
    assert_eq!((sb.accounts_toml(), Keyring::items(&id)), after);
}

#[test]
fn a_pasted_loopback_url_completes_while_the_listener_waits() {
    let p = provider();
    let (sb, marker) = headless_sandbox(&[("DISPLAY", ":99"), ("LATCHKEY_BROWSER", "none")]);
    let id = add(&sb, &p, "lb", "loopback");
    let mut login = start_login(&sb, &["login", "lb", "--timeout", "60"], &[]);
    let auth = login.line("the URL", is_url);
    login.line("the ssh command", |l| l.starts_with("ssh -L "));
    // The browser's redirect to 127.0.0.1 went nowhere (no tunnel); the address bar has it.
    let callback = browse(&auth, true);
    assert!(callback.starts_with("http://127.0.0.1:"), "{callback}");
    login.paste(&format!("  {callback}  "));
    let (rc, out, err) = login.finish();
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("alice@example.test"), "{out}");
    assert!(tokens(&id).unwrap()["access_token"].is_string());
    assert!(!sb.accounts_toml().contains("[[pending]]"));
    assert!(!marker.exists(), "a browser was opened");
}

#[test]
fn a_pasted_url_with_a_wrong_state_then_end_of_input_times_out_clean() {
    let p = provider();
    let (sb, _marker) = headless_sandbox(&[("DISPLAY", ":99"), ("LATCHKEY_BROWSER", "none")]);
    let id = add(&sb, &p, "w", "scheme");
    let before = (sb.accounts_toml(), Keyring::items(&id));
    let mut login = start_login(&sb, &["login", "w", "--timeout", "3"], &[]);
    let auth = login.line("the URL", is_url);
    let callback = browse(&auth, false);
    login.paste(&with_state(&callback, "wrong"));
    login.line("the refusal", |l| {
        l.contains("does not belong to this sign-in")
    });
    let (rc, _out, err) = login.finish();
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("timed out"), "{err}");
    assert_eq!(
        (sb.accounts_toml(), Keyring::items(&id)),
        before,
        "no tokens, no pending sign-in left"
    );
    assert_eq!(p.count("grant.success", None), 0);
}
