/*
 * events.c -- `deconflict events`: follow the party's live event stream.
 *
 * HOW IT WORKS.  dcf_client_stream reads GET /v1/events and hands over each
 * event; this file prints it and remembers its id.  When the stream drops
 * (network, server restart, idle past the heartbeat) it reconnects with
 * Last-Event-ID set to the last id printed, so the server replays what was
 * missed and nothing is printed twice; the wait before reconnecting grows
 * 1, 2, 4 ... 30 s and goes back to 1 s once an event arrives.  SIGINT and
 * SIGTERM set a flag that the client checks at least once a second (also
 * during the wait), so Ctrl-C ends the command cleanly with exit 0.
 *
 * The flag is the one file-static variable: a signal handler can reach
 * nothing else.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/cli_int.h"

#define BACKOFF_MIN_S 1
#define BACKOFF_MAX_S 30

static volatile sig_atomic_t events_stop;

static void on_signal(int sig) {
    (void)sig;
    events_stop = 1;
}

typedef struct {
    dcf_cli_run_t *r;
    char last_id[128];
    unsigned long long seen, count; /* count 0: no limit */
    bool got_one;                   /* since the last connect */
} follow_t;

static void clean(char *s) {
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

static int on_event(void *arg, const char *id, const char *event, const char *data) {
    follow_t *f = arg;
    json_t *d = json_loads(data, JSON_DECODE_ANY, NULL);
    if (f->r->json) {
        json_t *dv = d != NULL ? json_incref(d) : json_string(data);
        json_t *line = json_pack("{s:s, s:s, s:o}", "id", id, "event", event, "data", dv);
        if (line != NULL) {
            json_dumpf(line, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
            putchar('\n');
        }
        json_decref(line);
    } else {
        char ev[80], sum[1024] = "";
        snprintf(ev, sizeof ev, "%s", event);
        clean(ev);
        size_t n = 0;
        const char *k;
        json_t *v;
        json_object_foreach(d, k, v) {
            char val[256];
            if (json_is_string(v))
                snprintf(val, sizeof val, "%s", json_string_value(v));
            else if (json_is_integer(v))
                snprintf(val, sizeof val, "%lld", (long long)json_integer_value(v));
            else if (json_is_boolean(v))
                snprintf(val, sizeof val, "%s", json_is_true(v) ? "true" : "false");
            else if (json_is_object(v) && json_is_string(json_object_get(v, "id")))
                snprintf(val, sizeof val, "%s", json_string_value(json_object_get(v, "id")));
            else
                continue;
            clean(val);
            int w = snprintf(sum + n, sizeof sum - n, " %s=%s", k, val);
            if (w < 0 || (size_t)w >= sizeof sum - n)
                break;
            n += (size_t)w;
        }
        if (f->r->color)
            printf("%s \033[1m%s\033[0m%s\n", id, ev, sum);
        else
            printf("%s %s%s\n", id, ev, sum);
    }
    fflush(stdout);
    json_decref(d);
    if (id[0] != '\0')
        snprintf(f->last_id, sizeof f->last_id, "%s", id);
    f->got_one = true;
    f->seen++;
    return f->count > 0 && f->seen >= f->count;
}

/* Sleep s seconds unless a signal asks to stop. */
static void pause_s(int s) {
    for (int i = 0; i < s * 10 && !events_stop; i++) {
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
    }
}

int dcf_cli_events(dcf_cli_run_t *r) {
    follow_t f;
    struct sigaction sa, old_int, old_term;
    int rc = DCF_CLI_EXIT_OK, backoff = BACKOFF_MIN_S;
    memset(&f, 0, sizeof f);
    f.r = r;
    const char *since = dcf_cli_opt(r, "since"), *count = dcf_cli_opt(r, "count");
    if (since != NULL) {
        char *e = NULL;
        errno = 0;
        unsigned long long v = strtoull(since, &e, 10);
        if (e == since || *e != '\0' || errno != 0 || since[0] == '-')
            return dcf_cli_fail(r, "--since must be an event id (a number)");
        snprintf(f.last_id, sizeof f.last_id, "%llu", v);
    }
    if (count != NULL) {
        char *e = NULL;
        f.count = strtoull(count, &e, 10);
        if (e == count || *e != '\0' || f.count == 0 || count[0] == '-')
            return dcf_cli_fail(r, "--count must be a positive number");
    }
    dcf_client_t *c = dcf_cli_client(r);
    if (c == NULL)
        return DCF_CLI_EXIT_USAGE;

    events_stop = 0;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    while (!events_stop) {
        char err[DCF_CLIENT_ERR_LEN];
        dcf_client_resp_t resp = {0};
        dcf_client_req_t req = {.method = "GET",
                                .path = "/v1/events",
                                .last_event_id = f.last_id[0] ? f.last_id : NULL,
                                .accept_language = r->lang};
        f.got_one = false;
        int x = dcf_client_stream(c, &req, on_event, &f, &events_stop, &resp, err, sizeof err);
        if (f.got_one)
            backoff = BACKOFF_MIN_S;
        if (f.count > 0 && f.seen >= f.count) {
            dcf_client_resp_clear(&resp);
            break;
        }
        if (events_stop) {
            dcf_client_resp_clear(&resp);
            break;
        }
        if (x == DCF_OK && resp.status != 200 && resp.status != 429 && resp.status != 503) {
            rc = dcf_cli_problem(r, resp.status, resp.body);
            dcf_client_resp_clear(&resp);
            break;
        }
        if (x != DCF_OK && x != DCF_EIO) {
            rc = dcf_cli_fail(r, "%s", err);
            break;
        }
        const char *why = x == DCF_EIO         ? err
                          : resp.status == 200 ? "the server ended the stream"
                                               : "the server is busy";
        char w[DCF_CLIENT_ERR_LEN];
        snprintf(w, sizeof w, "%s", why);
        clean(w);
        fprintf(stderr, "%s: %s; reconnecting in %d s%s%s\n", r->prog, w, backoff,
                f.last_id[0] ? " after event " : "", f.last_id);
        dcf_client_resp_clear(&resp);
        pause_s(backoff);
        backoff = backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : backoff * 2;
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return rc;
}
