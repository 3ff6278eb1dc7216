/*
 * index.h -- the in-memory spatio-temporal index over volumes.
 *
 * The index stores one 4D box per volume (longitude, latitude, altitude,
 * time) with the owning party, and answers "every entry of another party
 * whose box intersects this query box".  Boxes are conservative (rounded
 * outward), so the index may return candidates that do not conflict but can
 * never miss one; the exact test in geo.h filters.  The caller expands the
 * query box by the separation minima (dcf_index_box_make does it).
 *
 * KEYS.  Every entry has a 32-bit key chosen by the index at insert time.
 * The caller maps keys to its own records (an array indexed by key is the
 * intended use: keys are dense and small).  A removed key may be handed out
 * again by a later insert, never while any reader could still see the old
 * entry.  An update removes the old entry and inserts the new one under a
 * new key.
 *
 * THREADS.  Writers (insert, remove, update, bulk load, compact) must be
 * serialised by the caller: one writer at a time.  Readers never take a lock:
 * each reading thread owns a dcf_index_reader_t and queries through it,
 * concurrently with each other and with the writer.  A query sees a
 * consistent set of entries: every entry inserted before the query began and
 * not removed before it began, possibly plus entries inserted or removed
 * while it runs.  See docs/internals/engine.md.
 */
#ifndef DECONFLICT_INDEX_H
#define DECONFLICT_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "deconflict/core.h"
#include "deconflict/geo.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A closed 4D box.  lng_lo <= lng_hi always (a footprint that crosses the
 * antimeridian gets the whole longitude range).  Time is in whole minutes
 * since the Unix epoch, rounded outward. */
typedef struct {
    float lng_lo, lng_hi; /* degrees */
    float lat_lo, lat_hi; /* degrees */
    float alt_lo, alt_hi; /* metres */
    int32_t t_lo, t_hi;   /* minutes since 1970-01-01T00:00Z */
} dcf_box_t;

/*
 * Build the box of a volume, grown by the minima `sep` (pass NULL or zeros
 * for a stored entry; pass the query's minima for a query).  Every rounding
 * goes outward, so if two volumes come closer than `sep` in every dimension
 * then box(a, sep) intersects box(b, NULL).
 */
void dcf_index_box_make(const dcf_volume_t *v, const dcf_sep_t *sep, dcf_box_t *out);

typedef struct dcf_index_s dcf_index_t;
typedef struct dcf_index_reader_s dcf_index_reader_t;

typedef struct {
    unsigned fanout;  /* children per packed node, 4..64 (default 16) */
    size_t delta_max; /* entries written before they are packed (default 1024) */
} dcf_index_opts_t;

void dcf_index_opts_default(dcf_index_opts_t *o);

/* New empty index; `opts` may be NULL for the defaults. */
int dcf_index_new(const dcf_index_opts_t *opts, dcf_index_t **out);
/* Free the index.  No reader may be in use. */
void dcf_index_free(dcf_index_t *idx);

/* ------------------------------------------------- writers (one at a time) */

int dcf_index_insert(dcf_index_t *idx, const dcf_box_t *box, uint32_t party, uint32_t *key);
/* DCF_ENOENT when `key` is not live. */
int dcf_index_remove(dcf_index_t *idx, uint32_t key);
/* Replace the box of `key`; the entry gets *new_key. */
int dcf_index_update(dcf_index_t *idx, uint32_t key, const dcf_box_t *box, uint32_t *new_key);
/* Insert n entries at once into a packed structure (the fast path at
 * start-up).  keys[i] receives the key of boxes[i]. */
int dcf_index_bulk_load(dcf_index_t *idx, const dcf_box_t *boxes, const uint32_t *parties, size_t n,
                        uint32_t *keys);
/* Repack everything live into one packed structure and recycle dead keys. */
int dcf_index_compact(dcf_index_t *idx);

/* ----------------------------------------------------------- readers -- */

/* A reading thread's handle.  Create one per thread; free it before the
 * index. */
int dcf_index_reader_new(dcf_index_t *idx, dcf_index_reader_t **out);
void dcf_index_reader_free(dcf_index_reader_t *rd);

/* Called once per candidate; return non-zero to stop the query (the query
 * then returns that value). */
typedef int (*dcf_index_cb)(void *arg, uint32_t key);

/* Work a query did, for tests and benchmarks. */
typedef struct {
    uint64_t nodes_visited;  /* packed nodes whose bounds were read */
    uint64_t entries_tested; /* entry boxes compared with the query */
    uint64_t candidates;     /* callbacks made */
} dcf_index_qstats_t;

/* Report every live entry whose box intersects `q` and whose party is not
 * `exclude_party` (pass UINT32_MAX to exclude nothing).  `st` may be NULL;
 * when given it is added to.  Returns DCF_OK or the callback's value. */
int dcf_index_query(dcf_index_reader_t *rd, const dcf_box_t *q, uint32_t exclude_party,
                    dcf_index_cb cb, void *arg, dcf_index_qstats_t *st);

/* ------------------------------------------------------ introspection -- */

typedef struct {
    size_t live;   /* live entries */
    size_t dead;   /* removed entries not yet compacted away */
    size_t levels; /* packed structures plus the write buffer */
    size_t bytes;  /* heap bytes held by the index */
} dcf_index_stats_t;

void dcf_index_stats(const dcf_index_t *idx, dcf_index_stats_t *out);

/* Structural self-check (node bounds contain their children, counts agree,
 * every live key is found exactly once).  Call with no writer running.
 * Returns DCF_OK, DCF_EINTERNAL (a broken invariant; `why`, which may be
 * NULL, gets a static text) or DCF_ENOMEM (no memory for its scratch). */
int dcf_index_check(const dcf_index_t *idx, const char **why);

#ifdef __cplusplus
}
#endif
#endif /* DECONFLICT_INDEX_H */
