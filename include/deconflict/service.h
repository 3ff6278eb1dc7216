/*
 * service.h -- the deconfliction service: parties, desks and tokens;
 * operations with their lifecycle; conflicts with their lifecycle and each
 * party's view of them; per-party durable events.  No HTTP here: the API
 * layer (src/api/) turns requests into these calls and their results into
 * responses.
 *
 * STATE.  Durable state lives in the store (store.h); the service keeps in
 * memory what every request needs fast: the engine over live operations,
 * the parties and the token hashes.  Every change runs as one store write
 * on the store's single writer thread, so changes are serialised in commit
 * order: a create checks the engine, writes the operation, its conflicts
 * and their events, and only then adds the operation to the engine, inside
 * that write.  A write that was acknowledged is durable.  If a batch fails
 * to COMMIT after its writes changed memory, the service stops the process
 * (fail-stop, like PostgreSQL after a failed fsync): memory and disk could
 * disagree, and a restart rebuilds memory from disk.
 *
 * READS.  Checks read the engine through per-thread readers under a
 * reader-writer lock (shared; writers hold it exclusively only while adding
 * or removing an operation).  Lists and views read the store's pool.
 *
 * ISOLATION.  Every call takes the caller's principal.  An object of
 * another party is reported as DCF_ENOENT, the same as one that does not
 * exist.
 *
 * RESULTS.  Calls return DCF_OK and a JSON body (caller owns), or an error
 * code and a dcf_problem_t naming a stable problem type; the API layer maps
 * types to HTTP statuses.
 */
#ifndef DECONFLICT_SERVICE_H
#define DECONFLICT_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deconflict/core.h"
#include "deconflict/geo.h"
#include "deconflict/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DCF_TOKEN_ID_MAX   32  /* bytes of a token id ("tok-" + 22) */
#define DCF_TOKEN_LEN      47  /* "dcf_" + 43 base64url characters */
#define DCF_PARTY_NAME_MAX 100 /* bytes of a party's display name */
#define DCF_LABEL_MAX      100 /* bytes of a token label */
#define DCF_CONTACT_MAX    200 /* bytes of one contact field */
#define DCF_PARTIES_MAX    4096
#define DCF_PROBLEM_TEXT   256

typedef enum {
    DCF_ROLE_ADMIN = 0,
    DCF_ROLE_PARTY_ADMIN,
    DCF_ROLE_PLANNER,
    DCF_ROLE_DUTY,
    DCF_ROLE_VIEWER,
    DCF_ROLE_SENIOR, /* the senior desk (the hotline's senior level) */
    DCF_ROLE_COUNT
} dcf_role_t;

/* "admin", "party-admin", ...; NULL for an out-of-range value. */
const char *dcf_role_name(dcf_role_t r);
/* DCF_OK and *out, or DCF_EINVAL. */
int dcf_role_parse(const char *s, dcf_role_t *out);

/* Who is calling: an authenticated token. */
typedef struct {
    char token_id[DCF_TOKEN_ID_MAX + 1];
    char party[DCF_PARTY_MAX + 1]; /* "" for the deployment (admin) */
    uint64_t party_tag;            /* the party's small non-zero number; 0 for admin */
    dcf_role_t role;
} dcf_principal_t;

/* What went wrong, for the caller. */
typedef struct {
    const char *type;             /* "validation", "not-found", "stale", ... (static) */
    char title[DCF_PROBLEM_TEXT]; /* one sentence */
    struct json_t *errors;        /* array of {"pointer","rule"} or NULL (caller frees) */
    struct json_t *extra;         /* object merged into the problem (e.g. "conflicts"), or NULL */
} dcf_problem_t;

/* Free what a problem holds and clear it. */
void dcf_problem_clear(dcf_problem_t *p);

typedef enum { DCF_POLICY_ADVISORY = 0, DCF_POLICY_STRICT = 1 } dcf_policy_t;

/* Message types of the hotline, in escalating order. */
typedef enum {
    DCF_MSG_INFO = 0,
    DCF_MSG_REQUEST,
    DCF_MSG_WARNING,
    DCF_MSG_URGENT,
    DCF_MSG_TYPE_COUNT
} dcf_msg_type_t;

/* The hotline's timings (docs/hotline.md); all microseconds. */
typedef struct {
    int64_t ack_us[DCF_MSG_TYPE_COUNT]; /* acknowledgement time per type; 0: none */
    int64_t escalation_repeat_us;       /* between escalations of one message */
    int64_t ring_timeout_us;            /* a call not answered by then is missed */
    int64_t line_check_us;              /* between line checks (0: none) */
    int64_t freeze_after_us;            /* senior silence that raises the freeze alert */
    int64_t presence_window_us;         /* a heartbeat keeps a desk present this long */
} dcf_hotline_opts_t;

typedef struct {
    dcf_store_opts_t store;
    const char *rules_path;  /* separation rule table (JSON) or NULL for built-in defaults */
    dcf_geo_limits_t limits; /* operation input limits */
    int64_t notice_us;       /* notice period */
    dcf_policy_t policy;
    double grid_m;          /* coarsening grid of the "contact" disclosure */
    unsigned check_per_min; /* checks per minute per party */
    unsigned page_max;      /* largest page */
    /* Called after a write that stored events for a party commits (any
     * thread); the server wakes that party's event streams. */
    void (*on_event)(void *arg, uint64_t party_tag);
    void *on_event_arg;
    const char *audit_key_path; /* the audit log's Ed25519 signing key (required) */
    dcf_hotline_opts_t hotline;
    /* The message templates (borrowed, outlive the service); NULL: none. */
    const struct dcf_template_set_s *templates;
    /* The test clock: an admin may move the service's clock forward
     * (dcf_clock_advance).  Never on in production (serve refuses it on a
     * non-loopback listener). */
    bool test_clock;
    int64_t session_ttl_us; /* a console session's lifetime */
} dcf_service_opts_t;

/* Defaults for every field (store uri "sqlite:deconflict.db"). */
void dcf_service_opts_default(dcf_service_opts_t *o);

typedef struct dcf_service_s dcf_service_t;

/* Open the store (migrating it), load parties, tokens and live operations.
 * DCF_OK, or an error with a message in err. */
int dcf_service_open(const dcf_service_opts_t *opts, dcf_service_t **out, char *err, size_t errlen);
void dcf_service_close(dcf_service_t *s);

/* Create the deployment's first admin token in a new store (deconflict
 * init).  *secret_out receives the token (DCF_TOKEN_LEN + 1 bytes).
 * DCF_EEXIST when the store already has an admin token. */
int dcf_service_init_admin(dcf_service_t *s, char *secret_out, size_t len);

/* Look a bearer token up.  DCF_OK and *who, or DCF_ENOENT (unknown,
 * malformed or revoked).  Fast: memory only. */
int dcf_service_authenticate(dcf_service_t *s, const char *token, dcf_principal_t *who);

/* Live operations and unresolved conflicts right now. */
size_t dcf_service_live_operations(dcf_service_t *s);
size_t dcf_service_open_conflicts(dcf_service_t *s);
/* How many of the live operations start-up rebuilt from their JSON text
 * rather than their binary form (rows written before migration 7, or a
 * binary form that did not decode). */
size_t dcf_service_loaded_from_text(dcf_service_t *s);
/* Open hotline lines, and message copies waiting for delivery. */
size_t dcf_service_lines_open(dcf_service_t *s);
size_t dcf_service_undelivered(dcf_service_t *s);
void dcf_service_store_stats(dcf_service_t *s, dcf_store_stats_t *out);

/* The service's clock: the system clock, plus the test clock's offset. */
dcf_time_t dcf_service_now(dcf_service_t *s);

/* Complete every live operation whose volumes have all ended by `now`.
 * Returns how many, or a negative error. */
int dcf_service_sweep(dcf_service_t *s, dcf_time_t now);

/* -------------------------------------------------------- audit log -- */

/* Create a new Ed25519 signing key file at `path` (mode 0600, base64 of
 * libsodium's 64-byte secret key).  DCF_EEXIST when the file exists (it
 * is never overwritten), DCF_EIO with a message. */
int dcf_service_audit_keygen(const char *path, char *err, size_t errlen);
/* Issue a signed tree head now (only_if_grown: only when entries were
 * added since the newest).  The server calls it on a timer. */
int dcf_audit_issue(dcf_service_t *s, bool only_if_grown);
/* The reads of docs/audit.md ("API").  Results are new JSON values. */
int dcf_audit_key(dcf_service_t *s, struct json_t **out);
int dcf_audit_sth(dcf_service_t *s, bool fresh, struct json_t **out, dcf_problem_t *p);
int dcf_audit_sths(dcf_service_t *s, const char *cursor, unsigned limit, struct json_t **out,
                   dcf_problem_t *p);
/* Admin: every entry; a party: the entries that name it. */
int dcf_audit_entries(dcf_service_t *s, const dcf_principal_t *who, const char *cursor,
                      unsigned limit, struct json_t **out, dcf_problem_t *p);
int dcf_audit_inclusion(dcf_service_t *s, const dcf_principal_t *who, uint64_t index,
                        uint64_t tree_size, struct json_t **out, dcf_problem_t *p);
int dcf_audit_consistency(dcf_service_t *s, uint64_t first, uint64_t second, struct json_t **out,
                          dcf_problem_t *p);

/* ------------------------------------------------ parties and tokens -- */

/* Each takes the request body as JSON text where it has one.  Results are
 * new JSON values the caller owns. */
int dcf_party_create(dcf_service_t *s, const dcf_principal_t *who, const char *body, size_t len,
                     struct json_t **out, dcf_problem_t *p);
int dcf_party_list(dcf_service_t *s, const dcf_principal_t *who, struct json_t **out,
                   dcf_problem_t *p);
int dcf_party_get(dcf_service_t *s, const dcf_principal_t *who, const char *id, struct json_t **out,
                  dcf_problem_t *p);
int dcf_party_set_desk(dcf_service_t *s, const dcf_principal_t *who, const char *id,
                       const char *level, const char *body, size_t len, struct json_t **out,
                       dcf_problem_t *p);
/* party NULL: a deployment admin token (admin only). */
int dcf_token_create(dcf_service_t *s, const dcf_principal_t *who, const char *party,
                     const char *body, size_t len, struct json_t **out, dcf_problem_t *p);
int dcf_token_list(dcf_service_t *s, const dcf_principal_t *who, const char *party,
                   struct json_t **out, dcf_problem_t *p);
int dcf_token_revoke(dcf_service_t *s, const dcf_principal_t *who, const char *id,
                     dcf_problem_t *p);
int dcf_whoami(dcf_service_t *s, const dcf_principal_t *who, struct json_t **out);

/* --------------------------------------------------- console sessions -- */

#define DCF_SESSION_CSRF_LEN 32 /* base64url characters of a CSRF token */

/* Exchange a token ({"token": "..."}) for a session: *secret (the cookie's
 * value, DCF_TOKEN_LEN + 1 bytes) and {"csrf", "expires_at", "whoami"}.
 * An unusable token is type "unauthorized". */
int dcf_session_create(dcf_service_t *s, const char *body, size_t len,
                       char secret[DCF_TOKEN_LEN + 1], struct json_t **out, dcf_problem_t *p);
/* The principal of a live session (its token's) and its CSRF token, or
 * DCF_ENOENT.  Memory only. */
int dcf_session_authenticate(dcf_service_t *s, const char *secret, dcf_principal_t *who,
                             char csrf_out[DCF_SESSION_CSRF_LEN + 1]);
/* Sign out: the session ends for good. */
int dcf_session_revoke(dcf_service_t *s, const char *secret, dcf_problem_t *p);
/* Constant-time comparison of a request's CSRF header with the session's. */
bool dcf_session_csrf_ok(const char *expected, const char *got);

/* ------------------------------------------------------- operations -- */

/* Query of dcf_op_list; unset fields are 0 / NULL. */
typedef struct {
    unsigned states; /* bit (1 << dcf_op_state_t); 0 = all */
    bool has_from, has_to, has_bbox;
    dcf_time_t from, to;
    double west, south, east, north;
    unsigned limit; /* 0 = 100 */
    int64_t after;  /* cursor: creation sequence number */
} dcf_op_query_t;

typedef enum {
    DCF_OP_PLANNED = 0,
    DCF_OP_ACTIVE,
    DCF_OP_COMPLETED,
    DCF_OP_CANCELLED,
    DCF_OP_STATE_COUNT
} dcf_op_state_t;

const char *dcf_op_state_name(dcf_op_state_t s);
int dcf_op_state_parse(const char *s, size_t len, dcf_op_state_t *out);

/* *etag_out (>= 24 bytes) receives the version as an HTTP entity tag. */
int dcf_op_create(dcf_service_t *s, const dcf_principal_t *who, const char *body, size_t len,
                  struct json_t **out, char *etag_out, dcf_problem_t *p);
int dcf_op_get(dcf_service_t *s, const dcf_principal_t *who, const char *id, struct json_t **out,
               char *etag_out, dcf_problem_t *p);
int dcf_op_list(dcf_service_t *s, const dcf_principal_t *who, const dcf_op_query_t *q,
                struct json_t **out, dcf_problem_t *p);
/* if_match: the If-Match header or NULL (-> precondition-required). */
int dcf_op_update(dcf_service_t *s, const dcf_principal_t *who, const char *id,
                  const char *if_match, const char *body, size_t len, struct json_t **out,
                  char *etag_out, dcf_problem_t *p);
/* to: DCF_OP_ACTIVE, DCF_OP_COMPLETED or DCF_OP_CANCELLED; if_match may be NULL. */
int dcf_op_transition(dcf_service_t *s, const dcf_principal_t *who, const char *id,
                      dcf_op_state_t to, const char *if_match, struct json_t **out, char *etag_out,
                      dcf_problem_t *p);
/*
 * The same three writes without blocking a thread on the commit.  Each
 * *_start validates on the calling thread and either fails at once (an
 * error, p filled, no job) or returns DCF_OK with *job queued; `done(
 * done_arg)` then runs exactly once on the store's writer thread when the
 * write is decided -- keep it short (wake someone) -- after which
 * dcf_op_job_finish(job, ...) returns what the blocking call would have
 * returned, fills out / etag_out / p the same way, and frees the job.
 * `who` and the strings are copied.
 */
typedef struct dcf_op_job_s dcf_op_job_t;
typedef void (*dcf_op_done_fn)(void *done_arg);
int dcf_op_create_start(dcf_service_t *s, const dcf_principal_t *who, const char *body, size_t len,
                        dcf_op_done_fn done, void *done_arg, dcf_op_job_t **job, dcf_problem_t *p);
int dcf_op_update_start(dcf_service_t *s, const dcf_principal_t *who, const char *id,
                        const char *if_match, const char *body, size_t len, dcf_op_done_fn done,
                        void *done_arg, dcf_op_job_t **job, dcf_problem_t *p);
int dcf_op_transition_start(dcf_service_t *s, const dcf_principal_t *who, const char *id,
                            dcf_op_state_t to, const char *if_match, dcf_op_done_fn done,
                            void *done_arg, dcf_op_job_t **job, dcf_problem_t *p);
int dcf_op_job_finish(dcf_op_job_t *job, struct json_t **out, char *etag_out, dcf_problem_t *p);

/* Conflicts a proposed operation would have; stores only the record of the
 * check.  DCF_ELIMIT (type "rate-limited", *retry_after_s set) past the
 * party's check rate. */
int dcf_op_check(dcf_service_t *s, const dcf_principal_t *who, const char *body, size_t len,
                 struct json_t **out, unsigned *retry_after_s, dcf_problem_t *p);

/* -------------------------------------------------------- conflicts -- */

int dcf_conflict_list(dcf_service_t *s, const dcf_principal_t *who, unsigned states, unsigned limit,
                      int64_t after, struct json_t **out, dcf_problem_t *p);
int dcf_conflict_get(dcf_service_t *s, const dcf_principal_t *who, const char *id,
                     struct json_t **out, dcf_problem_t *p);
/* accept = false: acknowledge; true: accept (which also acknowledges). */
int dcf_conflict_respond(dcf_service_t *s, const dcf_principal_t *who, const char *id, bool accept,
                         struct json_t **out, dcf_problem_t *p);
/* Bit for a conflict state name ("open", "acknowledged", "accepted",
 * "resolved"); 0 when unknown. */
unsigned dcf_conflict_state_bit(const char *s, size_t len);

/* ---------------------------------------------------------- hotline -- */

/* Lines, messages, calls, readouts, presence, the contact record and the
 * timers, as docs/hotline.md describes them.  `locale` ("en" or "ru")
 * chooses the template rendering in results.  Results are new JSON values
 * the caller owns. */
int dcf_line_create(dcf_service_t *s, const dcf_principal_t *who, const char *body, size_t len,
                    struct json_t **out, dcf_problem_t *p);
int dcf_line_list(dcf_service_t *s, const dcf_principal_t *who, unsigned limit, int64_t after,
                  struct json_t **out, dcf_problem_t *p);
int dcf_line_get(dcf_service_t *s, const dcf_principal_t *who, const char *id, struct json_t **out,
                 dcf_problem_t *p);
int dcf_line_accept(dcf_service_t *s, const dcf_principal_t *who, const char *id,
                    struct json_t **out, dcf_problem_t *p);
/* suspend = false: resume (body may be NULL). */
int dcf_line_suspend(dcf_service_t *s, const dcf_principal_t *who, const char *id, bool suspend,
                     const char *body, size_t len, struct json_t **out, dcf_problem_t *p);
int dcf_line_stats(dcf_service_t *s, const dcf_principal_t *who, const char *id,
                   struct json_t **out, dcf_problem_t *p);

/* A desk's presence: a heartbeat, and event streams opening (+1) and
 * closing (-1).  Only duty and senior tokens count. */
int dcf_presence_beat(dcf_service_t *s, const dcf_principal_t *who, struct json_t **out,
                      dcf_problem_t *p);
void dcf_presence_stream(dcf_service_t *s, const dcf_principal_t *who, int delta);

/*
 * Post a message, or acknowledge one, without blocking a thread on its
 * commit, as the dcf_op_*_start calls do: each *_start validates on the
 * calling thread and either fails at once (p filled, no job) or returns
 * DCF_OK with *job queued; done(done_arg) runs once on the store's writer
 * thread when the write is decided (keep it short); then
 * dcf_msg_job_finish returns what the write answers -- the sender's view of
 * the new message, or the acknowledged message -- in *out, or fills p, and
 * frees the job.  `who` and the line id are copied; `locale` must be a
 * static string (as dcf_template_locale_pick returns).
 */
typedef struct dcf_msg_job_s dcf_msg_job_t;
typedef void (*dcf_msg_done_fn)(void *done_arg);
int dcf_msg_post_start(dcf_service_t *s, const dcf_principal_t *who, const char *line,
                       const char *body, size_t len, const char *locale, dcf_msg_done_fn done,
                       void *done_arg, dcf_msg_job_t **job, dcf_problem_t *p);
int dcf_msg_ack_start(dcf_service_t *s, const dcf_principal_t *who, const char *line, int64_t seq,
                      const char *body, size_t len, const char *locale, dcf_msg_done_fn done,
                      void *done_arg, dcf_msg_job_t **job, dcf_problem_t *p);
int dcf_msg_job_finish(dcf_msg_job_t *job, struct json_t **out, dcf_problem_t *p);
int dcf_msg_list(dcf_service_t *s, const dcf_principal_t *who, const char *line, int64_t after,
                 unsigned limit, const char *locale, struct json_t **out, dcf_problem_t *p);
int dcf_msg_get(dcf_service_t *s, const dcf_principal_t *who, const char *line, int64_t seq,
                const char *locale, struct json_t **out, dcf_problem_t *p);
/* An event stream of `who` wrote event (type, data): when it is a message
 * still waiting for delivery to who's party, add its delivery to *batch
 * (allocated on first use; start with NULL).  Cheap when there is nothing
 * to deliver.  dcf_msg_streamed_flush then queues the batch as one write
 * (it does not wait) and frees it; NULL is fine. */
typedef struct dcf_msg_batch_s dcf_msg_batch_t;
void dcf_msg_streamed(dcf_service_t *s, const dcf_principal_t *who, const char *type,
                      const char *data, size_t len, dcf_msg_batch_t **batch);
void dcf_msg_streamed_flush(dcf_service_t *s, dcf_msg_batch_t *batch);

typedef enum { DCF_CALL_ANSWER, DCF_CALL_DECLINE, DCF_CALL_END } dcf_call_act_t;
int dcf_call_start(dcf_service_t *s, const dcf_principal_t *who, const char *line, const char *body,
                   size_t len, const char *locale, struct json_t **out, dcf_problem_t *p);
int dcf_call_list(dcf_service_t *s, const dcf_principal_t *who, const char *line, unsigned limit,
                  int64_t after, struct json_t **out, dcf_problem_t *p);
int dcf_call_get(dcf_service_t *s, const dcf_principal_t *who, const char *id, const char *locale,
                 struct json_t **out, dcf_problem_t *p);
int dcf_call_act(dcf_service_t *s, const dcf_principal_t *who, const char *id, dcf_call_act_t act,
                 const char *body, size_t len, const char *locale, struct json_t **out,
                 dcf_problem_t *p);
int dcf_call_readout(dcf_service_t *s, const dcf_principal_t *who, const char *id, const char *body,
                     size_t len, const char *locale, struct json_t **out, dcf_problem_t *p);

/* Run the hotline's timers up to the service's clock: escalations, ring
 * timeouts, line checks, freeze alerts.  Each is recorded at the time it
 * fell due.  Returns how many fired, or a negative error.  The server
 * calls it every second. */
int dcf_hotline_tick(dcf_service_t *s);

/* The templates: {"items": [document, ...]} and one document. */
int dcf_templates_list(dcf_service_t *s, struct json_t **out, dcf_problem_t *p);
int dcf_templates_get(dcf_service_t *s, const char *id, struct json_t **out, dcf_problem_t *p);

/* The test clock (admin; "not-found" when the test clock is off).
 * advance: {"advance_s": n}; runs the timers before it returns. */
int dcf_clock_get(dcf_service_t *s, const dcf_principal_t *who, struct json_t **out,
                  dcf_problem_t *p);
int dcf_clock_advance(dcf_service_t *s, const dcf_principal_t *who, const char *body, size_t len,
                      struct json_t **out, dcf_problem_t *p);

/* ----------------------------------------------------------- events -- */

/* Events of the caller's party with id > after, oldest first, at most max;
 * each call of cb gets (id, type, data JSON text). */
typedef int (*dcf_event_cb)(void *arg, int64_t id, const char *type, const char *data,
                            size_t data_len);
int dcf_event_read(dcf_service_t *s, const dcf_principal_t *who, int64_t after, unsigned max,
                   dcf_event_cb cb, void *arg);
/* The newest event id of the caller's party (0 when none). */
int64_t dcf_event_last(dcf_service_t *s, const dcf_principal_t *who);

#ifdef __cplusplus
}
#endif
#endif /* DECONFLICT_SERVICE_H */
