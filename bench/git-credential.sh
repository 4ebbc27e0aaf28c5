#!/usr/bin/env bash
# Benchmark of issue 9: `git ls-remote` over smart HTTP with the token from Latchkey's git
# credential helper (`latchkey setup git`) beside a plain `credential.helper=store` baseline
# (the same token in ~/.git-credentials), in one hyperfine run (whole processes, release CLI).
# The server (bench/git-http-server.py, `git http-backend` behind Basic auth) accepts only the
# account's current access token, so every run authenticates (git asks the helper after a 401).
# Runs in its own D-Bus session with a throwaway unlocked gnome-keyring and the test provider.
# Writes bench/results/git-credential.json and prints the table.
# Usage: bench/git-credential.sh   (needs: hyperfine, node, gnome-keyring, git, python3)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh
bench_enter "$@"
bin=$PWD/target/release/latchkey
work=$(mktemp -d)
provider_pid=
server_pid=
cleanup() {
  [[ -n "$provider_pid" ]] && kill "$provider_pid" 2>/dev/null || true
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
bench_provider '{"accessTokenTtl":3600}'
"$bin" add bench --issuer "$issuer" --client-id latchkey-public >/dev/null
"$bin" login bench >/dev/null 2>&1
token=$("$bin" token bench)

# A bare repository with one commit.
export GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
git init -q -b main "$work/src"
git -C "$work/src" -c user.name=B -c user.email=b@example.test commit -q --allow-empty -m one
mkdir -p "$work/root/team"
git clone -q --bare "$work/src" "$work/root/team/app.git"

ALLOWED_TOKEN=$token python3 bench/git-http-server.py "$work/root" >"$work/port" &
server_pid=$!
for _ in $(seq 100); do [[ -s "$work/port" ]] && break; sleep 0.1; done
port=$(cat "$work/port")
url=http://127.0.0.1:$port/team/app.git

# Two homes: Latchkey's helper, and the store baseline.
mkdir -p "$work/home-latchkey" "$work/home-store"
HOME=$work/home-latchkey "$bin" setup git bench --host "http://127.0.0.1:$port" >/dev/null
HOME=$work/home-store git config --global credential.helper store
printf 'http://bench:%s@127.0.0.1:%s\n' "$token" "$port" >"$work/home-store/.git-credentials"
for h in latchkey store; do
  HOME=$work/home-$h git ls-remote "$url" >/dev/null # fails loudly if auth does not work
done

mkdir -p bench/results
hyperfine -N --warmup 5 --runs 100 --export-json bench/results/git-credential.json \
  -n "git ls-remote, latchkey git-credential" "env HOME=$work/home-latchkey git ls-remote $url" \
  -n "git ls-remote, credential.helper=store" "env HOME=$work/home-store git ls-remote $url"
git --version
