/*
 * api.h -- the HTTP API: the route table and handlers that turn requests
 * into service calls (service.h) and results into responses (http.h).
 *
 * WHAT IT ADDS.  Bearer authentication, the per-token request rate limit,
 * query-string parsing with its own errors, the mapping from problem types
 * to HTTP statuses, health, readiness, metrics, the OpenAPI document and
 * the Server-Sent Event streams.  docs/api.md is the contract.
 *
 * LIFE CYCLE.  The server starts HTTP first with no service attached (so
 * /healthz answers and /readyz says 503 while the store loads), then
 * attaches the service.  Detach before closing the service.
 */
#ifndef DECONFLICT_API_H
#define DECONFLICT_API_H

#include <stddef.h>
#include <stdint.h>

#include "deconflict/http.h"
#include "deconflict/service.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    double rate;          /* requests per second per token (burst: 2 s worth) */
    unsigned max_streams; /* event streams per party */
    int64_t heartbeat_us; /* SSE heartbeat interval */
    unsigned page_max;    /* largest `limit` */
    /* The console map's tile URL template ("https://tiles.example/{z}/{x}/{y}.png"),
     * or NULL for the offline country outlines only. */
    const char *tile_url;
} dcf_api_opts_t;

typedef struct dcf_api_s dcf_api_t;

int dcf_api_new(const dcf_api_opts_t *opts, dcf_api_t **out);
void dcf_api_free(dcf_api_t *a);

/* The route table (static). */
const dcf_http_route_t *dcf_api_routes(size_t *n);

/* Wire the HTTP server (for streams and metrics) and the service. */
void dcf_api_set_http(dcf_api_t *a, dcf_http_t *h);
void dcf_api_set_service(dcf_api_t *a, dcf_service_t *s);

/* The service's on_event hook: wake the party's streams. */
void dcf_api_on_event(void *api, uint64_t party_tag);
/* Wake every stream so heartbeats go out (the server calls this on a timer). */
void dcf_api_tick(dcf_api_t *a);

#ifdef __cplusplus
}
#endif
#endif /* DECONFLICT_API_H */
