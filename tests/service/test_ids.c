/*
 * test_ids.c -- the service's object ids (svc_random_id, service.c): the
 * prefix and then exactly SVC_ID_CHARS base64url characters; ids made later
 * compare greater as strings (the first 8 characters are the creation time
 * in milliseconds, in an alphabet in ASCII order), so the store's indexes on
 * them grow at one edge; the other 14 characters are random (no repeat in
 * 100,000, and each character position takes many values).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "service/service_int.h"
#include "test.h"

#define N_IDS 100000

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void pause_ms(long ms) {
    struct timespec ts = {.tv_sec = 0, .tv_nsec = ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_ids(void) {
    static char ids[N_IDS][32];
    static char *sorted[N_IDS];
    const char *b64 = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

    /* Well-formed: prefix, then 22 characters of the base64url alphabet. */
    for (size_t i = 0; i < N_IDS; i++) {
        svc_random_id("op-", ids[i], sizeof ids[i]);
        sorted[i] = ids[i];
    }
    size_t bad = 0;
    for (size_t i = 0; i < N_IDS; i++)
        if (strncmp(ids[i], "op-", 3) != 0 || strlen(ids[i]) != 3 + SVC_ID_CHARS ||
            strspn(ids[i] + 3, b64) != SVC_ID_CHARS)
            bad++;
    CHECK(bad == 0);

    /* Unique, and in creation order: an id made at least 2 ms after another
     * sorts after it (ids within the same millisecond are in random order,
     * which is why the test compares across pauses). */
    qsort(sorted, N_IDS, sizeof sorted[0], cmp);
    size_t dup = 0;
    for (size_t i = 1; i < N_IDS; i++)
        dup += strcmp(sorted[i - 1], sorted[i]) == 0;
    CHECK(dup == 0);
    char prev[32], next[32];
    size_t out_of_order = 0;
    svc_random_id("cf-", prev, sizeof prev);
    for (int i = 0; i < 50; i++) {
        pause_ms(2);
        svc_random_id("cf-", next, sizeof next);
        out_of_order += strcmp(prev, next) >= 0;
        memcpy(prev, next, sizeof prev);
    }
    CHECK(out_of_order == 0);

    /* The random part varies in every position. */
    for (int pos = 8; pos < SVC_ID_CHARS; pos++) {
        int seen[128] = {0}, distinct = 0;
        for (size_t i = 0; i < 4096; i++) {
            unsigned char c = (unsigned char)ids[i][3 + pos];
            if (!seen[c]++)
                distinct++;
        }
        /* 4,096 draws of 6 random bits leave all 64 values seen with
         * overwhelming probability; a constant or low-entropy position
         * shows far fewer. */
        CHECK(distinct == 64);
    }

    /* A truncating buffer never overflows and stays terminated. */
    char small[8];
    svc_random_id("op-", small, sizeof small);
    CHECK(strlen(small) == sizeof small - 1);
}

int main(void) {
    RUN(test_ids);
    TEST_DONE();
}
