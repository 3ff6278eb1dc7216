/*
 * test_strmap.c -- the string map against a brute-force array under random
 * puts, gets and deletes (fixed seed), including heavy churn.
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

int main(void) {
    RUN(test_against_array);
    TEST_DONE();
}
