#!/usr/bin/env bash
# Benchmark: `latchkey token` with a valid cached token (whole process, release build) side by
# side with the floor, one Secret Service read of the same item by `secret-tool lookup`.
# Runs in its own D-Bus session with a throwaway unlocked gnome-keyring and the test provider.
# Writes bench/results/token-hot-path.json (hyperfine) and prints the table.
# Usage: bench/token-hot-path.sh   (needs: hyperfine, node, gnome-keyring, libsecret-tools)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ -z "${LATCHKEY_BENCH_INSIDE:-}" ]]; then
  cargo build --release -p latchkey-cli
  export LATCHKEY_BENCH_INSIDE=1
  exec dbus-run-session -- scripts/with-keyring.sh "$0" "$@"
fi
bin=$PWD/target/release/latchkey
work=$(mktemp -d)
trap 'kill "$provider_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
PROVIDER_CONFIG='{"accessTokenTtl":3600}' node tests/provider/server.mjs >"$work/ready" &
provider_pid=$!
for _ in $(seq 100); do [[ -s "$work/ready" ]] && break; sleep 0.1; done
issuer=$(sed -n 's/.*"issuer":"\([^"]*\)".*/\1/p' "$work/ready")
export LATCHKEY_CONFIG_DIR=$work/config
export LATCHKEY_BROWSER="node $PWD/tests/provider/browser.mjs"
"$bin" add bench --issuer "$issuer" --client-id latchkey-public >/dev/null
"$bin" login bench >/dev/null 2>&1
id=$("$bin" list --json | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | head -n1)
mkdir -p bench/results
hyperfine --warmup 10 --runs 200 -N \
  --export-json bench/results/token-hot-path.json \
  --command-name "latchkey token (cached)" "$bin token bench" \
  --command-name "secret-tool lookup (floor)" "secret-tool lookup service latchkey username $id/tokens"
