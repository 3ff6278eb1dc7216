/*
 * query.c -- the index's read side: reader handles and queries.
 *
 * A query pins the current version through its reader's hazard slot, walks
 * every packed run of that version top-down and scans the write buffer,
 * and unpins.  It takes no lock and writes nothing shared except its own
 * slot.
 *
 * PINNING (the memory-ordering argument, also in docs/internals/index.md).
 *     reader                                writer
 *     v = load(cur)                         store(cur, v_new)      seq_cst
 *     store(slot, v)          seq_cst       for each slot: load   seq_cst
 *     if (load(cur) != v) retry  seq_cst    free v if no slot holds it
 * All four accesses are seq_cst, so they fall in one total order.  If the
 * writer's load of the slot comes before the reader's store, then the
 * writer's store of cur came before it too, the reader's re-load of cur
 * follows it and sees v_new (or later), and the reader retries instead of
 * using v.  Otherwise the writer sees v in the slot and keeps it.  Either
 * way a version is never freed while a reader uses it.  The reader clears
 * its slot with a release store, so everything it read happens before the
 * writer's later seq_cst load that sees the slot empty, and therefore
 * before the free.
 *
 * WRITE BUFFER.  The writer fills slot i of the delta and then stores
 * count = i + 1 with release; a reader loads count with acquire and reads
 * only slots below it, which are never written again.
 *
 * DEAD BITS are loaded relaxed: a removal that happened before the query
 * began is visible (coherence); one racing with it may or may not be.
 *
 * Entry and node boxes are compared four at a time with SSE2 where the
 * compiler offers it (time first: most nodes fail on time and their other
 * six arrays are never read), with a scalar loop elsewhere.
 *
 * Callers: any thread, through its own dcf_index_reader_t.
 */
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__) && !defined(DCF_INDEX_NO_SIMD)
#include <emmintrin.h>
#define IDX_SSE2 1
#endif

#include "index/index_int.h"

/* ------------------------------------------------------------ readers -- */

int dcf_index_reader_new(dcf_index_t *idx, dcf_index_reader_t **out) {
    dcf_index_reader_t *rd = NULL;
    idx_slot_t *s = NULL;
    int rc = DCF_ENOMEM;

    if (idx == NULL || out == NULL)
        return DCF_EINVAL;
    if ((rd = malloc(sizeof *rd)) == NULL)
        goto out;
    /* Reuse a slot a freed reader left behind. */
    for (s = atomic_load_explicit(&idx->slots, memory_order_acquire); s != NULL; s = s->next) {
        bool expect = false;
        if (atomic_compare_exchange_strong(&s->in_use, &expect, true))
            break;
    }
    if (s == NULL) {
        if (atomic_fetch_add(&idx->nslots, 1) >= IDX_MAX_READERS) {
            atomic_fetch_sub(&idx->nslots, 1);
            rc = DCF_ELIMIT;
            goto out;
        }
        if ((s = aligned_alloc(64, sizeof *s)) == NULL) {
            atomic_fetch_sub(&idx->nslots, 1);
            goto out;
        }
        atomic_init(&s->hp, NULL);
        atomic_init(&s->in_use, true);
        s->next = atomic_load_explicit(&idx->slots, memory_order_relaxed);
        while (!atomic_compare_exchange_weak_explicit(&idx->slots, &s->next, s,
                                                      memory_order_release, memory_order_relaxed))
            ;
    }
    rd->idx = idx;
    rd->slot = s;
    rd->busy = false;
    *out = rd;
    rd = NULL;
    rc = DCF_OK;
out:
    free(rd);
    return rc;
}

void dcf_index_reader_free(dcf_index_reader_t *rd) {
    if (rd == NULL)
        return;
    atomic_store_explicit(&rd->slot->hp, NULL, memory_order_release);
    atomic_store_explicit(&rd->slot->in_use, false, memory_order_release);
    free(rd);
}

/* ------------------------------------------------------- box compares -- */

typedef struct {
    dcf_box_t q;
#ifdef IDX_SSE2
    __m128i tlo, thi;
    __m128 lnglo, lnghi, latlo, lathi, altlo, althi;
#endif
} qbox_t;

static void qbox_init(qbox_t *qb, const dcf_box_t *q) {
    qb->q = *q;
#ifdef IDX_SSE2
    qb->tlo = _mm_set1_epi32(q->t_lo);
    qb->thi = _mm_set1_epi32(q->t_hi);
    qb->lnglo = _mm_set1_ps(q->lng_lo);
    qb->lnghi = _mm_set1_ps(q->lng_hi);
    qb->latlo = _mm_set1_ps(q->lat_lo);
    qb->lathi = _mm_set1_ps(q->lat_hi);
    qb->altlo = _mm_set1_ps(q->alt_lo);
    qb->althi = _mm_set1_ps(q->alt_hi);
#endif
}

/* One slot, scalar (the write buffer's tail, and builds without SSE2). */
static inline bool slot_hits(const void *blk, size_t stride, size_t i, const dcf_box_t *q) {
    return IDX_CI32(blk, stride, IDX_F_TLO)[i] <= q->t_hi &&
           IDX_CI32(blk, stride, IDX_F_THI)[i] >= q->t_lo &&
           IDX_CF32(blk, stride, IDX_F_LNGLO)[i] <= q->lng_hi &&
           IDX_CF32(blk, stride, IDX_F_LNGHI)[i] >= q->lng_lo &&
           IDX_CF32(blk, stride, IDX_F_LATLO)[i] <= q->lat_hi &&
           IDX_CF32(blk, stride, IDX_F_LATHI)[i] >= q->lat_lo &&
           IDX_CF32(blk, stride, IDX_F_ALTLO)[i] <= q->alt_hi &&
           IDX_CF32(blk, stride, IDX_F_ALTHI)[i] >= q->alt_lo;
}

/* Bit i set when slot i of [at, at + 4) of a block (fields `stride` long)
 * intersects the query (closed intervals).  EMPTY slots never do. */
static inline unsigned mask4(const void *blk, size_t stride, size_t at, const qbox_t *qb) {
#ifdef IDX_SSE2
    __m128i tlo = _mm_loadu_si128((const __m128i *)(IDX_CI32(blk, stride, IDX_F_TLO) + at));
    __m128i thi = _mm_loadu_si128((const __m128i *)(IDX_CI32(blk, stride, IDX_F_THI) + at));
    __m128i tbad = _mm_or_si128(_mm_cmpgt_epi32(tlo, qb->thi), _mm_cmpgt_epi32(qb->tlo, thi));
    unsigned m = ~(unsigned)_mm_movemask_ps(_mm_castsi128_ps(tbad)) & 15u;
    if (m == 0)
        return 0;
    __m128 ok =
        _mm_and_ps(_mm_cmple_ps(_mm_loadu_ps(IDX_CF32(blk, stride, IDX_F_LNGLO) + at), qb->lnghi),
                   _mm_cmpge_ps(_mm_loadu_ps(IDX_CF32(blk, stride, IDX_F_LNGHI) + at), qb->lnglo));
    ok = _mm_and_ps(ok,
                    _mm_cmple_ps(_mm_loadu_ps(IDX_CF32(blk, stride, IDX_F_LATLO) + at), qb->lathi));
    ok = _mm_and_ps(ok,
                    _mm_cmpge_ps(_mm_loadu_ps(IDX_CF32(blk, stride, IDX_F_LATHI) + at), qb->latlo));
    ok = _mm_and_ps(ok,
                    _mm_cmple_ps(_mm_loadu_ps(IDX_CF32(blk, stride, IDX_F_ALTLO) + at), qb->althi));
    ok = _mm_and_ps(ok,
                    _mm_cmpge_ps(_mm_loadu_ps(IDX_CF32(blk, stride, IDX_F_ALTHI) + at), qb->altlo));
    return m & (unsigned)_mm_movemask_ps(ok);
#else
    unsigned m = 0;
    for (unsigned i = 0; i < 4; i++)
        m |= (unsigned)slot_hits(blk, stride, at + i, &qb->q) << i;
    return m;
#endif
}

/* Mask of the `stride` slots of a node or leaf block that meet the query. */
static inline uint64_t block_mask(const void *blk, size_t stride, const qbox_t *qb) {
    uint64_t m = 0;
    for (size_t at = 0; at < stride; at += 4)
        m |= (uint64_t)mask4(blk, stride, at, qb) << at;
    return m;
}

/* ------------------------------------------------------------- queries -- */

typedef struct {
    const qbox_t *qb;
    const idx_bits_t *dead;
    uint32_t exclude;
    dcf_index_cb cb;
    void *arg;
    dcf_index_qstats_t st;
} qctx_t;

/* Report slot c of a leaf-layout block if its party and dead bit allow. */
static inline int report(qctx_t *x, const void *blk, size_t stride, size_t c) {
    uint32_t party = IDX_CU32(blk, stride, IDX_F_PARTY)[c];
    uint32_t key = IDX_CU32(blk, stride, IDX_F_KEY)[c];
    if (party == x->exclude || idx_dead(x->dead, key))
        return 0;
    x->st.candidates++;
    return x->cb != NULL ? x->cb(x->arg, key) : 0;
}

static int query_leaf(qctx_t *x, const void *blk, size_t stride, unsigned count) {
    x->st.entries_tested += count;
    uint64_t m = block_mask(blk, stride, x->qb);
    while (m != 0) {
        int rc = report(x, blk, stride, (size_t)__builtin_ctzll(m));
        if (rc != 0)
            return rc;
        m &= m - 1;
    }
    return 0;
}

/* Depth-first walk with one (node, remaining children) frame per layer. */
static int query_run(const dcf_index_t *idx, const idx_run_t *r, qctx_t *x) {
    const size_t f = idx->fanout, s = idx->stride;
    size_t node[IDX_MAX_HEIGHT + 1];
    uint64_t left[IDX_MAX_HEIGHT + 1];
    unsigned l = r->height;
    int rc;

    if (l == 0)
        return query_leaf(x, idx_leaf(idx, r, 0), s, idx_leaf_count(idx, r, 0));
    node[l] = 0;
    left[l] = block_mask(idx_node(idx, r, l, 0), s, x->qb);
    x->st.nodes_visited++;
    while (l <= r->height) {
        if (left[l] == 0) {
            l++;
            continue;
        }
        size_t child = node[l] * f + (size_t)__builtin_ctzll(left[l]);
        left[l] &= left[l] - 1;
        if (l == 1) {
            if ((rc = query_leaf(x, idx_leaf(idx, r, child), s, idx_leaf_count(idx, r, child))) !=
                0)
                return rc;
        } else {
            l--;
            node[l] = child;
            left[l] = block_mask(idx_node(idx, r, l, child), s, x->qb);
            x->st.nodes_visited++;
        }
    }
    return 0;
}

static int query_delta(const idx_delta_t *d, qctx_t *x) {
    /* Acquire: pairs with the writer's release of count (index.c). */
    uint32_t n = atomic_load_explicit(&d->count, memory_order_acquire);
    uint32_t full = n & ~3u;
    int rc;
    x->st.entries_tested += n;
    for (uint32_t at = 0; at < full; at += 4) {
        unsigned m = mask4(d->arr, d->cap, at, x->qb);
        while (m != 0) {
            if ((rc = report(x, d->arr, d->cap, at + (unsigned)__builtin_ctz(m))) != 0)
                return rc;
            m &= m - 1;
        }
    }
    for (uint32_t i = full; i < n; i++)
        if (slot_hits(d->arr, d->cap, i, &x->qb->q) && (rc = report(x, d->arr, d->cap, i)) != 0)
            return rc;
    return 0;
}

static bool query_box_ok(const dcf_box_t *q) {
    /* NaN fails every comparison, so a box with one intersects nothing. */
    return q->lng_lo <= q->lng_hi && q->lat_lo <= q->lat_hi && q->alt_lo <= q->alt_hi &&
           q->t_lo <= q->t_hi;
}

int dcf_index_query(dcf_index_reader_t *rd, const dcf_box_t *q, uint32_t exclude_party,
                    dcf_index_cb cb, void *arg, dcf_index_qstats_t *st) {
    if (rd == NULL || q == NULL)
        return DCF_EINVAL;
    if (rd->busy)
        return DCF_ESTATE; /* a callback queried through its own reader */
    if (!query_box_ok(q))
        return DCF_OK; /* an empty box meets nothing */

    dcf_index_t *idx = rd->idx;
    idx_slot_t *slot = rd->slot;
    qbox_t qb;
    qctx_t x = {.qb = &qb, .exclude = exclude_party, .cb = cb, .arg = arg};
    int rc = 0;

    qbox_init(&qb, q);
    rd->busy = true;
    idx_version_t *v = atomic_load_explicit(&idx->cur, memory_order_seq_cst);
    for (;;) {
        atomic_store_explicit(&slot->hp, v, memory_order_seq_cst);
        idx_version_t *again = atomic_load_explicit(&idx->cur, memory_order_seq_cst);
        if (again == v)
            break;
        v = again;
    }
    x.dead = v->dead;
    for (unsigned i = 0; i < IDX_MAX_LEVELS && rc == 0; i++)
        if (v->level[i] != NULL)
            rc = query_run(idx, v->level[i], &x);
    if (rc == 0)
        rc = query_delta(v->delta, &x);
    atomic_store_explicit(&slot->hp, NULL, memory_order_release);
    rd->busy = false;
    if (st != NULL) {
        st->nodes_visited += x.st.nodes_visited;
        st->entries_tested += x.st.entries_tested;
        st->candidates += x.st.candidates;
    }
    return rc;
}
