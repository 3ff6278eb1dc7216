/*
 * fuzz_model.c -- libFuzzer target for the model's JSON readers:
 * dcf_operations_from_document (operation objects, arrays,
 * {"operations": [...]}, GeoJSON FeatureCollections), dcf_operation_to_json
 * and dcf_rules_from_json.
 *
 * The input is loaded as the CLI and the API load it: json_loadb with
 * JSON_REJECT_DUPLICATES, then a nesting-depth check against
 * limits.max_depth (jansson 2.14 has no depth flag; its own parser stops at
 * 2048 levels, far above our limit, so the check is done here after loading,
 * as src/cli/check.c does).  Limits are small so the fuzzer reaches them.
 *
 * Properties checked (abort() on violation):
 *   - on error the list is untouched and `err` holds a pointer that is empty
 *     or starts with '/', and a non-empty rule;
 *   - on success every operation survives to_json -> text -> from_json
 *     unchanged (field by field, footprint vertices bit for bit);
 *   - a rule table that loads is symmetric in its lookups.
 * Seeds: fuzz/corpus/fuzz_model/; dictionary: fuzz/fuzz_model.dict.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deconflict/geo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_DEPTH 16

/* True when `j` nests deeper than `limit` containers. */
static bool sep_eq(const dcf_sep_t *a, const dcf_sep_t *b) {
    return a->horizontal_m == b->horizontal_m && a->vertical_m == b->vertical_m &&
           a->time_us == b->time_us;
}

static void check_err(const dcf_geo_error_t *err) {
    if (memchr(err->pointer, '\0', sizeof err->pointer) == NULL ||
        memchr(err->rule, '\0', sizeof err->rule) == NULL)
        abort();
    if ((err->pointer[0] != '\0' && err->pointer[0] != '/') || err->rule[0] == '\0')
        abort();
}

/* to_json -> text -> from_json must give the same operation. */
static void round_trip(const dcf_operation_t *op, const dcf_geo_limits_t *lim) {
    json_t *j = dcf_operation_to_json(op);
    if (j == NULL)
        abort();
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (text == NULL)
        abort();
    json_error_t jerr;
    json_t *back_j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (back_j == NULL)
        abort();
    dcf_operation_t *back = NULL;
    dcf_geo_error_t err = {{0}, {0}};
    if (dcf_operation_from_json(back_j, lim, 0, "", &back, &err) != DCF_OK ||
        !dcf_operation_equal(op, back))
        abort();
    dcf_operation_free(back);
    json_decref(back_j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dcf_geo_limits_t lim = {
        .max_vertices = 64, .max_volumes = 4, .max_depth = FUZZ_MAX_DEPTH, .max_operations = 8};
    json_error_t jerr;
    json_t *doc =
        json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (doc == NULL)
        return 0;
    if (dcf_json_too_deep(doc, lim.max_depth)) {
        json_decref(doc);
        return 0;
    }

    /* The flags vary with the input so both settings get explored. */
    unsigned flags = (unsigned)(size & 3u);
    dcf_operation_t *marker[1];
    dcf_operation_list_t list = {marker, 99};
    dcf_geo_error_t err = {{0}, {0}};
    int rc = dcf_operations_from_document(doc, &lim, flags, &list, &err);
    if (rc != DCF_OK) {
        if (list.ops != marker || list.n != 99)
            abort();
        if (rc != DCF_ENOMEM)
            check_err(&err);
    } else {
        if (list.n > lim.max_operations)
            abort();
        for (size_t i = 0; i < list.n; i++) {
            if (list.ops[i]->n_volumes < 1 || list.ops[i]->n_volumes > lim.max_volumes)
                abort();
            round_trip(list.ops[i], &lim);
        }
        dcf_operation_list_free(&list);
    }

    /* The same bytes as a rule table. */
    dcf_rules_t *rules = NULL;
    memset(&err, 0, sizeof err);
    rc = dcf_rules_from_json(doc, &rules, &err);
    if (rc != DCF_OK) {
        if (rules != NULL)
            abort();
        if (rc != DCF_ENOMEM)
            check_err(&err);
    } else {
        static const char *const kinds[] = {"drone", "helicopter", "fixed-wing", "a", "b"};
        for (size_t a = 0; a < 5; a++)
            for (size_t b = 0; b < 5; b++) {
                dcf_sep_t x, y, m;
                dcf_rules_lookup(rules, kinds[a], kinds[b], &x);
                dcf_rules_lookup(rules, kinds[b], kinds[a], &y);
                dcf_rules_max_for_kind(rules, kinds[a], &m);
                if (!sep_eq(&x, &y) || x.horizontal_m > m.horizontal_m ||
                    x.vertical_m > m.vertical_m || x.time_us > m.time_us)
                    abort();
            }
        dcf_rules_free(rules);
    }
    json_decref(doc);
    return 0;
}
