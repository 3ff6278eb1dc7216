/*
 * cli.c -- the command table of the `deconflict` program and its dispatch.
 *
 * The tables below are the single source of the command and subcommand
 * names, their synopses, options and help texts; `deconflict help`, every
 * --help, the bash completion script and the man page are generated from
 * them (doc.c), and tests/cli/test_cli_table.c checks that all three name
 * everything here.  The local commands (check, serve, init, audit) keep
 * their own argument parsing and get argv with argv[0] == the command name;
 * the API commands are subcommand tables run by run.c.  Every handler
 * returns the process exit code.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli_int.h"
#include "deconflict/cli.h"

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

/* ------------------------------------------------------ API commands --
 * Each row of a subcommand table: name, positionals, summary, more help,
 * options, then either a request template (method, path, list view) or a
 * handler, and flags.  Option rows: name, metavariable (NULL: a flag), help,
 * where the value goes, the body path or query name, flags. */

#define END_OPTS                                                                                   \
    { NULL, NULL, NULL, 0, NULL, 0 }
#define END_SUBS                                                                                   \
    { NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0 }

#define OP_VIEW                                                                                    \
    "ID=id STATE=state KIND=kind PRIORITY=priority VERSION=version START=volumes/0/time/start "    \
    "END=volumes/0/time/end"
#define CONFLICT_VIEW                                                                              \
    "ID=id STATE=state OPERATION=own/operation/id OTHER=other/party/id "                           \
    "START=overlap/time/start END=overlap/time/end"
#define LINE_VIEW "ID=id NAME=name STATE=state PROPOSED_BY=proposed_by MESSAGES=last_seq"
#define MSG_VIEW                                                                                   \
    "SEQ=seq KIND=kind TYPE=type LEVEL=level FROM=from/party SENT=sent_at "                        \
    "TEXT=text|template/title|template/id"
#define CALL_VIEW     "ID=id LEVEL=level STATE=state TOPIC=topic CALLER=caller/party STARTED=started_at"
#define PARTY_VIEW    "ID=id NAME=name CREATED=created_at"
#define TOKEN_VIEW    "ID=id ROLE=role LABEL=label CREATED=created_at REVOKED=revoked_at"
#define TEMPLATE_VIEW "ID=id VERSION=version TITLE=title/en"

static const dcf_cli_opt_t o_version[] = {
    {"version", "N", "only if the operation is still at version N (If-Match)", DCF_CLI_TO_IFMATCH,
     NULL, 0},
    END_OPTS,
};
static const dcf_cli_opt_t o_op_update[] = {
    {"version", "N", "the version your change is based on (default: the current one, read first)",
     DCF_CLI_TO_NONE, NULL, 0},
    END_OPTS,
};
static const dcf_cli_opt_t o_op_list[] = {
    {"state", "S[,S...]", "only these states (planned, active, completed, cancelled)",
     DCF_CLI_TO_QUERY, "state", 0},
    {"from", "TIME", "only operations whose time span meets [from, to) (RFC 3339)",
     DCF_CLI_TO_QUERY, "from", 0},
    {"to", "TIME", "see --from", DCF_CLI_TO_QUERY, "to", 0},
    {"bbox", "W,S,E,N", "only operations whose bounding box meets this one (degrees)",
     DCF_CLI_TO_QUERY, "bbox", 0},
    END_OPTS,
};
static const dcf_cli_opt_t o_conflict_list[] = {
    {"state", "S[,S...]", "only these states (open, acknowledged, accepted, resolved)",
     DCF_CLI_TO_QUERY, "state", 0},
    END_OPTS,
};

static const dcf_cli_sub_t s_op[] = {
    {"create", "FILE", "Create an operation from FILE and show the conflicts it opened.",
     "FILE holds one operation in the JSON model (docs/model.md; an \"id\" is dropped, the\n"
     "server assigns one) or a GeoJSON Feature or FeatureCollection of one operation,\n"
     "converted here.  Exit 0 when created (conflicts or not).",
     NULL, NULL, NULL, CONFLICT_VIEW, dcf_cli_op_create, 0},
    {"list", "", "List your party's operations.", NULL, o_op_list, "GET", "/v1/operations", OP_VIEW,
     NULL, DCF_CLI_PAGED},
    {"show", "ID", "Show one operation.", NULL, NULL, "GET", "/v1/operations/{1}", NULL, NULL, 0},
    {"update", "ID FILE", "Replace an operation's fields with FILE's (optimistic versioning).",
     "Sends If-Match with --version, or with the version read just before.  When the\n"
     "operation changed in between the server answers 412 and nothing changes: show it\n"
     "again, redo your edit on the new version and retry.",
     o_op_update, NULL, NULL, CONFLICT_VIEW, dcf_cli_op_update, 0},
    {"activate", "ID", "Mark an operation active.", NULL, o_version, "POST",
     "/v1/operations/{1}/activate", NULL, NULL, 0},
    {"complete", "ID", "Mark an operation completed (resolves its conflicts).", NULL, o_version,
     "POST", "/v1/operations/{1}/complete", NULL, NULL, 0},
    {"cancel", "ID", "Cancel an operation (resolves its conflicts).", NULL, o_version, "POST",
     "/v1/operations/{1}/cancel", NULL, NULL, 0},
    {"check", "FILE", "Show the conflicts FILE's operation would have, storing nothing.",
     "Exit 0 when it would have none, 1 when it would have conflicts (like\n"
     "'deconflict check'), 2 on errors.",
     NULL, NULL, NULL, CONFLICT_VIEW, dcf_cli_op_check, 0},
    END_SUBS,
};

static const dcf_cli_sub_t s_conflict[] = {
    {"list", "", "List your party's conflicts.", NULL, o_conflict_list, "GET", "/v1/conflicts",
     CONFLICT_VIEW, NULL, DCF_CLI_PAGED},
    {"show", "ID", "Show one conflict as your party sees it.", NULL, NULL, "GET",
     "/v1/conflicts/{1}", NULL, NULL, 0},
    {"ack", "ID", "Acknowledge a conflict for your party.", NULL, NULL, "POST",
     "/v1/conflicts/{1}/acknowledge", NULL, NULL, 0},
    {"accept", "ID", "Accept a conflict (proceed as coordinated; also acknowledges).", NULL, NULL,
     "POST", "/v1/conflicts/{1}/accept", NULL, NULL, 0},
    END_SUBS,
};

static const dcf_cli_opt_t o_line_propose[] = {
    {"name", "NAME", "the line's name", DCF_CLI_TO_BODY, "name", DCF_CLI_REQUIRED},
    {"member", "PARTY", "another party on the line (repeat for a multilateral line)",
     DCF_CLI_TO_LIST, "members", DCF_CLI_REQUIRED | DCF_CLI_REPEAT},
    END_OPTS,
};
static const dcf_cli_opt_t o_line_suspend[] = {
    {"reason", "TEXT", "why your side suspends the line", DCF_CLI_TO_BODY, "reason",
     DCF_CLI_REQUIRED},
    END_OPTS,
};

static const dcf_cli_sub_t s_line[] = {
    {"list", "", "List your party's lines with desk presence.", NULL, NULL, "GET", "/v1/lines",
     LINE_VIEW, NULL, DCF_CLI_PAGED},
    {"show", "ID", "Show one line.", NULL, NULL, "GET", "/v1/lines/{1}", NULL, NULL, 0},
    {"propose", "", "Propose a line to other parties (party-admin).", NULL, o_line_propose, "POST",
     "/v1/lines", NULL, NULL, 0},
    {"accept", "ID", "Accept a proposed line (party-admin).", NULL, NULL, "POST",
     "/v1/lines/{1}/accept", NULL, NULL, 0},
    {"suspend", "ID", "Suspend your side of a line (urgent messages still pass).", NULL,
     o_line_suspend, "POST", "/v1/lines/{1}/suspend", NULL, NULL, 0},
    {"resume", "ID", "Resume your side of a line.", NULL, NULL, "POST", "/v1/lines/{1}/resume",
     NULL, NULL, 0},
    {"stats", "ID", "Show the line's contact record (calls, answers, acknowledgements).", NULL,
     NULL, "GET", "/v1/lines/{1}/stats", NULL, NULL, 0},
    END_SUBS,
};

static const dcf_cli_opt_t o_msg_send[] = {
    {"type", "TYPE", "info, request, warning or urgent", DCF_CLI_TO_BODY, "type", DCF_CLI_REQUIRED},
    {"level", "LEVEL", "the desk addressed: duty or senior", DCF_CLI_TO_BODY, "level",
     DCF_CLI_REQUIRED},
    {"text", "TEXT", "free text (1..4000 bytes)", DCF_CLI_TO_BODY, "text", 0},
    {"template", "ID", "a message template (see 'deconflict templates list')", DCF_CLI_TO_BODY,
     "template", 0},
    {"field", "NAME=VALUE",
     "a template field; VALUE is taken as JSON when it parses (numbers, true, {...}), else as a "
     "string",
     DCF_CLI_TO_NONE, NULL, DCF_CLI_REPEAT},
    {"fields-json", "FILE", "template fields from a JSON object file (for areas and lists)",
     DCF_CLI_TO_NONE, NULL, 0},
    {"op", "ID", "an operation of yours the message is about", DCF_CLI_TO_LIST, "operations",
     DCF_CLI_REPEAT},
    {"conflict", "ID", "a conflict of your party the message is about", DCF_CLI_TO_LIST,
     "conflicts", DCF_CLI_REPEAT},
    {"call", "ID", "put the message in the transcript of this answered call", DCF_CLI_TO_BODY,
     "call", 0},
    END_OPTS,
};
static const dcf_cli_opt_t o_msg_ack[] = {
    {"by", "NAME", "who acknowledges (1..100 bytes)", DCF_CLI_TO_BODY, "by", DCF_CLI_REQUIRED},
    {"reply", "TEXT", "a short reply", DCF_CLI_TO_BODY, "reply", 0},
    END_OPTS,
};

static const dcf_cli_sub_t s_msg[] = {
    {"send", "LINE", "Send a message on a line.",
     "Give --text, or --template with its fields (--field NAME=VALUE, repeatable, and/or\n"
     "--fields-json FILE).  A field value that parses as JSON is sent as that JSON value\n"
     "(42, 3.5, true, [..], {..}); anything else as a string (\"'42'\" in the shell keeps\n"
     "the quotes: --field 'callsign=\"42\"' sends the string 42).",
     o_msg_send, "POST", "/v1/lines/{1}/messages", NULL, dcf_cli_msg_send, 0},
    {"list", "LINE", "List a line's messages, oldest first.", NULL, NULL, "GET",
     "/v1/lines/{1}/messages", MSG_VIEW, NULL, DCF_CLI_PAGED | DCF_CLI_AFTER},
    {"show", "LINE SEQ", "Show one message (template rendered in --lang).", NULL, NULL, "GET",
     "/v1/lines/{1}/messages/{2}", NULL, NULL, 0},
    {"ack", "LINE SEQ", "Acknowledge a message addressed to your desk.", NULL, o_msg_ack, "POST",
     "/v1/lines/{1}/messages/{2}/acknowledge", NULL, NULL, 0},
    END_SUBS,
};

static const dcf_cli_opt_t o_call_start[] = {
    {"level", "LEVEL", "duty or senior (your role's desk)", DCF_CLI_TO_BODY, "level",
     DCF_CLI_REQUIRED},
    {"topic", "TEXT", "what the call is about (1..200 bytes)", DCF_CLI_TO_BODY, "topic",
     DCF_CLI_REQUIRED},
    {"by", "NAME", "who calls", DCF_CLI_TO_BODY, "by", 0},
    END_OPTS,
};
static const dcf_cli_opt_t o_call_by[] = {
    {"by", "NAME", "who answers", DCF_CLI_TO_BODY, "by", 0},
    END_OPTS,
};
static const dcf_cli_opt_t o_call_decline[] = {
    {"reason", "TEXT", "why (0..500 bytes)", DCF_CLI_TO_BODY, "reason", 0},
    END_OPTS,
};
static const dcf_cli_opt_t o_call_readout[] = {
    {"text", "TEXT", "the readout (1..20000 bytes)", DCF_CLI_TO_BODY, "text", 0},
    {"text-file", "FILE", "the readout from a file instead of --text", DCF_CLI_TO_FILE, "text", 0},
    {"visibility", "V", "shared (every member sees it) or internal (your party only)",
     DCF_CLI_TO_BODY, "visibility", DCF_CLI_REQUIRED},
    {"by", "NAME", "who files it", DCF_CLI_TO_BODY, "by", 0},
    END_OPTS,
};

static const dcf_cli_sub_t s_call[] = {
    {"start", "LINE", "Call the other parties' desks at a level on a line.", NULL, o_call_start,
     "POST", "/v1/lines/{1}/calls", NULL, NULL, 0},
    {"show", "ID", "Show a call with its transcript and the readouts you may see.", NULL, NULL,
     "GET", "/v1/calls/{1}", NULL, NULL, 0},
    {"list", "LINE", "List a line's calls.", NULL, NULL, "GET", "/v1/lines/{1}/calls", CALL_VIEW,
     NULL, DCF_CLI_PAGED},
    {"answer", "ID", "Answer a ringing call (the first answer wins).", NULL, o_call_by, "POST",
     "/v1/calls/{1}/answer", NULL, NULL, 0},
    {"decline", "ID", "Decline a ringing call.", NULL, o_call_decline, "POST",
     "/v1/calls/{1}/decline", NULL, NULL, 0},
    {"end", "ID", "End an answered call.", NULL, NULL, "POST", "/v1/calls/{1}/end", NULL, NULL, 0},
    {"readout", "ID", "File your party's readout of an ended call.", NULL, o_call_readout, "POST",
     "/v1/calls/{1}/readout", NULL, NULL, DCF_CLI_BODY},
    END_SUBS,
};

static const dcf_cli_opt_t o_events[] = {
    {"since", "N", "start after event id N (Last-Event-ID); default: new events only",
     DCF_CLI_TO_NONE, NULL, 0},
    {"count", "N", "stop after N events", DCF_CLI_TO_NONE, NULL, 0},
    END_OPTS,
};
static const dcf_cli_sub_t s_events[] = {
    {"", "", "Follow your party's live event stream.",
     "Prints each event as it comes (one JSON object per line with --json:\n"
     "{\"id\", \"event\", \"data\"}).  After a drop it reconnects with Last-Event-ID, so no\n"
     "event is missed, backing off from 1 s to 30 s.  Ctrl-C ends it (exit 0).",
     o_events, NULL, NULL, NULL, dcf_cli_events, 0},
    END_SUBS,
};

static const dcf_cli_opt_t o_party_create[] = {
    {"name", "NAME", "the party's display name (1..100 bytes)", DCF_CLI_TO_BODY, "name",
     DCF_CLI_REQUIRED},
    {"desks-json", "FILE", "the desks object ({\"duty\": {\"contact\": {...}}, ...})",
     DCF_CLI_TO_NONE, NULL, 0},
    END_OPTS,
};
static const dcf_cli_sub_t s_party[] = {
    {"list", "", "List parties (the admin sees all; a party its own).", NULL, NULL, "GET",
     "/v1/parties", PARTY_VIEW, NULL, 0},
    {"show", "ID", "Show a party with its desks.", NULL, NULL, "GET", "/v1/parties/{1}", NULL, NULL,
     0},
    {"create", "ID", "Create a party (admin).", NULL, o_party_create, NULL, NULL, NULL,
     dcf_cli_party_create, 0},
    END_SUBS,
};

static const dcf_cli_opt_t o_desk_set[] = {
    {"name", "TEXT", "contact name", DCF_CLI_TO_BODY, "contact/name", 0},
    {"phone", "TEXT", "telephone", DCF_CLI_TO_BODY, "contact/phone", 0},
    {"email", "TEXT", "e-mail", DCF_CLI_TO_BODY, "contact/email", 0},
    {"radio", "TEXT", "radio frequency or call sign", DCF_CLI_TO_BODY, "contact/radio", 0},
    {"notes", "TEXT", "anything else", DCF_CLI_TO_BODY, "contact/notes", 0},
    END_OPTS,
};
static const dcf_cli_sub_t s_desk[] = {
    {"set", "PARTY LEVEL", "Set a desk's contact (LEVEL duty or senior; replaces it).", NULL,
     o_desk_set, "PUT", "/v1/parties/{1}/desks/{2}", NULL, NULL, DCF_CLI_BODY},
    END_SUBS,
};

static const dcf_cli_opt_t o_token_list[] = {
    {"party", "ID", "whose tokens (default: your own party)", DCF_CLI_TO_NONE, NULL, 0},
    END_OPTS,
};
static const dcf_cli_opt_t o_token_create[] = {
    {"role", "ROLE", "party-admin, planner, duty, senior, viewer; or admin (admin only)",
     DCF_CLI_TO_BODY, "role", DCF_CLI_REQUIRED},
    {"label", "TEXT", "what the token is for", DCF_CLI_TO_BODY, "label", 0},
    {"party", "ID", "the party (default: your own; none for an admin token)", DCF_CLI_TO_NONE, NULL,
     0},
    END_OPTS,
};
static const dcf_cli_sub_t s_token[] = {
    {"list", "", "List a party's tokens (secrets are never shown again).", NULL, o_token_list, NULL,
     NULL, TOKEN_VIEW, dcf_cli_token_list, 0},
    {"create", "", "Create a token; its secret is printed once.", NULL, o_token_create, NULL, NULL,
     NULL, dcf_cli_token_create, 0},
    {"revoke", "ID", "Revoke a token at once.", NULL, NULL, "DELETE", "/v1/tokens/{1}", NULL, NULL,
     0},
    END_SUBS,
};

static const dcf_cli_sub_t s_whoami[] = {
    {"", "", "Show the token's id, party and role.", NULL, NULL, "GET", "/v1/whoami", NULL, NULL,
     0},
    END_SUBS,
};

static const dcf_cli_sub_t s_templates[] = {
    {"list", "", "List the message templates the server knows.", NULL, NULL, "GET", "/v1/templates",
     TEMPLATE_VIEW, NULL, 0},
    {"show", "ID", "Show a template with its fields.", NULL, NULL, "GET", "/v1/templates/{1}", NULL,
     NULL, 0},
    END_SUBS,
};

static const dcf_cli_sub_t s_presence[] = {
    {"", "", "Mark your desk present (duty, senior) for the presence window.", NULL, NULL, "POST",
     "/v1/presence", NULL, NULL, 0},
    END_SUBS,
};

static const dcf_cli_opt_t o_clock_advance[] = {
    {"seconds", "N", "how far to move the clock forward", DCF_CLI_TO_NUM, "advance_s",
     DCF_CLI_REQUIRED},
    END_OPTS,
};
static const dcf_cli_sub_t s_clock[] = {
    {"show", "", "Show the server's test clock (admin; serve --test-clock).", NULL, NULL, "GET",
     "/v1/admin/clock", NULL, NULL, 0},
    {"advance", "", "Move the test clock forward and run the timers that fall due.", NULL,
     o_clock_advance, "POST", "/v1/admin/clock", NULL, NULL, 0},
    END_SUBS,
};

static const dcf_cli_opt_t o_login[] = {
    {"token", "T", "the token (visible in the process list: prefer --token-stdin)", DCF_CLI_TO_NONE,
     NULL, 0},
    {"token-stdin", NULL, "read the token from the first line of standard input", DCF_CLI_TO_NONE,
     NULL, 0},
    {"ca-file", "FILE", "extra CA bundle (PEM) for an https server", DCF_CLI_TO_NONE, NULL, 0},
    {"json", NULL, "print the whoami answer as JSON", DCF_CLI_TO_NONE, NULL, 0},
    END_OPTS,
};
static const dcf_cli_sub_t s_login[] = {
    {"", "URL", "Check a token against the server at URL and remember both.",
     "Without --token or --token-stdin the token is asked for on the terminal (not\n"
     "echoed), or read from standard input when that is not a terminal.  The config\n"
     "file is written with mode 0600 in a directory of mode 0700.  DECONFLICT_URL and\n"
     "DECONFLICT_TOKEN override it.",
     o_login, NULL, NULL, NULL, dcf_cli_login, DCF_CLI_LOCAL},
    END_SUBS,
};
static const dcf_cli_sub_t s_logout[] = {
    {"", "", "Forget the stored URL and token (the token stays valid on the server).", NULL, NULL,
     NULL, NULL, NULL, dcf_cli_logout, DCF_CLI_LOCAL},
    END_SUBS,
};

static const dcf_cli_opt_t o_import[] = {
    {"on-error", "MODE", "continue (default: report the bad line and go on) or stop",
     DCF_CLI_TO_NONE, NULL, 0},
    {"resume", NULL, "continue after the last line the previous run finished", DCF_CLI_TO_NONE,
     NULL, 0},
    {"restart", NULL, "start from the first line even though a state file says otherwise",
     DCF_CLI_TO_NONE, NULL, 0},
    {"state", "FILE", "the progress file (default: FILE.import-state)", DCF_CLI_TO_NONE, NULL, 0},
    {"jobs", "N", "requests in flight at once (1..64, default 4)", DCF_CLI_TO_NONE, NULL, 0},
    {"progress-every", "S",
     "seconds between progress lines when stderr is not a terminal "
     "(default 10; 0: none)",
     DCF_CLI_TO_NONE, NULL, 0},
    END_OPTS,
};
static const dcf_cli_sub_t s_import[] = {
    {"", "FILE", "Create many operations: NDJSON (one per line) or a GeoJSON FeatureCollection.",
     "Each NDJSON line is one operation in the JSON model (server fields such as id,\n"
     "version and state are dropped, so an export can be imported) or a GeoJSON Feature.\n"
     "A FeatureCollection's features are one operation each.  The file is streamed; a\n"
     "bad line is reported as FILE:LINE: POINTER: RULE and skipped (or stops the import\n"
     "with --on-error stop).  Progress goes to FILE.import-state after each created\n"
     "operation (fsynced every second); an interrupted import (Ctrl-C, a dropped\n"
     "server) continues with --resume.  Exit 0 when every line was created, 1 when some\n"
     "were refused, 2 when the import could not finish.",
     o_import, NULL, NULL, NULL, dcf_cli_import, 0},
    END_SUBS,
};
static const dcf_cli_opt_t o_export[] = {
    {"out", "FILE", "write to FILE (atomically) instead of standard output", DCF_CLI_TO_NONE, NULL,
     0},
    {"state", "S[,S...]", "only these states", DCF_CLI_TO_QUERY, "state", 0},
    END_OPTS,
};
static const dcf_cli_sub_t s_export[] = {
    {"", "", "Write your party's operations as NDJSON (one resource per line).", NULL, o_export,
     "GET", "/v1/operations", NULL, dcf_cli_export, 0},
    END_SUBS,
};

static const dcf_cli_sub_t s_completion[] = {
    {"", "SHELL", "Print the completion script for SHELL (bash).",
     "Load it with:  source <(deconflict completion bash)", NULL, NULL, NULL, NULL,
     dcf_cli_completion, DCF_CLI_LOCAL},
    END_SUBS,
};
static const dcf_cli_sub_t s_man[] = {
    {"", "", "Print the manual page (roff).", "View it with:  deconflict man | man -l -", NULL,
     NULL, NULL, NULL, dcf_cli_man, DCF_CLI_LOCAL},
    END_SUBS,
};

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
     dcf_cli_check, NULL},
    {"serve", "serve [OPTIONS]",
     "Run the deconfliction server: the HTTP API of docs/api.md over the store.\n"
     "Every option can also come from the environment (DECONFLICT_*) or a JSON\n"
     "config file (--config); 'deconflict serve --help' lists them all.\n"
     "Stops cleanly on SIGINT or SIGTERM.",
     dcf_cli_serve, NULL},
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
     dcf_cli_init, NULL},
    {"login", NULL, NULL, NULL, s_login},
    {"logout", NULL, NULL, NULL, s_logout},
    {"whoami", NULL, NULL, NULL, s_whoami},
    {"op", NULL, "Operations: planned 4D volumes of your party (docs/api.md#operations).", NULL,
     s_op},
    {"conflict", NULL, "Conflicts between your operations and other parties'.", NULL, s_conflict},
    {"import", NULL, NULL, NULL, s_import},
    {"export", NULL, NULL, NULL, s_export},
    {"events", NULL, NULL, NULL, s_events},
    {"line", NULL, "The hotline's lines between parties (docs/hotline.md).", NULL, s_line},
    {"msg", NULL, "Messages on a line: typed, delivered, acknowledged, escalated.", NULL, s_msg},
    {"call", NULL, "Calls on a line: ring, answer, decline, end, readouts.", NULL, s_call},
    {"templates", NULL, "The message templates.", NULL, s_templates},
    {"presence", NULL, NULL, NULL, s_presence},
    {"party", NULL, "Parties (admin; a party sees its own).", NULL, s_party},
    {"desk", NULL, "A party's duty and senior desks.", NULL, s_desk},
    {"token", NULL, "Tokens: list, create, revoke.", NULL, s_token},
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
     "  --url U          server base URL (default $DECONFLICT_URL, then the login\n"
     "                   config of 'deconflict login')\n"
     "  --token T        bearer token (default $DECONFLICT_TOKEN, then the login\n"
     "                   config; both keep it out of the process list)\n"
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
     dcf_cli_audit_cmd, NULL},
    {"clock", NULL, "The server's test clock (serve --test-clock; admin).", NULL, s_clock},
    {"completion", NULL, NULL, NULL, s_completion},
    {"man", NULL, NULL, NULL, s_man},
    {"version", "version", "Print the version.", cmd_version, NULL},
    {"help", "help [COMMAND [SUBCOMMAND]]", "Show the commands, or one command's help.", cmd_help,
     NULL},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

const dcf_cli_cmd_t *dcf_cli_commands(size_t *n) {
    *n = N_COMMANDS;
    return commands;
}

static const dcf_cli_cmd_t *find_command(const char *name) {
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static const dcf_cli_sub_t *find_sub(const dcf_cli_cmd_t *c, const char *name) {
    for (const dcf_cli_sub_t *s = c->subs; s != NULL && s->name != NULL; s++)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

void dcf_cli_usage(FILE *to, const dcf_cli_cmd_t *c) {
    dcf_cli_doc_command(to, c);
}

static int cmd_help(int argc, char **argv) {
    if (argc < 2) {
        dcf_cli_doc_overview(stdout);
        return 0;
    }
    const dcf_cli_cmd_t *c = find_command(argv[1]);
    if (c == NULL) {
        fprintf(stderr, "deconflict: unknown command '%s'\n", argv[1]);
        return 2;
    }
    if (argc >= 3 && c->subs != NULL) {
        const dcf_cli_sub_t *s = find_sub(c, argv[2]);
        if (s == NULL) {
            fprintf(stderr, "deconflict %s: unknown subcommand '%s'\n", c->name, argv[2]);
            return 2;
        }
        dcf_cli_doc_sub(stdout, c, s);
        return 0;
    }
    dcf_cli_doc_command(stdout, c);
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

int dcf_cli_audit_cmd(int argc, char **argv) {
    /* audit reads only --url/--token and the environment: give it the
     * login config through the environment. */
    const char *url = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
            url = argv[i + 1];
        else if (strncmp(argv[i], "--url=", 6) == 0)
            url = argv[i] + 6;
    }
    dcf_cli_config_env(url);
    return dcf_cli_audit(argc, argv);
}

static bool wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    }
    return false;
}

/* argv[0] is the command's name. */
static int run_api(const dcf_cli_cmd_t *c, int argc, char **argv) {
    if (c->subs[0].name[0] == '\0') {
        if (wants_help(argc, argv)) {
            dcf_cli_doc_sub(stdout, c, &c->subs[0]);
            return 0;
        }
        return dcf_cli_run(c, &c->subs[0], argc, argv);
    }
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        dcf_cli_doc_command(argc < 2 ? stderr : stdout, c);
        return argc < 2 ? 2 : 0;
    }
    const dcf_cli_sub_t *s = find_sub(c, argv[1]);
    if (s == NULL) {
        fprintf(stderr, "deconflict %s: unknown subcommand '%s' (try 'deconflict help %s')\n",
                c->name, argv[1], c->name);
        return 2;
    }
    if (wants_help(argc - 1, argv + 1)) {
        dcf_cli_doc_sub(stdout, c, s);
        return 0;
    }
    return dcf_cli_run(c, s, argc - 1, argv + 1);
}

int dcf_cli_main(int argc, char **argv) {
    if (argc < 2) {
        dcf_cli_doc_overview(stderr);
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
    if (c->subs != NULL)
        return run_api(c, argc - 1, argv + 1);
    if (wants_help(argc - 1, argv + 1)) {
        dcf_cli_usage(stdout, c);
        if (c->fn == dcf_cli_serve) { /* its options live in serve.c's table */
            fputc('\n', stdout);
            dcf_cli_serve_help(stdout);
        }
        return 0;
    }
    return c->fn(argc - 1, argv + 1);
}
