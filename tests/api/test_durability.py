"""test_durability.py -- an acknowledged write survives kill -9.

Writer threads post operations as fast as they can and keep every
acknowledged (201) body; the test kills the server with SIGKILL at seeded
random moments (5 times, 0.3-1.5 s apart), restarting it on the same
database each time; after each restart every acknowledged operation must be
there, identical (content and version).  Requests that failed or got no
answer prove nothing either way and are not checked.

Also: `serve --db` in a directory that does not exist fails at once with a
message naming the path and a non-zero exit.
"""

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


def test_acknowledged_writes_survive_kill9(make_server):
    srv = make_server(rate="1000")
    p = srv.party(("viewer",))
    tokens = [srv.create_token(p.id, "planner", "writer %d" % i)["token"] for i in range(WRITERS)]
    rng = random.Random(SEED)
    acked = {}  # id -> resource as acknowledged
    lock = threading.Lock()
    stop = threading.Event()
    errors = []
    base = {"url": srv.base}
    base_lock = threading.Lock()

    def writer(i):
        sess = requests.Session()
        wrng = random.Random(SEED + i)
        while not stop.is_set():
            c = H.area()
            body = H.op_body(c, priority=wrng.randint(0, 1000), radius_m=wrng.randint(100, 20000),
                             start=wrng.randint(0, 100), end=101 + wrng.randint(0, 10))
            with base_lock:
                url = base["url"]
            try:
                r = sess.post(url + "/v1/operations", json=body, timeout=5,
                              headers={"Authorization": "Bearer " + tokens[i]})
            except requests.RequestException:
                sess = requests.Session()
                time.sleep(0.02)
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

    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(WRITERS)]
    for t in threads:
        t.start()
    try:
        for k in range(KILLS):
            time.sleep(rng.uniform(0.3, 1.5))
            srv.kill9()
            with lock:
                snapshot = dict(acked)
            srv.start()
            with base_lock:
                base["url"] = srv.base
            assert snapshot, "no write was acknowledged before kill %d" % (k + 1)
            for op_id, res in snapshot.items():
                r = srv.get("/v1/operations/" + op_id, p.tok["viewer"])
                assert r.status_code == 200, "kill %d: acknowledged %s lost\n%s" % (k + 1, op_id, H.describe(r))
                assert r.json() == res, "kill %d: %s changed" % (k + 1, op_id)
                assert r.headers.get("ETag") == '"%d"' % res["version"]
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert not errors, "unexpected answers:\n" + "\n".join(errors[:5])
    # and the lot, once more, after a clean restart
    srv.restart()
    listed = {o["id"]: o for o in srv.list_ops(p.tok["viewer"])}
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
