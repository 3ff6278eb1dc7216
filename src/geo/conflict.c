/*
 * conflict.c -- the exact 4D conflict test between two volumes, and the
 * geodesic distance between two footprints.
 *
 * Called by the engine for every candidate the index returns, so the common
 * case must cost well under a microsecond; see docs/internals/geometry.md
 * for the measured costs and the error analysis summarised here.
 *
 * HOW IT WORKS.
 *   1. Time and altitude: signed gaps against the minima (cheapest first).
 *   2. Caps: every footprint carries a cap on the normal sphere that holds
 *      all of it.  R_LO times the angular gap between two caps is a lower
 *      bound on the geodesic distance; when it reaches h the pair is clear.
 *   3. Shapes, in the normal-sphere gnomonic frame (great circles are
 *      straight lines, densified edges are exact planar polygons):
 *        circle-circle   geodesic distance between centres minus radii;
 *                        bounded by R_LO/R_HI times the centre angle, and
 *                        one geod_inverse only when the bounds straddle h;
 *        circle-polygon  frame at the centre, where the planar radius gives
 *                        the exact angle from the centre (atan): centre
 *                        inside the polygon, or angle to the boundary;
 *        polygon-polygon frame midway between the caps: at h == 0 the
 *                        planar interior-intersection test (exact for
 *                        shared edges), at h > 0 the planar distance with
 *                        its closest pair.
 *      Every planar answer is turned into a guaranteed interval for the
 *      true distance: R_LO/R_HI for ellipsoid versus normal sphere, the
 *      gnomonic scale (angle >= planar distance / (1 + rho^2)), and
 *      DCF__CHORD_DEV_M per boundary for densification.
 *   4. Refinement, only when that interval contains h (or when the distance
 *      itself is asked for): the (vertex, edge) pairs that can still be the
 *      closest are measured on the ellipsoid, each by walking to the foot of
 *      the perpendicular along the true geodesic edge (geod_position +
 *      geod_inverse, a few steps).  For two disjoint geodesic polygons the
 *      minimum is always at a vertex of one of them: the ellipsoid has
 *      positive curvature, so a common perpendicular between two geodesic
 *      edges is never a local minimum of their distance.
 *
 * Rings larger than DCF__GEOS_MIN_POINTS on both sides use GEOS (prepared
 * geometry) for the planar step instead of the quadratic own code.
 *
 * Thread safety: everything mutable is in the dcf_geo_ctx_t, one per thread.
 */
#include <stdlib.h>
#include <string.h>

#include "geo/geo_int.h"

/* Mean radius, only used to shape the foot-of-perpendicular steps. */
#define R_MEAN 6371008.8
/* Frames are used out to this angle from their centre (cos 85 deg). */
#define FRAME_MIN_COS 0.0871
/* Foot iteration: stop when a step is shorter than this (metres). */
#define FOOT_TOL_M  1e-4
#define FOOT_MAX_IT 60

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
    free(ctx->pairs);
    free(ctx->ts);
    free(ctx);
}

/* ------------------------------------------------ ellipsoid refinement -- */

/*
 * Geodesic distance from p to the geodesic edge a-b.  Walks along the edge
 * to the foot of the perpendicular: at the current point the step is the
 * along-track distance to the foot on a sphere, atan(tan(d/R) cos(angle)),
 * exact on a sphere and within O(e^2) of it here, so a few steps reach
 * FOOT_TOL_M.  Clamped to the edge's ends.
 */
static double pt_edge(dcf_geo_ctx_t *ctx, dcf_latlng_t p, dcf_latlng_t a, dcf_latlng_t b) {
    struct geod_geodesicline l;
    geod_inverseline(&l, &ctx->geod, a.lat, a.lng, b.lat, b.lng,
                     GEOD_LATITUDE | GEOD_LONGITUDE | GEOD_AZIMUTH | GEOD_DISTANCE_IN);
    double len = l.s13, s = 0.5 * len, best = INFINITY;
    for (int it = 0; it < FOOT_MAX_IT; it++) {
        double lat, lng, azl, d, azp, az2;
        geod_position(&l, s, &lat, &lng, &azl);
        geod_inverse(&ctx->geod, lat, lng, p.lat, p.lng, &d, &azp, &az2);
        best = fmin(best, d);
        double x = d / R_MEAN, c = cos((azp - azl) * DCF__DEG);
        double step = x < 1.4 ? R_MEAN * atan(tan(x) * c) : 0.5 * d * c;
        double sn = fmin(len, fmax(0.0, s + step));
        if (fabs(sn - s) < FOOT_TOL_M)
            break;
        s = sn;
    }
    return best;
}

static int cmp_u64(const void *pa, const void *pb) {
    uint64_t x = *(const uint64_t *)pa, y = *(const uint64_t *)pb;
    return (x > y) - (x < y);
}

static dcf_latlng_t vert(const dcf_footprint_t *f, size_t i) {
    return f->verts[i % f->n];
}

/* Key of "vertex v of one polygon against edge e of the other". */
static uint64_t vkey(unsigned side, size_t v, size_t e) {
    return ((uint64_t)side << 63) | ((uint64_t)v << 32) | (uint64_t)e;
}

/* Measure the collected (vertex, edge) keys; returns the smallest. */
static double measure_keys(dcf_geo_ctx_t *ctx, const dcf_footprint_t *a, const dcf_footprint_t *b,
                           size_t nk) {
    double best = INFINITY;
    qsort(ctx->pairs, nk, sizeof *ctx->pairs, cmp_u64);
    for (size_t k = 0; k < nk; k++) {
        if (k > 0 && ctx->pairs[k] == ctx->pairs[k - 1])
            continue;
        uint64_t key = ctx->pairs[k];
        const dcf_footprint_t *fv = (key >> 63) ? b : a, *fe = (key >> 63) ? a : b;
        size_t v = (size_t)((key >> 32) & 0x7fffffffu), e = (size_t)(key & 0xffffffffu);
        best = fmin(best, pt_edge(ctx, vert(fv, v), vert(fe, e), vert(fe, e + 1)));
    }
    return best;
}

static int push_key(dcf_geo_ctx_t *ctx, size_t *nk, uint64_t key) {
    int rc =
        dcf__scratch_reserve((void **)&ctx->pairs, &ctx->cap_pairs, *nk + 1, sizeof *ctx->pairs);
    if (rc == DCF_OK)
        ctx->pairs[(*nk)++] = key;
    return rc;
}

/* Distance from point p to polygon b's boundary, measuring every edge on the
 * ellipsoid (the slow path, for frames that cannot hold the pair). */
static double brute_pt_poly(dcf_geo_ctx_t *ctx, dcf_latlng_t p, const dcf_footprint_t *b) {
    double best = INFINITY;
    for (size_t e = 0; e < b->n; e++)
        best = fmin(best, pt_edge(ctx, p, vert(b, e), vert(b, e + 1)));
    return best;
}

/* ------------------------------------------------------------ frames -- */

static inline dcf__v3_t v3_add(dcf__v3_t a, dcf__v3_t b) {
    return dcf__v3(a.x + b.x, a.y + b.y, a.z + b.z);
}

/* Whether a frame centred at c can hold footprint f. */
static bool frame_holds(dcf__v3_t c, const dcf_footprint_t *f) {
    double ang = dcf__angle(c, f->cap_c) + f->cap_rad;
    return ang < acos(FRAME_MIN_COS);
}

/* Project polygon f into the frame, into *buf (n + 1 points, the last one
 * repeating the first); *rho2 is raised to the largest squared radius. */
static int project_ring(const dcf__frame_t *fr, const dcf_footprint_t *f, dcf__p2_t **buf,
                        size_t *cap, double *rho2) {
    int rc = dcf__scratch_reserve((void **)buf, cap, f->np + 1, sizeof **buf);
    if (rc != DCF_OK)
        return rc;
    dcf__p2_t *q = *buf;
    double r2 = *rho2;
    for (size_t i = 0; i < f->np; i++) {
        q[i] = dcf__project(fr, f->pts[i]);
        r2 = fmax(r2, q[i].x * q[i].x + q[i].y * q[i].y);
    }
    q[f->np] = q[0];
    *rho2 = r2;
    return DCF_OK;
}

static bool use_geos(const dcf_footprint_t *a, const dcf_footprint_t *b) {
    return a->np >= DCF__GEOS_MIN_POINTS && b->np >= DCF__GEOS_MIN_POINTS;
}

/* ----------------------------------------------------- circle, circle -- */

/* Signed gap (centre distance minus radii); exact when *exact, else only
 * known to lie in [*lo, *hi]. */
static void cc_bounds(const dcf_footprint_t *a, const dcf_footprint_t *b, double *lo, double *hi) {
    double g = dcf__angle(a->cap_c, b->cap_c);
    *lo = DCF__R_LO * g - a->radius_m - b->radius_m;
    *hi = DCF__R_HI * g - a->radius_m - b->radius_m;
}

static double cc_exact(dcf_geo_ctx_t *ctx, const dcf_footprint_t *a, const dcf_footprint_t *b) {
    double s12 = 0.0;
    geod_inverse(&ctx->geod, a->center.lat, a->center.lng, b->center.lat, b->center.lng, &s12, NULL,
                 NULL);
    return s12 - a->radius_m - b->radius_m;
}

/* ---------------------------------------------------- circle, polygon -- */

typedef struct {
    bool inside;  /* centre inside (or on) the densified polygon */
    double theta; /* else: angle from the centre to the densified boundary */
} cp_plane_t;

static int cp_plane(dcf_geo_ctx_t *ctx, const dcf_footprint_t *c, const dcf_footprint_t *p,
                    cp_plane_t *out) {
    dcf__frame_t fr;
    double rho2 = 0.0, best = INFINITY;
    dcf__frame_make(&fr, c->cap_c);
    int rc = project_ring(&fr, p, &ctx->pb, &ctx->cap_b, &rho2);
    if (rc != DCF_OK)
        return rc;
    const dcf__p2_t o = {0.0, 0.0};
    out->inside = dcf__ring_locate(ctx->pb, p->np, o) >= 0;
    if (out->inside)
        return DCF_OK;
    for (size_t i = 0; i < p->np; i++)
        best = fmin(best, dcf__seg_dist2(o, ctx->pb[i], ctx->pb[i + 1], NULL));
    out->theta = atan(sqrt(best));
    return DCF_OK;
}

/* Ellipsoidal distance from the circle's centre to the polygon boundary,
 * measuring only edges whose lower bound can beat the best upper bound.
 * Needs ctx->pb from cp_plane. */
static int cp_refine(dcf_geo_ctx_t *ctx, const dcf_footprint_t *c, const dcf_footprint_t *p,
                     double theta, double *out) {
    const dcf__p2_t o = {0.0, 0.0};
    double upper = DCF__R_HI * theta + DCF__CHORD_DEV_M, best = INFINITY;
    size_t last = SIZE_MAX;
    for (size_t i = 0; i < p->np; i++) {
        double th = atan(sqrt(dcf__seg_dist2(o, ctx->pb[i], ctx->pb[i + 1], NULL)));
        if (DCF__R_LO * th - DCF__CHORD_DEV_M > upper)
            continue;
        size_t e = dcf__edge_of(p, i);
        if (e == last)
            continue;
        last = e;
        best = fmin(best, pt_edge(ctx, c->center, vert(p, e), vert(p, e + 1)));
    }
    *out = best;
    return DCF_OK;
}

/* --------------------------------------------------- polygon, polygon -- */

typedef struct {
    double rho2;      /* largest squared planar radius of either ring */
    double dist;      /* planar distance (0: the closed polygons meet) */
    dcf__witness_t w; /* closest pair */
    dcf__frame_t fr;
} pp_plane_t;

static int pp_project(dcf_geo_ctx_t *ctx, const dcf_footprint_t *a, const dcf_footprint_t *b,
                      pp_plane_t *pl) {
    int rc;
    pl->rho2 = 0.0;
    dcf__frame_make(&pl->fr, dcf__unit(v3_add(a->cap_c, b->cap_c)));
    if ((rc = project_ring(&pl->fr, a, &ctx->pa, &ctx->cap_a, &pl->rho2)) != DCF_OK)
        return rc;
    return project_ring(&pl->fr, b, &ctx->pb, &ctx->cap_b, &pl->rho2);
}

static int pp_dist(dcf_geo_ctx_t *ctx, const dcf_footprint_t *a, const dcf_footprint_t *b,
                   pp_plane_t *pl) {
    if (use_geos(a, b))
        return dcf__geos_dist(ctx, ctx->pa, a->np, ctx->pb, b->np, &pl->dist, &pl->w);
    pl->dist = dcf__planar_dist(ctx->pa, a->np, ctx->pb, b->np, &pl->w);
    return DCF_OK;
}

/* Guaranteed bounds on the true distance from a positive planar distance. */
static void pp_bounds(const pp_plane_t *pl, double *lo, double *hi) {
    dcf__v3_t wa = dcf__unproject(&pl->fr, pl->w.pa), wb = dcf__unproject(&pl->fr, pl->w.pb);
    *lo = DCF__R_LO * pl->dist / (1.0 + pl->rho2) - 2.0 * DCF__CHORD_DEV_M;
    *hi = DCF__R_HI * dcf__angle(wa, wb) + 2.0 * DCF__CHORD_DEV_M;
}

/* Ellipsoidal distance between two disjoint polygons: every (vertex, edge)
 * pair of pieces whose planar lower bound is within `upper`. */
static int pp_refine(dcf_geo_ctx_t *ctx, const dcf_footprint_t *a, const dcf_footprint_t *b,
                     const pp_plane_t *pl, double upper, double *out) {
    size_t nk = 0;
    int rc = DCF_OK;
    double scale = DCF__R_LO / (1.0 + pl->rho2);
    for (size_t i = 0; i < a->np; i++) {
        dcf__p2_t a0 = ctx->pa[i], a1 = ctx->pa[i + 1];
        for (size_t j = 0; j < b->np; j++) {
            dcf__p2_t b0 = ctx->pb[j], b1 = ctx->pb[j + 1];
            double d2 =
                fmin(fmin(dcf__seg_dist2(a0, b0, b1, NULL), dcf__seg_dist2(a1, b0, b1, NULL)),
                     fmin(dcf__seg_dist2(b0, a0, a1, NULL), dcf__seg_dist2(b1, a0, a1, NULL)));
            if (scale * sqrt(d2) - 2.0 * DCF__CHORD_DEV_M > upper)
                continue;
            size_t ea = dcf__edge_of(a, i), eb = dcf__edge_of(b, j);
            if ((rc = push_key(ctx, &nk, vkey(0, ea, eb))) != DCF_OK ||
                (rc = push_key(ctx, &nk, vkey(0, (ea + 1) % a->n, eb))) != DCF_OK ||
                (rc = push_key(ctx, &nk, vkey(1, eb, ea))) != DCF_OK ||
                (rc = push_key(ctx, &nk, vkey(1, (eb + 1) % b->n, ea))) != DCF_OK)
                return rc;
        }
    }
    *out = measure_keys(ctx, a, b, nk);
    return DCF_OK;
}

/* Every vertex against every edge, both ways (frames that cannot hold the
 * pair; such polygons are thousands of kilometres apart, so disjoint). */
static double pp_brute(dcf_geo_ctx_t *ctx, const dcf_footprint_t *a, const dcf_footprint_t *b) {
    double best = INFINITY;
    for (size_t v = 0; v < a->n; v++)
        best = fmin(best, brute_pt_poly(ctx, vert(a, v), b));
    for (size_t v = 0; v < b->n; v++)
        best = fmin(best, brute_pt_poly(ctx, vert(b, v), a));
    return best;
}

/* ------------------------------------------------------------- drivers -- */

/* The circle first when there is one. */
static void order(const dcf_footprint_t **a, const dcf_footprint_t **b) {
    if ((*a)->kind == DCF_FOOTPRINT_POLYGON && (*b)->kind == DCF_FOOTPRINT_CIRCLE) {
        const dcf_footprint_t *t = *a;
        *a = *b;
        *b = t;
    }
}

/* Lower bound on the distance from the caps alone. */
static double cap_gap(const dcf_footprint_t *a, const dcf_footprint_t *b) {
    double g = dcf__angle(a->cap_c, b->cap_c) - a->cap_rad - b->cap_rad;
    return g > 0.0 ? DCF__R_LO * g : 0.0;
}

/* Do a and b come closer than h (h == 0: do their interiors meet)? */
static int horizontal(dcf_geo_ctx_t *ctx, const dcf_footprint_t *a, const dcf_footprint_t *b,
                      double h, bool *hit) {
    int rc = DCF_OK;
    double lo, hi, d;

    order(&a, &b);
    lo = cap_gap(a, b);
    if (lo > 0.0 && lo >= h) {
        *hit = false;
        return DCF_OK;
    }
    if (b->kind == DCF_FOOTPRINT_CIRCLE) {
        cc_bounds(a, b, &lo, &hi);
        *hit = hi < h || (!(lo >= h) && cc_exact(ctx, a, b) < h);
        return DCF_OK;
    }
    if (a->kind == DCF_FOOTPRINT_CIRCLE) {
        cp_plane_t pl;
        if (!frame_holds(a->cap_c, b)) {
            *hit = brute_pt_poly(ctx, a->center, b) - a->radius_m < h;
            return DCF_OK;
        }
        if ((rc = cp_plane(ctx, a, b, &pl)) != DCF_OK)
            return rc;
        if (pl.inside) {
            *hit = true;
            return DCF_OK;
        }
        hi = DCF__R_HI * pl.theta + DCF__CHORD_DEV_M - a->radius_m;
        lo = DCF__R_LO * pl.theta - DCF__CHORD_DEV_M - a->radius_m;
        if (hi < h || lo >= h) {
            *hit = hi < h;
            return DCF_OK;
        }
        if ((rc = cp_refine(ctx, a, b, pl.theta, &d)) != DCF_OK)
            return rc;
        *hit = d - a->radius_m < h;
        return DCF_OK;
    }

    pp_plane_t pl;
    dcf__v3_t mid = dcf__unit(v3_add(a->cap_c, b->cap_c));
    if (!frame_holds(mid, a) || !frame_holds(mid, b)) {
        *hit = h > 0.0 && pp_brute(ctx, a, b) < h;
        return DCF_OK;
    }
    if ((rc = pp_project(ctx, a, b, &pl)) != DCF_OK)
        return rc;
    if (h == 0.0) {
        if (use_geos(a, b))
            return dcf__geos_ii(ctx, ctx->pa, a->np, ctx->pb, b->np, hit);
        return dcf__planar_ii(ctx, ctx->pa, a->np, ctx->pb, b->np, hit);
    }
    if ((rc = pp_dist(ctx, a, b, &pl)) != DCF_OK)
        return rc;
    if (pl.dist == 0.0) {
        *hit = true;
        return DCF_OK;
    }
    pp_bounds(&pl, &lo, &hi);
    if (hi < h || lo >= h) {
        *hit = hi < h;
        return DCF_OK;
    }
    if ((rc = pp_refine(ctx, a, b, &pl, hi, &d)) != DCF_OK)
        return rc;
    *hit = d < h;
    return DCF_OK;
}

/* Geodesic distance between a and b (0 when they meet). */
static int distance(dcf_geo_ctx_t *ctx, const dcf_footprint_t *a, const dcf_footprint_t *b,
                    double *out) {
    int rc = DCF_OK;
    double lo, hi, d;

    order(&a, &b);
    if (b->kind == DCF_FOOTPRINT_CIRCLE) {
        cc_bounds(a, b, &lo, &hi);
        *out = hi <= 0.0 ? 0.0 : fmax(0.0, cc_exact(ctx, a, b));
        return DCF_OK;
    }
    if (a->kind == DCF_FOOTPRINT_CIRCLE) {
        cp_plane_t pl;
        if (!frame_holds(a->cap_c, b)) {
            *out = fmax(0.0, brute_pt_poly(ctx, a->center, b) - a->radius_m);
            return DCF_OK;
        }
        if ((rc = cp_plane(ctx, a, b, &pl)) != DCF_OK)
            return rc;
        if (pl.inside || DCF__R_HI * pl.theta + DCF__CHORD_DEV_M <= a->radius_m) {
            *out = 0.0;
            return DCF_OK;
        }
        if ((rc = cp_refine(ctx, a, b, pl.theta, &d)) != DCF_OK)
            return rc;
        *out = fmax(0.0, d - a->radius_m);
        return DCF_OK;
    }

    pp_plane_t pl;
    dcf__v3_t mid = dcf__unit(v3_add(a->cap_c, b->cap_c));
    if (!frame_holds(mid, a) || !frame_holds(mid, b)) {
        *out = pp_brute(ctx, a, b);
        return DCF_OK;
    }
    if ((rc = pp_project(ctx, a, b, &pl)) != DCF_OK || (rc = pp_dist(ctx, a, b, &pl)) != DCF_OK)
        return rc;
    if (pl.dist == 0.0) {
        *out = 0.0;
        return DCF_OK;
    }
    pp_bounds(&pl, &lo, &hi);
    return pp_refine(ctx, a, b, &pl, hi, out);
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
    out->lat_lo = fmax(a->lat_lo, b->lat_lo);
    out->lat_hi = fmin(a->lat_hi, b->lat_hi);
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
        out->lat_lo = fmin(r1.lat_lo, r2.lat_lo);
        out->lat_hi = fmax(r1.lat_hi, r2.lat_hi);
        arc_join(r1.lng_lo, r1.lng_hi, r2.lng_lo, r2.lng_hi, &out->lng_lo, &out->lng_hi);
    } else if (ok1 || ok2) {
        *out = ok1 ? r1 : r2;
    } else { /* cannot happen for a real conflict; stay conservative */
        out->lat_lo = fmin(ea.lat_lo, eb.lat_lo);
        out->lat_hi = fmax(ea.lat_hi, eb.lat_hi);
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
    double z_lo = fmax(a->alt_lo, b->alt_lo), z_hi = fmin(a->alt_hi, b->alt_hi);
    if (!(z_lo - z_hi < sep->vertical_m))
        goto done;
    if ((rc = horizontal(ctx, a->footprint, b->footprint, sep->horizontal_m, &hit)) != DCF_OK)
        return rc;
    if (hit && overlap != NULL) {
        if ((rc = distance(ctx, a->footprint, b->footprint, &dist)) != DCF_OK)
            return rc;
        overlap->t_start = t_lo < t_hi ? t_lo : t_hi;
        overlap->t_end = t_lo < t_hi ? t_hi : t_lo;
        overlap->alt_lo = fmin(z_lo, z_hi);
        overlap->alt_hi = fmax(z_lo, z_hi);
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
