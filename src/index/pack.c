/*
 * pack.c -- building an immutable packed R-tree (a "run") from entries.
 *
 * HOW IT WORKS.  Top-down k-d packing in normalised coordinates.
 *
 * Each entry becomes a point: the centre of its box in time, longitude,
 * latitude and altitude, each divided by that dimension's SCALE, the 90th
 * percentile of the extents of the entries' boxes in that dimension.  A
 * query is about an entry's box grown by the minima, so in these units a
 * query and a wide entry are roughly unit cubes, and a leaf whose points
 * spread about equally in every unit dimension meets the fewest queries (a
 * leaf box meets a query when their centres are within half the sum of
 * their extents in every dimension).  Plain sort-tile-recursive packing with
 * time slabs first was measured too: on clustered traffic its fixed cut
 * counts make long thin tiles across hubs, and queries opened about twice
 * the nodes (11.5 against 6 at 10^6 entries, 33 against 12 at 10^7) and,
 * at 10^7, 30% more entries.
 *
 * The tree shape is fixed by n alone (see plan()): leaf b holds entries
 * [b*F, b*F + F), node j of layer l holds children [j*F, j*F + F) of layer
 * l - 1, so a node of layer l covers a run of F^(l+1) consecutive entries.
 * The packer therefore only orders the entries: split(a, n, g) cuts [a, a+n)
 * into consecutive groups of g entries, recursively in two at a multiple of
 * g, each cut at the median of the dimension in which the points spread
 * widest (in units); a group of g > F entries is then cut the same way into
 * groups of g / F.  Starting from g = F^(height+1) (the root), every
 * node's subtree is a compact box of points.  Time separates as it should:
 * a month of traffic is hundreds of units long in time, so the cuts slice it
 * into short windows, and a query for next week meets no child of the root.
 *
 * Cost: one branch-free selection pass over the entries per binary level,
 * about log2(n / F) passes over 20-byte records, plus one pass writing the
 * leaves and one per node layer: about 100 ns per entry at 10^6.
 *
 * Node bounds are grid codes (index_int.h): a layer-1 slot holds its leaf's
 * exact bounds rounded outward onto the run's grid, a higher slot the
 * minimum and maximum of its child's codes, so a parent always contains its
 * children and every node test is conservative.  Leaves keep the exact
 * boxes.
 *
 * Called by index.c (flush, bulk load, compaction) on the writer thread.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "index/index_int.h"

#define DIMS 4 /* time, longitude, latitude, altitude */

/* A point to order: normalised centre and the entry's position. */
typedef struct {
    float c[DIMS];
    uint32_t pos;
} pt_t;

/* ---------------------------------------------------------- normalising -- */

static float extent(const dcf_box_t *b, unsigned d) {
    switch (d) {
    case 0:
        return (float)((double)b->t_hi - b->t_lo);
    case 1:
        return b->lng_hi - b->lng_lo;
    case 2:
        return b->lat_hi - b->lat_lo;
    default:
        return b->alt_hi - b->alt_lo;
    }
}

/* The k-th smallest of v[0..n) (v is reordered). */
static float kth(float *v, size_t n, size_t k) {
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = v[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                float t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            break;
    }
    return v[k];
}

/* The 90th percentile of the entries' extents per dimension, from an even
 * sample of at most SAMPLE entries, never below a floor (points have no
 * extent).  A high percentile, because a leaf's box is as wide as its widest
 * members, and footprints and durations spread over two orders of
 * magnitude. */
#define SAMPLE 512
static void scales(const idx_entry_t *e, size_t n, double out[DIMS]) {
    static const double floor_[DIMS] = {1.0, 1e-4, 1e-4, 1.0}; /* min, deg, deg, m */
    float buf[SAMPLE];
    size_t step = n > SAMPLE ? n / SAMPLE : 1;
    for (unsigned d = 0; d < DIMS; d++) {
        size_t m = 0;
        for (size_t i = 0; i < n && m < SAMPLE; i += step)
            buf[m++] = extent(&e[i].box, d);
        double s = kth(buf, m, m * 9 / 10);
        out[d] = s > floor_[d] ? s : floor_[d];
    }
}

/* ------------------------------------------------------------ ordering -- */

/* Move the points of p[0..n) whose coordinate d is below `pivot` (or, with
 * `or_equal`, not above it) to the front; returns how many there are.
 * Lomuto's scheme without branches: every point is swapped with the first
 * point of the back part, and the front grows by the comparison's result. */
static inline __attribute__((always_inline)) size_t part(pt_t *p, size_t n, unsigned d, float pivot,
                                                         bool or_equal) {
    size_t l = 0;
    for (size_t i = 0; i < n; i++) {
        pt_t x = p[i];
        float v = x.c[d];
        p[i] = p[l];
        p[l] = x;
        l += or_equal ? v <= pivot : v < pivot;
    }
    return l;
}

/* One copy per dimension and comparison, so each loop reads a fixed
 * coordinate from a register instead of indexing the point in memory. */
static size_t partition(pt_t *p, size_t n, unsigned d, float pivot, bool or_equal) {
    switch (d * 2 + or_equal) {
    case 0:
        return part(p, n, 0, pivot, false);
    case 1:
        return part(p, n, 0, pivot, true);
    case 2:
        return part(p, n, 1, pivot, false);
    case 3:
        return part(p, n, 1, pivot, true);
    case 4:
        return part(p, n, 2, pivot, false);
    case 5:
        return part(p, n, 2, pivot, true);
    case 6:
        return part(p, n, 3, pivot, false);
    default:
        return part(p, n, 3, pivot, true);
    }
}

static float median3(float a, float b, float c) {
    if (a > b) {
        float t = a;
        a = b;
        b = t;
    }
    return c < a ? a : c > b ? b : c;
}

/* Reorder p[0..n) so that every point before position k is <= every point
 * from k on in dimension d (quickselect). */
static void select_k(pt_t *p, size_t n, size_t k, unsigned d) {
    size_t lo = 0, hi = n;
    while (hi - lo > 8) {
        float pivot = median3(p[lo].c[d], p[lo + (hi - lo) / 2].c[d], p[hi - 1].c[d]);
        size_t m = lo + partition(p + lo, hi - lo, d, pivot, false);
        if (m == lo) { /* pivot is the minimum: split off the points equal to it */
            m = lo + partition(p + lo, hi - lo, d, pivot, true);
            if (k < m)
                return; /* [lo, m) are all equal: any cut inside is a median cut */
        }
        if (k < m)
            hi = m;
        else
            lo = m;
    }
    for (size_t i = lo + 1; i < hi; i++) { /* insertion sort the rest */
        pt_t x = p[i];
        size_t j = i;
        while (j > lo && p[j - 1].c[d] > x.c[d]) {
            p[j] = p[j - 1];
            j--;
        }
        p[j] = x;
    }
}

/* The dimension in which p[0..n) spreads widest, judged from at most
 * about 256 evenly spaced points (a heuristic: any answer is correct). */
static unsigned widest(const pt_t *p, size_t n) {
    size_t step = n > 512 ? n / 256 : 1;
    float lo[DIMS], hi[DIMS];
    for (unsigned d = 0; d < DIMS; d++)
        lo[d] = hi[d] = p[0].c[d];
    for (size_t i = step; i < n; i += step) {
        for (unsigned d = 0; d < DIMS; d++) {
            lo[d] = p[i].c[d] < lo[d] ? p[i].c[d] : lo[d];
            hi[d] = p[i].c[d] > hi[d] ? p[i].c[d] : hi[d];
        }
    }
    unsigned best = 0;
    for (unsigned d = 1; d < DIMS; d++)
        if (hi[d] - lo[d] > hi[best] - lo[best])
            best = d;
    return best;
}

/* Order p[0..n) into consecutive compact groups of g entries, each group
 * in turn ordered into groups of g / f, down to leaves of f. */
static void split(pt_t *p, size_t n, size_t g, size_t f) {
    while (n > g) {
        size_t groups = (n + g - 1) / g;
        size_t nl = groups / 2 * g;
        select_k(p, n, nl, widest(p, n));
        split(p, nl, g, f); /* depth is log2(n / g): bounded */
        p += nl;
        n -= nl;
    }
    if (g > f)
        split(p, n, g / f, f);
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

/* The grid of a run: per dimension, origin at the lowest bound and a step
 * that spans the highest bound in IDX_GRID_SPAN steps. */
static void grid(idx_run_t *r, const idx_entry_t *e, size_t n) {
    double lo[4], hi[4];
    for (size_t i = 0; i < n; i++) {
        const dcf_box_t *b = &e[i].box;
        double l[4] = {b->t_lo, b->lng_lo, b->lat_lo, b->alt_lo};
        double h[4] = {b->t_hi, b->lng_hi, b->lat_hi, b->alt_hi};
        for (unsigned d = 0; d < 4; d++) {
            lo[d] = i == 0 || l[d] < lo[d] ? l[d] : lo[d];
            hi[d] = i == 0 || h[d] > hi[d] ? h[d] : hi[d];
        }
    }
    for (unsigned d = 0; d < 4; d++) {
        r->org[d] = lo[d];
        r->step[d] = hi[d] > lo[d] ? (hi[d] - lo[d]) / IDX_GRID_SPAN : 1.0;
        r->inv[d] = 1.0 / r->step[d];
    }
}

static int16_t clamp_code(int32_t c) {
    c = c < 0 ? 0 : c > IDX_GRID_TOP ? IDX_GRID_TOP : c;
    return (int16_t)(c - 32768);
}

/* Node slot `slot` := the codes of box b (lower bounds down, upper up). */
static void set_codes(void *blk, size_t stride, size_t slot, const idx_run_t *r,
                      const dcf_box_t *b) {
    double l[4] = {b->t_lo, b->lng_lo, b->lat_lo, b->alt_lo};
    double h[4] = {b->t_hi, b->lng_hi, b->lat_hi, b->alt_hi};
    for (unsigned d = 0; d < 4; d++) {
        IDX_I16(blk, stride, 2 * d)[slot] = clamp_code(idx_code_below(r, d, l[d]));
        IDX_I16(blk, stride, 2 * d + 1)[slot] = clamp_code(idx_code_above(r, d, h[d]));
    }
}

/* Node slot `slot` := the union of the first `count` slots of node `child`. */
static void set_union(void *blk, size_t stride, size_t slot, const void *child, unsigned count) {
    for (unsigned f = 0; f < IDX_NODE_FIELDS; f++) {
        const int16_t *v = IDX_CI16(child, stride, f);
        int16_t m = v[0];
        for (unsigned c = 1; c < count; c++)
            m = (f & 1) ? (v[c] > m ? v[c] : m) : (v[c] < m ? v[c] : m);
        IDX_I16(blk, stride, f)[slot] = m;
    }
}

static void set_code_empty(void *blk, size_t stride, size_t slot) {
    for (unsigned f = 0; f < IDX_NODE_FIELDS; f++)
        IDX_I16(blk, stride, f)[slot] = (f & 1) ? IDX_CODE_EMPTY_HI : IDX_CODE_EMPTY_LO;
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
    const size_t node_bytes = idx_node_bytes(idx);
    pt_t *pts = NULL;
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
    pts = dcf__index_alloc(idx, n * sizeof *pts);
    r->leaves = dcf__index_alloc(idx, r->nleaf * leaf_bytes);
    if (pts == NULL || r->leaves == NULL)
        goto out;
    if (total_nodes > 0 && (r->nodes = dcf__index_alloc(idx, total_nodes * node_bytes)) == NULL)
        goto out;

    /* The order of the entries: compact groups for every node. */
    double sc[DIMS];
    scales(e, n, sc);
    int32_t t0 = e[0].box.t_lo;
    for (size_t i = 1; i < n; i++)
        t0 = e[i].box.t_lo < t0 ? e[i].box.t_lo : t0;
    for (size_t i = 0; i < n; i++) {
        const dcf_box_t *b = &e[i].box;
        pts[i].c[0] = (float)((0.5 * ((double)b->t_lo + b->t_hi) - t0) / sc[0]);
        pts[i].c[1] = (float)(0.5 * ((double)b->lng_lo + b->lng_hi) / sc[1]);
        pts[i].c[2] = (float)(0.5 * ((double)b->lat_lo + b->lat_hi) / sc[2]);
        pts[i].c[3] = (float)(0.5 * ((double)b->alt_lo + b->alt_hi) / sc[3]);
        pts[i].pos = (uint32_t)i;
    }
    size_t g = f;
    for (unsigned l = 0; l < r->height; l++)
        g *= f;
    split(pts, n, g, f);

    /* Leaves in that order. */
    for (size_t b = 0; b < r->nleaf; b++) {
        void *blk = (char *)r->leaves + b * leaf_bytes;
        uint32_t *key = IDX_U32(blk, s, IDX_F_KEY), *party = IDX_U32(blk, s, IDX_F_PARTY);
        for (size_t c = 0; c < s; c++) {
            size_t i = b * f + c;
            if (c < f && i < n) {
                if (i + 16 < n)
                    __builtin_prefetch(&e[pts[i + 16].pos]); /* a random read, 16 ahead */
                const idx_entry_t *x = &e[pts[i].pos];
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
     * j*f + c of layer l - 1, in grid codes: a leaf's exact bounds rounded
     * outward, a node's as the union of its slots' codes. */
    grid(r, e, n);
    const size_t ns = idx->nstride;
    for (unsigned l = 1; l <= r->height; l++) {
        for (size_t j = 0; j < r->nnodes[l]; j++) {
            void *blk = (char *)r->nodes + (r->first[l] + j) * node_bytes;
            unsigned kids = idx_node_count(idx, r, l, j);
            for (size_t c = 0; c < ns; c++) {
                size_t child = j * f + c;
                if (c >= kids) {
                    set_code_empty(blk, ns, c);
                } else if (l == 1) {
                    dcf_box_t b;
                    block_bounds(idx_leaf(idx, r, child), s, idx_leaf_count(idx, r, child), &b);
                    set_codes(blk, ns, c, r, &b);
                } else {
                    set_union(blk, ns, c, idx_node(idx, r, l - 1, child),
                              idx_node_count(idx, r, l - 1, child));
                }
            }
        }
    }

    *out = r;
    r = NULL;
    rc = DCF_OK;
out:
    dcf__index_release(idx, pts, n * sizeof *pts);
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
    dcf__index_release(idx, r->nodes, total * idx_node_bytes(idx));
    dcf__index_release(idx, r, sizeof *r);
}
