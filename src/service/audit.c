/*
 * audit.c -- the tamper-evident audit log (docs/audit.md): canonical
 * entries appended in the same transaction as the change they record, an
 * RFC 9162 Merkle tree over them with every complete node stored, signed
 * tree heads (Ed25519), and the reads behind the audit API: entries, tree
 * heads, inclusion and consistency proofs.
 *
 * INVARIANTS.
 *   - Entry i is the i-th leaf: indexes run 0, 1, 2 ... with no gap.  The
 *     writer's in-memory frontier always equals the tree of the entries it
 *     has written; svc_tx_run puts it back when a write is rolled back, so
 *     a failed write leaves neither entry nor gap.  (A failed COMMIT stops
 *     the process: see svc_fail_stop.)
 *   - After entry i commits, every complete node covering leaves <= i is
 *     stored, so a proof for any tree size up to the committed one needs
 *     O(log n) node reads and never rehashes leaves.  Node (level L, index
 *     j) is completed by the append of leaf (j + 1) * 2^L - 1, and is
 *     stored in that entry's row: audit_entries.hashes holds the leaf hash
 *     then the interior nodes the append completed, levels 0..k (k = the
 *     number of trailing one bits of the entry's index), 32 bytes each.
 *     One row per entry, not one per node.  Entries appended before schema
 *     migration 6 hold only their leaf; their interior nodes are in
 *     audit_node under id = index * 64 + level, and node_get reads them
 *     there.
 *   - A tree head is issued only inside a write, over the frontier at that
 *     point, so it commits together with (after) every entry it covers.
 *   - Proofs are served only for sizes up to the newest tree head.
 *
 * THREADS.  `frontier`, `saved` and `sth_seq` belong to the writer thread;
 * `mu` guards the cached newest tree head.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "service_int.h"

#define STH_MAGIC     "DCF-STH-1"
#define STH_MSG_LEN   (9 + 8 + 8 + DCF_MERKLE_HASH_LEN)
#define KEY_FILE_MAX  4096
#define B64_HASH_LEN  sodium_base64_ENCODED_LEN(DCF_MERKLE_HASH_LEN, sodium_base64_VARIANT_ORIGINAL)
#define AUDIT_PARTIES DCF_PARTIES_MAX /* distinct parties one entry may name */
/* audit_party keys: the party's tag times 2^40 plus the entry's index, one
 * integer key per (party, entry), so each is one B-tree insert and a
 * party's entries are one key range. */
#define PARTY_KEY(tag, idx) ((int64_t)(tag) * (INT64_C(1) << 40) + (int64_t)(idx))
#define NODE_ID(level, idx) ((int64_t)(idx)*64 + (int64_t)(level))

/* ---------------------------------------------------------------- keys -- */

static void b64(const unsigned char *bin, size_t len, char *out, size_t cap) {
    sodium_bin2base64(out, cap, bin, len, sodium_base64_VARIANT_ORIGINAL);
}

static json_t *b64_json(const unsigned char *bin, size_t len) {
    char buf[128];
    b64(bin, len, buf, sizeof buf);
    return json_string(buf);
}

int dcf_service_audit_keygen(const char *path, char *err, size_t errlen) {
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    char
        text[sodium_base64_ENCODED_LEN(crypto_sign_SECRETKEYBYTES, sodium_base64_VARIANT_ORIGINAL) +
             1];
    int fd, rc = DCF_EIO;

    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        return DCF_EINTERNAL;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return errno == EEXIST ? DCF_EEXIST : DCF_EIO;
    }
    crypto_sign_keypair(pk, sk);
    b64(sk, sizeof sk, text, sizeof text - 1);
    strcat(text, "\n");
    size_t len = strlen(text);
    if (write(fd, text, len) == (ssize_t)len && fsync(fd) == 0)
        rc = DCF_OK;
    else
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    close(fd);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(text, sizeof text);
    if (rc != DCF_OK)
        unlink(path);
    return rc;
}

/* Read the signing key; refuse a file others may read. */
static int key_load(svc_audit_t *a, const char *path, char *err, size_t errlen) {
    char text[KEY_FILE_MAX + 1];
    struct stat st;
    size_t bin_len = 0;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen,
                 "audit signing key %s: %s (deconflict init creates it; --audit-key names it)",
                 path, strerror(errno));
        return DCF_EIO;
    }
    if (fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
        close(fd);
        snprintf(err, errlen, "audit signing key %s: group or others may access it (chmod 600 it)",
                 path);
        return DCF_EPERM;
    }
    n = read(fd, text, KEY_FILE_MAX);
    close(fd);
    if (n <= 0) {
        snprintf(err, errlen, "audit signing key %s: empty or unreadable", path);
        return DCF_EIO;
    }
    text[n] = '\0';
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
        text[--n] = '\0';
    if (sodium_base642bin(a->sk, sizeof a->sk, text, (size_t)n, NULL, &bin_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        bin_len != sizeof a->sk) {
        sodium_memzero(text, sizeof text);
        snprintf(err, errlen, "audit signing key %s: not a base64 Ed25519 secret key", path);
        return DCF_EPARSE;
    }
    sodium_memzero(text, sizeof text);
    crypto_sign_ed25519_sk_to_pk(a->pk, a->sk);
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, a->pk, sizeof a->pk);
    sodium_bin2hex(a->key_id, sizeof a->key_id, h, 8);
    return DCF_OK;
}

/* --------------------------------------------------------------- nodes -- */

/* A row's hash blob: exactly one hash (`hash`, an audit_node row) or an
 * entry's levels 0..k (`hashes`); `want` picks the level. */
typedef struct {
    unsigned want;
    uint8_t *out;
} node_want_t;

static int node_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    node_want_t *w = arg;
    (void)nc;
    if (c[0].type != DCF_STORE_BLOB || c[0].u.b.len % DCF_MERKLE_HASH_LEN != 0)
        return DCF_EINTERNAL;
    if (c[0].u.b.len < ((size_t)w->want + 1) * DCF_MERKLE_HASH_LEN)
        return 2; /* an entry from before migration 6: its node is in audit_node */
    memcpy(w->out, (const uint8_t *)c[0].u.b.ptr + (size_t)w->want * DCF_MERKLE_HASH_LEN,
           DCF_MERKLE_HASH_LEN);
    return 1; /* found: stop */
}

/* dcf_merkle_get_fn over the read pool (proofs and start-up): the node is
 * in the row of the entry whose append completed it (see INVARIANTS), or,
 * for entries older than migration 6, in audit_node. */
static int node_get(void *arg, unsigned level, uint64_t index, uint8_t out[DCF_MERKLE_HASH_LEN]) {
    dcf_service_t *s = arg;
    /* Entry indexes stay below 2^40 (PARTY_KEY), so no node we hold is
     * completed by a later leaf; this also keeps the shift in range. */
    if (level > 40 || index + 1 > (UINT64_C(1) << 40) >> level)
        return DCF_ENOENT;
    node_want_t w = {.want = level, .out = out};
    dcf_store_val_t k = dcf_store_val_int((int64_t)(((index + 1) << level) - 1));
    int rc = dcf_store_read(s->st, "SELECT hashes FROM audit_entries WHERE idx = $1", &k, 1,
                            node_row, &w);
    if (rc == 2) {
        w.want = 0;
        k = dcf_store_val_int(NODE_ID(level, index));
        rc =
            dcf_store_read(s->st, "SELECT hash FROM audit_node WHERE id = $1", &k, 1, node_row, &w);
    }
    return rc == 1 ? DCF_OK : rc == DCF_OK || rc == 2 ? DCF_ENOENT : rc;
}

/* ------------------------------------------------------------- writing -- */

int svc_tx_run(dcf_store_tx_t *tx, void *arg) {
    svc_tx_fn_t *t = arg;
    svc_audit_t *a = &t->s->audit;
    a->saved = a->frontier;
    size_t staged = svc_events_staged(t->s);
    int rc = t->fn(tx, t->arg);
    if (rc != DCF_OK) {
        a->frontier = a->saved;           /* the entries are rolled back with the savepoint */
        svc_events_unstage(t->s, staged); /* and so are the events */
    }
    return rc;
}

static int cmp_str(const void *x, const void *y) {
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

json_t *svc_audit_digest(json_t *state) {
    unsigned char h[crypto_hash_sha256_BYTES];
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    char *text = state ? json_dumps(state, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY |
                                               JSON_REAL_PRECISION(17))
                       : NULL;
    if (text == NULL)
        return NULL;
    crypto_hash_sha256(h, (const unsigned char *)text, strlen(text));
    free(text);
    return json_string(sodium_bin2hex(hex, sizeof hex, h, sizeof h));
}

/* Strings an entry carries without escaping: ids, slugs, actions, times
 * and hex are all made of these (the service generates or validates them),
 * so the entry's canonical text can be written directly. */
static bool json_safe(const char *v) {
    if (v == NULL || *v == '\0')
        return false;
    for (const unsigned char *c = (const unsigned char *)v; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_' || *c == '.' || *c == ':' || *c == '/'))
            return false;
    return true;
}

/* A bounded text builder; `ok` goes false on overflow or unsafe text. */
typedef struct {
    char *p;
    size_t n, cap;
    bool ok;
} sbuf_t;

static void sb_put(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_put(sbuf_t *b, const char *fmt, ...) {
    va_list ap;
    if (!b->ok)
        return;
    va_start(ap, fmt);
    int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= b->cap - b->n)
        b->ok = false;
    else
        b->n += (size_t)k;
}

/* "value" for a safe string, null for NULL / "" (`nullable`). */
static void sb_str(sbuf_t *b, const char *v, bool nullable) {
    if (nullable && (v == NULL || *v == '\0'))
        sb_put(b, "null");
    else if (json_safe(v))
        sb_put(b, "\"%s\"", v);
    else
        b->ok = false;
}

void svc_audit_digest_text(const char *const *parts, const size_t *lens, size_t n,
                           char hex[SVC_HASH_HEX]) {
    crypto_hash_sha256_state st;
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_init(&st);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
        crypto_hash_sha256_update(&st, (const unsigned char *)parts[i], lens[i]);
    }
    crypto_hash_sha256_final(&st, h);
    sodium_bin2hex(hex, SVC_HASH_HEX, h, sizeof h);
}

int svc_audit_add(dcf_service_t *s, dcf_store_tx_t *tx, const dcf_principal_t *who, dcf_time_t at,
                  const char *action, const svc_audit_obj_t *objs, size_t n_objs,
                  const char *const *parties, size_t n_parties) {
    svc_audit_t *a = &s->audit;
    const char **ps = NULL;
    size_t np = 0;
    uint8_t leaf[DCF_MERKLE_HASH_LEN];
    dcf_merkle_node_t nodes[DCF_MERKLE_APPEND_MAX];
    uint8_t hashes[DCF_MERKLE_APPEND_MAX * DCF_MERKLE_HASH_LEN];
    unsigned n_nodes = 0;
    char ts[DCF_TIME_STRLEN];
    int rc = DCF_ENOMEM;
    int64_t idx = (int64_t)a->frontier.size;
    sbuf_t b = {.cap = 512 + n_objs * 192 + n_parties * (DCF_PARTY_MAX + 4), .ok = true};

#ifdef DCF_BENCH_NO_AUDIT /* the benchmark's "log off" build (CMakeLists.txt) */
    (void)tx, (void)who, (void)at, (void)action, (void)objs, (void)n_objs, (void)parties;
    (void)n_parties, (void)ps, (void)np, (void)leaf, (void)nodes, (void)hashes, (void)n_nodes;
    (void)ts;
    (void)rc, (void)idx, (void)b;
    return DCF_OK;
#endif
    if (n_parties > AUDIT_PARTIES)
        return DCF_ELIMIT; /* never leave a concerned party out */
    if ((ps = malloc((n_parties ? n_parties : 1) * sizeof *ps)) == NULL ||
        (b.p = malloc(b.cap)) == NULL)
        goto out;
    for (size_t i = 0; i < n_parties; i++) {
        bool seen = parties[i] == NULL || parties[i][0] == '\0';
        for (size_t k = 0; k < np && !seen; k++)
            seen = strcmp(ps[k], parties[i]) == 0;
        if (!seen)
            ps[np++] = parties[i];
    }
    qsort(ps, np, sizeof ps[0], cmp_str);

    /* The canonical form of docs/audit.md, members in key order. */
    sb_put(&b, "{\"action\":");
    sb_str(&b, action, false);
    sb_put(&b, ",\"actor\":{\"party\":");
    sb_str(&b, who ? who->party : NULL, true);
    sb_put(&b, ",\"token\":");
    sb_str(&b, who ? who->token_id : NULL, true);
    sb_put(&b, "},\"at\":\"%s\",\"index\":%lld,\"objects\":[", dcf_time_format(at, ts),
           (long long)idx);
    for (size_t i = 0; i < n_objs; i++) {
        char hex[SVC_HASH_HEX];
        const char *d = objs[i].digest;
        if (d == NULL) {
            json_t *j = svc_audit_digest(objs[i].state);
            snprintf(hex, sizeof hex, "%s", j ? json_string_value(j) : "");
            json_decref(j);
            d = hex;
        }
        sb_put(&b, "%s{\"digest\":", i ? "," : "");
        sb_str(&b, d, false);
        sb_put(&b, ",\"id\":");
        sb_str(&b, objs[i].id, false);
        sb_put(&b, ",\"type\":");
        sb_str(&b, objs[i].type, false);
        sb_put(&b, "}");
    }
    sb_put(&b, "],\"parties\":[");
    for (size_t i = 0; i < np; i++) {
        sb_put(&b, "%s", i ? "," : "");
        sb_str(&b, ps[i], false);
    }
    sb_put(&b, "]}");
    if (!b.ok) {
        rc = DCF_EINTERNAL; /* an unsafe string or a bound: a bug, never input */
        goto out;
    }
    if ((rc = dcf_merkle_leaf_hash(b.p, b.n, leaf)) != DCF_OK ||
        (rc = dcf_merkle_frontier_append(&a->frontier, leaf, nodes, &n_nodes)) != DCF_OK)
        goto out;
    /* The leaf and the interior nodes this append completed, levels 0..k
     * (INVARIANTS): one row, however many nodes. */
    for (unsigned i = 0; i < n_nodes; i++) {
        if (nodes[i].level != i || nodes[i].index != (uint64_t)idx >> i) {
            rc = DCF_EINTERNAL;
            goto out;
        }
        memcpy(hashes + (size_t)i * DCF_MERKLE_HASH_LEN, nodes[i].hash, DCF_MERKLE_HASH_LEN);
    }
    dcf_store_val_t v[4] = {dcf_store_val_int(idx), dcf_store_val_int(at),
                            dcf_store_val_text(b.p, b.n),
                            dcf_store_val_blob(hashes, (size_t)n_nodes * DCF_MERKLE_HASH_LEN)};
    rc = dcf_store_tx_exec(tx,
                           "INSERT INTO audit_entries (idx, at, entry, hashes) "
                           "VALUES ($1, $2, $3, $4)",
                           v, 4, NULL);
    for (size_t i = 0; rc == DCF_OK && i < np; i++) {
        svc_party_t pt;
        if (a->new_party[0] != '\0' && strcmp(ps[i], a->new_party) == 0)
            pt.tag = a->new_party_tag; /* created by this very write */
        else if ((rc = svc_party_copy(s, ps[i], &pt, NULL)) != DCF_OK)
            break; /* an entry about a party that does not exist: a bug */
        dcf_store_val_t c = dcf_store_val_int(PARTY_KEY(pt.tag, idx));
        rc = dcf_store_tx_exec(tx, "INSERT INTO audit_party (key) VALUES ($1)", &c, 1, NULL);
    }
out:
    /* On failure the caller's write fails and svc_tx_run restores the
     * frontier. */
    free(ps);
    free(b.p);
    return rc;
}

typedef struct {
    dcf_service_t *s;
    json_t *config;
    const char **parties;
    size_t n;
} config_w_t;

static int config_fn(dcf_store_tx_t *tx, void *arg) {
    config_w_t *c = arg;
    svc_audit_obj_t o = {"config", "server", c->config, NULL};
    return svc_audit_add(c->s, tx, NULL, svc_now(c->s), "server.start", &o, 1, c->parties, c->n);
}

int svc_audit_config(dcf_service_t *s) {
    const dcf_service_opts_t *o = &s->o;
    config_w_t c = {.s = s};
    int rc = DCF_ENOMEM;
    c.config = json_pack(
        "{s:s, s:I, s:f, s:I, s:I, s:{s:I, s:I, s:I}, s:O?}", "policy",
        o->policy == DCF_POLICY_STRICT ? "strict" : "advisory", "notice_s",
        (json_int_t)(o->notice_us / DCF_USEC_PER_SEC), "grid_m", o->grid_m, "check_per_min",
        (json_int_t)o->check_per_min, "page_max", (json_int_t)o->page_max, "limits", "max_volumes",
        (json_int_t)o->limits.max_volumes, "max_vertices", (json_int_t)o->limits.max_vertices,
        "max_depth", (json_int_t)o->limits.max_depth, "rules", s->rules_json);
    pthread_mutex_lock(&s->cache_lock);
    c.n = s->n_parties;
    if ((c.parties = calloc(c.n ? c.n : 1, sizeof *c.parties)) != NULL)
        for (size_t i = 0; i < c.n; i++)
            c.parties[i] = s->party_list[i]->id; /* party entries live as long as s */
    pthread_mutex_unlock(&s->cache_lock);
    if (c.config != NULL && c.parties != NULL)
        rc = svc_write(s, config_fn, &c);
    json_decref(c.config);
    free(c.parties);
    return rc;
}

/* ---------------------------------------------------------- tree heads -- */

static void put_be64(unsigned char *p, uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)(v & 0xff);
}

static json_t *sth_json(const svc_audit_t *a, uint64_t size, int64_t ts_ms, const uint8_t *root,
                        const uint8_t *sig) {
    return json_pack("{s:I, s:I, s:o, s:o, s:s}", "tree_size", (json_int_t)size, "timestamp",
                     (json_int_t)ts_ms, "root_hash", b64_json(root, DCF_MERKLE_HASH_LEN),
                     "signature", b64_json(sig, crypto_sign_BYTES), "key_id", a->key_id);
}

typedef struct {
    dcf_service_t *s;
    bool only_if_grown;
    json_t *sth; /* out: the new head, or NULL when none was needed */
} sth_w_t;

static int sth_fn(dcf_store_tx_t *tx, void *arg) {
    sth_w_t *w = arg;
    svc_audit_t *a = &w->s->audit;
    uint8_t root[DCF_MERKLE_HASH_LEN], sig[crypto_sign_BYTES];
    unsigned char msg[STH_MSG_LEN];
    int64_t ts_ms = svc_now(w->s) / 1000;
    uint64_t size = a->frontier.size;

    if (w->only_if_grown && a->sth_seq > 0 && size == a->sth_size_written)
        return DCF_OK;
    dcf_merkle_frontier_root(&a->frontier, root);
    memcpy(msg, STH_MAGIC, 9);
    put_be64(msg + 9, size);
    put_be64(msg + 17, (uint64_t)ts_ms);
    memcpy(msg + 25, root, DCF_MERKLE_HASH_LEN);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, a->sk);
    dcf_store_val_t v[5] = {dcf_store_val_int(a->sth_seq + 1), dcf_store_val_int((int64_t)size),
                            dcf_store_val_int(ts_ms), dcf_store_val_blob(root, sizeof root),
                            dcf_store_val_blob(sig, sizeof sig)};
    int rc = dcf_store_tx_exec(tx,
                               "INSERT INTO audit_sths (seq, tree_size, ts_ms, root, sig) "
                               "VALUES ($1, $2, $3, $4, $5)",
                               v, 5, NULL);
    if (rc != DCF_OK)
        return rc;
    if ((w->sth = sth_json(a, size, ts_ms, root, sig)) == NULL)
        return DCF_ENOMEM;
    json_object_set_new(w->sth, "seq", json_integer(a->sth_seq + 1));
    a->sth_seq++;
    a->sth_size_written = size;
    return DCF_OK;
}

/* Make a new head the cached newest (heads commit in seq order, but two
 * callers may return in either order). */
static void sth_cache(svc_audit_t *a, json_t *sth) {
    pthread_mutex_lock(&a->mu);
    if (a->sth == NULL || json_integer_value(json_object_get(sth, "seq")) >
                              json_integer_value(json_object_get(a->sth, "seq"))) {
        json_decref(a->sth);
        a->sth = sth;
        sth = NULL;
    }
    pthread_mutex_unlock(&a->mu);
    json_decref(sth);
}

int dcf_audit_issue(dcf_service_t *s, bool only_if_grown) {
    sth_w_t w = {.s = s, .only_if_grown = only_if_grown};
    int rc = svc_write(s, sth_fn, &w);
    if (rc == DCF_OK && w.sth != NULL)
        sth_cache(&s->audit, w.sth);
    else
        json_decref(w.sth);
    return rc;
}

/* A copy of the newest head without its internal seq; NULL if none. */
static json_t *sth_newest(svc_audit_t *a) {
    json_t *out = NULL;
    pthread_mutex_lock(&a->mu);
    if (a->sth != NULL)
        out = json_deep_copy(a->sth);
    pthread_mutex_unlock(&a->mu);
    if (out != NULL)
        json_object_del(out, "seq");
    return out;
}

/* The newest head's size, without copying it; false when none exists. */
static bool sth_newest_size(svc_audit_t *a, uint64_t *size) {
    pthread_mutex_lock(&a->mu);
    bool have = a->sth != NULL;
    *size = have ? (uint64_t)json_integer_value(json_object_get(a->sth, "tree_size")) : 0;
    pthread_mutex_unlock(&a->mu);
    return have;
}

/* ------------------------------------------------------------- loading -- */

static int sth_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    dcf_service_t *s = arg;
    svc_audit_t *a = &s->audit;
    (void)nc;
    if (c[3].u.b.len != DCF_MERKLE_HASH_LEN || c[4].u.b.len != crypto_sign_BYTES)
        return DCF_EINTERNAL;
    json_t *j = sth_json(a, (uint64_t)c[1].u.i, c[2].u.i, c[3].u.b.ptr, c[4].u.b.ptr);
    if (j == NULL)
        return DCF_ENOMEM;
    json_object_set_new(j, "seq", json_integer(c[0].u.i));
    a->sth_seq = c[0].u.i;
    a->sth_size_written = (uint64_t)c[1].u.i;
    json_decref(a->sth);
    a->sth = j;
    return 0;
}

int svc_audit_open(dcf_service_t *s, char *err, size_t errlen) {
    svc_audit_t *a = &s->audit;
    int64_t n = 0;
    int rc;
    if (s->o.audit_key_path == NULL || s->o.audit_key_path[0] == '\0') {
        snprintf(err, errlen, "no audit signing key given");
        return DCF_EINVAL;
    }
    if ((rc = key_load(a, s->o.audit_key_path, err, errlen)) != DCF_OK)
        return rc;
    dcf_merkle_frontier_init(&a->frontier);
    if ((rc = dcf_store_read(s->st, "SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries", NULL, 0,
                             svc_int_row, &n)) != DCF_OK ||
        (rc = dcf_merkle_frontier_load(&a->frontier, node_get, s, (uint64_t)n)) != DCF_OK ||
        (rc = dcf_store_read(s->st,
                             "SELECT seq, tree_size, ts_ms, root, sig FROM audit_sths "
                             "ORDER BY seq DESC LIMIT 1",
                             NULL, 0, sth_row, s)) != DCF_OK) {
        snprintf(err, errlen, "loading the audit log: %s", dcf_strerror(rc));
        return rc;
    }
    /* The newest head must be a head of the tree we hold: a store whose
     * log was cut or altered under a head it signed refuses to start. */
    if (a->sth != NULL) {
        uint8_t root[DCF_MERKLE_HASH_LEN], want[DCF_MERKLE_HASH_LEN];
        size_t bl = 0;
        const char *rh = json_string_value(json_object_get(a->sth, "root_hash"));
        if (a->sth_size_written > a->frontier.size ||
            dcf_merkle_root(node_get, s, a->sth_size_written, root) != DCF_OK ||
            sodium_base642bin(want, sizeof want, rh, strlen(rh), NULL, &bl, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            bl != sizeof want || sodium_memcmp(root, want, sizeof root) != 0) {
            snprintf(err, errlen,
                     "the audit log does not match its newest signed tree head (size %llu): "
                     "the store was altered",
                     (unsigned long long)a->sth_size_written);
            return DCF_ECONFLICT;
        }
    }
    return DCF_OK;
}

void svc_audit_close(svc_audit_t *a) {
    sodium_memzero(a->sk, sizeof a->sk);
    json_decref(a->sth);
    a->sth = NULL;
}

/* -------------------------------------------------------------- reading -- */

int dcf_audit_key(dcf_service_t *s, json_t **out) {
    *out = json_pack("{s:s, s:o, s:s}", "algorithm", "Ed25519", "public_key",
                     b64_json(s->audit.pk, sizeof s->audit.pk), "key_id", s->audit.key_id);
    return *out ? DCF_OK : DCF_ENOMEM;
}

int dcf_audit_sth(dcf_service_t *s, bool fresh, json_t **out, dcf_problem_t *p) {
    int rc;
    if (fresh || s->audit.sth == NULL) { /* (a racy peek: the write decides) */
        if ((rc = dcf_audit_issue(s, true)) != DCF_OK)
            return svc_internal(p, rc);
    }
    if ((*out = sth_newest(&s->audit)) == NULL)
        return svc_internal(p, DCF_ENOMEM);
    return DCF_OK;
}

static int sths_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    svc_page_t *pg = arg;
    dcf_service_t *s = pg->ctx;
    (void)nc;
    return svc_page_add(
        pg, sth_json(&s->audit, (uint64_t)c[1].u.i, c[2].u.i, c[3].u.b.ptr, c[4].u.b.ptr),
        c[0].u.i);
}

/* A bad query argument, answered like the API's own (400 bad-query,
 * pointer "?name"). */
static int bad_arg(dcf_problem_t *p, const char *name, const char *rule) {
    char ptr[64];
    snprintf(ptr, sizeof ptr, "?%s", name);
    svc_invalid(p, "Bad query argument", ptr, rule);
    p->type = "bad-query";
    return DCF_EINVAL;
}

/* The start of a page from an opaque cursor ("" / NULL = start). */
static int cursor_of(const char *cursor, int64_t *after, dcf_problem_t *p) {
    char *end;
    *after = -1;
    if (cursor == NULL || cursor[0] == '\0')
        return DCF_OK;
    errno = 0;
    long long v = strtoll(cursor, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0)
        return bad_arg(p, "cursor", "must be a cursor from next_cursor");
    *after = v;
    return DCF_OK;
}

static unsigned limit_of(dcf_service_t *s, unsigned limit) {
    return limit == 0 || limit > s->o.page_max ? s->o.page_max : limit;
}

int dcf_audit_sths(dcf_service_t *s, const char *cursor, unsigned limit, json_t **out,
                   dcf_problem_t *p) {
    int64_t after;
    int rc;
    if ((rc = cursor_of(cursor, &after, p)) != DCF_OK)
        return rc;
    svc_page_t pg = {.items = json_array(), .want = limit_of(s, limit), .ctx = s};
    dcf_store_val_t v[2] = {dcf_store_val_int(after), dcf_store_val_int((int64_t)pg.want + 1)};
    rc = dcf_store_read(s->st,
                        "SELECT seq, tree_size, ts_ms, root, sig FROM audit_sths WHERE seq > $1 "
                        "ORDER BY seq LIMIT $2",
                        v, 2, sths_row, &pg);
    if (rc != DCF_OK) {
        json_decref(pg.items);
        return svc_internal(p, rc);
    }
    *out = svc_page_finish(&pg);
    return *out ? DCF_OK : svc_internal(p, DCF_ENOMEM);
}

static int entry_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    svc_page_t *pg = arg;
    (void)nc;
    if (c[2].type != DCF_STORE_BLOB || c[2].u.b.len < DCF_MERKLE_HASH_LEN)
        return DCF_EINTERNAL;
    json_t *item = json_pack("{s:I, s:s%, s:o}", "index", (json_int_t)c[0].u.i, "entry",
                             (const char *)c[1].u.b.ptr, c[1].u.b.len, "leaf_hash",
                             b64_json(c[2].u.b.ptr, DCF_MERKLE_HASH_LEN));
    return svc_page_add(pg, item, c[0].u.i);
}

int dcf_audit_entries(dcf_service_t *s, const dcf_principal_t *who, const char *cursor,
                      unsigned limit, json_t **out, dcf_problem_t *p) {
    int64_t after;
    int rc;
    if ((rc = cursor_of(cursor, &after, p)) != DCF_OK)
        return rc;
    svc_page_t pg = {.items = json_array(), .want = limit_of(s, limit)};
    if (who->party[0] == '\0') {
        dcf_store_val_t v[2] = {dcf_store_val_int(after), dcf_store_val_int((int64_t)pg.want + 1)};
        rc = dcf_store_read(s->st,
                            "SELECT idx, entry, hashes FROM audit_entries WHERE idx > $1 "
                            "ORDER BY idx LIMIT $2",
                            v, 2, entry_row, &pg);
    } else {
        int64_t base = PARTY_KEY(who->party_tag, 0);
        dcf_store_val_t v[4] = {dcf_store_val_int(base), dcf_store_val_int(base + after),
                                dcf_store_val_int(PARTY_KEY(who->party_tag + 1, 0)),
                                dcf_store_val_int((int64_t)pg.want + 1)};
        rc = dcf_store_read(s->st,
                            "SELECT e.idx, e.entry, e.hashes FROM audit_party c "
                            "JOIN audit_entries e ON e.idx = c.key - $1 "
                            "WHERE c.key > $2 AND c.key < $3 ORDER BY c.key LIMIT $4",
                            v, 4, entry_row, &pg);
    }
    if (rc != DCF_OK) {
        json_decref(pg.items);
        return svc_internal(p, rc);
    }
    *out = svc_page_finish(&pg);
    return *out ? DCF_OK : svc_internal(p, DCF_ENOMEM);
}

/* A proof's hashes as a JSON array of base64 strings. */
static json_t *path_json(const uint8_t *hashes, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, b64_json(hashes + i * DCF_MERKLE_HASH_LEN, DCF_MERKLE_HASH_LEN));
    return a;
}

/* Sizes a proof may use: 1..newest signed size. */
static int size_ok(dcf_service_t *s, uint64_t n, const char *name, dcf_problem_t *p) {
    uint64_t newest;
    bool have = sth_newest_size(&s->audit, &newest);
    if (n == 0)
        return bad_arg(p, name, "must be at least 1");
    if (!have || n > newest) {
        char rule[128];
        snprintf(rule, sizeof rule, "must not exceed the newest signed tree head's size (%llu)",
                 (unsigned long long)newest);
        return bad_arg(p, name, rule);
    }
    return DCF_OK;
}

/* The leaf hash: the first of an entry's hashes. */
static int leaf_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    (void)nc;
    if (c[0].type != DCF_STORE_BLOB || c[0].u.b.len < DCF_MERKLE_HASH_LEN)
        return DCF_EINTERNAL;
    memcpy(arg, c[0].u.b.ptr, DCF_MERKLE_HASH_LEN);
    return 1;
}

int dcf_audit_inclusion(dcf_service_t *s, const dcf_principal_t *who, uint64_t index,
                        uint64_t tree_size, json_t **out, dcf_problem_t *p) {
    uint8_t leaf[DCF_MERKLE_HASH_LEN], path[DCF_MERKLE_PROOF_MAX * DCF_MERKLE_HASH_LEN];
    size_t n = 0;
    int rc;
    if ((rc = size_ok(s, tree_size, "tree_size", p)) != DCF_OK)
        return rc;
    if (index >= tree_size)
        return bad_arg(p, "index", "must be less than tree_size");
    /* A party may only see its own entries: another entry answers exactly
     * like a missing one. */
    if (index >= (UINT64_C(1) << 40))
        return svc_fail(p, DCF_ENOENT, "not-found", "No such audit entry");
    dcf_store_val_t v[2] = {dcf_store_val_int((int64_t)index),
                            dcf_store_val_int(PARTY_KEY(who->party_tag, index))};
    rc = who->party[0] == '\0'
             ? dcf_store_read(s->st, "SELECT hashes FROM audit_entries WHERE idx = $1", v, 1,
                              leaf_row, leaf)
             : dcf_store_read(s->st,
                              "SELECT e.hashes FROM audit_party c JOIN audit_entries e "
                              "ON e.idx = $1 WHERE c.key = $2",
                              v, 2, leaf_row, leaf);
    if (rc == DCF_OK)
        return svc_fail(p, DCF_ENOENT, "not-found", "No such audit entry");
    if (rc != 1)
        return svc_internal(p, rc);
    if ((rc = dcf_merkle_inclusion_proof(node_get, s, index, tree_size, path, DCF_MERKLE_PROOF_MAX,
                                         &n)) != DCF_OK)
        return svc_internal(p, rc);
    *out = json_pack("{s:I, s:I, s:o, s:o}", "index", (json_int_t)index, "tree_size",
                     (json_int_t)tree_size, "leaf_hash", b64_json(leaf, sizeof leaf), "audit_path",
                     path_json(path, n));
    return *out ? DCF_OK : svc_internal(p, DCF_ENOMEM);
}

int dcf_audit_consistency(dcf_service_t *s, uint64_t first, uint64_t second, json_t **out,
                          dcf_problem_t *p) {
    uint8_t path[DCF_MERKLE_PROOF_MAX * DCF_MERKLE_HASH_LEN];
    size_t n = 0;
    int rc;
    if ((rc = size_ok(s, first, "first", p)) != DCF_OK ||
        (rc = size_ok(s, second, "second", p)) != DCF_OK)
        return rc;
    if (first > second)
        return bad_arg(p, "first", "must not exceed second");
    if ((rc = dcf_merkle_consistency_proof(node_get, s, first, second, path, DCF_MERKLE_PROOF_MAX,
                                           &n)) != DCF_OK)
        return svc_internal(p, rc);
    *out = json_pack("{s:I, s:I, s:o}", "first", (json_int_t)first, "second", (json_int_t)second,
                     "consistency_path", path_json(path, n));
    return *out ? DCF_OK : svc_internal(p, DCF_ENOMEM);
}
