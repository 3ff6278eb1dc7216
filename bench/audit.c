/*
 * audit.c -- the audit-log proof benchmark (build/bench/audit): what a root,
 * an inclusion proof and a consistency proof cost when every complete node
 * of the RFC 9162 tree is stored in SQLite the way the server stores it
 * (issue 5; schema migration 6, src/service/audit.c), and what the obvious
 * alternative costs: keeping only the leaf hashes and rehashing the tree
 * for each proof.  --layout nodes measures the older one-row-per-node table
 * instead.
 *
 *   audit [--sizes N,N,...] [--proofs P] [--seed S] [--dir DIR] [--out FILE]
 *         [--layout entries|nodes] [--batch B] [--recompute-max N]
 *         [--recompute-proofs K] [--cold-proofs C] [--mmap BYTES]
 *         [--without-rowid] [--keep] [--quick]
 *
 * LAYOUTS.  Node (level L, index j) of the tree is completed by the append
 * of leaf (j + 1) * 2^L - 1.
 *   entries (default, the server's since migration 6): one row per entry,
 *       audit_entries (idx INTEGER PRIMARY KEY, at BIGINT NOT NULL,
 *                      entry TEXT NOT NULL, hashes BYTEA NOT NULL)
 *     where `hashes` is the leaf hash then the interior nodes that entry's
 *     append completed, levels 0..k, 32 bytes each, k = the number of
 *     trailing one bits of idx (what dcf_merkle_frontier_append lists, in
 *     level order).  Node (L, j) is bytes [32L, 32L + 32) of the hashes of
 *     entry (j + 1) * 2^L - 1, read with SELECT hashes FROM audit_entries
 *     WHERE idx = ?1 (the server's node_get).  The table holds the entry
 *     texts too, so its size is the log's, not the tree's alone.
 *   nodes (the server's before migration 3): one row per node, no entry
 *     text,
 *       audit_nodes (level INTEGER NOT NULL, idx BIGINT NOT NULL,
 *                    hash BLOB NOT NULL, PRIMARY KEY (level, idx))
 *     read with SELECT hash FROM audit_nodes WHERE level = ?1 AND idx = ?2.
 *
 * WHAT RUNS, FOR EACH SIZE N, IN ORDER (one thread):
 *   1. Samples, drawn before anything else from a splitmix64 seeded with
 *      the seed and N: P leaf indices in [0, N) for inclusion proofs in the
 *      tree of size N, and P sizes m in [1, N) for consistency proofs from m
 *      to N.
 *   2. BUILD (timed).  DIR/dcf-audit-bench-N-LAYOUT.db, WAL,
 *      synchronous=FULL as the store's writer, with the layout's table.  For
 *      each index i: a deterministic canonical-JSON-like audit entry of
 *      about 300 bytes (leaf_text) and its time, its leaf hash
 *      (dcf_merkle_leaf_hash), dcf_merkle_frontier_append, then one
 *      prepared INSERT: entries, of the row (i, time in microseconds, entry
 *      text, hashes), after checking that the append listed levels 0..k at
 *      index i >> level, k the trailing one bits of i, as svc_audit_add
 *      does; nodes, one INSERT per node the append lists.  One transaction
 *      per B leaves.  When the tree reaches a sampled size m the frontier's
 *      root is recorded: those roots, and the root at N, are computed
 *      without reading the table, so they check it.  Then a TRUNCATE
 *      checkpoint; the database size is the file size after it.
 *   3. PROOFS over a new connection (query_only, default page cache) and
 *      the layout's prepared SELECT behind a dcf_merkle_get_fn that counts
 *      its reads (one SELECT per node, whichever the layout):
 *      dcf_merkle_root(N) P times, P inclusion proofs, P consistency proofs,
 *      each timed alone (CLOCK_MONOTONIC around the call).  Each node read
 *      is its own autocommit read transaction, as through dcf_store_read.
 *      Then the P inclusion proofs again, each inside one BEGIN ... COMMIT
 *      (timed with it).  Then, untimed, dcf_merkle_root(m) for every sampled
 *      m.  The operating system's page cache holds the file (it was just
 *      written).
 *   4. COLD inclusion proofs: C of the same samples, each after reopening
 *      the connection (empty SQLite cache) and posix_fadvise(DONTNEED) on
 *      the file, so every page the proof needs is read from the disk device.
 *   5. RECOMPUTE (N <= --recompute-max, default 10^6), the same whatever
 *      the layout: the leaf hashes alone in DIR/dcf-audit-bench-N-leaves.db,
 *      table audit_leaves (idx INTEGER PRIMARY KEY, hash BLOB NOT NULL),
 *      built the same way (timed apart).  Each of K proofs (the first K
 *      inclusion samples) reads all N leaf hashes through one prepared
 *      SELECT and computes PATH(index, D[N]) with the RFC's recursive
 *      definitions written plainly (path, mth).
 *
 * VARIANTS, not the server's choices today: --mmap sets PRAGMA mmap_size on
 * the reading connections (either layout); --without-rowid (--layout nodes
 * only) makes audit_nodes a WITHOUT ROWID table (one B-tree instead of a
 * table and its key index).  audit_entries is one B-tree already (its
 * INTEGER PRIMARY KEY is the row id), so --without-rowid with --layout
 * entries is refused as bad usage.
 *
 * CORRECTNESS GATE.  Every root read from the stored nodes, at N and at
 * every sampled m, equals the frontier's; every inclusion proof verifies
 * (dcf_merkle_verify_inclusion) for the leaf hash of the regenerated entry
 * against the frontier's root at N; every consistency proof verifies
 * against the frontier's roots at m and N; every recomputed proof is
 * byte-for-byte the stored-node proof and verifies; the stored nodes number
 * exactly 2N - popcount(N): rows of audit_nodes, or, in audit_entries, N
 * rows whose hashes hold 32 (2N - popcount(N)) bytes in all.  Any failure
 * prints what failed and exits with status 1: no figure of such a run is
 * written.
 *
 * OUTPUT.  Tables on stdout, progress on stderr, and one JSON file (--out,
 * default bench/out/audit.json, bench/out/audit-quick.json with --quick)
 * with the machine description of bench_util.h; its config records the
 * layout and the table's CREATE statement.  The databases are deleted after
 * each size unless --keep.  Exit status: 0 done, 1 correctness or I/O
 * failure, 2 bad usage.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"
#include "deconflict/merkle.h"

#define HLEN DCF_MERKLE_HASH_LEN

#define AB_PATH_MAX         4096
#define AB_SIZES_MAX        16
#define AB_N_MIN            2u
#define AB_N_MAX            100000000u /* 10^8 leaves: about 40 GB of database (entries) */
#define AB_PROOFS_DEFAULT   1000u
#define AB_PROOFS_MAX       1000000u
#define AB_BATCH_DEFAULT    10000u /* leaves per transaction */
#define AB_BATCH_MAX        1000000u
#define AB_RECOMPUTE_N      1000000u  /* default --recompute-max */
#define AB_RECOMPUTE_N_MAX  10000000u /* 320 MB of leaf hashes in memory */
#define AB_RECOMPUTE_BUDGET 20000000u /* leaves rehashed per size (auto K) */
#define AB_RECOMPUTE_MIN    10u
#define AB_RECOMPUTE_CAP    200u
#define AB_COLD_DEFAULT     100u
#define AB_LEAF_CAP         512u /* bytes of one generated entry */
#define AB_MMAP_MAX         (UINT64_C(1) << 40)
#define AB_DEFAULT_DIR      "/tmp"
#define AB_DEFAULT_OUT      "bench/out/audit.json"
#define AB_QUICK_OUT        "bench/out/audit-quick.json"

/* The tables, as CREATE statements: audit_entries exactly as the server's
 * migrations 3 and 6 leave it (src/service/schema.c), audit_nodes as the
 * server had it before migration 3. */
#define AB_DDL_ENTRIES                                                                             \
    "CREATE TABLE audit_entries (idx INTEGER PRIMARY KEY, at BIGINT NOT NULL, entry TEXT NOT "     \
    "NULL, hashes BYTEA NOT NULL)"
#define AB_DDL_NODES                                                                               \
    "CREATE TABLE audit_nodes (level INTEGER NOT NULL, idx BIGINT NOT NULL, hash BLOB NOT NULL, "  \
    "PRIMARY KEY (level, idx))"

/* ------------------------------------------------------------ options -- */

/* Where the nodes are stored (see LAYOUTS at the top). */
typedef enum { AB_LAYOUT_ENTRIES, AB_LAYOUT_NODES } layout_t;

typedef struct {
    uint64_t sizes[AB_SIZES_MAX];
    size_t nsizes;
    uint64_t proofs, seed, batch, recompute_max, recompute_proofs, cold_proofs, mmap;
    const char *dir, *out;
    layout_t layout;
    bool keep, quick, without_rowid;
} opts_t;

/* One timed kind of call: latency in ns and node reads per call. */
typedef struct {
    dcf_bench_lat_t lat;
    double reads_mean, hashes_mean, verify_mean_ns;
    uint64_t reads_max;
} pstat_t;

/* Everything measured at one size. */
typedef struct {
    uint64_t n, rows, nodes, db_bytes, leaves_db_bytes;
    double leaf_bytes_mean, build_s, build_hash_s, leaves_build_s;
    pstat_t root, incl, cons, incl_txn, cold;
    bool recompute_ran;
    size_t rc_proofs;
    dcf_bench_lat_t rc_lat, rc_read, rc_hash; /* ns */
    double ratio_p50;
} run_t;

/* The samples of one size and the roots that check them. */
typedef struct {
    uint64_t *incl;     /* leaf indices */
    uint64_t *cons;     /* first sizes m */
    uint8_t *cons_root; /* frontier root at cons[j], HLEN each */
    uint64_t *by_m;     /* positions into cons, sorted by m */
    uint8_t *kept;      /* stored-node proofs of the first K inclusion samples */
    size_t *kept_len;
    uint8_t root_n[HLEN];
} samples_t;

/* A read connection, the layout's prepared node read and BEGIN / COMMIT
 * for the one-transaction variant; `reads` counts node reads. */
typedef struct {
    sqlite3 *db;
    sqlite3_stmt *get, *begin, *commit;
    layout_t layout;
    uint64_t reads;
} reader_t;

static const char *layout_name(layout_t l) {
    return l == AB_LAYOUT_NODES ? "nodes" : "entries";
}

/* The CREATE TABLE statement of the options' layout. */
static const char *layout_ddl(const opts_t *o) {
    if (o->layout == AB_LAYOUT_ENTRIES)
        return AB_DDL_ENTRIES;
    return o->without_rowid ? AB_DDL_NODES " WITHOUT ROWID" : AB_DDL_NODES;
}

/* ------------------------------------------------------------ entries -- */

static const char *const ACTIONS[] = {
    "operation.create",
    "operation.update",
    "operation.activate",
    "operation.complete",
    "operation.cancel",
    "conflict.open",
    "conflict.acknowledge",
    "conflict.accept",
    "conflict.resolve",
    "check",
    "disclose",
    "token.create",
};

/*
 * Audit entry i for this seed, in the canonical form of docs/audit.md
 * (members sorted, no whitespace), about 300 bytes.  The same (seed, i)
 * always gives the same bytes.  Its "at" in microseconds since the epoch
 * goes to *at unless at is NULL.  Returns the length, 0 if it did not fit.
 */
static size_t leaf_text(uint64_t seed, uint64_t i, char buf[AB_LEAF_CAP], int64_t *at) {
    dcf_bench_rng_t r = {seed ^ (i * UINT64_C(0xd1b54a32d192ed03))};
    uint64_t d[4], tok = dcf_bench_rng_next(&r), op = dcf_bench_rng_next(&r);
    for (int k = 0; k < 4; k++)
        d[k] = dcf_bench_rng_next(&r);
    unsigned a = (unsigned)dcf_bench_rng_below(&r, 40), b = (unsigned)dcf_bench_rng_below(&r, 39);
    if (b >= a)
        b++;
    unsigned lo = a < b ? a : b, hi = a < b ? b : a;
    const char *action = ACTIONS[dcf_bench_rng_below(&r, sizeof ACTIONS / sizeof ACTIONS[0])];
    /* Server time: 2026-12-01T00:00:00Z plus 0.25 s per entry, jittered. */
    uint64_t us = i * 250000u + dcf_bench_rng_below(&r, 250000u);
    time_t secs = (time_t)(UINT64_C(1796083200) + us / 1000000u);
    struct tm tm;
    if (gmtime_r(&secs, &tm) == NULL)
        return 0;
    int len = snprintf(
        buf, AB_LEAF_CAP,
        "{\"action\":\"%s\",\"actor\":{\"party\":\"party-%02u\",\"token\":\"tok-%016" PRIx64
        "\"},\"at\":\"%04d-%02d-%02dT%02d:%02d:%02d.%06uZ\",\"index\":%" PRIu64
        ",\"objects\":[{\"digest\":\"%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64
        "\",\"id\":\"op-%016" PRIx64
        "\",\"type\":\"operation\"}],\"parties\":[\"party-%02u\",\"party-%02u\"]}",
        action, a, tok, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
        tm.tm_sec, (unsigned)(us % 1000000u), i, d[0], d[1], d[2], d[3], op, lo, hi);
    if (len <= 0 || (size_t)len >= AB_LEAF_CAP)
        return 0;
    if (at != NULL)
        *at = (int64_t)(UINT64_C(1796083200000000) + us);
    return (size_t)len;
}

static int leaf_hash_of(uint64_t seed, uint64_t i, uint8_t out[HLEN], size_t *len) {
    char buf[AB_LEAF_CAP];
    size_t n = leaf_text(seed, i, buf, NULL);
    if (n == 0)
        return DCF_EINTERNAL;
    if (len != NULL)
        *len = n;
    return dcf_merkle_leaf_hash(buf, n, out);
}

/* ------------------------------------------------------------ SQLite -- */

static int exec_sql(sqlite3 *db, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "audit: %s: %s\n", sql, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return DCF_EIO;
    }
    return DCF_OK;
}

/* Open `path` as the store does: a writer creates it, WAL, synchronous=FULL;
 * a reader is query_only. */
static int db_open(const char *path, bool writer, sqlite3 **out) {
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = DCF_EIO;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);

    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        fprintf(stderr, "audit: cannot open %s: %s\n", path, db ? sqlite3_errmsg(db) : "no memory");
        goto out;
    }
    if (writer) {
        if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_ROW || sqlite3_column_text(st, 0) == NULL ||
            strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
            fprintf(stderr, "audit: %s: WAL mode refused\n", path);
            goto out;
        }
        if ((rc = exec_sql(db, "PRAGMA synchronous=FULL")) != DCF_OK)
            goto out;
    } else if ((rc = exec_sql(db, "PRAGMA query_only=ON")) != DCF_OK) {
        goto out;
    }
    *out = db;
    db = NULL;
    rc = DCF_OK;
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* Checkpoint everything into the main file, truncate the WAL, close. */
static int db_close_checkpointed(sqlite3 *db) {
    int rc = exec_sql(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    if (sqlite3_close(db) != SQLITE_OK && rc == DCF_OK)
        rc = DCF_EIO;
    return rc;
}

static uint64_t file_bytes(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/* The main file plus whatever WAL is left. */
static uint64_t db_bytes(const char *path) {
    char wal[AB_PATH_MAX + 8];
    snprintf(wal, sizeof wal, "%s-wal", path);
    return file_bytes(path) + file_bytes(wal);
}

static void db_remove(const char *path) {
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    char p[AB_PATH_MAX + 16];
    for (size_t k = 0; k < sizeof sfx / sizeof sfx[0]; k++) {
        snprintf(p, sizeof p, "%s%s", path, sfx[k]);
        unlink(p);
    }
}

/* Step the bound node read to its one row: its blob in *blob / *len,
 * DCF_ENOENT without a row, DCF_EIO on an error or a blob that is not a
 * whole number of hashes.  The caller resets the statement. */
static int step_hashes(sqlite3_stmt *st, const uint8_t **blob, size_t *len) {
    int s = sqlite3_step(st);
    if (s == SQLITE_DONE)
        return DCF_ENOENT;
    if (s != SQLITE_ROW)
        return DCF_EIO;
    int n = sqlite3_column_bytes(st, 0);
    *blob = sqlite3_column_blob(st, 0);
    if (*blob == NULL || n <= 0 || n % HLEN != 0)
        return DCF_EIO;
    *len = (size_t)n;
    return DCF_OK;
}

/* Node (level, index) from audit_nodes. */
static int get_node(reader_t *r, unsigned level, uint64_t index, uint8_t out[HLEN]) {
    const uint8_t *blob = NULL;
    size_t len = 0;
    int rc = DCF_EIO;
    if (sqlite3_bind_int(r->get, 1, (int)level) != SQLITE_OK ||
        sqlite3_bind_int64(r->get, 2, (sqlite3_int64)index) != SQLITE_OK)
        goto out;
    if ((rc = step_hashes(r->get, &blob, &len)) != DCF_OK)
        goto out;
    if (len != HLEN) {
        rc = DCF_EIO;
        goto out;
    }
    memcpy(out, blob, HLEN);
out:
    sqlite3_reset(r->get);
    return rc;
}

/* Node (level, index) from audit_entries, as the server's node_get: bytes
 * [32 level, 32 level + 32) of the hashes of entry (index + 1) * 2^level -
 * 1.  The server reads a row too short for the level (an entry from before
 * migration 6) from audit_node; the benchmark has no such entry, so here it
 * is a missing node. */
static int get_entry(reader_t *r, unsigned level, uint64_t index, uint8_t out[HLEN]) {
    const uint8_t *blob = NULL;
    size_t len = 0;
    /* node_get's bound: entry indexes stay below 2^40, which also keeps
     * the shift in range. */
    if (level > 40 || index >= (UINT64_C(1) << 40) >> level)
        return DCF_ENOENT;
    int rc = DCF_EIO;
    if (sqlite3_bind_int64(r->get, 1, (sqlite3_int64)(((index + 1) << level) - 1)) != SQLITE_OK)
        goto out;
    if ((rc = step_hashes(r->get, &blob, &len)) != DCF_OK)
        goto out;
    if (len < ((size_t)level + 1) * HLEN) {
        rc = DCF_ENOENT;
        goto out;
    }
    memcpy(out, blob + (size_t)level * HLEN, HLEN);
out:
    sqlite3_reset(r->get);
    return rc;
}

/* The dcf_merkle_get_fn of every proof: one prepared SELECT, counted. */
static int reader_get(void *arg, unsigned level, uint64_t index, uint8_t out[HLEN]) {
    reader_t *r = arg;
    r->reads++;
    return r->layout == AB_LAYOUT_NODES ? get_node(r, level, index, out)
                                        : get_entry(r, level, index, out);
}

static void reader_close(reader_t *r) {
    sqlite3_finalize(r->get);
    sqlite3_finalize(r->begin);
    sqlite3_finalize(r->commit);
    sqlite3_close(r->db);
    *r = (reader_t){0};
}

/* Open a reader on the layout's table; mmap > 0 sets PRAGMA mmap_size. */
static int reader_open(reader_t *r, const char *path, layout_t layout, uint64_t mmap) {
    char pragma[64];
    int rc = db_open(path, false, &r->db);
    if (rc != DCF_OK)
        return rc;
    r->layout = layout;
    snprintf(pragma, sizeof pragma, "PRAGMA mmap_size=%" PRIu64, mmap);
    if (mmap > 0 && (rc = exec_sql(r->db, pragma)) != DCF_OK)
        goto out;
    rc = DCF_EIO;
    if (sqlite3_prepare_v2(r->db,
                           layout == AB_LAYOUT_NODES
                               ? "SELECT hash FROM audit_nodes WHERE level = ?1 AND idx = ?2"
                               : "SELECT hashes FROM audit_entries WHERE idx = ?1",
                           -1, &r->get, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(r->db, "BEGIN", -1, &r->begin, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(r->db, "COMMIT", -1, &r->commit, NULL) != SQLITE_OK) {
        fprintf(stderr, "audit: prepare: %s\n", sqlite3_errmsg(r->db));
        goto out;
    }
    rc = DCF_OK;
out:
    if (rc != DCF_OK)
        reader_close(r);
    return rc;
}

/* Run a prepared statement without rows (BEGIN, COMMIT). */
static int step_done(sqlite3_stmt *st) {
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    return s == SQLITE_DONE ? DCF_OK : DCF_EIO;
}

/* ---------------------------------------------------------- samples -- */

/* A sampled size and its position, to visit the samples in size order. */
typedef struct {
    uint64_t m, pos;
} mpos_t;

static int cmp_mpos(const void *a, const void *b) {
    const mpos_t *x = a, *y = b;
    return (x->m > y->m) - (x->m < y->m);
}

static void samples_free(samples_t *s) {
    free(s->incl);
    free(s->cons);
    free(s->cons_root);
    free(s->by_m);
    free(s->kept);
    free(s->kept_len);
    memset(s, 0, sizeof *s);
}

static int samples_make(samples_t *s, uint64_t seed, uint64_t n, size_t p, size_t kept) {
    mpos_t *mp = NULL;
    int rc = DCF_ENOMEM;
    dcf_bench_rng_t r = {seed ^ (n * UINT64_C(0x9e3779b97f4a7c15))};

    memset(s, 0, sizeof *s);
    s->incl = malloc(p * sizeof *s->incl);
    s->cons = malloc(p * sizeof *s->cons);
    s->cons_root = malloc(p * HLEN);
    s->by_m = malloc(p * sizeof *s->by_m);
    s->kept = malloc((kept ? kept : 1) * DCF_MERKLE_PROOF_MAX * HLEN);
    s->kept_len = calloc(kept ? kept : 1, sizeof *s->kept_len);
    mp = malloc(p * sizeof *mp);
    if (!s->incl || !s->cons || !s->cons_root || !s->by_m || !s->kept || !s->kept_len || !mp)
        goto out;
    for (size_t j = 0; j < p; j++) {
        s->incl[j] = dcf_bench_rng_below(&r, n);
        s->cons[j] = 1 + dcf_bench_rng_below(&r, n - 1);
        mp[j] = (mpos_t){s->cons[j], j};
    }
    qsort(mp, p, sizeof *mp, cmp_mpos);
    for (size_t j = 0; j < p; j++)
        s->by_m[j] = mp[j].pos;
    rc = DCF_OK;
out:
    free(mp);
    if (rc != DCF_OK)
        samples_free(s);
    return rc;
}

/* ------------------------------------------------------------- build -- */

/*
 * One audit_entries row, as svc_audit_add writes it: entry i, its time and
 * text, and the hashes of the `count` nodes its append listed, which must
 * be levels 0..k at index i >> level, k the number of trailing one bits of
 * i (DCF_ECONFLICT, a gate failure, if not).  The bindings are cleared
 * before returning, as the store does.
 */
static int insert_entry(sqlite3_stmt *ins, uint64_t i, int64_t at, const char *text, size_t len,
                        const dcf_merkle_node_t *nodes, unsigned count) {
    uint8_t hashes[DCF_MERKLE_APPEND_MAX * HLEN];
    int rc = DCF_ECONFLICT;

    if (count != 1u + (unsigned)__builtin_ctzll(~i) || count > DCF_MERKLE_APPEND_MAX) {
        fprintf(stderr, "audit: GATE: append of leaf %" PRIu64 " listed %u nodes\n", i, count);
        return rc;
    }
    for (unsigned k = 0; k < count; k++) {
        if (nodes[k].level != k || nodes[k].index != i >> k) {
            fprintf(stderr,
                    "audit: GATE: append of leaf %" PRIu64 " listed node (%u, %" PRIu64
                    ") in place %u\n",
                    i, nodes[k].level, nodes[k].index, k);
            return rc;
        }
        memcpy(hashes + (size_t)k * HLEN, nodes[k].hash, HLEN);
    }
    rc = DCF_EIO;
    if (sqlite3_bind_int64(ins, 1, (sqlite3_int64)i) == SQLITE_OK &&
        sqlite3_bind_int64(ins, 2, (sqlite3_int64)at) == SQLITE_OK &&
        sqlite3_bind_text(ins, 3, text, (int)len, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_blob(ins, 4, hashes, (int)(count * HLEN), SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_step(ins) == SQLITE_DONE)
        rc = DCF_OK;
    else
        fprintf(stderr, "audit: insert entry: %s\n", sqlite3_errmsg(sqlite3_db_handle(ins)));
    sqlite3_reset(ins);
    sqlite3_clear_bindings(ins);
    return rc;
}

/* One audit_nodes row per node the append listed. */
static int insert_nodes(sqlite3_stmt *ins, const dcf_merkle_node_t *nodes, unsigned count) {
    for (unsigned k = 0; k < count; k++) {
        if (sqlite3_bind_int(ins, 1, (int)nodes[k].level) != SQLITE_OK ||
            sqlite3_bind_int64(ins, 2, (sqlite3_int64)nodes[k].index) != SQLITE_OK ||
            sqlite3_bind_blob(ins, 3, nodes[k].hash, HLEN, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_step(ins) != SQLITE_DONE) {
            fprintf(stderr, "audit: insert: %s\n", sqlite3_errmsg(sqlite3_db_handle(ins)));
            sqlite3_reset(ins);
            return DCF_EIO;
        }
        sqlite3_reset(ins);
    }
    return DCF_OK;
}

/*
 * Count what the built table holds into r->rows and r->nodes: audit_nodes
 * rows, or audit_entries rows and their hashes / HLEN.
 */
static int count_stored(const opts_t *o, run_t *r, const char *path) {
    sqlite3 *db = NULL;
    sqlite3_stmt *cnt = NULL;
    int rc = db_open(path, false, &db);
    if (rc != DCF_OK)
        goto out;
    rc = DCF_EIO;
    if (sqlite3_prepare_v2(db,
                           o->layout == AB_LAYOUT_NODES
                               ? "SELECT count(*), count(*) * 32 FROM audit_nodes"
                               : "SELECT count(*), coalesce(sum(length(hashes)), 0) FROM "
                                 "audit_entries",
                           -1, &cnt, NULL) != SQLITE_OK ||
        sqlite3_step(cnt) != SQLITE_ROW) {
        fprintf(stderr, "audit: count: %s\n", sqlite3_errmsg(db));
        goto out;
    }
    uint64_t bytes = (uint64_t)sqlite3_column_int64(cnt, 1);
    r->rows = (uint64_t)sqlite3_column_int64(cnt, 0);
    r->nodes = bytes / HLEN;
    rc = bytes % HLEN == 0 ? DCF_OK : DCF_ECONFLICT;
    if (rc != DCF_OK)
        fprintf(stderr, "audit: GATE: %" PRIu64 " bytes of hashes\n", bytes);
out:
    sqlite3_finalize(cnt);
    sqlite3_close(db);
    return rc;
}

/*
 * Build the layout's table of N leaves at `path` (timed into r), record
 * the frontier roots at every sampled m and at N, and keep the leaf hashes
 * in `leaves` (N * HLEN bytes) when it is not NULL.
 */
static int build_tree(const opts_t *o, run_t *r, samples_t *s, const char *path, size_t p,
                      uint8_t *leaves) {
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL;
    dcf_merkle_frontier_t *f = NULL;
    dcf_merkle_node_t nodes[DCF_MERKLE_APPEND_MAX];
    uint64_t hash_ns = 0, leaf_bytes = 0, nodes_written = 0;
    size_t next = 0; /* into s->by_m */
    int rc = DCF_ENOMEM;
    const uint64_t n = r->n;
    const bool by_entry = o->layout == AB_LAYOUT_ENTRIES;

    if ((f = malloc(sizeof *f)) == NULL)
        goto out;
    dcf_merkle_frontier_init(f);
    db_remove(path);
    uint64_t t0 = dcf_bench_now_ns();
    if ((rc = db_open(path, true, &db)) != DCF_OK)
        goto out;
    if ((rc = exec_sql(db, layout_ddl(o))) != DCF_OK)
        goto out;
    rc = DCF_EIO;
    if (sqlite3_prepare_v2(db,
                           by_entry ? "INSERT INTO audit_entries (idx, at, entry, hashes) VALUES "
                                      "(?1, ?2, ?3, ?4)"
                                    : "INSERT INTO audit_nodes (level, idx, hash) VALUES (?1, ?2, "
                                      "?3)",
                           -1, &ins, NULL) != SQLITE_OK) {
        fprintf(stderr, "audit: prepare: %s\n", sqlite3_errmsg(db));
        goto out;
    }
    if ((rc = exec_sql(db, "BEGIN IMMEDIATE")) != DCF_OK)
        goto out;
    for (uint64_t i = 0; i < n; i++) {
        char text[AB_LEAF_CAP];
        uint8_t leaf[HLEN];
        unsigned count = 0;
        int64_t at = 0;
        uint64_t h0 = dcf_bench_now_ns();
        size_t len = leaf_text(o->seed, i, text, &at);
        if (len == 0 || (rc = dcf_merkle_leaf_hash(text, len, leaf)) != DCF_OK ||
            (rc = dcf_merkle_frontier_append(f, leaf, nodes, &count)) != DCF_OK) {
            rc = rc != DCF_OK ? rc : DCF_EINTERNAL;
            goto out;
        }
        hash_ns += dcf_bench_now_ns() - h0;
        leaf_bytes += len;
        if (leaves != NULL)
            memcpy(leaves + i * HLEN, leaf, HLEN);
        rc = by_entry ? insert_entry(ins, i, at, text, len, nodes, count)
                      : insert_nodes(ins, nodes, count);
        if (rc != DCF_OK)
            goto out;
        nodes_written += count;
        /* The tree now has i + 1 leaves: record the roots sampled there. */
        while (next < p && s->cons[s->by_m[next]] == i + 1) {
            dcf_merkle_frontier_root(f, s->cons_root + s->by_m[next] * HLEN);
            next++;
        }
        if ((i + 1) % o->batch == 0 && i + 1 < n &&
            ((rc = exec_sql(db, "COMMIT")) != DCF_OK || (rc = exec_sql(db, "BEGIN IMMEDIATE"))))
            goto out;
        if ((i + 1) % (n / 10 ? n / 10 : 1) == 0 && n >= 1000000u)
            fprintf(stderr, "  build %" PRIu64 " / %" PRIu64 " leaves, %.0f s\n", i + 1, n,
                    (double)(dcf_bench_now_ns() - t0) / 1e9);
    }
    if ((rc = exec_sql(db, "COMMIT")) != DCF_OK)
        goto out;
    sqlite3_finalize(ins);
    ins = NULL;
    rc = db_close_checkpointed(db);
    db = NULL;
    if (rc != DCF_OK)
        goto out;
    uint64_t t1 = dcf_bench_now_ns();
    dcf_merkle_frontier_root(f, s->root_n);

    r->build_s = (double)(t1 - t0) / 1e9;
    r->build_hash_s = (double)hash_ns / 1e9;
    r->leaf_bytes_mean = (double)leaf_bytes / (double)n;
    r->db_bytes = db_bytes(path);

    /* Gate: every sampled root recorded, and exactly 2N - popcount(N)
     * nodes stored, in N rows (entries) or one row each (nodes). */
    rc = DCF_ECONFLICT;
    if (next != p) {
        fprintf(stderr, "audit: GATE: %zu of %zu sampled roots recorded\n", next, p);
        goto out;
    }
    uint64_t want = 2 * n - (uint64_t)__builtin_popcountll(n);
    if ((rc = count_stored(o, r, path)) != DCF_OK)
        goto out;
    rc = DCF_ECONFLICT;
    if (r->nodes != want || nodes_written != want || r->rows != (by_entry ? n : want)) {
        fprintf(stderr,
                "audit: GATE: %" PRIu64 " rows, %" PRIu64 " nodes stored, %" PRIu64
                " written, want %" PRIu64 " nodes\n",
                r->rows, r->nodes, nodes_written, want);
        goto out;
    }
    rc = DCF_OK;
out:
    sqlite3_finalize(ins);
    sqlite3_close(db);
    free(f);
    return rc;
}

/* The leaf-hash table of the recompute alternative (timed into r). */
static int build_leaves(const opts_t *o, run_t *r, const char *path, const uint8_t *leaves) {
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL;
    int rc;

    db_remove(path);
    uint64_t t0 = dcf_bench_now_ns();
    if ((rc = db_open(path, true, &db)) != DCF_OK)
        goto out;
    if ((rc = exec_sql(db, "CREATE TABLE audit_leaves (idx INTEGER PRIMARY KEY, hash BLOB NOT "
                           "NULL)")) != DCF_OK ||
        (rc = exec_sql(db, "BEGIN IMMEDIATE")) != DCF_OK)
        goto out;
    rc = DCF_EIO;
    if (sqlite3_prepare_v2(db, "INSERT INTO audit_leaves (idx, hash) VALUES (?1, ?2)", -1, &ins,
                           NULL) != SQLITE_OK)
        goto out;
    for (uint64_t i = 0; i < r->n; i++) {
        if (sqlite3_bind_int64(ins, 1, (sqlite3_int64)i) != SQLITE_OK ||
            sqlite3_bind_blob(ins, 2, leaves + i * HLEN, HLEN, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_step(ins) != SQLITE_DONE) {
            fprintf(stderr, "audit: insert leaf: %s\n", sqlite3_errmsg(db));
            goto out;
        }
        sqlite3_reset(ins);
        if ((i + 1) % o->batch == 0 && i + 1 < r->n &&
            ((rc = exec_sql(db, "COMMIT")) != DCF_OK || (rc = exec_sql(db, "BEGIN IMMEDIATE"))))
            goto out;
        rc = DCF_EIO;
    }
    if ((rc = exec_sql(db, "COMMIT")) != DCF_OK)
        goto out;
    sqlite3_finalize(ins);
    ins = NULL;
    rc = db_close_checkpointed(db);
    db = NULL;
    r->leaves_build_s = (double)(dcf_bench_now_ns() - t0) / 1e9;
    r->leaves_db_bytes = db_bytes(path);
out:
    sqlite3_finalize(ins);
    sqlite3_close(db);
    return rc;
}

/* ------------------------------------------------------------ proofs -- */

static void gate_fail(const char *what, uint64_t a, uint64_t b, int rc) {
    fprintf(stderr, "audit: GATE FAIL: %s (%" PRIu64 ", %" PRIu64 "): %s\n", what, a, b,
            dcf_strerror(rc));
}

/* Latency summary of ns samples, reads and verify cost into st. */
static int pstat_fill(pstat_t *st, const uint32_t *ns, const uint64_t *reads, uint64_t hashes,
                      uint64_t verify_ns, size_t p) {
    uint64_t sum = 0;
    st->reads_max = 0;
    for (size_t j = 0; j < p; j++) {
        sum += reads[j];
        if (reads[j] > st->reads_max)
            st->reads_max = reads[j];
    }
    st->reads_mean = (double)sum / (double)p;
    st->hashes_mean = (double)hashes / (double)p;
    st->verify_mean_ns = (double)verify_ns / (double)p;
    return dcf_bench_lat_summary(ns, p, &st->lat) ? DCF_OK : DCF_ENOMEM;
}

/*
 * Roots, inclusion and consistency proofs over the layout's table, each
 * timed alone, each checked; then, untimed, the root at every sampled m.
 * The first `kept` inclusion proofs are copied into s->kept for the
 * recompute comparison.
 */
static int prove_warm(const opts_t *o, run_t *r, samples_t *s, const char *path, size_t p,
                      size_t kept) {
    reader_t rd = {0};
    uint32_t *ns = calloc(p, sizeof *ns);
    uint64_t *reads = calloc(p, sizeof *reads);
    uint8_t proof[DCF_MERKLE_PROOF_MAX * HLEN];
    uint64_t hashes, vns;
    size_t count;
    int rc = DCF_ENOMEM;
    const uint64_t n = r->n;

    if (ns == NULL || reads == NULL)
        goto out;
    if ((rc = reader_open(&rd, path, o->layout, o->mmap)) != DCF_OK)
        goto out;

    /* Roots. */
    for (size_t j = 0; j < p; j++) {
        uint8_t root[HLEN];
        rd.reads = 0;
        uint64_t t0 = dcf_bench_now_ns();
        rc = dcf_merkle_root(reader_get, &rd, n, root);
        uint64_t t1 = dcf_bench_now_ns();
        if (rc == DCF_OK && memcmp(root, s->root_n, HLEN) != 0)
            rc = DCF_ECONFLICT;
        if (rc != DCF_OK) {
            gate_fail("root differs from the frontier's", n, n, rc);
            goto out;
        }
        ns[j] = dcf_bench_sat32(t1 - t0);
        reads[j] = rd.reads;
    }
    if ((rc = pstat_fill(&r->root, ns, reads, 0, 0, p)) != DCF_OK)
        goto out;

    /* Inclusion proofs. */
    hashes = vns = 0;
    for (size_t j = 0; j < p; j++) {
        uint8_t leaf[HLEN];
        rd.reads = 0;
        uint64_t t0 = dcf_bench_now_ns();
        rc = dcf_merkle_inclusion_proof(reader_get, &rd, s->incl[j], n, proof, DCF_MERKLE_PROOF_MAX,
                                        &count);
        uint64_t t1 = dcf_bench_now_ns();
        if (rc != DCF_OK || (rc = leaf_hash_of(o->seed, s->incl[j], leaf, NULL)) != DCF_OK) {
            gate_fail("inclusion proof", s->incl[j], n, rc);
            goto out;
        }
        uint64_t v0 = dcf_bench_now_ns();
        rc = dcf_merkle_verify_inclusion(leaf, s->incl[j], n, proof, count, s->root_n);
        vns += dcf_bench_now_ns() - v0;
        if (rc != DCF_OK) {
            gate_fail("inclusion proof does not verify", s->incl[j], n, rc);
            goto out;
        }
        ns[j] = dcf_bench_sat32(t1 - t0);
        reads[j] = rd.reads;
        hashes += count;
        if (j < kept) {
            memcpy(s->kept + j * DCF_MERKLE_PROOF_MAX * HLEN, proof, count * HLEN);
            s->kept_len[j] = count;
        }
    }
    if ((rc = pstat_fill(&r->incl, ns, reads, hashes, vns, p)) != DCF_OK)
        goto out;

    /* Consistency proofs. */
    hashes = vns = 0;
    for (size_t j = 0; j < p; j++) {
        uint64_t m = s->cons[j];
        rd.reads = 0;
        uint64_t t0 = dcf_bench_now_ns();
        rc = dcf_merkle_consistency_proof(reader_get, &rd, m, n, proof, DCF_MERKLE_PROOF_MAX,
                                          &count);
        uint64_t t1 = dcf_bench_now_ns();
        if (rc != DCF_OK) {
            gate_fail("consistency proof", m, n, rc);
            goto out;
        }
        uint64_t v0 = dcf_bench_now_ns();
        rc = dcf_merkle_verify_consistency(m, n, s->cons_root + j * HLEN, s->root_n, proof, count);
        vns += dcf_bench_now_ns() - v0;
        if (rc != DCF_OK) {
            gate_fail("consistency proof does not verify", m, n, rc);
            goto out;
        }
        ns[j] = dcf_bench_sat32(t1 - t0);
        reads[j] = rd.reads;
        hashes += count;
    }
    if ((rc = pstat_fill(&r->cons, ns, reads, hashes, vns, p)) != DCF_OK)
        goto out;

    /* Inclusion proofs again, each inside one read transaction (BEGIN and
     * COMMIT timed with it): the node reads share one snapshot and one
     * lock instead of taking one each. */
    hashes = 0;
    for (size_t j = 0; j < p; j++) {
        uint8_t leaf[HLEN];
        rd.reads = 0;
        uint64_t t0 = dcf_bench_now_ns();
        if ((rc = step_done(rd.begin)) != DCF_OK)
            goto out;
        rc = dcf_merkle_inclusion_proof(reader_get, &rd, s->incl[j], n, proof, DCF_MERKLE_PROOF_MAX,
                                        &count);
        if (step_done(rd.commit) != DCF_OK && rc == DCF_OK)
            rc = DCF_EIO;
        uint64_t t1 = dcf_bench_now_ns();
        if (rc == DCF_OK)
            rc = leaf_hash_of(o->seed, s->incl[j], leaf, NULL);
        if (rc == DCF_OK)
            rc = dcf_merkle_verify_inclusion(leaf, s->incl[j], n, proof, count, s->root_n);
        if (rc != DCF_OK) {
            gate_fail("inclusion proof in one transaction", s->incl[j], n, rc);
            goto out;
        }
        ns[j] = dcf_bench_sat32(t1 - t0);
        reads[j] = rd.reads;
        hashes += count;
    }
    if ((rc = pstat_fill(&r->incl_txn, ns, reads, hashes, 0, p)) != DCF_OK)
        goto out;

    /* Gate, untimed and last so that it warms nothing timed: the root of
     * every sampled size m, read from the stored nodes, is the frontier's
     * root there (the layout's addressing over many tree shapes). */
    for (size_t j = 0; j < p; j++) {
        uint8_t root[HLEN];
        rc = dcf_merkle_root(reader_get, &rd, s->cons[j], root);
        if (rc == DCF_OK && memcmp(root, s->cons_root + j * HLEN, HLEN) != 0)
            rc = DCF_ECONFLICT;
        if (rc != DCF_OK) {
            gate_fail("root at a sampled size differs from the frontier's", s->cons[j], n, rc);
            goto out;
        }
    }
out:
    reader_close(&rd);
    free(ns);
    free(reads);
    return rc;
}

/*
 * Inclusion proofs with nothing cached: before each, a new connection and
 * the file's pages dropped from the operating system's cache.
 */
static int prove_cold(const opts_t *o, run_t *r, const samples_t *s, const char *path, size_t c) {
    reader_t rd = {0};
    uint32_t *ns = calloc(c ? c : 1, sizeof *ns);
    uint64_t *reads = calloc(c ? c : 1, sizeof *reads);
    uint8_t proof[DCF_MERKLE_PROOF_MAX * HLEN];
    int fd = -1, rc = DCF_ENOMEM;

    if (ns == NULL || reads == NULL)
        goto out;
    rc = DCF_EIO;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        goto out;
    for (size_t j = 0; j < c; j++) {
        uint8_t leaf[HLEN];
        size_t count;
        reader_close(&rd);
        if ((rc = reader_open(&rd, path, o->layout, o->mmap)) != DCF_OK)
            goto out;
        if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0) {
            rc = DCF_EIO;
            goto out;
        }
        rd.reads = 0;
        uint64_t t0 = dcf_bench_now_ns();
        rc = dcf_merkle_inclusion_proof(reader_get, &rd, s->incl[j], r->n, proof,
                                        DCF_MERKLE_PROOF_MAX, &count);
        uint64_t t1 = dcf_bench_now_ns();
        if (rc == DCF_OK)
            rc = leaf_hash_of(o->seed, s->incl[j], leaf, NULL);
        if (rc == DCF_OK)
            rc = dcf_merkle_verify_inclusion(leaf, s->incl[j], r->n, proof, count, s->root_n);
        if (rc != DCF_OK) {
            gate_fail("cold inclusion proof", s->incl[j], r->n, rc);
            goto out;
        }
        ns[j] = dcf_bench_sat32(t1 - t0);
        reads[j] = rd.reads;
    }
    rc = c ? pstat_fill(&r->cold, ns, reads, 0, 0, c) : DCF_OK;
out:
    reader_close(&rd);
    if (fd >= 0)
        close(fd);
    free(ns);
    free(reads);
    return rc;
}

/* ------------------------------------------------ the naive alternative -- */

/* Largest power of two strictly below n (n >= 2). */
static uint64_t split_below(uint64_t n) {
    return UINT64_C(1) << (63 - __builtin_clzll(n - 1));
}

/* MTH(D[0:n]) over the leaf hashes d, n >= 1, as RFC 9162 section 2.1.1. */
static void mth(const uint8_t *d, uint64_t n, uint8_t out[HLEN]) {
    uint8_t l[HLEN], r[HLEN];
    if (n == 1) {
        memcpy(out, d, HLEN);
        return;
    }
    uint64_t k = split_below(n);
    mth(d, k, l);
    mth(d + k * HLEN, n - k, r);
    dcf_merkle_node_hash(l, r, out);
}

/* PATH(m, D[0:n]) as RFC 9162 section 2.1.3.1, deepest hash first; returns
 * how many hashes it wrote to out. */
static size_t path(const uint8_t *d, uint64_t m, uint64_t n, uint8_t *out) {
    if (n == 1)
        return 0;
    uint64_t k = split_below(n);
    size_t c;
    if (m < k) {
        c = path(d, m, k, out);
        mth(d + k * HLEN, n - k, out + c * HLEN);
    } else {
        c = path(d + k * HLEN, m - k, n - k, out);
        mth(d, k, out + c * HLEN);
    }
    return c + 1;
}

/* K inclusion proofs, each reading every leaf hash and rehashing the tree. */
static int prove_recompute(run_t *r, const samples_t *s, const char *path_db, size_t k) {
    sqlite3 *db = NULL;
    sqlite3_stmt *sel = NULL;
    uint8_t *d = malloc(r->n * HLEN);
    uint32_t *lat = malloc(k * sizeof *lat), *rd_ns = malloc(k * sizeof *rd_ns),
             *h_ns = malloc(k * sizeof *h_ns);
    uint8_t proof[DCF_MERKLE_PROOF_MAX * HLEN];
    int rc = DCF_ENOMEM;

    if (d == NULL || lat == NULL || rd_ns == NULL || h_ns == NULL)
        goto out;
    if ((rc = db_open(path_db, false, &db)) != DCF_OK)
        goto out;
    rc = DCF_EIO;
    if (sqlite3_prepare_v2(db, "SELECT hash FROM audit_leaves WHERE idx < ?1 ORDER BY idx", -1,
                           &sel, NULL) != SQLITE_OK)
        goto out;
    for (size_t j = 0; j < k; j++) {
        uint64_t got = 0, idx = s->incl[j];
        int st;
        rc = DCF_EIO;
        uint64_t t0 = dcf_bench_now_ns();
        if (sqlite3_bind_int64(sel, 1, (sqlite3_int64)r->n) != SQLITE_OK)
            goto out;
        while ((st = sqlite3_step(sel)) == SQLITE_ROW) {
            const void *b = sqlite3_column_blob(sel, 0);
            if (got >= r->n || b == NULL || sqlite3_column_bytes(sel, 0) != HLEN)
                goto out;
            memcpy(d + got * HLEN, b, HLEN);
            got++;
        }
        sqlite3_reset(sel);
        if (st != SQLITE_DONE || got != r->n)
            goto out;
        uint64_t t1 = dcf_bench_now_ns();
        size_t count = path(d, idx, r->n, proof);
        uint64_t t2 = dcf_bench_now_ns();
        rc = DCF_ECONFLICT;
        if (count != s->kept_len[j] ||
            memcmp(proof, s->kept + j * DCF_MERKLE_PROOF_MAX * HLEN, count * HLEN) != 0) {
            gate_fail("recomputed proof differs from the stored-node proof", idx, r->n, rc);
            goto out;
        }
        if ((rc = dcf_merkle_verify_inclusion(d + idx * HLEN, idx, r->n, proof, count,
                                              s->root_n)) != DCF_OK) {
            gate_fail("recomputed proof does not verify", idx, r->n, rc);
            goto out;
        }
        lat[j] = dcf_bench_sat32(t2 - t0);
        rd_ns[j] = dcf_bench_sat32(t1 - t0);
        h_ns[j] = dcf_bench_sat32(t2 - t1);
    }
    rc = DCF_ENOMEM;
    if (!dcf_bench_lat_summary(lat, k, &r->rc_lat) ||
        !dcf_bench_lat_summary(rd_ns, k, &r->rc_read) ||
        !dcf_bench_lat_summary(h_ns, k, &r->rc_hash))
        goto out;
    r->rc_proofs = k;
    r->recompute_ran = true;
    r->ratio_p50 = r->rc_lat.p50_ns / r->incl.lat.p50_ns;
    rc = DCF_OK;
out:
    sqlite3_finalize(sel);
    sqlite3_close(db);
    free(d);
    free(lat);
    free(rd_ns);
    free(h_ns);
    return rc;
}

/* ---------------------------------------------------------- one size -- */

static size_t recompute_count(const opts_t *o, uint64_t n) {
    if (n > o->recompute_max)
        return 0;
    uint64_t k = o->recompute_proofs;
    if (k == 0) {
        k = AB_RECOMPUTE_BUDGET / n;
        k = k < AB_RECOMPUTE_MIN ? AB_RECOMPUTE_MIN : k > AB_RECOMPUTE_CAP ? AB_RECOMPUTE_CAP : k;
    }
    return (size_t)(k < o->proofs ? k : o->proofs);
}

static int run_size(const opts_t *o, run_t *r) {
    char tree_path[AB_PATH_MAX], leaves_path[AB_PATH_MAX];
    samples_t s = {0};
    uint8_t *leaves = NULL;
    size_t p = (size_t)o->proofs, k = recompute_count(o, r->n);
    size_t c = (size_t)(o->cold_proofs < o->proofs ? o->cold_proofs : o->proofs);
    bool named = false; /* both paths whole: only then remove them */
    int rc = DCF_EINVAL;

    if (snprintf(tree_path, sizeof tree_path, "%s/dcf-audit-bench-%" PRIu64 "-%s.db", o->dir, r->n,
                 layout_name(o->layout)) >= (int)sizeof tree_path ||
        snprintf(leaves_path, sizeof leaves_path, "%s/dcf-audit-bench-%" PRIu64 "-leaves.db",
                 o->dir, r->n) >= (int)sizeof leaves_path) {
        fprintf(stderr, "audit: --dir too long\n");
        goto out;
    }
    named = true;
    if ((rc = samples_make(&s, o->seed, r->n, p, k)) != DCF_OK)
        goto out;
    rc = DCF_ENOMEM;
    if (k > 0 && (leaves = malloc(r->n * HLEN)) == NULL)
        goto out;

    fprintf(stderr, "N = %" PRIu64 ": building %s\n", r->n, tree_path);
    if ((rc = build_tree(o, r, &s, tree_path, p, leaves)) != DCF_OK)
        goto out;
    fprintf(stderr, "  built in %.1f s, %.1f MiB; proofs\n", r->build_s,
            (double)r->db_bytes / 1048576.0);
    if ((rc = prove_warm(o, r, &s, tree_path, p, k)) != DCF_OK)
        goto out;
    fprintf(stderr, "  cold proofs (%zu)\n", c);
    if ((rc = prove_cold(o, r, &s, tree_path, c)) != DCF_OK)
        goto out;
    if (k > 0) {
        fprintf(stderr, "  recompute alternative: leaf table, %zu proofs\n", k);
        if ((rc = build_leaves(o, r, leaves_path, leaves)) != DCF_OK)
            goto out;
        if ((rc = prove_recompute(r, &s, leaves_path, k)) != DCF_OK)
            goto out;
    }
    rc = DCF_OK;
out:
    if (named && !o->keep) {
        db_remove(tree_path);
        db_remove(leaves_path);
    }
    free(leaves);
    samples_free(&s);
    return rc;
}

/* ------------------------------------------------------------ report -- */

static double to_us(double ns) {
    return ns / 1000.0;
}

static void print_tables(const opts_t *o, const run_t *runs, size_t nr) {
    const char *schema =
        o->layout == AB_LAYOUT_ENTRIES
            ? "audit_entries, one row per entry: its text, its leaf hash and the nodes its append "
              "completed (the server's, migration 6)"
        : o->without_rowid ? "audit_nodes, one row per node, WITHOUT ROWID (variant)"
                           : "audit_nodes, one row per node, rowid table + PRIMARY KEY index "
                             "(the server's before migration 3)";
    printf("\naudit-log proofs over stored complete nodes (SQLite %s, WAL, synchronous=FULL, "
           "%" PRIu64 " leaves per transaction), seed %" PRIu64 "\nlayout %s: %s; readers: "
           "mmap_size %" PRIu64 "\n",
           sqlite3_libversion(), o->batch, o->seed, layout_name(o->layout), schema, o->mmap);
    printf("\nbuild (entry text + leaf hash + frontier append + %s, checkpointed)\n",
           o->layout == AB_LAYOUT_ENTRIES ? "one INSERT per entry, text and hashes"
                                          : "one INSERT per node, no text");
    printf("%10s %9s %9s %10s %11s %11s %9s %8s\n", "N", "build s", "hash s", "leaves/s", "rows",
           "nodes", "DB MiB", "B/leaf");
    for (size_t i = 0; i < nr; i++) {
        const run_t *r = &runs[i];
        printf("%10" PRIu64 " %9.2f %9.2f %10.0f %11" PRIu64 " %11" PRIu64 " %9.1f %8.1f\n", r->n,
               r->build_s, r->build_hash_s, (double)r->n / r->build_s, r->rows, r->nodes,
               (double)r->db_bytes / 1048576.0, (double)r->db_bytes / (double)r->n);
    }
    printf("\nper call, microseconds (%" PRIu64 " calls each; page cache warm), node reads per "
           "call mean/max\n",
           o->proofs);
    printf("%10s | %6s %6s %6s %5s | %6s %6s %6s %9s | %6s %6s %6s %9s\n", "N", "root", "p99",
           "max", "reads", "incl", "p99", "max", "reads", "cons", "p99", "max", "reads");
    for (size_t i = 0; i < nr; i++) {
        const run_t *r = &runs[i];
        char ri[32], rc[32];
        snprintf(ri, sizeof ri, "%.1f/%" PRIu64, r->incl.reads_mean, r->incl.reads_max);
        snprintf(rc, sizeof rc, "%.1f/%" PRIu64, r->cons.reads_mean, r->cons.reads_max);
        printf("%10" PRIu64
               " | %6.1f %6.1f %6.1f %5.0f | %6.1f %6.1f %6.1f %9s | %6.1f %6.1f %6.1f %9s\n",
               r->n, to_us(r->root.lat.p50_ns), to_us(r->root.lat.p99_ns),
               to_us(r->root.lat.max_ns), r->root.reads_mean, to_us(r->incl.lat.p50_ns),
               to_us(r->incl.lat.p99_ns), to_us(r->incl.lat.max_ns), ri, to_us(r->cons.lat.p50_ns),
               to_us(r->cons.lat.p99_ns), to_us(r->cons.lat.max_ns), rc);
    }
    printf("(root/incl/cons columns are p50; verifying costs %.1f us per inclusion and %.1f us per "
           "consistency proof at the largest N)\n",
           nr ? to_us(runs[nr - 1].incl.verify_mean_ns) : 0.0,
           nr ? to_us(runs[nr - 1].cons.verify_mean_ns) : 0.0);
    printf("\ninclusion proofs, microseconds: in one read transaction each (warm, %" PRIu64
           " proofs), and cold (new connection, file dropped from the OS cache before each)\n",
           o->proofs);
    printf("%10s | %7s %7s %7s | %6s %7s %7s %7s\n", "N", "1-txn", "p99", "max", "proofs", "cold",
           "p99", "max");
    for (size_t i = 0; i < nr; i++) {
        const run_t *r = &runs[i];
        printf("%10" PRIu64 " | %7.1f %7.1f %7.1f | %6zu %7.0f %7.0f %7.0f\n", r->n,
               to_us(r->incl_txn.lat.p50_ns), to_us(r->incl_txn.lat.p99_ns),
               to_us(r->incl_txn.lat.max_ns), r->cold.lat.n, to_us(r->cold.lat.p50_ns),
               to_us(r->cold.lat.p99_ns), to_us(r->cold.lat.max_ns));
    }
    printf("\nthe alternative: leaf hashes only, every proof reads them all and rehashes, "
           "milliseconds\n");
    printf("%10s %6s %9s %9s %9s %9s %9s %10s %9s %9s\n", "N", "proofs", "p50", "p99", "max",
           "read", "hash", "x stored", "build s", "DB MiB");
    for (size_t i = 0; i < nr; i++) {
        const run_t *r = &runs[i];
        if (!r->recompute_ran)
            continue;
        printf("%10" PRIu64 " %6zu %9.2f %9.2f %9.2f %9.2f %9.2f %10.0f %9.2f %9.1f\n", r->n,
               r->rc_proofs, r->rc_lat.p50_ns / 1e6, r->rc_lat.p99_ns / 1e6, r->rc_lat.max_ns / 1e6,
               r->rc_read.mean_ns / 1e6, r->rc_hash.mean_ns / 1e6, r->ratio_p50, r->leaves_build_s,
               (double)r->leaves_db_bytes / 1048576.0);
    }
    printf("(read and hash are means; x stored = p50 over the stored-node inclusion p50)\n");
}

static json_t *lat_json(const dcf_bench_lat_t *l) {
    return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f}", "n", (json_int_t)l->n, "mean_us",
                     to_us(l->mean_ns), "p50_us", to_us(l->p50_ns), "p90_us", to_us(l->p90_ns),
                     "p99_us", to_us(l->p99_ns), "max_us", to_us(l->max_ns));
}

static json_t *pstat_json(const pstat_t *p) {
    json_t *o = lat_json(&p->lat);
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "reads_mean", json_real(p->reads_mean));
    json_object_set_new(o, "reads_max", json_integer((json_int_t)p->reads_max));
    if (p->hashes_mean > 0) /* 0: not recorded for this pass */
        json_object_set_new(o, "proof_hashes_mean", json_real(p->hashes_mean));
    if (p->verify_mean_ns > 0)
        json_object_set_new(o, "verify_mean_us", json_real(to_us(p->verify_mean_ns)));
    return o;
}

/* Write the results.  `machine` is handed over: it is released here
 * whatever happens. */
static int write_json(const opts_t *o, const run_t *runs, size_t nr, double timer_ns,
                      json_t *machine) {
    json_t *root = NULL, *arr = NULL, *sizes = NULL;
    int rc = DCF_ENOMEM;
    char load[128];

    if ((root = json_object()) == NULL || (arr = json_array()) == NULL ||
        (sizes = json_array()) == NULL)
        goto out;
    for (size_t i = 0; i < o->nsizes; i++)
        json_array_append_new(sizes, json_integer((json_int_t)o->sizes[i]));
    json_object_set_new(root, "machine", machine);
    machine = NULL;
    json_object_set_new(root, "sqlite_version", json_string(sqlite3_libversion()));
    json_object_set_new(root, "config",
                        json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:b, s:s}", "sizes",
                                  sizes, "proofs", (json_int_t)o->proofs, "seed",
                                  (json_int_t)o->seed, "batch_leaves", (json_int_t)o->batch,
                                  "recompute_max", (json_int_t)o->recompute_max, "recompute_proofs",
                                  (json_int_t)o->recompute_proofs, "cold_proofs",
                                  (json_int_t)o->cold_proofs, "dir", o->dir, "quick", o->quick,
                                  "journal", "WAL, synchronous=FULL"));
    json_object_set_new(json_object_get(root, "config"), "without_rowid",
                        json_boolean(o->without_rowid));
    json_object_set_new(json_object_get(root, "config"), "layout",
                        json_string(layout_name(o->layout)));
    json_object_set_new(json_object_get(root, "config"), "schema", json_string(layout_ddl(o)));
    json_object_set_new(json_object_get(root, "config"), "mmap_size",
                        json_integer((json_int_t)o->mmap));
    sizes = NULL;
    json_object_set_new(root, "timer_ns", json_real(timer_ns));
    for (size_t i = 0; i < nr; i++) {
        const run_t *r = &runs[i];
        json_t *x = json_pack(
            "{s:I, s:f, s:{s:f, s:f, s:I, s:I, s:f}, s:o, s:o, s:o, s:o}", "n", (json_int_t)r->n,
            "leaf_bytes_mean", r->leaf_bytes_mean, "build", "seconds", r->build_s, "hash_seconds",
            r->build_hash_s, "nodes", (json_int_t)r->nodes, "db_bytes", (json_int_t)r->db_bytes,
            "db_bytes_per_leaf", (double)r->db_bytes / (double)r->n, "root", pstat_json(&r->root),
            "inclusion", pstat_json(&r->incl), "consistency", pstat_json(&r->cons),
            "inclusion_cold", pstat_json(&r->cold));
        if (x == NULL)
            goto out;
        json_object_set_new(x, "inclusion_one_txn", pstat_json(&r->incl_txn));
        json_object_set_new(json_object_get(x, "build"), "rows", json_integer((json_int_t)r->rows));
        if (r->recompute_ran)
            json_object_set_new(x, "recompute",
                                json_pack("{s:I, s:o, s:o, s:o, s:f, s:f, s:I}", "proofs",
                                          (json_int_t)r->rc_proofs, "total", lat_json(&r->rc_lat),
                                          "read", lat_json(&r->rc_read), "hash",
                                          lat_json(&r->rc_hash), "ratio_p50_to_stored_inclusion",
                                          r->ratio_p50, "leaves_build_seconds", r->leaves_build_s,
                                          "leaves_db_bytes", (json_int_t)r->leaves_db_bytes));
        json_array_append_new(arr, x);
    }
    json_object_set_new(root, "runs", arr);
    arr = NULL;
    json_object_set_new(root, "gate", json_string("pass"));
    dcf_bench_cmd_line("cat /proc/loadavg 2>/dev/null", load, sizeof load);
    json_object_set_new(root, "loadavg_at_end", json_string(load));
    json_object_set_new(root, "peak_rss_bytes", json_integer((json_int_t)dcf_bench_peak_rss()));

    /* bench/out is git-ignored and may not exist yet; any other --out must
     * name an existing directory. */
    if (strcmp(o->out, AB_DEFAULT_OUT) == 0 || strcmp(o->out, AB_QUICK_OUT) == 0) {
        char dir[AB_PATH_MAX];
        snprintf(dir, sizeof dir, "%s", o->out);
        char *slash = strrchr(dir, '/');
        if (slash != NULL && slash != dir) {
            *slash = '\0';
            mkdir(dir, 0777);
        }
    }
    rc = DCF_EIO;
    if (json_dump_file(root, o->out, JSON_INDENT(1) | JSON_SORT_KEYS) != 0) {
        fprintf(stderr, "audit: cannot write %s\n", o->out);
        goto out;
    }
    printf("\nwrote %s\n", o->out);
    rc = DCF_OK;
out:
    json_decref(machine);
    json_decref(sizes);
    json_decref(arr);
    json_decref(root);
    return rc;
}

/* -------------------------------------------------------------- main -- */

static void usage(void) {
    fputs("usage: audit [--sizes N,N,...] [--proofs P] [--seed S] [--dir DIR] [--out FILE]\n"
          "             [--layout entries|nodes] [--batch B] [--recompute-max N]\n"
          "             [--recompute-proofs K] [--cold-proofs C] [--mmap BYTES]\n"
          "             [--without-rowid] [--keep] [--quick]\n"
          "  --sizes   tree sizes, default 10000,100000,1000000,10000000 (2 .. 10^8 each)\n"
          "  --layout  entries: the server's audit_entries, one row per entry holding its\n"
          "            leaf and the nodes its append completed (default); nodes: the old\n"
          "            audit_nodes, one row per node\n"
          "  --proofs  roots, inclusion and consistency proofs timed per size (1000)\n"
          "  --dir     where the databases go (/tmp); deleted after each size unless --keep\n"
          "  --out     JSON results (bench/out/audit.json)\n"
          "  --batch   leaves per transaction while building (10000)\n"
          "  --recompute-max     largest N for the leaf-rehash alternative (1000000)\n"
          "  --recompute-proofs  proofs it times (0 = 2*10^7 / N, within 10..200)\n"
          "  --cold-proofs       inclusion proofs with no cache (100)\n"
          "  --mmap    PRAGMA mmap_size of the reading connections (0: SQLite's default, off)\n"
          "  --without-rowid     variant schema: audit_nodes as a WITHOUT ROWID table\n"
          "                      (--layout nodes only)\n"
          "  --quick   smoke run: sizes 1000,10000, 100 proofs, 10 cold\n",
          stderr);
}

static int parse_sizes(const char *v, opts_t *o) {
    char tok[32];
    size_t t = 0;
    o->nsizes = 0;
    for (const char *c = v;; c++) {
        if (*c != ',' && *c != '\0') {
            if (t + 1 >= sizeof tok)
                return DCF_EINVAL;
            tok[t++] = *c;
            continue;
        }
        tok[t] = '\0';
        if (o->nsizes >= AB_SIZES_MAX || bench_parse_u64(tok, AB_N_MAX, &o->sizes[o->nsizes]) ||
            o->sizes[o->nsizes] < AB_N_MIN)
            return DCF_EINVAL;
        o->nsizes++;
        t = 0;
        if (*c == '\0')
            return DCF_OK;
    }
}

static int parse_opts(int argc, char **argv, opts_t *o) {
    static const uint64_t defaults[] = {10000, 100000, 1000000, 10000000};
    bool quick = false, sizes_set = false, out_set = false, proofs_set = false, cold_set = false;
    *o = (opts_t){.proofs = AB_PROOFS_DEFAULT,
                  .seed = 42,
                  .batch = AB_BATCH_DEFAULT,
                  .recompute_max = AB_RECOMPUTE_N,
                  .cold_proofs = AB_COLD_DEFAULT,
                  .dir = AB_DEFAULT_DIR,
                  .out = AB_DEFAULT_OUT,
                  .layout = AB_LAYOUT_ENTRIES};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = DCF_OK;
        if (strcmp(a, "--without-rowid") == 0) {
            o->without_rowid = true;
            continue;
        }
        if (strcmp(a, "--keep") == 0) {
            o->keep = true;
            continue;
        }
        if (strcmp(a, "--quick") == 0) {
            quick = true;
            continue;
        }
        if (v == NULL)
            return DCF_EINVAL;
        i++;
        if (strcmp(a, "--sizes") == 0)
            rc = parse_sizes(v, o), sizes_set = true;
        else if (strcmp(a, "--proofs") == 0)
            rc = bench_parse_u64(v, AB_PROOFS_MAX, &o->proofs), proofs_set = true;
        else if (strcmp(a, "--seed") == 0)
            rc = bench_parse_u64(v, UINT64_MAX, &o->seed);
        else if (strcmp(a, "--batch") == 0)
            rc = bench_parse_u64(v, AB_BATCH_MAX, &o->batch);
        else if (strcmp(a, "--recompute-max") == 0)
            rc = bench_parse_u64(v, AB_RECOMPUTE_N_MAX, &o->recompute_max);
        else if (strcmp(a, "--recompute-proofs") == 0)
            rc = bench_parse_u64(v, AB_PROOFS_MAX, &o->recompute_proofs);
        else if (strcmp(a, "--cold-proofs") == 0)
            rc = bench_parse_u64(v, AB_PROOFS_MAX, &o->cold_proofs), cold_set = true;
        else if (strcmp(a, "--mmap") == 0)
            rc = bench_parse_u64(v, AB_MMAP_MAX, &o->mmap);
        else if (strcmp(a, "--layout") == 0 && strcmp(v, "entries") == 0)
            o->layout = AB_LAYOUT_ENTRIES;
        else if (strcmp(a, "--layout") == 0 && strcmp(v, "nodes") == 0)
            o->layout = AB_LAYOUT_NODES;
        else if (strcmp(a, "--dir") == 0)
            o->dir = v;
        else if (strcmp(a, "--out") == 0)
            o->out = v, out_set = true;
        else
            rc = DCF_EINVAL;
        if (rc != DCF_OK) {
            fprintf(stderr, "audit: bad option %s %s\n", a, v);
            return rc;
        }
    }
    o->quick = quick;
    if (quick) {
        static const uint64_t q[] = {1000, 10000};
        if (!sizes_set) {
            memcpy(o->sizes, q, sizeof q);
            o->nsizes = 2;
        }
        if (!proofs_set)
            o->proofs = 100;
        if (!cold_set)
            o->cold_proofs = 10;
        if (!out_set)
            o->out = AB_QUICK_OUT;
    } else if (!sizes_set) {
        memcpy(o->sizes, defaults, sizeof defaults);
        o->nsizes = sizeof defaults / sizeof defaults[0];
    }
    if (o->without_rowid && o->layout != AB_LAYOUT_NODES) {
        fprintf(stderr, "audit: --without-rowid applies to --layout nodes only (audit_entries is "
                        "one B-tree already)\n");
        return DCF_EINVAL;
    }
    return o->nsizes > 0 && o->proofs > 0 && o->batch > 0 ? DCF_OK : DCF_EINVAL;
}

int main(int argc, char **argv) {
    opts_t o;
    run_t *runs = NULL;
    json_t *machine = NULL;
    size_t nr = 0;
    int status = 2, rc;

    if (parse_opts(argc, argv, &o) != DCF_OK) {
        usage();
        goto out;
    }
    status = 1;
    /* The machine description first, so that its load average is the one
     * before this run added its own. */
    if (sodium_init() < 0 || (runs = calloc(o.nsizes, sizeof *runs)) == NULL ||
        (machine = dcf_bench_machine_json()) == NULL)
        goto out;
    double timer_ns = dcf_bench_timer_cost_ns(100000);
    for (; nr < o.nsizes; nr++) {
        runs[nr].n = o.sizes[nr];
        if ((rc = run_size(&o, &runs[nr])) != DCF_OK) {
            fprintf(stderr, "audit: N = %" PRIu64 ": %s%s\n", o.sizes[nr], dcf_strerror(rc),
                    rc == DCF_ECONFLICT ? " (correctness gate: no figure of this run counts)" : "");
            goto out;
        }
    }
    print_tables(&o, runs, nr);
    rc = write_json(&o, runs, nr, timer_ns, machine);
    machine = NULL; /* write_json took it */
    if (rc != DCF_OK)
        goto out;
    status = 0;
out:
    json_decref(machine);
    free(runs);
    return status;
}
