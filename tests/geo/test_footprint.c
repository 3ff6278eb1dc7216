/*
 * test_footprint.c -- footprint construction: every validation rule with its
 * exact pointer and rule text, the accessors, and the conservativeness of
 * dcf_footprint_bbox and dcf_bbox_expand against points sampled along the
 * true geodesics (PROJ geodesic.h), including the antimeridian, polygons
 * around a pole and circles near the poles.
 */
#include <geodesic.h>

#include "deconflict/geo.h"
#include "test.h"

static struct geod_geodesic G;

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static double unif(double lo, double hi) {
    return test_unif(&rng_state, lo, hi);
}

static dcf_latlng_t ll(double lat, double lng) {
    return (dcf_latlng_t){lat, lng};
}

/* ------------------------------------------------------------ validation -- */

static int poly(const dcf_latlng_t *v, size_t n, dcf_geo_error_t *err) {
    dcf_geo_limits_t lim;
    dcf_footprint_t *f = NULL;
    dcf_geo_limits_default(&lim);
    memset(err, 0, sizeof *err);
    int rc = dcf_footprint_polygon(&lim, v, n, "/volumes/0/footprint", &f, err);
    dcf_footprint_free(f);
    return rc;
}

#define EXPECT_POLY_ERR(v, n, code, ptr, rule_text)                                                \
    do {                                                                                           \
        dcf_geo_error_t e_;                                                                        \
        CHECK_INT(poly((v), (n), &e_), (code));                                                    \
        CHECK_STR(e_.pointer, (ptr));                                                              \
        CHECK_STR(e_.rule, (rule_text));                                                           \
    } while (0)

static void test_polygon_rules(void) {
    dcf_latlng_t sq[8] = {ll(0, 0), ll(0, 0.01), ll(0.01, 0.01), ll(0.01, 0)};
    dcf_geo_error_t e;

    CHECK_INT(poly(sq, 4, &e), DCF_OK);
    EXPECT_POLY_ERR(sq, 2, DCF_EINVAL, "/volumes/0/footprint/vertices",
                    "must have at least 3 vertices");

    dcf_latlng_t v[8];
    memcpy(v, sq, sizeof sq);
    v[2].lat = 90.5;
    EXPECT_POLY_ERR(v, 4, DCF_EINVAL, "/volumes/0/footprint/vertices/2/lat",
                    "must be between -90 and 90");
    memcpy(v, sq, sizeof sq);
    v[3].lng = -180.25;
    EXPECT_POLY_ERR(v, 4, DCF_EINVAL, "/volumes/0/footprint/vertices/3/lng",
                    "must be between -180 and 180");
    memcpy(v, sq, sizeof sq);
    v[1].lat = NAN;
    EXPECT_POLY_ERR(v, 4, DCF_EINVAL, "/volumes/0/footprint/vertices/1/lat",
                    "must be a finite number");
    memcpy(v, sq, sizeof sq);
    v[0].lng = INFINITY;
    EXPECT_POLY_ERR(v, 4, DCF_EINVAL, "/volumes/0/footprint/vertices/0/lng",
                    "must be a finite number");

    /* Consecutive duplicate, and the ring closed by hand. */
    dcf_latlng_t dup[5] = {ll(0, 0), ll(0, 0.01), ll(0, 0.01), ll(0.01, 0.01), ll(0.01, 0)};
    EXPECT_POLY_ERR(dup, 5, DCF_EINVAL, "/volumes/0/footprint/vertices/2",
                    "must differ from the previous vertex");
    dcf_latlng_t closed[5] = {ll(0, 0), ll(0, 0.01), ll(0.01, 0.01), ll(0.01, 0), ll(0, 0)};
    EXPECT_POLY_ERR(closed, 5, DCF_EINVAL, "/volumes/0/footprint/vertices/4",
                    "must not repeat the first vertex (the ring closes itself)");
    /* -180 and 180 are the same meridian: a duplicate. */
    dcf_latlng_t am[4] = {ll(10, 180), ll(10, -180), ll(10.01, 179.99), ll(9.99, 179.99)};
    EXPECT_POLY_ERR(am, 4, DCF_EINVAL, "/volumes/0/footprint/vertices/1",
                    "must differ from the previous vertex");

    /* Zero area: three points on one meridian. */
    dcf_latlng_t line[3] = {ll(0, 5), ll(0.01, 5), ll(0.02, 5)};
    EXPECT_POLY_ERR(line, 3, DCF_EINVAL, "/volumes/0/footprint/vertices",
                    "must enclose a non-zero area");

    /* Bow tie: edge 0-1 crosses edge 2-3. */
    dcf_latlng_t bow[4] = {ll(0, 0), ll(0.01, 0.01), ll(0, 0.01), ll(0.01, 0)};
    EXPECT_POLY_ERR(bow, 4, DCF_EINVAL, "/volumes/0/footprint/vertices/0",
                    "edges must not cross (edge 0-1 crosses edge 2-3)");

    /* A comb whose edge 5-6 crosses edge 2-3 (and later edges cross too:
     * the lowest pair is reported). */
    double c[8][2] = {{0, 0}, {0, 10}, {2, 10}, {2, 1}, {4, 1}, {4, 10}, {1, 5}, {6, 0}};
    dcf_latlng_t comb[8];
    for (int i = 0; i < 8; i++)
        comb[i] = ll(40 + c[i][1] * 0.001, 10 + c[i][0] * 0.001);
    EXPECT_POLY_ERR(comb, 8, DCF_EINVAL, "/volumes/0/footprint/vertices/2",
                    "edges must not cross (edge 2-3 crosses edge 5-6)");
    /* Touching itself at a vertex is a crossing too (figure of eight). */
    dcf_latlng_t eight[6] = {ll(0, 0),       ll(0.01, 0.01), ll(0.02, 0),
                             ll(0.02, 0.02), ll(0.01, 0.01), ll(0, 0.02)};
    EXPECT_POLY_ERR(eight, 6, DCF_EINVAL, "/volumes/0/footprint/vertices/0",
                    "edges must not cross (edge 0-1 crosses edge 3-4)");

    /* Too many vertices for the configured limit. */
    dcf_geo_limits_t lim;
    dcf_footprint_t *f = NULL;
    dcf_geo_limits_default(&lim);
    lim.max_vertices = 3;
    CHECK_INT(dcf_footprint_polygon(&lim, sq, 4, "/x", &f, &e), DCF_ELIMIT);
    CHECK_STR(e.pointer, "/x/vertices");
    CHECK_STR(e.rule, "must have at most 3 vertices");
    CHECK(f == NULL);

    /* Too big for one frame. */
    dcf_latlng_t huge[4] = {ll(-40, 0), ll(-40, 60), ll(40, 60), ll(40, 0)};
    CHECK_INT(poly(huge, 4, &e), DCF_EINVAL);
    CHECK_STR(e.pointer, "/volumes/0/footprint/vertices");
    CHECK(strncmp(e.rule, "must fit within ", 16) == 0);

    /* NULL err and NULL prefix are allowed. */
    CHECK_INT(dcf_footprint_polygon(NULL, bow, 4, NULL, &f, NULL), DCF_EINVAL);
    CHECK_INT(dcf_footprint_polygon(NULL, sq, 4, NULL, &f, NULL), DCF_OK);
    dcf_footprint_free(f);
}

/* A 10,000-vertex polygon (the default limit) builds, and one crossing far
 * into it is found and named. */
static void test_big_polygon(void) {
    enum { N = DCF_DEFAULT_MAX_VERTICES };
    dcf_latlng_t *v = malloc(N * sizeof *v);
    dcf_footprint_t *f = NULL;
    dcf_geo_error_t e;
    CHECK(v != NULL);
    if (v == NULL)
        return;
    for (int i = 0; i < N; i++) {
        double a = 2 * 3.141592653589793 * i / N, r = 0.5 + 0.05 * sin(40 * a);
        v[i] = ll(-20 + r * sin(a), 130 + r * cos(a));
    }
    CHECK_INT(dcf_footprint_polygon(NULL, v, N, "", &f, &e), DCF_OK);
    dcf_footprint_free(f);
    f = NULL;
    /* Swap two vertices so that edges 4999-5000 and 5001-5002 cross. */
    dcf_latlng_t t = v[5000];
    v[5000] = v[5001];
    v[5001] = t;
    CHECK_INT(dcf_footprint_polygon(NULL, v, N, "", &f, &e), DCF_EINVAL);
    CHECK_STR(e.pointer, "/vertices/4999");
    CHECK_STR(e.rule, "edges must not cross (edge 4999-5000 crosses edge 5001-5002)");
    CHECK(f == NULL);
    free(v);
}

static void test_circle_rules(void) {
    dcf_footprint_t *f = NULL;
    dcf_geo_error_t e;
    CHECK_INT(dcf_footprint_circle(ll(10, 20), 0.0, "/volumes/3/footprint", &f, &e), DCF_EINVAL);
    CHECK_STR(e.pointer, "/volumes/3/footprint/radius_m");
    CHECK_STR(e.rule, "must be greater than 0");
    CHECK_INT(dcf_footprint_circle(ll(10, 20), -5.0, "", &f, &e), DCF_EINVAL);
    CHECK_STR(e.pointer, "/radius_m");
    CHECK_INT(dcf_footprint_circle(ll(10, 20), NAN, "", &f, &e), DCF_EINVAL);
    CHECK_STR(e.rule, "must be a finite number");
    CHECK_INT(dcf_footprint_circle(ll(10, 20), DCF_MAX_RADIUS_M * 1.01, "", &f, &e), DCF_EINVAL);
    CHECK_STR(e.rule, "must be at most 1000000");
    CHECK_INT(dcf_footprint_circle(ll(-91, 20), 10.0, "/f", &f, &e), DCF_EINVAL);
    CHECK_STR(e.pointer, "/f/center/lat");
    CHECK_STR(e.rule, "must be between -90 and 90");
    CHECK_INT(dcf_footprint_circle(ll(0, 180.5), 10.0, "/f", &f, &e), DCF_EINVAL);
    CHECK_STR(e.pointer, "/f/center/lng");
    CHECK(f == NULL);

    CHECK_INT(dcf_footprint_circle(ll(10, 20), DCF_MAX_RADIUS_M, "", &f, &e), DCF_OK);
    dcf_footprint_free(f);
}

static void test_accessors(void) {
    dcf_latlng_t sq[4] = {ll(1, 2), ll(1, 2.01), ll(1.01, 2.01), ll(1.01, 2)};
    dcf_footprint_t *p = NULL, *c = NULL;
    size_t n = 0;
    dcf_latlng_t ctr;
    double r = 0;
    CHECK_INT(dcf_footprint_polygon(NULL, sq, 4, "", &p, NULL), DCF_OK);
    CHECK_INT(dcf_footprint_circle(ll(-3, 4), 250.0, "", &c, NULL), DCF_OK);
    CHECK_INT(dcf_footprint_kind(p), DCF_FOOTPRINT_POLYGON);
    CHECK_INT(dcf_footprint_kind(c), DCF_FOOTPRINT_CIRCLE);
    const dcf_latlng_t *v = dcf_footprint_vertices(p, &n);
    CHECK_INT(n, 4);
    CHECK(v != NULL && memcmp(v, sq, sizeof sq) == 0);
    CHECK(dcf_footprint_vertices(c, &n) == NULL);
    CHECK(!dcf_footprint_circle_params(p, &ctr, &r));
    CHECK(dcf_footprint_circle_params(c, &ctr, &r));
    CHECK(ctr.lat == -3 && ctr.lng == 4 && r == 250.0);
    dcf_footprint_free(p);
    dcf_footprint_free(c);
    dcf_footprint_free(NULL);
}

/* ------------------------------------------------------------------ boxes -- */

static bool in_box(const dcf_bbox_t *b, double lat, double lng) {
    if (lat < b->lat_lo || lat > b->lat_hi)
        return false;
    if (lat == 90.0 || lat == -90.0)
        return true; /* every longitude is the pole */
    if (lng == -180.0 && (b->lng_lo <= 180.0 && 180.0 <= b->lng_hi))
        return true;
    if (lng == 180.0 && (b->lng_lo == -180.0 || b->lng_lo > b->lng_hi))
        return true;
    if (b->lng_lo <= b->lng_hi)
        return b->lng_lo <= lng && lng <= b->lng_hi;
    return lng >= b->lng_lo || lng <= b->lng_hi;
}

static long box_misses;

static void expect_in(const dcf_bbox_t *b, double lat, double lng, const char *what) {
    if (!in_box(b, lat, lng)) {
        if (box_misses++ < 10)
            fprintf(stderr,
                    "%s: (%.12f, %.12f) outside box lat [%.12f, %.12f] lng [%.12f, %.12f]\n", what,
                    lat, lng, b->lat_lo, b->lat_hi, b->lng_lo, b->lng_hi);
    }
}

/* Sample every edge of a polygon along the true geodesic, and points on
 * geodesics from vertex 0 into the polygon. */
static void sample_polygon(const dcf_latlng_t *v, size_t n, const dcf_bbox_t *b, double *lat_max,
                           double *lat_min) {
    for (size_t e = 0; e < n; e++) {
        struct geod_geodesicline l;
        dcf_latlng_t p = v[e], q = v[(e + 1) % n];
        geod_inverseline(&l, &G, p.lat, p.lng, q.lat, q.lng, GEOD_ALL);
        for (int k = 0; k <= 400; k++) {
            double lat, lng;
            geod_position(&l, l.s13 * k / 400.0, &lat, &lng, NULL);
            expect_in(b, lat, lng, "polygon edge");
            *lat_max = fmax(*lat_max, lat);
            *lat_min = fmin(*lat_min, lat);
        }
    }
}

static void check_polygon_box(const dcf_latlng_t *v, size_t n, bool pole, const char *what) {
    dcf_footprint_t *f = NULL;
    dcf_geo_error_t e;
    dcf_bbox_t b;
    double lat_max = -90, lat_min = 90;
    int rc = dcf_footprint_polygon(NULL, v, n, "", &f, &e);
    CHECK_MSG(rc == DCF_OK, "%s: %s %s", what, e.pointer, e.rule);
    if (rc != DCF_OK)
        return;
    dcf_footprint_bbox(f, &b);
    sample_polygon(v, n, &b, &lat_max, &lat_min);
    if (pole) {
        CHECK_MSG(b.lng_lo == -180.0 && b.lng_hi == 180.0, "%s: pole polygon needs all lng", what);
        CHECK_MSG(b.lat_hi == 90.0 || b.lat_lo == -90.0, "%s: pole latitude", what);
    } else {
        /* Not absurdly loose: latitude within 1e-6 deg of the sampled extent. */
        CHECK_MSG(b.lat_hi - lat_max < 1e-6 && lat_min - b.lat_lo < 1e-6,
                  "%s: lat [%g %g] vs %g %g", what, b.lat_lo, b.lat_hi, lat_min, lat_max);
        CHECK_MSG(!(b.lng_lo == -180.0 && b.lng_hi == 180.0), "%s: full lng", what);
    }
    dcf_footprint_free(f);
}

/* A star-shaped polygon of n vertices around c, radii in [r0, r1] metres. */
static size_t star(dcf_latlng_t c, size_t n, double r0, double r1, dcf_latlng_t *out) {
    double az0 = unif(0, 360);
    for (size_t i = 0; i < n; i++) {
        double az = az0 + 360.0 * ((double)i + unif(0.1, 0.9)) / (double)n, lat, lng;
        geod_direct(&G, c.lat, c.lng, az, unif(r0, r1), &lat, &lng, NULL);
        out[i] = ll(lat, lng);
    }
    return n;
}

static void test_polygon_boxes(void) {
    dcf_latlng_t v[64];
    box_misses = 0;
    for (int t = 0; t < 150; t++) {
        dcf_latlng_t c = ll(unif(-80, 80), unif(-180, 180));
        size_t n = star(c, 3 + (size_t)unif(0, 20), unif(100, 1e4), unif(1e4, 3e5), v);
        check_polygon_box(v, n, false, "random");
    }
    /* Across the antimeridian. */
    for (int t = 0; t < 40; t++) {
        dcf_latlng_t c = ll(unif(-70, 70), t % 2 ? 179.9 : -179.95);
        size_t n = star(c, 4 + (size_t)unif(0, 10), 5e3, 1e5, v);
        dcf_footprint_t *f = NULL;
        check_polygon_box(v, n, false, "antimeridian");
        if (dcf_footprint_polygon(NULL, v, n, "", &f, NULL) == DCF_OK) {
            dcf_bbox_t b;
            dcf_footprint_bbox(f, &b);
            CHECK_MSG(b.lng_lo > b.lng_hi, "crossing box expected [%g %g]", b.lng_lo, b.lng_hi);
            CHECK(b.lng_lo > 170 && b.lng_hi < -170);
        }
        dcf_footprint_free(f);
    }
    /* Long edges at high latitude bulge poleward of their vertices. */
    dcf_latlng_t bulge[4] = {ll(60, 0), ll(60, 20), ll(59, 20), ll(59, 0)};
    check_polygon_box(bulge, 4, false, "bulge");
    dcf_latlng_t sbulge[4] = {ll(-60, 0), ll(-59, 0), ll(-59, 20), ll(-60, 20)};
    check_polygon_box(sbulge, 4, false, "south bulge");
    /* Around a pole, and just beside it. */
    for (int t = 0; t < 20; t++) {
        double plat = t % 2 ? 90 : -90;
        size_t n = star(ll(plat, 0), 5 + (size_t)unif(0, 10), 500, 2e5, v);
        check_polygon_box(v, n, true, "pole");
    }
    for (int t = 0; t < 20; t++) {
        double clat = t % 2 ? 89.5 : -89.5;
        size_t n = star(ll(clat, unif(-180, 180)), 5 + (size_t)unif(0, 10), 200, 2e4, v);
        check_polygon_box(v, n, false, "near pole");
    }
    /* A vertex exactly on the pole. */
    dcf_latlng_t onpole[3] = {ll(90, 0), ll(89.99, 10), ll(89.99, -10)};
    check_polygon_box(onpole, 3, true, "vertex on pole");
    CHECK_INT(box_misses, 0);
}

static void test_circle_boxes(void) {
    box_misses = 0;
    for (int t = 0; t < 400; t++) {
        dcf_latlng_t c;
        double r;
        if (t < 100) {
            c = ll(unif(-85, 85), unif(-180, 180));
            r = unif(1, 1e6);
        } else if (t < 200) { /* near the poles: 0..1 km away */
            c = ll((t % 2 ? 1 : -1) * (90 - unif(0, 0.009)), unif(-180, 180));
            r = unif(1, 5000);
        } else if (t < 300) { /* near but not over the poles */
            c = ll((t % 2 ? 1 : -1) * unif(88, 89.9), unif(-180, 180));
            r = unif(1, 3000);
        } else { /* across the antimeridian */
            c = ll(unif(-80, 80), t % 2 ? 179.999 : -179.999);
            r = unif(1, 5e4);
        }
        dcf_footprint_t *f = NULL;
        dcf_bbox_t b;
        CHECK_INT(dcf_footprint_circle(c, r, "", &f, NULL), DCF_OK);
        if (f == NULL)
            continue;
        dcf_footprint_bbox(f, &b);
        for (int k = 0; k < 90; k++) {
            double az = k * 4.0 + unif(0, 4), lat, lng;
            geod_direct(&G, c.lat, c.lng, az, r, &lat, &lng, NULL);
            expect_in(&b, lat, lng, "circle edge");
            geod_direct(&G, c.lat, c.lng, az, r * unif(0, 1), &lat, &lng, NULL);
            expect_in(&b, lat, lng, "circle inside");
        }
        /* Not loose by more than 1 % of the radius in latitude. */
        double latn, lngn;
        geod_direct(&G, c.lat, c.lng, 0, r, &latn, &lngn, NULL);
        if (b.lat_hi < 90.0 && lngn == lngn)
            CHECK_MSG((b.lat_hi - c.lat) < 1.02 * (latn - c.lat) + 1e-8, "loose %g vs %g",
                      b.lat_hi - c.lat, latn - c.lat);
        dcf_footprint_free(f);
    }
    CHECK_INT(box_misses, 0);
}

static void test_bbox_expand(void) {
    box_misses = 0;
    for (int t = 0; t < 2000; t++) {
        dcf_bbox_t b, x;
        double lat0 = unif(-89.9, 89.5);
        b.lat_lo = lat0;
        b.lat_hi = fmin(90, lat0 + unif(0, t % 3 ? 0.5 : 10));
        b.lng_lo = unif(-180, 180);
        b.lng_hi = b.lng_lo + unif(0, t % 3 ? 1 : 40);
        if (b.lng_hi > 180)
            b.lng_hi -= 360; /* crosses the antimeridian */
        double d = t % 4 == 0 ? unif(0, 100) : t % 4 == 1 ? unif(0, 1e4) : unif(0, 1e6);
        x = b;
        dcf_bbox_expand(&x, d);
        CHECK(in_box(&x, b.lat_lo, b.lng_lo) && in_box(&x, b.lat_hi, b.lng_hi));
        for (int k = 0; k < 40; k++) {
            /* A point of the box (often a corner) and a point within d of it. */
            double lat = k % 2 ? (k % 4 == 1 ? b.lat_lo : b.lat_hi) : unif(b.lat_lo, b.lat_hi);
            double span = b.lng_lo <= b.lng_hi ? b.lng_hi - b.lng_lo : b.lng_hi + 360 - b.lng_lo;
            double lng = b.lng_lo + (k % 3 == 0 ? 0 : k % 3 == 1 ? span : unif(0, span));
            if (lng > 180)
                lng -= 360;
            double lat2, lng2, az = k % 5 == 0 ? unif(0, 360) : (k % 2 ? 90 : 270) + unif(-5, 5);
            geod_direct(&G, lat, lng, az, d * (k % 7 == 0 ? unif(0, 1) : 1.0), &lat2, &lng2, NULL);
            expect_in(&x, lat2, lng2, "expand");
        }
    }
    /* Near a pole the longitudes become the whole circle. */
    dcf_bbox_t p = {89.9, 89.95, 10, 11};
    dcf_bbox_expand(&p, 20000);
    CHECK(p.lng_lo == -180 && p.lng_hi == 180 && p.lat_hi == 90);
    /* A zero distance changes nothing. */
    dcf_bbox_t z = {1, 2, 170, -170}, z2 = z;
    dcf_bbox_expand(&z2, 0);
    CHECK(memcmp(&z, &z2, sizeof z) == 0);
    CHECK_INT(box_misses, 0);
}

static void test_point_distance(void) {
    /* One degree of latitude at the equator is 110574.389 m on WGS84. */
    CHECK_NEAR(dcf_geo_point_distance(ll(0, 0), ll(1, 0)), 110574.389, 0.01);
    CHECK_NEAR(dcf_geo_point_distance(ll(10, 179.5), ll(10, -179.5)),
               dcf_geo_point_distance(ll(10, 0), ll(10, 1)), 1e-6);
}

int main(void) {
    geod_init(&G, 6378137.0, 1 / 298.257223563);
    RUN(test_polygon_rules);
    RUN(test_big_polygon);
    RUN(test_circle_rules);
    RUN(test_accessors);
    RUN(test_polygon_boxes);
    RUN(test_circle_boxes);
    RUN(test_bbox_expand);
    RUN(test_point_distance);
    TEST_DONE();
}
