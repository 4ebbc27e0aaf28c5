# Sourced by the bench scripts (bench/*.sh): their shared set-up, in one place.
#
#   bench_enter [--no-build] "$@"
#       Outside: builds the release CLI (not with --no-build or NO_BUILD=1), then runs the
#       calling script again in a private D-Bus session with a throwaway unlocked gnome-keyring
#       (scripts/with-keyring.sh). Inside that session: returns.
#   bench_provider CONFIG_JSON
#       Starts the test provider (tests/provider, PROVIDER_CONFIG=CONFIG_JSON) on an ephemeral
#       port and waits for it: sets provider_pid and issuer; exports LATCHKEY_CONFIG_DIR
#       ($work/config) and LATCHKEY_BROWSER (the headless browser). Needs $work.
# Both expect the repository root as the working directory.

bench_enter() {
  local build=true
  if [[ "${1:-}" == --no-build ]]; then
    build=false
    shift
  fi
  [[ -n "${LATCHKEY_BENCH_INSIDE:-}" ]] && return 0
  if "$build" && [[ -z "${NO_BUILD:-}" ]]; then
    cargo build --release -p latchkey-cli
  fi
  export LATCHKEY_BENCH_INSIDE=1
  exec dbus-run-session -- scripts/with-keyring.sh "$0" "$@"
}

bench_provider() {
  PROVIDER_CONFIG=$1 node tests/provider/server.mjs >"$work/ready" &
  provider_pid=$!
  for _ in $(seq 100); do [[ -s "$work/ready" ]] && break; sleep 0.1; done
  issuer=$(sed -n 's/.*"issuer":"\([^"]*\)".*/\1/p' "$work/ready")
  if [[ -z "$issuer" ]]; then
    echo "the test provider did not start" >&2
    exit 1
  fi
  export LATCHKEY_CONFIG_DIR=$work/config
  export LATCHKEY_BROWSER="node $PWD/tests/provider/browser.mjs"
}
