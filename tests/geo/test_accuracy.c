/*
 * test_accuracy.c -- dcf_footprint_distance and dcf_volume_conflict against
 * geodesic ground truth.
 *
 * Ground truth is computed independently of the library's method: both
 * boundaries are sampled along the true geodesic edges (geod_inverseline +
 * geod_position; circles with geod_direct from the centre), every sample
 * pair is measured with geod_inverse, and the best few pairs are refined by
 * alternating golden-section searches along the boundaries until the
 * distance stops improving.  Pairs that overlap do so by construction (they
 * share their centre point), so their truth is 0.
 *
 * Footprints are up to 200 km across, at mid-latitudes, across the
 * antimeridian and within 1 km of both poles.  Every pair must be within
 * 1 m; the largest error seen is printed.
 */
#include <geodesic.h>

#include "deconflict/geo.h"
#include "geo/geo_int.h"
#include "test.h"

static struct geod_geodesic G;
static dcf_geo_ctx_t *CTX;

static uint64_t rng_state = 0x853c49e6748fea9bu;

static double unif(double lo, double hi) {
    return test_unif(&rng_state, lo, hi);
}

/* --------------------------------------------------- boundary sampling -- */

#define MAXV 16

typedef struct {
    bool circle;
    dcf_latlng_t c; /* centre (circle) */
    double r;
    size_t n; /* polygon */
    dcf_latlng_t v[MAXV];
    struct geod_geodesicline line[MAXV];
    dcf_footprint_t *f;
} shape_t;

/* A boundary point: polygon (edge, distance along it) or circle azimuth. */
typedef struct {
    size_t e;
    double s;
} bpos_t;

static dcf_latlng_t bpoint(const shape_t *sh, bpos_t p) {
    dcf_latlng_t r;
    if (sh->circle)
        geod_direct(&G, sh->c.lat, sh->c.lng, p.s, sh->r, &r.lat, &r.lng, NULL);
    else
        geod_position(&sh->line[p.e], p.s, &r.lat, &r.lng, NULL);
    return r;
}

static double pdist(dcf_latlng_t a, dcf_latlng_t b) {
    double s12;
    geod_inverse(&G, a.lat, a.lng, b.lat, b.lng, &s12, NULL, NULL);
    return s12;
}

/* Golden-section search of [lo, hi] for the position nearest q. */
static double golden(const shape_t *sh, size_t e, double lo, double hi, dcf_latlng_t q,
                     double *best_s) {
    const double g = 0.6180339887498949;
    double a = lo, b = hi;
    double x1 = b - g * (b - a), x2 = a + g * (b - a);
    double f1 = pdist(bpoint(sh, (bpos_t){e, x1}), q), f2 = pdist(bpoint(sh, (bpos_t){e, x2}), q);
    double tol = sh->circle ? 1e-11 : 1e-6;
    while (b - a > tol) {
        if (f1 < f2) {
            b = x2;
            x2 = x1;
            f2 = f1;
            x1 = b - g * (b - a);
            f1 = pdist(bpoint(sh, (bpos_t){e, x1}), q);
        } else {
            a = x1;
            x1 = x2;
            f1 = f2;
            x2 = a + g * (b - a);
            f2 = pdist(bpoint(sh, (bpos_t){e, x2}), q);
        }
    }
    double fl = pdist(bpoint(sh, (bpos_t){e, lo}), q), fh = pdist(bpoint(sh, (bpos_t){e, hi}), q);
    double best = fmin(f1, f2);
    *best_s = f1 < f2 ? x1 : x2;
    if (fl < best) {
        best = fl;
        *best_s = lo;
    }
    if (fh < best) {
        best = fh;
        *best_s = hi;
    }
    return best;
}

/* Move p along sh's boundary to the point nearest q (near its current
 * place: the same and the neighbouring edges, or +-4 degrees of azimuth). */
static double refine_side(const shape_t *sh, bpos_t *p, dcf_latlng_t q) {
    double best = pdist(bpoint(sh, *p), q), s;
    if (sh->circle) {
        double d = golden(sh, 0, p->s - 4, p->s + 4, q, &s);
        if (d < best) {
            best = d;
            p->s = s;
        }
        return best;
    }
    size_t e0 = p->e;
    for (int k = -1; k <= 1; k++) {
        size_t e = (e0 + sh->n + (size_t)(k + 1) - 1) % sh->n;
        double d = golden(sh, e, 0, sh->line[e].s13, q, &s);
        if (d < best) {
            best = d;
            p->e = e;
            p->s = s;
        }
    }
    return best;
}

#define NS 96 /* samples per boundary */

static size_t samples(const shape_t *sh, bpos_t *out) {
    size_t k = 0;
    if (sh->circle) {
        for (; k < NS; k++)
            out[k] = (bpos_t){0, 360.0 * (double)k / NS};
        return k;
    }
    double per = 0;
    for (size_t e = 0; e < sh->n; e++)
        per += sh->line[e].s13;
    for (size_t e = 0; e < sh->n; e++) {
        size_t m = 1 + (size_t)(NS * sh->line[e].s13 / per);
        for (size_t j = 0; j < m; j++)
            out[k++] = (bpos_t){e, sh->line[e].s13 * (double)j / (double)m};
    }
    return k;
}

static double truth_distance(const shape_t *a, const shape_t *b) {
    static bpos_t sa[NS + MAXV + 1], sb[NS + MAXV + 1];
    static dcf_latlng_t pa[NS + MAXV + 1], pb[NS + MAXV + 1];
    size_t na = samples(a, sa), nb = samples(b, sb);
    enum { K = 4 };
    double top[K];
    size_t ti[K], tj[K];
    for (int k = 0; k < K; k++)
        top[k] = INFINITY, ti[k] = tj[k] = 0;
    for (size_t i = 0; i < na; i++)
        pa[i] = bpoint(a, sa[i]);
    for (size_t j = 0; j < nb; j++)
        pb[j] = bpoint(b, sb[j]);
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++) {
            double d = pdist(pa[i], pb[j]);
            if (d >= top[K - 1])
                continue;
            int k = K - 1;
            while (k > 0 && top[k - 1] > d) {
                top[k] = top[k - 1];
                ti[k] = ti[k - 1];
                tj[k] = tj[k - 1];
                k--;
            }
            top[k] = d;
            ti[k] = i;
            tj[k] = j;
        }
    double best = top[0];
    for (int k = 0; k < K; k++) {
        bpos_t p = sa[ti[k]], q = sb[tj[k]];
        double d = top[k], prev = INFINITY;
        for (int round = 0; round < 60 && prev - d > 1e-7; round++) {
            prev = d;
            refine_side(a, &p, bpoint(b, q));
            d = refine_side(b, &q, bpoint(a, p));
        }
        best = fmin(best, d);
    }
    return best;
}

/* ------------------------------------------------------------- shapes -- */

static bool make_shape(shape_t *sh, dcf_latlng_t c, double rmax, bool circle) {
    memset(sh, 0, sizeof *sh);
    sh->circle = circle;
    sh->c = c;
    if (circle) {
        sh->r = rmax * unif(0.3, 1.0);
        return dcf_footprint_circle(c, sh->r, "", &sh->f, NULL) == DCF_OK;
    }
    sh->n = 3 + (size_t)unif(0, MAXV - 2);
    double az0 = unif(0, 360);
    for (size_t i = 0; i < sh->n; i++) {
        /* Gaps between vertex azimuths stay below 180 degrees, so the
         * centre is inside. */
        double az = az0 + 360.0 * ((double)i + unif(0.2, 0.8)) / (double)sh->n;
        geod_direct(&G, c.lat, c.lng, az, rmax * unif(0.3, 1.0), &sh->v[i].lat, &sh->v[i].lng,
                    NULL);
    }
    for (size_t e = 0; e < sh->n; e++) {
        dcf_latlng_t p = sh->v[e], q = sh->v[(e + 1) % sh->n];
        geod_inverseline(&sh->line[e], &G, p.lat, p.lng, q.lat, q.lng, GEOD_ALL);
    }
    dcf_geo_error_t err;
    if (dcf_footprint_polygon(NULL, sh->v, sh->n, "", &sh->f, &err) != DCF_OK) {
        fprintf(stderr, "rejected: %s %s\n", err.pointer, err.rule);
        return false;
    }
    return true;
}

typedef struct {
    const char *name;
    double max_err;
    int pairs;
    double max_band; /* widest cheap interval relative to the distance */
} region_stats_t;

static void run_region(region_stats_t *st, int npairs, double clat, double clng, double jitter_m) {
    for (int t = 0; t < npairs; t++) {
        shape_t a, b;
        dcf_latlng_t ca, cb;
        /* A's centre: around (clat, clng), up to jitter_m away. */
        geod_direct(&G, clat, clng, unif(0, 360), unif(0, jitter_m), &ca.lat, &ca.lng, NULL);
        double ra = exp(unif(log(100.0), log(100e3))), rb = exp(unif(log(100.0), log(100e3)));
        bool overlap = t % 7 == 0;
        double gap = overlap ? 0 : exp(unif(log(1.0), log(300e3)));
        if (overlap)
            cb = ca;
        else
            geod_direct(&G, ca.lat, ca.lng, unif(0, 360), ra + rb + gap, &cb.lat, &cb.lng, NULL);
        if (!make_shape(&a, ca, ra, t % 3 == 1) || !make_shape(&b, cb, rb, t % 4 == 2)) {
            CHECK(false);
            dcf_footprint_free(a.f);
            dcf_footprint_free(b.f);
            continue;
        }
        double truth = overlap ? 0.0 : truth_distance(&a, &b);
        double got = -1;
        CHECK_INT(dcf_footprint_distance(CTX, a.f, b.f, &got), DCF_OK);
        double err = fabs(got - truth);
        CHECK_MSG(err <= 1.0, "%s pair %d: distance %.4f, truth %.4f (%s-%s)", st->name, t, got,
                  truth, a.circle ? "circle" : "polygon", b.circle ? "circle" : "polygon");
        st->max_err = fmax(st->max_err, err);
        if (err > 1.0 && getenv("DCF_DEBUG")) {
            for (size_t i = 0; i < a.n; i++)
                fprintf(stderr, "A %.12f %.12f\n", a.v[i].lat, a.v[i].lng);
            for (size_t i = 0; i < b.n; i++)
                fprintf(stderr, "B %.12f %.12f\n", b.v[i].lat, b.v[i].lng);
            fprintf(stderr, "centre %.12f %.12f\n", ca.lat, ca.lng);
        }
        st->pairs++;
        /* The cheap interval, before any refinement, holds the truth. */
        double blo = -1, bhi = -1;
        CHECK_INT(dcf__footprint_bounds(CTX, a.f, b.f, &blo, &bhi), DCF_OK);
        CHECK_MSG(blo <= truth + 1e-6 && truth <= bhi + 1e-6,
                  "%s pair %d: bounds [%.6f, %.6f] miss truth %.6f", st->name, t, blo, bhi, truth);
        if (isfinite(bhi) && truth > 0)
            st->max_band = fmax(st->max_band, (bhi - blo) / truth);
        /* The decision follows the truth 1 m either side of it. */
        if (truth > 1.0) {
            dcf_volume_t va = {a.f, 0, 100, 0, 10}, vb = {b.f, 0, 100, 0, 10};
            dcf_sep_t lo = {truth - 1.0, 0, 0}, hi = {truth + 1.0, 0, 0};
            bool c_lo = true, c_hi = false;
            CHECK_INT(dcf_volume_conflict(CTX, &va, &vb, &lo, &c_lo, NULL), DCF_OK);
            CHECK_INT(dcf_volume_conflict(CTX, &va, &vb, &hi, &c_hi, NULL), DCF_OK);
            CHECK_MSG(!c_lo && c_hi, "%s pair %d: decision at truth -+ 1 m: %d %d", st->name, t,
                      c_lo, c_hi);
        } else if (overlap) {
            dcf_volume_t va = {a.f, 0, 100, 0, 10}, vb = {b.f, 0, 100, 0, 10};
            dcf_sep_t zero = {0, 0, 0};
            bool c = false;
            CHECK_INT(dcf_volume_conflict(CTX, &va, &vb, &zero, &c, NULL), DCF_OK);
            CHECK(c);
        }
        dcf_footprint_free(a.f);
        dcf_footprint_free(b.f);
    }
}

static double worst;

static void report(const region_stats_t *st) {
    fprintf(stderr,
            "  %-22s %4d pairs, max |error| %.3g m, widest cheap interval %.3g x distance\n",
            st->name, st->pairs, st->max_err, st->max_band);
    worst = fmax(worst, st->max_err);
}

/* A narrow diamond with its tip at p, extending along azimuth az (its tip
 * half-angle is about 17 degrees, so the tip is its point nearest anything
 * straight ahead of it). */
static dcf_footprint_t *diamond(dcf_latlng_t p, double az, double len) {
    dcf_latlng_t v[4], c;
    geod_direct(&G, p.lat, p.lng, az, len, &c.lat, &c.lng, NULL);
    double azc;
    geod_inverse(&G, c.lat, c.lng, p.lat, p.lng, NULL, &azc, NULL);
    v[0] = p;
    geod_direct(&G, c.lat, c.lng, azc + 90, 0.3 * len, &v[1].lat, &v[1].lng, NULL);
    geod_direct(&G, c.lat, c.lng, azc + 180, len, &v[2].lat, &v[2].lng, NULL);
    geod_direct(&G, c.lat, c.lng, azc - 90, 0.3 * len, &v[3].lat, &v[3].lng, NULL);
    dcf_footprint_t *f = NULL;
    if (dcf_footprint_polygon(NULL, v, 4, "", &f, NULL) != DCF_OK)
        return NULL;
    return f;
}

/*
 * Many pairs whose distance is known in closed form: circles (centre
 * distance minus radii) and diamonds pointing at each other along a
 * geodesic (tip to tip), everywhere on the globe, 100 m to 100 km in size,
 * 1 m to 300 km apart.  The cheap interval must hold the truth, the
 * distance must be within 1 m and the decision must follow the truth.
 */
static void test_known_distances(void) {
    double max_err = 0, max_band = 0;
    int n = 0;
    for (int t = 0; t < 3000; t++) {
        dcf_latlng_t p, q;
        double lat = t % 10 == 0 ? (t % 20 ? 1 : -1) * unif(89.9, 90) : unif(-89, 89);
        p.lat = lat;
        p.lng = unif(-180, 180);
        double az = unif(0, 360), gap = exp(unif(log(1.0), log(300e3)));
        double azq;
        geod_direct(&G, p.lat, p.lng, az, gap, &q.lat, &q.lng, &azq);
        double la = exp(unif(log(100.0), log(100e3))), lb = exp(unif(log(100.0), log(100e3)));
        dcf_footprint_t *a, *b;
        double truth;
        int kind = t % 3;
        if (kind == 0) { /* circles: gap between the circles themselves */
            dcf_latlng_t ca, cb;
            geod_direct(&G, p.lat, p.lng, az + 180, la, &ca.lat, &ca.lng, NULL);
            geod_direct(&G, q.lat, q.lng, azq, lb, &cb.lat, &cb.lng, NULL);
            a = NULL;
            b = NULL;
            dcf_footprint_circle(ca, la, "", &a, NULL);
            dcf_footprint_circle(cb, lb, "", &b, NULL);
            truth = dcf_geo_point_distance(ca, cb) - la - lb;
        } else if (kind == 1) { /* circle and diamond */
            dcf_latlng_t ca;
            geod_direct(&G, p.lat, p.lng, az + 180, la, &ca.lat, &ca.lng, NULL);
            a = NULL;
            dcf_footprint_circle(ca, la, "", &a, NULL);
            b = diamond(q, azq, lb);
            truth = dcf_geo_point_distance(ca, q) - la;
        } else {
            a = diamond(p, az + 180, la);
            b = diamond(q, azq, lb);
            truth = gap;
        }
        if (a == NULL || b == NULL) {
            dcf_footprint_free(a);
            dcf_footprint_free(b);
            continue;
        }
        double got = -1, blo, bhi;
        CHECK_INT(dcf_footprint_distance(CTX, a, b, &got), DCF_OK);
        CHECK_INT(dcf__footprint_bounds(CTX, a, b, &blo, &bhi), DCF_OK);
        CHECK_MSG(fabs(got - truth) <= 1.0, "pair %d kind %d: %.4f vs %.4f", t, kind, got, truth);
        CHECK_MSG(blo <= truth + 1e-6 && truth <= bhi + 1e-6,
                  "pair %d kind %d lat %.4f: [%.6f, %.6f] misses %.6f", t, kind, lat, blo, bhi,
                  truth);
        max_err = fmax(max_err, fabs(got - truth));
        if (isfinite(bhi))
            max_band = fmax(max_band, (bhi - blo) / truth);
        if (truth > 1.0) {
            dcf_volume_t va = {a, 0, 100, 0, 10}, vb = {b, 0, 100, 0, 10};
            dcf_sep_t lo = {truth - 1.0, 0, 0}, hi = {truth + 1.0, 0, 0};
            bool c_lo = true, c_hi = false;
            CHECK_INT(dcf_volume_conflict(CTX, &va, &vb, &lo, &c_lo, NULL), DCF_OK);
            CHECK_INT(dcf_volume_conflict(CTX, &va, &vb, &hi, &c_hi, NULL), DCF_OK);
            CHECK_MSG(!c_lo && c_hi, "pair %d kind %d: decision at truth -+ 1 m: %d %d", t, kind,
                      c_lo, c_hi);
        }
        n++;
        dcf_footprint_free(a);
        dcf_footprint_free(b);
    }
    fprintf(stderr,
            "  known distances: %d pairs, max |error| %.3g m, widest cheap interval %.3g "
            "x distance\n",
            n, max_err, max_band);
    CHECK(n > 2900);
    worst = fmax(worst, max_err);
}

static void test_mid_latitudes(void) {
    region_stats_t st = {"mid-latitudes", 0, 0, 0};
    for (int k = 0; k < 6; k++)
        run_region(&st, 15, unif(-65, 65), unif(-180, 180), 0);
    report(&st);
}

static void test_antimeridian(void) {
    region_stats_t st = {"antimeridian", 0, 0, 0};
    run_region(&st, 40, unif(-60, 60), 180, 80e3);
    run_region(&st, 20, unif(-60, 60), -180, 20e3);
    report(&st);
}

static void test_north_pole(void) {
    region_stats_t st = {"north pole (<= 1 km)", 0, 0, 0};
    run_region(&st, 50, 90, 0, 1000);
    report(&st);
}

static void test_south_pole(void) {
    region_stats_t st = {"south pole (<= 1 km)", 0, 0, 0};
    run_region(&st, 50, -90, 0, 1000);
    report(&st);
}

int main(void) {
    geod_init(&G, 6378137.0, 1 / 298.257223563);
    if (dcf_geo_ctx_new(&CTX) != DCF_OK)
        return 1;
    RUN(test_mid_latitudes);
    RUN(test_antimeridian);
    RUN(test_north_pole);
    RUN(test_south_pole);
    RUN(test_known_distances);
    fprintf(stderr, "max |dcf_footprint_distance - truth| over all pairs: %.3g m\n", worst);
    dcf_geo_ctx_free(CTX);
    TEST_DONE();
}
