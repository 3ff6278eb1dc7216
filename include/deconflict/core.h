/*
 * core.h -- the pieces every deconflict module shares: error codes, UTC time,
 * and the fatal-error hook.
 *
 * Error codes follow libuv: one X-macro list generates the enum, the names and
 * the messages, so they can never drift apart.  Every fallible function in the
 * library returns `int`: DCF_OK (0) on success or a negative dcf_err_t.  When
 * a function returns an error, it has changed nothing the caller can observe
 * and any output pointer is left untouched unless its comment says otherwise.
 *
 * Time is held as dcf_time_t: signed 64-bit microseconds since the Unix epoch,
 * UTC.  All instants in the model are half-open intervals [start, end).
 *
 * All functions here are pure or thread-safe; none keeps global state.
 */
#ifndef DECONFLICT_CORE_H
#define DECONFLICT_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, message).  Values are negative and stable: they may be
 * logged and compared across versions.  Append only. */
#define DCF_ERRNO_MAP(X)                                                                           \
    X(NOMEM, -1, "out of memory")                                                                  \
    X(INVAL, -2, "invalid argument")                                                               \
    X(RANGE, -3, "value out of range")                                                             \
    X(LIMIT, -4, "a configured limit was exceeded")                                                \
    X(NOENT, -5, "no such object")                                                                 \
    X(EXIST, -6, "object already exists")                                                          \
    X(IO, -7, "input/output error")                                                                \
    X(PARSE, -8, "malformed input")                                                                \
    X(GEOM, -9, "geometry engine failure")                                                         \
    X(STATE, -10, "operation not allowed in the current state")                                    \
    X(CONFLICT, -11, "conflicting update")                                                         \
    X(PERM, -12, "permission denied")                                                              \
    X(INTERNAL, -13, "internal error")

typedef enum {
    DCF_OK = 0,
#define DCF__ERR_ENUM(name, value, msg) DCF_E##name = (value),
    DCF_ERRNO_MAP(DCF__ERR_ENUM)
#undef DCF__ERR_ENUM
} dcf_err_t;

/* Human-readable message for an error code; never NULL. */
const char *dcf_strerror(int err);
/* Symbolic name ("DCF_EINVAL") for an error code; never NULL. */
const char *dcf_err_name(int err);

/* Report corrupted state or an impossible start-up condition and abort.
 * Never used on request paths for bad input or allocation failure. */
_Noreturn void dcf__panic(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define dcf_panic(...) dcf__panic(__FILE__, __LINE__, __VA_ARGS__)

/* ---------------------------------------------------------------- time -- */

typedef int64_t dcf_time_t; /* microseconds since 1970-01-01T00:00:00Z */

#define DCF_USEC_PER_SEC INT64_C(1000000)
/* Longest RFC 3339 text dcf_time_format writes, with its NUL. */
#define DCF_TIME_STRLEN 32
/* Longest RFC 3339 text dcf_time_parse accepts. */
#define DCF_TIME_INPUT_MAX 64

/*
 * Parse an RFC 3339 date-time ("2026-11-23T14:05:00Z",
 * "2026-11-23T16:05:00.250+02:00") into UTC microseconds.  `len` is the length
 * of `s` (it need not be NUL-terminated).  An offset is mandatory ("Z" or
 * "+hh:mm"/"-hh:mm"); a lowercase "t"/"z" is accepted as RFC 3339 allows.
 * Fractional seconds may have 1..9 digits; digits beyond microseconds must be
 * zero (deconflict never silently moves an instant).  Leap second 60 is
 * rejected.  Years 0001..9999.
 *
 * Returns DCF_OK and sets *out, or DCF_EPARSE (malformed) / DCF_ERANGE (a
 * field out of range); when `why` is non-NULL it receives a static string
 * naming the rule broken.
 */
int dcf_time_parse(const char *s, size_t len, dcf_time_t *out, const char **why);

/* Format `t` as RFC 3339 UTC ("2026-11-23T14:05:00Z", with ".ffffff" only
 * when t has a sub-second part) into buf[DCF_TIME_STRLEN].  Returns buf. */
char *dcf_time_format(dcf_time_t t, char buf[DCF_TIME_STRLEN]);

/* The current UTC time (CLOCK_REALTIME) in microseconds. */
dcf_time_t dcf_time_now(void);

/* ----------------------------------------------------------- string map -- */

/* ---------------------------------------------------------- arrays -- */

/* Make the growable array *arr (of *cap elements of `elem` bytes) hold at
 * least `need` elements: capacity doubles from 64 until it does, and the
 * new elements are zeroed.  DCF_OK, or DCF_ENOMEM (also when the size would
 * overflow) with *arr and *cap unchanged. */
int dcf_array_reserve(void **arr, size_t *cap, size_t need, size_t elem);

/*
 * A hash map from NUL-terminated strings to pointers.  Keys are BORROWED: the
 * caller keeps each key's memory alive and unchanged while it is in the map
 * (the intended use is a key that lives inside the value, such as an
 * operation's id).  Hashing is SipHash (libsodium crypto_shorthash) with a
 * random per-map key, so crafted ids cannot force collisions.  Not
 * thread-safe; at most 2^30 entries.
 */
typedef struct dcf_strmap_s dcf_strmap_t;

int dcf_strmap_new(dcf_strmap_t **out);
void dcf_strmap_free(dcf_strmap_t *m);
/* Insert or replace.  DCF_ENOMEM / DCF_ELIMIT leave the map unchanged. */
int dcf_strmap_put(dcf_strmap_t *m, const char *key, void *value);
/* Insert only: DCF_EEXIST (map unchanged) when the key is present. */
int dcf_strmap_add(dcf_strmap_t *m, const char *key, void *value);
/* Make room for n entries in all, so that the next inserts up to n never
 * rehash (a bulk load sizes the table once).  DCF_ENOMEM / DCF_ELIMIT leave
 * the map unchanged. */
int dcf_strmap_reserve(dcf_strmap_t *m, size_t n);
/* The value, or NULL when absent. */
void *dcf_strmap_get(const dcf_strmap_t *m, const char *key);
/* Remove; returns the old value or NULL when absent. */
void *dcf_strmap_del(dcf_strmap_t *m, const char *key);
size_t dcf_strmap_count(const dcf_strmap_t *m);
/* Call fn for every entry, in no particular order.  fn must not change the
 * map (freeing a value the map still names is fine when the map is freed
 * next). */
void dcf_strmap_each(const dcf_strmap_t *m, void (*fn)(void *arg, const char *key, void *value),
                     void *arg);

#ifdef __cplusplus
}
#endif
#endif /* DECONFLICT_CORE_H */
