"""hotline_helpers.py -- plain helpers for the hotline suites
(test_hotline.py, test_hotline_scenarios.py, test_hotline_restart.py),
written against docs/hotline.md.  No pytest fixtures here.

What lives here: the server options the suites run with (test clock on,
small timer values), a module-scoped server factory, the test clock, line
set-up (propose + every member accepts), message, call and acknowledgement
shortcuts, a recipient's copy of a message, exact time arithmetic on the
server's RFC 3339 microsecond times, and event-stream predicates.

Invariants the suites rely on:
  * every party is fresh (H.uid()), with one token per role of ROLES, so
    tests sharing a server never see each other's lines;
  * times are compared exactly (microseconds) where the server reports both
    ends of an interval; a figure computed from the clock moves alone gets
    a tolerance of SLACK seconds, the real time the requests themselves take;
  * the test clock only moves forward, so a suite that asserts exact
    contact records or timer counts uses a server of its own.
"""

import datetime as _dt
import json

import conftest
import dcf_helpers as H

ROLES = ("party-admin", "planner", "duty", "senior", "viewer")
DESKS = ("duty", "senior")

# Small, distinct timer values so that every figure can be computed from
# the clock moves (each option's name -> its value in seconds in SECONDS).
OPTS = {
    "test_clock": True,
    "ring_timeout": "120s",
    "ack_urgent": "2m",
    "ack_warning": "10m",
    "ack_request": "30m",
    "escalation_repeat": "5m",
    "line_check_interval": "1d",
    "freeze_after": "3d",
    "presence_window": "60s",
    "notice": "0s",
    "heartbeat": "1s",
    "rate": "1000",
    "check_rate": "1000",
    "max_streams": "64",
}
SECONDS = {"ring_timeout": 120, "ack_urgent": 120, "ack_warning": 600, "ack_request": 1800,
           "escalation_repeat": 300, "line_check_interval": 86400, "freeze_after": 3 * 86400,
           "presence_window": 60}
ACK_TIME = {"urgent": 120, "warning": 600, "request": 1800, "info": None}

SLACK = 2.0  # seconds of real time a figure computed from clock moves may be off


def opts(**over):
    o = dict(OPTS)
    o.update(over)
    return o


def start_server(tmp_root, name, **over):
    """A server of the caller's own (module fixtures); stop it with stop_server."""
    return conftest._new_server(tmp_root, opts(**over), name)


def stop_server(s):
    rc = conftest._finish(s)
    assert rc == 0, "exit code %r after SIGTERM\n%s" % (rc, s.log_text()[-4000:])


# ----------------------------------------------------------------- time --


def t(s):
    """A server time (RFC 3339) as an aware datetime (microseconds kept)."""
    assert isinstance(s, str), s
    return H.parse_time(s)


def secs(a, b):
    """b - a in seconds, exactly (both RFC 3339 strings or datetimes)."""
    a = t(a) if isinstance(a, str) else a
    b = t(b) if isinstance(b, str) else b
    d = b - a
    return d.days * 86400 + d.seconds + d.microseconds / 1e6


def plus(a, seconds):
    return (t(a) if isinstance(a, str) else a) + _dt.timedelta(seconds=seconds)


def same_time(a, b):
    """Two server times name the same microsecond."""
    return t(a) == t(b)


def median(xs):
    xs = sorted(xs)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2.0


def clock(s):
    return H.expect_json(s.get("/v1/admin/clock", s.admin), 200)


def advance(s, seconds):
    """Move the test clock; every timer has run when this returns."""
    return H.expect_json(s.post("/v1/admin/clock", s.admin, {"advance_s": seconds}), 200)


def now(s):
    return clock(s)["now"]


# ---------------------------------------------------------------- lines --


def parties(s, n=2, names=None):
    names = names or [None] * n
    return [s.party(ROLES, name=names[i]) for i in range(n)]


def propose(s, a, others, name="line", expect=201):
    r = s.post("/v1/lines", a.tok["party-admin"], {"name": name, "members": [o.id for o in others]})
    return H.expect_json(r, expect)


def accept(s, party, line, expect=200):
    return H.expect_json(s.post("/v1/lines/%s/accept" % line["id"], party.tok["party-admin"]), expect)


def open_line(s, a, others, name="line"):
    line = propose(s, a, others, name)
    assert line["state"] == "proposed", line
    for o in others:
        line = accept(s, o, line)
    assert line["state"] == "open", line
    return line


def get_line(s, tok, line):
    return H.expect_json(s.get("/v1/lines/" + _id(line), tok), 200)


def member(line_doc, party):
    return next(m for m in line_doc["members"] if m["party"]["id"] == party.id)


def _id(x):
    return x["id"] if isinstance(x, dict) else x


# ------------------------------------------------------------- messages --


def msgs_path(line):
    return "/v1/lines/%s/messages" % _id(line)


def send(s, tok, line, body, expect=201):
    return H.expect_json(s.post(msgs_path(line), tok, body), expect)


def text_msg(s, tok, line, text="hello", type="info", level="duty", **extra):
    body = {"type": type, "level": level, "text": text}
    body.update(extra)
    return send(s, tok, line, body)


def get_msg(s, tok, line, seq, lang=None, expect=200):
    h = {"Accept-Language": lang} if lang else None
    return H.expect_json(s.get("%s/%d" % (msgs_path(line), seq), tok, headers=h), expect)


def list_msgs(s, tok, line, after=0, limit=1000):
    """Every message of the line the token sees, walking the pages."""
    out = []
    while True:
        page = H.expect_json(s.get(msgs_path(line), tok, params={"after": after, "limit": limit}), 200)
        out += page["items"]
        if page.get("next_cursor") is None:
            return out
        assert page["items"], page
        after = int(page["next_cursor"])


def ack(s, tok, line, seq, by="duty officer", reply=None, expect=200):
    body = {"by": by}
    if reply is not None:
        body["reply"] = reply
    return H.expect_json(s.post("%s/%d/acknowledge" % (msgs_path(line), seq), tok, body), expect)


def copy_of(m, party):
    """party's recipient copy of message m."""
    got = [r for r in m["recipients"] if r["party"] == party.id]
    assert len(got) == 1, (party.id, m["recipients"])
    return got[0]


# ---------------------------------------------------------------- calls --


def start_call(s, tok, line, level="senior", topic="talk", by=None, expect=201):
    body = {"level": level, "topic": topic}
    if by is not None:
        body["by"] = by
    return H.expect_json(s.post("/v1/lines/%s/calls" % _id(line), tok, body), expect)


def call_act(s, tok, call, act, body=None, expect=200):
    b = body if body is not None else s._NO
    return H.expect_json(s.post("/v1/calls/%s/%s" % (_id(call), act), tok, b), expect)


def get_call(s, tok, call, expect=200):
    return H.expect_json(s.get("/v1/calls/" + _id(call), tok), expect)


def readout(s, tok, call, visibility, text, by=None, expect=201):
    body = {"visibility": visibility, "text": text}
    if by is not None:
        body["by"] = by
    return H.expect_json(s.post("/v1/calls/%s/readout" % _id(call), tok, body), expect)


# --------------------------------------------------------------- events --


def data(e):
    return e.data if isinstance(e.data, dict) else json.loads(e.data)


def is_msg_event(etype, line, seq, party=None):
    def pred(e):
        if e.type != etype:
            return False
        d = data(e)
        return (d.get("line") == _id(line) and d.get("seq") == seq
                and (party is None or d.get("party") == party.id))
    return pred


def is_call_event(etype, call):
    return lambda e: e.type == etype and data(e).get("id") == _id(call)


def is_line_event(etype, line):
    return lambda e: e.type == etype and data(e).get("line") == _id(line)


def seen_or_wait(stream, pred, timeout=10.0):
    """An event already taken from the stream, or the next one that matches."""
    for e in stream.events():
        if pred(e):
            return e
    return stream.wait_event(pred, timeout)


def drain(stream, quiet=0.4):
    """Take everything the stream has now (events that are still coming
    within `quiet` seconds included) and return the events of it."""
    stream.quiet_events(quiet)
    return stream.events()


# ---------------------------------------------------------------- audit --


def audit_entries(s, tok):
    """Every audit entry the token may read, parsed."""
    out, cursor = [], None
    while True:
        params = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = H.expect_json(s.get("/v1/audit/entries", tok, params=params), 200)
        out += [json.loads(e["entry"]) for e in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            return out
