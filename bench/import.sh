#!/usr/bin/env bash
# Import of 1,000,000 parcel polygons from GeoJSON: tudi vs ogr2ogr → GeoPackage, same file,
# same machine, one run. Usage: bash bench/import.sh [parcels]  (needs gdal-bin)
# With TUDI_BENCH_PG=postgres://… (a database with PostGIS available), also into PostgreSQL:
# `tudi import --database` (binary COPY into a fresh schema) vs `ogr2ogr -f PostgreSQL` (COPY),
# each into its own schema, dropped afterwards; TUDI_BENCH_PG_ONLY=1 skips the GeoPackage runs.
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
  [ -n "${TUDI_BENCH_PG_ONLY:-}" ] && break
  $tudi init --data "$work/t$run" >/dev/null
  /usr/bin/time -f "tudi import   run $run: %e s wall, %M KiB peak RSS" \
    $tudi import --data "$work/t$run" --layer parcels --kind parcel "$work/parcels.geojson" >/dev/null
  /usr/bin/time -f "ogr2ogr GPKG  run $run: %e s wall, %M KiB peak RSS" \
    ogr2ogr -f GPKG "$work/o$run.gpkg" "$work/parcels.geojson" -nln parcels -nlt PROMOTE_TO_MULTI
done
if [ -n "${TUDI_BENCH_PG:-}" ]; then
  pg=$TUDI_BENCH_PG
  # ogr2ogr's connection string from the URL's parts (host, port, user, database).
  ogr=$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(f"host={p.hostname} port={p.port or 5432} user={p.username} dbname={p.path[1:]}")' "$pg")
  for run in 1 2; do
    PGOPTIONS="-c client_min_messages=warning" psql "$pg" -qc "DROP SCHEMA IF EXISTS bench_import_tudi CASCADE" -c "DROP SCHEMA IF EXISTS bench_import_ogr CASCADE" -c "CREATE SCHEMA bench_import_ogr"
    $tudi init --data "$work/p$run" --database "$pg?schema=bench_import_tudi" >/dev/null
    sync
    /usr/bin/time -f "tudi import → PostgreSQL run $run: %e s wall, %M KiB peak RSS" \
      $tudi import --data "$work/p$run" --database "$pg?schema=bench_import_tudi" --layer parcels --kind parcel "$work/parcels.geojson" >/dev/null
    /usr/bin/time -f "ogr2ogr PG:           run $run: %e s wall, %M KiB peak RSS" \
      ogr2ogr -f PostgreSQL "PG:$ogr" "$work/parcels.geojson" -nln parcels -nlt PROMOTE_TO_MULTI -lco SCHEMA=bench_import_ogr -lco GEOMETRY_NAME=geom
    echo "  rows: tudi $(psql "$pg" -tAc 'SELECT count(*) FROM bench_import_tudi.parcels'), ogr2ogr $(psql "$pg" -tAc 'SELECT count(*) FROM bench_import_ogr.parcels')"
  done
  PGOPTIONS="-c client_min_messages=warning" psql "$pg" -qc "DROP SCHEMA IF EXISTS bench_import_tudi CASCADE" -c "DROP SCHEMA IF EXISTS bench_import_ogr CASCADE"
fi
