/*
 * index_int.h -- private structures of the spatio-temporal index, shared by
 * the files of src/index/ and by the index's own tests.
 *
 * THE PIECES (docs/internals/index.md has the full picture).
 *
 *   RUN      an immutable packed 4D R-tree over some entries (idx_run_t).
 *            Leaves are blocks of up to `fanout` entries; every node above
 *            them holds the bounds of up to `fanout` children.  Children are
 *            implicit: child c of node j on layer l is node j*fanout + c on
 *            layer l-1 (layer 0 is the leaf blocks), so nodes hold no pointers.
 *   DELTA    the write buffer: an append-only array of at most delta_cap
 *            entries (idx_delta_t).  Readers see slots [0, count).
 *   LEVELS   runs are kept LSM-style: level i holds at most one run of at most
 *            delta_cap * IDX_LEVEL_RATIO^(i+1) entries.  A full delta is merged
 *            with the smallest levels into one new run.
 *   DEAD     a bitmap by key (idx_bits_t): bit k set means entry k was removed
 *            but may still sit in a run or in the delta.  Readers skip it.
 *   VERSION  what a reader pins: the level array, the delta and the dead
 *            bitmap (idx_version_t).  The writer never changes a published
 *            version's level array; it publishes a new version instead and
 *            frees the old one once no reader slot holds it or anything older.
 *
 * LAYOUT.  Leaf blocks and the delta are structures of arrays: each field
 * (t_lo, t_hi, lng_lo, lng_hi, lat_lo, lat_hi, alt_lo, alt_hi, key, party)
 * is an array of `stride` 4-byte values, stride being the fanout rounded up
 * to a multiple of 4 so four entries are compared per SSE2 instruction, and
 * the boxes are the exact boxes given.  Unused leaf slots hold the EMPTY box
 * (t_lo = INT32_MAX, t_hi = INT32_MIN, floats NaN), which intersects no
 * query.  Nodes hold their children's bounds as 16-bit GRID CODES, the same
 * eight fields of `nstride` int16 values: each run has a grid per dimension
 * (origin, step), a lower bound is stored as the code just below it and an
 * upper bound as the code just above it, so a node's test is conservative
 * and a node is half the size (four cache lines at fanout 16).  A query is
 * converted to codes once per run, rounding outward the same way; the leaves
 * then give the exact answer.
 *
 * INVARIANTS (dcf_index_check verifies them).
 *   - Every key below next_key is in exactly one place: an entry of the
 *     current version, the free-key stack, or the dropped-key list of a
 *     retired version (waiting for readers to let go).
 *   - kparty[k] (the key's party) is not UINT32_MAX iff k is live: its entry
 *     is in the current version and was not removed.  Its dead bit is set
 *     iff it was removed and the key has not been recycled yet.
 *   - The current dead bitmap covers every key an insert can hand out before
 *     the next version: nbits >= next_key + (delta cap - delta count).
 *   - A run on level i < IDX_MAX_LEVELS - 1 holds at most level_cap(i) entries.
 *
 * Callers: index.c (writers, versions, reclamation), pack.c (run building),
 * query.c (readers), check.c (self-check and stats), tests/index/.
 */
#ifndef DCF_INDEX_INT_H
#define DCF_INDEX_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deconflict/index.h"

/* ------------------------------------------------------------- limits -- */

#define IDX_MAX_KEYS    (UINT32_C(1) << 31) /* keys are < 2^31: at most 2^31 entries */
#define IDX_FANOUT_MIN  4u
#define IDX_FANOUT_MAX  64u /* a node's child mask fits a uint64_t */
#define IDX_DELTA_MIN   16u /* smallest write buffer */
#define IDX_DELTA_MAX   (1u << 20)
#define IDX_LEVEL_RATIO 12u  /* size ratio between consecutive levels */
#define IDX_MAX_LEVELS  24   /* 16 * 12^23 > 2^31: never reached */
#define IDX_MAX_HEIGHT  24   /* layers above the leaves; 4^24 > 2^31 */
#define IDX_MAX_READERS 256u /* reader handles alive at once */
/* Compact everything once removed entries exceed live / IDX_DEAD_DIVISOR
 * (and IDX_DEAD_MIN). */
#define IDX_DEAD_DIVISOR 4u
#define IDX_DEAD_MIN     64u

/* Field numbers of the structure-of-arrays layout. */
enum {
    IDX_F_TLO,
    IDX_F_THI,
    IDX_F_LNGLO,
    IDX_F_LNGHI,
    IDX_F_LATLO,
    IDX_F_LATHI,
    IDX_F_ALTLO,
    IDX_F_ALTHI,
    IDX_F_KEY,
    IDX_F_PARTY,
};
#define IDX_NODE_FIELDS 8  /* bounds only */
#define IDX_LEAF_FIELDS 10 /* bounds, key, party */

/* Typed views of field f of a block whose fields are `stride` values long. */
#define IDX_I16(blk, stride, f)  ((int16_t *)((char *)(blk) + (size_t)(f) * (stride)*2))
#define IDX_CI16(blk, stride, f) ((const int16_t *)((const char *)(blk) + (size_t)(f) * (stride)*2))
#define IDX_I32(blk, stride, f)  ((int32_t *)((char *)(blk) + (size_t)(f) * (stride)*4))
#define IDX_F32(blk, stride, f)  ((float *)((char *)(blk) + (size_t)(f) * (stride)*4))
#define IDX_U32(blk, stride, f)  ((uint32_t *)((char *)(blk) + (size_t)(f) * (stride)*4))
#define IDX_CI32(blk, stride, f) ((const int32_t *)((const char *)(blk) + (size_t)(f) * (stride)*4))
#define IDX_CF32(blk, stride, f) ((const float *)((const char *)(blk) + (size_t)(f) * (stride)*4))
#define IDX_CU32(blk, stride, f)                                                                   \
    ((const uint32_t *)((const char *)(blk) + (size_t)(f) * (stride)*4))

/* One entry in array-of-structures form, used while building runs. */
typedef struct {
    dcf_box_t box;
    uint32_t key;
    uint32_t party;
} idx_entry_t;

/* Grid codes: 0..IDX_GRID_TOP, stored minus 32768 as int16.  Every
 * conversion moves a lower bound down and an upper bound up by IDX_GRID_EPS
 * of a step before rounding, which covers the rounding of the double
 * arithmetic (below 1e-9 of a step for positions within the grid).
 *
 * WHY NODE TESTS CANNOT MISS.  Let a child's bound be [a, b] and the query's
 * [c, d], with exact grid positions pa <= pb, pc <= pd, and computed
 * positions within 1e-9 of them.  If a <= d then pa <= pd, so
 * floor(pa' - eps) <= ceil(pd' + eps) for the computed pa', pd'; likewise
 * b >= c gives ceil(pb' + eps) >= floor(pc' - eps).  Clamping to the grid
 * keeps both (stored positions lie within it, and a query that lies beyond
 * the grid skips the run, which holds no box there).  A higher node's codes
 * are the min/max of its child's codes, which only widens them. */
#define IDX_GRID_TOP      65535
#define IDX_GRID_SPAN     65000.0 /* steps the entries span; the rest is margin */
#define IDX_GRID_EPS      1e-3
#define IDX_CODE_EMPTY_LO INT16_MAX /* an unused node slot */
#define IDX_CODE_EMPTY_HI INT16_MIN

/* An immutable packed R-tree. */
typedef struct {
    double org[4], step[4], inv[4]; /* grid per dimension (time, lng, lat, alt); inv = 1/step */
    uint32_t n;                     /* entries */
    uint32_t nleaf;                 /* leaf blocks, ceil(n / fanout) */
    uint32_t height;                /* layers of nodes above the leaves; 0 when nleaf == 1 */
    uint32_t nnodes[IDX_MAX_HEIGHT + 1]; /* nodes on layer l, 1 <= l <= height */
    size_t first[IDX_MAX_HEIGHT + 1];    /* index in `nodes` of layer l's node 0 */
    void *leaves;                        /* nleaf blocks of IDX_LEAF_FIELDS * stride */
    void *nodes;                         /* blocks of IDX_NODE_FIELDS * stride int16 */
    size_t bytes;                        /* heap bytes of this run */
} idx_run_t;

/* The append-only write buffer. */
typedef struct {
    _Atomic uint32_t count; /* published slots; release by the writer */
    uint32_t cap;           /* slots, a multiple of 4 */
    void *arr;              /* IDX_LEAF_FIELDS arrays of cap values */
    size_t bytes;
} idx_delta_t;

/* The dead bitmap. */
typedef struct {
    size_t nbits; /* a multiple of 64 */
    size_t bytes;
    _Atomic uint64_t w[];
} idx_bits_t;

typedef struct idx_version_s {
    /* Read by readers; never changed after publication. */
    idx_run_t *level[IDX_MAX_LEVELS];
    idx_delta_t *delta;
    idx_bits_t *dead;
    /* Removed entries still in this version's runs and delta; only the
     * writer's removes change it (relaxed).  A reader that reads 0 skips the
     * dead bits: a removal that happened before its query began has been
     * counted here and is seen (coherence). */
    atomic_size_t ndead;
    /* Writer only. */
    struct idx_version_s *next_retired;   /* FIFO, oldest first */
    idx_run_t *g_run[IDX_MAX_LEVELS + 1]; /* garbage: freed with this version */
    unsigned g_nrun;
    idx_delta_t *g_delta;
    idx_bits_t *g_dead;
    uint32_t *g_keys; /* keys whose entries the next version dropped */
    size_t g_nkeys;
} idx_version_t;

/* A reader's hazard slot, one cache line, never freed before the index. */
typedef struct idx_slot_s {
    _Alignas(64) _Atomic(idx_version_t *) hp;
    atomic_bool in_use;
    struct idx_slot_s *next; /* immutable once the slot is on the list */
} idx_slot_t;

struct dcf_index_reader_s {
    dcf_index_t *idx;
    idx_slot_t *slot;
    bool busy; /* inside a query (callbacks must not re-enter) */
};

struct dcf_index_s {
    /* Immutable after dcf_index_new. */
    unsigned fanout;    /* children per node */
    unsigned stride;    /* fanout rounded up to a multiple of 4: leaves, delta */
    unsigned nstride;   /* fanout rounded up to a multiple of 8: nodes */
    uint32_t delta_cap; /* write-buffer slots */
    int simd;           /* compare kernel: 0 portable, 1 AVX2, 2 AVX-512 */

    /* Shared with readers. */
    _Atomic(idx_version_t *) cur;
    _Atomic(idx_slot_t *) slots;
    atomic_uint nslots;

    /* Writer only. */
    idx_version_t *retired_head, *retired_tail;
    uint32_t *kparty; /* party of each live key, UINT32_MAX when not live */
    size_t cap_kparty;
    uint32_t *free_keys; /* recyclable keys, a stack */
    size_t nfree, cap_free;
    uint32_t next_key; /* keys >= next_key were never handed out */
    size_t nlive, ndead;
    size_t bytes;    /* heap bytes of writer-side allocations */
    long fail_after; /* fault injection: fail the allocation after this many; < 0 never */
};

/* ------------------------------------------------ cross-file internals -- */

/* Allocation through the index (counts bytes, honours fault injection). */
void *dcf__index_alloc(dcf_index_t *idx, size_t n);
void dcf__index_release(dcf_index_t *idx, void *p, size_t n);

/* Build a run from n >= 1 entries (reordered copies; `e` is not changed).
 * Returns DCF_OK or DCF_ENOMEM. */
int dcf__index_run_build(dcf_index_t *idx, const idx_entry_t *e, size_t n, idx_run_t **out);
void dcf__index_run_free(dcf_index_t *idx, idx_run_t *r);

/* Leaf block b and node j of layer l of a run. */
static inline const void *idx_leaf(const dcf_index_t *idx, const idx_run_t *r, size_t b) {
    return (const char *)r->leaves + b * (size_t)IDX_LEAF_FIELDS * idx->stride * 4;
}
static inline size_t idx_node_bytes(const dcf_index_t *idx) {
    return (size_t)IDX_NODE_FIELDS * idx->nstride * 2;
}
static inline const void *idx_node(const dcf_index_t *idx, const idx_run_t *r, unsigned l,
                                   size_t j) {
    return (const char *)r->nodes + (r->first[l] + j) * idx_node_bytes(idx);
}

/* Position of x on dimension d's grid of run r, clamped to a little beyond
 * the grid (infinite query bounds included). */
static inline double idx_grid_pos(const idx_run_t *r, unsigned d, double x) {
    double p = (x - r->org[d]) * r->inv[d];
    return p < -2.0 ? -2.0 : p > IDX_GRID_TOP + 2.0 ? IDX_GRID_TOP + 2.0 : p;
}
/* The code at or below x, and at or above x (not clamped to the grid).
 * Floor and ceiling by conversion, exact for the clamped range. */
static inline int32_t idx_code_below(const idx_run_t *r, unsigned d, double x) {
    double p = idx_grid_pos(r, d, x) - IDX_GRID_EPS;
    int32_t c = (int32_t)p;
    return (double)c > p ? c - 1 : c;
}
static inline int32_t idx_code_above(const idx_run_t *r, unsigned d, double x) {
    double p = idx_grid_pos(r, d, x) + IDX_GRID_EPS;
    int32_t c = (int32_t)p;
    return (double)c < p ? c + 1 : c;
}
/* Entries in leaf block b. */
static inline unsigned idx_leaf_count(const dcf_index_t *idx, const idx_run_t *r, size_t b) {
    size_t left = r->n - b * idx->fanout;
    return left < idx->fanout ? (unsigned)left : idx->fanout;
}
/* Children of node j on layer l. */
static inline unsigned idx_node_count(const dcf_index_t *idx, const idx_run_t *r, unsigned l,
                                      size_t j) {
    size_t below = l == 1 ? r->nleaf : r->nnodes[l - 1];
    size_t left = below - j * idx->fanout;
    return left < idx->fanout ? (unsigned)left : idx->fanout;
}

/* Most entries level i may hold. */
static inline size_t idx_level_cap(const dcf_index_t *idx, unsigned i) {
    size_t c = idx->delta_cap;
    for (unsigned k = 0; k <= i; k++) {
        if (c > IDX_MAX_KEYS)
            return SIZE_MAX;
        c *= IDX_LEVEL_RATIO;
    }
    return i + 1 >= IDX_MAX_LEVELS ? SIZE_MAX : c;
}

static inline bool idx_bit(const uint64_t *w, size_t k) {
    return (w[k >> 6] >> (k & 63)) & 1u;
}
static inline bool idx_dead(const idx_bits_t *b, uint32_t k) {
    return (atomic_load_explicit(&b->w[k >> 6], memory_order_relaxed) >> (k & 63)) & 1u;
}

/* The best compare kernel this CPU runs (query.c): 0 portable (SSE2 where
 * compiled for it), 1 AVX2, 2 AVX-512F. */
int dcf__index_simd_level(void);

/* Fault injection for tests: the allocation after `n` more succeed fails
 * (n < 0 turns it off).  Writer thread only. */
void dcf__index_fail_after(dcf_index_t *idx, long n);

#endif /* DCF_INDEX_INT_H */
