/*
 * ops.c -- the operation commands that are more than one request:
 * `op create|update|check` (an operation file turned into the API's body)
 * and `export` (every page of GET /v1/operations as NDJSON).
 *
 * An operation file is the JSON model (docs/model.md) or GeoJSON; the API
 * takes only the model without "id", so GeoJSON is converted here with the
 * geo module's own parser, and every body is validated locally first, so a
 * mistake is reported as FILE: POINTER: RULE before anything is sent.
 * `op update` uses optimistic versioning: If-Match with --version or the
 * version read just before, and a 412 answer is explained, not retried.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli_int.h"
#include "deconflict/geo.h"

#define OP_FILE_MAX (64u * 1024u * 1024u)
#define EXPORT_PAGE "1000"
#define CONFLICT_COLS                                                                              \
    "ID=id STATE=state OTHER=other/party/id START=overlap/time/start END=overlap/time/end "        \
    "LOWER_M=overlap/altitude/lower_m UPPER_M=overlap/altitude/upper_m"

void dcf_cli_op_strip(json_t *op) {
    static const char *const server[] = {"id",         "version",    "state",
                                         "created_at", "updated_at", "conflicts"};
    for (size_t i = 0; i < sizeof server / sizeof server[0]; i++)
        json_object_del(op, server[i]);
}

static bool is_geojson(const json_t *doc) {
    const char *t = json_string_value(json_object_get(doc, "type"));
    return t != NULL && (strcmp(t, "Feature") == 0 || strcmp(t, "FeatureCollection") == 0);
}

json_t *dcf_cli_op_body_from_file(const dcf_cli_run_t *r, const char *path) {
    char *text = NULL, ferr[256];
    size_t len;
    json_t *doc = NULL, *out = NULL;
    dcf_operation_list_t list = {0};
    dcf_operation_t *op = NULL;
    dcf_geo_error_t ge;
    dcf_geo_limits_t lim;
    dcf_geo_limits_default(&lim);
    memset(&ge, 0, sizeof ge);

    if (dcf_cli_read_file(path, OP_FILE_MAX, &text, &len, ferr) != 0) {
        fprintf(stderr, "%s: %s: %s\n", r->prog, path, ferr);
        goto out;
    }
    json_error_t je;
    if ((doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je)) == NULL) {
        fprintf(stderr, "%s: %s:%d:%d: invalid JSON: %s\n", r->prog, path, je.line, je.column,
                je.text);
        goto out;
    }
    if (dcf_json_too_deep(doc, lim.max_depth)) {
        fprintf(stderr, "%s: %s: nested deeper than %zu\n", r->prog, path, lim.max_depth);
        goto out;
    }
    int rc;
    if (is_geojson(doc)) {
        const char *t = json_string_value(json_object_get(doc, "type"));
        if (strcmp(t, "Feature") == 0) {
            rc = dcf_operation_from_geojson_feature(doc, &lim, 0, "", &op, &ge);
        } else {
            rc = dcf_operations_from_document(doc, &lim, 0, &list, &ge);
            if (rc == DCF_OK && list.n != 1) {
                fprintf(stderr,
                        "%s: %s: holds %zu operations; give one (use 'deconflict import' "
                        "for many)\n",
                        r->prog, path, list.n);
                goto out;
            }
            if (rc == DCF_OK) {
                op = list.ops[0];
                list.ops[0] = NULL;
            }
        }
        if (rc != DCF_OK)
            goto bad;
        if ((out = dcf_operation_to_json(op)) == NULL)
            goto nomem;
        json_object_del(out, "id");
        goto out;
    }
    json_t *one = doc;
    const char *prefix = "";
    if (json_is_array(doc)) {
        one = json_array_size(doc) == 1 ? json_array_get(doc, 0) : NULL;
        prefix = "/0";
    } else if (json_is_array(json_object_get(doc, "operations"))) {
        json_t *a = json_object_get(doc, "operations");
        one = json_array_size(a) == 1 ? json_array_get(a, 0) : NULL;
        prefix = "/operations/0";
    }
    if (!json_is_object(one)) {
        fprintf(stderr, "%s: %s: expected one operation (an object with \"volumes\")\n", r->prog,
                path);
        goto out;
    }
    if ((out = json_deep_copy(one)) == NULL)
        goto nomem;
    dcf_cli_op_strip(out);
    if ((rc = dcf_operation_from_json(out, &lim, 0, prefix, &op, &ge)) != DCF_OK) {
        json_decref(out);
        out = NULL;
        goto bad;
    }
    goto out;
bad:
    if (ge.pointer[0] != '\0' || ge.rule[0] != '\0')
        fprintf(stderr, "%s: %s: %s: %s\n", r->prog, path, ge.pointer[0] ? ge.pointer : "/",
                ge.rule);
    else
        fprintf(stderr, "%s: %s: not a valid operation\n", r->prog, path);
    goto out;
nomem:
    fprintf(stderr, "%s: out of memory\n", r->prog);
out:
    dcf_operation_free(op);
    dcf_operation_list_free(&list);
    json_decref(doc);
    free(text);
    return out;
}

/* Human summary of a created or updated operation and its conflicts. */
static void op_summary(const dcf_cli_run_t *r, const char *verb, const json_t *op) {
    if (r->json) {
        dcf_cli_print(r, op, NULL);
        return;
    }
    const json_t *cf = json_object_get(op, "conflicts");
    printf("%s %s (version %lld, %s); %zu conflict%s\n", verb,
           json_string_value(json_object_get(op, "id")),
           (long long)json_integer_value(json_object_get(op, "version")),
           json_string_value(json_object_get(op, "state")), json_array_size(cf),
           json_array_size(cf) == 1 ? "" : "s");
    if (json_array_size(cf) > 0)
        dcf_cli_table(r, cf, CONFLICT_COLS);
}

int dcf_cli_op_create(dcf_cli_run_t *r) {
    dcf_client_resp_t resp;
    json_t *body = dcf_cli_op_body_from_file(r, r->pos[0]);
    if (body == NULL)
        return DCF_CLI_EXIT_USAGE;
    int rc = dcf_cli_request(r, "POST", "/v1/operations", body, NULL, &resp);
    if (rc == 0)
        op_summary(r, "created", resp.body);
    dcf_client_resp_clear(&resp);
    json_decref(body);
    return rc;
}

int dcf_cli_op_check(dcf_cli_run_t *r) {
    dcf_client_resp_t resp;
    json_t *body = dcf_cli_op_body_from_file(r, r->pos[0]);
    if (body == NULL)
        return DCF_CLI_EXIT_USAGE;
    int rc = dcf_cli_request(r, "POST", "/v1/operations/check", body, NULL, &resp);
    if (rc == 0) {
        const json_t *cf = json_object_get(resp.body, "conflicts");
        if (r->json) {
            dcf_cli_print(r, resp.body, NULL);
        } else {
            printf("%zu conflict%s\n", json_array_size(cf), json_array_size(cf) == 1 ? "" : "s");
            if (json_array_size(cf) > 0)
                dcf_cli_table(r, cf, CONFLICT_COLS);
        }
        rc = json_array_size(cf) > 0 ? DCF_CLI_EXIT_NO : DCF_CLI_EXIT_OK;
    }
    dcf_client_resp_clear(&resp);
    json_decref(body);
    return rc;
}

int dcf_cli_op_update(dcf_cli_run_t *r) {
    char path[1024], esc[512], ifm[32];
    dcf_client_resp_t resp = {0};
    json_t *body = NULL;
    int rc = DCF_CLI_EXIT_USAGE;
    long long version = 0;
    const char *v = dcf_cli_opt(r, "version");

    if (!dcf_cli_escape(r->pos[0], esc, sizeof esc))
        return dcf_cli_fail(r, "the operation id is too long");
    snprintf(path, sizeof path, "/v1/operations/%s", esc);
    if (v != NULL) {
        char *e = NULL;
        version = strtoll(v, &e, 10);
        if (e == v || *e != '\0' || version < 1)
            return dcf_cli_fail(r, "--version must be a version number");
    }
    if ((body = dcf_cli_op_body_from_file(r, r->pos[1])) == NULL)
        return DCF_CLI_EXIT_USAGE;
    if (version == 0) {
        if ((rc = dcf_cli_request(r, "GET", path, NULL, NULL, &resp)) != 0)
            goto out;
        version = json_integer_value(json_object_get(resp.body, "version"));
        dcf_client_resp_clear(&resp);
    }
    snprintf(ifm, sizeof ifm, "\"%lld\"", version);
    dcf_client_t *c = dcf_cli_client(r);
    if (c == NULL)
        goto out;
    /* Sent directly (not through dcf_cli_request) to explain a 412. */
    char *text = json_dumps(body, JSON_COMPACT), err[DCF_CLIENT_ERR_LEN];
    if (text == NULL) {
        rc = dcf_cli_fail(r, "out of memory");
        goto out;
    }
    dcf_client_req_t req = {.method = "PUT",
                            .path = path,
                            .body = text,
                            .body_len = strlen(text),
                            .if_match = ifm,
                            .accept_language = r->lang};
    int x = dcf_client_do(c, &req, &resp, err, sizeof err);
    free(text);
    if (x != DCF_OK) {
        rc = dcf_cli_fail(r, "%s", err);
        goto out;
    }
    if (resp.status == 412) {
        dcf_client_resp_t now = {0};
        long long cur = 0;
        if (dcf_client_do(c, &(dcf_client_req_t){.method = "GET", .path = path}, &now, NULL, 0) ==
                DCF_OK &&
            now.status == 200)
            cur = json_integer_value(json_object_get(now.body, "version"));
        dcf_client_resp_clear(&now);
        if (r->json)
            dcf_cli_print(r, resp.body, NULL);
        fprintf(stderr,
                "%s: stale: %s changed since version %lld (it is now at version %lld) and "
                "nothing was saved.\nShow it with 'deconflict op show %s', redo your change on "
                "that version and run the update again.\n",
                r->prog, r->pos[0], version, cur, r->pos[0]);
        rc = DCF_CLI_EXIT_NO;
        goto out;
    }
    if (resp.status < 200 || resp.status >= 300) {
        rc = dcf_cli_problem(r, resp.status, resp.body);
        goto out;
    }
    op_summary(r, "updated", resp.body);
    rc = 0;
out:
    dcf_client_resp_clear(&resp);
    json_decref(body);
    return rc;
}

/* ----------------------------------------------------------- export -- */

int dcf_cli_export(dcf_cli_run_t *r) {
    char base[2048], path[4096], tmp[4096] = "", cur[1024] = "";
    json_t *body = NULL;
    FILE *f = stdout;
    dcf_client_resp_t resp = {0};
    int fd = -1, rc;
    unsigned long long count = 0;
    const char *out = dcf_cli_opt(r, "out");

    char ifm[8];
    if ((rc = dcf_cli_build(r, base, sizeof base, &body, ifm, sizeof ifm, NULL)) != 0)
        return rc;
    if (out != NULL) {
        if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", out) >= sizeof tmp)
            return dcf_cli_fail(r, "--out: the path is too long");
        if ((fd = mkstemp(tmp)) < 0 || (f = fdopen(fd, "w")) == NULL) {
            rc = dcf_cli_fail(r, "%s: %s", tmp, strerror(errno));
            if (fd >= 0)
                close(fd);
            fd = -1;
            tmp[0] = '\0';
            f = stdout;
            goto out;
        }
        fd = -1;
    }
    for (;;) {
        snprintf(path, sizeof path, "%s%climit=" EXPORT_PAGE "%s%s", base,
                 strchr(base, '?') ? '&' : '?', cur[0] ? "&cursor=" : "", cur);
        if ((rc = dcf_cli_request(r, "GET", path, NULL, NULL, &resp)) != 0)
            goto out;
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(resp.body, "items"), i, it) {
            if (json_dumpf(it, f, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0 ||
                fputc('\n', f) == EOF) {
                rc = dcf_cli_fail(r, "%s: write error: %s", out ? out : "stdout", strerror(errno));
                goto out;
            }
            count++;
        }
        const char *next = json_string_value(json_object_get(resp.body, "next_cursor"));
        if (next == NULL)
            break;
        if (json_array_size(json_object_get(resp.body, "items")) == 0 ||
            !dcf_cli_escape(next, cur, sizeof cur)) {
            rc = dcf_cli_fail(r, "the server's pages do not advance");
            goto out;
        }
        dcf_client_resp_clear(&resp);
    }
    if (fflush(f) != 0 || (out != NULL && fsync(fileno(f)) != 0)) {
        rc = dcf_cli_fail(r, "%s: write error: %s", out ? out : "stdout", strerror(errno));
        goto out;
    }
    if (out != NULL) {
        FILE *g = f;
        f = stdout;
        if (fclose(g) != 0 || rename(tmp, out) != 0) {
            rc = dcf_cli_fail(r, "%s: %s", out, strerror(errno));
            goto out;
        }
        tmp[0] = '\0';
    }
    if (!r->json && out != NULL)
        fprintf(stderr, "exported %llu operations to %s\n", count, out);
    rc = 0;
out:
    if (f != stdout)
        fclose(f);
    if (tmp[0] != '\0')
        unlink(tmp);
    dcf_client_resp_clear(&resp);
    json_decref(body);
    return rc;
}
