//! Parsing tests for the command line, apart from running it (the way gh tests its commands):
//! clap's own consistency check, and for each subcommand what a typical command line parses to
//! and which mistakes are refused before anything runs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clap::{CommandFactory, Parser};
use latchkey_core::{ClientAuthMethod, GrantFlow, RedirectMode};

use crate::cli::{Cli, Command};

fn parse(args: &[&str]) -> Command {
    let mut argv = vec!["latchkey"];
    argv.extend_from_slice(args);
    match Cli::try_parse_from(argv) {
        Ok(cli) => cli.command,
        Err(e) => panic!("{args:?} did not parse: {e}"),
    }
}

fn refused(args: &[&str]) -> clap::error::ErrorKind {
    let mut argv = vec!["latchkey"];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv)
        .map(|_| ())
        .expect_err("must be refused")
        .kind()
}

#[test]
fn the_command_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn add() {
    let Command::Add(a) = parse(&[
        "add",
        "work",
        "--provider",
        "manual",
        "--auth-url",
        "https://a.example/auth",
        "--token-url",
        "https://a.example/token",
        "--device-url",
        "https://a.example/device",
        "--client-id",
        "cli",
        "--scope",
        "read",
        "--scope",
        "write",
        "--redirect",
        "scheme",
        "--port",
        "8765",
        "--flow",
        "device",
        "--auth",
        "post",
        "--dpop",
        "--keep-signed-in",
        "--label",
        "Work",
        "--client-secret-stdin",
    ]) else {
        panic!("not add")
    };
    assert_eq!(a.name, "work");
    assert_eq!(a.provider.provider.as_deref(), Some("manual"));
    assert_eq!(
        a.provider.device_url.as_ref().map(|u| u.as_str()),
        Some("https://a.example/device")
    );
    assert_eq!(a.client_id, "cli");
    assert_eq!(a.scope, vec!["read", "write"]);
    assert_eq!(a.redirect, Some(RedirectMode::Scheme));
    assert_eq!(a.port, Some(8765));
    assert_eq!(a.flow, Some(GrantFlow::Device));
    assert_eq!(a.auth, Some(ClientAuthMethod::Post));
    assert!(a.dpop && a.keep_signed_in && a.client_secret_stdin);
    assert_eq!(a.label.as_deref(), Some("Work"));
    // The client id is required; URLs and enums are checked while parsing.
    assert_eq!(
        refused(&["add", "work", "--issuer", "https://a.example"]),
        clap::error::ErrorKind::MissingRequiredArgument
    );
    assert_eq!(
        refused(&["add", "w", "--client-id", "c", "--issuer", "not a url"]),
        clap::error::ErrorKind::ValueValidation
    );
    assert_eq!(
        refused(&["add", "w", "--client-id", "c", "--flow", "implicit"]),
        clap::error::ErrorKind::ValueValidation
    );
}

#[test]
fn edit() {
    let Command::Edit(e) = parse(&[
        "edit",
        "work",
        "--client-id",
        "new",
        "--ephemeral-port",
        "--keep-signed-in",
        "false",
        "--dpop",
        "true",
        "--remove-label",
        "--redirect",
        "loopback",
    ]) else {
        panic!("not edit")
    };
    assert_eq!(e.name, "work");
    assert_eq!(e.client_id.as_deref(), Some("new"));
    assert!(e.ephemeral_port && e.remove_label);
    assert_eq!(e.keep_signed_in, Some(false));
    assert_eq!(e.dpop, Some(true));
    assert_eq!(e.redirect, Some(RedirectMode::Loopback));
    for conflict in [
        &["edit", "w", "--port", "1", "--ephemeral-port"][..],
        &["edit", "w", "--label", "x", "--remove-label"],
        &[
            "edit",
            "w",
            "--client-secret-stdin",
            "--remove-client-secret",
        ],
    ] {
        assert_eq!(
            refused(conflict),
            clap::error::ErrorKind::ArgumentConflict,
            "{conflict:?}"
        );
    }
}

#[test]
fn login_and_complete() {
    let Command::Login(l) = parse(&["login", "work"]) else {
        panic!("not login")
    };
    assert_eq!(
        (l.timeout, l.device, l.replace, l.no_browser),
        (300, false, false, false)
    );
    let Command::Login(l) = parse(&[
        "login",
        "work",
        "--device",
        "--replace",
        "--no-browser",
        "--timeout",
        "5",
        "--json",
    ]) else {
        panic!("not login")
    };
    assert!(l.device && l.replace && l.no_browser && l.json);
    assert_eq!(l.timeout, 5);
    assert_eq!(
        refused(&["login", "work", "--timeout", "-1"]),
        clap::error::ErrorKind::UnknownArgument
    );
    let Command::Complete(c) = parse(&["complete", "dev.latchkey.app:/callback?code=a&state=b"])
    else {
        panic!("not complete")
    };
    assert!(c.url.starts_with("dev.latchkey.app:/callback"));
    assert_eq!(
        refused(&["complete"]),
        clap::error::ErrorKind::MissingRequiredArgument
    );
}

#[test]
fn token_refresh_and_request() {
    let Command::Token(t) = parse(&["token", "work", "--min-ttl", "600", "--json"]) else {
        panic!("not token")
    };
    assert_eq!(
        (t.name.as_str(), t.min_ttl, t.json),
        ("work", Some(600), true)
    );
    assert_eq!(
        refused(&["token", "work", "--min-ttl", "soon"]),
        clap::error::ErrorKind::ValueValidation
    );
    let Command::Refresh(r) = parse(&["refresh", "work", "--force"]) else {
        panic!("not refresh")
    };
    assert!(r.force && !r.json);
    let Command::Request(r) = parse(&[
        "request",
        "work",
        "https://api.example/v1/me",
        "-X",
        "POST",
        "-H",
        "Accept: text/plain",
        "-H",
        "X-A: b",
        "-d",
        "@-",
        "-i",
    ]) else {
        panic!("not request")
    };
    assert_eq!(r.url.as_str(), "https://api.example/v1/me");
    assert_eq!(r.method.as_deref(), Some("POST"));
    assert_eq!(r.headers, vec!["Accept: text/plain", "X-A: b"]);
    assert_eq!(r.data.as_deref(), Some("@-"));
    assert!(r.include);
    assert_eq!(
        refused(&["request", "work"]),
        clap::error::ErrorKind::MissingRequiredArgument
    );
}

#[test]
fn one_account_commands_list_and_status() {
    for (cmd, json) in [("introspect", true), ("logout", false), ("remove", true)] {
        let mut args = vec![cmd, "work"];
        if json {
            args.push("--json");
        }
        let (Command::Introspect(n) | Command::Logout(n) | Command::Remove(n)) = parse(&args)
        else {
            panic!("{cmd} parsed to another command")
        };
        assert_eq!((n.name.as_str(), n.json), ("work", json), "{cmd}");
        assert_eq!(
            refused(&[cmd]),
            clap::error::ErrorKind::MissingRequiredArgument
        );
    }
    assert!(matches!(parse(&["list", "--json"]), Command::List(j) if j.json));
    let Command::Status(s) = parse(&["status"]) else {
        panic!("not status")
    };
    assert_eq!(s.name, None);
    let Command::Status(s) = parse(&["status", "work", "--json"]) else {
        panic!("not status")
    };
    assert_eq!(s.name.as_deref(), Some("work"));
    // Global flags go anywhere; unknown commands are refused.
    let cli = Cli::try_parse_from(["latchkey", "list", "-vv", "--json"]).unwrap();
    assert_eq!(cli.verbose, 2);
    assert!(cli.json);
    assert_eq!(
        refused(&["frobnicate"]),
        clap::error::ErrorKind::InvalidSubcommand
    );
}

#[test]
fn agent() {
    let Command::Agent(a) = parse(&["agent"]) else {
        panic!("agent")
    };
    assert!(a.socket.is_none() && !a.install && !a.uninstall);
    let Command::Agent(a) = parse(&["agent", "--socket", "/run/x.sock"]) else {
        panic!("agent --socket")
    };
    assert_eq!(
        a.socket.as_deref(),
        Some(std::path::Path::new("/run/x.sock"))
    );
    let Command::Agent(a) = parse(&["agent", "--install"]) else {
        panic!("agent --install")
    };
    assert!(a.install);
    assert_eq!(
        refused(&["agent", "--install", "--uninstall"]),
        clap::error::ErrorKind::ArgumentConflict
    );
    assert_eq!(
        refused(&["agent", "--socket", "/x", "--install"]),
        clap::error::ErrorKind::ArgumentConflict
    );
}
