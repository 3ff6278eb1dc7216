/*
 * client.h -- a small client for deconflict's HTTP API (docs/api.md), on
 * libcurl.  The command-line tools (`deconflict audit ...`, and later the full
 * CLI) build on it.
 *
 * A client talks to exactly one base URL (http:// or https://) given by the
 * caller and never follows a redirect, so a request can only reach that
 * server.  Each request sends "Authorization: Bearer <token>" (when a token
 * is set), "Accept: application/json" and the caller's User-Agent (the
 * program passes "deconflict/<version>").
 * TLS peer and host verification stay on; opts.ca_file names an extra CA
 * bundle for a private deployment.
 *
 * LIMITS.  A response body larger than opts.max_response_bytes (default
 * 64 MiB) is cut off and the request fails; a JSON body nested deeper than
 * opts.max_depth is refused; connect and total timeouts are bounded.  The
 * URL and token are at most DCF_CLIENT_URL_MAX / DCF_CLIENT_TOKEN_MAX bytes
 * and may not hold control characters.
 *
 * THREADS.  A client keeps one libcurl handle (so connections are reused):
 * use it from one thread at a time.  Different clients are independent.
 */
#ifndef DECONFLICT_CLIENT_H
#define DECONFLICT_CLIENT_H

#include <stddef.h>

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

typedef struct dcf_client_s dcf_client_t;

typedef struct {
    size_t max_response_bytes; /* 0: DCF_CLIENT_DEFAULT_MAX_BYTES */
    long connect_timeout_ms;   /* 0: DCF_CLIENT_DEFAULT_CONNECT_MS */
    long timeout_ms;           /* whole request; 0: DCF_CLIENT_DEFAULT_TIMEOUT_MS */
    size_t max_depth;          /* JSON nesting; 0: DCF_CLIENT_DEFAULT_MAX_DEPTH */
    const char *ca_file;       /* extra CA bundle (PEM), or NULL for the system's */
    const char *user_agent;    /* e.g. "deconflict/0.1.0"; NULL: "deconflict" */
} dcf_client_opts_t;

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
