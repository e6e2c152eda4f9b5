#!/usr/bin/env bash
# Several servers on one PostgreSQL, with a streaming replica and haproxy in front (issue 16).
#
# Makes two PostgreSQL 15 clusters of its own with pg_createcluster (a primary on 5433 and a
# synchronous streaming replica on 5434; the machine's default cluster is left alone), builds the
# demo district into the primary, starts two `tudi serve` (18081, 18082) behind haproxy (18080),
# and runs bench/multiserver_checks.py: 1,000 writes through one server read at once through the
# other (accounts, work orders, homestead member rolls and applications), features and tiles
# written by the command line read at once through both, sessions and lockouts across servers,
# the primary killed and the replica promoted while two clients take in orders through haproxy
# (every acknowledged order kept, the chain intact), and the lease holder killed with -9 and
# taken over.
#
# Needs root (pg_createcluster, apt for haproxy). Usage: bash bench/multiserver.sh [TUDI_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
TUDI="${1:-target/release/tudi}"
[ -x "$TUDI" ] || { echo "build tudi first: cargo build --release -p tudi-cli (or give the binary)"; exit 2; }
command -v haproxy >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; }
WORK="$(mktemp -d /tmp/tudi-multi.XXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for c in tudi_primary tudi_replica; do pg_dropcluster --stop 15 "$c" 2>/dev/null || true; done
}
trap cleanup EXIT
for c in tudi_primary tudi_replica; do pg_dropcluster --stop 15 "$c" 2>/dev/null || true; done

echo "== PostgreSQL primary (5433) and synchronous replica (5434)"
pg_createcluster -q 15 tudi_primary --port 5433 -- --auth=trust >/dev/null
cat >> /etc/postgresql/15/tudi_primary/postgresql.conf <<CONF
listen_addresses = '127.0.0.1'
synchronous_standby_names = '*'
wal_level = replica
CONF
echo "host replication all 127.0.0.1/32 trust" >> /etc/postgresql/15/tudi_primary/pg_hba.conf
pg_ctlcluster 15 tudi_primary start
pg_createcluster -q 15 tudi_replica --port 5434 -- --auth=trust >/dev/null
REPLICA_DATA=/var/lib/postgresql/15/tudi_replica
rm -rf "$REPLICA_DATA"
pg_basebackup -h 127.0.0.1 -p 5433 -U postgres -D "$REPLICA_DATA" -R -X stream
chown -R postgres:postgres "$REPLICA_DATA"
echo "listen_addresses = '127.0.0.1'" >> /etc/postgresql/15/tudi_replica/postgresql.conf
pg_ctlcluster 15 tudi_replica start
sleep 2
psql -h 127.0.0.1 -p 5433 -U postgres -Atc "select application_name, state, sync_state from pg_stat_replication"

# Both hosts, the writable one chosen at each connection: after a promotion the pools find it.
URL="postgres://postgres@127.0.0.1:5433,127.0.0.1:5434/postgres?target_session_attrs=read-write&schema=d440605"
echo "== demo district into the primary"
"$TUDI" demo --data "$WORK/data" --database "$URL" --parcels 2000 --force | tail -3

echo "== two servers and haproxy"
for port in 18081 18082; do
  TUDI_LOG=warn "$TUDI" serve --data "$WORK/data" --database "$URL" --listen "127.0.0.1:$port" \
    --trusted-proxy 127.0.0.1 > "$WORK/serve-$port.log" 2>&1 &
  PIDS+=($!)
done
cat > "$WORK/haproxy.cfg" <<CFG
global
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend tudi
  bind 127.0.0.1:18080
  option forwardfor
  default_backend servers
backend servers
  balance roundrobin
  server a 127.0.0.1:18081 check
  server b 127.0.0.1:18082 check
CFG
haproxy -f "$WORK/haproxy.cfg" -db > "$WORK/haproxy.log" 2>&1 &
PIDS+=($!)
for port in 18081 18082 18080; do
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/ogc" >/dev/null && break; sleep 0.3; done
done

TUDI="$TUDI" URL="$URL" /usr/bin/python3 bench/multiserver_checks.py "$WORK" "${PIDS[0]}" "${PIDS[1]}"
