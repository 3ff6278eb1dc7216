"""dcf_helpers.py -- plain helpers shared by the API tests (no pytest here).

What lives here: times in RFC 3339, unique party ids and unique map areas
(so tests sharing one server never meet each other's operations), operation
body builders in the model form of docs/model.md, problem+json assertions
for the error table of docs/api.md, and a small Server-Sent Events client.

Invariants the tests rely on:
  * every area() is at least 2 degrees (> 180 km) from every other, and the
    builders never draw farther than 0.6 degrees from an area's centre, so
    operations of different tests never come within any separation minimum;
  * every time is T0 + hours, T0 being three days ahead (whole hour), far
    beyond any notice period a test sets, and never in the past;
  * the SSE client never blocks a test for longer than the timeout it is
    given: a reader thread does the blocking and hands items over a queue.
"""

import datetime as _dt
import itertools
import json
import os
import queue
import random
import socket
import threading

PROBLEM_BASE = "https://deconflict.dev/problems/"

# ------------------------------------------------------------------ ids --

_counter = itertools.count(1)
_RUN = "%04d" % (os.getpid() % 10000)


def uid(prefix="p"):
    """A party slug unique within this run: [a-z0-9][a-z0-9-]{0,31}."""
    return "%s%s-%d" % (prefix, _RUN, next(_counter))


def random_op_id(rng=None):
    """An id of the server's shape (op- + 26 characters) that names nothing."""
    rng = rng or random
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    return "op-" + "".join(rng.choice(alphabet) for _ in range(26))


def random_cf_id(rng=None):
    rng = rng or random
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    return "cf-" + "".join(rng.choice(alphabet) for _ in range(26))


def random_token(rng=None):
    """A well-formed token (dcf_ + 43 base64url characters) that was never issued."""
    rng = rng or random
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return "dcf_" + "".join(rng.choice(alphabet) for _ in range(43))


# ---------------------------------------------------------------- times --


def now_utc():
    return _dt.datetime.now(_dt.timezone.utc)


def rfc3339(t):
    t = t.astimezone(_dt.timezone.utc)
    if t.microsecond:
        return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s):
    return _dt.datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))


T0 = (now_utc() + _dt.timedelta(days=3)).replace(minute=0, second=0, microsecond=0)


def at(hours=0.0, base=None):
    """RFC 3339 text for T0 (or base) + hours."""
    return rfc3339((base or T0) + _dt.timedelta(hours=hours))


def from_now(minutes):
    return rfc3339((now_utc() + _dt.timedelta(minutes=minutes)).replace(microsecond=0))


# ---------------------------------------------------------------- areas --

_area_counter = itertools.count(0)
_area_lock = threading.Lock()


def area():
    """A (lat, lng) centre no other call returns, 2+ degrees from every other."""
    with _area_lock:
        i = next(_area_counter)
    row, col = divmod(i % 9000, 150)
    return (-59.0 + row * 2.0, -164.0 + col * 2.2)


# ----------------------------------------------------------- operations --


def circle(lat, lng, radius_m=5000):
    return {"type": "circle", "center": {"lat": lat, "lng": lng}, "radius_m": radius_m}


def square(lat, lng, half_deg=0.05):
    d = half_deg
    return {
        "type": "polygon",
        "vertices": [
            {"lat": lat - d, "lng": lng - d},
            {"lat": lat - d, "lng": lng + d},
            {"lat": lat + d, "lng": lng + d},
            {"lat": lat + d, "lng": lng - d},
        ],
    }


def volume(footprint, lower=1000, upper=3000, start=0.0, end=1.0):
    """start/end: hours after T0, or RFC 3339 strings."""
    return {
        "footprint": footprint,
        "altitude": {"lower_m": lower, "upper_m": upper},
        "time": {
            "start": start if isinstance(start, str) else at(start),
            "end": end if isinstance(end, str) else at(end),
        },
    }


def op_body(center, dlat=0.0, dlng=0.0, radius_m=5000, kind="fixed-wing", priority=50,
            lower=1000, upper=3000, start=0.0, end=1.0, **extra):
    """One operation (model form, no id, no party) with one circle volume at
    center + (dlat, dlng).  Two bodies on the same centre with |dlat| below
    0.05 overlap; 0.5 degrees apart they are ~55 km apart and never conflict."""
    lat, lng = center
    body = {
        "kind": kind,
        "priority": priority,
        "volumes": [volume(circle(lat + dlat, lng + dlng, radius_m), lower, upper, start, end)],
    }
    body.update(extra)
    return body


def resource_core(res):
    """The operation resource without the per-request `conflicts` member."""
    return {k: v for k, v in res.items() if k != "conflicts"}


# -------------------------------------------------------------- asserts --


def describe(r):
    """A short, readable account of a requests.Response for assertion messages."""
    req = r.request
    body = r.text if len(r.text) < 3000 else r.text[:3000] + "..."
    return "%s %s -> %d %s\nheaders: %s\nbody: %s" % (
        req.method, req.url, r.status_code, r.reason, dict(r.headers), body)


def expect_status(r, status):
    if isinstance(status, int):
        status = (status,)
    assert r.status_code in status, describe(r)
    return r


def expect_json(r, status):
    expect_status(r, status)
    ctype = r.headers.get("Content-Type", "")
    assert ctype.startswith("application/json"), "content type %r\n%s" % (ctype, describe(r))
    return r.json()


def expect_problem(r, status, ptype, pointer=None):
    """Assert an RFC 9457 problem of the given status and type slug; with
    pointer, one of errors[].pointer must equal it exactly."""
    assert r.status_code == status, describe(r)
    ctype = r.headers.get("Content-Type", "")
    assert ctype.startswith("application/problem+json"), "content type %r\n%s" % (ctype, describe(r))
    body = r.json()
    assert body.get("type") == PROBLEM_BASE + ptype, describe(r)
    assert body.get("status") == status, describe(r)
    assert isinstance(body.get("title"), str) and body["title"], describe(r)
    if pointer is not None:
        errs = body.get("errors")
        assert isinstance(errs, list) and errs, "no errors[] in\n" + describe(r)
        pointers = [e.get("pointer") for e in errs]
        assert pointer in pointers, "want pointer %r, got %r\n%s" % (pointer, pointers, describe(r))
        for e in errs:
            assert isinstance(e.get("rule"), str) and e["rule"], describe(r)
    return body


# ------------------------------------------------------------------ SSE --


class _Dechunker:
    """Undo HTTP/1.1 chunked transfer coding incrementally."""

    def __init__(self):
        self.buf = b""
        self.state = "size"
        self.need = 0
        self.done = False

    def feed(self, data):
        self.buf += data
        out = bytearray()
        while not self.done:
            if self.state == "size":
                i = self.buf.find(b"\r\n")
                if i < 0:
                    break
                size = int(self.buf[:i].split(b";")[0].strip() or b"0", 16)
                self.buf = self.buf[i + 2:]
                if size == 0:
                    self.done = True
                    break
                self.need, self.state = size, "data"
            elif self.state == "data":
                take = self.buf[: self.need]
                out += take
                self.buf = self.buf[len(take):]
                self.need -= len(take)
                if self.need:
                    break
                self.state = "crlf"
            else:
                if len(self.buf) < 2:
                    break
                self.buf = self.buf[2:]
                self.state = "size"
        return bytes(out)


class Event:
    def __init__(self, id, type, data, raw):
        self.id = id
        self.type = type
        self.data = data
        self.raw = raw

    @property
    def n(self):
        return int(self.id)

    def __repr__(self):
        return "Event(id=%r, type=%r, data=%r)" % (self.id, self.type, self.data)


class Comment:
    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return "Comment(%r)" % self.text


class SSEStream:
    """GET an event stream over a raw socket.  .status/.headers always;
    .body for a non-200 answer; for 200 a reader thread queues Event and
    Comment items (None at end of stream)."""

    def __init__(self, port, path, token=None, headers=None, timeout=10.0):
        self.status = None
        self.headers = {}
        self.body = b""
        self.items = []  # everything taken from the queue so far
        self.ended = False
        self._q = queue.Queue()
        self._thread = None
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1:%d" % port,
                 "Accept: text/event-stream"]
        if token is not None:
            lines.append("Authorization: Bearer %s" % token)
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("event stream closed before its headers: %r" % buf)
            buf += chunk
        head, rest = buf.split(b"\r\n\r\n", 1)
        hl = head.decode("latin-1").split("\r\n")
        self.status = int(hl[0].split()[1])
        for h in hl[1:]:
            k, _, v = h.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        if self.status != 200:
            self._read_body(rest)
            self.close()
            return
        self.sock.settimeout(None)
        self._thread = threading.Thread(target=self._run, args=(rest,), daemon=True)
        self._thread.start()

    def _read_body(self, rest):
        if self.chunked:
            dec = _Dechunker()
            out = dec.feed(rest)
            while not dec.done:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                out += dec.feed(chunk)
            self.body = out
            return
        n = int(self.headers.get("content-length", "-1"))
        body = rest
        while n < 0 or len(body) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            body += chunk
        self.body = body

    def json(self):
        return json.loads(self.body.decode())

    def _run(self, data):
        dec = _Dechunker() if self.chunked else None
        import codecs
        utf8 = codecs.getincrementaldecoder("utf-8")()
        text = ""
        ev = {"data": []}
        try:
            while True:
                if data:
                    text += utf8.decode(dec.feed(data) if dec else data)
                    while "\n" in text:
                        line, text = text.split("\n", 1)
                        ev = self._line(line.rstrip("\r"), ev)
                    if dec is not None and dec.done:
                        break
                data = self.sock.recv(65536)
                if not data:
                    break
        except OSError:
            pass
        finally:
            self._q.put(None)

    def _line(self, line, ev):
        if line == "":
            if ev["data"] or "event" in ev or "id" in ev:
                raw = "\n".join(ev["data"])
                try:
                    data = json.loads(raw)
                except ValueError:
                    data = raw
                self._q.put(Event(ev.get("id"), ev.get("event", "message"), data, raw))
            return {"data": []}
        if line.startswith(":"):
            self._q.put(Comment(line[1:].strip()))
            return ev
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            ev["data"].append(value)
        elif field in ("id", "event", "retry"):
            ev[field] = value
        return ev

    def next(self, timeout=10.0):
        """The next item (Event or Comment); None at end of stream; raises
        AssertionError when nothing comes within timeout."""
        if self.ended:
            return None
        try:
            item = self._q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("nothing on the event stream within %.1f s (so far: %r)"
                                 % (timeout, self.items[-10:]))
        if item is None:
            self.ended = True
        else:
            self.items.append(item)
        return item

    def next_event(self, timeout=10.0):
        import time
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no event within %.1f s (so far: %r)" % (timeout, self.items[-10:]))
            item = self.next(left)
            if item is None:
                raise AssertionError("event stream ended (so far: %r)" % self.items[-10:])
            if isinstance(item, Event):
                return item

    def wait_event(self, pred, timeout=10.0):
        """Skip events until pred(event); return it."""
        import time
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no matching event within %.1f s (so far: %r)"
                                     % (timeout, self.items[-20:]))
            ev = self.next_event(left)
            if pred(ev):
                return ev

    def events(self):
        return [i for i in self.items if isinstance(i, Event)]

    def quiet_events(self, quiet=1.5):
        """Events that arrive until no event (comments do not count) comes
        for `quiet` seconds."""
        import time
        out = []
        deadline = time.monotonic() + quiet
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            try:
                item = self.next(left)
            except AssertionError:
                return out
            if item is None:
                return out
            if isinstance(item, Event):
                out.append(item)
                deadline = time.monotonic() + quiet

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
