"""test_hotline_deferred.py -- message posts and acknowledgements answer
after their group commit without holding an HTTP thread (docs/internals/
service.md): on a server with one HTTP thread, which also carries the
desks' event streams, many concurrent posts and then acknowledgements each
get their own answer, with distinct sequence numbers and matching
Location headers; every message reaches the open desk streams; a repeated
acknowledgement and a post to a line that does not exist still get their
problems; and the server stops cleanly afterwards."""

from concurrent.futures import ThreadPoolExecutor

import dcf_helpers as H
import hotline_helpers as L

N = 40  # messages, posted and acknowledged concurrently
CLIENTS = 16


def test_concurrent_posts_and_acks_on_one_thread(tmp_root):
    s = L.start_server(tmp_root, "deferred", threads="1")
    try:
        us, ru = L.parties(s)
        line = L.open_line(s, us, [ru])
        ru_desk = s.events(ru.tok["duty"])
        us_desk = s.events(us.tok["duty"])

        def post(i):
            r = s.post(L.msgs_path(line), us.tok["duty"],
                       {"type": "warning", "level": "duty", "text": "message %d" % i})
            return r.status_code, r.headers.get("Location"), r.json()

        with ThreadPoolExecutor(CLIENTS) as pool:
            posted = list(pool.map(post, range(N)))
        assert [p[0] for p in posted] == [201] * N, posted[:3]
        seqs = sorted(p[2]["seq"] for p in posted)
        assert seqs == list(range(1, N + 1))
        for _, loc, m in posted:
            assert loc == "%s/%d" % (L.msgs_path(line), m["seq"])
            assert m["text"].startswith("message ")
        # Every message reached the recipient's desk stream.
        for seq in seqs:
            L.seen_or_wait(ru_desk, L.is_msg_event("message.new", line, seq))

        def ack(seq):
            r = s.post("%s/%d/acknowledge" % (L.msgs_path(line), seq), ru.tok["duty"],
                       {"by": "duty officer %d" % seq})
            return r.status_code, r.json()

        with ThreadPoolExecutor(CLIENTS) as pool:
            acked = list(pool.map(ack, seqs))
        assert [a[0] for a in acked] == [200] * N, acked[:3]
        for seq, (_, m) in zip(seqs, acked):
            assert m["seq"] == seq
            copy = L.copy_of(m, ru)
            assert copy["state"] == "acknowledged" and copy["acknowledged_by"] == (
                "duty officer %d" % seq), copy
        # The sender's desk sees each acknowledgement live.
        for seq in seqs:
            L.seen_or_wait(us_desk, L.is_msg_event("message.acknowledged", line, seq, ru))
        # Errors still come back through the deferred path and before it.
        again = s.post("%s/1/acknowledge" % L.msgs_path(line), ru.tok["duty"], {"by": "x"})
        H.expect_problem(again, 409, "invalid-transition")
        H.expect_problem(s.post(L.msgs_path("lin-nosuchline"), us.tok["duty"],
                                {"type": "info", "level": "duty", "text": "x"}), 404, "not-found")
        ru_desk.close()
        us_desk.close()
    finally:
        L.stop_server(s)
