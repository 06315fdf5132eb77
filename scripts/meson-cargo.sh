#!/usr/bin/env bash
# Called by meson.build: cargo build into TARGET_DIR with PROFILE, then copy the binary to OUTPUT.
set -euo pipefail
manifest=$1 target_dir=$2 profile=$3 output=$4
if [ "$profile" = release ]; then
  cargo build --manifest-path "$manifest" --target-dir "$target_dir" --release --bin playmark
  cp "$target_dir/release/playmark" "$output"
else
  cargo build --manifest-path "$manifest" --target-dir "$target_dir" --bin playmark
  cp "$target_dir/debug/playmark" "$output"
fi
