/*
 * test_client_http.c -- the HTTP client (src/client/client.c) against a
 * scripted loopback server: each request's method, path, headers and body
 * as sent; the status, JSON body, ETag, Location and Retry-After as read;
 * no redirect followed; a body over the limit refused; several requests in
 * flight on a multi, answered out of order; and the Server-Sent Events
 * reader: CRLF and LF line ends, multi-line data, comments, events split
 * across writes, an event without data ignored, the callback stopping the
 * stream, the stop flag, a non-2xx answer's problem, a dropped connection.
 *
 * The server is one thread that accepts connections and answers each on a
 * thread of its own with a canned reply (the one for the request's path, or
 * the next one): a list of chunks written with short pauses, so that the
 * client sees partial lines; a reply may wait for another to be sent, or
 * keep its connection open.  Nothing here asserts a duration: a client that
 * ignored the stop flag would hang the test until CTest's timeout.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "deconflict/client.h"
#include "test.h"

#define MAX_REPLIES 8
#define MAX_CHUNKS  8
#define REQ_MAX     8192

typedef struct {
    const char *chunks[MAX_CHUNKS]; /* written in order, 20 ms apart; NULL ends */
    int hold_ms;                    /* wait this long before answering */
    int linger_ms;                  /* then keep the connection open this long */
    const char *path;               /* answer requests for this path (NULL: in turn) */
    int after;                      /* answer only once reply after-1 was sent (0: at once) */
} reply_t;

typedef struct {
    int listen_fd, port;
    reply_t replies[MAX_REPLIES];
    int n_replies;
    char requests[MAX_REPLIES][REQ_MAX];
    int served;
    volatile int quit;
    volatile int sent[MAX_REPLIES];
    pthread_t th;
} fake_t;

static void nap(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Read one request (headers, then Content-Length bytes of body). */
static void read_request(int fd, char *buf, size_t cap) {
    size_t n = 0;
    long want = -1;
    while (n + 1 < cap) {
        ssize_t got = recv(fd, buf + n, cap - 1 - n, 0);
        if (got <= 0)
            break;
        n += (size_t)got;
        buf[n] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end != NULL && want < 0) {
            char *cl = strstr(buf, "Content-Length:"); /* libcurl's spelling */
            want = (long)(end + 4 - buf) + (cl && cl < end ? strtol(cl + 15, NULL, 10) : 0);
        }
        if (want >= 0 && (long)n >= want)
            break;
    }
    buf[n] = '\0';
}

typedef struct {
    fake_t *f;
    int fd, i;
} conn_t;

/* One connection: read the request, answer with reply i. */
static void *answer(void *arg) {
    conn_t *cn = arg;
    fake_t *f = cn->f;
    char req[REQ_MAX];
    read_request(cn->fd, req, sizeof req);
    int k = cn->i;
    for (int j = 0; j < f->n_replies; j++) {
        char want[128];
        snprintf(want, sizeof want, " %s HTTP/1.1\r\n",
                 f->replies[j].path ? f->replies[j].path : "");
        if (f->replies[j].path != NULL && strstr(req, want) != NULL)
            k = j;
    }
    memcpy(f->requests[k], req, sizeof req);
    const reply_t *rp = &f->replies[k];
    while (rp->after > 0 && !f->sent[rp->after - 1] && !f->quit)
        nap(5);
    if (rp->hold_ms > 0)
        nap(rp->hold_ms);
    for (int c = 0; c < MAX_CHUNKS && rp->chunks[c] != NULL; c++) {
        if (send(cn->fd, rp->chunks[c], strlen(rp->chunks[c]), MSG_NOSIGNAL) < 0)
            break;
        nap(20);
    }
    f->sent[k] = 1;
    for (int w = 0; w < rp->linger_ms && !f->quit; w += 20)
        nap(20);
    close(cn->fd);
    return NULL;
}

/* Accept connections in turn, each answered on its own thread (so that a
 * held answer does not hold the next connection). */
static void *serve(void *arg) {
    fake_t *f = arg;
    pthread_t th[MAX_REPLIES];
    conn_t cn[MAX_REPLIES];
    int n = 0;
    for (; n < f->n_replies; n++) {
        int fd = accept(f->listen_fd, NULL, NULL);
        if (fd < 0)
            break;
        cn[n] = (conn_t){f, fd, n};
        f->served = n + 1;
        pthread_create(&th[n], NULL, answer, &cn[n]);
    }
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    return NULL;
}

static void fake_start(fake_t *f) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(f->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    bind(f->listen_fd, (struct sockaddr *)&a, sizeof a);
    listen(f->listen_fd, 16);
    getsockname(f->listen_fd, (struct sockaddr *)&a, &len);
    f->port = ntohs(a.sin_port);
    pthread_create(&f->th, NULL, serve, f);
}

static void fake_stop(fake_t *f) {
    f->quit = 1;
    shutdown(f->listen_fd, SHUT_RDWR);
    close(f->listen_fd);
    pthread_join(f->th, NULL);
}

static dcf_client_t *client_for(const fake_t *f, size_t max_bytes) {
    char url[64];
    dcf_client_opts_t o;
    dcf_client_t *c = NULL;
    dcf_client_opts_default(&o);
    o.max_response_bytes = max_bytes;
    o.stream_idle_ms = 3000;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", f->port);
    CHECK_INT(dcf_client_new(url, "dcf_secret", &o, &c), DCF_OK);
    return c;
}

/* ------------------------------------------------------------ tests -- */

static void test_request_and_answer(void) {
    fake_t f = {0};
    f.n_replies = 3;
    f.replies[0].chunks[0] = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                             "ETag: \"7\"\r\nLocation: /v1/operations/op-1\r\n"
                             "Content-Length: 23\r\n\r\n{\"id\":\"op-1\",\"n\":[1,2]}";
    f.replies[1].chunks[0] = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\n"
                             "Content-Type: application/problem+json\r\nContent-Length: 41\r\n\r\n"
                             "{\"title\":\"Slow down\",\"detail\":\"too many\"}";
    f.replies[2].chunks[0] = "HTTP/1.1 302 Found\r\nLocation: http://example.com/\r\n"
                             "Content-Length: 0\r\n\r\n";
    fake_start(&f);
    dcf_client_t *c = client_for(&f, 0);
    dcf_client_resp_t r;
    char err[DCF_CLIENT_ERR_LEN];
    const char *body = "{\"kind\":\"drone\"}";
    dcf_client_req_t q = {.method = "PUT",
                          .path = "/v1/operations/op-1?x=1",
                          .body = body,
                          .body_len = strlen(body),
                          .if_match = "\"6\"",
                          .accept_language = "ru"};
    CHECK_MSG(dcf_client_do(c, &q, &r, err, sizeof err) == DCF_OK, "%s", err);
    CHECK_INT(r.status, 201);
    CHECK_STR(r.etag, "\"7\"");
    CHECK_STR(r.location, "/v1/operations/op-1");
    CHECK_STR(json_string_value(json_object_get(r.body, "id")), "op-1");
    dcf_client_resp_clear(&r);
    const char *rq = f.requests[0];
    CHECK(strncmp(rq, "PUT /v1/operations/op-1?x=1 HTTP/1.1\r\n", 38) == 0);
    CHECK(strstr(rq, "Authorization: Bearer dcf_secret\r\n") != NULL);
    CHECK(strstr(rq, "If-Match: \"6\"\r\n") != NULL);
    CHECK(strstr(rq, "Accept-Language: ru\r\n") != NULL);
    CHECK(strstr(rq, "Content-Type: application/json\r\n") != NULL);
    CHECK(strstr(rq, "Expect:") == NULL);
    CHECK(strstr(rq, "\r\n\r\n{\"kind\":\"drone\"}") != NULL);

    dcf_client_req_t d = {.method = "DELETE", .path = "/v1/tokens/tok-1"};
    CHECK_INT(dcf_client_do(c, &d, &r, err, sizeof err), DCF_OK);
    CHECK_INT(r.status, 429);
    CHECK(r.retry_after_s == 3.0);
    CHECK_STR(r.etag, ""); /* nothing left over from the last answer */
    char text[256];
    CHECK_STR(dcf_client_describe(r.status, r.body, text, sizeof text),
              "Slow down: too many (HTTP 429)");
    dcf_client_resp_clear(&r);
    CHECK(strncmp(f.requests[1], "DELETE /v1/tokens/tok-1 HTTP/1.1\r\n", 34) == 0);
    CHECK(strstr(f.requests[1], "If-Match") == NULL);

    dcf_client_req_t g = {.method = "POST", .path = "/v1/conflicts/cf-1/accept"};
    CHECK_INT(dcf_client_do(c, &g, &r, err, sizeof err), DCF_OK);
    CHECK_INT(r.status, 302); /* reported, not followed */
    CHECK_STR(r.location, "http://example.com/");
    CHECK(strstr(f.requests[2], "Content-Length: 0\r\n") != NULL);
    dcf_client_resp_clear(&r);

    dcf_client_req_t bad = {.method = "GET", .path = "no-slash"};
    CHECK_INT(dcf_client_do(c, &bad, &r, err, sizeof err), DCF_EINVAL);
    dcf_client_req_t hdr = {.method = "GET", .path = "/x", .if_match = "a\r\nX-Evil: 1"};
    CHECK_INT(dcf_client_do(c, &hdr, &r, err, sizeof err), DCF_EINVAL);
    dcf_client_req_t body_get = {.method = "GET", .path = "/x", .body = "{}", .body_len = 2};
    CHECK_INT(dcf_client_do(c, &body_get, &r, err, sizeof err), DCF_EINVAL);
    dcf_client_free(c);
    fake_stop(&f);
}

static void test_limit_and_transport_errors(void) {
    fake_t f = {0};
    f.n_replies = 2;
    f.replies[0].chunks[0] = "HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n"
                             "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]";
    f.replies[1].chunks[0] = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nnot json!";
    fake_start(&f);
    dcf_client_t *c = client_for(&f, 16);
    dcf_client_resp_t r;
    char err[DCF_CLIENT_ERR_LEN];
    dcf_client_req_t q = {.method = "GET", .path = "/big"};
    CHECK_INT(dcf_client_do(c, &q, &r, err, sizeof err), DCF_EIO);
    CHECK(strstr(err, "larger than the limit of 16 bytes") != NULL);
    dcf_client_free(c);
    c = client_for(&f, 0);
    CHECK_INT(dcf_client_do(c, &q, &r, err, sizeof err), DCF_EPARSE);
    CHECK(r.body == NULL);
    dcf_client_free(c);
    fake_stop(&f);
    /* Nobody listens any more. */
    c = client_for(&f, 0);
    CHECK_INT(dcf_client_do(c, &q, &r, err, sizeof err), DCF_EIO);
    dcf_client_free(c);
}

static void test_multi_out_of_order(void) {
    fake_t f = {0};
    f.n_replies = 3;
    /* /slow is answered only after /fast: the answers come back out of order. */
    f.replies[0].path = "/slow";
    f.replies[0].after = 2;
    f.replies[0].chunks[0] = "HTTP/1.1 201 Created\r\nContent-Length: 7\r\n\r\n{\"n\":0}";
    f.replies[1].path = "/fast";
    f.replies[1].chunks[0] = "HTTP/1.1 201 Created\r\nContent-Length: 7\r\n\r\n{\"n\":1}";
    f.replies[2].path = "/third";
    f.replies[2].chunks[0] = "HTTP/1.1 422 Unprocessable\r\nContent-Length: 7\r\n\r\n{\"n\":2}";
    fake_start(&f);
    dcf_client_t *c = client_for(&f, 0);
    dcf_client_multi_t *m = NULL;
    CHECK_INT(dcf_client_multi_new(c, 2, &m), DCF_OK);
    CHECK_INT(dcf_client_multi_new(c, 0, &(dcf_client_multi_t *){NULL}), DCF_EINVAL);
    char body[] = "{\"a\":1}";
    dcf_client_req_t q = {
        .method = "POST", .path = "/slow", .body = body, .body_len = strlen(body)};
    CHECK_INT(dcf_client_multi_add(m, &q, 100), DCF_OK);
    body[5] = '2'; /* the multi copied the first body */
    q.path = "/fast";
    CHECK_INT(dcf_client_multi_add(m, &q, 101), DCF_OK);
    q.path = "/third";
    CHECK_INT(dcf_client_multi_add(m, &q, 102), DCF_ELIMIT); /* both slots busy */
    CHECK_INT(dcf_client_multi_pending(m), 2);
    uint64_t tag = 0;
    int xrc = -1;
    dcf_client_resp_t r;
    char err[DCF_CLIENT_ERR_LEN];
    CHECK_INT(dcf_client_multi_wait(m, &tag, &xrc, &r, err, sizeof err), DCF_OK);
    CHECK_INT(tag, 101);
    CHECK_INT(xrc, DCF_OK);
    CHECK_INT(json_integer_value(json_object_get(r.body, "n")), 1);
    dcf_client_resp_clear(&r);
    CHECK_INT(dcf_client_multi_add(m, &q, 102), DCF_OK);
    int seen = 0;
    while (dcf_client_multi_wait(m, &tag, &xrc, &r, err, sizeof err) == DCF_OK) {
        CHECK_INT(xrc, DCF_OK);
        if (tag == 100) {
            CHECK_INT(r.status, 201);
            seen |= 1;
        }
        if (tag == 102) {
            CHECK_INT(r.status, 422);
            seen |= 2;
        }
        dcf_client_resp_clear(&r);
    }
    CHECK_INT(seen, 3);
    CHECK_INT(dcf_client_multi_pending(m), 0);
    CHECK(strstr(f.requests[0], "\r\n\r\n{\"a\":1}") != NULL);
    CHECK(strstr(f.requests[1], "\r\n\r\n{\"a\":2}") != NULL);
    dcf_client_multi_free(m);
    dcf_client_free(c);
    fake_stop(&f);
}

typedef struct {
    char ids[16][16], types[16][32], data[16][128];
    int n, stop_after;
} events_t;

static int on_event(void *arg, const char *id, const char *event, const char *data) {
    events_t *e = arg;
    if (e->n < 16) {
        snprintf(e->ids[e->n], sizeof e->ids[0], "%s", id);
        snprintf(e->types[e->n], sizeof e->types[0], "%s", event);
        snprintf(e->data[e->n], sizeof e->data[0], "%s", data);
    }
    e->n++;
    return e->stop_after > 0 && e->n >= e->stop_after;
}

static void test_stream(void) {
    fake_t f = {0};
    f.n_replies = 4;
    /* 0: a stream with every kind of line, split mid-line, ended by the server. */
    f.replies[0].chunks[0] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
                             ": heartbeat\r\nid: 41\r\nevent: conflict.opened\r\nda";
    f.replies[0].chunks[1] = "ta: {\"a\":1}\r\n\r\nid: 42\nevent: x\ndata: one\ndata:two\n\n"
                             "event: lonely\n\n";
    f.replies[0].chunks[2] = "id: 43\ndata: three\n\n";
    /* 1: the callback stops after one event. */
    f.replies[1].chunks[0] = "HTTP/1.1 200 OK\r\n\r\nid: 1\ndata: a\n\nid: 2\ndata: b\n\n";
    f.replies[1].chunks[1] = "id: 3\ndata: c\n\n";
    /* 2: a refusal. */
    f.replies[2].chunks[0] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 19\r\n\r\n"
                             "{\"title\":\"No way\"}\n";
    /* 3: a dropped connection (chunked, cut short). */
    f.replies[3].chunks[0] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "f\r\nid: 9\ndata: z\n\n\r\n5\r\nid: ";
    fake_start(&f);
    dcf_client_t *c = client_for(&f, 0);
    dcf_client_resp_t r;
    char err[DCF_CLIENT_ERR_LEN];
    events_t e = {0};
    volatile sig_atomic_t stop = 0;
    dcf_client_req_t q = {.path = "/v1/events", .last_event_id = "40"};
    CHECK_INT(dcf_client_stream(c, &q, on_event, &e, &stop, &r, err, sizeof err), DCF_OK);
    CHECK_INT(r.status, 200);
    CHECK_INT(e.n, 3);
    CHECK_STR(e.ids[0], "41");
    CHECK_STR(e.types[0], "conflict.opened");
    CHECK_STR(e.data[0], "{\"a\":1}");
    CHECK_STR(e.ids[1], "42");
    CHECK_STR(e.data[1], "one\ntwo");
    CHECK_STR(e.ids[2], "43");
    CHECK_STR(e.types[2], "message"); /* the type does not carry over */
    CHECK(strstr(f.requests[0], "Last-Event-ID: 40\r\n") != NULL);
    dcf_client_resp_clear(&r);

    events_t e2 = {.stop_after = 1};
    CHECK_INT(dcf_client_stream(c, &(dcf_client_req_t){.path = "/v1/events"}, on_event, &e2, &stop,
                                &r, err, sizeof err),
              DCF_OK);
    CHECK_INT(e2.n, 1);
    CHECK_STR(e2.data[0], "a");
    dcf_client_resp_clear(&r);

    events_t e3 = {0};
    CHECK_INT(dcf_client_stream(c, &(dcf_client_req_t){.path = "/v1/events"}, on_event, &e3, &stop,
                                &r, err, sizeof err),
              DCF_OK);
    CHECK_INT(r.status, 403);
    CHECK_INT(e3.n, 0);
    CHECK_STR(json_string_value(json_object_get(r.body, "title")), "No way");
    dcf_client_resp_clear(&r);

    events_t e4 = {0};
    CHECK_INT(dcf_client_stream(c, &(dcf_client_req_t){.path = "/v1/events"}, on_event, &e4, &stop,
                                &r, err, sizeof err),
              DCF_EIO);
    CHECK_INT(e4.n, 1);
    CHECK_STR(e4.ids[0], "9");
    dcf_client_free(c);
    fake_stop(&f);
}

/* A silent stream ends when the stop flag is set (as Ctrl-C sets it). */
static volatile sig_atomic_t flag;

static void *raise_later(void *arg) {
    (void)arg;
    nap(300);
    flag = 1;
    return NULL;
}

static void test_stream_stop_flag(void) {
    fake_t f = {0};
    f.n_replies = 1;
    f.replies[0].chunks[0] = "HTTP/1.1 200 OK\r\n\r\n: hello\nid: 5\ndata: x\n\n";
    f.replies[0].linger_ms = 600000; /* a quiet stream that stays open: only the flag ends it */
    fake_start(&f);
    dcf_client_t *c = client_for(&f, 0);
    dcf_client_resp_t r;
    char err[DCF_CLIENT_ERR_LEN];
    events_t e = {0};
    pthread_t th;
    flag = 0;
    pthread_create(&th, NULL, raise_later, NULL);
    time_t t0 = time(NULL);
    CHECK_INT(dcf_client_stream(c, &(dcf_client_req_t){.path = "/v1/events"}, on_event, &e, &flag,
                                &r, err, sizeof err),
              DCF_OK);
    CHECK(time(NULL) - t0 <= 3); /* the flag is checked about once a second */
    CHECK_INT(e.n, 1);
    pthread_join(th, NULL);
    dcf_client_resp_clear(&r);
    dcf_client_free(c);
    fake_stop(&f);
}

int main(void) {
    RUN(test_request_and_answer);
    RUN(test_limit_and_transport_errors);
    RUN(test_multi_out_of_order);
    RUN(test_stream);
    RUN(test_stream_stop_flag);
    TEST_DONE();
}
