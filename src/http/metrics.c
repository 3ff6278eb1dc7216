/*
 * metrics.c -- per-route counters and latency histograms, written in the
 * Prometheus text exposition format 0.0.4.
 *
 * SERIES.  One series per route of the table (its pattern and method), then
 * DCF__HTTP_METHOD_CLASSES series labelled route="unmatched" for the
 * router's own answers (404, 405, 414), one per method class (GET, POST,
 * PUT, DELETE, PATCH, HEAD, OPTIONS, OTHER) so that a client inventing
 * methods cannot grow the label space.  A series counts statuses in
 * DCF_HTTP_STATUS_SLOTS slots claimed in order of first use; further
 * distinct statuses go to status="other".
 *
 * WHEN.  A request is counted when its response is handed to libmicrohttpd,
 * before any byte leaves, so a client that has seen a response also sees it
 * counted.  The histogram measures the time from the request's headers to
 * that moment (for a stream: until the stream starts).
 *
 * All state is under h->metrics_mu; the writer copies it out and formats
 * without the lock.  Callers: server.c (record), the app (write), any
 * thread.
 */
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"

static const int64_t bucket_us[DCF__HTTP_BUCKETS - 1] = {
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000};
static const char *const bucket_le[DCF__HTTP_BUCKETS] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1",    "0.25",  "0.5",    "1",     "2.5",  "+Inf"};
static const char *const method_class[DCF__HTTP_METHOD_CLASSES] = {
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "OTHER"};

int dcf__http_metrics_init(dcf_http_t *h) {
    h->n_series = h->n_routes + DCF__HTTP_METHOD_CLASSES;
    h->series = calloc(h->n_series, sizeof(*h->series));
    if (h->series == NULL)
        return DCF_ENOMEM;
    for (size_t i = 0; i < h->n_routes; i++) {
        h->series[i].route = h->routes[i].route->pattern;
        h->series[i].method = h->routes[i].route->method;
    }
    for (size_t i = 0; i < DCF__HTTP_METHOD_CLASSES; i++) {
        h->series[h->n_routes + i].route = "unmatched";
        h->series[h->n_routes + i].method = method_class[i];
    }
    return DCF_OK;
}

void dcf__http_metrics_free(dcf_http_t *h) {
    free(h->series);
    h->series = NULL;
}

void dcf__http_metrics_record(dcf_http_t *h, int route, const char *method, unsigned status,
                              int64_t duration_us) {
    dcf__http_series_t *s;
    size_t b = 0;

    if (route >= 0) {
        s = &h->series[route];
    } else {
        size_t c = 0;
        while (c + 1 < DCF__HTTP_METHOD_CLASSES && strcmp(method_class[c], method) != 0)
            c++;
        s = &h->series[h->n_routes + c];
    }
    if (duration_us < 0)
        duration_us = 0;
    while (b < DCF__HTTP_BUCKETS - 1 && duration_us > bucket_us[b])
        b++;

    pthread_mutex_lock(&h->metrics_mu);
    size_t i = 0;
    while (i < DCF_HTTP_STATUS_SLOTS && s->status[i] != 0 && s->status[i] != status)
        i++;
    if (i == DCF_HTTP_STATUS_SLOTS) {
        s->other++;
    } else {
        s->status[i] = status;
        s->count[i]++;
    }
    s->bucket[b]++;
    s->n++;
    s->sum_us += (uint64_t)duration_us;
    pthread_mutex_unlock(&h->metrics_mu);
}

/* A label value with \, " and newline escaped. */
static void put_label(FILE *out, const char *v) {
    for (; *v; v++) {
        if (*v == '\\')
            fputs("\\\\", out);
        else if (*v == '"')
            fputs("\\\"", out);
        else if (*v == '\n')
            fputs("\\n", out);
        else
            fputc(*v, out);
    }
}

static void put_labels(FILE *out, const dcf__http_series_t *s) {
    fputs("route=\"", out);
    put_label(out, s->route);
    fputs("\",method=\"", out);
    put_label(out, s->method);
    fputc('"', out);
}

static int cmp_slot(const void *a, const void *b) {
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return (x > y) - (x < y);
}

int dcf_http_metrics_write(dcf_http_t *h, FILE *out) {
    dcf__http_series_t *snap;
    long conns;
    size_t streams;

    snap = malloc(h->n_series * sizeof(*snap));
    if (snap == NULL)
        return DCF_ENOMEM;
    pthread_mutex_lock(&h->metrics_mu);
    memcpy(snap, h->series, h->n_series * sizeof(*snap));
    pthread_mutex_unlock(&h->metrics_mu);
    conns = atomic_load(&h->connections);
    streams = dcf_http_stream_count(h, 0);

    fputs("# HELP dcf_http_requests_total HTTP requests answered, by route pattern, method and "
          "status.\n"
          "# TYPE dcf_http_requests_total counter\n",
          out);
    for (size_t i = 0; i < h->n_series; i++) {
        const dcf__http_series_t *s = &snap[i];
        struct {
            unsigned status;
            uint64_t count;
        } slots[DCF_HTTP_STATUS_SLOTS];
        size_t n = 0;

        for (size_t k = 0; k < DCF_HTTP_STATUS_SLOTS && s->status[k] != 0; k++)
            slots[n].status = s->status[k], slots[n++].count = s->count[k];
        qsort(slots, n, sizeof(slots[0]), cmp_slot);
        for (size_t k = 0; k < n; k++) {
            fputs("dcf_http_requests_total{", out);
            put_labels(out, s);
            fprintf(out, ",status=\"%u\"} %llu\n", slots[k].status,
                    (unsigned long long)slots[k].count);
        }
        if (s->other) {
            fputs("dcf_http_requests_total{", out);
            put_labels(out, s);
            fprintf(out, ",status=\"other\"} %llu\n", (unsigned long long)s->other);
        }
    }

    fputs("# HELP dcf_http_request_duration_seconds Time from request headers to response "
          "queued.\n"
          "# TYPE dcf_http_request_duration_seconds histogram\n",
          out);
    for (size_t i = 0; i < h->n_series; i++) {
        const dcf__http_series_t *s = &snap[i];
        uint64_t cum = 0;

        if (s->n == 0)
            continue;
        for (size_t b = 0; b < DCF__HTTP_BUCKETS; b++) {
            cum += s->bucket[b];
            fputs("dcf_http_request_duration_seconds_bucket{", out);
            put_labels(out, s);
            fprintf(out, ",le=\"%s\"} %llu\n", bucket_le[b], (unsigned long long)cum);
        }
        fputs("dcf_http_request_duration_seconds_sum{", out);
        put_labels(out, s);
        fprintf(out, "} %.6f\n", (double)s->sum_us / 1e6);
        fputs("dcf_http_request_duration_seconds_count{", out);
        put_labels(out, s);
        fprintf(out, "} %llu\n", (unsigned long long)s->n);
    }

    fprintf(out,
            "# HELP dcf_http_connections Open HTTP connections.\n"
            "# TYPE dcf_http_connections gauge\n"
            "dcf_http_connections %ld\n"
            "# HELP dcf_http_streams Open event streams.\n"
            "# TYPE dcf_http_streams gauge\n"
            "dcf_http_streams %zu\n",
            conns, streams);
    free(snap);
    return ferror(out) ? DCF_EIO : DCF_OK;
}
