/*
 * check.c -- `deconflict check FILE`: the engine's first user.
 *
 * Reads a document of operations (docs/model.md), loads them into an engine
 * with the rule table, and prints every conflicting pair once, sorted by the
 * two operation ids so the output is stable.  Exit 0 when there is no
 * conflict, 1 when there are conflicts, 2 on bad input (the message names
 * the file, the JSON Pointer of the field and the rule broken) or when the
 * check could not run.
 *
 * Limits: the file size (--max-bytes), and through dcf_geo_limits_t the
 * operations per document, volumes per operation, vertices per polygon and
 * JSON nesting depth.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"
#include "deconflict/engine.h"

#define CHECK_DEFAULT_MAX_BYTES (1024u * 1024u * 1024u)

int dcf_cli_read_file(const char *path, size_t max_bytes, char **buf, size_t *len, char err[256]) {
    FILE *f = NULL;
    char *b = NULL;
    size_t cap = 0, n = 0;
    int rc = -1;

    if ((f = fopen(path, "rb")) == NULL) {
        snprintf(err, 256, "cannot open: %s", strerror(errno));
        goto out;
    }
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            if (ncap > max_bytes + 1)
                ncap = max_bytes + 1;
            if (ncap <= cap) {
                snprintf(err, 256, "larger than the limit of %zu bytes", max_bytes);
                goto out;
            }
            char *nb = realloc(b, ncap + 1);
            if (nb == NULL) {
                snprintf(err, 256, "out of memory");
                goto out;
            }
            b = nb;
            cap = ncap;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                snprintf(err, 256, "read error: %s", strerror(errno));
                goto out;
            }
            break;
        }
    }
    if (n > max_bytes) {
        snprintf(err, 256, "larger than the limit of %zu bytes", max_bytes);
        goto out;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    b = NULL;
    rc = 0;
out:
    free(b);
    if (f != NULL)
        fclose(f);
    return rc;
}

/* Load FILE as JSON within the limits; on failure print why and return NULL. */
static json_t *load_json(const char *path, size_t max_bytes, size_t max_depth) {
    char *buf = NULL, err[256];
    size_t len = 0;
    json_error_t jerr;
    json_t *doc = NULL;

    if (dcf_cli_read_file(path, max_bytes, &buf, &len, err) != 0) {
        fprintf(stderr, "deconflict: %s: %s\n", path, err);
        return NULL;
    }
    doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    free(buf);
    if (doc == NULL) {
        fprintf(stderr, "deconflict: %s:%d:%d: invalid JSON: %s\n", path, jerr.line, jerr.column,
                jerr.text);
        return NULL;
    }
    if (dcf_json_too_deep(doc, max_depth)) {
        fprintf(stderr, "deconflict: %s: JSON nested deeper than the limit of %zu\n", path,
                max_depth);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

typedef struct {
    dcf_conflict_t *v;
    size_t n, cap;
} conflict_list_t;

static int collect(void *arg, const dcf_conflict_t *c) {
    conflict_list_t *l = arg;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        dcf_conflict_t *nv = realloc(l->v, ncap * sizeof *nv);
        if (nv == NULL)
            return DCF_ENOMEM;
        l->v = nv;
        l->cap = ncap;
    }
    dcf_conflict_t c2 = *c;
    /* Order each pair by id so output does not depend on query order. */
    if (strcmp(c2.a->id, c2.b->id) > 0) {
        const dcf_operation_t *t = c2.a;
        c2.a = c2.b;
        c2.b = t;
    }
    l->v[l->n++] = c2;
    return 0;
}

static int cmp_conflict(const void *x, const void *y) {
    const dcf_conflict_t *a = x, *b = y;
    int c = strcmp(a->a->id, b->a->id);
    return c != 0 ? c : strcmp(a->b->id, b->b->id);
}

static json_t *sep_json(const dcf_sep_t *s) {
    return json_pack("{s:f,s:f,s:f}", "horizontal_m", s->horizontal_m, "vertical_m", s->vertical_m,
                     "time_s", (double)s->time_us / (double)DCF_USEC_PER_SEC);
}

static json_t *conflict_json(const dcf_conflict_t *c) {
    char t0[DCF_TIME_STRLEN], t1[DCF_TIME_STRLEN];
    const dcf_overlap_t *o = &c->overlap;
    return json_pack(
        "{s:{s:s,s:s,s:s},s:{s:s,s:s,s:s},s:{s:{s:s,s:s},s:{s:f,s:f},s:{s:f,s:f,s:f,s:f},s:f},"
        "s:o,s:I}",
        "a", "id", c->a->id, "party", c->a->party, "kind", c->a->kind, "b", "id", c->b->id, "party",
        c->b->party, "kind", c->b->kind, "overlap", "time", "start",
        dcf_time_format(o->t_start, t0), "end", dcf_time_format(o->t_end, t1), "altitude",
        "lower_m", o->alt_lo, "upper_m", o->alt_hi, "region", "lat_min", o->region.lat_lo,
        "lat_max", o->region.lat_hi, "lng_min", o->region.lng_lo, "lng_max", o->region.lng_hi,
        "distance_m", o->distance_m, "separation", sep_json(&c->sep), "volume_pairs",
        (json_int_t)c->volume_pairs);
}

static void print_text(const conflict_list_t *l, size_t n_ops) {
    for (size_t i = 0; i < l->n; i++) {
        const dcf_conflict_t *c = &l->v[i];
        const dcf_overlap_t *o = &c->overlap;
        char t0[DCF_TIME_STRLEN], t1[DCF_TIME_STRLEN];
        printf("CONFLICT %s (%s, %s) x %s (%s, %s)\n", c->a->id, c->a->party, c->a->kind, c->b->id,
               c->b->party, c->b->kind);
        printf("  time      %s .. %s\n", dcf_time_format(o->t_start, t0),
               dcf_time_format(o->t_end, t1));
        printf("  altitude  %.0f .. %.0f m\n", o->alt_lo, o->alt_hi);
        printf("  region    lat %.4f .. %.4f, lng %.4f .. %.4f\n", o->region.lat_lo,
               o->region.lat_hi, o->region.lng_lo, o->region.lng_hi);
        printf("  distance  %.0f m horizontally (minima: %.0f m horizontal, %.0f m vertical, "
               "%.0f s)\n",
               o->distance_m, c->sep.horizontal_m, c->sep.vertical_m,
               (double)c->sep.time_us / (double)DCF_USEC_PER_SEC);
        if (c->a->exigent || c->b->exigent)
            printf("  exigent   %s\n", c->a->exigent ? c->a->id : c->b->id);
    }
    printf("%zu conflict%s among %zu operations.\n", l->n, l->n == 1 ? "" : "s", n_ops);
}

int dcf_cli_check(int argc, char **argv) {
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"rules", required_argument, NULL, 'r'},
        {"max-bytes", required_argument, NULL, 'm'},
        {NULL, 0, NULL, 0},
    };
    bool as_json = false;
    const char *rules_path = NULL;
    size_t max_bytes = CHECK_DEFAULT_MAX_BYTES;
    dcf_geo_limits_t limits;
    dcf_geo_error_t gerr = {{0}, {0}};
    dcf_operation_list_t list = {0};
    dcf_rules_t *rules = NULL;
    dcf_engine_t *engine = NULL;
    json_t *doc = NULL, *rdoc = NULL;
    conflict_list_t found = {0};
    int exit_code = 2, c, rc;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            as_json = true;
            break;
        case 'r':
            rules_path = optarg;
            break;
        case 'm': {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || v == 0 || v > SIZE_MAX / 2) {
                fprintf(stderr, "deconflict check: --max-bytes must be a positive integer\n");
                goto out;
            }
            max_bytes = (size_t)v;
            break;
        }
        default:
            fprintf(stderr, "deconflict check: unknown option '%s'\n", argv[optind - 1]);
            dcf_cli_usage(stderr, dcf_cli_command("check"));
            goto out;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "deconflict check: expected exactly one FILE\n");
        dcf_cli_usage(stderr, dcf_cli_command("check"));
        goto out;
    }
    const char *path = argv[optind];
    dcf_geo_limits_default(&limits);

    if (rules_path != NULL) {
        if ((rdoc = load_json(rules_path, 16u * 1024u * 1024u, limits.max_depth)) == NULL)
            goto out;
        if (dcf_rules_from_json(rdoc, &rules, &gerr) != DCF_OK) {
            fprintf(stderr, "deconflict: %s: %s: %s\n", rules_path,
                    gerr.pointer[0] ? gerr.pointer : "/", gerr.rule);
            goto out;
        }
    } else {
        dcf_sep_t zero = {0};
        if (dcf_rules_new(&zero, &rules) != DCF_OK) {
            fprintf(stderr, "deconflict: out of memory\n");
            goto out;
        }
    }

    if ((doc = load_json(path, max_bytes, limits.max_depth)) == NULL)
        goto out;
    rc = dcf_operations_from_document(doc, &limits, DCF_PARSE_REQUIRE_PARTY | DCF_PARSE_REQUIRE_ID,
                                      &list, &gerr);
    if (rc != DCF_OK) {
        if (rc == DCF_ENOMEM)
            fprintf(stderr, "deconflict: %s: out of memory\n", path);
        else
            fprintf(stderr, "deconflict: %s: %s: %s\n", path, gerr.pointer[0] ? gerr.pointer : "/",
                    gerr.rule);
        goto out;
    }

    if ((rc = dcf_engine_new(rules, NULL, &engine)) != DCF_OK)
        goto engine_fail;
    if ((rc = dcf_engine_add_bulk(engine, list.ops, list.n)) != DCF_OK)
        goto engine_fail;
    /* The engine owns the operations now. */
    size_t n_ops = list.n;
    free(list.ops);
    list.ops = NULL;
    list.n = 0;
    if ((rc = dcf_engine_all_conflicts(engine, collect, &found)) != DCF_OK)
        goto engine_fail;
    if (found.n > 1)
        qsort(found.v, found.n, sizeof *found.v, cmp_conflict);

    if (as_json) {
        json_t *arr = json_array(), *outj;
        for (size_t i = 0; arr != NULL && i < found.n; i++)
            json_array_append_new(arr, conflict_json(&found.v[i]));
        outj = json_pack("{s:s,s:I,s:o}", "file", path, "operations", (json_int_t)n_ops,
                         "conflicts", arr);
        if (outj == NULL || json_dumpf(outj, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
            json_decref(outj);
            fprintf(stderr, "deconflict: could not write JSON output\n");
            goto out;
        }
        putchar('\n');
        json_decref(outj);
    } else {
        print_text(&found, n_ops);
    }
    exit_code = found.n > 0 ? 1 : 0;
    goto out;

engine_fail:
    fprintf(stderr, "deconflict: %s: could not check: %s\n", path, dcf_strerror(rc));
out:
    free(found.v);
    dcf_engine_free(engine);
    dcf_operation_list_free(&list);
    dcf_rules_free(rules);
    json_decref(doc);
    json_decref(rdoc);
    return exit_code;
}
