"""test_cli.py -- every `deconflict` API command against a real server: exit
codes (0 ok, 1 the server said no, 2 usage or unreachable), --json output
parsed and checked against what the command did, the human output (tables
on a terminal with colour unless NO_COLOR, tab-separated otherwise), login
and its config file, the event stream across a server restart, export.
The bulk import has its own file (test_import.py)."""

import json
import os
import pty
import re
import select
import signal
import stat
import subprocess
import time


from conftest import area, dcf_bin, make_party, op_body, uid


def write(tmp_path, name, doc):
    p = tmp_path / name
    p.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return str(p)


def run_pty(argv, env, timeout=60):
    """Run argv with stdout and stderr on a pseudo-terminal; return (rc, text)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(argv[0], argv, env)
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        else:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                try:
                    while True:
                        chunk = os.read(fd, 65536)
                        if not chunk:
                            break
                        out += chunk
                except OSError:
                    pass
                os.close(fd)
                return os.waitstatus_to_exitcode(status), out.decode(errors="replace")
    else:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


# ------------------------------------------------------------- help --


def test_help_for_every_command_and_subcommand(cli):
    top = cli.ok("help", url=False).out
    script = cli.ok("completion", "bash", url=False).out
    cmds = re.search(r'compgen -W "([^"]+)"', script).group(1).split()
    assert {"op", "conflict", "line", "msg", "call", "events", "import", "export", "login",
            "party", "desk", "token", "whoami", "templates", "audit"} <= set(cmds)
    for c in cmds:
        assert c in top
        r = cli(c, "--help", url=False)
        assert r.rc == 0 and "usage: deconflict " + c in r.out, r
        m = re.search(r"\n    %s\)\n        subs=\"([^\"]*)\"" % re.escape(c), script)
        for sub in (m.group(1).split() if m and c != "help" else []):
            r = cli(c, sub, "--help", url=False)
            assert r.rc == 0 and "Exit status" in r.out, r
            if c != "audit":  # audit's help covers verify and export together
                assert "usage: deconflict %s %s" % (c, sub) in r.out, r
    man = cli.ok("man", url=False).out
    assert man.startswith(".\\\"") and ".TH DECONFLICT 1" in man
    assert cli("op", "frob", url=False).rc == 2
    assert cli("frobnicate", url=False).rc == 2
    assert cli("op", "show", url=False).rc == 2  # missing ID
    assert re.match(r"deconflict \d+\.\d+\.\d+\n", cli.ok("version", url=False).out)
    # serve's --help lists its whole option table, the hotline's included.
    serve = cli.ok("serve", "--help", url=False).out
    for opt in ("--listen", "--db", "--test-clock", "--line-check-interval", "--tile-url"):
        assert opt in serve, (opt, serve)


def test_completion_script_completes(cli, tmp_path):
    path = write(tmp_path, "c.bash", cli.ok("completion", "bash", url=False).out)
    probe = ('source %s; COMP_WORDS=(deconflict msg send --te); COMP_CWORD=3; _deconflict; '
             'echo "${COMPREPLY[@]}"; COMP_WORDS=(deconflict con); COMP_CWORD=1; _deconflict; '
             'echo "${COMPREPLY[@]}"' % path)
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True).stdout.split("\n")
    assert out[0].split() == ["--text", "--template"]
    assert out[1].split() == ["conflict"]


# ------------------------------------------------------------ login --


def test_login_config_and_overrides(cli, server, team):
    blue, _ = team
    cfg = os.path.join(cli.home, "deconflict", "config.json")
    # A token the server refuses is not stored.
    r = cli("login", server.url, "--token-stdin", url=False, input=b"dcf_" + b"A" * 43 + b"\n")
    assert r.rc == 1 and not os.path.exists(cfg), r
    r = cli("login", server.url, "--token-stdin", "--json", url=False,
            input=(blue.tok["duty"] + "\n").encode())
    assert r.rc == 0, r
    assert r.json()["party"] == blue.id and r.json()["role"] == "duty"
    assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(cfg)).st_mode) == 0o700
    saved = json.load(open(cfg))
    assert saved == {"url": server.url, "token": blue.tok["duty"]}
    # The config alone is enough, for audit verify too.
    assert cli.js("whoami", url=False)["role"] == "duty"
    r = cli("audit", "verify", "--state", os.path.join(cli.home, "audit.json"), url=False)
    assert r.rc == 0, r
    # DECONFLICT_TOKEN overrides it.
    assert cli.js("whoami", url=False, token=blue.tok["viewer"])["role"] == "viewer"
    # The same server spelt with a trailing slash is the same server.
    assert cli.js("whoami", "--url", server.url + "/", url=False)["role"] == "duty"
    # The config's token goes only to the config's server.
    r = cli("whoami", "--url", server.url.replace("127.0.0.1", "localhost"), url=False)
    assert r.rc == 1 and "HTTP 401" in r.err, r
    # logout forgets; then there is no server.
    assert cli.ok("logout", url=False)
    assert not os.path.exists(cfg)
    r = cli("whoami", url=False)
    assert r.rc == 2 and "login" in r.err, r
    # --token works too (for scripts that must), and both at once is a usage error.
    assert cli("login", server.url, "--token", blue.tok["planner"], url=False).rc == 0
    assert cli.js("whoami", url=False)["role"] == "planner"
    assert cli("login", server.url, "--token", "x", "--token-stdin", url=False).rc == 2


def test_unreachable_server_is_exit_2(cli, team):
    r = cli("whoami", "--url", "http://127.0.0.1:1", token=team[0].tok["duty"])
    assert r.rc == 2 and "127.0.0.1:1" in r.err, r


# ------------------------------------------------- parties and tokens --


def test_party_desk_token(cli, server, team):
    blue, red = team
    adm = server.admin
    assert cli.js("whoami", token=adm)["role"] == "admin"
    parties = cli.js("party", "list", token=adm)["items"]
    assert {blue.id, red.id} <= {p["id"] for p in parties}
    assert [p["id"] for p in cli.js("party", "list", token=blue.tok["viewer"])["items"]] == [blue.id]
    r = cli("party", "create", blue.id, "--name", "again", token=adm)
    assert r.rc == 1 and "409" in r.err, r
    assert cli("party", "create", uid("x"), token=adm).rc == 2  # --name is required
    # desks
    d = cli.js("desk", "set", blue.id, "duty", "--name", "Blue duty officer", "--phone", "+1 555",
               token=blue.tok["party-admin"])
    assert d["desks"]["duty"]["contact"] == {"name": "Blue duty officer", "phone": "+1 555"}
    r = cli("desk", "set", red.id, "duty", "--name", "x", token=blue.tok["party-admin"])
    assert r.rc == 1, r
    assert cli.js("party", "show", blue.id, token=blue.tok["duty"])["desks"]["duty"]["contact"][
        "name"] == "Blue duty officer"
    # tokens
    t = cli.js("token", "create", "--role", "viewer", "--label", "temp",
               token=blue.tok["party-admin"])
    assert t["party"] == blue.id and t["token"].startswith("dcf_")
    listed = cli.js("token", "list", token=blue.tok["party-admin"])["items"]
    assert t["id"] in {x["id"] for x in listed}
    assert all("token" not in x for x in listed)
    r = cli("token", "create", "--role", "viewer", token=blue.tok["party-admin"])
    assert r.rc == 0 and r.out.startswith("dcf_") and "shown only once" in r.err
    assert cli.js("whoami", token=t["token"])["role"] == "viewer"
    assert cli("token", "revoke", t["id"], token=blue.tok["party-admin"]).rc == 0
    r = cli("whoami", token=t["token"])
    assert r.rc == 1 and "401" in r.err, r
    a = cli.js("token", "create", "--role", "admin", "--label", "second admin", token=adm)
    assert a["role"] == "admin" and a["party"] is None
    assert cli("token", "list", token=adm).rc == 2  # the admin must name a party
    # audit export (admin) still works beside the new commands
    out = os.path.join(cli.home, "audit-export.json")
    r = cli("audit", "export", "--out", out, token=adm)
    assert r.rc == 0 and json.load(open(out)), r
    assert cli.js("token", "list", "--party", red.id, token=adm)["items"]


# ------------------------------------------------------- operations --


def test_operation_lifecycle(cli, team, tmp_path):
    blue, red = team
    lat, lng = area()
    body = op_body(lat, lng)
    body["id"] = "my-local-id"  # files often carry one: dropped
    f = write(tmp_path, "a.json", body)
    created = cli.js("op", "create", f, token=blue.tok["planner"])
    assert created["id"].startswith("op-") and created["version"] == 1
    assert created["state"] == "planned" and created["conflicts"] == []
    op = created["id"]
    # human output
    r = cli.ok("op", "create", write(tmp_path, "a2.json", op_body(lat + 1, lng)),
               token=blue.tok["planner"])
    assert re.match(r"created op-\S+ \(version 1, planned\); 0 conflicts", r.out), r
    # list, paging, show
    items = cli.js("op", "list", token=blue.tok["viewer"])["items"]
    assert op in [o["id"] for o in items]
    page = cli.js("op", "list", "--limit", "1", token=blue.tok["viewer"])
    assert len(page["items"]) == 1 and page["next_cursor"]
    every = cli.js("op", "list", "--limit", "1", "--all", token=blue.tok["viewer"])["items"]
    assert len(every) == 2 and every[0]["id"] == op
    r = cli.ok("op", "list", "--limit", "1", token=blue.tok["viewer"])
    assert r.out.count("\n") == 1 and r.out.split("\t")[0] == op and "--cursor" in r.err
    assert cli.js("op", "show", op, token=blue.tok["viewer"])["id"] == op
    # query arguments are escaped (the times hold ':')
    from conftest import at
    box = "%f,%f,%f,%f" % (lng - 0.5, lat - 0.5, lng + 0.5, lat + 0.5)
    hit = cli.js("op", "list", "--from", at(2), "--to", at(10), "--bbox", box,
                 token=blue.tok["viewer"])["items"]
    assert [o["id"] for o in hit] == [op]
    assert cli.js("op", "list", "--from", at(20), "--to", at(30), token=blue.tok["viewer"])[
        "items"] == []
    r = cli("op", "list", "--bbox", "nonsense", token=blue.tok["viewer"])
    assert r.rc == 1 and "?bbox" in r.err, r
    assert cli.ok("op", "show", op, token=blue.tok["viewer"]).out.startswith("id: " + op)
    r = cli("op", "show", op, token=red.tok["viewer"])
    assert r.rc == 1 and "404" in r.err, r
    # update with versions
    body2 = op_body(lat, lng, radius_m=2500)
    f2 = write(tmp_path, "b.json", body2)
    u = cli.js("op", "update", op, f2, token=blue.tok["planner"])
    assert u["version"] == 2 and u["volumes"][0]["footprint"]["radius_m"] == 2500
    r = cli("op", "update", op, f2, "--version", "1", token=blue.tok["planner"])
    assert r.rc == 1 and "stale" in r.err and "version 2" in r.err and "op show" in r.err, r
    assert cli.js("op", "show", op, token=blue.tok["viewer"])["version"] == 2
    # lifecycle, with and without If-Match
    r = cli("op", "activate", op, "--version", "1", token=blue.tok["planner"])
    assert r.rc == 1 and "412" in r.err, r
    assert cli.js("op", "activate", op, "--version", "2", token=blue.tok["planner"])[
        "state"] == "active"
    assert cli.js("op", "complete", op, token=blue.tok["planner"])["state"] == "completed"
    r = cli("op", "cancel", op, token=blue.tok["planner"])
    assert r.rc == 1 and "409" in r.err, r
    second = cli.js("op", "list", "--state", "planned", token=blue.tok["viewer"])["items"]
    assert len(second) == 1
    assert cli.js("op", "cancel", second[0]["id"], token=blue.tok["planner"])[
        "state"] == "cancelled"
    # a viewer may not create
    r = cli("op", "create", f, token=blue.tok["viewer"])
    assert r.rc == 1 and "403" in r.err, r


def test_operation_files_and_errors(cli, team, tmp_path):
    blue, red = team
    lat, lng = area()
    # GeoJSON Feature and FeatureCollection are converted.
    feat = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[
        [lng, lat], [lng + 0.05, lat], [lng + 0.05, lat + 0.05], [lng, lat + 0.05], [lng, lat]]]},
        "properties": {"kind": "drone", "priority": 5,
                       "altitude": {"lower_m": 0, "upper_m": 100},
                       "time": {"start": op_body(0, 0)["volumes"][0]["time"]["start"],
                                "end": op_body(0, 0)["volumes"][0]["time"]["end"]}}}
    o = cli.js("op", "create", write(tmp_path, "f.geojson", feat), token=blue.tok["planner"])
    assert o["volumes"][0]["footprint"]["type"] == "polygon"
    assert len(o["volumes"][0]["footprint"]["vertices"]) == 4
    fc = {"type": "FeatureCollection", "features": [feat]}
    assert cli("op", "check", write(tmp_path, "fc.geojson", fc), token=red.tok["planner"]).rc == 1
    # Bad input: file, pointer and rule, nothing sent (exit 2).
    bad = op_body(lat, lng)
    bad["volumes"][0]["footprint"]["center"]["lat"] = 95
    r = cli("op", "create", write(tmp_path, "bad.json", bad), token=blue.tok["planner"])
    assert r.rc == 2 and "bad.json: /volumes/0/footprint/center/lat: must be between" in r.err, r
    r = cli("op", "create", write(tmp_path, "broken.json", "{"), token=blue.tok["planner"])
    assert r.rc == 2 and "invalid JSON" in r.err, r
    r = cli("op", "create", str(tmp_path / "missing.json"), token=blue.tok["planner"])
    assert r.rc == 2 and "cannot open" in r.err, r
    two = {"operations": [op_body(lat, lng), op_body(lat, lng)]}
    r = cli("op", "create", write(tmp_path, "two.json", two), token=blue.tok["planner"])
    assert r.rc == 2 and "one operation" in r.err, r
    # The server's refusal (an operation that has already ended): exit 1 with the pointer.
    past = op_body(lat, lng, start_h=-3, hours=1)
    r = cli("op", "create", write(tmp_path, "past.json", past), token=blue.tok["planner"])
    assert r.rc == 1 and "422" in r.err and "/volumes/0/time/end" in r.err, r
    # Another party's id in "party": refused by the server with its pointer.
    other = op_body(lat, lng)
    other["party"] = red.id
    r = cli("op", "create", write(tmp_path, "other.json", other), token=blue.tok["planner"])
    assert r.rc == 1 and "/party" in r.err, r


def test_conflicts(cli, team, tmp_path):
    blue, red = team
    lat, lng = area()
    a = cli.js("op", "create", write(tmp_path, "a.json", op_body(lat, lng)),
               token=blue.tok["planner"])
    near = write(tmp_path, "b.json", op_body(lat + 0.01, lng))
    chk = cli("op", "check", near, "--json", token=red.tok["planner"])
    assert chk.rc == 1 and len(chk.json()["conflicts"]) == 1, chk
    r = cli("op", "check", write(tmp_path, "far.json", op_body(lat + 1.5, lng)),
            token=red.tok["planner"])
    assert r.rc == 0 and r.out.startswith("0 conflicts"), r
    b = cli.js("op", "create", near, token=red.tok["planner"])
    assert len(b["conflicts"]) == 1
    cf = b["conflicts"][0]["id"]
    lst = cli.js("conflict", "list", "--state", "open", token=red.tok["duty"])["items"]
    assert [c["id"] for c in lst] == [cf]
    v = cli.js("conflict", "show", cf, token=blue.tok["viewer"])
    assert v["own"]["operation"]["id"] == a["id"] and v["other"]["party"]["id"] == red.id
    assert cli.js("conflict", "ack", cf, token=blue.tok["duty"])["own"]["acknowledged"]
    assert cli.js("conflict", "ack", cf, token=red.tok["duty"])["state"] == "acknowledged"
    cli.js("conflict", "accept", cf, token=blue.tok["duty"])
    assert cli.js("conflict", "accept", cf, token=red.tok["senior"])["state"] == "accepted"
    r = cli("conflict", "ack", cf, token=red.tok["viewer"])
    assert r.rc == 1 and "403" in r.err, r
    r = cli("conflict", "show", "cf-nope", token=red.tok["viewer"])
    assert r.rc == 1 and "404" in r.err, r
    # plain (not a terminal) table: tab-separated, no header
    r = cli.ok("conflict", "list", token=red.tok["duty"])
    assert r.out.split("\n")[0].split("\t")[:2] == [cf, "accepted"], r


# ---------------------------------------------------------- hotline --


def test_hotline(cli, team, tmp_path):
    blue, red = team
    line = cli.js("line", "propose", "--name", "blue-red " + blue.id, "--member", red.id,
                  token=blue.tok["party-admin"])
    lid = line["id"]
    assert line["state"] == "proposed"
    r = cli("line", "propose", "--name", "x", token=blue.tok["party-admin"])
    assert r.rc == 2 and "--member" in r.err, r
    assert cli.js("line", "accept", lid, token=red.tok["party-admin"])["state"] == "open"
    assert [x["id"] for x in cli.js("line", "list", token=red.tok["duty"])["items"]] == [lid]
    assert cli.js("line", "show", lid, token=red.tok["duty"])["name"].startswith("blue-red")
    # messages: text, then a template with typed fields and a fields file
    m1 = cli.js("msg", "send", lid, "--type", "warning", "--level", "duty", "--text",
                "Tanker early", token=blue.tok["duty"])
    assert m1["seq"] == 1 and m1["text"] == "Tanker early" and m1["deadline"]
    area_file = write(tmp_path, "area.json", {"area": {"type": "polygon", "vertices": [
        {"lat": 35.1, "lng": 36.2}, {"lat": 35.1, "lng": 36.4}, {"lat": 35.3, "lng": 36.4},
        {"lat": 35.3, "lng": 36.2}]}})
    m2 = cli.js("msg", "send", lid, "--type", "request", "--level", "duty",
                "--template", "operation-notice", "--fields-json", area_file,
                "--field", "operation=op-AbCdEfGhIjKlMnOpQrStUv", "--field", "activity=air-patrol",
                "--field", 'window={"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T12:30:00Z"}',
                "--field", 'altitude={"lower_m": 1200, "upper_m": 3000}',
                "--field", "remarks=Callsign HAWK 11", token=blue.tok["duty"])
    assert m2["template"]["fields"]["altitude"] == {"lower_m": 1200, "upper_m": 3000}
    assert m2["template"]["fields"]["remarks"] == "Callsign HAWK 11"
    r = cli("msg", "send", lid, "--type", "info", "--level", "duty", "--template",
            "operation-notice", "--field", "activity=air-patrol", token=blue.tok["duty"])
    assert r.rc == 1 and "/fields/" in r.err, r
    r = cli("msg", "send", lid, "--type", "info", "--level", "duty", token=blue.tok["duty"])
    assert r.rc == 2, r
    msgs = cli.js("msg", "list", lid, token=red.tok["duty"])["items"]
    assert [m["seq"] for m in msgs] == [1, 2]
    assert [m["seq"] for m in cli.js("msg", "list", lid, "--after", "1",
                                     token=red.tok["duty"])["items"]] == [2]
    paged = cli.js("msg", "list", lid, "--limit", "1", "--all", token=red.tok["duty"])["items"]
    assert [m["seq"] for m in paged] == [1, 2]
    ru = cli.js("msg", "show", lid, "2", "--lang", "ru", token=red.tok["duty"])
    assert "УВЕДОМЛЕНИЕ О ПОЛЁТЕ" in ru["template"]["rendering"]
    human = cli.ok("msg", "show", lid, "2", "--lang", "ru", token=red.tok["duty"]).out
    assert "template.rendering:\n    УВЕДОМЛЕНИЕ О ПОЛЁТЕ" in human
    ack = cli.js("msg", "ack", lid, "1", "--by", "Lt Ivanov", "--reply", "copy",
                 token=red.tok["duty"])
    assert ack["recipients"][0]["state"] == "acknowledged"
    assert ack["recipients"][0]["acknowledged_by"] == "Lt Ivanov"
    r = cli("msg", "ack", lid, "1", "--by", "again", token=red.tok["duty"])
    assert r.rc == 1 and "409" in r.err, r
    # calls
    call = cli.js("call", "start", lid, "--level", "senior", "--topic", "tanker track",
                  "--by", "Col A", token=blue.tok["senior"])
    cid = call["id"]
    assert call["state"] == "ringing"
    assert cli.js("call", "answer", cid, "--by", "Col B", token=red.tok["senior"])[
        "state"] == "answered"
    cli.js("msg", "send", lid, "--type", "info", "--level", "senior", "--text", "on the call",
           "--call", cid, token=blue.tok["senior"])
    assert cli.js("call", "end", cid, token=blue.tok["senior"])["state"] == "ended"
    cli.js("call", "readout", cid, "--visibility", "shared", "--text", "agreed", "--by", "Col A",
           token=blue.tok["senior"])
    rf = write(tmp_path, "readout.txt", "line one\nline two\n")
    cli.js("call", "readout", cid, "--visibility", "internal", "--text-file", rf,
           token=red.tok["senior"])
    shown = cli.js("call", "show", cid, token=blue.tok["senior"])
    assert [m["text"] for m in shown["transcript"]] == ["on the call"]
    assert [x["party"] for x in shown["readouts"]] == [blue.id]  # red's is internal
    red_view = cli.js("call", "show", cid, token=red.tok["senior"])
    assert sorted(x["party"] for x in red_view["readouts"]) == sorted([blue.id, red.id])
    assert [c["id"] for c in cli.js("call", "list", lid, token=red.tok["duty"])["items"]] == [cid]
    c2 = cli.js("call", "start", lid, "--level", "duty", "--topic", "x", token=blue.tok["duty"])
    assert cli.js("call", "decline", c2["id"], "--reason", "busy", token=red.tok["duty"])[
        "state"] == "declined"
    stats = cli.js("line", "stats", lid, token=blue.tok["duty"])
    assert {s["party"] for s in stats["sides"]} == {blue.id, red.id}
    # suspend / resume
    s = cli.js("line", "suspend", lid, "--reason", "maintenance", token=blue.tok["senior"])
    assert any(m["suspended"] for m in s["members"])
    r = cli("msg", "send", lid, "--type", "info", "--level", "duty", "--text", "x",
            token=blue.tok["duty"])
    assert r.rc == 1 and "409" in r.err, r
    s = cli.js("line", "resume", lid, token=blue.tok["senior"])
    assert not any(m["suspended"] for m in s["members"])
    # presence and templates
    assert cli.js("presence", token=red.tok["duty"])
    tl = cli.js("templates", "list", token=red.tok["viewer"])["items"]
    assert "safety-of-flight-warning" in {t["id"] for t in tl}
    assert cli.js("templates", "show", "operation-notice", token=red.tok["viewer"])[
        "id"] == "operation-notice"


def test_test_clock(cli, server):
    c0 = cli.js("clock", "show", token=server.admin)
    c1 = cli.js("clock", "advance", "--seconds", "30", token=server.admin)
    assert c1["offset_s"] >= c0["offset_s"] + 30
    assert cli("clock", "advance", "--seconds", "x", token=server.admin).rc == 2


# ------------------------------------------------------------ output --


def test_terminal_tables_and_colour(cli, team, tmp_path):
    blue, _ = team
    lat, lng = area()
    cli.js("op", "create", write(tmp_path, "a.json", op_body(lat, lng)), token=blue.tok["planner"])
    argv = [dcf_bin(), "op", "list"]
    rc, text = run_pty(argv, cli.env(token=blue.tok["viewer"]))
    assert rc == 0, text
    first = text.split("\r\n")[0]
    assert "ID" in first and "STATE" in first and "\x1b[1m" in first, text
    assert "\x1b[33mplanned\x1b[0m" in text
    rc, text = run_pty(argv, cli.env(token=blue.tok["viewer"], extra={"NO_COLOR": "1"}))
    assert rc == 0 and "\x1b[" not in text and re.search(r"ID +STATE +KIND", text), text


# ------------------------------------------------------------ events --


def test_events_follow_and_resume_after_a_restart(cli, tmp_root, tmp_path):
    from conftest import SERVER_OPTS, Cli, Server
    import tempfile
    srv = Server(tempfile.mkdtemp(prefix="ev-", dir=tmp_root), SERVER_OPTS)
    srv.start()
    try:
        c = Cli(srv, cli.home)
        blue = make_party(c, "ev")
        lat, lng = area()
        c.js("op", "create", write(tmp_path, "a.json", op_body(lat, lng)),
             token=blue.tok["planner"])
        # --since 0 replays from the start; --count ends it.
        evs = [json.loads(x) for x in
               c.ok("events", "--since", "0", "--count", "1", "--json",
                    token=blue.tok["viewer"]).out.splitlines()]
        assert evs[0]["event"] == "operation.created" and evs[0]["id"] == "1"
        first = evs[0]["data"]["operation"]
        # Follow, restart the server, keep following: nothing lost, nothing twice.
        proc = subprocess.Popen([dcf_bin(), "events", "--since", "0", "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=c.env(token=blue.tok["viewer"]))
        time.sleep(1.0)
        port = srv.port
        assert srv.stop() == 0
        srv.start(port=port)
        second = c.js("op", "create", write(tmp_path, "b.json", op_body(lat + 1, lng)),
                      token=blue.tok["planner"])["id"]
        deadline = time.monotonic() + 30
        lines = []
        while time.monotonic() < deadline:
            r, _, _ = select.select([proc.stdout], [], [], 0.5)
            if r:
                ln = proc.stdout.readline()
                if not ln:
                    break
                lines.append(json.loads(ln))
                if any(e["data"].get("operation") == second for e in lines):
                    break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        ops = [e["data"].get("operation") for e in lines if e["event"] == "operation.created"]
        assert ops == [first, second], (lines, err)
        ids = [int(e["id"]) for e in lines]
        assert ids == sorted(set(ids)), ids
        assert b"reconnecting" in err, err
    finally:
        srv.stop()


def test_events_refused(cli, server):
    r = cli("events", "--count", "1", token=server.admin)
    assert r.rc == 1 and "403" in r.err, r
    assert cli("events", "--since", "abc", token=server.admin).rc == 2


# ------------------------------------------------------------ export --


def test_export_and_reimport(cli, team, tmp_path):
    blue, _ = team
    lat, lng = area()
    for i in range(5):
        cli.js("op", "create", write(tmp_path, "o%d.json" % i, op_body(lat + 0.2 * i, lng)),
               token=blue.tok["planner"])
    out = tmp_path / "ops.ndjson"
    r = cli("export", "--out", str(out), token=blue.tok["viewer"])
    assert r.rc == 0 and "exported 5 operations" in r.err, r
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 5 and all(x["party"] == blue.id and x["version"] == 1 for x in lines)
    assert cli.ok("export", token=blue.tok["viewer"]).out == out.read_text()
    assert cli.ok("export", "--state", "cancelled", token=blue.tok["viewer"]).out == ""
    # The export imports again (server fields are dropped): five more.
    r = cli("import", str(out), "--json", token=blue.tok["planner"])
    assert r.rc == 0 and r.json()["created"] == 5, r
    assert len(cli.js("op", "list", token=blue.tok["viewer"])["items"]) == 10
    # Into another party it is refused line by line (the lines name blue).
    other = make_party(cli, "copy")
    r = cli("import", str(out), "--restart", token=other.tok["planner"])
    assert r.rc == 1 and "ops.ndjson:1: /party: " in r.err, r
