/*
 * test_event_cache.c -- the service's in-memory event cache (service.c,
 * "THE EVENT CACHE") against the events table it caches: after more events
 * than the cache holds, a read from every cursor -- below the cache's
 * floor (served by SQL), at it and above it (served from memory) -- returns
 * exactly the ids, types and data that SQL holds, in order, with no gap and
 * no repeat; a new service over the same store (cold cache) agrees too.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deconflict/service.h"
#include "test.h"

#define N_OPS 700 /* more operation events than the cache's 512 */

typedef struct {
    int64_t ids[4 * N_OPS];
    char *data[4 * N_OPS];
    size_t n;
} got_t;

static int collect(void *arg, int64_t id, const char *type, const char *data, size_t len) {
    got_t *g = arg;
    (void)type;
    if (g->n >= sizeof g->ids / sizeof g->ids[0])
        return 1;
    g->ids[g->n] = id;
    g->data[g->n] = strndup(data, len);
    g->n++;
    return 0;
}

static void got_clear(got_t *g) {
    for (size_t i = 0; i < g->n; i++)
        free(g->data[i]);
    g->n = 0;
}

/* Every event after `after`, read in pages of 64 as a stream does. */
static void read_all(dcf_service_t *s, const dcf_principal_t *who, int64_t after, got_t *g) {
    for (;;) {
        size_t before = g->n;
        int64_t cur = g->n ? g->ids[g->n - 1] : after;
        CHECK_INT(dcf_event_read(s, who, cur, 64, collect, g), 0);
        if (g->n == before)
            break;
    }
}

static dcf_service_t *open_service(const char *db, const char *key) {
    dcf_service_opts_t o;
    char err[512];
    dcf_service_t *s = NULL;
    dcf_service_opts_default(&o);
    o.store.uri = db;
    o.audit_key_path = key;
    o.notice_us = 0;
    int rc = dcf_service_open(&o, &s, err, sizeof err);
    CHECK_MSG(rc == DCF_OK, "%s", err);
    return s;
}

static void test_cache_matches_sql(void) {
    char dir[] = "/tmp/dcf-evcache-XXXXXX", db[300], key[300], err[256];
    if (mkdtemp(dir) == NULL) {
        CHECK(0);
        return;
    }
    snprintf(db, sizeof db, "sqlite:%s/t.db", dir);
    snprintf(key, sizeof key, "%s/t.db.audit-key", dir);
    CHECK_INT(dcf_service_audit_keygen(key, err, sizeof err), DCF_OK);
    dcf_service_t *s = open_service(db, key);
    if (s == NULL)
        return;
    char secret[DCF_TOKEN_LEN + 1];
    dcf_principal_t admin, planner;
    dcf_problem_t p = {0};
    json_t *out = NULL;
    CHECK_INT(dcf_service_init_admin(s, secret, sizeof secret), DCF_OK);
    CHECK_INT(dcf_service_authenticate(s, secret, &admin), DCF_OK);
    static const char PARTY[] = "{\"id\": \"p\", \"name\": \"P\"}";
    CHECK_INT(dcf_party_create(s, &admin, PARTY, sizeof PARTY - 1, &out, &p), DCF_OK);
    json_decref(out);
    static const char TOK[] = "{\"role\": \"planner\", \"label\": \"t\"}";
    CHECK_INT(dcf_token_create(s, &admin, "p", TOK, sizeof TOK - 1, &out, &p), DCF_OK);
    CHECK_INT(
        dcf_service_authenticate(s, json_string_value(json_object_get(out, "token")), &planner),
        DCF_OK);
    json_decref(out);

    /* N_OPS operations far apart (no conflicts): one event each. */
    char body[600], when[2][DCF_TIME_STRLEN];
    dcf_time_format(dcf_time_now() + 3600 * DCF_USEC_PER_SEC, when[0]);
    dcf_time_format(dcf_time_now() + 7200 * DCF_USEC_PER_SEC, when[1]);
    int created = 0;
    for (int i = 0; i < N_OPS; i++) {
        snprintf(body, sizeof body,
                 "{\"kind\": \"k\", \"priority\": 1, \"volumes\": [{\"footprint\": {\"type\": "
                 "\"circle\", \"center\": {\"lat\": %.4f, \"lng\": %.4f}, \"radius_m\": 100}, "
                 "\"altitude\": {\"lower_m\": 0, \"upper_m\": 100}, \"time\": {\"start\": \"%s\", "
                 "\"end\": \"%s\"}}]}",
                 -60.0 + 0.1 * (i / 100), -170.0 + 0.1 * (i % 100), when[0], when[1]);
        char etag[32];
        out = NULL;
        if (dcf_op_create(s, &planner, body, strlen(body), &out, etag, &p) == DCF_OK)
            created++;
        else
            dcf_problem_clear(&p);
        json_decref(out);
    }
    CHECK_INT(created, N_OPS);

    /* The reference: a cold service reads every event from SQL. */
    static got_t ref, warm, cold;
    dcf_service_close(s);
    s = open_service(db, key);
    if (s == NULL)
        return;
    read_all(s, &planner, 0, &ref);
    CHECK_INT(ref.n, N_OPS);
    int64_t last = ref.n ? ref.ids[ref.n - 1] : 0;

    /* Warm the cache with N_OPS more events, then read from every cursor. */
    for (int i = 0; i < N_OPS; i++) {
        snprintf(body, sizeof body,
                 "{\"kind\": \"k\", \"priority\": 1, \"volumes\": [{\"footprint\": {\"type\": "
                 "\"circle\", \"center\": {\"lat\": %.4f, \"lng\": %.4f}, \"radius_m\": 100}, "
                 "\"altitude\": {\"lower_m\": 0, \"upper_m\": 100}, \"time\": {\"start\": \"%s\", "
                 "\"end\": \"%s\"}}]}",
                 40.0 + 0.1 * (i / 100), -170.0 + 0.1 * (i % 100), when[0], when[1]);
        char etag[32];
        out = NULL;
        if (dcf_op_create(s, &planner, body, strlen(body), &out, etag, &p) != DCF_OK)
            dcf_problem_clear(&p);
        json_decref(out);
    }
    got_clear(&ref);
    read_all(s, &planner, 0, &ref); /* below the floor: SQL, then memory */
    CHECK_INT(ref.n, 2 * N_OPS);
    for (size_t i = 1; i < ref.n; i++)
        CHECK_MSG(ref.ids[i] == ref.ids[i - 1] + 1, "ids %lld, %lld", (long long)ref.ids[i - 1],
                  (long long)ref.ids[i]);
    int bad = 0;
    for (int64_t after = last; after <= ref.ids[ref.n - 1]; after++) {
        got_clear(&warm);
        read_all(s, &planner, after, &warm);
        size_t skip = (size_t)(after - ref.ids[0] + 1);
        if (warm.n != ref.n - skip)
            bad++;
        for (size_t i = 0; i < warm.n && i + skip < ref.n; i++)
            if (warm.ids[i] != ref.ids[i + skip] || strcmp(warm.data[i], ref.data[i + skip]) != 0)
                bad++;
    }
    CHECK_INT(bad, 0);
    dcf_service_close(s);

    /* A cold service over the same store reads the same. */
    s = open_service(db, key);
    if (s != NULL) {
        read_all(s, &planner, 0, &cold);
        CHECK_INT(cold.n, ref.n);
        for (size_t i = 0; i < cold.n && i < ref.n; i++)
            if (cold.ids[i] != ref.ids[i] || strcmp(cold.data[i], ref.data[i]) != 0)
                bad++;
        CHECK_INT(bad, 0);
        dcf_service_close(s);
    }
    got_clear(&ref);
    got_clear(&warm);
    got_clear(&cold);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_INT(system(cmd), 0);
}

int main(void) {
    RUN(test_cache_matches_sql);
    TEST_DONE();
}
