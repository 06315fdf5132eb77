#!/usr/bin/env bash
# The layers of DESIGN.md, checked on the source text (run by scripts/test.sh):
# - only src/cli/ and src/main.rs may name `crate::cli` (or `playmark::cli`): the CLI is the top
#   of its front end, nothing below it calls back into it;
# - the core (store, sync, backend, account, mirror) names neither `ui` nor `cli`;
# - no file under src/cli/, src/account/, src/ui/ or src/sync/ is over 800 lines;
# - in the store, the outbox does not import the library, and the bases and local state
#   (store/state.rs) import neither: library -> outbox -> state, no circle.
# Prints every offending line and exits 1 when there is one.
set -uo pipefail
cd "$(dirname "$0")/.."
bad=0
say() { echo "check-layers: $*" >&2; bad=1; }

# Paths such as `crate::cli::x`, `super::super::cli`, `use crate::{cli, …}` and `playmark::cli`.
cli_ref='(crate|playmark|super)::(super::)*cli\b|crate::\{[^}]*\bcli\b'
ui_ref='(crate|playmark|super)::(super::)*ui\b|crate::\{[^}]*\bui\b'

while IFS= read -r hit; do
  say "imports the CLI from outside src/cli/: $hit"
done < <(grep -rnE "$cli_ref" src --include='*.rs' | grep -vE '^src/(cli/|main\.rs:)')

for layer in store sync backend account mirror; do
  [ -d "src/$layer" ] || continue
  while IFS= read -r hit; do
    say "the core layer '$layer' imports a front end: $hit"
  done < <(grep -rnE "$cli_ref|$ui_ref" "src/$layer" --include='*.rs')
done

for dir in cli account ui sync; do
  [ -d "src/$dir" ] || continue
  while IFS= read -r f; do
    n=$(wc -l < "$f")
    [ "$n" -gt 800 ] && say "$f has $n lines (at most 800 under src/$dir/)"
  done < <(find "src/$dir" -name '*.rs')
done
store_ref() { echo "super::(\\{[^}]*\\b)?$1\\b|store::$1\\b"; }
while IFS= read -r hit; do
  say "the outbox imports the library (it reads bases and local state from store/state.rs): $hit"
done < <(grep -nE "$(store_ref library)" src/store/outbox.rs)
while IFS= read -r hit; do
  say "store/state.rs imports another store module: $hit"
done < <(grep -nE "$(store_ref library)|$(store_ref outbox)|$(store_ref sent)" src/store/state.rs)
exit $bad
