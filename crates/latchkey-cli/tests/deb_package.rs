//! The Debian package must install what the integrations call: `/usr/bin/latchkey` (git's
//! credential helper, kubectl's exec plugin, `latchkey exec`) with the full CLI it hands over to,
//! `/usr/libexec/latchkey/latchkey-full`, and
//! `/usr/bin/docker-credential-latchkey` (Docker's `credHelpers` value `latchkey`), and the agent's
//! systemd user unit `/usr/lib/systemd/user/latchkey-agent.service`.
//!
//! Two checks, as in `tests/deb_desktop_entry.rs`: the bundler configuration (tauri.conf.json
//! `bundle.linux.deb.files`, and the `beforeBundleCommand` that builds and stages the CLI the
//! package copies) always; the files inside a real package (`dpkg-deb -x`) in an `#[ignore]`d
//! test that `scripts/check-deb.sh` runs after building the package (it needs tauri-cli and a
//! release build, minutes the suite does not spend).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

fn root() -> PathBuf {
    latchkey_testkit::repo_root()
}

fn config() -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join("tauri.conf.json")).unwrap()).unwrap()
}

fn executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[test]
fn package_config_ships_the_cli_and_the_docker_helper() {
    let c = config();
    let files = &c["bundle"]["linux"]["deb"]["files"];
    // Staged by the before-bundle script wherever the target dir is (CARGO_TARGET_DIR).
    assert_eq!(files["/usr/bin/latchkey"], "packaging/stage/latchkey");
    assert_eq!(
        files["/usr/libexec/latchkey/latchkey-full"],
        "packaging/stage/latchkey-full"
    );
    let helper = files["/usr/bin/docker-credential-latchkey"]
        .as_str()
        .expect("bundle.linux.deb.files has /usr/bin/docker-credential-latchkey");
    let helper = root().join(helper);
    assert!(executable(&helper), "{} is executable", helper.display());
    let text = std::fs::read_to_string(&helper).unwrap();
    assert!(text.starts_with("#!/bin/sh\n"), "{text}");
    assert!(
        text.contains("exec /usr/bin/latchkey docker-credential \"$@\""),
        "{text}"
    );
    // The agent's systemd user unit starts the packaged CLI.
    let unit = files["/usr/lib/systemd/user/latchkey-agent.service"]
        .as_str()
        .expect("bundle.linux.deb.files has the agent's user unit");
    let unit = std::fs::read_to_string(root().join(unit)).unwrap();
    assert!(
        unit.contains("\nExecStart=/usr/bin/latchkey agent\n"),
        "{unit}"
    );
    assert!(unit.contains("\nWantedBy=default.target\n"), "{unit}");
    // With its own `cwd` ("." is where `cargo tauri build` runs: the repository root). Without
    // one, the Tauri CLI runs it in the first directory with a package.json it finds below the
    // root (tests/provider/), where scripts/stage-cli.sh is not (tauri-cli 2.12.4).
    let before = &c["build"]["beforeBundleCommand"];
    assert_eq!(
        before["script"], "scripts/stage-cli.sh",
        "the CLI is built and staged before bundling: {before}"
    );
    assert_eq!(before["cwd"], ".", "{before}");
    let stage = std::fs::read_to_string(root().join("scripts/stage-cli.sh")).unwrap();
    assert!(
        stage.contains("cargo build --release -p latchkey-cli")
            && stage.contains("target_directory")
            && stage.contains("for bin in latchkey latchkey-full")
            && stage.contains("packaging/stage/$bin"),
        "{stage}"
    );
    // The wrapper speaks the protocol through the real binary (here: the debug build).
    let bin = env!("CARGO_BIN_EXE_latchkey");
    let script = text.replace("/usr/bin/latchkey", bin);
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .arg("docker-credential-latchkey")
        .arg("version")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("docker-credential-latchkey (latchkey "),
        "{out:?}"
    );
}

#[test]
#[ignore = "needs the .deb: scripts/check-deb.sh builds it and runs this test"]
fn built_package_installs_latchkey_and_docker_credential_latchkey() {
    let deb = latchkey_testkit::built_deb();
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(dir.path())
        .status()
        .expect("dpkg-deb");
    assert!(status.success());
    for f in [
        "usr/bin/latchkey",
        "usr/libexec/latchkey/latchkey-full",
        "usr/bin/docker-credential-latchkey",
        "usr/bin/latchkey-app",
    ] {
        assert!(
            executable(&dir.path().join(f)),
            "{} has an executable /{f}",
            deb.display()
        );
    }
    let unit = dir
        .path()
        .join("usr/lib/systemd/user/latchkey-agent.service");
    let unit = std::fs::read_to_string(&unit)
        .unwrap_or_else(|e| panic!("{} has the agent's user unit: {e}", deb.display()));
    assert!(
        unit.contains("\nExecStart=/usr/bin/latchkey agent\n"),
        "{unit}"
    );
    let out = Command::new(dir.path().join("usr/bin/latchkey"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("latchkey "),
        "{out:?}"
    );
    eprintln!("{out:?}");
    eprintln!(
        "checked /usr/bin/latchkey, /usr/bin/docker-credential-latchkey and the agent's user unit in {}",
        deb.display()
    );
}
