/*
 * test_index_threads.c -- lock-free readers against a busy writer.
 *
 * A fixed STABLE set of entries is loaded first (part bulk-loaded, part
 * inserted one by one so some sit in small runs and the write buffer).  Then
 * three reader threads query continuously while one writer inserts, removes,
 * updates, bulk-loads and compacts CHURN entries that overlap the stable ones
 * in space and time, for about two seconds.  The write buffer is small, so
 * the writer publishes and retires versions thousands of times per second.
 *
 * Readers check that every stable entry is always found: by a query with its
 * own box (the entry must be among the results), and by wide queries that
 * must return every stable entry in their window.  A separate DOOMED set in
 * a region of its own is removed one entry at a time while readers run; the
 * writer announces each removal before the call (one atomic counter) and
 * logs it after the call returns (another), both with release, and a reader
 * querying that region checks both halves of the contract: no entry whose
 * removal was logged before its query began is reported, and every entry
 * whose removal was not even announced when its query ended is.  Readers also drop and recreate
 * their handles now and then, so hazard slots are reused.  Under AddressSanitizer any use of a
 * freed version, run, write buffer or bitmap aborts the test.  At the end the index passes its
 * self-check.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "deconflict/index.h"
#include "test.h"

#define T0          29000000
#define NSTABLE     6000
#define NREADERS    3
#define RUN_SECONDS 2.0

static dcf_box_t stable_box[NSTABLE];
static uint32_t stable_key[NSTABLE];
static uint32_t stable_party[NSTABLE];
static uint8_t *is_stable; /* by key */
static size_t is_stable_n;

/* The doomed set: boxes in a region nothing else uses, removed in order. */
#define NDOOMED 3000
static const dcf_box_t DOOMED_REGION = {100, 101, -10, -9, 0, 1000, T0, T0 + 10 * 24 * 60};
static uint32_t doomed_key[NDOOMED];
static _Atomic uint32_t *doomed_seq; /* by key: position in the removal log, or UINT32_MAX */
static uint8_t *is_doomed;           /* by key */
static size_t key_cap;
static atomic_uint doomed_announced; /* removals about to start */
static atomic_uint doomed_removed;   /* removals finished */

static dcf_index_t *idx;
static atomic_bool stop;
static atomic_long misses, reader_queries, writer_ops, doomed_checks, removed_reported;

static uint64_t next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static dcf_box_t random_box(uint64_t *s) {
    int hub = (int)(next(s) % 8);
    float lng = 8.0f + (float)hub + (float)(next(s) % 1000) * 0.0004f;
    float lat = 47.0f + (float)(hub % 3) + (float)(next(s) % 1000) * 0.0003f;
    float w = 0.002f + (float)(next(s) % 100) * 0.0005f;
    int32_t t = T0 + (int32_t)(next(s) % (3 * 24 * 60));
    int32_t d = 5 + (int32_t)(next(s) % 235);
    return (dcf_box_t){lng, lng + w, lat, lat + w, 0.0f, 120.0f + (float)(next(s) % 3000),
                       t,   t + d};
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------- readers -- */

typedef struct {
    uint32_t want;
    bool found;
    size_t stable_seen;
} find_t;

static int on_key(void *arg, uint32_t key) {
    find_t *f = arg;
    if (key == f->want)
        f->found = true;
    if (key < is_stable_n && is_stable[key])
        f->stable_seen++;
    return 0;
}

typedef struct {
    uint32_t before;   /* removals logged when the query began */
    size_t seen;       /* doomed keys reported */
    size_t bad;        /* reported though removed before the query began */
    uint8_t *reported; /* by key */
} doomed_q_t;

static int on_doomed(void *arg, uint32_t key) {
    doomed_q_t *d = arg;
    if (key >= key_cap || !is_doomed[key]) {
        d->bad++; /* nothing else lies in that region */
        return 0;
    }
    d->seen++;
    d->reported[key] = 1;
    if (atomic_load_explicit(&doomed_seq[key], memory_order_relaxed) < d->before)
        d->bad++;
    return 0;
}

/* Query the doomed region and check the reported set against the log. */
static void check_doomed(dcf_index_reader_t *rd, uint8_t *reported) {
    doomed_q_t d = {.reported = reported};
    memset(reported, 0, key_cap);
    d.before = atomic_load_explicit(&doomed_removed, memory_order_acquire);
    int rc = dcf_index_query(rd, &DOOMED_REGION, UINT32_MAX, on_doomed, &d, NULL);
    uint32_t after = atomic_load_explicit(&doomed_announced, memory_order_acquire);
    /* Every doomed entry whose removal was not announced by the query's end
     * must have been reported (its removal, if any, began after). */
    size_t missing = 0;
    for (size_t i = 0; i < NDOOMED; i++) {
        uint32_t k = doomed_key[i];
        if (atomic_load_explicit(&doomed_seq[k], memory_order_relaxed) >= after && !reported[k])
            missing++;
    }
    if (rc != DCF_OK || d.bad != 0 || missing != 0)
        atomic_fetch_add(&misses, 1);
    atomic_fetch_add(&removed_reported, (long)d.bad);
    atomic_fetch_add(&doomed_checks, 1);
}

static void *reader_main(void *arg) {
    uint64_t s = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15u + 1;
    dcf_index_reader_t *rd = NULL;
    long n = 0;
    uint8_t *reported = malloc(key_cap);
    if (reported == NULL || dcf_index_reader_new(idx, &rd) != DCF_OK) {
        atomic_fetch_add(&misses, 1000000);
        free(reported);
        return NULL;
    }
    while (!atomic_load(&stop)) {
        if (n % 2000 == 1999) { /* give the slot back and take one again */
            dcf_index_reader_free(rd);
            if (dcf_index_reader_new(idx, &rd) != DCF_OK) {
                atomic_fetch_add(&misses, 1000000);
                return NULL;
            }
        }
        size_t i = next(&s) % NSTABLE;
        if (n % 16 == 7) {
            check_doomed(rd, reported);
        } else if (n % 64 == 63) {
            /* Wide: a whole hour everywhere; every stable entry in it. */
            int32_t t = T0 + (int32_t)(next(&s) % (3 * 24 * 60));
            dcf_box_t q = {-180, 180, -90, 90, -1000, 100000, t, t + 60};
            size_t want = 0;
            for (size_t j = 0; j < NSTABLE; j++)
                want += stable_box[j].t_lo <= q.t_hi && stable_box[j].t_hi >= q.t_lo;
            find_t f = {.want = UINT32_MAX};
            if (dcf_index_query(rd, &q, UINT32_MAX, on_key, &f, NULL) != DCF_OK ||
                f.stable_seen != want)
                atomic_fetch_add(&misses, 1);
        } else {
            /* Its own box, excluding some other party. */
            find_t f = {.want = stable_key[i]};
            uint32_t excl = (stable_party[i] + 1) % 4;
            if (dcf_index_query(rd, &stable_box[i], excl, on_key, &f, NULL) != DCF_OK || !f.found)
                atomic_fetch_add(&misses, 1);
        }
        n++;
    }
    dcf_index_reader_free(rd);
    free(reported);
    atomic_fetch_add(&reader_queries, n);
    return NULL;
}

/* -------------------------------------------------------------- writer -- */

#define W_OPS_MIN 10000 /* writer operations the test must see done */

static void writer_run(void) {
    uint64_t s = 424242;
    enum { CHURN_MAX = 20000, BULK = 500 };
    uint32_t *churn = malloc(CHURN_MAX * sizeof *churn);
    dcf_box_t *bb = malloc(BULK * sizeof *bb);
    uint32_t bp[BULK], bk[BULK];
    size_t n = 0, doomed_next = 0;
    long ops = 0;
    double start = now(), end = start + RUN_SECONDS;
    /* Run for RUN_SECONDS and at least W_OPS_MIN operations, so that a slow
     * machine (sanitizers, a loaded CI box) still does the full amount of
     * concurrent work instead of failing the count below. */
    while (now() < end || (ops < W_OPS_MIN && now() < start + 20 * RUN_SECONDS)) {
        /* Doomed entries go at an even pace over the run. */
        size_t due = (size_t)((now() - start) / RUN_SECONDS * NDOOMED);
        while (doomed_next < due && doomed_next < NDOOMED) {
            uint32_t k = doomed_key[doomed_next];
            atomic_store_explicit(&doomed_seq[k], (uint32_t)doomed_next, memory_order_relaxed);
            atomic_store_explicit(&doomed_announced, (uint32_t)doomed_next + 1,
                                  memory_order_release);
            CHECK_INT(dcf_index_remove(idx, k), DCF_OK);
            atomic_store_explicit(&doomed_removed, (uint32_t)++doomed_next, memory_order_release);
        }
        for (int burst = 0; burst < 200; burst++, ops++) {
            uint32_t r = (uint32_t)(next(&s) % 1000);
            if (r < 450 && n < CHURN_MAX) {
                dcf_box_t b = random_box(&s);
                CHECK_INT(dcf_index_insert(idx, &b, 4 + (uint32_t)(next(&s) % 3), &churn[n]),
                          DCF_OK);
                n++;
            } else if (r < 800 && n > 0) {
                size_t i = next(&s) % n;
                CHECK_INT(dcf_index_remove(idx, churn[i]), DCF_OK);
                churn[i] = churn[--n];
            } else if (r < 997 && n > 0) {
                size_t i = next(&s) % n;
                dcf_box_t b = random_box(&s);
                CHECK_INT(dcf_index_update(idx, churn[i], &b, &churn[i]), DCF_OK);
            } else if (r < 999) {
                size_t m = BULK;
                if (n + m > CHURN_MAX)
                    continue;
                for (size_t i = 0; i < m; i++) {
                    bb[i] = random_box(&s);
                    bp[i] = 5;
                }
                CHECK_INT(dcf_index_bulk_load(idx, bb, bp, m, bk), DCF_OK);
                for (size_t i = 0; i < m; i++)
                    churn[n++] = bk[i];
            } else {
                CHECK_INT(dcf_index_compact(idx), DCF_OK);
            }
        }
    }
    atomic_store(&writer_ops, ops);
    free(churn);
    free(bb);
}

static void test_readers_with_busy_writer(void) {
    dcf_index_opts_t o;
    dcf_index_opts_default(&o);
    o.delta_max = 32; /* publish versions very often */
    CHECK_INT(dcf_index_new(&o, &idx), DCF_OK);

    uint64_t s = 7;
    for (size_t i = 0; i < NSTABLE; i++) {
        stable_box[i] = random_box(&s);
        stable_party[i] = (uint32_t)(i % 4);
    }
    /* Two thirds packed at once, the rest one by one. */
    size_t bulk = NSTABLE * 2 / 3;
    CHECK_INT(dcf_index_bulk_load(idx, stable_box, stable_party, bulk, stable_key), DCF_OK);
    for (size_t i = bulk; i < NSTABLE; i++)
        CHECK_INT(dcf_index_insert(idx, &stable_box[i], stable_party[i], &stable_key[i]), DCF_OK);
    /* The doomed set, half bulk-loaded, half inserted. */
    dcf_box_t *db = malloc(NDOOMED * sizeof *db);
    uint32_t *dp = malloc(NDOOMED * sizeof *dp);
    for (size_t i = 0; i < NDOOMED; i++) {
        float x = 100.0f + (float)(next(&s) % 900) * 0.001f;
        float y = -10.0f + (float)(next(&s) % 900) * 0.001f;
        int32_t t = T0 + (int32_t)(next(&s) % (9 * 24 * 60));
        db[i] = (dcf_box_t){x, x + 0.05f, y, y + 0.05f, 0, 500, t, t + 60};
        dp[i] = (uint32_t)(i % 4);
    }
    CHECK_INT(dcf_index_bulk_load(idx, db, dp, NDOOMED / 2, doomed_key), DCF_OK);
    for (size_t i = NDOOMED / 2; i < NDOOMED; i++)
        CHECK_INT(dcf_index_insert(idx, &db[i], dp[i], &doomed_key[i]), DCF_OK);
    free(db);
    free(dp);
    /* Keys stay below this (churn is bounded; the free stack is reused). */
    key_cap = NSTABLE + NDOOMED + 4 * 20000 + 4096;
    doomed_seq = malloc(key_cap * sizeof *doomed_seq);
    is_doomed = calloc(key_cap, 1);
    for (size_t k = 0; k < key_cap; k++)
        atomic_init(&doomed_seq[k], UINT32_MAX);
    for (size_t i = 0; i < NDOOMED; i++)
        is_doomed[doomed_key[i]] = 1;

    is_stable_n = NSTABLE;
    is_stable = calloc(is_stable_n, 1);
    for (size_t i = 0; i < NSTABLE; i++) {
        CHECK(stable_key[i] < NSTABLE);
        if (stable_key[i] < NSTABLE)
            is_stable[stable_key[i]] = 1;
    }

    pthread_t th[NREADERS];
    for (uintptr_t i = 0; i < NREADERS; i++)
        CHECK_INT(pthread_create(&th[i], NULL, reader_main, (void *)(i + 1)), 0);
    writer_run();
    atomic_store(&stop, true);
    for (int i = 0; i < NREADERS; i++)
        pthread_join(th[i], NULL);

    long w_ops = atomic_load(&writer_ops), r_q = atomic_load(&reader_queries);
    long d_q = atomic_load(&doomed_checks), miss = atomic_load(&misses);
    long bad = atomic_load(&removed_reported);
    unsigned removed = atomic_load(&doomed_removed);
    fprintf(stderr,
            "  writer %ld ops, readers %ld queries (%ld of the doomed region), %ld misses, "
            "%ld removed entries reported, %u doomed removed\n",
            w_ops, r_q, d_q, miss, bad, removed);
    CHECK_INT(miss, 0);
    CHECK_INT(bad, 0);
    CHECK(d_q > 100);
    CHECK(removed > NDOOMED / 2);
    CHECK(w_ops >= W_OPS_MIN);
    CHECK(r_q > 1000);

    const char *why = NULL;
    int rc = dcf_index_check(idx, &why);
    CHECK_MSG(rc == DCF_OK, "%s", why ? why : "(null)");
    /* Every stable key still live. */
    for (size_t i = 0; i < NSTABLE; i += 97) {
        uint32_t nk;
        CHECK_INT(dcf_index_update(idx, stable_key[i], &stable_box[i], &nk), DCF_OK);
    }
    dcf_index_free(idx);
    free(is_stable);
    free(is_doomed);
    free((void *)doomed_seq);
}

int main(void) {
    RUN(test_readers_with_busy_writer);
    TEST_DONE();
}
