/* libFuzzer entry point: FUZZ_TARGET names the harness this binary runs. */
#include <stdio.h>
#include <stdlib.h>

#include "tests/fuzz/fuzz.h"

_Noreturn void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return FUZZ_TARGET(data, size);
}
