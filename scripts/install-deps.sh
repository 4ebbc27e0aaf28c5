#!/usr/bin/env bash
# install-deps.sh [app|test]
#
# Installs the system packages Latchkey needs on Debian 12+ / Ubuntu 22.04+, and checks the
# Rust and Node toolchains. Idempotent: when everything is present it only runs `dpkg-query`
# (well under a second) and changes nothing; otherwise it runs `apt-get update` once and
# `apt-get install -y --no-install-recommends` for the missing packages (via sudo when not root).
#
#   app   (default) build and run the desktop app and the CLI: WebKitGTK/GTK development files,
#         the tray library, the Secret Service (gnome-keyring) and its tools, D-Bus, xdg tools.
#   test  app + what scripts/test.sh needs: Xvfb, WebKitWebDriver, hyperfine, ImageMagick, git, dunst,
#         Node.js >= 20.18 with npm (for tests/provider and tests/tools' pnpm), Dovecot, isync
#         with the XOAUTH2 SASL plugin and msmtp (the mail tests), rustfmt and clippy, and tauri-driver
#         (`cargo install tauri-driver --locked`, for the desktop end-to-end test), and a Python
#         venv with the AWS CLI and moto's STS (`~/.cache/latchkey-test-venv`, or
#         $LATCHKEY_TEST_VENV) for crates/latchkey-cli/tests/e2e_aws_cargo.rs.
#
# It never installs Rust or a Node.js from outside the distribution: when those are missing or
# too old it says how to get them and exits 1.
set -euo pipefail

readonly MIN_NODE=20.18
readonly MIN_RUST=1.90 # tauri 2.12 needs rustc 1.90

mode=${1:-app}
case "$mode" in
  app | test) ;;
  *)
    echo "usage: $0 [app|test]" >&2
    exit 2
    ;;
esac

app_packages=(
  libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev libssl-dev
  pkg-config build-essential curl file
  gnome-keyring libsecret-tools dbus dbus-x11 xdg-utils desktop-file-utils libglib2.0-bin
)
# git: the integration tests clone and fetch over smart HTTP (`git http-backend`). kubectl is not
# in Debian's own repositories (only kubernetes-client 1.20, too old for ExecCredential v1 and
# interactiveMode); it is installed below from a configured apt repository that has it (Google
# Cloud's, Kubernetes' pkgs.k8s.io), and the kubectl tests FAIL (never skip) without it.
# dunst: the notification daemon the tray/notification tests talk to.
# dovecot-imapd, isync, libsasl2-modules-kdexoauth2, msmtp: the mail tests run a private Dovecot
# that validates OAuth tokens by introspection and log in with mbsync over XOAUTH2 (isync needs
# the kdexoauth2 SASL plugin for it); they FAIL (never skip) without them. pnpm is not a Debian
# package: scripts/test.sh installs it into tests/tools (`npm ci --prefix tests/tools`).
# python3-venv: the AWS test's venv (awscli + moto, below).
test_packages=(xvfb xauth webkit2gtk-driver hyperfine imagemagick git dunst python3 python3-venv
  dovecot-imapd isync libsasl2-modules-kdexoauth2 msmtp)

say() { printf 'install-deps: %s\n' "$*"; }
die() {
  printf 'install-deps: %s\n' "$*" >&2
  exit 1
}

# True if version $1 >= version $2 (dotted numbers; a leading "v" is ignored).
version_ge() {
  [[ "$(printf '%s\n%s\n' "${2#v}" "${1#v}" | sort -V | head -n1)" == "${2#v}" ]]
}

# True if the package is fully installed ("dpkg -s" also succeeds for removed packages whose
# configuration files are still there).
is_installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" == "ii "* ]]
}

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
  die "this script supports Debian/Ubuntu (apt) only; see the README for the package list"
fi

sudo_cmd=()
if [[ $EUID -ne 0 ]]; then
  command -v sudo >/dev/null || die "not root and sudo is missing: run this script as root"
  sudo_cmd=(sudo)
fi

apt_updated=false
apt_update_once() {
  if [[ "$apt_updated" == false ]]; then
    say "apt-get update"
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    apt_updated=true
  fi
}
apt_install() {
  apt_update_once
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "$@"
}

wanted=("${app_packages[@]}")
if [[ "$mode" == test ]]; then
  wanted+=("${test_packages[@]}")
fi

missing=()
for pkg in "${wanted[@]}"; do
  is_installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]} > 0)); then
  say "installing: ${missing[*]}"
  apt_install "${missing[@]}"
else
  say "system packages for '$mode': all present"
fi

# --- kubectl (the kubectl integration tests run the real one; >= 1.26 for ExecCredential v1) ---
if [[ "$mode" == test ]] && ! command -v kubectl >/dev/null; then
  apt_update_once
  candidate=$(apt-cache policy kubectl 2>/dev/null | awk '/Candidate:/ { print $2 }')
  if [[ -n "$candidate" && "$candidate" != "(none)" ]]; then
    say "installing kubectl $candidate"
    apt_install kubectl
  else
    say "WARNING: no apt repository here offers kubectl; the kubectl integration tests will fail."
    say "  Add Kubernetes' repository (https://pkgs.k8s.io) or put a kubectl >= 1.26 on PATH."
  fi
fi

# --- Node.js (tests/provider runs panva oidc-provider, which needs Node >= 20.18) ---
node_ok() {
  command -v node >/dev/null && command -v npm >/dev/null &&
    version_ge "$(node -p 'process.versions.node')" "$MIN_NODE"
}

if [[ "$mode" == test ]] && ! node_ok; then
  # Debian 12 ships Node 18, which is too old; a configured NodeSource (or newer distribution)
  # repository offers a new enough `nodejs`, which then comes with npm.
  apt_update_once
  candidate=$(apt-cache policy nodejs 2>/dev/null | awk '/Candidate:/ { print $2 }')
  candidate_version=${candidate#*:} # drop an epoch
  candidate_version=${candidate_version%%[-~+]*}
  if [[ -n "$candidate_version" && "$candidate" != "(none)" ]] &&
    version_ge "$candidate_version" "$MIN_NODE"; then
    say "installing nodejs $candidate from apt"
    apt_install nodejs
    command -v npm >/dev/null || apt_install npm
  fi
  if ! node_ok; then
    # Debian 12 / Ubuntu 22.04 ship Node 18: add NodeSource's Node 20 LTS repository (its
    # documented set-up script) and install from it.
    say "Node.js >= $MIN_NODE not available from apt: adding the NodeSource Node 20 repository"
    command -v curl >/dev/null || apt_install curl ca-certificates
    if curl -fsSL https://deb.nodesource.com/setup_20.x -o /tmp/nodesource_setup.sh; then
      "${sudo_cmd[@]}" bash /tmp/nodesource_setup.sh && apt_install nodejs || true
    fi
  fi
  if ! node_ok; then
    have=$(command -v node >/dev/null && node --version || echo "no node")
    die "Node.js >= $MIN_NODE with npm is needed for tests/provider (found: $have; apt offers:" \
      "${candidate:-nothing}). Debian 12's own nodejs is 18.x. Install Node 20 LTS or newer," \
      "e.g. from https://deb.nodesource.com (then re-run this script) or with nvm/fnm, and make" \
      "sure 'node' and 'npm' are on PATH."
  fi
fi
if [[ "$mode" == test ]]; then
  say "node $(node --version), npm $(npm --version)"
fi

# --- pnpm (the npm-registry tests drive the real one; pinned in tests/tools/package-lock.json:
# 10.x, since 11.x needs Node 22) ---
if [[ "$mode" == test ]]; then
  repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  tools_pnpm="$repo_root/tests/tools/node_modules/.bin/pnpm"
  if [[ -x "$tools_pnpm" ]] && "$tools_pnpm" --version >/dev/null 2>&1; then
    say "pnpm $("$tools_pnpm" --version) (tests/tools): present"
  else
    say "npm ci --prefix tests/tools (pnpm for the npm-registry tests)"
    npm ci --prefix "$repo_root/tests/tools" --no-audit --no-fund ||
      die "installing tests/tools failed; run: npm ci --prefix tests/tools"
  fi
fi

# --- Rust ---
if ! command -v cargo >/dev/null && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null; then
  # Debian's own rustc is too old for Tauri 2; rustup is the supported way to get Rust.
  say "cargo not found: installing Rust with rustup (https://rustup.rs) into ~/.rustup and ~/.cargo"
  command -v curl >/dev/null || apt_install curl ca-certificates
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
    sh -s -- -y --profile minimal -c rustfmt,clippy ||
    die "installing Rust failed; install it from https://rustup.rs and re-run"
  export PATH="$HOME/.cargo/bin:$PATH"
  say "Rust installed; open a new shell (or run: . \"\$HOME/.cargo/env\") to use cargo yourself"
fi
rustc_version=$(rustc --version | awk '{ print $2 }')
version_ge "$rustc_version" "$MIN_RUST" ||
  die "rustc $rustc_version is too old; Latchkey needs >= $MIN_RUST (try: rustup update stable)"
if [[ "$mode" == test ]]; then
  for component in rustfmt clippy; do
    subcommand=${component/rustfmt/fmt}
    if ! cargo "$subcommand" --version >/dev/null 2>&1; then
      command -v rustup >/dev/null ||
        die "cargo $subcommand is missing and rustup is not installed: install $component"
      say "rustup component add $component"
      rustup component add "$component"
    fi
  done
fi
say "rustc $rustc_version: ok"

# --- tauri-driver (the desktop end-to-end test drives the app through it; ~30 s to build) ---
if [[ "$mode" == test ]]; then
  if command -v tauri-driver >/dev/null || [[ -x "${CARGO_HOME:-$HOME/.cargo}/bin/tauri-driver" ]]; then
    say "tauri-driver: present"
  else
    say "cargo install tauri-driver --locked (for tests/desktop_e2e.rs)"
    cargo install tauri-driver --locked --version "^2" ||
      die "installing tauri-driver failed; run: cargo install tauri-driver --locked"
  fi
fi

# --- awscli + moto (the AWS integration test runs the real AWS CLI against moto's STS) ---
readonly AWSCLI_VERSION="1.46.*"
readonly MOTO_VERSION="5.2.*"
if [[ "$mode" == test ]]; then
  venv=${LATCHKEY_TEST_VENV:-$HOME/.cache/latchkey-test-venv}
  if [[ -x "$venv/bin/aws" && -x "$venv/bin/moto_server" ]]; then
    say "awscli and moto: present in $venv"
  else
    say "python venv $venv: pip install awscli==$AWSCLI_VERSION moto[server]==$MOTO_VERSION"
    python3 -m venv "$venv" || die "creating the venv $venv failed (is python3-venv installed?)"
    "$venv/bin/pip" install -q "awscli==$AWSCLI_VERSION" "moto[server]==$MOTO_VERSION" ||
      die "installing awscli and moto into $venv failed"
  fi
fi
