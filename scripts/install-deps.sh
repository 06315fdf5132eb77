#!/usr/bin/env bash
# Installs what building and testing Playmark needs on Debian/Ubuntu, only what is missing.
set -euo pipefail
packages=(build-essential pkg-config ca-certificates libgtk-4-dev libadwaita-1-dev xvfb xauth gettext
  meson ninja-build desktop-file-utils appstream dbus gnome-keyring dbus-x11 libsecret-tools mpv)
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
if ! command -v cargo >/dev/null 2>&1; then
  echo "Rust is missing: install it with your distribution (apt-get install cargo) or rustup, then run again." >&2
  exit 1
fi
