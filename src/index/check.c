/*
 * check.c -- the index's introspection: statistics and the structural
 * self-check.
 *
 * dcf_index_check proves, for the current version, the invariants listed in
 * index_int.h: node bounds contain their children and unused slots are
 * EMPTY; every run has the shape its entry count implies and fits its level;
 * every key below next_key is in exactly one place (an entry, the free
 * stack, or a retired version's dropped list); live and dead counts agree
 * with the per-key state; the dead bitmap covers the keys the next inserts
 * can take.  It reads writer-only state, so it must not run concurrently
 * with a writer (readers may run).
 *
 * Callers: tests, and the engine's debug paths.
 */
#include <stdlib.h>
#include <string.h>

#include "index/index_int.h"

void dcf_index_stats(const dcf_index_t *idx, dcf_index_stats_t *out) {
    const idx_version_t *v = atomic_load_explicit(&((dcf_index_t *)idx)->cur, memory_order_relaxed);
    size_t levels = 1; /* the write buffer */
    for (unsigned i = 0; i < IDX_MAX_LEVELS; i++)
        levels += v->level[i] != NULL;
    out->live = idx->nlive;
    out->dead = idx->ndead;
    out->levels = levels;
    out->bytes = sizeof *idx + idx->bytes +
                 atomic_load_explicit(&((dcf_index_t *)idx)->nslots, memory_order_relaxed) *
                     sizeof(idx_slot_t);
}

/* ---------------------------------------------------------- self-check -- */

typedef struct {
    const dcf_index_t *idx;
    const idx_bits_t *dead;
    uint64_t *seen; /* a bit per key below next_key */
    size_t live_found, dead_found;
    const char *why;
} chk_t;

static int fail(chk_t *c, const char *why) {
    if (c->why == NULL)
        c->why = why;
    return DCF_EINTERNAL;
}

static bool seen_set(chk_t *c, uint32_t k) {
    bool was = idx_bit(c->seen, k);
    c->seen[k >> 6] |= UINT64_C(1) << (k & 63);
    return was;
}

static bool box_valid(const dcf_box_t *b) {
    return b->lng_lo <= b->lng_hi && b->lat_lo <= b->lat_hi && b->alt_lo <= b->alt_hi &&
           b->t_lo <= b->t_hi;
}

static void slot_box(const void *blk, size_t stride, size_t i, dcf_box_t *b) {
    b->t_lo = IDX_CI32(blk, stride, IDX_F_TLO)[i];
    b->t_hi = IDX_CI32(blk, stride, IDX_F_THI)[i];
    b->lng_lo = IDX_CF32(blk, stride, IDX_F_LNGLO)[i];
    b->lng_hi = IDX_CF32(blk, stride, IDX_F_LNGHI)[i];
    b->lat_lo = IDX_CF32(blk, stride, IDX_F_LATLO)[i];
    b->lat_hi = IDX_CF32(blk, stride, IDX_F_LATHI)[i];
    b->alt_lo = IDX_CF32(blk, stride, IDX_F_ALTLO)[i];
    b->alt_hi = IDX_CF32(blk, stride, IDX_F_ALTHI)[i];
}

static bool slot_empty(const void *blk, size_t stride, size_t i) {
    dcf_box_t b;
    slot_box(blk, stride, i, &b);
    return b.t_lo == INT32_MAX && b.t_hi == INT32_MIN && b.lng_lo != b.lng_lo &&
           b.lng_hi != b.lng_hi && b.lat_lo != b.lat_lo && b.lat_hi != b.lat_hi &&
           b.alt_lo != b.alt_lo && b.alt_hi != b.alt_hi;
}

/* Check one entry (slot i of a leaf-layout block) and account for its key. */
static int check_entry(chk_t *c, const void *blk, size_t stride, size_t i) {
    const dcf_index_t *idx = c->idx;
    dcf_box_t b;
    slot_box(blk, stride, i, &b);
    uint32_t k = IDX_CU32(blk, stride, IDX_F_KEY)[i];
    uint32_t party = IDX_CU32(blk, stride, IDX_F_PARTY)[i];
    if (!box_valid(&b))
        return fail(c, "an entry's box is empty or not a number");
    if (party == UINT32_MAX)
        return fail(c, "an entry has the reserved party UINT32_MAX");
    if (k >= idx->next_key)
        return fail(c, "an entry's key was never handed out");
    if (seen_set(c, k))
        return fail(c, "a key appears in two entries");
    bool live = idx->kparty[k] != UINT32_MAX, dead = idx_dead(c->dead, k);
    if (live && dead)
        return fail(c, "a key is both live and dead");
    if (!live && !dead)
        return fail(c, "an entry's key is neither live nor removed");
    if (live && idx->kparty[k] != party)
        return fail(c, "an entry's party differs from its key's party");
    if (live)
        c->live_found++;
    else
        c->dead_found++;
    return DCF_OK;
}

/* Node j of layer l: every used slot's codes contain its child (a leaf's
 * exact boxes on the run's grid, or a node's slot codes); unused slots are
 * EMPTY. */
static int check_node(chk_t *c, const idx_run_t *r, unsigned l, size_t j) {
    const dcf_index_t *idx = c->idx;
    const size_t s = idx->stride, ns = idx->nstride;
    const void *blk = idx_node(idx, r, l, j);
    unsigned kids = idx_node_count(idx, r, l, j);
    for (size_t slot = 0; slot < ns; slot++) {
        int32_t lo[4], hi[4];
        for (unsigned d = 0; d < 4; d++) {
            lo[d] = IDX_CI16(blk, ns, 2 * d)[slot];
            hi[d] = IDX_CI16(blk, ns, 2 * d + 1)[slot];
        }
        if (slot >= kids) {
            for (unsigned d = 0; d < 4; d++)
                if (lo[d] != IDX_CODE_EMPTY_LO || hi[d] != IDX_CODE_EMPTY_HI)
                    return fail(c, "an unused node slot is not empty");
            continue;
        }
        size_t child = j * idx->fanout + slot;
        if (l == 1) {
            const void *leaf = idx_leaf(idx, r, child);
            unsigned n = idx_leaf_count(idx, r, child);
            if (n == 0)
                return fail(c, "a node has a child with no entries");
            for (unsigned i = 0; i < n; i++) {
                dcf_box_t b;
                slot_box(leaf, s, i, &b);
                const double bl[4] = {b.t_lo, b.lng_lo, b.lat_lo, b.alt_lo};
                const double bh[4] = {b.t_hi, b.lng_hi, b.lat_hi, b.alt_hi};
                for (unsigned d = 0; d < 4; d++)
                    if (lo[d] + 32768.0 > idx_grid_pos(r, d, bl[d]) ||
                        hi[d] + 32768.0 < idx_grid_pos(r, d, bh[d]))
                        return fail(c, "a node's bounds do not contain its child");
            }
        } else {
            const void *kid = idx_node(idx, r, l - 1, child);
            unsigned n = idx_node_count(idx, r, l - 1, child);
            if (n == 0)
                return fail(c, "a node has a child with no entries");
            for (unsigned i = 0; i < n; i++)
                for (unsigned d = 0; d < 4; d++)
                    if (IDX_CI16(kid, ns, 2 * d)[i] < lo[d] ||
                        IDX_CI16(kid, ns, 2 * d + 1)[i] > hi[d])
                        return fail(c, "a node's bounds do not contain its child");
        }
    }
    return DCF_OK;
}

static int check_run(chk_t *c, const idx_run_t *r, unsigned level) {
    const dcf_index_t *idx = c->idx;
    const size_t f = idx->fanout, s = idx->stride;
    int rc;
    if (r->n == 0 || r->nleaf != (r->n + f - 1) / f)
        return fail(c, "a run's leaf count does not match its entries");
    if (r->n > idx_level_cap(idx, level))
        return fail(c, "a run is larger than its level allows");
    size_t below = r->nleaf, first = 0;
    for (unsigned l = 1; l <= r->height; l++) {
        if (below <= 1 || r->nnodes[l] != (below + f - 1) / f || r->first[l] != first)
            return fail(c, "a run's layers do not match its leaf count");
        first += r->nnodes[l];
        below = r->nnodes[l];
    }
    if (below != 1)
        return fail(c, "a run does not end in one root");
    for (unsigned l = 1; l <= r->height; l++)
        for (size_t j = 0; j < r->nnodes[l]; j++)
            if ((rc = check_node(c, r, l, j)) != DCF_OK)
                return rc;
    for (size_t b = 0; b < r->nleaf; b++) {
        const void *blk = idx_leaf(idx, r, b);
        unsigned n = idx_leaf_count(idx, r, b);
        for (size_t i = 0; i < s; i++) {
            if (i >= n) {
                if (!slot_empty(blk, s, i))
                    return fail(c, "an unused leaf slot is not empty");
            } else if ((rc = check_entry(c, blk, s, i)) != DCF_OK) {
                return rc;
            }
        }
    }
    return DCF_OK;
}

int dcf_index_check(const dcf_index_t *idx, const char **why) {
    chk_t c = {.idx = idx};
    int rc = DCF_EINTERNAL;
    const idx_version_t *v;
    size_t nwords;

    if (idx == NULL) {
        c.why = "no index";
        goto out;
    }
    v = atomic_load_explicit(&((dcf_index_t *)idx)->cur, memory_order_relaxed);
    c.dead = v->dead;
    nwords = ((size_t)idx->next_key + 63) / 64;
    if ((c.seen = calloc(nwords ? nwords : 1, sizeof *c.seen)) == NULL) {
        c.why = "out of memory";
        rc = DCF_ENOMEM;
        goto out;
    }
    if (idx->next_key > IDX_MAX_KEYS || idx->cap_kparty < idx->next_key) {
        rc = fail(&c, "key bookkeeping is out of range");
        goto out;
    }

    for (unsigned i = 0; i < IDX_MAX_LEVELS; i++)
        if (v->level[i] != NULL && (rc = check_run(&c, v->level[i], i)) != DCF_OK)
            goto out;

    const idx_delta_t *d = v->delta;
    uint32_t dn = atomic_load_explicit(&((idx_delta_t *)d)->count, memory_order_relaxed);
    if (d->cap != idx->delta_cap || dn > d->cap) {
        rc = fail(&c, "the write buffer's count is out of range");
        goto out;
    }
    for (uint32_t i = 0; i < dn; i++)
        if ((rc = check_entry(&c, d->arr, d->cap, i)) != DCF_OK)
            goto out;
    if (v->dead->nbits < (size_t)idx->next_key + (d->cap - dn)) {
        rc = fail(&c, "the dead bitmap does not cover the next keys");
        goto out;
    }

    size_t live = 0;
    for (uint32_t k = 0; k < idx->next_key; k++)
        live += idx->kparty[k] != UINT32_MAX;
    if (live != idx->nlive || c.live_found != idx->nlive) {
        rc = fail(&c, "the live count does not match the live entries");
        goto out;
    }
    if (c.dead_found != idx->ndead ||
        atomic_load_explicit(&((idx_version_t *)v)->ndead, memory_order_relaxed) != idx->ndead) {
        rc = fail(&c, "the dead count does not match the removed entries");
        goto out;
    }
    /* Keys not in an entry: free or waiting for readers, and nothing else. */
    size_t accounted = c.live_found + c.dead_found;
    for (size_t i = 0; i < idx->nfree; i++) {
        uint32_t k = idx->free_keys[i];
        if (k >= idx->next_key || seen_set(&c, k) || idx->kparty[k] != UINT32_MAX ||
            idx_dead(c.dead, k)) {
            rc = fail(&c, "a free key is in use, duplicated or still marked dead");
            goto out;
        }
        accounted++;
    }
    for (const idx_version_t *r = idx->retired_head; r != NULL; r = r->next_retired) {
        for (size_t i = 0; i < r->g_nkeys; i++) {
            uint32_t k = r->g_keys[i];
            if (k >= idx->next_key || seen_set(&c, k) || idx->kparty[k] != UINT32_MAX ||
                !idx_dead(c.dead, k)) {
                rc = fail(&c, "a key waiting for readers is in use or not marked dead");
                goto out;
            }
            accounted++;
        }
    }
    if (accounted != idx->next_key) {
        rc = fail(&c, "some keys are lost");
        goto out;
    }
    rc = DCF_OK;
out:
    free(c.seen);
    if (why != NULL)
        *why = rc == DCF_OK ? NULL : c.why;
    return rc;
}
