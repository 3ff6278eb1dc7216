/*
 * config.h -- options from one table: command-line flag, environment
 * variable and config-file key, each typed and bounded, with a default and
 * a help line.
 *
 * WHAT IT IS FOR.  `deconflict serve` (and later commands) describe their
 * options once, as an array of dcf_config_opt_t that writes into a plain C
 * struct through offsets.  The same table drives parsing, --help and docs.
 *
 * PRECEDENCE.  default < config file < environment < command line.  The
 * config file is a JSON object whose members are the options' `key`s; the
 * file is named by the option whose type is DCF_CONFIG_FILE (found on the
 * command line or in the environment before anything else is applied).
 * Unknown flags, unknown file keys, values of the wrong type or outside
 * [min, max] are errors that name the source ("--threads", "env
 * DECONFLICT_THREADS", "config.json: threads") and the rule broken.
 *
 * Everything is validated before anything is written: on error the target
 * struct holds exactly the defaults.  (A broken table itself -- duplicate
 * flag, default out of bounds -- is reported as "option table: ..." and
 * leaves the target untouched.)
 */
#ifndef DECONFLICT_CONFIG_H
#define DECONFLICT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "deconflict/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DCF_CONFIG_VALUE_MAX 4096  /* bytes of one string value */
#define DCF_CONFIG_FILE_MAX  65536 /* bytes of a config file */

typedef enum {
    DCF_CONFIG_BOOL,     /* bool: flag alone = true; "true"/"false"/"1"/"0" */
    DCF_CONFIG_INT,      /* int64_t, bounded by [min, max] */
    DCF_CONFIG_DOUBLE,   /* double, bounded by [min, max] */
    DCF_CONFIG_DURATION, /* int64_t microseconds; text "250ms", "30s", "15m", "2h", "1d" or
                            a bare number of seconds; bounded by [min, max] in seconds */
    DCF_CONFIG_STRING,   /* char[DCF_CONFIG_VALUE_MAX] inside the struct */
    DCF_CONFIG_ENUM,     /* int: index into `choices` (a NULL-terminated list) */
    DCF_CONFIG_FILE,     /* char[DCF_CONFIG_VALUE_MAX]: the config file path itself */
} dcf_config_type_t;

typedef struct {
    const char *flag; /* "threads" for --threads */
    const char *env;  /* "DECONFLICT_THREADS" or NULL */
    const char *key;  /* config-file key, or NULL */
    dcf_config_type_t type;
    double min, max;            /* bounds for numbers (durations: seconds) */
    const char *def;            /* default, as text (parsed like any value) */
    const char *help;           /* one line */
    const char *const *choices; /* DCF_CONFIG_ENUM only */
    size_t offset;              /* offsetof(target struct, field) */
} dcf_config_opt_t;

/*
 * Fill `target` from defaults, then the config file, the environment
 * (`envp` as in main's third argument, NULL-terminated; NULL for none) and
 * argv[0..argc) (flags only, "--name value" or "--name=value"; argv holds
 * no program or command name).  Returns DCF_OK, or DCF_EINVAL with a
 * message in err (e.g. "--threads: 0 is below the minimum 1"); DCF_ENOENT
 * for an unreadable config file.  "--help" returns DCF_ESTATE so the caller
 * prints help.
 */
int dcf_config_parse(const dcf_config_opt_t *opts, size_t n, void *target, int argc,
                     char *const *argv, char *const *envp, char *err, size_t errlen);

/* Print one block per option: flag, type and bounds, env, key, default, help. */
void dcf_config_help(const dcf_config_opt_t *opts, size_t n, FILE *out);

/* Write the effective configuration as a JSON object (key: value) to out,
 * in the form dcf_config_parse reads back as a config file: durations as
 * text ("90m"), enums by name.  Options without a key, and the config-file
 * option itself, are left out.  DCF_EIO on a write error. */
int dcf_config_dump(const dcf_config_opt_t *opts, size_t n, const void *target, FILE *out);

#ifdef __cplusplus
}
#endif
#endif /* DECONFLICT_CONFIG_H */
