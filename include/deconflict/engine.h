/*
 * engine.h -- the conflict engine: a set of live operations, the index over
 * their volumes, and "every conflict this operation has with other parties".
 *
 * The engine owns the operations added to it.  It interns party slugs into
 * small integers for the index, keeps a table from index key to (operation,
 * volume), and answers conflict queries as: index query grown by the widest
 * minima the query could need (the rule table's maximum for the query's kind,
 * the query's own requested separation and the largest separation any stored
 * operation asks for), then the exact test under the pair's effective minima.
 * Conflicts are reported once per pair of operations, with the overlaps of
 * all their conflicting volume pairs merged.
 *
 * Threading: the engine does no locking of its own.  Mutations (add, remove,
 * add_bulk) and dcf_engine_check / dcf_engine_all_conflicts need the engine
 * to themselves.  Checks through separate dcf_engine_reader_t handles may
 * run on several threads at once, as long as no mutation runs meanwhile:
 * the server holds a reader-writer lock, shared for checks and exclusive for
 * the short mutations (the index underneath needs no lock for readers).
 */
#ifndef DECONFLICT_ENGINE_H
#define DECONFLICT_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "deconflict/core.h"
#include "deconflict/geo.h"
#include "deconflict/index.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dcf_engine_s dcf_engine_t;

/* New engine using `rules` (borrowed: it must outlive the engine) and index
 * options `iopts` (NULL for defaults). */
int dcf_engine_new(const dcf_rules_t *rules, const dcf_index_opts_t *iopts, dcf_engine_t **out);
void dcf_engine_free(dcf_engine_t *e);

/* Add an operation; on DCF_OK the engine owns `op`.  DCF_EEXIST when an
 * operation with the same id is already present (op stays the caller's). */
int dcf_engine_add(dcf_engine_t *e, dcf_operation_t *op);
/* Add many at once through the index's bulk load (start-up).  On DCF_OK the
 * engine owns every op; on error it owns none and nothing was added. */
int dcf_engine_add_bulk(dcf_engine_t *e, dcf_operation_t **ops, size_t n);
/* Remove and free an operation.  DCF_ENOENT if absent. */
int dcf_engine_remove(dcf_engine_t *e, const char *id);
/* The live operation with this id, or NULL. */
const dcf_operation_t *dcf_engine_get(const dcf_engine_t *e, const char *id);
size_t dcf_engine_count(const dcf_engine_t *e);

/* One conflict between two operations of different parties. */
typedef struct {
    const dcf_operation_t *a; /* the queried operation (or the first of the pair) */
    const dcf_operation_t *b; /* the other party's operation */
    dcf_sep_t sep;            /* minima that applied (largest over the volume pairs) */
    dcf_overlap_t overlap;    /* merged over all conflicting volume pairs */
    size_t volume_pairs;      /* how many volume pairs conflict */
} dcf_conflict_t;

/* Return non-zero to stop; the engine call then returns that value. */
typedef int (*dcf_conflict_cb)(void *arg, const dcf_conflict_t *c);

/* Every conflict between `op` (which need not be in the engine; if it is,
 * it is not compared with itself) and the engine's operations of other
 * parties.  Conflicts come in no particular order, once per other operation. */
int dcf_engine_check(dcf_engine_t *e, const dcf_operation_t *op, dcf_conflict_cb cb, void *arg);

/* A checking handle for one thread at a time: its own index reader,
 * geometry context and result buffers.  Free every reader before the
 * engine. */
typedef struct dcf_engine_reader_s dcf_engine_reader_t;
int dcf_engine_reader_new(dcf_engine_t *e, dcf_engine_reader_t **out);
void dcf_engine_reader_free(dcf_engine_reader_t *r);
/* dcf_engine_check through `r`: several readers may check concurrently
 * while no mutation runs.  The dcf_conflict_t pointers passed to cb are
 * valid only during the call. */
int dcf_engine_reader_check(dcf_engine_reader_t *r, const dcf_operation_t *op, dcf_conflict_cb cb,
                            void *arg);

/* Every conflicting pair among the engine's operations, once per pair. */
int dcf_engine_all_conflicts(dcf_engine_t *e, dcf_conflict_cb cb, void *arg);

#ifdef __cplusplus
}
#endif
#endif /* DECONFLICT_ENGINE_H */
