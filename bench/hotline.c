/*
 * hotline.c -- the hotline benchmark (build/bench/hotline), issue 4: how
 * long a message takes from its POST to the other side's desks, with 100
 * desks connected, at an offered rate; and how many messages per second go
 * through one line when every one is acknowledged.  It talks HTTP to a
 * running `deconflict serve` (scripts/bench-hotline starts one, creates the
 * parties `us` and `ru`, their tokens and an open line, and passes them
 * here); nothing of the server is linked in.
 *
 *   hotline --url URL --line ID --us-token T --ru-token T [--ru-token T ...]
 *           [--desks N] [--rate R] [--secs S] [--warmup S] [--drain S]
 *           [--inflight N] [--conns N] [--senders K] [--b-secs S]
 *           [--type TYPE] [--text-min N] [--text-max N] [--seed S]
 *           [--us-stream-token T] [--server-pid PID] [--only a|b] [--out FILE]
 *
 * A. LATENCY UNDER AN OFFERED RATE (open loop, two threads).
 *   1. --desks SSE streams (GET /v1/events) of the ru tokens, round robin,
 *      all in one curl multi handle on the main thread; each must send the
 *      server's ": connected" comment before anything is sent.
 *   2. A sender thread (its own multi handle, at most --conns connections)
 *      POSTs /v1/lines/{id}/messages with the us token on a fixed schedule:
 *      message i is due at t0 + i / rate, for (warmup + secs) * rate
 *      messages.  A message is handed to curl when due, unless --inflight
 *      requests are already outstanding (then it waits; the wait shows as
 *      send lag).  Its latency starts when it is handed to curl.
 *   3. On each stream, every `message.new` of the line is matched to its
 *      POST by seq (read from the start of the event's data: the server
 *      writes "line" and "seq" first; the POST's answer gives the seq): the
 *      first stream it reaches and the last of the --desks streams.  After
 *      the last POST the streams get --drain seconds to receive every
 *      message.
 *   Reported over the messages after the warm-up: POST -> 201, POST ->
 *   first desk, POST -> all desks (p50/p90/p99/max, from the hand-off), the
 *   send lag, the same two arrivals from the time each message was due
 *   (open loop: a server that falls behind makes the client wait for a
 *   free request, and that wait counts; it also holds up to 1 ms of the
 *   sender's millisecond poll), the achieved POST and delivery rates, and
 *   every error: answers other than 201, transport errors, messages that
 *   never reached a desk or not every desk, duplicates, events that could
 *   not be parsed, streams that ended.  The target (p99 under 20 ms at
 *   2,000 messages/s) is judged on the arrivals from the due time.
 *
 * B. ACKNOWLEDGEMENT ROUND TRIPS (closed loop, one thread).
 *   One ru stream and one us stream; K senders, each repeating: POST a
 *   message (us token), wait for its `message.new` on the ru stream, POST
 *   .../messages/{seq}/acknowledge (first ru token), wait for its
 *   `message.acknowledged` on the us stream.  A round trip is from the
 *   POST to that last event.  Trips started in the first --warmup seconds
 *   are not counted; senders start no trip after warmup + --b-secs.  A trip
 *   waiting more than --drain seconds for an event is lost (an error).
 *
 * Every message is of --type (default warning) at level duty, with a text
 * of --text-min..--text-max bytes drawn from a splitmix64 seeded with
 * --seed and the message number, so every run sends the same bodies.
 *
 * CPU.  The benchmark shares the machine with the server: the cores each
 * used (getrusage; /proc/PID/stat of --server-pid) are reported beside the
 * figures.
 *
 * OUTPUT.  A table on stdout, progress on stderr, and one JSON file (--out,
 * default bench/out/hotline.json) with the machine description of
 * bench_util.h, the options and every figure.  Exit status: 0 done (a
 * missed target is reported, not an error), 1 the run failed (no stream,
 * no message through, out of memory), 2 bad usage.
 *
 * Latencies are kept as uint32 microseconds (saturating at 71 minutes).
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "bench_util.h"

#define HB_URL_MAX        512
#define HB_TOKENS_MAX     128
#define HB_DESKS_MAX      1000
#define HB_RATE_MAX       100000
#define HB_SECS_MAX       3600
#define HB_MSGS_MAX       4000000u /* messages of part A (about 200 MB of records) */
#define HB_INFLIGHT_MAX   8192
#define HB_CONNS_MAX      1024
#define HB_SENDERS_MAX    1024
#define HB_TEXT_MAX       4000 /* the server's limit on a message's text */
#define HB_BODY_MAX       (HB_TEXT_MAX + 128)
#define HB_RESP_MAX       65536 /* bytes of an answer kept for parsing */
#define HB_PREFIX         512   /* bytes of an SSE line kept for parsing */
#define HB_EVENT_MAX      64
#define HB_B_CAP          (1u << 20) /* messages part B can follow */
#define HB_ERRORS_MAX     1000       /* part B stops after this many failed requests */
#define HB_REQ_TIMEOUT_MS 30000L
#define HB_DEFAULT_OUT    "bench/out/hotline.json"
#define HB_TARGET_MS      20.0
#define HB_TARGET_RATE    2000u

/* ------------------------------------------------------------ options -- */

typedef struct {
    const char *url, *line, *us_token, *us_stream_token, *out, *type;
    const char *ru_tokens[HB_TOKENS_MAX];
    size_t n_ru;
    uint64_t desks, rate, secs, warmup, drain, inflight, conns, senders, b_secs;
    uint64_t text_min, text_max, seed, server_pid;
    bool run_a, run_b;
} opts_t;

/* ------------------------------------------------------------ helpers -- */

static inline uint64_t ns_to_us(uint64_t ns) {
    return ns / 1000u;
}

static inline uint32_t us32(uint64_t ns) {
    uint64_t us = ns_to_us(ns);
    return us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* CPU seconds (user + system) used so far by this process, and by the
 * server's process when its pid is known (from /proc/PID/stat; 0 if not). */
typedef struct {
    double self_s, server_s;
    uint64_t wall_ns;
} cpu_t;

static double proc_cpu_s(uint64_t pid) {
    char path[64], buf[1024];
    if (pid == 0)
        return 0.0;
    snprintf(path, sizeof path, "/proc/%" PRIu64 "/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0.0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields 14 and 15 (utime, stime) in clock ticks, after the ")" that
     * ends the command name. */
    const char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0.0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static cpu_t cpu_now(const opts_t *o) {
    struct rusage ru;
    cpu_t c = {0};
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        c.self_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                   (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    c.server_s = proc_cpu_s(o->server_pid);
    c.wall_ns = dcf_bench_now_ns();
    return c;
}

/* Cores used between a and b: {bench, server}. */
static void cpu_use(cpu_t a, cpu_t b, double *self, double *server) {
    double wall = (double)(b.wall_ns - a.wall_ns) / 1e9;
    *self = wall > 0 ? (b.self_s - a.self_s) / wall : 0.0;
    *server = wall > 0 ? (b.server_s - a.server_s) / wall : 0.0;
}

/* A response body, kept up to HB_RESP_MAX bytes (the rest is counted). */
typedef struct {
    char buf[HB_RESP_MAX + 1];
    size_t len;
    bool truncated;
} resp_t;

static size_t resp_write_cb(char *p, size_t size, size_t n, void *arg) {
    resp_t *r = arg;
    size_t len = size * n, room = HB_RESP_MAX - r->len;
    size_t take = len < room ? len : room;
    memcpy(r->buf + r->len, p, take);
    r->len += take;
    r->buf[r->len] = '\0';
    if (take < len)
        r->truncated = true;
    return len;
}

/* The integer member `key` of the JSON object in r, or -1. */
static int64_t resp_int(const resp_t *r, const char *key) {
    json_t *j = json_loadb(r->buf, r->len, 0, NULL);
    json_t *v = json_object_get(j, key);
    int64_t x = json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
    json_decref(j);
    return x;
}

/* "Authorization: Bearer T" (+ JSON headers when `json`); NULL when out of
 * memory. */
static struct curl_slist *headers_for(const char *token, bool json) {
    char auth[256];
    struct curl_slist *h = NULL, *t;
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    if ((t = curl_slist_append(h, auth)) == NULL)
        goto fail;
    h = t;
    if (json) {
        if ((t = curl_slist_append(h, "Content-Type: application/json")) == NULL)
            goto fail;
        h = t;
        if ((t = curl_slist_append(h, "Expect:")) == NULL)
            goto fail;
        h = t;
    }
    return h;
fail:
    curl_slist_free_all(h);
    return NULL;
}

/* One blocking GET of url+path; the status in *status, the body in r. */
static int http_get(const opts_t *o, const char *path, const char *token, long *status, resp_t *r) {
    char url[HB_URL_MAX + 256];
    int rc = DCF_EIO;
    struct curl_slist *h = headers_for(token, false);
    CURL *e = curl_easy_init();
    if (h == NULL || e == NULL) {
        rc = DCF_ENOMEM;
        goto out;
    }
    snprintf(url, sizeof url, "%s%s", o->url, path);
    r->len = 0;
    r->truncated = false;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, resp_write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, HB_REQ_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (curl_easy_perform(e) != CURLE_OK)
        goto out;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
    rc = DCF_OK;
out:
    curl_easy_cleanup(e);
    curl_slist_free_all(h);
    return rc;
}

/* The line's last_seq (the seq before the next message), checking that the
 * line is open and the token sees it. */
static int line_last_seq(const opts_t *o, int64_t *out) {
    char path[256];
    long status = 0;
    resp_t *r = calloc(1, sizeof *r);
    int rc = DCF_ENOMEM;
    if (r == NULL)
        goto out;
    snprintf(path, sizeof path, "/v1/lines/%s", o->line);
    if ((rc = http_get(o, path, o->us_token, &status, r)) != DCF_OK) {
        fprintf(stderr, "hotline: GET %s: cannot reach %s\n", path, o->url);
        goto out;
    }
    json_t *j = json_loadb(r->buf, r->len, 0, NULL);
    const char *state = json_string_value(json_object_get(j, "state"));
    json_t *seq = json_object_get(j, "last_seq");
    rc = DCF_ESTATE;
    if (status != 200 || state == NULL || strcmp(state, "open") != 0 || !json_is_integer(seq))
        fprintf(stderr, "hotline: GET %s: %ld, the line is not open: %.300s\n", path, status,
                r->buf);
    else {
        *out = (int64_t)json_integer_value(seq);
        rc = DCF_OK;
    }
    json_decref(j);
out:
    free(r);
    return rc;
}

/* The text of message i: "bench <i> " and seeded filler, text_min..text_max
 * bytes in all (at least the prefix), lower-case letters and spaces only. */
static size_t msg_text(const opts_t *o, uint64_t i, char *buf, size_t cap) {
    dcf_bench_rng_t r = {o->seed ^ (i * UINT64_C(0x9e3779b97f4a7c15))};
    static const char ALPHA[] = "abcdefghijklmnopqrstuvwxyz     ";
    size_t want = (size_t)(o->text_min + dcf_bench_rng_below(&r, o->text_max - o->text_min + 1));
    int n = snprintf(buf, cap, "bench %" PRIu64 " ", i);
    size_t len = n > 0 ? (size_t)n : 0;
    if (want >= cap)
        want = cap - 1;
    while (len < want)
        buf[len++] = ALPHA[dcf_bench_rng_below(&r, sizeof ALPHA - 1)];
    buf[len] = '\0';
    return len;
}

static int msg_body(const opts_t *o, uint64_t i, char *buf, size_t cap) {
    char text[HB_TEXT_MAX + 1];
    msg_text(o, i, text, sizeof text);
    int n =
        snprintf(buf, cap, "{\"type\":\"%s\",\"level\":\"duty\",\"text\":\"%s\"}", o->type, text);
    return n > 0 && (size_t)n < cap ? DCF_OK : DCF_ERANGE;
}

/* ------------------------------------------------------------- streams -- */

/*
 * SSE streams.  Each keeps the first HB_PREFIX bytes of the line being read
 * (the rest of a long data line is skipped: only "line" and "seq", which
 * the server writes first, are read from it), the current event's type and
 * what its data line said.  At the blank line that ends an event, the set's
 * on_event is called with the time the bytes arrived.
 */
typedef struct sse_set sse_set_t;

typedef struct {
    sse_set_t *set;
    CURL *e;
    struct curl_slist *hdrs;
    size_t idx;
    long status;
    bool checked, connected, ended;
    char line[HB_PREFIX + 1];
    size_t len;
    char event[HB_EVENT_MAX];
    bool has_data, data_ok;
    int64_t data_seq;
    int64_t last_new; /* newest seq of a message.new (they come in order) */
} stream_t;

typedef void (*sse_event_fn)(void *ctx, stream_t *st, const char *event, bool ok, int64_t seq,
                             uint64_t now);

struct sse_set {
    CURLM *m;
    stream_t *v;
    size_t n, connected, ended;
    bool stopping;
    char line_pat[128]; /* "line":"<id>" */
    sse_event_fn on_event;
    void *ctx;
    /* Transfers of the multi handle that are not streams (part B adds its
     * requests to the streams' handle): called when one finishes. */
    void (*other_done)(void *ctx, CURLMsg *msg);
    uint64_t events, unparsed, failed;
    uint64_t now;
};

/* Read "line" and "seq" from the start of a data line. */
static bool data_parse(const sse_set_t *s, const char *v, int64_t *seq) {
    const char *l = strstr(v, s->line_pat), *q = strstr(v, "\"seq\":");
    if (l == NULL || q == NULL)
        return false;
    q += 6;
    while (*q == ' ')
        q++;
    char *end;
    errno = 0;
    long long x = strtoll(q, &end, 10);
    if (end == q || errno != 0 || x < 1)
        return false;
    *seq = x;
    return true;
}

static void sse_line(stream_t *st) {
    sse_set_t *s = st->set;
    char *l = st->line;
    if (st->len > 0 && l[st->len - 1] == '\r')
        l[--st->len] = '\0';
    if (st->len == 0) {
        if (st->event[0] != '\0' || st->has_data) {
            s->events++;
            const char *ev = st->event[0] ? st->event : "message";
            s->on_event(s->ctx, st, ev, st->has_data && st->data_ok, st->data_seq, s->now);
        }
        st->event[0] = '\0';
        st->has_data = st->data_ok = false;
        return;
    }
    if (l[0] == ':') {
        if (!st->connected && strncmp(l, ": connected", 11) == 0) {
            st->connected = true;
            s->connected++;
        }
        return;
    }
    if (strncmp(l, "event:", 6) == 0) {
        const char *v = l + 6 + (l[6] == ' ');
        snprintf(st->event, sizeof st->event, "%s", v);
    } else if (strncmp(l, "data:", 5) == 0) {
        st->has_data = true;
        st->data_ok = data_parse(s, l + 5, &st->data_seq);
    }
}

static size_t sse_write_cb(char *p, size_t size, size_t n, void *arg) {
    stream_t *st = arg;
    sse_set_t *s = st->set;
    size_t len = size * n;
    s->now = dcf_bench_now_ns();
    if (!st->checked) {
        st->checked = true;
        curl_easy_getinfo(st->e, CURLINFO_RESPONSE_CODE, &st->status);
        if (st->status != 200) {
            fprintf(stderr, "hotline: stream %zu: HTTP %ld: %.*s\n", st->idx, st->status,
                    (int)(len < 300 ? len : 300), p);
            return 0; /* ends the transfer */
        }
    }
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(p + i, '\n', len - i);
        size_t chunk = nl ? (size_t)(nl - (p + i)) : len - i;
        size_t room = HB_PREFIX - st->len, take = chunk < room ? chunk : room;
        memcpy(st->line + st->len, p + i, take);
        st->len += take;
        st->line[st->len] = '\0';
        i += chunk;
        if (nl != NULL) {
            sse_line(st);
            st->len = 0;
            st->line[0] = '\0';
            i++;
        }
    }
    return len;
}

static void sse_close(sse_set_t *s) {
    for (size_t i = 0; s->v != NULL && i < s->n; i++) {
        if (s->v[i].e != NULL) {
            curl_multi_remove_handle(s->m, s->v[i].e);
            curl_easy_cleanup(s->v[i].e);
        }
        curl_slist_free_all(s->v[i].hdrs);
    }
    free(s->v);
    if (s->m != NULL)
        curl_multi_cleanup(s->m);
    memset(s, 0, sizeof *s);
}

/* Handle finished transfers: a stream that ends is counted as failed unless
 * the set is being stopped. */
static void sse_reap(sse_set_t *s) {
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(s->m, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        stream_t *st = NULL;
        for (size_t i = 0; st == NULL && i < s->n; i++)
            if (s->v[i].e == msg->easy_handle)
                st = &s->v[i];
        if (st == NULL) {
            if (s->other_done != NULL)
                s->other_done(s->ctx, msg);
            continue;
        }
        if (st->ended)
            continue;
        st->ended = true;
        s->ended++;
        if (!s->stopping) {
            s->failed++;
            fprintf(stderr, "hotline: stream %zu ended: %s\n", st->idx,
                    curl_easy_strerror(msg->data.result));
        }
    }
}

/* Run the set's transfers for up to timeout_ms. */
static void sse_step(sse_set_t *s, int timeout_ms) {
    int running;
    curl_multi_perform(s->m, &running);
    sse_reap(s);
    curl_multi_poll(s->m, NULL, 0, timeout_ms, NULL);
    curl_multi_perform(s->m, &running);
    sse_reap(s);
}

/* Open n streams, the i-th with tokens[i % nt], and wait until each has
 * said ": connected" (at most 30 s). */
static int sse_open(const opts_t *o, sse_set_t *s, size_t n, const char *const *tokens, size_t nt,
                    sse_event_fn fn, void *ctx) {
    char url[HB_URL_MAX + 32];
    int rc = DCF_ENOMEM;
    memset(s, 0, sizeof *s);
    s->on_event = fn;
    s->ctx = ctx;
    snprintf(s->line_pat, sizeof s->line_pat, "\"line\":\"%s\"", o->line);
    snprintf(url, sizeof url, "%s/v1/events", o->url);
    if ((s->m = curl_multi_init()) == NULL || (s->v = calloc(n, sizeof *s->v)) == NULL)
        goto out;
    s->n = n;
    curl_multi_setopt(s->m, CURLMOPT_MAXCONNECTS, (long)n + 4);
    for (size_t i = 0; i < n; i++) {
        stream_t *st = &s->v[i];
        st->set = s;
        st->idx = i;
        if ((st->hdrs = headers_for(tokens[i % nt], false)) == NULL ||
            (st->hdrs = curl_slist_append(st->hdrs, "Accept: text/event-stream")) == NULL ||
            (st->e = curl_easy_init()) == NULL)
            goto out;
        curl_easy_setopt(st->e, CURLOPT_URL, url);
        curl_easy_setopt(st->e, CURLOPT_HTTPHEADER, st->hdrs);
        curl_easy_setopt(st->e, CURLOPT_WRITEFUNCTION, sse_write_cb);
        curl_easy_setopt(st->e, CURLOPT_WRITEDATA, st);
        curl_easy_setopt(st->e, CURLOPT_PRIVATE, (char *)st);
        curl_easy_setopt(st->e, CURLOPT_FORBID_REUSE, 1L);
        curl_easy_setopt(st->e, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(st->e, CURLOPT_NOSIGNAL, 1L);
        if (curl_multi_add_handle(s->m, st->e) != CURLM_OK)
            goto out;
    }
    uint64_t deadline = dcf_bench_now_ns() + UINT64_C(30000000000);
    while (s->connected < n && s->ended == 0 && dcf_bench_now_ns() < deadline)
        sse_step(s, 20);
    if (s->connected < n) {
        fprintf(stderr, "hotline: %zu of %zu streams connected\n", s->connected, n);
        rc = DCF_EIO;
        goto out;
    }
    return DCF_OK;
out:
    sse_close(s);
    return rc;
}

/* ------------------------------------------------------------- part A -- */

/* Per message: when it was due, handed to curl and answered, its answer and
 * seq.  Per seq (index seq - base - 1): how many streams saw it, the first
 * and the last arrival. */
typedef struct {
    const opts_t *o;
    uint64_t total, warm; /* messages in all, of which the first `warm` warm up */
    int64_t base;         /* the line's last_seq before the first message */
    uint64_t t0;
    uint64_t *t_add, *t_done;
    uint32_t *lag_us;
    int64_t *seq;
    int32_t *status; /* HTTP status, or -(CURLcode) on a transport error */
    /* streams */
    uint32_t *cnt;
    uint64_t *first, *last;
    uint64_t dups, out_of_range, delivered_events, other_events;
    /* sender thread */
    atomic_bool done, abort;
    int rc;
    uint64_t max_inflight_seen;
} part_a_t;

typedef struct {
    CURL *e;
    uint64_t msg;
    char body[HB_BODY_MAX];
    resp_t resp;
} req_t;

static void a_on_event(void *ctx, stream_t *st, const char *event, bool ok, int64_t seq,
                       uint64_t now) {
    part_a_t *a = ctx;
    if (strcmp(event, "message.new") != 0) {
        if (strcmp(event, "message.delivered") == 0)
            a->delivered_events++;
        else
            a->other_events++;
        return;
    }
    if (!ok) {
        st->set->unparsed++;
        return;
    }
    if (seq <= st->last_new) {
        a->dups++;
        return;
    }
    st->last_new = seq;
    int64_t idx = seq - a->base - 1;
    if (idx < 0 || (uint64_t)idx >= a->total) {
        a->out_of_range++;
        return;
    }
    if (a->cnt[idx]++ == 0)
        a->first[idx] = now;
    a->last[idx] = now;
}

static uint64_t a_due(const part_a_t *a, uint64_t i) {
    return a->t0 + i * UINT64_C(1000000000) / a->o->rate;
}

static void *a_sender(void *arg) {
    part_a_t *a = arg;
    const opts_t *o = a->o;
    char url[HB_URL_MAX + 256];
    CURLM *m = curl_multi_init();
    struct curl_slist *h = headers_for(o->us_token, true);
    req_t *reqs = calloc(o->inflight, sizeof *reqs);
    req_t **free_list = calloc(o->inflight, sizeof *free_list);
    size_t n_free = 0, inflight = 0;
    uint64_t i = 0;
    int running;
    a->rc = DCF_ENOMEM;
    if (m == NULL || h == NULL || reqs == NULL || free_list == NULL)
        goto out;
    snprintf(url, sizeof url, "%s/v1/lines/%s/messages", o->url, o->line);
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)o->conns);
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)o->conns);
    for (size_t k = 0; k < o->inflight; k++) {
        req_t *r = &reqs[k];
        if ((r->e = curl_easy_init()) == NULL)
            goto out;
        curl_easy_setopt(r->e, CURLOPT_URL, url);
        curl_easy_setopt(r->e, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(r->e, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(r->e, CURLOPT_WRITEFUNCTION, resp_write_cb);
        curl_easy_setopt(r->e, CURLOPT_WRITEDATA, &r->resp);
        curl_easy_setopt(r->e, CURLOPT_PRIVATE, (char *)r);
        curl_easy_setopt(r->e, CURLOPT_TIMEOUT_MS, HB_REQ_TIMEOUT_MS);
        curl_easy_setopt(r->e, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(r->e, CURLOPT_NOSIGNAL, 1L);
        free_list[n_free++] = r;
    }
    a->t0 = dcf_bench_now_ns() + UINT64_C(10000000); /* 10 ms from now */
    while ((i < a->total || inflight > 0) && !atomic_load(&a->abort)) {
        uint64_t now = dcf_bench_now_ns();
        while (i < a->total && n_free > 0) {
            uint64_t due = a_due(a, i);
            if (due > now)
                break;
            req_t *r = free_list[--n_free];
            r->msg = i;
            r->resp.len = 0;
            r->resp.truncated = false;
            if (msg_body(o, i, r->body, sizeof r->body) != DCF_OK) {
                a->rc = DCF_ERANGE;
                goto out;
            }
            curl_easy_setopt(r->e, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
            a->t_add[i] = now;
            a->lag_us[i] = us32(now - due);
            if (curl_multi_add_handle(m, r->e) != CURLM_OK) {
                a->rc = DCF_EINTERNAL;
                goto out;
            }
            inflight++;
            if (inflight > a->max_inflight_seen)
                a->max_inflight_seen = inflight;
            i++;
        }
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            req_t *r = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
            uint64_t t = dcf_bench_now_ns();
            long status = 0;
            a->t_done[r->msg] = t;
            if (msg->data.result != CURLE_OK) {
                a->status[r->msg] = -(int32_t)msg->data.result;
            } else {
                curl_easy_getinfo(r->e, CURLINFO_RESPONSE_CODE, &status);
                a->status[r->msg] = (int32_t)status;
                if (status == 201)
                    a->seq[r->msg] = resp_int(&r->resp, "seq");
                else
                    fprintf(stderr, "hotline: message %" PRIu64 ": HTTP %ld: %.200s\n", r->msg,
                            status, r->resp.buf);
            }
            curl_multi_remove_handle(m, r->e);
            free_list[n_free++] = r;
            inflight--;
        }
        int timeout_ms = 50;
        if (i < a->total) {
            uint64_t due = a_due(a, i), t = dcf_bench_now_ns();
            uint64_t wait_ns = due > t ? due - t : 0;
            timeout_ms = (int)((wait_ns + 999999u) / 1000000u);
            if (n_free == 0 && timeout_ms < 1)
                timeout_ms = 1;
            if (timeout_ms > 50)
                timeout_ms = 50;
        }
        if (timeout_ms > 0)
            curl_multi_poll(m, NULL, 0, timeout_ms, NULL);
    }
    a->rc = DCF_OK;
out:
    for (size_t k = 0; reqs != NULL && k < o->inflight; k++) {
        if (reqs[k].e != NULL) {
            curl_multi_remove_handle(m, reqs[k].e);
            curl_easy_cleanup(reqs[k].e);
        }
    }
    free(reqs);
    free(free_list);
    curl_slist_free_all(h);
    if (m != NULL)
        curl_multi_cleanup(m);
    atomic_store(&a->done, true);
    return NULL;
}

/* Every message answered 201 has reached every stream. */
static bool a_complete(const part_a_t *a) {
    for (uint64_t i = 0; i < a->total; i++) {
        if (a->status[i] != 201 || a->seq[i] < 1)
            continue;
        int64_t idx = a->seq[i] - a->base - 1;
        if (idx >= 0 && (uint64_t)idx < a->total && a->cnt[idx] < a->o->desks)
            return false;
    }
    return true;
}

typedef struct {
    uint64_t measured, ok, http_errors, transport_errors, bad_seq, never, incomplete;
    uint64_t dups, out_of_range, unparsed, streams_failed, delivered_events, other_events;
    uint64_t max_inflight;
    dcf_bench_lat_t post, first, all, lag; /* microseconds, from the hand-off to curl */
    dcf_bench_lat_t first_due, all_due;    /* from the time the schedule said */
    double post_rate, delivery_rate, window_s, drain_s;
    double cpu_self, cpu_server; /* cores used while messages were sent */
    bool ran;
} a_result_t;

static int a_summarise(part_a_t *a, const sse_set_t *s, a_result_t *res) {
    uint64_t n = a->total - a->warm;
    size_t cap = n > 0 ? (size_t)n : 1;
    uint32_t *post = malloc(cap * sizeof *post), *first = malloc(cap * sizeof *first),
             *all = malloc(cap * sizeof *all), *lag = malloc(cap * sizeof *lag),
             *first_due = malloc(cap * sizeof *first_due), *all_due = malloc(cap * sizeof *all_due);
    size_t np = 0, nf = 0, na = 0, nl = 0;
    uint64_t start = a_due(a, a->warm), last_done = start, last_all = start;
    int rc = DCF_ENOMEM;
    if (post == NULL || first == NULL || all == NULL || lag == NULL || first_due == NULL ||
        all_due == NULL)
        goto out;
    for (uint64_t i = a->warm; i < a->total; i++) {
        res->measured++;
        if (a->t_add[i] == 0)
            continue; /* never sent (aborted) */
        lag[nl++] = a->lag_us[i];
        if (a->status[i] != 201) {
            if (a->status[i] <= 0)
                res->transport_errors++;
            else
                res->http_errors++;
            continue;
        }
        res->ok++;
        post[np++] = us32(a->t_done[i] - a->t_add[i]);
        if (a->t_done[i] > last_done)
            last_done = a->t_done[i];
        int64_t idx = a->seq[i] - a->base - 1;
        if (a->seq[i] < 1 || idx < 0 || (uint64_t)idx >= a->total) {
            res->bad_seq++;
            continue;
        }
        if (a->cnt[idx] == 0) {
            res->never++;
            continue;
        }
        first_due[nf] = us32(a->first[idx] - a_due(a, i));
        first[nf++] = us32(a->first[idx] - a->t_add[i]);
        if (a->cnt[idx] < a->o->desks) {
            res->incomplete++;
            continue;
        }
        all_due[na] = us32(a->last[idx] - a_due(a, i));
        all[na++] = us32(a->last[idx] - a->t_add[i]);
        if (a->last[idx] > last_all)
            last_all = a->last[idx];
    }
    if (!dcf_bench_lat_summary(post, np, &res->post) ||
        !dcf_bench_lat_summary(first, nf, &res->first) ||
        !dcf_bench_lat_summary(all, na, &res->all) || !dcf_bench_lat_summary(lag, nl, &res->lag) ||
        !dcf_bench_lat_summary(first_due, nf, &res->first_due) ||
        !dcf_bench_lat_summary(all_due, na, &res->all_due))
        goto out;
    res->window_s = (double)(a->total - a->warm) / (double)a->o->rate;
    res->post_rate = last_done > start ? (double)res->ok / ((double)(last_done - start) / 1e9) : 0;
    res->delivery_rate = last_all > start ? (double)na / ((double)(last_all - start) / 1e9) : 0;
    res->dups = a->dups;
    res->out_of_range = a->out_of_range;
    res->unparsed = s->unparsed;
    res->streams_failed = s->failed;
    res->delivered_events = a->delivered_events;
    res->other_events = a->other_events;
    res->max_inflight = a->max_inflight_seen;
    res->ran = true;
    rc = DCF_OK;
out:
    free(post);
    free(first);
    free(all);
    free(lag);
    free(first_due);
    free(all_due);
    return rc;
}

static int run_a(const opts_t *o, a_result_t *res) {
    part_a_t a = {.o = o};
    sse_set_t s = {0};
    pthread_t th;
    bool started = false;
    int rc = DCF_ENOMEM;
    a.total = (o->warmup + o->secs) * o->rate;
    a.warm = o->warmup * o->rate;
    atomic_init(&a.done, false);
    atomic_init(&a.abort, false);
    if (a.total > HB_MSGS_MAX) {
        fprintf(stderr, "hotline: %" PRIu64 " messages is over the limit of %u\n", a.total,
                HB_MSGS_MAX);
        return DCF_ELIMIT;
    }
    if ((a.t_add = calloc(a.total, sizeof *a.t_add)) == NULL ||
        (a.t_done = calloc(a.total, sizeof *a.t_done)) == NULL ||
        (a.lag_us = calloc(a.total, sizeof *a.lag_us)) == NULL ||
        (a.seq = calloc(a.total, sizeof *a.seq)) == NULL ||
        (a.status = calloc(a.total, sizeof *a.status)) == NULL ||
        (a.cnt = calloc(a.total, sizeof *a.cnt)) == NULL ||
        (a.first = calloc(a.total, sizeof *a.first)) == NULL ||
        (a.last = calloc(a.total, sizeof *a.last)) == NULL)
        goto out;
    if ((rc = line_last_seq(o, &a.base)) != DCF_OK)
        goto out;
    fprintf(stderr, "hotline: A: opening %" PRIu64 " desk streams\n", o->desks);
    if ((rc = sse_open(o, &s, o->desks, o->ru_tokens, o->n_ru, a_on_event, &a)) != DCF_OK)
        goto out;
    fprintf(stderr,
            "hotline: A: %" PRIu64 " messages/s for %" PRIu64 " s (+%" PRIu64
            " s warm-up), %" PRIu64 " desks\n",
            o->rate, o->secs, o->warmup, o->desks);
    cpu_t c0 = cpu_now(o), c1 = c0;
    if (pthread_create(&th, NULL, a_sender, &a) != 0) {
        rc = DCF_EINTERNAL;
        goto out;
    }
    started = true;
    uint64_t drain_end = 0, next_check = 0, sender_end = 0;
    for (;;) {
        sse_step(&s, 20);
        uint64_t now = dcf_bench_now_ns();
        if (s.ended == s.n) {
            fprintf(stderr, "hotline: A: every stream ended\n");
            atomic_store(&a.abort, true);
            break;
        }
        if (!atomic_load(&a.done))
            continue;
        if (drain_end == 0) {
            c1 = cpu_now(o);
            sender_end = now;
            drain_end = now + o->drain * UINT64_C(1000000000);
        }
        if (now >= next_check) {
            next_check = now + UINT64_C(50000000);
            if (a_complete(&a))
                break;
        }
        if (now >= drain_end) {
            fprintf(stderr, "hotline: A: drain time over with messages missing\n");
            break;
        }
    }
    pthread_join(th, NULL);
    started = false;
    if (a.rc != DCF_OK) {
        rc = a.rc;
        goto out;
    }
    s.stopping = true;
    rc = a_summarise(&a, &s, res);
    res->drain_s = sender_end ? (double)(dcf_bench_now_ns() - sender_end) / 1e9 : 0;
    cpu_use(c0, c1, &res->cpu_self, &res->cpu_server);
out:
    if (started) {
        atomic_store(&a.abort, true);
        pthread_join(th, NULL);
    }
    s.stopping = true;
    sse_close(&s);
    free(a.t_add);
    free(a.t_done);
    free(a.lag_us);
    free(a.seq);
    free(a.status);
    free(a.cnt);
    free(a.first);
    free(a.last);
    return rc;
}

/* ------------------------------------------------------------- part B -- */

enum { B_IDLE, B_POSTING, B_WAIT_NEW, B_ACKING, B_WAIT_ACKED, B_STOPPED };

typedef struct {
    CURL *e;
    size_t k;
    int state;
    uint64_t n; /* messages this sender has sent */
    uint64_t t_start, t_posted, t_acked, deadline;
    int64_t seq;
    char body[HB_BODY_MAX];
    char url[HB_URL_MAX + 256];
    resp_t resp;
} bsender_t;

typedef struct {
    const opts_t *o;
    int64_t base;
    uint64_t *new_at, *acked_at; /* per seq - base - 1 */
    uint32_t *owner;             /* sender + 1, 0 for none */
    bsender_t *v;
    size_t n;
    uint32_t *rt, *to_ru, *post, *ack; /* microseconds, per measured trip */
    size_t nrt, cap_rt;
    uint64_t t_begin, t_warm, t_end, last_done;
    uint64_t errors, lost, out_of_range, dups, started, measured_started;
    struct curl_slist *us_h, *ru_h;
    CURLM *m; /* the streams' multi handle (borrowed) */
} part_b_t;

typedef struct {
    uint64_t trips, errors, lost, out_of_range, dups, unparsed, streams_failed;
    dcf_bench_lat_t rt, to_ru, post, ack;
    double rate, window_s;
    double cpu_self, cpu_server; /* cores used during the run */
    bool ran;
} b_result_t;

static void b_on_event(void *ctx, stream_t *st, const char *event, bool ok, int64_t seq,
                       uint64_t now) {
    part_b_t *b = ctx;
    bool is_new = st->idx == 0 && strcmp(event, "message.new") == 0;
    bool is_ack = st->idx == 1 && strcmp(event, "message.acknowledged") == 0;
    if (!is_new && !is_ack)
        return;
    if (!ok) {
        st->set->unparsed++;
        return;
    }
    if (is_new) {
        if (seq <= st->last_new) {
            b->dups++;
            return;
        }
        st->last_new = seq;
    }
    int64_t idx = seq - b->base - 1;
    if (idx < 0 || idx >= (int64_t)HB_B_CAP) {
        b->out_of_range++;
        return;
    }
    uint64_t *slot = is_new ? &b->new_at[idx] : &b->acked_at[idx];
    if (*slot != 0) {
        b->dups++;
        return;
    }
    *slot = now;
}

static int b_start(part_b_t *b, bsender_t *x, bool ack, uint64_t now) {
    const opts_t *o = b->o;
    x->resp.len = 0;
    x->resp.truncated = false;
    if (ack) {
        snprintf(x->url, sizeof x->url, "%s/v1/lines/%s/messages/%" PRId64 "/acknowledge", o->url,
                 o->line, x->seq);
        snprintf(x->body, sizeof x->body, "{\"by\":\"bench desk %zu\"}", x->k);
    } else {
        /* Bodies differ from part A's: message numbers 10^9 + k * 10^6 + n. */
        if (msg_body(o, UINT64_C(1000000000) + x->k * UINT64_C(1000000) + x->n, x->body,
                     sizeof x->body) != DCF_OK)
            return DCF_ERANGE;
        snprintf(x->url, sizeof x->url, "%s/v1/lines/%s/messages", o->url, o->line);
        x->t_start = now;
        x->seq = 0;
        x->n++;
        b->started++;
        if (now >= b->t_warm)
            b->measured_started++;
    }
    curl_easy_setopt(x->e, CURLOPT_URL, x->url);
    curl_easy_setopt(x->e, CURLOPT_HTTPHEADER, ack ? b->ru_h : b->us_h);
    curl_easy_setopt(x->e, CURLOPT_POSTFIELDS, x->body);
    curl_easy_setopt(x->e, CURLOPT_POSTFIELDSIZE, (long)strlen(x->body));
    x->state = ack ? B_ACKING : B_POSTING;
    x->deadline = now + b->o->drain * UINT64_C(1000000000);
    return curl_multi_add_handle(b->m, x->e) == CURLM_OK ? DCF_OK : DCF_EINTERNAL;
}

static void b_finish_trip(part_b_t *b, bsender_t *x, int64_t idx) {
    uint64_t done = b->acked_at[idx];
    if (x->t_start >= b->t_warm && x->t_start < b->t_end && b->nrt < b->cap_rt) {
        b->rt[b->nrt] = us32(done - x->t_start);
        b->to_ru[b->nrt] = us32(b->new_at[idx] - x->t_start);
        b->post[b->nrt] = us32(x->t_posted - x->t_start);
        b->ack[b->nrt] = us32(x->t_acked - b->new_at[idx]);
        b->nrt++;
        if (done > b->last_done)
            b->last_done = done;
    }
    x->state = B_IDLE;
}

/* Move each sender on; returns how many requests were started, or a
 * negative error. */
static int b_scan(part_b_t *b, uint64_t now) {
    int started = 0, rc;
    for (size_t k = 0; k < b->n; k++) {
        bsender_t *x = &b->v[k];
        int64_t idx = x->seq - b->base - 1;
        bool have = x->seq > 0 && idx >= 0 && idx < (int64_t)HB_B_CAP;
        if ((x->state == B_WAIT_NEW || x->state == B_WAIT_ACKED) && now > x->deadline) {
            b->lost++;
            fprintf(stderr, "hotline: B: message %" PRId64 " lost (no %s event)\n", x->seq,
                    x->state == B_WAIT_NEW ? "message.new" : "message.acknowledged");
            x->state = B_IDLE;
        }
        if (x->state == B_WAIT_NEW && have && b->new_at[idx] != 0) {
            if ((rc = b_start(b, x, true, now)) != DCF_OK)
                return rc;
            started++;
        } else if (x->state == B_WAIT_ACKED && have && b->acked_at[idx] != 0) {
            b_finish_trip(b, x, idx);
        }
        if (x->state == B_IDLE) {
            if (now >= b->t_end || b->errors >= HB_ERRORS_MAX) {
                x->state = B_STOPPED;
                continue;
            }
            if ((rc = b_start(b, x, false, now)) != DCF_OK)
                return rc;
            started++;
        }
    }
    return started;
}

/* A sender's request finished (sse_reap calls this for the transfers of
 * its multi handle that are not streams). */
static void b_done(void *ctx, CURLMsg *msg) {
    part_b_t *b = ctx;
    bsender_t *x = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    if (x == NULL)
        return;
    CURLcode result = msg->data.result; /* msg dies with the removal below */
    long status = 0;
    uint64_t t = dcf_bench_now_ns();
    if (result == CURLE_OK)
        curl_easy_getinfo(x->e, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(b->m, x->e);
    bool posting = x->state == B_POSTING;
    int64_t seq = posting && status == 201 ? resp_int(&x->resp, "seq") : 0;
    int64_t idx = seq - b->base - 1;
    if (posting && status == 201 && seq > 0 && idx >= 0 && idx < (int64_t)HB_B_CAP) {
        x->seq = seq;
        x->t_posted = t;
        b->owner[idx] = (uint32_t)x->k + 1;
        x->state = B_WAIT_NEW;
    } else if (!posting && status == 200) {
        x->t_acked = t;
        x->state = B_WAIT_ACKED;
    } else {
        b->errors++;
        fprintf(stderr, "hotline: B: %s: %s%ld %.200s\n", posting ? "POST" : "acknowledge",
                result != CURLE_OK ? curl_easy_strerror(result) : "HTTP ", status, x->resp.buf);
        x->state = B_IDLE;
    }
}

static int run_b(const opts_t *o, b_result_t *res) {
    part_b_t b = {.o = o};
    sse_set_t s = {0};
    int rc = DCF_ENOMEM, running;
    const char *toks[2] = {o->ru_tokens[0], o->us_stream_token};
    b.n = o->senders;
    b.cap_rt = HB_B_CAP;
    if ((b.new_at = calloc(HB_B_CAP, sizeof *b.new_at)) == NULL ||
        (b.acked_at = calloc(HB_B_CAP, sizeof *b.acked_at)) == NULL ||
        (b.owner = calloc(HB_B_CAP, sizeof *b.owner)) == NULL ||
        (b.rt = calloc(b.cap_rt, sizeof *b.rt)) == NULL ||
        (b.to_ru = calloc(b.cap_rt, sizeof *b.to_ru)) == NULL ||
        (b.post = calloc(b.cap_rt, sizeof *b.post)) == NULL ||
        (b.ack = calloc(b.cap_rt, sizeof *b.ack)) == NULL ||
        (b.v = calloc(b.n, sizeof *b.v)) == NULL ||
        (b.us_h = headers_for(o->us_token, true)) == NULL ||
        (b.ru_h = headers_for(o->ru_tokens[0], true)) == NULL)
        goto out;
    for (size_t k = 0; k < b.n; k++) {
        bsender_t *x = &b.v[k];
        x->k = k;
        if ((x->e = curl_easy_init()) == NULL)
            goto out;
        curl_easy_setopt(x->e, CURLOPT_WRITEFUNCTION, resp_write_cb);
        curl_easy_setopt(x->e, CURLOPT_WRITEDATA, &x->resp);
        curl_easy_setopt(x->e, CURLOPT_PRIVATE, (char *)x);
        curl_easy_setopt(x->e, CURLOPT_TIMEOUT_MS, HB_REQ_TIMEOUT_MS);
        curl_easy_setopt(x->e, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(x->e, CURLOPT_NOSIGNAL, 1L);
    }
    if ((rc = line_last_seq(o, &b.base)) != DCF_OK)
        goto out;
    /* Stream 0 is ru's (message.new), stream 1 us's (message.acknowledged);
     * the senders' requests share the streams' multi handle, so that one
     * poll waits for both. */
    if ((rc = sse_open(o, &s, 2, toks, 2, b_on_event, &b)) != DCF_OK)
        goto out;
    s.other_done = b_done;
    b.m = s.m;
    fprintf(stderr, "hotline: B: %zu senders for %" PRIu64 " s (+%" PRIu64 " s warm-up)\n", b.n,
            o->b_secs, o->warmup);
    cpu_t c0 = cpu_now(o);
    b.t_begin = dcf_bench_now_ns();
    b.t_warm = b.t_begin + o->warmup * UINT64_C(1000000000);
    b.t_end = b.t_warm + o->b_secs * UINT64_C(1000000000);
    for (;;) {
        curl_multi_perform(s.m, &running);
        sse_reap(&s);
        int started = b_scan(&b, dcf_bench_now_ns());
        if (started < 0) {
            rc = started;
            goto out;
        }
        if (started > 0)
            continue;
        size_t stopped = 0;
        for (size_t k = 0; k < b.n; k++)
            stopped += b.v[k].state == B_STOPPED;
        if (stopped == b.n || s.ended > 0)
            break;
        curl_multi_poll(s.m, NULL, 0, 10, NULL);
    }
    cpu_use(c0, cpu_now(o), &res->cpu_self, &res->cpu_server);
    if (s.ended > 0)
        fprintf(stderr, "hotline: B: a stream ended early\n");
    rc = DCF_ENOMEM;
    if (!dcf_bench_lat_summary(b.rt, b.nrt, &res->rt) ||
        !dcf_bench_lat_summary(b.to_ru, b.nrt, &res->to_ru) ||
        !dcf_bench_lat_summary(b.post, b.nrt, &res->post) ||
        !dcf_bench_lat_summary(b.ack, b.nrt, &res->ack))
        goto out;
    res->trips = b.nrt;
    res->errors = b.errors;
    res->lost = b.lost;
    res->out_of_range = b.out_of_range;
    res->dups = b.dups;
    res->unparsed = s.unparsed;
    res->streams_failed = s.failed;
    res->window_s = (double)o->b_secs;
    res->rate =
        b.last_done > b.t_warm ? (double)b.nrt / ((double)(b.last_done - b.t_warm) / 1e9) : 0.0;
    res->ran = true;
    rc = DCF_OK;
out:
    for (size_t k = 0; b.v != NULL && k < b.n; k++) {
        if (b.v[k].e != NULL) {
            if (b.m != NULL)
                curl_multi_remove_handle(b.m, b.v[k].e);
            curl_easy_cleanup(b.v[k].e);
        }
    }
    s.stopping = true;
    sse_close(&s); /* also b.m */
    curl_slist_free_all(b.us_h);
    curl_slist_free_all(b.ru_h);
    free(b.v);
    free(b.new_at);
    free(b.acked_at);
    free(b.owner);
    free(b.rt);
    free(b.to_ru);
    free(b.post);
    free(b.ack);
    return rc;
}

/* ------------------------------------------------------------- output -- */

static void print_lat(const char *what, const dcf_bench_lat_t *l) {
    printf("  %-28s %9zu %9.2f %9.2f %9.2f %9.2f\n", what, l->n, l->p50_ns / 1e3, l->p90_ns / 1e3,
           l->p99_ns / 1e3, l->max_ns / 1e3);
}

/* The target: p99 under 20 ms at an offered 2,000 messages/s or more. */
static bool target_pass(const dcf_bench_lat_t *l, uint64_t rate) {
    return l->n > 0 && l->p99_ns / 1e3 < HB_TARGET_MS && rate >= HB_TARGET_RATE;
}

/* PASS / MISS, or "n/a" when the offered rate is below the target's. */
static const char *target_word(const dcf_bench_lat_t *l, uint64_t rate) {
    if (rate < HB_TARGET_RATE)
        return "n/a ";
    return target_pass(l, rate) ? "PASS" : "MISS";
}

static void print_tables(const opts_t *o, const a_result_t *a, const b_result_t *b) {
    if (a->ran) {
        printf("\nA. %" PRIu64 " desks, offered %" PRIu64 " messages/s for %" PRIu64
               " s (after %" PRIu64 " s warm-up), %s at level duty\n",
               o->desks, o->rate, o->secs, o->warmup, o->type);
        printf("  %-28s %9s %9s %9s %9s %9s   (ms)\n", "", "n", "p50", "p90", "p99", "max");
        print_lat("POST -> 201", &a->post);
        print_lat("POST -> first desk", &a->first);
        print_lat("POST -> all desks", &a->all);
        print_lat("send lag (due -> POST)", &a->lag);
        print_lat("due -> first desk", &a->first_due);
        print_lat("due -> all desks", &a->all_due);
        printf("  achieved: %.1f POSTs/s answered 201, %.1f messages/s reached every desk; "
               "most requests in flight %" PRIu64 "\n",
               a->post_rate, a->delivery_rate, a->max_inflight);
        printf("  cores used while sending: benchmark %.2f, server %s%.2f\n", a->cpu_self,
               o->server_pid ? "" : "(no --server-pid) ", a->cpu_server);
        printf("  errors: %" PRIu64 " HTTP, %" PRIu64 " transport, %" PRIu64 " no seq, %" PRIu64
               " reached no desk, %" PRIu64 " not every desk, %" PRIu64 " duplicates, %" PRIu64
               " unparsed events, %" PRIu64 " streams ended\n",
               a->http_errors, a->transport_errors, a->bad_seq, a->never, a->incomplete, a->dups,
               a->unparsed, a->streams_failed);
    }
    if (b->ran) {
        printf("\nB. %" PRIu64 " senders, acknowledgement round trips for %" PRIu64
               " s (after %" PRIu64 " s warm-up)\n",
               o->senders, o->b_secs, o->warmup);
        printf("  %-28s %9s %9s %9s %9s %9s   (ms)\n", "", "n", "p50", "p90", "p99", "max");
        print_lat("round trip", &b->rt);
        print_lat("POST -> 201", &b->post);
        print_lat("POST -> ru stream", &b->to_ru);
        print_lat("ru event -> ack answered", &b->ack);
        printf("  %.1f round trips/s (= messages/s acknowledged)\n", b->rate);
        printf("  cores used: benchmark %.2f, server %s%.2f\n", b->cpu_self,
               o->server_pid ? "" : "(no --server-pid) ", b->cpu_server);
        printf("  errors: %" PRIu64 " failed requests, %" PRIu64 " lost, %" PRIu64
               " duplicates, %" PRIu64 " unparsed events, %" PRIu64 " streams ended\n",
               b->errors, b->lost, b->dups, b->unparsed, b->streams_failed);
    }
    if (a->ran) {
        printf("\ntarget: p99 under %.0f ms at %u messages/s (offered %" PRIu64
               "), open loop: from the time each message was due\n",
               HB_TARGET_MS, HB_TARGET_RATE, o->rate);
        printf("%s  p99 due -> first desk  %10.2f ms\n", target_word(&a->first_due, o->rate),
               a->first_due.p99_ns / 1e3);
        printf("%s  p99 due -> all desks   %10.2f ms\n", target_word(&a->all_due, o->rate),
               a->all_due.p99_ns / 1e3);
    }
}

/* A latency summary (microseconds) as milliseconds. */
static json_t *lat_json(const dcf_bench_lat_t *l) {
    return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f}", "n", (json_int_t)l->n, "mean",
                     l->mean_ns / 1e3, "p50", l->p50_ns / 1e3, "p90", l->p90_ns / 1e3, "p99",
                     l->p99_ns / 1e3, "max", l->max_ns / 1e3);
}

static json_t *opts_json(const opts_t *o) {
    return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:I, s:I, "
                     "s:I, s:I, s:b, s:b}",
                     "url", o->url, "line", o->line, "desks", (json_int_t)o->desks, "rate",
                     (json_int_t)o->rate, "secs", (json_int_t)o->secs, "warmup_s",
                     (json_int_t)o->warmup, "drain_s", (json_int_t)o->drain, "inflight",
                     (json_int_t)o->inflight, "conns", (json_int_t)o->conns, "senders",
                     (json_int_t)o->senders, "b_secs", (json_int_t)o->b_secs, "type", o->type,
                     "text_min", (json_int_t)o->text_min, "text_max", (json_int_t)o->text_max,
                     "seed", (json_int_t)o->seed, "ru_tokens", (json_int_t)o->n_ru, "run_a",
                     o->run_a, "run_b", o->run_b);
}

static json_t *target_json(const char *what, const dcf_bench_lat_t *l, const opts_t *o) {
    return json_pack("{s:s, s:f, s:s, s:f, s:I, s:I, s:b}", "what", what, "value", l->p99_ns / 1e3,
                     "unit", "ms", "limit", HB_TARGET_MS, "target_rate", (json_int_t)HB_TARGET_RATE,
                     "offered_rate", (json_int_t)o->rate, "pass", target_pass(l, o->rate));
}

static int write_json(const opts_t *o, const a_result_t *a, const b_result_t *b, json_t *machine) {
    json_t *root = json_object(), *targets = json_array();
    char load[128];
    int rc = DCF_ENOMEM;
    if (root == NULL || targets == NULL)
        goto out;
    json_object_set_new(root, "benchmark", json_string("hotline"));
    json_object_set_new(root, "machine", machine);
    machine = NULL;
    json_t *jo = opts_json(o);
    json_object_set_new(jo, "server_pid", json_integer((json_int_t)o->server_pid));
    json_object_set_new(root, "options", jo);
    if (a->ran) {
        json_t *ja = json_pack(
            "{s:I, s:f, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:f, s:f, s:I, s:f, s:{s:I, s:I, "
            "s:I, "
            "s:I, s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I}}",
            "desks", (json_int_t)o->desks, "offered_rate", (double)o->rate, "messages_measured",
            (json_int_t)a->measured, "posted_201", (json_int_t)a->ok, "post_ms", lat_json(&a->post),
            "first_desk_ms", lat_json(&a->first), "all_desks_ms", lat_json(&a->all), "send_lag_ms",
            lat_json(&a->lag), "due_first_desk_ms", lat_json(&a->first_due), "due_all_desks_ms",
            lat_json(&a->all_due), "achieved_post_rate", a->post_rate, "achieved_delivery_rate",
            a->delivery_rate, "max_inflight", (json_int_t)a->max_inflight, "drain_s", a->drain_s,
            "errors", "http", (json_int_t)a->http_errors, "transport",
            (json_int_t)a->transport_errors, "no_seq", (json_int_t)a->bad_seq, "reached_no_desk",
            (json_int_t)a->never, "not_every_desk", (json_int_t)a->incomplete, "duplicates",
            (json_int_t)a->dups, "unknown_seq", (json_int_t)a->out_of_range, "unparsed_events",
            (json_int_t)a->unparsed, "streams_ended", (json_int_t)a->streams_failed, "events",
            "message.delivered", (json_int_t)a->delivered_events, "other",
            (json_int_t)a->other_events);
        json_object_set_new(
            ja, "cores_used",
            json_pack("{s:f, s:f}", "benchmark", a->cpu_self, "server", a->cpu_server));
        json_object_set_new(root, "a", ja);
        json_array_append_new(targets, target_json("p99 due -> first desk", &a->first_due, o));
        json_array_append_new(targets, target_json("p99 due -> all desks", &a->all_due, o));
    }
    if (b->ran) {
        json_t *jb =
            json_pack("{s:I, s:I, s:f, s:o, s:o, s:o, s:o, s:{s:I, s:I, s:I, s:I, "
                      "s:I, s:I}}",
                      "senders", (json_int_t)o->senders, "round_trips", (json_int_t)b->trips,
                      "round_trips_per_s", b->rate, "round_trip_ms", lat_json(&b->rt), "post_ms",
                      lat_json(&b->post), "to_ru_stream_ms", lat_json(&b->to_ru), "ack_ms",
                      lat_json(&b->ack), "errors", "failed_requests", (json_int_t)b->errors, "lost",
                      (json_int_t)b->lost, "duplicates", (json_int_t)b->dups, "unknown_seq",
                      (json_int_t)b->out_of_range, "unparsed_events", (json_int_t)b->unparsed,
                      "streams_ended", (json_int_t)b->streams_failed);
        json_object_set_new(
            jb, "cores_used",
            json_pack("{s:f, s:f}", "benchmark", b->cpu_self, "server", b->cpu_server));
        json_object_set_new(root, "b", jb);
    }
    json_object_set_new(root, "target", targets);
    targets = NULL;
    dcf_bench_cmd_line("cat /proc/loadavg 2>/dev/null", load, sizeof load);
    json_object_set_new(root, "loadavg_at_end", json_string(load));
    json_object_set_new(root, "peak_rss_bytes", json_integer((json_int_t)dcf_bench_peak_rss()));
    /* bench/out is git-ignored and may not exist yet. */
    if (strcmp(o->out, HB_DEFAULT_OUT) == 0)
        mkdir("bench/out", 0777);
    rc = DCF_EIO;
    if (json_dump_file(root, o->out, JSON_INDENT(1) | JSON_SORT_KEYS) != 0) {
        fprintf(stderr, "hotline: cannot write %s\n", o->out);
        goto out;
    }
    printf("\nwrote %s\n", o->out);
    rc = DCF_OK;
out:
    json_decref(machine);
    json_decref(targets);
    json_decref(root);
    return rc;
}

/* -------------------------------------------------------------- main -- */

static void usage(void) {
    fputs("usage: hotline --url URL --line ID --us-token T --ru-token T [--ru-token T ...]\n"
          "               [--desks N] [--rate R] [--secs S] [--warmup S] [--drain S]\n"
          "               [--inflight N] [--conns N] [--senders K] [--b-secs S] [--type TYPE]\n"
          "               [--text-min N] [--text-max N] [--seed S] [--us-stream-token T]\n"
          "               [--server-pid PID] [--only a|b] [--out FILE]\n"
          "Against a running `deconflict serve` (scripts/bench-hotline sets one up):\n"
          "  --url       the server, e.g. http://127.0.0.1:8080\n"
          "  --line      an open line between the us and ru parties\n"
          "  --us-token  a us duty token: sends every message\n"
          "  --ru-token  a ru duty token (repeat, at most 128): the desks' streams use them in\n"
          "              turn; the first acknowledges in part B\n"
          "  --us-stream-token  the us stream of part B (default: --us-token)\n"
          "A (open loop): --desks SSE streams (100, at most 1000; the server needs\n"
          "  --max-streams above it), --rate messages/s (2000) for --secs (20) after\n"
          "  --warmup seconds (2, not counted), --drain seconds for the streams after the last\n"
          "  POST (10), at most --inflight requests outstanding (1024) over --conns\n"
          "  connections (64)\n"
          "B (closed loop): --senders K (16) for --b-secs (20) after the warm-up\n"
          "  --type      info | request | warning | urgent (warning)\n"
          "  --text-min, --text-max  text length in bytes (64, 256; at most 4000)\n"
          "  --seed      seed of the texts (42)\n"
          "  --server-pid  the server's process: its CPU use is reported\n"
          "  --only      run one part\n"
          "  --out       JSON results (bench/out/hotline.json)\n",
          stderr);
}

static int parse_opts(int argc, char **argv, opts_t *o) {
    *o = (opts_t){.desks = 100,
                  .rate = 2000,
                  .secs = 20,
                  .warmup = 2,
                  .drain = 10,
                  .inflight = 1024,
                  .conns = 64,
                  .senders = 16,
                  .b_secs = 20,
                  .text_min = 64,
                  .text_max = 256,
                  .seed = 42,
                  .type = "warning",
                  .out = HB_DEFAULT_OUT,
                  .run_a = true,
                  .run_b = true};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = DCF_OK;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return DCF_EINVAL;
        if (v == NULL) {
            fprintf(stderr, "hotline: %s needs a value\n", a);
            return DCF_EINVAL;
        }
        i++;
        if (strcmp(a, "--url") == 0)
            rc = strlen(v) < HB_URL_MAX ? DCF_OK : DCF_ELIMIT, o->url = v;
        else if (strcmp(a, "--line") == 0)
            rc = strlen(v) < 64 ? DCF_OK : DCF_ELIMIT, o->line = v;
        else if (strcmp(a, "--us-token") == 0)
            rc = strlen(v) < 128 ? DCF_OK : DCF_ELIMIT, o->us_token = v;
        else if (strcmp(a, "--us-stream-token") == 0)
            rc = strlen(v) < 128 ? DCF_OK : DCF_ELIMIT, o->us_stream_token = v;
        else if (strcmp(a, "--ru-token") == 0) {
            if (o->n_ru >= HB_TOKENS_MAX || strlen(v) >= 128)
                rc = DCF_ELIMIT;
            else
                o->ru_tokens[o->n_ru++] = v;
        } else if (strcmp(a, "--desks") == 0)
            rc = bench_parse_u64(v, HB_DESKS_MAX, &o->desks);
        else if (strcmp(a, "--rate") == 0)
            rc = bench_parse_u64(v, HB_RATE_MAX, &o->rate);
        else if (strcmp(a, "--secs") == 0)
            rc = bench_parse_u64(v, HB_SECS_MAX, &o->secs);
        else if (strcmp(a, "--warmup") == 0)
            rc = bench_parse_u64(v, HB_SECS_MAX, &o->warmup);
        else if (strcmp(a, "--drain") == 0)
            rc = bench_parse_u64(v, HB_SECS_MAX, &o->drain);
        else if (strcmp(a, "--inflight") == 0)
            rc = bench_parse_u64(v, HB_INFLIGHT_MAX, &o->inflight);
        else if (strcmp(a, "--conns") == 0)
            rc = bench_parse_u64(v, HB_CONNS_MAX, &o->conns);
        else if (strcmp(a, "--senders") == 0)
            rc = bench_parse_u64(v, HB_SENDERS_MAX, &o->senders);
        else if (strcmp(a, "--b-secs") == 0)
            rc = bench_parse_u64(v, HB_SECS_MAX, &o->b_secs);
        else if (strcmp(a, "--text-min") == 0)
            rc = bench_parse_u64(v, HB_TEXT_MAX, &o->text_min);
        else if (strcmp(a, "--text-max") == 0)
            rc = bench_parse_u64(v, HB_TEXT_MAX, &o->text_max);
        else if (strcmp(a, "--seed") == 0)
            rc = bench_parse_u64(v, UINT64_MAX, &o->seed);
        else if (strcmp(a, "--server-pid") == 0)
            rc = bench_parse_u64(v, UINT32_MAX, &o->server_pid);
        else if (strcmp(a, "--type") == 0) {
            o->type = v;
            rc = strcmp(v, "info") == 0 || strcmp(v, "request") == 0 || strcmp(v, "warning") == 0 ||
                         strcmp(v, "urgent") == 0
                     ? DCF_OK
                     : DCF_EINVAL;
        } else if (strcmp(a, "--only") == 0) {
            o->run_a = strcmp(v, "a") == 0;
            o->run_b = strcmp(v, "b") == 0;
            rc = o->run_a || o->run_b ? DCF_OK : DCF_EINVAL;
        } else if (strcmp(a, "--out") == 0)
            o->out = v;
        else
            rc = DCF_EINVAL;
        if (rc != DCF_OK) {
            fprintf(stderr, "hotline: bad option %s %s\n", a, v);
            return rc;
        }
    }
    if (o->us_stream_token == NULL)
        o->us_stream_token = o->us_token;
    if (o->url == NULL || o->line == NULL || o->us_token == NULL || o->n_ru == 0) {
        fprintf(stderr, "hotline: --url, --line, --us-token and --ru-token are required\n");
        return DCF_EINVAL;
    }
    if (o->desks < 1 || o->rate < 1 || o->secs < 1 || o->inflight < 1 || o->conns < 1 ||
        o->senders < 1 || o->b_secs < 1 || o->drain < 1 || o->text_min > o->text_max ||
        o->text_max < 32) {
        fprintf(stderr, "hotline: a count is 0, --text-min > --text-max or --text-max < 32\n");
        return DCF_EINVAL;
    }
    return DCF_OK;
}

int main(int argc, char **argv) {
    opts_t o;
    a_result_t a = {0};
    b_result_t b = {0};
    json_t *machine = NULL;
    int status = 2, rc;
    bool curl_up = false;

    if (parse_opts(argc, argv, &o) != DCF_OK) {
        usage();
        goto out;
    }
    status = 1;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        goto out;
    curl_up = true;
    /* The machine description first, so that its load average is the one
     * before this run added its own. */
    if ((machine = dcf_bench_machine_json()) == NULL)
        goto out;
    if (o.run_a && (rc = run_a(&o, &a)) != DCF_OK) {
        fprintf(stderr, "hotline: part A failed: %s\n", dcf_strerror(rc));
        goto out;
    }
    if (o.run_b && (rc = run_b(&o, &b)) != DCF_OK) {
        fprintf(stderr, "hotline: part B failed: %s\n", dcf_strerror(rc));
        goto out;
    }
    print_tables(&o, &a, &b);
    rc = write_json(&o, &a, &b, machine);
    machine = NULL; /* write_json took it */
    if (rc != DCF_OK)
        goto out;
    if ((o.run_a && a.ok == 0) || (o.run_b && b.trips == 0)) {
        fprintf(stderr, "hotline: no message went through\n");
        goto out;
    }
    status = 0;
out:
    json_decref(machine);
    if (curl_up)
        curl_global_cleanup();
    return status;
}
