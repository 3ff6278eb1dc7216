/*
 * http_int.h -- private structures of the HTTP layer (src/http/ only).
 *
 * Files:
 *   server.c   start/stop, the libmicrohttpd callbacks, the request's life
 *   router.c   the compiled route table and path matching
 *   reply.c    request accessors and the dcf_http_reply_* family
 *   stream.c   event streams: content reader, suspend/resume, wake
 *   metrics.c  counters and histograms, Prometheus text
 *   log.c      the JSON-lines access log and libmicrohttpd's messages
 *
 * LOCKS.  `dcf_http_s.mu` guards the stream list and every stream's
 * `suspended`/`pending`/`req` fields, `stopping`, `deferred_open`,
 * `waking` and each deferred request's `resumed`/`suspended`.  `metrics_mu`
 * guards the series.  Lock order: libmicrohttpd's response mutex (held
 * while it calls a content reader) -> mu -> libmicrohttpd's connection-list
 * mutex (taken inside MHD_suspend_connection / MHD_resume_connection).
 * Suspending happens under mu; resuming mostly after it is let go, once the
 * connection has been marked not suspended under mu (stream.c's wake,
 * server.c's dcf_http_req_resume say why that is safe).  Nothing here calls
 * into the application while holding mu or metrics_mu.
 *
 * OWNERSHIP.  A dcf_http_req_t is created on a connection's first access
 * callback, stored in libmicrohttpd's per-request pointer, and freed in the
 * request-completed callback.  A stream belongs to its libmicrohttpd
 * response: it is freed (and ops->close runs) in the response's free
 * callback, which libmicrohttpd calls exactly once.
 */
#ifndef DCF_HTTP_INT_H
#define DCF_HTTP_INT_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <time.h>

#include "deconflict/http.h"

#define DCF__HTTP_SEGMENTS_MAX     32 /* segments in one route pattern */
#define DCF__HTTP_RESP_HEADERS_MAX 32 /* headers a handler may set on one response */
#define DCF__HTTP_NAME_MAX         64 /* bytes of a method, header name or log key */
#define DCF__HTTP_BUCKETS          13 /* 12 finite histogram buckets + +Inf */
#define DCF__HTTP_METHOD_CLASSES   8  /* unmatched requests: GET ... OPTIONS, other */
#define DCF__HTTP_STREAM_BLOCK     16384

/* --------------------------------------------------------------- router -- */

typedef struct {
    const char *text; /* literal bytes, or the parameter's name */
    size_t len;
    bool param;
} dcf__http_seg_t;

typedef struct {
    const dcf_http_route_t *route;
    size_t n_seg;
    dcf__http_seg_t seg[DCF__HTTP_SEGMENTS_MAX];
} dcf__http_croute_t;

typedef struct {
    const char *name; /* borrowed from the pattern; not NUL-terminated */
    size_t name_len;
    char *value; /* decoded, owned */
} dcf__http_param_t;

/* The router's verdict for one request. */
typedef struct {
    int route;       /* index of the matched route, or -1 */
    unsigned status; /* 0 = matched; 404 or 405 otherwise */
    char allow[128]; /* for 405: "GET, POST" */
    size_t n_params;
    dcf__http_param_t params[DCF_HTTP_PARAMS_MAX];
} dcf__http_match_t;

int dcf__http_routes_compile(const dcf_http_route_t *routes, size_t n, dcf__http_croute_t **out,
                             char *err, size_t errlen);
/* Fills m (params owned by m on success; see dcf__http_match_clear).
 * Returns DCF_OK or DCF_ENOMEM. */
int dcf__http_route_match(const dcf__http_croute_t *table, size_t n, const char *method,
                          const char *path, dcf__http_match_t *m);
void dcf__http_match_clear(dcf__http_match_t *m);
/* Strict percent-decoding of src[0..len) into a new NUL-terminated string.
 * DCF_EPARSE for a malformed escape, DCF_ENOMEM. */
int dcf__http_pct_decode(const char *src, size_t len, char **out, size_t *outlen);

/* -------------------------------------------------------------- metrics -- */

typedef struct {
    const char *route; /* pattern or "unmatched" */
    const char *method;
    unsigned status[DCF_HTTP_STATUS_SLOTS]; /* 0 = free slot */
    uint64_t count[DCF_HTTP_STATUS_SLOTS];
    uint64_t other;                     /* statuses beyond the slots */
    uint64_t bucket[DCF__HTTP_BUCKETS]; /* per bucket, not cumulative */
    uint64_t n, sum_us;
} dcf__http_series_t;

int dcf__http_metrics_init(dcf_http_t *h);
void dcf__http_metrics_free(dcf_http_t *h);
/* Count one answered request. route = -1 for the router's own answers. */
void dcf__http_metrics_record(dcf_http_t *h, int route, const char *method, unsigned status,
                              int64_t duration_us);

/* -------------------------------------------------------------- streams -- */

typedef struct dcf__http_stream_s {
    dcf_http_t *h;
    uint64_t tag;
    dcf_http_stream_ops_t ops;
    void *arg;
    struct MHD_Connection *conn;
    dcf_http_req_t *req; /* NULL once the request completed first (under mu) */
    uint64_t bytes_out;  /* under mu */
    bool suspended;      /* MHD_suspend_connection done, no resume yet (under mu) */
    bool pending;        /* a wake arrived while not suspended (under mu) */
    bool was_suspended;  /* suspended since the last read: peek for a closed peer (under mu) */
    struct dcf__http_stream_s *prev, *next;
} dcf__http_stream_t;

/* Build r's response from a stream; see dcf_http_reply_stream. */
void dcf__http_stream_reply(dcf_http_req_t *r, uint64_t tag, const dcf_http_stream_ops_t *ops,
                            void *arg);
/* Resume every suspended stream and stop new ones (dcf_http_stop). */
void dcf__http_streams_shutdown(dcf_http_t *h);

/* -------------------------------------------------------------- request -- */

typedef struct {
    char *key, *value;
} dcf__http_kv_t;

struct dcf_http_req_s {
    dcf_http_t *h;
    struct MHD_Connection *conn;
    char method[DCF__HTTP_NAME_MAX];
    char *path; /* raw, without the query; truncated copy when over the limit */
    char id[DCF_HTTP_REQID_LEN + 1];
    struct timespec t0; /* CLOCK_MONOTONIC at the first callback */
    bool loopback;

    dcf__http_match_t match;
    dcf__http_kv_t *query;
    size_t n_query;

    char *body; /* NUL-terminated */
    size_t body_len, body_cap;
    uint64_t bytes_in;
    bool body_too_large; /* over max_body: discarding, answer 413 */
    bool body_oom;       /* out of memory: discarding, answer 500 */

    dcf__http_kv_t headers[DCF__HTTP_RESP_HEADERS_MAX];
    size_t n_headers;
    dcf__http_kv_t log[DCF_HTTP_LOG_FIELDS];
    size_t n_log;

    /* Deferral (dcf_http_req_defer); `resumed` and `suspended` under h->mu. */
    dcf_http_resume_fn cont;
    void *cont_arg;
    bool deferred;  /* the handler deferred; the continuation has not run */
    bool resumed;   /* dcf_http_req_resume was called */
    bool suspended; /* MHD_suspend_connection done, not yet resumed */
    bool counted;   /* in h->deferred_open until the request completes */

    bool replied; /* a dcf_http_reply_* call was made */
    bool queued;  /* the response went to libmicrohttpd */
    unsigned status;
    struct MHD_Response *resp;
    uint64_t bytes_out;
    dcf__http_stream_t *stream; /* under h->mu */
};

/* Reply helpers used by the router paths in server.c. */
void dcf__http_problem(dcf_http_req_t *r, unsigned status, const char *type, const char *detail);
const char *dcf__http_reason(unsigned status);
/* Add the common headers (X-Request-Id, the handler's) to resp.  false on
 * failure. */
bool dcf__http_add_headers(dcf_http_req_t *r, struct MHD_Response *resp);

/* ------------------------------------------------------------------ log -- */

/* Write the access-log line for a finished request. */
void dcf__http_log_request(dcf_http_t *h, dcf_http_req_t *r, enum MHD_RequestTerminationCode tc);
/* Write {"level": level, "msg": msg, ...} with the request's id and route
 * when r is non-NULL. */
void dcf__http_log_event(dcf_http_t *h, const char *level, const char *msg, const dcf_http_req_t *r,
                         const char *detail);
/* json_string(s), or for invalid UTF-8 a string with bytes >= 0x80 as %HH. */
json_t *dcf__http_json_str(const char *s);
/* libmicrohttpd's MHD_OPTION_EXTERNAL_LOGGER. */
void dcf__http_log_mhd(void *cls, const char *fmt, va_list ap);

/* --------------------------------------------------------------- server -- */

struct dcf_http_s {
    dcf_http_opts_t opts; /* copy, with the defaults filled in */
    struct MHD_Daemon *mhd;
    uint16_t port;
    bool tls;

    dcf__http_croute_t *routes;
    size_t n_routes;

    pthread_mutex_t mu;
    bool stopping;
    dcf__http_stream_t *streams;
    size_t n_streams, streams_max;

    atomic_long connections;
    size_t deferred_open;     /* deferred requests not yet completed (under mu) */
    size_t waking;            /* stream wakes resuming outside mu (stream.c; under mu) */
    pthread_cond_t resume_cv; /* a resume or a continuation happened (with mu) */

    pthread_mutex_t metrics_mu;
    dcf__http_series_t *series; /* n_routes route series, then the unmatched ones */
    size_t n_series;
};

int64_t dcf__http_elapsed_us(const struct timespec *t0);

#endif /* DCF_HTTP_INT_H */
