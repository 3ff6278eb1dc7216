/*
 * test_rules.c -- the separation rule table.
 *
 * Lookups are symmetric and fall back to the default row; the effective
 * minima are the component-wise maximum of the row and what each operation
 * asks for; max_for_kind and max are checked against a brute-force scan of a
 * random table (including replaced rows, which may lower a maximum); the JSON
 * loader gives the exact pointer for each malformed input.
 */
#include <jansson.h>
#include <stdbool.h>

#include "deconflict/geo.h"
#include "test.h"
#include "test_json.h"

static dcf_sep_t S(double h, double v, double t_s) {
    return (dcf_sep_t){h, v, (dcf_time_t)(t_s * 1e6)};
}

static bool sep_eq(dcf_sep_t a, dcf_sep_t b) {
    return a.horizontal_m == b.horizontal_m && a.vertical_m == b.vertical_m &&
           a.time_us == b.time_us;
}

#define CHECK_SEP(got, want)                                                                       \
    CHECK_MSG(sep_eq(got, want), "(%g, %g, %lld) != (%g, %g, %lld)", (got).horizontal_m,           \
              (got).vertical_m, (long long)(got).time_us, (want).horizontal_m, (want).vertical_m,  \
              (long long)(want).time_us)

static void test_lookup(void) {
    dcf_rules_t *r = NULL;
    dcf_sep_t out, def = S(3000, 300, 0);
    CHECK_INT(dcf_rules_new(&def, &r), DCF_OK);
    dcf_sep_t dd = S(50, 15, 60), hf = S(3000, 300, 0), af = S(10000, 1000, 600);
    CHECK_INT(dcf_rules_set(r, "drone", "drone", &dd), DCF_OK);
    CHECK_INT(dcf_rules_set(r, "helicopter", "fixed-wing", &hf), DCF_OK);
    CHECK_INT(dcf_rules_set(r, "fixed-wing", "artillery", &af), DCF_OK);

    dcf_rules_lookup(r, "drone", "drone", &out);
    CHECK_SEP(out, dd);
    dcf_rules_lookup(r, "artillery", "fixed-wing", &out);
    CHECK_SEP(out, af);
    dcf_rules_lookup(r, "fixed-wing", "artillery", &out);
    CHECK_SEP(out, af);
    dcf_rules_lookup(r, "drone", "fixed-wing", &out);
    CHECK_SEP(out, def);
    dcf_rules_lookup(r, "unknown", "kinds", &out);
    CHECK_SEP(out, def);

    /* Replacing a row, in either order of the pair. */
    dcf_sep_t af2 = S(8000, 900, 300);
    CHECK_INT(dcf_rules_set(r, "artillery", "fixed-wing", &af2), DCF_OK);
    dcf_rules_lookup(r, "fixed-wing", "artillery", &out);
    CHECK_SEP(out, af2);

    /* max_for_kind: default and every row naming the kind. */
    dcf_rules_max_for_kind(r, "drone", &out);
    CHECK_SEP(out, S(3000, 300, 60));
    dcf_rules_max_for_kind(r, "fixed-wing", &out);
    CHECK_SEP(out, S(8000, 900, 300));
    dcf_rules_max_for_kind(r, "nothing", &out);
    CHECK_SEP(out, def);
    dcf_rules_max(r, &out);
    CHECK_SEP(out, S(8000, 900, 300));

    /* Bad input leaves the table alone. */
    dcf_sep_t neg = S(-1, 0, 0), nan_h = {NAN, 0, 0}, big = S(0, 0, 7 * 86400 + 1);
    CHECK_INT(dcf_rules_set(r, "drone", "drone", &neg), DCF_EINVAL);
    CHECK_INT(dcf_rules_set(r, "drone", "drone", &nan_h), DCF_EINVAL);
    CHECK_INT(dcf_rules_set(r, "drone", "drone", &big), DCF_EINVAL);
    CHECK_INT(dcf_rules_set(r, "Drone", "drone", &dd), DCF_EINVAL);
    CHECK_INT(dcf_rules_set(r, "", "drone", &dd), DCF_EINVAL);
    CHECK_INT(dcf_rules_set(r, "drone", "-x", &dd), DCF_EINVAL);
    CHECK_INT(dcf_rules_set(r, "drone", "abcdefghijabcdefghijabcdefghijabc", &dd), DCF_EINVAL);
    dcf_rules_lookup(r, "drone", "drone", &out);
    CHECK_SEP(out, dd);
    dcf_rules_free(r);

    CHECK_INT(dcf_rules_new(&neg, &r), DCF_EINVAL);
}

static void test_effective(void) {
    dcf_rules_t *r = NULL;
    dcf_sep_t def = S(1000, 100, 0), dd = S(50, 15, 60);
    CHECK_INT(dcf_rules_new(&def, &r), DCF_OK);
    CHECK_INT(dcf_rules_set(r, "drone", "drone", &dd), DCF_OK);
    dcf_operation_t a = {0}, b = {0};
    snprintf(a.kind, sizeof a.kind, "drone");
    snprintf(b.kind, sizeof b.kind, "drone");
    dcf_sep_t out;
    dcf_rules_effective(r, &a, &b, &out);
    CHECK_SEP(out, dd);
    /* Each operation raises one component; nothing is lowered. */
    a.min_sep = S(200, 0, 0);
    b.min_sep = S(10, 30, 0);
    dcf_rules_effective(r, &a, &b, &out);
    CHECK_SEP(out, S(200, 30, 60));
    dcf_rules_effective(r, &b, &a, &out);
    CHECK_SEP(out, S(200, 30, 60));
    b.min_sep = S(0, 0, 3600);
    dcf_rules_effective(r, &a, &b, &out);
    CHECK_SEP(out, S(200, 15, 3600));
    /* A pair without a row uses the default. */
    snprintf(b.kind, sizeof b.kind, "helicopter");
    dcf_rules_effective(r, &a, &b, &out);
    CHECK_SEP(out, S(1000, 100, 3600));
    dcf_rules_free(r);
}

static uint64_t rng = 0x4e1e5u;
static uint64_t rnd(void) {
    uint64_t z = (rng += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

#define NK 40

/* Random sets (with many replacements) against a dense matrix. */
static void test_against_brute_force(void) {
    static dcf_sep_t mat[NK][NK];
    static bool has[NK][NK];
    char names[NK][16];
    dcf_sep_t def = S(100, 10, 5), out;
    dcf_rules_t *r = NULL;
    CHECK_INT(dcf_rules_new(&def, &r), DCF_OK);
    for (int i = 0; i < NK; i++)
        snprintf(names[i], sizeof names[i], "k%02d.x", i);
    long bad = 0;
    for (int step = 0; step < 5000; step++) {
        int i = (int)(rnd() % NK), j = (int)(rnd() % NK);
        dcf_sep_t s = {(double)(rnd() % 5000), (double)(rnd() % 500),
                       (dcf_time_t)(rnd() % 900) * DCF_USEC_PER_SEC};
        if (dcf_rules_set(r, names[i], names[j], &s) != DCF_OK)
            bad++;
        mat[i][j] = mat[j][i] = s;
        has[i][j] = has[j][i] = true;
        if (step % 97 != 0)
            continue;
        dcf_sep_t all = def;
        for (int x = 0; x < NK; x++) {
            dcf_sep_t want = def;
            for (int y = 0; y < NK; y++) {
                dcf_rules_lookup(r, names[x], names[y], &out);
                if (!sep_eq(out, has[x][y] ? mat[x][y] : def))
                    bad++;
                if (has[x][y]) {
                    want.horizontal_m = fmax(want.horizontal_m, mat[x][y].horizontal_m);
                    want.vertical_m = fmax(want.vertical_m, mat[x][y].vertical_m);
                    if (mat[x][y].time_us > want.time_us)
                        want.time_us = mat[x][y].time_us;
                }
            }
            dcf_rules_max_for_kind(r, names[x], &out);
            if (!sep_eq(out, want))
                bad++;
            all.horizontal_m = fmax(all.horizontal_m, want.horizontal_m);
            all.vertical_m = fmax(all.vertical_m, want.vertical_m);
            if (want.time_us > all.time_us)
                all.time_us = want.time_us;
        }
        dcf_rules_max(r, &out);
        if (!sep_eq(out, all))
            bad++;
    }
    CHECK_INT(bad, 0);
    dcf_rules_free(r);
}

static void test_row_limit(void) {
    dcf_sep_t def = S(0, 0, 0), s = S(1, 1, 1);
    dcf_rules_t *r = NULL;
    CHECK_INT(dcf_rules_new(&def, &r), DCF_OK);
    char a[16], b[16];
    long bad = 0;
    for (int i = 0; i < 4096; i++) {
        snprintf(a, sizeof a, "a%d", i / 64);
        snprintf(b, sizeof b, "b%d", i % 64);
        if (dcf_rules_set(r, a, b, &s) != DCF_OK)
            bad++;
    }
    CHECK_INT(bad, 0);
    CHECK_INT(dcf_rules_set(r, "c", "d", &s), DCF_ELIMIT);
    /* Replacing an existing row is still allowed at the limit. */
    dcf_sep_t s2 = S(2, 2, 2), out;
    CHECK_INT(dcf_rules_set(r, "b5", "a3", &s2), DCF_OK);
    dcf_rules_lookup(r, "a3", "b5", &out);
    CHECK_SEP(out, s2);
    dcf_rules_free(r);
}

static void test_from_json(void) {
    json_t *j =
        test_json_load("{'default': {'horizontal_m': 3000, 'vertical_m': 300, 'time_s': 0},"
                       " 'rules': [{'kinds': ['helicopter', 'fixed-wing'], 'horizontal_m': 2000,"
                       "            'vertical_m': 200, 'time_s': 0},"
                       "           {'kinds': ['drone', 'drone'], 'horizontal_m': 50,"
                       "            'vertical_m': 15, 'time_s': 60.5}]}");
    dcf_rules_t *r = NULL;
    dcf_geo_error_t err = {{0}, {0}};
    dcf_sep_t out;
    CHECK_INT(dcf_rules_from_json(j, &r, &err), DCF_OK);
    if (r != NULL) {
        dcf_rules_lookup(r, "fixed-wing", "helicopter", &out);
        CHECK_SEP(out, S(2000, 200, 0));
        dcf_rules_lookup(r, "drone", "drone", &out);
        CHECK_SEP(out, S(50, 15, 60.5));
        dcf_rules_lookup(r, "drone", "helicopter", &out);
        CHECK_SEP(out, S(3000, 300, 0));
    }
    dcf_rules_free(r);
    json_decref(j);

    /* The bundled example loads. */
    json_error_t e;
    j = json_load_file("examples/rules.json", 0, &e);
    CHECK(j != NULL);
    r = NULL;
    CHECK_INT(dcf_rules_from_json(j, &r, &err), DCF_OK);
    dcf_rules_free(r);
    json_decref(j);

    /* Without "rules", only the default. */
    j = test_json_load("{'default': {'horizontal_m': 1, 'vertical_m': 2, 'time_s': 3}}");
    r = NULL;
    CHECK_INT(dcf_rules_from_json(j, &r, &err), DCF_OK);
    if (r != NULL) {
        dcf_rules_max(r, &out);
        CHECK_SEP(out, S(1, 2, 3));
    }
    dcf_rules_free(r);
    json_decref(j);
}

static void expect_err(const char *text, int want_rc, const char *want_ptr, const char *want_rule,
                       int line) {
    json_t *j = test_json_load(text);
    dcf_rules_t *sentinel = (dcf_rules_t *)(uintptr_t)0x5e17, *r = sentinel;
    dcf_geo_error_t err = {{0}, {0}};
    int rc = dcf_rules_from_json(j, &r, &err);
    CHECK_MSG(rc == want_rc, "line %d: rc %d want %d (%s: %s)", line, rc, want_rc, err.pointer,
              err.rule);
    CHECK_MSG(strcmp(err.pointer, want_ptr) == 0, "line %d: pointer \"%s\" want \"%s\"", line,
              err.pointer, want_ptr);
    CHECK_MSG(strcmp(err.rule, want_rule) == 0, "line %d: rule \"%s\" want \"%s\"", line, err.rule,
              want_rule);
    CHECK_MSG(r == sentinel, "line %d: *out changed on error", line);
    json_decref(j);
}

#define DEF    "'default': {'horizontal_m': 1, 'vertical_m': 1, 'time_s': 1}"
#define ROW(k) "{'kinds': " k ", 'horizontal_m': 1, 'vertical_m': 1, 'time_s': 1}"

static void test_json_errors(void) {
    expect_err("[]", DCF_EINVAL, "", "must be an object", __LINE__);
    expect_err("{}", DCF_EINVAL, "/default", "is required", __LINE__);
    expect_err("{" DEF ", 'colour': 1}", DCF_EINVAL, "/colour", "unknown member", __LINE__);
    expect_err("{" DEF ", 'a/b~': 1}", DCF_EINVAL, "/a~1b~0", "unknown member", __LINE__);
    expect_err("{'default': 5}", DCF_EINVAL, "/default", "must be an object", __LINE__);
    expect_err("{'default': {'horizontal_m': 1, 'vertical_m': 1}}", DCF_EINVAL, "/default/time_s",
               "is required", __LINE__);
    expect_err("{'default': {'horizontal_m': 1, 'vertical_m': '1', 'time_s': 1}}", DCF_EINVAL,
               "/default/vertical_m", "must be a number", __LINE__);
    expect_err("{'default': {'horizontal_m': -1, 'vertical_m': 1, 'time_s': 1}}", DCF_EINVAL,
               "/default/horizontal_m", "must be between 0 and 1000000", __LINE__);
    expect_err("{'default': {'horizontal_m': 1, 'vertical_m': 1, 'time_s': 1, 'x': 0}}", DCF_EINVAL,
               "/default/x", "unknown member", __LINE__);
    expect_err("{" DEF ", 'rules': {}}", DCF_EINVAL, "/rules", "must be an array", __LINE__);
    expect_err("{" DEF ", 'rules': [3]}", DCF_EINVAL, "/rules/0", "must be an object", __LINE__);
    expect_err("{" DEF ", 'rules': [" ROW("['a', 'b']") ", {'horizontal_m': 1}]}", DCF_EINVAL,
               "/rules/1/kinds", "is required", __LINE__);
    expect_err("{" DEF ", 'rules': [" ROW("['a']") "]}", DCF_EINVAL, "/rules/0/kinds",
               "must be an array of two kinds", __LINE__);
    expect_err("{" DEF ", 'rules': [" ROW("'a'") "]}", DCF_EINVAL, "/rules/0/kinds",
               "must be an array of two kinds", __LINE__);
    expect_err("{" DEF ", 'rules': [" ROW("['a', 'B']") "]}", DCF_EINVAL, "/rules/0/kinds/1",
               "must be a kind: 1-32 bytes of a-z 0-9 . _ - starting with a-z or 0-9", __LINE__);
    expect_err("{" DEF ", 'rules': [" ROW("[1, 'b']") "]}", DCF_EINVAL, "/rules/0/kinds/0",
               "must be a kind: 1-32 bytes of a-z 0-9 . _ - starting with a-z or 0-9", __LINE__);
    expect_err("{" DEF ", 'rules': [{'kinds': ['a', 'b'], 'horizontal_m': 1, 'vertical_m': 1}]}",
               DCF_EINVAL, "/rules/0/time_s", "is required", __LINE__);
    expect_err("{" DEF ", 'rules': [{'kinds': ['a', 'b'], 'horizontal_m': 1, 'vertical_m': 1,"
               " 'time_s': 604801}]}",
               DCF_EINVAL, "/rules/0/time_s", "must be between 0 and 604800", __LINE__);
    expect_err("{" DEF ", 'rules': [" ROW("['a', 'b']") ", {'kinds': ['a', 'b'], 'x': 1}]}",
               DCF_EINVAL, "/rules/1/x", "unknown member", __LINE__);
    expect_err("{" DEF
               ", 'rules': [" ROW("['a', 'b']") "," ROW("['c', 'c']") "," ROW("['b', 'a']") "]}",
               DCF_EINVAL, "/rules/2/kinds", "names the same pair as /rules/0", __LINE__);

    /* More than 4096 rows. */
    json_t *rows = json_array();
    for (int i = 0; i < 4097; i++)
        json_array_append_new(rows, json_pack("{s:[s,s],s:i,s:i,s:i}", "kinds", "a", "b",
                                              "horizontal_m", 1, "vertical_m", 1, "time_s", 1));
    json_t *j = json_pack("{s:{s:i,s:i,s:i},s:o}", "default", "horizontal_m", 0, "vertical_m", 0,
                          "time_s", 0, "rules", rows);
    dcf_rules_t *r = NULL;
    dcf_geo_error_t err = {{0}, {0}};
    CHECK_INT(dcf_rules_from_json(j, &r, &err), DCF_ELIMIT);
    CHECK_STR(err.pointer, "/rules");
    CHECK_STR(err.rule, "must have at most 4096 rows");
    CHECK(r == NULL);
    json_decref(j);
}

int main(void) {
    RUN(test_lookup);
    RUN(test_effective);
    RUN(test_against_brute_force);
    RUN(test_row_limit);
    RUN(test_from_json);
    RUN(test_json_errors);
    TEST_DONE();
}
