#!/usr/bin/env bash
# A pathological compliance site (issue 14's star: points alternating between 0.15° and 0.05°
# around 113.05, 23.05) against the demo district's control layers: tudi in-process (the site
# cut into pieces, and the whole-site overlays it did before) beside PostGIS running the same
# overlaps on the same machine. Usage: bash bench/compliance_star.sh [parcels] [vertices…]
# (defaults 20000; 100 400 1000). Needs gdal-bin and PostgreSQL with PostGIS on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}
shift || true
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(100 400 1000)
work=$(mktemp -d)
db=tudi_star
pg="host=127.0.0.1 user=postgres dbname=$db"
trap 'rm -rf "$work"' EXIT
cargo build --release -q -p tudi-cli
cargo build --release -q -p tudi-onemap --example compliance_star
target/release/tudi demo --data "$work/d" --parcels "$n" >/dev/null
echo "== tudi (seconds per analysis; the whole-site column is the old way)"
target/release/examples/compliance_star "$work/d/tudi.gpkg" "${sizes[@]}"
echo "== PostGIS: the same four layers, sum(ST_Area(ST_Intersection)) per layer"
psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -h 127.0.0.1 -U postgres -d $db -qc "CREATE EXTENSION postgis"
for l in parcels permanent_farmland eco_redline village_plan; do
  ogr2ogr -f PostgreSQL "PG:$pg" "$work/d/tudi.gpkg" "$l" -lco GEOMETRY_NAME=geom -lco FID=fid -nlt PROMOTE_TO_MULTI -gt 65536
done
psql -h 127.0.0.1 -U postgres -d $db -qc "ANALYZE"
for v in "${sizes[@]}"; do
  start=$(date +%s.%N)
  psql -h 127.0.0.1 -U postgres -d $db -tA <<SQL
WITH star AS (
  SELECT ST_MakePolygon(ST_MakeLine(array_agg(p ORDER BY i))) AS g FROM (
    SELECT i, ST_SetSRID(ST_MakePoint(
      113.05 + (CASE WHEN i % 2 = 0 THEN 0.15 ELSE 0.05 END) * cos(2 * pi() * (i % $v) / $v),
      23.05 + (CASE WHEN i % 2 = 0 THEN 0.15 ELSE 0.05 END) * sin(2 * pi() * (i % $v) / $v)), 4490) AS p
    FROM generate_series(0, $v) AS i) pts),
q AS (SELECT ST_Transform(g, Find_SRID('public', 'permanent_farmland', 'geom')) AS geom FROM star)
SELECT
  (SELECT round(coalesce(sum(ST_Area(ST_Intersection(q.geom, f.geom))), 0)::numeric, 2) FROM permanent_farmland f WHERE ST_Intersects(q.geom, f.geom)),
  (SELECT round(coalesce(sum(ST_Area(ST_Intersection(q.geom, f.geom))), 0)::numeric, 2) FROM eco_redline f WHERE ST_Intersects(q.geom, f.geom)),
  (SELECT round(coalesce(sum(ST_Area(ST_Intersection(q.geom, f.geom))), 0)::numeric, 2) FROM village_plan f WHERE ST_Intersects(q.geom, f.geom)),
  (SELECT count(*) FROM parcels p WHERE ST_Intersects(q.geom, p.geom) AND ST_Area(ST_Intersection(q.geom, p.geom)) > 0)
FROM q;
SQL
  end=$(date +%s.%N)
  echo "$v vertices: $(echo "$end - $start" | bc) s (farmland m², red line m², village plan m², parcels met)"
done
psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE $db"
