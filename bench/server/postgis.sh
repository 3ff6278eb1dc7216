#!/usr/bin/env bash
# bench/server/postgis.sh -- the PostGIS side of the server benchmark: the
# alternative a user would build instead of deconflict, driven by pgbench.
# scripts/bench-server runs it; it can also run alone (from the repo root).
#
# What it does, in a throwaway PostgreSQL 15 cluster made in a temporary
# directory (Unix socket there only, no TCP; durable: fsync=on,
# synchronous_commit=on, full_page_writes=on) and removed at the end:
#   1. CREATE EXTENSION postgis; schema.sql; the rule table from
#      `workload rules`; S operations of the query set (never in a store)
#      into `staging`.
#   2. For each store size N: an empty `ops`; the clustered data set's first
#      N operations bulk-loaded (prep.py copy -> COPY -> INSERT ... SELECT
#      footprint(...)); the index (index-multi.sql, or index-separate.sql
#      with DCF_BENCH_PG_INDEX=separate); VACUUM ANALYZE; a sanity figure
#      (mean conflicts per query over the first 1,000 staging operations,
#      to compare with the engine benchmark's conf/q); then, for each client
#      count C: the store reset to its N operations, CHECKPOINT, and
#      `pgbench -M prepared -c C -j min(C,2) -T SECS -f conflict.pgbench`
#      with a per-transaction log, from which p50/p90/p99 are taken.
#   3. Writes $OUT/server/postgis-N.json per size (every client count, and
#      the best by transactions/s).
#
# Environment (all optional):
#   DCF_BENCH_SIZES       store sizes (default "0 100000 1000000")
#   DCF_BENCH_SECS        seconds per measured run (default 30)
#   DCF_BENCH_PG_CLIENTS  client counts (default "4 8 16"; 2x cores and more)
#   DCF_BENCH_PG_INDEX    multi (default) | separate
#   DCF_BENCH_PG_STAGING  operations in staging (default 300000)
#   DCF_BENCH_PG_SHARED_BUFFERS  (default 4GB: a quarter of a 24 GB machine
#                         would be 6 GB; 4 GB already holds the 10^6 store,
#                         about 0.5 GB of table and 0.2 GB of index, many
#                         times over)
#   DCF_BENCH_OUT         data sets and results (default bench/out)
#   DCF_BENCH_BUILD       build tree with bench/workload (default build)
#   DCF_BENCH_TMP         parent of the temporary cluster (default /tmp;
#                         must be a real disk for fsync to mean anything)
#   DCF_BENCH_KEEP=1      leave the cluster running and its directory in place
set -euo pipefail

cd "$(dirname "$0")/../.."
HERE=bench/server
OUT=${DCF_BENCH_OUT:-bench/out}
BUILD=${DCF_BENCH_BUILD:-build}
SEED=42
read -r -a SIZES <<< "${DCF_BENCH_SIZES:-0 100000 1000000}"
read -r -a CLIENTS <<< "${DCF_BENCH_PG_CLIENTS:-4 8 16}"
SECS=${DCF_BENCH_SECS:-30}
INDEX=${DCF_BENCH_PG_INDEX:-multi}
STAGING=${DCF_BENCH_PG_STAGING:-300000}
SHARED_BUFFERS=${DCF_BENCH_PG_SHARED_BUFFERS:-4GB}
PGBIN=/usr/lib/postgresql/15/bin
PY=/usr/bin/python3
QUERIES=$OUT/server/clustered-s$SEED-queries.ndjson

case $INDEX in multi | separate) ;; *) echo "postgis.sh: DCF_BENCH_PG_INDEX=multi|separate" >&2; exit 2 ;; esac
[[ -x $PGBIN/initdb ]] || { echo "postgis.sh: no PostgreSQL 15; run scripts/bootstrap-bench" >&2; exit 2; }
[[ -x $BUILD/bench/workload ]] || { echo "postgis.sh: no $BUILD/bench/workload (cmake -DDCF_BENCH=ON)" >&2; exit 2; }

# ------------------------------------------------------------- data sets
mkdir -p "$OUT/server"
for n in "${SIZES[@]}"; do
    if (( n > 0 )) && [[ ! -f $OUT/clustered-s$SEED-n$n.ndjson ]]; then
        "$BUILD/bench/workload" gen --workload clustered --n "$n" --seed $SEED --dir "$OUT"
    fi
done
if [[ ! -f $QUERIES ]] || (( $(wc -l < "$QUERIES") < STAGING )); then
    "$BUILD/bench/workload" queries --workload clustered --n $(( STAGING > 1000000 ? STAGING : 1000000 )) \
        --seed $SEED --dir "$OUT/server"
fi

# ------------------------------------------------------------- cluster
# PostgreSQL refuses to run as root: then the server runs as `postgres`
# (the Debian package's user) and the clients connect as its superuser.
TMPD=$(mktemp -d "${DCF_BENCH_TMP:-/tmp}/dcf-pg.XXXXXX")
AS=()
PGUSER_NAME=$(id -un)
if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$TMPD"
    AS=(runuser -u postgres --)
    PGUSER_NAME=postgres
fi
cleanup() {
    if [[ ${DCF_BENCH_KEEP:-0} == 1 ]]; then
        echo "postgis.sh: cluster left running in $TMPD (stop: ${AS[*]} $PGBIN/pg_ctl -D $TMPD/data stop)"
        return
    fi
    "${AS[@]}" "$PGBIN/pg_ctl" -D "$TMPD/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$TMPD"
}
trap cleanup EXIT

"${AS[@]}" "$PGBIN/initdb" -D "$TMPD/data" -U "$PGUSER_NAME" --auth=trust -E UTF8 --locale=C >/dev/null
cat >> "$TMPD/data/postgresql.conf" <<EOF
# bench/server/postgis.sh: durable, socket only, sized for 2 cores / 24 GB
listen_addresses = ''
unix_socket_directories = '$TMPD'
max_connections = 64
fsync = on
synchronous_commit = on
full_page_writes = on
wal_level = minimal
max_wal_senders = 0
shared_buffers = $SHARED_BUFFERS
effective_cache_size = 16GB
work_mem = 16MB
maintenance_work_mem = 2GB
wal_buffers = 64MB
max_wal_size = 32GB
checkpoint_timeout = 1h
random_page_cost = 1.1
effective_io_concurrency = 200
jit = off
max_parallel_workers_per_gather = 0
EOF
"${AS[@]}" "$PGBIN/pg_ctl" -D "$TMPD/data" -l "$TMPD/server.log" -w start >/dev/null
export PGHOST=$TMPD PGUSER=$PGUSER_NAME PGDATABASE=postgres PGOPTIONS="-c client_min_messages=warning"
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1)
sql() { "${PSQL[@]}" -Atc "$1"; }

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

sql "CREATE EXTENSION postgis"
"${PSQL[@]}" -f $HERE/schema.sql
"$BUILD/bench/workload" rules | $PY $HERE/prep.py rules | "${PSQL[@]}" -c '\copy rules from stdin'
sql "INSERT INTO kind_max SELECT ka, max(h), max(v), max(t) FROM rules GROUP BY ka"
t0=$(now)
$PY $HERE/prep.py copy "$QUERIES" "$STAGING" | "${PSQL[@]}" -c '\copy staging from stdin'
sql "VACUUM ANALYZE staging"
sql "VACUUM ANALYZE rules"
sql "VACUUM ANALYZE kind_max"
echo "postgis.sh: $STAGING staging operations in $(elapsed "$t0") s;" \
     "PostgreSQL $(sql 'SHOW server_version'), PostGIS $(sql 'SELECT postgis_lib_version()')"

# ------------------------------------------------------------- sizes
for n in "${SIZES[@]}"; do
    echo
    echo "=== PostGIS, store of $n operations, index $INDEX (load $(cut -d' ' -f1-3 /proc/loadavg))"
    sql "TRUNCATE ops RESTART IDENTITY"
    sql "DROP INDEX IF EXISTS ops_win_geog_alt, ops_geog, ops_win, ops_alt"
    load_s=0
    if (( n > 0 )); then
        t0=$(now)
        $PY $HERE/prep.py copy "$OUT/clustered-s$SEED-n$n.ndjson" "$n" |
            "${PSQL[@]}" -c '\copy raw_ops from stdin'
        sql "INSERT INTO ops (id, party, kind, priority, geog, alt, win)
             SELECT seq, party, kind, priority, footprint(wkt, radius), int4range(alt_lo, alt_hi),
                    tstzrange(t0, t1) FROM raw_ops ORDER BY seq;
             TRUNCATE raw_ops;
             SELECT setval(pg_get_serial_sequence('ops', 'id'), $n)" >/dev/null
        load_s=$(elapsed "$t0")
    fi
    t0=$(now)
    "${PSQL[@]}" -f "$HERE/index-$INDEX.sql"
    sql "VACUUM ANALYZE ops"
    index_s=$(elapsed "$t0")
    sizes=$(sql "SELECT pg_table_size('ops') || ' ' || pg_indexes_size('ops')")
    # Sanity: mean conflicts per query over the first 1,000 staging operations
    # (the same query as conflict.pgbench, without the insert).
    conf=$(sql "SELECT round(count(o.id)::numeric / 1000, 3) FROM
        (SELECT seq, party, kind, footprint(wkt, radius) AS geog, int4range(alt_lo, alt_hi) AS alt,
                tstzrange(t0, t1) AS win FROM staging WHERE seq <= 1000) s
        JOIN kind_max w ON w.kind = s.kind
        JOIN ops o ON o.win && tstzrange(lower(s.win) - w.t, upper(s.win) + w.t)
                  AND o.geog && _ST_Expand(s.geog, w.h)
                  AND o.alt && int4range(lower(s.alt) - w.v, upper(s.alt) + w.v)
        JOIN rules r ON r.ka = s.kind AND r.kb = o.kind
        WHERE o.party <> s.party
          AND o.win && tstzrange(lower(s.win) - r.t, upper(s.win) + r.t)
          AND o.alt && int4range(lower(s.alt) - r.v, upper(s.alt) + r.v)
          AND ST_DWithin(o.geog, s.geog, r.h)")
    echo "loaded in ${load_s} s, indexed in ${index_s} s; table+index bytes: $sizes;" \
         "conflicts per query (first 1,000 of the query set): $conf"

    runs=()
    for c in "${CLIENTS[@]}"; do
        sql "DELETE FROM ops WHERE id > $n" >/dev/null
        sql "VACUUM ANALYZE ops"
        sql "CHECKPOINT"
        j=$(( c < 2 ? c : 2 ))
        logdir=$TMPD/log-$n-$c
        mkdir -p "$logdir"
        load_before=$(cut -d' ' -f1 /proc/loadavg)
        "$PGBIN/pgbench" -n -M prepared -c "$c" -j "$j" -T "$SECS" \
            -D k=-1 -D nclients="$c" -D nstaging="$STAGING" \
            --log --log-prefix="$logdir/tx" -f $HERE/conflict.pgbench > "$logdir/out.txt" 2>&1 || {
            cat "$logdir/out.txt" >&2
            echo "postgis.sh: pgbench failed" >&2
            exit 1
        }
        tps=$(awk '/^tps = / { print $3; exit }' "$logdir/out.txt")
        lat=$($PY $HERE/prep.py pgbench-log "$logdir/tx")
        inserted=$(sql "SELECT count(*) FROM ops WHERE id > $n")
        runs+=("{\"clients\": $c, \"threads\": $j, \"tps\": $tps, \"inserted\": $inserted,
                 \"staging_wrapped\": $([[ $inserted -gt $STAGING ]] && echo true || echo false),
                 \"loadavg_before\": $load_before, \"loadavg_after\": $(cut -d' ' -f1 /proc/loadavg),
                 \"latency\": $lat}")
        echo "$lat" | $PY -c "
import json, sys
l = json.load(sys.stdin)
print('  clients %3d: %8.1f tps  p50 %7.2f ms  p90 %7.2f ms  p99 %7.2f ms  (%d transactions, load %s)'
      % ($c, $tps, l['p50_ms'], l['p90_ms'], l['p99_ms'], l['transactions'], '$load_before'))"
    done
    IFS=,
    printf '%s' "{\"system\": \"postgis\", \"n\": $n, \"date_utc\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\", \"index\": \"$INDEX\", \"secs\": $SECS,
      \"staging\": $STAGING, \"load_s\": $load_s, \"index_s\": $index_s,
      \"table_bytes\": ${sizes% *}, \"index_bytes\": ${sizes#* },
      \"conflicts_per_query_first_1000\": $conf,
      \"postgresql\": \"$(sql 'SHOW server_version')\", \"postgis\": \"$(sql 'SELECT postgis_lib_version()')\",
      \"shared_buffers\": \"$SHARED_BUFFERS\", \"runs\": [${runs[*]}]}" |
        $PY -c "
import json, sys
r = json.load(sys.stdin)
r['best'] = max(r['runs'], key=lambda x: x['tps'])
json.dump(r, open(sys.argv[1], 'w'), indent=1)" "$OUT/server/postgis-$n.json"
    unset IFS
    echo "wrote $OUT/server/postgis-$n.json"
done
