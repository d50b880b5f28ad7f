/* Named, independent random streams: one GSL generator per component. */
#ifndef SIM_RNG_H
#define SIM_RNG_H

#include <stdint.h>
#include <gsl/gsl_rng.h>

/* The seed of the stream called name in replication rep of a run seeded with
 * seed, through a real mixing function (splitmix64 over the seed, the
 * replication and a 64-bit hash of the name). Pure; the same inputs always give
 * the same seed, and any change to one input changes it unpredictably. */
uint64_t sim_rng_seed(uint64_t seed, uint64_t rep, const char *name);

/* A new GSL generator seeded with sim_rng_seed(seed, rep, name). Free it with
 * gsl_rng_free(). Returns NULL when out of memory. */
gsl_rng *sim_rng_new(uint64_t seed, uint64_t rep, const char *name);

/* Room for one generator inside its owner's struct (40 bytes). */
typedef struct {
    gsl_rng r;
    unsigned long state[3]; /* taus2's state */
} sim_rng_slot;

/* The generator sim_rng_new(seed, rep, name) would give (the same stream),
 * built in slot instead of on the heap: it lives as long as the slot and is
 * never passed to gsl_rng_free. Returns &slot->r, or NULL should this GSL
 * build's taus2 state not fit the slot. Allocates nothing. */
gsl_rng *sim_rng_init(sim_rng_slot *slot, uint64_t seed, uint64_t rep, const char *name);

/* A new GSL generator (gsl_rng_taus2, 24 bytes of state) whose whole state is derived from all
 * 64 bits of seed64; sim_rng_new is this of sim_rng_seed(). Returns NULL when
 * out of memory. */
gsl_rng *sim_rng_from_seed(uint64_t seed64);

#endif
