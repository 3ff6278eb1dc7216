/*
 * workload.h -- the benchmark data set: its binary file format, the rule
 * table every compared system uses, and the reader shared by the generator
 * (bench/workload.c) and the benchmarks (bench/engine.c).
 *
 * WHY A FILE.  Every benchmark and every compared system (deconflict's index,
 * SQLite's R*Tree, a brute-force scan) reads the same generated file, so all
 * of them answer the same queries over the same volumes.  The generator also
 * writes the same operations as NDJSON in the API's shape (docs/model.md) for
 * systems that take JSON.
 *
 * THE BINARY FORMAT (version 1).  All integers and doubles little-endian,
 * IEEE 754.  A file is one 1024-byte header (dcf_wl_header_t) followed by
 * `count` fixed 168-byte records (dcf_wl_record_t), nothing else:
 *   - header: magic "DCFWL\r\n\x1a", version, header and record sizes, what
 *     the file holds (operations or queries), workload, seed, count, the
 *     30-day horizon, the region, the kind and party names and the 4 x 4
 *     separation rule table (horizontal m, vertical m, time s per pair of
 *     kinds; symmetric).  The minima to use for a query are in that table:
 *     the index query is grown by the widest row naming the query's kind
 *     (dcf_wl_sep_widest), the exact test uses the pair's row.
 *   - record: one operation with one volume.  Coordinates are whole
 *     microdegrees (int32), altitudes whole metres, times whole seconds since
 *     the Unix epoch, a circle's radius whole metres.  A circle has nvert 0
 *     and its centre in lat_e6[0]/lng_e6[0]; a polygon has 3..16 vertices,
 *     counter-clockwise, not closed.
 * Integers were chosen so the NDJSON text ("35.123456") and the binary
 * record describe bit-for-bit the same doubles: strtod of the decimal and
 * (double)e6 / 1e6 are both the double nearest the same rational.
 *
 * INVARIANTS.  dcf_wl_open accepts a file only when its header is complete
 * and consistent and its size is exactly header + count * record size;
 * dcf_wl_record_check accepts a record only when every field is in range
 * (dcf_wl_volume calls it), so a corrupt file fails loudly, never silently.
 *
 * Only benchmark programs include this file; it is header-only because each
 * program in bench/ is its own executable.  Everything here is reentrant.
 */
#ifndef DCF_BENCH_WORKLOAD_H
#define DCF_BENCH_WORKLOAD_H

#include <assert.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deconflict/core.h"
#include "deconflict/geo.h"

/* ------------------------------------------------------------ limits -- */

#define DCF_WL_MAGIC        "DCFWL\r\n\x1a"
#define DCF_WL_VERSION      1u
#define DCF_WL_HEADER_SIZE  1024u
#define DCF_WL_RECORD_SIZE  168u
#define DCF_WL_MAX_VERTICES 16 /* per polygon record */
#define DCF_WL_PARTIES      8
#define DCF_WL_KINDS        4
#define DCF_WL_NAME_MAX     16         /* bytes of a kind or party name, with NUL */
#define DCF_WL_MAX_RECORDS  100000000u /* 10^8 records per file */

enum { DCF_WL_FILE_OPS = 1, DCF_WL_FILE_QUERIES = 2 };

typedef enum {
    DCF_WL_UNIFORM = 1,   /* uniform over a 1,000 km x 1,000 km region */
    DCF_WL_CLUSTERED = 2, /* 50 hubs, Gaussian-ish spread, plus background */
    DCF_WL_CONGESTED = 3, /* one 2 km cell of thousands of overlapping ops, plus background */
} dcf_wl_workload_t;

enum { DCF_WL_SHAPE_POLYGON = 1, DCF_WL_SHAPE_CIRCLE = 2 };

/* Kinds, in rule-table order. */
enum { DCF_WL_DRONE = 0, DCF_WL_HELICOPTER = 1, DCF_WL_FIXED_WING = 2, DCF_WL_ARTILLERY = 3 };

/* ------------------------------------------------------------ format -- */

typedef struct {
    double h_m, v_m;
    int64_t t_s;
} dcf_wl_sep_t;

typedef struct {
    char magic[8];
    uint32_t version, header_size, record_size, file_kind;
    uint32_t workload, n_parties, n_kinds, max_vertices;
    uint64_t seed, count;
    int64_t horizon_start_s, horizon_s;
    double lat_lo, lat_hi, lng_lo, lng_hi; /* the region, degrees */
    char kind_names[DCF_WL_KINDS][DCF_WL_NAME_MAX];
    char party_names[DCF_WL_PARTIES][DCF_WL_NAME_MAX];
    dcf_wl_sep_t rules[DCF_WL_KINDS][DCF_WL_KINDS];
    uint8_t reserved[344]; /* zero */
} dcf_wl_header_t;

typedef struct {
    uint32_t op; /* operation number within the file; the id derives from it */
    uint8_t party, kind, shape, nvert;
    int32_t priority;
    int32_t alt_lo_m, alt_hi_m;
    uint32_t radius_m; /* circle only, else 0 */
    int64_t t_start_s, t_end_s;
    int32_t lat_e6[DCF_WL_MAX_VERTICES];
    int32_t lng_e6[DCF_WL_MAX_VERTICES];
} dcf_wl_record_t;

static_assert(sizeof(dcf_wl_header_t) == DCF_WL_HEADER_SIZE, "header layout");
static_assert(sizeof(dcf_wl_record_t) == DCF_WL_RECORD_SIZE, "record layout");

/* ------------------------------------------------- the shared tables -- */

static const char *const dcf_wl_kind_names[DCF_WL_KINDS] = {"drone", "helicopter", "fixed-wing",
                                                            "artillery"};
static const char *const dcf_wl_party_names[DCF_WL_PARTIES] = {"blue",  "red",  "green",  "amber",
                                                               "white", "grey", "violet", "teal"};
static const char *const dcf_wl_workload_names[] = {NULL, "uniform", "clustered", "congested"};

/* The rule table, upper triangle (row <= column); the header stores it
 * symmetric.  Figures in the spirit of published minima: small drones
 * separate by tens of metres, aircraft by kilometres and hundreds of metres,
 * artillery fire by 10 km, 1,000 m and 10 minutes from aircraft. */
static const dcf_wl_sep_t dcf_wl_rule_rows[DCF_WL_KINDS][DCF_WL_KINDS] = {
    [DCF_WL_DRONE] = {{50, 15, 0}, {500, 150, 60}, {1000, 300, 60}, {2000, 1000, 300}},
    [DCF_WL_HELICOPTER] = {{0}, {1000, 150, 0}, {3000, 300, 0}, {5000, 1000, 600}},
    [DCF_WL_FIXED_WING] = {{0}, {0}, {5000, 300, 0}, {10000, 1000, 600}},
    [DCF_WL_ARTILLERY] = {{0}, {0}, {0}, {1000, 0, 0}},
};

/* Defaults the generator writes: 2026-12-01T00:00:00Z plus 30 days over a
 * region of about 1,000 km x 1,000 km centred on 35 N 41 E. */
#define DCF_WL_HORIZON_START_S INT64_C(1796083200)
#define DCF_WL_HORIZON_S       (INT64_C(30) * 86400)
#define DCF_WL_CENTER_LAT      35.0
#define DCF_WL_CENTER_LNG      41.0
#define DCF_WL_HALF_LAT_DEG    4.5 /* 500 km */
#define DCF_WL_HALF_LNG_DEG    5.5 /* 500 km at 35 N */

static inline bool dcf_wl_host_ok(void) {
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1; /* the format is little-endian and read in place */
}

/* Fill a header for `count` records. */
static inline void dcf_wl_header_init(dcf_wl_header_t *h, uint32_t file_kind, uint32_t workload,
                                      uint64_t seed, uint64_t count) {
    memset(h, 0, sizeof *h);
    memcpy(h->magic, DCF_WL_MAGIC, 8);
    h->version = DCF_WL_VERSION;
    h->header_size = DCF_WL_HEADER_SIZE;
    h->record_size = DCF_WL_RECORD_SIZE;
    h->file_kind = file_kind;
    h->workload = workload;
    h->n_parties = DCF_WL_PARTIES;
    h->n_kinds = DCF_WL_KINDS;
    h->max_vertices = DCF_WL_MAX_VERTICES;
    h->seed = seed;
    h->count = count;
    h->horizon_start_s = DCF_WL_HORIZON_START_S;
    h->horizon_s = DCF_WL_HORIZON_S;
    h->lat_lo = DCF_WL_CENTER_LAT - DCF_WL_HALF_LAT_DEG;
    h->lat_hi = DCF_WL_CENTER_LAT + DCF_WL_HALF_LAT_DEG;
    h->lng_lo = DCF_WL_CENTER_LNG - DCF_WL_HALF_LNG_DEG;
    h->lng_hi = DCF_WL_CENTER_LNG + DCF_WL_HALF_LNG_DEG;
    for (int k = 0; k < DCF_WL_KINDS; k++)
        snprintf(h->kind_names[k], DCF_WL_NAME_MAX, "%s", dcf_wl_kind_names[k]);
    for (int p = 0; p < DCF_WL_PARTIES; p++)
        snprintf(h->party_names[p], DCF_WL_NAME_MAX, "%s", dcf_wl_party_names[p]);
    for (int a = 0; a < DCF_WL_KINDS; a++)
        for (int b = a; b < DCF_WL_KINDS; b++)
            h->rules[a][b] = h->rules[b][a] = dcf_wl_rule_rows[a][b];
}

/* ------------------------------------------------------------ reader -- */

/* An open data set: the file mapped read-only. */
typedef struct {
    void *map;
    size_t map_len;
    const dcf_wl_header_t *hdr;
    const dcf_wl_record_t *rec; /* hdr->count records */
    size_t n;
} dcf_wl_file_t;

static inline bool dcf_wl_name_ok(const char *s) {
    return memchr(s, '\0', DCF_WL_NAME_MAX) != NULL && s[0] != '\0';
}

/* Check a header read from a file of `size` bytes.  Returns NULL when it is
 * good, else the rule it breaks. */
static inline const char *dcf_wl_header_check(const dcf_wl_header_t *h, uint64_t size) {
    if (memcmp(h->magic, DCF_WL_MAGIC, 8) != 0)
        return "not a deconflict workload file (bad magic)";
    if (h->version != DCF_WL_VERSION || h->header_size != DCF_WL_HEADER_SIZE ||
        h->record_size != DCF_WL_RECORD_SIZE)
        return "unsupported version or layout";
    if (h->file_kind != DCF_WL_FILE_OPS && h->file_kind != DCF_WL_FILE_QUERIES)
        return "unknown file kind";
    if (h->workload < DCF_WL_UNIFORM || h->workload > DCF_WL_CONGESTED)
        return "unknown workload";
    if (h->n_parties != DCF_WL_PARTIES || h->n_kinds != DCF_WL_KINDS ||
        h->max_vertices != DCF_WL_MAX_VERTICES)
        return "unsupported party, kind or vertex count";
    if (h->count > DCF_WL_MAX_RECORDS)
        return "more records than DCF_WL_MAX_RECORDS";
    if (size != DCF_WL_HEADER_SIZE + h->count * (uint64_t)DCF_WL_RECORD_SIZE)
        return "file size does not match header count";
    if (h->horizon_s <= 0 || h->horizon_s > INT64_C(366) * 86400)
        return "bad horizon";
    for (int k = 0; k < DCF_WL_KINDS; k++)
        if (!dcf_wl_name_ok(h->kind_names[k]))
            return "bad kind name";
    for (int p = 0; p < DCF_WL_PARTIES; p++)
        if (!dcf_wl_name_ok(h->party_names[p]))
            return "bad party name";
    for (int a = 0; a < DCF_WL_KINDS; a++)
        for (int b = 0; b < DCF_WL_KINDS; b++) {
            const dcf_wl_sep_t *s = &h->rules[a][b];
            if (!(s->h_m >= 0 && s->h_m <= DCF_MAX_SEP_H_M && s->v_m >= 0 &&
                  s->v_m <= DCF_MAX_SEP_V_M && s->t_s >= 0 && s->t_s <= DCF_MAX_SEP_T_S))
                return "rule out of range";
            if (memcmp(s, &h->rules[b][a], sizeof *s) != 0)
                return "rule table not symmetric";
        }
    return NULL;
}

/* Map `path` and check its header (and that it holds `file_kind`).  Returns
 * DCF_OK, DCF_EIO (cannot open or map) or DCF_EPARSE; on error `why` (may be
 * NULL) gets a static text and *f is untouched. */
static inline int dcf_wl_open(const char *path, uint32_t file_kind, dcf_wl_file_t *f,
                              const char **why) {
    int fd = -1, rc = DCF_EIO;
    void *map = MAP_FAILED;
    struct stat st;
    const char *bad = "cannot open or map the file";

    if (!dcf_wl_host_ok()) {
        bad = "this host is not little-endian";
        goto out;
    }
    if ((fd = open(path, O_RDONLY)) < 0 || fstat(fd, &st) != 0)
        goto out;
    rc = DCF_EPARSE;
    bad = "shorter than a header";
    if ((uint64_t)st.st_size < DCF_WL_HEADER_SIZE)
        goto out;
    rc = DCF_EIO;
    bad = "cannot map the file";
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED)
        goto out;
    rc = DCF_EPARSE;
    const dcf_wl_header_t *h = map;
    if ((bad = dcf_wl_header_check(h, (uint64_t)st.st_size)) != NULL)
        goto out;
    bad = "wrong file kind (operations vs queries)";
    if (h->file_kind != file_kind)
        goto out;
    f->map = map;
    f->map_len = (size_t)st.st_size;
    f->hdr = h;
    f->rec = (const dcf_wl_record_t *)((const char *)map + DCF_WL_HEADER_SIZE);
    f->n = (size_t)h->count;
    map = MAP_FAILED; /* owned by f */
    bad = NULL;
    rc = DCF_OK;
out:
    if (map != MAP_FAILED)
        munmap(map, (size_t)st.st_size);
    if (fd >= 0)
        close(fd);
    if (why != NULL)
        *why = bad;
    return rc;
}

static inline void dcf_wl_close(dcf_wl_file_t *f) {
    if (f->map != NULL)
        munmap(f->map, f->map_len);
    memset(f, 0, sizeof *f);
}

/* Degrees of a microdegree value: the double nearest e6 / 10^6, the same
 * double strtod gives for its decimal text. */
static inline double dcf_wl_deg(int32_t e6) {
    return (double)e6 / 1e6;
}

/* Check one record.  Returns NULL when good, else the rule it breaks. */
static inline const char *dcf_wl_record_check(const dcf_wl_header_t *h, const dcf_wl_record_t *r) {
    if (r->party >= h->n_parties || r->kind >= h->n_kinds)
        return "party or kind out of range";
    if (r->shape == DCF_WL_SHAPE_CIRCLE) {
        if (r->nvert != 0 || r->radius_m == 0 || r->radius_m > DCF_MAX_RADIUS_M)
            return "bad circle";
    } else if (r->shape == DCF_WL_SHAPE_POLYGON) {
        if (r->nvert < 3 || r->nvert > DCF_WL_MAX_VERTICES || r->radius_m != 0)
            return "bad polygon vertex count";
    } else {
        return "unknown shape";
    }
    size_t n = r->shape == DCF_WL_SHAPE_CIRCLE ? 1 : r->nvert;
    for (size_t i = 0; i < n; i++)
        if (r->lat_e6[i] < -90000000 || r->lat_e6[i] > 90000000 || r->lng_e6[i] < -180000000 ||
            r->lng_e6[i] > 180000000)
            return "coordinate out of range";
    if (r->alt_lo_m < DCF_MIN_ALT_M || r->alt_hi_m > DCF_MAX_ALT_M || r->alt_lo_m >= r->alt_hi_m)
        return "bad altitude band";
    if (r->t_start_s >= r->t_end_s || r->t_start_s < 0 || r->t_end_s > INT64_C(253402300799))
        return "bad time window";
    return NULL;
}

/* The widest minima a query of `kind` can meet: the component-wise maximum
 * of the rule rows naming it (what the index query must be grown by). */
static inline void dcf_wl_sep_widest(const dcf_wl_header_t *h, unsigned kind, dcf_sep_t *out) {
    dcf_sep_t s = {0, 0, 0};
    for (int k = 0; k < DCF_WL_KINDS; k++) {
        const dcf_wl_sep_t *r = &h->rules[kind][k];
        if (r->h_m > s.horizontal_m)
            s.horizontal_m = r->h_m;
        if (r->v_m > s.vertical_m)
            s.vertical_m = r->v_m;
        if (r->t_s * DCF_USEC_PER_SEC > s.time_us)
            s.time_us = r->t_s * DCF_USEC_PER_SEC;
    }
    *out = s;
}

/* The minima between two kinds. */
static inline void dcf_wl_sep_pair(const dcf_wl_header_t *h, unsigned a, unsigned b,
                                   dcf_sep_t *out) {
    const dcf_wl_sep_t *r = &h->rules[a][b];
    out->horizontal_m = r->h_m;
    out->vertical_m = r->v_m;
    out->time_us = r->t_s * DCF_USEC_PER_SEC;
}

/* The operation id of a record: "<workload>-<seed>-<op>" for operations,
 * "q-<workload>-<seed>-<op>" for queries (at most 48 bytes). */
static inline void dcf_wl_op_id(const dcf_wl_header_t *h, uint32_t op, char buf[DCF_ID_MAX + 1]) {
    snprintf(buf, DCF_ID_MAX + 1, "%s%s-%llu-%lu", h->file_kind == DCF_WL_FILE_QUERIES ? "q-" : "",
             dcf_wl_workload_names[h->workload], (unsigned long long)h->seed, (unsigned long)op);
}

/*
 * Build the volume of a record: a prepared footprint (the library's
 * dcf_footprint_polygon / dcf_footprint_circle), the altitude band and the
 * time window.  On DCF_OK out->footprint is owned by the caller
 * (dcf_footprint_free).  Returns DCF_EPARSE for a record out of range (`err`
 * gets the rule) or the footprint builder's error.
 */
static inline int dcf_wl_volume(const dcf_geo_limits_t *lim, const dcf_wl_header_t *h,
                                const dcf_wl_record_t *r, dcf_volume_t *out, dcf_geo_error_t *err) {
    dcf_footprint_t *fp = NULL;
    int rc;
    const char *bad = dcf_wl_record_check(h, r);
    if (bad != NULL) {
        if (err != NULL) {
            snprintf(err->pointer, sizeof err->pointer, "/record/%lu", (unsigned long)r->op);
            snprintf(err->rule, sizeof err->rule, "%s", bad);
        }
        return DCF_EPARSE;
    }
    if (r->shape == DCF_WL_SHAPE_CIRCLE) {
        dcf_latlng_t c = {dcf_wl_deg(r->lat_e6[0]), dcf_wl_deg(r->lng_e6[0])};
        rc = dcf_footprint_circle(c, (double)r->radius_m, "/footprint", &fp, err);
    } else {
        dcf_latlng_t v[DCF_WL_MAX_VERTICES];
        for (size_t i = 0; i < r->nvert; i++)
            v[i] = (dcf_latlng_t){dcf_wl_deg(r->lat_e6[i]), dcf_wl_deg(r->lng_e6[i])};
        rc = dcf_footprint_polygon(lim, v, r->nvert, "/footprint", &fp, err);
    }
    if (rc != DCF_OK)
        return rc;
    out->footprint = fp;
    out->alt_lo = (double)r->alt_lo_m;
    out->alt_hi = (double)r->alt_hi_m;
    out->t_start = r->t_start_s * DCF_USEC_PER_SEC;
    out->t_end = r->t_end_s * DCF_USEC_PER_SEC;
    return DCF_OK;
}

/* The file name the generator and the benchmarks agree on:
 * "<dir>/<workload>-s<seed>-n<count>.bin" for operations and
 * "<dir>/<workload>-s<seed>-queries.bin" for the query set (`ext` replaces
 * "bin", e.g. "ndjson").  Returns false when it does not fit. */
static inline bool dcf_wl_path(char *buf, size_t len, const char *dir, uint32_t workload,
                               uint64_t seed, uint32_t file_kind, uint64_t count, const char *ext) {
    int w;
    if (file_kind == DCF_WL_FILE_QUERIES)
        w = snprintf(buf, len, "%s/%s-s%llu-queries.%s", dir, dcf_wl_workload_names[workload],
                     (unsigned long long)seed, ext);
    else
        w = snprintf(buf, len, "%s/%s-s%llu-n%llu.%s", dir, dcf_wl_workload_names[workload],
                     (unsigned long long)seed, (unsigned long long)count, ext);
    return w > 0 && (size_t)w < len;
}

/* The workload named `s`, or 0. */
static inline uint32_t dcf_wl_workload_parse(const char *s) {
    for (uint32_t w = DCF_WL_UNIFORM; w <= DCF_WL_CONGESTED; w++)
        if (strcmp(s, dcf_wl_workload_names[w]) == 0)
            return w;
    return 0;
}

#endif /* DCF_BENCH_WORKLOAD_H */
