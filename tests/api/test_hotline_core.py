"""test_hotline_core.py -- the hotline (docs/hotline.md) against a real
server with the test clock: the 2015 and 2022 scenarios of issue 4,
escalation (also on a suspended line), conflict notices, template
renderings, delivery states and the errors, presence, and delivery across
kill -9.  Each test uses its own parties; tests that assert exact contact
records use a server of their own, since moving the clock fires every
line's timers."""

import json
import time

import pytest

import conftest
import dcf_helpers as H

OPTS = {"test_clock": True, "ring_timeout": "120s", "ack_urgent": "2m", "ack_warning": "10m",
        "escalation_repeat": "5m", "line_check_interval": "1d", "freeze_after": "3d",
        "presence_window": "60s", "notice": "0s", "heartbeat": "1s", "rate": "1000",
        "check_rate": "1000", "max_streams": "64"}
DESK_ROLES = ("party-admin", "planner", "duty", "senior", "viewer")


@pytest.fixture(scope="module")
def srv(tmp_root):
    s = conftest._new_server(tmp_root, OPTS, "hotline")
    yield s
    assert conftest._finish(s) == 0, s.log_text()[-4000:]


def advance(s, seconds):
    return H.expect_json(s.post("/v1/admin/clock", s.admin, {"advance_s": seconds}), 200)


def open_line(s, a, others, name="line"):
    line = H.expect_json(s.post("/v1/lines", a.tok["party-admin"],
                                {"name": name, "members": [o.id for o in others]}), 201)
    assert line["state"] == "proposed"
    for o in others:
        line = H.expect_json(s.post("/v1/lines/%s/accept" % line["id"], o.tok["party-admin"]), 200)
    assert line["state"] == "open"
    return line


def send(s, tok, line, body, expect=201):
    return H.expect_json(s.post("/v1/lines/%s/messages" % line["id"], tok, body), expect)


def msg(s, tok, line, seq, lang=None):
    h = {"Accept-Language": lang} if lang else None
    return H.expect_json(s.get("/v1/lines/%s/messages/%d" % (line["id"], seq), tok, headers=h), 200)


def copy_of(m, party):
    return next(r for r in m["recipients"] if r["party"] == party.id)


def ej(e):
    """An event's data as JSON (the stream parses it already)."""
    return e.data if isinstance(e.data, dict) else json.loads(e.data)


def pair(s):
    return s.party(DESK_ROLES), s.party(DESK_ROLES)


# ------------------------------------------------------------- scenarios --


def test_2015_senior_call_readouts(srv):
    us, ru = pair(srv)
    line = open_line(srv, us, [ru], "2015")
    with srv.events(ru.tok["senior"]) as st:
        call = H.expect_json(srv.post("/v1/lines/%s/calls" % line["id"], us.tok["senior"],
                                      {"level": "senior", "topic": "Syria air operations",
                                       "by": "SecDef"}), 201)
        ring = st.wait_event(lambda e: e.type == "call.ringing")
        assert ej(ring)["id"] == call["id"] and ej(ring)["level"] == "senior"
    ans = H.expect_json(srv.post("/v1/calls/%s/answer" % call["id"], ru.tok["senior"],
                                 {"by": "MinDef"}), 200)
    assert ans["state"] == "answered" and ans["answered_by"] == {"party": ru.id, "by": "MinDef"}
    for tok, text in ((us.tok["senior"], "We propose a corridor."), (ru.tok["senior"], "Agreed.")):
        send(srv, tok, line, {"type": "info", "level": "senior", "text": text, "call": call["id"]})
    advance(srv, 50 * 60)
    ended = H.expect_json(srv.post("/v1/calls/%s/end" % call["id"], us.tok["senior"]), 200)
    assert ended["state"] == "ended" and ended["ended_by"] == us.id
    assert abs(ended["duration_s"] - 3000.0) < 5.0, ended["duration_s"]
    H.expect_json(srv.post("/v1/calls/%s/readout" % call["id"], us.tok["senior"],
                           {"visibility": "internal", "text": "US eyes only"}), 201)
    H.expect_json(srv.post("/v1/calls/%s/readout" % call["id"], ru.tok["senior"],
                           {"visibility": "shared", "text": "RU readout for both"}), 201)
    seen_us = H.expect_json(srv.get("/v1/calls/" + call["id"], us.tok["viewer"]), 200)
    seen_ru = H.expect_json(srv.get("/v1/calls/" + call["id"], ru.tok["viewer"]), 200)
    assert {(r["party"], r["text"]) for r in seen_us["readouts"]} == {
        (us.id, "US eyes only"), (ru.id, "RU readout for both")}
    assert {(r["party"], r["text"]) for r in seen_ru["readouts"]} == {(ru.id, "RU readout for both")}
    for seen in (seen_us, seen_ru):
        assert [m["text"] for m in seen["transcript"]] == ["We propose a corridor.", "Agreed."]
        assert seen["caller"]["party"] == us.id


def test_2022_freeze_and_stats(make_server):
    s = make_server(**OPTS)
    us, ru = pair(s)
    line = open_line(s, us, [ru], "2022")
    lid = line["id"]
    calls = []

    def call(level="senior", tok=None):
        c = H.expect_json(s.post("/v1/lines/%s/calls" % lid, tok or us.tok["senior"],
                                 {"level": level, "topic": "talk"}), 201)
        calls.append(c)
        return c

    def ack_checks():
        page = H.expect_json(s.get("/v1/lines/%s/messages" % lid, ru.tok["duty"],
                                   params={"limit": 1000}), 200)
        for m in page["items"]:
            if m["kind"] == "check":
                for p in (us, ru):
                    if copy_of(m, p)["state"] != "acknowledged":
                        H.expect_json(s.post("/v1/lines/%s/messages/%d/acknowledge" % (lid, m["seq"]),
                                             p.tok["duty"], {"by": "duty officer"}), 200)

    with s.events(ru.tok["senior"]) as ru_ev:
        # Day 1: a senior call rings out (missed), another is declined.
        call()
        advance(s, 121)
        c2 = call()
        H.expect_json(s.post("/v1/calls/%s/decline" % c2["id"], ru.tok["senior"],
                             {"reason": "not now"}), 200)
        advance(s, 86400 - 121)  # the first line check is due: acknowledged at once
        ack_checks()
        # Day 2 and 3: more missed calls while the duty desks acknowledge checks.
        for _ in range(2):
            call()
            advance(s, 86400)
            ack_checks()
        line_now = H.expect_json(s.get("/v1/lines/" + lid, us.tok["duty"]), 200)
        assert line_now["freeze"] is not None, line_now
        fz = ru_ev.wait_event(lambda e: e.type == "line.freeze")
        assert ej(fz)["line"] == lid and ej(fz)["level"] == "senior"
        # A senior call answered after 30 s clears the freeze.
        c = call()
        advance(s, 30)
        H.expect_json(s.post("/v1/calls/%s/answer" % c["id"], ru.tok["senior"], {"by": "X"}), 200)
        ru_ev.wait_event(lambda e: e.type == "line.freeze_cleared")
    assert H.expect_json(s.get("/v1/lines/" + lid, us.tok["duty"]), 200)["freeze"] is None
    st = H.expect_json(s.get("/v1/lines/%s/stats" % lid, us.tok["viewer"]), 200)
    sides = {x["party"]: x for x in st["sides"]}
    us_sen, ru_sen = sides[us.id]["levels"]["senior"], sides[ru.id]["levels"]["senior"]
    assert us_sen["calls_initiated"] == 5 and ru_sen["calls_initiated"] == 0
    assert ru_sen["calls_answered"] == 1 and ru_sen["calls_declined"] == 1
    assert ru_sen["calls_missed"] == 3, ru_sen
    assert abs(ru_sen["median_answer_s"] - 30.0) < 2.0, ru_sen
    assert ru_sen["last_answered_contact"] is not None and us_sen["last_answered_contact"] is not None
    for p in (us, ru):
        lc = sides[p.id]["line_checks"]
        assert lc["sent"] == 3 and lc["acknowledged"] == 3 and lc["failed"] == 0, lc
        assert lc["health"] == 1.0
        assert sides[p.id]["levels"]["duty"]["overdue_acks"] == 0
    # The longest senior silence: from the opening to the answer, ~3 days.
    assert st["senior_silence"]["longest_s"] > 3 * 86400 - 60
    assert st["senior_silence"]["current_s"] < 60


# ------------------------------------------------------------ escalation --


def test_urgent_escalates_and_suspended_line_still_carries_it(srv):
    us, ru = pair(srv)
    line = open_line(srv, us, [ru], "escalation")
    with srv.events(ru.tok["senior"]) as ru_ev, srv.events(us.tok["duty"]) as us_ev:
        m = send(srv, us.tok["duty"], line, {"type": "urgent", "level": "duty", "text": "SAM"})
        assert m["deadline"] is not None
        advance(srv, 119)
        assert copy_of(msg(srv, us.tok["viewer"], line, m["seq"]), ru)["escalations"] == []
        advance(srv, 2)
        esc = ru_ev.wait_event(lambda e: e.type == "message.escalated" and ej(e)["seq"] == m["seq"])
        assert ej(esc)["level"] == "senior" and ej(esc)["count"] == 1
        us_ev.wait_event(lambda e: e.type == "message.escalated" and ej(e)["seq"] == m["seq"])
        advance(srv, 300)
        c = copy_of(msg(srv, us.tok["viewer"], line, m["seq"]), ru)
        assert len(c["escalations"]) == 2 and c["state"] != "acknowledged"
        t = [H.parse_time(x) for x in c["escalations"]]
        assert abs((t[1] - t[0]).total_seconds() - 300) < 1
    entries = H.expect_json(srv.get("/v1/audit/entries", ru.tok["viewer"],
                                    params={"limit": 1000}), 200)["items"]
    assert any('"message.escalate"' in e["entry"] for e in entries)
    # Suspended: only urgent messages; no calls; urgent ones still escalate.
    H.expect_json(srv.post("/v1/lines/%s/suspend" % line["id"], ru.tok["senior"],
                           {"reason": "talks paused"}), 200)
    H.expect_problem(srv.post("/v1/lines/%s/messages" % line["id"], us.tok["duty"],
                              {"type": "warning", "level": "duty", "text": "x"}), 409, "suspended")
    H.expect_problem(srv.post("/v1/lines/%s/calls" % line["id"], us.tok["duty"],
                              {"level": "duty", "topic": "x"}), 409, "suspended")
    u = send(srv, us.tok["duty"], line, {"type": "urgent", "level": "duty", "text": "still urgent"})
    advance(srv, 121)
    assert len(copy_of(msg(srv, us.tok["viewer"], line, u["seq"]), ru)["escalations"]) == 1
    H.expect_json(srv.post("/v1/lines/%s/messages/%d/acknowledge" % (line["id"], u["seq"]),
                           ru.tok["duty"], {"by": "Petrov"}), 200)
    H.expect_json(srv.post("/v1/lines/%s/resume" % line["id"], ru.tok["party-admin"]), 200)
    send(srv, us.tok["duty"], line, {"type": "info", "level": "duty", "text": "back"})


# ---------------------------------------------------------------- notices --


def test_conflict_notice_and_its_acknowledgement(srv):
    us, ru = pair(srv)
    fr = srv.party(DESK_ROLES)
    line = open_line(srv, us, [ru, fr], "three")  # multilateral: fr must not see the notice
    op_a, op_b, view = srv.make_conflict(ru.tok["planner"], us.tok["planner"])
    cf = view["id"]
    items = H.expect_json(srv.get("/v1/lines/%s/messages" % line["id"], us.tok["duty"]), 200)["items"]
    notice = next(m for m in items if m["kind"] == "notice")
    assert notice["conflict"]["id"] == cf and notice["from"]["party"] is None
    assert {r["party"] for r in notice["recipients"]} == {us.id, ru.id}
    ru_notice = msg(srv, ru.tok["duty"], line, notice["seq"])
    assert ru_notice["conflict"]["own"]["operation"]["id"] == op_a["id"]
    assert "volumes" not in str(ru_notice["conflict"]["other"])  # never the other side's plan
    H.expect_status(srv.get("/v1/lines/%s/messages/%d" % (line["id"], notice["seq"]),
                            fr.tok["duty"]), 404)
    assert all(m["kind"] != "notice" for m in H.expect_json(
        srv.get("/v1/lines/%s/messages" % line["id"], fr.tok["duty"]), 200)["items"])
    # ru acknowledges the notice -> ru has acknowledged the conflict.
    H.expect_json(srv.post("/v1/lines/%s/messages/%d/acknowledge" % (line["id"], notice["seq"]),
                           ru.tok["duty"], {"by": "Petrov"}), 200)
    assert srv.conflict(ru.tok["duty"], cf)["own"]["acknowledged"] is not None
    # us acknowledges the conflict -> us's copy of the notice is acknowledged.
    H.expect_json(srv.post("/v1/conflicts/%s/acknowledge" % cf, us.tok["duty"]), 200)
    assert copy_of(msg(srv, us.tok["duty"], line, notice["seq"]), us)["state"] == "acknowledged"


# -------------------------------------------------------------- templates --


def warning_fields():
    return {"hazard": "live-firing",
            "area": H.circle(35.0, 36.0, 8000),
            "altitude": {"lower_m": 0, "upper_m": 12000},
            "window": {"start": H.at(1), "end": H.at(3)},
            "action": "avoid"}


def test_template_in_both_languages_and_validation(srv):
    us, ru = pair(srv)
    line = open_line(srv, us, [ru], "templates")
    m = send(srv, us.tok["duty"], line, {"type": "warning", "level": "duty",
                                         "template": "safety-of-flight-warning",
                                         "fields": warning_fields()})
    en = msg(srv, ru.tok["duty"], line, m["seq"], "en")["template"]
    ru_t = msg(srv, ru.tok["duty"], line, m["seq"], "ru-RU, en;q=0.5")["template"]
    assert en["locale"] == "en" and ru_t["locale"] == "ru"
    assert en["fields"] == ru_t["fields"] == m["template"]["fields"]
    assert en["rendering"] != ru_t["rendering"]
    assert "live firing" in en["rendering"] and "боевые стрельбы" in ru_t["rendering"]
    bad = [({"template": "no-such"}, "/template"),
           ({"template": "safety-of-flight-warning", "fields": {}}, "/fields/hazard"),
           ({"template": "safety-of-flight-warning",
             "fields": dict(warning_fields(), hazard="rain")}, "/fields/hazard"),
           ({"template": "safety-of-flight-warning",
             "fields": dict(warning_fields(), altitude={"lower_m": 5000, "upper_m": 100})},
            "/fields/altitude/upper_m"),
           ({"template": "safety-of-flight-warning",
             "fields": dict(warning_fields(), window={"start": H.at(3), "end": H.at(1)})},
            "/fields/window/end"),
           ({"template": "safety-of-flight-warning",
             "fields": dict(warning_fields(), area={"type": "circle"})}, "/fields/area"),
           ({"template": "safety-of-flight-warning",
             "fields": dict(warning_fields(), details=5)}, "/fields/details"),
           ({"text": "x", "fields": {}}, "/fields")]
    for extra, pointer in bad:
        body = dict({"type": "warning", "level": "duty"}, **extra)
        r = srv.post("/v1/lines/%s/messages" % line["id"], us.tok["duty"], body)
        H.expect_problem(r, 422, "validation")
        ptrs = [e["pointer"] for e in r.json()["errors"]]
        assert any(p.startswith(pointer) for p in ptrs), (extra, ptrs)


# ------------------------------------------------------ delivery, errors --


def test_delivery_states_and_errors(srv):
    us, ru = pair(srv)
    fr = srv.party(DESK_ROLES)
    line = open_line(srv, us, [ru], "delivery")
    with srv.events(us.tok["viewer"]) as us_ev:
        with srv.events(ru.tok["duty"]) as ru_desk:
            m = send(srv, us.tok["duty"], line, {"type": "request", "level": "duty", "text": "hi"})
            assert copy_of(m, ru)["state"] == "sent"
            ru_desk.wait_event(lambda e: e.type == "message.new" and ej(e)["seq"] == m["seq"])
            d = us_ev.wait_event(lambda e: e.type == "message.delivered")
            assert ej(d)["seq"] == m["seq"] and ej(d)["party"] == ru.id
        assert copy_of(msg(srv, us.tok["viewer"], line, m["seq"]), ru)["state"] == "delivered"
        # A fetch by a desk delivers too (and a viewer's fetch does not).
        m2 = send(srv, us.tok["duty"], line, {"type": "info", "level": "senior", "text": "2"})
        assert copy_of(msg(srv, ru.tok["viewer"], line, m2["seq"]), ru)["state"] == "sent"
        assert copy_of(msg(srv, ru.tok["duty"], line, m2["seq"]), ru)["state"] == "delivered"
        ack = H.expect_json(srv.post("/v1/lines/%s/messages/%d/acknowledge" % (line["id"], m["seq"]),
                                     ru.tok["duty"], {"by": "Petrov", "reply": "ok"}), 200)
        c = copy_of(ack, ru)
        assert c["state"] == "acknowledged" and c["acknowledged_by"] == "Petrov" and c["reply"] == "ok"
        us_ev.wait_event(lambda e: e.type == "message.acknowledged" and ej(e)["seq"] == m["seq"])
    path = "/v1/lines/%s/messages" % line["id"]
    H.expect_problem(srv.post(path + "/%d/acknowledge" % m["seq"], ru.tok["duty"], {"by": "P"}),
                     409, "invalid-transition")
    H.expect_problem(srv.post(path + "/%d/acknowledge" % m["seq"], us.tok["duty"], {"by": "P"}),
                     403, "forbidden")
    # A senior-level message is not the duty desk's to acknowledge.
    H.expect_problem(srv.post(path + "/%d/acknowledge" % m2["seq"], ru.tok["duty"], {"by": "P"}),
                     403, "forbidden")
    H.expect_problem(srv.post(path, us.tok["duty"], {"level": "duty", "text": "x"}), 422,
                     "validation", "/type")
    H.expect_problem(srv.post(path, us.tok["duty"], {"type": "info", "level": "boss", "text": "x"}),
                     422, "validation", "/level")
    H.expect_problem(srv.post(path, fr.tok["duty"], {"type": "info", "level": "duty", "text": "x"}),
                     404, "not-found")
    call = H.expect_json(srv.post("/v1/lines/%s/calls" % line["id"], us.tok["duty"],
                                  {"level": "duty", "topic": "x"}), 201)
    H.expect_json(srv.post("/v1/calls/%s/answer" % call["id"], ru.tok["duty"]), 200)
    H.expect_problem(srv.post("/v1/calls/%s/answer" % call["id"], ru.tok["duty"]), 409,
                     "invalid-transition")
    H.expect_problem(srv.post("/v1/calls/%s/readout" % call["id"], ru.tok["duty"],
                              {"visibility": "shared", "text": "x"}), 409, "invalid-transition")
    H.expect_json(srv.post("/v1/calls/%s/end" % call["id"], ru.tok["duty"]), 200)
    H.expect_problem(srv.get("/v1/calls/" + call["id"], fr.tok["duty"]), 404, "not-found")


def test_readout_on_someone_elses_call(srv):
    us, ru = pair(srv)
    fr = srv.party(DESK_ROLES)
    line = open_line(srv, us, [ru, fr], "multi")
    call = H.expect_json(srv.post("/v1/lines/%s/calls" % line["id"], us.tok["duty"],
                                  {"level": "duty", "topic": "x"}), 201)
    H.expect_json(srv.post("/v1/calls/%s/answer" % call["id"], ru.tok["duty"]), 200)
    H.expect_json(srv.post("/v1/calls/%s/end" % call["id"], us.tok["duty"]), 200)
    H.expect_problem(srv.post("/v1/calls/%s/readout" % call["id"], fr.tok["duty"],
                              {"visibility": "shared", "text": "x"}), 403, "forbidden")
    H.expect_json(srv.post("/v1/calls/%s/readout" % call["id"], ru.tok["duty"],
                           {"visibility": "shared", "text": "ru"}), 201)
    H.expect_problem(srv.post("/v1/calls/%s/readout" % call["id"], ru.tok["duty"],
                              {"visibility": "shared", "text": "again"}), 409, "exists")
    seen = H.expect_json(srv.get("/v1/calls/" + call["id"], fr.tok["viewer"]), 200)
    assert [r["party"] for r in seen["readouts"]] == [ru.id]


# ------------------------------------------------------------- the matrix --


def test_membership_and_role_matrix(srv):
    us, ru = pair(srv)
    out = srv.party(DESK_ROLES)
    line = open_line(srv, us, [ru], "matrix")
    lid = line["id"]
    m = send(srv, us.tok["duty"], line, {"type": "info", "level": "duty", "text": "x"})
    call = H.expect_json(srv.post("/v1/lines/%s/calls" % lid, us.tok["duty"],
                                  {"level": "duty", "topic": "x"}), 201)
    routes = [  # method, path, body, roles of a member that may
        ("GET", "/v1/lines/" + lid, None, DESK_ROLES),
        ("GET", "/v1/lines/%s/messages" % lid, None, DESK_ROLES),
        ("GET", "/v1/lines/%s/messages/%d" % (lid, m["seq"]), None, DESK_ROLES),
        ("GET", "/v1/lines/%s/calls" % lid, None, DESK_ROLES),
        ("GET", "/v1/lines/%s/stats" % lid, None, DESK_ROLES),
        ("GET", "/v1/calls/" + call["id"], None, DESK_ROLES),
        ("POST", "/v1/lines/%s/messages" % lid, {"type": "info", "level": "duty", "text": "m"},
         ("duty", "senior", "party-admin")),
        ("POST", "/v1/lines/%s/calls" % lid, {"level": "senior", "topic": "t"}, ("senior",)),
    ]
    for method, path, body, may in routes:
        r = srv.req(method, path, srv.admin, body if body is not None else srv._NO)
        H.expect_problem(r, 403, "forbidden")
        for role in DESK_ROLES:
            r = srv.req(method, path, out.tok[role], body if body is not None else srv._NO)
            H.expect_problem(r, 404, "not-found")
            r = srv.req(method, path, ru.tok[role], body if body is not None else srv._NO)
            if role in may:
                assert r.status_code in (200, 201), (method, path, role, H.describe(r))
            else:
                H.expect_problem(r, 403, "forbidden")
    # Proposing and accepting are the party-admin's; suspending also the senior desk's.
    for role in DESK_ROLES:
        r = srv.post("/v1/lines", us.tok[role], {"name": "x", "members": [ru.id]})
        assert r.status_code == (201 if role == "party-admin" else 403), (role, H.describe(r))
    # The duty desk answers a duty call; the senior desk does not.
    H.expect_problem(srv.post("/v1/calls/%s/answer" % call["id"], ru.tok["senior"]), 403,
                     "forbidden")
    H.expect_problem(srv.post("/v1/calls/%s/answer" % call["id"], us.tok["duty"]), 403,
                     "forbidden")


# --------------------------------------------------------------- presence --


def test_presence(srv):
    us, ru = pair(srv)
    line = open_line(srv, us, [ru], "presence")

    def desks(p):
        got = H.expect_json(srv.get("/v1/lines/" + line["id"], us.tok["viewer"]), 200)
        return next(m for m in got["members"] if m["party"]["id"] == p.id)["desks"]

    assert not desks(ru)["duty"]["present"] and not desks(ru)["senior"]["present"]
    with srv.events(ru.tok["duty"]):
        time.sleep(0.2)
        assert desks(ru)["duty"]["present"]
    H.expect_json(srv.post("/v1/presence", ru.tok["senior"]), 200)
    assert desks(ru)["senior"]["present"]
    H.expect_problem(srv.post("/v1/presence", ru.tok["planner"]), 403, "forbidden")
    advance(srv, 61)
    # The server notices the closed stream at its next heartbeat (1 s here).
    deadline = time.time() + 10
    while desks(ru)["duty"]["present"]:
        assert time.time() < deadline, "the closed stream still counts"
        time.sleep(0.1)
    d = desks(ru)
    assert not d["senior"]["present"] and d["senior"]["last_seen"] is not None


# ---------------------------------------------------------------- restart --


def test_delivery_survives_kill9(make_server):
    s = make_server(**OPTS)
    us, ru = pair(s)
    line = open_line(s, us, [ru], "restart")
    with s.events(ru.tok["duty"]) as st:
        first = send(s, us.tok["duty"], line, {"type": "info", "level": "duty", "text": "one"})
        ev = st.wait_event(lambda e: e.type == "message.new" and ej(e)["seq"] == first["seq"])
        last_id = ev.n
    deadline = time.time() + 10
    while copy_of(msg(s, us.tok["viewer"], line, first["seq"]), ru)["state"] != "delivered":
        assert time.time() < deadline, "never delivered"
        time.sleep(0.05)
    second = send(s, us.tok["duty"], line, {"type": "warning", "level": "duty", "text": "two"})
    H.expect_json(s.post("/v1/lines/%s/messages/%d/acknowledge" % (line["id"], first["seq"]),
                         ru.tok["duty"], {"by": "P"}), 200)
    s.kill9()
    s.start()
    assert copy_of(msg(s, us.tok["viewer"], line, first["seq"]), ru)["state"] == "acknowledged"
    assert copy_of(msg(s, us.tok["viewer"], line, second["seq"]), ru)["state"] == "sent"
    # The desk reconnects where it left off: it gets the message it missed,
    # and reaching it delivers it.
    with s.events(ru.tok["duty"], headers={"Last-Event-ID": str(last_id)}) as st:
        ev = st.wait_event(lambda e: e.type == "message.new" and ej(e)["seq"] == second["seq"])
        assert ej(ev)["text"] == "two"
    deadline = time.time() + 10
    while copy_of(msg(s, us.tok["viewer"], line, second["seq"]), ru)["state"] != "delivered":
        assert time.time() < deadline, "not delivered after the restart"
        time.sleep(0.05)
