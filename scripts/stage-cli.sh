#!/usr/bin/env bash
# stage-cli.sh: tauri.conf.json's beforeBundleCommand. Builds the `latchkey` CLI in release mode
# — the front `latchkey` and the full CLI `latchkey-full` it hands over to — and copies them to
# packaging/stage/, the paths the Debian package's `bundle.linux.deb.files` names (installed as
# /usr/bin/latchkey and /usr/libexec/latchkey/latchkey-full) — wherever cargo puts its output
# (`CARGO_TARGET_DIR`, a `build.target-dir` setting), which a fixed `target/release/latchkey`
# would miss.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release -p latchkey-cli
target_dir=$(cargo metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[[ -n "$target_dir" ]] || { echo "stage-cli.sh: cargo metadata gave no target_directory" >&2; exit 1; }
for bin in latchkey latchkey-full; do
  install -D -m 0755 "$target_dir/release/$bin" "packaging/stage/$bin"
  echo "stage-cli.sh: staged $target_dir/release/$bin as packaging/stage/$bin"
done
