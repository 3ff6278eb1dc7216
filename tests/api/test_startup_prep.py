"""test_startup_prep.py -- start-up from the binary form of the live
operations (schema migration 7, table op_prep).

op_prep holds one row per live (planned or active) operation, keyed by its
seq in `operations`, with the operation's binary form: written when the
operation is created, rewritten by PUT, deleted when it is completed or
cancelled (by hand or by the sweep).  Start-up loads the live operations
from it; a row with no binary form (NULL: a store from before migration 7)
or one that does not decode is parsed from `operations.body` and written
back; when op_prep does not name exactly the live operations, start-up
rebuilds its rows and loads again.  `serve` logs a "ready" JSON line with
`operations`, `operations_from_text`, `conflicts_open` and `load_seconds`.

Each test runs a private server, restarts it on the same store and checks
both the ready line and what the conflict engine really loaded (new and
probe operations conflict with exactly the reloaded ones).  The store is
read and damaged with Python's sqlite3 only while the server is stopped.
"""

import json
import sqlite3
import time

import pytest

import dcf_helpers as H

LIVE = ("planned", "active")
ROLES = ("planner", "viewer", "duty")


# ---------------------------------------------------------- helpers --


def _ready(srv, mark, timeout=5.0):
    """The "ready" log line written after log offset `mark`, as a dict.
    /readyz may answer just before the line is written, hence the wait."""
    deadline = time.monotonic() + timeout
    while True:
        for line in srv.log_text(mark).splitlines():
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if isinstance(j, dict) and j.get("msg") == "ready":
                return j
        assert time.monotonic() < deadline, "no ready line:\n" + srv.log_text(mark)
        time.sleep(0.02)


def _stop(srv):
    rc = srv.stop()
    assert rc == 0, "SIGTERM exit code %r\n%s" % (rc, srv.log_text()[-4000:])


def _start(srv):
    """Start on the same store; the ready line of this start."""
    mark = srv.log_size()
    srv.start()
    return _ready(srv, mark)


def _restart(srv):
    _stop(srv)
    return _start(srv)


def _db(srv):
    """The store, for the test to read or edit while the server is stopped."""
    assert srv.proc is None, "the server must be stopped"
    return sqlite3.connect(srv.db)


def _query(srv, sql, *params):
    db = _db(srv)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def _prep(srv):
    """op_prep as {seq: bytes or None}."""
    return dict(_query(srv, "SELECT seq, prep FROM op_prep"))


def _seqs(srv):
    """{operation id: (seq, state)} for every stored operation."""
    return {i: (seq, st) for i, seq, st in _query(srv, "SELECT id, seq, state FROM operations")}


def _live_seqs(srv):
    return {seq for seq, st in _seqs(srv).values() if st in LIVE}


def _write(srv, sql, *params):
    db = _db(srv)
    try:
        db.execute(sql, params)
        db.commit()
    finally:
        db.close()


def _body(center, **kw):
    """An operation every other party sees in full (other.operation.id)."""
    return H.op_body(center, disclosure="full", **kw)


def _others(views):
    return sorted(v["other"]["operation"]["id"] for v in views)


def _probe(srv, tok, center, **kw):
    """Ids of the operations a check of _body(center, **kw) conflicts with."""
    r = srv.post("/v1/operations/check", tok, H.op_body(center, **kw))
    return _others(H.expect_json(r, 200)["conflicts"])


def _metric(srv, name):
    r = H.expect_status(srv.get("/metrics"), 200)
    for line in r.text.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    raise AssertionError("no %s in /metrics:\n%s" % (name, r.text))


def _check_ready(ready, operations, from_text, conflicts_open):
    got = {k: ready.get(k) for k in ("operations", "operations_from_text", "conflicts_open")}
    want = {"operations": operations, "operations_from_text": from_text,
            "conflicts_open": conflicts_open}
    assert got == want, ready
    assert isinstance(ready.get("load_seconds"), (int, float)) and ready["load_seconds"] >= 0, ready


def _snapshot(srv, tok, ids):
    return {i: srv.get_op(tok, i) for i in ids}


# ------------------------------------------------------------ tests --


def test_fresh_store_loads_from_binary_form(make_server):
    srv = make_server()
    blue, red = srv.party(ROLES), srv.party(ROLES)
    c1, c2 = H.area(), H.area()
    a = srv.post_op(blue.tok["planner"], _body(c1))
    far = srv.post_op(blue.tok["planner"], _body(c2, kind="drone", lower=100, upper=400))
    H.expect_json(srv.post("/v1/operations/%s/activate" % far["id"], blue.tok["planner"]), 200)
    r = srv.post_op(red.tok["planner"], _body(c1, dlat=0.01, priority=70))
    assert _others(r["conflicts"]) == [a["id"]], r
    ids = [a["id"], far["id"], r["id"]]
    before = _snapshot(srv, blue.tok["viewer"], [a["id"], far["id"]])
    before.update(_snapshot(srv, red.tok["viewer"], [r["id"]]))

    _stop(srv)
    seqs, prep = _seqs(srv), _prep(srv)
    assert set(prep) == _live_seqs(srv) == {seqs[i][0] for i in ids}, (prep.keys(), seqs)
    for i in ids:
        p = prep[seqs[i][0]]
        assert isinstance(p, bytes) and i.encode() in p, (i, p)  # keyed by the right seq
    ready = _start(srv)
    _check_ready(ready, 3, 0, 1)

    assert H.expect_json(srv.get("/readyz"), 200)["operations"] == 3
    for i in ids:
        tok = red.tok["viewer"] if i == r["id"] else blue.tok["viewer"]
        assert srv.get_op(tok, i) == before[i], i
    # the engine holds the reloaded operations: new ones conflict with them
    r2 = srv.post_op(red.tok["planner"], _body(c1, dlat=-0.01))
    assert _others(r2["conflicts"]) == [a["id"]], r2
    b2 = srv.post_op(blue.tok["planner"], _body(c1, dlng=0.01))
    assert _others(b2["conflicts"]) == sorted([r["id"], r2["id"]]), b2
    assert _probe(srv, red.tok["planner"], c2, kind="drone", lower=200, upper=300) == [far["id"]]
    assert _probe(srv, red.tok["planner"], c2, lower=5000, upper=6000) == []  # above `far`
    _stop(srv)
    assert set(_prep(srv)) == _live_seqs(srv) and len(_live_seqs(srv)) == 5
    _check_ready(_start(srv), 5, 0, 4)  # a-r, a-r2, b2-r, b2-r2


def test_update_rewrites_binary_form(make_server):
    srv = make_server()
    blue, red = srv.party(ROLES), srv.party(ROLES)
    c = H.area()
    new_c = (c[0] + 0.3, c[1])  # ~33 km away: old and new footprints are disjoint
    a = srv.post_op(blue.tok["planner"], _body(c))
    _stop(srv)
    seq = _seqs(srv)[a["id"]][0]
    old = _prep(srv)[seq]
    _start(srv)

    r = srv.put("/v1/operations/" + a["id"], blue.tok["planner"], _body(new_c, radius_m=4000),
                headers={"If-Match": '"1"'})
    upd = H.expect_json(r, 200)
    assert upd["version"] == 2, upd
    _stop(srv)
    prep = _prep(srv)
    assert set(prep) == {seq}, prep.keys()
    assert prep[seq] is not None and prep[seq] != old
    _check_ready(_start(srv), 1, 0, 0)

    got = srv.get_op(blue.tok["viewer"], a["id"])
    assert got == H.resource_core(upd), got
    assert _probe(srv, red.tok["planner"], new_c, dlat=0.02) == [a["id"]]
    assert _probe(srv, red.tok["planner"], c) == []
    assert _probe(srv, red.tok["planner"], c, dlat=-0.02) == []


def test_cancel_complete_and_sweep_remove_binary_form(make_server):
    srv = make_server(test_clock=True)
    blue, red = srv.party(ROLES), srv.party(ROLES)
    c = H.area()
    soon = {"start": H.from_now(3), "end": H.from_now(4)}  # swept by a clock advance
    cancel = srv.post_op(blue.tok["planner"], _body(c, dlng=0.01))
    complete = srv.post_op(blue.tok["planner"], _body(c, dlng=-0.01))
    keep = srv.post_op(blue.tok["planner"], _body(c))
    swept = srv.post_op(blue.tok["planner"], _body(c, **soon))
    ids = [cancel["id"], complete["id"], keep["id"], swept["id"]]
    assert _probe(srv, red.tok["planner"], c) == sorted(ids[:3])
    _stop(srv)
    seqs = _seqs(srv)
    assert set(_prep(srv)) == {seqs[i][0] for i in ids}
    _start(srv)

    tok = blue.tok["planner"]
    H.expect_json(srv.post("/v1/operations/%s/cancel" % cancel["id"], tok), 200)
    H.expect_json(srv.post("/v1/operations/%s/activate" % complete["id"], tok), 200)
    H.expect_json(srv.post("/v1/operations/%s/complete" % complete["id"], tok), 200)
    H.expect_json(srv.post("/v1/admin/clock", srv.admin, {"advance_s": 300}), 200)
    assert srv.get_op(blue.tok["viewer"], swept["id"])["state"] == "completed"
    assert _probe(srv, red.tok["planner"], c) == [keep["id"]]

    _stop(srv)
    seqs = _seqs(srv)
    assert [seqs[i][1] for i in ids] == ["cancelled", "completed", "planned", "completed"]
    assert set(_prep(srv)) == {seqs[keep["id"]][0]}
    _check_ready(_start(srv), 1, 0, 0)  # the test clock is back at the real time

    assert _probe(srv, red.tok["planner"], c) == [keep["id"]]
    assert _probe(srv, red.tok["planner"], c, dlng=0.01) == [keep["id"]]
    assert _probe(srv, red.tok["planner"], c, **soon) == []
    r = srv.post_op(red.tok["planner"], _body(c, dlng=-0.01))
    assert _others(r["conflicts"]) == [keep["id"]], r
    states = [srv.get_op(blue.tok["viewer"], i)["state"] for i in ids]
    assert states == ["cancelled", "completed", "planned", "completed"], states


def _three_ops(srv):
    """blue a (c1) and b (c2, active); red r conflicting with a."""
    blue, red = srv.party(ROLES), srv.party(ROLES)
    c1, c2 = H.area(), H.area()
    a = srv.post_op(blue.tok["planner"], _body(c1))
    b = srv.post_op(blue.tok["planner"], _body(c2))
    H.expect_json(srv.post("/v1/operations/%s/activate" % b["id"], blue.tok["planner"]), 200)
    r = srv.post_op(red.tok["planner"], _body(c1, dlat=0.01))
    assert _others(r["conflicts"]) == [a["id"]], r
    return blue, red, (c1, c2), (a, b, r)


def _engine_has(srv, blue, red, centers, ops):
    """The engine holds exactly a, b and r (each probe finds its one)."""
    (c1, c2), (a, b, r) = centers, ops
    assert _probe(srv, red.tok["planner"], c1, dlat=-0.01) == [a["id"]]
    assert _probe(srv, red.tok["planner"], c2) == [b["id"]]
    assert _probe(srv, blue.tok["planner"], c1, dlat=0.02) == [r["id"]]


def test_rows_without_binary_form_are_parsed_and_written(make_server):
    srv = make_server()
    blue, red, centers, ops = _three_ops(srv)
    before = _snapshot(srv, blue.tok["viewer"], [o["id"] for o in ops[:2]])
    _stop(srv)
    orig = _prep(srv)
    assert len(orig) == 3 and None not in orig.values()
    _write(srv, "UPDATE op_prep SET prep = NULL")
    _check_ready(_start(srv), 3, 3, 1)

    _engine_has(srv, blue, red, centers, ops)
    assert _snapshot(srv, blue.tok["viewer"], list(before)) == before
    _stop(srv)
    assert _prep(srv) == orig  # written back, the same binary form
    _check_ready(_start(srv), 3, 0, 1)
    _engine_has(srv, blue, red, centers, ops)


def test_store_from_before_migration_7(make_server):
    """A store at schema version 6 (no op_prep, no conflicts_resolved)
    migrates, loads its live operations from text once, and then not."""
    srv = make_server()
    blue, red, centers, ops = _three_ops(srv)
    cancelled = srv.post_op(blue.tok["planner"], _body(centers[1], dlng=0.02))
    H.expect_json(srv.post("/v1/operations/%s/cancel" % cancelled["id"], blue.tok["planner"]), 200)
    _stop(srv)
    orig = _prep(srv)
    db = _db(srv)
    try:
        db.executescript("DROP TABLE op_prep; DROP INDEX conflicts_resolved;"
                         "DELETE FROM schema_migrations WHERE version = 7;")
    finally:
        db.close()
    _check_ready(_start(srv), 3, 3, 1)

    _engine_has(srv, blue, red, centers, ops)
    _stop(srv)
    assert _prep(srv) == orig
    assert _query(srv, "SELECT MAX(version) FROM schema_migrations") == [(7,)]
    _check_ready(_start(srv), 3, 0, 1)
    _engine_has(srv, blue, red, centers, ops)


def test_damaged_binary_form_is_parsed_and_repaired(make_server):
    srv = make_server()
    blue, red, centers, ops = _three_ops(srv)
    a, b, r = ops
    _stop(srv)
    seqs, orig = _seqs(srv), _prep(srv)
    sa, sb = seqs[a["id"]][0], seqs[b["id"]][0]
    garbage = bytes(range(7, 7 + 5 * 23, 5)) * 3
    _write(srv, "UPDATE op_prep SET prep = ? WHERE seq = ?", garbage, sa)
    _write(srv, "UPDATE op_prep SET prep = ? WHERE seq = ?", orig[sb][: len(orig[sb]) // 2], sb)
    # A value that is not a blob at all (a store edited by hand).
    sr = seqs[r["id"]][0]
    _write(srv, "UPDATE op_prep SET prep = ? WHERE seq = ?", "not a binary form", sr)
    _check_ready(_start(srv), 3, 3, 1)

    _engine_has(srv, blue, red, centers, ops)
    _stop(srv)
    assert _prep(srv) == orig  # repaired
    _check_ready(_start(srv), 3, 0, 1)
    _engine_has(srv, blue, red, centers, ops)


@pytest.mark.parametrize("damage", ["missing", "extra", "missing+extra", "orphan"])
def test_rows_that_differ_from_live_operations_are_rebuilt(make_server, damage):
    """A live operation's row deleted and/or a row added for a completed
    one (its old binary form, as if the delete had been lost); "orphan": a
    row with no binary form for a seq that names no operation."""
    srv = make_server()
    blue, red, centers, ops = _three_ops(srv)
    a, b, r = ops
    done = srv.post_op(blue.tok["planner"], _body(centers[1], dlat=0.3))
    _stop(srv)
    seqs, orig = _seqs(srv), _prep(srv)
    sa, sd = seqs[a["id"]][0], seqs[done["id"]][0]
    _start(srv)
    H.expect_json(srv.post("/v1/operations/%s/activate" % done["id"], blue.tok["planner"]), 200)
    H.expect_json(srv.post("/v1/operations/%s/complete" % done["id"], blue.tok["planner"]), 200)
    _stop(srv)
    assert sd not in _prep(srv)
    if "missing" in damage:
        _write(srv, "DELETE FROM op_prep WHERE seq = ?", sa)
    if "extra" in damage:
        _write(srv, "INSERT INTO op_prep (seq, prep) VALUES (?, ?)", sd, orig[sd])
    if damage == "orphan":
        _write(srv, "INSERT INTO op_prep (seq, prep) VALUES (?, NULL)", sd + 1000)
    ready = _start(srv)

    assert _probe(srv, red.tok["planner"], centers[1], dlat=0.3) == []  # done is not loaded
    _engine_has(srv, blue, red, centers, ops)
    # the rebuilt row of a has no binary form yet: parsed from its text
    _check_ready(ready, 3, 1 if "missing" in damage else 0, 1)
    _stop(srv)
    prep = _prep(srv)
    assert set(prep) == _live_seqs(srv) == {seqs[o["id"]][0] for o in ops}, (damage, sorted(prep))
    assert prep == {s: orig[s] for s in prep}
    _check_ready(_start(srv), 3, 0, 1)
    _engine_has(srv, blue, red, centers, ops)


def test_conflicts_open_across_restarts(make_server):
    srv = make_server()
    blue, red = srv.party(ROLES), srv.party(ROLES)
    pairs, views = [], []
    for _ in range(5):
        c = H.area()
        a, r, v = srv.make_conflict(blue.tok["planner"], red.tok["planner"], center=c,
                                    body_a=_body(c), body_b=_body(c, dlat=0.01))
        pairs.append((c, a, r))
        views.append(v["id"])

    def move(i, dlat, version):
        c, _a, r = pairs[i]
        res = srv.put("/v1/operations/" + r["id"], red.tok["planner"], _body(c, dlat=dlat),
                      headers={"If-Match": '"%d"' % version})
        return H.expect_json(res, 200)

    H.expect_json(srv.post("/v1/operations/%s/cancel" % pairs[0][2]["id"], red.tok["planner"]), 200)
    move(1, 0.5, 1)  # resolved ...
    assert _others(move(1, 0.02, 2)["conflicts"]) == [pairs[1][1]["id"]]  # ... and open again
    for party in (blue, red):
        H.expect_json(srv.post("/v1/conflicts/%s/acknowledge" % views[2], party.tok["duty"]), 200)
        H.expect_json(srv.post("/v1/conflicts/%s/accept" % views[3], party.tok["duty"]), 200)
    move(4, 0.5, 1)  # resolved

    def states():
        got = {v["id"]: v["state"] for v in srv.list_conflicts(blue.tok["viewer"])}
        assert got == {v["id"]: v["state"] for v in srv.list_conflicts(red.tok["viewer"])}
        assert set(got) == set(views), got
        return [got[i] for i in views]

    assert states() == ["resolved", "open", "acknowledged", "accepted", "resolved"]
    resolved = srv.list_conflicts(blue.tok["viewer"], state="resolved")
    assert sorted(v["id"] for v in resolved) == sorted([views[0], views[4]])
    assert _metric(srv, "dcf_conflicts_open") == 3

    _check_ready(_restart(srv), 9, 0, 3)
    assert states() == ["resolved", "open", "acknowledged", "accepted", "resolved"]
    assert _metric(srv, "dcf_conflicts_open") == 3
    # one more resolved after the restart, counted at the next
    a2 = pairs[2][1]["id"]
    H.expect_json(srv.post("/v1/operations/%s/cancel" % a2, blue.tok["planner"]), 200)
    assert _metric(srv, "dcf_conflicts_open") == 2
    _check_ready(_restart(srv), 8, 0, 2)
    assert states() == ["resolved", "open", "resolved", "accepted", "resolved"]
    assert _metric(srv, "dcf_conflicts_open") == 2
    # a new conflict after the restart
    c = pairs[4][0]
    r = srv.post_op(red.tok["planner"], _body(c, dlng=0.01))
    assert _others(r["conflicts"]) == [pairs[4][1]["id"]], r
    assert _metric(srv, "dcf_conflicts_open") == 3
    _check_ready(_restart(srv), 9, 0, 3)
