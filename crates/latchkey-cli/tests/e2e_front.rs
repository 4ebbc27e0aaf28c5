//! The `latchkey` front (issue 15): `latchkey token NAME` is answered by the small front
//! binary when the agent hands the token out at once; everything else — other commands, no
//! agent, an agent's error, an approval prompt — is handed over to `latchkey-full`, found beside
//! the front or in `../libexec/latchkey/`, which carries on without asking the agent again.
//! Real agent, real keychain (the test session's), the test provider; the installed layouts are
//! hard links of the built binaries in this test's own directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use latchkey_testkit::{Provider, Sandbox, code, stderr, stdout};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_latchkey");
const FULL: &str = env!("CARGO_BIN_EXE_latchkey-full");

/// A directory of this test with `files` (name → built binary) hard-linked into it.
fn layout(name: &str, files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    std::fs::create_dir_all(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let dir = tempfile::Builder::new()
        .prefix(name)
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    for (to, from) in files {
        let to = dir.path().join(to);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::hard_link(from, &to).unwrap();
    }
    let front = dir.path().join("bin/latchkey");
    (dir, front)
}

fn activity_of(sb: &Sandbox, account: &str) -> Vec<Value> {
    let all: Vec<Value> = serde_json::from_str(&sb.ok(&["activity", "--json"])).unwrap();
    all.into_iter()
        .filter(|r| r["account"] == account)
        .collect()
}

fn ok(out: &Output) -> String {
    assert_eq!(code(out), 0, "{}", stderr(out));
    stdout(out)
}

#[test]
fn the_front_answers_a_token_alone_and_hands_everything_else_to_the_full_cli() {
    let p = Provider::start_merged(json!({"accessTokenTtl": 600}), json!({}));
    let sb = Sandbox::new(BIN);
    sb.add_and_login(&p, "work");
    let _agent = sb.start_agent();
    let token = sb.ok(&["token", "work"]);
    assert!(token.trim().len() > 10, "{token}");

    // The front alone (no full CLI anywhere) answers `token NAME` through the agent…
    let (_lone_dir, lone) = layout("lone", &[("bin/latchkey", BIN)]);
    let out = sb.cmd_with(&lone, &["token", "work"]).output().unwrap();
    assert_eq!(ok(&out), token, "the front printed the agent's token");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    // …and nothing else: every other command line is the full CLI's, and it says where it
    // looked.
    for args in [&["--version"][..], &["token", "work", "--json"], &["list"]] {
        let out = sb.cmd_with(&lone, args).output().unwrap();
        assert_eq!(code(&out), 1, "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("latchkey-full is neither beside")
                && stderr(&out).contains("reinstall"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(stdout(&out).is_empty());
    }
    // Without the agent the front does not answer either.
    let out = sb
        .cmd_with(&lone, &["token", "work"])
        .env("LATCHKEY_NO_AGENT", "1")
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", stderr(&out));

    // Installed: /usr/bin/latchkey and /usr/libexec/latchkey/latchkey-full.
    let (prefix, front) = layout(
        "prefix",
        &[
            ("bin/latchkey", BIN),
            ("libexec/latchkey/latchkey-full", FULL),
        ],
    );
    let out = sb.cmd_with(&front, &["--version"]).output().unwrap();
    assert!(ok(&out).starts_with("latchkey "), "{}", stdout(&out));
    assert_eq!(
        ok(&sb.cmd_with(&front, &["token", "work"]).output().unwrap()),
        token
    );
    let out = sb
        .cmd_with(&front, &["token", "work"])
        .env("LATCHKEY_NO_AGENT", "1")
        .output()
        .unwrap();
    assert_eq!(ok(&out), token, "the full CLI's direct path");

    // An error of the agent: handed over and worded once by the full CLI, with its exit code;
    // the agent was asked once (one record).
    let before = activity_of(&sb, "nobody").len();
    let out = sb.cmd_with(&front, &["token", "nobody"]).output().unwrap();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(
        stderr(&out).matches("no account named `nobody`").count(),
        1,
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
    assert_eq!(activity_of(&sb, "nobody").len(), before + 1, "asked once");

    // The full CLI names the front, not itself, in what it writes for tools.
    let home = tempfile::tempdir().unwrap();
    let out = sb
        .cmd_with(
            &front,
            &[
                "setup",
                "git",
                "work",
                "--host",
                "https://git.example.test",
                "--dry-run",
            ],
        )
        .env("HOME", home.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    let plan = ok(&out);
    let front_shown = front.to_string_lossy().into_owned();
    assert!(plan.contains(&front_shown), "{plan}");
    assert!(!plan.contains("latchkey-full"), "{plan}");
    drop(prefix);
}

#[test]
fn an_approval_prompt_raised_for_the_front_is_answered_to_the_full_cli() {
    let p = Provider::start_merged(json!({"accessTokenTtl": 600}), json!({}));
    let sb = Sandbox::new(BIN);
    sb.add_and_login(&p, "asks");
    sb.ok(&["edit", "asks", "--approval", "every-use"]);
    let _agent = sb.start_agent();
    let before = activity_of(&sb, "asks").len();

    let child = sb
        .cmd(&["token", "asks"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    let pending = loop {
        let list: Vec<Value> = serde_json::from_str(&sb.ok(&["pending", "--json"])).unwrap();
        if let Some(p) = list.into_iter().next() {
            break p;
        }
        assert!(Instant::now() < deadline, "no prompt");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(pending["ask"]["tool"], "token");
    // The front hands over once the prompt is raised: the same pid becomes the full CLI,
    // waiting on the same connection.
    let exe = || std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    while exe().file_name().unwrap() != "latchkey-full" {
        assert!(Instant::now() < deadline, "still {}", exe().display());
        std::thread::sleep(Duration::from_millis(20));
    }
    sb.ok(&["approve", pending["id"].as_str().unwrap()]);
    let out = child.wait_with_output().unwrap();
    let token = ok(&out);
    assert!(token.trim().len() > 10, "{token}");
    assert_eq!(
        stderr(&out).matches("waiting for approval").count(),
        1,
        "{}",
        stderr(&out)
    );
    let records = activity_of(&sb, "asks");
    assert_eq!(records.len(), before + 1, "one hand-out: {records:?}");
    let last = records.last().unwrap();
    assert_eq!(last["outcome"], "issued", "{last}");
    assert!(sb.ok(&["pending", "--json"]).trim() == "[]");
}

#[test]
fn the_full_cli_ignores_a_hand_over_for_another_command_line() {
    // A stray hand-over in the environment (the full CLI run by hand) changes nothing but
    // `token NAME`, and a fallback there only means "do not ask the agent".
    let sb = Sandbox::new(BIN);
    let out = sb
        .cmd_with(Path::new(FULL), &["list"])
        .env("LATCHKEY_FRONT_HANDOFF", r#"{"fallback":"test"}"#)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = sb
        .cmd_with(Path::new(FULL), &["token", "nobody"])
        .env("LATCHKEY_FRONT_HANDOFF", r#"{"answered":"{\"v\":1}"}"#)
        .output()
        .unwrap();
    // Standard input is not the agent's connection: the direct path answers.
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no account named `nobody`"),
        "{}",
        stderr(&out)
    );
}
