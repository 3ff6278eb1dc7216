/*
 * test_http.c -- the HTTP layer against a real libcurl client on loopback.
 *
 * A small route table on 127.0.0.1:0; then routing (literal beats
 * parameter, percent-decoding, rejected decoded '/'), query arguments, the
 * router's problems (404, 405 + Allow, 413 by Content-Length and by chunked
 * upload, 414, 415), JSON echo, handler headers, X-Request-Id on every
 * answer, handler bugs (no reply, two replies), the access log (one valid
 * JSON line per request, matched by request id), exact metric counts, an
 * event stream (events in order, wake by tag, close exactly once after the
 * client leaves, after read -1 and at stop), 8 threads x 200 requests,
 * stop + restart on the same port, start-up errors, TLS (when the openssl
 * program exists) and IPv6 (when ::1 is available).
 *
 * Every client call has a timeout, every wait a deadline: the test cannot
 * hang.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "deconflict/http.h"
#include "test.h"

#define MAX_BODY 4096

/* ----------------------------------------------------------- the app -- */

typedef struct {
    pthread_mutex_t mu;
    int produced; /* events every stream may send */
    bool end;     /* streams' read returns -1 */
    atomic_int opened, closed;
} app_t;

typedef struct {
    app_t *app;
    int sent;
} sub_t;

static ssize_t sub_read(void *arg, char *buf, size_t max) {
    sub_t *s = arg;
    ssize_t n = 0;

    pthread_mutex_lock(&s->app->mu);
    if (s->app->end)
        n = -1;
    else if (s->sent < s->app->produced)
        n = snprintf(buf, max, "data: %d\n\n", ++s->sent);
    pthread_mutex_unlock(&s->app->mu);
    return n;
}

static void sub_close(void *arg) {
    sub_t *s = arg;
    atomic_fetch_add(&s->app->closed, 1);
    free(s);
}

static const dcf_http_stream_ops_t sub_ops = {sub_read, sub_close};

static void h_item(void *app, dcf_http_req_t *r) {
    const char *q = dcf_http_req_query(r, "q");
    (void)app;
    dcf_http_set_header(r, "X-Test", "yes");
    dcf_http_req_log(r, "item", dcf_http_req_param(r, "id"));
    dcf_http_reply_json(r, 200,
                        json_pack("{s:s, s:o, s:s, s:s}", "id", dcf_http_req_param(r, "id"), "q",
                                  q ? json_string(q) : json_null(), "route", dcf_http_req_route(r),
                                  "path", dcf_http_req_path(r)));
}

static void h_part(void *app, dcf_http_req_t *r) {
    (void)app;
    dcf_http_reply_json(r, 200,
                        json_pack("{s:s, s:s}", "id", dcf_http_req_param(r, "id"), "part",
                                  dcf_http_req_param(r, "part")));
}

static void h_special(void *app, dcf_http_req_t *r) {
    (void)app;
    dcf_http_reply_json(r, 200, json_pack("{s:b}", "special", 1));
}

static void h_echo(void *app, dcf_http_req_t *r) {
    size_t len;
    const char *body = dcf_http_req_body(r, &len);
    json_error_t e;
    json_t *j = json_loadb(body, len, 0, &e);

    (void)app;
    if (j == NULL) {
        dcf_http_reply_problem(r, 400, "validation", "Bad Request", e.text,
                               json_pack("[{s:s, s:s}]", "pointer", "", "rule", "json"));
        return;
    }
    dcf_http_reply_json(r, 201, json_pack("{s:o}", "echo", j));
}

static void h_noreply(void *app, dcf_http_req_t *r) {
    (void)app;
    dcf_http_set_header(r, "X-Lost", "1");
}

static void h_twice(void *app, dcf_http_req_t *r) {
    (void)app;
    dcf_http_reply(r, 200, "text/plain", "first", 5);
    dcf_http_reply(r, 202, "text/plain", "second", 6);
    dcf_http_set_header(r, "X-Late", "1");
}

static void add_kv(void *arg, const char *k, const char *v) {
    json_object_set_new(arg, k, json_string(v));
}

static void h_query(void *app, dcf_http_req_t *r) {
    json_t *o = json_object();
    (void)app;
    dcf_http_req_query_each(r, add_kv, o);
    dcf_http_reply_json(r, 200, o);
}

static void h_info(void *app, dcf_http_req_t *r) {
    const char *c = dcf_http_req_header(r, "x-custom");
    (void)app;
    dcf_http_reply_json(r, 200,
                        json_pack("{s:b, s:s, s:o, s:s}", "tls", dcf_http_req_is_tls(r), "id",
                                  dcf_http_req_id(r), "custom", c ? json_string(c) : json_null(),
                                  "method", dcf_http_req_method(r)));
}

static void h_events(void *app, dcf_http_req_t *r) {
    app_t *a = app;
    const char *t = dcf_http_req_query(r, "tag");
    sub_t *s = calloc(1, sizeof(*s));

    s->app = a;
    atomic_fetch_add(&a->opened, 1);
    dcf_http_reply_stream(r, t ? strtoull(t, NULL, 10) : 7, &sub_ops, s);
}

/* A problem with extension members, one of which tries to replace "status". */
static void h_extra(void *app, dcf_http_req_t *r) {
    (void)app;
    dcf_http_reply_problem_extra(r, 409, "conflict", "Refused", "one conflict", NULL,
                                 json_pack("{s:[i], s:i}", "conflicts", 7, "status", 200));
}

static void h_odd(void *app, dcf_http_req_t *r) {
    (void)app;
    dcf_http_reply(r, 204, NULL, NULL, 0);
}

static const dcf_http_route_t ROUTES[] = {
    {"GET", "/v1/items/{id}", h_item, 0},
    {"GET", "/v1/items/special", h_special, 0},
    {"GET", "/v1/items/{id}/parts/{part}", h_part, 0},
    {"POST", "/v1/echo", h_echo, DCF_HTTP_JSON_BODY},
    {"PUT", "/v1/echo", h_echo, DCF_HTTP_JSON_BODY},
    {"GET", "/v1/noreply", h_noreply, 0},
    {"GET", "/v1/twice", h_twice, 0},
    {"GET", "/v1/extra", h_extra, 0},
    {"GET", "/v1/query", h_query, 0},
    {"GET", "/v1/info", h_info, 0},
    {"GET", "/v1/events", h_events, 0},
    {"GET", "/v1/odd\"\\", h_odd, 0},
    {"GET", "/", h_special, 0},
};
#define N_ROUTES (sizeof(ROUTES) / sizeof(ROUTES[0]))

static app_t app = {.mu = PTHREAD_MUTEX_INITIALIZER};

static dcf_http_t *start(const char *listen, unsigned threads, FILE *log) {
    dcf_http_opts_t o = {.listen = listen,
                         .threads = threads,
                         .max_body = MAX_BODY,
                         .timeout_s = 30,
                         .log = log,
                         .routes = ROUTES,
                         .n_routes = N_ROUTES,
                         .app = &app};
    char err[256];
    dcf_http_t *h = NULL;
    int rc = dcf_http_start(&o, &h, err, sizeof(err));

    CHECK_MSG(rc == DCF_OK, "start %s: %d %s", listen, rc, err);
    return rc == DCF_OK ? h : NULL;
}

/* ------------------------------------------------------------ client -- */

typedef struct {
    long status;
    char *body;
    size_t len;
    char reqid[64], allow[128], ctype[128], xtest[16], xlost[16], xlate[16];
} resp_t;

static size_t on_body(char *p, size_t sz, size_t n, void *arg) {
    resp_t *r = arg;
    char *grown = realloc(r->body, r->len + sz * n + 1);
    if (grown == NULL)
        return 0;
    r->body = grown;
    memcpy(r->body + r->len, p, sz * n);
    r->len += sz * n;
    r->body[r->len] = '\0';
    return sz * n;
}

static void grab(const char *line, size_t n, const char *name, char *dst, size_t cap) {
    size_t nl = strlen(name);
    if (n > nl + 1 && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
        const char *v = line + nl + 1;
        size_t len = n - nl - 1;
        while (len && (*v == ' '))
            v++, len--;
        while (len && (v[len - 1] == '\r' || v[len - 1] == '\n'))
            len--;
        snprintf(dst, cap, "%.*s", (int)len, v);
    }
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg) {
    resp_t *r = arg;
    size_t len = sz * n;
    grab(p, len, "X-Request-Id", r->reqid, sizeof(r->reqid));
    grab(p, len, "Allow", r->allow, sizeof(r->allow));
    grab(p, len, "Content-Type", r->ctype, sizeof(r->ctype));
    grab(p, len, "X-Test", r->xtest, sizeof(r->xtest));
    grab(p, len, "X-Lost", r->xlost, sizeof(r->xlost));
    grab(p, len, "X-Late", r->xlate, sizeof(r->xlate));
    return len;
}

typedef struct {
    const char *data;
    size_t len, off;
} upload_t;

static size_t on_upload(char *buf, size_t sz, size_t n, void *arg) {
    upload_t *u = arg;
    size_t k = u->len - u->off < sz * n ? u->len - u->off : sz * n;
    memcpy(buf, u->data + u->off, k);
    u->off += k;
    return k;
}

static uint16_t port;
static const char *scheme = "http";
static const char *cafile;
static atomic_int n_requests; /* requests made against the current server */

/* One request; body sent with Content-Length unless chunked. */
static CURLcode request(CURL *c, const char *method, const char *path, const char *ctype,
                        const char *body, size_t blen, bool chunked, resp_t *out) {
    char url[4096];
    struct curl_slist *hdrs = NULL;
    upload_t up = {body, blen, 0};
    CURLcode rc;

    memset(out, 0, sizeof(*out));
    snprintf(url, sizeof(url), "%s://127.0.0.1:%u%s", scheme, port, path);
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    if (cafile != NULL) {
        curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
    }
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (ctype != NULL) {
        char h[256];
        snprintf(h, sizeof(h), "Content-Type: %s", ctype);
        hdrs = curl_slist_append(hdrs, h);
    }
    hdrs = curl_slist_append(hdrs, "X-Custom: custom value");
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_upload);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
        if (chunked)
            hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
        else
            curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)blen);
        hdrs = curl_slist_append(hdrs, "Expect:");
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hdrs);
    n_requests++;
    return rc;
}

/* A string member, or "" when absent. */
static const char *jstr(const json_t *o, const char *key) {
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

static bool is_hex16(const char *s) {
    return strlen(s) == 16 && strspn(s, "0123456789abcdef") == 16;
}

/* A request that must succeed at the transport level, with the checks
 * every answer must pass. */
static json_t *call(CURL *c, const char *method, const char *path, const char *ctype,
                    const char *body, long want, resp_t *out) {
    CURLcode rc = request(c, method, path, ctype, body, body ? strlen(body) : 0, false, out);
    json_t *j = NULL;

    CHECK_MSG(rc == CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
    CHECK_MSG(out->status == want, "%s %.80s: status %ld, want %ld (%s)", method, path, out->status,
              want, out->body ? out->body : "");
    CHECK_MSG(is_hex16(out->reqid), "%s %.80s: X-Request-Id \"%s\"", method, path, out->reqid);
    if (out->body != NULL)
        j = json_loads(out->body, 0, NULL);
    return j;
}

/* The problem document checks shared by every router answer. */
static void check_problem(json_t *j, const resp_t *r, long status, const char *type,
                          const char *instance) {
    char want_type[128];

    snprintf(want_type, sizeof(want_type), "https://deconflict.dev/problems/%s", type);
    CHECK_STR(r->ctype, "application/problem+json");
    CHECK_MSG(json_is_object(j), "not a JSON object: %s", r->body ? r->body : "(none)");
    if (!json_is_object(j))
        return;
    CHECK_STR(jstr(j, "type"), want_type);
    CHECK_INT(json_integer_value(json_object_get(j, "status")), status);
    CHECK(json_is_string(json_object_get(j, "title")));
    CHECK_STR(jstr(j, "instance"), instance);
    CHECK_STR(jstr(j, "request_id"), r->reqid);
}

static void resp_free(resp_t *r) {
    free(r->body);
    r->body = NULL;
}

/* Raw bytes over TCP (for request targets libcurl would rewrite).  The
 * whole answer, headers and body, lands in raw_answer. */
static char raw_answer[4096];

static long raw_get(const char *target, char *reqid, size_t cap) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    char req[512], *buf = raw_answer;
    const size_t bufsize = sizeof(raw_answer);
    size_t got = 0;
    ssize_t n;
    long status = -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 10};

    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target);
    if (write(fd, req, strlen(req)) < 0) {
        close(fd);
        return -1;
    }
    while (got < bufsize - 1 && (n = read(fd, buf + got, bufsize - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    close(fd);
    sscanf(buf, "HTTP/1.1 %ld", &status);
    const char *id = strstr(buf, "X-Request-Id: ");
    if (id && reqid)
        snprintf(reqid, cap, "%.16s", id + 14);
    n_requests++;
    return status;
}

/* ------------------------------------------------------------- waits -- */

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Poll cond(arg) every 5 ms for up to 10 s. */
static bool wait_for(bool (*cond)(void *), void *arg) {
    for (int i = 0; i < 2000; i++) {
        if (cond(arg))
            return true;
        sleep_ms(5);
    }
    return cond(arg);
}

/* ------------------------------------------------------------- tests -- */

typedef struct {
    char id[17];
    long status;
} seen_t;
static seen_t seen[256];
static size_t n_seen;

static void remember(const resp_t *r) {
    if (n_seen < sizeof(seen) / sizeof(seen[0]) && is_hex16(r->reqid)) {
        memcpy(seen[n_seen].id, r->reqid, sizeof(seen[n_seen].id)); /* 16 hex + NUL */
        seen[n_seen++].status = r->status;
    }
}

static void test_routing(CURL *c) {
    resp_t r;
    json_t *j;

    j = call(c, "GET", "/v1/items/abc%20def?q=hello%20world&x=1+2", NULL, NULL, 200, &r);
    CHECK_STR(jstr(j, "id"), "abc def");
    CHECK_STR(jstr(j, "q"), "hello world");
    CHECK_STR(jstr(j, "route"), "/v1/items/{id}");
    CHECK_STR(jstr(j, "path"), "/v1/items/abc%20def");
    CHECK_STR(r.xtest, "yes");
    CHECK_STR(r.ctype, "application/json");
    remember(&r);
    json_decref(j);
    resp_free(&r);

    j = call(c, "GET", "/v1/items/special", NULL, NULL, 200, &r);
    CHECK(json_is_true(json_object_get(j, "special")));
    json_decref(j);
    resp_free(&r);

    j = call(c, "GET", "/v1/items/a%2bb/parts/%C3%A9t%C3%A9", NULL, NULL, 200, &r);
    CHECK_STR(jstr(j, "id"), "a+b");
    CHECK_STR(jstr(j, "part"), "été");
    json_decref(j);
    resp_free(&r);

    j = call(c, "GET", "/", NULL, NULL, 200, &r);
    CHECK(json_is_true(json_object_get(j, "special")));
    json_decref(j);
    resp_free(&r);

    /* not found: no route, decoded '/', NUL, a malformed escape, empty
     * segment, trailing slash */
    static const char *const missing[] = {"/nope",         "/v1/items/a%2Fb",    "/v1/items/%00",
                                          "/v1/items/%zz", "/v1/items/a/parts/", "/v1/items/",
                                          "/v1//items/x",  "/v1/items/x/"};
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        j = call(c, "GET", missing[i], NULL, NULL, 404, &r);
        check_problem(j, &r, 404, "not-found", missing[i]);
        remember(&r);
        json_decref(j);
        resp_free(&r);
    }

    /* a router answer to a request without a body keeps the connection */
    long connects = -1;
    for (int i = 0; i < 2; i++) {
        json_decref(call(c, "GET", "/nope", NULL, NULL, 404, &r));
        resp_free(&r);
    }
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
    CHECK_INT(connects, 0);

    j = call(c, "DELETE", "/v1/echo", NULL, NULL, 405, &r);
    check_problem(j, &r, 405, "method-not-allowed", "/v1/echo");
    CHECK_STR(r.allow, "POST, PUT");
    json_decref(j);
    resp_free(&r);

    j = call(c, "HEAD", "/v1/items/x", NULL, NULL, 405, &r);
    CHECK_STR(r.allow, "GET");
    json_decref(j);
    resp_free(&r);

    j = call(c, "GET", "/v1/query?b=2&a=1&empty&enc=%C3%A9&plus=a+b&pct=%41", NULL, NULL, 200, &r);
    json_t *want = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "b", "2", "a", "1", "empty", "",
                             "enc", "é", "plus", "a b", "pct", "A");
    CHECK_MSG(json_equal(j, want), "query: %s", r.body ? r.body : "");
    json_decref(want);
    json_decref(j);
    resp_free(&r);

    j = call(c, "GET", "/v1/info", NULL, NULL, 200, &r);
    CHECK(json_is_true(json_object_get(j, "tls"))); /* loopback counts */
    CHECK_STR(jstr(j, "custom"), "custom value");
    CHECK_STR(jstr(j, "id"), r.reqid);
    json_decref(j);
    resp_free(&r);

    /* a literal with '"' and '\' (for the metrics' label escaping) */
    char id[20] = "";
    CHECK_INT(raw_get("/v1/odd\"\\", id, sizeof(id)), 204);
    CHECK(is_hex16(id));

    /* bytes that are not UTF-8 still give valid JSON (escaped as %HH) */
    CHECK_INT(raw_get("/nope/\xff\xfe", id, sizeof(id)), 404);
    CHECK(strstr(raw_answer, "\"instance\":\"/nope/%FF%FE\"") != NULL);
}

static void test_bodies(CURL *c) {
    resp_t r;
    json_t *j, *want;
    char *big;

    j = call(c, "POST", "/v1/echo", "application/json; charset=utf-8",
             "{\"a\": [1, 2, \"x\"], \"b\": {\"c\": null}}", 201, &r);
    want = json_loads("{\"echo\": {\"a\": [1, 2, \"x\"], \"b\": {\"c\": null}}}", 0, NULL);
    CHECK(json_equal(j, want));
    json_decref(want);
    json_decref(j);
    resp_free(&r);

    j = call(c, "PUT", "/v1/echo", "Application/JSON", "[]", 201, &r);
    json_decref(j);
    resp_free(&r);

    /* the handler's own problem, with errors */
    j = call(c, "POST", "/v1/echo", "application/json", "{nope", 400, &r);
    check_problem(j, &r, 400, "validation", "/v1/echo");
    CHECK_STR(jstr(json_array_get(json_object_get(j, "errors"), 0), "rule"), "json");
    CHECK(json_is_string(json_object_get(j, "detail")));
    json_decref(j);
    resp_free(&r);

    static const char *const bad_types[] = {"text/plain", "application/jsonx",
                                            "application/problem+json", NULL};
    for (size_t i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++) {
        j = call(c, "POST", "/v1/echo", bad_types[i], "{}", 415, &r);
        check_problem(j, &r, 415, "unsupported-media-type", "/v1/echo");
        remember(&r);
        json_decref(j);
        resp_free(&r);
    }

    /* too large: announced by Content-Length, and found while reading a
     * chunked upload */
    big = malloc(MAX_BODY + 2);
    memset(big, ' ', MAX_BODY + 1);
    big[0] = '[';
    big[MAX_BODY] = ']';
    big[MAX_BODY + 1] = '\0';
    CHECK_INT(request(c, "POST", "/v1/echo", "application/json", big, MAX_BODY + 1, false, &r),
              CURLE_OK);
    CHECK_INT(r.status, 413);
    j = json_loads(r.body ? r.body : "", 0, NULL);
    check_problem(j, &r, 413, "payload-too-large", "/v1/echo");
    json_decref(j);
    resp_free(&r);
    CHECK_INT(request(c, "POST", "/v1/echo", "application/json", big, MAX_BODY + 1, true, &r),
              CURLE_OK);
    CHECK_INT(r.status, 413);
    j = json_loads(r.body ? r.body : "", 0, NULL);
    check_problem(j, &r, 413, "payload-too-large", "/v1/echo");
    json_decref(j);
    resp_free(&r);
    /* exactly max_body is fine, chunked or not */
    big[MAX_BODY - 1] = ']';
    CHECK_INT(request(c, "POST", "/v1/echo", "application/json", big, MAX_BODY, true, &r),
              CURLE_OK);
    CHECK_INT(r.status, 201);
    resp_free(&r);
    free(big);

    /* path too long */
    char path[DCF_HTTP_PATH_MAX + 64];
    strcpy(path, "/v1/items/");
    memset(path + strlen(path), 'x', DCF_HTTP_PATH_MAX);
    path[DCF_HTTP_PATH_MAX + 1] = '\0';
    j = call(c, "GET", path, NULL, NULL, 414, &r);
    path[DCF_HTTP_PATH_MAX] = '\0';
    check_problem(j, &r, 414, "uri-too-long", path);
    json_decref(j);
    resp_free(&r);
}

static void test_handler_bugs(CURL *c) {
    resp_t r;
    json_t *j;

    j = call(c, "GET", "/v1/noreply", NULL, NULL, 500, &r);
    check_problem(j, &r, 500, "internal", "/v1/noreply");
    CHECK_STR(r.xlost, ""); /* the handler's headers do not leak into the 500 */
    json_decref(j);
    resp_free(&r);

    j = call(c, "GET", "/v1/twice", NULL, NULL, 200, &r);
    CHECK_STR(r.body ? r.body : "", "first");
    CHECK_STR(r.xlate, "");
    json_decref(j);
    resp_free(&r);

    /* Extension members are added; standard members are never replaced. */
    j = call(c, "GET", "/v1/extra", NULL, NULL, 409, &r);
    check_problem(j, &r, 409, "conflict", "/v1/extra");
    CHECK_INT(json_integer_value(json_object_get(j, "status")), 409);
    CHECK_INT(json_integer_value(json_array_get(json_object_get(j, "conflicts"), 0)), 7);
    CHECK_STR(json_string_value(json_object_get(j, "detail")), "one conflict");
    json_decref(j);
    resp_free(&r);
}

/* ----------------------------------------------------------- streams -- */

typedef struct {
    char url[256];
    pthread_mutex_t mu;
    char buf[65536];
    size_t len;
    int events, newlines, abort_after;
    CURLcode rc;
    long status;
    atomic_bool done;
    pthread_t th;
} sclient_t;

static size_t on_event_bytes(char *p, size_t sz, size_t n, void *arg) {
    sclient_t *s = arg;
    size_t len = sz * n;

    pthread_mutex_lock(&s->mu);
    if (s->len + len < sizeof(s->buf)) {
        memcpy(s->buf + s->len, p, len);
        s->len += len;
        s->buf[s->len] = '\0';
    }
    for (size_t i = 0; i < len; i++)
        s->newlines += p[i] == '\n';
    s->events = s->newlines / 2; /* "data: N\n\n" */
    int ev = s->events;
    pthread_mutex_unlock(&s->mu);
    return s->abort_after && ev >= s->abort_after ? 0 : len;
}

static void *sclient_run(void *arg) {
    sclient_t *s = arg;
    CURL *c = curl_easy_init();

    curl_easy_setopt(c, CURLOPT_URL, s->url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_event_bytes);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    s->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &s->status);
    curl_easy_cleanup(c);
    atomic_store(&s->done, true);
    return NULL;
}

static void sclient_start(sclient_t *s, unsigned tag, int abort_after) {
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u/v1/events?tag=%u", port, tag);
    s->abort_after = abort_after;
    pthread_create(&s->th, NULL, sclient_run, s);
    n_requests++;
}

static void sclient_join(sclient_t *s) {
    pthread_join(s->th, NULL);
    pthread_mutex_destroy(&s->mu);
}

typedef struct {
    sclient_t *s;
    int n;
} ev_wait_t;

static bool has_events(void *arg) {
    ev_wait_t *w = arg;
    pthread_mutex_lock(&w->s->mu);
    bool ok = w->s->events >= w->n;
    pthread_mutex_unlock(&w->s->mu);
    return ok;
}

typedef struct {
    dcf_http_t *h;
    uint64_t tag;
    size_t n;
} count_wait_t;

static bool has_streams(void *arg) {
    count_wait_t *w = arg;
    return dcf_http_stream_count(w->h, w->tag) == w->n;
}

static bool is_done(void *arg) {
    return atomic_load(&((sclient_t *)arg)->done);
}

static void produce(dcf_http_t *h, uint64_t tag) {
    pthread_mutex_lock(&app.mu);
    app.produced++;
    pthread_mutex_unlock(&app.mu);
    dcf_http_stream_wake(h, tag);
}

static void test_streams(dcf_http_t *h) {
    sclient_t s1, s2;
    count_wait_t cw = {h, 7, 1};
    ev_wait_t ew = {&s1, 0};
    char want[256] = "";

    pthread_mutex_lock(&app.mu);
    app.produced = 0;
    app.end = false;
    pthread_mutex_unlock(&app.mu);
    atomic_store(&app.opened, 0);
    atomic_store(&app.closed, 0);

    /* events arrive in order, one wake each */
    sclient_start(&s1, 7, 5);
    CHECK(wait_for(has_streams, &cw));
    CHECK_INT(dcf_http_stream_count(h, 8), 0);
    CHECK_INT(dcf_http_stream_count(h, 0), 1);
    for (int i = 1; i <= 4; i++) {
        produce(h, 7);
        ew.n = i;
        CHECK_MSG(wait_for(has_events, &ew), "event %d did not arrive", i);
        snprintf(want + strlen(want), sizeof(want) - strlen(want), "data: %d\n\n", i);
    }
    pthread_mutex_lock(&s1.mu);
    CHECK_STR(s1.buf, want);
    pthread_mutex_unlock(&s1.mu);
    /* a wake for another tag is harmless; the next event still comes */
    dcf_http_stream_wake(h, 8);
    produce(h, 0);

    /* the client leaves after event 5 (abort_after); the suspended stream
     * notices on a later wake (the app's heartbeat) and closes once */
    CHECK(wait_for(is_done, &s1));
    sclient_join(&s1);
    CHECK_INT(s1.rc, CURLE_WRITE_ERROR);
    CHECK_INT(s1.status, 200);
    CHECK_STR(s1.buf, "data: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\ndata: 5\n\n");
    for (int i = 0; i < 2000 && atomic_load(&app.closed) == 0; i++) {
        produce(h, 7);
        sleep_ms(5);
    }
    CHECK_INT(atomic_load(&app.closed), 1);
    cw.n = 0;
    CHECK(wait_for(has_streams, &cw));
    for (int i = 0; i < 5; i++) /* more wakes change nothing */
        produce(h, 0);
    sleep_ms(20);
    CHECK_INT(atomic_load(&app.closed), 1);

    /* read returning -1 ends the stream cleanly */
    sclient_start(&s2, 9, 0);
    cw = (count_wait_t){h, 9, 1};
    CHECK(wait_for(has_streams, &cw));
    pthread_mutex_lock(&app.mu);
    ew = (ev_wait_t){&s2, app.produced};
    pthread_mutex_unlock(&app.mu);
    CHECK(wait_for(has_events, &ew)); /* catches up with every event so far */
    /* a burst: wakes race with reads and suspensions; none may be lost */
    for (int i = 0; i < 300; i++)
        produce(h, i % 2 ? 9 : 0);
    pthread_mutex_lock(&app.mu);
    ew.n = app.produced;
    pthread_mutex_unlock(&app.mu);
    CHECK_MSG(wait_for(has_events, &ew), "burst: %d of %d events", s2.events, ew.n);
    pthread_mutex_lock(&s2.mu);
    const char *p = s2.buf;
    int in_order = 0, k;
    while (sscanf(p, "data: %d\n\n", &k) == 1 && k == in_order + 1) {
        in_order++;
        p = strstr(p, "\n\n") + 2;
    }
    CHECK_INT(in_order, ew.n);
    CHECK(*p == '\0');
    pthread_mutex_unlock(&s2.mu);
    pthread_mutex_lock(&app.mu);
    app.end = true;
    pthread_mutex_unlock(&app.mu);
    dcf_http_stream_wake(h, 9);
    CHECK(wait_for(is_done, &s2));
    sclient_join(&s2);
    CHECK_INT(s2.rc, CURLE_OK);
    CHECK_INT(s2.status, 200);
    cw.n = 0;
    CHECK(wait_for(has_streams, &cw));
    CHECK_INT(atomic_load(&app.closed), 2);
    pthread_mutex_lock(&app.mu);
    app.end = false;
    pthread_mutex_unlock(&app.mu);
}

/* A stream open at dcf_http_stop is closed exactly once by the stop. */
static void test_stream_stop(dcf_http_t *h) {
    sclient_t s;
    count_wait_t cw = {h, 11, 1};
    ev_wait_t ew = {&s, 1};
    int closed0 = atomic_load(&app.closed);

    sclient_start(&s, 11, 0);
    CHECK(wait_for(has_streams, &cw));
    produce(h, 11);
    CHECK(wait_for(has_events, &ew));
    sleep_ms(20); /* let it suspend again */
    dcf_http_stop(h);
    CHECK_INT(atomic_load(&app.closed), closed0 + 1);
    CHECK_INT(atomic_load(&app.opened), atomic_load(&app.closed));
    CHECK(wait_for(is_done, &s));
    sclient_join(&s);
    CHECK_INT(s.status, 200);
}

/* Streams may take 3/4 of max_connections; one more gets a 503 and its
 * close callback at once. */
static void test_stream_limit(void) {
    dcf_http_opts_t o = {.listen = "127.0.0.1:0",
                         .threads = 1,
                         .max_connections = 4,
                         .routes = ROUTES,
                         .n_routes = N_ROUTES,
                         .app = &app};
    dcf_http_t *h = NULL;
    sclient_t s[3];
    CURL *c = curl_easy_init();
    char err[256];
    resp_t r;
    json_t *j;
    int opened0 = atomic_load(&app.opened), closed0 = atomic_load(&app.closed);

    CHECK_INT(dcf_http_start(&o, &h, err, sizeof(err)), DCF_OK);
    if (h == NULL) {
        curl_easy_cleanup(c);
        return;
    }
    port = dcf_http_port(h);
    for (int i = 0; i < 3; i++)
        sclient_start(&s[i], 21, 0);
    count_wait_t cw = {h, 21, 3};
    CHECK(wait_for(has_streams, &cw));
    j = call(c, "GET", "/v1/events?tag=21", NULL, NULL, 503, &r);
    check_problem(j, &r, 503, "unavailable", "/v1/events");
    CHECK_INT(atomic_load(&app.closed), closed0 + 1);
    json_decref(j);
    resp_free(&r);
    CHECK_INT(dcf_http_stream_count(h, 0), 3);
    dcf_http_stop(h);
    for (int i = 0; i < 3; i++) {
        CHECK(wait_for(is_done, &s[i]));
        sclient_join(&s[i]);
    }
    CHECK_INT(atomic_load(&app.opened) - opened0, 4);
    CHECK_INT(atomic_load(&app.closed) - closed0, 4);
    curl_easy_cleanup(c);
}

/* ----------------------------------------------------------- metrics -- */

static char *metrics_text(dcf_http_t *h) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    CHECK_INT(dcf_http_metrics_write(h, f), DCF_OK);
    fclose(f);
    return text;
}

static void check_line(const char *text, const char *line) {
    char want[512];
    snprintf(want, sizeof(want), "\n%s\n", line);
    CHECK_MSG(strstr(text, want) != NULL, "metrics lack: %s", line);
}

static void test_metrics(void) {
    dcf_http_t *h = start("127.0.0.1:0", 2, NULL);
    CURL *c = curl_easy_init();
    resp_t r;
    char *text;

    if (h == NULL)
        return;
    port = dcf_http_port(h);
    for (int i = 0; i < 3; i++) {
        json_decref(call(c, "GET", "/v1/items/x", NULL, NULL, 200, &r));
        resp_free(&r);
    }
    for (int i = 0; i < 2; i++) {
        json_decref(call(c, "GET", "/nope", NULL, NULL, 404, &r));
        resp_free(&r);
    }
    json_decref(call(c, "DELETE", "/v1/echo", NULL, NULL, 405, &r));
    resp_free(&r);
    json_decref(call(c, "POST", "/v1/echo", "text/plain", "x", 415, &r));
    resp_free(&r);
    json_decref(call(c, "GET", "/v1/noreply", NULL, NULL, 500, &r));
    resp_free(&r);
    json_decref(call(c, "BREW", "/nope", NULL, NULL, 404, &r));
    resp_free(&r);
    CHECK_INT(raw_get("/v1/odd\"\\", NULL, 0), 204);

    text = metrics_text(h);
    check_line(text, "# TYPE dcf_http_requests_total counter");
    check_line(text,
               "dcf_http_requests_total{route=\"/v1/items/{id}\",method=\"GET\",status=\"200\"} 3");
    check_line(text,
               "dcf_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 2");
    check_line(text,
               "dcf_http_requests_total{route=\"unmatched\",method=\"DELETE\",status=\"405\"} 1");
    check_line(text,
               "dcf_http_requests_total{route=\"/v1/echo\",method=\"POST\",status=\"415\"} 1");
    check_line(text,
               "dcf_http_requests_total{route=\"/v1/noreply\",method=\"GET\",status=\"500\"} 1");
    check_line(text,
               "dcf_http_requests_total{route=\"unmatched\",method=\"OTHER\",status=\"404\"} 1");
    check_line(
        text, "dcf_http_requests_total{route=\"/v1/odd\\\"\\\\\",method=\"GET\",status=\"204\"} 1");
    check_line(text, "# TYPE dcf_http_request_duration_seconds histogram");
    check_line(
        text, "dcf_http_request_duration_seconds_count{route=\"/v1/items/{id}\",method=\"GET\"} 3");
    check_line(text, "dcf_http_request_duration_seconds_bucket{route=\"/v1/items/{id}\","
                     "method=\"GET\",le=\"+Inf\"} 3");
    check_line(text, "# TYPE dcf_http_connections gauge");
    check_line(text, "dcf_http_streams 0");
    size_t series = 0;
    for (const char *p = text; (p = strstr(p, "\ndcf_http_requests_total{")) != NULL; p++)
        series++;
    CHECK_INT(series, 7);
    /* every histogram's buckets are cumulative and end at its count */
    int le_lines = 0;
    for (const char *p = text; (p = strstr(p, "le=\"")) != NULL; p++)
        le_lines++;
    CHECK_INT(le_lines, 13 * 7);
    free(text);
    curl_easy_cleanup(c);
    dcf_http_stop(h);
}

/* ------------------------------------------------------- concurrency -- */

#define N_THREADS 8
#define N_EACH    200

typedef struct {
    int idx, ok;
} worker_t;

static void *worker(void *arg) {
    worker_t *w = arg;
    CURL *c = curl_easy_init();
    char path[64], want[32];
    resp_t r;

    for (int i = 0; i < N_EACH; i++) {
        snprintf(path, sizeof(path), "/v1/items/t%d-%d", w->idx, i);
        snprintf(want, sizeof(want), "t%d-%d", w->idx, i);
        if (request(c, "GET", path, NULL, NULL, 0, false, &r) == CURLE_OK && r.status == 200 &&
            r.body && strstr(r.body, want) && is_hex16(r.reqid))
            w->ok++;
        resp_free(&r);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static void test_concurrency(void) {
    dcf_http_t *h = start("127.0.0.1:0", 4, NULL);
    pthread_t th[N_THREADS];
    worker_t w[N_THREADS];
    char line[256], *text;
    int ok = 0;

    if (h == NULL)
        return;
    port = dcf_http_port(h);
    for (int i = 0; i < N_THREADS; i++) {
        w[i] = (worker_t){.idx = i};
        pthread_create(&th[i], NULL, worker, &w[i]);
    }
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(th[i], NULL);
        ok += w[i].ok;
    }
    CHECK_INT(ok, N_THREADS * N_EACH);
    text = metrics_text(h);
    snprintf(line, sizeof(line),
             "dcf_http_requests_total{route=\"/v1/items/{id}\",method=\"GET\",status=\"200\"} %d",
             N_THREADS * N_EACH);
    check_line(text, line);
    snprintf(line, sizeof(line),
             "dcf_http_request_duration_seconds_count{route=\"/v1/items/{id}\",method=\"GET\"} %d",
             N_THREADS * N_EACH);
    check_line(text, line);
    free(text);
    dcf_http_stop(h);
}

/* ---------------------------------------------------------- start/stop -- */

static void test_restart(void) {
    dcf_http_t *h = start("127.0.0.1:0", 2, NULL), *h2 = NULL;
    CURL *c = curl_easy_init();
    char listen[64], err[256];
    resp_t r;
    uint16_t p;

    if (h == NULL)
        return;
    p = dcf_http_port(h);
    CHECK(p != 0);
    port = p;
    json_decref(call(c, "GET", "/v1/items/one", NULL, NULL, 200, &r));
    resp_free(&r);
    dcf_http_stop(h);

    snprintf(listen, sizeof(listen), "127.0.0.1:%u", p);
    h = start(listen, 2, NULL);
    if (h == NULL)
        return;
    CHECK_INT(dcf_http_port(h), p);
    json_decref(call(c, "GET", "/v1/items/two", NULL, NULL, 200, &r));
    resp_free(&r);

    dcf_http_opts_t o = {.listen = listen, .routes = ROUTES, .n_routes = N_ROUTES};
    CHECK_INT(dcf_http_start(&o, &h2, err, sizeof(err)), DCF_EIO);
    CHECK_MSG(strstr(err, "Address already in use") != NULL, "%s", err);
    CHECK(h2 == NULL);
    dcf_http_stop(h);
    dcf_http_stop(NULL);
    curl_easy_cleanup(c);
}

static void expect_start_error(const char *listen, const dcf_http_route_t *routes, size_t n,
                               const char *msg) {
    dcf_http_opts_t o = {.listen = listen, .routes = routes, .n_routes = n};
    dcf_http_t *h = NULL;
    char err[256];

    CHECK_INT(dcf_http_start(&o, &h, err, sizeof(err)), DCF_EINVAL);
    CHECK_STR(err, msg);
    CHECK(h == NULL);
}

static void test_start_errors(void) {
    const dcf_http_route_t dup[] = {{"GET", "/a/{x}", h_odd, 0}, {"GET", "/a/{y}", h_odd, 0}};
    const dcf_http_route_t bad[] = {{"GET", "/a/{x}y", h_odd, 0}};
    const dcf_http_route_t many[] = {{"GET", "/{a}/{b}/{c}/{d}/{e}", h_odd, 0}};
    const dcf_http_route_t slash[] = {{"GET", "/a/", h_odd, 0}};
    const dcf_http_route_t lower[] = {{"get", "/a", h_odd, 0}};

    expect_start_error("localhost:80", ROUTES, N_ROUTES,
                       "listen \"localhost:80\": not a numeric IPv4 address (IPv6 goes in "
                       "brackets)");
    expect_start_error("127.0.0.1", ROUTES, N_ROUTES, "listen \"127.0.0.1\": expected host:port");
    expect_start_error("127.0.0.1:65536", ROUTES, N_ROUTES,
                       "listen \"127.0.0.1:65536\": the port must be a number 0..65535");
    expect_start_error("::1:80", ROUTES, N_ROUTES,
                       "listen \"::1:80\": not a numeric IPv4 address (IPv6 goes in brackets)");
    expect_start_error("[::1]80", ROUTES, N_ROUTES, "listen \"[::1]80\": expected [IPv6]:port");
    expect_start_error("127.0.0.1:0", dup, 2,
                       "route 1 (GET /a/{y}): same method and shape as an earlier route");
    expect_start_error("127.0.0.1:0", bad, 1,
                       "route 0 (GET /a/{x}y): a parameter must be a whole segment \"{name}\"");
    expect_start_error("127.0.0.1:0", many, 1,
                       "route 0 (GET /{a}/{b}/{c}/{d}/{e}): more than DCF_HTTP_PARAMS_MAX "
                       "parameters");
    expect_start_error("127.0.0.1:0", slash, 1,
                       "route 0 (GET /a/): empty segment (\"//\" or a trailing '/')");
    expect_start_error("127.0.0.1:0", lower, 1, "route 0 (get /a): a method is upper-case letters");

    dcf_http_opts_t o = {.listen = "127.0.0.1:0", .tls_cert_pem = "x"};
    dcf_http_t *h = NULL;
    char err[128];
    CHECK_INT(dcf_http_start(&o, &h, err, sizeof(err)), DCF_EINVAL);
    CHECK_STR(err, "TLS needs both a certificate and a key");
}

/* ------------------------------------------------------------ the log -- */

static void test_log(FILE *log, int requests) {
    char line[16384];
    int n_req = 0, n_bugs = 0, bad = 0, item_fields = 0, escaped = 0;
    size_t matched = 0;

    rewind(log);
    while (fgets(line, sizeof(line), log) != NULL) {
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        const char *msg = json_string_value(json_object_get(j, "msg"));
        const char *ts = json_string_value(json_object_get(j, "ts"));

        if (j == NULL || msg == NULL || ts == NULL || strlen(ts) != 24 || ts[23] != 'Z' ||
            line[strlen(line) - 1] != '\n') {
            bad++;
            fprintf(stderr, "bad log line: %s", line);
            json_decref(j);
            continue;
        }
        if (strcmp(msg, "request") == 0) {
            const char *id = json_string_value(json_object_get(j, "request_id"));
            n_req++;
            if (!is_hex16(id ? id : "") || !json_is_integer(json_object_get(j, "status")) ||
                !json_is_integer(json_object_get(j, "duration_us")) ||
                !json_is_integer(json_object_get(j, "bytes_in")) ||
                !json_is_integer(json_object_get(j, "bytes_out")) ||
                !json_is_string(json_object_get(j, "method")) ||
                !json_is_string(json_object_get(j, "route")) ||
                !json_is_string(json_object_get(j, "path")) ||
                strcmp(json_string_value(json_object_get(j, "level")), "info") != 0)
                bad++;
            for (size_t i = 0; i < n_seen; i++)
                if (strcmp(seen[i].id, id ? id : "") == 0) {
                    matched++;
                    CHECK_INT(json_integer_value(json_object_get(j, "status")), seen[i].status);
                }
            escaped += strcmp(jstr(j, "path"), "/nope/%FF%FE") == 0;
            if (json_object_get(j, "item") != NULL) {
                item_fields++;
                CHECK_STR(json_string_value(json_object_get(j, "route")), "/v1/items/{id}");
                CHECK_STR(json_string_value(json_object_get(j, "item")), "abc def");
                CHECK_INT(json_integer_value(json_object_get(j, "bytes_out")) > 0, 1);
            }
        } else if (strcmp(msg, "handler bug") == 0) {
            n_bugs++;
        }
        json_decref(j);
    }
    CHECK_INT(bad, 0);
    CHECK_INT(n_req, requests);
    CHECK_INT(matched, n_seen);
    CHECK_INT(item_fields, 1);
    CHECK_INT(escaped, 1);
    CHECK_INT(n_bugs, 3); /* no reply; second reply; header after the reply */
}

/* ------------------------------------------------------- TLS and IPv6 -- */

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;
    if (f == NULL)
        return NULL;
    buf = calloc(1, 65536);
    len = fread(buf, 1, 65535, f);
    buf[len] = '\0';
    fclose(f);
    return buf;
}

static void test_tls(void) {
    char dir[] = "/tmp/dcf-http-tls-XXXXXX", cmd[1024], key[128], cert[128];
    char *key_pem = NULL, *cert_pem = NULL;
    dcf_http_t *h = NULL;
    CURL *c = curl_easy_init();
    resp_t r;

    if (system("command -v openssl >/dev/null 2>&1") != 0) {
        printf("note: openssl not found; TLS sub-test skipped\n");
        curl_easy_cleanup(c);
        return;
    }
    CHECK(mkdtemp(dir) != NULL);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout %s -out %s -days 1 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
             key, cert);
    CHECK_INT(system(cmd), 0);
    key_pem = slurp(key);
    cert_pem = slurp(cert);
    CHECK(key_pem != NULL && cert_pem != NULL);
    if (key_pem && cert_pem) {
        dcf_http_opts_t o = {.listen = "127.0.0.1:0",
                             .threads = 2,
                             .tls_cert_pem = cert_pem,
                             .tls_key_pem = key_pem,
                             .routes = ROUTES,
                             .n_routes = N_ROUTES,
                             .app = &app};
        char err[256];
        CHECK_INT(dcf_http_start(&o, &h, err, sizeof(err)), DCF_OK);
        if (h != NULL) {
            port = dcf_http_port(h);
            scheme = "https";
            cafile = cert;
            json_t *j = call(c, "GET", "/v1/info", NULL, NULL, 200, &r);
            CHECK(json_is_true(json_object_get(j, "tls")));
            json_decref(j);
            resp_free(&r);
            j = call(c, "GET", "/nope", NULL, NULL, 404, &r);
            check_problem(j, &r, 404, "not-found", "/nope");
            json_decref(j);
            resp_free(&r);
            scheme = "http"; /* plain HTTP to a TLS port fails */
            cafile = NULL;
            CHECK(request(c, "GET", "/v1/info", NULL, NULL, 0, false, &r) != CURLE_OK ||
                  r.status != 200);
            resp_free(&r);
            dcf_http_stop(h);
        }
        /* a key that is not PEM: refused at start */
        o.tls_key_pem = "not a key";
        h = NULL;
        CHECK_INT(dcf_http_start(&o, &h, err, sizeof(err)), DCF_EIO);
        CHECK(h == NULL);
    }
    free(key_pem);
    free(cert_pem);
    unlink(key);
    unlink(cert);
    rmdir(dir);
    curl_easy_cleanup(c);
}

static void test_ipv6(void) {
    dcf_http_opts_t o = {
        .listen = "[::1]:0", .routes = ROUTES, .n_routes = N_ROUTES, .app = &app, .threads = 1};
    dcf_http_t *h = NULL;
    char err[256], url[128];
    CURL *c;
    long status = 0;
    resp_t r = {0};

    if (dcf_http_start(&o, &h, err, sizeof(err)) != DCF_OK) {
        printf("note: cannot listen on [::1] (%s); IPv6 sub-test skipped\n", err);
        return;
    }
    c = curl_easy_init();
    snprintf(url, sizeof(url), "http://[::1]:%u/v1/info", dcf_http_port(h));
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    CHECK_INT(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    CHECK_INT(status, 200);
    CHECK(r.body != NULL && strstr(r.body, "\"tls\":true") != NULL); /* ::1 is loopback */
    resp_free(&r);
    curl_easy_cleanup(c);
    dcf_http_stop(h);
}

/* -------------------------------------------------------------- main -- */

static void test_main_server(void) {
    FILE *log = tmpfile();
    dcf_http_t *h = start("127.0.0.1:0", 3, log);
    CURL *c = curl_easy_init();

    if (h == NULL)
        return;
    port = dcf_http_port(h);
    CHECK(port != 0);
    n_requests = 0;
    test_routing(c);
    test_bodies(c);
    test_handler_bugs(c);
    test_streams(h);
    test_stream_stop(h); /* stops h */
    curl_easy_cleanup(c);
    test_log(log, n_requests);
    fclose(log);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_ALL);
    RUN(test_main_server);
    RUN(test_stream_limit);
    RUN(test_metrics);
    RUN(test_concurrency);
    RUN(test_restart);
    RUN(test_start_errors);
    RUN(test_tls);
    RUN(test_ipv6);
    curl_global_cleanup();
    TEST_DONE();
}
