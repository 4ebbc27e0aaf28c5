//! The encrypted vault (issue 18) end to end: the `latchkey` binary with **no D-Bus session at
//! all** (`DBUS_SESSION_BUS_ADDRESS` and `XDG_RUNTIME_DIR` removed, so no Secret Service can
//! answer), its passphrase from `LATCHKEY_VAULT_PASSWORD_COMMAND`, against the real test
//! provider: sign-in by pasting the redirect and by device code, `token`, ten processes at
//! expiry (one refresh, no `invalid_grant`), forced refresh, git through the credential helper,
//! logout with revocation, no token in any file of the config dir; kill -9 in the middle of a
//! vault write (a debug-build pause between the synced temporary and the rename) and at random
//! points loses nothing; a wrong or empty passphrase is refused and changes nothing. The vault
//! is also opened from outside (the `age` crate and the test's passphrase), to check what it
//! holds. Migration both ways needs the Secret Service (run under `scripts/with-keyring.sh`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use latchkey_testkit::{
    Interactive, Keyring, Provider, Sandbox, browse, code, is_url, output_with_stdin, repo_root,
    require_secret_service, stderr, stdout,
};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_latchkey");
const PASS: &str = "correct horse battery staple";

/// A sandbox whose commands see no D-Bus session and take the vault passphrase from a command
/// (reading a file outside the config dir). `dbus`: keep the session bus (migration test).
struct VaultBox {
    sb: Sandbox,
    secrets: tempfile::TempDir,
}

impl VaultBox {
    fn new(dbus: bool) -> VaultBox {
        let mut sb = Sandbox::new(BIN);
        let secrets = tempfile::tempdir().unwrap();
        std::fs::write(secrets.path().join("pass"), format!("{PASS}\n")).unwrap();
        if !dbus {
            sb.unset = vec![
                "DBUS_SESSION_BUS_ADDRESS".into(),
                "XDG_RUNTIME_DIR".into(),
                "DISPLAY".into(),
                "WAYLAND_DISPLAY".into(),
            ];
        }
        sb.set_env(
            "LATCHKEY_VAULT_PASSWORD_COMMAND",
            format!("cat '{}'", secrets.path().join("pass").display()),
        );
        // Debug builds only: a cheap scrypt, so ten processes do not spend 10 × 256 MiB.
        sb.set_env("LATCHKEY_TEST_VAULT_WORK_FACTOR", "12");
        VaultBox { sb, secrets }
    }

    fn set_passphrase(&self, pass: &str) {
        std::fs::write(self.secrets.path().join("pass"), pass).unwrap();
    }

    fn vault(&self) -> PathBuf {
        self.sb.config_dir().join("vault.json")
    }

    /// The vault's items, decrypted from outside with the passphrase.
    fn items(&self) -> BTreeMap<String, String> {
        open_vault(&self.vault(), PASS)
    }
}

/// Opens `vault.json` as its format says: the age identity unwrapped with the passphrase
/// (scrypt), then the items decrypted with it.
fn open_vault(path: &Path, pass: &str) -> BTreeMap<String, String> {
    let env: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(env["format"], "latchkey-vault");
    let scrypt = age::scrypt::Identity::new(age::secrecy::SecretString::from(pass.to_string()));
    let key = age::decrypt(&scrypt, env["key"].as_str().unwrap().as_bytes()).unwrap();
    let identity = age::x25519::Identity::from_str(std::str::from_utf8(&key).unwrap()).unwrap();
    let data = base64::engine::general_purpose::STANDARD
        .decode(env["data"].as_str().unwrap())
        .unwrap();
    let json = age::decrypt(&identity, &data).unwrap();
    serde_json::from_slice(&json).unwrap()
}

/// A running `latchkey ARGS`, outside any SSH session.
fn start_login(sb: &Sandbox, args: &[&str]) -> Interactive {
    let mut cmd = sb.cmd(args);
    cmd.env_remove("SSH_CONNECTION").env_remove("SSH_TTY");
    Interactive::spawn(cmd)
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

fn tokens(v: &VaultBox, id: &str) -> Value {
    serde_json::from_str(
        v.items()
            .get(&format!("{id}/tokens"))
            .expect("the vault holds the account's tokens"),
    )
    .unwrap()
}

/// Every token value in the vault (to grep the config dir's files for).
fn every_token(v: &VaultBox) -> Vec<String> {
    let mut all = Vec::new();
    for value in v.items().values() {
        if let Ok(set) = serde_json::from_str::<Value>(value) {
            for f in ["access_token", "refresh_token", "id_token"] {
                if let Some(t) = set[f].as_str() {
                    all.push(t.to_string());
                }
            }
        }
    }
    all
}

#[test]
fn the_core_scenario_runs_on_the_vault_without_any_d_bus() {
    let p = Provider::start(json!({
        "accessTokenTtl": 30,
        "refreshedAccessTokenTtl": 3600,
        "deviceInterval": 1
    }));
    let mut v = VaultBox::new(false);
    v.sb.set_env("LATCHKEY_BROWSER", "none");
    let sb = &v.sb;

    // The store: the vault, because nothing answers on D-Bus (and it says so).
    let st = sb.ok(&["store"]);
    assert!(st.contains("Store:   vault"), "{st}");
    assert!(st.contains("no Secret Service answered"), "{st}");
    assert!(!v.vault().exists(), "created on first need only");

    // Sign-in by pasting the redirect (a scheme account).
    let id = add(sb, &p, "paste", "scheme");
    let mut login = start_login(sb, &["login", "paste", "--timeout", "60"]);
    let auth = login.line("the URL", is_url);
    assert!(v.vault().exists(), "the pending sign-in created the vault");
    let callback = browse(&auth, true);
    login.paste(&callback);
    let (rc, out, err) = login.finish();
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("alice@example.test"), "{out}");
    let signed_in = tokens(&v, &id);
    assert!(signed_in["refresh_token"].is_string());
    assert!(
        !v.items().keys().any(|k| k.starts_with("pending/")),
        "the pending sign-in was consumed"
    );

    // Sign-in by device code.
    let dev = add(sb, &p, "dev", "loopback");
    let mut login = start_login(sb, &["login", "dev", "--device", "--timeout", "60"]);
    let complete = login.line("the verification URL", |l| {
        is_url(l) && l.contains("user_code=")
    });
    let approved = Command::new("node")
        .arg(repo_root().join("tests/provider/approve-device.mjs"))
        .arg(&complete)
        .status()
        .unwrap();
    assert!(approved.success());
    let (rc, _, err) = login.finish();
    assert_eq!(rc, 0, "{err}");
    assert!(tokens(&v, &dev)["access_token"].is_string());

    // token: served from the vault, no refresh.
    let t = sb.ok(&["token", "paste", "--min-ttl", "0"]);
    assert_eq!(t.trim(), signed_in["access_token"].as_str().unwrap());
    assert_eq!(p.count("grant.success", Some("refresh_token")), 0);

    // Ten processes at expiry: exactly one refresh, no invalid_grant, all the same token.
    let outs = sb.run_gated(10, &["token", "paste", "--min-ttl", "600"]);
    for o in &outs {
        assert_eq!(code(o), 0, "{}", stderr(o));
    }
    let served: std::collections::HashSet<String> =
        outs.iter().map(|o| stdout(o).trim().to_string()).collect();
    assert_eq!(served.len(), 1, "{served:?}");
    assert_eq!(p.count("grant.success", Some("refresh_token")), 1);
    assert!(p.grant_errors().is_empty(), "{:?}", p.grant_errors());
    let refreshed = tokens(&v, &id);
    assert_eq!(
        refreshed["access_token"].as_str(),
        served.iter().next().map(String::as_str)
    );
    assert_ne!(refreshed["refresh_token"], signed_in["refresh_token"]);

    // Forced refresh.
    let out = sb.ok(&["refresh", "paste", "--force"]);
    assert!(out.contains("Refreshed"), "{out}");
    assert_eq!(p.count("grant.success", Some("refresh_token")), 2);
    let forced = tokens(&v, &id);
    assert_ne!(forced["refresh_token"], refreshed["refresh_token"]);

    // git through the credential helper (git runs `latchkey git-credential get`).
    let home = tempfile::tempdir().unwrap();
    let with_home = |c: &mut Command| {
        c.env("HOME", home.path())
            .env_remove("GIT_CONFIG_GLOBAL")
            .env_remove("XDG_CONFIG_HOME")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0");
    };
    let mut setup = sb.cmd(&["setup", "git", "paste", "--host", "git.example.test"]);
    with_home(&mut setup);
    let out = setup.output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut git = Command::new("git");
    git.args(["credential", "fill"])
        .env("LATCHKEY_CONFIG_DIR", sb.config_dir());
    for k in &sb.unset {
        git.env_remove(k);
    }
    for (k, val) in &sb.env {
        git.env(k, val);
    }
    with_home(&mut git);
    let out = output_with_stdin(
        &mut git,
        "protocol=https\nhost=git.example.test\npath=team/repo.git\n\n",
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let expected = format!("password={}\n", forced["access_token"].as_str().unwrap());
    assert!(stdout(&out).contains(&expected), "{}", stdout(&out));

    // status names the store.
    let st = sb.ok(&["status"]);
    assert!(st.contains("Secrets: vault"), "{st}");

    // No token readable in any file of the config dir.
    let issued: Vec<String> = [signed_in.clone(), refreshed.clone(), forced.clone()]
        .iter()
        .flat_map(|s| {
            ["access_token", "refresh_token", "id_token"]
                .iter()
                .filter_map(|f| s[*f].as_str().map(str::to_string))
                .collect::<Vec<_>>()
        })
        .chain(every_token(&v))
        .collect();
    assert!(issued.len() >= 9);
    let files = sb.all_files_text();
    for t in &issued {
        assert!(
            !files.contains(t.as_str()),
            "a token is readable in the config dir"
        );
    }
    assert!(!files.contains(PASS), "the passphrase is in no file");

    // Logout revokes at the provider and deletes the tokens from the vault.
    let rt = forced["refresh_token"].as_str().unwrap();
    let out = sb.ok(&["logout", "paste"]);
    assert!(out.contains("Revoked at the provider"), "{out}");
    assert_eq!(p.introspect(rt)["active"], false);
    assert!(!v.items().contains_key(&format!("{id}/tokens")));
    assert!(
        v.items().contains_key(&format!("{dev}/tokens")),
        "the other account kept"
    );
    assert!(p.grant_errors().is_empty(), "{:?}", p.grant_errors());
    drop(v);
}

#[test]
fn kill_9_in_the_middle_of_a_vault_write_loses_nothing() {
    let p = Provider::start(json!({"accessTokenTtl": 600}));
    let v = VaultBox::new(false);
    let sb = &v.sb;
    let id = sb.add_and_login(&p, "main");
    add(sb, &p, "spare", "loopback");
    let before_bytes = std::fs::read(v.vault()).unwrap();
    let before = v.items();
    assert!(before.contains_key(&format!("{id}/tokens")));

    // A write paused between the synced temporary and the rename, then killed.
    let mut c = sb.cmd(&["edit", "spare", "--client-secret-stdin"]);
    let mut child = c
        .env("LATCHKEY_TEST_PAUSE_BEFORE_RENAME", "vault.json")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"spare-secret-1")
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "no pause reported");
        if line.contains("paused before renaming") {
            break;
        }
    }
    let temporaries = || -> Vec<PathBuf> {
        std::fs::read_dir(sb.config_dir())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_string_lossy().into_owned();
                n.starts_with(".vault.json.") && n.ends_with(".tmp")
            })
            .collect()
    };
    assert_eq!(
        temporaries().len(),
        1,
        "the new vault was written beside the old one"
    );
    let _ = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status();
    let _ = child.wait();
    assert_eq!(
        std::fs::read(v.vault()).unwrap(),
        before_bytes,
        "the vault is untouched"
    );
    assert_eq!(v.items(), before);
    // Everything still works; the next write removes the dead writer's temporary.
    let t = sb.ok(&["token", "main"]);
    assert_eq!(t.trim(), tokens(&v, &id)["access_token"].as_str().unwrap());
    let out = sb.run_stdin(
        &["edit", "spare", "--client-secret-stdin"],
        "spare-secret-2",
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(temporaries().is_empty());

    // Killed at random points, again and again: the vault always opens and is consistent.
    let mut seed = std::process::id() as u64;
    for i in 0..8 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = Duration::from_millis(20 + (seed >> 33) % 180);
        let mut c = sb.cmd(&["edit", "spare", "--client-secret-stdin"]);
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let _ = child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("secret-{i}").as_bytes());
        std::thread::sleep(delay);
        let _ = Command::new("kill")
            .args(["-9", &child.id().to_string()])
            .status();
        let _ = child.wait();
        let items = v.items();
        assert_eq!(
            items.get(&format!("{id}/tokens")),
            before.get(&format!("{id}/tokens")),
            "round {i}: the tokens are intact"
        );
    }
    let t = sb.ok(&["token", "main"]);
    assert_eq!(t.trim(), tokens(&v, &id)["access_token"].as_str().unwrap());
    let out = sb.ok(&["refresh", "main", "--force"]);
    assert!(out.contains("Refreshed"), "{out}");
    assert!(p.grant_errors().is_empty(), "{:?}", p.grant_errors());
}

#[test]
fn a_wrong_or_empty_passphrase_is_refused_and_nothing_is_lost() {
    let p = Provider::start(json!({"accessTokenTtl": 600}));
    let v = VaultBox::new(false);
    let sb = &v.sb;
    let id = sb.add_and_login(&p, "w");
    // The key was cached for the session: forget it, so the passphrase is needed again.
    let out = sb.ok(&["lock"]);
    assert!(
        out.contains("forgotten") || out.contains("No vault key"),
        "{out}"
    );
    let vault = std::fs::read(v.vault()).unwrap();
    let toml = sb.accounts_toml();

    v.set_passphrase("not the passphrase\n");
    for args in [
        &["token", "w"][..],
        &["logout", "w"][..],
        &["refresh", "w", "--force"][..],
    ] {
        let out = sb.run(args);
        assert_eq!(code(&out), 5, "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("wrong passphrase"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert_eq!(stdout(&out), "");
    }
    v.set_passphrase("");
    let out = sb.run(&["token", "w"]);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("empty passphrase is refused"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(v.vault()).unwrap(), vault, "nothing changed");
    assert_eq!(sb.accounts_toml(), toml);
    assert_eq!(p.count("grant.success", Some("refresh_token")), 0);

    v.set_passphrase(&format!("{PASS}\n"));
    let t = sb.ok(&["token", "w"]);
    assert_eq!(t.trim(), tokens(&v, &id)["access_token"].as_str().unwrap());
    // And lock really clears the cache: a wrong passphrase is refused again.
    sb.ok(&["lock"]);
    v.set_passphrase("nope");
    assert_eq!(code(&sb.run(&["token", "w"])), 5);
}

/// Needs the Secret Service (`scripts/with-keyring.sh`).
#[test]
fn migrate_both_ways_keeps_every_item() {
    require_secret_service();
    let p = Provider::start(json!({"accessTokenTtl": 600}));
    let v = VaultBox::new(true);
    let sb = &v.sb;
    let id = sb.add_and_login(&p, "mig");
    sb.run_stdin(
        &["edit", "mig", "--client-secret-stdin"],
        "mig-client-secret",
    );
    let st = sb.ok(&["store"]);
    assert!(st.contains("Store:   Secret Service"), "{st}");
    let keys = Keyring::items(&id);
    assert_eq!(keys.len(), 2, "{keys:?}");
    let values: BTreeMap<String, String> = keys
        .iter()
        .map(|k| {
            (
                k.clone(),
                Keyring::lookup(k).unwrap().trim_end().to_string(),
            )
        })
        .collect();

    let out = sb.ok(&["store", "migrate", "--to", "vault"]);
    assert!(out.contains("Moved 2 item(s)"), "{out}");
    assert!(
        Keyring::items(&id).is_empty(),
        "deleted from the Secret Service"
    );
    let in_vault: BTreeMap<String, String> = v
        .items()
        .into_iter()
        .filter(|(k, _)| k.starts_with(&id))
        .collect();
    assert_eq!(in_vault, values, "every item intact in the vault");
    let st = sb.ok(&["store"]);
    assert!(st.contains("Store:   vault"), "{st}");
    let t = sb.ok(&["token", "mig"]);
    assert!(values[&format!("{id}/tokens")].contains(t.trim()));

    let out = sb.ok(&["store", "migrate", "--to", "secret-service"]);
    assert!(out.contains("Moved 2 item(s)"), "{out}");
    assert!(v.items().is_empty(), "deleted from the vault");
    let back: BTreeMap<String, String> = Keyring::items(&id)
        .iter()
        .map(|k| {
            (
                k.clone(),
                Keyring::lookup(k).unwrap().trim_end().to_string(),
            )
        })
        .collect();
    assert_eq!(back, values, "every item intact in the Secret Service");
    let t2 = sb.ok(&["token", "mig"]);
    assert_eq!(t.trim(), t2.trim());
    sb.ok(&["remove", "mig"]);
}
