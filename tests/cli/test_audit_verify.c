/*
 * test_audit_verify.c -- the audit verifier (src/cli/audit.c) on real data
 * built here: an Ed25519 key pair, canonical entry texts, roots from the
 * merkle API and tree heads signed over the 57 bytes of docs/audit.md (the
 * message is built here independently of the verifier, so the test also
 * pins the wire format).
 *
 * Export files: a good file verifies; a changed byte, a dropped entry, a
 * swapped pair, a forged signature, a head from another key, a head whose
 * root does not match, a shrinking sequence, a head past the end and a
 * foreign key all fail and name the first failing item.  State files: round
 * trip, mode 0600, atomic replace, limits.  Online: the same checks through
 * `deconflict audit verify` against a small fake server (libmicrohttpd on
 * 127.0.0.1) that serves a log built here and can be told to lie.
 */
#include <dirent.h>
#include <stdarg.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <sodium.h>

#include "cli/cli_int.h"
#include "deconflict/client.h"
#include "deconflict/merkle.h"
#include "test.h"

#define HL DCF_MERKLE_HASH_LEN

static char tmpdir[256];

static void path_in_tmp(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

/* ------------------------------------------------------------ the log -- */

typedef struct {
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
} keypair_t;

static void keypair(keypair_t *k) {
    crypto_sign_keypair(k->pk, k->sk);
}

static json_t *b64(const uint8_t *b, size_t n) {
    char buf[128];
    return json_string(sodium_bin2base64(buf, sizeof buf, b, n, sodium_base64_VARIANT_ORIGINAL));
}

static void key_id(const uint8_t pk[32], char out[17]) {
    uint8_t h[32];
    crypto_hash_sha256(h, pk, 32);
    sodium_bin2hex(out, 17, h, 8);
}

/* The canonical text of entry i: compact, keys sorted. */
static char *entry_text(uint64_t i) {
    static const char *const PARTIES[][2] = {{"blue", NULL}, {"blue", "red"}, {"red", NULL}};
    const char *const *pp = PARTIES[i % 3];
    json_t *parties = json_array();
    for (int k = 0; k < 2 && pp[k] != NULL; k++)
        json_array_append_new(parties, json_string(pp[k]));
    char at[40], digest[65];
    snprintf(at, sizeof at, "2026-12-01T10:%02u:%02u.123456Z", (unsigned)(i / 60 % 60),
             (unsigned)(i % 60));
    memset(digest, 'a' + (int)(i % 6), 64);
    digest[64] = '\0';
    json_t *e = json_pack("{s:s, s:{s:s, s:s}, s:s, s:I, s:[{s:s, s:s, s:s}], s:o}", "action",
                          "operation.create", "actor", "party", pp[0], "token", "tok-test", "at",
                          at, "index", (json_int_t)i, "objects", "digest", digest, "id",
                          "op-x/\"y\"", "type", "operation", "parties", parties);
    char *t = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(e);
    return t;
}

/* The root of the first `size` entry texts of `entries` (an export's
 * entries array). */
static void root_of(const json_t *entries, uint64_t size, uint8_t root[HL]) {
    dcf_merkle_frontier_t f;
    dcf_merkle_frontier_init(&f);
    for (uint64_t i = 0; i < size; i++) {
        const json_t *t = json_object_get(json_array_get(entries, i), "entry");
        uint8_t leaf[HL];
        dcf_merkle_leaf_hash(json_string_value(t), json_string_length(t), leaf);
        dcf_merkle_frontier_append(&f, leaf, NULL, NULL);
    }
    dcf_merkle_frontier_root(&f, root);
}

/* A tree head over (size, ts, root) signed with k: the 57-byte message of
 * docs/audit.md, written out byte by byte. */
static json_t *signed_head(const keypair_t *k, uint64_t size, uint64_t ts, const uint8_t root[HL]) {
    uint8_t msg[57], sig[crypto_sign_BYTES];
    char kid[17];
    memcpy(msg, "DCF-STH-1", 9);
    for (int b = 0; b < 8; b++) {
        msg[9 + b] = (uint8_t)(size >> (56 - 8 * b));
        msg[17 + b] = (uint8_t)(ts >> (56 - 8 * b));
    }
    memcpy(msg + 25, root, HL);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, k->sk);
    key_id(k->pk, kid);
    return json_pack("{s:I, s:I, s:o, s:o, s:s}", "tree_size", (json_int_t)size, "timestamp",
                     (json_int_t)ts, "root_hash", b64(root, HL), "signature", b64(sig, sizeof sig),
                     "key_id", kid);
}

#define TS0 UINT64_C(1764583200123)

/* An export of n entries with a head (signed by k) at each of sizes[]. */
static json_t *make_export(const keypair_t *k, uint64_t n, const uint64_t *sizes, size_t n_sizes) {
    json_t *entries = json_array(), *sths = json_array();
    for (uint64_t i = 0; i < n; i++) {
        char *t = entry_text(i);
        json_array_append_new(entries, json_pack("{s:I, s:s}", "index", (json_int_t)i, "entry", t));
        free(t);
    }
    for (size_t s = 0; s < n_sizes; s++) {
        uint8_t root[HL];
        root_of(entries, sizes[s], root);
        json_array_append_new(sths, signed_head(k, sizes[s], TS0 + 60000 * s, root));
    }
    return json_pack("{s:s, s:o, s:o, s:o}", "format", "deconflict-audit-export-1", "public_key",
                     b64(k->pk, 32), "entries", entries, "sths", sths);
}

static int verify_doc(const json_t *doc, const uint8_t *key, dcf_cli_audit_report_t *r) {
    char path[512];
    path_in_tmp(path, sizeof path, "export.json");
    if (json_dump_file(doc, path, JSON_COMPACT) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        abort();
    }
    return dcf_cli_audit_verify_export(path, key, 0, r);
}

/* The report names `kind` `index` as the first failure, with `word` in its
 * reason. */
#define CHECK_FAILED(r, kind_, index_, word)                                                       \
    do {                                                                                           \
        CHECK_INT((r).verdict, DCF_CLI_AUDIT_FAILED);                                              \
        CHECK_STR((r).kind, kind_);                                                                \
        CHECK_INT((r).index, index_);                                                              \
        CHECK_MSG(strstr((r).reason, word) != NULL, "reason \"%s\" lacks \"%s\"", (r).reason,      \
                  word);                                                                           \
    } while (0)

static const uint64_t SIZES[] = {0, 1, 5, 5, 13, 20};
#define N_SIZES (sizeof SIZES / sizeof SIZES[0])

/* ---------------------------------------------------- export: good -- */

static void test_export_good(void) {
    keypair_t k;
    dcf_cli_audit_report_t r;
    keypair(&k);
    json_t *doc = make_export(&k, 20, SIZES, N_SIZES);
    CHECK_INT(verify_doc(doc, k.pk, &r), DCF_CLI_AUDIT_VERIFIED);
    CHECK_INT(r.entries, 20);
    CHECK_INT(r.tree_heads, N_SIZES);
    CHECK_INT(r.uncovered, 0);
    CHECK(r.has_head && r.head.tree_size == 20);
    CHECK(!r.key_from_file);
    CHECK_STR(r.kind, "");
    json_decref(doc);

    /* Entries after the newest head verify but are reported uncovered. */
    doc = make_export(&k, 23, SIZES, N_SIZES);
    CHECK_INT(verify_doc(doc, k.pk, &r), DCF_CLI_AUDIT_VERIFIED);
    CHECK_INT(r.entries, 23);
    CHECK_INT(r.uncovered, 3);
    json_decref(doc);

    /* Without a key: the file's own, and the report says so. */
    doc = make_export(&k, 20, SIZES, N_SIZES);
    CHECK_INT(verify_doc(doc, NULL, &r), DCF_CLI_AUDIT_VERIFIED);
    CHECK(r.key_from_file);
    json_decref(doc);

    /* An empty log with a head of size 0. */
    static const uint64_t zero[] = {0};
    doc = make_export(&k, 0, zero, 1);
    CHECK_INT(verify_doc(doc, k.pk, &r), DCF_CLI_AUDIT_VERIFIED);
    CHECK_INT(r.entries, 0);
    CHECK_INT(r.tree_heads, 1);
    json_decref(doc);

    /* A larger log, one head per entry: every size's root is checked. */
    uint64_t many[300];
    for (size_t i = 0; i < 300; i++)
        many[i] = i + 1;
    doc = make_export(&k, 300, many, 300);
    CHECK_INT(verify_doc(doc, k.pk, &r), DCF_CLI_AUDIT_VERIFIED);
    CHECK_INT(r.tree_heads, 300);
    json_decref(doc);
}

/* ------------------------------------------------- export: tampering -- */

static json_t *entries_of(json_t *doc) {
    return json_object_get(doc, "entries");
}

static json_t *sths_of(json_t *doc) {
    return json_object_get(doc, "sths");
}

/* Replace the text of entry i by `t`. */
static void set_text(json_t *doc, size_t i, const char *t) {
    json_object_set_new(json_array_get(entries_of(doc), i), "entry", json_string(t));
}

static void test_export_changed_byte(void) {
    keypair_t k;
    dcf_cli_audit_report_t r;
    keypair(&k);

    /* A byte changed inside a string: still valid JSON, so the first head
     * covering entry 7 (size 13, position 4) no longer matches. */
    json_t *doc = make_export(&k, 20, SIZES, N_SIZES);
    char *t =
        strdup(json_string_value(json_object_get(json_array_get(entries_of(doc), 7), "entry")));
    char *p = strstr(t, "operation.create");
    p[0] = 'O';
    set_text(doc, 7, t);
    CHECK_INT(verify_doc(doc, k.pk, &r), DCF_CLI_AUDIT_FAILED);
    CHECK_FAILED(r, "tree head", 4, "5..12");
    CHECK_INT(r.entries, 13); /* entries consumed, structurally fine */
    free(t);
    json_decref(doc);

    /* A byte changed so that the text is no longer JSON: entry 9 itself. */
    doc = make_export(&k, 20, SIZES, N_SIZES);
    t = strdup(json_string_value(json_object_get(json_array_get(entries_of(doc), 9), "entry")));
    t[strlen(t) - 1] = ']';
    set_text(doc, 9, t);
    CHECK_INT(verify_doc(doc, k.pk, &r), DCF_CLI_AUDIT_FAILED);
    CHECK_FAILED(r, "entry", 9, "not JSON");
    free(t);
    json_decref(doc);

    /* A changed byte in an entry that no head covers yet is not detectable
     * (and is reported as uncovered). */
    doc = make_export(&k, 22, SIZES, N_SIZES);
    t = strdup(json_string_value(json_object_get(json_array_get(entries_of(doc), 21), "entry")));
    strstr(t, "operation.create")[0] = 'O';
    set_text(doc, 21, t);
    CHECK_INT(verify_doc(doc, k.pk, &r), DCF_CLI_AUDIT_VERIFIED);
    CHECK_INT(r.uncovered, 2);
    free(t);
    json_decref(doc);
}

static void test_export_dropped_and_swapped(void) {
    keypair_t k;
    dcf_cli_audit_report_t r;
    keypair(&k);

    /* Dropped entry 6: position 6 now holds index 7. */
    json_t *doc = make_export(&k, 20, SIZES, N_SIZES);
    json_array_remove(entries_of(doc), 6);
    CHECK_INT(verify_doc(doc, k.pk, &r), DCF_CLI_AUDIT_FAILED);
    CHECK_FAILED(r, "entry", 6, "index 7 at position 6");
    json_decref(doc);

    /* Dropped last entry: the last head now covers more than the file. */
    doc = make_export(&k, 20, SIZES, N_SIZES);
    json_array_remove(entries_of(doc), 19);
    CHECK_INT(verify_doc(doc, k.pk, &r), DCF_CLI_AUDIT_FAILED);
    CHECK_FAILED(r, "tree head", 5, "covers 20 entries but the file holds 19");
    json_decref(doc);

    /* Swapped items 3 and 4 (with their indexes). */
    doc = make_export(&k, 20, SIZES, N_SIZES);
    json_t *e3 = json_incref(json_array_get(entries_of(doc), 3));
    json_t *e4 = json_incref(json_array_get(entries_of(doc), 4));
    json_array_set_new(entries_of(doc), 3, e4);
    json_array_set_new(entries_of(doc), 4, e3);
    CHECK_INT(verify_doc(doc, k.pk, &r), DCF_CLI_AUDIT_FAILED);
    CHECK_FAILED(r, "entry", 3, "index 4 at position 3");
    json_decref(doc);

    /* Swapped texts of 3 and 4, indexes left in place. */
    doc = make_export(&k, 20, SIZES, N_SIZES);
    char *t3 =
        strdup(json_string_value(json_object_get(json_array_get(entries_of(doc), 3), "entry")));
    char *t4 =
        strdup(json_string_value(json_object_get(json_array_get(entries_of(doc), 4), "entry")));
    set_text(doc, 3, t4);
    set_text(doc, 4, t3);
    CHECK_INT(verify_doc(doc, k.pk, &r), DCF_CLI_AUDIT_FAILED);
    CHECK_FAILED(r, "entry", 3, "its text says index 4");
    free(t3);
    free(t4);
    json_decref(doc);

    /* Swapped texts with their indexes rewritten too (a reordering the
     * indexes cannot see): only the roots can, at the head of size 5. */
    doc = make_export(&k, 20, SIZES, N_SIZES);
    char *a = entry_text(3), *b = entry_text(4);
    char *pa = strstr(a, "\"index\":3"), *pb = strstr(b, "\"index\":4");
    pa[8] = '4';
    pb[8] = '3';
    set_text(doc, 3, b);
    set_text(doc, 4, a);
    CHECK_INT(verify_doc(doc, k.pk, &r), DCF_CLI_AUDIT_FAILED);
    CHECK_FAILED(r, "tree head", 2, "root");
    free(a);
    free(b);
    json_decref(doc);
}

/* Replace head `pos` by a head over (size, root) signed by `k`. */
static void set_head(json_t *doc, size_t pos, const keypair_t *k, uint64_t size,
                     const uint8_t root[HL]) {
    json_array_set_new(sths_of(doc), pos, signed_head(k, size, TS0 + 60000 * pos, root));
}

static void test_export_heads(void) {
    keypair_t k, other;
    dcf_cli_audit_report_t r;
    uint8_t root[HL];
    keypair(&k);
    keypair(&other);

    /* A forged signature: one bit flipped. */
    json_t *doc = make_export(&k, 20, SIZES, N_SIZES);
    json_t *h = json_array_get(sths_of(doc), 3);
    uint8_t sig[64];
    size_t got;
    sodium_base642bin(sig, sizeof sig, json_string_value(json_object_get(h, "signature")), 88, NULL,
                      &got, NULL, sodium_base64_VARIANT_ORIGINAL);
    sig[10] ^= 0x01;
    json_object_set_new(h, "signature", b64(sig, 64));
    CHECK_INT(verify_doc(doc, k.pk, &r), DCF_CLI_AUDIT_FAILED);
    CHECK_FAILED(r, "tree head", 3, "signature does not verify");
    json_decref(doc);

    /* A changed size under the old signature. */
    doc = make_export(&k, 20, SIZES, N_SIZES);
    json_object_set_new(json_array_get(sths_of(doc), 4), "tree_size", json_integer(12));
    CHECK_INT(verify_doc(doc, k.pk, &r), DCF_CLI_AUDIT_FAILED);
    CHECK_FAILED(r, "tree head", 4, "signature");
    json_decref(doc);

    /* A head from another key (correct root, its own key_id). */
    doc = make_export(&k, 20, SIZES, N_SIZES);
    root_of(entries_of(doc), 5, root);
    set_head(doc, 2, &other, 5, root);
    CHECK_INT(verify_doc(doc, k.pk, &r), DCF_CLI_AUDIT_FAILED);
    CHECK_FAILED(r, "tree head", 2, "another key");
    json_decref(doc);

    /* A head whose root does not match, correctly signed. */
    doc = make_export(&k, 20, SIZES, N_SIZES);
    root_of(entries_of(doc), 12, root); /* the root of 12 entries, claimed for 13 */
    set_head(doc, 4, &k, 13, root);
    CHECK_INT(verify_doc(doc, k.pk, &r), DCF_CLI_AUDIT_FAILED);
    CHECK_FAILED(r, "tree head", 4, "is not the root of entries 0..12");
    json_decref(doc);

    /* Two heads of one size with different roots. */
    doc = make_export(&k, 20, SIZES, N_SIZES);
    root_of(entries_of(doc), 4, root);
    set_head(doc, 3, &k, 5, root);
    CHECK_INT(verify_doc(doc, k.pk, &r), DCF_CLI_AUDIT_FAILED);
    CHECK_FAILED(r, "tree head", 3, "same size");
    json_decref(doc);

    /* A shrinking sequence: 0, 1, 5, 5, 13, then 5 again (valid root). */
    static const uint64_t shrink[] = {0, 1, 5, 5, 13, 5, 20};
    doc = make_export(&k, 20, shrink, 7);
    CHECK_INT(verify_doc(doc, k.pk, &r), DCF_CLI_AUDIT_FAILED);
    CHECK_FAILED(r, "tree head", 5, "shrank");
    json_decref(doc);

    /* A head of size 0 that does not carry the empty root. */
    doc = make_export(&k, 20, SIZES, N_SIZES);
    root_of(entries_of(doc), 1, root);
    set_head(doc, 0, &k, 0, root);
    CHECK_INT(verify_doc(doc, k.pk, &r), DCF_CLI_AUDIT_FAILED);
    CHECK_FAILED(r, "tree head", 0, "empty");
    json_decref(doc);

    /* A malformed head. */
    doc = make_export(&k, 20, SIZES, N_SIZES);
    json_object_set_new(json_array_get(sths_of(doc), 1), "root_hash", json_string("AAAA"));
    CHECK_INT(verify_doc(doc, k.pk, &r), DCF_CLI_AUDIT_FAILED);
    CHECK_FAILED(r, "tree head", 1, "root_hash");
    json_decref(doc);

    /* The whole file from another key, checked against the pinned key. */
    doc = make_export(&other, 20, SIZES, N_SIZES);
    CHECK_INT(verify_doc(doc, k.pk, &r), DCF_CLI_AUDIT_FAILED);
    CHECK_FAILED(r, "key", -1, "not the pinned key");
    json_decref(doc);
}

static void test_export_unreadable(void) {
    keypair_t k;
    dcf_cli_audit_report_t r;
    char path[512];
    keypair(&k);
    path_in_tmp(path, sizeof path, "no-such-file.json");
    CHECK_INT(dcf_cli_audit_verify_export(path, k.pk, 0, &r), DCF_CLI_AUDIT_ERROR);
    CHECK(strstr(r.reason, "No such file") != NULL);

    path_in_tmp(path, sizeof path, "garbage.json");
    FILE *f = fopen(path, "w");
    fputs("{\"format\": \"deconflict-audit-export-1\", ", f);
    fclose(f);
    CHECK_INT(dcf_cli_audit_verify_export(path, k.pk, 0, &r), DCF_CLI_AUDIT_ERROR);

    json_t *doc = make_export(&k, 20, SIZES, N_SIZES);
    json_object_set_new(doc, "format", json_string("something-else"));
    CHECK_INT(verify_doc(doc, k.pk, &r), DCF_CLI_AUDIT_ERROR);
    json_decref(doc);

    /* The size limit. */
    doc = make_export(&k, 20, SIZES, N_SIZES);
    verify_doc(doc, k.pk, &r);
    path_in_tmp(path, sizeof path, "export.json");
    CHECK_INT(dcf_cli_audit_verify_export(path, k.pk, 100, &r), DCF_CLI_AUDIT_ERROR);
    CHECK(strstr(r.reason, "limit") != NULL);
    struct stat sb;
    stat(path, &sb);
    CHECK_INT(dcf_cli_audit_verify_export(path, k.pk, (uint64_t)sb.st_size, &r),
              DCF_CLI_AUDIT_VERIFIED);
    json_decref(doc);
}

/* -------------------------------------------------------- state file -- */

static size_t files_in(const char *dir) {
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    if (d != NULL)
        closedir(d);
    return n;
}

static void fill_head(dcf_cli_audit_sth_t *h, uint64_t size, uint8_t seed) {
    memset(h, 0, sizeof *h);
    h->tree_size = size;
    h->timestamp = TS0 + size;
    memset(h->root, seed, sizeof h->root);
    memset(h->sig, seed ^ 0x5a, sizeof h->sig);
    snprintf(h->key_id, sizeof h->key_id, "%016llx", (unsigned long long)seed);
}

static void test_state_round_trip(void) {
    char dir[512], path[600], err[256];
    dcf_cli_audit_state_t st = {0}, back = {0};
    keypair_t k;
    struct stat sb;
    keypair(&k);
    path_in_tmp(dir, sizeof dir, "state");
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/audit.json", dir);

    CHECK_INT(dcf_cli_audit_state_load(path, &back, err), DCF_ENOENT);
    CHECK(!back.has_key && back.n_heads == 0);

    st.has_key = true;
    memcpy(st.key, k.pk, 32);
    st.url = strdup("http://127.0.0.1:8080");
    for (uint8_t i = 0; i < 3; i++) {
        dcf_cli_audit_sth_t h;
        fill_head(&h, 10u * i, i);
        CHECK_INT(dcf_cli_audit_state_add(&st, &h), DCF_OK);
        CHECK_INT(dcf_cli_audit_state_add(&st, &h), DCF_OK); /* a duplicate is not added */
    }
    CHECK_INT(st.n_heads, 3);

    /* An existing file readable by others is replaced by one that is not. */
    FILE *f = fopen(path, "w");
    fputs("old", f);
    fclose(f);
    chmod(path, 0644);
    CHECK_INT(dcf_cli_audit_state_save(path, &st, err), DCF_OK);
    CHECK(stat(path, &sb) == 0);
    CHECK_INT(sb.st_mode & 0777, 0600);
    CHECK_INT(files_in(dir), 1); /* no temporary file left behind */

    CHECK_INT(dcf_cli_audit_state_load(path, &back, err), DCF_OK);
    CHECK(back.has_key && memcmp(back.key, k.pk, 32) == 0);
    CHECK(back.url != NULL && strcmp(back.url, st.url) == 0);
    CHECK_INT(back.n_heads, 3);
    for (size_t i = 0; i < 3 && i < back.n_heads; i++) {
        CHECK_INT(back.heads[i].tree_size, st.heads[i].tree_size);
        CHECK_INT(back.heads[i].timestamp, st.heads[i].timestamp);
        CHECK(memcmp(back.heads[i].root, st.heads[i].root, HL) == 0);
        CHECK(memcmp(back.heads[i].sig, st.heads[i].sig, 64) == 0);
        CHECK_STR(back.heads[i].key_id, st.heads[i].key_id);
    }
    dcf_cli_audit_state_free(&back);

    /* Saving again over it: still 0600, still one file. */
    CHECK_INT(dcf_cli_audit_state_save(path, &st, err), DCF_OK);
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    CHECK_INT(files_in(dir), 1);

    /* A directory that does not exist: an error, no file. */
    char bad[700];
    snprintf(bad, sizeof bad, "%s/missing/audit.json", dir);
    CHECK_INT(dcf_cli_audit_state_save(bad, &st, err), DCF_EIO);
    dcf_cli_audit_state_free(&st);
}

static void test_state_bad_files(void) {
    char path[512], err[256];
    dcf_cli_audit_state_t st = {0};
    path_in_tmp(path, sizeof path, "state-bad.json");

    FILE *f = fopen(path, "w");
    fputs("not json", f);
    fclose(f);
    CHECK_INT(dcf_cli_audit_state_load(path, &st, err), DCF_EPARSE);

    f = fopen(path, "w");
    fputs(
        "{\"format\": \"deconflict-audit-state-1\", \"public_key\": \"AAAA\", \"tree_heads\": []}",
        f);
    fclose(f);
    CHECK_INT(dcf_cli_audit_state_load(path, &st, err), DCF_EPARSE);
    CHECK(strstr(err, "public_key") != NULL);

    f = fopen(path, "w");
    fputs("{\"format\": \"deconflict-audit-state-1\", "
          "\"public_key\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\", "
          "\"tree_heads\": [{\"tree_size\": -1}]}",
          f);
    fclose(f);
    CHECK_INT(dcf_cli_audit_state_load(path, &st, err), DCF_EPARSE);
    CHECK(strstr(err, "tree head 0") != NULL);
    CHECK(!st.has_key && st.heads == NULL);

    /* Over the 16 MiB limit. */
    f = fopen(path, "w");
    fputs("{\"pad\": \"", f);
    for (int i = 0; i < 17 * 1024; i++) {
        char kb[1024];
        memset(kb, 'x', sizeof kb);
        fwrite(kb, 1, sizeof kb, f);
    }
    fputs("\"}", f);
    fclose(f);
    CHECK_INT(dcf_cli_audit_state_load(path, &st, err), DCF_ELIMIT);
    unlink(path);
}

/* ------------------------------------------------------- fake server -- */

/* One growable array of complete-node hashes per level. */
typedef struct {
    uint8_t *lv[DCF_MERKLE_LEVELS];
    uint64_t len[DCF_MERKLE_LEVELS];
} nodes_t;

static int nodes_get(void *arg, unsigned level, uint64_t index, uint8_t out[HL]) {
    nodes_t *s = arg;
    if (level >= DCF_MERKLE_LEVELS || index >= s->len[level])
        return DCF_ENOENT;
    memcpy(out, s->lv[level] + index * HL, HL);
    return DCF_OK;
}

static void nodes_free(nodes_t *s) {
    for (int l = 0; l < DCF_MERKLE_LEVELS; l++)
        free(s->lv[l]);
    memset(s, 0, sizeof *s);
}

/* A fake deconflict that serves the audit routes over a log built here,
 * and can be told to lie.  Tokens: "tok-admin", "tok-blue", "tok-red". */
typedef struct {
    pthread_mutex_t mu;
    struct MHD_Daemon *d;
    char url[64];
    keypair_t key, other;
    char *texts[200];
    size_t n;
    nodes_t nodes;
    uint64_t page, ts;
    json_t *issued; /* every head served, for /v1/audit/sths */
    /* lies */
    bool use_other_key, sth_500, bad_sig;
    int64_t alter_text, wrong_leaf, show_to_all, skip;
} fake_t;

/* (Re)build the log from texts[0..n). */
static void fake_build(fake_t *f) {
    dcf_merkle_frontier_t fr;
    nodes_free(&f->nodes);
    dcf_merkle_frontier_init(&fr);
    for (size_t i = 0; i < f->n; i++) {
        uint8_t leaf[HL];
        dcf_merkle_node_t out[DCF_MERKLE_APPEND_MAX];
        unsigned count = 0;
        dcf_merkle_leaf_hash(f->texts[i], strlen(f->texts[i]), leaf);
        dcf_merkle_frontier_append(&fr, leaf, out, &count);
        for (unsigned c = 0; c < count; c++) {
            unsigned l = out[c].level;
            f->nodes.lv[l] = realloc(f->nodes.lv[l], (f->nodes.len[l] + 1) * HL);
            memcpy(f->nodes.lv[l] + f->nodes.len[l] * HL, out[c].hash, HL);
            f->nodes.len[l]++;
        }
    }
}

/* Grow (or cut) the log to n entries of entry_text. */
static void fake_set_size(fake_t *f, size_t n) {
    pthread_mutex_lock(&f->mu);
    for (size_t i = n; i < f->n; i++) {
        free(f->texts[i]);
        f->texts[i] = NULL;
    }
    for (size_t i = f->n; i < n; i++)
        f->texts[i] = entry_text(i);
    f->n = n;
    fake_build(f);
    pthread_mutex_unlock(&f->mu);
}

static void fake_reset_lies(fake_t *f) {
    pthread_mutex_lock(&f->mu);
    f->use_other_key = f->sth_500 = f->bad_sig = false;
    f->alter_text = f->wrong_leaf = f->show_to_all = f->skip = -1;
    pthread_mutex_unlock(&f->mu);
}

static json_t *problem(int status, const char *title, const char *detail) {
    return json_pack("{s:s, s:s, s:i, s:s}", "type", "https://deconflict.dev/problems/x", "title",
                     title, "status", status, "detail", detail);
}

static const char *arg(struct MHD_Connection *c, const char *name) {
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

static uint64_t arg_u64(struct MHD_Connection *c, const char *name, uint64_t dflt) {
    const char *v = arg(c, name);
    return v != NULL ? strtoull(v, NULL, 10) : dflt;
}

static bool lists_party(const char *text, const char *party) {
    json_t *e = json_loads(text, 0, NULL);
    bool yes = false;
    json_t *ps = json_object_get(e, "parties");
    for (size_t i = 0; i < json_array_size(ps); i++)
        yes = yes || strcmp(json_string_value(json_array_get(ps, i)), party) == 0;
    json_decref(e);
    return yes;
}

static json_t *proof_json(const uint8_t *p, size_t count) {
    json_t *a = json_array();
    for (size_t i = 0; i < count; i++)
        json_array_append_new(a, b64(p + i * HL, HL));
    return a;
}

static json_t *fake_route(fake_t *f, struct MHD_Connection *c, const char *url, const char *party,
                          bool admin, int *status) {
    const keypair_t *k = f->use_other_key ? &f->other : &f->key;
    uint8_t root[HL], proof[DCF_MERKLE_PROOF_MAX * HL];
    size_t count = 0;
    char kid[17];
    *status = 200;
    if (strcmp(url, "/v1/whoami") == 0)
        return json_pack("{s:s, s:s?, s:s}", "token", "tok-1", "party", party, "role",
                         admin ? "admin" : "viewer");
    if (strcmp(url, "/v1/audit/key") == 0) {
        key_id(k->pk, kid);
        return json_pack("{s:s, s:o, s:s}", "algorithm", "Ed25519", "public_key", b64(k->pk, 32),
                         "key_id", kid);
    }
    if (strcmp(url, "/v1/audit/sth") == 0) {
        if (f->sth_500) {
            *status = 500;
            return problem(500, "Internal error", "the fake was told to fail");
        }
        dcf_merkle_root(nodes_get, &f->nodes, f->n, root);
        json_t *h = signed_head(k, f->n, f->ts += 1000, root);
        if (f->bad_sig)
            json_object_set_new(h, "timestamp", json_integer((json_int_t)f->ts + 1));
        json_array_append(f->issued, h);
        return h;
    }
    if (strcmp(url, "/v1/audit/sths") == 0) {
        uint64_t from = arg_u64(c, "cursor", 0), lim = arg_u64(c, "limit", 100);
        if (lim > f->page)
            lim = f->page;
        json_t *items = json_array();
        uint64_t i = from;
        for (; i < json_array_size(f->issued) && i < from + lim; i++)
            json_array_append(items, json_array_get(f->issued, i));
        char next[24];
        snprintf(next, sizeof next, "%llu", (unsigned long long)i);
        return json_pack("{s:o, s:s?}", "items", items, "next_cursor",
                         i < json_array_size(f->issued) ? next : NULL);
    }
    if (strcmp(url, "/v1/audit/entries") == 0) {
        uint64_t i = arg_u64(c, "cursor", 0), lim = arg_u64(c, "limit", 100);
        if (lim > f->page)
            lim = f->page;
        json_t *items = json_array();
        for (; i < f->n && json_array_size(items) < lim; i++) {
            if ((int64_t)i == f->skip)
                continue;
            if (party != NULL && (int64_t)i != f->show_to_all && !lists_party(f->texts[i], party))
                continue;
            char *t = strdup(f->texts[i]);
            if ((int64_t)i == f->alter_text)
                strstr(t, "operation.create")[0] = 'O';
            uint8_t leaf[HL];
            dcf_merkle_leaf_hash(t, strlen(t), leaf);
            if ((int64_t)i == f->wrong_leaf)
                leaf[0] ^= 1;
            json_array_append_new(items, json_pack("{s:I, s:s, s:o}", "index", (json_int_t)i,
                                                   "entry", t, "leaf_hash", b64(leaf, HL)));
            free(t);
        }
        char next[24];
        snprintf(next, sizeof next, "%llu", (unsigned long long)i);
        return json_pack("{s:o, s:s?}", "items", items, "next_cursor", i < f->n ? next : NULL);
    }
    if (strcmp(url, "/v1/audit/proof/inclusion") == 0) {
        uint64_t index = arg_u64(c, "index", 0), size = arg_u64(c, "tree_size", 0);
        if (size > f->n || dcf_merkle_inclusion_proof(nodes_get, &f->nodes, index, size, proof,
                                                      DCF_MERKLE_PROOF_MAX, &count) != DCF_OK) {
            *status = 404;
            return problem(404, "Not found", "no such entry");
        }
        uint8_t leaf[HL];
        nodes_get(&f->nodes, 0, index, leaf);
        return json_pack("{s:I, s:I, s:o, s:o}", "index", (json_int_t)index, "tree_size",
                         (json_int_t)size, "leaf_hash", b64(leaf, HL), "audit_path",
                         proof_json(proof, count));
    }
    if (strcmp(url, "/v1/audit/proof/consistency") == 0) {
        uint64_t m = arg_u64(c, "first", 0), n = arg_u64(c, "second", 0);
        if (n > f->n || dcf_merkle_consistency_proof(nodes_get, &f->nodes, m, n, proof,
                                                     DCF_MERKLE_PROOF_MAX, &count) != DCF_OK) {
            *status = 400;
            return problem(400, "Invalid query", "bad sizes");
        }
        return json_pack("{s:I, s:I, s:o}", "first", (json_int_t)m, "second", (json_int_t)n,
                         "consistency_path", proof_json(proof, count));
    }
    if (strcmp(url, "/big") == 0) {
        char big[5000];
        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        return json_pack("{s:s}", "big", big);
    }
    *status = 404;
    return problem(404, "Not found", "no such route");
}

static enum MHD_Result fake_handle(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *upload,
                                   size_t *upload_size, void **req) {
    fake_t *f = cls;
    (void)method, (void)version, (void)upload, (void)upload_size, (void)req;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *ua = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "User-Agent");
    const char *party = NULL;
    bool admin = false;
    json_t *out = NULL;
    int status = 401;
    char *text = NULL;

    pthread_mutex_lock(&f->mu);
    if (strcmp(url, "/notjson") == 0) {
        status = 200;
        text = strdup("hello");
    } else if (ua == NULL || strncmp(ua, "deconflict/", 11) != 0) {
        status = 400;
        out = problem(400, "Bad request", "no deconflict User-Agent");
    } else if (auth != NULL && strcmp(auth, "Bearer tok-admin") == 0) {
        admin = true;
    } else if (auth != NULL && strcmp(auth, "Bearer tok-blue") == 0) {
        party = "blue";
    } else if (auth != NULL && strcmp(auth, "Bearer tok-red") == 0) {
        party = "red";
    } else {
        out = problem(401, "Unauthorized", "no or bad token");
    }
    if (text == NULL && out == NULL)
        out = fake_route(f, c, url, party, admin, &status);
    if (text == NULL)
        text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    pthread_mutex_unlock(&f->mu);

    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type",
                            status == 200 ? "application/json" : "application/problem+json");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static void fake_start(fake_t *f) {
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    keypair(&f->key);
    keypair(&f->other);
    f->page = 7; /* the server clips limit=500: many pages */
    f->ts = TS0;
    f->issued = json_array();
    fake_reset_lies(f);
    f->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                            fake_handle, f, MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
    if (f->d == NULL) {
        fprintf(stderr, "cannot start the fake server\n");
        abort();
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%u/", (unsigned)di->port);
}

static void fake_stop(fake_t *f) {
    MHD_stop_daemon(f->d);
    for (size_t i = 0; i < f->n; i++)
        free(f->texts[i]);
    nodes_free(&f->nodes);
    json_decref(f->issued);
    pthread_mutex_destroy(&f->mu);
}

/* Run `deconflict audit ARGS... --json` in this process; returns the JSON it
 * printed (NULL if none) and the exit code in *code. */
static json_t *run_audit(int *code, const char *a0, ...) {
    char *argv[32], out[512], err[512];
    int argc = 0;
    va_list ap;
    argv[argc++] = (char *)"audit";
    va_start(ap, a0);
    for (const char *a = a0; a != NULL && argc < 30; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    path_in_tmp(out, sizeof out, "stdout.txt");
    path_in_tmp(err, sizeof err, "stderr.txt");
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fo, 1);
    dup2(fe, 2);
    close(fo);
    close(fe);
    *code = dcf_cli_audit(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    return json_load_file(out, 0, NULL);
}

static const char *jstr(const json_t *j, const char *a, const char *b) {
    const json_t *v = json_object_get(j, a);
    if (b != NULL)
        v = json_object_get(v, b);
    const char *s = json_string_value(v);
    return s ? s : "";
}

static long long jint(const json_t *j, const char *a, const char *b) {
    const json_t *v = json_object_get(j, a);
    if (b != NULL)
        v = json_object_get(v, b);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -999;
}

#define CHECK_ONLINE_FAIL(out, code, kind_, index_, word)                                          \
    do {                                                                                           \
        CHECK_INT(code, 1);                                                                        \
        CHECK_STR(jstr(out, "status", NULL), "failed");                                            \
        CHECK_STR(jstr(out, "first_failure", "kind"), kind_);                                      \
        CHECK_INT(jint(out, "first_failure", "index"), index_);                                    \
        CHECK_MSG(strstr(jstr(out, "first_failure", "reason"), word) != NULL,                      \
                  "reason \"%s\" lacks \"%s\"", jstr(out, "first_failure", "reason"), word);       \
    } while (0)

static char *slurp(const char *path) {
    char *buf = NULL, err[256];
    size_t len;
    return dcf_cli_read_file(path, 1u << 24, &buf, &len, err) == 0 ? buf : NULL;
}

/* A copy of the state file, for a run that must fail and not touch it. */
static void copy_file(const char *from, const char *to) {
    char *s = slurp(from);
    FILE *f = fopen(to, "w");
    if (s != NULL && f != NULL)
        fputs(s, f);
    if (f != NULL)
        fclose(f);
    free(s);
}

static void test_online(void) {
    fake_t f;
    char state[512], scratch[512], keyfile[512], exp[512];
    int code;
    json_t *out;
    struct stat sb;

    fake_start(&f);
    fake_set_size(&f, 40);
    path_in_tmp(state, sizeof state, "online-state.json");
    path_in_tmp(scratch, sizeof scratch, "online-scratch.json");
    path_in_tmp(keyfile, sizeof keyfile, "key.json");
    unlink(state);

    /* First use, the admin: the key is pinned, everything verifies. */
    out = run_audit(&code, "verify", "--url", f.url, "--token", "tok-admin", "--state", state,
                    "--json", NULL);
    CHECK_INT(code, 0);
    CHECK_STR(jstr(out, "status", NULL), "verified");
    CHECK_INT(jint(out, "entries", NULL), 40);
    CHECK(json_is_null(json_object_get(out, "party")));
    CHECK(json_is_true(json_object_get(out, "key_pinned_now")));
    CHECK_INT(jint(out, "tree_head", "tree_size"), 40);
    json_decref(out);
    CHECK(stat(state, &sb) == 0 && (sb.st_mode & 0777) == 0600);

    /* The log grows; party blue sees its entries; the earlier head is
     * consistent with the new one. */
    fake_set_size(&f, 45);
    out = run_audit(&code, "verify", "--url", f.url, "--token", "tok-blue", "--state", state,
                    "--json", NULL);
    CHECK_INT(code, 0);
    CHECK_STR(jstr(out, "party", NULL), "blue");
    CHECK_INT(jint(out, "entries", NULL), 30); /* i % 3 != 2 */
    CHECK_INT(jint(out, "consistent_with", NULL), 1);
    CHECK(json_is_false(json_object_get(out, "key_pinned_now")));
    json_decref(out);

    /* Red, with the key given as the JSON of GET /v1/audit/key. */
    FILE *kf = fopen(keyfile, "w");
    json_t *kj = json_pack("{s:o}", "public_key", b64(f.key.pk, 32));
    json_dumpf(kj, kf, 0);
    json_decref(kj);
    fclose(kf);
    out = run_audit(&code, "verify", "--url", f.url, "--token", "tok-red", "--state", state,
                    "--key-file", keyfile, "--json", NULL);
    CHECK_INT(code, 0);
    CHECK_INT(jint(out, "entries", NULL), 30); /* i % 3 != 0 */
    CHECK_INT(jint(out, "consistent_with", NULL), 2);
    json_decref(out);

    /* A state file now holding 2 heads (40, 45: the third is the same head
     * of size 45 re-issued with a new timestamp, so 3). */
    dcf_cli_audit_state_t st = {0};
    char err[256];
    CHECK_INT(dcf_cli_audit_state_load(state, &st, err), DCF_OK);
    CHECK_INT(st.n_heads, 3);
    CHECK(st.has_key && memcmp(st.key, f.key.pk, 32) == 0);
    dcf_cli_audit_state_free(&st);
    char *before = slurp(state);

    /* Lies, each against a scratch copy of the state. */
    struct {
        const char *token;
        int64_t *lie;
        int64_t at;
        const char *kind;
        int64_t index;
        const char *word;
    } lies[] = {
        {"tok-blue", &f.alter_text, 7, "entry", 7, "inclusion proof"},
        {"tok-admin", &f.alter_text, 8, "entry", 8, "inclusion proof"},
        {"tok-blue", &f.wrong_leaf, 10, "entry", 10, "leaf_hash"},
        {"tok-blue", &f.show_to_all, 5, "entry", 5, "does not name party blue"},
        {"tok-admin", &f.skip, 12, "entry", 12, "missing"},
        {"tok-admin", &f.skip, 44, "entry", 44, "missing"},
    };
    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        copy_file(state, scratch);
        fake_reset_lies(&f);
        pthread_mutex_lock(&f.mu);
        *lies[i].lie = lies[i].at;
        pthread_mutex_unlock(&f.mu);
        out = run_audit(&code, "verify", "--url", f.url, "--token", lies[i].token, "--state",
                        scratch, "--json", NULL);
        CHECK_ONLINE_FAIL(out, code, lies[i].kind, lies[i].index, lies[i].word);
        json_decref(out);
        char *after = slurp(scratch);
        CHECK(after != NULL && before != NULL && strcmp(after, before) == 0);
        free(after);
    }
    fake_reset_lies(&f);

    /* Another key. */
    copy_file(state, scratch);
    f.use_other_key = true;
    out = run_audit(&code, "verify", "--url", f.url, "--token", "tok-blue", "--state", scratch,
                    "--json", NULL);
    CHECK_ONLINE_FAIL(out, code, "key", -1, "not with the pinned key");
    json_decref(out);
    fake_reset_lies(&f);

    /* A head whose signature does not verify. */
    f.bad_sig = true;
    out = run_audit(&code, "verify", "--url", f.url, "--token", "tok-blue", "--state", scratch,
                    "--json", NULL);
    CHECK_ONLINE_FAIL(out, code, "tree head", -1, "signature");
    json_decref(out);
    fake_reset_lies(&f);

    /* An HTTP error: could not check. */
    f.sth_500 = true;
    out = run_audit(&code, "verify", "--url", f.url, "--token", "tok-blue", "--state", scratch,
                    "--json", NULL);
    CHECK_INT(code, 2);
    CHECK_STR(jstr(out, "status", NULL), "error");
    CHECK(strstr(jstr(out, "error", NULL), "Internal error") != NULL);
    json_decref(out);
    fake_reset_lies(&f);

    /* A bad token: could not check. */
    out = run_audit(&code, "verify", "--url", f.url, "--token", "tok-nobody", "--state", scratch,
                    "--json", NULL);
    CHECK_INT(code, 2);
    json_decref(out);

    /* A key on the command line that is not the pinned one. */
    char other_b64[64];
    sodium_bin2base64(other_b64, sizeof other_b64, f.other.pk, 32, sodium_base64_VARIANT_ORIGINAL);
    out = run_audit(&code, "verify", "--url", f.url, "--token", "tok-blue", "--state", scratch,
                    "--key", other_b64, "--json", NULL);
    CHECK_INT(code, 2);
    json_decref(out);

    /* The log rolled back to 30 entries: the earlier head of size 40 is the
     * first that fails. */
    fake_set_size(&f, 30);
    out = run_audit(&code, "verify", "--url", f.url, "--token", "tok-blue", "--state", scratch,
                    "--json", NULL);
    CHECK_ONLINE_FAIL(out, code, "tree head", 0, "shrank");
    json_decref(out);

    /* History rewritten: entry 2 (red's only) changed, the log regrown to 50
     * and re-signed.  Blue's own entries all verify; the consistency proof
     * with the earlier heads cannot. */
    fake_set_size(&f, 0);
    fake_set_size(&f, 50);
    pthread_mutex_lock(&f.mu);
    strstr(f.texts[2], "operation.create")[0] = 'O';
    fake_build(&f);
    pthread_mutex_unlock(&f.mu);
    out = run_audit(&code, "verify", "--url", f.url, "--token", "tok-blue", "--state", scratch,
                    "--json", NULL);
    CHECK_ONLINE_FAIL(out, code, "tree head", 0, "rewritten");
    CHECK_INT(jint(out, "entries", NULL), 34); /* blue's entries were all fine */
    json_decref(out);
    char *after = slurp(state);
    CHECK(after != NULL && before != NULL && strcmp(after, before) == 0);
    free(after);
    free(before);

    /* Export (admin) and verify it offline with the key. */
    fake_set_size(&f, 0);
    fake_set_size(&f, 50);
    path_in_tmp(exp, sizeof exp, "online-export.json");
    out = run_audit(&code, "export", "--url", f.url, "--token", "tok-blue", "--out", exp, NULL);
    CHECK_INT(code, 2); /* a party may not export */
    json_decref(out);
    out = run_audit(&code, "export", "--url", f.url, "--token", "tok-admin", "--out", exp, NULL);
    CHECK_INT(code, 0);
    json_decref(out);
    CHECK(stat(exp, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    dcf_cli_audit_report_t r;
    /* The heads served so far include the ones of the rolled-back and the
     * rewritten logs, so the export fails at the first of those. */
    CHECK_INT(dcf_cli_audit_verify_export(exp, f.key.pk, 0, &r), DCF_CLI_AUDIT_FAILED);
    CHECK_STR(r.kind, "tree head");
    pthread_mutex_lock(&f.mu);
    json_array_clear(f.issued);
    pthread_mutex_unlock(&f.mu);
    out = run_audit(&code, "verify", "--url", f.url, "--token", "tok-admin", "--state", scratch,
                    "--json", NULL);
    json_decref(out);
    out = run_audit(&code, "export", "--url", f.url, "--token", "tok-admin", "--out", exp, NULL);
    CHECK_INT(code, 0);
    json_decref(out);
    CHECK_INT(dcf_cli_audit_verify_export(exp, f.key.pk, 0, &r), DCF_CLI_AUDIT_VERIFIED);
    CHECK_INT(r.entries, 50);
    CHECK_INT(r.tree_heads, 1);
    out = run_audit(&code, "verify", "--export", exp, "--key", other_b64, "--json", NULL);
    CHECK_INT(code, 1);
    CHECK_STR(jstr(out, "first_failure", "kind"), "key");
    json_decref(out);

    /* The default state file lives under $XDG_STATE_HOME/deconflict. */
    char xdg[512], dir[600];
    path_in_tmp(xdg, sizeof xdg, "xdg");
    setenv("XDG_STATE_HOME", xdg, 1);
    out = run_audit(&code, "verify", "--url", f.url, "--token", "tok-admin", "--json", NULL);
    CHECK_INT(code, 0);
    const char *sp = jstr(out, "state", NULL);
    snprintf(dir, sizeof dir, "%s/deconflict/audit-", xdg);
    CHECK(strncmp(sp, dir, strlen(dir)) == 0 && strlen(sp) == strlen(dir) + 16 + 5);
    CHECK(stat(sp, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    json_decref(out);
    unsetenv("XDG_STATE_HOME");

    /* Bad arguments. */
    out = run_audit(&code, "verify", "--token", "tok-admin", NULL);
    CHECK_INT(code, 2);
    json_decref(out);
    out = run_audit(&code, "verify", "--url", "ftp://127.0.0.1/", "--token", "t", NULL);
    CHECK_INT(code, 2);
    json_decref(out);
    out = run_audit(&code, "frobnicate", NULL);
    CHECK_INT(code, 2);
    json_decref(out);

    fake_stop(&f);
}

static void test_client(void) {
    fake_t f;
    dcf_client_t *c = NULL;
    dcf_client_opts_t o;
    json_t *body = NULL;
    long status = 0;
    char err[DCF_CLIENT_ERR_LEN], buf[256];

    CHECK_INT(dcf_client_new("ftp://x", "t", NULL, &c), DCF_EINVAL);
    CHECK_INT(dcf_client_new("http://", "t", NULL, &c), DCF_EINVAL);
    CHECK_INT(dcf_client_new("http://x/", "a b", NULL, &c), DCF_EINVAL);
    CHECK_INT(dcf_client_new("http://x/\n", "t", NULL, &c), DCF_EINVAL);

    fake_start(&f);
    dcf_client_opts_default(&o);
    o.user_agent = "deconflict/test";
    o.max_response_bytes = 4096;
    CHECK_INT(dcf_client_new(f.url, "tok-admin", &o, &c), DCF_OK);
    CHECK(c != NULL && dcf_client_url(c)[strlen(dcf_client_url(c)) - 1] != '/');

    CHECK_INT(dcf_client_get(c, "/v1/whoami", &status, &body, err, sizeof err), DCF_OK);
    CHECK_INT(status, 200);
    CHECK_STR(jstr(body, "role", NULL), "admin");
    json_decref(body);

    /* A problem+json answer comes back parsed. */
    CHECK_INT(dcf_client_get(c, "/v1/nothing", &status, &body, err, sizeof err), DCF_OK);
    CHECK_INT(status, 404);
    CHECK_STR(dcf_client_describe(status, body, buf, sizeof buf),
              "Not found: no such route (HTTP 404)");
    json_decref(body);

    /* Over the response limit: a transport error. */
    CHECK_INT(dcf_client_get(c, "/big", &status, &body, err, sizeof err), DCF_EIO);
    CHECK(body == NULL && strstr(err, "limit") != NULL);

    /* A 200 that is not JSON. */
    CHECK_INT(dcf_client_get(c, "/notjson", &status, &body, err, sizeof err), DCF_EPARSE);
    CHECK(body == NULL);

    CHECK_INT(dcf_client_get(c, "no-slash", &status, &body, err, sizeof err), DCF_EINVAL);

    CHECK_INT(dcf_client_escape(c, "a/b c&d=é", buf, sizeof buf), DCF_OK);
    CHECK_STR(buf, "a%2Fb%20c%26d%3D%C3%A9");
    CHECK_INT(dcf_client_escape(c, "abcdef", buf, 4), DCF_ELIMIT);
    dcf_client_free(c);

    /* Nobody listening: a transport error with a message. */
    c = NULL;
    o.connect_timeout_ms = 2000;
    CHECK_INT(dcf_client_new("http://127.0.0.1:1", NULL, &o, &c), DCF_OK);
    CHECK_INT(dcf_client_get(c, "/v1/whoami", &status, &body, err, sizeof err), DCF_EIO);
    CHECK(err[0] != '\0');
    dcf_client_free(c);
    fake_stop(&f);
}

int main(void) {
    if (sodium_init() < 0)
        return 1;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dcf-audit-test-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return 1;
    RUN(test_export_good);
    RUN(test_export_changed_byte);
    RUN(test_export_dropped_and_swapped);
    RUN(test_export_heads);
    RUN(test_export_unreadable);
    RUN(test_state_round_trip);
    RUN(test_state_bad_files);
    RUN(test_client);
    RUN(test_online);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    TEST_DONE();
}
