//! End-to-end tests of the integrations with the real tools: git (clone/fetch over smart HTTP
//! from `git http-backend`, behind a server that accepts only tokens the test provider says are
//! active), kubectl (against a small HTTPS API endpoint checking the bearer token), the Docker
//! credential helper protocol driven as the Docker CLI drives it, and `latchkey exec`. The
//! provider, the keychain (gnome-keyring) and the tools are all real.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use latchkey_testkit::{
    BearerApi, GitServer, Provider, Reply, Sandbox, code, output_with_stdin,
    require_secret_service, stderr, stdout,
};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_latchkey");

fn provider(ttl: u64) -> Arc<Provider> {
    require_secret_service();
    Arc::new(Provider::start(
        json!({"accessTokenTtl": ttl, "clockTolerance": 0}),
    ))
}

/// Adds `name` and signs it in as `login` through the headless browser.
fn add_and_login(sb: &Sandbox, p: &Provider, name: &str, login: &str) {
    sb.ok(&[
        "add",
        name,
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
    ]);
    let out = sb
        .cmd(&["login", name, "--timeout", "60"])
        .env("LATCHKEY_TEST_LOGIN", login)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "login {name}: {}", stderr(&out));
}

/// The account's current access token, read without refreshing (`--min-ttl 0`).
fn current_token(sb: &Sandbox, name: &str) -> String {
    sb.ok(&["token", name, "--min-ttl", "0"]).trim().to_string()
}

/// A home directory of its own for the tools (git's global config, ~/.docker, ~/.kube).
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    /// Applies this home (and no system git config) to a command.
    fn apply<'a>(&self, c: &'a mut Command) -> &'a mut Command {
        c.env("HOME", self.path())
            .env_remove("GIT_CONFIG_GLOBAL")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("DOCKER_CONFIG")
            .env_remove("KUBECONFIG")
            .env_remove("LATCHKEY_ACCOUNT")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
    }
    fn latchkey(&self, sb: &Sandbox, args: &[&str]) -> Output {
        let mut c = sb.cmd(args);
        self.apply(&mut c).output().unwrap()
    }
    fn latchkey_ok(&self, sb: &Sandbox, args: &[&str]) -> String {
        let out = self.latchkey(sb, args);
        assert_eq!(
            code(&out),
            0,
            "latchkey {args:?}: {}\n{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }
    fn git(&self, sb: &Sandbox, cwd: &Path, args: &[&str]) -> Output {
        let mut c = Command::new("git");
        c.args(args)
            .current_dir(cwd)
            .env("LATCHKEY_CONFIG_DIR", sb.config_dir())
            .env_remove("LATCHKEY_LOG")
            .stdin(Stdio::null());
        for (k, v) in &sb.env {
            c.env(k, v);
        }
        self.apply(&mut c).output().unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// git: a smart-HTTP server (git http-backend as CGI) that accepts only active tokens
// ---------------------------------------------------------------------------------------------

#[test]
fn git_clone_and_fetch_pick_the_account_by_path_and_erase_forces_one_refresh() {
    let p = provider(600);
    let sb = Sandbox::new(BIN);
    let home = Home::new();
    add_and_login(&sb, &p, "acct-a", "alice");
    add_and_login(&sb, &p, "acct-b", "bob");
    let server = GitServer::start(p.clone());
    server.repo("org-a/repo.git", "from a\n");
    server.repo("org-b/repo.git", "from b\n");
    let host = format!("http://127.0.0.1:{}", server.port);

    // Set-up: prints what it changes, is idempotent, and --dry-run changes nothing.
    let dry = home.latchkey_ok(
        &sb,
        &[
            "setup",
            "git",
            "acct-a",
            "--host",
            &host,
            "--path",
            "org-a",
            "--dry-run",
        ],
    );
    assert!(dry.contains("Would change"), "{dry}");
    assert!(
        !home.path().join(".gitconfig").exists(),
        "dry run wrote nothing"
    );
    let first = home.latchkey_ok(
        &sb,
        &["setup", "git", "acct-a", "--host", &host, "--path", "org-a"],
    );
    assert!(first.contains("+ rule 127.0.0.1:"), "{first}");
    assert!(first.contains(".helper"), "{first}");
    let again = home.latchkey_ok(
        &sb,
        &["setup", "git", "acct-a", "--host", &host, "--path", "org-a"],
    );
    assert!(again.contains("Nothing to change"), "{again}");
    home.latchkey_ok(
        &sb,
        &["setup", "git", "acct-b", "--host", &host, "--path", "org-b"],
    );
    let gitconfig = std::fs::read_to_string(home.path().join(".gitconfig")).unwrap();
    assert_eq!(
        gitconfig.matches("git-credential").count(),
        1,
        "{gitconfig}"
    );
    assert!(gitconfig.contains("useHttpPath = true"), "{gitconfig}");

    // `which` explains the choice.
    let out = home.latchkey(&sb, &["which", &server.url("org-b/repo.git")]);
    assert_eq!(stdout(&out).trim(), "acct-b");
    assert!(stderr(&out).contains("rule 127.0.0.1:"), "{}", stderr(&out));

    // Two accounts on one host, picked by path prefix.
    let work = tempfile::tempdir().unwrap();
    for (org, acct, content) in [
        ("org-a", "acct-a", "from a\n"),
        ("org-b", "acct-b", "from b\n"),
    ] {
        let out = home.git(
            &sb,
            work.path(),
            &["clone", "-q", &server.url(&format!("{org}/repo.git")), org],
        );
        assert_eq!(code(&out), 0, "clone {org}: {}", stderr(&out));
        assert_eq!(
            std::fs::read_to_string(work.path().join(org).join("file")).unwrap(),
            content
        );
        let token = current_token(&sb, acct);
        let seen = server.seen();
        let for_org: Vec<_> = seen
            .iter()
            .filter(|s| s.0.starts_with(&format!("/{org}/")))
            .collect();
        assert!(!for_org.is_empty());
        assert!(
            for_org.iter().all(|s| s.2 == token && s.3),
            "{org} was fetched with {acct}'s token only"
        );
        // Generic OIDC provider: the username is the account's identity.
        assert!(
            for_org
                .iter()
                .all(|s| s.1.contains(if org == "org-a" { "alice" } else { "bob" })),
            "{for_org:?}"
        );
    }
    assert_eq!(
        p.count("grant.success", Some("refresh_token")),
        0,
        "tokens were fresh: no refresh"
    );

    // The server stops accepting the token: git erases it, fails once, and the next fetch
    // refreshes once and works. The account stays signed in.
    let old = current_token(&sb, "acct-a");
    server.deny.lock().unwrap().push(old.clone());
    let out = home.git(&sb, &work.path().join("org-a"), &["fetch", "-q"]);
    assert_ne!(code(&out), 0, "the revoked token is refused");
    assert!(
        sb.accounts_toml().contains("token_rejected_at"),
        "erase left the marker"
    );
    let out = home.git(&sb, &work.path().join("org-a"), &["fetch", "-q"]);
    assert_eq!(code(&out), 0, "fetch after erase: {}", stderr(&out));
    assert_eq!(
        p.count("grant.success", Some("refresh_token")),
        1,
        "one refresh"
    );
    let new = current_token(&sb, "acct-a");
    assert_ne!(new, old);
    assert_eq!(server.seen().last().unwrap().2, new);
    let out = home.git(&sb, &work.path().join("org-a"), &["fetch", "-q"]);
    assert_eq!(code(&out), 0);
    assert_eq!(
        p.count("grant.success", Some("refresh_token")),
        1,
        "only one refresh per erase"
    );
    assert!(sb.ok(&["status", "acct-a"]).contains("Signed in"));

    // Undo takes the rule out; the helper stays while acct-b's rule needs it, then goes.
    let out = home.latchkey_ok(
        &sb,
        &[
            "setup", "git", "acct-a", "--host", &host, "--path", "org-a", "--undo",
        ],
    );
    assert!(out.contains("- rule"), "{out}");
    assert!(
        std::fs::read_to_string(home.path().join(".gitconfig"))
            .unwrap()
            .contains("git-credential")
    );
    home.latchkey_ok(
        &sb,
        &[
            "setup", "git", "acct-b", "--host", &host, "--path", "org-b", "--undo",
        ],
    );
    let gitconfig = std::fs::read_to_string(home.path().join(".gitconfig")).unwrap();
    assert!(!gitconfig.contains("git-credential"), "{gitconfig}");
    assert!(!sb.accounts_toml().contains("[[rule]]"));
}

#[test]
fn git_fetch_after_the_access_token_expired_refreshes() {
    let p = provider(3);
    let sb = Sandbox::new(BIN);
    let home = Home::new();
    add_and_login(&sb, &p, "short", "alice");
    let server = GitServer::start(p.clone());
    server.repo("team/app.git", "x\n");
    home.latchkey_ok(
        &sb,
        &[
            "setup",
            "git",
            "short",
            "--host",
            &format!("http://127.0.0.1:{}", server.port),
        ],
    );
    let work = tempfile::tempdir().unwrap();
    let out = home.git(
        &sb,
        work.path(),
        &["clone", "-q", &server.url("team/app.git"), "app"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let used = server.seen().last().unwrap().2.clone();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        p.introspect(&used)["active"],
        false,
        "the token has expired"
    );
    let before = p.count("grant.success", Some("refresh_token"));
    let out = home.git(&sb, &work.path().join("app"), &["fetch", "-q"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(p.count("grant.success", Some("refresh_token")) > before);
    let last = server.seen().last().unwrap().clone();
    assert!(last.3, "the fetch was served with an active token");
    assert_ne!(last.2, used);
    assert!(p.grant_errors().is_empty(), "{:?}", p.grant_errors());
}

#[test]
fn git_credential_protocol_edges() {
    let p = provider(600);
    let sb = Sandbox::new(BIN);
    let home = Home::new();
    add_and_login(&sb, &p, "gh", "alice");
    home.latchkey_ok(&sb, &["setup", "git", "gh", "--host", "git.example.test"]);
    let helper = |input: &str, action: &str| {
        let mut c = sb.cmd(&["git-credential", action]);
        home.apply(&mut c);
        output_with_stdin(&mut c, input)
    };
    // A full answer: username, password (the access token), expiry; never a refresh token.
    let out = helper(
        "protocol=https\nhost=git.example.test\npath=x/y.git\ncapability[]=authtype\nwwwauth[]=Basic realm=\"x\"\nunknown=1\n\n",
        "get",
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let answer = stdout(&out);
    let token = current_token(&sb, "gh");
    assert!(answer.contains(&format!("password={token}\n")), "{answer}");
    assert!(answer.contains("username=alice"), "{answer}");
    let expiry: i64 = answer
        .lines()
        .find_map(|l| l.strip_prefix("password_expiry_utc="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(expiry > time::OffsetDateTime::now_utc().unix_timestamp());
    assert!(!answer.contains("refresh"), "{answer}");
    assert_eq!(answer.lines().count(), 3, "{answer}");
    // A Bearer-only server and git's authtype capability: a Bearer credential.
    let out = helper(
        "protocol=https\nhost=git.example.test\ncapability[]=authtype\nwwwauth[]=Bearer realm=\"x\"\n\n",
        "get",
    );
    assert!(
        stdout(&out).contains(&format!("authtype=Bearer\ncredential={token}\n")),
        "{}",
        stdout(&out)
    );
    // Truncated input (no blank line, no final newline) still works.
    let out = helper("protocol=https\nhost=git.example.test", "get");
    assert!(stdout(&out).contains("password="), "{}", stderr(&out));
    // No rule: nothing at all, exit 0, so git asks its next helper.
    let out = helper("protocol=https\nhost=elsewhere.test\n\n", "get");
    assert_eq!((code(&out), stdout(&out).as_str()), (0, ""));
    // Plain http to a remote host: no token.
    let out = helper("protocol=http\nhost=git.example.test\n\n", "get");
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("use https"));
    // Malformed: a clear error, nothing on stdout, the value never echoed.
    let out = helper(
        "protocol=https\nhost=git.example.test\nsecret-without-equals\n\n",
        "get",
    );
    assert_eq!(code(&out), 2);
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("malformed line"), "{}", stderr(&out));
    // store is accepted and changes nothing.
    let before = sb.accounts_toml();
    let out = helper(
        &format!("protocol=https\nhost=git.example.test\nusername=alice\npassword={token}\n\n"),
        "store",
    );
    assert_eq!(code(&out), 0);
    assert_eq!(sb.accounts_toml(), before);
    // LATCHKEY_ACCOUNT naming an unknown account: a clear error.
    let mut c = sb.cmd(&["git-credential", "get"]);
    home.apply(&mut c).env("LATCHKEY_ACCOUNT", "nobody");
    let out = output_with_stdin(&mut c, "protocol=https\nhost=git.example.test\n\n");
    assert_ne!(code(&out), 0);
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("LATCHKEY_ACCOUNT is set selects the account `nobody`"),
        "{}",
        stderr(&out)
    );
    // Signed out: one line, exit 3, nothing on stdout.
    sb.ok(&["logout", "gh"]);
    let out = helper("protocol=https\nhost=git.example.test\n\n", "get");
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("latchkey login gh"));
}

#[test]
fn setup_git_refuses_a_malformed_or_read_only_gitconfig() {
    use std::os::unix::fs::PermissionsExt;
    require_secret_service();
    let sb = Sandbox::new(BIN);
    let home = Home::new();
    // An account is needed; no sign-in for this test.
    sb.ok(&[
        "add",
        "m",
        "--provider",
        "manual",
        "--auth-url",
        "http://127.0.0.1:9/a",
        "--token-url",
        "http://127.0.0.1:9/t",
        "--client-id",
        "c",
    ]);
    let cfg = home.path().join(".gitconfig");
    std::fs::write(&cfg, "[user\n\tname = broken").unwrap();
    let out = home.latchkey(&sb, &["setup", "git", "m", "--host", "h.test"]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains(".gitconfig"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        "[user\n\tname = broken"
    );
    assert!(!sb.accounts_toml().contains("[[rule]]"));
    std::fs::write(&cfg, "[user]\n\tname = T\n").unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o444)).unwrap();
    let out = home.latchkey(&sb, &["setup", "git", "m", "--host", "h.test"]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        "[user]\n\tname = T\n"
    );
}

// ---------------------------------------------------------------------------------------------
// Docker credential helper protocol
// ---------------------------------------------------------------------------------------------

#[test]
fn docker_credential_helper_speaks_the_protocol() {
    use std::os::unix::fs::PermissionsExt;
    let p = provider(600);
    let mut sb = Sandbox::new(BIN);
    let home = Home::new();
    add_and_login(&sb, &p, "reg", "alice");
    // Docker runs `docker-credential-latchkey` from PATH: the same binary under that name.
    let bin_dir = tempfile::tempdir().unwrap();
    let helper_path = bin_dir.path().join("docker-credential-latchkey");
    std::os::unix::fs::symlink(BIN, &helper_path).unwrap();
    sb.env.push((
        "PATH".into(),
        format!(
            "{}:{}",
            bin_dir.path().display(),
            std::env::var("PATH").unwrap()
        ),
    ));

    // setup docker: credHelpers entry, other keys kept.
    let docker_dir = home.path().join(".docker");
    std::fs::create_dir_all(&docker_dir).unwrap();
    let cfg = docker_dir.join("config.json");
    std::fs::write(&cfg, r#"{"auths":{"other.test":{"auth":"eA=="}},"credHelpers":{"gcr.io":"gcloud"},"psFormat":"x"}"#).unwrap();
    let out = home.latchkey_ok(
        &sb,
        &[
            "setup",
            "docker",
            "reg",
            "--registry",
            "registry.example.test:5000",
        ],
    );
    assert!(out.contains("credHelpers"), "{out}");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    assert_eq!(doc["credHelpers"]["registry.example.test:5000"], "latchkey");
    assert_eq!(doc["credHelpers"]["gcr.io"], "gcloud");
    assert_eq!(doc["auths"]["other.test"]["auth"], "eA==");
    assert_eq!(doc["psFormat"], "x");
    assert!(
        home.latchkey_ok(
            &sb,
            &[
                "setup",
                "docker",
                "reg",
                "--registry",
                "registry.example.test:5000"
            ]
        )
        .contains("Nothing to change")
    );

    // As the Docker CLI drives a helper: the action as argument, the server URL on stdin.
    let run = |action: &str, input: &str| {
        let mut c = Command::new(&helper_path);
        c.arg(action).env("LATCHKEY_CONFIG_DIR", sb.config_dir());
        home.apply(&mut c);
        output_with_stdin(&mut c, input)
    };
    let out = run("get", "registry.example.test:5000\n");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let creds: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let token = creds["Secret"].as_str().unwrap();
    assert_eq!(creds["ServerURL"], "registry.example.test:5000");
    assert_eq!(creds["Username"], "alice");
    assert_eq!(p.introspect(token)["active"], true);
    // A full URL, as Docker passes for some registries.
    let out = run("get", "https://registry.example.test:5000/v2/");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // An explicit http:// server gets no token (as git: https, http only to loopback), nor a
    // path the rules refuse.
    let out = run("get", "http://registry.example.test:5000");
    assert_ne!(code(&out), 0);
    assert!(!stdout(&out).contains("Secret"), "{}", stdout(&out));
    assert!(stdout(&out).contains("use https"), "{}", stdout(&out));
    let out = run("get", "https://registry.example.test:5000/team/%2e%2e/x");
    assert_ne!(code(&out), 0);
    assert!(!stdout(&out).contains("Secret"), "{}", stdout(&out));
    assert!(stdout(&out).contains("sends no token"), "{}", stdout(&out));
    // Unknown registry: exactly the protocol's message.
    let out = run("get", "other.test");
    assert_eq!(code(&out), 1);
    assert_eq!(stdout(&out), "credentials not found in native keychain\n");
    let out = run("list", "");
    let list: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(list, json!({"registry.example.test:5000": "alice"}));
    // erase: the next get refreshes once.
    let out = run("erase", "registry.example.test:5000");
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let out = run("get", "registry.example.test:5000");
    let creds2: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_ne!(creds2["Secret"], creds["Secret"]);
    assert_eq!(p.count("grant.success", Some("refresh_token")), 1);
    // store keeps no password and says why.
    let out = run(
        "store",
        r#"{"ServerURL":"registry.example.test:5000","Username":"u","Secret":"pw"}"#,
    );
    assert_ne!(code(&out), 0);
    assert!(
        stdout(&out).contains("stores no registry passwords"),
        "{}",
        stdout(&out)
    );
    let out = run("store", "{not json");
    assert_ne!(code(&out), 0);
    assert!(stdout(&out).contains("JSON"), "{}", stdout(&out));
    // A malformed or read-only config.json is never rewritten.
    std::fs::write(&cfg, "{\"auths\": ").unwrap();
    let out = home.latchkey(&sb, &["setup", "docker", "reg", "--registry", "r2.test"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("config.json") && stderr(&out).contains("not valid JSON"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), "{\"auths\": ");
    std::fs::write(&cfg, "{}").unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o444)).unwrap();
    let out = home.latchkey(&sb, &["setup", "docker", "reg", "--registry", "r2.test"]);
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), "{}");
    assert!(!sb.accounts_toml().contains("r2.test"));
    // Needs sign-in: a reason (not a credential) and exit 3.
    sb.ok(&["logout", "reg"]);
    let out = run("get", "registry.example.test:5000");
    assert_eq!(code(&out), 3);
    assert!(serde_json::from_str::<Value>(&stdout(&out)).is_err());
    assert!(stdout(&out).contains("needs sign-in"), "{}", stdout(&out));
}

// ---------------------------------------------------------------------------------------------
// kubectl against a small HTTPS API endpoint
// ---------------------------------------------------------------------------------------------

/// The cluster's API: every request gets 200 `{"kind":"Status","status":"Success"}` if its
/// bearer token is active at the provider, else 401.
fn start_api(p: Arc<Provider>) -> BearerApi {
    BearerApi::start(p, |_, ok| {
        let (status, body) = if ok {
            (
                "200 OK",
                r#"{"kind":"Status","apiVersion":"v1","status":"Success","message":"hello from the test API"}"#,
            )
        } else {
            (
                "401 Unauthorized",
                r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","code":401}"#,
            )
        };
        Reply {
            status,
            content_type: "application/json",
            headers: "",
            body: body.as_bytes().to_vec(),
        }
    })
}

/// kubectl from PATH; a test that needs it fails (never skips) when it is missing.
fn kubectl_path() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("kubectl"))
                .find(|k| k.exists())
        })
        .expect("kubectl is not installed (scripts/install-deps.sh test installs it where an apt repository offers it; else put a kubectl >= 1.26 on PATH)")
}

/// `KUBERNETES_EXEC_INFO` as kubectl writes it with `provideClusterInfo: true`.
fn exec_info(server: &str, interactive: bool) -> String {
    json!({"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":interactive,"cluster":{"server":server,"insecure-skip-tls-verify":true}}}).to_string()
}

/// Runs kubectl with `context` of the kubeconfig `k`.
fn kubectl_run(sb: &Sandbox, home: &Home, k: &str, context: &str, args: &[&str]) -> Output {
    let mut c = Command::new(kubectl_path());
    c.args(["--kubeconfig", k, "--context", context])
        .args(args)
        .env("LATCHKEY_CONFIG_DIR", sb.config_dir())
        .stdin(Stdio::null());
    home.apply(&mut c).output().unwrap()
}

#[test]
fn kubectl_gets_an_exec_credential_and_needs_an_interactive_session_to_sign_in() {
    let kubectl = kubectl_path();
    let p = provider(600);
    let sb = Sandbox::new(BIN);
    let home = Home::new();
    add_and_login(&sb, &p, "kube", "alice");
    let api = start_api(p.clone());
    let port = api.port;
    let kubeconfig = home.path().join("kubeconfig");
    let original = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: other\n  context: {{cluster: test, user: other}}\ncurrent-context: other\nusers:\n- name: other\n  user: {{token: not-this-one}}\n"
    );
    std::fs::write(&kubeconfig, &original).unwrap();
    let k = kubeconfig.to_str().unwrap();
    let out = home.latchkey_ok(
        &sb,
        &[
            "setup",
            "kubectl",
            "kube",
            "--cluster",
            "test",
            "--kubeconfig",
            k,
        ],
    );
    assert!(out.contains("+ users: latchkey-kube@test"), "{out}");
    let doc: Value =
        serde_norway::from_str(&std::fs::read_to_string(&kubeconfig).unwrap()).unwrap();
    assert_eq!(doc["current-context"], "other", "other entries untouched");
    assert_eq!(doc["users"][0]["user"]["token"], "not-this-one");
    assert_eq!(
        doc["users"][1]["user"]["exec"]["interactiveMode"],
        "IfAvailable"
    );
    assert!(
        home.latchkey_ok(
            &sb,
            &[
                "setup",
                "kubectl",
                "kube",
                "--cluster",
                "test",
                "--kubeconfig",
                k
            ]
        )
        .contains("Nothing to change")
    );

    let kube = |args: &[&str]| {
        let mut c = Command::new(&kubectl);
        c.args(["--kubeconfig", k, "--context", "latchkey-kube@test"])
            .args(args)
            .env("LATCHKEY_CONFIG_DIR", sb.config_dir())
            .stdin(Stdio::null());
        home.apply(&mut c).output().unwrap()
    };
    let out = kube(&["get", "--raw", "/api/v1/namespaces/default/pods"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("hello from the test API"),
        "{}",
        stdout(&out)
    );
    let token = current_token(&sb, "kube");
    let seen_now = api.bearers();
    assert!(
        seen_now.iter().any(|(t, ok)| t == &token && *ok),
        "kubectl sent the account's token"
    );

    // The plugin answers in the apiVersion kubectl asks for.
    for version in [
        "client.authentication.k8s.io/v1",
        "client.authentication.k8s.io/v1beta1",
    ] {
        let out = sb
            .cmd(&["kubectl-credential", "kube"])
            .env(
                "KUBERNETES_EXEC_INFO",
                json!({"kind":"ExecCredential","apiVersion":version,"spec":{"interactive":false,"cluster":{"server":format!("https://127.0.0.1:{port}")}}})
                    .to_string(),
            )
            .output()
            .unwrap();
        let cred: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(cred["apiVersion"], version);
        assert_eq!(cred["kind"], "ExecCredential");
        assert_eq!(cred["status"]["token"], token.as_str());
        assert!(
            cred["status"]["expirationTimestamp"]
                .as_str()
                .unwrap()
                .ends_with('Z')
        );
    }

    // Signed out, and kubectl is not interactive (stdin is not a terminal): a clear error, exit
    // 3 from the plugin, no sign-in attempted, nothing taken for a credential.
    sb.ok(&["logout", "kube"]);
    let authorizations = p.count("authorization.success", None);
    let out = kube(&["get", "--raw", "/api/v1/namespaces/default/pods"]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("needs sign-in"), "{}", stderr(&out));
    assert_eq!(p.count("authorization.success", None), authorizations);
    let server = format!("https://127.0.0.1:{port}");
    let out = sb
        .cmd(&["kubectl-credential", "kube"])
        .env("KUBERNETES_EXEC_INFO", exec_info(&server, false))
        .output()
        .unwrap();
    assert_eq!(code(&out), 3);
    assert_eq!(stdout(&out), "");
    // Interactive: the plugin signs in (browser), with its messages on stderr only.
    let out = sb
        .cmd(&["kubectl-credential", "kube"])
        .env("KUBERNETES_EXEC_INFO", exec_info(&server, true))
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let cred: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        p.introspect(cred["status"]["token"].as_str().unwrap())["active"],
        true
    );

    // Undo restores the file's entries.
    home.latchkey_ok(
        &sb,
        &[
            "setup",
            "kubectl",
            "kube",
            "--cluster",
            "test",
            "--kubeconfig",
            k,
            "--undo",
        ],
    );
    let back: Value =
        serde_norway::from_str(&std::fs::read_to_string(&kubeconfig).unwrap()).unwrap();
    assert_eq!(back, serde_norway::from_str::<Value>(&original).unwrap());
    // A malformed kubeconfig is never rewritten.
    std::fs::write(&kubeconfig, "clusters: [unclosed\n").unwrap();
    let out = home.latchkey(
        &sb,
        &[
            "setup",
            "kubectl",
            "kube",
            "--cluster",
            "test",
            "--kubeconfig",
            k,
        ],
    );
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("not valid YAML"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&kubeconfig).unwrap(),
        "clusters: [unclosed\n"
    );
}

// ---------------------------------------------------------------------------------------------
// latchkey exec
// ---------------------------------------------------------------------------------------------

#[test]
fn exec_passes_the_token_in_the_environment_and_status_and_signals_through() {
    use std::os::unix::process::ExitStatusExt;
    let p = provider(600);
    let sb = Sandbox::new(BIN);
    add_and_login(&sb, &p, "ex", "alice");
    let token = current_token(&sb, "ex");

    // The token in the environment (default and --env names), the expiry beside it; the
    // command's own argv and ours never hold it.
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "printf %s \"$LATCHKEY_ACCESS_TOKEN\" > {d}/default; printf %s \"$MY_TOKEN\" > {d}/mine; printf %s \"$LATCHKEY_ACCESS_TOKEN_EXPIRES_AT\" > {d}/exp; tr '\\0' ' ' < /proc/$$/cmdline > {d}/cmdline; exit 7",
        d = dir.path().display()
    );
    let out = sb.run(&[
        "exec",
        "ex",
        "--env",
        "LATCHKEY_ACCESS_TOKEN",
        "--env",
        "MY_TOKEN",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(code(&out), 7, "the command's exit status: {}", stderr(&out));
    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
    assert_eq!(read("default"), token);
    assert_eq!(read("mine"), token);
    assert!(
        time::OffsetDateTime::parse(&read("exp"), &time::format_description::well_known::Rfc3339)
            .is_ok()
    );
    assert!(!read("cmdline").contains(&token));
    assert!(
        read("cmdline").starts_with("sh -c"),
        "latchkey became the command (same pid): {}",
        read("cmdline")
    );

    // A command killed by SIGTERM: the caller sees that signal (a shell shows 143).
    let out = sb.run(&["exec", "ex", "--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(out.status.signal(), Some(15), "{out:?}");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "\"{BIN}\" exec ex -- sh -c 'kill -TERM $$'; echo \"status=$?\""
        ))
        .env("LATCHKEY_CONFIG_DIR", sb.config_dir())
        .output()
        .unwrap();
    assert!(stdout(&out).contains("status=143"), "{}", stdout(&out));

    // Ctrl-C (SIGINT to the process latchkey started as) reaches the command.
    let mut child = sb
        .cmd(&[
            "exec",
            "ex",
            "--",
            "sh",
            "-c",
            "trap 'echo got-int; exit 42' INT; echo ready; while :; do sleep 0.1; done",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(
        !String::from_utf8_lossy(&cmdline).contains(&token),
        "no token in any argv"
    );
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(
        String::from_utf8_lossy(&environ).contains(&token),
        "the token is in the environment"
    );
    assert!(
        Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(lines.next().unwrap().unwrap(), "got-int");
    assert_eq!(child.wait().unwrap().code(), Some(42));

    // A missing command: 127; a bad variable name: usage error; signed out: exit 3 and the
    // command does not run.
    assert_eq!(
        code(&sb.run(&["exec", "ex", "--", "/nonexistent/cmd"])),
        127
    );
    assert_eq!(
        code(&sb.run(&["exec", "ex", "--env", "1BAD", "--", "true"])),
        2
    );
    sb.ok(&["logout", "ex"]);
    let marker = dir.path().join("ran");
    let out = sb.run(&["exec", "ex", "--", "touch", marker.to_str().unwrap()]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(!marker.exists());
}

#[test]
fn which_explains_the_choice_and_latchkey_account_overrides() {
    require_secret_service();
    let sb = Sandbox::new(BIN);
    let home = Home::new();
    for n in ["a", "b"] {
        sb.ok(&[
            "add",
            n,
            "--provider",
            "manual",
            "--auth-url",
            "http://127.0.0.1:9/a",
            "--token-url",
            "http://127.0.0.1:9/t",
            "--client-id",
            "c",
        ]);
    }
    home.latchkey_ok(&sb, &["setup", "git", "a", "--host", "code.test"]);
    home.latchkey_ok(
        &sb,
        &["setup", "git", "b", "--host", "code.test", "--path", "team"],
    );
    let out = home.latchkey(&sb, &["which", "https://code.test/team/x.git"]);
    assert_eq!(stdout(&out).trim(), "b");
    assert!(
        stderr(&out).contains("the most specific of 2 matching rules"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        stdout(&home.latchkey(&sb, &["which", "https://code.test/teams/x.git"])).trim(),
        "a"
    );
    let j: Value =
        serde_json::from_str(&home.latchkey_ok(&sb, &["which", "code.test/team", "--json"]))
            .unwrap();
    assert_eq!(j["account"], "b");
    let mut c = sb.cmd(&["which", "https://code.test/team/x.git"]);
    let out = home
        .apply(&mut c)
        .env("LATCHKEY_ACCOUNT", "a")
        .output()
        .unwrap();
    assert_eq!(stdout(&out).trim(), "a");
    assert!(
        stderr(&out).contains("LATCHKEY_ACCOUNT"),
        "{}",
        stderr(&out)
    );
    let out = home.latchkey(&sb, &["which", "https://nowhere.test/"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("no rule matches nowhere.test"),
        "{}",
        stderr(&out)
    );
}

// ---------------------------------------------------------------------------------------------
// Rules with a token spec (issue 11): the tools get the token for exactly that API
// ---------------------------------------------------------------------------------------------

const RES_A: &str = "https://a.api.test";
const RES_B: &str = "https://b.api.test";

#[test]
fn rules_and_kubeconfig_args_with_a_resource_give_the_tools_that_token() {
    require_secret_service();
    let p = Arc::new(Provider::start_merged(
        json!({"accessTokenTtl": 600, "resourceIndicators": true}),
        json!({}),
    ));
    let sb = Sandbox::new(BIN);
    let home = Home::new();
    sb.ok(&[
        "add",
        "api",
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
        "--scope",
        "openid offline_access api:read api:write",
        "--resource",
        RES_A,
        "--resource",
        RES_B,
    ]);
    sb.ok(&["login", "api", "--timeout", "60"]);
    let own = current_token(&sb, "api");

    // git: a rule for the host (own token) and one for team/ with resource A.
    home.latchkey_ok(&sb, &["setup", "git", "api", "--host", "git.example.test"]);
    let out = home.latchkey_ok(
        &sb,
        &[
            "setup",
            "git",
            "api",
            "--host",
            "git.example.test",
            "--path",
            "team",
            "--resource",
            RES_A,
        ],
    );
    assert!(
        out.contains(&format!(
            "+ rule git.example.test/team → api (the token for resource {RES_A})"
        )),
        "{out}"
    );
    let accounts = std::fs::read_to_string(sb.config_dir().join("accounts.toml")).unwrap();
    assert!(
        accounts.contains(&format!("resources = [\"{RES_A}\"]")),
        "{accounts}"
    );
    let which = home.latchkey(&sb, &["which", "https://git.example.test/team/x.git"]);
    assert_eq!(stdout(&which).trim(), "api");
    assert!(
        stderr(&which).contains(&format!("; the token for resource {RES_A}")),
        "{}",
        stderr(&which)
    );
    let which: Value = serde_json::from_str(&home.latchkey_ok(
        &sb,
        &["which", "https://git.example.test/team/x.git", "--json"],
    ))
    .unwrap();
    assert_eq!(which["spec"]["resources"], json!([RES_A]), "{which}");
    let which: Value = serde_json::from_str(&home.latchkey_ok(
        &sb,
        &["which", "https://git.example.test/other/x.git", "--json"],
    ))
    .unwrap();
    assert_eq!(which["spec"], json!({}), "{which}");

    let git_password = |path: &str| {
        let mut c = sb.cmd(&["git-credential", "get"]);
        home.apply(&mut c);
        let out = output_with_stdin(
            &mut c,
            &format!("protocol=https\nhost=git.example.test\npath={path}\n\n"),
        );
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        stdout(&out)
            .lines()
            .find_map(|l| l.strip_prefix("password=").map(str::to_string))
            .unwrap()
    };
    let team = git_password("team/x.git");
    assert_ne!(team, own);
    let info = p.introspect(&team);
    assert_eq!(
        (info["active"].clone(), info["aud"].clone()),
        (json!(true), json!(RES_A)),
        "{info}"
    );
    assert_eq!(
        git_password("other/x.git"),
        own,
        "the rule without a spec: own token"
    );
    // The same cache as `latchkey token --resource`: no second token request.
    let before = p.count("token.request", None);
    assert_eq!(git_password("team/y.git"), team);
    assert_eq!(
        sb.ok(&["token", "api", "--resource", RES_A]).trim(),
        team.as_str()
    );
    assert_eq!(p.count("token.request", None), before);

    // Setting the path up again with another resource replaces the rule.
    let out = home.latchkey_ok(
        &sb,
        &[
            "setup",
            "git",
            "api",
            "--host",
            "git.example.test",
            "--path",
            "team",
            "--resource",
            RES_B,
        ],
    );
    assert!(
        out.contains(&format!(
            "~ rule git.example.test/team → api (the token for resource {RES_B}) (was git.example.test/team → api (the token for resource {RES_A}))"
        )),
        "{out}"
    );
    let b = git_password("team/x.git");
    assert_eq!(p.introspect(&b)["aud"], RES_B);
    // --undo without the options removes the rule whatever its spec.
    let out = home.latchkey_ok(
        &sb,
        &[
            "setup",
            "git",
            "api",
            "--host",
            "git.example.test",
            "--path",
            "team",
            "--undo",
        ],
    );
    assert!(out.contains("- rule git.example.test/team → api"), "{out}");
    assert_eq!(git_password("team/x.git"), own);

    // A bad spec is refused before anything changes.
    let out = home.latchkey(
        &sb,
        &[
            "setup",
            "git",
            "api",
            "--host",
            "git.example.test",
            "--resource",
            "not a uri",
        ],
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not an absolute URI"),
        "{}",
        stderr(&out)
    );

    // Docker: the credential helper (the same binary under its name) answers with the token
    // the registry's rule names.
    let bin_dir = tempfile::tempdir().unwrap();
    let helper_path = bin_dir.path().join("docker-credential-latchkey");
    std::os::unix::fs::symlink(BIN, &helper_path).unwrap();
    std::fs::create_dir_all(home.path().join(".docker")).unwrap();
    let out = home.latchkey_ok(
        &sb,
        &[
            "setup",
            "docker",
            "api",
            "--registry",
            "registry.example.test:5000",
            "--resource",
            RES_A,
        ],
    );
    assert!(
        out.contains(&format!(
            "+ rule registry.example.test:5000 → api (the token for resource {RES_A})"
        )),
        "{out}"
    );
    let mut c = Command::new(&helper_path);
    c.arg("get").env("LATCHKEY_CONFIG_DIR", sb.config_dir());
    home.apply(&mut c);
    let out = output_with_stdin(&mut c, "registry.example.test:5000\n");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let creds: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        creds["Secret"],
        team.as_str(),
        "the cached token for resource A"
    );

    // kubectl: the exec plugin's args carry the resource; real kubectl sends that token.
    let kubectl = kubectl_path();
    let api = start_api(p.clone());
    let port = api.port;
    let kubeconfig = home.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\n"
        ),
    )
    .unwrap();
    let k = kubeconfig.to_str().unwrap();
    home.latchkey_ok(
        &sb,
        &[
            "setup",
            "kubectl",
            "api",
            "--cluster",
            "test",
            "--kubeconfig",
            k,
            "--resource",
            RES_A,
        ],
    );
    let mut c = Command::new(&kubectl);
    c.args(["--kubeconfig", k, "--context", "latchkey-api@test"])
        .args(["get", "--raw", "/api/v1/namespaces/default/pods"])
        .env("LATCHKEY_CONFIG_DIR", sb.config_dir())
        .stdin(Stdio::null());
    let out = home.apply(&mut c).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("hello from the test API"));
    let sent: Vec<(String, bool)> = api.bearers();
    assert!(!sent.is_empty());
    for (t, ok) in &sent {
        assert!(*ok);
        assert_eq!(
            p.introspect(t)["aud"],
            RES_A,
            "kubectl sent the token for resource A"
        );
        assert_eq!(
            t, &team,
            "the same cached token as git's and `token --resource`"
        );
    }
    // The plugin's own options, as in a hand-written kubeconfig.
    let out = sb
        .cmd(&["kubectl-credential", "api", "--resource", RES_B])
        .env(
            "KUBERNETES_EXEC_INFO",
            exec_info(&format!("https://127.0.0.1:{port}"), false),
        )
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let cred: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(cred["status"]["token"], b.as_str());
    assert!(p.grant_errors().is_empty(), "{:?}", p.grant_errors());
}

// ---------------------------------------------------------------------------------------------
// Issue 16: every token to the right server and the right sign-in
// ---------------------------------------------------------------------------------------------

#[test]
fn git_sends_no_org_a_token_for_a_dot_dot_path_and_which_agrees() {
    let p = provider(600);
    let sb = Sandbox::new(BIN);
    let home = Home::new();
    add_and_login(&sb, &p, "acct-a", "alice");
    let server = GitServer::start(p.clone());
    server.repo("org-a/repo.git", "from a\n");
    server.repo("org-b/repo.git", "from b\n");
    let host = format!("http://127.0.0.1:{}", server.port);
    home.latchkey_ok(
        &sb,
        &["setup", "git", "acct-a", "--host", &host, "--path", "org-a"],
    );
    let token_a = current_token(&sb, "acct-a");
    let work = tempfile::tempdir().unwrap();
    for path in [
        "org-a/%2e%2e/org-b/repo.git",
        "org-a/%2E%2E/org-b/repo.git",
        "org-a/.%2e/org-b/repo.git",
    ] {
        let out = home.git(&sb, work.path(), &["clone", "-q", &server.url(path), "x"]);
        assert_ne!(code(&out), 0, "{path}: cloned without a token?");
        assert!(
            stderr(&out).contains("sends no token"),
            "{path}: {}",
            stderr(&out)
        );
        let out = home.latchkey(&sb, &["which", &server.url(path)]);
        assert_ne!(code(&out), 0, "{path}");
        assert!(
            stderr(&out).contains("sends no token"),
            "{path}: {}",
            stderr(&out)
        );
    }
    assert!(
        !server.seen().iter().any(|(_, _, t, _)| t == &token_a),
        "acct-a's token went out for a path outside org-a: {:?}",
        server.seen()
    );
    // org-a itself still works.
    let out = home.git(
        &sb,
        work.path(),
        &["clone", "-q", &server.url("org-a/repo.git"), "a"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// A kubeconfig for `clusters` (name, server), with a comment line.
fn kubeconfig_text(clusters: &[(&str, String)]) -> String {
    let mut t = String::from("# my clusters\napiVersion: v1\nkind: Config\nclusters:\n");
    for (name, server) in clusters {
        t.push_str(&format!(
            "- name: {name}\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\n"
        ));
    }
    t
}

/// The user a kubeconfig context names.
fn context_user(kubeconfig: &Path, context: &str) -> String {
    let doc: Value = serde_norway::from_str(&std::fs::read_to_string(kubeconfig).unwrap()).unwrap();
    doc["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == context)
        .unwrap()["context"]["user"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn kubectl_each_cluster_gets_its_own_token_and_undoing_one_keeps_the_other() {
    use std::os::unix::fs::PermissionsExt;
    require_secret_service();
    let p = Arc::new(Provider::start_merged(
        json!({"accessTokenTtl": 600, "resourceIndicators": true}),
        json!({}),
    ));
    let sb = Sandbox::new(BIN);
    let home = Home::new();
    sb.ok(&[
        "add",
        "api",
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
        "--scope",
        "openid offline_access api:read",
        "--resource",
        RES_A,
        "--resource",
        RES_B,
    ]);
    sb.ok(&["login", "api", "--timeout", "60"]);
    let seen_a = start_api(p.clone());
    let pa = seen_a.port;
    let seen_b = start_api(p.clone());
    let pb = seen_b.port;
    // ~/.kube/config is a symlink into a dotfiles folder (private file).
    let dotfiles = home.path().join("dotfiles");
    std::fs::create_dir_all(&dotfiles).unwrap();
    std::fs::create_dir_all(home.path().join(".kube")).unwrap();
    let real = dotfiles.join("kubeconfig");
    std::fs::write(
        &real,
        kubeconfig_text(&[
            ("a", format!("https://127.0.0.1:{pa}")),
            ("b", format!("https://127.0.0.1:{pb}")),
        ]),
    )
    .unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = home.path().join(".kube/config");
    std::os::unix::fs::symlink("../dotfiles/kubeconfig", &link).unwrap();
    let k = link.to_str().unwrap();

    let setup = |cluster: &str, resource: Option<&str>, undo: bool| {
        let mut args = vec![
            "setup",
            "kubectl",
            "api",
            "--cluster",
            cluster,
            "--kubeconfig",
            k,
        ];
        if let Some(r) = resource {
            args.extend(["--resource", r]);
        }
        if undo {
            args.push("--undo");
        }
        let out = home.latchkey(&sb, &args);
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        out
    };
    let out = setup("a", Some(RES_A), false);
    assert!(
        stderr(&out).contains("has comments, which were not kept"),
        "{}",
        stderr(&out)
    );
    setup("b", Some(RES_B), false);
    // Written through the link: still a link, the file private, no temporary left.
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::metadata(&real).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        std::fs::read_to_string(&real)
            .unwrap()
            .contains("latchkey-api@b")
    );
    let names: Vec<String> = std::fs::read_dir(&dotfiles)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["kubeconfig"]);
    assert_ne!(
        context_user(&real, "latchkey-api@a"),
        context_user(&real, "latchkey-api@b"),
        "one user per cluster"
    );

    let audiences = |seen: &BearerApi| -> Vec<Value> {
        seen.bearers()
            .iter()
            .map(|(t, ok)| {
                assert!(*ok);
                p.introspect(t)["aud"].clone()
            })
            .collect()
    };
    for (ctx, seen, res) in [
        ("latchkey-api@a", &seen_a, RES_A),
        ("latchkey-api@b", &seen_b, RES_B),
    ] {
        let out = kubectl_run(&sb, &home, k, ctx, &["get", "--raw", "/api/v1/namespaces"]);
        assert_eq!(code(&out), 0, "{ctx}: {}", stderr(&out));
        let auds = audiences(seen);
        assert!(!auds.is_empty());
        assert!(
            auds.iter().all(|a| a == res),
            "{ctx} got {auds:?}, not {res}"
        );
    }

    // LATCHKEY_ACCOUNT without ACCOUNT: the rule for the cluster is needed and its spec kept.
    let out = sb
        .cmd(&["kubectl-credential"])
        .env("LATCHKEY_ACCOUNT", "api")
        .env(
            "KUBERNETES_EXEC_INFO",
            exec_info(&format!("https://127.0.0.1:{pa}"), false),
        )
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let cred: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        p.introspect(cred["status"]["token"].as_str().unwrap())["aud"],
        RES_A,
        "the rule's resource, not the account's own token"
    );

    // Undo b: a keeps working with its own token; b's context and user are gone.
    let out = setup("b", None, true);
    assert!(
        stdout(&out).contains("- users: latchkey-api@b"),
        "{}",
        stdout(&out)
    );
    seen_a.seen.lock().unwrap().clear();
    let out = kubectl_run(
        &sb,
        &home,
        k,
        "latchkey-api@a",
        &["get", "--raw", "/api/v1/namespaces"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let auds = audiences(&seen_a);
    assert!(
        !auds.is_empty() && auds.iter().all(|a| a == RES_A),
        "{auds:?}"
    );
    let text = std::fs::read_to_string(&real).unwrap();
    assert!(!text.contains("latchkey-api@b"), "{text}");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(p.grant_errors().len(), 0, "{:?}", p.grant_errors());
}

#[test]
fn kubectl_credential_sends_no_token_to_a_cluster_it_was_not_set_up_for() {
    let p = provider(600);
    let sb = Sandbox::new(BIN);
    let home = Home::new();
    add_and_login(&sb, &p, "kube", "alice");
    let seen_a = start_api(p.clone());
    let pa = seen_a.port;
    let seen_c = start_api(p.clone());
    let pc = seen_c.port;
    let kubeconfig = home.path().join("kubeconfig");
    let plain = "http://kube.example.test:8080";
    std::fs::write(
        &kubeconfig,
        kubeconfig_text(&[
            ("a", format!("https://127.0.0.1:{pa}")),
            ("c", format!("https://127.0.0.1:{pc}")),
            ("plain", plain.to_string()),
        ]),
    )
    .unwrap();
    let k = kubeconfig.to_str().unwrap();
    home.latchkey_ok(
        &sb,
        &[
            "setup",
            "kubectl",
            "kube",
            "--cluster",
            "a",
            "--kubeconfig",
            k,
        ],
    );

    // A plain-http cluster is refused at setup, and nothing is written.
    let before = std::fs::read_to_string(&kubeconfig).unwrap();
    let out = home.latchkey(
        &sb,
        &[
            "setup",
            "kubectl",
            "kube",
            "--cluster",
            "plain",
            "--kubeconfig",
            k,
        ],
    );
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("use https"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&kubeconfig).unwrap(), before);
    assert!(!sb.accounts_toml().contains("kube.example.test"));

    // Contexts made by hand that point the user set up for a at other clusters.
    let user = context_user(&kubeconfig, "latchkey-kube@a");
    let mut doc: Value = serde_norway::from_str(&before).unwrap();
    for (name, cluster) in [("sneaky", "c"), ("clear", "plain")] {
        doc["contexts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": name, "context": {"cluster": cluster, "user": user}}));
    }
    std::fs::write(&kubeconfig, serde_norway::to_string(&doc).unwrap()).unwrap();
    let out = kubectl_run(
        &sb,
        &home,
        k,
        "sneaky",
        &["get", "--raw", "/api/v1/namespaces"],
    );
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("was set up for the server https://127.0.0.1:")
            && stderr(&out).contains("latchkey setup kubectl kube --cluster"),
        "{}",
        stderr(&out)
    );
    assert!(seen_c.bearers().is_empty(), "cluster c saw a token");
    let out = kubectl_run(
        &sb,
        &home,
        k,
        "latchkey-kube@a",
        &["get", "--raw", "/api/v1/namespaces"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!seen_a.bearers().is_empty());

    // The plugin itself: an http:// server, or a server no rule names, gets nothing — with or
    // without ACCOUNT, with or without LATCHKEY_ACCOUNT.
    let plugin = |args: &[&str], server: &str, env: Option<&str>| {
        let mut c = sb.cmd(args);
        c.env("KUBERNETES_EXEC_INFO", exec_info(server, false));
        match env {
            Some(a) => c.env("LATCHKEY_ACCOUNT", a),
            None => c.env_remove("LATCHKEY_ACCOUNT"),
        };
        c.output().unwrap()
    };
    let unrecorded = format!("https://127.0.0.1:{pc}");
    for (args, server, env, says) in [
        (
            &["kubectl-credential", "kube"][..],
            plain,
            None,
            "use https",
        ),
        (
            &["kubectl-credential"][..],
            plain,
            Some("kube"),
            "use https",
        ),
        (
            &["kubectl-credential", "kube"][..],
            unrecorded.as_str(),
            None,
            "no latchkey rule names",
        ),
        (
            &["kubectl-credential"][..],
            unrecorded.as_str(),
            Some("kube"),
            "no latchkey rule names",
        ),
        (
            &["kubectl-credential"][..],
            unrecorded.as_str(),
            None,
            "no latchkey rule names",
        ),
    ] {
        let out = plugin(args, server, env);
        assert_eq!(code(&out), 2, "{args:?} {server} {env:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{args:?} {server}");
        let err = stderr(&out);
        assert!(err.contains(says), "{args:?} {server}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    // The same plugin for the cluster it was set up for: a token.
    let out = plugin(
        &["kubectl-credential"],
        &format!("https://127.0.0.1:{pa}"),
        None,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // An entry of the old kind (one user for every cluster, no cluster info): refused with
    // what to do, and setting the cluster up again moves it to a user of its own.
    let mut doc: Value =
        serde_norway::from_str(&std::fs::read_to_string(&kubeconfig).unwrap()).unwrap();
    doc["users"].as_array_mut().unwrap().push(json!({
        "name": "latchkey-kube",
        "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": BIN,
            "args": ["kubectl-credential", "kube"], "interactiveMode": "IfAvailable",
            "provideClusterInfo": false}}
    }));
    for c in doc["contexts"].as_array_mut().unwrap() {
        if c["name"] == "latchkey-kube@a" {
            c["context"]["user"] = json!("latchkey-kube");
        }
    }
    std::fs::write(&kubeconfig, serde_norway::to_string(&doc).unwrap()).unwrap();
    let out = kubectl_run(
        &sb,
        &home,
        k,
        "latchkey-kube@a",
        &["get", "--raw", "/api/v1/namespaces"],
    );
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("provideClusterInfo")
            && stderr(&out).contains("latchkey setup kubectl kube --cluster"),
        "{}",
        stderr(&out)
    );
    let out = home.latchkey_ok(
        &sb,
        &[
            "setup",
            "kubectl",
            "kube",
            "--cluster",
            "a",
            "--kubeconfig",
            k,
        ],
    );
    assert!(
        out.contains("~ contexts: latchkey-kube@a (updated)"),
        "{out}"
    );
    assert!(
        out.contains("- users: latchkey-kube (the user older versions shared"),
        "{out}"
    );
    let out = kubectl_run(
        &sb,
        &home,
        k,
        "latchkey-kube@a",
        &["get", "--raw", "/api/v1/namespaces"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Undo a: its context and rule go; its user stays while the hand-made contexts name it.
    let out = home.latchkey_ok(
        &sb,
        &[
            "setup",
            "kubectl",
            "kube",
            "--cluster",
            "a",
            "--kubeconfig",
            k,
            "--undo",
        ],
    );
    assert!(out.contains("- rule 127.0.0.1:"), "{out}");
    let doc: Value =
        serde_norway::from_str(&std::fs::read_to_string(&kubeconfig).unwrap()).unwrap();
    let names = |list: &str| -> Vec<String> {
        doc[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(!names("contexts").contains(&"latchkey-kube@a".to_string()));
    assert!(names("contexts").contains(&"sneaky".to_string()));
    assert_eq!(
        names("users"),
        ["latchkey-kube@a"],
        "still named by a context"
    );
    assert!(!sb.accounts_toml().contains(&format!("127.0.0.1:{pa}")));
}

/// Issue 15.3: one bearer-only rule for every tool. A DPoP-bound token is useless without a
/// proof per request and none of git, Docker, kubectl or `exec` can send one, so all of them
/// refuse it with the same error (Docker's `get` and `exec` used to hand it out); `latchkey
/// token` still prints it (for a caller that makes its own proofs).
#[test]
fn every_tool_refuses_a_dpop_bound_token_alike() {
    require_secret_service();
    let p = Provider::start(json!({"accessTokenTtl": 600, "dpop": true}));
    let sb = Sandbox::new(BIN);
    let home = Home::new();
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
    let out = sb
        .cmd(&["login", "bound", "--timeout", "60"])
        .env("LATCHKEY_TEST_LOGIN", "alice")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    home.latchkey_ok(
        &sb,
        &["setup", "git", "bound", "--host", "git.example.test"],
    );
    let printed: Value = serde_json::from_str(&sb.ok(&["token", "bound", "--json"])).unwrap();
    assert_eq!(printed["token_type"], "DPoP", "{printed}");
    let token = printed["access_token"].as_str().unwrap().to_string();
    let refused = |out: &Output, tool: &str| {
        assert_eq!(code(out), 2, "{tool}: {}", stderr(out));
        let said = format!("{}{}", stdout(out), stderr(out));
        assert!(
            said.contains(&format!(
                "account `bound` has DPoP-bound tokens, which {tool} cannot use"
            )),
            "{tool}: {said}"
        );
        assert!(!said.contains(&token), "{tool}: the token was handed out");
    };
    let mut c = sb.cmd(&["git-credential", "get"]);
    home.apply(&mut c);
    let out = output_with_stdin(&mut c, "protocol=https\nhost=git.example.test\n\n");
    refused(&out, "git");
    assert_eq!(stdout(&out), "");
    let mut c = sb.cmd(&["docker-credential", "get"]);
    home.apply(&mut c);
    refused(&output_with_stdin(&mut c, "git.example.test\n"), "Docker");
    let out = home.latchkey(
        &sb,
        &[
            "exec",
            "bound",
            "--",
            "sh",
            "-c",
            "printf %s \"$LATCHKEY_ACCESS_TOKEN\"",
        ],
    );
    refused(&out, "exec");
    assert_eq!(stdout(&out), "", "the command did not run");
}

// ---------------------------------------------------------------------------------------------
// Approval (issue 17): the real agent asks, `latchkey approve|deny` answers from another shell
// (no display), real git waits and completes or fails with Latchkey's reason.
// ---------------------------------------------------------------------------------------------

/// A `latchkey agent` on the sandbox's socket with no desktop at all (nothing but
/// `latchkey approve|deny` can answer) and the given approval timeout; killed on drop.
fn approval_agent(sb: &Sandbox, home: &Home, timeout_secs: u64) -> latchkey_testkit::Agent {
    let mut c = sb.agent_cmd(&sb.agent_socket());
    home.apply(&mut c)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("LATCHKEY_APPROVAL_TIMEOUT", timeout_secs.to_string());
    latchkey_testkit::Agent::spawn(c)
}

/// The prompts waiting, polled until `n` wait (30 s at most).
fn wait_pending(sb: &Sandbox, home: &Home, n: usize) -> Vec<Value> {
    for _ in 0..300 {
        let out = home.latchkey_ok(sb, &["pending", "--json"]);
        let list: Vec<Value> = serde_json::from_str(&out).unwrap();
        if list.len() >= n {
            return list;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no approval prompt appeared");
}

/// `cmd` started in the background, its output collected when it ends.
fn background(mut cmd: Command) -> std::thread::JoinHandle<Output> {
    std::thread::spawn(move || cmd.output().unwrap())
}

fn git_cmd(home: &Home, sb: &Sandbox, cwd: &Path, args: &[&str], new_session: bool) -> Command {
    let mut c = sb.git(home.path(), cwd, args, new_session);
    home.apply(&mut c);
    c
}

#[test]
fn approval_asks_once_per_program_and_session_and_denials_timeouts_and_locks_are_kept() {
    let p = provider(600);
    let sb = Sandbox::new(BIN);
    let home = Home::new();
    add_and_login(&sb, &p, "acct-a", "alice");
    let server = GitServer::start(p.clone());
    server.repo("org-a/repo.git", "from a\n");
    let host = format!("http://127.0.0.1:{}", server.port);
    home.latchkey_ok(
        &sb,
        &["setup", "git", "acct-a", "--host", &host, "--path", "org-a"],
    );
    let edited = home.latchkey_ok(&sb, &["edit", "acct-a", "--approval", "session"]);
    assert!(
        sb.accounts_toml().contains("approval = \"session\""),
        "{edited}"
    );
    let status = home.latchkey_ok(&sb, &["status", "acct-a"]);
    assert!(
        status.contains(
            "Approval before a hand-out: once per program and session (10m 0s idle, 12h 0m at most)"
        ),
        "{status}"
    );
    home.latchkey_ok(&sb, &["edit", "acct-a", "--approval-ttl", "5m,1h"]);
    assert!(
        home.latchkey_ok(&sb, &["status", "acct-a"])
            .contains("(5m 0s idle, 1h 0m at most)")
    );
    let bad = home.latchkey(&sb, &["edit", "acct-a", "--approval", "sometimes"]);
    assert_eq!(code(&bad), 2, "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("off, session or every-use"),
        "{}",
        stderr(&bad)
    );
    home.latchkey_ok(&sb, &["edit", "acct-a", "--approval-ttl", "10m,12h"]);
    let work = tempfile::tempdir().unwrap();
    let url = server.url("org-a/repo.git");

    // No agent: the direct path cannot ask, so it refuses (it never skips the check).
    let mut direct = git_cmd(
        &home,
        &sb,
        work.path(),
        &["clone", "-q", &url, "direct"],
        false,
    );
    direct.env("LATCHKEY_NO_AGENT", "1");
    let out = direct.output().unwrap();
    assert_ne!(code(&out), 0, "git without approval");
    assert!(
        stderr(&out).contains("asks for approval") && stderr(&out).contains("latchkey agent"),
        "{}",
        stderr(&out)
    );
    let out = home.latchkey(&sb, &["token", "acct-a"]);
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    assert!(server.seen().is_empty(), "no token reached the server");

    let _agent = approval_agent(&sb, &home, 4);

    // First clone: a prompt naming git, approved for the session from "another shell".
    let clone = background(git_cmd(
        &home,
        &sb,
        work.path(),
        &["clone", "-q", &url, "repo"],
        false,
    ));
    let pending = wait_pending(&sb, &home, 1);
    assert_eq!(pending[0]["ask"]["account"], "acct-a");
    assert_eq!(pending[0]["ask"]["tool"], "git");
    assert_eq!(pending[0]["requester"]["name"], "git", "{pending:?}");
    assert!(
        pending[0]["ask"]["target"]
            .as_str()
            .unwrap()
            .contains("org-a/repo.git"),
        "{pending:?}"
    );
    let listed = home.latchkey_ok(&sb, &["pending"]);
    assert!(
        listed.contains("asked by git (") && listed.contains("latchkey approve"),
        "{listed}"
    );
    let id = pending[0]["id"].as_str().unwrap().to_string();
    let approved = {
        let mut c = sb.cmd(&["approve", &id, "--session"]);
        home.apply(&mut c)
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY");
        let out = c.output().unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        stdout(&out)
    };
    assert!(approved.contains("Allowed for this session"), "{approved}");
    let out = clone.join().unwrap();
    assert_eq!(code(&out), 0, "clone: {}", stderr(&out));
    assert!(
        stderr(&out).contains("waiting for approval"),
        "{}",
        stderr(&out)
    );
    let repo = work.path().join("repo");

    // The same program in the same session: nothing asked.
    let out = git_cmd(&home, &sb, &repo, &["fetch", "-q"], false)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "fetch: {}", stderr(&out));
    assert!(
        !stderr(&out).contains("waiting for approval"),
        "{}",
        stderr(&out)
    );
    let grants = home.latchkey_ok(&sb, &["approvals", "--json"]);
    let grants: Value = serde_json::from_str(&grants).unwrap();
    assert_eq!(grants["sessions"].as_array().unwrap().len(), 1, "{grants}");
    assert!(
        grants["sessions"][0]["program"]
            .as_str()
            .unwrap()
            .ends_with("/git")
    );

    // Another program (this test, through `latchkey token`) asks again; Deny fails it with
    // the reason (exit 7).
    let token = background({
        let mut c = sb.cmd(&["token", "acct-a"]);
        home.apply(&mut c);
        c
    });
    let pending = wait_pending(&sb, &home, 1);
    let other = pending[0]["requester"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(other.starts_with("e2e_integrations"), "{pending:?}");
    assert_eq!(pending[0]["ask"]["tool"], "token");
    let id = pending[0]["id"].as_str().unwrap().to_string();
    home.latchkey_ok(&sb, &["deny", &id]);
    let out = token.join().unwrap();
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    assert!(stderr(&out).contains("you denied"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());

    // A caller that goes away (Ctrl-C) withdraws its prompt at once.
    let mut c = sb.cmd(&["token", "acct-a"]);
    home.apply(&mut c)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut quitter = c.spawn().unwrap();
    wait_pending(&sb, &home, 1);
    quitter.kill().unwrap();
    quitter.wait().unwrap();
    let mut withdrawn = false;
    for _ in 0..50 {
        if home.latchkey_ok(&sb, &["pending", "--json"]).trim() == "[]" {
            withdrawn = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(withdrawn, "the prompt went with its caller");

    // git in another session asks again; unanswered, it is denied at the deadline.
    let out = git_cmd(&home, &sb, &repo, &["fetch", "-q"], true)
        .output()
        .unwrap();
    assert_ne!(code(&out), 0, "an unanswered prompt is a denial");
    assert!(stderr(&out).contains("nobody approved"), "{}", stderr(&out));

    // A lock (latchkey lock) ends the session grant: the same git asks again.
    let locked = home.latchkey_ok(&sb, &["lock"]);
    assert!(
        locked.contains("1 approval session grant ended"),
        "{locked}"
    );
    let fetch = background(git_cmd(&home, &sb, &repo, &["fetch", "-q"], false));
    let pending = wait_pending(&sb, &home, 1);
    home.latchkey_ok(
        &sb,
        &["approve", pending[0]["id"].as_str().unwrap(), "--session"],
    );
    assert_eq!(code(&fetch.join().unwrap()), 0);

    // The screen locking (ActiveChanged on the session bus) ends it too.
    let sent = Command::new("dbus-send")
        .args([
            "--session",
            "--type=signal",
            "/org/freedesktop/ScreenSaver",
            "org.freedesktop.ScreenSaver.ActiveChanged",
            "boolean:true",
        ])
        .output()
        .unwrap();
    assert!(sent.status.success(), "dbus-send: {}", stderr(&sent));
    let mut ended = false;
    for _ in 0..100 {
        let a: Value =
            serde_json::from_str(&home.latchkey_ok(&sb, &["approvals", "--json"])).unwrap();
        if a["sessions"].as_array().unwrap().is_empty() {
            assert_eq!(a["last_lock"]["reason"], "the screen locked", "{a}");
            ended = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ended, "the screen lock ended the grant");

    // Remembering a program root can change is refused (the suite runs as root here); as
    // another user /usr/bin/git could be remembered.
    let fetch = background(git_cmd(&home, &sb, &repo, &["fetch", "-q"], false));
    let pending = wait_pending(&sb, &home, 1);
    let id = pending[0]["id"].as_str().unwrap().to_string();
    let root = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").unwrap().uid() == 0
    };
    if root {
        assert_eq!(pending[0]["can_remember"], false, "{pending:?}");
        assert!(
            pending[0]["cannot_remember"]
                .as_str()
                .unwrap()
                .contains("root")
        );
        // "Always" is refused with the reason, and the prompt keeps waiting.
        let always = home.latchkey(&sb, &["approve", &id, "--always"]);
        assert_eq!(code(&always), 2, "{}", stderr(&always));
        assert!(
            stderr(&always).contains("cannot be always allowed"),
            "{}",
            stderr(&always)
        );
        assert_eq!(wait_pending(&sb, &home, 1).len(), 1);
    }
    home.latchkey_ok(&sb, &["approve", &id]);
    assert_eq!(code(&fetch.join().unwrap()), 0);

    // The activity names each of these, never a token.
    let activity = home.latchkey_ok(&sb, &["activity", "acct-a", "--json"]);
    for (_, _, token, _) in server.seen() {
        assert!(!activity.contains(&token), "no token in the activity");
    }
    let records: Vec<Value> = serde_json::from_str(&activity).unwrap();
    let outcomes: Vec<(String, String, String)> = records
        .iter()
        .map(|r| {
            (
                r["outcome"].as_str().unwrap().to_string(),
                r["requester"]["name"].as_str().unwrap().to_string(),
                r["via"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let has = |o: &str, who: &str, via: &str| {
        outcomes
            .iter()
            .any(|(a, b, c)| a == o && b == who && c == via)
    };
    assert!(has("denied", "git", "direct"), "{outcomes:?}");
    assert!(has("issued", "git", "agent"), "{outcomes:?}");
    assert!(has("denied", &other, "agent"), "{outcomes:?}");
    assert!(has("timed_out", "git", "agent"), "{outcomes:?}");
    let issued_git = records
        .iter()
        .filter(|r| r["outcome"] == "issued" && r["requester"]["name"] == "git")
        .count();
    assert_eq!(issued_git, 4, "{outcomes:?}");
    assert!(
        records.iter().any(|r| r["admission"] == "session_grant"),
        "the second fetch went through the grant: {outcomes:?}"
    );
    let text = home.latchkey_ok(&sb, &["activity", "--since", "1h"]);
    assert!(text.contains("issued") && text.contains("git ("), "{text}");
}
