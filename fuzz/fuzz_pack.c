/*
 * fuzz_pack.c -- libFuzzer target for the binary form of an operation:
 * dcf_operation_unpack and dcf_operation_pack (src/geo/model.c), the reader
 * the server trusts at start-up to rebuild its live operations from bytes
 * it stored.
 *
 * The input is the buffer, whole, tried as it is and again with its
 * trailing check recomputed (most mutations break the check, and would
 * otherwise never reach the field rules).  Limits are small so the fuzzer
 * reaches them; the flags vary with the input length so both settings get
 * explored.
 *
 * Properties checked (abort() on violation):
 *   - on error the return code is DCF_EINVAL, DCF_ELIMIT or DCF_ENOMEM and
 *     *out still holds what the caller put there;
 *   - on success the operation is within the limits and packing it gives
 *     back exactly the input bytes (one canonical encoding per operation).
 * Seeds: fuzz/corpus/fuzz_pack/ (packed valid operations: circles,
 * polygons, several volumes, exigent with a reason).
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deconflict/geo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK_BYTES 8

/* Unpack buf and check the properties above. */
static void one(const uint8_t *buf, size_t size, unsigned flags) {
    dcf_geo_limits_t lim = {
        .max_vertices = 64, .max_volumes = 4, .max_depth = 16, .max_operations = 8};
    static dcf_operation_t marker;
    dcf_operation_t *op = &marker;

    int rc = dcf_operation_unpack(buf, size, &lim, flags, &op);
    if (rc != DCF_OK) {
        if (op != &marker || (rc != DCF_EINVAL && rc != DCF_ELIMIT && rc != DCF_ENOMEM))
            abort();
        return;
    }
    if (op == NULL || op == &marker || op->n_volumes < 1 || op->n_volumes > lim.max_volumes)
        abort();
    if (((flags & DCF_PARSE_REQUIRE_ID) && op->id[0] == '\0') ||
        ((flags & DCF_PARSE_REQUIRE_PARTY) && op->party[0] == '\0'))
        abort();
    unsigned char *again = NULL;
    size_t len = 0;
    if (dcf_operation_pack(op, &again, &len) != DCF_OK || len != size ||
        memcmp(again, buf, size) != 0)
        abort();
    free(again);
    dcf_operation_free(op);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned flags = (unsigned)(size & 3u);
    one(data, size, flags);
    /* Again with the trailing check made to match (SipHash-2-4 of the rest
     * under a zero key, as the layout defines it), so that mutations reach
     * the field rules instead of stopping at the check. */
    if (size < CHECK_BYTES)
        return 0;
    uint8_t *fixed = malloc(size);
    if (fixed == NULL)
        return 0;
    static const unsigned char key[crypto_shorthash_KEYBYTES] = {0};
    memcpy(fixed, data, size);
    crypto_shorthash(fixed + size - CHECK_BYTES, fixed, size - CHECK_BYTES, key);
    one(fixed, size, flags);
    free(fixed);
    return 0;
}
