#!/bin/sh
# dunst-pick.sh LOG PATTERN
#
# dunst's `dmenu` for tests/tray_e2e.rs: dunst writes one line per action of the notification
# to stdin and runs the line printed back. This picks the first line matching PATTERN (as a
# person would pick "Sign in" in the context menu) and keeps what dunst offered in LOG.
set -eu
tee "$1" | grep -m1 -- "$2"
