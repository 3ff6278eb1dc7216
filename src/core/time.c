/*
 * time.c -- RFC 3339 date-times to and from dcf_time_t (UTC microseconds).
 *
 * Every instant that enters deconflict as text comes through dcf_time_parse:
 * operation time windows, API queries, rule files.  It accepts exactly the
 * RFC 3339 "date-time" production
 *
 *     YYYY-MM-DD ("T" | "t") HH:MM:SS [ "." 1*9DIGIT ] ("Z" | "z" | ("+" | "-") hh:mm)
 *
 * and nothing else: no whitespace, no missing offset, no leap second, no
 * fraction finer than a microsecond unless its extra digits are zero (the
 * parser never moves an instant silently).  It reads at most `len` bytes and
 * never looks past them, so callers may hand it a slice of a larger buffer.
 *
 * INVARIANTS.  A successful parse yields an instant whose UTC calendar year is
 * 0001..9999, so dcf_time_format of it is again accepted by dcf_time_parse and
 * names the same instant (the round trip the tests and fuzz_time check).  The
 * offset is applied before that range check: "0001-01-01T00:30:00+01:00" lies
 * in year 0 UTC and is rejected.
 *
 * HOW THE CALENDAR WORKS.  Day numbers count from 0001-01-01 (proleptic
 * Gregorian).  Going forward, a date's day number is 365 days per elapsed
 * year plus one per elapsed leap year (every 4th, not every 100th, every
 * 400th) plus the days before its month.  Going back, the day number is cut
 * into whole 400-year cycles (146097 days), then centuries (36524 days, at
 * most 3 -- the 4th century of a cycle ends with the leap day of a 400th
 * year), then 4-year blocks (1461 days), then years (365 days, at most 3).
 * Both directions use only integer arithmetic; there is no timegm, locale or
 * global state, so every function here may be called from any thread.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "deconflict/core.h"

#define SECS_PER_DAY INT64_C(86400)
/* Days from 0001-01-01 to 1970-01-01. */
#define DAYS_0001_TO_1970 INT64_C(719162)
#define DAYS_PER_400Y     INT64_C(146097)

/* The instants a parse may produce: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z
 * (10000-01-01 is day 2932897 after 1970-01-01). */
#define TIME_MIN (-DAYS_0001_TO_1970 * SECS_PER_DAY * DCF_USEC_PER_SEC)
#define TIME_MAX (INT64_C(2932897) * SECS_PER_DAY * DCF_USEC_PER_SEC - 1)

/* Days before the first of each month in a common year. */
static const int days_before_month[13] = {0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};

static bool is_leap(int64_t y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m) {
    static const int dim[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m];
}

/* Day number of y-m-d counted from 0001-01-01 (day 0).  y >= 1. */
static int64_t days_from_civil(int64_t y, int m, int d) {
    int64_t py = y - 1; /* whole years elapsed */
    int64_t days = 365 * py + py / 4 - py / 100 + py / 400;
    days += days_before_month[m] + (m > 2 && is_leap(y) ? 1 : 0);
    return days + d - 1;
}

/* Inverse of days_from_civil for any day number (negative = before year 1). */
static void civil_from_days(int64_t n, int64_t *y, int *m, int *d) {
    int64_t cycles = n / DAYS_PER_400Y;
    int64_t r = n % DAYS_PER_400Y;
    if (r < 0) {
        r += DAYS_PER_400Y;
        cycles--;
    }
    int64_t c100 = r / 36524;
    if (c100 > 3)
        c100 = 3;
    r -= c100 * 36524;
    int64_t c4 = r / 1461;
    r -= c4 * 1461;
    int64_t c1 = r / 365;
    if (c1 > 3)
        c1 = 3;
    r -= c1 * 365; /* now the day of the year, 0-based */
    int64_t year = 1 + 400 * cycles + 100 * c100 + 4 * c4 + c1;
    int month = 12;
    while (month > 1) {
        int first = days_before_month[month] + (month > 2 && is_leap(year) ? 1 : 0);
        if (r >= first) {
            r -= first;
            break;
        }
        month--;
    }
    *y = year;
    *m = month;
    *d = (int)r + 1;
}

/* A cursor over the input that never reads past its end. */
typedef struct {
    const char *s;
    size_t len, pos;
} cursor_t;

static bool at_end(const cursor_t *c) {
    return c->pos >= c->len;
}

static bool peek_is(const cursor_t *c, char ch) {
    return !at_end(c) && c->s[c->pos] == ch;
}

/* Read exactly n decimal digits into *out.  False (nothing consumed) if the
 * next n bytes are not all digits. */
static bool digits(cursor_t *c, int n, int *out) {
    int v = 0;
    if (c->len - c->pos < (size_t)n)
        return false;
    for (int i = 0; i < n; i++) {
        char ch = c->s[c->pos + (size_t)i];
        if (ch < '0' || ch > '9')
            return false;
        v = v * 10 + (ch - '0');
    }
    c->pos += (size_t)n;
    *out = v;
    return true;
}

/* Consume `ch` if it is next. */
static bool expect(cursor_t *c, char ch) {
    if (!peek_is(c, ch))
        return false;
    c->pos++;
    return true;
}

/* A broken rule: which error, and the sentence that names it. */
#define FAIL(code, text)                                                                           \
    do {                                                                                           \
        rc = (code);                                                                               \
        reason = (text);                                                                           \
        goto out;                                                                                  \
    } while (0)

int dcf_time_parse(const char *s, size_t len, dcf_time_t *out, const char **why) {
    cursor_t c = {s, len, 0};
    int year, month, day, hour, minute, second, oh = 0, om = 0, sign = 0;
    int64_t usec = 0;
    int rc = DCF_OK;
    const char *reason = NULL;

    if (s == NULL || len == 0)
        FAIL(DCF_EPARSE, "is empty");
    if (len > DCF_TIME_INPUT_MAX)
        FAIL(DCF_EPARSE, "is longer than 64 bytes");

    if (!digits(&c, 4, &year))
        FAIL(DCF_EPARSE, "year must be 4 digits");
    if (!expect(&c, '-'))
        FAIL(DCF_EPARSE, "'-' must follow the year");
    if (!digits(&c, 2, &month))
        FAIL(DCF_EPARSE, "month must be 2 digits");
    if (!expect(&c, '-'))
        FAIL(DCF_EPARSE, "'-' must follow the month");
    if (!digits(&c, 2, &day))
        FAIL(DCF_EPARSE, "day must be 2 digits");
    if (!expect(&c, 'T') && !expect(&c, 't'))
        FAIL(DCF_EPARSE, "'T' must separate the date and the time");
    if (!digits(&c, 2, &hour))
        FAIL(DCF_EPARSE, "hour must be 2 digits");
    if (!expect(&c, ':'))
        FAIL(DCF_EPARSE, "':' must follow the hour");
    if (!digits(&c, 2, &minute))
        FAIL(DCF_EPARSE, "minute must be 2 digits");
    if (!expect(&c, ':'))
        FAIL(DCF_EPARSE, "':' must follow the minute (seconds are required)");
    if (!digits(&c, 2, &second))
        FAIL(DCF_EPARSE, "second must be 2 digits");

    if (expect(&c, '.')) {
        int n = 0;
        while (!at_end(&c) && c.s[c.pos] >= '0' && c.s[c.pos] <= '9') {
            int dgt = c.s[c.pos] - '0';
            if (n < 6)
                usec = usec * 10 + dgt;
            else if (dgt != 0 && n < 9)
                FAIL(DCF_ERANGE, "digits beyond microseconds must be zero");
            n++;
            c.pos++;
        }
        if (n == 0 || n > 9)
            FAIL(DCF_EPARSE, "fraction must have 1-9 digits");
        for (; n < 6; n++)
            usec *= 10;
    }

    if (at_end(&c))
        FAIL(DCF_EPARSE, "offset is required (Z or +hh:mm or -hh:mm)");
    if (expect(&c, 'Z') || expect(&c, 'z')) {
        sign = 0;
    } else if (expect(&c, '+') || expect(&c, '-')) {
        sign = c.s[c.pos - 1] == '+' ? 1 : -1;
        if (!digits(&c, 2, &oh))
            FAIL(DCF_EPARSE, "offset hour must be 2 digits");
        if (!expect(&c, ':'))
            FAIL(DCF_EPARSE, "':' must follow the offset hour");
        if (!digits(&c, 2, &om))
            FAIL(DCF_EPARSE, "offset minute must be 2 digits");
    } else {
        FAIL(DCF_EPARSE, "offset must be Z, +hh:mm or -hh:mm");
    }
    if (!at_end(&c))
        FAIL(DCF_EPARSE, "nothing may follow the offset");

    if (year < 1)
        FAIL(DCF_ERANGE, "year must be 0001-9999");
    if (month < 1 || month > 12)
        FAIL(DCF_ERANGE, "month must be 01-12");
    if (day < 1 || day > days_in_month(year, month))
        FAIL(DCF_ERANGE, "day must exist in its month (01-28/29/30/31)");
    if (hour > 23)
        FAIL(DCF_ERANGE, "hour must be 00-23");
    if (minute > 59)
        FAIL(DCF_ERANGE, "minute must be 00-59");
    if (second == 60)
        FAIL(DCF_ERANGE, "leap seconds are not supported");
    if (second > 59)
        FAIL(DCF_ERANGE, "second must be 00-59");
    if (oh > 23)
        FAIL(DCF_ERANGE, "offset hour must be 00-23");
    if (om > 59)
        FAIL(DCF_ERANGE, "offset minute must be 00-59");

    int64_t days = days_from_civil(year, month, day) - DAYS_0001_TO_1970;
    int64_t secs = days * SECS_PER_DAY + hour * 3600 + minute * 60 + second;
    secs -= sign * (oh * 3600 + om * 60);
    dcf_time_t t = secs * DCF_USEC_PER_SEC + usec;
    if (t < TIME_MIN || t > TIME_MAX)
        FAIL(DCF_ERANGE, "instant must fall in years 0001-9999 UTC");
    *out = t;
out:
    if (why != NULL)
        *why = reason;
    return rc;
}

char *dcf_time_format(dcf_time_t t, char buf[DCF_TIME_STRLEN]) {
    /* Floor division, so instants before 1970 split into a day and a
     * non-negative time of day. */
    int64_t secs = t / DCF_USEC_PER_SEC, usec = t % DCF_USEC_PER_SEC;
    if (usec < 0) {
        usec += DCF_USEC_PER_SEC;
        secs--;
    }
    int64_t days = secs / SECS_PER_DAY, sod = secs % SECS_PER_DAY;
    if (sod < 0) {
        sod += SECS_PER_DAY;
        days--;
    }
    int64_t year;
    int month, day;
    civil_from_days(days + DAYS_0001_TO_1970, &year, &month, &day);

    /* Years outside 0000..9999 (only from instants no parse produced) are
     * written in the ISO 8601 expanded form with a sign; the text then still
     * fits DCF_TIME_STRLEN for every int64 instant, but dcf_time_parse
     * rejects it. */
    char ybuf[16], tmp[64];
    if (year >= 0 && year <= 9999)
        snprintf(ybuf, sizeof ybuf, "%04d", (int)year);
    else
        snprintf(ybuf, sizeof ybuf, "%+07lld", (long long)year);
    int h = (int)(sod / 3600), mi = (int)(sod / 60 % 60), sec = (int)(sod % 60);
    int n;
    if (usec != 0)
        n = snprintf(tmp, sizeof tmp, "%s-%02d-%02dT%02d:%02d:%02d.%06dZ", ybuf, month, day, h, mi,
                     sec, (int)usec);
    else
        n = snprintf(tmp, sizeof tmp, "%s-%02d-%02dT%02d:%02d:%02dZ", ybuf, month, day, h, mi, sec);
    /* At most 30 characters: a 7-character year is the widest int64 gives. */
    if (n < 0 || n >= DCF_TIME_STRLEN)
        dcf_panic("time text of %d bytes", n);
    memcpy(buf, tmp, (size_t)n + 1);
    return buf;
}

dcf_time_t dcf_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (dcf_time_t)ts.tv_sec * DCF_USEC_PER_SEC + ts.tv_nsec / 1000;
}
