/*
 * array.c -- growing a plain C array by doubling (dcf_array_reserve).
 *
 * Every growable list in the library (the engine's records, conflict rows,
 * start-up batches, the audit verifier's tree heads ...) grows through this
 * one function, so the doubling, the zeroing of new elements and the
 * overflow check live in one place.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deconflict/core.h"

int dcf_array_reserve(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return DCF_OK;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return DCF_ENOMEM;
        ncap *= 2;
    }
    if (elem != 0 && ncap > SIZE_MAX / elem)
        return DCF_ENOMEM;
    void *n = realloc(*arr, ncap * elem);
    if (n == NULL)
        return DCF_ENOMEM;
    memset((char *)n + *cap * elem, 0, (ncap - *cap) * elem);
    *arr = n;
    *cap = ncap;
    return DCF_OK;
}
