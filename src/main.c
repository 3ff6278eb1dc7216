/*
 * main.c -- the deconflict program: a thin entry over the library.
 * Everything it does lives in src/cli/ and the modules it calls.
 */
#include "deconflict/cli.h"

int main(int argc, char **argv) {
    return dcf_cli_main(argc, argv);
}
