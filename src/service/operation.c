/*
 * operation.c -- operations through their lifecycle: create (with the
 * conflict check, in the same write), read, list, update with optimistic
 * versioning, state changes, the automatic completion sweep and the
 * store-nothing check.
 *
 * INVARIANTS.  An operation row's `body` is the canonical model JSON
 * (dcf_operation_to_json, with id and party); `version` starts at 1 and
 * grows by one with every change; `t_start`/`t_end` are the earliest start
 * and latest end of its volumes and west/south/east/north the union of its
 * footprints' boxes (the whole longitude range when it crosses the
 * antimeridian).  An operation is in the engine exactly when its state is
 * planned or active.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "service_int.h"

static const char *const OP_STATES[DCF_OP_STATE_COUNT] = {"planned", "active", "completed",
                                                          "cancelled"};

const char *dcf_op_state_name(dcf_op_state_t s) {
    return (unsigned)s < DCF_OP_STATE_COUNT ? OP_STATES[s] : NULL;
}

int dcf_op_state_parse(const char *s, size_t len, dcf_op_state_t *out) {
    for (int i = 0; i < DCF_OP_STATE_COUNT; i++)
        if (strlen(OP_STATES[i]) == len && memcmp(s, OP_STATES[i], len) == 0) {
            *out = (dcf_op_state_t)i;
            return DCF_OK;
        }
    return DCF_EINVAL;
}

json_t *svc_op_resource(const char *body, size_t len, int64_t version, const char *state,
                        dcf_time_t created, dcf_time_t updated) {
    json_t *j = json_loadb(body, len, 0, NULL);
    if (j == NULL)
        return NULL;
    json_object_set_new(j, "version", json_integer(version));
    json_object_set_new(j, "state", json_string(state));
    json_object_set_new(j, "created_at", svc_time_json(created));
    json_object_set_new(j, "updated_at", svc_time_json(updated));
    return j;
}

typedef struct {
    dcf_time_t t_start, t_end;
    double west, south, east, north;
} span_t;

static void op_span(const dcf_operation_t *op, span_t *sp) {
    sp->t_start = INT64_MAX;
    sp->t_end = INT64_MIN;
    sp->west = 180;
    sp->east = -180;
    sp->south = 90;
    sp->north = -90;
    for (size_t i = 0; i < op->n_volumes; i++) {
        const dcf_volume_t *v = &op->volumes[i];
        dcf_bbox_t b;
        if (v->t_start < sp->t_start)
            sp->t_start = v->t_start;
        if (v->t_end > sp->t_end)
            sp->t_end = v->t_end;
        dcf_footprint_bbox(v->footprint, &b);
        if (b.lng_lo > b.lng_hi) {
            b.lng_lo = -180;
            b.lng_hi = 180;
        }
        if (b.lng_lo < sp->west)
            sp->west = b.lng_lo;
        if (b.lng_hi > sp->east)
            sp->east = b.lng_hi;
        if (b.lat_lo < sp->south)
            sp->south = b.lat_lo;
        if (b.lat_hi > sp->north)
            sp->north = b.lat_hi;
    }
}

/* Parse a create/update/check body into an operation of the caller's party.
 * `id` is the id to give it (NULL: leave empty; the body may not carry one
 * unless it equals `id`). */
static int op_parse(dcf_service_t *s, const dcf_principal_t *who, const char *body, size_t len,
                    const char *id, dcf_operation_t **out, dcf_problem_t *p) {
    json_t *j = NULL, *v;
    dcf_geo_error_t ge;
    int rc;
    if ((rc = svc_parse_body(s, body, len, &j, p)) != DCF_OK)
        return rc;
    v = json_object_get(j, "id");
    if (v != NULL && (id == NULL || !json_is_string(v) || strcmp(json_string_value(v), id) != 0)) {
        rc = svc_invalid(p, "Invalid operation", "/id",
                         id == NULL ? "is assigned by the server; leave it out"
                                    : "must be left out or equal the operation's id");
        goto out;
    }
    v = json_object_get(j, "party");
    if (v != NULL && (!json_is_string(v) || strcmp(json_string_value(v), who->party) != 0)) {
        char rule[96];
        snprintf(rule, sizeof rule, "must be left out or equal your own party (%s)", who->party);
        rc = svc_invalid(p, "Invalid operation", "/party", rule);
        goto out;
    }
    json_object_del(j, "id");
    json_object_del(j, "party");
    memset(&ge, 0, sizeof ge);
    rc = dcf_operation_from_json(j, &s->o.limits, 0, "", out, &ge);
    if (rc != DCF_OK) {
        if (rc == DCF_ENOMEM) {
            rc = svc_internal(p, rc);
        } else {
            svc_invalid(p, "Invalid operation", ge.pointer, ge.rule);
            rc = DCF_EINVAL;
        }
        goto out;
    }
    snprintf((*out)->party, sizeof(*out)->party, "%s", who->party);
    if (id != NULL)
        snprintf((*out)->id, sizeof(*out)->id, "%s", id);
out:
    json_decref(j);
    return rc;
}

/* Notice and "already over" rules.  `old` is the stored version on update. */
static int op_times_check(dcf_service_t *s, const dcf_operation_t *op, const dcf_operation_t *old,
                          dcf_time_t now, dcf_problem_t *p) {
    char ptr[64];
    size_t first = 0;
    span_t sp, osp;
    op_span(op, &sp);
    for (size_t i = 0; i < op->n_volumes; i++) {
        if (op->volumes[i].t_start < op->volumes[first].t_start)
            first = i;
        if (old == NULL && op->volumes[i].t_end <= now) {
            snprintf(ptr, sizeof ptr, "/volumes/%zu/time/end", i);
            return svc_invalid(p, "Invalid operation", ptr, "has already passed");
        }
    }
    if (old != NULL && sp.t_end <= now)
        return svc_invalid(p, "Invalid operation", "/volumes",
                           "every volume would already be over");
    if (old != NULL) {
        op_span(old, &osp);
        if (osp.t_start == sp.t_start)
            return DCF_OK; /* the start did not move: notice was given before */
    }
    if (sp.t_start < now + s->o.notice_us && !op->exigent) {
        char rule[160];
        snprintf(ptr, sizeof ptr, "/volumes/%zu/time/start", first);
        snprintf(rule, sizeof rule,
                 "starts within the %lld s notice period; set \"exigent\": true with an "
                 "\"exigent_reason\"",
                 (long long)(s->o.notice_us / DCF_USEC_PER_SEC));
        svc_invalid(p, "Not enough notice", ptr, rule);
        p->type = "notice";
        return DCF_EINVAL;
    }
    return DCF_OK;
}

/* Strict policy: a conflict with an operation of equal or higher priority. */
static bool strict_refuses(dcf_service_t *s, const dcf_operation_t *op,
                           const svc_found_list_t *found) {
    if (s->o.policy != DCF_POLICY_STRICT)
        return false;
    for (size_t i = 0; i < found->n; i++) {
        json_t *pr = json_object_get(found->v[i].other_side, "priority");
        if (json_integer_value(pr) >= op->priority)
            return true;
    }
    return false;
}

static json_t *check_views(dcf_service_t *s, const svc_found_list_t *found) {
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < found->n; i++)
        json_array_append_new(a, svc_check_view(s, &found->v[i]));
    return a;
}

/* ------------------------------------------------------------ writing -- */

typedef struct {
    dcf_service_t *s;
    const dcf_principal_t *who; /* NULL for the sweep */
    const char *id;
    dcf_operation_t *op; /* new version (owned until the engine takes it) */
    char *body;          /* op's canonical row JSON, made before the write (op_prepare) */
    unsigned char *prep; /* op's binary form (dcf_operation_pack), for start-up */
    size_t prep_len;
    const char *if_match;
    dcf_op_state_t to;
    dcf_time_t now;
    /* results */
    int64_t version;
    json_t *resource, *views;
    json_t *refused;         /* strict policy: the caller's views of the blocking conflicts */
    dcf_problem_t time_rule; /* a notice / time rule broken, found inside the write */
    svc_notify_t notify;
    bool not_found, stale, bad_state;
    char state[16];
} opw_t;

typedef struct {
    char party[DCF_PARTY_MAX + 1];
    char state[16];
    int64_t version;
    dcf_time_t created;
    int64_t seq;
} oprow_t;

static int oprow_cb(void *arg, const dcf_store_val_t *c, size_t nc) {
    oprow_t *r = arg;
    (void)nc;
    svc_text_copy(r->party, sizeof r->party, &c[0]);
    svc_text_copy(r->state, sizeof r->state, &c[1]);
    r->version = c[2].u.i;
    r->created = c[3].u.i;
    r->seq = c[4].u.i;
    return 0;
}

/* Load the row of w->id for the caller; sets not_found / stale. */
static int op_load_row(dcf_store_tx_t *tx, opw_t *w, oprow_t *row) {
    dcf_store_val_t k = dcf_store_val_text(w->id, strlen(w->id));
    memset(row, 0, sizeof *row);
    int rc = dcf_store_tx_query(tx,
                                "SELECT party, state, version, created_at, seq FROM operations "
                                "WHERE id = $1",
                                &k, 1, oprow_cb, row);
    if (rc != DCF_OK)
        return rc;
    if (row->version == 0 || (w->who != NULL && strcmp(row->party, w->who->party) != 0)) {
        w->not_found = true;
        return DCF_ENOENT;
    }
    if (w->if_match != NULL) {
        char etag[24];
        svc_etag(row->version, etag);
        if (strcmp(w->if_match, etag) != 0 && strcmp(w->if_match, "*") != 0) {
            w->stale = true;
            return DCF_ESTATE;
        }
    }
    return DCF_OK;
}

/* The owner's event about w, and its audit entry `action` (the digest is
 * of the stored model text, state and version). */
static int op_event(dcf_service_t *s, dcf_store_tx_t *tx, opw_t *w, const char *party,
                    const char *type, const char *action) {
    json_t *d = json_pack("{s:s, s:I, s:s}", "operation", w->id, "version", (json_int_t)w->version,
                          "state", w->state);
    if (d == NULL)
        return DCF_ENOMEM;
    int rc = svc_event_add(s, tx, party, type, d, w->now, &w->notify);
    json_decref(d);
    if (rc != DCF_OK)
        return rc;
    /* The digest: SHA-256 of model text, state and version joined by
     * newlines (the model is empty for a state change). */
    char ver[24], hex[SVC_HASH_HEX];
    snprintf(ver, sizeof ver, "%lld", (long long)w->version);
    const char *parts[3] = {w->body ? w->body : "", w->state, ver};
    size_t lens[3] = {strlen(parts[0]), strlen(parts[1]), strlen(parts[2])};
    svc_audit_digest_text(parts, lens, 3, hex);
    svc_audit_obj_t o = {"operation", w->id, NULL, hex};
    return svc_audit_add(s, tx, w->who, w->now, action, &o, 1, &party, 1);
}

/* Before the write, on the caller's thread: the row's canonical JSON and
 * the resource it grows into (the writer then only adds the version, state
 * and times), so the writer thread neither serialises the model nor parses
 * it back. */
static int op_prepare(opw_t *w) {
    w->resource = dcf_operation_to_json(w->op);
    w->body = w->resource ? json_dumps(w->resource, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    if (w->body == NULL)
        return DCF_ENOMEM;
    return dcf_operation_pack(w->op, &w->prep, &w->prep_len);
}

/* INSERT (version 1) or UPDATE the row of operation `seq` from w->op and
 * w->body, and its binary form in op_prep (migration 7). */
static int op_save(dcf_store_tx_t *tx, opw_t *w, bool insert, int64_t seq, dcf_time_t created) {
    span_t sp;
    int rc;
    op_span(w->op, &sp);
    dcf_store_val_t v[13] = {
        dcf_store_val_text(w->id, strlen(w->id)),
        dcf_store_val_int(w->version),
        dcf_store_val_text(w->state, strlen(w->state)),
        dcf_store_val_int(sp.t_start),
        dcf_store_val_int(sp.t_end),
        dcf_store_val_real(sp.west),
        dcf_store_val_real(sp.south),
        dcf_store_val_real(sp.east),
        dcf_store_val_real(sp.north),
        dcf_store_val_text(w->body, strlen(w->body)),
        dcf_store_val_int(w->now),
        dcf_store_val_int(seq),
        dcf_store_val_text(w->op->party, strlen(w->op->party)),
    };
    dcf_store_val_t pv[2] = {dcf_store_val_int(seq), dcf_store_val_blob(w->prep, w->prep_len)};
    if (insert)
        rc = dcf_store_tx_exec(tx,
                               "INSERT INTO operations (id, version, state, t_start, t_end, west, "
                               "south, east, north, body, updated_at, seq, party, created_at) "
                               "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
                               "$11)",
                               v, 13, NULL);
    else
        rc = dcf_store_tx_exec(tx,
                               "UPDATE operations SET version = $2, state = $3, t_start = $4, "
                               "t_end = $5, west = $6, south = $7, east = $8, north = $9, "
                               "body = $10, updated_at = $11 WHERE id = $1",
                               v, 11, NULL);
    if (rc == DCF_OK)
        rc = dcf_store_tx_exec(tx,
                               insert ? "INSERT INTO op_prep (seq, prep) VALUES ($1, $2)"
                                      : "UPDATE op_prep SET prep = $2 WHERE seq = $1",
                               pv, 2, NULL);
    if (rc == DCF_OK) {
        json_t *r = w->resource;
        if (json_object_set_new(r, "version", json_integer(w->version)) != 0 ||
            json_object_set_new(r, "state", json_string(w->state)) != 0 ||
            json_object_set_new(r, "created_at", svc_time_json(insert ? w->now : created)) != 0 ||
            json_object_set_new(r, "updated_at", svc_time_json(w->now)) != 0)
            rc = DCF_ENOMEM;
    }
    return rc;
}

/* The SQL half of a create (insert) or an update of w->op, inside the
 * write: the engine's conflicts, the strict policy, the row, the owner's
 * event and audit entry, the conflict rows, and the disclosure of the views
 * the answer will show.  The caller then changes the engine. */
static int op_write_checked(dcf_store_tx_t *tx, opw_t *w, bool insert, int64_t seq,
                            dcf_time_t created, const char *event, const char *action) {
    dcf_service_t *s = w->s;
    svc_found_list_t found = {0};
    int rc;

    if ((rc = svc_find_conflicts(s, NULL, w->op, &found)) != DCF_OK)
        goto out;
    if (strict_refuses(s, w->op, &found)) {
        w->refused = check_views(s, &found);
        rc = DCF_ECONFLICT;
        goto out;
    }
    if ((rc = op_save(tx, w, insert, seq, created)) != DCF_OK)
        goto out;
    w->views = json_array();
    rc = op_event(s, tx, w, w->op->party, event, action);
    if (rc == DCF_OK)
        rc = svc_conflicts_sync(s, tx, w->who, w->op, insert, &found, w->now, w->resource, w->views,
                                &w->notify);
    if (rc == DCF_OK) /* the answer shows these views */
        rc = svc_audit_disclose(s, tx, w->who, w->now, w->views);
out:
    svc_found_clear(&found);
    return rc;
}

static int create_fn(dcf_store_tx_t *tx, void *arg) {
    opw_t *w = arg;
    dcf_service_t *s = w->s;
    int rc;

    w->version = 1;
    snprintf(w->state, sizeof w->state, "planned");
    rc = op_write_checked(tx, w, true, s->op_seq + 1, w->now, "operation.created",
                          "operation.create");
    if (rc != DCF_OK)
        return rc;
    pthread_rwlock_wrlock(&s->eng_lock);
    rc = dcf_engine_add(s->eng, w->op);
    pthread_rwlock_unlock(&s->eng_lock);
    if (rc == DCF_OK) {
        w->op = NULL; /* the engine owns it */
        s->op_seq++;
    }
    return rc;
}

static int update_fn(dcf_store_tx_t *tx, void *arg) {
    opw_t *w = arg;
    dcf_service_t *s = w->s;
    oprow_t row;
    int rc;

    if ((rc = op_load_row(tx, w, &row)) != DCF_OK)
        return rc;
    if (strcmp(row.state, "planned") != 0 && strcmp(row.state, "active") != 0) {
        w->bad_state = true;
        snprintf(w->state, sizeof w->state, "%s", row.state);
        return DCF_ESTATE;
    }
    const dcf_operation_t *old = dcf_engine_get(s->eng, w->id);
    if ((rc = op_times_check(s, w->op, old, w->now, &w->time_rule)) != DCF_OK)
        return rc;
    w->version = row.version + 1;
    snprintf(w->state, sizeof w->state, "%s", row.state);
    rc = op_write_checked(tx, w, false, row.seq, row.created, "operation.updated",
                          "operation.update");
    if (rc != DCF_OK)
        return rc;
    pthread_rwlock_wrlock(&s->eng_lock);
    dcf_engine_remove(s->eng, w->id);
    rc = dcf_engine_add(s->eng, w->op);
    pthread_rwlock_unlock(&s->eng_lock);
    if (rc != DCF_OK)
        svc_fail_stop(rc); /* the old version is gone from memory but not from disk */
    w->op = NULL;
    return rc;
}

static bool transition_ok(const char *from, dcf_op_state_t to, bool sweep) {
    bool planned = strcmp(from, "planned") == 0, active = strcmp(from, "active") == 0;
    switch (to) {
    case DCF_OP_ACTIVE:
        return planned;
    case DCF_OP_COMPLETED:
        return active || (sweep && planned);
    case DCF_OP_CANCELLED:
        return planned || active;
    default:
        return false;
    }
}

/* Change the state of w->id (row loaded by the caller into `row`). */
static int transition_apply(dcf_store_tx_t *tx, opw_t *w, const oprow_t *row) {
    static const char *const EVENTS[] = {NULL, "operation.activated", "operation.completed",
                                         "operation.cancelled"};
    static const char *const ACTIONS[] = {NULL, "operation.activate", "operation.complete",
                                          "operation.cancel"};
    dcf_service_t *s = w->s;
    int rc;
    if (!transition_ok(row->state, w->to, w->who == NULL)) {
        w->bad_state = true;
        snprintf(w->state, sizeof w->state, "%s", row->state);
        return DCF_ESTATE;
    }
    w->version = row->version + 1;
    snprintf(w->state, sizeof w->state, "%s", dcf_op_state_name(w->to));
    dcf_store_val_t v[4] = {dcf_store_val_text(w->id, strlen(w->id)), dcf_store_val_int(w->version),
                            dcf_store_val_text(w->state, strlen(w->state)),
                            dcf_store_val_int(w->now)};
    rc = dcf_store_tx_exec(tx,
                           "UPDATE operations SET version = $2, state = $3, updated_at = $4 "
                           "WHERE id = $1",
                           v, 4, NULL);
    if (rc == DCF_OK && w->to != DCF_OP_ACTIVE) { /* no longer live: start-up skips it */
        dcf_store_val_t k = dcf_store_val_int(row->seq);
        rc = dcf_store_tx_exec(tx, "DELETE FROM op_prep WHERE seq = $1", &k, 1, NULL);
    }
    if (rc != DCF_OK)
        return rc;
    const dcf_operation_t *live = dcf_engine_get(s->eng, w->id);
    if ((rc = op_event(s, tx, w, row->party, EVENTS[w->to], ACTIONS[w->to])) != DCF_OK)
        return rc;
    if (w->to != DCF_OP_ACTIVE && live != NULL) {
        rc = svc_conflicts_sync(s, tx, w->who, live, false, NULL, w->now, NULL, NULL, &w->notify);
        if (rc != DCF_OK)
            return rc;
    }
    if (w->to != DCF_OP_ACTIVE && live != NULL) {
        pthread_rwlock_wrlock(&s->eng_lock);
        dcf_engine_remove(s->eng, w->id);
        pthread_rwlock_unlock(&s->eng_lock);
    }
    return DCF_OK;
}

static int transition_fn(dcf_store_tx_t *tx, void *arg) {
    opw_t *w = arg;
    oprow_t row;
    int rc = op_load_row(tx, w, &row);
    if (rc != DCF_OK)
        return rc;
    return transition_apply(tx, w, &row);
}

/* Map a write's outcome to the caller's problem. */
static int op_write_result(opw_t *w, int rc, dcf_problem_t *p) {
    if (rc == DCF_OK)
        return DCF_OK;
    if (w->not_found)
        return svc_fail(p, DCF_ENOENT, "not-found", "No such operation");
    if (w->stale)
        return svc_fail(p, DCF_ESTATE, "stale",
                        "The operation has changed since that version; fetch it and retry");
    if (w->bad_state)
        return svc_fail(p, DCF_ESTATE, "invalid-transition",
                        "Not allowed while the operation is %s", w->state);
    if (rc == DCF_ECONFLICT) {
        p->extra = json_pack("{s:O}", "conflicts", w->refused ? w->refused : json_array());
        return svc_fail(p, DCF_ECONFLICT, "conflict",
                        "Strict policy: the operation conflicts with one of equal or higher "
                        "priority");
    }
    if (w->time_rule.type != NULL) { /* hand it over as it is */
        *p = w->time_rule;
        memset(&w->time_rule, 0, sizeof w->time_rule);
        return rc;
    }
    return svc_internal(p, rc);
}

static void opw_clear(opw_t *w) {
    dcf_operation_free(w->op);
    free(w->body);
    free(w->prep);
    json_decref(w->resource);
    json_decref(w->views);
    json_decref(w->refused);
    dcf_problem_clear(&w->time_rule);
}

/* The response body: resource plus "conflicts" when there are views. */
static json_t *opw_body(opw_t *w) {
    /* A shallow copy: the views hold the resource itself, so adding them
     * to it would make a cycle. */
    json_t *r = json_copy(w->resource);
    if (r != NULL && w->views != NULL) {
        json_object_set_new(r, "conflicts", w->views);
        w->views = NULL;
    }
    return r;
}

static int party_only(const dcf_principal_t *who, bool write, dcf_problem_t *p) {
    if (who->party[0] == '\0')
        return svc_fail(p, DCF_EPERM, "forbidden", "Operations belong to parties");
    if (write && who->role != DCF_ROLE_PLANNER && who->role != DCF_ROLE_PARTY_ADMIN)
        return svc_fail(p, DCF_EPERM, "forbidden",
                        "Only planners and party-admins change operations");
    return DCF_OK;
}

static int party_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    (void)nc;
    svc_text_copy(arg, DCF_PARTY_MAX + 1, &c[0]);
    return 0;
}

/* DCF_OK when operation `id` exists and is the caller's; else "not found". */
static int op_visible(dcf_service_t *s, const dcf_principal_t *who, const char *id,
                      dcf_problem_t *p) {
    char party[DCF_PARTY_MAX + 1] = "";
    dcf_store_val_t k = dcf_store_val_text(id, strlen(id));
    int rc = dcf_store_read(s->st, "SELECT party FROM operations WHERE id = $1", &k, 1, party_row,
                            party);
    if (rc != DCF_OK)
        return svc_internal(p, rc);
    if (strcmp(party, who->party) != 0)
        return svc_fail(p, DCF_ENOENT, "not-found", "No such operation");
    return DCF_OK;
}

/* ----------------------------------------------------------- the jobs -- */

/* A create, update or state change in flight: validated on the caller's
 * thread, written on the store's writer thread, answered on whichever
 * thread calls dcf_op_job_finish once `done` has run. */
typedef enum { JOB_CREATE, JOB_UPDATE, JOB_TRANSITION } job_kind_t;

struct dcf_op_job_s {
    opw_t w;
    svc_tx_fn_t tx; /* the write, run through svc_tx_run */
    job_kind_t kind;
    dcf_principal_t who;
    char id[DCF_ID_MAX + 1];
    char *if_match;
    int rc; /* the write's outcome (set before done runs) */
    dcf_op_done_fn done;
    void *done_arg;
};

static dcf_op_job_t *job_new(dcf_service_t *s, const dcf_principal_t *who, job_kind_t kind,
                             const char *id, const char *if_match, dcf_op_done_fn done,
                             void *done_arg) {
    dcf_op_job_t *j = calloc(1, sizeof *j);
    if (j == NULL)
        return NULL;
    if (if_match != NULL && (j->if_match = strdup(if_match)) == NULL) {
        free(j);
        return NULL;
    }
    j->kind = kind;
    j->who = *who;
    j->done = done;
    j->done_arg = done_arg;
    if (id != NULL)
        snprintf(j->id, sizeof j->id, "%s", id);
    else
        svc_random_id("op-", j->id, sizeof j->id);
    j->w = (opw_t){.s = s, .who = &j->who, .id = j->id, .if_match = j->if_match, .now = svc_now(s)};
    return j;
}

static void job_free(dcf_op_job_t *j) {
    opw_clear(&j->w);
    free(j->if_match);
    free(j);
}

/* Writer thread, after the batch's COMMIT: a failed COMMIT stops the
 * process (the write may already have changed memory); otherwise wake the
 * parties that got events and tell the caller. */
static void job_written(void *arg, int rc) {
    dcf_op_job_t *j = arg;
    svc_written(j->w.s, rc, &j->w.notify);
    j->rc = rc;
    j->done(j->done_arg);
}

/* Queue j's write (serialising its new model first, when it has one); on
 * failure fill p and free j. */
static int job_queue(dcf_op_job_t *j, dcf_store_write_fn fn, dcf_op_job_t **out, dcf_problem_t *p) {
    int rc;
    if (j->w.op != NULL && (rc = op_prepare(&j->w)) != DCF_OK) {
        job_free(j);
        return svc_internal(p, rc);
    }
    j->tx = (svc_tx_fn_t){j->w.s, fn, &j->w};
    rc = dcf_store_write_async(j->w.s->st, svc_tx_run, &j->tx, job_written, j);
    if (rc != DCF_OK) {
        job_free(j);
        return svc_internal(p, rc);
    }
    *out = j;
    return DCF_OK;
}

int dcf_op_create_start(dcf_service_t *s, const dcf_principal_t *who, const char *body, size_t len,
                        dcf_op_done_fn done, void *done_arg, dcf_op_job_t **job, dcf_problem_t *p) {
    dcf_op_job_t *j;
    int rc;
    if ((rc = party_only(who, true, p)) != DCF_OK)
        return rc;
    if ((j = job_new(s, who, JOB_CREATE, NULL, NULL, done, done_arg)) == NULL)
        return svc_internal(p, DCF_ENOMEM);
    if ((rc = op_parse(s, who, body, len, j->id, &j->w.op, p)) != DCF_OK ||
        (rc = op_times_check(s, j->w.op, NULL, j->w.now, p)) != DCF_OK) {
        job_free(j);
        return rc;
    }
    return job_queue(j, create_fn, job, p);
}

int dcf_op_update_start(dcf_service_t *s, const dcf_principal_t *who, const char *id,
                        const char *if_match, const char *body, size_t len, dcf_op_done_fn done,
                        void *done_arg, dcf_op_job_t **job, dcf_problem_t *p) {
    dcf_op_job_t *j;
    int rc;
    /* The role first (it depends on nothing but the token, so it reveals
     * nothing), then existence for this party, then the precondition. */
    if ((rc = party_only(who, true, p)) != DCF_OK || (rc = op_visible(s, who, id, p)) != DCF_OK)
        return rc;
    if (if_match == NULL)
        return svc_fail(p, DCF_ESTATE, "precondition-required",
                        "Send If-Match with the version you are changing (its ETag)");
    if ((j = job_new(s, who, JOB_UPDATE, id, if_match, done, done_arg)) == NULL)
        return svc_internal(p, DCF_ENOMEM);
    if ((rc = op_parse(s, who, body, len, id, &j->w.op, p)) != DCF_OK) {
        job_free(j);
        return rc;
    }
    return job_queue(j, update_fn, job, p);
}

int dcf_op_transition_start(dcf_service_t *s, const dcf_principal_t *who, const char *id,
                            dcf_op_state_t to, const char *if_match, dcf_op_done_fn done,
                            void *done_arg, dcf_op_job_t **job, dcf_problem_t *p) {
    dcf_op_job_t *j;
    int rc;
    /* The role first; the write's own row lookup answers "not found" for
     * another party's id exactly as for a missing one. */
    if ((rc = party_only(who, true, p)) != DCF_OK)
        return rc;
    if ((j = job_new(s, who, JOB_TRANSITION, id, if_match, done, done_arg)) == NULL)
        return svc_internal(p, DCF_ENOMEM);
    j->w.to = to;
    return job_queue(j, transition_fn, job, p);
}

int dcf_op_job_finish(dcf_op_job_t *j, json_t **out, char *etag_out, dcf_problem_t *p) {
    int rc = op_write_result(&j->w, j->rc, p);
    if (rc == DCF_OK && j->kind == JOB_TRANSITION) {
        rc = dcf_op_get(j->w.s, &j->who, j->id, out, etag_out, p);
    } else if (rc == DCF_OK) {
        svc_etag(j->w.version, etag_out);
        if ((*out = opw_body(&j->w)) == NULL)
            rc = svc_internal(p, DCF_ENOMEM);
    }
    job_free(j);
    return rc;
}

/* The blocking forms: start, wait for done, finish. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
} waiter_t;

static void waiter_done(void *arg) {
    waiter_t *wt = arg;
    pthread_mutex_lock(&wt->mu);
    wt->done = true;
    pthread_cond_signal(&wt->cv);
    pthread_mutex_unlock(&wt->mu);
}

static int waiter_finish(waiter_t *wt, int rc, dcf_op_job_t *j, json_t **out, char *etag_out,
                         dcf_problem_t *p) {
    if (rc == DCF_OK) {
        pthread_mutex_lock(&wt->mu);
        while (!wt->done)
            pthread_cond_wait(&wt->cv, &wt->mu);
        pthread_mutex_unlock(&wt->mu);
        rc = dcf_op_job_finish(j, out, etag_out, p);
    }
    pthread_cond_destroy(&wt->cv);
    pthread_mutex_destroy(&wt->mu);
    return rc;
}

#define WAITER_INIT                                                                                \
    { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false }

int dcf_op_create(dcf_service_t *s, const dcf_principal_t *who, const char *body, size_t len,
                  json_t **out, char *etag_out, dcf_problem_t *p) {
    waiter_t wt = WAITER_INIT;
    dcf_op_job_t *j = NULL;
    int rc = dcf_op_create_start(s, who, body, len, waiter_done, &wt, &j, p);
    return waiter_finish(&wt, rc, j, out, etag_out, p);
}

int dcf_op_update(dcf_service_t *s, const dcf_principal_t *who, const char *id,
                  const char *if_match, const char *body, size_t len, json_t **out, char *etag_out,
                  dcf_problem_t *p) {
    waiter_t wt = WAITER_INIT;
    dcf_op_job_t *j = NULL;
    int rc = dcf_op_update_start(s, who, id, if_match, body, len, waiter_done, &wt, &j, p);
    return waiter_finish(&wt, rc, j, out, etag_out, p);
}

int dcf_op_transition(dcf_service_t *s, const dcf_principal_t *who, const char *id,
                      dcf_op_state_t to, const char *if_match, json_t **out, char *etag_out,
                      dcf_problem_t *p) {
    waiter_t wt = WAITER_INIT;
    dcf_op_job_t *j = NULL;
    int rc = dcf_op_transition_start(s, who, id, to, if_match, waiter_done, &wt, &j, p);
    return waiter_finish(&wt, rc, j, out, etag_out, p);
}

/* -------------------------------------------------------------- sweep -- */

typedef struct {
    dcf_service_t *s;
    dcf_time_t now;
    int done;
    svc_notify_t notify;
} sweep_t;

typedef struct {
    char (*ids)[DCF_ID_MAX + 1];
    size_t n, cap;
} idlist_t;

static int id_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    idlist_t *l = arg;
    (void)nc;
    if (l->n == l->cap)
        return 1;
    svc_text_copy(l->ids[l->n++], DCF_ID_MAX + 1, &c[0]);
    return 0;
}

#define SWEEP_BATCH 256

static int sweep_fn(dcf_store_tx_t *tx, void *arg) {
    sweep_t *sw = arg;
    char ids[SWEEP_BATCH][DCF_ID_MAX + 1];
    idlist_t l = {ids, 0, SWEEP_BATCH};
    dcf_store_val_t v = dcf_store_val_int(sw->now);
    int rc = dcf_store_tx_query(tx,
                                "SELECT id FROM operations WHERE state IN ('planned', 'active') "
                                "AND t_end <= $1 ORDER BY t_end LIMIT 256",
                                &v, 1, id_row, &l);
    if (rc != DCF_OK && rc != 1)
        return rc;
    for (size_t i = 0; i < l.n; i++) {
        opw_t w = {.s = sw->s, .id = ids[i], .to = DCF_OP_COMPLETED, .now = sw->now};
        oprow_t row;
        if ((rc = op_load_row(tx, &w, &row)) != DCF_OK ||
            (rc = transition_apply(tx, &w, &row)) != DCF_OK)
            return rc;
        for (size_t k = 0; k < w.notify.n; k++)
            svc_notify_add(&sw->notify, w.notify.tags[k]);
        sw->notify.all |= w.notify.all;
        sw->done++;
    }
    return DCF_OK;
}

int dcf_service_sweep(dcf_service_t *s, dcf_time_t now) {
    int total = 0;
    for (;;) {
        sweep_t sw = {.s = s, .now = now};
        int rc = svc_write(s, sweep_fn, &sw);
        if (rc != DCF_OK)
            return rc;
        svc_notify(s, &sw.notify);
        total += sw.done;
        if (sw.done < SWEEP_BATCH)
            return total;
    }
}

/* ------------------------------------------------------------- reading -- */

typedef struct {
    svc_page_t pg;
    const char *party; /* non-NULL: rows of another party are not found */
    int64_t version;
} opread_t;

static int op_read_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    opread_t *r = arg;
    char party[DCF_PARTY_MAX + 1], state[16];
    (void)nc;
    svc_text_copy(party, sizeof party, &c[0]);
    if (r->party != NULL && strcmp(party, r->party) != 0)
        return 0;
    svc_text_copy(state, sizeof state, &c[2]);
    r->version = c[1].u.i;
    return svc_page_add(
        &r->pg, svc_op_resource(c[3].u.b.ptr, c[3].u.b.len, c[1].u.i, state, c[4].u.i, c[5].u.i),
        c[6].u.i);
}

#define OP_COLS "party, version, state, body, created_at, updated_at, seq"

int dcf_op_get(dcf_service_t *s, const dcf_principal_t *who, const char *id, json_t **out,
               char *etag_out, dcf_problem_t *p) {
    opread_t r = {.pg = {.items = json_array()}, .party = who->party};
    int rc;
    if ((rc = party_only(who, false, p)) != DCF_OK) {
        json_decref(r.pg.items);
        return rc;
    }
    dcf_store_val_t k = dcf_store_val_text(id, strlen(id));
    rc = dcf_store_read(s->st, "SELECT " OP_COLS " FROM operations WHERE id = $1", &k, 1,
                        op_read_row, &r);
    if (rc != DCF_OK) {
        json_decref(r.pg.items);
        return svc_internal(p, rc);
    }
    if (r.pg.n == 0) {
        json_decref(r.pg.items);
        return svc_fail(p, DCF_ENOENT, "not-found", "No such operation");
    }
    *out = json_incref(json_array_get(r.pg.items, 0));
    json_decref(r.pg.items);
    svc_etag(r.version, etag_out);
    return DCF_OK;
}

int dcf_op_list(dcf_service_t *s, const dcf_principal_t *who, const dcf_op_query_t *q, json_t **out,
                dcf_problem_t *p) {
    char sql[1024];
    size_t o = 0;
    dcf_store_val_t v[8];
    size_t nv = 0;
    unsigned limit = q->limit ? q->limit : 100;
    int rc;
    if ((rc = party_only(who, false, p)) != DCF_OK)
        return rc;
    v[nv++] = dcf_store_val_text(who->party, strlen(who->party));
    v[nv++] = dcf_store_val_int(q->after);
    o += (size_t)snprintf(sql + o, sizeof sql - o,
                          "SELECT " OP_COLS " FROM operations WHERE party = $1 AND seq > $2");
    svc_states_sql(q->states, OP_STATES, DCF_OP_STATE_COUNT, "state", sql + o, sizeof sql - o);
    o += strlen(sql + o);
    if (q->has_from) {
        v[nv] = dcf_store_val_int(q->from);
        o += (size_t)snprintf(sql + o, sizeof sql - o, " AND t_end > $%zu", ++nv);
    }
    if (q->has_to) {
        v[nv] = dcf_store_val_int(q->to);
        o += (size_t)snprintf(sql + o, sizeof sql - o, " AND t_start < $%zu", ++nv);
    }
    if (q->has_bbox) {
        v[nv++] = dcf_store_val_real(q->south);
        v[nv++] = dcf_store_val_real(q->north);
        o += (size_t)snprintf(sql + o, sizeof sql - o, " AND north >= $%zu AND south <= $%zu",
                              nv - 1, nv);
        v[nv++] = dcf_store_val_real(q->west);
        v[nv++] = dcf_store_val_real(q->east);
        /* A query box across the antimeridian (west > east) is two ranges. */
        o += (size_t)snprintf(sql + o, sizeof sql - o,
                              q->west <= q->east ? " AND east >= $%zu AND west <= $%zu"
                                                 : " AND (east >= $%zu OR west <= $%zu)",
                              nv - 1, nv);
    }
    snprintf(sql + o, sizeof sql - o, " ORDER BY seq LIMIT %u", limit + 1);
    opread_t r = {.pg = {.items = json_array(), .want = limit}};
    rc = dcf_store_read(s->st, sql, v, nv, op_read_row, &r);
    if (rc != DCF_OK) {
        json_decref(r.pg.items);
        return svc_internal(p, rc);
    }
    *out = svc_page_finish(&r.pg);
    return *out != NULL ? DCF_OK : svc_internal(p, DCF_ENOMEM);
}

/* -------------------------------------------------------------- check -- */

typedef struct {
    dcf_service_t *s;
    const dcf_principal_t *who;
    char id[40];
    char digest[65];
    int64_t conflicts;
    dcf_time_t now;
    const svc_found_list_t *found;
} check_rec_t;

/* The record of a check, and its audit entry: it concerns the checking
 * party and every party whose operations the proposal met, so probing
 * leaves a trace on both sides. */
static int check_rec_fn(dcf_store_tx_t *tx, void *arg) {
    check_rec_t *c = arg;
    dcf_store_val_t v[6] = {dcf_store_val_text(c->id, strlen(c->id)),
                            dcf_store_val_text(c->who->party, strlen(c->who->party)),
                            dcf_store_val_text(c->who->token_id, strlen(c->who->token_id)),
                            dcf_store_val_int(c->now),
                            dcf_store_val_int(c->conflicts),
                            dcf_store_val_text(c->digest, strlen(c->digest))};
    int rc = dcf_store_tx_exec(tx,
                               "INSERT INTO checks (id, party, token, at, conflicts, digest) "
                               "VALUES ($1, $2, $3, $4, $5, $6)",
                               v, 6, NULL);
    if (rc != DCF_OK)
        return rc;
    size_t n = c->found->n;
    const char **parties = calloc(n + 1, sizeof *parties);
    json_t *st = json_pack("{s:s, s:s, s:I}", "id", c->id, "body_sha256", c->digest, "conflicts",
                           (json_int_t)c->conflicts);
    if (parties != NULL && st != NULL) {
        parties[0] = c->who->party;
        for (size_t i = 0; i < n; i++)
            parties[i + 1] = c->found->v[i].other_party;
        svc_audit_obj_t o = {"check", c->id, st, NULL};
        rc = svc_audit_add(c->s, tx, c->who, c->now, "check", &o, 1, parties, n + 1);
    } else {
        rc = DCF_ENOMEM;
    }
    free(parties);
    json_decref(st);
    return rc;
}

/* Token bucket per party: check_per_min per minute, burst of the same. */
static bool check_allowed(dcf_service_t *s, const char *party, dcf_time_t now, unsigned *retry) {
    bool ok = false;
    double rate = (double)s->o.check_per_min / 60e6; /* tokens per microsecond */
    pthread_mutex_lock(&s->cache_lock);
    svc_party_t *pt = dcf_strmap_get(s->parties, party);
    if (pt != NULL) {
        double cap = (double)s->o.check_per_min;
        if (pt->check_tokens < 0)
            pt->check_tokens = cap;
        else
            pt->check_tokens += (double)(now - pt->check_at) * rate;
        if (pt->check_tokens > cap)
            pt->check_tokens = cap;
        pt->check_at = now;
        if (pt->check_tokens >= 1.0) {
            pt->check_tokens -= 1.0;
            ok = true;
        } else {
            double wait_us = (1.0 - pt->check_tokens) / rate;
            *retry = (unsigned)(wait_us / 1e6) + 1;
        }
    }
    pthread_mutex_unlock(&s->cache_lock);
    return ok;
}

int dcf_op_check(dcf_service_t *s, const dcf_principal_t *who, const char *body, size_t len,
                 json_t **out, unsigned *retry_after_s, dcf_problem_t *p) {
    dcf_operation_t *op = NULL;
    svc_found_list_t found = {0};
    check_rec_t rec = {.who = who, .now = svc_now(s)};
    dcf_engine_reader_t *rd = NULL;
    int rc;
    if ((rc = party_only(who, true, p)) != DCF_OK)
        return rc;
    if (!check_allowed(s, who->party, rec.now, retry_after_s))
        return svc_fail(p, DCF_ELIMIT, "rate-limited",
                        "At most %u checks per minute per party; retry in %u s", s->o.check_per_min,
                        *retry_after_s);
    if ((rc = op_parse(s, who, body, len, "check", &op, p)) != DCF_OK)
        return rc;
    /* A check answers what a create would: the same time rules apply. */
    if ((rc = op_times_check(s, op, NULL, rec.now, p)) != DCF_OK)
        goto out;
    if ((rd = svc_reader_get(s)) == NULL) {
        rc = svc_internal(p, DCF_ENOMEM);
        goto out;
    }
    rc = svc_find_conflicts(s, rd, op, &found);
    svc_reader_put(s, rd);
    if (rc != DCF_OK) {
        rc = svc_internal(p, rc);
        goto out;
    }
    unsigned char h[32];
    crypto_hash_sha256(h, (const unsigned char *)body, len);
    sodium_bin2hex(rec.digest, sizeof rec.digest, h, sizeof h);
    svc_random_id("chk-", rec.id, sizeof rec.id);
    rec.conflicts = (int64_t)found.n;
    rec.s = s;
    rec.found = &found;
    rc = svc_write(s, check_rec_fn, &rec);
    if (rc != DCF_OK) {
        rc = svc_internal(p, rc);
        goto out;
    }
    *out = json_pack("{s:o}", "conflicts", check_views(s, &found));
out:
    svc_found_clear(&found);
    dcf_operation_free(op);
    return rc;
}
