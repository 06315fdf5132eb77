#!/usr/bin/env bash
# Installs what building and testing Playmark needs on Debian/Ubuntu, only what is missing.
set -euo pipefail
# gdb: the GTK tests' watchdog (tests/common/gtk.rs) prints every thread's stack when a test hangs.
packages=(build-essential pkg-config ca-certificates curl libgtk-4-dev libadwaita-1-dev xvfb xauth gettext
  meson ninja-build desktop-file-utils appstream dbus gnome-keyring dbus-x11 libsecret-tools mpv
  xdotool python3 python3-venv gdb)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}"
fi
# Rust: Playmark needs the version in Cargo.toml's `rust-version` (newer than most distributions'
# cargo), with rustfmt and clippy for the test gate. rustup provides them; it is installed into
# ~/.cargo (no root needed) when there is no Rust or only an older one outside rustup. The
# scripts that call this one (run.sh, test.sh) then find cargo in ~/.cargo/bin.
need=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' "$(dirname "$0")/../Cargo.toml")
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
version_ok() {
  local have
  have=$(rustc --version 2>/dev/null | awk '{print $2}') || return 1
  [ -n "$have" ] && [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" = "$need" ]
}
if ! command -v cargo >/dev/null 2>&1 || ! version_ok; then
  if ! command -v rustup >/dev/null 2>&1; then
    echo "Rust $need or newer is needed; installing rustup into ~/.cargo (https://rustup.rs)." >&2
    command -v curl >/dev/null 2>&1 || { echo "curl is needed to fetch rustup: apt-get install curl" >&2; exit 1; }
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --no-modify-path
    . "$HOME/.cargo/env"
  fi
  rustup toolchain install stable --profile minimal
  rustup default stable
fi
if command -v rustup >/dev/null 2>&1; then
  installed=$(rustup component list --installed 2>/dev/null || true)
  for c in rustfmt clippy; do
    echo "$installed" | grep -q "^$c" || rustup component add "$c"
  done
fi
if ! version_ok; then
  echo "Rust $need or newer is needed (found: $(rustc --version 2>/dev/null || echo none))." >&2
  exit 1
fi
# The real client libraries the tests run against the demo servers (tests/it/real_clients.rs):
# a virtualenv in tests/python/.venv with the exact versions of tests/python/requirements.txt,
# made again only when that file changed (a copy of it in the virtualenv says what is there).
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/tests/python/.venv"
requirements="$root/tests/python/requirements.txt"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$requirements" "$venv/requirements.txt"; then
  echo "Making the real-client virtualenv in tests/python/.venv." >&2
  rm -rf "$venv"
  python=python3
  [ -x /usr/bin/python3 ] && python=/usr/bin/python3
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --require-virtualenv -r "$requirements"
  cp "$requirements" "$venv/requirements.txt"
fi
