/*
 * test_pack.c -- the binary form of an operation (dcf_operation_pack /
 * dcf_operation_unpack, src/geo/model.c).
 *
 * Round trips: fixed-seed random operations (polygons of 3..50 vertices,
 * circles, 1..4 volumes, each disclosure, separations, exigent with reasons
 * up to 500 bytes, values at the edges of their ranges) must unpack to an
 * equal operation and pack again to the same bytes; each is also checked to
 * be valid for the JSON reader, so the generator cannot drift from the model.
 *
 * Refusals: every strict prefix and one trailing byte of valid buffers, and
 * each rule of the layout broken in a buffer written here field by field (an
 * independent writer, itself checked against dcf_operation_pack, which
 * computes the trailing check with libsodium on its own).  Every single byte
 * change of a valid buffer must be refused (the check); with the check
 * recomputed after the change, it must either be refused by a field rule or
 * give a buffer that is its own canonical encoding (and an operation the
 * JSON reader takes).
 * A reason that is not UTF-8 has no JSON form, so it must be refused too.
 * The bytes of one fixed operation are pinned.  On every error *out must
 * keep the sentinel it was given.
 */
#include <float.h>
#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>

#include "deconflict/geo.h"
#include "test.h"
#include "test_json.h"

/* The instants a buffer may hold: years 0001..9999 (as dcf_time_parse). */
#define T_MIN     INT64_C(-62135596800000000)
#define T_MAX     INT64_C(253402300799999999)
#define T_0600    INT64_C(1795500000000000) /* 2026-11-24T06:00:00Z */
#define SEP_T_MAX ((dcf_time_t)DCF_MAX_SEP_T_S * DCF_USEC_PER_SEC)
#define N_RANDOM  400
#define MAX_VERTS 50
#define BUF_MAX   16384

static dcf_operation_t sentinel_op;
#define SENTINEL (&sentinel_op)

/* The layout's trailing check, computed here from its definition: SipHash-2-4
 * (crypto_shorthash) of buf[0..len - 8) under a key of 16 zero bytes, as
 * little-endian u64 in the last 8 bytes. */
#define CHECK_BYTES 8
static void fix_check(unsigned char *buf, size_t len) {
    static const unsigned char key[crypto_shorthash_KEYBYTES] = {0};
    unsigned char h[crypto_shorthash_BYTES];
    if (len < CHECK_BYTES)
        return;
    crypto_shorthash(h, buf, len - CHECK_BYTES, key);
    memcpy(buf + len - CHECK_BYTES, h, CHECK_BYTES); /* SipHash's output is little-endian */
}

/* ---------------------------------------------------- random operations -- */

static uint64_t rng = 0x7061636b5eedu;

static uint64_t rnd(uint64_t n) {
    return test_rand(&rng) % n;
}

static double unif(double lo, double hi) {
    return test_unif(&rng, lo, hi);
}

static const char ID_CHARS[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-";
static const char LOWER_DIGIT[] = "abcdefghijklmnopqrstuvwxyz0123456789";
static const char SLUG_CHARS[] = "abcdefghijklmnopqrstuvwxyz0123456789-";
static const char KIND_CHARS[] = "abcdefghijklmnopqrstuvwxyz0123456789._-";

/* n random bytes: the first from `first`, the rest from `rest`. */
static void rand_word(char *dst, size_t n, const char *first, const char *rest) {
    for (size_t i = 0; i < n; i++) {
        const char *set = i == 0 ? first : rest;
        dst[i] = set[rnd(strlen(set))];
    }
    dst[n] = '\0';
}

/* 1..500 bytes of printable ASCII and two-byte UTF-8 (never split), now and
 * then exactly 500. */
static char *rand_reason(void) {
    size_t want = rnd(4) == 0 ? DCF_REASON_MAX : 1 + rnd(DCF_REASON_MAX);
    char *s = malloc(want + 1);
    size_t n = 0;
    while (n < want) {
        if (want - n >= 2 && rnd(8) == 0) {
            s[n++] = (char)0xc3; /* U+00E9 */
            s[n++] = (char)0xa9;
        } else {
            s[n++] = (char)(' ' + rnd(95));
        }
    }
    s[n] = '\0';
    return s;
}

/* Edges first, then anything in [lo, hi]. */
static double rand_in(double lo, double hi) {
    switch (rnd(12)) {
    case 0:
        return lo;
    case 1:
        return hi;
    default:
        return unif(lo, hi);
    }
}

static double wrap_lng(double lng) {
    while (lng > 180.0)
        lng -= 360.0;
    while (lng < -180.0)
        lng += 360.0;
    return lng;
}

/* A star-shaped polygon of 3..MAX_VERTS vertices around a random centre
 * (angles sorted with jitter, radii varied), either orientation, crossing
 * the antimeridian now and then; or a circle anywhere, poles included. */
static dcf_footprint_t *rand_footprint(void) {
    dcf_footprint_t *f = NULL;
    if (rnd(3) == 0) {
        dcf_latlng_t c = {rand_in(-90, 90), rand_in(-180, 180)};
        double r = rnd(10) == 0 ? DCF_MAX_RADIUS_M : unif(0.5, DCF_MAX_RADIUS_M);
        return dcf_footprint_circle(c, r, "", &f, NULL) == DCF_OK ? f : NULL;
    }
    for (int attempt = 0; attempt < 20; attempt++) {
        size_t n = 3 + rnd(MAX_VERTS - 2);
        dcf_latlng_t v[MAX_VERTS], c = {unif(-70, 70), rnd(6) == 0 ? 179.9 : unif(-180, 180)};
        double r0 = unif(0.002, 0.8);
        bool reverse = rnd(2);
        for (size_t i = 0; i < n; i++) {
            double a = 2 * M_PI * ((double)i + unif(0.1, 0.9)) / (double)n;
            double r = r0 * unif(0.6, 1.0);
            size_t k = reverse ? n - 1 - i : i;
            v[k].lat = c.lat + r * sin(a);
            v[k].lng = wrap_lng(c.lng + r * cos(a) / cos(c.lat * M_PI / 180));
        }
        dcf_geo_limits_t lim;
        dcf_geo_limits_default(&lim);
        if (dcf_footprint_polygon(&lim, v, n, "", &f, NULL) == DCF_OK)
            return f;
    }
    return NULL;
}

/* A time window inside years 0001..9999, the edges included now and then. */
static void rand_window(dcf_time_t *t0, dcf_time_t *t1) {
    uint64_t span = (uint64_t)(T_MAX - T_MIN);
    switch (rnd(8)) {
    case 0:
        *t0 = T_MIN;
        *t1 = T_MIN + 1;
        return;
    case 1:
        *t0 = T_MAX - 1;
        *t1 = T_MAX;
        return;
    case 2:
        *t0 = T_MIN;
        *t1 = T_MAX;
        return;
    case 3: /* whole seconds near now */
        *t0 = T_0600 + (dcf_time_t)rnd(86400 * 365) * DCF_USEC_PER_SEC;
        *t1 = *t0 + (dcf_time_t)(1 + rnd(86400)) * DCF_USEC_PER_SEC;
        return;
    default:
        *t0 = T_MIN + (dcf_time_t)(test_rand(&rng) % span);
        *t1 = *t0 + 1 + (dcf_time_t)(test_rand(&rng) % (uint64_t)(T_MAX - *t0));
        return;
    }
}

/* A random operation that every reader must accept (NULL if the footprint
 * generator gave up, which the caller counts). */
static dcf_operation_t *rand_op(void) {
    dcf_operation_t *op = calloc(1, sizeof *op);
    size_t nv = 1 + rnd(4);
    if (rnd(8) != 0)
        rand_word(op->id, 1 + (rnd(4) == 0 ? DCF_ID_MAX - 1 : rnd(DCF_ID_MAX)), ID_CHARS, ID_CHARS);
    if (rnd(8) != 0)
        rand_word(op->party, 1 + (rnd(4) == 0 ? DCF_PARTY_MAX - 1 : rnd(DCF_PARTY_MAX)),
                  LOWER_DIGIT, SLUG_CHARS);
    rand_word(op->kind, 1 + (rnd(4) == 0 ? DCF_KIND_MAX - 1 : rnd(DCF_KIND_MAX)), LOWER_DIGIT,
              KIND_CHARS);
    op->priority = (int32_t)(rnd(5) == 0 ? (rnd(2) ? 1000 : 0) : rnd(1001));
    if (rnd(3) != 0) {
        op->min_sep.horizontal_m = rand_in(0, DCF_MAX_SEP_H_M);
        op->min_sep.vertical_m = rand_in(0, DCF_MAX_SEP_V_M);
        op->min_sep.time_us = rnd(8) == 0 ? SEP_T_MAX : (dcf_time_t)rnd((uint64_t)SEP_T_MAX + 1);
    }
    op->disclosure = (dcf_disclosure_t)rnd(3);
    if (rnd(3) == 0) {
        op->exigent = true;
        op->exigent_reason = rand_reason();
    }
    op->volumes = calloc(nv, sizeof *op->volumes);
    for (size_t i = 0; i < nv; i++) {
        dcf_volume_t *v = &op->volumes[i];
        if ((v->footprint = rand_footprint()) == NULL) {
            dcf_operation_free(op);
            return NULL;
        }
        op->n_volumes = i + 1;
        v->alt_lo = rnd(8) == 0 ? DCF_MIN_ALT_M : unif(DCF_MIN_ALT_M, DCF_MAX_ALT_M - 1);
        v->alt_hi = rnd(8) == 0 ? DCF_MAX_ALT_M : unif(v->alt_lo, DCF_MAX_ALT_M);
        if (!(v->alt_hi > v->alt_lo))
            v->alt_hi = nextafter(v->alt_lo, INFINITY);
        rand_window(&v->t_start, &v->t_end);
    }
    return op;
}

/* The JSON reader accepts `op` and reads it back equal: the generator makes
 * only operations of the model. */
static bool json_accepts(const dcf_operation_t *op) {
    json_t *j = dcf_operation_to_json(op);
    dcf_operation_t *back = NULL;
    dcf_geo_error_t err = {{0}, {0}};
    bool ok = j != NULL && dcf_operation_from_json(j, NULL, 0, "", &back, &err) == DCF_OK &&
              dcf_operation_equal(op, back);
    if (!ok)
        fprintf(stderr, "JSON reader refuses a generated operation at %s: %s\n", err.pointer,
                err.rule);
    dcf_operation_free(back);
    json_decref(j);
    return ok;
}

/* ----------------------------------------------------------- helpers -- */

static unsigned char *pack_ok(const dcf_operation_t *op, size_t *len) {
    unsigned char *p = NULL;
    *len = 0;
    CHECK_INT(dcf_operation_pack(op, &p, len), DCF_OK);
    return p;
}

/* Unpack buf[0..len) expecting `want`; on error *out must keep the
 * sentinel, on success packing again must give the same bytes.  Returns
 * whether the result was as wanted. */
static bool expect_unpack(const void *buf, size_t len, const dcf_geo_limits_t *lim, unsigned flags,
                          int want, const char *what) {
    dcf_operation_t *out = SENTINEL;
    int rc = dcf_operation_unpack(buf, len, lim, flags, &out);
    bool ok = rc == want;
    if (rc != DCF_OK) {
        ok = ok && out == SENTINEL;
        CHECK_MSG(out == SENTINEL, "%s: *out changed on error %d", what, rc);
    } else {
        unsigned char *again = NULL;
        size_t n = 0;
        ok = ok && out != SENTINEL && out != NULL &&
             dcf_operation_pack(out, &again, &n) == DCF_OK && n == len &&
             memcmp(again, buf, len) == 0;
        free(again);
        if (out != SENTINEL)
            dcf_operation_free(out);
    }
    CHECK_MSG(ok, "%s: unpack gave %d (%s), wanted %d (%s)", what, rc, dcf_strerror(rc), want,
              dcf_strerror(want));
    return ok;
}

/* ------------------------------------------------------ round trips -- */

static void test_round_trip_random(void) {
    long ops = 0, polygons = 0, circles = 0, exigent = 0, gave_up = 0;
    size_t longest = 0;
    bool disclosures[3] = {false, false, false};
    for (int i = 0; i < N_RANDOM; i++) {
        dcf_operation_t *op = rand_op();
        if (op == NULL) {
            gave_up++;
            continue;
        }
        ops++;
        exigent += op->exigent;
        disclosures[op->disclosure] = true;
        for (size_t k = 0; k < op->n_volumes; k++) {
            bool circle = dcf_footprint_kind(op->volumes[k].footprint) == DCF_FOOTPRINT_CIRCLE;
            circles += circle;
            polygons += !circle;
        }
        CHECK(json_accepts(op));

        size_t len = 0;
        unsigned char *p = pack_ok(op, &len);
        if (len > longest)
            longest = len;
        dcf_operation_t *back = SENTINEL;
        int rc = p != NULL ? dcf_operation_unpack(p, len, NULL, 0, &back) : DCF_ENOMEM;
        CHECK_MSG(rc == DCF_OK, "op %d: unpack refused its own pack: %s", i, dcf_strerror(rc));
        if (rc == DCF_OK) {
            CHECK(dcf_operation_equal(op, back));
            size_t len2 = 0;
            unsigned char *p2 = pack_ok(back, &len2);
            CHECK(p2 != NULL && len2 == len && memcmp(p, p2, len) == 0);
            free(p2);
            dcf_operation_free(back);
        }
        /* The strict flags pass when id and party are there, fail when not. */
        unsigned strict = DCF_PARSE_REQUIRE_ID | DCF_PARSE_REQUIRE_PARTY;
        bool complete = op->id[0] != '\0' && op->party[0] != '\0';
        if (p != NULL)
            expect_unpack(p, len, NULL, strict, complete ? DCF_OK : DCF_EINVAL, "strict flags");
        free(p);
        dcf_operation_free(op);
    }
    CHECK_MSG(gave_up == 0, "%ld operations could not be generated", gave_up);
    CHECK(polygons > 100 && circles > 100 && exigent > 50);
    CHECK(disclosures[0] && disclosures[1] && disclosures[2]);
    fprintf(stderr,
            "pack: %ld operations (%ld polygons, %ld circles, %ld exigent), longest %zu B\n", ops,
            polygons, circles, exigent, longest);
}

/* A fixed operation, each of its fields at a known value, through the JSON
 * reader: the bytes are pinned so a layout change cannot pass unnoticed. */
static const char *FIXED_OP =
    "{'id': 'g:1', 'party': 'green', 'kind': 'drone', 'priority': 7,"
    " 'separation': {'horizontal_m': 0.5, 'vertical_m': 2, 'time_s': 3},"
    " 'disclosure': 'full', 'exigent': true, 'exigent_reason': 'medevac',"
    " 'volumes': ["
    "  {'footprint': {'type': 'circle', 'center': {'lat': 1, 'lng': -2}, 'radius_m': 100},"
    "   'altitude': {'lower_m': 0, 'upper_m': 100},"
    "   'time': {'start': '1970-01-01T00:00:00Z', 'end': '1970-01-01T00:00:01Z'}}]}";

static void test_fixed_bytes(void) {
    static const unsigned char want[] = {
        'D',  'C',  'O',  'P',  1,    1,    2,    0,    /* magic, version, flags, disc, 0 */
        7,    0,    0,    0,                            /* priority */
        0,    0,    0,    0,    0,    0,    0xe0, 0x3f, /* 0.5 */
        0,    0,    0,    0,    0,    0,    0x00, 0x40, /* 2.0 */
        0xc0, 0xc6, 0x2d, 0,    0,    0,    0,    0,    /* 3,000,000 us */
        3,    'g',  ':',  '1',  5,    'g',  'r',  'e',  'e', 'n', /* id, party */
        5,    'd',  'r',  'o',  'n',  'e',                        /* kind */
        7,    0,    'm',  'e',  'd',  'e',  'v',  'a',  'c',      /* reason */
        1,    0,    0,    0,                                      /* n_volumes */
        2,                                                        /* circle */
        0,    0,    0,    0,    0,    0,    0,    0,              /* alt_lo 0 */
        0,    0,    0,    0,    0,    0,    0x59, 0x40,           /* alt_hi 100 */
        0,    0,    0,    0,    0,    0,    0,    0,              /* t_start 0 */
        0x40, 0x42, 0x0f, 0,    0,    0,    0,    0,              /* t_end 1,000,000 */
        0,    0,    0,    0,    0,    0,    0xf0, 0x3f,           /* lat 1 */
        0,    0,    0,    0,    0,    0,    0x00, 0xc0,           /* lng -2 */
        0,    0,    0,    0,    0,    0,    0x59, 0x40,           /* radius 100 */
        0x05, 0x60, 0x14, 0xa7, 0x98, 0x72, 0x98, 0x67,           /* check */
    };
    json_t *j = test_json_load(FIXED_OP);
    dcf_operation_t *op = NULL;
    CHECK_INT(dcf_operation_from_json(j, NULL, 0, "", &op, NULL), DCF_OK);
    json_decref(j);
    if (op == NULL)
        return;
    size_t len = 0;
    unsigned char *p = pack_ok(op, &len);
    CHECK_INT(len, sizeof want);
    CHECK(p != NULL && len == sizeof want && memcmp(p, want, len) == 0);
    for (size_t k = 0; p != NULL && k < len && k < sizeof want; k++)
        if (p[k] != want[k])
            fprintf(stderr, "fixed bytes: byte %zu is %#04x, pinned %#04x\n", k, p[k], want[k]);
    expect_unpack(want, sizeof want, NULL, DCF_PARSE_REQUIRE_ID | DCF_PARSE_REQUIRE_PARTY, DCF_OK,
                  "fixed bytes");
    free(p);
    dcf_operation_free(op);
}

/* --------------------------------------------- truncation and damage -- */

/* A few packed random operations (with polygons, circles and reasons). */
#define N_SAMPLES 12
typedef struct {
    unsigned char *p[N_SAMPLES];
    size_t len[N_SAMPLES];
    size_t n;
} samples_t;

static void samples_make(samples_t *s, uint64_t seed) {
    uint64_t saved = rng;
    rng = seed;
    s->n = 0;
    while (s->n < N_SAMPLES) {
        dcf_operation_t *op = rand_op();
        if (op == NULL)
            continue;
        s->p[s->n] = pack_ok(op, &s->len[s->n]);
        if (s->p[s->n] != NULL)
            s->n++;
        dcf_operation_free(op);
    }
    rng = saved;
}

static void samples_free(samples_t *s) {
    for (size_t i = 0; i < s->n; i++)
        free(s->p[i]);
}

static void test_truncated_and_trailing(void) {
    samples_t s;
    samples_make(&s, 0x7472756e63617465u);
    long bad = 0, tried = 0;
    for (size_t i = 0; i < s.n; i++) {
        for (size_t k = 0; k < s.len[i]; k++, tried++) {
            /* A copy of exactly k bytes, so ASan sees any read past it. */
            unsigned char *cut = malloc(k ? k : 1);
            memcpy(cut, s.p[i], k);
            dcf_operation_t *out = SENTINEL;
            int rc = dcf_operation_unpack(k ? cut : NULL, k, NULL, 0, &out);
            if (rc != DCF_EINVAL || out != SENTINEL) {
                if (bad++ < 5)
                    fprintf(stderr, "sample %zu cut to %zu of %zu bytes: %d\n", i, k, s.len[i], rc);
            }
            free(cut);
        }
        static const unsigned char tails[] = {0, 1, 0x80, 0xff};
        for (size_t t = 0; t < sizeof tails; t++) {
            unsigned char *longer = malloc(s.len[i] + 1);
            memcpy(longer, s.p[i], s.len[i]);
            longer[s.len[i]] = tails[t];
            expect_unpack(longer, s.len[i] + 1, NULL, 0, DCF_EINVAL, "one trailing byte");
            free(longer);
        }
        expect_unpack(s.p[i], s.len[i], NULL, 0, DCF_OK, "the sample itself");
    }
    CHECK_MSG(bad == 0, "%ld of %ld strict prefixes were not refused with DCF_EINVAL", bad, tried);
    samples_free(&s);
}

/* Each byte of a few buffers changed in several ways: refused (EINVAL or,
 * for a count grown past its limit, ELIMIT, with *out untouched), or
 * accepted only as its own canonical encoding. */
static void test_byte_flips(void) {
    static const unsigned char masks[] = {0x01, 0x02, 0x08, 0x10, 0x40, 0x80, 0xff};
    samples_t s;
    samples_make(&s, 0x666c697073u);
    long accepted = 0, refused = 0, wrong = 0, no_json = 0, json_refused = 0;
    for (size_t i = 0; i < 6 && i < s.n; i++) {
        unsigned char *m = malloc(s.len[i]);
        for (size_t k = 0; k < s.len[i]; k++) {
            for (size_t x = 0; x <= sizeof masks; x++) {
                memcpy(m, s.p[i], s.len[i]);
                m[k] = x < sizeof masks ? m[k] ^ masks[x] : 0; /* flips, then zeroed */
                if (x == sizeof masks && s.p[i][k] == 0)
                    continue;
                dcf_operation_t *out = SENTINEL;
                int rc = dcf_operation_unpack(m, s.len[i], NULL, 0, &out);
                if (rc != DCF_EINVAL || out != SENTINEL) {
                    if (wrong++ < 5)
                        fprintf(stderr, "sample %zu byte %zu: changed bytes not refused (%d)\n", i,
                                k, rc);
                    if (rc == DCF_OK)
                        dcf_operation_free(out);
                }
                /* The same change with a matching check: the field rules. */
                if (k + CHECK_BYTES >= s.len[i])
                    continue;
                fix_check(m, s.len[i]);
                out = SENTINEL;
                rc = dcf_operation_unpack(m, s.len[i], NULL, 0, &out);
                if (rc == DCF_OK) {
                    unsigned char *again = NULL;
                    size_t n = 0;
                    if (dcf_operation_pack(out, &again, &n) != DCF_OK || n != s.len[i] ||
                        memcmp(again, m, n) != 0) {
                        if (wrong++ < 5)
                            fprintf(stderr, "sample %zu byte %zu ^ %#x: not canonical\n", i, k,
                                    x < sizeof masks ? masks[x] : s.p[i][k]);
                    }
                    free(again);
                    /* What the binary reader takes, the JSON reader takes
                     * too (to_json failing is counted apart: see
                     * test_reason_utf8). */
                    json_t *j = dcf_operation_to_json(out);
                    if (j == NULL)
                        no_json++;
                    else if (!json_accepts(out))
                        json_refused++;
                    json_decref(j);
                    dcf_operation_free(out);
                    accepted++;
                } else {
                    if ((rc != DCF_EINVAL && rc != DCF_ELIMIT) || out != SENTINEL) {
                        if (wrong++ < 5)
                            fprintf(stderr, "sample %zu byte %zu: rc %d, out %s\n", i, k, rc,
                                    out == SENTINEL ? "kept" : "changed");
                    }
                    refused++;
                }
            }
        }
        free(m);
    }
    CHECK_MSG(wrong == 0, "%ld changed buffers misbehaved", wrong);
    CHECK_MSG(json_refused == 0, "%ld accepted buffers are refused by the JSON reader",
              json_refused);
    /* Low mantissa bits of coordinates and altitudes are free to change
     * once the check matches: that is what the check is for. */
    CHECK(accepted > 100 && refused > 100);
    CHECK_MSG(no_json == 0, "%ld accepted buffers have no JSON form", no_json);
    fprintf(stderr,
            "pack: byte changes: all refused as they are; with the check recomputed %ld "
            "accepted (canonical), %ld refused\n",
            accepted, refused);
    samples_free(&s);
}

/* ------------------------------------------------ hand-made buffers -- */

/* A writer of the layout, independent of model.c, so each rule can be
 * broken on its own. */
typedef struct {
    unsigned char b[BUF_MAX];
    size_t n;
} wb_t;

static void put(wb_t *w, const void *p, size_t n) {
    if (w->n + n > sizeof w->b) {
        fprintf(stderr, "test buffer too small\n");
        abort();
    }
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void put_u(wb_t *w, uint64_t v, size_t width) {
    for (size_t i = 0; i < width; i++) {
        unsigned char c = (unsigned char)(v >> (8 * i));
        put(w, &c, 1);
    }
}

static void put_f64(wb_t *w, double d) {
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    put_u(w, bits, 8);
}

/* One volume as written: kind, altitudes, times, then the circle or the
 * declared vertex count and `nv` vertices. */
typedef struct {
    unsigned kind;
    double alt_lo, alt_hi;
    int64_t t0, t1;
    double lat, lng, radius;
    uint32_t n;
    size_t nv;
    dcf_latlng_t v[8];
} hvol_t;

typedef struct {
    char magic[4];
    unsigned version, flags, disclosure, reserved;
    uint32_t priority;
    double sep_h, sep_v;
    int64_t sep_t;
    const char *id, *party, *kind;
    size_t id_len, party_len, kind_len; /* SIZE_MAX: strlen */
    const char *reason;
    size_t reason_len;  /* written when flags & 1 */
    size_t reason_decl; /* when non-zero, the length written instead of reason_len */
    uint32_t n_volumes;
    size_t n_written;
    hvol_t vol[3];
} hop_t;

static const dcf_latlng_t SQUARE[4] = {{35.0, 36.0}, {35.0, 36.1}, {35.1, 36.1}, {35.1, 36.0}};

/* The valid operation every refusal starts from: exigent, a circle and a
 * square. */
static hop_t base_op(void) {
    hop_t h = {
        .magic = {'D', 'C', 'O', 'P'},
        .version = 1,
        .flags = 1,
        .disclosure = 1,
        .priority = 50,
        .sep_h = 5000,
        .sep_v = 300,
        .sep_t = 600 * DCF_USEC_PER_SEC,
        .id = "blue-1",
        .party = "blue",
        .kind = "air-patrol",
        .id_len = SIZE_MAX,
        .party_len = SIZE_MAX,
        .kind_len = SIZE_MAX,
        .reason = "casualty evacuation",
        .reason_len = 19,
        .n_volumes = 2,
        .n_written = 2,
    };
    h.vol[0] = (hvol_t){.kind = 2,
                        .alt_lo = 0,
                        .alt_hi = 120,
                        .t0 = T_0600,
                        .t1 = T_0600 + 3600 * DCF_USEC_PER_SEC,
                        .lat = 35.0,
                        .lng = 36.0,
                        .radius = 5000};
    h.vol[1] = (hvol_t){.kind = 1,
                        .alt_lo = 100,
                        .alt_hi = 3000,
                        .t0 = T_0600,
                        .t1 = T_0600 + 7200 * DCF_USEC_PER_SEC,
                        .n = 4,
                        .nv = 4};
    memcpy(h.vol[1].v, SQUARE, sizeof SQUARE);
    return h;
}

static void put_str(wb_t *w, const char *s, size_t len) {
    size_t n = len == SIZE_MAX ? strlen(s) : len;
    put_u(w, n, 1);
    put(w, s, n);
}

static void encode(const hop_t *h, wb_t *w) {
    w->n = 0;
    put(w, h->magic, 4);
    put_u(w, h->version, 1);
    put_u(w, h->flags, 1);
    put_u(w, h->disclosure, 1);
    put_u(w, h->reserved, 1);
    put_u(w, h->priority, 4);
    put_f64(w, h->sep_h);
    put_f64(w, h->sep_v);
    put_u(w, (uint64_t)h->sep_t, 8);
    put_str(w, h->id, h->id_len);
    put_str(w, h->party, h->party_len);
    put_str(w, h->kind, h->kind_len);
    if (h->flags & 1) {
        put_u(w, h->reason_decl ? h->reason_decl : h->reason_len, 2);
        put(w, h->reason, h->reason_len);
    }
    put_u(w, h->n_volumes, 4);
    for (size_t i = 0; i < h->n_written; i++) {
        const hvol_t *v = &h->vol[i];
        put_u(w, v->kind, 1);
        put_f64(w, v->alt_lo);
        put_f64(w, v->alt_hi);
        put_u(w, (uint64_t)v->t0, 8);
        put_u(w, (uint64_t)v->t1, 8);
        if (v->kind == 2) {
            put_f64(w, v->lat);
            put_f64(w, v->lng);
            put_f64(w, v->radius);
        } else {
            put_u(w, v->n, 4);
            for (size_t k = 0; k < v->nv; k++) {
                put_f64(w, v->v[k].lat);
                put_f64(w, v->v[k].lng);
            }
        }
    }
    put_u(w, 0, CHECK_BYTES);
    fix_check(w->b, w->n);
}

static wb_t wb; /* big: static, one test at a time */

static bool expect_hop(const hop_t *h, const dcf_geo_limits_t *lim, unsigned flags, int want,
                       const char *what) {
    encode(h, &wb);
    return expect_unpack(wb.b, wb.n, lim, flags, want, what);
}

/* The base buffer is what dcf_operation_pack writes for the same
 * operation read from JSON. */
static void test_writer_matches_pack(void) {
    static const char *BASE_JSON =
        "{'id': 'blue-1', 'party': 'blue', 'kind': 'air-patrol', 'priority': 50,"
        " 'separation': {'horizontal_m': 5000, 'vertical_m': 300, 'time_s': 600},"
        " 'disclosure': 'overlap', 'exigent': true, 'exigent_reason': 'casualty evacuation',"
        " 'volumes': ["
        "  {'footprint': {'type': 'circle', 'center': {'lat': 35.0, 'lng': 36.0},"
        "   'radius_m': 5000}, 'altitude': {'lower_m': 0, 'upper_m': 120},"
        "   'time': {'start': '2026-11-24T06:00:00Z', 'end': '2026-11-24T07:00:00Z'}},"
        "  {'footprint': {'type': 'polygon', 'vertices': [{'lat': 35.0, 'lng': 36.0},"
        "    {'lat': 35.0, 'lng': 36.1}, {'lat': 35.1, 'lng': 36.1}, {'lat': 35.1, 'lng': 36.0}]},"
        "   'altitude': {'lower_m': 100, 'upper_m': 3000},"
        "   'time': {'start': '2026-11-24T06:00:00Z', 'end': '2026-11-24T08:00:00Z'}}]}";
    json_t *j = test_json_load(BASE_JSON);
    dcf_operation_t *op = NULL;
    CHECK_INT(dcf_operation_from_json(j, NULL, DCF_PARSE_REQUIRE_ID | DCF_PARSE_REQUIRE_PARTY, "",
                                      &op, NULL),
              DCF_OK);
    json_decref(j);
    if (op == NULL)
        return;
    hop_t h = base_op();
    encode(&h, &wb);
    size_t len = 0;
    unsigned char *p = pack_ok(op, &len);
    CHECK(p != NULL && len == wb.n && memcmp(p, wb.b, len) == 0);
    dcf_operation_t *back = SENTINEL;
    CHECK_INT(dcf_operation_unpack(wb.b, wb.n, NULL, 0, &back), DCF_OK);
    if (back != SENTINEL) {
        CHECK(dcf_operation_equal(op, back));
        dcf_operation_free(back);
    }
    /* A valid body under a check that does not match it. */
    for (size_t k = wb.n - CHECK_BYTES; k < wb.n; k++) {
        wb.b[k] ^= 0x20;
        expect_unpack(wb.b, wb.n, NULL, 0, DCF_EINVAL, "check does not match");
        wb.b[k] ^= 0x20;
    }
    free(p);
    dcf_operation_free(op);
}

static void test_refuse_header(void) {
    hop_t h;
    static const char *bad_magic[] = {"DCOQ", "dcop", "PODC", "\0\0\0\0"};
    for (size_t i = 0; i < 4; i++) {
        h = base_op();
        memcpy(h.magic, bad_magic[i], 4);
        expect_hop(&h, NULL, 0, DCF_EINVAL, "wrong magic");
    }
    static const unsigned versions[] = {0, 2, 0x81, 0xff};
    for (size_t i = 0; i < 4; i++) {
        h = base_op();
        h.version = versions[i];
        expect_hop(&h, NULL, 0, DCF_EINVAL, "wrong version");
    }
    static const unsigned reserved[] = {1, 0x80, 0xff};
    for (size_t i = 0; i < 3; i++) {
        h = base_op();
        h.reserved = reserved[i];
        expect_hop(&h, NULL, 0, DCF_EINVAL, "reserved byte");
    }
    /* Unknown flag bits, with and without the exigent bit (the reason is
     * written whenever bit 0 is set). */
    static const unsigned flags[] = {2, 3, 0x80, 0x81, 0xff};
    for (size_t i = 0; i < 5; i++) {
        h = base_op();
        h.flags = flags[i];
        expect_hop(&h, NULL, 0, DCF_EINVAL, "unknown flag bit");
    }
    for (unsigned d = 0; d <= 2; d++) {
        h = base_op();
        h.disclosure = d;
        expect_hop(&h, NULL, 0, DCF_OK, "disclosure 0..2");
    }
    static const unsigned disc[] = {3, 4, 0x80, 0xff};
    for (size_t i = 0; i < 4; i++) {
        h = base_op();
        h.disclosure = disc[i];
        expect_hop(&h, NULL, 0, DCF_EINVAL, "disclosure > 2");
    }
}

static void test_refuse_numbers(void) {
    hop_t h;
    /* Priority is a signed 32-bit integer in 0..1000. */
    static const uint32_t prio_ok[] = {0, 1000};
    static const uint32_t prio_bad[] = {1001, 0xffffffffu, 0x7fffffffu, 0x80000000u};
    for (size_t i = 0; i < 2; i++) {
        h = base_op();
        h.priority = prio_ok[i];
        expect_hop(&h, NULL, 0, DCF_OK, "priority at its limits");
    }
    for (size_t i = 0; i < 4; i++) {
        h = base_op();
        h.priority = prio_bad[i];
        expect_hop(&h, NULL, 0, DCF_EINVAL, "priority out of range");
    }

    const double nan = NAN, inf = INFINITY;
    const double bad_h[] = {-1, -DBL_MIN, nextafter(DCF_MAX_SEP_H_M, inf), nan, inf, -inf};
    const double bad_v[] = {-1, -DBL_MIN, nextafter(DCF_MAX_SEP_V_M, inf), nan, inf, -inf};
    for (size_t i = 0; i < 6; i++) {
        h = base_op();
        h.sep_h = bad_h[i];
        expect_hop(&h, NULL, 0, DCF_EINVAL, "separation horizontal out of range");
        h = base_op();
        h.sep_v = bad_v[i];
        expect_hop(&h, NULL, 0, DCF_EINVAL, "separation vertical out of range");
    }
    h = base_op();
    h.sep_h = DCF_MAX_SEP_H_M;
    h.sep_v = DCF_MAX_SEP_V_M;
    h.sep_t = SEP_T_MAX;
    expect_hop(&h, NULL, 0, DCF_OK, "separations at their maxima");
    h.sep_h = h.sep_v = 0;
    h.sep_t = 0;
    expect_hop(&h, NULL, 0, DCF_OK, "no separation");
    const int64_t bad_t[] = {-1, INT64_MIN, SEP_T_MAX + 1, INT64_MAX};
    for (size_t i = 0; i < 4; i++) {
        h = base_op();
        h.sep_t = bad_t[i];
        expect_hop(&h, NULL, 0, DCF_EINVAL, "separation time out of range");
    }

    /* Altitudes: in [-1000, 100000], finite, hi > lo. */
    const double bad_alt[] = {
        nextafter(DCF_MIN_ALT_M, -inf), nextafter(DCF_MAX_ALT_M, inf), nan, inf, -inf, -1e300};
    for (size_t i = 0; i < 6; i++) {
        for (size_t v = 0; v < 2; v++) {
            h = base_op();
            h.vol[v].alt_lo = bad_alt[i];
            expect_hop(&h, NULL, 0, DCF_EINVAL, "alt_lo out of range");
            h = base_op();
            h.vol[v].alt_hi = bad_alt[i];
            expect_hop(&h, NULL, 0, DCF_EINVAL, "alt_hi out of range");
        }
    }
    h = base_op();
    h.vol[0].alt_lo = DCF_MIN_ALT_M;
    h.vol[0].alt_hi = DCF_MAX_ALT_M;
    expect_hop(&h, NULL, 0, DCF_OK, "altitudes at their limits");
    h.vol[0].alt_lo = h.vol[0].alt_hi;
    expect_hop(&h, NULL, 0, DCF_EINVAL, "alt_hi == alt_lo");
    h.vol[0].alt_lo = 500;
    h.vol[0].alt_hi = 400;
    expect_hop(&h, NULL, 0, DCF_EINVAL, "alt_hi < alt_lo");
    h = base_op();
    h.vol[1].alt_lo = -0.0;
    h.vol[1].alt_hi = 0.0;
    expect_hop(&h, NULL, 0, DCF_EINVAL, "alt_hi 0 over alt_lo -0");

    /* Circles: centre in range, 0 < radius <= 1000 km. */
    const double bad_lat[] = {nextafter(90, inf), nextafter(-90, -inf), nan, inf};
    const double bad_lng[] = {nextafter(180, inf), nextafter(-180, -inf), nan, -inf};
    for (size_t i = 0; i < 4; i++) {
        h = base_op();
        h.vol[0].lat = bad_lat[i];
        expect_hop(&h, NULL, 0, DCF_EINVAL, "circle latitude out of range");
        h = base_op();
        h.vol[0].lng = bad_lng[i];
        expect_hop(&h, NULL, 0, DCF_EINVAL, "circle longitude out of range");
        h = base_op();
        h.vol[1].v[2].lat = bad_lat[i];
        expect_hop(&h, NULL, 0, DCF_EINVAL, "vertex latitude out of range");
        h = base_op();
        h.vol[1].v[1].lng = bad_lng[i];
        expect_hop(&h, NULL, 0, DCF_EINVAL, "vertex longitude out of range");
    }
    const double bad_r[] = {0, -0.0, -1, nextafter(DCF_MAX_RADIUS_M, inf), nan, inf};
    for (size_t i = 0; i < 6; i++) {
        h = base_op();
        h.vol[0].radius = bad_r[i];
        expect_hop(&h, NULL, 0, DCF_EINVAL, "radius out of range");
    }
    const double good_r[] = {DCF_MAX_RADIUS_M, DBL_MIN};
    for (size_t i = 0; i < 2; i++) {
        h = base_op();
        h.vol[0].radius = good_r[i];
        expect_hop(&h, NULL, 0, DCF_OK, "radius at its limits");
    }
    h = base_op();
    h.vol[0].lat = 90;
    h.vol[0].lng = -180;
    expect_hop(&h, NULL, 0, DCF_OK, "circle at the pole and antimeridian");
}

static void test_refuse_times(void) {
    hop_t h;
    const int64_t bad[] = {T_MIN - 1, T_MAX + 1, INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < 4; i++) {
        for (size_t v = 0; v < 2; v++) {
            h = base_op();
            h.vol[v].t0 = bad[i];
            expect_hop(&h, NULL, 0, DCF_EINVAL, "t_start outside years 0001..9999");
            h = base_op();
            h.vol[v].t1 = bad[i];
            expect_hop(&h, NULL, 0, DCF_EINVAL, "t_end outside years 0001..9999");
        }
    }
    h = base_op();
    h.vol[0].t0 = T_MIN;
    h.vol[0].t1 = T_MAX;
    expect_hop(&h, NULL, 0, DCF_OK, "window of years 0001..9999");
    h.vol[0].t0 = T_MAX;
    expect_hop(&h, NULL, 0, DCF_EINVAL, "end == start");
    h = base_op();
    h.vol[1].t1 = h.vol[1].t0 - 1;
    expect_hop(&h, NULL, 0, DCF_EINVAL, "end < start");
    h = base_op();
    h.vol[1].t1 = h.vol[1].t0 + 1;
    expect_hop(&h, NULL, 0, DCF_OK, "a one-microsecond window");
}

static void test_refuse_strings(void) {
    hop_t h;
    const unsigned strict = DCF_PARSE_REQUIRE_ID | DCF_PARSE_REQUIRE_PARTY;
    char longest[80];
    memset(longest, 'a', sizeof longest);

    static const char *bad_id[] = {"a b", "a/b", "blue#1", "\xc3\xa9", "a\x7f"};
    for (size_t i = 0; i < 5; i++) {
        h = base_op();
        h.id = bad_id[i];
        expect_hop(&h, NULL, 0, DCF_EINVAL, "id syntax");
    }
    h = base_op();
    h.id = longest;
    h.id_len = DCF_ID_MAX;
    expect_hop(&h, NULL, strict, DCF_OK, "id of 64 bytes");
    h.id_len = DCF_ID_MAX + 1;
    expect_hop(&h, NULL, 0, DCF_EINVAL, "id of 65 bytes");
    h.id = "ab\0c";
    h.id_len = 4;
    expect_hop(&h, NULL, 0, DCF_EINVAL, "NUL inside the id");
    h = base_op();
    h.id = "";
    expect_hop(&h, NULL, 0, DCF_OK, "empty id without DCF_PARSE_REQUIRE_ID");
    expect_hop(&h, NULL, DCF_PARSE_REQUIRE_ID, DCF_EINVAL, "empty id with DCF_PARSE_REQUIRE_ID");
    expect_hop(&h, NULL, DCF_PARSE_REQUIRE_PARTY, DCF_OK, "empty id, party required");

    static const char *bad_party[] = {"Blue", "-blue", "blue_1", "blue.1", "bl ue"};
    for (size_t i = 0; i < 5; i++) {
        h = base_op();
        h.party = bad_party[i];
        expect_hop(&h, NULL, 0, DCF_EINVAL, "party syntax");
    }
    h = base_op();
    h.party = longest;
    h.party_len = DCF_PARTY_MAX;
    expect_hop(&h, NULL, strict, DCF_OK, "party of 32 bytes");
    h.party_len = DCF_PARTY_MAX + 1;
    expect_hop(&h, NULL, 0, DCF_EINVAL, "party of 33 bytes");
    h = base_op();
    h.party = "";
    expect_hop(&h, NULL, 0, DCF_OK, "empty party without DCF_PARSE_REQUIRE_PARTY");
    expect_hop(&h, NULL, DCF_PARSE_REQUIRE_PARTY, DCF_EINVAL,
               "empty party with DCF_PARSE_REQUIRE_PARTY");
    expect_hop(&h, NULL, DCF_PARSE_REQUIRE_ID, DCF_OK, "empty party, id required");

    static const char *bad_kind[] = {"", "Drone", "_drone", ".drone", "dr:one", "dr one"};
    for (size_t i = 0; i < 6; i++) {
        h = base_op();
        h.kind = bad_kind[i];
        expect_hop(&h, NULL, 0, DCF_EINVAL, "kind syntax (empty included)");
    }
    h = base_op();
    h.kind = longest;
    h.kind_len = DCF_KIND_MAX;
    expect_hop(&h, NULL, 0, DCF_OK, "kind of 32 bytes");
    h.kind_len = DCF_KIND_MAX + 1;
    expect_hop(&h, NULL, 0, DCF_EINVAL, "kind of 33 bytes");

    /* A string length running past the end of the buffer. */
    h = base_op();
    h.flags = 0;
    h.n_volumes = 0;
    h.n_written = 0;
    h.kind_len = 0; /* written as 0; the length byte is patched below */
    encode(&h, &wb);
    wb.n -= 4; /* drop n_volumes */
    wb.b[wb.n - 1] = 200;
    expect_unpack(wb.b, wb.n, NULL, 0, DCF_EINVAL, "kind longer than the buffer");

    /* The reason: 1..500 bytes without NUL, present only when exigent. */
    char reason[DCF_REASON_MAX + 2];
    memset(reason, 'r', sizeof reason);
    h = base_op();
    h.reason = reason;
    h.reason_len = DCF_REASON_MAX;
    expect_hop(&h, NULL, 0, DCF_OK, "reason of 500 bytes");
    h.reason_len = DCF_REASON_MAX + 1;
    expect_hop(&h, NULL, 0, DCF_EINVAL, "reason of 501 bytes");
    h.reason_len = 0;
    expect_hop(&h, NULL, 0, DCF_EINVAL, "empty reason");
    h.reason = "med\0vac";
    h.reason_len = 7;
    expect_hop(&h, NULL, 0, DCF_EINVAL, "NUL inside the reason");
    h = base_op();
    h.reason_decl = 0xffff;
    expect_hop(&h, NULL, 0, DCF_EINVAL, "reason length past the end");
    h = base_op();
    h.flags = 0;
    expect_hop(&h, NULL, 0, DCF_OK, "not exigent: no reason");
}

static void test_refuse_volumes(void) {
    hop_t h;
    dcf_geo_limits_t big;
    dcf_geo_limits_default(&big);
    big.max_volumes = SIZE_MAX;
    big.max_vertices = SIZE_MAX;

    h = base_op();
    h.n_volumes = 0;
    h.n_written = 0;
    expect_hop(&h, NULL, 0, DCF_EINVAL, "no volumes");
    h = base_op();
    h.n_volumes = 3;
    expect_hop(&h, NULL, 0, DCF_EINVAL, "fewer volumes than declared");
    h = base_op();
    h.n_volumes = 1;
    expect_hop(&h, NULL, 0, DCF_EINVAL, "more volumes than declared");
    /* A huge count must be refused before anything is allocated for it. */
    h = base_op();
    h.n_volumes = 0xffffffffu;
    expect_hop(&h, NULL, 0, DCF_ELIMIT, "2^32-1 volumes, default limits");
    expect_hop(&h, &big, 0, DCF_EINVAL, "2^32-1 volumes, no limit");

    static const unsigned bad_kind[] = {0, 3, 0x81, 0xff};
    for (size_t i = 0; i < 4; i++) {
        h = base_op();
        h.vol[0].kind = bad_kind[i];
        encode(&h, &wb);
        expect_unpack(wb.b, wb.n, NULL, 0, DCF_EINVAL, "unknown footprint kind");
    }

    /* Polygons: 3 or more vertices, a valid ring. */
    for (uint32_t n = 0; n < 3; n++) {
        h = base_op();
        h.vol[1].n = n;
        h.vol[1].nv = n;
        expect_hop(&h, NULL, 0, DCF_EINVAL, "polygon of fewer than 3 vertices");
    }
    h = base_op();
    h.vol[1].n = 3;
    h.vol[1].nv = 3;
    expect_hop(&h, NULL, 0, DCF_OK, "triangle");
    h = base_op();
    h.vol[1].n = 5;
    expect_hop(&h, NULL, 0, DCF_EINVAL, "more vertices declared than written");
    h = base_op();
    h.vol[1].n = 3;
    expect_hop(&h, NULL, 0, DCF_EINVAL, "fewer vertices declared than written");
    h = base_op();
    h.vol[1].n = 0xffffffffu;
    expect_hop(&h, NULL, 0, DCF_ELIMIT, "2^32-1 vertices, default limits");
    expect_hop(&h, &big, 0, DCF_EINVAL, "2^32-1 vertices, no limit");

    static const dcf_latlng_t bowtie[4] = {{35.0, 36.0}, {35.1, 36.1}, {35.0, 36.1}, {35.1, 36.0}};
    static const dcf_latlng_t dup[4] = {{35.0, 36.0}, {35.0, 36.1}, {35.0, 36.1}, {35.1, 36.0}};
    static const dcf_latlng_t closed[5] = {
        {35.0, 36.0}, {35.0, 36.1}, {35.1, 36.1}, {35.1, 36.0}, {35.0, 36.0}};
    /* On one meridian, a geodesic: no area (one parallel would have some). */
    static const dcf_latlng_t line[3] = {{35.0, 36.0}, {35.05, 36.0}, {35.1, 36.0}};
    struct {
        const dcf_latlng_t *v;
        size_t n;
        const char *what;
    } shapes[] = {{bowtie, 4, "self-intersecting polygon"},
                  {dup, 4, "repeated vertex"},
                  {closed, 5, "closing vertex repeated"},
                  {line, 3, "zero area"}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        h = base_op();
        h.vol[1].n = (uint32_t)shapes[i].n;
        h.vol[1].nv = shapes[i].n;
        memcpy(h.vol[1].v, shapes[i].v, shapes[i].n * sizeof *shapes[i].v);
        expect_hop(&h, NULL, 0, DCF_EINVAL, shapes[i].what);
    }

    /* A volume refused after one was built: that one is freed (ASan). */
    h = base_op();
    h.vol[1].t1 = h.vol[1].t0;
    expect_hop(&h, NULL, 0, DCF_EINVAL, "second volume bad");
}

static void test_limits(void) {
    hop_t h = base_op();
    dcf_geo_limits_t lim;
    dcf_geo_limits_default(&lim);
    lim.max_vertices = 4;
    lim.max_volumes = 2;
    expect_hop(&h, &lim, 0, DCF_OK, "at the limits");
    lim.max_vertices = 3;
    expect_hop(&h, &lim, 0, DCF_ELIMIT, "one vertex over");
    lim.max_vertices = 4;
    lim.max_volumes = 1;
    expect_hop(&h, &lim, 0, DCF_ELIMIT, "one volume over");

    /* Three volumes against the default limit of 64 and a limit of 2. */
    h.n_volumes = 3;
    h.n_written = 3;
    h.vol[2] = h.vol[0];
    expect_hop(&h, NULL, 0, DCF_OK, "three volumes");
    lim.max_volumes = 2;
    expect_hop(&h, &lim, 0, DCF_ELIMIT, "three volumes over a limit of 2");
}

/* The reason is text: the JSON form (dcf_operation_to_json) can only carry
 * UTF-8, and the JSON reader never produces anything else, so a buffer
 * whose reason is not UTF-8 is damaged and must be refused like any other
 * field the JSON reader would refuse. */
static void test_reason_utf8(void) {
    static const struct {
        const char *s;
        const char *what;
    } bad[] = {
        {"\xff\xfe", "reason bytes 0xff 0xfe"},
        {"medevac \xc3", "reason ending inside a UTF-8 sequence"},
        {"\xc0\xaf", "overlong UTF-8 in the reason"},
        {"\xed\xa0\x80", "UTF-16 surrogate in the reason"},
        {"\x80", "UTF-8 continuation byte alone"},
    };
    hop_t h = base_op();
    h.reason = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x81";
    h.reason_len = strlen(h.reason);
    expect_hop(&h, NULL, 0, DCF_OK, "UTF-8 reason");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        h = base_op();
        h.reason = bad[i].s;
        h.reason_len = strlen(bad[i].s);
        expect_hop(&h, NULL, 0, DCF_EINVAL, bad[i].what);
    }
}

/* Nothing but the header, or nothing at all. */
static void test_tiny_buffers(void) {
    static const unsigned char empty[1] = {0};
    expect_unpack(empty, 0, NULL, 0, DCF_EINVAL, "empty buffer");
    expect_unpack(NULL, 0, NULL, 0, DCF_EINVAL, "NULL, 0");
    expect_unpack("DCOP", 4, NULL, 0, DCF_EINVAL, "magic alone");
    expect_unpack("DCOP\x01\x00\x00\x00", 8, NULL, 0, DCF_EINVAL, "header alone");
}

int main(void) {
    RUN(test_round_trip_random);
    RUN(test_fixed_bytes);
    RUN(test_truncated_and_trailing);
    RUN(test_byte_flips);
    RUN(test_writer_matches_pack);
    RUN(test_refuse_header);
    RUN(test_refuse_numbers);
    RUN(test_refuse_times);
    RUN(test_refuse_strings);
    RUN(test_refuse_volumes);
    RUN(test_limits);
    RUN(test_reason_utf8);
    RUN(test_tiny_buffers);
    TEST_DONE();
}
