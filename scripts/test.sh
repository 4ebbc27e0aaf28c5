#!/usr/bin/env bash
# test.sh [ARGS...]   (ARGS are appended to `cargo test --workspace --no-fail-fast`, e.g. a
#                     test-name filter or `-- --nocapture`; `-p` cannot narrow --workspace)
#
# The single command that checks everything (used by .ci/run):
#   1. deps      scripts/install-deps.sh test
#   2. npm       npm ci --prefix tests/provider   (when tests/provider/package-lock.json exists)
#   3. fmt       cargo fmt --all -- --check
#   4. clippy    cargo clippy --workspace --all-targets -- -D warnings
#   5. build     cargo build --workspace --all-targets
#   6. test      cargo test --workspace --no-fail-fast [ARGS...], inside Xvfb (a DISPLAY for
#                the desktop tests), a private D-Bus session and a throwaway unlocked keyring
#                (scripts/with-keyring.sh), so the real session and keyring are never used.
#
# Failures in deps, npm or build stop the run (nothing after them can work); fmt, clippy and
# test failures are recorded and the remaining phases still run. Prints each phase's time and a
# summary; exits 1 if any phase failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Rust installed by install-deps.sh (rustup) lives in ~/.cargo/bin.
command -v cargo >/dev/null || export PATH="$HOME/.cargo/bin:$PATH"

summary=()
failed=0

# phase NAME FATAL CMD...: runs CMD, records its status and duration.
phase() {
  local name=$1 fatal=$2 start status
  shift 2
  printf '\n==> %s: %s\n' "$name" "$*"
  start=$(date +%s.%N)
  set +e
  "$@"
  status=$?
  set -e
  local took
  took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  if ((status == 0)); then
    summary+=("$(printf '  %-7s ok      %7s s' "$name" "$took")")
  else
    summary+=("$(printf '  %-7s FAILED  %7s s  (exit %d)' "$name" "$took" "$status")")
    failed=1
  fi
  local outcome="ok"
  ((status == 0)) || outcome="FAILED (exit $status)"
  printf '<== %s: %s in %s s\n' "$name" "$outcome" "$took"
  if ((status != 0)) && [[ "$fatal" == fatal ]]; then
    finish
  fi
}

finish() {
  printf '\nSummary:\n'
  printf '%s\n' "${summary[@]}"
  if ((failed)); then
    echo "test.sh: FAILED"
    exit 1
  fi
  echo "test.sh: all phases passed"
  exit 0
}

total_start=$SECONDS

phase deps fatal scripts/install-deps.sh test
if [[ -f tests/provider/package-lock.json ]]; then
  phase npm fatal npm ci --prefix tests/provider --no-audit --no-fund
fi
phase fmt keep-going cargo fmt --all -- --check
phase clippy keep-going cargo clippy --workspace --all-targets -- -D warnings
phase build fatal cargo build --workspace --all-targets
# Less memory for WebKit under Xvfb, where the DMA-BUF renderer brings nothing.
export WEBKIT_DISABLE_DMABUF_RENDERER="${WEBKIT_DISABLE_DMABUF_RENDERER:-1}"
phase test keep-going xvfb-run -a -s "-screen 0 1280x800x24" \
  dbus-run-session -- scripts/with-keyring.sh cargo test --workspace --no-fail-fast "$@"

summary+=("$(printf '  %-7s         %7s s' total "$((SECONDS - total_start))")")
finish
