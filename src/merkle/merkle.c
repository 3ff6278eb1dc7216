/*
 * merkle.c -- RFC 9162 Merkle tree hashing, roots and proofs over stored
 * complete nodes, and the two proof verifiers.
 *
 * HOW IT WORKS.  Every subtree that the RFC's recursive definitions ever
 * name is a range [lo, lo + size) whose start is a multiple of the largest
 * power of two <= size.  Such a range splits, from the left, into one perfect
 * aligned subtree per set bit of size, largest first, and its MTH is those
 * complete nodes folded from the right: acc = last; acc = H(node, acc) for the
 * others, right to left (range_hash).  A perfect range is one read.
 *
 * The proof generators walk the RFC recursion from the root down with a
 * [lo, hi) window instead of recursing, collect one hash per level, and
 * reverse them at the end (the RFC lists the deepest first).  While the walk
 * follows the right edge of the tree, the sibling on the left is perfect (one
 * read); the first step to the left may have a non-perfect right sibling
 * (popcount reads); after it the window is perfect and so is every sibling.
 * Hence a proof reads at most depth - 1 + log2(first left window) < 2 * 62
 * nodes.  See docs/internals/merkle.md.
 *
 * Invariants: sizes never exceed DCF_MERKLE_SIZE_MAX (2^62), so shifts and
 * (index + 1) << level never overflow; outputs are written only on success.
 */
#include <string.h>

#include <sodium.h>

#include "deconflict/merkle.h"

#define HLEN DCF_MERKLE_HASH_LEN

/* Largest power of two strictly below n (n >= 2), as its exponent. */
static unsigned split_level(uint64_t n) {
    return 63u - (unsigned)__builtin_clzll(n - 1);
}

/* ---------------------------------------------------------- hashing -- */

int dcf_merkle_leaf_hash(const void *data, size_t len, uint8_t out[HLEN]) {
    static const unsigned char prefix = 0x00;
    crypto_hash_sha256_state st;
    if (out == NULL || (data == NULL && len > 0))
        return DCF_EINVAL;
    if ((uint64_t)len > DCF_MERKLE_LEAF_MAX)
        return DCF_ELIMIT;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &prefix, 1);
    if (len > 0)
        crypto_hash_sha256_update(&st, data, len);
    crypto_hash_sha256_final(&st, out);
    return DCF_OK;
}

void dcf_merkle_node_hash(const uint8_t left[HLEN], const uint8_t right[HLEN], uint8_t out[HLEN]) {
    unsigned char buf[1 + 2 * HLEN];
    buf[0] = 0x01;
    memcpy(buf + 1, left, HLEN);
    memcpy(buf + 1 + HLEN, right, HLEN);
    crypto_hash_sha256(out, buf, sizeof buf);
}

void dcf_merkle_empty_root(uint8_t out[HLEN]) {
    crypto_hash_sha256(out, (const unsigned char *)"", 0);
}

char *dcf_merkle_hash_to_hex(const uint8_t hash[HLEN], char out[DCF_MERKLE_HEX_LEN + 1]) {
    return sodium_bin2hex(out, DCF_MERKLE_HEX_LEN + 1, hash, HLEN);
}

int dcf_merkle_hash_from_hex(const char *s, size_t len, uint8_t out[HLEN]) {
    uint8_t tmp[HLEN];
    size_t got = 0;
    if (s == NULL || out == NULL || len != DCF_MERKLE_HEX_LEN)
        return DCF_EPARSE;
    // With hex_end NULL, libsodium fails unless all of s[0..len) is hex.
    if (sodium_hex2bin(tmp, sizeof tmp, s, len, NULL, &got, NULL) != 0 || got != HLEN)
        return DCF_EPARSE;
    memcpy(out, tmp, HLEN);
    return DCF_OK;
}

/* ------------------------------------------------------ range hashes -- */

/*
 * out = MTH of leaves [lo, lo + size), size >= 1, lo a multiple of the
 * largest power of two <= size: popcount(size) reads, popcount(size) - 1
 * hashes.  out is written only on success.
 */
static int range_hash(dcf_merkle_get_fn get, void *arg, uint64_t lo, uint64_t size,
                      uint8_t out[HLEN]) {
    uint8_t nodes[DCF_MERKLE_LEVELS][HLEN];
    unsigned nn = 0;
    uint64_t pos = lo;
    int rc = DCF_OK;
    if (size == 0)
        return DCF_EINTERNAL; // callers never ask: every window holds a leaf
    for (int level = 63; level >= 0; level--) {
        uint64_t bit = UINT64_C(1) << level;
        if (!(size & bit))
            continue;
        rc = get(arg, (unsigned)level, pos >> level, nodes[nn]);
        if (rc != DCF_OK)
            goto out;
        nn++;
        pos += bit;
    }
    // Fold right to left: the RFC's split puts the largest perfect subtree
    // on the left at every level of a right edge.
    for (unsigned i = nn - 1; i-- > 0;)
        dcf_merkle_node_hash(nodes[i], nodes[nn - 1], nodes[nn - 1]);
    memcpy(out, nodes[nn - 1], HLEN);
out:
    return rc;
}

/* -------------------------------------------------------- appending -- */

int dcf_merkle_append(dcf_merkle_get_fn get, void *arg, uint64_t n, const uint8_t leaf[HLEN],
                      dcf_merkle_node_t out[DCF_MERKLE_APPEND_MAX], unsigned *count) {
    dcf_merkle_node_t nodes[DCF_MERKLE_APPEND_MAX];
    uint8_t sibling[HLEN];
    unsigned nn = 0;
    int rc = DCF_OK;
    if (get == NULL || leaf == NULL || out == NULL || count == NULL)
        return DCF_EINVAL;
    if (n >= DCF_MERKLE_SIZE_MAX)
        return DCF_ERANGE;
    nodes[0].level = 0;
    nodes[0].index = n;
    memcpy(nodes[0].hash, leaf, HLEN);
    nn = 1;
    // Node (L, i) completes when i is odd: its left sibling (L, i - 1) is
    // complete already, and so is their parent now.
    while (nodes[nn - 1].index & 1) {
        const dcf_merkle_node_t *c = &nodes[nn - 1];
        rc = get(arg, c->level, c->index - 1, sibling);
        if (rc != DCF_OK)
            goto out;
        nodes[nn].level = c->level + 1;
        nodes[nn].index = c->index >> 1;
        dcf_merkle_node_hash(sibling, c->hash, nodes[nn].hash);
        nn++;
    }
    memcpy(out, nodes, nn * sizeof nodes[0]);
    *count = nn;
out:
    return rc;
}

void dcf_merkle_frontier_init(dcf_merkle_frontier_t *f) {
    memset(f, 0, sizeof *f);
}

int dcf_merkle_frontier_load(dcf_merkle_frontier_t *f, dcf_merkle_get_fn get, void *arg,
                             uint64_t n) {
    dcf_merkle_frontier_t t;
    int rc = DCF_OK;
    if (f == NULL || get == NULL)
        return DCF_EINVAL;
    if (n > DCF_MERKLE_SIZE_MAX)
        return DCF_ERANGE;
    dcf_merkle_frontier_init(&t);
    for (unsigned level = 0; level < DCF_MERKLE_LEVELS; level++) {
        if (!((n >> level) & 1))
            continue;
        rc = get(arg, level, (n >> level) - 1, t.hash[level]);
        if (rc != DCF_OK)
            goto out;
    }
    t.size = n;
    *f = t;
out:
    return rc;
}

int dcf_merkle_frontier_append(dcf_merkle_frontier_t *f, const uint8_t leaf[HLEN],
                               dcf_merkle_node_t out[DCF_MERKLE_APPEND_MAX], unsigned *count) {
    uint8_t cur[HLEN];
    uint64_t n;
    unsigned level = 0;
    if (f == NULL || leaf == NULL)
        return DCF_EINVAL;
    n = f->size;
    if (n >= DCF_MERKLE_SIZE_MAX)
        return DCF_ERANGE;
    memcpy(cur, leaf, HLEN);
    for (;;) {
        if (out != NULL) {
            out[level].level = level;
            out[level].index = n >> level;
            memcpy(out[level].hash, cur, HLEN);
        }
        if (!((n >> level) & 1))
            break;
        // Bit `level` of n set: hash[level] is the left sibling of cur.
        dcf_merkle_node_hash(f->hash[level], cur, cur);
        level++;
    }
    // Adding 1 to n clears the trailing ones and sets bit `level`.
    memcpy(f->hash[level], cur, HLEN);
    f->size = n + 1;
    if (count != NULL)
        *count = level + 1;
    return DCF_OK;
}

void dcf_merkle_frontier_root(const dcf_merkle_frontier_t *f, uint8_t out[HLEN]) {
    uint8_t acc[HLEN];
    uint64_t n = f->size;
    if (n == 0) {
        dcf_merkle_empty_root(out);
        return;
    }
    unsigned level = (unsigned)__builtin_ctzll(n);
    memcpy(acc, f->hash[level], HLEN);
    for (level++; level < DCF_MERKLE_LEVELS; level++)
        if ((n >> level) & 1)
            dcf_merkle_node_hash(f->hash[level], acc, acc);
    memcpy(out, acc, HLEN);
}

/* ---------------------------------------------------------- proving -- */

int dcf_merkle_root(dcf_merkle_get_fn get, void *arg, uint64_t n, uint8_t out[HLEN]) {
    if (get == NULL || out == NULL)
        return DCF_EINVAL;
    if (n > DCF_MERKLE_SIZE_MAX)
        return DCF_ERANGE;
    if (n == 0) {
        dcf_merkle_empty_root(out);
        return DCF_OK;
    }
    return range_hash(get, arg, 0, n, out);
}

/* Copy the collected hashes hs[0..nh) to out in reverse order (deepest
 * first), or fail with DCF_ELIMIT when they do not fit. */
static int emit_reversed(uint8_t hs[][HLEN], size_t nh, uint8_t *out, size_t max, size_t *count) {
    if (nh > max)
        return DCF_ELIMIT;
    for (size_t i = 0; i < nh; i++)
        memcpy(out + i * HLEN, hs[nh - 1 - i], HLEN);
    *count = nh;
    return DCF_OK;
}

int dcf_merkle_inclusion_proof(dcf_merkle_get_fn get, void *arg, uint64_t index, uint64_t n,
                               uint8_t *out, size_t max, size_t *count) {
    uint8_t hs[DCF_MERKLE_PROOF_MAX][HLEN];
    size_t nh = 0;
    uint64_t lo = 0, hi = n;
    int rc = DCF_OK;
    if (get == NULL || count == NULL || (out == NULL && max > 0))
        return DCF_EINVAL;
    if (n > DCF_MERKLE_SIZE_MAX)
        return DCF_ERANGE;
    if (index >= n)
        return DCF_EINVAL;
    // PATH(m, D[lo:hi]) of RFC 9162 2.1.3.1, one level per iteration.
    while (hi - lo > 1) {
        if (nh == DCF_MERKLE_PROOF_MAX) { // cannot happen: depth <= 62
            rc = DCF_EINTERNAL;
            goto out;
        }
        unsigned kl = split_level(hi - lo);
        uint64_t mid = lo + (UINT64_C(1) << kl);
        if (index < mid) {
            rc = range_hash(get, arg, mid, hi - mid, hs[nh]);
            hi = mid;
        } else {
            rc = get(arg, kl, lo >> kl, hs[nh]);
            lo = mid;
        }
        if (rc != DCF_OK)
            goto out;
        nh++;
    }
    rc = emit_reversed(hs, nh, out, max, count);
out:
    return rc;
}

int dcf_merkle_consistency_proof(dcf_merkle_get_fn get, void *arg, uint64_t m, uint64_t n,
                                 uint8_t *out, size_t max, size_t *count) {
    uint8_t hs[DCF_MERKLE_PROOF_MAX][HLEN];
    size_t nh = 0;
    uint64_t lo = 0, hi = n;
    int whole = 1; // the RFC's flag b: the window still starts the old tree
    int rc = DCF_OK;
    if (get == NULL || count == NULL || (out == NULL && max > 0))
        return DCF_EINVAL;
    if (n > DCF_MERKLE_SIZE_MAX)
        return DCF_ERANGE;
    if (m == 0 || m > n)
        return DCF_EINVAL;
    // SUBPROOF(m - lo, D[lo:hi], b) of RFC 9162 2.1.4.1, one level per step.
    for (;;) {
        if (nh == DCF_MERKLE_PROOF_MAX) { // cannot happen: depth + 1 <= 63
            rc = DCF_EINTERNAL;
            goto out;
        }
        if (m == hi) {
            // The old tree ends exactly at this window.  With b false the
            // window's hash starts the proof; the window is perfect here,
            // since m < n puts every window with m == hi left of the edge.
            if (!whole) {
                rc = range_hash(get, arg, lo, hi - lo, hs[nh]);
                if (rc != DCF_OK)
                    goto out;
                nh++;
            }
            break;
        }
        unsigned kl = split_level(hi - lo);
        uint64_t mid = lo + (UINT64_C(1) << kl);
        if (m <= mid) {
            rc = range_hash(get, arg, mid, hi - mid, hs[nh]);
            hi = mid;
        } else {
            rc = get(arg, kl, lo >> kl, hs[nh]);
            lo = mid;
            whole = 0;
        }
        if (rc != DCF_OK)
            goto out;
        nh++;
    }
    rc = emit_reversed(hs, nh, out, max, count);
out:
    return rc;
}

/* -------------------------------------------------------- verifying -- */

int dcf_merkle_verify_inclusion(const uint8_t leaf_hash[HLEN], uint64_t index, uint64_t n,
                                const uint8_t *proof, size_t count, const uint8_t root[HLEN]) {
    uint8_t r[HLEN];
    uint64_t fn = index, sn;
    if (leaf_hash == NULL || root == NULL || (proof == NULL && count > 0))
        return DCF_EINVAL;
    if (n > DCF_MERKLE_SIZE_MAX)
        return DCF_ERANGE;
    if (index >= n || count > DCF_MERKLE_PROOF_MAX)
        return DCF_EINVAL;
    sn = n - 1;
    memcpy(r, leaf_hash, HLEN);
    for (size_t i = 0; i < count; i++) {
        const uint8_t *p = proof + i * HLEN;
        if (sn == 0)
            return DCF_ECONFLICT; // proof longer than the path
        if ((fn & 1) || fn == sn) {
            // p is a left sibling.  On the right edge (fn == sn, fn even)
            // the levels where this node has no sibling are skipped.
            dcf_merkle_node_hash(p, r, r);
            if (!(fn & 1))
                while (fn != 0 && !(fn & 1)) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            dcf_merkle_node_hash(r, p, r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || memcmp(r, root, HLEN) != 0)
        return DCF_ECONFLICT;
    return DCF_OK;
}

int dcf_merkle_verify_consistency(uint64_t m, uint64_t n, const uint8_t root_m[HLEN],
                                  const uint8_t root_n[HLEN], const uint8_t *proof, size_t count) {
    uint8_t fr[HLEN], sr[HLEN];
    uint64_t fn, sn;
    size_t i = 0;
    if (root_m == NULL || root_n == NULL || (proof == NULL && count > 0))
        return DCF_EINVAL;
    if (n > DCF_MERKLE_SIZE_MAX)
        return DCF_ERANGE;
    if (m == 0 || m > n || count > DCF_MERKLE_PROOF_MAX)
        return DCF_EINVAL;
    if (m == n) {
        if (count != 0 || memcmp(root_m, root_n, HLEN) != 0)
            return DCF_ECONFLICT;
        return DCF_OK;
    }
    if (count == 0)
        return DCF_ECONFLICT;
    // When m is a power of two the old root is the seed the proof leaves
    // out; otherwise the proof's first hash is the seed.
    if ((m & (m - 1)) == 0) {
        memcpy(fr, root_m, HLEN);
    } else {
        memcpy(fr, proof, HLEN);
        i = 1;
    }
    memcpy(sr, fr, HLEN);
    fn = m - 1;
    sn = n - 1;
    // Climb from the seed's leaf level to the seed node's own level.
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    for (; i < count; i++) {
        const uint8_t *c = proof + i * HLEN;
        if (sn == 0)
            return DCF_ECONFLICT; // proof longer than the path
        if ((fn & 1) || fn == sn) {
            // c is a left sibling: inside both the old and the new tree.
            dcf_merkle_node_hash(c, fr, fr);
            dcf_merkle_node_hash(c, sr, sr);
            if (!(fn & 1))
                while (fn != 0 && !(fn & 1)) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            // c is a right sibling: only in the new tree.
            dcf_merkle_node_hash(sr, c, sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || memcmp(fr, root_m, HLEN) != 0 || memcmp(sr, root_n, HLEN) != 0)
        return DCF_ECONFLICT;
    return DCF_OK;
}
