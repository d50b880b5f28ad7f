/* Delay distributions, sampled with GSL, in milliseconds. */
#ifndef SIM_DIST_H
#define SIM_DIST_H

#include <gsl/gsl_rng.h>
#include "sim/time.h"

typedef enum {
    SIM_DIST_CONSTANT,    /* a = ms */
    SIM_DIST_UNIFORM,     /* a = min_ms, b = max_ms */
    SIM_DIST_EXPONENTIAL, /* a = mean_ms */
    SIM_DIST_NORMAL,      /* a = mean_ms, b = sd_ms; truncated at 0 (resampled) */
    SIM_DIST_LOGNORMAL,   /* a = mean_ms, b = sd_ms of the lognormal itself */
    SIM_DIST_PARETO,      /* a = scale_ms (minimum), b = shape */
} sim_dist_kind;

typedef struct {
    sim_dist_kind kind;
    double a, b;
} sim_dist;

/* One sample in milliseconds, in [0, 1e11] (negative values, which only
 * out-of-range parameters give, become 0; the clamp keeps time sums far from
 * int64 overflow). Draws from r: none for the constant, one for uniform,
 * exponential and pareto, one or more (rejection) for normal and lognormal.
 * Parameters are the caller's to
 * check: uniform min <= max, exponential/lognormal mean > 0, sd >= 0, pareto
 * scale > 0 and shape > 0. */
double sim_dist_sample_ms(const sim_dist *d, gsl_rng *r);

/* One sample in nanoseconds, rounded. */
sim_time sim_dist_sample(const sim_dist *d, gsl_rng *r);

/* The distribution's theoretical mean and variance in ms and ms^2 (after
 * truncation for the normal; infinite where the pareto moment does not exist:
 * mean for shape <= 1, variance for shape <= 2). The clamp of the samples is
 * ignored. */
double sim_dist_mean(const sim_dist *d);
double sim_dist_var(const sim_dist *d);

#endif
