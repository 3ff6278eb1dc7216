/*
 * test_strmap.c -- the string map against a brute-force array under random
 * puts, gets and deletes (fixed seed), including heavy churn; insert-only
 * adds (DCF_EEXIST keeps the old value) and reserving room ahead of a bulk
 * load (entries kept, smaller reservations a no-op, impossible ones refused).
 */
#include "deconflict/core.h"
#include "test.h"

#define NKEYS 3000

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

typedef struct {
    const intptr_t *vals;
    int *seen;
    int wrong;
} each_t;

/* Keys are "op-<i>": check the value is vals[i] and count the visit. */
static void each_cb(void *arg, const char *key, void *value) {
    each_t *e = arg;
    int i = -1;
    if (sscanf(key, "op-%d", &i) != 1 || i < 0 || i >= NKEYS || (void *)e->vals[i] != value)
        e->wrong++;
    else
        e->seen[i]++;
}

static void test_against_array(void) {
    static char keys[NKEYS][24];
    static int present[NKEYS];
    static intptr_t vals[NKEYS];
    dcf_strmap_t *m = NULL;
    size_t count = 0;
    CHECK_INT(dcf_strmap_new(&m), DCF_OK);
    for (int i = 0; i < NKEYS; i++)
        snprintf(keys[i], sizeof keys[i], "op-%d", i);
    long mismatches = 0;
    for (int step = 0; step < 200000; step++) {
        int k = (int)(rnd() % NKEYS);
        int what = (int)(rnd() % 3);
        if (what == 0) {
            intptr_t v = (intptr_t)(rnd() % 1000000) + 1;
            if (dcf_strmap_put(m, keys[k], (void *)v) != DCF_OK)
                mismatches++;
            if (!present[k])
                count++;
            present[k] = 1;
            vals[k] = v;
        } else if (what == 1) {
            void *old = dcf_strmap_del(m, keys[k]);
            if (present[k] ? old != (void *)vals[k] : old != NULL)
                mismatches++;
            if (present[k])
                count--;
            present[k] = 0;
        } else {
            void *got = dcf_strmap_get(m, keys[k]);
            if (present[k] ? got != (void *)vals[k] : got != NULL)
                mismatches++;
        }
        if (dcf_strmap_count(m) != count)
            mismatches++;
    }
    CHECK_INT(mismatches, 0);
    for (int i = 0; i < NKEYS; i++) {
        void *got = dcf_strmap_get(m, keys[i]);
        CHECK(present[i] ? got == (void *)vals[i] : got == NULL);
    }
    CHECK(dcf_strmap_get(m, "absent") == NULL);
    /* each visits exactly the present entries, once each, with their values. */
    int seen[NKEYS] = {0};
    each_t e = {vals, seen, 0};
    dcf_strmap_each(m, each_cb, &e);
    int wrong = e.wrong;
    for (int i = 0; i < NKEYS; i++)
        if (seen[i] != (present[i] ? 1 : 0))
            wrong++;
    CHECK_INT(wrong, 0);
    dcf_strmap_free(m);
}

/* Keys "k-<i>" for the tests below (the map borrows them). */
#define NBULK 20000
static char bulk_keys[NBULK][16];

static void bulk_keys_init(void) {
    for (int i = 0; i < NBULK; i++)
        snprintf(bulk_keys[i], sizeof bulk_keys[i], "k-%d", i);
}

/* Value stored for key i in these tests: never NULL. */
static void *bulk_val(int i, int gen) {
    return (void *)(intptr_t)(1 + i + gen * NBULK);
}

/* Keys [0, n) all map to bulk_val(i, gen) and the map holds exactly n. */
static long bulk_wrong(const dcf_strmap_t *m, int n, int gen) {
    long wrong = dcf_strmap_count(m) != (size_t)n;
    for (int i = 0; i < n; i++)
        wrong += dcf_strmap_get(m, bulk_keys[i]) != bulk_val(i, gen);
    for (int i = n; i < n + 50 && i < NBULK; i++)
        wrong += dcf_strmap_get(m, bulk_keys[i]) != NULL;
    return wrong;
}

static void test_add(void) {
    dcf_strmap_t *m = NULL;
    CHECK_INT(dcf_strmap_new(&m), DCF_OK);
    if (m == NULL)
        return;
    CHECK_INT(dcf_strmap_add(m, "a", (void *)(intptr_t)1), DCF_OK);
    CHECK_INT(dcf_strmap_add(m, "a", (void *)(intptr_t)2), DCF_EEXIST);
    CHECK(dcf_strmap_get(m, "a") == (void *)(intptr_t)1);
    CHECK_INT(dcf_strmap_count(m), 1);
    /* An equal key at another address is the same key. */
    char copy[] = "a";
    CHECK_INT(dcf_strmap_add(m, copy, (void *)(intptr_t)3), DCF_EEXIST);
    CHECK(dcf_strmap_get(m, "a") == (void *)(intptr_t)1);
    /* put still replaces; after a delete, add inserts again. */
    CHECK_INT(dcf_strmap_put(m, "a", (void *)(intptr_t)4), DCF_OK);
    CHECK(dcf_strmap_get(m, "a") == (void *)(intptr_t)4);
    CHECK(dcf_strmap_del(m, "a") == (void *)(intptr_t)4);
    CHECK_INT(dcf_strmap_add(m, "a", (void *)(intptr_t)5), DCF_OK);
    CHECK(dcf_strmap_get(m, "a") == (void *)(intptr_t)5);
    CHECK(dcf_strmap_del(m, "a") == (void *)(intptr_t)5);
    CHECK_INT(dcf_strmap_count(m), 0);

    /* Many adds (through several growths), then every key again: each is
     * refused and keeps its first value. */
    long bad = 0;
    for (int i = 0; i < NBULK; i++)
        bad += dcf_strmap_add(m, bulk_keys[i], bulk_val(i, 0)) != DCF_OK;
    CHECK_INT(bad, 0);
    for (int i = 0; i < NBULK; i++)
        bad += dcf_strmap_add(m, bulk_keys[i], bulk_val(i, 1)) != DCF_EEXIST;
    CHECK_INT(bad, 0);
    CHECK_INT(bulk_wrong(m, NBULK, 0), 0);
    dcf_strmap_free(m);
}

static void test_reserve(void) {
    dcf_strmap_t *m = NULL;
    CHECK_INT(dcf_strmap_new(&m), DCF_OK);
    if (m == NULL)
        return;
    /* On an empty map, then fill it exactly. */
    CHECK_INT(dcf_strmap_reserve(m, NBULK), DCF_OK);
    CHECK_INT(dcf_strmap_count(m), 0);
    CHECK_INT(bulk_wrong(m, 0, 0), 0);
    long bad = 0;
    for (int i = 0; i < NBULK; i++)
        bad += dcf_strmap_add(m, bulk_keys[i], bulk_val(i, 0)) != DCF_OK;
    CHECK_INT(bad, 0);
    CHECK_INT(bulk_wrong(m, NBULK, 0), 0);
    /* Smaller (or equal) reservations change nothing. */
    CHECK_INT(dcf_strmap_reserve(m, 0), DCF_OK);
    CHECK_INT(dcf_strmap_reserve(m, 1), DCF_OK);
    CHECK_INT(dcf_strmap_reserve(m, NBULK / 2), DCF_OK);
    CHECK_INT(dcf_strmap_reserve(m, NBULK), DCF_OK);
    CHECK_INT(bulk_wrong(m, NBULK, 0), 0);
    /* Deletes and puts still work in a reserved table. */
    for (int i = 0; i < NBULK; i += 2)
        bad += dcf_strmap_del(m, bulk_keys[i]) != bulk_val(i, 0);
    for (int i = 0; i < NBULK; i += 2)
        bad += dcf_strmap_put(m, bulk_keys[i], bulk_val(i, 0)) != DCF_OK;
    CHECK_INT(bad, 0);
    CHECK_INT(bulk_wrong(m, NBULK, 0), 0);
    dcf_strmap_free(m);

    /* On a non-empty map, growing it several times over at once. */
    CHECK_INT(dcf_strmap_new(&m), DCF_OK);
    if (m == NULL)
        return;
    for (int i = 0; i < 100; i++)
        bad += dcf_strmap_put(m, bulk_keys[i], bulk_val(i, 0)) != DCF_OK;
    CHECK_INT(dcf_strmap_reserve(m, 100), DCF_OK);
    CHECK_INT(bulk_wrong(m, 100, 0), 0);
    CHECK_INT(dcf_strmap_reserve(m, NBULK), DCF_OK);
    CHECK_INT(bulk_wrong(m, 100, 0), 0);
    for (int i = 100; i < NBULK; i++)
        bad += dcf_strmap_add(m, bulk_keys[i], bulk_val(i, 0)) != DCF_OK;
    CHECK_INT(bad, 0);
    CHECK_INT(bulk_wrong(m, NBULK, 0), 0);
    /* Past the table's limit: refused, nothing lost. */
    CHECK_INT(dcf_strmap_reserve(m, SIZE_MAX), DCF_ELIMIT);
    CHECK_INT(dcf_strmap_reserve(m, (size_t)1 << 31), DCF_ELIMIT);
    CHECK_INT(bulk_wrong(m, NBULK, 0), 0);
    dcf_strmap_free(m);
}

/* A count so large that n * 10 wraps to a small number must still be
 * refused, not reported as reserved. */
static void test_reserve_huge(void) {
    dcf_strmap_t *m = NULL;
    CHECK_INT(dcf_strmap_new(&m), DCF_OK);
    if (m == NULL)
        return;
    CHECK_INT(dcf_strmap_reserve(m, SIZE_MAX / 10 + 1), DCF_ELIMIT);
    CHECK_INT(dcf_strmap_reserve(m, SIZE_MAX / 5 + 1), DCF_ELIMIT);
    CHECK_INT(dcf_strmap_count(m), 0);
    dcf_strmap_free(m);
}

int main(void) {
    bulk_keys_init();
    RUN(test_against_array);
    RUN(test_add);
    RUN(test_reserve);
    RUN(test_reserve_huge);
    TEST_DONE();
}
