#!/usr/bin/env bash
# Benchmarks of issue 3 (whole processes, release build, one hyperfine run per comparison):
#  1. `latchkey token` with a valid cached token beside the peers a user would otherwise reach
#     for: `gh auth token` (Debian's gh), `oidc-token` (Debian's oidc-agent, an account on the
#     same test provider) and the floor, `secret-tool lookup` of the same keychain item.
#  2. `latchkey refresh --force` beside a raw `curl` POST of the same refresh to the token
#     endpoint (the provider does not rotate refresh tokens here, so both can repeat it).
# Runs in its own D-Bus session with a throwaway unlocked gnome-keyring and the test provider.
# Writes bench/results/peers-token.json, bench/results/refresh-vs-curl.json and
# bench/results/refresh-vs-curl-50ms.json.
# Usage: bench/peers-and-refresh.sh  (needs: hyperfine, node, gnome-keyring, libsecret-tools,
#        curl, gh, oidc-agent)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh
bench_enter "$@"
bin=$PWD/target/release/latchkey
work=$(mktemp -d)
cleanup() {
  kill "$provider_pid" 2>/dev/null || true
  [[ -n "${OIDCD_PID:-}" ]] && kill "$OIDCD_PID" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
bench_provider '{"accessTokenTtl":3600,"rotateRefreshToken":false,"acceptOfflineAccessOnRefresh":true}'
"$bin" add bench --issuer "$issuer" --client-id latchkey-public >/dev/null
"$bin" login bench >/dev/null 2>&1
id=$("$bin" list --json | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | head -n1)
tokens=$(secret-tool lookup service latchkey username "$id/tokens")
at=$(printf '%s' "$tokens" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
rt=$(printf '%s' "$tokens" | sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p')

# gh (Debian 12: 2.23) keeps the token in its hosts.yml (plain text; keyring storage came in
# later versions). `gh auth token` only reads it: no network.
export GH_CONFIG_DIR=$work/gh
mkdir -p "$GH_CONFIG_DIR"
printf 'github.com:\n    oauth_token: %s\n    user: bench\n    git_protocol: https\n' "$at" \
  >"$GH_CONFIG_DIR/hosts.yml"
gh auth token >/dev/null

# oidc-agent: an agent holding the account in memory (loaded once, with a refresh token of the
# confidential test client: oidc-agent always authenticates the client with a secret).
# oidc-agent asks for `offline_access` on every refresh; the provider's
# acceptOfflineAccessOnRefresh (above) lets that pass (see tests/provider/README.md).
printf 'confidential-secret-0123456789abcdef' |
  "$bin" add conf --issuer "$issuer" --client-id latchkey-confidential --client-secret-stdin >/dev/null
"$bin" login conf >/dev/null 2>&1
conf_id=$("$bin" list --json | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | sed -n 2p)
conf_rt=$(secret-tool lookup service latchkey username "$conf_id/tokens" |
  sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p')
export OIDC_CONFIG_DIR=$work/oidc
mkdir -p "$OIDC_CONFIG_DIR"
eval "$(oidc-agent --no-autoload 2>/dev/null)" >/dev/null
peers=()
if oidc-gen --manual --iss="$issuer" --client-id=latchkey-confidential \
    --client-secret=confidential-secret-0123456789abcdef \
    --scope="openid profile" --redirect-uri=http://localhost:8080 \
    --rt="$conf_rt" --pw-cmd="echo bench-password" --confirm-default --no-url-call \
    bench-oidc >"$work/oidc-gen.log" 2>&1 && oidc-token bench-oidc >/dev/null 2>&1; then
  peers+=(--command-name "oidc-token (oidc-agent, in memory)" "oidc-token bench-oidc")
else
  echo "oidc-agent set-up failed; skipping it (see below)" >&2
  cat "$work/oidc-gen.log" >&2
fi

mkdir -p bench/results
hyperfine --warmup 10 --runs 200 -N \
  --export-json bench/results/peers-token.json \
  --command-name "latchkey token (cached)" "$bin token bench" \
  --command-name "gh auth token (hosts.yml)" "gh auth token" \
  "${peers[@]}" \
  --command-name "secret-tool lookup (floor)" "secret-tool lookup service latchkey username $id/tokens"

# The same refresh as curl would send it (form in a file: no token in curl's argv).
printf 'grant_type=refresh_token&client_id=latchkey-public&refresh_token=%s' "$rt" >"$work/form"
hyperfine --warmup 5 --runs 60 -N \
  --export-json bench/results/refresh-vs-curl.json \
  --command-name "latchkey refresh --force" "$bin refresh bench --force" \
  --command-name "curl POST refresh_token" \
  "curl -sS -o /dev/null -X POST --data-binary @$work/form -H Content-Type:application/x-www-form-urlencoded $issuer/token"

# The same comparison with the provider 50 ms away (the test provider delays every token
# request by 50 ms for both commands), as a real provider over the network would be: the
# keychain read and write that latchkey adds are a fixed cost of a few milliseconds.
curl -sS -o /dev/null -X POST -H 'Content-Type: application/json' \
  --data '{"route":"token","mode":"delay:50","count":-1}' "$issuer/__test/fault"
hyperfine --warmup 5 --runs 60 -N \
  --export-json bench/results/refresh-vs-curl-50ms.json \
  --command-name "latchkey refresh --force (provider +50 ms)" "$bin refresh bench --force" \
  --command-name "curl POST refresh_token (provider +50 ms)" \
  "curl -sS -o /dev/null -X POST --data-binary @$work/form -H Content-Type:application/x-www-form-urlencoded $issuer/token"
