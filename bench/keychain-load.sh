#!/usr/bin/env bash
# Load test of the direct path's keychain use (issue 10, point 8): N parallel loops of
# `LATCHKEY_NO_AGENT=1 latchkey token` for S seconds against one account, in a private D-Bus
# session with a throwaway gnome-keyring and the test provider (1 h tokens: no refresh, so
# every call is one process start and one Secret Service session + read).
# Counts calls, failures by message, and whether the Secret Service owner changed (a daemon
# restart). Prints a summary; per-call logs stay in $LATCHKEY_LOAD_KEEP if set.
# Usage: bench/keychain-load.sh [N=20] [S=60]   (BIN=path/to/latchkey to pick a build;
#        WRITERS=K adds K loops of `latchkey refresh --force`, a keychain write each, like the
#        app keeping the account signed in; KILL_AT=T kills the keyring daemon T s in, to see
#        what callers get when it goes away and D-Bus activates a new, locked one)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
n=${1:-20}
secs=${2:-60}
source bench/lib.sh
bench_enter --no-build "$@"
bin=${BIN:-$PWD/target/release/latchkey}
work=${LATCHKEY_LOAD_KEEP:-$(mktemp -d)}
mkdir -p "$work"
trap 'kill "$provider_pid" 2>/dev/null || true' EXIT
bench_provider '{"accessTokenTtl":3600}'
export LATCHKEY_NO_AGENT=1
"$bin" add load --issuer "$issuer" --client-id latchkey-public >/dev/null
"$bin" login load >/dev/null 2>&1
owner() {
  dbus-send --session --print-reply=literal --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.GetNameOwner string:org.freedesktop.secrets 2>/dev/null | awk '{print $1}'
}
daemon_pid() {
  dbus-send --session --print-reply=literal --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.GetConnectionUnixProcessID string:org.freedesktop.secrets 2>/dev/null | awk '{print $2}'
}
daemon_state() {
  local pid
  pid=$(daemon_pid)
  [[ -n "$pid" ]] || { echo "none"; return; }
  echo "pid $pid rss $(awk '/VmRSS/ {print $2 $3}' "/proc/$pid/status") fds $(ls "/proc/$pid/fd" | wc -l)"
}
owner_before=$(owner)
state_before=$(daemon_state)
end=$((SECONDS + secs))
loop() {
  local i=$1 ok=0 fail=0 t0 t1
  while ((SECONDS < end)); do
    t0=$(date +%s%N)
    if "$bin" token load >/dev/null 2>>"$work/err.$i"; then ok=$((ok + 1)); else fail=$((fail + 1)); fi
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000000)) >>"$work/ms.$i"
  done
  echo "$ok $fail" >"$work/count.$i"
}
writer() {
  local i=$1 ok=0 fail=0
  while ((SECONDS < end)); do
    if "$bin" refresh load --force >/dev/null 2>>"$work/werr.$i"; then ok=$((ok + 1)); else fail=$((fail + 1)); fi
  done
  echo "$ok $fail" >"$work/wcount.$i"
}
for i in $(seq "$n"); do loop "$i" & done
for i in $(seq "${WRITERS:-0}"); do writer "$i" & done
if [[ -n "${KILL_AT:-}" ]]; then
  sleep "$KILL_AT"
  victim=$(daemon_pid)
  echo "killing the keyring daemon (pid $victim) at ${KILL_AT} s"
  kill "$victim"
fi
wait $(jobs -p | grep -v "^$provider_pid$") 2>/dev/null || true
owner_after=$(owner)
state_after=$(daemon_state)
ok=$(cat "$work"/count.* | awk '{s+=$1} END {print s}')
fail=$(cat "$work"/count.* | awk '{s+=$2} END {print s}')
sort -n "$work"/ms.* >"$work/ms.all"
calls=$(wc -l <"$work/ms.all")
pct() { awk -v p="$1" '{a[NR]=$1} END {i=int(NR*p); if (i<1) i=1; print a[i]}' "$work/ms.all"; }
echo "loops=$n seconds=$secs calls=$calls ok=$ok failed=$fail"
echo "latency ms: p50=$(pct 0.5) p90=$(pct 0.9) p99=$(pct 0.99) max=$(tail -1 "$work/ms.all")"
echo "secrets owner: $owner_before -> $owner_after"
echo "keyring daemon: $state_before -> $state_after"
if [[ "${WRITERS:-0}" -gt 0 ]]; then
  echo "refreshes: ok=$(cat "$work"/wcount.* | awk '{s+=$1} END {print s}') failed=$(cat "$work"/wcount.* | awk '{s+=$2} END {print s}')"
fi
echo "failures by kind:"
cat "$work"/err.* "$work"/werr.* 2>/dev/null | grep '^latchkey:' | sed -E 's/^latchkey: (the OS keychain [a-z ]*|[^(;]*).*/\1/' | sort | uniq -c | sort -rn
echo "restart noticed in: $(cat "$work"/err.* "$work"/werr.* 2>/dev/null | grep -c 'restarted\|started only\|daemon stopped') failure messages"
echo "failures by message:"
cat "$work"/err.* "$work"/werr.* 2>/dev/null | sed 's/[0-9]\+ ms/N ms/g' | sort | uniq -c | sort -rn | head -10
