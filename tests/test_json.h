/*
 * test_json.h -- JSON helpers the C tests share (tests only): documents
 * written with ' for " so that they read cleanly inside C strings, and
 * setting or deleting one value by a slash path, to derive each bad input
 * from a good one by changing one thing.
 */
#ifndef DCF_TEST_JSON_H
#define DCF_TEST_JSON_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* JSON text written with ' for " (no test text needs a real ').  Duplicate
 * keys are refused, so a test cannot hide one by accident.  NULL (with a
 * message) when it does not load. */
static inline json_t *test_json_load(const char *text) {
    char *t = strdup(text);
    for (char *p = t; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t e;
    json_t *j = json_loads(t, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
    if (j == NULL)
        fprintf(stderr, "test JSON does not load: %s: %s\n", e.text, t);
    free(t);
    return j;
}

/* Set (or, with v == NULL, delete) the value at a simple slash path such as
 * "/volumes/0/time/end" (no escapes).  Takes v. */
static inline void test_json_set(json_t *root, const char *path, json_t *v) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *cur = root;
    char *save = NULL, *tok = strtok_r(buf + 1, "/", &save);
    while (tok != NULL) {
        char *next = strtok_r(NULL, "/", &save);
        if (json_is_array(cur)) {
            size_t i = strtoul(tok, NULL, 10);
            if (next == NULL) {
                if (v == NULL)
                    json_array_remove(cur, i);
                else if (i == json_array_size(cur))
                    json_array_append_new(cur, v);
                else
                    json_array_set_new(cur, i, v);
                return;
            }
            cur = json_array_get(cur, i);
        } else {
            if (next == NULL) {
                if (v == NULL)
                    json_object_del(cur, tok);
                else
                    json_object_set_new(cur, tok, v);
                return;
            }
            cur = json_object_get(cur, tok);
        }
        tok = next;
        if (cur == NULL) {
            fprintf(stderr, "test_json_set: no %s\n", path);
            json_decref(v);
            return;
        }
    }
    json_decref(v); /* an empty path names nothing */
}

#endif /* DCF_TEST_JSON_H */
