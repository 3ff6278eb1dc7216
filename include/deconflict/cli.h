/*
 * cli.h -- the `deconflict` command line.
 *
 * Commands are declared in one table (src/cli/cli.c): name, synopsis, help
 * and handler; `deconflict help` and each command's --help come from it.
 * Exit codes are documented per command; in general 0 success, 1 a negative
 * answer (for `check`: conflicts found), 2 bad input or could not run.
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
