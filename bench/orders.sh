#!/usr/bin/env bash
# Work orders over HTTP: hotline intake with one-click dispatch (POST /api/v1/orders) and reading
# one order, at 1 and 64 connections, with durable commits on the embedded store; and, side by
# side, the same kind of transaction in PostgreSQL (an order row, its audit row and a number,
# synchronous_commit on). Usage: bash bench/orders.sh [seconds]   (default 15)
# Needs wrk, PostgreSQL on 127.0.0.1 (trust auth) with pgbench.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
work=$(mktemp -d)
port=18766
db=tudi_orders_bench
cleanup() { [ -n "${server:-}" ] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cargo build --release -q -p tudi-cli
tudi=target/release/tudi

echo "== demo district"
$tudi demo --data "$work/d" --parcels 1000 >/dev/null
$tudi serve --data "$work/d" --listen 127.0.0.1:$port --web web >/dev/null &
server=$!
login() {
  python3 - "$work/d/demo-accounts.json" "http://127.0.0.1:$port/api/v1/auth/login" <<'PY'
import json, sys, urllib.request
a = next(x for x in json.load(open(sys.argv[1]))["accounts"] if x["username"] == "rexian.zuoxi")
req = urllib.request.Request(sys.argv[2], json.dumps({"username": a["username"], "password": a["password"]}).encode(), {"Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(req))["token"])
PY
}
for _ in $(seq 1 30); do sleep 1; login > "$work/token" 2>/dev/null && break; done
# Intake bodies at the demo orders' locations (places inside the district's grid cells).
curl -s "http://127.0.0.1:$port/open311/v2/requests.json" | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    if r["lat"] is None:
        continue
    print(json.dumps({"channel": "hotline", "reporter": {"name": "王小明", "phone": "13800138000"},
                      "category": "SJ0401", "description": "路口有流动摊贩占道经营，影响行人通行",
                      "location": [r["long"], r["lat"]], "dispatch": True}, ensure_ascii=False))
' > "$work/bodies.jsonl"
curl -s "http://127.0.0.1:$port/open311/v2/requests.json" | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    print(r["service_request_id"])
' > "$work/numbers.txt"
cat > "$work/intake.lua" <<LUA
local bodies = {}
for line in io.lines("$work/bodies.jsonl") do bodies[#bodies + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. io.open("$work/token"):read("*l")
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, "/api/v1/orders", nil, bodies[i])
end
LUA
cat > "$work/read.lua" <<LUA
local numbers = {}
for line in io.lines("$work/numbers.txt") do numbers[#numbers + 1] = line end
local i = 0
wrk.headers["Authorization"] = "Bearer " .. io.open("$work/token"):read("*l")
request = function()
  i = i % #numbers + 1
  return wrk.format("GET", "/api/v1/orders/" .. numbers[i])
end
LUA
echo "== tudi: intake with one-click dispatch (POST /api/v1/orders), 1 and 64 connections"
wrk -t 1 -c 1 -d "${secs}s" --latency -s "$work/intake.lua" "http://127.0.0.1:$port" | grep -E "Requests/sec|50%|99%|Non-2xx"
wrk -t 2 -c 64 -d "${secs}s" --latency -s "$work/intake.lua" "http://127.0.0.1:$port" | grep -E "Requests/sec|50%|99%|Non-2xx"
echo "== tudi: read one order (GET /api/v1/orders/{number}), 64 connections"
wrk -t 2 -c 64 -d "${secs}s" --latency -s "$work/read.lua" "http://127.0.0.1:$port" | grep -E "Requests/sec|50%|99%|Non-2xx"

echo "== PostgreSQL: the same kind of write (order row + audit row + number), 1 and 64 clients"
psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -h 127.0.0.1 -U postgres -d $db -q <<'SQL'
CREATE TABLE orders (id bigserial PRIMARY KEY, number text UNIQUE NOT NULL, state text NOT NULL, grid text, body jsonb NOT NULL);
CREATE INDEX ON orders (state);
CREATE TABLE audit (seq bigserial PRIMARY KEY, at timestamptz NOT NULL, actor text, action text, resource text, after text, prev_hash text, hash text);
CREATE INDEX ON audit (resource, seq);
CREATE SEQUENCE order_no;
SQL
cat > "$work/pg.sql" <<'SQL'
BEGIN;
WITH n AS (SELECT nextval('order_no') AS v),
o AS (INSERT INTO orders (number, state, grid, body)
      SELECT 'GD440605-' || v, 'dispatched', '440605011001001',
             '{"channel":"hotline","category":"SJ0401","description":"路口有流动摊贩占道经营，影响行人通行","reporter":{"name":"王小明","phone":"13800138000"},"timeline":[{},{},{}]}'::jsonb
      FROM n RETURNING number, body)
INSERT INTO audit (at, actor, action, resource, after, prev_hash, hash)
  SELECT now(), 'user:rexian.zuoxi', 'order.intake', 'order:' || number, md5(body::text), '', md5(number) FROM o;
COMMIT;
SQL
pgbench -h 127.0.0.1 -U postgres -n -f "$work/pg.sql" -c 1 -T "$secs" $db 2>/dev/null | grep -E "tps|latency average"
pgbench -h 127.0.0.1 -U postgres -n -f "$work/pg.sql" -c 64 -j 2 -T "$secs" $db 2>/dev/null | grep -E "tps|latency average"
psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db"
