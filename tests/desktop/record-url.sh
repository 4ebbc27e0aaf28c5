#!/bin/sh
# record-url.sh FILE BROWSER... URL
#
# LATCHKEY_BROWSER for tests/tray_e2e.rs: appends the URL the app opened (its last argument) to
# FILE, then hands it to the real (headless) browser command that follows FILE.
set -eu
file=$1
shift
for url in "$@"; do :; done
printf '%s\n' "$url" >>"$file"
exec "$@"
