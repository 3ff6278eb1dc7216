"""corpus.py -- the bad-input corpus for operation bodies: one case per
validation rule of docs/model.md ("Validation rules", for a lone operation,
whose own pointer is ""), plus the API's own rules from docs/api.md (no
`id`, `party` only the caller's, notice) and bodies that are not JSON.

Each case is (name, body, status, problem type, pointer): `body` is a
Python value sent as JSON, or bytes sent as they are.  The GeoJSON rows of
model.md do not apply: the API takes the model form.  The duplicate-id and
max-operations rows do not apply either: a body is one operation without an
id.  Pointers were cross-checked against `deconflict check` (the same
parser) where docs/model.md leaves the index open: crossing edges blame the
first vertex of the first crossing edge.
"""

import copy
import json
import math

import dcf_helpers as H

C = (10.0, 20.0)  # only for bodies that are never stored


def base():
    return H.op_body(C)


def poly_base():
    b = base()
    b["volumes"][0]["footprint"] = H.square(C[0], C[1])
    return b


def with_(path, value, b=None):
    """Set (or with value DELETE remove) the member at a slash path."""
    b = copy.deepcopy(b if b is not None else base())
    parts = path.strip("/").split("/")
    cur = b
    for p in parts[:-1]:
        cur = cur[int(p)] if isinstance(cur, list) else cur[p]
    last = parts[-1]
    if isinstance(cur, list):
        last = int(last)
    if value is DELETE:
        del cur[last]
    else:
        cur[last] = value
    return b


DELETE = object()
V = "/volumes/0"
F = V + "/footprint"


def ring(n, lat=C[0], lng=C[1], r=0.5):
    return [{"lat": lat + r * math.sin(2 * math.pi * k / n), "lng": lng + r * math.cos(2 * math.pi * k / n)}
            for k in range(n)]


def many_volumes(n):
    b = base()
    b["volumes"] = [H.volume(H.circle(C[0], C[1] + 0.01 * i, 1000)) for i in range(n)]
    return b


BAD_TIMES = [
    "2026-11-23T14:05:00",
    "2026-11-23 14:05:00Z",
    "2026-13-01T00:00:00Z",
    "2023-02-29T00:00:00Z",
    "2026-11-23T24:00:00Z",
    "2016-12-31T23:59:60Z",
    "2026-11-23T14:05:00.1234567Z",
    "2026-11-23T14:05:00.Z",
    "2026-11-23T14:05:00+24:00",
    "2026-11-23T14:05:00Zjunk",
    "0001-01-01T00:30:00+01:00",
]

V422 = (422, "validation")

CASES = [
    # any object: only the listed members
    ("unknown-member-top", with_("/colour", "blue"), *V422, "/colour"),
    ("unknown-member-volume", with_(V + "/colour", 1), *V422, V + "/colour"),
    ("unknown-member-footprint", with_(F + "/colour", 1), *V422, F + "/colour"),
    ("unknown-member-center", with_(F + "/center/alt", 1), *V422, F + "/center/alt"),
    ("unknown-member-vertex", with_(F + "/vertices/1/alt", 1, poly_base()), *V422, F + "/vertices/1/alt"),
    ("unknown-member-altitude", with_(V + "/altitude/datum", "msl"), *V422, V + "/altitude/datum"),
    ("unknown-member-time", with_(V + "/time/zone", "Z"), *V422, V + "/time/zone"),
    ("unknown-member-separation", with_("/separation", {"lateral_m": 1}), *V422, "/separation/lateral_m"),
    ("unknown-member-escaped", dict(base(), **{"a~b/c": 1}), *V422, "/a~0b~1c"),
    # required members
    ("required-kind", with_("/kind", DELETE), *V422, "/kind"),
    ("required-priority", with_("/priority", DELETE), *V422, "/priority"),
    ("required-volumes", with_("/volumes", DELETE), *V422, "/volumes"),
    ("required-footprint", with_(V + "/footprint", DELETE), *V422, F),
    ("required-altitude", with_(V + "/altitude", DELETE), *V422, V + "/altitude"),
    ("required-time", with_(V + "/time", DELETE), *V422, V + "/time"),
    ("required-start", with_(V + "/time/start", DELETE), *V422, V + "/time/start"),
    ("required-end", with_(V + "/time/end", DELETE), *V422, V + "/time/end"),
    ("required-lower", with_(V + "/altitude/lower_m", DELETE), *V422, V + "/altitude/lower_m"),
    ("required-upper", with_(V + "/altitude/upper_m", DELETE), *V422, V + "/altitude/upper_m"),
    ("required-type", with_(F + "/type", DELETE), *V422, F + "/type"),
    ("required-center", with_(F + "/center", DELETE), *V422, F + "/center"),
    ("required-radius", with_(F + "/radius_m", DELETE), *V422, F + "/radius_m"),
    ("required-lat", with_(F + "/center/lat", DELETE), *V422, F + "/center/lat"),
    ("required-vertices", with_(F + "/vertices", DELETE, poly_base()), *V422, F + "/vertices"),
    ("required-vertex-lng", with_(F + "/vertices/2/lng", DELETE, poly_base()), *V422, F + "/vertices/2/lng"),
    # wrong types
    ("object-separation", with_("/separation", 5), *V422, "/separation"),
    ("object-volume", with_("/volumes/0", [1]), *V422, V),
    ("object-footprint", with_(F, "circle"), *V422, F),
    ("object-center", with_(F + "/center", [10, 20]), *V422, F + "/center"),
    ("object-altitude", with_(V + "/altitude", None), *V422, V + "/altitude"),
    ("object-time", with_(V + "/time", "today"), *V422, V + "/time"),
    ("object-vertex", with_(F + "/vertices/0", [20, 10], poly_base()), *V422, F + "/vertices/0"),
    ("array-volumes", with_("/volumes", {"0": 1}), *V422, "/volumes"),
    ("array-vertices", with_(F + "/vertices", {"a": 1}, poly_base()), *V422, F + "/vertices"),
    ("number-radius", with_(F + "/radius_m", "5000"), *V422, F + "/radius_m"),
    ("number-lat", with_(F + "/center/lat", True), *V422, F + "/center/lat"),
    ("number-lower", with_(V + "/altitude/lower_m", "0"), *V422, V + "/altitude/lower_m"),
    ("number-sep-h", with_("/separation", {"horizontal_m": None}), *V422, "/separation/horizontal_m"),
    ("number-sep-t", with_("/separation", {"time_s": "60"}), *V422, "/separation/time_s"),
    ("integer-priority-string", with_("/priority", "50"), *V422, "/priority"),
    ("integer-priority-fraction", with_("/priority", 50.5), *V422, "/priority"),
    ("string-kind", with_("/kind", 5), *V422, "/kind"),
    ("string-reason", with_("/exigent_reason", 5, with_("/exigent", True)), *V422, "/exigent_reason"),
    # member rules
    ("kind-syntax", with_("/kind", "Fixed Wing"), *V422, "/kind"),
    ("kind-empty", with_("/kind", ""), *V422, "/kind"),
    ("kind-too-long", with_("/kind", "k" * 33), *V422, "/kind"),
    ("kind-leading-dash", with_("/kind", "-drone"), *V422, "/kind"),
    ("priority-high", with_("/priority", 1001), *V422, "/priority"),
    ("priority-low", with_("/priority", -1), *V422, "/priority"),
    ("sep-horizontal", with_("/separation", {"horizontal_m": 1000001}), *V422, "/separation/horizontal_m"),
    ("sep-vertical", with_("/separation", {"vertical_m": 100001}), *V422, "/separation/vertical_m"),
    ("sep-time", with_("/separation", {"time_s": 604800.5}), *V422, "/separation/time_s"),
    ("sep-negative", with_("/separation", {"horizontal_m": -1}), *V422, "/separation/horizontal_m"),
    ("disclosure", with_("/disclosure", "secret"), *V422, "/disclosure"),
    ("exigent-bool", with_("/exigent", "yes"), *V422, "/exigent"),
    ("exigent-reason-required", with_("/exigent", True), *V422, "/exigent_reason"),
    ("exigent-reason-only-when-exigent", with_("/exigent_reason", "because"), *V422, "/exigent_reason"),
    ("exigent-reason-false", with_("/exigent_reason", "because", with_("/exigent", False)), *V422,
     "/exigent_reason"),
    ("exigent-reason-empty", with_("/exigent_reason", "", with_("/exigent", True)), *V422, "/exigent_reason"),
    ("exigent-reason-long", with_("/exigent_reason", "r" * 501, with_("/exigent", True)), *V422,
     "/exigent_reason"),
    ("volumes-too-many", many_volumes(65), *V422, "/volumes"),
    ("volumes-empty", with_("/volumes", []), *V422, "/volumes"),
    ("footprint-type", with_(F + "/type", "square"), *V422, F + "/type"),
    ("vertices-too-many", with_(F + "/vertices", ring(10001), poly_base()), *V422, F + "/vertices"),
    ("vertices-too-few", with_(F + "/vertices", ring(2), poly_base()), *V422, F + "/vertices"),
    ("vertex-lat", with_(F + "/vertices/1/lat", 90.5, poly_base()), *V422, F + "/vertices/1/lat"),
    ("vertex-lng", with_(F + "/vertices/2/lng", -180.5, poly_base()), *V422, F + "/vertices/2/lng"),
    ("center-lat", with_(F + "/center/lat", -91), *V422, F + "/center/lat"),
    ("center-lng", with_(F + "/center/lng", 181), *V422, F + "/center/lng"),
    ("vertex-repeats-previous", with_(F + "/vertices/2", {"lat": C[0] - 0.05, "lng": C[1] + 0.05},
                                      poly_base()), *V422, F + "/vertices/2"),
    ("vertex-closes-ring", with_(F + "/vertices", H.square(*C)["vertices"] + [H.square(*C)["vertices"][0]],
                                 poly_base()), *V422, F + "/vertices/4"),
    ("edges-cross", with_(F + "/vertices", [{"lat": 10.0, "lng": 20.0}, {"lat": 10.0, "lng": 20.1},
                                            {"lat": 10.1, "lng": 20.0}, {"lat": 10.1, "lng": 20.1}],
                          poly_base()), *V422, F + "/vertices/1"),
    ("zero-area", with_(F + "/vertices", [{"lat": 10.0, "lng": 20.0}, {"lat": 10.0, "lng": 20.00001},
                                          {"lat": 10.0000000001, "lng": 20.000005}], poly_base()),
     *V422, F + "/vertices"),
    ("too-wide", with_(F + "/vertices", [{"lat": -40.0, "lng": 0.0}, {"lat": -40.0, "lng": 80.0},
                                         {"lat": 40.0, "lng": 80.0}, {"lat": 40.0, "lng": 0.0}],
                       poly_base()), *V422, F + "/vertices"),
    ("radius-zero", with_(F + "/radius_m", 0), *V422, F + "/radius_m"),
    ("radius-huge", with_(F + "/radius_m", 1000000.5), *V422, F + "/radius_m"),
    ("altitude-lower-range", with_(V + "/altitude/lower_m", -1000.5), *V422, V + "/altitude/lower_m"),
    ("altitude-upper-range", with_(V + "/altitude/upper_m", 100000.5), *V422, V + "/altitude/upper_m"),
    ("altitude-upper-not-above", with_(V + "/altitude/upper_m", 1000), *V422, V + "/altitude/upper_m"),
    ("time-not-string", with_(V + "/time/start", 1764000000), *V422, V + "/time/start"),
    ("time-end-not-string", with_(V + "/time/end", None), *V422, V + "/time/end"),
    ("time-end-before-start", with_(V + "/time/end", H.at(0)), *V422, V + "/time/end"),
    ("time-too-long", with_(V + "/time/end", H.at(1)[:-1] + ".000000" + "0" * 60 + "Z"), *V422, V + "/time/end"),
] + [
    ("rfc3339-%d" % i, with_(V + "/time/start", t), *V422, V + "/time/start") for i, t in enumerate(BAD_TIMES)
] + [
    ("type-member", with_("/type", "Feature"), *V422, "/type"),
    ("not-an-operation", "an operation", *V422, ""),
    ("not-an-operation-number", 42, *V422, ""),
    # the API's own rules
    ("id-present", with_("/id", "my-op"), *V422, "/id"),
    ("party-other", with_("/party", "@OTHER"), *V422, "/party"),
    ("party-syntax", with_("/party", "Blue Force"), *V422, "/party"),
    # not JSON
    ("malformed-json", b'{"kind": "drone", ', 400, "malformed-json", ""),
    ("malformed-trailing", json.dumps(base()).encode() + b" x", 400, "malformed-json", ""),
    ("malformed-empty", b"", 400, "malformed-json", ""),
    ("malformed-nan", json.dumps(base()).replace('"priority": 50', '"priority": NaN').encode(), 400,
     "malformed-json", ""),
    ("malformed-utf8", json.dumps(base()).replace('"fixed-wing"', '"fixed\xffwing"').encode("latin-1"), 400,
     "malformed-json", ""),
    ("malformed-duplicate-key", json.dumps(base()).replace('"priority": 50', '"priority": 50, "priority": 60')
     .encode(), 400, "malformed-json", ""),
]

# Cases docs leave open between two answers: (name, body, [(status, type, pointer or None), ...])
EITHER = [
    # jansson rejects \u0000 unless asked to allow it; the model rule exists for callers that do
    ("nul-in-string", with_("/kind", "dro\u0000ne"), [(422, "validation", "/kind"), (400, "malformed-json", "")]),
    # --max-depth (32): deeper nesting is refused before the model parser runs
    ("too-deep", with_("/colour", json.loads("[" * 40 + "]" * 40)),
     [(400, "malformed-json", None), (422, "validation", None)]),
]
