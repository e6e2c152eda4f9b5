#!/usr/bin/env bash
# Import of 1,000,000 parcel polygons from GeoJSON: tudi vs ogr2ogr → GeoPackage, same file,
# same machine, one run. Usage: bash bench/import.sh [parcels]  (needs gdal-bin)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release -q -p tudi-cli
tudi=target/release/tudi
echo "== making $n demo parcels and exporting them as GeoJSON (EPSG:4547)"
$tudi demo --data "$work/demo" --parcels "$n" >/dev/null
$tudi export --data "$work/demo" --layer parcels --format geojson --out "$work/parcels.geojson" >/dev/null
ls -l "$work/parcels.geojson" | awk '{printf "GeoJSON size: %.0f MiB\n", $5/1048576}'
sync
for run in 1 2; do
  $tudi init --data "$work/t$run" >/dev/null
  /usr/bin/time -f "tudi import   run $run: %e s wall, %M KiB peak RSS" \
    $tudi import --data "$work/t$run" --layer parcels --kind parcel "$work/parcels.geojson" >/dev/null
  /usr/bin/time -f "ogr2ogr GPKG  run $run: %e s wall, %M KiB peak RSS" \
    ogr2ogr -f GPKG "$work/o$run.gpkg" "$work/parcels.geojson" -nln parcels -nlt PROMOTE_TO_MULTI
done
