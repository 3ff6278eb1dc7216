/*
 * test_index_property.c -- the index against brute force on random
 * operation sequences.
 *
 * A model keeps every live entry in a plain array (box, party, key).  Each
 * fixed seed drives a long random mix of inserts, removes, updates, bulk
 * loads, compactions and queries through one index configuration; after
 * every query the SET of keys the index reported must equal the model's
 * closed-box scan with the same party exclusion: no miss, no extra, no
 * duplicate.  Every key an insert hands out must be unused in the model
 * (recycling never returns a live key) and below 2^31.  dcf_index_check
 * runs periodically and at the end.
 *
 * Each configuration also picks the box-compare kernel (portable, AVX2 or
 * AVX-512, as far as the CPU has them), so all of them meet brute force.
 *
 * Boxes mix clustered traffic (hubs, short windows), uniform boxes anywhere
 * on the globe and in a wide time range, points, full-longitude boxes, and
 * queries whose edges coincide exactly with a stored box's edges (touching
 * counts as intersecting).
 */
#include <stdbool.h>
#include <stdint.h>

#include "deconflict/index.h"
#include "index/index_int.h"
#include "test.h"

#define T0 29000000 /* minutes */

/* ------------------------------------------------------------- random -- */

static uint64_t rng_state;

static uint64_t rnd(void) {
    /* splitmix64 */
    uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}
static uint32_t below(uint32_t n) {
    return (uint32_t)(rnd() % n);
}
static double unit(void) {
    return (double)(rnd() >> 11) * 0x1.0p-53;
}

/* -------------------------------------------------------------- model -- */

typedef struct {
    dcf_box_t box;
    uint32_t party;
    uint32_t key;
} ment_t;

typedef struct {
    ment_t *e; /* live entries, unordered */
    size_t n, cap;
    int32_t *pos; /* pos[key] = index in e, or -1 */
    size_t npos;
} model_t;

static void model_add(model_t *m, const dcf_box_t *b, uint32_t party, uint32_t key) {
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 1024;
        m->e = realloc(m->e, m->cap * sizeof *m->e);
    }
    if (key >= m->npos) {
        size_t np = m->npos ? m->npos : 1024;
        while (np <= key)
            np *= 2;
        m->pos = realloc(m->pos, np * sizeof *m->pos);
        for (size_t i = m->npos; i < np; i++)
            m->pos[i] = -1;
        m->npos = np;
    }
    CHECK_MSG(m->pos[key] < 0, "key %u handed out while live", key);
    m->pos[key] = (int32_t)m->n;
    m->e[m->n++] = (ment_t){*b, party, key};
}

static void model_del(model_t *m, uint32_t key) {
    int32_t i = m->pos[key];
    m->pos[key] = -1;
    m->e[i] = m->e[--m->n];
    if ((size_t)i < m->n)
        m->pos[m->e[i].key] = i;
}

static bool meets(const dcf_box_t *a, const dcf_box_t *b) {
    return a->lng_lo <= b->lng_hi && a->lng_hi >= b->lng_lo && a->lat_lo <= b->lat_hi &&
           a->lat_hi >= b->lat_lo && a->alt_lo <= b->alt_hi && a->alt_hi >= b->alt_lo &&
           a->t_lo <= b->t_hi && a->t_hi >= b->t_lo;
}

/* ---------------------------------------------------------------- boxes -- */

static float hub_lng[16], hub_lat[16];

static float clampf(float v, float lo, float hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

static dcf_box_t random_box(const model_t *m, bool for_query) {
    dcf_box_t b;
    uint32_t kind = below(100);
    if (kind < 60) { /* clustered: near a hub, 0.2..20 km, 5 min..4 h */
        int h = (int)below(16);
        float lng = hub_lng[h] + (float)(unit() - 0.5) * 0.6f;
        float lat = hub_lat[h] + (float)(unit() - 0.5) * 0.4f;
        float w = 0.002f + (float)unit() * 0.18f;
        int32_t t = T0 + (int32_t)below(3 * 24 * 60);
        int32_t d = 5 + (int32_t)below(235);
        float top = below(2) ? 120.0f : 400.0f + (float)below(11600);
        b = (dcf_box_t){lng - w, lng + w, lat - w, lat + w, 0.0f, top, t, t + d};
        if (for_query) { /* grown by a few km / minutes */
            float g = 0.05f * (float)unit();
            b.lng_lo -= g, b.lng_hi += g, b.lat_lo -= g, b.lat_hi += g;
            b.t_lo -= (int32_t)below(30), b.t_hi += (int32_t)below(30);
        }
    } else if (kind < 80) { /* uniform anywhere, long time range */
        float lng = (float)(unit() * 360.0 - 180.0), lat = (float)(unit() * 180.0 - 90.0);
        float w = (float)unit() * 20.0f, h = (float)unit() * 10.0f;
        int32_t t = T0 - 100000 + (int32_t)below(400000);
        float alo = (float)(unit() * 2000.0 - 500.0);
        b = (dcf_box_t){lng, clampf(lng + w, -180, 180),    lat, clampf(lat + h, -90, 90),
                        alo, alo + (float)unit() * 3000.0f, t,   t + (int32_t)below(20000)};
    } else if (kind < 85) { /* a point */
        int h = (int)below(16);
        float lng = hub_lng[h] + (float)(unit() - 0.5) * 0.6f;
        float lat = hub_lat[h] + (float)(unit() - 0.5) * 0.4f;
        int32_t t = T0 + (int32_t)below(3 * 24 * 60);
        b = (dcf_box_t){lng, lng, lat, lat, 60.0f, 60.0f, t, t};
    } else if (kind < 90) { /* full longitude band */
        float lat = (float)(unit() * 170.0 - 85.0);
        int32_t t = T0 + (int32_t)below(3 * 24 * 60);
        b = (dcf_box_t){-180.0f, 180.0f, lat, lat + 2.0f, 0.0f, 500.0f, t, t + 120};
    } else if (m->n > 0) { /* sharing an edge with a stored box in some dimensions */
        const dcf_box_t *o = &m->e[below((uint32_t)m->n)].box;
        b = *o;
        switch (below(4)) {
        case 0:
            b.t_lo = o->t_hi, b.t_hi = o->t_hi + (int32_t)below(60);
            break;
        case 1:
            b.lng_hi = o->lng_lo, b.lng_lo = o->lng_lo - (float)unit();
            break;
        case 2:
            b.lat_lo = o->lat_hi, b.lat_hi = o->lat_hi + (float)unit();
            break;
        default:
            b.alt_hi = o->alt_lo, b.alt_lo = o->alt_lo - 100.0f;
            break;
        }
        if (below(2)) { /* and one step away in another: no touch there */
            b.lat_lo = nextafterf(o->lat_hi, INFINITY);
            if (b.lat_hi < b.lat_lo)
                b.lat_hi = b.lat_lo;
        }
    } else {
        b = (dcf_box_t){0, 1, 0, 1, 0, 1, T0, T0 + 1};
    }
    return b;
}

static uint32_t random_party(void) {
    return below(12);
}

/* -------------------------------------------------------------- driver -- */

typedef struct {
    uint32_t *keys;
    size_t n, cap;
} keys_t;

static int collect(void *arg, uint32_t key) {
    keys_t *k = arg;
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 256;
        k->keys = realloc(k->keys, k->cap * sizeof *k->keys);
    }
    k->keys[k->n++] = key;
    return 0;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    uint64_t seed;
    unsigned fanout;
    size_t delta_max;
    long ops;
    size_t target_live; /* inserts and removes balance around this */
    int simd;           /* compare kernel wanted (index_int.h), capped by the CPU */
} config_t;

static long total_ops, total_queries, total_results, total_mismatch, total_nonempty;

static void check_index(const dcf_index_t *idx, const model_t *m, long op) {
    const char *why = NULL;
    int rc = dcf_index_check(idx, &why);
    CHECK_MSG(rc == DCF_OK, "op %ld: %s", op, why ? why : "(null)");
    dcf_index_stats_t st;
    dcf_index_stats(idx, &st);
    CHECK_MSG(st.live == m->n, "op %ld: live %zu, model %zu", op, st.live, m->n);
}

static void do_query(dcf_index_reader_t *rd, const model_t *m, keys_t *got, keys_t *want, long op) {
    dcf_box_t q = random_box(m, true);
    uint32_t excl = below(4) == 0 ? UINT32_MAX : random_party();
    got->n = want->n = 0;
    int rc = dcf_index_query(rd, &q, excl, collect, got, NULL);
    CHECK_INT(rc, DCF_OK);
    for (size_t i = 0; i < m->n; i++)
        if (m->e[i].party != excl && meets(&m->e[i].box, &q))
            collect(want, m->e[i].key);
    if (got->n > 1)
        qsort(got->keys, got->n, sizeof *got->keys, cmp_u32);
    if (want->n > 1)
        qsort(want->keys, want->n, sizeof *want->keys, cmp_u32);
    bool equal = got->n == want->n &&
                 (got->n == 0 || memcmp(got->keys, want->keys, got->n * sizeof(uint32_t)) == 0);
    if (!equal) {
        total_mismatch++;
        size_t dup = 0;
        for (size_t i = 1; i < got->n; i++)
            dup += got->keys[i] == got->keys[i - 1];
        CHECK_MSG(equal, "op %ld: index returned %zu keys (%zu duplicates), brute force %zu", op,
                  got->n, dup, want->n);
    }
    total_queries++;
    total_results += (long)want->n;
    total_nonempty += want->n > 0;
}

static void run(const config_t *c) {
    dcf_index_opts_t o = {.fanout = c->fanout, .delta_max = c->delta_max};
    dcf_index_t *idx = NULL;
    dcf_index_reader_t *rd = NULL;
    model_t m = {0};
    keys_t got = {0}, want = {0};
    enum { BULK_MAX = 3000 };
    dcf_box_t *bb = malloc(BULK_MAX * sizeof *bb);
    uint32_t *bp = malloc(BULK_MAX * sizeof *bp), *bk = malloc(BULK_MAX * sizeof *bk);

    rng_state = c->seed;
    for (int h = 0; h < 16; h++) {
        hub_lng[h] = (float)(unit() * 40.0 - 10.0);
        hub_lat[h] = (float)(unit() * 20.0 + 35.0);
    }
    CHECK_INT(dcf_index_new(&o, &idx), DCF_OK);
    CHECK_INT(dcf_index_reader_new(idx, &rd), DCF_OK);
    int best = dcf__index_simd_level();
    idx->simd = c->simd < best ? c->simd : best;
    fprintf(stderr, "  seed %llu: fanout %u, write buffer %zu, kernel %d\n",
            (unsigned long long)c->seed, c->fanout, c->delta_max, idx->simd);

    for (long op = 0; op < c->ops; op++) {
        uint32_t r = below(1000);
        bool grow = m.n < c->target_live;
        if (r < 250) { /* query */
            do_query(rd, &m, &got, &want, op);
        } else if (r < (grow ? 600u : 450u)) { /* insert */
            dcf_box_t b = random_box(&m, false);
            uint32_t p = random_party(), k;
            CHECK_INT(dcf_index_insert(idx, &b, p, &k), DCF_OK);
            CHECK(k < (UINT32_C(1) << 31));
            model_add(&m, &b, p, k);
        } else if (r < 800) { /* remove */
            if (m.n == 0)
                continue;
            uint32_t k = m.e[below((uint32_t)m.n)].key;
            CHECK_INT(dcf_index_remove(idx, k), DCF_OK);
            model_del(&m, k);
            CHECK_INT(dcf_index_remove(idx, k), DCF_ENOENT);
        } else if (r < 995) { /* update */
            if (m.n == 0)
                continue;
            ment_t old = m.e[below((uint32_t)m.n)];
            dcf_box_t b = random_box(&m, false);
            uint32_t nk;
            CHECK_INT(dcf_index_update(idx, old.key, &b, &nk), DCF_OK);
            CHECK(nk != old.key);
            model_del(&m, old.key);
            model_add(&m, &b, old.party, nk);
        } else if (r < 998) { /* bulk load */
            size_t n = 1 + below(below(4) == 0 ? BULK_MAX : 50);
            for (size_t i = 0; i < n; i++) {
                bb[i] = random_box(&m, false);
                bp[i] = random_party();
            }
            CHECK_INT(dcf_index_bulk_load(idx, bb, bp, n, bk), DCF_OK);
            for (size_t i = 0; i < n; i++)
                model_add(&m, &bb[i], bp[i], bk[i]);
        } else { /* compact */
            CHECK_INT(dcf_index_compact(idx), DCF_OK);
            dcf_index_stats_t st;
            dcf_index_stats(idx, &st);
            CHECK_INT(st.dead, 0);
            CHECK(st.levels <= 2);
        }
        if (op % 4999 == 0)
            check_index(idx, &m, op);
    }
    check_index(idx, &m, c->ops);
    /* Everything once more after a final compaction. */
    CHECK_INT(dcf_index_compact(idx), DCF_OK);
    for (int i = 0; i < 200; i++)
        do_query(rd, &m, &got, &want, c->ops);
    check_index(idx, &m, c->ops);
    total_ops += c->ops;

    free(bb);
    free(bp);
    free(bk);
    free(got.keys);
    free(want.keys);
    free(m.e);
    free(m.pos);
    dcf_index_reader_free(rd);
    dcf_index_free(idx);
}

static void test_random_sequences(void) {
    static const config_t configs[] = {
        {.seed = 1, .fanout = 16, .delta_max = 1024, .ops = 40000, .target_live = 8000, .simd = 2},
        {.seed = 2, .fanout = 4, .delta_max = 16, .ops = 30000, .target_live = 3000, .simd = 0},
        {.seed = 3, .fanout = 5, .delta_max = 37, .ops = 30000, .target_live = 5000, .simd = 1},
        {.seed = 4, .fanout = 64, .delta_max = 100, .ops = 30000, .target_live = 6000, .simd = 2},
        {.seed = 5, .fanout = 16, .delta_max = 16, .ops = 20000, .target_live = 300, .simd = 0},
        {.seed = 6, .fanout = 12, .delta_max = 64, .ops = 20000, .target_live = 4000, .simd = 1},
    };
    for (size_t i = 0; i < sizeof configs / sizeof *configs; i++)
        run(&configs[i]);
    fprintf(stderr,
            "  %ld operations, %ld queries (%ld found something), %ld results, %ld mismatches\n",
            total_ops, total_queries, total_nonempty, total_results, total_mismatch);
    CHECK(total_ops >= 100000);
    /* The queries do find things: most of them something, many a lot. */
    CHECK(total_nonempty > total_queries / 2);
    CHECK(total_results > 5 * total_queries);
}

int main(void) {
    RUN(test_random_sequences);
    TEST_DONE();
}
