/*
 * client.c -- the HTTP API client of client.h on libcurl.
 *
 * One client = one base URL, one token and one libcurl easy handle whose
 * options are set once in dcf_client_new; dcf_client_get only sets the URL
 * and runs the transfer, so connections are kept alive between requests.
 *
 * Invariants: the handle never follows redirects and speaks only http and
 * https, so every request goes to the base URL's host; TLS verification is
 * never turned off; the response buffer never holds more than
 * max_response_bytes + 1 bytes (the write callback refuses the rest and the
 * transfer fails); every string that reaches a header or the URL was checked
 * for control characters.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "deconflict/client.h"
#include "deconflict/geo.h"

struct dcf_client_s {
    CURL *h;
    struct curl_slist *headers;
    char *url;        /* base, no trailing slash */
    char *ca_file;    /* copy of opts.ca_file, or NULL */
    char *user_agent; /* copy */
    dcf_client_opts_t o;
    /* The body of the transfer in progress. */
    char *buf;
    size_t len, cap;
    bool over_limit;
    char curl_err[CURL_ERROR_SIZE];
    bool global_init; /* this client holds a curl_global_init reference */
};

void dcf_client_opts_default(dcf_client_opts_t *o) {
    memset(o, 0, sizeof *o);
}

/* True when s[0..len) holds only printable ASCII without spaces. */
static bool printable(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

static bool has_prefix_ci(const char *s, const char *prefix) {
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg) {
    dcf_client_t *c = arg;
    size_t n = size * nmemb;
    if (n > c->o.max_response_bytes - c->len) {
        c->over_limit = true;
        return 0; /* libcurl fails the transfer with CURLE_WRITE_ERROR */
    }
    if (c->len + n + 1 > c->cap) {
        size_t ncap = c->cap ? c->cap : 16384;
        while (ncap < c->len + n + 1)
            ncap *= 2;
        if (ncap > c->o.max_response_bytes + 1)
            ncap = c->o.max_response_bytes + 1;
        char *nb = realloc(c->buf, ncap);
        if (nb == NULL)
            return 0;
        c->buf = nb;
        c->cap = ncap;
    }
    memcpy(c->buf + c->len, data, n);
    c->len += n;
    c->buf[c->len] = '\0';
    return n;
}

int dcf_client_new(const char *url, const char *token, const dcf_client_opts_t *opts,
                   dcf_client_t **out) {
    dcf_client_t *c = NULL;
    char *auth = NULL;
    int rc = DCF_EINVAL;

    if (url == NULL || out == NULL)
        goto out;
    size_t ulen = strlen(url), tlen = token ? strlen(token) : 0;
    if (ulen > DCF_CLIENT_URL_MAX || !printable(url, ulen) ||
        !(has_prefix_ci(url, "http://") || has_prefix_ci(url, "https://")))
        goto out;
    if (tlen > DCF_CLIENT_TOKEN_MAX || !printable(token ? token : "", tlen))
        goto out;
    size_t host = (size_t)(strstr(url, "://") - url) + 3;
    while (ulen > host && url[ulen - 1] == '/')
        ulen--;
    if (ulen == host || url[host] == '/')
        goto out; /* no host */

    rc = DCF_ENOMEM;
    if ((c = calloc(1, sizeof *c)) == NULL)
        goto out;
    c->o = opts ? *opts : (dcf_client_opts_t){0};
    if (c->o.max_response_bytes == 0)
        c->o.max_response_bytes = DCF_CLIENT_DEFAULT_MAX_BYTES;
    if (c->o.max_response_bytes > SIZE_MAX / 4)
        c->o.max_response_bytes = SIZE_MAX / 4;
    if (c->o.connect_timeout_ms <= 0)
        c->o.connect_timeout_ms = DCF_CLIENT_DEFAULT_CONNECT_MS;
    if (c->o.timeout_ms <= 0)
        c->o.timeout_ms = DCF_CLIENT_DEFAULT_TIMEOUT_MS;
    if (c->o.max_depth == 0)
        c->o.max_depth = DCF_CLIENT_DEFAULT_MAX_DEPTH;
    if ((c->url = strndup(url, ulen)) == NULL)
        goto out;
    if (c->o.ca_file != NULL && (c->ca_file = strdup(c->o.ca_file)) == NULL)
        goto out;
    if ((c->user_agent = strdup(c->o.user_agent ? c->o.user_agent : "deconflict")) == NULL)
        goto out;
    c->o.ca_file = c->ca_file;
    c->o.user_agent = c->user_agent;

    if (tlen > 0) {
        size_t n = strlen("Authorization: Bearer ") + tlen + 1;
        if ((auth = malloc(n)) == NULL)
            goto out;
        snprintf(auth, n, "Authorization: Bearer %s", token);
        struct curl_slist *l = curl_slist_append(NULL, auth);
        if (l == NULL)
            goto out;
        c->headers = l;
    }
    struct curl_slist *l = curl_slist_append(c->headers, "Accept: application/json");
    if (l == NULL)
        goto out;
    c->headers = l;

    rc = DCF_EIO;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        goto out;
    c->global_init = true;
    if ((c->h = curl_easy_init()) == NULL)
        goto out;
    CURL *h = c->h;
    bool ok = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
#if LIBCURL_VERSION_NUM >= 0x075500
              curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
#else
              curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) ==
                  CURLE_OK &&
#endif
              curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->o.connect_timeout_ms) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->o.timeout_ms) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->o.max_response_bytes) ==
                  CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_WRITEDATA, c) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_err) == CURLE_OK &&
              (c->ca_file == NULL || curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file) == CURLE_OK);
    if (!ok)
        goto out;
    *out = c;
    c = NULL;
    rc = DCF_OK;
out:
    free(auth);
    dcf_client_free(c);
    return rc;
}

void dcf_client_free(dcf_client_t *c) {
    if (c == NULL)
        return;
    if (c->h != NULL)
        curl_easy_cleanup(c->h);
    curl_slist_free_all(c->headers);
    if (c->global_init)
        curl_global_cleanup();
    free(c->buf);
    free(c->url);
    free(c->ca_file);
    free(c->user_agent);
    free(c);
}

const char *dcf_client_url(const dcf_client_t *c) {
    return c->url;
}

#define SET_ERR(...)                                                                               \
    do {                                                                                           \
        if (err != NULL && err_len > 0)                                                            \
            snprintf(err, err_len, __VA_ARGS__);                                                   \
    } while (0)

int dcf_client_get(dcf_client_t *c, const char *path_and_query, long *status, json_t **body,
                   char *err, size_t err_len) {
    char *full = NULL;
    json_t *doc = NULL;
    int rc = DCF_EINVAL;

    if (err != NULL && err_len > 0)
        err[0] = '\0';
    if (body != NULL)
        *body = NULL;
    if (c == NULL || path_and_query == NULL || status == NULL || body == NULL)
        goto out;
    size_t plen = strlen(path_and_query);
    if (path_and_query[0] != '/' || plen > DCF_CLIENT_URL_MAX || !printable(path_and_query, plen)) {
        SET_ERR("bad request path");
        goto out;
    }
    rc = DCF_ENOMEM;
    size_t n = strlen(c->url) + plen + 1;
    if ((full = malloc(n)) == NULL)
        goto out;
    snprintf(full, n, "%s%s", c->url, path_and_query);

    c->len = 0;
    c->over_limit = false;
    c->curl_err[0] = '\0';
    if (curl_easy_setopt(c->h, CURLOPT_URL, full) != CURLE_OK ||
        curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L) != CURLE_OK) {
        SET_ERR("%s: cannot set up the request", full);
        goto out;
    }
    CURLcode cc = curl_easy_perform(c->h);
    if (cc != CURLE_OK) {
        rc = DCF_EIO;
        if (c->over_limit || cc == CURLE_FILESIZE_EXCEEDED)
            SET_ERR("%s: the answer is larger than the limit of %zu bytes", full,
                    c->o.max_response_bytes);
        else
            SET_ERR("%s: %s", full, c->curl_err[0] ? c->curl_err : curl_easy_strerror(cc));
        goto out;
    }
    long code = 0;
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &code);
    if (c->len > 0) {
        json_error_t je;
        doc = json_loadb(c->buf, c->len, JSON_REJECT_DUPLICATES, &je);
        if (doc != NULL && dcf_json_too_deep(doc, c->o.max_depth)) {
            json_decref(doc);
            doc = NULL;
            snprintf(je.text, sizeof je.text, "nested deeper than %zu", c->o.max_depth);
        }
        if (doc == NULL && code >= 200 && code < 300) {
            rc = DCF_EPARSE;
            SET_ERR("%s: HTTP %ld with a body that is not JSON (%s)", full, code, je.text);
            goto out;
        }
    }
    *status = code;
    *body = doc;
    doc = NULL;
    rc = DCF_OK;
out:
    /* Do not keep a large body alive between requests. */
    if (c != NULL && c->cap > (1u << 20)) {
        free(c->buf);
        c->buf = NULL;
        c->cap = 0;
    }
    json_decref(doc);
    free(full);
    return rc;
}

int dcf_client_escape(dcf_client_t *c, const char *value, char *out, size_t cap) {
    if (cap == 0)
        return DCF_ELIMIT;
    out[0] = '\0';
    char *e = curl_easy_escape(c->h, value, 0);
    if (e == NULL)
        return DCF_ENOMEM;
    size_t n = strlen(e);
    int rc = DCF_ELIMIT;
    if (n < cap) {
        memcpy(out, e, n + 1);
        rc = DCF_OK;
    }
    curl_free(e);
    return rc;
}

char *dcf_client_describe(long status, const json_t *body, char *out, size_t cap) {
    const char *title = json_string_value(json_object_get(body, "title"));
    const char *detail = json_string_value(json_object_get(body, "detail"));
    if (cap == 0)
        return out;
    if (title != NULL && detail != NULL)
        snprintf(out, cap, "%s: %s (HTTP %ld)", title, detail, status);
    else if (title != NULL)
        snprintf(out, cap, "%s (HTTP %ld)", title, status);
    else
        snprintf(out, cap, "HTTP %ld", status);
    /* The text comes from the server: keep terminal control sequences out. */
    for (char *p = out; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return out;
}
