/*
 * server.c -- the HTTP layer's daemon and the life of one request.
 *
 * HOW A REQUEST FLOWS.  libmicrohttpd calls on_access() several times per
 * request, always on the same pool thread:
 *
 *   1st call   (headers read)  create the dcf_http_req_t (request id, clock,
 *              query arguments), then answer without reading the body when
 *              the path is too long (414), no route matches (404, 405 +
 *              Allow), a JSON route gets another Content-Type (415) or
 *              Content-Length exceeds max_body (413).  Such an answer is
 *              queued at once when a body was announced (libmicrohttpd then
 *              skips the body and closes), else on the last call.
 *   next calls (body bytes)    append to the body up to max_body; past it
 *              (or when memory runs out), count and discard: chunked uploads
 *              reveal their size late.
 *   last call  (body complete) 413 if the body was too large, else run the
 *              route's handler, then queue whatever it replied (a 500
 *              problem if nothing).
 *
 * A handler may defer (dcf_http_req_defer): after it returns, after_handler()
 * suspends the connection unless the resume already came; the resume
 * (any thread) resumes it, libmicrohttpd calls on_access() once more, and
 * the continuation runs there and replies.  Once dcf_http_stop has begun
 * (`stopping`), a deferring handler's thread waits for its resume instead
 * of suspending, and the stop waits until every deferred request has
 * completed, so no suspended connection or unsent answer outlives the wait.
 *
 * Every answer goes through finish(): count it in the metrics, hand it to
 * libmicrohttpd, drop our reference.  on_completed() (the request is over,
 * whatever the reason) writes the access-log line and frees the request.
 *
 * The raw path is kept: libmicrohttpd's URL unescaping is replaced by the
 * identity, so the router sees percent-encoded segments and decodes only
 * parameter values (a "%2F" inside a parameter can then be told from a
 * '/').  Query arguments are decoded here instead.
 *
 * Callers: the program's serve command and tests, from any thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http_int.h"

int64_t dcf__http_elapsed_us(const struct timespec *t0) {
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - t0->tv_sec) * 1000000 + (now.tv_nsec - t0->tv_nsec) / 1000;
}

/* ------------------------------------------------------------ address -- */

/* "a.b.c.d:port" or "[v6]:port" -> sockaddr.  Returns NULL or the rule. */
static const char *parse_listen(const char *s, struct sockaddr_storage *ss, bool *v6) {
    char host[64];
    const char *port;
    size_t hlen;
    unsigned long pnum = 0;

    memset(ss, 0, sizeof(*ss));
    if (s == NULL || *s == '\0')
        return "empty";
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL || end[1] != ':')
            return "expected [IPv6]:port";
        hlen = (size_t)(end - s - 1);
        if (hlen >= sizeof(host))
            return "address too long";
        memcpy(host, s + 1, hlen);
        port = end + 2;
        *v6 = true;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon == NULL)
            return "expected host:port";
        hlen = (size_t)(colon - s);
        if (hlen >= sizeof(host))
            return "address too long";
        memcpy(host, s, hlen);
        port = colon + 1;
        *v6 = false;
    }
    host[hlen] = '\0';
    if (*port == '\0' || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port))
        return "the port must be a number 0..65535";
    pnum = strtoul(port, NULL, 10);
    if (pnum > 65535)
        return "the port must be a number 0..65535";
    if (*v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)pnum);
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
            return "not a numeric IPv6 address";
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)pnum);
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
            return "not a numeric IPv4 address (IPv6 goes in brackets)";
    }
    return NULL;
}

/* libmicrohttpd refused to start: find out whether binding is the reason. */
static int diagnose_start(const struct sockaddr_storage *ss, bool v6, const dcf_http_opts_t *o,
                          char *err, size_t errlen) {
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    int one = 1, e = 0;

    if (fd < 0) {
        snprintf(err, errlen, "listen %s: socket: %s", o->listen, strerror(errno));
        return DCF_EIO;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (v6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)ss,
             v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) != 0)
        e = errno;
    close(fd);
    if (e != 0)
        snprintf(err, errlen, "listen %s: %s", o->listen, strerror(e));
    else if (o->tls_cert_pem != NULL)
        snprintf(err, errlen, "listen %s: libmicrohttpd refused to start (TLS key or certificate?)",
                 o->listen);
    else
        snprintf(err, errlen, "listen %s: libmicrohttpd refused to start", o->listen);
    return DCF_EIO;
}

/* ------------------------------------------------------------ request -- */

static void req_free(dcf_http_req_t *r) {
    if (r == NULL)
        return;
    if (r->resp != NULL)
        MHD_destroy_response(r->resp);
    dcf__http_match_clear(&r->match);
    for (size_t i = 0; i < r->n_query; i++) {
        free(r->query[i].key);
        free(r->query[i].value);
    }
    free(r->query);
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->headers[i].key);
        free(r->headers[i].value);
    }
    for (size_t i = 0; i < r->n_log; i++) {
        free(r->log[i].key);
        free(r->log[i].value);
    }
    free(r->body);
    free(r->path);
    free(r);
}

typedef struct {
    dcf_http_req_t *r;
    bool failed;
} query_ctx_t;

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value) {
    query_ctx_t *q = cls;
    dcf_http_req_t *r = q->r;
    dcf__http_kv_t *grown;
    char *k = NULL, *v = NULL;

    (void)kind;
    grown = realloc(r->query, (r->n_query + 1) * sizeof(*grown));
    if (grown == NULL)
        goto fail;
    r->query = grown;
    /* '+' was already turned into ' ' by libmicrohttpd; a malformed escape
     * is kept as it came rather than failing the request. */
    if (dcf__http_pct_decode(key, strlen(key), &k, NULL) == DCF_EPARSE)
        k = strdup(key);
    if (value == NULL)
        v = strdup("");
    else if (dcf__http_pct_decode(value, strlen(value), &v, NULL) == DCF_EPARSE)
        v = strdup(value);
    if (k == NULL || v == NULL)
        goto fail;
    r->query[r->n_query++] = (dcf__http_kv_t){.key = k, .value = v};
    return MHD_YES;
fail:
    free(k);
    free(v);
    q->failed = true;
    return MHD_NO;
}

static bool addr_is_loopback(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && a->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}

static dcf_http_req_t *req_new(dcf_http_t *h, struct MHD_Connection *conn, const char *url,
                               const char *method) {
    dcf_http_req_t *r = calloc(1, sizeof(*r));
    unsigned char raw[DCF_HTTP_REQID_LEN / 2];
    size_t ulen = strlen(url);
    query_ctx_t q;

    if (r == NULL)
        return NULL;
    r->h = h;
    r->conn = conn;
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    snprintf(r->method, sizeof(r->method), "%s", method);
    r->path = strndup(url, ulen > DCF_HTTP_PATH_MAX ? DCF_HTTP_PATH_MAX : ulen);
    r->match.route = -1;
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(r->id, sizeof(r->id), raw, sizeof(raw));
    r->loopback = addr_is_loopback(conn);
    q = (query_ctx_t){.r = r};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_query, &q);
    if (r->path == NULL || q.failed) {
        req_free(r);
        return NULL;
    }
    return r;
}

/* The media type of Content-Type, parameters ignored, is application/json. */
static bool is_json_content(dcf_http_req_t *r) {
    const char *ct = dcf_http_req_header(r, "Content-Type");
    static const char want[] = "application/json";
    size_t n;

    if (ct == NULL)
        return false;
    ct += strspn(ct, " \t");
    n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    return n == sizeof(want) - 1 && strncasecmp(ct, want, n) == 0;
}

/* Hand the reply to libmicrohttpd; a request without one gets a 500. */
static enum MHD_Result finish(dcf_http_req_t *r) {
    dcf_http_t *h = r->h;
    enum MHD_Result ret;

    if (r->resp == NULL) {
        if (!r->replied)
            dcf__http_log_event(h, "error", "handler bug", r, "returned without replying");
        for (size_t i = 0; i < r->n_headers; i++) {
            free(r->headers[i].key);
            free(r->headers[i].value);
        }
        r->n_headers = 0;
        r->replied = false;
        dcf__http_problem(r, 500, "internal", "the request could not be answered");
        if (r->resp == NULL)
            return MHD_NO; /* out of memory: libmicrohttpd closes the connection */
    }
    dcf__http_metrics_record(h, r->match.route, r->method, r->status, dcf__http_elapsed_us(&r->t0));
    ret = MHD_queue_response(r->conn, r->status, r->resp);
    MHD_destroy_response(r->resp); /* libmicrohttpd holds its own reference */
    r->resp = NULL;
    r->queued = true;
    return ret;
}

/* First call: everything that can be answered before reading the body. */
static bool answer_early(dcf_http_req_t *r, const char *url) {
    dcf_http_t *h = r->h;
    const dcf_http_route_t *rt;
    const char *cl;
    char detail[160];

    if (strlen(url) > DCF_HTTP_PATH_MAX) {
        snprintf(detail, sizeof(detail), "the path is longer than %d bytes", DCF_HTTP_PATH_MAX);
        dcf__http_problem(r, 414, "uri-too-long", detail);
        return true;
    }
    if (dcf__http_route_match(h->routes, h->n_routes, r->method, r->path, &r->match) != DCF_OK) {
        dcf__http_problem(r, 500, "internal", "out of memory");
        return true;
    }
    if (r->match.status == 404) {
        dcf__http_problem(r, 404, "not-found", "no resource at this path");
        return true;
    }
    if (r->match.status == 405) {
        dcf_http_set_header(r, "Allow", r->match.allow);
        snprintf(detail, sizeof(detail), "this path allows %s", r->match.allow);
        dcf__http_problem(r, 405, "method-not-allowed", detail);
        return true;
    }
    rt = h->routes[r->match.route].route;
    if ((rt->flags & DCF_HTTP_JSON_BODY) && !is_json_content(r)) {
        dcf__http_problem(r, 415, "unsupported-media-type",
                          "the body must be sent as Content-Type: application/json");
        return true;
    }
    cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl != NULL && strtoull(cl, NULL, 10) > h->opts.max_body) {
        snprintf(detail, sizeof(detail), "the body is larger than %zu bytes", h->opts.max_body);
        dcf__http_problem(r, 413, "payload-too-large", detail);
        return true;
    }
    return false;
}

/* Does the request announce a body (RFC 9112 section 6.3)? */
static bool has_body(struct MHD_Connection *conn) {
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);

    return te != NULL || (cl != NULL && strtoull(cl, NULL, 10) > 0);
}

static void body_append(dcf_http_req_t *r, const char *data, size_t n) {
    size_t max = r->h->opts.max_body;

    r->bytes_in += n;
    if (r->body_too_large || r->body_oom)
        return;
    if (n > max - r->body_len) {
        r->body_too_large = true;
        free(r->body);
        r->body = NULL;
        r->body_len = r->body_cap = 0;
        return;
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap * 2 : 4096;
        char *grown;

        if (cap < r->body_len + n + 1)
            cap = r->body_len + n + 1;
        if (cap > max + 1)
            cap = max + 1;
        grown = realloc(r->body, cap);
        if (grown == NULL) { /* never half a body: discard the rest, answer 500 */
            r->body_oom = true;
            free(r->body);
            r->body = NULL;
            r->body_len = r->body_cap = 0;
            return;
        }
        r->body = grown;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
}

static enum MHD_Result after_handler(dcf_http_req_t *r);

/* Wait for r's resume (it may have come already) and run its
 * continuation once. */
static void call_continuation(dcf_http_req_t *r) {
    dcf_http_t *h = r->h;

    pthread_mutex_lock(&h->mu);
    while (!r->resumed)
        pthread_cond_wait(&h->resume_cv, &h->mu);
    r->resumed = false; /* spent */
    pthread_mutex_unlock(&h->mu);
    r->deferred = false;
    r->cont(h->opts.app, r, r->cont_arg);
}

/* The resume came: run the continuation (it may defer again). */
static enum MHD_Result run_continuation(dcf_http_req_t *r) {
    call_continuation(r);
    return after_handler(r);
}

/* After the handler (or a continuation) returned: queue its reply, or
 * suspend a deferred request until its resume. */
static enum MHD_Result after_handler(dcf_http_req_t *r) {
    dcf_http_t *h = r->h;

    if (!r->deferred)
        return finish(r);
    pthread_mutex_lock(&h->mu);
    while (!r->resumed && h->stopping)
        pthread_cond_wait(&h->resume_cv, &h->mu);
    if (!r->resumed) {
        r->suspended = true;
        MHD_suspend_connection(r->conn);
        pthread_mutex_unlock(&h->mu);
        return MHD_YES;
    }
    pthread_mutex_unlock(&h->mu);
    return run_continuation(r);
}

void dcf_http_req_defer(dcf_http_req_t *r, dcf_http_resume_fn fn, void *arg) {
    if (r->deferred || r->replied || fn == NULL) {
        dcf__http_log_event(r->h, "error", "handler bug", r, "bad dcf_http_req_defer");
        return;
    }
    r->cont = fn;
    r->cont_arg = arg;
    r->deferred = true;
    if (!r->counted) { /* counted until the request completes (on_completed) */
        r->counted = true;
        pthread_mutex_lock(&r->h->mu);
        r->h->deferred_open++;
        pthread_mutex_unlock(&r->h->mu);
    }
}

/* The resume syscall runs after letting go of mu (see
 * dcf_http_stream_wake): until it does, the connection stays suspended, so
 * the continuation cannot run and r cannot go away, and dcf_http_stop
 * waits for the continuation before it stops libmicrohttpd. */
void dcf_http_req_resume(dcf_http_req_t *r) {
    dcf_http_t *h = r->h;
    struct MHD_Connection *conn = NULL;

    pthread_mutex_lock(&h->mu);
    r->resumed = true;
    if (r->suspended) {
        r->suspended = false;
        conn = r->conn;
    }
    pthread_cond_broadcast(&h->resume_cv);
    pthread_mutex_unlock(&h->mu);
    if (conn != NULL)
        MHD_resume_connection(conn);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls) {
    dcf_http_t *h = cls;
    dcf_http_req_t *r = *con_cls;
    char detail[96];

    (void)version;
    if (r == NULL) {
        r = req_new(h, conn, url, method);
        if (r == NULL)
            return MHD_NO; /* out of memory: close the connection */
        *con_cls = r;
        /* An early answer to a request with a body goes out now, so the
         * body is never read (libmicrohttpd then closes the connection);
         * without a body it waits for the last call and keeps the
         * connection alive. */
        if (answer_early(r, url) && has_body(conn))
            return finish(r);
        return MHD_YES;
    }
    if (r->queued)
        return MHD_YES;
    if (r->deferred) /* called again after the resume */
        return run_continuation(r);
    if (r->replied)
        return finish(r); /* the early answer to a request without a body */
    if (*upload_data_size != 0) {
        body_append(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->body_too_large) {
        snprintf(detail, sizeof(detail), "the body is larger than %zu bytes", h->opts.max_body);
        dcf__http_problem(r, 413, "payload-too-large", detail);
        return finish(r);
    }
    if (r->body_oom) {
        dcf__http_problem(r, 500, "internal", "out of memory reading the body");
        return finish(r);
    }
    h->routes[r->match.route].route->fn(h->opts.app, r);
    return after_handler(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode tc) {
    dcf_http_t *h = cls;
    dcf_http_req_t *r = *con_cls;

    (void)conn;
    if (r == NULL)
        return;
    *con_cls = NULL;
    /* The client left while its request was deferred (libmicrohttpd found
     * the socket closed on resuming it): every continuation still runs
     * exactly once, so the application can release what it holds; the
     * reply goes nowhere. */
    while (r->deferred) {
        call_continuation(r);
        if (r->resp != NULL) {
            MHD_destroy_response(r->resp);
            r->resp = NULL;
        }
    }
    pthread_mutex_lock(&h->mu);
    if (r->counted) { /* a deferred request is over: its answer went out, or nowhere */
        h->deferred_open--;
        pthread_cond_broadcast(&h->resume_cv);
    }
    if (r->stream != NULL) { /* the stream outlives us: take its count now */
        r->bytes_out += r->stream->bytes_out;
        r->stream->bytes_out = 0;
        r->stream->req = NULL;
        r->stream = NULL;
    }
    pthread_mutex_unlock(&h->mu);
    dcf__http_log_request(h, r, tc);
    req_free(r);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code) {
    dcf_http_t *h = cls;

    (void)conn;
    (void)socket_ctx;
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        atomic_fetch_add(&h->connections, 1);
    else
        atomic_fetch_sub(&h->connections, 1);
}

/* Keep the path as it came; see the file comment. */
static size_t unescape_identity(void *cls, struct MHD_Connection *c, char *s) {
    (void)cls;
    (void)c;
    return strlen(s);
}

/* ------------------------------------------------------------- daemon -- */

int dcf_http_start(const dcf_http_opts_t *opts, dcf_http_t **out, char *err, size_t errlen) {
    char scratch[8];
    dcf_http_t *h = NULL;
    struct sockaddr_storage ss;
    bool v6 = false, mu_ok = false, mmu_ok = false, cv_ok = false;
    const char *why;
    unsigned flags;
    int rc = DCF_EINVAL;

    if (err == NULL) {
        err = scratch;
        errlen = sizeof(scratch);
    }
    if (errlen)
        err[0] = '\0';
    if (opts == NULL || out == NULL) {
        snprintf(err, errlen, "opts and out are required");
        goto out;
    }
    if ((why = parse_listen(opts->listen, &ss, &v6)) != NULL) {
        snprintf(err, errlen, "listen \"%s\": %s", opts->listen ? opts->listen : "", why);
        goto out;
    }
    if ((opts->tls_cert_pem == NULL) != (opts->tls_key_pem == NULL)) {
        snprintf(err, errlen, "TLS needs both a certificate and a key");
        goto out;
    }
    if (opts->threads > DCF_HTTP_THREADS_MAX) {
        snprintf(err, errlen, "threads: %u is above the maximum %d", opts->threads,
                 DCF_HTTP_THREADS_MAX);
        goto out;
    }
    if (sodium_init() < 0) {
        rc = DCF_EINTERNAL;
        snprintf(err, errlen, "libsodium failed to initialise");
        goto out;
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        rc = DCF_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    h->opts = *opts;
    if (h->opts.threads == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        h->opts.threads = cpus < 1                      ? 1
                          : cpus > DCF_HTTP_THREADS_MAX ? DCF_HTTP_THREADS_MAX
                                                        : (unsigned)cpus;
    }
    if (h->opts.max_connections == 0)
        h->opts.max_connections = 1024;
    if (h->opts.max_body == 0)
        h->opts.max_body = 1u << 20;
    if (h->opts.timeout_s == 0)
        h->opts.timeout_s = 60;
    /* Streams may take three quarters of the connections; the rest stay
     * for ordinary requests. */
    h->streams_max = h->opts.max_connections - h->opts.max_connections / 4;
    if (h->streams_max == 0)
        h->streams_max = 1;
    h->tls = opts->tls_cert_pem != NULL;
    atomic_init(&h->connections, 0);

    rc = dcf__http_routes_compile(opts->routes, opts->n_routes, &h->routes, err, errlen);
    if (rc != DCF_OK)
        goto out;
    h->n_routes = opts->n_routes;
    rc = DCF_ENOMEM;
    if (pthread_mutex_init(&h->mu, NULL) != 0)
        goto out;
    mu_ok = true;
    if (pthread_cond_init(&h->resume_cv, NULL) != 0)
        goto out;
    cv_ok = true;
    if (pthread_mutex_init(&h->metrics_mu, NULL) != 0)
        goto out;
    mmu_ok = true;
    if (dcf__http_metrics_init(h) != DCF_OK)
        goto out;

    struct MHD_OptionItem o[16];
    size_t n = 0;
    if (h->opts.log != NULL) /* first, so that every message goes to the log */
        o[n++] =
            (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)dcf__http_log_mhd, h};
    o[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
    o[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, h->opts.max_connections, NULL};
    o[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, h->opts.timeout_s, NULL};
    if (h->opts.threads > 1)
        o[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, h->opts.threads, NULL};
    o[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, h};
    o[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, h};
    o[n++] =
        (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape_identity, NULL};
    if (h->tls) {
        o[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)opts->tls_key_pem};
        o[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)opts->tls_cert_pem};
    }
    o[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

    flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME;
    if (v6)
        flags |= MHD_USE_IPv6;
    if (h->tls)
        flags |= MHD_USE_TLS;
    if (h->opts.log != NULL)
        flags |= MHD_USE_ERROR_LOG;
    h->mhd =
        MHD_start_daemon(flags, 0, NULL, NULL, on_access, h, MHD_OPTION_ARRAY, o, MHD_OPTION_END);
    if (h->mhd == NULL) {
        rc = diagnose_start(&ss, v6, opts, err, errlen);
        goto out;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : 0;
    *out = h;
    h = NULL;
    rc = DCF_OK;
out:
    if (h != NULL) {
        dcf__http_metrics_free(h);
        if (mmu_ok)
            pthread_mutex_destroy(&h->metrics_mu);
        if (cv_ok)
            pthread_cond_destroy(&h->resume_cv);
        if (mu_ok)
            pthread_mutex_destroy(&h->mu);
        free(h->routes);
        free(h);
    }
    if (rc == DCF_ENOMEM && errlen && err[0] == '\0')
        snprintf(err, errlen, "out of memory");
    return rc;
}

uint16_t dcf_http_port(const dcf_http_t *h) {
    return h ? h->port : 0;
}

void dcf_http_stop(dcf_http_t *h) {
    if (h == NULL)
        return;
    /* No suspended connection may be left when libmicrohttpd stops: resume
     * them all and forbid new suspensions; their readers end the streams. */
    dcf__http_streams_shutdown(h);
    /* Deferred requests: from now on none suspends (after_handler waits
     * instead); wait until every one has completed -- its answer sent, or
     * its client gone -- so each gets its answer (libmicrohttpd would close
     * a connection resumed or answered during its stop). */
    pthread_mutex_lock(&h->mu);
    while (h->deferred_open > 0 || h->waking > 0)
        pthread_cond_wait(&h->resume_cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
    MHD_stop_daemon(h->mhd); /* joins the pool: handlers done, streams closed */
    dcf__http_metrics_free(h);
    pthread_mutex_destroy(&h->metrics_mu);
    pthread_cond_destroy(&h->resume_cv);
    pthread_mutex_destroy(&h->mu);
    free(h->routes);
    free(h);
}
