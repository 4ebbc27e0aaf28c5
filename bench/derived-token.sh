#!/usr/bin/env bash
# Benchmark: `latchkey token NAME --resource URI` with a valid cached token for another API
# (issue 11) side by side with the account's own cached token and the floor, one Secret Service
# read by `secret-tool lookup` (whole processes, release build). Runs in its own D-Bus session
# with a throwaway unlocked gnome-keyring and the test provider (resourceIndicators on).
# Writes bench/results/derived-token.json (hyperfine) and prints the table.
# Usage: bench/derived-token.sh   (needs: hyperfine, node, gnome-keyring, libsecret-tools)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh
bench_enter "$@"
bin=$PWD/target/release/latchkey
work=$(mktemp -d)
trap 'kill "$provider_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
bench_provider '{"accessTokenTtl":3600,"resourceIndicators":true}'
export LATCHKEY_NO_AGENT=1
"$bin" add bench --issuer "$issuer" --client-id latchkey-public \
  --scope "openid offline_access api:read" --resource https://a.api.test >/dev/null
"$bin" login bench >/dev/null 2>&1
"$bin" token bench --resource https://a.api.test >/dev/null
id=$("$bin" list --json | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | head -n1)
mkdir -p bench/results
hyperfine --warmup 10 --runs 200 -N \
  --export-json bench/results/derived-token.json \
  --command-name "latchkey token --resource (cached)" "$bin token bench --resource https://a.api.test" \
  --command-name "latchkey token (own, cached)" "$bin token bench" \
  --command-name "secret-tool lookup (floor)" "secret-tool lookup service latchkey username $id/tokens"
