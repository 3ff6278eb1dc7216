/*
 * footprint.c -- building, validating and describing footprints.
 *
 * A footprint is built once and then only read, by any number of threads, so
 * everything the pair test needs is computed here, in the constructor:
 *
 *   - the vertices as given (returned by dcf_footprint_vertices);
 *   - the ring densified on the normal sphere (see geo_int.h): each geodesic
 *     edge is cut into pieces of at most DCF__PIECE_MAX_M, walked with
 *     geod_inverseline/geod_position from the smaller endpoint to the larger
 *     one, so an edge's points depend only on its endpoints;
 *   - a bounding cap on the normal sphere (centre and angular radius);
 *   - a conservative latitude/longitude box (dcf_footprint_bbox).
 *
 * VALIDATION.  Rules are checked in a fixed order (vertex count, each
 * vertex's coordinates, duplicate and closing vertices, size, flatness,
 * self-intersection, area) and the first broken one is reported, with a
 * JSON Pointer below the caller's prefix.  Self-intersection is decided on
 * the densified ring in a gnomonic frame centred on the polygon, with a
 * sweep over pieces sorted by x that tests only pairs whose boxes overlap
 * (O(n log n) for ordinary outlines; quadratic for a star whose spikes all
 * overlap, bounded by DCF__MAX_SWEEP_TESTS); the crossing reported is the
 * one with the lowest pair of edge numbers.
 *
 * BOXES.  A polygon's latitude range includes the poleward bulge of each
 * edge: for edges over DCF__PIECE_MAX_M the geodesic's vertex latitude
 * (Clairaut's relation) when the edge turns from northward to southward or
 * back; for shorter edges, which need no geodesic call at all, the top of
 * the great-circle arc between the normals plus DCF__CHORD_DEV_M.  The
 * longitude range follows the edges' unrolled longitudes, monotonic along a
 * geodesic.  A polygon containing a pole gets the full longitude circle.  A
 * circle's box is that of its cap on the normal sphere, whose angular radius
 * radius_m / DCF__R_LO can only overstate the real one.  Every bound is
 * rounded outward by DCF__BOX_PAD_DEG.
 *
 * Called by the model parser (src/geo), the engine and the tests.  Nothing
 * here keeps global state; a struct geod_geodesic lives on the stack of the
 * function that needs it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geo/geo_int.h"

/* Outward padding of every box bound, degrees (about 0.1 mm). */
#define DCF__BOX_PAD_DEG 1e-9

/* ------------------------------------------------------ small helpers -- */

dcf__v3_t dcf__normal(double lat_deg, double lng_deg) {
    if (lat_deg >= 90.0)
        return dcf__v3(0.0, 0.0, 1.0);
    if (lat_deg <= -90.0)
        return dcf__v3(0.0, 0.0, -1.0);
    if (lng_deg == -180.0)
        lng_deg = 180.0;
    double p = lat_deg * DCF__DEG, l = lng_deg * DCF__DEG;
    double cp = cos(p);
    return dcf__v3(cp * cos(l), cp * sin(l), sin(p));
}

void dcf__frame_make(dcf__frame_t *f, dcf__v3_t c) {
    dcf__v3_t axis = fabs(c.z) < 0.9 ? dcf__v3(0.0, 0.0, 1.0) : dcf__v3(1.0, 0.0, 0.0);
    f->c = c;
    f->e = dcf__unit(dcf__cross(axis, c));
    f->n = dcf__cross(c, f->e);
}

bool dcf__seg_intersect(dcf__p2_t a, dcf__p2_t b, dcf__p2_t c, dcf__p2_t d) {
    int o1 = dcf__sgn(dcf__orient(a, b, c)), o2 = dcf__sgn(dcf__orient(a, b, d));
    int o3 = dcf__sgn(dcf__orient(c, d, a)), o4 = dcf__sgn(dcf__orient(c, d, b));
    if (o1 * o2 < 0 && o3 * o4 < 0)
        return true;
    return (o1 == 0 && dcf__in_span(a, b, c)) || (o2 == 0 && dcf__in_span(a, b, d)) ||
           (o3 == 0 && dcf__in_span(c, d, a)) || (o4 == 0 && dcf__in_span(c, d, b));
}

int dcf__ring_locate(const dcf__p2_t *r, size_t n, dcf__p2_t p) {
    int wn = 0;
    for (size_t i = 0; i < n; i++) {
        dcf__p2_t a = r[i], b = r[i + 1 == n ? 0 : i + 1];
        double o = dcf__orient(a, b, p);
        if (o == 0.0 && dcf__in_span(a, b, p))
            return 0;
        if (a.y <= p.y) {
            if (b.y > p.y && o > 0.0)
                wn++;
        } else if (b.y <= p.y && o < 0.0) {
            wn--;
        }
    }
    return wn != 0 ? 1 : -1;
}

static void set_err(dcf_geo_error_t *err, const char *prefix, const char *rule, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));

static void set_err(dcf_geo_error_t *err, const char *prefix, const char *rule, const char *fmt,
                    ...) {
    if (err == NULL)
        return;
    char tail[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tail, sizeof tail, fmt, ap);
    va_end(ap);
    snprintf(err->pointer, sizeof err->pointer, "%s%s", prefix != NULL ? prefix : "", tail);
    snprintf(err->rule, sizeof err->rule, "%s", rule);
}

/* Latitude/longitude as used for computing: lng -180 becomes 180 and a pole
 * has lng 0, so that every place has exactly one spelling. */
static dcf_latlng_t canon(dcf_latlng_t p) {
    if (p.lng == -180.0)
        p.lng = 180.0;
    if (p.lat == 90.0 || p.lat == -90.0)
        p.lng = 0.0;
    return p;
}

static bool latlng_less(dcf_latlng_t a, dcf_latlng_t b) {
    return a.lat < b.lat || (a.lat == b.lat && a.lng < b.lng);
}

static bool coord_ok(dcf_latlng_t p) {
    return p.lat >= -90.0 && p.lat <= 90.0 && p.lng >= -180.0 && p.lng <= 180.0;
}

static bool check_coord(dcf_latlng_t p, const char *prefix, const char *where,
                        dcf_geo_error_t *err) {
    if (!isfinite(p.lat)) {
        set_err(err, prefix, "must be a finite number", "%s/lat", where);
        return false;
    }
    if (p.lat < -90.0 || p.lat > 90.0) {
        set_err(err, prefix, "must be between -90 and 90", "%s/lat", where);
        return false;
    }
    if (!isfinite(p.lng)) {
        set_err(err, prefix, "must be a finite number", "%s/lng", where);
        return false;
    }
    if (p.lng < -180.0 || p.lng > 180.0) {
        set_err(err, prefix, "must be between -180 and 180", "%s/lng", where);
        return false;
    }
    return true;
}

/* Wrap a longitude into [-180, 180) (lo) or (-180, 180] (hi). */
static double wrap_lo(double x) {
    x = fmod(x + 180.0, 360.0);
    if (x < 0.0)
        x += 360.0;
    return x - 180.0;
}

static double wrap_hi(double x) {
    return -wrap_lo(-x);
}

/* Set the longitude range of b from an unwrapped interval [lo, hi]. */
static void set_lng_range(dcf_bbox_t *b, double lo, double hi) {
    lo -= DCF__BOX_PAD_DEG;
    hi += DCF__BOX_PAD_DEG;
    if (hi - lo >= 360.0) {
        b->lng_lo = -180.0;
        b->lng_hi = 180.0;
        return;
    }
    b->lng_lo = wrap_lo(lo);
    b->lng_hi = wrap_hi(hi);
}

/* Box of the cap of angular radius `rad` around the normal at `c`. */
static void cap_box(dcf_latlng_t c, double rad, dcf_bbox_t *b) {
    double rdeg = rad / DCF__DEG;
    b->lat_lo = c.lat - rdeg - DCF__BOX_PAD_DEG;
    b->lat_hi = c.lat + rdeg + DCF__BOX_PAD_DEG;
    if (b->lat_lo <= -90.0 || b->lat_hi >= 90.0) {
        b->lat_lo = dcf__max(b->lat_lo, -90.0);
        b->lat_hi = dcf__min(b->lat_hi, 90.0);
        b->lng_lo = -180.0;
        b->lng_hi = 180.0;
        return;
    }
    double dl = asin(dcf__min(1.0, sin(rad) / cos(c.lat * DCF__DEG))) / DCF__DEG;
    set_lng_range(b, c.lng - dl, c.lng + dl);
}

/* ------------------------------------------------------------ polygon -- */

/* What the first pass learns about one edge. */
typedef struct {
    double s12;     /* geodesic length */
    double dlng;    /* unrolled longitude change, in walking order */
    double lat_max; /* extreme latitudes along the edge */
    double lat_min;
    bool forward; /* walked from the smaller endpoint */
} edge_info_t;

/* Latitude (degrees) of the vertex of the geodesic through a point at
 * latitude lat1 with azimuth azi1 (Clairaut: sin a0 = sin a1 cos b1). */
static double vertex_lat(double lat1, double azi1) {
    double f1 = 1.0 - DCF__WGS84_F;
    double p = lat1 * DCF__DEG;
    double beta = atan2(f1 * sin(p), cos(p));
    double salp0 = fabs(sin(azi1 * DCF__DEG) * cos(beta));
    double calp0 = sqrt(dcf__max(0.0, 1.0 - salp0 * salp0));
    return atan2(calp0, f1 * salp0) / DCF__DEG;
}

/*
 * The fast path for an edge that is certainly one piece and certainly not
 * a duplicate (decided from the chord between its normals, symmetrically in
 * its endpoints): no geodesic computation.  Its latitude range is that of
 * the great-circle arc between the normals (whose highest point is where the
 * arc's plane is steepest) widened by DCF__CHORD_DEV_M, and its longitude
 * change the wrapped difference (a shortest geodesic never turns more than
 * 180 degrees of longitude).
 */
static bool edge_fast(dcf_latlng_t a, dcf_latlng_t b, dcf__v3_t na, dcf__v3_t nb, edge_info_t *ei) {
    dcf__v3_t d = dcf__sub(na, nb);
    double th = dcf__chord_angle(sqrt(dcf__dot(d, d)));
    if (!(DCF__R_HI * th <= DCF__PIECE_MAX_M && DCF__R_LO * th >= DCF__MIN_EDGE_M))
        return false;
    ei->forward = !latlng_less(b, a);
    ei->s12 = DCF__R_HI * th;          /* an upper bound: only used to count pieces */
    ei->dlng = wrap_hi(b.lng - a.lng); /* into (-180, 180] */
    ei->lat_max = dcf__max(a.lat, b.lat);
    ei->lat_min = dcf__min(a.lat, b.lat);
    dcf__v3_t p = dcf__cross(na, nb);
    double pl = dcf__norm(p);
    if (pl > 0.0) {
        p = dcf__v3(p.x / pl, p.y / pl, p.z / pl);
        /* Highest point of the great circle: z minus its part along p. */
        dcf__v3_t top = dcf__v3(-p.z * p.x, -p.z * p.y, 1.0 - p.z * p.z);
        double tl = dcf__norm(top);
        if (tl > 0.0) {
            top = dcf__v3(top.x / tl, top.y / tl, top.z / tl);
            for (int s = 1; s >= -1; s -= 2) {
                dcf__v3_t v = dcf__v3(s * top.x, s * top.y, s * top.z);
                if (dcf__dot(dcf__cross(na, v), p) >= 0.0 &&
                    dcf__dot(dcf__cross(v, nb), p) >= 0.0) {
                    double lat = asin(dcf__min(1.0, fabs(v.z))) / DCF__DEG;
                    if (s > 0)
                        ei->lat_max = dcf__max(ei->lat_max, lat);
                    else
                        ei->lat_min = dcf__min(ei->lat_min, -lat);
                }
            }
        }
    }
    double pad = DCF__CHORD_DEV_M / DCF__R_LO / DCF__DEG;
    ei->lat_max = dcf__min(90.0, ei->lat_max + pad);
    ei->lat_min = dcf__max(-90.0, ei->lat_min - pad);
    return true;
}

static void edge_first_pass(const struct geod_geodesic *g, dcf_latlng_t a, dcf_latlng_t b,
                            edge_info_t *ei) {
    struct geod_geodesicline l;
    dcf_latlng_t p = a, q = b;
    double lat2, lon2, azi2;
    ei->forward = !latlng_less(b, a);
    if (!ei->forward) {
        p = b;
        q = a;
    }
    geod_inverseline(&l, g, p.lat, p.lng, q.lat, q.lng, GEOD_ALL);
    ei->s12 = l.s13;
    geod_genposition(&l, GEOD_LONG_UNROLL, l.s13, &lat2, &lon2, &azi2, NULL, NULL, NULL, NULL,
                     NULL);
    ei->dlng = ei->forward ? lon2 - p.lng : -(lon2 - p.lng);
    ei->lat_max = dcf__max(a.lat, b.lat);
    ei->lat_min = dcf__min(a.lat, b.lat);
    double c1 = cos(l.azi1 * DCF__DEG), c2 = cos(azi2 * DCF__DEG);
    if (c1 >= 0.0 && c2 <= 0.0)
        ei->lat_max = dcf__max(ei->lat_max, vertex_lat(p.lat, l.azi1));
    if (c1 <= 0.0 && c2 >= 0.0)
        ei->lat_min = dcf__min(ei->lat_min, -vertex_lat(p.lat, l.azi1));
}

/* Fill the k - 1 interior points of an edge, in walking order. */
static void edge_densify(const struct geod_geodesic *g, dcf_latlng_t a, dcf_latlng_t b,
                         const edge_info_t *ei, uint32_t k, dcf__v3_t *out) {
    struct geod_geodesicline l;
    dcf_latlng_t p = ei->forward ? a : b, q = ei->forward ? b : a;
    geod_inverseline(&l, g, p.lat, p.lng, q.lat, q.lng,
                     GEOD_LATITUDE | GEOD_LONGITUDE | GEOD_DISTANCE_IN);
    for (uint32_t j = 1; j < k; j++) {
        double lat, lng;
        geod_position(&l, ei->s12 * (double)j / (double)k, &lat, &lng, NULL);
        out[ei->forward ? j - 1 : k - 1 - j] = dcf__normal(lat, lng);
    }
}

uint32_t dcf__edge_of(const dcf_footprint_t *f, size_t i) {
    size_t lo = 0, hi = f->n; /* first[lo] <= i < first[hi] */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (f->first[mid] <= i)
            lo = mid;
        else
            hi = mid;
    }
    return (uint32_t)lo;
}

typedef struct {
    double xmin, xmax, ylo, yhi;
    uint32_t i, e; /* piece and the edge it belongs to */
} sweep_t;

static int sweep_cmp(const void *pa, const void *pb) {
    const sweep_t *a = pa, *b = pb;
    return (a->xmin > b->xmin) - (a->xmin < b->xmin);
}

enum { SWEEP_CLEAN, SWEEP_CROSSING, SWEEP_GAVE_UP };

/*
 * Find the crossing with the lowest (edge, edge) pair among the pieces of a
 * projected ring q[0..np-1], testing at most `max_tests` pairs of pieces
 * whose boxes overlap.  SWEEP_CROSSING sets *e1 < *e2 (or *e2 == *e1 + 1
 * for a fold-back at a shared vertex).
 */
static int find_self_crossing(const dcf_footprint_t *f, const dcf__p2_t *q, sweep_t *sw,
                              uint64_t max_tests, uint32_t *e1, uint32_t *e2) {
    size_t np = f->np;
    bool found = false;
    uint64_t tests = 0;
    for (size_t e = 0; e < f->n; e++)
        for (size_t i = f->first[e]; i < f->first[e + 1]; i++) {
            dcf__p2_t a = q[i], b = q[i + 1 == np ? 0 : i + 1];
            sw[i] = (sweep_t){dcf__min(a.x, b.x), dcf__max(a.x, b.x), dcf__min(a.y, b.y),
                              dcf__max(a.y, b.y), (uint32_t)i,        (uint32_t)e};
        }
    qsort(sw, np, sizeof *sw, sweep_cmp);
    for (size_t s = 0; s < np; s++) {
        const sweep_t *ps = &sw[s];
        for (size_t t = s + 1; t < np && sw[t].xmin <= ps->xmax; t++) {
            const sweep_t *pt = &sw[t];
            if (pt->yhi < ps->ylo || pt->ylo > ps->yhi)
                continue;
            if (++tests > max_tests)
                return SWEEP_GAVE_UP;
            size_t lo = ps->i < pt->i ? ps->i : pt->i, hi = ps->i < pt->i ? pt->i : ps->i;
            uint32_t ea = ps->e < pt->e ? ps->e : pt->e, eb = ps->e < pt->e ? pt->e : ps->e;
            bool hit;
            if (hi == lo + 1 || (lo == 0 && hi == np - 1)) {
                /* Adjacent pieces share one point; they are bad only when
                 * the second folds back along the first. */
                size_t sh = hi == lo + 1 ? hi : 0;
                size_t u = sh == 0 ? np - 1 : sh - 1, w = sh + 1 == np ? 0 : sh + 1;
                dcf__p2_t p0 = q[sh], pu = q[u], pw = q[w];
                hit = dcf__orient(pu, p0, pw) == 0.0 &&
                      (pu.x - p0.x) * (pw.x - p0.x) + (pu.y - p0.y) * (pw.y - p0.y) > 0.0;
            } else if (ea == eb) {
                continue; /* two pieces of one geodesic */
            } else {
                hit = dcf__seg_intersect(q[lo], q[lo + 1 == np ? 0 : lo + 1], q[hi],
                                         q[hi + 1 == np ? 0 : hi + 1]);
            }
            if (!hit)
                continue;
            if (ea == eb) /* fold-back inside one densified edge: report its neighbour */
                eb = (uint32_t)((ea + 1) % f->n);
            if (!found || ea < *e1 || (ea == *e1 && eb < *e2)) {
                *e1 = ea;
                *e2 = eb;
                found = true;
            }
        }
    }
    return found ? SWEEP_CROSSING : SWEEP_CLEAN;
}

/* A footprint and its arrays in one cache-line-aligned block (see
 * geo_int.h); the struct is zeroed and the array pointers set. */
static dcf_footprint_t *fp_alloc(dcf_footprint_kind_t kind, size_t n, size_t np) {
    const size_t line = 64;
    size_t head = (sizeof(dcf_footprint_t) + line - 1) / line * line;
    if (n > DCF__MAX_RING_POINTS * 4 || np > DCF__MAX_RING_POINTS)
        return NULL;
    size_t size =
        head + np * sizeof(dcf__v3_t) + n * sizeof(dcf_latlng_t) + (n + 1) * sizeof(uint32_t);
    size = (size + line - 1) / line * line;
    char *p = aligned_alloc(line, size);
    if (p == NULL)
        return NULL;
    dcf_footprint_t *f = (dcf_footprint_t *)p;
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->n = n;
    f->np = np;
    if (kind == DCF_FOOTPRINT_POLYGON) {
        f->pts = (dcf__v3_t *)(p + head);
        f->verts = (dcf_latlng_t *)(f->pts + np);
        f->first = (uint32_t *)(f->verts + n);
    }
    return f;
}

int dcf_footprint_polygon(const dcf_geo_limits_t *limits, const dcf_latlng_t *v, size_t n,
                          const char *pointer_prefix, dcf_footprint_t **out, dcf_geo_error_t *err) {
    struct geod_geodesic g;
    dcf_footprint_t *f = NULL;
    edge_info_t *ei = NULL;
    dcf__v3_t *nv = NULL;
    uint32_t *fst = NULL;
    dcf__p2_t *q = NULL;
    sweep_t *sw = NULL;
    size_t max_v = limits != NULL ? limits->max_vertices : DCF_DEFAULT_MAX_VERTICES;
    int rc = DCF_EINVAL;

    if (out == NULL || (v == NULL && n > 0)) {
        set_err(err, pointer_prefix, "internal: bad arguments", "%s", "");
        goto out;
    }
    if (n < 3) {
        set_err(err, pointer_prefix, "must have at least 3 vertices", "/vertices");
        goto out;
    }
    if (n > max_v) {
        char rule[80];
        snprintf(rule, sizeof rule, "must have at most %zu vertices", max_v);
        set_err(err, pointer_prefix, rule, "/vertices");
        rc = DCF_ELIMIT;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (coord_ok(v[i]))
            continue;
        char where[48];
        snprintf(where, sizeof where, "/vertices/%zu", i);
        check_coord(v[i], pointer_prefix, where, err);
        goto out;
    }

    rc = DCF_ENOMEM;
    ei = calloc(n, sizeof *ei);
    nv = malloc(n * sizeof *nv);
    fst = malloc((n + 1) * sizeof *fst);
    if (ei == NULL || nv == NULL || fst == NULL)
        goto out;

    /* Pass 1: every edge's length, longitude change and latitude range. */
    bool g_ready = false;
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
        dcf_latlng_t c = canon(v[i]);
        nv[i] = dcf__normal(c.lat, c.lng);
    }
    for (size_t e = 0; e < n; e++) {
        size_t e1 = e + 1 == n ? 0 : e + 1;
        dcf_latlng_t a = canon(v[e]), b = canon(v[e1]);
        if (!edge_fast(a, b, nv[e], nv[e1], &ei[e])) {
            if (!g_ready)
                geod_init(&g, DCF__WGS84_A, DCF__WGS84_F);
            g_ready = true;
            edge_first_pass(&g, a, b, &ei[e]);
        }
        if (!(ei[e].s12 >= DCF__MIN_EDGE_M)) {
            rc = DCF_EINVAL;
            if (e + 1 == n)
                set_err(err, pointer_prefix,
                        "must not repeat the first vertex (the ring closes itself)",
                        "/vertices/%zu", e);
            else
                set_err(err, pointer_prefix, "must differ from the previous vertex",
                        "/vertices/%zu", e + 1);
            goto out;
        }
        fst[e] = (uint32_t)np;
        np += (size_t)ceil(ei[e].s12 / DCF__PIECE_MAX_M);
        if (np > DCF__MAX_RING_POINTS) {
            char rule[120];
            snprintf(rule, sizeof rule,
                     "edges are too long in total (more than %zu points at %.0f m spacing)",
                     (size_t)DCF__MAX_RING_POINTS, DCF__PIECE_MAX_M);
            set_err(err, pointer_prefix, rule, "/vertices");
            rc = DCF_ELIMIT;
            goto out;
        }
    }
    fst[n] = (uint32_t)np;

    /* Pass 2: the densified ring. */
    rc = DCF_ENOMEM;
    f = fp_alloc(DCF_FOOTPRINT_POLYGON, n, np);
    q = malloc(np * sizeof *q);
    sw = malloc(np * sizeof *sw);
    if (f == NULL || q == NULL || sw == NULL)
        goto out;
    memcpy(f->verts, v, n * sizeof *v);
    memcpy(f->first, fst, (n + 1) * sizeof *fst);
    for (size_t e = 0; e < n; e++) {
        dcf_latlng_t a = canon(v[e]), b = canon(v[e + 1 == n ? 0 : e + 1]);
        uint32_t k = f->first[e + 1] - f->first[e];
        f->pts[f->first[e]] = nv[e];
        if (k > 1)
            edge_densify(&g, a, b, &ei[e], k, &f->pts[f->first[e] + 1]);
    }

    /* Bounding cap. */
    dcf__v3_t sum = dcf__v3(0.0, 0.0, 0.0);
    for (size_t i = 0; i < np; i++)
        sum = dcf__v3(sum.x + f->pts[i].x, sum.y + f->pts[i].y, sum.z + f->pts[i].z);
    double maxang = DCF__PI;
    if (dcf__norm(sum) > 1e-9 * (double)np) {
        f->cap_c = dcf__unit(sum);
        maxang = 0.0;
        for (size_t i = 0; i < np; i++)
            maxang = dcf__max(maxang, dcf__angle(f->cap_c, f->pts[i]));
    }
    f->cap_rad = maxang + DCF__CHORD_DEV_M / DCF__R_LO + 1e-12;
    if (f->cap_rad > DCF__MAX_CAP_RAD) {
        char rule[120];
        snprintf(rule, sizeof rule, "must fit within %.0f km of its centre",
                 DCF__MAX_CAP_RAD * DCF__R_LO / 1000.0);
        set_err(err, pointer_prefix, rule, "/vertices");
        rc = DCF_EINVAL;
        goto out;
    }

    /* Area and self-intersection, in the polygon's own gnomonic frame. */
    dcf__frame_t fr;
    dcf__frame_make(&fr, f->cap_c);
    double area2 = 0.0, fan2 = 0.0;
    for (size_t i = 0; i < np; i++)
        q[i] = dcf__project(&fr, f->pts[i]);
    for (size_t i = 0; i < np; i++) {
        dcf__p2_t a = q[i], b = q[i + 1 == np ? 0 : i + 1];
        area2 += a.x * b.y - a.y * b.x;
        fan2 += fabs(dcf__orient(q[0], a, b));
    }
    /* All points on one line (every fan triangle flat): zero area, whatever
     * the crossing test would say about the overlapping edges. */
    if (fan2 * 0.5 * DCF__R_LO * DCF__R_LO < DCF__MIN_AREA_M2) {
        set_err(err, pointer_prefix, "must enclose a non-zero area", "/vertices");
        rc = DCF_EINVAL;
        goto out;
    }
    uint32_t e1 = 0, e2 = 0;
    int sweep = find_self_crossing(f, q, sw, DCF__MAX_SWEEP_TESTS, &e1, &e2);
    if (sweep == SWEEP_GAVE_UP) {
        char rule[120];
        snprintf(rule, sizeof rule,
                 "has too many overlapping edges to check for crossings (over %llu pairs)",
                 (unsigned long long)DCF__MAX_SWEEP_TESTS);
        set_err(err, pointer_prefix, rule, "/vertices");
        rc = DCF_ELIMIT;
        goto out;
    }
    if (sweep == SWEEP_CROSSING) {
        char rule[120];
        snprintf(rule, sizeof rule, "edges must not cross (edge %u-%u crosses edge %u-%u)", e1,
                 (unsigned)((e1 + 1) % n), e2, (unsigned)((e2 + 1) % n));
        set_err(err, pointer_prefix, rule, "/vertices/%u", e1);
        rc = DCF_EINVAL;
        goto out;
    }

    if (fabs(area2) * 0.5 * DCF__R_LO * DCF__R_LO < DCF__MIN_AREA_M2) {
        set_err(err, pointer_prefix, "must enclose a non-zero area", "/vertices");
        rc = DCF_EINVAL;
        goto out;
    }
    /* Box. */
    dcf_bbox_t *bb = &f->bbox;
    double u = canon(v[0]).lng, ulo = u, uhi = u;
    bb->lat_lo = 90.0;
    bb->lat_hi = -90.0;
    for (size_t e = 0; e < n; e++) {
        bb->lat_lo = dcf__min(bb->lat_lo, ei[e].lat_min);
        bb->lat_hi = dcf__max(bb->lat_hi, ei[e].lat_max);
        u += ei[e].dlng;
        ulo = dcf__min(ulo, u);
        uhi = dcf__max(uhi, u);
    }
    bool pole = false;
    for (int s = -1; s <= 1; s += 2) {
        dcf__v3_t pv = dcf__v3(0.0, 0.0, (double)s);
        if (dcf__dot(pv, fr.c) > 0.5 && dcf__ring_locate(q, np, dcf__project(&fr, pv)) >= 0) {
            pole = true;
            if (s > 0)
                bb->lat_hi = 90.0;
            else
                bb->lat_lo = -90.0;
        }
    }
    bb->lat_lo = dcf__max(-90.0, bb->lat_lo - DCF__BOX_PAD_DEG);
    bb->lat_hi = dcf__min(90.0, bb->lat_hi + DCF__BOX_PAD_DEG);
    if (pole || bb->lat_hi >= 90.0 || bb->lat_lo <= -90.0) {
        bb->lng_lo = -180.0;
        bb->lng_hi = 180.0;
    } else {
        set_lng_range(bb, ulo, uhi);
    }

    *out = f;
    f = NULL;
    rc = DCF_OK;
out:
    if (rc == DCF_ENOMEM)
        set_err(err, pointer_prefix, "out of memory", "%s", "");
    free(sw);
    free(q);
    free(ei);
    free(nv);
    free(fst);
    dcf_footprint_free(f);
    return rc;
}

/* ------------------------------------------------------------- circle -- */

int dcf_footprint_circle(dcf_latlng_t center, double radius_m, const char *pointer_prefix,
                         dcf_footprint_t **out, dcf_geo_error_t *err) {
    dcf_footprint_t *f = NULL;
    int rc = DCF_EINVAL;

    if (out == NULL) {
        set_err(err, pointer_prefix, "internal: bad arguments", "%s", "");
        goto out;
    }
    if (!check_coord(center, pointer_prefix, "/center", err))
        goto out;
    if (!isfinite(radius_m)) {
        set_err(err, pointer_prefix, "must be a finite number", "/radius_m");
        goto out;
    }
    if (!(radius_m > 0.0)) {
        set_err(err, pointer_prefix, "must be greater than 0", "/radius_m");
        goto out;
    }
    if (radius_m > DCF_MAX_RADIUS_M) {
        char rule[64];
        snprintf(rule, sizeof rule, "must be at most %.0f", DCF_MAX_RADIUS_M);
        set_err(err, pointer_prefix, rule, "/radius_m");
        goto out;
    }
    rc = DCF_ENOMEM;
    f = fp_alloc(DCF_FOOTPRINT_CIRCLE, 0, 0);
    if (f == NULL)
        goto out;
    f->center = center;
    f->radius_m = radius_m;
    dcf_latlng_t c = canon(center);
    f->cap_c = dcf__normal(c.lat, c.lng);
    f->cap_rad = radius_m / DCF__R_LO * (1.0 + 1e-12) + 1e-12;
    cap_box(c, f->cap_rad, &f->bbox);
    *out = f;
    rc = DCF_OK;
out:
    if (rc == DCF_ENOMEM)
        set_err(err, pointer_prefix, "out of memory", "%s", "");
    return rc;
}

/* ---------------------------------------------------------- accessors -- */

void dcf_footprint_free(dcf_footprint_t *f) {
    if (f == NULL)
        return;
    free(f);
}

dcf_footprint_kind_t dcf_footprint_kind(const dcf_footprint_t *f) {
    return f->kind;
}

const dcf_latlng_t *dcf_footprint_vertices(const dcf_footprint_t *f, size_t *n) {
    if (f->kind != DCF_FOOTPRINT_POLYGON) {
        if (n != NULL)
            *n = 0;
        return NULL;
    }
    if (n != NULL)
        *n = f->n;
    return f->verts;
}

bool dcf_footprint_circle_params(const dcf_footprint_t *f, dcf_latlng_t *center, double *radius_m) {
    if (f->kind != DCF_FOOTPRINT_CIRCLE)
        return false;
    if (center != NULL)
        *center = f->center;
    if (radius_m != NULL)
        *radius_m = f->radius_m;
    return true;
}

void dcf_footprint_bbox(const dcf_footprint_t *f, dcf_bbox_t *out) {
    *out = f->bbox;
}

/*
 * HOW IT WORKS.  A point within dist_m of the box is within angle
 * t = dist_m / DCF__R_LO of it on the normal sphere, whose latitude is the
 * geodetic latitude.  So latitudes grow by t, and longitudes by the widest
 * longitude half-width of a cap of radius t centred anywhere in the box,
 * asin(sin t / cos phi) at the box's most poleward latitude phi; when a pole
 * comes within reach the longitude range becomes the whole circle.
 */
void dcf_bbox_expand(dcf_bbox_t *b, double dist_m) {
    if (!(dist_m > 0.0))
        return;
    double t = dist_m / DCF__R_LO * (1.0 + 1e-12) + 1e-15;
    double tdeg = t / DCF__DEG;
    double phi = dcf__max(fabs(b->lat_lo), fabs(b->lat_hi));
    bool full = b->lng_lo == -180.0 && b->lng_hi == 180.0;
    b->lat_lo = dcf__max(-90.0, b->lat_lo - tdeg - DCF__BOX_PAD_DEG);
    b->lat_hi = dcf__min(90.0, b->lat_hi + tdeg + DCF__BOX_PAD_DEG);
    if (full || phi + tdeg >= 90.0 || t >= DCF__PI / 2) {
        b->lng_lo = -180.0;
        b->lng_hi = 180.0;
        return;
    }
    double s = sin(t) / cos(phi * DCF__DEG);
    if (s >= 1.0) {
        b->lng_lo = -180.0;
        b->lng_hi = 180.0;
        return;
    }
    double dl = asin(s) / DCF__DEG;
    double lo = b->lng_lo, hi = b->lng_hi;
    if (lo > hi)
        hi += 360.0;
    set_lng_range(b, lo - dl, hi + dl);
}

double dcf_geo_point_distance(dcf_latlng_t a, dcf_latlng_t b) {
    struct geod_geodesic g;
    double s12 = 0.0;
    geod_init(&g, DCF__WGS84_A, DCF__WGS84_F);
    geod_inverse(&g, a.lat, a.lng, b.lat, b.lng, &s12, NULL, NULL);
    return s12;
}
