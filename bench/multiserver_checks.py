"""The checks of bench/multiserver.sh: two tudi servers (A 18081, B 18082, haproxy 18080) on one
PostgreSQL primary with a synchronous replica. Standard library only; exits 1 on the first
failure, naming it."""

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

WORK, PID_A, PID_B = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
A, B, LB = "http://127.0.0.1:18081", "http://127.0.0.1:18082", "http://127.0.0.1:18080"
PRIMARY, REPLICA = "5433", "5434"


def call(base, method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("host", "127.0.0.1")
    if body is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            raw = res.read()
            return res.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, None


def fetch(base, path, token):
    """Status and raw body (tiles)."""
    req = urllib.request.Request(base + path, headers={"authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def sign_in(base, account):
    status, body = call(base, "POST", "/api/v1/auth/login",
                        {"username": account["username"], "password": account["password"]})
    if status != 200:
        print("FAILED: sign in as", account["username"], status, body)
        sys.exit(1)
    return body["token"]


def id_number(serial):
    """A valid 18-digit resident identity number (GB 11643-1999 check digit) born 1980."""
    body = "44060519800101%03d" % (serial % 1000) + str(serial // 1000 % 10)
    body = body[:17]
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(d) * w for d, w in zip(body, weights))
    return body + "10X98765432"[total % 11]


def tile_of(lon, lat, z):
    """The WebMercatorQuad tile (z, row, column) holding a point."""
    n = 2 ** z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return z, y, x


def check(ok, what):
    if not ok:
        print("FAILED:", what)
        sys.exit(1)
    print("ok:", what)


def psql(port, sql):
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "postgres", "-Atc", sql],
        check=True, capture_output=True, text=True,
    ).stdout.strip()


accounts = json.load(open(os.path.join(WORK, "data", "demo-accounts.json")))["accounts"]
admin = next(a for a in accounts if a["role"] == "admin")
target = next(a for a in accounts if a["role"] == "district_approver")
victim = next(a for a in accounts if a["role"] == "grid_inspector")

status, signed = call(A, "POST", "/api/v1/auth/login",
                      {"username": admin["username"], "password": admin["password"]})
check(status == 200, "sign in on A")
token = signed["token"]
status, _ = call(B, "GET", "/api/v1/auth/me", token=token)
check(status == 200, "the session begun on A is honoured on B")

hotline = sign_in(A, next(a for a in accounts if a["role"] == "hotline_agent"))
clerk_account = next(a for a in accounts if a["username"] == "cunju.zjd2")
clerk = sign_in(B, clerk_account)
village = clerk_account["scope"]
# Homestead applications are made in another village, whose roll stays as set here.
applying_account = next(a for a in accounts if a["username"] == "cunju.zjd1")
applying = sign_in(A, applying_account)
applying_village = applying_account["scope"]
status, requests = call(A, "GET", "/open311/v2/requests.json")
places = [[r["long"], r["lat"]] for r in requests if r.get("lat") is not None]
check(status == 200 and places, "the demo orders' places (%d) for new orders" % len(places))


def order_body(i):
    return {"channel": "hotline", "reporter": {"name": "王小明", "phone": "13800138000"},
            "category": "SJ0401", "description": "路口有流动摊贩占道经营（第%d次）" % i,
            "location": places[i % len(places)], "dispatch": True}


def inside(point, ring):
    """Whether a point lies inside a ring (even-odd rule)."""
    x, y = point
    odd, j = False, len(ring) - 1
    for i, (xi, yi) in enumerate(ring):
        xj, yj = ring[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            odd = not odd
        j = i
    return odd


def clear_site(village_code):
    """A 9 x 8 m square inside the village's plan that the one map passes."""
    status, items = call(A, "GET", "/ogc/collections/village_plan/items?limit=1000", token=applying)
    plan = next(f for f in items["features"] if f["properties"].get("village_code") == village_code)
    g = plan["geometry"]
    ring = g["coordinates"][0] if g["type"] == "Polygon" else g["coordinates"][0][0]
    x1, y1 = max(p[0] for p in ring), max(p[1] for p in ring)
    dx, dy = 9 / (111320 * math.cos(math.radians(y1))), 8 / 110574
    for j in range(1, 30):
        for i in range(1, 30):
            x, y = x1 - i * dx * 1.7, y1 - j * dy * 1.9
            corners = [[x, y], [x + dx, y], [x + dx, y + dy], [x, y + dy]]
            if not all(inside(c, ring) for c in corners):
                continue
            site = {"type": "Polygon", "coordinates": [corners + [corners[0]]]}
            status, report = call(A, "POST", "/api/v1/compliance",
                                  {"geometry": site, "crs": "EPSG:4490", "rule_set": "宅基地选址",
                                   "terrain": "plain"}, token=applying)
            if status == 200 and report.get("verdict") == "通过":
                return site
    return None


site = clear_site(applying_village)
check(site is not None, "a clear homestead site in %s's plan" % applying_village)
# Applicants and their spouses on the village's roll: ids 2000 on, apart from the rolls below.
status, _ = call(A, "PUT", "/api/v1/homestead/collectives/" + applying_village,
                 {"members": [id_number(2000 + k) for k in range(700)]}, token=applying)
check(status == 200, "the applying village's roll kept through A")


def application(i):
    return {"applicant": {"name": "梁志明", "id_number": id_number(2000 + 2 * (i // 4))},
            "phone": "13800138000",
            "family": [{"name": "陈丽", "id_number": id_number(2001 + 2 * (i // 4)), "relation": "配偶"}],
            "village": applying_village, "terrain": "plain", "build": "new_household",
            "current": "none", "site": site, "address": "某村三巷 8 号", "footprint_m2": 60.0,
            "storeys": 3, "height_m": 10.5, "floor_area_m2": 175.0,
            "neighbours": [{"side": side, "name": "邻户", "agrees": True}
                           for side in ("east", "south", "west", "north")],
            "reason": "分户后无宅基地"}


# A write through one server read at once through the other, 1,000 times: an account, a work
# order, a homestead collective's member roll and a homestead application (a case on the
# workflow engine, with its first tasks) in turn.
started = time.time()
stale = {"account": 0, "order": 0, "roll": 0, "application": 0}
for i in range(1000):
    writer, reader = (A, B) if i % 2 == 0 else (B, A)
    kind = ("account", "order", "roll", "application")[i % 4]
    if kind == "account":
        status, user = call(writer, "GET", "/api/v1/users/" + target["username"], token=token)
        name = "审批人第%d次" % i
        status, _ = call(writer, "PATCH", "/api/v1/users/" + target["username"],
                         {"display_name": name, "version": user["version"]}, token=token)
        if status != 200:
            check(False, "write %d through %s answered %d" % (i, writer, status))
        status, seen = call(reader, "GET", "/api/v1/users/" + target["username"], token=token)
        if seen["display_name"] != name:
            stale[kind] += 1
        last_name = name
    elif kind == "order":
        status, made = call(writer, "POST", "/api/v1/orders", order_body(i), token=hotline)
        if status != 201:
            check(False, "order %d through %s answered %d: %s" % (i, writer, status, made))
        number = made["order"]["number"]
        status, seen = call(reader, "GET", "/api/v1/orders/" + number, token=hotline)
        if status != 200 or seen["order"]["state"] != made["order"]["state"]:
            stale[kind] += 1
    elif kind == "application":
        status, made = call(writer, "POST", "/api/v1/homestead/applications", application(i),
                            token=applying)
        if status != 201:
            check(False, "application %d through %s answered %d: %s" % (i, writer, status, made))
        app_id = made["application"]["id"]
        status, seen = call(reader, "GET", "/api/v1/homestead/applications/" + app_id,
                            token=applying)
        if status != 200 or seen["application"]["stage"] != made["application"]["stage"] \
                or seen["case"]["tasks"] != made["case"]["tasks"]:
            stale[kind] += 1
    else:
        members = [id_number(i), id_number(i + 1)]
        status, saved = call(writer, "PUT", "/api/v1/homestead/collectives/" + village,
                             {"members": members}, token=clerk)
        if status != 200:
            check(False, "roll %d through %s answered %d: %s" % (i, writer, status, saved))
        status, seen = call(reader, "GET", "/api/v1/homestead/collectives/" + village, token=clerk)
        if status != 200 or sorted(seen["members"]) != sorted(members):
            stale[kind] += 1
check(sum(stale.values()) == 0, "1,000 writes (accounts, work orders, member rolls, homestead "
      "applications) through one "
      "server each read at once through the other (%.1f s, stale: %s)" % (time.time() - started, stale))

# Features and tiles: each written by another process (the command line, into the database)
# and read at once through both servers, from their in-memory snapshots.
layer_file = os.path.join(WORK, "patch.geojson")
lon0, lat0 = places[0]
for k in range(12):
    lon, lat = lon0 + 0.01 * (k % 4), lat0 + 0.01 * (k // 4)
    d = 0.0002
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]
    with open(layer_file, "w", encoding="utf-8") as f:
        json.dump({"type": "FeatureCollection", "features": [{
            "type": "Feature", "properties": {"name": "核查图斑%d" % k},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}]}, f, ensure_ascii=False)
    z, y, x = tile_of(lon, lat, 17)
    tile = "/ogc/collections/checks/tiles/WebMercatorQuad/%d/%d/%d" % (z, y, x)
    if k > 0:
        for base in (A, B):
            status, _ = fetch(base, tile, token)
            check(status == 204, "%s: tile %s empty before patch %d" % (base, tile, k))
    done = subprocess.run(
        [os.environ.get("TUDI", "target/release/tudi"), "import", "--data", os.path.join(WORK, "data"),
         "--database", os.environ["URL"], "--layer", "checks", "--kind", "custom", "--src-crs",
         "EPSG:4490", layer_file], capture_output=True, text=True)
    check(done.returncode == 0, "patch %d imported by the command line: %s" % (k, done.stderr.strip()[-200:]))
    for base in (A, B):
        status, items = call(base, "GET", "/ogc/collections/checks/items?limit=100", token=token)
        check(status == 200 and items["numberMatched"] == k + 1,
              "%s lists patch %d at once (%s of %d)" % (base, k, items and items.get("numberMatched"), k + 1))
        status, body = fetch(base, tile, token)
        check(status == 200 and len(body) > 0, "%s draws patch %d in its tile at once" % (base, k))

# Wrong passwords spread over both servers lock the account.
locked = False
for i in range(12):
    status, body = call(A if i % 2 == 0 else B, "POST", "/api/v1/auth/login",
                        {"username": victim["username"], "password": "wrong-password"})
    if body and body.get("type", "").endswith("account-locked"):
        locked = True
        break
check(locked, "wrong passwords alternating over A and B lock the account")
for base in (A, B):
    status, body = call(base, "POST", "/api/v1/auth/login",
                        {"username": victim["username"], "password": victim["password"]})
    check(body and body.get("type", "").endswith("account-locked"),
          "locked on %s too, even with the right password" % base)

# Failover during writes: two clients take in orders through haproxy while the primary dies and
# the replica is promoted; every order acknowledged (201) before, during and after is there.
acked, refused, promoted_at = [], [], []
stop = threading.Event()


def take_in(who):
    j = 0
    while not stop.is_set():
        try:
            status, body = call(LB, "POST", "/api/v1/orders", order_body(10_000 * who + j), token=hotline)
        except (urllib.error.URLError, OSError) as e:
            status, body = None, str(e)
        if status == 201:
            acked.append((time.time(), body["order"]["number"]))
        else:
            refused.append((status, (body or {}).get("type") if isinstance(body, dict) else body))
            time.sleep(0.2)
        j += 1


clients = [threading.Thread(target=take_in, args=(n,)) for n in (1, 2)]
for c in clients:
    c.start()
time.sleep(3)
before_kill = len(acked)
subprocess.run(["pg_ctlcluster", "15", "tudi_primary", "stop", "-m", "immediate"], check=True)
subprocess.run(["pg_ctlcluster", "15", "tudi_replica", "promote"], check=True)
promoted = time.time()
for _ in range(60):
    if any(t > promoted + 1 for t, _ in acked):
        break
    time.sleep(1)
time.sleep(2)
stop.set()
for c in clients:
    c.join()
after = [n for t, n in acked if t > promoted]
check(before_kill > 0 and after, "orders taken in through haproxy before (%d) and after (%d) the "
      "promotion; %d refused while the database was away: %s" % (
          before_kill, len(after), len(refused), sorted({str(r) for r in refused})[:4]))
check(all(status in (None, 502) or (status == 503 and str(kind).endswith("store-unavailable"))
          for status, kind in refused),
      "requests during the failover were refused as 503 store-unavailable (or by haproxy), "
      "none answered wrongly")
missing = [n for _, n in acked
           for base in (A, B)
           if call(base, "GET", "/api/v1/orders/" + n, token=hotline)[0] != 200]
check(not missing, "every one of the %d acknowledged orders is on the promoted replica, through "
      "both servers (missing: %s)" % (len(acked), missing[:5]))
numbers = psql(REPLICA, "select count(*), count(distinct record_id) from d440605.tudi_records "
                        "where collection = 'order'")
check(numbers.split("|")[0] == numbers.split("|")[1], "no order stored twice: %s" % numbers)
for base in (A, B):
    status, user = call(base, "GET", "/api/v1/users/" + target["username"], token=token)
    check(status == 200, "%s reads after the promotion" % base)
    check(user["display_name"] == last_name,
          "no acknowledged write was lost: %s reads the last one" % base)
for i, base in enumerate((A, B)):
    status, user = call(base, "GET", "/api/v1/users/" + target["username"], token=token)
    status, _ = call(base, "PATCH", "/api/v1/users/" + target["username"],
                     {"display_name": "提升后%d" % i, "version": user["version"]}, token=token)
    check(status == 200, "%s writes to the promoted replica" % base)
chain = subprocess.run(
    [os.environ.get("TUDI", "target/release/tudi"), "audit", "verify", "--data",
     os.path.join(WORK, "data"), "--database",
     "postgres://postgres@127.0.0.1:5434/postgres?schema=d440605"],
    capture_output=True, text=True)
check(chain.returncode == 0, "the audit chain on the promoted replica is intact: "
      + chain.stdout.strip().splitlines()[0] if chain.stdout else chain.stderr)

# Sign out on B: refused on A.
status, _ = call(B, "POST", "/api/v1/auth/logout", token=token)
check(status in (200, 204), "sign out on B")
status, _ = call(A, "GET", "/api/v1/auth/me", token=token)
check(status == 401, "the session ended on B is refused on A")

# The lease holder of the homestead clock killed with -9: the other server takes over.
def holder():
    text = psql(REPLICA, "select body from d440605.tudi_records "
                         "where collection = 'lease' and record_id = 'homestead-clock'")
    return json.loads(text)["holder"] if text else None


for _ in range(90):
    h = holder()
    if h:
        break
    time.sleep(1)
check(h is not None, "one server holds the homestead clock's lease")
victim_pid = PID_A if h.startswith("pid-%d-" % PID_A) else PID_B
survivor_pid = PID_B if victim_pid == PID_A else PID_A
os.kill(victim_pid, signal.SIGKILL)
killed_at = time.time()
taken = None
while time.time() - killed_at < 420:
    h = holder()
    if h and h.startswith("pid-%d-" % survivor_pid):
        taken = time.time() - killed_at
        break
    time.sleep(2)
check(taken is not None, "the other server took the lease over (after %s s; lease 300 s, "
      "checked every 60 s)" % (None if taken is None else round(taken)))

# The clock of the server that took over has run (it runs in the tick that took the lease): no
# case was reminded or told overdue twice for one task, by the two servers between them.
time.sleep(5)
rows = psql(REPLICA, "select e->>'action', e->>'task', c.record_id from d440605.tudi_records c, "
                     "jsonb_array_elements((c.body::jsonb)->'events') e "
                     "where c.collection = 'case' and e->>'action' in ('remind', 'overdue')")
clock_events = [tuple(line.split("|")) for line in rows.splitlines() if line]
repeated = sorted({e for e in clock_events if clock_events.count(e) > 1})
check(clock_events and not repeated,
      "no reminder or overdue notice sent twice (%d sent by the clocks; repeated: %s)"
      % (len(clock_events), repeated[:5]))
print("all checks passed")
