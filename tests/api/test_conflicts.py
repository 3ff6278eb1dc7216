"""test_conflicts.py -- conflicts end to end between two parties (docs/api.md
"Conflicts"): opened for both sides with events, acknowledged and accepted
by each side, resolved by a change that removes the overlap, open again
(same id, acknowledgements cleared) when it comes back; the strict policy;
the check endpoint and its per-party rate."""

import copy

import dcf_helpers as H


def _model(res):
    return copy.deepcopy({k: res[k] for k in ("kind", "priority", "separation", "disclosure", "exigent",
                                               "volumes") if k in res})


def _ev(stream, etype, cf_id, timeout=10):
    return stream.wait_event(lambda e: e.type == etype and isinstance(e.data, dict)
                             and e.data.get("conflict") == cf_id, timeout)


def test_conflict_lifecycle(server):
    blue = server.party(name="Blue Force")
    red = server.party(name="Red Force",
                       desks={"duty": {"contact": {"name": "Red duty", "phone": "+7 495 000 0000"}}})
    H.expect_json(server.put("/v1/parties/%s/desks/duty" % blue.id, blue.tok["party-admin"],
                             {"contact": {"name": "Blue duty", "radio": "guard"}}), 200)
    blue_duty = H.expect_json(server.get("/v1/whoami", blue.tok["duty"]), 200)["token"]
    red_duty = H.expect_json(server.get("/v1/whoami", red.tok["duty"]), 200)["token"]
    c = H.area()
    bs = server.events(blue.tok["duty"])
    rs = server.events(red.tok["viewer"])
    try:
        assert bs.status == 200 and rs.status == 200
        blue_op = server.post_op(blue.tok["planner"], H.op_body(c))
        assert blue_op["conflicts"] == []
        red_body = H.op_body(c, dlat=0.02, priority=60)
        red_op = server.post_op(red.tok["planner"], red_body)
        assert len(red_op["conflicts"]) == 1, red_op
        rv = red_op["conflicts"][0]
        cf = rv["id"]
        assert cf.startswith("cf-") and rv["state"] == "open", rv
        assert rv["own"]["operation"]["id"] == red_op["id"]
        assert rv["own"]["acknowledged"] is None and rv["own"]["accepted"] is None
        assert rv["other"]["party"] == {"id": blue.id, "name": "Blue Force"}, rv
        assert rv["other"]["contact"] == {"name": "Blue duty", "radio": "guard"}, rv
        assert rv["other"]["acknowledged"] is False and rv["other"]["accepted"] is False
        assert rv["resolved_at"] is None
        H.parse_time(rv["opened_at"]), H.parse_time(rv["updated_at"])
        ov = rv["overlap"]
        assert ov["time"] == {"start": H.at(0), "end": H.at(1)}, ov
        assert ov["altitude"]["lower_m"] == 1000 and ov["altitude"]["upper_m"] == 3000, ov
        for k in ("horizontal_m", "vertical_m", "time_s"):
            assert isinstance(rv["separation"][k], (int, float)), rv
        # both sides list it
        bl = server.list_conflicts(blue.tok["viewer"])
        assert [v["id"] for v in bl] == [cf], bl
        bv = bl[0]
        assert bv["state"] == "open" and bv["own"]["operation"]["id"] == blue_op["id"], bv
        assert bv["other"]["party"] == {"id": red.id, "name": "Red Force"}, bv
        assert bv["other"]["contact"] == {"name": "Red duty", "phone": "+7 495 000 0000"}, bv
        assert [v["id"] for v in server.list_conflicts(red.tok["viewer"], state="open")] == [cf]
        assert server.list_conflicts(red.tok["viewer"], state="resolved,accepted") == []
        # events on both streams
        e = _ev(bs, "conflict.opened", cf)
        assert e.data["state"] == "open" and e.data["operation"] == blue_op["id"], e
        assert e.data["other_party"] == {"id": red.id, "name": "Red Force"}, e
        e = _ev(rs, "conflict.opened", cf)
        assert e.data["operation"] == red_op["id"] and e.data["other_party"]["id"] == blue.id, e

        # blue acknowledges: still open
        v = H.expect_json(server.post("/v1/conflicts/%s/acknowledge" % cf, blue.tok["duty"]), 200)
        assert v["state"] == "open", v
        assert v["own"]["acknowledged"]["by"] == blue_duty, v
        H.parse_time(v["own"]["acknowledged"]["at"])
        assert v["other"]["acknowledged"] is False
        again = H.expect_json(server.post("/v1/conflicts/%s/acknowledge" % cf, blue.tok["duty"]), 200)
        assert again["own"]["acknowledged"] == v["own"]["acknowledged"], (v, again)  # idempotent
        r_view = server.conflict(red.tok["viewer"], cf)
        assert r_view["state"] == "open" and r_view["other"]["acknowledged"] is True, r_view
        assert r_view["own"]["acknowledged"] is None
        e = _ev(bs, "conflict.acknowledged", cf)
        assert e.data["by_party"] == "own", e
        e = _ev(rs, "conflict.acknowledged", cf)
        assert e.data["by_party"] == "other", e

        # red acknowledges: acknowledged
        v = H.expect_json(server.post("/v1/conflicts/%s/acknowledge" % cf, red.tok["duty"]), 200)
        assert v["state"] == "acknowledged" and v["own"]["acknowledged"]["by"] == red_duty, v
        assert v["other"]["acknowledged"] is True
        assert server.conflict(blue.tok["viewer"], cf)["state"] == "acknowledged"

        # both accept: accepted
        v = H.expect_json(server.post("/v1/conflicts/%s/accept" % cf, blue.tok["party-admin"]), 200)
        assert v["state"] == "acknowledged" and v["own"]["accepted"] is not None, v
        assert v["own"]["accepted"]["by"] == blue.tid["party-admin"], v
        assert server.conflict(red.tok["viewer"], cf)["other"]["accepted"] is True
        v = H.expect_json(server.post("/v1/conflicts/%s/accept" % cf, red.tok["duty"]), 200)
        assert v["state"] == "accepted" and v["other"]["accepted"] is True, v
        assert server.conflict(blue.tok["viewer"], cf)["state"] == "accepted"
        e = _ev(bs, "conflict.accepted", cf)
        assert e.data["by_party"] in ("own", "other")

        # red moves away: resolved
        body = _model(red_op)
        body["volumes"][0]["footprint"]["center"]["lat"] = c[0] + 0.5
        r = server.put("/v1/operations/" + red_op["id"], red.tok["planner"], body,
                       headers={"If-Match": '"%d"' % red_op["version"]})
        moved = H.expect_json(r, 200)
        assert moved["conflicts"] == [], moved
        for tok in (blue.tok["viewer"], red.tok["viewer"]):
            v = server.conflict(tok, cf)
            assert v["state"] == "resolved" and v["resolved_at"] is not None, v
        _ev(bs, "conflict.resolved", cf)
        _ev(rs, "conflict.resolved", cf)
        H.expect_problem(server.post("/v1/conflicts/%s/acknowledge" % cf, blue.tok["duty"]), 409,
                         "invalid-transition")
        H.expect_problem(server.post("/v1/conflicts/%s/accept" % cf, red.tok["duty"]), 409,
                         "invalid-transition")

        # and back: open again, same conflict, acknowledgements cleared
        body["volumes"][0]["footprint"]["center"]["lat"] = c[0] + 0.02
        r = server.put("/v1/operations/" + red_op["id"], red.tok["planner"], body,
                       headers={"If-Match": '"%d"' % moved["version"]})
        back = H.expect_json(r, 200)
        assert [v["id"] for v in back["conflicts"]] == [cf], back
        for tok in (blue.tok["viewer"], red.tok["viewer"]):
            v = server.conflict(tok, cf)
            assert v["state"] == "open" and v["resolved_at"] is None, v
            assert v["own"]["acknowledged"] is None and v["own"]["accepted"] is None, v
            assert v["other"]["acknowledged"] is False and v["other"]["accepted"] is False, v
        _ev(bs, "conflict.opened", cf)
        _ev(rs, "conflict.opened", cf)
        assert [v["id"] for v in server.list_conflicts(blue.tok["viewer"])] == [cf]
    finally:
        bs.close()
        rs.close()


def test_changed_overlap_reopens(server):
    blue, red = server.party(("planner", "duty")), server.party(("planner", "duty"))
    c = H.area()
    blue_op, red_op, view = server.make_conflict(blue.tok["planner"], red.tok["planner"], center=c)
    cf = view["id"]
    for p in (blue, red):
        H.expect_json(server.post("/v1/conflicts/%s/acknowledge" % cf, p.tok["duty"]), 200)
    assert server.conflict(blue.tok["duty"], cf)["state"] == "acknowledged"
    body = _model(red_op)
    body["volumes"][0]["altitude"]["upper_m"] = 2000  # still overlapping, but less
    r = server.put("/v1/operations/" + red_op["id"], red.tok["planner"], body, headers={"If-Match": '"1"'})
    up = H.expect_json(r, 200)
    assert [v["id"] for v in up["conflicts"]] == [cf], up
    v = server.conflict(blue.tok["duty"], cf)
    assert v["state"] == "open" and v["own"]["acknowledged"] is None, v
    assert v["overlap"]["altitude"]["upper_m"] == 2000, v


def test_same_party_never_conflicts(server):
    p = server.party(("planner",))
    c = H.area()
    server.post_op(p.tok["planner"], H.op_body(c))
    again = server.post_op(p.tok["planner"], H.op_body(c))
    assert again["conflicts"] == []


def test_unknown_conflict(server):
    p = server.party(("duty",))
    H.expect_problem(server.get("/v1/conflicts/" + H.random_cf_id(), p.tok["duty"]), 404, "not-found")
    H.expect_problem(server.post("/v1/conflicts/%s/acknowledge" % H.random_cf_id(), p.tok["duty"]), 404,
                     "not-found")


def test_conflict_pages(server):
    blue = server.party(("planner", "viewer"))
    red = server.party(("planner",))
    c = H.area()
    server.post_op(blue.tok["planner"], H.op_body(c, radius_m=20000))
    ids = []
    for i in range(5):
        op = server.post_op(red.tok["planner"], H.op_body(c, dlat=0.01 * i, dlng=0.01))
        ids.append(op["conflicts"][0]["id"])
    seen, cursor = [], None
    while True:
        q = {"limit": 2}
        if cursor:
            q["cursor"] = cursor
        page = H.expect_json(server.get("/v1/conflicts", blue.tok["viewer"], params=q), 200)
        assert len(page["items"]) <= 2
        seen += [v["id"] for v in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 5, (seen, ids)


# ------------------------------------------------------------ strict --


def test_strict_policy(make_server):
    srv = make_server(policy="strict")
    blue = srv.party(("planner", "viewer"))
    red = srv.party(("planner", "viewer"))
    c = H.area()
    blue_op = srv.post_op(blue.tok["planner"], H.op_body(c, priority=50))
    for prio in (50, 40):
        before = srv.list_ops(red.tok["viewer"])
        r = srv.post("/v1/operations", red.tok["planner"], H.op_body(c, dlat=0.01, priority=prio))
        body = H.expect_problem(r, 409, "conflict")
        views = body.get("conflicts")
        assert isinstance(views, list) and len(views) == 1, body
        assert views[0]["other"]["party"]["id"] == blue.id, body
        assert srv.list_ops(red.tok["viewer"]) == before
        assert srv.list_conflicts(blue.tok["viewer"]) == []
    # higher than every operation it meets: stored, conflict opened
    res = srv.post_op(red.tok["planner"], H.op_body(c, dlat=0.01, priority=60))
    assert len(res["conflicts"]) == 1
    assert [v["id"] for v in srv.list_conflicts(blue.tok["viewer"])] == [res["conflicts"][0]["id"]]
    # a PUT that would newly meet an equal-priority operation is refused too
    far = srv.post_op(red.tok["planner"], H.op_body(c, dlat=0.5, priority=50))
    body = _model(far)
    body["volumes"][0]["footprint"]["center"]["lat"] = c[0]
    r = srv.put("/v1/operations/" + far["id"], red.tok["planner"], body, headers={"If-Match": '"1"'})
    H.expect_problem(r, 409, "conflict")
    assert srv.get_op(red.tok["viewer"], far["id"]) == H.resource_core(far)
    assert srv.get_op(blue.tok["viewer"], blue_op["id"]) == H.resource_core(blue_op)


# ------------------------------------------------------------- check --


def test_check_stores_nothing(server):
    blue = server.party(("planner", "viewer"))
    red = server.party(("planner", "viewer"))
    c = H.area()
    blue_op = server.post_op(blue.tok["planner"], H.op_body(c))
    before = (server.list_ops(red.tok["viewer"]), server.list_conflicts(blue.tok["viewer"]),
              server.list_conflicts(red.tok["viewer"]))
    with server.events(blue.tok["viewer"]) as bs:
        r = server.post("/v1/operations/check", red.tok["planner"], H.op_body(c, dlat=0.01))
        body = H.expect_json(r, 200)
        assert list(body) == ["conflicts"] and len(body["conflicts"]) == 1, body
        v = body["conflicts"][0]
        assert v["other"]["party"]["id"] == blue.id, v
        assert v["overlap"]["time"] == {"start": H.at(0), "end": H.at(1)}, v
        far = H.expect_json(server.post("/v1/operations/check", red.tok["planner"], H.op_body(c, dlat=0.5)), 200)
        assert far == {"conflicts": []}
        # nothing was stored, nobody was told
        after = (server.list_ops(red.tok["viewer"]), server.list_conflicts(blue.tok["viewer"]),
                 server.list_conflicts(red.tok["viewer"]))
        assert after == before
        assert bs.quiet_events(1.5) == []
    assert server.get_op(blue.tok["viewer"], blue_op["id"]) == H.resource_core(blue_op)
    H.expect_problem(server.post("/v1/operations/check", red.tok["planner"], {"kind": "x"}), 422,
                     "validation", "/priority")


def test_check_rate_per_party(make_server):
    srv = make_server(check_rate="3")
    blue = srv.party(("planner", "party-admin", "viewer"))
    red = srv.party(("planner",))
    body = H.op_body(H.area())
    for i in range(3):
        tok = blue.tok["planner"] if i % 2 == 0 else blue.tok["party-admin"]
        H.expect_json(srv.post("/v1/operations/check", tok, body), 200)
    r = srv.post("/v1/operations/check", blue.tok["planner"], body)
    H.expect_problem(r, 429, "rate-limited")
    ra = r.headers.get("Retry-After", "")
    assert ra.isdigit() and 1 <= int(ra) <= 60, r.headers
    # per party: the same party's other token is limited too, another party is not
    H.expect_problem(srv.post("/v1/operations/check", blue.tok["party-admin"], body), 429, "rate-limited")
    H.expect_json(srv.post("/v1/operations/check", red.tok["planner"], body), 200)
    # and other routes are not checks
    srv.post_op(blue.tok["planner"], body)
    H.expect_json(srv.get("/v1/operations", blue.tok["viewer"]), 200)


def test_token_rate_limit(make_server):
    srv = make_server(rate="5")
    p = srv.party(("planner", "viewer"))
    codes, limited = [], None
    for _ in range(40):
        r = srv.get("/v1/whoami", p.tok["viewer"])
        codes.append(r.status_code)
        if r.status_code == 429 and limited is None:
            limited = r
    assert set(codes) <= {200, 429}, codes
    assert limited is not None, "40 requests at once with --rate 5 were never limited: %r" % codes
    assert codes.count(200) >= 5, codes  # a burst of 2 s worth is allowed
    H.expect_problem(limited, 429, "rate-limited")
    ra = limited.headers.get("Retry-After", "")
    assert ra.isdigit() and int(ra) >= 1, limited.headers
    # per token: another token of the same party is not limited
    H.expect_json(srv.get("/v1/whoami", p.tok["planner"]), 200)
