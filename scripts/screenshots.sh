#!/usr/bin/env bash
# Renders docs/screenshots/*.png (synced, offline-pending, needs-attention, popover, dark, home,
# movies, series-unwatched, undo-toast, toast-narrow, search, downloads, sign-in-needed,
# sign-in-dialog, main-menu, home-empty, damaged-database, folder-not-writable) from the
# real app on the demo server, under a virtual display with a compositor (for shadows/popovers).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
missing=()
command -v import >/dev/null || missing+=(imagemagick)
command -v xcompmgr >/dev/null || missing+=(xcompmgr)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get install -y -qq "${missing[@]}"
fi
out="${1:-docs/screenshots}"
cargo build --example screenshots
# Xvfb has no GL: GTK's cairo renderer draws the same pixels on every machine.
export GSK_RENDERER="${GSK_RENDERER:-cairo}"
xvfb-run -a -s "-screen 0 1040x720x24" sh -c \
  "xcompmgr >/dev/null 2>&1 & sleep 0.5; cargo run -q --example screenshots -- '$out'"
