/*
 * doc.c -- every document about the command line, generated from the
 * command table (cli.c): `deconflict help`, each command's and
 * subcommand's --help, the bash completion script and the man page.
 *
 * Nothing here names a command or an option: a command added to the table
 * appears in all four at once.  The local commands (check, serve, init,
 * audit) carry free help text; their options for completion are the
 * "--word" tokens of that text, and a synopsis "audit verify|export ..."
 * gives their subcommands.  tests/cli/test_cli_table.c checks that every
 * command, subcommand and option of the table appears in each document.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli_int.h"

#define EXIT_TEXT                                                                                  \
    "Exit status: 0 ok, 1 the server said no (a 4xx answer: its title, detail and\n"               \
    "field pointers are printed), 2 usage error, server unreachable or server fault."

/* Print text wrapped at 80 columns, continuation lines indented by `indent`;
 * `col` is the column the text starts at. */
static void wrap(FILE *to, const char *text, int col, int indent) {
    const char *p = text;
    while (*p != '\0') {
        size_t n = strcspn(p, " ");
        if (col > indent && col + 1 + (int)n > 80) {
            fprintf(to, "\n%*s", indent, "");
            col = indent;
        } else if (p != text) {
            fputc(' ', to);
            col++;
        }
        fprintf(to, "%.*s", (int)n, p);
        col += (int)n;
        p += n;
        while (*p == ' ')
            p++;
    }
    fputc('\n', to);
}

static void opt_rows(FILE *to, const dcf_cli_opt_t *o) {
    for (; o != NULL && o->name != NULL; o++) {
        char left[64], text[512];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        snprintf(text, sizeof text, "%s%s%s", o->help,
                 (o->flags & DCF_CLI_REQUIRED) ? " (required)" : "",
                 (o->flags & DCF_CLI_REPEAT) ? " (repeatable)" : "");
        fprintf(to, "  %-24s ", left);
        wrap(to, text, strlen(left) > 24 ? 3 + (int)strlen(left) : 27, 27);
    }
}

/* "op create FILE" or "events". */
static void sub_name(char *out, size_t cap, const dcf_cli_cmd_t *c, const dcf_cli_sub_t *s) {
    snprintf(out, cap, "%s%s%s%s%s", c->name, s->name[0] ? " " : "", s->name, s->args[0] ? " " : "",
             s->args);
}

void dcf_cli_doc_overview(FILE *to) {
    size_t n;
    const dcf_cli_cmd_t *cs = dcf_cli_commands(&n);
    fprintf(to, "deconflict -- deconfliction of 4D operations between parties\n\n"
                "usage: deconflict COMMAND [OPTIONS] [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < n; i++) {
        const dcf_cli_cmd_t *c = &cs[i];
        char left[256];
        if (c->subs == NULL) {
            fprintf(to, "  %s\n", c->synopsis);
            continue;
        }
        if (c->subs[0].name[0] == '\0') {
            sub_name(left, sizeof left, c, &c->subs[0]);
            fprintf(to, "  %-30s %s\n", left, c->subs[0].summary);
            continue;
        }
        int w = snprintf(left, sizeof left, "%s ", c->name);
        for (const dcf_cli_sub_t *s = c->subs; s->name != NULL && w > 0 && (size_t)w < sizeof left;
             s++)
            w += snprintf(left + w, sizeof left - (size_t)w, "%s%s", s == c->subs ? "" : "|",
                          s->name);
        if (strlen(left) <= 30)
            fprintf(to, "  %-30s %s\n", left, c->help);
        else
            fprintf(to, "  %s\n  %-30s %s\n", left, "", c->help);
    }
    fprintf(to, "\nRun 'deconflict help COMMAND' or 'deconflict COMMAND --help' for a command's\n"
                "options.  The server and token come from --url, DECONFLICT_URL and\n"
                "DECONFLICT_TOKEN, or 'deconflict login'.\n\n" EXIT_TEXT "\n");
}

static void common_rows(FILE *to, const dcf_cli_sub_t *s) {
    const dcf_cli_opt_t *p = dcf_cli_paged_opts(s);
    if (p != NULL) {
        fprintf(to, "\npaging:\n");
        opt_rows(to, p);
    }
    if (!(s->flags & DCF_CLI_LOCAL)) {
        fprintf(to, "\ncommon options:\n");
        opt_rows(to, dcf_cli_common_opts());
        fprintf(to, "  %-24s %s\n", "--help", "show this help");
    }
}

void dcf_cli_doc_sub(FILE *to, const dcf_cli_cmd_t *c, const dcf_cli_sub_t *s) {
    char name[256];
    sub_name(name, sizeof name, c, s);
    fprintf(to, "usage: deconflict %s [OPTIONS]\n\n%s\n", name, s->summary);
    if (s->help != NULL)
        fprintf(to, "\n%s\n", s->help);
    if (s->opts != NULL && s->opts[0].name != NULL) {
        fprintf(to, "\noptions:\n");
        opt_rows(to, s->opts);
    }
    common_rows(to, s);
    fprintf(to, "\n" EXIT_TEXT "\n");
}

void dcf_cli_doc_command(FILE *to, const dcf_cli_cmd_t *c) {
    if (c->subs == NULL) {
        fprintf(to, "usage: deconflict %s\n\n%s\n", c->synopsis, c->help);
        return;
    }
    if (c->subs[0].name[0] == '\0') {
        dcf_cli_doc_sub(to, c, &c->subs[0]);
        return;
    }
    fprintf(to, "usage: deconflict %s SUBCOMMAND [OPTIONS] [ARGS]\n\n%s\n\nsubcommands:\n", c->name,
            c->help);
    for (const dcf_cli_sub_t *s = c->subs; s->name != NULL; s++) {
        char left[256];
        snprintf(left, sizeof left, "%s%s%s", s->name, s->args[0] ? " " : "", s->args);
        fprintf(to, "  %-24s %s\n", left, s->summary);
    }
    fprintf(to, "\nRun 'deconflict %s SUBCOMMAND --help' for its options.\n\n" EXIT_TEXT "\n",
            c->name);
}

/* ------------------------------------------------------ completion -- */

/* The "--word" tokens of a free help text, space-separated, each once. */
static void help_options(FILE *to, const char *help) {
    char seen[4096] = " ";
    for (const char *p = help; (p = strstr(p, "--")) != NULL;) {
        const char *w = p + 2;
        size_t n = 0;
        while (islower((unsigned char)w[n]) || isdigit((unsigned char)w[n]) || w[n] == '-')
            n++;
        p = w + n;
        if (n == 0 || !islower((unsigned char)w[0]) || n > 40 ||
            (n == 4 && strncmp(w, "help", 4) == 0))
            continue;
        char tok[48];
        snprintf(tok, sizeof tok, " --%.*s ", (int)n, w);
        if (strstr(seen, tok) != NULL || strlen(seen) + strlen(tok) >= sizeof seen)
            continue;
        size_t sl = strlen(seen), tl = strlen(tok + 1);
        memcpy(seen + sl, tok + 1, tl + 1);
        fprintf(to, " --%.*s", (int)n, w);
    }
}

static void words_of_opts(FILE *to, const dcf_cli_opt_t *o) {
    for (; o != NULL && o->name != NULL; o++)
        fprintf(to, " --%s", o->name);
}

static void sub_opts_words(FILE *to, const dcf_cli_sub_t *s) {
    words_of_opts(to, s->opts);
    words_of_opts(to, dcf_cli_paged_opts(s));
    if (!(s->flags & DCF_CLI_LOCAL))
        words_of_opts(to, dcf_cli_common_opts());
    fprintf(to, " --help");
}

/* A legacy synopsis "audit verify|export [OPTIONS]": its second word when
 * that is a list of subcommands (into out), else "". */
static void legacy_subs(const dcf_cli_cmd_t *c, char *out, size_t cap) {
    out[0] = '\0';
    const char *sp = strchr(c->synopsis, ' ');
    if (sp == NULL || !islower((unsigned char)sp[1]))
        return;
    size_t n = strcspn(sp + 1, " ");
    if (memchr(sp + 1, '|', n) == NULL || n >= cap)
        return;
    for (size_t i = 0; i < n; i++)
        out[i] = sp[1 + i] == '|' ? ' ' : sp[1 + i];
    out[n] = '\0';
}

void dcf_cli_doc_completion_bash(FILE *to) {
    size_t n;
    const dcf_cli_cmd_t *cs = dcf_cli_commands(&n);
    fprintf(to, "# bash completion for deconflict, generated by 'deconflict completion bash'\n"
                "# from the command table.  Load it with: source <(deconflict completion bash)\n"
                "_deconflict() {\n"
                "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" cmd=\"${COMP_WORDS[1]}\"\n"
                "    local sub=\"${COMP_WORDS[2]}\" opts=\"\" subs=\"\"\n"
                "    if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
                "        COMPREPLY=($(compgen -W \"");
    for (size_t i = 0; i < n; i++)
        fprintf(to, "%s%s", i ? " " : "", cs[i].name);
    fprintf(to, "\" -- \"$cur\"))\n        return\n    fi\n    case \"$cmd\" in\n");
    for (size_t i = 0; i < n; i++) {
        const dcf_cli_cmd_t *c = &cs[i];
        fprintf(to, "    %s)\n", c->name);
        if (strcmp(c->name, "help") == 0) {
            fprintf(to, "        subs=\"");
            for (size_t k = 0; k < n; k++)
                fprintf(to, "%s%s", k ? " " : "", cs[k].name);
            fprintf(to, "\" ;;\n");
            continue;
        }
        if (c->subs == NULL) {
            char ls[128];
            legacy_subs(c, ls, sizeof ls);
            fprintf(to, "        subs=\"%s\"\n        opts=\"", ls);
            help_options(to, c->help);
            fprintf(to, " --help\" ;;\n");
            continue;
        }
        if (c->subs[0].name[0] == '\0') {
            fprintf(to, "        opts=\"");
            sub_opts_words(to, &c->subs[0]);
            fprintf(to, "\" ;;\n");
            continue;
        }
        fprintf(to, "        subs=\"");
        for (const dcf_cli_sub_t *s = c->subs; s->name != NULL; s++)
            fprintf(to, "%s%s", s == c->subs ? "" : " ", s->name);
        fprintf(to, "\"\n        case \"$sub\" in\n");
        for (const dcf_cli_sub_t *s = c->subs; s->name != NULL; s++) {
            fprintf(to, "        %s) opts=\"", s->name);
            sub_opts_words(to, s);
            fprintf(to, "\" ;;\n");
        }
        fprintf(to, "        esac ;;\n");
    }
    fprintf(to, "    esac\n"
                "    if [ \"$COMP_CWORD\" -eq 2 ] && [ -n \"$subs\" ]; then\n"
                "        COMPREPLY=($(compgen -W \"$subs\" -- \"$cur\"))\n"
                "    elif [[ \"$cur\" == -* ]]; then\n"
                "        COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
                "    else\n"
                "        COMPREPLY=($(compgen -f -- \"$cur\"))\n"
                "    fi\n"
                "}\n"
                "complete -o filenames -F _deconflict deconflict\n");
}

/* ------------------------------------------------------------- man -- */

/* Text for roff: backslashes escaped, a leading '.' or '\'' made literal,
 * '-' as \- so that options copy as hyphens. */
static void roff(FILE *to, const char *s) {
    bool bol = true;
    for (; *s != '\0'; s++) {
        if (bol && (*s == '.' || *s == '\''))
            fputs("\\&", to);
        bol = *s == '\n';
        if (*s == '\\')
            fputs("\\e", to);
        else if (*s == '-')
            fputs("\\-", to);
        else
            fputc(*s, to);
    }
}

static void man_opts(FILE *to, const dcf_cli_opt_t *o) {
    for (; o != NULL && o->name != NULL; o++) {
        fputs(".TP\n.B ", to);
        roff(to, "--");
        roff(to, o->name);
        if (o->arg != NULL) {
            fputs(" \\fI", to);
            roff(to, o->arg);
            fputs("\\fR", to);
        }
        fputc('\n', to);
        roff(to, o->help);
        if (o->flags & DCF_CLI_REQUIRED)
            fputs(" (required)", to);
        if (o->flags & DCF_CLI_REPEAT)
            fputs(" (repeatable)", to);
        fputc('\n', to);
    }
}

static void man_sub(FILE *to, const dcf_cli_cmd_t *c, const dcf_cli_sub_t *s) {
    char name[256];
    sub_name(name, sizeof name, c, s);
    fputs(".SS \"deconflict ", to);
    roff(to, name);
    fputs("\"\n", to);
    roff(to, s->summary);
    fputc('\n', to);
    if (s->help != NULL) {
        fputs(".PP\n.nf\n", to);
        roff(to, s->help);
        fputs("\n.fi\n", to);
    }
    man_opts(to, s->opts);
    man_opts(to, dcf_cli_paged_opts(s));
}

void dcf_cli_doc_man(FILE *to) {
    size_t n;
    const dcf_cli_cmd_t *cs = dcf_cli_commands(&n);
    fputs(".\\\" Generated by 'deconflict man' from the command table; do not edit.\n"
          ".TH DECONFLICT 1 \"\" \"deconflict " DCF_VERSION_STRING "\" \"User Commands\"\n"
          ".SH NAME\ndeconflict \\- deconfliction of 4D operations between parties\n"
          ".SH SYNOPSIS\n.B deconflict\n.I COMMAND\n[\\fISUBCOMMAND\\fR] [\\fIOPTIONS\\fR] "
          "[\\fIARGS\\fR]\n"
          ".SH DESCRIPTION\n"
          "One program for the deconfliction service: the offline check, the server, and a\n"
          "client for everything the HTTP API does (docs/api.md, docs/hotline.md).  Lists are\n"
          "aligned tables on a terminal and tab\\-separated lines otherwise; \\fB\\-\\-json\\fR\n"
          "prints the API's JSON.  Colour is used only on a terminal and never when\n"
          ".B NO_COLOR\nis set.\n"
          ".SH COMMANDS\n",
          to);
    for (size_t i = 0; i < n; i++) {
        const dcf_cli_cmd_t *c = &cs[i];
        if (c->subs == NULL) {
            fputs(".SS \"deconflict ", to);
            roff(to, c->synopsis);
            fputs("\"\n.nf\n", to);
            roff(to, c->help);
            fputs("\n.fi\n", to);
            continue;
        }
        if (c->subs[0].name[0] != '\0') {
            fputs(".PP\n.B ", to);
            roff(to, c->name);
            fputs("\n\\(em ", to);
            roff(to, c->help);
            fputc('\n', to);
        }
        for (const dcf_cli_sub_t *s = c->subs; s->name != NULL; s++)
            man_sub(to, c, s);
    }
    fputs(".SH COMMON OPTIONS\nEvery command that talks to a server takes:\n", to);
    man_opts(to, dcf_cli_common_opts());
    fputs(".TP\n.B \\-\\-help\nshow the command's help\n", to);
    fputs(".SH EXIT STATUS\n.TP\n.B 0\nok\n.TP\n.B 1\nthe server said no (a 4xx answer; its "
          "title, detail and field pointers are printed); for \\fBcheck\\fR and \\fBop check\\fR: "
          "conflicts found; for \\fBaudit verify\\fR: verification failed\n.TP\n.B 2\nusage "
          "error, server unreachable, server fault or bad input\n"
          ".SH ENVIRONMENT\n.TP\n.B DECONFLICT_URL\nthe server (overrides the login config)\n"
          ".TP\n.B DECONFLICT_TOKEN\nthe bearer token (overrides the login config)\n.TP\n"
          ".B XDG_CONFIG_HOME\nwhere the login config lives (default ~/.config)\n.TP\n"
          ".B NO_COLOR\nwhen set and not empty, no colour\n"
          ".SH FILES\n.TP\n.I $XDG_CONFIG_HOME/deconflict/config.json\n"
          "{\"url\": ..., \"token\": ...} written by \\fBlogin\\fR (mode 0600)\n.TP\n"
          ".I FILE.import\\-state\nan import's progress, for \\fB\\-\\-resume\\fR\n"
          ".SH SEE ALSO\ndocs/cli.md, docs/api.md, docs/hotline.md, docs/model.md in the "
          "source tree\n",
          to);
}

int dcf_cli_completion(dcf_cli_run_t *r) {
    if (strcmp(r->pos[0], "bash") != 0)
        return dcf_cli_fail(r, "only bash is supported");
    dcf_cli_doc_completion_bash(stdout);
    return 0;
}

int dcf_cli_man(dcf_cli_run_t *r) {
    (void)r;
    dcf_cli_doc_man(stdout);
    return 0;
}
