/*
 * fuzz_template.c -- libFuzzer target for the hotline template module
 * (src/template/): the template file loader, field validation with
 * rendering, and Accept-Language picking.
 *
 * The first input byte picks the parser; the rest is its input, copied into
 * a heap buffer of exactly its size (no NUL after it) so AddressSanitizer
 * reports any read past the end:
 *   0  a template file named "x.json" (dcf_template_set_load_mem);
 *   1  a JSON object of field values for the shipped template
 *      safety-of-flight-warning (loaded once from templates/; the fuzz
 *      script runs from the repository root);
 *   2  an Accept-Language header.
 * Properties checked (abort() on violation): a failed load names a rule and
 * returns no set; validation and rendering agree -- values that validate
 * render in both locales (unless the text is over the render limit), values
 * that do not validate never render; the locale picked is "en" or "ru".
 * Seeds: fuzz/corpus/fuzz_template/.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deconflict/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static dcf_template_set_t *shipped; /* loaded on first use; libFuzzer keeps the process */

static void load_file(const char *buf, size_t len) {
    const char *names[1] = {"x.json"}, *texts[1] = {buf};
    size_t lens[1] = {len};
    dcf_template_set_t *set = NULL;
    dcf_template_error_t err;
    memset(&err, 0, sizeof err);
    int rc = dcf_template_set_load_mem(names, texts, lens, 1, NULL, &set, &err);
    if (rc != DCF_OK && (set != NULL || err.rule[0] == '\0'))
        abort();
    if (rc == DCF_OK && (set == NULL || dcf_template_set_count(set) != 1))
        abort();
    dcf_template_set_free(set);
}

static void check_fields(const char *buf, size_t len) {
    const dcf_template_t *tpl;
    dcf_template_error_t err;
    json_t *fields;
    if (shipped == NULL && dcf_template_set_load("templates", NULL, &shipped, NULL) != DCF_OK)
        abort(); /* the shipped templates must load */
    tpl = dcf_template_get(shipped, "safety-of-flight-warning");
    if (tpl == NULL || (fields = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL)) == NULL)
        return;
    int v = dcf_template_validate(tpl, fields, "/fields", &err);
    for (int i = 0; i < 2; i++) {
        char *text = NULL;
        int r = dcf_template_render(tpl, fields, i ? "ru" : "en", &text);
        if (v == DCF_OK && r != DCF_OK && r != DCF_ELIMIT && r != DCF_ENOMEM)
            abort();
        if (v != DCF_OK && r == DCF_OK)
            abort();
        if (r == DCF_OK && (text == NULL || strlen(text) == 0))
            abort();
        free(text);
    }
    json_decref(fields);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    size_t len = size - 1;
    char *buf = malloc(len ? len : 1);
    if (buf == NULL)
        return 0;
    if (len > 0)
        memcpy(buf, data + 1, len);
    switch (data[0] % 3) {
    case 0:
        load_file(buf, len);
        break;
    case 1:
        check_fields(buf, len);
        break;
    default: {
        /* A header is a C string: stop at the first NUL. */
        char *h = malloc(len + 1);
        if (h != NULL) {
            memcpy(h, buf, len);
            h[len] = '\0';
            const char *loc = dcf_template_locale_pick(h);
            if (loc == NULL || (strcmp(loc, "en") != 0 && strcmp(loc, "ru") != 0))
                abort();
            free(h);
        }
        break;
    }
    }
    free(buf);
    return 0;
}
