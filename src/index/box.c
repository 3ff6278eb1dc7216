/*
 * box.c -- the index box of a volume (dcf_index_box_make).
 *
 * The promise: if two volumes come closer than `sep` in every dimension,
 * box(a, sep) intersects box(b, NULL).  Every step is conservative:
 *   - horizontally, the footprint's conservative latitude/longitude box
 *     (geo.h), grown by sep->horizontal_m with dcf_bbox_expand (conservative
 *     too); a box that crosses the antimeridian, or is not a number, gets the
 *     whole longitude range;
 *   - altitude [lo - v, hi + v], time [start - t, end + t] (the half-open
 *     ends are simply closed, which only adds);
 *   - doubles become floats rounded outward (down for a lower bound, up for
 *     an upper one) and microseconds become whole minutes by floor and
 *     ceiling, clamped to the int32 range.
 * Outward rounding is monotone, so the exact intersection of the unrounded
 * boxes survives in the rounded ones.
 *
 * Callers: the engine, for stored entries (sep NULL) and for queries.  Pure;
 * any thread.
 */
#include <math.h>

#include "deconflict/geo.h"
#include "deconflict/index.h"

#define USEC_PER_MIN (60 * DCF_USEC_PER_SEC)

/* The largest float <= d (and a finite float, for finite d in range). */
static float f_down(double d) {
    float f = (float)d;
    if ((double)f > d)
        f = nextafterf(f, -INFINITY);
    return f;
}

/* The smallest float >= d. */
static float f_up(double d) {
    float f = (float)d;
    if ((double)f < d)
        f = nextafterf(f, INFINITY);
    return f;
}

static int32_t clamp_min(int64_t m) {
    return m < INT32_MIN ? INT32_MIN : m > INT32_MAX ? INT32_MAX : (int32_t)m;
}

/* floor(t / 1 minute) and ceil(t / 1 minute), t in microseconds. */
static int64_t min_floor(dcf_time_t t) {
    int64_t q = t / USEC_PER_MIN;
    return (t % USEC_PER_MIN != 0 && t < 0) ? q - 1 : q;
}
static int64_t min_ceil(dcf_time_t t) {
    int64_t q = t / USEC_PER_MIN;
    return (t % USEC_PER_MIN != 0 && t > 0) ? q + 1 : q;
}

/* a - b and a + b, saturating (b >= 0). */
static dcf_time_t sub_sat(dcf_time_t a, dcf_time_t b) {
    return a < INT64_MIN + b ? INT64_MIN : a - b;
}
static dcf_time_t add_sat(dcf_time_t a, dcf_time_t b) {
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

void dcf_index_box_make(const dcf_volume_t *v, const dcf_sep_t *sep, dcf_box_t *out) {
    double h = 0, vert = 0;
    dcf_time_t t = 0;
    if (sep != NULL) {
        h = sep->horizontal_m > 0 ? sep->horizontal_m : 0;
        vert = sep->vertical_m > 0 ? sep->vertical_m : 0;
        t = sep->time_us > 0 ? sep->time_us : 0;
    }

    dcf_bbox_t b;
    dcf_footprint_bbox(v->footprint, &b);
    if (h > 0)
        dcf_bbox_expand(&b, h);
    /* Written so that NaN takes the conservative branch. */
    if (!(b.lng_lo <= b.lng_hi && b.lng_lo >= -180.0 && b.lng_hi <= 180.0)) {
        b.lng_lo = -180.0;
        b.lng_hi = 180.0;
    }
    if (!(b.lat_lo >= -90.0))
        b.lat_lo = -90.0;
    if (!(b.lat_hi <= 90.0))
        b.lat_hi = 90.0;
    out->lng_lo = f_down(b.lng_lo);
    out->lng_hi = f_up(b.lng_hi);
    out->lat_lo = f_down(b.lat_lo);
    out->lat_hi = f_up(b.lat_hi);
    out->alt_lo = f_down(v->alt_lo - vert);
    out->alt_hi = f_up(v->alt_hi + vert);
    out->t_lo = clamp_min(min_floor(sub_sat(v->t_start, t)));
    out->t_hi = clamp_min(min_ceil(add_sat(v->t_end, t)));
}
