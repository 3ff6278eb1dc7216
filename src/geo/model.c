/*
 * model.c -- operations from and to JSON: the model form, GeoJSON features,
 * whole documents; and the binary form the server stores for start-up
 * (dcf_operation_pack / dcf_operation_unpack, at the end of the file).
 *
 * Every operation that enters deconflict from a file or the HTTP API comes
 * through here, so this file is where untrusted text becomes the model.  Its
 * promises (docs/model.md lists every rule):
 *
 *   - Strict shape.  Unknown members are rejected anywhere, types are never
 *     coerced, numbers must be finite and in range, integers may not have a
 *     fraction, strings have byte limits and a character class.
 *   - Exact blame.  Every failure names the RFC 6901 JSON Pointer of the value
 *     that broke a rule (or of the member that is missing) and the rule, in
 *     dcf_geo_error_t.  Member names echoed back are escaped (~0, ~1).
 *   - Nothing half-accepted.  On error everything built so far is freed and
 *     the caller's output is untouched.
 *   - Bounded work.  Every list has a limit (dcf_geo_limits_t) checked before
 *     anything is allocated for it.  The parser recurses only along the fixed
 *     shape of the model, never along the input, so nesting depth costs no
 *     stack here (callers that load text bound depth; see check.c).
 *
 * HOW POINTERS ARE BUILT.  Walking into a member or an array element pushes a
 * path_t frame on the C stack that links to its parent; nothing is formatted
 * until a rule breaks, and only then is the chain rendered into a pointer.
 * Valid input therefore pays no formatting cost, even for 10,000 vertices.
 *
 * Footprint geometry (duplicate vertices, zero area, self-intersection) is
 * judged by footprint.c, which reports pointers under the prefix passed to
 * it in the model's own terms ("/vertices/7").  For GeoJSON the prefix is the
 * geometry and such pointers are translated into GeoJSON's terms
 * ("/coordinates/0/7").
 *
 * Callers: src/cli/check.c, the HTTP API, tests/geo/test_model.c and
 * fuzz/fuzz_model.c.  All functions are reentrant; none keeps state.
 */
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deconflict/geo.h"
#include "geo/model_int.h"

void dcf_geo_limits_default(dcf_geo_limits_t *l) {
    l->max_vertices = DCF_DEFAULT_MAX_VERTICES;
    l->max_volumes = DCF_DEFAULT_MAX_VOLUMES;
    l->max_depth = DCF_DEFAULT_MAX_DEPTH;
    l->max_operations = DCF_DEFAULT_MAX_OPERATIONS;
}

void dcf_operation_free(dcf_operation_t *op) {
    if (op == NULL)
        return;
    for (size_t i = 0; i < op->n_volumes; i++)
        dcf_footprint_free(op->volumes[i].footprint);
    free(op->volumes);
    free(op->exigent_reason);
    free(op);
}

void dcf_operation_list_free(dcf_operation_list_t *list) {
    if (list == NULL)
        return;
    for (size_t i = 0; i < list->n; i++)
        dcf_operation_free(list->ops[i]);
    free(list->ops);
    list->ops = NULL;
    list->n = 0;
}

/* ------------------------------------------------------------ pointers -- */

/* One step of a JSON Pointer: the root (the caller's prefix, already a
 * pointer), a member name (unescaped) or an array index. */
typedef struct path_s {
    const struct path_s *up;
    const char *raw; /* root only */
    const char *key; /* member name, or NULL for an index */
    size_t idx;
} path_t;

#define AT_KEY(parent, k) (&(path_t){.up = (parent), .key = (k)})
#define AT_IDX(parent, i) (&(path_t){.up = (parent), .idx = (i)})

typedef struct {
    char *s;
    size_t cap, len;
    bool full; /* something did not fit and was left out */
} pbuf_t;

static void pb_put(pbuf_t *b, const char *s, size_t n) {
    if (b->full || n >= b->cap - b->len) {
        b->full = true;
        return;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void pb_key(pbuf_t *b, const char *key) {
    pb_put(b, "/", 1);
    for (const char *k = key; *k != '\0'; k++) {
        if (*k == '~')
            pb_put(b, "~0", 2);
        else if (*k == '/')
            pb_put(b, "~1", 2);
        else
            pb_put(b, k, 1);
    }
}

static void pb_path(pbuf_t *b, const path_t *p) {
    if (p == NULL)
        return;
    pb_path(b, p->up);
    if (p->raw != NULL) {
        pb_put(b, p->raw, strlen(p->raw));
    } else if (p->key != NULL) {
        pb_key(b, p->key);
    } else {
        char n[24];
        int len = snprintf(n, sizeof n, "/%zu", p->idx);
        pb_put(b, n, (size_t)len);
    }
}

/* Render `at` (plus member `key` when non-NULL) into out[cap].  Returns false
 * when it did not fit; out then holds the longest ancestor that does. */
static bool render(const path_t *at, const char *key, char *out, size_t cap) {
    pbuf_t b = {out, cap, 0, false};
    out[0] = '\0';
    pb_path(&b, at);
    if (key != NULL)
        pb_key(&b, key);
    if (!b.full)
        return true;
    /* Back off one step at a time until the pointer fits. */
    for (const path_t *p = key != NULL ? at : at->up; p != NULL; p = p->up) {
        b = (pbuf_t){out, cap, 0, false};
        out[0] = '\0';
        pb_path(&b, p);
        if (!b.full)
            return false;
    }
    out[0] = '\0';
    return false;
}

/* Record a broken rule at `at`/`key` and return `rc`.  `err` may be NULL. */
__attribute__((format(printf, 5, 6))) static int
fail(dcf_geo_error_t *err, int rc, const path_t *at, const char *key, const char *fmt, ...) {
    if (err == NULL)
        return rc;
    bool whole = render(at, key, err->pointer, sizeof err->pointer);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->rule, sizeof err->rule, fmt, ap);
    va_end(ap);
    if (!whole && n >= 0 && (size_t)n < sizeof err->rule)
        snprintf(err->rule + n, sizeof err->rule - (size_t)n,
                 " (in a descendant whose pointer is too long to show)");
    return rc;
}

static int fail_nomem(dcf_geo_error_t *err, const path_t *at) {
    return fail(err, DCF_ENOMEM, at, NULL, "out of memory");
}

/* ---------------------------------------------------- typed members -- */

/* Reject members of `obj` not in `allowed` (NULL-terminated). */
static int check_members(const json_t *obj, const char *const *allowed, const path_t *at,
                         dcf_geo_error_t *err) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        const char *const *a = allowed;
        while (*a != NULL && strcmp(*a, k) != 0)
            a++;
        if (*a == NULL)
            return fail(err, DCF_EINVAL, at, k, "unknown member");
    }
    return DCF_OK;
}

/* The member `key` of `obj`; when absent, an error if `required`, else NULL. */
int dcf__json_check_members(const json_t *obj, const char *const *allowed, const char *pointer,
                            dcf_geo_error_t *err) {
    const path_t root = {.raw = pointer};
    return check_members(obj, allowed, &root, err);
}

static int member(const json_t *obj, const char *key, bool required, const path_t *at,
                  const json_t **out, dcf_geo_error_t *err) {
    *out = json_object_get(obj, key);
    if (*out == NULL && required)
        return fail(err, DCF_EINVAL, at, key, "is required");
    return DCF_OK;
}

static int need_object(const json_t *v, const path_t *at, const char *key, dcf_geo_error_t *err) {
    return json_is_object(v) ? DCF_OK : fail(err, DCF_EINVAL, at, key, "must be an object");
}

/* The inclusive range a number must fall in (lo excluded when lo_open). */
typedef struct {
    double lo, hi;
    bool lo_open;
    bool integer;
} range_t;

static const range_t R_LAT = {-90, 90, false, false};
static const range_t R_LNG = {-180, 180, false, false};
static const range_t R_ALT = {DCF_MIN_ALT_M, DCF_MAX_ALT_M, false, false};
static const range_t R_RADIUS = {0, DCF_MAX_RADIUS_M, true, false};
static const range_t R_SEP_H = {0, DCF_MAX_SEP_H_M, false, false};
static const range_t R_SEP_V = {0, DCF_MAX_SEP_V_M, false, false};
static const range_t R_SEP_T = {0, DCF_MAX_SEP_T_S, false, false};
static const range_t R_PRIORITY = {0, 1000, false, true};

/* Check that the JSON value `v` (at `at`/`key`) is a number within `r`. */
static int number_value(const json_t *v, const range_t *r, const path_t *at, const char *key,
                        double *out, dcf_geo_error_t *err) {
    if (!json_is_number(v))
        return fail(err, DCF_EINVAL, at, key,
                    r->integer ? "must be an integer" : "must be a number");
    double x = json_number_value(v);
    /* jansson refuses to build NaN or infinity; this guards the promise. */
    if (!isfinite(x))
        return fail(err, DCF_EINVAL, at, key, "must be a finite number");
    if (r->integer && x != floor(x))
        return fail(err, DCF_EINVAL, at, key, "must be an integer");
    if (r->lo_open ? !(x > r->lo) || x > r->hi : x < r->lo || x > r->hi)
        return fail(err, DCF_EINVAL, at, key,
                    r->lo_open ? "must be greater than %.15g and at most %.15g"
                               : "must be between %.15g and %.15g",
                    r->lo, r->hi);
    *out = x;
    return DCF_OK;
}

/* Member `key` as a number in `r`; *out untouched when absent and optional. */
static int get_number(const json_t *obj, const char *key, bool required, const range_t *r,
                      const path_t *at, double *out, dcf_geo_error_t *err) {
    const json_t *v;
    int rc = member(obj, key, required, at, &v, err);
    if (rc != DCF_OK || v == NULL)
        return rc;
    return number_value(v, r, at, key, out, err);
}

/* A string syntax: byte limits and an acceptable-byte test (NULL = any). */
typedef struct {
    size_t min, max;
    bool (*first_ok)(unsigned char c);
    bool (*rest_ok)(unsigned char c);
    const char *rule;
} syntax_t;

static bool is_lower_digit(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
static bool is_slug_char(unsigned char c) {
    return is_lower_digit(c) || c == '-';
}
static bool is_kind_char(unsigned char c) {
    return is_lower_digit(c) || c == '-' || c == '.' || c == '_';
}
static bool is_id_char(unsigned char c) {
    return is_lower_digit(c) || (c >= 'A' && c <= 'Z') || c == '.' || c == '_' || c == ':' ||
           c == '-';
}

static const syntax_t S_ID = {1, DCF_ID_MAX, is_id_char, is_id_char,
                              "must be 1-64 bytes of A-Z a-z 0-9 . _ : -"};
static const syntax_t S_PARTY = {1, DCF_PARTY_MAX, is_lower_digit, is_slug_char,
                                 "must be 1-32 bytes of a-z 0-9 - starting with a-z or 0-9"};
static const syntax_t S_KIND = {1, DCF_KIND_MAX, is_lower_digit, is_kind_char,
                                "must be 1-32 bytes of a-z 0-9 . _ - starting with a-z or 0-9"};
static const syntax_t S_REASON = {1, DCF_REASON_MAX, NULL, NULL, "must be 1-500 bytes"};

static bool syntax_ok(const syntax_t *s, const char *str, size_t len) {
    if (len < s->min || len > s->max)
        return false;
    for (size_t i = 0; i < len; i++) {
        bool (*ok)(unsigned char) = i == 0 ? s->first_ok : s->rest_ok;
        if (ok != NULL && !ok((unsigned char)str[i]))
            return false;
    }
    return true;
}

bool dcf_kind_valid(const char *kind) {
    return kind != NULL && syntax_ok(&S_KIND, kind, strlen(kind));
}

bool dcf_json_too_deep(const json_t *j, size_t max_depth) {
    if (!json_is_object(j) && !json_is_array(j))
        return false;
    if (max_depth == 0)
        return true;
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
            if (dcf_json_too_deep(v, max_depth - 1))
                return true;
        }
        return false;
    }
    for (size_t i = 0; i < json_array_size(j); i++)
        if (dcf_json_too_deep(json_array_get(j, i), max_depth - 1))
            return true;
    return false;
}

static bool sep_equal(const dcf_sep_t *a, const dcf_sep_t *b) {
    return a->horizontal_m == b->horizontal_m && a->vertical_m == b->vertical_m &&
           a->time_us == b->time_us;
}

static bool footprint_equal(const dcf_footprint_t *a, const dcf_footprint_t *b) {
    dcf_latlng_t ca, cb;
    double ra, rb;
    size_t na, nb;
    if (dcf_footprint_kind(a) != dcf_footprint_kind(b))
        return false;
    if (dcf_footprint_circle_params(a, &ca, &ra))
        return dcf_footprint_circle_params(b, &cb, &rb) && ca.lat == cb.lat && ca.lng == cb.lng &&
               ra == rb;
    const dcf_latlng_t *va = dcf_footprint_vertices(a, &na), *vb = dcf_footprint_vertices(b, &nb);
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (va[i].lat != vb[i].lat || va[i].lng != vb[i].lng)
            return false;
    return true;
}

/* Two reasons, either of which may be NULL (none). */
static bool reason_equal(const char *a, const char *b) {
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

bool dcf_operation_equal(const dcf_operation_t *a, const dcf_operation_t *b) {
    if (strcmp(a->id, b->id) != 0 || strcmp(a->party, b->party) != 0 ||
        strcmp(a->kind, b->kind) != 0 || a->priority != b->priority ||
        !sep_equal(&a->min_sep, &b->min_sep) || a->disclosure != b->disclosure ||
        a->exigent != b->exigent || !reason_equal(a->exigent_reason, b->exigent_reason) ||
        a->n_volumes != b->n_volumes)
        return false;
    for (size_t i = 0; i < a->n_volumes; i++) {
        const dcf_volume_t *x = &a->volumes[i], *y = &b->volumes[i];
        if (x->alt_lo != y->alt_lo || x->alt_hi != y->alt_hi || x->t_start != y->t_start ||
            x->t_end != y->t_end || !footprint_equal(x->footprint, y->footprint))
            return false;
    }
    return true;
}

/* Member `key` as a string of syntax `s` copied into dst (which has room for
 * s->max + 1 bytes); dst untouched when absent and optional. */
static int get_string(const json_t *obj, const char *key, bool required, const syntax_t *s,
                      const path_t *at, char *dst, dcf_geo_error_t *err) {
    const json_t *v;
    int rc = member(obj, key, required, at, &v, err);
    if (rc != DCF_OK || v == NULL)
        return rc;
    if (!json_is_string(v))
        return fail(err, DCF_EINVAL, at, key, "must be a string");
    const char *str = json_string_value(v);
    size_t len = json_string_length(v);
    if (memchr(str, '\0', len) != NULL)
        return fail(err, DCF_EINVAL, at, key, "must not contain NUL characters");
    if (!syntax_ok(s, str, len))
        return fail(err, DCF_EINVAL, at, key, "%s", s->rule);
    memcpy(dst, str, len + 1);
    return DCF_OK;
}

/* ------------------------------------------------------------ pieces -- */

static const char *const SEP_MEMBERS[] = {"horizontal_m", "vertical_m", "time_s", NULL};

/* "separation": {"horizontal_m", "vertical_m", "time_s"}, each optional. */
static int parse_separation(const json_t *v, const path_t *at, dcf_sep_t *out,
                            dcf_geo_error_t *err) {
    dcf_sep_t s = {0};
    double t = 0;
    int rc;
    if ((rc = need_object(v, at, NULL, err)) != DCF_OK ||
        (rc = check_members(v, SEP_MEMBERS, at, err)) != DCF_OK ||
        (rc = get_number(v, "horizontal_m", false, &R_SEP_H, at, &s.horizontal_m, err)) != DCF_OK ||
        (rc = get_number(v, "vertical_m", false, &R_SEP_V, at, &s.vertical_m, err)) != DCF_OK ||
        (rc = get_number(v, "time_s", false, &R_SEP_T, at, &t, err)) != DCF_OK)
        return rc;
    /* Rounded to the nearest microsecond, the model's resolution. */
    s.time_us = (dcf_time_t)llround(t * (double)DCF_USEC_PER_SEC);
    *out = s;
    return DCF_OK;
}

static const char *const ALT_MEMBERS[] = {"lower_m", "upper_m", NULL};

/* "altitude": {"lower_m", "upper_m"}, lower < upper. */
static int parse_altitude(const json_t *v, const path_t *at, dcf_volume_t *vol,
                          dcf_geo_error_t *err) {
    double lo = 0, hi = 0;
    int rc;
    if ((rc = need_object(v, at, NULL, err)) != DCF_OK ||
        (rc = check_members(v, ALT_MEMBERS, at, err)) != DCF_OK ||
        (rc = get_number(v, "lower_m", true, &R_ALT, at, &lo, err)) != DCF_OK ||
        (rc = get_number(v, "upper_m", true, &R_ALT, at, &hi, err)) != DCF_OK)
        return rc;
    if (!(hi > lo)) {
        char other[sizeof((dcf_geo_error_t *)0)->pointer];
        render(at, "lower_m", other, sizeof other);
        return fail(err, DCF_EINVAL, at, "upper_m", "must be greater than %s", other);
    }
    vol->alt_lo = lo;
    vol->alt_hi = hi;
    return DCF_OK;
}

static int get_time(const json_t *obj, const char *key, const path_t *at, dcf_time_t *out,
                    dcf_geo_error_t *err) {
    const json_t *v;
    const char *why = NULL;
    int rc = member(obj, key, true, at, &v, err);
    if (rc != DCF_OK)
        return rc;
    if (!json_is_string(v))
        return fail(err, DCF_EINVAL, at, key, "must be a string (an RFC 3339 date-time)");
    if (dcf_time_parse(json_string_value(v), json_string_length(v), out, &why) != DCF_OK)
        return fail(err, DCF_EINVAL, at, key, "must be an RFC 3339 date-time: %s", why);
    return DCF_OK;
}

static const char *const TIME_MEMBERS[] = {"start", "end", NULL};

/* "time": {"start", "end"}, start < end. */
static int parse_time_window(const json_t *v, const path_t *at, dcf_volume_t *vol,
                             dcf_geo_error_t *err) {
    dcf_time_t t0 = 0, t1 = 0;
    int rc;
    if ((rc = need_object(v, at, NULL, err)) != DCF_OK ||
        (rc = check_members(v, TIME_MEMBERS, at, err)) != DCF_OK ||
        (rc = get_time(v, "start", at, &t0, err)) != DCF_OK ||
        (rc = get_time(v, "end", at, &t1, err)) != DCF_OK)
        return rc;
    if (t1 <= t0) {
        char other[sizeof((dcf_geo_error_t *)0)->pointer];
        render(at, "start", other, sizeof other);
        return fail(err, DCF_EINVAL, at, "end", "must be later than %s", other);
    }
    vol->t_start = t0;
    vol->t_end = t1;
    return DCF_OK;
}

/* Pass on footprint.c's verdict, or name the footprint when it gave none. */
static int footprint_failed(int rc, const dcf_geo_error_t *fe, const path_t *at,
                            dcf_geo_error_t *err) {
    if (fe->rule[0] == '\0')
        return fail(err, rc, at, NULL, "is not a valid footprint: %s", dcf_strerror(rc));
    if (err != NULL)
        *err = *fe;
    return rc;
}

/* Build a polygon footprint from checked vertices; footprint.c judges the
 * geometry and names the vertex under `at`. */
static int make_polygon(const dcf_geo_limits_t *limits, const dcf_latlng_t *v, size_t n,
                        const path_t *at, dcf_footprint_t **out, dcf_geo_error_t *err) {
    char prefix[sizeof((dcf_geo_error_t *)0)->pointer];
    dcf_geo_error_t fe = {{0}, {0}};
    render(at, NULL, prefix, sizeof prefix);
    int rc = dcf_footprint_polygon(limits, v, n, prefix, out, &fe);
    return rc == DCF_OK ? rc : footprint_failed(rc, &fe, at, err);
}

static int make_circle(dcf_latlng_t c, double r, const path_t *at, dcf_footprint_t **out,
                       dcf_geo_error_t *err) {
    char prefix[sizeof((dcf_geo_error_t *)0)->pointer];
    dcf_geo_error_t fe = {{0}, {0}};
    render(at, NULL, prefix, sizeof prefix);
    int rc = dcf_footprint_circle(c, r, prefix, out, &fe);
    return rc == DCF_OK ? rc : footprint_failed(rc, &fe, at, err);
}

static const char *const LATLNG_MEMBERS[] = {"lat", "lng", NULL};

/* {"lat": .., "lng": ..} */
static int parse_latlng(const json_t *v, const path_t *at, dcf_latlng_t *out,
                        dcf_geo_error_t *err) {
    int rc;
    if ((rc = need_object(v, at, NULL, err)) != DCF_OK ||
        (rc = check_members(v, LATLNG_MEMBERS, at, err)) != DCF_OK ||
        (rc = get_number(v, "lat", true, &R_LAT, at, &out->lat, err)) != DCF_OK ||
        (rc = get_number(v, "lng", true, &R_LNG, at, &out->lng, err)) != DCF_OK)
        return rc;
    return DCF_OK;
}

static const char *const POLYGON_MEMBERS[] = {"type", "vertices", NULL};
static const char *const CIRCLE_MEMBERS[] = {"type", "center", "radius_m", NULL};

/* "footprint": {"type": "polygon", "vertices": [...]} or
 *              {"type": "circle", "center": {...}, "radius_m": r}. */
static int parse_footprint(const json_t *v, const dcf_geo_limits_t *limits, const path_t *at,
                           dcf_footprint_t **out, dcf_geo_error_t *err) {
    const json_t *type, *verts, *center;
    dcf_latlng_t *pts = NULL;
    int rc;

    if ((rc = need_object(v, at, NULL, err)) != DCF_OK ||
        (rc = member(v, "type", true, at, &type, err)) != DCF_OK)
        goto out;
    if (!json_is_string(type)) {
        rc = fail(err, DCF_EINVAL, at, "type", "must be a string");
        goto out;
    }
    if (strcmp(json_string_value(type), "circle") == 0) {
        dcf_latlng_t c;
        double r = 0;
        if ((rc = check_members(v, CIRCLE_MEMBERS, at, err)) != DCF_OK ||
            (rc = member(v, "center", true, at, &center, err)) != DCF_OK ||
            (rc = parse_latlng(center, AT_KEY(at, "center"), &c, err)) != DCF_OK ||
            (rc = get_number(v, "radius_m", true, &R_RADIUS, at, &r, err)) != DCF_OK)
            goto out;
        rc = make_circle(c, r, at, out, err);
        goto out;
    }
    if (strcmp(json_string_value(type), "polygon") != 0) {
        rc = fail(err, DCF_EINVAL, at, "type", "must be \"polygon\" or \"circle\"");
        goto out;
    }
    if ((rc = check_members(v, POLYGON_MEMBERS, at, err)) != DCF_OK ||
        (rc = member(v, "vertices", true, at, &verts, err)) != DCF_OK)
        goto out;
    const path_t *vat = AT_KEY(at, "vertices");
    if (!json_is_array(verts)) {
        rc = fail(err, DCF_EINVAL, vat, NULL, "must be an array");
        goto out;
    }
    size_t n = json_array_size(verts);
    if (n > limits->max_vertices) {
        rc = fail(err, DCF_ELIMIT, vat, NULL, "must have at most %zu vertices",
                  limits->max_vertices);
        goto out;
    }
    if (n < 3) {
        rc = fail(err, DCF_EINVAL, vat, NULL, "must have at least 3 vertices");
        goto out;
    }
    if ((pts = malloc(n * sizeof *pts)) == NULL) {
        rc = fail_nomem(err, vat);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if ((rc = parse_latlng(json_array_get(verts, i), AT_IDX(vat, i), &pts[i], err)) != DCF_OK)
            goto out;
    rc = make_polygon(limits, pts, n, at, out, err);
out:
    free(pts);
    return rc;
}

static const char *const VOLUME_MEMBERS[] = {"footprint", "altitude", "time", NULL};

static int parse_volume(const json_t *v, const dcf_geo_limits_t *limits, const path_t *at,
                        dcf_volume_t *vol, dcf_geo_error_t *err) {
    const json_t *fp, *alt, *tw;
    int rc;
    if ((rc = need_object(v, at, NULL, err)) != DCF_OK ||
        (rc = check_members(v, VOLUME_MEMBERS, at, err)) != DCF_OK ||
        (rc = member(v, "footprint", true, at, &fp, err)) != DCF_OK ||
        (rc = member(v, "altitude", true, at, &alt, err)) != DCF_OK ||
        (rc = member(v, "time", true, at, &tw, err)) != DCF_OK ||
        (rc = parse_altitude(alt, AT_KEY(at, "altitude"), vol, err)) != DCF_OK ||
        (rc = parse_time_window(tw, AT_KEY(at, "time"), vol, err)) != DCF_OK)
        return rc;
    /* Geometry last: it is the costly check. */
    return parse_footprint(fp, limits, AT_KEY(at, "footprint"), &vol->footprint, err);
}

/* ------------------------------------------------- operation fields -- */

/* The members every operation has, in the model form and in GeoJSON
 * properties alike. */
#define OP_COMMON_MEMBERS                                                                          \
    "id", "party", "kind", "priority", "separation", "disclosure", "exigent", "exigent_reason"

static const char *const OP_MEMBERS[] = {OP_COMMON_MEMBERS, "volumes", NULL};
static const char *const PROPS_MEMBERS[] = {OP_COMMON_MEMBERS, "altitude", "time", "radius_m",
                                            NULL};

static const struct {
    const char *name;
    dcf_disclosure_t value;
} DISCLOSURES[] = {
    {"contact", DCF_DISCLOSE_CONTACT},
    {"overlap", DCF_DISCLOSE_OVERLAP},
    {"full", DCF_DISCLOSE_FULL},
};

/* Everything but the volumes, from `obj` (already checked to be an object
 * with only allowed members). */
static int parse_op_fields(const json_t *obj, unsigned flags, const path_t *at, dcf_operation_t *op,
                           dcf_geo_error_t *err) {
    const json_t *v;
    double prio = 0;
    int rc;

    if ((rc = get_string(obj, "id", flags & DCF_PARSE_REQUIRE_ID, &S_ID, at, op->id, err)) !=
            DCF_OK ||
        (rc = get_string(obj, "party", flags & DCF_PARSE_REQUIRE_PARTY, &S_PARTY, at, op->party,
                         err)) != DCF_OK ||
        (rc = get_string(obj, "kind", true, &S_KIND, at, op->kind, err)) != DCF_OK ||
        (rc = get_number(obj, "priority", true, &R_PRIORITY, at, &prio, err)) != DCF_OK)
        return rc;
    op->priority = (int32_t)prio;

    if ((v = json_object_get(obj, "separation")) != NULL &&
        (rc = parse_separation(v, AT_KEY(at, "separation"), &op->min_sep, err)) != DCF_OK)
        return rc;

    op->disclosure = DCF_DISCLOSE_CONTACT;
    if ((v = json_object_get(obj, "disclosure")) != NULL) {
        size_t i = 0, n = sizeof DISCLOSURES / sizeof DISCLOSURES[0];
        if (!json_is_string(v))
            return fail(err, DCF_EINVAL, at, "disclosure", "must be a string");
        while (i < n && strcmp(DISCLOSURES[i].name, json_string_value(v)) != 0)
            i++;
        if (i == n)
            return fail(err, DCF_EINVAL, at, "disclosure",
                        "must be \"contact\", \"overlap\" or \"full\"");
        op->disclosure = DISCLOSURES[i].value;
    }

    op->exigent = false;
    if ((v = json_object_get(obj, "exigent")) != NULL) {
        if (!json_is_boolean(v))
            return fail(err, DCF_EINVAL, at, "exigent", "must be true or false");
        op->exigent = json_is_true(v);
    }
    if (op->exigent) {
        if (json_object_get(obj, "exigent_reason") == NULL)
            return fail(err, DCF_EINVAL, at, "exigent_reason", "is required when exigent is true");
        char reason[DCF_REASON_MAX + 1];
        rc = get_string(obj, "exigent_reason", true, &S_REASON, at, reason, err);
        if (rc == DCF_OK && (op->exigent_reason = strdup(reason)) == NULL)
            rc = fail_nomem(err, at);
        return rc;
    }
    if (json_object_get(obj, "exigent_reason") != NULL)
        return fail(err, DCF_EINVAL, at, "exigent_reason", "is allowed only when exigent is true");
    return DCF_OK;
}

int dcf_operation_from_json(const json_t *obj, const dcf_geo_limits_t *limits, unsigned flags,
                            const char *pointer_prefix, dcf_operation_t **out,
                            dcf_geo_error_t *err) {
    const path_t root = {.raw = pointer_prefix != NULL ? pointer_prefix : ""};
    const path_t *at = &root;
    dcf_geo_limits_t defaults;
    dcf_operation_t *op = NULL;
    const json_t *vols;
    int rc;

    if (limits == NULL) {
        dcf_geo_limits_default(&defaults);
        limits = &defaults;
    }
    if ((rc = need_object(obj, at, NULL, err)) != DCF_OK ||
        (rc = check_members(obj, OP_MEMBERS, at, err)) != DCF_OK)
        goto out;
    if ((op = calloc(1, sizeof *op)) == NULL) {
        rc = fail_nomem(err, at);
        goto out;
    }
    if ((rc = parse_op_fields(obj, flags, at, op, err)) != DCF_OK ||
        (rc = member(obj, "volumes", true, at, &vols, err)) != DCF_OK)
        goto out;

    const path_t *vat = AT_KEY(at, "volumes");
    if (!json_is_array(vols)) {
        rc = fail(err, DCF_EINVAL, vat, NULL, "must be an array");
        goto out;
    }
    size_t n = json_array_size(vols);
    if (n > limits->max_volumes) {
        rc = fail(err, DCF_ELIMIT, vat, NULL, "must have at most %zu volumes", limits->max_volumes);
        goto out;
    }
    if (n == 0) {
        rc = fail(err, DCF_EINVAL, vat, NULL, "must have at least 1 volume");
        goto out;
    }
    if ((op->volumes = calloc(n, sizeof *op->volumes)) == NULL) {
        rc = fail_nomem(err, vat);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        /* Count the volume first, so its footprint is freed on error. */
        op->n_volumes = i + 1;
        rc = parse_volume(json_array_get(vols, i), limits, AT_IDX(vat, i), &op->volumes[i], err);
        if (rc != DCF_OK)
            goto out;
    }
    *out = op;
    op = NULL;
out:
    dcf_operation_free(op);
    return rc;
}

/* ------------------------------------------------------------ GeoJSON -- */

/* Rewrite every "<prefix>/vertices..." inside s[cap] (footprint.c's terms)
 * as "<prefix>/coordinates/0..." with "/lat" -> "/1" and "/lng" -> "/0"
 * (GeoJSON's terms: positions are [lng, lat]). */
static void to_geojson_terms(char *s, size_t cap, const char *prefix) {
    char tmp[sizeof((dcf_geo_error_t *)0)->pointer * 2];
    pbuf_t b = {tmp, sizeof tmp, 0, false};
    size_t plen = strlen(prefix);
    const char *p = s;
    tmp[0] = '\0';
    while (*p != '\0') {
        const char *hit = strstr(p, prefix);
        if (hit == NULL || strncmp(hit + plen, "/vertices", 9) != 0) {
            size_t skip = hit == NULL ? strlen(p) : (size_t)(hit - p) + (plen ? plen : 1);
            pb_put(&b, p, skip);
            p += skip;
            continue;
        }
        pb_put(&b, p, (size_t)(hit - p) + plen);
        pb_put(&b, "/coordinates/0", 14);
        p = hit + plen + 9;
        if (*p == '/' && p[1] >= '0' && p[1] <= '9') {
            size_t d = 1;
            while (p[d] >= '0' && p[d] <= '9')
                d++;
            pb_put(&b, p, d);
            p += d;
            if (strncmp(p, "/lat", 4) == 0 && (p[4] < 'a' || p[4] > 'z')) {
                pb_put(&b, "/1", 2);
                p += 4;
            } else if (strncmp(p, "/lng", 4) == 0 && (p[4] < 'a' || p[4] > 'z')) {
                pb_put(&b, "/0", 2);
                p += 4;
            }
        }
    }
    if (!b.full && b.len < cap)
        memcpy(s, tmp, b.len + 1);
}

/* One GeoJSON position [lng, lat] at `at`. */
static int parse_position(const json_t *v, const path_t *at, dcf_latlng_t *out,
                          dcf_geo_error_t *err) {
    if (!json_is_array(v))
        return fail(err, DCF_EINVAL, at, NULL, "must be a position [longitude, latitude]");
    if (json_array_size(v) == 3)
        return fail(err, DCF_EINVAL, AT_IDX(at, 2), NULL,
                    "altitude in a position is not supported (use properties.altitude)");
    if (json_array_size(v) != 2)
        return fail(err, DCF_EINVAL, at, NULL, "must be a position [longitude, latitude]");
    int rc = number_value(json_array_get(v, 0), &R_LNG, AT_IDX(at, 0), NULL, &out->lng, err);
    if (rc == DCF_OK)
        rc = number_value(json_array_get(v, 1), &R_LAT, AT_IDX(at, 1), NULL, &out->lat, err);
    return rc;
}

static const char *const GEOMETRY_MEMBERS[] = {"type", "coordinates", NULL};

/* A Polygon (one closed ring) at `at`. */
static int parse_geojson_polygon(const json_t *coords, const dcf_geo_limits_t *limits,
                                 const path_t *at, dcf_footprint_t **out, dcf_geo_error_t *err) {
    const path_t *cat = AT_KEY(at, "coordinates");
    const path_t *rat = AT_IDX(cat, 0);
    dcf_latlng_t *pts = NULL;
    int rc;

    if (!json_is_array(coords)) {
        rc = fail(err, DCF_EINVAL, cat, NULL, "must be an array of linear rings");
        goto out;
    }
    if (json_array_size(coords) == 0) {
        rc = fail(err, DCF_EINVAL, cat, NULL, "must hold one linear ring");
        goto out;
    }
    if (json_array_size(coords) > 1) {
        rc = fail(err, DCF_EINVAL, AT_IDX(cat, 1), NULL, "holes are not supported");
        goto out;
    }
    const json_t *ring = json_array_get(coords, 0);
    if (!json_is_array(ring)) {
        rc = fail(err, DCF_EINVAL, rat, NULL, "must be an array of positions");
        goto out;
    }
    size_t m = json_array_size(ring);
    if (m > limits->max_vertices + 1) {
        rc = fail(err, DCF_ELIMIT, rat, NULL,
                  "must have at most %zu positions (%zu vertices and the closing position)",
                  limits->max_vertices + 1, limits->max_vertices);
        goto out;
    }
    if (m < 4) {
        rc = fail(err, DCF_EINVAL, rat, NULL,
                  "must have at least 4 positions (3 vertices and the closing position)");
        goto out;
    }
    if ((pts = malloc(m * sizeof *pts)) == NULL) {
        rc = fail_nomem(err, rat);
        goto out;
    }
    for (size_t i = 0; i < m; i++)
        if ((rc = parse_position(json_array_get(ring, i), AT_IDX(rat, i), &pts[i], err)) != DCF_OK)
            goto out;
    if (pts[m - 1].lat != pts[0].lat || pts[m - 1].lng != pts[0].lng) {
        rc = fail(err, DCF_EINVAL, AT_IDX(rat, m - 1), NULL,
                  "must equal the first position (a GeoJSON ring is closed)");
        goto out;
    }
    if ((rc = make_polygon(limits, pts, m - 1, at, out, err)) != DCF_OK && err != NULL) {
        char prefix[sizeof err->pointer];
        render(at, NULL, prefix, sizeof prefix);
        to_geojson_terms(err->pointer, sizeof err->pointer, prefix);
        to_geojson_terms(err->rule, sizeof err->rule, prefix);
    }
out:
    free(pts);
    return rc;
}

static const char *const FEATURE_MEMBERS[] = {"type", "geometry", "properties", NULL};

/* Is `v` a string equal to `s`? */
static bool is_string(const json_t *v, const char *s) {
    return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

int dcf_operation_from_geojson_feature(const json_t *feature, const dcf_geo_limits_t *limits,
                                       unsigned flags, const char *pointer_prefix,
                                       dcf_operation_t **out, dcf_geo_error_t *err) {
    const path_t root = {.raw = pointer_prefix != NULL ? pointer_prefix : ""};
    const path_t *at = &root, *gat = AT_KEY(at, "geometry"), *pat = AT_KEY(at, "properties");
    dcf_geo_limits_t defaults;
    dcf_operation_t *op = NULL;
    const json_t *type, *geom, *props, *gtype, *coords, *alt, *tw;
    int rc;

    if (limits == NULL) {
        dcf_geo_limits_default(&defaults);
        limits = &defaults;
    }
    if ((rc = need_object(feature, at, NULL, err)) != DCF_OK ||
        (rc = check_members(feature, FEATURE_MEMBERS, at, err)) != DCF_OK ||
        (rc = member(feature, "type", true, at, &type, err)) != DCF_OK)
        goto out;
    if (!is_string(type, "Feature")) {
        rc = fail(err, DCF_EINVAL, at, "type", "must be \"Feature\"");
        goto out;
    }
    if ((rc = member(feature, "geometry", true, at, &geom, err)) != DCF_OK ||
        (rc = member(feature, "properties", true, at, &props, err)) != DCF_OK ||
        (rc = need_object(geom, gat, NULL, err)) != DCF_OK ||
        (rc = check_members(geom, GEOMETRY_MEMBERS, gat, err)) != DCF_OK ||
        (rc = member(geom, "type", true, gat, &gtype, err)) != DCF_OK ||
        (rc = member(geom, "coordinates", true, gat, &coords, err)) != DCF_OK)
        goto out;
    bool point = is_string(gtype, "Point");
    if (!point && !is_string(gtype, "Polygon")) {
        rc = fail(err, DCF_EINVAL, gat, "type", "must be \"Polygon\" or \"Point\"");
        goto out;
    }
    if ((rc = need_object(props, pat, NULL, err)) != DCF_OK ||
        (rc = check_members(props, PROPS_MEMBERS, pat, err)) != DCF_OK)
        goto out;
    if (!point && json_object_get(props, "radius_m") != NULL) {
        rc = fail(err, DCF_EINVAL, pat, "radius_m", "is allowed only with a Point geometry");
        goto out;
    }
    if ((op = calloc(1, sizeof *op)) == NULL ||
        (op->volumes = calloc(1, sizeof *op->volumes)) == NULL) {
        rc = fail_nomem(err, at);
        goto out;
    }
    op->n_volumes = 1;
    dcf_volume_t *vol = &op->volumes[0];
    if ((rc = parse_op_fields(props, flags, pat, op, err)) != DCF_OK ||
        (rc = member(props, "altitude", true, pat, &alt, err)) != DCF_OK ||
        (rc = member(props, "time", true, pat, &tw, err)) != DCF_OK ||
        (rc = parse_altitude(alt, AT_KEY(pat, "altitude"), vol, err)) != DCF_OK ||
        (rc = parse_time_window(tw, AT_KEY(pat, "time"), vol, err)) != DCF_OK)
        goto out;
    if (point) {
        dcf_latlng_t c;
        double r = 0;
        if ((rc = parse_position(coords, AT_KEY(gat, "coordinates"), &c, err)) != DCF_OK ||
            (rc = get_number(props, "radius_m", true, &R_RADIUS, pat, &r, err)) != DCF_OK ||
            (rc = make_circle(c, r, gat, &vol->footprint, err)) != DCF_OK)
            goto out;
    } else if ((rc = parse_geojson_polygon(coords, limits, gat, &vol->footprint, err)) != DCF_OK) {
        goto out;
    }
    *out = op;
    op = NULL;
out:
    dcf_operation_free(op);
    return rc;
}

/* ----------------------------------------------------------- documents -- */

/* The operation-level member whose value differs between a and b, or NULL. */
static const char *header_mismatch(const dcf_operation_t *a, const dcf_operation_t *b) {
    if (strcmp(a->party, b->party) != 0)
        return "party";
    if (strcmp(a->kind, b->kind) != 0)
        return "kind";
    if (a->priority != b->priority)
        return "priority";
    if (a->min_sep.horizontal_m != b->min_sep.horizontal_m ||
        a->min_sep.vertical_m != b->min_sep.vertical_m || a->min_sep.time_us != b->min_sep.time_us)
        return "separation";
    if (a->disclosure != b->disclosure)
        return "disclosure";
    if (a->exigent != b->exigent)
        return "exigent";
    if (!reason_equal(a->exigent_reason, b->exigent_reason))
        return "exigent_reason";
    return NULL;
}

/* A list under construction, with the map from id to list position + 1 and,
 * for GeoJSON, the feature each operation started at. */
typedef struct {
    dcf_operation_list_t list;
    size_t cap;
    size_t *first; /* first[i]: index of the item that started ops[i] */
    dcf_strmap_t *by_id;
} builder_t;

static int builder_push(builder_t *b, dcf_operation_t *op, size_t item) {
    if (b->list.n == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 16;
        dcf_operation_t **nops = realloc(b->list.ops, ncap * sizeof *nops);
        if (nops == NULL)
            return DCF_ENOMEM;
        b->list.ops = nops;
        size_t *nfirst = realloc(b->first, ncap * sizeof *nfirst);
        if (nfirst == NULL)
            return DCF_ENOMEM;
        b->first = nfirst;
        b->cap = ncap;
    }
    if (op->id[0] != '\0') {
        int rc = dcf_strmap_put(b->by_id, op->id, (void *)(uintptr_t)(b->list.n + 1));
        if (rc != DCF_OK)
            return rc;
    }
    b->list.ops[b->list.n] = op;
    b->first[b->list.n] = item;
    b->list.n++;
    return DCF_OK;
}

/* The list position of the operation with op's id, or SIZE_MAX. */
static size_t builder_find(const builder_t *b, const dcf_operation_t *op) {
    if (op->id[0] == '\0')
        return SIZE_MAX;
    void *v = dcf_strmap_get(b->by_id, op->id);
    return v == NULL ? SIZE_MAX : (size_t)(uintptr_t)v - 1;
}

/* An array of operation objects at `at`. */
static int read_op_array(const json_t *arr, const dcf_geo_limits_t *limits, unsigned flags,
                         const path_t *at, builder_t *b, dcf_geo_error_t *err) {
    dcf_operation_t *op = NULL;
    char prefix[sizeof((dcf_geo_error_t *)0)->pointer];
    size_t n = json_array_size(arr);
    int rc = DCF_OK;

    if (n > limits->max_operations)
        return fail(err, DCF_ELIMIT, at, NULL, "must have at most %zu operations",
                    limits->max_operations);
    for (size_t i = 0; i < n; i++) {
        const path_t *iat = AT_IDX(at, i);
        render(iat, NULL, prefix, sizeof prefix);
        if ((rc = dcf_operation_from_json(json_array_get(arr, i), limits, flags, prefix, &op,
                                          err)) != DCF_OK)
            goto out;
        size_t prev = builder_find(b, op);
        if (prev != SIZE_MAX) {
            char other[sizeof prefix];
            render(AT_IDX(at, b->first[prev]), "id", other, sizeof other);
            rc = fail(err, DCF_EINVAL, iat, "id", "duplicates %s", other);
            goto out;
        }
        if ((rc = builder_push(b, op, i)) != DCF_OK) {
            fail(err, rc, iat, NULL, "%s", dcf_strerror(rc));
            goto out;
        }
        op = NULL;
    }
out:
    dcf_operation_free(op);
    return rc;
}

/* Append the single volume of `op` (from feature `i`) to the operation at
 * position `prev`, checking that the operation-level fields agree. */
static int merge_feature(builder_t *b, size_t prev, dcf_operation_t *op,
                         const dcf_geo_limits_t *limits, const path_t *fat, size_t i,
                         dcf_geo_error_t *err) {
    dcf_operation_t *into = b->list.ops[prev];
    const path_t *at = AT_IDX(fat, i);
    char other[sizeof((dcf_geo_error_t *)0)->pointer];
    const char *bad = header_mismatch(into, op);

    render(AT_IDX(fat, b->first[prev]), NULL, other, sizeof other);
    if (bad != NULL)
        return fail(err, DCF_EINVAL, AT_KEY(at, "properties"), bad,
                    "must match %s, the first feature of operation \"%s\"", other, op->id);
    if (into->n_volumes >= limits->max_volumes)
        return fail(err, DCF_ELIMIT, at, NULL,
                    "would give operation \"%s\" (first at %s) more than %zu volumes", op->id,
                    other, limits->max_volumes);
    dcf_volume_t *nv = realloc(into->volumes, (into->n_volumes + 1) * sizeof *nv);
    if (nv == NULL)
        return fail_nomem(err, at);
    into->volumes = nv;
    into->volumes[into->n_volumes++] = op->volumes[0];
    op->n_volumes = 0; /* the footprint now belongs to `into` */
    return DCF_OK;
}

static const char *const COLLECTION_MEMBERS[] = {"type", "features", NULL};

static int read_feature_collection(const json_t *doc, const dcf_geo_limits_t *limits,
                                   unsigned flags, const path_t *at, builder_t *b,
                                   dcf_geo_error_t *err) {
    const path_t *fat = AT_KEY(at, "features");
    dcf_operation_t *op = NULL;
    char prefix[sizeof((dcf_geo_error_t *)0)->pointer];
    const json_t *features;
    int rc;

    if ((rc = check_members(doc, COLLECTION_MEMBERS, at, err)) != DCF_OK ||
        (rc = member(doc, "features", true, at, &features, err)) != DCF_OK)
        goto out;
    if (!json_is_array(features)) {
        rc = fail(err, DCF_EINVAL, fat, NULL, "must be an array");
        goto out;
    }
    for (size_t i = 0; i < json_array_size(features); i++) {
        const path_t *iat = AT_IDX(fat, i);
        render(iat, NULL, prefix, sizeof prefix);
        if ((rc = dcf_operation_from_geojson_feature(json_array_get(features, i), limits, flags,
                                                     prefix, &op, err)) != DCF_OK)
            goto out;
        size_t prev = builder_find(b, op);
        if (prev != SIZE_MAX) {
            if ((rc = merge_feature(b, prev, op, limits, fat, i, err)) != DCF_OK)
                goto out;
            dcf_operation_free(op);
            op = NULL;
            continue;
        }
        if (b->list.n >= limits->max_operations) {
            rc = fail(err, DCF_ELIMIT, iat, NULL, "starts more than %zu operations",
                      limits->max_operations);
            goto out;
        }
        if ((rc = builder_push(b, op, i)) != DCF_OK) {
            fail(err, rc, iat, NULL, "%s", dcf_strerror(rc));
            goto out;
        }
        op = NULL;
    }
out:
    dcf_operation_free(op);
    return rc;
}

int dcf_operations_from_document(const json_t *doc, const dcf_geo_limits_t *limits, unsigned flags,
                                 dcf_operation_list_t *out, dcf_geo_error_t *err) {
    const path_t root = {.raw = ""};
    dcf_geo_limits_t defaults;
    builder_t b = {0};
    const json_t *v;
    int rc;

    if (limits == NULL) {
        dcf_geo_limits_default(&defaults);
        limits = &defaults;
    }
    if ((rc = dcf_strmap_new(&b.by_id)) != DCF_OK) {
        fail(err, rc, &root, NULL, "%s", dcf_strerror(rc));
        goto out;
    }
    if (json_is_array(doc)) {
        rc = read_op_array(doc, limits, flags, &root, &b, err);
    } else if (json_is_object(doc) && (v = json_object_get(doc, "type")) != NULL) {
        if (!is_string(v, "FeatureCollection"))
            rc = fail(err, DCF_EINVAL, &root, "type",
                      "must be \"FeatureCollection\" (or leave \"type\" out for an operation)");
        else
            rc = read_feature_collection(doc, limits, flags, &root, &b, err);
    } else if (json_is_object(doc) && (v = json_object_get(doc, "operations")) != NULL) {
        static const char *const members[] = {"operations", NULL};
        if ((rc = check_members(doc, members, &root, err)) != DCF_OK)
            goto out;
        if (!json_is_array(v))
            rc = fail(err, DCF_EINVAL, &root, "operations", "must be an array");
        else
            rc = read_op_array(v, limits, flags, AT_KEY(&root, "operations"), &b, err);
    } else if (json_is_object(doc)) {
        dcf_operation_t *op = NULL;
        if (limits->max_operations < 1)
            rc = fail(err, DCF_ELIMIT, &root, NULL, "must have at most 0 operations");
        else if ((rc = dcf_operation_from_json(doc, limits, flags, "", &op, err)) == DCF_OK &&
                 (rc = builder_push(&b, op, 0)) != DCF_OK) {
            dcf_operation_free(op);
            fail(err, rc, &root, NULL, "%s", dcf_strerror(rc));
        }
    } else {
        rc = fail(err, DCF_EINVAL, &root, NULL,
                  "must be an operation, an array of operations, {\"operations\": [...]} "
                  "or a GeoJSON FeatureCollection");
    }
    if (rc != DCF_OK)
        goto out;
    *out = b.list;
    b.list = (dcf_operation_list_t){0};
out:
    dcf_operation_list_free(&b.list);
    free(b.first);
    dcf_strmap_free(b.by_id);
    return rc;
}

/* ------------------------------------------------------------ to JSON -- */

/* obj[key] = v, taking v; false (v released) on failure or when v is NULL. */
static bool put(json_t *obj, const char *key, json_t *v) {
    return v != NULL && json_object_set_new(obj, key, v) == 0;
}

static json_t *latlng_json(dcf_latlng_t p) {
    json_t *o = json_object();
    if (o != NULL && (!put(o, "lat", json_real(p.lat)) || !put(o, "lng", json_real(p.lng)))) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

static json_t *footprint_json(const dcf_footprint_t *f) {
    json_t *o = json_object(), *arr = NULL;
    dcf_latlng_t c;
    double r;
    size_t n = 0;
    bool ok = o != NULL;

    if (ok && dcf_footprint_circle_params(f, &c, &r)) {
        ok = put(o, "type", json_string("circle")) && put(o, "center", latlng_json(c)) &&
             put(o, "radius_m", json_real(r));
    } else if (ok) {
        const dcf_latlng_t *v = dcf_footprint_vertices(f, &n);
        ok = put(o, "type", json_string("polygon")) && put(o, "vertices", arr = json_array());
        for (size_t i = 0; ok && i < n; i++)
            ok = json_array_append_new(arr, latlng_json(v[i])) == 0;
    }
    if (!ok) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* Seconds as an integer when whole, else a real. */
static json_t *seconds_json(dcf_time_t us) {
    if (us % DCF_USEC_PER_SEC == 0)
        return json_integer(us / DCF_USEC_PER_SEC);
    return json_real((double)us / (double)DCF_USEC_PER_SEC);
}

static json_t *volume_json(const dcf_volume_t *v) {
    char t0[DCF_TIME_STRLEN], t1[DCF_TIME_STRLEN];
    json_t *o = json_object(), *alt = NULL, *tw = NULL;
    /* Each child is put into its parent as soon as it exists, so freeing
     * `o` frees everything on any failure. */
    bool ok = o != NULL && put(o, "footprint", footprint_json(v->footprint)) &&
              put(o, "altitude", alt = json_object()) &&
              put(alt, "lower_m", json_real(v->alt_lo)) &&
              put(alt, "upper_m", json_real(v->alt_hi)) && put(o, "time", tw = json_object()) &&
              put(tw, "start", json_string(dcf_time_format(v->t_start, t0))) &&
              put(tw, "end", json_string(dcf_time_format(v->t_end, t1)));
    if (!ok) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

json_t *dcf_operation_to_json(const dcf_operation_t *op) {
    const size_t n_disc = sizeof DISCLOSURES / sizeof DISCLOSURES[0];
    json_t *o = json_object(), *sep = NULL, *vols = NULL;
    bool ok = o != NULL && (unsigned)op->disclosure < n_disc;

    if (ok && op->id[0] != '\0')
        ok = put(o, "id", json_string(op->id));
    if (ok && op->party[0] != '\0')
        ok = put(o, "party", json_string(op->party));
    ok = ok && put(o, "kind", json_string(op->kind)) &&
         put(o, "priority", json_integer(op->priority)) &&
         put(o, "separation", sep = json_object()) &&
         put(sep, "horizontal_m", json_real(op->min_sep.horizontal_m)) &&
         put(sep, "vertical_m", json_real(op->min_sep.vertical_m)) &&
         put(sep, "time_s", seconds_json(op->min_sep.time_us)) &&
         put(o, "disclosure", json_string(DISCLOSURES[op->disclosure].name)) &&
         put(o, "exigent", json_boolean(op->exigent));
    if (ok && op->exigent)
        ok = put(o, "exigent_reason", json_string(op->exigent_reason ? op->exigent_reason : ""));
    ok = ok && put(o, "volumes", vols = json_array());
    for (size_t i = 0; ok && i < op->n_volumes; i++)
        ok = json_array_append_new(vols, volume_json(&op->volumes[i])) == 0;
    if (!ok) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* -------------------------------------------------------- binary form -- */

/*
 * LAYOUT (version 1; all integers little-endian, doubles as the
 * little-endian bytes of their IEEE 754 binary64 pattern):
 *
 *   "DCOP" u8 version=1  u8 flags (bit 0: exigent)  u8 disclosure  u8 0
 *   i32 priority  f64 sep.horizontal_m  f64 sep.vertical_m  i64 sep.time_us
 *   u8 len, id     u8 len, party     u8 len, kind
 *   [exigent only] u16 len, reason
 *   u32 n_volumes, then each volume:
 *     u8 kind (1 polygon, 2 circle)  f64 alt_lo  f64 alt_hi  i64 t_start
 *     i64 t_end
 *     polygon: u32 n, n x (f64 lat, f64 lng)
 *     circle:  f64 lat, f64 lng, f64 radius_m
 *   u64 check: SipHash-2-4 (libsodium's crypto_shorthash) of every byte
 *              before it, keyed with 16 zero bytes
 *
 * Nothing follows the check.  Every flag bit, kind and reserved byte not
 * listed must be zero, so each operation has exactly one encoding.  The
 * check is for damage, not for an adversary (its key is no secret): a
 * stored row whose bytes changed is refused and start-up reads the JSON
 * text instead, where without it most changed bytes (a coordinate, a time)
 * would still decode to a valid, different operation.
 */

#define PACK_MAGIC "DCOP"
#define PACK_CHECK 8 /* bytes of the trailing check */

/* The check of buf[0..n). */
static uint64_t pack_check(const unsigned char *buf, size_t n) {
    static const unsigned char key[crypto_shorthash_KEYBYTES] = {0};
    unsigned char out[crypto_shorthash_BYTES];
    uint64_t v = 0;
    crypto_shorthash(out, buf, n, key);
    for (size_t i = 0; i < sizeof out; i++)
        v |= (uint64_t)out[i] << (8 * i);
    return v;
}

/* Years 0001..9999, as dcf_time_parse accepts them (microseconds). */
#define PACK_TIME_MIN INT64_C(-62135596800000000)
#define PACK_TIME_MAX INT64_C(253402300799999999)

typedef struct {
    unsigned char *p;
    size_t n, cap;
    bool nomem;
} wbuf_t;

static void w_bytes(wbuf_t *b, const void *src, size_t n) {
    if (b->nomem)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n)
            cap *= 2;
        unsigned char *np = realloc(b->p, cap);
        if (np == NULL) {
            b->nomem = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void w_uint(wbuf_t *b, uint64_t v, size_t width) {
    unsigned char le[8];
    for (size_t i = 0; i < width; i++)
        le[i] = (unsigned char)(v >> (8 * i));
    w_bytes(b, le, width);
}

static void w_f64(wbuf_t *b, double d) {
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    w_uint(b, bits, 8);
}

static void w_str(wbuf_t *b, const char *s, size_t width) {
    size_t n = s ? strlen(s) : 0;
    w_uint(b, n, width);
    w_bytes(b, s, n);
}

int dcf_operation_pack(const dcf_operation_t *op, unsigned char **out, size_t *len) {
    wbuf_t b = {0};
    w_bytes(&b, PACK_MAGIC, 4);
    w_uint(&b, DCF_OP_PACK_VERSION, 1);
    w_uint(&b, op->exigent ? 1 : 0, 1);
    w_uint(&b, (uint64_t)op->disclosure, 1);
    w_uint(&b, 0, 1);
    w_uint(&b, (uint32_t)op->priority, 4);
    w_f64(&b, op->min_sep.horizontal_m);
    w_f64(&b, op->min_sep.vertical_m);
    w_uint(&b, (uint64_t)op->min_sep.time_us, 8);
    w_str(&b, op->id, 1);
    w_str(&b, op->party, 1);
    w_str(&b, op->kind, 1);
    if (op->exigent)
        w_str(&b, op->exigent_reason, 2);
    w_uint(&b, op->n_volumes, 4);
    for (size_t i = 0; i < op->n_volumes; i++) {
        const dcf_volume_t *v = &op->volumes[i];
        dcf_latlng_t c;
        double r;
        size_t n;
        const dcf_latlng_t *pts = dcf_footprint_vertices(v->footprint, &n);
        w_uint(&b, (uint64_t)dcf_footprint_kind(v->footprint), 1);
        w_f64(&b, v->alt_lo);
        w_f64(&b, v->alt_hi);
        w_uint(&b, (uint64_t)v->t_start, 8);
        w_uint(&b, (uint64_t)v->t_end, 8);
        if (dcf_footprint_circle_params(v->footprint, &c, &r)) {
            w_f64(&b, c.lat);
            w_f64(&b, c.lng);
            w_f64(&b, r);
        } else {
            w_uint(&b, n, 4);
            for (size_t k = 0; k < n; k++) {
                w_f64(&b, pts[k].lat);
                w_f64(&b, pts[k].lng);
            }
        }
    }
    if (!b.nomem)
        w_uint(&b, pack_check(b.p, b.n), PACK_CHECK);
    if (b.nomem) {
        free(b.p);
        return DCF_ENOMEM;
    }
    *out = b.p;
    *len = b.n;
    return DCF_OK;
}

/* A reader over the buffer; any read past the end sets `bad`. */
typedef struct {
    const unsigned char *p;
    size_t n, at;
    bool bad;
} rbuf_t;

static const unsigned char *r_take(rbuf_t *b, size_t n) {
    if (b->bad || n > b->n - b->at) {
        b->bad = true;
        return NULL;
    }
    const unsigned char *p = b->p + b->at;
    b->at += n;
    return p;
}

static uint64_t r_uint(rbuf_t *b, size_t width) {
    const unsigned char *p = r_take(b, width);
    uint64_t v = 0;
    for (size_t i = 0; p != NULL && i < width; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* A double that must be finite and in r (NaN fails every comparison). */
static double r_f64(rbuf_t *b, const range_t *r) {
    uint64_t bits = r_uint(b, 8);
    double d;
    memcpy(&d, &bits, sizeof d);
    if (!isfinite(d) || (r->lo_open ? !(d > r->lo) : !(d >= r->lo)) || !(d <= r->hi))
        b->bad = true;
    return d;
}

static dcf_time_t r_time(rbuf_t *b) {
    int64_t t = (int64_t)r_uint(b, 8);
    if (t < PACK_TIME_MIN || t > PACK_TIME_MAX)
        b->bad = true;
    return t;
}

/* A string of syntax s into dst (room for s->max + 1); empty allowed only
 * when `optional`. */
static void r_str(rbuf_t *b, size_t width, const syntax_t *s, bool optional, char *dst) {
    size_t n = (size_t)r_uint(b, width);
    const unsigned char *p = r_take(b, n);
    if (p == NULL || (n == 0 ? !optional : !syntax_ok(s, (const char *)p, n)) ||
        memchr(p, '\0', n) != NULL) {
        b->bad = true;
        return;
    }
    /* UTF-8, as every string the JSON reader gives (jansson checks it). */
    json_t *utf8 = json_stringn((const char *)p, n);
    if (utf8 == NULL) {
        b->bad = true;
        return;
    }
    json_decref(utf8);
    memcpy(dst, p, n);
    dst[n] = '\0';
}

static int r_volume(rbuf_t *b, const dcf_geo_limits_t *limits, dcf_volume_t *v) {
    unsigned kind = (unsigned)r_uint(b, 1);
    dcf_latlng_t *pts = NULL;
    int rc;
    v->alt_lo = r_f64(b, &R_ALT);
    v->alt_hi = r_f64(b, &R_ALT);
    v->t_start = r_time(b);
    v->t_end = r_time(b);
    if (b->bad || !(v->alt_hi > v->alt_lo) || v->t_end <= v->t_start)
        return DCF_EINVAL;
    if (kind == DCF_FOOTPRINT_CIRCLE) {
        dcf_latlng_t c;
        c.lat = r_f64(b, &R_LAT);
        c.lng = r_f64(b, &R_LNG);
        double r = r_f64(b, &R_RADIUS);
        return b->bad ? DCF_EINVAL : dcf_footprint_circle(c, r, "", &v->footprint, NULL);
    }
    if (kind != DCF_FOOTPRINT_POLYGON)
        return DCF_EINVAL;
    size_t n = (size_t)r_uint(b, 4);
    if (b->bad || n < 3)
        return DCF_EINVAL;
    if (n > limits->max_vertices)
        return DCF_ELIMIT;
    if (n > (b->n - b->at) / 16) /* checked before allocating for them */
        return DCF_EINVAL;
    if ((pts = malloc(n * sizeof *pts)) == NULL)
        return DCF_ENOMEM;
    for (size_t k = 0; k < n; k++) {
        pts[k].lat = r_f64(b, &R_LAT);
        pts[k].lng = r_f64(b, &R_LNG);
    }
    rc = b->bad ? DCF_EINVAL : dcf_footprint_polygon(limits, pts, n, "", &v->footprint, NULL);
    free(pts);
    return rc;
}

int dcf_operation_unpack(const void *buf, size_t len, const dcf_geo_limits_t *limits,
                         unsigned flags, dcf_operation_t **out) {
    rbuf_t b = {.p = buf, .n = len >= PACK_CHECK ? len - PACK_CHECK : 0};
    dcf_geo_limits_t defaults;
    dcf_operation_t *op = NULL;
    int rc = DCF_EINVAL;

    if (limits == NULL) {
        dcf_geo_limits_default(&defaults);
        limits = &defaults;
    }
    if (len < PACK_CHECK)
        return DCF_EINVAL;
    rbuf_t check = {.p = buf, .n = len, .at = len - PACK_CHECK};
    if (r_uint(&check, PACK_CHECK) != pack_check(buf, len - PACK_CHECK))
        return DCF_EINVAL;
    const unsigned char *magic = r_take(&b, 4);
    if (magic == NULL || memcmp(magic, PACK_MAGIC, 4) != 0 || r_uint(&b, 1) != DCF_OP_PACK_VERSION)
        return DCF_EINVAL;
    unsigned fl = (unsigned)r_uint(&b, 1), disc = (unsigned)r_uint(&b, 1);
    if (b.bad || fl > 1 || disc > DCF_DISCLOSE_FULL || r_uint(&b, 1) != 0)
        return DCF_EINVAL;
    if ((op = calloc(1, sizeof *op)) == NULL)
        return DCF_ENOMEM;
    op->exigent = fl == 1;
    op->disclosure = (dcf_disclosure_t)disc;
    int64_t prio = (int32_t)(uint32_t)r_uint(&b, 4);
    op->min_sep.horizontal_m = r_f64(&b, &R_SEP_H);
    op->min_sep.vertical_m = r_f64(&b, &R_SEP_V);
    op->min_sep.time_us = (dcf_time_t)r_uint(&b, 8);
    if (prio < R_PRIORITY.lo || prio > R_PRIORITY.hi || op->min_sep.time_us < 0 ||
        op->min_sep.time_us > (dcf_time_t)DCF_MAX_SEP_T_S * DCF_USEC_PER_SEC)
        b.bad = true;
    op->priority = (int32_t)prio;
    r_str(&b, 1, &S_ID, !(flags & DCF_PARSE_REQUIRE_ID), op->id);
    r_str(&b, 1, &S_PARTY, !(flags & DCF_PARSE_REQUIRE_PARTY), op->party);
    r_str(&b, 1, &S_KIND, false, op->kind);
    if (op->exigent && !b.bad) {
        char reason[DCF_REASON_MAX + 1];
        r_str(&b, 2, &S_REASON, false, reason);
        if (!b.bad && (op->exigent_reason = strdup(reason)) == NULL) {
            rc = DCF_ENOMEM;
            goto out;
        }
    }
    size_t n = (size_t)r_uint(&b, 4);
    if (b.bad || n == 0)
        goto out;
    if (n > limits->max_volumes) {
        rc = DCF_ELIMIT;
        goto out;
    }
    /* A volume takes at least 57 bytes (a circle): checked before
     * allocating for them. */
    if (n > (b.n - b.at) / 57)
        goto out;
    if ((op->volumes = calloc(n, sizeof *op->volumes)) == NULL) {
        rc = DCF_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        rc = r_volume(&b, limits, &op->volumes[i]);
        if (op->volumes[i].footprint != NULL)
            op->n_volumes = i + 1;
        if (rc != DCF_OK)
            goto out;
    }
    rc = b.at == b.n ? DCF_OK : DCF_EINVAL;
out:
    if (rc == DCF_OK) {
        *out = op;
    } else {
        dcf_operation_free(op);
        if (rc != DCF_ENOMEM && rc != DCF_ELIMIT)
            rc = DCF_EINVAL;
    }
    return rc;
}
