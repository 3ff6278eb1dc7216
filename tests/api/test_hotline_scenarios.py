"""test_hotline_scenarios.py -- the hotline's stories of issue 4 against a
real server with the test clock (docs/hotline.md):

  * 2015: a senior call placed by one side and answered by the other, 50
    minutes long, with a transcript and one readout per side (one shared,
    one internal); each side sees exactly what it should, both ways round;
  * 2022: senior calls missed and declined for days while the duty desks
    keep acknowledging line checks; the freeze alert fires and clears; the
    contact record shows every figure, computed here from the clock moves
    and the times the server reported;
  * an urgent warning nobody acknowledges escalates at its deadline, again
    every --escalation-repeat, at most 100 times, with events and audit
    entries; a suspended line still carries and escalates urgent messages
    and refuses everything else;
  * a conflict opened through the operations API becomes a notice on the
    line with each side's own minimum-disclosure view; acknowledging either
    acknowledges the other; a third member never sees it; a resolved
    conflict's notice stops escalating.

The 2022 story has a server of its own (its figures count every timer that
fires); the others share one module server and never move its clock by
more than a few hours in all, so operations drawn at H.T0 (three days
ahead) stay in the future.
"""

import json

import pytest

import dcf_helpers as H
import hotline_helpers as L


@pytest.fixture(scope="module")
def srv(tmp_root):
    s = L.start_server(tmp_root, "hl-scen", line_check_interval="30d", freeze_after="30d")
    yield s
    L.stop_server(s)


# ------------------------------------------------------------------ 2015 --


@pytest.mark.parametrize("internal_side", ["us", "ru"])
def test_2015_senior_call_transcript_and_readouts(srv, internal_side):
    us, ru = L.parties(srv, 2, ["United States", "Russian Federation"])
    fr = srv.party(L.ROLES, name="Bystander")  # not on the line at all
    line = L.open_line(srv, us, [ru], "US-RU deconfliction line")
    lid = line["id"]
    us_ev = srv.events(us.tok["viewer"])
    ru_ev = srv.events(ru.tok["viewer"])
    try:
        call = L.start_call(srv, us.tok["senior"], line, "senior", "Air operations over Syria",
                            by="Secretary of Defense")
        assert call["id"].startswith("cal-") and call["line"] == lid
        assert call["state"] == "ringing" and call["level"] == "senior"
        assert call["caller"] == {"party": us.id, "by": "Secretary of Defense"}
        assert call["answered_at"] is None and call["answered_by"] is None
        assert call["declines"] == [] and call["transcript"] == [] and call["readouts"] == []
        assert L.secs(call["started_at"], call["ring_until"]) == L.SECONDS["ring_timeout"]
        # ru's desks ring; the caller's party is not called.
        ring = ru_ev.wait_event(L.is_call_event("call.ringing", call))
        assert L.data(ring)["level"] == "senior" and L.data(ring)["caller"]["party"] == us.id
        ans = L.call_act(srv, ru.tok["senior"], call, "answer", {"by": "Minister of Defence"})
        assert ans["state"] == "answered"
        assert ans["answered_by"] == {"party": ru.id, "by": "Minister of Defence"}
        for st in (us_ev, ru_ev):
            st.wait_event(L.is_call_event("call.answered", call))
        assert not any(e.type == "call.ringing" and L.data(e).get("id") == call["id"]
                       for e in L.drain(us_ev)), "the caller's own party rang"
        # The transcript: messages posted with the call, from both sides.
        said = [(us, "We propose a safety corridor north of the river."),
                (ru, "We agree to the corridor and to a daily check."),
                (us, "Confirmed. Our duty desks will exchange the details.")]
        for p, text in said:
            L.text_msg(srv, p.tok["senior"], line, text, "info", "senior", call=call["id"])
        L.advance(srv, 50 * 60)
        ended = L.call_act(srv, us.tok["senior"], call, "end")
        assert ended["state"] == "ended" and ended["ended_by"] == us.id
        assert ended["duration_s"] == pytest.approx(L.secs(ended["answered_at"], ended["ended_at"]),
                                                    abs=1e-6)
        assert ended["duration_s"] == pytest.approx(3000.0, abs=L.SLACK)
        for st in (us_ev, ru_ev):
            st.wait_event(L.is_call_event("call.ended", call))
        # Each side files its readout; one keeps it internal, the other shares.
        texts = {us.id: "US readout: corridor agreed; SecDef to brief allies.",
                 ru.id: "RU readout: corridor agreed in principle."}
        inner, outer = (us, ru) if internal_side == "us" else (ru, us)
        r1 = L.readout(srv, inner.tok["senior"], call, "internal", texts[inner.id], by="notetaker")
        assert [(r["party"], r["visibility"]) for r in r1["readouts"]] == [(inner.id, "internal")]
        L.readout(srv, outer.tok["senior"], call, "shared", texts[outer.id], by="notetaker")
        H.expect_problem(srv.post("/v1/calls/%s/readout" % call["id"], outer.tok["senior"],
                                  {"visibility": "shared", "text": "again"}), 409, "exists")
        # The internal readout's event goes to its own party only.
        inner_ev, outer_ev = (us_ev, ru_ev) if internal_side == "us" else (ru_ev, us_ev)
        e = inner_ev.wait_event(lambda e: e.type == "call.readout" and L.data(e)["party"] == inner.id)
        assert L.data(e)["visibility"] == "internal"
        for st in (us_ev, ru_ev):
            e = st.wait_event(lambda e: e.type == "call.readout" and L.data(e)["party"] == outer.id)
            assert L.data(e)["visibility"] == "shared"
        assert not any(e.type == "call.readout" and L.data(e)["party"] == inner.id
                       for e in L.drain(outer_ev)), "an internal readout reached the other side"
    finally:
        us_ev.close()
        ru_ev.close()

    views = {p.id: L.get_call(srv, p.tok["viewer"], call) for p in (us, ru)}
    for p in (us, ru):
        v = views[p.id]
        # Both sides see the same call...
        assert v["state"] == "ended" and v["caller"]["party"] == us.id
        assert v["answered_by"]["party"] == ru.id and v["ended_by"] == us.id
        assert v["duration_s"] == ended["duration_s"]
        assert [m["text"] for m in v["transcript"]] == [x[1] for x in said]
        assert [m["from"]["party"] for m in v["transcript"]] == [x[0].id for x in said]
        assert all(m["call"] == call["id"] and m["kind"] == "message" for m in v["transcript"])
        # ...and the readouts it may: its own, whatever the visibility, and
        # the other side's shared one; side by side.
        want = {(inner.id, "internal", texts[inner.id])} if p.id == inner.id else set()
        want.add((outer.id, "shared", texts[outer.id]))
        assert {(r["party"], r["visibility"], r["text"]) for r in v["readouts"]} == want, v["readouts"]
        for r in v["readouts"]:
            assert r["by"] == "notetaker" and L.t(r["filed_at"]) >= L.t(v["ended_at"])
        assert texts[inner.id] not in json.dumps(v) or p.id == inner.id
    # The call list shows the call without its transcript, to both sides.
    for p in (us, ru):
        page = H.expect_json(srv.get("/v1/lines/%s/calls" % lid, p.tok["viewer"]), 200)
        assert [c["id"] for c in page["items"]] == [call["id"]]
        assert "transcript" not in page["items"][0]
        assert texts[inner.id] not in json.dumps(page) or p.id == inner.id
    # Somebody who is not on the line sees nothing of it.
    H.expect_problem(srv.get("/v1/calls/" + call["id"], fr.tok["viewer"]), 404, "not-found")
    # The audit log (docs/audit.md): an internal readout's entry names only
    # its own party; a shared one has a second entry naming every member.
    for p in (us, ru, fr):
        got = {(e["action"], o["id"]) for e in L.audit_entries(srv, p.tok["viewer"])
               for o in e["objects"] if e["action"].startswith("call.readout")}
        want = set()
        if p.id == inner.id:
            want.add(("call.readout", "%s/%s" % (call["id"], inner.id)))
        if p is not fr:
            want.add(("call.readout.share", "%s/%s" % (call["id"], outer.id)))
            if p.id == outer.id:
                want.add(("call.readout", "%s/%s" % (call["id"], outer.id)))
        assert got == want, (p.id, got)
    for p in (us, ru):
        acts = [e["action"] for e in L.audit_entries(srv, p.tok["viewer"])
                if any(o["id"] == call["id"] for o in e["objects"])]
        assert acts == ["call.start", "call.answer", "call.end"], (p.id, acts)


# ------------------------------------------------------------------ 2022 --


def test_2022_calls_ignored_checks_acknowledged_freeze_and_stats(make_server):
    """Day by day, with exact figures.  Offsets are seconds after the line
    opened (T); the real time the requests take is the only slack, and
    every interval the stats report is also computed exactly from the times
    the server returned."""
    s = make_server(**L.opts())
    us, ru = L.parties(s, 2, ["United States", "Russian Federation"])
    line = L.open_line(s, us, [ru], "US-RU 2022")
    lid = line["id"]
    opened = line["opened_at"]
    assert L.secs(opened, line["next_check_at"]) == 86400
    assert line["freeze"] is None
    us_sen_ev = s.events(us.tok["senior"])
    ru_sen_ev = s.events(ru.tok["senior"])
    calls = {}
    acks = {us.id: {"duty": [], "senior": []}, ru.id: {"duty": [], "senior": []}}

    def note_ack(party, level, m):
        c = L.copy_of(m, party)
        acks[party.id][level].append(L.secs(m["sent_at"], c["acknowledged_at"]))

    def checks():
        return [m for m in L.list_msgs(s, us.tok["viewer"], line) if m["kind"] == "check"]

    try:
        # ---- day 1 (T+0): a senior call rings out.
        c1 = L.start_call(s, us.tok["senior"], line, "senior", "Ukraine: air activity near the border")
        L.advance(s, 121)
        c1 = L.get_call(s, us.tok["viewer"], c1)
        assert c1["state"] == "missed" and L.same_time(c1["missed_at"], c1["ring_until"]), c1
        ru_sen_ev.wait_event(L.is_call_event("call.missed", c1))
        # T+121: another is declined with a reason.
        c2 = L.start_call(s, us.tok["senior"], line, "senior", "Second attempt")
        c2 = L.call_act(s, ru.tok["senior"], c2, "decline", {"reason": "no instructions"})
        assert c2["state"] == "declined"
        assert [(d["party"], d["reason"]) for d in c2["declines"]] == [(ru.id, "no instructions")]
        # ru places a senior call of its own, which us declines without a reason.
        c3 = L.start_call(s, ru.tok["senior"], line, "senior", "Counter-proposal")
        c3 = L.call_act(s, us.tok["senior"], c3, "decline", {})
        assert c3["state"] == "declined" and c3["declines"][0]["party"] == us.id
        # Working level keeps talking: a duty call answered after 15 s, 10 minutes long.
        d1 = L.start_call(s, us.tok["duty"], line, "duty", "Daily deconfliction")
        L.advance(s, 15)
        d1 = L.call_act(s, ru.tok["duty"], d1, "answer", {"by": "Lt Col Ivanov"})
        assert L.secs(d1["started_at"], d1["answered_at"]) == pytest.approx(15, abs=L.SLACK)
        L.advance(s, 600)
        d1 = L.call_act(s, us.tok["duty"], d1, "end")
        # A duty warning acknowledged after 40 s; a duty request never acknowledged;
        # a senior info message (no deadline) that us's senior desk acknowledges after 60 s.
        m1 = L.text_msg(s, us.tok["duty"], line, "Exercise in sector 4", "warning", "duty")
        L.advance(s, 40)
        note_ack(ru, "duty", L.ack(s, ru.tok["duty"], line, m1["seq"], "Maj Petrov"))
        m2 = L.text_msg(s, us.tok["duty"], line, "Please confirm your patrol times", "request",
                        "duty")
        assert L.secs(m2["sent_at"], m2["deadline"]) == L.ACK_TIME["request"]
        m3 = L.text_msg(s, ru.tok["senior"], line, "Our minister is travelling", "info", "senior")
        assert m3["deadline"] is None
        L.advance(s, 60)
        note_ack(us, "senior", L.ack(s, us.tok["senior"], line, m3["seq"], "Chief of Staff"))
        calls.update(c1=c1, c2=c2, c3=c3, d1=d1)

        # ---- T+1d+30: the first line check, acknowledged by both duty desks 30 s after.
        t_now = L.secs(opened, L.now(s))
        L.advance(s, 86400 + 30 - t_now)
        k = checks()
        assert len(k) == 1, k
        k1 = k[0]
        assert L.secs(opened, k1["sent_at"]) == 86400
        assert k1["type"] == "urgent" and k1["level"] == "duty" and k1["from"] == {"party": None}
        assert {r["party"] for r in k1["recipients"]} == {us.id, ru.id}
        assert k1["sth"] is not None and "root_hash" in k1["sth"], k1
        sths = H.expect_json(s.get("/v1/audit/sths", us.tok["viewer"], params={"limit": 1000}),
                             200)["items"]
        assert k1["sth"] in sths, (k1["sth"], sths[-3:])
        for p in (us, ru):
            note_ack(p, "duty", L.ack(s, p.tok["duty"], line, k1["seq"], "duty officer"))

        # ---- day 2: a senior call rings out; T+2d+10: the check, acknowledged 10 s after.
        c4 = L.start_call(s, us.tok["senior"], line, "senior", "Day two")
        L.advance(s, 121)
        calls["c4"] = c4 = L.get_call(s, us.tok["viewer"], c4)
        assert c4["state"] == "missed"
        L.advance(s, 2 * 86400 + 10 - L.secs(opened, L.now(s)))
        k2 = checks()[1]
        assert L.secs(opened, k2["sent_at"]) == 2 * 86400
        for p in (us, ru):
            note_ack(p, "duty", L.ack(s, p.tok["duty"], line, k2["seq"], "duty officer"))

        # ---- day 3: a senior call declined; no freeze yet just before T+3d.
        c5 = L.start_call(s, us.tok["senior"], line, "senior", "Day three")
        calls["c5"] = L.call_act(s, ru.tok["senior"], c5, "decline", {"reason": "later"})
        L.advance(s, 3 * 86400 - 5 - L.secs(opened, L.now(s)))
        assert L.get_line(s, us.tok["viewer"], line)["freeze"] is None
        # T+3d+50: the freeze alert has fired (at T+3d exactly); us acknowledges
        # the third check in time, ru only after it escalated once.
        L.advance(s, 55)
        fz_line = L.get_line(s, ru.tok["viewer"], line)
        assert fz_line["freeze"] is not None, fz_line
        assert L.same_time(fz_line["freeze"]["since"], opened)
        assert L.secs(opened, fz_line["freeze"]["alerted_at"]) == 3 * 86400
        for st in (us_sen_ev, ru_sen_ev):
            fz = st.wait_event(L.is_line_event("line.freeze", lid))
            assert L.data(fz)["level"] == "senior" and L.same_time(L.data(fz)["since"], opened)
        st_fz = H.expect_json(s.get("/v1/lines/%s/stats" % lid, us.tok["viewer"]), 200)
        assert st_fz["freeze"] == fz_line["freeze"], st_fz["freeze"]
        k3 = checks()[2]
        assert L.secs(opened, k3["sent_at"]) == 3 * 86400
        note_ack(us, "duty", L.ack(s, us.tok["duty"], line, k3["seq"], "duty officer"))
        L.advance(s, 150)  # T+3d+200: ru's copy escalated at T+3d+120
        k3 = L.get_msg(s, us.tok["viewer"], line, k3["seq"])
        assert len(L.copy_of(k3, ru)["escalations"]) == 1
        assert L.copy_of(k3, us)["escalations"] == []
        note_ack(ru, "duty", L.ack(s, ru.tok["duty"], line, k3["seq"], "duty officer"))
        assert L.get_line(s, us.tok["viewer"], line)["freeze"] is not None

        # ---- an answered senior call clears the freeze: answered after 45 s, 5 minutes long.
        c6 = L.start_call(s, us.tok["senior"], line, "senior", "Direct talks")
        L.advance(s, 45)
        c6 = L.call_act(s, ru.tok["senior"], c6, "answer", {"by": "Chief of General Staff"})
        for st in (us_sen_ev, ru_sen_ev):
            cl = st.wait_event(L.is_line_event("line.freeze_cleared", lid))
            assert L.data(cl)["level"] == "senior" and L.same_time(L.data(cl)["since"], opened)
        assert L.get_line(s, us.tok["viewer"], line)["freeze"] is None
        L.advance(s, 300)
        calls["c6"] = c6 = L.call_act(s, us.tok["senior"], c6, "end")
        # Exactly one freeze and one clearing went out.
        for st in (us_sen_ev, ru_sen_ev):
            evs = L.drain(st)
            assert sum(e.type == "line.freeze" for e in evs) == 1, evs
            assert sum(e.type == "line.freeze_cleared" for e in evs) == 1, evs
    finally:
        us_sen_ev.close()
        ru_sen_ev.close()

    st = H.expect_json(s.get("/v1/lines/%s/stats" % lid, ru.tok["viewer"]), 200)
    st_us = H.expect_json(s.get("/v1/lines/%s/stats" % lid, us.tok["viewer"]), 200)
    assert st_us["sides"] == st["sides"]  # one record, the same for both sides
    assert st["line"] == lid and st["freeze"] is None
    sides = {x["party"]: x for x in st["sides"]}
    assert set(sides) == {us.id, ru.id}
    c6_answer = c6["answered_at"]
    d1_answer = calls["d1"]["answered_at"]

    def level(p, lv):
        return sides[p.id]["levels"][lv]

    expect = {
        (us.id, "senior"): dict(calls_initiated=5, calls_answered=0, calls_declined=1,
                                calls_missed=0, median_answer_s=None, overdue_acks=0,
                                median_ack_s=L.median(acks[us.id]["senior"]),
                                last_answered_contact=c6_answer),
        (ru.id, "senior"): dict(calls_initiated=1, calls_answered=1, calls_declined=2,
                                calls_missed=2, overdue_acks=0, median_ack_s=None,
                                median_answer_s=L.secs(c6["started_at"], c6_answer),
                                last_answered_contact=c6_answer),
        (us.id, "duty"): dict(calls_initiated=1, calls_answered=0, calls_declined=0,
                              calls_missed=0, median_answer_s=None, overdue_acks=0,
                              median_ack_s=L.median(acks[us.id]["duty"]),
                              last_answered_contact=d1_answer),
        (ru.id, "duty"): dict(calls_initiated=0, calls_answered=1, calls_declined=0,
                              calls_missed=0, overdue_acks=1,  # the request m2
                              median_ack_s=L.median(acks[ru.id]["duty"]),
                              median_answer_s=L.secs(calls["d1"]["started_at"], d1_answer),
                              last_answered_contact=d1_answer),
    }
    # The same figures from the clock moves alone.
    assert expect[(ru.id, "senior")]["median_answer_s"] == pytest.approx(45, abs=L.SLACK)
    assert expect[(ru.id, "duty")]["median_answer_s"] == pytest.approx(15, abs=L.SLACK)
    assert expect[(us.id, "senior")]["median_ack_s"] == pytest.approx(60, abs=L.SLACK)
    assert expect[(us.id, "duty")]["median_ack_s"] == pytest.approx(30, abs=L.SLACK)  # 30, 10, 50
    assert expect[(ru.id, "duty")]["median_ack_s"] == pytest.approx(35, abs=L.SLACK)  # 40 30 10 200
    for (pid, lv), want in expect.items():
        got = sides[pid]["levels"][lv]
        assert set(got) == set(want), (pid, lv, got)
        for k, v in want.items():
            if k == "last_answered_contact":
                assert got[k] is not None and L.same_time(got[k], v), (pid, lv, k, got)
            elif isinstance(v, float):
                assert got[k] == pytest.approx(v, abs=1e-5), (pid, lv, k, got)
            else:
                assert got[k] == v, (pid, lv, k, got)
    assert level(us, "senior")["calls_initiated"] == 5  # the story: five senior calls from us
    assert sides[us.id]["line_checks"] == {"sent": 3, "acknowledged": 3, "failed": 0, "health": 1.0}
    lc = sides[ru.id]["line_checks"]
    assert (lc["sent"], lc["acknowledged"], lc["failed"]) == (3, 3, 1), lc
    assert lc["health"] == pytest.approx(2.0 / 3.0, abs=1e-6), lc
    # Senior silence: from the opening to the one answered senior call (~3 days
    # and 5 minutes), then from it to now (the 5-minute call's length).
    sil = st["senior_silence"]
    assert sil["longest_s"] == pytest.approx(L.secs(opened, c6_answer), abs=1e-5)
    assert sil["longest_s"] == pytest.approx(3 * 86400 + 245, abs=L.SLACK)
    assert L.same_time(sil["since"], c6_answer)
    assert sil["current_s"] == pytest.approx(L.secs(c6_answer, st["at"]), abs=1e-5)
    assert sil["current_s"] == pytest.approx(300, abs=L.SLACK)
    # The server's own audit entries (no actor), timed when they fell due.
    own = [e for e in L.audit_entries(s, us.tok["viewer"]) if e["actor"]["token"] is None
           and any(o["id"] in (lid, calls["c1"]["id"], calls["c4"]["id"]) for o in e["objects"])]
    got = [(e["action"], L.t(e["at"])) for e in own]
    want = [("call.miss", L.t(calls["c1"]["ring_until"])), ("call.miss", L.t(c4["ring_until"])),
            ("line.freeze", L.plus(opened, 3 * 86400)), ("line.freeze_clear", L.t(c6_answer))]
    assert sorted(got, key=lambda x: x[1]) == want, got
    assert all(e["actor"]["party"] is None for e in own if e["action"] != "line.freeze_clear")
    # The calls as the record keeps them.
    page = H.expect_json(s.get("/v1/lines/%s/calls" % lid, us.tok["viewer"],
                               params={"limit": 100}), 200)
    states = {c["id"]: c["state"] for c in page["items"]}
    assert states == {calls["c1"]["id"]: "missed", calls["c2"]["id"]: "declined",
                      calls["c3"]["id"]: "declined", calls["d1"]["id"]: "ended",
                      calls["c4"]["id"]: "missed", calls["c5"]["id"]: "declined",
                      calls["c6"]["id"]: "ended"}, states


# ------------------------------------------------------------ escalation --


def _esc_events(stream, line, seq):
    return [e for e in L.drain(stream) if L.is_msg_event("message.escalated", line, seq)(e)]


def test_urgent_warning_nobody_acknowledges_escalates(srv):
    us, ru = L.parties(srv)
    line = L.open_line(srv, us, [ru], "escalation")
    ru_ev = srv.events(ru.tok["senior"])
    us_ev = srv.events(us.tok["viewer"])
    try:
        m = L.text_msg(srv, us.tok["duty"], line, "SAM site active, leave sector 7 now", "urgent",
                       "duty")
        assert L.secs(m["sent_at"], m["deadline"]) == L.ACK_TIME["urgent"]
        assert L.copy_of(m, ru)["escalations"] == []
        # One second before the deadline: nothing.
        L.advance(srv, L.secs(L.now(srv), m["deadline"]) - 1)
        assert L.copy_of(L.get_msg(srv, us.tok["viewer"], line, m["seq"]), ru)["escalations"] == []
        assert _esc_events(ru_ev, line, m["seq"]) == []
        # At the deadline: it escalates, recorded at the deadline itself.
        L.advance(srv, 2)
        c = L.copy_of(L.get_msg(srv, us.tok["viewer"], line, m["seq"]), ru)
        assert len(c["escalations"]) == 1 and L.same_time(c["escalations"][0], m["deadline"]), c
        assert c["state"] != "acknowledged"
        for st in (ru_ev, us_ev):
            e = st.wait_event(L.is_msg_event("message.escalated", line, m["seq"], ru))
            d = L.data(e)
            assert d["level"] == "senior" and d["count"] == 1, d
            assert L.same_time(d["deadline"], m["deadline"])
        # Repeats every --escalation-repeat: 4 more within 20 minutes.
        for i in range(4):
            L.advance(srv, L.SECONDS["escalation_repeat"])
        c = L.copy_of(L.get_msg(srv, us.tok["viewer"], line, m["seq"]), ru)
        assert len(c["escalations"]) == 5, c
        for i, x in enumerate(c["escalations"]):
            assert L.secs(m["deadline"], x) == i * L.SECONDS["escalation_repeat"], c["escalations"]
        for st in (ru_ev, us_ev):
            counts = [L.data(e)["count"] for e in _esc_events(st, line, m["seq"])]
            assert counts == [1, 2, 3, 4, 5], counts
        # The audit log has one message.escalate entry per escalation, which
        # both parties can read.
        for p in (ru, us):
            copy_id = "%s/%d/%s" % (line["id"], m["seq"], ru.id)
            esc = [e for e in L.audit_entries(srv, p.tok["viewer"])
                   if e["action"] == "message.escalate"
                   and any(o["id"] == copy_id for o in e["objects"])]
            assert [L.t(e["at"]) for e in esc] == [L.t(x) for x in c["escalations"]], (p.id, esc)
            for e in esc:
                assert e["actor"] == {"party": None, "token": None}, e
                assert [o["type"] for o in e["objects"]] == ["message-copy"], e
                assert sorted(e["parties"]) == sorted([us.id, ru.id]), e
        # At most 100 times, however long nobody answers (the clock moved one
        # repeat at a time: see test_a_clock_jump_runs_every_escalation_due).
        for i in range(100 - 5 + 3):
            L.advance(srv, L.SECONDS["escalation_repeat"])
        c = L.copy_of(L.get_msg(srv, us.tok["viewer"], line, m["seq"]), ru)
        assert len(c["escalations"]) == 100, len(c["escalations"])
        assert L.secs(m["deadline"], c["escalations"][-1]) == 99 * L.SECONDS["escalation_repeat"]
        L.advance(srv, 3600)
        assert len(L.copy_of(L.get_msg(srv, us.tok["viewer"], line, m["seq"]), ru)["escalations"]) == 100
        # Acknowledging it still works, and ends the story.
        done = L.ack(srv, ru.tok["senior"], line, m["seq"], "Gen. Petrov", "we are leaving sector 7")
        assert L.copy_of(done, ru)["state"] == "acknowledged"
        us_ev.wait_event(L.is_msg_event("message.acknowledged", line, m["seq"], ru))
    finally:
        ru_ev.close()
        us_ev.close()


def test_acknowledged_in_time_never_escalates(srv):
    us, ru = L.parties(srv)
    line = L.open_line(srv, us, [ru], "in time")
    w = L.text_msg(srv, us.tok["senior"], line, "Exercise tomorrow", "warning", "senior")
    assert L.secs(w["sent_at"], w["deadline"]) == L.ACK_TIME["warning"]
    r = L.text_msg(srv, us.tok["duty"], line, "Send your patrol times", "request", "duty")
    assert L.secs(r["sent_at"], r["deadline"]) == L.ACK_TIME["request"]
    i = L.text_msg(srv, us.tok["duty"], line, "FYI", "info", "duty")
    assert i["deadline"] is None
    L.advance(srv, 590)
    L.ack(srv, ru.tok["senior"], line, w["seq"], "Col. Orlov")
    L.ack(srv, ru.tok["duty"], line, r["seq"], "Maj. Sokolov")
    L.advance(srv, 3 * 3600)
    for seq in (w["seq"], r["seq"], i["seq"]):
        assert L.copy_of(L.get_msg(srv, us.tok["viewer"], line, seq), ru)["escalations"] == []


def test_suspended_line_carries_and_escalates_urgent_only(srv):
    us, ru = L.parties(srv)
    line = L.open_line(srv, us, [ru], "suspension")
    lid = line["id"]
    us_ev = srv.events(us.tok["viewer"])
    try:
        sus = H.expect_json(srv.post("/v1/lines/%s/suspend" % lid, ru.tok["senior"],
                                     {"reason": "talks paused by the ministry"}), 200)
        mine = L.member(sus, ru)["suspended"]
        assert mine is not None and mine["reason"] == "talks paused by the ministry"
        assert L.member(sus, us)["suspended"] is None
        e = us_ev.wait_event(L.is_line_event("line.suspended", lid))
        assert L.data(e)["party"] == ru.id and L.data(e)["reason"] == "talks paused by the ministry"
        # The other side sees it too.
        assert L.member(L.get_line(srv, us.tok["viewer"], line), ru)["suspended"]["reason"] == \
            "talks paused by the ministry"
        # Non-urgent messages and new calls: 409 suspended, from either side, at any level.
        for who in (us, ru):
            for typ in ("info", "request", "warning"):
                H.expect_problem(srv.post(L.msgs_path(line), who.tok["duty"],
                                          {"type": typ, "level": "duty", "text": "x"}),
                                 409, "suspended")
            for lv in L.DESKS:
                H.expect_problem(srv.post("/v1/lines/%s/calls" % lid, who.tok[lv],
                                          {"level": lv, "topic": "x"}), 409, "suspended")
        # Urgent ones are carried, delivered and escalate.
        with srv.events(ru.tok["duty"]) as desk:
            u = L.text_msg(srv, us.tok["duty"], line, "Missile launch warning", "urgent", "duty")
            desk.wait_event(L.is_msg_event("message.new", line, u["seq"]))
            us_ev.wait_event(L.is_msg_event("message.delivered", line, u["seq"], ru))
        assert L.copy_of(L.get_msg(srv, us.tok["viewer"], line, u["seq"]), ru)["state"] == "delivered"
        L.advance(srv, L.ACK_TIME["urgent"] + 1)
        c = L.copy_of(L.get_msg(srv, us.tok["viewer"], line, u["seq"]), ru)
        assert len(c["escalations"]) == 1 and L.same_time(c["escalations"][0], u["deadline"])
        us_ev.wait_event(L.is_msg_event("message.escalated", line, u["seq"], ru))
        # The suspending side may send urgent messages too.
        u2 = L.text_msg(srv, ru.tok["duty"], line, "Acknowledge our launch notice", "urgent", "duty")
        L.ack(srv, us.tok["duty"], line, u2["seq"], "Capt. Smith")
        L.ack(srv, ru.tok["duty"], line, u["seq"], "Maj. Petrov")
        # Suspending twice is not a transition; resuming ends it.
        H.expect_problem(srv.post("/v1/lines/%s/suspend" % lid, ru.tok["party-admin"],
                                  {"reason": "again"}), 409, "invalid-transition")
        H.expect_problem(srv.post("/v1/lines/%s/resume" % lid, us.tok["senior"]), 409,
                         "invalid-transition")
        res = H.expect_json(srv.post("/v1/lines/%s/resume" % lid, ru.tok["party-admin"]), 200)
        assert L.member(res, ru)["suspended"] is None
        us_ev.wait_event(L.is_line_event("line.resumed", lid))
        L.text_msg(srv, us.tok["duty"], line, "back to normal", "info", "duty")
        L.start_call(srv, us.tok["duty"], line, "duty", "after the pause")
    finally:
        us_ev.close()


# ---------------------------------------------------------------- notices --


def _notices(s, tok, line):
    return [m for m in L.list_msgs(s, tok, line) if m["kind"] == "notice"]


def test_conflict_notice_minimum_disclosure_and_acknowledgement(srv):
    us, ru, fr = L.parties(srv, 3)
    line = L.open_line(srv, us, [ru, fr], "three-party line")  # no bilateral line: this one
    fr_ev = srv.events(fr.tok["viewer"])
    side_ev = {us.id: srv.events(us.tok["viewer"]), ru.id: srv.events(ru.tok["viewer"])}
    try:
        op_us, op_ru, ru_view = srv.make_conflict(us.tok["planner"], ru.tok["planner"])
        cf = ru_view["id"]
        # Each side's message.new carries the notice as that side sees it.
        for p, own_op, other_op in ((us, op_us, op_ru), (ru, op_ru, op_us)):
            e = side_ev[p.id].wait_event(lambda e: e.type == "message.new"
                                         and L.data(e).get("kind") == "notice")
            d = L.data(e)
            assert d["line"] == line["id"] and d["conflict"]["id"] == cf, d
            assert d["conflict"]["own"]["operation"]["id"] == own_op["id"], (p.id, d)
            assert other_op["id"] not in e.raw, (p.id, e.raw)
        seen = {}
        for p, own_op, other_op in ((us, op_us, op_ru), (ru, op_ru, op_us)):
            ns = _notices(srv, p.tok["duty"], line)
            assert len(ns) == 1, ns
            n = ns[0]
            assert n["type"] == "warning" and n["level"] == "duty", n
            assert n["from"] == {"party": None}
            assert L.secs(n["sent_at"], n["deadline"]) == L.ACK_TIME["warning"]
            assert {r["party"] for r in n["recipients"]} == {us.id, ru.id}
            v = n["conflict"]
            assert v["id"] == cf and v["own"]["operation"]["id"] == own_op["id"]
            view = srv.conflict(p.tok["viewer"], cf)
            for k in ("id", "state", "opened_at", "other", "overlap", "separation"):
                assert v[k] == view[k], (p.id, k, v[k], view[k])
            assert v["own"]["acknowledged"] is None and v["own"]["accepted"] is None
            # Minimum disclosure: the other side's plan is nowhere in it.
            assert "operation" not in v["other"] and "kind" not in v["other"], v["other"]
            assert other_op["id"] not in json.dumps(n), (p.id, n)
            seen[p.id] = n
        assert seen[us.id]["seq"] == seen[ru.id]["seq"]
        seq = seen[us.id]["seq"]
        # The third member sees neither the notice nor an event about it.
        assert _notices(srv, fr.tok["duty"], line) == []
        H.expect_problem(srv.get("%s/%d" % (L.msgs_path(line), seq), fr.tok["duty"]), 404,
                         "not-found")
        H.expect_problem(srv.post("%s/%d/acknowledge" % (L.msgs_path(line), seq), fr.tok["duty"],
                                  {"by": "x"}), 404, "not-found")
        assert not any(L.data(e).get("seq") == seq for e in L.drain(fr_ev)
                       if e.type.startswith("message.")), fr_ev.events()
        # ru acknowledges the notice: ru has acknowledged the conflict.
        got = L.ack(srv, ru.tok["duty"], line, seq, "Maj. Petrov", "we will climb")
        assert L.copy_of(got, ru)["state"] == "acknowledged"
        view = srv.conflict(ru.tok["viewer"], cf)
        assert view["own"]["acknowledged"] is not None, view
        assert srv.conflict(us.tok["viewer"], cf)["other"]["acknowledged"] is True
        assert srv.conflict(us.tok["viewer"], cf)["own"]["acknowledged"] is None
        # us acknowledges the conflict: us's copy of the notice is acknowledged.
        H.expect_json(srv.post("/v1/conflicts/%s/acknowledge" % cf, us.tok["duty"]), 200)
        n = L.get_msg(srv, us.tok["viewer"], line, seq)
        assert L.copy_of(n, us)["state"] == "acknowledged", n
        assert srv.conflict(us.tok["viewer"], cf)["state"] == "acknowledged"
        # Both acknowledged in time: no escalation later.
        L.advance(srv, 2 * L.ACK_TIME["warning"])
        n = L.get_msg(srv, us.tok["viewer"], line, seq)
        assert all(r["escalations"] == [] for r in n["recipients"]), n
    finally:
        fr_ev.close()
        for st in side_ev.values():
            st.close()


def test_notice_goes_to_the_bilateral_line_and_stops_escalating_when_resolved(srv):
    a, b, c = L.parties(srv, 3)
    multi = L.open_line(srv, a, [b, c], "multilateral first")
    bi = L.open_line(srv, b, [a], "bilateral second")
    op_a, op_b, b_view = srv.make_conflict(a.tok["planner"], b.tok["planner"])
    cf = b_view["id"]
    assert _notices(srv, a.tok["duty"], multi) == []
    ns = _notices(srv, b.tok["duty"], bi)
    assert len(ns) == 1 and ns[0]["conflict"]["id"] == cf, ns
    seq = ns[0]["seq"]
    # Acknowledging the conflict from the senior desk acknowledges b's notice.
    H.expect_json(srv.post("/v1/conflicts/%s/acknowledge" % cf, b.tok["senior"]), 200)
    assert L.copy_of(L.get_msg(srv, b.tok["viewer"], bi, seq), b)["state"] == "acknowledged"
    # a never acknowledges: its copy escalates at the deadline...
    L.advance(srv, L.ACK_TIME["warning"] + 1)
    n = L.get_msg(srv, a.tok["viewer"], bi, seq)
    assert len(L.copy_of(n, a)["escalations"]) == 1, n
    # ...until the conflict resolves; then the notice stays as it was.
    H.expect_json(srv.post("/v1/operations/%s/cancel" % op_b["id"], b.tok["planner"]), 200)
    assert srv.conflict(a.tok["viewer"], cf)["state"] == "resolved"
    L.advance(srv, 4 * L.SECONDS["escalation_repeat"])
    n2 = L.get_msg(srv, a.tok["viewer"], bi, seq)
    assert L.copy_of(n2, a)["escalations"] == L.copy_of(n, a)["escalations"]
    assert L.copy_of(n2, a)["state"] == L.copy_of(n, a)["state"] != "acknowledged"
    assert L.copy_of(n2, b)["state"] == "acknowledged"


def test_a_reopened_conflict_gets_a_new_notice(srv):
    a, b = L.parties(srv)
    line = L.open_line(srv, a, [b], "reopen")
    center = H.area()
    op_a, op_b, view = srv.make_conflict(a.tok["planner"], b.tok["planner"], center=center)
    cf = view["id"]
    first = _notices(srv, a.tok["duty"], line)
    assert len(first) == 1
    L.ack(srv, a.tok["duty"], line, first[0]["seq"], "A duty")
    H.expect_json(srv.post("/v1/conflicts/%s/acknowledge" % cf, b.tok["duty"]), 200)
    assert srv.conflict(a.tok["viewer"], cf)["state"] == "acknowledged"

    def move(op, dlat):
        body = H.op_body(center, dlat=dlat)
        return H.expect_json(srv.put("/v1/operations/" + op["id"], b.tok["planner"], body,
                                     headers={"If-Match": '"%d"' % op["version"]}), 200)

    op_b = move(op_b, 0.5)  # far away: resolved, no notice
    assert srv.conflict(a.tok["viewer"], cf)["state"] == "resolved"
    assert len(_notices(srv, a.tok["duty"], line)) == 1
    op_b = move(op_b, 0.01)  # back: the same conflict opens again
    v = srv.conflict(a.tok["viewer"], cf)
    assert v["state"] == "open" and v["own"]["acknowledged"] is None, v
    ns = _notices(srv, a.tok["viewer"], line)  # a viewer's read delivers nothing
    assert len(ns) == 2 and ns[1]["seq"] > ns[0]["seq"], ns
    assert ns[1]["conflict"]["id"] == cf and ns[1]["conflict"]["state"] == "open"
    assert all(r["state"] == "sent" and r["escalations"] == [] for r in ns[1]["recipients"]), ns[1]
    # The first notice stays as it was: acknowledged by both.
    assert all(r["state"] == "acknowledged" for r in ns[0]["recipients"]), ns[0]
    # The new notice works like the first.
    L.ack(srv, b.tok["senior"], line, ns[1]["seq"], "B senior")
    assert srv.conflict(b.tok["viewer"], cf)["own"]["acknowledged"] is not None


# ------------------------------------------------ line checks and freeze --


def test_line_checks_go_on_while_suspended_and_failures_count(make_server):
    s = make_server(**L.opts(line_check_interval="1h", freeze_after="30d"))
    us, ru = L.parties(s)
    line = L.open_line(s, us, [ru], "checks")
    H.expect_json(s.post("/v1/lines/%s/suspend" % line["id"], us.tok["party-admin"],
                         {"reason": "maintenance"}), 200)
    with s.events(ru.tok["duty"]) as desk:
        L.advance(s, 3600 + 1)
        e = desk.wait_event(lambda e: e.type == "message.new" and L.data(e)["kind"] == "check")
        k = L.data(e)
        assert k["line"] == line["id"] and L.secs(line["opened_at"], k["sent_at"]) == 3600
        # The delivery is recorded in its own write after the event reached
        # the desk; its event says when it is durable.
        L.seen_or_wait(desk, L.is_msg_event("message.delivered", line, k["seq"], ru))
    k = L.get_msg(s, us.tok["viewer"], line, k["seq"])
    assert L.copy_of(k, ru)["state"] == "delivered" and L.copy_of(k, us)["state"] == "sent"
    # Nobody acknowledges: both copies escalate; the checks count as failed.
    L.advance(s, L.ACK_TIME["urgent"])
    k = L.get_msg(s, us.tok["viewer"], line, k["seq"])
    assert [len(r["escalations"]) for r in k["recipients"]] == [1, 1], k["recipients"]
    L.ack(s, us.tok["duty"], line, k["seq"], "late")
    st = H.expect_json(s.get("/v1/lines/%s/stats" % line["id"], ru.tok["viewer"]), 200)
    lc = {x["party"]: x["line_checks"] for x in st["sides"]}
    assert lc[us.id] == {"sent": 1, "acknowledged": 1, "failed": 1, "health": 0.0}, lc
    assert lc[ru.id] == {"sent": 1, "acknowledged": 0, "failed": 1, "health": 0.0}, lc
    lv = {x["party"]: x["levels"]["duty"]["overdue_acks"] for x in st["sides"]}
    assert lv == {us.id: 0, ru.id: 1}, lv
    # The next one comes an interval after the first, suspended or not.
    L.advance(s, 3600 - L.ACK_TIME["urgent"])
    ks = [m for m in L.list_msgs(s, us.tok["viewer"], line) if m["kind"] == "check"]
    assert len(ks) == 2 and L.secs(ks[0]["sent_at"], ks[1]["sent_at"]) == 3600, ks


def test_freeze_fires_again_a_period_after_the_last_answer(make_server):
    s = make_server(**L.opts(freeze_after="1h", line_check_interval="0s"))
    us, ru = L.parties(s)
    line = L.open_line(s, us, [ru], "freeze twice")
    assert line["next_check_at"] is None  # --line-check-interval 0: no checks
    with s.events(us.tok["senior"]) as ev:
        L.advance(s, 3600 + 1)
        f1 = L.get_line(s, ru.tok["viewer"], line)["freeze"]
        assert f1 is not None and L.same_time(f1["since"], line["opened_at"])
        ev.wait_event(L.is_line_event("line.freeze", line))
        c = L.start_call(s, ru.tok["senior"], line, "senior", "break the silence")
        c = L.call_act(s, us.tok["senior"], c, "answer", {"by": "x"})
        ev.wait_event(L.is_line_event("line.freeze_cleared", line))
        assert L.get_line(s, ru.tok["viewer"], line)["freeze"] is None
        # A duty call answered does not count.
        d = L.start_call(s, ru.tok["duty"], line, "duty", "working level")
        L.call_act(s, us.tok["duty"], d, "answer", {"by": "y"})
        L.advance(s, 3600 - 10)
        assert L.get_line(s, ru.tok["viewer"], line)["freeze"] is None
        L.advance(s, 11)
        f2 = L.get_line(s, ru.tok["viewer"], line)["freeze"]
        assert f2 is not None and L.same_time(f2["since"], c["answered_at"]), f2
        assert L.secs(c["answered_at"], f2["alerted_at"]) == 3600
        e = ev.wait_event(lambda e: e.type == "line.freeze" and L.data(e)["line"] == line["id"]
                          and L.same_time(L.data(e)["since"], c["answered_at"]))
        assert L.data(e)["level"] == "senior"
    assert [m for m in L.list_msgs(s, us.tok["viewer"], line) if m["kind"] == "check"] == []


# ------------------------------------- faults this suite found (issue 4) --
#
# Each test below holds the server to a sentence of docs/hotline.md that it
# once broke: a clock jump ran one escalation per copy, and a notice showed
# the party whose operation did not move only its operation's id.


def test_a_clock_jump_runs_every_escalation_due(srv):
    """docs/hotline.md, the test clock: 'the timers (deadlines, escalations,
    ...) run at once against the new time before it answers'; escalations
    repeat every --escalation-repeat, so one jump of an hour past the
    deadline must show 1 + 12 of them at once."""
    us, ru = L.parties(srv)
    line = L.open_line(srv, us, [ru], "jump")
    m = L.text_msg(srv, us.tok["duty"], line, "urgent", "urgent", "duty")
    L.advance(srv, L.secs(L.now(srv), m["deadline"]) + 3600 + 1)
    c = L.copy_of(L.get_msg(srv, us.tok["viewer"], line, m["seq"]), ru)
    assert len(c["escalations"]) == 13, c["escalations"]


def test_notice_view_is_the_view_get_shows(srv):
    """docs/hotline.md, conflict notices: 'Each side's conflict is its own
    view of the conflict (as GET /v1/conflicts/{id} shows it ...)'."""
    us, ru = L.parties(srv)
    line = L.open_line(srv, us, [ru], "views")
    op_us, op_ru, _ = srv.make_conflict(us.tok["planner"], ru.tok["planner"])
    for p in (us, ru):
        n = _notices(srv, p.tok["duty"], line)[0]
        view = srv.conflict(p.tok["viewer"], n["conflict"]["id"])
        assert n["conflict"]["own"]["operation"] == view["own"]["operation"], p.id
