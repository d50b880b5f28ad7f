/* Fuzz harness for the session engine: the fuzzer's bytes choose a random scenario's every step. */
#include "tests/fuzz/fuzz.h"

#include "tests/property.h"

/*
 * The scenarios of tests/property.h (a publisher and two subscribers over
 * streams with breaks, or over lossy datagrams, and the wire, reference and
 * exactly-once invariants checked on them) draw every choice from a GSL
 * generator. Here that generator reads the fuzz input (fuzz_bytes_rng),
 * so coverage guides the choices: which
 * QoS, when to publish, which end learns of a break, what is lost. A broken
 * invariant fails a cmocka assertion: inside the replay test that fails the
 * test; under libFuzzer, outside any test, cmocka exits, which libFuzzer
 * reports with the input.
 */

int fuzz_session(const uint8_t *data, size_t size)
{
    gsl_rng *r = fuzz_bytes_rng(data, size);
    FUZZ_CHECK(r);
    one_scenario(r, 0);
    gsl_rng_free(r);
    return 0;
}
