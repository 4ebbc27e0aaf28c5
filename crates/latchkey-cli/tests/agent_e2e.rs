//! End-to-end tests of `latchkey agent` (issue 8): the real agent process, the real
//! Secret Service (gnome-keyring of the test session), the test provider, and the `latchkey`
//! CLI as its client. Faults are real too: the keyring daemon is stopped with SIGSTOP, the
//! login collection of a private keyring is locked over D-Bus, the
//! agent is killed with SIGKILL, another uid connects through `setpriv`, and raw sockets send
//! garbage.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use latchkey_testkit::{Agent, Keyring, Provider, Sandbox, code, stderr, stdout};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_latchkey");

/// The keyring daemon is shared by the tests of this binary: the test that stops it takes
/// this for writing, the others for reading.
static KEYRING_DAEMON: RwLock<()> = RwLock::new(());

fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    KEYRING_DAEMON.read().unwrap_or_else(|p| p.into_inner())
}

fn provider(extra: Value) -> Provider {
    Provider::start_merged(json!({"accessTokenTtl": 60}), extra)
}

fn tokens_in_keychain(id: &str) -> Value {
    Keyring::tokens(id).expect("tokens are in the keychain")
}

fn status_json(sb: &Sandbox, name: &str) -> Value {
    let out = sb.run(&["status", name, "--json"]);
    assert!(
        code(&out) == 0 || code(&out) == 3,
        "status failed: {}",
        stderr(&out)
    );
    serde_json::from_str::<Value>(&stdout(&out)).unwrap()[0].clone()
}

/// One request frame on a raw connection; the answer as JSON (`None`: closed without one).
fn raw_call(stream: &mut UnixStream, body: &[u8]) -> Option<Value> {
    // A write may fail when the agent answered (busy, refused) and closed before reading.
    let _ = stream
        .write_all(&(body.len() as u32).to_be_bytes())
        .and_then(|()| stream.write_all(body));
    read_answer(stream)
}

fn read_answer(stream: &mut UnixStream) -> Option<Value> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut buf).ok()?;
    serde_json::from_slice(&buf).ok()
}

fn connect(path: &Path) -> UnixStream {
    let s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// The pid of the process that owns `org.freedesktop.secrets` on the session bus.
fn keyring_daemon_pid() -> i32 {
    let out = Command::new("dbus-send")
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.GetConnectionUnixProcessID",
            "string:org.freedesktop.secrets",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.split_whitespace()
        .last()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no Secret Service owner: {text} {}", stderr(&out)))
}

fn signal(pid: i32, sig: &str) {
    let st = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success(), "kill -{sig} {pid}");
}

/// Resumes the keyring daemon even if the test panics.
struct Resume(i32);
impl Drop for Resume {
    fn drop(&mut self) {
        signal(self.0, "CONT");
    }
}

#[test]
fn the_agent_serves_tokens_from_memory_while_the_keyring_daemon_is_stopped() {
    let _exclusive = KEYRING_DAEMON.write().unwrap_or_else(|p| p.into_inner());
    let p = provider(json!({"accessTokenTtl": 600}));
    let sb = Sandbox::new(BIN);
    let id = sb.add_and_login(&p, "mem");
    let stored = tokens_in_keychain(&id)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let agent = sb.start_agent();

    // The agent answers (status says so, with its pid), and holds the token after one read.
    let st = status_json(&sb, "mem");
    assert_eq!(st["agent"]["pid"], agent.pid(), "{st}");
    assert_eq!(st["agent"]["keychain"], "available", "{st}");
    assert_eq!(sb.ok(&["token", "mem"]).trim(), stored);

    // Stop the Secret Service: every keychain call now hangs until its deadline.
    let daemon = keyring_daemon_pid();
    signal(daemon, "STOP");
    let resume = Resume(daemon);

    // Served from the agent's memory: the same token, no keychain, no refresh.
    let out = sb.run(&["token", "mem"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), stored);
    let out = sb.run(&["token", "mem", "--json"]);
    let tj: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(tj["access_token"], stored.as_str());
    // The integrations (git, kubectl, Docker, exec) take the same agent-first path: `exec`
    // hands the command the token from the agent's memory.
    let print_token = [
        "exec",
        "mem",
        "--",
        "sh",
        "-c",
        "printf %s \"$LATCHKEY_ACCESS_TOKEN\"",
    ];
    let out = sb.run(&print_token);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), stored);
    let mut direct = sb.cmd(&print_token);
    direct.env("LATCHKEY_NO_AGENT", "1");
    let out = direct.output().unwrap();
    assert_eq!(
        code(&out),
        5,
        "without the agent there is no keychain to read: {}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "", "nothing a tool could take for a token");

    // `status` through the agent reports that the keychain does not answer.
    let st = status_json(&sb, "mem");
    assert_eq!(st["agent"]["keychain"], "timed_out", "{st}");
    let human = sb.ok(&["status", "mem"]);
    assert!(
        human.contains(&format!(
            "Answered by the Latchkey agent (pid {})",
            agent.pid()
        )) && human.contains("keychain: not answering"),
        "{human}"
    );

    // Without the agent, the same command has no keychain to read: exit 5.
    let mut direct = sb.cmd(&["token", "mem"]);
    direct.env("LATCHKEY_NO_AGENT", "1");
    let out = direct.output().unwrap();
    assert_eq!(code(&out), 5, "{}", stderr(&out));

    drop(resume);
    let st = status_json(&sb, "mem");
    assert_eq!(st["agent"]["keychain"], "available", "{st}");
    assert_eq!(p.count("grant.success", Some("refresh_token")), 0);
    assert!(
        !agent.log().contains(&stored),
        "no token in the agent's log"
    );
}

/// Starts `n` `latchkey ARGS` processes behind a gate (each waits on stdin), each with its
/// extra environment, and opens the gate for all at once.
fn run_gated_env(sb: &Sandbox, envs: &[Vec<(&str, &str)>], args: &[&str]) -> Vec<Output> {
    let mut children: Vec<Child> = envs
        .iter()
        .map(|extra| {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg("read _go && exec \"$0\" \"$@\"")
                .arg(BIN)
                .args(args)
                .env("LATCHKEY_CONFIG_DIR", sb.config_dir())
                .env_remove("LATCHKEY_LOG")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            for (k, v) in &sb.env {
                c.env(k, v);
            }
            for (k, v) in extra {
                c.env(k, v);
            }
            c.spawn().unwrap()
        })
        .collect();
    for c in &mut children {
        c.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    }
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

#[test]
fn twenty_callers_and_the_agent_on_an_expired_token_refresh_once() {
    let _shared = shared();
    let p = provider(json!({"accessTokenTtl": 3}));
    let sb = Sandbox::new(BIN);
    let id = sb.add_and_login(&p, "conc");
    let agent = sb.start_agent();
    // The agent holds the (soon expired) token in memory.
    sb.ok(&["token", "conc", "--min-ttl", "0"]);
    std::thread::sleep(Duration::from_secs(4));
    // 14 callers through the agent, 6 on the direct path beside it (an older CLI, a script
    // with LATCHKEY_NO_AGENT): one refresh in all, through the cross-process lock.
    let mut envs: Vec<Vec<(&str, &str)>> = vec![vec![]; 14];
    envs.extend(vec![vec![("LATCHKEY_NO_AGENT", "1")]; 6]);
    let outs = run_gated_env(&sb, &envs, &["token", "conc", "--min-ttl", "0"]);
    for o in &outs {
        assert_eq!(code(o), 0, "{}", stderr(o));
    }
    let tokens: std::collections::HashSet<String> =
        outs.iter().map(|o| stdout(o).trim().to_string()).collect();
    assert_eq!(tokens.len(), 1, "every caller got the same refreshed token");
    assert_eq!(
        p.count("grant.success", Some("refresh_token")),
        1,
        "exactly one refresh"
    );
    assert!(p.grant_errors().is_empty(), "{:?}", p.grant_errors());
    assert_eq!(
        tokens_in_keychain(&id)["access_token"],
        tokens.iter().next().unwrap().as_str(),
        "the rotated set is in the keychain"
    );
    assert!(
        agent.count(|l| l.contains("token request")) >= 14,
        "the agent served the agent callers:\n{}",
        agent.log()
    );
}

#[test]
fn sigkill_of_the_agent_during_refreshes_callers_fall_back_and_nothing_is_lost() {
    let _shared = shared();
    let p = provider(json!({"accessTokenTtl": 600}));
    let sb = Sandbox::new(BIN);
    let id = sb.add_and_login(&p, "kill");
    let mut agent = sb.start_agent();
    sb.ok(&["refresh", "kill", "--force"]);
    assert_eq!(p.count("grant.success", Some("refresh_token")), 1);

    // Hold the account's cross-process lock (as another process refreshing would), so the
    // agent's forced refreshes wait in the middle of the refresh protocol; kill it there.
    let lock_path = sb.config_dir().join("locks").join(format!("{id}.lock"));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap();
    lock.lock().unwrap();
    let before = agent.count(|l| l.contains("token request"));
    let callers: Vec<Child> = (0..4)
        .map(|_| {
            sb.cmd(&["-v", "refresh", "kill", "--force", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for _ in 0..600 {
        if agent.count(|l| l.contains("token request")) >= before + 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        agent.count(|l| l.contains("token request")),
        before + 4,
        "{}",
        agent.log()
    );
    agent.kill9();
    lock.unlock().unwrap();
    for c in callers {
        let out = c.wait_with_output().unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert!(
            stderr(&out).contains("agent not used"),
            "the caller fell back: {}",
            stderr(&out)
        );
        let j: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(j["refreshed"], true);
    }
    // Four forced refreshes on the direct path, one at a time; nothing replayed.
    assert_eq!(p.count("grant.success", Some("refresh_token")), 5);
    assert!(p.grant_errors().is_empty(), "{:?}", p.grant_errors());
    let stored = tokens_in_keychain(&id);
    assert_eq!(
        p.introspect(stored["refresh_token"].as_str().unwrap())["active"],
        true,
        "the stored refresh token is the live one"
    );

    // The dead agent's socket is stale: a new agent replaces it and serves.
    assert!(sb.agent_socket().exists());
    let agent2 = sb.start_agent();
    assert_eq!(status_json(&sb, "kill")["agent"]["pid"], agent2.pid());
    assert_eq!(
        sb.ok(&["token", "kill"]).trim(),
        stored["access_token"].as_str().unwrap()
    );
    // Two agents never serve at once.
    let out = sb
        .cmd(&["agent", "--socket", sb.agent_socket().to_str().unwrap()])
        .output()
        .unwrap();
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains(&format!("another Latchkey agent (pid {})", agent2.pid())),
        "{}",
        stderr(&out)
    );
    assert_eq!(status_json(&sb, "kill")["agent"]["pid"], agent2.pid());
}

/// A fake agent run as uid 65534 (`setpriv`) on `socket`: it records every byte a client sends
/// into `<socket>.received` and answers any request with the token `EVIL-TOKEN`.
struct FakeAgent(Child);

impl FakeAgent {
    fn start(socket: &Path) -> FakeAgent {
        let script = r#"
const net = require('net'), fs = require('fs');
const [sock, log] = process.argv.slice(1);
const answer = Buffer.from(JSON.stringify({v: 1, pid: 1, result: 'token',
  access_token: 'EVIL-TOKEN', token_type: 'Bearer', scope: null, degraded: null, refreshed: false}));
const frame = Buffer.concat([Buffer.alloc(4), answer]); frame.writeUInt32BE(answer.length, 0);
const srv = net.createServer(c => {
  c.on('data', d => { fs.appendFileSync(log, d); c.write(frame); });
  c.on('error', () => {});
});
srv.listen(sock, () => { fs.chmodSync(sock, 0o666); console.log('listening'); });
"#;
        let received = format!("{}.received", socket.display());
        let mut child = Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "node",
                "-e",
                script,
            ])
            .arg(socket)
            .arg(&received)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("setpriv and node run the other uid's fake agent (the tests run as root)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "listening",
            "the fake agent of uid 65534 listens"
        );
        let meta = std::fs::metadata(socket).unwrap();
        assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 65534);
        FakeAgent(child)
    }

    /// What clients sent it.
    fn received(socket: &Path) -> Vec<u8> {
        std::fs::read(format!("{}.received", socket.display())).unwrap_or_default()
    }
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Issue 16, point 1: another local user who serves the socket path first gets nothing — no
/// `token` or `request` is sent to it, its token is never used — whether the path is named by
/// `LATCHKEY_AGENT_SOCK` or is the default without `XDG_RUNTIME_DIR` (which was a shared
/// `/tmp/latchkey-<uid>` that user could create); the real agent then starts in a private
/// directory of the user's own.
#[test]
fn a_socket_served_by_another_uid_gets_nothing_and_its_token_is_never_used() {
    let _shared = shared();
    let p = provider(json!({"accessTokenTtl": 600}));
    let sb = Sandbox::new(BIN);
    let id = sb.add_and_login(&p, "victim");
    let own = tokens_in_keychain(&id)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let shared_tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(shared_tmp.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();

    // 1. An explicit socket path served by the other uid.
    let socket = shared_tmp.path().join("agent.sock");
    let fake = FakeAgent::start(&socket);
    let mut cmd = sb.cmd(&["-v", "token", "victim"]);
    cmd.env("LATCHKEY_AGENT_SOCK", &socket);
    let out = cmd.output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        own,
        "the direct path's token, not the fake's"
    );
    assert!(
        stderr(&out).contains("is served by uid 65534, not by you"),
        "{}",
        stderr(&out)
    );
    let userinfo = format!("{}/me", p.issuer);
    let mut cmd = sb.cmd(&[
        "request",
        "victim",
        &userinfo,
        "-H",
        "X-Secret: body-of-victim",
    ]);
    cmd.env("LATCHKEY_AGENT_SOCK", &socket);
    let out = cmd.output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        FakeAgent::received(&socket).is_empty(),
        "the other uid received {:?}",
        String::from_utf8_lossy(&FakeAgent::received(&socket))
    );
    drop(fake);

    // 2. No XDG_RUNTIME_DIR: the old default was `$TMPDIR/latchkey-<uid>/agent.sock`.
    let planted_dir = shared_tmp.path().join("latchkey-0");
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "mkdir",
            "-m",
            "0777",
        ])
        .arg(&planted_dir)
        .status()
        .unwrap();
    let planted = planted_dir.join("agent.sock");
    let _fake = FakeAgent::start(&planted);
    let cache = tempfile::tempdir().unwrap();
    let no_runtime_dir = |args: &[&str]| {
        let mut c = sb.cmd(args);
        c.env_remove("LATCHKEY_AGENT_SOCK")
            .env_remove("XDG_RUNTIME_DIR")
            .env("TMPDIR", shared_tmp.path())
            .env("XDG_CACHE_HOME", cache.path());
        c
    };
    let out = no_runtime_dir(&["-v", "token", "victim"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), own);
    assert!(
        FakeAgent::received(&planted).is_empty(),
        "the planted socket received a request"
    );
    // The real agent starts, in the user's own cache dir, and serves.
    let mut agent_cmd = no_runtime_dir(&["agent"]);
    agent_cmd
        .env("LATCHKEY_LOG", "latchkey=debug,latchkey_core=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = agent_cmd.spawn().unwrap();
    let real_socket = cache.path().join("latchkey/agent/agent.sock");
    let mut up = false;
    for _ in 0..200 {
        if UnixStream::connect(&real_socket).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = no_runtime_dir(&["status", "victim", "--json"])
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(up, "the real agent listens at {}", real_socket.display());
    let mode = std::fs::metadata(real_socket.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    let status: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        status[0]["agent"]["pid"].as_u64(),
        Some(u64::from(child.id())),
        "served by the real agent: {status}"
    );
    assert!(FakeAgent::received(&planted).is_empty());
}

#[test]
fn another_uid_is_refused_even_with_open_file_modes() {
    let _shared = shared();
    let p = provider(json!({"accessTokenTtl": 600}));
    let sb = Sandbox::new(BIN);
    sb.add_and_login(&p, "uid");
    // A socket anyone may reach: world-traversable dir, socket 0666.
    let open_dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(open_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let socket = open_dir.path().join("agent.sock");
    let agent = Agent::spawn(sb.agent_cmd(&socket));
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();

    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
        .args(["-v", "token", "uid"])
        .env("LATCHKEY_AGENT_SOCK", &socket)
        .env("LATCHKEY_CONFIG_DIR", "/nonexistent/latchkey")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .unwrap();
    assert_ne!(code(&out), 0, "no token for another user");
    assert!(stdout(&out).is_empty());
    // The client checks who serves the socket before it sends anything: the owner's agent is
    // not the other uid's, so it is not asked (and the agent refuses the connection anyway).
    assert!(
        stderr(&out).contains("is served by uid 0, not by you"),
        "the other uid did not use an agent of another user: {}",
        stderr(&out)
    );
    agent.wait_for(
        |l| l.contains("refused a connection from another user") && l.contains("peer_uid=65534"),
        "the refusal in the agent log",
    );
    // The owner is still served.
    let mut own = sb.cmd(&["token", "uid"]);
    own.env("LATCHKEY_AGENT_SOCK", &socket);
    let out = own.output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn garbage_oversized_truncated_silent_and_many_connections_are_survived() {
    let _shared = shared();
    let p = provider(json!({"accessTokenTtl": 600}));
    let sb = Sandbox::new(BIN);
    sb.add_and_login(&p, "bad");
    let agent = sb.start_agent();
    let sock = sb.agent_socket();

    // Not JSON.
    let a = raw_call(&mut connect(&sock), b"\x00\xffgarbage{").unwrap();
    assert_eq!(a["result"], "error");
    assert_eq!(a["kind"], "bad_request");
    // JSON, unknown operation.
    let a = raw_call(&mut connect(&sock), br#"{"v":1,"op":"shutdown"}"#).unwrap();
    assert_eq!(a["kind"], "bad_request");
    // Unknown protocol version.
    let a = raw_call(&mut connect(&sock), br#"{"v":99,"op":"ping"}"#).unwrap();
    assert_eq!(a["kind"], "unsupported_version");
    assert_eq!(a["v"], 1);
    // Oversized: refused from the length alone, then closed.
    let mut s = connect(&sock);
    s.write_all(&u32::MAX.to_be_bytes()).unwrap();
    let a = read_answer(&mut s).unwrap();
    assert_eq!(a["kind"], "bad_request");
    assert!(a["message"].as_str().unwrap().contains("over the limit"));
    assert!(
        read_answer(&mut s).is_none(),
        "closed after an oversized frame"
    );
    // Truncated: half a frame, then the client goes away.
    let mut s = connect(&sock);
    s.write_all(&100u32.to_be_bytes()).unwrap();
    s.write_all(b"{\"v\":1,").unwrap();
    drop(s);
    // Silent: connects and never writes; the agent closes it after its read deadline.
    let mut silent = connect(&sock);
    let mut buf = [0u8; 1];
    assert_eq!(silent.read(&mut buf).unwrap(), 0, "closed by the agent");

    // Many at once: every connection gets an answer (pong, or busy past the limit), none hangs.
    let mut conns: Vec<UnixStream> = (0..600).map(|_| connect(&sock)).collect();
    let mut pongs = 0;
    let mut busy = 0;
    for c in &mut conns {
        let a = raw_call(c, br#"{"v":1,"op":"ping"}"#).unwrap();
        match a["result"].as_str().unwrap() {
            "pong" => pongs += 1,
            "error" if a["kind"] == "busy" => busy += 1,
            other => panic!("unexpected answer {other}: {a}"),
        }
    }
    assert_eq!(pongs + busy, 600);
    // One process holds at most its share (issue 16.8: it could take all 512 permits)...
    assert_eq!(pongs, 64, "{pongs} pongs for one peer process");
    // ...and another program is still served by the agent while it holds them.
    let out = sb.run(&["status", "bad", "--json"]);
    let st: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(st[0]["agent"]["pid"], agent.pid(), "{st}");
    drop(conns);

    // Still serving, same process.
    let st = status_json(&sb, "bad");
    assert_eq!(st["agent"]["pid"], agent.pid());
    let out = sb.run(&["token", "bad"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// A relay like `ssh -R`'s: accepts on `at`, connects each client to `to`, copies both ways.
fn relay(at: PathBuf, to: PathBuf) {
    let listener = UnixListener::bind(&at).unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(upstream) = UnixStream::connect(&to) else {
                continue;
            };
            let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            let (mut c1, mut u1) = (client, upstream);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c1, &mut u1);
                let _ = u1.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut u2, &mut c2);
                let _ = c2.shutdown(std::net::Shutdown::Write);
            });
        }
    });
}

#[test]
fn a_forwarded_socket_serves_a_remote_client_and_fallbacks_are_silent() {
    let _shared = shared();
    let p = provider(json!({"accessTokenTtl": 600}));
    let sb = Sandbox::new(BIN);
    let id = sb.add_and_login(&p, "fwd");
    let stored = tokens_in_keychain(&id)["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    // No agent yet: silent fallback; with -v the reason.
    let out = sb.run(&["token", "fwd"]);
    assert_eq!(stdout(&out).trim(), stored);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    let out = sb.run(&["-v", "token", "fwd"]);
    assert!(
        stderr(&out).contains("agent not used (no agent socket at"),
        "{}",
        stderr(&out)
    );

    let agent = sb.start_agent();
    // The "remote" end: a relayed socket; the remote has no config of its own.
    let remote = tempfile::tempdir().unwrap();
    let forwarded = remote.path().join("latchkey-forwarded.sock");
    relay(forwarded.clone(), sb.agent_socket());
    // The agent serves the sandbox's config dir, not the platform default, so the remote
    // names it (a client naming none means the default, which this agent does not serve).
    let remote_cmd = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env("LATCHKEY_AGENT_SOCK", &forwarded)
            .env("LATCHKEY_CONFIG_DIR", sb.config_dir())
            .env("HOME", remote.path())
            .env("XDG_CONFIG_HOME", remote.path())
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .output()
            .unwrap()
    };
    let out = remote_cmd(&["token", "fwd"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), stored);
    let out = remote_cmd(&["status", "--json"]);
    let st: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(st[0]["agent"]["pid"], agent.pid());
    assert_eq!(st[0]["name"], "fwd");
    let out = remote_cmd(&["list"]);
    assert!(stdout(&out).contains("fwd"), "{}", stdout(&out));
    // Issue 16.8: a client of the platform's default config dir is not answered by an agent
    // that serves another one; it uses its own (here: no) accounts.
    let out = Command::new(BIN)
        .args(["-v", "token", "fwd"])
        .env("LATCHKEY_AGENT_SOCK", &forwarded)
        .env_remove("LATCHKEY_CONFIG_DIR")
        .env("HOME", remote.path())
        .env("XDG_CONFIG_HOME", remote.path())
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .unwrap();
    assert_ne!(code(&out), 0, "{}", stdout(&out));
    assert!(stdout(&out).is_empty(), "no token of another config dir");
    assert!(
        stderr(&out).contains("this agent serves the accounts in"),
        "{}",
        stderr(&out)
    );

    // An agent of an unknown protocol version: the client falls back (here: the direct path
    // of the sandbox), never trusts the answer.
    let odd_dir = tempfile::tempdir().unwrap();
    let odd = odd_dir.path().join("v2.sock");
    let listener = UnixListener::bind(&odd).unwrap();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { return };
            let mut len = [0u8; 4];
            if s.read_exact(&mut len).is_err() {
                continue;
            }
            let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
            let _ = s.read_exact(&mut buf);
            let body =
                br#"{"v":2,"pid":1,"result":"token","access_token":"WRONG","token_type":"Bearer"}"#;
            let _ = s.write_all(&(body.len() as u32).to_be_bytes());
            let _ = s.write_all(body);
        }
    });
    let mut c = sb.cmd(&["-v", "token", "fwd"]);
    c.env("LATCHKEY_AGENT_SOCK", &odd);
    let out = c.output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), stored);
    assert!(
        stderr(&out).contains("protocol version 2"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn install_writes_the_user_unit_and_says_when_systemd_is_missing() {
    let sb = Sandbox::new(BIN);
    let xdg = tempfile::tempdir().unwrap();
    let unit = xdg.path().join("systemd/user/latchkey-agent.service");
    let mut c = sb.cmd(&["agent", "--install"]);
    c.env("XDG_CONFIG_HOME", xdg.path());
    let out = c.output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains(unit.to_str().unwrap()));
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(
        text.contains(&format!("ExecStart=\"{BIN}\" agent\n")),
        "{text}"
    );
    assert!(text.contains("WantedBy=default.target"));
    assert!(
        text.contains(&format!(
            "Environment=\"LATCHKEY_CONFIG_DIR={}\"",
            sb.config_dir().display()
        )),
        "{text}"
    );
    // No systemd user manager in the test session.
    assert!(
        stderr(&out).contains("the unit was written but not enabled")
            && stderr(&out).contains("systemctl --user"),
        "{}",
        stderr(&out)
    );
    let mut c = sb.cmd(&["agent", "--uninstall"]);
    c.env("XDG_CONFIG_HOME", xdg.path());
    let out = c.output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!unit.exists());
}

/// The keychain really locked (the login collection locked over D-Bus, as a desktop's "lock"
/// does; its own private bus without a display, so no unlock prompt can open): the agent serves
/// the tokens it holds, `status` says the keychain is locked, a rotated set that cannot be
/// written is never handed out, and after the unlock the agent writes it by itself, without a
/// restart.
#[test]
fn a_really_locked_keychain_keeps_held_tokens_served_and_a_rotated_set_waits_for_the_unlock() {
    let _shared = shared();
    let p = provider(json!({"accessTokenTtl": 600}));
    let keyring = latchkey_testkit::LockableKeyring::start();
    let mut sb = Sandbox::new(BIN);
    sb.set_env("DBUS_SESSION_BUS_ADDRESS", keyring.bus());
    let id = sb.add_and_login(&p, "locked");
    let tokens = || -> Value {
        serde_json::from_str(&keyring.lookup(&format!("{id}/tokens")).unwrap()).unwrap()
    };
    let agent = sb.start_agent();
    let t1 = sb.ok(&["token", "locked"]).trim().to_string();
    assert_eq!(tokens()["access_token"], t1.as_str());

    // Locked: the token the agent holds is still served; status says "locked".
    keyring.lock();
    assert_eq!(sb.ok(&["token", "locked"]).trim(), t1);
    let st = status_json(&sb, "locked");
    assert_eq!(st["agent"]["keychain"], "locked", "{st}");
    let human = sb.ok(&["status", "locked"]);
    assert!(human.contains("keychain: locked"), "{human}");
    // Without the agent there is nothing to read it from: a keychain error (exit 5), no token.
    let mut direct = sb.cmd(&["token", "locked"]);
    direct.env("LATCHKEY_NO_AGENT", "1");
    let out = direct.output().unwrap();
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert_eq!(stdout(&out), "");

    // A forced refresh whose rotated set cannot be written: unlocked for the refresh's own
    // read, locked again while the provider holds the token request.
    keyring.unlock();
    p.fault("token", "delay:1500", 1);
    let refresh = sb
        .cmd(&["refresh", "locked", "--force"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if p.count("fault.applied", None) == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(p.count("fault.applied", None), 1);
    keyring.lock();
    let out = refresh.wait_with_output().unwrap();
    assert_eq!(code(&out), 5, "not handed out: {}", stdout(&out));
    assert!(stdout(&out).is_empty());
    assert!(
        stderr(&out).contains("could not be saved to the keychain yet"),
        "{}",
        stderr(&out)
    );
    assert_eq!(p.count("grant.success", Some("refresh_token")), 1);
    // Still locked: the old, still valid token is served, never the unsaved one; one set waits.
    assert_eq!(sb.ok(&["token", "locked"]).trim(), t1);
    let st = status_json(&sb, "locked");
    assert_eq!(st["agent"]["keychain"], "locked", "{st}");
    assert_eq!(st["agent"]["unsaved_token_sets"], 1, "{st}");

    // Unlocked: the agent (same process) writes the rotated set by itself, then serves it.
    keyring.unlock();
    let mut stored = false;
    for _ in 0..240 {
        if status_json(&sb, "locked")["agent"]["unsaved_token_sets"] == 0 {
            stored = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(stored, "stored after unlock; agent log:\n{}", agent.log());
    let in_keychain = tokens();
    let t2 = sb.ok(&["token", "locked"]).trim().to_string();
    assert_ne!(t2, t1);
    assert_eq!(in_keychain["access_token"], t2.as_str());
    assert_eq!(
        p.introspect(in_keychain["refresh_token"].as_str().unwrap())["active"],
        true,
        "the stored refresh token is the rotated, live one"
    );
    let st = status_json(&sb, "locked");
    assert_eq!(st["agent"]["keychain"], "available", "{st}");
    assert_eq!(st["agent"]["pid"], agent.pid(), "no restart");
    // And it refreshes again without invalid_grant.
    sb.ok(&["refresh", "locked", "--force"]);
    assert_eq!(p.count("grant.success", Some("refresh_token")), 2);
    assert!(p.grant_errors().is_empty(), "{:?}", p.grant_errors());
    assert!(!agent.log().contains(&t1) && !agent.log().contains(&t2));
}

/// A one-request HTTP server answering 200 `ok`; the request's head as text.
fn one_request_server() -> (u16, std::thread::JoinHandle<Option<String>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
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
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            .ok()?;
        Some(String::from_utf8_lossy(&req).to_string())
    });
    (port, handle)
}

/// An agent of the protocol's first release: it knows no `token_for`/`request_for` and answers
/// every frame as it answers an unknown operation (`bad_request`).
fn older_agent(path: PathBuf) -> std::thread::JoinHandle<usize> {
    let listener = UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        let mut asked = 0;
        if let Ok((mut s, _)) = listener.accept() {
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut len = [0u8; 4];
            if s.read_exact(&mut len).is_ok() {
                let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
                if s.read_exact(&mut buf).is_ok() {
                    asked += 1;
                    let body = br#"{"v":1,"pid":1,"result":"error","kind":"bad_request","message":"unknown request: unknown variant `token_for`"}"#;
                    let _ = s.write_all(&(body.len() as u32).to_be_bytes());
                    let _ = s.write_all(body);
                }
            }
        }
        asked
    })
}

#[test]
fn the_agent_serves_tokens_for_other_apis_once_and_an_older_agent_leaves_them_to_the_direct_path() {
    let _shared = shared();
    const A: &str = "https://a.api.test";
    let p = provider(json!({"accessTokenTtl": 600, "resourceIndicators": true}));
    let sb = Sandbox::new(BIN);
    sb.ok(&[
        "add",
        "res",
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
        "--scope",
        "openid offline_access api:read api:write",
        "--resource",
        A,
    ]);
    sb.ok(&["login", "res", "--timeout", "60"]);
    let own = sb.ok(&["token", "res"]).trim().to_string();
    let agent = sb.start_agent();
    let before = p.count("token.request", None);

    // Through the agent (`-v` would say "agent not used" otherwise).
    let out = sb.run(&["-v", "token", "res", "--resource", A]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!stderr(&out).contains("agent not used"), "{}", stderr(&out));
    let derived = stdout(&out).trim().to_string();
    assert_ne!(derived, own);
    let info = p.introspect(&derived);
    assert_eq!(
        (info["active"].clone(), info["aud"].clone()),
        (json!(true), json!(A)),
        "{info}"
    );
    // Repeated calls, the integrations' way (`exec --resource`) and the scopes in another
    // spelling: the same token, no second token request.
    for _ in 0..3 {
        assert_eq!(sb.ok(&["token", "res", "--resource", A]).trim(), derived);
    }
    let print_token = [
        "exec",
        "res",
        "--resource",
        A,
        "--",
        "sh",
        "-c",
        "printf %s \"$LATCHKEY_ACCESS_TOKEN\"",
    ];
    assert_eq!(sb.ok(&print_token), derived);
    // `request --resource`: the agent makes the request with the derived token.
    let (port, server) = one_request_server();
    let out = sb.run(&[
        "-v",
        "request",
        "res",
        &format!("http://127.0.0.1:{port}/x"),
        "--resource",
        A,
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "ok");
    assert!(!stderr(&out).contains("agent not used"), "{}", stderr(&out));
    let head = server.join().unwrap().unwrap();
    assert!(
        head.contains(&format!("Bearer {derived}")),
        "the request carried the derived token"
    );
    assert_eq!(
        p.count("token.request", None),
        before + 1,
        "one token request in all"
    );
    assert_eq!(
        agent.count(|l| l.contains(&format!("token request for resource {A}"))),
        5,
        "token ×4 and exec were served by the agent:\n{}",
        agent.log()
    );
    assert_eq!(
        agent.count(|l| l.contains(&format!("request with the token for resource {A}"))),
        1
    );
    // A bad spec is the agent's clear error, not a fallback.
    let out = sb.run(&["token", "res", "--resource", "not a uri"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not an absolute URI"),
        "{}",
        stderr(&out)
    );

    // An agent that does not know `token_for` answers `bad_request`: the client falls back to
    // the direct path, which serves the same cached token — never the account's own.
    let dir = tempfile::tempdir().unwrap();
    let old_sock = dir.path().join("old.sock");
    let old = older_agent(old_sock.clone());
    let mut c = sb.cmd(&["-v", "token", "res", "--resource", A]);
    c.env("LATCHKEY_AGENT_SOCK", &old_sock);
    let out = c.output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), derived);
    assert!(
        stderr(&out).contains("agent not used (the agent (pid 1) said bad_request"),
        "{}",
        stderr(&out)
    );
    assert_eq!(old.join().unwrap(), 1, "the older agent was asked once");
    assert_eq!(p.count("token.request", None), before + 1);
    assert!(
        !agent.log().contains(&derived),
        "no token in the agent's log"
    );
}

/// A server that counts POSTs and answers each with `size` bytes.
fn counting_server(size: usize) -> (u16, Arc<Mutex<usize>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(Mutex::new(0usize));
    let seen = count.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 8192];
            let mut req = Vec::new();
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            *seen.lock().unwrap() += 1;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&vec![b'x'; size]);
        }
    });
    (port, count)
}

/// Issue 16, point 4: an answer of 7 MiB (over the old 8 MiB frame once base64-encoded) comes
/// back through the agent whole, and the POST reaches the server exactly once (it was answered
/// `bad_request` after being sent, and the client sent it again on the direct path).
#[test]
fn a_large_answer_through_the_agent_is_delivered_and_the_request_is_sent_once() {
    let _shared = shared();
    let p = provider(json!({"accessTokenTtl": 600}));
    let sb = Sandbox::new(BIN);
    sb.add_and_login(&p, "big");
    let agent = sb.start_agent();
    let size = 7 * 1024 * 1024;
    let (port, count) = counting_server(size);
    let url = format!("http://127.0.0.1:{port}/upload");
    let out = sb.run(&["-v", "request", "big", "-X", "POST", &url, "-d", "payload"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(out.stdout.len(), size, "the whole body");
    assert_eq!(*count.lock().unwrap(), 1, "the POST was sent exactly once");
    assert!(
        !stderr(&out).contains("using the direct path"),
        "served by the agent: {}",
        stderr(&out)
    );
    drop(agent);
}

/// Keep signed in with only `latchkey agent` running: no client asks for a token, no window is
/// open, and the account marked `--keep-signed-in` stays fresh — the agent's own sweep renews
/// it ahead of expiry, over several lifetimes, and the provider sees those refreshes (before,
/// only the desktop app's sweep did this: with the agent alone the token expired).
#[test]
fn the_agent_keeps_a_keep_signed_in_account_fresh_with_no_client_asking() {
    let _shared = shared();
    let ttl = 30;
    let p = provider(json!({"accessTokenTtl": ttl}));
    let sb = Sandbox::new(BIN);
    let id = sb.add_and_login(&p, "kept");
    sb.ok(&["edit", "kept", "--keep-signed-in", "true"]);
    let expiry = |t: &Value| {
        time::OffsetDateTime::parse(
            t["expires_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let first = expiry(&tokens_in_keychain(&id));
    let agent = sb.start_agent();
    // Watch the keychain (not through latchkey: nothing asks for a token) until two lifetimes
    // past the first token's expiry.
    let until = first + time::Duration::seconds(2 * ttl);
    let mut tokens = std::collections::HashSet::new();
    loop {
        let now = time::OffsetDateTime::now_utc();
        if now > until {
            break;
        }
        let stored = tokens_in_keychain(&id);
        assert!(
            expiry(&stored) > now,
            "the stored token expired ({}) with only the agent running; agent log:\n{}",
            expiry(&stored),
            agent.log()
        );
        tokens.insert(stored["access_token"].as_str().unwrap().to_string());
        std::thread::sleep(Duration::from_secs(2));
    }
    let refreshes = p.count("grant.success", Some("refresh_token"));
    assert!(
        refreshes >= 3 && tokens.len() >= 3,
        "{refreshes} refreshes, {} tokens seen; agent log:\n{}",
        tokens.len(),
        agent.log()
    );
    assert!(p.grant_errors().is_empty(), "{:?}", p.grant_errors());
    // The live refresh token is the stored one.
    let rt = tokens_in_keychain(&id)["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(p.introspect(&rt)["active"], true);
    assert!(
        agent.count(|l| l.contains("kept signed in")) >= 3,
        "the agent renewed it:\n{}",
        agent.log()
    );
}

/// Issue 15.2: a tool the agent answers builds no manager of its own — with no D-Bus session
/// (no keychain reachable at all) git's helper, Docker's helper, `exec` and `token` still get
/// the account's token through the agent's `credential`/`token` operations. An agent that does
/// not know `credential` answers `bad_request`, and the tool decides itself (same token).
#[test]
fn a_tool_answered_by_the_agent_needs_no_keychain_and_an_older_agent_leaves_it_to_the_direct_path()
{
    let _shared = shared();
    let p = provider(json!({"accessTokenTtl": 600}));
    let sb = Sandbox::new(BIN);
    sb.add_and_login(&p, "reg");
    let home = tempfile::tempdir().unwrap();
    let gitconfig = home.path().join(".gitconfig");
    let mut c = sb.cmd(&["setup", "git", "reg", "--host", "code.example.test"]);
    c.env("HOME", home.path())
        .env("GIT_CONFIG_GLOBAL", &gitconfig);
    let out = c.output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let own = sb.ok(&["token", "reg"]).trim().to_string();
    let agent = sb.start_agent();

    let no_keychain = |args: &[&str], input: &str| {
        let mut c = sb.cmd(args);
        c.env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env("HOME", home.path());
        let out = latchkey_testkit::output_with_stdin(&mut c, input);
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("agent not used"), "{}", stderr(&out));
        stdout(&out)
    };
    let git = no_keychain(
        &["-v", "git-credential", "get"],
        "protocol=https\nhost=code.example.test\n\n",
    );
    assert!(git.contains(&format!("password={own}\n")), "{git}");
    let docker = no_keychain(&["-v", "docker-credential", "get"], "code.example.test\n");
    assert!(
        docker.contains(&format!("\"Secret\":\"{own}\"")),
        "{docker}"
    );
    let exec = no_keychain(
        &[
            "-v",
            "exec",
            "reg",
            "--",
            "sh",
            "-c",
            "printf %s \"$LATCHKEY_ACCESS_TOKEN\"",
        ],
        "",
    );
    assert_eq!(exec, own);
    assert_eq!(no_keychain(&["-v", "token", "reg"], "").trim(), own);
    assert!(
        agent.count(|l| l.contains("credential request")) >= 3,
        "{}",
        agent.log()
    );
    // Without the agent the same call needs the keychain: it fails (proof that the answers
    // above came from the agent, not from this process).
    let mut c = sb.cmd(&["git-credential", "get"]);
    c.env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("LATCHKEY_NO_AGENT", "1")
        .env("HOME", home.path());
    let out =
        latchkey_testkit::output_with_stdin(&mut c, "protocol=https\nhost=code.example.test\n\n");
    assert_ne!(code(&out), 0, "{}", stdout(&out));
    assert!(!stdout(&out).contains(&own));

    // An agent of the first release: `credential` is unknown to it, the direct path answers.
    let dir = tempfile::tempdir().unwrap();
    let old_sock = dir.path().join("old.sock");
    let old = older_agent(old_sock.clone());
    let mut c = sb.cmd(&["-v", "git-credential", "get"]);
    c.env("LATCHKEY_AGENT_SOCK", &old_sock)
        .env("HOME", home.path());
    let out =
        latchkey_testkit::output_with_stdin(&mut c, "protocol=https\nhost=code.example.test\n\n");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("password={own}\n")),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("agent not used (the agent (pid 1) said bad_request"),
        "{}",
        stderr(&out)
    );
    assert_eq!(old.join().unwrap(), 1, "the older agent was asked once");
}
