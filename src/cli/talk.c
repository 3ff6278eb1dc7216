/*
 * talk.c -- `msg send`: a hotline message with typed template fields.
 *
 * The request is the generic one of the table row (type, level, text,
 * template, operations, conflicts, call), plus "fields" built here: the
 * object of --fields-json FILE, then each --field NAME=VALUE over it.  A
 * VALUE that parses as JSON is sent as that value (numbers, booleans,
 * arrays, objects, quoted strings), anything else as a plain string, so
 * `--field altitude_m=3000 --field callsign=VIPER-1` does what it says.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli_int.h"

#define FIELDS_FILE_MAX (1u << 20)

/* The "fields" object of the options; NULL after printing why. */
static json_t *fields_of(dcf_cli_run_t *r) {
    json_t *fields = NULL;
    const char *file = dcf_cli_opt(r, "fields-json");
    if (file != NULL) {
        char *text = NULL, err[256];
        size_t len;
        json_error_t je;
        if (dcf_cli_read_file(file, FIELDS_FILE_MAX, &text, &len, err) != 0) {
            dcf_cli_fail(r, "--fields-json %s: %s", file, err);
            return NULL;
        }
        fields = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        free(text);
        if (!json_is_object(fields)) {
            if (fields == NULL)
                dcf_cli_fail(r, "--fields-json %s:%d:%d: %s", file, je.line, je.column, je.text);
            else
                dcf_cli_fail(r, "--fields-json %s: expected a JSON object", file);
            json_decref(fields);
            return NULL;
        }
    } else if ((fields = json_object()) == NULL) {
        dcf_cli_fail(r, "out of memory");
        return NULL;
    }
    size_t i;
    json_t *f;
    json_array_foreach(dcf_cli_opt_list(r, "field"), i, f) {
        const char *nv = json_string_value(f), *eq = strchr(nv, '=');
        if (eq == NULL || eq == nv) {
            dcf_cli_fail(r, "--field '%s': expected NAME=VALUE", nv);
            json_decref(fields);
            return NULL;
        }
        json_t *v = json_loads(eq + 1, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
        if (v == NULL || dcf_json_too_deep(v, 32)) {
            json_decref(v);
            v = json_string(eq + 1);
        }
        if (v == NULL || json_object_setn_new(fields, nv, (size_t)(eq - nv), v) != 0) {
            dcf_cli_fail(r, "--field '%s': not UTF-8", nv);
            json_decref(fields);
            return NULL;
        }
    }
    return fields;
}

int dcf_cli_msg_send(dcf_cli_run_t *r) {
    char path[1024], ifm[8];
    json_t *body = NULL, *fields = NULL;
    dcf_client_resp_t resp = {0};
    int rc;
    if (dcf_cli_opt(r, "text") == NULL && dcf_cli_opt(r, "template") == NULL)
        return dcf_cli_fail(r, "give --text, or --template with its fields");
    if ((dcf_cli_opt(r, "field") != NULL || dcf_cli_opt(r, "fields-json") != NULL) &&
        dcf_cli_opt(r, "template") == NULL)
        return dcf_cli_fail(r, "--field and --fields-json go with --template");
    if ((rc = dcf_cli_build(r, path, sizeof path, &body, ifm, sizeof ifm, NULL)) != 0)
        return rc;
    if (dcf_cli_opt(r, "template") != NULL) {
        if ((fields = fields_of(r)) == NULL) {
            rc = DCF_CLI_EXIT_USAGE;
            goto out;
        }
        json_object_set_new(body, "fields", fields);
    }
    if ((rc = dcf_cli_request(r, "POST", path, body, NULL, &resp)) != 0)
        goto out;
    if (r->json) {
        dcf_cli_print(r, resp.body, NULL);
    } else {
        const char *deadline = json_string_value(json_object_get(resp.body, "deadline"));
        printf("sent message %lld on %s (%s, %s)%s%s\n",
               (long long)json_integer_value(json_object_get(resp.body, "seq")), r->pos[0],
               json_string_value(json_object_get(resp.body, "type")),
               json_string_value(json_object_get(resp.body, "level")),
               deadline ? "; acknowledgement due by " : "", deadline ? deadline : "");
    }
out:
    dcf_client_resp_clear(&resp);
    json_decref(body);
    return rc;
}
