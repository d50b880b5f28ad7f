/* Fuzz harness for the session engine: the fuzzer's bytes choose a random scenario's every step. */
#include "tests/fuzz/fuzz.h"

#include "tests/property.h"

/*
 * The scenarios of tests/property.h (a publisher and two subscribers over
 * streams with breaks, or over lossy datagrams, and the wire, reference and
 * exactly-once invariants checked on them) draw every choice from a GSL
 * generator. Here that generator reads the fuzz input, four bytes a draw
 * (zero once the input is used up), so coverage guides the choices: which
 * QoS, when to publish, which end learns of a break, what is lost. A broken
 * invariant fails a cmocka assertion: inside the replay test that fails the
 * test; under libFuzzer, outside any test, cmocka exits, which libFuzzer
 * reports with the input.
 */

typedef struct {
    const uint8_t *d;
    size_t n, pos;
} bytes_state;

static void bytes_set(void *state, unsigned long seed)
{
    (void)state;
    (void)seed;
}

static unsigned long bytes_get(void *state)
{
    bytes_state *b = state;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = v << 8 | (b->pos < b->n ? b->d[b->pos++] : 0);
    return v;
}

static double bytes_get_double(void *state)
{
    return (double)bytes_get(state) / 4294967296.0;
}

static const gsl_rng_type bytes_type = {
    "fuzz-bytes", 0xffffffffUL, 0, sizeof(bytes_state), bytes_set, bytes_get, bytes_get_double,
};

int fuzz_session(const uint8_t *data, size_t size)
{
    gsl_rng *r = gsl_rng_alloc(&bytes_type);
    FUZZ_CHECK(r);
    bytes_state *b = r->state;
    b->d = data;
    b->n = size;
    b->pos = 0;
    one_scenario(r, 0);
    gsl_rng_free(r);
    return 0;
}
