#!/usr/bin/env bash
# Builds and runs every fuzz target in turn for SECONDS each (default 600), one core, and prints
# libFuzzer's last status line of each. Usage: bash fuzz/run_all.sh [seconds] [target…]
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(geojson wkb gpkg_blob shapefile open311_form tsv)
cargo fuzz build --sanitizer none -O
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log=$(mktemp)
  if cargo fuzz run --sanitizer none -O "$t" "corpus/$t" -- \
      -max_total_time="$secs" -max_len=65536 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    echo "$t: ok — $(grep -E '^#[0-9]+' "$log" | tail -1)"
    grep -E 'stat::number_of_executed_units' "$log" || true
  else
    echo "$t: FAILED"; tail -40 "$log"; exit 1
  fi
  rm -f "$log"
done
