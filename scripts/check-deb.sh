#!/usr/bin/env bash
# check-deb.sh: builds the Debian package and checks what is inside it — the step that runs the
# `#[ignore]`d package tests (crates/latchkey-cli/tests/deb_package.rs,
# tests/deb_desktop_entry.rs). Needs tauri-cli (installed with `cargo install` when missing,
# several minutes once) and a release build (about 6 minutes on 2 cores). Works with
# CARGO_TARGET_DIR set: the CLI is staged by scripts/stage-cli.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v cargo >/dev/null || export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo tauri --version >/dev/null 2>&1; then
  cargo install tauri-cli --version '^2' --locked
fi
cargo tauri build --bundles deb
cargo test -p latchkey-cli --test deb_package -- --include-ignored
cargo test -p latchkey-app --test deb_desktop_entry -- --include-ignored
