/*
 * test_engine.c -- the engine (index filter + exact test) against brute force.
 *
 * A fixed-seed random sequence adds, removes and replaces operations (circles
 * and polygons, several parties and kinds, a rule table with pair-specific
 * rows, some operations asking for extra separation) and, between mutations,
 * asks dcf_engine_check for a random probe operation's conflicts.  Each answer
 * is compared with a brute-force scan: every live operation of another party,
 * every volume pair, the exact test under dcf_rules_effective.  Any missing or
 * extra conflict fails.  dcf_engine_all_conflicts is compared the same way on
 * the final population.  Then several threads check concurrently through
 * their own dcf_engine_reader_t and must give exactly the single-threaded
 * answers, first on a still population and then while a writer replaces
 * operations under a reader-writer lock (as the server does).
 *
 * dcf_engine_add_bulk (start-up's path): engines loaded in one batch, in
 * several batches and one operation at a time from the same random
 * operations must answer every probe alike, before and after removals.  A
 * batch that repeats an id already live, or repeats an id within itself, is
 * refused with DCF_EEXIST and leaves the engine answering exactly as before
 * (the batch's operations stay the caller's, who frees them); an empty batch
 * is fine.
 */
#include <pthread.h>
#include <stdbool.h>

#include "deconflict/engine.h"
#include "test.h"

#define POP         600    /* live operations kept around */
#define MUTATIONS   100000 /* adds + removes + replacements */
#define PROBE_EVERY 20     /* one check query per this many mutations */

static uint64_t rng = 0x5eed5eed5eed5eedu;
static uint64_t rnd(void) {
    uint64_t z = (rng += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}
static double unif(double lo, double hi) {
    return lo + (hi - lo) * ((double)(rnd() >> 11) / 9007199254740992.0);
}

static const char *parties[] = {"blue", "red", "green"};
static const char *kinds[] = {"drone", "helicopter", "fixed-wing"};
static long seq;

static dcf_footprint_t *random_footprint(void) {
    dcf_footprint_t *f = NULL;
    /* A 40 km x 40 km box around (35 N, 40 E), so many pairs interact. */
    dcf_latlng_t c = {unif(35.0, 35.36), unif(40.0, 40.44)};
    if (rnd() % 2) {
        if (dcf_footprint_circle(c, unif(100, 4000), "", &f, NULL) != DCF_OK)
            return NULL;
        return f;
    }
    /* A star-shaped polygon: angles sorted, radii random, so never self-crossing. */
    size_t n = 3 + rnd() % 6;
    dcf_latlng_t v[8];
    double r0 = unif(0.002, 0.03);
    for (size_t i = 0; i < n; i++) {
        double a = 2 * M_PI * ((double)i + unif(0.1, 0.9)) / (double)n;
        double r = r0 * unif(0.4, 1.0);
        v[i].lat = c.lat + r * sin(a);
        v[i].lng = c.lng + r * cos(a) / cos(c.lat * M_PI / 180);
    }
    dcf_geo_limits_t lim;
    dcf_geo_limits_default(&lim);
    if (dcf_footprint_polygon(&lim, v, n, "", &f, NULL) != DCF_OK)
        return NULL;
    return f;
}

static dcf_operation_t *random_op(void) {
    dcf_operation_t *op = calloc(1, sizeof *op);
    size_t nv = 1 + rnd() % 3;
    op->volumes = calloc(nv, sizeof *op->volumes);
    snprintf(op->id, sizeof op->id, "op-%ld", seq++);
    snprintf(op->party, sizeof op->party, "%s", parties[rnd() % 3]);
    snprintf(op->kind, sizeof op->kind, "%s", kinds[rnd() % 3]);
    op->priority = (int32_t)(rnd() % 100);
    if (rnd() % 10 == 0) {
        op->min_sep.horizontal_m = unif(0, 3000);
        op->min_sep.vertical_m = unif(0, 200);
        op->min_sep.time_us = (dcf_time_t)unif(0, 900) * DCF_USEC_PER_SEC;
    }
    for (size_t i = 0; i < nv; i++) {
        dcf_volume_t *v = &op->volumes[i];
        v->footprint = random_footprint();
        if (v->footprint == NULL) {
            dcf_operation_free(op);
            return NULL;
        }
        op->n_volumes = i + 1;
        /* Whole minutes on a 2-day horizon make back-to-back slots common. */
        dcf_time_t t0 = (dcf_time_t)(1795000000 + 60 * (rnd() % 2880)) * DCF_USEC_PER_SEC;
        v->t_start = t0;
        v->t_end = t0 + (dcf_time_t)(60 * (5 + rnd() % 240)) * DCF_USEC_PER_SEC;
        v->alt_lo = (double)(100 * (rnd() % 60));
        v->alt_hi = v->alt_lo + (double)(100 * (1 + rnd() % 40));
    }
    return op;
}

/* Brute force: does `a` conflict with `b` under the rule table? */
static bool brute_pair(dcf_geo_ctx_t *g, const dcf_rules_t *rules, const dcf_operation_t *a,
                       const dcf_operation_t *b) {
    dcf_sep_t sep;
    if (strcmp(a->party, b->party) == 0)
        return false;
    dcf_rules_effective(rules, a, b, &sep);
    for (size_t i = 0; i < a->n_volumes; i++)
        for (size_t j = 0; j < b->n_volumes; j++) {
            bool hit = false;
            if (dcf_volume_conflict(g, &a->volumes[i], &b->volumes[j], &sep, &hit, NULL) != DCF_OK)
                return false;
            if (hit)
                return true;
        }
    return false;
}

typedef struct {
    const char *ids[POP * 2];
    size_t n;
} found_t;

static int collect(void *arg, const dcf_conflict_t *c) {
    found_t *f = arg;
    if (f->n < POP * 2)
        f->ids[f->n++] = c->b->id;
    return 0;
}

static bool found_has(const found_t *f, const char *id) {
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->ids[i], id) == 0)
            return true;
    return false;
}

typedef struct {
    dcf_geo_ctx_t *g;
    const dcf_rules_t *rules;
    long n, bad;
} pairs_t;

static int check_pair(void *arg, const dcf_conflict_t *c) {
    pairs_t *p = arg;
    p->n++;
    if (c->a == c->b || !brute_pair(p->g, p->rules, c->a, c->b))
        p->bad++;
    return 0;
}

static void test_engine_vs_brute_force(void) {
    dcf_sep_t def = {.horizontal_m = 500, .vertical_m = 150, .time_us = 0};
    dcf_sep_t hf = {.horizontal_m = 2000, .vertical_m = 300, .time_us = 300 * DCF_USEC_PER_SEC};
    dcf_sep_t dd = {.horizontal_m = 50, .vertical_m = 15, .time_us = 0};
    dcf_rules_t *rules = NULL;
    dcf_engine_t *e = NULL;
    dcf_geo_ctx_t *g = NULL;
    dcf_operation_t *live[POP] = {0};
    size_t n_live = 0;
    long misses = 0, extras = 0, dups = 0, probes = 0, conflicts_seen = 0;

    CHECK_INT(dcf_rules_new(&def, &rules), DCF_OK);
    CHECK_INT(dcf_rules_set(rules, "helicopter", "fixed-wing", &hf), DCF_OK);
    CHECK_INT(dcf_rules_set(rules, "drone", "drone", &dd), DCF_OK);
    dcf_index_opts_t io;
    dcf_index_opts_default(&io);
    io.delta_max = 64; /* exercise packing and merging often */
    CHECK_INT(dcf_engine_new(rules, &io, &e), DCF_OK);
    CHECK_INT(dcf_geo_ctx_new(&g), DCF_OK);
    if (rules == NULL || e == NULL || g == NULL)
        return;

    for (long step = 0; step < MUTATIONS; step++) {
        unsigned what = (unsigned)(rnd() % 3);
        if (n_live < POP / 2 || (what == 0 && n_live < POP)) {
            dcf_operation_t *op = random_op();
            if (op == NULL) {
                CHECK(op != NULL);
                continue;
            }
            if (dcf_engine_add(e, op) != DCF_OK) {
                CHECK_MSG(0, "add %s failed", op->id);
                dcf_operation_free(op);
                continue;
            }
            live[n_live++] = op;
        } else if (what == 1 && n_live > 0) {
            size_t i = rnd() % n_live;
            CHECK_INT(dcf_engine_remove(e, live[i]->id), DCF_OK);
            live[i] = live[--n_live];
        } else if (n_live > 0) { /* replace: an update as the server will do it */
            size_t i = rnd() % n_live;
            dcf_operation_t *op = random_op();
            if (op == NULL)
                continue;
            snprintf(op->id, sizeof op->id, "%s", live[i]->id);
            CHECK_INT(dcf_engine_remove(e, live[i]->id), DCF_OK);
            CHECK_INT(dcf_engine_add(e, op), DCF_OK);
            live[i] = op;
        }

        if (step % PROBE_EVERY != 0)
            continue;
        dcf_operation_t *probe = random_op();
        if (probe == NULL)
            continue;
        found_t f = {.n = 0};
        CHECK_INT(dcf_engine_check(e, probe, collect, &f), DCF_OK);
        for (size_t i = 0; i < f.n; i++)
            for (size_t j = 0; j < i; j++)
                if (strcmp(f.ids[i], f.ids[j]) == 0)
                    dups++;
        for (size_t i = 0; i < n_live; i++) {
            bool want = brute_pair(g, rules, probe, live[i]);
            bool got = found_has(&f, live[i]->id);
            misses += want && !got;
            extras += got && !want;
            conflicts_seen += want;
        }
        probes++;
        dcf_operation_free(probe);
    }
    CHECK_MSG(misses == 0, "%ld conflicts missed", misses);
    CHECK_MSG(extras == 0, "%ld conflicts invented", extras);
    CHECK_MSG(dups == 0, "%ld duplicate reports", dups);
    CHECK_MSG(conflicts_seen > 1000, "only %ld conflicts: the test is too sparse to mean much",
              conflicts_seen);
    fprintf(stderr, "engine: %ld probes, %ld conflicts compared, %zu live operations\n", probes,
            conflicts_seen, n_live);

    /* All pairs, each exactly once, each a real conflict. */
    long want_pairs = 0;
    for (size_t i = 0; i < n_live; i++)
        for (size_t j = i + 1; j < n_live; j++)
            want_pairs += brute_pair(g, rules, live[i], live[j]);
    pairs_t pairs = {.g = g, .rules = rules};
    CHECK_INT(dcf_engine_all_conflicts(e, check_pair, &pairs), DCF_OK);
    CHECK_INT(pairs.n, want_pairs);
    CHECK_INT(pairs.bad, 0);

    dcf_geo_ctx_free(g);
    dcf_engine_free(e);
    dcf_rules_free(rules);
}

/* ------------------------------------------------- concurrent readers -- */

#define R_POP     400
#define R_PROBES  300
#define R_THREADS 4

typedef struct {
    dcf_engine_t *e;
    pthread_rwlock_t *lock; /* NULL: the population does not change */
    dcf_operation_t **probes;
    found_t *expect; /* per probe, when lock == NULL */
    long mismatches, checks;
} rthread_t;

static bool same_found(const found_t *a, const found_t *b) {
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (!found_has(b, a->ids[i]))
            return false;
    return true;
}

static void *reader_main(void *arg) {
    rthread_t *t = arg;
    dcf_engine_reader_t *rd = NULL;
    if (dcf_engine_reader_new(t->e, &rd) != DCF_OK) {
        t->mismatches = -1;
        return NULL;
    }
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < R_PROBES; i++) {
            found_t f = {.n = 0};
            if (t->lock)
                pthread_rwlock_rdlock(t->lock);
            int rc = dcf_engine_reader_check(rd, t->probes[i], collect, &f);
            /* Ids point into the engine: compare while still locked. */
            bool ok = rc == DCF_OK && (t->lock != NULL || same_found(&f, &t->expect[i]));
            if (t->lock)
                pthread_rwlock_unlock(t->lock);
            t->checks++;
            if (!ok)
                t->mismatches++;
        }
    dcf_engine_reader_free(rd);
    return NULL;
}

static void test_readers_concurrent(void) {
    dcf_sep_t def = {.horizontal_m = 800, .vertical_m = 150, .time_us = 60 * DCF_USEC_PER_SEC};
    dcf_rules_t *rules = NULL;
    dcf_engine_t *e = NULL;
    dcf_operation_t *live[R_POP], *probes[R_PROBES];
    static found_t expect[R_PROBES];
    pthread_rwlock_t lock;
    pthread_t th[R_THREADS];
    rthread_t args[R_THREADS];
    long total = 0;

    CHECK_INT(dcf_rules_new(&def, &rules), DCF_OK);
    CHECK_INT(dcf_engine_new(rules, NULL, &e), DCF_OK);
    if (e == NULL)
        return;
    for (size_t i = 0; i < R_POP; i++) {
        while ((live[i] = random_op()) == NULL)
            ;
        CHECK_INT(dcf_engine_add(e, live[i]), DCF_OK);
    }
    for (size_t i = 0; i < R_PROBES; i++) {
        while ((probes[i] = random_op()) == NULL)
            ;
        expect[i].n = 0;
        CHECK_INT(dcf_engine_check(e, probes[i], collect, &expect[i]), DCF_OK);
        total += (long)expect[i].n;
    }
    CHECK_MSG(total > R_PROBES, "the population should conflict often (%ld)", total);

    /* Still population: every thread must match the single-threaded answer. */
    for (int t = 0; t < R_THREADS; t++) {
        args[t] = (rthread_t){.e = e, .probes = probes, .expect = expect};
        pthread_create(&th[t], NULL, reader_main, &args[t]);
    }
    for (int t = 0; t < R_THREADS; t++) {
        pthread_join(th[t], NULL);
        CHECK_MSG(args[t].mismatches == 0, "reader %d: %ld of %ld answers differ", t,
                  args[t].mismatches, args[t].checks);
    }

    /* A writer replacing operations under the lock while readers check. */
    pthread_rwlock_init(&lock, NULL);
    for (int t = 0; t < R_THREADS; t++) {
        args[t] = (rthread_t){.e = e, .lock = &lock, .probes = probes};
        pthread_create(&th[t], NULL, reader_main, &args[t]);
    }
    for (int k = 0; k < 2000; k++) {
        size_t i = rnd() % R_POP;
        dcf_operation_t *op = random_op();
        if (op == NULL)
            continue;
        snprintf(op->id, sizeof op->id, "%s", live[i]->id);
        pthread_rwlock_wrlock(&lock);
        CHECK_INT(dcf_engine_remove(e, live[i]->id), DCF_OK);
        CHECK_INT(dcf_engine_add(e, op), DCF_OK);
        pthread_rwlock_unlock(&lock);
        live[i] = op;
    }
    for (int t = 0; t < R_THREADS; t++) {
        pthread_join(th[t], NULL);
        CHECK_MSG(args[t].mismatches == 0, "reader %d failed %ld checks under mutation", t,
                  args[t].mismatches);
    }
    /* After the writer: readers agree with the engine's own answer again. */
    dcf_engine_reader_t *rd = NULL;
    CHECK_INT(dcf_engine_reader_new(e, &rd), DCF_OK);
    for (size_t i = 0; rd != NULL && i < R_PROBES; i++) {
        found_t a = {.n = 0}, b = {.n = 0};
        CHECK_INT(dcf_engine_check(e, probes[i], collect, &a), DCF_OK);
        CHECK_INT(dcf_engine_reader_check(rd, probes[i], collect, &b), DCF_OK);
        CHECK(same_found(&a, &b));
    }
    dcf_engine_reader_free(rd);
    pthread_rwlock_destroy(&lock);
    for (size_t i = 0; i < R_PROBES; i++)
        dcf_operation_free(probes[i]);
    dcf_engine_free(e);
    dcf_rules_free(rules);
}

/* ----------------------------------------------------------- bulk add -- */

#define B_POP    450
#define B_PROBES 150
#define B_BATCH  60

/* n random operations.  The same generator state gives the same ids and
 * operations again, so two engines can be filled with equal copies. */
static void make_ops(dcf_operation_t **ops, size_t n) {
    for (size_t i = 0; i < n; i++)
        while ((ops[i] = random_op()) == NULL)
            ;
}

typedef struct {
    uint64_t rng;
    long seq;
} gen_state_t;

static gen_state_t gen_save(void) {
    return (gen_state_t){rng, seq};
}

static void gen_restore(gen_state_t g) {
    rng = g.rng;
    seq = g.seq;
}

/* Probes whose answers differ between engines a and b; *total counts a's
 * conflicts. */
static long engines_differ(dcf_engine_t *a, dcf_engine_t *b, dcf_operation_t **probes, size_t n,
                           long *total) {
    long diff = 0;
    for (size_t i = 0; i < n; i++) {
        found_t fa = {.n = 0}, fb = {.n = 0};
        if (dcf_engine_check(a, probes[i], collect, &fa) != DCF_OK ||
            dcf_engine_check(b, probes[i], collect, &fb) != DCF_OK || !same_found(&fa, &fb))
            diff++;
        if (total != NULL)
            *total += (long)fa.n;
    }
    return diff;
}

static int count_pair(void *arg, const dcf_conflict_t *c) {
    (void)c;
    (*(long *)arg)++;
    return 0;
}

static long all_pairs(dcf_engine_t *e) {
    long n = 0;
    CHECK_INT(dcf_engine_all_conflicts(e, count_pair, &n), DCF_OK);
    return n;
}

static void test_bulk_matches_one_by_one(void) {
    dcf_sep_t def = {.horizontal_m = 600, .vertical_m = 150, .time_us = 30 * DCF_USEC_PER_SEC};
    dcf_sep_t hf = {.horizontal_m = 2000, .vertical_m = 300, .time_us = 300 * DCF_USEC_PER_SEC};
    dcf_rules_t *rules = NULL;
    dcf_engine_t *one = NULL, *bulk = NULL, *parts = NULL;
    static dcf_operation_t *a[B_POP], *b[B_POP], *c[B_POP], *probes[B_PROBES];

    CHECK_INT(dcf_rules_new(&def, &rules), DCF_OK);
    CHECK_INT(dcf_rules_set(rules, "helicopter", "fixed-wing", &hf), DCF_OK);
    CHECK_INT(dcf_engine_new(rules, NULL, &one), DCF_OK);
    CHECK_INT(dcf_engine_new(rules, NULL, &bulk), DCF_OK);
    CHECK_INT(dcf_engine_new(rules, NULL, &parts), DCF_OK);
    if (one == NULL || bulk == NULL || parts == NULL)
        return;
    gen_state_t g = gen_save();
    make_ops(a, B_POP);
    gen_restore(g);
    make_ops(b, B_POP);
    gen_restore(g);
    make_ops(c, B_POP);
    make_ops(probes, B_PROBES);
    long unequal = 0;
    for (size_t i = 0; i < B_POP; i++)
        unequal += !dcf_operation_equal(a[i], b[i]) || !dcf_operation_equal(a[i], c[i]);
    CHECK_INT(unequal, 0);

    for (size_t i = 0; i < B_POP; i++)
        CHECK_INT(dcf_engine_add(one, a[i]), DCF_OK);
    CHECK_INT(dcf_engine_add_bulk(bulk, b, B_POP), DCF_OK);
    /* In parts: into an empty engine, then into a loaded one, then one by
     * one on top. */
    CHECK_INT(dcf_engine_add_bulk(parts, c, B_POP / 3), DCF_OK);
    CHECK_INT(dcf_engine_add_bulk(parts, c + B_POP / 3, B_POP / 3), DCF_OK);
    for (size_t i = 2 * (B_POP / 3); i < B_POP; i++)
        CHECK_INT(dcf_engine_add(parts, c[i]), DCF_OK);
    CHECK_INT(dcf_engine_count(bulk), B_POP);
    CHECK_INT(dcf_engine_count(parts), B_POP);
    long wrong = 0;
    for (size_t i = 0; i < B_POP; i++)
        wrong += dcf_engine_get(bulk, b[i]->id) != b[i] || dcf_engine_get(parts, c[i]->id) != c[i];
    CHECK_INT(wrong, 0);

    long total = 0;
    CHECK_INT(engines_differ(one, bulk, probes, B_PROBES, &total), 0);
    CHECK_INT(engines_differ(one, parts, probes, B_PROBES, NULL), 0);
    CHECK_MSG(total > B_PROBES, "only %ld conflicts: too sparse to mean much", total);
    long pairs = all_pairs(one);
    CHECK(pairs > 0);
    CHECK_INT(all_pairs(bulk), pairs);
    CHECK_INT(all_pairs(parts), pairs);

    /* Removals work on bulk-loaded records (positions, keys, ids). */
    char id[DCF_ID_MAX + 1];
    for (size_t i = 0; i < B_POP; i += 3) {
        snprintf(id, sizeof id, "%s", a[i]->id);
        CHECK_INT(dcf_engine_remove(one, id), DCF_OK);
        CHECK_INT(dcf_engine_remove(bulk, id), DCF_OK);
        CHECK_INT(dcf_engine_remove(parts, id), DCF_OK);
    }
    CHECK_INT(dcf_engine_count(bulk), dcf_engine_count(one));
    CHECK_INT(engines_differ(one, bulk, probes, B_PROBES, NULL), 0);
    CHECK_INT(engines_differ(one, parts, probes, B_PROBES, NULL), 0);
    CHECK_INT(all_pairs(bulk), all_pairs(one));
    fprintf(stderr, "bulk: %d operations, %ld probe conflicts, %ld pairs, all alike\n", B_POP,
            total, pairs);

    for (size_t i = 0; i < B_PROBES; i++)
        dcf_operation_free(probes[i]);
    dcf_engine_free(parts);
    dcf_engine_free(bulk);
    dcf_engine_free(one);
    dcf_rules_free(rules);
}

static void free_ops(dcf_operation_t **ops, size_t n) {
    for (size_t i = 0; i < n; i++)
        dcf_operation_free(ops[i]);
}

/* The ids of batch[0..n) none of which may be live in e. */
static long batch_ids_live(dcf_engine_t *e, dcf_operation_t **batch, size_t n,
                           const dcf_operation_t *except) {
    long live = 0;
    for (size_t i = 0; i < n; i++) {
        const dcf_operation_t *got = dcf_engine_get(e, batch[i]->id);
        live += got != NULL && got != except;
    }
    return live;
}

static void test_bulk_refusals(void) {
    dcf_sep_t def = {.horizontal_m = 600, .vertical_m = 150, .time_us = 30 * DCF_USEC_PER_SEC};
    dcf_rules_t *rules = NULL;
    dcf_engine_t *e = NULL, *ref = NULL;
    static dcf_operation_t *base_e[B_POP], *base_r[B_POP], *probes[B_PROBES];
    dcf_operation_t *batch[B_BATCH], *copy[B_BATCH];
    const size_t nb = B_POP / 2;

    CHECK_INT(dcf_rules_new(&def, &rules), DCF_OK);
    CHECK_INT(dcf_engine_new(rules, NULL, &e), DCF_OK);
    CHECK_INT(dcf_engine_new(rules, NULL, &ref), DCF_OK);
    if (e == NULL || ref == NULL)
        return;
    gen_state_t g = gen_save();
    make_ops(base_e, nb);
    gen_restore(g);
    make_ops(base_r, nb);
    make_ops(probes, B_PROBES);
    CHECK_INT(dcf_engine_add_bulk(e, base_e, nb), DCF_OK);
    for (size_t i = 0; i < nb; i++)
        CHECK_INT(dcf_engine_add(ref, base_r[i]), DCF_OK);
    long pairs = all_pairs(ref);
    CHECK_INT(engines_differ(ref, e, probes, B_PROBES, NULL), 0);

    /* An id already live, at the start, the middle and the end of a batch:
     * refused, the live operation untouched, nothing of the batch added. */
    const size_t where[] = {0, B_BATCH / 2, B_BATCH - 1};
    for (size_t w = 0; w < 3; w++) {
        make_ops(batch, B_BATCH);
        const dcf_operation_t *old = base_e[7 + w];
        snprintf(batch[where[w]]->id, sizeof batch[where[w]]->id, "%s", old->id);
        CHECK_INT(dcf_engine_add_bulk(e, batch, B_BATCH), DCF_EEXIST);
        CHECK_INT(dcf_engine_count(e), nb);
        CHECK(dcf_engine_get(e, old->id) == old);
        CHECK_INT(batch_ids_live(e, batch, B_BATCH, old), 0);
        CHECK_INT(engines_differ(ref, e, probes, B_PROBES, NULL), 0);
        CHECK_INT(all_pairs(e), pairs);
        free_ops(batch, B_BATCH); /* still ours: ASan reports a double free */
    }

    /* Two operations of one id within the batch (neither live yet). */
    const size_t dup[][2] = {{0, 1}, {3, B_BATCH - 1}, {B_BATCH - 2, B_BATCH - 1}};
    for (size_t d = 0; d < 3; d++) {
        make_ops(batch, B_BATCH);
        snprintf(batch[dup[d][1]]->id, sizeof batch[dup[d][1]]->id, "%s", batch[dup[d][0]]->id);
        CHECK_INT(dcf_engine_add_bulk(e, batch, B_BATCH), DCF_EEXIST);
        CHECK_INT(dcf_engine_count(e), nb);
        CHECK_INT(batch_ids_live(e, batch, B_BATCH, NULL), 0);
        CHECK_INT(engines_differ(ref, e, probes, B_PROBES, NULL), 0);
        CHECK_INT(all_pairs(e), pairs);
        free_ops(batch, B_BATCH);
    }

    /* A batch of two of one id into an empty engine. */
    dcf_engine_t *empty = NULL;
    CHECK_INT(dcf_engine_new(rules, NULL, &empty), DCF_OK);
    make_ops(batch, 2);
    snprintf(batch[1]->id, sizeof batch[1]->id, "%s", batch[0]->id);
    CHECK_INT(dcf_engine_add_bulk(empty, batch, 2), DCF_EEXIST);
    CHECK_INT(dcf_engine_count(empty), 0);
    CHECK(dcf_engine_get(empty, batch[0]->id) == NULL);
    free_ops(batch, 2);

    /* Empty batches, into an empty engine and a loaded one. */
    CHECK_INT(dcf_engine_add_bulk(empty, batch, 0), DCF_OK);
    CHECK_INT(dcf_engine_count(empty), 0);
    CHECK_INT(dcf_engine_add_bulk(e, batch, 0), DCF_OK);
    CHECK_INT(dcf_engine_count(e), nb);
    CHECK_INT(engines_differ(ref, e, probes, B_PROBES, NULL), 0);
    dcf_engine_free(empty);

    /* After the refusals, a good batch goes in and the engine still agrees
     * with one filled one operation at a time. */
    g = gen_save();
    make_ops(batch, B_BATCH);
    gen_restore(g);
    make_ops(copy, B_BATCH);
    CHECK_INT(dcf_engine_add_bulk(e, batch, B_BATCH), DCF_OK);
    for (size_t i = 0; i < B_BATCH; i++)
        CHECK_INT(dcf_engine_add(ref, copy[i]), DCF_OK);
    CHECK_INT(dcf_engine_count(e), nb + B_BATCH);
    CHECK_INT(engines_differ(ref, e, probes, B_PROBES, NULL), 0);
    CHECK_INT(all_pairs(e), all_pairs(ref));

    free_ops(probes, B_PROBES);
    dcf_engine_free(ref);
    dcf_engine_free(e);
    dcf_rules_free(rules);
}

int main(void) {
    RUN(test_engine_vs_brute_force);
    RUN(test_readers_concurrent);
    RUN(test_bulk_matches_one_by_one);
    RUN(test_bulk_refusals);
    TEST_DONE();
}
