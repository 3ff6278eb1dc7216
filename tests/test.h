/*
 * test.h -- the tiny harness every C unit test uses.
 *
 * A test file defines static functions and calls them from main() through
 * RUN(fn).  CHECK* record a failure with file and line and carry on, so one
 * run reports every broken assertion; main ends with TEST_DONE(), which
 * prints "N passed, N failed" and returns non-zero on any failure.  Only
 * for tests: it keeps counters in file-static variables.
 */
#ifndef DCF_TEST_H
#define DCF_TEST_H

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long dcf_test_pass_, dcf_test_fail_;

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (cond) {                                                                                \
            dcf_test_pass_++;                                                                      \
        } else {                                                                                   \
            dcf_test_fail_++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK(cond) CHECK_MSG(cond, "%s", "")
#define CHECK_INT(a, b)                                                                            \
    CHECK_MSG((long long)(a) == (long long)(b), "%lld != %lld", (long long)(a), (long long)(b))
#define CHECK_STR(a, b) CHECK_MSG(strcmp((a), (b)) == 0, "\"%s\" != \"%s\"", (a), (b))
#define CHECK_NEAR(a, b, tol)                                                                      \
    CHECK_MSG(fabs((double)(a) - (double)(b)) <= (tol), "%.9g vs %.9g (tol %g)", (double)(a),      \
              (double)(b), (double)(tol))

/* A seeded xorshift64 generator, so every randomized test is reproducible:
 * the same seed gives the same sequence on every machine.  The state must
 * start non-zero. */
static inline uint64_t test_rand(uint64_t *state) {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

/* Uniform double in [lo, hi) from test_rand. */
static inline double test_unif(uint64_t *state, double lo, double hi) {
    return lo + (hi - lo) * (double)(test_rand(state) >> 11) / 9007199254740992.0;
}

#define RUN(fn)                                                                                    \
    do {                                                                                           \
        long f0_ = dcf_test_fail_;                                                                 \
        fn();                                                                                      \
        fprintf(stderr, "%s %s\n", dcf_test_fail_ == f0_ ? "ok  " : "FAIL", #fn);                  \
    } while (0)

#define TEST_DONE()                                                                                \
    do {                                                                                           \
        printf("%ld passed, %ld failed\n", dcf_test_pass_, dcf_test_fail_);                        \
        return dcf_test_fail_ ? 1 : 0;                                                             \
    } while (0)

#endif /* DCF_TEST_H */
