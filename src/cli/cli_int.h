/*
 * cli_int.h -- private declarations shared by the CLI's files.
 *
 * THE COMMAND TABLE.  Every command is a dcf_cli_cmd_t in cli.c.  The older
 * local commands (check, serve, init, audit) carry their own help text and
 * parse their own options; the API commands carry a table of subcommands
 * (dcf_cli_sub_t), each with its positional arguments, its options
 * (dcf_cli_opt_t) and either a generic request (method + path template +
 * where each option's value goes) or a handler.  Help, `deconflict help`,
 * the bash completion script and the man page are all generated from these
 * tables (doc.c); tests/cli/test_cli_table.c checks that they agree.
 *
 * A subcommand runs with a dcf_cli_run_t (run.c): its parsed options and
 * positionals, the output mode (--json, terminal, colour) and, on first
 * use, the HTTP client for the server chosen by --url / DECONFLICT_URL /
 * the login config.  Exit codes: 0 ok, 1 the server said no (a 4xx
 * problem), 2 usage error, unreachable server or a server fault.
 */
#ifndef DCF_CLI_INT_H
#define DCF_CLI_INT_H

#include <stdio.h>

#include <stdbool.h>
#include <stdint.h>

#include "deconflict/client.h"
#include "deconflict/service.h"

#define DCF_VERSION_STRING "0.1.0"

/* Exit codes of the API commands. */
#define DCF_CLI_EXIT_OK    0
#define DCF_CLI_EXIT_NO    1 /* the server said no (4xx) */
#define DCF_CLI_EXIT_USAGE 2 /* bad usage, unreachable server, server fault */

/* Where an option's value goes in a generic request. */
typedef enum {
    DCF_CLI_TO_NONE = 0, /* read by the handler */
    DCF_CLI_TO_BODY,     /* body member `key` (a "/" path), a string */
    DCF_CLI_TO_INT,      /* body member, an integer */
    DCF_CLI_TO_NUM,      /* body member, a number */
    DCF_CLI_TO_FILE,     /* body member, the text of the file named */
    DCF_CLI_TO_LIST,     /* body member, an array of strings (repeatable option) */
    DCF_CLI_TO_QUERY,    /* query argument `key` */
    DCF_CLI_TO_IFMATCH,  /* If-Match: "<value>" */
} dcf_cli_to_t;

#define DCF_CLI_REQUIRED 1u /* the option must be given */
#define DCF_CLI_REPEAT   2u /* may be given more than once */

typedef struct {
    const char *name; /* without "--" */
    const char *arg;  /* metavariable ("LEVEL"); NULL for a flag */
    const char *help; /* one line */
    dcf_cli_to_t to;
    const char *key; /* body path or query name; NULL: the option's name */
    unsigned flags;  /* DCF_CLI_REQUIRED, DCF_CLI_REPEAT */
} dcf_cli_opt_t;

typedef struct dcf_cli_run_s dcf_cli_run_t;

/* Subcommand flags. */
#define DCF_CLI_LOCAL 1u /* needs no server: no --url/--json/--ca-file/--lang */
#define DCF_CLI_PAGED 2u /* a list: --limit, --cursor and --all are added */
#define DCF_CLI_AFTER 4u /* with PAGED: the cursor is the "after" sequence number */
#define DCF_CLI_BODY  8u /* always send a JSON body (an empty object at least) */

typedef struct {
    const char *name;            /* "" for a command without subcommands */
    const char *args;            /* positionals, e.g. "LINE SEQ", "[FILE]"; "" for none */
    const char *summary;         /* one line */
    const char *help;            /* more paragraphs, or NULL */
    const dcf_cli_opt_t *opts;   /* ends with a {NULL} row; NULL for none */
    const char *method;          /* generic request, or NULL with fn */
    const char *path;            /* "/v1/lines/{1}/messages/{2}": {n} is positional n, escaped */
    const char *view;            /* list columns "ID=id STATE=state" (JSON pointers without
                                    the leading "/", "a|b" for a fallback), or NULL */
    int (*fn)(dcf_cli_run_t *r); /* handler, or NULL for the generic request */
    unsigned flags;
} dcf_cli_sub_t;

typedef struct {
    const char *name;
    const char *synopsis; /* "check [--json] FILE" */
    const char *help;     /* paragraphs shown by --help */
    int (*fn)(int argc, char **argv);
    const dcf_cli_sub_t *subs; /* API commands: ends with a {NULL} row; NULL otherwise */
} dcf_cli_cmd_t;

/* The whole table (cli.c). */
const dcf_cli_cmd_t *dcf_cli_commands(size_t *n);
/* The options every server subcommand takes (--json, --url, ...). */
const dcf_cli_opt_t *dcf_cli_common_opts(void);
/* The options a PAGED subcommand adds. */
const dcf_cli_opt_t *dcf_cli_paged_opts(const dcf_cli_sub_t *s);

/* Generated documents (doc.c). */
void dcf_cli_doc_overview(FILE *to);
void dcf_cli_doc_command(FILE *to, const dcf_cli_cmd_t *c);
void dcf_cli_doc_sub(FILE *to, const dcf_cli_cmd_t *c, const dcf_cli_sub_t *s);
void dcf_cli_doc_completion_bash(FILE *to);
void dcf_cli_doc_man(FILE *to);

/* ------------------------------------------------------ runs (run.c) -- */

#define DCF_CLI_OPTS_MAX 40

struct dcf_cli_run_s {
    const dcf_cli_cmd_t *cmd;
    const dcf_cli_sub_t *sub;
    char prog[64]; /* "deconflict op create", for messages */
    int npos;
    char **pos;
    /* Per option of sub->opts, then the common and paged ones: the last
     * value given ("" for a flag), and for repeatable options all of them. */
    const dcf_cli_opt_t *opt[DCF_CLI_OPTS_MAX];
    const char *val[DCF_CLI_OPTS_MAX];
    struct json_t *list[DCF_CLI_OPTS_MAX];
    size_t nopt;
    bool json;  /* --json */
    bool tty;   /* stdout is a terminal */
    bool color; /* tty and NO_COLOR unset */
    const char *lang;
    dcf_client_t *client; /* on first use (dcf_cli_client) */
};

/* Run subcommand s of c on argv (argv[0] is the subcommand's name, or the
 * command's for a command without subcommands); the exit code. */
int dcf_cli_run(const dcf_cli_cmd_t *c, const dcf_cli_sub_t *s, int argc, char **argv);
/* The value of option `name` (NULL when not given; "" for a given flag). */
const char *dcf_cli_opt(const dcf_cli_run_t *r, const char *name);
/* Every value of a repeatable option, as a JSON array of strings (borrowed), or NULL. */
struct json_t *dcf_cli_opt_list(const dcf_cli_run_t *r, const char *name);
/* Print "PROG: message" to stderr; returns DCF_CLI_EXIT_USAGE. */
int dcf_cli_fail(const dcf_cli_run_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The client (created on first use); NULL after printing why. */
dcf_client_t *dcf_cli_client(dcf_cli_run_t *r);
/* Send a request; JSON body `body` (borrowed, may be NULL).  Retries a 429
 * after its Retry-After (a few times).  Returns DCF_CLI_EXIT_OK with *resp
 * for a 2xx answer; otherwise prints why (the problem's "title: detail" and
 * each field pointer) and returns DCF_CLI_EXIT_NO (4xx) or
 * DCF_CLI_EXIT_USAGE (transport, 5xx), with *resp cleared. */
int dcf_cli_request(dcf_cli_run_t *r, const char *method, const char *path,
                    const struct json_t *body, const char *if_match, dcf_client_resp_t *resp);
/* Print a non-2xx answer as above; returns the exit code for it. */
int dcf_cli_problem(const dcf_cli_run_t *r, long status, const struct json_t *body);
/* Percent-encode a path segment or query value into out[cap]; false when it
 * does not fit. */
bool dcf_cli_escape(const char *v, char *out, size_t cap);
/* Print a document: JSON with --json, else a table (view given and the
 * document has "items") or "key: value" lines. */
void dcf_cli_print(const dcf_cli_run_t *r, const struct json_t *doc, const char *view);
/* Print rows as a table (aligned on a terminal, tab-separated otherwise). */
void dcf_cli_table(const dcf_cli_run_t *r, const struct json_t *items, const char *view);
/* Build the request of r->sub from its options: path (with the query
 * arguments, except the one named skip) into path[cap], the body (NULL when
 * no option goes there and the sub has no DCF_CLI_BODY; the caller's), and
 * If-Match into ifm[icap] ("" when none).  0, or an exit code after printing
 * why. */
int dcf_cli_build(dcf_cli_run_t *r, char *path, size_t cap, struct json_t **body, char *ifm,
                  size_t icap, const char *skip);
/* Run the generic request of r->sub. */
int dcf_cli_generic(dcf_cli_run_t *r);

/* The login config: $XDG_CONFIG_HOME/deconflict/config.json (else
 * ~/.config/deconflict/config.json) into path[cap]; false when neither
 * variable is set. */
bool dcf_cli_config_path(char *path, size_t cap);
/* Put DECONFLICT_URL / DECONFLICT_TOKEN from the config into the
 * environment where they are unset (for commands that read only those);
 * the token only when the server to be used (url_arg, a --url given, else
 * $DECONFLICT_URL, else the config's) is the config's own. */
void dcf_cli_config_env(const char *url_arg);

/* ------------------------------------------------------ API handlers -- */

int dcf_cli_login(dcf_cli_run_t *r);
int dcf_cli_logout(dcf_cli_run_t *r);
int dcf_cli_op_create(dcf_cli_run_t *r);
int dcf_cli_op_update(dcf_cli_run_t *r);
int dcf_cli_op_check(dcf_cli_run_t *r);
int dcf_cli_msg_send(dcf_cli_run_t *r);
int dcf_cli_party_create(dcf_cli_run_t *r);
int dcf_cli_token_list(dcf_cli_run_t *r);
int dcf_cli_token_create(dcf_cli_run_t *r);
int dcf_cli_events(dcf_cli_run_t *r);
int dcf_cli_import(dcf_cli_run_t *r);
int dcf_cli_export(dcf_cli_run_t *r);
int dcf_cli_completion(dcf_cli_run_t *r);
int dcf_cli_man(dcf_cli_run_t *r);
int dcf_cli_audit_cmd(int argc, char **argv);

/* Read an operation file (the JSON model: one operation, or a document
 * holding exactly one; or a GeoJSON Feature / FeatureCollection of one
 * operation) into the body the API takes (no "id").  NULL after printing
 * why (file, pointer, rule). */
struct json_t *dcf_cli_op_body_from_file(const dcf_cli_run_t *r, const char *path);
/* Drop the members the server adds to an operation (id, version, state,
 * created_at, updated_at, conflicts), so that an exported resource is a
 * body again. */
void dcf_cli_op_strip(struct json_t *op);

/* Print a command's usage and help. */
void dcf_cli_usage(FILE *to, const dcf_cli_cmd_t *c);
/* The table entry for `name`, or NULL. */
const dcf_cli_cmd_t *dcf_cli_command(const char *name);

/* Command handlers (argv[0] is the command name). */
int dcf_cli_check(int argc, char **argv);
int dcf_cli_serve(int argc, char **argv);
/* The option table of `serve`, as help text (serve.c). */
void dcf_cli_serve_help(FILE *out);
int dcf_cli_init(int argc, char **argv);
int dcf_cli_audit(int argc, char **argv);

/* Service options for a store: db path, rules file ("" = none), audit key
 * file ("" = the db's path + ".audit-key", written into keybuf). */
void dcf_cli_service_opts(dcf_service_opts_t *so, const char *db, const char *rules,
                          const char *audit_key, char *keybuf, size_t keycap);

/* Read a whole file into a new NUL-terminated buffer of at most max_bytes.
 * Returns 0, or -1 with a message in err[256]. */
int dcf_cli_read_file(const char *path, size_t max_bytes, char **buf, size_t *len, char err[256]);

/* ------------------------------------------------ audit (audit.c) -- */

#define DCF_CLI_AUDIT_KEY_LEN 32 /* Ed25519 public key */
#define DCF_CLI_AUDIT_SIG_LEN 64 /* Ed25519 signature */

/* A signed tree head as docs/audit.md defines it. */
typedef struct {
    uint64_t tree_size;
    uint64_t timestamp; /* milliseconds since the Unix epoch */
    uint8_t root[32];
    uint8_t sig[DCF_CLI_AUDIT_SIG_LEN];
    char key_id[17]; /* 16 hex digits as sent */
} dcf_cli_audit_sth_t;

/* The verifier's memory between runs: the pinned key and every tree head
 * it has verified, oldest first. */
typedef struct {
    char *url; /* the server's base URL (informative), or NULL */
    bool has_key;
    uint8_t key[DCF_CLI_AUDIT_KEY_LEN];
    dcf_cli_audit_sth_t *heads;
    size_t n_heads, cap_heads;
} dcf_cli_audit_state_t;

/* Verdicts, which are also the exit codes of `deconflict audit verify`. */
#define DCF_CLI_AUDIT_VERIFIED 0
#define DCF_CLI_AUDIT_FAILED   1
#define DCF_CLI_AUDIT_ERROR    2

/* What a verification found.  On DCF_CLI_AUDIT_FAILED, kind/index/item name
 * the first item that does not verify and reason says why; on
 * DCF_CLI_AUDIT_ERROR reason says why nothing could be checked. */
typedef struct {
    int verdict;
    char kind[16];  /* "entry", "tree head", "key" or "" */
    int64_t index;  /* entry: its index; tree head: its position in the export
                       file or state file, -1 for the server's newest */
    char item[128]; /* "entry 41", "tree head 3 (size 42)", ... */
    char reason[768];
    uint64_t entries;    /* entries verified */
    uint64_t tree_heads; /* export: tree heads verified; online: earlier heads checked */
    bool has_head;       /* head: the newest tree head verified */
    dcf_cli_audit_sth_t head;
    uint64_t uncovered;            /* export: entries after the largest tree head */
    char party[DCF_PARTY_MAX + 1]; /* online: the caller's party, "" for the admin */
    char key_id[17];               /* the key checked against ("" before it is known) */
    bool key_from_file;            /* export: checked against the file's own key */
    bool key_pinned_now;           /* online: the server's key was pinned on first use */
} dcf_cli_audit_report_t;

/* Verify the export file at `path` (format in docs/audit.md) offline:
 * indexes 0..n-1, every tree head signed by `key` (NULL: the file's own key,
 * which proves only internal consistency), never shrinking, covering at most
 * n entries and with the root recomputed from the entries.  The file is at
 * most max_bytes (0: 4 GiB).  Returns report->verdict. */
int dcf_cli_audit_verify_export(const char *path, const uint8_t *key, uint64_t max_bytes,
                                dcf_cli_audit_report_t *report);

/* Read a state file.  DCF_OK; DCF_ENOENT when it does not exist (st is then
 * empty); DCF_EIO, DCF_ELIMIT (over 16 MiB or too many heads), DCF_EPARSE,
 * DCF_ENOMEM with a message in err[256].  st must be zeroed first. */
int dcf_cli_audit_state_load(const char *path, dcf_cli_audit_state_t *st, char err[256]);
/* Write a state file atomically (temp file, fsync, rename; mode 0600). */
int dcf_cli_audit_state_save(const char *path, const dcf_cli_audit_state_t *st, char err[256]);
/* Append a verified head (an identical one already present is not added). */
int dcf_cli_audit_state_add(dcf_cli_audit_state_t *st, const dcf_cli_audit_sth_t *h);
void dcf_cli_audit_state_free(dcf_cli_audit_state_t *st);

#endif /* DCF_CLI_INT_H */
