#!/usr/bin/env bash
# Benchmark: `latchkey token` with a valid cached token (whole process, release build) side by
# side with the floor, one Secret Service read of the same item by `secret-tool lookup`.
# Runs in its own D-Bus session with a throwaway unlocked gnome-keyring and the test provider.
# Writes bench/results/token-hot-path.json (hyperfine) and prints the table.
# Usage: bench/token-hot-path.sh   (needs: hyperfine, node, gnome-keyring, libsecret-tools)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh
bench_enter "$@"
bin=$PWD/target/release/latchkey
work=$(mktemp -d)
trap 'kill "$provider_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
bench_provider '{"accessTokenTtl":3600}'
"$bin" add bench --issuer "$issuer" --client-id latchkey-public >/dev/null
"$bin" login bench >/dev/null 2>&1
id=$("$bin" list --json | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | head -n1)
mkdir -p bench/results
hyperfine --warmup 10 --runs 200 -N \
  --export-json bench/results/token-hot-path.json \
  --command-name "latchkey token (cached)" "$bin token bench" \
  --command-name "secret-tool lookup (floor)" "secret-tool lookup service latchkey username $id/tokens"
