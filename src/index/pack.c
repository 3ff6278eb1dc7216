/*
 * pack.c -- building an immutable packed R-tree (a "run") from entries.
 *
 * HOW IT WORKS.  Sort-tile-recursive packing with time as the first
 * dimension.  With P = ceil(n / fanout) leaves:
 *   1. sort the entries by the middle of their time window and cut them into
 *      St time slabs of equal count (St = P^IDX_TIME_EXP, more slabs than the
 *      P^(1/3) of plain STR because queries are short in time compared with
 *      the horizon);
 *   2. sort each slab by the middle of its longitude range and cut it into
 *      slices of equal count;
 *   3. sort each slice by the middle of its latitude range and cut it into
 *      leaves of `fanout` consecutive entries.
 * Slab and slice sizes are whole numbers of leaves, so no leaf straddles two
 * slabs.  Layers above the leaves group `fanout` consecutive children, so
 * the upper nodes follow time first too: a query for next week never opens a
 * node that only holds last month.  Altitude is not a sort key: bands mostly
 * start at the ground and separate poorly.
 *
 * Sorting is an LSD radix sort of (32-bit key, 32-bit position) pairs that
 * skips byte positions on which all keys agree, so a slab of minutes or of
 * clustered coordinates costs two or three passes.
 *
 * Node bounds are exact minima and maxima of the children (no rounding), so
 * a parent always contains its children.
 *
 * Called by index.c (flush, bulk load, compaction) on the writer thread.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/index_int.h"

/* Time slabs = leaves^IDX_TIME_EXP (plain STR in 3 dimensions uses 1/3). */
#ifndef IDX_TIME_EXP
#define IDX_TIME_EXP 0.5
#endif

/* ------------------------------------------------------------ sorting -- */

/* Sort by the high 32 bits; small inputs by insertion. */
static void sort_small(uint64_t *a, size_t n) {
    for (size_t i = 1; i < n; i++) {
        uint64_t x = a[i];
        size_t j = i;
        while (j > 0 && (a[j - 1] >> 32) > (x >> 32)) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = x;
    }
}

/* Sort a[0..n) by the high 32 bits, using tmp[0..n) as scratch. */
static void radix_sort(uint64_t *a, uint64_t *tmp, size_t n) {
    if (n < 64) {
        sort_small(a, n);
        return;
    }
    size_t cnt[4][256];
    memset(cnt, 0, sizeof cnt);
    for (size_t i = 0; i < n; i++) {
        uint32_t k = (uint32_t)(a[i] >> 32);
        cnt[0][k & 255]++;
        cnt[1][(k >> 8) & 255]++;
        cnt[2][(k >> 16) & 255]++;
        cnt[3][k >> 24]++;
    }
    uint64_t *src = a, *dst = tmp;
    for (unsigned p = 0; p < 4; p++) {
        unsigned shift = 32 + 8 * p;
        size_t *c = cnt[p];
        if (c[(src[0] >> shift) & 255] == n)
            continue; /* every key has the same byte here */
        size_t sum = 0;
        for (unsigned d = 0; d < 256; d++) {
            size_t t = c[d];
            c[d] = sum;
            sum += t;
        }
        for (size_t i = 0; i < n; i++)
            dst[c[(src[i] >> shift) & 255]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
}

/* Order-preserving maps to unsigned keys. */
static uint32_t key_i32(int32_t v) {
    return (uint32_t)v ^ UINT32_C(0x80000000);
}
static uint32_t key_f32(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u & UINT32_C(0x80000000)) ? ~u : u | UINT32_C(0x80000000);
}
static uint32_t tkey(const idx_entry_t *e) {
    return key_i32((int32_t)(((int64_t)e->box.t_lo + e->box.t_hi) >> 1));
}
static uint32_t xkey(const idx_entry_t *e) {
    return key_f32(0.5f * e->box.lng_lo + 0.5f * e->box.lng_hi);
}
static uint32_t ykey(const idx_entry_t *e) {
    return key_f32(0.5f * e->box.lat_lo + 0.5f * e->box.lat_hi);
}

/* Re-key perm[0..n) by `kf` of the entry each one names, then sort. */
static void sort_by(const idx_entry_t *e, uint64_t *perm, uint64_t *tmp, size_t n,
                    uint32_t (*kf)(const idx_entry_t *)) {
    for (size_t i = 0; i < n; i++) {
        uint32_t pos = (uint32_t)perm[i];
        perm[i] = (uint64_t)kf(&e[pos]) << 32 | pos;
    }
    radix_sort(perm, tmp, n);
}

/* ------------------------------------------------------------- layout -- */

static void set_empty(void *blk, size_t stride, size_t slot) {
    IDX_I32(blk, stride, IDX_F_TLO)[slot] = INT32_MAX;
    IDX_I32(blk, stride, IDX_F_THI)[slot] = INT32_MIN;
    for (unsigned f = IDX_F_LNGLO; f <= IDX_F_ALTHI; f++)
        IDX_F32(blk, stride, f)[slot] = NAN;
}

static void set_box(void *blk, size_t stride, size_t slot, const dcf_box_t *b) {
    IDX_I32(blk, stride, IDX_F_TLO)[slot] = b->t_lo;
    IDX_I32(blk, stride, IDX_F_THI)[slot] = b->t_hi;
    IDX_F32(blk, stride, IDX_F_LNGLO)[slot] = b->lng_lo;
    IDX_F32(blk, stride, IDX_F_LNGHI)[slot] = b->lng_hi;
    IDX_F32(blk, stride, IDX_F_LATLO)[slot] = b->lat_lo;
    IDX_F32(blk, stride, IDX_F_LATHI)[slot] = b->lat_hi;
    IDX_F32(blk, stride, IDX_F_ALTLO)[slot] = b->alt_lo;
    IDX_F32(blk, stride, IDX_F_ALTHI)[slot] = b->alt_hi;
}

/* The bounds of the first `count` slots of a block. */
static void block_bounds(const void *blk, size_t stride, unsigned count, dcf_box_t *out) {
    const int32_t *tlo = IDX_CI32(blk, stride, IDX_F_TLO), *thi = IDX_CI32(blk, stride, IDX_F_THI);
    const float *f[6];
    for (unsigned k = 0; k < 6; k++)
        f[k] = IDX_CF32(blk, stride, IDX_F_LNGLO + k);
    dcf_box_t b = {f[0][0], f[1][0], f[2][0], f[3][0], f[4][0], f[5][0], tlo[0], thi[0]};
    for (unsigned c = 1; c < count; c++) {
        b.t_lo = tlo[c] < b.t_lo ? tlo[c] : b.t_lo;
        b.t_hi = thi[c] > b.t_hi ? thi[c] : b.t_hi;
        b.lng_lo = f[0][c] < b.lng_lo ? f[0][c] : b.lng_lo;
        b.lng_hi = f[1][c] > b.lng_hi ? f[1][c] : b.lng_hi;
        b.lat_lo = f[2][c] < b.lat_lo ? f[2][c] : b.lat_lo;
        b.lat_hi = f[3][c] > b.lat_hi ? f[3][c] : b.lat_hi;
        b.alt_lo = f[4][c] < b.alt_lo ? f[4][c] : b.alt_lo;
        b.alt_hi = f[5][c] > b.alt_hi ? f[5][c] : b.alt_hi;
    }
    *out = b;
}

/* Shape of the tree for n entries: leaves, height, nodes per layer. */
static int plan(const dcf_index_t *idx, idx_run_t *r, size_t n, size_t *total_nodes) {
    size_t f = idx->fanout;
    r->n = (uint32_t)n;
    r->nleaf = (uint32_t)((n + f - 1) / f);
    r->height = 0;
    size_t below = r->nleaf, total = 0;
    while (below > 1) {
        if (r->height == IDX_MAX_HEIGHT)
            return DCF_ELIMIT;
        size_t here = (below + f - 1) / f;
        r->height++;
        r->nnodes[r->height] = (uint32_t)here;
        r->first[r->height] = total;
        total += here;
        below = here;
    }
    *total_nodes = total;
    return DCF_OK;
}

/* ----------------------------------------------------------- building -- */

int dcf__index_run_build(dcf_index_t *idx, const idx_entry_t *e, size_t n, idx_run_t **out) {
    const size_t f = idx->fanout, s = idx->stride;
    const size_t leaf_bytes = (size_t)IDX_LEAF_FIELDS * s * 4;
    const size_t node_bytes = (size_t)IDX_NODE_FIELDS * s * 4;
    uint64_t *perm = NULL, *tmp = NULL;
    idx_run_t *r = NULL;
    size_t total_nodes = 0;
    int rc = DCF_ENOMEM;

    if (n == 0 || n > IDX_MAX_KEYS)
        return DCF_EINVAL;
    r = dcf__index_alloc(idx, sizeof *r);
    if (r == NULL)
        goto out;
    memset(r, 0, sizeof *r);
    if ((rc = plan(idx, r, n, &total_nodes)) != DCF_OK)
        goto out;
    rc = DCF_ENOMEM;
    r->bytes = sizeof *r + r->nleaf * leaf_bytes + total_nodes * node_bytes;
    perm = dcf__index_alloc(idx, n * sizeof *perm);
    tmp = dcf__index_alloc(idx, n * sizeof *tmp);
    r->leaves = dcf__index_alloc(idx, r->nleaf * leaf_bytes);
    if (perm == NULL || tmp == NULL || r->leaves == NULL)
        goto out;
    if (total_nodes > 0 && (r->nodes = dcf__index_alloc(idx, total_nodes * node_bytes)) == NULL)
        goto out;

    /* 1-3: sort-tile-recursive order in perm. */
    size_t leaves = r->nleaf;
    size_t slabs = (size_t)ceil(pow((double)leaves, IDX_TIME_EXP));
    if (slabs < 1)
        slabs = 1;
    size_t slab_leaves = (leaves + slabs - 1) / slabs;
    size_t slices = (size_t)ceil(sqrt((double)slab_leaves));
    size_t slice_leaves = (slab_leaves + slices - 1) / slices;
    size_t slab_n = slab_leaves * f, slice_n = slice_leaves * f;
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint64_t)tkey(&e[i]) << 32 | i;
    radix_sort(perm, tmp, n);
    for (size_t a = 0; a < n; a += slab_n) {
        size_t an = n - a < slab_n ? n - a : slab_n;
        sort_by(e, perm + a, tmp, an, xkey);
        for (size_t b = 0; b < an; b += slice_n)
            sort_by(e, perm + a + b, tmp, an - b < slice_n ? an - b : slice_n, ykey);
    }

    /* Leaves in that order. */
    for (size_t b = 0; b < r->nleaf; b++) {
        void *blk = (char *)r->leaves + b * leaf_bytes;
        uint32_t *key = IDX_U32(blk, s, IDX_F_KEY), *party = IDX_U32(blk, s, IDX_F_PARTY);
        for (size_t c = 0; c < s; c++) {
            size_t i = b * f + c;
            if (c < f && i < n) {
                const idx_entry_t *x = &e[(uint32_t)perm[i]];
                set_box(blk, s, c, &x->box);
                key[c] = x->key;
                party[c] = x->party;
            } else {
                set_empty(blk, s, c);
                key[c] = UINT32_MAX;
                party[c] = UINT32_MAX;
            }
        }
    }

    /* Layers above, bottom up: slot c of node j on layer l bounds child
     * j*f + c of layer l - 1. */
    for (unsigned l = 1; l <= r->height; l++) {
        for (size_t j = 0; j < r->nnodes[l]; j++) {
            void *blk = (char *)r->nodes + (r->first[l] + j) * node_bytes;
            unsigned kids = idx_node_count(idx, r, l, j);
            for (size_t c = 0; c < s; c++) {
                if (c >= kids) {
                    set_empty(blk, s, c);
                    continue;
                }
                size_t child = j * f + c;
                dcf_box_t b;
                if (l == 1)
                    block_bounds(idx_leaf(idx, r, child), s, idx_leaf_count(idx, r, child), &b);
                else
                    block_bounds(idx_node(idx, r, l - 1, child), s,
                                 idx_node_count(idx, r, l - 1, child), &b);
                set_box(blk, s, c, &b);
            }
        }
    }

    *out = r;
    r = NULL;
    rc = DCF_OK;
out:
    dcf__index_release(idx, perm, n * sizeof *perm);
    dcf__index_release(idx, tmp, n * sizeof *tmp);
    if (r != NULL) {
        dcf__index_release(idx, r->leaves, r->nleaf * leaf_bytes);
        dcf__index_release(idx, r->nodes, total_nodes * node_bytes);
        dcf__index_release(idx, r, sizeof *r);
    }
    return rc;
}

void dcf__index_run_free(dcf_index_t *idx, idx_run_t *r) {
    if (r == NULL)
        return;
    size_t total = 0;
    for (unsigned l = 1; l <= r->height; l++)
        total += r->nnodes[l];
    dcf__index_release(idx, r->leaves, r->nleaf * (size_t)IDX_LEAF_FIELDS * idx->stride * 4);
    dcf__index_release(idx, r->nodes, total * (size_t)IDX_NODE_FIELDS * idx->stride * 4);
    dcf__index_release(idx, r, sizeof *r);
}
