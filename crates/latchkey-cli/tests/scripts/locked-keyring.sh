#!/usr/bin/env bash
# Runs `latchkey token` against a *locked* gnome-keyring with an X display attached — the case
# where a Secret Service read waits for an unlock prompt forever — inside its own D-Bus session,
# HOME and Xvfb. Prints "exit=<code> elapsed_ms=<ms>" and latchkey's stderr.
# Usage: locked-keyring.sh LATCHKEY_BIN ISSUER
set -euo pipefail
bin=$1
issuer=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home XDG_DATA_HOME=$work/home/.local/share XDG_CONFIG_HOME=$work/home/.config
export XDG_RUNTIME_DIR=$work/run LATCHKEY_CONFIG_DIR=$work/config
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
export BIN=$bin ISSUER=$issuer

exec dbus-run-session -- bash -euo pipefail -c '
  printf "locked-test" | gnome-keyring-daemon --unlock --components=secrets --daemonize >/dev/null
  for _ in $(seq 100); do
    dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true" && break
    sleep 0.1
  done
  printf x | secret-tool store --label=probe service latchkey-probe username probe
  "$BIN" add x --issuer "$ISSUER" --client-id latchkey-public >/dev/null
  # An item for the account, so that reading it needs the (soon locked) collection.
  id=$("$BIN" list --json | sed -n "s/.*\"id\": \"\([^\"]*\)\".*/\1/p" | head -n1)
  printf "{}" | secret-tool store --label=tokens service latchkey username "$id/tokens"
  dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets \
    org.freedesktop.Secret.Service.Lock array:objpath:/org/freedesktop/secrets/collection/login >/dev/null
  locked=$(dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets/collection/login \
    org.freedesktop.DBus.Properties.Get string:org.freedesktop.Secret.Collection string:Locked | grep -c "boolean true" || true)
  [ "$locked" = 1 ] || { echo "could not lock the keyring" >&2; exit 90; }
  # A free display number, chosen by Xvfb itself.
  Xvfb -displayfd 3 -screen 0 800x600x24 -nolisten tcp 3>"$LATCHKEY_CONFIG_DIR/display" >/dev/null 2>&1 &
  xvfb=$!
  for _ in $(seq 100); do [ -s "$LATCHKEY_CONFIG_DIR/display" ] && break; sleep 0.1; done
  export DISPLAY=":$(head -n1 "$LATCHKEY_CONFIG_DIR/display")"
  # Like a desktop session: the bus-activated unlock prompter (gcr-prompter) can open a window,
  # so the read waits for a person instead of failing at once.
  dbus-update-activation-environment DISPLAY="$DISPLAY"
  start=$(date +%s%N)
  set +e
  timeout 60 "$BIN" token x 2>"$LATCHKEY_CONFIG_DIR/stderr.txt"
  rc=$?
  set -e
  end=$(date +%s%N)
  kill $xvfb 2>/dev/null || true
  echo "exit=$rc elapsed_ms=$(( (end - start) / 1000000 ))"
  cat "$LATCHKEY_CONFIG_DIR/stderr.txt"
'
