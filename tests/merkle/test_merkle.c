/*
 * test_merkle.c -- the Merkle tree core against the RFC 6962 test vectors
 * published with the CT implementations, and against a naive recomputation
 * (the RFC's recursive definitions written plainly over an array of leaf
 * hashes) on random trees of up to 10^4 leaves (fixed seeds).  Every proof
 * must verify, and every corrupted proof (one byte flipped, a hash dropped
 * or added, a wrong leaf, root, index or size) must fail.  A counting store
 * shows that roots and proofs read O(log n) nodes, up to n = 2^62.
 */
#include <sodium.h>

#include "deconflict/merkle.h"
#include "test.h"

#define HL DCF_MERKLE_HASH_LEN

/* ------------------------------------------------------------ helpers -- */

static void from_hex(const char *s, uint8_t *out, size_t outlen) {
    size_t got = 0;
    if (sodium_hex2bin(out, outlen, s, strlen(s), NULL, &got, NULL) != 0 || got != outlen) {
        fprintf(stderr, "bad hex in test: %s\n", s);
        abort();
    }
}

static int is_pow2(uint64_t x) {
    return x != 0 && (x & (x - 1)) == 0;
}

/* Largest power of two strictly below n (n >= 2). */
static uint64_t split(uint64_t n) {
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    return k;
}

static uint64_t rnd_below(uint64_t *st, uint64_t n) {
    return test_rand(st) % n;
}

/* ------------------------------------------------ the in-memory store -- */

/* One growable array of hashes per level, filled by appends.  `limit` is the
 * tree size a query is about: a read of a node that is not complete within
 * it is a bug in the algorithm, reported as DCF_ENOENT and counted. */
typedef struct {
    uint8_t *lv[DCF_MERKLE_LEVELS];
    uint64_t len[DCF_MERKLE_LEVELS];
    uint64_t cap[DCF_MERKLE_LEVELS];
    uint64_t limit;
    long gets, bad;
} store_t;

static int store_get(void *arg, unsigned level, uint64_t index, uint8_t out[HL]) {
    store_t *s = arg;
    s->gets++;
    if (level >= DCF_MERKLE_LEVELS || index >= s->len[level] || ((index + 1) << level) > s->limit) {
        s->bad++;
        return DCF_ENOENT;
    }
    memcpy(out, s->lv[level] + index * HL, HL);
    return DCF_OK;
}

static int store_put(store_t *s, const dcf_merkle_node_t *nd) {
    unsigned l = nd->level;
    if (l >= DCF_MERKLE_LEVELS || nd->index != s->len[l])
        return 0; // nodes of a level must arrive in order
    if (s->len[l] == s->cap[l]) {
        uint64_t cap = s->cap[l] ? s->cap[l] * 2 : 64;
        uint8_t *p = realloc(s->lv[l], cap * HL);
        if (p == NULL)
            abort();
        s->lv[l] = p;
        s->cap[l] = cap;
    }
    memcpy(s->lv[l] + s->len[l] * HL, nd->hash, HL);
    s->len[l]++;
    return 1;
}

static void store_free(store_t *s) {
    for (unsigned l = 0; l < DCF_MERKLE_LEVELS; l++)
        free(s->lv[l]);
    memset(s, 0, sizeof *s);
}

static uint64_t store_count(const store_t *s) {
    uint64_t c = 0;
    for (unsigned l = 0; l < DCF_MERKLE_LEVELS; l++)
        c += s->len[l];
    return c;
}

/* A tree: the leaf hashes (for the naive reference), the store, and the
 * frontier kept alongside. */
typedef struct {
    uint8_t (*leaf)[HL];
    uint64_t n;
    store_t st;
    dcf_merkle_frontier_t fr;
} tree_t;

/* ------------------------------------------------- naive reference -- */

static void naive_mth(uint8_t (*lh)[HL], uint64_t lo, uint64_t hi, uint8_t out[HL]) {
    if (hi == lo) {
        crypto_hash_sha256(out, (const unsigned char *)"", 0);
    } else if (hi - lo == 1) {
        memcpy(out, lh[lo], HL);
    } else {
        uint8_t l[HL], r[HL];
        uint64_t k = split(hi - lo);
        naive_mth(lh, lo, lo + k, l);
        naive_mth(lh, lo + k, hi, r);
        dcf_merkle_node_hash(l, r, out);
    }
}

/* PATH(m, D[lo:hi]) of RFC 9162 2.1.3.1.  With lh NULL only the shape is
 * built: dirs[i] says on which side proof element i sits ('L' or 'R'). */
static void naive_path(uint8_t (*lh)[HL], uint64_t m, uint64_t lo, uint64_t hi, uint8_t *out,
                       size_t *cnt, char *dirs) {
    if (hi - lo <= 1)
        return;
    uint64_t k = split(hi - lo);
    if (m < lo + k) {
        naive_path(lh, m, lo, lo + k, out, cnt, dirs);
        if (lh != NULL)
            naive_mth(lh, lo + k, hi, out + *cnt * HL);
        dirs[(*cnt)++] = 'R';
    } else {
        naive_path(lh, m, lo + k, hi, out, cnt, dirs);
        if (lh != NULL)
            naive_mth(lh, lo, lo + k, out + *cnt * HL);
        dirs[(*cnt)++] = 'L';
    }
    dirs[*cnt] = 0;
}

/* SUBPROOF(m, D[lo:hi], b) of RFC 9162 2.1.4.1 (m absolute).  roles[i]: 'S'
 * the seed (the old tree's last subtree), 'L' a left sibling (in both trees),
 * 'R' a right sibling (only in the new tree). */
static void naive_subproof(uint8_t (*lh)[HL], uint64_t m, uint64_t lo, uint64_t hi, int b,
                           uint8_t *out, size_t *cnt, char *roles) {
    if (m == hi) {
        if (!b) {
            if (lh != NULL)
                naive_mth(lh, lo, hi, out + *cnt * HL);
            roles[(*cnt)++] = 'S';
        }
        roles[*cnt] = 0;
        return;
    }
    uint64_t k = split(hi - lo);
    if (m <= lo + k) {
        naive_subproof(lh, m, lo, lo + k, b, out, cnt, roles);
        if (lh != NULL)
            naive_mth(lh, lo + k, hi, out + *cnt * HL);
        roles[(*cnt)++] = 'R';
    } else {
        naive_subproof(lh, m, lo + k, hi, 0, out, cnt, roles);
        if (lh != NULL)
            naive_mth(lh, lo, lo + k, out + *cnt * HL);
        roles[(*cnt)++] = 'L';
    }
    roles[*cnt] = 0;
}

/* The verifier's view of an inclusion proof: its directions. */
static void incl_shape(uint64_t i, uint64_t n, char *sig) {
    size_t c = 0;
    sig[0] = 0;
    if (i < n && n <= DCF_MERKLE_SIZE_MAX)
        naive_path(NULL, i, 0, n, NULL, &c, sig);
    else
        strcpy(sig, "invalid");
}

/* The verifier's view of a consistency proof: whether the old root seeds it
 * (m a power of two) and the role of each element. */
static void cons_shape(uint64_t m, uint64_t n, char *sig) {
    size_t c = 0;
    if (m == 0 || m > n || n > DCF_MERKLE_SIZE_MAX) {
        strcpy(sig, "invalid");
        return;
    }
    if (m == n) {
        strcpy(sig, "="); // the verifier compares the two roots, nothing else
        return;
    }
    sig[0] = is_pow2(m) ? 'P' : '-';
    naive_subproof(NULL, m, 0, n, 1, NULL, &c, sig + 1);
    sig[c + 1] = 0;
}

/* ------------------------------------------------------ building trees -- */

/* Append one leaf both ways: through dcf_merkle_append with the store and
 * through the frontier; both must list the same nodes, which are stored. */
static int tree_append(tree_t *t, const uint8_t leaf[HL]) {
    dcf_merkle_node_t a[DCF_MERKLE_APPEND_MAX], b[DCF_MERKLE_APPEND_MAX];
    unsigned na = 0, nb = 0;
    int ok = 1;
    memcpy(t->leaf[t->n], leaf, HL);
    t->st.limit = t->n;
    if (dcf_merkle_append(store_get, &t->st, t->n, leaf, a, &na) != DCF_OK)
        ok = 0;
    if (dcf_merkle_frontier_append(&t->fr, leaf, b, &nb) != DCF_OK)
        ok = 0;
    if (!ok || na != nb || na != 1 + (unsigned)__builtin_ctzll(~t->n))
        return 0;
    for (unsigned i = 0; i < na; i++) {
        if (a[i].level != i || a[i].index != (t->n >> i) || b[i].level != a[i].level ||
            b[i].index != a[i].index || memcmp(a[i].hash, b[i].hash, HL) != 0)
            ok = 0;
        if (!store_put(&t->st, &a[i]))
            ok = 0;
    }
    t->n++;
    return ok;
}

static void tree_init(tree_t *t, uint64_t cap) {
    memset(t, 0, sizeof *t);
    t->leaf = calloc(cap, HL);
    if (t->leaf == NULL)
        abort();
    dcf_merkle_frontier_init(&t->fr);
}

static void tree_free(tree_t *t) {
    store_free(&t->st);
    free(t->leaf);
}

/* A tree of n leaves of random data (0..64 bytes each). */
static void tree_build_random(tree_t *t, uint64_t n, uint64_t *seed) {
    tree_init(t, n);
    long bad = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint8_t data[64], lh[HL];
        size_t len = (size_t)rnd_below(seed, sizeof data + 1);
        for (size_t j = 0; j < len; j++)
            data[j] = (uint8_t)test_rand(seed);
        if (dcf_merkle_leaf_hash(data, len, lh) != DCF_OK || !tree_append(t, lh))
            bad++;
    }
    CHECK_INT(bad, 0);
}

/* ----------------------------------------------------- RFC 6962 vectors -- */

static const char *const vec_leaves[8] = {
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
};

/* Complete nodes of the 8-leaf tree, by level (transparency-dev/merkle). */
static const char *const vec_nodes[4][8] = {
    {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
     "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
     "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
     "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
     "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
     "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
     "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
     "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"},
    {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
     "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
     "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"},
    {"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
     "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"},
    {"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"},
};

/* Roots of the trees of sizes 0..8. */
static const char *const vec_roots[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

/* (first, second, proof): inclusion (index, size) or consistency (m, n). */
typedef struct {
    uint64_t a, b;
    size_t count;
    const char *proof[3];
} vec_proof_t;

static const vec_proof_t vec_inclusion[] = {
    {0, 1, 0, {NULL}},
    {0,
     8,
     3,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5,
     8,
     3,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 3, 1, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1,
     5,
     3,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

static const vec_proof_t vec_consistency[] = {
    {1, 1, 0, {NULL}},
    {1,
     8,
     3,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6,
     8,
     3,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2,
     5,
     2,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {6,
     7,
     3,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
};

static void test_rfc6962_vectors(void) {
    tree_t t;
    uint8_t want[HL], got[HL], out[DCF_MERKLE_PROOF_MAX * HL], exp[3 * HL];
    size_t cnt;
    tree_init(&t, 8);

    dcf_merkle_empty_root(got);
    from_hex(vec_roots[0], want, HL);
    CHECK(memcmp(got, want, HL) == 0);
    dcf_merkle_frontier_root(&t.fr, got);
    CHECK(memcmp(got, want, HL) == 0);
    CHECK_INT(dcf_merkle_root(store_get, &t.st, 0, got), DCF_OK);
    CHECK(memcmp(got, want, HL) == 0);

    for (int i = 0; i < 8; i++) {
        uint8_t data[16], lh[HL];
        size_t len = strlen(vec_leaves[i]) / 2;
        from_hex(vec_leaves[i], data, len);
        CHECK_INT(dcf_merkle_leaf_hash(data, len, lh), DCF_OK);
        from_hex(vec_nodes[0][i], want, HL);
        CHECK(memcmp(lh, want, HL) == 0);
        CHECK(tree_append(&t, lh));
        // The root of every prefix, from the frontier and from storage.
        from_hex(vec_roots[i + 1], want, HL);
        dcf_merkle_frontier_root(&t.fr, got);
        CHECK_MSG(memcmp(got, want, HL) == 0, "frontier root of size %d", i + 1);
        t.st.limit = t.n;
        CHECK_INT(dcf_merkle_root(store_get, &t.st, t.n, got), DCF_OK);
        CHECK_MSG(memcmp(got, want, HL) == 0, "stored root of size %d", i + 1);
    }
    // Exactly the published complete nodes were stored.
    CHECK_INT(store_count(&t.st), 15);
    for (int l = 0; l < 4; l++) {
        CHECK_INT(t.st.len[l], 8 >> l);
        for (uint64_t i = 0; i < t.st.len[l]; i++) {
            from_hex(vec_nodes[l][i], want, HL);
            CHECK(memcmp(t.st.lv[l] + i * HL, want, HL) == 0);
        }
    }

    for (size_t v = 0; v < sizeof vec_inclusion / sizeof vec_inclusion[0]; v++) {
        const vec_proof_t *p = &vec_inclusion[v];
        uint8_t root[HL];
        for (size_t j = 0; j < p->count; j++)
            from_hex(p->proof[j], exp + j * HL, HL);
        t.st.limit = p->b;
        CHECK_INT(dcf_merkle_inclusion_proof(store_get, &t.st, p->a, p->b, out,
                                             DCF_MERKLE_PROOF_MAX, &cnt),
                  DCF_OK);
        CHECK_INT(cnt, p->count);
        CHECK_MSG(memcmp(out, exp, p->count * HL) == 0, "inclusion %llu in %llu",
                  (unsigned long long)p->a, (unsigned long long)p->b);
        from_hex(vec_roots[p->b], root, HL);
        CHECK_INT(dcf_merkle_verify_inclusion(t.leaf[p->a], p->a, p->b, exp, p->count, root),
                  DCF_OK);
    }
    for (size_t v = 0; v < sizeof vec_consistency / sizeof vec_consistency[0]; v++) {
        const vec_proof_t *p = &vec_consistency[v];
        uint8_t r1[HL], r2[HL];
        for (size_t j = 0; j < p->count; j++)
            from_hex(p->proof[j], exp + j * HL, HL);
        t.st.limit = p->b;
        CHECK_INT(dcf_merkle_consistency_proof(store_get, &t.st, p->a, p->b, out,
                                               DCF_MERKLE_PROOF_MAX, &cnt),
                  DCF_OK);
        CHECK_INT(cnt, p->count);
        CHECK_MSG(memcmp(out, exp, p->count * HL) == 0, "consistency %llu -> %llu",
                  (unsigned long long)p->a, (unsigned long long)p->b);
        from_hex(vec_roots[p->a], r1, HL);
        from_hex(vec_roots[p->b], r2, HL);
        CHECK_INT(dcf_merkle_verify_consistency(p->a, p->b, r1, r2, exp, p->count), DCF_OK);
    }
    CHECK_INT(t.st.bad, 0);
    tree_free(&t);
}

/* ---------------------------------------------------- proof checking -- */

/* Tallies of the corruption probes, reported at the end. */
static long probes_rejected, probes_same_shape;

/* A probe that must fail unless `same_shape` says the verifier cannot tell
 * it from the real proof (a wrong tree size that gives the same shape: the
 * verifier trusts the size of the signed tree head). */
static void expect_reject(int rc, int same_shape, long *wrongly_ok) {
    if (same_shape) {
        probes_same_shape++;
        return;
    }
    if (rc == DCF_OK)
        (*wrongly_ok)++;
    else
        probes_rejected++;
}

/* Check the inclusion proof of leaf i in the tree of size n of t against
 * the naive one, verify it, and try every corruption. */
static void check_inclusion(tree_t *t, uint64_t i, uint64_t n, uint64_t *seed) {
    uint8_t got[DCF_MERKLE_PROOF_MAX * HL], want[DCF_MERKLE_PROOF_MAX * HL];
    uint8_t bad[(DCF_MERKLE_PROOF_MAX + 1) * HL], root[HL], other[HL];
    char dirs[DCF_MERKLE_PROOF_MAX + 8], sig[DCF_MERKLE_PROOF_MAX + 8];
    size_t cnt = 0, wcnt = 0;
    long wrongly_ok = 0;

    t->st.limit = n;
    CHECK_INT(dcf_merkle_inclusion_proof(store_get, &t->st, i, n, got, DCF_MERKLE_PROOF_MAX, &cnt),
              DCF_OK);
    naive_path(t->leaf, i, 0, n, want, &wcnt, dirs);
    dirs[wcnt] = 0;
    CHECK_INT(cnt, wcnt);
    if (cnt != wcnt || memcmp(got, want, cnt * HL) != 0) {
        CHECK_MSG(0, "inclusion proof of %llu in %llu differs from the naive one",
                  (unsigned long long)i, (unsigned long long)n);
        return;
    }
    naive_mth(t->leaf, 0, n, root);
    CHECK_INT(dcf_merkle_verify_inclusion(t->leaf[i], i, n, got, cnt, root), DCF_OK);

    // One byte flipped in each hash.
    for (size_t j = 0; j < cnt; j++) {
        memcpy(bad, got, cnt * HL);
        bad[j * HL + rnd_below(seed, HL)] ^= (uint8_t)(1 + rnd_below(seed, 255));
        expect_reject(dcf_merkle_verify_inclusion(t->leaf[i], i, n, bad, cnt, root), 0,
                      &wrongly_ok);
    }
    // Truncated, extended at either end.
    if (cnt > 0)
        expect_reject(dcf_merkle_verify_inclusion(t->leaf[i], i, n, got, cnt - 1, root), 0,
                      &wrongly_ok);
    memcpy(bad, got, cnt * HL);
    memcpy(bad + cnt * HL, root, HL);
    expect_reject(dcf_merkle_verify_inclusion(t->leaf[i], i, n, bad, cnt + 1, root), 0,
                  &wrongly_ok);
    memcpy(bad, t->leaf[i], HL);
    memcpy(bad + HL, got, cnt * HL);
    expect_reject(dcf_merkle_verify_inclusion(t->leaf[i], i, n, bad, cnt + 1, root), 0,
                  &wrongly_ok);
    // Wrong leaf, wrong root.
    memcpy(other, t->leaf[i], HL);
    other[rnd_below(seed, HL)] ^= 0x40;
    expect_reject(dcf_merkle_verify_inclusion(other, i, n, got, cnt, root), 0, &wrongly_ok);
    expect_reject(dcf_merkle_verify_inclusion(t->leaf[i], i, n, got, cnt, other), 0, &wrongly_ok);
    // Wrong index: another index always has another path shape.
    uint64_t wi[5] = {i - 1, i + 1, i ^ 1, i ^ 2, rnd_below(seed, n)};
    for (int k = 0; k < 5; k++) {
        if (wi[k] == i || wi[k] >= n)
            continue;
        incl_shape(wi[k], n, sig);
        CHECK(strcmp(sig, dirs) != 0);
        expect_reject(dcf_merkle_verify_inclusion(t->leaf[i], wi[k], n, got, cnt, root), 0,
                      &wrongly_ok);
    }
    // Wrong size: must fail unless it gives the very same shape.
    uint64_t wn[6] = {n - 1, n + 1, n * 2, n / 2, n + 1 + rnd_below(seed, n), i + 1};
    for (int k = 0; k < 6; k++) {
        if (wn[k] == n || wn[k] <= i)
            continue;
        incl_shape(i, wn[k], sig);
        expect_reject(dcf_merkle_verify_inclusion(t->leaf[i], i, wn[k], got, cnt, root),
                      strcmp(sig, dirs) == 0, &wrongly_ok);
    }
    CHECK_MSG(wrongly_ok == 0, "%ld corrupted inclusion proofs of %llu in %llu verified",
              wrongly_ok, (unsigned long long)i, (unsigned long long)n);
}

static void check_consistency(tree_t *t, uint64_t m, uint64_t n, uint64_t *seed) {
    uint8_t got[DCF_MERKLE_PROOF_MAX * HL], want[DCF_MERKLE_PROOF_MAX * HL];
    uint8_t bad[(DCF_MERKLE_PROOF_MAX + 1) * HL], r1[HL], r2[HL], other[HL];
    char sig0[DCF_MERKLE_PROOF_MAX + 8], sig[DCF_MERKLE_PROOF_MAX + 8];
    char roles[DCF_MERKLE_PROOF_MAX + 8];
    size_t cnt = 0, wcnt = 0;
    long wrongly_ok = 0;

    t->st.limit = n;
    CHECK_INT(
        dcf_merkle_consistency_proof(store_get, &t->st, m, n, got, DCF_MERKLE_PROOF_MAX, &cnt),
        DCF_OK);
    roles[0] = 0;
    naive_subproof(t->leaf, m, 0, n, 1, want, &wcnt, roles);
    CHECK_INT(cnt, wcnt);
    if (cnt != wcnt || memcmp(got, want, cnt * HL) != 0) {
        CHECK_MSG(0, "consistency proof %llu -> %llu differs from the naive one",
                  (unsigned long long)m, (unsigned long long)n);
        return;
    }
    naive_mth(t->leaf, 0, m, r1);
    naive_mth(t->leaf, 0, n, r2);
    CHECK_INT(dcf_merkle_verify_consistency(m, n, r1, r2, got, cnt), DCF_OK);
    cons_shape(m, n, sig0);

    for (size_t j = 0; j < cnt; j++) {
        memcpy(bad, got, cnt * HL);
        bad[j * HL + rnd_below(seed, HL)] ^= (uint8_t)(1 + rnd_below(seed, 255));
        expect_reject(dcf_merkle_verify_consistency(m, n, r1, r2, bad, cnt), 0, &wrongly_ok);
    }
    if (cnt > 0)
        expect_reject(dcf_merkle_verify_consistency(m, n, r1, r2, got, cnt - 1), 0, &wrongly_ok);
    memcpy(bad, got, cnt * HL);
    memcpy(bad + cnt * HL, r2, HL);
    expect_reject(dcf_merkle_verify_consistency(m, n, r1, r2, bad, cnt + 1), 0, &wrongly_ok);
    memcpy(bad, cnt > 0 ? got : r1, HL);
    memcpy(bad + HL, got, cnt * HL);
    expect_reject(dcf_merkle_verify_consistency(m, n, r1, r2, bad, cnt + 1), 0, &wrongly_ok);
    memcpy(other, r1, HL);
    other[rnd_below(seed, HL)] ^= 0x20;
    expect_reject(dcf_merkle_verify_consistency(m, n, other, r2, got, cnt), 0, &wrongly_ok);
    expect_reject(dcf_merkle_verify_consistency(m, n, r1, other, got, cnt), 0, &wrongly_ok);
    if (m != n)
        expect_reject(dcf_merkle_verify_consistency(m, n, r2, r1, got, cnt), 0, &wrongly_ok);
    // Wrong sizes: must fail unless the verifier sees the same shape.
    uint64_t ws[8][2] = {{m - 1, n}, {m + 1, n},         {m, n - 1},     {m, n + 1},
                         {m, 2 * n}, {m / 2 + 1, n / 2}, {m ^ 1, n ^ 1}, {m, m}};
    for (int k = 0; k < 8; k++) {
        uint64_t a = ws[k][0], b = ws[k][1];
        if (a == m && b == n)
            continue;
        cons_shape(a, b, sig);
        int rc = dcf_merkle_verify_consistency(a, b, r1, r2, got, cnt);
        expect_reject(rc, strcmp(sig, sig0) == 0, &wrongly_ok);
    }
    CHECK_MSG(wrongly_ok == 0, "%ld corrupted consistency proofs %llu -> %llu verified", wrongly_ok,
              (unsigned long long)m, (unsigned long long)n);
}

/* Every proof of every small tree: all shapes up to 64 leaves. */
static void test_small_trees_exhaustive(void) {
    uint64_t seed = 0x5eed0001u;
    tree_t t;
    tree_build_random(&t, 64, &seed);
    for (uint64_t n = 1; n <= 64; n++) {
        for (uint64_t i = 0; i < n; i++)
            check_inclusion(&t, i, n, &seed);
        for (uint64_t m = 1; m <= n; m++)
            check_consistency(&t, m, n, &seed);
    }
    CHECK_INT(t.st.bad, 0);
    tree_free(&t);
}

/* The root of every prefix: frontier, storage and a reloaded frontier agree,
 * and agree with the naive MTH (on every prefix when every_naive, else on a
 * sample).  After N appends exactly 2N - popcount(N) nodes are stored. */
static void check_prefix_roots(uint64_t n, uint64_t seed0, int every_naive) {
    uint64_t seed = seed0;
    tree_t t;
    long mism = 0, naive_checked = 0;
    tree_build_random(&t, n, &seed);
    CHECK_INT(store_count(&t.st), 2 * n - (uint64_t)__builtin_popcountll(n));

    // Replay the appends on a second frontier to see every prefix.
    dcf_merkle_frontier_t fr;
    dcf_merkle_frontier_init(&fr);
    for (uint64_t k = 1; k <= n; k++) {
        uint8_t a[HL], b[HL], c[HL], d[HL];
        dcf_merkle_frontier_t re;
        CHECK_INT(dcf_merkle_frontier_append(&fr, t.leaf[k - 1], NULL, NULL), DCF_OK);
        dcf_merkle_frontier_root(&fr, a);
        t.st.limit = k;
        if (dcf_merkle_root(store_get, &t.st, k, b) != DCF_OK ||
            dcf_merkle_frontier_load(&re, store_get, &t.st, k) != DCF_OK) {
            mism++;
            continue;
        }
        dcf_merkle_frontier_root(&re, c);
        if (re.size != k || memcmp(a, b, HL) != 0 || memcmp(a, c, HL) != 0)
            mism++;
        for (unsigned l = 0; l < DCF_MERKLE_LEVELS; l++)
            if (((k >> l) & 1) && memcmp(re.hash[l], fr.hash[l], HL) != 0)
                mism++;
        if (every_naive || k % 61 == 0 || k == n || k <= 256) {
            naive_mth(t.leaf, 0, k, d);
            naive_checked++;
            if (memcmp(a, d, HL) != 0)
                mism++;
        }
    }
    CHECK_INT(mism, 0);
    CHECK(naive_checked >= 256);
    CHECK_INT(t.st.bad, 0);
    tree_free(&t);
}

static void test_prefix_roots(void) {
    uint64_t seed = 0x70075u;
    check_prefix_roots(1500 + rnd_below(&seed, 1000), 0xa11ce, 1);
    check_prefix_roots(5000 + rnd_below(&seed, 5001), 0xb0b, 0);
    check_prefix_roots(10000, 0xc4a7, 0);
}

/* Random proofs on random trees up to 10^4 leaves. */
static void test_random_proofs(void) {
    uint64_t seed = 0xdecaf123u;
    for (int tr = 0; tr < 3; tr++) {
        tree_t t;
        uint64_t N = tr == 0 ? 10000 : 1 + rnd_below(&seed, 10000);
        tree_build_random(&t, N, &seed);
        for (int q = 0; q < 120; q++) {
            uint64_t n = 1 + rnd_below(&seed, N);
            check_inclusion(&t, rnd_below(&seed, n), n, &seed);
            uint64_t n2 = 1 + rnd_below(&seed, N);
            check_consistency(&t, 1 + rnd_below(&seed, n2), n2, &seed);
        }
        // The edges: first and last leaves, m of 1, n - 1, n and powers of 2.
        for (int q = 0; q < 10; q++) {
            uint64_t n = 2 + rnd_below(&seed, N - 1 > 0 ? N - 1 : 1);
            if (n > N)
                n = N;
            check_inclusion(&t, 0, n, &seed);
            check_inclusion(&t, n - 1, n, &seed);
            check_consistency(&t, 1, n, &seed);
            check_consistency(&t, n - 1 > 0 ? n - 1 : 1, n, &seed);
            check_consistency(&t, n, n, &seed);
            check_consistency(&t, split(n + 1) <= n ? split(n + 1) : 1, n, &seed);
        }
        CHECK_INT(t.st.bad, 0);
        tree_free(&t);
    }
    fprintf(stderr, "  corruption probes rejected: %ld; wrong sizes with the same shape: %ld\n",
            probes_rejected, probes_same_shape);
    CHECK(probes_rejected > 10000);
}

/* ------------------------------------------------------ read counting -- */

/* A synthetic store: node (level, index) hashes to SHA-256(level || index).
 * Not a real tree; it counts reads and refuses nodes not complete in n. */
typedef struct {
    uint64_t n;
    long gets, bad;
    long fail_at; // when > 0, the fail_at-th read returns DCF_EIO
} synth_t;

static int synth_get(void *arg, unsigned level, uint64_t index, uint8_t out[HL]) {
    synth_t *s = arg;
    uint8_t buf[12];
    s->gets++;
    if (s->fail_at > 0 && s->gets == s->fail_at)
        return DCF_EIO;
    if (level >= 63 || index >= (s->n >> level) || ((index + 1) << level) > s->n) {
        s->bad++;
        return DCF_ENOENT;
    }
    for (int i = 0; i < 4; i++)
        buf[i] = (uint8_t)(level >> (8 * i));
    for (int i = 0; i < 8; i++)
        buf[4 + i] = (uint8_t)(index >> (8 * i));
    crypto_hash_sha256(out, buf, sizeof buf);
    return DCF_OK;
}

static void count_reads(uint64_t n, uint64_t *seed, long *max_incl, long *max_cons,
                        long *max_root) {
    uint8_t out[DCF_MERKLE_PROOF_MAX * HL], root[HL];
    size_t cnt;
    synth_t s = {.n = n};
    CHECK_INT(dcf_merkle_root(synth_get, &s, n, root), DCF_OK);
    CHECK_INT(s.gets, __builtin_popcountll(n));
    if (s.gets > *max_root)
        *max_root = s.gets;
    for (int q = 0; q < 64; q++) {
        uint64_t i = q == 0 ? 0 : q == 1 ? n - 1 : q == 2 ? n / 2 : rnd_below(seed, n);
        s.gets = 0;
        CHECK_INT(dcf_merkle_inclusion_proof(synth_get, &s, i, n, out, DCF_MERKLE_PROOF_MAX, &cnt),
                  DCF_OK);
        CHECK(cnt <= 63);
        CHECK_MSG(s.gets <= 2 * 64, "%ld reads for inclusion of %llu in %llu", s.gets,
                  (unsigned long long)i, (unsigned long long)n);
        if (s.gets > *max_incl)
            *max_incl = s.gets;
        uint64_t m = q == 0 ? 1 : q == 1 ? n - 1 : q == 2 ? n / 2 : 1 + rnd_below(seed, n);
        if (m == 0)
            m = 1;
        s.gets = 0;
        CHECK_INT(
            dcf_merkle_consistency_proof(synth_get, &s, m, n, out, DCF_MERKLE_PROOF_MAX, &cnt),
            DCF_OK);
        CHECK(cnt <= 63);
        CHECK_MSG(s.gets <= 2 * 64, "%ld reads for consistency %llu -> %llu", s.gets,
                  (unsigned long long)m, (unsigned long long)n);
        if (s.gets > *max_cons)
            *max_cons = s.gets;
    }
    CHECK_INT(s.bad, 0);
}

static void test_reads_are_logarithmic(void) {
    uint64_t seed = 0x10u << 20 | 7;
    long mi = 0, mc = 0, mr = 0;
    count_reads(10000000, &seed, &mi, &mc, &mr);
    fprintf(stderr,
            "  n = 10^7: at most %ld reads per inclusion proof, %ld per consistency "
            "proof, %ld per root\n",
            mi, mc, mr);
    CHECK(mi <= 2 * 64 && mc <= 2 * 64);
    // The worst shapes sit at the size limit: many set bits on the right edge.
    mi = mc = mr = 0;
    count_reads(DCF_MERKLE_SIZE_MAX, &seed, &mi, &mc, &mr);
    count_reads(DCF_MERKLE_SIZE_MAX - 1, &seed, &mi, &mc, &mr);
    count_reads((DCF_MERKLE_SIZE_MAX >> 1) + (DCF_MERKLE_SIZE_MAX >> 2) - 1, &seed, &mi, &mc, &mr);
    for (int k = 0; k < 8; k++)
        count_reads(1 + rnd_below(&seed, DCF_MERKLE_SIZE_MAX), &seed, &mi, &mc, &mr);
    fprintf(stderr, "  n up to 2^62: at most %ld / %ld / %ld reads\n", mi, mc, mr);
    CHECK(mi <= 2 * 64 && mc <= 2 * 64 && mr <= 63);
}

/* ----------------------------------------------------- errors, limits -- */

static void test_callback_errors_propagate(void) {
    uint8_t out[DCF_MERKLE_PROOF_MAX * HL], keep[DCF_MERKLE_PROOF_MAX * HL], root[HL];
    dcf_merkle_node_t nodes[DCF_MERKLE_APPEND_MAX];
    dcf_merkle_frontier_t f, f0;
    const uint64_t n = (UINT64_C(1) << 20) - 1 - (UINT64_C(1) << 10);
    long bad = 0;
    memset(keep, 0xa5, sizeof keep);
    dcf_merkle_frontier_init(&f0);
    // Every read of each algorithm, in turn, fails with DCF_EIO.
    for (int algo = 0; algo < 5; algo++) {
        synth_t s = {.n = n};
        long total;
        size_t cnt = 999;
        unsigned ncnt = 999;
        // Count the reads of a successful run first.
        switch (algo) {
        case 0:
            dcf_merkle_root(synth_get, &s, n, root);
            break;
        case 1:
            dcf_merkle_inclusion_proof(synth_get, &s, 777, n, out, DCF_MERKLE_PROOF_MAX, &cnt);
            break;
        case 2:
            dcf_merkle_consistency_proof(synth_get, &s, 5555, n, out, DCF_MERKLE_PROOF_MAX, &cnt);
            break;
        case 3:
            s.n = n + 1; // the append of leaf n reads nodes complete in n + 1
            dcf_merkle_append(synth_get, &s, n, root, nodes, &ncnt);
            break;
        default:
            dcf_merkle_frontier_load(&f, synth_get, &s, n);
            break;
        }
        total = s.gets;
        CHECK(total >= 3);
        for (long k = 1; k <= total; k++) {
            synth_t e = {.n = algo == 3 ? n + 1 : n, .fail_at = k};
            int rc;
            cnt = 999;
            ncnt = 999;
            memcpy(out, keep, sizeof out);
            memcpy(root, keep, HL);
            memcpy(&f, &f0, sizeof f);
            switch (algo) {
            case 0:
                rc = dcf_merkle_root(synth_get, &e, n, root);
                break;
            case 1:
                rc = dcf_merkle_inclusion_proof(synth_get, &e, 777, n, out, DCF_MERKLE_PROOF_MAX,
                                                &cnt);
                break;
            case 2:
                rc = dcf_merkle_consistency_proof(synth_get, &e, 5555, n, out, DCF_MERKLE_PROOF_MAX,
                                                  &cnt);
                break;
            case 3:
                memset(nodes, 0xa5, sizeof nodes);
                rc = dcf_merkle_append(synth_get, &e, n, keep, nodes, &ncnt);
                if (((const uint8_t *)nodes)[0] != 0xa5)
                    bad++;
                break;
            default:
                rc = dcf_merkle_frontier_load(&f, synth_get, &e, n);
                break;
            }
            if (rc != DCF_EIO || cnt != 999 || ncnt != 999 || memcmp(out, keep, sizeof out) != 0 ||
                memcmp(root, keep, HL) != 0 || memcmp(&f, &f0, sizeof f) != 0)
                bad++;
            if (e.gets != k)
                bad++; // stopped at the failing read
        }
    }
    CHECK_INT(bad, 0);
}

static void test_arguments_and_limits(void) {
    uint8_t out[DCF_MERKLE_PROOF_MAX * HL], h[HL], big[(DCF_MERKLE_PROOF_MAX + 1) * HL];
    size_t cnt = 0;
    unsigned ncnt = 0;
    dcf_merkle_node_t nodes[DCF_MERKLE_APPEND_MAX];
    dcf_merkle_frontier_t f;
    synth_t s = {.n = DCF_MERKLE_SIZE_MAX};
    const uint64_t max = DCF_MERKLE_SIZE_MAX;

    // Leaf hashes: the empty entry, NULL, the length limit.
    uint8_t want[HL];
    from_hex(vec_nodes[0][0], want, HL);
    CHECK_INT(dcf_merkle_leaf_hash(NULL, 0, h), DCF_OK);
    CHECK(memcmp(h, want, HL) == 0);
    CHECK_INT(dcf_merkle_leaf_hash(NULL, 1, h), DCF_EINVAL);
    CHECK_INT(dcf_merkle_leaf_hash(out, (size_t)DCF_MERKLE_LEAF_MAX + 1, h), DCF_ELIMIT);

    // Sizes, indexes, buffers.
    CHECK_INT(dcf_merkle_root(synth_get, &s, max + 1, h), DCF_ERANGE);
    CHECK_INT(dcf_merkle_inclusion_proof(synth_get, &s, 5, 5, out, 64, &cnt), DCF_EINVAL);
    CHECK_INT(dcf_merkle_inclusion_proof(synth_get, &s, 0, 0, out, 64, &cnt), DCF_EINVAL);
    CHECK_INT(dcf_merkle_inclusion_proof(synth_get, &s, 0, max + 1, out, 64, &cnt), DCF_ERANGE);
    CHECK_INT(dcf_merkle_inclusion_proof(NULL, &s, 0, 4, out, 64, &cnt), DCF_EINVAL);
    CHECK_INT(dcf_merkle_consistency_proof(synth_get, &s, 0, 5, out, 64, &cnt), DCF_EINVAL);
    CHECK_INT(dcf_merkle_consistency_proof(synth_get, &s, 6, 5, out, 64, &cnt), DCF_EINVAL);
    CHECK_INT(dcf_merkle_consistency_proof(synth_get, &s, 1, max + 1, out, 64, &cnt), DCF_ERANGE);
    // A proof of 3 hashes does not fit in 2; it fits in exactly 3.
    s.n = 8;
    cnt = 77;
    CHECK_INT(dcf_merkle_inclusion_proof(synth_get, &s, 0, 8, out, 2, &cnt), DCF_ELIMIT);
    CHECK_INT(cnt, 77);
    CHECK_INT(dcf_merkle_inclusion_proof(synth_get, &s, 0, 8, out, 3, &cnt), DCF_OK);
    CHECK_INT(cnt, 3);
    CHECK_INT(dcf_merkle_consistency_proof(synth_get, &s, 3, 8, out, 3, &cnt), DCF_ELIMIT);
    CHECK_INT(dcf_merkle_consistency_proof(synth_get, &s, 3, 8, out, 4, &cnt), DCF_OK);
    CHECK_INT(cnt, 4);
    CHECK_INT(dcf_merkle_consistency_proof(synth_get, &s, 8, 8, NULL, 0, &cnt), DCF_OK);
    CHECK_INT(cnt, 0);
    // The largest tree: proofs and appends at the edge.
    s.n = max;
    CHECK_INT(dcf_merkle_inclusion_proof(synth_get, &s, max - 1, max, out, 64, &cnt), DCF_OK);
    CHECK_INT(cnt, 62);
    CHECK_INT(dcf_merkle_consistency_proof(synth_get, &s, max - 1, max, out, 64, &cnt), DCF_OK);
    CHECK_INT(cnt, 63);
    CHECK_INT(dcf_merkle_append(synth_get, &s, max - 1, h, nodes, &ncnt), DCF_OK);
    CHECK_INT(ncnt, 63);
    CHECK_INT(nodes[62].level, 62);
    CHECK_INT(nodes[62].index, 0);
    CHECK_INT(dcf_merkle_append(synth_get, &s, max, h, nodes, &ncnt), DCF_ERANGE);
    CHECK_INT(dcf_merkle_frontier_load(&f, synth_get, &s, max + 1), DCF_ERANGE);
    CHECK_INT(dcf_merkle_frontier_load(&f, synth_get, &s, max - 1), DCF_OK);
    CHECK_INT(dcf_merkle_frontier_append(&f, h, nodes, &ncnt), DCF_OK);
    CHECK_INT(ncnt, 63);
    CHECK_INT(f.size, max);
    CHECK_INT(dcf_merkle_frontier_append(&f, h, nodes, &ncnt), DCF_ERANGE);
    CHECK_INT(f.size, max);
    CHECK_INT(s.bad, 0);

    // Verifiers: malformed arguments are DCF_EINVAL, mismatches DCF_ECONFLICT.
    memset(big, 0, sizeof big);
    CHECK_INT(dcf_merkle_verify_inclusion(h, 3, 3, big, 2, h), DCF_EINVAL);
    CHECK_INT(dcf_merkle_verify_inclusion(h, 0, 0, NULL, 0, h), DCF_EINVAL);
    CHECK_INT(dcf_merkle_verify_inclusion(h, 0, max + 1, big, 2, h), DCF_ERANGE);
    CHECK_INT(dcf_merkle_verify_inclusion(h, 0, max, big, DCF_MERKLE_PROOF_MAX + 1, h), DCF_EINVAL);
    CHECK_INT(dcf_merkle_verify_inclusion(h, 0, 1, NULL, 0, h), DCF_OK);
    CHECK_INT(dcf_merkle_verify_inclusion(h, 0, 1, big, 1, h), DCF_ECONFLICT);
    CHECK_INT(dcf_merkle_verify_inclusion(h, 0, 2, NULL, 0, h), DCF_ECONFLICT);
    CHECK_INT(dcf_merkle_verify_consistency(0, 4, h, h, big, 1), DCF_EINVAL);
    CHECK_INT(dcf_merkle_verify_consistency(5, 4, h, h, big, 1), DCF_EINVAL);
    CHECK_INT(dcf_merkle_verify_consistency(1, max + 1, h, h, big, 1), DCF_ERANGE);
    CHECK_INT(dcf_merkle_verify_consistency(1, 4, h, h, big, DCF_MERKLE_PROOF_MAX + 1), DCF_EINVAL);
    CHECK_INT(dcf_merkle_verify_consistency(4, 4, h, h, NULL, 0), DCF_OK);
    CHECK_INT(dcf_merkle_verify_consistency(4, 4, h, h, big, 1), DCF_ECONFLICT);
    CHECK_INT(dcf_merkle_verify_consistency(4, 4, h, big, NULL, 0), DCF_ECONFLICT);
    CHECK_INT(dcf_merkle_verify_consistency(3, 4, h, big, NULL, 0), DCF_ECONFLICT);
}

static void test_hex(void) {
    uint8_t h[HL], back[HL];
    char hex[DCF_MERKLE_HEX_LEN + 1], upper[DCF_MERKLE_HEX_LEN + 1];
    const char *root8 = vec_roots[8];
    CHECK_INT(dcf_merkle_hash_from_hex(root8, strlen(root8), h), DCF_OK);
    CHECK_STR(dcf_merkle_hash_to_hex(h, hex), root8);
    for (int i = 0; i <= DCF_MERKLE_HEX_LEN; i++)
        upper[i] = (char)(hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 32 : hex[i]);
    CHECK_INT(dcf_merkle_hash_from_hex(upper, DCF_MERKLE_HEX_LEN, back), DCF_OK);
    CHECK(memcmp(h, back, HL) == 0);
    memset(back, 0x11, HL);
    CHECK_INT(dcf_merkle_hash_from_hex(root8, 63, back), DCF_EPARSE);
    CHECK_INT(dcf_merkle_hash_from_hex(root8, 62, back), DCF_EPARSE);
    CHECK_INT(dcf_merkle_hash_from_hex("", 0, back), DCF_EPARSE);
    upper[10] = 'g';
    CHECK_INT(dcf_merkle_hash_from_hex(upper, DCF_MERKLE_HEX_LEN, back), DCF_EPARSE);
    upper[10] = ' ';
    CHECK_INT(dcf_merkle_hash_from_hex(upper, DCF_MERKLE_HEX_LEN, back), DCF_EPARSE);
    CHECK_INT(back[0], 0x11);
}

int main(void) {
    if (sodium_init() < 0)
        return 1;
    RUN(test_rfc6962_vectors);
    RUN(test_hex);
    RUN(test_arguments_and_limits);
    RUN(test_callback_errors_propagate);
    RUN(test_small_trees_exhaustive);
    RUN(test_prefix_roots);
    RUN(test_random_proofs);
    RUN(test_reads_are_logarithmic);
    TEST_DONE();
}
