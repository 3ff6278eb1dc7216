#!/usr/bin/python3
"""prep.py -- data shaping and figures for the server benchmark (scripts/bench-server).

Subcommands (all read the workload generator's NDJSON: one operation per
line in the API's model shape, one volume each; see bench/workload.h):

  copy FILE [LIMIT]      PostgreSQL COPY text on stdout, one row per operation:
                         seq, party, kind, priority, WKT, radius_m (\\N for a
                         polygon), alt_lo, alt_hi, t_start, t_end.  A circle is
                         written as its centre POINT plus its radius (the SQL
                         that loads it buffers the point on the geography); a
                         polygon's ring is closed by repeating its first vertex.
  rules                  the rule table (JSON from `workload rules` on stdin)
                         as COPY rows kind_a, kind_b, h_m, v_m, t_s, both
                         orders of every pair.
  wrk-split FILE N DIR [LIMIT]
                         N files DIR/part-<i>.txt for N wrk threads; line j of
                         FILE goes to part j % N as "party<TAB>body", where the
                         body is the operation without its "id" (the server
                         assigns ids).
  pgbench-log PREFIX     latency figures from pgbench --log files PREFIX.*
                         (one line per transaction, latency in microseconds):
                         JSON {transactions, mean_ms, p50_ms, p90_ms, p99_ms,
                         max_ms} on stdout.

Invariants: output rows follow input order; nothing is reordered or
deduplicated, so row i of the COPY output is line i of the file.  The
converter rejects an operation with other than one volume rather than drop
volumes silently.
"""
import glob
import json
import sys


def die(msg):
    sys.stderr.write("prep.py: %s\n" % msg)
    sys.exit(2)


def copy_rows(path, limit):
    out = sys.stdout
    with open(path, encoding="utf-8") as f:
        for seq, line in enumerate(f, 1):
            if limit is not None and seq > limit:
                break
            op = json.loads(line)
            vols = op["volumes"]
            if len(vols) != 1:
                die("%s line %d: %d volumes, expected 1" % (path, seq, len(vols)))
            v = vols[0]
            fp = v["footprint"]
            if fp["type"] == "circle":
                c = fp["center"]
                wkt = "POINT(%r %r)" % (c["lng"], c["lat"])
                radius = repr(float(fp["radius_m"]))
            elif fp["type"] == "polygon":
                ring = fp["vertices"] + fp["vertices"][:1]
                wkt = "POLYGON((%s))" % ",".join("%r %r" % (p["lng"], p["lat"]) for p in ring)
                radius = "\\N"
            else:
                die("%s line %d: footprint type %r" % (path, seq, fp["type"]))
            a, t = v["altitude"], v["time"]
            out.write("%d\t%s\t%s\t%d\t%s\t%s\t%d\t%d\t%s\t%s\n" % (
                seq, op["party"], op["kind"], op["priority"], wkt, radius,
                a["lower_m"], a["upper_m"], t["start"], t["end"]))


def rules_rows():
    table = json.load(sys.stdin)
    d = table["default"]
    rows = {}
    for r in table.get("rules", []):
        ka, kb = r["kinds"]
        rows[(ka, kb)] = rows[(kb, ka)] = (r["horizontal_m"], r["vertical_m"], r["time_s"])
    kinds = sorted({k for pair in rows for k in pair})
    for ka in kinds:
        for kb in kinds:
            h, v, t = rows.get((ka, kb), (d["horizontal_m"], d["vertical_m"], d["time_s"]))
            sys.stdout.write("%s\t%s\t%r\t%d\t%r\n" % (ka, kb, float(h), int(v), float(t)))


def wrk_split(path, n, outdir, limit):
    parts = [open("%s/part-%d.txt" % (outdir, i), "w", encoding="utf-8") for i in range(n)]
    count = 0
    with open(path, encoding="utf-8") as f:
        for j, line in enumerate(f):
            if limit is not None and j >= limit:
                break
            op = json.loads(line)
            party = op["party"]
            del op["id"]
            body = json.dumps(op, separators=(",", ":"))
            parts[j % n].write("%s\t%s\n" % (party, body))
            count += 1
    for p in parts:
        p.close()
    print(count)


def pgbench_log(prefix):
    lat = []
    files = sorted(glob.glob(prefix + ".*"))
    if not files:
        die("no pgbench log files %s.*" % prefix)
    for fn in files:
        with open(fn) as f:
            for line in f:
                fields = line.split()
                # client_id transaction_no time_us script_no epoch epoch_us
                if len(fields) >= 6 and fields[2] != "skipped":
                    lat.append(int(fields[2]))
    if not lat:
        die("pgbench logs %s.* hold no transaction" % prefix)
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(p / 100.0 * len(lat)))] / 1000.0

    print(json.dumps({
        "transactions": len(lat),
        "mean_ms": sum(lat) / len(lat) / 1000.0,
        "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
        "max_ms": lat[-1] / 1000.0,
    }))


def main(argv):
    if len(argv) < 2:
        die("usage: prep.py copy|rules|wrk-split|pgbench-log ...")
    cmd = argv[1]
    if cmd == "copy" and len(argv) in (3, 4):
        copy_rows(argv[2], int(argv[3]) if len(argv) == 4 else None)
    elif cmd == "rules" and len(argv) == 2:
        rules_rows()
    elif cmd == "wrk-split" and len(argv) in (5, 6):
        wrk_split(argv[2], int(argv[3]), argv[4], int(argv[5]) if len(argv) == 6 else None)
    elif cmd == "pgbench-log" and len(argv) == 3:
        pgbench_log(argv[2])
    else:
        die("bad arguments: %s" % " ".join(argv[1:]))


if __name__ == "__main__":
    main(sys.argv)
