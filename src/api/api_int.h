/*
 * api_int.h -- what the API's files share: the API struct, the problem
 * replies, entry (service, token, rate limit), query parsing, and the
 * handlers of the hotline's routes (hotline.c) that api.c's route table
 * lists.
 */
#ifndef DCF_API_INT_H
#define DCF_API_INT_H

#include <stdatomic.h>
#include <stdbool.h>

#include <jansson.h>
#include <pthread.h>

#include "deconflict/api.h"

#define API_BUCKETS_MAX 65536 /* per-token rate buckets kept */
#define SSE_BATCH       64    /* events read per stream read */
#define SSE_EVENT_MAX   (64 * 1024)

typedef struct {
    char token[DCF_TOKEN_ID_MAX + 1];
    double tokens;
    dcf_time_t at;
} bucket_t;

struct dcf_api_s {
    dcf_api_opts_t o;
    char tile_url[512];    /* copy of o.tile_url ("" for none) */
    char tile_origin[300]; /* its scheme://host[:port], for the CSP */
    _Atomic(dcf_service_t *) svc;
    _Atomic(dcf_http_t *) http;
    pthread_mutex_t lock; /* buckets */
    dcf_strmap_t *buckets;
    bucket_t **bucket_list;
    size_t n_buckets;
};

/* Reply with a service problem (and free it). */
void api_reply_problem(dcf_http_req_t *r, dcf_problem_t *p);
/* Reply with a problem of our own; pointer/rule may be NULL. */
void api_reply_simple(dcf_http_req_t *r, unsigned status, const char *type, const char *title,
                      const char *pointer, const char *rule);
/* Service, token and rate limit; replies and returns NULL on failure. */
dcf_service_t *api_enter(dcf_api_t *a, dcf_http_req_t *r, dcf_principal_t *who);
/* Reply with a service call's outcome. */
void api_finish(dcf_http_req_t *r, int rc, unsigned status, json_t *body, dcf_problem_t *p);
/* Reply 400 naming `?name`; returns false for chaining. */
bool api_bad_query(dcf_http_req_t *r, const char *name, const char *rule);
/* Only these query arguments (NULL-terminated); else 400. */
bool api_query_only(dcf_http_req_t *r, const char *const *allowed);
/* An optional integer argument within [lo, hi]; else 400. */
bool api_query_int(dcf_http_req_t *r, const char *name, int64_t lo, int64_t hi, int64_t *out);
const char *api_body(dcf_http_req_t *r, size_t *len);
extern const char *const api_no_query[];

#define ENTER(a, r, who, s)                                                                        \
    dcf_principal_t who;                                                                           \
    dcf_service_t *s = api_enter((a), (r), &who);                                                  \
    if (s == NULL)                                                                                 \
        return;

/* The hotline's handlers (hotline.c). */
void api_h_line_create(void *app, dcf_http_req_t *r);
void api_h_line_list(void *app, dcf_http_req_t *r);
void api_h_line_get(void *app, dcf_http_req_t *r);
void api_h_line_accept(void *app, dcf_http_req_t *r);
void api_h_line_suspend(void *app, dcf_http_req_t *r);
void api_h_line_resume(void *app, dcf_http_req_t *r);
void api_h_line_stats(void *app, dcf_http_req_t *r);
void api_h_msg_post(void *app, dcf_http_req_t *r);
void api_h_msg_list(void *app, dcf_http_req_t *r);
void api_h_msg_get(void *app, dcf_http_req_t *r);
void api_h_msg_ack(void *app, dcf_http_req_t *r);
void api_h_call_start(void *app, dcf_http_req_t *r);
void api_h_call_list(void *app, dcf_http_req_t *r);
void api_h_call_get(void *app, dcf_http_req_t *r);
void api_h_call_answer(void *app, dcf_http_req_t *r);
void api_h_call_decline(void *app, dcf_http_req_t *r);
void api_h_call_end(void *app, dcf_http_req_t *r);
void api_h_call_readout(void *app, dcf_http_req_t *r);
void api_h_presence(void *app, dcf_http_req_t *r);
void api_h_template_list(void *app, dcf_http_req_t *r);
void api_h_template_get(void *app, dcf_http_req_t *r);
void api_h_clock_get(void *app, dcf_http_req_t *r);
void api_h_clock_advance(void *app, dcf_http_req_t *r);

/* The web console (console.c). */
void api_h_console_index(void *app, dcf_http_req_t *r);
void api_h_console_asset(void *app, dcf_http_req_t *r);
void api_h_session_create(void *app, dcf_http_req_t *r);
void api_h_session_get(void *app, dcf_http_req_t *r);
void api_h_session_delete(void *app, dcf_http_req_t *r);
/* The session cookie's value into out[cap]; false when there is none. */
bool api_session_cookie(dcf_http_req_t *r, char *out, size_t cap);

#endif /* DCF_API_INT_H */
