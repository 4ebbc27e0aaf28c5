#!/usr/bin/env bash
# Runs one fuzz harness (or all) for a number of seconds each, in release mode, at low priority.
#   scripts/fuzz.sh TARGET SECS [SEED]     one harness
#   scripts/fuzz.sh all SECS               every harness in turn
#   scripts/fuzz.sh list                   the harness names
# Prints one JSON line per run (executions, slowest input, crashes, hangs, peak heap); findings
# are saved under fuzz/artifacts/<target>/ (copy a fixed one to fuzz/regressions/<target>/ so
# `cargo test -p latchkey-fuzz` keeps replaying it). See FUZZING.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 1 ]]; then
  sed -n '2,8p' "$0"; exit 2
fi
cargo build --release -q -p latchkey-fuzz
bin=target/release/latchkey-fuzz
if [[ "$1" == list ]]; then exec "$bin" list; fi
[[ $# -ge 2 ]] || { echo "usage: scripts/fuzz.sh TARGET|all SECS [SEED]" >&2; exit 2; }
if [[ "$1" == all ]]; then
  status=0
  for t in $("$bin" list); do nice -n 19 "$bin" "$t" "$2" || status=1; done
  exit $status
fi
exec nice -n 19 "$bin" "$@"
