#!/usr/bin/env bash
# bench/server/deconflict.sh -- the deconflict side of the server benchmark,
# driven by wrk with bench/server/post.lua.  scripts/bench-server runs it; it
# can also run alone (from the repo root).
#
# For each store size N, in a temporary directory removed at the end:
#   1. `deconflict init --db store.db --json` (the admin token), then
#      `deconflict serve --db store.db --listen 127.0.0.1:0 --rules R
#      --notice 0 --rate 0` (R = `workload rules`: the same minima as the
#      engine benchmark and the PostGIS side; --notice 0 because the data set
#      starts on 2026-12-01; --rate 0 lifts the per-token request limit,
#      which the benchmark would otherwise measure).  Durability is the
#      store's own: SQLite WAL with synchronous=FULL, one fsync per group
#      commit.
#   2. The eight parties and a planner token for each, through the admin API.
#   3. Preload through the API: the clustered data set's first N operations,
#      each POSTed once (post.lua mode "once", wrk -t2 -c16) in its party's
#      token, checked by /readyz's operation count.
#   4. Stop (SIGTERM), copy the store aside, start again: start-up time is
#      from exec to the server's "ready" log line (polled every 10 ms, then
#      /readyz must answer 200); the resident memory (VmRSS) right then.
#   5. For each connection count C: the store copied back (so every run
#      starts from N operations), the server started, and the measured run:
#      `wrk -t2 -cC -dSECS --latency -s post.lua` posting distinct operations
#      of the query set (none is in the store); then VmRSS and VmHWM.
#   6. Writes $OUT/server/deconflict-N.json (every run and the best by
#      requests/s).
#
# Environment (all optional):
#   DCF_BENCH_SIZES        store sizes (default "0 100000 1000000")
#   DCF_BENCH_SECS         seconds per measured run (default 30)
#   DCF_BENCH_DCF_CONNS    wrk connection counts (default "16 64")
#   DCF_BENCH_DCF_ARGS     extra arguments for `deconflict serve`
#   DCF_BENCH_DECONFLICT   the binary (default $DCF_BENCH_BUILD/deconflict)
#   DCF_BENCH_BUILD        build tree (default build)
#   DCF_BENCH_OUT          data sets and results (default bench/out)
#   DCF_BENCH_START        the data sets' first day, Unix seconds (default:
#                          the day after tomorrow, UTC; see START below)
#   DCF_BENCH_TMP          parent of the temporary directory (default /tmp;
#                          the same disk as the PostGIS side's cluster)
#   DCF_BENCH_KEEP=1       keep the temporary directory
#   DCF_BENCH_REUSE=DIR    skip steps 1-3: take the store and tokens.txt from
#                          DIR (the snap/ and tokens.txt a DCF_BENCH_KEEP run
#                          left, or a copy of them a newer binary has already
#                          started on once, so that its migrations are not
#                          in the start-up figure); DCF_BENCH_SIZES must then
#                          name that store's one size
set -euo pipefail

cd "$(dirname "$0")/../.."
HERE=bench/server
OUT=${DCF_BENCH_OUT:-bench/out}
BUILD=${DCF_BENCH_BUILD:-build}
BIN=${DCF_BENCH_DECONFLICT:-$BUILD/deconflict}
SEED=42
read -r -a SIZES <<< "${DCF_BENCH_SIZES:-0 100000 1000000}"
read -r -a CONNS <<< "${DCF_BENCH_DCF_CONNS:-16 64}"
read -r -a EXTRA <<< "${DCF_BENCH_DCF_ARGS:-}"
SECS=${DCF_BENCH_SECS:-30}
THREADS=2
SERVE_ARGS="--notice 0 --rate 0 ${EXTRA[*]}"
PY=/usr/bin/python3
# The server refuses operations that are already over, so the data sets'
# 30-day horizon starts on a day to come: DCF_BENCH_START (Unix seconds of
# a whole UTC day), by default the day after tomorrow.  The data are the
# workload's own moved in time (`workload --start`), kept apart per start.
START=${DCF_BENCH_START:-$(( ($(date -u +%s) / 86400 + 2) * 86400 ))}
DATA=$OUT/server/start-$START
QUERIES=$DATA/clustered-s$SEED-queries.ndjson
# Operations the measured runs can post without repeating one (the query
# set); a run that needs more wraps around, and says so ("wraps").
QUERY_LIMIT=${DCF_BENCH_DCF_QUERIES:-1000000}

command -v wrk >/dev/null || { echo "deconflict.sh: no wrk; run scripts/bootstrap-bench" >&2; exit 2; }
[[ -x $BIN ]] || { echo "deconflict.sh: no $BIN" >&2; exit 2; }
[[ -x $BUILD/bench/workload ]] || { echo "deconflict.sh: no $BUILD/bench/workload (cmake -DDCF_BENCH=ON)" >&2; exit 2; }

# Which program was measured (the build tree may be older than the sources).
BIN_SHA=$(sha256sum "$BIN" | cut -c1-16)
BIN_MTIME=$(date -u -r "$BIN" +%Y-%m-%dT%H:%M:%SZ)

mkdir -p "$OUT/server" "$DATA"
for n in "${SIZES[@]}"; do
    if (( n > 0 )) && [[ ! -f $DATA/clustered-s$SEED-n$n.ndjson ]]; then
        "$BUILD/bench/workload" gen --workload clustered --n "$n" --seed $SEED --start "$START" --dir "$DATA"
    fi
done
if [[ ! -f $QUERIES ]] || (( $(wc -l < "$QUERIES") < QUERY_LIMIT )); then
    "$BUILD/bench/workload" queries --workload clustered --n "$QUERY_LIMIT" --seed $SEED --start "$START" --dir "$DATA"
fi

TMPD=$(mktemp -d "${DCF_BENCH_TMP:-/tmp}/dcf-srv.XXXXXX")
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ ${DCF_BENCH_KEEP:-0} == 1 ]]; then
        echo "deconflict.sh: kept $TMPD"
    else
        rm -rf "$TMPD"
    fi
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

"$BUILD/bench/workload" rules > "$TMPD/rules.json"

# start_server LOG: starts `deconflict serve` on a free port, sets
# SERVER_PID, URL and STARTUP_S (exec to the "ready" log line).
start_server() {
    local log=$1 t0 i
    : > "$log"
    t0=$(now)
    "$BIN" serve --db "$TMPD/store.db" --listen 127.0.0.1:0 --rules "$TMPD/rules.json" \
        --notice 0 --rate 0 "${EXTRA[@]}" 2>> "$log" >> "$log" &
    SERVER_PID=$!
    URL=
    # One grep per 10 ms: polling /readyz with curl every 5 ms spawned
    # hundreds of processes a second on the two cores the start-up needs.
    for (( i = 0; i < 30000; i++ )); do   # at most about 5 minutes
        if grep -q '"msg":"ready"' "$log"; then
            STARTUP_S=$(elapsed "$t0")
            URL=$(grep -m1 -o '"url":"http://[^"]*"' "$log" | cut -d'"' -f4 || true)
            [[ -n $URL && $(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz") == 200 ]] ||
                { cat "$log" >&2; echo "deconflict.sh: ready logged, but /readyz is not 200" >&2; exit 1; }
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" >&2; echo "deconflict.sh: serve died" >&2; exit 1; }
        sleep 0.01
    done
    echo "deconflict.sh: serve not ready after 5 minutes" >&2
    exit 1
}

stop_server() {
    kill "$SERVER_PID"
    wait "$SERVER_PID" || true
    SERVER_PID=
}

for n in "${SIZES[@]}"; do
    echo
    echo "=== deconflict, store of $n operations (load $(cut -d' ' -f1-3 /proc/loadavg))"
    rm -rf "$TMPD/store.db"* "$TMPD/snap" "$TMPD/pre" "$TMPD/run"
    mkdir -p "$TMPD/snap" "$TMPD/pre" "$TMPD/run"
    preload_s=0
    if [[ -n ${DCF_BENCH_REUSE:-} ]]; then
        cp -a "$DCF_BENCH_REUSE"/store.db* "$TMPD/"
        for d in "$TMPD" "$TMPD/pre" "$TMPD/run"; do cp "$DCF_BENCH_REUSE/tokens.txt" "$d/"; done
        start_server "$TMPD/serve-init.log"
        live=$(curl -s "$URL/readyz" | $PY -c 'import json, sys; print(json.load(sys.stdin)["operations"])')
        echo "reused the store of $DCF_BENCH_REUSE: $live live operations"
        [[ $live == "$n" ]] || { echo "deconflict.sh: DCF_BENCH_REUSE holds $live operations, not $n" >&2; exit 1; }
    else
        admin=$("$BIN" init --db "$TMPD/store.db" --json |
            $PY -c 'import json, sys; print(json.load(sys.stdin)["admin_token"])')
        start_server "$TMPD/serve-init.log"

        # Parties and planner tokens: every party that appears in the data.
        parties=$(head -n 100000 "$QUERIES" | grep -o '"party":"[a-z0-9-]*"' | cut -d'"' -f4 | sort -u)
        : > "$TMPD/tokens.txt"
        for p in $parties; do
            code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $admin" \
                -H 'Content-Type: application/json' -d "{\"id\":\"$p\",\"name\":\"$p\"}" "$URL/v1/parties")
            [[ $code == 201 ]] || { echo "deconflict.sh: POST /v1/parties $p: $code" >&2; exit 1; }
            tok=$(curl -s -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
                -d '{"role":"planner"}' "$URL/v1/parties/$p/tokens" |
                $PY -c 'import json, sys; print(json.load(sys.stdin)["token"])')
            echo "$p $tok" >> "$TMPD/tokens.txt"
        done
        cp "$TMPD/tokens.txt" "$TMPD/pre/"
        cp "$TMPD/tokens.txt" "$TMPD/run/"

        if (( n > 0 )); then
            $PY $HERE/prep.py wrk-split "$DATA/clustered-s$SEED-n$n.ndjson" $THREADS "$TMPD/pre" "$n" >/dev/null
            t0=$(now)
            DCF_WRK_DIR=$TMPD/pre DCF_WRK_MODE=once DCF_WRK_JSON=$TMPD/pre/wrk.json \
                wrk -t$THREADS -c16 -d2h --timeout 60s -s $HERE/post.lua "$URL" > "$TMPD/pre/wrk.txt" 2>&1 &
            wrk_pid=$!
            while :; do
                all=1
                for (( t = 0; t < THREADS; t++ )); do [[ -f $TMPD/pre/done-$t ]] || all=0; done
                (( all )) && break
                kill -0 $wrk_pid 2>/dev/null || { cat "$TMPD/pre/wrk.txt" >&2; echo "deconflict.sh: preload wrk ended early" >&2; exit 1; }
                sleep 0.2
            done
            kill -INT $wrk_pid
            wait $wrk_pid || true
            preload_s=$(elapsed "$t0")
            bad=$(awk '{ s += $2 } END { print s }' "$TMPD"/pre/done-*)
            live=$(curl -s "$URL/readyz" | $PY -c 'import json, sys; print(json.load(sys.stdin)["operations"])')
            echo "preloaded $live operations in $preload_s s ($(awk -v n="$n" -v s="$preload_s" 'BEGIN { printf "%.0f", n / s }')/s), $bad refused"
            if [[ $bad != 0 || $live != "$n" ]]; then
                cat "$TMPD/pre/wrk.txt" >&2
                echo "deconflict.sh: preload stored $live of $n operations" >&2
                exit 1
            fi
        fi
    fi
    stop_server
    store_bytes=$(du -cb "$TMPD"/store.db* | awk 'END { print $1 }')
    cp -a "$TMPD"/store.db* "$TMPD/snap/"

    # Start-up with the store as the preload left it.
    sync
    start_server "$TMPD/serve-start.log"
    startup_s=$STARTUP_S
    rss_start_kb=$(status_kb "$SERVER_PID" VmRSS)
    echo "start-up $startup_s s to ready, VmRSS $(( rss_start_kb / 1024 )) MiB; store $(( store_bytes / 1048576 )) MiB on disk"
    stop_server

    $PY $HERE/prep.py wrk-split "$QUERIES" $THREADS "$TMPD/run" "$QUERY_LIMIT" >/dev/null
    runs=()
    for c in "${CONNS[@]}"; do
        rm -f "$TMPD"/store.db*
        cp -a "$TMPD"/snap/store.db* "$TMPD/"
        sync
        start_server "$TMPD/serve-$c.log"
        load_before=$(cut -d' ' -f1 /proc/loadavg)
        DCF_WRK_DIR=$TMPD/run DCF_WRK_MODE=run DCF_WRK_JSON=$TMPD/run/wrk-$c.json \
            wrk -t$THREADS -c"$c" -d"${SECS}s" --timeout 10s --latency -s $HERE/post.lua "$URL" \
            > "$TMPD/run/wrk-$c.txt" 2>&1 || { cat "$TMPD/run/wrk-$c.txt" >&2; exit 1; }
        rss_kb=$(status_kb "$SERVER_PID" VmRSS)
        hwm_kb=$(status_kb "$SERVER_PID" VmHWM)
        live=$(curl -s "$URL/readyz" | $PY -c 'import json, sys; print(json.load(sys.stdin)["operations"])')
        stop_server
        w=$(cat "$TMPD/run/wrk-$c.json")
        runs+=("{\"connections\": $c, \"threads\": $THREADS, \"loadavg_before\": $load_before,
                 \"loadavg_after\": $(cut -d' ' -f1 /proc/loadavg), \"rss_after_bytes\": $(( rss_kb * 1024 )),
                 \"peak_rss_bytes\": $(( hwm_kb * 1024 )), \"operations_after\": $live, \"wrk\": $w}")
        echo "$w" | $PY -c "
import json, sys
w = json.load(sys.stdin)
l = w['latency_ms']
print('  connections %3d: %8.1f req/s  p50 %7.2f ms  p90 %7.2f ms  p99 %7.2f ms  (%d posts, %d refused, %d wraps, load %s; RSS %d MiB, peak %d MiB)'
      % ($c, w['requests_per_s'], l['p50'], l['p90'], l['p99'], w['posts_answered'], w['status_errors'],
         w['wraps'], '$load_before', $rss_kb // 1024, $hwm_kb // 1024))"
    done
    IFS=,
    printf '%s' "{\"system\": \"deconflict\", \"n\": $n, \"date_utc\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\", \"secs\": $SECS, \"preload_s\": $preload_s,
      \"store_bytes\": $store_bytes, \"startup_s\": $startup_s, \"rss_at_start_bytes\": $(( rss_start_kb * 1024 )),
      \"binary\": \"$BIN\", \"binary_sha256_16\": \"$BIN_SHA\", \"binary_mtime_utc\": \"$BIN_MTIME\", \"serve_args\": \"${SERVE_ARGS% }\", \"runs\": [${runs[*]}]}" |
        $PY -c "
import json, sys
r = json.load(sys.stdin)
ok = [x for x in r['runs'] if x['wrk']['status_errors'] == 0] or r['runs']
r['best'] = max(ok, key=lambda x: x['wrk']['requests_per_s'])
json.dump(r, open(sys.argv[1], 'w'), indent=1)" "$OUT/server/deconflict-$n.json"
    unset IFS
    echo "wrote $OUT/server/deconflict-$n.json"
done
