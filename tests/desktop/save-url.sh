#!/bin/sh
# save-url.sh FILE URL
#
# A stand-in for the OS holding a deep link while the app is not running: the headless
# browser (LATCHKEY_TEST_DEEP_LINK_CMD) hands the dev.latchkey.app: callback here, and
# tests/desktop_e2e.rs then cold-starts the app with it as its only argument.
set -eu
printf '%s\n' "$2" >"$1.tmp"
mv "$1.tmp" "$1"
