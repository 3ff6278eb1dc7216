/*
 * store.h -- the durable store: group-committed writes over a pluggable SQL
 * backend (SQLite today, PostgreSQL later).
 *
 * WHAT IT IS FOR.  The server keeps its durable state (parties, operations,
 * audit ...) in a SQL database behind this API.  This layer knows nothing of
 * those tables; it offers numbered migrations, durable writes and reads.
 *
 * WRITES.  dcf_store_write(st, fn, arg) queues `fn` for the single writer
 * thread and blocks.  The writer takes up to `batch_max` queued writes, opens
 * one transaction, runs each fn inside its own SAVEPOINT and COMMITs once
 * (one fsync for the whole batch: group commit).  A fn that returns non-zero
 * is rolled back alone and its value is returned to its caller; its
 * batch-mates still commit.  If the COMMIT fails, every write of the batch
 * gets DCF_EIO and none of it is visible.  dcf_store_write returns DCF_OK
 * only after the COMMIT is durable (WAL, synchronous=FULL): an acknowledged
 * write survives kill -9 and power loss.
 *
 * SQL.  All SQL uses numbered placeholders `$1, $2, ...` (portable to
 * PostgreSQL); params[i] binds `$<i+1>`.  One statement per call.
 *
 * READS.  dcf_store_read runs one query on a pooled read connection; in WAL
 * mode readers see the last committed state and never block the writer.
 *
 * THREADS.  Every function except dcf_store_open/close may be called from
 * any thread concurrently.  dcf_store_tx_* may only be called inside a write
 * callback, on the writer thread, with the tx it was given.  A write callback
 * must not call dcf_store_write (it returns DCF_ESTATE).
 */
#ifndef DECONFLICT_STORE_H
#define DECONFLICT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deconflict/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Named limits. */
#define DCF_STORE_URI_MAX        4096   /* bytes of opts.uri */
#define DCF_STORE_SQL_MAX        65536  /* bytes of one SQL text */
#define DCF_STORE_PARAMS_MAX     64     /* parameters per statement */
#define DCF_STORE_COLS_MAX       64     /* result columns per row */
#define DCF_STORE_STMT_CACHE     64     /* prepared statements cached per connection */
#define DCF_STORE_QUEUE_MAX      4096   /* queued writes; further writers block */
#define DCF_STORE_BATCH_LIMIT    4096   /* largest accepted opts.batch_max */
#define DCF_STORE_WAIT_LIMIT_US  100000 /* largest accepted opts.batch_wait_us */
#define DCF_STORE_READERS_MAX    16     /* largest accepted opts.readers */
#define DCF_STORE_CACHE_MAX_MIB  65536  /* largest accepted opts.cache_mib */
#define DCF_STORE_MIGRATIONS_MAX 1024   /* migrations known to the code */

#define DCF_STORE_BATCH_DEFAULT   256
#define DCF_STORE_READERS_DEFAULT 2
#define DCF_STORE_CACHE_DEFAULT   64 /* MiB of page cache for the writer */

typedef struct dcf_store_s dcf_store_t;
typedef struct dcf_store_tx_s dcf_store_tx_t;

typedef struct {
    const char *uri;        /* "sqlite:PATH" or a plain path */
    unsigned batch_max;     /* writes per transaction; 0 = DCF_STORE_BATCH_DEFAULT */
    unsigned batch_wait_us; /* how long the writer waits to fill a batch; 0 = no wait */
    unsigned readers;       /* read connections in the pool; 0 = DCF_STORE_READERS_DEFAULT */
    unsigned cache_mib;     /* the writer's page cache; 0 = DCF_STORE_CACHE_DEFAULT */
    /* Called on the writer thread once per batch, after its COMMIT returned
     * (committed: it is durable) or failed, before any writer of the batch
     * learns its outcome.  May be NULL.  Keep it short; no store calls. */
    void (*on_batch)(void *arg, bool committed);
    void *on_batch_arg;
} dcf_store_opts_t;

/* A numbered schema change.  Versions are positive and strictly increasing
 * in the array given to dcf_store_open; `sql` may hold several statements
 * and takes no parameters. */
typedef struct {
    int64_t version;
    const char *sql;
} dcf_store_migration_t;

typedef enum {
    DCF_STORE_NULL = 0,
    DCF_STORE_INT,
    DCF_STORE_REAL,
    DCF_STORE_TEXT,
    DCF_STORE_BLOB,
} dcf_store_type_t;

/* A tagged SQL value.  Text and blob point to memory the producer owns: a
 * parameter's memory must live for the call, a column's only for the row
 * callback.  Text is not necessarily NUL-terminated; use len. */
typedef struct {
    dcf_store_type_t type;
    union {
        int64_t i;
        double d;
        struct {
            const void *ptr;
            size_t len;
        } b;
    } u;
} dcf_store_val_t;

static inline dcf_store_val_t dcf_store_val_null(void) {
    return (dcf_store_val_t){.type = DCF_STORE_NULL};
}
static inline dcf_store_val_t dcf_store_val_int(int64_t i) {
    return (dcf_store_val_t){.type = DCF_STORE_INT, .u.i = i};
}
static inline dcf_store_val_t dcf_store_val_real(double d) {
    return (dcf_store_val_t){.type = DCF_STORE_REAL, .u.d = d};
}
static inline dcf_store_val_t dcf_store_val_text(const char *p, size_t len) {
    return (dcf_store_val_t){.type = DCF_STORE_TEXT, .u.b = {p, len}};
}
static inline dcf_store_val_t dcf_store_val_blob(const void *p, size_t len) {
    return (dcf_store_val_t){.type = DCF_STORE_BLOB, .u.b = {p, len}};
}

/* Called once per result row.  Return 0 to continue; any other value stops
 * the query and becomes its return value. */
typedef int (*dcf_store_row_cb)(void *arg, const dcf_store_val_t *cols, size_t ncols);

/* A write: runs on the writer thread inside its own savepoint.  Return 0 to
 * keep its changes, non-zero (a dcf_err_t) to roll them back. */
typedef int (*dcf_store_write_fn)(dcf_store_tx_t *tx, void *arg);

typedef struct {
    uint64_t writes;          /* write callbacks run (successful or not) */
    uint64_t writes_failed;   /* of which were rolled back (fn error or failed commit) */
    uint64_t batches;         /* transactions attempted */
    uint64_t commit_failures; /* transactions whose COMMIT failed */
    uint64_t commit_usec_sum; /* total wall time spent in COMMIT */
    uint64_t batch_max_seen;  /* largest batch */
    uint64_t queued;          /* writes waiting for the writer right now */
} dcf_store_stats_t;

/*
 * Open or create the store, set durability (WAL, synchronous=FULL,
 * foreign_keys=ON), apply the pending migrations (each in its own
 * transaction, recorded in schema_migrations(version, applied_at)), open the
 * read pool and start the writer thread.  Returns DCF_OK and *out, or
 * DCF_EINVAL (bad options or migration list), DCF_ESTATE (the database's
 * schema version is newer than the newest migration given), DCF_EIO, DCF_ENOMEM.
 * Call from one thread; the caller owns *out and frees it with dcf_store_close.
 */
int dcf_store_open(const dcf_store_opts_t *opts, const dcf_store_migration_t *migs, size_t n_migs,
                   dcf_store_t **out);

/* Drain the queue (pending writes complete), stop the writer, close every
 * connection and free st.  No other call on st may run or follow.  NULL ok. */
void dcf_store_close(dcf_store_t *st);

/*
 * Run fn(tx, arg) on the writer thread inside the next batch and block until
 * that batch has committed durably.  Returns DCF_OK (fn returned 0 and its
 * changes are durable), fn's non-zero return (its changes were rolled back),
 * DCF_EIO (the batch failed to commit: nothing of fn is visible), or
 * DCF_ESTATE (store closing, or called from inside a write callback).
 * When the queue holds DCF_STORE_QUEUE_MAX writes the caller blocks until
 * there is room.  Any thread.
 */
int dcf_store_write(dcf_store_t *st, dcf_store_write_fn fn, void *arg);

/* Called on the writer thread once an async write is decided: rc as
 * dcf_store_write would have returned it.  It runs after the batch's COMMIT
 * (or its failure) and outside the store's locks, but it delays the next
 * batch: hand work to another thread rather than doing it here.  It may
 * not call dcf_store_write (DCF_ESTATE). */
typedef void (*dcf_store_done_fn)(void *done_arg, int rc);

/*
 * Queue fn(tx, arg) like dcf_store_write, but return at once: DCF_OK when
 * queued (done(done_arg, rc) then runs exactly once, on the writer thread,
 * after the batch is durable or has failed), or DCF_EINVAL, DCF_ENOMEM,
 * DCF_ESTATE (store closing, or called on the writer thread), in which case
 * neither fn nor done ever runs.  arg and done_arg must live until done
 * runs.  Blocks only while the queue is full.  Writes queued by either call
 * complete in queue order.  Any thread.
 */
int dcf_store_write_async(dcf_store_t *st, dcf_store_write_fn fn, void *arg, dcf_store_done_fn done,
                          void *done_arg);

/* Inside a write callback: run one statement.  *changes_out (may be NULL)
 * receives the rows changed.  Returns DCF_OK, DCF_EINVAL (bad SQL or
 * parameter count), DCF_ELIMIT (SQL or params too long), DCF_ECONFLICT
 * (constraint violated), DCF_ESTATE (tx used after its callback returned),
 * DCF_EIO.  The tx pointer belongs to the store; never keep it. */
int dcf_store_tx_exec(dcf_store_tx_t *tx, const char *sql, const dcf_store_val_t *params, size_t n,
                      int64_t *changes_out);

/* Inside a write callback: run one query, calling cb per row.  Same errors
 * as dcf_store_tx_exec, or cb's non-zero return. */
int dcf_store_tx_query(dcf_store_tx_t *tx, const char *sql, const dcf_store_val_t *params, size_t n,
                       dcf_store_row_cb cb, void *arg);

/* Run one read-only query on a pooled read connection (waits for a free
 * one).  Sees every write acknowledged before the call.  A statement that
 * would write returns DCF_EPERM.  Any thread. */
int dcf_store_read(dcf_store_t *st, const char *sql, const dcf_store_val_t *params, size_t n,
                   dcf_store_row_cb cb, void *arg);

/* Copy the writer's counters.  Any thread. */
void dcf_store_stats(dcf_store_t *st, dcf_store_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif /* DECONFLICT_STORE_H */
