#!/usr/bin/env bash
# Compliance analysis and vector tiles: tudi over HTTP vs PostGIS on the same machine, same data,
# one run. Usage: bash bench/onemap.sh [parcels] [seconds]   (defaults 1000000, 15)
# Needs gdal-bin, wrk, PostgreSQL with PostGIS on 127.0.0.1 (trust auth), pgbench.
# With TUDI_DATABASE=postgres://…?schema=… tudi serves from that PostgreSQL schema instead of the
# GeoPackage (the demo is built in the GeoPackage and moved there with `tudi migrate`).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
secs=${2:-15}
work=$(mktemp -d)
port=18765
db=tudi_bench
pg="host=127.0.0.1 user=postgres dbname=$db"
cleanup() { [ -n "${server:-}" ] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cargo build --release -q -p tudi-cli
tudi=target/release/tudi

echo "== demo district with $n parcels"
$tudi demo --data "$work/d" --parcels "$n" >/dev/null
echo "== loading the same layers into PostGIS ($db)"
psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -h 127.0.0.1 -U postgres -d $db -qc "CREATE EXTENSION postgis"
for l in parcels permanent_farmland eco_redline village_plan; do
  ogr2ogr -f PostgreSQL "PG:$pg" "$work/d/tudi.gpkg" "$l" -lco GEOMETRY_NAME=geom -lco FID=fid -nlt PROMOTE_TO_MULTI -gt 65536
done
psql -h 127.0.0.1 -U postgres -d $db -q <<'SQL'
SELECT setseed(0.4547);
-- 1,000 query sites of about 1,000 m2: octagons around random parcel centroids, in EPSG:4547.
CREATE TABLE queries AS
  SELECT row_number() OVER () AS id, ST_Buffer(ST_Centroid(geom), 17.9, 2) AS geom
  FROM (SELECT geom FROM parcels ORDER BY random() LIMIT 1000) p;
ALTER TABLE queries ADD PRIMARY KEY (id);
ANALYZE;
SQL
echo "== query bodies for tudi (the same sites, as CGCS2000 GeoJSON)"
psql -h 127.0.0.1 -U postgres -d $db -tAc \
  "SELECT json_build_object('geometry', ST_AsGeoJSON(ST_Transform(geom, 4490), 9)::json, 'crs', 'EPSG:4490', 'rule_set', '宅基地选址') FROM queries ORDER BY id" \
  > "$work/bodies.jsonl"
cat > "$work/compliance.sql" <<'SQL'
\set qid random(1, 1000)
WITH q AS (SELECT geom FROM queries WHERE id = :qid)
SELECT
  (SELECT coalesce(sum(ST_Area(ST_Intersection(q.geom, f.geom))), 0) FROM permanent_farmland f WHERE ST_Intersects(q.geom, f.geom)) AS farmland_m2,
  (SELECT coalesce(sum(ST_Area(ST_Intersection(q.geom, f.geom))), 0) FROM eco_redline f WHERE ST_Intersects(q.geom, f.geom)) AS redline_m2,
  (SELECT coalesce(sum(ST_Area(ST_Intersection(q.geom, f.geom))), 0) FROM village_plan f WHERE ST_Intersects(q.geom, f.geom)) AS plan_m2,
  (SELECT json_agg(json_build_array(p.fid, round(ST_Area(ST_Intersection(q.geom, p.geom))::numeric, 2)) ORDER BY p.fid)
     FROM parcels p WHERE ST_Intersects(q.geom, p.geom)) AS parcels
FROM q;
SQL
cat > "$work/post.lua" <<LUA
local bodies = {}
for line in io.lines("$work/bodies.jsonl") do bodies[#bodies + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. io.open("$work/token"):read("*l")
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, "/api/v1/compliance", nil, bodies[i])
end
LUA
backend=()
if [ -n "${TUDI_DATABASE:-}" ]; then
  echo "== tudi's store moved to $TUDI_DATABASE"
  psql "${TUDI_DATABASE%%\?*}" -qc "DROP SCHEMA IF EXISTS $(sed 's/.*schema=\([a-z0-9_]*\).*/\1/' <<<"$TUDI_DATABASE") CASCADE"
  $tudi migrate --data "$work/d" --to "$TUDI_DATABASE" | tail -2
  backend=(--database "$TUDI_DATABASE")
fi
TUDI_LOG=warn $tudi serve --data "$work/d" "${backend[@]}" --listen 127.0.0.1:$port --web web >/dev/null &
server=$!
# Compliance, status and the parcel layer need an account: sign in as the demo administrator.
login() {
  python3 - "$work/d/demo-accounts.json" "http://127.0.0.1:$port/api/v1/auth/login" <<'PY'
import json, sys, urllib.request
a = next(x for x in json.load(open(sys.argv[1]))["accounts"] if x["username"] == "admin")
req = urllib.request.Request(sys.argv[2], json.dumps({"username": "admin", "password": a["password"]}).encode(), {"Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(req))["token"])
PY
}
for _ in $(seq 1 30); do sleep 1; login > "$work/token" 2>/dev/null && break; done
token=$(cat "$work/token")
# Wait until every layer's in-memory snapshot is built (GET /api/v1/status), as a server that has
# been up for a minute would be; until then requests read the store and are slower.
for _ in $(seq 1 300); do
  sleep 1
  status=$(curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/status" || true)
  if [ -n "$status" ] && ! grep -q '"building"\|"queued"' <<<"$status"; then break; fi
done
echo "== server ready: $(grep -o '"memory_bytes":[0-9]*' <<<"$status" | awk -F: '{s += $2} END {printf "%.0f MB in layer snapshots", s / 1048576}')"

echo "== equal results: every site's overlaps from PostGIS and from tudi"
psql -h 127.0.0.1 -U postgres -d $db -tA -F '|' -c "
SELECT q.id,
  (SELECT coalesce(sum(ST_Area(ST_Intersection(q.geom, f.geom))), 0) FROM permanent_farmland f WHERE ST_Intersects(q.geom, f.geom)),
  (SELECT coalesce(sum(ST_Area(ST_Intersection(q.geom, f.geom))), 0) FROM eco_redline f WHERE ST_Intersects(q.geom, f.geom)),
  (SELECT coalesce(string_agg(p.feature_id, ',' ORDER BY p.feature_id), '') FROM parcels p
     WHERE ST_Intersects(q.geom, p.geom) AND ST_Area(ST_Intersection(q.geom, p.geom)) >= 0.01)
FROM queries q ORDER BY q.id" > "$work/postgis_answers.txt"
python3 - "$work/bodies.jsonl" "$work/postgis_answers.txt" "http://127.0.0.1:$port/api/v1/compliance" "$token" <<'PY'
import json, sys, urllib.request
bodies = open(sys.argv[1], encoding="utf-8").read().splitlines()
answers = [l.split("|") for l in open(sys.argv[2]).read().splitlines() if l]
worst, differ = 0.0, 0
for body, (qid, farm, red, parcels) in zip(bodies, answers):
    req = urllib.request.Request(sys.argv[3], body.encode(), {"Content-Type": "application/json", "Authorization": "Bearer " + sys.argv[4]})
    r = json.load(urllib.request.urlopen(req))
    by_kind = {}
    for l in r["layers"]:
        by_kind.setdefault(l["kind"], []).append(l)
    area = lambda k: sum(l["overlap_area_m2"] for l in by_kind.get(k, []))
    ids = sorted(f["id"] for l in by_kind.get("parcel", []) for f in l["features"] if f["overlap_area_m2"] >= 0.01)
    pg_ids = sorted(x for x in parcels.split(",") if x)
    d = max(abs(area("permanent_farmland") - float(farm)), abs(area("eco_redline") - float(red)))
    worst = max(worst, d)
    if d > 0.05 or ids != pg_ids:
        differ += 1
        if differ <= 3:
            print(f"site {qid}: tudi farmland {area('permanent_farmland'):.2f} / redline {area('eco_redline'):.2f} / parcels {ids}; "
                  f"PostGIS {float(farm):.2f} / {float(red):.2f} / {pg_ids}")
print(f"{len(answers)} sites compared: {differ} differ; largest area difference {worst:.4f} m²")
sys.exit(1 if differ else 0)
PY
echo "== compliance: PostGIS (pgbench), 1 and 64 clients"
pgbench -h 127.0.0.1 -U postgres -n -f "$work/compliance.sql" -c 1 -T "$secs" $db 2>/dev/null | grep -E "tps|latency average"
pgbench -h 127.0.0.1 -U postgres -n -f "$work/compliance.sql" -c 64 -j 2 -T "$secs" $db 2>/dev/null | grep -E "tps|latency average"
echo "== compliance: tudi over HTTP (wrk), 1 and 64 connections"
wrk -t 1 -c 1 -d "${secs}s" --latency -s "$work/post.lua" "http://127.0.0.1:$port" | grep -E "Requests/sec|50%|99%"
wrk -t 2 -c 64 -d "${secs}s" --latency -s "$work/post.lua" "http://127.0.0.1:$port" | grep -E "Requests/sec|50%|99%"

echo "== vector tiles of the parcel layer, z14-z16 over the parcels' extent"
read -r x0 y0 x1 y1 <<<"$(psql -h 127.0.0.1 -U postgres -d $db -tAc "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Transform(ST_SetSRID(ST_Extent(geom), 4547), 3857) AS e FROM parcels) s" | tr '|' ' ')"
for z in 14 15 16; do
  python3 - "$z" "$x0" "$y0" "$x1" "$y1" > "$work/tiles$z.txt" <<'PY'
import sys
z = int(sys.argv[1]); x0, y0, x1, y1 = map(float, sys.argv[2:])
W = 20037508.342789244; size = 2 * W / 2 ** z
c0, c1 = int((x0 + W) // size), int((x1 + W) // size)
r0, r1 = int((W - y1) // size), int((W - y0) // size)
for y in range(r0, r1 + 1):
    for x in range(c0, c1 + 1):
        print(z, x, y)
PY
  ntiles=$(wc -l < "$work/tiles$z.txt")
  cat > "$work/tile$z.sql" <<SQL
\\set k random(1, $ntiles)
SELECT ST_AsMVT(t.*, 'parcels', 4096, 'geom') FROM (
  SELECT p.fid, p.code, p.land_use,
         ST_AsMVTGeom(ST_Transform(p.geom, 3857), ST_TileEnvelope(z, x, y), 4096, 64, true) AS geom
  FROM (SELECT * FROM tile_list WHERE k = :k) tl, parcels p
  WHERE p.geom && ST_Transform(ST_TileEnvelope(tl.z, tl.x, tl.y, margin => 0.015625), 4547)
) t;
SQL
  psql -h 127.0.0.1 -U postgres -d $db -qc "DROP TABLE IF EXISTS tile_list" -c "CREATE TABLE tile_list (k serial primary key, z int, x int, y int)"
  psql -h 127.0.0.1 -U postgres -d $db -qc "\\copy tile_list (z, x, y) FROM '$work/tiles$z.txt' WITH (DELIMITER ' ')"
  # ST_AsMVTGeom needs the envelope from the same row: rewrite z/x/y references.
  sed -i 's/ST_TileEnvelope(z, x, y)/ST_TileEnvelope(tl.z, tl.x, tl.y)/' "$work/tile$z.sql"
  awk '{printf "%s/%s/%s\n", $1, $3, $2}' "$work/tiles$z.txt" > "$work/paths$z.txt"
  cat > "$work/tiles$z.lua" <<LUA
local paths = {}
for line in io.lines("$work/paths$z.txt") do paths[#paths + 1] = line end
local i = 0
wrk.headers["Authorization"] = "Bearer " .. io.open("$work/token"):read("*l")
request = function()
  i = i % #paths + 1
  return wrk.format("GET", "/ogc/collections/parcels/tiles/WebMercatorQuad/" .. paths[i])
end
LUA
  echo "-- z$z: $ntiles tiles; PostGIS 1 client, tudi 1 connection, then 2 of each"
  pgbench -h 127.0.0.1 -U postgres -n -f "$work/tile$z.sql" -c 1 -T "$secs" $db 2>/dev/null | grep -E "tps"
  wrk -t 1 -c 1 -d "${secs}s" -s "$work/tiles$z.lua" "http://127.0.0.1:$port" | grep -E "Requests/sec"
  pgbench -h 127.0.0.1 -U postgres -n -f "$work/tile$z.sql" -c 2 -j 2 -T "$secs" $db 2>/dev/null | grep -E "tps"
  wrk -t 2 -c 2 -d "${secs}s" -s "$work/tiles$z.lua" "http://127.0.0.1:$port" | grep -E "Requests/sec"
done
psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db"
