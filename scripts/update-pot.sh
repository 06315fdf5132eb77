#!/usr/bin/env bash
# Regenerates po/playmark.pot from the files in po/POTFILES.in and merges it into each .po.
# (xgettext 0.21 has no Rust parser; its C parser reads Rust string literals correctly.)
set -euo pipefail
cd "$(dirname "$0")/.."
xgettext --from-code=UTF-8 --language=C --add-comments=Translators: \
  --keyword=gettext --keyword=ngettext:1,2 --keyword=tr --keyword=ntr:1,2 --keyword=n_ \
  --package-name=playmark --msgid-bugs-address=https://example.invalid/playmark \
  --files-from=po/POTFILES.in --output=po/playmark.pot 2>/dev/null
for po in po/*.po; do
  msgmerge --quiet --update --backup=none "$po" po/playmark.pot
done
