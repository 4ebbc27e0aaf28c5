#!/usr/bin/env bash
# Benchmark of issue 17 (approval and activity): what `latchkey token` through the agent costs
# now that every hand-out names its requester (/proc) and appends an activity record, against
# the same command of a build from before (BASE, default: the commit before approval landed), in
# one hyperfine run:
#   1. base CLI → base agent (today's path)
#   2. this CLI → this agent, an account with approval off
#   3. this CLI → this agent, an account with `--approval session` and a live session grant
# Goals: (2) costs what (1) costs; (3) at most +0.5 ms over (2).
# Runs in its own D-Bus session with a throwaway unlocked gnome-keyring and the test provider.
# Writes bench/results/approval-token.json.
# Usage: bench/approval.sh [BASE]   (needs hyperfine, node, gnome-keyring; builds both in release)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
base_rev=${1:-2a70b35}
source bench/lib.sh
if [[ -z "${LATCHKEY_BENCH_INSIDE:-}" ]]; then
  base_dir=${LATCHKEY_BENCH_BASE_DIR:-$PWD/target/bench-base}
  if [[ ! -x "$base_dir/target/release/latchkey" ]]; then
    rm -rf "$base_dir"
    git worktree add --detach "$base_dir" "$base_rev"
    (cd "$base_dir" && CARGO_TARGET_DIR="$base_dir/target" cargo build --release -p latchkey-cli)
  fi
  export LATCHKEY_BENCH_BASE="$base_dir/target/release/latchkey"
fi
bench_enter "$@"
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/latchkey
old=$LATCHKEY_BENCH_BASE
work=$(mktemp -d)
cleanup() {
  kill "$provider_pid" "${agent_pid:-}" "${old_agent_pid:-}" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
bench_provider '{"accessTokenTtl":3600,"rotateRefreshToken":false}'
for name in off gated; do
  "$bin" add "$name" --issuer "$issuer" --client-id latchkey-public >/dev/null
  "$bin" login "$name" >/dev/null 2>&1
done
"$bin" edit gated --approval session >/dev/null

# Two agents over the same accounts: the base one and this one.
LATCHKEY_AGENT_SOCK=$work/old.sock "$old" agent 2>"$work/old-agent.log" &
old_agent_pid=$!
LATCHKEY_AGENT_SOCK=$work/new.sock "$bin" agent 2>"$work/agent.log" &
agent_pid=$!
for _ in $(seq 100); do [[ -S $work/old.sock && -S $work/new.sock ]] && break; sleep 0.1; done

# The session grant: hyperfine (no shell, -N) is the requester, in this script's session; one
# run raises the prompt, `approve --session` answers it.
export LATCHKEY_AGENT_SOCK=$work/new.sock
hyperfine -N --runs 1 --output=null "$bin token gated" >/dev/null 2>&1 &
grant_pid=$!
id=""
for _ in $(seq 100); do
  id=$("$bin" pending --json | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | head -n1)
  [[ -n "$id" ]] && break
  sleep 0.1
done
[[ -n "$id" ]] || { echo "approval.sh: no prompt appeared" >&2; exit 1; }
"$bin" approve "$id" --session >/dev/null
wait "$grant_pid"
"$bin" approvals | grep -q "Session grants:" || { echo "approval.sh: no session grant" >&2; exit 1; }

mkdir -p bench/results
hyperfine -N --warmup 20 --runs 300 --export-json bench/results/approval-token.json \
  -n "base: token off (agent)" "env LATCHKEY_AGENT_SOCK=$work/old.sock $old token off" \
  -n "now: token off (agent, approval off)" "env LATCHKEY_AGENT_SOCK=$work/new.sock $bin token off" \
  -n "now: token gated (agent, session grant)" "env LATCHKEY_AGENT_SOCK=$work/new.sock $bin token gated"
# Every hand-out was recorded, and none waited.
records=$("$bin" activity --json --limit 100000 | grep -c '"outcome": "issued"' || true)
echo "activity records (issued): $records"
"$bin" pending | grep -q "Nothing waits" || { echo "approval.sh: something waited" >&2; exit 1; }
