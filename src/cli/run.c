/*
 * run.c -- how an API subcommand runs: its options parsed against the
 * command table, the server and token chosen, the request sent, the answer
 * printed.
 *
 * Options come only from the table (the subcommand's own rows, then the
 * common rows every server subcommand takes, then the paging rows of a
 * list), so what --help, the completion script and the man page show is
 * exactly what is accepted.  A generic subcommand is a request template:
 * "{n}" in the path is positional argument n (percent-encoded), and each
 * option's value goes where its row says (body member, query argument,
 * If-Match).
 *
 * The server: --url, else $DECONFLICT_URL, else the login config's url.
 * The token: $DECONFLICT_TOKEN, else the login config's token, which is
 * sent only to the config's own url (a token never leaks to a server given
 * on the command line).  Tokens never come from argv here (login is the one
 * exception, for scripts that insist).
 *
 * Output: --json prints the API's JSON as received.  Otherwise lists are
 * tables (aligned, with a header, on a terminal; tab-separated without a
 * header for pipes) and objects "key: value" lines.  Text from the server
 * is printed with control characters replaced, so it cannot drive the
 * terminal.  Colour only on a terminal and only without NO_COLOR.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli_int.h"

#define CONFIG_MAX_BYTES 65536
#define RETRY_429_MAX    5
#define CELL_MAX         60 /* terminal table cells are cut to this many characters */
#define SHOW_ITEMS_MAX   8  /* "show" lists at most this many objects of an array */

static const dcf_cli_opt_t common_opts[] = {
    {"json", NULL, "print the API's JSON answer", DCF_CLI_TO_NONE, NULL, 0},
    {"url", "URL", "server base URL (default $DECONFLICT_URL, then the login config)",
     DCF_CLI_TO_NONE, NULL, 0},
    {"ca-file", "FILE", "extra CA bundle (PEM) for an https server", DCF_CLI_TO_NONE, NULL, 0},
    {"lang", "LANG", "language of template renderings: en or ru (Accept-Language)", DCF_CLI_TO_NONE,
     NULL, 0},
    {NULL, NULL, NULL, 0, NULL, 0},
};

static const dcf_cli_opt_t paged_cursor[] = {
    {"limit", "N", "items per page (the server caps it)", DCF_CLI_TO_QUERY, "limit", 0},
    {"cursor", "C", "start at this page cursor (from the last page's next_cursor)",
     DCF_CLI_TO_QUERY, "cursor", 0},
    {"all", NULL, "follow the cursors and print every page", DCF_CLI_TO_NONE, NULL, 0},
    {NULL, NULL, NULL, 0, NULL, 0},
};

static const dcf_cli_opt_t paged_after[] = {
    {"limit", "N", "items per page (the server caps it)", DCF_CLI_TO_QUERY, "limit", 0},
    {"after", "SEQ", "only messages after this sequence number", DCF_CLI_TO_QUERY, "after", 0},
    {"all", NULL, "follow the pages to the end", DCF_CLI_TO_NONE, NULL, 0},
    {NULL, NULL, NULL, 0, NULL, 0},
};

const dcf_cli_opt_t *dcf_cli_common_opts(void) {
    return common_opts;
}

const dcf_cli_opt_t *dcf_cli_paged_opts(const dcf_cli_sub_t *s) {
    if (!(s->flags & DCF_CLI_PAGED))
        return NULL;
    return (s->flags & DCF_CLI_AFTER) ? paged_after : paged_cursor;
}

int dcf_cli_fail(const dcf_cli_run_t *r, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s: ", r->prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return DCF_CLI_EXIT_USAGE;
}

/* --------------------------------------------------------- options -- */

static int add_opts(dcf_cli_run_t *r, const dcf_cli_opt_t *o) {
    for (; o != NULL && o->name != NULL; o++) {
        if (r->nopt == DCF_CLI_OPTS_MAX)
            return -1;
        r->opt[r->nopt++] = o;
    }
    return 0;
}

static int find_opt(const dcf_cli_run_t *r, const char *name, size_t n) {
    for (size_t i = 0; i < r->nopt; i++)
        if (strlen(r->opt[i]->name) == n && strncmp(r->opt[i]->name, name, n) == 0)
            return (int)i;
    return -1;
}

const char *dcf_cli_opt(const dcf_cli_run_t *r, const char *name) {
    int i = find_opt(r, name, strlen(name));
    return i < 0 ? NULL : r->val[i];
}

json_t *dcf_cli_opt_list(const dcf_cli_run_t *r, const char *name) {
    int i = find_opt(r, name, strlen(name));
    return i < 0 ? NULL : r->list[i];
}

/* How many positionals "ID [FILE] [NAME...]" allows. */
static void arg_counts(const char *args, int *min, int *max) {
    *min = *max = 0;
    const char *p = args ? args : "";
    while (*p != '\0') {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            break;
        const char *w = p;
        while (*p != '\0' && *p != ' ')
            p++;
        size_t n = (size_t)(p - w);
        bool optional = w[0] == '[';
        bool many = n >= 3 && strncmp(p - 3 - (optional ? 1 : 0), "...", 3) == 0;
        if (!optional)
            (*min)++;
        *max = many ? 1000000 : *max + 1;
    }
}

static int parse(dcf_cli_run_t *r, int argc, char **argv) {
    if (add_opts(r, r->sub->opts) < 0 ||
        (!(r->sub->flags & DCF_CLI_LOCAL) && add_opts(r, common_opts) < 0) ||
        add_opts(r, dcf_cli_paged_opts(r->sub)) < 0)
        return dcf_cli_fail(r, "too many options in the command table");
    if ((r->pos = calloc((size_t)argc + 1, sizeof *r->pos)) == NULL)
        return dcf_cli_fail(r, "out of memory");
    bool only_pos = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (!only_pos && strcmp(a, "--") == 0) {
                only_pos = true;
                continue;
            }
            r->pos[r->npos++] = argv[i];
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t n = eq ? (size_t)(eq - name) : strlen(name);
        int k = find_opt(r, name, n);
        if (k < 0)
            return dcf_cli_fail(r, "unknown option '--%.*s' (see '%s --help')", (int)n, name,
                                r->prog);
        const dcf_cli_opt_t *o = r->opt[k];
        const char *v = "";
        if (o->arg == NULL) {
            if (eq != NULL)
                return dcf_cli_fail(r, "--%s takes no value", o->name);
        } else if (eq != NULL) {
            v = eq + 1;
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            return dcf_cli_fail(r, "--%s needs a value (%s)", o->name, o->arg);
        }
        if (r->val[k] != NULL && !(o->flags & DCF_CLI_REPEAT) && o->arg != NULL)
            return dcf_cli_fail(r, "--%s given twice", o->name);
        r->val[k] = v;
        if (o->flags & DCF_CLI_REPEAT) {
            if (r->list[k] == NULL && (r->list[k] = json_array()) == NULL)
                return dcf_cli_fail(r, "out of memory");
            if (json_array_append_new(r->list[k], json_string(v)) != 0)
                return dcf_cli_fail(r, "--%s: the value is not UTF-8", o->name);
        }
    }
    for (size_t k = 0; k < r->nopt; k++)
        if ((r->opt[k]->flags & DCF_CLI_REQUIRED) && r->val[k] == NULL)
            return dcf_cli_fail(r, "--%s %s is required (see '%s --help')", r->opt[k]->name,
                                r->opt[k]->arg ? r->opt[k]->arg : "", r->prog);
    int min, max;
    arg_counts(r->sub->args, &min, &max);
    if (r->npos < min || r->npos > max)
        return dcf_cli_fail(r, "expected %s%s (see '%s --help')",
                            r->sub->args[0] ? "arguments " : "no arguments",
                            r->sub->args[0] ? r->sub->args : "", r->prog);
    r->json = dcf_cli_opt(r, "json") != NULL;
    r->lang = dcf_cli_opt(r, "lang");
    if (r->lang != NULL && strcmp(r->lang, "en") != 0 && strcmp(r->lang, "ru") != 0)
        return dcf_cli_fail(r, "--lang must be en or ru");
    r->tty = isatty(STDOUT_FILENO) == 1;
    const char *nc = getenv("NO_COLOR");
    r->color = r->tty && (nc == NULL || nc[0] == '\0');
    return 0;
}

int dcf_cli_run(const dcf_cli_cmd_t *c, const dcf_cli_sub_t *s, int argc, char **argv) {
    dcf_cli_run_t r;
    memset(&r, 0, sizeof r);
    r.cmd = c;
    r.sub = s;
    if (s->name[0] != '\0')
        snprintf(r.prog, sizeof r.prog, "deconflict %s %s", c->name, s->name);
    else
        snprintf(r.prog, sizeof r.prog, "deconflict %s", c->name);
    int rc = parse(&r, argc, argv);
    if (rc == 0)
        rc = s->fn != NULL ? s->fn(&r) : dcf_cli_generic(&r);
    fflush(stdout);
    for (size_t k = 0; k < r.nopt; k++)
        json_decref(r.list[k]);
    free(r.pos);
    dcf_client_free(r.client);
    return rc;
}

/* ---------------------------------------------------------- config -- */

bool dcf_cli_config_path(char *path, size_t cap) {
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    int n;
    if (xdg != NULL && xdg[0] == '/')
        n = snprintf(path, cap, "%s/deconflict/config.json", xdg);
    else if (home != NULL && home[0] == '/')
        n = snprintf(path, cap, "%s/.config/deconflict/config.json", home);
    else
        return false;
    return n > 0 && (size_t)n < cap;
}

/* The config's url and token (copies into url[ucap], token[tcap]; "" when
 * absent).  Warns about a config others may read. */
static void config_load(char *url, size_t ucap, char *token, size_t tcap) {
    char path[4096];
    url[0] = token[0] = '\0';
    if (!dcf_cli_config_path(path, sizeof path))
        return;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077) != 0)
        fprintf(stderr, "deconflict: warning: %s is readable by others (chmod 600 it)\n", path);
    json_error_t je;
    json_t *j = json_loadf(f, JSON_DISABLE_EOF_CHECK, &je);
    fclose(f);
    if (j == NULL) {
        fprintf(stderr, "deconflict: warning: %s: %s (ignored)\n", path, je.text);
        return;
    }
    const char *u = json_string_value(json_object_get(j, "url"));
    const char *t = json_string_value(json_object_get(j, "token"));
    if (u != NULL && strlen(u) < ucap)
        snprintf(url, ucap, "%s", u);
    if (t != NULL && strlen(t) < tcap)
        snprintf(token, tcap, "%s", t);
    json_decref(j);
}

/* True when two base URLs name the same server: equal but for trailing
 * slashes and the case of the scheme and host.  Anything else (another
 * port, host spelling or path) is another server. */
static bool same_server(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    while (na > 0 && a[na - 1] == '/')
        na--;
    while (nb > 0 && b[nb - 1] == '/')
        nb--;
    if (na != nb || na == 0)
        return false;
    const char *pa = strstr(a, "://"), *ea;
    size_t host_end = pa ? (size_t)(pa - a) + 3 : 0;
    ea = memchr(a + host_end, '/', na - host_end);
    host_end = ea ? (size_t)(ea - a) : na;
    return strncasecmp(a, b, host_end) == 0 &&
           memcmp(a + host_end, b + host_end, na - host_end) == 0;
}

void dcf_cli_config_env(const char *url_arg) {
    const char *u = getenv("DECONFLICT_URL"), *t = getenv("DECONFLICT_TOKEN");
    char url[DCF_CLIENT_URL_MAX + 1], token[DCF_CLIENT_TOKEN_MAX + 1];
    config_load(url, sizeof url, token, sizeof token);
    /* The server the command will talk to; the config's token goes only there. */
    const char *target = url_arg != NULL ? url_arg : (u != NULL && u[0] != '\0') ? u : url;
    if ((u == NULL || u[0] == '\0') && url[0] != '\0')
        setenv("DECONFLICT_URL", url, 1);
    if ((t == NULL || t[0] == '\0') && token[0] != '\0' && same_server(target, url))
        setenv("DECONFLICT_TOKEN", token, 1);
    memset(token, 0, sizeof token);
}

dcf_client_t *dcf_cli_client(dcf_cli_run_t *r) {
    if (r->client != NULL)
        return r->client;
    char curl[DCF_CLIENT_URL_MAX + 1], ctok[DCF_CLIENT_TOKEN_MAX + 1];
    config_load(curl, sizeof curl, ctok, sizeof ctok);
    const char *url = dcf_cli_opt(r, "url");
    if (url == NULL || url[0] == '\0')
        url = getenv("DECONFLICT_URL");
    if (url == NULL || url[0] == '\0')
        url = curl[0] ? curl : NULL;
    const char *token = getenv("DECONFLICT_TOKEN");
    if ((token == NULL || token[0] == '\0') && url != NULL && same_server(url, curl))
        token = ctok;
    if (url == NULL) {
        dcf_cli_fail(r, "no server: run 'deconflict login URL', set DECONFLICT_URL or give --url");
        memset(ctok, 0, sizeof ctok);
        return NULL;
    }
    dcf_client_opts_t o;
    dcf_client_opts_default(&o);
    o.ca_file = dcf_cli_opt(r, "ca-file");
    o.user_agent = "deconflict/" DCF_VERSION_STRING;
    int rc = dcf_client_new(url, token, &o, &r->client);
    memset(ctok, 0, sizeof ctok);
    if (rc == DCF_EINVAL)
        dcf_cli_fail(r, "the URL must be http:// or https:// with a host, and URL and token may "
                        "not hold spaces or control characters");
    else if (rc != DCF_OK)
        dcf_cli_fail(r, "cannot start the HTTP client: %s", dcf_strerror(rc));
    return rc == DCF_OK ? r->client : NULL;
}

/* -------------------------------------------------------- requests -- */

/* Replace control characters (text from the server goes to a terminal). */
static void clean(char *s) {
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

int dcf_cli_problem(const dcf_cli_run_t *r, long status, const json_t *body) {
    char d[600];
    const char *title = json_string_value(json_object_get(body, "title"));
    const char *detail = json_string_value(json_object_get(body, "detail"));
    if (title != NULL && detail != NULL && strcmp(title, detail) == 0)
        snprintf(d, sizeof d, "%s (HTTP %ld)", title, status);
    else
        dcf_client_describe(status, body, d, sizeof d);
    clean(d);
    fprintf(stderr, "%s: %s\n", r->prog, d);
    json_t *errs = json_object_get(body, "errors"), *e;
    size_t i;
    json_array_foreach(errs, i, e) {
        char line[600];
        const char *p = json_string_value(json_object_get(e, "pointer"));
        const char *rule = json_string_value(json_object_get(e, "rule"));
        snprintf(line, sizeof line, "%s: %s", p ? (p[0] ? p : "(document)") : "?",
                 rule ? rule : "?");
        clean(line);
        fprintf(stderr, "  %s\n", line);
        if (i >= 50) {
            fprintf(stderr, "  ... (%zu in all)\n", json_array_size(errs));
            break;
        }
    }
    return status >= 400 && status < 500 ? DCF_CLI_EXIT_NO : DCF_CLI_EXIT_USAGE;
}

int dcf_cli_request(dcf_cli_run_t *r, const char *method, const char *path, const json_t *body,
                    const char *if_match, dcf_client_resp_t *resp) {
    char err[DCF_CLIENT_ERR_LEN];
    char *text = NULL;
    int rc = DCF_CLI_EXIT_USAGE;
    memset(resp, 0, sizeof *resp);
    dcf_client_t *c = dcf_cli_client(r);
    if (c == NULL)
        goto out;
    if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL) {
        dcf_cli_fail(r, "out of memory");
        goto out;
    }
    dcf_client_req_t req = {.method = method,
                            .path = path,
                            .body = text,
                            .body_len = text ? strlen(text) : 0,
                            .if_match = if_match,
                            .accept_language = r->lang};
    for (int attempt = 0;; attempt++) {
        int x = dcf_client_do(c, &req, resp, err, sizeof err);
        if (x != DCF_OK) {
            clean(err);
            dcf_cli_fail(r, "%s", err);
            goto out;
        }
        if (resp->status == 429 && attempt < RETRY_429_MAX) {
            double s = resp->retry_after_s > 0 ? resp->retry_after_s : 1.0;
            if (s > 10)
                s = 10;
            dcf_client_resp_clear(resp);
            struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
            nanosleep(&ts, NULL);
            continue;
        }
        break;
    }
    if (resp->status >= 200 && resp->status < 300) {
        rc = DCF_CLI_EXIT_OK;
        goto out;
    }
    rc = dcf_cli_problem(r, resp->status, resp->body);
    dcf_client_resp_clear(resp);
out:
    free(text);
    return rc;
}

bool dcf_cli_escape(const char *v, char *out, size_t cap) {
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)v; *p != '\0'; p++) {
        bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        if (n + (plain ? 1 : 3) >= cap)
            return false;
        if (plain) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    if (cap == 0)
        return false;
    out[n] = '\0';
    return true;
}

/* --------------------------------------------------------- printing -- */

/* The value at "a/b/0/c" in v, or NULL. */
static const json_t *at(const json_t *v, const char *path, size_t n) {
    const char *p = path, *end = path + n;
    while (v != NULL && p < end) {
        const char *q = memchr(p, '/', (size_t)(end - p));
        size_t len = q ? (size_t)(q - p) : (size_t)(end - p);
        if (json_is_array(v)) {
            char *e = NULL;
            unsigned long i = strtoul(p, &e, 10);
            v = (e == p + len) ? json_array_get(v, i) : NULL;
        } else {
            v = json_object_getn(v, p, len);
        }
        p += len + (q ? 1 : 0);
        if (q == NULL)
            break;
    }
    return v;
}

/* A JSON value as one line of text into out[cap]. */
static void text_of(const json_t *v, char *out, size_t cap) {
    out[0] = '\0';
    if (v == NULL || json_is_null(v)) {
        snprintf(out, cap, "-");
    } else if (json_is_string(v)) {
        snprintf(out, cap, "%s", json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(out, cap, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        snprintf(out, cap, "%g", json_real_value(v));
    } else if (json_is_boolean(v)) {
        snprintf(out, cap, "%s", json_is_true(v) ? "yes" : "no");
    } else {
        char *s = json_dumps(v, JSON_COMPACT);
        snprintf(out, cap, "%s", s ? s : "?");
        free(s);
    }
    clean(out);
}

/* Characters (not bytes) of UTF-8 text. */
static size_t width(const char *s) {
    size_t w = 0;
    for (; *s != '\0'; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

/* Cut s to at most max characters (on a character boundary), marking the cut. */
static void cut(char *s, size_t max) {
    size_t w = 0;
    for (char *p = s; *p != '\0'; p++) {
        if (((unsigned char)*p & 0xC0) != 0x80 && ++w > max) {
            if (max >= 3) {
                /* back up to leave room for "..." */
                char *q = p;
                for (int k = 0; k < 3 && q > s; k++) {
                    do
                        q--;
                    while (q > s && ((unsigned char)*q & 0xC0) == 0x80);
                }
                memcpy(q, "...", 4);
            } else {
                *p = '\0';
            }
            return;
        }
    }
}

static const char *state_color(const char *v) {
    static const struct {
        const char *word, *sgr;
    } map[] = {
        {"open", "31"},         {"ringing", "31;1"}, {"missed", "31"},   {"failed", "31"},
        {"acknowledged", "33"}, {"proposed", "33"},  {"planned", "33"},  {"sent", "33"},
        {"delivered", "33"},    {"accepted", "32"},  {"resolved", "32"}, {"answered", "32"},
        {"ended", "32"},        {"completed", "32"}, {"active", "36"},   {"cancelled", "2"},
        {"declined", "2"},      {"revoked", "2"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].word, v) == 0)
            return map[i].sgr;
    return NULL;
}

#define VIEW_COLS_MAX 12

typedef struct {
    char head[24];
    const char *path; /* into the view string */
    size_t path_len;
    size_t w;
} col_t;

static size_t parse_view(const char *view, col_t *cols) {
    size_t n = 0;
    const char *p = view;
    while (*p != '\0' && n < VIEW_COLS_MAX) {
        while (*p == ' ')
            p++;
        const char *eq = strchr(p, '=');
        if (eq == NULL)
            break;
        const char *end = eq + 1;
        while (*end != '\0' && *end != ' ')
            end++;
        snprintf(cols[n].head, sizeof cols[n].head, "%.*s", (int)(eq - p), p);
        cols[n].path = eq + 1;
        cols[n].path_len = (size_t)(end - eq - 1);
        cols[n].w = width(cols[n].head);
        n++;
        p = end;
    }
    return n;
}

/* The cell of column c for row v: the first alternative that is present. */
static void cell(const col_t *c, const json_t *row, char *out, size_t cap) {
    const char *p = c->path, *end = c->path + c->path_len;
    const json_t *v = NULL;
    while (p < end && (v == NULL || json_is_null(v))) {
        const char *bar = memchr(p, '|', (size_t)(end - p));
        size_t n = bar ? (size_t)(bar - p) : (size_t)(end - p);
        v = at(row, p, n);
        p += n + 1;
    }
    text_of(v, out, cap);
}

void dcf_cli_table(const dcf_cli_run_t *r, const json_t *items, const char *view) {
    col_t cols[VIEW_COLS_MAX];
    size_t nc = parse_view(view, cols), i;
    const json_t *row;
    char buf[512];
    if (r->tty) {
        json_array_foreach(items, i, row) {
            for (size_t k = 0; k < nc; k++) {
                cell(&cols[k], row, buf, sizeof buf);
                cut(buf, CELL_MAX);
                size_t w = width(buf);
                if (w > cols[k].w)
                    cols[k].w = w;
            }
        }
        for (size_t k = 0; k < nc; k++)
            printf("%s%s%s%*s", r->color ? "\033[1m" : "", cols[k].head, r->color ? "\033[0m" : "",
                   k + 1 < nc ? (int)(cols[k].w - width(cols[k].head) + 2) : 0, "");
        putchar('\n');
    }
    json_array_foreach(items, i, row) {
        for (size_t k = 0; k < nc; k++) {
            cell(&cols[k], row, buf, sizeof buf);
            if (!r->tty) {
                printf("%s%s", buf, k + 1 < nc ? "\t" : "");
                continue;
            }
            cut(buf, CELL_MAX);
            const char *sgr =
                (r->color && strcmp(cols[k].head, "STATE") == 0) ? state_color(buf) : NULL;
            if (sgr != NULL)
                printf("\033[%sm%s\033[0m", sgr, buf);
            else
                fputs(buf, stdout);
            if (k + 1 < nc)
                printf("%*s", (int)(cols[k].w - width(buf) + 2), "");
        }
        putchar('\n');
    }
}

/* "key: value" lines for v under key[0..klen). */
static void flat(const dcf_cli_run_t *r, const json_t *v, char *key, size_t klen, size_t cap) {
    char buf[1024];
    if (json_is_object(v) && json_object_size(v) == 0) {
        printf("%s: (none)\n", key);
        return;
    }
    if (json_is_string(v) && strchr(json_string_value(v), '\n') != NULL) {
        /* Several lines (a rendering, a readout): an indented block. */
        printf("%s:\n", key);
        const char *p = json_string_value(v);
        while (*p != '\0') {
            size_t n = strcspn(p, "\n");
            char line[1024];
            snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), p);
            clean(line);
            printf("    %s\n", line);
            p += n + (p[n] == '\n' ? 1 : 0);
        }
        return;
    }
    if (json_is_object(v)) {
        const char *k;
        const json_t *m;
        json_object_foreach((json_t *)v, k, m) {
            int n = snprintf(key + klen, cap - klen, "%s%s", klen ? "." : "", k);
            if (n < 0 || (size_t)n >= cap - klen)
                continue;
            flat(r, m, key, klen + (size_t)n, cap);
        }
        key[klen] = '\0';
        return;
    }
    if (json_is_array(v)) {
        size_t i, n = json_array_size(v);
        const json_t *e;
        bool scalars = true;
        json_array_foreach(v, i, e) scalars = scalars && !json_is_object(e) && !json_is_array(e);
        if (n == 0 || scalars) {
            size_t len = 0;
            buf[0] = '\0';
            json_array_foreach(v, i, e) {
                char t[256];
                text_of(e, t, sizeof t);
                int w = snprintf(buf + len, sizeof buf - len, "%s%s", i ? ", " : "", t);
                if (w < 0 || (size_t)w >= sizeof buf - len)
                    break;
                len += (size_t)w;
            }
            printf("%s: %s\n", key, n == 0 ? "(none)" : buf);
            return;
        }
        if (n > SHOW_ITEMS_MAX) {
            printf("%s: %zu items (--json shows them)\n", key, n);
            return;
        }
        json_array_foreach(v, i, e) {
            int w = snprintf(key + klen, cap - klen, "[%zu]", i);
            if (w < 0 || (size_t)w >= cap - klen)
                continue;
            flat(r, e, key, klen + (size_t)w, cap);
        }
        key[klen] = '\0';
        return;
    }
    text_of(v, buf, sizeof buf);
    const char *last = strrchr(key, '.');
    last = last ? last + 1 : key;
    const char *sgr = (r->color && strcmp(last, "state") == 0) ? state_color(buf) : NULL;
    if (sgr != NULL)
        printf("%s: \033[%sm%s\033[0m\n", key, sgr, buf);
    else
        printf("%s: %s\n", key, buf);
}

void dcf_cli_print(const dcf_cli_run_t *r, const json_t *doc, const char *view) {
    if (doc == NULL) { /* 204 No Content */
        if (!r->json)
            printf("done\n");
        return;
    }
    if (r->json) {
        json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        return;
    }
    const json_t *items = json_is_array(doc) ? doc : json_object_get(doc, "items");
    if (view != NULL && json_is_array(items)) {
        dcf_cli_table(r, items, view);
        const char *next = json_string_value(json_object_get(doc, "next_cursor"));
        json_int_t nexti = json_integer_value(json_object_get(doc, "next_cursor"));
        if (next != NULL)
            fprintf(stderr, "(more: --cursor %s, or --all)\n", next);
        else if (json_is_integer(json_object_get(doc, "next_cursor")))
            fprintf(stderr, "(more: --after %lld, or --all)\n", (long long)nexti);
        return;
    }
    char key[512] = "";
    flat(r, doc, key, 0, sizeof key);
}

/* --------------------------------------------------------- generic -- */

/* Set body member at "a/b/c" (creating objects on the way); takes v. */
static bool body_set(json_t *body, const char *path, json_t *v) {
    char part[128];
    json_t *o = body;
    for (;;) {
        const char *slash = strchr(path, '/');
        if (slash == NULL)
            break;
        size_t n = (size_t)(slash - path);
        if (n >= sizeof part) {
            json_decref(v);
            return false;
        }
        memcpy(part, path, n);
        part[n] = '\0';
        json_t *next = json_object_get(o, part);
        if (next == NULL) {
            next = json_object();
            if (next == NULL || json_object_set_new(o, part, next) != 0) {
                json_decref(v);
                return false;
            }
        }
        o = next;
        path = slash + 1;
    }
    return v != NULL && json_object_set_new(o, path, v) == 0;
}

int dcf_cli_build(dcf_cli_run_t *r, char *path, size_t cap, json_t **body, char *ifm, size_t icap,
                  const char *skip) {
    size_t n = 0;
    char esc[1024];
    *body = NULL;
    ifm[0] = '\0';
    for (const char *p = r->sub->path ? r->sub->path : ""; *p != '\0'; p++) {
        const char *v = NULL;
        char one[2] = {*p, '\0'};
        if (p[0] == '{' && p[1] >= '1' && p[1] <= '9' && p[2] == '}') {
            int k = p[1] - '1';
            if (k >= r->npos)
                return dcf_cli_fail(r, "missing argument %d", k + 1);
            if (!dcf_cli_escape(r->pos[k], esc, sizeof esc))
                return dcf_cli_fail(r, "argument %d is too long", k + 1);
            v = esc;
            p += 2;
        } else {
            v = one;
        }
        size_t l = strlen(v);
        if (n + l >= cap)
            return dcf_cli_fail(r, "the request path is too long");
        memcpy(path + n, v, l + 1);
        n += l;
    }
    json_t *b = (r->sub->flags & DCF_CLI_BODY) ? json_object() : NULL;
    char sep = strchr(path, '?') ? '&' : '?';
    for (size_t k = 0; k < r->nopt; k++) {
        const dcf_cli_opt_t *o = r->opt[k];
        const char *v = r->val[k];
        const char *key = o->key ? o->key : o->name;
        if (v == NULL || o->to == DCF_CLI_TO_NONE)
            continue;
        if (o->to == DCF_CLI_TO_QUERY && skip != NULL && strcmp(key, skip) == 0)
            continue;
        if (o->to == DCF_CLI_TO_QUERY) {
            if (!dcf_cli_escape(v, esc, sizeof esc) || n + strlen(key) + strlen(esc) + 3 >= cap) {
                json_decref(b);
                return dcf_cli_fail(r, "--%s is too long", o->name);
            }
            n += (size_t)snprintf(path + n, cap - n, "%c%s=%s", sep, key, esc);
            sep = '&';
            continue;
        }
        if (o->to == DCF_CLI_TO_IFMATCH) {
            char *e = NULL;
            long long ver = strtoll(v, &e, 10);
            if (e == v || *e != '\0' || ver < 1) {
                json_decref(b);
                return dcf_cli_fail(r, "--%s must be a version number", o->name);
            }
            snprintf(ifm, icap, "\"%lld\"", ver);
            continue;
        }
        if (b == NULL && (b = json_object()) == NULL)
            return dcf_cli_fail(r, "out of memory");
        json_t *jv = NULL;
        char *e = NULL;
        switch (o->to) {
        case DCF_CLI_TO_BODY:
            jv = json_string(v);
            break;
        case DCF_CLI_TO_INT: {
            errno = 0;
            long long x = strtoll(v, &e, 10);
            if (e != v && *e == '\0' && errno == 0)
                jv = json_integer(x);
            break;
        }
        case DCF_CLI_TO_NUM: {
            double x = strtod(v, &e);
            if (e != v && *e == '\0')
                jv = json_real(x);
            break;
        }
        case DCF_CLI_TO_FILE: {
            char *text = NULL, ferr[256];
            size_t len;
            if (dcf_cli_read_file(v, 1u << 20, &text, &len, ferr) != 0) {
                json_decref(b);
                return dcf_cli_fail(r, "--%s %s: %s", o->name, v, ferr);
            }
            jv = json_stringn(text, len);
            free(text);
            break;
        }
        case DCF_CLI_TO_LIST:
            jv = json_deep_copy(r->list[k]);
            break;
        default:
            break;
        }
        if (jv == NULL) {
            json_decref(b);
            return dcf_cli_fail(r, "--%s: '%s' is not a valid %s", o->name, v,
                                o->to == DCF_CLI_TO_INT   ? "integer"
                                : o->to == DCF_CLI_TO_NUM ? "number"
                                                          : "UTF-8 string");
        }
        if (!body_set(b, key, jv)) {
            json_decref(b);
            return dcf_cli_fail(r, "out of memory");
        }
    }
    *body = b;
    return 0;
}

int dcf_cli_generic(dcf_cli_run_t *r) {
    char base[4096], path[4096 + 600], ifm[32];
    json_t *body = NULL, *all = NULL;
    dcf_client_resp_t resp = {0};
    const char *cname = (r->sub->flags & DCF_CLI_AFTER) ? "after" : "cursor";
    bool paged = (r->sub->flags & DCF_CLI_PAGED) != 0;
    int rc = dcf_cli_build(r, base, sizeof base, &body, ifm, sizeof ifm, paged ? cname : NULL);
    if (rc != 0)
        return rc;
    bool walk = paged && dcf_cli_opt(r, "all") != NULL;
    const char *cursor = paged ? dcf_cli_opt(r, cname) : NULL;
    char cur[600] = "";
    if (cursor != NULL && !dcf_cli_escape(cursor, cur, sizeof cur)) {
        rc = dcf_cli_fail(r, "--%s is too long", cname);
        goto out;
    }
    for (long page = 0;; page++) {
        snprintf(path, sizeof path, "%s%s%s%s%s", base,
                 cur[0] ? (strchr(base, '?') ? "&" : "?") : "", cur[0] ? cname : "",
                 cur[0] ? "=" : "", cur);
        rc = dcf_cli_request(r, r->sub->method, path, body, ifm[0] ? ifm : NULL, &resp);
        if (rc != 0)
            goto out;
        if (!walk)
            break;
        json_t *items = json_object_get(resp.body, "items");
        if (all == NULL && (all = json_pack("{s:[], s:n}", "items", "next_cursor")) == NULL) {
            rc = dcf_cli_fail(r, "out of memory");
            goto out;
        }
        json_array_extend(json_object_get(all, "items"), items);
        json_t *next = json_object_get(resp.body, "next_cursor");
        char nv[512];
        if (json_is_string(next))
            snprintf(nv, sizeof nv, "%s", json_string_value(next));
        else if (json_is_integer(next))
            snprintf(nv, sizeof nv, "%lld", (long long)json_integer_value(next));
        else
            break;
        if (json_array_size(items) == 0 || !dcf_cli_escape(nv, cur, sizeof cur)) {
            rc = dcf_cli_fail(r, "the server's pages do not advance");
            goto out;
        }
        dcf_client_resp_clear(&resp);
    }
    dcf_cli_print(r, all ? all : resp.body, r->sub->view);
out:
    json_decref(all);
    json_decref(body);
    dcf_client_resp_clear(&resp);
    return rc;
}
