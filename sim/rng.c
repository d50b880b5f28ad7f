/* Named random streams: (seed, replication, name) mixed into a 64-bit seed that fills a GSL taus2 state. */
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
 * Why taus2, seeded this way. The link draws two uniforms and a delay per
 * frame and publishers one or two per message, so the generator must be fast
 * and statistically sound; and a fleet holds two or more streams per
 * client, so it must be small. GSL's taus2 (L'Ecuyer's maximally
 * equidistributed combined Tausworthe generator, period 2^88) keeps 24
 * bytes of state where mt19937 keeps 5 KB: at 100,000 clients that is 7 MB
 * rather than 1.5 GB, and a stream's first draw no longer regenerates a
 * 624-word block (which dominated the cost of a fleet whose clients each
 * draw a few numbers). It passes the usual batteries at this use, and its
 * outputs have 32 bits, as mt19937's did, so every gsl_rng_uniform keeps
 * its 2^-32 resolution.
 *
 * But gsl_rng_set() of every GSL type keeps only 32 bits of its seed: with n
 * streams per run, two of them would coincide with probability n^2 / 2^33
 * (1e-3 at n = 3000), silently correlating two links. So we seed through
 * gsl_rng_set() and then overwrite the three 32-bit words of the state with
 * a splitmix64 sequence keyed by all 64 bits, each raised to the least its
 * component needs (s1 >= 2, s2 >= 8, s3 >= 16: below that a component's
 * recurrence degenerates), then draw and discard 6 outputs as gsl_rng_set()
 * does, so each word's bits have mixed into all three. GSL documents
 * gsl_rng_state() for direct state access; the state's layout
 * {unsigned long s1, s2, s3;} is checked against gsl_rng_size(). Should a
 * GSL build ever differ, the stream falls back to the 32-bit fold of the
 * seed, still valid, only with the smaller seed space.
 */
typedef struct {
    unsigned long s1, s2, s3;
} taus_layout;

/* Seeds r (a taus2 generator) from all 64 bits of seed64, as described above. */
static void seed_taus2(gsl_rng *r, uint64_t seed64)
{
    gsl_rng_set(r, (unsigned long)(uint32_t)(seed64 ^ (seed64 >> 32)));
    if (gsl_rng_size(r) == sizeof(taus_layout)) {
        taus_layout *st = gsl_rng_state(r);
        uint64_t a = mix64(seed64 + GOLDEN), b = mix64(seed64 + 2 * GOLDEN);
        st->s1 = (unsigned long)(uint32_t)a;
        st->s2 = (unsigned long)(uint32_t)(a >> 32);
        st->s3 = (unsigned long)(uint32_t)b;
        if (st->s1 < 2)
            st->s1 += 2;
        if (st->s2 < 8)
            st->s2 += 8;
        if (st->s3 < 16)
            st->s3 += 16;
        for (int i = 0; i < 6; i++)
            (void)gsl_rng_get(r);
    }
}

gsl_rng *sim_rng_from_seed(uint64_t seed64)
{
    /* Out of memory is the caller's to report: GSL's default handler would
     * abort the process instead of returning NULL. */
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    gsl_rng *r = gsl_rng_alloc(gsl_rng_taus2);
    gsl_set_error_handler(old);
    if (!r)
        return NULL;
    seed_taus2(r, seed64);
    return r;
}

/* The slot's generator is a gsl_rng whose state pointer points into the
 * slot: what gsl_rng_alloc builds with two mallocs (64 bytes of chunks for
 * 40 of data), here in the 40 bytes of the slot, which its owner holds. gsl_rng_set fills the whole
 * state, so the stream is the one sim_rng_new gives. */
gsl_rng *sim_rng_init(sim_rng_slot *slot, uint64_t seed, uint64_t rep, const char *name)
{
    if (gsl_rng_taus2->size > sizeof slot->state)
        return NULL; /* not on any known GSL build: taus2's state is 3 longs */
    slot->r.type = gsl_rng_taus2;
    slot->r.state = slot->state;
    seed_taus2(&slot->r, sim_rng_seed(seed, rep, name));
    return &slot->r;
}

gsl_rng *sim_rng_new(uint64_t seed, uint64_t rep, const char *name)
{
    return sim_rng_from_seed(sim_rng_seed(seed, rep, name));
}
