"""test_isolation.py -- what one party may learn of another (docs/api.md
"Isolation" and the conflict view's `disclosure` levels).

  * another party's operation id, or a conflict without the caller's party,
    answers exactly like an id that does not exist (same status, type,
    title and member names), on every route that takes the id;
  * listings hold only the caller's party's objects;
  * contact disclosure: no other.operation/kind/priority, region widened to
    the grid so that it contains the exact region, region_grid_m = --grid;
    overlap: the exact region, kind and priority; full: other.operation.
"""

import pytest

import dcf_helpers as H


def _shape(r):
    body = r.json()
    return (r.status_code, r.headers.get("Content-Type"), body.get("type"), body.get("status"),
            body.get("title"), sorted(body))


@pytest.fixture(scope="module")
def pair(server):
    blue = server.party(("party-admin", "planner", "duty", "viewer"))
    red = server.party(("party-admin", "planner", "duty", "viewer"))
    green = server.party(("planner",))
    red_op, blue_op, cf = server.make_conflict(red.tok["planner"], blue.tok["planner"])
    _, _, cf_rg = server.make_conflict(red.tok["planner"], green.tok["planner"])
    return server, blue, red, green, blue_op, red_op, cf, cf_rg


ID_ROUTES = [
    ("GET", "/v1/operations/{id}"),
    ("PUT", "/v1/operations/{id}"),
    ("POST", "/v1/operations/{id}/activate"),
    ("POST", "/v1/operations/{id}/complete"),
    ("POST", "/v1/operations/{id}/cancel"),
]


@pytest.mark.parametrize("method,route", ID_ROUTES)
def test_other_partys_operation_looks_missing(pair, method, route):
    server, blue, red, _, blue_op, red_op, _, _ = pair
    body = {k: blue_op[k] for k in ("kind", "priority", "volumes")} if method == "PUT" else server._NO
    hdr = {"If-Match": '"%d"' % red_op["version"]} if method == "PUT" else None
    theirs = server.req(method, route.format(id=red_op["id"]), blue.tok["planner"], body, headers=hdr)
    missing = server.req(method, route.format(id=H.random_op_id()), blue.tok["planner"], body, headers=hdr)
    H.expect_problem(theirs, 404, "not-found")
    H.expect_problem(missing, 404, "not-found")
    assert _shape(theirs) == _shape(missing), (theirs.text, missing.text)
    # and nothing moved
    assert server.get_op(red.tok["viewer"], red_op["id"]) == H.resource_core(red_op)


@pytest.mark.parametrize("method,route", [
    ("GET", "/v1/conflicts/{id}"),
    ("POST", "/v1/conflicts/{id}/acknowledge"),
    ("POST", "/v1/conflicts/{id}/accept"),
])
def test_conflict_of_other_parties_looks_missing(pair, method, route):
    server, blue, red, _, _, _, _, cf_rg = pair
    theirs = server.req(method, route.format(id=cf_rg["id"]), blue.tok["duty"])
    missing = server.req(method, route.format(id=H.random_cf_id()), blue.tok["duty"])
    H.expect_problem(theirs, 404, "not-found")
    H.expect_problem(missing, 404, "not-found")
    assert _shape(theirs) == _shape(missing), (theirs.text, missing.text)
    view = server.conflict(red.tok["viewer"], cf_rg["id"])
    assert view["own"]["acknowledged"] is None and view["own"]["accepted"] is None, view


def test_listings_hold_only_own(pair):
    server, blue, red, green, blue_op, red_op, cf, cf_rg = pair
    ops = server.list_ops(blue.tok["viewer"])
    assert [o["id"] for o in ops] == [blue_op["id"]], ops
    red_ops = server.list_ops(red.tok["viewer"])
    assert {o["party"] for o in red_ops} == {red.id} and len(red_ops) == 2, red_ops
    cfs = server.list_conflicts(blue.tok["viewer"])
    assert [c["id"] for c in cfs] == [cf["id"]], cfs
    assert len(server.list_conflicts(red.tok["viewer"])) == 2
    assert [c["id"] for c in server.list_conflicts(green.tok["planner"])] == [cf_rg["id"]]


def test_event_streams_hold_only_own(server):
    blue = server.party(("planner", "viewer"))
    red = server.party(("planner", "viewer"))
    with server.events(blue.tok["viewer"]) as bs:
        assert bs.status == 200
        red_op = server.post_op(red.tok["planner"], H.op_body(H.area()))
        blue_op = server.post_op(blue.tok["planner"], H.op_body(H.area()))
        ev = bs.wait_event(lambda e: e.type == "operation.created")
        assert ev.data["operation"] == blue_op["id"], bs.items
        assert red_op["id"] not in repr(bs.items)


def _contains(outer, inner):
    return (outer["west"] <= inner["west"] and outer["south"] <= inner["south"]
            and outer["east"] >= inner["east"] and outer["north"] >= inner["north"])


@pytest.mark.parametrize("level", ["contact", "overlap", "full", None])
def test_disclosure_levels(server, level):
    """Red's operation carries a disclosure level (None: left out); blue
    sees exactly that much.  Blue's own operation uses `overlap`, so red's
    view holds the exact region to compare blue's coarse one with."""
    blue = server.party(("planner", "viewer"))
    red = server.party(("planner", "viewer"), desks={"duty": {"contact": {"name": "Red duty", "phone": "+7 1"}}})
    c = H.area()
    blue_op = server.post_op(blue.tok["planner"], H.op_body(c, disclosure="overlap", priority=30))
    extra = {} if level is None else {"disclosure": level}
    red_op = server.post_op(red.tok["planner"], H.op_body(c, dlat=0.02, dlng=0.013, kind="helicopter",
                                                          priority=70, **extra))
    assert len(red_op["conflicts"]) == 1, red_op
    red_view = red_op["conflicts"][0]
    blue_view = [v for v in server.list_conflicts(blue.tok["viewer"]) if v["id"] == red_view["id"]]
    assert len(blue_view) == 1
    bv = blue_view[0]
    assert server.conflict(blue.tok["viewer"], bv["id"]) == bv
    other = bv["other"]
    assert other["party"] == {"id": red.id, "name": red.name}, bv
    assert other["contact"] == {"name": "Red duty", "phone": "+7 1"}, bv
    assert other["disclosure"] == (level or "contact"), bv
    assert other["exigent"] is False and "exigent_reason" not in other, bv
    assert bv["own"]["operation"]["id"] == blue_op["id"], bv
    # red's side: blue disclosed `overlap`
    ro = red_view["other"]
    assert ro["disclosure"] == "overlap" and ro["kind"] == "fixed-wing" and ro["priority"] == 30, red_view
    assert "operation" not in ro, red_view
    assert red_view["overlap"]["region_grid_m"] == 0, red_view
    exact = red_view["overlap"]["region"]
    # both sides describe the same overlap in time and altitude
    assert bv["overlap"]["time"] == red_view["overlap"]["time"], (bv, red_view)
    assert bv["overlap"]["altitude"] == red_view["overlap"]["altitude"], (bv, red_view)
    assert bv["separation"] == red_view["separation"]
    region = bv["overlap"]["region"]
    if level in ("contact", None):
        assert "operation" not in other and "kind" not in other and "priority" not in other, bv
        assert bv["overlap"]["region_grid_m"] == 1000, bv
        assert _contains(region, exact), (region, exact)
        assert region != exact, "contact disclosure gave the exact region %r" % region
    else:
        assert other["kind"] == "helicopter" and other["priority"] == 70, bv
        assert bv["overlap"]["region_grid_m"] == 0, bv
        assert region == exact, (region, exact)
        if level == "full":
            # "the operation in the model form, with id and party"
            res = server.get_op(red.tok["viewer"], red_op["id"])
            model = {k: res[k] for k in ("id", "party", "kind", "priority", "separation", "disclosure",
                                         "exigent", "exigent_reason", "volumes") if k in res}
            assert other["operation"] == model, bv
        else:
            assert "operation" not in other, bv


def test_grid_option_sets_coarsening(make_server):
    srv = make_server(grid="5000")
    blue, red = srv.party(("planner",)), srv.party(("planner",))
    c = H.area()
    srv.post_op(blue.tok["planner"], H.op_body(c, disclosure="overlap"))
    red_op = srv.post_op(red.tok["planner"], H.op_body(c, dlat=0.01))
    exact = red_op["conflicts"][0]["overlap"]
    assert exact["region_grid_m"] == 0
    blue_view = srv.list_conflicts(blue.tok["planner"])[0]
    assert blue_view["overlap"]["region_grid_m"] == 5000, blue_view
    assert _contains(blue_view["overlap"]["region"], exact["region"])
