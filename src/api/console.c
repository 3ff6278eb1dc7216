/*
 * console.c -- the web console's side of the server (docs/console.md): its
 * files, compiled into the binary and served at / and /assets/NAME, and
 * its sessions (POST /v1/session exchanges a token for an HttpOnly,
 * SameSite=Strict cookie; GET tells the console who it is and its CSRF
 * token; DELETE signs out).
 *
 * SECURITY.  The console's pages carry a Content-Security-Policy that
 * allows only the server's own scripts, styles and connections (and the
 * deployment's tile server for map images when one is configured), no
 * framing, no sniffing.  A request authenticated by the cookie that changes
 * anything must carry the session's CSRF token in X-CSRF-Token (api.c,
 * api_enter); SameSite=Strict already keeps other sites' requests from
 * carrying the cookie, the header is the second lock.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/web_assets.h"
#include "api_int.h"

#define COOKIE_NAME "dcf_session"

static const struct {
    const char *ext, *type;
} TYPES[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".wav", "audio/wav"},
    {".ogg", "audio/ogg"},
    {".mp3", "audio/mpeg"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
};

static const char *type_of(const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++) {
        size_t e = strlen(TYPES[i].ext);
        if (n >= e && strcasecmp(name + n - e, TYPES[i].ext) == 0)
            return TYPES[i].type;
    }
    return "application/octet-stream";
}

static const dcf_web_asset_t *asset(const char *name) {
    for (size_t i = 0; name != NULL && i < dcf_web_n_assets; i++)
        if (strcmp(dcf_web_assets[i].name, name) == 0)
            return &dcf_web_assets[i];
    return NULL;
}

static void security_headers(dcf_api_t *a, dcf_http_req_t *r) {
    char csp[600];
    snprintf(csp, sizeof csp,
             "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
             "img-src 'self' data: blob:%s%s; media-src 'self' data: blob:; connect-src 'self'; "
             "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
             "frame-ancestors 'none'",
             a->tile_origin[0] ? " " : "", a->tile_origin);
    dcf_http_set_header(r, "Content-Security-Policy", csp);
    dcf_http_set_header(r, "X-Content-Type-Options", "nosniff");
    dcf_http_set_header(r, "X-Frame-Options", "DENY");
    dcf_http_set_header(r, "Referrer-Policy", "no-referrer");
}

static void serve_asset(dcf_api_t *a, dcf_http_req_t *r, const char *name) {
    const dcf_web_asset_t *f = asset(name);
    if (f == NULL) {
        api_reply_simple(r, 404, "not-found", "No such file", NULL, NULL);
        return;
    }
    security_headers(a, r);
    /* index.html names the other files without versions: revalidate. */
    dcf_http_set_header(r, "Cache-Control", "no-cache");
    dcf_http_reply(r, 200, type_of(f->name), f->data, *f->len);
}

void api_h_console_index(void *app, dcf_http_req_t *r) {
    if (!api_query_only(r, api_no_query))
        return;
    serve_asset(app, r, "index.html");
}

void api_h_console_asset(void *app, dcf_http_req_t *r) {
    if (!api_query_only(r, api_no_query))
        return;
    serve_asset(app, r, dcf_http_req_param(r, "name"));
}

/* ------------------------------------------------------------ sessions -- */

bool api_session_cookie(dcf_http_req_t *r, char *out, size_t cap) {
    const char *h = dcf_http_req_header(r, "Cookie");
    static const char NAME[] = COOKIE_NAME "=";
    for (const char *p = h; p != NULL && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        size_t n = strcspn(p, ";");
        if (n > sizeof NAME - 1 && strncmp(p, NAME, sizeof NAME - 1) == 0) {
            size_t v = n - (sizeof NAME - 1);
            if (v >= cap)
                return false;
            memcpy(out, p + sizeof NAME - 1, v);
            out[v] = '\0';
            return true;
        }
        p += n;
    }
    return false;
}

static void set_cookie(dcf_http_req_t *r, const char *value, bool clear) {
    char c[256];
    snprintf(c, sizeof c, COOKIE_NAME "=%s; Path=/; HttpOnly; SameSite=Strict%s%s",
             clear ? "" : value, dcf_http_req_over_tls(r) ? "; Secure" : "",
             clear ? "; Max-Age=0" : "");
    dcf_http_set_header(r, "Set-Cookie", c);
}

void api_h_session_create(void *app, dcf_http_req_t *r) {
    dcf_api_t *a = app;
    dcf_service_t *s = atomic_load(&a->svc);
    dcf_problem_t p = {0};
    json_t *out = NULL;
    char secret[DCF_TOKEN_LEN + 1];
    size_t len;
    const char *body = api_body(r, &len);
    if (s == NULL) {
        api_reply_simple(r, 503, "not-ready", "The server is still loading", NULL, NULL);
        return;
    }
    if (!api_query_only(r, api_no_query))
        return;
    int rc = dcf_session_create(s, body, len, secret, &out, &p);
    if (rc == DCF_OK) {
        set_cookie(r, secret, false);
        json_object_set_new(out, "tile_url",
                            a->tile_url[0] ? json_string(a->tile_url) : json_null());
    }
    api_finish(r, rc, 201, out, &p);
}

/* The caller's session from the cookie, or a 401 reply. */
static dcf_service_t *session_of(dcf_api_t *a, dcf_http_req_t *r, char *secret, size_t cap,
                                 dcf_principal_t *who, char *csrf) {
    dcf_service_t *s = atomic_load(&a->svc);
    if (s == NULL) {
        api_reply_simple(r, 503, "not-ready", "The server is still loading", NULL, NULL);
        return NULL;
    }
    if (!api_session_cookie(r, secret, cap) ||
        dcf_session_authenticate(s, secret, who, csrf) != DCF_OK) {
        api_reply_simple(r, 401, "unauthorized", "Not signed in (no live session cookie)", NULL,
                         NULL);
        return NULL;
    }
    return s;
}

void api_h_session_get(void *app, dcf_http_req_t *r) {
    char secret[DCF_TOKEN_LEN + 8], csrf[DCF_SESSION_CSRF_LEN + 1];
    dcf_principal_t who;
    if (!api_query_only(r, api_no_query))
        return;
    dcf_service_t *s = session_of(app, r, secret, sizeof secret, &who, csrf);
    if (s == NULL)
        return;
    json_t *me = NULL;
    dcf_whoami(s, &who, &me);
    dcf_api_t *a = app;
    dcf_http_reply_json(r, 200,
                        json_pack("{s:s, s:o, s:o}", "csrf", csrf, "whoami", me, "tile_url",
                                  a->tile_url[0] ? json_string(a->tile_url) : json_null()));
}

void api_h_session_delete(void *app, dcf_http_req_t *r) {
    char secret[DCF_TOKEN_LEN + 8], csrf[DCF_SESSION_CSRF_LEN + 1];
    dcf_principal_t who;
    dcf_problem_t p = {0};
    if (!api_query_only(r, api_no_query))
        return;
    dcf_service_t *s = session_of(app, r, secret, sizeof secret, &who, csrf);
    if (s == NULL)
        return;
    if (!dcf_session_csrf_ok(csrf, dcf_http_req_header(r, "X-CSRF-Token"))) {
        api_reply_simple(r, 403, "csrf", "Send the session's CSRF token in X-CSRF-Token",
                         "X-CSRF-Token", "must be the csrf value of POST /v1/session");
        return;
    }
    int rc = dcf_session_revoke(s, secret, &p);
    if (rc != DCF_OK) {
        api_reply_problem(r, &p);
        return;
    }
    set_cookie(r, NULL, true);
    dcf_http_reply(r, 204, "text/plain", "", 0);
}
