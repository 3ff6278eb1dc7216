"""test_openapi.py -- GET /v1/openapi.json (docs/api.md): valid JSON,
OpenAPI 3.1.x, and its paths are exactly the routes docs/api.md,
docs/hotline.md and docs/console.md list (written out below); every
documented method+path answers something other than 404 when called with
real ids and a token of a role that may use it (the test clock's routes,
which answer 404 by design on a server without --test-clock, excepted)."""

import re

import pytest

import dcf_helpers as H

# Every route docs/api.md names, by method and path ({...} = a parameter).
ROUTES = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/v1/openapi.json"),
    ("POST", "/v1/parties"),
    ("GET", "/v1/parties"),
    ("GET", "/v1/parties/{}"),
    ("PUT", "/v1/parties/{}/desks/{}"),
    ("POST", "/v1/parties/{}/tokens"),
    ("GET", "/v1/parties/{}/tokens"),
    ("POST", "/v1/tokens"),
    ("DELETE", "/v1/tokens/{}"),
    ("GET", "/v1/whoami"),
    ("POST", "/v1/operations"),
    ("GET", "/v1/operations"),
    ("GET", "/v1/operations/{}"),
    ("PUT", "/v1/operations/{}"),
    ("POST", "/v1/operations/{}/activate"),
    ("POST", "/v1/operations/{}/complete"),
    ("POST", "/v1/operations/{}/cancel"),
    ("POST", "/v1/operations/check"),
    ("GET", "/v1/conflicts"),
    ("GET", "/v1/conflicts/{}"),
    ("POST", "/v1/conflicts/{}/acknowledge"),
    ("POST", "/v1/conflicts/{}/accept"),
    ("GET", "/v1/events"),
    ("GET", "/v1/audit/key"),
    ("GET", "/v1/audit/sth"),
    ("GET", "/v1/audit/sths"),
    ("GET", "/v1/audit/entries"),
    ("GET", "/v1/audit/proof/inclusion"),
    ("GET", "/v1/audit/proof/consistency"),
    # docs/hotline.md
    ("POST", "/v1/lines"),
    ("GET", "/v1/lines"),
    ("GET", "/v1/lines/{}"),
    ("POST", "/v1/lines/{}/accept"),
    ("POST", "/v1/lines/{}/suspend"),
    ("POST", "/v1/lines/{}/resume"),
    ("GET", "/v1/lines/{}/stats"),
    ("POST", "/v1/lines/{}/messages"),
    ("GET", "/v1/lines/{}/messages"),
    ("GET", "/v1/lines/{}/messages/{}"),
    ("POST", "/v1/lines/{}/messages/{}/acknowledge"),
    ("POST", "/v1/lines/{}/calls"),
    ("GET", "/v1/lines/{}/calls"),
    ("GET", "/v1/calls/{}"),
    ("POST", "/v1/calls/{}/answer"),
    ("POST", "/v1/calls/{}/decline"),
    ("POST", "/v1/calls/{}/end"),
    ("POST", "/v1/calls/{}/readout"),
    ("POST", "/v1/presence"),
    ("GET", "/v1/templates"),
    ("GET", "/v1/templates/{}"),
    ("GET", "/v1/admin/clock"),
    ("POST", "/v1/admin/clock"),
    # the web console (docs/console.md)
    ("GET", "/"),
    ("GET", "/assets/{}"),
    ("POST", "/v1/session"),
    ("GET", "/v1/session"),
    ("DELETE", "/v1/session"),
}
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _norm(path):
    return re.sub(r"\{[^}]*\}", "{}", path)


@pytest.fixture(scope="module")
def spec(server):
    r = server.get("/v1/openapi.json")
    return H.expect_json(r, 200)


def test_openapi_is_3_1(spec):
    assert re.fullmatch(r"3\.1\.\d+", str(spec.get("openapi"))), spec.get("openapi")
    assert isinstance(spec.get("info"), dict) and spec["info"].get("title") and spec["info"].get("version")
    assert isinstance(spec.get("paths"), dict) and spec["paths"]


def test_openapi_needs_no_token(server):
    H.expect_json(server.get("/v1/openapi.json"), 200)


def _spec_routes(spec):
    out = set()
    for path, item in spec["paths"].items():
        for m in item:
            if m.lower() in METHODS:
                out.add((m.upper(), _norm(path)))
    return out


def test_openapi_paths_are_the_documented_routes(spec):
    have = _spec_routes(spec)
    missing = sorted(ROUTES - have)
    extra = sorted(have - ROUTES)
    assert not missing, "routes in docs/api.md but not in openapi.json: %r" % missing
    assert not extra, "routes in openapi.json but not in docs/api.md: %r" % extra


def test_openapi_parameters_declared(spec):
    for path, item in spec["paths"].items():
        names = re.findall(r"\{([^}]*)\}", path)
        for m, op in item.items():
            if m.lower() not in METHODS:
                continue
            params = list(op.get("parameters", [])) + list(item.get("parameters", []))
            declared = set()
            for prm in params:
                if "$ref" in prm:
                    ref = prm["$ref"].split("/")[-1]
                    prm = spec.get("components", {}).get("parameters", {}).get(ref, {})
                if prm.get("in") == "path":
                    declared.add(prm.get("name"))
            assert set(names) <= declared, "%s %s: path parameters %r, declared %r" % (m, path, names, declared)
            assert op.get("responses"), "%s %s has no responses" % (m, path)


@pytest.fixture(scope="module")
def objects(server):
    blue = server.party(("party-admin", "planner", "duty", "senior", "viewer"))
    red = server.party(("planner", "party-admin", "senior"))
    op = server.post_op(blue.tok["planner"], H.op_body(H.area()))
    _, _, cf = server.make_conflict(red.tok["planner"], blue.tok["planner"])
    line = H.expect_json(server.post("/v1/lines", blue.tok["party-admin"],
                                     {"name": "openapi", "members": [red.id]}), 201)
    H.expect_json(server.post("/v1/lines/%s/accept" % line["id"], red.tok["party-admin"]), 200)
    msg = H.expect_json(server.post("/v1/lines/%s/messages" % line["id"], blue.tok["duty"],
                                    {"type": "info", "level": "duty", "text": "x"}), 201)
    call = H.expect_json(server.post("/v1/lines/%s/calls" % line["id"], red.tok["senior"],
                                     {"level": "senior", "topic": "openapi"}), 201)
    return blue, op, cf, line, msg, call


def test_every_spec_route_answers(server, spec, objects):
    blue, op, cf, line, msg, call = objects
    admin_only = {"/v1/parties", "/v1/tokens"}
    test_clock = {"/v1/admin/clock"}  # 404 without --test-clock, by design
    fill = {"/v1/lines/{}": [line["id"], str(msg["seq"])], "/v1/calls/{}": [call["id"]],
            "/v1/templates/{}": ["operation-notice"], "/assets/{}": ["index.html"]}
    for path, item in spec["paths"].items():
        for m in item:
            if m.lower() not in METHODS:
                continue
            method = m.upper()
            norm = _norm(path)
            concrete = norm
            for value in (blue.id, "duty") if norm.startswith("/v1/parties/{}") else ():
                concrete = concrete.replace("{}", value, 1)
            if norm.startswith("/v1/operations/{}"):
                concrete = concrete.replace("{}", op["id"])
            if norm.startswith("/v1/conflicts/{}"):
                concrete = concrete.replace("{}", cf["id"])
            for prefix, values in fill.items():
                if norm.startswith(prefix):
                    for value in values:
                        concrete = concrete.replace("{}", value, 1)
            if norm in test_clock:
                continue
            if norm == "/v1/tokens/{}":
                t = server.create_token(blue.id, "viewer", "openapi")
                concrete = "/v1/tokens/" + t["id"]
            tok = server.admin if (norm in admin_only or norm.startswith("/v1/parties")
                                   or norm.startswith("/v1/tokens")) else blue.tok["party-admin"]
            if norm.startswith("/v1/calls") or norm == "/v1/presence":
                tok = blue.tok["senior"]
            if norm == "/v1/events":
                with server.events(tok) as st:
                    assert st.status == 200, (method, path, st.status)
                continue
            headers = {"If-Match": '"%d"' % op["version"]} if method == "PUT" else None
            body = {} if method in ("POST", "PUT") else server._NO
            r = server.req(method, concrete, tok, body, headers=headers)
            assert r.status_code != 404 and r.status_code != 405, "%s %s (%s):\n%s" % (
                method, path, concrete, H.describe(r))
            assert r.status_code < 500, H.describe(r)
