/*
 * reply.c -- what a handler sees of its request, and the replies it makes.
 *
 * A reply builds the libmicrohttpd response at once (body copied, headers
 * attached) and parks it in r->resp; server.c's finish() queues it after
 * the handler returns.  Exactly one reply per request: a second one, or a
 * header set after the reply, is ignored and logged as a handler bug.
 *
 * Every response carries X-Request-Id.  Header names must be tokens and
 * values may not hold CR, LF or NUL (no response splitting); a bad header is
 * dropped and logged.
 *
 * Callers: handlers (on the request's pool thread), server.c and stream.c.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_int.h"

#define PROBLEM_TYPE_PREFIX "https://deconflict.dev/problems/"

/* ------------------------------------------------------------ request -- */

const char *dcf_http_req_method(const dcf_http_req_t *r) {
    return r->method;
}

const char *dcf_http_req_path(const dcf_http_req_t *r) {
    return r->path;
}

const char *dcf_http_req_route(const dcf_http_req_t *r) {
    return r->match.route >= 0 ? r->h->routes[r->match.route].route->pattern : "unmatched";
}

const char *dcf_http_req_param(const dcf_http_req_t *r, const char *name) {
    size_t len = strlen(name);

    for (size_t i = 0; i < r->match.n_params; i++)
        if (r->match.params[i].name_len == len && memcmp(r->match.params[i].name, name, len) == 0)
            return r->match.params[i].value;
    return NULL;
}

const char *dcf_http_req_query(const dcf_http_req_t *r, const char *name) {
    for (size_t i = 0; i < r->n_query; i++)
        if (strcmp(r->query[i].key, name) == 0)
            return r->query[i].value;
    return NULL;
}

void dcf_http_req_query_each(const dcf_http_req_t *r,
                             void (*cb)(void *arg, const char *key, const char *value), void *arg) {
    for (size_t i = 0; i < r->n_query; i++)
        cb(arg, r->query[i].key, r->query[i].value);
}

const char *dcf_http_req_header(const dcf_http_req_t *r, const char *name) {
    const char *v = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);

    /* A value longer than we look at is treated as absent. */
    if (v != NULL && strnlen(v, DCF_HTTP_HEADER_MAX + 1) > DCF_HTTP_HEADER_MAX)
        return NULL;
    return v;
}

const char *dcf_http_req_body(const dcf_http_req_t *r, size_t *len) {
    if (len != NULL)
        *len = r->body_len;
    return r->body != NULL ? r->body : "";
}

const char *dcf_http_req_id(const dcf_http_req_t *r) {
    return r->id;
}

bool dcf_http_req_is_tls(const dcf_http_req_t *r) {
    return r->h->tls || r->loopback;
}

bool dcf_http_req_over_tls(const dcf_http_req_t *r) {
    return r->h->tls;
}

void dcf_http_req_log(dcf_http_req_t *r, const char *key, const char *value) {
    char *k, *v;

    if (r->n_log == DCF_HTTP_LOG_FIELDS || key == NULL || value == NULL)
        return;
    k = strndup(key, DCF__HTTP_NAME_MAX);
    v = strndup(value, DCF_HTTP_HEADER_MAX);
    if (k == NULL || v == NULL) {
        free(k);
        free(v);
        return;
    }
    r->log[r->n_log++] = (dcf__http_kv_t){.key = k, .value = v};
}

/* ----------------------------------------------------------- response -- */

static bool header_name_ok(const char *s) {
    static const char tchar[] = "!#$%&'*+-.^_`|~";

    if (*s == '\0' || strlen(s) >= DCF__HTTP_NAME_MAX)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (c != '\0' && strchr(tchar, c) != NULL)))
            return false;
    }
    return true;
}

void dcf_http_set_header(dcf_http_req_t *r, const char *name, const char *value) {
    char *k, *v;

    if (r->replied) {
        dcf__http_log_event(r->h, "error", "handler bug", r, "header set after the reply");
        return;
    }
    if (name == NULL || value == NULL || !header_name_ok(name) ||
        strnlen(value, DCF_HTTP_HEADER_MAX + 1) > DCF_HTTP_HEADER_MAX ||
        strpbrk(value, "\r\n") != NULL) {
        dcf__http_log_event(r->h, "error", "handler bug", r, "invalid response header");
        return;
    }
    if (r->n_headers == DCF__HTTP_RESP_HEADERS_MAX) {
        dcf__http_log_event(r->h, "error", "handler bug", r, "too many response headers");
        return;
    }
    k = strdup(name);
    v = strdup(value);
    if (k == NULL || v == NULL) {
        free(k);
        free(v);
        return;
    }
    r->headers[r->n_headers++] = (dcf__http_kv_t){.key = k, .value = v};
}

bool dcf__http_add_headers(dcf_http_req_t *r, struct MHD_Response *resp) {
    if (MHD_add_response_header(resp, "X-Request-Id", r->id) != MHD_YES)
        return false;
    for (size_t i = 0; i < r->n_headers; i++)
        if (MHD_add_response_header(resp, r->headers[i].key, r->headers[i].value) != MHD_YES)
            return false;
    return true;
}

/* Claim the one reply.  false (and a logged bug) when it was taken. */
static bool claim_reply(dcf_http_req_t *r) {
    if (r->replied) {
        dcf__http_log_event(r->h, "error", "handler bug", r, "replied twice");
        return false;
    }
    r->replied = true;
    return true;
}

/* Build r->resp from bytes.  On failure r->resp stays NULL and finish()
 * answers 500. */
static void respond(dcf_http_req_t *r, unsigned status, const char *content_type, const void *body,
                    size_t len) {
    struct MHD_Response *resp;

    if (status < 200 || status > 599) {
        dcf__http_log_event(r->h, "error", "handler bug", r, "status outside 200..599");
        return;
    }
    resp = MHD_create_response_from_buffer(len, len ? (void *)body : (void *)"",
                                           MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return;
    if ((content_type != NULL &&
         MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES) ||
        !dcf__http_add_headers(r, resp)) {
        MHD_destroy_response(resp);
        return;
    }
    r->resp = resp;
    r->status = status;
    r->bytes_out = len;
}

void dcf_http_reply(dcf_http_req_t *r, unsigned status, const char *content_type, const void *body,
                    size_t len) {
    if (!claim_reply(r))
        return;
    respond(r, status, content_type, body, len);
}

/* Serialise and send a JSON value (stolen). */
static void respond_json(dcf_http_req_t *r, unsigned status, const char *content_type,
                         json_t *body) {
    char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);

    json_decref(body);
    if (text == NULL)
        return; /* finish() answers 500 */
    respond(r, status, content_type, text, strlen(text));
    free(text);
}

void dcf_http_reply_json(dcf_http_req_t *r, unsigned status, struct json_t *body) {
    if (!claim_reply(r)) {
        json_decref(body);
        return;
    }
    if (body == NULL) {
        dcf__http_log_event(r->h, "error", "handler bug", r, "NULL JSON body");
        return; /* finish() answers 500 */
    }
    respond_json(r, status, "application/json", body);
}

void dcf_http_reply_problem(dcf_http_req_t *r, unsigned status, const char *type, const char *title,
                            const char *detail, struct json_t *errors) {
    dcf_http_reply_problem_extra(r, status, type, title, detail, errors, NULL);
}

void dcf_http_reply_problem_extra(dcf_http_req_t *r, unsigned status, const char *type,
                                  const char *title, const char *detail, struct json_t *errors,
                                  struct json_t *extra) {
    char uri[160];
    json_t *o;

    if (!claim_reply(r)) {
        json_decref(errors);
        json_decref(extra);
        return;
    }
    snprintf(uri, sizeof(uri), PROBLEM_TYPE_PREFIX "%s", type ? type : "about-blank");
    o = json_object();
    if (o == NULL || json_object_set_new(o, "type", json_string(uri)) != 0 ||
        json_object_set_new(o, "title",
                            dcf__http_json_str(title ? title : dcf__http_reason(status))) != 0 ||
        json_object_set_new(o, "status", json_integer(status)) != 0 ||
        (detail != NULL && json_object_set_new(o, "detail", dcf__http_json_str(detail)) != 0) ||
        json_object_set_new(o, "instance", dcf__http_json_str(r->path)) != 0 ||
        json_object_set_new(o, "request_id", json_string(r->id)) != 0 ||
        (errors != NULL && json_object_set(o, "errors", errors) != 0) ||
        (extra != NULL && json_object_update_missing(o, extra) != 0)) {
        json_decref(o);
        json_decref(errors);
        json_decref(extra);
        return;
    }
    json_decref(errors);
    json_decref(extra);
    respond_json(r, status, "application/problem+json", o);
}

void dcf__http_problem(dcf_http_req_t *r, unsigned status, const char *type, const char *detail) {
    dcf_http_reply_problem(r, status, type, dcf__http_reason(status), detail, NULL);
}

const char *dcf__http_reason(unsigned status) {
    const char *s = MHD_get_reason_phrase_for(status);

    return s != NULL && *s != '\0' && strcmp(s, "Unknown") != 0 ? s : "Error";
}

void dcf_http_reply_stream(dcf_http_req_t *r, uint64_t tag, const dcf_http_stream_ops_t *ops,
                           void *arg) {
    if (!claim_reply(r)) {
        if (ops != NULL && ops->close != NULL)
            ops->close(arg);
        return;
    }
    dcf__http_stream_reply(r, tag, ops, arg);
}
