/*
 * line_stats.c -- a line's contact record (GET /v1/lines/{id}/stats): per
 * side and level the calls it placed, answered, declined and missed, how
 * fast it answered and acknowledged, what it left overdue; line-check
 * health; the longest senior silence (docs/hotline.md, "Contact record").
 *
 * It reads the line's calls and message copies once from the read pool and
 * computes in memory; a line's history is bounded by STATS_ROWS_MAX rows
 * of each (older ones are left out of the figures, which then say so).
 */
#include <stdlib.h>
#include <string.h>

#include "service_int.h"

#define STATS_ROWS_MAX 200000

typedef struct {
    char level[8], state[12];
    char caller[DCF_PARTY_MAX + 1], answered[DCF_PARTY_MAX + 1];
    dcf_time_t started_at, answered_at;
    json_t *declines;
} scall_t;

typedef struct {
    char party[DCF_PARTY_MAX + 1], level[8], kind[12], state[16];
    dcf_time_t sent_at, deadline, acked_at;
    bool escalated;
} scopy_t;

typedef struct {
    scall_t *calls;
    size_t n_calls, cap_calls;
    scopy_t *copies;
    size_t n_copies, cap_copies;
    bool truncated;
} stats_src_t;

static int scall_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    stats_src_t *s = arg;
    (void)nc;
    if (s->n_calls >= STATS_ROWS_MAX) {
        s->truncated = true;
        return 0;
    }
    if (dcf_array_reserve((void **)&s->calls, &s->cap_calls, s->n_calls + 1, sizeof *s->calls) !=
        DCF_OK)
        return DCF_ENOMEM;
    scall_t *k = &s->calls[s->n_calls++];
    memset(k, 0, sizeof *k);
    svc_text_copy(k->level, sizeof k->level, &c[0]);
    svc_text_copy(k->state, sizeof k->state, &c[1]);
    svc_text_copy(k->caller, sizeof k->caller, &c[2]);
    svc_text_copy(k->answered, sizeof k->answered, &c[3]);
    k->started_at = c[4].u.i;
    k->answered_at = c[5].type == DCF_STORE_INT ? c[5].u.i : 0;
    k->declines = json_loadb(c[6].u.b.ptr, c[6].u.b.len, 0, NULL);
    return 0;
}

static int scopy_row(void *arg, const dcf_store_val_t *c, size_t nc) {
    stats_src_t *s = arg;
    (void)nc;
    if (s->n_copies >= STATS_ROWS_MAX) {
        s->truncated = true;
        return 0;
    }
    if (dcf_array_reserve((void **)&s->copies, &s->cap_copies, s->n_copies + 1,
                          sizeof *s->copies) != DCF_OK)
        return DCF_ENOMEM;
    scopy_t *m = &s->copies[s->n_copies++];
    memset(m, 0, sizeof *m);
    svc_text_copy(m->party, sizeof m->party, &c[0]);
    svc_text_copy(m->level, sizeof m->level, &c[1]);
    svc_text_copy(m->kind, sizeof m->kind, &c[2]);
    svc_text_copy(m->state, sizeof m->state, &c[3]);
    m->sent_at = c[4].u.i;
    m->deadline = c[5].type == DCF_STORE_INT ? c[5].u.i : 0;
    m->acked_at = c[6].type == DCF_STORE_INT ? c[6].u.i : 0;
    m->escalated = c[7].u.b.len > 2; /* "[]" when it never escalated */
    return 0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The median of v[0..n) in seconds, or null. */
static json_t *median_s(int64_t *v, size_t n) {
    if (n == 0)
        return json_null();
    qsort(v, n, sizeof *v, cmp_i64);
    double m = n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2.0;
    return json_real(m / 1e6);
}

static bool declined_by(const scall_t *k, const char *party) {
    size_t i;
    json_t *d;
    json_array_foreach(k->declines, i, d) {
        if (strcmp(json_string_value(json_object_get(d, "party")), party) == 0)
            return true;
    }
    return false;
}

static json_t *level_stats(const stats_src_t *src, const char *party, const char *level,
                           dcf_time_t now, int64_t *scratch) {
    json_int_t init = 0, answered = 0, declined = 0, missed = 0, overdue = 0;
    dcf_time_t last = 0;
    size_t na = 0, nk = 0;
    for (size_t i = 0; i < src->n_calls; i++) {
        const scall_t *k = &src->calls[i];
        if (strcmp(k->level, level) != 0)
            continue;
        bool mine = strcmp(k->caller, party) == 0;
        if (mine)
            init++;
        else if (strcmp(k->answered, party) == 0) {
            answered++;
            scratch[na++] = k->answered_at - k->started_at;
        } else if (declined_by(k, party))
            declined++;
        else if (strcmp(k->state, "missed") == 0)
            missed++;
        if (k->answered_at && (mine || strcmp(k->answered, party) == 0) && k->answered_at > last)
            last = k->answered_at;
    }
    json_t *ans = median_s(scratch, na);
    for (size_t i = 0; i < src->n_copies; i++) {
        const scopy_t *m = &src->copies[i];
        if (strcmp(m->party, party) != 0 || strcmp(m->level, level) != 0)
            continue;
        if (m->acked_at)
            scratch[nk++] = m->acked_at - m->sent_at;
        else if (m->deadline && m->deadline <= now)
            overdue++;
    }
    return json_pack("{s:o, s:I, s:I, s:I, s:I, s:o, s:o, s:I}", "last_answered_contact",
                     last ? svc_time_json(last) : json_null(), "calls_initiated", init,
                     "calls_answered", answered, "calls_declined", declined, "calls_missed", missed,
                     "median_answer_s", ans, "median_ack_s", median_s(scratch, nk), "overdue_acks",
                     overdue);
}

static json_t *check_stats(const stats_src_t *src, const char *party, dcf_time_t now) {
    json_int_t sent = 0, acked = 0, failed = 0, due = 0, clean = 0;
    for (size_t i = 0; i < src->n_copies; i++) {
        const scopy_t *m = &src->copies[i];
        if (strcmp(m->party, party) != 0 || strcmp(m->kind, "check") != 0)
            continue;
        sent++;
        if (m->acked_at)
            acked++;
        if (m->escalated)
            failed++;
        if (m->acked_at || (m->deadline && m->deadline <= now)) {
            due++;
            if (m->acked_at && !m->escalated)
                clean++;
        }
    }
    return json_pack("{s:I, s:I, s:I, s:f}", "sent", sent, "acknowledged", acked, "failed", failed,
                     "health", due ? (double)clean / (double)due : 1.0);
}

static int cmp_time(const void *a, const void *b) {
    return cmp_i64(a, b);
}

/* Longest and current stretch without an answered senior call. */
static json_t *silence(const stats_src_t *src, const svc_line_t *l, dcf_time_t now,
                       int64_t *scratch) {
    if (l->opened_at == 0)
        return json_null();
    size_t n = 0;
    for (size_t i = 0; i < src->n_calls; i++)
        if (strcmp(src->calls[i].level, "senior") == 0 && src->calls[i].answered_at)
            scratch[n++] = src->calls[i].answered_at;
    qsort(scratch, n, sizeof *scratch, cmp_time);
    dcf_time_t prev = l->opened_at, longest = 0;
    for (size_t i = 0; i < n; i++) {
        if (scratch[i] - prev > longest)
            longest = scratch[i] - prev;
        prev = scratch[i];
    }
    if (now - prev > longest)
        longest = now - prev;
    return json_pack("{s:f, s:f, s:o}", "longest_s", (double)longest / 1e6, "current_s",
                     (double)(now - prev) / 1e6, "since", svc_time_json(prev));
}

int dcf_line_stats(dcf_service_t *s, const dcf_principal_t *who, const char *id, json_t **out,
                   dcf_problem_t *p) {
    stats_src_t src = {0};
    int64_t *scratch = NULL;
    svc_line_t *l = malloc(sizeof *l);
    int rc;
    if (l == NULL)
        return svc_internal(p, DCF_ENOMEM);
    if ((rc = svc_line_access(s, NULL, who, id, l, p)) != DCF_OK)
        goto out;
    dcf_time_t now = svc_now(s);
    dcf_store_val_t v[2] = {dcf_store_val_text(l->id, strlen(l->id)),
                            dcf_store_val_int(STATS_ROWS_MAX + 1)};
    rc = dcf_store_read(s->st,
                        "SELECT level, state, caller, answered_party, started_at, answered_at, "
                        "declines FROM calls WHERE line = $1 ORDER BY seq DESC LIMIT $2",
                        v, 2, scall_row, &src);
    if (rc == DCF_OK)
        rc = dcf_store_read(s->st,
                            "SELECT r.party, m.level, m.kind, r.state, m.sent_at, m.deadline, "
                            "r.acked_at, r.escalations FROM message_rcpt r JOIN messages m ON "
                            "m.line = r.line AND m.seq = r.seq WHERE r.line = $1 "
                            "ORDER BY r.seq DESC LIMIT $2",
                            v, 2, scopy_row, &src);
    size_t most = src.n_calls > src.n_copies ? src.n_calls : src.n_copies;
    if (rc == DCF_OK && (scratch = malloc((most + 1) * sizeof *scratch)) == NULL)
        rc = DCF_ENOMEM;
    if (rc != DCF_OK) {
        rc = svc_internal(p, rc);
        goto out;
    }
    json_t *sides = json_array();
    for (size_t i = 0; sides != NULL && i < l->n; i++) {
        const char *party = l->m[i].party;
        json_array_append_new(sides,
                              json_pack("{s:s, s:{s:o, s:o}, s:o}", "party", party, "levels",
                                        "duty", level_stats(&src, party, "duty", now, scratch),
                                        "senior", level_stats(&src, party, "senior", now, scratch),
                                        "line_checks", check_stats(&src, party, now)));
    }
    json_t *freeze = l->freeze_at ? json_pack("{s:o, s:o}", "since", svc_time_json(l->freeze_since),
                                              "alerted_at", svc_time_json(l->freeze_at))
                                  : json_null();
    *out = json_pack("{s:s, s:o, s:o, s:o, s:o, s:b}", "line", l->id, "at", svc_time_json(now),
                     "sides", sides, "senior_silence", silence(&src, l, now, scratch), "freeze",
                     freeze, "truncated", src.truncated);
    rc = *out ? DCF_OK : svc_internal(p, DCF_ENOMEM);
out:
    for (size_t i = 0; i < src.n_calls; i++)
        json_decref(src.calls[i].declines);
    free(src.calls);
    free(src.copies);
    free(scratch);
    free(l);
    return rc;
}
