"""conftest.py -- fixtures for the CLI suite: the `deconflict` program run as
a user runs it, against a real `deconflict serve` on loopback.

Fixtures:
  server   session-scoped server (--notice 0s --test-clock, generous rate
           limits); `deconflict init --db DIR/deconflict.db --json` gives the
           admin token; the port is found by binding 127.0.0.1:0 (retried
           when the server then cannot bind it).
  cli      a Cli bound to that server: cli(args..., token=T) runs the program
           with DECONFLICT_URL/DECONFLICT_TOKEN set, a private
           XDG_CONFIG_HOME and no NO_COLOR, and returns a Result (rc, out,
           err, json()).
  team     a fresh pair of parties (blue, red; unique ids) with one token per
           role each, created through the CLI itself.

Every operation body comes from op_body(): a small circle somewhere on the
globe (the caller gives the centre) starting hours from now, so operations
of different tests never meet.
"""

import datetime
import itertools
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

ROLES = ("party-admin", "planner", "duty", "senior", "viewer")
_ids = itertools.count(1)
_RUN = "%04d" % (os.getpid() % 10000)


def uid(prefix):
    return "%s%s-%d" % (prefix, _RUN, next(_ids))


def dcf_bin():
    b = os.environ.get("DCF_BIN")
    if not b or not os.access(b, os.X_OK):
        pytest.fail("DCF_BIN is not set to the program (run tests/cli/cli_test.sh)", pytrace=False)
    return b


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def at(hours):
    base = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return rfc3339(base + datetime.timedelta(hours=hours))


def op_body(lat, lng, radius_m=2000, start_h=3.0, hours=1.0, kind="drone", priority=10):
    return {"kind": kind, "priority": priority,
            "volumes": [{"footprint": {"type": "circle", "center": {"lat": lat, "lng": lng},
                                       "radius_m": radius_m},
                         "altitude": {"lower_m": 0, "upper_m": 300},
                         "time": {"start": at(start_h), "end": at(start_h + hours)}}]}


_areas = itertools.count(0)


def area():
    """A centre at least 3 degrees from every other area of this run."""
    i = next(_areas)
    return (-60 + 3 * (i % 40), -170 + 4 * (i // 40))


def _die_with_parent():
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except OSError:
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Result:
    def __init__(self, args, rc, out, err):
        self.args, self.rc, self.out, self.err = args, rc, out, err

    def json(self):
        try:
            return json.loads(self.out)
        except ValueError as e:
            raise AssertionError("not JSON (%s): %r\nstderr: %s" % (e, self.out[:2000], self.err))

    def __repr__(self):
        return "deconflict %s -> %d\nstdout: %s\nstderr: %s" % (
            " ".join(self.args), self.rc, self.out[-3000:], self.err[-3000:])


class Server:
    def __init__(self, workdir, opts):
        self.bin = dcf_bin()
        self.dir = workdir
        self.db = os.path.join(workdir, "deconflict.db")
        self.opts = opts
        self.log = os.path.join(workdir, "server.log")
        self.proc = None
        self.port = None
        r = subprocess.run([self.bin, "init", "--db", self.db, "--json"], capture_output=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        self.admin = json.loads(r.stdout)["admin_token"]

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, port=None):
        for _ in range(6):
            p = port or free_port()
            argv = [self.bin, "serve", "--db", self.db, "--listen", "127.0.0.1:%d" % p] + self.opts
            with open(self.log, "ab") as logf:
                self.proc = subprocess.Popen(argv, stdout=logf, stderr=logf,
                                             stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
            self.port = p
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    if requests.get(self.url + "/readyz", timeout=2).status_code == 200:
                        return self
                except requests.RequestException:
                    pass
                time.sleep(0.05)
            self.stop()
            if port is not None:
                time.sleep(0.5)  # the same port: wait for it and try again
        raise AssertionError("deconflict serve did not start:\n" + open(self.log).read()[-4000:])

    def stop(self):
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
                return "killed"
        return p.returncode


class Cli:
    def __init__(self, server, home):
        self.server = server
        self.home = home

    def env(self, token=None, url=True, extra=None):
        e = dict(os.environ)
        for k in ("DECONFLICT_URL", "DECONFLICT_TOKEN", "NO_COLOR"):
            e.pop(k, None)
        e["XDG_CONFIG_HOME"] = self.home
        if url:
            e["DECONFLICT_URL"] = self.server.url
        if token is not None:
            e["DECONFLICT_TOKEN"] = token
        e.update(extra or {})
        return e

    def __call__(self, *args, token=None, url=True, input=None, env=None, timeout=120, raw=False):
        """Run the program with args (raw: args[0] is the program to run)."""
        args = [str(a) for a in args]
        r = subprocess.run((args if raw else [dcf_bin()] + args), input=input, capture_output=True,
                           env=self.env(token, url, env), timeout=timeout)
        return Result(args, r.returncode, r.stdout.decode(errors="replace"),
                      r.stderr.decode(errors="replace"))

    def ok(self, *args, **kw):
        r = self(*args, **kw)
        assert r.rc == 0, r
        return r

    def js(self, *args, **kw):
        return self.ok(*(list(args) + ["--json"]), **kw).json()


class Party:
    def __init__(self, pid):
        self.id = pid
        self.tok = {}
        self.tid = {}


def make_party(cli, name_prefix):
    pid = uid(name_prefix)
    cli.js("party", "create", pid, "--name", "Party " + pid, token=cli.server.admin)
    p = Party(pid)
    for role in ROLES:
        t = cli.js("token", "create", "--party", pid, "--role", role, "--label", role,
                   token=cli.server.admin)
        p.tok[role] = t["token"]
        p.tid[role] = t["id"]
    return p


@pytest.fixture(scope="session")
def tmp_root():
    d = tempfile.mkdtemp(prefix="dcf-cli-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


SERVER_OPTS = ["--notice", "0s", "--test-clock", "--heartbeat", "1s", "--rate", "100000",
               "--check-rate", "100000"]


@pytest.fixture(scope="session")
def server(tmp_root):
    s = Server(tempfile.mkdtemp(prefix="srv-", dir=tmp_root), SERVER_OPTS)
    s.start()
    yield s
    rc = s.stop()
    assert rc == 0, "server exit %r\n%s" % (rc, open(s.log).read()[-4000:])


@pytest.fixture
def cli(server, tmp_path):
    home = tmp_path / "config"
    home.mkdir()
    return Cli(server, str(home))


@pytest.fixture
def team(cli):
    return make_party(cli, "blue"), make_party(cli, "red")
