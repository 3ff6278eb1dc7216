/*
 * fuzz_time.c -- libFuzzer target for dcf_time_parse / dcf_time_format.
 *
 * The input is copied into a heap buffer of exactly its size, with no NUL
 * after it, so AddressSanitizer reports any read past `len`.  Properties
 * checked (abort() on violation):
 *   - a failure returns DCF_EPARSE or DCF_ERANGE with a rule text, and leaves
 *     the output untouched;
 *   - a success returns no rule text, came from at most DCF_TIME_INPUT_MAX
 *     bytes, and formats to text shorter than DCF_TIME_STRLEN that parses
 *     back to the same instant.
 * Seeds: fuzz/corpus/fuzz_time/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deconflict/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size ? size : 1);
    if (buf == NULL)
        return 0;
    if (size > 0)
        memcpy(buf, data, size);

    const dcf_time_t untouched = INT64_C(0x5eed);
    dcf_time_t t = untouched;
    const char *why = NULL;
    int rc = dcf_time_parse(buf, size, &t, &why);
    if (rc != DCF_OK) {
        if ((rc != DCF_EPARSE && rc != DCF_ERANGE) || why == NULL || t != untouched)
            abort();
        free(buf);
        return 0;
    }
    if (why != NULL || size > DCF_TIME_INPUT_MAX)
        abort();

    char text[DCF_TIME_STRLEN];
    dcf_time_format(t, text);
    size_t n = strnlen(text, sizeof text);
    if (n >= sizeof text)
        abort();
    dcf_time_t back = 0;
    if (dcf_time_parse(text, n, &back, &why) != DCF_OK || back != t)
        abort();
    free(buf);
    return 0;
}
