/*
 * message.c -- hotline messages: posting, reading, delivery, acknowledgement,
 * escalation, and the server's conflict notices (docs/hotline.md).
 *
 * STATE.  A message is one `messages` row (its body JSON holds the text,
 * the template with its field values, the references, and for a notice
 * each side's conflict view) and one `message_rcpt` row per recipient
 * party, which moves sent -> delivered -> acknowledged.  `next_escalation`
 * is when that recipient's copy escalates next; it is NULL once
 * acknowledged, when the type has no deadline, and after the last
 * escalation (SVC_ESCALATIONS_MAX).
 *
 * VISIBILITY.  A party sees a message it sent or one it receives; a notice
 * goes only to the conflict's two parties, so the other members of a
 * multilateral line never see it.  A notice shows each party its own view.
 *
 * DELIVERY.  The service keeps the set of (line, seq, party) still "sent"
 * in memory (s->pending), filled inside the write that posts (a rolled
 * back post leaves a stale key, whose delivery then changes no row), so
 * that an event stream can tell without SQL whether the event it just
 * wrote delivers something.  The set is rebuilt from the store at start-up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deconflict/template.h"
#include "service_int.h"

#define SVC_ESCALATIONS_MAX 100 /* escalations of one message to one party */
#define MSG_TEXT_MAX        4000
#define MSG_REPLY_MAX       2000
#define MSG_REFS_MAX        16
#define MSG_DUE_BATCH       256

static const char *const TYPE_NAMES[DCF_MSG_TYPE_COUNT] = {"info", "request", "warning", "urgent"};

static int type_parse(const char *s) {
    for (int i = 0; i < DCF_MSG_TYPE_COUNT; i++)
        if (strcmp(s, TYPE_NAMES[i]) == 0)
            return i;
    return -1;
}

/* --------------------------------------------------------- pending set -- */

static void pending_key(char *out, size_t cap, const char *line, int64_t seq, const char *party) {
    snprintf(out, cap, "%s/%lld/%s", line, (long long)seq, party);
}

void svc_pending_add(dcf_service_t *s, const char *line, int64_t seq, const char *party) {
    char key[SVC_ID_MAX + DCF_PARTY_MAX + 32];
    pending_key(key, sizeof key, line, seq, party);
    pthread_mutex_lock(&s->pending_lock);
    if (dcf_strmap_get(s->pending, key) == NULL) {
        char *own = strdup(key); /* the map borrows its keys: the value is the key */
        if (own != NULL && dcf_strmap_put(s->pending, own, own) != DCF_OK)
            free(own);
    }
    pthread_mutex_unlock(&s->pending_lock);
}

bool svc_pending_take(dcf_service_t *s, const char *line, int64_t seq, const char *party) {
    char key[SVC_ID_MAX + DCF_PARTY_MAX + 32];
    pending_key(key, sizeof key, line, seq, party);
    pthread_mutex_lock(&s->pending_lock);
    char *own = dcf_strmap_del(s->pending, key);
    pthread_mutex_unlock(&s->pending_lock);
    bool had = own != NULL;
    free(own);
    return had;
}

/* -------------------------------------------------------------- render -- */

typedef struct {
    char line[SVC_ID_MAX];
    int64_t seq;
    char kind[12], type[12], level[8];
    char sender[DCF_PARTY_MAX + 1]; /* "" for the server */
    char call[SVC_ID_MAX], conflict[SVC_ID_MAX];
    json_t *body;
    dcf_time_t sent_at, deadline;
    json_t *rcpts; /* array of recipient objects */
} msg_row_t;

#define MSG_COLS "line, seq, kind, type, level, sender, body, call, conflict, sent_at, deadline"
#define RCPT_COLS                                                                                  \
    "party, state, delivered_at, acked_at, acked_by, reply, escalations, next_escalation"

static json_t *opt_time(const dcf_store_val_t *c) {
    return c->type == DCF_STORE_INT ? svc_time_json(c->u.i) : json_null();
}

static json_t *opt_text(const dcf_store_val_t *c) {
    return c->type == DCF_STORE_TEXT ? json_stringn(c->u.b.ptr, c->u.b.len) : json_null();
}

static int rcpt_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    msg_row_t *m = arg;
    (void)nc;
    json_t *esc = json_array(), *raw = json_loadb(c[6].u.b.ptr, c[6].u.b.len, 0, NULL);
    size_t i;
    json_t *t;
    json_array_foreach(raw, i, t) json_array_append_new(esc, svc_time_json(json_integer_value(t)));
    json_decref(raw);
    json_t *r = json_pack("{s:s%, s:s%, s:o, s:o, s:o, s:o, s:o}", "party", c[0].u.b.ptr,
                          c[0].u.b.len, "state", c[1].u.b.ptr, c[1].u.b.len, "delivered_at",
                          opt_time(&c[2]), "acknowledged_at", opt_time(&c[3]), "acknowledged_by",
                          opt_text(&c[4]), "reply", opt_text(&c[5]), "escalations", esc);
    return r != NULL && json_array_append_new(m->rcpts, r) == 0 ? 0 : DCF_ENOMEM;
}

static void msg_row_clear(msg_row_t *m) {
    json_decref(m->body);
    json_decref(m->rcpts);
    memset(m, 0, sizeof *m);
}

static void msg_from_cols(msg_row_t *m, const dcf_store_val_t *c) {
    memset(m, 0, sizeof *m);
    svc_text_copy(m->line, sizeof m->line, &c[0]);
    m->seq = c[1].u.i;
    svc_text_copy(m->kind, sizeof m->kind, &c[2]);
    svc_text_copy(m->type, sizeof m->type, &c[3]);
    svc_text_copy(m->level, sizeof m->level, &c[4]);
    svc_text_copy(m->sender, sizeof m->sender, &c[5]);
    m->body = json_loadb(c[6].u.b.ptr, c[6].u.b.len, 0, NULL);
    svc_text_copy(m->call, sizeof m->call, &c[7]);
    svc_text_copy(m->conflict, sizeof m->conflict, &c[8]);
    m->sent_at = c[9].u.i;
    m->deadline = c[10].type == DCF_STORE_INT ? c[10].u.i : 0;
    m->rcpts = json_array();
}

static int load_rcpts(dcf_service_t *s, dcf_store_tx_t *tx, msg_row_t *m) {
    dcf_store_val_t v[2] = {dcf_store_val_text(m->line, strlen(m->line)),
                            dcf_store_val_int(m->seq)};
    return svc_query(s, tx,
                     "SELECT " RCPT_COLS " FROM message_rcpt WHERE line = $1 AND seq = $2 "
                     "ORDER BY party",
                     v, 2, rcpt_row, m);
}

static bool msg_visible(const msg_row_t *m, const char *party) {
    if (strcmp(m->sender, party) == 0)
        return true;
    size_t i;
    json_t *r;
    json_array_foreach(m->rcpts, i, r) if (strcmp(json_string_value(json_object_get(r, "party")),
                                                  party) == 0) return true;
    return false;
}

/* The state of party's copy ("sent", ...) or NULL when it is not a recipient. */
static const char *rcpt_state(const msg_row_t *m, const char *party) {
    size_t i;
    json_t *r;
    json_array_foreach(m->rcpts, i, r) {
        if (strcmp(json_string_value(json_object_get(r, "party")), party) == 0)
            return json_string_value(json_object_get(r, "state"));
    }
    return NULL;
}

/* {"id", "version", "fields", "locale", "title", "rendering", "renderings"}. */
static json_t *template_json(dcf_service_t *s, json_t *t, const char *locale) {
    json_t *out = json_deep_copy(t);
    const dcf_template_t *tpl =
        s->o.templates
            ? dcf_template_get(s->o.templates, json_string_value(json_object_get(t, "id")))
            : NULL;
    if (out == NULL)
        return NULL;
    json_t *all = json_object();
    static const char *const LOCALES[] = {"en", "ru"};
    for (size_t i = 0; i < 2 && tpl != NULL; i++) {
        char *text = NULL;
        if (dcf_template_render(tpl, json_object_get(t, "fields"), LOCALES[i], &text) == DCF_OK) {
            json_object_set_new(all, LOCALES[i],
                                json_pack("{s:s, s:s}", "title",
                                          dcf_template_title(tpl, LOCALES[i]), "text", text));
            free(text);
        }
    }
    json_t *mine = json_object_get(all, locale);
    json_object_set_new(out, "locale", json_string(locale));
    json_object_set(out, "title", mine ? json_object_get(mine, "title") : json_null());
    json_object_set(out, "rendering", mine ? json_object_get(mine, "text") : json_null());
    json_object_set_new(out, "renderings", all);
    return out;
}

static json_t *body_get(const msg_row_t *m, const char *key) {
    json_t *v = json_object_get(m->body, key);
    return v ? v : json_null();
}

/* The message as `party` sees it.  Line and seq come first (the event
 * stream reads them without parsing; dcf_msg_streamed). */
static json_t *msg_render(dcf_service_t *s, const msg_row_t *m, const char *party,
                          const char *locale) {
    json_t *tpl = json_object_get(m->body, "template");
    json_t *view = json_object_get(json_object_get(m->body, "views"), party);
    json_t *ops = json_object_get(m->body, "operations");
    json_t *cfs = json_object_get(m->body, "conflicts");
    /* The references are the sender's: another party sees the conflicts
     * (which are its own too) but never the sender's operation ids. */
    bool own = strcmp(m->sender, party) == 0;
    return json_pack(
        "{s:s, s:I, s:s, s:s, s:s, s:{s:o}, s:O, s:o, s:o, s:o, s:o, s:o, s:O, s:o, "
        "s:o, s:O}",
        "line", m->line, "seq", (json_int_t)m->seq, "kind", m->kind, "type", m->type, "level",
        m->level, "from", "party", m->sender[0] ? json_string(m->sender) : json_null(), "text",
        body_get(m, "text"), "template",
        json_is_object(tpl) ? template_json(s, tpl, locale) : json_null(), "operations",
        own && ops ? json_incref(ops) : json_array(), "conflicts",
        cfs ? json_incref(cfs) : json_array(), "call",
        m->call[0] ? json_string(m->call) : json_null(), "conflict",
        view ? json_incref(view) : json_null(), "sth", body_get(m, "sth"), "sent_at",
        svc_time_json(m->sent_at), "deadline",
        m->deadline ? svc_time_json(m->deadline) : json_null(), "recipients", m->rcpts);
}

static int one_msg_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    (void)nc;
    msg_from_cols(arg, c);
    return 0;
}

/* Load message (line, seq) with its recipients; DCF_ENOENT when absent. */
static int msg_load(dcf_service_t *s, dcf_store_tx_t *tx, const char *line, int64_t seq,
                    msg_row_t *m) {
    memset(m, 0, sizeof *m);
    dcf_store_val_t v[2] = {dcf_store_val_text(line, strlen(line)), dcf_store_val_int(seq)};
    int rc = svc_query(s, tx, "SELECT " MSG_COLS " FROM messages WHERE line = $1 AND seq = $2", v,
                       2, one_msg_row, m);
    if (rc == DCF_OK && m->seq == 0)
        rc = DCF_ENOENT;
    if (rc == DCF_OK && (m->body == NULL || m->rcpts == NULL))
        rc = DCF_ENOMEM;
    if (rc == DCF_OK)
        rc = load_rcpts(s, tx, m);
    if (rc != DCF_OK)
        msg_row_clear(m);
    return rc;
}

int svc_msg_json(dcf_service_t *s, dcf_store_tx_t *tx, const char *line, int64_t seq,
                 const char *party, const char *locale, json_t **out) {
    msg_row_t m;
    int rc = msg_load(s, tx, line, seq, &m);
    if (rc != DCF_OK)
        return rc;
    if (!msg_visible(&m, party))
        rc = DCF_ENOENT;
    else if ((*out = msg_render(s, &m, party, locale)) == NULL)
        rc = DCF_ENOMEM;
    msg_row_clear(&m);
    return rc;
}

/* The audit record of a message (or of one recipient's copy of it). */
static json_t *msg_state(const msg_row_t *m) {
    return json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:O, s:s, s:s, s:I, s:I, s:O}", "line",
                     m->line, "seq", (json_int_t)m->seq, "kind", m->kind, "type", m->type, "level",
                     m->level, "sender", m->sender, "body", m->body, "call", m->call, "conflict",
                     m->conflict, "sent_at", (json_int_t)m->sent_at, "deadline",
                     (json_int_t)m->deadline, "recipients", m->rcpts);
}

/* One audit entry about message row m (as it is now), naming `parties`. */
static int msg_audit_row(dcf_service_t *s, dcf_store_tx_t *tx, const dcf_principal_t *who,
                         dcf_time_t at, const char *action, const msg_row_t *m,
                         const char *const *parties, size_t n) {
    char id[SVC_ID_MAX + 24];
    snprintf(id, sizeof id, "%s/%lld", m->line, (long long)m->seq);
    json_t *st = msg_state(m);
    if (st == NULL)
        return DCF_ENOMEM;
    svc_audit_obj_t o = {"message", id, st, NULL};
    int rc = svc_audit_add(s, tx, who, at, action, &o, 1, parties, n);
    json_decref(st);
    return rc;
}

/* One audit entry about party's copy of message (line, seq) as it is now
 * (a delivery, an acknowledgement, an escalation): the object is the copy,
 * not the whole message, which the "message.send" entry already holds. */
typedef struct {
    json_t *st;
} copy_read_t;

static int copy_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    copy_read_t *r = arg;
    (void)nc;
    r->st = json_pack("{s:s%, s:I, s:s%, s:s%, s:I, s:I, s:o, s:o, s:s%}", "line", c[0].u.b.ptr,
                      c[0].u.b.len, "seq", (json_int_t)c[1].u.i, "party", c[2].u.b.ptr,
                      c[2].u.b.len, "state", c[3].u.b.ptr, c[3].u.b.len, "delivered_at",
                      (json_int_t)(c[4].type == DCF_STORE_INT ? c[4].u.i : 0), "acknowledged_at",
                      (json_int_t)(c[5].type == DCF_STORE_INT ? c[5].u.i : 0), "acknowledged_by",
                      opt_text(&c[6]), "reply", opt_text(&c[7]), "escalations", c[8].u.b.ptr,
                      c[8].u.b.len);
    return r->st ? 0 : DCF_ENOMEM;
}

static int copy_audit(dcf_service_t *s, dcf_store_tx_t *tx, const dcf_principal_t *who,
                      dcf_time_t at, const char *action, const char *line, int64_t seq,
                      const char *party, const char *const *parties, size_t n) {
    copy_read_t r = {NULL};
    dcf_store_val_t v[3] = {dcf_store_val_text(line, strlen(line)), dcf_store_val_int(seq),
                            dcf_store_val_text(party, strlen(party))};
    int rc = dcf_store_tx_query(tx,
                                "SELECT line, seq, party, state, delivered_at, acked_at, acked_by, "
                                "reply, escalations FROM message_rcpt WHERE line = $1 AND seq = $2 "
                                "AND party = $3",
                                v, 3, copy_row, &r);
    if (rc == DCF_OK && r.st == NULL)
        rc = DCF_ENOENT;
    if (rc == DCF_OK) {
        char id[SVC_ID_MAX + DCF_PARTY_MAX + 24];
        snprintf(id, sizeof id, "%s/%lld/%s", line, (long long)seq, party);
        svc_audit_obj_t o = {"message-copy", id, r.st, NULL};
        rc = svc_audit_add(s, tx, who, at, action, &o, 1, parties, n);
    }
    json_decref(r.st);
    return rc;
}

typedef struct {
    char sender[DCF_PARTY_MAX + 1], level[8];
    bool found;
} msg_peek_t;

static int msg_peek_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    msg_peek_t *k = arg;
    (void)nc;
    svc_text_copy(k->sender, sizeof k->sender, &c[0]);
    svc_text_copy(k->level, sizeof k->level, &c[1]);
    k->found = true;
    return 0;
}

/* -------------------------------------------------------------- insert -- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static dcf_store_val_t opt_val(const char *x) {
    return x != NULL ? dcf_store_val_text(x, strlen(x)) : dcf_store_val_null();
}

int svc_msg_insert(dcf_service_t *s, dcf_store_tx_t *tx, const svc_msg_new_t *m, int64_t *seq_out,
                   svc_notify_t *n) {
    const svc_line_t *l = m->l;
    int64_t seq = l->last_seq + 1;
    int64_t ack = s->o.hotline.ack_us[m->type];
    dcf_time_t deadline = ack > 0 ? m->now + ack : 0;
    const char *sender = m->who ? m->who->party : NULL;
    char *text = json_dumps(m->body, JSON_COMPACT | JSON_SORT_KEYS);
    int rc;
    if (text == NULL)
        return DCF_ENOMEM;
    dcf_store_val_t up[2] = {dcf_store_val_text(l->id, strlen(l->id)), dcf_store_val_int(seq)};
    rc = dcf_store_tx_exec(tx, "UPDATE lines SET last_seq = $2 WHERE id = $1", up, 2, NULL);
    const char *type = TYPE_NAMES[m->type], *level = svc_level_names[m->level];
    dcf_store_val_t v[12] = {up[0],
                             up[1],
                             dcf_store_val_text(m->kind, strlen(m->kind)),
                             dcf_store_val_text(type, strlen(type)),
                             dcf_store_val_text(level, strlen(level)),
                             opt_val(sender),
                             opt_val(m->who ? m->who->token_id : NULL),
                             dcf_store_val_text(text, strlen(text)),
                             opt_val(m->call),
                             opt_val(m->conflict),
                             dcf_store_val_int(m->now),
                             deadline ? dcf_store_val_int(deadline) : dcf_store_val_null()};
    if (rc == DCF_OK)
        rc = dcf_store_tx_exec(tx,
                               "INSERT INTO messages (line, seq, kind, type, level, sender, token, "
                               "body, call, conflict, sent_at, deadline) "
                               "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                               v, 12, NULL);
    free(text);
    for (size_t i = 0; rc == DCF_OK && i < m->n_rcpt; i++) {
        dcf_store_val_t r[4] = {up[0], up[1], dcf_store_val_text(m->rcpt[i], strlen(m->rcpt[i])),
                                v[11]};
        rc = dcf_store_tx_exec(tx,
                               "INSERT INTO message_rcpt (line, seq, party, state, escalations, "
                               "next_escalation) VALUES ($1, $2, $3, 'sent', '[]', $4)",
                               r, 4, NULL);
        if (rc == DCF_OK)
            svc_pending_add(s, l->id, seq, m->rcpt[i]);
    }
    if (rc != DCF_OK)
        return rc;
    /* Only now does the line's copy in memory move (a failure above
     * leaves the caller's line as it was). */
    ((svc_line_t *)l)->last_seq = seq;
    /* The message as just written, without reading it back. */
    msg_row_t row;
    memset(&row, 0, sizeof row);
    snprintf(row.line, sizeof row.line, "%s", l->id);
    row.seq = seq;
    snprintf(row.kind, sizeof row.kind, "%s", m->kind);
    snprintf(row.type, sizeof row.type, "%s", type);
    snprintf(row.level, sizeof row.level, "%s", level);
    snprintf(row.sender, sizeof row.sender, "%s", sender ? sender : "");
    snprintf(row.call, sizeof row.call, "%s", m->call ? m->call : "");
    snprintf(row.conflict, sizeof row.conflict, "%s", m->conflict ? m->conflict : "");
    row.body = json_incref(m->body);
    row.sent_at = m->now;
    row.deadline = deadline;
    row.rcpts = json_array();
    const char *sorted[SVC_LINE_MEMBERS_MAX];
    size_t nr = m->n_rcpt < SVC_LINE_MEMBERS_MAX ? m->n_rcpt : SVC_LINE_MEMBERS_MAX;
    memcpy(sorted, m->rcpt, nr * sizeof *sorted);
    qsort(sorted, nr, sizeof *sorted, cmp_str); /* as load_rcpts orders them */
    for (size_t i = 0; i < nr && row.rcpts != NULL; i++)
        json_array_append_new(row.rcpts,
                              json_pack("{s:s, s:s, s:n, s:n, s:n, s:n, s:[]}", "party", sorted[i],
                                        "state", "sent", "delivered_at", "acknowledged_at",
                                        "acknowledged_by", "reply", "escalations"));
    if (row.rcpts == NULL)
        rc = DCF_ENOMEM;
    const char *parties[SVC_LINE_MEMBERS_MAX + 1];
    size_t np = 0;
    if (sender != NULL)
        parties[np++] = sender;
    for (size_t i = 0; i < nr; i++)
        parties[np++] = m->rcpt[i];
    for (size_t i = 0; i < np && rc == DCF_OK; i++) {
        json_t *d = msg_render(s, &row, parties[i], "en");
        rc = d ? svc_event_add(s, tx, parties[i], "message.new", d, m->now, n) : DCF_ENOMEM;
        json_decref(d);
    }
    if (rc == DCF_OK)
        rc = msg_audit_row(s, tx, m->who, m->now, "message.send", &row, parties, np);
    if (rc == DCF_OK && seq_out != NULL)
        *seq_out = seq;
    if (rc == DCF_OK && m->sender_view != NULL &&
        (*m->sender_view = msg_render(s, &row, sender, m->locale)) == NULL)
        rc = DCF_ENOMEM;
    msg_row_clear(&row);
    return rc;
}

/* --------------------------------------------------------------- post -- */

typedef struct {
    dcf_service_t *s;
    const dcf_principal_t *who;
    const char *line;
    dcf_msg_type_t type;
    int level;
    json_t *body; /* text, template, operations, conflicts */
    const char *call;
    const char *locale;
    const char *why;      /* the reason of a DCF_ESTATE */
    char bad[32];         /* pointer of a reference that is not the sender's */
    const char *bad_rule; /* and its rule */
    int64_t seq;
    json_t *out;
    svc_notify_t notify;
    svc_line_t l;
} post_t;

static int count_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    (void)c;
    (void)nc;
    (*(int64_t *)arg)++;
    return 0;
}

/* Every reference of array `key` names a row that `sql` finds for the
 * sender's party. */
static int refs_check(post_t *a, dcf_store_tx_t *tx, const char *key, const char *sql) {
    json_t *arr = json_object_get(a->body, key), *v;
    size_t i;
    json_array_foreach(arr, i, v) {
        const char *id = json_string_value(v);
        int64_t found = 0;
        dcf_store_val_t p[2] = {dcf_store_val_text(id, strlen(id)),
                                dcf_store_val_text(a->who->party, strlen(a->who->party))};
        int rc = dcf_store_tx_query(tx, sql, p, 2, count_row, &found);
        if (rc != DCF_OK)
            return rc;
        if (found == 0) {
            snprintf(a->bad, sizeof a->bad, "/%s/%zu", key, i);
            a->bad_rule = strcmp(key, "operations") == 0 ? "no such operation of yours"
                                                         : "no such conflict of yours";
            return DCF_EINVAL;
        }
    }
    return DCF_OK;
}

typedef struct {
    char state[16], caller[DCF_PARTY_MAX + 1], answered[DCF_PARTY_MAX + 1];
    bool found;
} call_peek_t;

static int call_peek_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    call_peek_t *cp = arg;
    (void)nc;
    cp->found = true;
    svc_text_copy(cp->state, sizeof cp->state, &c[0]);
    svc_text_copy(cp->caller, sizeof cp->caller, &c[1]);
    svc_text_copy(cp->answered, sizeof cp->answered, &c[2]);
    return 0;
}

static int post_fn(dcf_store_tx_t *tx, void *arg) {
    post_t *a = arg;
    dcf_time_t now = svc_now(a->s);
    int rc = svc_line_access_tx(a->s, tx, a->who, a->line, &a->l);
    if (rc != DCF_OK)
        return rc;
    if (strcmp(a->l.state, "open") != 0) {
        a->why = "invalid-transition";
        return DCF_ESTATE;
    }
    if (svc_line_suspended(&a->l) && a->type != DCF_MSG_URGENT) {
        a->why = "suspended";
        return DCF_ESTATE;
    }
    if ((rc = refs_check(a, tx, "operations",
                         "SELECT 1 FROM operations WHERE id = $1 AND party = $2")) != DCF_OK ||
        (rc = refs_check(a, tx, "conflicts",
                         "SELECT 1 FROM conflicts WHERE id = $1 AND "
                         "(party_a = $2 OR party_b = $2)")) != DCF_OK)
        return rc;
    if (a->call != NULL) {
        call_peek_t cp = {0};
        dcf_store_val_t v[2] = {dcf_store_val_text(a->call, strlen(a->call)),
                                dcf_store_val_text(a->l.id, strlen(a->l.id))};
        rc = dcf_store_tx_query(tx,
                                "SELECT state, caller, answered_party FROM calls "
                                "WHERE id = $1 AND line = $2",
                                v, 2, call_peek_row, &cp);
        if (rc != DCF_OK)
            return rc;
        if (!cp.found || strcmp(cp.state, "answered") != 0 ||
            (strcmp(cp.caller, a->who->party) != 0 && strcmp(cp.answered, a->who->party) != 0)) {
            snprintf(a->bad, sizeof a->bad, "/call");
            a->bad_rule = "must be an answered call of this line that your party is on";
            return DCF_EINVAL;
        }
    }
    const char *rcpt[SVC_LINE_MEMBERS_MAX];
    size_t nr = 0;
    for (size_t i = 0; i < a->l.n; i++)
        if (strcmp(a->l.m[i].party, a->who->party) != 0)
            rcpt[nr++] = a->l.m[i].party;
    svc_msg_new_t m = {.l = &a->l,
                       .kind = "message",
                       .type = a->type,
                       .level = a->level,
                       .who = a->who,
                       .body = a->body,
                       .call = a->call,
                       .rcpt = rcpt,
                       .n_rcpt = nr,
                       .now = now,
                       .sender_view = &a->out,
                       .locale = a->locale};
    return svc_msg_insert(a->s, tx, &m, &a->seq, &a->notify);
}

/* A display text: `max` bytes at most, no control characters but newline
 * and tab when `multiline`. */
static int ref_array(json_t *j, const char *key, const char *title, dcf_problem_t *p) {
    json_t *arr = json_object_get(j, key), *v;
    char at[40];
    size_t i;
    if (arr == NULL)
        return DCF_OK;
    snprintf(at, sizeof at, "/%s", key);
    if (!json_is_array(arr) || json_array_size(arr) > MSG_REFS_MAX)
        return svc_invalid(p, title, at, "must be an array of at most 16 ids");
    json_array_foreach(arr, i, v) {
        snprintf(at, sizeof at, "/%s/%zu", key, i);
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 64)
            return svc_invalid(p, title, at, "must be an id (1..64 bytes)");
    }
    return DCF_OK;
}

/* Validate a post body and build the stored body.  Fills a->type, level,
 * body, call. */
static int post_parse(dcf_service_t *s, json_t *j, post_t *a, dcf_problem_t *p) {
    static const char *const MEMBERS[] = {"type",       "level",     "text", "template", "fields",
                                          "operations", "conflicts", "call", NULL};
    static const char TITLE[] = "Invalid message";
    int rc;
    if ((rc = svc_only_members(j, MEMBERS, TITLE, p)) != DCF_OK)
        return rc;
    json_t *type = json_object_get(j, "type"), *level = json_object_get(j, "level");
    json_t *text = json_object_get(j, "text"), *tpl = json_object_get(j, "template");
    json_t *fields = json_object_get(j, "fields"), *call = json_object_get(j, "call");
    int t = json_is_string(type) ? type_parse(json_string_value(type)) : -1;
    int lv = json_is_string(level) ? svc_level_parse(json_string_value(level)) : -1;
    if (t < 0)
        return svc_invalid(p, TITLE, "/type",
                           type ? "must be one of info, request, warning, urgent" : "is required");
    if (lv < 0)
        return svc_invalid(p, TITLE, "/level", level ? "must be duty or senior" : "is required");
    if (text != NULL &&
        (!json_is_string(text) || !svc_text_ok(json_string_value(text), MSG_TEXT_MAX, false, true)))
        return svc_invalid(p, TITLE, "/text",
                           "must be a string of 1..4000 bytes without control characters");
    if (text == NULL && tpl == NULL)
        return svc_invalid(p, TITLE, "/text", "is required when there is no template");
    if (fields != NULL && tpl == NULL)
        return svc_invalid(p, TITLE, "/fields", "goes only with a template");
    json_t *stored_tpl = NULL;
    if (tpl != NULL) {
        const dcf_template_t *t8 = json_is_string(tpl) && s->o.templates
                                       ? dcf_template_get(s->o.templates, json_string_value(tpl))
                                       : NULL;
        if (t8 == NULL)
            return svc_invalid(p, TITLE, "/template", "no such template");
        if (fields == NULL)
            return svc_invalid(p, TITLE, "/fields", "is required with a template");
        dcf_template_error_t te;
        rc = dcf_template_validate(t8, fields, "/fields", &te);
        if (rc == DCF_EINVAL)
            return svc_invalid(p, TITLE, te.pointer, te.rule);
        if (rc != DCF_OK)
            return svc_internal(p, rc);
        stored_tpl = json_pack("{s:s, s:I, s:O}", "id", dcf_template_id(t8), "version",
                               (json_int_t)dcf_template_version(t8), "fields", fields);
    }
    if ((rc = ref_array(j, "operations", TITLE, p)) != DCF_OK ||
        (rc = ref_array(j, "conflicts", TITLE, p)) != DCF_OK) {
        json_decref(stored_tpl);
        return rc;
    }
    if (call != NULL && (!json_is_string(call) || json_string_length(call) >= SVC_ID_MAX)) {
        json_decref(stored_tpl);
        return svc_invalid(p, TITLE, "/call", "must be a call id");
    }
    json_t *ops = json_object_get(j, "operations"), *cfs = json_object_get(j, "conflicts");
    a->type = (dcf_msg_type_t)t;
    a->level = lv;
    a->call = call ? json_string_value(call) : NULL;
    a->body = json_pack("{s:O, s:o, s:o, s:o}", "text", text ? text : json_null(), "template",
                        stored_tpl ? stored_tpl : json_null(), "operations",
                        ops ? json_incref(ops) : json_array(), "conflicts",
                        cfs ? json_incref(cfs) : json_array());
    return a->body ? DCF_OK : svc_internal(p, DCF_ENOMEM);
}

static bool may_send(dcf_role_t r) {
    return r == DCF_ROLE_DUTY || r == DCF_ROLE_SENIOR || r == DCF_ROLE_PARTY_ADMIN;
}

/* What a post checks on the caller's thread before its write: the line
 * (a member's, else 404), the role, the body.  On DCF_OK, a is ready for
 * post_fn, which checks the line again inside the write. */
static int post_begin(post_t *a, json_t **j, const char *body, size_t len, dcf_problem_t *p) {
    int rc;
    if ((rc = svc_line_access(a->s, NULL, a->who, a->line, &a->l, p)) != DCF_OK)
        return rc;
    if (!may_send(a->who->role))
        return svc_fail(p, DCF_EPERM, "forbidden", "Only a desk or a party-admin sends messages");
    if ((rc = svc_parse_body(a->s, body, len, j, p)) != DCF_OK)
        return rc;
    return post_parse(a->s, *j, a, p);
}

/* The answer to a post whose write returned rc: the sender's view in *out,
 * or the problem. */
static int post_end(post_t *a, int rc, json_t **out, dcf_problem_t *p) {
    if (rc == DCF_OK) {
        *out = a->out;
        a->out = NULL;
        return DCF_OK;
    }
    if (rc == DCF_ENOENT)
        return svc_fail(p, rc, "not-found", "No such line");
    if (rc == DCF_ESTATE && a->why != NULL && strcmp(a->why, "suspended") == 0)
        return svc_fail(p, rc, "suspended",
                        "A side of this line is suspended: only urgent messages go through");
    if (rc == DCF_ESTATE)
        return svc_fail(p, rc, "invalid-transition", "The line is not open");
    if (rc == DCF_EINVAL)
        return svc_invalid(p, "Invalid message", a->bad, a->bad_rule);
    return svc_internal(p, rc);
}

/* ----------------------------------------------------------- delivery -- */

typedef struct {
    dcf_service_t *s;
    dcf_principal_t who;
    size_t n;
    struct {
        char line[SVC_ID_MAX];
        int64_t seq;
    } v[64];
    svc_notify_t notify;
} deliver_t;

static int deliver_fn(dcf_store_tx_t *tx, void *arg) {
    deliver_t *d = arg;
    dcf_time_t now = svc_now(d->s);
    int rc = DCF_OK;
    for (size_t i = 0; i < d->n && rc == DCF_OK; i++) {
        int64_t changed = 0;
        const char *party = d->who.party;
        dcf_store_val_t v[4] = {dcf_store_val_text(d->v[i].line, strlen(d->v[i].line)),
                                dcf_store_val_int(d->v[i].seq),
                                dcf_store_val_text(party, strlen(party)), dcf_store_val_int(now)};
        rc = dcf_store_tx_exec(tx,
                               "UPDATE message_rcpt SET state = 'delivered', delivered_at = $4 "
                               "WHERE line = $1 AND seq = $2 AND party = $3 AND state = 'sent'",
                               v, 4, &changed);
        if (rc != DCF_OK || changed == 0)
            continue;
        msg_peek_t m = {.found = false};
        rc = dcf_store_tx_query(tx,
                                "SELECT sender, level FROM messages WHERE line = $1 AND seq = $2",
                                v, 2, msg_peek_row, &m);
        if (rc == DCF_OK && !m.found)
            rc = DCF_EINTERNAL;
        const char *parties[2] = {party, m.sender};
        size_t np = m.sender[0] ? 2 : 1;
        for (size_t k = 0; k < np && rc == DCF_OK; k++) {
            json_t *e = json_pack("{s:s, s:I, s:s, s:s}", "line", d->v[i].line, "seq",
                                  (json_int_t)d->v[i].seq, "party", party, "level", m.level);
            rc = e ? svc_event_add(d->s, tx, parties[k], "message.delivered", e, now, &d->notify)
                   : DCF_ENOMEM;
            json_decref(e);
        }
        if (rc == DCF_OK)
            rc = copy_audit(d->s, tx, &d->who, now, "message.deliver", d->v[i].line, d->v[i].seq,
                            party, parties, np);
    }
    return rc;
}

/* A stream's deliveries, queued as one async write.  svc_tx_run needs its
 * svc_tx_fn_t to live until the write runs, so it travels with the batch,
 * which the write's done callback frees. */
struct dcf_msg_batch_s {
    svc_tx_fn_t t;
    deliver_t d;
};

static void deliver_job_done(void *arg, int rc) {
    dcf_msg_batch_t *j = arg;
    if (rc == DCF_EIO)
        svc_fail_stop(rc);
    svc_notify(j->d.s, &j->d.notify);
    free(j);
}

/* Fast path for an event's data: {"line":"<id>","seq":<n>,... as
 * msg_render writes it. */
static bool peek_line_seq(const char *data, size_t len, char *line, size_t cap, int64_t *seq) {
    static const char A[] = "{\"line\":\"", B[] = "\",\"seq\":";
    if (len < sizeof A || memcmp(data, A, sizeof A - 1) != 0)
        return false;
    const char *p = data + sizeof A - 1, *end = data + len;
    const char *q = memchr(p, '"', (size_t)(end - p));
    if (q == NULL || (size_t)(q - p) >= cap || (size_t)(end - q) < sizeof B ||
        memcmp(q, B, sizeof B - 1) != 0)
        return false;
    memcpy(line, p, (size_t)(q - p));
    line[q - p] = '\0';
    int64_t v = 0;
    const char *r = q + sizeof B - 1;
    if (r >= end || *r < '0' || *r > '9')
        return false;
    while (r < end && *r >= '0' && *r <= '9' && v < INT64_MAX / 10)
        v = v * 10 + (*r++ - '0');
    *seq = v;
    return true;
}

void dcf_msg_streamed_flush(dcf_service_t *s, dcf_msg_batch_t *j) {
    if (j == NULL)
        return;
    j->t = (svc_tx_fn_t){s, deliver_fn, &j->d};
    if (dcf_store_write_async(s->st, svc_tx_run, &j->t, deliver_job_done, j) != DCF_OK) {
        /* Not queued: they stay "sent" and deliverable (never wrong, only late). */
        for (size_t i = 0; i < j->d.n; i++)
            svc_pending_add(s, j->d.v[i].line, j->d.v[i].seq, j->d.who.party);
        free(j);
    }
}

void dcf_msg_streamed(dcf_service_t *s, const dcf_principal_t *who, const char *type,
                      const char *data, size_t len, dcf_msg_batch_t **batch) {
    char line[SVC_ID_MAX];
    int64_t seq;
    if (strcmp(type, "message.new") != 0 || svc_role_level(who->role) < 0)
        return;
    if (!peek_line_seq(data, len, line, sizeof line, &seq) ||
        !svc_pending_take(s, line, seq, who->party))
        return;
    dcf_msg_batch_t *b = *batch;
    if (b != NULL && b->d.n == sizeof b->d.v / sizeof b->d.v[0]) {
        dcf_msg_streamed_flush(s, b);
        b = *batch = NULL;
    }
    if (b == NULL) {
        if ((b = *batch = calloc(1, sizeof *b)) == NULL) {
            svc_pending_add(s, line, seq, who->party);
            return;
        }
        b->d.s = s;
        b->d.who = *who;
    }
    deliver_t *d = &b->d;
    snprintf(d->v[d->n].line, sizeof d->v[d->n].line, "%s", line);
    d->v[d->n++].seq = seq;
}

/* A desk fetched these messages: deliver those still waiting (blocking,
 * so that the answer shows them delivered). */
static int deliver_fetched(dcf_service_t *s, const dcf_principal_t *who, json_t *msgs) {
    if (svc_role_level(who->role) < 0)
        return DCF_OK;
    deliver_t *d = calloc(1, sizeof *d);
    if (d == NULL)
        return DCF_ENOMEM;
    d->s = s;
    d->who = *who;
    size_t i;
    json_t *m;
    int rc = DCF_OK;
    json_array_foreach(msgs, i, m) {
        const char *line = json_string_value(json_object_get(m, "line"));
        int64_t seq = json_integer_value(json_object_get(m, "seq"));
        if (line == NULL || !svc_pending_take(s, line, seq, who->party))
            continue;
        snprintf(d->v[d->n].line, sizeof d->v[d->n].line, "%s", line);
        d->v[d->n++].seq = seq;
        if (d->n == sizeof d->v / sizeof d->v[0]) {
            rc = svc_write(s, deliver_fn, d);
            svc_notify(s, &d->notify);
            memset(&d->notify, 0, sizeof d->notify);
            d->n = 0;
            if (rc != DCF_OK)
                break;
        }
    }
    if (rc == DCF_OK && d->n > 0) {
        rc = svc_write(s, deliver_fn, d);
        svc_notify(s, &d->notify);
    }
    free(d);
    return rc;
}

/* -------------------------------------------------------------- reads -- */

/* A page of message rows, read first; their recipients are read after the
 * page's query has finished (a read inside a read's row callback would
 * hold two pool connections and can deadlock the pool). */
typedef struct {
    msg_row_t *v;
    size_t n, cap;
    size_t at; /* rcpt_page_row: the row being filled */
} msg_rows_t;

static int msg_rows_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    msg_rows_t *rs = arg;
    (void)nc;
    if (dcf_array_reserve((void **)&rs->v, &rs->cap, rs->n + 1, sizeof *rs->v) != DCF_OK)
        return DCF_ENOMEM;
    msg_row_t *m = &rs->v[rs->n++];
    msg_from_cols(m, c);
    return m->body && m->rcpts ? 0 : DCF_ENOMEM;
}

/* Recipient rows ordered by seq: append each to its message's row. */
static int rcpt_page_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    msg_rows_t *rs = arg;
    int64_t seq = c[0].u.i;
    while (rs->at < rs->n && rs->v[rs->at].seq < seq)
        rs->at++;
    if (rs->at == rs->n || rs->v[rs->at].seq != seq)
        return 0; /* a message of the range this page does not show */
    return rcpt_row(&rs->v[rs->at], c + 1, nc - 1);
}

static void msg_rows_free(msg_rows_t *rs) {
    for (size_t i = 0; i < rs->n; i++)
        msg_row_clear(&rs->v[i]);
    free(rs->v);
}

/* Messages of `line` (or of call `call`) that party sees with seq > after
 * (at most limit + 1), as a page. */
static int msg_page(dcf_service_t *s, const char *line, const char *party, const char *locale,
                    int64_t after, unsigned limit, const char *call, json_t **items,
                    svc_page_t *pg_out) {
    msg_rows_t rs = {0};
    svc_page_t pg = {.items = json_array(), .want = limit};
    dcf_store_val_t v[4] = {dcf_store_val_text(call ? call : line, strlen(call ? call : line)),
                            dcf_store_val_int(after), dcf_store_val_text(party, strlen(party)),
                            dcf_store_val_int((int64_t)limit + 1)};
    int rc = pg.items ? DCF_OK : DCF_ENOMEM;
    if (rc == DCF_OK)
        rc = dcf_store_read(s->st,
                            call ? "SELECT " MSG_COLS " FROM messages m WHERE m.call = $1 AND "
                                   "m.seq > $2 AND (m.sender = $3 OR EXISTS (SELECT 1 FROM "
                                   "message_rcpt r WHERE r.line = m.line AND r.seq = m.seq AND "
                                   "r.party = $3)) ORDER BY m.seq LIMIT $4"
                                 : "SELECT " MSG_COLS " FROM messages m WHERE m.line = $1 AND "
                                   "m.seq > $2 AND (m.sender = $3 OR EXISTS (SELECT 1 FROM "
                                   "message_rcpt r WHERE r.line = m.line AND r.seq = m.seq AND "
                                   "r.party = $3)) ORDER BY m.seq LIMIT $4",
                            v, 4, msg_rows_row, &rs);
    if (rc == DCF_OK && rs.n > 0) {
        const char *l = rs.v[0].line;
        dcf_store_val_t r[3] = {dcf_store_val_text(l, strlen(l)), dcf_store_val_int(rs.v[0].seq),
                                dcf_store_val_int(rs.v[rs.n - 1].seq)};
        rc = dcf_store_read(s->st,
                            "SELECT seq, " RCPT_COLS " FROM message_rcpt WHERE line = $1 AND "
                            "seq BETWEEN $2 AND $3 ORDER BY seq, party",
                            r, 3, rcpt_page_row, &rs);
    }
    for (size_t i = 0; rc == DCF_OK && i < rs.n; i++)
        rc = svc_page_add(&pg, msg_render(s, &rs.v[i], party, locale), rs.v[i].seq);
    msg_rows_free(&rs);
    if (rc != DCF_OK) {
        json_decref(pg.items);
        return rc;
    }
    if (pg_out != NULL)
        *pg_out = pg;
    else
        *items = pg.items;
    return DCF_OK;
}

int svc_call_transcript(dcf_service_t *s, const char *call, const char *party, const char *locale,
                        json_t **out) {
    return msg_page(s, NULL, party, locale, 0, 10000, call, out, NULL);
}

/* Does this page hold a message waiting for delivery to party? */
static bool any_pending(json_t *items, const char *party) {
    size_t i, k;
    json_t *m, *r;
    json_array_foreach(items, i, m) {
        json_array_foreach(json_object_get(m, "recipients"), k, r) {
            if (strcmp(json_string_value(json_object_get(r, "party")), party) == 0 &&
                strcmp(json_string_value(json_object_get(r, "state")), "sent") == 0)
                return true;
        }
    }
    return false;
}

int dcf_msg_list(dcf_service_t *s, const dcf_principal_t *who, const char *line, int64_t after,
                 unsigned limit, const char *locale, json_t **out, dcf_problem_t *p) {
    svc_line_t *l = malloc(sizeof *l);
    svc_page_t pg;
    int rc;
    if (l == NULL)
        return svc_internal(p, DCF_ENOMEM);
    rc = svc_line_access(s, NULL, who, line, l, p);
    free(l);
    if (rc != DCF_OK)
        return rc;
    if (limit == 0)
        limit = 100;
    for (int pass = 0; pass < 2; pass++) {
        if ((rc = msg_page(s, line, who->party, locale, after, limit, NULL, NULL, &pg)) != DCF_OK)
            return svc_internal(p, rc);
        if (pass == 1 || svc_role_level(who->role) < 0 || !any_pending(pg.items, who->party))
            break;
        rc = deliver_fetched(s, who, pg.items);
        json_decref(pg.items);
        if (rc != DCF_OK)
            return svc_internal(p, rc);
    }
    if (pg.n > pg.want)
        json_array_remove(pg.items, pg.want);
    *out = svc_page_finish(&pg);
    return *out ? DCF_OK : svc_internal(p, DCF_ENOMEM);
}

int dcf_msg_get(dcf_service_t *s, const dcf_principal_t *who, const char *line, int64_t seq,
                const char *locale, json_t **out, dcf_problem_t *p) {
    svc_line_t *l = malloc(sizeof *l);
    int rc;
    if (l == NULL)
        return svc_internal(p, DCF_ENOMEM);
    rc = svc_line_access(s, NULL, who, line, l, p);
    free(l);
    if (rc != DCF_OK)
        return rc;
    for (int pass = 0; pass < 2; pass++) {
        rc = svc_msg_json(s, NULL, line, seq, who->party, locale, out);
        if (rc == DCF_ENOENT)
            return svc_fail(p, rc, "not-found", "No such message");
        if (rc != DCF_OK)
            return svc_internal(p, rc);
        json_t *one = json_pack("[O]", *out);
        bool again =
            pass == 0 && one && any_pending(one, who->party) && svc_role_level(who->role) >= 0;
        if (again) {
            rc = deliver_fetched(s, who, one);
            json_decref(*out);
            *out = NULL;
        }
        json_decref(one);
        if (rc != DCF_OK)
            return svc_internal(p, rc);
        if (!again)
            break;
    }
    return DCF_OK;
}

/* ---------------------------------------------------- acknowledgement -- */

typedef struct {
    dcf_service_t *s;
    const dcf_principal_t *who;
    const char *line;
    int64_t seq;
    const char *by, *reply, *locale;
    json_t *out;
    svc_notify_t notify;
    svc_line_t l;
} ack_t;

/* writer: acknowledge party's copy of message m (already checked). */
static int ack_copy(dcf_service_t *s, dcf_store_tx_t *tx, const dcf_principal_t *who,
                    const msg_row_t *m, const char *by, const char *reply, dcf_time_t now,
                    svc_notify_t *n) {
    const char *party = who->party;
    dcf_store_val_t v[6] = {dcf_store_val_text(m->line, strlen(m->line)),
                            dcf_store_val_int(m->seq),
                            dcf_store_val_text(party, strlen(party)),
                            dcf_store_val_int(now),
                            dcf_store_val_text(by, strlen(by)),
                            reply ? dcf_store_val_text(reply, strlen(reply))
                                  : dcf_store_val_null()};
    int rc = dcf_store_tx_exec(tx,
                               "UPDATE message_rcpt SET state = 'acknowledged', "
                               "delivered_at = COALESCE(delivered_at, $4), acked_at = $4, "
                               "acked_by = $5, reply = $6, next_escalation = NULL "
                               "WHERE line = $1 AND seq = $2 AND party = $3",
                               v, 6, NULL);
    svc_pending_take(s, m->line, m->seq, party);
    const char *parties[2] = {party, m->sender};
    size_t np = m->sender[0] ? 2 : 1;
    for (size_t k = 0; k < np && rc == DCF_OK; k++) {
        json_t *e =
            json_pack("{s:s, s:I, s:s, s:s, s:s, s:s?}", "line", m->line, "seq", (json_int_t)m->seq,
                      "party", party, "level", m->level, "by", by, "reply", reply);
        rc = e ? svc_event_add(s, tx, parties[k], "message.acknowledged", e, now, n) : DCF_ENOMEM;
        json_decref(e);
    }
    if (rc == DCF_OK)
        rc =
            copy_audit(s, tx, who, now, "message.acknowledge", m->line, m->seq, party, parties, np);
    return rc;
}

static int ack_fn(dcf_store_tx_t *tx, void *arg) {
    ack_t *a = arg;
    dcf_time_t now = svc_now(a->s);
    msg_row_t m;
    int rc = svc_line_access_tx(a->s, tx, a->who, a->line, &a->l);
    if (rc != DCF_OK)
        return rc;
    if ((rc = msg_load(a->s, tx, a->line, a->seq, &m)) != DCF_OK)
        return rc;
    const char *state = rcpt_state(&m, a->who->party);
    int level = svc_level_parse(m.level), mine = svc_role_level(a->who->role);
    if (!msg_visible(&m, a->who->party))
        rc = DCF_ENOENT;
    else if (state == NULL || mine < 0 || mine < level)
        rc = DCF_EPERM; /* the sender's own, or a role below the level */
    else if (strcmp(state, "acknowledged") == 0)
        rc = DCF_ESTATE;
    else
        rc = ack_copy(a->s, tx, a->who, &m, a->by, a->reply, now, &a->notify);
    if (rc == DCF_OK && strcmp(m.kind, "notice") == 0 && m.conflict[0]) {
        rc = svc_conflict_ack_tx(a->s, tx, a->who, m.conflict, now, &a->notify);
        if (rc == DCF_ESTATE || rc == DCF_ENOENT) /* resolved since: nothing to acknowledge */
            rc = DCF_OK;
    }
    msg_row_clear(&m);
    if (rc == DCF_OK)
        rc = svc_msg_json(a->s, tx, a->line, a->seq, a->who->party, a->locale, &a->out);
    return rc;
}

/* What an acknowledgement checks before its write: the line (a member's,
 * else 404) and the body.  On DCF_OK, k is ready for ack_fn; k->by and
 * k->reply point into *j. */
static int ack_begin(ack_t *k, json_t **j, const char *body, size_t len, dcf_problem_t *p) {
    static const char *const MEMBERS[] = {"by", "reply", NULL};
    static const char TITLE[] = "Invalid acknowledgement";
    int rc;
    if ((rc = svc_line_access(k->s, NULL, k->who, k->line, &k->l, p)) != DCF_OK)
        return rc;
    if ((rc = svc_parse_body(k->s, body, len, j, p)) != DCF_OK ||
        (rc = svc_only_members(*j, MEMBERS, TITLE, p)) != DCF_OK)
        return rc;
    json_t *by = json_object_get(*j, "by"), *reply = json_object_get(*j, "reply");
    if (!json_is_string(by) || !svc_text_ok(json_string_value(by), SVC_NAME_MAX, false, false))
        return svc_invalid(p, TITLE, "/by",
                           by ? "must be a name of 1..100 bytes without control characters"
                              : "is required (who acknowledges)");
    if (reply != NULL && (!json_is_string(reply) ||
                          !svc_text_ok(json_string_value(reply), MSG_REPLY_MAX, true, true)))
        return svc_invalid(p, TITLE, "/reply",
                           "must be a string of 0..2000 bytes without control characters");
    k->by = json_string_value(by);
    k->reply = reply ? json_string_value(reply) : NULL;
    return DCF_OK;
}

/* The answer to an acknowledgement whose write returned rc. */
static int ack_end(ack_t *k, int rc, json_t **out, dcf_problem_t *p) {
    if (rc == DCF_OK) {
        *out = k->out;
        k->out = NULL;
        return DCF_OK;
    }
    if (rc == DCF_ENOENT)
        return svc_fail(p, rc, "not-found", "No such message");
    if (rc == DCF_EPERM)
        return svc_fail(p, rc, "forbidden",
                        "Only a recipient's desk at the message's level (or the senior desk) "
                        "acknowledges it");
    if (rc == DCF_ESTATE)
        return svc_fail(p, rc, "invalid-transition", "Your party has already acknowledged it");
    return svc_internal(p, rc);
}

/* ------------------------------------------------ writes in flight -- */

/* A post or an acknowledgement in flight (dcf_msg_post_start,
 * dcf_msg_ack_start): it owns the copies of who and the line id, the
 * parsed body (the write's strings point into it) and the write. */
struct dcf_msg_job_s {
    bool ack; /* k, else a */
    post_t a;
    ack_t k;
    svc_tx_fn_t t;
    dcf_principal_t who;
    char line[SVC_ID_MAX];
    json_t *j;
    int rc; /* the write's outcome, set before done runs */
    dcf_msg_done_fn done;
    void *done_arg;
};

static void msg_job_free(dcf_msg_job_t *job) {
    json_decref(job->a.body);
    json_decref(job->a.out);
    json_decref(job->k.out);
    json_decref(job->j);
    free(job);
}

/* Writer thread, after the batch's COMMIT (see job_written in
 * operation.c): nothing may touch job after done, whose caller frees it. */
static void msg_job_written(void *arg, int rc) {
    dcf_msg_job_t *job = arg;
    svc_written(job->t.s, rc, job->ack ? &job->k.notify : &job->a.notify);
    job->rc = rc;
    job->done(job->done_arg);
}

/* A job for line id `line` in *out, or an error with p filled. */
static int msg_job_new(const dcf_principal_t *who, const char *line, dcf_msg_done_fn done,
                       void *done_arg, dcf_msg_job_t **out, dcf_problem_t *p) {
    dcf_msg_job_t *job;
    /* An id that does not fit is no line's: the same 404 as any other. */
    if (line == NULL || strlen(line) >= sizeof job->line)
        return svc_fail(p, DCF_ENOENT, "not-found", "No such line");
    if ((job = calloc(1, sizeof *job)) == NULL)
        return svc_internal(p, DCF_ENOMEM);
    job->who = *who;
    memcpy(job->line, line, strlen(line) + 1);
    job->done = done;
    job->done_arg = done_arg;
    *out = job;
    return DCF_OK;
}

/* Queue job's write (fn over fn_arg), or free it and fill p. */
static int msg_job_queue(dcf_service_t *s, dcf_msg_job_t *job, dcf_store_write_fn fn, void *fn_arg,
                         dcf_msg_job_t **out, dcf_problem_t *p) {
    job->t = (svc_tx_fn_t){s, fn, fn_arg};
    int rc = dcf_store_write_async(s->st, svc_tx_run, &job->t, msg_job_written, job);
    if (rc != DCF_OK) {
        msg_job_free(job);
        return svc_internal(p, rc);
    }
    *out = job;
    return DCF_OK;
}

int dcf_msg_post_start(dcf_service_t *s, const dcf_principal_t *who, const char *line,
                       const char *body, size_t len, const char *locale, dcf_msg_done_fn done,
                       void *done_arg, dcf_msg_job_t **out, dcf_problem_t *p) {
    dcf_msg_job_t *job = NULL;
    int rc = msg_job_new(who, line, done, done_arg, &job, p);
    if (rc != DCF_OK)
        return rc;
    job->a = (post_t){.s = s, .who = &job->who, .line = job->line, .locale = locale};
    rc = post_begin(&job->a, &job->j, body, len, p);
    if (rc != DCF_OK) {
        msg_job_free(job);
        return rc;
    }
    return msg_job_queue(s, job, post_fn, &job->a, out, p);
}

int dcf_msg_ack_start(dcf_service_t *s, const dcf_principal_t *who, const char *line, int64_t seq,
                      const char *body, size_t len, const char *locale, dcf_msg_done_fn done,
                      void *done_arg, dcf_msg_job_t **out, dcf_problem_t *p) {
    dcf_msg_job_t *job = NULL;
    int rc = msg_job_new(who, line, done, done_arg, &job, p);
    if (rc != DCF_OK)
        return rc;
    job->ack = true;
    job->k = (ack_t){.s = s, .who = &job->who, .line = job->line, .seq = seq, .locale = locale};
    rc = ack_begin(&job->k, &job->j, body, len, p);
    if (rc != DCF_OK) {
        msg_job_free(job);
        return rc;
    }
    return msg_job_queue(s, job, ack_fn, &job->k, out, p);
}

int dcf_msg_job_finish(dcf_msg_job_t *job, json_t **out, dcf_problem_t *p) {
    int rc = job->ack ? ack_end(&job->k, job->rc, out, p) : post_end(&job->a, job->rc, out, p);
    msg_job_free(job);
    return rc;
}

/* ------------------------------------------------------------ notices -- */

typedef struct {
    char line[SVC_ID_MAX];
} first_line_t;

static int first_line_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    first_line_t *f = arg;
    (void)nc;
    if (f->line[0] == '\0')
        svc_text_copy(f->line, sizeof f->line, &c[0]);
    return 0;
}

int svc_notice_post(dcf_service_t *s, dcf_store_tx_t *tx, const char *conflict_id,
                    const char *const party[2], json_t *const views[2], dcf_time_t now,
                    svc_notify_t *n) {
    first_line_t f = {{0}};
    dcf_store_val_t v[2] = {dcf_store_val_text(party[0], strlen(party[0])),
                            dcf_store_val_text(party[1], strlen(party[1]))};
    /* The first bilateral line between them, else the first that has both. */
    int rc = dcf_store_tx_query(
        tx,
        "SELECT l.id FROM lines l JOIN line_members a ON a.line = l.id AND a.party = $1 "
        "JOIN line_members b ON b.line = l.id AND b.party = $2 WHERE l.state = 'open' "
        "ORDER BY (SELECT COUNT(*) FROM line_members c WHERE c.line = l.id) <> 2, l.seq LIMIT 1",
        v, 2, first_line_row, &f);
    if (rc != DCF_OK || f.line[0] == '\0')
        return rc;
    svc_line_t *l = malloc(sizeof *l);
    if (l == NULL)
        return DCF_ENOMEM;
    rc = svc_line_load(s, tx, f.line, l);
    json_t *body =
        json_pack("{s:n, s:n, s:[], s:[s], s:{s:O, s:O}}", "text", "template", "operations",
                  "conflicts", conflict_id, "views", party[0], views[0], party[1], views[1]);
    if (rc == DCF_OK && body == NULL)
        rc = DCF_ENOMEM;
    if (rc == DCF_OK) {
        svc_msg_new_t m = {.l = l,
                           .kind = "notice",
                           .type = DCF_MSG_WARNING,
                           .level = SVC_DUTY,
                           .body = body,
                           .conflict = conflict_id,
                           .rcpt = party,
                           .n_rcpt = 2,
                           .now = now};
        rc = svc_msg_insert(s, tx, &m, NULL, n);
    }
    json_decref(body);
    free(l);
    return rc;
}

typedef struct {
    msg_row_t v[8];
    size_t n;
} notice_rows_t;

static int notice_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    notice_rows_t *r = arg;
    (void)nc;
    if (r->n < sizeof r->v / sizeof r->v[0])
        msg_from_cols(&r->v[r->n++], c);
    return 0;
}

int svc_notice_acked(dcf_service_t *s, dcf_store_tx_t *tx, const dcf_principal_t *who,
                     const char *conflict_id, dcf_time_t now, svc_notify_t *n) {
    notice_rows_t r = {.n = 0};
    dcf_store_val_t v[2] = {dcf_store_val_text(conflict_id, strlen(conflict_id)),
                            dcf_store_val_text(who->party, strlen(who->party))};
    int rc = dcf_store_tx_query(tx,
                                "SELECT " MSG_COLS " FROM messages m WHERE m.conflict = $1 AND "
                                "EXISTS (SELECT 1 FROM message_rcpt r WHERE r.line = m.line AND "
                                "r.seq = m.seq AND r.party = $2 AND r.state <> 'acknowledged')",
                                v, 2, notice_row, &r);
    for (size_t i = 0; i < r.n; i++) {
        if (rc == DCF_OK)
            rc = r.v[i].body && r.v[i].rcpts ? load_rcpts(s, tx, &r.v[i]) : DCF_ENOMEM;
        if (rc == DCF_OK)
            rc = ack_copy(s, tx, who, &r.v[i], who->token_id, NULL, now, n);
        msg_row_clear(&r.v[i]);
    }
    return rc;
}

int svc_notice_resolved(dcf_service_t *s, dcf_store_tx_t *tx, const char *conflict_id) {
    (void)s;
    dcf_store_val_t v = dcf_store_val_text(conflict_id, strlen(conflict_id));
    return dcf_store_tx_exec(tx,
                             "UPDATE message_rcpt SET next_escalation = NULL WHERE "
                             "next_escalation IS NOT NULL AND EXISTS (SELECT 1 FROM messages m "
                             "WHERE m.line = message_rcpt.line AND m.seq = message_rcpt.seq AND "
                             "m.conflict = $1)",
                             &v, 1, NULL);
}

/* --------------------------------------------------------- escalation -- */

typedef struct {
    char line[SVC_ID_MAX];
    int64_t seq;
    char party[DCF_PARTY_MAX + 1];
    dcf_time_t due;
    json_t *esc;
} due_t;

typedef struct {
    due_t v[MSG_DUE_BATCH];
    size_t n;
} due_list_t;

static int due_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    due_list_t *d = arg;
    (void)nc;
    due_t *e = &d->v[d->n++];
    svc_text_copy(e->line, sizeof e->line, &c[0]);
    e->seq = c[1].u.i;
    svc_text_copy(e->party, sizeof e->party, &c[2]);
    e->due = c[3].u.i;
    e->esc = json_loadb(c[4].u.b.ptr, c[4].u.b.len, 0, NULL);
    return 0;
}

int svc_msg_escalate_due(dcf_service_t *s, dcf_store_tx_t *tx, dcf_time_t now, svc_notify_t *n,
                         int *fired) {
    int rc = DCF_OK;
    for (;;) {
        due_list_t *d = calloc(1, sizeof *d);
        if (d == NULL)
            return DCF_ENOMEM;
        dcf_store_val_t v[2] = {dcf_store_val_int(now), dcf_store_val_int(MSG_DUE_BATCH)};
        rc = dcf_store_tx_query(tx,
                                "SELECT line, seq, party, next_escalation, escalations FROM "
                                "message_rcpt WHERE next_escalation <= $1 "
                                "ORDER BY next_escalation LIMIT $2",
                                v, 2, due_row, d);
        size_t got = d->n;
        for (size_t i = 0; i < d->n; i++) {
            due_t *e = &d->v[i];
            msg_row_t m;
            if (rc == DCF_OK && e->esc == NULL)
                rc = DCF_ENOMEM;
            if (rc == DCF_OK)
                rc = msg_load(s, tx, e->line, e->seq, &m);
            if (rc != DCF_OK) {
                json_decref(e->esc);
                continue;
            }
            json_array_append_new(e->esc, json_integer(e->due));
            size_t count = json_array_size(e->esc);
            dcf_time_t next =
                count < SVC_ESCALATIONS_MAX ? e->due + s->o.hotline.escalation_repeat_us : 0;
            char *text = json_dumps(e->esc, JSON_COMPACT);
            dcf_store_val_t u[5] = {
                dcf_store_val_text(e->line, strlen(e->line)), dcf_store_val_int(e->seq),
                dcf_store_val_text(e->party, strlen(e->party)),
                text ? dcf_store_val_text(text, strlen(text)) : dcf_store_val_null(),
                next ? dcf_store_val_int(next) : dcf_store_val_null()};
            rc = text ? dcf_store_tx_exec(tx,
                                          "UPDATE message_rcpt SET escalations = $4, "
                                          "next_escalation = $5 WHERE line = $1 AND seq = $2 "
                                          "AND party = $3",
                                          u, 5, NULL)
                      : DCF_ENOMEM;
            free(text);
            const char *parties[2] = {e->party, m.sender};
            size_t np = m.sender[0] ? 2 : 1;
            for (size_t k = 0; k < np && rc == DCF_OK; k++) {
                json_t *ev =
                    json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:I, s:o, s:o}", "line", m.line,
                              "seq", (json_int_t)m.seq, "kind", m.kind, "type", m.type, "party",
                              e->party, "level", "senior", "count", (json_int_t)count, "deadline",
                              svc_time_json(m.deadline), "escalated_at", svc_time_json(e->due));
                rc = ev ? svc_event_add(s, tx, parties[k], "message.escalated", ev, e->due, n)
                        : DCF_ENOMEM;
                json_decref(ev);
            }
            if (rc == DCF_OK)
                rc = copy_audit(s, tx, NULL, e->due, "message.escalate", m.line, m.seq, e->party,
                                parties, np);
            if (rc == DCF_OK)
                (*fired)++;
            msg_row_clear(&m);
            json_decref(e->esc);
        }
        free(d);
        /* Until nothing is due: a row escalated here may be due again
         * (the clock jumped past several repeats); each round moves every
         * row it took forward, and a row stops after the last escalation. */
        if (rc != DCF_OK || got == 0)
            return rc;
    }
}
