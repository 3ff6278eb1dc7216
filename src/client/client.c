/*
 * client.c -- the HTTP API client of client.h on libcurl.
 *
 * One client = one base URL, one token and one libcurl easy handle whose
 * fixed options are set once (xfer_setup); a request only sets its URL,
 * method, body and per-request headers and runs the transfer, so connections
 * are kept alive between requests.  A transfer (xfer_t) owns its easy handle,
 * its header list and its bounded body buffer; the client has one for
 * dcf_client_do, a multi has one per slot, a stream builds its own.
 *
 * Invariants: the handle never follows redirects and speaks only http and
 * https, so every request goes to the base URL's host; TLS verification is
 * never turned off; the response buffer never holds more than
 * max_response_bytes + 1 bytes (the write callback refuses the rest and the
 * transfer fails); every string that reaches a header or the URL was checked
 * for control characters.
 */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "deconflict/client.h"
#include "deconflict/geo.h"

/* One transfer: an easy handle with the client's fixed options and the
 * state of the request running on it. */
typedef struct {
    CURL *h;
    struct curl_slist *hdrs; /* this request's headers */
    char *req_body;          /* multi: a copy of the request body */
    char *path;              /* full URL of the request in progress */
    size_t max;              /* body limit */
    char *buf;
    size_t len, cap;
    bool over_limit, busy;
    uint64_t tag;
    char etag[64], location[512];
    double retry_after_s;
    char curl_err[CURL_ERROR_SIZE];
} xfer_t;

struct dcf_client_s {
    char *url;        /* base, no trailing slash */
    char *auth;       /* "Authorization: Bearer ..." or NULL */
    char *ca_file;    /* copy of opts.ca_file, or NULL */
    char *user_agent; /* copy */
    dcf_client_opts_t o;
    xfer_t x;         /* dcf_client_do's transfer */
    bool global_init; /* this client holds a curl_global_init reference */
};

struct dcf_client_multi_s {
    dcf_client_t *c;
    CURLM *m;
    xfer_t *x;
    size_t slots, pending;
};

void dcf_client_opts_default(dcf_client_opts_t *o) {
    memset(o, 0, sizeof *o);
}

void dcf_client_resp_clear(dcf_client_resp_t *r) {
    if (r == NULL)
        return;
    json_decref(r->body);
    memset(r, 0, sizeof *r);
}

/* True when s[0..len) holds only printable ASCII without spaces. */
static bool printable(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

/* Printable ASCII, spaces allowed (header values). */
static bool header_safe(const char *s) {
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

static bool has_prefix_ci(const char *s, const char *prefix) {
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg) {
    xfer_t *x = arg;
    size_t n = size * nmemb;
    if (n > x->max - x->len) {
        x->over_limit = true;
        return 0; /* libcurl fails the transfer with CURLE_WRITE_ERROR */
    }
    if (x->len + n + 1 > x->cap) {
        size_t ncap = x->cap ? x->cap : 16384;
        while (ncap < x->len + n + 1)
            ncap *= 2;
        if (ncap > x->max + 1)
            ncap = x->max + 1;
        char *nb = realloc(x->buf, ncap);
        if (nb == NULL)
            return 0;
        x->buf = nb;
        x->cap = ncap;
    }
    memcpy(x->buf + x->len, data, n);
    x->len += n;
    x->buf[x->len] = '\0';
    return n;
}

/* Copy a header's value (trimmed, control characters refused) into out. */
static void header_value(const char *v, size_t n, char *out, size_t cap) {
    while (n > 0 && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
        n--;
    if (n >= cap)
        return; /* too long to be ours: ignore */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            return;
    memcpy(out, v, n);
    out[n] = '\0';
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg) {
    xfer_t *x = arg;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new answer (after a 100 Continue, say): forget the last one's. */
        x->etag[0] = x->location[0] = '\0';
        x->retry_after_s = 0;
    } else if (n > 5 && strncasecmp(data, "ETag:", 5) == 0) {
        header_value(data + 5, n - 5, x->etag, sizeof x->etag);
    } else if (n > 9 && strncasecmp(data, "Location:", 9) == 0) {
        header_value(data + 9, n - 9, x->location, sizeof x->location);
    } else if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
        char v[32] = "";
        header_value(data + 12, n - 12, v, sizeof v);
        char *end = NULL;
        double d = strtod(v, &end);
        if (end != v && d > 0 && d < 86400)
            x->retry_after_s = d;
    }
    return n;
}

/* Give x a new easy handle with the client's fixed options. */
static int xfer_setup(dcf_client_t *c, xfer_t *x) {
    memset(x, 0, sizeof *x);
    x->max = c->o.max_response_bytes;
    if ((x->h = curl_easy_init()) == NULL)
        return DCF_EIO;
    CURL *h = x->h;
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
              curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_WRITEDATA, x) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_HEADERDATA, x) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_PRIVATE, x) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->curl_err) == CURLE_OK &&
              (c->ca_file == NULL || curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file) == CURLE_OK);
    return ok ? DCF_OK : DCF_EIO;
}

static void xfer_reset_buffers(xfer_t *x) {
    curl_slist_free_all(x->hdrs);
    x->hdrs = NULL;
    free(x->req_body);
    x->req_body = NULL;
    free(x->path);
    x->path = NULL;
    /* Do not keep a large body alive between requests. */
    if (x->cap > (1u << 20)) {
        free(x->buf);
        x->buf = NULL;
        x->cap = 0;
    }
    x->len = 0;
}

static void xfer_cleanup(xfer_t *x) {
    if (x->h != NULL)
        curl_easy_cleanup(x->h);
    curl_slist_free_all(x->hdrs);
    free(x->req_body);
    free(x->path);
    free(x->buf);
    memset(x, 0, sizeof *x);
}

#define SET_ERR(...)                                                                               \
    do {                                                                                           \
        if (err != NULL && err_len > 0)                                                            \
            snprintf(err, err_len, __VA_ARGS__);                                                   \
    } while (0)

static bool append_header(struct curl_slist **l, const char *name, const char *value) {
    char line[DCF_CLIENT_TOKEN_MAX + 64];
    if (value == NULL)
        return true;
    if (!header_safe(value) ||
        (size_t)snprintf(line, sizeof line, "%s: %s", name, value) >= sizeof line)
        return false;
    struct curl_slist *n = curl_slist_append(*l, line);
    if (n == NULL)
        return false;
    *l = n;
    return true;
}

/*
 * Prepare x for req: URL, method, body (copied when copy_body), headers.
 * Returns DCF_OK, DCF_EINVAL (bad path, method or header), DCF_ELIMIT (body
 * too large), DCF_ENOMEM, DCF_EIO.
 */
static int xfer_prepare(dcf_client_t *c, xfer_t *x, const dcf_client_req_t *req, bool copy_body,
                        char *err, size_t err_len) {
    const char *method = req->method ? req->method : "GET";
    const char *path = req->path;
    xfer_reset_buffers(x);
    x->over_limit = false;
    x->curl_err[0] = '\0';
    x->etag[0] = x->location[0] = '\0';
    x->retry_after_s = 0;
    if (path == NULL || path[0] != '/' || strlen(path) > DCF_CLIENT_URL_MAX ||
        !printable(path, strlen(path))) {
        SET_ERR("bad request path");
        return DCF_EINVAL;
    }
    size_t n = strlen(c->url) + strlen(path) + 1;
    if ((x->path = malloc(n)) == NULL)
        return DCF_ENOMEM;
    snprintf(x->path, n, "%s%s", c->url, path);
    if (req->body != NULL && req->body_len > DCF_CLIENT_BODY_MAX) {
        SET_ERR("%s: the request body is larger than %u bytes", x->path, DCF_CLIENT_BODY_MAX);
        return DCF_ELIMIT;
    }
    struct curl_slist *l = NULL;
    bool ok = (c->auth == NULL || (l = curl_slist_append(l, c->auth)) != NULL);
    struct curl_slist *t;
    if (ok && (t = curl_slist_append(l, "Accept: application/json")) != NULL)
        l = t;
    else
        ok = false;
    /* No "Expect: 100-continue" round trip for large bodies. */
    if (ok && (t = curl_slist_append(l, "Expect:")) != NULL)
        l = t;
    else
        ok = false;
    if (ok && req->body != NULL)
        ok = append_header(&l, "Content-Type", "application/json");
    if (ok)
        ok = append_header(&l, "If-Match", req->if_match) &&
             append_header(&l, "Accept-Language", req->accept_language) &&
             append_header(&l, "Last-Event-ID", req->last_event_id);
    x->hdrs = l;
    if (!ok) {
        SET_ERR("%s: a request header is too long or holds control characters", x->path);
        return DCF_EINVAL;
    }
    const char *body = req->body;
    if (body != NULL && copy_body) {
        if ((x->req_body = malloc(req->body_len + 1)) == NULL)
            return DCF_ENOMEM;
        memcpy(x->req_body, req->body, req->body_len);
        x->req_body[req->body_len] = '\0';
        body = x->req_body;
    }
    CURL *h = x->h;
    ok = curl_easy_setopt(h, CURLOPT_URL, x->path) == CURLE_OK &&
         curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->hdrs) == CURLE_OK &&
         curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, (char *)NULL) == CURLE_OK;
    if (!ok)
        goto fail;
    if (strcmp(method, "GET") == 0 || strcmp(method, "DELETE") == 0) {
        ok = curl_easy_setopt(h, CURLOPT_HTTPGET, 1L) == CURLE_OK;
        if (ok && method[0] == 'D')
            ok = curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE") == CURLE_OK;
        if (body != NULL) {
            SET_ERR("%s %s takes no body", method, path);
            return DCF_EINVAL;
        }
    } else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        ok = curl_easy_setopt(h, CURLOPT_POST, 1L) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                              (curl_off_t)(body ? req->body_len : 0)) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "") == CURLE_OK;
        if (ok && method[1] == 'U')
            ok = curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT") == CURLE_OK;
    } else {
        SET_ERR("unknown method %s", method);
        return DCF_EINVAL;
    }
    if (ok)
        return DCF_OK;
fail:
    SET_ERR("%s: cannot set up the request", x->path);
    return DCF_EIO;
}

/* Turn a finished transfer into *resp (or an error). */
static int xfer_finish(dcf_client_t *c, xfer_t *x, CURLcode cc, dcf_client_resp_t *resp, char *err,
                       size_t err_len) {
    json_t *doc = NULL;
    memset(resp, 0, sizeof *resp);
    if (cc != CURLE_OK) {
        if (x->over_limit || cc == CURLE_FILESIZE_EXCEEDED)
            SET_ERR("%s: the answer is larger than the limit of %zu bytes", x->path, x->max);
        else
            SET_ERR("%s: %s", x->path, x->curl_err[0] ? x->curl_err : curl_easy_strerror(cc));
        return DCF_EIO;
    }
    long code = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
    if (x->len > 0) {
        json_error_t je;
        doc = json_loadb(x->buf, x->len, JSON_REJECT_DUPLICATES, &je);
        if (doc != NULL && dcf_json_too_deep(doc, c->o.max_depth)) {
            json_decref(doc);
            doc = NULL;
            snprintf(je.text, sizeof je.text, "nested deeper than %zu", c->o.max_depth);
        }
        if (doc == NULL && code >= 200 && code < 300) {
            SET_ERR("%s: HTTP %ld with a body that is not JSON (%s)", x->path, code, je.text);
            return DCF_EPARSE;
        }
    }
    resp->status = code;
    resp->body = doc;
    memcpy(resp->etag, x->etag, sizeof resp->etag);
    memcpy(resp->location, x->location, sizeof resp->location);
    resp->retry_after_s = x->retry_after_s;
    return DCF_OK;
}

int dcf_client_new(const char *url, const char *token, const dcf_client_opts_t *opts,
                   dcf_client_t **out) {
    dcf_client_t *c = NULL;
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
    if (c->o.stream_idle_ms <= 0)
        c->o.stream_idle_ms = DCF_CLIENT_DEFAULT_IDLE_MS;
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
        if ((c->auth = malloc(n)) == NULL)
            goto out;
        snprintf(c->auth, n, "Authorization: Bearer %s", token);
    }

    rc = DCF_EIO;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        goto out;
    c->global_init = true;
    if ((rc = xfer_setup(c, &c->x)) != DCF_OK)
        goto out;
    *out = c;
    c = NULL;
    rc = DCF_OK;
out:
    dcf_client_free(c);
    return rc;
}

void dcf_client_free(dcf_client_t *c) {
    if (c == NULL)
        return;
    xfer_cleanup(&c->x);
    if (c->global_init)
        curl_global_cleanup();
    if (c->auth != NULL)
        sodium_memzero(c->auth, strlen(c->auth));
    free(c->auth);
    free(c->url);
    free(c->ca_file);
    free(c->user_agent);
    free(c);
}

const char *dcf_client_url(const dcf_client_t *c) {
    return c->url;
}

int dcf_client_do(dcf_client_t *c, const dcf_client_req_t *req, dcf_client_resp_t *resp, char *err,
                  size_t err_len) {
    if (err != NULL && err_len > 0)
        err[0] = '\0';
    if (resp != NULL)
        memset(resp, 0, sizeof *resp);
    if (c == NULL || req == NULL || resp == NULL)
        return DCF_EINVAL;
    int rc = xfer_prepare(c, &c->x, req, false, err, err_len);
    if (rc == DCF_OK) {
        CURLcode cc = curl_easy_perform(c->x.h);
        rc = xfer_finish(c, &c->x, cc, resp, err, err_len);
    }
    /* The request body belongs to the caller: do not keep a pointer to it. */
    curl_easy_setopt(c->x.h, CURLOPT_POSTFIELDS, (char *)NULL);
    xfer_reset_buffers(&c->x);
    return rc;
}

int dcf_client_get(dcf_client_t *c, const char *path_and_query, long *status, json_t **body,
                   char *err, size_t err_len) {
    dcf_client_resp_t r;
    if (body != NULL)
        *body = NULL;
    if (status == NULL || body == NULL || path_and_query == NULL) {
        SET_ERR("bad request path");
        return DCF_EINVAL;
    }
    dcf_client_req_t req = {.method = "GET", .path = path_and_query};
    int rc = dcf_client_do(c, &req, &r, err, err_len);
    if (rc == DCF_OK) {
        *status = r.status;
        *body = r.body;
    }
    return rc;
}

/* ------------------------------------------------------------ multi -- */

int dcf_client_multi_new(dcf_client_t *c, size_t slots, dcf_client_multi_t **out) {
    dcf_client_multi_t *m = NULL;
    int rc = DCF_EINVAL;
    if (c == NULL || out == NULL || slots == 0 || slots > DCF_CLIENT_MULTI_MAX)
        goto out;
    rc = DCF_ENOMEM;
    if ((m = calloc(1, sizeof *m)) == NULL || (m->x = calloc(slots, sizeof *m->x)) == NULL)
        goto out;
    m->c = c;
    rc = DCF_EIO;
    if ((m->m = curl_multi_init()) == NULL)
        goto out;
    for (size_t i = 0; i < slots; i++) {
        if ((rc = xfer_setup(c, &m->x[i])) != DCF_OK)
            goto out;
        m->slots = i + 1;
    }
    *out = m;
    m = NULL;
    rc = DCF_OK;
out:
    dcf_client_multi_free(m);
    return rc;
}

void dcf_client_multi_free(dcf_client_multi_t *m) {
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->slots; i++) {
        if (m->x[i].busy)
            curl_multi_remove_handle(m->m, m->x[i].h);
        xfer_cleanup(&m->x[i]);
    }
    if (m->m != NULL)
        curl_multi_cleanup(m->m);
    free(m->x);
    free(m);
}

size_t dcf_client_multi_pending(const dcf_client_multi_t *m) {
    return m->pending;
}

int dcf_client_multi_add(dcf_client_multi_t *m, const dcf_client_req_t *req, uint64_t tag) {
    xfer_t *x = NULL;
    for (size_t i = 0; i < m->slots && x == NULL; i++)
        if (!m->x[i].busy)
            x = &m->x[i];
    if (x == NULL)
        return DCF_ELIMIT;
    int rc = xfer_prepare(m->c, x, req, true, NULL, 0);
    if (rc != DCF_OK)
        return rc;
    if (curl_multi_add_handle(m->m, x->h) != CURLM_OK)
        return DCF_EIO;
    x->busy = true;
    x->tag = tag;
    m->pending++;
    return DCF_OK;
}

int dcf_client_multi_wait(dcf_client_multi_t *m, uint64_t *tag, int *xrc, dcf_client_resp_t *resp,
                          char *err, size_t err_len) {
    if (err != NULL && err_len > 0)
        err[0] = '\0';
    memset(resp, 0, sizeof *resp);
    if (m->pending == 0)
        return DCF_ENOENT;
    for (;;) {
        int running = 0, left = 0;
        if (curl_multi_perform(m->m, &running) != CURLM_OK) {
            SET_ERR("the HTTP client failed");
            return DCF_EIO;
        }
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(m->m, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            xfer_t *x = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            CURLcode cc = msg->data.result;
            curl_multi_remove_handle(m->m, x->h);
            x->busy = false;
            m->pending--;
            *tag = x->tag;
            *xrc = xfer_finish(m->c, x, cc, resp, err, err_len);
            curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, (char *)NULL);
            xfer_reset_buffers(x);
            return DCF_OK;
        }
        if (curl_multi_poll(m->m, NULL, 0, 1000, NULL) != CURLM_OK) {
            SET_ERR("the HTTP client failed");
            return DCF_EIO;
        }
    }
}

/* ---------------------------------------------------------- streams -- */

/* How a stream is read: the SSE parser's state (one line and one event at
 * a time, each bounded) and, for a non-2xx answer, the problem body. */
typedef struct {
    xfer_t *x;
    dcf_client_event_cb cb;
    void *arg;
    volatile sig_atomic_t *stop;
    bool checked, ok_status, cb_stopped, too_big, after_cr;
    char *line; /* the line being read */
    size_t line_len, line_cap;
    char *data; /* the event's data lines joined by "\n" */
    size_t data_len, data_cap;
    bool has_data;
    char id[128], event[64];
} sse_t;

static bool grow(char **b, size_t *cap, size_t need) {
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 1024;
    while (n < need)
        n *= 2;
    char *nb = realloc(*b, n);
    if (nb == NULL)
        return false;
    *b = nb;
    *cap = n;
    return true;
}

/* One complete line of the stream (without its end). */
static bool sse_line(sse_t *s, const char *line, size_t n) {
    if (n == 0) { /* end of an event */
        if (s->has_data) {
            s->data[s->data_len] = '\0';
            if (s->cb(s->arg, s->id, s->event[0] ? s->event : "message", s->data) != 0) {
                s->cb_stopped = true;
                return false;
            }
        }
        s->has_data = false;
        s->data_len = 0;
        s->event[0] = '\0';
        return true;
    }
    if (line[0] == ':')
        return true; /* a comment (heartbeat) */
    const char *colon = memchr(line, ':', n);
    size_t fl = colon ? (size_t)(colon - line) : n;
    const char *v = colon ? colon + 1 : line + n;
    size_t vl = colon ? n - fl - 1 : 0;
    if (vl > 0 && *v == ' ')
        v++, vl--;
    if (fl == 4 && memcmp(line, "data", 4) == 0) {
        size_t need = s->data_len + (s->has_data ? 1 : 0) + vl + 1;
        if (need > DCF_CLIENT_EVENT_MAX) {
            s->too_big = true;
            return false;
        }
        if (!grow(&s->data, &s->data_cap, need))
            return false;
        if (s->has_data)
            s->data[s->data_len++] = '\n';
        memcpy(s->data + s->data_len, v, vl);
        s->data_len += vl;
        s->has_data = true;
    } else if (fl == 5 && memcmp(line, "event", 5) == 0) {
        if (vl < sizeof s->event) {
            memcpy(s->event, v, vl);
            s->event[vl] = '\0';
        }
    } else if (fl == 2 && memcmp(line, "id", 2) == 0) {
        if (vl < sizeof s->id && memchr(v, '\0', vl) == NULL) {
            memcpy(s->id, v, vl);
            s->id[vl] = '\0';
        }
    }
    return true;
}

static size_t on_stream(char *data, size_t size, size_t nmemb, void *arg) {
    sse_t *s = arg;
    size_t n = size * nmemb;
    if (!s->checked) {
        long code = 0;
        curl_easy_getinfo(s->x->h, CURLINFO_RESPONSE_CODE, &code);
        s->ok_status = code >= 200 && code < 300;
        s->checked = true;
    }
    if (!s->ok_status)
        return on_body(data, size, nmemb, s->x);
    for (size_t i = 0; i < n; i++) {
        char ch = data[i];
        if (ch == '\n' && s->after_cr) { /* the '\n' of a "\r\n" line end */
            s->after_cr = false;
            continue;
        }
        s->after_cr = ch == '\r';
        if (ch == '\n' || ch == '\r') {
            if (!sse_line(s, s->line ? s->line : "", s->line_len))
                return 0;
            s->line_len = 0;
            continue;
        }
        if (s->line_len + 2 > DCF_CLIENT_EVENT_MAX) {
            s->too_big = true;
            return 0;
        }
        if (!grow(&s->line, &s->line_cap, s->line_len + 2))
            return 0;
        s->line[s->line_len++] = ch;
    }
    return n;
}

static int on_stream_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
                              curl_off_t un) {
    sse_t *s = arg;
    (void)dt, (void)dn, (void)ut, (void)un;
    return (s->stop != NULL && *s->stop) ? 1 : 0;
}

int dcf_client_stream(dcf_client_t *c, const dcf_client_req_t *req, dcf_client_event_cb cb,
                      void *arg, volatile sig_atomic_t *stop, dcf_client_resp_t *resp, char *err,
                      size_t err_len) {
    xfer_t x;
    sse_t s;
    int rc = DCF_EINVAL;
    memset(&s, 0, sizeof s);
    memset(&x, 0, sizeof x);
    if (err != NULL && err_len > 0)
        err[0] = '\0';
    if (resp != NULL)
        memset(resp, 0, sizeof *resp);
    if (c == NULL || req == NULL || cb == NULL || resp == NULL || req->body != NULL)
        return DCF_EINVAL;
    if ((rc = xfer_setup(c, &x)) != DCF_OK)
        goto out;
    s.x = &x;
    s.cb = cb;
    s.arg = arg;
    s.stop = stop;
    dcf_client_req_t r = *req;
    r.method = "GET";
    if ((rc = xfer_prepare(c, &x, &r, false, err, err_len)) != DCF_OK)
        goto out;
    /* A stream has no total timeout; a silent connection (not even the
     * heartbeat comment) for stream_idle_ms is dropped. */
    long idle_s = (c->o.stream_idle_ms + 999) / 1000;
    rc = DCF_EIO;
    if (curl_easy_setopt(x.h, CURLOPT_TIMEOUT_MS, 0L) != CURLE_OK ||
        curl_easy_setopt(x.h, CURLOPT_LOW_SPEED_LIMIT, 1L) != CURLE_OK ||
        curl_easy_setopt(x.h, CURLOPT_LOW_SPEED_TIME, idle_s) != CURLE_OK ||
        curl_easy_setopt(x.h, CURLOPT_WRITEFUNCTION, on_stream) != CURLE_OK ||
        curl_easy_setopt(x.h, CURLOPT_WRITEDATA, &s) != CURLE_OK ||
        curl_easy_setopt(x.h, CURLOPT_NOPROGRESS, 0L) != CURLE_OK ||
        curl_easy_setopt(x.h, CURLOPT_XFERINFOFUNCTION, on_stream_progress) != CURLE_OK ||
        curl_easy_setopt(x.h, CURLOPT_XFERINFODATA, &s) != CURLE_OK) {
        SET_ERR("cannot set up the stream");
        goto out;
    }
    CURLcode cc = curl_easy_perform(x.h);
    bool stopped = (stop != NULL && *stop) || s.cb_stopped;
    if (s.too_big) {
        SET_ERR("%s: an event is larger than %u bytes", x.path, DCF_CLIENT_EVENT_MAX);
        rc = DCF_ELIMIT;
        goto out;
    }
    if (cc != CURLE_OK &&
        !(stopped && (cc == CURLE_ABORTED_BY_CALLBACK || cc == CURLE_WRITE_ERROR))) {
        rc = xfer_finish(c, &x, cc, resp, err, err_len);
        goto out;
    }
    rc = xfer_finish(c, &x, CURLE_OK, resp, err, err_len);
    if (rc == DCF_EPARSE) /* a 2xx stream's "body" is the events, not JSON */
        rc = DCF_OK;
out:
    free(s.line);
    free(s.data);
    xfer_cleanup(&x);
    return rc;
}

int dcf_client_escape(dcf_client_t *c, const char *value, char *out, size_t cap) {
    if (cap == 0)
        return DCF_ELIMIT;
    out[0] = '\0';
    char *e = curl_easy_escape(c->x.h, value, 0);
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
