/*
 * cli_int.h -- private declarations shared by the CLI's files.
 */
#ifndef DCF_CLI_INT_H
#define DCF_CLI_INT_H

#include <stdio.h>

#include <stdbool.h>
#include <stdint.h>

#include "deconflict/service.h"

#define DCF_VERSION_STRING "0.1.0"

typedef struct {
    const char *name;
    const char *synopsis; /* "check [--json] FILE" */
    const char *help;     /* paragraphs shown by --help */
    int (*fn)(int argc, char **argv);
} dcf_cli_cmd_t;

/* Print a command's usage and help. */
void dcf_cli_usage(FILE *to, const dcf_cli_cmd_t *c);
/* The table entry for `name`, or NULL. */
const dcf_cli_cmd_t *dcf_cli_command(const char *name);

/* Command handlers (argv[0] is the command name). */
int dcf_cli_check(int argc, char **argv);
int dcf_cli_serve(int argc, char **argv);
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
