/*
 * store.c -- the generic store: write queue, group-commit writer thread,
 * migrations and the read pool.  No SQL dialect beyond `$n` placeholders and
 * standard DDL lives here; the database is reached only through
 * struct dcf_store_ops (store_int.h).
 *
 * HOW IT WORKS.  dcf_store_write builds a request on its own stack, appends
 * it to a FIFO under `mu` (blocking while DCF_STORE_QUEUE_MAX are queued)
 * and sleeps on `done_cv`.  The writer thread takes up to batch_max requests
 * (after waiting up to batch_wait_us for more to arrive), then, without the
 * lock: BEGIN; per request SAVEPOINT, fn, RELEASE or ROLLBACK TO; COMMIT.
 * Only after COMMIT returns -- the WAL is fsynced -- does it set each
 * request's rc and `done` under the lock and broadcast.  Requests that
 * arrive during a COMMIT's fsync form the next batch, so under concurrency
 * one fsync serves many writes.
 *
 * dcf_store_write_async queues a heap request instead and returns at once;
 * after the COMMIT the writer calls its done callback (without the lock)
 * and frees it.  A server can then keep thousands of writes in flight with
 * a handful of threads: the batch is bounded by batch_max, not by how many
 * threads are blocked.
 *
 * INVARIANTS.  Only the writer thread touches the writer connection after
 * open.  A request is touched by the writer only until its `done` is set
 * (the caller's stack frame may vanish right after).  Requests complete in
 * queue order.  Close drains: the writer exits only when `stopping` is set
 * and the queue is empty.
 *
 * READS.  A fixed pool of read connections guarded by `pool_mu`; a reader
 * borrows one, runs its query, returns it.  WAL lets readers run beside the
 * writer and see the last commit.
 *
 * Callers: the server's domain layer (any thread), tests.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store_int.h"

typedef struct write_req_s {
    dcf_store_write_fn fn;
    void *arg;
    dcf_store_done_fn done_fn; /* async: heap request, completed by the writer */
    void *done_arg;
    int rc;
    bool done;
    struct write_req_s *next;
} write_req_t;

struct dcf_store_tx_s {
    const struct dcf_store_ops *ops;
    dcf_store_conn_t *conn;
    bool live;
};

struct dcf_store_s {
    const struct dcf_store_ops *ops;
    unsigned batch_max, batch_wait_us;
    void (*on_batch)(void *arg, bool committed);
    void *on_batch_arg;

    pthread_mutex_t mu; // guards the queue, stopping, stats
    pthread_cond_t work_cv, room_cv, done_cv;
    write_req_t *head, *tail;
    size_t queued;
    bool stopping;
    dcf_store_stats_t stats;

    pthread_t writer;
    bool writer_started;
    dcf_store_conn_t *wconn;
    dcf_store_tx_t tx; // the one transaction handle; live only inside a write fn

    pthread_mutex_t pool_mu; // guards free_readers
    pthread_cond_t pool_cv;
    unsigned n_readers, n_free;
    dcf_store_conn_t *readers[DCF_STORE_READERS_MAX];
    dcf_store_conn_t *free_readers[DCF_STORE_READERS_MAX];
};

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int check_sql(const char *sql, const dcf_store_val_t *params, size_t n) {
    if (!sql || (n && !params))
        return DCF_EINVAL;
    if (n > DCF_STORE_PARAMS_MAX || strnlen(sql, DCF_STORE_SQL_MAX + 1) > DCF_STORE_SQL_MAX)
        return DCF_ELIMIT;
    return DCF_OK;
}

/* ------------------------------------------------------------ migrations -- */

static int max_version_cb(void *arg, const dcf_store_val_t *cols, size_t ncols) {
    int64_t *v = arg;
    if (ncols == 1 && cols[0].type == DCF_STORE_INT)
        *v = cols[0].u.i;
    return 0;
}

static int migrate(const struct dcf_store_ops *ops, dcf_store_conn_t *c,
                   const dcf_store_migration_t *migs, size_t n) {
    int64_t have = 0;
    int err;

    if ((err = ops->exec(c,
                         "CREATE TABLE IF NOT EXISTS schema_migrations ("
                         "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
                         NULL, 0, NULL)) != DCF_OK)
        return err;
    if ((err = ops->query(c, "SELECT MAX(version) FROM schema_migrations", NULL, 0, max_version_cb,
                          &have)) != DCF_OK)
        return err;
    if (have > (n ? migs[n - 1].version : 0))
        return DCF_ESTATE; // written by newer code: refuse rather than misread it
    for (size_t i = 0; i < n; i++) {
        if (migs[i].version <= have)
            continue;
        dcf_store_val_t v = dcf_store_val_int(migs[i].version);
        if ((err = ops->begin(c)) != DCF_OK)
            return err;
        if ((err = ops->exec_script(c, migs[i].sql)) != DCF_OK ||
            (err = ops->exec(c,
                             "INSERT INTO schema_migrations (version, applied_at) "
                             "VALUES ($1, CURRENT_TIMESTAMP)",
                             &v, 1, NULL)) != DCF_OK ||
            (err = ops->commit(c)) != DCF_OK) {
            ops->rollback(c);
            return err;
        }
    }
    return DCF_OK;
}

/* ---------------------------------------------------------------- writer -- */

// Run one batch (already unlinked from the queue) and fill in each rc.
static void run_batch(dcf_store_t *st, write_req_t *batch, size_t n) {
    const struct dcf_store_ops *ops = st->ops;
    dcf_store_tx_t *tx = &st->tx;
    uint64_t failed = 0, t0 = 0, t1 = 0;
    bool committed = false, broken = false;

    if (ops->begin(st->wconn) == DCF_OK) {
        for (write_req_t *r = batch; r; r = r->next) {
            if (ops->savepoint(st->wconn) != DCF_OK) {
                broken = true; // the connection is unusable: fail the batch
                break;
            }
            tx->live = true;
            r->rc = r->fn(tx, r->arg);
            tx->live = false;
            if (r->rc == 0 && ops->release(st->wconn) != DCF_OK)
                r->rc = DCF_EIO;
            if (r->rc != 0 && ops->rollback_to(st->wconn) != DCF_OK) {
                broken = true;
                break;
            }
        }
        if (!broken) {
            t0 = now_us();
            committed = ops->commit(st->wconn) == DCF_OK;
            t1 = now_us();
        }
        if (!committed)
            ops->rollback(st->wconn);
    }
    if (st->on_batch != NULL)
        st->on_batch(st->on_batch_arg, committed);
    for (write_req_t *r = batch; r; r = r->next) {
        if (!committed)
            r->rc = DCF_EIO;
        if (r->rc != 0)
            failed++;
    }
    pthread_mutex_lock(&st->mu);
    st->stats.writes += n;
    st->stats.writes_failed += failed;
    st->stats.batches++;
    st->stats.commit_usec_sum += t1 - t0;
    if (!committed)
        st->stats.commit_failures++;
    if (n > st->stats.batch_max_seen)
        st->stats.batch_max_seen = n;
    write_req_t *async = NULL, **async_tail = &async;
    for (write_req_t *r = batch, *next; r; r = next) {
        next = r->next;   // a synchronous r may vanish once done is set
        if (r->done_fn) { // keep queue order
            r->next = NULL;
            *async_tail = r;
            async_tail = &r->next;
        } else {
            r->done = true;
        }
    }
    pthread_cond_broadcast(&st->done_cv);
    pthread_mutex_unlock(&st->mu);
    for (write_req_t *r = async, *next; r; r = next) {
        next = r->next;
        r->done_fn(r->done_arg, r->rc);
        free(r);
    }
}

static void *writer_main(void *p) {
    dcf_store_t *st = p;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        while (!st->head && !st->stopping)
            pthread_cond_wait(&st->work_cv, &st->mu);
        if (!st->head)
            break; // stopping and drained
        if (st->batch_wait_us && st->queued < st->batch_max && !st->stopping) {
            struct timespec dl;
            clock_gettime(CLOCK_REALTIME, &dl);
            long ns = dl.tv_nsec + (long)st->batch_wait_us * 1000L;
            dl.tv_sec += ns / 1000000000L;
            dl.tv_nsec = ns % 1000000000L;
            while (st->queued < st->batch_max && !st->stopping &&
                   pthread_cond_timedwait(&st->work_cv, &st->mu, &dl) == 0)
                ;
        }
        write_req_t *batch = st->head, *last = st->head;
        size_t n = 1;
        while (n < st->batch_max && last->next) {
            last = last->next;
            n++;
        }
        st->head = last->next;
        if (!st->head)
            st->tail = NULL;
        last->next = NULL;
        st->queued -= n;
        pthread_cond_broadcast(&st->room_cv);
        pthread_mutex_unlock(&st->mu);
        run_batch(st, batch, n);
        pthread_mutex_lock(&st->mu);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

/* Append req to the queue (under mu), waiting for room.  DCF_ESTATE when
 * the store is closing. */
static int enqueue_locked(dcf_store_t *st, write_req_t *req) {
    while (st->queued >= DCF_STORE_QUEUE_MAX && !st->stopping)
        pthread_cond_wait(&st->room_cv, &st->mu);
    if (st->stopping)
        return DCF_ESTATE;
    if (st->tail)
        st->tail->next = req;
    else
        st->head = req;
    st->tail = req;
    st->queued++;
    pthread_cond_signal(&st->work_cv);
    return DCF_OK;
}

static bool on_writer(dcf_store_t *st) {
    return st->writer_started && pthread_equal(pthread_self(), st->writer);
}

int dcf_store_write(dcf_store_t *st, dcf_store_write_fn fn, void *arg) {
    write_req_t req = {.fn = fn, .arg = arg};
    int err;
    if (!st || !fn)
        return DCF_EINVAL;
    if (on_writer(st))
        return DCF_ESTATE; // would wait for itself
    pthread_mutex_lock(&st->mu);
    if ((err = enqueue_locked(st, &req)) == DCF_OK) {
        while (!req.done)
            pthread_cond_wait(&st->done_cv, &st->mu);
        err = req.rc;
    }
    pthread_mutex_unlock(&st->mu);
    return err;
}

int dcf_store_write_async(dcf_store_t *st, dcf_store_write_fn fn, void *arg, dcf_store_done_fn done,
                          void *done_arg) {
    write_req_t *req;
    int err;
    if (!st || !fn || !done)
        return DCF_EINVAL;
    if (on_writer(st))
        return DCF_ESTATE; // a full queue would wait for itself
    if ((req = calloc(1, sizeof *req)) == NULL)
        return DCF_ENOMEM;
    *req = (write_req_t){.fn = fn, .arg = arg, .done_fn = done, .done_arg = done_arg};
    pthread_mutex_lock(&st->mu);
    err = enqueue_locked(st, req);
    pthread_mutex_unlock(&st->mu);
    if (err != DCF_OK)
        free(req);
    return err;
}

int dcf_store_tx_exec(dcf_store_tx_t *tx, const char *sql, const dcf_store_val_t *params, size_t n,
                      int64_t *changes_out) {
    if (!tx || !tx->live)
        return DCF_ESTATE;
    int err = check_sql(sql, params, n);
    if (err != DCF_OK)
        return err;
    return tx->ops->exec(tx->conn, sql, params, n, changes_out);
}

int dcf_store_tx_query(dcf_store_tx_t *tx, const char *sql, const dcf_store_val_t *params, size_t n,
                       dcf_store_row_cb cb, void *arg) {
    if (!tx || !tx->live)
        return DCF_ESTATE;
    int err = check_sql(sql, params, n);
    if (err != DCF_OK)
        return err;
    if (!cb)
        return DCF_EINVAL;
    return tx->ops->query(tx->conn, sql, params, n, cb, arg);
}

/* ----------------------------------------------------------------- reads -- */

int dcf_store_read(dcf_store_t *st, const char *sql, const dcf_store_val_t *params, size_t n,
                   dcf_store_row_cb cb, void *arg) {
    if (!st || !cb)
        return DCF_EINVAL;
    int err = check_sql(sql, params, n);
    if (err != DCF_OK)
        return err;
    pthread_mutex_lock(&st->pool_mu);
    while (st->n_free == 0)
        pthread_cond_wait(&st->pool_cv, &st->pool_mu);
    dcf_store_conn_t *c = st->free_readers[--st->n_free];
    pthread_mutex_unlock(&st->pool_mu);

    err = st->ops->query(c, sql, params, n, cb, arg);

    pthread_mutex_lock(&st->pool_mu);
    st->free_readers[st->n_free++] = c;
    pthread_cond_signal(&st->pool_cv);
    pthread_mutex_unlock(&st->pool_mu);
    return err;
}

void dcf_store_stats(dcf_store_t *st, dcf_store_stats_t *out) {
    pthread_mutex_lock(&st->mu);
    *out = st->stats;
    out->queued = st->queued;
    pthread_mutex_unlock(&st->mu);
}

/* ------------------------------------------------------- open and close -- */

static int parse_uri(const char *uri, const struct dcf_store_ops **ops, const char **target) {
    if (!uri || !*uri)
        return DCF_EINVAL;
    if (strnlen(uri, DCF_STORE_URI_MAX + 1) > DCF_STORE_URI_MAX)
        return DCF_ELIMIT;
    if (strncmp(uri, "sqlite:", 7) == 0)
        uri += 7;
    else if (strncmp(uri, "postgres:", 9) == 0 || strncmp(uri, "postgresql:", 11) == 0)
        return DCF_EINVAL; // no libpq backend yet
    if (!*uri)
        return DCF_EINVAL;
    *ops = &dcf__store_sqlite_ops;
    *target = uri;
    return DCF_OK;
}

void dcf_store_close(dcf_store_t *st) {
    if (!st)
        return;
    if (st->writer_started) {
        pthread_mutex_lock(&st->mu);
        st->stopping = true;
        pthread_cond_broadcast(&st->work_cv);
        pthread_cond_broadcast(&st->room_cv);
        pthread_mutex_unlock(&st->mu);
        pthread_join(st->writer, NULL);
    }
    for (unsigned i = 0; i < st->n_readers; i++)
        st->ops->close(st->readers[i]);
    st->ops->close(st->wconn);
    pthread_cond_destroy(&st->pool_cv);
    pthread_mutex_destroy(&st->pool_mu);
    pthread_cond_destroy(&st->done_cv);
    pthread_cond_destroy(&st->room_cv);
    pthread_cond_destroy(&st->work_cv);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

int dcf_store_open(const dcf_store_opts_t *opts, const dcf_store_migration_t *migs, size_t n_migs,
                   dcf_store_t **out) {
    dcf_store_t *st = NULL;
    const struct dcf_store_ops *ops = NULL;
    const char *target = NULL;
    int err;

    if (!opts || !out || (n_migs && !migs)) {
        err = DCF_EINVAL;
        goto out;
    }
    if ((err = parse_uri(opts->uri, &ops, &target)) != DCF_OK)
        goto out;
    err = DCF_ELIMIT;
    if (opts->batch_max > DCF_STORE_BATCH_LIMIT || opts->batch_wait_us > DCF_STORE_WAIT_LIMIT_US ||
        opts->readers > DCF_STORE_READERS_MAX || opts->cache_mib > DCF_STORE_CACHE_MAX_MIB ||
        n_migs > DCF_STORE_MIGRATIONS_MAX)
        goto out;
    err = DCF_EINVAL;
    for (size_t i = 0; i < n_migs; i++)
        if (migs[i].version <= 0 || !migs[i].sql ||
            (i > 0 && migs[i].version <= migs[i - 1].version))
            goto out;

    err = DCF_ENOMEM;
    st = calloc(1, sizeof(*st));
    if (!st)
        goto out;
    st->ops = ops;
    st->batch_max = opts->batch_max ? opts->batch_max : DCF_STORE_BATCH_DEFAULT;
    st->batch_wait_us = opts->batch_wait_us;
    st->on_batch = opts->on_batch;
    st->on_batch_arg = opts->on_batch_arg;
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->work_cv, NULL);
    pthread_cond_init(&st->room_cv, NULL);
    pthread_cond_init(&st->done_cv, NULL);
    pthread_mutex_init(&st->pool_mu, NULL);
    pthread_cond_init(&st->pool_cv, NULL);

    unsigned cache_mib = opts->cache_mib ? opts->cache_mib : DCF_STORE_CACHE_DEFAULT;
    if ((err = ops->open(target, true, cache_mib, &st->wconn)) != DCF_OK)
        goto out;
    st->tx = (dcf_store_tx_t){.ops = ops, .conn = st->wconn, .live = false};
    if ((err = migrate(ops, st->wconn, migs, n_migs)) != DCF_OK)
        goto out;
    unsigned want = opts->readers ? opts->readers : DCF_STORE_READERS_DEFAULT;
    for (; st->n_readers < want; st->n_readers++) {
        if ((err = ops->open(target, false, 0, &st->readers[st->n_readers])) != DCF_OK)
            goto out;
        st->free_readers[st->n_free++] = st->readers[st->n_readers];
    }
    if (pthread_create(&st->writer, NULL, writer_main, st) != 0) {
        err = DCF_ENOMEM;
        goto out;
    }
    st->writer_started = true;
    *out = st;
    st = NULL;
    err = DCF_OK;
out:
    dcf_store_close(st);
    return err;
}
