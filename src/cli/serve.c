/*
 * serve.c -- `deconflict serve`: the options table, then HTTP, then the
 * service, then a loop that runs the timers (event-stream heartbeats, the
 * completion sweep) until SIGINT or SIGTERM.
 *
 * ORDER.  HTTP starts before the store loads so /healthz answers at once
 * and /readyz says 503 until the live operations are in memory.  On a
 * signal: HTTP stops first (streams end, handlers in flight finish), then
 * the service closes (the store drains its queue: every acknowledged write
 * is already durable; queued ones complete).
 *
 * SIGNALS.  SIGINT, SIGTERM are blocked in every thread and taken by the
 * main thread with sigtimedwait; SIGPIPE is ignored.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/cli_int.h"
#include "deconflict/api.h"
#include "deconflict/config.h"
#include "deconflict/http.h"
#include "deconflict/service.h"
#include "deconflict/template.h"

extern char **environ;

#define TLS_PEM_MAX (1u << 20)

static const char *const POLICIES[] = {"advisory", "strict", NULL};

typedef struct {
    char config[DCF_CONFIG_VALUE_MAX];
    char listen[DCF_CONFIG_VALUE_MAX];
    char db[DCF_CONFIG_VALUE_MAX];
    char rules[DCF_CONFIG_VALUE_MAX];
    char tls_cert[DCF_CONFIG_VALUE_MAX];
    char tls_key[DCF_CONFIG_VALUE_MAX];
    char audit_key[DCF_CONFIG_VALUE_MAX];
    bool allow_insecure;
    int64_t threads, max_connections, max_body, timeout;
    int64_t max_volumes, max_vertices, max_depth, page_max;
    double rate;
    int64_t check_rate, max_streams, heartbeat, notice, sweep;
    int policy;
    double grid;
    int64_t batch_max, batch_wait, readers, store_cache;
    int64_t sth_interval;
    bool test_clock;
    char tile_url[DCF_CONFIG_VALUE_MAX];
    int64_t session_ttl;
    int64_t ack_urgent, ack_warning, ack_request, escalation_repeat, ring_timeout;
    int64_t line_check_interval, freeze_after, presence_window;
} serve_opts_t;

#define OFF(f) offsetof(serve_opts_t, f)
static const dcf_config_opt_t SERVE_OPTS[] = {
    {"config", "DECONFLICT_CONFIG", NULL, DCF_CONFIG_FILE, 0, 0, "",
     "JSON file of options (keys as below)", NULL, OFF(config)},
    {"listen", "DECONFLICT_LISTEN", "listen", DCF_CONFIG_STRING, 0, 0, "127.0.0.1:8080",
     "address:port to listen on (port 0: any free port)", NULL, OFF(listen)},
    {"db", "DECONFLICT_DB", "db", DCF_CONFIG_STRING, 0, 0, "deconflict.db",
     "the store: a SQLite file path or sqlite:PATH", NULL, OFF(db)},
    {"rules", "DECONFLICT_RULES", "rules", DCF_CONFIG_STRING, 0, 0, "",
     "separation rule table (JSON, docs/model.md); default 1000 m / 150 m / 0 s", NULL, OFF(rules)},
    {"tls-cert", "DECONFLICT_TLS_CERT", "tls_cert", DCF_CONFIG_STRING, 0, 0, "",
     "PEM certificate (chain) for HTTPS", NULL, OFF(tls_cert)},
    {"tls-key", "DECONFLICT_TLS_KEY", "tls_key", DCF_CONFIG_STRING, 0, 0, "",
     "PEM private key for HTTPS", NULL, OFF(tls_key)},
    {"allow-insecure-http", "DECONFLICT_ALLOW_INSECURE_HTTP", "allow_insecure_http",
     DCF_CONFIG_BOOL, 0, 0, "false", "serve plain HTTP on a non-loopback address", NULL,
     OFF(allow_insecure)},
    {"threads", "DECONFLICT_THREADS", "threads", DCF_CONFIG_INT, 1, 256, "16",
     "HTTP worker threads", NULL, OFF(threads)},
    {"max-connections", "DECONFLICT_MAX_CONNECTIONS", "max_connections", DCF_CONFIG_INT, 1, 100000,
     "1024", "concurrent connections", NULL, OFF(max_connections)},
    {"max-body", "DECONFLICT_MAX_BODY", "max_body", DCF_CONFIG_INT, 1024, 268435456, "1048576",
     "largest request body in bytes", NULL, OFF(max_body)},
    {"timeout", "DECONFLICT_TIMEOUT", "timeout", DCF_CONFIG_DURATION, 1, 3600, "60s",
     "idle connection timeout", NULL, OFF(timeout)},
    {"max-volumes", "DECONFLICT_MAX_VOLUMES", "max_volumes", DCF_CONFIG_INT, 1, 10000, "64",
     "volumes per operation", NULL, OFF(max_volumes)},
    {"max-vertices", "DECONFLICT_MAX_VERTICES", "max_vertices", DCF_CONFIG_INT, 3, 1000000, "10000",
     "vertices per polygon", NULL, OFF(max_vertices)},
    {"max-depth", "DECONFLICT_MAX_DEPTH", "max_depth", DCF_CONFIG_INT, 4, 1000, "32",
     "JSON nesting depth of a body", NULL, OFF(max_depth)},
    {"page-max", "DECONFLICT_PAGE_MAX", "page_max", DCF_CONFIG_INT, 1, 100000, "1000",
     "largest page a list returns", NULL, OFF(page_max)},
    {"rate", "DECONFLICT_RATE", "rate", DCF_CONFIG_DOUBLE, 0, 1e9, "1000",
     "requests per second per token, burst 2 s worth (0: unlimited)", NULL, OFF(rate)},
    {"check-rate", "DECONFLICT_CHECK_RATE", "check_rate", DCF_CONFIG_INT, 1, 1000000, "60",
     "conflict checks per minute per party", NULL, OFF(check_rate)},
    {"max-streams", "DECONFLICT_MAX_STREAMS", "max_streams", DCF_CONFIG_INT, 1, 10000, "16",
     "event streams per party", NULL, OFF(max_streams)},
    {"heartbeat", "DECONFLICT_HEARTBEAT", "heartbeat", DCF_CONFIG_DURATION, 0.1, 3600, "15s",
     "event-stream heartbeat interval", NULL, OFF(heartbeat)},
    {"notice", "DECONFLICT_NOTICE", "notice", DCF_CONFIG_DURATION, 0, 30 * 86400, "30m",
     "notice an operation must give before it starts (else exigent)", NULL, OFF(notice)},
    {"sweep", "DECONFLICT_SWEEP", "sweep", DCF_CONFIG_DURATION, 0.1, 86400, "10s",
     "how often ended operations are completed", NULL, OFF(sweep)},
    {"policy", "DECONFLICT_POLICY", "policy", DCF_CONFIG_ENUM, 0, 0, "advisory",
     "advisory: accept and report conflicts; strict: refuse a conflict with equal or higher "
     "priority",
     POLICIES, OFF(policy)},
    {"grid", "DECONFLICT_GRID", "grid", DCF_CONFIG_DOUBLE, 0, 1e6, "1000",
     "metres of the grid a conflict's region is widened to for the other side", NULL, OFF(grid)},
    {"batch-max", "DECONFLICT_BATCH_MAX", "batch_max", DCF_CONFIG_INT, 1, 4096, "256",
     "writes per group commit", NULL, OFF(batch_max)},
    {"batch-wait", "DECONFLICT_BATCH_WAIT", "batch_wait", DCF_CONFIG_DURATION, 0, 0.1, "0s",
     "how long the writer waits to fill a batch", NULL, OFF(batch_wait)},
    {"readers", "DECONFLICT_READERS", "readers", DCF_CONFIG_INT, 1, 16, "4",
     "read connections to the store", NULL, OFF(readers)},
    {"store-cache", "DECONFLICT_STORE_CACHE", "store_cache", DCF_CONFIG_INT, 1, 65536, "64",
     "MiB of page cache for the store's writer (indexes that no longer fit are read back on "
     "every write)",
     NULL, OFF(store_cache)},
    {"audit-key", "DECONFLICT_AUDIT_KEY", "audit_key", DCF_CONFIG_STRING, 0, 0, "",
     "the audit log's signing key file (mode 0600; deconflict init creates it); default: the "
     "store's path + .audit-key",
     NULL, OFF(audit_key)},
    {"sth-interval", "DECONFLICT_STH_INTERVAL", "sth_interval", DCF_CONFIG_DURATION, 0.1, 86400,
     "60s", "how often a signed tree head is issued when the audit log has grown", NULL,
     OFF(sth_interval)},
    {"ack-urgent", "DECONFLICT_ACK_URGENT", "ack_urgent", DCF_CONFIG_DURATION, 1, 86400, "2m",
     "time to acknowledge an urgent hotline message (and a line check) before it escalates", NULL,
     OFF(ack_urgent)},
    {"ack-warning", "DECONFLICT_ACK_WARNING", "ack_warning", DCF_CONFIG_DURATION, 1, 86400, "10m",
     "time to acknowledge a warning before it escalates", NULL, OFF(ack_warning)},
    {"ack-request", "DECONFLICT_ACK_REQUEST", "ack_request", DCF_CONFIG_DURATION, 1, 86400, "30m",
     "time to acknowledge a request before it escalates", NULL, OFF(ack_request)},
    {"escalation-repeat", "DECONFLICT_ESCALATION_REPEAT", "escalation_repeat", DCF_CONFIG_DURATION,
     10, 3600, "5m", "how often an unacknowledged message escalates again (at most 100 times)",
     NULL, OFF(escalation_repeat)},
    {"ring-timeout", "DECONFLICT_RING_TIMEOUT", "ring_timeout", DCF_CONFIG_DURATION, 1, 3600,
     "120s", "a hotline call not answered by then is missed", NULL, OFF(ring_timeout)},
    {"line-check-interval", "DECONFLICT_LINE_CHECK_INTERVAL", "line_check_interval",
     DCF_CONFIG_DURATION, 0, 366 * 86400, "24h",
     "how often each line's duty desks get a line check (0: never)", NULL,
     OFF(line_check_interval)},
    {"freeze-after", "DECONFLICT_FREEZE_AFTER", "freeze_after", DCF_CONFIG_DURATION, 60,
     366 * 86400, "7d", "senior-level silence on a line that raises the freeze alert", NULL,
     OFF(freeze_after)},
    {"presence-window", "DECONFLICT_PRESENCE_WINDOW", "presence_window", DCF_CONFIG_DURATION, 1,
     86400, "60s", "how long a desk's heartbeat keeps it present", NULL, OFF(presence_window)},
    {"tile-url", "DECONFLICT_TILE_URL", "tile_url", DCF_CONFIG_STRING, 0, 0, "",
     "map tiles for the web console (https://host/{z}/{x}/{y}.png); default: the built-in "
     "country outlines only, no network",
     NULL, OFF(tile_url)},
    {"session-ttl", "DECONFLICT_SESSION_TTL", "session_ttl", DCF_CONFIG_DURATION, 60, 30 * 86400,
     "12h", "how long a web console sign-in lasts", NULL, OFF(session_ttl)},
    {"test-clock", "DECONFLICT_TEST_CLOCK", "test_clock", DCF_CONFIG_BOOL, 0, 0, "false",
     "let the admin move the server's clock forward (POST /v1/admin/clock); tests only, loopback "
     "only",
     NULL, OFF(test_clock)},
};
#undef OFF
#define N_SERVE_OPTS (sizeof SERVE_OPTS / sizeof SERVE_OPTS[0])

void dcf_cli_serve_help(FILE *out) {
    dcf_config_help(SERVE_OPTS, N_SERVE_OPTS, out);
}

/* JSON-lines log of the server's own events. */
static void logj(const char *level, const char *msg, json_t *fields) {
    char ts[DCF_TIME_STRLEN];
    json_t *j = fields ? fields : json_object();
    json_object_set_new(j, "ts", json_string(dcf_time_format(dcf_time_now(), ts)));
    json_object_set_new(j, "level", json_string(level));
    json_object_set_new(j, "msg", json_string(msg));
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    if (text != NULL) {
        flockfile(stderr);
        fprintf(stderr, "%s\n", text);
        fflush(stderr);
        funlockfile(stderr);
    }
    free(text);
    json_decref(j);
}

/* The host part of "host:port" as written (brackets kept for IPv6), or
 * false when it does not fit. */
static bool listen_host(const char *listen, char *host, size_t cap) {
    const char *colon = strrchr(listen, ':');
    size_t n = colon ? (size_t)(colon - listen) : strlen(listen);
    if (n >= cap)
        return false;
    memcpy(host, listen, n);
    host[n] = '\0';
    return true;
}

static bool host_is_loopback(const char *listen) {
    char host[256];
    if (!listen_host(listen, host, sizeof host))
        return false;
    size_t n = strlen(host);
    if (host[0] == '[' && n >= 2 && host[n - 1] == ']') {
        memmove(host, host + 1, n - 2);
        host[n - 2] = '\0';
    }
    if (strcmp(host, "localhost") == 0)
        return true;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

/* Service options shared with `init`. */
void dcf_cli_service_opts(dcf_service_opts_t *so, const char *db, const char *rules,
                          const char *audit_key, char *keybuf, size_t keycap) {
    dcf_service_opts_default(so);
    so->store.uri = db;
    so->rules_path = rules[0] ? rules : NULL;
    if (audit_key[0] != '\0') {
        so->audit_key_path = audit_key;
    } else {
        const char *path = strncmp(db, "sqlite:", 7) == 0 ? db + 7 : db;
        int n = snprintf(keybuf, keycap, "%s.audit-key", path);
        so->audit_key_path = n > 0 && (size_t)n < keycap ? keybuf : ""; /* "": a clear error */
    }
}

int dcf_cli_serve(int argc, char **argv) {
    serve_opts_t o;
    char err[512];
    char *cert = NULL, *key = NULL;
    size_t len;
    dcf_api_t *api = NULL;
    dcf_http_t *http = NULL;
    dcf_service_t *svc = NULL;
    dcf_template_set_t *templates = NULL;
    int status = 2;
    sigset_t sigs;

    int rc = dcf_config_parse(SERVE_OPTS, N_SERVE_OPTS, &o, argc - 1, argv + 1, environ, err,
                              sizeof err);
    if (rc == DCF_ESTATE) {
        dcf_cli_usage(stdout, dcf_cli_command("serve"));
        printf("\noptions:\n");
        dcf_config_help(SERVE_OPTS, N_SERVE_OPTS, stdout);
        return 0;
    }
    if (rc != DCF_OK) {
        fprintf(stderr, "deconflict serve: %s\n", err);
        return 2;
    }
    bool tls = o.tls_cert[0] != '\0' || o.tls_key[0] != '\0';
    if (tls && (o.tls_cert[0] == '\0' || o.tls_key[0] == '\0')) {
        fprintf(stderr, "deconflict serve: --tls-cert and --tls-key go together\n");
        return 2;
    }
    if (o.tile_url[0] && strncmp(o.tile_url, "https://", 8) != 0 &&
        strncmp(o.tile_url, "http://", 7) != 0) {
        fprintf(stderr, "deconflict serve: --tile-url must be an http(s) URL template\n");
        goto out;
    }
    if (o.test_clock && !host_is_loopback(o.listen)) {
        fprintf(stderr,
                "deconflict serve: refusing --test-clock on %s, which is not a loopback "
                "address: the test clock lets an admin rewrite time\n",
                o.listen);
        goto out;
    }
    if (!tls && !o.allow_insecure && !host_is_loopback(o.listen)) {
        fprintf(stderr,
                "deconflict serve: refusing plain HTTP on %s, which is not a loopback address; "
                "give --tls-cert and --tls-key, or --allow-insecure-http\n",
                o.listen);
        return 2;
    }
    if (tls && (dcf_cli_read_file(o.tls_cert, TLS_PEM_MAX, &cert, &len, err) != 0 ||
                dcf_cli_read_file(o.tls_key, TLS_PEM_MAX, &key, &len, err) != 0)) {
        fprintf(stderr, "deconflict serve: %s\n", err);
        goto out;
    }

    /* Block the signals we wait for before any thread starts. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    dcf_api_opts_t ao = {.rate = o.rate,
                         .max_streams = (unsigned)o.max_streams,
                         .heartbeat_us = o.heartbeat,
                         .page_max = (unsigned)o.page_max,
                         .tile_url = o.tile_url[0] ? o.tile_url : NULL};
    if (dcf_api_new(&ao, &api) != DCF_OK) {
        fprintf(stderr, "deconflict serve: out of memory\n");
        goto out;
    }
    size_t n_routes;
    const dcf_http_route_t *routes = dcf_api_routes(&n_routes);
    dcf_http_opts_t ho = {.listen = o.listen,
                          .threads = (unsigned)o.threads,
                          .max_connections = (unsigned)o.max_connections,
                          .max_body = (size_t)o.max_body,
                          .timeout_s = (unsigned)(o.timeout / DCF_USEC_PER_SEC),
                          .tls_cert_pem = cert,
                          .tls_key_pem = key,
                          .log = stderr,
                          .routes = routes,
                          .n_routes = n_routes,
                          .app = api};
    if (dcf_http_start(&ho, &http, err, sizeof err) != DCF_OK) {
        fprintf(stderr, "deconflict serve: cannot listen on %s: %s\n", o.listen, err);
        goto out;
    }
    dcf_api_set_http(api, http);
    {
        char url[300], host[256] = "";
        listen_host(o.listen, host, sizeof host);
        snprintf(url, sizeof url, "%s://%s:%u", tls ? "https" : "http", host,
                 (unsigned)dcf_http_port(http));
        logj("info", "listening", json_pack("{s:s}", "url", url));
    }

    dcf_service_opts_t so;
    char keybuf[DCF_CONFIG_VALUE_MAX + 16];
    dcf_cli_service_opts(&so, o.db, o.rules, o.audit_key, keybuf, sizeof keybuf);
    so.limits.max_volumes = (size_t)o.max_volumes;
    so.limits.max_vertices = (size_t)o.max_vertices;
    so.limits.max_depth = (size_t)o.max_depth;
    so.notice_us = o.notice;
    so.policy = (dcf_policy_t)o.policy;
    so.grid_m = o.grid;
    so.check_per_min = (unsigned)o.check_rate;
    so.page_max = (unsigned)o.page_max;
    so.store.batch_max = (unsigned)o.batch_max;
    so.store.batch_wait_us = (unsigned)o.batch_wait;
    so.store.readers = (unsigned)o.readers;
    so.store.cache_mib = (unsigned)o.store_cache;
    so.hotline.ack_us[DCF_MSG_URGENT] = o.ack_urgent;
    so.hotline.ack_us[DCF_MSG_WARNING] = o.ack_warning;
    so.hotline.ack_us[DCF_MSG_REQUEST] = o.ack_request;
    so.hotline.escalation_repeat_us = o.escalation_repeat;
    so.hotline.ring_timeout_us = o.ring_timeout;
    so.hotline.line_check_us = o.line_check_interval;
    so.hotline.freeze_after_us = o.freeze_after;
    so.hotline.presence_window_us = o.presence_window;
    so.test_clock = o.test_clock;
    so.session_ttl_us = o.session_ttl;
    dcf_template_error_t te;
    if (dcf_template_set_load_builtin(&templates, &te) != DCF_OK) {
        char why[700];
        fprintf(stderr, "deconflict serve: the built-in templates: %s\n",
                dcf_template_error_format(&te, why, sizeof why));
        goto out;
    }
    so.templates = templates;
    so.on_event = dcf_api_on_event;
    so.on_event_arg = api;
    dcf_time_t t0 = dcf_time_now();
    if (dcf_service_open(&so, &svc, err, sizeof err) != DCF_OK) {
        logj("error", "cannot open the service", json_pack("{s:s}", "error", err));
        fprintf(stderr, "deconflict serve: %s\n", err);
        goto out;
    }
    dcf_api_set_service(api, svc);
    logj("info", "ready",
         json_pack("{s:I, s:I, s:I, s:f}", "operations",
                   (json_int_t)dcf_service_live_operations(svc), "operations_from_text",
                   (json_int_t)dcf_service_loaded_from_text(svc), "conflicts_open",
                   (json_int_t)dcf_service_open_conflicts(svc), "load_seconds",
                   (double)(dcf_time_now() - t0) / 1e6));

    /* Timers and signals. */
    dcf_time_t next_beat = dcf_time_now() + o.heartbeat, next_sweep = dcf_time_now();
    dcf_time_t next_sth = dcf_time_now(), next_hotline = dcf_time_now();
    for (;;) {
        dcf_time_t now = dcf_time_now();
        if (now >= next_sth) {
            int irc = dcf_audit_issue(svc, true);
            if (irc != DCF_OK)
                logj("error", "cannot issue a signed tree head",
                     json_pack("{s:s}", "error", dcf_strerror(irc)));
            next_sth = now + o.sth_interval;
        }
        if (now >= next_hotline) {
            int n = dcf_hotline_tick(svc);
            if (n < 0)
                logj("error", "hotline timers failed",
                     json_pack("{s:s}", "error", dcf_strerror(n)));
            next_hotline = now + DCF_USEC_PER_SEC;
        }
        if (now >= next_sweep) {
            int n = dcf_service_sweep(svc, dcf_service_now(svc));
            if (n > 0)
                logj("info", "completed ended operations", json_pack("{s:i}", "count", n));
            next_sweep = now + o.sweep;
        }
        if (now >= next_beat) {
            dcf_api_tick(api);
            next_beat = now + o.heartbeat;
        }
        dcf_time_t wake = next_beat < next_sweep ? next_beat : next_sweep;
        if (next_sth < wake)
            wake = next_sth;
        if (next_hotline < wake)
            wake = next_hotline;
        dcf_time_t wait = wake - dcf_time_now();
        if (wait < 1000)
            wait = 1000;
        struct timespec ts = {(time_t)(wait / DCF_USEC_PER_SEC),
                              (long)(wait % DCF_USEC_PER_SEC) * 1000};
        int sig = sigtimedwait(&sigs, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            logj("info", "stopping", json_pack("{s:s}", "signal", sig == SIGINT ? "INT" : "TERM"));
            break;
        }
    }
    status = 0;
out:
    dcf_http_stop(http);
    if (api != NULL)
        dcf_api_set_service(api, NULL);
    dcf_service_close(svc);
    dcf_api_free(api);
    dcf_template_set_free(templates);
    free(cert);
    free(key);
    if (status == 0)
        logj("info", "stopped", NULL);
    return status;
}
