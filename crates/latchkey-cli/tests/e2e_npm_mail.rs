//! End-to-end tests of the package-registry and mail integrations with the real tools:
//!
//! - **pnpm** (from `tests/tools`, `npm ci --prefix tests/tools`) installs a package from a
//!   small registry in this test (a packument and a tarball on 127.0.0.1) that answers only an
//!   `Authorization: Bearer` token the test provider says is active: refused without Latchkey,
//!   installed through the `tokenHelper` `latchkey setup npm` writes, and the `.npmrc` never
//!   holds the token.
//! - **Mail**: a private Dovecot (`dovecot-imapd`, its own config in a temporary dir, on an
//!   ephemeral 127.0.0.1 port) validates OAuth tokens by introspection at the test provider;
//!   **mbsync** (isync, with `libsasl2-modules-kdexoauth2`) logs in with XOAUTH2 and
//!   `PassCmd "latchkey token NAME"`, and the `latchkey token --sasl` responses are accepted
//!   as `AUTHENTICATE XOAUTH2` / `OAUTHBEARER` over a raw IMAP session.
//!
//! A missing tool fails the test with what to install (never a skip).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use latchkey_testkit::{
    Provider, Sandbox, code, repo_root, require_secret_service, stderr, stdout,
};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_latchkey");

fn provider() -> Arc<Provider> {
    require_secret_service();
    Arc::new(Provider::start(json!({"accessTokenTtl": 600})))
}

fn signed_in(p: &Provider, name: &str) -> Sandbox {
    let sb = Sandbox::new(BIN);
    sb.add_and_login(p, name);
    sb
}

/// The account's current access token, without refreshing.
fn current_token(sb: &Sandbox, name: &str) -> String {
    sb.ok(&["token", name, "--min-ttl", "0"]).trim().to_string()
}

/// A command with the sandbox's environment (config dir, keychain bus) and a home of its own.
fn tool(sb: &Sandbox, home: &Path, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(program);
    c.env("LATCHKEY_CONFIG_DIR", sb.config_dir())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env_remove("LATCHKEY_LOG")
        .env_remove("LATCHKEY_ACCOUNT")
        .stdin(Stdio::null());
    for (k, v) in &sb.env {
        c.env(k, v);
    }
    for k in &sb.unset {
        c.env_remove(k);
    }
    c
}

fn on_path(name: &str, install: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .find(|k| k.exists())
        })
        .unwrap_or_else(|| panic!("{name} is not installed: {install}"))
}

// ---------------------------------------------------------------------------------------------
// pnpm: a registry that takes only active Bearer tokens
// ---------------------------------------------------------------------------------------------

const PKG: &str = "latchkey-demo";

/// What the registry saw: (path, bearer token, accepted).
type Seen = Arc<Mutex<Vec<(String, Option<String>, bool)>>>;

/// A gzipped tarball of one package (`package/package.json`, `package/index.js`).
fn tarball() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("package");
    std::fs::create_dir(&pkg).unwrap();
    std::fs::write(
        pkg.join("package.json"),
        json!({"name": PKG, "version": "1.0.0", "main": "index.js"}).to_string(),
    )
    .unwrap();
    std::fs::write(
        pkg.join("index.js"),
        "module.exports = 'hello from the registry';\n",
    )
    .unwrap();
    let out = Command::new("tar")
        .args(["-czf", "-", "package"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "tar: {}", stderr(&out));
    out.stdout
}

fn start_registry(p: Arc<Provider>) -> (String, Seen) {
    use base64::Engine;
    use sha2::Digest;
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let base = format!(
        "http://127.0.0.1:{}/",
        listener.local_addr().unwrap().port()
    );
    let tgz = Arc::new(tarball());
    let integrity = format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(&*tgz))
    );
    let tarball_url = format!("{base}{PKG}/-/{PKG}-1.0.0.tgz");
    let packument = Arc::new(
        json!({
            "name": PKG,
            "dist-tags": {"latest": "1.0.0"},
            "versions": {"1.0.0": {
                "name": PKG, "version": "1.0.0", "main": "index.js",
                "dist": {"tarball": tarball_url, "integrity": integrity}
            }}
        })
        .to_string(),
    );
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (p, log, tgz, packument) = (p.clone(), log.clone(), tgz.clone(), packument.clone());
            std::thread::spawn(move || {
                let _ = serve_registry(stream, &p, &log, &tgz, &packument);
            });
        }
    });
    (base, seen)
}

fn serve_registry(
    mut stream: TcpStream,
    p: &Provider,
    log: &Seen,
    tgz: &[u8],
    packument: &str,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let mut first = String::new();
        if reader.read_line(&mut first)? == 0 {
            return Ok(());
        }
        let path = first.split_whitespace().nth(1).unwrap_or("/").to_string();
        let mut auth = None;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("authorization")
            {
                auth = v.trim().strip_prefix("Bearer ").map(str::to_string);
            }
        }
        let ok = auth
            .as_ref()
            .is_some_and(|t| p.introspect(t)["active"] == true);
        log.lock().unwrap().push((path.clone(), auth, ok));
        let (status, kind, body): (&str, &str, Vec<u8>) = if !ok {
            (
                "401 Unauthorized",
                "application/json",
                br#"{"error":"authentication required"}"#.to_vec(),
            )
        } else if path == format!("/{PKG}") {
            ("200 OK", "application/json", packument.as_bytes().to_vec())
        } else if path == format!("/{PKG}/-/{PKG}-1.0.0.tgz") {
            ("200 OK", "application/octet-stream", tgz.to_vec())
        } else {
            (
                "404 Not Found",
                "application/json",
                br#"{"error":"not found"}"#.to_vec(),
            )
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nWWW-Authenticate: Bearer\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(&body)?;
        stream.flush()?;
    }
}

fn pnpm_path() -> PathBuf {
    let p = repo_root().join("tests/tools/node_modules/.bin/pnpm");
    assert!(
        p.exists(),
        "pnpm is not installed for the tests: run `npm ci --prefix tests/tools` (scripts/test.sh does)"
    );
    p
}

/// `pnpm install` in `project` (its own store and cache under `home`).
fn pnpm_install(sb: &Sandbox, home: &Path, project: &Path) -> Output {
    tool(sb, home, pnpm_path())
        .args([
            "install",
            "--reporter=append-only",
            "--no-frozen-lockfile",
            "--store-dir",
        ])
        .arg(home.join("store"))
        .current_dir(project)
        .env("NPM_CONFIG_USERCONFIG", home.join(".npmrc"))
        .env("npm_config_cache", home.join(".npm-cache"))
        .env("npm_config_update_notifier", "false")
        .env("npm_config_fetch_retries", "0")
        .env("CI", "1")
        .output()
        .unwrap()
}

#[test]
fn pnpm_installs_from_a_token_registry_through_the_token_helper() {
    let p = provider();
    let sb = signed_in(&p, "work");
    let (registry, seen) = start_registry(p.clone());
    let home = tempfile::tempdir().unwrap();
    let project = home.path().join("app");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(
        project.join("package.json"),
        json!({"name": "app", "version": "1.0.0", "private": true, "dependencies": {PKG: "1.0.0"}})
            .to_string(),
    )
    .unwrap();
    std::fs::write(project.join(".npmrc"), format!("registry={registry}\n")).unwrap();
    let npmrc = home.path().join(".npmrc");
    std::fs::write(&npmrc, "# mine\nfund=false\n").unwrap();

    // Without Latchkey the registry refuses pnpm.
    let out = pnpm_install(&sb, home.path(), &project);
    assert_ne!(
        code(&out),
        0,
        "installed without a token?\n{}",
        stdout(&out)
    );
    assert!(
        !seen.lock().unwrap().is_empty(),
        "pnpm never asked the registry"
    );
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .all(|(_, t, ok)| t.is_none() && !ok),
        "{:?}",
        seen.lock().unwrap()
    );
    assert!(!project.join("node_modules").join(PKG).exists());

    // --dry-run changes nothing.
    let setup = |extra: &[&str]| {
        let mut args = vec!["setup", "npm", "work", "--registry", registry.as_str()];
        args.extend_from_slice(extra);
        let out = tool(&sb, home.path(), BIN)
            .args(&args)
            .env("NPM_CONFIG_USERCONFIG", &npmrc)
            .output()
            .unwrap();
        assert_eq!(
            code(&out),
            0,
            "setup {extra:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    };
    let dry = setup(&["--dry-run"]);
    assert!(dry.contains("Would change"), "{dry}");
    assert_eq!(
        std::fs::read_to_string(&npmrc).unwrap(),
        "# mine\nfund=false\n"
    );
    assert!(!sb.config_dir().join("npm").exists());

    let done = setup(&[]);
    assert!(done.contains(":tokenHelper="), "{done}");
    assert!(done.contains("rule 127.0.0.1:"), "{done}");
    assert!(setup(&[]).contains("Nothing to change"));
    let text = std::fs::read_to_string(&npmrc).unwrap();
    let key = registry.trim_start_matches("http:");
    let helper = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:tokenHelper=")))
        .unwrap_or_else(|| panic!("no tokenHelper line in .npmrc:\n{text}"))
        .to_string();
    assert!(text.starts_with("# mine\nfund=false\n"), "{text}");
    assert!(helper.starts_with(&sb.config_dir().join("npm").display().to_string()));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&helper).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{helper}");
    }

    // The helper prints the whole header value.
    let out = tool(&sb, home.path(), &helper).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let token = current_token(&sb, "work");
    assert_eq!(stdout(&out), format!("Bearer {token}\n"));

    // With Latchkey pnpm installs, sending the account's active token.
    seen.lock().unwrap().clear();
    let out = pnpm_install(&sb, home.path(), &project);
    assert_eq!(
        code(&out),
        0,
        "pnpm install: {}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let installed = project.join("node_modules").join(PKG).join("index.js");
    assert!(
        std::fs::read_to_string(&installed)
            .unwrap()
            .contains("hello from the registry"),
        "{}",
        installed.display()
    );
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|(path, _, _)| path.ends_with(".tgz")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .all(|(_, t, ok)| *ok && t.as_deref() == Some(token.as_str())),
        "{seen:?}"
    );

    // No token in .npmrc, the helper script, or anywhere under the home.
    for file in [npmrc.clone(), PathBuf::from(&helper)] {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains(&token), "{} holds the token", file.display());
    }

    // --undo takes the line, the script and the rule back.
    let undone = setup(&["--undo"]);
    assert!(undone.contains("- "), "{undone}");
    assert_eq!(
        std::fs::read_to_string(&npmrc).unwrap(),
        "# mine\nfund=false\n"
    );
    assert!(!Path::new(&helper).exists());
    let which = sb.run(&["which", &registry]);
    assert!(!stdout(&which).contains("work"), "{}", stdout(&which));
}

// ---------------------------------------------------------------------------------------------
// Mail: a private Dovecot that validates tokens by introspection at the test provider
// ---------------------------------------------------------------------------------------------

/// A Dovecot of this test's own (config, sockets, state, logs and mail in a temporary dir).
struct Dovecot {
    dir: tempfile::TempDir,
    port: u16,
    master: std::process::Child,
    /// `uid:gid` of the mail files.
    mail_owner: String,
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM to the master this test started: it stops its own children.
        let _ = Command::new("kill")
            .arg(self.master.id().to_string())
            .status();
        let _ = self.master.wait();
    }
}

fn id(flag: &str) -> String {
    let out = Command::new("id").arg(flag).output().unwrap();
    stdout(&out).trim().to_string()
}

fn id_of(flag: &str, user: &str) -> String {
    let out = Command::new("id").args([flag, user]).output().unwrap();
    assert!(out.status.success(), "no user {user}: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

impl Dovecot {
    fn start(p: &Provider) -> Dovecot {
        let dovecot = ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"]
            .into_iter()
            .map(PathBuf::from)
            .find(|d| d.exists())
            .unwrap_or_else(|| {
                on_path(
                    "dovecot",
                    "apt-get install dovecot-imapd (scripts/install-deps.sh test)",
                )
            });
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        {
            use std::os::unix::fs::PermissionsExt;
            // Dovecot's login processes (another user when this runs as root) reach the sockets.
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        for sub in ["run", "state", "mail"] {
            std::fs::create_dir(d.join(sub)).unwrap();
        }
        let port = TcpListener::bind(("127.0.0.1", 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // As root the login and internal processes need unprivileged users of their own (the
        // package creates them); otherwise everything runs as the current user.
        let (login_user, internal_user, internal_group) = if id("-u") == "0" {
            (
                "dovenull".to_string(),
                "dovecot".to_string(),
                "dovecot".to_string(),
            )
        } else {
            (id("-un"), id("-un"), id("-gn"))
        };
        // Mail is never accessed as root: as root it belongs to the `dovecot` user.
        let (uid, gid) = if id("-u") == "0" {
            (id_of("-u", "dovecot"), id_of("-g", "dovecot"))
        } else {
            (id("-u"), id("-g"))
        };
        let dp = d.display();
        std::fs::write(
            d.join("oauth2.conf.ext"),
            format!(
                "introspection_mode = post\nintrospection_url = http://latchkey-rs:rs-secret-0123456789abcdef@127.0.0.1:{}{}\nusername_attribute = sub\nactive_attribute = active\nactive_value = true\n",
                p.port,
                p.endpoint_path("introspection_endpoint")
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("dovecot.conf"),
            format!(
                r#"base_dir = {dp}/run
state_dir = {dp}/state
log_path = {dp}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
first_valid_uid = 1
auth_mechanisms = xoauth2 oauthbearer
auth_verbose = yes
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
mail_location = maildir:{dp}/mail/%u
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {dp}/oauth2.conf.ext
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dp}/mail/%u
}}
"#
            ),
        )
        .unwrap();
        let master = Command::new(dovecot)
            .arg("-F")
            .arg("-c")
            .arg(d.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Dovecot {
            dir,
            port,
            master,
            mail_owner: format!("{uid}:{gid}"),
        };
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("Dovecot did not listen on {port}:\n{}", server.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// Delivers one message to `user`'s INBOX (a Maildir file).
    fn deliver(&self, user: &str, subject: &str) {
        let inbox = self.dir.path().join("mail").join(user);
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(inbox.join(sub)).unwrap();
        }
        std::fs::write(
            inbox.join("new").join("1700000000.M1P1.latchkey-test"),
            format!("From: a@example.test\r\nTo: {user}\r\nSubject: {subject}\r\n\r\nhello\r\n"),
        )
        .unwrap();
        let out = Command::new("chown")
            .arg("-R")
            .arg(&self.mail_owner)
            .arg(&inbox)
            .output()
            .unwrap();
        assert!(out.status.success(), "chown: {}", stderr(&out));
    }

    /// `AUTHENTICATE MECH <initial response>` over a raw IMAP session: the tagged answer line.
    fn authenticate(&self, mechanism: &str, response: &str) -> String {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.starts_with("* OK"), "greeting: {line}");
        write!(writer, "a AUTHENTICATE {mechanism} {response}\r\n").unwrap();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap() == 0 {
                return "(connection closed)".into();
            }
            if line.starts_with("+") {
                // A failure's error challenge: the client answers with an empty response.
                writer.write_all(b"\r\n").unwrap();
            } else if line.starts_with("a ") {
                let _ = writer.write_all(b"b LOGOUT\r\n");
                return line.trim_end().to_string();
            }
        }
    }
}

fn sasl(sb: &Sandbox, name: &str, args: &[&str]) -> String {
    let mut all = vec!["token", name, "--min-ttl", "0", "--sasl"];
    all.extend_from_slice(args);
    sb.ok(&all).trim().to_string()
}

#[test]
fn dovecot_takes_the_sasl_responses_and_mbsync_logs_in_with_xoauth2() {
    let mbsync = on_path(
        "mbsync",
        "apt-get install isync libsasl2-modules-kdexoauth2 (scripts/install-deps.sh test)",
    );
    let p = provider();
    let sb = signed_in(&p, "mail");
    let dovecot = Dovecot::start(&p);
    let token = current_token(&sb, "mail");
    let info = p.introspect(&token);
    let user = info["sub"]
        .as_str()
        .expect("introspection has sub")
        .to_string();

    // The --sasl initial responses, straight to Dovecot.
    let port = dovecot.port.to_string();
    let xoauth2 = sasl(&sb, "mail", &["xoauth2", "--user", &user]);
    assert!(!xoauth2.contains(&token));
    let answer = dovecot.authenticate("XOAUTH2", &xoauth2);
    assert!(
        answer.starts_with("a OK"),
        "XOAUTH2: {answer}\n{}",
        dovecot.log()
    );
    let bearer = sasl(
        &sb,
        "mail",
        &[
            "oauthbearer",
            "--user",
            &user,
            "--host",
            "127.0.0.1",
            "--port",
            &port,
        ],
    );
    let answer = dovecot.authenticate("OAUTHBEARER", &bearer);
    assert!(
        answer.starts_with("a OK"),
        "OAUTHBEARER: {answer}\n{}",
        dovecot.log()
    );
    // Dovecot really checks: another user's name with this token, or a made-up token, is refused.
    let other = sasl(&sb, "mail", &["xoauth2", "--user", "someone-else"]);
    let answer = dovecot.authenticate("XOAUTH2", &other);
    assert!(answer.starts_with("a NO"), "{answer}");
    use base64::Engine;
    let forged = base64::engine::general_purpose::STANDARD
        .encode(format!("user={user}\x01auth=Bearer not-a-token\x01\x01"));
    let answer = dovecot.authenticate("XOAUTH2", &forged);
    assert!(answer.starts_with("a NO"), "{answer}");

    // mbsync: XOAUTH2 with the bare token from `PassCmd "latchkey token NAME"`.
    dovecot.deliver(&user, "synced through latchkey");
    let home = tempfile::tempdir().unwrap();
    let local = home.path().join("Mail");
    std::fs::create_dir_all(&local).unwrap();
    let config = home.path().join(".mbsyncrc");
    let write_config = |pass_cmd: &str| {
        std::fs::write(
            &config,
            format!(
                "IMAPAccount test\nHost 127.0.0.1\nPort {port}\nUser {user}\nPassCmd \"{pass_cmd}\"\nAuthMechs XOAUTH2\nSSLType None\n\nIMAPStore remote\nAccount test\n\nMaildirStore local\nPath {l}/\nInbox {l}/INBOX\n\nChannel test\nFar :remote:\nNear :local:\nPatterns INBOX\nCreate Near\nSync Pull\nSyncState *\n",
                l = local.display()
            ),
        )
        .unwrap();
    };
    let run_mbsync = |limit: &str| {
        // mbsync waits forever after a refused login: a time limit turns that into a failure.
        tool(&sb, home.path(), "timeout")
            .arg(limit)
            .arg(&mbsync)
            .arg("-c")
            .arg(&config)
            .arg("test")
            .output()
            .unwrap()
    };
    // Without Latchkey (a password that is no token) Dovecot refuses it.
    write_config("echo not-a-token");
    let out = run_mbsync("15");
    assert_ne!(code(&out), 0, "mbsync without a token: {}", stdout(&out));

    write_config(&format!("{BIN} token mail"));
    let out = run_mbsync("60");
    assert_eq!(
        code(&out),
        0,
        "mbsync: {}\n{}\n{}",
        stdout(&out),
        stderr(&out),
        dovecot.log()
    );
    let synced: String = ["new", "cur"]
        .iter()
        .filter_map(|d| std::fs::read_dir(local.join("INBOX").join(d)).ok())
        .flatten()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(
        synced.contains("synced through latchkey"),
        "local INBOX: {synced:?}"
    );
    assert!(!std::fs::read_to_string(&config).unwrap().contains(&token));
}
