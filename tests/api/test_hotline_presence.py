"""test_hotline_presence.py -- desk presence is pushed (docs/hotline.md,
Presence): a desk that opens its event stream, closes it, or whose
heartbeat runs out of the presence window reaches the members of every
open line its party is on as a `presence.changed` event within a timer
tick, and a party that shares no open line with it hears nothing.  A
server of its own: the test clock moves."""

import time

import dcf_helpers as H
import hotline_helpers as L


def _presence(party, desk, present):
    def pred(e):
        if e.type != "presence.changed":
            return False
        d = L.data(e)
        return (d.get("party"), d.get("desk"), d.get("present")) == (party.id, desk, present)
    return pred


def test_presence_changes_reach_the_line_members(tmp_root):
    s = L.start_server(tmp_root, "presence")
    try:
        us, ru = L.parties(s)
        stranger = s.party(L.ROLES)
        line = L.open_line(s, us, [ru])
        us_ev = s.events(us.tok["duty"])
        # Our own desk's arrival is announced to us too.
        us_ev.wait_event(_presence(us, "duty", True), timeout=10)

        ru_ev = s.events(ru.tok["duty"])
        us_ev.wait_event(_presence(ru, "duty", True), timeout=10)
        ru_ev.wait_event(_presence(ru, "duty", True), timeout=10)
        assert L.member(L.get_line(s, us.tok["duty"], line), ru)["desks"]["duty"]["present"]

        ru_ev.close()  # the server notices at its next heartbeat write
        us_ev.wait_event(_presence(ru, "duty", False), timeout=10)

        # A heartbeat makes the senior desk present until the window ends.
        H.expect_json(s.post("/v1/presence", ru.tok["senior"]), 200)
        us_ev.wait_event(_presence(ru, "senior", True), timeout=10)
        L.advance(s, L.SECONDS["presence_window"] + 1)
        us_ev.wait_event(_presence(ru, "senior", False), timeout=10)

        # A party with no open line with us: its desks are not announced to us.
        st_ev = s.events(stranger.tok["duty"])
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            for e in us_ev.quiet_events(0.5):
                assert not (e.type == "presence.changed"
                            and L.data(e).get("party") == stranger.id), L.data(e)
        st_ev.close()
        us_ev.close()
    finally:
        L.stop_server(s)
