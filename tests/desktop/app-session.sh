#!/usr/bin/env bash
# app-session.sh INFO_FILE GO_FILE CMD [ARGS...]
#
# Used by tests/tray_e2e.rs inside `dbus-run-session -- scripts/with-keyring.sh`: starts dunst on
# this private bus when LATCHKEY_TEST_DUNSTRC names its config, writes this shell's pid (CMD's,
# through exec) and the bus address to INFO_FILE, then waits until the test has set up its side
# of the bus (it owns org.kde.StatusNotifierWatcher, like a panel) and creates GO_FILE, and execs
# CMD (the app).
set -euo pipefail
info=$1
go=$2
shift 2
if [[ -n "${LATCHKEY_TEST_DUNSTRC:-}" ]]; then
  command -v dunst >/dev/null || {
    echo "app-session: dunst not found; run scripts/install-deps.sh test" >&2
    exit 1
  }
  dunst -config "$LATCHKEY_TEST_DUNSTRC" >"$info.dunst.log" 2>&1 &
fi
printf '%s\n%s\n' "$$" "$DBUS_SESSION_BUS_ADDRESS" >"$info.tmp"
mv "$info.tmp" "$info"
for _ in $(seq 1 1200); do
  [[ -e "$go" ]] && exec "$@"
  sleep 0.05
done
echo "app-session: $go never appeared" >&2
exit 1
