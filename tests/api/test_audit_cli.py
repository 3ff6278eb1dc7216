"""test_audit_cli.py -- `deconflict audit verify` and `audit export` against
a real server and a real store, and the tamper cases of issue 5: one byte
of an entry changed, an entry deleted, two entries swapped, and the tail of
the log replaced by a different history.  Each must make the verifier fail
(exit 1) and name the first bad entry or the inconsistent tree head; an
honest log verifies (exit 0); no server means exit 2."""

import json
import os
import sqlite3
import subprocess

import dcf_helpers as H
from conftest import dcf_bin


def run(args, server=None, token=None, env_extra=None, state=None):
    env = dict(os.environ)
    env.pop("DECONFLICT_URL", None)
    env.pop("DECONFLICT_TOKEN", None)
    if server is not None:
        env["DECONFLICT_URL"] = server.base
    if token is not None:
        env["DECONFLICT_TOKEN"] = token
    env.update(env_extra or {})
    argv = [dcf_bin(), "audit"] + list(args)
    if state is not None:
        argv += ["--state", state]
    r = subprocess.run(argv, capture_output=True, timeout=120, env=env)
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def sql(db, text, *args):
    con = sqlite3.connect(db)
    try:
        with con:
            return con.execute(text, args).fetchall()
    finally:
        con.close()


def key_of(server):
    return H.expect_json(server.get("/v1/audit/key", server.admin), 200)["public_key"]


def populated(make_server):
    s = make_server()
    blue, red = s.party(), s.party()
    s.make_conflict(blue.tok["planner"], red.tok["planner"])
    for _ in range(3):
        s.post_op(blue.tok["planner"], H.op_body(H.area()))
    H.expect_json(s.get("/v1/conflicts", red.tok["viewer"]), 200)
    return s, blue, red


def test_an_honest_log_verifies(make_server, tmp_path):
    s, blue, red = populated(make_server)
    key = key_of(s)
    for who, tok in (("blue", blue.tok["viewer"]), ("red", red.tok["duty"]), ("admin", s.admin)):
        state = str(tmp_path / ("state-%s.json" % who))
        rc, out = run(["verify", "--key", key, "--json"], s, tok, state=state)
        assert rc == 0, out
        verdict = json.loads(out[out.index("{"):])
        assert verdict["status"] == "verified" and verdict["entries"] > 0, verdict
        assert oct(os.stat(state).st_mode & 0o777) == "0o600"
        # More history, then again: consistent with the head kept in the state.
        s.post_op(blue.tok["planner"], H.op_body(H.area()))
        rc, out = run(["verify", "--key", key], s, tok, state=state)
        assert rc == 0, out
    # A wrong pinned key is never accepted.
    other = "A" * 43 + "="
    rc, out = run(["verify", "--key", other], s, s.admin, state=str(tmp_path / "x.json"))
    assert rc in (1, 2) and rc != 0, out


def test_export_verifies_offline(make_server, tmp_path):
    s, _, _ = populated(make_server)
    key = key_of(s)
    H.expect_json(s.get("/v1/audit/sth", s.admin, params={"fresh": "true"}), 200)
    out_file = str(tmp_path / "export.json")
    rc, out = run(["export", "--out", out_file], s, s.admin)
    assert rc == 0, out
    rc, out = run(["verify", "--export", out_file, "--key", key])
    assert rc == 0, out
    doc = json.load(open(out_file))
    entry = doc["entries"][2]
    entry["entry"] = entry["entry"].replace('"index":2', '"index":2 ')
    json.dump(doc, open(out_file, "w"))
    rc, out = run(["verify", "--export", out_file, "--key", key])
    assert rc == 1 and "entr" in out, out


def _verified_state(s, tok, key, tmp_path, name):
    state = str(tmp_path / name)
    rc, out = run(["verify", "--key", key], s, tok, state=state)
    assert rc == 0, out
    return state


def test_one_changed_byte_is_named(make_server, tmp_path):
    s, blue, _ = populated(make_server)
    key = key_of(s)
    state = _verified_state(s, blue.tok["viewer"], key, tmp_path, "s.json")
    mine = [e["index"] for e in H.expect_json(
        s.get("/v1/audit/entries", blue.tok["viewer"]), 200)["items"]]
    idx = mine[3]
    (text,), = sql(s.db, "SELECT entry FROM audit_entries WHERE idx = ?", idx)
    s.stop()
    pos = text.index('"at":"') + 8
    forged = text[:pos] + ("1" if text[pos] != "1" else "2") + text[pos + 1:]
    sql(s.db, "UPDATE audit_entries SET entry = ? WHERE idx = ?", forged, idx)
    s.start()
    rc, out = run(["verify", "--key", key], s, blue.tok["viewer"], state=state)
    assert rc == 1, out
    assert "entry %d" % idx in out, out


def test_a_deleted_entry_is_named(make_server, tmp_path):
    s, _, _ = populated(make_server)
    key = key_of(s)
    state = _verified_state(s, s.admin, key, tmp_path, "s.json")
    s.stop()
    sql(s.db, "DELETE FROM audit_entries WHERE idx = 5")
    sql(s.db, "DELETE FROM audit_party WHERE key % 1099511627776 = 5")
    s.start()
    rc, out = run(["verify", "--key", key], s, s.admin, state=state)
    assert rc == 1, out
    assert "entry 5" in out, out


def test_two_swapped_entries_are_named(make_server, tmp_path):
    s, _, _ = populated(make_server)
    key = key_of(s)
    state = _verified_state(s, s.admin, key, tmp_path, "s.json")
    s.stop()
    (a,), (b,) = sql(s.db, "SELECT entry FROM audit_entries WHERE idx IN (6, 7) ORDER BY idx")
    sql(s.db, "UPDATE audit_entries SET entry = ? WHERE idx = 6", b)
    sql(s.db, "UPDATE audit_entries SET entry = ? WHERE idx = 7", a)
    s.start()
    rc, out = run(["verify", "--key", key], s, s.admin, state=state)
    assert rc == 1, out
    assert "entry 6" in out, out


def test_a_replaced_tail_is_an_inconsistent_tree_head(make_server, tmp_path):
    s, blue, _ = populated(make_server)
    key = key_of(s)
    state = _verified_state(s, blue.tok["viewer"], key, tmp_path, "s.json")
    held = json.load(open(state))
    n = H.expect_json(s.get("/v1/audit/sth", s.admin), 200)["tree_size"]
    m = n - 4
    s.stop()
    # The operator cuts the log back to m entries (with every node and head
    # over the cut) and writes a different history after it.
    sql(s.db, "DELETE FROM audit_entries WHERE idx >= ?", m)
    sql(s.db, "DELETE FROM audit_party WHERE key % 1099511627776 >= ?", m)
    sql(s.db, "DELETE FROM audit_node WHERE (id / 64 + 1) * (1 << (id % 64)) > ?", m)
    sql(s.db, "DELETE FROM audit_sths WHERE tree_size > ?", m)
    s.start()
    for _ in range(3):
        s.post_op(blue.tok["planner"], H.op_body(H.area(), dlat=1.0))
    rc, out = run(["verify", "--key", key], s, blue.tok["viewer"], state=state)
    assert rc == 1, out
    assert "tree head" in out, out
    assert json.load(open(state)) == held  # a failed run changes nothing


def test_no_server_is_could_not_check(tmp_path):
    rc, out = run(["verify", "--key", "A" * 43 + "="],
                  env_extra={"DECONFLICT_URL": "http://127.0.0.1:9",
                             "DECONFLICT_TOKEN": "dcf_" + "a" * 43},
                  state=str(tmp_path / "s.json"))
    assert rc == 2, out
    rc, out = run(["verify"])
    assert rc == 2 and "DECONFLICT_URL" in out, out
