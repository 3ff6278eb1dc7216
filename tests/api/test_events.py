"""test_events.py -- GET /v1/events (docs/api.md "Events"): operation and
conflict events with their data, ids increasing per party, replay after
Last-Event-ID (header or ?last_event_id=) of exactly the missed events in
order, heartbeats, and --max-streams."""

import time

import dcf_helpers as H


def _op_event(stream, etype, op_id, timeout=10):
    return stream.wait_event(lambda e: e.type == etype and isinstance(e.data, dict)
                             and e.data.get("operation") == op_id, timeout)


def _seen_or_wait(stream, pred, timeout=10):
    for e in stream.events():
        if pred(e):
            return e
    return stream.wait_event(pred, timeout)


def test_stream_headers_and_operation_events(server):
    p = server.party(("planner", "viewer"))
    with server.events(p.tok["viewer"]) as st:
        assert st.status == 200
        assert st.headers.get("content-type", "").startswith("text/event-stream"), st.headers
        assert "no-cache" in st.headers.get("cache-control", ""), st.headers
        tok = p.tok["planner"]
        op = server.post_op(tok, H.op_body(H.area()))
        e1 = _op_event(st, "operation.created", op["id"])
        assert e1.data["version"] == 1 and e1.data["state"] == "planned", e1
        H.parse_time(e1.data["at"])
        body = {k: op[k] for k in ("kind", "priority", "volumes")}
        body["priority"] = 9
        up = H.expect_json(server.put("/v1/operations/" + op["id"], tok, body, headers={"If-Match": '"1"'}), 200)
        e2 = _op_event(st, "operation.updated", op["id"])
        assert e2.data["version"] == up["version"] == 2 and e2.data["state"] == "planned", e2
        act = H.expect_json(server.post("/v1/operations/%s/activate" % op["id"], tok), 200)
        e3 = _op_event(st, "operation.activated", op["id"])
        assert e3.data["state"] == "active" and e3.data["version"] == act["version"], e3
        done = H.expect_json(server.post("/v1/operations/%s/complete" % op["id"], tok), 200)
        e4 = _op_event(st, "operation.completed", op["id"])
        assert e4.data["state"] == "completed" and e4.data["version"] == done["version"], e4
        op2 = server.post_op(tok, H.op_body(H.area()))
        _op_event(st, "operation.created", op2["id"])
        H.expect_json(server.post("/v1/operations/%s/cancel" % op2["id"], tok), 200)
        e6 = _op_event(st, "operation.cancelled", op2["id"])
        assert e6.data["state"] == "cancelled", e6
        ids = [e.n for e in st.events()]
        assert ids == sorted(ids) and len(set(ids)) == len(ids), st.events()


def test_every_party_role_gets_events(server):
    p = server.party()
    streams = [server.events(p.tok[r]) for r in ("party-admin", "planner", "duty", "viewer")]
    try:
        assert [s.status for s in streams] == [200] * 4
        op = server.post_op(p.tok["planner"], H.op_body(H.area()))
        got = [_op_event(s, "operation.created", op["id"]) for s in streams]
        assert len({(e.id, e.raw) for e in got}) == 1, got
    finally:
        for s in streams:
            s.close()


def _replay_case(server, how):
    """A live stream sees every event; a second stream is closed, events
    happen, and a reconnect after the last id it saw must yield exactly the
    live stream's events after that id, in order."""
    blue = server.party(("planner", "viewer", "duty"))
    red = server.party(("planner",))
    c = H.area()
    tok = blue.tok["planner"]
    live = server.events(blue.tok["viewer"])
    try:
        first = server.events(blue.tok["duty"])
        op1 = server.post_op(tok, H.op_body(c))
        seen = _op_event(first, "operation.created", op1["id"])
        _op_event(live, "operation.created", op1["id"])
        first.close()
        # missed while disconnected: operation and conflict events
        op2 = server.post_op(tok, H.op_body(c, dlat=0.5))
        H.expect_json(server.post("/v1/operations/%s/activate" % op2["id"], tok), 200)
        red_op = server.post_op(red.tok["planner"], H.op_body(c, dlat=0.01))
        cf = red_op["conflicts"][0]["id"]
        H.expect_json(server.post("/v1/operations/%s/cancel" % op1["id"], tok), 200)
        _seen_or_wait(live, lambda e: e.type == "conflict.resolved" and e.data.get("conflict") == cf)
        _seen_or_wait(live, lambda e: e.type == "operation.cancelled" and e.data.get("operation") == op1["id"])
        live.quiet_events(0.5)  # stragglers
        missed = [e for e in live.events() if e.n > seen.n]
        last = missed[-1]
        assert last in missed
        kinds = [e.type for e in missed]
        for k in ("operation.created", "operation.activated", "conflict.opened", "operation.cancelled",
                  "conflict.resolved"):
            assert k in kinds, kinds
        if how == "header":
            again = server.events(blue.tok["duty"], headers={"Last-Event-ID": seen.id})
        else:
            again = server.events(blue.tok["duty"], path="/v1/events?last_event_id=%s" % seen.id)
        with again:
            assert again.status == 200
            replay = [again.next_event(10) for _ in missed]
            assert [(e.id, e.type, e.data) for e in replay] == [(e.id, e.type, e.data) for e in missed]
            assert again.quiet_events(1.5) == []
            # and the replaying stream goes on live afterwards
            op3 = server.post_op(tok, H.op_body(c, dlat=-0.5))
            e = _op_event(again, "operation.created", op3["id"])
            assert e.n > last.n
    finally:
        live.close()


def test_replay_after_last_event_id_header(server):
    _replay_case(server, "header")


def test_replay_after_last_event_id_query(server):
    _replay_case(server, "query")


def test_replay_from_zero_gives_whole_history(server):
    p = server.party(("planner", "viewer"))
    ops = [server.post_op(p.tok["planner"], H.op_body(H.area())) for _ in range(3)]
    with server.events(p.tok["viewer"], headers={"Last-Event-ID": "0"}) as st:
        assert st.status == 200
        evs = [st.next_event(10) for _ in ops]
        assert [e.type for e in evs] == ["operation.created"] * 3, evs
        assert [e.data["operation"] for e in evs] == [o["id"] for o in ops]
        assert [e.n for e in evs] == sorted(e.n for e in evs)
        assert st.quiet_events(1.5) == []


def test_events_are_durable(make_server):
    srv = make_server()
    p = srv.party(("planner", "viewer"))
    ops = [srv.post_op(p.tok["planner"], H.op_body(H.area())) for _ in range(2)]
    with srv.events(p.tok["viewer"], headers={"Last-Event-ID": "0"}) as st:
        before = [st.next_event(10) for _ in ops]
    srv.restart()
    with srv.events(p.tok["viewer"], headers={"Last-Event-ID": "0"}) as st:
        after = [st.next_event(10) for _ in ops]
        assert [(e.id, e.type, e.data) for e in after] == [(e.id, e.type, e.data) for e in before]
        op3 = srv.post_op(p.tok["planner"], H.op_body(H.area()))
        e = _op_event(st, "operation.created", op3["id"])
        assert e.n > after[-1].n


def test_heartbeat(server):
    p = server.party(("viewer",))
    with server.events(p.tok["viewer"]) as st:
        assert st.status == 200
        deadline = time.monotonic() + 5
        while True:
            item = st.next(max(0.1, deadline - time.monotonic()))
            assert item is not None, "stream ended"
            if isinstance(item, H.Comment) and item.text == "heartbeat":
                break
        # and they keep coming
        item = None
        while not isinstance(item, H.Comment):
            item = st.next(5)
        assert item.text == "heartbeat"


def test_bad_query_on_events(server):
    p = server.party(("viewer",))
    for query, pointer in (("last_event_id=abc", "?last_event_id"), ("last_event_id=-1", "?last_event_id"),
                           ("since=1", "?since")):
        with server.events(p.tok["viewer"], path="/v1/events?" + query) as st:
            assert st.status == 400, (query, st.status, st.headers)
            body = st.json()
            assert body["type"] == H.PROBLEM_BASE + "bad-query", body
            assert pointer in [e["pointer"] for e in body["errors"]], body


def test_max_streams(make_server):
    srv = make_server(max_streams="2")
    blue = srv.party(("viewer", "duty", "planner"))
    red = srv.party(("viewer",))
    s1 = srv.events(blue.tok["viewer"])
    s2 = srv.events(blue.tok["duty"])
    try:
        assert s1.status == 200 and s2.status == 200
        s3 = srv.events(blue.tok["viewer"])
        assert s3.status == 503, (s3.status, s3.body)
        assert s3.headers.get("content-type", "").startswith("application/problem+json"), s3.headers
        body = s3.json()
        assert body["type"] == H.PROBLEM_BASE + "too-many-streams" and body["status"] == 503, body
        # another party has its own allowance
        with srv.events(red.tok["viewer"]) as r1:
            assert r1.status == 200
        # the two open streams still work
        op = srv.post_op(blue.tok["planner"], H.op_body(H.area()))
        _op_event(s1, "operation.created", op["id"])
        _op_event(s2, "operation.created", op["id"])
        # closing one frees a slot (the server may notice at its next write)
        s1.close()
        deadline = time.monotonic() + 10
        while True:
            s4 = srv.events(blue.tok["viewer"])
            if s4.status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        with s4:
            assert s4.status == 200, (s4.status, s4.body)
    finally:
        s1.close()
        s2.close()
