/*
 * service_int.h -- what the service's files share: the service struct, the
 * in-memory caches and the helpers every write uses.
 *
 * LOCKS.  `eng_lock` (rwlock) guards the engine: shared for checks through
 * readers, exclusive for add/remove (only ever on the store's writer
 * thread, so the writer may read the engine without taking it).
 * `cache_lock` (mutex) guards parties, tokens and the per-party rate
 * buckets.  Never hold both; never hold either across a store call.
 * Fields marked "writer" are touched only on the store's writer thread.
 */
#ifndef DCF_SERVICE_INT_H
#define DCF_SERVICE_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "deconflict/engine.h"
#include "deconflict/merkle.h"
#include "deconflict/service.h"

#define SVC_READERS_MAX 64 /* engine readers kept for reuse */
#define SVC_HASH_HEX    65 /* 32-byte hash as hex, with NUL */
#define SVC_BODY_MAX    (16u << 20)
#define SVC_ID_MAX      40 /* bytes of a line, call or conflict id */

/* The newest events of a party, in memory (service.c, "event cache"). */
typedef struct svc_evring_s svc_evring_t;

typedef struct {
    char id[DCF_PARTY_MAX + 1];
    char name[DCF_PARTY_NAME_MAX + 1];
    uint64_t tag; /* small number, 1.. (event stream grouping) */
    dcf_time_t created_at;
    json_t *desks;       /* {"duty": {...}, "senior": {...}} (owned) */
    int64_t event_seq;   /* writer: last event id used */
    double check_tokens; /* check-rate bucket (cache_lock) */
    dcf_time_t check_at;
    int streams[2];     /* open event streams of the duty [0] and senior [1] desks (cache_lock) */
    dcf_time_t seen[2]; /* the desks' latest heartbeat, stream open or close (cache_lock) */
    dcf_time_t beat[2]; /* the desks' latest heartbeat (cache_lock) */
    bool shown[2];      /* presence last announced (presence.changed; cache_lock) */
    svc_evring_t *ring; /* committed events with id > ring->floor (ev_lock) */
} svc_party_t;

typedef struct {
    char id[DCF_TOKEN_ID_MAX + 1];
    char hash[SVC_HASH_HEX];
    char party[DCF_PARTY_MAX + 1];
    dcf_role_t role;
    bool revoked;
} svc_token_t;

/* Parties that got events in a write, to wake after commit. */
#define SVC_NOTIFY_MAX 16
typedef struct {
    uint64_t tags[SVC_NOTIFY_MAX];
    size_t n;
    bool all; /* more than fit: wake everyone */
} svc_notify_t;

/* The audit log's state (audit.c). */
typedef struct {
    unsigned char sk[64], pk[32];      /* Ed25519 (libsodium layout) */
    char key_id[17];                   /* hex of the first 8 bytes of SHA-256(pk) */
    dcf_merkle_frontier_t frontier;    /* writer: the tree of the entries written */
    dcf_merkle_frontier_t saved;       /* writer: the frontier before the current write */
    int64_t sth_seq;                   /* writer: the newest head's number */
    char new_party[DCF_PARTY_MAX + 1]; /* writer: a party this write creates, not yet cached */
    uint64_t new_party_tag;
    uint64_t sth_size_written; /* writer: the newest head's size */
    pthread_mutex_t mu;        /* guards sth */
    json_t *sth;               /* the newest head, with "seq" (under mu) */
} svc_audit_t;

struct dcf_service_s {
    dcf_service_opts_t o;
    dcf_store_t *st;
    dcf_rules_t *rules;
    dcf_engine_t *eng;
    pthread_rwlock_t eng_lock;

    pthread_mutex_t readers_lock;
    dcf_engine_reader_t *readers[SVC_READERS_MAX];
    size_t n_readers;

    pthread_mutex_t cache_lock;
    dcf_strmap_t *parties; /* id -> svc_party_t* */
    svc_party_t **party_list;
    size_t n_parties;
    dcf_strmap_t *tokens_by_hash; /* hash -> svc_token_t* */
    dcf_strmap_t *tokens_by_id;   /* id -> svc_token_t* */
    svc_token_t **token_list;
    size_t n_tokens, cap_tokens;

    int64_t op_seq;       /* writer */
    int64_t conflict_seq; /* writer */
    atomic_size_t open_conflicts;
    size_t loaded_from_text; /* live operations start-up parsed from JSON text */
    svc_audit_t audit;
    json_t *rules_json; /* the rule table as loaded (NULL: built-in default) */

    _Atomic int64_t clock_offset; /* the test clock's advance (microseconds) */
    atomic_size_t lines_open;     /* open lines (conflict notices are skipped at 0) */
    int64_t line_seq, call_seq;   /* writer */
    /* Messages not yet delivered, "line/seq/party" -> non-NULL, so that an
     * event stream can tell cheaply whether it delivers something. */
    pthread_mutex_t pending_lock;
    dcf_strmap_t *pending;
    pthread_mutex_t tick_lock; /* one dcf_hotline_tick at a time */
    dcf_strmap_t *sessions;    /* console sessions by hash (cache_lock; session.c) */

    /* The event cache: streams read recent events from memory, not SQL.
     * Events are staged by the writer as they are inserted, dropped with
     * a write that rolls back, and published to the parties' rings when
     * the batch commits (store's on_batch), in commit order. */
    pthread_rwlock_t ev_lock;
    struct svc_staged_s *staged; /* writer */
    size_t n_staged, cap_staged;
};

/* The service's clock (dcf_service_now). */
#define svc_now(s) dcf_service_now(s)

/* ------------------------------------------------------------ helpers -- */

/* Fill p (type static, title formatted) and return rc. */
int svc_fail(dcf_problem_t *p, int rc, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A validation problem with one {pointer, rule}. */
int svc_invalid(dcf_problem_t *p, const char *title, const char *pointer, const char *rule);
/* Parse a request body as a JSON object with the depth limit; on error fill
 * p ("malformed-json" or "validation") and return non-zero. */
int svc_parse_body(dcf_service_t *s, const char *body, size_t len, json_t **out, dcf_problem_t *p);
/* Reject members of obj not in `allowed` (NULL-terminated); pointer prefix "". */
int svc_only_members(json_t *obj, const char *const *allowed, const char *title, dcf_problem_t *p);

/* prefix + SVC_ID_CHARS base64url characters: 8 of the creation time in
 * milliseconds, then 14 random (84 bits), in an alphabet that sorts like
 * the numbers it encodes, so ids sort by creation time. */
#define SVC_ID_CHARS 22
void svc_random_id(const char *prefix, char *out, size_t len);
/* RFC 3339 of t as a new JSON string (null for t == 0 when nullable). */
json_t *svc_time_json(dcf_time_t t);

/* Internal errors from the store or memory: type "internal". */
int svc_internal(dcf_problem_t *p, int rc);

/* Party by id under cache_lock (copy out); DCF_ENOENT when absent. */
int svc_party_copy(dcf_service_t *s, const char *id, svc_party_t *out, json_t **duty_contact);
/* writer: next event id for a party and the insert; adds the party to n. */
int svc_event_add(dcf_service_t *s, dcf_store_tx_t *tx, const char *party, const char *type,
                  json_t *data, dcf_time_t at, svc_notify_t *n);
/* writer: the staged events' count, and dropping those after it (a write
 * rolled back); svc_tx_run uses them. */
size_t svc_events_staged(dcf_service_t *s);
void svc_events_unstage(dcf_service_t *s, size_t keep);
/* Add a party to wake (once); past SVC_NOTIFY_MAX parties, wake all. */
void svc_notify_add(svc_notify_t *n, uint64_t tag);
void svc_notify(dcf_service_t *s, const svc_notify_t *n);

/* A display text: 1..max bytes (0..max with empty_ok), no control
 * characters but newline and tab when multiline. */
bool svc_text_ok(const char *t, size_t max, bool empty_ok, bool multiline);
/* Hex of the BLAKE2b-256 of a secret (tokens and sessions keep only this). */
void svc_secret_hash(const char *secret, char out[SVC_HASH_HEX]);
/* Under cache_lock: the principal of token t. */
void svc_principal_of(dcf_service_t *s, const svc_token_t *t, dcf_principal_t *who);
/* Up to 64 ids from a query's column 0 (a batch of due timers). */
typedef struct {
    char id[64][SVC_ID_MAX];
    size_t n;
} svc_ids_t;
int svc_id_row(void *arg, const dcf_store_val_t *c, size_t nc);
/* A new token secret and its hash. */
void svc_token_secret(char secret[DCF_TOKEN_LEN + 1], char hash[SVC_HASH_HEX]);
/* Add to the caches (under cache_lock, or before other threads exist). */
int svc_cache_party(dcf_service_t *s, const char *id, const char *name, uint64_t tag,
                    dcf_time_t created, svc_party_t **out);
int svc_cache_token(dcf_service_t *s, const char *id, const char *hash, const char *party,
                    dcf_role_t role, bool revoked);
/* Copy a text column into a bounded NUL-terminated buffer. */
void svc_text_copy(char *dst, size_t cap, const dcf_store_val_t *v);
/* Row callback storing column 0 as int64 (0 for NULL) into *(int64_t *)arg. */
int svc_int_row(void *arg, const dcf_store_val_t *c, size_t nc);

/* A page of a list in creation order.  The query asks for want + 1 rows;
 * the extra row only tells that there is a next page, whose cursor is the
 * sequence number of the want-th row. */
typedef struct {
    json_t *items;
    size_t n, want;
    int64_t seq_nth;
    void *ctx; /* for the row callback */
} svc_page_t;

/* Append a row's item (stolen; NULL is DCF_ENOMEM) and note its seq. */
int svc_page_add(svc_page_t *pg, json_t *item, int64_t seq);
/* {"items": [...], "next_cursor": "<seq>" | null}; consumes pg->items. */
json_t *svc_page_finish(svc_page_t *pg);
/* " AND <column> IN ('a', 'b')" for the names whose bit is set in `bits`
 * (nothing for bits == 0).  The names are the code's own constants. */
void svc_states_sql(unsigned bits, const char *const *names, size_t n_names, const char *column,
                    char *out, size_t cap);

/* Borrow / return a per-thread engine reader. */
dcf_engine_reader_t *svc_reader_get(dcf_service_t *s);
void svc_reader_put(dcf_service_t *s, dcf_engine_reader_t *r);

/* ETag text of a version: "\"<v>\"". */
void svc_etag(int64_t version, char *out);

/* ------------------------------------------------------------- audit -- */

/* Every write runs through svc_tx_run(tx, &(svc_tx_fn_t){s, fn, arg}):
 * it restores the audit frontier when fn fails (its entries roll back). */
typedef struct {
    dcf_service_t *s;
    dcf_store_write_fn fn;
    void *arg;
} svc_tx_fn_t;
int svc_tx_run(dcf_store_tx_t *tx, void *arg);

/* One object an entry touches: its digest is `digest` (hex) when given,
 * else SHA-256 of `state` in canonical JSON (borrowed). */
typedef struct {
    const char *type, *id;
    json_t *state;
    const char *digest;
} svc_audit_obj_t;
/* SHA-256 (hex) of parts joined by newlines. */
void svc_audit_digest_text(const char *const *parts, const size_t *lens, size_t n,
                           char hex[SVC_HASH_HEX]);

/* writer: append one entry (docs/audit.md) in tx.  who NULL: the server
 * itself.  parties may repeat or be empty strings (both skipped). */
int svc_audit_add(dcf_service_t *s, dcf_store_tx_t *tx, const dcf_principal_t *who, dcf_time_t at,
                  const char *action, const svc_audit_obj_t *objs, size_t n_objs,
                  const char *const *parties, size_t n_parties);
/* SHA-256 hex of a JSON value's canonical text, as a new JSON string. */
json_t *svc_audit_digest(json_t *state);
/* Record the configuration this process runs under ("server.start"), for
 * every party (service open, after loading). */
int svc_audit_config(dcf_service_t *s);
/* Load the key, the frontier and the newest head (service open). */
int svc_audit_open(dcf_service_t *s, char *err, size_t errlen);
void svc_audit_close(svc_audit_t *a);

/* Stop the process: a committed-in-memory change failed to become durable. */
_Noreturn void svc_fail_stop(int rc);
/* Writer thread, once an async write is decided (rc): a failed COMMIT
 * stops the process (svc_fail_stop); a committed write wakes the parties
 * that got events. */
void svc_written(dcf_service_t *s, int rc, const svc_notify_t *n);
/* Every service write goes through here: dcf_store_write, and fail-stop
 * when the batch's COMMIT failed (its writes may already have changed
 * memory).  Returns DCF_OK or fn's own error. */
int svc_write(dcf_service_t *s, dcf_store_write_fn fn, void *arg);

/* ---------------------------------------------------------- conflicts -- */

/* One conflict as the writer found it, copied out of the engine. */
typedef struct {
    char other_id[DCF_ID_MAX + 1];
    char other_party[DCF_PARTY_MAX + 1];
    dcf_sep_t sep;
    dcf_overlap_t overlap;
    json_t *other_side;  /* {kind, priority, disclosure, exigent, exigent_reason} */
    json_t *other_model; /* the other operation's model JSON when it discloses "full" */
} svc_found_t;

typedef struct {
    svc_found_t *v;
    size_t n, cap;
} svc_found_list_t;

void svc_found_clear(svc_found_list_t *l);
/* The side summary of an operation kept on a conflict row. */
json_t *svc_side_json(const dcf_operation_t *op);
/* Run the engine for op and collect its conflicts (writer: no lock; other
 * threads: pass a reader). */
int svc_find_conflicts(dcf_service_t *s, dcf_engine_reader_t *rd, const dcf_operation_t *op,
                       svc_found_list_t *out);

/* writer: make the stored conflicts of operation `op` (stored in row
 * `op_body`) match `found` (each change recorded as done by `who`, NULL
 * for the server): open new ones, reopen or update changed ones,
 * resolve the rest.  With found == NULL, resolve all (completion,
 * cancellation).  `fresh`: op was just created and has no rows.  Appends the views of its
 * unresolved conflicts for the operation's party to `views` when non-NULL. */
int svc_conflicts_sync(dcf_service_t *s, dcf_store_tx_t *tx, const dcf_principal_t *who,
                       const dcf_operation_t *op, bool fresh, const svc_found_list_t *found,
                       dcf_time_t now, json_t *own_resource, json_t *views, svc_notify_t *n);

/* writer: record in the audit log that `who` was shown these conflict
 * views (a JSON array; nothing for an empty one). */
int svc_audit_disclose(dcf_service_t *s, dcf_store_tx_t *tx, const dcf_principal_t *who,
                       dcf_time_t now, json_t *views);

/* The view of a proposed operation's conflict for a check (no ids). */
json_t *svc_check_view(dcf_service_t *s, const svc_found_t *f);

/* Render a stored operation row as its resource. */
json_t *svc_op_resource(const char *body, size_t len, int64_t version, const char *state,
                        dcf_time_t created, dcf_time_t updated);

/* ----------------------------------------------------------- hotline -- */

#define SVC_LINE_MEMBERS_MAX 16  /* parties on one line */
#define SVC_REASON_MAX       500 /* bytes of a suspension or decline reason */
#define SVC_NAME_MAX         100 /* bytes of a person's name ("by") */

/* Desk levels: 0 duty, 1 senior. */
enum { SVC_DUTY = 0, SVC_SENIOR = 1 };
extern const char *const svc_level_names[2];
/* The level of a name, or -1. */
int svc_level_parse(const char *s);
/* The desk of a role: SVC_DUTY, SVC_SENIOR, or -1. */
int svc_role_level(dcf_role_t r);
/* Is pt's desk at `level` present at `now`: an open event stream, or a
 * heartbeat within the presence window (a stream that closed is not a
 * heartbeat)?  Caller holds cache_lock. */
bool svc_desk_present(const dcf_service_t *s, const svc_party_t *pt, int level, dcf_time_t now);

typedef struct {
    char party[DCF_PARTY_MAX + 1];
    dcf_time_t accepted_at;             /* 0: not yet */
    char suspended[SVC_REASON_MAX + 1]; /* "" when its side is not suspended */
    dcf_time_t suspended_at;
} svc_member_t;

/* A line as the hotline's files read it (members in proposal order). */
typedef struct {
    char id[SVC_ID_MAX];
    int64_t seq;
    char name[DCF_PARTY_NAME_MAX + 1];
    char proposed_by[DCF_PARTY_MAX + 1];
    char state[16]; /* "proposed", "open" */
    dcf_time_t created_at, opened_at, next_check_at, senior_answer_at, freeze_since, freeze_at;
    int64_t last_seq; /* messages posted */
    size_t n;
    svc_member_t m[SVC_LINE_MEMBERS_MAX];
} svc_line_t;

/* A query in tx when given (writer), else on the read pool. */
int svc_query(dcf_service_t *s, dcf_store_tx_t *tx, const char *sql, const dcf_store_val_t *v,
              size_t n, dcf_store_row_cb cb, void *arg);
/* Load a line with its members.  DCF_ENOENT when there is none. */
int svc_line_load(dcf_service_t *s, dcf_store_tx_t *tx, const char *id, svc_line_t *l);
/* Index of a member party, or -1. */
int svc_line_member(const svc_line_t *l, const char *party);
bool svc_line_suspended(const svc_line_t *l);
/* Read access for who: admin "forbidden", not a member "not-found". */
int svc_line_access(dcf_service_t *s, dcf_store_tx_t *tx, const dcf_principal_t *who,
                    const char *id, svc_line_t *l, dcf_problem_t *p);
/* The same check inside a write (no problem): DCF_EPERM, DCF_ENOENT, DCF_OK. */
int svc_line_access_tx(dcf_service_t *s, dcf_store_tx_t *tx, const dcf_principal_t *who,
                       const char *id, svc_line_t *l);
json_t *svc_line_json(dcf_service_t *s, const svc_line_t *l);
/* writer: send `type` to every member (data borrowed, copied per party;
 * "line" added), or only to `only` when it is not NULL. */
int svc_line_event(dcf_service_t *s, dcf_store_tx_t *tx, const svc_line_t *l, const char *only,
                   const char *type, json_t *data, dcf_time_t at, svc_notify_t *n);
/* writer: an audit entry about object (type, id, state) naming every
 * member of l (state borrowed). */
int svc_line_audit(dcf_service_t *s, dcf_store_tx_t *tx, const dcf_principal_t *who, dcf_time_t at,
                   const char *action, const char *type, const char *id, json_t *state,
                   const svc_line_t *l);

/* A message to write from inside a write. */
typedef struct {
    const svc_line_t *l;
    const char *kind; /* "message", "notice", "check" */
    dcf_msg_type_t type;
    int level;
    const dcf_principal_t *who; /* NULL: the server */
    json_t *body;               /* borrowed: {"text", "template", "operations", ...} */
    const char *call, *conflict;
    const char *const *rcpt; /* recipient parties */
    size_t n_rcpt;
    dcf_time_t now;
    json_t **sender_view; /* when set: the message as its sender sees it, in `locale` */
    const char *locale;
} svc_msg_new_t;
/* writer: insert the message, its recipients, events and audit entry;
 * *seq_out its number. */
int svc_msg_insert(dcf_service_t *s, dcf_store_tx_t *tx, const svc_msg_new_t *m, int64_t *seq_out,
                   svc_notify_t *n);
/* The message (line, seq) as `party` sees it (locale for its template).
 * DCF_ENOENT when party may not see it. */
int svc_msg_json(dcf_service_t *s, dcf_store_tx_t *tx, const char *line, int64_t seq,
                 const char *party, const char *locale, json_t **out);
/* The transcript of a call (its messages, as party sees them). */
int svc_call_transcript(dcf_service_t *s, const char *call, const char *party, const char *locale,
                        json_t **out);
/* writer: the hotline timers' parts (hotline.c runs them in time order). */
int svc_msg_escalate_due(dcf_service_t *s, dcf_store_tx_t *tx, dcf_time_t now, svc_notify_t *n,
                         int *fired);
int svc_call_miss_due(dcf_service_t *s, dcf_store_tx_t *tx, dcf_time_t now, svc_notify_t *n,
                      int *fired);
/* writer: a senior call was answered on line l at `at` (clears a freeze). */
int svc_line_senior_answered(dcf_service_t *s, dcf_store_tx_t *tx, const svc_line_t *l,
                             dcf_time_t at, svc_notify_t *n);
/* Is there a message waiting for delivery to party?  Then forget it. */
bool svc_pending_take(dcf_service_t *s, const char *line, int64_t seq, const char *party);
void svc_pending_add(dcf_service_t *s, const char *line, int64_t seq, const char *party);

/* Console sessions (session.c): load the live ones; free the cache. */
int svc_sessions_open(dcf_service_t *s);
void svc_sessions_close(dcf_service_t *s);

/* Service open: load what the hotline keeps in memory (open lines count,
 * sequence numbers, messages waiting for delivery). */
int svc_hotline_open(dcf_service_t *s);

/* writer: a conflict opened between parties a and b: post its notice on
 * their line, if they share an open one.  views[i] is party i's view of
 * the conflict (borrowed). */
int svc_notice_post(dcf_service_t *s, dcf_store_tx_t *tx, const char *conflict_id,
                    const char *const party[2], json_t *const views[2], dcf_time_t now,
                    svc_notify_t *n);
/* writer: party `who` acknowledged conflict `conflict_id`: acknowledge its
 * notices for that party. */
int svc_notice_acked(dcf_service_t *s, dcf_store_tx_t *tx, const dcf_principal_t *who,
                     const char *conflict_id, dcf_time_t now, svc_notify_t *n);
/* writer: conflict `conflict_id` resolved: its notices stop escalating
 * (they stay unacknowledged on record). */
int svc_notice_resolved(dcf_service_t *s, dcf_store_tx_t *tx, const char *conflict_id);
/* writer: acknowledge conflict `id` for who's party (the notice's
 * acknowledgement).  DCF_ENOENT, DCF_ESTATE (resolved) or DCF_OK. */
int svc_conflict_ack_tx(dcf_service_t *s, dcf_store_tx_t *tx, const dcf_principal_t *who,
                        const char *id, dcf_time_t now, svc_notify_t *n);

extern const dcf_store_migration_t dcf_service_migrations[];
extern const size_t dcf_service_n_migrations;

#endif /* DCF_SERVICE_INT_H */
