/*
 * test_store.c -- unit tests of the durable store (src/store/) on real
 * SQLite databases in a mkdtemp directory: migrations, concurrent durable
 * writes, per-write rollback inside a batch, group commit, reads, value
 * round-trips and error paths.
 */
#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

#include "deconflict/store.h"
#include "test.h"

static char dir[64];
static int db_seq;

static void db_path(char *buf, size_t len) {
    snprintf(buf, len, "sqlite:%s/t%d.db", dir, db_seq++);
}

static const dcf_store_migration_t migs[] = {
    {1, "CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT NOT NULL);"},
    {2, "CREATE TABLE vals (id INTEGER PRIMARY KEY, i INTEGER, d REAL, t TEXT, b BLOB, n TEXT);"
        "CREATE INDEX vals_i ON vals (i);"},
};

static int count_cb(void *arg, const dcf_store_val_t *cols, size_t ncols) {
    int64_t *v = arg;
    if (ncols != 1 || cols[0].type != DCF_STORE_INT)
        return DCF_EINTERNAL;
    *v = cols[0].u.i;
    return 0;
}

static int64_t count(dcf_store_t *st, const char *sql) {
    int64_t v = -1;
    int err = dcf_store_read(st, sql, NULL, 0, count_cb, &v);
    CHECK_INT(err, DCF_OK);
    return v;
}

typedef struct {
    int64_t k;
    const char *v;
    int fail_with; // returned after the insert, to test rollback
} kv_arg_t;

static int put_kv(dcf_store_tx_t *tx, void *p) {
    kv_arg_t *a = p;
    dcf_store_val_t params[2] = {dcf_store_val_int(a->k), dcf_store_val_text(a->v, strlen(a->v))};
    int64_t changes = 0;
    int err = dcf_store_tx_exec(tx, "INSERT INTO kv (k, v) VALUES ($1, $2)", params, 2, &changes);
    if (err != DCF_OK)
        return err;
    if (changes != 1)
        return DCF_EINTERNAL;
    return a->fail_with;
}

/* The writer's settings, read inside a write: [0] cache_size (negative:
 * KiB), [1] temp_store (2: memory). */
static int writer_pragmas(dcf_store_tx_t *tx, void *p) {
    int64_t *v = p;
    int err = dcf_store_tx_query(tx, "PRAGMA cache_size", NULL, 0, count_cb, &v[0]);
    return err != DCF_OK ? err
                         : dcf_store_tx_query(tx, "PRAGMA temp_store", NULL, 0, count_cb, &v[1]);
}

static void test_migrations(void) {
    char uri[128];
    dcf_store_t *st = NULL;
    db_path(uri, sizeof(uri));
    dcf_store_opts_t o = {.uri = uri};

    CHECK_INT(dcf_store_open(&o, migs, 1, &st), DCF_OK);
    CHECK_INT(count(st, "SELECT COUNT(*) FROM schema_migrations"), 1);
    dcf_store_close(st);
    st = NULL;

    // Reopen with both: only version 2 is new.
    CHECK_INT(dcf_store_open(&o, migs, 2, &st), DCF_OK);
    CHECK_INT(count(st, "SELECT COUNT(*) FROM schema_migrations"), 2);
    CHECK_INT(count(st, "SELECT MAX(version) FROM schema_migrations"), 2);
    CHECK_INT(count(st, "SELECT COUNT(*) FROM vals"), 0);
    kv_arg_t a = {.k = 7, .v = "seven"};
    CHECK_INT(dcf_store_write(st, put_kv, &a), DCF_OK);
    dcf_store_close(st);
    st = NULL;

    // Reopen: nothing reapplied (a rerun of version 1 would fail: table exists).
    CHECK_INT(dcf_store_open(&o, migs, 2, &st), DCF_OK);
    CHECK_INT(count(st, "SELECT COUNT(*) FROM schema_migrations"), 2);
    CHECK_INT(count(st, "SELECT COUNT(*) FROM kv"), 1);
    CHECK_INT(count(st, "SELECT COUNT(*) FROM schema_migrations WHERE applied_at IS NULL"), 0);
    dcf_store_close(st);
    st = NULL;

    // Code that knows only version 1 must refuse a version-2 database.
    dcf_store_t *st2 = (dcf_store_t *)&st2;
    CHECK_INT(dcf_store_open(&o, migs, 1, &st2), DCF_ESTATE);
    CHECK(st2 == (dcf_store_t *)&st2);

    // A failing migration leaves no trace and fails the open.
    char uri2[128];
    db_path(uri2, sizeof(uri2));
    dcf_store_opts_t o2 = {.uri = uri2};
    const dcf_store_migration_t bad[] = {{1, "CREATE TABLE a (x INTEGER);"},
                                         {2, "CREATE TABLE b (x INTEGER); SELEC nonsense;"}};
    CHECK(dcf_store_open(&o2, bad, 2, &st) < 0);
    CHECK_INT(dcf_store_open(&o2, bad, 1, &st), DCF_OK);
    CHECK_INT(count(st, "SELECT MAX(version) FROM schema_migrations"), 1);
    CHECK_INT(count(st, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'b'"), 0);
    dcf_store_close(st);

    // Unordered migrations and bad options are refused.
    const dcf_store_migration_t unordered[] = {{2, "SELECT 1;"}, {1, "SELECT 1;"}};
    CHECK_INT(dcf_store_open(&o2, unordered, 2, &st), DCF_EINVAL);
    dcf_store_opts_t big = {.uri = uri2, .batch_max = DCF_STORE_BATCH_LIMIT + 1};
    CHECK_INT(dcf_store_open(&big, migs, 1, &st), DCF_ELIMIT);
    dcf_store_opts_t cache = {.uri = uri2, .cache_mib = DCF_STORE_CACHE_MAX_MIB + 1};
    CHECK_INT(dcf_store_open(&cache, migs, 1, &st), DCF_ELIMIT);
    cache.cache_mib = 1; /* within the limit: opens, and the writer keeps 1 MiB */
    CHECK_INT(dcf_store_open(&cache, migs, 1, &st), DCF_OK);
    int64_t pragmas[2] = {0, 0};
    CHECK_INT(dcf_store_write(st, writer_pragmas, pragmas), DCF_OK);
    CHECK_INT(pragmas[0], -1024);
    CHECK_INT(pragmas[1], 2);
    dcf_store_close(st);
    dcf_store_opts_t pg = {.uri = "postgres://localhost/x"};
    CHECK_INT(dcf_store_open(&pg, migs, 1, &st), DCF_EINVAL);
}

#define THREADS    4
#define PER_THREAD 2000

typedef struct {
    dcf_store_t *st;
    int t;
    int errors;
} worker_t;

static int put_row(dcf_store_tx_t *tx, void *p) {
    const int64_t *k = p;
    char v[32];
    int len = snprintf(v, sizeof(v), "v%lld", (long long)*k);
    dcf_store_val_t params[2] = {dcf_store_val_int(*k), dcf_store_val_text(v, (size_t)len)};
    return dcf_store_tx_exec(tx, "INSERT INTO kv (k, v) VALUES ($1, $2)", params, 2, NULL);
}

static void *worker(void *p) {
    worker_t *w = p;
    for (int i = 0; i < PER_THREAD; i++) {
        int64_t k = (int64_t)w->t * PER_THREAD + i;
        if (dcf_store_write(w->st, put_row, &k) != DCF_OK)
            w->errors++;
    }
    return NULL;
}

static int check_v_cb(void *arg, const dcf_store_val_t *cols, size_t ncols) {
    int64_t *bad = arg;
    char v[32];
    if (ncols != 2 || cols[0].type != DCF_STORE_INT || cols[1].type != DCF_STORE_TEXT) {
        (*bad)++;
        return 0;
    }
    int len = snprintf(v, sizeof(v), "v%lld", (long long)cols[0].u.i);
    if ((size_t)len != cols[1].u.b.len || memcmp(v, cols[1].u.b.ptr, (size_t)len) != 0)
        (*bad)++;
    return 0;
}

static void test_concurrent_group_commit(void) {
    char uri[128];
    dcf_store_t *st = NULL;
    db_path(uri, sizeof(uri));
    dcf_store_opts_t o = {.uri = uri};
    pthread_t th[THREADS];
    worker_t w[THREADS];

    CHECK_INT(dcf_store_open(&o, migs, 2, &st), DCF_OK);
    if (!st)
        return;
    for (int t = 0; t < THREADS; t++) {
        w[t] = (worker_t){.st = st, .t = t};
        pthread_create(&th[t], NULL, worker, &w[t]);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        CHECK_INT(w[t].errors, 0);
    }
    dcf_store_stats_t s;
    dcf_store_stats(st, &s);
    CHECK_INT(s.writes, THREADS * PER_THREAD);
    CHECK_INT(s.writes_failed, 0);
    CHECK_INT(s.commit_failures, 0);
    // Group commit: with 4 concurrent writers, many writes share a commit.
    CHECK_MSG(s.batches < s.writes, "batches %llu writes %llu", (unsigned long long)s.batches,
              (unsigned long long)s.writes);
    CHECK(s.batch_max_seen >= 2);
    CHECK(s.batch_max_seen <= THREADS); // each writer has at most one write queued
    fprintf(stderr, "  %llu writes in %llu batches (max %llu), commit avg %.0f us\n",
            (unsigned long long)s.writes, (unsigned long long)s.batches,
            (unsigned long long)s.batch_max_seen, (double)s.commit_usec_sum / (double)s.batches);
    CHECK_INT(count(st, "SELECT COUNT(*) FROM kv"), THREADS * PER_THREAD);
    CHECK_INT(count(st, "SELECT COUNT(DISTINCT k) FROM kv"), THREADS * PER_THREAD);
    int64_t bad = 0;
    CHECK_INT(dcf_store_read(st, "SELECT k, v FROM kv", NULL, 0, check_v_cb, &bad), DCF_OK);
    CHECK_INT(bad, 0);
    dcf_store_close(st);

    // Closing and reopening keeps everything.
    st = NULL;
    CHECK_INT(dcf_store_open(&o, migs, 2, &st), DCF_OK);
    CHECK_INT(count(st, "SELECT COUNT(*) FROM kv"), THREADS * PER_THREAD);
    dcf_store_close(st);
}

// Batch-mates: a gate holds the writer inside the first write until the
// others are queued, so all of them land in one batch.
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open, entered;
    dcf_store_t *st;
} gate_t;

static int gated(dcf_store_tx_t *tx, void *p) {
    gate_t *g = p;
    pthread_mutex_lock(&g->mu);
    g->entered = true;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    int64_t k = 1000;
    // A write callback may not wait for another write.
    if (dcf_store_write(g->st, put_row, &k) != DCF_ESTATE)
        return DCF_EINTERNAL;
    return put_row(tx, &k);
}

typedef struct {
    dcf_store_t *st;
    kv_arg_t a;
    int rc;
} kv_job_t;

static void *kv_job(void *p) {
    kv_job_t *j = p;
    j->rc = dcf_store_write(j->st, put_kv, &j->a);
    return NULL;
}

static void *gate_job(void *p) {
    gate_t *g = p;
    return (void *)(intptr_t)dcf_store_write(g->st, gated, g);
}

static void test_failing_write_rolls_back_alone(void) {
    char uri[128];
    dcf_store_t *st = NULL;
    db_path(uri, sizeof(uri));
    dcf_store_opts_t o = {.uri = uri};
    CHECK_INT(dcf_store_open(&o, migs, 1, &st), DCF_OK);
    if (!st)
        return;

    gate_t g = {.open = false, .st = st};
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    pthread_t gt, th[3];
    kv_job_t jobs[3] = {
        {.st = st, .a = {.k = 1, .v = "one"}},
        {.st = st, .a = {.k = 2, .v = "two", .fail_with = DCF_ECONFLICT}}, // inserts, then fails
        {.st = st, .a = {.k = 3, .v = "three"}},
    };
    pthread_create(&gt, NULL, gate_job, &g);
    pthread_mutex_lock(&g.mu); // wait until the writer is blocked in gated()
    while (!g.entered)
        pthread_cond_wait(&g.cv, &g.mu);
    pthread_mutex_unlock(&g.mu);
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, kv_job, &jobs[i]);
    // Wait (bounded) until all three are queued behind the gate.
    dcf_store_stats_t before;
    for (int tries = 0; tries < 10000; tries++) {
        dcf_store_stats(st, &before);
        if (before.queued == 3)
            break;
        usleep(1000);
    }
    CHECK_INT(before.queued, 3);
    pthread_mutex_lock(&g.mu);
    g.open = true;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    void *grc;
    pthread_join(gt, &grc);
    CHECK_INT((intptr_t)grc, DCF_OK);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    CHECK_INT(jobs[0].rc, DCF_OK);
    CHECK_INT(jobs[1].rc, DCF_ECONFLICT);
    CHECK_INT(jobs[2].rc, DCF_OK);
    dcf_store_stats_t after;
    dcf_store_stats(st, &after);
    // gate batch + one batch for the three queued behind it
    CHECK_INT(after.batches - before.batches, 2);
    CHECK_INT(after.batch_max_seen, 3);
    CHECK_INT(after.writes_failed, 1);
    CHECK_INT(count(st, "SELECT COUNT(*) FROM kv"), 3);
    CHECK_INT(count(st, "SELECT COUNT(*) FROM kv WHERE k IN (1, 3, 1000)"), 3);
    CHECK_INT(count(st, "SELECT COUNT(*) FROM kv WHERE k = 2"), 0);

    // A constraint violation inside a write is its own error, and rolled back.
    kv_arg_t dup = {.k = 1, .v = "again"};
    CHECK_INT(dcf_store_write(st, put_kv, &dup), DCF_ECONFLICT);
    CHECK_INT(count(st, "SELECT COUNT(*) FROM kv WHERE v = 'again'"), 0);
    dcf_store_close(st);
    pthread_cond_destroy(&g.cv);
    pthread_mutex_destroy(&g.mu);
}

typedef struct {
    dcf_store_val_t want[5];
    int rows;
    int bad;
} vals_check_t;

static bool same(const dcf_store_val_t *a, const dcf_store_val_t *b) {
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case DCF_STORE_NULL:
        return true;
    case DCF_STORE_INT:
        return a->u.i == b->u.i;
    case DCF_STORE_REAL:
        return a->u.d == b->u.d;
    default:
        return a->u.b.len == b->u.b.len &&
               (a->u.b.len == 0 || memcmp(a->u.b.ptr, b->u.b.ptr, a->u.b.len) == 0);
    }
}

static int vals_cb(void *arg, const dcf_store_val_t *cols, size_t ncols) {
    vals_check_t *c = arg;
    c->rows++;
    if (ncols != 5)
        c->bad++;
    for (size_t i = 0; i < 5 && i < ncols; i++)
        if (!same(&cols[i], &c->want[i])) {
            fprintf(stderr, "  column %zu differs (type %d vs %d)\n", i, cols[i].type,
                    c->want[i].type);
            c->bad++;
        }
    return 0;
}

typedef struct {
    dcf_store_val_t v[6];
    vals_check_t *check;
} vals_arg_t;

static int put_vals(dcf_store_tx_t *tx, void *p) {
    vals_arg_t *a = p;
    int err = dcf_store_tx_exec(
        tx, "INSERT INTO vals (id, i, d, t, b, n) VALUES ($1,$2,$3,$4,$5,$6)", a->v, 6, NULL);
    if (err != DCF_OK)
        return err;
    // Reads inside the write see its own uncommitted row.
    return dcf_store_tx_query(tx, "SELECT i, d, t, b, n FROM vals WHERE id = $1", a->v, 1, vals_cb,
                              a->check);
}

static int stop_cb(void *arg, const dcf_store_val_t *cols, size_t ncols) {
    (void)cols;
    (void)ncols;
    (*(int *)arg)++;
    return DCF_ERANGE;
}

static int bad_sql_write(dcf_store_tx_t *tx, void *p) {
    int *results = p;
    dcf_store_val_t one = dcf_store_val_int(1);
    results[0] = dcf_store_tx_exec(tx, "INSERT INTO nope VALUES ($1)", &one, 1, NULL);
    results[1] = dcf_store_tx_exec(tx, "INSRT INTO kv VALUES (1)", NULL, 0, NULL);
    results[2] = dcf_store_tx_exec(tx, "INSERT INTO kv (k, v) VALUES ($1, 'x')", NULL, 0, NULL);
    results[3] = dcf_store_tx_exec(tx, "SELECT 1; SELECT 2", NULL, 0, NULL);
    results[4] = dcf_store_tx_exec(tx, "", NULL, 0, NULL);
    results[5] = dcf_store_tx_exec(tx, "SELECT $1", &one, DCF_STORE_PARAMS_MAX + 1, NULL);
    return DCF_OK;
}

static dcf_store_tx_t *leaked_tx;
static int leak_tx(dcf_store_tx_t *tx, void *p) {
    (void)p;
    leaked_tx = tx;
    return DCF_OK;
}

static void test_values_and_errors(void) {
    char uri[128];
    dcf_store_t *st = NULL;
    db_path(uri, sizeof(uri));
    dcf_store_opts_t o = {.uri = uri, .batch_wait_us = 100, .readers = 1};
    CHECK_INT(dcf_store_open(&o, migs, 2, &st), DCF_OK);
    if (!st)
        return;

    static const char text[] = "h\xc3\xa9llo \0 world"; // embedded NUL
    static const unsigned char blob[] = {0, 1, 2, 255, 0, 128};
    vals_check_t chk = {.want = {dcf_store_val_int(INT64_MIN), dcf_store_val_real(-1.5e-300),
                                 dcf_store_val_text(text, sizeof(text) - 1),
                                 dcf_store_val_blob(blob, sizeof(blob)), dcf_store_val_null()}};
    vals_arg_t a = {.v = {dcf_store_val_int(1), chk.want[0], chk.want[1], chk.want[2], chk.want[3],
                          chk.want[4]},
                    .check = &chk};
    CHECK_INT(dcf_store_write(st, put_vals, &a), DCF_OK);
    CHECK_INT(chk.rows, 1);
    CHECK_INT(chk.bad, 0);
    chk.rows = 0;
    CHECK_INT(
        dcf_store_read(st, "SELECT i, d, t, b, n FROM vals WHERE id = $1", a.v, 1, vals_cb, &chk),
        DCF_OK);
    CHECK_INT(chk.rows, 1);
    CHECK_INT(chk.bad, 0);

    // Empty text and empty blob stay text and blob.
    vals_check_t chk2 = {.want = {dcf_store_val_int(INT64_MAX), dcf_store_val_real(0.0),
                                  dcf_store_val_text("", 0), dcf_store_val_blob(NULL, 0),
                                  dcf_store_val_null()}};
    vals_arg_t a2 = {.v = {dcf_store_val_int(2), chk2.want[0], chk2.want[1], chk2.want[2],
                           chk2.want[3], chk2.want[4]},
                     .check = &chk2};
    CHECK_INT(dcf_store_write(st, put_vals, &a2), DCF_OK);
    CHECK_INT(chk2.rows, 1);
    CHECK_INT(chk2.bad, 0);

    // A row callback's non-zero return stops the query and is returned.
    int calls = 0;
    CHECK_INT(dcf_store_read(st, "SELECT id FROM vals", NULL, 0, stop_cb, &calls), DCF_ERANGE);
    CHECK_INT(calls, 1);

    // Bad SQL returns an error code, not a crash, and the store carries on.
    int r[6];
    CHECK_INT(dcf_store_write(st, bad_sql_write, r), DCF_OK);
    CHECK_INT(r[0], DCF_EINVAL);
    CHECK_INT(r[1], DCF_EINVAL);
    CHECK_INT(r[2], DCF_EINVAL);
    CHECK_INT(r[3], DCF_EINVAL);
    CHECK_INT(r[4], DCF_EINVAL);
    CHECK_INT(r[5], DCF_ELIMIT);
    int64_t v = 0;
    CHECK_INT(dcf_store_read(st, "SELEC 1", NULL, 0, count_cb, &v), DCF_EINVAL);
    CHECK_INT(dcf_store_read(st, "SELECT COUNT(*) FROM missing", NULL, 0, count_cb, &v),
              DCF_EINVAL);
    // The read pool refuses writes.
    CHECK_INT(dcf_store_read(st, "DELETE FROM vals", NULL, 0, count_cb, &v), DCF_EPERM);
    CHECK_INT(count(st, "SELECT COUNT(*) FROM vals"), 2);
    // A tx is dead once its callback returned.
    CHECK_INT(dcf_store_write(st, leak_tx, NULL), DCF_OK);
    CHECK_INT(dcf_store_tx_exec(leaked_tx, "DELETE FROM vals", NULL, 0, NULL), DCF_ESTATE);
    CHECK_INT(dcf_store_write(st, NULL, NULL), DCF_EINVAL);
    dcf_store_close(st);
}

// Reads see each write as soon as it is acknowledged, from other threads.
static void test_read_after_write(void) {
    char uri[128];
    dcf_store_t *st = NULL;
    db_path(uri, sizeof(uri));
    dcf_store_opts_t o = {.uri = uri, .readers = 3};
    CHECK_INT(dcf_store_open(&o, migs, 1, &st), DCF_OK);
    if (!st)
        return;
    int misses = 0;
    for (int64_t k = 0; k < 200; k++) {
        CHECK_INT(dcf_store_write(st, put_row, &k), DCF_OK);
        int64_t n = -1;
        dcf_store_val_t p = dcf_store_val_int(k);
        dcf_store_read(st, "SELECT COUNT(*) FROM kv WHERE k = $1", &p, 1, count_cb, &n);
        misses += n != 1;
    }
    CHECK_INT(misses, 0);
    dcf_store_close(st);
}

/* ------------------------------------------------------------ async -- */

#define ASYNC_N 2000

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;             // completions seen
    int order[ASYNC_N];   // k of each completion, in completion order
    int rc[ASYNC_N];      // rc per k
    bool on_writer_again; // a nested async call from inside fn was refused
} async_state_t;

typedef struct {
    kv_arg_t kv;
    async_state_t *as;
    dcf_store_t *st;
} async_arg_t;

static void async_done(void *p, int rc) {
    async_arg_t *a = p;
    async_state_t *as = a->as;
    pthread_mutex_lock(&as->mu);
    as->rc[a->kv.k] = rc;
    as->order[as->done++] = (int)a->kv.k;
    pthread_cond_signal(&as->cv);
    pthread_mutex_unlock(&as->mu);
}

static int nested_async(dcf_store_tx_t *tx, void *p) {
    async_arg_t *a = p;
    (void)tx;
    // Inside a write fn, on the writer: queueing could wait for itself.
    a->as->on_writer_again =
        dcf_store_write_async(a->st, put_kv, &a->kv, async_done, a) == DCF_ESTATE;
    return put_kv(tx, &a->kv);
}

static void test_async_writes(void) {
    char uri[128];
    dcf_store_t *st = NULL;
    static async_arg_t args[ASYNC_N];
    static char vals[ASYNC_N][16];
    static async_state_t as;
    dcf_store_stats_t stats;
    db_path(uri, sizeof(uri));
    dcf_store_opts_t o = {.uri = uri, .batch_max = 512};

    memset(&as, 0, sizeof as);
    pthread_mutex_init(&as.mu, NULL);
    pthread_cond_init(&as.cv, NULL);
    CHECK_INT(dcf_store_open(&o, migs, 1, &st), DCF_OK);
    CHECK_INT(dcf_store_write_async(st, NULL, NULL, async_done, NULL), DCF_EINVAL);
    CHECK_INT(dcf_store_write_async(st, put_kv, NULL, NULL, NULL), DCF_EINVAL);

    // One thread queues every write without waiting; every 7th fails in its
    // fn and must be rolled back alone; write 5 also tries a nested async.
    for (int k = 0; k < ASYNC_N; k++) {
        snprintf(vals[k], sizeof vals[k], "v%d", k);
        args[k] =
            (async_arg_t){.kv = {.k = k, .v = vals[k], .fail_with = k % 7 == 3 ? DCF_EPERM : 0},
                          .as = &as,
                          .st = st};
        CHECK_INT(dcf_store_write_async(st, k == 5 ? nested_async : put_kv, &args[k], async_done,
                                        &args[k]),
                  DCF_OK);
    }
    pthread_mutex_lock(&as.mu);
    while (as.done < ASYNC_N)
        pthread_cond_wait(&as.cv, &as.mu);
    pthread_mutex_unlock(&as.mu);

    int in_order = 1, rc_ok = 1, fails = 0;
    for (int i = 0; i < ASYNC_N; i++) {
        in_order &= as.order[i] == i;
        rc_ok &= as.rc[i] == (i % 7 == 3 ? DCF_EPERM : DCF_OK);
        fails += i % 7 == 3;
    }
    CHECK(in_order);
    CHECK(rc_ok);
    CHECK(as.on_writer_again);
    // Acknowledged means durable and visible: every successful write's row.
    CHECK_INT(count(st, "SELECT COUNT(*) FROM kv"), ASYNC_N - fails);
    CHECK_INT(count(st, "SELECT COUNT(*) FROM kv WHERE k % 7 = 3"), 0);
    dcf_store_stats(st, &stats);
    CHECK(stats.writes == ASYNC_N);
    // Nobody waited, so batches were bounded by batch_max, not by threads.
    CHECK(stats.batches < ASYNC_N);

    // Close drains: writes queued just before it still run and complete.
    as.done = 0;
    for (int k = 0; k < 100; k++) {
        args[k].kv.k = k;
        args[k].kv.fail_with = 0;
        snprintf(vals[k], sizeof vals[k], "w%d", k);
        CHECK_INT(dcf_store_write_async(st, put_kv, &args[k], async_done, &args[k]), DCF_OK);
    }
    dcf_store_close(st);
    CHECK_INT(as.done, 100);
    int all_conflict = 1; // keys 0..99 exist unless they failed above
    for (int k = 0; k < 100; k++)
        all_conflict &= as.rc[k] == (k % 7 == 3 ? DCF_OK : DCF_ECONFLICT);
    CHECK(all_conflict);
    pthread_cond_destroy(&as.cv);
    pthread_mutex_destroy(&as.mu);
}

int main(void) {
    snprintf(dir, sizeof(dir), "/tmp/dcf_store_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    RUN(test_migrations);
    RUN(test_concurrent_group_commit);
    RUN(test_failing_write_rolls_back_alone);
    RUN(test_values_and_errors);
    RUN(test_read_after_write);
    RUN(test_async_writes);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    TEST_DONE();
}
