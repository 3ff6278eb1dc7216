/*
 * call.c -- hotline calls: ringing, answered, declined, missed, ended; the
 * transcript; each side's readout (docs/hotline.md).
 *
 * STATES.  ringing -> answered -> ended, or ringing -> declined (every
 * called party declined) or ringing -> missed (nobody answered by
 * ring_until; the timer records it at ring_until).  The caller is a member
 * party; every other member is called, and the first answer wins.  Only a
 * token of the call's level (the duty or senior desk) acts on it; only the
 * caller's and the answering party end it and file readouts.
 *
 * READOUTS.  One per party, after the call ended; `internal` ones are seen
 * by their own party only, `shared` ones by every member.
 */
#include <stdlib.h>
#include <string.h>

#include "service_int.h"

#define CALL_TOPIC_MAX   200
#define READOUT_TEXT_MAX 20000

typedef struct {
    char id[SVC_ID_MAX];
    int64_t seq;
    char line[SVC_ID_MAX];
    char level[8], state[12];
    char topic[CALL_TOPIC_MAX + 1];
    char caller[DCF_PARTY_MAX + 1], caller_by[SVC_NAME_MAX + 1];
    char answered_party[DCF_PARTY_MAX + 1], answered_by[SVC_NAME_MAX + 1];
    char ended_by[DCF_PARTY_MAX + 1];
    dcf_time_t started_at, ring_until, answered_at, missed_at, ended_at;
    json_t *declines;
} call_t;

#define CALL_COLS                                                                                  \
    "id, seq, line, level, state, topic, caller, caller_by, answered_party, answered_by, "         \
    "ended_by, started_at, ring_until, answered_at, missed_at, ended_at, declines"

static dcf_time_t opt_int(const dcf_store_val_t *c) {
    return c->type == DCF_STORE_INT ? c->u.i : 0;
}

static int call_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    call_t *k = arg;
    (void)nc;
    svc_text_copy(k->id, sizeof k->id, &c[0]);
    k->seq = c[1].u.i;
    svc_text_copy(k->line, sizeof k->line, &c[2]);
    svc_text_copy(k->level, sizeof k->level, &c[3]);
    svc_text_copy(k->state, sizeof k->state, &c[4]);
    svc_text_copy(k->topic, sizeof k->topic, &c[5]);
    svc_text_copy(k->caller, sizeof k->caller, &c[6]);
    svc_text_copy(k->caller_by, sizeof k->caller_by, &c[7]);
    svc_text_copy(k->answered_party, sizeof k->answered_party, &c[8]);
    svc_text_copy(k->answered_by, sizeof k->answered_by, &c[9]);
    svc_text_copy(k->ended_by, sizeof k->ended_by, &c[10]);
    k->started_at = c[11].u.i;
    k->ring_until = c[12].u.i;
    k->answered_at = opt_int(&c[13]);
    k->missed_at = opt_int(&c[14]);
    k->ended_at = opt_int(&c[15]);
    json_decref(k->declines);
    k->declines = json_loadb(c[16].u.b.ptr, c[16].u.b.len, 0, NULL);
    return k->declines ? 0 : DCF_ENOMEM;
}

static int call_load(dcf_service_t *s, dcf_store_tx_t *tx, const char *id, call_t *k) {
    memset(k, 0, sizeof *k);
    if (strlen(id) >= SVC_ID_MAX)
        return DCF_ENOENT;
    dcf_store_val_t v = dcf_store_val_text(id, strlen(id));
    int rc = svc_query(s, tx, "SELECT " CALL_COLS " FROM calls WHERE id = $1", &v, 1, call_row, k);
    if (rc == DCF_OK && k->seq == 0)
        rc = DCF_ENOENT;
    return rc;
}

static json_t *opt_time(dcf_time_t t) {
    return t ? svc_time_json(t) : json_null();
}

static json_t *opt_str(const char *s) {
    return s[0] ? json_string(s) : json_null();
}

/* The call without transcript and readouts (events, lists). */
static json_t *call_json(const call_t *k) {
    json_t *declines = json_array();
    size_t i;
    json_t *d;
    json_array_foreach(k->declines, i, d) json_array_append_new(
        declines, json_pack("{s:O, s:O, s:o}", "party", json_object_get(d, "party"), "reason",
                            json_object_get(d, "reason"), "at",
                            svc_time_json(json_integer_value(json_object_get(d, "at")))));
    json_t *answered = k->answered_party[0] ? json_pack("{s:s, s:o}", "party", k->answered_party,
                                                        "by", opt_str(k->answered_by))
                                            : json_null();
    double dur = k->ended_at && k->answered_at ? (double)(k->ended_at - k->answered_at) / 1e6 : 0;
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:o}, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
        "s:o, s:o}",
        "id", k->id, "line", k->line, "level", k->level, "topic", k->topic, "state", k->state,
        "caller", "party", k->caller, "by", opt_str(k->caller_by), "started_at",
        svc_time_json(k->started_at), "ring_until", svc_time_json(k->ring_until), "answered_at",
        opt_time(k->answered_at), "answered_by", answered, "declines", declines, "missed_at",
        opt_time(k->missed_at), "ended_at", opt_time(k->ended_at), "ended_by", opt_str(k->ended_by),
        "duration_s", k->ended_at && k->answered_at ? json_real(dur) : json_null());
}

/* The audit record of a call. */
static json_t *call_state(const call_t *k) {
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:O, s:I, s:s}", "id",
                     k->id, "line", k->line, "level", k->level, "topic", k->topic, "state",
                     k->state, "caller", k->caller, "answered_party", k->answered_party,
                     "started_at", (json_int_t)k->started_at, "ring_until",
                     (json_int_t)k->ring_until, "answered_at", (json_int_t)k->answered_at,
                     "answered_by", k->answered_by, "declines", k->declines, "ended_at",
                     (json_int_t)k->ended_at, "ended_by", k->ended_by);
}

static int call_save(dcf_store_tx_t *tx, const call_t *k) {
    char *dec = json_dumps(k->declines, JSON_COMPACT);
    if (dec == NULL)
        return DCF_ENOMEM;
#define T(x) ((x)[0] ? dcf_store_val_text((x), strlen(x)) : dcf_store_val_null())
#define I(x) ((x) ? dcf_store_val_int(x) : dcf_store_val_null())
    dcf_store_val_t v[9] = {dcf_store_val_text(k->id, strlen(k->id)),
                            dcf_store_val_text(k->state, strlen(k->state)),
                            I(k->answered_at),
                            T(k->answered_party),
                            T(k->answered_by),
                            dcf_store_val_text(dec, strlen(dec)),
                            I(k->missed_at),
                            I(k->ended_at),
                            T(k->ended_by)};
#undef T
#undef I
    int rc = dcf_store_tx_exec(tx,
                               "UPDATE calls SET state = $2, answered_at = $3, answered_party = "
                               "$4, answered_by = $5, declines = $6, missed_at = $7, ended_at = "
                               "$8, ended_by = $9 WHERE id = $1",
                               v, 9, NULL);
    free(dec);
    return rc;
}

/* Event `type` about call k to the line's members (or only `only`) and
 * its audit entry (action; who NULL: the server). */
static int call_changed(dcf_service_t *s, dcf_store_tx_t *tx, const dcf_principal_t *who,
                        const svc_line_t *l, const call_t *k, const char *type, const char *action,
                        bool callees_only, dcf_time_t at, svc_notify_t *n) {
    json_t *d = call_json(k);
    int rc = d ? DCF_OK : DCF_ENOMEM;
    if (rc == DCF_OK)
        json_object_del(d, "line"); /* svc_line_event adds it back */
    for (size_t i = 0; i < l->n && rc == DCF_OK; i++) {
        if (callees_only && strcmp(l->m[i].party, k->caller) == 0)
            continue;
        rc = svc_line_event(s, tx, l, l->m[i].party, type, d, at, n);
    }
    json_decref(d);
    if (rc == DCF_OK) {
        json_t *st = call_state(k);
        rc = svc_line_audit(s, tx, who, at, action, "call", k->id, st, l);
        json_decref(st);
    }
    return rc;
}

/* -------------------------------------------------------------- start -- */

typedef struct {
    dcf_service_t *s;
    const dcf_principal_t *who;
    const char *line_id, *id, *locale;
    dcf_call_act_t act;
    const char *by, *reason, *topic, *text, *visibility;
    int level;
    const char *why;
    call_t k;
    svc_line_t l;
    svc_notify_t notify;
} call_w_t;

static int start_fn(dcf_store_tx_t *tx, void *arg) {
    call_w_t *a = arg;
    dcf_time_t now = svc_now(a->s);
    int rc = svc_line_access_tx(a->s, tx, a->who, a->line_id, &a->l);
    if (rc != DCF_OK)
        return rc;
    if (strcmp(a->l.state, "open") != 0) {
        a->why = "invalid-transition";
        return DCF_ESTATE;
    }
    if (svc_line_suspended(&a->l)) {
        a->why = "suspended";
        return DCF_ESTATE;
    }
    call_t *k = &a->k;
    svc_random_id("cal-", k->id, sizeof k->id);
    k->seq = ++a->s->call_seq;
    snprintf(k->line, sizeof k->line, "%s", a->l.id);
    snprintf(k->level, sizeof k->level, "%s", svc_level_names[a->level]);
    snprintf(k->state, sizeof k->state, "ringing");
    snprintf(k->topic, sizeof k->topic, "%s", a->topic);
    snprintf(k->caller, sizeof k->caller, "%s", a->who->party);
    snprintf(k->caller_by, sizeof k->caller_by, "%s", a->by ? a->by : "");
    k->started_at = now;
    k->ring_until = now + a->s->o.hotline.ring_timeout_us;
    k->declines = json_array();
    dcf_store_val_t v[9] = {dcf_store_val_text(k->id, strlen(k->id)),
                            dcf_store_val_int(k->seq),
                            dcf_store_val_text(k->line, strlen(k->line)),
                            dcf_store_val_text(k->level, strlen(k->level)),
                            dcf_store_val_text(k->topic, strlen(k->topic)),
                            dcf_store_val_text(k->caller, strlen(k->caller)),
                            k->caller_by[0] ? dcf_store_val_text(k->caller_by, strlen(k->caller_by))
                                            : dcf_store_val_null(),
                            dcf_store_val_int(k->started_at),
                            dcf_store_val_int(k->ring_until)};
    rc = dcf_store_tx_exec(tx,
                           "INSERT INTO calls (id, seq, line, level, topic, caller, caller_by, "
                           "state, started_at, ring_until, declines) VALUES ($1, $2, $3, $4, $5, "
                           "$6, $7, 'ringing', $8, $9, '[]')",
                           v, 9, NULL);
    if (rc != DCF_OK) {
        a->s->call_seq--;
        return rc;
    }
    return call_changed(a->s, tx, a->who, &a->l, k, "call.ringing", "call.start", true, now,
                        &a->notify);
}

/* ------------------------------------------------ answer, decline, end -- */

static bool on_call(const call_t *k, const char *party) {
    return strcmp(k->caller, party) == 0 || strcmp(k->answered_party, party) == 0;
}

static int act_fn(dcf_store_tx_t *tx, void *arg) {
    call_w_t *a = arg;
    call_t *k = &a->k;
    dcf_time_t now = svc_now(a->s);
    const char *me = a->who->party;
    int rc = call_load(a->s, tx, a->id, k);
    if (rc == DCF_OK)
        rc = svc_line_access_tx(a->s, tx, a->who, k->line, &a->l);
    if (rc != DCF_OK)
        return rc == DCF_EPERM ? DCF_EPERM : DCF_ENOENT;
    int level = svc_level_parse(k->level);
    if (svc_role_level(a->who->role) != level) {
        a->why = "role";
        return DCF_EPERM;
    }
    bool ringing = strcmp(k->state, "ringing") == 0 && now < k->ring_until;
    switch (a->act) {
    case DCF_CALL_ANSWER:
    case DCF_CALL_DECLINE: {
        if (strcmp(k->caller, me) == 0) {
            a->why = "caller";
            return DCF_EPERM;
        }
        size_t i;
        json_t *d;
        bool declined = false;
        json_array_foreach(k->declines, i, d) declined =
            declined || strcmp(json_string_value(json_object_get(d, "party")), me) == 0;
        if (!ringing || declined)
            return DCF_ESTATE;
        if (a->act == DCF_CALL_ANSWER) {
            snprintf(k->state, sizeof k->state, "answered");
            k->answered_at = now;
            snprintf(k->answered_party, sizeof k->answered_party, "%s", me);
            snprintf(k->answered_by, sizeof k->answered_by, "%s", a->by ? a->by : "");
            rc = call_save(tx, k);
            if (rc == DCF_OK)
                rc = call_changed(a->s, tx, a->who, &a->l, k, "call.answered", "call.answer", false,
                                  now, &a->notify);
            if (rc == DCF_OK && level == SVC_SENIOR)
                rc = svc_line_senior_answered(a->s, tx, &a->l, now, &a->notify);
            return rc;
        }
        json_array_append_new(k->declines, json_pack("{s:s, s:s?, s:I}", "party", me, "reason",
                                                     a->reason, "at", (json_int_t)now));
        if (json_array_size(k->declines) + 1 >= a->l.n)
            snprintf(k->state, sizeof k->state, "declined");
        rc = call_save(tx, k);
        return rc == DCF_OK ? call_changed(a->s, tx, a->who, &a->l, k, "call.declined",
                                           "call.decline", false, now, &a->notify)
                            : rc;
    }
    case DCF_CALL_END:
        if (!on_call(k, me)) {
            a->why = "not-on-call";
            return DCF_EPERM;
        }
        if (strcmp(k->state, "answered") != 0)
            return DCF_ESTATE;
        snprintf(k->state, sizeof k->state, "ended");
        k->ended_at = now;
        snprintf(k->ended_by, sizeof k->ended_by, "%s", me);
        rc = call_save(tx, k);
        return rc == DCF_OK ? call_changed(a->s, tx, a->who, &a->l, k, "call.ended", "call.end",
                                           false, now, &a->notify)
                            : rc;
    }
    return DCF_EINTERNAL;
}

/* -------------------------------------------------------------- readout -- */

typedef struct {
    json_t *items;
    const char *party;
} readouts_t;

static int readout_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    readouts_t *r = arg;
    (void)nc;
    char party[DCF_PARTY_MAX + 1], vis[16];
    svc_text_copy(party, sizeof party, &c[0]);
    svc_text_copy(vis, sizeof vis, &c[1]);
    if (r->party != NULL && strcmp(vis, "shared") != 0 && strcmp(party, r->party) != 0)
        return 0;
    json_t *o = json_pack("{s:s, s:s, s:s%, s:o, s:o}", "party", party, "visibility", vis, "text",
                          c[2].u.b.ptr, c[2].u.b.len, "by",
                          c[3].type == DCF_STORE_TEXT ? json_stringn(c[3].u.b.ptr, c[3].u.b.len)
                                                      : json_null(),
                          "filed_at", svc_time_json(c[4].u.i));
    return o && json_array_append_new(r->items, o) == 0 ? 0 : DCF_ENOMEM;
}

/* The readouts of call `id` that `party` may see (NULL: all). */
static int readouts_read(dcf_service_t *s, dcf_store_tx_t *tx, const char *id, const char *party,
                         json_t **out) {
    readouts_t r = {json_array(), party};
    dcf_store_val_t v = dcf_store_val_text(id, strlen(id));
    int rc = r.items ? svc_query(s, tx,
                                 "SELECT party, visibility, text, by_name, filed_at FROM readouts "
                                 "WHERE call = $1 ORDER BY filed_at, party",
                                 &v, 1, readout_row, &r)
                     : DCF_ENOMEM;
    if (rc != DCF_OK)
        json_decref(r.items);
    else
        *out = r.items;
    return rc;
}

static int readout_fn(dcf_store_tx_t *tx, void *arg) {
    call_w_t *a = arg;
    call_t *k = &a->k;
    dcf_time_t now = svc_now(a->s);
    const char *me = a->who->party;
    int rc = call_load(a->s, tx, a->id, k);
    if (rc == DCF_OK)
        rc = svc_line_access_tx(a->s, tx, a->who, k->line, &a->l);
    if (rc != DCF_OK)
        return rc == DCF_EPERM ? DCF_EPERM : DCF_ENOENT;
    if (svc_role_level(a->who->role) != svc_level_parse(k->level)) {
        a->why = "role";
        return DCF_EPERM;
    }
    if (!on_call(k, me)) {
        a->why = "not-on-call";
        return DCF_EPERM;
    }
    if (strcmp(k->state, "ended") != 0)
        return DCF_ESTATE;
    dcf_store_val_t v[6] = {dcf_store_val_text(k->id, strlen(k->id)),
                            dcf_store_val_text(me, strlen(me)),
                            dcf_store_val_text(a->visibility, strlen(a->visibility)),
                            dcf_store_val_text(a->text, strlen(a->text)),
                            a->by ? dcf_store_val_text(a->by, strlen(a->by)) : dcf_store_val_null(),
                            dcf_store_val_int(now)};
    rc = dcf_store_tx_exec(tx,
                           "INSERT INTO readouts (call, party, visibility, text, by_name, "
                           "filed_at) VALUES ($1, $2, $3, $4, $5, $6)",
                           v, 6, NULL);
    if (rc == DCF_ECONFLICT)
        return DCF_EEXIST;
    if (rc != DCF_OK)
        return rc;
    bool shared = strcmp(a->visibility, "shared") == 0;
    json_t *d = json_pack("{s:s, s:s, s:s, s:s}", "call", k->id, "party", me, "visibility",
                          a->visibility, "level", k->level);
    rc = d ? svc_line_event(a->s, tx, &a->l, shared ? NULL : me, "call.readout", d, now, &a->notify)
           : DCF_ENOMEM;
    json_decref(d);
    if (rc == DCF_OK) {
        char oid[SVC_ID_MAX + DCF_PARTY_MAX + 2];
        snprintf(oid, sizeof oid, "%s/%s", k->id, me);
        json_t *st = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "call", k->id, "party", me,
                               "visibility", a->visibility, "text", a->text, "by",
                               a->by ? a->by : "", "filed_at", (json_int_t)now);
        svc_audit_obj_t o = {"readout", oid, st, NULL};
        rc = st ? svc_audit_add(a->s, tx, a->who, now, "call.readout", &o, 1, &me, 1) : DCF_ENOMEM;
        if (rc == DCF_OK && shared) {
            json_decref(st);
            st = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "call", k->id, "party", me,
                           "visibility", a->visibility, "text", a->text, "by", a->by ? a->by : "",
                           "filed_at", (json_int_t)now);
            rc = st ? svc_line_audit(a->s, tx, a->who, now, "call.readout.share", "readout", oid,
                                     st, &a->l)
                    : DCF_ENOMEM;
        }
        json_decref(st);
    }
    return rc;
}

/* ------------------------------------------------------------ public -- */

/* An optional string member within bounds; DCF_OK with *out (NULL when
 * absent). */
static int opt_member(json_t *j, const char *key, size_t max, bool required, bool multiline,
                      const char *title, const char **out, dcf_problem_t *p) {
    json_t *v = json_object_get(j, key);
    char at[40], rule[120];
    *out = NULL;
    snprintf(at, sizeof at, "/%s", key);
    if (v == NULL)
        return required ? svc_invalid(p, title, at, "is required") : DCF_OK;
    if (!json_is_string(v) || !svc_text_ok(json_string_value(v), max, !required, multiline)) {
        snprintf(rule, sizeof rule, "must be a string of %d..%zu bytes without control characters",
                 required ? 1 : 0, max);
        return svc_invalid(p, title, at, rule);
    }
    *out = json_string_value(v);
    return DCF_OK;
}

/* The full call as `party` sees it. */
static int call_full(dcf_service_t *s, const call_t *k, const char *party, const char *locale,
                     json_t **out) {
    json_t *c = call_json(k), *tr = NULL, *ro = NULL;
    int rc = c ? DCF_OK : DCF_ENOMEM;
    if (rc == DCF_OK)
        rc = svc_call_transcript(s, k->id, party, locale, &tr);
    if (rc == DCF_OK)
        rc = readouts_read(s, NULL, k->id, party, &ro);
    if (rc == DCF_OK) {
        json_object_set_new(c, "transcript", tr);
        json_object_set_new(c, "readouts", ro);
        *out = c;
        return DCF_OK;
    }
    json_decref(c);
    json_decref(tr);
    json_decref(ro);
    return rc;
}

static int call_fail(call_w_t *a, int rc, dcf_problem_t *p) {
    if (rc == DCF_ENOENT)
        return svc_fail(p, rc, "not-found", "No such %s", a->line_id ? "line" : "call");
    if (rc == DCF_EPERM) {
        const char *why = a->why ? a->why : "";
        return svc_fail(p, rc, "forbidden", "%s",
                        strcmp(why, "caller") == 0
                            ? "The caller's party does not answer its own call"
                        : strcmp(why, "not-on-call") == 0 ? "Your party is not on this call"
                        : a->who->party[0] == '\0'
                            ? "Lines belong to parties"
                            : "Only the desk of the call's level (duty or senior) does this");
    }
    if (rc == DCF_ESTATE && a->why != NULL && strcmp(a->why, "suspended") == 0)
        return svc_fail(p, rc, "suspended",
                        "A side of this line is suspended: no calls until it resumes");
    if (rc == DCF_ESTATE)
        return svc_fail(p, rc, "invalid-transition", "%s",
                        a->line_id               ? "The line is not open"
                        : a->act == DCF_CALL_END ? "The call is not answered"
                        : a->text != NULL        ? "A readout is filed after the call ended"
                                                 : "The call is not ringing for your party");
    if (rc == DCF_EEXIST)
        return svc_fail(p, rc, "exists", "Your party has filed its readout of this call");
    return svc_internal(p, rc);
}

static int call_write(dcf_service_t *s, call_w_t *a, dcf_store_write_fn fn, json_t **out,
                      dcf_problem_t *p) {
    int rc = svc_write(s, fn, a);
    if (rc == DCF_OK) {
        svc_notify(s, &a->notify);
        rc = call_full(s, &a->k, a->who->party, a->locale, out);
        if (rc != DCF_OK)
            rc = svc_internal(p, rc);
    } else
        rc = call_fail(a, rc, p);
    json_decref(a->k.declines);
    free(a);
    return rc;
}

int dcf_call_start(dcf_service_t *s, const dcf_principal_t *who, const char *line, const char *body,
                   size_t len, const char *locale, json_t **out, dcf_problem_t *p) {
    static const char *const MEMBERS[] = {"level", "topic", "by", NULL};
    static const char TITLE[] = "Invalid call";
    json_t *j = NULL;
    call_w_t *a = calloc(1, sizeof *a);
    int rc;
    if (a == NULL)
        return svc_internal(p, DCF_ENOMEM);
    if ((rc = svc_line_access(s, NULL, who, line, &a->l, p)) != DCF_OK)
        goto fail;
    if ((rc = svc_parse_body(s, body, len, &j, p)) != DCF_OK ||
        (rc = svc_only_members(j, MEMBERS, TITLE, p)) != DCF_OK)
        goto fail;
    json_t *lv = json_object_get(j, "level");
    a->level = json_is_string(lv) ? svc_level_parse(json_string_value(lv)) : -1;
    if (a->level < 0) {
        rc = svc_invalid(p, TITLE, "/level", lv ? "must be duty or senior" : "is required");
        goto fail;
    }
    if ((rc = opt_member(j, "topic", CALL_TOPIC_MAX, true, false, TITLE, &a->topic, p)) != DCF_OK ||
        (rc = opt_member(j, "by", SVC_NAME_MAX, false, false, TITLE, &a->by, p)) != DCF_OK)
        goto fail;
    if (svc_role_level(who->role) != a->level) {
        rc = svc_fail(p, DCF_EPERM, "forbidden", "Only the %s desk places a call at the %s level",
                      svc_level_names[a->level], svc_level_names[a->level]);
        goto fail;
    }
    a->s = s;
    a->who = who;
    a->line_id = line;
    a->locale = locale;
    rc = call_write(s, a, start_fn, out, p);
    json_decref(j);
    return rc;
fail:
    free(a);
    json_decref(j);
    return rc;
}

int dcf_call_act(dcf_service_t *s, const dcf_principal_t *who, const char *id, dcf_call_act_t act,
                 const char *body, size_t len, const char *locale, json_t **out, dcf_problem_t *p) {
    static const char *const ANSWER[] = {"by", NULL}, *const DECLINE[] = {"reason", "by", NULL},
                             *const NONE[] = {NULL};
    static const char TITLE[] = "Invalid call action";
    json_t *j = NULL;
    call_w_t *a = calloc(1, sizeof *a);
    int rc = DCF_OK;
    if (a == NULL)
        return svc_internal(p, DCF_ENOMEM);
    *a = (call_w_t){.s = s, .who = who, .id = id, .act = act, .locale = locale};
    if (body != NULL && len > 0) {
        if ((rc = svc_parse_body(s, body, len, &j, p)) != DCF_OK ||
            (rc = svc_only_members(j,
                                   act == DCF_CALL_ANSWER    ? ANSWER
                                   : act == DCF_CALL_DECLINE ? DECLINE
                                                             : NONE,
                                   TITLE, p)) != DCF_OK ||
            (rc = opt_member(j, "by", SVC_NAME_MAX, false, false, TITLE, &a->by, p)) != DCF_OK ||
            (rc = opt_member(j, "reason", SVC_REASON_MAX, false, false, TITLE, &a->reason, p)) !=
                DCF_OK) {
            free(a);
            json_decref(j);
            return rc;
        }
    }
    rc = call_write(s, a, act_fn, out, p);
    json_decref(j);
    return rc;
}

int dcf_call_readout(dcf_service_t *s, const dcf_principal_t *who, const char *id, const char *body,
                     size_t len, const char *locale, json_t **out, dcf_problem_t *p) {
    static const char *const MEMBERS[] = {"visibility", "text", "by", NULL};
    static const char TITLE[] = "Invalid readout";
    json_t *j = NULL;
    call_w_t *a = calloc(1, sizeof *a);
    int rc;
    if (a == NULL)
        return svc_internal(p, DCF_ENOMEM);
    *a = (call_w_t){.s = s, .who = who, .id = id, .locale = locale};
    if ((rc = svc_parse_body(s, body, len, &j, p)) != DCF_OK ||
        (rc = svc_only_members(j, MEMBERS, TITLE, p)) != DCF_OK)
        goto fail;
    json_t *vis = json_object_get(j, "visibility");
    if (!json_is_string(vis) || (strcmp(json_string_value(vis), "internal") != 0 &&
                                 strcmp(json_string_value(vis), "shared") != 0)) {
        rc = svc_invalid(p, TITLE, "/visibility",
                         vis ? "must be internal or shared" : "is required");
        goto fail;
    }
    a->visibility = json_string_value(vis);
    if ((rc = opt_member(j, "text", READOUT_TEXT_MAX, true, true, TITLE, &a->text, p)) != DCF_OK ||
        (rc = opt_member(j, "by", SVC_NAME_MAX, false, false, TITLE, &a->by, p)) != DCF_OK)
        goto fail;
    rc = call_write(s, a, readout_fn, out, p);
    json_decref(j);
    return rc;
fail:
    free(a);
    json_decref(j);
    return rc;
}

int dcf_call_get(dcf_service_t *s, const dcf_principal_t *who, const char *id, const char *locale,
                 json_t **out, dcf_problem_t *p) {
    call_t k;
    svc_line_t *l = malloc(sizeof *l);
    int rc;
    memset(&k, 0, sizeof k);
    if (l == NULL)
        return svc_internal(p, DCF_ENOMEM);
    if (who->party[0] == '\0')
        rc = svc_fail(p, DCF_EPERM, "forbidden", "Lines belong to parties");
    else if ((rc = call_load(s, NULL, id, &k)) != DCF_OK ||
             (rc = svc_line_access_tx(s, NULL, who, k.line, l)) != DCF_OK)
        rc = rc == DCF_ENOENT ? svc_fail(p, rc, "not-found", "No such call") : svc_internal(p, rc);
    else if ((rc = call_full(s, &k, who->party, locale, out)) != DCF_OK)
        rc = svc_internal(p, rc);
    json_decref(k.declines);
    free(l);
    return rc;
}

typedef struct {
    svc_page_t pg;
} call_page_t;

static int call_list_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    call_page_t *cp = arg;
    call_t k;
    memset(&k, 0, sizeof k);
    int rc = call_row(&k, c, nc);
    if (rc == DCF_OK)
        rc = svc_page_add(&cp->pg, call_json(&k), k.seq);
    json_decref(k.declines);
    return rc;
}

int dcf_call_list(dcf_service_t *s, const dcf_principal_t *who, const char *line, unsigned limit,
                  int64_t after, json_t **out, dcf_problem_t *p) {
    svc_line_t *l = malloc(sizeof *l);
    int rc;
    if (l == NULL)
        return svc_internal(p, DCF_ENOMEM);
    rc = svc_line_access(s, NULL, who, line, l, p);
    free(l);
    if (rc != DCF_OK)
        return rc;
    if (limit == 0)
        limit = 100;
    call_page_t cp = {.pg = {.items = json_array(), .want = limit}};
    dcf_store_val_t v[3] = {dcf_store_val_text(line, strlen(line)), dcf_store_val_int(after),
                            dcf_store_val_int((int64_t)limit + 1)};
    rc = dcf_store_read(s->st,
                        "SELECT " CALL_COLS " FROM calls WHERE line = $1 AND seq > $2 "
                        "ORDER BY seq LIMIT $3",
                        v, 3, call_list_row, &cp);
    if (rc != DCF_OK) {
        json_decref(cp.pg.items);
        return svc_internal(p, rc);
    }
    if (cp.pg.n > cp.pg.want)
        json_array_remove(cp.pg.items, cp.pg.want);
    *out = svc_page_finish(&cp.pg);
    return *out ? DCF_OK : svc_internal(p, DCF_ENOMEM);
}

/* --------------------------------------------------------------- timer -- */

int svc_call_miss_due(dcf_service_t *s, dcf_store_tx_t *tx, dcf_time_t now, svc_notify_t *n,
                      int *fired) {
    for (;;) {
        svc_ids_t ids = {.n = 0};
        dcf_store_val_t v[2] = {dcf_store_val_int(now), dcf_store_val_int(64)};
        int rc = dcf_store_tx_query(tx,
                                    "SELECT id FROM calls WHERE state = 'ringing' AND "
                                    "ring_until <= $1 ORDER BY ring_until LIMIT $2",
                                    v, 2, svc_id_row, &ids);
        for (size_t i = 0; i < ids.n && rc == DCF_OK; i++) {
            call_t k;
            svc_line_t *l = malloc(sizeof *l);
            memset(&k, 0, sizeof k);
            rc = l ? call_load(s, tx, ids.id[i], &k) : DCF_ENOMEM;
            if (rc == DCF_OK)
                rc = svc_line_load(s, tx, k.line, l);
            if (rc == DCF_OK) {
                snprintf(k.state, sizeof k.state, "missed");
                k.missed_at = k.ring_until;
                rc = call_save(tx, &k);
            }
            if (rc == DCF_OK)
                rc = call_changed(s, tx, NULL, l, &k, "call.missed", "call.miss", false,
                                  k.missed_at, n);
            if (rc == DCF_OK)
                (*fired)++;
            json_decref(k.declines);
            free(l);
        }
        if (rc != DCF_OK || ids.n < 64)
            return rc;
    }
}
