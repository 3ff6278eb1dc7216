"""test_hotline_restart.py -- the hotline across kill -9 (docs/hotline.md:
"Every change is durable before it is answered"; "A desk that reconnects
with Last-Event-ID gets every event it missed"; presence is memory only).

Before the kill: one message delivered by a desk's stream, one
acknowledged, one never delivered (no desk of the recipient was there), an
urgent one not yet due, a call ringing and a call answered.  The server
gets SIGKILL and starts again on the same database (as test_durability.py
does).  After it: every message and call is as it was answered; the desk
that reconnects with Last-Event-ID gets exactly the message.new events it
missed, and that delivers the message nobody had received; the sender's
side gets message.delivered; the timers still run (the urgent message
escalates at its deadline, the ringing call is missed); sequence numbers
go on without a gap; every desk is absent until it reconnects.
"""

import hotline_helpers as L


def _state(s, tok, line, seqs):
    return {q: L.get_msg(s, tok, line, q)["recipients"] for q in seqs}


def test_hotline_survives_kill9(make_server):
    s = make_server(**L.opts())
    us, ru = L.parties(s)
    line = L.open_line(s, us, [ru], "restart")
    # us's sender-side stream, to resume after the restart.
    us_ev = s.events(us.tok["viewer"])
    with s.events(ru.tok["duty"]) as desk:
        delivered = L.text_msg(s, us.tok["duty"], line, "one: delivered", "request", "duty")
        ev = desk.wait_event(L.is_msg_event("message.new", line, delivered["seq"]))
        last_id = ev.n
    us_ev.wait_event(L.is_msg_event("message.delivered", line, delivered["seq"], ru))
    acked = L.text_msg(s, us.tok["duty"], line, "two: acknowledged", "warning", "duty")
    L.ack(s, ru.tok["duty"], line, acked["seq"], "Maj. Petrov", "understood")
    pending = L.text_msg(s, us.tok["duty"], line, "three: never delivered", "info", "duty")
    urgent = L.text_msg(s, us.tok["senior"], line, "four: urgent", "urgent", "senior")
    ringing = L.start_call(s, us.tok["duty"], line, "duty", "rings across the restart")
    talking = L.start_call(s, us.tok["senior"], line, "senior", "answered before the kill")
    talking = L.call_act(s, ru.tok["senior"], talking, "answer", {"by": "Gen. Orlov"})
    us_ev.wait_event(L.is_call_event("call.answered", talking))
    us_last = max(e.n for e in us_ev.events())
    us_ev.close()
    seqs = [delivered["seq"], acked["seq"], pending["seq"], urgent["seq"]]
    before = _state(s, us.tok["viewer"], line, seqs)
    assert [before[q][0]["state"] for q in seqs] == ["delivered", "acknowledged", "sent", "sent"]
    calls_before = {c["id"]: L.get_call(s, us.tok["viewer"], c) for c in (ringing, talking)}
    line_before = L.get_line(s, us.tok["viewer"], line)

    s.kill9()
    s.start()

    # Everything as it was answered.
    assert _state(s, us.tok["viewer"], line, seqs) == before
    for cid, c in calls_before.items():
        assert L.get_call(s, us.tok["viewer"], cid) == c
    after = L.get_line(s, us.tok["viewer"], line)
    for k in ("id", "state", "opened_at", "next_check_at", "last_seq", "freeze", "proposed_by"):
        assert after[k] == line_before[k], k
    # Presence is memory only: every desk is absent until it reconnects.
    for m in after["members"]:
        assert not m["desks"]["duty"]["present"] and not m["desks"]["senior"]["present"], m
    # The recipient's desk reconnects where it left off: the message.new
    # events it missed, and no other; the undelivered message is delivered.
    us_ev = s.events(us.tok["viewer"], headers={"Last-Event-ID": str(us_last)})
    try:
        with s.events(ru.tok["duty"], headers={"Last-Event-ID": str(last_id)}) as desk:
            for q in (acked["seq"], pending["seq"], urgent["seq"]):
                desk.wait_event(L.is_msg_event("message.new", line, q))
            news = [L.data(e)["seq"] for e in L.drain(desk) if e.type == "message.new"]
            assert news == [acked["seq"], pending["seq"], urgent["seq"]], news
            assert all(e.n > last_id for e in desk.events())
            us_ev.wait_event(L.is_msg_event("message.delivered", line, pending["seq"], ru))
        now = _state(s, us.tok["viewer"], line, seqs)
        assert now[pending["seq"]][0]["state"] == "delivered"
        assert now[urgent["seq"]][0]["state"] == "delivered"
        # The replay changed nothing that had happened before the kill.
        assert now[delivered["seq"]] == before[delivered["seq"]]
        assert now[acked["seq"]] == before[acked["seq"]]
        # The timers survive too: the urgent message escalates at its
        # deadline, the ringing call is missed after its ring time.  (A
        # restart starts the test clock at the real time again.)
        L.advance(s, L.secs(L.now(s), urgent["deadline"]) + 1)
        c = L.copy_of(L.get_msg(s, us.tok["viewer"], line, urgent["seq"]), ru)
        assert len(c["escalations"]) == 1 and L.same_time(c["escalations"][0], urgent["deadline"])
        us_ev.wait_event(L.is_msg_event("message.escalated", line, urgent["seq"], ru))
        miss = L.get_call(s, us.tok["viewer"], ringing)
        assert miss["state"] == "missed" and L.same_time(miss["missed_at"], miss["ring_until"])
        # The answered call goes on and ends; its duration spans the restart.
        end = L.call_act(s, us.tok["senior"], talking, "end")
        assert end["duration_s"] == L.secs(end["answered_at"], end["ended_at"])
        # Sequence numbers go on without a gap.
        nxt = L.text_msg(s, ru.tok["duty"], line, "five: after the restart")
        assert nxt["seq"] == urgent["seq"] + 1
    finally:
        us_ev.close()
    # A second kill right after an acknowledgement keeps it too.
    L.ack(s, us.tok["duty"], line, nxt["seq"], "Capt. Smith")
    want = L.get_msg(s, ru.tok["viewer"], line, nxt["seq"])
    s.kill9()
    s.start()
    assert L.get_msg(s, ru.tok["viewer"], line, nxt["seq"]) == want


def test_undelivered_message_is_delivered_by_a_fetch_after_kill9(make_server):
    """No event stream at all: a desk's first fetch after the restart
    delivers what was sent before it."""
    s = make_server(**L.opts())
    us, ru = L.parties(s)
    line = L.open_line(s, us, [ru], "fetch after restart")
    sent = [L.text_msg(s, us.tok["duty"], line, "m%d" % i, "request", "duty") for i in range(3)]
    s.kill9()
    s.start()
    for m in sent:
        assert L.copy_of(L.get_msg(s, us.tok["viewer"], line, m["seq"]), ru)["state"] == "sent"
    with s.events(us.tok["viewer"]) as ev:
        items = L.list_msgs(s, ru.tok["senior"], line)
        assert [m["seq"] for m in items] == [m["seq"] for m in sent]
        for m in sent:
            ev.wait_event(L.is_msg_event("message.delivered", line, m["seq"], ru))
    for m in sent:
        c = L.copy_of(L.get_msg(s, us.tok["viewer"], line, m["seq"]), ru)
        assert c["state"] == "delivered" and c["delivered_at"] is not None
        assert L.t(c["delivered_at"]) > L.t(m["sent_at"])
