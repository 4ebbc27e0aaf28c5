#!/usr/bin/env bash
# with-keyring.sh CMD [ARGS...]
#
# Runs CMD against a throwaway, unlocked Secret Service (gnome-keyring) so keychain tests
# never prompt, never hang and never touch the developer's real keyring.
#
# Must run INSIDE a private session bus:
#   dbus-run-session -- scripts/with-keyring.sh cargo test --workspace
#
# What it does:
#   1. Refuses to run on what looks like a real login session bus, or when something already
#      owns org.freedesktop.secrets (that would be someone's real keyring).
#   2. Points XDG_DATA_HOME, XDG_CONFIG_HOME, XDG_CACHE_HOME and XDG_STATE_HOME at a throwaway
#      directory, for CMD and for services the bus starts on demand (HOME is kept, so cargo,
#      rustup and npm still find their files). gnome-keyring keeps its keyrings in
#      $XDG_DATA_HOME/keyrings, so the real ~/.local/share/keyrings is never read or written.
#   3. Starts `gnome-keyring-daemon --unlock --components=secrets` with a fixed test password on
#      stdin. On a fresh directory this creates the "login" collection, unlocked, and makes it
#      the default alias (where secret-tool and the keyring crates store items).
#   4. Waits (up to 10 s) until the daemon owns org.freedesktop.secrets: it claims the name
#      after it starts, and a client that calls earlier would make the bus start a second,
#      locked daemon.
#   5. Checks that the login collection exists and its `Locked` property is false
#      (gnome-keyring-daemon exits 0 even for a wrong password), and fails loudly otherwise.
#   6. Runs CMD, then stops the daemon and deletes the throwaway directory. The exit status is
#      CMD's. (CMD is run as a child, not exec'd, so that the cleanup can happen.)
#   7. Supervises the daemon: if it exits during the run, says when and with what status or
#      signal, restarts it on the same unlocked keyring, and keeps its log. The log is also kept
#      when CMD fails: target/test-logs/gnome-keyring-<time>-<pid>.log (LATCHKEY_TEST_LOG_DIR).
#
# Environment:
#   LATCHKEY_TEST_KEYRING_HOME  use this directory instead of a fresh temporary one, and keep it
#                               afterwards (to inspect the keyring). It is created if missing;
#                               an existing login keyring in it must use the test password.
#   LATCHKEY_TEST_KEYRING_PASSWORD  the test password (default: latchkey-test).
set -euo pipefail

readonly SECRETS_NAME=org.freedesktop.secrets
readonly LOGIN_PATH=/org/freedesktop/secrets/collection/login
readonly WAIT_SECONDS=10

die() {
  printf 'with-keyring: %s\n' "$*" >&2
  exit 1
}

if [[ $# -eq 0 ]]; then
  die "usage: dbus-run-session -- $0 CMD [ARGS...]"
fi

for tool in gnome-keyring-daemon dbus-send dbus-update-activation-environment; do
  command -v "$tool" >/dev/null || die "$tool not found; run scripts/install-deps.sh test"
done

if [[ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]]; then
  die "no session bus; run inside one: dbus-run-session -- $0 $*"
fi
# The systemd user bus of a desktop login lives at $XDG_RUNTIME_DIR/bus; dbus-run-session makes
# a private bus elsewhere. Do not start test daemons on (or change) a real login session.
login_bus="unix:path=${XDG_RUNTIME_DIR:-/nonexistent}/bus"
if [[ -n "${XDG_RUNTIME_DIR:-}" && "$DBUS_SESSION_BUS_ADDRESS" == "$login_bus"* ]]; then
  die "this is the login session bus ($DBUS_SESSION_BUS_ADDRESS); run inside dbus-run-session"
fi

# Prints "true" or "false": whether NAME has an owner on the session bus.
name_has_owner() {
  dbus-send --session --print-reply=literal --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner "string:$1" | awk '{ print $2 }'
}

if [[ "$(name_has_owner "$SECRETS_NAME")" == true ]]; then
  die "$SECRETS_NAME already has an owner on this bus; start from a fresh dbus-run-session"
fi

keep_dir=false
if [[ -n "${LATCHKEY_TEST_KEYRING_HOME:-}" ]]; then
  mkdir -p "$LATCHKEY_TEST_KEYRING_HOME"
  base=$(cd "$LATCHKEY_TEST_KEYRING_HOME" && pwd)
  keep_dir=true
else
  base=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-keyring.XXXXXXXX")
fi
chmod 700 "$base"

daemon_pid=""
supervisor_pid=""
log="$base/gnome-keyring.log"
# Where the daemon's log is kept when CMD fails or the daemon died during the run.
log_dir=${LATCHKEY_TEST_LOG_DIR:-"$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/test-logs"}
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  local status=$?
  touch "$base/stopping" 2>/dev/null || true
  if [[ -n "$supervisor_pid" ]]; then
    [[ -s "$base/daemon.pid" ]] && kill "$(cat "$base/daemon.pid")" 2>/dev/null
    wait "$supervisor_pid" 2>/dev/null || true
  fi
  if [[ -s "$base/deaths" || "$status" != 0 ]]; then
    mkdir -p "$log_dir" 2>/dev/null || true
    local kept
    kept="$log_dir/gnome-keyring-$(date -u +%Y%m%dT%H%M%SZ)-$$.log"
    if cat "$base/deaths" "$log" >"$kept" 2>/dev/null; then
      printf 'with-keyring: the keyring daemon log is kept in %s\n' "$kept" >&2
    fi
  fi
  if [[ "$keep_dir" == false ]]; then
    # Services the bus started for CMD (xdg-document-portal) may leave a FUSE mount inside;
    # unmount it first. A directory that still cannot be removed is reported, but must not
    # turn CMD's exit status into a failure.
    local mnt
    while read -r _ mnt _; do
      case "$mnt" in
        "$base"/*) fusermount -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true ;;
      esac
    done </proc/mounts
    rm -rf -- "$base" 2>/dev/null ||
      printf 'with-keyring: could not remove %s (left behind)\n' "$base" >&2
  fi
  return 0
}
trap cleanup EXIT

export XDG_DATA_HOME="$base/data" XDG_CONFIG_HOME="$base/config"
export XDG_CACHE_HOME="$base/cache" XDG_STATE_HOME="$base/state"
(
  umask 077
  mkdir -p "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME" "$XDG_STATE_HOME" \
    "$base/keyring-control"
)
# Services the bus starts on demand (portals, a stray gnome-keyring) get the same directories.
dbus-update-activation-environment XDG_DATA_HOME XDG_CONFIG_HOME XDG_CACHE_HOME XDG_STATE_HOME

# An inherited control socket would make --unlock talk to another (real) daemon instead.
unset GNOME_KEYRING_CONTROL
# The daemon runs under a supervisor: if it exits during the run, the exit status (or signal)
# and the time are written to the log and to stderr, the log is kept (see cleanup), and a new
# daemon is started on the same, unlocked keyring with --replace (taking the name back from a
# locked daemon the bus may have activated meanwhile), so one death does not fail every test
# after it. --foreground + & (rather than --daemonize) keeps each daemon's pid.
supervise() {
  local replace=() pid st
  while :; do
    gnome-keyring-daemon --foreground --unlock --components=secrets "${replace[@]}" \
      --control-directory="$base/keyring-control" \
      < <(printf '%s' "${LATCHKEY_TEST_KEYRING_PASSWORD:-latchkey-test}") \
      >>"$log" 2>&1 &
    pid=$!
    echo "$pid" >"$base/daemon.pid"
    st=0
    wait "$pid" || st=$?
    [[ -e "$base/stopping" ]] && return 0
    local why="status $st"
    ((st > 128)) && why="signal $((st - 128)) ($(kill -l $((st - 128)) 2>/dev/null || echo '?'))"
    printf 'with-keyring: gnome-keyring-daemon (pid %s) exited during the run at %s with %s; restarting it\n' \
      "$pid" "$(date -u +%H:%M:%S)" "$why" | tee -a "$base/deaths" >&2
    printf -- '--- daemon %s exited with %s\n' "$pid" "$why" >>"$log"
    replace=(--replace)
    sleep 0.2
  done
}
supervise &
supervisor_pid=$!
for _ in $(seq 100); do [[ -s "$base/daemon.pid" ]] && break; sleep 0.02; done
daemon_pid=$(cat "$base/daemon.pid")

deadline=$((SECONDS + WAIT_SECONDS))
until [[ "$(name_has_owner "$SECRETS_NAME")" == true ]]; do
  if ! kill -0 "$daemon_pid" 2>/dev/null; then
    cat "$log" >&2 || true
    die "gnome-keyring-daemon exited before owning $SECRETS_NAME"
  fi
  if ((SECONDS >= deadline)); then
    die "$SECRETS_NAME has no owner after ${WAIT_SECONDS}s"
  fi
  sleep 0.05
done

# Prints "true"/"false", or nothing if the login collection does not exist.
login_locked=$(dbus-send --session --print-reply=literal --dest="$SECRETS_NAME" "$LOGIN_PATH" \
  org.freedesktop.DBus.Properties.Get string:org.freedesktop.Secret.Collection string:Locked \
  2>/dev/null | awk '{ print $NF }') || true
case "$login_locked" in
  false) ;;
  true) die "the login keyring in $XDG_DATA_HOME/keyrings is locked (wrong test password?)" ;;
  *) die "gnome-keyring created no login collection ($LOGIN_PATH)" ;;
esac

export LATCHKEY_TEST_KEYRING=1
set +e
"$@"
status=$?
set -e
exit "$status"
