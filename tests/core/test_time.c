/*
 * test_time.c -- RFC 3339 parsing and formatting.
 *
 * Valid forms are checked against instants computed independently (Python's
 * datetime); every invalid form against its error code and rule text; the
 * calendar against glibc's gmtime_r over random instants in years 1..9999 and
 * against itself day by day across the whole range; reads are checked to stay
 * within `len` by parsing from exact-size heap buffers (ASan) and from slices
 * of longer strings.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <time.h>

#include "deconflict/core.h"
#include "test.h"

static int parse(const char *s, dcf_time_t *t, const char **why) {
    return dcf_time_parse(s, strlen(s), t, why);
}

/* Parse `s` from a heap buffer of exactly strlen(s) bytes (no NUL). */
static int parse_exact(const char *s, dcf_time_t *t, const char **why) {
    size_t n = strlen(s);
    char *b = malloc(n ? n : 1);
    memcpy(b, s, n);
    int rc = dcf_time_parse(b, n, t, why);
    free(b);
    return rc;
}

static void expect_ok(const char *s, dcf_time_t want) {
    dcf_time_t t = -42;
    const char *why = "unset";
    int rc = parse_exact(s, &t, &why);
    CHECK_MSG(rc == DCF_OK, "%s: %s", s, why ? why : "(null)");
    CHECK_MSG(t == want, "%s: %lld != %lld", s, (long long)t, (long long)want);
    CHECK(why == NULL);
}

static void expect_err(const char *s, int want_rc, const char *want_why) {
    dcf_time_t t = 12345;
    const char *why = NULL;
    int rc = parse_exact(s, &t, &why);
    CHECK_MSG(rc == want_rc, "%s: rc %d, want %d (%s)", s, rc, want_rc, why ? why : "(null)");
    CHECK_MSG(why != NULL && strcmp(why, want_why) == 0, "%s: why \"%s\", want \"%s\"", s,
              why ? why : "(null)", want_why);
    CHECK_MSG(t == 12345, "%s: output changed on error", s);
}

static void test_valid_forms(void) {
    const dcf_time_t base = INT64_C(1795442700000000); /* 2026-11-23T14:05:00Z */
    expect_ok("1970-01-01T00:00:00Z", 0);
    expect_ok("2026-11-23T14:05:00Z", base);
    expect_ok("2026-11-23t14:05:00z", base);
    expect_ok("2026-11-23T14:05:00+00:00", base);
    expect_ok("2026-11-23T14:05:00-00:00", base);
    expect_ok("2026-11-23T16:05:00+02:00", base);
    expect_ok("2026-11-23T08:35:00-05:30", base);
    expect_ok("2026-11-24T13:04:00+22:59", base);
    expect_ok("2026-11-23T16:05:00.250+02:00", base + 250000);
    expect_ok("2026-11-24T08:00:00+02:00", INT64_C(1795500000000000));
    expect_ok("2024-02-29T23:59:59Z", INT64_C(1709251199000000));
    expect_ok("2000-02-29T00:00:00Z", INT64_C(951868800000000) - 86400 * DCF_USEC_PER_SEC);
    expect_ok("2000-03-01T00:00:00Z", INT64_C(951868800000000));
    expect_ok("1969-07-20T20:17:40Z", INT64_C(-14182940000000));
    expect_ok("0001-01-01T00:00:00Z", INT64_C(-62135596800000000));
    expect_ok("9999-12-31T23:59:59.999999Z", INT64_C(253402300799999999));
    /* Fractions of 1..9 digits. */
    static const char *fr[] = {"5",      "50",      "500",      "5000",     "50000",
                               "500000", "5000000", "50000000", "500000000"};
    for (size_t i = 0; i < 9; i++) {
        char s[64];
        snprintf(s, sizeof s, "2026-11-23T14:05:00.%sZ", fr[i]);
        expect_ok(s, base + 500000);
    }
    expect_ok("2026-11-23T14:05:00.000001Z", base + 1);
    expect_ok("2026-11-23T14:05:00.123456000Z", base + 123456);
    expect_ok("2026-11-23T14:05:00.999999+00:00", base + 999999);
    /* NULL why is allowed. */
    dcf_time_t t;
    CHECK_INT(dcf_time_parse("2026-11-23T14:05:00Z", 20, &t, NULL), DCF_OK);
    CHECK_INT(dcf_time_parse("2026-11-23T14:05:60Z", 20, &t, NULL), DCF_ERANGE);
}

static void test_invalid_forms(void) {
    expect_err("", DCF_EPARSE, "is empty");
    expect_err("2026-11-23T14:05:00.000000000000000000000000000000000000000000000000000Z",
               DCF_EPARSE, "is longer than 64 bytes");
    expect_err("26-11-23T14:05:00Z", DCF_EPARSE, "year must be 4 digits");
    expect_err("202X-11-23T14:05:00Z", DCF_EPARSE, "year must be 4 digits");
    expect_err("+2026-11-23T14:05:00Z", DCF_EPARSE, "year must be 4 digits");
    expect_err("2026/11/23T14:05:00Z", DCF_EPARSE, "'-' must follow the year");
    expect_err("2026-1-23T14:05:00Z", DCF_EPARSE, "month must be 2 digits");
    expect_err("2026-11-3T14:05:00Z", DCF_EPARSE, "day must be 2 digits");
    expect_err("2026-11-23 14:05:00Z", DCF_EPARSE, "'T' must separate the date and the time");
    expect_err("2026-11-23", DCF_EPARSE, "'T' must separate the date and the time");
    expect_err(" 2026-11-23T14:05:00Z", DCF_EPARSE, "year must be 4 digits");
    expect_err("2026-11-23T14:05:00Z ", DCF_EPARSE, "nothing may follow the offset");
    expect_err("2026-11-23T14:05:00Zjunk", DCF_EPARSE, "nothing may follow the offset");
    expect_err("2026-11-23T14:05:00+02:00:00", DCF_EPARSE, "nothing may follow the offset");
    expect_err("2026-11-23T4:05:00Z", DCF_EPARSE, "hour must be 2 digits");
    expect_err("2026-11-23T14-05:00Z", DCF_EPARSE, "':' must follow the hour");
    expect_err("2026-11-23T14:5:00Z", DCF_EPARSE, "minute must be 2 digits");
    expect_err("2026-11-23T14:05Z", DCF_EPARSE,
               "':' must follow the minute (seconds are required)");
    expect_err("2026-11-23T14:05:0Z", DCF_EPARSE, "second must be 2 digits");
    expect_err("2026-11-23T14:05:00", DCF_EPARSE, "offset is required (Z or +hh:mm or -hh:mm)");
    expect_err("2026-11-23T14:05:00.5", DCF_EPARSE, "offset is required (Z or +hh:mm or -hh:mm)");
    expect_err("2026-11-23T14:05:00UTC", DCF_EPARSE, "offset must be Z, +hh:mm or -hh:mm");
    expect_err("2026-11-23T14:05:00 Z", DCF_EPARSE, "offset must be Z, +hh:mm or -hh:mm");
    expect_err("2026-11-23T14:05:00+0200", DCF_EPARSE, "':' must follow the offset hour");
    expect_err("2026-11-23T14:05:00+2:00", DCF_EPARSE, "offset hour must be 2 digits");
    expect_err("2026-11-23T14:05:00+02:0", DCF_EPARSE, "offset minute must be 2 digits");
    expect_err("2026-11-23T14:05:00+02", DCF_EPARSE, "':' must follow the offset hour");
    expect_err("2026-11-23T14:05:00.Z", DCF_EPARSE, "fraction must have 1-9 digits");
    expect_err("2026-11-23T14:05:00.0000000000Z", DCF_EPARSE, "fraction must have 1-9 digits");
    expect_err("2026-11-23T14:05:00,5Z", DCF_EPARSE, "offset must be Z, +hh:mm or -hh:mm");
    /* Sub-microsecond digits must be zero. */
    expect_err("2026-11-23T14:05:00.0000001Z", DCF_ERANGE,
               "digits beyond microseconds must be zero");
    expect_err("2026-11-23T14:05:00.123456789Z", DCF_ERANGE,
               "digits beyond microseconds must be zero");
    /* Field ranges. */
    expect_err("0000-01-01T00:00:00Z", DCF_ERANGE, "year must be 0001-9999");
    expect_err("2026-00-23T14:05:00Z", DCF_ERANGE, "month must be 01-12");
    expect_err("2026-13-23T14:05:00Z", DCF_ERANGE, "month must be 01-12");
    expect_err("2026-11-00T14:05:00Z", DCF_ERANGE, "day must exist in its month (01-28/29/30/31)");
    expect_err("2026-11-31T14:05:00Z", DCF_ERANGE, "day must exist in its month (01-28/29/30/31)");
    expect_err("2026-01-32T14:05:00Z", DCF_ERANGE, "day must exist in its month (01-28/29/30/31)");
    expect_err("2023-02-29T00:00:00Z", DCF_ERANGE, "day must exist in its month (01-28/29/30/31)");
    expect_err("1900-02-29T00:00:00Z", DCF_ERANGE, "day must exist in its month (01-28/29/30/31)");
    expect_err("2024-02-30T00:00:00Z", DCF_ERANGE, "day must exist in its month (01-28/29/30/31)");
    expect_err("2026-04-31T00:00:00Z", DCF_ERANGE, "day must exist in its month (01-28/29/30/31)");
    expect_err("2026-11-23T24:00:00Z", DCF_ERANGE, "hour must be 00-23");
    expect_err("2026-11-23T14:60:00Z", DCF_ERANGE, "minute must be 00-59");
    expect_err("2016-12-31T23:59:60Z", DCF_ERANGE, "leap seconds are not supported");
    expect_err("2026-11-23T14:05:61Z", DCF_ERANGE, "second must be 00-59");
    expect_err("2026-11-23T14:05:00+24:00", DCF_ERANGE, "offset hour must be 00-23");
    expect_err("2026-11-23T14:05:00-02:60", DCF_ERANGE, "offset minute must be 00-59");
    /* The offset may carry an instant out of years 1..9999 UTC. */
    expect_err("0001-01-01T00:30:00+01:00", DCF_ERANGE, "instant must fall in years 0001-9999 UTC");
    expect_err("9999-12-31T23:30:00-01:00", DCF_ERANGE, "instant must fall in years 0001-9999 UTC");
    expect_ok("0001-01-01T01:00:00+01:00", INT64_C(-62135596800000000));
}

static void test_length_bounded(void) {
    const char *s = "2026-11-23T14:05:00Zjunk";
    dcf_time_t t = 0;
    const char *why = NULL;
    /* The slice ends before the junk: accepted. */
    CHECK_INT(dcf_time_parse(s, 20, &t, &why), DCF_OK);
    CHECK_INT(t, INT64_C(1795442700000000));
    /* Every shorter slice is rejected, never read past. */
    for (size_t n = 0; n < 20; n++) {
        char *b = malloc(n ? n : 1);
        memcpy(b, s, n);
        CHECK_MSG(dcf_time_parse(b, n, &t, &why) != DCF_OK, "prefix of %zu bytes accepted", n);
        free(b);
    }
    CHECK_INT(dcf_time_parse(s, 19, &t, &why), DCF_EPARSE);
    CHECK_STR(why, "offset is required (Z or +hh:mm or -hh:mm)");
    CHECK_INT(dcf_time_parse("2026-11-23T14:05:00+02:00", 24, &t, &why), DCF_EPARSE);
    CHECK_STR(why, "offset minute must be 2 digits");
    /* A NUL inside the length is just a bad byte. */
    CHECK_INT(dcf_time_parse("2026-11-23T14:05:00Z\0", 21, &t, &why), DCF_EPARSE);
    CHECK_STR(why, "nothing may follow the offset");
    CHECK_INT(dcf_time_parse(NULL, 0, &t, &why), DCF_EPARSE);
}

static void test_format(void) {
    char b[DCF_TIME_STRLEN];
    CHECK_STR(dcf_time_format(0, b), "1970-01-01T00:00:00Z");
    CHECK_STR(dcf_time_format(1, b), "1970-01-01T00:00:00.000001Z");
    CHECK_STR(dcf_time_format(-1, b), "1969-12-31T23:59:59.999999Z");
    CHECK_STR(dcf_time_format(INT64_C(1795442700250000), b), "2026-11-23T14:05:00.250000Z");
    CHECK_STR(dcf_time_format(INT64_C(1709251199000000), b), "2024-02-29T23:59:59Z");
    CHECK_STR(dcf_time_format(INT64_C(-62135596800000000), b), "0001-01-01T00:00:00Z");
    CHECK_STR(dcf_time_format(INT64_C(253402300799999999), b), "9999-12-31T23:59:59.999999Z");
    /* Outside the parseable range: still well formed and bounded, but rejected. */
    dcf_time_t t;
    CHECK_STR(dcf_time_format(INT64_C(-62135596800000001), b), "0000-12-31T23:59:59.999999Z");
    CHECK_INT(parse(b, &t, NULL), DCF_ERANGE);
    CHECK_STR(dcf_time_format(INT64_C(253402300800000000), b), "+010000-01-01T00:00:00Z");
    CHECK_INT(parse(b, &t, NULL), DCF_EPARSE);
    CHECK(strlen(dcf_time_format(INT64_MIN, b)) < DCF_TIME_STRLEN);
    CHECK(b[0] == '-');
    CHECK(strlen(dcf_time_format(INT64_MAX, b)) < DCF_TIME_STRLEN);
    CHECK(b[0] == '+');
}

static uint64_t rng = 0x7131e5eedu;
static uint64_t rnd(void) {
    uint64_t z = (rng += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Random instants in years 1..9999: format agrees with gmtime_r and parses back. */
static void test_round_trip_random(void) {
    const int64_t lo = INT64_C(-62135596800000000), hi = INT64_C(253402300799999999);
    long bad = 0;
    for (int i = 0; i < 200000; i++) {
        dcf_time_t t = lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
        if (i % 2)
            t -= t % DCF_USEC_PER_SEC; /* whole seconds take the short form */
        char b[DCF_TIME_STRLEN], want[64];
        dcf_time_format(t, b);
        time_t secs = (time_t)(t >= 0 ? t / DCF_USEC_PER_SEC : -((-t + 999999) / 1000000));
        struct tm tm;
        gmtime_r(&secs, &tm);
        snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        dcf_time_t back = 0;
        if (strncmp(b, want, 19) != 0 || parse(b, &back, NULL) != DCF_OK || back != t) {
            if (bad++ < 5)
                fprintf(stderr, "round trip: %lld -> %s (gmtime %s) -> %lld\n", (long long)t, b,
                        want, (long long)back);
        }
    }
    CHECK_INT(bad, 0);
}

/* Every day from 0001-01-01 to 9999-12-31: consecutive day numbers format to
 * consecutive calendar dates, and each parses back. */
static void test_every_day(void) {
    const int64_t day_us = 86400 * DCF_USEC_PER_SEC;
    dcf_time_t t = INT64_C(-62135596800000000) + 12 * 3600 * DCF_USEC_PER_SEC;
    int y = 1, m = 1, d = 1;
    long bad = 0, n = 0;
    static const int dim[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    while (y <= 9999) {
        char b[DCF_TIME_STRLEN], want[64];
        snprintf(want, sizeof want, "%04d-%02d-%02dT12:00:00Z", y, m, d);
        dcf_time_format(t, b);
        dcf_time_t back = 0;
        if (strcmp(b, want) != 0 || parse(b, &back, NULL) != DCF_OK || back != t) {
            if (bad++ < 5)
                fprintf(stderr, "day %ld: %s != %s\n", n, b, want);
        }
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        int last = m == 2 && leap ? 29 : dim[m];
        if (++d > last) {
            d = 1;
            if (++m > 12) {
                m = 1;
                y++;
            }
        }
        t += day_us;
        n++;
    }
    CHECK_INT(bad, 0);
    CHECK_INT(n, 3652059); /* days in years 1..9999 */
}

int main(void) {
    RUN(test_valid_forms);
    RUN(test_invalid_forms);
    RUN(test_length_bounded);
    RUN(test_format);
    RUN(test_round_trip_random);
    RUN(test_every_day);
    TEST_DONE();
}
