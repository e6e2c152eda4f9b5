#!/usr/bin/env bash
# Sizes for an install guide (docs/operations.md): the store file, a server's memory once its
# snapshots are built, and a backup's size and time, for demo districts of several sizes.
# Usage: bash bench/sizes.sh [parcels…]   (default 200000 1000000). Needs curl.
# TUDI=path/to/tudi to measure another build (default: the debug build the tests use).
set -euo pipefail
cd "$(dirname "$0")/.."
tudi=${TUDI:-target/debug/tudi}
[ -x "$tudi" ] || cargo build -q -p tudi-cli
work=$(mktemp -d)
port=18181
cleanup() { [ -n "${server:-}" ] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
for n in "${@:-200000 1000000}"; do
  for parcels in $n; do
    d="$work/d$parcels"
    "$tudi" demo --data "$d" --parcels "$parcels" --seed 1 >/dev/null
    size=$(stat -c %s "$d/tudi.gpkg")
    TUDI_LOG=warn "$tudi" serve --data "$d" --listen 127.0.0.1:$port >/dev/null 2>&1 &
    server=$!
    for i in $(seq 1 600); do
      sleep 1
      [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$port/readyz)" = 200 ] && break
    done
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")
    start=$(date +%s.%N)
    "$tudi" backup --data "$d" --out "$work/b.gpkg" >/dev/null
    took=$(echo "$(date +%s.%N) - $start" | bc)
    kill "$server"; wait "$server" 2>/dev/null || true; server=
    printf '%8d parcels: store %4d MiB, server %4d MiB once ready (%3d s), backup %4d MiB in %.1f s\n' \
      "$parcels" $((size / 1048576)) $((rss / 1024)) "$i" $(($(stat -c %s "$work/b.gpkg") / 1048576)) "$took"
    rm -rf "$d" "$work/b.gpkg"
  done
done
