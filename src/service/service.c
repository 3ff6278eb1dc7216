/*
 * service.c -- opening the service (store, migrations, caches, the engine
 * loaded with live operations), authentication, events, the sweep that
 * completes ended operations, and the helpers the other files share.
 *
 * INVARIANTS.  After dcf_service_open: every live (planned or active)
 * operation row is in the engine and nothing else is; every token row is
 * in the token cache (revoked ones marked); every party row is in the
 * party cache; op_seq / conflict_seq / each party's event_seq are at least
 * the largest value stored.  The writer thread keeps these true: it
 * updates memory at the end of each write callback, after all of the
 * write's SQL succeeded (see service_int.h for the locks).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "service_int.h"

static const char *const ROLE_NAMES[DCF_ROLE_COUNT] = {"admin", "party-admin", "planner",
                                                       "duty",  "viewer",      "senior"};

const char *dcf_role_name(dcf_role_t r) {
    return (unsigned)r < DCF_ROLE_COUNT ? ROLE_NAMES[r] : NULL;
}

int dcf_role_parse(const char *s, dcf_role_t *out) {
    for (int i = 0; i < DCF_ROLE_COUNT; i++)
        if (strcmp(s, ROLE_NAMES[i]) == 0) {
            *out = (dcf_role_t)i;
            return DCF_OK;
        }
    return DCF_EINVAL;
}

void dcf_problem_clear(dcf_problem_t *p) {
    json_decref(p->errors);
    json_decref(p->extra);
    memset(p, 0, sizeof *p);
}

void dcf_service_opts_default(dcf_service_opts_t *o) {
    memset(o, 0, sizeof *o);
    o->store.uri = "sqlite:deconflict.db";
    dcf_geo_limits_default(&o->limits);
    o->notice_us = 30 * 60 * DCF_USEC_PER_SEC;
    o->policy = DCF_POLICY_ADVISORY;
    o->grid_m = 1000.0;
    o->check_per_min = 60;
    o->page_max = 1000;
    o->hotline.ack_us[DCF_MSG_URGENT] = 2 * 60 * DCF_USEC_PER_SEC;
    o->hotline.ack_us[DCF_MSG_WARNING] = 10 * 60 * DCF_USEC_PER_SEC;
    o->hotline.ack_us[DCF_MSG_REQUEST] = 30 * 60 * DCF_USEC_PER_SEC;
    o->hotline.escalation_repeat_us = 5 * 60 * DCF_USEC_PER_SEC;
    o->hotline.ring_timeout_us = 120 * DCF_USEC_PER_SEC;
    o->hotline.line_check_us = 86400 * DCF_USEC_PER_SEC;
    o->hotline.freeze_after_us = 7 * 86400 * DCF_USEC_PER_SEC;
    o->hotline.presence_window_us = 60 * DCF_USEC_PER_SEC;
    o->session_ttl_us = 12 * 3600 * DCF_USEC_PER_SEC;
}

dcf_time_t dcf_service_now(dcf_service_t *s) {
    return dcf_time_now() + atomic_load(&s->clock_offset);
}

/* ------------------------------------------------------------ helpers -- */

int svc_fail(dcf_problem_t *p, int rc, const char *type, const char *fmt, ...) {
    va_list ap;
    p->type = type;
    va_start(ap, fmt);
    vsnprintf(p->title, sizeof p->title, fmt, ap);
    va_end(ap);
    return rc;
}

int svc_invalid(dcf_problem_t *p, const char *title, const char *pointer, const char *rule) {
    json_t *e = json_pack("[{s:s, s:s}]", "pointer", pointer, "rule", rule);
    json_decref(p->errors);
    p->errors = e;
    return svc_fail(p, DCF_EINVAL, "validation", "%s", title);
}

int svc_internal(dcf_problem_t *p, int rc) {
    return svc_fail(p, rc == DCF_OK ? DCF_EINTERNAL : rc, "internal", "internal error: %s",
                    dcf_strerror(rc));
}

int svc_parse_body(dcf_service_t *s, const char *body, size_t len, json_t **out, dcf_problem_t *p) {
    json_error_t je;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (j == NULL) {
        char rule[200];
        snprintf(rule, sizeof rule, "%s (line %d, column %d)", je.text, je.line, je.column);
        p->errors = json_pack("[{s:s, s:s}]", "pointer", "", "rule", rule);
        return svc_fail(p, DCF_EPARSE, "malformed-json", "The body is not valid JSON");
    }
    if (dcf_json_too_deep(j, s->o.limits.max_depth)) {
        json_decref(j);
        char rule[80];
        snprintf(rule, sizeof rule, "nests deeper than %zu levels", s->o.limits.max_depth);
        return svc_invalid(p, "The body nests too deeply", "", rule);
    }
    if (!json_is_object(j)) {
        json_decref(j);
        return svc_invalid(p, "The body must be a JSON object", "", "must be an object");
    }
    *out = j;
    return DCF_OK;
}

int svc_only_members(json_t *obj, const char *const *allowed, const char *title, dcf_problem_t *p) {
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        bool ok = false;
        for (size_t i = 0; allowed[i] != NULL && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok) {
            char ptr[160];
            /* RFC 6901 escaping of ~ and / in the member name. */
            size_t o = 0;
            ptr[o++] = '/';
            for (const char *c = key; *c != '\0' && o + 3 < sizeof ptr; c++) {
                if (*c == '~' || *c == '/') {
                    ptr[o++] = '~';
                    ptr[o++] = *c == '~' ? '0' : '1';
                } else {
                    ptr[o++] = *c;
                }
            }
            ptr[o] = '\0';
            return svc_invalid(p, title, ptr, "is not a known member");
        }
    }
    return DCF_OK;
}

/* The 64 base64url characters in ASCII order, so that ids compare as
 * strings in the order of the numbers they encode. */
static const char SORTED_B64[] = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

void svc_random_id(const char *prefix, char *out, size_t len) {
    unsigned char raw[11]; /* 88 random bits, of which 84 are used */
    char tail[SVC_ID_CHARS + 1];
    uint64_t ms = (uint64_t)(dcf_time_now() / 1000);
    randombytes_buf(raw, sizeof raw);
    /* 8 characters of creation time (48 bits of milliseconds), most
     * significant first: new ids sort after old ones, so the store's
     * indexes on them grow at one edge instead of at random pages. */
    for (int i = 0; i < 8; i++)
        tail[i] = SORTED_B64[(ms >> (6 * (7 - i))) & 63];
    /* 14 characters of randomness (6 bits each from 84 random bits). */
    for (int i = 0; i < SVC_ID_CHARS - 8; i++) {
        unsigned bit = 6u * (unsigned)i;
        unsigned v = (unsigned)raw[bit / 8] | (unsigned)raw[bit / 8 + 1] << 8; /* bit <= 78 */
        tail[8 + i] = SORTED_B64[(v >> (bit % 8)) & 63];
    }
    tail[SVC_ID_CHARS] = '\0';
    snprintf(out, len, "%s%s", prefix, tail);
}

json_t *svc_time_json(dcf_time_t t) {
    char buf[DCF_TIME_STRLEN];
    return json_string(dcf_time_format(t, buf));
}

void svc_etag(int64_t version, char *out) {
    snprintf(out, 24, "\"%lld\"", (long long)version);
}

_Noreturn void svc_fail_stop(int rc) {
    dcf_panic("a committed change failed to become durable (%s); stopping so that a restart "
              "rebuilds memory from the store",
              dcf_strerror(rc));
}

int svc_page_add(svc_page_t *pg, json_t *item, int64_t seq) {
    if (item == NULL)
        return DCF_ENOMEM;
    json_array_append_new(pg->items, item);
    if (++pg->n == pg->want)
        pg->seq_nth = seq;
    return DCF_OK;
}

json_t *svc_page_finish(svc_page_t *pg) {
    json_t *next = json_null();
    if (pg->n > pg->want) {
        char buf[32];
        json_array_remove(pg->items, pg->want);
        snprintf(buf, sizeof buf, "%lld", (long long)pg->seq_nth);
        next = json_string(buf);
    }
    json_t *out = json_pack("{s:o, s:o}", "items", pg->items, "next_cursor", next);
    pg->items = NULL;
    return out;
}

void svc_states_sql(unsigned bits, const char *const *names, size_t n_names, const char *column,
                    char *out, size_t cap) {
    size_t o = 0;
    out[0] = '\0';
    if (bits == 0)
        return;
    o += (size_t)snprintf(out, cap, " AND %s IN (", column);
    for (size_t i = 0; i < n_names && o < cap; i++)
        if (bits & (1u << i)) {
            o += (size_t)snprintf(out + o, cap - o, "%s'%s'", out[o - 1] == '(' ? "" : ", ",
                                  names[i]);
        }
    if (o < cap)
        snprintf(out + o, cap - o, ")");
}

int svc_write(dcf_service_t *s, dcf_store_write_fn fn, void *arg) {
    svc_tx_fn_t t = {s, fn, arg};
    int rc = dcf_store_write(s->st, svc_tx_run, &t);
    if (rc == DCF_EIO)
        svc_fail_stop(rc);
    return rc;
}

void svc_written(dcf_service_t *s, int rc, const svc_notify_t *n) {
    if (rc == DCF_EIO)
        svc_fail_stop(rc);
    if (rc == DCF_OK)
        svc_notify(s, n);
}

dcf_engine_reader_t *svc_reader_get(dcf_service_t *s) {
    dcf_engine_reader_t *r = NULL;
    pthread_mutex_lock(&s->readers_lock);
    if (s->n_readers > 0)
        r = s->readers[--s->n_readers];
    pthread_mutex_unlock(&s->readers_lock);
    if (r == NULL && dcf_engine_reader_new(s->eng, &r) != DCF_OK)
        return NULL;
    return r;
}

void svc_reader_put(dcf_service_t *s, dcf_engine_reader_t *r) {
    pthread_mutex_lock(&s->readers_lock);
    if (s->n_readers < SVC_READERS_MAX) {
        s->readers[s->n_readers++] = r;
        r = NULL;
    }
    pthread_mutex_unlock(&s->readers_lock);
    dcf_engine_reader_free(r);
}

int svc_party_copy(dcf_service_t *s, const char *id, svc_party_t *out, json_t **duty_contact) {
    int rc = DCF_ENOENT;
    pthread_mutex_lock(&s->cache_lock);
    svc_party_t *pt = dcf_strmap_get(s->parties, id);
    if (pt != NULL) {
        *out = *pt;
        out->desks = NULL;
        if (duty_contact != NULL) {
            json_t *c = json_object_get(json_object_get(pt->desks, "duty"), "contact");
            *duty_contact = c != NULL ? json_deep_copy(c) : json_null();
        }
        rc = DCF_OK;
    }
    pthread_mutex_unlock(&s->cache_lock);
    return rc;
}

/* ------------------------------------------------------------- events -- */

/*
 * THE EVENT CACHE.  Each party's newest events (at most EVRING_N, at most
 * EVRING_BYTES of data) live in a ring, so that event streams -- there may
 * be hundreds, each reading every event of its party -- read memory instead
 * of SQL.  Invariant: every committed event of the party with an id above
 * ring->floor is in the ring.  It holds because ids grow in commit order
 * (one writer), events are published only once their batch has committed
 * (the store's on_batch hook, before any writer of the batch is answered),
 * an event of a write that rolled back is never published, and an evicted
 * event raises the floor.  A reader whose cursor is below the floor reads
 * SQL as before.
 */
#define EVRING_N     512
#define EVRING_BYTES (1u << 20)

typedef struct {
    int64_t id;
    char type[40];
    char *data;
    size_t len;
} svc_ev_t;

struct svc_evring_s {
    int64_t floor;
    svc_ev_t v[EVRING_N];
    size_t head, n, bytes; /* oldest at v[head] */
};

struct svc_staged_s {
    svc_party_t *pt;
    svc_ev_t ev;
};

/* writer: keep an inserted event until its batch commits (takes data). */
static int stage(dcf_service_t *s, svc_party_t *pt, int64_t id, const char *type, char *data) {
    if (dcf_array_reserve((void **)&s->staged, &s->cap_staged, s->n_staged + 1,
                          sizeof *s->staged) != DCF_OK) {
        free(data);
        return DCF_ENOMEM;
    }
    struct svc_staged_s *e = &s->staged[s->n_staged++];
    e->pt = pt;
    e->ev.id = id;
    snprintf(e->ev.type, sizeof e->ev.type, "%s", type);
    e->ev.data = data;
    e->ev.len = strlen(data);
    return DCF_OK;
}

size_t svc_events_staged(dcf_service_t *s) {
    return s->n_staged;
}

void svc_events_unstage(dcf_service_t *s, size_t keep) {
    while (s->n_staged > keep)
        free(s->staged[--s->n_staged].ev.data);
}

static void ring_evict(svc_evring_t *r) {
    svc_ev_t *old = &r->v[r->head];
    r->floor = old->id;
    r->bytes -= old->len;
    free(old->data);
    old->data = NULL;
    r->head = (r->head + 1) % EVRING_N;
    r->n--;
}

/* The store's on_batch hook: publish (committed) or drop the batch's events. */
static void events_batch_done(void *arg, bool committed) {
    dcf_service_t *s = arg;
    if (!committed || s->n_staged == 0) {
        svc_events_unstage(s, 0);
        return;
    }
    pthread_rwlock_wrlock(&s->ev_lock);
    for (size_t i = 0; i < s->n_staged; i++) {
        struct svc_staged_s *e = &s->staged[i];
        svc_evring_t *r = e->pt->ring;
        if (r == NULL && (r = e->pt->ring = calloc(1, sizeof *r)) != NULL)
            r->floor = e->ev.id - 1; /* every earlier event is older */
        if (r == NULL || e->ev.len > EVRING_BYTES) {
            /* Cannot keep it: readers past it must go to SQL. */
            if (r != NULL) {
                while (r->n > 0)
                    ring_evict(r);
                r->floor = e->ev.id;
            }
            free(e->ev.data);
            continue;
        }
        while (r->n == EVRING_N || r->bytes + e->ev.len > EVRING_BYTES)
            ring_evict(r);
        r->v[(r->head + r->n) % EVRING_N] = e->ev;
        r->n++;
        r->bytes += e->ev.len;
    }
    pthread_rwlock_unlock(&s->ev_lock);
    s->n_staged = 0;
}

static void ring_free(svc_evring_t *r) {
    while (r != NULL && r->n > 0)
        ring_evict(r);
    free(r);
}

/* Copy the cached events of pt with id > after (at most max) into *out;
 * false when the cache does not cover `after` (read SQL then). */
static bool ring_read(dcf_service_t *s, svc_party_t *pt, int64_t after, unsigned max,
                      svc_ev_t **out, size_t *n_out) {
    bool covered = false;
    *out = NULL;
    *n_out = 0;
    pthread_rwlock_rdlock(&s->ev_lock);
    svc_evring_t *r = pt->ring;
    if (r != NULL && after >= r->floor) {
        covered = true;
        /* Ids grow along the ring: binary search for the first > after. */
        size_t lo = 0, hi = r->n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (r->v[(r->head + mid) % EVRING_N].id > after)
                hi = mid;
            else
                lo = mid + 1;
        }
        size_t first = lo;
        size_t n = r->n - first < max ? r->n - first : max;
        svc_ev_t *v = n ? calloc(n, sizeof *v) : NULL;
        if (n > 0 && v == NULL)
            covered = false;
        for (size_t i = 0; v != NULL && i < n; i++) {
            const svc_ev_t *e = &r->v[(r->head + first + i) % EVRING_N];
            v[i] = *e;
            if ((v[i].data = malloc(e->len + 1)) == NULL) {
                for (size_t k = 0; k < i; k++)
                    free(v[k].data);
                free(v);
                v = NULL;
                covered = false;
                break;
            }
            memcpy(v[i].data, e->data, e->len + 1);
        }
        *out = v;
        *n_out = v ? n : 0;
    }
    pthread_rwlock_unlock(&s->ev_lock);
    return covered;
}

int svc_event_add(dcf_service_t *s, dcf_store_tx_t *tx, const char *party, const char *type,
                  json_t *data, dcf_time_t at, svc_notify_t *n) {
    int rc;
    char *text;
    svc_party_t *pt;

    pthread_mutex_lock(&s->cache_lock);
    pt = dcf_strmap_get(s->parties, party);
    pthread_mutex_unlock(&s->cache_lock);
    if (pt == NULL)
        return DCF_EINTERNAL;
    if (json_object_set_new(data, "at", svc_time_json(at)) != 0 ||
        (text = json_dumps(data, JSON_COMPACT)) == NULL)
        return DCF_ENOMEM;
    dcf_store_val_t v[5] = {dcf_store_val_text(party, strlen(party)),
                            dcf_store_val_int(pt->event_seq + 1),
                            dcf_store_val_text(type, strlen(type)),
                            dcf_store_val_text(text, strlen(text)), dcf_store_val_int(at)};
    rc = dcf_store_tx_exec(tx,
                           "INSERT INTO events (party, seq, type, data, at) "
                           "VALUES ($1, $2, $3, $4, $5)",
                           v, 5, NULL);
    if (rc == DCF_OK)
        rc = stage(s, pt, pt->event_seq + 1, type, text); /* takes text */
    else
        free(text);
    if (rc != DCF_OK)
        return rc;
    /* The writer is the only thread that reads or writes event_seq.  A
     * rolled-back write leaves a gap in the ids, never a repeat. */
    pt->event_seq++;
    if (n != NULL)
        svc_notify_add(n, pt->tag);
    return DCF_OK;
}

void svc_notify_add(svc_notify_t *n, uint64_t tag) {
    for (size_t i = 0; i < n->n; i++)
        if (n->tags[i] == tag)
            return;
    if (n->n < SVC_NOTIFY_MAX)
        n->tags[n->n++] = tag;
    else
        n->all = true;
}

void svc_notify(dcf_service_t *s, const svc_notify_t *n) {
    if (s->o.on_event == NULL)
        return;
    if (n->all) {
        s->o.on_event(s->o.on_event_arg, 0);
        return;
    }
    for (size_t i = 0; i < n->n; i++)
        s->o.on_event(s->o.on_event_arg, n->tags[i]);
}

typedef struct {
    dcf_event_cb cb;
    void *arg;
} event_read_t;

static int event_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    event_read_t *er = arg;
    char type[64];
    (void)nc;
    snprintf(type, sizeof type, "%.*s", (int)c[1].u.b.len, (const char *)c[1].u.b.ptr);
    return er->cb(er->arg, c[0].u.i, type, c[2].u.b.ptr, c[2].u.b.len);
}

int dcf_event_read(dcf_service_t *s, const dcf_principal_t *who, int64_t after, unsigned max,
                   dcf_event_cb cb, void *arg) {
    pthread_mutex_lock(&s->cache_lock);
    svc_party_t *pt = dcf_strmap_get(s->parties, who->party);
    pthread_mutex_unlock(&s->cache_lock);
    svc_ev_t *cached;
    size_t n;
    if (pt != NULL && ring_read(s, pt, after, max, &cached, &n)) {
        int rc = 0;
        for (size_t i = 0; i < n; i++) {
            if (rc == 0)
                rc = cb(arg, cached[i].id, cached[i].type, cached[i].data, cached[i].len);
            free(cached[i].data);
        }
        free(cached);
        return rc;
    }
    event_read_t er = {cb, arg};
    dcf_store_val_t v[3] = {dcf_store_val_text(who->party, strlen(who->party)),
                            dcf_store_val_int(after), dcf_store_val_int(max)};
    return dcf_store_read(s->st,
                          "SELECT seq, type, data FROM events WHERE party = $1 AND seq > $2 "
                          "ORDER BY seq LIMIT $3",
                          v, 3, event_row, &er);
}

int svc_int_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    (void)nc;
    *(int64_t *)arg = c[0].type == DCF_STORE_INT ? c[0].u.i : 0;
    return 0;
}

int64_t dcf_event_last(dcf_service_t *s, const dcf_principal_t *who) {
    int64_t last = 0;
    dcf_store_val_t v = dcf_store_val_text(who->party, strlen(who->party));
    if (dcf_store_read(s->st, "SELECT MAX(seq) FROM events WHERE party = $1", &v, 1, svc_int_row,
                       &last) != DCF_OK)
        return 0;
    return last;
}

/* ------------------------------------------------------- authenticate -- */

void svc_secret_hash(const char *secret, char out[SVC_HASH_HEX]) {
    unsigned char h[32];
    crypto_generichash(h, sizeof h, (const unsigned char *)secret, strlen(secret), NULL, 0);
    sodium_bin2hex(out, SVC_HASH_HEX, h, sizeof h);
}

/* A new secret and its hash. */
void svc_token_secret(char secret[DCF_TOKEN_LEN + 1], char hash[SVC_HASH_HEX]) {
    unsigned char raw[32];
    char b64[48];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    memcpy(secret, "dcf_", 4);
    memcpy(secret + 4, b64, DCF_TOKEN_LEN - 4); /* 43 characters: 256 bits, no padding */
    secret[DCF_TOKEN_LEN] = '\0';
    sodium_memzero(raw, sizeof raw);
    sodium_memzero(b64, sizeof b64);
    svc_secret_hash(secret, hash);
}

void svc_principal_of(dcf_service_t *s, const svc_token_t *t, dcf_principal_t *who) {
    memset(who, 0, sizeof *who);
    snprintf(who->token_id, sizeof who->token_id, "%s", t->id);
    snprintf(who->party, sizeof who->party, "%s", t->party);
    who->role = t->role;
    svc_party_t *pt = t->party[0] ? dcf_strmap_get(s->parties, t->party) : NULL;
    who->party_tag = pt != NULL ? pt->tag : 0;
}

bool svc_text_ok(const char *t, size_t max, bool empty_ok, bool multiline) {
    size_t n = strlen(t);
    if ((n == 0 && !empty_ok) || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if ((c < 0x20 && !(multiline && (c == '\n' || c == '\t'))) || c == 0x7f)
            return false;
    }
    return true;
}

int svc_id_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    svc_ids_t *r = arg;
    (void)nc;
    if (r->n >= sizeof r->id / sizeof r->id[0])
        return DCF_EINTERNAL; /* callers ask for LIMIT 64 */
    svc_text_copy(r->id[r->n++], sizeof r->id[0], &c[0]);
    return 0;
}

int dcf_service_authenticate(dcf_service_t *s, const char *token, dcf_principal_t *who) {
    char hash[SVC_HASH_HEX];
    int rc = DCF_ENOENT;
    if (token == NULL || strlen(token) != DCF_TOKEN_LEN || strncmp(token, "dcf_", 4) != 0)
        return DCF_ENOENT;
    svc_secret_hash(token, hash);
    pthread_mutex_lock(&s->cache_lock);
    svc_token_t *t = dcf_strmap_get(s->tokens_by_hash, hash);
    if (t != NULL && !t->revoked) {
        svc_principal_of(s, t, who);
        rc = DCF_OK;
    }
    pthread_mutex_unlock(&s->cache_lock);
    return rc;
}

/* ----------------------------------------------------------- caches -- */

/* Under cache_lock (or before any other thread exists). */
int svc_cache_party(dcf_service_t *s, const char *id, const char *name, uint64_t tag,
                    dcf_time_t created, svc_party_t **out) {
    svc_party_t *pt = calloc(1, sizeof *pt), **nl;
    if (pt == NULL)
        return DCF_ENOMEM;
    snprintf(pt->id, sizeof pt->id, "%s", id);
    snprintf(pt->name, sizeof pt->name, "%s", name);
    pt->tag = tag;
    pt->created_at = created;
    pt->desks = json_object();
    pt->check_tokens = -1; /* full on first use */
    nl = realloc(s->party_list, (s->n_parties + 1) * sizeof *nl);
    if (pt->desks == NULL || nl == NULL || dcf_strmap_put(s->parties, pt->id, pt) != DCF_OK) {
        if (nl != NULL)
            s->party_list = nl;
        json_decref(pt->desks);
        free(pt);
        return DCF_ENOMEM;
    }
    s->party_list = nl;
    s->party_list[s->n_parties++] = pt;
    if (out != NULL)
        *out = pt;
    return DCF_OK;
}

int svc_cache_token(dcf_service_t *s, const char *id, const char *hash, const char *party,
                    dcf_role_t role, bool revoked) {
    svc_token_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        return DCF_ENOMEM;
    snprintf(t->id, sizeof t->id, "%s", id);
    snprintf(t->hash, sizeof t->hash, "%s", hash);
    snprintf(t->party, sizeof t->party, "%s", party ? party : "");
    t->role = role;
    t->revoked = revoked;
    if (s->n_tokens == s->cap_tokens) {
        size_t ncap = s->cap_tokens ? s->cap_tokens * 2 : 64;
        svc_token_t **nl = realloc(s->token_list, ncap * sizeof *nl);
        if (nl == NULL) {
            free(t);
            return DCF_ENOMEM;
        }
        s->token_list = nl;
        s->cap_tokens = ncap;
    }
    if (dcf_strmap_put(s->tokens_by_hash, t->hash, t) != DCF_OK ||
        dcf_strmap_put(s->tokens_by_id, t->id, t) != DCF_OK) {
        dcf_strmap_del(s->tokens_by_hash, t->hash);
        free(t);
        return DCF_ENOMEM;
    }
    s->token_list[s->n_tokens++] = t;
    return DCF_OK;
}

/* ------------------------------------------------------------ loading -- */

typedef struct {
    dcf_service_t *s;
    int rc;
    dcf_operation_t **ops;
    size_t n, cap;
} load_t;

void svc_text_copy(char *dst, size_t cap, const dcf_store_val_t *v) {
    size_t n = v->type == DCF_STORE_TEXT ? v->u.b.len : 0;
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, n ? v->u.b.ptr : "", n);
    dst[n] = '\0';
}

static int party_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    load_t *l = arg;
    char id[DCF_PARTY_MAX + 1], name[DCF_PARTY_NAME_MAX + 1];
    (void)nc;
    svc_text_copy(id, sizeof id, &c[0]);
    svc_text_copy(name, sizeof name, &c[1]);
    if ((l->rc = svc_cache_party(l->s, id, name, (uint64_t)c[2].u.i, c[3].u.i, NULL)) != DCF_OK)
        return l->rc;
    svc_party_t *pt = dcf_strmap_get(l->s->parties, id);
    if (pt == NULL)
        return l->rc = DCF_EINTERNAL;
    pt->event_seq = c[4].type == DCF_STORE_INT ? c[4].u.i : 0; /* NULL: no event yet */
    return 0;
}

static int desk_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    load_t *l = arg;
    char id[DCF_PARTY_MAX + 1], level[16];
    json_t *contact;
    (void)nc;
    svc_text_copy(id, sizeof id, &c[0]);
    svc_text_copy(level, sizeof level, &c[1]);
    svc_party_t *pt = dcf_strmap_get(l->s->parties, id);
    contact = json_loadb(c[2].u.b.ptr, c[2].u.b.len, 0, NULL);
    if (pt == NULL || contact == NULL) {
        json_decref(contact);
        return l->rc = DCF_EINTERNAL;
    }
    json_object_set_new(
        pt->desks, level,
        json_pack("{s:o, s:o}", "contact", contact, "updated_at", svc_time_json(c[3].u.i)));
    return 0;
}

static int token_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    load_t *l = arg;
    char id[DCF_TOKEN_ID_MAX + 1], party[DCF_PARTY_MAX + 1], role[32], hash[SVC_HASH_HEX];
    dcf_role_t r;
    (void)nc;
    svc_text_copy(id, sizeof id, &c[0]);
    svc_text_copy(party, sizeof party, &c[1]);
    svc_text_copy(role, sizeof role, &c[2]);
    svc_text_copy(hash, sizeof hash, &c[3]);
    if (dcf_role_parse(role, &r) != DCF_OK)
        return l->rc = DCF_EINTERNAL;
    return l->rc = svc_cache_token(l->s, id, hash, party, r, c[4].type != DCF_STORE_NULL);
}

/* Start-up rebuilding of the live operations.  Each row gives its binary
 * form (`prep`, dcf_operation_unpack) or, written before migration 7, only
 * its JSON text (`body`).  Decoding and footprint preparation cost more
 * than reading the rows, so the reading thread (inside dcf_store_read's
 * row callback) copies the forms into batches and a pool of workers
 * decodes them; each worker keeps its own list, merged at the end (the
 * engine's bulk load does not care about order).  At most LOAD_QUEUE
 * batches wait, which bounds the memory held by row copies.
 *
 * A binary form that does not decode (a damaged row) is not trusted and
 * not fatal: its worker notes the row's seq, and after the scan the row's
 * JSON text is read and parsed instead.  Both kinds of text-loaded rows
 * are counted (s->loaded_from_text) and reported by `serve` when ready. */
#define LOAD_BATCH       256
#define LOAD_QUEUE       8
#define LOAD_WORKERS_MAX 8

typedef struct load_batch_s {
    char *text;                 /* the rows' forms, back to back */
    size_t off[LOAD_BATCH + 1]; /* form i is text[off[i] .. off[i+1]) */
    int64_t seq[LOAD_BATCH];    /* row i's seq */
    bool packed[LOAD_BATCH];    /* form i is binary (else JSON text) */
    size_t n, cap;
    struct load_batch_s *next;
} load_batch_t;

typedef struct {
    dcf_operation_t **ops; /* decoded from the binary form */
    size_t n, cap;
    dcf_operation_t **tops; /* parsed from the JSON text */
    size_t tn, tcap;
    int64_t *redo; /* seqs to load from their JSON text after the scan */
    size_t n_redo, cap_redo;
    uint64_t seq_sum; /* of the operations pushed (wraps) */
} op_list_t;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t work_cv, room_cv;
    load_batch_t *head, *tail, *filling;
    size_t queued;
    bool closed; /* no more batches */
    int rc;      /* first error (under mu) */
    op_list_t lists[LOAD_WORKERS_MAX];
    size_t n_workers;
    op_list_t reader; /* the reading thread's redo seqs */
    size_t rows;      /* of op_prep read */
} op_loader_t;

static int op_list_redo(op_list_t *l, int64_t seq) {
    if (dcf_array_reserve((void **)&l->redo, &l->cap_redo, l->n_redo + 1, sizeof *l->redo) !=
        DCF_OK)
        return DCF_ENOMEM;
    l->redo[l->n_redo++] = seq;
    return DCF_OK;
}

static int op_list_push(op_list_t *l, dcf_operation_t *op, int64_t seq, bool text) {
    dcf_operation_t ***v = text ? &l->tops : &l->ops;
    size_t *n = text ? &l->tn : &l->n, *cap = text ? &l->tcap : &l->cap;
    if (dcf_array_reserve((void **)v, cap, *n + 1, sizeof **v) != DCF_OK) {
        dcf_operation_free(op);
        return DCF_ENOMEM;
    }
    (*v)[(*n)++] = op;
    l->seq_sum += (uint64_t)seq;
    return DCF_OK;
}

/* Stored operations passed the limits of their day; they load under the
 * widest limits so a lowered limit never hides a live operation. */
static void stored_limits(dcf_geo_limits_t *lim) {
    dcf_geo_limits_default(lim);
    lim->max_vertices = SIZE_MAX / 64;
    lim->max_volumes = SIZE_MAX / 64;
}

/* Parse one stored JSON text. */
static int op_parse_stored(const char *text, size_t len, dcf_operation_t **out) {
    dcf_geo_error_t ge;
    dcf_geo_limits_t lim;
    json_t *j = json_loadb(text, len, 0, NULL);
    if (j == NULL)
        return DCF_EINTERNAL;
    stored_limits(&lim);
    int rc = dcf_operation_from_json(j, &lim, DCF_PARSE_REQUIRE_ID | DCF_PARSE_REQUIRE_PARTY, "",
                                     out, &ge);
    json_decref(j);
    return rc;
}

/* One row's form into l: decoded and pushed, or its seq noted for redo. */
static int load_one(op_list_t *l, const load_batch_t *b, size_t i) {
    dcf_operation_t *op = NULL;
    const char *p = b->text + b->off[i];
    size_t len = b->off[i + 1] - b->off[i];
    int rc;
    if (b->packed[i]) {
        dcf_geo_limits_t lim;
        stored_limits(&lim);
        rc =
            dcf_operation_unpack(p, len, &lim, DCF_PARSE_REQUIRE_ID | DCF_PARSE_REQUIRE_PARTY, &op);
        if (rc == DCF_EINVAL)
            return op_list_redo(l, b->seq[i]);
    } else {
        rc = op_parse_stored(p, len, &op);
    }
    return rc == DCF_OK ? op_list_push(l, op, b->seq[i], !b->packed[i]) : rc;
}

typedef struct {
    op_loader_t *ld;
    op_list_t *list;
} load_worker_t;

static void *load_worker(void *arg) {
    load_worker_t *w = arg;
    op_loader_t *ld = w->ld;
    for (;;) {
        pthread_mutex_lock(&ld->mu);
        while (ld->head == NULL && !ld->closed)
            pthread_cond_wait(&ld->work_cv, &ld->mu);
        load_batch_t *b = ld->head;
        if (b != NULL) {
            ld->head = b->next;
            if (ld->head == NULL)
                ld->tail = NULL;
            ld->queued--;
            pthread_cond_signal(&ld->room_cv);
        }
        bool stop = ld->rc != DCF_OK;
        pthread_mutex_unlock(&ld->mu);
        if (b == NULL)
            return NULL;
        int rc = DCF_OK;
        for (size_t i = 0; i < b->n && rc == DCF_OK && !stop; i++)
            rc = load_one(w->list, b, i);
        free(b->text);
        free(b);
        if (rc != DCF_OK) {
            pthread_mutex_lock(&ld->mu);
            if (ld->rc == DCF_OK)
                ld->rc = rc;
            pthread_mutex_unlock(&ld->mu);
        }
    }
}

/* Hand the batch being filled to the workers (waits for room). */
static void load_flush(op_loader_t *ld) {
    load_batch_t *b = ld->filling;
    if (b == NULL)
        return;
    ld->filling = NULL;
    pthread_mutex_lock(&ld->mu);
    while (ld->queued >= LOAD_QUEUE)
        pthread_cond_wait(&ld->room_cv, &ld->mu);
    if (ld->tail)
        ld->tail->next = b;
    else
        ld->head = b;
    ld->tail = b;
    ld->queued++;
    pthread_cond_signal(&ld->work_cv);
    pthread_mutex_unlock(&ld->mu);
}

/* Row callback: (seq, prep, body when prep is NULL), one live operation.
 * A row with neither a binary form nor a text here (prep of another type,
 * or no operation row at all) goes to the redo list: after the scan its
 * text is looked up by seq, and a row that has none is left out, which the
 * count check of load_live then repairs. */
static int op_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    op_loader_t *ld = arg;
    load_batch_t *b = ld->filling;
    (void)nc;
    bool packed = c[1].type == DCF_STORE_BLOB;
    const dcf_store_val_t *form = packed ? &c[1] : &c[2];
    if (c[0].type != DCF_STORE_INT)
        return DCF_EINTERNAL;
    ld->rows++;
    if (form->type != DCF_STORE_BLOB && form->type != DCF_STORE_TEXT)
        return op_list_redo(&ld->reader, c[0].u.i);
    if (b == NULL && (b = ld->filling = calloc(1, sizeof *b)) == NULL)
        return DCF_ENOMEM;
    size_t len = form->u.b.len;
    if (b->off[b->n] + len > b->cap) {
        size_t ncap = (b->cap ? b->cap * 2 : 64 * 1024) + len;
        char *nt = realloc(b->text, ncap);
        if (nt == NULL)
            return DCF_ENOMEM;
        b->text = nt;
        b->cap = ncap;
    }
    memcpy(b->text + b->off[b->n], form->u.b.ptr, len);
    b->off[b->n + 1] = b->off[b->n] + len;
    b->seq[b->n] = c[0].u.i;
    b->packed[b->n] = packed;
    if (++b->n == LOAD_BATCH)
        load_flush(ld);
    return 0;
}

typedef struct {
    op_list_t *l;
    int64_t seq;
    int rc;
} redo_t;

static int redo_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    redo_t *r = arg;
    dcf_operation_t *op = NULL;
    (void)nc;
    if (c[0].type != DCF_STORE_TEXT)
        return 0;
    r->rc = op_parse_stored(c[0].u.b.ptr, c[0].u.b.len, &op);
    if (r->rc == DCF_OK)
        r->rc = op_list_push(r->l, op, r->seq, true);
    return 0;
}

/* The seqs of `from` (whose binary form was missing or did not decode),
 * from their live operation's JSON text, into `to`.  A seq that names no
 * live operation is skipped. */
static int load_redo(dcf_service_t *s, const op_list_t *from, op_list_t *to) {
    int rc = DCF_OK;
    for (size_t i = 0; i < from->n_redo && rc == DCF_OK; i++) {
        redo_t r = {to, from->redo[i], DCF_OK};
        dcf_store_val_t k = dcf_store_val_int(from->redo[i]);
        rc = dcf_store_read(s->st,
                            "SELECT body FROM operations WHERE seq = $1 "
                            "AND state IN ('planned', 'active')",
                            &k, 1, redo_row, &r);
        if (rc == DCF_OK)
            rc = r.rc;
    }
    return rc;
}

/* Read and decode every live operation into *ops / *n (caller frees); the
 * last *n_text of them were parsed from their JSON text; *seq_sum is the
 * sum of their seqs (wrapping); *rows counts the op_prep rows read (more
 * than *n when some named no live operation). */
static int load_operations(dcf_service_t *s, dcf_operation_t ***ops, size_t *n, size_t *n_text,
                           uint64_t *seq_sum, size_t *rows) {
    op_loader_t ld = {.mu = PTHREAD_MUTEX_INITIALIZER,
                      .work_cv = PTHREAD_COND_INITIALIZER,
                      .room_cv = PTHREAD_COND_INITIALIZER};
    pthread_t th[LOAD_WORKERS_MAX];
    load_worker_t wk[LOAD_WORKERS_MAX];
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t started = 0, total = 0;
    int rc;

    ld.n_workers = cpus < 1 ? 1 : cpus > LOAD_WORKERS_MAX ? LOAD_WORKERS_MAX : (size_t)cpus;
    for (size_t i = 0; i < ld.n_workers; i++) {
        wk[i] = (load_worker_t){.ld = &ld, .list = &ld.lists[i]};
        if (pthread_create(&th[i], NULL, load_worker, &wk[i]) != 0)
            break;
        started++;
    }
    /* op_prep holds the live operations only (migration 7); the CASE reads
     * an operation's JSON text only when it has no binary form. */
    rc = started == 0 ? DCF_ENOMEM
                      : dcf_store_read(s->st,
                                       "SELECT seq, prep, CASE WHEN prep IS NULL THEN (SELECT "
                                       "body FROM operations o WHERE o.seq = p.seq) END "
                                       "FROM op_prep p",
                                       NULL, 0, op_row, &ld);
    if (rc == DCF_OK)
        load_flush(&ld);
    pthread_mutex_lock(&ld.mu);
    ld.closed = true;
    if (rc != DCF_OK && ld.rc == DCF_OK)
        ld.rc = rc;
    pthread_cond_broadcast(&ld.work_cv);
    pthread_mutex_unlock(&ld.mu);
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (ld.filling != NULL) { /* an error stopped the reading mid-batch */
        free(ld.filling->text);
        free(ld.filling);
    }
    rc = ld.rc;
    for (size_t i = 0; i < ld.n_workers && rc == DCF_OK; i++)
        rc = load_redo(s, &ld.lists[i], &ld.lists[i]);
    if (rc == DCF_OK)
        rc = load_redo(s, &ld.reader, &ld.lists[0]);
    free(ld.reader.redo);
    *n_text = 0;
    *seq_sum = 0;
    *rows = ld.rows;
    for (size_t i = 0; i < ld.n_workers; i++) {
        total += ld.lists[i].n + ld.lists[i].tn;
        *n_text += ld.lists[i].tn;
        *seq_sum += ld.lists[i].seq_sum;
    }
    *ops = rc == DCF_OK ? malloc((total ? total : 1) * sizeof **ops) : NULL;
    if (rc == DCF_OK && *ops == NULL)
        rc = DCF_ENOMEM;
    *n = 0;
    for (int text = 0; text < 2; text++) {
        for (size_t i = 0; i < ld.n_workers; i++) {
            op_list_t *l = &ld.lists[i];
            dcf_operation_t **v = text ? l->tops : l->ops;
            for (size_t k = 0, m = text ? l->tn : l->n; k < m; k++) {
                if (rc == DCF_OK)
                    (*ops)[(*n)++] = v[k];
                else
                    dcf_operation_free(v[k]);
            }
        }
    }
    for (size_t i = 0; i < ld.n_workers; i++) {
        free(ld.lists[i].ops);
        free(ld.lists[i].tops);
        free(ld.lists[i].redo);
    }
    if (rc != DCF_OK)
        *n_text = 0;
    pthread_cond_destroy(&ld.room_cv);
    pthread_cond_destroy(&ld.work_cv);
    pthread_mutex_destroy(&ld.mu);
    return rc;
}

/* op_prep must name exactly the live operations.  The writes keep it so;
 * should it ever differ (a store edited by hand, a bug), a missing row
 * would hide a live operation from every conflict check, and a stale one
 * would make a finished operation conflict.  So start-up compares the count
 * and the sum of the seqs it loaded with those of the live operations (one
 * pass over the covering index operations_live_end, migration 7) and, on a
 * mismatch, or when a row of op_prep named no live operation, rebuilds
 * op_prep's set of rows from the operations table (new
 * rows with no binary form, parsed from their text and then written) and
 * loads again. */
static int reconcile_fn(dcf_store_tx_t *tx, void *arg) {
    int rc;
    (void)arg;
    rc = dcf_store_tx_exec(tx,
                           "DELETE FROM op_prep WHERE seq NOT IN (SELECT seq FROM operations "
                           "WHERE state IN ('planned', 'active'))",
                           NULL, 0, NULL);
    if (rc == DCF_OK)
        rc = dcf_store_tx_exec(tx,
                               "INSERT INTO op_prep (seq, prep) SELECT seq, NULL FROM operations "
                               "WHERE state IN ('planned', 'active') "
                               "AND seq NOT IN (SELECT seq FROM op_prep)",
                               NULL, 0, NULL);
    return rc;
}

static void free_ops(dcf_operation_t **ops, size_t n) {
    for (size_t i = 0; i < n; i++)
        dcf_operation_free(ops[i]);
    free(ops);
}

typedef struct {
    int64_t count;
    uint64_t sum;
} live_sum_t;

static int live_sum_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    live_sum_t *l = arg;
    (void)nc;
    l->count = c[0].u.i;
    l->sum = c[1].type == DCF_STORE_INT ? (uint64_t)c[1].u.i : 0; /* NULL: none */
    return 0;
}

static int load_live(dcf_service_t *s, dcf_operation_t ***ops, size_t *n, size_t *n_text) {
    live_sum_t live = {-1, 0};
    uint64_t sum = 0;
    size_t rows = 0;
    int rc = load_operations(s, ops, n, n_text, &sum, &rows);
    if (rc == DCF_OK)
        rc = dcf_store_read(s->st,
                            "SELECT COUNT(*), SUM(seq) FROM operations "
                            "WHERE state IN ('planned', 'active')",
                            NULL, 0, live_sum_row, &live);
    if (rc != DCF_OK || (live.count == (int64_t)*n && live.sum == sum && rows == *n))
        return rc;
    free_ops(*ops, *n);
    *ops = NULL;
    *n = 0;
    if ((rc = dcf_store_write(s->st, reconcile_fn, NULL)) != DCF_OK)
        return rc;
    return load_operations(s, ops, n, n_text, &sum, &rows);
}

/* Start-up writes the binary form of the operations it had to parse from
 * their JSON text, so that the next start-up decodes them instead: an older
 * store becomes a fast one once.  The body is not touched and nothing is
 * audited (the operations do not change, only how they are stored).
 * BACKFILL_CHUNK rows per transaction. */
#define BACKFILL_CHUNK 4096

typedef struct {
    dcf_operation_t **ops;
    size_t n;
} backfill_t;

static int backfill_fn(dcf_store_tx_t *tx, void *arg) {
    backfill_t *b = arg;
    int rc = DCF_OK;
    for (size_t i = 0; i < b->n && rc == DCF_OK; i++) {
        unsigned char *p = NULL;
        size_t len = 0;
        if ((rc = dcf_operation_pack(b->ops[i], &p, &len)) != DCF_OK)
            break;
        dcf_store_val_t v[2] = {dcf_store_val_text(b->ops[i]->id, strlen(b->ops[i]->id)),
                                dcf_store_val_blob(p, len)};
        rc = dcf_store_tx_exec(tx,
                               "UPDATE op_prep SET prep = $2 "
                               "WHERE seq = (SELECT seq FROM operations WHERE id = $1)",
                               v, 2, NULL);
        free(p);
    }
    return rc;
}

static int backfill_prep(dcf_service_t *s, dcf_operation_t **ops, size_t n) {
    int rc = DCF_OK;
    for (size_t at = 0; at < n && rc == DCF_OK; at += BACKFILL_CHUNK) {
        backfill_t b = {ops + at, n - at < BACKFILL_CHUNK ? n - at : BACKFILL_CHUNK};
        rc = dcf_store_write(s->st, backfill_fn, &b);
    }
    return rc;
}

static int load_rules(dcf_service_t *s, char *err, size_t errlen) {
    json_error_t je;
    dcf_geo_error_t ge;
    int rc;
    if (s->o.rules_path == NULL || s->o.rules_path[0] == '\0') {
        /* Built-in default: 1 km, 150 m, no time buffer. */
        dcf_sep_t def = {.horizontal_m = 1000.0, .vertical_m = 150.0, .time_us = 0};
        return dcf_rules_new(&def, &s->rules);
    }
    json_t *j = json_load_file(s->o.rules_path, 0, &je);
    if (j == NULL) {
        snprintf(err, errlen, "%s: %s", s->o.rules_path, je.text);
        return DCF_EINVAL;
    }
    rc = dcf_rules_from_json(j, &s->rules, &ge);
    s->rules_json = j; /* kept for the audit log's record of the configuration */
    if (rc != DCF_OK)
        snprintf(err, errlen, "%s: %s: %s", s->o.rules_path, ge.pointer[0] ? ge.pointer : "/",
                 ge.rule);
    return rc;
}

int dcf_service_open(const dcf_service_opts_t *opts, dcf_service_t **out, char *err,
                     size_t errlen) {
    dcf_service_t *s = calloc(1, sizeof *s);
    load_t l = {0};
    int rc = DCF_ENOMEM;
    bool locks = false;

    if (s == NULL || sodium_init() < 0)
        goto fail_early;
    s->o = *opts;
    if (pthread_rwlock_init(&s->eng_lock, NULL) != 0)
        goto fail_early;
    pthread_mutex_init(&s->readers_lock, NULL);
    pthread_mutex_init(&s->cache_lock, NULL);
    pthread_mutex_init(&s->audit.mu, NULL);
    pthread_mutex_init(&s->pending_lock, NULL);
    pthread_mutex_init(&s->tick_lock, NULL);
    pthread_rwlock_init(&s->ev_lock, NULL);
    locks = true;
    l.s = s;
    if ((rc = dcf_strmap_new(&s->parties)) != DCF_OK ||
        (rc = dcf_strmap_new(&s->tokens_by_hash)) != DCF_OK ||
        (rc = dcf_strmap_new(&s->tokens_by_id)) != DCF_OK ||
        (rc = dcf_strmap_new(&s->pending)) != DCF_OK) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if ((rc = load_rules(s, err, errlen)) != DCF_OK)
        goto fail;
    if ((rc = dcf_engine_new(s->rules, NULL, &s->eng)) != DCF_OK) {
        snprintf(err, errlen, "engine: %s", dcf_strerror(rc));
        goto fail;
    }
    s->o.store.on_batch = events_batch_done;
    s->o.store.on_batch_arg = s;
    rc = dcf_store_open(&s->o.store, dcf_service_migrations, dcf_service_n_migrations, &s->st);
    if (rc != DCF_OK) {
        snprintf(err, errlen, "cannot open the store %s: %s", s->o.store.uri, dcf_strerror(rc));
        goto fail;
    }
#define LOAD(sql, fn)                                                                              \
    do {                                                                                           \
        rc = dcf_store_read(s->st, sql, NULL, 0, fn, &l);                                          \
        if (rc == DCF_OK)                                                                          \
            rc = l.rc;                                                                             \
        if (rc != DCF_OK) {                                                                        \
            snprintf(err, errlen, "loading the store (%s): %s", #fn, dcf_strerror(rc));            \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)
    /* Each party's last event seq, one index probe per party (a GROUP BY
     * would read the whole events index). */
    LOAD("SELECT id, name, tag, created_at, "
         "(SELECT MAX(seq) FROM events e WHERE e.party = p.id) FROM parties p ORDER BY tag",
         party_row);
    LOAD("SELECT party, level, contact, updated_at FROM desks", desk_row);
    LOAD("SELECT id, party, role, hash, revoked_at FROM tokens", token_row);
#undef LOAD
    if ((rc = svc_audit_open(s, err, errlen)) != DCF_OK)
        goto fail;
    size_t n_text = 0;
    if ((rc = load_live(s, &l.ops, &l.n, &n_text)) != DCF_OK) {
        snprintf(err, errlen, "loading the operations: %s", dcf_strerror(rc));
        goto fail;
    }
    s->loaded_from_text = n_text;
    if (n_text > 0 && (rc = backfill_prep(s, l.ops + (l.n - n_text), n_text)) != DCF_OK) {
        snprintf(err, errlen, "writing the binary form of %zu operations: %s", n_text,
                 dcf_strerror(rc));
        goto fail;
    }
    {
        int64_t v = 0;
        dcf_store_read(s->st, "SELECT MAX(seq) FROM operations", NULL, 0, svc_int_row, &v);
        s->op_seq = v;
        v = 0;
        dcf_store_read(s->st, "SELECT MAX(seq) FROM conflicts", NULL, 0, svc_int_row, &v);
        s->conflict_seq = v;
        v = 0;
        /* All rows minus the resolved ones: both counts read an index
         * (migration 7), where the state test would read the table. */
        dcf_store_read(s->st,
                       "SELECT (SELECT COUNT(*) FROM conflicts) - "
                       "(SELECT COUNT(*) FROM conflicts WHERE state = 'resolved')",
                       NULL, 0, svc_int_row, &v);
        atomic_store(&s->open_conflicts, (size_t)v);
    }
    if ((rc = dcf_engine_add_bulk(s->eng, l.ops, l.n)) != DCF_OK) {
        snprintf(err, errlen, "loading %zu operations into the engine: %s", l.n, dcf_strerror(rc));
        goto fail;
    }
    free(l.ops);
    l.ops = NULL;
    l.n = 0;
    if ((rc = svc_sessions_open(s)) != DCF_OK) {
        snprintf(err, errlen, "loading the console sessions: %s", dcf_strerror(rc));
        goto fail;
    }
    if ((rc = svc_hotline_open(s)) != DCF_OK) {
        snprintf(err, errlen, "loading the hotline: %s", dcf_strerror(rc));
        goto fail;
    }
    if ((rc = svc_audit_config(s)) != DCF_OK) {
        snprintf(err, errlen, "recording the configuration in the audit log: %s", dcf_strerror(rc));
        goto fail;
    }
    *out = s;
    return DCF_OK;
fail:
    free_ops(l.ops, l.n);
    dcf_service_close(s);
    return rc;
fail_early:
    if (s != NULL && locks)
        dcf_service_close(s);
    else
        free(s);
    snprintf(err, errlen, "out of memory");
    return DCF_ENOMEM;
}

/* The pending-delivery set's values are its own keys (message.c). */
static void pending_free(void *arg, const char *key, void *value) {
    (void)arg;
    (void)key;
    free(value);
}

void dcf_service_close(dcf_service_t *s) {
    if (s == NULL)
        return;
    dcf_store_close(s->st);
    for (size_t i = 0; i < s->n_readers; i++)
        dcf_engine_reader_free(s->readers[i]);
    dcf_engine_free(s->eng);
    dcf_rules_free(s->rules);
    for (size_t i = 0; i < s->n_parties; i++) {
        ring_free(s->party_list[i]->ring);
        json_decref(s->party_list[i]->desks);
        free(s->party_list[i]);
    }
    free(s->party_list);
    for (size_t i = 0; i < s->n_tokens; i++)
        free(s->token_list[i]);
    free(s->token_list);
    dcf_strmap_free(s->parties);
    dcf_strmap_free(s->tokens_by_hash);
    dcf_strmap_free(s->tokens_by_id);
    svc_sessions_close(s);
    dcf_strmap_each(s->pending, pending_free, NULL);
    dcf_strmap_free(s->pending);
    pthread_mutex_destroy(&s->pending_lock);
    pthread_mutex_destroy(&s->tick_lock);
    pthread_rwlock_destroy(&s->ev_lock);
    svc_events_unstage(s, 0);
    free(s->staged);
    pthread_rwlock_destroy(&s->eng_lock);
    pthread_mutex_destroy(&s->readers_lock);
    pthread_mutex_destroy(&s->cache_lock);
    svc_audit_close(&s->audit);
    pthread_mutex_destroy(&s->audit.mu);
    json_decref(s->rules_json);
    free(s);
}

size_t dcf_service_live_operations(dcf_service_t *s) {
    pthread_rwlock_rdlock(&s->eng_lock);
    size_t n = dcf_engine_count(s->eng);
    pthread_rwlock_unlock(&s->eng_lock);
    return n;
}

size_t dcf_service_loaded_from_text(dcf_service_t *s) {
    return s->loaded_from_text;
}

size_t dcf_service_open_conflicts(dcf_service_t *s) {
    return atomic_load(&s->open_conflicts);
}

void dcf_service_store_stats(dcf_service_t *s, dcf_store_stats_t *out) {
    dcf_store_stats(s->st, out);
}
