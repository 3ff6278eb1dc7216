/*
 * engine.c -- live operations, the index over their volumes, and conflict
 * queries (index filter, then exact test).
 *
 * DATA.  `ops` is a dense array of operation records (swap-remove), `by_id`
 * maps an id to its record, `vrefs[key]` maps an index key to (record,
 * volume number).  Each record remembers the index key of each of its
 * volumes so it can remove them.  Party slugs are interned into small
 * integers (`parties`), the form the index stores.
 *
 * HOW A QUERY WORKS.  For each volume of the queried operation, the index is
 * asked for every entry of another party whose box meets the volume's box
 * grown by the widest minima that could apply to it: the rule table's
 * maximum for the operation's kind, raised by the separation the operation
 * asks for and by the largest separation any stored operation asks for
 * (`max_req`, which only grows; a stale larger value costs candidates, never
 * answers).  Each candidate then gets the exact test under the pair's own
 * effective minima.  Results are merged per other operation through a
 * per-record accumulator slot stamped with a query generation, so merging is
 * O(1) per candidate and needs no clearing between queries.
 *
 * INVARIANTS.  For every live record r and volume i, vrefs[r->keys[i]] names
 * (r, i); every key in vrefs that is not live has rec == NULL.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "deconflict/engine.h"

#define ENGINE_MAX_PARTIES 65536u

typedef struct oprec {
    dcf_operation_t *op;
    uint32_t party;
    uint32_t pos;    /* index in e->ops */
    uint32_t keys[]; /* one index key per volume */
} oprec_t;

typedef struct {
    oprec_t *rec;
    uint32_t vol;
} vref_t;

/* A checking context: everything a query mutates, so that several threads
 * can check at once (each with its own reader).  `acc` holds the query's
 * conflicts, one per other operation; `slots` is an open-addressing table
 * from an other operation's record to its acc entry (linear probing, at
 * most half full), cleared after every query through `acc_slot`. */
struct dcf_engine_reader_s {
    dcf_engine_t *e;
    dcf_index_reader_t *rd;
    dcf_geo_ctx_t *geo;
    dcf_conflict_t *acc;
    size_t *acc_slot; /* acc[i]'s slot in `slots` */
    size_t n_acc, cap_acc, cap_acc_slot;
    const oprec_t **slot_rec;
    uint32_t *slot_idx;
    size_t cap_slots; /* a power of two */
};

struct dcf_engine_s {
    const dcf_rules_t *rules;
    dcf_index_t *idx;
    dcf_engine_reader_t *main; /* used by dcf_engine_check / all_conflicts */
    dcf_strmap_t *by_id;
    dcf_strmap_t *party_ids;
    char **parties; /* interned slugs, index = party id */
    size_t n_parties;
    oprec_t **ops;
    size_t n_ops, cap_ops;
    vref_t *vrefs;
    size_t cap_vrefs;
    dcf_sep_t max_req; /* component-wise max of every stored op's min_sep */
};

static void sep_max(dcf_sep_t *into, const dcf_sep_t *s) {
    if (s->horizontal_m > into->horizontal_m)
        into->horizontal_m = s->horizontal_m;
    if (s->vertical_m > into->vertical_m)
        into->vertical_m = s->vertical_m;
    if (s->time_us > into->time_us)
        into->time_us = s->time_us;
}

int dcf_engine_new(const dcf_rules_t *rules, const dcf_index_opts_t *iopts, dcf_engine_t **out) {
    dcf_engine_t *e = calloc(1, sizeof *e);
    int rc = DCF_ENOMEM;
    if (e == NULL)
        return DCF_ENOMEM;
    e->rules = rules;
    if ((rc = dcf_index_new(iopts, &e->idx)) != DCF_OK)
        goto fail;
    if ((rc = dcf_engine_reader_new(e, &e->main)) != DCF_OK)
        goto fail;
    if ((rc = dcf_strmap_new(&e->by_id)) != DCF_OK)
        goto fail;
    if ((rc = dcf_strmap_new(&e->party_ids)) != DCF_OK)
        goto fail;
    *out = e;
    return DCF_OK;
fail:
    dcf_engine_free(e);
    return rc;
}

void dcf_engine_free(dcf_engine_t *e) {
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->n_ops; i++) {
        dcf_operation_free(e->ops[i]->op);
        free(e->ops[i]);
    }
    for (size_t i = 0; i < e->n_parties; i++)
        free(e->parties[i]);
    free(e->parties);
    free(e->ops);
    free(e->vrefs);
    dcf_strmap_free(e->party_ids);
    dcf_strmap_free(e->by_id);
    dcf_engine_reader_free(e->main);
    dcf_index_free(e->idx);
    free(e);
}

/* Party id for `slug`, interning it when `create`; UINT32_MAX when absent. */
static int party_id(dcf_engine_t *e, const char *slug, bool create, uint32_t *out) {
    void *v = dcf_strmap_get(e->party_ids, slug);
    char *copy = NULL;
    char **np;
    int rc;
    if (v != NULL) {
        *out = (uint32_t)((uintptr_t)v - 1);
        return DCF_OK;
    }
    if (!create) {
        *out = UINT32_MAX;
        return DCF_OK;
    }
    if (e->n_parties >= ENGINE_MAX_PARTIES)
        return DCF_ELIMIT;
    copy = strdup(slug);
    np = realloc(e->parties, (e->n_parties + 1) * sizeof *np);
    if (copy == NULL || np == NULL) {
        free(copy);
        if (np != NULL)
            e->parties = np;
        return DCF_ENOMEM;
    }
    e->parties = np;
    rc = dcf_strmap_put(e->party_ids, copy, (void *)(uintptr_t)(e->n_parties + 1));
    if (rc != DCF_OK) {
        free(copy);
        return rc;
    }
    e->parties[e->n_parties] = copy;
    *out = (uint32_t)e->n_parties++;
    return DCF_OK;
}

static oprec_t *rec_new(dcf_operation_t *op, uint32_t party) {
    oprec_t *r = calloc(1, sizeof *r + op->n_volumes * sizeof r->keys[0]);
    if (r != NULL) {
        r->op = op;
        r->party = party;
    }
    return r;
}

/* Link a record whose keys are set into ops, by_id and vrefs.  Capacity for
 * ops and vrefs must already be reserved; only the map insert can fail. */
static int rec_link(dcf_engine_t *e, oprec_t *r) {
    int rc = dcf_strmap_put(e->by_id, r->op->id, r);
    if (rc != DCF_OK)
        return rc;
    r->pos = (uint32_t)e->n_ops;
    e->ops[e->n_ops++] = r;
    for (uint32_t i = 0; i < r->op->n_volumes; i++)
        e->vrefs[r->keys[i]] = (vref_t){.rec = r, .vol = i};
    sep_max(&e->max_req, &r->op->min_sep);
    return DCF_OK;
}

static uint32_t max_key(const oprec_t *r) {
    uint32_t m = 0;
    for (size_t i = 0; i < r->op->n_volumes; i++)
        if (r->keys[i] > m)
            m = r->keys[i];
    return m;
}

int dcf_engine_add(dcf_engine_t *e, dcf_operation_t *op) {
    oprec_t *r = NULL;
    size_t inserted = 0;
    int rc;
    if (dcf_strmap_get(e->by_id, op->id) != NULL)
        return DCF_EEXIST;
    if (op->n_volumes == 0)
        return DCF_EINVAL;
    uint32_t party;
    if ((rc = party_id(e, op->party, true, &party)) != DCF_OK)
        return rc;
    if ((r = rec_new(op, party)) == NULL)
        return DCF_ENOMEM;
    if ((rc = dcf_array_reserve((void **)&e->ops, &e->cap_ops, e->n_ops + 1, sizeof *e->ops)) !=
        DCF_OK)
        goto fail;
    for (; inserted < op->n_volumes; inserted++) {
        dcf_box_t box;
        dcf_index_box_make(&op->volumes[inserted], NULL, &box);
        if ((rc = dcf_index_insert(e->idx, &box, party, &r->keys[inserted])) != DCF_OK)
            goto fail;
    }
    rc = dcf_array_reserve((void **)&e->vrefs, &e->cap_vrefs, (size_t)max_key(r) + 1,
                           sizeof *e->vrefs);
    if (rc != DCF_OK)
        goto fail;
    if ((rc = rec_link(e, r)) != DCF_OK)
        goto fail;
    return DCF_OK;
fail:
    while (inserted > 0)
        dcf_index_remove(e->idx, r->keys[--inserted]);
    free(r);
    return rc;
}

/* The by_id half of a bulk add, run beside the index's bulk load (start-up
 * spends about a third of this function in the map): insert each record,
 * refusing an id already present, in the engine or earlier in the batch.
 * `done` is how many were inserted, for the undo. */
typedef struct {
    dcf_engine_t *e;
    oprec_t **recs;
    size_t n, done;
    int rc;
} bulk_ids_t;

static void *bulk_ids(void *arg) {
    bulk_ids_t *b = arg;
    b->rc = dcf_strmap_reserve(b->e->by_id, dcf_strmap_count(b->e->by_id) + b->n);
    for (; b->rc == DCF_OK && b->done < b->n; b->done++) {
        oprec_t *r = b->recs[b->done];
        if ((b->rc = dcf_strmap_add(b->e->by_id, r->op->id, r)) != DCF_OK)
            break;
    }
    return NULL;
}

int dcf_engine_add_bulk(dcf_engine_t *e, dcf_operation_t **ops, size_t n) {
    size_t nvol = 0;
    dcf_box_t *boxes = NULL;
    uint32_t *parties = NULL, *keys = NULL;
    oprec_t **recs = NULL;
    bulk_ids_t ids = {.e = e, .rc = DCF_OK};
    pthread_t th;
    bool threaded = false, indexed = false;
    int rc = DCF_ENOMEM;

    for (size_t i = 0; i < n; i++) {
        if (ops[i]->n_volumes == 0)
            return DCF_EINVAL;
        nvol += ops[i]->n_volumes;
    }
    if (nvol > UINT32_MAX / 2)
        return DCF_ELIMIT;
    boxes = malloc((nvol ? nvol : 1) * sizeof *boxes);
    parties = malloc((nvol ? nvol : 1) * sizeof *parties);
    keys = malloc((nvol ? nvol : 1) * sizeof *keys);
    recs = calloc(n ? n : 1, sizeof *recs);
    if (boxes == NULL || parties == NULL || keys == NULL || recs == NULL)
        goto out;
    for (size_t i = 0; i < n; i++)
        if ((recs[i] = rec_new(ops[i], 0)) == NULL)
            goto out;
    rc = dcf_array_reserve((void **)&e->ops, &e->cap_ops, e->n_ops + n, sizeof *e->ops);
    if (rc != DCF_OK)
        goto out;
    /* The map on a second thread; the parties, boxes and index on this
     * one.  The map reads only each record's op, which nothing here
     * changes; ids.rc is read only after the join.  Without a thread, the
     * map goes first. */
    ids.recs = recs;
    ids.n = n;
    threaded = pthread_create(&th, NULL, bulk_ids, &ids) == 0;
    if (!threaded)
        bulk_ids(&ids);
    for (size_t i = 0, k = 0; rc == DCF_OK && i < n; i++) {
        if ((rc = party_id(e, ops[i]->party, true, &recs[i]->party)) != DCF_OK)
            break;
        for (size_t v = 0; v < ops[i]->n_volumes; v++, k++) {
            dcf_index_box_make(&ops[i]->volumes[v], NULL, &boxes[k]);
            parties[k] = recs[i]->party;
        }
    }
    if (rc == DCF_OK && (rc = dcf_index_bulk_load(e->idx, boxes, parties, nvol, keys)) == DCF_OK)
        indexed = true;
    if (threaded)
        pthread_join(th, NULL);
    if (rc == DCF_OK)
        rc = ids.rc;
    uint32_t kmax = 0;
    for (size_t k = 0; rc == DCF_OK && k < nvol; k++)
        if (keys[k] > kmax)
            kmax = keys[k];
    if (rc == DCF_OK)
        rc = dcf_array_reserve((void **)&e->vrefs, &e->cap_vrefs, (size_t)kmax + 1,
                               sizeof *e->vrefs);
    if (rc != DCF_OK) {
        /* Undo: every id inserted, every key the bulk load gave. */
        for (size_t i = 0; i < ids.done; i++)
            dcf_strmap_del(e->by_id, recs[i]->op->id);
        for (size_t k = 0; indexed && k < nvol; k++)
            dcf_index_remove(e->idx, keys[k]);
        goto out;
    }
    /* Nothing can fail from here on. */
    for (size_t i = 0, k = 0; i < n; i++) {
        oprec_t *r = recs[i];
        for (size_t v = 0; v < ops[i]->n_volumes; v++, k++) {
            r->keys[v] = keys[k];
            e->vrefs[keys[k]] = (vref_t){.rec = r, .vol = (uint32_t)v};
        }
        r->pos = (uint32_t)e->n_ops;
        e->ops[e->n_ops++] = r;
        sep_max(&e->max_req, &r->op->min_sep);
    }
out:
    if (rc != DCF_OK && recs != NULL)
        for (size_t i = 0; i < n; i++)
            free(recs[i]);
    free(recs);
    free(keys);
    free(parties);
    free(boxes);
    return rc;
}

int dcf_engine_remove(dcf_engine_t *e, const char *id) {
    oprec_t *r = dcf_strmap_get(e->by_id, id);
    if (r == NULL)
        return DCF_ENOENT;
    for (size_t i = 0; i < r->op->n_volumes; i++) {
        int rc = dcf_index_remove(e->idx, r->keys[i]);
        if (rc != DCF_OK)
            dcf_panic("index lost key %u of operation %s: %s", r->keys[i], id, dcf_strerror(rc));
        e->vrefs[r->keys[i]].rec = NULL;
    }
    dcf_strmap_del(e->by_id, r->op->id);
    e->ops[r->pos] = e->ops[--e->n_ops];
    e->ops[r->pos]->pos = r->pos;
    dcf_operation_free(r->op);
    free(r);
    return DCF_OK;
}

const dcf_operation_t *dcf_engine_get(const dcf_engine_t *e, const char *id) {
    oprec_t *r = dcf_strmap_get(e->by_id, id);
    return r != NULL ? r->op : NULL;
}

size_t dcf_engine_count(const dcf_engine_t *e) {
    return e->n_ops;
}

/* ------------------------------------------------------------- queries -- */

int dcf_engine_reader_new(dcf_engine_t *e, dcf_engine_reader_t **out) {
    dcf_engine_reader_t *r = calloc(1, sizeof *r);
    int rc = DCF_ENOMEM;
    if (r == NULL)
        return DCF_ENOMEM;
    r->e = e;
    if ((rc = dcf_index_reader_new(e->idx, &r->rd)) != DCF_OK)
        goto fail;
    if ((rc = dcf_geo_ctx_new(&r->geo)) != DCF_OK)
        goto fail;
    r->cap_slots = 64;
    r->slot_rec = calloc(r->cap_slots, sizeof *r->slot_rec);
    r->slot_idx = calloc(r->cap_slots, sizeof *r->slot_idx);
    if (r->slot_rec == NULL || r->slot_idx == NULL) {
        rc = DCF_ENOMEM;
        goto fail;
    }
    *out = r;
    return DCF_OK;
fail:
    dcf_engine_reader_free(r);
    return rc;
}

void dcf_engine_reader_free(dcf_engine_reader_t *r) {
    if (r == NULL)
        return;
    if (r->rd != NULL)
        dcf_index_reader_free(r->rd);
    dcf_geo_ctx_free(r->geo);
    free(r->acc);
    free(r->acc_slot);
    free(r->slot_rec);
    free(r->slot_idx);
    free(r);
}

typedef struct {
    dcf_engine_reader_t *r;
    const dcf_operation_t *op;
    const dcf_volume_t *vol;
    const oprec_t *self; /* op's own record when it is stored, else NULL */
    bool only_greater;   /* all-pairs mode: keep b only when b.id > a.id */
    int rc;
} qctx_t;

static void bbox_union(dcf_bbox_t *into, const dcf_bbox_t *b) {
    if (b->lat_lo < into->lat_lo)
        into->lat_lo = b->lat_lo;
    if (b->lat_hi > into->lat_hi)
        into->lat_hi = b->lat_hi;
    /* Longitude: union of two arcs; fall back to the whole circle when the
     * arcs wrap in different ways (rare; conservative). */
    bool wa = into->lng_lo > into->lng_hi, wb = b->lng_lo > b->lng_hi;
    if (!wa && !wb) {
        if (b->lng_lo < into->lng_lo)
            into->lng_lo = b->lng_lo;
        if (b->lng_hi > into->lng_hi)
            into->lng_hi = b->lng_hi;
    } else if (into->lng_lo != b->lng_lo || into->lng_hi != b->lng_hi) {
        into->lng_lo = -180.0;
        into->lng_hi = 180.0;
    }
}

static void merge(dcf_conflict_t *c, const dcf_overlap_t *ov, const dcf_sep_t *sep) {
    if (c->volume_pairs == 0) {
        c->overlap = *ov;
        c->sep = *sep;
    } else {
        if (ov->t_start < c->overlap.t_start)
            c->overlap.t_start = ov->t_start;
        if (ov->t_end > c->overlap.t_end)
            c->overlap.t_end = ov->t_end;
        if (ov->alt_lo < c->overlap.alt_lo)
            c->overlap.alt_lo = ov->alt_lo;
        if (ov->alt_hi > c->overlap.alt_hi)
            c->overlap.alt_hi = ov->alt_hi;
        if (ov->distance_m < c->overlap.distance_m)
            c->overlap.distance_m = ov->distance_m;
        bbox_union(&c->overlap.region, &ov->region);
        sep_max(&c->sep, sep);
    }
    c->volume_pairs++;
}

static size_t slot_hash(const oprec_t *rec, size_t cap) {
    uint64_t h = (uint64_t)(uintptr_t)rec * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 32) & (cap - 1);
}

/* Double the slot table (it is empty of stale keys: only live acc entries). */
static int slots_grow(dcf_engine_reader_t *r) {
    size_t ncap = r->cap_slots * 2;
    const oprec_t **nrec = calloc(ncap, sizeof *nrec);
    uint32_t *nidx = calloc(ncap, sizeof *nidx);
    if (nrec == NULL || nidx == NULL) {
        free(nrec);
        free(nidx);
        return DCF_ENOMEM;
    }
    for (size_t i = 0; i < r->cap_slots; i++) {
        if (r->slot_rec[i] == NULL)
            continue;
        size_t s = slot_hash(r->slot_rec[i], ncap);
        while (nrec[s] != NULL)
            s = (s + 1) & (ncap - 1);
        nrec[s] = r->slot_rec[i];
        nidx[s] = r->slot_idx[i];
        r->acc_slot[r->slot_idx[i]] = s;
    }
    free(r->slot_rec);
    free(r->slot_idx);
    r->slot_rec = nrec;
    r->slot_idx = nidx;
    r->cap_slots = ncap;
    return DCF_OK;
}

/* The acc entry for `b`, creating it when the query meets b first. */
static dcf_conflict_t *acc_for(dcf_engine_reader_t *r, const dcf_operation_t *a, const oprec_t *b) {
    size_t s = slot_hash(b, r->cap_slots);
    while (r->slot_rec[s] != NULL) {
        if (r->slot_rec[s] == b)
            return &r->acc[r->slot_idx[s]];
        s = (s + 1) & (r->cap_slots - 1);
    }
    if (dcf_array_reserve((void **)&r->acc, &r->cap_acc, r->n_acc + 1, sizeof *r->acc) != DCF_OK ||
        dcf_array_reserve((void **)&r->acc_slot, &r->cap_acc_slot, r->n_acc + 1,
                          sizeof *r->acc_slot) != DCF_OK)
        return NULL;
    r->slot_rec[s] = b;
    r->slot_idx[s] = (uint32_t)r->n_acc;
    r->acc_slot[r->n_acc] = s;
    r->acc[r->n_acc] = (dcf_conflict_t){.a = a, .b = b->op};
    dcf_conflict_t *c = &r->acc[r->n_acc++];
    if (2 * (r->n_acc + 1) > r->cap_slots && slots_grow(r) != DCF_OK)
        return NULL;
    return c;
}

static int on_candidate(void *arg, uint32_t key) {
    qctx_t *q = arg;
    dcf_engine_t *e = q->r->e;
    vref_t *vr = &e->vrefs[key];
    oprec_t *b = vr->rec;
    dcf_conflict_t *c;
    dcf_sep_t sep;
    dcf_overlap_t ov;
    bool hit = false;
    int rc;

    /* The index already left out the query's own party (by interned id). */
    if (b == NULL || b == q->self)
        return 0;
    if (q->only_greater && strcmp(b->op->id, q->op->id) <= 0)
        return 0;
    dcf_rules_effective(e->rules, q->op, b->op, &sep);
    rc = dcf_volume_conflict(q->r->geo, q->vol, &b->op->volumes[vr->vol], &sep, &hit, &ov);
    if (rc != DCF_OK) {
        q->rc = rc;
        return 1;
    }
    if (!hit)
        return 0;
    if ((c = acc_for(q->r, q->op, b)) == NULL) {
        q->rc = DCF_ENOMEM;
        return 1;
    }
    merge(c, &ov, &sep);
    return 0;
}

static int check_one(dcf_engine_reader_t *r, const dcf_operation_t *op, bool only_greater,
                     dcf_conflict_cb cb, void *arg) {
    dcf_engine_t *e = r->e;
    qctx_t q = {.r = r, .op = op, .only_greater = only_greater};
    dcf_sep_t qsep;
    uint32_t party;
    int rc = DCF_OK;

    q.self = dcf_strmap_get(e->by_id, op->id);
    if (q.self != NULL && q.self->op != op)
        q.self = NULL; /* a different operation with the same id: compare it */
    if ((rc = party_id(e, op->party, false, &party)) != DCF_OK)
        return rc;
    dcf_rules_max_for_kind(e->rules, op->kind, &qsep);
    sep_max(&qsep, &op->min_sep);
    sep_max(&qsep, &e->max_req);

    r->n_acc = 0;
    for (size_t v = 0; v < op->n_volumes && rc == DCF_OK; v++) {
        dcf_box_t box;
        q.vol = &op->volumes[v];
        dcf_index_box_make(q.vol, &qsep, &box);
        rc = dcf_index_query(r->rd, &box, party, on_candidate, &q, NULL);
        if (q.rc != DCF_OK)
            rc = q.rc;
    }
    for (size_t i = 0; i < r->n_acc && rc == DCF_OK; i++)
        rc = cb(arg, &r->acc[i]);
    /* Leave the slot table empty for the next query. */
    for (size_t i = 0; i < r->n_acc; i++)
        r->slot_rec[r->acc_slot[i]] = NULL;
    r->n_acc = 0;
    return rc;
}

int dcf_engine_reader_check(dcf_engine_reader_t *r, const dcf_operation_t *op, dcf_conflict_cb cb,
                            void *arg) {
    return check_one(r, op, false, cb, arg);
}

int dcf_engine_check(dcf_engine_t *e, const dcf_operation_t *op, dcf_conflict_cb cb, void *arg) {
    return check_one(e->main, op, false, cb, arg);
}

int dcf_engine_all_conflicts(dcf_engine_t *e, dcf_conflict_cb cb, void *arg) {
    for (size_t i = 0; i < e->n_ops; i++) {
        int rc = check_one(e->main, e->ops[i]->op, true, cb, arg);
        if (rc != DCF_OK)
            return rc;
    }
    return DCF_OK;
}
