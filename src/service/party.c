/*
 * party.c -- parties, their desks, API tokens and who may manage them.
 *
 * ACCESS.  The deployment admin manages every party and token.  A
 * party-admin manages its own party's desks and tokens.  Every party token
 * may read its own party; another party is "not found", exactly as one
 * that does not exist.  Token secrets are never stored: the row keeps the
 * BLAKE2b-256 hash (libsodium crypto_generichash) and the secret appears
 * once, in the create response.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "service_int.h"

static const char *const CONTACT_FIELDS[] = {"name", "phone", "email", "radio", "notes", NULL};

static bool slug_valid(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > DCF_PARTY_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i > 0);
        if (!ok)
            return false;
    }
    return true;
}

static int contact_check(json_t *c, const char *at, dcf_problem_t *p) {
    char ptr[160];
    const char *key;
    json_t *v;
    if (!json_is_object(c))
        return svc_invalid(p, "Invalid desk contact", at, "must be an object");
    json_object_foreach(c, key, v) {
        bool known = false;
        for (size_t i = 0; CONTACT_FIELDS[i] != NULL && !known; i++)
            known = strcmp(key, CONTACT_FIELDS[i]) == 0;
        snprintf(ptr, sizeof ptr, "%s/%.40s", at, key);
        if (!known)
            return svc_invalid(p, "Invalid desk contact", ptr, "is not a known member");
        if (!json_is_string(v) || !svc_text_ok(json_string_value(v), DCF_CONTACT_MAX, false, false))
            return svc_invalid(p, "Invalid desk contact", ptr,
                               "must be a string of 1..200 bytes without control characters");
    }
    return DCF_OK;
}

/* The party as JSON, under cache_lock. */
static json_t *party_json_locked(const svc_party_t *pt) {
    return json_pack("{s:s, s:s, s:o, s:O}", "id", pt->id, "name", pt->name, "created_at",
                     svc_time_json(pt->created_at), "desks", pt->desks);
}

static json_t *party_json(dcf_service_t *s, const char *id) {
    json_t *j = NULL;
    pthread_mutex_lock(&s->cache_lock);
    svc_party_t *pt = dcf_strmap_get(s->parties, id);
    if (pt != NULL)
        j = party_json_locked(pt);
    pthread_mutex_unlock(&s->cache_lock);
    return j;
}

static bool party_exists(dcf_service_t *s, const char *id) {
    pthread_mutex_lock(&s->cache_lock);
    bool ok = dcf_strmap_get(s->parties, id) != NULL;
    pthread_mutex_unlock(&s->cache_lock);
    return ok;
}

static int not_found(dcf_problem_t *p, const char *what) {
    return svc_fail(p, DCF_ENOENT, "not-found", "No such %s", what);
}

static int forbidden(dcf_problem_t *p) {
    return svc_fail(p, DCF_EPERM, "forbidden", "This token's role may not do this");
}

/* May `who` see party `id`?  Admin: any; a party token: its own. */
static bool sees_party(const dcf_principal_t *who, const char *id) {
    return who->role == DCF_ROLE_ADMIN || strcmp(who->party, id) == 0;
}

/* ------------------------------------------------------------ parties -- */

typedef struct {
    dcf_service_t *s;
    char id[DCF_PARTY_MAX + 1];
    char name[DCF_PARTY_NAME_MAX + 1];
    json_t *desks; /* borrowed: {"duty": {"contact": {...}}, ...} or NULL */
    dcf_time_t now;
    const dcf_principal_t *who;
} party_new_t;

/* One audit entry about a party-level object (party, desk, token). */
static int party_audit(dcf_service_t *s, dcf_store_tx_t *tx, const dcf_principal_t *who,
                       dcf_time_t now, const char *action, const char *type, const char *id,
                       json_t *state, const char *party) {
    svc_audit_obj_t o = {type, id, state, NULL};
    int rc = state == NULL ? DCF_ENOMEM
                           : svc_audit_add(s, tx, who, now, action, &o, 1, &party, party ? 1 : 0);
    json_decref(state);
    return rc;
}

static int desk_upsert(dcf_store_tx_t *tx, const char *party, const char *level, json_t *contact,
                       dcf_time_t now) {
    char *text = json_dumps(contact, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL)
        return DCF_ENOMEM;
    dcf_store_val_t v[4] = {dcf_store_val_text(party, strlen(party)),
                            dcf_store_val_text(level, strlen(level)),
                            dcf_store_val_text(text, strlen(text)), dcf_store_val_int(now)};
    int rc = dcf_store_tx_exec(tx,
                               "INSERT INTO desks (party, level, contact, updated_at) "
                               "VALUES ($1, $2, $3, $4) ON CONFLICT (party, level) DO UPDATE "
                               "SET contact = excluded.contact, updated_at = excluded.updated_at",
                               v, 4, NULL);
    free(text);
    return rc;
}

static void desk_cache(svc_party_t *pt, const char *level, json_t *contact, dcf_time_t now) {
    json_object_set_new(
        pt->desks, level,
        json_pack("{s:O, s:o}", "contact", contact, "updated_at", svc_time_json(now)));
}

static int party_new_fn(dcf_store_tx_t *tx, void *arg) {
    party_new_t *a = arg;
    dcf_service_t *s = a->s;
    const char *level;
    json_t *d;
    svc_party_t *pt;
    int rc;

    pthread_mutex_lock(&s->cache_lock);
    uint64_t tag = (uint64_t)s->n_parties + 1;
    bool exists = dcf_strmap_get(s->parties, a->id) != NULL;
    pthread_mutex_unlock(&s->cache_lock);
    if (exists)
        return DCF_EEXIST;
    if (tag > DCF_PARTIES_MAX)
        return DCF_ELIMIT;
    dcf_store_val_t v[4] = {dcf_store_val_text(a->id, strlen(a->id)),
                            dcf_store_val_text(a->name, strlen(a->name)),
                            dcf_store_val_int((int64_t)tag), dcf_store_val_int(a->now)};
    rc = dcf_store_tx_exec(tx,
                           "INSERT INTO parties (id, name, tag, created_at) "
                           "VALUES ($1, $2, $3, $4)",
                           v, 4, NULL);
    if (rc == DCF_ECONFLICT)
        return DCF_EEXIST;
    if (rc != DCF_OK)
        return rc;
    snprintf(s->audit.new_party, sizeof s->audit.new_party, "%s", a->id);
    s->audit.new_party_tag = tag;
    rc = party_audit(s, tx, a->who, a->now, "party.create", "party", a->id,
                     json_pack("{s:s, s:s, s:O?}", "id", a->id, "name", a->name, "desks", a->desks),
                     a->id);
    s->audit.new_party[0] = '\0';
    if (rc != DCF_OK)
        return rc;
    json_object_foreach(a->desks, level, d) {
        if ((rc = desk_upsert(tx, a->id, level, json_object_get(d, "contact"), a->now)) != DCF_OK)
            return rc;
    }
    pthread_mutex_lock(&s->cache_lock);
    rc = svc_cache_party(s, a->id, a->name, tag, a->now, &pt);
    if (rc == DCF_OK)
        json_object_foreach(a->desks, level, d)
            desk_cache(pt, level, json_object_get(d, "contact"), a->now);
    pthread_mutex_unlock(&s->cache_lock);
    return rc;
}

static int desks_check(json_t *desks, dcf_problem_t *p) {
    static const char *const DESK_MEMBERS[] = {"contact", NULL};
    const char *level;
    json_t *d;
    char at[64];
    if (!json_is_object(desks))
        return svc_invalid(p, "Invalid party", "/desks", "must be an object");
    json_object_foreach(desks, level, d) {
        snprintf(at, sizeof at, "/desks/%.20s", level);
        if (strcmp(level, "duty") != 0 && strcmp(level, "senior") != 0)
            return svc_invalid(p, "Invalid party", at, "must be \"duty\" or \"senior\"");
        if (!json_is_object(d))
            return svc_invalid(p, "Invalid party", at, "must be an object");
        dcf_problem_t sub = {0};
        if (svc_only_members(d, DESK_MEMBERS, "Invalid party", &sub) != DCF_OK) {
            dcf_problem_clear(&sub);
            return svc_invalid(p, "Invalid party", at, "may hold only \"contact\"");
        }
        json_t *c = json_object_get(d, "contact");
        snprintf(at, sizeof at, "/desks/%s/contact", level);
        if (c == NULL)
            return svc_invalid(p, "Invalid party", at, "is required");
        int rc = contact_check(c, at, p);
        if (rc != DCF_OK)
            return rc;
    }
    return DCF_OK;
}

int dcf_party_create(dcf_service_t *s, const dcf_principal_t *who, const char *body, size_t len,
                     json_t **out, dcf_problem_t *p) {
    static const char *const MEMBERS[] = {"id", "name", "desks", NULL};
    party_new_t a = {.s = s, .now = svc_now(s), .who = who};
    json_t *j = NULL, *v;
    int rc;

    if (who->role != DCF_ROLE_ADMIN)
        return forbidden(p);
    if ((rc = svc_parse_body(s, body, len, &j, p)) != DCF_OK)
        return rc;
    if ((rc = svc_only_members(j, MEMBERS, "Invalid party", p)) != DCF_OK)
        goto out;
    v = json_object_get(j, "id");
    if (v == NULL || !json_is_string(v) || !slug_valid(json_string_value(v))) {
        rc = svc_invalid(p, "Invalid party", "/id",
                         v == NULL ? "is required" : "must match [a-z0-9][a-z0-9-]{0,31}");
        goto out;
    }
    snprintf(a.id, sizeof a.id, "%s", json_string_value(v));
    v = json_object_get(j, "name");
    if (v == NULL || !json_is_string(v) ||
        !svc_text_ok(json_string_value(v), DCF_PARTY_NAME_MAX, false, false)) {
        rc = svc_invalid(p, "Invalid party", "/name",
                         v == NULL ? "is required"
                                   : "must be a string of 1..100 bytes without control "
                                     "characters");
        goto out;
    }
    snprintf(a.name, sizeof a.name, "%s", json_string_value(v));
    a.desks = json_object_get(j, "desks");
    if (a.desks != NULL && (rc = desks_check(a.desks, p)) != DCF_OK)
        goto out;
    rc = svc_write(s, party_new_fn, &a);
    if (rc == DCF_EEXIST) {
        rc = svc_fail(p, DCF_EEXIST, "exists", "A party with this id exists");
        goto out;
    }
    if (rc == DCF_ELIMIT) {
        rc = svc_fail(p, DCF_ELIMIT, "validation", "At most %d parties", DCF_PARTIES_MAX);
        goto out;
    }
    if (rc != DCF_OK) {
        rc = svc_internal(p, rc);
        goto out;
    }
    *out = party_json(s, a.id);
    rc = *out != NULL ? DCF_OK : svc_internal(p, DCF_ENOMEM);
out:
    json_decref(j);
    return rc;
}

int dcf_party_list(dcf_service_t *s, const dcf_principal_t *who, json_t **out, dcf_problem_t *p) {
    json_t *items = json_array();
    if (items == NULL)
        return svc_internal(p, DCF_ENOMEM);
    pthread_mutex_lock(&s->cache_lock);
    for (size_t i = 0; i < s->n_parties; i++)
        if (sees_party(who, s->party_list[i]->id))
            json_array_append_new(items, party_json_locked(s->party_list[i]));
    pthread_mutex_unlock(&s->cache_lock);
    *out = json_pack("{s:o}", "items", items);
    return *out != NULL ? DCF_OK : svc_internal(p, DCF_ENOMEM);
}

int dcf_party_get(dcf_service_t *s, const dcf_principal_t *who, const char *id, json_t **out,
                  dcf_problem_t *p) {
    if (!sees_party(who, id) || (*out = party_json(s, id)) == NULL)
        return not_found(p, "party");
    return DCF_OK;
}

typedef struct {
    dcf_service_t *s;
    const char *party, *level;
    json_t *contact;
    dcf_time_t now;
    const dcf_principal_t *who;
} desk_set_t;

static int desk_set_fn(dcf_store_tx_t *tx, void *arg) {
    desk_set_t *a = arg;
    int rc = desk_upsert(tx, a->party, a->level, a->contact, a->now);
    if (rc == DCF_OK) {
        char id[DCF_PARTY_MAX + 16];
        snprintf(id, sizeof id, "%s/%s", a->party, a->level);
        rc = party_audit(a->s, tx, a->who, a->now, "desk.set", "desk", id,
                         json_pack("{s:s, s:s, s:O}", "party", a->party, "level", a->level,
                                   "contact", a->contact),
                         a->party);
    }
    if (rc != DCF_OK)
        return rc;
    pthread_mutex_lock(&a->s->cache_lock);
    svc_party_t *pt = dcf_strmap_get(a->s->parties, a->party);
    if (pt != NULL)
        desk_cache(pt, a->level, a->contact, a->now);
    pthread_mutex_unlock(&a->s->cache_lock);
    return DCF_OK;
}

int dcf_party_set_desk(dcf_service_t *s, const dcf_principal_t *who, const char *id,
                       const char *level, const char *body, size_t len, json_t **out,
                       dcf_problem_t *p) {
    static const char *const MEMBERS[] = {"contact", NULL};
    json_t *j = NULL;
    int rc;
    if (who->role != DCF_ROLE_ADMIN && who->role != DCF_ROLE_PARTY_ADMIN)
        return forbidden(p);
    if (!sees_party(who, id) || !party_exists(s, id))
        return not_found(p, "party");
    if (strcmp(level, "duty") != 0 && strcmp(level, "senior") != 0)
        return not_found(p, "desk (levels are duty and senior)");
    if ((rc = svc_parse_body(s, body, len, &j, p)) != DCF_OK)
        return rc;
    if ((rc = svc_only_members(j, MEMBERS, "Invalid desk", p)) != DCF_OK)
        goto out;
    desk_set_t a = {s, id, level, json_object_get(j, "contact"), svc_now(s), who};
    if (a.contact == NULL) {
        rc = svc_invalid(p, "Invalid desk", "/contact", "is required");
        goto out;
    }
    if ((rc = contact_check(a.contact, "/contact", p)) != DCF_OK)
        goto out;
    rc = svc_write(s, desk_set_fn, &a);
    if (rc != DCF_OK) {
        rc = svc_internal(p, rc);
        goto out;
    }
    *out = party_json(s, id);
out:
    json_decref(j);
    return rc;
}

/* ------------------------------------------------------------- tokens -- */

typedef struct {
    dcf_service_t *s;
    char id[DCF_TOKEN_ID_MAX + 1];
    char secret[DCF_TOKEN_LEN + 1];
    char hash[SVC_HASH_HEX];
    const char *party; /* NULL: deployment */
    dcf_role_t role;
    char label[DCF_LABEL_MAX + 1];
    dcf_time_t now;
    bool only_if_first_admin;
    const dcf_principal_t *who; /* NULL: deconflict init */
} token_new_t;

static int token_new_fn(dcf_store_tx_t *tx, void *arg) {
    token_new_t *a = arg;
    const char *role = dcf_role_name(a->role);
    int rc;
    if (a->only_if_first_admin) {
        int64_t n = 0;
        rc = dcf_store_tx_query(tx, "SELECT COUNT(*) FROM tokens WHERE role = 'admin'", NULL, 0,
                                svc_int_row, &n);
        if (rc != DCF_OK)
            return rc;
        if (n > 0)
            return DCF_EEXIST;
    }
    dcf_store_val_t v[6] = {dcf_store_val_text(a->id, strlen(a->id)),
                            a->party ? dcf_store_val_text(a->party, strlen(a->party))
                                     : dcf_store_val_null(),
                            dcf_store_val_text(role, strlen(role)),
                            dcf_store_val_text(a->label, strlen(a->label)),
                            dcf_store_val_text(a->hash, strlen(a->hash)),
                            dcf_store_val_int(a->now)};
    rc = dcf_store_tx_exec(tx,
                           "INSERT INTO tokens (id, party, role, label, hash, created_at) "
                           "VALUES ($1, $2, $3, $4, $5, $6)",
                           v, 6, NULL);
    if (rc == DCF_OK) /* never the secret or its hash */
        rc = party_audit(a->s, tx, a->who, a->now, "token.create", "token", a->id,
                         json_pack("{s:s, s:s?, s:s, s:s}", "id", a->id, "party", a->party, "role",
                                   role, "label", a->label),
                         a->party);
    if (rc != DCF_OK)
        return rc;
    pthread_mutex_lock(&a->s->cache_lock);
    rc = svc_cache_token(a->s, a->id, a->hash, a->party, a->role, false);
    pthread_mutex_unlock(&a->s->cache_lock);
    return rc;
}

static json_t *token_json(const char *id, const char *party, const char *role, const char *label,
                          dcf_time_t created, dcf_time_t revoked) {
    return json_pack("{s:s, s:s?, s:s, s:s, s:o, s:o}", "id", id, "party",
                     party && party[0] ? party : NULL, "role", role, "label", label, "created_at",
                     svc_time_json(created), "revoked_at",
                     revoked ? svc_time_json(revoked) : json_null());
}

static int token_write(dcf_service_t *s, token_new_t *a) {
    svc_random_id("tok-", a->id, sizeof a->id);
    svc_token_secret(a->secret, a->hash);
    a->s = s;
    a->now = svc_now(s);
    return svc_write(s, token_new_fn, a);
}

int dcf_service_init_admin(dcf_service_t *s, char *secret_out, size_t len) {
    token_new_t a = {.role = DCF_ROLE_ADMIN, .only_if_first_admin = true};
    snprintf(a.label, sizeof a.label, "created by deconflict init");
    int rc = token_write(s, &a);
    if (rc == DCF_OK)
        snprintf(secret_out, len, "%s", a.secret);
    sodium_memzero(a.secret, sizeof a.secret);
    return rc;
}

int dcf_token_create(dcf_service_t *s, const dcf_principal_t *who, const char *party,
                     const char *body, size_t len, json_t **out, dcf_problem_t *p) {
    static const char *const MEMBERS[] = {"role", "label", NULL};
    token_new_t a = {.party = party, .who = who};
    json_t *j = NULL, *v;
    int rc;

    if (who->role != DCF_ROLE_ADMIN && (who->role != DCF_ROLE_PARTY_ADMIN || party == NULL))
        return forbidden(p);
    if (party != NULL && (!sees_party(who, party) || !party_exists(s, party)))
        return not_found(p, "party");
    if ((rc = svc_parse_body(s, body, len, &j, p)) != DCF_OK)
        return rc;
    if ((rc = svc_only_members(j, MEMBERS, "Invalid token", p)) != DCF_OK)
        goto out;
    v = json_object_get(j, "role");
    if (v == NULL || !json_is_string(v) ||
        dcf_role_parse(json_string_value(v), &a.role) != DCF_OK) {
        rc = svc_invalid(p, "Invalid token", "/role",
                         v == NULL ? "is required"
                                   : "must be one of admin, party-admin, planner, duty, viewer");
        goto out;
    }
    if (party != NULL && a.role == DCF_ROLE_ADMIN && who->role != DCF_ROLE_ADMIN) {
        rc = forbidden(p); /* a party-admin may not mint deployment admins */
        goto out;
    }
    if (party != NULL && a.role == DCF_ROLE_ADMIN) {
        rc = svc_invalid(p, "Invalid token", "/role",
                         "admin tokens belong to the deployment (POST /v1/tokens)");
        goto out;
    }
    if (party == NULL && a.role != DCF_ROLE_ADMIN) {
        rc = svc_invalid(p, "Invalid token", "/role",
                         "a deployment token must be admin; party tokens are made under "
                         "/v1/parties/{id}/tokens");
        goto out;
    }
    v = json_object_get(j, "label");
    if (v != NULL &&
        (!json_is_string(v) || !svc_text_ok(json_string_value(v), DCF_LABEL_MAX, true, false))) {
        rc = svc_invalid(p, "Invalid token", "/label",
                         "must be a string of 0..100 bytes without control characters");
        goto out;
    }
    snprintf(a.label, sizeof a.label, "%s", v ? json_string_value(v) : "");
    rc = token_write(s, &a);
    if (rc != DCF_OK) {
        rc = svc_internal(p, rc);
        goto out;
    }
    *out = token_json(a.id, party, dcf_role_name(a.role), a.label, a.now, 0);
    json_object_set_new(*out, "token", json_string(a.secret));
out:
    sodium_memzero(a.secret, sizeof a.secret);
    json_decref(j);
    return rc;
}

static int token_list_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    char id[DCF_TOKEN_ID_MAX + 1], party[DCF_PARTY_MAX + 1], role[32], label[DCF_LABEL_MAX + 1];
    (void)nc;
    svc_text_copy(id, sizeof id, &c[0]);
    svc_text_copy(party, sizeof party, &c[1]);
    svc_text_copy(role, sizeof role, &c[2]);
    svc_text_copy(label, sizeof label, &c[3]);
    json_array_append_new(arg, token_json(id, party, role, label, c[4].u.i,
                                          c[5].type == DCF_STORE_INT ? c[5].u.i : 0));
    return 0;
}

int dcf_token_list(dcf_service_t *s, const dcf_principal_t *who, const char *party, json_t **out,
                   dcf_problem_t *p) {
    int rc;
    if (who->role != DCF_ROLE_ADMIN && who->role != DCF_ROLE_PARTY_ADMIN)
        return forbidden(p);
    if (!sees_party(who, party) || !party_exists(s, party))
        return not_found(p, "party");
    json_t *items = json_array();
    dcf_store_val_t v = dcf_store_val_text(party, strlen(party));
    rc = dcf_store_read(s->st,
                        "SELECT id, party, role, label, created_at, revoked_at FROM tokens "
                        "WHERE party = $1 ORDER BY created_at, id",
                        &v, 1, token_list_row, items);
    if (rc != DCF_OK) {
        json_decref(items);
        return svc_internal(p, rc);
    }
    *out = json_pack("{s:o}", "items", items);
    return DCF_OK;
}

typedef struct {
    dcf_service_t *s;
    const char *id;
    const dcf_principal_t *who;
    const char *party; /* the token's, "" for a deployment token */
} revoke_t;

static int revoke_fn(dcf_store_tx_t *tx, void *arg) {
    revoke_t *a = arg;
    dcf_store_val_t v[2] = {dcf_store_val_int(svc_now(a->s)),
                            dcf_store_val_text(a->id, strlen(a->id))};
    int64_t changed = 0;
    int rc = dcf_store_tx_exec(tx,
                               "UPDATE tokens SET revoked_at = $1 "
                               "WHERE id = $2 AND revoked_at IS NULL",
                               v, 2, &changed);
    if (rc == DCF_OK && changed > 0)
        rc = party_audit(a->s, tx, a->who, v[0].u.i, "token.revoke", "token", a->id,
                         json_pack("{s:s, s:b}", "id", a->id, "revoked", 1), a->party);
    if (rc != DCF_OK)
        return rc;
    pthread_mutex_lock(&a->s->cache_lock);
    svc_token_t *t = dcf_strmap_get(a->s->tokens_by_id, a->id);
    if (t != NULL)
        t->revoked = true;
    pthread_mutex_unlock(&a->s->cache_lock);
    return DCF_OK;
}

int dcf_token_revoke(dcf_service_t *s, const dcf_principal_t *who, const char *id,
                     dcf_problem_t *p) {
    char party[DCF_PARTY_MAX + 1] = "";
    bool found = false;
    pthread_mutex_lock(&s->cache_lock);
    svc_token_t *t = dcf_strmap_get(s->tokens_by_id, id);
    if (t != NULL) {
        found = true;
        snprintf(party, sizeof party, "%s", t->party);
    }
    pthread_mutex_unlock(&s->cache_lock);
    if (who->role != DCF_ROLE_ADMIN && who->role != DCF_ROLE_PARTY_ADMIN)
        return forbidden(p);
    if (!found || (who->role != DCF_ROLE_ADMIN && strcmp(party, who->party) != 0))
        return not_found(p, "token");
    revoke_t a = {s, id, who, party};
    int rc = svc_write(s, revoke_fn, &a);
    return rc == DCF_OK ? DCF_OK : svc_internal(p, rc);
}

int dcf_whoami(dcf_service_t *s, const dcf_principal_t *who, json_t **out) {
    json_t *name = json_null();
    if (who->party[0] != '\0') {
        pthread_mutex_lock(&s->cache_lock);
        svc_party_t *pt = dcf_strmap_get(s->parties, who->party);
        if (pt != NULL)
            name = json_string(pt->name);
        pthread_mutex_unlock(&s->cache_lock);
    }
    *out = json_pack("{s:s, s:s?, s:s, s:o}", "token", who->token_id, "party",
                     who->party[0] ? who->party : NULL, "role", dcf_role_name(who->role),
                     "party_name", name);
    return *out != NULL ? DCF_OK : DCF_ENOMEM;
}
