/*
 * test_array.c -- dcf_array_reserve: growth by doubling, zeroed new
 * elements, contents kept, no change when there is room, and the overflow
 * guard.
 */
#include "deconflict/core.h"
#include "test.h"

static void test_grow(void) {
    int *v = NULL;
    size_t cap = 0;
    CHECK_INT(dcf_array_reserve((void **)&v, &cap, 1, sizeof *v), DCF_OK);
    CHECK_INT(cap, 64);
    int zero = 1;
    for (size_t i = 0; i < cap; i++)
        zero &= v[i] == 0;
    CHECK(zero);
    for (int i = 0; i < 64; i++)
        v[i] = i + 1;
    int *before = v;
    CHECK_INT(dcf_array_reserve((void **)&v, &cap, 64, sizeof *v), DCF_OK);
    CHECK(v == before && cap == 64); /* room already: nothing changes */
    CHECK_INT(dcf_array_reserve((void **)&v, &cap, 300, sizeof *v), DCF_OK);
    CHECK_INT(cap, 512);
    int kept = 1, zeroed = 1;
    for (int i = 0; i < 64; i++)
        kept &= v[i] == i + 1;
    for (size_t i = 64; i < cap; i++)
        zeroed &= v[i] == 0;
    CHECK(kept);
    CHECK(zeroed);
    free(v);
}

static void test_overflow(void) {
    char *v = NULL;
    size_t cap = 0;
    CHECK_INT(dcf_array_reserve((void **)&v, &cap, SIZE_MAX, 1), DCF_ENOMEM);
    CHECK(v == NULL && cap == 0);
    CHECK_INT(dcf_array_reserve((void **)&v, &cap, SIZE_MAX / 4, 8), DCF_ENOMEM);
    CHECK(v == NULL && cap == 0);
}

int main(void) {
    RUN(test_grow);
    RUN(test_overflow);
    TEST_DONE();
}
