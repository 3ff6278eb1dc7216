/*
 * builtin.c -- the templates shipped in templates/, compiled into the
 * binary (CMakeLists.txt, DCF_EMBEDS) so that the server needs no data
 * directory.  A new template file needs a line in DCF_EMBEDS and one in
 * BUILTIN below; tests/template checks that this list and the directory
 * agree.
 */
#include "deconflict/template.h"

#define EMBED(sym)                                                                                 \
    extern const unsigned char sym[];                                                              \
    extern const size_t sym##_len;
EMBED(dcf_tpl_conflict_acknowledgement)
EMBED(dcf_tpl_deconfliction_request)
EMBED(dcf_tpl_operation_notice)
EMBED(dcf_tpl_safety_of_flight_warning)
#undef EMBED

static const struct {
    const char *name;
    const unsigned char *text;
    const size_t *len;
} BUILTIN[] = {
    {"conflict-acknowledgement.json", dcf_tpl_conflict_acknowledgement,
     &dcf_tpl_conflict_acknowledgement_len},
    {"deconfliction-request.json", dcf_tpl_deconfliction_request,
     &dcf_tpl_deconfliction_request_len},
    {"operation-notice.json", dcf_tpl_operation_notice, &dcf_tpl_operation_notice_len},
    {"safety-of-flight-warning.json", dcf_tpl_safety_of_flight_warning,
     &dcf_tpl_safety_of_flight_warning_len},
};
#define N_BUILTIN (sizeof BUILTIN / sizeof BUILTIN[0])

int dcf_template_set_load_builtin(dcf_template_set_t **out, dcf_template_error_t *err) {
    const char *names[N_BUILTIN], *texts[N_BUILTIN];
    size_t lens[N_BUILTIN];
    for (size_t i = 0; i < N_BUILTIN; i++) {
        names[i] = BUILTIN[i].name;
        texts[i] = (const char *)BUILTIN[i].text;
        lens[i] = *BUILTIN[i].len;
    }
    return dcf_template_set_load_mem(names, texts, lens, N_BUILTIN, NULL, out, err);
}
