/*
 * workload.c -- the seeded generator of the benchmark data sets
 * (build/bench/workload).  It writes the binary form described in
 * workload.h and the same operations as NDJSON in the API's shape, and it
 * can check that the two agree through the library's own JSON parser.
 *
 *   workload gen     --workload W --n N [--seed S] [--start T] [--dir D] [--no-ndjson]
 *   workload queries --workload W --n Q [--seed S] [--start T] [--dir D] [--no-ndjson]
 *   workload verify  --bin FILE --ndjson FILE [--limit K]
 *   workload info    FILE
 *   workload rules   (prints the rule table as the library's rules JSON)
 *
 * THE WORKLOADS.  Operations of 8 parties and 4 kinds (drone 50 %,
 * helicopter 15 %, fixed-wing 25 %, artillery 10 %), one volume each, over a
 * 30-day horizon and a region of about 1,000 km x 1,000 km:
 *   uniform    centres uniform over the region;
 *   clustered  90 % around 50 hubs (Zipf-like weights, Gaussian-ish spread
 *              of 12-20 km per axis, so most lie within 30-50 km of a hub),
 *              10 % uniform background;
 *   congested  min(5000, N/4) operations inside one 2 km cell, all within
 *              the same 4 hours and below 300 m (so they overlap each
 *              other), the rest uniform background.  One query in ten falls
 *              in the cell.
 * Footprints are 0.2-20 km across (log-uniform, by kind): circles, or
 * polygons of 4-16 vertices, half convex (on a circle) and half concave
 * (star-shaped about the centre, so always simple).  Durations 5 min - 4 h,
 * altitude bands from 0-120 m (drones) to 0-12,000 m (artillery, some
 * fixed-wing).
 *
 * THE HORIZON starts at 2026-12-01T00:00:00Z unless --start gives another
 * whole day (Unix seconds, a multiple of 86400): every time in the data set
 * then moves by the same amount and nothing else changes, so a server that
 * refuses operations already over (deconflict does) can be loaded after
 * 2026-12-01.  Such files differ from the default ones only in their
 * times; keep them in a --dir of their own (bench/server does).
 *
 * DETERMINISM.  Record i of a file depends only on (seed, file kind, i) and
 * the hubs only on the seed, so a data set is the same on every machine and
 * the query set is shared by every N.  The generator therefore uses only
 * integer arithmetic, + - * / and sqrt (IEEE correctly rounded) and its own
 * series for sin, cos, exp and log (libm may differ in the last bit between
 * versions); floating-point contraction is off (ISO C mode in gcc, the
 * pragma below in clang).  Coordinates are quantised to microdegrees.
 *
 * Run by scripts/bench-engine; a benchmark never generates data itself.
 */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "workload.h"

#define WL_HUBS           50
#define WL_CELL_OPS_MAX   5000
#define WL_CELL_HALF_M    1000.0 /* the congested cell is 2 km x 2 km */
#define WL_QUERY_CELL_1IN 10     /* congested queries: one in ten in the cell */
#define WL_PATH_MAX       4096
#define WL_LINE_MAX       (1u << 20) /* longest NDJSON line `verify` reads */
#define WL_M_PER_DEG      111320.0   /* metres per degree of latitude, near enough */
#define WL_PI             3.14159265358979323846

/* Stream tags: different purposes draw from unrelated sequences. */
#define WL_TAG_OPS     UINT64_C(0x6f70732d73747265)
#define WL_TAG_QUERIES UINT64_C(0x7175657269657321)
#define WL_TAG_HUBS    UINT64_C(0x687562732d686562)

/* ------------------------------------------------ deterministic maths -- */

/* sin and cos of x by Taylor series after reduction to [-pi, pi]; error
 * below 1e-13, and the same bits everywhere. */
static void det_sincos(double x, double *s, double *c) {
    const double two_pi = 2.0 * WL_PI;
    while (x > WL_PI)
        x -= two_pi;
    while (x < -WL_PI)
        x += two_pi;
    double term_s = x, term_c = 1.0, sum_s = x, sum_c = 1.0, x2 = x * x;
    for (int n = 1; n <= 14; n++) {
        term_c *= -x2 / (double)((2 * n - 1) * (2 * n));
        term_s *= -x2 / (double)((2 * n) * (2 * n + 1));
        sum_c += term_c;
        sum_s += term_s;
    }
    *s = sum_s;
    *c = sum_c;
}

/* exp(x) for |x| <= 20: series of x/16, squared four times. */
static double det_exp(double x) {
    double y = x / 16.0, term = 1.0, sum = 1.0;
    for (int n = 1; n <= 20; n++) {
        term *= y / (double)n;
        sum += term;
    }
    for (int i = 0; i < 4; i++)
        sum *= sum;
    return sum;
}

/* ln(x) for x > 0: x = m 2^k with m in [0.5, 1) (exact), then
 * ln m = 2 atanh((m - 1) / (m + 1)). */
static double det_ln(double x) {
    const double ln2 = 0.693147180559945309417;
    int k = 0;
    while (x >= 1.0) {
        x *= 0.5;
        k++;
    }
    while (x < 0.5) {
        x *= 2.0;
        k--;
    }
    double z = (x - 1.0) / (x + 1.0), z2 = z * z, p = z, sum = 0.0;
    for (int n = 0; n < 40; n++) {
        sum += p / (double)(2 * n + 1);
        p *= z2;
    }
    return 2.0 * sum + (double)k * ln2;
}

/* Log-uniform in [lo, hi). */
static double log_uniform(dcf_bench_rng_t *r, double lo, double hi) {
    return lo * det_exp(dcf_bench_rng_unit(r) * det_ln(hi / lo));
}

/* Approximately standard normal: the sum of 12 uniforms, minus 6. */
static double gaussish(dcf_bench_rng_t *r) {
    double s = 0;
    for (int i = 0; i < 12; i++)
        s += dcf_bench_rng_unit(r);
    return s - 6.0;
}

static int32_t to_e6(double deg) {
    double v = deg * 1e6;
    return (int32_t)(v < 0 ? v - 0.5 : v + 0.5);
}

/* ------------------------------------------------------- the generator -- */

typedef struct {
    double lat, lng, sigma_m, cum_weight;
} hub_t;

typedef struct {
    dcf_wl_header_t hdr; /* of the file being written */
    hub_t hubs[WL_HUBS];
    double total_weight;
    uint64_t n_cell, cell_stride; /* congested: records i % stride == 0, i / stride < n_cell */
    double cell_lat, cell_lng;
} gen_t;

static dcf_bench_rng_t stream(uint64_t seed, uint64_t tag, uint64_t i) {
    dcf_bench_rng_t r = {seed ^ tag};
    r.s = dcf_bench_rng_next(&r) ^ (i * UINT64_C(0xd1b54a32d192ed03));
    (void)dcf_bench_rng_next(&r);
    return r;
}

static void gen_init(gen_t *g, uint32_t file_kind, uint32_t workload, uint64_t seed,
                     uint64_t count) {
    memset(g, 0, sizeof *g);
    dcf_wl_header_init(&g->hdr, file_kind, workload, seed, count);
    dcf_bench_rng_t r = stream(seed, WL_TAG_HUBS, 0);
    const dcf_wl_header_t *h = &g->hdr;
    for (int k = 0; k < WL_HUBS; k++) {
        hub_t *hb = &g->hubs[k];
        hb->lat = h->lat_lo + 0.5 + dcf_bench_rng_unit(&r) * (h->lat_hi - h->lat_lo - 1.0);
        hb->lng = h->lng_lo + 0.5 + dcf_bench_rng_unit(&r) * (h->lng_hi - h->lng_lo - 1.0);
        hb->sigma_m = 12000.0 + dcf_bench_rng_unit(&r) * 8000.0;
        g->total_weight += det_exp(-0.8 * det_ln((double)(k + 1))); /* Zipf-like */
        hb->cum_weight = g->total_weight;
    }
    g->cell_lat = DCF_WL_CENTER_LAT;
    g->cell_lng = DCF_WL_CENTER_LNG;
    if (workload == DCF_WL_CONGESTED && file_kind == DCF_WL_FILE_OPS && count >= 4) {
        g->n_cell = count / 4 < WL_CELL_OPS_MAX ? count / 4 : WL_CELL_OPS_MAX;
        g->cell_stride = count / g->n_cell;
    }
}

static bool in_cell(const gen_t *g, uint64_t i) {
    if (g->hdr.workload != DCF_WL_CONGESTED)
        return false;
    if (g->hdr.file_kind == DCF_WL_FILE_QUERIES)
        return i % WL_QUERY_CELL_1IN == 0;
    return g->n_cell > 0 && i % g->cell_stride == 0 && i / g->cell_stride < g->n_cell;
}

/* Move (lat, lng) by (north_m, east_m), locally flat. */
static void offset(double *lat, double *lng, double north_m, double east_m) {
    double s, c;
    det_sincos(*lat * (WL_PI / 180.0), &s, &c);
    *lat += north_m / WL_M_PER_DEG;
    *lng += east_m / (WL_M_PER_DEG * c);
}

static unsigned pick_kind(dcf_bench_rng_t *r) {
    uint64_t u = dcf_bench_rng_below(r, 100);
    return u < 50   ? DCF_WL_DRONE
           : u < 65 ? DCF_WL_HELICOPTER
           : u < 90 ? DCF_WL_FIXED_WING
                    : DCF_WL_ARTILLERY;
}

static void pick_centre(const gen_t *g, dcf_bench_rng_t *r, double *lat, double *lng) {
    const dcf_wl_header_t *h = &g->hdr;
    if (h->workload == DCF_WL_CLUSTERED && dcf_bench_rng_unit(r) < 0.9) {
        double w = dcf_bench_rng_unit(r) * g->total_weight;
        int k = 0;
        while (k < WL_HUBS - 1 && g->hubs[k].cum_weight <= w)
            k++;
        *lat = g->hubs[k].lat;
        *lng = g->hubs[k].lng;
        double n = gaussish(r) * g->hubs[k].sigma_m, e = gaussish(r) * g->hubs[k].sigma_m;
        offset(lat, lng, n, e);
        return;
    }
    *lat = h->lat_lo + dcf_bench_rng_unit(r) * (h->lat_hi - h->lat_lo);
    *lng = h->lng_lo + dcf_bench_rng_unit(r) * (h->lng_hi - h->lng_lo);
}

/* The footprint around (lat, lng), `diam_m` across. */
static void make_footprint(dcf_bench_rng_t *r, double lat, double lng, double diam_m,
                           double p_circle, dcf_wl_record_t *rec) {
    double radius = diam_m / 2.0;
    if (dcf_bench_rng_unit(r) < p_circle) {
        rec->shape = DCF_WL_SHAPE_CIRCLE;
        rec->nvert = 0;
        rec->radius_m = (uint32_t)(radius + 0.5);
        rec->lat_e6[0] = to_e6(lat);
        rec->lng_e6[0] = to_e6(lng);
        return;
    }
    unsigned k = 4 + (unsigned)dcf_bench_rng_below(r, DCF_WL_MAX_VERTICES - 3);
    bool convex = dcf_bench_rng_unit(r) < 0.5;
    double phase = dcf_bench_rng_unit(r) * 2.0 * WL_PI;
    rec->shape = DCF_WL_SHAPE_POLYGON;
    rec->nvert = (uint8_t)k;
    rec->radius_m = 0;
    /* Angles strictly increase (jitter below one step), every gap is under
     * 180 degrees and every radius positive: a counter-clockwise polygon,
     * star-shaped about the centre, hence simple. */
    for (unsigned j = 0; j < k; j++) {
        double theta = phase + 2.0 * WL_PI * ((double)j + 0.6 * dcf_bench_rng_unit(r)) / k;
        double rj = convex ? radius : radius * (0.45 + 0.55 * dcf_bench_rng_unit(r));
        double s, c, vlat = lat, vlng = lng;
        det_sincos(theta, &s, &c);
        offset(&vlat, &vlng, rj * s, rj * c);
        rec->lat_e6[j] = to_e6(vlat);
        rec->lng_e6[j] = to_e6(vlng);
    }
}

/* Record i of the file g describes. */
static void gen_record(const gen_t *g, uint64_t i, dcf_wl_record_t *rec) {
    const dcf_wl_header_t *h = &g->hdr;
    uint64_t tag = h->file_kind == DCF_WL_FILE_QUERIES ? WL_TAG_QUERIES : WL_TAG_OPS;
    dcf_bench_rng_t r = stream(h->seed, tag ^ ((uint64_t)h->workload << 56), i);
    const int64_t horizon_min = h->horizon_s / 60;
    double lat, lng, diam_m, p_circle;
    int64_t dur_min, start_min;
    int32_t lo, hi;

    memset(rec, 0, sizeof *rec);
    rec->op = (uint32_t)i;
    rec->party = (uint8_t)dcf_bench_rng_below(&r, DCF_WL_PARTIES);
    rec->priority = (int32_t)dcf_bench_rng_below(&r, 101);

    if (in_cell(g, i)) {
        /* Thousands of small low operations in one 2 km cell and 4 hours. */
        unsigned kind = dcf_bench_rng_below(&r, 100) < 80 ? DCF_WL_DRONE : DCF_WL_HELICOPTER;
        rec->kind = (uint8_t)kind;
        lat = g->cell_lat;
        lng = g->cell_lng;
        /* Separate statements: argument evaluation order is unspecified. */
        double north = (2.0 * dcf_bench_rng_unit(&r) - 1.0) * WL_CELL_HALF_M;
        double east = (2.0 * dcf_bench_rng_unit(&r) - 1.0) * WL_CELL_HALF_M;
        offset(&lat, &lng, north, east);
        make_footprint(&r, lat, lng, log_uniform(&r, 200.0, 1000.0), 0.5, rec);
        dur_min = 15 + (int64_t)dcf_bench_rng_below(&r, 46);
        start_min =
            10 * 1440 + 8 * 60 + (int64_t)dcf_bench_rng_below(&r, (uint64_t)(240 - dur_min));
        lo = kind == DCF_WL_DRONE && dcf_bench_rng_below(&r, 10) < 7
                 ? 0
                 : (int32_t)dcf_bench_rng_below(&r, 61);
        hi = lo + 20 + (int32_t)dcf_bench_rng_below(&r, kind == DCF_WL_DRONE ? 41 : 201);
        goto done;
    }

    unsigned kind = pick_kind(&r);
    rec->kind = (uint8_t)kind;
    pick_centre(g, &r, &lat, &lng);
    switch (kind) {
    case DCF_WL_DRONE:
        diam_m = log_uniform(&r, 200.0, 5000.0);
        p_circle = 0.5;
        dur_min = (int64_t)log_uniform(&r, 5.0, 121.0);
        lo = dcf_bench_rng_below(&r, 10) < 7 ? 0 : (int32_t)dcf_bench_rng_below(&r, 81);
        hi = lo + 20 + (int32_t)dcf_bench_rng_below(&r, (uint64_t)(101 - lo));
        break;
    case DCF_WL_HELICOPTER:
        diam_m = log_uniform(&r, 1000.0, 10000.0);
        p_circle = 0.3;
        dur_min = (int64_t)log_uniform(&r, 30.0, 181.0);
        lo = (int32_t)dcf_bench_rng_below(&r, 301);
        hi = lo + 150 + (int32_t)dcf_bench_rng_below(&r, 1351);
        break;
    case DCF_WL_FIXED_WING:
        diam_m = log_uniform(&r, 5000.0, 20000.0);
        p_circle = 0.3;
        dur_min = (int64_t)log_uniform(&r, 60.0, 241.0);
        if (dcf_bench_rng_below(&r, 10) == 0) {
            lo = 0;
            hi = 12000;
        } else {
            lo = 100 * (10 + (int32_t)dcf_bench_rng_below(&r, 81));
            hi = lo + 100 * (3 + (int32_t)dcf_bench_rng_below(&r, 28));
            if (hi > 12000)
                hi = 12000;
        }
        break;
    default: /* artillery */
        diam_m = log_uniform(&r, 2000.0, 20000.0);
        p_circle = 0.3;
        dur_min = (int64_t)log_uniform(&r, 5.0, 61.0);
        lo = 0;
        hi = 100 * (30 + (int32_t)dcf_bench_rng_below(&r, 91));
        break;
    }
    make_footprint(&r, lat, lng, diam_m, p_circle, rec);
    start_min = (int64_t)dcf_bench_rng_below(&r, (uint64_t)(horizon_min - dur_min + 1));
done:
    rec->alt_lo_m = lo;
    rec->alt_hi_m = hi;
    rec->t_start_s = h->horizon_start_s + start_min * 60;
    rec->t_end_s = rec->t_start_s + dur_min * 60;
}

/* ---------------------------------------------------------- NDJSON out -- */

/* A microdegree value as its exact decimal ("-35.000120"). */
static void fmt_e6(int32_t v, char buf[16]) {
    int64_t a = v < 0 ? -(int64_t)v : v;
    snprintf(buf, 16, "%s%" PRId64 ".%06" PRId64, v < 0 ? "-" : "", a / 1000000, a % 1000000);
}

static void fmt_point(FILE *f, int32_t lat, int32_t lng) {
    char a[16], b[16];
    fmt_e6(lat, a);
    fmt_e6(lng, b);
    fprintf(f, "{\"lat\":%s,\"lng\":%s}", a, b);
}

/* One operation in the model's JSON shape, on one line. */
static void write_ndjson(FILE *f, const dcf_wl_header_t *h, const dcf_wl_record_t *r) {
    char id[DCF_ID_MAX + 1], t0[DCF_TIME_STRLEN], t1[DCF_TIME_STRLEN];
    dcf_wl_op_id(h, r->op, id);
    fprintf(f,
            "{\"id\":\"%s\",\"party\":\"%s\",\"kind\":\"%s\",\"priority\":%" PRId32
            ",\"volumes\":[{\"footprint\":",
            id, h->party_names[r->party], h->kind_names[r->kind], r->priority);
    if (r->shape == DCF_WL_SHAPE_CIRCLE) {
        fputs("{\"type\":\"circle\",\"center\":", f);
        fmt_point(f, r->lat_e6[0], r->lng_e6[0]);
        fprintf(f, ",\"radius_m\":%" PRIu32 "}", r->radius_m);
    } else {
        fputs("{\"type\":\"polygon\",\"vertices\":[", f);
        for (unsigned j = 0; j < r->nvert; j++) {
            if (j > 0)
                fputc(',', f);
            fmt_point(f, r->lat_e6[j], r->lng_e6[j]);
        }
        fputs("]}", f);
    }
    fprintf(f,
            ",\"altitude\":{\"lower_m\":%" PRId32 ",\"upper_m\":%" PRId32
            "},\"time\":{\"start\":\"%s\",\"end\":\"%s\"}}]}\n",
            r->alt_lo_m, r->alt_hi_m, dcf_time_format(r->t_start_s * DCF_USEC_PER_SEC, t0),
            dcf_time_format(r->t_end_s * DCF_USEC_PER_SEC, t1));
}

/* ------------------------------------------------------------ commands -- */

typedef struct {
    const char *cmd;
    uint32_t workload;
    uint64_t n, seed, start; /* start: 0 = DCF_WL_HORIZON_START_S */
    const char *dir, *bin, *ndjson;
    bool no_ndjson;
    uint64_t limit;
} opts_t;

/* Write `path` through a temporary name and rename it into place, so a
 * killed run never leaves a file that looks complete. */
static int write_file(const gen_t *g, const char *bin_path, const char *nd_path) {
    char tmp_bin[WL_PATH_MAX], tmp_nd[WL_PATH_MAX];
    FILE *fb = NULL, *fn = NULL;
    int rc = DCF_EIO;
    dcf_wl_record_t rec;
    uint64_t counts[DCF_WL_KINDS] = {0}, circles = 0, cell = 0;

    int w1 = snprintf(tmp_bin, sizeof tmp_bin, "%s.tmp", bin_path);
    int w2 = snprintf(tmp_nd, sizeof tmp_nd, "%s.tmp", nd_path != NULL ? nd_path : "");
    if (w1 < 0 || (size_t)w1 >= sizeof tmp_bin || w2 < 0 || (size_t)w2 >= sizeof tmp_nd)
        goto out;
    if ((fb = fopen(tmp_bin, "wb")) == NULL)
        goto out;
    setvbuf(fb, NULL, _IOFBF, 1 << 20);
    if (nd_path != NULL) {
        if ((fn = fopen(tmp_nd, "w")) == NULL)
            goto out;
        setvbuf(fn, NULL, _IOFBF, 1 << 20);
    }
    if (fwrite(&g->hdr, sizeof g->hdr, 1, fb) != 1)
        goto out;
    for (uint64_t i = 0; i < g->hdr.count; i++) {
        gen_record(g, i, &rec);
        const char *bad = dcf_wl_record_check(&g->hdr, &rec);
        if (bad != NULL) {
            fprintf(stderr, "workload: record %" PRIu64 " invalid: %s\n", i, bad);
            rc = DCF_EINTERNAL;
            goto out;
        }
        counts[rec.kind]++;
        circles += rec.shape == DCF_WL_SHAPE_CIRCLE;
        cell += in_cell(g, i);
        if (fwrite(&rec, sizeof rec, 1, fb) != 1)
            goto out;
        if (fn != NULL)
            write_ndjson(fn, &g->hdr, &rec);
    }
    if (fn != NULL && (fflush(fn) != 0 || ferror(fn)))
        goto out;
    if (fflush(fb) != 0 || ferror(fb))
        goto out;
    if (fclose(fb) != 0) {
        fb = NULL;
        goto out;
    }
    fb = NULL;
    if (fn != NULL) {
        int e = fclose(fn);
        fn = NULL;
        if (e != 0 || rename(tmp_nd, nd_path) != 0)
            goto out;
    }
    if (rename(tmp_bin, bin_path) != 0)
        goto out;
    printf("wrote %s (%" PRIu64 " records: %" PRIu64 " drone, %" PRIu64 " helicopter, %" PRIu64
           " fixed-wing, %" PRIu64 " artillery; %" PRIu64 " circles; %" PRIu64
           " in the cell)%s%s\n",
           bin_path, g->hdr.count, counts[0], counts[1], counts[2], counts[3], circles, cell,
           nd_path != NULL ? " and " : "", nd_path != NULL ? nd_path : "");
    rc = DCF_OK;
out:
    if (fb != NULL)
        fclose(fb);
    if (fn != NULL)
        fclose(fn);
    if (rc != DCF_OK) {
        fprintf(stderr, "workload: writing %s failed: %s\n", bin_path, strerror(errno));
        remove(tmp_bin);
        if (nd_path != NULL)
            remove(tmp_nd);
    }
    return rc;
}

static int cmd_gen(const opts_t *o, uint32_t file_kind) {
    char bin[WL_PATH_MAX], nd[WL_PATH_MAX];
    gen_t *g = NULL;
    int rc = DCF_EINVAL;
    if (o->workload == 0 || o->n == 0) {
        fprintf(stderr, "workload: --workload and --n are required\n");
        goto out;
    }
    if (!dcf_wl_path(bin, sizeof bin, o->dir, o->workload, o->seed, file_kind, o->n, "bin") ||
        !dcf_wl_path(nd, sizeof nd, o->dir, o->workload, o->seed, file_kind, o->n, "ndjson")) {
        fprintf(stderr, "workload: --dir too long\n");
        goto out;
    }
    rc = DCF_ENOMEM;
    if ((g = malloc(sizeof *g)) == NULL)
        goto out;
    gen_init(g, file_kind, o->workload, o->seed, o->n);
    if (o->start != 0)
        g->hdr.horizon_start_s = (int64_t)o->start; /* a whole day: see THE HORIZON */
    rc = write_file(g, bin, o->no_ndjson ? NULL : nd);
out:
    free(g);
    return rc;
}

/* The header's rule table as the library's rules document ({"default",
 * "rules"}), for systems that load minima from JSON.  Every pair of kinds
 * has a row, so the default row never applies to a pair; it is zero because
 * dcf_rules_max_for_kind folds it into every kind's widest minima. */
static json_t *rules_json(const dcf_wl_header_t *h) {
    json_t *rows = json_array();
    if (rows == NULL)
        return NULL;
    for (int a = 0; a < DCF_WL_KINDS; a++)
        for (int b = a; b < DCF_WL_KINDS; b++) {
            const dcf_wl_sep_t *r = &h->rules[a][b];
            json_t *row = json_pack("{s:[s,s], s:f, s:f, s:I}", "kinds", h->kind_names[a],
                                    h->kind_names[b], "horizontal_m", r->h_m, "vertical_m", r->v_m,
                                    "time_s", (json_int_t)r->t_s);
            if (json_array_append_new(rows, row) != 0) {
                json_decref(rows);
                return NULL;
            }
        }
    /* "o" steals rows, also when json_pack fails. */
    return json_pack("{s:{s:i, s:i, s:i}, s:o}", "default", "horizontal_m", 0, "vertical_m", 0,
                     "time_s", 0, "rules", rows);
}

/* Load rules_json through dcf_rules_from_json and check that the library
 * reads the same minima for every pair, and the same widest minima per kind,
 * as the benchmark uses.  Returns NULL or what differs. */
static const char *check_rules(const dcf_wl_header_t *h) {
    json_t *doc = rules_json(h);
    dcf_rules_t *rules = NULL;
    dcf_geo_error_t err;
    const char *bad = NULL;
    if (doc == NULL || dcf_rules_from_json(doc, &rules, &err) != DCF_OK) {
        bad = "the rule table does not load with dcf_rules_from_json";
        goto out;
    }
    for (unsigned a = 0; a < DCF_WL_KINDS && bad == NULL; a++) {
        dcf_sep_t lib, ours;
        for (unsigned b = 0; b < DCF_WL_KINDS && bad == NULL; b++) {
            dcf_rules_lookup(rules, h->kind_names[a], h->kind_names[b], &lib);
            dcf_wl_sep_pair(h, a, b, &ours);
            if (lib.horizontal_m != ours.horizontal_m || lib.vertical_m != ours.vertical_m ||
                lib.time_us != ours.time_us)
                bad = "dcf_rules_lookup differs from the header's rule table";
        }
        dcf_rules_max_for_kind(rules, h->kind_names[a], &lib);
        dcf_wl_sep_widest(h, a, &ours);
        if (bad == NULL && (lib.horizontal_m != ours.horizontal_m ||
                            lib.vertical_m != ours.vertical_m || lib.time_us != ours.time_us))
            bad = "dcf_rules_max_for_kind differs from dcf_wl_sep_widest";
    }
out:
    if (rules != NULL)
        dcf_rules_free(rules);
    json_decref(doc);
    return bad;
}

static int cmd_rules(void) {
    dcf_wl_header_t h;
    dcf_wl_header_init(&h, DCF_WL_FILE_OPS, DCF_WL_UNIFORM, 0, 0);
    json_t *doc = rules_json(&h);
    int rc = doc != NULL && json_dumpf(doc, stdout, JSON_INDENT(2)) == 0 ? DCF_OK : DCF_ENOMEM;
    putchar('\n');
    json_decref(doc);
    return rc;
}

/* Every member of `ours` is in `theirs` with the same value (numbers
 * compared as doubles, so 120 and 120.0 agree); arrays match element-wise.
 * On a mismatch `where` gets the member's key. */
static bool json_subset(const json_t *ours, const json_t *theirs, const char **where) {
    if (json_is_number(ours))
        return json_is_number(theirs) && json_number_value(ours) == json_number_value(theirs);
    if (json_is_object(ours)) {
        const char *k;
        const json_t *v;
        if (!json_is_object(theirs))
            return false;
        json_object_foreach((json_t *)ours, k, v) {
            if (!json_subset(v, json_object_get(theirs, k), where)) {
                *where = k;
                return false;
            }
        }
        return true;
    }
    if (json_is_array(ours)) {
        if (!json_is_array(theirs) || json_array_size(ours) != json_array_size(theirs))
            return false;
        for (size_t i = 0; i < json_array_size(ours); i++)
            if (!json_subset(json_array_get(ours, i), json_array_get(theirs, i), where))
                return false;
        return true;
    }
    return json_equal(ours, theirs);
}

/* Does the parsed operation say exactly what the binary record says? */
static const char *compare_op(const dcf_wl_header_t *h, const dcf_wl_record_t *r,
                              const dcf_operation_t *op) {
    char id[DCF_ID_MAX + 1];
    dcf_wl_op_id(h, r->op, id);
    if (strcmp(op->id, id) != 0)
        return "id";
    if (strcmp(op->party, h->party_names[r->party]) != 0)
        return "party";
    if (strcmp(op->kind, h->kind_names[r->kind]) != 0)
        return "kind";
    if (op->priority != r->priority)
        return "priority";
    if (op->n_volumes != 1)
        return "volume count";
    const dcf_volume_t *v = &op->volumes[0];
    if (v->alt_lo != r->alt_lo_m || v->alt_hi != r->alt_hi_m)
        return "altitude";
    if (v->t_start != r->t_start_s * DCF_USEC_PER_SEC || v->t_end != r->t_end_s * DCF_USEC_PER_SEC)
        return "time";
    if (r->shape == DCF_WL_SHAPE_CIRCLE) {
        dcf_latlng_t c;
        double rad;
        if (!dcf_footprint_circle_params(v->footprint, &c, &rad))
            return "footprint type";
        if (c.lat != dcf_wl_deg(r->lat_e6[0]) || c.lng != dcf_wl_deg(r->lng_e6[0]) ||
            rad != r->radius_m)
            return "circle";
    } else {
        size_t n = 0;
        const dcf_latlng_t *vs = dcf_footprint_vertices(v->footprint, &n);
        if (vs == NULL || n != r->nvert)
            return "vertex count";
        for (size_t j = 0; j < n; j++)
            if (vs[j].lat != dcf_wl_deg(r->lat_e6[j]) || vs[j].lng != dcf_wl_deg(r->lng_e6[j]))
                return "vertex";
    }
    return NULL;
}

/* Parse every NDJSON line with dcf_operation_from_json, compare it with the
 * binary record, build the binary record's volume and compare bounding
 * boxes, and check that dcf_operation_to_json of the parsed operation
 * contains every member of the line (the line is in the API's shape).
 * First check that the library reads the header's minima as we do. */
static int cmd_verify(const opts_t *o) {
    dcf_wl_file_t wf = {0};
    FILE *f = NULL;
    char *line = NULL;
    size_t cap = 0, n = 0;
    int rc = DCF_EINVAL;
    const char *why = NULL;
    dcf_geo_limits_t lim;
    dcf_geo_limits_default(&lim);

    if (o->bin == NULL || o->ndjson == NULL) {
        fprintf(stderr, "workload verify: --bin and --ndjson are required\n");
        goto out;
    }
    if ((rc = dcf_wl_open(o->bin, DCF_WL_FILE_OPS, &wf, &why)) != DCF_OK &&
        (rc = dcf_wl_open(o->bin, DCF_WL_FILE_QUERIES, &wf, &why)) != DCF_OK) {
        fprintf(stderr, "workload verify: %s: %s\n", o->bin, why);
        goto out;
    }
    if ((why = check_rules(wf.hdr)) != NULL) {
        fprintf(stderr, "workload verify: %s\n", why);
        goto out;
    }
    rc = DCF_EIO;
    if ((f = fopen(o->ndjson, "r")) == NULL) {
        fprintf(stderr, "workload verify: %s: %s\n", o->ndjson, strerror(errno));
        goto out;
    }
    rc = DCF_EPARSE;
    for (;;) {
        ssize_t len = getline(&line, &cap, f);
        if (len < 0)
            break;
        if (n >= wf.n || (size_t)len > WL_LINE_MAX) {
            fprintf(stderr, "workload verify: more lines than records, or a line too long\n");
            goto out;
        }
        if (o->limit != 0 && n >= o->limit)
            break;
        json_error_t je;
        json_t *obj = json_loadb(line, (size_t)len, 0, &je), *back = NULL;
        dcf_operation_t *op = NULL;
        dcf_geo_error_t ge = {{0}, {0}};
        dcf_volume_t bv = {0};
        const char *bad = NULL, *where = "";
        int prc = DCF_EPARSE;
        if (obj == NULL)
            bad = je.text;
        else if ((prc = dcf_operation_from_json(obj, &lim,
                                                DCF_PARSE_REQUIRE_PARTY | DCF_PARSE_REQUIRE_ID, "",
                                                &op, &ge)) != DCF_OK)
            bad = "rejected by dcf_operation_from_json";
        else if ((bad = compare_op(wf.hdr, &wf.rec[n], op)) != NULL)
            ;
        else if (dcf_wl_volume(&lim, wf.hdr, &wf.rec[n], &bv, &ge) != DCF_OK)
            bad = "binary record rejected";
        else {
            dcf_bbox_t b1, b2;
            dcf_footprint_bbox(bv.footprint, &b1);
            dcf_footprint_bbox(op->volumes[0].footprint, &b2);
            if (memcmp(&b1, &b2, sizeof b1) != 0)
                bad = "footprint boxes differ between binary and JSON";
            else if ((back = dcf_operation_to_json(op)) == NULL)
                bad = "dcf_operation_to_json failed";
            else if (!json_subset(obj, back, &where))
                bad = "line is not in the shape dcf_operation_to_json writes";
        }
        if (bv.footprint != NULL)
            dcf_footprint_free(bv.footprint);
        json_decref(back);
        json_decref(obj);
        if (op != NULL)
            dcf_operation_free(op);
        if (bad != NULL) {
            fprintf(stderr, "workload verify: line %zu: %s %s %s (%s)\n", n + 1, bad, ge.pointer,
                    ge.rule, where);
            goto out;
        }
        n++;
    }
    if (o->limit == 0 && n != wf.n) {
        fprintf(stderr, "workload verify: %zu lines for %zu records\n", n, wf.n);
        goto out;
    }
    printf("verify: %zu operations agree between %s and %s; the library reads the same minima\n", n,
           o->bin, o->ndjson);
    rc = DCF_OK;
out:
    free(line);
    if (f != NULL)
        fclose(f);
    dcf_wl_close(&wf);
    return rc;
}

static int cmd_info(const char *path) {
    dcf_wl_file_t wf = {0};
    const char *why = NULL;
    if (dcf_wl_open(path, DCF_WL_FILE_OPS, &wf, &why) != DCF_OK &&
        dcf_wl_open(path, DCF_WL_FILE_QUERIES, &wf, &why) != DCF_OK) {
        fprintf(stderr, "workload info: %s: %s\n", path, why);
        return DCF_EPARSE;
    }
    const dcf_wl_header_t *h = wf.hdr;
    printf("%s: %s, workload %s, seed %" PRIu64 ", %" PRIu64 " records\n", path,
           h->file_kind == DCF_WL_FILE_OPS ? "operations" : "queries",
           dcf_wl_workload_names[h->workload], h->seed, h->count);
    printf("region lat [%g, %g] lng [%g, %g], horizon %" PRId64 " s from %" PRId64 "\n", h->lat_lo,
           h->lat_hi, h->lng_lo, h->lng_hi, h->horizon_s, h->horizon_start_s);
    for (int a = 0; a < DCF_WL_KINDS; a++)
        for (int b = a; b < DCF_WL_KINDS; b++)
            printf("rule %-10s %-10s h %6.0f m  v %5.0f m  t %4" PRId64 " s\n", h->kind_names[a],
                   h->kind_names[b], h->rules[a][b].h_m, h->rules[a][b].v_m, h->rules[a][b].t_s);
    dcf_wl_close(&wf);
    return DCF_OK;
}

static void usage(void) {
    fputs("usage: workload gen     --workload uniform|clustered|congested --n N [--seed S]\n"
          "                        [--start UNIX_DAY_S] [--dir DIR] [--no-ndjson]\n"
          "       workload queries --workload W --n Q [--seed S] [--start UNIX_DAY_S] [--dir DIR]\n"
          "                        [--no-ndjson]\n"
          "       workload verify  --bin FILE --ndjson FILE [--limit K]\n"
          "       workload info    FILE\n"
          "       workload rules   (the rule table as a rules JSON document)\n",
          stderr);
}

int main(int argc, char **argv) {
    opts_t o = {.seed = 42, .dir = "bench/out"};
    if (argc < 2) {
        usage();
        return 2;
    }
    o.cmd = argv[1];
    if (strcmp(o.cmd, "rules") == 0)
        return argc == 2 && cmd_rules() == DCF_OK ? 0 : 1;
    if (strcmp(o.cmd, "info") == 0)
        return argc == 3 && cmd_info(argv[2]) == DCF_OK ? 0 : 1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = DCF_OK;
        if (strcmp(a, "--no-ndjson") == 0) {
            o.no_ndjson = true;
            continue;
        }
        if (v == NULL) {
            usage();
            return 2;
        }
        i++;
        if (strcmp(a, "--workload") == 0)
            rc = (o.workload = dcf_wl_workload_parse(v)) != 0 ? DCF_OK : DCF_EINVAL;
        else if (strcmp(a, "--n") == 0)
            rc = bench_parse_u64(v, DCF_WL_MAX_RECORDS, &o.n);
        else if (strcmp(a, "--seed") == 0)
            rc = bench_parse_u64(v, UINT64_MAX, &o.seed);
        else if (strcmp(a, "--start") == 0) /* 1970 .. 9999, a whole day */
            rc = bench_parse_u64(v, INT64_C(253402214400), &o.start) == DCF_OK && o.start > 0 &&
                         o.start % 86400 == 0
                     ? DCF_OK
                     : DCF_EINVAL;
        else if (strcmp(a, "--dir") == 0)
            o.dir = v;
        else if (strcmp(a, "--bin") == 0)
            o.bin = v;
        else if (strcmp(a, "--ndjson") == 0)
            o.ndjson = v;
        else if (strcmp(a, "--limit") == 0)
            rc = bench_parse_u64(v, DCF_WL_MAX_RECORDS, &o.limit);
        else
            rc = DCF_EINVAL;
        if (rc != DCF_OK) {
            fprintf(stderr, "workload: bad option %s %s\n", a, v);
            usage();
            return 2;
        }
    }
    int rc;
    if (strcmp(o.cmd, "gen") == 0)
        rc = cmd_gen(&o, DCF_WL_FILE_OPS);
    else if (strcmp(o.cmd, "queries") == 0)
        rc = cmd_gen(&o, DCF_WL_FILE_QUERIES);
    else if (strcmp(o.cmd, "verify") == 0)
        rc = cmd_verify(&o);
    else {
        usage();
        return 2;
    }
    return rc == DCF_OK ? 0 : 1;
}
