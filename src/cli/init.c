/*
 * init.c -- `deconflict init`: create (or migrate) the store and print the
 * deployment's first admin token, once.  With --demo it also sets up the
 * two demo parties `blue` and `red` with desks, tokens, a hotline line
 * between them and the operations of examples/syria-air.json moved to
 * start an hour from now, so that the demo has at least one conflict (and
 * its notice on the line) to look at.
 *
 * The token secrets appear on stdout only; the store keeps their hashes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli_int.h"
#include "deconflict/geo.h"
#include "deconflict/service.h"

#define DEMO_FILE_MAX (16u << 20)

static const char *const DEMO_ROLES[] = {"party-admin", "planner", "duty", "senior", "viewer"};

static int demo_party(dcf_service_t *s, const dcf_principal_t *admin, const char *id,
                      const char *name, const char *phone, json_t *tokens_out) {
    dcf_problem_t p = {0};
    json_t *out = NULL;
    char body[512];
    snprintf(body, sizeof body,
             "{\"id\": \"%s\", \"name\": \"%s\", \"desks\": {"
             "\"duty\": {\"contact\": {\"name\": \"%s duty officer\", \"phone\": \"%s\"}},"
             "\"senior\": {\"contact\": {\"name\": \"%s senior officer\"}}}}",
             id, name, name, phone, name);
    int rc = dcf_party_create(s, admin, body, strlen(body), &out, &p);
    json_decref(out);
    if (rc != DCF_OK) {
        fprintf(stderr, "deconflict init: demo party %s: %s\n", id, p.title);
        dcf_problem_clear(&p);
        return rc;
    }
    json_t *mine = json_object();
    for (size_t i = 0; i < sizeof DEMO_ROLES / sizeof DEMO_ROLES[0]; i++) {
        snprintf(body, sizeof body, "{\"role\": \"%s\", \"label\": \"demo\"}", DEMO_ROLES[i]);
        out = NULL;
        rc = dcf_token_create(s, admin, id, body, strlen(body), &out, &p);
        if (rc != DCF_OK) {
            fprintf(stderr, "deconflict init: demo token: %s\n", p.title);
            dcf_problem_clear(&p);
            json_decref(mine);
            return rc;
        }
        json_object_set(mine, DEMO_ROLES[i], json_object_get(out, "token"));
        json_decref(out);
    }
    json_object_set_new(tokens_out, id, mine);
    return DCF_OK;
}

/* The demo's hotline: blue proposes a line to red, red accepts, so the
 * demo's conflicts arrive on it as notices. */
static int demo_line(dcf_service_t *s, json_t *tokens) {
    dcf_principal_t who[2];
    const char *party[2] = {"blue", "red"};
    dcf_problem_t p = {0};
    json_t *line = NULL, *out = NULL;
    for (int i = 0; i < 2; i++) {
        const char *t =
            json_string_value(json_object_get(json_object_get(tokens, party[i]), "party-admin"));
        if (t == NULL || dcf_service_authenticate(s, t, &who[i]) != DCF_OK)
            return DCF_EINTERNAL;
    }
    static const char BODY[] =
        "{\"name\": \"Blue-Red deconfliction line\", \"members\": [\"red\"]}";
    int rc = dcf_line_create(s, &who[0], BODY, sizeof BODY - 1, &line, &p);
    if (rc == DCF_OK)
        rc = dcf_line_accept(s, &who[1], json_string_value(json_object_get(line, "id")), &out, &p);
    if (rc != DCF_OK) {
        fprintf(stderr, "deconflict init: demo line: %s\n", p.title);
        dcf_problem_clear(&p);
    }
    json_decref(line);
    json_decref(out);
    return rc;
}

/* Post every operation of the demo file, shifted to start an hour from now. */
static int demo_operations(dcf_service_t *s, const char *path, json_t *tokens, size_t *n_ops,
                           size_t *n_conflicts) {
    char err[256], *text = NULL;
    size_t len;
    json_error_t je;
    dcf_geo_error_t ge;
    dcf_geo_limits_t lim;
    dcf_operation_list_t list = {0};
    int rc = DCF_EINVAL;
    if (dcf_cli_read_file(path, DEMO_FILE_MAX, &text, &len, err) != 0) {
        fprintf(stderr, "deconflict init: %s\n", err);
        return DCF_EIO;
    }
    json_t *doc = json_loadb(text, len, 0, &je);
    free(text);
    dcf_geo_limits_default(&lim);
    if (doc == NULL ||
        dcf_operations_from_document(doc, &lim, DCF_PARSE_REQUIRE_PARTY, &list, &ge) != DCF_OK) {
        fprintf(stderr, "deconflict init: %s: %s %s\n", path, doc ? ge.pointer : je.text,
                doc ? ge.rule : "");
        json_decref(doc);
        return DCF_EINVAL;
    }
    json_decref(doc);
    dcf_time_t first = INT64_MAX;
    for (size_t i = 0; i < list.n; i++)
        for (size_t v = 0; v < list.ops[i]->n_volumes; v++)
            if (list.ops[i]->volumes[v].t_start < first)
                first = list.ops[i]->volumes[v].t_start;
    const dcf_time_t minute = 60 * DCF_USEC_PER_SEC;
    dcf_time_t target = (dcf_time_now() / minute + 60) * minute; /* a whole minute, ~1 h ahead */
    dcf_time_t shift = target - first;
    for (size_t i = 0; i < list.n; i++) {
        dcf_operation_t *op = list.ops[i];
        const char *planner =
            json_string_value(json_object_get(json_object_get(tokens, op->party), "planner"));
        dcf_principal_t who;
        if (planner == NULL || dcf_service_authenticate(s, planner, &who) != DCF_OK) {
            fprintf(stderr, "deconflict init: %s: party %s is not a demo party\n", path, op->party);
            rc = DCF_EINVAL;
            goto out;
        }
        for (size_t v = 0; v < op->n_volumes; v++) {
            op->volumes[v].t_start += shift;
            op->volumes[v].t_end += shift;
        }
        op->id[0] = '\0';
        json_t *j = dcf_operation_to_json(op);
        char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        json_t *out = NULL;
        dcf_problem_t p = {0};
        char etag[24];
        rc = body ? dcf_op_create(s, &who, body, strlen(body), &out, etag, &p) : DCF_ENOMEM;
        free(body);
        if (rc != DCF_OK) {
            fprintf(stderr, "deconflict init: demo operation %zu: %s\n", i,
                    p.title[0] ? p.title : dcf_strerror(rc));
            dcf_problem_clear(&p);
            goto out;
        }
        *n_conflicts += json_array_size(json_object_get(out, "conflicts"));
        json_decref(out);
        (*n_ops)++;
    }
    rc = DCF_OK;
out:
    dcf_operation_list_free(&list);
    return rc;
}

int dcf_cli_init(int argc, char **argv) {
    const char *db = "deconflict.db", *rules = "", *demo_file = "examples/syria-air.json",
               *audit_key = "";
    char keybuf[4096 + 16];
    bool as_json = false, demo = false;
    char err[512], secret[DCF_TOKEN_LEN + 1];
    dcf_service_t *s = NULL;
    int status = 2;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0)
            as_json = true;
        else if (strcmp(a, "--demo") == 0)
            demo = true;
        else if (strcmp(a, "--audit-key") == 0 && i + 1 < argc)
            audit_key = argv[++i];
        else if ((strcmp(a, "--db") == 0 || strcmp(a, "--rules") == 0 ||
                  strcmp(a, "--demo-file") == 0) &&
                 i + 1 < argc) {
            const char **dst = a[2] == 'd' && a[3] == 'b' ? &db : a[2] == 'r' ? &rules : &demo_file;
            *dst = argv[++i];
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            dcf_cli_usage(stdout, dcf_cli_command("init"));
            return 0;
        } else {
            fprintf(stderr, "deconflict init: unknown or incomplete option '%s'\n", a);
            return 2;
        }
    }
    dcf_service_opts_t so;
    if (strlen(db) > 4096) {
        fprintf(stderr, "deconflict init: --db: longer than 4096 bytes\n");
        return 2;
    }
    dcf_cli_service_opts(&so, db, rules, audit_key, keybuf, sizeof keybuf);
    so.notice_us = 0;
    /* The audit signing key first: the service will not open without it.
     * An existing key is kept (never overwritten). */
    int krc = dcf_service_audit_keygen(so.audit_key_path, err, sizeof err);
    if (krc != DCF_OK && krc != DCF_EEXIST) {
        fprintf(stderr, "deconflict init: audit signing key: %s\n", err);
        return 2;
    }
    if (dcf_service_open(&so, &s, err, sizeof err) != DCF_OK) {
        fprintf(stderr, "deconflict init: %s\n", err);
        return 2;
    }
    int rc = dcf_service_init_admin(s, secret, sizeof secret);
    if (rc == DCF_EEXIST) {
        fprintf(stderr,
                "deconflict init: %s is already initialised (it has an admin token); nothing "
                "changed\n",
                db);
        status = 1;
        goto out;
    }
    if (rc != DCF_OK) {
        fprintf(stderr, "deconflict init: %s\n", dcf_strerror(rc));
        goto out;
    }
    json_t *report = json_pack("{s:s, s:s}", "db", db, "admin_token", secret);
    if (demo) {
        dcf_principal_t admin;
        json_t *tokens = json_object();
        size_t n_ops = 0, n_conflicts = 0;
        if (dcf_service_authenticate(s, secret, &admin) != DCF_OK ||
            demo_party(s, &admin, "blue", "Blue Force", "+1 555 0100", tokens) != DCF_OK ||
            demo_party(s, &admin, "red", "Red Force", "+7 555 0100", tokens) != DCF_OK ||
            demo_line(s, tokens) != DCF_OK ||
            demo_operations(s, demo_file, tokens, &n_ops, &n_conflicts) != DCF_OK) {
            json_decref(tokens);
            json_decref(report);
            goto out;
        }
        json_object_set_new(report, "demo",
                            json_pack("{s:o, s:I, s:I}", "tokens", tokens, "operations",
                                      (json_int_t)n_ops, "conflicts", (json_int_t)n_conflicts));
    }
    if (as_json) {
        char *text = json_dumps(report, JSON_INDENT(2));
        printf("%s\n", text ? text : "{}");
        free(text);
    } else {
        printf("initialised %s\nadmin token: %s\n", db, secret);
        json_t *d = json_object_get(report, "demo");
        if (d != NULL) {
            const char *party;
            json_t *toks;
            printf("demo: %lld operations, %lld conflicts\n",
                   (long long)json_integer_value(json_object_get(d, "operations")),
                   (long long)json_integer_value(json_object_get(d, "conflicts")));
            json_object_foreach(json_object_get(d, "tokens"), party, toks) {
                const char *role;
                json_t *t;
                json_object_foreach(toks, role, t) {
                    printf("%s %s token: %s\n", party, role, json_string_value(t));
                }
            }
        }
        printf("Each token is shown once; keep it safe.\n");
    }
    json_decref(report);
    status = 0;
out:
    dcf_service_close(s);
    return status;
}
