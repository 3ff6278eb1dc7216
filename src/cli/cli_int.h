/*
 * cli_int.h -- private declarations shared by the CLI's files.
 */
#ifndef DCF_CLI_INT_H
#define DCF_CLI_INT_H

#include <stdio.h>

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

/* Service options from a store path and a rules file ("" for none). */
void dcf_cli_service_opts(dcf_service_opts_t *so, const char *db, const char *rules);

/* Read a whole file into a new NUL-terminated buffer of at most max_bytes.
 * Returns 0, or -1 with a message in err[256]. */
int dcf_cli_read_file(const char *path, size_t max_bytes, char **buf, size_t *len, char err[256]);

#endif /* DCF_CLI_INT_H */
