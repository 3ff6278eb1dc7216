/*
 * test_error.c -- every error code has a distinct name and a message.
 */
#include "deconflict/core.h"
#include "test.h"

static void test_names_and_messages(void) {
    static const int codes[] = {
#define X(name, value, msg) DCF_E##name,
        DCF_ERRNO_MAP(X)
#undef X
    };
    size_t n = sizeof codes / sizeof codes[0];
    CHECK(n >= 13);
    for (size_t i = 0; i < n; i++) {
        CHECK(codes[i] < 0);
        CHECK(strcmp(dcf_err_name(codes[i]), "DCF_EUNKNOWN") != 0);
        CHECK(strcmp(dcf_strerror(codes[i]), "unknown error") != 0);
        for (size_t j = 0; j < i; j++)
            CHECK(codes[i] != codes[j]);
    }
    CHECK_STR(dcf_err_name(DCF_EINVAL), "DCF_EINVAL");
    CHECK_STR(dcf_strerror(DCF_OK), "success");
    CHECK_STR(dcf_strerror(12345), "unknown error");
}

int main(void) {
    RUN(test_names_and_messages);
    TEST_DONE();
}
