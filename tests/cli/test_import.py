"""test_import.py -- `deconflict import` and its state file: a large import
with a bad line in it (10^5 lines in the plain build's `make check`, 10^4 under the sanitizers),
refusals by the server reported by line and pointer, --on-error stop and
--resume after fixing the file, --resume after Ctrl-C with no operation
created twice, a GeoJSON FeatureCollection, the progress bar on a
pseudo-terminal and the plain progress lines otherwise, and a 10^6-line
file read in bounded memory.

Generated operations are spread over the globe and a month, 200 m across
and 20 minutes long, all of one party, so they never conflict with each
other (conflicts are only between parties) and cost the server the least.
"""

import datetime
import json
import os
import random
import re
import signal
import subprocess
import time

import pytest

from conftest import dcf_bin, make_party
from test_cli import run_pty

BAD_LAT = ("{\"kind\": \"drone\", \"priority\": 10, \"volumes\": [{\"footprint\": {\"type\": "
           "\"circle\", \"center\": {\"lat\": 95, \"lng\": 10}, \"radius_m\": 100}, \"altitude\": "
           "{\"lower_m\": 0, \"upper_m\": 100}, \"time\": {\"start\": \"%s\", \"end\": \"%s\"}}]}")


def fmt(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def gen_lines(n, seed=1, bad=(), past=()):
    """n NDJSON lines; 1-based line numbers in `bad` break a rule locally,
    those in `past` are valid locally but have ended (the server refuses)."""
    rnd = random.Random(seed)
    t0 = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + \
        datetime.timedelta(hours=3)
    out = []
    for i in range(1, n + 1):
        if i in bad:
            out.append(BAD_LAT % (fmt(t0), fmt(t0 + datetime.timedelta(minutes=10))))
            continue
        s = t0 + datetime.timedelta(minutes=rnd.randrange(0, 60 * 24 * 30))
        if i in past:
            s = t0 - datetime.timedelta(days=2)
        o = {"kind": "drone", "priority": 10, "volumes": [{
            "footprint": {"type": "circle", "center": {"lat": round(rnd.uniform(-60, 60), 5),
                                                       "lng": round(rnd.uniform(-179, 179), 5)},
                          "radius_m": 200},
            "altitude": {"lower_m": 0, "upper_m": 120},
            "time": {"start": fmt(s), "end": fmt(s + datetime.timedelta(minutes=20))}}]}
        out.append(json.dumps(o))
    return out


def write_lines(path, lines):
    with open(path, "w") as f:
        for ln in lines:
            f.write(ln + "\n")
    return str(path)


def count_ops(cli, party):
    r = cli.ok("export", token=party.tok["viewer"])
    return len(r.out.splitlines())


def report(text):
    path = os.environ.get("DCF_CLI_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(text + "\n")


def big_import(cli, tmp_path, n):
    p = make_party(cli, "imp")
    bad = n // 2
    path = write_lines(tmp_path / "ops.ndjson", gen_lines(n, bad={bad}))
    t0 = time.monotonic()
    r = cli("import", path, "--json", token=p.tok["planner"], timeout=1800)
    secs = time.monotonic() - t0
    report("import of %d lines: %.1f s, %.0f operations/s (4 requests in flight)"
           % (n, secs, (n - 1) / secs))
    assert r.rc == 1, r  # one line refused
    s = r.json()
    assert s["created"] == n - 1 and s["refused"] == 1 and s["complete"] is True, s
    assert ("ops.ndjson:%d: /volumes/0/footprint/center/lat: must be between -90 and 90" % bad) \
        in r.err, r.err[-2000:]
    assert count_ops(cli, p) == n - 1
    state = json.load(open(path + ".import-state"))
    assert state["complete"] is True and state["line"] == n and state["skip"] == []
    # Running it again is refused; --resume says it is done.
    assert cli("import", path, token=p.tok["planner"]).rc == 2
    r = cli("import", path, "--resume", token=p.tok["planner"])
    assert r.rc == 0 and "already imported" in r.err, r
    assert count_ops(cli, p) == n - 1


def test_import_many_with_a_bad_line(cli, tmp_path):
    """10^5 lines in the plain build's make check (CMakeLists.txt sets
    DCF_CLI_IMPORT_N), 10^4 under the sanitizers."""
    big_import(cli, tmp_path, int(os.environ.get("DCF_CLI_IMPORT_N", "10000")))


def test_import_reports_server_refusals_and_goes_on(cli, tmp_path):
    p = make_party(cli, "ref")
    path = write_lines(tmp_path / "ops.ndjson",
                       gen_lines(40, bad={7}, past={12, 30}) + ["", "   "] + ["not json"])
    r = cli("import", path, "--json", token=p.tok["planner"])
    assert r.rc == 1, r
    assert r.json()["created"] == 37 and r.json()["refused"] == 4, r
    assert re.search(r"ops\.ndjson:12: /volumes/0/time/end: .*\(.*HTTP 422\)", r.err), r.err
    assert re.search(r"ops\.ndjson:30: /volumes/0/time/end: ", r.err), r.err
    assert "ops.ndjson:7: /volumes/0/footprint/center/lat: " in r.err
    assert re.search(r"ops\.ndjson:43: /: invalid JSON", r.err), r.err
    assert count_ops(cli, p) == 37


def test_import_stop_on_error_then_resume_after_the_fix(cli, tmp_path):
    p = make_party(cli, "stop")
    lines = gen_lines(60, seed=3, past={25})
    path = write_lines(tmp_path / "ops.ndjson", lines)
    r = cli("import", path, "--on-error", "stop", "--jobs", "8", "--json",
            token=p.tok["planner"])
    assert r.rc == 1 and r.json()["complete"] is False, r
    assert "ops.ndjson:25: /volumes/0/time/end" in r.err and "--resume" in r.err, r
    created = count_ops(cli, p)
    assert 24 <= created <= 24 + 8, created  # the requests in flight behind line 25 finished
    state = json.load(open(path + ".import-state"))
    assert state["line"] == 24, state
    # Fix line 25 and resume: every line exactly once.
    lines[24] = gen_lines(1, seed=99)[0]
    write_lines(path, lines)
    r = cli("import", path, "--resume", "--on-error", "stop", "--json", token=p.tok["planner"])
    assert r.rc == 0 and r.json()["complete"] is True, r
    assert count_ops(cli, p) == 60


def test_import_resume_after_ctrl_c_creates_nothing_twice(cli, tmp_path):
    p = make_party(cli, "res")
    n = 3000
    path = write_lines(tmp_path / "ops.ndjson", gen_lines(n, seed=5))
    state = path + ".import-state"
    proc = subprocess.Popen([dcf_bin(), "import", path, "--jobs", "8"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=cli.env(token=p.tok["planner"]))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if json.load(open(state))["line"] >= 300:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, (out, err)
    assert b"interrupted" in err and b"--resume" in err, err
    st = json.load(open(state))
    assert 300 <= st["line"] < n and st["complete"] is False, st
    done = count_ops(cli, p)
    assert done >= st["line"] and done == st["created"], (done, st)
    r = cli("import", path, token=p.tok["planner"])
    assert r.rc == 2 and "--resume" in r.err, r
    r = cli("import", path, "--resume", "--json", token=p.tok["planner"])
    assert r.rc == 0 and r.json()["created"] == n, r
    assert count_ops(cli, p) == n


def test_import_feature_collection(cli, tmp_path):
    p = make_party(cli, "geo")
    t0 = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=3)

    def feat(lng, lat):
        return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lng, lat]},
                "properties": {"kind": "drone", "priority": 3, "radius_m": 300,
                               "altitude": {"lower_m": 0, "upper_m": 100},
                               "time": {"start": fmt(t0),
                                        "end": fmt(t0 + datetime.timedelta(minutes=30))}}}
    fc = {"type": "FeatureCollection",
          "features": [feat(10, 10), feat(200, 10), feat(11, 11)]}
    path = tmp_path / "ops.geojson"
    path.write_text(json.dumps(fc, indent=2))  # pretty: not one line
    r = cli("import", str(path), "--json", token=p.tok["planner"])
    assert r.rc == 1 and r.json()["created"] == 2, r
    assert "ops.geojson:feature 2: /features/1/geometry" in r.err, r
    assert count_ops(cli, p) == 2


def test_import_progress_on_a_terminal(cli, tmp_path):
    p = make_party(cli, "tty")
    path = write_lines(tmp_path / "ops.ndjson", gen_lines(1500, seed=7))
    rc, text = run_pty([dcf_bin(), "import", path], cli.env(token=p.tok["planner"]))
    assert rc == 0, text
    bars = re.findall(r"\r\[[#-]{30}\] +\d+%  line \d+  \d+/s  ETA \d+:\d\d  \d+ created", text)
    assert bars, text[-2000:]
    assert "import: 1500 created, 0 refused" in text


def test_import_progress_lines_when_not_a_terminal(cli, tmp_path):
    p = make_party(cli, "plain")
    path = write_lines(tmp_path / "ops.ndjson", gen_lines(1500, seed=8))
    r = cli("import", path, "--progress-every", "0.2", token=p.tok["planner"])
    assert r.rc == 0, r
    assert re.search(r"^import: line \d+ \(\d+%\), \d+ created, 0 refused, \d+/s, ETA \d+ s$",
                     r.err, re.M), r.err
    assert "\r" not in r.err and "\x1b" not in r.err
    assert r.out.startswith("import: 1500 created, 0 refused")


def test_import_million_lines_in_bounded_memory(cli, tmp_path):
    """10^6 lines that are all refused locally (nothing reaches the server):
    the reader and the bookkeeping must not grow with the file."""
    if sanitized():
        pytest.skip("measured on the plain build (AddressSanitizer's shadow memory dwarfs it)")
    p = make_party(cli, "mem")
    path = tmp_path / "many.ndjson"
    with open(path, "w") as f:
        f.write('{"priority": 1}\n' * 1000000)
    r = cli("/usr/bin/time", "-f", "maxrss=%M", dcf_bin(), "import", str(path), "--json",
            token=p.tok["planner"], timeout=600, raw=True)
    assert r.rc == 1 and r.json()["refused"] == 1000000 and r.json()["complete"], r
    assert r.err.count("\n") < 1100  # refusals past the first 1000 are counted, not printed
    peak_kib = int(re.search(r"maxrss=(\d+)", r.err).group(1))
    assert peak_kib < 48 * 1024, peak_kib  # the file alone is 16 MB


def sanitized():
    out = subprocess.run(["ldd", dcf_bin()], capture_output=True, text=True).stdout
    return "libasan" in out


def test_import_without_a_server_finishes_nothing(cli, tmp_path):
    p = make_party(cli, "down")
    path = write_lines(tmp_path / "ops.ndjson", gen_lines(20, seed=11))
    r = cli("import", path, "--url", "http://127.0.0.1:1", token=p.tok["planner"])
    assert r.rc == 2 and "could not finish" in r.err and "--resume" in r.err, r
    st = json.load(open(path + ".import-state"))
    assert st["line"] == 0 and st["created"] == 0 and st["skip"] == [], st
    # and once the server is there, --resume imports everything once
    r = cli("import", path, "--resume", "--json", token=p.tok["planner"])
    assert r.rc == 0 and r.json()["created"] == 20, r
    assert count_ops(cli, p) == 20
