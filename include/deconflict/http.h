/*
 * http.h -- the HTTP layer: libmicrohttpd underneath, a route table, JSON
 * and RFC 9457 problem responses, Server-Sent Event streams, per-route
 * metrics and a JSON-lines access log.
 *
 * WHAT IT IS FOR.  The server's API handlers (src/api/) are written against
 * this interface and never see libmicrohttpd.  This layer knows nothing of
 * parties, tokens or operations.
 *
 * MODEL.  dcf_http_start() runs libmicrohttpd with an epoll thread pool.
 * When a request's body has been read completely (bodies larger than
 * opts.max_body get 413 without reaching a handler), the router matches the
 * path against the route table: no pattern matches -> 404, a pattern matches
 * but not for this method -> 405 with `Allow`.  Otherwise the route's handler
 * runs on the pool thread with the request; it must produce exactly one
 * response through one of the dcf_http_reply_* calls before returning (a
 * handler that replies nothing yields a 500 problem).  Handlers may block,
 * but a handler that waits for something slow (a durable write) should
 * defer instead: dcf_http_req_defer() suspends the connection (no thread is
 * held), and once dcf_http_req_resume() is called the continuation runs on
 * a pool thread and replies.
 *
 * STREAMS.  dcf_http_reply_stream() turns the response into an endless
 * text/event-stream body.  The layer calls ops->read whenever it can send;
 * read returns bytes produced, 0 for "nothing now" (the connection is
 * suspended -- no thread is held -- until dcf_http_stream_wake() names its tag
 * or every tag), or -1 to end the stream.  ops->close runs exactly once when
 * the stream ends for any reason (client gone, -1, server stopping).
 *
 * THREADS.  Every function may be called from any thread, except that the
 * dcf_http_req_* / dcf_http_reply_* functions take a request and are only
 * valid inside its handler.  Route tables and opts are borrowed and must
 * outlive the server.
 */
#ifndef DECONFLICT_HTTP_H
#define DECONFLICT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "deconflict/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DCF_HTTP_ROUTES_MAX   256  /* routes in one table */
#define DCF_HTTP_PARAMS_MAX   4    /* {name} segments in one pattern */
#define DCF_HTTP_PATH_MAX     2048 /* bytes of a request path (longer: 414) */
#define DCF_HTTP_HEADER_MAX   8192 /* bytes of one header value we look at */
#define DCF_HTTP_REQID_LEN    16   /* hex characters of a request id */
#define DCF_HTTP_LOG_FIELDS   8    /* extra fields a handler may add to the log line */
#define DCF_HTTP_STATUS_SLOTS 24   /* distinct statuses counted per route (others -> "other") */
#define DCF_HTTP_THREADS_MAX  256  /* pool threads (opts.threads above: DCF_EINVAL) */

typedef struct dcf_http_s dcf_http_t;
typedef struct dcf_http_req_s dcf_http_req_t;

typedef void (*dcf_http_handler_fn)(void *app, dcf_http_req_t *req);

/* Route flags. */
enum {
    DCF_HTTP_JSON_BODY = 1u << 0, /* body must be application/json (else 415) */
};

typedef struct {
    const char *method;  /* "GET", "POST", "PUT", "DELETE" */
    const char *pattern; /* "/v1/operations/{id}": literal segments and {name} segments */
    dcf_http_handler_fn fn;
    unsigned flags;
} dcf_http_route_t;

typedef struct {
    const char *listen;       /* "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:0" (0 = any free port) */
    unsigned threads;         /* pool threads; 0 = number of CPUs */
    unsigned max_connections; /* concurrent connections; 0 = 1024 */
    size_t max_body;          /* bytes; 0 = 1 MiB */
    unsigned timeout_s;       /* idle connection timeout; 0 = 60 */
    const char *tls_cert_pem; /* PEM text (not a path) or NULL for plain HTTP */
    const char *tls_key_pem;  /* PEM text or NULL */
    FILE *log;                /* access log (JSON lines) or NULL for none */
    const dcf_http_route_t *routes;
    size_t n_routes;
    void *app; /* passed to every handler */
} dcf_http_opts_t;

/* Validate opts and the route table, bind, start serving.  DCF_EINVAL for a
 * bad listen address or route table (message in err, may be NULL), DCF_EIO
 * when binding fails (address in use ...), DCF_ENOMEM. */
int dcf_http_start(const dcf_http_opts_t *opts, dcf_http_t **out, char *err, size_t errlen);

/* The port actually bound (useful with port 0). */
uint16_t dcf_http_port(const dcf_http_t *h);

/* Stop accepting, end every stream (their close callbacks run), wait for
 * handlers in flight, free everything.  NULL ok. */
void dcf_http_stop(dcf_http_t *h);

/* ----------------------------------------------------------- request -- */

const char *dcf_http_req_method(const dcf_http_req_t *r);
/* Path without the query string, percent-decoded segments not applied. */
const char *dcf_http_req_path(const dcf_http_req_t *r);
/* The route's pattern that matched (for logs and metrics). */
const char *dcf_http_req_route(const dcf_http_req_t *r);
/* The value of the {name} segment of the matched pattern, percent-decoded;
 * NULL if the pattern has no such segment. */
const char *dcf_http_req_param(const dcf_http_req_t *r, const char *name);
/* A query-string argument (decoded), or NULL. */
const char *dcf_http_req_query(const dcf_http_req_t *r, const char *name);
/* Calls cb for every query argument; used to reject unknown ones. */
void dcf_http_req_query_each(const dcf_http_req_t *r,
                             void (*cb)(void *arg, const char *key, const char *value), void *arg);
/* A request header (case-insensitive name), or NULL (also when the value
 * is longer than DCF_HTTP_HEADER_MAX). */
const char *dcf_http_req_header(const dcf_http_req_t *r, const char *name);
/* The body (NUL-terminated for convenience; may hold NULs itself). */
const char *dcf_http_req_body(const dcf_http_req_t *r, size_t *len);
/* The request id: DCF_HTTP_REQID_LEN hex characters, also sent back in
 * X-Request-Id and written to the log line. */
const char *dcf_http_req_id(const dcf_http_req_t *r);
/* True when the connection came over TLS or from a loopback address. */
bool dcf_http_req_is_tls(const dcf_http_req_t *r);
/* True only when the connection came over TLS (a cookie's Secure flag). */
bool dcf_http_req_over_tls(const dcf_http_req_t *r);
/* Add "key": "value" to this request's access-log line (copied; at most
 * DCF_HTTP_LOG_FIELDS, further calls ignored). */
void dcf_http_req_log(dcf_http_req_t *r, const char *key, const char *value);

/* ------------------------------------------------------------- defer -- */

/* A continuation: runs on a pool thread after dcf_http_req_resume, with the
 * app pointer, the request and the arg given to dcf_http_req_defer.  It is
 * the request's handler from then on: it must reply (else 500). */
typedef void (*dcf_http_resume_fn)(void *app, dcf_http_req_t *r, void *arg);

/*
 * Inside a handler: answer later.  The handler returns without replying;
 * the connection is suspended until dcf_http_req_resume(r), then `fn(app,
 * r, arg)` runs and replies.  Call at most once per request, and resume
 * exactly once per defer.  resume may come from any thread, even before
 * the handler returns (the continuation then runs right after it).
 * Between defer and the continuation, nothing but dcf_http_req_resume may
 * touch r.  The continuation runs exactly once per defer, even when the
 * client has gone away meanwhile (its reply is then discarded), so it may
 * free what the handler set aside.  dcf_http_stop waits until every
 * deferred request has completed (its answer sent, or its client gone).
 */
void dcf_http_req_defer(dcf_http_req_t *r, dcf_http_resume_fn fn, void *arg);
/* Any thread: the deferred answer is ready; see dcf_http_req_defer. */
void dcf_http_req_resume(dcf_http_req_t *r);

/* ---------------------------------------------------------- response -- */

/* Add a response header (copied).  Call before the reply. */
void dcf_http_set_header(dcf_http_req_t *r, const char *name, const char *value);

/* Reply with bytes (copied) and a content type. */
void dcf_http_reply(dcf_http_req_t *r, unsigned status, const char *content_type, const void *body,
                    size_t len);
/* Reply with a JSON value (jansson json_t *, serialised compactly, then the
 * reference is stolen: the layer decrefs it).  NULL body -> 500. */
struct json_t;
void dcf_http_reply_json(dcf_http_req_t *r, unsigned status, struct json_t *body);
/*
 * Reply application/problem+json (RFC 9457):
 *   {"type": "https://deconflict.dev/problems/<type>", "title": title,
 *    "status": status, "detail": detail, "instance": <request path>,
 *    "request_id": ..., "errors": errors}
 * `type` is a short stable slug ("validation", "not-found", ...); `errors`
 * (stolen, may be NULL) is a JSON array of {"pointer": ..., "rule": ...}.
 * detail may be NULL.
 */
void dcf_http_reply_problem(dcf_http_req_t *r, unsigned status, const char *type, const char *title,
                            const char *detail, struct json_t *errors);
/* The same with extension members (RFC 9457 section 3.2): `extra` (stolen,
 * may be NULL) is a JSON object whose members are added to the problem;
 * members the problem already has are never overwritten. */
void dcf_http_reply_problem_extra(dcf_http_req_t *r, unsigned status, const char *type,
                                  const char *title, const char *detail, struct json_t *errors,
                                  struct json_t *extra);

/* ----------------------------------------------------------- streams -- */

typedef struct {
    /* Write up to `max` bytes into buf.  Return >0 bytes written, 0 for
     * nothing now (suspend until woken), -1 to end the stream. */
    ssize_t (*read)(void *arg, char *buf, size_t max);
    /* The stream ended; free arg.  Runs exactly once. */
    void (*close)(void *arg);
} dcf_http_stream_ops_t;

/* Reply 200 text/event-stream (Cache-Control: no-cache) whose body comes
 * from ops; `tag` groups streams for dcf_http_stream_wake (the app uses its
 * party number; must be non-zero).  On failure (limit, memory) replies 503
 * itself and calls ops->close(arg).  The limit: at most 3/4 of
 * max_connections may be streams, so ordinary requests always find room. */
void dcf_http_reply_stream(dcf_http_req_t *r, uint64_t tag, const dcf_http_stream_ops_t *ops,
                           void *arg);
/* Resume every suspended stream with this tag (0: every stream), so their
 * read runs again soon.  Cheap when nothing matches. */
void dcf_http_stream_wake(dcf_http_t *h, uint64_t tag);
/* Open streams with this tag (0: all). */
size_t dcf_http_stream_count(dcf_http_t *h, uint64_t tag);

/* ----------------------------------------------------------- metrics -- */

/* Write this layer's metrics in Prometheus text format (0.0.4):
 *   dcf_http_requests_total{route="...",method="...",status="..."} counter
 *   dcf_http_request_duration_seconds{route="...",method="..."} histogram
 *     (buckets .0005 .001 .0025 .005 .01 .025 .05 .1 .25 .5 1 2.5 +Inf)
 *   dcf_http_connections, dcf_http_streams gauges
 * 404/405 answered by the router count under route="unmatched". */
int dcf_http_metrics_write(dcf_http_t *h, FILE *out);

#ifdef __cplusplus
}
#endif
#endif /* DECONFLICT_HTTP_H */
