/*
 * import.c -- `deconflict import FILE`: many operations, streamed.
 *
 * INPUT.  NDJSON (one operation per line: the JSON model, or a GeoJSON
 * Feature; server fields such as id and version are dropped so that an
 * export imports again) is read a line at a time through a bounded buffer,
 * so a file of 10^6 lines needs no more memory than its longest line
 * (IMPORT_LINE_MAX).  A GeoJSON FeatureCollection (the first line parses as
 * one, or the whole file does) is loaded whole (up to IMPORT_DOC_MAX) and
 * each feature is one operation; its "line" numbers are feature numbers.
 *
 * HOW IT WORKS.  Each item is validated locally (geo module: pointer and
 * rule), then POSTed with up to --jobs requests in flight (curl multi on
 * this thread).  Items enter a ring in file order and leave it when they
 * are finished: created (201), refused (a 4xx, reported as FILE:LINE:
 * POINTER: RULE), bad locally, or blank.  The WATERMARK is the end of the
 * longest finished prefix; answers come back out of order, so the items
 * finished beyond it are listed too ("skip").
 *
 * RESUME.  Operations carry no client id, so the server cannot tell a
 * repeated create from a new one; the state file (FILE.import-state, or
 * --state) is what prevents duplicates.  It is one fixed-size record
 * rewritten in place (pwrite) after every finished item, so it survives a
 * crash of this process exactly, and fsynced every IMPORT_SYNC_S seconds,
 * so a crash of the machine loses at most that much progress (whose items
 * would then be created twice on --resume).  An item whose request failed
 * in transit (connection lost, 5xx) is never marked finished: --resume
 * sends it again, which duplicates it only if the server had stored it.
 * With --on-error stop, the refused item is not marked finished either, so
 * that a corrected file resumes at it.  A signal (Ctrl-C) stops reading,
 * lets the requests in flight finish and saves the state.
 *
 * PROGRESS.  On a terminal (stderr) a bar with the rate and the ETA,
 * redrawn five times a second; otherwise a line every --progress-every
 * seconds.  The rate counts items finished in this run.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli_int.h"
#include "deconflict/geo.h"

#define IMPORT_LINE_MAX  (16u * 1024u * 1024u)   /* one NDJSON line */
#define IMPORT_DOC_MAX   (1024u * 1024u * 1024u) /* a FeatureCollection file */
#define IMPORT_RING      256                     /* ring slots (> IMPORT_SKIP_MAX) */
#define IMPORT_JOBS      4
#define IMPORT_SYNC_S    1.0
#define IMPORT_STATE_LEN 8192 /* the state record; room for IMPORT_SKIP_MAX numbers */
#define IMPORT_SKIP_MAX  200  /* items between the watermark and the reader */
#define IMPORT_ERR_SHOWN 1000 /* at most this many refused items are printed */
#define IMPORT_RETRY_MAX 10   /* 429 answers for one item */

static volatile sig_atomic_t import_stop; /* set by SIGINT/SIGTERM: the only static state */

static void on_signal(int sig) {
    (void)sig;
    import_stop = 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------ line reader -- */

typedef struct {
    FILE *f;
    char *buf;
    size_t len, cap; /* bytes held, from buf[0] */
    size_t start;    /* the next line starts at buf[start] */
    bool eof;
    uint64_t offset; /* file offset of buf[start] */
} lines_t;

/* The next line (without its "\n", NUL-terminated in place) into *line,
 * *n; its end offset (after the "\n") in *end.  1 a line, 0 end of file,
 * -1 a line longer than IMPORT_LINE_MAX or a read error (errno). */
static int lines_next(lines_t *l, char **line, size_t *n, uint64_t *end) {
    for (;;) {
        char *nl = l->len > l->start ? memchr(l->buf + l->start, '\n', l->len - l->start) : NULL;
        if (nl != NULL || (l->eof && l->len > l->start)) {
            size_t ln = nl ? (size_t)(nl - (l->buf + l->start)) : l->len - l->start;
            *line = l->buf + l->start;
            (*line)[ln] = '\0'; /* the '\n', or the spare byte after the data */
            *n = ln;
            size_t used = ln + (nl ? 1 : 0);
            l->start += used;
            l->offset += used;
            *end = l->offset;
            return 1;
        }
        if (l->eof)
            return 0;
        if (l->start > 0) { /* move the partial line to the front */
            memmove(l->buf, l->buf + l->start, l->len - l->start);
            l->len -= l->start;
            l->start = 0;
        }
        if (l->len + 1 >= l->cap) {
            if (l->cap >= IMPORT_LINE_MAX) {
                errno = EFBIG;
                return -1;
            }
            size_t nc = l->cap ? l->cap * 2 : 1u << 16;
            char *nb = realloc(l->buf, nc + 1);
            if (nb == NULL)
                return -1;
            l->buf = nb;
            l->cap = nc;
        }
        size_t got = fread(l->buf + l->len, 1, l->cap - l->len - 1, l->f);
        l->len += got;
        if (got == 0) {
            if (ferror(l->f))
                return -1;
            l->eof = true;
        }
    }
}

/* ------------------------------------------------------------ state -- */

typedef struct {
    uint64_t line;   /* items finished in order (the watermark's line number) */
    uint64_t offset; /* NDJSON: byte offset after them; features: = line */
    uint64_t created, refused;
    uint64_t skip[IMPORT_SKIP_MAX]; /* items finished beyond the watermark */
    size_t nskip;
    bool complete;
} progress_t;

static int state_load(const char *path, progress_t *p, const char *mode, char *err, size_t n) {
    char buf[IMPORT_STATE_LEN + 1];
    memset(p, 0, sizeof *p);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, n, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? DCF_ENOENT : DCF_EIO;
    }
    ssize_t got = read(fd, buf, IMPORT_STATE_LEN);
    close(fd);
    if (got <= 0) {
        snprintf(err, n, "%s: empty or unreadable", path);
        return DCF_EPARSE;
    }
    buf[got] = '\0';
    json_error_t je;
    json_t *j = json_loads(buf, JSON_DISABLE_EOF_CHECK, &je);
    int rc = DCF_EPARSE;
    json_t *skip = json_object_get(j, "skip"), *v;
    const char *m = json_string_value(json_object_get(j, "mode"));
    if (j == NULL || !json_is_integer(json_object_get(j, "line")) ||
        !json_is_integer(json_object_get(j, "offset")) || !json_is_array(skip) ||
        json_array_size(skip) > IMPORT_SKIP_MAX || m == NULL) {
        snprintf(err, n, "%s: not an import state file", path);
        goto out;
    }
    if (strcmp(m, mode) != 0) {
        snprintf(err, n, "%s: records a %s import, but the file now reads as %s", path, m, mode);
        goto out;
    }
    p->line = (uint64_t)json_integer_value(json_object_get(j, "line"));
    p->offset = (uint64_t)json_integer_value(json_object_get(j, "offset"));
    p->created = (uint64_t)json_integer_value(json_object_get(j, "created"));
    p->refused = (uint64_t)json_integer_value(json_object_get(j, "refused"));
    p->complete = json_is_true(json_object_get(j, "complete"));
    size_t i;
    json_array_foreach(skip, i, v) p->skip[p->nskip++] = (uint64_t)json_integer_value(v);
    rc = DCF_OK;
out:
    json_decref(j);
    return rc;
}

/* Rewrite the record in place (fixed length, padded with spaces). */
static int state_write(int fd, const progress_t *p, const char *mode, const char *input) {
    char buf[IMPORT_STATE_LEN];
    int n =
        snprintf(buf, sizeof buf,
                 "{\"format\": \"deconflict-import-state/1\", \"mode\": \"%s\", "
                 "\"line\": %" PRIu64 ", \"offset\": %" PRIu64 ", \"created\": %" PRIu64
                 ", \"refused\": %" PRIu64 ", \"complete\": %s, \"skip\": [",
                 mode, p->line, p->offset, p->created, p->refused, p->complete ? "true" : "false");
    for (size_t i = 0; i < p->nskip && n > 0 && (size_t)n < sizeof buf; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "%s%" PRIu64, i ? ", " : "", p->skip[i]);
    char in[512];
    snprintf(in, sizeof in, "%s", input);
    for (char *c = in; *c != '\0'; c++)
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
            *c = '_';
    if (n > 0 && (size_t)n < sizeof buf)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "], \"input\": \"%s\"}", in);
    if (n <= 0 || (size_t)n >= sizeof buf - 1)
        return -1;
    memset(buf + n, ' ', sizeof buf - (size_t)n - 1);
    buf[sizeof buf - 1] = '\n';
    return pwrite(fd, buf, sizeof buf, 0) == (ssize_t)sizeof buf ? 0 : -1;
}

/* ------------------------------------------------------------- ring -- */

typedef enum { ITEM_SENT = 0, ITEM_DONE, ITEM_HELD } item_state_t;

typedef struct {
    uint64_t line, end;
    item_state_t st;
    char *body; /* kept for a 429 retry */
    size_t len;
    int tries;
} item_t;

typedef struct {
    dcf_cli_run_t *r;
    const char *input, *mode;
    bool stop_on_error, tty, features;
    double progress_every;
    dcf_client_multi_t *multi;
    size_t jobs;
    item_t ring[IMPORT_RING];
    uint64_t head, tail;                   /* ring items [head, tail) by sequence number */
    progress_t p;                          /* the watermark and counters, as saved */
    uint64_t resume_skip[IMPORT_SKIP_MAX]; /* the last run's items finished beyond its watermark */
    size_t n_resume_skip;
    uint64_t done_run; /* items finished in this run */
    uint64_t read_bytes, size;
    uint64_t shown; /* refused items printed */
    int state_fd;
    double t0, last_sync, last_show;
    bool fatal, stopped_on_error, bar_drawn;
    bool broken; /* the multi itself failed: nothing more can be waited for */
} imp_t;

static void bar_clear(imp_t *im) {
    if (im->bar_drawn) {
        fputs("\r\033[K", stderr);
        im->bar_drawn = false;
    }
}

static void progress(imp_t *im, bool force) {
    double t = now_s();
    if (im->tty ? (t - im->last_show < 0.2 && !force)
                : (im->progress_every <= 0 || t - im->last_show < im->progress_every) && !force)
        return;
    im->last_show = t;
    double el = t - im->t0, rate = el > 0 ? (double)im->done_run / el : 0;
    double frac = im->size ? (double)im->read_bytes / (double)im->size : 0;
    if (frac > 1)
        frac = 1;
    double bps = el > 0 ? (double)im->read_bytes / el : 0; /* for the ETA */
    double eta =
        bps > 0 && im->size > im->read_bytes ? (double)(im->size - im->read_bytes) / bps : 0;
    uint64_t lines = im->tail ? im->ring[(im->tail - 1) % IMPORT_RING].line : im->p.line;
    if (im->tty) {
        char bar[31];
        int fill = (int)(frac * 30 + 0.5);
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '-';
        bar[30] = '\0';
        fprintf(stderr,
                "\r[%s] %3.0f%%  line %" PRIu64 "  %.0f/s  ETA %d:%02d  %" PRIu64
                " created  %" PRIu64 " refused\033[K",
                bar, frac * 100, lines, rate, (int)(eta / 60), (int)eta % 60, im->p.created,
                im->p.refused);
        im->bar_drawn = true;
    } else {
        fprintf(stderr,
                "import: line %" PRIu64 " (%.0f%%), %" PRIu64 " created, %" PRIu64
                " refused, %.0f/s, ETA %.0f s\n",
                lines, frac * 100, im->p.created, im->p.refused, rate, eta);
    }
    fflush(stderr);
}

/* Report a refused or bad item. */
static void refuse(imp_t *im, uint64_t line, const char *pointer, const char *rule,
                   const json_t *problem, long status) {
    im->p.refused++;
    if (++im->shown > IMPORT_ERR_SHOWN) {
        if (im->shown == IMPORT_ERR_SHOWN + 1) {
            bar_clear(im);
            fprintf(stderr, "%s: more refused lines are counted, not shown\n", im->input);
        }
        return;
    }
    bar_clear(im);
    char where[64];
    if (im->features)
        snprintf(where, sizeof where, "feature %" PRIu64, line);
    else
        snprintf(where, sizeof where, "%" PRIu64, line);
    if (problem == NULL && status == 0) {
        fprintf(stderr, "%s:%s: %s: %s\n", im->input, where, pointer[0] ? pointer : "/", rule);
        return;
    }
    char d[600];
    dcf_client_describe(status, problem, d, sizeof d);
    json_t *errs = json_object_get(problem, "errors"), *e;
    size_t i;
    if (json_array_size(errs) == 0)
        fprintf(stderr, "%s:%s: %s\n", im->input, where, d);
    json_array_foreach(errs, i, e) {
        char pr[400];
        const char *p = json_string_value(json_object_get(e, "pointer"));
        const char *ru = json_string_value(json_object_get(e, "rule"));
        snprintf(pr, sizeof pr, "%s: %s", p && p[0] ? p : "/", ru ? ru : "?");
        for (char *c = pr; *c; c++)
            if ((unsigned char)*c < 0x20)
                *c = ' ';
        fprintf(stderr, "%s:%s: %s (%s)\n", im->input, where, pr, d);
    }
}

/* Move the watermark over finished items and save the state. */
static void advance(imp_t *im) {
    while (im->head < im->tail && im->ring[im->head % IMPORT_RING].st == ITEM_DONE) {
        item_t *it = &im->ring[im->head % IMPORT_RING];
        im->p.line = it->line;
        im->p.offset = it->end;
        im->head++;
    }
    im->p.nskip = 0;
    for (uint64_t s = im->head; s < im->tail && im->p.nskip < IMPORT_SKIP_MAX; s++)
        if (im->ring[s % IMPORT_RING].st == ITEM_DONE)
            im->p.skip[im->p.nskip++] = im->ring[s % IMPORT_RING].line;
    if (state_write(im->state_fd, &im->p, im->mode, im->input) != 0 && !im->fatal) {
        bar_clear(im);
        fprintf(stderr, "%s: cannot write the state file: %s\n", im->r->prog, strerror(errno));
        im->fatal = true;
    }
    double t = now_s();
    if (t - im->last_sync >= IMPORT_SYNC_S) {
        fdatasync(im->state_fd);
        im->last_sync = t;
    }
}

static void finish_item(imp_t *im, item_t *it) {
    free(it->body);
    it->body = NULL;
    it->st = ITEM_DONE;
    im->done_run++;
}

/* Wait for one answer and account for it. */
static void wait_one(imp_t *im) {
    uint64_t tag;
    int xrc;
    dcf_client_resp_t resp;
    char err[DCF_CLIENT_ERR_LEN];
    if (dcf_client_multi_wait(im->multi, &tag, &xrc, &resp, err, sizeof err) != DCF_OK) {
        bar_clear(im);
        fprintf(stderr, "%s: %s\n", im->r->prog, err);
        im->fatal = im->broken = true;
        return;
    }
    item_t *it = &im->ring[tag % IMPORT_RING];
    if (xrc != DCF_OK || resp.status >= 500) {
        bar_clear(im);
        if (xrc != DCF_OK)
            fprintf(stderr, "%s: line %" PRIu64 ": %s\n", im->r->prog, it->line, err);
        else
            dcf_cli_problem(im->r, resp.status, resp.body);
        it->st = ITEM_HELD; /* not finished: --resume sends it again */
        im->fatal = true;
    } else if (resp.status == 429 && it->tries < IMPORT_RETRY_MAX) {
        double s = resp.retry_after_s > 0 ? resp.retry_after_s : 1;
        struct timespec ts = {(time_t)(s > 5 ? 5 : s), 0};
        nanosleep(&ts, NULL);
        it->tries++;
        dcf_client_req_t req = {
            .method = "POST", .path = "/v1/operations", .body = it->body, .body_len = it->len};
        if (dcf_client_multi_add(im->multi, &req, tag) != DCF_OK) {
            it->st = ITEM_HELD;
            im->fatal = true;
        }
    } else if (resp.status == 201) {
        im->p.created++;
        finish_item(im, it);
    } else {
        refuse(im, it->line, "", "", resp.body, resp.status);
        if (im->stop_on_error) {
            im->p.refused--; /* not finished: a corrected file retries it */
            it->st = ITEM_HELD;
            im->stopped_on_error = true;
        } else {
            finish_item(im, it);
        }
    }
    dcf_client_resp_clear(&resp);
    advance(im);
}

/* Turn one parsed item into a request body; NULL after refusing it. */
static char *item_body(imp_t *im, uint64_t line, json_t *item, const char *prefix, size_t *len) {
    dcf_geo_limits_t lim;
    dcf_geo_error_t ge;
    dcf_operation_t *op = NULL;
    json_t *body = NULL;
    char *text = NULL;
    dcf_geo_limits_default(&lim);
    memset(&ge, 0, sizeof ge);
    const char *type = json_string_value(json_object_get(item, "type"));
    if (!json_is_object(item)) {
        refuse(im, line, prefix, "must be an operation object or a GeoJSON Feature", NULL, 0);
        goto out;
    }
    if (type != NULL && strcmp(type, "Feature") == 0) {
        if (dcf_operation_from_geojson_feature(item, &lim, 0, prefix, &op, &ge) != DCF_OK) {
            refuse(im, line, ge.pointer, ge.rule[0] ? ge.rule : "not a valid feature", NULL, 0);
            goto out;
        }
        if ((body = dcf_operation_to_json(op)) != NULL)
            json_object_del(body, "id");
    } else {
        if ((body = json_deep_copy(item)) == NULL)
            goto out;
        dcf_cli_op_strip(body);
        if (dcf_operation_from_json(body, &lim, 0, prefix, &op, &ge) != DCF_OK) {
            refuse(im, line, ge.pointer, ge.rule[0] ? ge.rule : "not a valid operation", NULL, 0);
            goto out;
        }
    }
    if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) != NULL)
        *len = strlen(text);
    else
        refuse(im, line, "", "out of memory", NULL, 0);
out:
    dcf_operation_free(op);
    json_decref(body);
    return text;
}

static bool skipped(const imp_t *im, uint64_t line) {
    for (size_t i = 0; i < im->n_resume_skip; i++)
        if (im->resume_skip[i] == line)
            return true;
    return false;
}

/* Put one item (body NULL: already finished) into the ring and send it. */
static void submit(imp_t *im, uint64_t line, uint64_t end, char *body, size_t len) {
    while (!im->fatal && !im->broken &&
           (im->tail - im->head >= IMPORT_SKIP_MAX ||
            (body != NULL && dcf_client_multi_pending(im->multi) >= im->jobs)))
        wait_one(im);
    if (im->fatal) {
        free(body);
        return;
    }
    uint64_t seq = im->tail++;
    item_t *it = &im->ring[seq % IMPORT_RING];
    memset(it, 0, sizeof *it);
    it->line = line;
    it->end = end;
    if (body == NULL) {
        it->st = ITEM_DONE;
        im->done_run++;
        advance(im);
        return;
    }
    it->body = body;
    it->len = len;
    it->st = ITEM_SENT;
    dcf_client_req_t req = {
        .method = "POST", .path = "/v1/operations", .body = body, .body_len = len};
    if (dcf_client_multi_add(im->multi, &req, seq) != DCF_OK) {
        it->st = ITEM_HELD;
        im->fatal = true;
    }
}

/* One NDJSON line or one feature. */
static void one_item(imp_t *im, uint64_t line, uint64_t end, json_t *item, const char *prefix) {
    size_t len = 0;
    char *body = item_body(im, line, item, prefix, &len);
    if (body == NULL && im->stop_on_error) {
        im->p.refused--; /* not finished: a corrected file resumes here */
        im->stopped_on_error = true;
        return; /* not finished: a corrected file resumes here */
    }
    submit(im, line, end, body, len);
}

static void run_ndjson(imp_t *im, lines_t *lr, uint64_t first_line) {
    char *line;
    size_t n;
    uint64_t end, no = first_line;
    int got;
    while (!import_stop && !im->fatal && !im->stopped_on_error &&
           (got = lines_next(lr, &line, &n, &end)) == 1) {
        no++;
        im->read_bytes = end;
        if (skipped(im, no)) {
            submit(im, no, end, NULL, 0);
            continue;
        }
        size_t s = 0;
        while (s < n && (line[s] == ' ' || line[s] == '\t' || line[s] == '\r'))
            s++;
        if (s == n) {
            submit(im, no, end, NULL, 0); /* blank */
            continue;
        }
        json_error_t je;
        json_t *item = json_loadb(line, n, JSON_REJECT_DUPLICATES, &je);
        if (item == NULL || dcf_json_too_deep(item, DCF_DEFAULT_MAX_DEPTH)) {
            char rule[300];
            snprintf(rule, sizeof rule, "invalid JSON at column %d: %s", item ? 0 : je.column,
                     item ? "nested too deep" : je.text);
            json_decref(item);
            refuse(im, no, "", rule, NULL, 0);
            if (im->stop_on_error) {
                im->p.refused--;
                im->stopped_on_error = true;
                break;
            }
            submit(im, no, end, NULL, 0);
            continue;
        }
        one_item(im, no, end, item, "");
        json_decref(item);
        progress(im, false);
    }
    if (!import_stop && !im->fatal && !im->stopped_on_error && got < 0) {
        bar_clear(im);
        fprintf(stderr, "%s: %s: line %" PRIu64 ": %s\n", im->r->prog, im->input, no + 1,
                errno == EFBIG ? "longer than the limit of 16 MiB" : strerror(errno));
        im->fatal = true;
    }
}

static void run_features(imp_t *im, json_t *features, uint64_t first) {
    for (size_t i = (size_t)first; i < json_array_size(features); i++) {
        if (import_stop || im->fatal || im->stopped_on_error)
            break;
        uint64_t no = i + 1;
        im->read_bytes = no;
        if (skipped(im, no)) {
            submit(im, no, no, NULL, 0);
            continue;
        }
        char prefix[48];
        snprintf(prefix, sizeof prefix, "/features/%zu", i);
        one_item(im, no, no, json_array_get(features, i), prefix);
        progress(im, false);
    }
}

/* Is `first` (the first non-blank line) or the whole file a
 * FeatureCollection?  Returns its features (the doc in *doc) or NULL. */
static json_t *as_collection(const char *path, const char *first, size_t n, json_t **doc) {
    json_t *j = json_loadb(first, n, 0, NULL);
    if (j == NULL && first[0] == '{') {
        json_error_t je;
        struct stat st;
        if (stat(path, &st) == 0 && (uint64_t)st.st_size <= IMPORT_DOC_MAX)
            j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    }
    const char *t = json_string_value(json_object_get(j, "type"));
    if (t != NULL && strcmp(t, "FeatureCollection") == 0 &&
        json_is_array(json_object_get(j, "features")) &&
        !dcf_json_too_deep(j, DCF_DEFAULT_MAX_DEPTH + 2)) {
        *doc = j;
        return json_object_get(j, "features");
    }
    json_decref(j);
    return NULL;
}

int dcf_cli_import(dcf_cli_run_t *r) {
    imp_t *im = NULL;
    lines_t lr = {0};
    json_t *doc = NULL, *features = NULL;
    char state_path[4096], err[600];
    struct sigaction sa, old_int, old_term;
    bool signals = false;
    int rc = DCF_CLI_EXIT_USAGE;
    const char *input = r->pos[0];
    const char *on_error = dcf_cli_opt(r, "on-error"), *jobs = dcf_cli_opt(r, "jobs");
    const char *every = dcf_cli_opt(r, "progress-every"), *sp = dcf_cli_opt(r, "state");
    bool resume = dcf_cli_opt(r, "resume") != NULL, restart = dcf_cli_opt(r, "restart") != NULL;

    if ((im = calloc(1, sizeof *im)) == NULL)
        return dcf_cli_fail(r, "out of memory");
    im->r = r;
    im->input = input;
    im->state_fd = -1;
    im->jobs = IMPORT_JOBS;
    im->progress_every = 10;
    im->tty = isatty(STDERR_FILENO) == 1;
    if (on_error != NULL && strcmp(on_error, "continue") != 0 && strcmp(on_error, "stop") != 0) {
        rc = dcf_cli_fail(r, "--on-error must be continue or stop");
        goto out;
    }
    im->stop_on_error = on_error != NULL && strcmp(on_error, "stop") == 0;
    if (jobs != NULL) {
        char *e = NULL;
        long v = strtol(jobs, &e, 10);
        if (e == jobs || *e != '\0' || v < 1 || v > DCF_CLIENT_MULTI_MAX) {
            rc = dcf_cli_fail(r, "--jobs must be 1..%d", DCF_CLIENT_MULTI_MAX);
            goto out;
        }
        im->jobs = (size_t)v;
    }
    if (every != NULL) {
        char *e = NULL;
        im->progress_every = strtod(every, &e);
        if (e == every || *e != '\0' || im->progress_every < 0) {
            rc = dcf_cli_fail(r, "--progress-every must be a number of seconds");
            goto out;
        }
    }
    if (resume && restart) {
        rc = dcf_cli_fail(r, "give --resume or --restart, not both");
        goto out;
    }
    if ((size_t)snprintf(state_path, sizeof state_path, "%s", sp ? sp : input) >=
            sizeof state_path - 16 ||
        (sp == NULL && strlen(state_path) + strlen(".import-state") >= sizeof state_path)) {
        rc = dcf_cli_fail(r, "the state file's path is too long");
        goto out;
    }
    if (sp == NULL)
        memcpy(state_path + strlen(state_path), ".import-state", sizeof ".import-state");

    /* The format, from the first non-blank line. */
    if ((lr.f = fopen(input, "rb")) == NULL) {
        rc = dcf_cli_fail(r, "%s: cannot open: %s", input, strerror(errno));
        goto out;
    }
    struct stat st;
    if (fstat(fileno(lr.f), &st) == 0)
        im->size = (uint64_t)st.st_size;
    {
        char *line;
        size_t n;
        uint64_t end;
        int got;
        while ((got = lines_next(&lr, &line, &n, &end)) == 1) {
            size_t s = strspn(line, " \t\r");
            if (s < n) {
                features = as_collection(input, line + s, n - s, &doc);
                break;
            }
        }
        if (got < 0) {
            rc = dcf_cli_fail(r, "%s: %s", input, strerror(errno));
            goto out;
        }
    }
    im->features = features != NULL;
    im->mode = im->features ? "features" : "ndjson";
    if (im->features)
        im->size = json_array_size(features);

    /* The state: resume from it, or start a new one. */
    progress_t prev;
    int lrc = state_load(state_path, &prev, im->mode, err, sizeof err);
    if (lrc != DCF_OK && lrc != DCF_ENOENT && !restart) {
        rc = dcf_cli_fail(r, "%s (--restart starts over)", err);
        goto out;
    }
    if (lrc == DCF_OK && !resume && !restart) {
        rc = dcf_cli_fail(r,
                          "%s says a previous import %s at %s %" PRIu64
                          ": add --resume to continue it, or --restart to import everything "
                          "again",
                          state_path, prev.complete ? "finished" : "stopped",
                          im->features ? "feature" : "line", prev.line);
        goto out;
    }
    if (lrc == DCF_OK && resume) {
        im->p = prev;
        memcpy(im->resume_skip, prev.skip, prev.nskip * sizeof prev.skip[0]);
        im->n_resume_skip = prev.nskip;
    }
    if (resume && lrc == DCF_ENOENT)
        fprintf(stderr, "%s: no state file %s: starting at the first line\n", r->prog, state_path);
    if (im->p.complete) {
        fprintf(stderr, "%s: %s: already imported (%" PRIu64 " created, %" PRIu64 " refused)\n",
                r->prog, input, im->p.created, im->p.refused);
        rc = 0;
        goto out;
    }
    if ((im->state_fd = open(state_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        rc = dcf_cli_fail(r, "%s: %s", state_path, strerror(errno));
        goto out;
    }
    if (state_write(im->state_fd, &im->p, im->mode, input) != 0 || fsync(im->state_fd) != 0) {
        rc = dcf_cli_fail(r, "%s: %s", state_path, strerror(errno));
        goto out;
    }
    if (!im->features) {
        if (fseeko(lr.f, (off_t)im->p.offset, SEEK_SET) != 0) {
            rc = dcf_cli_fail(r, "%s: cannot seek to %" PRIu64 ": %s", input, im->p.offset,
                              strerror(errno));
            goto out;
        }
        lr.len = lr.start = 0;
        lr.eof = false;
        lr.offset = im->p.offset;
    }
    dcf_client_t *c = dcf_cli_client(r);
    if (c == NULL)
        goto out;
    if (dcf_client_multi_new(c, im->jobs, &im->multi) != DCF_OK) {
        rc = dcf_cli_fail(r, "cannot start the HTTP client");
        goto out;
    }

    import_stop = 0;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    signals = true;
    im->t0 = im->last_sync = now_s();
    im->last_show = im->tty ? 0 : im->t0;
    im->read_bytes = im->p.offset;
    if (im->features)
        run_features(im, features, im->p.line);
    else
        run_ndjson(im, &lr, im->p.line);
    while (dcf_client_multi_pending(im->multi) > 0 && !im->broken)
        wait_one(im);
    bool all = !import_stop && !im->fatal && !im->stopped_on_error && im->head == im->tail;
    if (all) {
        im->p.complete = true;
        im->p.offset = im->features ? im->size : lr.offset;
    }
    advance(im);
    fsync(im->state_fd);
    bar_clear(im);
    double el = now_s() - im->t0;
    if (r->json) {
        json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:f, s:f, s:b, s:s}", "input", input, "created",
                              (json_int_t)im->p.created, "refused", (json_int_t)im->p.refused,
                              "line", (json_int_t)im->p.line, "seconds", el, "rate",
                              el > 0 ? (double)im->done_run / el : 0.0, "complete", all, "state",
                              state_path);
        if (j != NULL) {
            json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            putchar('\n');
        }
        json_decref(j);
    } else {
        printf("import: %" PRIu64 " created, %" PRIu64 " refused, up to %s %" PRIu64
               " in %.1f s (%.0f/s)%s\n",
               im->p.created, im->p.refused, im->features ? "feature" : "line", im->p.line, el,
               el > 0 ? (double)im->done_run / el : 0.0, all ? "" : "; not finished");
    }
    if (!all)
        fprintf(stderr, "%s: %s; run again with --resume to continue after %s %" PRIu64 "\n",
                r->prog,
                import_stop            ? "interrupted"
                : im->stopped_on_error ? "stopped at the first refused line (--on-error stop)"
                                       : "could not finish",
                im->features ? "feature" : "line", im->p.line);
    rc = all ? (im->p.refused > 0 ? DCF_CLI_EXIT_NO : DCF_CLI_EXIT_OK)
             : (im->stopped_on_error && !import_stop && !im->fatal ? DCF_CLI_EXIT_NO
                                                                   : DCF_CLI_EXIT_USAGE);
out:
    if (signals) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    if (im != NULL) {
        dcf_client_multi_free(im->multi);
        for (uint64_t s = im->head; s < im->tail; s++)
            free(im->ring[s % IMPORT_RING].body);
        if (im->state_fd >= 0)
            close(im->state_fd);
        free(im);
    }
    if (lr.f != NULL)
        fclose(lr.f);
    free(lr.buf);
    json_decref(doc);
    return rc;
}
