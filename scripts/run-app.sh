#!/usr/bin/env bash
# run-app.sh [APP ARGS...]
#
# Installs the system packages the app needs (scripts/install-deps.sh app), builds the
# `latchkey` CLI when the workspace has it, then builds and starts the Latchkey desktop app.
#
# Builds the debug profile: an incremental debug build takes seconds and a clean one about
# three minutes on two cores, against about six for release; for a release binary run
# `cargo build --release -p latchkey-app`. Both serve the bundled ui/ (feature
# `custom-protocol`, on by default), so no dev server is involved.
#
# Needs a display. On a headless machine:
#   xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- scripts/run-app.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Rust installed by install-deps.sh (rustup) lives in ~/.cargo/bin.
command -v cargo >/dev/null || export PATH="$HOME/.cargo/bin:$PATH"

scripts/install-deps.sh app

metadata=$(cargo metadata --no-deps --format-version 1)
if [[ "$metadata" == *'"name":"latchkey-cli"'* ]]; then
  echo "run-app: building the latchkey CLI"
  cargo build -p latchkey-cli
fi

if [[ -z "${DISPLAY:-}" && -z "${WAYLAND_DISPLAY:-}" ]]; then
  echo "run-app: no display (DISPLAY/WAYLAND_DISPLAY unset). Headless, use:" >&2
  echo "  xvfb-run -a -s \"-screen 0 1280x800x24\" dbus-run-session -- $0" >&2
  exit 1
fi

exec cargo run -p latchkey-app -- "$@"
