/*
 * geo_int.h -- private to the footprint and conflict-test files of src/geo:
 * the layout of a prepared footprint, the per-thread context, the WGS84
 * constants and error bounds the exact test relies on, and small vector and
 * planar helpers.
 *
 * THE NORMAL SPHERE.  Every point (lat, lng) is also held as its unit
 * geodetic normal n = (cos lat cos lng, cos lat sin lng, sin lat).  Angles
 * between normals bound geodesic distance from both sides (see
 * docs/internals/geometry.md):
 *     DCF__R_LO * angle(n1, n2)  <=  s12  <=  DCF__R_HI * angle(n1, n2)
 * with R_LO = b^2/a (the smallest radius of curvature anywhere on the
 * ellipsoid) and R_HI = a^2/b (the largest).  A geodesic edge is stored
 * densified into pieces no longer than DCF__PIECE_MAX_M; the great-circle
 * arc (on the normal sphere) between the normals of a piece's ends stays
 * within DCF__CHORD_DEV_M of the true geodesic (measured: 6.6 mm at 10 km).
 *
 * Invariants of a prepared polygon: pts[first[e]] is vertex e; the pieces of
 * edge e are pts[first[e]] .. pts[first[e+1]] (index np wraps to 0); the
 * points of an edge depend only on its two endpoints, whichever way round the
 * edge is walked, so two polygons that share an edge share it bit for bit;
 * every point of the footprint lies within cap_rad (radians, normal sphere)
 * of cap_c; cap_rad <= DCF__MAX_CAP_RAD.
 *
 * Used by footprint.c (builds footprints), conflict.c and conflict_planar.c
 * (pair tests) and by the tests in tests/geo that check the internals; no
 * other file may include it.
 */
#ifndef DCF_GEO_INT_H
#define DCF_GEO_INT_H

#include <geodesic.h>
#include <geos_c.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deconflict/geo.h"

/* ---------------------------------------------------------- constants -- */

#define DCF__WGS84_A 6378137.0
#define DCF__WGS84_F (1.0 / 298.257223563)
/* b^2/a and a^2/b for WGS84, rounded outward (down and up). */
#define DCF__R_LO 6335439.32
#define DCF__R_HI 6399593.63

#define DCF__PI  3.14159265358979323846
#define DCF__DEG (DCF__PI / 180.0)

/* Longest densified piece of a polygon edge, and the bound on how far the
 * piece's great-circle arc may stray from the true geodesic (6.6 mm measured
 * at 10 km over all latitudes and azimuths; 1 cm used). */
#define DCF__PIECE_MAX_M 10000.0
#define DCF__CHORD_DEV_M 0.01

/* Input limits of a footprint beyond those in geo.h. */
#define DCF__MIN_EDGE_M      0.001 /* consecutive vertices closer are duplicates */
#define DCF__MIN_AREA_M2     0.01  /* smaller counts as zero area */
#define DCF__MAX_CAP_DEG     30.0  /* polygon must fit in a cap this wide */
#define DCF__MAX_CAP_RAD     (DCF__MAX_CAP_DEG * DCF__DEG)
#define DCF__MAX_RING_POINTS ((size_t)1 << 22) /* densified points per polygon */
#define DCF__MAX_SCRATCH     ((size_t)1 << 24) /* bytes of per-context scratch */
/* Self-intersection sweep: most pairs of pieces with overlapping boxes it
 * will test (a 10,000-spike star, the worst shape at the default vertex
 * limit, needs 5e7 and about 0.6 s). */
#define DCF__MAX_SWEEP_TESTS ((uint64_t)100000000)
/* A distance whose guaranteed interval is narrower than this is reported as
 * the interval's middle instead of being refined (error <= half of it). */
#define DCF__DIST_TOL_M 0.5
/* Rings with more points than this use GEOS for the planar predicates. */
#define DCF__GEOS_MIN_POINTS 64

/* -------------------------------------------------------------- types -- */

typedef struct {
    double x, y, z;
} dcf__v3_t;

typedef struct {
    double x, y;
} dcf__p2_t;

/* A gnomonic frame on the normal sphere: the plane tangent at c with axes e
 * and n.  Great circles map to straight lines; the angle from c to a point
 * is atan of its planar radius. */
typedef struct {
    dcf__v3_t c, e, n;
} dcf__frame_t;

/* One 64-byte-aligned allocation: this struct, whose first cache line holds
 * everything the cap test reads (a candidate that the caps clear costs one
 * cache miss), then the densified points, vertices and edge starts. */
struct dcf_footprint_s {
    /* first cache line */
    dcf__v3_t cap_c;           /* unit normal of the cap centre */
    double cap_rad;            /* angular radius covering the whole footprint */
    double radius_m;           /* circle */
    dcf_footprint_kind_t kind; /* */
    uint32_t pad_;
    size_t np;      /* polygon: densified points */
    dcf__v3_t *pts; /* np unit normals */

    dcf_latlng_t center; /* circle */
    dcf_bbox_t bbox;
    size_t n;            /* polygon: vertices as given */
    dcf_latlng_t *verts; /* n, as given */
    uint32_t *first;     /* n + 1: first point of each edge; first[n] == np */
};

/* A (vertex, edge) pair the refinement measures on the ellipsoid, with the
 * planar guess of where along the edge the foot of the perpendicular is. */
typedef struct {
    uint64_t key; /* side << 63 | vertex << 32 | edge */
    double t0;
} dcf__cand_t;

/* Per-thread scratch for the pair tests. */
struct dcf_geo_ctx_s {
    struct geod_geodesic geod;
    GEOSContextHandle_t geos;
    dcf__p2_t *pa, *pb; /* projected rings */
    size_t cap_a, cap_b;
    dcf__cand_t *cands; /* (vertex, edge) candidates for refinement */
    size_t cap_cands;
    double *ts; /* split parameters in the touching-ring classifier */
    size_t cap_ts;
};

/* Grow *buf to hold at least n elements of `size` bytes, within
 * DCF__MAX_SCRATCH.  Returns DCF_OK, DCF_ELIMIT or DCF_ENOMEM. */
int dcf__scratch_reserve(void **buf, size_t *cap, size_t n, size_t size);

/* ------------------------------------------------------------ helpers -- */

static inline dcf__v3_t dcf__v3(double x, double y, double z) {
    return (dcf__v3_t){x, y, z};
}

static inline double dcf__dot(dcf__v3_t a, dcf__v3_t b) {
    return a.x * b.x + a.y * b.y + a.z * b.z;
}

static inline dcf__v3_t dcf__cross(dcf__v3_t a, dcf__v3_t b) {
    return dcf__v3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x);
}

static inline dcf__v3_t dcf__sub(dcf__v3_t a, dcf__v3_t b) {
    return dcf__v3(a.x - b.x, a.y - b.y, a.z - b.z);
}

static inline double dcf__norm(dcf__v3_t a) {
    return sqrt(dcf__dot(a, a));
}

static inline dcf__v3_t dcf__unit(dcf__v3_t a) {
    double l = dcf__norm(a);
    return dcf__v3(a.x / l, a.y / l, a.z / l);
}

/* Angle between two unit vectors, accurate for tiny and large angles. */
static inline double dcf__angle(dcf__v3_t a, dcf__v3_t b) {
    return atan2(dcf__norm(dcf__cross(a, b)), dcf__dot(a, b));
}

/* Twice the signed area of triangle (a, b, c): > 0 when counter-clockwise.
 * Exactly 0 when c equals a or b. */
static inline double dcf__orient(dcf__p2_t a, dcf__p2_t b, dcf__p2_t c) {
    return (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x);
}

/* p lies in the closed axis-aligned box spanned by a and b (with a zero
 * orientation: p lies on the closed segment ab). */
static inline bool dcf__in_span(dcf__p2_t a, dcf__p2_t b, dcf__p2_t p) {
    return (a.x < b.x ? a.x <= p.x && p.x <= b.x : b.x <= p.x && p.x <= a.x) &&
           (a.y < b.y ? a.y <= p.y && p.y <= b.y : b.y <= p.y && p.y <= a.y);
}

static inline int dcf__sgn(double v) {
    return (v > 0.0) - (v < 0.0);
}

static inline double dcf__min(double a, double b) {
    return a < b ? a : b;
}

static inline double dcf__max(double a, double b) {
    return a > b ? a : b;
}

/* The angle 2 asin(c / 2) subtended by a chord of length c (series below
 * 0.05, relative error < 1e-12 there). */
static inline double dcf__chord_angle(double c) {
    if (c < 0.05) {
        double c2 = c * c;
        return c * (1.0 + c2 / 24.0 * (1.0 + c2 * 9.0 / 80.0));
    }
    return 2.0 * asin(dcf__min(1.0, 0.5 * c));
}

/* Unit normal of a point given in degrees.  lng -180 is taken as 180 and
 * the poles map to exactly (0, 0, +-1), so one place has one vector. */
dcf__v3_t dcf__normal(double lat_deg, double lng_deg);

/* The edge of polygon f that densified point i (the start of piece i)
 * belongs to. */
uint32_t dcf__edge_of(const dcf_footprint_t *f, size_t i);

/* A gnomonic frame centred at the unit vector c. */
void dcf__frame_make(dcf__frame_t *f, dcf__v3_t c);
/* Project p (p . c > 0 required) into the frame. */
static inline dcf__p2_t dcf__project(const dcf__frame_t *f, dcf__v3_t p) {
    double w = dcf__dot(p, f->c);
    return (dcf__p2_t){dcf__dot(p, f->e) / w, dcf__dot(p, f->n) / w};
}
/* The unit vector of a planar point. */
static inline dcf__v3_t dcf__unproject(const dcf__frame_t *f, dcf__p2_t q) {
    return dcf__unit(dcf__v3(f->c.x + q.x * f->e.x + q.y * f->n.x,
                             f->c.y + q.x * f->e.y + q.y * f->n.y,
                             f->c.z + q.x * f->e.z + q.y * f->n.z));
}

/* Closed segments ab and cd share at least one point. */
bool dcf__seg_intersect(dcf__p2_t a, dcf__p2_t b, dcf__p2_t c, dcf__p2_t d);
/* Squared distance from p to closed segment ab; *t gets the parameter of the
 * nearest point (0 at a, 1 at b). */
static inline double dcf__seg_dist2(dcf__p2_t p, dcf__p2_t a, dcf__p2_t b, double *t) {
    double dx = b.x - a.x, dy = b.y - a.y;
    double len2 = dx * dx + dy * dy;
    double u = len2 > 0.0 ? ((p.x - a.x) * dx + (p.y - a.y) * dy) / len2 : 0.0;
    if (u < 0.0)
        u = 0.0;
    else if (u > 1.0)
        u = 1.0;
    double qx = a.x + u * dx - p.x, qy = a.y + u * dy - p.y;
    if (t != NULL)
        *t = u;
    return qx * qx + qy * qy;
}

/* Where p lies relative to the closed ring r[0..n-1]: 1 inside, 0 on the
 * boundary, -1 outside. */
int dcf__ring_locate(const dcf__p2_t *r, size_t n, dcf__p2_t p);

/* ------------------------------------------ planar predicates (rings) -- */

/* The closest pair found by a planar distance: a point on piece ia of ring
 * a, one on piece ib of ring b. */
typedef struct {
    size_t ia, ib;
    dcf__p2_t pa, pb;
} dcf__witness_t;

/* Distance between two closed planar polygons (0 when they share any
 * point), with the closest pair in *w.  Own code, O(na * nb) with pruning.
 * The search stops as soon as a pair closer than `stop` is found (0: find
 * the minimum); pairs `cap` or more apart are not looked at, and `cap` is
 * returned (w unset) when no pair is closer (INFINITY: no cap). */
double dcf__planar_dist(const dcf__p2_t *a, size_t na, const dcf__p2_t *b, size_t nb,
                        dcf__witness_t *w, double stop, double cap);
/* Whether the interiors of two planar polygons intersect (sharing edges or
 * vertices is not enough).  Own code.  Returns DCF_OK, DCF_ENOMEM or
 * DCF_ELIMIT. */
int dcf__planar_ii(dcf_geo_ctx_t *ctx, const dcf__p2_t *a, size_t na, const dcf__p2_t *b, size_t nb,
                   bool *out);
/* The same two predicates through GEOS (prepared geometry for the
 * distance).  *w gets only pa and pb.  Return DCF_OK, DCF_ENOMEM or
 * DCF_EGEOM. */
int dcf__geos_dist(dcf_geo_ctx_t *ctx, const dcf__p2_t *a, size_t na, const dcf__p2_t *b, size_t nb,
                   double *out, dcf__witness_t *w);
int dcf__geos_ii(dcf_geo_ctx_t *ctx, const dcf__p2_t *a, size_t na, const dcf__p2_t *b, size_t nb,
                 bool *out);
/* The cheap guaranteed interval for the distance between two footprints,
 * before any refinement (conflict.c; for tests of the error bounds). */
int dcf__footprint_bounds(dcf_geo_ctx_t *ctx, const dcf_footprint_t *a, const dcf_footprint_t *b,
                          double *lo, double *hi);

/* GEOS's answer to "do the closed polygons share a point" (for tests). */
int dcf__geos_intersects(dcf_geo_ctx_t *ctx, const dcf__p2_t *a, size_t na, const dcf__p2_t *b,
                         size_t nb, bool *out);

#endif /* DCF_GEO_INT_H */
