/* Fuzz harness for the TCP model: the fuzzer's bytes choose a random TCP scenario's every step. */
#include "tests/fuzz/fuzz.h"

#include "tests/tcp_property.h"

/*
 * The scenarios of tests/tcp_property.h (one path with random TCP and link
 * parameters, outages, connections opened, written to, closed, aborted,
 * vanished and rebound at random moments, and the stream, wire, completion,
 * statistics and clean-up invariants checked on them) draw every choice
 * from a GSL generator; here it reads the fuzz input (fuzz_bytes_rng), so
 * coverage guides the choices. The link streams are seeded from the input
 * too. A broken invariant fails a cmocka assertion: inside the replay test
 * that fails the test; under libFuzzer, outside any test, cmocka exits,
 * which libFuzzer reports with the input.
 */

int fuzz_tcp(const uint8_t *data, size_t size)
{
    gsl_rng *r = fuzz_bytes_rng(data, size);
    FUZZ_CHECK(r);
    tcp_scenario(r);
    gsl_rng_free(r);
    return 0;
}
