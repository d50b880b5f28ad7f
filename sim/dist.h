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

/* One sample in milliseconds (>= 0). */
double sim_dist_sample_ms(const sim_dist *d, gsl_rng *r);

/* One sample in nanoseconds, rounded. */
sim_time sim_dist_sample(const sim_dist *d, gsl_rng *r);

/* The distribution's theoretical mean and variance in ms and ms^2 (after
 * truncation for the normal; infinite where the pareto moment does not exist). */
double sim_dist_mean(const sim_dist *d);
double sim_dist_var(const sim_dist *d);

#endif
