#!/usr/bin/env bash
# `meson setup && meson install` into a temporary prefix, reusing cargo's target directory
# (the dev profile the rest of the gate built), then check that every file is in place.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
meson setup "$work/build" --prefix="$prefix" -Dprofile=dev -Dcargo_target_dir="${CARGO_TARGET_DIR:-$PWD/target}" >/dev/null
meson install -C "$work/build" >/dev/null
app=org.playmark.Playmark
for f in bin/playmark \
  share/applications/$app.desktop \
  share/metainfo/$app.metainfo.xml \
  share/icons/hicolor/scalable/apps/$app.svg \
  share/icons/hicolor/symbolic/apps/$app-symbolic.svg \
  share/locale/de/LC_MESSAGES/playmark.mo; do
  [ -e "$prefix/$f" ] || { echo "meson install did not install $f" >&2; exit 1; }
done
"$prefix/bin/playmark" --version >/dev/null
echo "meson install: every file in place under a temporary prefix"
