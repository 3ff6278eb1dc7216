"""conftest.py -- fixtures for the HTTP API suite: real `deconflict serve`
processes on loopback, written against docs/api.md.

Fixtures:
  server       session-scoped shared server (--notice 0s --heartbeat 1s and
               generous --rate/--check-rate so the suite's own traffic is
               never limited).  Tests on it create their own parties (uid())
               and draw in their own area(), so they never see each other.
  make_server  function-scoped factory: make_server(policy="strict", ...)
               starts a private server with those options (underscores in
               names become dashes: max_body="1024" -> --max-body 1024).

Every server: `deconflict init --db DIR/deconflict.db --json` gives the
admin token; `deconflict serve` runs on a free port (found by binding
127.0.0.1:0, retried when the bind then fails), with stdout+stderr in
DIR/server.log; ready means GET /readyz answered 200 (20 s at most).  At
teardown the server gets SIGTERM and must exit 0 within 10 s (then SIGKILL
and a failure).  When a test fails, the server log lines written during
that test are attached to its report.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import requests

import dcf_helpers as H

DEFAULT_OPTS = {"notice": "0s", "heartbeat": "1s"}
SHARED_OPTS = {"rate": "1000", "check_rate": "1000"}
_live_servers = []


def dcf_bin():
    b = os.environ.get("DCF_BIN")
    if not b:
        pytest.fail("DCF_BIN is not set (run through tests/api/api_test.sh)", pytrace=False)
    if not os.path.isfile(b) or not os.access(b, os.X_OK):
        pytest.fail("DCF_BIN=%s is not an executable file" % b, pytrace=False)
    return b


def _die_with_parent():
    """Runs in the child before exec: SIGKILL the server if pytest dies."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerFailed(Exception):
    pass


class Party:
    """A party created on a server, with one token per role asked for."""

    def __init__(self, pid, name):
        self.id = pid
        self.name = name
        self.tok = {}  # role -> secret
        self.tid = {}  # role -> token id

    def __repr__(self):
        return "Party(%s)" % self.id


class Server:
    def __init__(self, workdir, opts, db=None):
        self.bin = dcf_bin()
        self.dir = workdir
        self.db = db or os.path.join(workdir, "deconflict.db")
        self.opts = dict(DEFAULT_OPTS)
        self.opts.update(opts)
        self.log_path = os.path.join(workdir, "server.log")
        self.proc = None
        self.port = None
        self.base = None
        self.admin = None
        self.session = requests.Session()
        self.exit_codes = []

    # ------------------------------------------------------- process --

    def argv(self, port):
        a = [self.bin, "serve", "--db", self.db, "--listen", "127.0.0.1:%d" % port]
        for k, v in self.opts.items():
            if v is True:  # a boolean flag: test_clock=True -> --test-clock
                a.append("--" + k.replace("_", "-"))
            else:
                a += ["--" + k.replace("_", "-"), str(v)]
        return a

    def init(self):
        r = subprocess.run([self.bin, "init", "--db", self.db, "--json"], capture_output=True,
                           timeout=60)
        if r.returncode != 0:
            raise ServerFailed("deconflict init exited %d\nstdout: %s\nstderr: %s"
                               % (r.returncode, r.stdout.decode(errors="replace"),
                                  r.stderr.decode(errors="replace")))
        try:
            self.admin = json.loads(r.stdout)["admin_token"]
        except (ValueError, KeyError) as e:
            raise ServerFailed("deconflict init --json printed %r (%s)" % (r.stdout, e))
        assert self.admin.startswith("dcf_") and len(self.admin) == 47, self.admin
        return self.admin

    def log_text(self, start=0):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(start)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def start(self, timeout=20.0):
        last = ""
        for _attempt in range(6):
            port = free_port()
            mark = self.log_size()
            with open(self.log_path, "ab") as logf:
                logf.write(("--- start %s\n" % " ".join(self.argv(port))).encode())
                logf.flush()
                self.proc = subprocess.Popen(self.argv(port), stdout=logf, stderr=logf,
                                             stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
            self.port = port
            self.base = "http://127.0.0.1:%d" % port
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                rc = self.proc.poll()
                if rc is not None:
                    last = self.log_text(mark)
                    self.proc = None
                    if "in use" in last.lower() or "eaddrinuse" in last.lower():
                        break  # someone took the port: try another
                    raise ServerFailed("deconflict serve exited %d before ready:\n%s" % (rc, last))
                try:
                    r = requests.get(self.base + "/readyz", timeout=2)
                    if r.status_code == 200:
                        return self
                except requests.RequestException:
                    pass
                time.sleep(0.05)
            else:
                self.kill9()
                raise ServerFailed("deconflict serve not ready within %.0f s:\n%s"
                                   % (timeout, self.log_text(mark)))
        raise ServerFailed("could not bind a free port after 6 tries:\n%s" % last)

    def stop(self):
        """SIGTERM, wait 10 s, SIGKILL; return the exit code (None if not running)."""
        if self.proc is None:
            return None
        p, self.proc = self.proc, None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                self.exit_codes.append("killed after 10 s")
                return "killed after 10 s"
        self.exit_codes.append(p.returncode)
        return p.returncode

    def kill9(self):
        if self.proc is None:
            return
        p, self.proc = self.proc, None
        p.kill()
        p.wait()

    def restart(self, timeout=20.0):
        rc = self.stop()
        assert rc == 0, "SIGTERM exit code %r\n%s" % (rc, self.log_text()[-4000:])
        return self.start(timeout)

    # ---------------------------------------------------------- HTTP --

    _NO = object()

    def req(self, method, path, token=None, body=_NO, data=None, headers=None, params=None,
            timeout=20, session=None):
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        if body is not Server._NO:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        return (session or self.session).request(method, self.base + path, data=data, headers=h,
                                                 params=params, timeout=timeout,
                                                 allow_redirects=False)

    def get(self, path, token=None, **kw):
        return self.req("GET", path, token, **kw)

    def post(self, path, token=None, body=_NO, **kw):
        return self.req("POST", path, token, body, **kw)

    def put(self, path, token=None, body=_NO, **kw):
        return self.req("PUT", path, token, body, **kw)

    def delete(self, path, token=None, **kw):
        return self.req("DELETE", path, token, **kw)

    # ----------------------------------------------------- shortcuts --

    def create_party(self, pid=None, name=None, desks=None):
        pid = pid or H.uid()
        body = {"id": pid, "name": name or ("Party " + pid)}
        if desks is not None:
            body["desks"] = desks
        return H.expect_json(self.post("/v1/parties", self.admin, body), 201)

    def create_token(self, party, role, label="test", by=None):
        r = self.post("/v1/parties/%s/tokens" % party, by or self.admin,
                      {"role": role, "label": label})
        return H.expect_json(r, 201)

    def party(self, roles=("party-admin", "planner", "duty", "viewer"), desks=None, pid=None,
              name=None):
        """A fresh party with one token per role."""
        p = self.create_party(pid, name, desks)
        party = Party(p["id"], p["name"])
        for role in roles:
            t = self.create_token(party.id, role, label=role)
            party.tok[role] = t["token"]
            party.tid[role] = t["id"]
        return party

    def post_op(self, token, body, expect=201):
        r = self.post("/v1/operations", token, body)
        return H.expect_json(r, expect)

    def get_op(self, token, op_id):
        return H.expect_json(self.get("/v1/operations/" + op_id, token), 200)

    def _walk(self, path, token, params):
        items, cursor, seen = [], None, set()
        while True:
            q = dict(params)
            if cursor:
                q["cursor"] = cursor
            page = H.expect_json(self.get(path, token, params=q), 200)
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items
            assert cursor not in seen and page["items"], \
                "%s: cursor %r repeats or a page is empty after %d items" % (path, cursor, len(items))
            seen.add(cursor)

    def list_ops(self, token, **params):
        """Every operation visible to token, walking all pages."""
        return self._walk("/v1/operations", token, params)

    def list_conflicts(self, token, **params):
        return self._walk("/v1/conflicts", token, params)

    def conflict(self, token, cf_id):
        return H.expect_json(self.get("/v1/conflicts/" + cf_id, token), 200)

    def events(self, token, path="/v1/events", headers=None, timeout=10.0):
        return H.SSEStream(self.port, path, token=token, headers=headers, timeout=timeout)

    def make_conflict(self, tok_a, tok_b, center=None, body_a=None, body_b=None):
        """Two overlapping operations (tok_a's party first); returns
        (op_a, op_b, conflict view for b)."""
        center = center or H.area()
        op_a = self.post_op(tok_a, body_a or H.op_body(center))
        op_b = self.post_op(tok_b, body_b or H.op_body(center, dlat=0.01))
        assert len(op_b.get("conflicts", [])) == 1, op_b
        return op_a, op_b, op_b["conflicts"][0]


def _new_server(tmp_root, opts, name):
    d = tempfile.mkdtemp(prefix=name + "-", dir=tmp_root)
    s = Server(d, opts)
    s.init()
    s.start()
    _live_servers.append(s)
    return s


def _finish(s):
    rc = s.stop()
    if s in _live_servers:
        _live_servers.remove(s)
    return rc


@pytest.fixture(scope="session")
def tmp_root():
    d = tempfile.mkdtemp(prefix="dcf-api-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def server(tmp_root):
    s = _new_server(tmp_root, SHARED_OPTS, "shared")
    yield s
    rc = _finish(s)
    assert rc == 0, "shared server: exit code %r after SIGTERM\n%s" % (rc, s.log_text()[-6000:])


@pytest.fixture
def make_server(tmp_root):
    made = []

    def make(**opts):
        s = _new_server(tmp_root, opts, "srv")
        made.append(s)
        return s

    yield make
    bad = []
    for s in made:
        rc = _finish(s)
        codes = [c for c in s.exit_codes if c != 0]
        if rc not in (0, None) or codes:
            bad.append("server %s: exit codes %r after SIGTERM\n%s"
                       % (" ".join(s.argv(s.port or 0)), s.exit_codes, s.log_text()[-6000:]))
    assert not bad, "\n".join(bad)


# ------------------------------------------------ logs on failure --


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item._dcf_log_marks = {id(s): s.log_size() for s in _live_servers}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        marks = getattr(item, "_dcf_log_marks", {})
        for s in list(_live_servers):
            text = s.log_text(marks.get(id(s), 0))
            if len(text) > 20000:
                text = "...\n" + text[-20000:]
            rep.sections.append(("server log %s (%s)" % (s.port, s.log_path), text))
