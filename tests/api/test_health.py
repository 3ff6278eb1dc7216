"""test_health.py -- the routes without a token (docs/api.md "Health and
metrics"): /healthz, /readyz, /metrics; request ids on every answer."""

import re

import dcf_helpers as H

METRIC_NAMES = [
    "dcf_http_requests_total",
    "dcf_http_request_duration_seconds",
    "dcf_operations_live",
    "dcf_conflicts_open",
    "dcf_event_streams",
    "dcf_store_commit_seconds",
    "dcf_store_writes_total",
]

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})?\s+(\S+)')


def samples(text):
    """[(name, labels text, value)] of a Prometheus text exposition."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a Prometheus sample line: %r" % line
        out.append((m.group(1), m.group(2) or "", float(m.group(3))))
    return out


def metric_names(text):
    names = {n for n, _, _ in samples(text)}
    for line in text.splitlines():
        if line.startswith("# TYPE ") or line.startswith("# HELP "):
            names.add(line.split()[2])
    return names


def has_metric(names, want):
    return any(n == want or (n.startswith(want + "_") and
                             n[len(want) + 1:] in ("bucket", "sum", "count", "total", "created"))
               for n in names)


def gauge(text, name):
    vals = [v for n, labels, v in samples(text) if n == name]
    assert vals, "%s not in\n%s" % (name, text)
    return sum(vals)


def test_healthz(server):
    r = server.get("/healthz")
    assert H.expect_json(r, 200) == {"status": "ok"}


def test_readyz(server):
    body = H.expect_json(server.get("/readyz"), 200)
    assert body["status"] == "ready", body
    assert isinstance(body["operations"], int) and body["operations"] >= 0, body


def test_health_needs_no_token_and_ignores_a_bad_one(server):
    for path in ("/healthz", "/readyz", "/metrics"):
        assert server.get(path).status_code == 200
        assert server.get(path, H.random_token()).status_code == 200


def test_request_id_header(server):
    r = server.get("/healthz")
    rid = r.headers.get("X-Request-Id", "")
    assert re.fullmatch(r"[0-9a-f]{16}", rid), r.headers
    r2 = server.get("/v1/nothing-here", server.admin)
    body = H.expect_problem(r2, 404, "not-found")
    assert body["request_id"] == r2.headers.get("X-Request-Id"), (body, r2.headers)
    assert r2.headers.get("X-Request-Id") != rid


def test_metrics_names(server):
    r = H.expect_status(server.get("/metrics"), 200)
    assert r.headers.get("Content-Type", "").startswith("text/plain"), r.headers
    names = metric_names(r.text)
    missing = [n for n in METRIC_NAMES if not has_metric(names, n)]
    assert not missing, "metrics missing %r; have %r" % (missing, sorted(names))


def test_metrics_count_requests(server):
    def total(text):
        return sum(v for n, _, v in samples(text) if n == "dcf_http_requests_total")

    def whoami_total(text):
        return sum(v for n, labels, v in samples(text)
                   if n == "dcf_http_requests_total" and "/v1/whoami" in labels)

    before = server.get("/metrics").text
    for _ in range(7):
        H.expect_status(server.get("/v1/whoami", server.admin), 200)
    after = server.get("/metrics").text
    assert total(after) - total(before) >= 7, (total(before), total(after))
    assert whoami_total(after) - whoami_total(before) == 7, \
        "dcf_http_requests_total{route=\"/v1/whoami\"...} did not grow by 7:\n%s" % after


def test_metrics_gauges_follow_state(make_server):
    srv = make_server()
    blue, red = srv.party(("planner",)), srv.party(("planner", "viewer"))
    text = srv.get("/metrics").text
    assert gauge(text, "dcf_operations_live") == 0
    assert gauge(text, "dcf_conflicts_open") == 0
    srv.make_conflict(blue.tok["planner"], red.tok["planner"])
    with srv.events(red.tok["viewer"]) as ev:
        assert ev.status == 200
        text = srv.get("/metrics").text
        assert gauge(text, "dcf_operations_live") == 2, text
        assert gauge(text, "dcf_conflicts_open") == 1, text
        assert gauge(text, "dcf_event_streams") >= 1, text
        writes = [v for n, _, v in samples(text) if n.startswith("dcf_store_writes_total")]
        assert writes and sum(writes) >= 2, text


def test_readyz_counts_live_operations_after_restart(make_server):
    srv = make_server()
    p = srv.party(("planner",))
    c = H.area()
    a = srv.post_op(p.tok["planner"], H.op_body(c))
    srv.post_op(p.tok["planner"], H.op_body(c, dlat=0.5))
    third = srv.post_op(p.tok["planner"], H.op_body(c, dlat=-0.5))
    H.expect_json(srv.post("/v1/operations/%s/cancel" % third["id"], p.tok["planner"]), 200)
    srv.restart()
    body = H.expect_json(srv.get("/readyz"), 200)
    assert body == {"status": "ready", "operations": 2}, body
    assert srv.get_op(p.tok["planner"], a["id"]) == H.resource_core(a)
