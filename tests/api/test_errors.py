"""test_errors.py -- the error conventions of docs/api.md ("Errors"):
RFC 9457 bodies with type/title/status/detail/instance/request_id, 404 for
unknown routes, 405 with Allow, 401 with WWW-Authenticate, and that a
failed request changes nothing."""

import re

import pytest

import dcf_helpers as H


def test_problem_body_members(server):
    p = server.party(("planner",))
    r = server.post("/v1/operations", p.tok["planner"], {"kind": "drone"})
    body = H.expect_problem(r, 422, "validation", "/priority")
    assert body["title"], body
    assert "detail" not in body or isinstance(body["detail"], str), body
    assert body["instance"] == "/v1/operations", body
    assert re.fullmatch(r"[0-9a-f]{16}", body["request_id"]), body
    assert body["request_id"] == r.headers.get("X-Request-Id"), (body, r.headers)
    for e in body["errors"]:
        assert set(e) >= {"pointer", "rule"}, e


@pytest.mark.parametrize("path", ["/assets", "/assets/no-such-file.js", "/v1", "/v1/", "/v2/operations", "/v1/operation",
                                  "/v1/operations/x/y/z", "/v1/conflicts/cf-1/reject",
                                  "/v1/parties/blue/desks", "/healthz/x"])
def test_unknown_route_is_404(server, path):
    r = server.get(path, server.admin)
    H.expect_problem(r, 404, "not-found")


@pytest.mark.parametrize("method,path,allow", [
    ("DELETE", "/v1/operations", {"GET", "POST"}),
    ("PUT", "/v1/operations", {"GET", "POST"}),
    ("DELETE", "/v1/operations/op-x", {"GET", "PUT"}),
    ("GET", "/v1/operations/op-x/activate", {"POST"}),
    ("GET", "/v1/tokens", {"POST"}),
    ("POST", "/v1/whoami", {"GET"}),
    ("POST", "/v1/events", {"GET"}),
    ("PUT", "/v1/conflicts/cf-x", {"GET"}),
    ("POST", "/healthz", {"GET"}),
    ("DELETE", "/v1/parties", {"GET", "POST"}),
    ("GET", "/v1/parties/x/desks/duty", {"PUT"}),
])
def test_wrong_method_is_405_with_allow(server, method, path, allow):
    r = server.req(method, path, server.admin)
    H.expect_problem(r, 405, "method-not-allowed")
    got = {m.strip() for m in r.headers.get("Allow", "").split(",") if m.strip()}
    assert allow <= got, (allow, got, H.describe(r))
    assert method not in got


def test_401_shape(server):
    r = server.get("/v1/operations")
    body = H.expect_problem(r, 401, "unauthorized")
    assert "bearer" in r.headers.get("WWW-Authenticate", "").lower(), r.headers
    assert body["instance"] == "/v1/operations"


def test_failed_create_changes_nothing(server):
    blue = server.party(("planner", "viewer"))
    red = server.party(("planner", "viewer"))
    c = H.area()
    server.post_op(red.tok["planner"], H.op_body(c))
    before = (server.list_ops(blue.tok["viewer"]), server.list_conflicts(red.tok["viewer"]))
    with server.events(red.tok["viewer"]) as st:
        bad = H.op_body(c, dlat=0.01)
        bad["volumes"].append(H.volume(H.circle(c[0], c[1]), lower=500, upper=100))
        H.expect_problem(server.post("/v1/operations", blue.tok["planner"], bad), 422, "validation",
                         "/volumes/1/altitude/upper_m")
        assert st.quiet_events(1.0) == []
    assert (server.list_ops(blue.tok["viewer"]), server.list_conflicts(red.tok["viewer"])) == before


def test_path_ids_are_not_interpreted(server):
    p = server.party(("viewer",))
    for pid in ("..%2F..%2Fetc", "%00", "op-" + "a" * 3000):
        r = server.get("/v1/operations/" + pid, p.tok["viewer"])
        assert r.status_code in (404, 414), H.describe(r)
        if r.status_code == 404:
            H.expect_problem(r, 404, "not-found")
