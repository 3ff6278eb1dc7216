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
    dcf_strmap_free(m);
}

int main(void) {
    RUN(test_against_array);
    TEST_DONE();
}
