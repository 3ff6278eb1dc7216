/*
 * conflict_planar.c -- planar predicates between two polygon rings that the
 * exact test has projected into one gnomonic frame: closed distance (with
 * the closest pair), and "do the interiors intersect".
 *
 * Two implementations of each: our own, for the small rings of the hot path
 * (O(na * nb) segment pairs with box pruning, no allocation in the common
 * case), and GEOS (reentrant API, prepared geometry), used by conflict.c for
 * large rings and by tests/geo/test_conflict.c as the reference our own code
 * must agree with.
 *
 * HOW THE INTERIOR TEST WORKS.  Interiors intersect iff
 *   (1) an edge of one ring properly crosses an edge of the other, or
 *   (2) with no crossing, some stretch of one boundary runs through the
 *       other's interior, or
 *   (3) the two boundaries are the same closed curve.
 * When no vertex of either ring lies on the other ring (the usual case) the
 * boundaries are disjoint and (2) reduces to one point-in-polygon test each
 * way.  Otherwise each edge is cut at the other ring's vertices lying on it;
 * each piece is then entirely inside, outside or on the other boundary, and
 * its midpoint tells which.  An edge equal to an edge of the other ring
 * (same two points, either way round) is "on the boundary" without any
 * arithmetic, which is what makes shared edges exact: footprint.c densifies
 * an edge identically in both polygons.  Why (3) is the only other case: if
 * no piece of either boundary enters the other interior, each interior lies
 * wholly inside or wholly outside the other, and both inside means equal.
 *
 * Orientation signs are computed in doubles.  They are exact where it
 * matters for shared edges (a point equal to a segment end gives exactly
 * zero); elsewhere a sign can be wrong only for points within ~1e-16 of a
 * line, far below the metre-level accuracy of the test.
 */
#include <stdlib.h>
#include <string.h>

#include "geo/geo_int.h"

_Static_assert(sizeof(dcf__p2_t) == 2 * sizeof(double), "dcf__p2_t must be two packed doubles");

int dcf__scratch_reserve(void **buf, size_t *cap, size_t n, size_t size) {
    if (n <= *cap)
        return DCF_OK;
    if (n > DCF__MAX_SCRATCH / size)
        return DCF_ELIMIT;
    size_t c = *cap < 64 ? 64 : *cap;
    while (c < n)
        c *= 2;
    if (c > DCF__MAX_SCRATCH / size)
        c = DCF__MAX_SCRATCH / size;
    void *p = realloc(*buf, c * size);
    if (p == NULL)
        return DCF_ENOMEM;
    *buf = p;
    *cap = c;
    return DCF_OK;
}

static inline dcf__p2_t at(const dcf__p2_t *r, size_t n, size_t i) {
    return r[i + 1 == n ? 0 : i + 1];
}

static inline dcf__p2_t lerp(dcf__p2_t a, dcf__p2_t b, double t) {
    return (dcf__p2_t){a.x + t * (b.x - a.x), a.y + t * (b.y - a.y)};
}

static inline bool p2_eq(dcf__p2_t a, dcf__p2_t b) {
    return a.x == b.x && a.y == b.y;
}

/* ------------------------------------------------------------ distance -- */

static void ring_box(const dcf__p2_t *r, size_t n, double box[4]) {
    box[0] = box[2] = INFINITY;
    box[1] = box[3] = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        box[0] = dcf__min(box[0], r[i].x);
        box[1] = dcf__max(box[1], r[i].x);
        box[2] = dcf__min(box[2], r[i].y);
        box[3] = dcf__max(box[3], r[i].y);
    }
}

double dcf__planar_dist(const dcf__p2_t *a, size_t na, const dcf__p2_t *b, size_t nb,
                        dcf__witness_t *w, double stop, double cap) {
    dcf__witness_t best_w = {0, 0, a[0], a[0]};
    double best = cap * cap, stop2 = stop * stop, bb[4];

    if (dcf__ring_locate(b, nb, a[0]) >= 0) {
        best = 0.0;
        goto out;
    }
    if (dcf__ring_locate(a, na, b[0]) >= 0) {
        best_w.pa = best_w.pb = b[0];
        best = 0.0;
        goto out;
    }
    ring_box(b, nb, bb);
    /* Seed with the closest pair of vertices (an upper bound on the answer)
     * so that the segment loop below can skip most pairs on their boxes. */
    if (stop == 0.0) {
        double seed = best;
        size_t si = 0, sj = 0;
        for (size_t i = 0; i < na; i++)
            for (size_t j = 0; j < nb; j++) {
                double dx = a[i].x - b[j].x, dy = a[i].y - b[j].y, d2 = dx * dx + dy * dy;
                if (d2 < seed) {
                    seed = d2;
                    si = i;
                    sj = j;
                }
            }
        if (seed < best) {
            best = seed;
            best_w = (dcf__witness_t){si, sj, a[si], b[sj]};
        }
    }
    for (size_t i = 0; i < na; i++) {
        dcf__p2_t a0 = a[i], a1 = at(a, na, i);
        double axlo = dcf__min(a0.x, a1.x), axhi = dcf__max(a0.x, a1.x);
        double aylo = dcf__min(a0.y, a1.y), ayhi = dcf__max(a0.y, a1.y);
        double rx = dcf__max(0.0, dcf__max(bb[0] - axhi, axlo - bb[1]));
        double ry = dcf__max(0.0, dcf__max(bb[2] - ayhi, aylo - bb[3]));
        if (rx * rx + ry * ry >= best)
            continue; /* this edge is nowhere near ring b */
        for (size_t j = 0; j < nb; j++) {
            dcf__p2_t b0 = b[j], b1 = at(b, nb, j);
            double gx =
                dcf__max(0.0, dcf__max(dcf__min(b0.x, b1.x) - axhi, axlo - dcf__max(b0.x, b1.x)));
            double gy =
                dcf__max(0.0, dcf__max(dcf__min(b0.y, b1.y) - ayhi, aylo - dcf__max(b0.y, b1.y)));
            double g2 = gx * gx + gy * gy;
            if (g2 >= best)
                continue;
            if (g2 == 0.0 && dcf__seg_intersect(a0, a1, b0, b1)) {
                best_w = (dcf__witness_t){i, j, a0, a0};
                best = 0.0;
                goto out;
            }
            double t, d2;
            if ((d2 = dcf__seg_dist2(a0, b0, b1, &t)) < best) {
                best = d2;
                best_w = (dcf__witness_t){i, j, a0, lerp(b0, b1, t)};
            }
            if ((d2 = dcf__seg_dist2(a1, b0, b1, &t)) < best) {
                best = d2;
                best_w = (dcf__witness_t){i, j, a1, lerp(b0, b1, t)};
            }
            if ((d2 = dcf__seg_dist2(b0, a0, a1, &t)) < best) {
                best = d2;
                best_w = (dcf__witness_t){i, j, lerp(a0, a1, t), b0};
            }
            if ((d2 = dcf__seg_dist2(b1, a0, a1, &t)) < best) {
                best = d2;
                best_w = (dcf__witness_t){i, j, lerp(a0, a1, t), b1};
            }
            if (best < stop2)
                goto out;
        }
    }
out:
    if (w != NULL)
        *w = best_w;
    return best == cap * cap ? cap : sqrt(best);
}

/* ----------------------------------------------------- interior test -- */

static int cmp_double(const void *pa, const void *pb) {
    double x = *(const double *)pa, y = *(const double *)pb;
    return (x > y) - (x < y);
}

/*
 * Cut each edge of ring a at the vertices of b lying on it and classify each
 * piece by its midpoint against b.  *inside is set when a piece lies inside
 * b; *all_on is cleared when a piece lies outside.
 */
static int classify(dcf_geo_ctx_t *ctx, const dcf__p2_t *a, size_t na, const dcf__p2_t *b,
                    size_t nb, bool *inside, bool *all_on) {
    int rc = dcf__scratch_reserve((void **)&ctx->ts, &ctx->cap_ts, nb + 2, sizeof *ctx->ts);
    if (rc != DCF_OK)
        return rc;
    for (size_t i = 0; i < na; i++) {
        dcf__p2_t a0 = a[i], a1 = at(a, na, i);
        bool same = false;
        for (size_t j = 0; j < nb && !same; j++) {
            dcf__p2_t b0 = b[j], b1 = at(b, nb, j);
            same = (p2_eq(a0, b0) && p2_eq(a1, b1)) || (p2_eq(a0, b1) && p2_eq(a1, b0));
        }
        if (same)
            continue;
        double dx = a1.x - a0.x, dy = a1.y - a0.y, len2 = dx * dx + dy * dy;
        size_t nt = 0;
        ctx->ts[nt++] = 0.0;
        for (size_t j = 0; j < nb; j++) {
            dcf__p2_t p = b[j];
            if (p2_eq(p, a0) || p2_eq(p, a1) || dcf__orient(a0, a1, p) != 0.0 ||
                !dcf__in_span(a0, a1, p))
                continue;
            ctx->ts[nt++] = ((p.x - a0.x) * dx + (p.y - a0.y) * dy) / len2;
        }
        ctx->ts[nt++] = 1.0;
        if (nt > 2)
            qsort(ctx->ts, nt, sizeof *ctx->ts, cmp_double);
        for (size_t k = 0; k + 1 < nt; k++) {
            if (ctx->ts[k + 1] <= ctx->ts[k])
                continue;
            int loc = dcf__ring_locate(b, nb, lerp(a0, a1, 0.5 * (ctx->ts[k] + ctx->ts[k + 1])));
            if (loc > 0) {
                *inside = true;
                return DCF_OK;
            }
            if (loc < 0)
                *all_on = false;
        }
    }
    return DCF_OK;
}

int dcf__planar_ii(dcf_geo_ctx_t *ctx, const dcf__p2_t *a, size_t na, const dcf__p2_t *b, size_t nb,
                   bool *out) {
    double ba[4], bb[4];
    bool touch = false, inside = false, all_on = true;
    int rc;

    ring_box(a, na, ba);
    ring_box(b, nb, bb);
    if (ba[1] < bb[0] || bb[1] < ba[0] || ba[3] < bb[2] || bb[3] < ba[2]) {
        *out = false;
        return DCF_OK;
    }
    for (size_t i = 0; i < na; i++) {
        dcf__p2_t a0 = a[i], a1 = at(a, na, i);
        double axlo = dcf__min(a0.x, a1.x), axhi = dcf__max(a0.x, a1.x);
        double aylo = dcf__min(a0.y, a1.y), ayhi = dcf__max(a0.y, a1.y);
        if (axhi < bb[0] || axlo > bb[1] || ayhi < bb[2] || aylo > bb[3])
            continue;
        for (size_t j = 0; j < nb; j++) {
            dcf__p2_t b0 = b[j], b1 = at(b, nb, j);
            if (dcf__max(b0.x, b1.x) < axlo || dcf__min(b0.x, b1.x) > axhi ||
                dcf__max(b0.y, b1.y) < aylo || dcf__min(b0.y, b1.y) > ayhi)
                continue;
            int o1 = dcf__sgn(dcf__orient(a0, a1, b0)), o2 = dcf__sgn(dcf__orient(a0, a1, b1));
            int o3 = dcf__sgn(dcf__orient(b0, b1, a0)), o4 = dcf__sgn(dcf__orient(b0, b1, a1));
            if (o1 * o2 < 0 && o3 * o4 < 0) {
                *out = true;
                return DCF_OK;
            }
            if ((o1 == 0 && dcf__in_span(a0, a1, b0)) || (o2 == 0 && dcf__in_span(a0, a1, b1)) ||
                (o3 == 0 && dcf__in_span(b0, b1, a0)) || (o4 == 0 && dcf__in_span(b0, b1, a1)))
                touch = true;
        }
    }
    if (!touch) {
        *out = dcf__ring_locate(b, nb, a[0]) > 0 || dcf__ring_locate(a, na, b[0]) > 0;
        return DCF_OK;
    }
    if ((rc = classify(ctx, a, na, b, nb, &inside, &all_on)) != DCF_OK)
        return rc;
    if (!inside && (rc = classify(ctx, b, nb, a, na, &inside, &all_on)) != DCF_OK)
        return rc;
    *out = inside || all_on;
    return DCF_OK;
}

/* --------------------------------------------------------------- GEOS -- */

static GEOSGeometry *geos_poly(GEOSContextHandle_t h, const dcf__p2_t *r, size_t n) {
    GEOSCoordSequence *cs = GEOSCoordSeq_create_r(h, (unsigned)(n + 1), 2);
    GEOSGeometry *ring = NULL;
    if (cs == NULL)
        return NULL;
    for (size_t i = 0; i <= n; i++) {
        dcf__p2_t p = r[i == n ? 0 : i];
        if (!GEOSCoordSeq_setXY_r(h, cs, (unsigned)i, p.x, p.y)) {
            GEOSCoordSeq_destroy_r(h, cs);
            return NULL;
        }
    }
    ring = GEOSGeom_createLinearRing_r(h, cs); /* takes cs */
    if (ring == NULL)
        return NULL;
    return GEOSGeom_createPolygon_r(h, ring, NULL, 0); /* takes ring */
}

/* Build both polygons; DCF_EGEOM when GEOS fails. */
static int geos_pair(dcf_geo_ctx_t *ctx, const dcf__p2_t *a, size_t na, const dcf__p2_t *b,
                     size_t nb, GEOSGeometry **ga, GEOSGeometry **gb) {
    *ga = geos_poly(ctx->geos, a, na);
    *gb = geos_poly(ctx->geos, b, nb);
    if (*ga != NULL && *gb != NULL)
        return DCF_OK;
    if (*ga != NULL)
        GEOSGeom_destroy_r(ctx->geos, *ga);
    if (*gb != NULL)
        GEOSGeom_destroy_r(ctx->geos, *gb);
    *ga = *gb = NULL;
    return DCF_EGEOM;
}

int dcf__geos_dist(dcf_geo_ctx_t *ctx, const dcf__p2_t *a, size_t na, const dcf__p2_t *b, size_t nb,
                   double *out, dcf__witness_t *w) {
    GEOSGeometry *ga = NULL, *gb = NULL;
    const GEOSPreparedGeometry *pg = NULL;
    GEOSCoordSequence *np = NULL;
    double d = 0.0;
    int rc = geos_pair(ctx, a, na, b, nb, &ga, &gb);
    if (rc != DCF_OK)
        return rc;
    rc = DCF_EGEOM;
    if ((pg = GEOSPrepare_r(ctx->geos, ga)) == NULL)
        goto out;
    if (GEOSPreparedDistance_r(ctx->geos, pg, gb, &d) != 1)
        goto out;
    if (w != NULL) {
        memset(w, 0, sizeof *w);
        if ((np = GEOSPreparedNearestPoints_r(ctx->geos, pg, gb)) == NULL)
            goto out;
        if (!GEOSCoordSeq_getXY_r(ctx->geos, np, 0, &w->pa.x, &w->pa.y) ||
            !GEOSCoordSeq_getXY_r(ctx->geos, np, 1, &w->pb.x, &w->pb.y))
            goto out;
    }
    *out = d;
    rc = DCF_OK;
out:
    if (np != NULL)
        GEOSCoordSeq_destroy_r(ctx->geos, np);
    if (pg != NULL)
        GEOSPreparedGeom_destroy_r(ctx->geos, pg);
    GEOSGeom_destroy_r(ctx->geos, ga);
    GEOSGeom_destroy_r(ctx->geos, gb);
    return rc;
}

int dcf__geos_ii(dcf_geo_ctx_t *ctx, const dcf__p2_t *a, size_t na, const dcf__p2_t *b, size_t nb,
                 bool *out) {
    GEOSGeometry *ga = NULL, *gb = NULL;
    int rc = geos_pair(ctx, a, na, b, nb, &ga, &gb);
    if (rc != DCF_OK)
        return rc;
    char r = GEOSRelatePattern_r(ctx->geos, ga, gb, "T********");
    GEOSGeom_destroy_r(ctx->geos, ga);
    GEOSGeom_destroy_r(ctx->geos, gb);
    if (r == 2)
        return DCF_EGEOM;
    *out = r == 1;
    return DCF_OK;
}

int dcf__geos_intersects(dcf_geo_ctx_t *ctx, const dcf__p2_t *a, size_t na, const dcf__p2_t *b,
                         size_t nb, bool *out) {
    GEOSGeometry *ga = NULL, *gb = NULL;
    int rc = geos_pair(ctx, a, na, b, nb, &ga, &gb);
    if (rc != DCF_OK)
        return rc;
    char r = GEOSIntersects_r(ctx->geos, ga, gb);
    GEOSGeom_destroy_r(ctx->geos, ga);
    GEOSGeom_destroy_r(ctx->geos, gb);
    if (r == 2)
        return DCF_EGEOM;
    *out = r == 1;
    return DCF_OK;
}
