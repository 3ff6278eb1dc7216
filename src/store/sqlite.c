/*
 * sqlite.c -- the SQLite backend of the store (struct dcf_store_ops).
 *
 * One dcf_store_conn_t wraps one sqlite3 handle plus a small cache of
 * prepared statements keyed by SQL text (DCF_STORE_STMT_CACHE entries,
 * least-recently-used eviction).  The generic layer uses a connection from
 * one thread at a time, so handles are opened SQLITE_OPEN_NOMUTEX.
 *
 * Durability: the writer connection sets journal_mode=WAL (checked) and
 * synchronous=FULL, so each COMMIT fsyncs the WAL before returning.  The
 * writer also keeps its statement journals in memory (temp_store) and a
 * page cache of the size asked for (cache_size); read
 * connections set query_only=ON, so a stray write fails with DCF_EPERM.
 * Every connection sets foreign_keys=ON and a busy timeout.
 *
 * Parameters are `$1..$n`, found with sqlite3_bind_parameter_index; the
 * statement must use exactly n distinct parameters.  Text and blobs are bound
 * SQLITE_STATIC: the statement is reset and its bindings cleared before the
 * call returns.  Caller: store.c through dcf__store_sqlite_ops.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/store_int.h"

#define BUSY_TIMEOUT_MS 10000

typedef struct {
    char *sql;
    sqlite3_stmt *stmt;
    uint64_t used; /* LRU clock */
} stmt_slot_t;

struct dcf_store_conn_s {
    sqlite3 *db;
    uint64_t clock;
    stmt_slot_t cache[DCF_STORE_STMT_CACHE];
};

static int map_rc(int rc) {
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return DCF_OK;
    case SQLITE_NOMEM:
        return DCF_ENOMEM;
    case SQLITE_TOOBIG:
        return DCF_ELIMIT;
    case SQLITE_CONSTRAINT:
        return DCF_ECONFLICT;
    case SQLITE_READONLY:
        return DCF_EPERM;
    case SQLITE_ERROR:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
        return DCF_EINVAL;
    default:
        return DCF_EIO;
    }
}

static void sq_close(dcf_store_conn_t *c) {
    if (!c)
        return;
    for (size_t i = 0; i < DCF_STORE_STMT_CACHE; i++) {
        sqlite3_finalize(c->cache[i].stmt);
        free(c->cache[i].sql);
    }
    sqlite3_close(c->db);
    free(c);
}

static int simple(dcf_store_conn_t *c, const char *sql) {
    return map_rc(sqlite3_exec(c->db, sql, NULL, NULL, NULL));
}

static int sq_open(const char *target, bool writer, unsigned cache_mib, dcf_store_conn_t **out) {
    dcf_store_conn_t *c = NULL;
    sqlite3_stmt *st = NULL;
    int err = DCF_EIO;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);

    c = calloc(1, sizeof(*c));
    if (!c) {
        err = DCF_ENOMEM;
        goto out;
    }
    if (sqlite3_open_v2(target, &c->db, flags, NULL) != SQLITE_OK)
        goto out;
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    if (writer) {
        // journal_mode answers with the mode in force; anything but "wal"
        // (an in-memory database, a VFS without shared memory) is refused.
        if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_ROW)
            goto out;
        const unsigned char *mode = sqlite3_column_text(st, 0);
        if (!mode || strcmp((const char *)mode, "wal") != 0)
            goto out;
        // temp_store=MEMORY keeps the statement journal of each write's
        // savepoint in memory.  Otherwise SQLite spills it to a temporary
        // file once it passes 64 KiB, and every page a write first touches
        // is copied there: measured, 4 KiB of such writes per page, 59 KB
        // per created operation, three times the WAL's own bytes.
        char cache[64];
        snprintf(cache, sizeof cache, "PRAGMA cache_size=-%u", cache_mib * 1024u);
        if ((err = simple(c, "PRAGMA synchronous=FULL")) != DCF_OK ||
            (err = simple(c, "PRAGMA temp_store=MEMORY")) != DCF_OK ||
            (err = simple(c, cache)) != DCF_OK)
            goto out;
    } else if ((err = simple(c, "PRAGMA query_only=ON")) != DCF_OK) {
        goto out;
    }
    if ((err = simple(c, "PRAGMA foreign_keys=ON")) != DCF_OK)
        goto out;
    *out = c;
    c = NULL;
    err = DCF_OK;
out:
    sqlite3_finalize(st);
    sq_close(c);
    return err;
}

static int sq_exec_script(dcf_store_conn_t *c, const char *sql) {
    return simple(c, sql);
}
static int sq_begin(dcf_store_conn_t *c) {
    return simple(c, "BEGIN IMMEDIATE");
}
static int sq_commit(dcf_store_conn_t *c) {
    return simple(c, "COMMIT");
}
static int sq_rollback(dcf_store_conn_t *c) {
    // After some errors SQLite has already rolled back; that is success.
    if (sqlite3_get_autocommit(c->db))
        return DCF_OK;
    return simple(c, "ROLLBACK");
}
static int sq_savepoint(dcf_store_conn_t *c) {
    return simple(c, "SAVEPOINT dcf_w");
}
static int sq_release(dcf_store_conn_t *c) {
    return simple(c, "RELEASE dcf_w");
}
static int sq_rollback_to(dcf_store_conn_t *c) {
    int err = simple(c, "ROLLBACK TO dcf_w");
    if (err == DCF_OK)
        err = simple(c, "RELEASE dcf_w");
    return err;
}

// The cached statement for `sql`, preparing (and maybe evicting) on a miss.
static int get_stmt(dcf_store_conn_t *c, const char *sql, sqlite3_stmt **out) {
    stmt_slot_t *victim = &c->cache[0];
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    char *copy = NULL;
    int err;

    for (size_t i = 0; i < DCF_STORE_STMT_CACHE; i++) {
        stmt_slot_t *s = &c->cache[i];
        if (s->sql && strcmp(s->sql, sql) == 0) {
            s->used = ++c->clock;
            *out = s->stmt;
            return DCF_OK;
        }
        if (s->used < victim->used)
            victim = s;
    }
    size_t len = strlen(sql);
    if (sqlite3_prepare_v3(c->db, sql, (int)len + 1, SQLITE_PREPARE_PERSISTENT, &st, &tail) !=
        SQLITE_OK) {
        err = map_rc(sqlite3_errcode(c->db));
        goto out;
    }
    err = DCF_EINVAL;
    if (!st) // empty or comment-only text
        goto out;
    for (; tail && *tail; tail++) // one statement per call
        if (!strchr(" \t\r\n;", *tail))
            goto out;
    copy = malloc(len + 1);
    if (!copy) {
        err = DCF_ENOMEM;
        goto out;
    }
    memcpy(copy, sql, len + 1);
    sqlite3_finalize(victim->stmt);
    free(victim->sql);
    victim->sql = copy;
    victim->stmt = st;
    victim->used = ++c->clock;
    *out = st;
    copy = NULL;
    st = NULL;
    err = DCF_OK;
out:
    sqlite3_finalize(st);
    free(copy);
    return err;
}

static int bind_all(sqlite3_stmt *st, const dcf_store_val_t *params, size_t n) {
    if ((size_t)sqlite3_bind_parameter_count(st) != n)
        return DCF_EINVAL;
    for (size_t i = 0; i < n; i++) {
        char name[24];
        snprintf(name, sizeof(name), "$%zu", i + 1);
        int idx = sqlite3_bind_parameter_index(st, name);
        if (idx == 0)
            return DCF_EINVAL;
        const dcf_store_val_t *v = &params[i];
        int rc;
        switch (v->type) {
        case DCF_STORE_NULL:
            rc = sqlite3_bind_null(st, idx);
            break;
        case DCF_STORE_INT:
            rc = sqlite3_bind_int64(st, idx, v->u.i);
            break;
        case DCF_STORE_REAL:
            rc = sqlite3_bind_double(st, idx, v->u.d);
            break;
        case DCF_STORE_TEXT:
        case DCF_STORE_BLOB:
            if (v->u.b.len > INT_MAX)
                return DCF_ELIMIT;
            if (!v->u.b.ptr && v->u.b.len)
                return DCF_EINVAL;
            if (v->type == DCF_STORE_TEXT)
                rc = sqlite3_bind_text(st, idx, v->u.b.ptr ? v->u.b.ptr : "", (int)v->u.b.len,
                                       SQLITE_STATIC);
            else if (!v->u.b.ptr)
                rc = sqlite3_bind_zeroblob(st, idx, 0);
            else
                rc = sqlite3_bind_blob(st, idx, v->u.b.ptr, (int)v->u.b.len, SQLITE_STATIC);
            break;
        default:
            return DCF_EINVAL;
        }
        if (rc != SQLITE_OK)
            return map_rc(rc);
    }
    return DCF_OK;
}

static void read_row(sqlite3_stmt *st, dcf_store_val_t *cols, size_t ncols) {
    for (size_t i = 0; i < ncols; i++) {
        int k = (int)i;
        switch (sqlite3_column_type(st, k)) {
        case SQLITE_INTEGER:
            cols[i] = dcf_store_val_int(sqlite3_column_int64(st, k));
            break;
        case SQLITE_FLOAT:
            cols[i] = dcf_store_val_real(sqlite3_column_double(st, k));
            break;
        case SQLITE_TEXT: {
            const char *p = (const char *)sqlite3_column_text(st, k);
            cols[i] = dcf_store_val_text(p, (size_t)sqlite3_column_bytes(st, k));
            break;
        }
        case SQLITE_BLOB: {
            const void *p = sqlite3_column_blob(st, k);
            cols[i] = dcf_store_val_blob(p, (size_t)sqlite3_column_bytes(st, k));
            break;
        }
        default:
            cols[i] = dcf_store_val_null();
            break;
        }
    }
}

// Prepare, bind, step to the end; rows go to cb when it is non-NULL.
static int run(dcf_store_conn_t *c, const char *sql, const dcf_store_val_t *params, size_t n,
               dcf_store_row_cb cb, void *arg, int64_t *changes_out) {
    sqlite3_stmt *st = NULL;
    dcf_store_val_t cols[DCF_STORE_COLS_MAX];
    int err = get_stmt(c, sql, &st);
    if (err != DCF_OK)
        return err;
    size_t ncols = (size_t)sqlite3_column_count(st);
    if (cb && ncols > DCF_STORE_COLS_MAX) {
        err = DCF_ELIMIT;
        goto out;
    }
    if ((err = bind_all(st, params, n)) != DCF_OK)
        goto out;
    for (;;) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            err = map_rc(rc);
            goto out;
        }
        if (cb) {
            read_row(st, cols, ncols);
            if ((err = cb(arg, cols, ncols)) != 0)
                goto out;
        }
    }
    if (changes_out)
        *changes_out = sqlite3_changes64(c->db);
    err = DCF_OK;
out:
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return err;
}

static int sq_exec(dcf_store_conn_t *c, const char *sql, const dcf_store_val_t *params, size_t n,
                   int64_t *changes_out) {
    return run(c, sql, params, n, NULL, NULL, changes_out);
}

static int sq_query(dcf_store_conn_t *c, const char *sql, const dcf_store_val_t *params, size_t n,
                    dcf_store_row_cb cb, void *arg) {
    return run(c, sql, params, n, cb, arg, NULL);
}

const struct dcf_store_ops dcf__store_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .exec_script = sq_exec_script,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .savepoint = sq_savepoint,
    .release = sq_release,
    .rollback_to = sq_rollback_to,
    .exec = sq_exec,
    .query = sq_query,
};
