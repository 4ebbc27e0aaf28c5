#!/usr/bin/env bash
# session.sh INFO_FILE CMD [ARGS...]
#
# Used by tests/desktop_e2e.rs inside `dbus-run-session -- scripts/with-keyring.sh`: writes this
# shell's pid (which becomes CMD's, through exec) and the private session bus address to
# INFO_FILE, so the test can talk to that bus (secret-tool) and stop CMD, then execs CMD.
set -euo pipefail
info=$1
shift
printf '%s\n%s\n' "$$" "$DBUS_SESSION_BUS_ADDRESS" >"$info.tmp"
mv "$info.tmp" "$info"
exec "$@"
