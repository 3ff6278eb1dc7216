/*
 * hotline.c -- the HTTP handlers of the hotline (docs/hotline.md): lines,
 * messages, calls, readouts, presence, statistics, templates and the test
 * clock.  Each is the same few steps as api.c's: enter (service, token,
 * rate), strict query, one service call, its JSON or its problem.  The
 * rendering locale of templates comes from Accept-Language.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "deconflict/template.h"

static const char *locale_of(dcf_http_req_t *r) {
    return dcf_template_locale_pick(dcf_http_req_header(r, "Accept-Language"));
}

/* The {seq} path parameter; replies 404 when it is not a message number. */
static bool path_seq(dcf_http_req_t *r, int64_t *out) {
    const char *v = dcf_http_req_param(r, "seq");
    char *end;
    errno = 0;
    long long x = v ? strtoll(v, &end, 10) : -1;
    if (v == NULL || *v == '\0' || *end != '\0' || errno != 0 || x < 1) {
        api_reply_simple(r, 404, "not-found", "No such message", NULL, NULL);
        return false;
    }
    *out = x;
    return true;
}

/* A page's limit and cursor arguments. */
static bool page_args(dcf_api_t *a, dcf_http_req_t *r, const char *cursor_name, int64_t *limit,
                      int64_t *cursor) {
    *limit = a->o.page_max < 100 ? a->o.page_max : 100;
    *cursor = 0;
    return api_query_int(r, "limit", 1, a->o.page_max, limit) &&
           api_query_int(r, cursor_name, 0, INT64_MAX, cursor);
}

/* 201 with Location: prefix + the result's member `key` (+ "/" + `sub`). */
static void created(dcf_http_req_t *r, int rc, json_t *out, dcf_problem_t *p, const char *prefix,
                    const char *key) {
    if (rc == DCF_OK) {
        char loc[200];
        json_t *v = json_object_get(out, key);
        if (json_is_integer(v))
            snprintf(loc, sizeof loc, "%s%lld", prefix, (long long)json_integer_value(v));
        else
            snprintf(loc, sizeof loc, "%s%s", prefix,
                     json_is_string(v) ? json_string_value(v) : "");
        dcf_http_set_header(r, "Location", loc);
    }
    api_finish(r, rc, 201, out, p);
}

/* ---------------------------------------------------------------- lines -- */

void api_h_line_create(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    size_t len;
    const char *body = api_body(r, &len);
    if (!api_query_only(r, api_no_query))
        return;
    int rc = dcf_line_create(s, &who, body, len, &out, &p);
    created(r, rc, out, &p, "/v1/lines/", "id");
}

void api_h_line_list(void *app, dcf_http_req_t *r) {
    static const char *const Q[] = {"limit", "cursor", NULL};
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    int64_t limit, cursor;
    if (!api_query_only(r, Q) || !page_args(app, r, "cursor", &limit, &cursor))
        return;
    int rc = dcf_line_list(s, &who, (unsigned)limit, cursor, &out, &p);
    api_finish(r, rc, 200, out, &p);
}

void api_h_line_get(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    if (!api_query_only(r, api_no_query))
        return;
    int rc = dcf_line_get(s, &who, dcf_http_req_param(r, "id"), &out, &p);
    api_finish(r, rc, 200, out, &p);
}

void api_h_line_accept(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    if (!api_query_only(r, api_no_query))
        return;
    int rc = dcf_line_accept(s, &who, dcf_http_req_param(r, "id"), &out, &p);
    api_finish(r, rc, 200, out, &p);
}

static void suspend(void *app, dcf_http_req_t *r, bool on) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    size_t len;
    const char *body = api_body(r, &len);
    if (!api_query_only(r, api_no_query))
        return;
    int rc = dcf_line_suspend(s, &who, dcf_http_req_param(r, "id"), on, body, len, &out, &p);
    api_finish(r, rc, 200, out, &p);
}

void api_h_line_suspend(void *app, dcf_http_req_t *r) {
    suspend(app, r, true);
}

void api_h_line_resume(void *app, dcf_http_req_t *r) {
    suspend(app, r, false);
}

void api_h_line_stats(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    if (!api_query_only(r, api_no_query))
        return;
    int rc = dcf_line_stats(s, &who, dcf_http_req_param(r, "id"), &out, &p);
    api_finish(r, rc, 200, out, &p);
}

/* ------------------------------------------------------------- messages -- */

/* Posts and acknowledgements answer after their group commit without
 * holding a thread (as operation writes do, api.c): the handler starts the
 * job and defers; the job's done callback resumes the request; the
 * continuation replies. */
typedef struct {
    dcf_msg_job_t *job;
    dcf_http_req_t *r;
    bool post;        /* 201 with Location, else 200 */
    char prefix[120]; /* a post's Location prefix, /v1/lines/{id}/messages/ */
} msg_pending_t;

static void msg_written(void *arg) {
    dcf_http_req_resume(((msg_pending_t *)arg)->r);
}

static void msg_reply(dcf_http_req_t *r, msg_pending_t *pd, int rc, json_t *out, dcf_problem_t *p) {
    if (pd->post)
        created(r, rc, out, p, pd->prefix, "seq");
    else
        api_finish(r, rc, 200, out, p);
}

static void msg_continue(void *app, dcf_http_req_t *r, void *arg) {
    msg_pending_t *pd = arg;
    dcf_problem_t p = {0};
    json_t *out = NULL;
    (void)app;
    int rc = dcf_msg_job_finish(pd->job, &out, &p);
    msg_reply(r, pd, rc, out, &p);
    free(pd);
}

/* Allocated before the start, so that nothing can fail between the start
 * and the defer; NULL (answered) without memory. */
static msg_pending_t *msg_pending_new(dcf_http_req_t *r, bool post) {
    msg_pending_t *pd = calloc(1, sizeof *pd);
    if (pd == NULL) {
        dcf_http_reply_problem(r, 503, "unavailable", "Out of memory", NULL, NULL);
        return NULL;
    }
    const char *line = dcf_http_req_param(r, "id");
    pd->r = r;
    pd->post = post;
    snprintf(pd->prefix, sizeof pd->prefix, "/v1/lines/%.64s/messages/", line ? line : "");
    return pd;
}

/* After a *_start: defer on success, else answer its problem. */
static void msg_started(dcf_http_req_t *r, msg_pending_t *pd, int rc, dcf_problem_t *p) {
    if (rc == DCF_OK) {
        dcf_http_req_defer(r, msg_continue, pd);
        return;
    }
    msg_reply(r, pd, rc, NULL, p);
    free(pd);
}

void api_h_msg_post(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    size_t len;
    const char *body = api_body(r, &len);
    msg_pending_t *pd;
    if (!api_query_only(r, api_no_query) || (pd = msg_pending_new(r, true)) == NULL)
        return;
    int rc = dcf_msg_post_start(s, &who, dcf_http_req_param(r, "id"), body, len, locale_of(r),
                                msg_written, pd, &pd->job, &p);
    msg_started(r, pd, rc, &p);
}

void api_h_msg_list(void *app, dcf_http_req_t *r) {
    static const char *const Q[] = {"after", "limit", NULL};
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    int64_t limit, after;
    if (!api_query_only(r, Q) || !page_args(app, r, "after", &limit, &after))
        return;
    int rc = dcf_msg_list(s, &who, dcf_http_req_param(r, "id"), after, (unsigned)limit,
                          locale_of(r), &out, &p);
    api_finish(r, rc, 200, out, &p);
}

void api_h_msg_get(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    int64_t seq;
    if (!api_query_only(r, api_no_query) || !path_seq(r, &seq))
        return;
    int rc = dcf_msg_get(s, &who, dcf_http_req_param(r, "id"), seq, locale_of(r), &out, &p);
    api_finish(r, rc, 200, out, &p);
}

void api_h_msg_ack(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    size_t len;
    const char *body = api_body(r, &len);
    int64_t seq;
    msg_pending_t *pd;
    if (!api_query_only(r, api_no_query) || !path_seq(r, &seq) ||
        (pd = msg_pending_new(r, false)) == NULL)
        return;
    int rc = dcf_msg_ack_start(s, &who, dcf_http_req_param(r, "id"), seq, body, len, locale_of(r),
                               msg_written, pd, &pd->job, &p);
    msg_started(r, pd, rc, &p);
}

/* ---------------------------------------------------------------- calls -- */

void api_h_call_start(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    size_t len;
    const char *body = api_body(r, &len);
    if (!api_query_only(r, api_no_query))
        return;
    int rc =
        dcf_call_start(s, &who, dcf_http_req_param(r, "id"), body, len, locale_of(r), &out, &p);
    created(r, rc, out, &p, "/v1/calls/", "id");
}

void api_h_call_list(void *app, dcf_http_req_t *r) {
    static const char *const Q[] = {"limit", "cursor", NULL};
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    int64_t limit, cursor;
    if (!api_query_only(r, Q) || !page_args(app, r, "cursor", &limit, &cursor))
        return;
    int rc = dcf_call_list(s, &who, dcf_http_req_param(r, "id"), (unsigned)limit, cursor, &out, &p);
    api_finish(r, rc, 200, out, &p);
}

void api_h_call_get(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    if (!api_query_only(r, api_no_query))
        return;
    int rc = dcf_call_get(s, &who, dcf_http_req_param(r, "id"), locale_of(r), &out, &p);
    api_finish(r, rc, 200, out, &p);
}

static void call_act(void *app, dcf_http_req_t *r, dcf_call_act_t act) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    size_t len;
    const char *body = api_body(r, &len);
    if (!api_query_only(r, api_no_query))
        return;
    int rc =
        dcf_call_act(s, &who, dcf_http_req_param(r, "id"), act, body, len, locale_of(r), &out, &p);
    api_finish(r, rc, 200, out, &p);
}

void api_h_call_answer(void *app, dcf_http_req_t *r) {
    call_act(app, r, DCF_CALL_ANSWER);
}

void api_h_call_decline(void *app, dcf_http_req_t *r) {
    call_act(app, r, DCF_CALL_DECLINE);
}

void api_h_call_end(void *app, dcf_http_req_t *r) {
    call_act(app, r, DCF_CALL_END);
}

void api_h_call_readout(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    size_t len;
    const char *body = api_body(r, &len);
    if (!api_query_only(r, api_no_query))
        return;
    int rc =
        dcf_call_readout(s, &who, dcf_http_req_param(r, "id"), body, len, locale_of(r), &out, &p);
    created(r, rc, out, &p, "/v1/calls/", "id");
}

/* ------------------------------------------- presence, templates, clock -- */

void api_h_presence(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    if (!api_query_only(r, api_no_query))
        return;
    int rc = dcf_presence_beat(s, &who, &out, &p);
    api_finish(r, rc, 200, out, &p);
}

void api_h_template_list(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    (void)who;
    if (!api_query_only(r, api_no_query))
        return;
    int rc = dcf_templates_list(s, &out, &p);
    api_finish(r, rc, 200, out, &p);
}

void api_h_template_get(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    (void)who;
    if (!api_query_only(r, api_no_query))
        return;
    int rc = dcf_templates_get(s, dcf_http_req_param(r, "id"), &out, &p);
    api_finish(r, rc, 200, out, &p);
}

void api_h_clock_get(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    if (!api_query_only(r, api_no_query))
        return;
    int rc = dcf_clock_get(s, &who, &out, &p);
    api_finish(r, rc, 200, out, &p);
}

void api_h_clock_advance(void *app, dcf_http_req_t *r) {
    ENTER(app, r, who, s);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    size_t len;
    const char *body = api_body(r, &len);
    if (!api_query_only(r, api_no_query))
        return;
    int rc = dcf_clock_advance(s, &who, body, len, &out, &p);
    api_finish(r, rc, 200, out, &p);
}
