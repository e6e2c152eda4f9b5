#!/usr/bin/env bash
# Work-order intake over HTTP through haproxy and two `tudi serve` on one PostgreSQL (issue 16):
# POST /api/v1/orders with one-click dispatch, durable commits (synchronous_commit on), at 1 and
# 64 connections, then a check that every order answered 201 is stored, that the numbers of the
# day are gapless, and that the audit chain verifies. For comparison, the same through one server.
#
# Uses the machine's PostgreSQL (TUDI_BENCH_PG, default postgres://postgres@127.0.0.1:5432/test)
# in schema bench_intake, which it drops first. Needs wrk and haproxy (Debian).
# Usage: bash bench/intake_two_servers.sh [seconds]   (default 15)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
pg=${TUDI_BENCH_PG:-postgres://postgres@127.0.0.1:5432/test}
url="$pg?schema=bench_intake"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
# TUDI_BIN: a tudi binary to measure instead of building this tree's (e.g. an older build, for a
# before/after comparison in one session).
if [ -n "${TUDI_BIN:-}" ]; then
  tudi=$TUDI_BIN
else
  cargo build --release -q -p tudi-cli
  tudi=target/release/tudi
fi

echo "== demo district, moved into PostgreSQL ($url)"
PGOPTIONS="-c client_min_messages=warning" psql "$pg" -qc "DROP SCHEMA IF EXISTS bench_intake CASCADE"
$tudi demo --data "$work/d" --parcels 1000 >/dev/null
$tudi migrate --data "$work/d" --to "$url" | tail -1
for port in 18091 18092; do
  TUDI_LOG=warn $tudi serve --data "$work/d" --database "$url" --listen "127.0.0.1:$port" \
    --trusted-proxy 127.0.0.1 --web web > "$work/serve-$port.log" 2>&1 &
  pids+=($!)
done
cat > "$work/haproxy.cfg" <<CFG
global
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend tudi
  bind 127.0.0.1:18090
  option forwardfor
  default_backend servers
backend servers
  balance roundrobin
  server a 127.0.0.1:18091 check
  server b 127.0.0.1:18092 check
CFG
haproxy -f "$work/haproxy.cfg" -db > "$work/haproxy.log" 2>&1 &
pids+=($!)
for port in 18091 18092 18090; do
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/ogc" >/dev/null && break; sleep 0.3; done
done
login() {
  python3 - "$work/d/demo-accounts.json" "http://127.0.0.1:18090/api/v1/auth/login" <<'PY'
import json, sys, urllib.request
a = next(x for x in json.load(open(sys.argv[1]))["accounts"] if x["username"] == "rexian.zuoxi")
req = urllib.request.Request(sys.argv[2], json.dumps({"username": a["username"], "password": a["password"]}).encode(), {"Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(req))["token"])
PY
}
login > "$work/token"
curl -s "http://127.0.0.1:18090/open311/v2/requests.json" | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    if r["lat"] is None:
        continue
    print(json.dumps({"channel": "hotline", "reporter": {"name": "王小明", "phone": "13800138000"},
                      "category": "SJ0401", "description": "路口有流动摊贩占道经营，影响行人通行",
                      "location": [r["long"], r["lat"]], "dispatch": True}, ensure_ascii=False))
' > "$work/bodies.jsonl"
# Each 201 is counted by wrk's done() hook, so acknowledged orders can be checked afterwards.
cat > "$work/intake.lua" <<LUA
local bodies = {}
for line in io.lines("$work/bodies.jsonl") do bodies[#bodies + 1] = line end
local i = 0
created = 0
local threads = {}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. io.open("$work/token"):read("*l")
setup = function(thread) table.insert(threads, thread) end
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, "/api/v1/orders", nil, bodies[i])
end
response = function(status, headers, body)
  if status == 201 then created = created + 1 end
end
done = function(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("created") end
  io.open("$work/created", "a"):write(total, "\n")
end
LUA
count() {
  psql "$pg" -tAc "SELECT count(*) FROM bench_intake.tudi_records WHERE collection = 'order'"
}
run() { # connections port label
  local before after
  before=$(count)
  : > "$work/created"
  wrk -t "$(( $1 < 2 ? 1 : 2 ))" -c "$1" -d "${secs}s" --latency -s "$work/intake.lua" "http://127.0.0.1:$2" \
    | grep -E "Requests/sec|50%|99%|Non-2xx" | sed "s/^/  $3: /"
  after=$(count)
  echo "  $3: $(cat "$work/created") answered 201, $((after - before)) orders stored"
}
echo "== intake through haproxy and two servers"
run 1 18090 "2 servers, 1 connection"
run 64 18090 "2 servers, 64 connections"
echo "== intake through one server (for comparison)"
run 64 18091 "1 server, 64 connections"
echo "== checks"
psql "$pg" -tAc "
  SELECT CASE WHEN count(*) = max(n) - min(n) + 1 THEN 'numbers gapless: ' ELSE 'NUMBERS HAVE GAPS: ' END
         || count(*) || ' orders of ' || d
  FROM (SELECT substring(record_id from '^GD[0-9]+-([0-9]{8})-') AS d,
               substring(record_id from '([0-9]{6})$')::int AS n
        FROM bench_intake.tudi_records WHERE collection = 'order' AND record_id ~ '^GD[0-9]+-[0-9]{8}-[0-9]{6}$') o
  GROUP BY d ORDER BY d"
$tudi audit verify --data "$work/d" --database "$url" | head -2
PGOPTIONS="-c client_min_messages=warning" psql "$pg" -qc "DROP SCHEMA IF EXISTS bench_intake CASCADE"
