/*
 * error.c -- error names and messages, and the fatal-error hook.
 *
 * Both tables come from DCF_ERRNO_MAP in core.h, so an error code cannot
 * exist without its name and message.  dcf__panic is for corrupted state and
 * impossible start-up conditions only; request paths return errors.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "deconflict/core.h"

const char *dcf_strerror(int err) {
    switch (err) {
    case DCF_OK:
        return "success";
#define DCF__ERR_MSG(name, value, msg)                                                             \
    case DCF_E##name:                                                                              \
        return msg;
        DCF_ERRNO_MAP(DCF__ERR_MSG)
#undef DCF__ERR_MSG
    default:
        return "unknown error";
    }
}

const char *dcf_err_name(int err) {
    switch (err) {
    case DCF_OK:
        return "DCF_OK";
#define DCF__ERR_NAME(name, value, msg)                                                            \
    case DCF_E##name:                                                                              \
        return "DCF_E" #name;
        DCF_ERRNO_MAP(DCF__ERR_NAME)
#undef DCF__ERR_NAME
    default:
        return "DCF_EUNKNOWN";
    }
}

void dcf__panic(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "deconflict: fatal: %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}
