#!/usr/bin/env bash
# Fails when po/POTFILES.in is stale: every source file that marks strings for translation
# (gettext, ngettext, tr, ntr, n_) must be listed, and every listed file must exist.
set -euo pipefail
cd "$(dirname "$0")/.."
expected=$(grep -rlE '\b(gettext|ngettext|ntr|tr|n_)\("' src --include='*.rs' | grep -v '^src/ui/i18n.rs$' | sort)
listed=$(grep -vE '^\s*(#|$)' po/POTFILES.in | sort)
if [ "$expected" != "$listed" ]; then
  echo "po/POTFILES.in is stale. Files that mark strings vs. files listed:" >&2
  diff <(echo "$expected") <(echo "$listed") >&2 || true
  exit 1
fi
for f in $listed; do
  [ -f "$f" ] || { echo "po/POTFILES.in lists a missing file: $f" >&2; exit 1; }
done
echo "po/POTFILES.in is up to date."
# Every translation is complete for the current strings: no missing, untranslated or fuzzy entry.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
xgettext --from-code=UTF-8 --language=C \
  --keyword=gettext --keyword=ngettext:1,2 --keyword=tr --keyword=ntr:1,2 --keyword=n_ \
  --files-from=po/POTFILES.in --output="$tmp/current.pot" 2>/dev/null
for po in po/*.po; do
  msgcmp "$po" "$tmp/current.pot" || { echo "$po lacks strings: run scripts/update-pot.sh and translate" >&2; exit 1; }
  stats=$(LC_ALL=C msgfmt --check --statistics -o /dev/null "$po" 2>&1)
  if echo "$stats" | grep -qE 'untranslated|fuzzy'; then
    echo "$po is incomplete: $stats" >&2
    exit 1
  fi
done
echo "Translations are complete."
