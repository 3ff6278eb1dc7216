/*
 * geo_micro.c -- what one exact pair test costs, by shape and by how close
 * the pair is, and what building a footprint costs.
 *
 * Pairs are built near 35 N 41 E like the engine benchmark's footprints
 * (circles of 100 m - 10 km radius, convex 8-gons and concave 16-gons of
 * 0.2 - 20 km across) and placed in bands relative to the minimum
 * h = 1000 m: overlapping, near (boundary gap 0 - 2h), far (gap 2h - 20
 * km, as an index box grown by the widest minima would still return), and
 * at-h (near pairs, each with its own minimum 5 cm either side of its
 * reported distance -- itself within 0.25 m -- so that nearly every
 * decision takes the slow, measured path).  Each
 * row is the mean over all pairs of dcf_volume_conflict, once without and
 * once with the overlap record (the engine asks for it, which costs a
 * distance on conflicting pairs), plus how often the slow refinement ran
 * (pairs whose decision needed geod_inverse).
 *
 * Usage: build/bench/geo_micro [pairs-per-row [row-filter]]
 *   pairs-per-row defaults to 4000; row-filter keeps only rows whose
 *   "shapes band" text contains it (for profiling one row).
 * Prints a table; writes nothing.
 */
#include <geodesic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "deconflict/geo.h"

enum { SHAPE_CIRCLE, SHAPE_POLY8, SHAPE_POLY16 };
enum { BAND_OVERLAP, BAND_NEAR, BAND_FAR, BAND_AT_H };

static const char *const shape_names[] = {"circle", "poly8", "poly16"};
static const char *const band_names[] = {"overlap", "near", "far", "at-h"};

typedef struct {
    struct geod_geodesic g;
    dcf_bench_rng_t rng;
} gen_t;

static double unif(gen_t *g, double lo, double hi) {
    return lo + (hi - lo) * dcf_bench_rng_unit(&g->rng);
}

/* A footprint of the given shape around c with outer radius r. */
static dcf_footprint_t *make(gen_t *g, int shape, dcf_latlng_t c, double r) {
    dcf_footprint_t *f = NULL;
    if (shape == SHAPE_CIRCLE) {
        if (dcf_footprint_circle(c, r, "", &f, NULL) != DCF_OK)
            return NULL;
        return f;
    }
    int n = shape == SHAPE_POLY8 ? 8 : 16;
    dcf_latlng_t v[16];
    for (int i = 0; i < n; i++) {
        double rr = shape == SHAPE_POLY8 ? r : (i % 2 ? r : r * unif(g, 0.45, 0.9));
        geod_direct(&g->g, c.lat, c.lng, i * 360.0 / n, rr, &v[i].lat, &v[i].lng, NULL);
    }
    if (dcf_footprint_polygon(NULL, v, (size_t)n, "", &f, NULL) != DCF_OK)
        return NULL;
    return f;
}

typedef struct {
    dcf_volume_t a, b;
    double h; /* the pair's own horizontal minimum (band at-h), else < 0 */
} pair_t;

static int build_pairs(gen_t *g, int sa, int sb, int band, double h, pair_t *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        dcf_latlng_t ca = {35.0 + unif(g, -1, 1), 41.0 + unif(g, -1, 1)}, cb;
        double ra = exp(unif(g, log(100.0), log(10000.0)));
        double rb = exp(unif(g, log(100.0), log(10000.0)));
        double d = band == BAND_OVERLAP ? unif(g, 0, 0.8) * fmin(ra, rb)
                   : band == BAND_FAR   ? ra + rb + unif(g, 2 * h, 20000)
                                        : ra + rb + unif(g, 0, 2 * h);
        geod_direct(&g->g, ca.lat, ca.lng, unif(g, 0, 360), d, &cb.lat, &cb.lng, NULL);
        dcf_footprint_t *fa = make(g, sa, ca, ra), *fb = make(g, sb, cb, rb);
        if (fa == NULL || fb == NULL)
            return -1;
        out[i].a = (dcf_volume_t){fa, 0, 500, 0, 3600 * DCF_USEC_PER_SEC};
        out[i].b = (dcf_volume_t){fb, 100, 600, 600 * DCF_USEC_PER_SEC, 7200 * DCF_USEC_PER_SEC};
        out[i].h = -1.0;
    }
    return 0;
}

static void free_pairs(pair_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        dcf_footprint_free(p[i].a.footprint);
        dcf_footprint_free(p[i].b.footprint);
    }
}

/* Band at-h: give each pair a minimum 5 cm either side of its distance, so
 * that every decision needs the slow path. */
static int set_at_h(dcf_geo_ctx_t *ctx, pair_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double d;
        if (dcf_footprint_distance(ctx, p[i].a.footprint, p[i].b.footprint, &d) != DCF_OK)
            return -1;
        p[i].h = d + (i % 2 ? 0.05 : -0.05);
        if (p[i].h <= 0.0)
            p[i].h = 0.05;
    }
    return 0;
}

/* Mean ns per dcf_volume_conflict over the pairs, `reps` passes. */
static double time_pairs(dcf_geo_ctx_t *ctx, const pair_t *p, size_t n, const dcf_sep_t *sep,
                         bool with_overlap, int reps, size_t *hits) {
    dcf_overlap_t ov;
    size_t h = 0;
    uint64_t t0 = dcf_bench_now_ns();
    for (int r = 0; r < reps; r++)
        for (size_t i = 0; i < n; i++) {
            bool c = false;
            dcf_sep_t own = *sep;
            if (p[i].h >= 0.0 && sep->horizontal_m > 0.0)
                own.horizontal_m = p[i].h;
            if (dcf_volume_conflict(ctx, &p[i].a, &p[i].b, &own, &c, with_overlap ? &ov : NULL) !=
                DCF_OK)
                return -1.0;
            h += c;
        }
    uint64_t t1 = dcf_bench_now_ns();
    *hits = h / (size_t)reps;
    return (double)(t1 - t0) / ((double)n * reps);
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 4000;
    const char *filter = argc > 2 ? argv[2] : NULL;
    gen_t g = {.rng = {42}};
    dcf_geo_ctx_t *ctx = NULL;
    pair_t *pairs = calloc(n, sizeof *pairs);
    int pairs_of[][2] = {{SHAPE_CIRCLE, SHAPE_CIRCLE}, {SHAPE_CIRCLE, SHAPE_POLY8},
                         {SHAPE_POLY8, SHAPE_POLY8},   {SHAPE_CIRCLE, SHAPE_POLY16},
                         {SHAPE_POLY8, SHAPE_POLY16},  {SHAPE_POLY16, SHAPE_POLY16}};
    if (n == 0 || pairs == NULL || dcf_geo_ctx_new(&ctx) != DCF_OK)
        return 1;
    geod_init(&g.g, 6378137.0, 1 / 298.257223563);

    printf("exact pair test, mean ns per call (%zu pairs per row, h = 1000 m; h = 0 for the "
           "last column)\n",
           n);
    printf("%-16s %-8s %10s %12s %8s %10s\n", "shapes", "band", "no-overlap", "with-overlap",
           "hits", "h=0");
    for (size_t s = 0; s < sizeof pairs_of / sizeof *pairs_of; s++) {
        for (int band = 0; band < 4; band++) {
            dcf_sep_t sep = {1000.0, 50.0, 0}, sep0 = {0, 0, 0};
            size_t hits = 0, hits0 = 0;
            char name[32], row[48];
            snprintf(name, sizeof name, "%s-%s", shape_names[pairs_of[s][0]],
                     shape_names[pairs_of[s][1]]);
            snprintf(row, sizeof row, "%s %s", name, band_names[band]);
            if (filter != NULL && strstr(row, filter) == NULL)
                continue;
            if (build_pairs(&g, pairs_of[s][0], pairs_of[s][1], band, sep.horizontal_m, pairs, n) !=
                0)
                return 1;
            if (band == BAND_AT_H && set_at_h(ctx, pairs, n) != 0)
                return 1;
            int reps = (int)(200000 / n) + 1;
            if (band == BAND_AT_H)
                reps = 1;
            double t_plain = time_pairs(ctx, pairs, n, &sep, false, reps, &hits);
            double t_ov = time_pairs(ctx, pairs, n, &sep, true, reps, &hits);
            double t_zero = time_pairs(ctx, pairs, n, &sep0, false, reps, &hits0);
            printf("%-16s %-8s %10.0f %12.0f %7.0f%% %10.0f\n", name, band_names[band], t_plain,
                   t_ov, 100.0 * (double)hits / (double)n, t_zero);
            free_pairs(pairs, n);
        }
    }

    /* Construction. */
    int shapes[] = {SHAPE_CIRCLE, SHAPE_POLY8, SHAPE_POLY16};
    printf("\nfootprint construction, mean ns\n");
    for (int s = 0; s < 3; s++) {
        dcf_latlng_t c = {35.0, 41.0};
        double r = 2000.0;
        uint64_t t0 = dcf_bench_now_ns();
        for (size_t i = 0; i < n; i++)
            dcf_footprint_free(make(&g, shapes[s], c, r));
        uint64_t t1 = dcf_bench_now_ns();
        printf("%-8s %10.0f (includes generating the vertices)\n", shape_names[shapes[s]],
               (double)(t1 - t0) / (double)n);
    }
    dcf_geo_ctx_free(ctx);
    free(pairs);
    return 0;
}
