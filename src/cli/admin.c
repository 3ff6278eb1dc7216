/*
 * admin.c -- `login`, `logout` and the admin commands that are more than one
 * request template: `party create`, `token list`, `token create`.
 *
 * The login config is {"url": ..., "token": ...} at
 * $XDG_CONFIG_HOME/deconflict/config.json (else ~/.config/deconflict/...).
 * Invariants: the directory is created mode 0700 and the file is written to
 * a temporary file of mode 0600 in the same directory, fsynced and renamed,
 * so a reader sees the old config or the new one and never a file others
 * could read; login stores a token only after the server accepted it
 * (GET /v1/whoami); the token buffer is wiped after use.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli_int.h"

/* Read one line (without its end) from fd into buf[cap]; echo off on a
 * terminal.  False when nothing could be read or it did not fit. */
static bool read_secret(int fd, bool prompt, char *buf, size_t cap) {
    struct termios old, quiet;
    bool tty = isatty(fd) == 1, restore = false;
    if (tty && prompt) {
        fprintf(stderr, "token: ");
        fflush(stderr);
        if (tcgetattr(fd, &old) == 0) {
            quiet = old;
            quiet.c_lflag &= ~(tcflag_t)ECHO;
            restore = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
        }
    }
    size_t n = 0;
    bool ok = true;
    for (;;) {
        char ch;
        ssize_t got = read(fd, &ch, 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0 || ch == '\n')
            break;
        if (ch == '\r')
            continue;
        if (n + 1 >= cap) {
            ok = false;
            continue;
        }
        buf[n++] = ch;
    }
    buf[n] = '\0';
    if (restore) {
        tcsetattr(fd, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    /* Trim surrounding blanks (a pasted token often has them). */
    size_t s = 0;
    while (buf[s] == ' ' || buf[s] == '\t')
        s++;
    memmove(buf, buf + s, strlen(buf + s) + 1);
    for (n = strlen(buf); n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t');)
        buf[--n] = '\0';
    return ok && buf[0] != '\0';
}

/* mkdir -p of the directory part of path, each new level 0700; the last
 * level is then made 0700 even if it existed. */
static int make_dirs(const char *path, char *err, size_t n) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            snprintf(err, n, "%.400s: %s", dir, strerror(errno));
            return -1;
        }
        *p = '/';
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, n, "%.400s: %s", dir, strerror(errno));
        return -1;
    }
    if (chmod(dir, 0700) != 0) {
        snprintf(err, n, "%.400s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

static int config_write(const char *path, const char *url, const char *token, char *err, size_t n) {
    char tmp[4200];
    json_t *j = NULL;
    char *text = NULL;
    int fd = -1, rc = -1;
    if (make_dirs(path, err, n) != 0)
        return -1;
    snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path);
    if ((j = json_pack("{s:s, s:s}", "url", url, "token", token)) == NULL ||
        (text = json_dumps(j, JSON_INDENT(2))) == NULL) {
        snprintf(err, n, "out of memory");
        goto out;
    }
    if ((fd = mkstemp(tmp)) < 0) { /* mkstemp creates the file with mode 0600 */
        snprintf(err, n, "%.400s: %s", tmp, strerror(errno));
        tmp[0] = '\0';
        goto out;
    }
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(err, n, "%.400s: %s", tmp, strerror(errno));
            goto out;
        }
        off += (size_t)w;
    }
    if (write(fd, "\n", 1) != 1 || fchmod(fd, 0600) != 0 || fsync(fd) != 0) {
        snprintf(err, n, "%.400s: %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        snprintf(err, n, "%.400s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        snprintf(err, n, "%.400s: %s", path, strerror(errno));
        goto out;
    }
    tmp[0] = '\0';
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (tmp[0] != '\0')
        unlink(tmp);
    if (text != NULL) {
        memset(text, 0, strlen(text));
        free(text);
    }
    json_decref(j);
    return rc;
}

int dcf_cli_login(dcf_cli_run_t *r) {
    char token[DCF_CLIENT_TOKEN_MAX + 2], path[4096], err[512];
    dcf_client_t *c = NULL;
    dcf_client_resp_t resp = {0};
    int rc = DCF_CLI_EXIT_USAGE;
    const char *url = r->pos[0], *t = dcf_cli_opt(r, "token");
    token[0] = '\0';

    if (!dcf_cli_config_path(path, sizeof path)) {
        rc = dcf_cli_fail(r, "neither XDG_CONFIG_HOME nor HOME is set: nowhere to keep the config");
        goto out;
    }
    if (t != NULL && dcf_cli_opt(r, "token-stdin") != NULL) {
        rc = dcf_cli_fail(r, "give --token or --token-stdin, not both");
        goto out;
    }
    if (t != NULL) {
        if (strlen(t) > DCF_CLIENT_TOKEN_MAX) {
            rc = dcf_cli_fail(r, "the token is too long");
            goto out;
        }
        snprintf(token, sizeof token, "%s", t);
    } else if (!read_secret(STDIN_FILENO, dcf_cli_opt(r, "token-stdin") == NULL, token,
                            sizeof token)) {
        rc = dcf_cli_fail(r, "no token read (or longer than %d bytes)", DCF_CLIENT_TOKEN_MAX);
        goto out;
    }
    dcf_client_opts_t o;
    dcf_client_opts_default(&o);
    o.ca_file = dcf_cli_opt(r, "ca-file");
    o.user_agent = "deconflict/" DCF_VERSION_STRING;
    if (dcf_client_new(url, token, &o, &c) != DCF_OK) {
        rc = dcf_cli_fail(r, "the URL must be http:// or https:// with a host, and URL and token "
                             "may not hold spaces or control characters");
        goto out;
    }
    if (dcf_client_do(c, &(dcf_client_req_t){.method = "GET", .path = "/v1/whoami"}, &resp, err,
                      sizeof err) != DCF_OK) {
        rc = dcf_cli_fail(r, "%s", err);
        goto out;
    }
    if (resp.status != 200) {
        rc = dcf_cli_problem(r, resp.status, resp.body);
        goto out;
    }
    if (config_write(path, dcf_client_url(c), token, err, sizeof err) != 0) {
        rc = dcf_cli_fail(r, "cannot write the config: %s", err);
        goto out;
    }
    if (r->json) {
        dcf_cli_print(r, resp.body, NULL);
    } else {
        const char *party = json_string_value(json_object_get(resp.body, "party"));
        printf("logged in to %s as %s%s%s (token %s); saved in %s\n", dcf_client_url(c),
               json_string_value(json_object_get(resp.body, "role")), party ? " of " : "",
               party ? party : "", json_string_value(json_object_get(resp.body, "token")), path);
    }
    rc = 0;
out:
    memset(token, 0, sizeof token);
    dcf_client_resp_clear(&resp);
    dcf_client_free(c);
    return rc;
}

int dcf_cli_logout(dcf_cli_run_t *r) {
    char path[4096];
    if (!dcf_cli_config_path(path, sizeof path))
        return dcf_cli_fail(r, "neither XDG_CONFIG_HOME nor HOME is set");
    if (unlink(path) != 0) {
        if (errno == ENOENT) {
            printf("not logged in\n");
            return 0;
        }
        return dcf_cli_fail(r, "%s: %s", path, strerror(errno));
    }
    printf("logged out (removed %s; the token itself stays valid until revoked)\n", path);
    return 0;
}

/* ------------------------------------------------------------ party -- */

int dcf_cli_party_create(dcf_cli_run_t *r) {
    dcf_client_resp_t resp = {0};
    json_t *body = json_pack("{s:s, s:s}", "id", r->pos[0], "name", dcf_cli_opt(r, "name"));
    int rc = DCF_CLI_EXIT_USAGE;
    const char *desks = dcf_cli_opt(r, "desks-json");
    if (body == NULL) {
        rc = dcf_cli_fail(r, "the id and name must be UTF-8");
        goto out;
    }
    if (desks != NULL) {
        json_error_t je;
        json_t *d = json_load_file(desks, JSON_REJECT_DUPLICATES, &je);
        if (d == NULL) {
            rc = dcf_cli_fail(r, "%s:%d:%d: %s", desks, je.line, je.column, je.text);
            goto out;
        }
        json_object_set_new(body, "desks", d);
    }
    if ((rc = dcf_cli_request(r, "POST", "/v1/parties", body, NULL, &resp)) == 0)
        dcf_cli_print(r, resp.body, NULL);
out:
    dcf_client_resp_clear(&resp);
    json_decref(body);
    return rc;
}

/* ----------------------------------------------------------- tokens -- */

/* The --party option, or the caller's own party (whoami) into out[cap];
 * "" for the admin without --party.  0 or an exit code. */
static int party_of(dcf_cli_run_t *r, char *out, size_t cap) {
    const char *p = dcf_cli_opt(r, "party");
    out[0] = '\0';
    if (p != NULL) {
        if (!dcf_cli_escape(p, out, cap))
            return dcf_cli_fail(r, "--party is too long");
        return 0;
    }
    dcf_client_resp_t resp;
    int rc = dcf_cli_request(r, "GET", "/v1/whoami", NULL, NULL, &resp);
    if (rc != 0)
        return rc;
    const char *own = json_string_value(json_object_get(resp.body, "party"));
    if (own != NULL && !dcf_cli_escape(own, out, cap))
        rc = dcf_cli_fail(r, "the party id is too long");
    dcf_client_resp_clear(&resp);
    return rc;
}

int dcf_cli_token_list(dcf_cli_run_t *r) {
    char party[128], path[256];
    dcf_client_resp_t resp;
    int rc = party_of(r, party, sizeof party);
    if (rc != 0)
        return rc;
    if (party[0] == '\0')
        return dcf_cli_fail(r, "the admin has no party: give --party ID");
    snprintf(path, sizeof path, "/v1/parties/%s/tokens", party);
    if ((rc = dcf_cli_request(r, "GET", path, NULL, NULL, &resp)) == 0)
        dcf_cli_print(r, resp.body, r->sub->view);
    dcf_client_resp_clear(&resp);
    return rc;
}

int dcf_cli_token_create(dcf_cli_run_t *r) {
    char party[128], path[256];
    dcf_client_resp_t resp;
    json_t *body = NULL;
    const char *role = dcf_cli_opt(r, "role");
    int rc = 0;
    if (strcmp(role, "admin") == 0) {
        if (dcf_cli_opt(r, "party") != NULL)
            return dcf_cli_fail(r, "an admin token belongs to no party: leave out --party");
        snprintf(path, sizeof path, "/v1/tokens");
    } else {
        if ((rc = party_of(r, party, sizeof party)) != 0)
            return rc;
        if (party[0] == '\0')
            return dcf_cli_fail(r, "the admin has no party: give --party ID");
        snprintf(path, sizeof path, "/v1/parties/%s/tokens", party);
    }
    char ignored[1024], ifm[8];
    json_t *b = NULL;
    if ((rc = dcf_cli_build(r, ignored, sizeof ignored, &b, ifm, sizeof ifm, NULL)) != 0)
        return rc;
    body = b;
    if ((rc = dcf_cli_request(r, "POST", path, body, NULL, &resp)) == 0) {
        if (r->json) {
            dcf_cli_print(r, resp.body, NULL);
        } else {
            printf("%s\n", json_string_value(json_object_get(resp.body, "token")));
            fprintf(stderr, "created %s (%s%s%s); the secret above is shown only once\n",
                    json_string_value(json_object_get(resp.body, "id")), role,
                    json_is_string(json_object_get(resp.body, "party")) ? " of " : "",
                    json_is_string(json_object_get(resp.body, "party"))
                        ? json_string_value(json_object_get(resp.body, "party"))
                        : "");
        }
    }
    dcf_client_resp_clear(&resp);
    json_decref(body);
    return rc;
}
