/*
 * geo.h -- the 4D model (footprints, volumes, operations), its JSON form, the
 * separation rule table and the exact conflict test.
 *
 * A VOLUME is a footprint on the WGS84 ellipsoid, an altitude band [lo, hi) in
 * metres above the ellipsoid and a time window [start, end) in UTC.  A
 * FOOTPRINT is a polygon whose edges are geodesics between consecutive
 * vertices (as in ASTM F3548-21) or a geodesic circle (all points within
 * radius_m of the centre).  An OPERATION belongs to one party and has 1..N
 * volumes.
 *
 * Two volumes of different parties CONFLICT under minima (h, v, t) when, in
 * every dimension, they come closer than the minimum:
 *     time gap < t  and  altitude gap < v  and  horizontal distance < h,
 * where a gap is signed (negative when the intervals overlap), so back-to-back
 * slots and stacked layers do not conflict at a minimum of 0; horizontally,
 * at h == 0 the footprints conflict only when their interiors intersect
 * (sharing an edge is not a conflict), at h > 0 when the geodesic distance
 * between them is < h (overlap counts as distance 0).
 *
 * Threading: footprints, volumes and operations are immutable once built and
 * may be read from any thread.  A dcf_geo_ctx_t holds per-thread scratch
 * (GEOS handle, geodesic parameters, buffers): one per thread, never shared.
 */
#ifndef DECONFLICT_GEO_H
#define DECONFLICT_GEO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deconflict/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ limits -- */

/* Every input has a limit; these are the defaults, each configurable through
 * dcf_geo_limits_t. */
#define DCF_DEFAULT_MAX_VERTICES 10000
#define DCF_DEFAULT_MAX_VOLUMES  64
#define DCF_DEFAULT_MAX_DEPTH    32        /* JSON nesting depth */
#define DCF_ID_MAX               64        /* bytes of an operation id */
#define DCF_PARTY_MAX            32        /* bytes of a party slug */
#define DCF_KIND_MAX             32        /* bytes of an operation kind */
#define DCF_MAX_RADIUS_M         1000000.0 /* 1,000 km */
#define DCF_MAX_SEP_H_M          1000000.0
#define DCF_MAX_SEP_V_M          100000.0
#define DCF_MAX_SEP_T_S          (7 * 86400)
#define DCF_MIN_ALT_M            -1000.0
#define DCF_MAX_ALT_M            100000.0

typedef struct {
    size_t max_vertices;   /* per polygon, >= 3 */
    size_t max_volumes;    /* per operation, >= 1 */
    size_t max_depth;      /* JSON nesting (checked by callers that load text) */
    size_t max_operations; /* per document */
} dcf_geo_limits_t;

/* Fill `l` with the defaults above. */
void dcf_geo_limits_default(dcf_geo_limits_t *l);

/* ----------------------------------------------------------- errors -- */

/* Where a validation failure is and which rule it breaks.  `pointer` is an
 * RFC 6901 JSON Pointer relative to the document passed to the parser (for
 * example "/volumes/2/footprint/vertices/7/lat"); `rule` is a short sentence
 * ("must be between -90 and 90").  Both are NUL-terminated and bounded. */
typedef struct {
    char pointer[160];
    char rule[160];
} dcf_geo_error_t;

/* ------------------------------------------------------- footprints -- */

typedef struct {
    double lat; /* degrees, [-90, 90] */
    double lng; /* degrees, [-180, 180] */
} dcf_latlng_t;

/* A latitude/longitude box.  When lng_lo > lng_hi the box crosses the
 * antimeridian (it covers [lng_lo, 180] and [-180, lng_hi]). */
typedef struct {
    double lat_lo, lat_hi;
    double lng_lo, lng_hi;
} dcf_bbox_t;

typedef enum { DCF_FOOTPRINT_POLYGON = 1, DCF_FOOTPRINT_CIRCLE = 2 } dcf_footprint_kind_t;

/* Opaque, immutable, prepared footprint (precomputed frames and bounds). */
typedef struct dcf_footprint_s dcf_footprint_t;

/*
 * Build a polygon footprint from n vertices (not closed: the first vertex is
 * not repeated).  Rejects n < 3, n > limits->max_vertices, non-finite or
 * out-of-range coordinates, consecutive duplicate vertices, a repeated
 * closing vertex, zero area and self-intersection; `err` (may be NULL) then
 * names the offending vertex relative to `pointer_prefix` (e.g.
 * "/volumes/0/footprint") and the rule.  On success *out owns a new footprint.
 * Returns DCF_OK, DCF_EINVAL, DCF_ELIMIT, DCF_ENOMEM or DCF_EGEOM.
 */
int dcf_footprint_polygon(const dcf_geo_limits_t *limits, const dcf_latlng_t *v, size_t n,
                          const char *pointer_prefix, dcf_footprint_t **out, dcf_geo_error_t *err);

/* Build a geodesic circle footprint; 0 < radius_m <= DCF_MAX_RADIUS_M. */
int dcf_footprint_circle(dcf_latlng_t center, double radius_m, const char *pointer_prefix,
                         dcf_footprint_t **out, dcf_geo_error_t *err);

void dcf_footprint_free(dcf_footprint_t *f);

dcf_footprint_kind_t dcf_footprint_kind(const dcf_footprint_t *f);
/* Polygon: its vertices as given (n set to the count).  Circle: NULL. */
const dcf_latlng_t *dcf_footprint_vertices(const dcf_footprint_t *f, size_t *n);
/* Circle: centre and radius.  Polygon: returns false. */
bool dcf_footprint_circle_params(const dcf_footprint_t *f, dcf_latlng_t *center, double *radius_m);
/* A box that contains every point of the footprint (conservative). */
void dcf_footprint_bbox(const dcf_footprint_t *f, dcf_bbox_t *out);

/* Grow `b` in place so that it contains every point within `dist_m` metres
 * (geodesic) of any point of the original box.  Conservative: it may grow
 * more than needed, never less.  Near a pole the longitude span becomes the
 * whole circle. */
void dcf_bbox_expand(dcf_bbox_t *b, double dist_m);

/* ------------------------------------------------ volumes, operations -- */

typedef struct {
    dcf_footprint_t *footprint; /* owned by the volume */
    double alt_lo, alt_hi;      /* metres above the WGS84 ellipsoid, [lo, hi) */
    dcf_time_t t_start, t_end;  /* UTC microseconds, [start, end) */
} dcf_volume_t;

/* Separation minima.  All >= 0. */
typedef struct {
    double horizontal_m;
    double vertical_m;
    dcf_time_t time_us;
} dcf_sep_t;

/* How much of an operation its owner lets the other side of a conflict see. */
typedef enum {
    DCF_DISCLOSE_CONTACT = 0, /* the default: that a conflict exists, the overlap, whom to call */
    DCF_DISCLOSE_OVERLAP = 1, /* plus the exact (uncoarsened) overlap */
    DCF_DISCLOSE_FULL = 2,    /* plus the whole operation */
} dcf_disclosure_t;

#define DCF_REASON_MAX 500 /* bytes of an exigency reason */

typedef struct {
    char id[DCF_ID_MAX + 1];
    char party[DCF_PARTY_MAX + 1];
    char kind[DCF_KIND_MAX + 1];
    int32_t priority;
    dcf_sep_t min_sep; /* extra separation this operation asks for (0 = none) */
    dcf_disclosure_t disclosure;
    bool exigent;         /* starts inside the notice period on purpose */
    char *exigent_reason; /* owned, NUL-terminated, 1..DCF_REASON_MAX bytes when exigent;
                           * NULL otherwise (kept out of line: a loaded store holds
                           * every live operation, and few are exigent) */
    size_t n_volumes;
    dcf_volume_t *volumes; /* owned, n_volumes entries */
} dcf_operation_t;

/* Free everything an operation owns and the operation itself. */
void dcf_operation_free(dcf_operation_t *op);

/* True when two operations are the same in every field, volume and vertex
 * (exact comparison of numbers; used by round-trip checks and idempotent
 * writes). */
bool dcf_operation_equal(const dcf_operation_t *a, const dcf_operation_t *b);

/* True when `kind` is a valid operation kind: [a-z0-9][a-z0-9._-]{0,31}. */
bool dcf_kind_valid(const char *kind);

/* ------------------------------------------------------------- JSON -- */

/* jansson's json_t, without making every includer include jansson. */
struct json_t;

/* Flags for dcf_operation_from_json. */
enum {
    /* "party" must be present (file input).  Without it, "party" is optional
     * and, when present, must still be a valid slug. */
    DCF_PARSE_REQUIRE_PARTY = 1u << 0,
    /* "id" must be present.  Without it a missing id leaves op->id empty. */
    DCF_PARSE_REQUIRE_ID = 1u << 1,
};

/* True when `j` nests containers deeper than `max_depth` (a scalar has depth
 * 0, [] and {} depth 1).  Stops descending at the limit, so it is cheap on
 * hostile input.  Callers that load text check this before parsing. */
bool dcf_json_too_deep(const struct json_t *j, size_t max_depth);

/*
 * Parse one operation from its JSON object (the shape in docs/model.md).
 * `pointer_prefix` is prepended to every pointer in `err` ("" for a document
 * that is the operation itself, "/features/3/properties" inside GeoJSON).
 * Unknown members are rejected.  Nothing is half-accepted: on error *out is
 * untouched and everything allocated is freed.
 * Returns DCF_OK, DCF_EINVAL (err filled), DCF_ELIMIT (err filled),
 * DCF_ENOMEM.
 */
int dcf_operation_from_json(const struct json_t *obj, const dcf_geo_limits_t *limits,
                            unsigned flags, const char *pointer_prefix, dcf_operation_t **out,
                            dcf_geo_error_t *err);

/* Parse a GeoJSON Feature as a one-volume operation: geometry Polygon (one
 * closed exterior ring of [lng, lat] positions, no holes; edges are read as
 * geodesics) or Point with properties.radius_m (a circle); properties carry
 * the operation fields (id, party, kind, priority, separation, disclosure)
 * and the volume's "altitude" and "time" -- see docs/model.md. */
int dcf_operation_from_geojson_feature(const struct json_t *feature, const dcf_geo_limits_t *limits,
                                       unsigned flags, const char *pointer_prefix,
                                       dcf_operation_t **out, dcf_geo_error_t *err);

/* A list of operations read from one document. */
typedef struct {
    dcf_operation_t **ops; /* owned, n entries */
    size_t n;
} dcf_operation_list_t;

/* Most operations one document may hold. */
#define DCF_DEFAULT_MAX_OPERATIONS 1000000

/*
 * Read every operation in a document, which is one of:
 *   - an operation object (has "volumes"),
 *   - an array of operation objects,
 *   - {"operations": [ ... ]},
 *   - a GeoJSON FeatureCollection (see dcf_operation_from_geojson_feature);
 *     features with the same properties.id become one operation with one
 *     volume per feature, and must agree on every operation field (party,
 *     kind, priority, separation, disclosure, exigent, exigent_reason).
 * Operation ids must be unique within the document.  On error nothing is
 * returned and `err` names the pointer.  Returns DCF_OK, DCF_EINVAL,
 * DCF_ELIMIT or DCF_ENOMEM.
 */
int dcf_operations_from_document(const struct json_t *doc, const dcf_geo_limits_t *limits,
                                 unsigned flags, dcf_operation_list_t *out, dcf_geo_error_t *err);
void dcf_operation_list_free(dcf_operation_list_t *list);

/* Serialise an operation to a new JSON object in the canonical model shape
 * (times in RFC 3339 UTC).  Returns NULL on allocation failure. */
struct json_t *dcf_operation_to_json(const dcf_operation_t *op);

/* ------------------------------------------------------ binary form -- */

/*
 * The binary form of an operation: what the server stores beside the JSON
 * text so that start-up rebuilds its live operations without parsing JSON.
 * Little-endian, fixed widths, versioned ("DCOP" and a version byte), ended
 * by a check that refuses damaged bytes, one canonical encoding per
 * operation: unpacking a buffer and packing the
 * result gives the same bytes.  The layout is described above the code, at
 * the end of src/geo/model.c.  The form carries the model only (what dcf_operation_to_json
 * writes); footprints are rebuilt by their constructors, so every geometry
 * rule still holds.
 *
 * dcf_operation_pack: *out is a new malloc'd buffer of *len bytes.
 * Returns DCF_OK or DCF_ENOMEM.
 *
 * dcf_operation_unpack: the whole of buf[0..len) must be one operation.
 * The check must match, and every field is checked as the JSON reader
 * checks it (`flags` as for dcf_operation_from_json; `limits` NULL for the
 * defaults), so a damaged or foreign buffer is refused, never trusted.  Returns DCF_OK, DCF_EINVAL
 * (malformed, a rule broken or an unknown version), DCF_ELIMIT or
 * DCF_ENOMEM; *out is untouched on error.
 */
#define DCF_OP_PACK_VERSION 1
int dcf_operation_pack(const dcf_operation_t *op, unsigned char **out, size_t *len);
int dcf_operation_unpack(const void *buf, size_t len, const dcf_geo_limits_t *limits,
                         unsigned flags, dcf_operation_t **out);

/* ------------------------------------------------- separation rules -- */

typedef struct dcf_rules_s dcf_rules_t;

/* New table whose default row is `def`. */
int dcf_rules_new(const dcf_sep_t *def, dcf_rules_t **out);
void dcf_rules_free(dcf_rules_t *r);
/* Set the row for the unordered pair {kind_a, kind_b}; replaces an existing
 * row.  Returns DCF_EINVAL for a bad kind or negative minima, DCF_ELIMIT past
 * 4096 rows. */
int dcf_rules_set(dcf_rules_t *r, const char *kind_a, const char *kind_b, const dcf_sep_t *sep);
/* The row for {kind_a, kind_b}, or the default row. */
void dcf_rules_lookup(const dcf_rules_t *r, const char *kind_a, const char *kind_b, dcf_sep_t *out);
/* Component-wise maximum over the default row and every row naming `kind`
 * (what an index query for an operation of that kind must cover). */
void dcf_rules_max_for_kind(const dcf_rules_t *r, const char *kind, dcf_sep_t *out);
/* Component-wise maximum over all rows. */
void dcf_rules_max(const dcf_rules_t *r, dcf_sep_t *out);
/* The minima that apply between two operations: the rule row for their kinds,
 * raised component-wise by what either operation asks for (never lowered). */
void dcf_rules_effective(const dcf_rules_t *r, const dcf_operation_t *a, const dcf_operation_t *b,
                         dcf_sep_t *out);
/* Load a table from JSON: {"default": {sep}, "rules": [{"kinds": [a, b],
 * "horizontal_m":..., "vertical_m":..., "time_s":...}]}.  Errors name the
 * pointer. */
int dcf_rules_from_json(const struct json_t *obj, dcf_rules_t **out, dcf_geo_error_t *err);

/* --------------------------------------------------- conflict test -- */

typedef struct dcf_geo_ctx_s dcf_geo_ctx_t;

/* Per-thread geometry context.  Returns DCF_OK or DCF_ENOMEM / DCF_EGEOM. */
int dcf_geo_ctx_new(dcf_geo_ctx_t **out);
void dcf_geo_ctx_free(dcf_geo_ctx_t *ctx);

/* Where two volumes come too close.  For each dimension the window runs from
 * the later start to the earlier end when the intervals overlap, and across
 * the gap between them otherwise (so it is never empty when the minimum is
 * positive).  `region` is a conservative box of the footprint area where
 * they come within the horizontal minimum; `distance_m` is the geodesic
 * distance between the footprints (0 when they overlap). */
typedef struct {
    dcf_time_t t_start, t_end;
    double alt_lo, alt_hi;
    dcf_bbox_t region;
    double distance_m;
} dcf_overlap_t;

/*
 * Exact test between two volumes under minima `sep`.  Sets *conflict and,
 * when it is true and `overlap` is non-NULL, fills *overlap.  Geodesic
 * distance is correct to within 1 m for footprints up to 200 km across,
 * including across the antimeridian and near the poles.
 * Returns DCF_OK, or DCF_ENOMEM / DCF_EGEOM (then *conflict is untouched).
 */
int dcf_volume_conflict(dcf_geo_ctx_t *ctx, const dcf_volume_t *a, const dcf_volume_t *b,
                        const dcf_sep_t *sep, bool *conflict, dcf_overlap_t *overlap);

/* Geodesic distance in metres between two footprints (0 when they intersect,
 * including touching).  Same accuracy as dcf_volume_conflict. */
int dcf_footprint_distance(dcf_geo_ctx_t *ctx, const dcf_footprint_t *a, const dcf_footprint_t *b,
                           double *out_m);

/* Geodesic distance in metres between two points (PROJ geodesic.h). */
double dcf_geo_point_distance(dcf_latlng_t a, dcf_latlng_t b);

#ifdef __cplusplus
}
#endif
#endif /* DECONFLICT_GEO_H */
