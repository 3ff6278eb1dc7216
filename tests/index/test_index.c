/*
 * test_index.c -- unit cases for the spatio-temporal index (index.h).
 *
 * Each case builds a small index by hand and checks exact answers: the empty
 * index, insert / query / remove / update, party exclusion, boxes that only
 * touch (closed intervals), full-longitude boxes, when keys are recycled
 * (after a compaction, and never while a reader still holds the old entry),
 * the structural self-check (on good indexes, and that it catches a broken
 * one), the work counters (a query for a later week touches no entry of
 * this month), callbacks that stop a query, argument checks, every
 * allocation failure leaving the index unchanged, and dcf_index_box_make's
 * outward rounding.
 */
#include <stdbool.h>
#include <stdint.h>

#include "deconflict/geo.h"
#include "deconflict/index.h"
#include "index/index_int.h"
#include "test.h"

#define MIN_PER_DAY (24 * 60)
#define T0          29000000 /* minutes: 2025-02-20, a Thursday */

/* ------------------------------------------------------------ helpers -- */

typedef struct {
    uint32_t *keys;
    size_t n, cap;
} keyset_t;

static int collect(void *arg, uint32_t key) {
    keyset_t *s = arg;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->keys = realloc(s->keys, s->cap * sizeof *s->keys);
    }
    s->keys[s->n++] = key;
    return 0;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Query and return the sorted keys (caller frees .keys). */
static keyset_t query(dcf_index_reader_t *rd, const dcf_box_t *q, uint32_t exclude) {
    keyset_t s = {0};
    int rc = dcf_index_query(rd, q, exclude, collect, &s, NULL);
    CHECK_INT(rc, DCF_OK);
    if (s.n > 1)
        qsort(s.keys, s.n, sizeof *s.keys, cmp_u32);
    return s;
}

static bool has(const keyset_t *s, uint32_t key) {
    for (size_t i = 0; i < s->n; i++)
        if (s->keys[i] == key)
            return true;
    return false;
}

static dcf_box_t box(float lng, float lat, float w, int32_t t, int32_t dur) {
    return (dcf_box_t){lng, lng + w, lat, lat + w, 0.0f, 120.0f, t, t + dur};
}

/* Everything, any party. */
static const dcf_box_t EVERYWHERE = {-180, 180, -90, 90, -1e9f, 1e9f, INT32_MIN, INT32_MAX};

static void check_ok(const dcf_index_t *idx) {
    const char *why = NULL;
    int rc = dcf_index_check(idx, &why);
    CHECK_MSG(rc == DCF_OK, "check: %s", why ? why : "(null)");
}

/* -------------------------------------------------------------- cases -- */

static void test_empty(void) {
    dcf_index_t *idx = NULL;
    dcf_index_reader_t *rd = NULL;
    CHECK_INT(dcf_index_new(NULL, &idx), DCF_OK);
    CHECK_INT(dcf_index_reader_new(idx, &rd), DCF_OK);
    dcf_index_qstats_t st = {0};
    keyset_t s = {0};
    CHECK_INT(dcf_index_query(rd, &EVERYWHERE, UINT32_MAX, collect, &s, &st), DCF_OK);
    CHECK_INT(s.n, 0);
    CHECK_INT(st.nodes_visited + st.entries_tested + st.candidates, 0);
    dcf_index_stats_t stats;
    dcf_index_stats(idx, &stats);
    CHECK_INT(stats.live, 0);
    CHECK_INT(stats.dead, 0);
    CHECK_INT(stats.levels, 1);
    CHECK(stats.bytes > 0);
    check_ok(idx);
    uint32_t k = 7;
    dcf_box_t b = box(1, 1, 1, T0, 60);
    CHECK_INT(dcf_index_remove(idx, 0), DCF_ENOENT);
    CHECK_INT(dcf_index_update(idx, 0, &b, &k), DCF_ENOENT);
    CHECK_INT(k, 7);
    CHECK_INT(dcf_index_compact(idx), DCF_OK);
    CHECK_INT(dcf_index_bulk_load(idx, NULL, NULL, 0, NULL), DCF_OK);
    check_ok(idx);
    free(s.keys);
    dcf_index_reader_free(rd);
    dcf_index_free(idx);
}

static void test_options(void) {
    dcf_index_opts_t o;
    dcf_index_t *idx = (dcf_index_t *)&o; /* must stay untouched on error */
    dcf_index_opts_default(&o);
    CHECK_INT(o.fanout, 16);
    CHECK_INT(o.delta_max, 1024);
    o.fanout = 3;
    CHECK_INT(dcf_index_new(&o, &idx), DCF_EINVAL);
    o.fanout = 65;
    CHECK_INT(dcf_index_new(&o, &idx), DCF_EINVAL);
    o.fanout = 16;
    o.delta_max = 15;
    CHECK_INT(dcf_index_new(&o, &idx), DCF_EINVAL);
    o.delta_max = (1u << 20) + 1;
    CHECK_INT(dcf_index_new(&o, &idx), DCF_EINVAL);
    CHECK(idx == (dcf_index_t *)&o);
    unsigned fanouts[] = {4, 5, 13, 64};
    for (size_t i = 0; i < sizeof fanouts / sizeof *fanouts; i++) {
        o.fanout = fanouts[i];
        o.delta_max = 16;
        CHECK_INT(dcf_index_new(&o, &idx), DCF_OK);
        dcf_index_reader_t *rd = NULL;
        CHECK_INT(dcf_index_reader_new(idx, &rd), DCF_OK);
        for (int j = 0; j < 500; j++) {
            dcf_box_t b = box((float)(j % 50), (float)(j / 50), 0.5f, T0 + j, 10);
            uint32_t k;
            CHECK_INT(dcf_index_insert(idx, &b, 1, &k), DCF_OK);
            CHECK_INT(k, j);
        }
        check_ok(idx);
        for (int j = 0; j < 500; j += 37) {
            dcf_box_t q = box((float)(j % 50) + 0.2f, (float)(j / 50) + 0.2f, 0.1f, T0 + j, 0);
            keyset_t s = query(rd, &q, UINT32_MAX);
            CHECK_INT(s.n, 1);
            CHECK(has(&s, (uint32_t)j));
            free(s.keys);
        }
        dcf_index_reader_free(rd);
        dcf_index_free(idx);
    }
}

static void test_insert_query_remove_update(void) {
    dcf_index_t *idx = NULL;
    dcf_index_reader_t *rd = NULL;
    CHECK_INT(dcf_index_new(NULL, &idx), DCF_OK);
    CHECK_INT(dcf_index_reader_new(idx, &rd), DCF_OK);
    dcf_box_t a = box(10, 50, 1, T0, 60), b = box(10.5f, 50.5f, 1, T0 + 30, 60),
              c = box(20, 40, 1, T0, 60);
    uint32_t ka, kb, kc;
    CHECK_INT(dcf_index_insert(idx, &a, 1, &ka), DCF_OK);
    CHECK_INT(dcf_index_insert(idx, &b, 2, &kb), DCF_OK);
    CHECK_INT(dcf_index_insert(idx, &c, 3, &kc), DCF_OK);
    CHECK(ka != kb && kb != kc && ka != kc);
    CHECK(ka < 3 && kb < 3 && kc < 3); /* dense */

    keyset_t s = query(rd, &a, UINT32_MAX);
    CHECK_INT(s.n, 2);
    CHECK(has(&s, ka) && has(&s, kb));
    free(s.keys);
    /* A query between a and c in space meets neither. */
    dcf_box_t gap = box(15, 45, 1, T0, 60);
    s = query(rd, &gap, UINT32_MAX);
    CHECK_INT(s.n, 0);
    free(s.keys);

    CHECK_INT(dcf_index_remove(idx, ka), DCF_OK);
    CHECK_INT(dcf_index_remove(idx, ka), DCF_ENOENT);
    s = query(rd, &a, UINT32_MAX);
    CHECK_INT(s.n, 1);
    CHECK(has(&s, kb));
    free(s.keys);
    dcf_index_stats_t st;
    dcf_index_stats(idx, &st);
    CHECK_INT(st.live, 2);
    CHECK_INT(st.dead, 1);
    check_ok(idx);

    /* Move c onto a's old place: new key, same party, old box gone. */
    uint32_t kc2 = UINT32_MAX;
    CHECK_INT(dcf_index_update(idx, kc, &a, &kc2), DCF_OK);
    CHECK(kc2 != kc && kc2 != ka);
    CHECK_INT(dcf_index_remove(idx, kc), DCF_ENOENT);
    s = query(rd, &c, UINT32_MAX);
    CHECK_INT(s.n, 0);
    free(s.keys);
    s = query(rd, &a, 2); /* excluding b's party leaves the moved c */
    CHECK_INT(s.n, 1);
    CHECK(has(&s, kc2));
    free(s.keys);
    s = query(rd, &a, 3); /* the update kept party 3 */
    CHECK_INT(s.n, 1);
    CHECK(has(&s, kb));
    free(s.keys);
    dcf_index_stats(idx, &st);
    CHECK_INT(st.live, 2);
    CHECK_INT(st.dead, 2);
    check_ok(idx);

    /* The same answers after everything is packed. */
    CHECK_INT(dcf_index_compact(idx), DCF_OK);
    dcf_index_stats(idx, &st);
    CHECK_INT(st.live, 2);
    CHECK_INT(st.dead, 0);
    CHECK_INT(st.levels, 2);
    s = query(rd, &a, UINT32_MAX);
    CHECK_INT(s.n, 2);
    CHECK(has(&s, kb) && has(&s, kc2));
    free(s.keys);
    check_ok(idx);
    dcf_index_reader_free(rd);
    dcf_index_free(idx);
}

static void test_party_exclusion(void) {
    dcf_index_t *idx = NULL;
    dcf_index_reader_t *rd = NULL;
    CHECK_INT(dcf_index_new(NULL, &idx), DCF_OK);
    CHECK_INT(dcf_index_reader_new(idx, &rd), DCF_OK);
    enum { N = 3000 };
    uint32_t party[N], key[N];
    dcf_box_t *boxes = malloc(N * sizeof *boxes);
    for (int i = 0; i < N; i++) {
        boxes[i] = box(5, 5, 1, T0 + i % 7, 30);
        party[i] = (uint32_t)(i % 5);
    }
    /* Half packed, half in the write buffer and small runs. */
    CHECK_INT(dcf_index_bulk_load(idx, boxes, party, N / 2, key), DCF_OK);
    for (int i = N / 2; i < N; i++)
        CHECK_INT(dcf_index_insert(idx, &boxes[i], party[i], &key[i]), DCF_OK);
    for (uint32_t p = 0; p <= 5; p++) {
        keyset_t s = query(rd, &boxes[0], p);
        size_t want = 0;
        bool right = true;
        for (int i = 0; i < N; i++) {
            if (party[i] != p) {
                want++;
                right = right && has(&s, key[i]);
            }
        }
        CHECK_INT(s.n, want);
        CHECK(right);
        free(s.keys);
    }
    keyset_t s = query(rd, &boxes[0], UINT32_MAX);
    CHECK_INT(s.n, N);
    free(s.keys);
    /* The reserved party cannot be stored. */
    uint32_t k;
    CHECK_INT(dcf_index_insert(idx, &boxes[0], UINT32_MAX, &k), DCF_EINVAL);
    check_ok(idx);
    free(boxes);
    dcf_index_reader_free(rd);
    dcf_index_free(idx);
}

/* Closed intervals: touching in any one dimension counts; one step apart
 * does not.  Checked with the entry in the write buffer and packed. */
static void test_touching(void) {
    for (int packed = 0; packed < 2; packed++) {
        dcf_index_t *idx = NULL;
        dcf_index_reader_t *rd = NULL;
        CHECK_INT(dcf_index_new(NULL, &idx), DCF_OK);
        CHECK_INT(dcf_index_reader_new(idx, &rd), DCF_OK);
        dcf_box_t e = {10.0f, 11.0f, 45.0f, 46.0f, 100.0f, 200.0f, T0, T0 + 60};
        uint32_t k;
        CHECK_INT(dcf_index_insert(idx, &e, 1, &k), DCF_OK);
        /* Pad with far-away entries so a packed run has real nodes. */
        for (int i = 0; i < 300; i++) {
            dcf_box_t far =
                box(-100.0f + (float)(i % 20), -40.0f + (float)(i / 20), 0.5f, T0 + 1000 * i, 60);
            uint32_t kk;
            CHECK_INT(dcf_index_insert(idx, &far, 2, &kk), DCF_OK);
        }
        if (packed)
            CHECK_INT(dcf_index_compact(idx), DCF_OK);

        struct {
            const char *what;
            dcf_box_t q;
            bool hit;
        } cases[] = {
            {"t touches end", {10, 11, 45, 46, 100, 200, T0 + 60, T0 + 90}, true},
            {"t one after end", {10, 11, 45, 46, 100, 200, T0 + 61, T0 + 90}, false},
            {"t touches start", {10, 11, 45, 46, 100, 200, T0 - 30, T0}, true},
            {"t one before start", {10, 11, 45, 46, 100, 200, T0 - 30, T0 - 1}, false},
            {"lng touches hi", {11.0f, 12, 45, 46, 100, 200, T0, T0 + 60}, true},
            {"lng just past hi", {nextafterf(11.0f, 99), 12, 45, 46, 100, 200, T0, T0 + 60}, false},
            {"lng touches lo", {9, 10.0f, 45, 46, 100, 200, T0, T0 + 60}, true},
            {"lng just before lo", {9, nextafterf(10.0f, 0), 45, 46, 100, 200, T0, T0 + 60}, false},
            {"lat touches hi", {10, 11, 46.0f, 47, 100, 200, T0, T0 + 60}, true},
            {"lat just past hi", {10, 11, nextafterf(46.0f, 99), 47, 100, 200, T0, T0 + 60}, false},
            {"lat touches lo", {10, 11, 44, 45.0f, 100, 200, T0, T0 + 60}, true},
            {"lat just before lo",
             {10, 11, 44, nextafterf(45.0f, 0), 100, 200, T0, T0 + 60},
             false},
            {"alt touches hi", {10, 11, 45, 46, 200.0f, 300, T0, T0 + 60}, true},
            {"alt just above", {10, 11, 45, 46, nextafterf(200.0f, 999), 300, T0, T0 + 60}, false},
            {"alt touches lo", {10, 11, 45, 46, 0, 100.0f, T0, T0 + 60}, true},
            {"alt just below", {10, 11, 45, 46, 0, nextafterf(100.0f, 0), T0, T0 + 60}, false},
            {"a corner", {11.0f, 12, 46.0f, 47, 200.0f, 300, T0 + 60, T0 + 61}, true},
            {"a point inside", {10.5f, 10.5f, 45.5f, 45.5f, 150, 150, T0 + 1, T0 + 1}, true},
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
            keyset_t s = query(rd, &cases[i].q, 2);
            CHECK_MSG(s.n == (cases[i].hit ? 1u : 0u), "%s (packed %d): %zu results", cases[i].what,
                      packed, s.n);
            free(s.keys);
        }
        /* An inverted query box is empty and meets nothing. */
        dcf_box_t inv = {11, 10, 45, 46, 100, 200, T0, T0 + 60};
        keyset_t s = query(rd, &inv, UINT32_MAX);
        CHECK_INT(s.n, 0);
        free(s.keys);
        dcf_index_reader_free(rd);
        dcf_index_free(idx);
    }
}

/* A box across the antimeridian is stored with the whole longitude range:
 * any longitude finds it, and it finds everything else of its latitude. */
static void test_full_longitude(void) {
    dcf_index_t *idx = NULL;
    dcf_index_reader_t *rd = NULL;
    CHECK_INT(dcf_index_new(NULL, &idx), DCF_OK);
    CHECK_INT(dcf_index_reader_new(idx, &rd), DCF_OK);
    enum { N = 2000 };
    dcf_box_t *b = malloc(N * sizeof *b);
    uint32_t *p = malloc(N * sizeof *p), *k = malloc(N * sizeof *k);
    for (int i = 0; i < N; i++) {
        b[i] = box(-179.5f + (float)(i % 359), -60.0f + (float)(i / 359) * 20.0f, 0.5f, T0, 60);
        p[i] = 1;
    }
    b[0] = (dcf_box_t){-180.0f, 180.0f, 0.0f, 1.0f, 0, 120, T0, T0 + 60};
    p[0] = 2;
    CHECK_INT(dcf_index_bulk_load(idx, b, p, N, k), DCF_OK);
    for (float lng = -180.0f; lng <= 180.0f; lng += 7.5f) {
        dcf_box_t q = {lng, lng, 0.5f, 0.5f, 50, 50, T0 + 10, T0 + 10};
        keyset_t s = query(rd, &q, 1);
        CHECK_MSG(s.n == 1 && has(&s, k[0]), "lng %g", (double)lng);
        free(s.keys);
    }
    /* From the full-longitude box: every party-1 box in its latitude band. */
    keyset_t s = query(rd, &b[0], 2);
    size_t want = 0;
    for (int i = 1; i < N; i++)
        want += b[i].lat_lo <= 1.0f && b[i].lat_hi >= 0.0f;
    CHECK(want > 300);
    CHECK_INT(s.n, want);
    free(s.keys);
    check_ok(idx);
    free(b);
    free(p);
    free(k);
    dcf_index_reader_free(rd);
    dcf_index_free(idx);
}

typedef struct {
    dcf_index_t *idx;
    uint32_t victim, got;
    int calls;
} inside_t;

/* While the reader holds the current version, remove, compact and insert:
 * the freed key must not come back while the reader could still see it. */
static int write_inside(void *arg, uint32_t key) {
    inside_t *x = arg;
    (void)key;
    if (x->calls++ > 0)
        return 0;
    dcf_box_t b = box(50, 50, 1, T0, 60);
    CHECK_INT(dcf_index_remove(x->idx, x->victim), DCF_OK);
    CHECK_INT(dcf_index_compact(x->idx), DCF_OK);
    CHECK_INT(dcf_index_insert(x->idx, &b, 9, &x->got), DCF_OK);
    return 0;
}

static void test_key_recycling(void) {
    dcf_index_t *idx = NULL;
    dcf_index_reader_t *rd = NULL;
    CHECK_INT(dcf_index_new(NULL, &idx), DCF_OK);
    CHECK_INT(dcf_index_reader_new(idx, &rd), DCF_OK);
    uint32_t k[10];
    for (int i = 0; i < 10; i++) {
        dcf_box_t b = box((float)i, 0, 0.5f, T0, 60);
        CHECK_INT(dcf_index_insert(idx, &b, 1, &k[i]), DCF_OK);
        CHECK_INT(k[i], i);
    }
    /* Removed keys are not handed out again before a compaction. */
    CHECK_INT(dcf_index_remove(idx, k[3]), DCF_OK);
    CHECK_INT(dcf_index_remove(idx, k[7]), DCF_OK);
    uint32_t nk;
    dcf_box_t b = box(30, 0, 0.5f, T0, 60);
    CHECK_INT(dcf_index_insert(idx, &b, 1, &nk), DCF_OK);
    CHECK_INT(nk, 10);
    check_ok(idx);
    /* After it, with no reader inside a query, they are. */
    CHECK_INT(dcf_index_compact(idx), DCF_OK);
    check_ok(idx);
    uint32_t r1, r2, r3;
    CHECK_INT(dcf_index_insert(idx, &b, 1, &r1), DCF_OK);
    CHECK_INT(dcf_index_insert(idx, &b, 1, &r2), DCF_OK);
    CHECK_INT(dcf_index_insert(idx, &b, 1, &r3), DCF_OK);
    CHECK((r1 == 3 && r2 == 7) || (r1 == 7 && r2 == 3));
    CHECK_INT(r3, 11);
    check_ok(idx);

    /* A reader inside a query pins the old version: the key removed and
     * compacted away meanwhile stays unused until the query ends. */
    inside_t x = {.idx = idx, .victim = k[5]};
    dcf_box_t all = EVERYWHERE;
    CHECK_INT(dcf_index_query(rd, &all, UINT32_MAX, write_inside, &x, NULL), DCF_OK);
    CHECK(x.calls >= 1);
    CHECK_INT(x.got, 12);
    check_ok(idx);
    uint32_t after;
    CHECK_INT(dcf_index_insert(idx, &b, 1, &after), DCF_OK);
    CHECK_INT(after, k[5]);
    check_ok(idx);
    dcf_index_reader_free(rd);
    dcf_index_free(idx);
}

typedef struct {
    dcf_index_reader_t *rd;
    int rc;
} reenter_t;

static int reenter(void *arg, uint32_t key) {
    reenter_t *r = arg;
    (void)key;
    r->rc = dcf_index_query(r->rd, &EVERYWHERE, UINT32_MAX, NULL, NULL, NULL);
    return 0;
}

static int stop_at_third(void *arg, uint32_t key) {
    int *n = arg;
    (void)key;
    return ++*n == 3 ? 42 : 0;
}

static void test_callbacks(void) {
    dcf_index_t *idx = NULL;
    dcf_index_reader_t *rd = NULL;
    CHECK_INT(dcf_index_new(NULL, &idx), DCF_OK);
    CHECK_INT(dcf_index_reader_new(idx, &rd), DCF_OK);
    for (int i = 0; i < 5000; i++) {
        dcf_box_t b = box(0, 0, 1, T0 + i, 60);
        uint32_t k;
        CHECK_INT(dcf_index_insert(idx, &b, 1, &k), DCF_OK);
    }
    int n = 0;
    CHECK_INT(dcf_index_query(rd, &EVERYWHERE, UINT32_MAX, stop_at_third, &n, NULL), 42);
    CHECK_INT(n, 3);
    /* The reader is usable again after a stopped query. */
    dcf_index_qstats_t st = {0};
    CHECK_INT(dcf_index_query(rd, &EVERYWHERE, UINT32_MAX, NULL, NULL, &st), DCF_OK);
    CHECK_INT(st.candidates, 5000);
    CHECK_INT(st.entries_tested, 5000);
    reenter_t r = {.rd = rd, .rc = 0};
    dcf_box_t one = box(0, 0, 1, T0, 0);
    CHECK_INT(dcf_index_query(rd, &one, UINT32_MAX, reenter, &r, NULL), DCF_OK);
    CHECK_INT(r.rc, DCF_ESTATE);
    /* Readers are recycled after being freed; a second one works alongside. */
    dcf_index_reader_t *rd2 = NULL;
    CHECK_INT(dcf_index_reader_new(idx, &rd2), DCF_OK);
    keyset_t s = query(rd2, &one, UINT32_MAX);
    CHECK(s.n > 0);
    free(s.keys);
    dcf_index_reader_free(rd2);
    dcf_index_reader_free(rd);
    dcf_index_free(idx);
}

static void test_bad_arguments(void) {
    dcf_index_t *idx = NULL;
    CHECK_INT(dcf_index_new(NULL, &idx), DCF_OK);
    uint32_t k = 99;
    dcf_box_t good = box(0, 0, 1, T0, 60);
    dcf_box_t bad[] = {
        {1, 0, 0, 1, 0, 1, T0, T0},         {0, 1, 1, 0, 0, 1, T0, T0},
        {0, 1, 0, 1, 1, 0, T0, T0},         {0, 1, 0, 1, 0, 1, T0 + 1, T0},
        {NAN, 1, 0, 1, 0, 1, T0, T0},       {0, 1, 0, NAN, 0, 1, T0, T0},
        {-INFINITY, 1, 0, 1, 0, 1, T0, T0}, {0, 1, 0, 1, 0, INFINITY, T0, T0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_INT(dcf_index_insert(idx, &bad[i], 1, &k), DCF_EINVAL);
        uint32_t p = 1, kk = 5;
        CHECK_INT(dcf_index_bulk_load(idx, &bad[i], &p, 1, &kk), DCF_EINVAL);
        CHECK_INT(kk, 5);
    }
    CHECK_INT(k, 99);
    CHECK_INT(dcf_index_insert(idx, &good, 1, &k), DCF_OK);
    uint32_t nk = 77;
    CHECK_INT(dcf_index_update(idx, k, &bad[0], &nk), DCF_EINVAL);
    CHECK_INT(nk, 77);
    CHECK_INT(dcf_index_remove(idx, 12345), DCF_ENOENT);
    CHECK_INT(dcf_index_remove(idx, UINT32_MAX), DCF_ENOENT);
    dcf_index_stats_t st;
    dcf_index_stats(idx, &st);
    CHECK_INT(st.live, 1);
    check_ok(idx);
    dcf_index_free(idx);
}

/* The self-check passes on good indexes (every case above calls it) and
 * notices a damaged node bound, a lost key and a wrong count. */
static void test_check_catches_damage(void) {
    dcf_index_t *idx = NULL;
    CHECK_INT(dcf_index_new(NULL, &idx), DCF_OK);
    enum { N = 5000 };
    dcf_box_t *b = malloc(N * sizeof *b);
    uint32_t *p = malloc(N * sizeof *p), *k = malloc(N * sizeof *k);
    for (int i = 0; i < N; i++) {
        b[i] = box((float)(i % 100) * 0.1f, (float)(i / 100) * 0.1f, 0.05f, T0 + i, 30);
        p[i] = (uint32_t)i % 3;
    }
    CHECK_INT(dcf_index_bulk_load(idx, b, p, N, k), DCF_OK);
    check_ok(idx);
    const char *why = NULL;

    idx_version_t *v = atomic_load(&idx->cur);
    idx_run_t *r = NULL;
    for (int i = 0; i < IDX_MAX_LEVELS; i++)
        if (v->level[i] != NULL)
            r = v->level[i];
    CHECK(r != NULL && r->height >= 2);
    if (r != NULL) {
        /* Slot 0 of the first layer-1 node shrinks on longitude. */
        int16_t *lnghi = IDX_I16((char *)r->nodes, idx->nstride, IDX_F_LNGHI);
        int16_t saved = lnghi[0];
        lnghi[0] = (int16_t)(lnghi[0] - 1000);
        CHECK_INT(dcf_index_check(idx, &why), DCF_EINTERNAL);
        CHECK(why != NULL && strstr(why, "bounds") != NULL);
        lnghi[0] = saved;
        check_ok(idx);
        /* A leaf entry moves outside its node's bounds. */
        float *lat = IDX_F32((char *)r->leaves, idx->stride, IDX_F_LATHI);
        float was = lat[0];
        lat[0] = 89.0f;
        CHECK_INT(dcf_index_check(idx, &why), DCF_EINTERNAL);
        lat[0] = was;
        check_ok(idx);
    }
    idx->nlive--;
    CHECK_INT(dcf_index_check(idx, &why), DCF_EINTERNAL);
    idx->nlive++;
    idx->next_key++; /* a key that is nowhere */
    CHECK_INT(dcf_index_check(idx, &why), DCF_EINTERNAL);
    idx->next_key--;
    check_ok(idx);
    free(b);
    free(p);
    free(k);
    dcf_index_free(idx);
}

/* "A query for next Tuesday must not touch last month's operations": 100,000
 * entries in one month, a query for a week after it opens at most the root
 * of each run and tests no entry; the same for a week in a gap between two
 * months of traffic; a query inside the month tests a small part. */
static void test_time_separation(void) {
    dcf_index_t *idx = NULL;
    dcf_index_reader_t *rd = NULL;
    CHECK_INT(dcf_index_new(NULL, &idx), DCF_OK);
    CHECK_INT(dcf_index_reader_new(idx, &rd), DCF_OK);
    enum { N = 100000 };
    dcf_box_t *b = malloc(N * sizeof *b);
    uint32_t *p = malloc(N * sizeof *p), *k = malloc(N * sizeof *k);
    uint64_t seed = 12345;
    for (int i = 0; i < N; i++) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        int32_t start = T0 + (int32_t)((seed >> 33) % (30 * MIN_PER_DAY - 240));
        int32_t dur = 5 + (int32_t)((seed >> 20) % 235);
        float lng = 2.0f + (float)((seed >> 8) % 1000) * 0.001f;
        float lat = 48.0f + (float)((seed >> 40) % 1000) * 0.001f;
        b[i] = (dcf_box_t){lng, lng + 0.05f, lat, lat + 0.05f, 0, 120, start, start + dur};
        p[i] = (uint32_t)i % 7;
    }
    CHECK_INT(dcf_index_bulk_load(idx, b, p, N, k), DCF_OK);

    /* Next Tuesday: days 33..34 after T0 (T0 + 30 days is the month's end). */
    dcf_box_t later = {1, 4, 47, 50, 0, 1000, T0 + 33 * MIN_PER_DAY, T0 + 34 * MIN_PER_DAY};
    dcf_index_qstats_t st = {0};
    CHECK_INT(dcf_index_query(rd, &later, UINT32_MAX, NULL, NULL, &st), DCF_OK);
    CHECK_INT(st.entries_tested, 0);
    CHECK_INT(st.candidates, 0);
    dcf_index_stats_t stats;
    dcf_index_stats(idx, &stats);
    CHECK_INT(stats.levels, 2); /* one packed run and the empty write buffer */
    CHECK(st.nodes_visited <= 1);

    /* The month and, two weeks after it, another month of traffic: a week
     * in the gap lies within the run's range; it tests no entry and opens at
     * most the one path of nodes whose subtree straddles the gap (subtree
     * sizes are fixed, so one group per layer may hold both sides). */
    {
        dcf_index_t *gi = NULL;
        dcf_index_reader_t *gr = NULL;
        CHECK_INT(dcf_index_new(NULL, &gi), DCF_OK);
        CHECK_INT(dcf_index_reader_new(gi, &gr), DCF_OK);
        dcf_box_t *b2 = malloc(2 * N * sizeof *b2);
        uint32_t *p2 = malloc(2 * N * sizeof *p2), *k2 = malloc(2 * N * sizeof *k2);
        for (int i = 0; i < 2 * N; i++) {
            b2[i] = b[i % N];
            p2[i] = p[i % N];
            if (i >= N) {
                b2[i].t_lo += 44 * MIN_PER_DAY;
                b2[i].t_hi += 44 * MIN_PER_DAY;
            }
        }
        CHECK_INT(dcf_index_bulk_load(gi, b2, p2, 2 * N, k2), DCF_OK);
        dcf_box_t gap = {1, 4, 47, 50, 0, 1000, T0 + 35 * MIN_PER_DAY, T0 + 42 * MIN_PER_DAY};
        memset(&st, 0, sizeof st);
        CHECK_INT(dcf_index_query(gr, &gap, UINT32_MAX, NULL, NULL, &st), DCF_OK);
        CHECK_INT(st.entries_tested, 0);
        CHECK_INT(st.candidates, 0);
        CHECK_MSG(st.nodes_visited <= 5, "%" PRIu64 " nodes", st.nodes_visited);
        free(b2);
        free(p2);
        free(k2);
        dcf_index_reader_free(gr);
        dcf_index_free(gi);
    }

    /* The same after the month was written one insert at a time: only the
     * write buffer's entries are tested, and each run opens its root. */
    dcf_index_t *idx2 = NULL;
    dcf_index_reader_t *rd2 = NULL;
    CHECK_INT(dcf_index_new(NULL, &idx2), DCF_OK);
    CHECK_INT(dcf_index_reader_new(idx2, &rd2), DCF_OK);
    for (int i = 0; i < N; i++)
        CHECK_INT(dcf_index_insert(idx2, &b[i], p[i], &k[i]), DCF_OK);
    memset(&st, 0, sizeof st);
    CHECK_INT(dcf_index_query(rd2, &later, UINT32_MAX, NULL, NULL, &st), DCF_OK);
    dcf_index_stats(idx2, &stats);
    CHECK(stats.levels <= 6);
    CHECK_INT(st.candidates, 0);
    CHECK(st.entries_tested <= 1024); /* the write buffer only */
    CHECK(st.nodes_visited <= stats.levels - 1);
    check_ok(idx2);

    /* One hour inside the month, small area: a few hundred entries tested,
     * not 100,000; and the answer equals a scan. */
    dcf_box_t q = {
        2.4f, 2.5f, 48.4f, 48.5f, 0, 120, T0 + 10 * MIN_PER_DAY, T0 + 10 * MIN_PER_DAY + 60};
    memset(&st, 0, sizeof st);
    keyset_t s = {0};
    CHECK_INT(dcf_index_query(rd, &q, UINT32_MAX, collect, &s, &st), DCF_OK);
    size_t want = 0;
    for (int i = 0; i < N; i++)
        want += b[i].lng_lo <= q.lng_hi && b[i].lng_hi >= q.lng_lo && b[i].lat_lo <= q.lat_hi &&
                b[i].lat_hi >= q.lat_lo && b[i].t_lo <= q.t_hi && b[i].t_hi >= q.t_lo;
    CHECK_INT(s.n, want);
    CHECK_INT(st.candidates, want);
    CHECK_MSG(st.entries_tested < 1000, "%" PRIu64 " entries tested", st.entries_tested);
    CHECK_MSG(st.nodes_visited < 100, "%" PRIu64 " nodes visited", st.nodes_visited);
    free(s.keys);

    free(b);
    free(p);
    free(k);
    dcf_index_reader_free(rd2);
    dcf_index_free(idx2);
    dcf_index_reader_free(rd);
    dcf_index_free(idx);
}

/* ------------------------------------------------- allocation failures -- */

/* The live entries as seen by a full query, sorted. */
static keyset_t snapshot(dcf_index_reader_t *rd) {
    return query(rd, &EVERYWHERE, UINT32_MAX);
}

static bool same(const keyset_t *a, const keyset_t *b) {
    return a->n == b->n && (a->n == 0 || memcmp(a->keys, b->keys, a->n * sizeof *a->keys) == 0);
}

enum { OP_INSERT, OP_UPDATE, OP_BULK, OP_COMPACT, OP_REMOVE, OP_COUNT };

/* Run one writer operation with the k-th allocation failing. */
static int run_op(dcf_index_t *idx, int op, uint32_t victim, uint32_t *out) {
    static dcf_box_t bulk[40];
    static uint32_t parties[40];
    for (int i = 0; i < 40; i++) {
        bulk[i] = box((float)i, 10, 0.5f, T0 + i, 60);
        parties[i] = 3;
    }
    dcf_box_t b = box(1, 2, 1, T0, 60);
    switch (op) {
    case OP_INSERT:
        return dcf_index_insert(idx, &b, 1, out);
    case OP_UPDATE:
        return dcf_index_update(idx, victim, &b, out);
    case OP_BULK:
        return dcf_index_bulk_load(idx, bulk, parties, 40, out);
    case OP_COMPACT:
        return dcf_index_compact(idx);
    default:
        return dcf_index_remove(idx, victim);
    }
}

/* For every operation, fail the 1st, 2nd, ... allocation it makes until it
 * succeeds; after each failure the index must answer exactly as before and
 * pass its self-check.  The write buffer is kept nearly full so inserts also
 * exercise the merge path. */
static void test_allocation_failures(void) {
    dcf_index_opts_t o;
    dcf_index_opts_default(&o);
    o.delta_max = 16;
    dcf_index_t *idx = NULL;
    dcf_index_reader_t *rd = NULL;
    CHECK_INT(dcf_index_new(&o, &idx), DCF_OK);
    CHECK_INT(dcf_index_reader_new(idx, &rd), DCF_OK);
    uint32_t keys[4096];
    size_t nkeys = 0;
    int failures = 0;
    for (int round = 0; round < 120; round++) {
        int op = round % OP_COUNT;
        uint32_t victim = nkeys ? keys[(size_t)round * 7 % nkeys] : 0;
        keyset_t before = snapshot(rd);
        uint32_t out[40];
        int rc = DCF_ENOMEM;
        for (long k = 0; rc == DCF_ENOMEM && k < 1000; k++) {
            dcf__index_fail_after(idx, k);
            rc = run_op(idx, op, victim, out);
            dcf__index_fail_after(idx, -1);
            if (rc == DCF_ENOMEM) {
                failures++;
                keyset_t now = snapshot(rd);
                CHECK_MSG(same(&before, &now), "op %d, allocation %ld: answers changed", op, k);
                free(now.keys);
                check_ok(idx);
            }
        }
        CHECK_MSG(rc == DCF_OK || (rc == DCF_ENOENT && nkeys == 0), "op %d: %d", op, rc);
        if (rc == DCF_OK) {
            size_t v = 0;
            while (v < nkeys && keys[v] != victim)
                v++;
            if (op == OP_INSERT && nkeys < 4096)
                keys[nkeys++] = out[0];
            else if (op == OP_UPDATE && v < nkeys)
                keys[v] = out[0];
            else if (op == OP_REMOVE && v < nkeys)
                keys[v] = keys[--nkeys];
            else if (op == OP_BULK)
                for (int i = 0; i < 40 && nkeys < 4096; i++)
                    keys[nkeys++] = out[i];
        }
        free(before.keys);
        check_ok(idx);
    }
    CHECK(failures > 100);
    keyset_t all = snapshot(rd);
    CHECK_INT(all.n, nkeys);
    free(all.keys);
    dcf_index_reader_free(rd);
    dcf_index_free(idx);
}

/* ------------------------------------------------------ box of a volume -- */

static void test_box_make(void) {
    dcf_footprint_t *fp = NULL;
    dcf_geo_error_t err;
    CHECK_INT(dcf_footprint_circle((dcf_latlng_t){48.1, 11.3}, 1000.0, "", &fp, &err), DCF_OK);
    if (fp == NULL)
        return;
    dcf_volume_t v = {.footprint = fp,
                      .alt_lo = 0.1,
                      .alt_hi = 120.3,
                      .t_start = (dcf_time_t)T0 * 60 * DCF_USEC_PER_SEC + 30 * DCF_USEC_PER_SEC,
                      .t_end = (dcf_time_t)(T0 + 60) * 60 * DCF_USEC_PER_SEC};
    dcf_bbox_t bb;
    dcf_footprint_bbox(fp, &bb);
    dcf_box_t b;
    dcf_index_box_make(&v, NULL, &b);
    /* Outward, and by no more than float resolution. */
    CHECK((double)b.lng_lo <= bb.lng_lo && (double)b.lng_hi >= bb.lng_hi);
    CHECK((double)b.lat_lo <= bb.lat_lo && (double)b.lat_hi >= bb.lat_hi);
    CHECK_NEAR(b.lng_lo, bb.lng_lo, 1e-5);
    CHECK_NEAR(b.lat_hi, bb.lat_hi, 1e-5);
    CHECK((double)b.alt_lo <= 0.1 && (double)b.alt_hi >= 120.3);
    CHECK_INT(b.t_lo, T0); /* 30 s into the minute rounds down */
    CHECK_INT(b.t_hi, T0 + 60);

    dcf_sep_t sep = {.horizontal_m = 5000, .vertical_m = 50, .time_us = 90 * DCF_USEC_PER_SEC};
    dcf_box_t g;
    dcf_index_box_make(&v, &sep, &g);
    CHECK(g.lng_lo < b.lng_lo && g.lng_hi > b.lng_hi && g.lat_lo < b.lat_lo && g.lat_hi > b.lat_hi);
    /* 5 km is about 0.045 degrees of latitude. */
    CHECK(g.lat_hi - b.lat_hi >= 0.044f);
    CHECK((double)g.alt_lo <= 0.1 - 50 && (double)g.alt_hi >= 170.3);
    CHECK_INT(g.t_lo, T0 - 1);  /* 30 s - 90 s = one minute earlier, floored */
    CHECK_INT(g.t_hi, T0 + 62); /* end + 90 s, ceiled */
    dcf_footprint_free(fp);

    /* Across the antimeridian: the whole longitude range. */
    CHECK_INT(dcf_footprint_circle((dcf_latlng_t){-17.0, 179.99}, 5000.0, "", &fp, &err), DCF_OK);
    if (fp != NULL) {
        v.footprint = fp;
        dcf_index_box_make(&v, NULL, &b);
        CHECK(b.lng_lo == -180.0f && b.lng_hi == 180.0f);
        CHECK(b.lat_lo < -17.0f && b.lat_hi > -17.0f);
        dcf_footprint_free(fp);
    }
}

int main(void) {
    RUN(test_empty);
    RUN(test_options);
    RUN(test_insert_query_remove_update);
    RUN(test_party_exclusion);
    RUN(test_touching);
    RUN(test_full_longitude);
    RUN(test_key_recycling);
    RUN(test_callbacks);
    RUN(test_bad_arguments);
    RUN(test_check_catches_damage);
    RUN(test_time_separation);
    RUN(test_allocation_failures);
    RUN(test_box_make);
    TEST_DONE();
}
