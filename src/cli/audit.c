/*
 * audit.c -- `deconflict audit verify` and `deconflict audit export`: check,
 * from outside the server, that its audit log (docs/audit.md) is what its key
 * signed and has only ever grown.
 *
 * HOW IT WORKS.  Every check is a small function over parsed data with no
 * I/O (sth_check, entry_check, head_order, proof checks); the online
 * verifier feeds them what the server answers, the export verifier what the
 * file holds, so both apply the same rules:
 *
 *   online (any token)  key == pinned key; the fresh tree head is signed by
 *                       it; every entry listed below its size names the
 *                       caller's party (admin: every index 0..n-1 is
 *                       present), hashes to its leaf_hash and has an
 *                       inclusion proof to the head's root; every earlier
 *                       head of the state file is a prefix of the new one
 *                       (consistency proof; equal sizes, equal roots; a
 *                       smaller size means the log shrank).
 *   export (offline)    indexes run 0..n-1; the tree heads, in order of
 *                       issue, are signed, never shrink, cover at most n
 *                       entries and have the root recomputed from the
 *                       entries with one frontier (O(n) hashes in all).
 *
 * The first item that does not verify ends the run and is reported; nothing
 * after it is trusted.  A state file is written only after a run that
 * verified everything, so it holds verified tree heads only.
 *
 * Verdicts and exit codes: 0 verified, 1 failed verification (an item does
 * not verify), 2 could not check (arguments, files, network, HTTP errors,
 * an answer without the documented shape).
 *
 * LIMITS.  Pages of AUDIT_PAGE entries, proofs of DCF_MERKLE_PROOF_MAX
 * hashes, cursors of AUDIT_CURSOR_MAX bytes, a state file of AUDIT_STATE_MAX
 * bytes and AUDIT_STATE_HEADS heads (the oldest is forgotten when a new one
 * would exceed it), an export file of --max-bytes (default
 * 4 GiB), JSON depth AUDIT_DOC_DEPTH for documents and AUDIT_ENTRY_DEPTH for
 * entry texts, entry texts of DCF_MERKLE_LEAF_MAX bytes, answers of the
 * client's 64 MiB.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "cli/cli_int.h"
#include "deconflict/client.h"
#include "deconflict/merkle.h"

#define AUDIT_PAGE          500
#define AUDIT_CURSOR_MAX    256
#define AUDIT_STATE_MAX     (16u << 20)
#define AUDIT_STATE_HEADS   65536
#define AUDIT_EXPORT_MAX    (UINT64_C(4) << 30)
#define AUDIT_DOC_DEPTH     8
#define AUDIT_ENTRY_DEPTH   16
#define AUDIT_KEYFILE_MAX   4096
#define AUDIT_PATH_MAX      4096
#define AUDIT_STH_MAGIC     "DCF-STH-1"
#define AUDIT_STH_MSG_LEN   57
#define AUDIT_STATE_FORMAT  "deconflict-audit-state-1"
#define AUDIT_EXPORT_FORMAT "deconflict-audit-export-1"
#define AUDIT_B64_MAX       sodium_base64_ENCODED_LEN(64, sodium_base64_VARIANT_ORIGINAL)

#define HL DCF_MERKLE_HASH_LEN

typedef dcf_cli_audit_sth_t sth_t;
typedef dcf_cli_audit_report_t report_t;

/* ------------------------------------------------------------ report -- */

/* Replace control bytes (text from a server or a file) so that output
 * cannot carry terminal escape sequences. */
static void sanitize(char *s) {
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

static void report_init(report_t *r) {
    memset(r, 0, sizeof *r);
    r->index = -1;
}

/* Record the first failing item; later failures are ignored.  Returns false
 * so that callers can write `return report_fail(...)`. */
__attribute__((format(printf, 5, 6))) static bool
report_fail(report_t *r, const char *kind, int64_t index, const char *item, const char *fmt, ...) {
    if (r->verdict != DCF_CLI_AUDIT_VERIFIED)
        return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof r->reason, fmt, ap);
    va_end(ap);
    r->verdict = DCF_CLI_AUDIT_FAILED;
    snprintf(r->kind, sizeof r->kind, "%s", kind);
    snprintf(r->item, sizeof r->item, "%s", item);
    r->index = index;
    sanitize(r->reason);
    sanitize(r->item);
    return false;
}

__attribute__((format(printf, 2, 3))) static bool report_error(report_t *r, const char *fmt, ...) {
    if (r->verdict != DCF_CLI_AUDIT_VERIFIED)
        return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof r->reason, fmt, ap);
    va_end(ap);
    r->verdict = DCF_CLI_AUDIT_ERROR;
    sanitize(r->reason);
    return false;
}

static bool fail_entry(report_t *r, uint64_t index, const char *why) {
    char item[64];
    snprintf(item, sizeof item, "entry %llu", (unsigned long long)index);
    return report_fail(r, "entry", (int64_t)index, item, "%s", why);
}

/* `where` names the list the head comes from ("tree head", "earlier tree
 * head"); pos < 0 is the server's newest head. */
static bool fail_head(report_t *r, const char *where, int64_t pos, const sth_t *h,
                      const char *why) {
    char item[128], t[DCF_TIME_STRLEN];
    if (h != NULL)
        dcf_time_format((dcf_time_t)h->timestamp * 1000, t);
    if (pos < 0 && h != NULL)
        snprintf(item, sizeof item, "the newest tree head (size %llu, %s)",
                 (unsigned long long)h->tree_size, t);
    else if (h != NULL)
        snprintf(item, sizeof item, "%s %lld (size %llu, %s)", where, (long long)pos,
                 (unsigned long long)h->tree_size, t);
    else
        snprintf(item, sizeof item, "%s %lld", where, (long long)pos);
    return report_fail(r, "tree head", pos, item, "%s", why);
}

/* ---------------------------------------------------------- decoding -- */

/* Standard base64 with padding decoding to exactly n bytes. */
static bool b64_exact(const char *s, uint8_t *out, size_t n) {
    size_t got = 0;
    if (s == NULL || strlen(s) > AUDIT_B64_MAX)
        return false;
    return sodium_base642bin(out, n, s, strlen(s), NULL, &got, NULL,
                             sodium_base64_VARIANT_ORIGINAL) == 0 &&
           got == n;
}

static json_t *b64_json(const uint8_t *b, size_t n) {
    char buf[AUDIT_B64_MAX];
    if (n > 64)
        return NULL;
    return json_string(sodium_bin2base64(buf, sizeof buf, b, n, sodium_base64_VARIANT_ORIGINAL));
}

static bool json_u64(const json_t *j, uint64_t max, uint64_t *out) {
    if (!json_is_integer(j) || json_integer_value(j) < 0 || (uint64_t)json_integer_value(j) > max)
        return false;
    *out = (uint64_t)json_integer_value(j);
    return true;
}

static void key_id_of(const uint8_t key[DCF_CLI_AUDIT_KEY_LEN], char out[17]) {
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, key, DCF_CLI_AUDIT_KEY_LEN);
    sodium_bin2hex(out, 17, h, 8);
}

/* A key given as standard base64, or as the JSON answer of GET
 * /v1/audit/key; surrounding white space is ignored. */
static bool key_from_text(const char *s, size_t len, uint8_t key[DCF_CLI_AUDIT_KEY_LEN]) {
    while (len > 0 && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
        s++, len--;
    while (len > 0 &&
           (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    if (len > 0 && s[0] == '{') {
        json_t *j = json_loadb(s, len, JSON_REJECT_DUPLICATES, NULL);
        bool ok = j != NULL && b64_exact(json_string_value(json_object_get(j, "public_key")), key,
                                         DCF_CLI_AUDIT_KEY_LEN);
        json_decref(j);
        return ok;
    }
    char buf[AUDIT_B64_MAX + 1];
    if (len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return b64_exact(buf, key, DCF_CLI_AUDIT_KEY_LEN);
}

/* -------------------------------------------------------- tree heads -- */

static bool sth_from_json(const json_t *j, sth_t *h, char *why, size_t n) {
    const char *kid = json_string_value(json_object_get(j, "key_id"));
    if (!json_is_object(j)) {
        snprintf(why, n, "the tree head is not a JSON object");
        return false;
    }
    if (!json_u64(json_object_get(j, "tree_size"), DCF_MERKLE_SIZE_MAX, &h->tree_size)) {
        snprintf(why, n, "tree_size is not an integer in 0..2^62");
        return false;
    }
    /* Milliseconds that still fit dcf_time_t microseconds. */
    if (!json_u64(json_object_get(j, "timestamp"), (uint64_t)(INT64_MAX / 1000), &h->timestamp)) {
        snprintf(why, n, "timestamp is not a non-negative integer of milliseconds");
        return false;
    }
    if (!b64_exact(json_string_value(json_object_get(j, "root_hash")), h->root, HL)) {
        snprintf(why, n, "root_hash is not the base64 of 32 bytes");
        return false;
    }
    if (!b64_exact(json_string_value(json_object_get(j, "signature")), h->sig,
                   DCF_CLI_AUDIT_SIG_LEN)) {
        snprintf(why, n, "signature is not the base64 of 64 bytes");
        return false;
    }
    if (kid == NULL || strlen(kid) != 16 || strspn(kid, "0123456789abcdef") != 16) {
        snprintf(why, n, "key_id is not 16 lowercase hex digits");
        return false;
    }
    memcpy(h->key_id, kid, 17);
    return true;
}

static json_t *sth_to_json(const sth_t *h) {
    return json_pack("{s:I, s:I, s:o, s:o, s:s}", "tree_size", (json_int_t)h->tree_size,
                     "timestamp", (json_int_t)h->timestamp, "root_hash", b64_json(h->root, HL),
                     "signature", b64_json(h->sig, DCF_CLI_AUDIT_SIG_LEN), "key_id", h->key_id);
}

static void put_be64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)(v & 0xff);
}

/* The 57 signed bytes of docs/audit.md. */
static void sth_message(const sth_t *h, uint8_t msg[AUDIT_STH_MSG_LEN]) {
    memcpy(msg, AUDIT_STH_MAGIC, 9);
    put_be64(msg + 9, h->tree_size);
    put_be64(msg + 17, h->timestamp);
    memcpy(msg + 25, h->root, HL);
}

/* The head's signature verifies with `key`; a head of size 0 has the empty
 * tree's root. */
static bool sth_check(const sth_t *h, const uint8_t key[DCF_CLI_AUDIT_KEY_LEN], char *why,
                      size_t n) {
    uint8_t msg[AUDIT_STH_MSG_LEN];
    char kid[17];
    key_id_of(key, kid);
    sth_message(h, msg);
    if (crypto_sign_verify_detached(h->sig, msg, sizeof msg, key) != 0) {
        if (strcmp(h->key_id, kid) != 0)
            snprintf(why, n,
                     "signed by another key: it names key_id %s, the pinned key is %s, and its "
                     "signature does not verify with the pinned key",
                     h->key_id, kid);
        else
            snprintf(why, n, "its signature does not verify with the key %s", kid);
        return false;
    }
    if (h->tree_size == 0) {
        uint8_t empty[HL];
        dcf_merkle_empty_root(empty);
        if (sodium_memcmp(empty, h->root, HL) != 0) {
            snprintf(why, n, "a tree head of size 0 must have the empty tree's root");
            return false;
        }
    }
    return true;
}

static char *sth_time(const sth_t *h, char buf[DCF_TIME_STRLEN]) {
    return dcf_time_format((dcf_time_t)h->timestamp * 1000, buf);
}

/*
 * An earlier verified head `old` against a newer head `cur`: -1 when they
 * cannot both be heads of one append-only log (why says how), 0 when nothing
 * more is needed, 1 when a consistency proof must decide.
 */
static int head_order(const sth_t *old, const sth_t *cur, char *why, size_t n) {
    if (old->tree_size > cur->tree_size) {
        snprintf(why, n, "the log shrank: this tree head has %llu entries, the newer one %llu",
                 (unsigned long long)old->tree_size, (unsigned long long)cur->tree_size);
        return -1;
    }
    if (old->tree_size == cur->tree_size) {
        if (sodium_memcmp(old->root, cur->root, HL) != 0) {
            snprintf(why, n,
                     "it has the same size (%llu) as the newer tree head but another root: the "
                     "log was rewritten",
                     (unsigned long long)old->tree_size);
            return -1;
        }
        return 0;
    }
    return old->tree_size == 0 ? 0 : 1;
}

/* A JSON array of base64 hashes into out[DCF_MERKLE_PROOF_MAX * HL]. */
static bool proof_from_json(const json_t *a, uint8_t *out, size_t *count, char *why, size_t n) {
    if (!json_is_array(a)) {
        snprintf(why, n, "the proof is not an array");
        return false;
    }
    if (json_array_size(a) > DCF_MERKLE_PROOF_MAX) {
        snprintf(why, n, "the proof has %zu hashes, more than any tree needs", json_array_size(a));
        return false;
    }
    for (size_t i = 0; i < json_array_size(a); i++)
        if (!b64_exact(json_string_value(json_array_get(a, i)), out + i * HL, HL)) {
            snprintf(why, n, "hash %zu of the proof is not the base64 of 32 bytes", i);
            return false;
        }
    *count = json_array_size(a);
    return true;
}

/* ----------------------------------------------------------- entries -- */

/*
 * One listed entry: `text` is a JSON string whose content is a JSON object
 * with "index" == index and, when party is not NULL, a "parties" array that
 * names it.  leaf receives the leaf hash of the text's bytes, hashed as
 * received.
 */
static bool entry_check(uint64_t index, const json_t *text, const char *party, uint8_t leaf[HL],
                        char *why, size_t n) {
    json_t *doc = NULL;
    json_error_t je;
    bool ok = false;
    uint64_t inner;

    if (!json_is_string(text)) {
        snprintf(why, n, "its entry is not a string");
        goto out;
    }
    const char *t = json_string_value(text);
    size_t len = json_string_length(text);
    if (dcf_merkle_leaf_hash(t, len, leaf) != DCF_OK) {
        snprintf(why, n, "its text is longer than %llu bytes",
                 (unsigned long long)DCF_MERKLE_LEAF_MAX);
        goto out;
    }
    if ((doc = json_loadb(t, len, JSON_REJECT_DUPLICATES, &je)) == NULL) {
        snprintf(why, n, "its text is not JSON (%s at byte %d)", je.text, je.position);
        goto out;
    }
    if (!json_is_object(doc) || dcf_json_too_deep(doc, AUDIT_ENTRY_DEPTH)) {
        snprintf(why, n, "its text is not a JSON object of depth at most %d", AUDIT_ENTRY_DEPTH);
        goto out;
    }
    if (!json_u64(json_object_get(doc, "index"), DCF_MERKLE_SIZE_MAX, &inner)) {
        snprintf(why, n, "its text has no integer index");
        goto out;
    }
    if (inner != index) {
        snprintf(why, n, "it is listed as entry %llu but its text says index %llu",
                 (unsigned long long)index, (unsigned long long)inner);
        goto out;
    }
    json_t *parties = json_object_get(doc, "parties");
    if (!json_is_array(parties)) {
        snprintf(why, n, "its text has no parties array");
        goto out;
    }
    if (party != NULL) {
        bool named = false;
        for (size_t i = 0; i < json_array_size(parties) && !named; i++) {
            const char *p = json_string_value(json_array_get(parties, i));
            named = p != NULL && strcmp(p, party) == 0;
        }
        if (!named) {
            snprintf(why, n, "it does not name party %s in parties, yet it was shown to it", party);
            goto out;
        }
    }
    ok = true;
out:
    json_decref(doc);
    return ok;
}

/* ------------------------------------------------------------- files -- */

/* Create every missing directory of `dir` (mode 0700). */
static int mkdirs(const char *dir, char err[256]) {
    char p[AUDIT_PATH_MAX];
    if (strlen(dir) >= sizeof p) {
        snprintf(err, 256, "path too long");
        return DCF_ELIMIT;
    }
    strcpy(p, dir);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            snprintf(err, 256, "cannot create %.160s: %s", p, strerror(errno));
            return DCF_EIO;
        }
        *s = c;
        if (c == '\0')
            return DCF_OK;
    }
}

/* A file written under a temporary name beside `path` and renamed over it
 * once complete and on disk, so readers see the old file or the new one. */
typedef struct {
    char tmp[AUDIT_PATH_MAX + 16];
    const char *path;
    FILE *f;
} atomic_file_t;

static int atomic_begin(atomic_file_t *a, const char *path, char err[256]) {
    memset(a, 0, sizeof *a);
    a->path = path;
    if (strlen(path) >= AUDIT_PATH_MAX) {
        snprintf(err, 256, "path too long");
        return DCF_ELIMIT;
    }
    snprintf(a->tmp, sizeof a->tmp, "%s.XXXXXX", path);
    int fd = mkstemp(a->tmp);
    if (fd < 0) {
        snprintf(err, 256, "cannot create a file beside %s: %s", path, strerror(errno));
        a->tmp[0] = '\0';
        return DCF_EIO;
    }
    if (fchmod(fd, 0600) != 0 || (a->f = fdopen(fd, "w")) == NULL) {
        snprintf(err, 256, "%.160s: %s", a->tmp, strerror(errno));
        close(fd);
        unlink(a->tmp);
        a->tmp[0] = '\0';
        return DCF_EIO;
    }
    return DCF_OK;
}

static void atomic_abort(atomic_file_t *a) {
    if (a->f != NULL)
        fclose(a->f);
    a->f = NULL;
    if (a->tmp[0] != '\0')
        unlink(a->tmp);
    a->tmp[0] = '\0';
}

static int atomic_commit(atomic_file_t *a, char err[256]) {
    char dir[AUDIT_PATH_MAX];
    if (fflush(a->f) != 0 || ferror(a->f) || fsync(fileno(a->f)) != 0) {
        snprintf(err, 256, "cannot write %.160s: %s", a->tmp, strerror(errno));
        atomic_abort(a);
        return DCF_EIO;
    }
    FILE *f = a->f;
    a->f = NULL;
    if (fclose(f) != 0 || rename(a->tmp, a->path) != 0) {
        snprintf(err, 256, "cannot write %s: %s", a->path, strerror(errno));
        atomic_abort(a);
        return DCF_EIO;
    }
    a->tmp[0] = '\0';
    /* Make the rename itself durable. */
    const char *slash = strrchr(a->path, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash == a->path ? 1 : slash - a->path), a->path);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return DCF_OK;
}

/* Reads a FILE for json_load_callback and fails past `left` bytes. */
typedef struct {
    FILE *f;
    uint64_t left;
    bool over, failed;
} bounded_reader_t;

static size_t bounded_read(void *buf, size_t len, void *arg) {
    bounded_reader_t *b = arg;
    if (b->left == 0) {
        if (fgetc(b->f) != EOF) {
            b->over = true;
            return (size_t)-1;
        }
        return 0;
    }
    if (len > b->left)
        len = (size_t)b->left;
    size_t n = fread(buf, 1, len, b->f);
    if (n == 0 && ferror(b->f)) {
        b->failed = true;
        return (size_t)-1;
    }
    b->left -= n;
    return n;
}

/* Load a JSON object from `path`: at most max_bytes, depth AUDIT_DOC_DEPTH.
 * DCF_ENOENT when the file does not exist. */
static int load_json_file(const char *path, uint64_t max_bytes, json_t **out, char err[256]) {
    bounded_reader_t b = {.left = max_bytes};
    json_error_t je;
    json_t *doc = NULL;
    if ((b.f = fopen(path, "rb")) == NULL) {
        int e = errno;
        snprintf(err, 256, "%s: %s", path, strerror(e));
        return e == ENOENT ? DCF_ENOENT : DCF_EIO;
    }
    doc = json_load_callback(bounded_read, &b, JSON_REJECT_DUPLICATES, &je);
    fclose(b.f);
    if (b.over) {
        snprintf(err, 256, "%s: larger than the limit of %llu bytes", path,
                 (unsigned long long)max_bytes);
        json_decref(doc);
        return DCF_ELIMIT;
    }
    if (b.failed) {
        snprintf(err, 256, "%s: read error", path);
        json_decref(doc);
        return DCF_EIO;
    }
    if (doc == NULL) {
        snprintf(err, 256, "%s:%d:%d: invalid JSON: %s", path, je.line, je.column, je.text);
        return DCF_EPARSE;
    }
    if (!json_is_object(doc) || dcf_json_too_deep(doc, AUDIT_DOC_DEPTH)) {
        snprintf(err, 256, "%s: not a JSON object of depth at most %d", path, AUDIT_DOC_DEPTH);
        json_decref(doc);
        return DCF_EPARSE;
    }
    *out = doc;
    return DCF_OK;
}

/* -------------------------------------------------------- state file -- */

void dcf_cli_audit_state_free(dcf_cli_audit_state_t *st) {
    free(st->url);
    free(st->heads);
    memset(st, 0, sizeof *st);
}

static bool sth_equal(const sth_t *a, const sth_t *b) {
    return a->tree_size == b->tree_size && a->timestamp == b->timestamp &&
           memcmp(a->root, b->root, HL) == 0 && memcmp(a->sig, b->sig, sizeof a->sig) == 0 &&
           strcmp(a->key_id, b->key_id) == 0;
}

int dcf_cli_audit_state_add(dcf_cli_audit_state_t *st, const dcf_cli_audit_sth_t *h) {
    for (size_t i = 0; i < st->n_heads; i++)
        if (sth_equal(&st->heads[i], h))
            return DCF_OK;
    if (st->n_heads >= AUDIT_STATE_HEADS) {
        /* Full: forget the oldest.  Every head kept was proved consistent
         * with each newer one when that was verified, so the chain from
         * the oldest kept head to the newest still covers it. */
        memmove(st->heads, st->heads + 1, (st->n_heads - 1) * sizeof *st->heads);
        st->n_heads--;
    }
    if (dcf_array_reserve((void **)&st->heads, &st->cap_heads, st->n_heads + 1,
                          sizeof *st->heads) != DCF_OK)
        return DCF_ENOMEM;
    st->heads[st->n_heads++] = *h;
    return DCF_OK;
}

int dcf_cli_audit_state_load(const char *path, dcf_cli_audit_state_t *st, char err[256]) {
    json_t *doc = NULL;
    char why[160];
    int rc = load_json_file(path, AUDIT_STATE_MAX, &doc, err);
    if (rc != DCF_OK)
        return rc;
    rc = DCF_EPARSE;
    const char *format = json_string_value(json_object_get(doc, "format"));
    const char *url = json_string_value(json_object_get(doc, "url"));
    json_t *heads = json_object_get(doc, "tree_heads");
    if (format == NULL || strcmp(format, AUDIT_STATE_FORMAT) != 0) {
        snprintf(err, 256, "%s: not a deconflict audit state file (format %s)", path,
                 AUDIT_STATE_FORMAT);
        goto out;
    }
    if (!b64_exact(json_string_value(json_object_get(doc, "public_key")), st->key,
                   DCF_CLI_AUDIT_KEY_LEN)) {
        snprintf(err, 256, "%s: public_key is not the base64 of 32 bytes", path);
        goto out;
    }
    st->has_key = true;
    if (!json_is_array(heads)) {
        snprintf(err, 256, "%s: tree_heads is not an array", path);
        goto out;
    }
    if (json_array_size(heads) > AUDIT_STATE_HEADS) {
        snprintf(err, 256, "%s: more than %d tree heads", path, AUDIT_STATE_HEADS);
        rc = DCF_ELIMIT;
        goto out;
    }
    if (url != NULL && (st->url = strdup(url)) == NULL)
        goto nomem;
    for (size_t i = 0; i < json_array_size(heads); i++) {
        sth_t h;
        memset(&h, 0, sizeof h);
        if (!sth_from_json(json_array_get(heads, i), &h, why, sizeof why)) {
            snprintf(err, 256, "%s: tree head %zu: %s", path, i, why);
            goto out;
        }
        if (dcf_cli_audit_state_add(st, &h) != DCF_OK)
            goto nomem;
    }
    rc = DCF_OK;
    goto out;
nomem:
    snprintf(err, 256, "%s: out of memory", path);
    rc = DCF_ENOMEM;
out:
    if (rc != DCF_OK)
        dcf_cli_audit_state_free(st);
    json_decref(doc);
    return rc;
}

int dcf_cli_audit_state_save(const char *path, const dcf_cli_audit_state_t *st, char err[256]) {
    atomic_file_t a;
    json_t *heads = json_array(), *doc = NULL;
    char kid[17];
    int rc = DCF_ENOMEM;

    if (!st->has_key) {
        snprintf(err, 256, "no key to save");
        rc = DCF_EINVAL;
        goto out;
    }
    key_id_of(st->key, kid);
    for (size_t i = 0; heads != NULL && i < st->n_heads; i++)
        if (json_array_append_new(heads, sth_to_json(&st->heads[i])) != 0)
            goto nomem;
    doc = json_pack("{s:s, s:s?, s:o, s:s, s:o}", "format", AUDIT_STATE_FORMAT, "url", st->url,
                    "public_key", b64_json(st->key, DCF_CLI_AUDIT_KEY_LEN), "key_id", kid,
                    "tree_heads", heads);
    heads = NULL;
    if (doc == NULL)
        goto nomem;
    if ((rc = atomic_begin(&a, path, err)) != DCF_OK)
        goto out;
    if (json_dumpf(doc, a.f, JSON_INDENT(1)) != 0 || fputc('\n', a.f) == EOF) {
        snprintf(err, 256, "cannot write %.200s", a.tmp);
        atomic_abort(&a);
        rc = DCF_EIO;
        goto out;
    }
    rc = atomic_commit(&a, err);
    goto out;
nomem:
    snprintf(err, 256, "out of memory");
    rc = DCF_ENOMEM;
out:
    json_decref(heads);
    json_decref(doc);
    return rc;
}

/* ------------------------------------------------------ export verify -- */

/* Check entries [fr->size, upto) of the export and add them to the
 * frontier. */
static bool export_entries(const json_t *entries, uint64_t upto, dcf_merkle_frontier_t *fr,
                           report_t *r) {
    char why[512];
    uint8_t leaf[HL];
    while (fr->size < upto) {
        uint64_t i = fr->size, listed;
        const json_t *it = json_array_get(entries, (size_t)i);
        if (!json_is_object(it) || !json_u64(json_object_get(it, "index"), UINT64_MAX, &listed))
            return fail_entry(r, i, "it is not an object with an integer index");
        if (listed != i) {
            snprintf(why, sizeof why,
                     "the file lists index %llu at position %llu: indexes must run 0..n-1 in "
                     "order",
                     (unsigned long long)listed, (unsigned long long)i);
            return fail_entry(r, i, why);
        }
        if (!entry_check(i, json_object_get(it, "entry"), NULL, leaf, why, sizeof why))
            return fail_entry(r, i, why);
        if (dcf_merkle_frontier_append(fr, leaf, NULL, NULL) != DCF_OK)
            return report_error(r, "the tree is too large");
        r->entries++;
    }
    return true;
}

int dcf_cli_audit_verify_export(const char *path, const uint8_t *key, uint64_t max_bytes,
                                dcf_cli_audit_report_t *r) {
    json_t *doc = NULL;
    char err[256], why[512];
    uint8_t file_key[DCF_CLI_AUDIT_KEY_LEN], root[HL];
    dcf_merkle_frontier_t *fr = NULL;
    sth_t prev;

    report_init(r);
    if (max_bytes == 0)
        max_bytes = AUDIT_EXPORT_MAX;
    if (load_json_file(path, max_bytes, &doc, err) != DCF_OK) {
        report_error(r, "%s", err);
        goto out;
    }
    const char *format = json_string_value(json_object_get(doc, "format"));
    json_t *entries = json_object_get(doc, "entries"), *sths = json_object_get(doc, "sths");
    if (format == NULL || strcmp(format, AUDIT_EXPORT_FORMAT) != 0 || !json_is_array(entries) ||
        !json_is_array(sths)) {
        report_error(r,
                     "%s: not a deconflict audit export (format %s with entries and sths arrays)",
                     path, AUDIT_EXPORT_FORMAT);
        goto out;
    }
    if (!b64_exact(json_string_value(json_object_get(doc, "public_key")), file_key,
                   sizeof file_key)) {
        report_fail(r, "key", -1, "the file's public_key", "it is not the base64 of 32 bytes");
        goto out;
    }
    if (key == NULL) {
        key = file_key;
        r->key_from_file = true;
    }
    key_id_of(key, r->key_id);
    if (sodium_memcmp(key, file_key, sizeof file_key) != 0) {
        char a[17];
        key_id_of(file_key, a);
        report_fail(r, "key", -1, "the file's public_key",
                    "the file names key %s, not the pinned key %s", a, r->key_id);
        goto out;
    }
    if ((fr = malloc(sizeof *fr)) == NULL) {
        report_error(r, "out of memory");
        goto out;
    }
    dcf_merkle_frontier_init(fr);
    uint64_t n = json_array_size(entries);
    for (size_t k = 0; k < json_array_size(sths); k++) {
        sth_t h;
        memset(&h, 0, sizeof h);
        if (!sth_from_json(json_array_get(sths, k), &h, why, sizeof why)) {
            fail_head(r, "tree head", (int64_t)k, NULL, why);
            goto out;
        }
        if (!sth_check(&h, key, why, sizeof why)) {
            fail_head(r, "tree head", (int64_t)k, &h, why);
            goto out;
        }
        if (k > 0 && h.tree_size < prev.tree_size) {
            snprintf(why, sizeof why,
                     "the log shrank: it has %llu entries, the tree head before it %llu",
                     (unsigned long long)h.tree_size, (unsigned long long)prev.tree_size);
            fail_head(r, "tree head", (int64_t)k, &h, why);
            goto out;
        }
        if (h.tree_size > n) {
            snprintf(why, sizeof why, "it covers %llu entries but the file holds %llu",
                     (unsigned long long)h.tree_size, (unsigned long long)n);
            fail_head(r, "tree head", (int64_t)k, &h, why);
            goto out;
        }
        uint64_t from = fr->size;
        if (!export_entries(entries, h.tree_size, fr, r))
            goto out;
        dcf_merkle_frontier_root(fr, root);
        if (sodium_memcmp(root, h.root, HL) != 0) {
            if (from < h.tree_size)
                snprintf(why, sizeof why,
                         "its root is not the root of entries 0..%llu: an entry in %llu..%llu "
                         "differs from what was signed",
                         (unsigned long long)h.tree_size - 1, (unsigned long long)from,
                         (unsigned long long)h.tree_size - 1);
            else
                snprintf(why, sizeof why,
                         "its root differs from that of the earlier tree head of the same size "
                         "%llu",
                         (unsigned long long)h.tree_size);
            fail_head(r, "tree head", (int64_t)k, &h, why);
            goto out;
        }
        prev = h;
        r->head = h;
        r->has_head = true;
        r->tree_heads++;
    }
    uint64_t covered = fr->size;
    if (!export_entries(entries, n, fr, r))
        goto out;
    r->uncovered = n - covered;
out:
    free(fr);
    json_decref(doc);
    return r->verdict;
}

/* ----------------------------------------------------- online verify -- */

/* GET path and return its JSON object, or NULL with the verdict "could not
 * check" (transport, an HTTP error, an answer that is not an object). */
static json_t *api_get(dcf_client_t *c, const char *path, report_t *r) {
    long status = 0;
    json_t *b = NULL;
    char err[DCF_CLIENT_ERR_LEN], d[512];
    if (dcf_client_get(c, path, &status, &b, err, sizeof err) != DCF_OK) {
        report_error(r, "%s", err);
        return NULL;
    }
    if (status != 200) {
        report_error(r, "GET %s: %s", path, dcf_client_describe(status, b, d, sizeof d));
        json_decref(b);
        return NULL;
    }
    if (!json_is_object(b)) {
        report_error(r, "GET %s: the answer is not a JSON object", path);
        json_decref(b);
        return NULL;
    }
    return b;
}

static bool check_inclusion(dcf_client_t *c, uint64_t index, const sth_t *head,
                            const uint8_t leaf[HL], report_t *r) {
    char path[128], why[256];
    uint8_t proof[DCF_MERKLE_PROOF_MAX * HL], sent[HL];
    size_t count = 0;
    uint64_t ei, en;
    bool ok = false;
    snprintf(path, sizeof path, "/v1/audit/proof/inclusion?index=%llu&tree_size=%llu",
             (unsigned long long)index, (unsigned long long)head->tree_size);
    json_t *j = api_get(c, path, r);
    if (j == NULL)
        return false;
    if (!json_u64(json_object_get(j, "index"), UINT64_MAX, &ei) || ei != index ||
        !json_u64(json_object_get(j, "tree_size"), UINT64_MAX, &en) || en != head->tree_size) {
        fail_entry(r, index, "the server answered its inclusion proof for another index or size");
        goto out;
    }
    if (!b64_exact(json_string_value(json_object_get(j, "leaf_hash")), sent, HL) ||
        sodium_memcmp(sent, leaf, HL) != 0) {
        fail_entry(r, index, "its inclusion proof is for another leaf hash than the entry's");
        goto out;
    }
    if (!proof_from_json(json_object_get(j, "audit_path"), proof, &count, why, sizeof why)) {
        fail_entry(r, index, why);
        goto out;
    }
    int rc = dcf_merkle_verify_inclusion(leaf, index, head->tree_size, proof, count, head->root);
    if (rc != DCF_OK) {
        snprintf(why, sizeof why,
                 "its inclusion proof does not lead to the root of the tree head of size %llu",
                 (unsigned long long)head->tree_size);
        fail_entry(r, index, why);
        goto out;
    }
    ok = true;
out:
    json_decref(j);
    return ok;
}

/* Paging through one of the audit lists (entries, tree heads): pager_get
 * fetches the next page, GET base?limit=AUDIT_PAGE[&cursor=...], and checks
 * its shape ({"items": at most AUDIT_PAGE, "next_cursor": string or null});
 * pager_advance then takes its next_cursor.  Both report and return false
 * on failure; pg->path names the page for messages. */
typedef struct {
    const char *base, *what; /* "/v1/audit/entries", "entries" */
    char cursor[AUDIT_CURSOR_MAX + 1];
    char path[64 + 3 * AUDIT_CURSOR_MAX];
    json_t *page, *items, *next; /* page owned; decref with json_decref(pg.page) */
} pager_t;

static bool pager_get(dcf_client_t *c, pager_t *pg, report_t *r) {
    char esc[3 * AUDIT_CURSOR_MAX + 1];
    if (pg->cursor[0] == '\0')
        snprintf(pg->path, sizeof pg->path, "%s?limit=%d", pg->base, AUDIT_PAGE);
    else if (dcf_client_escape(c, pg->cursor, esc, sizeof esc) == DCF_OK)
        snprintf(pg->path, sizeof pg->path, "%s?limit=%d&cursor=%s", pg->base, AUDIT_PAGE, esc);
    else
        return report_error(r, "out of memory");
    json_decref(pg->page);
    if ((pg->page = api_get(c, pg->path, r)) == NULL)
        return false;
    pg->items = json_object_get(pg->page, "items");
    pg->next = json_object_get(pg->page, "next_cursor");
    if (!json_is_array(pg->items) || json_array_size(pg->items) > AUDIT_PAGE ||
        !(json_is_null(pg->next) || json_is_string(pg->next)))
        return report_error(r, "GET %s: the answer is not a page of at most %d %s", pg->path,
                            AUDIT_PAGE, pg->what);
    return true;
}

/* After a page: *more is whether another follows. */
static bool pager_advance(pager_t *pg, bool *more, report_t *r) {
    const char *nc = json_string_value(pg->next);
    *more = nc != NULL;
    if (nc == NULL)
        return true;
    if (json_array_size(pg->items) == 0 || strlen(nc) > AUDIT_CURSOR_MAX)
        return report_error(r, "GET %s: the server gave an empty page or an overlong cursor",
                            pg->path);
    snprintf(pg->cursor, sizeof pg->cursor, "%s", nc);
    return true;
}

/*
 * Page through the entries below head->tree_size.  party NULL (the admin):
 * every index must be listed, and the entries must hash to the head's root.
 */
static bool check_entries(dcf_client_t *c, const sth_t *head, const char *party, report_t *r) {
    pager_t pg = {.base = "/v1/audit/entries", .what = "entries"};
    char why[512];
    dcf_merkle_frontier_t *fr = NULL;
    uint64_t expect = 0;
    bool ok = false, done = false;

    if ((fr = malloc(sizeof *fr)) == NULL)
        return report_error(r, "out of memory");
    dcf_merkle_frontier_init(fr);
    while (!done) {
        if (!pager_get(c, &pg, r))
            goto out;
        json_t *items = pg.items;
        /* The admin's listing must hold every index: a gap in this page is
         * named before any proof is asked for (a store that lost an entry
         * may not be able to prove its neighbours either). */
        for (size_t k = 0, want = (size_t)expect; party == NULL && k < json_array_size(items);
             k++, want++) {
            uint64_t index;
            if (!json_u64(json_object_get(json_array_get(items, k), "index"), UINT64_MAX, &index) ||
                index >= head->tree_size)
                break;
            if (index > want) {
                snprintf(why, sizeof why,
                         "it is missing from the listing (the next entry listed is %llu)",
                         (unsigned long long)index);
                fail_entry(r, want, why);
                goto out;
            }
        }
        for (size_t k = 0; k < json_array_size(items) && !done; k++) {
            json_t *it = json_array_get(items, k);
            uint64_t index;
            uint8_t leaf[HL], listed[HL];
            if (!json_u64(json_object_get(it, "index"), UINT64_MAX, &index)) {
                snprintf(why, sizeof why, "item %zu of a page has no integer index", k);
                report_fail(r, "entry", (int64_t)expect, "an entry after the last verified", "%s",
                            why);
                goto out;
            }
            if (index >= head->tree_size) {
                done = true; /* newer than the tree head: not covered yet */
                break;
            }
            if (index < expect) {
                snprintf(why, sizeof why,
                         "it is listed after entry %llu: the listing is not in index order",
                         (unsigned long long)expect - 1);
                fail_entry(r, index, why);
                goto out;
            }
            if (party == NULL && index != expect) {
                snprintf(why, sizeof why,
                         "it is missing from the listing (the next entry listed is %llu)",
                         (unsigned long long)index);
                fail_entry(r, expect, why);
                goto out;
            }
            if (!entry_check(index, json_object_get(it, "entry"), party, leaf, why, sizeof why)) {
                fail_entry(r, index, why);
                goto out;
            }
            if (!b64_exact(json_string_value(json_object_get(it, "leaf_hash")), listed, HL) ||
                sodium_memcmp(listed, leaf, HL) != 0) {
                fail_entry(r, index, "its leaf_hash is not the hash of its text");
                goto out;
            }
            if (!check_inclusion(c, index, head, leaf, r))
                goto out;
            if (party == NULL && dcf_merkle_frontier_append(fr, leaf, NULL, NULL) != DCF_OK) {
                report_error(r, "the tree is too large");
                goto out;
            }
            expect = index + 1;
            r->entries++;
        }
        bool more = false;
        if (!done && !pager_advance(&pg, &more, r))
            goto out;
        done = done || !more;
    }
    if (party == NULL) {
        uint8_t root[HL];
        if (expect != head->tree_size) {
            snprintf(why, sizeof why,
                     "it is missing from the listing: the tree head covers %llu entries",
                     (unsigned long long)head->tree_size);
            fail_entry(r, expect, why);
            goto out;
        }
        dcf_merkle_frontier_root(fr, root);
        if (sodium_memcmp(root, head->root, HL) != 0) {
            fail_head(r, "tree head", -1, head, "the listed entries do not hash to its root");
            goto out;
        }
    }
    ok = true;
out:
    json_decref(pg.page);
    free(fr);
    return ok;
}

static bool check_consistency(dcf_client_t *c, const sth_t *old, size_t pos, const sth_t *cur,
                              report_t *r) {
    const char *where = "earlier tree head";
    char path[128], why[512];
    uint8_t proof[DCF_MERKLE_PROOF_MAX * HL];
    size_t count = 0;
    uint64_t m, n;
    bool ok = false;
    json_t *j = NULL;

    int need = head_order(old, cur, why, sizeof why);
    if (need < 0)
        return fail_head(r, where, (int64_t)pos, old, why);
    if (need == 0)
        return true;
    snprintf(path, sizeof path, "/v1/audit/proof/consistency?first=%llu&second=%llu",
             (unsigned long long)old->tree_size, (unsigned long long)cur->tree_size);
    if ((j = api_get(c, path, r)) == NULL)
        return false;
    if (!json_u64(json_object_get(j, "first"), UINT64_MAX, &m) || m != old->tree_size ||
        !json_u64(json_object_get(j, "second"), UINT64_MAX, &n) || n != cur->tree_size) {
        fail_head(r, where, (int64_t)pos, old,
                  "the server answered its consistency proof for other sizes");
        goto out;
    }
    if (!proof_from_json(json_object_get(j, "consistency_path"), proof, &count, why, sizeof why)) {
        fail_head(r, where, (int64_t)pos, old, why);
        goto out;
    }
    if (dcf_merkle_verify_consistency(m, n, old->root, cur->root, proof, count) != DCF_OK) {
        snprintf(why, sizeof why,
                 "the log of size %llu is not a prefix of the newest tree head's (size %llu): "
                 "the log was rewritten",
                 (unsigned long long)m, (unsigned long long)n);
        fail_head(r, where, (int64_t)pos, old, why);
        goto out;
    }
    ok = true;
out:
    json_decref(j);
    return ok;
}

/*
 * The online verification against the server behind c.  cli_key is the key
 * given on the command line (or NULL); st holds the state file's key and
 * heads and receives the key pinned on first use.  Fills r.
 */
static void verify_online(dcf_client_t *c, const uint8_t *cli_key, dcf_cli_audit_state_t *st,
                          report_t *r) {
    json_t *who = NULL, *kj = NULL, *hj = NULL;
    uint8_t key[DCF_CLI_AUDIT_KEY_LEN];
    char why[512], kid[17], pinned_kid[17];
    sth_t head;

    /* Who is asking decides what must be listed. */
    if ((who = api_get(c, "/v1/whoami", r)) == NULL)
        goto out;
    json_t *pj = json_object_get(who, "party");
    const char *role = json_string_value(json_object_get(who, "role"));
    if (json_is_string(pj)) {
        const char *p = json_string_value(pj);
        if (strlen(p) == 0 || strlen(p) > DCF_PARTY_MAX) {
            report_error(r, "GET /v1/whoami: the party is not a slug");
            goto out;
        }
        snprintf(r->party, sizeof r->party, "%s", p);
        sanitize(r->party);
    } else if (!json_is_null(pj) || role == NULL || strcmp(role, "admin") != 0) {
        report_error(r, "GET /v1/whoami: the token belongs to no party and is not the admin's");
        goto out;
    }
    const char *party = r->party[0] ? r->party : NULL;

    /* The key, against the pinned one. */
    if ((kj = api_get(c, "/v1/audit/key", r)) == NULL)
        goto out;
    const char *alg = json_string_value(json_object_get(kj, "algorithm"));
    const char *skid = json_string_value(json_object_get(kj, "key_id"));
    if (alg == NULL || strcmp(alg, "Ed25519") != 0 ||
        !b64_exact(json_string_value(json_object_get(kj, "public_key")), key, sizeof key)) {
        report_error(r, "GET /v1/audit/key: not an Ed25519 key of 32 bytes in base64");
        goto out;
    }
    key_id_of(key, kid);
    if (skid == NULL || strcmp(skid, kid) != 0) {
        report_fail(r, "key", -1, "the server's key",
                    "its key_id %.20s is not the key_id of its public key (%s)",
                    skid ? skid : "(none)", kid);
        goto out;
    }
    const uint8_t *pinned = cli_key != NULL ? cli_key : st->has_key ? st->key : NULL;
    if (pinned != NULL && sodium_memcmp(pinned, key, sizeof key) != 0) {
        key_id_of(pinned, pinned_kid);
        report_fail(r, "key", -1, "the server's key",
                    "the server signs with key %s, not with the pinned key %s", kid, pinned_kid);
        goto out;
    }
    if (pinned == NULL)
        r->key_pinned_now = true;
    memcpy(r->key_id, kid, sizeof kid);
    memcpy(st->key, key, sizeof key);
    st->has_key = true;

    /* The heads of the state file were verified when saved; a head that no
     * longer verifies means the file was changed by something else. */
    for (size_t i = 0; i < st->n_heads; i++)
        if (!sth_check(&st->heads[i], key, why, sizeof why)) {
            report_error(r, "the state file's tree head %zu (size %llu) does not verify: %s", i,
                         (unsigned long long)st->heads[i].tree_size, why);
            goto out;
        }

    /* The newest tree head, issued now if the tree has grown. */
    if ((hj = api_get(c, "/v1/audit/sth?fresh=true", r)) == NULL)
        goto out;
    memset(&head, 0, sizeof head);
    if (!sth_from_json(hj, &head, why, sizeof why)) {
        report_fail(r, "tree head", -1, "the newest tree head", "%s", why);
        goto out;
    }
    if (!sth_check(&head, key, why, sizeof why)) {
        fail_head(r, "tree head", -1, &head, why);
        goto out;
    }

    if (!check_entries(c, &head, party, r))
        goto out;
    for (size_t i = 0; i < st->n_heads; i++) {
        if (!check_consistency(c, &st->heads[i], i, &head, r))
            goto out;
        r->tree_heads++;
    }
    r->head = head;
    r->has_head = true;
out:
    json_decref(who);
    json_decref(kj);
    json_decref(hj);
}

/* ------------------------------------------------------------ output -- */

static void print_report(const report_t *r, bool as_json, bool online, const char *state_path) {
    char t[DCF_TIME_STRLEN];
    if (as_json) {
        static const char *const STATUS[] = {"verified", "failed", "error"};
        json_t *o = json_pack("{s:s}", "status", STATUS[r->verdict]);
        if (o == NULL) {
            fprintf(stderr, "deconflict audit: out of memory\n");
            return;
        }
        if (r->verdict == DCF_CLI_AUDIT_ERROR) {
            json_object_set_new(o, "error", json_string(r->reason));
        } else {
            json_object_set_new(o, "entries", json_integer((json_int_t)r->entries));
            if (online) {
                json_object_set_new(o, "party", r->party[0] ? json_string(r->party) : json_null());
                json_object_set_new(o, "consistent_with", json_integer((json_int_t)r->tree_heads));
                json_object_set_new(o, "key_pinned_now", json_boolean(r->key_pinned_now));
                if (state_path != NULL)
                    json_object_set_new(o, "state", json_string(state_path));
            } else {
                json_object_set_new(o, "tree_heads", json_integer((json_int_t)r->tree_heads));
                json_object_set_new(o, "uncovered", json_integer((json_int_t)r->uncovered));
                json_object_set_new(o, "key_from_file", json_boolean(r->key_from_file));
            }
            if (r->key_id[0] != '\0')
                json_object_set_new(o, "key_id", json_string(r->key_id));
            if (r->has_head) {
                json_t *h = sth_to_json(&r->head);
                json_object_set_new(h, "time", json_string(sth_time(&r->head, t)));
                json_object_set_new(o, "tree_head", h);
            }
            if (r->verdict == DCF_CLI_AUDIT_FAILED)
                json_object_set_new(o, "first_failure",
                                    json_pack("{s:s, s:I, s:s, s:s}", "kind", r->kind, "index",
                                              (json_int_t)r->index, "item", r->item, "reason",
                                              r->reason));
        }
        if (json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
            fprintf(stderr, "deconflict audit: could not write JSON output\n");
        putchar('\n');
        json_decref(o);
        if (r->verdict == DCF_CLI_AUDIT_ERROR)
            fprintf(stderr, "deconflict audit: could not check: %s\n", r->reason);
        return;
    }
    switch (r->verdict) {
    case DCF_CLI_AUDIT_VERIFIED:
        if (online) {
            char whose[64];
            if (r->party[0])
                snprintf(whose, sizeof whose, "of party %s", r->party);
            else
                snprintf(whose, sizeof whose, "(the whole log)");
            printf("verified: %llu entr%s %s in tree head %llu (%s), consistent with %llu "
                   "earlier tree head%s\n",
                   (unsigned long long)r->entries, r->entries == 1 ? "y" : "ies", whose,
                   (unsigned long long)r->head.tree_size, sth_time(&r->head, t),
                   (unsigned long long)r->tree_heads, r->tree_heads == 1 ? "" : "s");
        } else {
            printf("verified: %llu entr%s and %llu tree head%s", (unsigned long long)r->entries,
                   r->entries == 1 ? "y" : "ies", (unsigned long long)r->tree_heads,
                   r->tree_heads == 1 ? "" : "s");
            if (r->has_head)
                printf(", the newest of size %llu (%s)", (unsigned long long)r->head.tree_size,
                       sth_time(&r->head, t));
            printf("\n");
            if (r->uncovered > 0)
                printf("  %llu entr%s after the newest tree head %s not covered by a signature\n",
                       (unsigned long long)r->uncovered, r->uncovered == 1 ? "y" : "ies",
                       r->uncovered == 1 ? "is" : "are");
        }
        if (r->has_head) {
            json_t *root = b64_json(r->head.root, HL);
            printf("  tree head: size %llu, root %s, key %s\n",
                   (unsigned long long)r->head.tree_size, json_string_value(root), r->key_id);
            json_decref(root);
        }
        if (state_path != NULL)
            printf("  state: %s\n", state_path);
        break;
    case DCF_CLI_AUDIT_FAILED:
        printf("FAILED: %s: %s\n", r->item, r->reason);
        printf("  (%llu entr%s verified before it)\n", (unsigned long long)r->entries,
               r->entries == 1 ? "y" : "ies");
        break;
    default:
        fprintf(stderr, "deconflict audit: could not check: %s\n", r->reason);
    }
}

/* ----------------------------------------------------------- command -- */

static void usage_hint(void) {
    fprintf(stderr, "usage: deconflict %s (see 'deconflict help audit')\n",
            dcf_cli_command("audit")->synopsis);
}

typedef struct {
    const char *url, *token, *key_b64, *key_file, *state, *export_path, *out, *ca_file;
    uint64_t max_bytes;
    bool as_json;
} audit_args_t;

static int parse_args(int argc, char **argv, bool is_export, audit_args_t *a) {
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},
        {"token", required_argument, NULL, 't'},
        {"key", required_argument, NULL, 'k'},
        {"key-file", required_argument, NULL, 'K'},
        {"state", required_argument, NULL, 's'},
        {"export", required_argument, NULL, 'e'},
        {"out", required_argument, NULL, 'o'},
        {"ca-file", required_argument, NULL, 'c'},
        {"max-bytes", required_argument, NULL, 'm'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    int c;
    memset(a, 0, sizeof *a);
    a->max_bytes = AUDIT_EXPORT_MAX;
    optind = 0; /* 0: a full reset (glibc, musl), as the tests run commands in-process */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'u':
            a->url = optarg;
            break;
        case 't':
            a->token = optarg;
            break;
        case 'k':
            a->key_b64 = optarg;
            break;
        case 'K':
            a->key_file = optarg;
            break;
        case 's':
            a->state = optarg;
            break;
        case 'e':
            a->export_path = optarg;
            break;
        case 'o':
            a->out = optarg;
            break;
        case 'c':
            a->ca_file = optarg;
            break;
        case 'j':
            a->as_json = true;
            break;
        case 'm': {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || v == 0 || optarg[0] == '-') {
                fprintf(stderr, "deconflict audit: --max-bytes must be a positive integer\n");
                return -1;
            }
            a->max_bytes = v;
            break;
        }
        default:
            fprintf(stderr, "deconflict audit: unknown or incomplete option '%s'\n",
                    argv[optind - 1]);
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "deconflict audit: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (a->url == NULL)
        a->url = getenv("DECONFLICT_URL");
    if (a->token == NULL)
        a->token = getenv("DECONFLICT_TOKEN");
    bool offline = a->export_path != NULL;
    if (is_export) {
        if (a->out == NULL || a->key_b64 || a->key_file || a->state || offline || a->as_json) {
            fprintf(stderr, "deconflict audit export: takes --url, --token, --ca-file and "
                            "--out FILE\n");
            return -1;
        }
    } else if (a->out != NULL || (offline && a->state != NULL)) {
        fprintf(stderr, "deconflict audit verify: --out is for export; --state is for online "
                        "verification\n");
        return -1;
    }
    if (a->key_b64 != NULL && a->key_file != NULL) {
        fprintf(stderr, "deconflict audit: give --key or --key-file, not both\n");
        return -1;
    }
    if (!offline && (a->url == NULL || a->url[0] == '\0')) {
        fprintf(stderr, "deconflict audit: no server: give --url or set DECONFLICT_URL\n");
        return -1;
    }
    if (!offline && (a->token == NULL || a->token[0] == '\0')) {
        fprintf(stderr, "deconflict audit: no token: give --token or set DECONFLICT_TOKEN\n");
        return -1;
    }
    return 0;
}

/* The key of --key or --key-file into key; false (message printed) when
 * unreadable or malformed. */
static bool load_key(const audit_args_t *a, uint8_t key[DCF_CLI_AUDIT_KEY_LEN]) {
    if (a->key_b64 != NULL) {
        if (!key_from_text(a->key_b64, strlen(a->key_b64), key)) {
            fprintf(stderr, "deconflict audit: --key is not the base64 of a 32-byte key\n");
            return false;
        }
        return true;
    }
    char *buf = NULL, err[256];
    size_t len = 0;
    if (dcf_cli_read_file(a->key_file, AUDIT_KEYFILE_MAX, &buf, &len, err) != 0) {
        fprintf(stderr, "deconflict audit: %s: %s\n", a->key_file, err);
        return false;
    }
    bool ok = key_from_text(buf, len, key);
    free(buf);
    if (!ok)
        fprintf(stderr,
                "deconflict audit: %s: not a 32-byte key in base64 (or GET /v1/audit/key's "
                "answer)\n",
                a->key_file);
    return ok;
}

/* $XDG_STATE_HOME/deconflict/audit-<hex of SHA-256(url), 8 bytes>.json, or
 * under ~/.local/state; dir receives the directory. */
static bool default_state_path(const char *url, char *path, size_t cap, char *dir, size_t dcap) {
    uint8_t h[crypto_hash_sha256_BYTES];
    char hex[17];
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    int n;
    crypto_hash_sha256(h, (const unsigned char *)url, strlen(url));
    sodium_bin2hex(hex, sizeof hex, h, 8);
    if (xdg != NULL && xdg[0] == '/') /* the spec ignores relative paths */
        n = snprintf(dir, dcap, "%s/deconflict", xdg);
    else if (home != NULL && home[0] == '/')
        n = snprintf(dir, dcap, "%s/.local/state/deconflict", home);
    else
        return false;
    if (n < 0 || (size_t)n >= dcap)
        return false;
    n = snprintf(path, cap, "%s/audit-%s.json", dir, hex);
    return n > 0 && (size_t)n < cap;
}

static dcf_client_t *make_client(const audit_args_t *a) {
    dcf_client_opts_t o;
    dcf_client_t *c = NULL;
    dcf_client_opts_default(&o);
    o.ca_file = a->ca_file;
    o.user_agent = "deconflict/" DCF_VERSION_STRING;
    o.max_depth = AUDIT_DOC_DEPTH;
    int rc = dcf_client_new(a->url, a->token, &o, &c);
    if (rc == DCF_EINVAL)
        fprintf(stderr, "deconflict audit: the URL must be http:// or https:// with a host, and "
                        "URL and token may not hold spaces or control characters\n");
    else if (rc != DCF_OK)
        fprintf(stderr, "deconflict audit: cannot start the HTTP client: %s\n", dcf_strerror(rc));
    return c;
}

static int audit_verify(int argc, char **argv) {
    audit_args_t a;
    uint8_t cli_key[DCF_CLI_AUDIT_KEY_LEN];
    const uint8_t *key = NULL;
    dcf_cli_audit_state_t st = {0};
    dcf_client_t *c = NULL;
    report_t r;
    char state_path[AUDIT_PATH_MAX], state_dir[AUDIT_PATH_MAX], err[256], kid[17];
    bool default_state = false;
    int exit_code = DCF_CLI_AUDIT_ERROR;

    if (parse_args(argc, argv, false, &a) != 0) {
        usage_hint();
        return DCF_CLI_AUDIT_ERROR;
    }
    if ((a.key_b64 != NULL || a.key_file != NULL) && !load_key(&a, cli_key))
        goto out;
    if (a.key_b64 != NULL || a.key_file != NULL)
        key = cli_key;

    if (a.export_path != NULL) {
        dcf_cli_audit_verify_export(a.export_path, key, a.max_bytes, &r);
        if (r.key_from_file && r.verdict == DCF_CLI_AUDIT_VERIFIED)
            fprintf(stderr,
                    "WARNING: no --key given: the file was checked against its own public_key "
                    "(key_id %s),\nwhich shows only that it is self-consistent.  Compare that key "
                    "with the key your\ndeployment published before trusting this result.\n",
                    r.key_id);
        print_report(&r, a.as_json, false, NULL);
        exit_code = r.verdict;
        goto out;
    }

    if ((c = make_client(&a)) == NULL)
        goto out;
    if (a.state != NULL) {
        snprintf(state_path, sizeof state_path, "%s", a.state);
    } else if (default_state_path(dcf_client_url(c), state_path, sizeof state_path, state_dir,
                                  sizeof state_dir)) {
        default_state = true;
    } else {
        fprintf(stderr, "deconflict audit: no state file: set HOME or XDG_STATE_HOME, or give "
                        "--state FILE\n");
        goto out;
    }
    int rc = dcf_cli_audit_state_load(state_path, &st, err);
    if (rc != DCF_OK && rc != DCF_ENOENT) {
        fprintf(stderr, "deconflict audit: state file %s\n", err);
        goto out;
    }
    if (key != NULL && st.has_key && sodium_memcmp(key, st.key, sizeof st.key) != 0) {
        char b[17];
        key_id_of(key, kid);
        key_id_of(st.key, b);
        fprintf(stderr,
                "deconflict audit: the key given (%s) is not the key pinned in %s (%s); use "
                "another --state file to verify against another key\n",
                kid, state_path, b);
        goto out;
    }

    report_init(&r);
    verify_online(c, key, &st, &r);
    if (r.verdict == DCF_CLI_AUDIT_VERIFIED) {
        free(st.url);
        st.url = strdup(dcf_client_url(c));
        if (st.url == NULL || dcf_cli_audit_state_add(&st, &r.head) != DCF_OK ||
            (default_state && mkdirs(state_dir, err) != DCF_OK) ||
            dcf_cli_audit_state_save(state_path, &st, err) != DCF_OK) {
            report_error(&r, "verified, but the state file %s could not be saved: %s", state_path,
                         st.url == NULL ? "out of memory" : err);
            r.verdict = DCF_CLI_AUDIT_ERROR;
        }
    }
    if (r.key_pinned_now && r.verdict == DCF_CLI_AUDIT_VERIFIED) {
        key_id_of(st.key, kid);
        json_t *k = b64_json(st.key, sizeof st.key);
        fprintf(stderr,
                "\n*** FIRST USE: no key was pinned, so the server's key was pinned now ***\n"
                "    key_id %s, public key %s\n"
                "    saved in %s\n"
                "    Everything was checked against THIS key: compare it with the key your\n"
                "    deployment published, out of band, before trusting the result.\n\n",
                kid, json_string_value(k), state_path);
        json_decref(k);
    }
    print_report(&r, a.as_json, true, state_path);
    exit_code = r.verdict;
out:
    dcf_cli_audit_state_free(&st);
    dcf_client_free(c);
    return exit_code;
}

/* Write one JSON value compactly; false on a write error. */
static bool put_json(FILE *f, json_t *j) {
    bool ok = j != NULL && json_dumpf(j, f, JSON_COMPACT | JSON_ENCODE_ANY) == 0;
    json_decref(j);
    return ok;
}

static int audit_export(int argc, char **argv) {
    audit_args_t a;
    dcf_client_t *c = NULL;
    json_t *who = NULL, *kj = NULL;
    sth_t *heads = NULL;
    size_t n_heads = 0, cap_heads = 0;
    atomic_file_t af = {0};
    report_t r;
    pager_t hp = {.base = "/v1/audit/sths", .what = "tree heads"},
            ep = {.base = "/v1/audit/entries", .what = "entries"};
    bool more = true;
    char why[256], err[256];
    uint8_t key[DCF_CLI_AUDIT_KEY_LEN];
    uint64_t n_entries = 0;
    int exit_code = DCF_CLI_AUDIT_ERROR;

    report_init(&r);
    if (parse_args(argc, argv, true, &a) != 0) {
        usage_hint();
        return DCF_CLI_AUDIT_ERROR;
    }
    if ((c = make_client(&a)) == NULL)
        goto out;
    if ((who = api_get(c, "/v1/whoami", &r)) == NULL)
        goto failed;
    if (!json_is_null(json_object_get(who, "party"))) {
        report_error(
            &r, "an export needs the deployment admin's token (a party sees only its entries)");
        goto failed;
    }
    if ((kj = api_get(c, "/v1/audit/key", &r)) == NULL)
        goto failed;
    if (!b64_exact(json_string_value(json_object_get(kj, "public_key")), key, sizeof key)) {
        report_error(&r, "GET /v1/audit/key: public_key is not the base64 of 32 bytes");
        goto failed;
    }

    /* Tree heads first: every entry they cover is then already listed. */
    while (more) {
        if (!pager_get(c, &hp, &r))
            goto failed;
        json_t *items = hp.items;
        for (size_t k = 0; k < json_array_size(items); k++) {
            if (dcf_array_reserve((void **)&heads, &cap_heads, n_heads + 1, sizeof *heads) !=
                DCF_OK)
                goto nomem; /* (new elements come zeroed) */
            if (!sth_from_json(json_array_get(items, k), &heads[n_heads], why, sizeof why)) {
                report_error(&r, "GET %s: tree head %zu: %s", hp.path, n_heads, why);
                goto failed;
            }
            n_heads++;
        }
        if (!pager_advance(&hp, &more, &r))
            goto failed;
    }

    if (atomic_begin(&af, a.out, err) != DCF_OK) {
        report_error(&r, "%s", err);
        goto failed;
    }
    if (fprintf(af.f, "{\"format\":\"%s\",\"public_key\":", AUDIT_EXPORT_FORMAT) < 0 ||
        !put_json(af.f, b64_json(key, sizeof key)) || fputs(",\n\"entries\":[", af.f) == EOF)
        goto write_fail;
    for (more = true; more;) {
        if (!pager_get(c, &ep, &r))
            goto failed;
        json_t *items = ep.items;
        for (size_t k = 0; k < json_array_size(items); k++) {
            json_t *it = json_array_get(items, k);
            uint64_t index;
            json_t *text = json_object_get(it, "entry");
            if (!json_u64(json_object_get(it, "index"), UINT64_MAX, &index) || index != n_entries ||
                !json_is_string(text)) {
                report_error(&r, "GET %s: the listing does not run 0, 1, 2 ... at entry %llu",
                             ep.path, (unsigned long long)n_entries);
                goto failed;
            }
            if ((n_entries > 0 && fputs(",\n", af.f) == EOF) ||
                !put_json(af.f, json_pack("{s:I, s:O}", "index", (json_int_t)index, "entry", text)))
                goto write_fail;
            n_entries++;
        }
        if (!pager_advance(&ep, &more, &r))
            goto failed;
    }
    if (fputs("],\n\"sths\":[", af.f) == EOF)
        goto write_fail;
    for (size_t k = 0; k < n_heads; k++)
        if ((k > 0 && fputs(",\n", af.f) == EOF) || !put_json(af.f, sth_to_json(&heads[k])))
            goto write_fail;
    if (fputs("]}\n", af.f) == EOF)
        goto write_fail;
    if (atomic_commit(&af, err) != DCF_OK) {
        report_error(&r, "%s", err);
        goto failed;
    }
    printf("exported %llu entr%s and %zu tree head%s to %s\n", (unsigned long long)n_entries,
           n_entries == 1 ? "y" : "ies", n_heads, n_heads == 1 ? "" : "s", a.out);
    exit_code = 0;
    goto out;

write_fail:
    report_error(&r, "cannot write %s: %s", af.tmp, strerror(errno));
    goto failed;
nomem:
    report_error(&r, "out of memory");
failed:
    fprintf(stderr, "deconflict audit export: %s\n", r.reason);
out:
    if (af.f != NULL)
        atomic_abort(&af);
    json_decref(who);
    json_decref(kj);
    json_decref(hp.page);
    json_decref(ep.page);
    free(heads);
    dcf_client_free(c);
    return exit_code;
}

int dcf_cli_audit(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "verify") == 0)
        return audit_verify(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "export") == 0)
        return audit_export(argc - 1, argv + 1);
    fprintf(stderr, "deconflict audit: expected 'verify' or 'export'\n");
    usage_hint();
    return DCF_CLI_AUDIT_ERROR;
}
