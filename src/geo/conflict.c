/*
 * conflict.c -- the exact 4D conflict test between two volumes, and the
 * geodesic distance between two footprints.
 *
 * Called by the engine for every candidate the index returns, so the common
 * case must cost well under a microsecond; docs/internals/geometry.md has
 * the measured costs and the error analysis summarised here.
 *
 * HOW IT WORKS.
 *   1. Time and altitude: signed gaps against the minima (cheapest first).
 *   2. Caps: every footprint carries a cap on the normal sphere holding all
 *      of it.  The chord between the cap centres is below their angle, so
 *      R_LO * (chord - radii) is a lower bound on the distance; at >= h the
 *      pair is clear.  No trigonometry.
 *   3. A guaranteed interval [lo, hi] for the signed gap (distance, minus
 *      the radii of circles), from cheap local geometry:
 *        circle-circle   the centres' distance from the midpoint radius of
 *                        curvature in the chord's direction (second-order
 *                        accurate: 2e-5 relative at 1,000 km);
 *        circle-polygon  the polygon in a gnomonic frame at the centre,
 *                        scaled by the ellipsoid's metric there (east by
 *                        N, north by M): point-in-polygon for the centre,
 *                        else the nearest boundary point;
 *        polygon-polygon both rings in one such frame midway between them:
 *                        planar distance and closest pair.
 *      The lower end comes from the metric bound: over a disc of angular
 *      radius rho, true lengths are within a factor 1 +- (2 rho^2 + 0.025
 *      rho) of scaled planar lengths (gnomonic scale, variation of M and N,
 *      turning of north).  The upper end measures the closest pair found.
 *      Each densified boundary adds DCF__CHORD_DEV_M.
 *   4. Only when [lo, hi] straddles h (or, for a distance, is wider than
 *      DCF__DIST_TOL_M) is the gap measured on the ellipsoid: the (vertex,
 *      edge) pairs that can still be closest are measured by walking to the
 *      foot of the perpendicular along the true geodesic edge
 *      (geod_position + geod_inverse, a few steps from the planar guess).
 *      For two disjoint geodesic polygons the minimum is always at a vertex
 *      of one of them: the ellipsoid has positive curvature, so a common
 *      perpendicular of two geodesic edges is never a local minimum of the
 *      distance between them.
 *   At h == 0 two polygons conflict when their interiors meet: the planar
 *   interior test of conflict_planar.c on the same frame, exact for shared
 *   edges.  Rings larger than DCF__GEOS_MIN_POINTS on both sides go through
 *   GEOS instead of the quadratic own code.
 *
 * Thread safety: everything mutable is in the dcf_geo_ctx_t, one per thread.
 */
#include <stdlib.h>
#include <string.h>

#include "geo/geo_int.h"

#define E2 (DCF__WGS84_F * (2.0 - DCF__WGS84_F))
/* Mean radius, only used to shape the foot-of-perpendicular steps. */
#define R_MEAN 6371008.8
/* Frames are used out to this angle (radians, 80 degrees) from their centre. */
#define FRAME_MAX_ANG 1.396
/* Foot iteration: stop when a step is shorter than this (metres). */
#define FOOT_TOL_M  1e-4
#define FOOT_MAX_IT 60
/* Midpoint-radius estimate: relative error <= LOCAL_K * theta^2 for angles
 * up to LOCAL_MAX_ANG (measured worst 8.4e-4 theta^2 over 1.6 million
 * random pairs at all latitudes and azimuths; 3.5x margin). */
#define LOCAL_K       3e-3
#define LOCAL_MAX_ANG 0.05

/* --------------------------------------------------------- context -- */

int dcf_geo_ctx_new(dcf_geo_ctx_t **out) {
    dcf_geo_ctx_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return DCF_ENOMEM;
    geod_init(&c->geod, DCF__WGS84_A, DCF__WGS84_F);
    c->geos = GEOS_init_r();
    if (c->geos == NULL) {
        free(c);
        return DCF_EGEOM;
    }
    *out = c;
    return DCF_OK;
}

void dcf_geo_ctx_free(dcf_geo_ctx_t *ctx) {
    if (ctx == NULL)
        return;
    GEOS_finish_r(ctx->geos);
    free(ctx->pa);
    free(ctx->pb);
    free(ctx->cands);
    free(ctx->ts);
    free(ctx);
}

/* ------------------------------------------------------ local geometry -- */

static inline dcf__v3_t v3_add(dcf__v3_t a, dcf__v3_t b) {
    return dcf__v3(a.x + b.x, a.y + b.y, a.z + b.z);
}

/*
 * Geodesic distance between the points with normals p and q, estimated
 * from the angle between the normals and the radius of curvature, at their
 * midpoint, of the direction joining them: R^2 = N^2 cos^2 b + M^2 sin^2 b
 * in the normal sphere's terms (b the chord's azimuth there).  *eta gets a
 * bound on the relative error; beyond LOCAL_MAX_ANG the rigorous R_LO/R_HI
 * interval is returned as its middle and half-width.
 */
static double local_dist(dcf__v3_t p, dcf__v3_t q, double *eta) {
    dcf__v3_t t = dcf__sub(q, p);
    double c2 = dcf__dot(t, t);
    double th = dcf__chord_angle(sqrt(c2));
    if (th > LOCAL_MAX_ANG) {
        *eta = (DCF__R_HI - DCF__R_LO) / (DCF__R_HI + DCF__R_LO);
        return 0.5 * (DCF__R_HI + DCF__R_LO) * th;
    }
    dcf__v3_t m = v3_add(p, q);
    double s2 = m.z * m.z / dcf__dot(m, m), w = 1.0 - E2 * s2;
    double n_rad = DCF__WGS84_A / sqrt(w), mn = (1.0 - E2) / w;
    double cos2 = 1.0 - s2, cb2 = 0.5; /* at a pole M == N: any direction */
    if (cos2 > 1e-18 && c2 > 0.0)
        cb2 = dcf__min(1.0, t.z * t.z / (c2 * cos2));
    *eta = LOCAL_K * th * th + 1e-12;
    return th * n_rad * sqrt(1.0 + (mn * mn - 1.0) * cb2);
}

/* Relative bound between scaled-plane and true lengths over a disc of
 * planar radius^2 rho2 (see the file comment). */
static inline double metric_eta(double rho2) {
    return 2.0 * rho2 + 0.025 * sqrt(rho2) + 1e-12;
}

/* The ellipsoid's metric at the frame's centre as a map from planar frame
 * coordinates to metres east and north: A = diag(N, M) . (axes onto
 * east/north). */
static void frame_metric(const dcf__frame_t *f, double A[4]) {
    dcf__v3_t c = f->c;
    double w = 1.0 - E2 * c.z * c.z, n_rad = DCF__WGS84_A / sqrt(w);
    double m_rad = n_rad * (1.0 - E2) / w, hz = sqrt(c.x * c.x + c.y * c.y);
    if (hz < 1e-12) { /* at a pole M == N */
        A[0] = A[3] = n_rad;
        A[1] = A[2] = 0.0;
        return;
    }
    dcf__v3_t east = dcf__v3(-c.y / hz, c.x / hz, 0.0);
    dcf__v3_t north = dcf__v3(-c.z * c.x / hz, -c.z * c.y / hz, hz);
    A[0] = n_rad * dcf__dot(f->e, east);
    A[1] = n_rad * dcf__dot(f->n, east);
    A[2] = m_rad * dcf__dot(f->e, north);
    A[3] = m_rad * dcf__dot(f->n, north);
}

/* The unit normal of a point of the scaled plane. */
static dcf__v3_t scaled_unproject(const dcf__frame_t *f, const double A[4], dcf__p2_t q) {
    double det = A[0] * A[3] - A[1] * A[2];
    dcf__p2_t r = {(A[3] * q.x - A[1] * q.y) / det, (A[0] * q.y - A[2] * q.x) / det};
    return dcf__unproject(f, r);
}

/* Whether a frame centred at c can hold footprint f (cheap test first: the
 * angle is at most 1.011 times the chord for chords under 0.5). */
static bool frame_holds(dcf__v3_t c, const dcf_footprint_t *f) {
    dcf__v3_t d = dcf__sub(c, f->cap_c);
    double ch = sqrt(dcf__dot(d, d));
    if (ch < 0.5 && 1.011 * ch + f->cap_rad < FRAME_MAX_ANG)
        return true;
    return dcf__angle(c, f->cap_c) + f->cap_rad < FRAME_MAX_ANG;
}

/* Project polygon f into the scaled frame, into *buf (np + 1 points, the
 * last repeating the first); *rho2 is raised to the largest squared radius
 * in the unscaled frame. */
static int project_ring(const dcf__frame_t *fr, const double A[4], const dcf_footprint_t *f,
                        dcf__p2_t **buf, size_t *cap, double *rho2) {
    int rc = dcf__scratch_reserve((void **)buf, cap, f->np + 1, sizeof **buf);
    if (rc != DCF_OK)
        return rc;
    dcf__p2_t *q = *buf;
    double r2 = *rho2;
    for (size_t i = 0; i < f->np; i++) {
        dcf__p2_t p = dcf__project(fr, f->pts[i]);
        r2 = dcf__max(r2, p.x * p.x + p.y * p.y);
        q[i] = (dcf__p2_t){A[0] * p.x + A[1] * p.y, A[2] * p.x + A[3] * p.y};
    }
    q[f->np] = q[0];
    *rho2 = r2;
    return DCF_OK;
}

static bool use_geos(const dcf_footprint_t *a, const dcf_footprint_t *b) {
    return a->np >= DCF__GEOS_MIN_POINTS && b->np >= DCF__GEOS_MIN_POINTS;
}

/* ------------------------------------------------ ellipsoid refinement -- */

/*
 * Geodesic distance from p to the geodesic edge a-b, starting the search at
 * fraction t0 of the edge.  Walks to the foot of the perpendicular: from the
 * current point the step is the along-track distance to the foot on a
 * sphere, atan(tan(d/R) cos(angle)), exact on a sphere and within O(e^2) of
 * it here, so a few steps reach FOOT_TOL_M.  Clamped to the edge's ends.
 */
static double pt_edge(dcf_geo_ctx_t *ctx, dcf_latlng_t p, dcf_latlng_t a, dcf_latlng_t b,
                      double t0) {
    struct geod_geodesicline l;
    geod_inverseline(&l, &ctx->geod, a.lat, a.lng, b.lat, b.lng,
                     GEOD_LATITUDE | GEOD_LONGITUDE | GEOD_AZIMUTH | GEOD_DISTANCE_IN);
    double len = l.s13, s = dcf__min(1.0, dcf__max(0.0, t0)) * len, best = INFINITY;
    for (int it = 0; it < FOOT_MAX_IT; it++) {
        double lat, lng, azl, d, azp, az2;
        geod_position(&l, s, &lat, &lng, &azl);
        geod_inverse(&ctx->geod, lat, lng, p.lat, p.lng, &d, &azp, &az2);
        best = dcf__min(best, d);
        double x = d / R_MEAN, c = cos((azp - azl) * DCF__DEG);
        double step = x < 1.4 ? R_MEAN * atan(tan(x) * c) : 0.5 * d * c;
        double sn = dcf__min(len, dcf__max(0.0, s + step));
        if (fabs(sn - s) < FOOT_TOL_M)
            break;
        s = sn;
    }
    return best;
}

static dcf_latlng_t vert(const dcf_footprint_t *f, size_t i) {
    return f->verts[i % f->n];
}

static int cmp_cand(const void *pa, const void *pb) {
    uint64_t x = ((const dcf__cand_t *)pa)->key, y = ((const dcf__cand_t *)pb)->key;
    return (x > y) - (x < y);
}

static int push_cand(dcf_geo_ctx_t *ctx, size_t *nk, unsigned side, size_t v, size_t e, double t0) {
    int rc =
        dcf__scratch_reserve((void **)&ctx->cands, &ctx->cap_cands, *nk + 1, sizeof *ctx->cands);
    if (rc == DCF_OK)
        ctx->cands[(*nk)++] =
            (dcf__cand_t){((uint64_t)side << 63) | ((uint64_t)v << 32) | (uint64_t)e, t0};
    return rc;
}

/* Measure the collected candidates once each; returns the smallest. */
static double measure_cands(dcf_geo_ctx_t *ctx, const dcf_footprint_t *a, const dcf_footprint_t *b,
                            size_t nk) {
    double best = INFINITY;
    qsort(ctx->cands, nk, sizeof *ctx->cands, cmp_cand);
    for (size_t k = 0; k < nk; k++) {
        uint64_t key = ctx->cands[k].key;
        if (k > 0 && key == ctx->cands[k - 1].key)
            continue;
        const dcf_footprint_t *fv = (key >> 63) ? b : a, *fe = (key >> 63) ? a : b;
        size_t v = (size_t)((key >> 32) & 0x7fffffffu), e = (size_t)(key & 0xffffffffu);
        best = dcf__min(best,
                        pt_edge(ctx, vert(fv, v), vert(fe, e), vert(fe, e + 1), ctx->cands[k].t0));
    }
    return best;
}

/* Distance from point p to polygon b's boundary, every edge measured on the
 * ellipsoid (for pairs no frame can hold). */
static double brute_pt_poly(dcf_geo_ctx_t *ctx, dcf_latlng_t p, const dcf_footprint_t *b) {
    double best = INFINITY;
    for (size_t e = 0; e < b->n; e++)
        best = dcf__min(best, pt_edge(ctx, p, vert(b, e), vert(b, e + 1), 0.5));
    return best;
}

/* ---------------------------------------------------- the signed gap -- */

enum { PAIR_CC, PAIR_CP, PAIR_PP, PAIR_FAR };

/* What the cheap evaluation of a pair learnt.  The signed gap g is the
 * distance minus the radii of circles (so g < 0 for overlapping circles). */
typedef struct {
    int kind;
    bool meet;        /* the closed footprints share a point: g is exactly lo */
    double lo, hi;    /* lo <= g <= hi */
    double eta;       /* CP, PP: the metric bound in force */
    bool partial;     /* PP: the planar search only settled a side of h */
    double witness_d; /* PP: scaled-plane distance of the closest pair found */
    dcf__frame_t fr;
    double A[4];
} gap_t;

/* The circle first when there is one. */
static void order(const dcf_footprint_t **a, const dcf_footprint_t **b) {
    if ((*a)->kind == DCF_FOOTPRINT_POLYGON && (*b)->kind == DCF_FOOTPRINT_CIRCLE) {
        const dcf_footprint_t *t = *a;
        *a = *b;
        *b = t;
    }
}

static double radius(const dcf_footprint_t *f) {
    return f->kind == DCF_FOOTPRINT_CIRCLE ? f->radius_m : 0.0;
}

/* Lower bound on the distance from the caps alone (0 when they overlap). */
static double cap_gap(const dcf_footprint_t *a, const dcf_footprint_t *b) {
    dcf__v3_t d = dcf__sub(a->cap_c, b->cap_c);
    double g = sqrt(dcf__dot(d, d)) - a->cap_rad - b->cap_rad; /* chord <= angle */
    return g > 0.0 ? DCF__R_LO * g : 0.0;
}

static int gap_cp(dcf_geo_ctx_t *ctx, const dcf_footprint_t *c, const dcf_footprint_t *p,
                  gap_t *g) {
    double rho2 = 0.0, best = INFINITY, eta_w;
    dcf__p2_t w = {0.0, 0.0};
    const dcf__p2_t o = {0.0, 0.0};
    int rc;

    dcf__frame_make(&g->fr, c->cap_c);
    frame_metric(&g->fr, g->A);
    if ((rc = project_ring(&g->fr, g->A, p, &ctx->pb, &ctx->cap_b, &rho2)) != DCF_OK)
        return rc;
    if (dcf__ring_locate(ctx->pb, p->np, o) >= 0) {
        g->meet = true;
        g->lo = g->hi = -c->radius_m;
        return DCF_OK;
    }
    for (size_t i = 0; i < p->np; i++) {
        double t, d2 = dcf__seg_dist2(o, ctx->pb[i], ctx->pb[i + 1], &t);
        if (d2 < best) {
            best = d2;
            w = (dcf__p2_t){ctx->pb[i].x + t * (ctx->pb[i + 1].x - ctx->pb[i].x),
                            ctx->pb[i].y + t * (ctx->pb[i + 1].y - ctx->pb[i].y)};
        }
    }
    g->eta = metric_eta(rho2);
    double dw = local_dist(c->cap_c, scaled_unproject(&g->fr, g->A, w), &eta_w);
    g->lo = (1.0 - g->eta) * sqrt(best) - DCF__CHORD_DEV_M - c->radius_m;
    g->hi = (1.0 + eta_w) * dw + DCF__CHORD_DEV_M - c->radius_m;
    return DCF_OK;
}

static int project_pp(dcf_geo_ctx_t *ctx, const dcf_footprint_t *a, const dcf_footprint_t *b,
                      gap_t *g, double *rho2) {
    int rc;
    *rho2 = 0.0;
    dcf__frame_make(&g->fr, dcf__unit(v3_add(a->cap_c, b->cap_c)));
    frame_metric(&g->fr, g->A);
    if ((rc = project_ring(&g->fr, g->A, a, &ctx->pa, &ctx->cap_a, rho2)) != DCF_OK)
        return rc;
    return project_ring(&g->fr, g->A, b, &ctx->pb, &ctx->cap_b, rho2);
}

/* The planar part of a polygon pair on rings already projected: distance,
 * closest pair and the bounds they give.  A search limited by stop/cap
 * (see dcf__planar_dist) leaves g->partial set: then only the side of the
 * limits is known. */
static int pp_planar(dcf_geo_ctx_t *ctx, const dcf_footprint_t *a, const dcf_footprint_t *b,
                     double stop, double cap, gap_t *g) {
    const double dev = 2.0 * DCF__CHORD_DEV_M;
    double d, eta_w;
    dcf__witness_t w;
    int rc;

    if (use_geos(a, b)) {
        if ((rc = dcf__geos_dist(ctx, ctx->pa, a->np, ctx->pb, b->np, &d, &w)) != DCF_OK)
            return rc;
        stop = 0.0;
        cap = INFINITY;
    } else {
        d = dcf__planar_dist(ctx->pa, a->np, ctx->pb, b->np, &w, stop, cap);
    }
    g->partial = stop > 0.0 || cap < INFINITY;
    if (d == 0.0) {
        g->meet = true;
        g->lo = g->hi = 0.0;
        return DCF_OK;
    }
    if (d >= cap) { /* no pair closer than cap */
        g->lo = (1.0 - g->eta) * cap - dev;
        g->hi = INFINITY;
        return DCF_OK;
    }
    double dw = local_dist(scaled_unproject(&g->fr, g->A, w.pa),
                           scaled_unproject(&g->fr, g->A, w.pb), &eta_w);
    g->hi = dcf__min((1.0 + eta_w) * dw, (1.0 + g->eta) * d) + dev;
    /* Stopped early: d need not be the minimum, only an upper bound. */
    g->lo = d < stop ? -INFINITY : (1.0 - g->eta) * d - dev;
    g->witness_d = d;
    return DCF_OK;
}

/* With h >= 0 only the side of h matters: the planar search stops at the
 * first pair certainly closer than h and ignores pairs certainly farther. */
static int gap_pp(dcf_geo_ctx_t *ctx, const dcf_footprint_t *a, const dcf_footprint_t *b, double h,
                  gap_t *g) {
    double rho2, stop = 0.0, cap = INFINITY;
    const double dev = 2.0 * DCF__CHORD_DEV_M;
    int rc;

    if ((rc = project_pp(ctx, a, b, g, &rho2)) != DCF_OK)
        return rc;
    g->eta = metric_eta(rho2);
    if (h >= 0.0 && g->eta < 0.5) {
        stop = dcf__max(0.0, (h - dev) / (1.0 + g->eta));
        cap = (h + dev) / (1.0 - g->eta) * (1.0 + 1e-12);
    }
    return pp_planar(ctx, a, b, stop, cap, g);
}

/* Cheap bounds on the signed gap of a and b (ordered: circle first).  With
 * h >= 0 the bounds need only settle which side of h the gap is on; with
 * h < 0 they are as tight as the cheap geometry allows. */
static int gap_bounds(dcf_geo_ctx_t *ctx, const dcf_footprint_t *a, const dcf_footprint_t *b,
                      double h, gap_t *g) {
    memset(g, 0, sizeof *g);
    if (b->kind == DCF_FOOTPRINT_CIRCLE) {
        double eta, d = local_dist(a->cap_c, b->cap_c, &eta), r = a->radius_m + b->radius_m;
        g->kind = PAIR_CC;
        g->lo = (1.0 - eta) * d - r;
        g->hi = (1.0 + eta) * d - r;
        return DCF_OK;
    }
    if (a->kind == DCF_FOOTPRINT_CIRCLE) {
        g->kind = frame_holds(a->cap_c, b) ? PAIR_CP : PAIR_FAR;
    } else {
        dcf__v3_t mid = dcf__unit(v3_add(a->cap_c, b->cap_c));
        g->kind = frame_holds(mid, a) && frame_holds(mid, b) ? PAIR_PP : PAIR_FAR;
    }
    if (g->kind == PAIR_FAR) { /* thousands of km apart: only the caps */
        g->lo = cap_gap(a, b) - radius(a);
        g->hi = INFINITY;
        return DCF_OK;
    }
    return g->kind == PAIR_CP ? gap_cp(ctx, a, b, g) : gap_pp(ctx, a, b, h, g);
}

/* The signed gap measured on the ellipsoid (after gap_bounds, whose frame
 * and projected rings it reuses). */
static int gap_exact(dcf_geo_ctx_t *ctx, const dcf_footprint_t *a, const dcf_footprint_t *b,
                     const gap_t *g, double *out) {
    size_t nk = 0;
    int rc;

    if (g->meet) {
        *out = g->lo;
        return DCF_OK;
    }
    switch (g->kind) {
    case PAIR_CC: {
        double s12 = 0.0;
        geod_inverse(&ctx->geod, a->center.lat, a->center.lng, b->center.lat, b->center.lng, &s12,
                     NULL, NULL);
        *out = s12 - a->radius_m - b->radius_m;
        return DCF_OK;
    }
    case PAIR_FAR:
        if (a->kind == DCF_FOOTPRINT_CIRCLE) {
            *out = brute_pt_poly(ctx, a->center, b) - a->radius_m;
        } else {
            double best = INFINITY;
            for (size_t v = 0; v < a->n; v++)
                best = dcf__min(best, brute_pt_poly(ctx, vert(a, v), b));
            for (size_t v = 0; v < b->n; v++)
                best = dcf__min(best, brute_pt_poly(ctx, vert(b, v), a));
            *out = best;
        }
        return DCF_OK;
    case PAIR_CP: {
        /* Every edge whose pieces can come within the upper bound. */
        const dcf__p2_t o = {0.0, 0.0};
        double upper = g->hi + a->radius_m, best = INFINITY;
        size_t last = SIZE_MAX;
        for (size_t i = 0; i < b->np; i++) {
            double t, d = sqrt(dcf__seg_dist2(o, ctx->pb[i], ctx->pb[i + 1], &t));
            if ((1.0 - g->eta) * d - DCF__CHORD_DEV_M > upper)
                continue;
            size_t e = dcf__edge_of(b, i);
            if (e == last)
                continue;
            last = e;
            dcf__p2_t e0 = ctx->pb[b->first[e]], e1 = ctx->pb[b->first[e + 1]];
            dcf__seg_dist2(o, e0, e1, &t);
            best = dcf__min(best, pt_edge(ctx, a->center, vert(b, e), vert(b, e + 1), t));
        }
        *out = best - a->radius_m;
        return DCF_OK;
    }
    default:
        break;
    }
    /* PAIR_PP: every (vertex, edge) pair of piece pairs that can come within
     * the upper bound, each side against the other. */
    for (size_t i = 0; i < a->np; i++) {
        dcf__p2_t a0 = ctx->pa[i], a1 = ctx->pa[i + 1];
        for (size_t j = 0; j < b->np; j++) {
            dcf__p2_t b0 = ctx->pb[j], b1 = ctx->pb[j + 1];
            double d2 = dcf__min(
                dcf__min(dcf__seg_dist2(a0, b0, b1, NULL), dcf__seg_dist2(a1, b0, b1, NULL)),
                dcf__min(dcf__seg_dist2(b0, a0, a1, NULL), dcf__seg_dist2(b1, a0, a1, NULL)));
            if ((1.0 - g->eta) * sqrt(d2) - 2.0 * DCF__CHORD_DEV_M > g->hi)
                continue;
            size_t ea = dcf__edge_of(a, i), eb = dcf__edge_of(b, j);
            size_t va[2] = {ea, (ea + 1) % a->n}, vb[2] = {eb, (eb + 1) % b->n};
            for (int k = 0; k < 2; k++) {
                double ta, tb;
                dcf__seg_dist2(ctx->pa[a->first[va[k]]], ctx->pb[b->first[eb]],
                               ctx->pb[b->first[eb + 1]], &ta);
                dcf__seg_dist2(ctx->pb[b->first[vb[k]]], ctx->pa[a->first[ea]],
                               ctx->pa[a->first[ea + 1]], &tb);
                if ((rc = push_cand(ctx, &nk, 0, va[k], eb, ta)) != DCF_OK ||
                    (rc = push_cand(ctx, &nk, 1, vb[k], ea, tb)) != DCF_OK)
                    return rc;
            }
        }
    }
    *out = measure_cands(ctx, a, b, nk);
    return DCF_OK;
}

/* ------------------------------------------------------------- drivers -- */

/* The distance from bounds g (a, b ordered; g from gap_bounds, whose
 * projected rings are still in ctx): 0 when they meet, the interval's
 * middle when it is narrower than DCF__DIST_TOL_M, else measured. */
static int finish_distance(dcf_geo_ctx_t *ctx, const dcf_footprint_t *a, const dcf_footprint_t *b,
                           gap_t *g, double *out) {
    double exact;
    int rc;

    if (g->kind == PAIR_PP && g->partial && !g->meet) {
        /* The search only settled a side of h: finish it, below the closest
         * pair it had found. */
        double cap = g->witness_d > 0.0 ? g->witness_d * (1.0 + 1e-12) : INFINITY;
        if ((rc = pp_planar(ctx, a, b, 0.0, cap, g)) != DCF_OK)
            return rc;
    }
    if (g->meet || g->hi <= 0.0) {
        *out = 0.0;
        return DCF_OK;
    }
    if (g->hi - g->lo <= DCF__DIST_TOL_M) {
        *out = dcf__max(0.0, 0.5 * (g->lo + g->hi));
        return DCF_OK;
    }
    if ((rc = gap_exact(ctx, a, b, g, &exact)) != DCF_OK)
        return rc;
    *out = dcf__max(0.0, exact);
    return DCF_OK;
}

/* Do a and b come closer than h (h == 0: do their interiors meet)?  When
 * they do and `dist` is not NULL, *dist gets their distance. */
static int horizontal(dcf_geo_ctx_t *ctx, const dcf_footprint_t *a, const dcf_footprint_t *b,
                      double h, bool *hit, double *dist) {
    gap_t g;
    double exact;
    int rc;

    order(&a, &b);
    double lo = cap_gap(a, b);
    if (lo > 0.0 && lo >= h) {
        *hit = false;
        return DCF_OK;
    }
    if (h == 0.0 && a->kind == DCF_FOOTPRINT_POLYGON) {
        dcf__v3_t mid = dcf__unit(v3_add(a->cap_c, b->cap_c));
        double rho2;
        if (!frame_holds(mid, a) || !frame_holds(mid, b)) {
            *hit = false; /* no frame holds them: thousands of km apart */
            return DCF_OK;
        }
        if ((rc = project_pp(ctx, a, b, &g, &rho2)) != DCF_OK)
            return rc;
        if (use_geos(a, b))
            rc = dcf__geos_ii(ctx, ctx->pa, a->np, ctx->pb, b->np, hit);
        else
            rc = dcf__planar_ii(ctx, ctx->pa, a->np, ctx->pb, b->np, hit);
        if (rc == DCF_OK && *hit && dist != NULL)
            *dist = 0.0; /* interiors meet */
        return rc;
    }
    if ((rc = gap_bounds(ctx, a, b, h, &g)) != DCF_OK)
        return rc;
    if (g.meet || g.hi < h || g.lo >= h) {
        *hit = g.hi < h;
        if (*hit && dist != NULL)
            return finish_distance(ctx, a, b, &g, dist);
        return DCF_OK;
    }
    if ((rc = gap_exact(ctx, a, b, &g, &exact)) != DCF_OK)
        return rc;
    *hit = exact < h;
    if (*hit && dist != NULL)
        *dist = dcf__max(0.0, exact);
    return DCF_OK;
}

/* Geodesic distance between a and b (0 when they meet). */
static int distance(dcf_geo_ctx_t *ctx, const dcf_footprint_t *a, const dcf_footprint_t *b,
                    double *out) {
    gap_t g;
    int rc;

    order(&a, &b);
    if ((rc = gap_bounds(ctx, a, b, -1.0, &g)) != DCF_OK)
        return rc;
    return finish_distance(ctx, a, b, &g, out);
}

int dcf__footprint_bounds(dcf_geo_ctx_t *ctx, const dcf_footprint_t *a, const dcf_footprint_t *b,
                          double *lo, double *hi) {
    gap_t g;
    int rc;
    order(&a, &b);
    if ((rc = gap_bounds(ctx, a, b, -1.0, &g)) != DCF_OK)
        return rc;
    *lo = dcf__max(0.0, g.lo);
    *hi = dcf__max(0.0, g.hi);
    return DCF_OK;
}

/* ------------------------------------------------------------ overlap -- */

/* Longitude arcs [lo, hi], wrapping when lo > hi. */
static double arc_len(double lo, double hi) {
    return lo <= hi ? hi - lo : hi + 360.0 - lo;
}

static bool arc_has(double lo, double hi, double x) {
    return lo <= hi ? (lo <= x && x <= hi) : (x >= lo || x <= hi);
}

/* A conservative arc for the intersection of two arcs; false when empty. */
static bool arc_meet(double alo, double ahi, double blo, double bhi, double *lo, double *hi) {
    bool a_in_b = arc_has(blo, bhi, alo), b_in_a = arc_has(alo, ahi, blo);
    if (a_in_b && b_in_a) { /* two pieces, or one arc inside the other */
        bool shorter_a = arc_len(alo, ahi) <= arc_len(blo, bhi);
        *lo = shorter_a ? alo : blo;
        *hi = shorter_a ? ahi : bhi;
    } else if (a_in_b) {
        *lo = alo;
        *hi = arc_has(alo, ahi, bhi) ? bhi : ahi;
    } else if (b_in_a) {
        *lo = blo;
        *hi = arc_has(blo, bhi, ahi) ? ahi : bhi;
    } else {
        return false;
    }
    return true;
}

/* The smallest arc holding both arcs (conservative). */
static void arc_join(double alo, double ahi, double blo, double bhi, double *lo, double *hi) {
    double cand[4][2] = {{alo, ahi}, {blo, bhi}, {alo, bhi}, {blo, ahi}};
    double best = INFINITY;
    for (int i = 0; i < 4; i++) {
        double l = cand[i][0], h = cand[i][1];
        if (!arc_has(l, h, alo) || !arc_has(l, h, ahi) || !arc_has(l, h, blo) ||
            !arc_has(l, h, bhi))
            continue;
        /* both arcs inside: their starts come in order from l */
        double off_a = arc_len(l, alo), off_b = arc_len(l, blo);
        if (off_a + arc_len(alo, ahi) > arc_len(l, h) + 1e-12 ||
            off_b + arc_len(blo, bhi) > arc_len(l, h) + 1e-12)
            continue;
        if (arc_len(l, h) < best) {
            best = arc_len(l, h);
            *lo = l;
            *hi = h;
        }
    }
    if (best == INFINITY) {
        *lo = -180.0;
        *hi = 180.0;
    }
}

static bool box_meet(const dcf_bbox_t *a, const dcf_bbox_t *b, dcf_bbox_t *out) {
    out->lat_lo = dcf__max(a->lat_lo, b->lat_lo);
    out->lat_hi = dcf__min(a->lat_hi, b->lat_hi);
    if (out->lat_lo > out->lat_hi)
        return false;
    return arc_meet(a->lng_lo, a->lng_hi, b->lng_lo, b->lng_hi, &out->lng_lo, &out->lng_hi);
}

/* bbox(A) meet grow(bbox(B), h), joined with the same the other way round. */
static void overlap_region(const dcf_footprint_t *a, const dcf_footprint_t *b, double h,
                           dcf_bbox_t *out) {
    dcf_bbox_t ea = a->bbox, eb = b->bbox, r1, r2;
    dcf_bbox_expand(&ea, h);
    dcf_bbox_expand(&eb, h);
    bool ok1 = box_meet(&a->bbox, &eb, &r1), ok2 = box_meet(&b->bbox, &ea, &r2);
    if (ok1 && ok2) {
        out->lat_lo = dcf__min(r1.lat_lo, r2.lat_lo);
        out->lat_hi = dcf__max(r1.lat_hi, r2.lat_hi);
        arc_join(r1.lng_lo, r1.lng_hi, r2.lng_lo, r2.lng_hi, &out->lng_lo, &out->lng_hi);
    } else if (ok1 || ok2) {
        *out = ok1 ? r1 : r2;
    } else { /* cannot happen for a real conflict; stay conservative */
        out->lat_lo = dcf__min(ea.lat_lo, eb.lat_lo);
        out->lat_hi = dcf__max(ea.lat_hi, eb.lat_hi);
        arc_join(ea.lng_lo, ea.lng_hi, eb.lng_lo, eb.lng_hi, &out->lng_lo, &out->lng_hi);
    }
}

/* ------------------------------------------------------------- public -- */

int dcf_volume_conflict(dcf_geo_ctx_t *ctx, const dcf_volume_t *a, const dcf_volume_t *b,
                        const dcf_sep_t *sep, bool *conflict, dcf_overlap_t *overlap) {
    bool hit = false;
    double dist = 0.0;
    int rc;

    if (ctx == NULL || a == NULL || b == NULL || sep == NULL || conflict == NULL ||
        a->footprint == NULL || b->footprint == NULL || !(sep->horizontal_m >= 0.0) ||
        !(sep->vertical_m >= 0.0) || sep->time_us < 0 || !isfinite(sep->horizontal_m) ||
        !isfinite(sep->vertical_m))
        return DCF_EINVAL;

    dcf_time_t t_lo = a->t_start > b->t_start ? a->t_start : b->t_start; /* later start */
    dcf_time_t t_hi = a->t_end < b->t_end ? a->t_end : b->t_end;         /* earlier end */
    if (!(t_lo - t_hi < sep->time_us))
        goto done;
    double z_lo = dcf__max(a->alt_lo, b->alt_lo), z_hi = dcf__min(a->alt_hi, b->alt_hi);
    if (!(z_lo - z_hi < sep->vertical_m))
        goto done;
    rc = horizontal(ctx, a->footprint, b->footprint, sep->horizontal_m, &hit,
                    overlap != NULL ? &dist : NULL);
    if (rc != DCF_OK)
        return rc;
    if (hit && overlap != NULL) {
        overlap->t_start = t_lo < t_hi ? t_lo : t_hi;
        overlap->t_end = t_lo < t_hi ? t_hi : t_lo;
        overlap->alt_lo = dcf__min(z_lo, z_hi);
        overlap->alt_hi = dcf__max(z_lo, z_hi);
        overlap->distance_m = dist;
        overlap_region(a->footprint, b->footprint, sep->horizontal_m, &overlap->region);
    }
done:
    *conflict = hit;
    return DCF_OK;
}

int dcf_footprint_distance(dcf_geo_ctx_t *ctx, const dcf_footprint_t *a, const dcf_footprint_t *b,
                           double *out_m) {
    if (ctx == NULL || a == NULL || b == NULL || out_m == NULL)
        return DCF_EINVAL;
    return distance(ctx, a, b, out_m);
}
