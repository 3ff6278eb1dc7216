/*
 * router.c -- the route table: validation and compilation at start, path
 * matching per request.
 *
 * PATTERNS.  A pattern is "/" or a sequence of "/segment" where a segment is
 * literal bytes (no '{', '}', '%', '?', '#') or a whole "{name}" (name:
 * letters, digits, '_').  At most DCF_HTTP_PARAMS_MAX parameters and
 * DCF__HTTP_SEGMENTS_MAX segments.  Two routes with the same method and the
 * same shape (same literals, parameters in the same places, whatever their
 * names) are ambiguous and rejected.
 *
 * MATCHING.  The raw request path (still percent-encoded) is compared
 * segment by segment: a literal must be equal byte for byte, a parameter
 * takes one non-empty segment.  Among the routes for the request's method
 * that match, the most specific wins: at the first segment where two
 * differ, a literal beats a parameter.  The winner's parameters are then
 * percent-decoded strictly; a malformed escape or a decoded '/' or NUL makes
 * the request a 404.  No route for this method but some for others -> 405
 * with their methods in `allow`.  Everything else -> 404.
 *
 * Callers: server.c.  Pure functions over the compiled table; thread-safe.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"

static bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static bool is_method_char(char c) {
    return (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
}

/* Split one pattern into cr.  Returns NULL or the rule it breaks. */
static const char *compile_one(const dcf_http_route_t *rt, dcf__http_croute_t *cr) {
    const char *p = rt->pattern;
    size_t n_params = 0;

    cr->route = rt;
    cr->n_seg = 0;
    if (p[0] != '/')
        return "a pattern must start with '/'";
    if (strlen(p) > DCF_HTTP_PATH_MAX)
        return "a pattern is longer than DCF_HTTP_PATH_MAX";
    if (strcmp(p, "/") == 0)
        return NULL;
    while (*p == '/') {
        const char *s = p + 1;
        size_t len = strcspn(s, "/");
        dcf__http_seg_t *seg;

        if (len == 0)
            return "empty segment (\"//\" or a trailing '/')";
        if (cr->n_seg == DCF__HTTP_SEGMENTS_MAX)
            return "too many segments";
        seg = &cr->seg[cr->n_seg++];
        if (s[0] == '{') {
            if (len < 3 || s[len - 1] != '}')
                return "a parameter must be a whole segment \"{name}\"";
            for (size_t i = 1; i + 1 < len; i++)
                if (!is_name_char(s[i]))
                    return "a parameter name may hold only letters, digits and '_'";
            if (++n_params > DCF_HTTP_PARAMS_MAX)
                return "more than DCF_HTTP_PARAMS_MAX parameters";
            for (size_t k = 0; k + 1 < cr->n_seg; k++)
                if (cr->seg[k].param && cr->seg[k].len == len - 2 &&
                    memcmp(cr->seg[k].text, s + 1, len - 2) == 0)
                    return "a parameter name is used twice";
            *seg = (dcf__http_seg_t){.text = s + 1, .len = len - 2, .param = true};
        } else {
            if (strcspn(s, "{}%?#") < len)
                return "a literal segment may not hold '{', '}', '%', '?' or '#'";
            *seg = (dcf__http_seg_t){.text = s, .len = len, .param = false};
        }
        p = s + len;
    }
    return NULL;
}

static bool same_shape(const dcf__http_croute_t *a, const dcf__http_croute_t *b) {
    if (a->n_seg != b->n_seg)
        return false;
    for (size_t i = 0; i < a->n_seg; i++) {
        if (a->seg[i].param != b->seg[i].param)
            return false;
        if (!a->seg[i].param && (a->seg[i].len != b->seg[i].len ||
                                 memcmp(a->seg[i].text, b->seg[i].text, a->seg[i].len)))
            return false;
    }
    return true;
}

int dcf__http_routes_compile(const dcf_http_route_t *routes, size_t n, dcf__http_croute_t **out,
                             char *err, size_t errlen) {
    dcf__http_croute_t *table = NULL;
    int rc = DCF_EINVAL;

    if (n > DCF_HTTP_ROUTES_MAX) {
        snprintf(err, errlen, "routes: %zu routes, at most %d", n, DCF_HTTP_ROUTES_MAX);
        goto out;
    }
    if (n > 0 && routes == NULL) {
        snprintf(err, errlen, "routes: NULL table");
        goto out;
    }
    table = calloc(n ? n : 1, sizeof(*table));
    if (table == NULL) {
        rc = DCF_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const dcf_http_route_t *rt = &routes[i];
        const char *why = NULL;

        if (rt->method == NULL || rt->pattern == NULL || rt->fn == NULL) {
            snprintf(err, errlen, "route %zu: method, pattern and fn are required", i);
            goto out;
        }
        if (rt->method[0] == '\0' || strlen(rt->method) >= DCF__HTTP_NAME_MAX)
            why = "bad method";
        for (const char *c = rt->method; why == NULL && *c; c++)
            if (!is_method_char(*c))
                why = "a method is upper-case letters";
        if (why == NULL && (rt->flags & ~(unsigned)DCF_HTTP_JSON_BODY) != 0)
            why = "unknown flags";
        if (why == NULL)
            why = compile_one(rt, &table[i]);
        for (size_t k = 0; why == NULL && k < i; k++)
            if (strcmp(routes[k].method, rt->method) == 0 && same_shape(&table[k], &table[i]))
                why = "same method and shape as an earlier route";
        if (why != NULL) {
            snprintf(err, errlen, "route %zu (%s %s): %s", i, rt->method, rt->pattern, why);
            goto out;
        }
    }
    *out = table;
    table = NULL;
    rc = DCF_OK;
out:
    free(table);
    return rc;
}

/* Does path match cr?  On success spans[] receives the raw parameter
 * segments in pattern order. */
static bool match_one(const dcf__http_croute_t *cr, const char *path, const char *spans[],
                      size_t span_len[]) {
    const char *p = path;
    size_t k = 0;

    if (cr->n_seg == 0)
        return strcmp(path, "/") == 0;
    for (size_t i = 0; i < cr->n_seg; i++) {
        const dcf__http_seg_t *seg = &cr->seg[i];
        size_t len;

        if (*p != '/')
            return false;
        p++;
        len = strcspn(p, "/");
        if (seg->param) {
            if (len == 0)
                return false;
            spans[k] = p;
            span_len[k++] = len;
        } else if (len != seg->len || memcmp(p, seg->text, len) != 0) {
            return false;
        }
        p += len;
    }
    return *p == '\0';
}

/* Negative when a is more specific than b (a literal earlier). */
static int specificity_cmp(const dcf__http_croute_t *a, const dcf__http_croute_t *b) {
    for (size_t i = 0; i < a->n_seg && i < b->n_seg; i++)
        if (a->seg[i].param != b->seg[i].param)
            return a->seg[i].param ? 1 : -1;
    return 0;
}

static void allow_add(char *allow, size_t cap, const char *method) {
    size_t mlen = strlen(method), used = strlen(allow);
    const char *p = allow;

    while (*p) { /* already listed? */
        size_t len = strcspn(p, ",");
        if (len == mlen && memcmp(p, method, mlen) == 0)
            return;
        p += len;
        p += strspn(p, ", ");
    }
    if (used + mlen + 3 > cap)
        return; /* cannot happen for sane tables; the list stays valid */
    if (used)
        memcpy(allow + used, ", ", 2), used += 2;
    memcpy(allow + used, method, mlen + 1);
}

int dcf__http_pct_decode(const char *src, size_t len, char **out, size_t *outlen) {
    char *dst = malloc(len + 1);
    size_t n = 0;

    if (dst == NULL)
        return DCF_ENOMEM;
    for (size_t i = 0; i < len; i++) {
        if (src[i] != '%') {
            dst[n++] = src[i];
            continue;
        }
        unsigned v = 0;
        for (size_t k = 1; k <= 2; k++) {
            char c = i + k < len ? src[i + k] : '\0';
            if (c >= '0' && c <= '9')
                v = v * 16 + (unsigned)(c - '0');
            else if (c >= 'a' && c <= 'f')
                v = v * 16 + (unsigned)(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                v = v * 16 + (unsigned)(c - 'A' + 10);
            else {
                free(dst);
                return DCF_EPARSE;
            }
        }
        dst[n++] = (char)v;
        i += 2;
    }
    dst[n] = '\0';
    *out = dst;
    if (outlen)
        *outlen = n;
    return DCF_OK;
}

void dcf__http_match_clear(dcf__http_match_t *m) {
    for (size_t i = 0; i < m->n_params; i++)
        free(m->params[i].value);
    m->n_params = 0;
}

int dcf__http_route_match(const dcf__http_croute_t *table, size_t n, const char *method,
                          const char *path, dcf__http_match_t *m) {
    const char *spans[DCF_HTTP_PARAMS_MAX], *best_spans[DCF_HTTP_PARAMS_MAX];
    size_t lens[DCF_HTTP_PARAMS_MAX], best_lens[DCF_HTTP_PARAMS_MAX];
    int best = -1;
    bool any = false;

    memset(m, 0, sizeof(*m));
    m->route = -1;
    for (size_t i = 0; i < n; i++) {
        if (!match_one(&table[i], path, spans, lens))
            continue;
        any = true;
        allow_add(m->allow, sizeof(m->allow), table[i].route->method);
        if (strcmp(table[i].route->method, method) != 0)
            continue;
        if (best < 0 || specificity_cmp(&table[i], &table[best]) < 0) {
            best = (int)i;
            memcpy(best_spans, spans, sizeof(spans));
            memcpy(best_lens, lens, sizeof(lens));
        }
    }
    if (best < 0) {
        m->status = any ? 405 : 404;
        return DCF_OK;
    }
    m->allow[0] = '\0';

    const dcf__http_croute_t *cr = &table[best];
    size_t k = 0;
    for (size_t i = 0; i < cr->n_seg; i++) {
        char *value = NULL;
        size_t vlen = 0;
        int rc;

        if (!cr->seg[i].param)
            continue;
        rc = dcf__http_pct_decode(best_spans[k], best_lens[k], &value, &vlen);
        if (rc == DCF_ENOMEM) {
            dcf__http_match_clear(m);
            return rc;
        }
        if (rc != DCF_OK || vlen == 0 || memchr(value, '/', vlen) || strlen(value) != vlen) {
            free(value);
            dcf__http_match_clear(m);
            m->status = 404;
            return DCF_OK;
        }
        m->params[m->n_params].name = cr->seg[i].text;
        m->params[m->n_params].name_len = cr->seg[i].len;
        m->params[m->n_params++].value = value;
        k++;
    }
    m->route = best;
    return DCF_OK;
}
