/*
 * query.c -- the index's read side: reader handles and queries.
 *
 * A query pins the current version through its reader's hazard slot, walks
 * every packed run of that version top-down, scans the write buffer, tests
 * the leaves the walks selected, and unpins.  It takes no lock and writes
 * nothing shared except its own slot.
 *
 * HOW THE WALK HIDES MEMORY LATENCY.  At 10^6 entries a run is ~45 MB, so
 * most leaves a query needs are cache misses; measured, the same queries run
 * 2.5 times faster with a hot cache.  So: node bounds are 16-bit grid codes
 * (half the bytes of floats; the query is converted once per run); the
 * children a node selects are prefetched at once; and selected leaves are
 * queued rather than tested on the spot, then tested in batches after the
 * other runs and the write buffer were walked, when their lines have
 * arrived.  Queueing the leaves took the mean at 10^6 from 0.95 to 0.72 us.
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
 * began is visible (coherence); one racing with it may or may not be.  A
 * version's count of removed entries is read the same way, and when it is 0
 * the bits are not read at all (a fresh or compacted index).
 *
 * Entry boxes are compared 16 at a time with AVX-512, 8 with AVX2 or 4 with
 * SSE2 (the best the CPU runs, chosen at dcf_index_new; time first: when no
 * entry of a group passes on time its other six arrays are not read); node
 * codes 8 at a time with SSE2; scalar loops where there is no SSE2.
 *
 * Callers: any thread, through its own dcf_index_reader_t.
 */
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__) && !defined(DCF_INDEX_NO_SIMD)
#include <emmintrin.h>
#define IDX_SSE2 1
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(DCF_INDEX_NO_SIMD)
#include <immintrin.h>
#define IDX_X86_DISPATCH 1
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

/*
 * mask_*(blk, stride, at, n, q, excl) returns bit i set when slot at + i of
 * a block (fields `stride` values long) intersects the query and its party
 * is not `excl`, for i < n; n is
 * a multiple of 4, at most 64, and slots [at, at + n) are all readable.  The
 * time fields are compared first and the other six are not read when no
 * slot passes on time.  EMPTY slots never intersect (their time range is
 * inverted and their floats are NaN, which fails every comparison).
 *
 * Three versions: portable scalar/SSE2 four at a time, AVX2 eight at a time
 * and AVX-512 sixteen at a time, the last two compiled for their targets and
 * chosen at run time (dcf__index_simd_level); all compute the same mask.
 */

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

static inline uint64_t mask_base(const void *blk, size_t stride, size_t at, unsigned n,
                                 const dcf_box_t *q, uint32_t excl) {
    uint64_t m = 0;
#ifdef IDX_SSE2
    const __m128i tlo = _mm_set1_epi32(q->t_lo), thi = _mm_set1_epi32(q->t_hi);
    for (unsigned i = 0; i < n; i += 4) {
        size_t o = at + i;
        __m128i a = _mm_loadu_si128((const __m128i *)(IDX_CI32(blk, stride, IDX_F_TLO) + o));
        __m128i b = _mm_loadu_si128((const __m128i *)(IDX_CI32(blk, stride, IDX_F_THI) + o));
        __m128i bad = _mm_or_si128(_mm_cmpgt_epi32(a, thi), _mm_cmpgt_epi32(tlo, b));
        unsigned t = ~(unsigned)_mm_movemask_ps(_mm_castsi128_ps(bad)) & 15u;
        if (t == 0)
            continue;
#define IDX_LE(f, v) _mm_cmple_ps(_mm_loadu_ps(IDX_CF32(blk, stride, f) + o), _mm_set1_ps(v))
#define IDX_GE(f, v) _mm_cmpge_ps(_mm_loadu_ps(IDX_CF32(blk, stride, f) + o), _mm_set1_ps(v))
        __m128 ok = _mm_and_ps(IDX_LE(IDX_F_LNGLO, q->lng_hi), IDX_GE(IDX_F_LNGHI, q->lng_lo));
        ok = _mm_and_ps(ok,
                        _mm_and_ps(IDX_LE(IDX_F_LATLO, q->lat_hi), IDX_GE(IDX_F_LATHI, q->lat_lo)));
        ok = _mm_and_ps(ok,
                        _mm_and_ps(IDX_LE(IDX_F_ALTLO, q->alt_hi), IDX_GE(IDX_F_ALTHI, q->alt_lo)));
#undef IDX_LE
#undef IDX_GE
        __m128i pe = _mm_cmpeq_epi32(
            _mm_loadu_si128((const __m128i *)(IDX_CU32(blk, stride, IDX_F_PARTY) + o)),
            _mm_set1_epi32((int32_t)excl));
        t &= (unsigned)_mm_movemask_ps(ok) & ~(unsigned)_mm_movemask_ps(_mm_castsi128_ps(pe));
        m |= (uint64_t)t << i;
    }
#else
    for (unsigned i = 0; i < n; i++)
        m |= (uint64_t)(slot_hits(blk, stride, at + i, q) &&
                        IDX_CU32(blk, stride, IDX_F_PARTY)[at + i] != excl)
             << i;
#endif
    return m;
}

#ifdef IDX_X86_DISPATCH
__attribute__((target("avx2"))) static inline uint64_t mask_avx2(const void *blk, size_t stride,
                                                                 size_t at, unsigned n,
                                                                 const dcf_box_t *q,
                                                                 uint32_t excl) {
    uint64_t m = 0;
    unsigned i = 0;
    const __m256i tlo = _mm256_set1_epi32(q->t_lo), thi = _mm256_set1_epi32(q->t_hi);
    for (; i + 8 <= n; i += 8) {
        size_t o = at + i;
        __m256i a = _mm256_loadu_si256((const __m256i *)(IDX_CI32(blk, stride, IDX_F_TLO) + o));
        __m256i b = _mm256_loadu_si256((const __m256i *)(IDX_CI32(blk, stride, IDX_F_THI) + o));
        __m256i bad = _mm256_or_si256(_mm256_cmpgt_epi32(a, thi), _mm256_cmpgt_epi32(tlo, b));
        unsigned t = ~(unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(bad)) & 255u;
        if (t == 0)
            continue;
#define IDX_LE(f, v)                                                                               \
    _mm256_cmp_ps(_mm256_loadu_ps(IDX_CF32(blk, stride, f) + o), _mm256_set1_ps(v), _CMP_LE_OQ)
#define IDX_GE(f, v)                                                                               \
    _mm256_cmp_ps(_mm256_loadu_ps(IDX_CF32(blk, stride, f) + o), _mm256_set1_ps(v), _CMP_GE_OQ)
        __m256 ok = _mm256_and_ps(IDX_LE(IDX_F_LNGLO, q->lng_hi), IDX_GE(IDX_F_LNGHI, q->lng_lo));
        ok = _mm256_and_ps(
            ok, _mm256_and_ps(IDX_LE(IDX_F_LATLO, q->lat_hi), IDX_GE(IDX_F_LATHI, q->lat_lo)));
        ok = _mm256_and_ps(
            ok, _mm256_and_ps(IDX_LE(IDX_F_ALTLO, q->alt_hi), IDX_GE(IDX_F_ALTHI, q->alt_lo)));
#undef IDX_LE
#undef IDX_GE
        __m256i pe = _mm256_cmpeq_epi32(
            _mm256_loadu_si256((const __m256i *)(IDX_CU32(blk, stride, IDX_F_PARTY) + o)),
            _mm256_set1_epi32((int32_t)excl));
        t &= (unsigned)_mm256_movemask_ps(ok) &
             ~(unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(pe));
        m |= (uint64_t)t << i;
    }
    if (i < n)
        m |= mask_base(blk, stride, at + i, n - i, q, excl) << i;
    return m;
}

__attribute__((target("avx512f"))) static inline uint64_t
mask_avx512(const void *blk, size_t stride, size_t at, unsigned n, const dcf_box_t *q,
            uint32_t excl) {
    uint64_t m = 0;
    const __m512i tlo = _mm512_set1_epi32(q->t_lo), thi = _mm512_set1_epi32(q->t_hi);
    for (unsigned i = 0; i < n; i += 16) {
        size_t o = at + i;
        __mmask16 live = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512i a = _mm512_maskz_loadu_epi32(live, IDX_CI32(blk, stride, IDX_F_TLO) + o);
        __m512i b = _mm512_maskz_loadu_epi32(live, IDX_CI32(blk, stride, IDX_F_THI) + o);
        __mmask16 k = _mm512_mask_cmple_epi32_mask(live, a, thi);
        k = _mm512_mask_cmpge_epi32_mask(k, b, tlo);
        if (k == 0)
            continue;
#define IDX_CMP(f, v, op)                                                                          \
    k = _mm512_mask_cmp_ps_mask(k, _mm512_maskz_loadu_ps(live, IDX_CF32(blk, stride, f) + o),      \
                                _mm512_set1_ps(v), op)
        IDX_CMP(IDX_F_LNGLO, q->lng_hi, _CMP_LE_OQ);
        IDX_CMP(IDX_F_LNGHI, q->lng_lo, _CMP_GE_OQ);
        IDX_CMP(IDX_F_LATLO, q->lat_hi, _CMP_LE_OQ);
        IDX_CMP(IDX_F_LATHI, q->lat_lo, _CMP_GE_OQ);
        IDX_CMP(IDX_F_ALTLO, q->alt_hi, _CMP_LE_OQ);
        IDX_CMP(IDX_F_ALTHI, q->alt_lo, _CMP_GE_OQ);
#undef IDX_CMP
        k = _mm512_mask_cmpneq_epi32_mask(
            k, _mm512_maskz_loadu_epi32(live, IDX_CU32(blk, stride, IDX_F_PARTY) + o),
            _mm512_set1_epi32((int32_t)excl));
        m |= (uint64_t)k << i;
    }
    return m;
}
#endif

/* ------------------------------------------------------------- queries -- */

typedef uint64_t (*mask_fn)(const void *blk, size_t stride, size_t at, unsigned n,
                            const dcf_box_t *q, uint32_t excl);

#define IDX_PENDING 32 /* leaves queued before they are tested */

typedef struct {
    dcf_box_t q;
    const idx_bits_t *dead;
    uint32_t exclude;
    dcf_index_cb cb;
    void *arg;
    dcf_index_qstats_t st;
    const void *pend[IDX_PENDING]; /* leaves selected, loads started, not yet tested */
    unsigned pend_n[IDX_PENDING];  /* their entry counts */
    unsigned npend;
} qctx_t;

/* Report slot c of a leaf-layout block (its box and party passed) unless
 * its dead bit is set; x->dead is NULL when the version has no removed
 * entries. */
static inline int report(qctx_t *x, const void *blk, size_t stride, size_t c) {
    uint32_t key = IDX_CU32(blk, stride, IDX_F_KEY)[c];
    if (x->dead != NULL && idx_dead(x->dead, key))
        return 0;
    x->st.candidates++;
    return x->cb != NULL ? x->cb(x->arg, key) : 0;
}

/* Report every slot in `m` of a leaf-layout block, slot numbers from `at`.
 * The dead-bit words are random reads: start them all first. */
static inline int report_mask(qctx_t *x, const void *blk, size_t stride, size_t at, uint64_t m) {
    if (x->dead != NULL && (m & (m - 1)) != 0) {
        const uint32_t *key = IDX_CU32(blk, stride, IDX_F_KEY) + at;
        for (uint64_t p = m; p != 0; p &= p - 1)
            __builtin_prefetch(&x->dead->w[key[__builtin_ctzll(p)] >> 6]);
    }
    while (m != 0) {
        int rc = report(x, blk, stride, at + (size_t)__builtin_ctzll(m));
        if (rc != 0)
            return rc;
        m &= m - 1;
    }
    return 0;
}

/* Start loading the children in `m` of a node while the walk goes on:
 * the children of one node are independent cache misses. */
static inline void prefetch_kids(const char *base, size_t first, size_t bytes, uint64_t m) {
    while (m != 0) {
        const char *p = base + (first + (size_t)__builtin_ctzll(m)) * bytes;
        for (size_t o = 0; o < bytes; o += 64)
            __builtin_prefetch(p + o);
        m &= m - 1;
    }
}

/* The query in one run's grid codes (index_int.h), rounded outward. */
typedef struct {
    int16_t lo[4], hi[4];
#ifdef IDX_SSE2
    __m128i vlo[4], vhi[4];
#endif
} qcodes_t;

/* False when the query lies wholly outside the run's grid (then no entry of
 * the run can meet it: every bound of every entry is on the grid). */
static bool query_codes(const idx_run_t *r, const dcf_box_t *q, qcodes_t *c) {
    const double lo[4] = {q->t_lo, q->lng_lo, q->lat_lo, q->alt_lo};
    const double hi[4] = {q->t_hi, q->lng_hi, q->lat_hi, q->alt_hi};
    for (unsigned d = 0; d < 4; d++) {
        int32_t a = idx_code_below(r, d, lo[d]), b = idx_code_above(r, d, hi[d]);
        if (b < 0 || a > IDX_GRID_TOP)
            return false;
        c->lo[d] = (int16_t)((a < 0 ? 0 : a) - 32768);
        c->hi[d] = (int16_t)((b > IDX_GRID_TOP ? IDX_GRID_TOP : b) - 32768);
#ifdef IDX_SSE2
        c->vlo[d] = _mm_set1_epi16(c->lo[d]);
        c->vhi[d] = _mm_set1_epi16(c->hi[d]);
#endif
    }
    return true;
}

/* Mask of the first `count` children of a node whose codes meet the query's
 * (fields `ns` int16 values long, ns a multiple of 8). */
static inline uint64_t node_mask(const void *blk, size_t ns, unsigned count, const qcodes_t *c) {
    uint64_t m = 0;
#ifdef IDX_SSE2
    for (size_t at = 0; at < ns; at += 8) {
        __m128i bad = _mm_setzero_si128();
        for (unsigned d = 0; d < 4; d++) {
            __m128i lo = _mm_loadu_si128((const __m128i *)(IDX_CI16(blk, ns, 2 * d) + at));
            __m128i hi = _mm_loadu_si128((const __m128i *)(IDX_CI16(blk, ns, 2 * d + 1) + at));
            bad = _mm_or_si128(
                bad, _mm_or_si128(_mm_cmpgt_epi16(lo, c->vhi[d]), _mm_cmpgt_epi16(c->vlo[d], hi)));
        }
        unsigned ok = ~(unsigned)_mm_movemask_epi8(_mm_packs_epi16(bad, bad)) & 0xFFu;
        m |= (uint64_t)ok << at;
    }
#else
    for (size_t i = 0; i < ns; i++) {
        bool ok = true;
        for (unsigned d = 0; d < 4; d++)
            ok = ok && IDX_CI16(blk, ns, 2 * d)[i] <= c->hi[d] &&
                 IDX_CI16(blk, ns, 2 * d + 1)[i] >= c->lo[d];
        m |= (uint64_t)ok << i;
    }
#endif
    return count >= 64 ? m : m & ((UINT64_C(1) << count) - 1);
}

/* Test and report the queued leaves, whose loads were started when their
 * parent node was read. */
static inline __attribute__((always_inline)) int flush_leaves(const dcf_index_t *idx, qctx_t *x,
                                                              mask_fn mask) {
    const size_t s = idx->stride;
    unsigned n = x->npend;
    int rc;
    x->npend = 0;
    for (unsigned i = 0; i < n; i++) {
        x->st.entries_tested += x->pend_n[i];
        if ((rc = report_mask(x, x->pend[i], s, 0,
                              mask(x->pend[i], s, 0, (unsigned)s, &x->q, x->exclude))) != 0)
            return rc;
    }
    return 0;
}

/*
 * Depth-first walk of one run with one (node, children left) frame per
 * layer.  Nodes are tested in grid codes; the leaves a node selects are
 * prefetched and queued (across runs), and tested in batches, so their
 * cache misses overlap with walking the nodes, and the other runs and the
 * write buffer, instead of stalling each step.  Always inlined
 * into one function per leaf-mask version, so the mask function is a known
 * constant there and is inlined too.
 */
static inline __attribute__((always_inline)) int walk(const dcf_index_t *idx, const idx_run_t *r,
                                                      qctx_t *x, mask_fn mask) {
    const size_t f = idx->fanout, s = idx->stride, ns = idx->nstride;
    const size_t leaf_bytes = (size_t)IDX_LEAF_FIELDS * s * 4;
    const size_t node_bytes = idx_node_bytes(idx);
    size_t node[IDX_MAX_HEIGHT + 1];
    uint64_t left[IDX_MAX_HEIGHT + 1];
    unsigned l = r->height;
    qcodes_t qc;
    int rc;

    if (l == 0) {
        x->st.entries_tested += idx_leaf_count(idx, r, 0);
        return report_mask(x, r->leaves, s, 0,
                           mask(r->leaves, s, 0, (unsigned)s, &x->q, x->exclude));
    }
    if (!query_codes(r, &x->q, &qc))
        return 0;
    node[l] = 0;
    left[l] = node_mask(idx_node(idx, r, l, 0), ns, idx_node_count(idx, r, l, 0), &qc);
    x->st.nodes_visited++;
    if (l == 1)
        prefetch_kids(r->leaves, 0, leaf_bytes, left[l]);
    while (l <= r->height) {
        if (left[l] == 0) {
            l++;
            continue;
        }
        size_t child = node[l] * f + (size_t)__builtin_ctzll(left[l]);
        left[l] &= left[l] - 1;
        if (l == 1) {
            x->pend[x->npend] = idx_leaf(idx, r, child);
            x->pend_n[x->npend++] = idx_leaf_count(idx, r, child);
            if (x->npend == IDX_PENDING && (rc = flush_leaves(idx, x, mask)) != 0)
                return rc;
        } else {
            l--;
            node[l] = child;
            left[l] =
                node_mask(idx_node(idx, r, l, child), ns, idx_node_count(idx, r, l, child), &qc);
            x->st.nodes_visited++;
            if (l == 1)
                prefetch_kids(r->leaves, child * f, leaf_bytes, left[l]);
            else
                prefetch_kids(r->nodes, r->first[l - 1] + child * f, node_bytes, left[l]);
        }
    }
    return 0;
}

/* The write buffer: slots [0, count) with count loaded once, with acquire
 * (pairs with the writer's release in index.c). */
static inline __attribute__((always_inline)) int scan_delta(const idx_delta_t *d, qctx_t *x,
                                                            mask_fn mask) {
    uint32_t n = atomic_load_explicit(&((idx_delta_t *)d)->count, memory_order_acquire);
    uint32_t full = n & ~3u;
    int rc;
    x->st.entries_tested += n;
    for (uint32_t at = 0; at < full; at += 64) {
        unsigned w = full - at < 64 ? full - at : 64;
        if ((rc = report_mask(x, d->arr, d->cap, at,
                              mask(d->arr, d->cap, at, w, &x->q, x->exclude))) != 0)
            return rc;
    }
    for (uint32_t i = full; i < n; i++)
        if (slot_hits(d->arr, d->cap, i, &x->q) &&
            IDX_CU32(d->arr, d->cap, IDX_F_PARTY)[i] != x->exclude &&
            (rc = report(x, d->arr, d->cap, i)) != 0)
            return rc;
    return 0;
}

static inline __attribute__((always_inline)) int
search(const dcf_index_t *idx, const idx_version_t *v, qctx_t *x, mask_fn mask) {
    int rc;
    for (unsigned i = 0; i < IDX_MAX_LEVELS; i++)
        if (v->level[i] != NULL && (rc = walk(idx, v->level[i], x, mask)) != 0)
            return rc;
    if ((rc = scan_delta(v->delta, x, mask)) != 0)
        return rc;
    return flush_leaves(idx, x, mask);
}

static int search_base(const dcf_index_t *idx, const idx_version_t *v, qctx_t *x) {
    return search(idx, v, x, mask_base);
}

#ifdef IDX_X86_DISPATCH
__attribute__((target("avx2"))) static int search_avx2(const dcf_index_t *idx,
                                                       const idx_version_t *v, qctx_t *x) {
    return search(idx, v, x, mask_avx2);
}
__attribute__((target("avx512f"))) static int search_avx512(const dcf_index_t *idx,
                                                            const idx_version_t *v, qctx_t *x) {
    return search(idx, v, x, mask_avx512);
}
#endif

int dcf__index_simd_level(void) {
#ifdef IDX_X86_DISPATCH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return 2;
    if (__builtin_cpu_supports("avx2"))
        return 1;
#endif
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
    qctx_t x; /* not zeroed whole: the leaf queue is written before it is read */
    int rc = 0;

    x.q = *q;
    x.exclude = exclude_party;
    x.cb = cb;
    x.arg = arg;
    x.npend = 0;
    memset(&x.st, 0, sizeof x.st);

    rd->busy = true;
    idx_version_t *v = atomic_load_explicit(&idx->cur, memory_order_seq_cst);
    for (;;) {
        atomic_store_explicit(&slot->hp, v, memory_order_seq_cst);
        idx_version_t *again = atomic_load_explicit(&idx->cur, memory_order_seq_cst);
        if (again == v)
            break;
        v = again;
    }
    x.dead = atomic_load_explicit(&v->ndead, memory_order_relaxed) != 0 ? v->dead : NULL;
#ifdef IDX_X86_DISPATCH
    if (idx->simd == 2)
        rc = search_avx512(idx, v, &x);
    else if (idx->simd == 1)
        rc = search_avx2(idx, v, &x);
    else
#endif
        rc = search_base(idx, v, &x);
    atomic_store_explicit(&slot->hp, NULL, memory_order_release);
    rd->busy = false;
    if (st != NULL) {
        st->nodes_visited += x.st.nodes_visited;
        st->entries_tested += x.st.entries_tested;
        st->candidates += x.st.candidates;
    }
    return rc;
}
