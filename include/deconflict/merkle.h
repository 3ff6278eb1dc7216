/*
 * merkle.h -- the Merkle tree core of the audit log: RFC 9162 (RFC 6962)
 * hashing, roots, inclusion and consistency proofs and their verifiers.
 *
 * The audit log is an append-only list of entries; leaf i is entry i.  The
 * tree over the first n leaves is the Merkle Tree Hash (MTH) of RFC 9162
 * section 2.1.1: leaf hash = SHA-256(0x00 || entry), interior hash =
 * SHA-256(0x01 || left || right), the left subtree of a tree of n > 1 leaves
 * holding the largest power of two k < n leaves, and the empty tree hashing to
 * SHA-256 of the empty string.
 *
 * COMPLETE NODES.  A complete node (level L, index i) is the root of the
 * perfect, aligned subtree over leaves [i * 2^L, (i + 1) * 2^L); level 0 holds
 * the leaf hashes.  The caller stores every complete node (dcf_merkle_append
 * lists the ones each new leaf completes: after n appends exactly
 * 2n - popcount(n) exist) and hands them back through a dcf_merkle_get_fn.
 * Every other function reads O(log n) of them and never walks leaves: a root
 * costs popcount(n) reads and a proof fewer than 2 * 62.  A subtree on the right
 * edge that is not perfect is hashed from the complete nodes under it.
 *
 * FRONTIER.  dcf_merkle_frontier_t is the "compact range" of [0, n): the
 * roots of the at most 62 perfect subtrees that cover it, one per set bit of
 * n.  The writer keeps one in memory; it gives the new complete nodes and the
 * new root after each append in O(log n) hashes without reading storage.
 *
 * LIMITS.  Tree sizes are at most DCF_MERKLE_SIZE_MAX (2^62), so a proof has
 * at most 63 hashes and every buffer here is bounded by DCF_MERKLE_PROOF_MAX.
 * A leaf's data is at most DCF_MERKLE_LEAF_MAX bytes.
 *
 * ERRORS.  DCF_EINVAL for malformed arguments (NULL, index >= n, m == 0,
 * m > n), DCF_ERANGE for a size above DCF_MERKLE_SIZE_MAX, DCF_ELIMIT for an
 * output array that is too small, DCF_ECONFLICT for a proof that does not
 * match, and any non-zero code of the get callback returned unchanged.  On an
 * error no output is written.
 *
 * THREADS.  Nothing here keeps state; every function may be called from any
 * thread.  The get callback runs on the calling thread, synchronously.
 */
#ifndef DECONFLICT_MERKLE_H
#define DECONFLICT_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "deconflict/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DCF_MERKLE_HASH_LEN   32                  /* SHA-256 */
#define DCF_MERKLE_HEX_LEN    64                  /* hex of a hash, without NUL */
#define DCF_MERKLE_SIZE_MAX   (UINT64_C(1) << 62) /* largest tree size */
#define DCF_MERKLE_PROOF_MAX  64                  /* hashes in any proof (63 used) */
#define DCF_MERKLE_APPEND_MAX 64                  /* nodes one append completes (63 used) */
#define DCF_MERKLE_LEVELS     64                  /* frontier slots (63 used) */
#define DCF_MERKLE_LEAF_MAX   (UINT64_C(1) << 24) /* bytes of one leaf's data */

/*
 * Read the complete node (level, index) into out.  Return DCF_OK, or any
 * negative dcf_err_t (DCF_ENOENT when the node is not stored, DCF_EIO ...),
 * which the caller of the algorithm gets back unchanged.  `arg` is the
 * pointer given to the algorithm.  Called only for nodes that are complete
 * in the tree the call is about: (index + 1) << level <= n.
 */
typedef int (*dcf_merkle_get_fn)(void *arg, unsigned level, uint64_t index,
                                 uint8_t out[DCF_MERKLE_HASH_LEN]);

/* A complete node and its hash, as dcf_merkle_append lists them. */
typedef struct {
    unsigned level;
    uint64_t index;
    uint8_t hash[DCF_MERKLE_HASH_LEN];
} dcf_merkle_node_t;

/* ---------------------------------------------------------- hashing -- */

/* out = SHA-256(0x00 || data[0..len)).  DCF_EINVAL when data is NULL and len
 * > 0, DCF_ELIMIT when len > DCF_MERKLE_LEAF_MAX. */
int dcf_merkle_leaf_hash(const void *data, size_t len, uint8_t out[DCF_MERKLE_HASH_LEN]);

/* out = SHA-256(0x01 || left || right).  out may alias left or right. */
void dcf_merkle_node_hash(const uint8_t left[DCF_MERKLE_HASH_LEN],
                          const uint8_t right[DCF_MERKLE_HASH_LEN],
                          uint8_t out[DCF_MERKLE_HASH_LEN]);

/* out = the root of the empty tree, SHA-256 of the empty string. */
void dcf_merkle_empty_root(uint8_t out[DCF_MERKLE_HASH_LEN]);

/* Lowercase hex of a hash into out[DCF_MERKLE_HEX_LEN + 1] (NUL-terminated).
 * Returns out. */
char *dcf_merkle_hash_to_hex(const uint8_t hash[DCF_MERKLE_HASH_LEN],
                             char out[DCF_MERKLE_HEX_LEN + 1]);

/* Parse exactly DCF_MERKLE_HEX_LEN hex digits (either case) from s[0..len).
 * DCF_EPARSE for any other input. */
int dcf_merkle_hash_from_hex(const char *s, size_t len, uint8_t out[DCF_MERKLE_HASH_LEN]);

/* -------------------------------------------------------- appending -- */

/*
 * The complete nodes that appear when leaf n (0-based, the tree growing from
 * n to n + 1 leaves) is appended with hash `leaf`: out[0] is (0, n, leaf),
 * then each parent whose right child has just completed, lowest first.  The
 * left siblings are read through `get`: one read per node after the first.
 * *count receives the number of nodes (1 + the trailing one bits of n, at
 * most 63).  The caller stores them all before the next append.
 * DCF_ERANGE when n >= DCF_MERKLE_SIZE_MAX.
 */
int dcf_merkle_append(dcf_merkle_get_fn get, void *arg, uint64_t n,
                      const uint8_t leaf[DCF_MERKLE_HASH_LEN],
                      dcf_merkle_node_t out[DCF_MERKLE_APPEND_MAX], unsigned *count);

/*
 * The compact range of [0, size): hash[L] is the complete node (L, (size >>
 * L) - 1) for every set bit L of size; other slots are meaningless.  Plain
 * data: copy it freely, change it only through these functions.
 */
typedef struct {
    uint64_t size;
    uint8_t hash[DCF_MERKLE_LEVELS][DCF_MERKLE_HASH_LEN];
} dcf_merkle_frontier_t;

/* The frontier of the empty tree. */
void dcf_merkle_frontier_init(dcf_merkle_frontier_t *f);

/*
 * Rebuild the frontier of the tree of size n from storage (after a restart):
 * popcount(n) reads.  DCF_ERANGE when n > DCF_MERKLE_SIZE_MAX; *f is unchanged
 * on any error.
 */
int dcf_merkle_frontier_load(dcf_merkle_frontier_t *f, dcf_merkle_get_fn get, void *arg,
                             uint64_t n);

/*
 * Append leaf f->size with hash `leaf`.  When `out` is not NULL it receives
 * the same nodes dcf_merkle_append would list (the left siblings are the
 * frontier's own hashes), and *count their number (count may be NULL).
 * DCF_ERANGE (frontier unchanged) when f->size >= DCF_MERKLE_SIZE_MAX.
 */
int dcf_merkle_frontier_append(dcf_merkle_frontier_t *f, const uint8_t leaf[DCF_MERKLE_HASH_LEN],
                               dcf_merkle_node_t out[DCF_MERKLE_APPEND_MAX], unsigned *count);

/* The root of the tree of size f->size: popcount(size) - 1 hashes. */
void dcf_merkle_frontier_root(const dcf_merkle_frontier_t *f, uint8_t out[DCF_MERKLE_HASH_LEN]);

/* ---------------------------------------------------------- proving -- */

/* The root of the tree of size n (n <= the stored size), from popcount(n)
 * complete nodes.  n == 0 gives the empty root without reading. */
int dcf_merkle_root(dcf_merkle_get_fn get, void *arg, uint64_t n, uint8_t out[DCF_MERKLE_HASH_LEN]);

/*
 * The inclusion proof (audit path) of leaf `index` in the tree of size n, in
 * the order of RFC 9162 section 2.1.3.1 (the leaf's sibling first).  `out`
 * holds room for `max` hashes of DCF_MERKLE_HASH_LEN bytes, back to back;
 * *count receives how many were written (0 for a tree of one leaf).
 * DCF_EINVAL when index >= n, DCF_ELIMIT when max is too small.
 */
int dcf_merkle_inclusion_proof(dcf_merkle_get_fn get, void *arg, uint64_t index, uint64_t n,
                               uint8_t *out, size_t max, size_t *count);

/*
 * The consistency proof between the trees of sizes m and n, 0 < m <= n, in
 * the order of RFC 9162 section 2.1.4.1; m == n gives an empty proof.  Same
 * output convention and errors as dcf_merkle_inclusion_proof.
 */
int dcf_merkle_consistency_proof(dcf_merkle_get_fn get, void *arg, uint64_t m, uint64_t n,
                                 uint8_t *out, size_t max, size_t *count);

/* -------------------------------------------------------- verifying -- */

/*
 * RFC 9162 section 2.1.3.2: DCF_OK when `proof` (count hashes back to back)
 * proves that leaf_hash is leaf `index` of the tree of size n whose root is
 * `root`; DCF_ECONFLICT when it does not (wrong hashes, wrong length);
 * DCF_EINVAL for index >= n, count > DCF_MERKLE_PROOF_MAX or NULL pointers;
 * DCF_ERANGE for n > DCF_MERKLE_SIZE_MAX.  The size n must come from the
 * same signed tree head as `root`: the proof only fixes the tree's shape.
 */
int dcf_merkle_verify_inclusion(const uint8_t leaf_hash[DCF_MERKLE_HASH_LEN], uint64_t index,
                                uint64_t n, const uint8_t *proof, size_t count,
                                const uint8_t root[DCF_MERKLE_HASH_LEN]);

/*
 * RFC 9162 section 2.1.4.2: DCF_OK when `proof` proves that the tree of size
 * m with root root_m is a prefix of the tree of size n with root root_n.  For
 * m == n the proof must be empty and the roots equal.  Errors as
 * dcf_merkle_verify_inclusion, with DCF_EINVAL for m == 0 or m > n.
 */
int dcf_merkle_verify_consistency(uint64_t m, uint64_t n, const uint8_t root_m[DCF_MERKLE_HASH_LEN],
                                  const uint8_t root_n[DCF_MERKLE_HASH_LEN], const uint8_t *proof,
                                  size_t count);

#ifdef __cplusplus
}
#endif
#endif /* DECONFLICT_MERKLE_H */
