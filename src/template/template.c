/*
 * template.c -- hotline message templates: loading and checking template
 * files, validating a message's field values, rendering in each locale, and
 * picking the locale from Accept-Language.
 *
 * WHAT IT KEEPS TRUE.  A template that loads is safe to render: its id is
 * unique in its set and matches its file name; every field has a type from
 * TYPES below and bounds inside the model's limits; each locale in LOCALES
 * has a title, help texts, enum labels and a rendering; each rendering's
 * placeholders name fields, every field is shown by every rendering, and an
 * optional field is shown only inside its own {?name}...{/name} section.
 * Therefore a value set that passes validation renders without holes, and
 * each side of a line reads the same facts.  The format is docs/templates.md.
 *
 * HOW IT WORKS.  A template file is parsed once with jansson and kept: every
 * string a template uses (id, titles, labels, help, the renderings' text) is
 * borrowed from that document, which the template owns and never changes.
 * Each rendering is compiled at load time into segments -- literal text
 * (pointing into the document), a field's value, the start or end of an
 * optional section -- so rendering is one pass over the segments.  Field
 * types are a table (TYPES): each type has its extra members in the template
 * file, a loader for its bounds, a checker for a value and a formatter per
 * locale.  Locales are a table too (LOCALES): separators, units, hemisphere
 * names and the phrases of an area summary.  Adding a type or a locale is
 * adding a row (and, for a locale, the texts in every template file).
 *
 * Validation reports the first rule broken, with an RFC 6901 pointer built
 * from the caller's prefix, the field name and the path inside the value.
 * Areas are judged by the geo module (dcf_footprint_polygon/_circle): this
 * file only reads the JSON shape of docs/model.md and passes the numbers on.
 *
 * LIMITS.  dcf_template_limits_t bounds files, bytes, fields, placeholders,
 * nesting and rendered bytes; DCF_TEMPLATE_* bound names, labels, enum
 * values and text lengths.  Field values are bounded by their template.
 *
 * Callers: the server (templates embedded at build time), tests.  No global
 * state; a loaded set is read-only and may be shared between threads.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "deconflict/geo.h"
#include "deconflict/template.h"

#define PTR_MAX       sizeof(((dcf_template_error_t *)0)->pointer)
#define RULE_MAX      sizeof(((dcf_template_error_t *)0)->rule)
#define REF_TAIL_MAX  (DCF_ID_MAX - 3)    /* characters after "op-" / "cf-" */
#define WINDOW_MAX_S  (366 * 86400)       /* largest max_duration_s of a time-window */
#define ACCEPT_MAX    4096                /* bytes of Accept-Language read */
#define ACCEPT_ELEMS  64                  /* elements of Accept-Language read */
#define VERSION_MAX   INT64_C(2147483647) /* largest template version */
#define ERR_TEXT_MAX  120                 /* bytes of a jansson message quoted */
#define FILENAME_MAX_ 255                 /* bytes of a file name in a directory */

void dcf_template_limits_default(dcf_template_limits_t *l) {
    l->max_files = DCF_TEMPLATE_DEFAULT_MAX_FILES;
    l->max_file_bytes = DCF_TEMPLATE_DEFAULT_MAX_FILE_BYTES;
    l->max_fields = DCF_TEMPLATE_DEFAULT_MAX_FIELDS;
    l->max_placeholders = DCF_TEMPLATE_DEFAULT_MAX_PLACEHOLDERS;
    l->max_depth = DCF_TEMPLATE_DEFAULT_MAX_DEPTH;
    l->max_render_bytes = DCF_TEMPLATE_DEFAULT_MAX_RENDER_BYTES;
}

/* ----------------------------------------------------------- locales -- */

typedef struct {
    const char *tag;
    const char *group;                       /* thousands separator */
    const char *decimal;                     /* decimal separator */
    const char *metres;                      /* unit after a length, with its space */
    int day_first;                           /* 01.12.2026 rather than 2026-12-01 */
    const char *north, *south, *east, *west; /* after the degrees */
    const char *latlng_sep;                  /* between a latitude and a longitude */
    const char *circle, *centred;            /* "circle of radius " R " centred at " C */
    const char *polygon;                     /* "polygon of " N " " word */
    const char *(*vertices)(size_t n);       /* that word for n vertices */
    const char *lat_from, *lng_from, *to;    /* ", latitude " A " to " B ... */
} tloc_t;

static const char *en_vertices(size_t n) {
    (void)n; /* a polygon has at least 3 */
    return "vertices";
}

/* Genitive after "из": "из 21 вершины", "из 4 вершин", "из 11 вершин". */
static const char *ru_vertices(size_t n) {
    return n % 10 == 1 && n % 100 != 11 ? "вершины" : "вершин";
}

enum { LOC_EN, LOC_RU, NLOC };

static const tloc_t LOCALES[NLOC] = {
    [LOC_EN] = {.tag = "en",
                .group = ",",
                .decimal = ".",
                .metres = " m",
                .day_first = 0,
                .north = "°N",
                .south = "°S",
                .east = "°E",
                .west = "°W",
                .latlng_sep = " ",
                .circle = "circle of radius ",
                .centred = " centred at ",
                .polygon = "polygon of ",
                .vertices = en_vertices,
                .lat_from = ", latitude ",
                .lng_from = ", longitude ",
                .to = " to "},
    [LOC_RU] = {.tag = "ru",
                .group = " ",
                .decimal = ",",
                .metres = " м",
                .day_first = 1,
                .north = "° с. ш.",
                .south = "° ю. ш.",
                .east = "° в. д.",
                .west = "° з. д.",
                .latlng_sep = ", ",
                .circle = "круг радиусом ",
                .centred = " с центром ",
                .polygon = "многоугольник из ",
                .vertices = ru_vertices,
                .lat_from = ", широта от ",
                .lng_from = ", долгота от ",
                .to = " до "},
};

static int locale_find(const char *tag) {
    for (int i = 0; tag != NULL && i < NLOC; i++)
        if (strcmp(LOCALES[i].tag, tag) == 0)
            return i;
    return -1;
}

/* ------------------------------------------------------------ errors -- */

static void set_errv(dcf_template_error_t *err, const char *file, const char *pointer,
                     const char *fmt, va_list ap) {
    if (err == NULL)
        return;
    snprintf(err->file, sizeof err->file, "%s", file != NULL ? file : "");
    snprintf(err->pointer, sizeof err->pointer, "%s", pointer != NULL ? pointer : "");
    vsnprintf(err->rule, sizeof err->rule, fmt, ap);
}

/* A rule broken by a field value: DCF_EINVAL, no file. */
__attribute__((format(printf, 3, 4))) static int vfail(dcf_template_error_t *err,
                                                       const char *pointer, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    set_errv(err, NULL, pointer, fmt, ap);
    va_end(ap);
    return DCF_EINVAL;
}

char *dcf_template_error_format(const dcf_template_error_t *err, char *buf, size_t len) {
    if (len == 0)
        return buf;
    buf[0] = '\0';
    if (err == NULL)
        return buf;
    const char *parts[3] = {err->file, err->pointer, err->rule};
    size_t at = 0;
    for (int i = 0; i < 3; i++) {
        if (parts[i][0] == '\0')
            continue;
        int k = snprintf(buf + at, len - at, "%s%s", at > 0 ? ": " : "", parts[i]);
        if (k < 0 || (size_t)k >= len - at)
            break;
        at += (size_t)k;
    }
    return buf;
}

/* out = base + "/" + key with ~ and / escaped (RFC 6901), truncated to fit. */
static void ptr_key(char out[PTR_MAX], const char *base, const char *key) {
    size_t n = (size_t)snprintf(out, PTR_MAX, "%s/", base);
    if (n >= PTR_MAX)
        return;
    for (const char *k = key; *k != '\0' && n + 3 < PTR_MAX; k++) {
        if (*k == '~' || *k == '/') {
            out[n++] = '~';
            out[n++] = *k == '~' ? '0' : '1';
        } else {
            out[n++] = *k;
        }
    }
    out[n] = '\0';
}

static void ptr_idx(char out[PTR_MAX], const char *base, size_t i) {
    char num[24];
    size_t k = sizeof num;
    num[--k] = '\0';
    do {
        num[--k] = (char)('0' + i % 10);
        i /= 10;
    } while (i > 0 && k > 0);
    ptr_key(out, base, num + k);
}

/* A number for a message: integers without a fraction. */
static void fmt_num(char *buf, size_t len, double x) {
    if (x == floor(x) && fabs(x) < 1e15)
        snprintf(buf, len, "%.0f", x);
    else
        snprintf(buf, len, "%g", x);
}

/* ------------------------------------------------------------- UTF-8 -- */

/* Decode one code point of s[0..n); returns its length, 0 when malformed. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 0;
    if (len == 0 || len > n || s[0] > 0xF4)
        return 0;
    uint32_t c = s[0] & (0x7Fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3Fu);
    }
    static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min_for_len[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

/* Characters text may not hold: C0 controls (except line feed and, when
 * `tab` is set, tab), DEL, C1 controls, and the bidirectional embedding,
 * override and isolate controls (which can make text display in an order
 * other than the one sent). */
static bool cp_forbidden(uint32_t c, bool newline, bool tab) {
    if (c == '\n')
        return !newline;
    if (c == '\t')
        return !tab;
    return c < 0x20 || (c >= 0x7F && c <= 0x9F) || (c >= 0x202A && c <= 0x202E) ||
           (c >= 0x2066 && c <= 0x2069);
}

/* Check text s[0..n): well-formed UTF-8 with no forbidden character.  Sets
 * *chars to the number of code points; on failure *bad is the 0-based
 * index of the offending character.  Returns true when the text is good. */
static bool text_ok(const char *s, size_t n, bool newline, bool tab, size_t *chars, size_t *bad) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, count = 0;
    while (i < n) {
        uint32_t c = 0;
        size_t k = utf8_next(u + i, n - i, &c);
        if (k == 0 || cp_forbidden(c, newline, tab)) {
            *bad = count;
            return false;
        }
        i += k;
        count++;
    }
    *chars = count;
    return true;
}

/* ------------------------------------------------------ output buffer -- */

/* A growable string with a maximum; the first failure sticks in rc. */
typedef struct {
    char *s;
    size_t len, cap, max;
    int rc;
} sbuf_t;

static void sb_put(sbuf_t *b, const char *p, size_t n) {
    if (b->rc != DCF_OK)
        return;
    if (n > b->max - b->len) {
        b->rc = DCF_ELIMIT;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap > 0 ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (cap > b->max + 1)
            cap = b->max + 1;
        char *s = realloc(b->s, cap);
        if (s == NULL) {
            b->rc = DCF_ENOMEM;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_str(sbuf_t *b, const char *s) {
    sb_put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf_t *b, const char *fmt, ...) {
    char tmp[96];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof tmp) {
        if (b->rc == DCF_OK)
            b->rc = DCF_EINTERNAL; /* every caller formats a few numbers */
        return;
    }
    sb_put(b, tmp, (size_t)k);
}

/* ------------------------------------------------------ the templates -- */

typedef struct type_s type_t;

typedef struct {
    const char *value;
    const char *label[NLOC];
} enum_value_t;

enum { REF_OPERATION = 1u << 0, REF_CONFLICT = 1u << 1 };

typedef struct {
    const char *name; /* all strings are borrowed from the template's doc */
    const type_t *type;
    bool required;
    const char *help[NLOC];
    double min_m, max_m;           /* altitude, altitude-band */
    int64_t max_duration_us;       /* time-window; 0 = no limit */
    size_t min_length, max_length; /* text, in characters */
    size_t max_vertices;           /* area */
    double max_radius_m;           /* area */
    unsigned kinds;                /* reference: REF_* */
    enum_value_t *values;          /* enum, owned */
    size_t n_values;               /* enum */
} field_t;

typedef enum { SEG_TEXT, SEG_FIELD, SEG_OPEN, SEG_CLOSE } seg_kind_t;

typedef struct {
    seg_kind_t kind;
    size_t field;     /* SEG_FIELD, SEG_OPEN, SEG_CLOSE */
    const char *text; /* SEG_TEXT: into the doc */
    size_t len;
} seg_t;

struct dcf_template_s {
    json_t *doc; /* owned; everything borrowed from it */
    const char *id;
    int64_t version;
    const char *title[NLOC];
    field_t *fields; /* owned */
    size_t n_fields;
    seg_t *segs[NLOC]; /* owned */
    size_t n_segs[NLOC];
    size_t max_render_bytes;
    size_t file_index; /* which of the loaded files it came from */
};

struct dcf_template_set_s {
    dcf_template_t **tpls;
    size_t n;
    dcf_strmap_t *by_id; /* id -> template; keys borrowed from the templates */
};

static void template_free(dcf_template_t *t) {
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n_fields; i++)
        free(t->fields[i].values);
    free(t->fields);
    for (int l = 0; l < NLOC; l++)
        free(t->segs[l]);
    json_decref(t->doc);
    free(t);
}

/* A field's value after checking (what rendering needs). */
typedef struct {
    bool present;
    dcf_time_t t0, t1;   /* time, time-window */
    double a0, a1;       /* altitude, altitude-band */
    dcf_footprint_t *fp; /* area, owned */
    const char *s;       /* text, reference: borrowed from the value */
    size_t idx;          /* enum */
} val_t;

static void vals_free(val_t *v, size_t n) {
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        dcf_footprint_free(v[i].fp);
    free(v);
}

/* ------------------------------------------------------- load helpers -- */

/* Where loading is: the file name for errors, the limits. */
typedef struct {
    const char *file;
    const dcf_template_limits_t *lim;
    dcf_template_error_t *err;
} lctx_t;

__attribute__((format(printf, 4, 5))) static int lfail(const lctx_t *lc, int rc,
                                                       const char *pointer, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    set_errv(lc->err, lc->file, pointer, fmt, ap);
    va_end(ap);
    return rc;
}

static bool in_list(const char *const *list, const char *s) {
    for (size_t i = 0; list != NULL && list[i] != NULL; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

/* Reject the first member of obj named in neither list. */
static int l_members(const lctx_t *lc, const json_t *obj, const char *const *a,
                     const char *const *b, const char *ptr) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if (!in_list(a, key) && !in_list(b, key)) {
            char p[PTR_MAX];
            ptr_key(p, ptr, key);
            return lfail(lc, DCF_EINVAL, p, "unknown member");
        }
    }
    return DCF_OK;
}

/* obj[key] into *out; a missing required member is an error, a missing
 * optional one leaves *out NULL. */
static int l_get(const lctx_t *lc, const json_t *obj, const char *key, bool required,
                 const char *ptr, const json_t **out) {
    *out = json_object_get(obj, key);
    if (*out == NULL && required) {
        char p[PTR_MAX];
        ptr_key(p, ptr, key);
        return lfail(lc, DCF_EINVAL, p, "is required");
    }
    return DCF_OK;
}

/* A string member of at most max_bytes bytes, non-empty, with no forbidden
 * character (line feeds only when `newline`). */
static int l_string(const lctx_t *lc, const json_t *obj, const char *key, bool required,
                    size_t max_bytes, bool newline, const char *ptr, const char **out) {
    const json_t *v;
    char p[PTR_MAX];
    int rc = l_get(lc, obj, key, required, ptr, &v);
    if (rc != DCF_OK || v == NULL)
        return rc;
    ptr_key(p, ptr, key);
    if (!json_is_string(v))
        return lfail(lc, DCF_EINVAL, p, "must be a string");
    size_t n = json_string_length(v), chars = 0, bad = 0;
    if (n == 0)
        return lfail(lc, DCF_EINVAL, p, "must not be empty");
    if (n > max_bytes)
        return lfail(lc, DCF_EINVAL, p, "must be at most %zu bytes", max_bytes);
    if (!text_ok(json_string_value(v), n, newline, false, &chars, &bad))
        return lfail(lc, DCF_EINVAL, p, "must not contain control characters (character %zu)", bad);
    *out = json_string_value(v);
    return DCF_OK;
}

/* A number member within [min, max]; `integer` refuses a fraction. */
static int l_number(const lctx_t *lc, const json_t *obj, const char *key, double min, double max,
                    bool integer, const char *ptr, double *out) {
    const json_t *v;
    char p[PTR_MAX], a[32], b[32];
    int rc = l_get(lc, obj, key, false, ptr, &v);
    if (rc != DCF_OK || v == NULL)
        return rc;
    ptr_key(p, ptr, key);
    double x = json_number_value(v);
    if (!json_is_number(v) || !isfinite(x))
        return lfail(lc, DCF_EINVAL, p, "must be a number");
    if (integer && x != floor(x))
        return lfail(lc, DCF_EINVAL, p, "must be an integer");
    if (x < min || x > max) {
        fmt_num(a, sizeof a, min);
        fmt_num(b, sizeof b, max);
        return lfail(lc, DCF_EINVAL, p, "must be between %s and %s", a, b);
    }
    *out = x;
    return DCF_OK;
}

/* {"en": "...", "ru": "..."}: exactly one string per locale. */
static int l_locales(const lctx_t *lc, const json_t *obj, const char *key, size_t max_bytes,
                     bool newline, const char *ptr, const char *out[NLOC]) {
    static const char *const tags[NLOC + 1] = {[LOC_EN] = "en", [LOC_RU] = "ru", [NLOC] = NULL};
    const json_t *v;
    char p[PTR_MAX];
    int rc = l_get(lc, obj, key, true, ptr, &v);
    if (rc != DCF_OK)
        return rc;
    ptr_key(p, ptr, key);
    if (!json_is_object(v))
        return lfail(lc, DCF_EINVAL, p, "must be an object with a text per locale (en, ru)");
    if ((rc = l_members(lc, v, tags, NULL, p)) != DCF_OK)
        return rc;
    for (int l = 0; l < NLOC; l++)
        if ((rc = l_string(lc, v, LOCALES[l].tag, true, max_bytes, newline, p, &out[l])) != DCF_OK)
            return rc;
    return DCF_OK;
}

static bool is_lower(char c) {
    return c >= 'a' && c <= 'z';
}
static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

/* [a-z0-9][a-z0-9-]* of 1..max bytes (template ids), or with '_' as well
 * (enum values). */
static bool slug_ok(const char *s, size_t max, bool underscore) {
    size_t n = strlen(s);
    if (n == 0 || n > max || !(is_lower(s[0]) || is_digit(s[0])))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(is_lower(s[i]) || is_digit(s[i]) || s[i] == '-' || (underscore && s[i] == '_')))
            return false;
    return true;
}

/* Field names: [a-z][a-z0-9_]{0,31}, so they need no escaping in pointers
 * and read well in placeholders. */
static bool name_ok(const char *s, size_t n) {
    if (n == 0 || n > DCF_TEMPLATE_NAME_MAX || !is_lower(s[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(is_lower(s[i]) || is_digit(s[i]) || s[i] == '_'))
            return false;
    return true;
}

/* ------------------------------------------------------------- types -- */

typedef int (*spec_fn)(const lctx_t *lc, const json_t *obj, const char *ptr, field_t *f);
typedef int (*check_fn)(const field_t *f, const json_t *v, const char *ptr, val_t *out,
                        dcf_template_error_t *err);
typedef void (*format_fn)(const field_t *f, const val_t *v, const tloc_t *loc, sbuf_t *b);

struct type_s {
    const char *name;
    const char *const *members; /* the type's own members of a field object */
    spec_fn spec;               /* reads those members; NULL when there are none */
    check_fn check;
    format_fn format;
};

/* --- formatting pieces shared by several types --- */

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static void utc_tm(dcf_time_t t, struct tm *tm, int64_t *usec) {
    int64_t sec = floor_div(t, DCF_USEC_PER_SEC);
    time_t tt = (time_t)sec;
    *usec = t - sec * DCF_USEC_PER_SEC;
    gmtime_r(&tt, tm);
}

static void put_date(sbuf_t *b, const tloc_t *loc, const struct tm *tm) {
    if (loc->day_first)
        sb_printf(b, "%02d.%02d.%04d", tm->tm_mday, tm->tm_mon + 1, tm->tm_year + 1900);
    else
        sb_printf(b, "%04d-%02d-%02d", tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday);
}

/* "10:00", "10:00:30", "10:00:30.25": seconds only when not zero. */
static void put_clock(sbuf_t *b, const struct tm *tm, int64_t usec) {
    sb_printf(b, "%02d:%02d", tm->tm_hour, tm->tm_min);
    if (tm->tm_sec == 0 && usec == 0)
        return;
    sb_printf(b, ":%02d", tm->tm_sec);
    if (usec == 0)
        return;
    char frac[8];
    snprintf(frac, sizeof frac, "%06d", (int)usec);
    size_t n = 6;
    while (n > 1 && frac[n - 1] == '0')
        n--;
    sb_put(b, ".", 1);
    sb_put(b, frac, n);
}

static bool same_day(const struct tm *a, const struct tm *b) {
    return a->tm_year == b->tm_year && a->tm_mon == b->tm_mon && a->tm_mday == b->tm_mday;
}

/* A length in metres: grouped thousands, at most two decimals (rounded to
 * the centimetre), the locale's unit. */
static void put_metres(sbuf_t *b, const tloc_t *loc, double x) {
    long long c = llround(x * 100.0);
    unsigned long long a = c < 0 ? (unsigned long long)(-c) : (unsigned long long)c;
    unsigned long long whole = a / 100, frac = a % 100;
    char digits[32];
    int nd = snprintf(digits, sizeof digits, "%llu", whole);
    if (c < 0)
        sb_put(b, "-", 1);
    for (int i = 0; i < nd; i++) {
        if (i > 0 && (nd - i) % 3 == 0)
            sb_str(b, loc->group);
        sb_put(b, &digits[i], 1);
    }
    if (frac != 0) {
        sb_str(b, loc->decimal);
        if (frac % 10 == 0)
            sb_printf(b, "%llu", frac / 10);
        else
            sb_printf(b, "%02llu", frac);
    }
    sb_str(b, loc->metres);
}

/* A latitude or longitude to four decimals (about 11 m) with its
 * hemisphere: "35.1000°N", "35,1000° с. ш.". */
static void put_coord(sbuf_t *b, const tloc_t *loc, double x, bool lat) {
    long long u = llround(fabs(x) * 10000.0);
    bool neg = x < 0 && u != 0;
    sb_printf(b, "%lld", u / 10000);
    sb_str(b, loc->decimal);
    sb_printf(b, "%04lld", u % 10000);
    sb_str(b, lat ? (neg ? loc->south : loc->north) : (neg ? loc->west : loc->east));
}

/* --- time --- */

static int check_time_value(const json_t *v, const char *ptr, dcf_time_t *out,
                            dcf_template_error_t *err) {
    const char *why = NULL;
    if (!json_is_string(v))
        return vfail(err, ptr, "must be a string (an RFC 3339 date-time)");
    if (dcf_time_parse(json_string_value(v), json_string_length(v), out, &why) != DCF_OK)
        return vfail(err, ptr, "must be an RFC 3339 date-time: %s",
                     why != NULL ? why : "malformed");
    return DCF_OK;
}

static int check_time(const field_t *f, const json_t *v, const char *ptr, val_t *out,
                      dcf_template_error_t *err) {
    (void)f;
    return check_time_value(v, ptr, &out->t0, err);
}

static void format_time(const field_t *f, const val_t *v, const tloc_t *loc, sbuf_t *b) {
    struct tm tm;
    int64_t us;
    (void)f;
    utc_tm(v->t0, &tm, &us);
    put_date(b, loc, &tm);
    sb_put(b, " ", 1);
    put_clock(b, &tm, us);
    sb_str(b, " UTC");
}

/* --- time-window --- */

static const char *const WINDOW_MEMBERS[] = {"max_duration_s", NULL};
static const char *const WINDOW_VALUE[] = {"start", "end", NULL};

static int spec_window(const lctx_t *lc, const json_t *obj, const char *ptr, field_t *f) {
    double s = 0;
    int rc = l_number(lc, obj, "max_duration_s", 1, WINDOW_MAX_S, true, ptr, &s);
    f->max_duration_us = (int64_t)s * DCF_USEC_PER_SEC;
    return rc;
}

/* Reject the first member of a value object not in `allowed`. */
static int value_members(const json_t *obj, const char *const *allowed, const char *ptr,
                         dcf_template_error_t *err) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if (!in_list(allowed, key)) {
            char p[PTR_MAX];
            ptr_key(p, ptr, key);
            return vfail(err, p, "unknown member");
        }
    }
    return DCF_OK;
}

/* obj[key], which must be present. */
static int value_member(const json_t *obj, const char *key, const char *ptr, char p[PTR_MAX],
                        const json_t **out, dcf_template_error_t *err) {
    ptr_key(p, ptr, key);
    *out = json_object_get(obj, key);
    return *out != NULL ? DCF_OK : vfail(err, p, "is required");
}

static int check_window(const field_t *f, const json_t *v, const char *ptr, val_t *out,
                        dcf_template_error_t *err) {
    const json_t *s, *e;
    char ps[PTR_MAX], pe[PTR_MAX];
    int rc;
    if (!json_is_object(v))
        return vfail(err, ptr, "must be an object with start and end");
    if ((rc = value_members(v, WINDOW_VALUE, ptr, err)) != DCF_OK ||
        (rc = value_member(v, "start", ptr, ps, &s, err)) != DCF_OK ||
        (rc = value_member(v, "end", ptr, pe, &e, err)) != DCF_OK ||
        (rc = check_time_value(s, ps, &out->t0, err)) != DCF_OK ||
        (rc = check_time_value(e, pe, &out->t1, err)) != DCF_OK)
        return rc;
    if (out->t1 <= out->t0)
        return vfail(err, pe, "must be later than %s", ps);
    if (f->max_duration_us > 0 && out->t1 - out->t0 > f->max_duration_us) {
        int64_t s_max = f->max_duration_us / DCF_USEC_PER_SEC;
        if (s_max % 3600 == 0)
            return vfail(err, pe, "must be at most %lld h after %s", (long long)(s_max / 3600), ps);
        return vfail(err, pe, "must be at most %lld s after %s", (long long)s_max, ps);
    }
    return DCF_OK;
}

/* Same UTC day: "2026-12-01 10:00–12:00 UTC"; else both in full. */
static void format_window(const field_t *f, const val_t *v, const tloc_t *loc, sbuf_t *b) {
    struct tm a, z;
    int64_t ua, uz;
    (void)f;
    utc_tm(v->t0, &a, &ua);
    utc_tm(v->t1, &z, &uz);
    put_date(b, loc, &a);
    sb_put(b, " ", 1);
    put_clock(b, &a, ua);
    if (same_day(&a, &z)) {
        sb_str(b, "–");
    } else {
        sb_str(b, " UTC – ");
        put_date(b, loc, &z);
        sb_put(b, " ", 1);
    }
    put_clock(b, &z, uz);
    sb_str(b, " UTC");
}

/* --- altitude, altitude-band --- */

static const char *const ALT_MEMBERS[] = {"min_m", "max_m", NULL};
static const char *const BAND_VALUE[] = {"lower_m", "upper_m", NULL};

static int spec_altitude(const lctx_t *lc, const json_t *obj, const char *ptr, field_t *f) {
    int rc;
    f->min_m = DCF_MIN_ALT_M;
    f->max_m = DCF_MAX_ALT_M;
    if ((rc = l_number(lc, obj, "min_m", DCF_MIN_ALT_M, DCF_MAX_ALT_M, false, ptr, &f->min_m)) !=
            DCF_OK ||
        (rc = l_number(lc, obj, "max_m", DCF_MIN_ALT_M, DCF_MAX_ALT_M, false, ptr, &f->max_m)) !=
            DCF_OK)
        return rc;
    if (!(f->max_m > f->min_m)) {
        char p[PTR_MAX], q[PTR_MAX];
        ptr_key(p, ptr, "max_m");
        ptr_key(q, ptr, "min_m");
        return lfail(lc, DCF_EINVAL, p, "must be greater than %s", q);
    }
    return DCF_OK;
}

static int check_metres(const field_t *f, const json_t *v, const char *ptr, double *out,
                        dcf_template_error_t *err) {
    char a[32], b[32];
    double x = json_number_value(v);
    if (!json_is_number(v) || !isfinite(x))
        return vfail(err, ptr, "must be a number (metres)");
    if (x < f->min_m || x > f->max_m) {
        fmt_num(a, sizeof a, f->min_m);
        fmt_num(b, sizeof b, f->max_m);
        return vfail(err, ptr, "must be between %s and %s", a, b);
    }
    *out = x;
    return DCF_OK;
}

static int check_altitude(const field_t *f, const json_t *v, const char *ptr, val_t *out,
                          dcf_template_error_t *err) {
    return check_metres(f, v, ptr, &out->a0, err);
}

static void format_altitude(const field_t *f, const val_t *v, const tloc_t *loc, sbuf_t *b) {
    (void)f;
    put_metres(b, loc, v->a0);
}

static int check_band(const field_t *f, const json_t *v, const char *ptr, val_t *out,
                      dcf_template_error_t *err) {
    const json_t *lo, *hi;
    char pl[PTR_MAX], pu[PTR_MAX];
    int rc;
    if (!json_is_object(v))
        return vfail(err, ptr, "must be an object with lower_m and upper_m");
    if ((rc = value_members(v, BAND_VALUE, ptr, err)) != DCF_OK ||
        (rc = value_member(v, "lower_m", ptr, pl, &lo, err)) != DCF_OK ||
        (rc = value_member(v, "upper_m", ptr, pu, &hi, err)) != DCF_OK ||
        (rc = check_metres(f, lo, pl, &out->a0, err)) != DCF_OK ||
        (rc = check_metres(f, hi, pu, &out->a1, err)) != DCF_OK)
        return rc;
    if (!(out->a1 > out->a0))
        return vfail(err, pu, "must be greater than %s", pl);
    return DCF_OK;
}

/* "1,200–3,000 m": the unit once, after the upper bound. */
static void format_band(const field_t *f, const val_t *v, const tloc_t *loc, sbuf_t *b) {
    (void)f;
    tloc_t bare = *loc;
    bare.metres = "";
    put_metres(b, &bare, v->a0);
    sb_str(b, "–");
    put_metres(b, loc, v->a1);
}

/* --- area --- */

static const char *const AREA_MEMBERS[] = {"max_vertices", "max_radius_m", NULL};
static const char *const POLYGON_VALUE[] = {"type", "vertices", NULL};
static const char *const CIRCLE_VALUE[] = {"type", "center", "radius_m", NULL};
static const char *const LATLNG_VALUE[] = {"lat", "lng", NULL};

static int spec_area(const lctx_t *lc, const json_t *obj, const char *ptr, field_t *f) {
    double nv = DCF_DEFAULT_MAX_VERTICES;
    int rc;
    f->max_radius_m = DCF_MAX_RADIUS_M;
    if ((rc = l_number(lc, obj, "max_vertices", 3, DCF_DEFAULT_MAX_VERTICES, true, ptr, &nv)) !=
            DCF_OK ||
        (rc = l_number(lc, obj, "max_radius_m", 1, DCF_MAX_RADIUS_M, false, ptr,
                       &f->max_radius_m)) != DCF_OK)
        return rc;
    f->max_vertices = (size_t)nv;
    return DCF_OK;
}

static int check_number(const json_t *obj, const char *key, const char *ptr, double *out,
                        dcf_template_error_t *err) {
    const json_t *v;
    char p[PTR_MAX];
    int rc = value_member(obj, key, ptr, p, &v, err);
    if (rc != DCF_OK)
        return rc;
    *out = json_number_value(v);
    if (!json_is_number(v) || !isfinite(*out))
        return vfail(err, p, "must be a number");
    return DCF_OK;
}

/* {"lat": .., "lng": ..}; the ranges are the geo module's to judge. */
static int check_latlng(const json_t *v, const char *ptr, dcf_latlng_t *out,
                        dcf_template_error_t *err) {
    int rc;
    if (!json_is_object(v))
        return vfail(err, ptr, "must be an object with lat and lng");
    if ((rc = value_members(v, LATLNG_VALUE, ptr, err)) != DCF_OK ||
        (rc = check_number(v, "lat", ptr, &out->lat, err)) != DCF_OK ||
        (rc = check_number(v, "lng", ptr, &out->lng, err)) != DCF_OK)
        return rc;
    return DCF_OK;
}

/* Pass on the geo module's verdict (its pointer is under ours). */
static int footprint_failed(int rc, const dcf_geo_error_t *ge, const char *ptr,
                            dcf_template_error_t *err) {
    if (rc == DCF_ENOMEM)
        return rc;
    if (ge->rule[0] == '\0')
        return vfail(err, ptr, "is not a valid footprint: %s", dcf_strerror(rc));
    return vfail(err, ge->pointer, "%s", ge->rule);
}

static int check_area(const field_t *f, const json_t *v, const char *ptr, val_t *out,
                      dcf_template_error_t *err) {
    const json_t *type, *verts, *center;
    dcf_latlng_t *pts = NULL;
    dcf_geo_error_t ge = {{0}, {0}};
    char p[PTR_MAX], a[32];
    int rc;

    if (!json_is_object(v)) {
        rc = vfail(err, ptr, "must be a footprint object (polygon or circle)");
        goto out;
    }
    if ((rc = value_member(v, "type", ptr, p, &type, err)) != DCF_OK)
        goto out;
    if (!json_is_string(type)) {
        rc = vfail(err, p, "must be a string");
        goto out;
    }
    if (strcmp(json_string_value(type), "circle") == 0) {
        dcf_latlng_t c = {0, 0};
        double r = 0;
        char pc[PTR_MAX];
        if ((rc = value_members(v, CIRCLE_VALUE, ptr, err)) != DCF_OK ||
            (rc = value_member(v, "center", ptr, pc, &center, err)) != DCF_OK ||
            (rc = check_latlng(center, pc, &c, err)) != DCF_OK ||
            (rc = check_number(v, "radius_m", ptr, &r, err)) != DCF_OK)
            goto out;
        if (r > f->max_radius_m) {
            ptr_key(p, ptr, "radius_m");
            fmt_num(a, sizeof a, f->max_radius_m);
            rc = vfail(err, p, "must be at most %s", a);
            goto out;
        }
        rc = dcf_footprint_circle(c, r, ptr, &out->fp, &ge);
        if (rc != DCF_OK)
            rc = footprint_failed(rc, &ge, ptr, err);
        goto out;
    }
    if (strcmp(json_string_value(type), "polygon") != 0) {
        rc = vfail(err, p, "must be \"polygon\" or \"circle\"");
        goto out;
    }
    if ((rc = value_members(v, POLYGON_VALUE, ptr, err)) != DCF_OK ||
        (rc = value_member(v, "vertices", ptr, p, &verts, err)) != DCF_OK)
        goto out;
    if (!json_is_array(verts)) {
        rc = vfail(err, p, "must be an array");
        goto out;
    }
    size_t n = json_array_size(verts);
    if (n > f->max_vertices) {
        rc = vfail(err, p, "must have at most %zu vertices", f->max_vertices);
        goto out;
    }
    if (n > 0 && (pts = malloc(n * sizeof *pts)) == NULL) {
        rc = DCF_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char pi[PTR_MAX];
        ptr_idx(pi, p, i);
        if ((rc = check_latlng(json_array_get(verts, i), pi, &pts[i], err)) != DCF_OK)
            goto out;
    }
    dcf_geo_limits_t gl;
    dcf_geo_limits_default(&gl);
    gl.max_vertices = f->max_vertices;
    rc = dcf_footprint_polygon(&gl, pts, n, ptr, &out->fp, &ge);
    if (rc != DCF_OK)
        rc = footprint_failed(rc, &ge, ptr, err);
out:
    free(pts);
    return rc;
}

/* A circle as its radius and centre; a polygon as its vertex count and the
 * box that holds it (geodesic edges included). */
static void format_area(const field_t *f, const val_t *v, const tloc_t *loc, sbuf_t *b) {
    dcf_latlng_t c;
    double r;
    (void)f;
    if (dcf_footprint_circle_params(v->fp, &c, &r)) {
        sb_str(b, loc->circle);
        put_metres(b, loc, r);
        sb_str(b, loc->centred);
        put_coord(b, loc, c.lat, true);
        sb_str(b, loc->latlng_sep);
        put_coord(b, loc, c.lng, false);
        return;
    }
    size_t n = 0;
    dcf_bbox_t box;
    (void)dcf_footprint_vertices(v->fp, &n);
    dcf_footprint_bbox(v->fp, &box);
    sb_str(b, loc->polygon);
    sb_printf(b, "%zu ", n);
    sb_str(b, loc->vertices(n));
    sb_str(b, loc->lat_from);
    put_coord(b, loc, box.lat_lo, true);
    sb_str(b, loc->to);
    put_coord(b, loc, box.lat_hi, true);
    sb_str(b, loc->lng_from);
    put_coord(b, loc, box.lng_lo, false);
    sb_str(b, loc->to);
    put_coord(b, loc, box.lng_hi, false);
}

/* --- text --- */

static const char *const TEXT_MEMBERS[] = {"max_length", "min_length", NULL};

static int spec_text(const lctx_t *lc, const json_t *obj, const char *ptr, field_t *f) {
    double mx = 0, mn = 1;
    const json_t *v;
    int rc;
    if ((rc = l_get(lc, obj, "max_length", true, ptr, &v)) != DCF_OK ||
        (rc = l_number(lc, obj, "max_length", 1, DCF_TEMPLATE_TEXT_MAX, true, ptr, &mx)) !=
            DCF_OK ||
        (rc = l_number(lc, obj, "min_length", 0, mx, true, ptr, &mn)) != DCF_OK)
        return rc;
    f->max_length = (size_t)mx;
    f->min_length = (size_t)mn;
    return DCF_OK;
}

static int check_text(const field_t *f, const json_t *v, const char *ptr, val_t *out,
                      dcf_template_error_t *err) {
    size_t chars = 0, bad = 0;
    if (!json_is_string(v))
        return vfail(err, ptr, "must be a string");
    size_t n = json_string_length(v);
    /* A character is at most 4 bytes: longer text is too long whatever it
     * holds, and is not scanned. */
    if (n > 4 * f->max_length)
        return vfail(err, ptr, "must be at most %zu characters", f->max_length);
    if (!text_ok(json_string_value(v), n, true, true, &chars, &bad))
        return vfail(err, ptr, "must not contain control characters (character %zu)", bad);
    if (chars > f->max_length)
        return vfail(err, ptr, "must be at most %zu characters", f->max_length);
    if (chars < f->min_length)
        return f->min_length == 1
                   ? vfail(err, ptr, "must not be empty")
                   : vfail(err, ptr, "must be at least %zu characters", f->min_length);
    out->s = json_string_value(v);
    return DCF_OK;
}

static void format_string(const field_t *f, const val_t *v, const tloc_t *loc, sbuf_t *b) {
    (void)f;
    (void)loc;
    sb_str(b, v->s);
}

/* --- enum --- */

static const char *const ENUM_MEMBERS[] = {"values", NULL};
static const char *const ENUM_VALUE_MEMBERS[] = {"value", "label", NULL};

static int spec_enum(const lctx_t *lc, const json_t *obj, const char *ptr, field_t *f) {
    const json_t *arr;
    char p[PTR_MAX];
    int rc = l_get(lc, obj, "values", true, ptr, &arr);
    if (rc != DCF_OK)
        return rc;
    ptr_key(p, ptr, "values");
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return lfail(lc, DCF_EINVAL, p, "must be a non-empty array");
    size_t n = json_array_size(arr);
    if (n > DCF_TEMPLATE_ENUM_MAX)
        return lfail(lc, DCF_ELIMIT, p, "must have at most %d values", DCF_TEMPLATE_ENUM_MAX);
    if ((f->values = calloc(n, sizeof *f->values)) == NULL)
        return DCF_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(arr, i);
        enum_value_t *ev = &f->values[i];
        char pi[PTR_MAX], pv[PTR_MAX];
        ptr_idx(pi, p, i);
        ptr_key(pv, pi, "value");
        if (!json_is_object(e))
            return lfail(lc, DCF_EINVAL, pi, "must be an object with value and label");
        if ((rc = l_members(lc, e, ENUM_VALUE_MEMBERS, NULL, pi)) != DCF_OK ||
            (rc = l_string(lc, e, "value", true, DCF_TEMPLATE_NAME_MAX, false, pi, &ev->value)) !=
                DCF_OK)
            return rc;
        if (!slug_ok(ev->value, DCF_TEMPLATE_NAME_MAX, true))
            return lfail(lc, DCF_EINVAL, pv, "must match [a-z0-9][a-z0-9_-]{0,%d}",
                         DCF_TEMPLATE_NAME_MAX - 1);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(f->values[j].value, ev->value) == 0) {
                char pj[PTR_MAX];
                ptr_idx(pj, p, j);
                return lfail(lc, DCF_EINVAL, pv, "duplicates %s/value", pj);
            }
        }
        if ((rc = l_locales(lc, e, "label", DCF_TEMPLATE_LABEL_MAX, false, pi, ev->label)) !=
            DCF_OK)
            return rc;
        f->n_values = i + 1;
    }
    return DCF_OK;
}

static int check_enum(const field_t *f, const json_t *v, const char *ptr, val_t *out,
                      dcf_template_error_t *err) {
    if (json_is_string(v)) {
        for (size_t i = 0; i < f->n_values; i++) {
            if (strcmp(f->values[i].value, json_string_value(v)) == 0 &&
                strlen(f->values[i].value) == json_string_length(v)) {
                out->idx = i;
                return DCF_OK;
            }
        }
    }
    /* Name the values when they fit in the rule. */
    char list[RULE_MAX];
    size_t at = 0;
    bool fits = true;
    list[0] = '\0';
    for (size_t i = 0; i < f->n_values && fits; i++) {
        int k =
            snprintf(list + at, sizeof list - at, "%s%s", i > 0 ? ", " : "", f->values[i].value);
        if (k < 0 || (size_t)k >= sizeof list - at - 20)
            fits = false;
        else
            at += (size_t)k;
    }
    if (!fits)
        return vfail(err, ptr, "must be one of the template's values");
    return vfail(err, ptr, "must be one of: %s", list);
}

static void format_enum(const field_t *f, const val_t *v, const tloc_t *loc, sbuf_t *b) {
    sb_str(b, f->values[v->idx].label[loc - LOCALES]);
}

/* --- reference --- */

static const char *const REF_MEMBERS[] = {"kinds", NULL};

static const struct {
    const char *name;
    const char *prefix;
    unsigned bit;
} REF_KINDS[] = {
    {"operation", "op-", REF_OPERATION},
    {"conflict", "cf-", REF_CONFLICT},
};
#define N_REF_KINDS (sizeof REF_KINDS / sizeof REF_KINDS[0])

static int spec_reference(const lctx_t *lc, const json_t *obj, const char *ptr, field_t *f) {
    const json_t *arr;
    char p[PTR_MAX];
    int rc = l_get(lc, obj, "kinds", true, ptr, &arr);
    if (rc != DCF_OK)
        return rc;
    ptr_key(p, ptr, "kinds");
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > N_REF_KINDS)
        return lfail(lc, DCF_EINVAL, p,
                     "must be a non-empty array of \"operation\" and/or \"conflict\"");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *k = json_array_get(arr, i);
        char pi[PTR_MAX];
        size_t j = 0;
        ptr_idx(pi, p, i);
        while (j < N_REF_KINDS &&
               !(json_is_string(k) && strcmp(json_string_value(k), REF_KINDS[j].name) == 0))
            j++;
        if (j == N_REF_KINDS)
            return lfail(lc, DCF_EINVAL, pi, "must be \"operation\" or \"conflict\"");
        if (f->kinds & REF_KINDS[j].bit)
            return lfail(lc, DCF_EINVAL, pi, "names a kind twice");
        f->kinds |= REF_KINDS[j].bit;
    }
    return DCF_OK;
}

static bool b64url(char c) {
    return is_lower(c) || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' || c == '_';
}

/* "op-" / "cf-" and 1..61 base64url characters (the server's ids are 22). */
static int check_reference(const field_t *f, const json_t *v, const char *ptr, val_t *out,
                           dcf_template_error_t *err) {
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        for (size_t k = 0; k < N_REF_KINDS; k++) {
            if (!(f->kinds & REF_KINDS[k].bit) || n < 4 || n > 3 + REF_TAIL_MAX ||
                strncmp(s, REF_KINDS[k].prefix, 3) != 0)
                continue;
            size_t i = 3;
            while (i < n && b64url(s[i]))
                i++;
            if (i == n) {
                out->s = s;
                return DCF_OK;
            }
        }
    }
    if (f->kinds == REF_OPERATION)
        return vfail(err, ptr, "must be an operation id (op-...)");
    if (f->kinds == REF_CONFLICT)
        return vfail(err, ptr, "must be a conflict id (cf-...)");
    return vfail(err, ptr, "must be an operation or conflict id (op-... or cf-...)");
}

/* --- the table --- */

static const type_t TYPES[] = {
    {"time", NULL, NULL, check_time, format_time},
    {"time-window", WINDOW_MEMBERS, spec_window, check_window, format_window},
    {"altitude", ALT_MEMBERS, spec_altitude, check_altitude, format_altitude},
    {"altitude-band", ALT_MEMBERS, spec_altitude, check_band, format_band},
    {"area", AREA_MEMBERS, spec_area, check_area, format_area},
    {"text", TEXT_MEMBERS, spec_text, check_text, format_string},
    {"enum", ENUM_MEMBERS, spec_enum, check_enum, format_enum},
    {"reference", REF_MEMBERS, spec_reference, check_reference, format_string},
};
#define N_TYPES (sizeof TYPES / sizeof TYPES[0])

/* ------------------------------------------------------ template files -- */

static const char *const FIELD_MEMBERS[] = {"name", "type", "required", "help", NULL};
static const char *const TEMPLATE_MEMBERS[] = {"id", "version", "title", "fields", "render", NULL};

static ssize_t field_find(const dcf_template_t *t, const char *name, size_t len) {
    for (size_t i = 0; i < t->n_fields; i++)
        if (strlen(t->fields[i].name) == len && memcmp(t->fields[i].name, name, len) == 0)
            return (ssize_t)i;
    return -1;
}

static int parse_field(const lctx_t *lc, dcf_template_t *t, const json_t *obj, size_t i) {
    field_t *f = &t->fields[i];
    const json_t *req;
    const char *type = NULL;
    char ptr[PTR_MAX], p[PTR_MAX];
    int rc;

    ptr_idx(ptr, "/fields", i);
    if (!json_is_object(obj))
        return lfail(lc, DCF_EINVAL, ptr, "must be an object");
    if ((rc = l_string(lc, obj, "name", true, DCF_TEMPLATE_NAME_MAX, false, ptr, &f->name)) !=
        DCF_OK)
        return rc;
    ptr_key(p, ptr, "name");
    if (!name_ok(f->name, strlen(f->name)))
        return lfail(lc, DCF_EINVAL, p, "must match [a-z][a-z0-9_]{0,%d}",
                     DCF_TEMPLATE_NAME_MAX - 1);
    ssize_t dup = field_find(t, f->name, strlen(f->name));
    if (dup >= 0) {
        char q[PTR_MAX];
        snprintf(q, sizeof q, "/fields/%zd/name", dup);
        return lfail(lc, DCF_EINVAL, p, "duplicates %s", q);
    }
    if ((rc = l_string(lc, obj, "type", true, 32, false, ptr, &type)) != DCF_OK)
        return rc;
    for (size_t k = 0; k < N_TYPES && f->type == NULL; k++)
        if (strcmp(TYPES[k].name, type) == 0)
            f->type = &TYPES[k];
    if (f->type == NULL) {
        char list[RULE_MAX] = "";
        size_t at = 0;
        for (size_t k = 0; k < N_TYPES; k++) {
            int w = snprintf(list + at, sizeof list - at, "%s%s", k > 0 ? ", " : "", TYPES[k].name);
            at += w > 0 && (size_t)w < sizeof list - at ? (size_t)w : 0;
        }
        ptr_key(p, ptr, "type");
        return lfail(lc, DCF_EINVAL, p, "must be one of: %s", list);
    }
    if ((rc = l_members(lc, obj, FIELD_MEMBERS, f->type->members, ptr)) != DCF_OK ||
        (rc = l_get(lc, obj, "required", true, ptr, &req)) != DCF_OK)
        return rc;
    if (!json_is_boolean(req)) {
        ptr_key(p, ptr, "required");
        return lfail(lc, DCF_EINVAL, p, "must be true or false");
    }
    f->required = json_is_true(req);
    if ((rc = l_locales(lc, obj, "help", DCF_TEMPLATE_HELP_MAX, false, ptr, f->help)) != DCF_OK)
        return rc;
    if (f->type->spec != NULL && (rc = f->type->spec(lc, obj, ptr, f)) != DCF_OK)
        return rc;
    t->n_fields = i + 1;
    return DCF_OK;
}

static int seg_push(seg_t **segs, size_t *n, size_t *cap, seg_t s) {
    if (s.kind == SEG_TEXT && s.len == 0)
        return DCF_OK;
    if (*n == *cap) {
        size_t nc = *cap > 0 ? *cap * 2 : 16;
        seg_t *g = realloc(*segs, nc * sizeof *g);
        if (g == NULL)
            return DCF_ENOMEM;
        *segs = g;
        *cap = nc;
    }
    (*segs)[(*n)++] = s;
    return DCF_OK;
}

/*
 * Compile rendering `l` (text s) into segments.  Markers: {name} shows a
 * field, {?name} ... {/name} shows its content only when the optional field
 * `name` has a value, {{ and }} are literal braces.  Sections do not nest.
 */
static int compile_render(const lctx_t *lc, dcf_template_t *t, int l, const char *s) {
    char ptr[PTR_MAX];
    seg_t *segs = NULL;
    size_t n_segs = 0, cap = 0, markers = 0, text_at = 0, i = 0, n = strlen(s);
    ssize_t in_sec = -1; /* the field whose section is open */
    bool *shown = NULL;
    int rc = DCF_OK;

    snprintf(ptr, sizeof ptr, "/render/%s", LOCALES[l].tag);
    if ((shown = calloc(t->n_fields, sizeof *shown)) == NULL) {
        rc = DCF_ENOMEM;
        goto out;
    }
    while (i < n) {
        if ((s[i] == '{' || s[i] == '}') && i + 1 < n && s[i + 1] == s[i]) {
            /* A doubled brace: the text so far and one brace. */
            if ((rc = seg_push(
                     &segs, &n_segs, &cap,
                     (seg_t){.kind = SEG_TEXT, .text = s + text_at, .len = i + 1 - text_at})) !=
                DCF_OK)
                goto out;
            i += 2;
            text_at = i;
            continue;
        }
        if (s[i] == '}') {
            rc = lfail(lc, DCF_EINVAL, ptr,
                       "at byte %zu: '}' closes nothing (write '}}' for a brace)", i);
            goto out;
        }
        if (s[i] != '{') {
            i++;
            continue;
        }
        const char *rbrace = memchr(s + i + 1, '}', n - i - 1);
        if (rbrace == NULL) {
            rc = lfail(lc, DCF_EINVAL, ptr,
                       "at byte %zu: '{' is not closed (write '{{' for a brace)", i);
            goto out;
        }
        const char *name = s + i + 1;
        seg_kind_t kind = SEG_FIELD;
        if (*name == '?' || *name == '/') {
            kind = *name == '?' ? SEG_OPEN : SEG_CLOSE;
            name++;
        }
        size_t len = (size_t)(rbrace - name);
        if (++markers > lc->lim->max_placeholders) {
            rc = lfail(lc, DCF_ELIMIT, ptr, "must have at most %zu placeholders",
                       lc->lim->max_placeholders);
            goto out;
        }
        if (!name_ok(name, len)) {
            rc = lfail(lc, DCF_EINVAL, ptr,
                       "at byte %zu: {%.*s} is not a placeholder (a field name, ?name or /name)", i,
                       (int)(len > 40 ? 40 : len), name);
            goto out;
        }
        ssize_t fi = field_find(t, name, len);
        if (fi < 0) {
            rc = lfail(lc, DCF_EINVAL, ptr, "at byte %zu: placeholder {%.*s} names no field", i,
                       (int)len, name);
            goto out;
        }
        const field_t *f = &t->fields[fi];
        if (kind == SEG_OPEN && in_sec >= 0) {
            rc = lfail(lc, DCF_EINVAL, ptr, "at byte %zu: sections may not nest ({?%s} is open)", i,
                       t->fields[in_sec].name);
            goto out;
        }
        if (kind == SEG_OPEN && f->required) {
            rc = lfail(lc, DCF_EINVAL, ptr,
                       "at byte %zu: {?%s} makes a section of a required field", i, f->name);
            goto out;
        }
        if (kind == SEG_CLOSE && in_sec != fi) {
            rc = lfail(lc, DCF_EINVAL, ptr, "at byte %zu: {/%s} closes no open {?%s}", i, f->name,
                       f->name);
            goto out;
        }
        if (kind == SEG_FIELD && !f->required && in_sec != fi) {
            rc = lfail(lc, DCF_EINVAL, ptr,
                       "at byte %zu: optional field {%s} must be inside {?%s}...{/%s}", i, f->name,
                       f->name, f->name);
            goto out;
        }
        if ((rc = seg_push(&segs, &n_segs, &cap,
                           (seg_t){.kind = SEG_TEXT, .text = s + text_at, .len = i - text_at})) !=
                DCF_OK ||
            (rc = seg_push(&segs, &n_segs, &cap, (seg_t){.kind = kind, .field = (size_t)fi})) !=
                DCF_OK)
            goto out;
        if (kind == SEG_OPEN)
            in_sec = fi;
        else if (kind == SEG_CLOSE)
            in_sec = -1;
        else
            shown[fi] = true;
        i = (size_t)(rbrace - s) + 1;
        text_at = i;
    }
    if (in_sec >= 0) {
        rc = lfail(lc, DCF_EINVAL, ptr, "{?%s} is not closed by {/%s}", t->fields[in_sec].name,
                   t->fields[in_sec].name);
        goto out;
    }
    for (size_t k = 0; k < t->n_fields; k++) {
        if (!shown[k]) {
            rc = lfail(lc, DCF_EINVAL, ptr,
                       "does not show field {%s} (every rendering shows every field)",
                       t->fields[k].name);
            goto out;
        }
    }
    if ((rc = seg_push(&segs, &n_segs, &cap,
                       (seg_t){.kind = SEG_TEXT, .text = s + text_at, .len = n - text_at})) !=
        DCF_OK)
        goto out;
    t->segs[l] = segs;
    t->n_segs[l] = n_segs;
    segs = NULL;
out:
    free(segs);
    free(shown);
    return rc;
}

/* The part of a path after its last '/'. */
static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

/* Parse and check one template file.  On success *out owns the result. */
static int parse_template(const lctx_t *lc, const char *text, size_t len, dcf_template_t **out) {
    dcf_template_t *t = NULL;
    json_error_t je;
    const json_t *v, *fields;
    const char *render[NLOC] = {NULL, NULL};
    double version = 0;
    int rc = DCF_ENOMEM;

    if ((t = calloc(1, sizeof *t)) == NULL)
        goto out;
    if ((t->doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je)) == NULL) {
        rc = lfail(lc, DCF_EPARSE, "", "is not valid JSON (line %d, column %d): %.*s", je.line,
                   je.column, ERR_TEXT_MAX, je.text);
        goto out;
    }
    if (dcf_json_too_deep(t->doc, lc->lim->max_depth)) {
        rc = lfail(lc, DCF_ELIMIT, "", "nests deeper than %zu levels", lc->lim->max_depth);
        goto out;
    }
    if (!json_is_object(t->doc)) {
        rc = lfail(lc, DCF_EINVAL, "", "must be a JSON object");
        goto out;
    }
    if ((rc = l_members(lc, t->doc, TEMPLATE_MEMBERS, NULL, "")) != DCF_OK ||
        (rc = l_string(lc, t->doc, "id", true, DCF_TEMPLATE_ID_MAX, false, "", &t->id)) != DCF_OK)
        goto out;
    if (!slug_ok(t->id, DCF_TEMPLATE_ID_MAX, false)) {
        rc = lfail(lc, DCF_EINVAL, "/id", "must match [a-z0-9][a-z0-9-]{0,%d}",
                   DCF_TEMPLATE_ID_MAX - 1);
        goto out;
    }
    const char *bn = base_name(lc->file);
    size_t idn = strlen(t->id);
    if (strncmp(bn, t->id, idn) != 0 || strcmp(bn + idn, ".json") != 0) {
        rc = lfail(lc, DCF_EINVAL, "/id", "must match the file name (%s.json)", t->id);
        goto out;
    }
    if ((rc = l_get(lc, t->doc, "version", true, "", &v)) != DCF_OK ||
        (rc = l_number(lc, t->doc, "version", 1, (double)VERSION_MAX, true, "", &version)) !=
            DCF_OK)
        goto out;
    t->version = (int64_t)version;
    if ((rc = l_locales(lc, t->doc, "title", DCF_TEMPLATE_LABEL_MAX, false, "", t->title)) !=
            DCF_OK ||
        (rc = l_get(lc, t->doc, "fields", true, "", &fields)) != DCF_OK)
        goto out;
    if (!json_is_array(fields) || json_array_size(fields) == 0) {
        rc = lfail(lc, DCF_EINVAL, "/fields", "must be a non-empty array");
        goto out;
    }
    size_t nf = json_array_size(fields);
    if (nf > lc->lim->max_fields) {
        rc = lfail(lc, DCF_ELIMIT, "/fields", "must have at most %zu fields", lc->lim->max_fields);
        goto out;
    }
    if ((t->fields = calloc(nf, sizeof *t->fields)) == NULL) {
        rc = DCF_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nf; i++) {
        if ((rc = parse_field(lc, t, json_array_get(fields, i), i)) != DCF_OK) {
            t->n_fields = i + 1; /* free what the failed field allocated */
            goto out;
        }
    }
    if ((rc = l_locales(lc, t->doc, "render", lc->lim->max_file_bytes, true, "", render)) != DCF_OK)
        goto out;
    for (int l = 0; l < NLOC; l++)
        if ((rc = compile_render(lc, t, l, render[l])) != DCF_OK)
            goto out;
    t->max_render_bytes = lc->lim->max_render_bytes;
    *out = t;
    t = NULL;
    rc = DCF_OK;
out:
    if (rc == DCF_ENOMEM)
        lfail(lc, rc, "", "out of memory");
    template_free(t);
    return rc;
}

/* ---------------------------------------------------------------- sets -- */

void dcf_template_set_free(dcf_template_set_t *set) {
    if (set == NULL)
        return;
    for (size_t i = 0; i < set->n; i++)
        template_free(set->tpls[i]);
    free(set->tpls);
    dcf_strmap_free(set->by_id);
    free(set);
}

int dcf_template_set_load_mem(const char *const *names, const char *const *texts,
                              const size_t *lens, size_t n, const dcf_template_limits_t *limits,
                              dcf_template_set_t **out, dcf_template_error_t *err) {
    dcf_template_limits_t lim;
    dcf_template_set_t *set = NULL;
    lctx_t lc = {.file = "", .lim = &lim, .err = err};
    int rc = DCF_ENOMEM;

    if (limits != NULL)
        lim = *limits;
    else
        dcf_template_limits_default(&lim);
    if (out == NULL || (n > 0 && (names == NULL || texts == NULL || lens == NULL))) {
        rc = lfail(&lc, DCF_EINVAL, "", "internal: bad arguments");
        goto out;
    }
    if (n > lim.max_files) {
        rc = lfail(&lc, DCF_ELIMIT, "", "a set holds at most %zu template files", lim.max_files);
        goto out;
    }
    if ((set = calloc(1, sizeof *set)) == NULL ||
        (set->tpls = calloc(n > 0 ? n : 1, sizeof *set->tpls)) == NULL ||
        dcf_strmap_new(&set->by_id) != DCF_OK) {
        rc = lfail(&lc, DCF_ENOMEM, "", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        dcf_template_t *t = NULL;
        lc.file = names[i] != NULL ? names[i] : "";
        if (lens[i] > lim.max_file_bytes) {
            rc = lfail(&lc, DCF_ELIMIT, "", "is larger than %zu bytes", lim.max_file_bytes);
            goto out;
        }
        if ((rc = parse_template(&lc, texts[i], lens[i], &t)) != DCF_OK)
            goto out;
        t->file_index = i;
        const dcf_template_t *other = dcf_strmap_get(set->by_id, t->id);
        if (other != NULL) {
            rc = lfail(&lc, DCF_EINVAL, "/id", "duplicates the id of %s", names[other->file_index]);
            template_free(t);
            goto out;
        }
        if ((rc = dcf_strmap_put(set->by_id, t->id, t)) != DCF_OK) {
            lfail(&lc, rc, "", "%s", dcf_strerror(rc));
            template_free(t);
            goto out;
        }
        set->tpls[set->n++] = t;
    }
    *out = set;
    set = NULL;
    rc = DCF_OK;
out:
    dcf_template_set_free(set);
    return rc;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read a regular file of at most `max` bytes into a new buffer. */
static int read_file(const char *path, size_t max, char **buf, size_t *len,
                     dcf_template_error_t *err) {
    lctx_t lc = {.file = path, .lim = NULL, .err = err};
    struct stat st;
    char *b = NULL;
    size_t n = 0;
    int rc = DCF_EIO;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = lfail(&lc, DCF_EIO, "", "cannot open: %s", strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = lfail(&lc, DCF_EIO, "", "is not a regular file");
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        rc = lfail(&lc, DCF_ELIMIT, "", "is larger than %zu bytes", max);
        goto out;
    }
    if ((b = malloc(max + 1)) == NULL) {
        rc = lfail(&lc, DCF_ENOMEM, "", "out of memory");
        goto out;
    }
    for (;;) {
        ssize_t k = read(fd, b + n, max + 1 - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = lfail(&lc, DCF_EIO, "", "cannot read: %s", strerror(errno));
            goto out;
        }
        if (k == 0)
            break;
        n += (size_t)k;
        if (n > max) { /* it grew since fstat */
            rc = lfail(&lc, DCF_ELIMIT, "", "is larger than %zu bytes", max);
            goto out;
        }
    }
    *buf = b;
    *len = n;
    b = NULL;
    rc = DCF_OK;
out:
    free(b);
    if (fd >= 0)
        close(fd);
    return rc;
}

int dcf_template_set_load(const char *dir, const dcf_template_limits_t *limits,
                          dcf_template_set_t **out, dcf_template_error_t *err) {
    dcf_template_limits_t lim;
    lctx_t lc = {.file = dir, .lim = &lim, .err = err};
    DIR *d = NULL;
    char **names = NULL, **paths = NULL, **texts = NULL;
    size_t *lens = NULL, n = 0;
    int rc = DCF_ENOMEM;

    if (limits != NULL)
        lim = *limits;
    else
        dcf_template_limits_default(&lim);
    if (dir == NULL || out == NULL) {
        lc.file = "";
        rc = lfail(&lc, DCF_EINVAL, "", "internal: bad arguments");
        goto out;
    }
    size_t cap = lim.max_files + 1;
    if ((names = calloc(cap, sizeof *names)) == NULL ||
        (paths = calloc(cap, sizeof *paths)) == NULL ||
        (texts = calloc(cap, sizeof *texts)) == NULL ||
        (lens = calloc(cap, sizeof *lens)) == NULL) {
        rc = lfail(&lc, DCF_ENOMEM, "", "out of memory");
        goto out;
    }
    if ((d = opendir(dir)) == NULL) {
        int e = errno;
        rc = lfail(&lc, e == ENOENT ? DCF_ENOENT : DCF_EIO, "", "cannot open the directory: %s",
                   strerror(e));
        goto out;
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (de == NULL) {
            if (errno != 0) {
                rc = lfail(&lc, DCF_EIO, "", "cannot read the directory: %s", strerror(errno));
                goto out;
            }
            break;
        }
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len <= 5 || len > FILENAME_MAX_ ||
            strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        if (n == lim.max_files) {
            rc = lfail(&lc, DCF_ELIMIT, "", "holds more than %zu template files", lim.max_files);
            goto out;
        }
        if ((names[n] = strdup(de->d_name)) == NULL) {
            rc = lfail(&lc, DCF_ENOMEM, "", "out of memory");
            goto out;
        }
        n++;
    }
    qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        size_t plen = strlen(dir) + 1 + strlen(names[i]) + 1;
        if ((paths[i] = malloc(plen)) == NULL) {
            rc = lfail(&lc, DCF_ENOMEM, "", "out of memory");
            goto out;
        }
        snprintf(paths[i], plen, "%s/%s", dir, names[i]);
        if ((rc = read_file(paths[i], lim.max_file_bytes, &texts[i], &lens[i], err)) != DCF_OK)
            goto out;
    }
    rc = dcf_template_set_load_mem((const char *const *)paths, (const char *const *)texts, lens, n,
                                   &lim, out, err);
out:
    if (d != NULL)
        closedir(d);
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
        free(paths[i]);
        free(texts[i]);
    }
    free(names);
    free(paths);
    free(texts);
    free(lens);
    return rc;
}

size_t dcf_template_set_count(const dcf_template_set_t *set) {
    return set != NULL ? set->n : 0;
}

const dcf_template_t *dcf_template_set_at(const dcf_template_set_t *set, size_t i) {
    return set != NULL && i < set->n ? set->tpls[i] : NULL;
}

const dcf_template_t *dcf_template_get(const dcf_template_set_t *set, const char *id) {
    if (set == NULL || id == NULL)
        return NULL;
    return dcf_strmap_get(set->by_id, id);
}

const char *dcf_template_id(const dcf_template_t *tpl) {
    return tpl->id;
}

int64_t dcf_template_version(const dcf_template_t *tpl) {
    return tpl->version;
}

const char *dcf_template_title(const dcf_template_t *tpl, const char *locale) {
    int l = locale_find(locale);
    return l >= 0 ? tpl->title[l] : NULL;
}

const struct json_t *dcf_template_doc(const dcf_template_t *tpl) {
    return tpl->doc;
}

/* ----------------------------------------------- validate and render -- */

/* Check every value; vals[i] receives field i's parsed value. */
static int check_fields(const dcf_template_t *t, const json_t *fields, const char *prefix,
                        val_t *vals, dcf_template_error_t *err) {
    const char *key;
    json_t *v;
    char p[PTR_MAX];
    int rc;
    if (prefix == NULL)
        prefix = "";
    if (!json_is_object(fields))
        return vfail(err, prefix, "must be an object of field values");
    json_object_foreach((json_t *)fields, key, v) {
        if (field_find(t, key, strlen(key)) < 0) {
            ptr_key(p, prefix, key);
            return vfail(err, p, "unknown field");
        }
    }
    for (size_t i = 0; i < t->n_fields; i++) {
        const field_t *f = &t->fields[i];
        ptr_key(p, prefix, f->name);
        v = json_object_get(fields, f->name);
        if (v == NULL) {
            if (f->required)
                return vfail(err, p, "is required");
            continue;
        }
        if ((rc = f->type->check(f, v, p, &vals[i], err)) != DCF_OK)
            return rc;
        vals[i].present = true;
    }
    return DCF_OK;
}

int dcf_template_validate(const dcf_template_t *tpl, const struct json_t *fields,
                          const char *pointer_prefix, dcf_template_error_t *err) {
    val_t *vals = calloc(tpl->n_fields, sizeof *vals);
    if (vals == NULL)
        return DCF_ENOMEM;
    int rc = check_fields(tpl, fields, pointer_prefix, vals, err);
    vals_free(vals, tpl->n_fields);
    return rc;
}

int dcf_template_render(const dcf_template_t *tpl, const struct json_t *fields, const char *locale,
                        char **out) {
    int l = locale_find(locale);
    val_t *vals = NULL;
    sbuf_t b = {.max = tpl->max_render_bytes, .rc = DCF_OK};
    int rc = DCF_EINVAL;

    if (l < 0 || out == NULL)
        goto out;
    if ((vals = calloc(tpl->n_fields, sizeof *vals)) == NULL) {
        rc = DCF_ENOMEM;
        goto out;
    }
    if ((rc = check_fields(tpl, fields, "/fields", vals, NULL)) != DCF_OK)
        goto out;
    sb_put(&b, "", 0);
    bool skip = false;
    for (size_t i = 0; i < tpl->n_segs[l]; i++) {
        const seg_t *s = &tpl->segs[l][i];
        const field_t *f = &tpl->fields[s->field];
        switch (s->kind) {
        case SEG_OPEN:
            skip = !vals[s->field].present;
            break;
        case SEG_CLOSE:
            skip = false;
            break;
        case SEG_TEXT:
            if (!skip)
                sb_put(&b, s->text, s->len);
            break;
        case SEG_FIELD:
            /* Present: required fields were checked, optional ones are shown
             * only in their own section (load-time rule). */
            if (!skip && vals[s->field].present)
                f->type->format(f, &vals[s->field], &LOCALES[l], &b);
            break;
        }
    }
    if ((rc = b.rc) != DCF_OK)
        goto out;
    *out = b.s;
    b.s = NULL;
out:
    free(b.s);
    vals_free(vals, tpl != NULL ? tpl->n_fields : 0);
    return rc;
}

/* ---------------------------------------------------- Accept-Language -- */

static bool is_alpha(char c) {
    return is_lower(c) || (c >= 'A' && c <= 'Z');
}

static bool is_ows(char c) {
    return c == ' ' || c == '\t';
}

/* RFC 9110 qvalue: "0" ["." 0*3DIGIT] / "1" ["." 0*3"0"], as thousandths;
 * -1 when malformed. */
static int parse_qvalue(const char *s, size_t n) {
    if (n == 0 || (s[0] != '0' && s[0] != '1') || n > 5 || (n > 1 && s[1] != '.'))
        return -1;
    int q = (s[0] - '0') * 1000, scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (!is_digit(s[i]))
            return -1;
        q += (s[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

/* One element "range[;q=v]" of s[0..n): its primary subtag (or "*") and q.
 * Returns false when malformed. */
static bool parse_range(const char *s, size_t n, const char **tag, size_t *tag_len, int *q) {
    size_t i = 0;
    while (i < n && is_ows(s[i]))
        i++;
    size_t start = i;
    if (i < n && s[i] == '*') {
        i++;
        *tag_len = 1;
    } else {
        while (i < n && is_alpha(s[i]) && i - start < 8)
            i++;
        *tag_len = i - start;
        if (*tag_len == 0)
            return false;
        while (i < n && s[i] == '-') { /* subtags: 1*8 alphanum */
            size_t k = ++i;
            while (i < n && (is_alpha(s[i]) || is_digit(s[i])) && i - k < 8)
                i++;
            if (i == k)
                return false;
        }
    }
    *tag = s + start;
    *q = 1000;
    while (i < n && is_ows(s[i]))
        i++;
    if (i == n)
        return true;
    if (s[i++] != ';')
        return false;
    while (i < n && is_ows(s[i]))
        i++;
    if (n - i < 2 || (s[i] != 'q' && s[i] != 'Q') || s[i + 1] != '=')
        return false;
    i += 2;
    size_t k = i;
    while (i < n && !is_ows(s[i]))
        i++;
    *q = parse_qvalue(s + k, i - k);
    while (i < n && is_ows(s[i]))
        i++;
    return *q >= 0 && i == n;
}

const char *dcf_template_locale_pick(const char *accept_language) {
    int explicit_q[NLOC], star = -1;
    for (int l = 0; l < NLOC; l++)
        explicit_q[l] = -1;
    if (accept_language == NULL)
        return LOCALES[LOC_EN].tag;
    size_t n = strnlen(accept_language, ACCEPT_MAX), at = 0;
    for (int elems = 0; at <= n && elems < ACCEPT_ELEMS; elems++) {
        const char *s = accept_language + at;
        const char *comma = memchr(s, ',', n - at);
        size_t len = comma != NULL ? (size_t)(comma - s) : n - at;
        const char *tag;
        size_t tag_len;
        int q;
        if (parse_range(s, len, &tag, &tag_len, &q)) {
            if (tag_len == 1 && tag[0] == '*') {
                star = q > star ? q : star;
            } else {
                for (int l = 0; l < NLOC; l++) {
                    const char *want = LOCALES[l].tag;
                    if (tag_len == strlen(want) && strncasecmp(tag, want, tag_len) == 0 &&
                        q > explicit_q[l])
                        explicit_q[l] = q;
                }
            }
        }
        at += len + 1;
    }
    /* A language named in the header takes its own weight; one not named
     * takes the weight of "*", if any.  Ties go to the first locale (en). */
    int best = LOC_EN, best_q = 0;
    for (int l = 0; l < NLOC; l++) {
        int q = explicit_q[l] >= 0 ? explicit_q[l] : star;
        if (q > best_q) {
            best = l;
            best_q = q;
        }
    }
    return LOCALES[best].tag;
}
