//! Tests of the set-up plans: the pure kubeconfig and Docker edits, and plan → apply → undo on
//! real files in a temporary directory (git runs for real) with byte-exact undo, dry plans that
//! touch nothing, a file changed after the preview, and the connections read back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::clock::SystemClock;
use crate::config::Paths;
use crate::http::testing::{ScriptedTransport, unreachable};
use crate::manager::{DEFAULT_MIN_TTL, ManagerOptions, NewAccount, RetryPolicy};
use crate::store::Keychain;
use crate::store::SecretStore;
use crate::store::memory::MemoryStore;

const KUBECONFIG: &str = "apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://k.example.com:6443
contexts:
- name: admin@prod
  context: {cluster: prod, user: admin}
current-context: admin@prod
users:
- name: admin
  user: {token: keep-me}
preferences: {colors: true}
";

fn edit(doc: &mut serde_norway::Value, cluster: &str, spec: &TokenSpec, undo: bool) -> Vec<String> {
    edit_kubeconfig(doc, "work", cluster, "/usr/bin/latchkey", spec, undo)
        .unwrap()
        .changes
}

fn args(doc: &serde_norway::Value, user: &str) -> Vec<String> {
    doc["users"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|u| u["name"] == user)
        .unwrap()["user"]["exec"]["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn kubeconfig_edit_adds_user_and_context_keeps_the_rest_and_undoes() {
    let mut doc: serde_norway::Value = serde_norway::from_str(KUBECONFIG).unwrap();
    let original = doc.clone();
    let e = edit_kubeconfig(
        &mut doc,
        "work",
        "prod",
        "/usr/bin/latchkey",
        &TokenSpec::default(),
        false,
    )
    .unwrap();
    assert_eq!(
        e.changes,
        vec![
            "+ users: latchkey-work@prod",
            "+ contexts: latchkey-work@prod"
        ]
    );
    assert_eq!(e.server.as_deref(), Some("https://k.example.com:6443"));
    let users = doc["users"].as_sequence().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0]["user"]["token"], "keep-me");
    let exec = &users[1]["user"]["exec"];
    assert_eq!(exec["interactiveMode"], "IfAvailable");
    assert_eq!(exec["provideClusterInfo"], true);
    assert_eq!(exec["apiVersion"], "client.authentication.k8s.io/v1");
    assert_eq!(
        args(&doc, "latchkey-work@prod"),
        [
            "kubectl-credential",
            "work",
            "--server",
            "https://k.example.com:6443"
        ]
    );
    assert_eq!(doc["contexts"][1]["context"]["user"], "latchkey-work@prod");
    assert_eq!(doc["current-context"], "admin@prod");
    assert_eq!(doc["preferences"]["colors"], true);
    // Idempotent.
    let again = doc.clone();
    assert!(edit(&mut doc, "prod", &TokenSpec::default(), false).is_empty());
    assert_eq!(doc, again);
    // Undo restores the original.
    let ch = edit(&mut doc, "prod", &TokenSpec::default(), true);
    assert_eq!(
        ch,
        vec![
            "- contexts: latchkey-work@prod",
            "- users: latchkey-work@prod"
        ]
    );
    assert_eq!(doc, original);
    // An unknown cluster or a non-kubeconfig is an error.
    assert!(
        edit_kubeconfig(&mut doc, "work", "nope", "x", &TokenSpec::default(), false)
            .unwrap_err()
            .contains("no cluster named `nope`")
    );
    let mut bad: serde_norway::Value = serde_norway::from_str("- a\n- b\n").unwrap();
    assert!(edit_kubeconfig(&mut bad, "w", "prod", "x", &TokenSpec::default(), false).is_err());
}

const TWO: &str = "apiVersion: v1
clusters:
- name: a
  cluster: {server: 'https://a.test:6443'}
- name: b
  cluster: {server: 'https://b.test:6443'}
";

#[test]
fn each_cluster_gets_its_own_user_and_undoing_one_keeps_the_other() {
    let mut doc: serde_norway::Value = serde_norway::from_str(TWO).unwrap();
    let ra = TokenSpec::new(&[], &["https://ra.test".into()], None).unwrap();
    let rb = TokenSpec::new(&[], &["https://rb.test".into()], None).unwrap();
    edit(&mut doc, "a", &ra, false);
    let a_user = args(&doc, "latchkey-work@a");
    assert_eq!(
        edit(&mut doc, "b", &rb, false),
        vec!["+ users: latchkey-work@b", "+ contexts: latchkey-work@b"]
    );
    assert_eq!(
        args(&doc, "latchkey-work@a"),
        a_user,
        "a's user is untouched"
    );
    assert_eq!(
        args(&doc, "latchkey-work@b"),
        [
            "kubectl-credential",
            "work",
            "--server",
            "https://b.test:6443",
            "--resource",
            "https://rb.test"
        ]
    );
    assert!(a_user.contains(&"https://ra.test".to_string()));
    let e = edit_kubeconfig(
        &mut doc,
        "work",
        "b",
        "/usr/bin/latchkey",
        &TokenSpec::default(),
        true,
    )
    .unwrap();
    assert_eq!(e.server.as_deref(), Some("https://b.test:6443"));
    assert_eq!(doc["users"].as_sequence().unwrap().len(), 1);
    assert_eq!(args(&doc, "latchkey-work@a"), a_user);
    assert_eq!(doc["contexts"][0]["name"], "latchkey-work@a");
    // A new spec for a: its user is updated, its context kept.
    assert_eq!(
        edit(&mut doc, "a", &TokenSpec::default(), false),
        vec!["~ users: latchkey-work@a (updated)"]
    );
    assert_eq!(args(&doc, "latchkey-work@a").len(), 4);
}

#[test]
fn the_old_shared_user_is_kept_while_a_context_uses_it_and_then_removed() {
    let old = format!(
            "{TWO}users:
- name: latchkey-work
  user:
    exec: {{command: /usr/bin/latchkey, args: [kubectl-credential, work], provideClusterInfo: false}}
contexts:
- name: latchkey-work@a
  context: {{cluster: a, user: latchkey-work}}
- name: latchkey-work@b
  context: {{cluster: b, user: latchkey-work}}
"
        );
    let mut doc: serde_norway::Value = serde_norway::from_str(&old).unwrap();
    // Setting a up again moves its context to a's own user; b still uses the old one.
    assert_eq!(
        edit(&mut doc, "a", &TokenSpec::default(), false),
        vec![
            "+ users: latchkey-work@a",
            "~ contexts: latchkey-work@a (updated)"
        ]
    );
    assert_eq!(doc["contexts"][1]["context"]["user"], "latchkey-work");
    assert!(
        doc["users"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|u| u["name"] == "latchkey-work")
    );
    // Undoing b removes its context and then the old user, which nothing uses any more.
    let ch = edit(&mut doc, "b", &TokenSpec::default(), true);
    assert_eq!(ch.len(), 2, "{ch:?}");
    assert_eq!(ch[0], "- contexts: latchkey-work@b");
    assert!(
        ch[1].starts_with("- users: latchkey-work (the user older versions shared"),
        "{ch:?}"
    );
    let names: Vec<&str> = doc["users"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["latchkey-work@a"]);
}

#[test]
fn comments_are_noticed_outside_quotes() {
    assert!(yaml_has_comments("# top\napiVersion: v1\n"));
    assert!(yaml_has_comments("apiVersion: v1 # trailing\n"));
    assert!(!yaml_has_comments(
        "server: 'https://h/#x'\nname: \"a #b\"\n"
    ));
    assert!(!yaml_has_comments("token: abc#def\n"));
    assert!(!yaml_has_comments(KUBECONFIG));
}

#[test]
fn docker_edit_keeps_other_keys_in_order_and_undoes() {
    let text = r#"{"auths":{"r.test":{"auth":"abc"}},"credHelpers":{"gcr.io":"gcloud"},"zeta":1,"alpha":2}"#;
    let mut doc: serde_json::Value = serde_json::from_str(text).unwrap();
    let ch = edit_docker_config(&mut doc, "registry.example.com:5000", false).unwrap();
    assert_eq!(
        ch,
        vec!["+ credHelpers[\"registry.example.com:5000\"] = \"latchkey\""]
    );
    assert_eq!(doc["credHelpers"]["gcr.io"], "gcloud");
    assert_eq!(doc["auths"]["r.test"]["auth"], "abc");
    let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["auths", "credHelpers", "zeta", "alpha"],
        "key order is kept"
    );
    assert!(
        edit_docker_config(&mut doc, "registry.example.com:5000", false)
            .unwrap()
            .is_empty()
    );
    edit_docker_config(&mut doc, "registry.example.com:5000", true).unwrap();
    assert_eq!(
        doc,
        serde_json::from_str::<serde_json::Value>(text).unwrap()
    );
    let mut bad = serde_json::json!({"credHelpers": []});
    assert!(edit_docker_config(&mut bad, "r", false).is_err());
    let mut bad = serde_json::json!([1]);
    assert!(edit_docker_config(&mut bad, "r", false).is_err());
}

// ---- plan and apply on real files ---------------------------------------------------------

struct Env {
    m: LoginManager,
    dir: tempfile::TempDir,
}

impl Env {
    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn files(&self) -> ToolFiles {
        ToolFiles {
            git: Some(self.path("gitconfig")),
            docker: Some(self.path("docker/config.json")),
            kubeconfig: Some(self.path("kubeconfig")),
        }
    }

    fn request(&self, target: SetupTarget, undo: bool) -> SetupRequest {
        SetupRequest {
            account: "work".into(),
            target,
            spec: TokenSpec::default(),
            undo,
            program: "/opt/latchkey bin/latchkey".into(),
            files: self.files(),
        }
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MemoryStore::default());
    let keychain = Keychain::with_factory(
        Arc::new(move || Ok(store.clone() as Arc<dyn SecretStore>)),
        Duration::from_secs(5),
    );
    let m = LoginManager::new(ManagerOptions {
        paths: Paths::new(dir.path().join("config")),
        keychain,
        http: ScriptedTransport::new(|r| Err(unreachable(r))).client(),
        clock: Arc::new(SystemClock),
        min_ttl: DEFAULT_MIN_TTL,
        lock_timeout: Duration::from_secs(10),
        retry: RetryPolicy::default(),
    });
    m.add(NewAccount {
        name: "work".into(),
        provider: crate::ProviderSpec {
            preset: crate::provider::Preset::Manual,
            auth_url: Some(url::Url::parse("https://as.example/authorize").unwrap()),
            token_url: Some(url::Url::parse("https://as.example/token").unwrap()),
            ..Default::default()
        },
        client_id: "c".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    Env { m, dir }
}

fn git_target(host: &str, path: Option<&str>) -> SetupTarget {
    SetupTarget::Git {
        host: Some(host.into()),
        path: path.map(str::to_string),
        username: None,
    }
}

const GITCONFIG: &str = "# mine\n[user]\n\tname = T\n[credential]\n\thelper = store\n";

#[tokio::test]
async fn git_plan_touches_nothing_apply_writes_what_git_would_and_undo_is_byte_exact() {
    let e = env().await;
    std::fs::write(e.path("gitconfig"), GITCONFIG).unwrap();
    let plan =
        e.m.plan_setup(&e.request(git_target("code.example.test", Some("org")), false))
            .await
            .unwrap();
    assert_eq!(e.read("gitconfig"), GITCONFIG, "planning wrote nothing");
    assert!(e.m.rules().unwrap().is_empty(), "planning added no rule");
    assert_eq!(plan.files.len(), 1);
    assert_eq!(
        plan.changes,
        [
            "+ git config --global --add credential.https://code.example.test.helper '' (helpers for every host do not answer for this one)",
            "+ git config --global --add credential.https://code.example.test.helper ''/opt/latchkey bin/latchkey' git-credential'",
            "+ git config --global credential.https://code.example.test.useHttpPath true (git sends the repository path)",
            "+ rule code.example.test/org → work",
        ]
    );
    let diff = plan.files[0].diff();
    assert!(diff.iter().all(|d| d.op == '+'), "{diff:?}");
    assert!(
        diff.iter()
            .any(|d| d.text == "[credential \"https://code.example.test\"]"),
        "{diff:?}"
    );
    e.m.apply_setup(&plan).await.unwrap();
    let written = e.read("gitconfig");
    assert!(written.starts_with(GITCONFIG), "{written}");
    let out = std::process::Command::new("git")
        .args(["config", "--file"])
        .arg(e.path("gitconfig"))
        .args(["--get-all", "credential.https://code.example.test.helper"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "\n'/opt/latchkey bin/latchkey' git-credential\n"
    );
    assert_eq!(e.m.rules().unwrap().len(), 1);
    // Again: nothing to change.
    let again =
        e.m.plan_setup(&e.request(git_target("code.example.test", Some("org")), false))
            .await
            .unwrap();
    assert!(again.is_empty(), "{again:?}");
    // The connection is listed with what undoes it.
    let c = e.m.connections("work", &e.files()).unwrap();
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].tool, ConnectionTool::Git);
    assert_eq!(c[0].detail, "code.example.test/org");
    let undo_target = c[0].undo.clone().unwrap();
    // Undo: the rule first, then the file, back to the very bytes it had.
    let undo = e.m.plan_setup(&e.request(undo_target, true)).await.unwrap();
    assert_eq!(undo.changes[0], "- rule code.example.test/org → work");
    assert_eq!(undo.files[0].after, GITCONFIG);
    e.m.apply_setup(&undo).await.unwrap();
    assert_eq!(e.read("gitconfig"), GITCONFIG);
    assert!(e.m.rules().unwrap().is_empty());
    assert!(e.m.connections("work", &e.files()).unwrap().is_empty());
}

#[tokio::test]
async fn a_file_changed_after_the_preview_or_read_only_is_not_written() {
    use std::os::unix::fs::PermissionsExt;
    let e = env().await;
    std::fs::write(e.path("gitconfig"), GITCONFIG).unwrap();
    let plan =
        e.m.plan_setup(&e.request(git_target("h.test", None), false))
            .await
            .unwrap();
    std::fs::write(e.path("gitconfig"), "[user]\n\tname = Other\n").unwrap();
    let err = e.m.apply_setup(&plan).await.unwrap_err().to_string();
    assert!(err.contains("changed since the preview"), "{err}");
    assert_eq!(e.read("gitconfig"), "[user]\n\tname = Other\n");
    assert!(e.m.rules().unwrap().is_empty(), "no rule either");
    let plan =
        e.m.plan_setup(&e.request(git_target("h.test", None), false))
            .await
            .unwrap();
    std::fs::set_permissions(e.path("gitconfig"), std::fs::Permissions::from_mode(0o444)).unwrap();
    let err = e.m.apply_setup(&plan).await.unwrap_err().to_string();
    assert!(err.contains("read-only"), "{err}");
    assert!(e.m.rules().unwrap().is_empty());
    // A malformed file fails the plan, naming the real file (not git's private copy).
    std::fs::set_permissions(e.path("gitconfig"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(e.path("gitconfig"), "[user\n\tname = broken").unwrap();
    let err =
        e.m.plan_setup(&e.request(git_target("h.test", None), false))
            .await
            .unwrap_err()
            .to_string();
    assert!(
        err.contains(&e.path("gitconfig").display().to_string()),
        "{err}"
    );
    assert!(!err.contains("latchkey-setup-"), "{err}");
}

#[tokio::test]
async fn docker_and_kubectl_plan_apply_and_undo_byte_exact() {
    let e = env().await;
    std::fs::create_dir_all(e.path("docker")).unwrap();
    let docker = "{\n  \"auths\": {\n    \"r.test\": {\n      \"auth\": \"abc\"\n    }\n  },\n  \"zeta\": 1,\n  \"alpha\": 2\n}\n";
    std::fs::write(e.path("docker/config.json"), docker).unwrap();
    let target = SetupTarget::Docker {
        registry: "registry.example.test:5000".into(),
    };
    let plan =
        e.m.plan_setup(&e.request(target.clone(), false))
            .await
            .unwrap();
    assert_eq!(e.read("docker/config.json"), docker);
    let diff = plan.files[0].diff();
    assert!(
        diff.iter().any(|d| d.op == '+'
            && d.text
                .contains("\"registry.example.test:5000\": \"latchkey\"")),
        "{diff:?}"
    );
    assert!(
        !diff.iter().any(|d| d.text.contains("abc")),
        "unchanged lines are not in the diff: {diff:?}"
    );
    e.m.apply_setup(&plan).await.unwrap();
    let c = e.m.connections("work", &e.files()).unwrap();
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].tool, ConnectionTool::Docker);
    assert_eq!(c[0].undo.as_ref(), Some(&target));
    let undo = e.m.plan_setup(&e.request(target, true)).await.unwrap();
    e.m.apply_setup(&undo).await.unwrap();
    assert_eq!(e.read("docker/config.json"), docker, "byte-exact undo");
    assert!(e.m.rules().unwrap().is_empty());

    // kubectl, on a file in the YAML library's own layout (other layouts are rewritten).
    let canonical = serde_norway::to_string(
        &serde_norway::from_str::<serde_norway::Value>(KUBECONFIG).unwrap(),
    )
    .unwrap();
    std::fs::write(e.path("kubeconfig"), &canonical).unwrap();
    let target = SetupTarget::Kubectl {
        cluster: "prod".into(),
        kubeconfig: None,
    };
    let plan =
        e.m.plan_setup(&e.request(target.clone(), false))
            .await
            .unwrap();
    assert_eq!(plan.context.as_deref(), Some("latchkey-work@prod"));
    assert!(plan.warnings.is_empty());
    assert_eq!(
        plan.changes.last().unwrap(),
        "+ rule k.example.com:6443 → work"
    );
    let diff = plan.files[0].diff();
    assert!(
        diff.iter().all(|d| !d.text.contains("keep-me")),
        "another user's token is never in a preview: {diff:?}"
    );
    e.m.apply_setup(&plan).await.unwrap();
    let c = e.m.connections("work", &e.files()).unwrap();
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].tool, ConnectionTool::Kubectl);
    assert_eq!(c[0].detail, "cluster prod");
    let undo = e.m.plan_setup(&e.request(target, true)).await.unwrap();
    e.m.apply_setup(&undo).await.unwrap();
    assert_eq!(e.read("kubeconfig"), canonical, "byte-exact undo");
    assert!(e.m.rules().unwrap().is_empty());
}

#[test]
fn previews_redact_secret_looking_values() {
    let f = FileChange {
        path: "x".into(),
        before: None,
        after: "  token: abc\n    \"auth\": \"eA==\"\n\thelper = '/x/latchkey' git-credential\nname: bob\n".into(),
        description: Vec::new(),
    };
    let texts: Vec<String> = f.diff().into_iter().map(|d| d.text).collect();
    assert_eq!(
        texts,
        [
            "  token: [redacted]",
            "    \"auth\": [redacted]",
            "\thelper = '/x/latchkey' git-credential",
            "name: bob"
        ]
    );
}

#[test]
fn a_diff_skips_the_common_head_and_tail_and_stays_small_on_big_files() {
    let big: String = (0..5000).map(|i| format!("line {i}\n")).collect();
    let f = FileChange {
        path: "x".into(),
        before: Some(big.clone()),
        after: big.replace("line 2500\n", "line 2500\nadded\n"),
        description: Vec::new(),
    };
    assert_eq!(
        f.diff(),
        [DiffLine {
            op: '+',
            text: "added".into()
        }]
    );
    let f = FileChange {
        path: "x".into(),
        before: Some(big.clone()),
        after: big
            .replace("line 1\n", "one\n")
            .replace("line 4998\n", "x\n"),
        description: Vec::new(),
    };
    // Changes far apart in a big file: the middle (4,998 lines) is too big to compare line by
    // line, so it is shown removed, then added.
    let d = f.diff();
    assert_eq!(d.len(), 2 * 4998);
    assert!(d[..4998].iter().all(|l| l.op == '-'));
    assert_eq!(d[4998].text, "one");
}
