#!/usr/bin/env bash
# The README's first command: install what is missing, then run the app (with no account it
# opens the bundled demo library). Arguments go to `playmark`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
# A Rust just installed by rustup is in ~/.cargo/bin, not yet on this shell's PATH.
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
exec cargo run --release --locked -- "$@"
