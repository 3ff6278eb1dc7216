/*
 * test_routes.c -- the route table the server runs (dcf_api_routes) and
 * docs/openapi.json describe the same routes: every method + pattern of the
 * table is a documented operation, and every documented operation is in the
 * table.  (The pytest suite checks the document against docs/api.md and
 * calls every documented route; this closes the loop with the code.)
 */
#include <ctype.h>
#include <jansson.h>

#include "deconflict/api.h"
#include "deconflict/http.h"
#include "test.h"

static void lower(const char *in, char *out, size_t cap) {
    size_t i = 0;
    for (; in[i] != '\0' && i + 1 < cap; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}

/* "/v1/x/{id}" and "/v1/x/{op}" are the same route. */
static void norm(const char *in, char *out, size_t cap) {
    size_t o = 0;
    for (const char *p = in; *p != '\0' && o + 3 < cap; p++) {
        if (*p == '{') {
            out[o++] = '{';
            out[o++] = '}';
            while (*p != '\0' && *p != '}')
                p++;
            if (*p == '\0')
                break;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

static bool in_table(const dcf_http_route_t *rt, size_t n, const char *method, const char *path) {
    char a[256], b[256];
    norm(path, a, sizeof a);
    for (size_t i = 0; i < n; i++) {
        norm(rt[i].pattern, b, sizeof b);
        if (strcmp(a, b) == 0 && strcasecmp(rt[i].method, method) == 0)
            return true;
    }
    return false;
}

static void test_table_matches_document(void) {
    json_error_t je;
    json_t *doc = json_load_file("docs/openapi.json", 0, &je), *paths, *item, *op;
    const char *path, *m;
    size_t n = 0;
    const dcf_http_route_t *rt = dcf_api_routes(&n);
    CHECK_MSG(doc != NULL, "docs/openapi.json: %s", je.text);
    if (doc == NULL)
        return;
    paths = json_object_get(doc, "paths");
    CHECK(n > 30);
    for (size_t i = 0; i < n; i++) {
        char method[16];
        bool found = false;
        lower(rt[i].method, method, sizeof method);
        json_object_foreach(paths, path, item) {
            char a[256], b[256];
            norm(path, a, sizeof a);
            norm(rt[i].pattern, b, sizeof b);
            if (strcmp(a, b) == 0 && json_object_get(item, method) != NULL)
                found = true;
        }
        CHECK_MSG(found, "%s %s is served but not in docs/openapi.json", rt[i].method,
                  rt[i].pattern);
    }
    json_object_foreach(paths, path, item) {
        json_object_foreach(item, m, op) {
            if (strcmp(m, "parameters") == 0 || strcmp(m, "summary") == 0 ||
                strcmp(m, "description") == 0)
                continue;
            CHECK_MSG(in_table(rt, n, m, path), "%s %s is documented but not served", m, path);
        }
    }
    json_decref(doc);
}

int main(void) {
    RUN(test_table_matches_document);
    TEST_DONE();
}
