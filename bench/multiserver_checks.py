"""The checks of bench/multiserver.sh: two tudi servers (A 18081, B 18082, haproxy 18080) on one
PostgreSQL primary with a synchronous replica. Standard library only; exits 1 on the first
failure, naming it."""

import json
import os
import signal
import subprocess
import sys
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

# A write through one server read at once through the other, 1,000 times.
started = time.time()
stale = 0
for i in range(1000):
    writer, reader = (A, B) if i % 2 == 0 else (B, A)
    status, user = call(writer, "GET", "/api/v1/users/" + target["username"], token=token)
    name = "审批人第%d次" % i
    status, _ = call(writer, "PATCH", "/api/v1/users/" + target["username"],
                     {"display_name": name, "version": user["version"]}, token=token)
    if status != 200:
        check(False, "write %d through %s answered %d" % (i, writer, status))
    status, seen = call(reader, "GET", "/api/v1/users/" + target["username"], token=token)
    if seen["display_name"] != name:
        stale += 1
check(stale == 0, "1,000 writes through one server each read at once through the other "
      "(%.1f s, nothing stale)" % (time.time() - started))
last_name = name

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

# Failover: the primary dies, the replica is promoted, both servers carry on.
subprocess.run(["pg_ctlcluster", "15", "tudi_primary", "stop", "-m", "immediate"], check=True)
subprocess.run(["pg_ctlcluster", "15", "tudi_replica", "promote"], check=True)
time.sleep(2)
for base in (A, B):
    for attempt in range(30):
        status, user = call(base, "GET", "/api/v1/users/" + target["username"], token=token)
        if status == 200:
            break
        time.sleep(1)
    check(status == 200, "%s reads again after the promotion (after %d retries)" % (base, attempt))
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
print("all checks passed")
