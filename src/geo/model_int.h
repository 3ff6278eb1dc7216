/*
 * model_int.h -- JSON helpers of the model parser (model.c) that other files
 * of src/geo/ reuse, so every JSON document the module reads reports errors
 * the same way (RFC 6901 pointers, escaped member names, the same texts).
 * Private to src/geo/.
 */
#ifndef DCF_GEO_MODEL_INT_H
#define DCF_GEO_MODEL_INT_H

#include <jansson.h>

#include "deconflict/geo.h"

/* Reject the first member of `obj` not named in `allowed` (NULL-terminated):
 * DCF_EINVAL with err->pointer = `pointer` + "/" + the escaped member name
 * and err->rule "unknown member".  DCF_OK when every member is allowed. */
int dcf__json_check_members(const json_t *obj, const char *const *allowed, const char *pointer,
                            dcf_geo_error_t *err);

#endif /* DCF_GEO_MODEL_INT_H */
