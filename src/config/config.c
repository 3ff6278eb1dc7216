/*
 * config.c -- typed, bounded options from one table: defaults, a JSON
 * config file, the environment and the command line.
 *
 * HOW IT WORKS.  Parsing never touches the target until the end.  Every
 * option gets a staged value (val_t); the stages are filled in precedence
 * order -- default, config file, environment, command line -- each source
 * parsed and checked against the option's type and bounds as it is
 * applied.  Only when every source has been applied without error are the
 * staged values written into the target through the offsets.  On any error
 * the target receives the defaults alone.
 *
 * The config file is named by the DCF_CONFIG_FILE option, looked up on the
 * command line first, then in the environment, then its default, before
 * anything else is applied.  FILE options cannot appear in the file itself.
 *
 * MESSAGES name the source ("--threads", "env DECONFLICT_THREADS",
 * "config /etc/d.json: threads") and the rule broken ("0 is below the
 * minimum 1").  An option table that is itself wrong (duplicate flag,
 * default out of bounds, ...) is reported as "option table: ...".
 *
 * LIMITS.  At most OPTS_MAX options; flags, env names and keys under
 * FLAG_MAX bytes; string values under DCF_CONFIG_VALUE_MAX; config files up
 * to DCF_CONFIG_FILE_MAX bytes.  Unknown flags and keys within edit
 * distance 2 of a known one get a "did you mean" hint.
 *
 * No global state; every function may run on any thread.  Callers:
 * the program's commands (serve, ...), tests.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deconflict/config.h"

#define OPTS_MAX   256 /* options in one table */
#define FLAG_MAX   64  /* bytes of a flag, env name or key */
#define SOURCE_MAX (DCF_CONFIG_VALUE_MAX + 80)

typedef struct {
    bool b;
    int64_t i; /* INT, DURATION (microseconds) */
    double d;
    int e;
    char *s; /* STRING, FILE: owned */
} val_t;

static const char *const type_arg[] = {
    [DCF_CONFIG_BOOL] = "",        [DCF_CONFIG_INT] = "N",       [DCF_CONFIG_DOUBLE] = "X",
    [DCF_CONFIG_DURATION] = "DUR", [DCF_CONFIG_STRING] = "TEXT", [DCF_CONFIG_ENUM] = "",
    [DCF_CONFIG_FILE] = "PATH",
};

static void vals_free(val_t *v, size_t n) {
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i].s);
    free(v);
}

/* ------------------------------------------------------------ numbers -- */

/* A number for a message: integers without a fraction. */
static void fmt_num(char *buf, size_t len, double x) {
    if (x == floor(x) && fabs(x) < 1e18)
        snprintf(buf, len, "%lld", (long long)x);
    else
        snprintf(buf, len, "%g", x);
}

/* Microseconds as the shortest exact text: "1d", "15m", "250ms", else
 * fractional seconds ("1.000001"). */
static void fmt_duration(char *buf, size_t len, int64_t us) {
    static const struct {
        int64_t us;
        const char *unit;
    } u[] = {{INT64_C(86400000000), "d"},
             {INT64_C(3600000000), "h"},
             {INT64_C(60000000), "m"},
             {INT64_C(1000000), "s"},
             {INT64_C(1000), "ms"}};

    if (us == 0) {
        snprintf(buf, len, "0s");
        return;
    }
    for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++)
        if (us % u[i].us == 0) {
            snprintf(buf, len, "%lld%s", (long long)(us / u[i].us), u[i].unit);
            return;
        }
    snprintf(buf, len, "%s%lld.%06lld", us < 0 ? "-" : "", (long long)(llabs(us) / 1000000),
             (long long)(llabs(us) % 1000000));
}

/* The shortest of %.15g..%.17g that reads back as x. */
static void fmt_real(char *buf, size_t len, double x) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            return;
    }
}

static void fmt_bound(char *buf, size_t len, const dcf_config_opt_t *o, double x) {
    if (o->type == DCF_CONFIG_DURATION && fabs(x) < 9e12)
        fmt_duration(buf, len, llround(x * 1e6));
    else
        fmt_num(buf, len, x);
}

/* The whole of s is a decimal integer. */
static bool parse_i64(const char *s, int64_t *out) {
    char *end;
    long long v;

    if (*s == '\0' || strspn(s, " \t") > 0)
        return false;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* The whole of s is a finite decimal number (no hex, inf or nan). */
static bool parse_f64(const char *s, double *out) {
    char *end;
    double v;

    if (*s == '\0' || strspn(s, "+-.0123456789eE") != strlen(s))
        return false;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* "250ms", "30s", "15m", "2h", "1d" or bare seconds -> seconds. */
static bool parse_duration_s(const char *s, double *out) {
    static const struct {
        const char *unit;
        double sec;
    } u[] = {{"ms", 1e-3}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}};
    char num[64];
    size_t n = strspn(s, "+-.0123456789eE");
    double v, mult = 1;

    if (n == 0 || n >= sizeof(num))
        return false;
    memcpy(num, s, n);
    num[n] = '\0';
    if (s[n] != '\0') {
        size_t i = 0;
        while (i < sizeof(u) / sizeof(u[0]) && strcmp(s + n, u[i].unit) != 0)
            i++;
        if (i == sizeof(u) / sizeof(u[0]))
            return false;
        mult = u[i].sec;
    }
    if (!parse_f64(num, &v))
        return false;
    *out = v * mult;
    return isfinite(*out);
}

/* ------------------------------------------------------------- values -- */

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return DCF_EINVAL;
}

static int check_bounds(const dcf_config_opt_t *o, double x, const char *text, const char *src,
                        char *err, size_t errlen) {
    char b[64];

    if (x < o->min) {
        fmt_bound(b, sizeof(b), o, o->min);
        return fail(err, errlen, "%s: %s is below the minimum %s", src, text, b);
    }
    if (x > o->max) {
        fmt_bound(b, sizeof(b), o, o->max);
        return fail(err, errlen, "%s: %s is above the maximum %s", src, text, b);
    }
    return DCF_OK;
}

static int set_string(const char *text, size_t len, const char *src, val_t *v, char *err,
                      size_t errlen) {
    char *copy;

    if (len >= DCF_CONFIG_VALUE_MAX)
        return fail(err, errlen, "%s: the value is longer than %d bytes", src,
                    DCF_CONFIG_VALUE_MAX - 1);
    if (strlen(text) != len)
        return fail(err, errlen, "%s: the value holds a NUL character", src);
    copy = strdup(text);
    if (copy == NULL)
        return DCF_ENOMEM;
    free(v->s);
    v->s = copy;
    return DCF_OK;
}

/* Parse `text` for option o into v.  src names the source for messages. */
static int parse_text(const dcf_config_opt_t *o, const char *text, const char *src, val_t *v,
                      char *err, size_t errlen) {
    int64_t i;
    double d;
    int rc;

    switch (o->type) {
    case DCF_CONFIG_BOOL:
        if (strcasecmp(text, "true") == 0 || strcmp(text, "1") == 0)
            v->b = true;
        else if (strcasecmp(text, "false") == 0 || strcmp(text, "0") == 0)
            v->b = false;
        else
            return fail(err, errlen, "%s: \"%.64s\" is not a boolean (true, false, 1, 0)", src,
                        text);
        return DCF_OK;
    case DCF_CONFIG_INT:
        if (!parse_i64(text, &i))
            return fail(err, errlen, "%s: \"%.64s\" is not an integer", src, text);
        if ((rc = check_bounds(o, (double)i, text, src, err, errlen)) != DCF_OK)
            return rc;
        v->i = i;
        return DCF_OK;
    case DCF_CONFIG_DOUBLE:
        if (!parse_f64(text, &d))
            return fail(err, errlen, "%s: \"%.64s\" is not a number", src, text);
        if ((rc = check_bounds(o, d, text, src, err, errlen)) != DCF_OK)
            return rc;
        v->d = d;
        return DCF_OK;
    case DCF_CONFIG_DURATION:
        if (!parse_duration_s(text, &d))
            return fail(err, errlen, "%s: \"%.64s\" is not a duration (examples: 30s, 15m, 2h)",
                        src, text);
        if ((rc = check_bounds(o, d, text, src, err, errlen)) != DCF_OK)
            return rc;
        if (fabs(d) * 1e6 >= 9.2e18)
            return fail(err, errlen, "%s: %s is out of range", src, text);
        v->i = llround(d * 1e6);
        return DCF_OK;
    case DCF_CONFIG_ENUM:
        for (int k = 0; o->choices[k] != NULL; k++)
            if (strcmp(o->choices[k], text) == 0) {
                v->e = k;
                return DCF_OK;
            }
        {
            char list[512] = "";
            for (int k = 0; o->choices[k] != NULL; k++) {
                size_t used = strlen(list);
                snprintf(list + used, sizeof(list) - used, "%s%s", k ? ", " : "", o->choices[k]);
            }
            return fail(err, errlen, "%s: \"%.64s\" is not one of: %s", src, text, list);
        }
    case DCF_CONFIG_STRING:
    case DCF_CONFIG_FILE:
        return set_string(text, strlen(text), src, v, err, errlen);
    }
    return fail(err, errlen, "%s: unknown option type", src);
}

static const char *json_kind(const json_t *j) {
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* A config-file value: strings are parsed as text; numbers and booleans
 * are taken natively where the type allows. */
static int parse_json(const dcf_config_opt_t *o, const json_t *j, const char *src, val_t *v,
                      char *err, size_t errlen) {
    char text[64];
    const char *want;

    if (json_is_string(j)) {
        if (o->type == DCF_CONFIG_STRING || o->type == DCF_CONFIG_FILE)
            return set_string(json_string_value(j), json_string_length(j), src, v, err, errlen);
        if (strlen(json_string_value(j)) != json_string_length(j))
            return fail(err, errlen, "%s: the value holds a NUL character", src);
        return parse_text(o, json_string_value(j), src, v, err, errlen);
    }
    switch (o->type) {
    case DCF_CONFIG_BOOL:
        if (json_is_boolean(j)) {
            v->b = json_is_true(j);
            return DCF_OK;
        }
        want = "a boolean";
        break;
    case DCF_CONFIG_INT:
        if (json_is_integer(j)) {
            snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
            return parse_text(o, text, src, v, err, errlen);
        }
        if (json_is_real(j)) {
            fmt_num(text, sizeof(text), json_real_value(j));
            return fail(err, errlen, "%s: %s is not an integer", src, text);
        }
        want = "an integer";
        break;
    case DCF_CONFIG_DOUBLE:
    case DCF_CONFIG_DURATION:
        if (json_is_number(j)) {
            fmt_real(text, sizeof(text), json_number_value(j));
            return parse_text(o, text, src, v, err, errlen);
        }
        want = o->type == DCF_CONFIG_DOUBLE ? "a number" : "a duration (string or seconds)";
        break;
    default:
        want = "a string";
        break;
    }
    return fail(err, errlen, "%s: expected %s, got %s", src, want, json_kind(j));
}

/* -------------------------------------------------------------- table -- */

static int check_table(const dcf_config_opt_t *opts, size_t n, val_t *defs, char *err,
                       size_t errlen) {
    size_t files = 0;
    char src[FLAG_MAX + 32];
    int rc;

    if (n > OPTS_MAX)
        return fail(err, errlen, "option table: %zu options, at most %d", n, OPTS_MAX);
    for (size_t i = 0; i < n; i++) {
        const dcf_config_opt_t *o = &opts[i];

        if (o->flag == NULL || o->flag[0] == '\0' || strlen(o->flag) >= FLAG_MAX ||
            strchr(o->flag, '=') != NULL || strcmp(o->flag, "help") == 0)
            return fail(err, errlen, "option table: option %zu: bad flag", i);
        if ((o->env && strlen(o->env) >= FLAG_MAX) || (o->key && strlen(o->key) >= FLAG_MAX))
            return fail(err, errlen, "option table: --%s: env or key too long", o->flag);
        if ((unsigned)o->type > DCF_CONFIG_FILE)
            return fail(err, errlen, "option table: --%s: unknown type", o->flag);
        if (o->type == DCF_CONFIG_ENUM && (o->choices == NULL || o->choices[0] == NULL))
            return fail(err, errlen, "option table: --%s: an enum needs choices", o->flag);
        if ((o->type == DCF_CONFIG_INT || o->type == DCF_CONFIG_DOUBLE ||
             o->type == DCF_CONFIG_DURATION) &&
            !(o->min <= o->max))
            return fail(err, errlen, "option table: --%s: min is above max", o->flag);
        if (o->type == DCF_CONFIG_FILE && ++files > 1)
            return fail(err, errlen, "option table: more than one config-file option");
        for (size_t k = 0; k < i; k++) {
            if (strcmp(opts[k].flag, o->flag) == 0)
                return fail(err, errlen, "option table: --%s appears twice", o->flag);
            if (o->env && opts[k].env && strcmp(opts[k].env, o->env) == 0)
                return fail(err, errlen, "option table: env %s appears twice", o->env);
            if (o->key && opts[k].key && strcmp(opts[k].key, o->key) == 0)
                return fail(err, errlen, "option table: key %s appears twice", o->key);
        }
        snprintf(src, sizeof(src), "option table: default of --%s", o->flag);
        if (o->def != NULL && o->def[0] != '\0') {
            if ((rc = parse_text(o, o->def, src, &defs[i], err, errlen)) != DCF_OK)
                return rc;
        } else if (o->type == DCF_CONFIG_ENUM) {
            defs[i].e = 0;
        } else if ((o->type == DCF_CONFIG_INT || o->type == DCF_CONFIG_DOUBLE ||
                    o->type == DCF_CONFIG_DURATION) &&
                   (0 < o->min || 0 > o->max)) {
            return fail(err, errlen, "%s: none given and 0 is outside the bounds", src);
        }
    }
    return DCF_OK;
}

static void write_target(const dcf_config_opt_t *opts, size_t n, const val_t *v, void *target) {
    for (size_t i = 0; i < n; i++) {
        char *p = (char *)target + opts[i].offset;

        switch (opts[i].type) {
        case DCF_CONFIG_BOOL:
            memcpy(p, &v[i].b, sizeof(bool));
            break;
        case DCF_CONFIG_INT:
        case DCF_CONFIG_DURATION:
            memcpy(p, &v[i].i, sizeof(int64_t));
            break;
        case DCF_CONFIG_DOUBLE:
            memcpy(p, &v[i].d, sizeof(double));
            break;
        case DCF_CONFIG_ENUM:
            memcpy(p, &v[i].e, sizeof(int));
            break;
        case DCF_CONFIG_STRING:
        case DCF_CONFIG_FILE:
            snprintf(p, DCF_CONFIG_VALUE_MAX, "%s", v[i].s ? v[i].s : "");
            break;
        }
    }
}

static int copy_vals(const val_t *from, val_t *to, size_t n) {
    for (size_t i = 0; i < n; i++) {
        to[i] = from[i];
        to[i].s = NULL;
        if (from[i].s != NULL && (to[i].s = strdup(from[i].s)) == NULL)
            return DCF_ENOMEM;
    }
    return DCF_OK;
}

/* Edit distance, for "did you mean" hints (names are short). */
static size_t distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b), row[FLAG_MAX + 1];

    if (la >= FLAG_MAX || lb >= FLAG_MAX)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The closest flag (by_key false) or key within distance 2, or NULL. */
static const char *closest(const dcf_config_opt_t *opts, size_t n, const char *name, bool by_key) {
    const char *best = NULL;
    size_t bd = 3;

    for (size_t i = 0; i < n; i++) {
        const char *cand = by_key ? opts[i].key : opts[i].flag;
        size_t d;
        if (cand == NULL || (by_key && opts[i].type == DCF_CONFIG_FILE))
            continue;
        d = distance(name, cand);
        if (d < bd)
            bd = d, best = cand;
    }
    return best;
}

/* ------------------------------------------------------------ sources -- */

typedef struct {
    size_t opt;
    const char *value; /* borrowed from argv, or "true" for a bare bool */
} arg_t;

static int scan_argv(const dcf_config_opt_t *opts, size_t n, int argc, char *const *argv,
                     arg_t *args, size_t *n_args, char *err, size_t errlen) {
    *n_args = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *eq, *hint;
        char name[FLAG_MAX];
        size_t len, k;

        if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
            return fail(err, errlen, "unexpected argument \"%.64s\" (options start with --)", a);
        a += 2;
        eq = strchr(a, '=');
        len = eq ? (size_t)(eq - a) : strlen(a);
        for (k = 0; k < n; k++)
            if (strlen(opts[k].flag) == len && strncmp(opts[k].flag, a, len) == 0)
                break;
        if (k == n) {
            snprintf(name, sizeof(name), "%.*s", (int)(len < FLAG_MAX - 1 ? len : FLAG_MAX - 1), a);
            hint = closest(opts, n, name, false);
            if (hint != NULL)
                return fail(err, errlen, "--%s: unknown option (did you mean --%s?)", name, hint);
            return fail(err, errlen, "--%s: unknown option", name);
        }
        if (eq != NULL) {
            args[(*n_args)++] = (arg_t){k, eq + 1};
        } else if (opts[k].type == DCF_CONFIG_BOOL) {
            args[(*n_args)++] = (arg_t){k, "true"};
        } else {
            if (i + 1 >= argc)
                return fail(err, errlen, "--%s: missing value", opts[k].flag);
            args[(*n_args)++] = (arg_t){k, argv[++i]};
        }
    }
    return DCF_OK;
}

static const char *env_lookup(char *const *envp, const char *name) {
    size_t len = strlen(name);

    for (; envp != NULL && *envp != NULL; envp++)
        if (strncmp(*envp, name, len) == 0 && (*envp)[len] == '=')
            return *envp + len + 1;
    return NULL;
}

static int apply_file(const dcf_config_opt_t *opts, size_t n, const char *path, val_t *v, char *err,
                      size_t errlen) {
    FILE *f = NULL;
    char *buf = NULL, src[SOURCE_MAX];
    size_t len;
    json_t *root = NULL, *value;
    json_error_t jerr;
    const char *key;
    int rc = DCF_EINVAL;

    f = fopen(path, "rb");
    if (f == NULL) {
        rc = DCF_ENOENT;
        snprintf(err, errlen, "config %s: %s", path, strerror(errno));
        goto out;
    }
    buf = malloc(DCF_CONFIG_FILE_MAX + 1);
    if (buf == NULL) {
        rc = DCF_ENOMEM;
        goto out;
    }
    len = fread(buf, 1, DCF_CONFIG_FILE_MAX + 1, f);
    if (ferror(f)) {
        rc = DCF_ENOENT;
        snprintf(err, errlen, "config %s: read error", path);
        goto out;
    }
    if (len > DCF_CONFIG_FILE_MAX) {
        snprintf(err, errlen, "config %s: larger than %d bytes", path, DCF_CONFIG_FILE_MAX);
        goto out;
    }
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(err, errlen, "config %s: line %d column %d: %s", path, jerr.line, jerr.column,
                 jerr.text);
        goto out;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "config %s: the file must hold a JSON object", path);
        goto out;
    }
    json_object_foreach(root, key, value) {
        size_t k;
        for (k = 0; k < n; k++)
            if (opts[k].key != NULL && opts[k].type != DCF_CONFIG_FILE &&
                strcmp(opts[k].key, key) == 0)
                break;
        if (k == n) {
            const char *hint = closest(opts, n, key, true);
            if (hint != NULL)
                snprintf(err, errlen, "config %s: unknown key \"%.64s\" (did you mean \"%s\"?)",
                         path, key, hint);
            else
                snprintf(err, errlen, "config %s: unknown key \"%.64s\"", path, key);
            goto out;
        }
        snprintf(src, sizeof(src), "config %s: %s", path, key);
        if ((rc = parse_json(&opts[k], value, src, &v[k], err, errlen)) != DCF_OK)
            goto out;
    }
    rc = DCF_OK;
out:
    json_decref(root);
    free(buf);
    if (f != NULL)
        fclose(f);
    return rc;
}

int dcf_config_parse(const dcf_config_opt_t *opts, size_t n, void *target, int argc,
                     char *const *argv, char *const *envp, char *err, size_t errlen) {
    char scratch[8], src[FLAG_MAX + 8];
    val_t *defs = NULL, *v = NULL;
    arg_t *args = NULL;
    size_t n_args = 0;
    const char *path = NULL;
    int rc = DCF_ENOMEM;

    if (err == NULL) {
        err = scratch;
        errlen = sizeof(scratch);
    }
    if (errlen)
        err[0] = '\0';
    if (argc < 0 || (argc > 0 && argv == NULL) || (n > 0 && opts == NULL) || target == NULL)
        return fail(err, errlen, "bad arguments");
    defs = calloc(n + 1, sizeof(*defs));
    v = calloc(n + 1, sizeof(*v));
    args = calloc((size_t)argc + 1, sizeof(*args));
    if (defs == NULL || v == NULL || args == NULL)
        goto out;
    if ((rc = check_table(opts, n, defs, err, errlen)) != DCF_OK)
        goto out; /* the target stays untouched: there are no valid defaults */
    if ((rc = copy_vals(defs, v, n)) != DCF_OK)
        goto fail_defaults;

    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0) {
            rc = DCF_ESTATE;
            snprintf(err, errlen, "help requested");
            goto fail_defaults;
        }
    if ((rc = scan_argv(opts, n, argc, argv, args, &n_args, err, errlen)) != DCF_OK)
        goto fail_defaults;

    /* The config file: command line, then environment, then default. */
    for (size_t k = 0; k < n; k++) {
        if (opts[k].type != DCF_CONFIG_FILE)
            continue;
        path = opts[k].def;
        if (opts[k].env != NULL && env_lookup(envp, opts[k].env) != NULL)
            path = env_lookup(envp, opts[k].env);
        for (size_t a = 0; a < n_args; a++)
            if (args[a].opt == k)
                path = args[a].value;
    }
    if (path != NULL && path[0] != '\0' &&
        (rc = apply_file(opts, n, path, v, err, errlen)) != DCF_OK)
        goto fail_defaults;

    for (size_t k = 0; k < n; k++) {
        const char *text = opts[k].env ? env_lookup(envp, opts[k].env) : NULL;
        if (text == NULL)
            continue;
        snprintf(src, sizeof(src), "env %s", opts[k].env);
        if ((rc = parse_text(&opts[k], text, src, &v[k], err, errlen)) != DCF_OK)
            goto fail_defaults;
    }
    for (size_t a = 0; a < n_args; a++) {
        snprintf(src, sizeof(src), "--%s", opts[args[a].opt].flag);
        if ((rc = parse_text(&opts[args[a].opt], args[a].value, src, &v[args[a].opt], err,
                             errlen)) != DCF_OK)
            goto fail_defaults;
    }
    write_target(opts, n, v, target);
    rc = DCF_OK;
    goto out;

fail_defaults:
    write_target(opts, n, defs, target);
    if (rc == DCF_ENOMEM && errlen && err[0] == '\0')
        snprintf(err, errlen, "out of memory");
out:
    vals_free(defs, n);
    vals_free(v, n);
    free(args);
    return rc;
}

/* --------------------------------------------------------------- help -- */

/* "(1..64, default 2)" and friends. */
static void describe(const dcf_config_opt_t *o, char *buf, size_t len) {
    char lo[64], hi[64];
    size_t used = 0;

    buf[0] = '\0';
    if (o->type == DCF_CONFIG_INT || o->type == DCF_CONFIG_DOUBLE ||
        o->type == DCF_CONFIG_DURATION) {
        fmt_bound(lo, sizeof(lo), o, o->min);
        fmt_bound(hi, sizeof(hi), o, o->max);
        used += (size_t)snprintf(buf, len, "%s..%s", lo, hi);
    }
    if (used < len) {
        if (o->def != NULL && o->def[0] != '\0')
            snprintf(buf + used, len - used, "%sdefault %s", used ? ", " : "", o->def);
        else if (o->type == DCF_CONFIG_BOOL)
            snprintf(buf + used, len - used, "%sdefault false", used ? ", " : "");
        else if (o->type == DCF_CONFIG_ENUM)
            snprintf(buf + used, len - used, "%sdefault %s", used ? ", " : "", o->choices[0]);
    }
}

static void flag_column(const dcf_config_opt_t *o, char *buf, size_t len) {
    if (o->type == DCF_CONFIG_ENUM) {
        size_t used = (size_t)snprintf(buf, len, "--%s ", o->flag);
        for (int k = 0; o->choices && o->choices[k] && used < len; k++)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", k ? "|" : "", o->choices[k]);
    } else if (o->type == DCF_CONFIG_BOOL) {
        snprintf(buf, len, "--%s", o->flag);
    } else {
        snprintf(buf, len, "--%s %s", o->flag, type_arg[o->type]);
    }
}

void dcf_config_help(const dcf_config_opt_t *opts, size_t n, FILE *out) {
    char col[256], desc[192];
    size_t width = 0;

    for (size_t i = 0; i < n; i++) {
        flag_column(&opts[i], col, sizeof(col));
        if (strlen(col) > width)
            width = strlen(col);
    }
    if (width > 30)
        width = 30;
    for (size_t i = 0; i < n; i++) {
        const dcf_config_opt_t *o = &opts[i];

        flag_column(o, col, sizeof(col));
        describe(o, desc, sizeof(desc));
        if (strlen(col) > width) /* too wide: help on the next line */
            fprintf(out, "  %s\n  %-*s", col, (int)width, "");
        else
            fprintf(out, "  %-*s", (int)width, col);
        fprintf(out, "  %s", o->help ? o->help : "");
        if (desc[0] != '\0')
            fprintf(out, " (%s)", desc);
        if (o->env != NULL || o->key != NULL) {
            fputs("  [", out);
            if (o->env != NULL)
                fprintf(out, "env %s", o->env);
            if (o->key != NULL && o->type != DCF_CONFIG_FILE)
                fprintf(out, "%skey %s", o->env ? ", " : "", o->key);
            fputc(']', out);
        }
        fputc('\n', out);
    }
    fprintf(out, "  %-*s  %s\n", (int)width, "--help", "print this help");
}

/* --------------------------------------------------------------- dump -- */

int dcf_config_dump(const dcf_config_opt_t *opts, size_t n, const void *target, FILE *out) {
    json_t *o = json_object(), *j;
    char text[64];
    int rc = DCF_ENOMEM;

    if (o == NULL)
        return DCF_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *p = (const char *)target + opts[i].offset;
        bool b;
        int64_t i64;
        double d;
        int e;

        if (opts[i].key == NULL || opts[i].type == DCF_CONFIG_FILE)
            continue; /* not expressible in a config file */
        switch (opts[i].type) {
        case DCF_CONFIG_BOOL:
            memcpy(&b, p, sizeof(b));
            j = json_boolean(b);
            break;
        case DCF_CONFIG_INT:
            memcpy(&i64, p, sizeof(i64));
            j = json_integer((json_int_t)i64);
            break;
        case DCF_CONFIG_DOUBLE:
            memcpy(&d, p, sizeof(d));
            j = json_real(d);
            break;
        case DCF_CONFIG_DURATION:
            memcpy(&i64, p, sizeof(i64));
            fmt_duration(text, sizeof(text), i64);
            j = json_string(text);
            break;
        case DCF_CONFIG_ENUM:
            memcpy(&e, p, sizeof(e));
            j = NULL;
            for (int k = 0; e >= 0 && opts[i].choices[k] != NULL; k++)
                if (k == e)
                    j = json_string(opts[i].choices[k]);
            break;
        default:
            j = json_stringn(p, strnlen(p, DCF_CONFIG_VALUE_MAX - 1));
            break;
        }
        if (j == NULL) { /* an enum index out of range, a string not UTF-8 */
            rc = DCF_EINVAL;
            goto out;
        }
        if (json_object_set_new(o, opts[i].key, j) != 0)
            goto out;
    }
    if (json_dumpf(o, out, JSON_INDENT(2)) != 0 || fputc('\n', out) == EOF) {
        rc = DCF_EIO;
        goto out;
    }
    rc = ferror(out) ? DCF_EIO : DCF_OK;
out:
    json_decref(o);
    return rc;
}
