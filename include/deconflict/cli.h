/*
 * cli.h -- the `deconflict` command line.
 *
 * Commands are declared in one table (src/cli/cli.c): names, synopses,
 * subcommands, options, help and handlers; `deconflict help`, every --help,
 * the bash completion script and the man page are generated from it.  The
 * API commands (op, conflict, line, msg, call, events, import, export,
 * party, desk, token, ...) are a client of the HTTP API; docs/cli.md is
 * their manual.  Exit codes: 0 success, 1 a negative answer (the server
 * refused with a 4xx; for `check` and `op check`: conflicts found), 2 bad
 * usage or input, an unreachable server or a server fault.
 */
#ifndef DECONFLICT_CLI_H
#define DECONFLICT_CLI_H

#ifdef __cplusplus
extern "C" {
#endif

/* Run the command line; returns the process exit code. */
int dcf_cli_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif /* DECONFLICT_CLI_H */
