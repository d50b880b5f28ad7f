/* A GSL generator that reads a fuzz input: what lets coverage guide a random scenario's choices. */
#include "tests/fuzz/fuzz.h"

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

gsl_rng *fuzz_bytes_rng(const uint8_t *data, size_t size)
{
    gsl_rng *r = gsl_rng_alloc(&bytes_type);
    if (!r)
        return NULL;
    bytes_state *b = r->state;
    b->d = data;
    b->n = size;
    b->pos = 0;
    return r;
}
