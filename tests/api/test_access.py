"""test_access.py -- the full access matrix of docs/api.md: every role
(admin, party-admin, planner, duty, viewer) and every kind of bad
credential (none, malformed, unknown, revoked) against every endpoint, on
the caller's own party's objects and on another party's.

The expected table below is written out by hand from the role table in
docs/api.md ("Authentication and roles") and the per-route notes:

  admin        the deployment: parties, desks, tokens; sees no operation,
               conflict or event (403 there)
  party-admin  everything below for its own party + its desks and tokens
  planner      create/change/check operations, read conflicts, events
  duty         read operations; read/acknowledge/accept conflicts; events
  viewer       read operations and conflicts; events

  * a role that may not use a route: 403 forbidden;
  * another party's operation, or a conflict not involving the caller's
    party: the same 404 as a missing id (Isolation);
  * both at once (a duty token PUTting another party's operation): docs/api.md
    does not say which check comes first, so ROLE_OR_HIDDEN = 403 or 404 --
    but for operations and conflicts the answer must then be exactly the
    answer for an id that does not exist (no existence oracle);
  * another party's party record, desks or tokens (GET /v1/parties/{id} is
    "admin, or a token of that party"; desks and tokens are "that party's
    party-admin"): HIDDEN = 403 or 404.  docs/api.md does not say which of
    the two; the isolation paragraph covers operations and conflicts only.
  * no / malformed / unknown / revoked token: 401 unauthorized with
    WWW-Authenticate: Bearer on every /v1 route but /v1/openapi.json.

A failed mutating request must change nothing; each case that fails checks
its object afterwards.
"""

import pytest

import dcf_helpers as H

ROLES = ("admin", "party-admin", "planner", "duty", "viewer")
BAD_CREDENTIALS = ("no-token", "malformed-token", "unknown-token", "revoked-token")
HIDDEN = (403, 404)
RH = ROLE_OR_HIDDEN = (403, 404)

_OPS_WRITE_OWN = (403, 200, 200, 403, 403)
_OPS_WRITE_OTHER = (403, 404, 404, RH, RH)
_CF_WRITE_OWN = (403, 200, 403, 200, 403)
_CF_WRITE_OTHER = (403, 404, RH, 404, RH)

#                 endpoint                 own: admin, p-admin, planner, duty, viewer     other party
EXPECT = {
    "whoami":                ((200, 200, 200, 200, 200), None),
    "openapi":               ((200, 200, 200, 200, 200), None),
    "parties.create":        ((201, 403, 403, 403, 403), None),
    "parties.list":          ((200, 200, 200, 200, 200), None),
    "parties.get":           ((200, 200, 200, 200, 200), (200, HIDDEN, HIDDEN, HIDDEN, HIDDEN)),
    "desks.put":             ((200, 200, 403, 403, 403), (200, HIDDEN, RH, RH, RH)),
    "party-tokens.create":   ((201, 201, 403, 403, 403), (201, HIDDEN, RH, RH, RH)),
    "party-tokens.list":     ((200, 200, 403, 403, 403), (200, HIDDEN, RH, RH, RH)),
    "tokens.create":         ((201, 403, 403, 403, 403), None),
    "tokens.delete":         ((204, 204, 403, 403, 403), (204, HIDDEN, RH, RH, RH)),
    "operations.create":     ((403, 201, 201, 403, 403), None),
    "operations.list":       ((403, 200, 200, 200, 200), None),
    "operations.get":        ((403, 200, 200, 200, 200), (403, 404, 404, 404, 404)),
    "operations.put":        (_OPS_WRITE_OWN, _OPS_WRITE_OTHER),
    "operations.activate":   (_OPS_WRITE_OWN, _OPS_WRITE_OTHER),
    "operations.complete":   (_OPS_WRITE_OWN, _OPS_WRITE_OTHER),
    "operations.cancel":     (_OPS_WRITE_OWN, _OPS_WRITE_OTHER),
    "operations.check":      ((403, 200, 200, 403, 403), None),
    "conflicts.list":        ((403, 200, 200, 200, 200), None),
    "conflicts.get":         ((403, 200, 200, 200, 200), (403, 404, 404, 404, 404)),
    "conflicts.acknowledge": (_CF_WRITE_OWN, _CF_WRITE_OTHER),
    "conflicts.accept":      (_CF_WRITE_OWN, _CF_WRITE_OTHER),
    "events":                ((403, 200, 200, 200, 200), None),
}

PROBLEM_FOR = {401: "unauthorized", 403: "forbidden", 404: "not-found"}


def _cases():
    out = []
    for ep, (own, other) in EXPECT.items():
        for i, role in enumerate(ROLES):
            out.append(pytest.param(ep, role, "own", own[i], id="%s-%s-own" % (ep, role)))
            if other is not None:
                out.append(pytest.param(ep, role, "other", other[i], id="%s-%s-other" % (ep, role)))
        for cred in BAD_CREDENTIALS:
            if ep == "openapi":
                if cred == "no-token":
                    out.append(pytest.param(ep, cred, "own", 200, id="%s-%s" % (ep, cred)))
                continue
            out.append(pytest.param(ep, cred, "own", 401, id="%s-%s" % (ep, cred)))
    return out


class World:
    """Party A (the caller's party: every role), B and C (others), shared
    read-only objects, and factories for fresh objects to mutate."""

    def __init__(self, srv):
        self.srv = srv
        self.a = srv.party()
        self.b = srv.party(("party-admin", "planner", "duty"))
        self.c = srv.party(("planner",))
        self.op_a = srv.post_op(self.a.tok["planner"], H.op_body(H.area()))
        self.op_b = srv.post_op(self.b.tok["planner"], H.op_body(H.area()))
        _, _, self.cf_ab = srv.make_conflict(self.a.tok["planner"], self.b.tok["planner"])
        _, _, self.cf_bc = srv.make_conflict(self.b.tok["planner"], self.c.tok["planner"])
        revoked = srv.create_token(self.a.id, "planner", "to revoke")
        H.expect_status(srv.delete("/v1/tokens/" + revoked["id"], srv.admin), 204)
        self.revoked = revoked["token"]

    def party(self, scope):
        return self.a if scope == "own" else self.b

    def token(self, role):
        if role == "admin":
            return self.srv.admin
        if role in ROLES:
            return self.a.tok[role]
        return {"no-token": None, "malformed-token": "not-a-token",
                "unknown-token": H.random_token(), "revoked-token": self.revoked}[role]

    def fresh_op(self, scope, state="planned"):
        p = self.party(scope)
        op = self.srv.post_op(p.tok["planner"], H.op_body(H.area()))
        if state == "active":
            op = H.expect_json(self.srv.post("/v1/operations/%s/activate" % op["id"], p.tok["planner"]), 200)
        return p, op

    def fresh_conflict(self, scope):
        if scope == "own":
            _, _, cf = self.srv.make_conflict(self.b.tok["planner"], self.a.tok["planner"])
            return self.a.tok["duty"], cf
        _, _, cf = self.srv.make_conflict(self.b.tok["planner"], self.c.tok["planner"])
        return self.b.tok["duty"], cf


@pytest.fixture(scope="module")
def world(server):
    return World(server)


def _prepare(w, ep, scope):
    """(method, path, body or _NO, headers, check_unchanged or None, check_ok or None,
    the same path with an id that names nothing, or None)"""
    srv = w.srv
    NO = srv._NO
    p = w.party(scope)
    if ep == "whoami":
        return "GET", "/v1/whoami", NO, None, None, None, None
    if ep == "openapi":
        return "GET", "/v1/openapi.json", NO, None, None, None, None
    if ep == "parties.create":
        pid = H.uid()

        def unchanged():
            H.expect_problem(srv.get("/v1/parties/" + pid, srv.admin), 404, "not-found")
        return "POST", "/v1/parties", {"id": pid, "name": "Matrix"}, None, unchanged, None, None
    if ep == "parties.list":
        return "GET", "/v1/parties", NO, None, None, None, None
    if ep == "parties.get":
        return "GET", "/v1/parties/" + p.id, NO, None, None, None, None
    if ep == "desks.put":
        before = H.expect_json(srv.get("/v1/parties/" + p.id, srv.admin), 200)

        def unchanged():
            assert H.expect_json(srv.get("/v1/parties/" + p.id, srv.admin), 200) == before
        body = {"contact": {"name": "Matrix desk", "phone": H.uid("tel")}}
        return "PUT", "/v1/parties/%s/desks/duty" % p.id, body, None, unchanged, None, None
    if ep == "party-tokens.create":
        before = H.expect_json(srv.get("/v1/parties/%s/tokens" % p.id, srv.admin), 200)["items"]

        def unchanged():
            after = H.expect_json(srv.get("/v1/parties/%s/tokens" % p.id, srv.admin), 200)["items"]
            assert after == before
        return ("POST", "/v1/parties/%s/tokens" % p.id, {"role": "viewer", "label": "matrix"}, None,
                unchanged, None, None)
    if ep == "party-tokens.list":
        return "GET", "/v1/parties/%s/tokens" % p.id, NO, None, None, None, None
    if ep == "tokens.create":
        return "POST", "/v1/tokens", {"role": "admin", "label": "matrix"}, None, None, None, None
    if ep == "tokens.delete":
        t = srv.create_token(p.id, "viewer", "matrix victim")

        def unchanged():
            H.expect_json(srv.get("/v1/whoami", t["token"]), 200)

        def ok(_r):
            H.expect_problem(srv.get("/v1/whoami", t["token"]), 401, "unauthorized")
        return "DELETE", "/v1/tokens/" + t["id"], NO, None, unchanged, ok, None
    if ep == "operations.create":
        before = srv.list_ops(w.a.tok["viewer"])

        def unchanged():
            assert srv.list_ops(w.a.tok["viewer"]) == before
        return "POST", "/v1/operations", H.op_body(H.area()), None, unchanged, None, None
    if ep == "operations.list":
        def ok(r):
            items = r.json()["items"]
            assert items and all(o["party"] == w.a.id for o in items), items
        return "GET", "/v1/operations", NO, None, None, ok, None
    if ep == "operations.get":
        op = w.op_a if scope == "own" else w.op_b
        return "GET", "/v1/operations/" + op["id"], NO, None, None, None, "/v1/operations/" + H.random_op_id()
    if ep.startswith("operations.") and ep != "operations.check":
        verb = ep.split(".")[1]
        owner, op = w.fresh_op(scope, "active" if verb == "complete" else "planned")

        def unchanged():
            assert srv.get_op(owner.tok["viewer" if owner is w.a else "planner"], op["id"]) == H.resource_core(op)
        if verb == "put":
            body = {k: op[k] for k in ("kind", "priority", "volumes")}
            body["priority"] = 51
            return ("PUT", "/v1/operations/" + op["id"], body, {"If-Match": '"%d"' % op["version"]},
                    unchanged, None, "/v1/operations/" + H.random_op_id())
        return ("POST", "/v1/operations/%s/%s" % (op["id"], verb), NO, None, unchanged, None,
                "/v1/operations/%s/%s" % (H.random_op_id(), verb))
    if ep == "operations.check":
        return "POST", "/v1/operations/check", H.op_body(H.area()), None, None, None, None
    if ep == "conflicts.list":
        def ok(r):
            ids = [c["id"] for c in r.json()["items"]]
            assert w.cf_ab["id"] in ids and w.cf_bc["id"] not in ids, ids
        return "GET", "/v1/conflicts", NO, None, None, ok, None
    if ep == "conflicts.get":
        cf = w.cf_ab if scope == "own" else w.cf_bc
        return "GET", "/v1/conflicts/" + cf["id"], NO, None, None, None, "/v1/conflicts/" + H.random_cf_id()
    if ep in ("conflicts.acknowledge", "conflicts.accept"):
        reader, cf = w.fresh_conflict(scope)
        before = srv.conflict(reader, cf["id"])

        def unchanged():
            assert srv.conflict(reader, cf["id"]) == before
        verb = ep.split(".")[1]
        return ("POST", "/v1/conflicts/%s/%s" % (cf["id"], verb), NO, None, unchanged, None,
                "/v1/conflicts/%s/%s" % (H.random_cf_id(), verb))
    if ep == "events":
        return "STREAM", "/v1/events", NO, None, None, None, None
    raise AssertionError(ep)


@pytest.mark.parametrize("ep,role,scope,want", _cases())
def test_access(world, ep, role, scope, want):
    srv = world.srv
    method, path, body, headers, unchanged, ok, missing = _prepare(world, ep, scope)
    tok = world.token(role)
    if role == "malformed-token":
        headers = dict(headers or {})
        headers["Authorization"] = "Bearer not-a-token"
        tok = None
    if method == "STREAM":
        with srv.events(tok, headers=headers) as st:
            status, hdrs = st.status, st.headers
            got = st.json() if status != 200 else None
            ctype = hdrs.get("content-type", "")
        where = "GET %s as %s (%s) -> %d %r %r" % (path, role, scope, status, hdrs, got)
        wants = want if isinstance(want, tuple) else (want,)
        assert status in wants, where
        if status == 200:
            assert ctype.startswith("text/event-stream"), where
        else:
            assert ctype.startswith("application/problem+json"), where
            assert got["type"] == H.PROBLEM_BASE + PROBLEM_FOR[status], where
            if status == 401:
                assert "bearer" in hdrs.get("www-authenticate", "").lower(), where
        return
    r = srv.req(method, path, tok, body, headers=headers)
    wants = want if isinstance(want, tuple) else (want,)
    assert r.status_code in wants, "as %s on %s party:\n%s" % (role, scope, H.describe(r))
    if r.status_code in PROBLEM_FOR:
        H.expect_problem(r, r.status_code, PROBLEM_FOR[r.status_code])
        if scope == "other" and missing is not None:
            r2 = srv.req(method, missing, tok, body, headers=headers)
            a, b = r.json(), r2.json()
            assert (r.status_code, a["type"], a["title"]) == (r2.status_code, b["type"], b["title"]), \
                "another party's object and a missing one answer differently:\n%s\n%s" % (
                    H.describe(r), H.describe(r2))
        if r.status_code == 401:
            assert "bearer" in r.headers.get("WWW-Authenticate", "").lower(), H.describe(r)
        if unchanged is not None:
            unchanged()
    elif ok is not None:
        ok(r)


def test_malformed_authorization_headers(world):
    srv = world.srv
    for value in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "bearer " + world.a.tok["viewer"] + "x",
                  "Bearer dcf_short", "Token " + world.a.tok["viewer"],
                  "Bearer " + world.a.tok["viewer"][:-1] + "!"):
        r = srv.get("/v1/whoami", headers={"Authorization": value})
        H.expect_problem(r, 401, "unauthorized")
        assert "bearer" in r.headers.get("WWW-Authenticate", "").lower(), H.describe(r)
