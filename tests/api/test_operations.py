"""test_operations.py -- /v1/operations (docs/api.md "Operations"):
create, read, list with filters and cursor pages, PUT with If-Match, the
state machine, completed/cancelled operations leaving conflicts, the
notice period and exigent operations, and the automatic completion sweep."""

import copy
import re
import time

import pytest

import dcf_helpers as H

OP_ID = re.compile(r"op-[A-Za-z0-9_-]{22}")  # docs/api.md: "op- + 22 base64url characters"


def _model(res):
    """The model members of a resource, as a PUT body."""
    return copy.deepcopy({k: res[k] for k in ("kind", "priority", "separation", "disclosure", "exigent",
                                               "volumes") if k in res})


def test_create_and_get(server):
    p = server.party(("planner", "viewer"))
    c = H.area()
    body = H.op_body(c, kind="drone", priority=12, separation={"horizontal_m": 100, "time_s": 60.5},
                     disclosure="overlap")
    r = server.post("/v1/operations", p.tok["planner"], body)
    res = H.expect_json(r, 201)
    assert res["id"].startswith("op-"), res
    assert r.headers.get("Location") == "/v1/operations/" + res["id"], r.headers
    assert r.headers.get("ETag") == '"1"', r.headers
    assert res["party"] == p.id and res["version"] == 1 and res["state"] == "planned", res
    assert res["kind"] == "drone" and res["priority"] == 12 and res["disclosure"] == "overlap"
    assert res["separation"] == {"horizontal_m": 100, "vertical_m": 0, "time_s": 60.5}, res
    assert res["exigent"] is False and "exigent_reason" not in res
    assert res["volumes"] == body["volumes"], res
    assert res["conflicts"] == []
    H.parse_time(res["created_at"]), H.parse_time(res["updated_at"])
    g = server.get("/v1/operations/" + res["id"], p.tok["viewer"])
    got = H.expect_json(g, 200)
    assert g.headers.get("ETag") == '"1"', g.headers
    assert got == H.resource_core(res)


def test_operation_id_shape(server):
    p = server.party(("planner",))
    ids = []
    for _ in range(3):
        ids.append(server.post_op(p.tok["planner"], H.op_body(H.area()))["id"])
        time.sleep(0.003)  # ids of one millisecond are in random order
    for i in ids:
        assert OP_ID.fullmatch(i), "operation id %r is not op- + 22 base64url characters" % i
    assert len(set(ids)) == 3
    # Newer ids sort after older ones (their first 8 characters are the time).
    assert sorted(ids) == ids, ids


def test_create_defaults_and_party_member(server):
    p = server.party(("planner",))
    c = H.area()
    res = server.post_op(p.tok["planner"], H.op_body(c, party=p.id))
    assert res["party"] == p.id
    assert res["disclosure"] == "contact" and res["exigent"] is False
    assert res["separation"] == {"horizontal_m": 0, "vertical_m": 0, "time_s": 0}, res
    # an integer field accepts 50.0
    res = server.post_op(p.tok["planner"], H.op_body(c, dlat=0.5, priority=50.0))
    assert res["priority"] == 50 and isinstance(res["priority"], int), res


def test_times_are_written_in_utc(server):
    p = server.party(("planner",))
    c = H.area()
    body = H.op_body(c)
    start = H.parse_time(body["volumes"][0]["time"]["start"])
    body["volumes"][0]["time"]["start"] = start.astimezone(
        H._dt.timezone(H._dt.timedelta(hours=3))).isoformat()
    res = server.post_op(p.tok["planner"], body)
    assert res["volumes"][0]["time"]["start"] == H.rfc3339(start), res


def test_list_filters_and_pages(server):
    p = server.party(("planner", "viewer"))
    c = H.area()
    tok = p.tok["planner"]
    o1 = server.post_op(tok, H.op_body(c, start=0, end=1))
    o2 = server.post_op(tok, H.op_body(c, dlat=0.3, start=5, end=6))
    o3 = server.post_op(tok, H.op_body(c, dlat=-0.3, start=10, end=11))
    o4 = server.post_op(tok, H.op_body(c, dlng=0.4, start=20, end=21))
    o5 = server.post_op(tok, H.op_body(c, dlng=-0.4, start=30, end=31))
    allids = [o["id"] for o in (o1, o2, o3, o4, o5)]
    H.expect_json(server.post("/v1/operations/%s/activate" % o2["id"], tok), 200)
    H.expect_json(server.post("/v1/operations/%s/cancel" % o3["id"], tok), 200)

    def ids(**q):
        return [o["id"] for o in server.list_ops(p.tok["viewer"], **q)]

    assert ids() == allids  # creation order
    # pages of two, walked by cursor
    seen, cursor, pages = [], None, 0
    while True:
        q = {"limit": 2}
        if cursor:
            q["cursor"] = cursor
        page = H.expect_json(server.get("/v1/operations", p.tok["viewer"], params=q), 200)
        pages += 1
        assert len(page["items"]) <= 2, page
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str) and cursor, page
    assert seen == allids and pages == 3, (seen, pages)
    page = H.expect_json(server.get("/v1/operations", p.tok["viewer"], params={"limit": 5}), 200)
    assert [o["id"] for o in page["items"]] == allids
    # state
    assert ids(state="planned") == [o1["id"], o4["id"], o5["id"]]
    assert ids(state="active") == [o2["id"]]
    assert ids(state="cancelled,active") == [o2["id"], o3["id"]]
    assert ids(state="completed") == []
    # from/to: half-open [from, to) against each operation's [start, end)
    assert ids(**{"from": H.at(4), "to": H.at(12)}) == [o2["id"], o3["id"]]
    assert ids(**{"from": H.at(1), "to": H.at(5)}) == []
    assert ids(**{"from": H.at(0.5), "to": H.at(5.5)}) == [o1["id"], o2["id"]]
    assert ids(**{"from": H.at(25)}) == [o5["id"]]
    assert ids(to=H.at(1)) == [o1["id"]]
    # bbox: west,south,east,north in degrees
    lat, lng = c
    assert ids(bbox="%f,%f,%f,%f" % (lng - 0.1, lat - 0.1, lng + 0.1, lat + 0.1)) == [o1["id"]]
    assert ids(bbox="%f,%f,%f,%f" % (lng - 0.1, lat + 0.2, lng + 0.1, lat + 0.4)) == [o2["id"]]
    assert ids(bbox="%f,%f,%f,%f" % (lng - 1, lat - 1, lng + 1, lat + 1)) == allids
    assert ids(bbox="%f,%f,%f,%f" % (lng + 0.6, lat + 0.6, lng + 0.9, lat + 0.9)) == []
    # combined
    assert ids(state="planned", bbox="%f,%f,%f,%f" % (lng + 0.3, lat - 0.1, lng + 0.5, lat + 0.1)) == [o4["id"]]


def test_put_with_if_match(server):
    p = server.party(("planner", "viewer"))
    c = H.area()
    res = server.post_op(p.tok["planner"], H.op_body(c))
    body = _model(res)
    body["priority"] = 77
    body["volumes"][0]["altitude"]["upper_m"] = 4000
    r = server.put("/v1/operations/" + res["id"], p.tok["planner"], body, headers={"If-Match": '"1"'})
    up = H.expect_json(r, 200)
    assert r.headers.get("ETag") == '"2"', r.headers
    assert up["version"] == 2 and up["priority"] == 77, up
    assert up["volumes"][0]["altitude"]["upper_m"] == 4000
    assert up["id"] == res["id"] and up["created_at"] == res["created_at"]
    assert up["conflicts"] == []
    assert server.get_op(p.tok["viewer"], res["id"]) == H.resource_core(up)
    # stale
    body["priority"] = 78
    r = server.put("/v1/operations/" + res["id"], p.tok["planner"], body, headers={"If-Match": '"1"'})
    H.expect_problem(r, 412, "stale")
    # missing
    r = server.put("/v1/operations/" + res["id"], p.tok["planner"], body)
    H.expect_problem(r, 428, "precondition-required")
    assert server.get_op(p.tok["viewer"], res["id"]) == H.resource_core(up)
    # id or another party in the body
    bad = dict(body, id="op-x")
    r = server.put("/v1/operations/" + res["id"], p.tok["planner"], bad, headers={"If-Match": '"2"'})
    H.expect_problem(r, 422, "validation", "/id")
    bad = dict(body, party=H.uid())
    r = server.put("/v1/operations/" + res["id"], p.tok["planner"], bad, headers={"If-Match": '"2"'})
    H.expect_problem(r, 422, "validation", "/party")
    # a bad body with a good If-Match changes nothing
    bad = dict(body, priority=5000)
    r = server.put("/v1/operations/" + res["id"], p.tok["planner"], bad, headers={"If-Match": '"2"'})
    H.expect_problem(r, 422, "validation", "/priority")
    assert server.get_op(p.tok["viewer"], res["id"]) == H.resource_core(up)
    # same party named explicitly is fine
    ok = dict(body, party=p.id)
    r = server.put("/v1/operations/" + res["id"], p.tok["planner"], ok, headers={"If-Match": '"2"'})
    assert H.expect_json(r, 200)["version"] == 3


def test_put_unknown_operation(server):
    p = server.party(("planner",))
    r = server.put("/v1/operations/" + H.random_op_id(), p.tok["planner"], H.op_body(H.area()),
                   headers={"If-Match": '"1"'})
    H.expect_problem(r, 404, "not-found")


# (from state, verb) -> allowed?
TRANSITIONS = {
    ("planned", "activate"): "active",
    ("planned", "complete"): None,
    ("planned", "cancel"): "cancelled",
    ("active", "activate"): None,
    ("active", "complete"): "completed",
    ("active", "cancel"): "cancelled",
    ("completed", "activate"): None,
    ("completed", "complete"): None,
    ("completed", "cancel"): None,
    ("cancelled", "activate"): None,
    ("cancelled", "complete"): None,
    ("cancelled", "cancel"): None,
}
REACH = {"planned": [], "active": ["activate"], "completed": ["activate", "complete"],
         "cancelled": ["cancel"]}


@pytest.fixture(scope="module")
def lifecycle_party(server):
    return server.party(("planner", "viewer", "party-admin"))


@pytest.mark.parametrize("state,verb", sorted(TRANSITIONS))
def test_transition(server, lifecycle_party, state, verb):
    p = lifecycle_party
    tok = p.tok["planner"]
    res = server.post_op(tok, H.op_body(H.area()))
    for v in REACH[state]:
        res = H.expect_json(server.post("/v1/operations/%s/%s" % (res["id"], v), tok), 200)
    assert res["state"] == state
    r = server.post("/v1/operations/%s/%s" % (res["id"], verb), tok)
    want = TRANSITIONS[(state, verb)]
    if want is None:
        H.expect_problem(r, 409, "invalid-transition")
        assert server.get_op(p.tok["viewer"], res["id"]) == H.resource_core(res)
    else:
        after = H.expect_json(r, 200)
        assert after["state"] == want and after["id"] == res["id"], after
        assert after["version"] > res["version"], after
        assert r.headers.get("ETag") == '"%d"' % after["version"], r.headers
        assert server.get_op(p.tok["viewer"], res["id"]) == H.resource_core(after)


@pytest.mark.parametrize("state", ["completed", "cancelled"])
def test_put_on_finished_operation(server, lifecycle_party, state):
    tok = lifecycle_party.tok["planner"]
    res = server.post_op(tok, H.op_body(H.area()))
    for v in REACH[state]:
        res = H.expect_json(server.post("/v1/operations/%s/%s" % (res["id"], v), tok), 200)
    body = _model(res)
    body["priority"] = 1
    r = server.put("/v1/operations/" + res["id"], tok, body, headers={"If-Match": '"%d"' % res["version"]})
    H.expect_problem(r, 409, "invalid-transition")
    assert server.get_op(tok, res["id"]) == H.resource_core(res)


def test_put_on_active_operation(server, lifecycle_party):
    tok = lifecycle_party.tok["planner"]
    res = server.post_op(tok, H.op_body(H.area()))
    res = H.expect_json(server.post("/v1/operations/%s/activate" % res["id"], tok), 200)
    body = _model(res)
    body["priority"] = 2
    r = server.put("/v1/operations/" + res["id"], tok, body, headers={"If-Match": '"%d"' % res["version"]})
    up = H.expect_json(r, 200)
    assert up["state"] == "active" and up["priority"] == 2 and up["version"] == res["version"] + 1


def test_transition_if_match(server, lifecycle_party):
    tok = lifecycle_party.tok["planner"]
    res = server.post_op(tok, H.op_body(H.area()))
    r = server.post("/v1/operations/%s/activate" % res["id"], tok, headers={"If-Match": '"7"'})
    H.expect_problem(r, 412, "stale")
    assert server.get_op(tok, res["id"])["state"] == "planned"
    r = server.post("/v1/operations/%s/activate" % res["id"], tok, headers={"If-Match": '"1"'})
    assert H.expect_json(r, 200)["state"] == "active"


@pytest.mark.parametrize("verb", ["complete", "cancel"])
def test_finished_operations_stop_conflicting(server, verb):
    blue = server.party(("planner", "viewer"))
    red = server.party(("planner", "viewer"))
    c = H.area()
    blue_op, red_op, view = server.make_conflict(blue.tok["planner"], red.tok["planner"], center=c)
    assert view["state"] == "open"
    if verb == "complete":
        H.expect_json(server.post("/v1/operations/%s/activate" % red_op["id"], red.tok["planner"]), 200)
    H.expect_json(server.post("/v1/operations/%s/%s" % (red_op["id"], verb), red.tok["planner"]), 200)
    for tok in (blue.tok["viewer"], red.tok["viewer"]):
        v = server.conflict(tok, view["id"])
        assert v["state"] == "resolved" and v["resolved_at"] is not None, v
        H.parse_time(v["resolved_at"])
        assert server.list_conflicts(tok, state="open") == []
    # a new overlapping operation does not meet the finished one
    again = server.post_op(blue.tok["planner"], H.op_body(c, dlat=0.005))
    assert again["conflicts"] == [], again
    r = server.post("/v1/operations/check", blue.tok["planner"], H.op_body(c))
    assert H.expect_json(r, 200)["conflicts"] == []


def test_start_inside_notice_is_422_unless_exigent(make_server):
    srv = make_server(notice="30m")
    blue = srv.party(("planner", "viewer"))
    red = srv.party(("planner", "viewer"))
    c = H.area()
    tok = blue.tok["planner"]
    before = srv.list_ops(blue.tok["viewer"])
    soon = H.op_body(c, start=H.from_now(10), end=H.from_now(70))
    H.expect_problem(srv.post("/v1/operations", tok, soon), 422, "notice", "/volumes/0/time/start")
    # the earliest volume is blamed, wherever it is
    two = H.op_body(c)
    two["volumes"].append(H.volume(H.circle(c[0], c[1] + 0.3), start=H.from_now(5), end=H.from_now(20)))
    H.expect_problem(srv.post("/v1/operations", tok, two), 422, "notice", "/volumes/1/time/start")
    # exigent without a reason is a validation error, not a notice one
    H.expect_problem(srv.post("/v1/operations", tok, dict(soon, exigent=True)), 422, "validation",
                     "/exigent_reason")
    # an operation that has already ended
    past = H.op_body(c, start=H.from_now(-120), end=H.from_now(-60))
    body = H.expect_problem(srv.post("/v1/operations", tok, past), 422, "validation")
    assert any(e["pointer"].startswith("/volumes/0/time/") for e in body["errors"]), body
    past_ex = dict(past, exigent=True, exigent_reason="too late anyway")
    H.expect_problem(srv.post("/v1/operations", tok, past_ex), 422, "validation")
    assert srv.list_ops(blue.tok["viewer"]) == before
    # outside the notice period: fine
    red_op = srv.post_op(red.tok["planner"], H.op_body(c, start=H.from_now(40), end=H.from_now(160)))
    # exigent with a reason: fine, and the other side is told
    reason = "casualty evacuation from the northern crossing"
    ex = srv.post_op(tok, H.op_body(c, dlat=0.01, start=H.from_now(10), end=H.from_now(70),
                                    exigent=True, exigent_reason=reason))
    assert ex["exigent"] is True and ex["exigent_reason"] == reason, ex
    assert len(ex["conflicts"]) == 1
    mine = ex["conflicts"][0]
    assert mine["other"]["exigent"] is False and "exigent_reason" not in mine["other"], mine
    theirs = srv.conflict(red.tok["viewer"], mine["id"])
    assert theirs["own"]["operation"]["id"] == red_op["id"]
    assert theirs["other"]["exigent"] is True, theirs
    assert theirs["other"]["exigent_reason"] == reason, theirs
    # PUT moving a volume into the notice period is refused the same way
    body = _model(red_op)
    body["volumes"][0]["time"]["start"] = H.from_now(5)
    r = srv.put("/v1/operations/" + red_op["id"], red.tok["planner"], body, headers={"If-Match": '"1"'})
    H.expect_problem(r, 422, "notice", "/volumes/0/time/start")


def test_sweep_completes_ended_operations(make_server):
    srv = make_server(sweep="1s")
    blue = srv.party(("planner", "viewer"))
    red = srv.party(("planner",))
    c = H.area()
    start = H.now_utc() + H._dt.timedelta(seconds=2)
    end = start + H._dt.timedelta(seconds=2)
    body = H.op_body(c, start=H.rfc3339(start.replace(microsecond=0) + H._dt.timedelta(seconds=1)),
                     end=H.rfc3339(end.replace(microsecond=0) + H._dt.timedelta(seconds=1)))
    blue_op = srv.post_op(blue.tok["planner"], body)
    red_op = srv.post_op(red.tok["planner"], dict(body, priority=10))
    assert len(red_op["conflicts"]) == 1
    cf = red_op["conflicts"][0]["id"]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if srv.get_op(blue.tok["viewer"], blue_op["id"])["state"] == "completed":
            break
        time.sleep(0.25)
    assert srv.get_op(blue.tok["viewer"], blue_op["id"])["state"] == "completed"
    v = srv.conflict(blue.tok["viewer"], cf)
    assert v["state"] == "resolved", v
