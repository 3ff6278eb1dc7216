/*
 * template.h -- the hotline's structured message templates: data files with
 * typed fields, validation of a message's field values, and renderings in
 * English and Russian.
 *
 * WHAT IT IS FOR.  A hotline message may carry a template id and field
 * values instead of (or beside) free text: a notification of an operation,
 * a request to deconflict, a safety-of-flight warning, an acknowledgement of
 * a conflict.  Each side reads the same facts rendered in its own language.
 * The templates are data (one JSON file each in templates/, format in
 * docs/templates.md); the server compiles them into the binary and loads
 * them from memory with dcf_template_set_load_mem, tests and tools load the
 * directory.
 *
 * INVARIANTS.  A loaded set is immutable and self-consistent: ids are unique
 * and match their file names; every field has a known type and sane bounds;
 * both locales have a title, every help text, every enum label and a
 * rendering; every placeholder of every rendering names a field, every field
 * is shown by every rendering (no side reads fewer facts than the other),
 * and an optional field is shown only inside its own {?name}...{/name}
 * section.  So a value that passes dcf_template_validate always renders.
 *
 * Nothing here does HTTP or SQL.  Errors carry the file (when loading), an
 * RFC 6901 JSON Pointer and the rule broken, like the model parser's.
 *
 * Threading: loading builds a new set; a set and its templates are
 * read-only afterwards and may be used from any number of threads at once.
 * No global state.
 */
#ifndef DECONFLICT_TEMPLATE_H
#define DECONFLICT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deconflict/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* jansson's json_t, without making every includer include jansson. */
struct json_t;

/* ------------------------------------------------------------ limits -- */

#define DCF_TEMPLATE_DEFAULT_MAX_FILES        64
#define DCF_TEMPLATE_DEFAULT_MAX_FILE_BYTES   65536
#define DCF_TEMPLATE_DEFAULT_MAX_FIELDS       32
#define DCF_TEMPLATE_DEFAULT_MAX_PLACEHOLDERS 128 /* {..} markers in one rendering */
#define DCF_TEMPLATE_DEFAULT_MAX_DEPTH        16  /* JSON nesting of a template file */
#define DCF_TEMPLATE_DEFAULT_MAX_RENDER_BYTES 65536

#define DCF_TEMPLATE_ID_MAX    64    /* bytes of a template id */
#define DCF_TEMPLATE_NAME_MAX  32    /* bytes of a field name or an enum value */
#define DCF_TEMPLATE_ENUM_MAX  64    /* values of one enum field */
#define DCF_TEMPLATE_TEXT_MAX  10000 /* largest max_length of a text field (characters) */
#define DCF_TEMPLATE_LABEL_MAX 200   /* bytes of a title or an enum label */
#define DCF_TEMPLATE_HELP_MAX  1000  /* bytes of a field's help text */

typedef struct {
    size_t max_files;        /* template files in one set */
    size_t max_file_bytes;   /* bytes of one file */
    size_t max_fields;       /* fields of one template */
    size_t max_placeholders; /* markers in one rendering: {f}, {?f}, {/f} */
    size_t max_depth;        /* JSON nesting of a file */
    size_t max_render_bytes; /* bytes of one rendered text */
} dcf_template_limits_t;

/* Fill `l` with the defaults above. */
void dcf_template_limits_default(dcf_template_limits_t *l);

/* ------------------------------------------------------------ errors -- */

/* Where a failure is and which rule it breaks.  `file` names the template
 * file when loading ("" when validating field values); `pointer` is an RFC
 * 6901 JSON Pointer into that file, or into the message for field values
 * ("/fields/window/end"); `rule` is a short sentence ("must be later than
 * /fields/window/start").  All NUL-terminated, truncated when too long. */
typedef struct {
    char file[256];
    char pointer[160];
    char rule[200];
} dcf_template_error_t;

/* "file: pointer: rule" (parts that are empty are left out) into buf[len].
 * Returns buf. */
char *dcf_template_error_format(const dcf_template_error_t *err, char *buf, size_t len);

/* ----------------------------------------------------------- loading -- */

typedef struct dcf_template_set_s dcf_template_set_t;
typedef struct dcf_template_s dcf_template_t;

/*
 * Load templates from memory: file i is names[i] (a file name such as
 * "operation-notice.json" or a path; only the part after the last '/' must
 * match the id) with texts[i][0..lens[i]) (need not be NUL-terminated).
 * `limits` may be NULL for the defaults.  Everything is checked before
 * anything is returned: on error *out is untouched and `err` (may be NULL)
 * names the file, the pointer and the rule.
 * Returns DCF_OK, DCF_EPARSE (not JSON), DCF_EINVAL (a rule of the format
 * broken), DCF_ELIMIT, DCF_ENOMEM.  On success the caller owns *out and
 * frees it with dcf_template_set_free.  The texts are not kept.
 */
int dcf_template_set_load_mem(const char *const *names, const char *const *texts,
                              const size_t *lens, size_t n, const dcf_template_limits_t *limits,
                              dcf_template_set_t **out, dcf_template_error_t *err);

/*
 * Load every "*.json" file of directory `dir` (names starting with '.' and
 * other files are ignored), in name order, through dcf_template_set_load_mem.
 * File names in errors are "dir/name".  Returns what load_mem returns, and
 * DCF_ENOENT (no such directory), DCF_EIO (unreadable file, not a regular
 * file), DCF_ELIMIT (too many files, a file too large).
 */
int dcf_template_set_load(const char *dir, const dcf_template_limits_t *limits,
                          dcf_template_set_t **out, dcf_template_error_t *err);

/* The templates compiled into the binary (the files of templates/), loaded through
 * dcf_template_set_load_mem with the default limits. */
int dcf_template_set_load_builtin(dcf_template_set_t **out, dcf_template_error_t *err);

void dcf_template_set_free(dcf_template_set_t *set);

/* Templates in load order (file name order for a directory). */
size_t dcf_template_set_count(const dcf_template_set_t *set);
const dcf_template_t *dcf_template_set_at(const dcf_template_set_t *set, size_t i);

/* The template with this id, or NULL.  Borrowed from the set. */
const dcf_template_t *dcf_template_get(const dcf_template_set_t *set, const char *id);

/* The template's id, version and title in `locale` ("en", "ru"; NULL for an
 * unknown locale).  Borrowed. */
const char *dcf_template_id(const dcf_template_t *tpl);
int64_t dcf_template_version(const dcf_template_t *tpl);
const char *dcf_template_title(const dcf_template_t *tpl, const char *locale);

/* The template file as loaded (for an API that lists templates).  Borrowed
 * and read-only: do not change it, do not keep it past the set. */
const struct json_t *dcf_template_doc(const dcf_template_t *tpl);

/* ---------------------------------------------- validation, rendering -- */

/*
 * Check a message's field values, a JSON object of name -> value, against
 * the template: no unknown field, every required field present, every value
 * of its field's type and within its bounds (an area must be a footprint the
 * geo module accepts).  Pointers in `err` are `pointer_prefix` + "/" + the
 * field name + the path inside the value; callers pass the pointer of the
 * object inside their document ("/fields" when the message body holds it as
 * "fields").  JSON null is not "absent": it is a value of the wrong type.
 * Returns DCF_OK, DCF_EINVAL (err filled) or DCF_ENOMEM.
 */
int dcf_template_validate(const dcf_template_t *tpl, const struct json_t *fields,
                          const char *pointer_prefix, dcf_template_error_t *err);

/*
 * Render the template in `locale` ("en" or "ru") with these field values
 * into a new NUL-terminated UTF-8 string (*out, freed with free()).  Values
 * are formatted for the locale: times "2026-12-01 10:00 UTC" /
 * "01.12.2026 10:00 UTC", altitudes "1,200 m" / "1 200 м", an area as its
 * centre and radius or its vertex count and bounding box, enum values by
 * their label.  The values are validated first (pointer prefix "/fields").
 * Returns DCF_OK, DCF_EINVAL (unknown locale or invalid values; *out
 * untouched), DCF_ELIMIT (longer than max_render_bytes) or DCF_ENOMEM.
 */
int dcf_template_render(const dcf_template_t *tpl, const struct json_t *fields, const char *locale,
                        char **out);

/*
 * The rendering locale for an HTTP Accept-Language header (RFC 9110 section
 * 12.5.4): "ru" when Russian has a higher q-value than English (a language
 * range matches by its primary subtag, "*" covers a language not named), else
 * "en".  NULL, empty, malformed or unsupported headers give "en"; malformed
 * elements are skipped; at most the first 4096 bytes and 64 elements are
 * read.  Returns a static string.
 */
const char *dcf_template_locale_pick(const char *accept_language);

#ifdef __cplusplus
}
#endif
#endif /* DECONFLICT_TEMPLATE_H */
