#!/usr/bin/env bash
# 成果质检 speed: `tudi check --rules parcels` on N parcels against the same checks in PostGIS
# SQL, on the same machine and data, one run. Usage: bash bench/quality.sh [parcels]
# (default 1000000). Needs gdal-bin and PostgreSQL with PostGIS on 127.0.0.1 (trust auth).
# PostGIS has no spike check of its own; the rest is the same rule for rule (docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
work=$(mktemp -d)
db=${TUDI_BENCH_DB:-test}
pg="host=127.0.0.1 user=postgres dbname=$db"
table="bench_quality_$$"
cleanup() { psql -qX "$pg" -c "DROP TABLE IF EXISTS $table, ${table}_div" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
cargo build --release -q -p tudi-cli
tudi=target/release/tudi

echo "== demo district with $n parcels, its parcel layer exported (EPSG:4547)"
"$tudi" demo --data "$work/d" --parcels "$n" --seed 1 >/dev/null
"$tudi" export --data "$work/d" --layer parcels --format gpkg --out "$work/parcels.gpkg" >/dev/null
ogr2ogr -f PostgreSQL "PG:$pg" "$work/parcels.gpkg" parcels -nln "$table" -lco GEOMETRY_NAME=geom -lco FID=fid >/dev/null
# The rules between layers read the district and its villages (layer divisions, EPSG:4547).
"$tudi" export --data "$work/d" --layer divisions --format gpkg --out "$work/divisions.gpkg" >/dev/null
ogr2ogr -f PostgreSQL "PG:$pg" "$work/divisions.gpkg" divisions -nln "${table}_div" -lco GEOMETRY_NAME=geom -lco FID=fid >/dev/null

echo "== tudi check --rules parcels (reading the file included)"
/usr/bin/time -f "tudi: %e s wall, %M KiB max resident" \
  "$tudi" check --rules parcels --data "$work/d" --report "$work/report.csv" "$work/parcels.gpkg" | grep -E "^  |passed|failed"

echo "== PostGIS: the same checks in SQL (validity once, then each rule)"
start=$(date +%s.%N)
psql -qAtX "$pg" <<SQL
CREATE TEMP TABLE f AS SELECT fid, code, area_m2, geom, ST_IsValid(geom) AS valid FROM $table;
CREATE INDEX ON f USING gist (geom);
SELECT 'invalid', count(*) FROM f WHERE NOT valid;
SELECT 'repeated vertices', count(*) FROM f WHERE ST_NPoints(geom) <> ST_NPoints(ST_RemoveRepeatedPoints(geom, 0.001));
SELECT 'slivers', count(*) FROM f WHERE valid AND 4 * pi() * ST_Area(geom) / (ST_Perimeter(geom) ^ 2) < 0.05;
SELECT 'small', count(*) FROM f WHERE valid AND ST_Area(geom) < 1;
SELECT 'overlaps', count(*) FROM f a JOIN f b ON a.fid < b.fid AND ST_Intersects(a.geom, b.geom)
  WHERE a.valid AND b.valid AND ST_Area(ST_Intersection(a.geom, b.geom)) > 0.01;
SELECT 'gaps', count(*) FROM (SELECT (ST_Dump(ST_Union(geom))).geom AS g FROM f WHERE valid) u,
  LATERAL generate_series(1, ST_NumInteriorRings(u.g)) i
  WHERE ST_Area(ST_MakePolygon(ST_InteriorRingN(u.g, i))) > 0.01;
SELECT 'no code', count(*) FROM f WHERE code IS NULL OR btrim(code) = '';
SELECT 'bad code', count(*) FROM f WHERE code !~ '^[0-9]{12}[A-Z]{2}[0-9]{5}[FLQW][0-9]{8}\$';
SELECT 'repeated code', count(*) FROM (SELECT code FROM f WHERE code IS NOT NULL GROUP BY code HAVING count(*) > 1) d;
SELECT 'declared area', count(*) FROM f WHERE valid AND abs(area_m2 - ST_Area(geom)) / ST_Area(geom) * 100 > 1;
CREATE TEMP TABLE d AS SELECT level, geom FROM ${table}_div WHERE ST_IsValid(geom);
CREATE INDEX ON d USING gist (geom);
-- ST_Within first: PostGIS prepares the district and each village once and skips the overlay
-- of every parcel wholly inside.
WITH district AS (SELECT ST_Union(geom) AS g FROM d WHERE level = '区')
SELECT 'outside the district', count(*) FROM f, district
  WHERE valid AND NOT ST_Within(f.geom, district.g) AND ST_Area(ST_Difference(f.geom, district.g)) > 0.5;
SELECT 'across villages', count(*) FROM (SELECT f.fid FROM f JOIN d ON d.level = '村居' AND ST_Intersects(f.geom, d.geom)
  WHERE f.valid AND (ST_Within(f.geom, d.geom) OR ST_Area(ST_Intersection(f.geom, d.geom)) > 0.5)
  GROUP BY f.fid HAVING count(*) > 1) x;
SQL
echo "PostGIS: $(echo "$(date +%s.%N) - $start" | bc) s wall"
