//! The `.desktop` entry of the Debian package must let the OS hand `dev.latchkey.app:` URLs
//! to the app: `Exec=… %u` (Tauri's default template has no `%u`, so the URL would be dropped
//! silently) and `MimeType=x-scheme-handler/dev.latchkey.app`.
//!
//! Two checks:
//! - the entry our template (`packaging/linux/latchkey.desktop.hbs`, set as
//!   `bundle.linux.deb.desktopTemplate` in tauri.conf.json) renders to, with the values and the
//!   substitution rules of Tauri's bundler (tauri-bundler 2.10 `freedesktop::generate_desktop_file`:
//!   `exec`/`icon` = the binary name, `name` = productName, `categories` from the bundle
//!   category, `mime_type` = `x-scheme-handler/<scheme>` for each scheme of
//!   `plugins.deep-link.desktop`), validated with `desktop-file-validate`. Always runs.
//! - the entry inside a real package (unpacked with `dpkg-deb`): `#[ignore]`d, run by
//!   `scripts/check-deb.sh` after it builds the package (tauri-cli and a release build).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn config() -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join("tauri.conf.json")).unwrap()).unwrap()
}

/// The handlebars subset the template uses: `{{name}}` and `{{#if name}}…{{/if}}` blocks.
fn render(template: &str, vars: &[(&str, Option<String>)]) -> String {
    let get = |k: &str| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .and_then(|(_, v)| v.clone())
    };
    let mut out = String::new();
    let mut skipping = false;
    for line in template.lines() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("{{#if ").and_then(|r| r.strip_suffix("}}")) {
            skipping = get(name).is_none_or(|v| v.is_empty());
            continue;
        }
        if t == "{{/if}}" {
            skipping = false;
            continue;
        }
        if skipping {
            continue;
        }
        let mut l = line.to_string();
        for (k, v) in vars {
            l = l.replace(&format!("{{{{{k}}}}}"), v.as_deref().unwrap_or(""));
        }
        assert!(!l.contains("{{"), "unrendered placeholder in {line}");
        out.push_str(&l);
        out.push('\n');
    }
    out
}

fn check_entry(text: &str, what: &str) {
    let exec = text
        .lines()
        .find(|l| l.starts_with("Exec="))
        .unwrap_or_else(|| panic!("{what}: no Exec line:\n{text}"));
    assert!(
        exec.split_whitespace().any(|w| w == "%u" || w == "%U"),
        "{what}: `{exec}` has no %u, so the OS would drop the sign-in URL"
    );
    assert!(exec.contains("latchkey-app"), "{what}: {exec}");
    let mime = text
        .lines()
        .find(|l| l.starts_with("MimeType="))
        .unwrap_or_else(|| panic!("{what}: no MimeType line:\n{text}"));
    assert!(
        mime.trim_start_matches("MimeType=")
            .split(';')
            .any(|m| m == "x-scheme-handler/dev.latchkey.app"),
        "{what}: {mime}"
    );
}

fn validate(path: &Path) {
    match Command::new("desktop-file-validate").arg(path).output() {
        Ok(out) => {
            let report = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() && !report.contains("error:"),
                "desktop-file-validate: {report}"
            );
        }
        Err(_) => eprintln!("desktop-file-validate not installed (package desktop-file-utils)"),
    }
}

#[test]
fn template_renders_an_entry_that_takes_the_url() {
    let c = config();
    let template_path = c["bundle"]["linux"]["deb"]["desktopTemplate"]
        .as_str()
        .expect("bundle.linux.deb.desktopTemplate is set (the default template lacks %u)");
    let template = std::fs::read_to_string(root().join(template_path)).unwrap();
    let schemes: Vec<String> = c["plugins"]["deep-link"]["desktop"]["schemes"]
        .as_array()
        .expect("plugins.deep-link.desktop.schemes")
        .iter()
        .map(|s| format!("x-scheme-handler/{}", s.as_str().unwrap()))
        .collect();
    assert_eq!(
        c["bundle"]["category"], "Utility",
        "categories below assume the Utility category"
    );
    let text = render(
        &template,
        &[
            ("categories", Some("Utility;".into())),
            (
                "comment",
                c["bundle"]["shortDescription"].as_str().map(str::to_string),
            ),
            ("exec", Some(env!("CARGO_PKG_NAME").into())),
            ("icon", Some(env!("CARGO_PKG_NAME").into())),
            ("name", c["productName"].as_str().map(str::to_string)),
            ("mime_type", Some(schemes.join(";"))),
        ],
    );
    check_entry(&text, "rendered template");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Latchkey.desktop");
    std::fs::write(&path, &text).unwrap();
    validate(&path);
}

#[test]
#[ignore = "needs the .deb: scripts/check-deb.sh builds it and runs this test"]
fn built_package_entry_takes_the_url() {
    let deb = latchkey_testkit::built_deb();
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(dir.path())
        .status()
        .expect("dpkg-deb");
    assert!(status.success());
    let apps = dir.path().join("usr/share/applications");
    let entry = std::fs::read_dir(&apps)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "desktop"))
        .expect("the package has a .desktop entry");
    let text = std::fs::read_to_string(&entry).unwrap();
    check_entry(&text, &deb.display().to_string());
    validate(&entry);
    assert!(dir.path().join("usr/bin/latchkey-app").exists());
    eprintln!(
        "checked {} in {}:\n{text}",
        entry.strip_prefix(dir.path()).unwrap_or(&entry).display(),
        deb.display()
    );
}
