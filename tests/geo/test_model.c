/*
 * test_model.c -- operations from JSON, GeoJSON and whole documents, and
 * back to JSON.
 *
 * Valid documents are checked field by field.  Each rejection is made by
 * changing one thing in a valid document (test_json_set, tests/test_json.h) and must give the
 * exact JSON Pointer, rule, return code, and leave the caller's output
 * untouched.  The round trip from_json(to_json(op)) must give back an equal
 * operation.
 */
#include <jansson.h>
#include <stdbool.h>

#include "deconflict/geo.h"
#include "test.h"
#include "test_json.h"

static const char *POLY_OP =
    "{'id': 'blue-cap-north', 'party': 'blue', 'kind': 'air-patrol', 'priority': 50,"
    " 'separation': {'horizontal_m': 5000, 'vertical_m': 300, 'time_s': 600},"
    " 'disclosure': 'overlap', 'exigent': false,"
    " 'volumes': [{'footprint': {'type': 'polygon', 'vertices': ["
    "   {'lat': 35.1, 'lng': 36.2}, {'lat': 35.1, 'lng': 36.4}, {'lat': 35.3, 'lng': 36.4},"
    "   {'lat': 35.3, 'lng': 36.2}]},"
    "  'altitude': {'lower_m': 0, 'upper_m': 3000},"
    "  'time': {'start': '2026-11-24T06:00:00Z', 'end': '2026-11-24T10:00:00+02:00'}}]}";

static const char *CIRCLE_OP =
    "{'id': 'red-1', 'party': 'red', 'kind': 'drone', 'priority': 0,"
    " 'volumes': [{'footprint': {'type': 'circle', 'center': {'lat': 35.0, 'lng': 36.0},"
    "   'radius_m': 5000},"
    "  'altitude': {'lower_m': -50.5, 'upper_m': 120},"
    "  'time': {'start': '2026-11-24T06:00:00.5Z', 'end': '2026-11-24T06:30:00Z'}}]}";

static const char *MULTI_OP =
    "{'id': 'green:x.1', 'party': 'green', 'kind': 'fixed-wing', 'priority': 1000,"
    " 'exigent': true, 'exigent_reason': 'casualty evacuation',"
    " 'volumes': ["
    "  {'footprint': {'type': 'circle', 'center': {'lat': 35, 'lng': 36}, 'radius_m': 100},"
    "   'altitude': {'lower_m': 0, 'upper_m': 100},"
    "   'time': {'start': '2026-11-24T06:00:00Z', 'end': '2026-11-24T07:00:00Z'}},"
    "  {'footprint': {'type': 'polygon', 'vertices': [{'lat': 35, 'lng': 36},"
    "    {'lat': 35, 'lng': 36.1}, {'lat': 35.1, 'lng': 36.05}]},"
    "   'altitude': {'lower_m': 100, 'upper_m': 200},"
    "   'time': {'start': '2026-11-24T07:00:00Z', 'end': '2026-11-24T08:00:00Z'}},"
    "  {'footprint': {'type': 'circle', 'center': {'lat': -35, 'lng': -179.9}, 'radius_m': 1e6},"
    "   'altitude': {'lower_m': 200, 'upper_m': 100000},"
    "   'time': {'start': '2026-11-24T08:00:00Z', 'end': '2026-11-25T08:00:00Z'}}]}";

static const dcf_time_t T_0600 = INT64_C(1795500000000000); /* 2026-11-24T06:00:00Z */

static bool sep_eq(const dcf_sep_t *a, const dcf_sep_t *b) {
    return a->horizontal_m == b->horizontal_m && a->vertical_m == b->vertical_m &&
           a->time_us == b->time_us;
}

static dcf_operation_t *parse_ok(const char *text, unsigned flags) {
    json_t *j = test_json_load(text);
    dcf_operation_t *op = NULL;
    dcf_geo_error_t err = {{0}, {0}};
    int rc = dcf_operation_from_json(j, NULL, flags, "", &op, &err);
    CHECK_MSG(rc == DCF_OK, "rc %d at %s: %s", rc, err.pointer, err.rule);
    json_decref(j);
    return op;
}

/* from_json(to_json(op)) == op, and to_json is stable. */
static void check_round_trip(const dcf_operation_t *op) {
    json_t *j = dcf_operation_to_json(op);
    CHECK(j != NULL);
    dcf_operation_t *back = NULL;
    dcf_geo_error_t err = {{0}, {0}};
    int rc = dcf_operation_from_json(j, NULL, 0, "", &back, &err);
    CHECK_MSG(rc == DCF_OK, "round trip rejected at %s: %s", err.pointer, err.rule);
    if (rc == DCF_OK) {
        CHECK(dcf_operation_equal(op, back));
        json_t *j2 = dcf_operation_to_json(back);
        CHECK(json_equal(j, j2));
        json_decref(j2);
    }
    dcf_operation_free(back);
    json_decref(j);
}

static void test_polygon_op(void) {
    dcf_operation_t *op = parse_ok(POLY_OP, DCF_PARSE_REQUIRE_ID | DCF_PARSE_REQUIRE_PARTY);
    if (op == NULL)
        return;
    CHECK_STR(op->id, "blue-cap-north");
    CHECK_STR(op->party, "blue");
    CHECK_STR(op->kind, "air-patrol");
    CHECK_INT(op->priority, 50);
    CHECK_NEAR(op->min_sep.horizontal_m, 5000, 0);
    CHECK_NEAR(op->min_sep.vertical_m, 300, 0);
    CHECK_INT(op->min_sep.time_us, 600 * DCF_USEC_PER_SEC);
    CHECK_INT(op->disclosure, DCF_DISCLOSE_OVERLAP);
    CHECK(!op->exigent);
    CHECK(op->exigent_reason == NULL);
    CHECK_INT(op->n_volumes, 1);
    const dcf_volume_t *v = &op->volumes[0];
    CHECK_INT(dcf_footprint_kind(v->footprint), DCF_FOOTPRINT_POLYGON);
    size_t n = 0;
    const dcf_latlng_t *vs = dcf_footprint_vertices(v->footprint, &n);
    CHECK_INT(n, 4);
    CHECK(vs != NULL && vs[0].lat == 35.1 && vs[0].lng == 36.2 && vs[2].lat == 35.3 &&
          vs[2].lng == 36.4);
    CHECK(!dcf_footprint_circle_params(v->footprint, &(dcf_latlng_t){0}, &(double){0}));
    CHECK_NEAR(v->alt_lo, 0, 0);
    CHECK_NEAR(v->alt_hi, 3000, 0);
    CHECK_INT(v->t_start, T_0600);
    CHECK_INT(v->t_end, T_0600 + 2 * 3600 * DCF_USEC_PER_SEC); /* 10:00+02:00 = 08:00Z */
    check_round_trip(op);
    dcf_operation_free(op);
}

static void test_circle_op(void) {
    dcf_operation_t *op = parse_ok(CIRCLE_OP, DCF_PARSE_REQUIRE_ID | DCF_PARSE_REQUIRE_PARTY);
    if (op == NULL)
        return;
    CHECK_STR(op->kind, "drone");
    CHECK_INT(op->priority, 0);
    CHECK(sep_eq(&op->min_sep, &(dcf_sep_t){0}));
    CHECK_INT(op->disclosure, DCF_DISCLOSE_CONTACT);
    dcf_latlng_t c;
    double r = 0;
    CHECK_INT(dcf_footprint_kind(op->volumes[0].footprint), DCF_FOOTPRINT_CIRCLE);
    CHECK(dcf_footprint_circle_params(op->volumes[0].footprint, &c, &r));
    CHECK(c.lat == 35.0 && c.lng == 36.0 && r == 5000.0);
    CHECK_NEAR(op->volumes[0].alt_lo, -50.5, 0);
    CHECK_INT(op->volumes[0].t_start, T_0600 + 500000);
    check_round_trip(op);
    dcf_operation_free(op);

    /* Without the flags, id and party may be left out. */
    json_t *j = test_json_load(CIRCLE_OP);
    json_object_del(j, "id");
    json_object_del(j, "party");
    dcf_geo_error_t err = {{0}, {0}};
    op = NULL;
    CHECK_INT(dcf_operation_from_json(j, NULL, 0, "", &op, &err), DCF_OK);
    if (op != NULL) {
        CHECK_STR(op->id, "");
        CHECK_STR(op->party, "");
        check_round_trip(op);
    }
    dcf_operation_free(op);
    json_decref(j);
}

static void test_multi_volume_op(void) {
    dcf_operation_t *op = parse_ok(MULTI_OP, DCF_PARSE_REQUIRE_ID | DCF_PARSE_REQUIRE_PARTY);
    if (op == NULL)
        return;
    CHECK_STR(op->id, "green:x.1");
    CHECK(op->exigent);
    CHECK_STR(op->exigent_reason, "casualty evacuation");
    CHECK_INT(op->priority, 1000);
    CHECK_INT(op->n_volumes, 3);
    CHECK_INT(dcf_footprint_kind(op->volumes[0].footprint), DCF_FOOTPRINT_CIRCLE);
    CHECK_INT(dcf_footprint_kind(op->volumes[1].footprint), DCF_FOOTPRINT_POLYGON);
    CHECK_INT(dcf_footprint_kind(op->volumes[2].footprint), DCF_FOOTPRINT_CIRCLE);
    CHECK_NEAR(op->volumes[2].alt_hi, 100000, 0);
    CHECK_INT(op->volumes[2].t_end - op->volumes[2].t_start, 86400 * DCF_USEC_PER_SEC);
    check_round_trip(op);

    /* A fractional time_s keeps microseconds and survives the round trip. */
    op->min_sep.time_us = 1500001;
    op->min_sep.horizontal_m = 0.1;
    check_round_trip(op);
    dcf_operation_free(op);
}

/* Parse `j` as an operation; expect rc, pointer and rule; *out untouched. */
static void expect_op_err(json_t *j, const dcf_geo_limits_t *lim, unsigned flags,
                          const char *prefix, int want_rc, const char *want_ptr,
                          const char *want_rule, int line) {
    dcf_operation_t *sentinel = (dcf_operation_t *)(uintptr_t)0x5e17, *op = sentinel;
    dcf_geo_error_t err = {{0}, {0}};
    int rc = dcf_operation_from_json(j, lim, flags, prefix, &op, &err);
    CHECK_MSG(rc == want_rc, "line %d: rc %d want %d (%s: %s)", line, rc, want_rc, err.pointer,
              err.rule);
    CHECK_MSG(strcmp(err.pointer, want_ptr) == 0, "line %d: pointer \"%s\" want \"%s\"", line,
              err.pointer, want_ptr);
    if (want_rule != NULL)
        CHECK_MSG(strcmp(err.rule, want_rule) == 0, "line %d: rule \"%s\" want \"%s\"", line,
                  err.rule, want_rule);
    CHECK_MSG(op == sentinel, "line %d: *out changed on error", line);
    if (op != sentinel && rc == DCF_OK)
        dcf_operation_free(op);
}

/* One change to POLY_OP, then expect an error. */
#define REJECT(path, value, flags, rc, ptr, rule)                                                  \
    do {                                                                                           \
        json_t *j_ = test_json_load(POLY_OP);                                                      \
        test_json_set(j_, path, value);                                                            \
        expect_op_err(j_, NULL, flags, "", rc, ptr, rule, __LINE__);                               \
        json_decref(j_);                                                                           \
    } while (0)

static void test_field_rejections(void) {
    const unsigned F = DCF_PARSE_REQUIRE_ID | DCF_PARSE_REQUIRE_PARTY;
    /* Required members. */
    REJECT("/id", NULL, F, DCF_EINVAL, "/id", "is required");
    REJECT("/party", NULL, F, DCF_EINVAL, "/party", "is required");
    REJECT("/kind", NULL, 0, DCF_EINVAL, "/kind", "is required");
    REJECT("/priority", NULL, 0, DCF_EINVAL, "/priority", "is required");
    REJECT("/volumes", NULL, 0, DCF_EINVAL, "/volumes", "is required");
    REJECT("/volumes/0/time", NULL, 0, DCF_EINVAL, "/volumes/0/time", "is required");
    REJECT("/volumes/0/time/end", NULL, 0, DCF_EINVAL, "/volumes/0/time/end", "is required");
    REJECT("/volumes/0/altitude/lower_m", NULL, 0, DCF_EINVAL, "/volumes/0/altitude/lower_m",
           "is required");
    REJECT("/volumes/0/footprint", NULL, 0, DCF_EINVAL, "/volumes/0/footprint", "is required");
    REJECT("/volumes/0/footprint/vertices/2/lng", NULL, 0, DCF_EINVAL,
           "/volumes/0/footprint/vertices/2/lng", "is required");
    /* Strings. */
    REJECT("/id", json_string(""), F, DCF_EINVAL, "/id",
           "must be 1-64 bytes of A-Z a-z 0-9 . _ : -");
    REJECT("/id", json_string("has space"), F, DCF_EINVAL, "/id",
           "must be 1-64 bytes of A-Z a-z 0-9 . _ : -");
    REJECT("/id", json_string("x2345678901234567890123456789012345678901234567890123456789012345"),
           F, DCF_EINVAL, "/id", "must be 1-64 bytes of A-Z a-z 0-9 . _ : -");
    {
        json_t *j = test_json_load(POLY_OP);
        const char *id64 = "x234567890123456789012345678901234567890123456789012345678901234";
        json_object_set_new(j, "id", json_string(id64));
        dcf_operation_t *op = NULL;
        CHECK_INT(dcf_operation_from_json(j, NULL, F, "", &op, NULL), DCF_OK);
        if (op != NULL)
            CHECK_STR(op->id, id64);
        dcf_operation_free(op);
        json_decref(j);
    }
    REJECT("/id", json_stringn("a\0b", 3), F, DCF_EINVAL, "/id", "must not contain NUL characters");
    REJECT("/party", json_string("Blue"), F, DCF_EINVAL, "/party",
           "must be 1-32 bytes of a-z 0-9 - starting with a-z or 0-9");
    REJECT("/party", json_string("-blue"), F, DCF_EINVAL, "/party",
           "must be 1-32 bytes of a-z 0-9 - starting with a-z or 0-9");
    REJECT("/party", json_string("blue.team"), F, DCF_EINVAL, "/party",
           "must be 1-32 bytes of a-z 0-9 - starting with a-z or 0-9");
    REJECT("/party", json_string("abcdefghijabcdefghijabcdefghijabc"), F, DCF_EINVAL, "/party",
           "must be 1-32 bytes of a-z 0-9 - starting with a-z or 0-9");
    REJECT("/kind", json_string("_drone"), 0, DCF_EINVAL, "/kind",
           "must be 1-32 bytes of a-z 0-9 . _ - starting with a-z or 0-9");
    REJECT("/kind", json_integer(3), 0, DCF_EINVAL, "/kind", "must be a string");
    REJECT("/disclosure", json_string("everything"), 0, DCF_EINVAL, "/disclosure",
           "must be \"contact\", \"overlap\" or \"full\"");
    /* Wrong types and integer fields. */
    REJECT("/priority", json_string("50"), 0, DCF_EINVAL, "/priority", "must be an integer");
    REJECT("/priority", json_real(50.5), 0, DCF_EINVAL, "/priority", "must be an integer");
    REJECT("/priority", json_integer(1001), 0, DCF_EINVAL, "/priority",
           "must be between 0 and 1000");
    REJECT("/priority", json_integer(-1), 0, DCF_EINVAL, "/priority", "must be between 0 and 1000");
    REJECT("/exigent", json_string("yes"), 0, DCF_EINVAL, "/exigent", "must be true or false");
    REJECT("/volumes", json_object(), 0, DCF_EINVAL, "/volumes", "must be an array");
    REJECT("/volumes/0", json_array(), 0, DCF_EINVAL, "/volumes/0", "must be an object");
    REJECT("/volumes/0/footprint/vertices/1/lat", json_string("35.1"), 0, DCF_EINVAL,
           "/volumes/0/footprint/vertices/1/lat", "must be a number");
    REJECT("/volumes/0/footprint/vertices/1/lat", json_null(), 0, DCF_EINVAL,
           "/volumes/0/footprint/vertices/1/lat", "must be a number");
    REJECT("/volumes/0/time/start", json_integer(1795500000), 0, DCF_EINVAL,
           "/volumes/0/time/start", "must be a string (an RFC 3339 date-time)");
    REJECT("/separation", json_integer(5), 0, DCF_EINVAL, "/separation", "must be an object");
    REJECT("/volumes/0/footprint/type", json_string("square"), 0, DCF_EINVAL,
           "/volumes/0/footprint/type", "must be \"polygon\" or \"circle\"");
    /* Ranges. */
    REJECT("/volumes/0/footprint/vertices/1/lat", json_real(91), 0, DCF_EINVAL,
           "/volumes/0/footprint/vertices/1/lat", "must be between -90 and 90");
    REJECT("/volumes/0/footprint/vertices/3/lng", json_real(-180.5), 0, DCF_EINVAL,
           "/volumes/0/footprint/vertices/3/lng", "must be between -180 and 180");
    REJECT("/volumes/0/altitude/upper_m", json_real(100001), 0, DCF_EINVAL,
           "/volumes/0/altitude/upper_m", "must be between -1000 and 100000");
    REJECT("/volumes/0/altitude/upper_m", json_integer(0), 0, DCF_EINVAL,
           "/volumes/0/altitude/upper_m", "must be greater than /volumes/0/altitude/lower_m");
    REJECT("/separation/horizontal_m", json_real(-1), 0, DCF_EINVAL, "/separation/horizontal_m",
           "must be between 0 and 1000000");
    REJECT("/separation/time_s", json_integer(7 * 86400 + 1), 0, DCF_EINVAL, "/separation/time_s",
           "must be between 0 and 604800");
    /* Time windows. */
    REJECT("/volumes/0/time/end", json_string("2026-11-24T05:00:00Z"), 0, DCF_EINVAL,
           "/volumes/0/time/end", "must be later than /volumes/0/time/start");
    REJECT("/volumes/0/time/end", json_string("2026-11-24T08:00:00+02:00"), 0, DCF_EINVAL,
           "/volumes/0/time/end", "must be later than /volumes/0/time/start");
    REJECT("/volumes/0/time/start", json_string("2026-11-24T06:00:00"), 0, DCF_EINVAL,
           "/volumes/0/time/start",
           "must be an RFC 3339 date-time: offset is required (Z or +hh:mm or -hh:mm)");
    REJECT("/volumes/0/time/end", json_string("2026-02-29T06:00:00Z"), 0, DCF_EINVAL,
           "/volumes/0/time/end",
           "must be an RFC 3339 date-time: day must exist in its month (01-28/29/30/31)");
    /* Unknown members, with RFC 6901 escaping of the name. */
    REJECT("/colour", json_string("red"), 0, DCF_EINVAL, "/colour", "unknown member");
    REJECT("/volumes/0/footprint/radius_m", json_real(5), 0, DCF_EINVAL,
           "/volumes/0/footprint/radius_m", "unknown member");
    REJECT("/volumes/0/time/a~b", json_true(), 0, DCF_EINVAL, "/volumes/0/time/a~0b",
           "unknown member");
    REJECT("/separation/x", json_true(), 0, DCF_EINVAL, "/separation/x", "unknown member");
    {
        json_t *j = test_json_load(POLY_OP);
        json_object_set_new(json_object_get(j, "separation"), "m/s~", json_true());
        expect_op_err(j, NULL, 0, "", DCF_EINVAL, "/separation/m~1s~0", "unknown member", __LINE__);
        json_decref(j);
    }
    /* A member name too long for the pointer: the nearest ancestor is named. */
    {
        char name[300];
        memset(name, 'q', sizeof name - 1);
        name[sizeof name - 1] = '\0';
        json_t *j = test_json_load(POLY_OP);
        json_object_set_new(json_object_get(j, "separation"), name, json_true());
        expect_op_err(j, NULL, 0, "", DCF_EINVAL, "/separation",
                      "unknown member (in a descendant whose pointer is too long to show)",
                      __LINE__);
        json_decref(j);
    }
    /* Exigency. */
    REJECT("/exigent", json_true(), 0, DCF_EINVAL, "/exigent_reason",
           "is required when exigent is true");
    REJECT("/exigent_reason", json_string("late tasking"), 0, DCF_EINVAL, "/exigent_reason",
           "is allowed only when exigent is true");
    {
        json_t *j = test_json_load(POLY_OP);
        json_object_set_new(j, "exigent", json_true());
        json_object_set_new(j, "exigent_reason", json_string(""));
        expect_op_err(j, NULL, 0, "", DCF_EINVAL, "/exigent_reason", "must be 1-500 bytes",
                      __LINE__);
        char reason[502];
        memset(reason, 'r', 501);
        reason[501] = '\0';
        json_object_set_new(j, "exigent_reason", json_string(reason));
        expect_op_err(j, NULL, 0, "", DCF_EINVAL, "/exigent_reason", "must be 1-500 bytes",
                      __LINE__);
        reason[500] = '\0';
        json_object_set_new(j, "exigent_reason", json_string(reason));
        dcf_operation_t *op = NULL;
        CHECK_INT(dcf_operation_from_json(j, NULL, 0, "", &op, NULL), DCF_OK);
        if (op != NULL)
            check_round_trip(op);
        dcf_operation_free(op);
        json_decref(j);
    }
    /* Not an object at all, and the prefix. */
    {
        json_t *j = json_array();
        expect_op_err(j, NULL, 0, "/operations/7", DCF_EINVAL, "/operations/7", "must be an object",
                      __LINE__);
        json_decref(j);
        j = test_json_load(POLY_OP);
        json_object_set_new(j, "priority", json_real(1e9));
        expect_op_err(j, NULL, 0, "/operations/7", DCF_EINVAL, "/operations/7/priority",
                      "must be between 0 and 1000", __LINE__);
        json_decref(j);
    }
    /* NaN and infinity cannot reach the parser: jansson will not build or
     * read them (the parser's own isfinite check is a second guard). */
    CHECK(json_real(NAN) == NULL);
    CHECK(json_real(INFINITY) == NULL);
    json_error_t e;
    CHECK(json_loads("[NaN]", 0, &e) == NULL);
    CHECK(json_loads("[1e999]", 0, &e) == NULL);
}

static void test_footprint_rejections(void) {
    /* Circles. */
    json_t *j = test_json_load(CIRCLE_OP);
    test_json_set(j, "/volumes/0/footprint/radius_m", json_integer(0));
    expect_op_err(j, NULL, 0, "", DCF_EINVAL, "/volumes/0/footprint/radius_m",
                  "must be greater than 0 and at most 1000000", __LINE__);
    test_json_set(j, "/volumes/0/footprint/radius_m", json_real(1000000.5));
    expect_op_err(j, NULL, 0, "", DCF_EINVAL, "/volumes/0/footprint/radius_m",
                  "must be greater than 0 and at most 1000000", __LINE__);
    test_json_set(j, "/volumes/0/footprint/radius_m", NULL);
    expect_op_err(j, NULL, 0, "", DCF_EINVAL, "/volumes/0/footprint/radius_m", "is required",
                  __LINE__);
    test_json_set(j, "/volumes/0/footprint/radius_m", json_integer(10));
    test_json_set(j, "/volumes/0/footprint/center/lat", json_integer(-91));
    expect_op_err(j, NULL, 0, "", DCF_EINVAL, "/volumes/0/footprint/center/lat",
                  "must be between -90 and 90", __LINE__);
    json_decref(j);

    /* Too few vertices. */
    j = test_json_load(POLY_OP);
    test_json_set(j, "/volumes/0/footprint/vertices/3", NULL);
    test_json_set(j, "/volumes/0/footprint/vertices/2", NULL);
    expect_op_err(j, NULL, 0, "", DCF_EINVAL, "/volumes/0/footprint/vertices",
                  "must have at least 3 vertices", __LINE__);
    json_decref(j);

    /* Self-intersecting (a bow tie): footprint.c names the first vertex of
     * the crossing edge under the footprint's pointer. */
    j = test_json_load(POLY_OP);
    test_json_set(j, "/volumes/0/footprint/vertices/2",
                  test_json_load("{'lat': 35.3, 'lng': 36.2}"));
    test_json_set(j, "/volumes/0/footprint/vertices/3",
                  test_json_load("{'lat': 35.3, 'lng': 36.4}"));
    expect_op_err(j, NULL, 0, "", DCF_EINVAL, "/volumes/0/footprint/vertices/1",
                  "edges must not cross (edge 1-2 crosses edge 3-0)", __LINE__);
    json_decref(j);

    /* A repeated closing vertex is not allowed in the model form. */
    j = test_json_load(POLY_OP);
    test_json_set(j, "/volumes/0/footprint/vertices/4",
                  test_json_load("{'lat': 35.1, 'lng': 36.2}"));
    expect_op_err(j, NULL, 0, "", DCF_EINVAL, "/volumes/0/footprint/vertices/4",
                  "must not repeat the first vertex (the ring closes itself)", __LINE__);
    json_decref(j);
}

static void test_limits(void) {
    dcf_geo_limits_t lim;
    dcf_geo_limits_default(&lim);
    CHECK_INT(lim.max_vertices, DCF_DEFAULT_MAX_VERTICES);
    CHECK_INT(lim.max_volumes, DCF_DEFAULT_MAX_VOLUMES);
    CHECK_INT(lim.max_depth, DCF_DEFAULT_MAX_DEPTH);
    CHECK_INT(lim.max_operations, DCF_DEFAULT_MAX_OPERATIONS);

    /* Too many volumes. */
    lim.max_volumes = 2;
    json_t *j = test_json_load(MULTI_OP);
    expect_op_err(j, &lim, 0, "", DCF_ELIMIT, "/volumes", "must have at most 2 volumes", __LINE__);
    lim.max_volumes = 3;
    dcf_operation_t *op = NULL;
    CHECK_INT(dcf_operation_from_json(j, &lim, 0, "", &op, NULL), DCF_OK);
    dcf_operation_free(op);
    test_json_set(j, "/volumes", json_array());
    expect_op_err(j, &lim, 0, "", DCF_EINVAL, "/volumes", "must have at least 1 volume", __LINE__);
    json_decref(j);

    /* Too many vertices. */
    lim.max_vertices = 3;
    j = test_json_load(POLY_OP);
    expect_op_err(j, &lim, 0, "", DCF_ELIMIT, "/volumes/0/footprint/vertices",
                  "must have at most 3 vertices", __LINE__);
    lim.max_vertices = 4;
    op = NULL;
    CHECK_INT(dcf_operation_from_json(j, &lim, 0, "", &op, NULL), DCF_OK);
    dcf_operation_free(op);
    json_decref(j);
}

/* Parse a document; expect an error; the list must stay untouched. */
static void expect_doc_err(const char *text, const dcf_geo_limits_t *lim, unsigned flags,
                           int want_rc, const char *want_ptr, const char *want_rule, int line) {
    json_t *j = test_json_load(text);
    dcf_operation_t *marker[1];
    dcf_operation_list_t list = {marker, 77};
    dcf_geo_error_t err = {{0}, {0}};
    int rc = dcf_operations_from_document(j, lim, flags, &list, &err);
    CHECK_MSG(rc == want_rc, "line %d: rc %d want %d (%s: %s)", line, rc, want_rc, err.pointer,
              err.rule);
    CHECK_MSG(strcmp(err.pointer, want_ptr) == 0, "line %d: pointer \"%s\" want \"%s\"", line,
              err.pointer, want_ptr);
    if (want_rule != NULL)
        CHECK_MSG(strcmp(err.rule, want_rule) == 0, "line %d: rule \"%s\" want \"%s\"", line,
                  err.rule, want_rule);
    CHECK_MSG(list.ops == marker && list.n == 77, "line %d: list changed on error", line);
    if (rc == DCF_OK && list.ops != marker)
        dcf_operation_list_free(&list);
    json_decref(j);
}

/* Build "[op, op, ...]"-style text from pieces. */
static char *cat(const char *a, const char *b, const char *c, const char *d, const char *e) {
    size_t n = strlen(a) + strlen(b) + strlen(c) + strlen(d) + strlen(e) + 1;
    char *s = malloc(n);
    snprintf(s, n, "%s%s%s%s%s", a, b, c, d, e);
    return s;
}

static void test_documents(void) {
    const unsigned F = DCF_PARSE_REQUIRE_ID | DCF_PARSE_REQUIRE_PARTY;
    dcf_geo_error_t err = {{0}, {0}};
    char *texts[3] = {cat(POLY_OP, "", "", "", ""), cat("[", POLY_OP, ",", CIRCLE_OP, "]"),
                      cat("{'operations': [", POLY_OP, ",", MULTI_OP, "]}")};
    const size_t want_n[3] = {1, 2, 2};
    for (int i = 0; i < 3; i++) {
        json_t *j = test_json_load(texts[i]);
        dcf_operation_list_t list = {0};
        int rc = dcf_operations_from_document(j, NULL, F, &list, &err);
        CHECK_MSG(rc == DCF_OK, "form %d: %s: %s", i, err.pointer, err.rule);
        CHECK_INT(list.n, want_n[i]);
        if (list.n > 0)
            CHECK_STR(list.ops[0]->id, "blue-cap-north");
        dcf_operation_list_free(&list);
        CHECK(list.ops == NULL && list.n == 0);
        json_decref(j);
    }
    free(texts[0]);

    /* Errors inside arrays carry the element's pointer. */
    char *dup = cat("{'operations': [", POLY_OP, ",", POLY_OP, "]}");
    expect_doc_err(dup, NULL, F, DCF_EINVAL, "/operations/1/id", "duplicates /operations/0/id",
                   __LINE__);
    free(dup);
    dup = cat("[", CIRCLE_OP, ",", MULTI_OP, ",{'kind': 'x'}]");
    expect_doc_err(dup, NULL, F, DCF_EINVAL, "/2/id", "is required", __LINE__);
    expect_doc_err(dup, NULL, 0, DCF_EINVAL, "/2/priority", "is required", __LINE__);
    free(dup);
    /* Operations without ids (flag off) are never duplicates of each other. */
    {
        json_t *j = test_json_load(texts[1]);
        json_object_del(json_array_get(j, 0), "id");
        json_object_del(json_array_get(j, 1), "id");
        dcf_operation_list_t list = {0};
        CHECK_INT(dcf_operations_from_document(j, NULL, 0, &list, &err), DCF_OK);
        CHECK_INT(list.n, 2);
        dcf_operation_list_free(&list);
        json_decref(j);
    }

    /* max_operations. */
    dcf_geo_limits_t lim;
    dcf_geo_limits_default(&lim);
    lim.max_operations = 1;
    expect_doc_err(texts[1], &lim, F, DCF_ELIMIT, "", "must have at most 1 operations", __LINE__);
    expect_doc_err(texts[2], &lim, F, DCF_ELIMIT, "/operations", "must have at most 1 operations",
                   __LINE__);
    free(texts[1]);
    free(texts[2]);

    /* Shapes that are none of the four forms. */
    expect_doc_err("42", NULL, F, DCF_EINVAL, "",
                   "must be an operation, an array of operations, {\"operations\": [...]} or a "
                   "GeoJSON FeatureCollection",
                   __LINE__);
    expect_doc_err("{'operations': {}}", NULL, F, DCF_EINVAL, "/operations", "must be an array",
                   __LINE__);
    expect_doc_err("{'operations': [], 'extra': 1}", NULL, F, DCF_EINVAL, "/extra",
                   "unknown member", __LINE__);
    expect_doc_err("{'type': 'Feature'}", NULL, F, DCF_EINVAL, "/type",
                   "must be \"FeatureCollection\" (or leave \"type\" out for an operation)",
                   __LINE__);
    expect_doc_err("{'kind': 'x'}", NULL, 0, DCF_EINVAL, "/priority", "is required", __LINE__);
    expect_doc_err("[1]", NULL, 0, DCF_EINVAL, "/0", "must be an object", __LINE__);
    /* An empty list is a valid, empty document. */
    {
        json_t *j = test_json_load("{'operations': []}");
        dcf_operation_list_t list = {0};
        CHECK_INT(dcf_operations_from_document(j, NULL, F, &list, &err), DCF_OK);
        CHECK_INT(list.n, 0);
        dcf_operation_list_free(&list);
        json_decref(j);
    }
}

/* Two features of "a" (a polygon and a circle) and one of "b". */
static const char *COLLECTION =
    "{'type': 'FeatureCollection', 'features': ["
    " {'type': 'Feature',"
    "  'geometry': {'type': 'Polygon', 'coordinates': [[[36.2, 35.1], [36.4, 35.1], [36.4, 35.3],"
    "    [36.2, 35.3], [36.2, 35.1]]]},"
    "  'properties': {'id': 'a', 'party': 'blue', 'kind': 'drone', 'priority': 5,"
    "   'separation': {'horizontal_m': 10},"
    "   'altitude': {'lower_m': 0, 'upper_m': 120},"
    "   'time': {'start': '2026-11-24T06:00:00Z', 'end': '2026-11-24T07:00:00Z'}}},"
    " {'type': 'Feature',"
    "  'geometry': {'type': 'Point', 'coordinates': [36.0, 35.0]},"
    "  'properties': {'id': 'b', 'party': 'red', 'kind': 'drone', 'priority': 7, 'radius_m': 300,"
    "   'altitude': {'lower_m': 0, 'upper_m': 50},"
    "   'time': {'start': '2026-11-24T06:00:00Z', 'end': '2026-11-24T06:10:00Z'}}},"
    " {'type': 'Feature',"
    "  'geometry': {'type': 'Point', 'coordinates': [36.5, 35.2]},"
    "  'properties': {'id': 'a', 'party': 'blue', 'kind': 'drone', 'priority': 5, 'radius_m': 800,"
    "   'separation': {'horizontal_m': 10},"
    "   'altitude': {'lower_m': 120, 'upper_m': 240},"
    "   'time': {'start': '2026-11-24T07:00:00Z', 'end': '2026-11-24T08:00:00Z'}}}]}";

static void test_geojson_collection(void) {
    json_t *j = test_json_load(COLLECTION);
    dcf_operation_list_t list = {0};
    dcf_geo_error_t err = {{0}, {0}};
    int rc = dcf_operations_from_document(j, NULL, DCF_PARSE_REQUIRE_ID | DCF_PARSE_REQUIRE_PARTY,
                                          &list, &err);
    CHECK_MSG(rc == DCF_OK, "%s: %s", err.pointer, err.rule);
    CHECK_INT(list.n, 2);
    if (list.n == 2) {
        const dcf_operation_t *a = list.ops[0], *b = list.ops[1];
        CHECK_STR(a->id, "a");
        CHECK_STR(b->id, "b");
        CHECK_INT(a->n_volumes, 2);
        CHECK_INT(b->n_volumes, 1);
        CHECK_NEAR(a->min_sep.horizontal_m, 10, 0);
        /* The polygon: closing position dropped, [lng, lat] swapped into place. */
        size_t n = 0;
        const dcf_latlng_t *v = dcf_footprint_vertices(a->volumes[0].footprint, &n);
        CHECK_INT(n, 4);
        CHECK(v != NULL && v[1].lat == 35.1 && v[1].lng == 36.4);
        dcf_latlng_t c;
        double r = 0;
        CHECK(dcf_footprint_circle_params(a->volumes[1].footprint, &c, &r));
        CHECK(c.lat == 35.2 && c.lng == 36.5 && r == 800);
        CHECK_NEAR(a->volumes[1].alt_lo, 120, 0);
        CHECK(dcf_footprint_circle_params(b->volumes[0].footprint, &c, &r));
        CHECK(c.lat == 35.0 && c.lng == 36.0 && r == 300);
        /* The merged operation survives the model-form round trip. */
        check_round_trip(a);
    }
    dcf_operation_list_free(&list);

    /* A single feature on its own, with a prefix. */
    dcf_operation_t *op = NULL;
    rc = dcf_operation_from_geojson_feature(json_array_get(json_object_get(j, "features"), 1), NULL,
                                            0, "/x", &op, &err);
    CHECK_INT(rc, DCF_OK);
    CHECK(op != NULL && op->n_volumes == 1);
    dcf_operation_free(op);
    json_decref(j);
}

/* One change to COLLECTION, then expect a document error. */
#define GREJECT(path, value, rc, ptr, rule)                                                        \
    do {                                                                                           \
        json_t *j_ = test_json_load(COLLECTION);                                                   \
        test_json_set(j_, path, value);                                                            \
        char *t_ = json_dumps(j_, 0);                                                              \
        expect_doc_err(t_, NULL, DCF_PARSE_REQUIRE_ID | DCF_PARSE_REQUIRE_PARTY, rc, ptr, rule,    \
                       __LINE__);                                                                  \
        free(t_);                                                                                  \
        json_decref(j_);                                                                           \
    } while (0)

static void test_geojson_rejections(void) {
    GREJECT("/features/0/geometry/coordinates/0/2/1", json_real(95), DCF_EINVAL,
            "/features/0/geometry/coordinates/0/2/1", "must be between -90 and 90");
    GREJECT("/features/0/geometry/coordinates/0/3/0", json_string("36.2"), DCF_EINVAL,
            "/features/0/geometry/coordinates/0/3/0", "must be a number");
    GREJECT("/features/0/geometry/coordinates/0/4/1", json_real(35.2), DCF_EINVAL,
            "/features/0/geometry/coordinates/0/4",
            "must equal the first position (a GeoJSON ring is closed)");
    GREJECT("/features/0/geometry/coordinates/0/2/2", json_integer(100), DCF_EINVAL,
            "/features/0/geometry/coordinates/0/2/2",
            "altitude in a position is not supported (use properties.altitude)");
    GREJECT("/features/0/geometry/coordinates/0/2", test_json_load("[36.4]"), DCF_EINVAL,
            "/features/0/geometry/coordinates/0/2", "must be a position [longitude, latitude]");
    GREJECT("/features/0/geometry/coordinates/1",
            test_json_load("[[36.3, 35.2], [36.35, 35.2], [36.35, 35.25], [36.3, 35.2]]"),
            DCF_EINVAL, "/features/0/geometry/coordinates/1", "holes are not supported");
    GREJECT("/features/0/geometry/coordinates/0",
            test_json_load("[[36.2, 35.1], [36.4, 35.1], [36.2, 35.1]]"), DCF_EINVAL,
            "/features/0/geometry/coordinates/0",
            "must have at least 4 positions (3 vertices and the closing position)");
    GREJECT("/features/0/geometry/type", json_string("MultiPolygon"), DCF_EINVAL,
            "/features/0/geometry/type", "must be \"Polygon\" or \"Point\"");
    GREJECT("/features/0/geometry/bbox", test_json_load("[0, 0, 1, 1]"), DCF_EINVAL,
            "/features/0/geometry/bbox", "unknown member");
    GREJECT("/features/0/properties/radius_m", json_integer(5), DCF_EINVAL,
            "/features/0/properties/radius_m", "is allowed only with a Point geometry");
    GREJECT("/features/1/properties/radius_m", NULL, DCF_EINVAL, "/features/1/properties/radius_m",
            "is required");
    GREJECT("/features/1/properties/radius_m", json_integer(0), DCF_EINVAL,
            "/features/1/properties/radius_m", "must be greater than 0 and at most 1000000");
    GREJECT("/features/1/geometry/coordinates/1", json_real(-90.5), DCF_EINVAL,
            "/features/1/geometry/coordinates/1", "must be between -90 and 90");
    GREJECT("/features/1/properties/time/end", json_string("2026-11-24T06:00:00Z"), DCF_EINVAL,
            "/features/1/properties/time/end",
            "must be later than /features/1/properties/time/start");
    GREJECT("/features/1/properties/volumes", json_array(), DCF_EINVAL,
            "/features/1/properties/volumes", "unknown member");
    GREJECT("/features/1/properties/altitude", NULL, DCF_EINVAL, "/features/1/properties/altitude",
            "is required");
    GREJECT("/features/1/id", json_string("b"), DCF_EINVAL, "/features/1/id", "unknown member");
    GREJECT("/features/1/type", json_string("feature"), DCF_EINVAL, "/features/1/type",
            "must be \"Feature\"");
    GREJECT("/features/1/properties", NULL, DCF_EINVAL, "/features/1/properties", "is required");
    GREJECT("/features/1/geometry", json_null(), DCF_EINVAL, "/features/1/geometry",
            "must be an object");
    GREJECT("/features", json_object(), DCF_EINVAL, "/features", "must be an array");
    GREJECT("/features/1/properties/id", NULL, DCF_EINVAL, "/features/1/properties/id",
            "is required");
    /* Merged features must agree; the later one is blamed. */
    GREJECT("/features/2/properties/priority", json_integer(6), DCF_EINVAL,
            "/features/2/properties/priority",
            "must match /features/0, the first feature of operation \"a\"");
    GREJECT("/features/2/properties/party", json_string("red"), DCF_EINVAL,
            "/features/2/properties/party",
            "must match /features/0, the first feature of operation \"a\"");
    GREJECT("/features/2/properties/separation", NULL, DCF_EINVAL,
            "/features/2/properties/separation",
            "must match /features/0, the first feature of operation \"a\"");
    GREJECT("/features/2/properties/disclosure", json_string("full"), DCF_EINVAL,
            "/features/2/properties/disclosure",
            "must match /features/0, the first feature of operation \"a\"");

    /* Limits: volumes per merged operation, operations per document,
     * positions per ring. */
    dcf_geo_limits_t lim;
    char *t = strdup(COLLECTION);
    for (char *p = t; *p; p++)
        if (*p == '\'')
            *p = '"';
    dcf_geo_limits_default(&lim);
    lim.max_volumes = 1;
    expect_doc_err(t, &lim, 0, DCF_ELIMIT, "/features/2",
                   "would give operation \"a\" (first at /features/0) more than 1 volumes",
                   __LINE__);
    dcf_geo_limits_default(&lim);
    lim.max_operations = 1;
    expect_doc_err(t, &lim, 0, DCF_ELIMIT, "/features/1", "starts more than 1 operations",
                   __LINE__);
    dcf_geo_limits_default(&lim);
    lim.max_vertices = 3;
    expect_doc_err(t, &lim, 0, DCF_ELIMIT, "/features/0/geometry/coordinates/0",
                   "must have at most 4 positions (3 vertices and the closing position)", __LINE__);
    free(t);
}

/* footprint.c's pointers come back in GeoJSON terms: a self-intersecting
 * ring and a repeated position. */
static void test_geojson_footprint_pointer(void) {
    GREJECT(
        "/features/0/geometry/coordinates/0",
        test_json_load("[[36.2, 35.1], [36.4, 35.1], [36.2, 35.3], [36.4, 35.3], [36.2, 35.1]]"),
        DCF_EINVAL, "/features/0/geometry/coordinates/0/1",
        "edges must not cross (edge 1-2 crosses edge 3-0)");
    GREJECT("/features/0/geometry/coordinates/0/2", test_json_load("[36.4, 35.1]"), DCF_EINVAL,
            "/features/0/geometry/coordinates/0/2", "must differ from the previous vertex");
}

/* dcf_operation_equal tells apart operations that differ in one field, and
 * dcf_json_too_deep counts nesting exactly. */
static void test_equal_and_depth(void) {
    dcf_operation_t *a = parse_ok(POLY_OP, 0), *b = parse_ok(POLY_OP, 0);
    dcf_operation_t *c = parse_ok(CIRCLE_OP, 0);
    if (a == NULL || b == NULL || c == NULL)
        return;
    CHECK(dcf_operation_equal(a, b));
    CHECK(!dcf_operation_equal(a, c));
    b->priority++;
    CHECK(!dcf_operation_equal(a, b));
    b->priority--;
    b->volumes[0].t_end++;
    CHECK(!dcf_operation_equal(a, b));
    b->volumes[0].t_end--;
    b->min_sep.vertical_m = 1;
    CHECK(!dcf_operation_equal(a, b));
    dcf_operation_free(a);
    dcf_operation_free(b);
    dcf_operation_free(c);

    CHECK(dcf_kind_valid("air-patrol"));
    CHECK(!dcf_kind_valid("-air"));
    CHECK(!dcf_kind_valid("Air"));
    CHECK(!dcf_kind_valid(""));

    json_t *j = test_json_load("{'a': [[{'b': 1}]]}"); /* depth 4 */
    CHECK(!dcf_json_too_deep(j, 4));
    CHECK(dcf_json_too_deep(j, 3));
    json_decref(j);
    j = json_integer(7);
    CHECK(!dcf_json_too_deep(j, 0));
    json_decref(j);
}

int main(void) {
    RUN(test_equal_and_depth);
    RUN(test_polygon_op);
    RUN(test_circle_op);
    RUN(test_multi_volume_op);
    RUN(test_field_rejections);
    RUN(test_footprint_rejections);
    RUN(test_limits);
    RUN(test_documents);
    RUN(test_geojson_collection);
    RUN(test_geojson_rejections);
    RUN(test_geojson_footprint_pointer);
    TEST_DONE();
}
