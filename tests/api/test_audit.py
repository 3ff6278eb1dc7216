"""test_audit.py -- the verifiable audit log over HTTP (docs/audit.md):
entries for every change and disclosure, written with the change; party
isolation of entries and proofs; signed tree heads checked with the public
key; inclusion and consistency proofs checked by an independent RFC 9162
verifier written here; query errors; and tampering with the stored log
found by the proofs or refused at start-up."""

import base64
import hashlib
import json
import sqlite3
import struct

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import dcf_helpers as H
from conftest import ServerFailed

# ------------------------------------------------------ RFC 9162 verifier --


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf, index, size, path, root):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(m, n, root_m, root_n, path):
    """RFC 9162 section 2.1.4.2."""
    if m == n:
        return not path and root_m == root_n
    if m == 0 or m > n or not path:
        return False
    if m & (m - 1) == 0:  # a power of two: the old root starts the path
        path = [root_m] + list(path)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == root_m and sr == root_n and sn == 0


def b64(s):
    return base64.b64decode(s, validate=True)


# ------------------------------------------------------------- helpers --


def public_key(server, token):
    k = H.expect_json(server.get("/v1/audit/key", token), 200)
    assert k["algorithm"] == "Ed25519"
    raw = b64(k["public_key"])
    assert len(raw) == 32
    assert k["key_id"] == hashlib.sha256(raw).hexdigest()[:16]
    return Ed25519PublicKey.from_public_bytes(raw), k["key_id"]


def sth_ok(sth, key, key_id):
    msg = b"DCF-STH-1" + struct.pack(">QQ", sth["tree_size"], sth["timestamp"]) + b64(
        sth["root_hash"])
    assert sth["key_id"] == key_id
    try:
        key.verify(b64(sth["signature"]), msg)
        return True
    except InvalidSignature:
        return False


def fresh_sth(server, token):
    return H.expect_json(server.get("/v1/audit/sth", token, params={"fresh": "true"}), 200)


def entries(server, token):
    out, cursor = [], None
    while True:
        params = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = H.expect_json(server.get("/v1/audit/entries", token, params=params), 200)
        out += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return out


def inclusion(server, token, index, size):
    return server.get("/v1/audit/proof/inclusion", token,
                      params={"index": index, "tree_size": size})


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@pytest.fixture(scope="module")
def world(server):
    blue, red = server.party(), server.party()
    op_a, op_b, cf = server.make_conflict(blue.tok["planner"], red.tok["planner"])
    return blue, red, op_a, op_b, cf


# --------------------------------------------------------------- tests --


def test_tree_heads_are_signed_by_the_published_key(server, world):
    blue = world[0]
    key, kid = public_key(server, blue.tok["viewer"])
    sth = fresh_sth(server, blue.tok["viewer"])
    assert sth["tree_size"] >= 1
    assert sth_ok(sth, key, kid)
    forged = dict(sth, tree_size=sth["tree_size"] + 1)
    assert not sth_ok(forged, key, kid)
    # Without fresh, the newest is returned as it is.
    again = H.expect_json(server.get("/v1/audit/sth", blue.tok["duty"]), 200)
    assert again["tree_size"] >= sth["tree_size"] and sth_ok(again, key, kid)
    # Every head ever issued is listed, oldest first, all signed.
    page = H.expect_json(server.get("/v1/audit/sths", blue.tok["viewer"],
                                    params={"limit": 1000}), 200)
    sizes = [h["tree_size"] for h in page["items"]]
    assert sizes == sorted(sizes) and sizes[-1] >= sth["tree_size"]
    assert all(sth_ok(h, key, kid) for h in page["items"])


def test_changes_are_recorded_with_their_actor(server, world):
    blue, red, op_a, op_b, cf = world
    mine = entries(server, blue.tok["viewer"])
    acts = [(json.loads(e["entry"])["action"], e) for e in mine]
    names = [a for a, _ in acts]
    assert "party.create" in names and "token.create" in names
    create = [json.loads(e["entry"]) for a, e in acts if a == "operation.create"]
    assert any(c["objects"][0]["id"] == op_a["id"] for c in create)
    c = next(c for c in create if c["objects"][0]["id"] == op_a["id"])
    assert c["actor"] == {"party": blue.id, "token": blue.tid["planner"]}
    assert c["parties"] == [blue.id]
    assert len(c["objects"][0]["digest"]) == 64
    # The conflict opened by red's create concerns both sides, as red did it.
    opened = [json.loads(e["entry"]) for a, e in acts if a == "conflict.open"]
    assert any(o["objects"][0]["id"] == cf["id"] and o["parties"] == sorted([blue.id, red.id])
               and o["actor"]["party"] == red.id for o in opened)
    # Red's create answer showed red the conflict view: a disclosure entry.
    theirs = [json.loads(e["entry"]) for e in entries(server, red.tok["viewer"])]
    assert any(t["action"] == "disclose" and t["actor"]["party"] == red.id
               and [o["id"] for o in t["objects"]] == [cf["id"]] for t in theirs)
    # Token secrets never appear; token ids do.
    assert not any(blue.tok[r] in e["entry"] for r in blue.tok for e in mine)


def test_entries_are_canonical_and_contiguous(server, world):
    admin = entries(server, server.admin)
    assert [e["index"] for e in admin] == list(range(len(admin)))
    for e in admin:
        obj = json.loads(e["entry"])
        assert canonical(obj) == e["entry"]
        assert obj["index"] == e["index"]
        assert b64(e["leaf_hash"]) == leaf_hash(e["entry"].encode())
        assert obj["parties"] == sorted(set(obj["parties"]))
        assert "." in obj["at"] and obj["at"].endswith("Z")


def test_reading_conflicts_leaves_a_trace(server, world):
    blue, red, _, _, cf = world
    before = len(entries(server, blue.tok["viewer"]))
    H.expect_json(server.get("/v1/conflicts/" + cf["id"], blue.tok["duty"]), 200)
    H.expect_json(server.get("/v1/conflicts", blue.tok["viewer"]), 200)
    new = [json.loads(e["entry"]) for e in entries(server, blue.tok["viewer"])[before:]]
    disc = [n for n in new if n["action"] == "disclose"]
    assert len(disc) == 2, new
    assert disc[0]["actor"] == {"party": blue.id, "token": blue.tid["duty"]}
    assert disc[0]["parties"] == sorted([blue.id, red.id])  # the other side sees it too
    assert all(o["id"] == cf["id"] for d in disc for o in d["objects"])


def test_checks_leave_a_trace_on_both_sides(server, world):
    blue, red, op_a, _, _ = world
    body = H.op_body(H.area(), kind="fixed-wing")
    body["volumes"] = op_a["volumes"]
    r = server.post("/v1/operations/check", blue.tok["planner"], body)
    found = H.expect_json(r, 200)["conflicts"]
    last = json.loads(entries(server, blue.tok["viewer"])[-1]["entry"])
    assert last["action"] == "check" and last["objects"][0]["type"] == "check"
    if found:
        assert red.id in last["parties"] or blue.id in last["parties"]


def test_a_party_sees_only_its_entries(server, world):
    blue, red = world[0], world[1]
    third = server.party()
    all_idx = {e["index"]: json.loads(e["entry"]) for e in entries(server, server.admin)}
    seen = entries(server, third.tok["viewer"])
    assert seen and all(third.id in json.loads(e["entry"])["parties"] for e in seen)
    size = fresh_sth(server, third.tok["viewer"])["tree_size"]
    blue_only = [i for i, e in all_idx.items() if e["parties"] == [blue.id] and i < size]
    assert blue_only
    # Another party's entry answers exactly like an index that does not exist.
    r1 = inclusion(server, third.tok["viewer"], blue_only[0], size)
    H.expect_problem(r1, 404, "not-found")
    r2 = inclusion(server, third.tok["viewer"], size - 1 if size - 1 not in
                   {e["index"] for e in seen} else blue_only[-1], size)
    H.expect_problem(r2, 404, "not-found")
    assert r1.json()["title"] == r2.json()["title"]
    # The admin may ask for any entry.
    H.expect_json(inclusion(server, server.admin, blue_only[0], size), 200)


def test_inclusion_proofs_verify(server, world):
    blue = world[0]
    sth = fresh_sth(server, blue.tok["viewer"])
    root, size = b64(sth["root_hash"]), sth["tree_size"]
    mine = [e for e in entries(server, blue.tok["viewer"]) if e["index"] < size]
    assert len(mine) >= 5
    for e in mine:
        p = H.expect_json(inclusion(server, blue.tok["viewer"], e["index"], size), 200)
        path = [b64(x) for x in p["audit_path"]]
        leaf = leaf_hash(e["entry"].encode())
        assert b64(p["leaf_hash"]) == leaf
        assert verify_inclusion(leaf, e["index"], size, path, root), e["index"]
        # The same proof fails for any other entry text, index or root.
        assert not verify_inclusion(leaf_hash(e["entry"].encode() + b" "), e["index"], size,
                                    path, root)
        assert not verify_inclusion(leaf, e["index"], size, path, hashlib.sha256(root).digest())
    # Proofs against older signed sizes work too.
    heads = H.expect_json(server.get("/v1/audit/sths", blue.tok["viewer"],
                                     params={"limit": 1000}), 200)["items"]
    for h in heads[-3:]:
        for e in [e for e in mine if e["index"] < h["tree_size"]][-3:]:
            p = H.expect_json(inclusion(server, blue.tok["viewer"], e["index"], h["tree_size"]),
                              200)
            assert verify_inclusion(leaf_hash(e["entry"].encode()), e["index"], h["tree_size"],
                                    [b64(x) for x in p["audit_path"]], b64(h["root_hash"]))


def test_consistency_proofs_verify(server, world):
    blue, red = world[0], world[1]
    key, kid = public_key(server, blue.tok["viewer"])
    old = fresh_sth(server, blue.tok["viewer"])
    for _ in range(3):
        server.post_op(blue.tok["planner"], H.op_body(H.area()))
    new = fresh_sth(server, red.tok["viewer"])
    assert new["tree_size"] > old["tree_size"] and sth_ok(new, key, kid)
    for m in {1, 2, 3, old["tree_size"] // 2 or 1, old["tree_size"]}:
        heads = [h for h in H.expect_json(server.get("/v1/audit/sths", blue.tok["viewer"],
                                                     params={"limit": 1000}), 200)["items"]
                 if h["tree_size"] == m]
        if not heads:
            continue
        p = H.expect_json(server.get("/v1/audit/proof/consistency", blue.tok["viewer"],
                                     params={"first": m, "second": new["tree_size"]}), 200)
        path = [b64(x) for x in p["consistency_path"]]
        assert verify_consistency(m, new["tree_size"], b64(heads[0]["root_hash"]),
                                  b64(new["root_hash"]), path)
        assert not verify_consistency(m, new["tree_size"], b64(heads[0]["root_hash"]),
                                      hashlib.sha256(b64(new["root_hash"])).digest(), path)
    p = H.expect_json(server.get("/v1/audit/proof/consistency", blue.tok["viewer"],
                                 params={"first": old["tree_size"],
                                         "second": new["tree_size"]}), 200)
    assert verify_consistency(old["tree_size"], new["tree_size"], b64(old["root_hash"]),
                              b64(new["root_hash"]), [b64(x) for x in p["consistency_path"]])


@pytest.mark.parametrize("path,params,pointer", [
    ("/v1/audit/proof/inclusion", {"tree_size": 1}, "index"),
    ("/v1/audit/proof/inclusion", {"index": 0}, "tree_size"),
    ("/v1/audit/proof/inclusion", {"index": 0, "tree_size": 0}, "tree_size"),
    ("/v1/audit/proof/inclusion", {"index": -1, "tree_size": 1}, "index"),
    ("/v1/audit/proof/inclusion", {"index": 5, "tree_size": 2}, "index"),
    ("/v1/audit/proof/inclusion", {"index": 0, "tree_size": 1 << 40}, "tree_size"),
    ("/v1/audit/proof/consistency", {"second": 2}, "first"),
    ("/v1/audit/proof/consistency", {"first": 0, "second": 2}, "first"),
    ("/v1/audit/proof/consistency", {"first": 3, "second": 2}, "first"),
    ("/v1/audit/proof/consistency", {"first": 1, "second": 1 << 40}, "second"),
    ("/v1/audit/entries", {"cursor": "x"}, "cursor"),
    ("/v1/audit/entries", {"limit": 0}, "limit"),
    ("/v1/audit/sth", {"fresh": "yes"}, "fresh"),
    ("/v1/audit/sths", {"bogus": 1}, "bogus"),
])
def test_bad_queries(server, world, path, params, pointer):
    fresh_sth(server, server.admin)
    r = server.get(path, world[0].tok["viewer"], params=params)
    H.expect_problem(r, 400, "bad-query", "?" + pointer)


def test_audit_needs_a_token(server):
    for path in ("/v1/audit/key", "/v1/audit/sth", "/v1/audit/entries"):
        H.expect_problem(server.get(path), 401, "unauthorized")


def _rows(db, sql, *args):
    con = sqlite3.connect(db)
    try:
        with con:
            return con.execute(sql, args).fetchall()
    finally:
        con.close()


def test_an_altered_entry_fails_its_proof(make_server):
    s = make_server()
    p = s.party()
    s.post_op(p.tok["planner"], H.op_body(H.area()))
    sth = fresh_sth(s, p.tok["viewer"])
    target = entries(s, p.tok["viewer"])[-1]
    s.stop()
    forged = target["entry"].replace('"operation.create"', '"operation.cancel"')
    assert forged != target["entry"]
    _rows(s.db, "UPDATE audit_entries SET entry = ? WHERE idx = ?", forged, target["index"])
    s.start()
    e = next(e for e in entries(s, p.tok["viewer"]) if e["index"] == target["index"])
    assert e["entry"] == forged  # the operator can change what it serves ...
    proof = H.expect_json(inclusion(s, p.tok["viewer"], e["index"], sth["tree_size"]), 200)
    # ... but not make it verify against the tree head the party holds.
    assert not verify_inclusion(leaf_hash(forged.encode()), e["index"], sth["tree_size"],
                                [b64(x) for x in proof["audit_path"]], b64(sth["root_hash"]))
    assert verify_inclusion(leaf_hash(target["entry"].encode()), e["index"], sth["tree_size"],
                            [b64(x) for x in proof["audit_path"]], b64(sth["root_hash"]))


def test_a_rewritten_tree_is_caught(make_server):
    s = make_server()
    p = s.party()
    s.post_op(p.tok["planner"], H.op_body(H.area()))
    sth = fresh_sth(s, p.tok["viewer"])
    size = sth["tree_size"]
    assert size >= 4
    # A stored node below the top: the server starts, but the proofs that
    # use it no longer verify against the head the party holds.
    s.stop()
    (h0,), = _rows(s.db, "SELECT hashes FROM audit_entries WHERE idx = 0")
    _rows(s.db, "UPDATE audit_entries SET hashes = ? WHERE idx = 0", bytes(32) + h0[32:])
    s.start()
    e1 = next(e for e in entries(s, s.admin) if e["index"] == 1)
    proof = H.expect_json(inclusion(s, s.admin, 1, size), 200)
    assert not verify_inclusion(leaf_hash(e1["entry"].encode()), 1, size,
                                [b64(x) for x in proof["audit_path"]], b64(sth["root_hash"]))
    # A node the newest head's root is made of: the server refuses to start.
    s.stop()
    top = size.bit_length() - 1  # the largest complete subtree at index 0
    last = (1 << top) - 1  # the entry whose append completed it holds it
    (h,), = _rows(s.db, "SELECT hashes FROM audit_entries WHERE idx = ?", last)
    assert len(h) == 32 * (top + 1)
    _rows(s.db, "UPDATE audit_entries SET hashes = ? WHERE idx = ?",
          h[:32 * top] + bytes(32) + h[32 * (top + 1):], last)
    with pytest.raises(ServerFailed) as e:
        s.start(timeout=10)
    assert "does not match its newest signed tree head" in str(e.value)


def _all_proofs_verify(s, size):
    sth = fresh_sth(s, s.admin)
    assert sth["tree_size"] >= size
    for e in entries(s, s.admin):
        p = H.expect_json(inclusion(s, s.admin, e["index"], sth["tree_size"]), 200)
        assert verify_inclusion(leaf_hash(e["entry"].encode()), e["index"], sth["tree_size"],
                                [b64(x) for x in p["audit_path"]], b64(sth["root_hash"]))
    return sth


def test_each_entry_row_holds_the_nodes_its_append_completed(make_server):
    s = make_server()
    p = s.party()
    for _ in range(3):
        s.post_op(p.tok["planner"], H.op_body(H.area()))
    sth = _all_proofs_verify(s, 8)
    s.stop()
    rows = _rows(s.db, "SELECT idx, entry, hashes FROM audit_entries ORDER BY idx")
    assert [r[0] for r in rows] == list(range(len(rows)))
    # Recompute every complete node from the entries and find each in the
    # row of the leaf that completed it: level L of entry i, i's trailing
    # ones numbering L or more.
    level = [leaf_hash(r[1].encode()) for r in rows]
    for lv in range(0, 64):
        for j, h in enumerate(level):
            i = ((j + 1) << lv) - 1
            assert len(rows[i][2]) >= 32 * (lv + 1) and rows[i][2][32 * lv:32 * (lv + 1)] == h
        if len(level) < 2:
            break
        level = [node_hash(level[k], level[k + 1]) for k in range(0, len(level) - 1, 2)]
    for i, _, h in rows:
        assert len(h) == 32 * (1 + ((i + 1) & -(i + 1)).bit_length() - 1)
    assert _rows(s.db, "SELECT COUNT(*) FROM audit_node") == [(0,)]
    s.start()
    assert fresh_sth(s, s.admin)["tree_size"] >= sth["tree_size"]


def test_a_log_from_before_nodes_moved_into_entries_still_proves(make_server):
    """Stores written before schema migration 6 kept interior nodes in
    audit_node and only the leaf in the entry row; rewrite a log into that
    layout, then append more: proofs over both parts verify, and start-up
    accepts the newest tree head."""
    s = make_server()
    p = s.party()
    for _ in range(3):
        s.post_op(p.tok["planner"], H.op_body(H.area()))
    s.stop()
    rows = _rows(s.db, "SELECT idx, hashes FROM audit_entries ORDER BY idx")
    moved = 0
    for i, h in rows:
        for lv in range(1, len(h) // 32):
            _rows(s.db, "INSERT INTO audit_node (id, hash) VALUES (?, ?)",
                  (i >> lv) * 64 + lv, h[32 * lv:32 * (lv + 1)])
            moved += 1
        _rows(s.db, "UPDATE audit_entries SET hashes = ? WHERE idx = ?", h[:32], i)
    assert moved == len(rows) - bin(len(rows)).count("1")  # n - popcount(n) interior nodes
    s.start()
    old = len(rows)
    _all_proofs_verify(s, old)
    for _ in range(3):
        s.post_op(p.tok["planner"], H.op_body(H.area()))
    new = _all_proofs_verify(s, old + 3)
    proof = H.expect_json(s.get("/v1/audit/proof/consistency", s.admin,
                                params={"first": old, "second": new["tree_size"]}), 200)
    assert proof["consistency_path"]
    s.restart()
    _all_proofs_verify(s, new["tree_size"])


def test_the_log_survives_restarts(make_server):
    s = make_server()
    p = s.party()
    s.post_op(p.tok["planner"], H.op_body(H.area()))
    key, kid = public_key(s, p.tok["viewer"])
    a = fresh_sth(s, p.tok["viewer"])
    s.restart()
    assert public_key(s, p.tok["viewer"])[1] == kid  # the same key after a restart
    s.post_op(p.tok["planner"], H.op_body(H.area()))
    b = fresh_sth(s, p.tok["viewer"])
    assert b["tree_size"] > a["tree_size"] and sth_ok(b, key, kid)
    proof = H.expect_json(s.get("/v1/audit/proof/consistency", p.tok["viewer"],
                                params={"first": a["tree_size"], "second": b["tree_size"]}), 200)
    assert verify_consistency(a["tree_size"], b["tree_size"], b64(a["root_hash"]),
                              b64(b["root_hash"]), [b64(x) for x in proof["consistency_path"]])
    admin = entries(s, s.admin)
    assert [e["index"] for e in admin] == list(range(len(admin)))


def test_a_refused_change_leaves_no_entry(make_server):
    s = make_server(policy="strict")
    blue, red = s.party(), s.party()
    body = H.op_body(H.area(), priority=50)
    s.post_op(blue.tok["planner"], body)
    before = entries(s, s.admin)
    r = s.post("/v1/operations", red.tok["planner"], dict(body, priority=10))
    H.expect_problem(r, 409, "conflict")
    assert entries(s, s.admin) == before  # the write rolled back with its entries
    s.post_op(red.tok["planner"], H.op_body(H.area(), dlat=5.0))
    after = entries(s, s.admin)
    assert [e["index"] for e in after] == list(range(len(after)))  # no gap either
    assert len(after) > len(before)


def test_the_configuration_is_recorded_at_start(make_server):
    s = make_server(policy="strict", grid="500")
    p = s.party()
    s.restart()
    starts = [json.loads(e["entry"]) for e in entries(s, p.tok["viewer"])
              if json.loads(e["entry"])["action"] == "server.start"]
    assert starts, "no server.start entry seen by the party"
    last = starts[-1]
    assert last["actor"] == {"party": None, "token": None}
    assert last["objects"][0]["type"] == "config" and p.id in last["parties"]
    # The digest is of the configuration: another policy, another digest.
    admin = [json.loads(e["entry"]) for e in entries(s, s.admin)]
    digests = {e["objects"][0]["digest"] for e in admin if e["action"] == "server.start"}
    assert len(digests) >= 1
    s.stop()
    s.opts["policy"] = "advisory"
    s.start()
    admin = [json.loads(e["entry"]) for e in entries(s, s.admin)]
    after = [e["objects"][0]["digest"] for e in admin if e["action"] == "server.start"]
    assert after[-1] not in digests
