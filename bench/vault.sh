#!/usr/bin/env bash
# bench/vault.sh: `latchkey token` from the encrypted vault (its key cached in the kernel
# keyring, as between two commands of one session) beside the Secret Service direct path and the
# agent, in one hyperfine run (issue 18). Release build, its own D-Bus session with a throwaway
# unlocked gnome-keyring, and the test provider. Writes bench/results/vault-token.json.
# Usage: bench/vault.sh  (the binary is $CARGO_TARGET_DIR/release/latchkey when set)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh
bench_enter "$@"
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/latchkey
work=$(mktemp -d)
cleanup() {
  kill "$provider_pid" 2>/dev/null || true
  [[ -n "${agent_pid:-}" ]] && kill "$agent_pid" 2>/dev/null || true
  LATCHKEY_CONFIG_DIR=$work/vault "$bin" lock >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
bench_provider '{"accessTokenTtl":3600}'
export LATCHKEY_AGENT_SOCK=$work/agent.sock
ss=$work/secret-service
vault=$work/vault
printf '#!/bin/sh\necho bench-vault-passphrase\n' >"$work/passphrase"
chmod 700 "$work/passphrase"

LATCHKEY_CONFIG_DIR=$ss "$bin" add bench --issuer "$issuer" --client-id latchkey-public >/dev/null
LATCHKEY_CONFIG_DIR=$ss "$bin" login bench >/dev/null 2>&1
LATCHKEY_CONFIG_DIR=$vault "$bin" store use vault >/dev/null
LATCHKEY_CONFIG_DIR=$vault LATCHKEY_VAULT_PASSWORD_COMMAND=$work/passphrase "$bin" unlock >/dev/null
LATCHKEY_CONFIG_DIR=$vault "$bin" add bench --issuer "$issuer" --client-id latchkey-public >/dev/null
LATCHKEY_CONFIG_DIR=$vault "$bin" login bench >/dev/null 2>&1
# No passphrase command from here on: the key must come from the kernel keyring's cache.
LATCHKEY_CONFIG_DIR=$vault LATCHKEY_NO_AGENT=1 "$bin" token bench >/dev/null
LATCHKEY_CONFIG_DIR=$vault "$bin" store | head -n 3

LATCHKEY_CONFIG_DIR=$ss "$bin" agent 2>"$work/agent.log" &
agent_pid=$!
for _ in $(seq 100); do [[ -S "$LATCHKEY_AGENT_SOCK" ]] && break; sleep 0.05; done

mkdir -p bench/results
hyperfine --warmup 20 --runs 300 -N \
  --export-json bench/results/vault-token.json \
  --command-name "latchkey token (vault, key cached in the kernel keyring)" \
  "env LATCHKEY_NO_AGENT=1 LATCHKEY_CONFIG_DIR=$vault $bin token bench" \
  --command-name "latchkey token (Secret Service, direct)" \
  "env LATCHKEY_NO_AGENT=1 LATCHKEY_CONFIG_DIR=$ss $bin token bench" \
  --command-name "latchkey token (agent)" \
  "env LATCHKEY_CONFIG_DIR=$ss $bin token bench"
