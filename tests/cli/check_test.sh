#!/usr/bin/env bash
# check_test.sh -- `deconflict check` end to end: the bundled example's exact
# conflicts, exit codes 0/1/2, --json output, and bad-input messages that
# name the file, the JSON Pointer and the rule.
set -u
BIN=${1:?usage: check_test.sh path/to/deconflict}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok()  { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*" >&2; }
expect_rc() { # expected-rc description command...
  local want=$1 what=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?
  if [ "$got" -eq "$want" ]; then ok; else bad "$what: exit $got, want $want"; cat "$tmp/err" >&2; fi
}
expect_in() { # file pattern description
  if grep -qE -- "$2" "$1"; then ok; else bad "$3: /$2/ not in $1:"; cat "$1" >&2; fi
}

# The example: exactly one conflict, blue-isr-euphrates x red-strike-deir.
expect_rc 1 "example has conflicts" "$BIN" check --rules examples/rules.json examples/syria-air.json
expect_in "$tmp/out" '^CONFLICT blue-isr-euphrates \(blue, fixed-wing\) x red-strike-deir \(red, fixed-wing\)$' "the conflict"
expect_in "$tmp/out" '^1 conflict among 5 operations\.$' "summary line"
expect_in "$tmp/out" 'time +2026-11-24T08:00:00Z \.\. 2026-11-24T09:00:00Z' "overlap window"
expect_in "$tmp/out" 'altitude +4000 \.\. 6000 m' "overlap band"
if grep -q 'red-helo-transit\|red-recce-slot' "$tmp/out"; then bad "near miss or back-to-back reported"; else ok; fi

# JSON output parses and says the same.
expect_rc 1 "json" "$BIN" check --json --rules examples/rules.json examples/syria-air.json
/usr/bin/python3 - "$tmp/out" <<'PY' && ok || bad "json content"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["operations"] == 5, d
c = d["conflicts"]
assert len(c) == 1, c
assert (c[0]["a"]["id"], c[0]["b"]["id"]) == ("blue-isr-euphrates", "red-strike-deir"), c
assert c[0]["overlap"]["time"] == {"start": "2026-11-24T08:00:00Z", "end": "2026-11-24T09:00:00Z"}
assert c[0]["overlap"]["altitude"] == {"lower_m": 4000, "upper_m": 6000}
assert c[0]["overlap"]["distance_m"] == 0
assert c[0]["separation"]["horizontal_m"] == 3000
PY

# Without the rule table (all minima 0) the near miss stays clear too.
expect_rc 1 "no rules" "$BIN" check examples/syria-air.json

# A near-miss pushed 1 km closer becomes a conflict under the 3 km minimum.
sed 's/35.262/35.285/g' examples/syria-air.json > "$tmp/closer.json"
expect_rc 1 "closer" "$BIN" check --rules examples/rules.json "$tmp/closer.json"
expect_in "$tmp/out" 'blue-isr-euphrates .* x red-helo-transit' "closer near miss conflicts"
expect_in "$tmp/out" '^2 conflicts among 5 operations\.$' "two conflicts"

# No conflict: exit 0.
/usr/bin/python3 - examples/syria-air.json "$tmp/clear.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["operations"] = [o for o in d["operations"] if o["id"] != "red-strike-deir"]
json.dump(d, open(sys.argv[2], "w"))
PY
expect_rc 0 "clear" "$BIN" check --rules examples/rules.json "$tmp/clear.json"
expect_in "$tmp/out" '^0 conflicts among 4 operations\.$' "clear summary"

# Bad input: exit 2 with file, pointer and rule.
sed 's/"lat": 35.45, "lng": 40.25/"lat": 95.45, "lng": 40.25/' examples/syria-air.json > "$tmp/lat.json"
expect_rc 2 "lat 95" "$BIN" check "$tmp/lat.json"
expect_in "$tmp/err" "lat.json: /operations/0/volumes/0/footprint/vertices/2/lat: " "lat pointer"
sed 's/"end": "2026-11-24T09:00:00Z"/"end": "2026-11-24T07:00:00Z"/' examples/syria-air.json > "$tmp/end.json"
expect_rc 2 "end before start" "$BIN" check "$tmp/end.json"
expect_in "$tmp/err" "end.json: /operations/1/volumes/0/time/end: " "end pointer"
printf '{"operations": [' > "$tmp/broken.json"
expect_rc 2 "malformed" "$BIN" check "$tmp/broken.json"
expect_in "$tmp/err" "broken.json:1:[0-9]+: invalid JSON" "json error position"
expect_rc 2 "missing file" "$BIN" check "$tmp/nope.json"
expect_in "$tmp/err" "nope.json: cannot open" "missing file message"
expect_rc 2 "too big" "$BIN" check --max-bytes 100 examples/syria-air.json
expect_in "$tmp/err" "larger than the limit of 100 bytes" "size limit"
expect_rc 2 "no file" "$BIN" check
expect_rc 2 "bad option" "$BIN" check --frobnicate examples/syria-air.json
expect_rc 0 "help" "$BIN" check --help
expect_in "$tmp/out" "Exit status: 0 no conflict" "help text"
expect_rc 2 "unknown command" "$BIN" frobnicate

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
