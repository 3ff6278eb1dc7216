/*
 * conflict.c -- stored conflicts: finding them, keeping the rows in step
 * with the operations, each party's view, acknowledgement and acceptance.
 *
 * ROWS.  One row per pair of operations, (op_a, op_b) with op_a < op_b
 * (byte order), kept forever: a conflict that goes away is `resolved`, one
 * that comes back reopens the same row.  `overlap`, `sep` and the two
 * `side_*` summaries (kind, priority, disclosure, exigent) are rewritten
 * whenever either operation changes; a changed overlap or separation sends
 * the conflict back to `open` with every acknowledgement cleared, because
 * what the parties agreed to is no longer what is planned.
 *
 * VIEWS.  A party sees its own operation in full and, of the other side,
 * what that side's disclosure allows (docs/api.md): the coarse region by
 * default.  The coarse region is the exact box widened outward to a grid
 * of `grid_m` anchored at (0, 0), so it always contains the exact box and
 * moves only in whole cells.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "service_int.h"

static const char *const STATES[] = {"open", "acknowledged", "accepted", "resolved"};
#define N_STATES 4

unsigned dcf_conflict_state_bit(const char *s, size_t len) {
    for (unsigned i = 0; i < N_STATES; i++)
        if (strlen(STATES[i]) == len && memcmp(s, STATES[i], len) == 0)
            return 1u << i;
    return 0;
}

static const char *DISCLOSURE_NAMES[] = {"contact", "overlap", "full"};

json_t *svc_side_json(const dcf_operation_t *op) {
    unsigned d = (unsigned)op->disclosure < 3 ? (unsigned)op->disclosure : 0;
    json_t *j = json_pack("{s:s, s:i, s:s, s:b}", "kind", op->kind, "priority", op->priority,
                          "disclosure", DISCLOSURE_NAMES[d], "exigent", op->exigent);
    if (j != NULL && op->exigent)
        json_object_set_new(j, "exigent_reason", json_string(op->exigent_reason));
    return j;
}

void svc_found_clear(svc_found_list_t *l) {
    for (size_t i = 0; i < l->n; i++) {
        json_decref(l->v[i].other_side);
        json_decref(l->v[i].other_model);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int found_cb(void *arg, const dcf_conflict_t *c) {
    svc_found_list_t *l = arg;
    if (dcf_array_reserve((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v) != DCF_OK)
        return DCF_ENOMEM;
    svc_found_t *f = &l->v[l->n];
    memset(f, 0, sizeof *f);
    snprintf(f->other_id, sizeof f->other_id, "%s", c->b->id);
    snprintf(f->other_party, sizeof f->other_party, "%s", c->b->party);
    f->sep = c->sep;
    f->overlap = c->overlap;
    f->other_side = svc_side_json(c->b);
    if (c->b->disclosure == DCF_DISCLOSE_FULL)
        f->other_model = dcf_operation_to_json(c->b);
    if (f->other_side == NULL)
        return DCF_ENOMEM;
    l->n++;
    return 0;
}

int svc_find_conflicts(dcf_service_t *s, dcf_engine_reader_t *rd, const dcf_operation_t *op,
                       svc_found_list_t *out) {
    int rc;
    if (rd == NULL)
        return dcf_engine_check(s->eng, op, found_cb, out);
    pthread_rwlock_rdlock(&s->eng_lock);
    rc = dcf_engine_reader_check(rd, op, found_cb, out);
    pthread_rwlock_unlock(&s->eng_lock);
    return rc;
}

/* ------------------------------------------------------------ rendering -- */

static json_t *overlap_to_json(const dcf_overlap_t *o) {
    return json_pack("{s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "t_start",
                     (json_int_t)o->t_start, "t_end", (json_int_t)o->t_end, "alt_lo", o->alt_lo,
                     "alt_hi", o->alt_hi, "west", o->region.lng_lo, "south", o->region.lat_lo,
                     "east", o->region.lng_hi, "north", o->region.lat_hi, "distance_m",
                     o->distance_m);
}

static json_t *sep_to_json(const dcf_sep_t *sp) {
    return json_pack("{s:f, s:f, s:f}", "horizontal_m", sp->horizontal_m, "vertical_m",
                     sp->vertical_m, "time_s", (double)sp->time_us / 1e6);
}

static double num(json_t *o, const char *k) {
    return json_number_value(json_object_get(o, k));
}

#define M_PER_DEG_LAT 111320.0

/* The stored overlap as the view's "overlap" member. */
static json_t *overlap_view(dcf_service_t *s, json_t *ov, bool exact) {
    double w = num(ov, "west"), so = num(ov, "south"), e = num(ov, "east"), n = num(ov, "north");
    double grid = exact ? 0.0 : s->o.grid_m;
    if (grid > 0) {
        double dlat = grid / M_PER_DEG_LAT;
        so = fmax(-90.0, floor(so / dlat) * dlat);
        n = fmin(90.0, ceil(n / dlat) * dlat);
        double maxlat = fmax(fabs(so), fabs(n));
        double c = cos(maxlat * M_PI / 180.0);
        if (c < 1e-6 || w > e) { /* at a pole, or across the antimeridian: whole band */
            w = -180.0;
            e = 180.0;
        } else {
            double dlng = fmin(360.0, grid / (M_PER_DEG_LAT * c));
            w = fmax(-180.0, floor(w / dlng) * dlng);
            e = fmin(180.0, ceil(e / dlng) * dlng);
        }
    }
    char a[DCF_TIME_STRLEN], b[DCF_TIME_STRLEN];
    json_t *t = json_object_get(ov, "t_start"), *u = json_object_get(ov, "t_end");
    return json_pack("{s:{s:s, s:s}, s:{s:f, s:f}, s:{s:f, s:f, s:f, s:f}, s:f}", "time", "start",
                     dcf_time_format(json_integer_value(t), a), "end",
                     dcf_time_format(json_integer_value(u), b), "altitude", "lower_m",
                     num(ov, "alt_lo"), "upper_m", num(ov, "alt_hi"), "region", "west", w, "south",
                     so, "east", e, "north", n, "region_grid_m", grid);
}

static int disclosure_of(json_t *side) {
    const char *d = json_string_value(json_object_get(side, "disclosure"));
    for (int i = 0; i < 3; i++)
        if (d != NULL && strcmp(d, DISCLOSURE_NAMES[i]) == 0)
            return i;
    return 0;
}

/* The "other" member: party, contact, flags, and what disclosure allows. */
static json_t *other_view(dcf_service_t *s, const char *party, json_t *side, json_t *ack,
                          json_t *acc, json_t *other_model) {
    svc_party_t pt;
    json_t *contact = NULL;
    if (svc_party_copy(s, party, &pt, &contact) != DCF_OK) {
        snprintf(pt.name, sizeof pt.name, "%s", party);
        contact = json_null();
    }
    int d = disclosure_of(side);
    json_t *o = json_pack(
        "{s:{s:s, s:s}, s:o, s:b, s:b, s:O, s:s}", "party", "id", party, "name", pt.name, "contact",
        contact, "acknowledged", ack != NULL && !json_is_null(ack), "accepted",
        acc != NULL && !json_is_null(acc), "exigent",
        json_object_get(side, "exigent") ? json_object_get(side, "exigent") : json_false(),
        "disclosure", DISCLOSURE_NAMES[d]);
    if (o == NULL)
        return NULL;
    if (json_is_true(json_object_get(side, "exigent")))
        json_object_set(o, "exigent_reason", json_object_get(side, "exigent_reason"));
    if (d >= 1) {
        json_object_set(o, "kind", json_object_get(side, "kind"));
        json_object_set(o, "priority", json_object_get(side, "priority"));
    }
    if (d >= 2 && other_model != NULL)
        json_object_set(o, "operation", other_model);
    return o;
}

json_t *svc_check_view(dcf_service_t *s, const svc_found_t *f) {
    json_t *ov = overlap_to_json(&f->overlap);
    int d = disclosure_of(f->other_side);
    json_t *v =
        json_pack("{s:o, s:o, s:o}", "other",
                  other_view(s, f->other_party, f->other_side, NULL, NULL, f->other_model),
                  "overlap", overlap_view(s, ov, d >= 1), "separation", sep_to_json(&f->sep));
    json_decref(ov);
    return v;
}

/* ----------------------------------------------------------------- rows -- */

typedef struct {
    char id[40];
    int64_t seq;
    char op[2][DCF_ID_MAX + 1];
    char party[2][DCF_PARTY_MAX + 1];
    char state[16];
    json_t *overlap, *sep, *side[2], *ack[2], *acc[2];
    dcf_time_t opened_at, updated_at, resolved_at;
    bool matched;
} cf_row_t;

static void row_clear(cf_row_t *r) {
    json_decref(r->overlap);
    json_decref(r->sep);
    for (int i = 0; i < 2; i++) {
        json_decref(r->side[i]);
        json_decref(r->ack[i]);
        json_decref(r->acc[i]);
    }
    memset(r, 0, sizeof *r);
}

#define ROW_COLS                                                                                   \
    "c.id, c.seq, c.op_a, c.party_a, c.op_b, c.party_b, c.state, c.overlap, c.sep, c.side_a, "     \
    "c.side_b, c.ack_a, c.ack_b, c.acc_a, c.acc_b, c.opened_at, c.updated_at, c.resolved_at"
#define ROW_NCOLS 18

static json_t *json_col(const dcf_store_val_t *v) {
    if (v->type != DCF_STORE_TEXT)
        return NULL;
    return json_loadb(v->u.b.ptr, v->u.b.len, 0, NULL);
}

static void row_from_cols(cf_row_t *r, const dcf_store_val_t *c) {
    memset(r, 0, sizeof *r);
    svc_text_copy(r->id, sizeof r->id, &c[0]);
    r->seq = c[1].u.i;
    svc_text_copy(r->op[0], sizeof r->op[0], &c[2]);
    svc_text_copy(r->party[0], sizeof r->party[0], &c[3]);
    svc_text_copy(r->op[1], sizeof r->op[1], &c[4]);
    svc_text_copy(r->party[1], sizeof r->party[1], &c[5]);
    svc_text_copy(r->state, sizeof r->state, &c[6]);
    r->overlap = json_col(&c[7]);
    r->sep = json_col(&c[8]);
    r->side[0] = json_col(&c[9]);
    r->side[1] = json_col(&c[10]);
    r->ack[0] = json_col(&c[11]);
    r->ack[1] = json_col(&c[12]);
    r->acc[0] = json_col(&c[13]);
    r->acc[1] = json_col(&c[14]);
    r->opened_at = c[15].u.i;
    r->updated_at = c[16].u.i;
    r->resolved_at = c[17].type == DCF_STORE_INT ? c[17].u.i : 0;
}

/* The view of row r for party `party` (which is one of its sides). */
static json_t *row_view(dcf_service_t *s, const cf_row_t *r, const char *party, json_t *own_res,
                        json_t *other_model) {
    int me = strcmp(r->party[0], party) == 0 ? 0 : 1, them = 1 - me;
    int d = disclosure_of(r->side[them]);
    json_t *own_op = own_res ? json_incref(own_res) : json_pack("{s:s}", "id", r->op[me]);
    json_t *own = json_pack("{s:o, s:O, s:O}", "operation", own_op, "acknowledged",
                            r->ack[me] ? r->ack[me] : json_null(), "accepted",
                            r->acc[me] ? r->acc[me] : json_null());
    json_t *sep = json_deep_copy(r->sep);
    return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", r->id, "state",
                     r->state, "opened_at", svc_time_json(r->opened_at), "updated_at",
                     svc_time_json(r->updated_at), "resolved_at",
                     r->resolved_at ? svc_time_json(r->resolved_at) : json_null(), "own", own,
                     "other",
                     other_view(s, r->party[them], r->side[them], r->ack[them], r->acc[them],
                                d >= 2 ? other_model : NULL),
                     "overlap", overlap_view(s, r->overlap, d >= 1), "separation", sep);
}

/* Event data for party `party` about row r. */
static json_t *event_data(dcf_service_t *s, const cf_row_t *r, const char *party) {
    int me = strcmp(r->party[0], party) == 0 ? 0 : 1, them = 1 - me;
    svc_party_t pt;
    if (svc_party_copy(s, r->party[them], &pt, NULL) != DCF_OK)
        snprintf(pt.name, sizeof pt.name, "%s", r->party[them]);
    return json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "conflict", r->id, "state", r->state,
                     "operation", r->op[me], "other_party", "id", r->party[them], "name", pt.name);
}

/* The audit log's record of row r (its digest is of this). */
static json_t *row_state(const cf_row_t *r) {
    return json_pack("{s:s, s:s, s:[s,s], s:[s,s], s:O?, s:O?, s:[O?,O?], s:[O?,O?]}", "id", r->id,
                     "state", r->state, "operations", r->op[0], r->op[1], "parties", r->party[0],
                     r->party[1], "overlap", r->overlap, "separation", r->sep, "acknowledged",
                     r->ack[0], r->ack[1], "accepted", r->acc[0], r->acc[1]);
}

/* The audit action of an event type ("conflict.opened" -> "conflict.open"). */
static const char *row_action(const char *type) {
    static const char *const MAP[][2] = {{"conflict.opened", "conflict.open"},
                                         {"conflict.resolved", "conflict.resolve"},
                                         {"conflict.acknowledged", "conflict.acknowledge"},
                                         {"conflict.accepted", "conflict.accept"}};
    for (size_t i = 0; i < sizeof MAP / sizeof MAP[0]; i++)
        if (strcmp(type, MAP[i][0]) == 0)
            return MAP[i][1];
    return type;
}

/* Send `type` about r to both sides, and record it in the audit log as
 * done by `who` (NULL: the server); `by` (a party) adds by_party. */
static int events_both(dcf_service_t *s, dcf_store_tx_t *tx, const dcf_principal_t *who,
                       const cf_row_t *r, const char *type, const char *by, bool changed,
                       dcf_time_t now, svc_notify_t *n) {
    int rc = DCF_OK;
    for (int i = 0; i < 2 && rc == DCF_OK; i++) {
        json_t *d = event_data(s, r, r->party[i]);
        if (d == NULL)
            return DCF_ENOMEM;
        if (by != NULL)
            json_object_set_new(d, "by_party",
                                json_string(strcmp(by, r->party[i]) == 0 ? "own" : "other"));
        if (changed)
            json_object_set_new(d, "changed", json_true());
        rc = svc_event_add(s, tx, r->party[i], type, d, now, n);
        json_decref(d);
    }
    if (rc != DCF_OK)
        return rc;
    json_t *st = row_state(r);
    if (st == NULL)
        return DCF_ENOMEM;
    svc_audit_obj_t o = {"conflict", r->id, st, NULL};
    const char *parties[2] = {r->party[0], r->party[1]};
    rc = svc_audit_add(s, tx, who, now, row_action(type), &o, 1, parties, 2);
    json_decref(st);
    return rc;
}

/* --------------------------------------------------------------- sync -- */

typedef struct {
    cf_row_t *v;
    size_t n, cap;
} rows_t;

static int rows_cb(void *arg, const dcf_store_val_t *c, size_t nc) {
    rows_t *rs = arg;
    (void)nc;
    if (dcf_array_reserve((void **)&rs->v, &rs->cap, rs->n + 1, sizeof *rs->v) != DCF_OK)
        return DCF_ENOMEM;
    row_from_cols(&rs->v[rs->n++], c);
    return 0;
}

static void rows_free(rows_t *rs) {
    for (size_t i = 0; i < rs->n; i++)
        row_clear(&rs->v[i]);
    free(rs->v);
    memset(rs, 0, sizeof *rs);
}

static char *dump(json_t *j) {
    return j != NULL ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17))
                     : NULL;
}

/* Write every mutable column of r. */
static int row_save(dcf_store_tx_t *tx, const cf_row_t *r, bool insert) {
    char *t[8] = {dump(r->overlap), dump(r->sep),    dump(r->side[0]), dump(r->side[1]),
                  dump(r->ack[0]),  dump(r->ack[1]), dump(r->acc[0]),  dump(r->acc[1])};
    int rc = DCF_ENOMEM;
    if (t[0] == NULL || t[1] == NULL || t[2] == NULL || t[3] == NULL)
        goto out;
    dcf_store_val_t v[18];
    size_t k = 0;
#define TXT(s) ((s) ? dcf_store_val_text((s), strlen(s)) : dcf_store_val_null())
    v[k++] = TXT(r->id);
    v[k++] = TXT(r->state);
    for (int i = 0; i < 8; i++)
        v[k++] = TXT(t[i]);
    v[k++] = dcf_store_val_int(r->opened_at);
    v[k++] = dcf_store_val_int(r->updated_at);
    v[k++] = r->resolved_at ? dcf_store_val_int(r->resolved_at) : dcf_store_val_null();
    if (insert) {
        v[k++] = dcf_store_val_int(r->seq);
        v[k++] = TXT(r->op[0]);
        v[k++] = TXT(r->party[0]);
        v[k++] = TXT(r->op[1]);
        v[k++] = TXT(r->party[1]);
        rc = dcf_store_tx_exec(tx,
                               "INSERT INTO conflicts (id, state, overlap, sep, side_a, side_b, "
                               "ack_a, ack_b, acc_a, acc_b, opened_at, updated_at, resolved_at, "
                               "seq, op_a, party_a, op_b, party_b) VALUES ($1, $2, $3, $4, $5, "
                               "$6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
                               v, k, NULL);
    } else {
        rc = dcf_store_tx_exec(tx,
                               "UPDATE conflicts SET state = $2, overlap = $3, sep = $4, "
                               "side_a = $5, side_b = $6, ack_a = $7, ack_b = $8, acc_a = $9, "
                               "acc_b = $10, opened_at = $11, updated_at = $12, resolved_at = $13 "
                               "WHERE id = $1",
                               v, k, NULL);
    }
#undef TXT
out:
    for (int i = 0; i < 8; i++)
        free(t[i]);
    return rc;
}

static void clear_responses(cf_row_t *r) {
    for (int i = 0; i < 2; i++) {
        json_decref(r->ack[i]);
        json_decref(r->acc[i]);
        r->ack[i] = r->acc[i] = NULL;
    }
}

static bool same_json(json_t *a, json_t *b) {
    return a != NULL && b != NULL && json_equal(a, b);
}

/* Post the notice of an opened conflict on its parties' line (below). */
static int notice(dcf_service_t *s, dcf_store_tx_t *tx, const cf_row_t *r, dcf_time_t now,
                  svc_notify_t *n);

int svc_conflicts_sync(dcf_service_t *s, dcf_store_tx_t *tx, const dcf_principal_t *who,
                       const dcf_operation_t *op, bool fresh, const svc_found_list_t *found,
                       dcf_time_t now, json_t *own_resource, json_t *views, svc_notify_t *n) {
    rows_t rs = {0};
    int rc = DCF_OK;
    dcf_store_val_t key = dcf_store_val_text(op->id, strlen(op->id));

    /* A new operation has no rows yet: skip the lookup (the common case). */
    if (!fresh)
        rc = dcf_store_tx_query(tx,
                                "SELECT " ROW_COLS " FROM conflicts c WHERE c.op_a = $1 "
                                "UNION ALL SELECT " ROW_COLS " FROM conflicts c WHERE c.op_b = $1",
                                &key, 1, rows_cb, &rs);
    if (rc != DCF_OK)
        goto out;
    json_t *my_side = svc_side_json(op);
    if (my_side == NULL) {
        rc = DCF_ENOMEM;
        goto out;
    }
    for (size_t i = 0; found != NULL && i < found->n; i++) {
        const svc_found_t *f = &found->v[i];
        int me = strcmp(op->id, f->other_id) < 0 ? 0 : 1;
        cf_row_t blank, *r = NULL;
        for (size_t k = 0; k < rs.n && r == NULL; k++)
            if (strcmp(rs.v[k].op[1 - me], f->other_id) == 0)
                r = &rs.v[k];
        json_t *ov = overlap_to_json(&f->overlap), *sp = sep_to_json(&f->sep);
        if (ov == NULL || sp == NULL) {
            json_decref(ov);
            json_decref(sp);
            rc = DCF_ENOMEM;
            break;
        }
        const char *event = NULL;
        bool changed = false, insert = false;
        if (r == NULL) {
            memset(&blank, 0, sizeof blank);
            r = &blank;
            insert = true;
            svc_random_id("cf-", r->id, sizeof r->id);
            r->seq = ++s->conflict_seq;
            snprintf(r->op[me], sizeof r->op[me], "%s", op->id);
            snprintf(r->party[me], sizeof r->party[me], "%s", op->party);
            snprintf(r->op[1 - me], sizeof r->op[1 - me], "%s", f->other_id);
            snprintf(r->party[1 - me], sizeof r->party[1 - me], "%s", f->other_party);
            r->opened_at = now;
            snprintf(r->state, sizeof r->state, "open");
            event = "conflict.opened";
            atomic_fetch_add(&s->open_conflicts, 1);
        } else if (strcmp(r->state, "resolved") == 0) {
            snprintf(r->state, sizeof r->state, "open");
            clear_responses(r);
            r->opened_at = now;
            r->resolved_at = 0;
            event = "conflict.opened";
            atomic_fetch_add(&s->open_conflicts, 1);
        } else if (!same_json(r->overlap, ov) || !same_json(r->sep, sp)) {
            snprintf(r->state, sizeof r->state, "open");
            clear_responses(r);
            event = "conflict.opened";
            changed = true;
        }
        r->matched = true;
        json_decref(r->overlap);
        json_decref(r->sep);
        r->overlap = ov;
        r->sep = sp;
        json_decref(r->side[me]);
        json_decref(r->side[1 - me]);
        r->side[me] = json_incref(my_side);
        r->side[1 - me] = json_incref(f->other_side);
        r->updated_at = now;
        rc = row_save(tx, r, insert);
        if (rc == DCF_OK && event != NULL)
            rc = events_both(s, tx, who, r, event, NULL, changed, now, n);
        if (rc == DCF_OK && event != NULL && atomic_load(&s->lines_open) > 0)
            rc = notice(s, tx, r, now, n);
        if (rc == DCF_OK && views != NULL)
            json_array_append_new(views, row_view(s, r, op->party, own_resource, f->other_model));
        if (insert)
            row_clear(&blank);
        if (rc != DCF_OK)
            break;
    }
    json_decref(my_side);
    for (size_t k = 0; rc == DCF_OK && k < rs.n; k++) {
        cf_row_t *r = &rs.v[k];
        if (r->matched || strcmp(r->state, "resolved") == 0)
            continue;
        snprintf(r->state, sizeof r->state, "resolved");
        r->resolved_at = now;
        r->updated_at = now;
        if ((rc = row_save(tx, r, false)) == DCF_OK)
            rc = events_both(s, tx, who, r, "conflict.resolved", NULL, false, now, n);
        if (rc == DCF_OK && atomic_load(&s->lines_open) > 0)
            rc = svc_notice_resolved(s, tx, r->id);
        if (rc == DCF_OK)
            atomic_fetch_sub(&s->open_conflicts, 1);
    }
out:
    rows_free(&rs);
    return rc;
}

/* -------------------------------------------------------------- reads -- */

/* A row joined with both operations' stored rows. */
#define JOIN_COLS                                                                                  \
    ROW_COLS ", oa.body, oa.version, oa.state, oa.created_at, oa.updated_at, ob.body, "            \
             "ob.version, ob.state, ob.created_at, ob.updated_at"
#define JOIN_FROM                                                                                  \
    " FROM conflicts c JOIN operations oa ON oa.id = c.op_a JOIN operations ob ON ob.id = c.op_b"

typedef struct {
    dcf_service_t *s;
    const char *party;
    svc_page_t pg;
    cf_row_t *keep; /* when set: copy the (single) row here */
} view_read_t;

static json_t *res_from(const dcf_store_val_t *c) {
    char state[16];
    svc_text_copy(state, sizeof state, &c[2]);
    return svc_op_resource(c[0].u.b.ptr, c[0].u.b.len, c[1].u.i, state, c[3].u.i, c[4].u.i);
}

static int view_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    view_read_t *vr = arg;
    cf_row_t r;
    (void)nc;
    row_from_cols(&r, c);
    int me = strcmp(r.party[0], vr->party) == 0 ? 0 : 1;
    json_t *own = res_from(&c[ROW_NCOLS + 5 * me]);
    /* The other side's operation, shown only under "full", is its model
     * form (id and party, no lifecycle fields), as in the write path. */
    const dcf_store_val_t *ob = &c[ROW_NCOLS + 5 * (1 - me)];
    json_t *other = json_loadb(ob->u.b.ptr, ob->u.b.len, 0, NULL);
    json_t *v = row_view(vr->s, &r, vr->party, own, other);
    json_decref(own);
    json_decref(other);
    int64_t seq = r.seq;
    if (vr->keep != NULL)
        *vr->keep = r;
    else
        row_clear(&r);
    return svc_page_add(&vr->pg, v, seq);
}

/* Each side's view in a notice is exactly what GET /v1/conflicts/{id}
 * shows that side: read back inside the write, after the row and both
 * operations' rows are saved. */
static int notice(dcf_service_t *s, dcf_store_tx_t *tx, const cf_row_t *r, dcf_time_t now,
                  svc_notify_t *n) {
    json_t *views[2] = {NULL, NULL};
    int rc = DCF_OK;
    dcf_store_val_t key = dcf_store_val_text(r->id, strlen(r->id));
    for (int i = 0; i < 2 && rc == DCF_OK; i++) {
        view_read_t vr = {.s = s, .party = r->party[i], .pg = {.items = json_array()}};
        rc = vr.pg.items ? dcf_store_tx_query(tx, "SELECT " JOIN_COLS JOIN_FROM " WHERE c.id = $1",
                                              &key, 1, view_row, &vr)
                         : DCF_ENOMEM;
        if (rc == DCF_OK && (views[i] = json_incref(json_array_get(vr.pg.items, 0))) == NULL)
            rc = DCF_EINTERNAL;
        json_decref(vr.pg.items);
    }
    const char *parties[2] = {r->party[0], r->party[1]};
    if (rc == DCF_OK)
        rc = svc_notice_post(s, tx, r->id, parties, views, now, n);
    json_decref(views[0]);
    json_decref(views[1]);
    return rc;
}

/* ---------------------------------------------------------- disclosure -- */

int svc_audit_disclose(dcf_service_t *s, dcf_store_tx_t *tx, const dcf_principal_t *who,
                       dcf_time_t now, json_t *views) {
    size_t n = json_array_size(views);
    if (n == 0)
        return DCF_OK;
    svc_audit_obj_t *objs = calloc(n, sizeof *objs);
    const char **parties = calloc(n + 1, sizeof *parties);
    json_t *shown = json_array(); /* owns the digested parts */
    int rc = DCF_ENOMEM;
    if (objs != NULL && parties != NULL && shown != NULL) {
        parties[0] = who->party;
        for (size_t i = 0; i < n; i++) {
            json_t *v = json_array_get(views, i);
            /* What was disclosed: the view without the party's own
             * operation (which it knows already). */
            json_t *d = json_pack(
                "{s:O?, s:O?, s:O?, s:O?, s:O?}", "id", json_object_get(v, "id"), "state",
                json_object_get(v, "state"), "other", json_object_get(v, "other"), "overlap",
                json_object_get(v, "overlap"), "separation", json_object_get(v, "separation"));
            if (d == NULL || json_array_append_new(shown, d) != 0)
                goto out;
            objs[i] =
                (svc_audit_obj_t){"conflict", json_string_value(json_object_get(v, "id")), d, NULL};
            parties[i + 1] = json_string_value(
                json_object_get(json_object_get(json_object_get(v, "other"), "party"), "id"));
        }
        rc = svc_audit_add(s, tx, who, now, "disclose", objs, n, parties, n + 1);
    }
out:
    json_decref(shown);
    free(objs);
    free(parties);
    return rc;
}

typedef struct {
    dcf_service_t *s;
    const dcf_principal_t *who;
    json_t *views;
} disclose_w_t;

static int disclose_fn(dcf_store_tx_t *tx, void *arg) {
    disclose_w_t *d = arg;
    return svc_audit_disclose(d->s, tx, d->who, svc_now(d->s), d->views);
}

/* Views leave the server only with their trace in the audit log. */
static int disclosed(dcf_service_t *s, const dcf_principal_t *who, json_t *views,
                     dcf_problem_t *p) {
    disclose_w_t d = {s, who, views};
    if (json_array_size(views) == 0)
        return DCF_OK;
    int rc = svc_write(s, disclose_fn, &d);
    return rc == DCF_OK ? DCF_OK : svc_internal(p, rc);
}

int dcf_conflict_list(dcf_service_t *s, const dcf_principal_t *who, unsigned states, unsigned limit,
                      int64_t after, json_t **out, dcf_problem_t *p) {
    char sql[1024], st[128];
    if (who->party[0] == '\0')
        return svc_fail(p, DCF_EPERM, "forbidden", "Conflicts belong to parties");
    if (limit == 0)
        limit = 100;
    svc_states_sql(states, STATES, N_STATES, "c.state", st, sizeof st);
    snprintf(sql, sizeof sql,
             "SELECT " JOIN_COLS JOIN_FROM " WHERE (c.party_a = $1 OR c.party_b = $1) "
             "AND c.seq > $2%s ORDER BY c.seq LIMIT $3",
             st);
    view_read_t vr = {.s = s, .party = who->party, .pg = {.items = json_array(), .want = limit}};
    dcf_store_val_t v[3] = {dcf_store_val_text(who->party, strlen(who->party)),
                            dcf_store_val_int(after), dcf_store_val_int((int64_t)limit + 1)};
    int rc = dcf_store_read(s->st, sql, v, 3, view_row, &vr);
    if (rc != DCF_OK) {
        json_decref(vr.pg.items);
        return svc_internal(p, rc);
    }
    if (vr.pg.n > vr.pg.want)                       /* the look-ahead row is not shown */
        json_array_remove(vr.pg.items, vr.pg.want); /* (svc_page_finish still sees n) */
    if ((rc = disclosed(s, who, vr.pg.items, p)) != DCF_OK) {
        json_decref(vr.pg.items);
        return rc;
    }
    *out = svc_page_finish(&vr.pg);
    return *out != NULL ? DCF_OK : svc_internal(p, DCF_ENOMEM);
}

int dcf_conflict_get(dcf_service_t *s, const dcf_principal_t *who, const char *id, json_t **out,
                     dcf_problem_t *p) {
    if (who->party[0] == '\0')
        return svc_fail(p, DCF_EPERM, "forbidden", "Conflicts belong to parties");
    view_read_t vr = {.s = s, .party = who->party, .pg = {.items = json_array()}};
    dcf_store_val_t v[2] = {dcf_store_val_text(id, strlen(id)),
                            dcf_store_val_text(who->party, strlen(who->party))};
    int rc = dcf_store_read(s->st,
                            "SELECT " JOIN_COLS JOIN_FROM
                            " WHERE c.id = $1 AND (c.party_a = $2 OR c.party_b = $2)",
                            v, 2, view_row, &vr);
    if (rc != DCF_OK) {
        json_decref(vr.pg.items);
        return svc_internal(p, rc);
    }
    if (vr.pg.n == 0) {
        json_decref(vr.pg.items);
        return svc_fail(p, DCF_ENOENT, "not-found", "No such conflict");
    }
    if ((rc = disclosed(s, who, vr.pg.items, p)) != DCF_OK) {
        json_decref(vr.pg.items);
        return rc;
    }
    *out = json_incref(json_array_get(vr.pg.items, 0));
    json_decref(vr.pg.items);
    return DCF_OK;
}

typedef struct {
    dcf_service_t *s;
    const dcf_principal_t *who;
    const char *id;
    bool accept;
    bool from_notice; /* the notice's acknowledgement: do not go back to it */
    json_t *view;
    svc_notify_t notify;
} respond_t;

static int respond_tx(dcf_store_tx_t *tx, respond_t *a, dcf_time_t now) {
    cf_row_t r;
    memset(&r, 0, sizeof r);
    view_read_t vr = {.s = a->s, .party = a->who->party, .pg = {.items = json_array()}, .keep = &r};
    dcf_store_val_t v[2] = {dcf_store_val_text(a->id, strlen(a->id)),
                            dcf_store_val_text(a->who->party, strlen(a->who->party))};
    int rc = dcf_store_tx_query(
        tx, "SELECT " JOIN_COLS JOIN_FROM " WHERE c.id = $1 AND (c.party_a = $2 OR c.party_b = $2)",
        v, 2, view_row, &vr);
    if (rc == DCF_OK && vr.pg.n == 0)
        rc = DCF_ENOENT;
    if (rc == DCF_OK && strcmp(r.state, "resolved") == 0)
        rc = DCF_ESTATE;
    if (rc != DCF_OK)
        goto out;
    int me = strcmp(r.party[0], a->who->party) == 0 ? 0 : 1;
    bool acked = false, accepted = false;
    if (r.ack[me] == NULL) {
        r.ack[me] = json_pack("{s:o, s:s}", "at", svc_time_json(now), "by", a->who->token_id);
        acked = true;
    }
    if (a->accept && r.acc[me] == NULL) {
        r.acc[me] = json_pack("{s:o, s:s}", "at", svc_time_json(now), "by", a->who->token_id);
        accepted = true;
    }
    if (r.acc[0] != NULL && r.acc[1] != NULL)
        snprintf(r.state, sizeof r.state, "accepted");
    else if (r.ack[0] != NULL && r.ack[1] != NULL)
        snprintf(r.state, sizeof r.state, "acknowledged");
    if (acked || accepted) {
        r.updated_at = now;
        rc = row_save(tx, &r, false);
        if (rc == DCF_OK && acked)
            rc = events_both(a->s, tx, a->who, &r, "conflict.acknowledged", a->who->party, false,
                             now, &a->notify);
        if (rc == DCF_OK && accepted)
            rc = events_both(a->s, tx, a->who, &r, "conflict.accepted", a->who->party, false, now,
                             &a->notify);
        if (rc == DCF_OK && acked && !a->from_notice)
            rc = svc_notice_acked(a->s, tx, a->who, r.id, now, &a->notify);
        if (rc != DCF_OK)
            goto out;
    }
    /* Re-render with the new state, keeping the stored operation resources. */
    json_t *old = json_array_get(vr.pg.items, 0);
    json_t *own = json_object_get(json_object_get(old, "own"), "operation");
    json_t *other = json_object_get(json_object_get(old, "other"), "operation");
    a->view = row_view(a->s, &r, a->who->party, own, other);
    if (a->view == NULL)
        rc = DCF_ENOMEM;
out:
    row_clear(&r);
    json_decref(vr.pg.items);
    return rc;
}

static int respond_fn(dcf_store_tx_t *tx, void *arg) {
    respond_t *a = arg;
    return respond_tx(tx, a, svc_now(a->s));
}

int svc_conflict_ack_tx(dcf_service_t *s, dcf_store_tx_t *tx, const dcf_principal_t *who,
                        const char *id, dcf_time_t now, svc_notify_t *n) {
    respond_t a = {.s = s, .who = who, .id = id, .from_notice = true};
    int rc = respond_tx(tx, &a, now);
    json_decref(a.view);
    for (size_t i = 0; i < a.notify.n; i++)
        svc_notify_add(n, a.notify.tags[i]);
    if (a.notify.all)
        n->all = true;
    return rc;
}

int dcf_conflict_respond(dcf_service_t *s, const dcf_principal_t *who, const char *id, bool accept,
                         json_t **out, dcf_problem_t *p) {
    if (who->party[0] == '\0')
        return svc_fail(p, DCF_EPERM, "forbidden", "Conflicts belong to parties");
    /* The role first (it reveals nothing), then existence for this party. */
    if (who->role != DCF_ROLE_DUTY && who->role != DCF_ROLE_SENIOR &&
        who->role != DCF_ROLE_PARTY_ADMIN)
        return svc_fail(p, DCF_EPERM, "forbidden",
                        "Only a desk (duty, senior) or a party-admin responds to conflicts");
    json_t *probe = NULL;
    int rc = dcf_conflict_get(s, who, id, &probe, p);
    json_decref(probe);
    if (rc != DCF_OK)
        return rc;
    respond_t a = {.s = s, .who = who, .id = id, .accept = accept};
    rc = svc_write(s, respond_fn, &a);
    if (rc == DCF_ENOENT)
        return svc_fail(p, rc, "not-found", "No such conflict");
    if (rc == DCF_ESTATE)
        return svc_fail(p, rc, "invalid-transition", "The conflict is resolved");
    if (rc != DCF_OK)
        return svc_internal(p, rc);
    svc_notify(s, &a.notify);
    *out = a.view;
    return DCF_OK;
}
