/*
 * hotline.c -- the hotline's timers (escalations, missed calls, line
 * checks, freeze alerts), its start-up state, the templates it serves and
 * the test clock (docs/hotline.md).
 *
 * TIMERS.  dcf_hotline_tick first asks the read pool, in one cheap query,
 * whether anything is due by the service's clock; only then does it take
 * the writer, where each kind runs to completion in one transaction: line
 * checks first (their deadlines may already have passed when the clock
 * jumped), then escalations, missed calls and freeze alerts.  Each event
 * is recorded at the time it fell due, not at the time the tick ran, so a
 * jump of the test clock records the same history as waiting would have.
 * One tick runs at a time (tick_lock).
 *
 * PRESENCE.  Each tick also compares every desk's presence (line.c's rule:
 * an open stream, or a heartbeat within the window) with what was last
 * announced, and sends `presence.changed` to every party that shares an
 * open line with the desk's party (itself included).  So a desk appearing
 * or leaving, or a heartbeat running out, reaches the other members within
 * a tick.  Presence is memory only and not audited: it is no stored
 * state.  A write that fails puts the announced value back, so the next
 * tick tries again.
 *
 * TEST CLOCK.  The offset only grows; it is memory only (a restart starts
 * at the real time again) and exists only with opts.test_clock.
 */
#include <stdlib.h>
#include <string.h>

#include "deconflict/template.h"
#include "service_int.h"

#define CLOCK_ADVANCE_MAX (366 * 86400.0) /* seconds one advance may move */
#define CHECKS_PER_LINE   1000            /* line checks one tick may send per line */

/* ------------------------------------------------------------ start-up -- */

static int pending_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    dcf_service_t *s = arg;
    char line[SVC_ID_MAX], party[DCF_PARTY_MAX + 1];
    (void)nc;
    svc_text_copy(line, sizeof line, &c[0]);
    svc_text_copy(party, sizeof party, &c[2]);
    svc_pending_add(s, line, c[1].u.i, party);
    return 0;
}

int svc_hotline_open(dcf_service_t *s) {
    int64_t v = 0;
    int rc = dcf_store_read(s->st, "SELECT COUNT(*) FROM lines WHERE state = 'open'", NULL, 0,
                            svc_int_row, &v);
    atomic_store(&s->lines_open, (size_t)v);
    if (rc == DCF_OK)
        rc =
            dcf_store_read(s->st, "SELECT MAX(seq) FROM lines", NULL, 0, svc_int_row, &s->line_seq);
    if (rc == DCF_OK)
        rc =
            dcf_store_read(s->st, "SELECT MAX(seq) FROM calls", NULL, 0, svc_int_row, &s->call_seq);
    if (rc == DCF_OK)
        rc = dcf_store_read(s->st, "SELECT line, seq, party FROM message_rcpt WHERE state = 'sent'",
                            NULL, 0, pending_row, s);
    return rc;
}

size_t dcf_service_lines_open(dcf_service_t *s) {
    return atomic_load(&s->lines_open);
}

size_t dcf_service_undelivered(dcf_service_t *s) {
    pthread_mutex_lock(&s->pending_lock);
    size_t n = dcf_strmap_count(s->pending);
    pthread_mutex_unlock(&s->pending_lock);
    return n;
}

/* ------------------------------------------------------------- freeze -- */

static int freeze_audit(dcf_service_t *s, dcf_store_tx_t *tx, const svc_line_t *l, dcf_time_t at,
                        const char *action) {
    json_t *st = json_pack("{s:s, s:I, s:I, s:I}", "line", l->id, "senior_answer_at",
                           (json_int_t)l->senior_answer_at, "freeze_since",
                           (json_int_t)l->freeze_since, "freeze_at", (json_int_t)l->freeze_at);
    int rc = svc_line_audit(s, tx, NULL, at, action, "line", l->id, st, l);
    json_decref(st);
    return rc;
}

int svc_line_senior_answered(dcf_service_t *s, dcf_store_tx_t *tx, const svc_line_t *l,
                             dcf_time_t at, svc_notify_t *n) {
    dcf_store_val_t v[2] = {dcf_store_val_text(l->id, strlen(l->id)), dcf_store_val_int(at)};
    int rc = dcf_store_tx_exec(tx,
                               "UPDATE lines SET senior_answer_at = $2, freeze_since = NULL, "
                               "freeze_at = NULL WHERE id = $1",
                               v, 2, NULL);
    if (rc != DCF_OK || l->freeze_at == 0)
        return rc;
    json_t *d = json_pack("{s:s, s:o, s:o}", "level", "senior", "since",
                          svc_time_json(l->freeze_since), "cleared_at", svc_time_json(at));
    rc = d ? svc_line_event(s, tx, l, NULL, "line.freeze_cleared", d, at, n) : DCF_ENOMEM;
    json_decref(d);
    if (rc == DCF_OK) {
        svc_line_t cleared = *l;
        cleared.senior_answer_at = at;
        cleared.freeze_since = cleared.freeze_at = 0;
        rc = freeze_audit(s, tx, &cleared, at, "line.freeze_clear");
    }
    return rc;
}

static int freeze_due(dcf_service_t *s, dcf_store_tx_t *tx, dcf_time_t now, svc_notify_t *n,
                      int *fired) {
    int64_t after = s->o.hotline.freeze_after_us;
    for (;;) {
        svc_ids_t ids = {.n = 0};
        dcf_store_val_t v[2] = {dcf_store_val_int(now - after), dcf_store_val_int(64)};
        int rc = dcf_store_tx_query(tx,
                                    "SELECT id FROM lines WHERE state = 'open' AND freeze_at IS "
                                    "NULL AND COALESCE(senior_answer_at, opened_at) <= $1 "
                                    "ORDER BY seq LIMIT $2",
                                    v, 2, svc_id_row, &ids);
        svc_line_t *l = malloc(sizeof *l);
        if (l == NULL)
            rc = DCF_ENOMEM;
        for (size_t i = 0; i < ids.n && rc == DCF_OK; i++) {
            if ((rc = svc_line_load(s, tx, ids.id[i], l)) != DCF_OK)
                break;
            l->freeze_since = l->senior_answer_at ? l->senior_answer_at : l->opened_at;
            l->freeze_at = l->freeze_since + after;
            dcf_store_val_t u[3] = {dcf_store_val_text(l->id, strlen(l->id)),
                                    dcf_store_val_int(l->freeze_since),
                                    dcf_store_val_int(l->freeze_at)};
            rc = dcf_store_tx_exec(tx,
                                   "UPDATE lines SET freeze_since = $2, freeze_at = $3 "
                                   "WHERE id = $1",
                                   u, 3, NULL);
            json_t *d = json_pack("{s:s, s:o, s:f}", "level", "senior", "since",
                                  svc_time_json(l->freeze_since), "silence_s", (double)after / 1e6);
            if (rc == DCF_OK)
                rc = d ? svc_line_event(s, tx, l, NULL, "line.freeze", d, l->freeze_at, n)
                       : DCF_ENOMEM;
            json_decref(d);
            if (rc == DCF_OK)
                rc = freeze_audit(s, tx, l, l->freeze_at, "line.freeze");
            if (rc == DCF_OK)
                (*fired)++;
        }
        free(l);
        if (rc != DCF_OK || ids.n < 64)
            return rc;
    }
}

/* -------------------------------------------------------- line checks -- */

/* Send line l's check at `at` to every member's duty desk, carrying the
 * newest signed tree head. */
static int check_send(dcf_service_t *s, dcf_store_tx_t *tx, svc_line_t *l, dcf_time_t at,
                      svc_notify_t *n) {
    json_t *sth = NULL;
    dcf_problem_t p = {0};
    if (dcf_audit_sth(s, false, &sth, &p) != DCF_OK) {
        dcf_problem_clear(&p);
        sth = json_null(); /* no head issued yet */
    }
    json_t *body = json_pack("{s:s, s:n, s:[], s:[], s:o}", "text", "Line check", "template",
                             "operations", "conflicts", "sth", sth);
    if (body == NULL)
        return DCF_ENOMEM;
    const char *rcpt[SVC_LINE_MEMBERS_MAX];
    for (size_t i = 0; i < l->n; i++)
        rcpt[i] = l->m[i].party;
    svc_msg_new_t m = {.l = l,
                       .kind = "check",
                       .type = DCF_MSG_URGENT,
                       .level = SVC_DUTY,
                       .body = body,
                       .rcpt = rcpt,
                       .n_rcpt = l->n,
                       .now = at};
    int rc = svc_msg_insert(s, tx, &m, NULL, n);
    json_decref(body);
    return rc;
}

static int checks_due(dcf_service_t *s, dcf_store_tx_t *tx, dcf_time_t now, svc_notify_t *n,
                      int *fired) {
    int64_t every = s->o.hotline.line_check_us;
    if (every <= 0)
        return DCF_OK;
    for (;;) {
        svc_ids_t ids = {.n = 0};
        dcf_store_val_t v[2] = {dcf_store_val_int(now), dcf_store_val_int(64)};
        int rc = dcf_store_tx_query(tx,
                                    "SELECT id FROM lines WHERE state = 'open' AND "
                                    "next_check_at <= $1 ORDER BY next_check_at LIMIT $2",
                                    v, 2, svc_id_row, &ids);
        svc_line_t *l = malloc(sizeof *l);
        if (l == NULL)
            rc = DCF_ENOMEM;
        for (size_t i = 0; i < ids.n && rc == DCF_OK; i++) {
            if ((rc = svc_line_load(s, tx, ids.id[i], l)) != DCF_OK)
                break;
            dcf_time_t at = l->next_check_at;
            for (int k = 0; k < CHECKS_PER_LINE && at <= now && rc == DCF_OK; k++) {
                rc = check_send(s, tx, l, at, n);
                at += every;
                if (rc == DCF_OK)
                    (*fired)++;
            }
            if (at <= now) /* too far behind: skip to the next one ahead */
                at = now + every;
            dcf_store_val_t u[2] = {dcf_store_val_text(l->id, strlen(l->id)),
                                    dcf_store_val_int(at)};
            if (rc == DCF_OK)
                rc = dcf_store_tx_exec(tx, "UPDATE lines SET next_check_at = $2 WHERE id = $1", u,
                                       2, NULL);
        }
        free(l);
        if (rc != DCF_OK || ids.n < 64)
            return rc;
    }
}

/* --------------------------------------------------------------- tick -- */

typedef struct {
    dcf_service_t *s;
    dcf_time_t now;
    int fired;
    svc_notify_t notify;
} tick_t;

static int tick_fn(dcf_store_tx_t *tx, void *arg) {
    tick_t *t = arg;
    int rc = checks_due(t->s, tx, t->now, &t->notify, &t->fired);
    if (rc == DCF_OK)
        rc = svc_msg_escalate_due(t->s, tx, t->now, &t->notify, &t->fired);
    if (rc == DCF_OK)
        rc = svc_call_miss_due(t->s, tx, t->now, &t->notify, &t->fired);
    if (rc == DCF_OK)
        rc = freeze_due(t->s, tx, t->now, &t->notify, &t->fired);
    return rc;
}

typedef struct {
    int64_t v[4];
} due_probe_t;

static int probe_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    due_probe_t *d = arg;
    for (size_t i = 0; i < nc && i < 4; i++)
        d->v[i] = c[i].type == DCF_STORE_INT ? c[i].u.i : INT64_MAX;
    return 0;
}

/* ------------------------------------------------------------ presence -- */

#define PRESENCE_CHANGES_MAX 256 /* desk changes one tick announces; the rest wait */

typedef struct {
    char party[DCF_PARTY_MAX + 1];
    int level;
    bool present;
} presence_change_t;

typedef struct {
    dcf_service_t *s;
    dcf_time_t now;
    presence_change_t *v;
    size_t n;
    svc_notify_t notify;
} presence_t;

static void presence_scan(void *arg, const char *key, void *value) {
    presence_t *ps = arg;
    svc_party_t *pt = value;
    (void)key;
    for (int level = 0; level < 2 && ps->n < PRESENCE_CHANGES_MAX; level++) {
        bool present = svc_desk_present(ps->s, pt, level, ps->now);
        if (present == pt->shown[level])
            continue;
        pt->shown[level] = present;
        presence_change_t *c = &ps->v[ps->n++];
        snprintf(c->party, sizeof c->party, "%s", pt->id);
        c->level = level;
        c->present = present;
    }
}

/* The parties that share an open line with one party (at most every
 * party there is). */
typedef struct {
    char (*parties)[DCF_PARTY_MAX + 1];
    size_t n;
} peers_t;

static int peer_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    peers_t *pe = arg;
    (void)nc;
    if (pe->n >= DCF_PARTIES_MAX)
        return DCF_ELIMIT;
    svc_text_copy(pe->parties[pe->n++], sizeof pe->parties[0], &c[0]);
    return 0;
}

static int presence_fn(dcf_store_tx_t *tx, void *arg) {
    presence_t *ps = arg;
    peers_t pe = {.parties = calloc(DCF_PARTIES_MAX, sizeof *pe.parties)};
    int rc = pe.parties != NULL ? DCF_OK : DCF_ENOMEM;
    for (size_t i = 0; i < ps->n && rc == DCF_OK; i++) {
        const presence_change_t *c = &ps->v[i];
        pe.n = 0;
        dcf_store_val_t v = dcf_store_val_text(c->party, strlen(c->party));
        rc = dcf_store_tx_query(tx,
                                "SELECT DISTINCT b.party FROM line_members a "
                                "JOIN lines l ON l.id = a.line AND l.state = 'open' "
                                "JOIN line_members b ON b.line = a.line WHERE a.party = $1",
                                &v, 1, peer_row, &pe);
        for (size_t k = 0; k < pe.n && rc == DCF_OK; k++) {
            json_t *d = json_pack("{s:s, s:s, s:b}", "party", c->party, "desk",
                                  svc_level_names[c->level], "present", c->present);
            rc = d ? svc_event_add(ps->s, tx, pe.parties[k], "presence.changed", d, ps->now,
                                   &ps->notify)
                   : DCF_ENOMEM;
            json_decref(d);
        }
    }
    free(pe.parties);
    return rc;
}

/* Announce the desks whose presence changed since the last announcement. */
static int presence_tick(dcf_service_t *s, dcf_time_t now) {
    presence_change_t v[PRESENCE_CHANGES_MAX];
    presence_t ps = {.s = s, .now = now, .v = v};
    pthread_mutex_lock(&s->cache_lock);
    dcf_strmap_each(s->parties, presence_scan, &ps);
    pthread_mutex_unlock(&s->cache_lock);
    if (ps.n == 0)
        return DCF_OK;
    int rc = svc_write(s, presence_fn, &ps);
    if (rc == DCF_OK) {
        svc_notify(s, &ps.notify);
        return DCF_OK;
    }
    pthread_mutex_lock(&s->cache_lock); /* not announced: the next tick tries again */
    for (size_t i = 0; i < ps.n; i++) {
        svc_party_t *pt = dcf_strmap_get(s->parties, v[i].party);
        if (pt != NULL)
            pt->shown[v[i].level] = !v[i].present;
    }
    pthread_mutex_unlock(&s->cache_lock);
    return rc;
}

int dcf_hotline_tick(dcf_service_t *s) {
    due_probe_t d = {{INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX}};
    pthread_mutex_lock(&s->tick_lock);
    dcf_time_t now = svc_now(s);
    int rc = dcf_store_read(
        s->st,
        "SELECT (SELECT MIN(next_escalation) FROM message_rcpt), "
        "(SELECT MIN(ring_until) FROM calls WHERE state = 'ringing'), "
        "(SELECT MIN(next_check_at) FROM lines WHERE state = 'open'), "
        "(SELECT MIN(COALESCE(senior_answer_at, opened_at)) FROM lines WHERE state = 'open' "
        "AND freeze_at IS NULL)",
        NULL, 0, probe_row, &d);
    bool due = d.v[0] <= now || d.v[1] <= now ||
               (d.v[2] <= now && s->o.hotline.line_check_us > 0) ||
               (d.v[3] != INT64_MAX && d.v[3] + s->o.hotline.freeze_after_us <= now);
    tick_t t = {.s = s, .now = now};
    if (rc == DCF_OK && due) {
        rc = svc_write(s, tick_fn, &t);
        svc_notify(s, &t.notify);
    }
    if (rc == DCF_OK)
        rc = presence_tick(s, now);
    pthread_mutex_unlock(&s->tick_lock);
    return rc == DCF_OK ? t.fired : rc;
}

/* ------------------------------------------------------------ templates -- */

int dcf_templates_list(dcf_service_t *s, json_t **out, dcf_problem_t *p) {
    json_t *items = json_array();
    size_t n = s->o.templates ? dcf_template_set_count(s->o.templates) : 0;
    for (size_t i = 0; items != NULL && i < n; i++)
        json_array_append_new(
            items, json_deep_copy(dcf_template_doc(dcf_template_set_at(s->o.templates, i))));
    *out = items ? json_pack("{s:o}", "items", items) : NULL;
    return *out ? DCF_OK : svc_internal(p, DCF_ENOMEM);
}

int dcf_templates_get(dcf_service_t *s, const char *id, json_t **out, dcf_problem_t *p) {
    const dcf_template_t *t = s->o.templates ? dcf_template_get(s->o.templates, id) : NULL;
    if (t == NULL)
        return svc_fail(p, DCF_ENOENT, "not-found", "No such template");
    *out = json_deep_copy(dcf_template_doc(t));
    return *out ? DCF_OK : svc_internal(p, DCF_ENOMEM);
}

/* --------------------------------------------------------------- clock -- */

static int clock_allowed(dcf_service_t *s, const dcf_principal_t *who, dcf_problem_t *p) {
    if (!s->o.test_clock)
        return svc_fail(p, DCF_ENOENT, "not-found", "There is no test clock (serve --test-clock)");
    if (who->role != DCF_ROLE_ADMIN)
        return svc_fail(p, DCF_EPERM, "forbidden", "Only the deployment admin moves the clock");
    return DCF_OK;
}

static json_t *clock_json(dcf_service_t *s) {
    return json_pack("{s:o, s:f}", "now", svc_time_json(svc_now(s)), "offset_s",
                     (double)atomic_load(&s->clock_offset) / 1e6);
}

int dcf_clock_get(dcf_service_t *s, const dcf_principal_t *who, json_t **out, dcf_problem_t *p) {
    int rc = clock_allowed(s, who, p);
    if (rc == DCF_OK && (*out = clock_json(s)) == NULL)
        rc = svc_internal(p, DCF_ENOMEM);
    return rc;
}

int dcf_clock_advance(dcf_service_t *s, const dcf_principal_t *who, const char *body, size_t len,
                      json_t **out, dcf_problem_t *p) {
    static const char *const MEMBERS[] = {"advance_s", NULL};
    json_t *j = NULL;
    int rc = clock_allowed(s, who, p);
    if (rc != DCF_OK)
        return rc;
    if ((rc = svc_parse_body(s, body, len, &j, p)) != DCF_OK)
        return rc;
    json_t *a = json_object_get(j, "advance_s");
    if ((rc = svc_only_members(j, MEMBERS, "Invalid clock change", p)) != DCF_OK)
        goto out;
    if (!json_is_number(a) || json_number_value(a) <= 0 ||
        json_number_value(a) > CLOCK_ADVANCE_MAX) {
        rc = svc_invalid(p, "Invalid clock change", "/advance_s",
                         a ? "must be a number of seconds, 0 < n <= 31622400" : "is required");
        goto out;
    }
    atomic_fetch_add(&s->clock_offset, (int64_t)(json_number_value(a) * 1e6));
    /* The timers catch up before the answer, so the caller sees their
     * effects at once. */
    rc = dcf_hotline_tick(s);
    if (rc >= 0)
        rc = dcf_service_sweep(s, svc_now(s));
    if (rc < 0) {
        rc = svc_internal(p, rc);
        goto out;
    }
    *out = clock_json(s);
    rc = *out ? DCF_OK : svc_internal(p, DCF_ENOMEM);
out:
    json_decref(j);
    return rc;
}
