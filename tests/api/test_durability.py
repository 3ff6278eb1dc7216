"""test_durability.py -- an acknowledged write survives kill -9.

Writer threads post operations as fast as they can and keep every
acknowledged (201) body; the test kills the server with SIGKILL at seeded
random moments (5 times, 0.3-1.5 s apart), restarting it on the same
database each time; after each restart every acknowledged operation must be
there, identical (content and version).  Requests that failed or got no
answer prove nothing either way and are not checked.  After each restart
the audit log must verify (contiguous indexes; the root recomputed from
every entry equals a freshly signed tree head's) and match the stored
state exactly: one operation.create entry per stored operation, none for an
operation that is not stored.

Also: `serve --db` in a directory that does not exist fails at once with a
message naming the path and a non-zero exit.
"""

import base64
import hashlib
import json
import os
import random
import subprocess
import threading
import time

import requests

import dcf_helpers as H
from conftest import dcf_bin

SEED = 20261124
KILLS = 5
WRITERS = 3


def _mth(leaves):
    """RFC 9162 Merkle tree hash of a list of leaf hashes."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def audit_matches_state(srv, k, viewer):
    sth = H.expect_json(srv.get("/v1/audit/sth", srv.admin, params={"fresh": "true"}), 200)
    entries, cursor = [], None
    while True:
        params = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = H.expect_json(srv.get("/v1/audit/entries", srv.admin, params=params), 200)
        entries += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [e["index"] for e in entries] == list(range(len(entries))), "kill %d: gaps" % k
    n = sth["tree_size"]
    assert n == len(entries), "kill %d: head size %d, %d entries" % (k, n, len(entries))
    leaves = [hashlib.sha256(b"\x00" + e["entry"].encode()).digest() for e in entries]
    assert _mth(leaves) == base64.b64decode(sth["root_hash"]), "kill %d: root differs" % k
    created = [json.loads(e["entry"]) for e in entries]
    created = [c["objects"][0]["id"] for c in created if c["action"] == "operation.create"]
    stored = {o["id"] for o in srv.list_ops(viewer, limit=1000)}
    assert len(created) == len(set(created)), "kill %d: an operation created twice" % k
    assert set(created) == stored, "kill %d: log and store differ: %r" % (
        k, sorted(set(created) ^ stored)[:5])


def test_acknowledged_writes_survive_kill9(make_server):
    srv = make_server(rate="1000")
    p = srv.party(("viewer",))
    tokens = [srv.create_token(p.id, "planner", "writer %d" % i)["token"] for i in range(WRITERS)]
    rng = random.Random(SEED)
    acked = {}  # id -> resource as acknowledged
    lock = threading.Lock()
    stop = threading.Event()
    running = threading.Event()  # cleared while the test verifies
    running.set()
    idle = [threading.Event() for _ in range(WRITERS)]
    errors = []
    base = {"url": srv.base}

    def writer(i):
        sess = requests.Session()
        wrng = random.Random(SEED + i)
        while not stop.is_set():
            if not running.is_set():
                idle[i].set()
                running.wait()
                idle[i].clear()
                continue
            c = H.area()
            body = H.op_body(c, priority=wrng.randint(0, 1000), radius_m=wrng.randint(100, 20000),
                             start=wrng.randint(0, 100), end=101 + wrng.randint(0, 10))
            try:
                r = sess.post(base["url"] + "/v1/operations", json=body, timeout=5,
                              headers={"Authorization": "Bearer " + tokens[i]})
            except requests.RequestException:
                sess = requests.Session()
                time.sleep(0.01)
                continue
            if r.status_code == 201:
                res = H.resource_core(r.json())
                with lock:
                    acked[res["id"]] = res
            elif r.status_code in (429, 503):
                time.sleep(0.05)
            else:
                errors.append(H.describe(r))
                time.sleep(0.05)

    def verify(k, ids):
        sess = requests.Session()
        for op_id in ids:
            res = acked[op_id]
            r = sess.get(srv.base + "/v1/operations/" + op_id, timeout=10,
                         headers={"Authorization": "Bearer " + p.tok["viewer"]})
            assert r.status_code == 200, "kill %d: acknowledged %s lost\n%s" % (k, op_id, H.describe(r))
            assert r.json() == res, "kill %d: %s changed" % (k, op_id)
            assert r.headers.get("ETag") == '"%d"' % res["version"]

    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(WRITERS)]
    for t in threads:
        t.start()
    counts = []
    try:
        for k in range(1, KILLS + 1):
            time.sleep(rng.uniform(0.3, 1.5))
            srv.kill9()
            running.clear()
            for ev in idle:
                assert ev.wait(15), "a writer did not stop"
            with lock:
                ids = list(acked)
            counts.append(len(ids))
            assert ids, "no write was acknowledged before kill %d" % k
            t0 = time.monotonic()
            srv.start()
            t1 = time.monotonic()
            base["url"] = srv.base
            verify(k, ids)
            audit_matches_state(srv, k, p.tok["viewer"])
            print("kill %d: %d acknowledged, restart %.2f s, verify %.2f s"
                  % (k, len(ids), t1 - t0, time.monotonic() - t1))
            running.set()
    finally:
        stop.set()
        running.set()
        for t in threads:
            t.join(10)
    print("acknowledged before each kill: %r" % counts)
    assert not errors, "unexpected answers:\n" + "\n".join(errors[:5])
    # and the lot, once more, after a clean restart
    srv.restart()
    listed = {o["id"]: o for o in srv.list_ops(p.tok["viewer"], limit=1000)}
    for op_id, res in acked.items():
        assert listed.get(op_id) == res, op_id
    body = H.expect_json(srv.get("/readyz"), 200)
    assert body["operations"] == len(listed) >= len(acked), (body, len(listed), len(acked))


def test_db_in_missing_directory_fails_clearly(tmp_root):
    missing = os.path.join(tmp_root, "no-such-dir-%d" % os.getpid(), "sub")
    db = os.path.join(missing, "deconflict.db")
    r = subprocess.run([dcf_bin(), "serve", "--db", db, "--listen", "127.0.0.1:0"],
                       capture_output=True, timeout=20)
    out = (r.stderr + r.stdout).decode(errors="replace")
    assert r.returncode != 0, out
    assert missing in out or db in out, "message does not name the path:\n" + out
    assert not os.path.exists(missing), "serve created %s" % missing
