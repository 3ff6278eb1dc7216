/*
 * cli.c -- command dispatch for the `deconflict` program.
 *
 * The command table below is the single source of the command names, their
 * synopses and help texts; `deconflict help`, `deconflict CMD --help` and
 * unknown-command errors are generated from it.  Each handler receives argv
 * with argv[0] == the command name and returns the process exit code.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli_int.h"
#include "deconflict/cli.h"

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const dcf_cli_cmd_t commands[] = {
    {"check", "check [--json] [--rules FILE] FILE",
     "Read operations from FILE (the JSON model, an array of operations, or a GeoJSON\n"
     "FeatureCollection; see docs/model.md) and print every conflict between\n"
     "operations of different parties: the two operations, their parties and the\n"
     "overlap (time window, altitude band, region, distance).\n"
     "\n"
     "  --json         print machine-readable JSON instead of text\n"
     "  --rules FILE   separation rule table (JSON; see docs/model.md); without it\n"
     "                 every minimum is 0 (volumes must actually overlap)\n"
     "  --max-bytes N  refuse input files larger than N bytes (default 1073741824)\n"
     "\n"
     "Exit status: 0 no conflict, 1 conflicts found, 2 bad input or could not check.",
     dcf_cli_check},
    {"serve", "serve [OPTIONS]",
     "Run the deconfliction server: the HTTP API of docs/api.md over the store.\n"
     "Every option can also come from the environment (DECONFLICT_*) or a JSON\n"
     "config file (--config); 'deconflict serve --help' lists them all.\n"
     "Stops cleanly on SIGINT or SIGTERM.",
     dcf_cli_serve},
    {"init",
     "init [--db PATH] [--audit-key FILE] [--rules FILE] [--json] [--demo [--demo-file FILE]]",
     "Create the store (or bring its schema up to date) and the audit log's signing key,\n"
     "and print the deployment's first admin token, once.\n"
     "\n"
     "  --db PATH         the store (default deconflict.db)\n"
     "  --audit-key FILE  the audit signing key to create, mode 0600 (default: the\n"
     "                    store's path + .audit-key); an existing key is kept\n"
     "  --rules FILE      separation rule table used for the demo's conflicts\n"
     "  --json            print {\"admin_token\": ...} (and the demo's tokens) as JSON\n"
     "  --demo            also create parties blue and red with desks, tokens and the\n"
     "                    operations of --demo-file (default examples/syria-air.json)\n"
     "                    moved to start an hour from now\n"
     "\n"
     "Exit status: 0 done, 1 already initialised (nothing changed), 2 error.",
     dcf_cli_init},
    {"audit", "audit verify|export [OPTIONS]",
     "Check the server's audit log (docs/audit.md) from outside: that every entry you\n"
     "can see is in the tree its key signed, and that the log has only ever grown.\n"
     "\n"
     "  deconflict audit verify [--url U] [--token T] [--key B64 | --key-file F]\n"
     "                          [--state FILE] [--json]\n"
     "      Online, with any token of a party (or the admin's): compare the server's\n"
     "      key with the pinned one, fetch a fresh signed tree head and check its\n"
     "      signature, check every entry listed to you (it names your party, hashes\n"
     "      to its leaf and has an inclusion proof to the tree head; the admin's\n"
     "      listing must hold every index), then check that every tree head seen\n"
     "      before is consistent with the new one.  The state file keeps the pinned\n"
     "      key and every verified tree head; it is written (mode 0600) only after a\n"
     "      run that verified everything.  Without --key, --key-file or a state file\n"
     "      the server's key is pinned on first use: compare it out of band.\n"
     "  deconflict audit verify --export FILE [--key B64 | --key-file F] [--json]\n"
     "      Offline: check an export: indexes 0..n-1, and for each tree head in order\n"
     "      of issue its signature, that it never shrinks, covers at most n entries\n"
     "      and has the root recomputed from the entries.\n"
     "  deconflict audit export [--url U] [--token T] --out FILE\n"
     "      Admin: write every entry and every tree head issued to FILE.\n"
     "\n"
     "  --url U          server base URL (default $DECONFLICT_URL)\n"
     "  --token T        bearer token (default $DECONFLICT_TOKEN, which keeps it out\n"
     "                   of the process list)\n"
     "  --key B64        the deployment's Ed25519 public key, base64 (32 bytes)\n"
     "  --key-file F     a file holding that key, or the JSON of GET /v1/audit/key\n"
     "  --state FILE     default $XDG_STATE_HOME/deconflict/audit-<hash of URL>.json\n"
     "                   (or ~/.local/state/deconflict/...)\n"
     "  --ca-file F      extra CA bundle (PEM) for an https URL\n"
     "  --max-bytes N    refuse export files larger than N bytes (default 4 GiB)\n"
     "  --json           print the verdict as JSON\n"
     "\n"
     "A failure names the first entry or tree head that does not verify and why.\n"
     "Exit status: 0 verified, 1 failed verification, 2 could not check (bad\n"
     "arguments, unreadable files, network or HTTP errors).",
     dcf_cli_audit},
    {"version", "version", "Print the version.", cmd_version},
    {"help", "help [COMMAND]", "Show the commands, or one command's help.", cmd_help},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const dcf_cli_cmd_t *find_command(const char *name) {
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

void dcf_cli_usage(FILE *to, const dcf_cli_cmd_t *c) {
    fprintf(to, "usage: deconflict %s\n\n%s\n", c->synopsis, c->help);
}

static void overview(FILE *to) {
    fprintf(to, "deconflict -- deconfliction of 4D operations between parties\n\n"
                "usage: deconflict COMMAND [OPTIONS] [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(to, "  %s\n", commands[i].synopsis);
    fprintf(to, "\nRun 'deconflict help COMMAND' for a command's options.\n");
}

static int cmd_help(int argc, char **argv) {
    if (argc < 2) {
        overview(stdout);
        return 0;
    }
    const dcf_cli_cmd_t *c = find_command(argv[1]);
    if (c == NULL) {
        fprintf(stderr, "deconflict: unknown command '%s'\n", argv[1]);
        return 2;
    }
    dcf_cli_usage(stdout, c);
    return 0;
}

static int cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("deconflict %s\n", DCF_VERSION_STRING);
    return 0;
}

const dcf_cli_cmd_t *dcf_cli_command(const char *name) {
    return find_command(name);
}

int dcf_cli_main(int argc, char **argv) {
    if (argc < 2) {
        overview(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return cmd_help(1, argv);
    if (strcmp(argv[1], "--version") == 0)
        return cmd_version(1, argv);
    const dcf_cli_cmd_t *c = find_command(argv[1]);
    if (c == NULL) {
        fprintf(stderr, "deconflict: unknown command '%s' (try 'deconflict help')\n", argv[1]);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            dcf_cli_usage(stdout, c);
            return 0;
        }
    }
    return c->fn(argc - 1, argv + 1);
}
