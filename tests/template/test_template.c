/*
 * test_template.c -- hotline message templates: the shipped files load and
 * render in both languages, every field type validates (good values pass,
 * each bad value gives the exact pointer and rule), malformed template files
 * are refused naming the file, the pointer and the rule, and Accept-Language
 * picks the right locale.
 *
 * Runs from the repository root (CTest's working directory) so that it reads
 * templates/.  A test-only template "kit" (below) has one field of every
 * type with tight bounds, so the validation cases do not depend on the
 * bounds the shipped templates choose.  Malformed files are made by changing
 * one thing in a valid file (test_json_set) and loading it from memory.
 */
#include <jansson.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deconflict/template.h"
#include "test.h"
#include "test_json.h"

/* ------------------------------------------------------------ shipped -- */

static const char *const SHIPPED[] = {"conflict-acknowledgement", "deconfliction-request",
                                      "operation-notice", "safety-of-flight-warning"};

static dcf_template_set_t *shipped(void) {
    dcf_template_set_t *set = NULL;
    dcf_template_error_t err;
    char msg[700];
    int rc = dcf_template_set_load("templates", NULL, &set, &err);
    CHECK_MSG(rc == DCF_OK, "%s", dcf_template_error_format(&err, msg, sizeof msg));
    return set;
}

static void test_shipped_load(void) {
    dcf_template_set_t *set = shipped();
    if (set == NULL)
        return;
    CHECK_INT(dcf_template_set_count(set), 4);
    for (size_t i = 0; i < 4; i++) {
        const dcf_template_t *t = dcf_template_get(set, SHIPPED[i]);
        CHECK_MSG(t != NULL, "%s", SHIPPED[i]);
        if (t == NULL)
            continue;
        /* Directory order is file name order. */
        CHECK(dcf_template_set_at(set, i) == t);
        CHECK_STR(dcf_template_id(t), SHIPPED[i]);
        CHECK_INT(dcf_template_version(t), 1);
        CHECK(dcf_template_title(t, "en") != NULL && dcf_template_title(t, "ru") != NULL);
        CHECK(dcf_template_title(t, "de") == NULL);
        CHECK(json_is_object((const json_t *)dcf_template_doc(t)));
    }
    CHECK_STR(dcf_template_title(dcf_template_get(set, "operation-notice"), "ru"),
              "Уведомление о полёте");
    CHECK(dcf_template_get(set, "no-such-template") == NULL);
    CHECK(dcf_template_set_at(set, 4) == NULL);
    dcf_template_set_free(set);
}

static const char *NOTICE_FIELDS =
    "{'operation': 'op-AbCdEfGhIjKlMnOpQrStUv', 'activity': 'air-patrol',"
    " 'window': {'start': '2026-12-01T10:00:00Z', 'end': '2026-12-01T12:30:00Z'},"
    " 'altitude': {'lower_m': 1200, 'upper_m': 3000},"
    " 'area': {'type': 'polygon', 'vertices': [{'lat': 35.1, 'lng': 36.2},"
    "   {'lat': 35.1, 'lng': 36.4}, {'lat': 35.3, 'lng': 36.4}, {'lat': 35.3, 'lng': 36.2}]},"
    " 'remarks': 'Callsign HAWK 11'}";

static void render_check(const dcf_template_t *t, const json_t *f, const char *locale,
                         const char *want) {
    char *out = NULL;
    int rc = dcf_template_render(t, f, locale, &out);
    CHECK_INT(rc, DCF_OK);
    CHECK_MSG(out != NULL && strcmp(out, want) == 0, "%s:\n%s\n--- wanted ---\n%s\n",
              dcf_template_id(t), out != NULL ? out : "(null)", want);
    free(out);
}

static void test_render_notice(void) {
    dcf_template_set_t *set = shipped();
    if (set == NULL)
        return;
    const dcf_template_t *t = dcf_template_get(set, "operation-notice");
    json_t *f = test_json_load(NOTICE_FIELDS);
    render_check(t, f, "en",
                 "NOTIFICATION OF OPERATION op-AbCdEfGhIjKlMnOpQrStUv\n"
                 "Activity: air patrol\n"
                 "Time: 2026-12-01 10:00–12:30 UTC\n"
                 "Altitude band: 1,200–3,000 m (WGS 84 ellipsoid)\n"
                 "Area: polygon of 4 vertices, latitude 35.1000°N to 35.3000°N, longitude "
                 "36.2000°E to 36.4000°E\n"
                 "Remarks: Callsign HAWK 11");
    render_check(t, f, "ru",
                 "УВЕДОМЛЕНИЕ О ПОЛЁТЕ, операция op-AbCdEfGhIjKlMnOpQrStUv\n"
                 "Характер задачи: воздушное патрулирование\n"
                 "Время: 01.12.2026 10:00–12:30 UTC\n"
                 "Диапазон высот: 1 200–3 000 м (над эллипсоидом WGS 84)\n"
                 "Район: многоугольник из 4 вершин, широта от 35,1000° с. ш. до 35,3000° с. ш., "
                 "долгота от 36,2000° в. д. до 36,4000° в. д.\n"
                 "Примечания: Callsign HAWK 11");
    /* Without the optional remarks, their section disappears. */
    json_object_del(f, "remarks");
    render_check(t, f, "en",
                 "NOTIFICATION OF OPERATION op-AbCdEfGhIjKlMnOpQrStUv\n"
                 "Activity: air patrol\n"
                 "Time: 2026-12-01 10:00–12:30 UTC\n"
                 "Altitude band: 1,200–3,000 m (WGS 84 ellipsoid)\n"
                 "Area: polygon of 4 vertices, latitude 35.1000°N to 35.3000°N, longitude "
                 "36.2000°E to 36.4000°E");
    json_decref(f);
    dcf_template_set_free(set);
}

static void test_render_warning(void) {
    dcf_template_set_t *set = shipped();
    if (set == NULL)
        return;
    const dcf_template_t *t = dcf_template_get(set, "safety-of-flight-warning");
    json_t *f = test_json_load(
        "{'hazard': 'air-defence', 'action': 'avoid',"
        " 'area': {'type': 'circle', 'center': {'lat': 35.5, 'lng': 36.25},"
        "   'radius_m': 15000},"
        " 'altitude': {'lower_m': 0, 'upper_m': 12000},"
        " 'window': {'start': '2026-12-01T22:00:00Z', 'end': '2026-12-02T02:00:00Z'},"
        " 'minimum_safe_altitude': 12500, 'operation': 'op-Z9_-x',"
        " 'details': 'Launches expected.'}");
    render_check(t, f, "en",
                 "SAFETY-OF-FLIGHT WARNING\n"
                 "Hazard: air defence activity\n"
                 "Area: circle of radius 15,000 m centred at 35.5000°N 36.2500°E\n"
                 "Altitude band: 0–12,000 m (WGS 84 ellipsoid)\n"
                 "Time: 2026-12-01 22:00 UTC – 2026-12-02 02:00 UTC\n"
                 "Requested action: avoid the area\n"
                 "Minimum safe altitude: 12,500 m\n"
                 "Related operation: op-Z9_-x\n"
                 "Details: Launches expected.");
    render_check(t, f, "ru",
                 "ПРЕДУПРЕЖДЕНИЕ ОБ УГРОЗЕ БЕЗОПАСНОСТИ ПОЛЁТОВ\n"
                 "Опасность: работа средств ПВО\n"
                 "Район: круг радиусом 15 000 м с центром 35,5000° с. ш., 36,2500° в. д.\n"
                 "Диапазон высот: 0–12 000 м (над эллипсоидом WGS 84)\n"
                 "Время: 01.12.2026 22:00 UTC – 02.12.2026 02:00 UTC\n"
                 "Требуемые действия: не входить в район\n"
                 "Минимальная безопасная высота: 12 500 м\n"
                 "Связанная операция: op-Z9_-x\n"
                 "Подробности: Launches expected.");
    json_decref(f);
    dcf_template_set_free(set);
}

static void test_render_request_and_ack(void) {
    dcf_template_set_t *set = shipped();
    if (set == NULL)
        return;
    const dcf_template_t *t = dcf_template_get(set, "deconfliction-request");
    json_t *f =
        test_json_load("{'operation': 'op-1', 'conflict': 'cf-2', 'proposal': 'change-altitude',"
                       " 'proposed_altitude': {'lower_m': 3000, 'upper_m': 4500},"
                       " 'proposed_window': {'start': '2026-12-01T10:00:00Z',"
                       "   'end': '2026-12-01T11:00:00Z'},"
                       " 'respond_by': '2026-12-01T09:30:00+03:00', 'remarks': 'Срочно.'}");
    render_check(t, f, "en",
                 "REQUEST TO DECONFLICT operation op-1 (conflict cf-2)\n"
                 "Proposed action: change the altitude band\n"
                 "Proposed altitude band: 3,000–4,500 m (WGS 84 ellipsoid)\n"
                 "Proposed time: 2026-12-01 10:00–11:00 UTC\n"
                 "Please answer by 2026-12-01 06:30 UTC\n"
                 "Remarks: Срочно.");
    render_check(t, f, "ru",
                 "ЗАПРОС НА РАЗВЕДЕНИЕ ПОЛЁТОВ, операция op-1 (конфликт cf-2)\n"
                 "Предлагаемая мера: изменить диапазон высот\n"
                 "Предлагаемый диапазон высот: 3 000–4 500 м (над эллипсоидом WGS 84)\n"
                 "Предлагаемое время: 01.12.2026 10:00–11:00 UTC\n"
                 "Просим ответить до 01.12.2026 06:30 UTC\n"
                 "Примечания: Срочно.");
    json_decref(f);

    t = dcf_template_get(set, "conflict-acknowledgement");
    f = test_json_load(
        "{'conflict': 'cf-AbC', 'intent': 'will-adjust',"
        " 'new_altitude': {'lower_m': 500, 'upper_m': 900},"
        " 'new_window': {'start': '2026-12-01T10:00:00Z', 'end': '2026-12-01T11:00:00Z'},"
        " 'acknowledged_by': 'Maj. Petrov, duty officer', 'remarks': 'Will call.'}");
    render_check(t, f, "en",
                 "ACKNOWLEDGEMENT OF CONFLICT cf-AbC\n"
                 "Intent: we will change our operation\n"
                 "New altitude band: 500–900 m (WGS 84 ellipsoid)\n"
                 "New time: 2026-12-01 10:00–11:00 UTC\n"
                 "Acknowledged by: Maj. Petrov, duty officer\n"
                 "Remarks: Will call.");
    render_check(t, f, "ru",
                 "ПОДТВЕРЖДЕНИЕ ПОЛУЧЕНИЯ СВЕДЕНИЙ О КОНФЛИКТЕ cf-AbC\n"
                 "Намерения: изменим параметры своей операции\n"
                 "Новый диапазон высот: 500–900 м (над эллипсоидом WGS 84)\n"
                 "Новое время: 01.12.2026 10:00–11:00 UTC\n"
                 "Кем подтверждено: Maj. Petrov, duty officer\n"
                 "Примечания: Will call.");
    json_decref(f);
    dcf_template_set_free(set);
}

/* Every shipped template renders in every locale with its required fields
 * only, and nothing of the template syntax is left. */
static void test_render_required_only(void) {
    static const char *const required[] = {
        "{'conflict': 'cf-a', 'intent': 'proceed', 'acknowledged_by': 'X'}",
        "{'operation': 'op-a', 'proposal': 'hold'}",
        "{'operation': 'op-a', 'activity': 'uav', 'window': {'start': '2026-12-01T10:00:00Z',"
        " 'end': '2026-12-01T11:00:00Z'}, 'altitude': {'lower_m': 0, 'upper_m': 120},"
        " 'area': {'type': 'circle', 'center': {'lat': 0, 'lng': 0}, 'radius_m': 100}}",
        "{'hazard': 'weather', 'action': 'caution', 'area': {'type': 'circle', 'center':"
        " {'lat': 0, 'lng': 0}, 'radius_m': 100}, 'altitude': {'lower_m': 0, 'upper_m': 120},"
        " 'window': {'start': '2026-12-01T10:00:00Z', 'end': '2026-12-01T11:00:00Z'}}",
    };
    dcf_template_set_t *set = shipped();
    if (set == NULL)
        return;
    for (size_t i = 0; i < 4; i++) {
        const dcf_template_t *t = dcf_template_get(set, SHIPPED[i]);
        json_t *f = test_json_load(required[i]);
        dcf_template_error_t err;
        CHECK_MSG(dcf_template_validate(t, f, "/fields", &err) == DCF_OK, "%s: %s: %s", SHIPPED[i],
                  err.pointer, err.rule);
        for (int l = 0; l < 2; l++) {
            char *out = NULL;
            CHECK_INT(dcf_template_render(t, f, l ? "ru" : "en", &out), DCF_OK);
            CHECK_MSG(out != NULL && strchr(out, '{') == NULL && strchr(out, '}') == NULL &&
                          strlen(out) > 20,
                      "%s", out != NULL ? out : "(null)");
            free(out);
        }
        json_decref(f);
    }
    dcf_template_set_free(set);
}

/* ---------------------------------------------------------------- kit -- */

/* One field of every type, tight bounds, every field but t and w optional. */
static const char *KIT =
    "{'id': 'kit', 'version': 3, 'title': {'en': 'Kit', 'ru': 'Набор'},"
    " 'fields': ["
    "  {'name': 't', 'type': 'time', 'required': true, 'help': {'en': 'h', 'ru': 'п'}},"
    "  {'name': 'w', 'type': 'time-window', 'max_duration_s': 7200, 'required': true,"
    "   'help': {'en': 'h', 'ru': 'п'}},"
    "  {'name': 'a', 'type': 'altitude', 'min_m': 0, 'max_m': 5000, 'required': false,"
    "   'help': {'en': 'h', 'ru': 'п'}},"
    "  {'name': 'b', 'type': 'altitude-band', 'min_m': -100, 'max_m': 5000, 'required': false,"
    "   'help': {'en': 'h', 'ru': 'п'}},"
    "  {'name': 'area', 'type': 'area', 'max_vertices': 5, 'max_radius_m': 10000,"
    "   'required': false, 'help': {'en': 'h', 'ru': 'п'}},"
    "  {'name': 'txt', 'type': 'text', 'max_length': 5, 'required': false,"
    "   'help': {'en': 'h', 'ru': 'п'}},"
    "  {'name': 'e', 'type': 'enum', 'values': [{'value': 'x', 'label': {'en': 'Ex', 'ru': "
    "'Экс'}}, {'value': 'y', 'label': {'en': 'Why', 'ru': 'Игрек'}}], 'required': false,"
    "   'help': {'en': 'h', 'ru': 'п'}},"
    "  {'name': 'r', 'type': 'reference', 'kinds': ['operation', 'conflict'], 'required': false,"
    "   'help': {'en': 'h', 'ru': 'п'}},"
    "  {'name': 'ro', 'type': 'reference', 'kinds': ['operation'], 'required': false,"
    "   'help': {'en': 'h', 'ru': 'п'}},"
    "  {'name': 'rc', 'type': 'reference', 'kinds': ['conflict'], 'required': false,"
    "   'help': {'en': 'h', 'ru': 'п'}}],"
    " 'render': {"
    "  'en': '{t} | {w}{?a} | {a}{/a}{?b} | {b}{/b}{?area} | {area}{/area}{?txt} | {txt}{/txt}"
    "{?e} | {e}{/e}{?r} | {r}{/r}{?ro} | {ro}{/ro}{?rc} | {rc}{/rc} {{x}}',"
    "  'ru': '{t} | {w}{?a} | {a}{/a}{?b} | {b}{/b}{?area} | {area}{/area}{?txt} | {txt}{/txt}"
    "{?e} | {e}{/e}{?r} | {r}{/r}{?ro} | {ro}{/ro}{?rc} | {rc}{/rc} {{x}}'}}";

/* Load one template file given as a json_t (named `name`) into a set. */
static int load_one(const json_t *doc, const char *name, const dcf_template_limits_t *lim,
                    dcf_template_set_t **set, dcf_template_error_t *err) {
    char *text = json_dumps(doc, JSON_COMPACT);
    size_t len = strlen(text);
    const char *names[] = {name};
    const char *texts[] = {text};
    int rc = dcf_template_set_load_mem(names, texts, &len, 1, lim, set, err);
    free(text);
    return rc;
}

static dcf_template_set_t *kit_set(void) {
    json_t *doc = test_json_load(KIT);
    dcf_template_set_t *set = NULL;
    dcf_template_error_t err;
    int rc = load_one(doc, "kit.json", NULL, &set, &err);
    CHECK_MSG(rc == DCF_OK, "%s %s", err.pointer, err.rule);
    json_decref(doc);
    return set;
}

static const char *KIT_OK =
    "{'t': '2026-12-01T10:00:00Z',"
    " 'w': {'start': '2026-12-01T10:00:00Z', 'end': '2026-12-01T12:00:00Z'}}";

/* Validate KIT_OK with `field` set to the JSON `value` (NULL: removed). */
static int kit_try(const dcf_template_t *t, const char *field, const char *value,
                   dcf_template_error_t *err) {
    json_t *f = test_json_load(KIT_OK);
    if (value != NULL)
        json_object_set_new(f, field, test_json_load(value));
    else
        json_object_del(f, field);
    memset(err, 0, sizeof *err);
    int rc = dcf_template_validate(t, f, "/fields", err);
    json_decref(f);
    return rc;
}

#define GOOD(F_, V_)                                                                               \
    do {                                                                                           \
        dcf_template_error_t e_;                                                                   \
        int rc_ = kit_try(t, F_, V_, &e_);                                                         \
        CHECK_MSG(rc_ == DCF_OK, "%s = %s: %s: %s", F_, (const char *)(V_), e_.pointer, e_.rule);  \
    } while (0)

#define BAD(F_, V_, P_, R_)                                                                        \
    do {                                                                                           \
        dcf_template_error_t e_;                                                                   \
        int rc_ = kit_try(t, F_, V_, &e_);                                                         \
        CHECK_INT(rc_, DCF_EINVAL);                                                                \
        CHECK_STR(e_.pointer, P_);                                                                 \
        CHECK_STR(e_.rule, R_);                                                                    \
        CHECK_STR(e_.file, "");                                                                    \
    } while (0)

/* Only the start of the rule is fixed (the rest comes from another module). */
#define BAD_PREFIX(F_, V_, P_, R_)                                                                 \
    do {                                                                                           \
        dcf_template_error_t e_;                                                                   \
        int rc_ = kit_try(t, F_, V_, &e_);                                                         \
        CHECK_INT(rc_, DCF_EINVAL);                                                                \
        CHECK_STR(e_.pointer, P_);                                                                 \
        CHECK_MSG(strncmp(e_.rule, R_, strlen(R_)) == 0, "\"%s\" lacks \"%s\"", e_.rule, R_);      \
    } while (0)

static void test_validate_time(void) {
    dcf_template_set_t *set = kit_set();
    const dcf_template_t *t = dcf_template_get(set, "kit");
    if (t == NULL)
        goto out;
    GOOD("t", "'2026-12-01T10:00:00.5+02:00'");
    GOOD("t", "'2026-12-01t10:00:00z'");
    BAD("t", "5", "/fields/t", "must be a string (an RFC 3339 date-time)");
    BAD("t", "null", "/fields/t", "must be a string (an RFC 3339 date-time)");
    BAD_PREFIX("t", "'2026-12-01 10:00'", "/fields/t", "must be an RFC 3339 date-time: ");
    BAD_PREFIX("t", "'2026-13-01T10:00:00Z'", "/fields/t", "must be an RFC 3339 date-time: ");
    BAD_PREFIX("t", "'2026-12-01T10:00:00'", "/fields/t", "must be an RFC 3339 date-time: ");
    BAD("t", NULL, "/fields/t", "is required");
out:
    dcf_template_set_free(set);
}

static void test_validate_window(void) {
    dcf_template_set_t *set = kit_set();
    const dcf_template_t *t = dcf_template_get(set, "kit");
    if (t == NULL)
        goto out;
    /* Exactly the maximum duration, and across midnight. */
    GOOD("w", "{'start': '2026-12-01T23:00:00Z', 'end': '2026-12-02T01:00:00Z'}");
    BAD("w", "'2026-12-01T10:00:00Z'", "/fields/w", "must be an object with start and end");
    BAD("w", "{'start': '2026-12-01T10:00:00Z'}", "/fields/w/end", "is required");
    BAD("w", "{'end': '2026-12-01T10:00:00Z'}", "/fields/w/start", "is required");
    BAD("w", "{'start': '2026-12-01T10:00:00Z', 'end': '2026-12-01T11:00:00Z', 'x': 1}",
        "/fields/w/x", "unknown member");
    BAD("w", "{'start': '2026-12-01T10:00:00Z', 'end': '2026-12-01T10:00:00Z'}", "/fields/w/end",
        "must be later than /fields/w/start");
    BAD("w", "{'start': '2026-12-01T10:00:00Z', 'end': '2026-12-01T09:00:00Z'}", "/fields/w/end",
        "must be later than /fields/w/start");
    /* The same instant written with another offset is still not later. */
    BAD("w", "{'start': '2026-12-01T10:00:00Z', 'end': '2026-12-01T12:00:00+02:00'}",
        "/fields/w/end", "must be later than /fields/w/start");
    BAD("w", "{'start': '2026-12-01T10:00:00Z', 'end': '2026-12-01T12:00:00.000001Z'}",
        "/fields/w/end", "must be at most 2 h after /fields/w/start");
    BAD_PREFIX("w", "{'start': 'soon', 'end': '2026-12-01T12:00:00Z'}", "/fields/w/start",
               "must be an RFC 3339 date-time: ");
    BAD("w", "{'start': '2026-12-01T10:00:00Z', 'end': 12}", "/fields/w/end",
        "must be a string (an RFC 3339 date-time)");
out:
    dcf_template_set_free(set);
}

static void test_validate_altitudes(void) {
    dcf_template_set_t *set = kit_set();
    const dcf_template_t *t = dcf_template_get(set, "kit");
    if (t == NULL)
        goto out;
    GOOD("a", "0");
    GOOD("a", "5000");
    GOOD("a", "1234.5");
    BAD("a", "5000.01", "/fields/a", "must be between 0 and 5000");
    BAD("a", "-1", "/fields/a", "must be between 0 and 5000");
    BAD("a", "'1200'", "/fields/a", "must be a number (metres)");
    BAD("a", "null", "/fields/a", "must be a number (metres)");
    BAD("a", "{'m': 1}", "/fields/a", "must be a number (metres)");

    GOOD("b", "{'lower_m': -100, 'upper_m': 5000}");
    BAD("b", "[0, 100]", "/fields/b", "must be an object with lower_m and upper_m");
    BAD("b", "{'lower_m': 100, 'upper_m': 100}", "/fields/b/upper_m",
        "must be greater than /fields/b/lower_m");
    BAD("b", "{'lower_m': 200, 'upper_m': 100}", "/fields/b/upper_m",
        "must be greater than /fields/b/lower_m");
    BAD("b", "{'lower_m': -101, 'upper_m': 100}", "/fields/b/lower_m",
        "must be between -100 and 5000");
    BAD("b", "{'lower_m': 0, 'upper_m': 6000}", "/fields/b/upper_m",
        "must be between -100 and 5000");
    BAD("b", "{'lower_m': 0}", "/fields/b/upper_m", "is required");
    BAD("b", "{'lower_m': 0, 'upper_m': true}", "/fields/b/upper_m", "must be a number (metres)");
    BAD("b", "{'lower_m': 0, 'upper_m': 10, 'unit': 'ft'}", "/fields/b/unit", "unknown member");
out:
    dcf_template_set_free(set);
}

static void test_validate_area(void) {
    dcf_template_set_t *set = kit_set();
    const dcf_template_t *t = dcf_template_get(set, "kit");
    if (t == NULL)
        goto out;
    GOOD("area", "{'type': 'circle', 'center': {'lat': 35, 'lng': 36}, 'radius_m': 10000}");
    GOOD("area", "{'type': 'polygon', 'vertices': [{'lat': 0, 'lng': 0}, {'lat': 0, 'lng': 1},"
                 " {'lat': 1, 'lng': 1}, {'lat': 1.5, 'lng': 0.5}, {'lat': 1, 'lng': 0}]}");
    BAD("area", "7", "/fields/area", "must be a footprint object (polygon or circle)");
    BAD("area", "{'vertices': []}", "/fields/area/type", "is required");
    BAD("area", "{'type': 'square'}", "/fields/area/type", "must be \"polygon\" or \"circle\"");
    BAD("area", "{'type': 1}", "/fields/area/type", "must be a string");
    BAD("area", "{'type': 'circle', 'center': {'lat': 35, 'lng': 36}, 'radius_m': 10001}",
        "/fields/area/radius_m", "must be at most 10000");
    /* The geo module's own rules, under our pointer. */
    BAD("area", "{'type': 'circle', 'center': {'lat': 35, 'lng': 36}, 'radius_m': 0}",
        "/fields/area/radius_m", "must be greater than 0");
    BAD("area", "{'type': 'circle', 'center': {'lat': 95, 'lng': 36}, 'radius_m': 10}",
        "/fields/area/center/lat", "must be between -90 and 90");
    BAD("area", "{'type': 'circle', 'center': {'lat': 35}, 'radius_m': 10}",
        "/fields/area/center/lng", "is required");
    BAD("area", "{'type': 'circle', 'center': {'lat': 35, 'lng': 36}}", "/fields/area/radius_m",
        "is required");
    BAD("area",
        "{'type': 'circle', 'center': {'lat': 35, 'lng': 36}, 'radius_m': 9, 'vertices': []}",
        "/fields/area/vertices", "unknown member");
    BAD("area", "{'type': 'polygon', 'vertices': {}}", "/fields/area/vertices", "must be an array");
    BAD("area", "{'type': 'polygon', 'vertices': [{'lat': 0, 'lng': 0}, {'lat': 0, 'lng': 1}]}",
        "/fields/area/vertices", "must have at least 3 vertices");
    BAD("area",
        "{'type': 'polygon', 'vertices': [{'lat': 0, 'lng': 0}, {'lat': 0, 'lng': 1},"
        " {'lat': 1, 'lng': 1}, {'lat': 1.5, 'lng': 0.5}, {'lat': 1.2, 'lng': 0.2},"
        " {'lat': 1, 'lng': 0}]}",
        "/fields/area/vertices", "must have at most 5 vertices");
    BAD("area",
        "{'type': 'polygon', 'vertices': [{'lat': 0, 'lng': 0}, {'lat': 91, 'lng': 1},"
        " {'lat': 1, 'lng': 1}]}",
        "/fields/area/vertices/1/lat", "must be between -90 and 90");
    BAD("area",
        "{'type': 'polygon', 'vertices': ['0,0', {'lat': 0, 'lng': 1},"
        " {'lat': 1, 'lng': 1}]}",
        "/fields/area/vertices/0", "must be an object with lat and lng");
    BAD("area",
        "{'type': 'polygon', 'vertices': [{'lat': 0, 'lng': 0, 'alt': 1},"
        " {'lat': 0, 'lng': 1}, {'lat': 1, 'lng': 1}]}",
        "/fields/area/vertices/0/alt", "unknown member");
    /* A bow tie: edges cross. */
    BAD_PREFIX("area",
               "{'type': 'polygon', 'vertices': [{'lat': 0, 'lng': 0}, {'lat': 1, 'lng': 1},"
               " {'lat': 0, 'lng': 1}, {'lat': 1, 'lng': 0}]}",
               "/fields/area/vertices/0", "edges must not cross");
    /* Collinear: no area. */
    BAD("area",
        "{'type': 'polygon', 'vertices': [{'lat': 0, 'lng': 0}, {'lat': 0, 'lng': 1},"
        " {'lat': 0, 'lng': 2}]}",
        "/fields/area/vertices", "must enclose a non-zero area");
out:
    dcf_template_set_free(set);
}

static void test_validate_text_enum_reference(void) {
    dcf_template_set_t *set = kit_set();
    const dcf_template_t *t = dcf_template_get(set, "kit");
    if (t == NULL)
        goto out;
    GOOD("txt", "'abcde'");
    GOOD("txt", "'ёжик!'"); /* 5 characters, 9 bytes */
    GOOD("txt", "'a\\nb\\tc'");
    BAD("txt", "'abcdef'", "/fields/txt", "must be at most 5 characters");
    BAD("txt", "'ёжики!'", "/fields/txt", "must be at most 5 characters");
    BAD("txt", "''", "/fields/txt", "must not be empty");
    BAD("txt", "5", "/fields/txt", "must be a string");
    BAD("txt", "'a\\u0001'", "/fields/txt", "must not contain control characters (character 1)");
    BAD("txt", "'ab\\r'", "/fields/txt", "must not contain control characters (character 2)");
    BAD("txt", "'\\u202eab'", "/fields/txt", "must not contain control characters (character 0)");

    GOOD("e", "'x'");
    GOOD("e", "'y'");
    BAD("e", "'z'", "/fields/e", "must be one of: x, y");
    BAD("e", "'X'", "/fields/e", "must be one of: x, y");
    BAD("e", "1", "/fields/e", "must be one of: x, y");

    GOOD("r", "'op-AbCdEfGhIjKlMnOpQrStUv'");
    GOOD("r", "'cf-a_b-c'");
    GOOD("ro", "'op-x'");
    GOOD("rc", "'cf-x'");
    GOOD("r", "'cf-0123456789012345678901234567890123456789012345678901234567890'"); /* 64 */
    BAD("r", "'cf-01234567890123456789012345678901234567890123456789012345678901'", "/fields/r",
        "must be an operation or conflict id (op-... or cf-...)");
    BAD("r", "'op-'", "/fields/r", "must be an operation or conflict id (op-... or cf-...)");
    BAD("r", "'tok-abc'", "/fields/r", "must be an operation or conflict id (op-... or cf-...)");
    BAD("r", "'op-ab/c'", "/fields/r", "must be an operation or conflict id (op-... or cf-...)");
    BAD("r", "'OP-abc'", "/fields/r", "must be an operation or conflict id (op-... or cf-...)");
    BAD("r", "42", "/fields/r", "must be an operation or conflict id (op-... or cf-...)");
    BAD("ro", "'cf-abc'", "/fields/ro", "must be an operation id (op-...)");
    BAD("rc", "'op-abc'", "/fields/rc", "must be a conflict id (cf-...)");
out:
    dcf_template_set_free(set);
}

static void test_validate_fields_object(void) {
    dcf_template_set_t *set = kit_set();
    const dcf_template_t *t = dcf_template_get(set, "kit");
    dcf_template_error_t err;
    if (t == NULL)
        goto out;
    GOOD("txt", "'ok'");
    BAD("zz", "1", "/fields/zz", "unknown field");
    BAD("a/b~c", "1", "/fields/a~1b~0c", "unknown field");
    BAD("w", NULL, "/fields/w", "is required");

    json_t *f = test_json_load("[1]");
    CHECK_INT(dcf_template_validate(t, f, "/fields", &err), DCF_EINVAL);
    CHECK_STR(err.pointer, "/fields");
    CHECK_STR(err.rule, "must be an object of field values");
    json_decref(f);

    /* Another prefix, and none. */
    f = test_json_load("{'t': 1}");
    CHECK_INT(dcf_template_validate(t, f, "/template/fields", &err), DCF_EINVAL);
    CHECK_STR(err.pointer, "/template/fields/t");
    CHECK_INT(dcf_template_validate(t, f, "", &err), DCF_EINVAL);
    CHECK_STR(err.pointer, "/t");
    CHECK_INT(dcf_template_validate(t, f, "/fields", NULL), DCF_EINVAL);
    json_decref(f);
out:
    dcf_template_set_free(set);
}

static void test_render_kit(void) {
    dcf_template_set_t *set = kit_set();
    const dcf_template_t *t = dcf_template_get(set, "kit");
    if (t == NULL)
        goto out;
    CHECK_INT(dcf_template_version(t), 3);
    json_t *f =
        test_json_load("{'t': '2026-12-01T10:00:30.250Z',"
                       " 'w': {'start': '2026-12-31T23:30:00Z', 'end': '2027-01-01T01:00:00Z'},"
                       " 'a': 1234.5, 'b': {'lower_m': -50.25, 'upper_m': 4999.999},"
                       " 'area': {'type': 'circle', 'center': {'lat': -33.86882, 'lng': -70.5},"
                       "   'radius_m': 2500},"
                       " 'txt': 'ёжик', 'e': 'y', 'r': 'cf-1', 'ro': 'op-2', 'rc': 'cf-3'}");
    render_check(t, f, "en",
                 "2026-12-01 10:00:30.25 UTC | 2026-12-31 23:30 UTC – 2027-01-01 01:00 UTC | "
                 "1,234.5 m | -50.25–5,000 m | circle of radius 2,500 m centred at 33.8688°S "
                 "70.5000°W | ёжик | Why | cf-1 | op-2 | cf-3 {x}");
    render_check(t, f, "ru",
                 "01.12.2026 10:00:30.25 UTC | 31.12.2026 23:30 UTC – 01.01.2027 01:00 UTC | "
                 "1 234,5 м | -50,25–5 000 м | круг радиусом 2 500 м с центром 33,8688° ю. ш., "
                 "70,5000° з. д. | ёжик | Игрек | cf-1 | op-2 | cf-3 {x}");

    /* Only the required fields: every optional section disappears. */
    json_decref(f);
    f = test_json_load(KIT_OK);
    render_check(t, f, "en", "2026-12-01 10:00 UTC | 2026-12-01 10:00–12:00 UTC {x}");
    json_decref(f);
out:
    dcf_template_set_free(set);
}

/* Russian plural after "из" (11 -> вершин, 21 -> вершины), with a polygon
 * of n vertices close to a circle. */
static void polygon_render(size_t n, const char *want_ru_prefix) {
    json_t *doc = test_json_load(KIT);
    test_json_set(doc, "/fields/4/max_vertices", json_integer(100));
    dcf_template_set_t *set = NULL;
    dcf_template_error_t err;
    CHECK_INT(load_one(doc, "kit.json", NULL, &set, &err), DCF_OK);
    json_decref(doc);
    if (set == NULL)
        return;
    json_t *f = test_json_load(KIT_OK);
    json_t *verts = json_array();
    for (size_t i = 0; i < n; i++) {
        double a = 2 * M_PI * (double)i / (double)n;
        json_array_append_new(
            verts, json_pack("{s:f,s:f}", "lat", 10 + 0.1 * sin(a), "lng", 20 + 0.1 * cos(a)));
    }
    json_object_set_new(f, "area", json_pack("{s:s,s:o}", "type", "polygon", "vertices", verts));
    char *out = NULL;
    CHECK_INT(dcf_template_render(dcf_template_get(set, "kit"), f, "ru", &out), DCF_OK);
    CHECK_MSG(out != NULL && strstr(out, want_ru_prefix) != NULL, "%s lacks %s",
              out ? out : "(null)", want_ru_prefix);
    free(out);
    json_decref(f);
    dcf_template_set_free(set);
}

/* A polygon across the antimeridian in the southern hemisphere: the box
 * reads west edge to east edge, and reaches past 17.5°S where the geodesic
 * edge bulges toward the pole. */
static void test_render_antimeridian(void) {
    dcf_template_set_t *set = kit_set();
    const dcf_template_t *t = dcf_template_get(set, "kit");
    if (t == NULL)
        goto out;
    json_t *f = test_json_load(KIT_OK);
    json_object_set_new(
        f, "area",
        test_json_load("{'type': 'polygon', 'vertices': [{'lat': -16.5, 'lng': 179.5},"
                       " {'lat': -16.5, 'lng': -179.5}, {'lat': -17.5, 'lng': -179.5},"
                       " {'lat': -17.5, 'lng': 179.5}]}"));
    render_check(t, f, "en",
                 "2026-12-01 10:00 UTC | 2026-12-01 10:00–12:00 UTC | polygon of 4 vertices, "
                 "latitude 17.5006°S to 16.5000°S, longitude 179.5000°E to 179.5000°W {x}");
    render_check(t, f, "ru",
                 "01.12.2026 10:00 UTC | 01.12.2026 10:00–12:00 UTC | многоугольник из 4 вершин, "
                 "широта от 17,5006° ю. ш. до 16,5000° ю. ш., долгота от 179,5000° в. д. до "
                 "179,5000° з. д. {x}");
    json_decref(f);
out:
    dcf_template_set_free(set);
}

static void test_render_plural(void) {
    polygon_render(11, "многоугольник из 11 вершин, широта от 9,9");
    polygon_render(21, "многоугольник из 21 вершины, широта от 9,9");
    polygon_render(22, "многоугольник из 22 вершин,");
}

static void test_render_errors(void) {
    dcf_template_set_t *set = kit_set();
    const dcf_template_t *t = dcf_template_get(set, "kit");
    char *out = NULL;
    if (t == NULL)
        goto out;
    json_t *f = test_json_load(KIT_OK);
    CHECK_INT(dcf_template_render(t, f, "de", &out), DCF_EINVAL);
    CHECK_INT(dcf_template_render(t, f, NULL, &out), DCF_EINVAL);
    CHECK(out == NULL);
    json_object_set_new(f, "a", json_integer(-5));
    CHECK_INT(dcf_template_render(t, f, "en", &out), DCF_EINVAL);
    CHECK(out == NULL);
    json_decref(f);

    /* A rendering longer than max_render_bytes. */
    dcf_template_limits_t lim;
    dcf_template_limits_default(&lim);
    lim.max_render_bytes = 40;
    json_t *doc = test_json_load(KIT);
    dcf_template_set_t *small = NULL;
    dcf_template_error_t err;
    CHECK_INT(load_one(doc, "kit.json", &lim, &small, &err), DCF_OK);
    json_decref(doc);
    f = test_json_load(KIT_OK);
    CHECK_INT(dcf_template_render(dcf_template_get(small, "kit"), f, "en", &out), DCF_ELIMIT);
    CHECK(out == NULL);
    json_decref(f);
    dcf_template_set_free(small);
out:
    dcf_template_set_free(set);
}

/* ---------------------------------------------------- malformed files -- */

static const char *MINI =
    "{'id': 'mini', 'version': 1, 'title': {'en': 'Mini', 'ru': 'Мини'},"
    " 'fields': ["
    "  {'name': 'when', 'type': 'time', 'required': true, 'help': {'en': 'h', 'ru': 'п'}},"
    "  {'name': 'note', 'type': 'text', 'max_length': 10, 'required': false,"
    "   'help': {'en': 'h', 'ru': 'п'}}],"
    " 'render': {'en': 'At {when}{?note}: {note}{/note}', 'ru': 'В {when}{?note}: {note}{/note}'}}";

/* Change MINI at `path` to `value` (JSON text; NULL deletes) and expect the
 * load to fail with rc, the file "mini.json", `ptr` and `rule`. */
static void refuse(const char *path, const char *value, int rc, const char *ptr, const char *rule) {
    json_t *doc = test_json_load(MINI);
    if (path != NULL)
        test_json_set(doc, path, value != NULL ? test_json_load(value) : NULL);
    dcf_template_set_t *set = NULL;
    dcf_template_error_t err;
    memset(&err, 0, sizeof err);
    int got = load_one(doc, "mini.json", NULL, &set, &err);
    CHECK_MSG(got == rc, "%s = %s: rc %d, wanted %d (%s %s)", path, value, got, rc, err.pointer,
              err.rule);
    CHECK(set == NULL);
    CHECK_STR(err.file, "mini.json");
    CHECK_STR(err.pointer, ptr);
    CHECK_STR(err.rule, rule);
    dcf_template_set_free(set);
    json_decref(doc);
}

static void test_malformed_files(void) {
    /* The base file loads. */
    json_t *doc = test_json_load(MINI);
    dcf_template_set_t *set = NULL;
    dcf_template_error_t err;
    CHECK_INT(load_one(doc, "dir/mini.json", NULL, &set, &err), DCF_OK);
    dcf_template_set_free(set);
    set = NULL;
    json_decref(doc);

    /* Bad JSON. */
    const char *names[] = {"mini.json"};
    const char *texts[] = {"{\"id\": \"mini\",, }"};
    size_t lens[] = {strlen(texts[0])};
    CHECK_INT(dcf_template_set_load_mem(names, texts, lens, 1, NULL, &set, &err), DCF_EPARSE);
    CHECK(set == NULL);
    CHECK_STR(err.file, "mini.json");
    CHECK_STR(err.pointer, "");
    CHECK(strncmp(err.rule, "is not valid JSON (line 1, column ", 34) == 0);
    texts[0] = "{\"id\": \"mini\", \"id\": \"mini\"}";
    lens[0] = strlen(texts[0]);
    CHECK_INT(dcf_template_set_load_mem(names, texts, lens, 1, NULL, &set, &err), DCF_EPARSE);
    CHECK(strstr(err.rule, "duplicate") != NULL);
    texts[0] = "[]";
    lens[0] = 2;
    CHECK_INT(dcf_template_set_load_mem(names, texts, lens, 1, NULL, &set, &err), DCF_EINVAL);
    CHECK_STR(err.rule, "must be a JSON object");

    /* Placeholders. */
    refuse("/render/en", "'At {when} {whom}{?note}: {note}{/note}'", DCF_EINVAL, "/render/en",
           "at byte 10: placeholder {whom} names no field");
    refuse("/render/ru", "'В {when}{?note}: {note}{/note} {?nobody}{/nobody}'", DCF_EINVAL,
           "/render/ru", "at byte 32: placeholder {nobody} names no field");
    refuse("/render/en", "'At {when'", DCF_EINVAL, "/render/en",
           "at byte 3: '{' is not closed (write '{{' for a brace)");
    refuse("/render/en", "'At {when}{?note}: {note}{/note} }'", DCF_EINVAL, "/render/en",
           "at byte 32: '}' closes nothing (write '}}' for a brace)");
    refuse("/render/en", "'At { when }'", DCF_EINVAL, "/render/en",
           "at byte 3: { when } is not a placeholder (a field name, ?name or /name)");
    refuse("/render/en", "'At {when}'", DCF_EINVAL, "/render/en",
           "does not show field {note} (every rendering shows every field)");
    refuse("/render/ru", "'{?note}{note}{/note}'", DCF_EINVAL, "/render/ru",
           "does not show field {when} (every rendering shows every field)");
    refuse("/render/en", "'At {when}: {note}'", DCF_EINVAL, "/render/en",
           "at byte 11: optional field {note} must be inside {?note}...{/note}");
    refuse("/render/en", "'At {when}{?note}: {note}'", DCF_EINVAL, "/render/en",
           "{?note} is not closed by {/note}");
    refuse("/render/en", "'At {when}{?note}{?note}{note}{/note}'", DCF_EINVAL, "/render/en",
           "at byte 16: sections may not nest ({?note} is open)");
    refuse("/render/en", "'At {?when}{when}{/when}{?note}{note}{/note}'", DCF_EINVAL, "/render/en",
           "at byte 3: {?when} makes a section of a required field");
    refuse("/render/en", "'At {when}{/note}{note}'", DCF_EINVAL, "/render/en",
           "at byte 9: {/note} closes no open {?note}");
    refuse("/render", "{'en': 'At {when}{?note}{note}{/note}'}", DCF_EINVAL, "/render/ru",
           "is required");
    refuse("/render/de", "'x'", DCF_EINVAL, "/render/de", "unknown member");
    refuse("/render/en", "''", DCF_EINVAL, "/render/en", "must not be empty");

    /* Fields. */
    refuse("/fields/1/name", "'when'", DCF_EINVAL, "/fields/1/name", "duplicates /fields/0/name");
    refuse("/fields/1/type", "'colour'", DCF_EINVAL, "/fields/1/type",
           "must be one of: time, time-window, altitude, altitude-band, area, text, enum, "
           "reference");
    refuse("/fields/0/name", "'When'", DCF_EINVAL, "/fields/0/name",
           "must match [a-z][a-z0-9_]{0,31}");
    refuse("/fields/0/required", "'yes'", DCF_EINVAL, "/fields/0/required",
           "must be true or false");
    refuse("/fields/0/required", NULL, DCF_EINVAL, "/fields/0/required", "is required");
    refuse("/fields/0/help", "{'en': 'h'}", DCF_EINVAL, "/fields/0/help/ru", "is required");
    refuse("/fields/0/help/ru", "'a\\u0007'", DCF_EINVAL, "/fields/0/help/ru",
           "must not contain control characters (character 1)");
    refuse("/fields/0/max_length", "5", DCF_EINVAL, "/fields/0/max_length", "unknown member");
    refuse("/fields/1/max_length", NULL, DCF_EINVAL, "/fields/1/max_length", "is required");
    refuse("/fields/1/max_length", "0", DCF_EINVAL, "/fields/1/max_length",
           "must be between 1 and 10000");
    refuse("/fields/1/max_length", "2.5", DCF_EINVAL, "/fields/1/max_length", "must be an integer");
    refuse("/fields/1/min_length", "11", DCF_EINVAL, "/fields/1/min_length",
           "must be between 0 and 10");
    refuse("/fields/1",
           "{'name': 'note', 'type': 'altitude', 'min_m': 10, 'max_m': 10,"
           " 'required': false, 'help': {'en': 'h', 'ru': 'п'}}",
           DCF_EINVAL, "/fields/1/max_m", "must be greater than /fields/1/min_m");
    refuse("/fields/1",
           "{'name': 'note', 'type': 'altitude', 'max_m': 200000,"
           " 'required': false, 'help': {'en': 'h', 'ru': 'п'}}",
           DCF_EINVAL, "/fields/1/max_m", "must be between -1000 and 100000");
    refuse("/fields/1",
           "{'name': 'note', 'type': 'enum', 'values': [{'value': 'a', 'label':"
           " {'en': 'A', 'ru': 'А'}}, {'value': 'a', 'label': {'en': 'B', 'ru': "
           "'Б'}}], 'required': false, 'help': {'en': 'h', 'ru': 'п'}}",
           DCF_EINVAL, "/fields/1/values/1/value", "duplicates /fields/1/values/0/value");
    refuse("/fields/1",
           "{'name': 'note', 'type': 'enum', 'values': [{'value': 'a', 'label':"
           " {'en': 'A'}}], 'required': false, 'help': {'en': 'h', 'ru': 'п'}}",
           DCF_EINVAL, "/fields/1/values/0/label/ru", "is required");
    refuse("/fields/1",
           "{'name': 'note', 'type': 'enum', 'values': [],"
           " 'required': false, 'help': {'en': 'h', 'ru': 'п'}}",
           DCF_EINVAL, "/fields/1/values", "must be a non-empty array");
    refuse("/fields/1",
           "{'name': 'note', 'type': 'reference', 'kinds': ['party'],"
           " 'required': false, 'help': {'en': 'h', 'ru': 'п'}}",
           DCF_EINVAL, "/fields/1/kinds/0", "must be \"operation\" or \"conflict\"");
    refuse("/fields/1",
           "{'name': 'note', 'type': 'reference', 'kinds': ['conflict', "
           "'conflict'], 'required': false, 'help': {'en': 'h', 'ru': 'п'}}",
           DCF_EINVAL, "/fields/1/kinds/1", "names a kind twice");
    refuse("/fields/1",
           "{'name': 'note', 'type': 'area', 'max_vertices': 2,"
           " 'required': false, 'help': {'en': 'h', 'ru': 'п'}}",
           DCF_EINVAL, "/fields/1/max_vertices", "must be between 3 and 10000");
    refuse("/fields/1",
           "{'name': 'note', 'type': 'time-window', 'max_duration_s': 0,"
           " 'required': false, 'help': {'en': 'h', 'ru': 'п'}}",
           DCF_EINVAL, "/fields/1/max_duration_s", "must be between 1 and 31622400");
    refuse("/fields/1", "'note'", DCF_EINVAL, "/fields/1", "must be an object");
    refuse("/fields", "[]", DCF_EINVAL, "/fields", "must be a non-empty array");

    /* The template itself. */
    refuse("/id", "'other'", DCF_EINVAL, "/id", "must match the file name (other.json)");
    refuse("/id", "'Mini'", DCF_EINVAL, "/id", "must match [a-z0-9][a-z0-9-]{0,63}");
    refuse("/id", NULL, DCF_EINVAL, "/id", "is required");
    refuse("/version", "0", DCF_EINVAL, "/version", "must be between 1 and 2147483647");
    refuse("/version", "'1'", DCF_EINVAL, "/version", "must be a number");
    refuse("/title/ru", NULL, DCF_EINVAL, "/title/ru", "is required");
    refuse("/title/en", "'two\\nlines'", DCF_EINVAL, "/title/en",
           "must not contain control characters (character 3)");
    refuse("/colour", "'red'", DCF_EINVAL, "/colour", "unknown member");
}

static void test_load_limits(void) {
    dcf_template_limits_t lim;
    dcf_template_set_t *set = NULL;
    dcf_template_error_t err;
    json_t *doc = test_json_load(MINI);

    dcf_template_limits_default(&lim);
    lim.max_fields = 1;
    CHECK_INT(load_one(doc, "mini.json", &lim, &set, &err), DCF_ELIMIT);
    CHECK_STR(err.pointer, "/fields");
    CHECK_STR(err.rule, "must have at most 1 fields");

    dcf_template_limits_default(&lim);
    lim.max_placeholders = 3;
    CHECK_INT(load_one(doc, "mini.json", &lim, &set, &err), DCF_ELIMIT);
    CHECK_STR(err.pointer, "/render/en");
    CHECK_STR(err.rule, "must have at most 3 placeholders");

    dcf_template_limits_default(&lim);
    lim.max_file_bytes = 100;
    CHECK_INT(load_one(doc, "mini.json", &lim, &set, &err), DCF_ELIMIT);
    CHECK_STR(err.file, "mini.json");
    CHECK_STR(err.rule, "is larger than 100 bytes");

    dcf_template_limits_default(&lim);
    lim.max_depth = 3;
    CHECK_INT(load_one(doc, "mini.json", &lim, &set, &err), DCF_ELIMIT);
    CHECK_STR(err.rule, "nests deeper than 3 levels");

    /* Too many files; and two files with one id. */
    char *text = json_dumps(doc, JSON_COMPACT);
    const char *names[] = {"a/mini.json", "b/mini.json"};
    const char *texts[] = {text, text};
    size_t lens[] = {strlen(text), strlen(text)};
    dcf_template_limits_default(&lim);
    lim.max_files = 1;
    CHECK_INT(dcf_template_set_load_mem(names, texts, lens, 2, &lim, &set, &err), DCF_ELIMIT);
    CHECK_STR(err.rule, "a set holds at most 1 template files");
    CHECK_INT(dcf_template_set_load_mem(names, texts, lens, 2, NULL, &set, &err), DCF_EINVAL);
    CHECK_STR(err.file, "b/mini.json");
    CHECK_STR(err.pointer, "/id");
    CHECK_STR(err.rule, "duplicates the id of a/mini.json");
    CHECK(set == NULL);

    char msg[700];
    CHECK_STR(dcf_template_error_format(&err, msg, sizeof msg),
              "b/mini.json: /id: duplicates the id of a/mini.json");
    /* An empty set is a set. */
    CHECK_INT(dcf_template_set_load_mem(NULL, NULL, NULL, 0, NULL, &set, &err), DCF_OK);
    CHECK_INT(dcf_template_set_count(set), 0);
    dcf_template_set_free(set);
    free(text);
    json_decref(doc);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    fputs(text, f);
    fclose(f);
}

static void test_load_dir(void) {
    dcf_template_set_t *set = NULL;
    dcf_template_error_t err;
    CHECK_INT(dcf_template_set_load("/nonexistent/templates", NULL, &set, &err), DCF_ENOENT);
    CHECK_STR(err.file, "/nonexistent/templates");
    CHECK(set == NULL);

    char dir[] = "/tmp/dcf-test-templates-XXXXXX", path[128];
    CHECK(mkdtemp(dir) != NULL);
    json_t *doc = test_json_load(MINI);
    char *text = json_dumps(doc, JSON_INDENT(2));
    snprintf(path, sizeof path, "%s/mini.json", dir);
    write_file(path, text);
    snprintf(path, sizeof path, "%s/README.md", dir);
    write_file(path, "not a template");
    snprintf(path, sizeof path, "%s/.hidden.json", dir);
    write_file(path, "{");
    CHECK_INT(dcf_template_set_load(dir, NULL, &set, &err), DCF_OK);
    CHECK_INT(dcf_template_set_count(set), 1);
    CHECK(dcf_template_get(set, "mini") != NULL);
    dcf_template_set_free(set);
    set = NULL;

    /* A broken file is named with its directory. */
    snprintf(path, sizeof path, "%s/broken.json", dir);
    write_file(path, "{\"id\": \"broken\", \"version\": 1, \"title\": 5}");
    CHECK_INT(dcf_template_set_load(dir, NULL, &set, &err), DCF_EINVAL);
    char want[160];
    snprintf(want, sizeof want, "%s/broken.json", dir);
    CHECK_STR(err.file, want);
    CHECK_STR(err.pointer, "/title");
    CHECK_STR(err.rule, "must be an object with a text per locale (en, ru)");
    CHECK(set == NULL);

    /* Too many files. */
    dcf_template_limits_t lim;
    dcf_template_limits_default(&lim);
    lim.max_files = 1;
    CHECK_INT(dcf_template_set_load(dir, &lim, &set, &err), DCF_ELIMIT);
    CHECK_STR(err.file, dir);
    CHECK_STR(err.rule, "holds more than 1 template files");
    unlink(path);

    /* A file too large. */
    lim.max_files = 8;
    lim.max_file_bytes = 50;
    CHECK_INT(dcf_template_set_load(dir, &lim, &set, &err), DCF_ELIMIT);
    snprintf(want, sizeof want, "%s/mini.json", dir);
    CHECK_STR(err.file, want);
    CHECK_STR(err.rule, "is larger than 50 bytes");

    /* A directory named like a template. */
    snprintf(path, sizeof path, "%s/sub.json", dir);
    CHECK_INT(mkdir(path, 0700), 0);
    CHECK_INT(dcf_template_set_load(dir, NULL, &set, &err), DCF_EIO);
    CHECK_STR(err.file, path);
    CHECK_STR(err.rule, "is not a regular file");
    rmdir(path);

    snprintf(path, sizeof path, "%s/mini.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/README.md", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/.hidden.json", dir);
    unlink(path);
    CHECK_INT(rmdir(dir), 0);
    free(text);
    json_decref(doc);
}

/* The embedding path: the shipped files read into memory and loaded from
 * there give the same set as the directory. */
static void test_load_mem_shipped(void) {
    const char *names[4], *texts[4];
    size_t lens[4];
    char paths[4][96], *bufs[4] = {NULL, NULL, NULL, NULL};
    for (size_t i = 0; i < 4; i++) {
        snprintf(paths[i], sizeof paths[i], "%s.json", SHIPPED[i]);
        char full[128];
        snprintf(full, sizeof full, "templates/%s", paths[i]);
        FILE *f = fopen(full, "rb");
        CHECK(f != NULL);
        if (f == NULL)
            return;
        bufs[i] = malloc(65536);
        lens[i] = fread(bufs[i], 1, 65536, f);
        fclose(f);
        names[i] = paths[i];
        texts[i] = bufs[i];
    }
    dcf_template_set_t *set = NULL;
    dcf_template_error_t err;
    CHECK_INT(dcf_template_set_load_mem(names, texts, lens, 4, NULL, &set, &err), DCF_OK);
    for (size_t i = 0; i < 4; i++)
        free(bufs[i]); /* the set keeps no pointer into the texts */
    CHECK_INT(dcf_template_set_count(set), 4);
    json_t *f = test_json_load(NOTICE_FIELDS);
    char *out = NULL;
    CHECK_INT(dcf_template_render(dcf_template_get(set, "operation-notice"), f, "en", &out),
              DCF_OK);
    CHECK(out != NULL && strncmp(out, "NOTIFICATION OF OPERATION op-", 29) == 0);
    free(out);
    json_decref(f);
    dcf_template_set_free(set);
}

/* ---------------------------------------------------- Accept-Language -- */

static void test_locale_pick(void) {
    CHECK_STR(dcf_template_locale_pick("ru-RU,ru;q=0.9,en;q=0.8"), "ru");
    CHECK_STR(dcf_template_locale_pick("en-GB"), "en");
    CHECK_STR(dcf_template_locale_pick("de"), "en");
    CHECK_STR(dcf_template_locale_pick("ru;q=0, en"), "en");
    CHECK_STR(dcf_template_locale_pick("ru;q=0"), "en");
    CHECK_STR(dcf_template_locale_pick(";;;==,,garbage\x01"), "en");
    CHECK_STR(dcf_template_locale_pick(NULL), "en");
    CHECK_STR(dcf_template_locale_pick(""), "en");
    CHECK_STR(dcf_template_locale_pick("ru"), "ru");
    CHECK_STR(dcf_template_locale_pick("RU"), "ru");
    CHECK_STR(dcf_template_locale_pick("de-DE, ru;q=0.5"), "ru");
    CHECK_STR(dcf_template_locale_pick("en;q=0.5, ru;q=0.7"), "ru");
    CHECK_STR(dcf_template_locale_pick("en;q=0.7, ru;q=0.7"), "en"); /* a tie */
    CHECK_STR(dcf_template_locale_pick("en ; q=0.1 , ru ; Q=1.000"), "ru");
    /* "*" weighs the languages not named. */
    CHECK_STR(dcf_template_locale_pick("*;q=0.5, en;q=0.1"), "ru");
    CHECK_STR(dcf_template_locale_pick("*"), "en");
    /* Malformed elements are skipped, the rest still counts. */
    CHECK_STR(dcf_template_locale_pick("ru;q=2, en;q=0.5"), "en");
    CHECK_STR(dcf_template_locale_pick("ru;q=0.5000, en;q=0.1"), "en");
    CHECK_STR(dcf_template_locale_pick("ru;level=1, en;q=0.1"), "en");
    CHECK_STR(dcf_template_locale_pick("russian, en;q=0.1"), "en");
    CHECK_STR(dcf_template_locale_pick("x, ru-, ru;q=0.3"), "ru");
    CHECK_STR(dcf_template_locale_pick("ru;q=.5"), "en");
    CHECK_STR(dcf_template_locale_pick("zh-Hant-TW, ru-Cyrl-RU;q=0.9"), "ru");

    /* A huge header: only the first 4096 bytes count. */
    char *big = malloc(10000);
    size_t n = 0;
    while (n + 8 < 9000) {
        memcpy(big + n, "de-DE, ", 7);
        n += 7;
    }
    memcpy(big + n, "ru", 3);
    CHECK_STR(dcf_template_locale_pick(big), "en");
    memcpy(big, "ru, ", 4);
    CHECK_STR(dcf_template_locale_pick(big), "ru");
    free(big);
}

/* The set compiled into the binary is the templates/ directory, file for
 * file: same ids, same order, same documents. */
static void test_builtin_matches_dir(void) {
    dcf_template_set_t *dir = shipped(), *bin = NULL;
    dcf_template_error_t err;
    char msg[700];
    int rc = dcf_template_set_load_builtin(&bin, &err);
    CHECK_MSG(rc == DCF_OK, "%s", dcf_template_error_format(&err, msg, sizeof msg));
    if (dir != NULL && bin != NULL) {
        CHECK_INT(dcf_template_set_count(bin), dcf_template_set_count(dir));
        for (size_t i = 0; i < dcf_template_set_count(dir); i++) {
            const dcf_template_t *a = dcf_template_set_at(dir, i), *b = dcf_template_set_at(bin, i);
            CHECK_MSG(b != NULL && strcmp(dcf_template_id(a), dcf_template_id(b)) == 0,
                      "template %zu: %s is not compiled in (DCF_EMBEDS, builtin.c)", i,
                      dcf_template_id(a));
            if (b != NULL)
                CHECK(json_equal((json_t *)dcf_template_doc(a), (json_t *)dcf_template_doc(b)));
        }
    }
    dcf_template_set_free(dir);
    dcf_template_set_free(bin);
}

int main(void) {
    RUN(test_shipped_load);
    RUN(test_builtin_matches_dir);
    RUN(test_render_notice);
    RUN(test_render_warning);
    RUN(test_render_request_and_ack);
    RUN(test_render_required_only);
    RUN(test_validate_time);
    RUN(test_validate_window);
    RUN(test_validate_altitudes);
    RUN(test_validate_area);
    RUN(test_validate_text_enum_reference);
    RUN(test_validate_fields_object);
    RUN(test_render_kit);
    RUN(test_render_antimeridian);
    RUN(test_render_plural);
    RUN(test_render_errors);
    RUN(test_malformed_files);
    RUN(test_load_limits);
    RUN(test_load_dir);
    RUN(test_load_mem_shipped);
    RUN(test_locale_pick);
    TEST_DONE();
}
