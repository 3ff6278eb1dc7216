/*
 * client.h -- a small client for deconflict's HTTP API (docs/api.md), on
 * libcurl.  The command-line tools (`deconflict audit ...`, and later the full
 * CLI) build on it.
 *
 * A client talks to exactly one base URL (http:// or https://) given by the
 * caller and never follows a redirect, so a request can only reach that
 * server.  Each request sends "Authorization: Bearer <token>" (when a token
 * is set), "Accept: application/json" and the caller's User-Agent (the
 * program passes "deconflict/<version>").  Requests are GET, POST, PUT or
 * DELETE with an optional JSON body and the few extra headers the API uses
 * (If-Match, Accept-Language); answers give the status, the JSON body and the
 * ETag, Location and Retry-After headers.  dcf_client_multi_* keep several
 * requests in flight on one thread (bulk import); dcf_client_stream reads a
 * Server-Sent Events stream (GET /v1/events) until it ends, drops or the
 * caller's stop flag is set.
 * TLS peer and host verification stay on; opts.ca_file names an extra CA
 * bundle for a private deployment.
 *
 * LIMITS.  A response body larger than opts.max_response_bytes (default
 * 64 MiB) is cut off and the request fails; a JSON body nested deeper than
 * opts.max_depth is refused; connect and total timeouts are bounded (a
 * stream has no total timeout, but a connection that sends nothing, not even
 * a heartbeat, for opts.stream_idle_ms is dropped; one event is at most
 * DCF_CLIENT_EVENT_MAX bytes).  Request bodies are at most
 * DCF_CLIENT_BODY_MAX bytes.  The
 * URL and token are at most DCF_CLIENT_URL_MAX / DCF_CLIENT_TOKEN_MAX bytes
 * and may not hold control characters.
 *
 * THREADS.  A client keeps one libcurl handle (so connections are reused):
 * use it from one thread at a time.  Different clients are independent.
 */
#ifndef DECONFLICT_CLIENT_H
#define DECONFLICT_CLIENT_H

#include <stddef.h>
#include <signal.h>
#include <stdint.h>

#include "deconflict/core.h"

#ifdef __cplusplus
extern "C" {
#endif

struct json_t;

#define DCF_CLIENT_URL_MAX            2048
#define DCF_CLIENT_TOKEN_MAX          512
#define DCF_CLIENT_DEFAULT_MAX_BYTES  (64u * 1024u * 1024u) /* response body */
#define DCF_CLIENT_DEFAULT_CONNECT_MS 10000L
#define DCF_CLIENT_DEFAULT_TIMEOUT_MS 120000L
#define DCF_CLIENT_DEFAULT_MAX_DEPTH  64
#define DCF_CLIENT_ERR_LEN            512 /* room for a message from dcf_client_get */
#define DCF_CLIENT_BODY_MAX           (256u * 1024u * 1024u) /* request body */
#define DCF_CLIENT_EVENT_MAX          (4u * 1024u * 1024u)   /* one SSE event */
#define DCF_CLIENT_DEFAULT_IDLE_MS    90000L /* stream: no byte for this long = dropped */
#define DCF_CLIENT_MULTI_MAX          64     /* requests in flight on one multi */

typedef struct dcf_client_s dcf_client_t;

typedef struct {
    size_t max_response_bytes; /* 0: DCF_CLIENT_DEFAULT_MAX_BYTES */
    long connect_timeout_ms;   /* 0: DCF_CLIENT_DEFAULT_CONNECT_MS */
    long timeout_ms;           /* whole request; 0: DCF_CLIENT_DEFAULT_TIMEOUT_MS */
    size_t max_depth;          /* JSON nesting; 0: DCF_CLIENT_DEFAULT_MAX_DEPTH */
    const char *ca_file;       /* extra CA bundle (PEM), or NULL for the system's */
    const char *user_agent;    /* e.g. "deconflict/0.1.0"; NULL: "deconflict" */
    long stream_idle_ms;       /* dcf_client_stream; 0: DCF_CLIENT_DEFAULT_IDLE_MS */
} dcf_client_opts_t;

/* One request.  Only method and path are required. */
typedef struct {
    const char *method;          /* "GET", "POST", "PUT" or "DELETE" */
    const char *path;            /* "/v1/..." with its query (values escaped) */
    const char *body;            /* JSON text sent as application/json, or NULL */
    size_t body_len;             /* bytes of body */
    const char *if_match;        /* If-Match value (e.g. "\"3\""), or NULL */
    const char *accept_language; /* e.g. "ru", or NULL */
    const char *last_event_id;   /* streams: Last-Event-ID, or NULL */
} dcf_client_req_t;

/* What came back.  The caller owns body (json_decref, or
 * dcf_client_resp_clear). */
typedef struct {
    long status;          /* HTTP status */
    struct json_t *body;  /* parsed JSON body, or NULL (empty, or not JSON on non-2xx) */
    char etag[64];        /* ETag header as sent ("" when none) */
    char location[512];   /* Location header ("" when none) */
    double retry_after_s; /* Retry-After in seconds (0 when none) */
} dcf_client_resp_t;

/* Release the body and zero *r. */
void dcf_client_resp_clear(dcf_client_resp_t *r);

/* Fill *o with the defaults (every field zero / NULL). */
void dcf_client_opts_default(dcf_client_opts_t *o);

/*
 * Create a client for base URL `url` (e.g. "https://dcf.example:8443"; a
 * trailing slash is dropped) with bearer token `token` (NULL or "" for none).
 * `opts` may be NULL for the defaults.  The strings are copied.  Returns
 * DCF_OK and *out, DCF_EINVAL for a URL that is not http(s) or a URL or token
 * that is too long or holds control characters, DCF_ENOMEM, or DCF_EIO when
 * libcurl cannot start.
 */
int dcf_client_new(const char *url, const char *token, const dcf_client_opts_t *opts,
                   dcf_client_t **out);

/* Free a client (NULL is fine). */
void dcf_client_free(dcf_client_t *c);

/* The normalised base URL (without a trailing slash); owned by the client. */
const char *dcf_client_url(const dcf_client_t *c);

/*
 * GET url + path_and_query (which starts with "/"; build query values with
 * dcf_client_escape).  On DCF_OK, *status is the HTTP status and *body the
 * parsed JSON body (the caller's reference; NULL when the body is empty, or
 * not JSON on a non-2xx answer), problem+json bodies included, so that a
 * caller can print dcf_client_describe.  Errors, each with a message in
 * err[err_len] (err may be NULL): DCF_EIO for a transport failure (connect,
 * TLS, timeout, a body over the limit), DCF_EPARSE for a 2xx answer whose
 * body is not JSON or is nested too deep, DCF_EINVAL for a bad path,
 * DCF_ENOMEM.  On an error *body is NULL.
 */
int dcf_client_get(dcf_client_t *c, const char *path_and_query, long *status, struct json_t **body,
                   char *err, size_t err_len);

/*
 * Send one request and wait for its answer.  On DCF_OK *resp holds the
 * answer (any status; a problem+json body is parsed so that the caller can
 * print dcf_client_describe).  Errors as dcf_client_get, plus DCF_ELIMIT for
 * a body over DCF_CLIENT_BODY_MAX; on an error resp->body is NULL.
 */
int dcf_client_do(dcf_client_t *c, const dcf_client_req_t *req, dcf_client_resp_t *resp, char *err,
                  size_t err_len);

/* ------------------------------------------------ several in flight -- */

typedef struct dcf_client_multi_s dcf_client_multi_t;

/*
 * Up to `slots` (1..DCF_CLIENT_MULTI_MAX) requests of client c in flight at
 * once, each on its own connection, driven from the calling thread.  The
 * multi borrows c (free the multi first).
 */
int dcf_client_multi_new(dcf_client_t *c, size_t slots, dcf_client_multi_t **out);
void dcf_client_multi_free(dcf_client_multi_t *m);
/* Requests in flight. */
size_t dcf_client_multi_pending(const dcf_client_multi_t *m);
/* Start a request (its strings are copied) tagged `tag`.  DCF_ELIMIT when
 * every slot is busy (wait first), DCF_EINVAL, DCF_ENOMEM, DCF_EIO. */
int dcf_client_multi_add(dcf_client_multi_t *m, const dcf_client_req_t *req, uint64_t tag);
/*
 * Wait until one request finishes and report it: *tag, *xrc (DCF_OK with
 * *resp filled, or the error dcf_client_do would give, message in err).
 * Returns DCF_OK, DCF_ENOENT when nothing is in flight, DCF_EIO when the
 * multi itself fails.
 */
int dcf_client_multi_wait(dcf_client_multi_t *m, uint64_t *tag, int *xrc, dcf_client_resp_t *resp,
                          char *err, size_t err_len);

/* ------------------------------------------------------------ streams -- */

/* One Server-Sent Event: id ("" when the event had none), event type
 * ("message" when none) and data (the data lines joined by "\n").
 * Return non-zero to stop reading. */
typedef int (*dcf_client_event_cb)(void *arg, const char *id, const char *event, const char *data);

/*
 * GET path as an event stream, calling cb for each event, until the server
 * ends it, the connection drops or goes idle, cb returns non-zero, or *stop
 * becomes non-zero (checked at least once a second; a signal handler may set
 * it).  req->last_event_id resumes after that id.  Returns DCF_OK when the
 * stream was read (status in resp->status; for a non-2xx answer resp->body
 * holds the problem and no event was delivered) and ended for any of those
 * reasons except a transport failure, which is DCF_EIO (message in err; the
 * caller reconnects with the last id it saw).  DCF_ELIMIT for an event over
 * DCF_CLIENT_EVENT_MAX.
 */
int dcf_client_stream(dcf_client_t *c, const dcf_client_req_t *req, dcf_client_event_cb cb,
                      void *arg, volatile sig_atomic_t *stop, dcf_client_resp_t *resp, char *err,
                      size_t err_len);

/*
 * Percent-encode `value` (every byte but A-Z a-z 0-9 - . _ ~) into out[cap]
 * for use as a query value.  DCF_ELIMIT when it does not fit (out is then
 * ""), DCF_ENOMEM.
 */
int dcf_client_escape(dcf_client_t *c, const char *value, char *out, size_t cap);

/*
 * A one-line description of a non-2xx answer into out[cap]: "title: detail"
 * for a problem+json body, else "HTTP <status>".  Returns out.
 */
char *dcf_client_describe(long status, const struct json_t *body, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* DECONFLICT_CLIENT_H */
