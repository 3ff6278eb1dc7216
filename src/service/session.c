/*
 * session.c -- web console sessions: a token is exchanged once for a
 * session secret that the browser keeps in an HttpOnly, SameSite=Strict
 * cookie, plus a CSRF token that the console sends back in a header on
 * every state-changing request (docs/console.md).
 *
 * STORAGE.  Like tokens, a session is stored only as the BLAKE2b-256 hash
 * of its secret (table `sessions`), cached in memory under cache_lock.  A
 * session acts as the token it was made from: revoking that token ends the
 * session at once, and so do sign-out and the session's expiry.
 *
 * The CSRF token is random, per session, and compared in constant time.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "service_int.h"

typedef struct {
    char hash[SVC_HASH_HEX];
    char token_id[DCF_TOKEN_ID_MAX + 1];
    char csrf[DCF_SESSION_CSRF_LEN + 1];
    dcf_time_t expires_at;
    bool revoked;
} svc_session_t;

static void session_free(void *arg, const char *key, void *value) {
    (void)arg;
    (void)key;
    free(value);
}

void svc_sessions_close(dcf_service_t *s) {
    dcf_strmap_each(s->sessions, session_free, NULL);
    dcf_strmap_free(s->sessions);
}

/* Under cache_lock, or before other threads exist. */
static int cache_session(dcf_service_t *s, const char *hash, const char *token_id, const char *csrf,
                         dcf_time_t expires, bool revoked) {
    svc_session_t *x = calloc(1, sizeof *x);
    if (x == NULL)
        return DCF_ENOMEM;
    snprintf(x->hash, sizeof x->hash, "%s", hash);
    snprintf(x->token_id, sizeof x->token_id, "%s", token_id);
    snprintf(x->csrf, sizeof x->csrf, "%s", csrf);
    x->expires_at = expires;
    x->revoked = revoked;
    svc_session_t *old = dcf_strmap_get(s->sessions, x->hash);
    if (dcf_strmap_put(s->sessions, x->hash, x) != DCF_OK) {
        free(x);
        return DCF_ENOMEM;
    }
    free(old);
    return DCF_OK;
}

static int session_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    dcf_service_t *s = arg;
    char hash[SVC_HASH_HEX], token[DCF_TOKEN_ID_MAX + 1], csrf[DCF_SESSION_CSRF_LEN + 1];
    (void)nc;
    svc_text_copy(hash, sizeof hash, &c[0]);
    svc_text_copy(token, sizeof token, &c[1]);
    svc_text_copy(csrf, sizeof csrf, &c[2]);
    return cache_session(s, hash, token, csrf, c[3].u.i, c[4].type == DCF_STORE_INT);
}

int svc_sessions_open(dcf_service_t *s) {
    int rc = dcf_strmap_new(&s->sessions);
    if (rc == DCF_OK)
        rc = dcf_store_read(s->st,
                            "SELECT hash, token, csrf, expires_at, revoked_at FROM sessions "
                            "WHERE revoked_at IS NULL AND expires_at > $1",
                            &(dcf_store_val_t){.type = DCF_STORE_INT, .u.i = svc_now(s)}, 1,
                            session_row, s);
    return rc;
}

typedef struct {
    dcf_service_t *s;
    dcf_principal_t who;
    char hash[SVC_HASH_HEX];
    char csrf[DCF_SESSION_CSRF_LEN + 1];
    dcf_time_t now, expires;
    bool revoke;
} session_w_t;

static int session_fn(dcf_store_tx_t *tx, void *arg) {
    session_w_t *a = arg;
    int rc;
    char id[20];
    snprintf(id, sizeof id, "%.16s", a->hash); /* enough to tell sessions apart, not to use one */
    if (!a->revoke) {
        dcf_store_val_t v[5] = {dcf_store_val_text(a->hash, strlen(a->hash)),
                                dcf_store_val_text(a->who.token_id, strlen(a->who.token_id)),
                                dcf_store_val_text(a->csrf, strlen(a->csrf)),
                                dcf_store_val_int(a->now), dcf_store_val_int(a->expires)};
        rc = dcf_store_tx_exec(tx,
                               "INSERT INTO sessions (hash, token, csrf, created_at, expires_at) "
                               "VALUES ($1, $2, $3, $4, $5)",
                               v, 5, NULL);
    } else {
        dcf_store_val_t v[2] = {dcf_store_val_text(a->hash, strlen(a->hash)),
                                dcf_store_val_int(a->now)};
        rc = dcf_store_tx_exec(tx, "UPDATE sessions SET revoked_at = $2 WHERE hash = $1", v, 2,
                               NULL);
    }
    if (rc != DCF_OK)
        return rc;
    json_t *st = json_pack("{s:s, s:s, s:I, s:b}", "id", id, "token", a->who.token_id, "expires_at",
                           (json_int_t)a->expires, "revoked", a->revoke);
    svc_audit_obj_t o = {"session", id, st, NULL};
    const char *party = a->who.party;
    rc = st ? svc_audit_add(a->s, tx, &a->who, a->now, a->revoke ? "session.end" : "session.start",
                            &o, 1, &party, party[0] ? 1 : 0)
            : DCF_ENOMEM;
    json_decref(st);
    if (rc != DCF_OK)
        return rc;
    pthread_mutex_lock(&a->s->cache_lock);
    rc = cache_session(a->s, a->hash, a->who.token_id, a->csrf, a->expires, a->revoke);
    pthread_mutex_unlock(&a->s->cache_lock);
    return rc;
}

int dcf_session_create(dcf_service_t *s, const char *body, size_t len,
                       char secret[DCF_TOKEN_LEN + 1], json_t **out, dcf_problem_t *p) {
    static const char *const MEMBERS[] = {"token", NULL};
    json_t *j = NULL;
    session_w_t a = {.s = s};
    int rc = svc_parse_body(s, body, len, &j, p);
    if (rc != DCF_OK)
        return rc;
    if ((rc = svc_only_members(j, MEMBERS, "Invalid sign-in", p)) != DCF_OK)
        goto out;
    const char *token = json_string_value(json_object_get(j, "token"));
    if (token == NULL || dcf_service_authenticate(s, token, &a.who) != DCF_OK) {
        rc = svc_fail(p, DCF_EPERM, "unauthorized", "The token is unknown, malformed or revoked");
        goto out;
    }
    char hash[SVC_HASH_HEX];
    svc_token_secret(secret, hash);
    memcpy(a.hash, hash, sizeof a.hash);
    unsigned char raw[24];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(a.csrf, sizeof a.csrf, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    a.now = svc_now(s);
    a.expires = a.now + s->o.session_ttl_us;
    if ((rc = svc_write(s, session_fn, &a)) != DCF_OK) {
        sodium_memzero(secret, DCF_TOKEN_LEN + 1);
        rc = svc_internal(p, rc);
        goto out;
    }
    json_t *me = NULL;
    dcf_whoami(s, &a.who, &me);
    *out = json_pack("{s:s, s:o, s:o}", "csrf", a.csrf, "expires_at", svc_time_json(a.expires),
                     "whoami", me ? me : json_null());
    rc = *out ? DCF_OK : svc_internal(p, DCF_ENOMEM);
out:
    json_decref(j);
    return rc;
}

int dcf_session_authenticate(dcf_service_t *s, const char *secret, dcf_principal_t *who,
                             char csrf_out[DCF_SESSION_CSRF_LEN + 1]) {
    char hash[SVC_HASH_HEX], token_id[DCF_TOKEN_ID_MAX + 1];
    if (secret == NULL || strlen(secret) != DCF_TOKEN_LEN || strncmp(secret, "dcf_", 4) != 0)
        return DCF_ENOENT;
    svc_secret_hash(secret, hash);
    dcf_time_t now = svc_now(s);
    int rc = DCF_ENOENT;
    pthread_mutex_lock(&s->cache_lock);
    svc_session_t *x = dcf_strmap_get(s->sessions, hash);
    if (x != NULL && !x->revoked && x->expires_at > now) {
        snprintf(token_id, sizeof token_id, "%s", x->token_id);
        snprintf(csrf_out, DCF_SESSION_CSRF_LEN + 1, "%s", x->csrf);
        svc_token_t *t = dcf_strmap_get(s->tokens_by_id, token_id);
        if (t != NULL && !t->revoked) {
            svc_principal_of(s, t, who);
            rc = DCF_OK;
        }
    }
    pthread_mutex_unlock(&s->cache_lock);
    return rc;
}

int dcf_session_revoke(dcf_service_t *s, const char *secret, dcf_problem_t *p) {
    session_w_t a = {.s = s};
    char csrf[DCF_SESSION_CSRF_LEN + 1];
    if (dcf_session_authenticate(s, secret, &a.who, csrf) != DCF_OK)
        return svc_fail(p, DCF_ENOENT, "unauthorized", "No such session");
    svc_secret_hash(secret, a.hash);
    snprintf(a.csrf, sizeof a.csrf, "%s", csrf);
    a.revoke = true;
    a.now = svc_now(s);
    int rc = svc_write(s, session_fn, &a);
    return rc == DCF_OK ? DCF_OK : svc_internal(p, rc);
}

bool dcf_session_csrf_ok(const char *expected, const char *got) {
    size_t n = strlen(expected);
    return got != NULL && n > 0 && strlen(got) == n && sodium_memcmp(expected, got, n) == 0;
}
