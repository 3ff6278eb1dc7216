/*
 * api.c -- the route table and the handlers of the HTTP API (docs/api.md).
 *
 * EVERY /v1 HANDLER: service attached (else 503 not-ready) -> bearer token
 * (else 401) -> per-token rate limit (else 429 with Retry-After) -> query
 * arguments parsed strictly (else 400 bad-query) -> one service call ->
 * its JSON, or its problem with the status from PROBLEM_STATUS.  Access
 * rules live in the service, next to the data they protect.
 *
 * INVARIANTS.  A handler replies exactly once.  Nothing here keeps state
 * about a request after it returns, except event streams, which own an
 * sse_t until the HTTP layer calls their close.
 */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <pthread.h>

#include "api_int.h"

extern const unsigned char dcf_openapi_json[];
extern const size_t dcf_openapi_json_len;

/* --------------------------------------------------------------- setup -- */

int dcf_api_new(const dcf_api_opts_t *opts, dcf_api_t **out) {
    dcf_api_t *a = calloc(1, sizeof *a);
    if (a == NULL)
        return DCF_ENOMEM;
    a->o = *opts;
    if (opts->tile_url != NULL) {
        snprintf(a->tile_url, sizeof a->tile_url, "%s", opts->tile_url);
        const char *host = strstr(a->tile_url, "://");
        size_t n = host ? (size_t)(host + 3 - a->tile_url) + strcspn(host + 3, "/") : 0;
        snprintf(a->tile_origin, sizeof a->tile_origin, "%.*s", (int)n, a->tile_url);
    }
    a->o.tile_url = NULL; /* the caller's string need not outlive this call */
    if (a->o.page_max == 0)
        a->o.page_max = 1000;
    if (a->o.heartbeat_us <= 0)
        a->o.heartbeat_us = 15 * DCF_USEC_PER_SEC;
    pthread_mutex_init(&a->lock, NULL);
    if (dcf_strmap_new(&a->buckets) != DCF_OK) {
        free(a);
        return DCF_ENOMEM;
    }
    *out = a;
    return DCF_OK;
}

void dcf_api_free(dcf_api_t *a) {
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->n_buckets; i++)
        free(a->bucket_list[i]);
    free(a->bucket_list);
    dcf_strmap_free(a->buckets);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

void dcf_api_set_http(dcf_api_t *a, dcf_http_t *h) {
    atomic_store(&a->http, h);
}

void dcf_api_set_service(dcf_api_t *a, dcf_service_t *s) {
    atomic_store(&a->svc, s);
}

void dcf_api_on_event(void *api, uint64_t party_tag) {
    dcf_api_t *a = api;
    dcf_http_t *h = atomic_load(&a->http);
    if (h != NULL)
        dcf_http_stream_wake(h, party_tag);
}

void dcf_api_tick(dcf_api_t *a) {
    dcf_api_on_event(a, 0);
}

/* ------------------------------------------------------------ problems -- */

static const struct {
    const char *type;
    unsigned status;
} PROBLEM_STATUS[] = {
    {"malformed-json", 400},     {"bad-query", 400}, {"unauthorized", 401},
    {"forbidden", 403},          {"not-found", 404}, {"conflict", 409},
    {"invalid-transition", 409}, {"exists", 409},    {"stale", 412},
    {"validation", 422},         {"notice", 422},    {"precondition-required", 428},
    {"rate-limited", 429},       {"not-ready", 503}, {"too-many-streams", 503},
    {"suspended", 409},          {"csrf", 403},      {"internal", 500},
};

static unsigned problem_status(const char *type) {
    for (size_t i = 0; i < sizeof PROBLEM_STATUS / sizeof PROBLEM_STATUS[0]; i++)
        if (type != NULL && strcmp(type, PROBLEM_STATUS[i].type) == 0)
            return PROBLEM_STATUS[i].status;
    return 500;
}

/* Reply with a service problem (and free it).  detail: the first broken
 * rule in words, or the title again. */
void api_reply_problem(dcf_http_req_t *r, dcf_problem_t *p) {
    const char *type = p->type ? p->type : "internal";
    char detail[DCF_PROBLEM_TEXT + 200];
    json_t *e0 = json_array_get(p->errors, 0);
    if (e0 != NULL) {
        const char *ptr = json_string_value(json_object_get(e0, "pointer"));
        snprintf(detail, sizeof detail, "%s: %s%s", ptr && ptr[0] ? ptr : "(the body)",
                 json_string_value(json_object_get(e0, "rule")),
                 json_array_size(p->errors) > 1 ? " (and more; see errors)" : "");
    } else {
        snprintf(detail, sizeof detail, "%s", p->title);
    }
    dcf_http_reply_problem_extra(r, problem_status(type), type, p->title, detail, p->errors,
                                 p->extra);
    p->errors = p->extra = NULL;
    dcf_problem_clear(p);
}

void api_reply_simple(dcf_http_req_t *r, unsigned status, const char *type, const char *title,
                      const char *pointer, const char *rule) {
    json_t *errors = NULL;
    char detail[512];
    if (pointer != NULL) {
        errors = json_pack("[{s:s, s:s}]", "pointer", pointer, "rule", rule);
        snprintf(detail, sizeof detail, "%s: %s", pointer, rule);
    } else {
        snprintf(detail, sizeof detail, "%s", title);
    }
    dcf_http_reply_problem(r, status, type, title, detail, errors);
}

/* -------------------------------------------------------------- access -- */

/* Take a token from the caller's bucket; false (and *retry) when empty. */
static bool rate_take(dcf_api_t *a, const char *token, unsigned *retry) {
    if (a->o.rate <= 0)
        return true;
    dcf_time_t now = dcf_time_now();
    double cap = a->o.rate * 2.0;
    bool ok = false;
    pthread_mutex_lock(&a->lock);
    bucket_t *b = dcf_strmap_get(a->buckets, token);
    if (b == NULL && a->n_buckets < API_BUCKETS_MAX) {
        bucket_t **nl = realloc(a->bucket_list, (a->n_buckets + 1) * sizeof *nl);
        b = calloc(1, sizeof *b);
        if (nl != NULL)
            a->bucket_list = nl;
        if (b != NULL && nl != NULL) {
            snprintf(b->token, sizeof b->token, "%s", token);
            b->tokens = cap;
            b->at = now;
            if (dcf_strmap_put(a->buckets, b->token, b) == DCF_OK)
                a->bucket_list[a->n_buckets++] = b;
            else {
                free(b);
                b = NULL;
            }
        } else {
            free(b);
            b = NULL;
        }
    }
    if (b == NULL) {
        ok = true; /* no memory for a bucket: do not refuse service for it */
    } else {
        b->tokens = fmin(cap, b->tokens + (double)(now - b->at) * a->o.rate / 1e6);
        b->at = now;
        if (b->tokens >= 1.0) {
            b->tokens -= 1.0;
            ok = true;
        } else {
            *retry = (unsigned)ceil((1.0 - b->tokens) / a->o.rate);
            if (*retry == 0)
                *retry = 1;
        }
    }
    pthread_mutex_unlock(&a->lock);
    return ok;
}

/* Service, token and rate limit; replies and returns NULL on failure. */
dcf_service_t *api_enter(dcf_api_t *a, dcf_http_req_t *r, dcf_principal_t *who) {
    dcf_service_t *s = atomic_load(&a->svc);
    if (s == NULL) {
        dcf_http_set_header(r, "Retry-After", "1");
        api_reply_simple(r, 503, "not-ready", "The server is still loading", NULL, NULL);
        return NULL;
    }
    const char *h = dcf_http_req_header(r, "Authorization");
    const char *tok = NULL;
    if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0) {
        tok = h + 7;
        while (*tok == ' ')
            tok++;
    }
    char cookie[DCF_TOKEN_LEN + 8], csrf[DCF_SESSION_CSRF_LEN + 1];
    if (h == NULL && api_session_cookie(r, cookie, sizeof cookie)) {
        /* The console: the session's token, and for a change its CSRF token. */
        if (dcf_session_authenticate(s, cookie, who, csrf) != DCF_OK) {
            api_reply_simple(r, 401, "unauthorized", "The session has ended: sign in again", NULL,
                             NULL);
            return NULL;
        }
        const char *m = dcf_http_req_method(r);
        if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0 &&
            !dcf_session_csrf_ok(csrf, dcf_http_req_header(r, "X-CSRF-Token"))) {
            api_reply_simple(r, 403, "csrf", "Send the session's CSRF token in X-CSRF-Token",
                             "X-CSRF-Token", "must be the csrf value of the session");
            return NULL;
        }
    } else if (tok == NULL || dcf_service_authenticate(s, tok, who) != DCF_OK) {
        dcf_http_set_header(r, "WWW-Authenticate", "Bearer realm=\"deconflict\"");
        api_reply_simple(r, 401, "unauthorized",
                         tok == NULL ? "Send Authorization: Bearer <token>"
                                     : "The token is unknown, malformed or revoked",
                         NULL, NULL);
        return NULL;
    }
    dcf_http_req_log(r, "token", who->token_id);
    if (who->party[0] != '\0')
        dcf_http_req_log(r, "party", who->party);
    unsigned retry = 1;
    if (!rate_take(a, who->token_id, &retry)) {
        char buf[16];
        snprintf(buf, sizeof buf, "%u", retry);
        dcf_http_set_header(r, "Retry-After", buf);
        api_reply_simple(r, 429, "rate-limited", "Too many requests for this token", NULL, NULL);
        return NULL;
    }
    return s;
}

/* Reply with a service call's outcome. */
void api_finish(dcf_http_req_t *r, int rc, unsigned status, json_t *body, dcf_problem_t *p) {
    if (rc == DCF_OK)
        dcf_http_reply_json(r, status, body);
    else
        api_reply_problem(r, p);
}

/* --------------------------------------------------------------- query -- */

typedef struct {
    const char *const *allowed;
    const char *bad;
} qcheck_t;

static void qcheck_cb(void *arg, const char *key, const char *value) {
    qcheck_t *q = arg;
    (void)value;
    if (q->bad != NULL)
        return;
    for (size_t i = 0; q->allowed[i] != NULL; i++)
        if (strcmp(key, q->allowed[i]) == 0)
            return;
    q->bad = key;
}

/* Reply 400 naming `?name`; returns false for chaining. */
bool api_bad_query(dcf_http_req_t *r, const char *name, const char *rule) {
    char ptr[80];
    snprintf(ptr, sizeof ptr, "?%.60s", name);
    api_reply_simple(r, 400, "bad-query", "Bad query argument", ptr, rule);
    return false;
}

bool api_query_only(dcf_http_req_t *r, const char *const *allowed) {
    qcheck_t q = {allowed, NULL};
    dcf_http_req_query_each(r, qcheck_cb, &q);
    if (q.bad != NULL)
        return api_bad_query(r, q.bad, "is not a known query argument");
    return true;
}

bool api_query_int(dcf_http_req_t *r, const char *name, int64_t lo, int64_t hi, int64_t *out) {
    const char *v = dcf_http_req_query(r, name);
    char *end;
    char rule[96];
    if (v == NULL)
        return true;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (*v == '\0' || *end != '\0' || errno != 0 || x < lo || x > hi) {
        snprintf(rule, sizeof rule, "must be an integer from %lld to %lld", (long long)lo,
                 (long long)hi);
        return api_bad_query(r, name, rule);
    }
    *out = x;
    return true;
}

/* state=a,b -> bits via parse(name, len) (0 = unknown). */
static bool query_states(dcf_http_req_t *r, unsigned (*bit)(const char *, size_t), unsigned *out) {
    const char *v = dcf_http_req_query(r, "state");
    *out = 0;
    if (v == NULL)
        return true;
    for (const char *p = v;;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        unsigned b = bit(p, n);
        if (b == 0)
            return api_bad_query(r, "state", "must be a comma-separated list of known states");
        *out |= b;
        if (c == NULL)
            break;
        p = c + 1;
    }
    return true;
}

static unsigned op_state_bit(const char *s, size_t n) {
    dcf_op_state_t st;
    return dcf_op_state_parse(s, n, &st) == DCF_OK ? 1u << st : 0;
}

/* ----------------------------------------------------------- handlers -- */

static void h_healthz(void *app, dcf_http_req_t *r) {
    (void)app;
    dcf_http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

static void h_readyz(void *app, dcf_http_req_t *r) {
    dcf_api_t *a = app;
    dcf_service_t *s = atomic_load(&a->svc);
    if (s == NULL) {
        dcf_http_set_header(r, "Retry-After", "1");
        api_reply_simple(r, 503, "not-ready", "The server is still loading", NULL, NULL);
        return;
    }
    dcf_http_reply_json(r, 200,
                        json_pack("{s:s, s:I}", "status", "ready", "operations",
                                  (json_int_t)dcf_service_live_operations(s)));
}

static void h_metrics(void *app, dcf_http_req_t *r) {
    dcf_api_t *a = app;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL) {
        api_reply_simple(r, 500, "internal", "Out of memory", NULL, NULL);
        return;
    }
    dcf_http_t *h = atomic_load(&a->http);
    dcf_service_t *s = atomic_load(&a->svc);
    if (h != NULL)
        dcf_http_metrics_write(h, f);
    if (s != NULL) {
        dcf_store_stats_t st;
        dcf_service_store_stats(s, &st);
        fprintf(f,
                "# HELP dcf_operations_live Planned and active operations in the engine.\n"
                "# TYPE dcf_operations_live gauge\ndcf_operations_live %zu\n"
                "# HELP dcf_conflicts_open Conflicts not resolved (open, acknowledged or "
                "accepted).\n"
                "# TYPE dcf_conflicts_open gauge\ndcf_conflicts_open %zu\n",
                dcf_service_live_operations(s), dcf_service_open_conflicts(s));
        fprintf(f,
                "# HELP dcf_lines_open Hotline lines open.\n"
                "# TYPE dcf_lines_open gauge\ndcf_lines_open %zu\n"
                "# HELP dcf_messages_undelivered Hotline message copies not yet delivered to "
                "a desk.\n"
                "# TYPE dcf_messages_undelivered gauge\ndcf_messages_undelivered %zu\n",
                dcf_service_lines_open(s), dcf_service_undelivered(s));
        fprintf(f,
                "# HELP dcf_store_commit_seconds Time spent in durable COMMITs.\n"
                "# TYPE dcf_store_commit_seconds summary\n"
                "dcf_store_commit_seconds_sum %.6f\ndcf_store_commit_seconds_count %llu\n"
                "# HELP dcf_store_writes_total Writes run by the store's writer.\n"
                "# TYPE dcf_store_writes_total counter\ndcf_store_writes_total %llu\n"
                "# HELP dcf_store_writes_failed_total Writes rolled back.\n"
                "# TYPE dcf_store_writes_failed_total counter\n"
                "dcf_store_writes_failed_total %llu\n"
                "# HELP dcf_store_batch_max Largest group commit so far.\n"
                "# TYPE dcf_store_batch_max gauge\ndcf_store_batch_max %llu\n"
                "# HELP dcf_store_queued Writes waiting for the writer.\n"
                "# TYPE dcf_store_queued gauge\ndcf_store_queued %llu\n",
                (double)st.commit_usec_sum / 1e6, (unsigned long long)st.batches,
                (unsigned long long)st.writes, (unsigned long long)st.writes_failed,
                (unsigned long long)st.batch_max_seen, (unsigned long long)st.queued);
    }
    fprintf(f,
            "# HELP dcf_event_streams Open event streams.\n"
            "# TYPE dcf_event_streams gauge\ndcf_event_streams %zu\n",
            h != NULL ? dcf_http_stream_count(h, 0) : 0);
    fclose(f);
    dcf_http_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len);
    free(buf);
}

static void h_openapi(void *app, dcf_http_req_t *r) {
    (void)app;
    dcf_http_reply(r, 200, "application/json", dcf_openapi_json, dcf_openapi_json_len);
}

const char *const api_no_query[] = {NULL};

const char *api_body(dcf_http_req_t *r, size_t *len) {
    return dcf_http_req_body(r, len);
}

static void h_whoami(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    json_t *out = NULL;
    if (!api_query_only(r, api_no_query))
        return;
    dcf_whoami(s, &who, &out);
    dcf_http_reply_json(r, 200, out);
}

static void h_party_create(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    size_t len;
    const char *body = api_body(r, &len);
    if (!api_query_only(r, api_no_query))
        return;
    int rc = dcf_party_create(s, &who, body, len, &out, &p);
    if (rc == DCF_OK) {
        char loc[96];
        snprintf(loc, sizeof loc, "/v1/parties/%s", json_string_value(json_object_get(out, "id")));
        dcf_http_set_header(r, "Location", loc);
    }
    api_finish(r, rc, 201, out, &p);
}

static void h_party_list(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    if (!api_query_only(r, api_no_query))
        return;
    int rc = dcf_party_list(s, &who, &out, &p);
    api_finish(r, rc, 200, out, &p);
}

static void h_party_get(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    if (!api_query_only(r, api_no_query))
        return;
    int rc = dcf_party_get(s, &who, dcf_http_req_param(r, "id"), &out, &p);
    api_finish(r, rc, 200, out, &p);
}

static void h_desk_set(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    size_t len;
    const char *body = api_body(r, &len);
    if (!api_query_only(r, api_no_query))
        return;
    int rc = dcf_party_set_desk(s, &who, dcf_http_req_param(r, "id"),
                                dcf_http_req_param(r, "level"), body, len, &out, &p);
    api_finish(r, rc, 200, out, &p);
}

static void h_token_create(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    size_t len;
    const char *body = api_body(r, &len);
    if (!api_query_only(r, api_no_query))
        return;
    dcf_http_set_header(r, "Cache-Control", "no-store");
    int rc = dcf_token_create(s, &who, dcf_http_req_param(r, "id"), body, len, &out, &p);
    api_finish(r, rc, 201, out, &p);
}

static void h_token_list(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    if (!api_query_only(r, api_no_query))
        return;
    int rc = dcf_token_list(s, &who, dcf_http_req_param(r, "id"), &out, &p);
    api_finish(r, rc, 200, out, &p);
}

static void h_token_revoke(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    if (!api_query_only(r, api_no_query))
        return;
    int rc = dcf_token_revoke(s, &who, dcf_http_req_param(r, "id"), &p);
    if (rc == DCF_OK)
        dcf_http_reply(r, 204, NULL, NULL, 0);
    else
        api_reply_problem(r, &p);
}

static void reply_op(dcf_http_req_t *r, int rc, unsigned status, json_t *out, const char *etag,
                     dcf_problem_t *p) {
    if (rc == DCF_OK) {
        dcf_http_set_header(r, "ETag", etag);
        if (status == 201) {
            char loc[128];
            snprintf(loc, sizeof loc, "/v1/operations/%s",
                     json_string_value(json_object_get(out, "id")));
            dcf_http_set_header(r, "Location", loc);
        }
    }
    api_finish(r, rc, status, out, p);
}

/* Operation writes answer after their group commit without holding a
 * thread: the handler starts the job and defers; the job's done callback
 * (on the store's writer thread) resumes the request; the continuation
 * finishes the job and replies. */
typedef struct {
    dcf_http_req_t *r;
    dcf_op_job_t *job;
    unsigned status;
} op_pending_t;

static void op_written(void *arg) {
    dcf_http_req_resume(((op_pending_t *)arg)->r);
}

static void op_continue(void *app, dcf_http_req_t *r, void *arg) {
    op_pending_t *pd = arg;
    dcf_problem_t p = {0};
    json_t *out = NULL;
    char etag[24] = "";
    (void)app;
    int rc = dcf_op_job_finish(pd->job, &out, etag, &p);
    reply_op(r, rc, pd->status, out, etag, &p);
    free(pd);
}

/* Allocate the pending record before starting, so that nothing can fail
 * between the start and the defer. */
static op_pending_t *op_pending_new(dcf_http_req_t *r, unsigned status) {
    op_pending_t *pd = calloc(1, sizeof *pd);
    if (pd == NULL)
        dcf_http_reply_problem(r, 503, "unavailable", "Out of memory", NULL, NULL);
    else
        *pd = (op_pending_t){.r = r, .status = status};
    return pd;
}

/* After a *_start: defer on success, else answer its problem. */
static void op_started(dcf_http_req_t *r, op_pending_t *pd, int rc, dcf_problem_t *p) {
    if (rc == DCF_OK) {
        dcf_http_req_defer(r, op_continue, pd);
        return;
    }
    free(pd);
    reply_op(r, rc, 0, NULL, NULL, p);
}

static void h_op_create(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    op_pending_t *pd;
    size_t len;
    const char *body = api_body(r, &len);
    if (!api_query_only(r, api_no_query) || (pd = op_pending_new(r, 201)) == NULL)
        return;
    int rc = dcf_op_create_start(s, &who, body, len, op_written, pd, &pd->job, &p);
    op_started(r, pd, rc, &p);
}

static void h_op_get(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    char etag[24] = "";
    if (!api_query_only(r, api_no_query))
        return;
    int rc = dcf_op_get(s, &who, dcf_http_req_param(r, "id"), &out, etag, &p);
    reply_op(r, rc, 200, out, etag, &p);
}

static void h_op_update(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    op_pending_t *pd;
    size_t len;
    const char *body = api_body(r, &len);
    if (!api_query_only(r, api_no_query) || (pd = op_pending_new(r, 200)) == NULL)
        return;
    int rc = dcf_op_update_start(s, &who, dcf_http_req_param(r, "id"),
                                 dcf_http_req_header(r, "If-Match"), body, len, op_written, pd,
                                 &pd->job, &p);
    op_started(r, pd, rc, &p);
}

static void transition(void *app, dcf_http_req_t *r, dcf_op_state_t to) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    op_pending_t *pd;
    if (!api_query_only(r, api_no_query) || (pd = op_pending_new(r, 200)) == NULL)
        return;
    int rc =
        dcf_op_transition_start(s, &who, dcf_http_req_param(r, "id"), to,
                                dcf_http_req_header(r, "If-Match"), op_written, pd, &pd->job, &p);
    op_started(r, pd, rc, &p);
}

static void h_op_activate(void *app, dcf_http_req_t *r) {
    transition(app, r, DCF_OP_ACTIVE);
}
static void h_op_complete(void *app, dcf_http_req_t *r) {
    transition(app, r, DCF_OP_COMPLETED);
}
static void h_op_cancel(void *app, dcf_http_req_t *r) {
    transition(app, r, DCF_OP_CANCELLED);
}

/* "west,south,east,north" */
static bool parse_bbox(const char *v, dcf_op_query_t *q) {
    double x[4];
    const char *p = v;
    for (int i = 0; i < 4; i++) {
        char *end;
        errno = 0;
        x[i] = strtod(p, &end);
        if (end == p || errno != 0 || !isfinite(x[i]))
            return false;
        if (i < 3 && *end != ',')
            return false;
        if (i == 3 && *end != '\0')
            return false;
        p = end + 1;
    }
    if (x[0] < -180 || x[0] > 180 || x[2] < -180 || x[2] > 180 || x[1] < -90 || x[1] > 90 ||
        x[3] < -90 || x[3] > 90 || x[1] > x[3])
        return false;
    q->west = x[0];
    q->south = x[1];
    q->east = x[2];
    q->north = x[3];
    q->has_bbox = true;
    return true;
}

static bool query_time(dcf_http_req_t *r, const char *name, bool *has, dcf_time_t *out) {
    const char *v = dcf_http_req_query(r, name);
    const char *why = NULL;
    if (v == NULL)
        return true;
    if (dcf_time_parse(v, strlen(v), out, &why) != DCF_OK) {
        char rule[160];
        snprintf(rule, sizeof rule, "must be an RFC 3339 date-time (%s)", why ? why : "malformed");
        return api_bad_query(r, name, rule);
    }
    *has = true;
    return true;
}

static void h_op_list(void *app, dcf_http_req_t *r) {
    static const char *const Q[] = {"state", "from", "to", "bbox", "limit", "cursor", NULL};
    dcf_api_t *a = app;
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    dcf_op_query_t q = {0};
    json_t *out = NULL;
    int64_t limit = a->o.page_max < 100 ? a->o.page_max : 100, cursor = 0;
    if (!api_query_only(r, Q) || !query_states(r, op_state_bit, &q.states) ||
        !query_time(r, "from", &q.has_from, &q.from) || !query_time(r, "to", &q.has_to, &q.to) ||
        !api_query_int(r, "limit", 1, a->o.page_max, &limit) ||
        !api_query_int(r, "cursor", 0, INT64_MAX, &cursor))
        return;
    const char *bb = dcf_http_req_query(r, "bbox");
    if (bb != NULL && !parse_bbox(bb, &q)) {
        api_bad_query(r, "bbox",
                      "must be west,south,east,north in degrees (south <= north; west > east "
                      "crosses the antimeridian)");
        return;
    }
    if (q.has_from && q.has_to && q.from >= q.to) {
        api_bad_query(r, "to", "must be after from");
        return;
    }
    q.limit = (unsigned)limit;
    q.after = cursor;
    int rc = dcf_op_list(s, &who, &q, &out, &p);
    api_finish(r, rc, 200, out, &p);
}

static void h_op_check(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    unsigned retry = 0;
    size_t len;
    const char *body = api_body(r, &len);
    if (!api_query_only(r, api_no_query))
        return;
    int rc = dcf_op_check(s, &who, body, len, &out, &retry, &p);
    if (rc == DCF_ELIMIT) {
        char buf[16];
        snprintf(buf, sizeof buf, "%u", retry);
        dcf_http_set_header(r, "Retry-After", buf);
    }
    api_finish(r, rc, 200, out, &p);
}

static void h_conflict_list(void *app, dcf_http_req_t *r) {
    static const char *const Q[] = {"state", "limit", "cursor", NULL};
    dcf_api_t *a = app;
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    unsigned states = 0;
    int64_t limit = a->o.page_max < 100 ? a->o.page_max : 100, cursor = 0;
    if (!api_query_only(r, Q) || !query_states(r, dcf_conflict_state_bit, &states) ||
        !api_query_int(r, "limit", 1, a->o.page_max, &limit) ||
        !api_query_int(r, "cursor", 0, INT64_MAX, &cursor))
        return;
    int rc = dcf_conflict_list(s, &who, states, (unsigned)limit, cursor, &out, &p);
    api_finish(r, rc, 200, out, &p);
}

static void h_conflict_get(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    if (!api_query_only(r, api_no_query))
        return;
    int rc = dcf_conflict_get(s, &who, dcf_http_req_param(r, "id"), &out, &p);
    api_finish(r, rc, 200, out, &p);
}

static void respond(void *app, dcf_http_req_t *r, bool accept) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    if (!api_query_only(r, api_no_query))
        return;
    int rc = dcf_conflict_respond(s, &who, dcf_http_req_param(r, "id"), accept, &out, &p);
    api_finish(r, rc, 200, out, &p);
}

static void h_conflict_ack(void *app, dcf_http_req_t *r) {
    respond(app, r, false);
}
static void h_conflict_accept(void *app, dcf_http_req_t *r) {
    respond(app, r, true);
}

/* -------------------------------------------------------------- events -- */

typedef struct {
    dcf_api_t *a;
    dcf_principal_t who;
    int64_t cursor;              /* last event id sent */
    dcf_msg_batch_t *deliveries; /* hotline deliveries of the events being read */
    dcf_time_t last_sent;        /* for heartbeats */
    char *buf;                   /* pending bytes */
    size_t len, off, cap;
} sse_t;

static int sse_append(sse_t *e, const char *text, size_t n) {
    if (e->len + n > e->cap) {
        size_t ncap = e->cap ? e->cap : 4096;
        while (ncap < e->len + n)
            ncap *= 2;
        char *nb = realloc(e->buf, ncap);
        if (nb == NULL)
            return DCF_ENOMEM;
        e->buf = nb;
        e->cap = ncap;
    }
    memcpy(e->buf + e->len, text, n);
    e->len += n;
    return DCF_OK;
}

static int sse_event_cb(void *arg, int64_t id, const char *type, const char *data, size_t len) {
    sse_t *e = arg;
    dcf_service_t *s = atomic_load(&e->a->svc);
    if (s != NULL) /* a hotline message reaching a desk is delivered */
        dcf_msg_streamed(s, &e->who, type, data, len, &e->deliveries);
    char head[128];
    int n = snprintf(head, sizeof head, "id: %lld\nevent: %s\ndata: ", (long long)id, type);
    /* Stored data is compact JSON: no newlines, so one data line. */
    if (sse_append(e, head, (size_t)n) != DCF_OK || sse_append(e, data, len) != DCF_OK ||
        sse_append(e, "\n\n", 2) != DCF_OK)
        return DCF_ENOMEM;
    e->cursor = id;
    return 0;
}

static ssize_t sse_read(void *arg, char *buf, size_t max) {
    sse_t *e = arg;
    dcf_service_t *s = atomic_load(&e->a->svc);
    if (e->off == e->len) {
        e->off = e->len = 0;
        if (s == NULL)
            return -1;
        int rc = dcf_event_read(s, &e->who, e->cursor, SSE_BATCH, sse_event_cb, e);
        dcf_msg_streamed_flush(s, e->deliveries);
        e->deliveries = NULL;
        if (rc != DCF_OK)
            return -1;
        dcf_time_t now = dcf_time_now();
        if (e->len == 0 && now - e->last_sent >= e->a->o.heartbeat_us * 9 / 10)
            sse_append(e, ": heartbeat\n\n", 13);
        if (e->len == 0)
            return 0;
        e->last_sent = now;
    }
    size_t n = e->len - e->off;
    if (n > max)
        n = max;
    memcpy(buf, e->buf + e->off, n);
    e->off += n;
    return (ssize_t)n;
}

static void sse_close(void *arg) {
    sse_t *e = arg;
    dcf_service_t *s = atomic_load(&e->a->svc);
    if (s != NULL)
        dcf_presence_stream(s, &e->who, -1);
    free(e->buf);
    free(e);
}

static const dcf_http_stream_ops_t SSE_OPS = {sse_read, sse_close};

static void h_events(void *app, dcf_http_req_t *r) {
    static const char *const Q[] = {"last_event_id", NULL};
    dcf_api_t *a = app;
    ENTER(app, r, who, s);
    int64_t after = -1;
    if (who.party[0] == '\0') {
        api_reply_simple(r, 403, "forbidden", "Events belong to parties", NULL, NULL);
        return;
    }
    if (!api_query_only(r, Q) || !api_query_int(r, "last_event_id", 0, INT64_MAX, &after))
        return;
    const char *lei = dcf_http_req_header(r, "Last-Event-ID");
    if (lei != NULL && after < 0) {
        char *end;
        errno = 0;
        long long x = strtoll(lei, &end, 10);
        if (*lei == '\0' || *end != '\0' || errno != 0 || x < 0) {
            api_reply_simple(r, 400, "bad-query", "Bad Last-Event-ID", "Last-Event-ID",
                             "must be a non-negative integer event id");
            return;
        }
        after = x;
    }
    dcf_http_t *h = atomic_load(&a->http);
    if (h != NULL && dcf_http_stream_count(h, who.party_tag) >= a->o.max_streams) {
        api_reply_simple(r, 503, "too-many-streams", "This party has too many event streams open",
                         NULL, NULL);
        return;
    }
    sse_t *e = calloc(1, sizeof *e);
    if (e == NULL) {
        api_reply_simple(r, 500, "internal", "Out of memory", NULL, NULL);
        return;
    }
    e->a = a;
    e->who = who;
    /* Without a resume point the stream starts at the newest event. */
    e->cursor = after >= 0 ? after : dcf_event_last(s, &who);
    e->last_sent = dcf_time_now();
    static const char HELLO[] = "retry: 3000\n: connected\n\n";
    sse_append(e, HELLO, sizeof HELLO - 1);
    dcf_presence_stream(s, &who, +1);
    dcf_http_reply_stream(r, who.party_tag, &SSE_OPS, e);
}

/* --------------------------------------------------------------- table -- */

/* -------------------------------------------------------------- audit -- */

/* A required integer query argument. */
static bool query_need(dcf_http_req_t *r, const char *name, int64_t lo, int64_t hi, int64_t *out) {
    if (dcf_http_req_query(r, name) == NULL)
        return api_bad_query(r, name, "is required");
    return api_query_int(r, name, lo, hi, out);
}

/* cursor and limit of an audit list; the cursor is checked by the service. */
static bool audit_page(dcf_api_t *a, dcf_http_req_t *r, int64_t *limit) {
    *limit = a->o.page_max < 500 ? a->o.page_max : 500;
    return api_query_int(r, "limit", 1, a->o.page_max, limit);
}

static void h_audit_key(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    (void)who;
    if (!api_query_only(r, api_no_query))
        return;
    if (dcf_audit_key(s, &out) != DCF_OK) {
        api_reply_simple(r, 500, "internal", "Out of memory", NULL, NULL);
        return;
    }
    api_finish(r, DCF_OK, 200, out, &p);
}

static void h_audit_sth(void *app, dcf_http_req_t *r) {
    static const char *const Q[] = {"fresh", NULL};
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    (void)who;
    if (!api_query_only(r, Q))
        return;
    const char *f = dcf_http_req_query(r, "fresh");
    bool fresh = f != NULL && strcmp(f, "true") == 0;
    if (f != NULL && !fresh && strcmp(f, "false") != 0) {
        api_bad_query(r, "fresh", "must be true or false");
        return;
    }
    int rc = dcf_audit_sth(s, fresh, &out, &p);
    api_finish(r, rc, 200, out, &p);
}

static void h_audit_sths(void *app, dcf_http_req_t *r) {
    static const char *const Q[] = {"cursor", "limit", NULL};
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    int64_t limit;
    (void)who;
    if (!api_query_only(r, Q) || !audit_page(app, r, &limit))
        return;
    int rc = dcf_audit_sths(s, dcf_http_req_query(r, "cursor"), (unsigned)limit, &out, &p);
    api_finish(r, rc, 200, out, &p);
}

static void h_audit_entries(void *app, dcf_http_req_t *r) {
    static const char *const Q[] = {"cursor", "limit", NULL};
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    int64_t limit;
    if (!api_query_only(r, Q) || !audit_page(app, r, &limit))
        return;
    int rc = dcf_audit_entries(s, &who, dcf_http_req_query(r, "cursor"), (unsigned)limit, &out, &p);
    api_finish(r, rc, 200, out, &p);
}

static void h_audit_inclusion(void *app, dcf_http_req_t *r) {
    static const char *const Q[] = {"index", "tree_size", NULL};
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    int64_t index = 0, size = 0;
    if (!api_query_only(r, Q) || !query_need(r, "index", 0, INT64_MAX, &index) ||
        !query_need(r, "tree_size", 1, INT64_MAX, &size))
        return;
    int rc = dcf_audit_inclusion(s, &who, (uint64_t)index, (uint64_t)size, &out, &p);
    api_finish(r, rc, 200, out, &p);
}

static void h_audit_consistency(void *app, dcf_http_req_t *r) {
    static const char *const Q[] = {"first", "second", NULL};
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    int64_t first = 0, second = 0;
    (void)who;
    if (!api_query_only(r, Q) || !query_need(r, "first", 1, INT64_MAX, &first) ||
        !query_need(r, "second", 1, INT64_MAX, &second))
        return;
    int rc = dcf_audit_consistency(s, (uint64_t)first, (uint64_t)second, &out, &p);
    api_finish(r, rc, 200, out, &p);
}

static const dcf_http_route_t ROUTES[] = {
    {"GET", "/", api_h_console_index, 0},
    {"GET", "/assets/{name}", api_h_console_asset, 0},
    {"GET", "/healthz", h_healthz, 0},
    {"GET", "/readyz", h_readyz, 0},
    {"GET", "/metrics", h_metrics, 0},
    {"GET", "/v1/openapi.json", h_openapi, 0},
    {"GET", "/v1/whoami", h_whoami, 0},
    {"POST", "/v1/session", api_h_session_create, DCF_HTTP_JSON_BODY},
    {"GET", "/v1/session", api_h_session_get, 0},
    {"DELETE", "/v1/session", api_h_session_delete, 0},
    {"POST", "/v1/parties", h_party_create, DCF_HTTP_JSON_BODY},
    {"GET", "/v1/parties", h_party_list, 0},
    {"GET", "/v1/parties/{id}", h_party_get, 0},
    {"PUT", "/v1/parties/{id}/desks/{level}", h_desk_set, DCF_HTTP_JSON_BODY},
    {"POST", "/v1/parties/{id}/tokens", h_token_create, DCF_HTTP_JSON_BODY},
    {"GET", "/v1/parties/{id}/tokens", h_token_list, 0},
    {"POST", "/v1/tokens", h_token_create, DCF_HTTP_JSON_BODY},
    {"DELETE", "/v1/tokens/{id}", h_token_revoke, 0},
    {"POST", "/v1/operations", h_op_create, DCF_HTTP_JSON_BODY},
    {"GET", "/v1/operations", h_op_list, 0},
    {"POST", "/v1/operations/check", h_op_check, DCF_HTTP_JSON_BODY},
    {"GET", "/v1/operations/{id}", h_op_get, 0},
    {"PUT", "/v1/operations/{id}", h_op_update, DCF_HTTP_JSON_BODY},
    {"POST", "/v1/operations/{id}/activate", h_op_activate, 0},
    {"POST", "/v1/operations/{id}/complete", h_op_complete, 0},
    {"POST", "/v1/operations/{id}/cancel", h_op_cancel, 0},
    {"GET", "/v1/conflicts", h_conflict_list, 0},
    {"GET", "/v1/conflicts/{id}", h_conflict_get, 0},
    {"POST", "/v1/conflicts/{id}/acknowledge", h_conflict_ack, 0},
    {"POST", "/v1/conflicts/{id}/accept", h_conflict_accept, 0},
    {"GET", "/v1/events", h_events, 0},
    {"GET", "/v1/audit/key", h_audit_key, 0},
    {"GET", "/v1/audit/sth", h_audit_sth, 0},
    {"GET", "/v1/audit/sths", h_audit_sths, 0},
    {"GET", "/v1/audit/entries", h_audit_entries, 0},
    {"GET", "/v1/audit/proof/inclusion", h_audit_inclusion, 0},
    {"GET", "/v1/audit/proof/consistency", h_audit_consistency, 0},
    {"POST", "/v1/lines", api_h_line_create, DCF_HTTP_JSON_BODY},
    {"GET", "/v1/lines", api_h_line_list, 0},
    {"GET", "/v1/lines/{id}", api_h_line_get, 0},
    {"POST", "/v1/lines/{id}/accept", api_h_line_accept, 0},
    {"POST", "/v1/lines/{id}/suspend", api_h_line_suspend, DCF_HTTP_JSON_BODY},
    {"POST", "/v1/lines/{id}/resume", api_h_line_resume, 0},
    {"GET", "/v1/lines/{id}/stats", api_h_line_stats, 0},
    {"POST", "/v1/lines/{id}/messages", api_h_msg_post, DCF_HTTP_JSON_BODY},
    {"GET", "/v1/lines/{id}/messages", api_h_msg_list, 0},
    {"GET", "/v1/lines/{id}/messages/{seq}", api_h_msg_get, 0},
    {"POST", "/v1/lines/{id}/messages/{seq}/acknowledge", api_h_msg_ack, DCF_HTTP_JSON_BODY},
    {"POST", "/v1/lines/{id}/calls", api_h_call_start, DCF_HTTP_JSON_BODY},
    {"GET", "/v1/lines/{id}/calls", api_h_call_list, 0},
    {"GET", "/v1/calls/{id}", api_h_call_get, 0},
    {"POST", "/v1/calls/{id}/answer", api_h_call_answer, 0},
    {"POST", "/v1/calls/{id}/decline", api_h_call_decline, 0},
    {"POST", "/v1/calls/{id}/end", api_h_call_end, 0},
    {"POST", "/v1/calls/{id}/readout", api_h_call_readout, DCF_HTTP_JSON_BODY},
    {"POST", "/v1/presence", api_h_presence, 0},
    {"GET", "/v1/templates", api_h_template_list, 0},
    {"GET", "/v1/templates/{id}", api_h_template_get, 0},
    {"GET", "/v1/admin/clock", api_h_clock_get, 0},
    {"POST", "/v1/admin/clock", api_h_clock_advance, DCF_HTTP_JSON_BODY},
};

const dcf_http_route_t *dcf_api_routes(size_t *n) {
    *n = sizeof ROUTES / sizeof ROUTES[0];
    return ROUTES;
}
