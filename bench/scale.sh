#!/usr/bin/env bash
# Scale benchmarks of issue 8 ("Scale"): the same commands with 1 and with 1,000 accounts.
#  - `latchkey token bench` (a valid token) through the agent and on the direct path
#    (LATCHKEY_NO_AGENT=1);
#  - `latchkey list` through the agent and on the direct path;
#  - `secret-tool lookup` of bench's token item: the keychain's own cost of one read, which
#    grows with the number of items in the keyring (the direct path pays it once per call).
# Set-up: one account `bench` signed in at the test provider; for the 1,000 case, 999 more added
# with `--provider manual` (like the issue's measurement), each with a copy of bench's token set
# in the keychain (so they list as signed in), then one untimed `list` (which records the
# non-secret token state of accounts whose state was never recorded, e.g. these hand-stored
# ones). An agent runs for the "agent" rows (it notices the new accounts by itself).
# Finally, when the desktop app is built (APP_BIN, default target/release/latchkey-app), it is
# started RUNS_APP times (default 5) on the 1,000 accounts under Xvfb, and its page's own marks
# (`bench_painted`) give: asking for the list → a frame with 1,000 rows drawn ("painted", from
# the metadata) and the first full reload with the token statuses → drawn ("statuses").
# Runs in its own D-Bus session with a throwaway unlocked gnome-keyring and the test provider.
# Writes bench/results/scale-1.json, scale-1000.json and scale-app.txt.
# Usage: bench/scale.sh  (needs: hyperfine, node, gnome-keyring, libsecret-tools; xvfb-run for
#        the app part: Xvfb). NO_BUILD=1 skips `cargo build --release`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh
bench_enter "$@"
bin=${CLI_BIN:-$PWD/target/release/latchkey}
app=${APP_BIN:-$PWD/target/release/latchkey-app}
work=$(mktemp -d)
cleanup() {
  kill "$provider_pid" 2>/dev/null || true
  [[ -n "${agent_pid:-}" ]] && kill "$agent_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
bench_provider '{"accessTokenTtl":3600,"rotateRefreshToken":false}'
export LATCHKEY_AGENT_SOCK=$work/agent.sock
"$bin" add bench --issuer "$issuer" --client-id latchkey-public >/dev/null
"$bin" login bench >/dev/null 2>&1
id=$("$bin" list --json | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | head -n1)

"$bin" agent 2>"$work/agent.log" &
agent_pid=$!
for _ in $(seq 100); do [[ -S "$LATCHKEY_AGENT_SOCK" ]] && break; sleep 0.05; done

mkdir -p bench/results
run() { # run N
  "$bin" token bench >/dev/null
  env LATCHKEY_NO_AGENT=1 "$bin" token bench >/dev/null
  hyperfine --warmup 10 --runs "${RUNS:-100}" -N \
    --export-json "bench/results/scale-$1.json" \
    --command-name "token, agent ($1 accounts)" "$bin token bench" \
    --command-name "token, direct ($1 accounts)" "env LATCHKEY_NO_AGENT=1 $bin token bench" \
    --command-name "list, agent ($1 accounts)" "$bin list" \
    --command-name "list, direct ($1 accounts)" "env LATCHKEY_NO_AGENT=1 $bin list" \
    --command-name "secret-tool lookup, keychain floor ($1 accounts)" \
    "secret-tool lookup service latchkey username $id/tokens"
}
run 1

set_json=$(secret-tool lookup service latchkey username "$id/tokens")
for i in $(seq 2 1000); do
  "$bin" add "acct$i" --provider manual --auth-url "$issuer/auth" --token-url "$issuer/token" \
    --client-id latchkey-public >/dev/null
done
LATCHKEY_NO_AGENT=1 "$bin" list --json | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | while read -r aid; do
  [[ "$aid" == "$id" ]] && continue
  printf '%s' "$set_json" | secret-tool store --label="latchkey bench" service latchkey username "$aid/tokens"
done
# Accounts whose tokens were stored behind Latchkey's back have no recorded state yet: the
# first list reads them from the keychain once (and records it); not timed.
rm -rf "$LATCHKEY_CONFIG_DIR/token-state"
LATCHKEY_NO_AGENT=1 "$bin" list >/dev/null
n=$(LATCHKEY_NO_AGENT=1 "$bin" list --json | grep -c '"status": "signed_in"' || true)
echo "$n accounts signed in; accounts.toml: $(stat -c %s "$LATCHKEY_CONFIG_DIR/accounts.toml") bytes"
run 1000

if [[ -x "$app" ]] && command -v Xvfb >/dev/null; then
  kill "$agent_pid" 2>/dev/null || true
  wait "$agent_pid" 2>/dev/null || true
  agent_pid=
  Xvfb -displayfd 3 -screen 0 1280x800x24 3>"$work/display" 2>/dev/null &
  xvfb_pid=$!
  for _ in $(seq 100); do [[ -s "$work/display" ]] && break; sleep 0.05; done
  export DISPLAY=:$(cat "$work/display")
  : >"$work/app-marks"
  for r in $(seq "${RUNS_APP:-5}"); do
    LATCHKEY_BENCH_MARKS=1 WEBKIT_DISABLE_DMABUF_RENDERER=1 "$app" >"$work/app.out" 2>"$work/app.err" &
    app_pid=$!
    for _ in $(seq 600); do grep -q '^latchkey-bench: statuses' "$work/app.out" && break; sleep 0.1; done
    grep '^latchkey-bench:' "$work/app.out" | sed "s/^/run $r: /" >>"$work/app-marks" || true
    kill "$app_pid" 2>/dev/null || true
    wait "$app_pid" 2>/dev/null || true
  done
  kill "$xvfb_pid" 2>/dev/null || true
  {
    echo "desktop app ($app), 1,000 accounts ($n signed in), ${RUNS_APP:-5} launches"
    cat "$work/app-marks"
    for what in painted statuses; do
      grep " $what " "$work/app-marks" | sed 's/.*list_ms=//; s/ .*//' | sort -n |
        awk -v w="$what" '{ v[NR] = $1 } END { if (NR) printf "%s: median %.1f ms (min %.1f, max %.1f)\n", w, v[int((NR + 1) / 2)], v[1], v[NR] }'
    done
  } | tee bench/results/scale-app.txt
else
  echo "no desktop app at $app (or no Xvfb): the app part is skipped" >&2
fi
