/*
 * line.c -- hotline lines: proposal and acceptance, suspension of one side,
 * desk presence, and the helpers every hotline file uses to read a line
 * and to tell its members (docs/hotline.md).
 *
 * ACCESS.  A line exists only for its members: anyone else gets
 * DCF_ENOENT ("not-found"), exactly as for an id that does not exist; the
 * deployment admin gets "forbidden" (lines belong to parties).  Writes
 * re-read the line inside their transaction, so a check and the change it
 * guards see the same state.
 *
 * PRESENCE is memory only (svc_party_t.streams / seen under cache_lock): a
 * restart forgets it and desks are absent until they reconnect.
 */
#include <stdlib.h>
#include <string.h>

#include "service_int.h"

const char *const svc_level_names[2] = {"duty", "senior"};

int svc_level_parse(const char *s) {
    for (int i = 0; i < 2; i++)
        if (strcmp(s, svc_level_names[i]) == 0)
            return i;
    return -1;
}

int svc_role_level(dcf_role_t r) {
    return r == DCF_ROLE_DUTY ? SVC_DUTY : r == DCF_ROLE_SENIOR ? SVC_SENIOR : -1;
}

int svc_query(dcf_service_t *s, dcf_store_tx_t *tx, const char *sql, const dcf_store_val_t *v,
              size_t n, dcf_store_row_cb cb, void *arg) {
    return tx != NULL ? dcf_store_tx_query(tx, sql, v, n, cb, arg)
                      : dcf_store_read(s->st, sql, v, n, cb, arg);
}

static dcf_time_t col_time(const dcf_store_val_t *c) {
    return c->type == DCF_STORE_INT ? c->u.i : 0;
}

static int line_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    svc_line_t *l = arg;
    (void)nc;
    svc_text_copy(l->id, sizeof l->id, &c[0]);
    l->seq = c[1].u.i;
    svc_text_copy(l->name, sizeof l->name, &c[2]);
    svc_text_copy(l->proposed_by, sizeof l->proposed_by, &c[3]);
    svc_text_copy(l->state, sizeof l->state, &c[4]);
    l->created_at = col_time(&c[5]);
    l->opened_at = col_time(&c[6]);
    l->last_seq = c[7].u.i;
    l->next_check_at = col_time(&c[8]);
    l->senior_answer_at = col_time(&c[9]);
    l->freeze_since = col_time(&c[10]);
    l->freeze_at = col_time(&c[11]);
    return 0;
}

static int member_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    svc_line_t *l = arg;
    (void)nc;
    if (l->n >= SVC_LINE_MEMBERS_MAX)
        return DCF_EINTERNAL;
    svc_member_t *m = &l->m[l->n++];
    svc_text_copy(m->party, sizeof m->party, &c[0]);
    m->accepted_at = col_time(&c[1]);
    svc_text_copy(m->suspended, sizeof m->suspended, &c[2]);
    m->suspended_at = col_time(&c[3]);
    return 0;
}

#define LINE_COLS                                                                                  \
    "id, seq, name, proposed_by, state, created_at, opened_at, last_seq, next_check_at, "          \
    "senior_answer_at, freeze_since, freeze_at"

int svc_line_load(dcf_service_t *s, dcf_store_tx_t *tx, const char *id, svc_line_t *l) {
    memset(l, 0, sizeof *l);
    if (strlen(id) >= SVC_ID_MAX)
        return DCF_ENOENT;
    dcf_store_val_t v = dcf_store_val_text(id, strlen(id));
    int rc = svc_query(s, tx, "SELECT " LINE_COLS " FROM lines WHERE id = $1", &v, 1, line_row, l);
    if (rc == DCF_OK && l->seq == 0)
        rc = DCF_ENOENT;
    if (rc == DCF_OK)
        rc = svc_query(s, tx,
                       "SELECT party, accepted_at, suspended, suspended_at FROM line_members "
                       "WHERE line = $1 ORDER BY pos",
                       &v, 1, member_row, l);
    return rc;
}

int svc_line_member(const svc_line_t *l, const char *party) {
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->m[i].party, party) == 0)
            return (int)i;
    return -1;
}

bool svc_line_suspended(const svc_line_t *l) {
    for (size_t i = 0; i < l->n; i++)
        if (l->m[i].suspended[0] != '\0')
            return true;
    return false;
}

int svc_line_access_tx(dcf_service_t *s, dcf_store_tx_t *tx, const dcf_principal_t *who,
                       const char *id, svc_line_t *l) {
    if (who->party[0] == '\0')
        return DCF_EPERM;
    int rc = svc_line_load(s, tx, id, l);
    if (rc == DCF_OK && svc_line_member(l, who->party) < 0)
        rc = DCF_ENOENT;
    return rc;
}

int svc_line_access(dcf_service_t *s, dcf_store_tx_t *tx, const dcf_principal_t *who,
                    const char *id, svc_line_t *l, dcf_problem_t *p) {
    int rc = svc_line_access_tx(s, tx, who, id, l);
    if (rc == DCF_EPERM)
        return svc_fail(p, rc, "forbidden", "Lines belong to parties");
    if (rc == DCF_ENOENT)
        return svc_fail(p, rc, "not-found", "No such line");
    return rc == DCF_OK ? DCF_OK : svc_internal(p, rc);
}

bool svc_desk_present(const dcf_service_t *s, const svc_party_t *pt, int level, dcf_time_t now) {
    return pt->streams[level] > 0 ||
           (pt->beat[level] != 0 && now - pt->beat[level] <= s->o.hotline.presence_window_us);
}

/* {"present", "last_seen"} of a party's desk. */
static json_t *desk_json(dcf_service_t *s, const char *party, int level, dcf_time_t now) {
    bool present = false;
    dcf_time_t seen = 0;
    pthread_mutex_lock(&s->cache_lock);
    svc_party_t *pt = dcf_strmap_get(s->parties, party);
    if (pt != NULL) {
        present = svc_desk_present(s, pt, level, now);
        seen = pt->streams[level] > 0 ? now : pt->seen[level];
    }
    pthread_mutex_unlock(&s->cache_lock);
    return json_pack("{s:b, s:o}", "present", present, "last_seen",
                     seen ? svc_time_json(seen) : json_null());
}

static json_t *time_or_null(dcf_time_t t) {
    return t ? svc_time_json(t) : json_null();
}

json_t *svc_line_json(dcf_service_t *s, const svc_line_t *l) {
    dcf_time_t now = svc_now(s);
    json_t *members = json_array();
    for (size_t i = 0; members != NULL && i < l->n; i++) {
        const svc_member_t *m = &l->m[i];
        svc_party_t pt;
        if (svc_party_copy(s, m->party, &pt, NULL) != DCF_OK)
            snprintf(pt.name, sizeof pt.name, "%s", m->party);
        json_t *susp = m->suspended[0] ? json_pack("{s:s, s:o}", "reason", m->suspended, "at",
                                                   svc_time_json(m->suspended_at))
                                       : json_null();
        json_array_append_new(members,
                              json_pack("{s:{s:s, s:s}, s:o, s:o, s:{s:o, s:o}}", "party", "id",
                                        m->party, "name", pt.name, "accepted_at",
                                        time_or_null(m->accepted_at), "suspended", susp, "desks",
                                        "duty", desk_json(s, m->party, SVC_DUTY, now), "senior",
                                        desk_json(s, m->party, SVC_SENIOR, now)));
    }
    json_t *freeze = l->freeze_at ? json_pack("{s:o, s:o}", "since", svc_time_json(l->freeze_since),
                                              "alerted_at", svc_time_json(l->freeze_at))
                                  : json_null();
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:I}", "id", l->id, "name",
                     l->name, "state", l->state, "proposed_by", l->proposed_by, "created_at",
                     svc_time_json(l->created_at), "opened_at", time_or_null(l->opened_at),
                     "members", members, "next_check_at", time_or_null(l->next_check_at), "freeze",
                     freeze, "last_seq", (json_int_t)l->last_seq);
}

int svc_line_event(dcf_service_t *s, dcf_store_tx_t *tx, const svc_line_t *l, const char *only,
                   const char *type, json_t *data, dcf_time_t at, svc_notify_t *n) {
    int rc = DCF_OK;
    for (size_t i = 0; i < l->n && rc == DCF_OK; i++) {
        if (only != NULL && strcmp(only, l->m[i].party) != 0)
            continue;
        json_t *d = json_deep_copy(data);
        if (d == NULL || json_object_set_new(d, "line", json_string(l->id)) != 0)
            rc = DCF_ENOMEM;
        else
            rc = svc_event_add(s, tx, l->m[i].party, type, d, at, n);
        json_decref(d);
    }
    return rc;
}

int svc_line_audit(dcf_service_t *s, dcf_store_tx_t *tx, const dcf_principal_t *who, dcf_time_t at,
                   const char *action, const char *type, const char *id, json_t *state,
                   const svc_line_t *l) {
    const char *parties[SVC_LINE_MEMBERS_MAX];
    for (size_t i = 0; i < l->n; i++)
        parties[i] = l->m[i].party;
    if (state == NULL)
        return DCF_ENOMEM;
    svc_audit_obj_t o = {type, id, state, NULL};
    return svc_audit_add(s, tx, who, at, action, &o, 1, parties, l->n);
}

/* The line's own record for the audit log (presence left out: it is not
 * state). */
static json_t *line_state(const svc_line_t *l) {
    json_t *members = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(members, json_pack("{s:s, s:I, s:s, s:I}", "party", l->m[i].party,
                                                 "accepted_at", (json_int_t)l->m[i].accepted_at,
                                                 "suspended", l->m[i].suspended, "suspended_at",
                                                 (json_int_t)l->m[i].suspended_at));
    return json_pack("{s:s, s:s, s:s, s:o}", "id", l->id, "name", l->name, "state", l->state,
                     "members", members);
}

static int line_changed(dcf_service_t *s, dcf_store_tx_t *tx, const dcf_principal_t *who,
                        const svc_line_t *l, const char *event, const char *action, json_t *data,
                        dcf_time_t now, svc_notify_t *n) {
    int rc = svc_line_event(s, tx, l, NULL, event, data, now, n);
    if (rc == DCF_OK) {
        json_t *st = line_state(l);
        rc = svc_line_audit(s, tx, who, now, action, "line", l->id, st, l);
        json_decref(st);
    }
    return rc;
}

/* ------------------------------------------------------------ create -- */

typedef struct {
    dcf_service_t *s;
    const dcf_principal_t *who;
    svc_line_t l;
    svc_notify_t notify;
} line_w_t;

static int create_fn(dcf_store_tx_t *tx, void *arg) {
    line_w_t *a = arg;
    svc_line_t *l = &a->l;
    int rc;
    l->seq = ++a->s->line_seq;
    dcf_store_val_t v[5] = {dcf_store_val_text(l->id, strlen(l->id)), dcf_store_val_int(l->seq),
                            dcf_store_val_text(l->name, strlen(l->name)),
                            dcf_store_val_text(l->proposed_by, strlen(l->proposed_by)),
                            dcf_store_val_int(l->created_at)};
    rc = dcf_store_tx_exec(tx,
                           "INSERT INTO lines (id, seq, name, proposed_by, state, created_at, "
                           "last_seq) VALUES ($1, $2, $3, $4, 'proposed', $5, 0)",
                           v, 5, NULL);
    for (size_t i = 0; rc == DCF_OK && i < l->n; i++) {
        dcf_store_val_t m[4] = {
            dcf_store_val_text(l->id, strlen(l->id)),
            dcf_store_val_text(l->m[i].party, strlen(l->m[i].party)), dcf_store_val_int((int64_t)i),
            l->m[i].accepted_at ? dcf_store_val_int(l->m[i].accepted_at) : dcf_store_val_null()};
        rc = dcf_store_tx_exec(tx,
                               "INSERT INTO line_members (line, party, pos, accepted_at) "
                               "VALUES ($1, $2, $3, $4)",
                               m, 4, NULL);
    }
    if (rc != DCF_OK) {
        a->s->line_seq--;
        return rc;
    }
    json_t *d = json_pack("{s:s, s:s}", "party", l->proposed_by, "name", l->name);
    rc = d ? line_changed(a->s, tx, a->who, l, "line.proposed", "line.propose", d, l->created_at,
                          &a->notify)
           : DCF_ENOMEM;
    json_decref(d);
    return rc;
}

int dcf_line_create(dcf_service_t *s, const dcf_principal_t *who, const char *body, size_t len,
                    json_t **out, dcf_problem_t *p) {
    static const char *const MEMBERS[] = {"name", "members", NULL};
    static const char TITLE[] = "Invalid line";
    json_t *j = NULL;
    line_w_t *a = NULL;
    int rc;
    char at[32];

    if (who->party[0] == '\0')
        return svc_fail(p, DCF_EPERM, "forbidden", "Lines belong to parties");
    if (who->role != DCF_ROLE_PARTY_ADMIN)
        return svc_fail(p, DCF_EPERM, "forbidden", "Only a party-admin proposes a line");
    if ((rc = svc_parse_body(s, body, len, &j, p)) != DCF_OK)
        return rc;
    if ((rc = svc_only_members(j, MEMBERS, TITLE, p)) != DCF_OK)
        goto out;
    json_t *name = json_object_get(j, "name"), *mem = json_object_get(j, "members");
    if (!json_is_string(name) ||
        !svc_text_ok(json_string_value(name), DCF_PARTY_NAME_MAX, false, false)) {
        rc = svc_invalid(p, TITLE, "/name",
                         "must be a string of 1..100 bytes without control characters");
        goto out;
    }
    if (!json_is_array(mem) || json_array_size(mem) < 1 ||
        json_array_size(mem) > SVC_LINE_MEMBERS_MAX - 1) {
        rc = svc_invalid(p, TITLE, "/members", "must be an array of 1..15 other parties");
        goto out;
    }
    if ((a = calloc(1, sizeof *a)) == NULL) {
        rc = svc_internal(p, DCF_ENOMEM);
        goto out;
    }
    svc_line_t *l = &a->l;
    svc_random_id("lin-", l->id, sizeof l->id);
    snprintf(l->name, sizeof l->name, "%s", json_string_value(name));
    snprintf(l->proposed_by, sizeof l->proposed_by, "%s", who->party);
    snprintf(l->state, sizeof l->state, "proposed");
    l->created_at = svc_now(s);
    snprintf(l->m[0].party, sizeof l->m[0].party, "%s", who->party);
    l->m[0].accepted_at = l->created_at;
    l->n = 1;
    size_t i;
    json_t *v;
    json_array_foreach(mem, i, v) {
        snprintf(at, sizeof at, "/members/%zu", i);
        svc_party_t pt;
        const char *id = json_string_value(v);
        if (id == NULL) {
            rc = svc_invalid(p, TITLE, at, "must be a party id");
            goto out;
        }
        if (strcmp(id, who->party) == 0) {
            rc = svc_invalid(p, TITLE, at, "must not be the proposing party itself");
            goto out;
        }
        if (strlen(id) > DCF_PARTY_MAX || svc_party_copy(s, id, &pt, NULL) != DCF_OK) {
            rc = svc_invalid(p, TITLE, at, "no such party");
            goto out;
        }
        if (svc_line_member(l, id) >= 0) {
            rc = svc_invalid(p, TITLE, at, "names a party twice");
            goto out;
        }
        snprintf(l->m[l->n].party, sizeof l->m[l->n].party, "%s", id);
        l->n++;
    }
    a->s = s;
    a->who = who;
    if ((rc = svc_write(s, create_fn, a)) != DCF_OK) {
        rc = svc_internal(p, rc);
        goto out;
    }
    svc_notify(s, &a->notify);
    *out = svc_line_json(s, l);
    rc = *out ? DCF_OK : svc_internal(p, DCF_ENOMEM);
out:
    free(a);
    json_decref(j);
    return rc;
}

/* -------------------------------------------------------------- reads -- */

int dcf_line_get(dcf_service_t *s, const dcf_principal_t *who, const char *id, json_t **out,
                 dcf_problem_t *p) {
    svc_line_t *l = malloc(sizeof *l);
    if (l == NULL)
        return svc_internal(p, DCF_ENOMEM);
    int rc = svc_line_access(s, NULL, who, id, l, p);
    if (rc == DCF_OK && (*out = svc_line_json(s, l)) == NULL)
        rc = svc_internal(p, DCF_ENOMEM);
    free(l);
    return rc;
}

/* The page's line ids, read first; each line is loaded after the query
 * (a read inside a read's row callback could deadlock the pool). */
typedef struct {
    char (*id)[SVC_ID_MAX];
    int64_t *seq;
    size_t n;
} line_ids_t;

static int line_id_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    line_ids_t *ids = arg;
    (void)nc;
    svc_text_copy(ids->id[ids->n], sizeof ids->id[0], &c[0]);
    ids->seq[ids->n++] = c[1].u.i;
    return 0;
}

int dcf_line_list(dcf_service_t *s, const dcf_principal_t *who, unsigned limit, int64_t after,
                  json_t **out, dcf_problem_t *p) {
    if (who->party[0] == '\0')
        return svc_fail(p, DCF_EPERM, "forbidden", "Lines belong to parties");
    if (limit == 0)
        limit = 100;
    line_ids_t ids = {calloc((size_t)limit + 1, sizeof *ids.id),
                      calloc((size_t)limit + 1, sizeof *ids.seq), 0};
    svc_page_t pg = {.items = json_array(), .want = limit};
    svc_line_t *l = malloc(sizeof *l);
    dcf_store_val_t v[3] = {dcf_store_val_text(who->party, strlen(who->party)),
                            dcf_store_val_int(after), dcf_store_val_int((int64_t)limit + 1)};
    int rc = ids.id && ids.seq && pg.items && l ? DCF_OK : DCF_ENOMEM;
    if (rc == DCF_OK)
        rc = dcf_store_read(s->st,
                            "SELECT l.id, l.seq FROM lines l JOIN line_members m ON m.line = l.id "
                            "WHERE m.party = $1 AND l.seq > $2 ORDER BY l.seq LIMIT $3",
                            v, 3, line_id_row, &ids);
    for (size_t i = 0; rc == DCF_OK && i < ids.n; i++) {
        rc = svc_line_load(s, NULL, ids.id[i], l);
        if (rc == DCF_OK)
            rc = svc_page_add(&pg, svc_line_json(s, l), ids.seq[i]);
    }
    free(ids.id);
    free(ids.seq);
    free(l);
    if (rc != DCF_OK) {
        json_decref(pg.items);
        return svc_internal(p, rc);
    }
    if (pg.n > pg.want)
        json_array_remove(pg.items, pg.want);
    *out = svc_page_finish(&pg);
    return *out ? DCF_OK : svc_internal(p, DCF_ENOMEM);
}

/* ------------------------------------------------- accept, suspend ----- */

typedef struct {
    dcf_service_t *s;
    const dcf_principal_t *who;
    const char *id;
    int what; /* 0 accept, 1 suspend, 2 resume */
    const char *reason;
    svc_line_t l;
    svc_notify_t notify;
} change_t;

static int change_fn(dcf_store_tx_t *tx, void *arg) {
    change_t *a = arg;
    svc_line_t *l = &a->l;
    dcf_time_t now = svc_now(a->s);
    int rc = svc_line_access_tx(a->s, tx, a->who, a->id, l);
    if (rc != DCF_OK)
        return rc;
    svc_member_t *m = &l->m[svc_line_member(l, a->who->party)];
    dcf_store_val_t key[2] = {dcf_store_val_text(l->id, strlen(l->id)),
                              dcf_store_val_text(m->party, strlen(m->party))};
    json_t *d = NULL;
    if (a->what == 0) {
        if (m->accepted_at != 0)
            return DCF_ESTATE;
        m->accepted_at = now;
        dcf_store_val_t v[3] = {key[0], key[1], dcf_store_val_int(now)};
        rc = dcf_store_tx_exec(tx,
                               "UPDATE line_members SET accepted_at = $3 "
                               "WHERE line = $1 AND party = $2",
                               v, 3, NULL);
        bool all = true;
        for (size_t i = 0; i < l->n; i++)
            all = all && l->m[i].accepted_at != 0;
        d = json_pack("{s:s}", "party", m->party);
        if (rc == DCF_OK)
            rc = line_changed(a->s, tx, a->who, l, "line.accepted", "line.accept", d, now,
                              &a->notify);
        if (rc == DCF_OK && all) {
            snprintf(l->state, sizeof l->state, "open");
            l->opened_at = now;
            l->next_check_at =
                a->s->o.hotline.line_check_us > 0 ? now + a->s->o.hotline.line_check_us : 0;
            dcf_store_val_t o[3] = {key[0], dcf_store_val_int(now),
                                    l->next_check_at ? dcf_store_val_int(l->next_check_at)
                                                     : dcf_store_val_null()};
            rc = dcf_store_tx_exec(tx,
                                   "UPDATE lines SET state = 'open', opened_at = $2, "
                                   "next_check_at = $3 WHERE id = $1",
                                   o, 3, NULL);
            if (rc == DCF_OK)
                rc = line_changed(a->s, tx, a->who, l, "line.opened", "line.open", d, now,
                                  &a->notify);
            if (rc == DCF_OK)
                atomic_fetch_add(&a->s->lines_open, 1);
        }
    } else {
        if (strcmp(l->state, "open") != 0)
            return DCF_ESTATE;
        bool suspend = a->what == 1;
        if (suspend == (m->suspended[0] != '\0'))
            return DCF_ESTATE;
        snprintf(m->suspended, sizeof m->suspended, "%s", suspend ? a->reason : "");
        m->suspended_at = suspend ? now : 0;
        dcf_store_val_t v[4] = {key[0], key[1],
                                suspend ? dcf_store_val_text(a->reason, strlen(a->reason))
                                        : dcf_store_val_null(),
                                suspend ? dcf_store_val_int(now) : dcf_store_val_null()};
        rc = dcf_store_tx_exec(tx,
                               "UPDATE line_members SET suspended = $3, suspended_at = $4 "
                               "WHERE line = $1 AND party = $2",
                               v, 4, NULL);
        d = suspend ? json_pack("{s:s, s:s}", "party", m->party, "reason", a->reason)
                    : json_pack("{s:s}", "party", m->party);
        if (rc == DCF_OK)
            rc = line_changed(a->s, tx, a->who, l, suspend ? "line.suspended" : "line.resumed",
                              suspend ? "line.suspend" : "line.resume", d, now, &a->notify);
    }
    json_decref(d);
    return rc;
}

static int change(dcf_service_t *s, const dcf_principal_t *who, const char *id, int what,
                  const char *reason, json_t **out, dcf_problem_t *p) {
    change_t *a = calloc(1, sizeof *a);
    if (a == NULL)
        return svc_internal(p, DCF_ENOMEM);
    *a = (change_t){.s = s, .who = who, .id = id, .what = what, .reason = reason};
    int rc = svc_write(s, change_fn, a);
    if (rc == DCF_EPERM)
        rc = svc_fail(p, rc, "forbidden", "Lines belong to parties");
    else if (rc == DCF_ENOENT)
        rc = svc_fail(p, rc, "not-found", "No such line");
    else if (rc == DCF_ESTATE)
        rc = svc_fail(p, rc, "invalid-transition",
                      what == 0   ? "This party has already accepted the line"
                      : what == 1 ? "The line is not open, or this side is already suspended"
                                  : "This side of the line is not suspended");
    else if (rc != DCF_OK)
        rc = svc_internal(p, rc);
    else {
        svc_notify(s, &a->notify);
        *out = svc_line_json(s, &a->l);
        if (*out == NULL)
            rc = svc_internal(p, DCF_ENOMEM);
    }
    free(a);
    return rc;
}

/* The role rule of an action that names a line: checked after access so
 * that a non-member learns nothing. */
static int role_after_access(dcf_service_t *s, const dcf_principal_t *who, const char *id, bool ok,
                             const char *why, dcf_problem_t *p) {
    svc_line_t *l = malloc(sizeof *l);
    if (l == NULL)
        return svc_internal(p, DCF_ENOMEM);
    int rc = svc_line_access(s, NULL, who, id, l, p);
    free(l);
    if (rc == DCF_OK && !ok)
        rc = svc_fail(p, DCF_EPERM, "forbidden", "%s", why);
    return rc;
}

int dcf_line_accept(dcf_service_t *s, const dcf_principal_t *who, const char *id, json_t **out,
                    dcf_problem_t *p) {
    int rc = role_after_access(s, who, id, who->role == DCF_ROLE_PARTY_ADMIN,
                               "Only a party-admin accepts a line", p);
    return rc == DCF_OK ? change(s, who, id, 0, NULL, out, p) : rc;
}

int dcf_line_suspend(dcf_service_t *s, const dcf_principal_t *who, const char *id, bool suspend,
                     const char *body, size_t len, json_t **out, dcf_problem_t *p) {
    static const char *const MEMBERS[] = {"reason", NULL};
    json_t *j = NULL;
    int rc = role_after_access(s, who, id,
                               who->role == DCF_ROLE_PARTY_ADMIN || who->role == DCF_ROLE_SENIOR,
                               "Only a party-admin or the senior desk suspends or resumes", p);
    if (rc != DCF_OK)
        return rc;
    if (!suspend)
        return change(s, who, id, 2, NULL, out, p);
    if ((rc = svc_parse_body(s, body, len, &j, p)) != DCF_OK)
        return rc;
    json_t *r = json_object_get(j, "reason");
    if ((rc = svc_only_members(j, MEMBERS, "Invalid suspension", p)) == DCF_OK) {
        if (!json_is_string(r) || !svc_text_ok(json_string_value(r), SVC_REASON_MAX, false, false))
            rc = svc_invalid(p, "Invalid suspension", "/reason",
                             "must be a string of 1..500 bytes without control characters");
        else
            rc = change(s, who, id, 1, json_string_value(r), out, p);
    }
    json_decref(j);
    return rc;
}

/* ----------------------------------------------------------- presence -- */

static void presence(dcf_service_t *s, const dcf_principal_t *who, int delta) {
    int level = svc_role_level(who->role);
    if (level < 0)
        return;
    dcf_time_t now = svc_now(s);
    pthread_mutex_lock(&s->cache_lock);
    svc_party_t *pt = dcf_strmap_get(s->parties, who->party);
    if (pt != NULL) {
        pt->streams[level] += delta;
        if (pt->streams[level] < 0)
            pt->streams[level] = 0;
        pt->seen[level] = now;
        if (delta == 0)
            pt->beat[level] = now;
    }
    pthread_mutex_unlock(&s->cache_lock);
}

void dcf_presence_stream(dcf_service_t *s, const dcf_principal_t *who, int delta) {
    presence(s, who, delta);
}

int dcf_presence_beat(dcf_service_t *s, const dcf_principal_t *who, json_t **out,
                      dcf_problem_t *p) {
    int level = svc_role_level(who->role);
    if (who->party[0] == '\0' || level < 0)
        return svc_fail(p, DCF_EPERM, "forbidden", "Only a desk (duty, senior) sends heartbeats");
    presence(s, who, 0);
    *out = json_pack("{s:s, s:s, s:o, s:I}", "party", who->party, "desk", svc_level_names[level],
                     "at", svc_time_json(svc_now(s)), "window_s",
                     (json_int_t)(s->o.hotline.presence_window_us / DCF_USEC_PER_SEC));
    return *out ? DCF_OK : svc_internal(p, DCF_ENOMEM);
}
