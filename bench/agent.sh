#!/usr/bin/env bash
# Benchmarks of issue 8 (the agent; whole processes, release build, one hyperfine run each):
#  1. `latchkey token` with a valid token: through the agent (answered by the front), on the
#     direct path (LATCHKEY_NO_AGENT=1: the front hands over to latchkey-full), `--version`
#     through the front and of latchkey-full alone (the hand-over's cost), and `oidc-token`
#     (oidc-agent) when it is installed.
#  2. `latchkey refresh --force` through the agent beside a raw `curl` POST of the same refresh
#     (the provider does not rotate refresh tokens here, so both can repeat it).
#  3. An idle agent holding 100 signed-in accounts: RSS, and how often it wakes (context
#     switches of all its threads over 10 idle seconds).
# Runs in its own D-Bus session with a throwaway unlocked gnome-keyring and the test provider.
# Writes bench/results/agent-token.json, bench/results/agent-refresh-vs-curl.json and
# bench/results/agent-idle.txt.
# Usage: [LATCHKEY_BENCH_BASELINE=BIN] bench/agent.sh [--token-only]  (needs: hyperfine, node, gnome-keyring, libsecret-tools,
#        curl; oidc-agent optional). The binary is $CARGO_TARGET_DIR/release/latchkey when set.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh
bench_enter "$@"
# --token-only: only the first hyperfine run (the token start-up comparison of issue 15).
token_only=false
[[ "${1:-}" == --token-only ]] && token_only=true
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/latchkey
work=$(mktemp -d)
cleanup() {
  kill "$provider_pid" 2>/dev/null || true
  [[ -n "${agent_pid:-}" ]] && kill "$agent_pid" 2>/dev/null || true
  [[ -n "${OIDCD_PID:-}" ]] && kill "$OIDCD_PID" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
bench_provider '{"accessTokenTtl":3600,"rotateRefreshToken":false,"acceptOfflineAccessOnRefresh":true}'
export LATCHKEY_AGENT_SOCK=$work/agent.sock
"$bin" add bench --issuer "$issuer" --client-id latchkey-public >/dev/null
"$bin" login bench >/dev/null 2>&1
id=$("$bin" list --json | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | head -n1)
tokens=$(secret-tool lookup service latchkey username "$id/tokens")
rt=$(printf '%s' "$tokens" | sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p')

peers=()
if command -v oidc-agent >/dev/null && command -v oidc-token >/dev/null; then
  printf 'confidential-secret-0123456789abcdef' |
    "$bin" add conf --issuer "$issuer" --client-id latchkey-confidential --client-secret-stdin >/dev/null
  "$bin" login conf >/dev/null 2>&1
  conf_id=$("$bin" list --json | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | sed -n 2p)
  conf_rt=$(secret-tool lookup service latchkey username "$conf_id/tokens" |
    sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p')
  export OIDC_CONFIG_DIR=$work/oidc
  mkdir -p "$OIDC_CONFIG_DIR"
  eval "$(oidc-agent --no-autoload 2>/dev/null)" >/dev/null
  if oidc-gen --manual --iss="$issuer" --client-id=latchkey-confidential \
      --client-secret=confidential-secret-0123456789abcdef \
      --scope="openid profile" --redirect-uri=http://localhost:8080 \
      --rt="$conf_rt" --pw-cmd="echo bench-password" --confirm-default --no-url-call \
      bench-oidc >"$work/oidc-gen.log" 2>&1 && oidc-token bench-oidc >/dev/null 2>&1; then
    peers+=(--command-name "oidc-token (oidc-agent, in memory)" "oidc-token bench-oidc")
  else
    echo "oidc-agent set-up failed; skipping it" >&2
    cat "$work/oidc-gen.log" >&2
  fi
else
  echo "oidc-agent is not installed; the oidc-token comparison is skipped" >&2
fi

"$bin" agent 2>"$work/agent.log" &
agent_pid=$!
for _ in $(seq 100); do [[ -S "$LATCHKEY_AGENT_SOCK" ]] && break; sleep 0.05; done
"$bin" status bench >"$work/status" && head -n1 "$work/status"

# LATCHKEY_BENCH_BASELINE=/path/to/an/older/latchkey: its `token` in the same run.
baseline=()
if [[ -n "${LATCHKEY_BENCH_BASELINE:-}" ]]; then
  baseline=(--command-name "latchkey token (agent), baseline binary" "$LATCHKEY_BENCH_BASELINE token bench")
fi
mkdir -p bench/results
hyperfine --warmup 20 --runs 300 -N \
  --export-json bench/results/agent-token.json \
  --command-name "latchkey token (agent)" "$bin token bench" \
  --command-name "latchkey token (direct, LATCHKEY_NO_AGENT=1)" "env LATCHKEY_NO_AGENT=1 $bin token bench" \
  --command-name "latchkey --version (start-up floor: the front, then latchkey-full)" "$bin --version" \
  --command-name "latchkey-full --version (the full CLI alone)" "$bin-full --version" \
  --command-name "/bin/true (process floor)" "/bin/true" \
  "${peers[@]}" "${baseline[@]}"
"$token_only" && exit 0

printf 'grant_type=refresh_token&client_id=latchkey-public&refresh_token=%s' "$rt" >"$work/form"
hyperfine --warmup 5 --runs 60 -N \
  --export-json bench/results/agent-refresh-vs-curl.json \
  --command-name "latchkey refresh --force (agent)" "$bin refresh bench --force" \
  --command-name "curl POST refresh_token" \
  "curl -sS -o /dev/null -X POST --data-binary @$work/form -H Content-Type:application/x-www-form-urlencoded $issuer/token"

# 100 signed-in accounts: 99 more (manual provider, same token endpoint) with a copy of the
# token set in the keychain; the agent reads each once (`list`) and then holds them.
set_json=$(secret-tool lookup service latchkey username "$id/tokens")
for i in $(seq 2 100); do
  "$bin" add "acct$i" --provider manual --auth-url "$issuer/auth" --token-url "$issuer/token" \
    --client-id latchkey-public >/dev/null
done
"$bin" list --json | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | while read -r aid; do
  [[ "$aid" == "$id" ]] && continue
  [[ -n "${conf_id:-}" && "$aid" == "$conf_id" ]] && continue
  printf '%s' "$set_json" | secret-tool store --label="latchkey bench" service latchkey username "$aid/tokens"
done
"$bin" list >/dev/null
for i in $(seq 2 100); do "$bin" token "acct$i" >/dev/null; done
signed_in=$("$bin" list --json | grep -c '"status": "signed_in"' || true)
# Let the blocking-pool threads of the last calls retire (10 s keep-alive) before counting.
sleep 15
switches() {
  local total=0 t
  for t in /proc/"$agent_pid"/task/*; do
    t=$(awk '/^(voluntary|nonvoluntary)_ctxt_switches/ {s += $2} END {print s}' "$t/status")
    total=$((total + t))
  done
  echo "$total"
}
before=$(switches)
sleep 10
after=$(switches)
rss=$(awk '/^VmRSS/ {print $2, $3}' /proc/"$agent_pid"/status)
hwm=$(awk '/^VmHWM/ {print $2, $3}' /proc/"$agent_pid"/status)
threads=$(ls /proc/"$agent_pid"/task | wc -l)
{
  echo "idle agent, $signed_in signed-in accounts (release build)"
  echo "VmRSS: $rss (peak $hwm), threads: $threads"
  echo "context switches of all threads in 10 idle seconds: $((after - before))"
} | tee bench/results/agent-idle.txt
