/*
 * test_config.c -- the option table: one option of each type, precedence
 * default < file < env < argv, every error class with its exact message,
 * "--flag value" / "--flag=value" / bare bool, --help, the help text, and
 * a dump that parses back as a config file.  After every error the target
 * must hold exactly the defaults.
 */
#include <stddef.h>
#include <stdbool.h>
#include <unistd.h>

#include "deconflict/config.h"
#include "test.h"

typedef struct {
    bool verbose;
    int64_t threads;
    double ratio;
    int64_t notice_us;
    char name[DCF_CONFIG_VALUE_MAX];
    int level;
    char config[DCF_CONFIG_VALUE_MAX];
    char secret[DCF_CONFIG_VALUE_MAX]; /* no env, no key: command line only */
} cfg_t;

static const char *const levels[] = {"debug", "info", "warn", NULL};

static const dcf_config_opt_t OPTS[] = {
    {"verbose", "DECONFLICT_VERBOSE", "verbose", DCF_CONFIG_BOOL, 0, 0, "false", "log more", NULL,
     offsetof(cfg_t, verbose)},
    {"threads", "DECONFLICT_THREADS", "threads", DCF_CONFIG_INT, 1, 64, "2", "HTTP worker threads",
     NULL, offsetof(cfg_t, threads)},
    {"ratio", "DECONFLICT_RATIO", "ratio", DCF_CONFIG_DOUBLE, 0, 1, "0.5", "sampling ratio", NULL,
     offsetof(cfg_t, ratio)},
    {"notice", "DECONFLICT_NOTICE", "notice", DCF_CONFIG_DURATION, 0.1, 7 * 86400, "15m",
     "minimum notice before an operation starts", NULL, offsetof(cfg_t, notice_us)},
    {"name", "DECONFLICT_NAME", "name", DCF_CONFIG_STRING, 0, 0, "deconflict", "instance name",
     NULL, offsetof(cfg_t, name)},
    {"log-level", "DECONFLICT_LOG_LEVEL", "log_level", DCF_CONFIG_ENUM, 0, 0, "info",
     "log verbosity", levels, offsetof(cfg_t, level)},
    {"config", "DECONFLICT_CONFIG", NULL, DCF_CONFIG_FILE, 0, 0, NULL, "JSON config file", NULL,
     offsetof(cfg_t, config)},
    {"secret", NULL, NULL, DCF_CONFIG_STRING, 0, 0, NULL, "a command-line-only string", NULL,
     offsetof(cfg_t, secret)},
};
#define N_OPTS (sizeof(OPTS) / sizeof(OPTS[0]))

static char tmpdir[64];
static char err[512];

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

static const char *tmp_path(const char *name) {
    static char buf[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", tmpdir, name);
    return buf[k];
}

/* Parse into *c (pre-filled with garbage, so untouched bytes would show). */
static int parse(cfg_t *c, int argc, char **argv, char **envp) {
    memset(c, 0xAB, sizeof(*c));
    return dcf_config_parse(OPTS, N_OPTS, c, argc, argv, envp, err, sizeof(err));
}

static cfg_t defaults;

static void test_defaults(void) {
    CHECK_INT(parse(&defaults, 0, NULL, NULL), DCF_OK);
    CHECK_INT(defaults.verbose, 0);
    CHECK_INT(defaults.threads, 2);
    CHECK_NEAR(defaults.ratio, 0.5, 0);
    CHECK_INT(defaults.notice_us, INT64_C(15) * 60 * 1000000);
    CHECK_STR(defaults.name, "deconflict");
    CHECK_INT(defaults.level, 1);
    CHECK_STR(defaults.config, "");
    CHECK_STR(defaults.secret, "");
}

static void test_precedence(void) {
    cfg_t c;
    char env_threads[] = "DECONFLICT_THREADS=8", env_name[] = "DECONFLICT_NAME=env-name";
    char env_cfg[64];
    char *envp[] = {env_threads, env_name, env_cfg, NULL};
    char *envp_file_only[] = {env_cfg, NULL};
    char a0[] = "--threads", a1[] = "16", a2[] = "--config", a3[128];
    char *argv[] = {a0, a1};

    write_file(tmp_path("prec.json"), "{\"threads\": 4, \"ratio\": 0.25, \"notice\": \"30s\",\n"
                                      " \"name\": \"file-name\", \"log_level\": \"warn\",\n"
                                      " \"verbose\": true}\n");
    snprintf(env_cfg, sizeof(env_cfg), "DECONFLICT_CONFIG=%s", tmp_path("prec.json"));

    /* file alone beats the defaults */
    CHECK_INT(parse(&c, 0, NULL, envp_file_only), DCF_OK);
    CHECK_INT(c.threads, 4);
    CHECK_NEAR(c.ratio, 0.25, 0);
    CHECK_INT(c.notice_us, 30000000);
    CHECK_STR(c.name, "file-name");
    CHECK_INT(c.level, 2);
    CHECK_INT(c.verbose, 1);
    CHECK_STR(c.config, tmp_path("prec.json"));

    /* env beats the file, argv beats env */
    CHECK_INT(parse(&c, 0, NULL, envp), DCF_OK);
    CHECK_INT(c.threads, 8);
    CHECK_STR(c.name, "env-name");
    CHECK_NEAR(c.ratio, 0.25, 0);
    CHECK_INT(parse(&c, 2, argv, envp), DCF_OK);
    CHECK_INT(c.threads, 16);
    CHECK_STR(c.name, "env-name");
    CHECK_INT(c.level, 2);

    /* --config on the command line beats DECONFLICT_CONFIG */
    char env_bad[] = "DECONFLICT_CONFIG=/nonexistent/deconflict.json";
    char *envp_bad[] = {env_bad, NULL};
    char *argv_cfg[] = {a2, a3};
    snprintf(a3, sizeof(a3), "%s", tmp_path("prec.json"));
    CHECK_INT(parse(&c, 2, argv_cfg, envp_bad), DCF_OK);
    CHECK_INT(c.threads, 4);
    CHECK_INT(parse(&c, 0, NULL, envp_bad), DCF_ENOENT);
    CHECK_STR(err, "config /nonexistent/deconflict.json: No such file or directory");
}

static void test_forms(void) {
    cfg_t c;
    char a0[] = "--threads=3", a1[] = "--verbose", a2[] = "--ratio", a3[] = "0.75",
         a4[] = "--log-level=debug", a5[] = "--name", a6[] = "has spaces = and equals",
         a7[] = "--secret=", a8[] = "--verbose=false", a9[] = "--threads", a10[] = "5";
    char *argv[] = {a0, a1, a2, a3, a4, a5, a6, a7};

    CHECK_INT(parse(&c, 8, argv, NULL), DCF_OK);
    CHECK_INT(c.threads, 3);
    CHECK_INT(c.verbose, 1);
    CHECK_NEAR(c.ratio, 0.75, 0);
    CHECK_INT(c.level, 0);
    CHECK_STR(c.name, "has spaces = and equals");
    CHECK_STR(c.secret, "");

    /* a bare bool does not swallow the next argument; later flags win */
    char *argv2[] = {a1, a9, a10, a8, a0};
    CHECK_INT(parse(&c, 5, argv2, NULL), DCF_OK);
    CHECK_INT(c.verbose, 0);
    CHECK_INT(c.threads, 3);
}

static void test_durations(void) {
    static const struct {
        const char *text;
        int64_t us;
    } cases[] = {{"250ms", 250000},  {"30s", 30000000},    {"15m", 900000000},
                 {"2h", 7200000000}, {"1d", 86400000000},  {"1.5", 1500000},
                 {"90", 90000000},   {"1.5h", 5400000000}, {"1.000001", 1000001}};
    cfg_t c;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char a0[] = "--notice", a1[32];
        char *argv[] = {a0, a1};
        snprintf(a1, sizeof(a1), "%s", cases[i].text);
        CHECK_INT(parse(&c, 2, argv, NULL), DCF_OK);
        CHECK_MSG(c.notice_us == cases[i].us, "%s -> %lld", cases[i].text, (long long)c.notice_us);
    }
    /* a number in the file is seconds */
    char env[160];
    char *envp[] = {env, NULL};
    write_file(tmp_path("dur.json"), "{\"notice\": 2.5}");
    snprintf(env, sizeof(env), "DECONFLICT_CONFIG=%s", tmp_path("dur.json"));
    CHECK_INT(parse(&c, 0, NULL, envp), DCF_OK);
    CHECK_INT(c.notice_us, 2500000);
}

/* One failing parse: code, message, and the target left at the defaults. */
static void expect_error(int argc, char **argv, char **envp, int code, const char *msg) {
    cfg_t c;
    int rc = parse(&c, argc, argv, envp);

    CHECK_MSG(rc == code, "rc %d, want %d (%s)", rc, code, err);
    CHECK_STR(err, msg);
    CHECK_MSG(memcmp(&c, &defaults, sizeof(c)) == 0, "target not at defaults after \"%s\"", msg);
}

static void expect_argv_error(const char *a, const char *b, const char *msg) {
    char a0[DCF_CONFIG_VALUE_MAX + 32], a1[DCF_CONFIG_VALUE_MAX + 32];
    char *argv[] = {a0, a1};
    snprintf(a0, sizeof(a0), "%s", a);
    snprintf(a1, sizeof(a1), "%s", b ? b : "");
    expect_error(b ? 2 : 1, argv, NULL, DCF_EINVAL, msg);
}

static void expect_env_error(const char *var, const char *msg) {
    char e[128];
    char *envp[] = {e, NULL};
    snprintf(e, sizeof(e), "%s", var);
    expect_error(0, NULL, envp, DCF_EINVAL, msg);
}

static void expect_file_error(const char *text, int code, const char *msg_tail) {
    char env[160], msg[512];
    char *envp[] = {env, NULL};
    write_file(tmp_path("bad.json"), text);
    snprintf(env, sizeof(env), "DECONFLICT_CONFIG=%s", tmp_path("bad.json"));
    snprintf(msg, sizeof(msg), "config %s: %s", tmp_path("bad.json"), msg_tail);
    expect_error(0, NULL, envp, code, msg);
}

static void test_errors(void) {
    char big[DCF_CONFIG_VALUE_MAX + 1];

    /* command line */
    expect_argv_error("--threads", "0", "--threads: 0 is below the minimum 1");
    expect_argv_error("--threads=65", NULL, "--threads: 65 is above the maximum 64");
    expect_argv_error("--threads", "abc", "--threads: \"abc\" is not an integer");
    expect_argv_error("--threads", "3.5", "--threads: \"3.5\" is not an integer");
    expect_argv_error("--threads", NULL, "--threads: missing value");
    expect_argv_error("--thredas", "3", "--thredas: unknown option (did you mean --threads?)");
    expect_argv_error("--zzzzzz=1", NULL, "--zzzzzz: unknown option");
    expect_argv_error("threads", NULL, "unexpected argument \"threads\" (options start with --)");
    expect_argv_error("--verbose", "0", "unexpected argument \"0\" (options start with --)");
    expect_argv_error("--verbose=maybe", NULL,
                      "--verbose: \"maybe\" is not a boolean (true, false, 1, 0)");
    expect_argv_error("--ratio", "1.5", "--ratio: 1.5 is above the maximum 1");
    expect_argv_error("--ratio", "-0.1", "--ratio: -0.1 is below the minimum 0");
    expect_argv_error("--ratio", "nan", "--ratio: \"nan\" is not a number");
    expect_argv_error("--ratio", "0x1p-1", "--ratio: \"0x1p-1\" is not a number");
    expect_argv_error("--notice", "50ms", "--notice: 50ms is below the minimum 100ms");
    expect_argv_error("--notice", "8d", "--notice: 8d is above the maximum 7d");
    expect_argv_error("--notice", "15 m",
                      "--notice: \"15 m\" is not a duration (examples: 30s, 15m, 2h)");
    expect_argv_error("--notice", "15x",
                      "--notice: \"15x\" is not a duration (examples: 30s, 15m, 2h)");
    expect_argv_error("--log-level", "loud",
                      "--log-level: \"loud\" is not one of: debug, info, warn");
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    expect_argv_error("--name", big, "--name: the value is longer than 4095 bytes");

    /* environment */
    expect_env_error("DECONFLICT_NOTICE=abc",
                     "env DECONFLICT_NOTICE: \"abc\" is not a duration (examples: 30s, 15m, 2h)");
    expect_env_error("DECONFLICT_THREADS=0", "env DECONFLICT_THREADS: 0 is below the minimum 1");
    expect_env_error("DECONFLICT_VERBOSE=yes",
                     "env DECONFLICT_VERBOSE: \"yes\" is not a boolean (true, false, 1, 0)");

    /* config file */
    expect_file_error("{\"thredas\": 4}", DCF_EINVAL,
                      "unknown key \"thredas\" (did you mean \"threads\"?)");
    expect_file_error("{\"colour\": 4}", DCF_EINVAL, "unknown key \"colour\"");
    expect_file_error("{\"threads\": 0}", DCF_EINVAL, "threads: 0 is below the minimum 1");
    expect_file_error("{\"threads\": true}", DCF_EINVAL,
                      "threads: expected an integer, got a boolean");
    expect_file_error("{\"threads\": 2.5}", DCF_EINVAL, "threads: 2.5 is not an integer");
    expect_file_error("{\"name\": 7}", DCF_EINVAL, "name: expected a string, got an integer");
    expect_file_error("{\"verbose\": \"perhaps\"}", DCF_EINVAL,
                      "verbose: \"perhaps\" is not a boolean (true, false, 1, 0)");
    expect_file_error("{\"notice\": [1]}", DCF_EINVAL,
                      "notice: expected a duration (string or seconds), got an array");
    expect_file_error("{\"notice\": 0.05}", DCF_EINVAL, "notice: 0.05 is below the minimum 100ms");
    expect_file_error("{\"ratio\": null}", DCF_EINVAL, "ratio: expected a number, got null");
    expect_file_error("[1, 2]", DCF_EINVAL, "the file must hold a JSON object");
    expect_file_error("{\"threads\": 4", DCF_EINVAL,
                      "line 1 column 13: '}' expected near end of file");
    expect_file_error("{\"threads\": 4, \"threads\": 5}", DCF_EINVAL,
                      "line 1 column 24: duplicate object key near '\"threads\"'");
    {
        char *huge = malloc(DCF_CONFIG_FILE_MAX + 64);
        size_t n = (size_t)snprintf(huge, 32, "{\"name\": \"");
        memset(huge + n, 'y', DCF_CONFIG_FILE_MAX);
        strcpy(huge + n + DCF_CONFIG_FILE_MAX, "\"}");
        expect_file_error(huge, DCF_EINVAL, "larger than 65536 bytes");
        free(huge);
    }

    /* the file is read before env and argv are looked at, yet argv errors
     * still leave the defaults even after a good file */
    {
        char env[160], a0[] = "--threads=99";
        char *envp[] = {env, NULL}, *argv[] = {a0};
        write_file(tmp_path("good.json"), "{\"threads\": 4}");
        snprintf(env, sizeof(env), "DECONFLICT_CONFIG=%s", tmp_path("good.json"));
        expect_error(1, argv, envp, DCF_EINVAL, "--threads: 99 is above the maximum 64");
    }
}

static void test_table_errors(void) {
    dcf_config_opt_t bad[2] = {OPTS[1], OPTS[1]};
    cfg_t c;

    memset(&c, 0, sizeof(c));
    CHECK_INT(dcf_config_parse(bad, 2, &c, 0, NULL, NULL, err, sizeof(err)), DCF_EINVAL);
    CHECK_STR(err, "option table: --threads appears twice");
    bad[1].flag = "workers";
    bad[1].env = NULL;
    bad[1].key = NULL;
    bad[1].def = "100";
    CHECK_INT(dcf_config_parse(bad, 2, &c, 0, NULL, NULL, err, sizeof(err)), DCF_EINVAL);
    CHECK_STR(err, "option table: default of --workers: 100 is above the maximum 64");
}

static void test_help(void) {
    cfg_t c;
    char a0[] = "--threads=0", a1[] = "--help";
    char *argv[] = {a0, a1};
    char *text = NULL;
    size_t len = 0;
    FILE *f;

    /* --help wins over anything else on the line */
    CHECK_INT(parse(&c, 2, argv, NULL), DCF_ESTATE);
    CHECK(memcmp(&c, &defaults, sizeof(c)) == 0);

    f = open_memstream(&text, &len);
    dcf_config_help(OPTS, N_OPTS, f);
    fclose(f);
    for (size_t i = 0; i < N_OPTS; i++) {
        char flag[80];
        snprintf(flag, sizeof(flag), "--%s", OPTS[i].flag);
        CHECK_MSG(strstr(text, flag) != NULL, "help lacks %s", flag);
        CHECK_MSG(strstr(text, OPTS[i].help) != NULL, "help lacks \"%s\"", OPTS[i].help);
    }
    /* one aligned line per option: flag column, help, bounds and default,
     * then where else the option can be set */
    const char *t = strstr(text, "  --threads N "), *v = strstr(text, "  --verbose ");
    const char *th = strstr(text, "HTTP worker threads (1..64, default 2)  "
                                  "[env DECONFLICT_THREADS, key threads]\n");
    const char *vh = strstr(text, "log more (default false)  [env DECONFLICT_VERBOSE, key "
                                  "verbose]\n");
    CHECK(t != NULL && th != NULL && v != NULL && vh != NULL);
    if (t && th && v && vh) {
        CHECK_INT(th - t, vh - v); /* same help column */
        CHECK(strspn(t + strlen("  --threads N"), " ") ==
              (size_t)(th - t) - strlen("  --threads N"));
    }
    CHECK(strstr(text, "--log-level debug|info|warn") != NULL);
    CHECK(strstr(text, "(100ms..7d, default 15m)") != NULL);
    CHECK(strstr(text, "--help") != NULL);
    free(text);
}

static void test_dump_roundtrip(void) {
    cfg_t c, back;
    char a0[] = "--threads=7", a1[] = "--verbose", a2[] = "--ratio=0.125", a3[] = "--notice=90m",
         a4[] = "--name=quote \" and \\ and ünïcode", a5[] = "--log-level=warn";
    char *argv[] = {a0, a1, a2, a3, a4, a5};
    char a6[] = "--config", a7[128];
    char *argv2[] = {a6, a7};
    FILE *f;

    CHECK_INT(parse(&c, 6, argv, NULL), DCF_OK);
    f = fopen(tmp_path("dump.json"), "w");
    CHECK_INT(dcf_config_dump(OPTS, N_OPTS, &c, f), DCF_OK);
    fclose(f);
    snprintf(a7, sizeof(a7), "%s", tmp_path("dump.json"));
    CHECK_INT(parse(&back, 2, argv2, NULL), DCF_OK);
    CHECK_STR(back.config, tmp_path("dump.json"));
    memcpy(back.config, c.config, sizeof(c.config)); /* the one field a dump cannot hold */
    CHECK(memcmp(&c, &back, sizeof(c)) == 0);
    CHECK_INT(back.threads, 7);
    CHECK_INT(back.notice_us, INT64_C(5400000000));
    CHECK_STR(back.name, "quote \" and \\ and ünïcode");

    /* odd durations survive too */
    char a8[] = "--notice=1.000001";
    char *argv3[] = {a8};
    CHECK_INT(parse(&c, 1, argv3, NULL), DCF_OK);
    f = fopen(tmp_path("dump.json"), "w");
    CHECK_INT(dcf_config_dump(OPTS, N_OPTS, &c, f), DCF_OK);
    fclose(f);
    CHECK_INT(parse(&back, 2, argv2, NULL), DCF_OK);
    CHECK_INT(back.notice_us, 1000001);
}

static void cleanup(void) {
    const char *names[] = {"prec.json", "dur.json", "bad.json", "good.json", "dump.json"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        unlink(tmp_path(names[i]));
    rmdir(tmpdir);
}

int main(void) {
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/dcf-config-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_defaults);
    RUN(test_precedence);
    RUN(test_forms);
    RUN(test_durations);
    RUN(test_errors);
    RUN(test_table_errors);
    RUN(test_help);
    RUN(test_dump_roundtrip);
    cleanup();
    TEST_DONE();
}
