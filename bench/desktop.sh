#!/usr/bin/env bash
# bench/desktop.sh [RUNS]      (default RUNS=10)
#
# Desktop benchmarks of issue 4: launch → "painted" and idle memory of the Latchkey app
# (`latchkey-app`, release) side by side with a blank Tauri 2 window (`bench/blank-tauri`,
# same Tauri version, release profile, window size, CSP and page-side mark), plus the release
# binary sizes. Results: bench/results/desktop.csv (every run), bench/results/desktop.json
# (medians, min, max, ratios) and a table on stdout.
#
# Three cases, interleaved run by run so that the machine's background load hits them alike:
#   blank           the blank Tauri window
#   latchkey-empty  Latchkey with an empty config dir (LATCHKEY_CONFIG_DIR)
#   latchkey-3acc   Latchkey with three accounts (two OAuth 2.0 manual-endpoint accounts, one
#                   GitHub account whose client secret is in the keychain), none signed in;
#                   created with the release CLI before the app starts (not timed).
#
# Every run: a fresh `dbus-run-session -- scripts/with-keyring.sh` (private bus, throwaway
# unlocked gnome-keyring, throwaway XDG dirs) on one shared Xvfb screen (1280x800x24).
#
# "Launch" = $EPOCHREALTIME taken in the subshell that then `exec`s the binary.
# "Painted" = the page's mark: in the second requestAnimationFrame callback after its first
# render (Latchkey: after the account list — or the empty-state panel — has been rendered from
# the metadata, `list_accounts_metadata`, before the keychain is read for the token status;
# blank: the empty page), the page invokes the `bench_painted`
# command, which prints `latchkey-bench: painted <unix ns>` when LATCHKEY_BENCH_MARKS is set.
# A second rAF callback runs once the frame holding the first render has been produced, so the
# mark is "a frame with the list exists", plus one IPC hop (~1 ms). Both apps use identical
# code for it. In run 1 of each case the script also grabs the X screen right after the mark
# (bench/results/desktop-<case>.png) to show what was on screen then.
#
# Memory: IDLE seconds (default 5) after the mark, the app process and all its descendants
# (WebKitWebProcess, WebKitNetworkProcess, any helper) are summed: RSS from
# /proc/<pid>/status (VmRSS; shared pages count once per process), PSS from
# /proc/<pid>/smaps_rollup (shared pages split between the processes sharing them: the honest
# total). CPU = utime + stime of the tree at that moment.
#
# WEBKIT_DISABLE_DMABUF_RENDERER: 1 by default for both apps (as scripts/test.sh does; saves
# ~60 MB under Xvfb); export WEBKIT_DISABLE_DMABUF_RENDERER= (empty) to measure WebKit's
# default. The value is recorded in the results. Results go to bench/results/desktop<SUFFIX>.*
# (SUFFIX env var, default empty).
#
# Environment: NO_BUILD=1 skips the builds; IDLE=seconds; SUFFIX=name suffix of the results.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
results="$root/bench/results"
app_bin="$root/target/release/latchkey-app"
cli_bin="$root/target/release/latchkey"
blank_target="$root/target/bench-blank"
blank_bin="$blank_target/release/blank-tauri"
export WEBKIT_DISABLE_DMABUF_RENDERER=${WEBKIT_DISABLE_DMABUF_RENDERER-1}
[[ -n "$WEBKIT_DISABLE_DMABUF_RENDERER" ]] || unset WEBKIT_DISABLE_DMABUF_RENDERER
IDLE=${IDLE:-5}

# ---- one run, inside its own dbus-run-session + with-keyring.sh ------------------------------
# desktop.sh --inner CASE BIN OUTDIR
if [[ "${1:-}" == --inner ]]; then
  case_name=$2 bin=$3 out=$4 screenshot=${5:-}
  mkdir -p "$out/config"
  export LATCHKEY_CONFIG_DIR="$out/config" LATCHKEY_BENCH_MARKS=1
  if [[ "$case_name" == latchkey-3acc ]]; then
    {
      "$cli_bin" add work --provider manual --auth-url https://id.example.com/authorize \
        --token-url https://id.example.com/token --client-id work-client --scope openid \
        --scope profile --label "Work SSO"
      "$cli_bin" add api --provider manual --auth-url https://auth.example.org/oauth/authorize \
        --token-url https://auth.example.org/oauth/token --client-id api-client --scope read \
        --redirect scheme
      printf 'not-a-real-secret' | "$cli_bin" add gh --provider github --client-id Iv1.bench \
        --client-secret-stdin --label GitHub
    } >"$out/fixture.log" 2>&1
  fi
  # Launch: the subshell stamps the time, then becomes the app.
  (
    printf '%s\n' "$EPOCHREALTIME" >"$out/t0"
    exec "$bin"
  ) >"$out/stdout" 2>"$out/stderr" </dev/null &
  pid=$!
  deadline=$((SECONDS + 60))
  until grep -q '^latchkey-bench: painted' "$out/stdout" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "desktop.sh: $case_name exited before painting (see $out/stderr)" >&2
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "desktop.sh: $case_name did not paint within 60 s" >&2
      kill "$pid"
      exit 1
    fi
    sleep 0.05
  done
  if [[ -n "$screenshot" ]]; then
    /usr/bin/import -window root "$screenshot" 2>/dev/null || true
  fi
  sleep "$IDLE"
  # The process tree of the app: pid and every descendant.
  tree() {
    ps -e -o pid= -o ppid= | awk -v root="$1" '
      { parent[$1] = $2 }
      END {
        for (p in parent) {
          q = p
          while (q != "" && q != root && q > 1) q = parent[q]
          if (q == root) print p
        }
      }'
  }
  tck=$(getconf CLK_TCK)
  rss=0 pss=0 cpu=0 n=0 names=""
  for p in $(tree "$pid"); do
    [[ -r /proc/$p/status ]] || continue
    r=$(awk '/^VmRSS:/ { print $2 }' /proc/"$p"/status)
    s=$(awk '/^Pss:/ { print $2 }' /proc/"$p"/smaps_rollup 2>/dev/null || echo 0)
    # utime + stime: fields 14 and 15 of stat (the command name, field 2, may hold spaces).
    c=$(sed 's/^.*) //' /proc/"$p"/stat | awk '{ print $12 + $13 }')
    comm=$(cat /proc/"$p"/comm)
    rss=$((rss + ${r:-0})) pss=$((pss + ${s:-0})) cpu=$((cpu + c)) n=$((n + 1))
    names+="${comm}:${r:-0}/${s:-0} "
  done
  t0=$(cat "$out/t0")
  painted=$(awk '/^latchkey-bench: painted/ { print $3; exit }' "$out/stdout")
  launch_ms=$(awk -v t0="$t0" -v p="$painted" 'BEGIN { printf "%.1f", (p / 1e9 - t0) * 1000 }')
  cpu_ms=$((cpu * 1000 / tck))
  printf '%s,%s,%s,%s,%s,%s,%s\n' "$case_name" "$launch_ms" "$rss" "$pss" "$cpu_ms" "$n" \
    "${names% }" >"$out/result"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  exit 0
fi

# ---- driver ------------------------------------------------------------------------------------
RUNS=${1:-10}
for tool in Xvfb dbus-run-session gnome-keyring-daemon python3; do
  command -v "$tool" >/dev/null || { echo "desktop.sh: $tool not found (scripts/install-deps.sh test)" >&2; exit 1; }
done

if [[ -z "${NO_BUILD:-}" ]]; then
  (cd "$root" && nice -n 10 cargo build --release -p latchkey-app -p latchkey-cli)
  (cd "$root/bench/blank-tauri" && CARGO_TARGET_DIR="$blank_target" nice -n 10 cargo build --release)
fi
for b in "$app_bin" "$cli_bin" "$blank_bin"; do
  [[ -x "$b" ]] || { echo "desktop.sh: $b missing (build first)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-desktop-bench.XXXXXXXX")
xvfb_pid=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  [[ -n "$xvfb_pid" ]] && kill "$xvfb_pid" 2>/dev/null
  rm -rf -- "$work"
}
trap cleanup EXIT

# A free display number, and one Xvfb for all the runs.
display=99
while [[ -e /tmp/.X11-unix/X$display || -e /tmp/.X$display-lock ]]; do display=$((display + 1)); done
Xvfb ":$display" -screen 0 1280x800x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
xvfb_pid=$!
export DISPLAY=":$display"
for _ in $(seq 100); do
  [[ -e /tmp/.X11-unix/X$display ]] && break
  sleep 0.05
done
unset DBUS_SESSION_BUS_ADDRESS

mkdir -p "$results"
csv="$results/desktop${SUFFIX:-}.csv"
echo "case,run,launch_to_painted_ms,rss_kb,pss_kb,cpu_ms,processes,per_process_rss_pss_kb" >"$csv"
cases=(blank latchkey-empty latchkey-3acc)
for run in $(seq "$RUNS"); do
  for c in "${cases[@]}"; do
    bin=$app_bin
    [[ $c == blank ]] && bin=$blank_bin
    out="$work/$c-$run"
    mkdir -p "$out"
    shot=""
    [[ $run == 1 ]] && shot="$results/desktop-$c${SUFFIX:-}.png"
    # The keyring dir is kept by with-keyring.sh (LATCHKEY_TEST_KEYRING_HOME) and removed with
    # $work at the end: the apps make the bus start xdg-document-portal, whose FUSE mount in
    # $XDG_CACHE_HOME/doc is still there when with-keyring.sh would delete its directory.
    LATCHKEY_TEST_KEYRING_HOME="$out/keyring" \
      dbus-run-session -- "$root/scripts/with-keyring.sh" "$0" --inner "$c" "$bin" "$out" "$shot" \
      >"$out/session.log" 2>&1 || true
    [[ -s "$out/result" ]] || { cat "$out/session.log" "$out/stderr" >&2; exit 1; }
    line=$(cat "$out/result")
    echo "${line%%,*},$run,${line#*,}" >>"$csv"
    echo "run $run: $line" | cut -d, -f1-6 >&2
  done
done

# Sizes of the release binaries, as built and stripped (a stripped copy; the build is untouched).
sizes=""
for b in "$app_bin" "$blank_bin"; do
  strip -o "$work/stripped" "$b"
  sizes+="$(basename "$b") $(stat -c %s "$b") $(stat -c %s "$work/stripped");"
done

python3 - "$csv" "$results/desktop${SUFFIX:-}.json" "$sizes" "${WEBKIT_DISABLE_DMABUF_RENDERER-unset}" "$IDLE" <<'EOF'
import csv, json, statistics, sys
path, out, sizes, dmabuf, idle = sys.argv[1:]
rows = list(csv.DictReader(open(path)))
summary = {}
for case in dict.fromkeys(r["case"] for r in rows):
    rs = [r for r in rows if r["case"] == case]
    s = {"runs": len(rs)}
    for key in ("launch_to_painted_ms", "rss_kb", "pss_kb", "cpu_ms"):
        v = [float(r[key]) for r in rs]
        s[key] = {"median": statistics.median(v), "min": min(v), "max": max(v)}
    summary[case] = s
base = summary["blank"]
for case, s in summary.items():
    s["ratio_vs_blank"] = {k: round(s[k]["median"] / base[k]["median"], 3)
                           for k in ("launch_to_painted_ms", "rss_kb", "pss_kb")}
binaries = {}
for item in filter(None, sizes.split(";")):
    name, full, stripped = item.split()
    binaries[name] = {"bytes": int(full), "stripped_bytes": int(stripped)}
json.dump({"WEBKIT_DISABLE_DMABUF_RENDERER": dmabuf, "idle_seconds": float(idle),
           "cases": summary, "binaries": binaries}, open(out, "w"), indent=2)
print(f"\nWEBKIT_DISABLE_DMABUF_RENDERER={dmabuf}, idle {idle} s, medians (min–max) of {base['runs']} runs")
print(f"{'case':16} {'launch→painted ms':>26} {'RSS MiB':>20} {'PSS MiB':>20} {'×blank (t/RSS/PSS)':>20}")
for case, s in summary.items():
    t, r, p = s["launch_to_painted_ms"], s["rss_kb"], s["pss_kb"]
    q = s["ratio_vs_blank"]
    print(f"{case:16} {t['median']:8.0f} ({t['min']:5.0f}–{t['max']:5.0f})      "
          f"{r['median']/1024:6.1f} ({r['min']/1024:5.0f}–{r['max']/1024:4.0f}) "
          f"{p['median']/1024:6.1f} ({p['min']/1024:5.0f}–{p['max']/1024:4.0f}) "
          f"{q['launch_to_painted_ms']:6.2f}/{q['rss_kb']:.2f}/{q['pss_kb']:.2f}")
for name, b in binaries.items():
    print(f"{name}: {b['bytes']/1e6:.1f} MB, stripped {b['stripped_bytes']/1e6:.1f} MB")
EOF
