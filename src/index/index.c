/*
 * index.c -- the index's writer side: keys, the write buffer, LSM levels of
 * packed runs, version publication and safe reclamation.
 *
 * WORKLOAD.  Up to ~10^7 volumes over a horizon of weeks, read far more often
 * than written.  A read must cost about a microsecond at 10^6 entries; a write
 * a few microseconds amortised.  The design follows (see
 * docs/internals/index.md for figures):
 *
 *   insert   append to the write buffer (the delta) and publish its count.
 *            When the delta is full it is merged with levels 0..k into one
 *            new packed run on level k, the smallest level that can hold the
 *            merged entries once the levels below were absorbed (leveling,
 *            size ratio IDX_LEVEL_RATIO).  Each entry is rewritten about
 *            ratio/2 times per level over its life.
 *   remove   set the key's dead bit.  Dead entries stay in their run until a
 *            merge drops them; when they pass a quarter of the live entries
 *            everything is compacted into one run.
 *   update   remove + insert; the entry gets a new key.
 *
 * VERSIONS AND RECLAMATION.  Readers reach everything through the current
 * version (idx->cur).  A writer that changes the set of runs, the delta or
 * the dead bitmap builds a new version off to the side and publishes it with
 * one seq_cst pointer store; the old version is appended to the retired FIFO
 * together with the objects the new version no longer uses ("garbage") and
 * the keys whose dead entries the merge dropped.  reclaim() frees retired
 * versions from the oldest while no reader hazard slot holds them: freeing
 * only a prefix of the FIFO guarantees that every version that could still
 * reference a garbage object is gone.  Dropped keys go back to the free stack
 * at that moment, never earlier, so a reader never sees a recycled key on an
 * old entry.
 *
 * ERRORS.  Every operation does all its allocations before it changes any
 * state, so DCF_ENOMEM (and every other error) leaves the index as it was.
 * Remove never allocates: the opportunistic compaction it may start is
 * dropped silently if memory runs out.
 *
 * THREADS.  Everything here runs on the one writer thread (the caller
 * serialises writers), except dcf__index_alloc accounting, which is also
 * writer-only.  Readers live in query.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "index/index_int.h"

/* ---------------------------------------------------------- allocation -- */

void dcf__index_fail_after(dcf_index_t *idx, long n) {
    idx->fail_after = n;
}

/* Blocks at least this large are placed on transparent huge pages where
 * the system offers them: a merge writes tens of megabytes of fresh memory,
 * and on virtual machines a 4 KiB page fault costs microseconds. */
#define IDX_HUGE ((size_t)2 << 20)

void *dcf__index_alloc(dcf_index_t *idx, size_t n) {
    if (idx->fail_after >= 0 && idx->fail_after-- == 0)
        return NULL;
    size_t align = n >= IDX_HUGE ? IDX_HUGE : 64;
    size_t rounded = (n + align - 1) & ~(align - 1);
    void *p = aligned_alloc(align, rounded ? rounded : align);
    if (p == NULL)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (align == IDX_HUGE)
        (void)madvise(p, rounded, MADV_HUGEPAGE); /* advice only */
#endif
    idx->bytes += n;
    return p;
}

void dcf__index_release(dcf_index_t *idx, void *p, size_t n) {
    if (p == NULL)
        return;
    idx->bytes -= n;
    free(p);
}

/* Grow a writer-only array to hold at least `need` elements of `size` bytes;
 * contents are kept and new bytes set to `fill`.  Leaves it untouched on
 * failure. */
static int grow(dcf_index_t *idx, void **arr, size_t *cap, size_t need, size_t size, int fill) {
    if (need <= *cap)
        return DCF_OK;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need)
        ncap += ncap / 2;
    void *p = dcf__index_alloc(idx, ncap * size);
    if (p == NULL)
        return DCF_ENOMEM;
    if (*cap)
        memcpy(p, *arr, *cap * size);
    memset((char *)p + *cap * size, fill, (ncap - *cap) * size);
    dcf__index_release(idx, *arr, *cap * size);
    *arr = p;
    *cap = ncap;
    return DCF_OK;
}

/* -------------------------------------------------------------- pieces -- */

static idx_delta_t *delta_new(dcf_index_t *idx) {
    idx_delta_t *d = dcf__index_alloc(idx, sizeof *d);
    if (d == NULL)
        return NULL;
    d->cap = idx->delta_cap;
    d->bytes = (size_t)IDX_LEAF_FIELDS * d->cap * 4;
    d->arr = dcf__index_alloc(idx, d->bytes);
    if (d->arr == NULL) {
        dcf__index_release(idx, d, sizeof *d);
        return NULL;
    }
    atomic_init(&d->count, 0);
    return d;
}

static void delta_free(dcf_index_t *idx, idx_delta_t *d) {
    if (d == NULL)
        return;
    dcf__index_release(idx, d->arr, d->bytes);
    dcf__index_release(idx, d, sizeof *d);
}

/* A dead bitmap of at least `nbits` bits holding a copy of `from`. */
static idx_bits_t *bits_new(dcf_index_t *idx, size_t nbits, const idx_bits_t *from) {
    nbits = (nbits + 63) & ~(size_t)63;
    size_t bytes = sizeof(idx_bits_t) + nbits / 8;
    idx_bits_t *b = dcf__index_alloc(idx, bytes);
    if (b == NULL)
        return NULL;
    b->nbits = nbits;
    b->bytes = bytes;
    size_t keep = from ? from->nbits / 64 : 0;
    for (size_t i = 0; i < nbits / 64; i++)
        atomic_init(&b->w[i],
                    i < keep ? atomic_load_explicit(&from->w[i], memory_order_relaxed) : 0);
    return b;
}

static void bits_free(dcf_index_t *idx, idx_bits_t *b) {
    if (b != NULL)
        dcf__index_release(idx, b, b->bytes);
}

static idx_version_t *version_new(dcf_index_t *idx, const idx_version_t *from) {
    idx_version_t *v = dcf__index_alloc(idx, sizeof *v);
    if (v == NULL)
        return NULL;
    memset(v, 0, sizeof *v);
    atomic_init(&v->ndead, 0);
    if (from != NULL) {
        memcpy(v->level, from->level, sizeof v->level);
        v->delta = from->delta;
        v->dead = from->dead;
    }
    return v;
}

/* Free a version and everything it was told to free. */
static void version_free(dcf_index_t *idx, idx_version_t *v, bool owned_too) {
    for (unsigned i = 0; i < v->g_nrun; i++)
        dcf__index_run_free(idx, v->g_run[i]);
    delta_free(idx, v->g_delta);
    bits_free(idx, v->g_dead);
    dcf__index_release(idx, v->g_keys, v->g_nkeys * sizeof *v->g_keys);
    if (owned_too) {
        for (unsigned i = 0; i < IDX_MAX_LEVELS; i++)
            dcf__index_run_free(idx, v->level[i]);
        delta_free(idx, v->delta);
        bits_free(idx, v->dead);
    }
    dcf__index_release(idx, v, sizeof *v);
}

static idx_version_t *current(const dcf_index_t *idx) {
    /* The writer is the only one storing cur, so its own loads need no
     * ordering; readers use seq_cst (query.c). */
    return atomic_load_explicit(&((dcf_index_t *)idx)->cur, memory_order_relaxed);
}

/* ---------------------------------------------------------- reclaiming -- */

/*
 * Free retired versions, oldest first, while no reader slot holds the
 * oldest.  The seq_cst loads of the slots pair with the readers' seq_cst
 * store-then-reload (query.c): a reader that stored a retired version after
 * our scan re-reads cur afterwards, sees the newer version and retries.
 * Keys dropped by a merge return to the free stack here.
 */
static void reclaim(dcf_index_t *idx) {
    if (idx->retired_head == NULL)
        return;
    idx_version_t *held[IDX_MAX_READERS];
    size_t nheld = 0;
    for (idx_slot_t *s = atomic_load_explicit(&idx->slots, memory_order_acquire); s != NULL;
         s = s->next) {
        idx_version_t *h = atomic_load_explicit(&s->hp, memory_order_seq_cst);
        if (h != NULL && nheld < IDX_MAX_READERS)
            held[nheld++] = h;
    }
    idx_bits_t *dead = current(idx)->dead;
    while (idx->retired_head != NULL) {
        idx_version_t *v = idx->retired_head;
        for (size_t i = 0; i < nheld; i++)
            if (held[i] == v)
                return;
        if (v->g_nkeys > 0) {
            if (grow(idx, (void **)&idx->free_keys, &idx->cap_free, idx->nfree + v->g_nkeys,
                     sizeof *idx->free_keys, 0) != DCF_OK)
                return; /* try again at the next write */
            for (size_t i = 0; i < v->g_nkeys; i++) {
                uint32_t k = v->g_keys[i];
                atomic_fetch_and_explicit(&dead->w[k >> 6], ~(UINT64_C(1) << (k & 63)),
                                          memory_order_relaxed);
                idx->free_keys[idx->nfree++] = k;
            }
        }
        idx->retired_head = v->next_retired;
        if (idx->retired_head == NULL)
            idx->retired_tail = NULL;
        version_free(idx, v, false);
    }
}

/* Make `v` current; the old version retires owning `garbage` (already
 * attached to it by the caller). */
static void publish(dcf_index_t *idx, idx_version_t *v) {
    idx_version_t *old = current(idx);
    atomic_store_explicit(&idx->cur, v, memory_order_seq_cst);
    old->next_retired = NULL;
    if (idx->retired_tail != NULL)
        idx->retired_tail->next_retired = old;
    else
        idx->retired_head = old;
    idx->retired_tail = old;
    reclaim(idx);
}

/* ---------------------------------------------------------- validation -- */

static bool box_ok(const dcf_box_t *b) {
    /* Written so that NaN fails every comparison. */
    return b->lng_lo <= b->lng_hi && b->lat_lo <= b->lat_hi && b->alt_lo <= b->alt_hi &&
           b->t_lo <= b->t_hi && b->lng_lo > -INFINITY && b->lng_hi < INFINITY &&
           b->lat_lo > -INFINITY && b->lat_hi < INFINITY && b->alt_lo > -INFINITY &&
           b->alt_hi < INFINITY;
}

/* -------------------------------------------------------------- create -- */

void dcf_index_opts_default(dcf_index_opts_t *o) {
    o->fanout = 16;
    o->delta_max = 1024;
}

int dcf_index_new(const dcf_index_opts_t *opts, dcf_index_t **out) {
    dcf_index_opts_t o;
    dcf_index_t *idx = NULL;
    idx_version_t *v = NULL;
    int rc = DCF_ENOMEM;

    if (out == NULL)
        return DCF_EINVAL;
    dcf_index_opts_default(&o);
    if (opts != NULL)
        o = *opts;
    if (o.fanout < IDX_FANOUT_MIN || o.fanout > IDX_FANOUT_MAX || o.delta_max < IDX_DELTA_MIN ||
        o.delta_max > IDX_DELTA_MAX)
        return DCF_EINVAL;
    idx = calloc(1, sizeof *idx);
    if (idx == NULL)
        return DCF_ENOMEM;
    idx->fanout = o.fanout;
    idx->stride = (o.fanout + 3) & ~3u;
    idx->nstride = (o.fanout + 7) & ~7u;
    idx->delta_cap = (uint32_t)((o.delta_max + 3) & ~(size_t)3);
    idx->fail_after = -1;
    idx->simd = dcf__index_simd_level();
    atomic_init(&idx->slots, NULL);
    atomic_init(&idx->nslots, 0);
    if ((v = version_new(idx, NULL)) == NULL)
        goto out;
    if ((v->delta = delta_new(idx)) == NULL)
        goto out;
    if ((v->dead = bits_new(idx, idx->delta_cap, NULL)) == NULL)
        goto out;
    atomic_init(&idx->cur, v);
    v = NULL;
    *out = idx;
    idx = NULL;
    rc = DCF_OK;
out:
    if (v != NULL)
        version_free(idx, v, true);
    free(idx);
    return rc;
}

void dcf_index_free(dcf_index_t *idx) {
    if (idx == NULL)
        return;
    while (idx->retired_head != NULL) {
        idx_version_t *v = idx->retired_head;
        idx->retired_head = v->next_retired;
        version_free(idx, v, false);
    }
    version_free(idx, current(idx), true);
    idx_slot_t *s = atomic_load_explicit(&idx->slots, memory_order_acquire);
    while (s != NULL) {
        idx_slot_t *next = s->next;
        free(s);
        s = next;
    }
    free(idx->kparty);
    free(idx->free_keys);
    free(idx);
}

/* ------------------------------------------------------------- rebuild -- */

/* Append the entries of a leaf-layout block (slots [0, count)) to ents,
 * dead ones' keys to dropped. */
static void gather(const void *blk, size_t stride, unsigned count, const idx_bits_t *dead,
                   idx_entry_t *ents, size_t *ne, uint32_t *dropped, size_t *nd) {
    const int32_t *tlo = IDX_CI32(blk, stride, IDX_F_TLO), *thi = IDX_CI32(blk, stride, IDX_F_THI);
    const float *lnglo = IDX_CF32(blk, stride, IDX_F_LNGLO),
                *lnghi = IDX_CF32(blk, stride, IDX_F_LNGHI);
    const float *latlo = IDX_CF32(blk, stride, IDX_F_LATLO),
                *lathi = IDX_CF32(blk, stride, IDX_F_LATHI);
    const float *altlo = IDX_CF32(blk, stride, IDX_F_ALTLO),
                *althi = IDX_CF32(blk, stride, IDX_F_ALTHI);
    const uint32_t *key = IDX_CU32(blk, stride, IDX_F_KEY),
                   *party = IDX_CU32(blk, stride, IDX_F_PARTY);
    for (unsigned c = 0; c < count; c++) {
        if (idx_dead(dead, key[c])) {
            dropped[(*nd)++] = key[c];
            continue;
        }
        idx_entry_t *e = &ents[(*ne)++];
        e->box =
            (dcf_box_t){lnglo[c], lnghi[c], latlo[c], lathi[c], altlo[c], althi[c], tlo[c], thi[c]};
        e->key = key[c];
        e->party = party[c];
    }
}

/*
 * Publish a new version in which the delta's entries and those of the
 * levels chosen below (all levels when `full`) are merged, with `n_extra`
 * new entries (bulk load), into one packed run, dead entries dropped, and
 * the delta is empty.  The new entries get keys (free stack first, then
 * fresh ones) written to keys_out[] on success.  Without `full`, levels are
 * absorbed from level 0 up for as long as the merged size exceeds the
 * level's capacity (leveling).  Changes nothing on error.
 */
static int rebuild(dcf_index_t *idx, const dcf_box_t *boxes, const uint32_t *parties,
                   size_t n_extra, uint32_t *keys_out, bool full) {
    idx_version_t *cur = current(idx), *v = NULL;
    idx_delta_t *d = cur->delta;
    uint32_t dn = atomic_load_explicit(&d->count, memory_order_relaxed);
    bool merge[IDX_MAX_LEVELS] = {false};
    unsigned target = 0;
    size_t total = dn + n_extra, ne = 0, nd = 0, ndrop_max, fresh = 0;
    idx_entry_t *ents = NULL;
    uint32_t *dropped = NULL;
    idx_run_t *run = NULL;
    idx_delta_t *nd_delta = NULL;
    idx_bits_t *nbits = NULL;
    int rc = DCF_ENOMEM;

    /* Which levels merge, and where the result goes. */
    if (full) {
        for (unsigned i = 0; i < IDX_MAX_LEVELS; i++)
            if (cur->level[i] != NULL) {
                merge[i] = true;
                total += cur->level[i]->n;
            }
        while (idx_level_cap(idx, target) < total)
            target++;
    } else {
        for (target = 0;; target++) {
            if (cur->level[target] != NULL) {
                merge[target] = true;
                total += cur->level[target]->n;
            }
            if (total <= idx_level_cap(idx, target))
                break;
        }
    }
    ndrop_max = total - n_extra < idx->ndead ? total - n_extra : idx->ndead;

    /* Keys for the new entries: recycled ones first. */
    if (n_extra > idx->nfree) {
        fresh = n_extra - idx->nfree;
        if (fresh > IDX_MAX_KEYS - idx->next_key) {
            rc = DCF_ELIMIT;
            goto out;
        }
    }
    size_t next_key = idx->next_key + fresh;
    if ((rc = grow(idx, (void **)&idx->kparty, &idx->cap_kparty, next_key, sizeof *idx->kparty,
                   0xff)) != DCF_OK)
        goto out;
    rc = DCF_ENOMEM;

    if (total > 0 && (ents = dcf__index_alloc(idx, total * sizeof *ents)) == NULL)
        goto out;
    if (ndrop_max > 0 && (dropped = dcf__index_alloc(idx, ndrop_max * sizeof *dropped)) == NULL)
        goto out;
    gather(d->arr, d->cap, dn, cur->dead, ents, &ne, dropped, &nd);
    for (unsigned i = 0; i < IDX_MAX_LEVELS; i++) {
        const idx_run_t *r = cur->level[i];
        if (!merge[i])
            continue;
        for (size_t b = 0; b < r->nleaf; b++)
            gather(idx_leaf(idx, r, b), idx->stride, idx_leaf_count(idx, r, b), cur->dead, ents,
                   &ne, dropped, &nd);
    }
    for (size_t i = 0; i < n_extra; i++) {
        idx_entry_t *e = &ents[ne++];
        e->box = boxes[i];
        e->party = parties[i];
        e->key = i < idx->nfree ? idx->free_keys[idx->nfree - 1 - i]
                                : idx->next_key + (uint32_t)(i - idx->nfree);
    }
    if (ne > 0 && (rc = dcf__index_run_build(idx, ents, ne, &run)) != DCF_OK)
        goto out;
    rc = DCF_ENOMEM;
    if ((nd_delta = delta_new(idx)) == NULL)
        goto out;
    if (cur->dead->nbits < next_key + idx->delta_cap) {
        size_t want = cur->dead->nbits + cur->dead->nbits / 2;
        if (want < next_key + idx->delta_cap)
            want = next_key + idx->delta_cap;
        if ((nbits = bits_new(idx, want, cur->dead)) == NULL)
            goto out;
    }
    if ((v = version_new(idx, cur)) == NULL)
        goto out;

    /* Commit: nothing below can fail. */
    for (unsigned i = 0; i < IDX_MAX_LEVELS; i++) {
        if (merge[i]) {
            cur->g_run[cur->g_nrun++] = cur->level[i];
            v->level[i] = NULL;
        }
    }
    v->level[target] = run;
    v->delta = nd_delta;
    cur->g_delta = d;
    if (nbits != NULL) {
        v->dead = nbits;
        cur->g_dead = cur->dead;
    }
    cur->g_keys = dropped;
    cur->g_nkeys = nd;
    /* The dropped list was sized for the worst case; account what it holds. */
    idx->bytes -= (ndrop_max - nd) * sizeof *dropped;
    for (size_t i = 0; i < n_extra; i++) {
        uint32_t k = ents[ne - n_extra + i].key;
        idx->kparty[k] = ents[ne - n_extra + i].party;
        if (keys_out != NULL)
            keys_out[i] = k;
    }
    idx->nfree -= n_extra - fresh;
    idx->next_key = (uint32_t)next_key;
    idx->nlive += n_extra;
    idx->ndead -= nd;
    atomic_store_explicit(&v->ndead, idx->ndead, memory_order_relaxed); /* before publish */
    run = NULL;
    nd_delta = NULL;
    nbits = NULL;
    dropped = NULL;
    publish(idx, v);
    v = NULL;
    rc = DCF_OK;
out:
    dcf__index_release(idx, ents, total * sizeof *ents);
    dcf__index_release(idx, dropped, ndrop_max * sizeof *dropped);
    dcf__index_run_free(idx, run);
    delta_free(idx, nd_delta);
    bits_free(idx, nbits);
    if (v != NULL)
        dcf__index_release(idx, v, sizeof *v);
    return rc;
}

/* ------------------------------------------------------------- writers -- */

/* Compact when removed entries pile up; failure is harmless and ignored. */
static void maybe_compact(dcf_index_t *idx) {
    if (idx->ndead >= IDX_DEAD_MIN && idx->ndead > idx->nlive / IDX_DEAD_DIVISOR)
        (void)rebuild(idx, NULL, NULL, 0, NULL, true);
}

/* Make room for one insert: a free delta slot and a key.  On success the key
 * is reserved in *key (not yet taken). */
static int prepare_insert(dcf_index_t *idx, uint32_t *key) {
    int rc;
    reclaim(idx);
    idx_delta_t *d = current(idx)->delta;
    if (atomic_load_explicit(&d->count, memory_order_relaxed) == d->cap &&
        (rc = rebuild(idx, NULL, NULL, 0, NULL, false)) != DCF_OK)
        return rc;
    if (idx->nfree > 0) {
        *key = idx->free_keys[idx->nfree - 1];
        return DCF_OK;
    }
    if (idx->next_key >= IDX_MAX_KEYS)
        return DCF_ELIMIT;
    if ((rc = grow(idx, (void **)&idx->kparty, &idx->cap_kparty, (size_t)idx->next_key + 1,
                   sizeof *idx->kparty, 0xff)) != DCF_OK)
        return rc;
    *key = idx->next_key;
    return DCF_OK;
}

static void set_slot(idx_delta_t *d, uint32_t i, const dcf_box_t *b, uint32_t key, uint32_t party) {
    IDX_I32(d->arr, d->cap, IDX_F_TLO)[i] = b->t_lo;
    IDX_I32(d->arr, d->cap, IDX_F_THI)[i] = b->t_hi;
    IDX_F32(d->arr, d->cap, IDX_F_LNGLO)[i] = b->lng_lo;
    IDX_F32(d->arr, d->cap, IDX_F_LNGHI)[i] = b->lng_hi;
    IDX_F32(d->arr, d->cap, IDX_F_LATLO)[i] = b->lat_lo;
    IDX_F32(d->arr, d->cap, IDX_F_LATHI)[i] = b->lat_hi;
    IDX_F32(d->arr, d->cap, IDX_F_ALTLO)[i] = b->alt_lo;
    IDX_F32(d->arr, d->cap, IDX_F_ALTHI)[i] = b->alt_hi;
    IDX_U32(d->arr, d->cap, IDX_F_KEY)[i] = key;
    IDX_U32(d->arr, d->cap, IDX_F_PARTY)[i] = party;
}

/* Take the key prepare_insert reserved and publish the entry. */
static void commit_insert(dcf_index_t *idx, uint32_t key, const dcf_box_t *box, uint32_t party) {
    idx_delta_t *d = current(idx)->delta;
    uint32_t i = atomic_load_explicit(&d->count, memory_order_relaxed);
    if (idx->nfree > 0 && idx->free_keys[idx->nfree - 1] == key)
        idx->nfree--;
    else
        idx->next_key++;
    set_slot(d, i, box, key, party);
    /* Release: a reader that sees the new count sees the slot's contents. */
    atomic_store_explicit(&d->count, i + 1, memory_order_release);
    idx->kparty[key] = party;
    idx->nlive++;
}

int dcf_index_insert(dcf_index_t *idx, const dcf_box_t *box, uint32_t party, uint32_t *key) {
    uint32_t k;
    int rc;
    if (idx == NULL || box == NULL || key == NULL || !box_ok(box) || party == UINT32_MAX)
        return DCF_EINVAL;
    if ((rc = prepare_insert(idx, &k)) != DCF_OK)
        return rc;
    commit_insert(idx, k, box, party);
    *key = k;
    return DCF_OK;
}

static bool is_live(const dcf_index_t *idx, uint32_t key) {
    return key < idx->next_key && idx->kparty[key] != UINT32_MAX;
}

/* Mark a live key removed.  Never fails, never allocates. */
static void kill(dcf_index_t *idx, uint32_t key) {
    idx->kparty[key] = UINT32_MAX;
    /* Relaxed: a reader that starts after this call returns sees the bit
     * (coherence); one already running may or may not, as index.h allows. */
    idx_version_t *v = current(idx);
    atomic_fetch_or_explicit(&v->dead->w[key >> 6], UINT64_C(1) << (key & 63),
                             memory_order_relaxed);
    atomic_fetch_add_explicit(&v->ndead, 1, memory_order_relaxed);
    idx->nlive--;
    idx->ndead++;
}

int dcf_index_remove(dcf_index_t *idx, uint32_t key) {
    if (idx == NULL)
        return DCF_EINVAL;
    if (!is_live(idx, key))
        return DCF_ENOENT;
    kill(idx, key);
    maybe_compact(idx);
    return DCF_OK;
}

int dcf_index_update(dcf_index_t *idx, uint32_t key, const dcf_box_t *box, uint32_t *new_key) {
    uint32_t k;
    int rc;
    if (idx == NULL || box == NULL || new_key == NULL || !box_ok(box))
        return DCF_EINVAL;
    if (!is_live(idx, key))
        return DCF_ENOENT;
    /* Everything that can fail happens before the old entry goes.  A flush
     * inside prepare_insert keeps `key` live (it is not dead yet). */
    if ((rc = prepare_insert(idx, &k)) != DCF_OK)
        return rc;
    uint32_t party = idx->kparty[key];
    kill(idx, key);
    commit_insert(idx, k, box, party);
    *new_key = k;
    maybe_compact(idx);
    return DCF_OK;
}

int dcf_index_bulk_load(dcf_index_t *idx, const dcf_box_t *boxes, const uint32_t *parties, size_t n,
                        uint32_t *keys) {
    if (idx == NULL || (n > 0 && (boxes == NULL || parties == NULL || keys == NULL)))
        return DCF_EINVAL;
    if (n > IDX_MAX_KEYS || idx->nlive + n > IDX_MAX_KEYS)
        return DCF_ELIMIT;
    for (size_t i = 0; i < n; i++)
        if (!box_ok(&boxes[i]) || parties[i] == UINT32_MAX)
            return DCF_EINVAL;
    if (n == 0)
        return DCF_OK;
    reclaim(idx);
    return rebuild(idx, boxes, parties, n, keys, false);
}

int dcf_index_compact(dcf_index_t *idx) {
    if (idx == NULL)
        return DCF_EINVAL;
    reclaim(idx);
    return rebuild(idx, NULL, NULL, 0, NULL, true);
}
