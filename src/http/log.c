/*
 * log.c -- the access log: one JSON object per line on opts.log.
 *
 * A request line (written when libmicrohttpd reports the request complete):
 *
 *   {"ts":"2026-11-23T14:05:00.123Z","level":"info","msg":"request",
 *    "request_id":"9f2c...","method":"GET","route":"/v1/ops/{id}",
 *    "path":"/v1/ops/abc","status":200,"duration_us":812,"bytes_in":0,
 *    "bytes_out":311, ...handler fields...}
 *
 * plus "end": "client-gone" | "timeout" | "shutdown" | "error" when the
 * request did not complete normally (status 0: nothing was sent).  Handler
 * fields (dcf_http_req_log) never replace the standard members.  Other
 * lines carry "level" "warn"/"error" and a "msg" ("handler bug",
 * "libmicrohttpd") with a "detail".
 *
 * Strings that are not valid UTF-8 (a raw path may hold any byte) are
 * logged with every byte >= 0x80 written as %HH, so every line is valid
 * JSON.  Each line is one fwrite under the FILE's lock, then fflush, so
 * lines from pool threads never interleave.
 *
 * Callers: the rest of src/http/, any pool thread.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/http_int.h"

json_t *dcf__http_json_str(const char *s) {
    json_t *j = json_string(s);
    char *esc, *p;

    if (j != NULL)
        return j;
    esc = malloc(strlen(s) * 3 + 1);
    if (esc == NULL)
        return NULL;
    p = esc;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c < 0x80)
            *p++ = (char)*c;
        else
            p += sprintf(p, "%%%02X", *c);
    }
    *p = '\0';
    j = json_string(esc);
    free(esc);
    return j;
}

static json_t *line_start(const char *level, const char *msg) {
    struct timespec now;
    struct tm tm;
    char ts[40];
    json_t *o = json_object();

    if (o == NULL)
        return NULL;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + strlen(ts), sizeof(ts) - strlen(ts), ".%03ldZ", now.tv_nsec / 1000000);
    json_object_set_new(o, "ts", json_string(ts));
    json_object_set_new(o, "level", json_string(level));
    json_object_set_new(o, "msg", json_string(msg));
    return o;
}

static void line_write(FILE *log, json_t *o) {
    char small[4096], *buf = small;
    size_t n = json_dumpb(o, small, sizeof(small) - 1, JSON_COMPACT);

    if (n == 0)
        return;
    if (n > sizeof(small) - 1) {
        buf = malloc(n + 1);
        if (buf == NULL || json_dumpb(o, buf, n, JSON_COMPACT) != n) {
            free(buf);
            return;
        }
    }
    buf[n] = '\n';
    flockfile(log);
    fwrite(buf, 1, n + 1, log);
    fflush(log);
    funlockfile(log);
    if (buf != small)
        free(buf);
}

static const char *end_name(enum MHD_RequestTerminationCode tc) {
    switch (tc) {
    case MHD_REQUEST_TERMINATED_COMPLETED_OK:
        return NULL;
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
        return "timeout";
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
        return "shutdown";
    case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
    case MHD_REQUEST_TERMINATED_READ_ERROR:
        return "client-gone";
    default:
        return "error";
    }
}

void dcf__http_log_request(dcf_http_t *h, dcf_http_req_t *r, enum MHD_RequestTerminationCode tc) {
    json_t *o;
    const char *end = end_name(tc);

    if (h->opts.log == NULL || (o = line_start("info", "request")) == NULL)
        return;
    json_object_set_new(o, "request_id", json_string(r->id));
    json_object_set_new(o, "method", dcf__http_json_str(r->method));
    json_object_set_new(o, "route", dcf__http_json_str(dcf_http_req_route(r)));
    json_object_set_new(o, "path", dcf__http_json_str(r->path));
    json_object_set_new(o, "status", json_integer(r->queued ? r->status : 0));
    json_object_set_new(o, "duration_us", json_integer(dcf__http_elapsed_us(&r->t0)));
    json_object_set_new(o, "bytes_in", json_integer((json_int_t)r->bytes_in));
    json_object_set_new(o, "bytes_out", json_integer((json_int_t)r->bytes_out));
    if (end != NULL)
        json_object_set_new(o, "end", json_string(end));
    for (size_t i = 0; i < r->n_log; i++)
        if (json_object_get(o, r->log[i].key) == NULL)
            json_object_set_new(o, r->log[i].key, dcf__http_json_str(r->log[i].value));
    line_write(h->opts.log, o);
    json_decref(o);
}

void dcf__http_log_event(dcf_http_t *h, const char *level, const char *msg, const dcf_http_req_t *r,
                         const char *detail) {
    json_t *o;

    if (h->opts.log == NULL || (o = line_start(level, msg)) == NULL)
        return;
    if (r != NULL) {
        json_object_set_new(o, "request_id", json_string(r->id));
        json_object_set_new(o, "route", dcf__http_json_str(dcf_http_req_route(r)));
    }
    if (detail != NULL)
        json_object_set_new(o, "detail", dcf__http_json_str(detail));
    line_write(h->opts.log, o);
    json_decref(o);
}

void dcf__http_log_mhd(void *cls, const char *fmt, va_list ap) {
    char buf[512];
    size_t n;

    vsnprintf(buf, sizeof(buf), fmt, ap);
    n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    dcf__http_log_event(cls, "warn", "libmicrohttpd", NULL, buf);
}
