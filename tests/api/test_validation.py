"""test_validation.py -- the bad-input corpus (corpus.py) against every
route that takes an operation body: POST /v1/operations, PUT
/v1/operations/{id} and POST /v1/operations/check.  Each case asserts the
status, the problem type and the exact JSON Pointer, and that the store is
unchanged afterwards (the party's operation list, and the PUT target,
identical).  Also: a body over --max-body, a body that is not
application/json, and bad query arguments."""

import json

import pytest

import corpus
import dcf_helpers as H

ROUTES = ("create", "put", "check")


@pytest.fixture(scope="module")
def target(server):
    p = server.party(("planner", "viewer"))
    other = server.party(())
    op = server.post_op(p.tok["planner"], H.op_body(H.area()))
    return server, p, other, op


def _send(server, p, op, route, body):
    if isinstance(body, bytes):
        kw = {"data": body, "headers": {"Content-Type": "application/json"}}
        payload = server._NO
    else:
        kw = {}
        payload = body
    if route == "create":
        return server.req("POST", "/v1/operations", p.tok["planner"], payload, **kw)
    if route == "check":
        return server.req("POST", "/v1/operations/check", p.tok["planner"], payload, **kw)
    headers = dict(kw.pop("headers", {}))
    headers["If-Match"] = '"%d"' % op["version"]
    return server.req("PUT", "/v1/operations/" + op["id"], p.tok["planner"], payload, headers=headers, **kw)


def _substitute(body, other):
    if isinstance(body, dict) and body.get("party") == "@OTHER":
        body = dict(body, party=other.id)
    return body


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name,body,status,ptype,pointer", corpus.CASES, ids=[c[0] for c in corpus.CASES])
def test_bad_operation_body(target, route, name, body, status, ptype, pointer):
    server, p, other, op = target
    before = server.list_ops(p.tok["viewer"])
    r = _send(server, p, op, route, _substitute(body, other))
    H.expect_problem(r, status, ptype, pointer)
    assert server.list_ops(p.tok["viewer"]) == before
    assert server.get_op(p.tok["viewer"], op["id"]) == H.resource_core(op)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name,body,answers", corpus.EITHER, ids=[c[0] for c in corpus.EITHER])
def test_bad_operation_body_either(target, route, name, body, answers):
    server, p, other, op = target
    before = server.list_ops(p.tok["viewer"])
    r = _send(server, p, op, route, body)
    allowed = {(s, t) for s, t, _ in answers}
    assert (r.status_code, r.json().get("type", "").rsplit("/", 1)[-1]) in allowed, H.describe(r)
    for s, t, ptr in answers:
        if s == r.status_code:
            H.expect_problem(r, s, t, ptr)
    assert server.list_ops(p.tok["viewer"]) == before


def test_good_body_after_the_corpus(target):
    """The fixture's party still works normally (the corpus broke nothing)."""
    server, p, _, op = target
    res = server.post_op(p.tok["planner"], H.op_body(H.area()))
    assert res["version"] == 1


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", None,
                                   "application/jsonx"])
@pytest.mark.parametrize("route", ROUTES + ("party", "desk", "token"))
def test_wrong_content_type_is_415(target, route, ctype):
    server, p, _, op = target
    body = json.dumps(H.op_body(H.area())).encode()
    path, method, tok = {
        "create": ("/v1/operations", "POST", p.tok["planner"]),
        "check": ("/v1/operations/check", "POST", p.tok["planner"]),
        "put": ("/v1/operations/" + op["id"], "PUT", p.tok["planner"]),
        "party": ("/v1/parties", "POST", server.admin),
        "desk": ("/v1/parties/%s/desks/duty" % p.id, "PUT", server.admin),
        "token": ("/v1/parties/%s/tokens" % p.id, "POST", server.admin),
    }[route]
    if route == "party":
        body = json.dumps({"id": H.uid(), "name": "x"}).encode()
    elif route == "desk":
        body = json.dumps({"contact": {"name": "x"}}).encode()
    elif route == "token":
        body = json.dumps({"role": "viewer"}).encode()
    headers = {"If-Match": '"%d"' % op["version"]}
    if ctype:
        headers["Content-Type"] = ctype
    before = server.list_ops(p.tok["viewer"])
    r = server.req(method, path, tok, data=body, headers=headers)
    H.expect_problem(r, 415, "unsupported-media-type")
    assert server.list_ops(p.tok["viewer"]) == before


def test_json_with_charset_is_fine(target):
    server, p, _, _ = target
    r = server.req("POST", "/v1/operations/check", p.tok["planner"],
                   data=json.dumps(H.op_body(H.area())).encode(),
                   headers={"Content-Type": "application/json; charset=utf-8"})
    H.expect_json(r, 200)


def test_body_over_max_body_is_413(make_server):
    srv = make_server(max_body="2048")
    p = srv.party(("planner", "viewer"))
    small = H.op_body(H.area())
    assert len(json.dumps(small)) < 2048
    srv.post_op(p.tok["planner"], small)
    before = srv.list_ops(p.tok["viewer"])
    big = H.op_body(H.area())
    big["volumes"][0]["footprint"] = {"type": "polygon", "vertices": corpus.ring(100)}
    assert len(json.dumps(big)) > 2048
    for path in ("/v1/operations", "/v1/operations/check"):
        r = srv.post(path, p.tok["planner"], big)
        H.expect_problem(r, 413, "payload-too-large")
    r = srv.post("/v1/parties", srv.admin, {"id": H.uid(), "name": "n" * 4000})
    H.expect_problem(r, 413, "payload-too-large")
    assert srv.list_ops(p.tok["viewer"]) == before


BAD_QUERIES = [
    ("/v1/operations", "bogus=1", "?bogus"),
    ("/v1/operations", "limit=0", "?limit"),
    ("/v1/operations", "limit=1001", "?limit"),
    ("/v1/operations", "limit=abc", "?limit"),
    ("/v1/operations", "limit=2.5", "?limit"),
    ("/v1/operations", "state=flying", "?state"),
    ("/v1/operations", "from=yesterday", "?from"),
    ("/v1/operations", "to=2026-11-23T14:05:00", "?to"),
    ("/v1/operations", "bbox=1,2,3", "?bbox"),
    ("/v1/operations", "bbox=a,b,c,d", "?bbox"),
    ("/v1/operations", "bbox=0,95,1,96", "?bbox"),
    ("/v1/operations", "cursor=%00garbage", "?cursor"),
    ("/v1/conflicts", "state=closed", "?state"),
    ("/v1/conflicts", "limit=-1", "?limit"),
    ("/v1/conflicts", "bogus=x", "?bogus"),
    ("/v1/conflicts", "cursor=nonsense!", "?cursor"),
]


@pytest.mark.parametrize("path,query,pointer", BAD_QUERIES)
def test_bad_query_is_400(target, path, query, pointer):
    server, p, _, _ = target
    r = server.get(path + "?" + query, p.tok["viewer"])
    H.expect_problem(r, 400, "bad-query", pointer)


def test_limit_bounds_follow_page_max(make_server):
    srv = make_server(page_max="3")
    p = srv.party(("planner", "viewer"))
    for _ in range(4):
        srv.post_op(p.tok["planner"], H.op_body(H.area()))
    page = H.expect_json(srv.get("/v1/operations", p.tok["viewer"], params={"limit": 3}), 200)
    assert len(page["items"]) == 3 and page["next_cursor"], page
    H.expect_problem(srv.get("/v1/operations", p.tok["viewer"], params={"limit": 4}), 400, "bad-query", "?limit")


def test_max_volumes_and_vertices_options(make_server):
    srv = make_server(max_volumes="2", max_vertices="5")
    p = srv.party(("planner",))
    c = H.area()
    three = H.op_body(c)
    three["volumes"] += [H.volume(H.circle(c[0], c[1] + 0.1)), H.volume(H.circle(c[0], c[1] + 0.2))]
    H.expect_problem(srv.post("/v1/operations", p.tok["planner"], three), 422, "validation", "/volumes")
    six = H.op_body(c)
    six["volumes"][0]["footprint"] = {"type": "polygon", "vertices": corpus.ring(6, c[0], c[1], 0.05)}
    H.expect_problem(srv.post("/v1/operations", p.tok["planner"], six), 422, "validation",
                     "/volumes/0/footprint/vertices")
    five = H.op_body(c)
    five["volumes"][0]["footprint"] = {"type": "polygon", "vertices": corpus.ring(5, c[0], c[1], 0.05)}
    srv.post_op(p.tok["planner"], five)
