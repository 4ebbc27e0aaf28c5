#!/usr/bin/env bash
# Benchmark: `latchkey token NAME --resource URI` (a valid cached token for another API) served
# by `latchkey agent` (operation `token_for`) side by side with the direct path
# (LATCHKEY_NO_AGENT=1: keychain read in the process) and the account's own token through the
# agent. Whole processes, release build, every command run through `env` so each pays the same
# extra exec. Own D-Bus session, throwaway unlocked gnome-keyring, the test provider with
# resourceIndicators on. Writes bench/results/derived-token-agent.json and prints the table.
# Usage: bench/derived-token-agent.sh   (needs: hyperfine, node, gnome-keyring)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh
bench_enter "$@"
bin=$PWD/target/release/latchkey
work=$(mktemp -d)
agent_pid=
trap 'kill "$provider_pid" $agent_pid 2>/dev/null || true; rm -rf "$work"' EXIT
bench_provider '{"accessTokenTtl":3600,"resourceIndicators":true}'
export LATCHKEY_AGENT_SOCK=$work/agent.sock
export LATCHKEY_NO_AGENT=1
"$bin" add bench --issuer "$issuer" --client-id latchkey-public \
  --scope "openid offline_access api:read" --resource https://a.api.test >/dev/null
"$bin" login bench >/dev/null 2>&1
"$bin" token bench --resource https://a.api.test >/dev/null
unset LATCHKEY_NO_AGENT
"$bin" agent --socket "$LATCHKEY_AGENT_SOCK" 2>"$work/agent.log" &
agent_pid=$!
for _ in $(seq 100); do [[ -S "$LATCHKEY_AGENT_SOCK" ]] && break; sleep 0.1; done
# Served by the agent: `-v` would print "agent not used".
if "$bin" -v token bench --resource https://a.api.test 2>&1 >/dev/null | grep -q "agent not used"; then
  echo "the agent did not serve token_for" >&2
  exit 1
fi
mkdir -p bench/results
hyperfine --warmup 10 --runs 200 -N \
  --export-json bench/results/derived-token-agent.json \
  --command-name "token --resource, agent" "env LATCHKEY_NO_AGENT=0 $bin token bench --resource https://a.api.test" \
  --command-name "token --resource, direct" "env LATCHKEY_NO_AGENT=1 $bin token bench --resource https://a.api.test" \
  --command-name "token (own), agent" "env LATCHKEY_NO_AGENT=0 $bin token bench"
