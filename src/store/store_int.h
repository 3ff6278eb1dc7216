/*
 * store_int.h -- the backend table behind the store (private to src/store/).
 *
 * The generic layer (store.c: queue, batching, savepoint per write,
 * migrations, read pool) talks to a database only through a
 * `struct dcf_store_ops`.  A backend owns opaque connections; each
 * connection is used by one thread at a time (the generic layer guarantees
 * it), so a backend needs no locking of its own.  SQL handed to a backend
 * uses `$1..$n` placeholders; every backend must accept them.
 *
 * Every function returns DCF_OK or a negative dcf_err_t as described in
 * store.h.  Callers: store.c only.  Implementations: sqlite.c
 * (dcf__store_sqlite_ops); a libpq one will follow.
 */
#ifndef DCF_STORE_INT_H
#define DCF_STORE_INT_H

#include <stdbool.h>

#include "deconflict/store.h"

typedef struct dcf_store_conn_s dcf_store_conn_t; /* backend-defined */

struct dcf_store_ops {
    const char *name;
    /* Open a connection to `target` (backend-specific: a path for SQLite).
     * `writer` true: the one read-write connection, which also sets the
     * durability settings and keeps a page cache of `cache_mib` MiB; false:
     * a read-only connection (cache_mib is then 0: the backend's default). */
    int (*open)(const char *target, bool writer, unsigned cache_mib, dcf_store_conn_t **out);
    void (*close)(dcf_store_conn_t *c); /* NULL ok */
    /* Several statements, no parameters (migrations). */
    int (*exec_script)(dcf_store_conn_t *c, const char *sql);
    int (*begin)(dcf_store_conn_t *c); /* a write transaction */
    int (*commit)(dcf_store_conn_t *c);
    int (*rollback)(dcf_store_conn_t *c);
    int (*savepoint)(dcf_store_conn_t *c); /* one level: the per-write savepoint */
    int (*release)(dcf_store_conn_t *c);
    int (*rollback_to)(dcf_store_conn_t *c); /* undo to the savepoint and release it */
    /* One statement with parameters.  exec ignores result rows. */
    int (*exec)(dcf_store_conn_t *c, const char *sql, const dcf_store_val_t *params, size_t n,
                int64_t *changes_out);
    int (*query)(dcf_store_conn_t *c, const char *sql, const dcf_store_val_t *params, size_t n,
                 dcf_store_row_cb cb, void *arg);
};

extern const struct dcf_store_ops dcf__store_sqlite_ops;

#endif /* DCF_STORE_INT_H */
