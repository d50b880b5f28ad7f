/* Named random streams: (seed, replication, name) mixed into a 64-bit seed that fills a GSL MT19937 state. */
#include "sim/rng.h"

#include <assert.h>
#include <gsl/gsl_errno.h>

#define GOLDEN 0x9e3779b97f4a7c15ULL

/* The splitmix64 finalizer: a bijection on 64 bits with full avalanche. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

/*
 * Each input enters through its own step of a chain of bijections,
 * x' = mix64(x ^ (input + k*GOLDEN)): for fixed other inputs the result is a
 * bijection of each of seed, rep and the name's hash, so changing any one of
 * them always changes the seed (names only up to a 64-bit FNV collision). The
 * distinct offsets and the order of the chain make the roles asymmetric, so
 * swapping seed and rep gives an unrelated value.
 */
uint64_t sim_rng_seed(uint64_t seed, uint64_t rep, const char *name)
{
    assert(name);
    uint64_t x = mix64(seed + GOLDEN);
    x = mix64(x ^ (rep + 2 * GOLDEN));
    x = mix64(x ^ (fnv1a64(name) + 3 * GOLDEN));
    return x;
}

/*
 * Why MT19937, seeded this way. The link draws two uniforms and a delay per
 * frame and publishers one or two per message, so the generator must be fast
 * (GSL's mt19937 gives ~1e8 draws/s; ranlxd is an order of magnitude slower)
 * and statistically sound (mt19937 passes the usual batteries at this use).
 * But gsl_rng_set() of every GSL type keeps only 32 bits of its seed: with n
 * streams per run, two of them would coincide with probability n^2 / 2^33
 * (1e-3 at n = 3000), silently correlating two links. So we seed through
 * gsl_rng_set() and then overwrite the 624-word state with a splitmix64
 * sequence keyed by all 64 bits, setting the top bit of word 0 so the state
 * cannot be all zero (as MT's reference init_by_array does). GSL documents
 * gsl_rng_state() for direct state access; the state's layout
 * {unsigned long mt[624]; int mti;} is checked against gsl_rng_size(), and
 * gsl_rng_set() has already left mti = 624, so the first draw regenerates the
 * whole block from our words. Should a GSL build ever differ, the stream falls
 * back to the 32-bit fold of the seed, still valid, only with the smaller
 * seed space.
 */
#define MT_N 624

typedef struct {
    unsigned long mt[MT_N];
    int mti;
} mt_layout;

gsl_rng *sim_rng_from_seed(uint64_t seed64)
{
    /* Out of memory is the caller's to report: GSL's default handler would
     * abort the process instead of returning NULL. */
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_set_error_handler(old);
    if (!r)
        return NULL;
    gsl_rng_set(r, (unsigned long)(uint32_t)(seed64 ^ (seed64 >> 32)));
    if (gsl_rng_size(r) == sizeof(mt_layout)) {
        mt_layout *st = gsl_rng_state(r);
        if (st->mti == MT_N) {
            uint64_t x = seed64;
            for (int i = 0; i < MT_N; i++) {
                x += GOLDEN;
                st->mt[i] = (unsigned long)(mix64(x) >> 32);
            }
            st->mt[0] |= 0x80000000UL;
        }
    }
    return r;
}

gsl_rng *sim_rng_new(uint64_t seed, uint64_t rep, const char *name)
{
    return sim_rng_from_seed(sim_rng_seed(seed, rep, name));
}
