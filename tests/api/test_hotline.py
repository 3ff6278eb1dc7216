"""test_hotline.py -- the hotline's API surface against a real server with
the test clock (docs/hotline.md, docs/templates.md):

  * templates: the list and each template as the files ship them; the
    rendering in the caller's language (Accept-Language) beside the same
    raw fields, exactly as docs/templates.md shows it; validation of every
    field type of templates/*.json with the pointer under /fields;
  * the membership and role matrix of every hotline route, table-driven:
    a non-member gets 404, the deployment admin 403, a member's role that
    may not act 403, one that may 2xx (each state-changing case on an
    object of its own);
  * delivery: sent -> delivered (a desk's event stream, or a desk's fetch;
    never a viewer's) -> acknowledged, with both sides' events, and the
    errors of docs/hotline.md with their pointers;
  * lines and calls: proposal errors, acceptance, calls on multilateral
    lines (first answer wins, declined when every called party declined);
  * presence: an open duty stream, a senior heartbeat, the window.

One module server; the tests move its clock by a few minutes at most.
"""

import json
import os

import pytest

import dcf_helpers as H
import hotline_helpers as L

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TEMPLATE_DIR = os.path.join(REPO, "templates")


@pytest.fixture(scope="module")
def srv(tmp_root):
    s = L.start_server(tmp_root, "hl-api")
    yield s
    L.stop_server(s)


def shipped_templates():
    out = {}
    for name in sorted(os.listdir(TEMPLATE_DIR)):
        if name.endswith(".json"):
            with open(os.path.join(TEMPLATE_DIR, name), encoding="utf-8") as f:
                doc = json.load(f)
            out[doc["id"]] = doc
    return out


# ------------------------------------------------------------- templates --

NOTICE_FIELDS = {  # docs/templates.md, "An example"
    "operation": "op-AbCdEfGhIjKlMnOpQrStUv", "activity": "air-patrol",
    "window": {"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T12:30:00Z"},
    "altitude": {"lower_m": 1200, "upper_m": 3000},
    "area": {"type": "polygon", "vertices": [
        {"lat": 35.1, "lng": 36.2}, {"lat": 35.1, "lng": 36.4},
        {"lat": 35.3, "lng": 36.4}, {"lat": 35.3, "lng": 36.2}]},
    "remarks": "Callsign HAWK 11"}
NOTICE_EN = (
    "NOTIFICATION OF OPERATION op-AbCdEfGhIjKlMnOpQrStUv\n"
    "Activity: air patrol\n"
    "Time: 2026-12-01 10:00\u201312:30 UTC\n"
    "Altitude band: 1,200\u20133,000 m (WGS 84 ellipsoid)\n"
    "Area: polygon of 4 vertices, latitude 35.1000\u00b0N to 35.3000\u00b0N, "
    "longitude 36.2000\u00b0E to 36.4000\u00b0E\n"
    "Remarks: Callsign HAWK 11")
NOTICE_RU = (
    "\u0423\u0412\u0415\u0414\u041e\u041c\u041b\u0415\u041d\u0418\u0415 \u041e \u041f\u041e\u041b"
    "\u0401\u0422\u0415, \u043e\u043f\u0435\u0440\u0430\u0446\u0438\u044f op-AbCdEfGhIjKlMnOpQrStUv\n"
    "\u0425\u0430\u0440\u0430\u043a\u0442\u0435\u0440 \u0437\u0430\u0434\u0430\u0447\u0438: "
    "\u0432\u043e\u0437\u0434\u0443\u0448\u043d\u043e\u0435 \u043f\u0430\u0442\u0440\u0443\u043b"
    "\u0438\u0440\u043e\u0432\u0430\u043d\u0438\u0435\n"
    "\u0412\u0440\u0435\u043c\u044f: 01.12.2026 10:00\u201312:30 UTC\n"
    "\u0414\u0438\u0430\u043f\u0430\u0437\u043e\u043d \u0432\u044b\u0441\u043e\u0442: "
    "1 200\u20133 000 \u043c (\u043d\u0430\u0434 \u044d\u043b\u043b\u0438\u043f\u0441\u043e\u0438"
    "\u0434\u043e\u043c WGS 84)\n"
    "\u0420\u0430\u0439\u043e\u043d: \u043c\u043d\u043e\u0433\u043e\u0443\u0433\u043e\u043b\u044c"
    "\u043d\u0438\u043a \u0438\u0437 4 \u0432\u0435\u0440\u0448\u0438\u043d, \u0448\u0438\u0440"
    "\u043e\u0442\u0430 \u043e\u0442 35,1000\u00b0 \u0441. \u0448. \u0434\u043e 35,3000\u00b0 "
    "\u0441. \u0448., \u0434\u043e\u043b\u0433\u043e\u0442\u0430 \u043e\u0442 36,2000\u00b0 "
    "\u0432. \u0434. \u0434\u043e 36,4000\u00b0 \u0432. \u0434.\n"
    "\u041f\u0440\u0438\u043c\u0435\u0447\u0430\u043d\u0438\u044f: Callsign HAWK 11")


def valid_fields():
    """A complete, valid value set for each shipped template."""
    win = {"start": H.at(1), "end": H.at(3)}
    return {
        "operation-notice": dict(NOTICE_FIELDS),
        "deconfliction-request": {
            "operation": "op-AbCdEfGhIjKlMnOpQrStUv", "conflict": "cf-0123456789abcdefghjkmnpqrs",
            "proposal": "change-altitude", "proposed_altitude": {"lower_m": 4000, "upper_m": 5000},
            "proposed_window": win, "respond_by": H.at(0.5), "remarks": "Please confirm"},
        "safety-of-flight-warning": {
            "hazard": "live-firing", "area": H.circle(35.0, 36.0, 8000),
            "altitude": {"lower_m": 0, "upper_m": 12000}, "window": win, "action": "avoid",
            "minimum_safe_altitude": 13000, "operation": "op-AbCdEfGhIjKlMnOpQrStUv",
            "details": "Artillery, range 8 km"},
        "conflict-acknowledgement": {
            "conflict": "cf-0123456789abcdefghjkmnpqrs", "intent": "will-adjust",
            "new_altitude": {"lower_m": 6000, "upper_m": 7000}, "new_window": win,
            "acknowledged_by": "Col. Petrov", "remarks": "Climbing to FL200"},
    }


@pytest.fixture(scope="module")
def tline(srv):
    us, ru = L.parties(srv)
    return us, ru, L.open_line(srv, us, [ru], "templates")


def test_templates_are_the_shipped_files(srv, tline):
    us, ru, _ = tline
    files = shipped_templates()
    assert set(files) == {"operation-notice", "deconfliction-request", "safety-of-flight-warning",
                          "conflict-acknowledgement"}
    for tok in (us.tok["viewer"], ru.tok["planner"], srv.admin):  # any token
        got = H.expect_json(srv.get("/v1/templates", tok), 200)["items"]
        assert {t["id"]: t for t in got} == files
    for tid, doc in files.items():
        assert H.expect_json(srv.get("/v1/templates/" + tid, us.tok["duty"]), 200) == doc
    H.expect_problem(srv.get("/v1/templates/no-such-template", us.tok["duty"]), 404, "not-found")
    H.expect_problem(srv.get("/v1/templates"), 401, "unauthorized")


def test_rendering_follows_the_callers_language(srv, tline):
    us, ru, line = tline
    m = L.send(srv, us.tok["duty"], line, {"type": "info", "level": "duty",
                                           "template": "operation-notice",
                                           "fields": NOTICE_FIELDS})
    tpl = m["template"]
    assert tpl["id"] == "operation-notice" and tpl["version"] == 1
    assert tpl["fields"] == NOTICE_FIELDS and tpl["locale"] == "en"  # no Accept-Language
    assert tpl["rendering"] == NOTICE_EN and tpl["title"] == "Notification of an operation"
    en = L.get_msg(srv, ru.tok["duty"], line, m["seq"], "en-GB")["template"]
    ru_t = L.get_msg(srv, ru.tok["duty"], line, m["seq"], "ru-RU,ru;q=0.9,en;q=0.8")["template"]
    assert en["locale"] == "en" and ru_t["locale"] == "ru"
    assert en["rendering"] == NOTICE_EN
    assert ru_t["rendering"] == NOTICE_RU
    assert ru_t["title"] == "\u0423\u0432\u0435\u0434\u043e\u043c\u043b\u0435\u043d\u0438\u0435 " \
        "\u043e \u043f\u043e\u043b\u0451\u0442\u0435"
    assert en["fields"] == ru_t["fields"] == NOTICE_FIELDS
    # docs/templates.md's table of headers.
    for header, want in (("de", "en"), ("ru;q=0, en", "en"), ("de-DE, ru;q=0.5", "ru"),
                         ("*;q=0.5, en;q=0.1", "ru"), ("RU", "ru"), ("garbage", "en")):
        got = L.get_msg(srv, us.tok["viewer"], line, m["seq"], header)["template"]
        assert got["locale"] == want, header
        assert got["rendering"] == (NOTICE_RU if want == "ru" else NOTICE_EN), header
    # The same in a list, and in the sender's own answer.
    items = H.expect_json(srv.get(L.msgs_path(line), ru.tok["viewer"],
                                  headers={"Accept-Language": "ru"}), 200)["items"]
    assert next(x for x in items if x["seq"] == m["seq"])["template"]["rendering"] == NOTICE_RU
    r = srv.post(L.msgs_path(line), ru.tok["duty"],
                 {"type": "info", "level": "duty", "template": "operation-notice",
                  "fields": NOTICE_FIELDS}, headers={"Accept-Language": "ru"})
    assert H.expect_json(r, 201)["template"]["rendering"] == NOTICE_RU


def test_every_template_renders_in_both_languages(srv, tline):
    us, ru, line = tline
    files = shipped_templates()
    for tid, fields in valid_fields().items():
        m = L.send(srv, us.tok["senior"], line, {"type": "warning", "level": "senior",
                                                 "template": tid, "fields": fields,
                                                 "text": "see the template"})
        assert m["text"] == "see the template"
        en = L.get_msg(srv, ru.tok["senior"], line, m["seq"], "en")["template"]
        ru_t = L.get_msg(srv, ru.tok["senior"], line, m["seq"], "ru")["template"]
        assert en["fields"] == ru_t["fields"] == fields, tid
        assert en["rendering"] != ru_t["rendering"], tid
        assert en["title"] == files[tid]["title"]["en"] and ru_t["title"] == files[tid]["title"]["ru"]
        # Every value is there in both renderings: the enum labels in the locale.
        for f in files[tid]["fields"]:
            if f["type"] == "enum":
                label = next(v["label"] for v in f["values"] if v["value"] == fields[f["name"]])
                assert label["en"] in en["rendering"] and label["ru"] in ru_t["rendering"], tid
            elif f["type"] in ("reference", "text"):
                assert fields[f["name"]] in en["rendering"], (tid, f["name"])
                assert fields[f["name"]] in ru_t["rendering"], (tid, f["name"])


W = "safety-of-flight-warning"
N = "operation-notice"
R = "deconfliction-request"
A = "conflict-acknowledgement"
_DEL = object()
BOWTIE = {"type": "polygon", "vertices": [{"lat": 35.0, "lng": 36.0}, {"lat": 35.2, "lng": 36.2},
                                          {"lat": 35.0, "lng": 36.2}, {"lat": 35.2, "lng": 36.0}]}
FLAT = {"type": "polygon", "vertices": [{"lat": 35.0, "lng": 36.0}, {"lat": 35.1, "lng": 36.0},
                                        {"lat": 35.2, "lng": 36.0}]}

# (template, field, value or _DEL, pointer): one broken rule each, every
# field type of templates/*.json (docs/templates.md, "Validation").
FIELD_CASES = [
    # time
    (R, "respond_by", 1764583200, "/fields/respond_by"),
    (R, "respond_by", "2026-13-01T10:00:00Z", "/fields/respond_by"),
    (R, "respond_by", "tomorrow at noon", "/fields/respond_by"),
    (R, "respond_by", None, "/fields/respond_by"),
    # time-window
    (N, "window", "2026-12-01T10:00:00Z", "/fields/window"),
    (N, "window", {"start": "2026-12-01T10:00:00Z"}, "/fields/window/end"),
    (N, "window", {"start": "not a time", "end": "2026-12-01T12:00:00Z"}, "/fields/window/start"),
    (N, "window", {"start": "2026-12-01T12:00:00Z", "end": "2026-12-01T10:00:00Z"},
     "/fields/window/end"),
    (N, "window", {"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T10:00:00Z"},
     "/fields/window/end"),
    (N, "window", {"start": "2026-12-01T10:00:00Z", "end": "2026-12-08T10:00:01Z"},
     "/fields/window/end"),  # max_duration_s 604800
    (N, "window", {"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T11:00:00Z", "zone": "Z"},
     "/fields/window/zone"),
    # altitude
    (W, "minimum_safe_altitude", "high", "/fields/minimum_safe_altitude"),
    (W, "minimum_safe_altitude", 30000.5, "/fields/minimum_safe_altitude"),  # max_m 30000
    (W, "minimum_safe_altitude", -1000.5, "/fields/minimum_safe_altitude"),
    # altitude-band
    (W, "altitude", 5000, "/fields/altitude"),
    (W, "altitude", {"lower_m": 5000, "upper_m": 100}, "/fields/altitude/upper_m"),
    (W, "altitude", {"lower_m": 5000, "upper_m": 5000}, "/fields/altitude/upper_m"),
    (W, "altitude", {"lower_m": -1001, "upper_m": 100}, "/fields/altitude/lower_m"),
    (W, "altitude", {"lower_m": 0, "upper_m": 100001}, "/fields/altitude/upper_m"),
    (N, "altitude", {"lower_m": 0, "upper_m": 30001}, "/fields/altitude/upper_m"),  # max_m 30000
    (W, "altitude", {"lower_m": 0}, "/fields/altitude/upper_m"),
    (W, "altitude", {"lower_m": 0, "upper_m": 10, "unit": "ft"}, "/fields/altitude/unit"),
    # area
    (W, "area", "sector 7", "/fields/area"),
    (W, "area", H.circle(35.0, 36.0, 1000001), "/fields/area/radius_m"),  # max_radius_m default
    (W, "area", H.circle(95.0, 36.0, 1000), "/fields/area/center/lat"),
    (N, "area", {"type": "polygon", "vertices": [{"lat": 35.1, "lng": 36.2},
                                                 {"lat": 95.0, "lng": 36.4},
                                                 {"lat": 35.3, "lng": 36.4}]},
     "/fields/area/vertices/1/lat"),
    (N, "area", FLAT, "/fields/area/vertices"),
    (N, "area", {"type": "hexagon", "vertices": []}, "/fields/area/type"),
    # enum
    (W, "hazard", "rain", "/fields/hazard"),
    (W, "hazard", 3, "/fields/hazard"),
    (W, "action", "Avoid", "/fields/action"),
    (A, "intent", "surrender", "/fields/intent"),
    # text
    (N, "remarks", "x" * 501, "/fields/remarks"),  # max_length 500
    (N, "remarks", "", "/fields/remarks"),  # min_length 1
    (N, "remarks", "bell\x07", "/fields/remarks"),
    (N, "remarks", "abc\u202edcba", "/fields/remarks"),  # bidirectional override
    (N, "remarks", ["a"], "/fields/remarks"),
    (A, "acknowledged_by", "y" * 101, "/fields/acknowledged_by"),
    # reference
    (N, "operation", "cf-AbCdEfGhIjKlMnOpQrStUv", "/fields/operation"),
    (A, "conflict", "op-AbCdEfGhIjKlMnOpQrStUv", "/fields/conflict"),
    (N, "operation", "op-", "/fields/operation"),
    (N, "operation", "op-" + "a" * 62, "/fields/operation"),
    (N, "operation", "op-has space", "/fields/operation"),
    (R, "conflict", 17, "/fields/conflict"),
    # required, unknown
    (N, "area", _DEL, "/fields/area"),
    (W, "hazard", _DEL, "/fields/hazard"),
    (A, "acknowledged_by", _DEL, "/fields/acknowledged_by"),
    (R, "proposal", _DEL, "/fields/proposal"),
    (W, "colour", "red", "/fields/colour"),
]


def _case_id(c):
    v = "absent" if c[2] is _DEL else json.dumps(c[2])[:24]
    return "%s:%s=%s" % (c[0].split("-")[0], c[1], v)


@pytest.mark.parametrize("case", FIELD_CASES, ids=[_case_id(c) for c in FIELD_CASES])
def test_template_field_validation(srv, tline, case):
    us, _, line = tline
    tid, name, value, pointer = case
    fields = valid_fields()[tid]
    if value is _DEL:
        del fields[name]
    else:
        fields[name] = value
    r = srv.post(L.msgs_path(line), us.tok["duty"],
                 {"type": "info", "level": "duty", "template": tid, "fields": fields})
    H.expect_problem(r, 422, "validation", pointer)


@pytest.mark.parametrize("fix", [
    {"remarks": "\u0416" * 500},  # 500 characters, 1000 bytes: the limit is characters
    {"remarks": "line one\nline two\tand a tab"},
    {"altitude": {"lower_m": -1000, "upper_m": 30000}},  # the bounds themselves
    {"window": {"start": "2026-12-01T10:00:00Z", "end": "2026-12-08T10:00:00Z"}},  # exactly 7 days
    {"window": {"start": "2026-12-01T12:00:00+02:00", "end": "2026-12-01T12:30:00+02:00"}},
    {"area": H.circle(35.0, 36.0, 1000000)},
])
def test_template_values_at_the_edges_pass(srv, tline, fix):
    us, _, line = tline
    fields = dict(NOTICE_FIELDS, **fix)
    m = L.send(srv, us.tok["duty"], line,
               {"type": "info", "level": "duty", "template": N, "fields": fields})
    assert m["template"]["fields"] == fields


@pytest.mark.parametrize("body,pointer", [
    ({"template": "no-such-template", "fields": {}}, "/template"),
    ({"template": 5, "fields": {}}, "/template"),
    ({"template": N, "fields": ["operation"]}, "/fields"),
    ({"template": N, "fields": "x"}, "/fields"),
    ({"template": N}, "/fields"),
    ({"text": "free text", "fields": {"remarks": "x"}}, "/fields"),
], ids=["unknown", "not-a-string", "fields-array", "fields-string", "fields-missing",
        "fields-without-template"])
def test_template_and_fields_members(srv, tline, body, pointer):
    us, _, line = tline
    r = srv.post(L.msgs_path(line), us.tok["duty"], dict({"type": "info", "level": "duty"}, **body))
    H.expect_problem(r, 422, "validation", pointer)


# ---------------------------------------------------------------- matrix --


class Ctx:
    """Parties and objects the matrix acts on: `us` proposed the line, `ru`
    is the member whose tokens act, `out` is on no line of theirs."""

    def __init__(self, s):
        self.s = s
        self.us, self.ru, self.out = L.parties(s, 3)
        self.line = L.open_line(s, self.us, [self.ru], "matrix")
        self.msg = L.text_msg(s, self.us.tok["duty"], self.line, "standing message")
        self.call = L.start_call(s, self.us.tok["duty"], self.line, "duty", "standing call")

    # fresh objects for the cases that change state
    def proposed(self):
        return L.propose(self.s, self.us, [self.ru], "to accept")

    def opened(self):
        return L.open_line(self.s, self.us, [self.ru], "fresh")

    def suspended(self):
        line = self.opened()
        H.expect_json(self.s.post("/v1/lines/%s/suspend" % line["id"], self.ru.tok["party-admin"],
                                  {"reason": "pause"}), 200)
        return line

    def message(self, level):
        return L.text_msg(self.s, self.us.tok[level], self.line, "ack me", "warning", level)

    def ringing(self, level):
        return L.start_call(self.s, self.us.tok[level], self.line, level, "ring")

    def answered(self, level):
        c = self.ringing(level)
        return L.call_act(self.s, self.ru.tok[level], c, "answer", {"by": "x"})

    def ended(self, level):
        c = self.answered(level)
        return L.call_act(self.s, self.us.tok[level], c, "end")


ALL = set(L.ROLES)
# name, method, builder(ctx) -> (path, body), roles of a member that may,
# line-scoped (a non-member gets 404), the status of success.
ROUTES = [
    ("line.create", "POST", lambda c: ("/v1/lines", {"name": "n", "members": [c.us.id]}),
     {"party-admin"}, False, 201),
    ("line.list", "GET", lambda c: ("/v1/lines", None), ALL, False, 200),
    ("line.get", "GET", lambda c: ("/v1/lines/" + c.line["id"], None), ALL, True, 200),
    ("line.accept", "POST", lambda c: ("/v1/lines/%s/accept" % c.proposed()["id"], None),
     {"party-admin"}, True, 200),
    ("line.suspend", "POST", lambda c: ("/v1/lines/%s/suspend" % c.opened()["id"],
                                        {"reason": "r"}), {"party-admin", "senior"}, True, 200),
    ("line.resume", "POST", lambda c: ("/v1/lines/%s/resume" % c.suspended()["id"], None),
     {"party-admin", "senior"}, True, 200),
    ("line.stats", "GET", lambda c: ("/v1/lines/%s/stats" % c.line["id"], None), ALL, True, 200),
    ("message.post", "POST", lambda c: (L.msgs_path(c.line), {"type": "info", "level": "duty",
                                                              "text": "t"}),
     {"duty", "senior", "party-admin"}, True, 201),
    ("message.list", "GET", lambda c: (L.msgs_path(c.line), None), ALL, True, 200),
    ("message.get", "GET", lambda c: ("%s/%d" % (L.msgs_path(c.line), c.msg["seq"]), None), ALL,
     True, 200),
    ("message.ack.duty", "POST",
     lambda c: ("%s/%d/acknowledge" % (L.msgs_path(c.line), c.message("duty")["seq"]), {"by": "b"}),
     {"duty", "senior"}, True, 200),
    ("message.ack.senior", "POST",
     lambda c: ("%s/%d/acknowledge" % (L.msgs_path(c.line), c.message("senior")["seq"]),
                {"by": "b"}), {"senior"}, True, 200),
    ("call.start.duty", "POST", lambda c: ("/v1/lines/%s/calls" % c.line["id"],
                                           {"level": "duty", "topic": "t"}), {"duty"}, True, 201),
    ("call.start.senior", "POST", lambda c: ("/v1/lines/%s/calls" % c.line["id"],
                                             {"level": "senior", "topic": "t"}), {"senior"}, True,
     201),
    ("call.list", "GET", lambda c: ("/v1/lines/%s/calls" % c.line["id"], None), ALL, True, 200),
    ("call.get", "GET", lambda c: ("/v1/calls/" + c.call["id"], None), ALL, True, 200),
]
for _lv in L.DESKS:
    ROUTES += [
        ("call.answer." + _lv, "POST",
         lambda c, lv=_lv: ("/v1/calls/%s/answer" % c.ringing(lv)["id"], {"by": "a"}), {_lv}, True,
         200),
        ("call.decline." + _lv, "POST",
         lambda c, lv=_lv: ("/v1/calls/%s/decline" % c.ringing(lv)["id"], {"reason": "busy"}),
         {_lv}, True, 200),
        ("call.end." + _lv, "POST", lambda c, lv=_lv: ("/v1/calls/%s/end" % c.answered(lv)["id"],
                                                       None), {_lv}, True, 200),
        ("call.readout." + _lv, "POST",
         lambda c, lv=_lv: ("/v1/calls/%s/readout" % c.ended(lv)["id"],
                            {"visibility": "shared", "text": "readout"}), {_lv}, True, 201),
    ]
ROUTES += [
    ("presence", "POST", lambda c: ("/v1/presence", None), {"duty", "senior"}, False, 200),
    ("template.list", "GET", lambda c: ("/v1/templates", None), ALL, False, 200),
    ("template.get", "GET", lambda c: ("/v1/templates/" + W, None), ALL, False, 200),
]


@pytest.fixture(scope="module")
def ctx(srv):
    return Ctx(srv)


def _do(s, method, path_body, tok):
    path, body = path_body
    return s.req(method, path, tok, body if body is not None else s._NO)


@pytest.mark.parametrize("route", ROUTES, ids=[r[0] for r in ROUTES])
def test_role_and_membership_matrix(srv, ctx, route):
    name, method, build, may, scoped, ok = route
    # The deployment admin: lines belong to parties (templates: any token).
    r = _do(srv, method, build(ctx), srv.admin)
    if name.startswith("template."):
        H.expect_status(r, ok)
    else:
        H.expect_problem(r, 403, "forbidden")
    for role in L.ROLES:
        r = _do(srv, method, build(ctx), ctx.ru.tok[role])
        if role in may:
            assert r.status_code == ok, (name, role, H.describe(r))
        else:
            H.expect_problem(r, 403, "forbidden")
        if scoped:  # a non-member learns nothing, whatever its role
            H.expect_problem(_do(srv, method, build(ctx), ctx.out.tok[role]), 404, "not-found")
    if name == "line.list":
        got = H.expect_json(srv.get("/v1/lines", ctx.out.tok["viewer"]), 200)["items"]
        assert ctx.line["id"] not in [x["id"] for x in got]


def test_matrix_covers_every_hotline_route(srv, ctx):
    """Every route of docs/hotline.md is in ROUTES (or tested below)."""
    covered = {(m, b(ctx)[0]) for _, m, b, *_ in ROUTES}
    patterns = set()
    for m, path in covered:
        parts = path.split("/")
        norm = "/".join("{id}" if p.startswith(("lin-", "cal-")) else
                        "{seq}" if p.isdigit() else "{tpl}" if p == W else p for p in parts)
        patterns.add((m, norm))
    want = {("POST", "/v1/lines"), ("GET", "/v1/lines"), ("GET", "/v1/lines/{id}"),
            ("POST", "/v1/lines/{id}/accept"), ("POST", "/v1/lines/{id}/suspend"),
            ("POST", "/v1/lines/{id}/resume"), ("GET", "/v1/lines/{id}/stats"),
            ("POST", "/v1/lines/{id}/messages"), ("GET", "/v1/lines/{id}/messages"),
            ("GET", "/v1/lines/{id}/messages/{seq}"),
            ("POST", "/v1/lines/{id}/messages/{seq}/acknowledge"),
            ("POST", "/v1/lines/{id}/calls"), ("GET", "/v1/lines/{id}/calls"),
            ("GET", "/v1/calls/{id}"), ("POST", "/v1/calls/{id}/answer"),
            ("POST", "/v1/calls/{id}/decline"), ("POST", "/v1/calls/{id}/end"),
            ("POST", "/v1/calls/{id}/readout"), ("POST", "/v1/presence"),
            ("GET", "/v1/templates"), ("GET", "/v1/templates/{tpl}")}
    assert patterns == want, patterns ^ want
    # The two clock routes are the admin's alone (test_test_clock_routes).


def test_test_clock_routes(srv, ctx):
    before = L.clock(srv)
    assert before["offset_s"] >= 0
    for role in L.ROLES:
        H.expect_problem(srv.get("/v1/admin/clock", ctx.ru.tok[role]), 403, "forbidden")
        H.expect_problem(srv.post("/v1/admin/clock", ctx.ru.tok[role], {"advance_s": 1}), 403,
                         "forbidden")
    after = L.advance(srv, 1.5)
    assert after["offset_s"] == pytest.approx(before["offset_s"] + 1.5, abs=1e-6)
    assert L.secs(before["now"], after["now"]) >= 1.5
    for bad in (0, -5, 31622401, "10"):
        H.expect_problem(srv.post("/v1/admin/clock", srv.admin, {"advance_s": bad}), 422,
                         "validation", "/advance_s")
    H.expect_problem(srv.post("/v1/admin/clock", srv.admin, {}), 422, "validation", "/advance_s")


def test_no_test_clock_without_the_option(server):
    """The shared server runs without --test-clock: both routes are 404."""
    H.expect_problem(server.get("/v1/admin/clock", server.admin), 404, "not-found")
    H.expect_problem(server.post("/v1/admin/clock", server.admin, {"advance_s": 60}), 404,
                     "not-found")


# ----------------------------------------------------- delivery and errors --


def test_delivery_states_and_events(srv):
    us, ru = L.parties(srv)
    line = L.open_line(srv, us, [ru], "delivery")
    us_ev = srv.events(us.tok["viewer"])
    ru_ev = srv.events(ru.tok["viewer"])  # a viewer's stream delivers nothing
    try:
        m = L.text_msg(srv, us.tok["duty"], line, "first", "request", "duty")
        assert m["kind"] == "message" and m["from"] == {"party": us.id} and m["seq"] >= 1
        c = L.copy_of(m, ru)
        assert c == {"party": ru.id, "state": "sent", "delivered_at": None, "acknowledged_at": None,
                     "acknowledged_by": None, "reply": None, "escalations": []}
        assert [r["party"] for r in m["recipients"]] == [ru.id]  # never the sender
        for st in (us_ev, ru_ev):
            e = st.wait_event(L.is_msg_event("message.new", line, m["seq"]))
            assert L.data(e)["text"] == "first"
        # Readers who are not desks deliver nothing: the viewer, the planner, the sender.
        for tok in (ru.tok["viewer"], ru.tok["planner"], ru.tok["party-admin"], us.tok["duty"]):
            L.get_msg(srv, tok, line, m["seq"])
            L.list_msgs(srv, tok, line)
        assert L.copy_of(L.get_msg(srv, us.tok["viewer"], line, m["seq"]), ru)["state"] == "sent"
        assert not any(e.type == "message.delivered" for e in L.drain(us_ev))
        # A desk's fetch delivers.
        got = L.get_msg(srv, ru.tok["duty"], line, m["seq"])
        c = L.copy_of(got, ru)
        assert c["state"] == "delivered" and c["delivered_at"] is not None, got
        for st in (us_ev, ru_ev):
            d = L.data(st.wait_event(L.is_msg_event("message.delivered", line, m["seq"], ru)))
            assert d["party"] == ru.id
        # A desk's stream delivers, senior or duty.
        for lv in L.DESKS:
            with srv.events(ru.tok[lv]) as desk:
                m2 = L.text_msg(srv, us.tok[lv], line, "to the %s desk" % lv, "info", lv)
                desk.wait_event(L.is_msg_event("message.new", line, m2["seq"]))
                for st in (us_ev, ru_ev):
                    st.wait_event(L.is_msg_event("message.delivered", line, m2["seq"], ru))
            assert L.copy_of(L.get_msg(srv, us.tok["viewer"], line, m2["seq"]),
                             ru)["state"] == "delivered"
        # Acknowledged with a name and a reply; both sides see it.
        a = L.ack(srv, ru.tok["duty"], line, m["seq"], "Maj. Petrov", "times follow at 1200Z")
        c = L.copy_of(a, ru)
        assert c["state"] == "acknowledged" and c["acknowledged_by"] == "Maj. Petrov"
        assert c["reply"] == "times follow at 1200Z" and c["escalations"] == []
        assert L.t(c["acknowledged_at"]) >= L.t(c["delivered_at"])
        for st in (us_ev, ru_ev):
            d = L.data(st.wait_event(L.is_msg_event("message.acknowledged", line, m["seq"], ru)))
            assert d["by"] == "Maj. Petrov" and d["reply"] == "times follow at 1200Z"
        # Acknowledging a message nobody fetched delivers it too.
        m3 = L.text_msg(srv, us.tok["duty"], line, "third", "warning", "duty")
        c = L.copy_of(L.ack(srv, ru.tok["duty"], line, m3["seq"], "Capt. Orlov"), ru)
        assert c["state"] == "acknowledged" and c["delivered_at"] is not None and c["reply"] is None
        # The sender sees the same state.
        assert L.copy_of(L.get_msg(srv, us.tok["viewer"], line, m3["seq"]), ru) == c
    finally:
        us_ev.close()
        ru_ev.close()


def test_acknowledgement_errors(srv):
    us, ru = L.parties(srv)
    line = L.open_line(srv, us, [ru], "ack errors")
    m = L.text_msg(srv, us.tok["duty"], line, "x", "warning", "duty")
    sen = L.text_msg(srv, us.tok["senior"], line, "y", "warning", "senior")
    path = "%s/%d/acknowledge" % (L.msgs_path(line), m["seq"])
    # Sender's own party: 403 whatever the desk.
    for lv in L.DESKS:
        H.expect_problem(srv.post(path, us.tok[lv], {"by": "me"}), 403, "forbidden")
    # A senior-level message is the senior desk's.
    H.expect_problem(srv.post("%s/%d/acknowledge" % (L.msgs_path(line), sen["seq"]), ru.tok["duty"],
                              {"by": "P"}), 403, "forbidden")
    # The body.
    for body, ptr in (({}, "/by"), ({"by": ""}, "/by"), ({"by": "b" * 101}, "/by"),
                      ({"by": "P", "reply": "r" * 2001}, "/reply"), ({"by": 5}, "/by")):
        H.expect_problem(srv.post(path, ru.tok["duty"], body), 422, "validation", ptr)
    assert L.copy_of(L.get_msg(srv, us.tok["viewer"], line, m["seq"]), ru)["state"] == "sent"
    # Limits are inclusive.
    L.ack(srv, ru.tok["duty"], line, m["seq"], "b" * 100, "r" * 2000)
    # Once only.
    H.expect_problem(srv.post(path, ru.tok["duty"], {"by": "again"}), 409, "invalid-transition")
    H.expect_problem(srv.post(path, ru.tok["senior"], {"by": "again"}), 409, "invalid-transition")
    # No such message.
    H.expect_problem(srv.post("%s/%d/acknowledge" % (L.msgs_path(line), 9999), ru.tok["duty"],
                              {"by": "x"}), 404, "not-found")


def test_message_errors(srv):
    us, ru = L.parties(srv)
    out = srv.party(L.ROLES)
    line = L.open_line(srv, us, [ru], "message errors")
    path = L.msgs_path(line)
    own_op = srv.post_op(us.tok["planner"], H.op_body(H.area()))
    their_op = srv.post_op(ru.tok["planner"], H.op_body(H.area()))
    base = {"type": "info", "level": "duty", "text": "x"}
    cases = [
        ({"level": "duty", "text": "x"}, "/type"),
        (dict(base, type="chat"), "/type"),
        (dict(base, type=None), "/type"),
        ({"type": "info", "text": "x"}, "/level"),
        (dict(base, level="boss"), "/level"),
        ({"type": "info", "level": "duty"}, "/text"),
        (dict(base, text=""), "/text"),
        (dict(base, text="t" * 4001), "/text"),
        (dict(base, operations=[their_op["id"]]), "/operations/0"),
        (dict(base, operations=[own_op["id"], H.random_op_id()]), "/operations/1"),
        (dict(base, conflicts=[H.random_cf_id()]), "/conflicts/0"),
        (dict(base, operations=[own_op["id"]] * 17), "/operations"),
        (dict(base, call="cal-doesnotexist"), "/call"),
    ]
    for body, ptr in cases:
        H.expect_problem(srv.post(path, us.tok["duty"], body), 422, "validation", ptr)
    # Limits are inclusive; references to one's own operation are kept.
    m = L.send(srv, us.tok["duty"], line, dict(base, text="t" * 4000, operations=[own_op["id"]]))
    assert m["operations"] == [own_op["id"]] and m["conflicts"] == [] and m["call"] is None
    # Not a member: 404, as for a line that does not exist.
    H.expect_problem(srv.post(path, out.tok["duty"], base), 404, "not-found")
    H.expect_problem(srv.post("/v1/lines/lin-doesnotexist/messages", us.tok["duty"], base), 404,
                     "not-found")
    H.expect_problem(srv.get("%s/%d" % (path, m["seq"] + 100), us.tok["duty"]), 404, "not-found")
    H.expect_problem(srv.get("%s/0" % path, us.tok["duty"]), 404, "not-found")
    # A line that is not open yet.
    prop = L.propose(srv, us, [ru], "not yet")
    H.expect_problem(srv.post(L.msgs_path(prop), us.tok["duty"], base), 409, "invalid-transition")
    H.expect_problem(srv.post("/v1/lines/%s/calls" % prop["id"], us.tok["duty"],
                              {"level": "duty", "topic": "x"}), 409, "invalid-transition")
    # A call's transcript takes messages only while the call is answered.
    ringing = L.start_call(srv, us.tok["duty"], line, "duty", "ringing")
    H.expect_problem(srv.post(path, us.tok["duty"], dict(base, call=ringing["id"])), 422,
                     "validation", "/call")


def test_seq_and_paging(srv):
    us, ru = L.parties(srv)
    line = L.open_line(srv, us, [ru], "paging")
    sent = [L.text_msg(srv, (us if i % 2 else ru).tok["duty"], line, "m%d" % i) for i in range(7)]
    seqs = [m["seq"] for m in sent]
    assert seqs == list(range(1, 8)), seqs
    r = srv.post(L.msgs_path(line), us.tok["duty"], {"type": "info", "level": "duty", "text": "8"})
    assert H.expect_json(r, 201)["seq"] == 8
    assert r.headers["Location"] == "/v1/lines/%s/messages/8" % line["id"]
    page = H.expect_json(srv.get(L.msgs_path(line), us.tok["viewer"],
                                 params={"after": 2, "limit": 3}), 200)
    assert [m["seq"] for m in page["items"]] == [3, 4, 5]
    assert int(page["next_cursor"]) == 5
    page = H.expect_json(srv.get(L.msgs_path(line), us.tok["viewer"],
                                 params={"after": 5, "limit": 3}), 200)
    assert [m["seq"] for m in page["items"]] == [6, 7, 8] and page["next_cursor"] is None
    assert [m["seq"] for m in L.list_msgs(srv, ru.tok["viewer"], line, limit=2)] == list(range(1, 9))
    H.expect_problem(srv.get(L.msgs_path(line), us.tok["viewer"], params={"limit": 0}), 400,
                     "bad-query")
    H.expect_problem(srv.get(L.msgs_path(line), us.tok["viewer"], params={"colour": 1}), 400,
                     "bad-query")
    assert L.get_line(srv, us.tok["viewer"], line)["last_seq"] == 8


def test_line_errors_and_acceptance(srv):
    us, ru, fr = L.parties(srv, 3)
    pa = us.tok["party-admin"]
    for body, ptr in (({"name": "x", "members": ["no-such-party"]}, "/members/0"),
                      ({"name": "x", "members": [us.id]}, "/members/0"),
                      ({"name": "x", "members": [ru.id, ru.id]}, "/members/1"),
                      ({"name": "x", "members": []}, "/members"),
                      ({"name": "x"}, "/members"),
                      ({"name": "", "members": [ru.id]}, "/name"),
                      ({"name": "n" * 101, "members": [ru.id]}, "/name"),
                      ({"members": [ru.id]}, "/name")):
        H.expect_problem(srv.post("/v1/lines", pa, body), 422, "validation", ptr)
    r = srv.post("/v1/lines", pa, {"name": "n" * 100, "members": [ru.id, fr.id]})
    line = H.expect_json(r, 201)
    assert r.headers["Location"] == "/v1/lines/" + line["id"]
    assert line["id"].startswith("lin-") and line["state"] == "proposed"
    assert line["proposed_by"] == us.id and line["opened_at"] is None
    acc = {m["party"]["id"]: m["accepted_at"] for m in line["members"]}
    assert set(acc) == {us.id, ru.id, fr.id} and acc[us.id] is not None
    assert acc[ru.id] is None and acc[fr.id] is None
    # The proposer has accepted by proposing.
    H.expect_problem(srv.post("/v1/lines/%s/accept" % line["id"], pa), 409, "invalid-transition")
    # Nothing moves on a proposed line; it opens when the last member accepts.
    H.expect_problem(srv.post("/v1/lines/%s/suspend" % line["id"], ru.tok["senior"],
                              {"reason": "r"}), 409, "invalid-transition")
    with srv.events(us.tok["viewer"]) as ev:
        one = L.accept(srv, ru, line)
        assert one["state"] == "proposed"
        H.expect_problem(srv.post("/v1/lines/%s/accept" % line["id"], ru.tok["party-admin"]), 409,
                         "invalid-transition")
        ev.wait_event(lambda e: e.type == "line.accepted" and L.data(e)["line"] == line["id"])
        two = L.accept(srv, fr, line)
        assert two["state"] == "open" and two["opened_at"] is not None
        ev.wait_event(lambda e: e.type == "line.opened" and L.data(e)["line"] == line["id"])
    assert L.secs(two["opened_at"], two["next_check_at"]) == L.SECONDS["line_check_interval"]
    # Each member lists it; the list pages in creation order.
    extra = [L.open_line(srv, us, [ru], "l%d" % i) for i in range(3)]
    for p in (us, ru):
        ids = [x["id"] for x in srv._walk("/v1/lines", p.tok["viewer"], {"limit": 2})]
        want = [line["id"]] + [x["id"] for x in extra]
        assert [i for i in ids if i in want] == want, ids
    assert line["id"] in [x["id"] for x in srv._walk("/v1/lines", fr.tok["viewer"], {})]
    assert all(x["id"] != extra[0]["id"] for x in srv._walk("/v1/lines", fr.tok["viewer"], {}))
    # Suspension needs a reason (1..500 bytes).
    for body in ({}, {"reason": ""}, {"reason": "r" * 501}):
        H.expect_problem(srv.post("/v1/lines/%s/suspend" % line["id"], fr.tok["senior"], body),
                         422, "validation", "/reason")


def test_call_errors(srv):
    us, ru, fr = L.parties(srv, 3)
    out = srv.party(L.ROLES)
    line = L.open_line(srv, us, [ru], "calls")
    lid = line["id"]
    for body, ptr in (({"topic": "t"}, "/level"), ({"level": "boss", "topic": "t"}, "/level"),
                      ({"level": "duty"}, "/topic"), ({"level": "duty", "topic": ""}, "/topic"),
                      ({"level": "duty", "topic": "t" * 201}, "/topic"),
                      ({"level": "duty", "topic": "t", "by": "b" * 101}, "/by")):
        H.expect_problem(srv.post("/v1/lines/%s/calls" % lid, us.tok["duty"], body), 422,
                         "validation", ptr)
    # A call on a line the caller is not a member of: 404.
    H.expect_problem(srv.post("/v1/lines/%s/calls" % lid, out.tok["duty"],
                              {"level": "duty", "topic": "t"}), 404, "not-found")
    r = srv.post("/v1/lines/%s/calls" % lid, us.tok["duty"],
                 {"level": "duty", "topic": "t" * 200, "by": "b" * 100})
    call = H.expect_json(r, 201)
    assert r.headers["Location"] == "/v1/calls/" + call["id"]
    # The caller's own party neither answers nor declines.
    H.expect_problem(srv.post("/v1/calls/%s/answer" % call["id"], us.tok["duty"]), 403, "forbidden")
    H.expect_problem(srv.post("/v1/calls/%s/decline" % call["id"], us.tok["duty"]), 403,
                     "forbidden")
    # Not before it is answered and ended.
    H.expect_problem(srv.post("/v1/calls/%s/readout" % call["id"], us.tok["duty"],
                              {"visibility": "shared", "text": "x"}), 409, "invalid-transition")
    L.call_act(srv, ru.tok["duty"], call, "answer", {"by": "Ivanov"})
    # The first answer won.
    H.expect_problem(srv.post("/v1/calls/%s/answer" % call["id"], ru.tok["duty"]), 409,
                     "invalid-transition")
    H.expect_problem(srv.post("/v1/calls/%s/decline" % call["id"], ru.tok["duty"]), 409,
                     "invalid-transition")
    H.expect_problem(srv.post("/v1/calls/%s/readout" % call["id"], ru.tok["duty"],
                              {"visibility": "shared", "text": "x"}), 409, "invalid-transition")
    L.call_act(srv, ru.tok["duty"], call, "end")
    H.expect_problem(srv.post("/v1/calls/%s/end" % call["id"], us.tok["duty"]), 409,
                     "invalid-transition")
    for body, ptr in (({"visibility": "secret", "text": "x"}, "/visibility"),
                      ({"text": "x"}, "/visibility"), ({"visibility": "shared"}, "/text"),
                      ({"visibility": "shared", "text": ""}, "/text"),
                      ({"visibility": "shared", "text": "t" * 20001}, "/text")):
        H.expect_problem(srv.post("/v1/calls/%s/readout" % call["id"], us.tok["duty"], body), 422,
                         "validation", ptr)
    L.readout(srv, us.tok["duty"], call, "internal", "t" * 20000)
    H.expect_problem(srv.post("/v1/calls/%s/readout" % call["id"], us.tok["duty"],
                              {"visibility": "shared", "text": "x"}), 409, "exists")
    H.expect_problem(srv.get("/v1/calls/cal-doesnotexist", us.tok["duty"]), 404, "not-found")
    H.expect_problem(srv.get("/v1/calls/" + call["id"], out.tok["viewer"]), 404, "not-found")


def test_multilateral_calls_and_readouts(srv):
    us, ru, fr = L.parties(srv, 3)
    line = L.open_line(srv, us, [ru, fr], "three")
    with srv.events(fr.tok["viewer"]) as fr_ev:
        # Declined only when every called party declined.
        c = L.start_call(srv, us.tok["senior"], line, "senior", "all")
        fr_ev.wait_event(L.is_call_event("call.ringing", c))
        c = L.call_act(srv, ru.tok["senior"], c, "decline", {"reason": "no"})
        assert c["state"] == "ringing" and [d["party"] for d in c["declines"]] == [ru.id]
        H.expect_problem(srv.post("/v1/calls/%s/decline" % c["id"], ru.tok["senior"]), 409,
                         "invalid-transition")
        c = L.call_act(srv, fr.tok["senior"], c, "decline", {})
        assert c["state"] == "declined" and {d["party"] for d in c["declines"]} == {ru.id, fr.id}
        fr_ev.wait_event(L.is_call_event("call.declined", c))
        # The first answer wins; after one decline the other may still answer.
        d = L.start_call(srv, us.tok["duty"], line, "duty", "first answer wins")
        L.call_act(srv, ru.tok["duty"], d, "decline", {})
        d = L.call_act(srv, fr.tok["duty"], d, "answer", {"by": "Dupont"})
        assert d["state"] == "answered" and d["answered_by"] == {"party": fr.id, "by": "Dupont"}
        # The member that was not on the call may not end it nor file a readout.
        H.expect_problem(srv.post("/v1/calls/%s/end" % d["id"], ru.tok["duty"]), 403, "forbidden")
        L.call_act(srv, fr.tok["duty"], d, "end")
        H.expect_problem(srv.post("/v1/calls/%s/readout" % d["id"], ru.tok["duty"],
                                  {"visibility": "shared", "text": "x"}), 403, "forbidden")
        L.readout(srv, fr.tok["duty"], d, "shared", "fr shared")
        L.readout(srv, us.tok["duty"], d, "internal", "us internal")
        # ru sees the shared readout only; fr its own and none of us's internal one.
        for p, want in ((ru, {"fr shared"}), (fr, {"fr shared"}), (us, {"fr shared", "us internal"})):
            got = L.get_call(srv, p.tok["viewer"], d)
            assert {r["text"] for r in got["readouts"]} == want, p.id
        # A ringing call that nobody answers is missed after --ring-timeout.
        e = L.start_call(srv, us.tok["duty"], line, "duty", "nobody")
        L.advance(srv, L.SECONDS["ring_timeout"] + 1)
        e = L.get_call(srv, fr.tok["viewer"], e)
        assert e["state"] == "missed" and L.same_time(e["missed_at"], e["ring_until"])
        fr_ev.wait_event(L.is_call_event("call.missed", e))
        H.expect_problem(srv.post("/v1/calls/%s/answer" % e["id"], fr.tok["duty"]), 409,
                         "invalid-transition")


# -------------------------------------------------------------- presence --


def test_presence(srv):
    us, ru = L.parties(srv)
    line = L.open_line(srv, us, [ru], "presence")

    def desks(p, viewer=us):
        return L.member(L.get_line(srv, viewer.tok["viewer"], line), p)["desks"]

    def wait_for(pred, what):
        import time
        end = time.monotonic() + 10
        while not pred():
            assert time.monotonic() < end, what
            time.sleep(0.05)

    d = desks(ru)
    assert d == {"duty": {"present": False, "last_seen": None},
                 "senior": {"present": False, "last_seen": None}}, d
    # Roles that are not desks have no presence.
    for role in ("party-admin", "planner", "viewer"):
        H.expect_problem(srv.post("/v1/presence", ru.tok[role]), 403, "forbidden")
    H.expect_problem(srv.post("/v1/presence", srv.admin), 403, "forbidden")
    with srv.events(ru.tok["viewer"]):  # a viewer's stream makes no desk present
        with srv.events(ru.tok["duty"]):
            wait_for(lambda: desks(ru)["duty"]["present"], "an open duty stream is not presence")
            # A second stream of the desk, closed again, leaves it present.
            srv.events(ru.tok["duty"]).close()
            L.advance(srv, 5)
            import time
            time.sleep(1.5)  # past the server's next heartbeat (1 s)
            assert desks(ru)["duty"]["present"]
            assert desks(ru)["senior"]["present"] is False
            assert desks(ru, ru)["duty"]["present"]  # its own side sees it too
            # A senior heartbeat: present for the window.
            H.expect_json(srv.post("/v1/presence", ru.tok["senior"]), 200)
            d = desks(ru)
            assert d["senior"]["present"] and d["senior"]["last_seen"] is not None
            beat = d["senior"]["last_seen"]
            L.advance(srv, L.SECONDS["presence_window"] - 10)
            assert desks(ru)["senior"]["present"]
            L.advance(srv, 11)
            d = desks(ru)
            assert d["senior"]["present"] is False and L.same_time(d["senior"]["last_seen"], beat)
            # The stream still open keeps the duty desk present, however long.
            assert d["duty"]["present"]
        # Closed: absent once the server notices (at its next heartbeat, 1 s).
        wait_for(lambda: not desks(ru)["duty"]["present"], "a closed stream still counts")
        assert desks(ru)["duty"]["last_seen"] is not None
    assert desks(us, ru) == {"duty": {"present": False, "last_seen": None},
                             "senior": {"present": False, "last_seen": None}}
    # A duty heartbeat works the same way.
    H.expect_json(srv.post("/v1/presence", us.tok["duty"]), 200)
    assert desks(us, ru)["duty"]["present"]
    L.advance(srv, L.SECONDS["presence_window"] + 1)
    assert desks(us, ru)["duty"]["present"] is False


# ------------------------------------------------------- races, limits --


def _race(s, reqs):
    """Send the requests at once (one thread each); their status codes."""
    import threading
    import requests
    barrier = threading.Barrier(len(reqs))
    out = [None] * len(reqs)

    def go(i, method, path, tok, body):
        sess = requests.Session()
        barrier.wait()
        out[i] = s.req(method, path, tok, body, session=sess).status_code

    ts = [threading.Thread(target=go, args=(i,) + r) for i, r in enumerate(reqs)]
    for t_ in ts:
        t_.start()
    for t_ in ts:
        t_.join(30)
    return out


def test_first_answer_wins_and_one_acknowledgement_under_races(srv):
    us, ru, fr = L.parties(srv, 3)
    line = L.open_line(srv, us, [ru, fr], "races")
    for i in range(5):
        c = L.start_call(srv, us.tok["duty"], line, "duty", "race %d" % i)
        got = _race(srv, [("POST", "/v1/calls/%s/answer" % c["id"], p.tok["duty"], {"by": p.id})
                          for p in (ru, fr)])
        assert sorted(got) == [200, 409], got
        c = L.get_call(srv, us.tok["viewer"], c)
        winner = ru if got[0] == 200 else fr
        assert c["state"] == "answered" and c["answered_by"]["party"] == winner.id
        m = L.text_msg(srv, us.tok["duty"], line, "race %d" % i, "warning", "duty")
        path = "%s/%d/acknowledge" % (L.msgs_path(line), m["seq"])
        got = _race(srv, [("POST", path, ru.tok[lv], {"by": lv}) for lv in L.DESKS])
        assert sorted(got) == [200, 409], got
        c = L.copy_of(L.get_msg(srv, us.tok["viewer"], line, m["seq"]), ru)
        assert c["acknowledged_by"] == ("duty" if got[0] == 200 else "senior")


def test_line_member_limit_and_proposal_events(srv):
    us = srv.party(("party-admin", "viewer"))
    others = [srv.party(("party-admin", "viewer")) for _ in range(16)]
    with srv.events(others[0].tok["viewer"]) as ev:
        line = L.propose(srv, us, others[:15], "sixteen parties")  # 16 members: the most
        e = ev.wait_event(lambda e: e.type == "line.proposed" and L.data(e)["line"] == line["id"])
        assert L.data(e)["party"] == us.id
    assert len(line["members"]) == 16
    H.expect_problem(srv.post("/v1/lines", us.tok["party-admin"],
                              {"name": "seventeen", "members": [o.id for o in others]}),
                     422, "validation", "/members")


def test_transcript_only_from_the_calls_parties(srv):
    us, ru, fr = L.parties(srv, 3)
    line = L.open_line(srv, us, [ru, fr], "transcripts")
    other = L.open_line(srv, us, [ru], "another line")
    c = L.start_call(srv, us.tok["duty"], line, "duty", "us and ru")
    L.call_act(srv, ru.tok["duty"], c, "answer", {"by": "Ivanov"})
    base = {"type": "info", "level": "duty", "text": "t", "call": c["id"]}
    # fr is on the line but not on the call; and the call is not on `other`.
    H.expect_problem(srv.post(L.msgs_path(line), fr.tok["duty"], base), 422, "validation", "/call")
    H.expect_problem(srv.post(L.msgs_path(other), us.tok["duty"], base), 422, "validation", "/call")
    m = L.send(srv, ru.tok["duty"], line, base)
    assert m["call"] == c["id"]
    L.call_act(srv, us.tok["duty"], c, "end")
    H.expect_problem(srv.post(L.msgs_path(line), us.tok["duty"], base), 422, "validation", "/call")
    assert [x["seq"] for x in L.get_call(srv, fr.tok["viewer"], c)["transcript"]] == [m["seq"]]


def test_call_list_pages(srv):
    us, ru = L.parties(srv)
    line = L.open_line(srv, us, [ru], "call pages")
    ids = [L.start_call(srv, us.tok["duty"], line, "duty", "c%d" % i)["id"] for i in range(5)]
    got = [c["id"] for c in srv._walk("/v1/lines/%s/calls" % line["id"], ru.tok["viewer"],
                                      {"limit": 2})]
    assert sorted(got) == sorted(ids) and len(got) == 5, got
    H.expect_problem(srv.get("/v1/lines/%s/calls" % line["id"], ru.tok["viewer"],
                             params={"limit": 0}), 400, "bad-query")


def test_each_recipient_acknowledges_and_escalates_on_its_own(srv):
    us, ru, fr = L.parties(srv, 3)
    line = L.open_line(srv, us, [ru, fr], "three recipients")
    evs = {p.id: srv.events(p.tok["viewer"]) for p in (us, ru, fr)}
    try:
        m = L.text_msg(srv, us.tok["duty"], line, "to both", "urgent", "duty")
        assert sorted(r["party"] for r in m["recipients"]) == sorted([ru.id, fr.id])
        L.ack(srv, ru.tok["duty"], line, m["seq"], "ru duty")
        H.expect_problem(srv.post("%s/%d/acknowledge" % (L.msgs_path(line), m["seq"]),
                                  fr.tok["duty"], {"by": "fr", "reply": "r" * 2001}),
                         422, "validation", "/reply")
        L.advance(srv, L.ACK_TIME["urgent"] + 1)
        got = L.get_msg(srv, us.tok["viewer"], line, m["seq"])
        assert L.copy_of(got, ru)["escalations"] == []
        assert len(L.copy_of(got, fr)["escalations"]) == 1
        # message.escalated: fr's party and the sender's; not ru's.
        for p in (us, fr):
            evs[p.id].wait_event(L.is_msg_event("message.escalated", line, m["seq"], fr))
        assert not any(e.type == "message.escalated" for e in L.drain(evs[ru.id])), \
            evs[ru.id].events()
        # Who acknowledged what is each recipient's own.
        L.ack(srv, fr.tok["senior"], line, m["seq"], "fr senior")
        got = L.get_msg(srv, ru.tok["viewer"], line, m["seq"])
        assert {r["party"]: r["acknowledged_by"] for r in got["recipients"]} == \
            {ru.id: "ru duty", fr.id: "fr senior"}
    finally:
        for st in evs.values():
            st.close()


def test_conflict_references_must_be_the_senders(srv):
    us, ru, fr = L.parties(srv, 3)
    line = L.open_line(srv, us, [ru, fr], "references")
    _, _, view = srv.make_conflict(ru.tok["planner"], fr.tok["planner"])
    body = {"type": "request", "level": "duty", "text": "about this conflict",
            "conflicts": [view["id"]]}
    H.expect_problem(srv.post(L.msgs_path(line), us.tok["duty"], body), 422, "validation",
                     "/conflicts/0")
    m = L.send(srv, ru.tok["duty"], line, body)
    assert m["conflicts"] == [view["id"]]
    c = L.start_call(srv, us.tok["duty"], line, "duty", "x")
    H.expect_problem(srv.post("/v1/calls/%s/decline" % c["id"], ru.tok["duty"],
                              {"reason": "r" * 501}), 422, "validation", "/reason")


def test_test_clock_option(tmp_root):
    """--test-clock (or --test-clock=true) turns the clock on, --test-clock=false
    leaves it off; a listener that is not loopback is refused with it."""
    import subprocess
    import conftest

    class EqServer(conftest.Server):  # booleans as --name=value
        def argv(self, port):
            a = conftest.Server.argv(self, port)
            if "--test-clock" in a and a.index("--test-clock") + 1 < len(a):
                j = a.index("--test-clock")
                if a[j + 1] in ("true", "false"):
                    a[j:j + 2] = ["--test-clock=" + a[j + 1]]
            return a

    d = os.path.join(tmp_root, "clock-%d" % os.getpid())
    os.mkdir(d)
    s = EqServer(d, {"test_clock": "true"})
    s.init()
    s.start()
    try:
        assert L.clock(s)["offset_s"] == 0
    finally:
        assert s.stop() == 0
    s.opts["test_clock"] = "false"
    s.start()
    try:
        H.expect_problem(s.get("/v1/admin/clock", s.admin), 404, "not-found")
    finally:
        assert s.stop() == 0
    for listen in ("0.0.0.0:%d" % conftest.free_port(), "[::]:%d" % conftest.free_port()):
        r = subprocess.run([s.bin, "serve", "--db", s.db, "--listen", listen, "--test-clock"],
                           capture_output=True, timeout=20)
        out = (r.stdout + r.stderr).decode(errors="replace")
        assert r.returncode != 0, out
        assert "test-clock" in out or "test clock" in out, out
