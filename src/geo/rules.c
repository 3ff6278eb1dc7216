/*
 * rules.c -- the separation rule table: minima per unordered pair of
 * operation kinds, with a default row.
 *
 * The engine asks two questions of the table on its hot path: "which minima
 * apply between these two operations" (dcf_rules_effective, once per
 * candidate pair) and "what is the widest minimum an operation of this kind
 * could be held to" (dcf_rules_max_for_kind, once per query, to grow the
 * index box).  Both are answered without allocation or locking, so a table
 * may be shared by any number of reading threads once built; building it
 * (dcf_rules_set, dcf_rules_from_json) is single-threaded.
 *
 * DATA.  `rows` is sorted by (a, b) with a <= b (strcmp), so a pair is found
 * by binary search whichever way round it is asked.  `kinds` is sorted by
 * kind and holds, for every kind named by some row, the component-wise
 * maximum over the rows naming it; `all` is the maximum over every row.
 * Neither includes the default row, which the queries fold in.
 *
 * INVARIANTS.  rows has no two entries with the same pair; every kind in
 * `kinds` is named by at least one row and its `max` equals the maximum over
 * those rows; n_rows <= RULES_MAX_ROWS.  Replacing a row may lower a maximum,
 * so a replacement recomputes the maxima it touches by a scan (O(rows));
 * adding a row only raises them.
 *
 * Callers: src/cli/check.c (from a file), src/engine/engine.c (queries),
 * tests/geo/test_rules.c.
 */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deconflict/geo.h"
#include "geo/model_int.h"

#define RULES_MAX_ROWS 4096

typedef struct {
    char a[DCF_KIND_MAX + 1], b[DCF_KIND_MAX + 1]; /* a <= b */
    dcf_sep_t sep;
} row_t;

typedef struct {
    char kind[DCF_KIND_MAX + 1];
    dcf_sep_t max;
} kind_max_t;

struct dcf_rules_s {
    dcf_sep_t def;
    row_t *rows;
    size_t n_rows;
    kind_max_t *kinds;
    size_t n_kinds;
    dcf_sep_t all;
};

static void sep_raise(dcf_sep_t *into, const dcf_sep_t *s) {
    if (s->horizontal_m > into->horizontal_m)
        into->horizontal_m = s->horizontal_m;
    if (s->vertical_m > into->vertical_m)
        into->vertical_m = s->vertical_m;
    if (s->time_us > into->time_us)
        into->time_us = s->time_us;
}

/* Minima a table accepts: finite, >= 0, within the DCF_MAX_SEP_* bounds. */
static bool sep_valid(const dcf_sep_t *s) {
    return isfinite(s->horizontal_m) && s->horizontal_m >= 0 &&
           s->horizontal_m <= DCF_MAX_SEP_H_M && isfinite(s->vertical_m) && s->vertical_m >= 0 &&
           s->vertical_m <= DCF_MAX_SEP_V_M && s->time_us >= 0 &&
           s->time_us <= (dcf_time_t)DCF_MAX_SEP_T_S * DCF_USEC_PER_SEC;
}

int dcf_rules_new(const dcf_sep_t *def, dcf_rules_t **out) {
    if (def == NULL || !sep_valid(def))
        return DCF_EINVAL;
    dcf_rules_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return DCF_ENOMEM;
    r->def = *def;
    *out = r;
    return DCF_OK;
}

void dcf_rules_free(dcf_rules_t *r) {
    if (r == NULL)
        return;
    free(r->rows);
    free(r->kinds);
    free(r);
}

/* Position of the pair {a, b} (a <= b) in rows, or where it would go. */
static size_t row_find(const dcf_rules_t *r, const char *a, const char *b, bool *found) {
    size_t lo = 0, hi = r->n_rows;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->rows[mid].a, a);
        if (c == 0)
            c = strcmp(r->rows[mid].b, b);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static size_t kind_find(const dcf_rules_t *r, const char *kind, bool *found) {
    size_t lo = 0, hi = r->n_kinds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->kinds[mid].kind, kind);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* Raise the maximum kept for `kind` by `sep`, adding the kind when new.  The
 * caller has made room for one more kind. */
static void kind_raise(dcf_rules_t *r, const char *kind, const dcf_sep_t *sep) {
    bool found;
    size_t i = kind_find(r, kind, &found);
    if (!found) {
        memmove(&r->kinds[i + 1], &r->kinds[i], (r->n_kinds - i) * sizeof *r->kinds);
        memset(&r->kinds[i], 0, sizeof r->kinds[i]);
        snprintf(r->kinds[i].kind, sizeof r->kinds[i].kind, "%s", kind);
        r->n_kinds++;
    }
    sep_raise(&r->kinds[i].max, sep);
}

/* Recompute the maxima for `kind` and for the whole table from the rows. */
static void maxima_rescan(dcf_rules_t *r, const char *kind) {
    bool found;
    size_t k = kind_find(r, kind, &found);
    if (found)
        r->kinds[k].max = (dcf_sep_t){0};
    r->all = (dcf_sep_t){0};
    for (size_t i = 0; i < r->n_rows; i++) {
        const row_t *row = &r->rows[i];
        sep_raise(&r->all, &row->sep);
        if (found && (strcmp(row->a, kind) == 0 || strcmp(row->b, kind) == 0))
            sep_raise(&r->kinds[k].max, &row->sep);
    }
}

int dcf_rules_set(dcf_rules_t *r, const char *kind_a, const char *kind_b, const dcf_sep_t *sep) {
    if (!dcf_kind_valid(kind_a) || !dcf_kind_valid(kind_b) || sep == NULL || !sep_valid(sep))
        return DCF_EINVAL;
    const char *a = kind_a, *b = kind_b;
    if (strcmp(a, b) > 0) {
        a = kind_b;
        b = kind_a;
    }
    bool found;
    size_t i = row_find(r, a, b, &found);
    if (found) {
        r->rows[i].sep = *sep;
        maxima_rescan(r, a);
        if (strcmp(a, b) != 0)
            maxima_rescan(r, b);
        return DCF_OK;
    }
    if (r->n_rows >= RULES_MAX_ROWS)
        return DCF_ELIMIT;
    /* Room for the row and up to two new kinds, before anything changes. */
    row_t *rows = realloc(r->rows, (r->n_rows + 1) * sizeof *rows);
    if (rows == NULL)
        return DCF_ENOMEM;
    r->rows = rows;
    kind_max_t *kinds = realloc(r->kinds, (r->n_kinds + 2) * sizeof *kinds);
    if (kinds == NULL)
        return DCF_ENOMEM;
    r->kinds = kinds;

    memmove(&r->rows[i + 1], &r->rows[i], (r->n_rows - i) * sizeof *r->rows);
    memset(&r->rows[i], 0, sizeof r->rows[i]);
    snprintf(r->rows[i].a, sizeof r->rows[i].a, "%s", a);
    snprintf(r->rows[i].b, sizeof r->rows[i].b, "%s", b);
    r->rows[i].sep = *sep;
    r->n_rows++;
    kind_raise(r, a, sep);
    kind_raise(r, b, sep);
    sep_raise(&r->all, sep);
    return DCF_OK;
}

void dcf_rules_lookup(const dcf_rules_t *r, const char *kind_a, const char *kind_b,
                      dcf_sep_t *out) {
    const char *a = kind_a, *b = kind_b;
    bool found;
    if (strcmp(a, b) > 0) {
        a = kind_b;
        b = kind_a;
    }
    size_t i = row_find(r, a, b, &found);
    *out = found ? r->rows[i].sep : r->def;
}

void dcf_rules_max_for_kind(const dcf_rules_t *r, const char *kind, dcf_sep_t *out) {
    bool found;
    size_t i = kind_find(r, kind, &found);
    *out = r->def;
    if (found)
        sep_raise(out, &r->kinds[i].max);
}

void dcf_rules_max(const dcf_rules_t *r, dcf_sep_t *out) {
    *out = r->def;
    sep_raise(out, &r->all);
}

void dcf_rules_effective(const dcf_rules_t *r, const dcf_operation_t *a, const dcf_operation_t *b,
                         dcf_sep_t *out) {
    dcf_rules_lookup(r, a->kind, b->kind, out);
    sep_raise(out, &a->min_sep);
    sep_raise(out, &b->min_sep);
}

/* ---------------------------------------------------------------- JSON -- */

/* Fill err with `pointer` and a formatted rule; returns rc. */
__attribute__((format(printf, 4, 5))) static int fail(dcf_geo_error_t *err, int rc,
                                                      const char *pointer, const char *fmt, ...) {
    if (err != NULL) {
        va_list ap;
        snprintf(err->pointer, sizeof err->pointer, "%s", pointer);
        va_start(ap, fmt);
        vsnprintf(err->rule, sizeof err->rule, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* The members "horizontal_m", "vertical_m", "time_s" of the object at `at`
 * (the default row, or a rule row beside its "kinds"); all three required. */
static int read_sep(const json_t *obj, const char *at, dcf_sep_t *out, dcf_geo_error_t *err) {
    static const struct {
        const char *name;
        double max;
    } fields[] = {
        {"horizontal_m", DCF_MAX_SEP_H_M},
        {"vertical_m", DCF_MAX_SEP_V_M},
        {"time_s", DCF_MAX_SEP_T_S},
    };
    double v[3];
    char p[sizeof err->pointer];
    for (size_t i = 0; i < 3; i++) {
        const json_t *j = json_object_get(obj, fields[i].name);
        snprintf(p, sizeof p, "%s/%s", at, fields[i].name);
        if (j == NULL)
            return fail(err, DCF_EINVAL, p, "is required");
        if (!json_is_number(j))
            return fail(err, DCF_EINVAL, p, "must be a number");
        v[i] = json_number_value(j);
        if (!isfinite(v[i]) || v[i] < 0 || v[i] > fields[i].max)
            return fail(err, DCF_EINVAL, p, "must be between 0 and %.15g", fields[i].max);
    }
    out->horizontal_m = v[0];
    out->vertical_m = v[1];
    out->time_us = (dcf_time_t)llround(v[2] * (double)DCF_USEC_PER_SEC);
    return DCF_OK;
}

int dcf_rules_from_json(const json_t *obj, dcf_rules_t **out, dcf_geo_error_t *err) {
    static const char *const top_members[] = {"default", "rules", NULL};
    static const char *const sep_members[] = {"horizontal_m", "vertical_m", "time_s", NULL};
    static const char *const row_members[] = {"kinds", "horizontal_m", "vertical_m", "time_s",
                                              NULL};
    dcf_rules_t *r = NULL;
    const json_t *def, *rows;
    dcf_sep_t sep;
    char p[sizeof err->pointer], q[sizeof err->pointer];
    int rc;

    if (!json_is_object(obj)) {
        rc = fail(err, DCF_EINVAL, "", "must be an object");
        goto out;
    }
    if ((rc = dcf__json_check_members(obj, top_members, "", err)) != DCF_OK)
        goto out;
    if ((def = json_object_get(obj, "default")) == NULL) {
        rc = fail(err, DCF_EINVAL, "/default", "is required");
        goto out;
    }
    if (!json_is_object(def)) {
        rc = fail(err, DCF_EINVAL, "/default", "must be an object");
        goto out;
    }
    if ((rc = dcf__json_check_members(def, sep_members, "/default", err)) != DCF_OK ||
        (rc = read_sep(def, "/default", &sep, err)) != DCF_OK)
        goto out;
    if ((rc = dcf_rules_new(&sep, &r)) != DCF_OK) {
        rc = fail(err, rc, "", "out of memory");
        goto out;
    }
    rows = json_object_get(obj, "rules");
    if (rows != NULL && !json_is_array(rows)) {
        rc = fail(err, DCF_EINVAL, "/rules", "must be an array");
        goto out;
    }
    if (json_array_size(rows) > RULES_MAX_ROWS) {
        rc = fail(err, DCF_ELIMIT, "/rules", "must have at most %d rows", RULES_MAX_ROWS);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(rows); i++) {
        const json_t *row = json_array_get(rows, i), *kinds;
        snprintf(p, sizeof p, "/rules/%zu", i);
        if (!json_is_object(row)) {
            rc = fail(err, DCF_EINVAL, p, "must be an object");
            goto out;
        }
        if ((rc = dcf__json_check_members(row, row_members, p, err)) != DCF_OK)
            goto out;
        snprintf(q, sizeof q, "/rules/%zu/kinds", i);
        kinds = json_object_get(row, "kinds");
        if (kinds == NULL) {
            rc = fail(err, DCF_EINVAL, q, "is required");
            goto out;
        }
        if (!json_is_array(kinds) || json_array_size(kinds) != 2) {
            rc = fail(err, DCF_EINVAL, q, "must be an array of two kinds");
            goto out;
        }
        const char *k[2];
        for (size_t j = 0; j < 2; j++) {
            const json_t *kj = json_array_get(kinds, j);
            k[j] = json_string_value(kj);
            if (k[j] == NULL || strlen(k[j]) != json_string_length(kj) || !dcf_kind_valid(k[j])) {
                snprintf(q, sizeof q, "/rules/%zu/kinds/%zu", i, j);
                rc = fail(err, DCF_EINVAL, q,
                          "must be a kind: 1-32 bytes of a-z 0-9 . _ - starting with a-z or 0-9");
                goto out;
            }
        }
        if ((rc = read_sep(row, p, &sep, err)) != DCF_OK)
            goto out;
        /* A pair named twice is a mistake in the file, not a replacement. */
        bool found;
        const char *a = strcmp(k[0], k[1]) <= 0 ? k[0] : k[1], *b = a == k[0] ? k[1] : k[0];
        row_find(r, a, b, &found);
        if (found) {
            for (size_t j = 0; j < i; j++) {
                const json_t *kk = json_object_get(json_array_get(rows, j), "kinds");
                const char *x = json_string_value(json_array_get(kk, 0));
                const char *y = json_string_value(json_array_get(kk, 1));
                if ((strcmp(x, a) == 0 && strcmp(y, b) == 0) ||
                    (strcmp(x, b) == 0 && strcmp(y, a) == 0)) {
                    snprintf(q, sizeof q, "/rules/%zu/kinds", i);
                    rc = fail(err, DCF_EINVAL, q, "names the same pair as /rules/%zu", j);
                    goto out;
                }
            }
        }
        if ((rc = dcf_rules_set(r, k[0], k[1], &sep)) != DCF_OK) {
            rc = fail(err, rc, p, "%s", dcf_strerror(rc));
            goto out;
        }
    }
    *out = r;
    r = NULL;
out:
    dcf_rules_free(r);
    return rc;
}
