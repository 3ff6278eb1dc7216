/*
 * test_cli_table.c -- the command table and the documents generated from
 * it agree: every command, subcommand and option of the table appears in
 * the help (overview, each command's and subcommand's --help), in the bash
 * completion script and in the man page; names are unique; every generic
 * subcommand has a request; option rows are well formed.  It also runs a
 * few local commands through dcf_cli_main and checks their exit codes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"
#include "deconflict/cli.h"
#include "test.h"

typedef struct {
    char *text;
    size_t len;
    FILE *f;
} mem_t;

static void mem_open(mem_t *m) {
    memset(m, 0, sizeof *m);
    m->f = open_memstream(&m->text, &m->len);
}

static char *mem_close(mem_t *m) {
    fclose(m->f);
    return m->text;
}

/* True when `word` occurs in text as a whole word (not inside a longer
 * name: the characters around it are not [a-z0-9-]). */
static int has_word(const char *text, const char *word) {
    size_t n = strlen(word);
    for (const char *p = text; (p = strstr(p, word)) != NULL; p++) {
        char before = p == text ? ' ' : p[-1], after = p[n];
        int inner_b =
            (before >= 'a' && before <= 'z') || (before >= '0' && before <= '9') || before == '_';
        int inner_a = (after >= 'a' && after <= 'z') || (after >= '0' && after <= '9') ||
                      after == '-' || after == '_';
        if (!inner_b && !inner_a)
            return 1;
    }
    return 0;
}

/* The option as each document spells it: "--name" in help and completion,
 * "\-\-name" in roff. */
static void check_opt(const dcf_cli_opt_t *o, const char *help, const char *bash, const char *man,
                      const char *where) {
    char dash[80], roff[120];
    snprintf(dash, sizeof dash, "--%s", o->name);
    snprintf(roff, sizeof roff, "\\-\\-");
    size_t k = strlen(roff);
    for (const char *p = o->name; *p && k + 3 < sizeof roff; p++) {
        if (*p == '-') {
            roff[k++] = '\\';
            roff[k++] = '-';
        } else {
            roff[k++] = *p;
        }
    }
    roff[k] = '\0';
    CHECK_MSG(has_word(help, dash), "%s: %s not in its --help", where, dash);
    CHECK_MSG(has_word(bash, dash), "%s: %s not in the completion script", where, dash);
    CHECK_MSG(strstr(man, roff) != NULL, "%s: %s not in the man page", where, roff);
    CHECK_MSG(o->help != NULL && o->help[0] != '\0', "%s: %s has no help", where, dash);
}

static void test_documents_agree(void) {
    size_t n;
    const dcf_cli_cmd_t *cs = dcf_cli_commands(&n);
    mem_t m;
    mem_open(&m);
    dcf_cli_doc_overview(m.f);
    char *overview = mem_close(&m);
    mem_open(&m);
    dcf_cli_doc_completion_bash(m.f);
    char *bash = mem_close(&m);
    mem_open(&m);
    dcf_cli_doc_man(m.f);
    char *man = mem_close(&m);

    CHECK(n >= 20);
    for (size_t i = 0; i < n; i++) {
        const dcf_cli_cmd_t *c = &cs[i];
        char roffname[64];
        snprintf(roffname, sizeof roffname, "deconflict %s", c->name);
        CHECK_MSG(has_word(overview, c->name), "command %s not in 'deconflict help'", c->name);
        CHECK_MSG(has_word(bash, c->name), "command %s not in the completion script", c->name);
        CHECK_MSG(strstr(man, roffname) != NULL || strcmp(c->name, "help") == 0 ||
                      strcmp(c->name, "version") == 0 || has_word(man, c->name),
                  "command %s not in the man page", c->name);
        for (size_t j = i + 1; j < n; j++)
            CHECK_MSG(strcmp(c->name, cs[j].name) != 0, "command %s twice", c->name);
        mem_open(&m);
        dcf_cli_doc_command(m.f, c);
        char *chelp = mem_close(&m);
        CHECK_MSG(strstr(chelp, "usage: deconflict ") != NULL, "%s --help has no usage", c->name);
        if (c->subs == NULL) {
            CHECK_MSG(c->fn != NULL && c->synopsis != NULL && c->help != NULL,
                      "command %s lacks a handler or help", c->name);
            free(chelp);
            continue;
        }
        for (const dcf_cli_sub_t *s = c->subs; s->name != NULL; s++) {
            char where[96];
            snprintf(where, sizeof where, "%s %s", c->name, s->name);
            CHECK_MSG(s->fn != NULL || (s->method != NULL && s->path != NULL),
                      "%s: neither handler nor request", where);
            CHECK_MSG(s->summary != NULL && s->args != NULL, "%s: no summary or args", where);
            if (s->name[0] != '\0') {
                CHECK_MSG(has_word(chelp, s->name), "%s not in '%s --help'", where, c->name);
                CHECK_MSG(has_word(overview, s->name), "%s not in 'deconflict help'", where);
                CHECK_MSG(has_word(bash, s->name), "%s not in the completion script", where);
                char ms[128];
                snprintf(ms, sizeof ms, ".SS \"deconflict %s %s", c->name, s->name);
                CHECK_MSG(strstr(man, ms) != NULL, "%s not in the man page", where);
                for (const dcf_cli_sub_t *t = s + 1; t->name != NULL; t++)
                    CHECK_MSG(strcmp(s->name, t->name) != 0, "%s twice", where);
            } else {
                CHECK_MSG(s == c->subs && s[1].name == NULL, "%s: an unnamed sub must be alone",
                          c->name);
            }
            mem_open(&m);
            dcf_cli_doc_sub(m.f, c, s);
            char *shelp = mem_close(&m);
            CHECK_MSG(strstr(shelp, s->summary) != NULL, "%s: summary not in --help", where);
            const dcf_cli_opt_t *sets[3] = {s->opts, dcf_cli_paged_opts(s),
                                            (s->flags & DCF_CLI_LOCAL) ? NULL
                                                                       : dcf_cli_common_opts()};
            size_t count = 0;
            for (int k = 0; k < 3; k++)
                for (const dcf_cli_opt_t *o = sets[k]; o != NULL && o->name != NULL; o++) {
                    check_opt(o, shelp, bash, man, where);
                    count++;
                    CHECK_MSG(o->to != DCF_CLI_TO_LIST || (o->flags & DCF_CLI_REPEAT),
                              "%s --%s: a list option must be repeatable", where, o->name);
                    CHECK_MSG(o->arg != NULL || o->to == DCF_CLI_TO_NONE,
                              "%s --%s: a flag cannot carry a value", where, o->name);
                    /* unique within the subcommand */
                    for (int k2 = k; k2 < 3; k2++)
                        for (const dcf_cli_opt_t *p = (k2 == k ? o + 1 : sets[k2]);
                             p != NULL && p->name != NULL; p++)
                            CHECK_MSG(strcmp(o->name, p->name) != 0, "%s --%s twice", where,
                                      o->name);
                }
            CHECK_MSG(count <= DCF_CLI_OPTS_MAX, "%s: too many options", where);
            free(shelp);
        }
        free(chelp);
    }
    free(overview);
    free(bash);
    free(man);
}

/* Local commands through the real entry point: exit codes. */
static int run(const char *a, const char *b, const char *c) {
    char *argv[5] = {"deconflict", (char *)a, (char *)b, (char *)c, NULL};
    int argc = 1 + (a != NULL) + (b != NULL) + (c != NULL);
    FILE *saved = stdout;
    stdout = fopen("/dev/null", "w");
    int rc = dcf_cli_main(argc, argv);
    fclose(stdout);
    stdout = saved;
    return rc;
}

static void test_exit_codes(void) {
    CHECK_INT(run("help", NULL, NULL), 0);
    CHECK_INT(run("help", "op", "create"), 0);
    CHECK_INT(run("help", "op", "frob"), 2);
    CHECK_INT(run("op", "create", "--help"), 0);
    CHECK_INT(run("events", "--help", NULL), 0);
    CHECK_INT(run("completion", "bash", NULL), 0);
    CHECK_INT(run("completion", "zsh", NULL), 2);
    CHECK_INT(run("man", NULL, NULL), 0);
    CHECK_INT(run("frob", NULL, NULL), 2);
    CHECK_INT(run("op", "frob", NULL), 2);
    CHECK_INT(run("op", "show", NULL), 2);                 /* missing ID */
    CHECK_INT(run("op", "show", "a"), 2);                  /* no server configured */
    CHECK_INT(run("line", "propose", "--name"), 2);        /* missing value */
    CHECK_INT(run("conflict", "list", "--frobnicate"), 2); /* unknown option */
}

int main(void) {
    /* No login config and no server from the environment. */
    setenv("XDG_CONFIG_HOME", "/nonexistent-dcf-test", 1);
    unsetenv("DECONFLICT_URL");
    unsetenv("DECONFLICT_TOKEN");
    RUN(test_documents_agree);
    RUN(test_exit_codes);
    TEST_DONE();
}
