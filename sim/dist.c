/* Delay distributions: GSL samplers and their closed-form moments, in milliseconds. */
#include "sim/dist.h"

#include <assert.h>
#include <math.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_sf_erf.h>

/* Samples are clamped here (about 3 years) so that adding one to a time can
 * never overflow int64 nanoseconds; only a heavy pareto tail gets near it. */
#define MAX_MS 1e11

/* Lognormal parameters (mu, sigma of the underlying normal) giving mean m and
 * standard deviation sd: sigma^2 = ln(1 + sd^2/m^2), mu = ln m - sigma^2/2. */
static void lognormal_params(double m, double sd, double *mu, double *sigma)
{
    double s2 = log1p((sd * sd) / (m * m));
    *sigma = sqrt(s2);
    *mu = log(m) - s2 / 2;
}

/*
 * Cost: one to a few GSL draws. The truncated normal resamples negatives: for
 * a mean >= 0 gsl_ran_gaussian_tail(r, -mean, sd) does exactly that (draws a
 * standard normal until it is >= -mean/sd), and for a negative mean it switches
 * to an exact tail method instead of looping for ever. sd = 0 degenerates to
 * max(mean, 0); a lognormal with mean <= 0 is the constant 0.
 */
double sim_dist_sample_ms(const sim_dist *d, gsl_rng *r)
{
    double x;
    switch (d->kind) {
    case SIM_DIST_CONSTANT:
        x = d->a;
        break;
    case SIM_DIST_UNIFORM:
        x = gsl_ran_flat(r, d->a, d->b);
        break;
    case SIM_DIST_EXPONENTIAL:
        x = gsl_ran_exponential(r, d->a);
        break;
    case SIM_DIST_NORMAL:
        x = d->b > 0 ? d->a + gsl_ran_gaussian_tail(r, -d->a, d->b) : d->a;
        break;
    case SIM_DIST_LOGNORMAL:
        if (d->a > 0) {
            double mu, sigma;
            lognormal_params(d->a, d->b, &mu, &sigma);
            x = gsl_ran_lognormal(r, mu, sigma);
        } else {
            x = 0;
        }
        break;
    case SIM_DIST_PARETO:
        x = gsl_ran_pareto(r, d->b, d->a);
        break;
    default:
        assert(!"unknown distribution");
        x = 0;
    }
    if (!(x > 0)) /* also maps a NaN from bad parameters to 0 */
        return 0;
    return x < MAX_MS ? x : MAX_MS;
}

sim_time sim_dist_sample(const sim_dist *d, gsl_rng *r)
{
    return sim_from_ms(sim_dist_sample_ms(d, r));
}

/*
 * Truncated normal at 0: with alpha = -mean/sd and lambda = phi(alpha)/Q(alpha)
 * (the inverse Mills ratio, gsl_sf_hazard, accurate far into the tail),
 * E = mean + sd*lambda and Var = sd^2 (1 + alpha*lambda - lambda^2).
 */
/* The inverse Mills ratio phi(x)/Q(x). Below x = -30 it is phi(x)/Q(x) <
 * 1.5e-196 and gsl_sf_hazard's exp underflows, which GSL's error handler
 * turns into an abort; there it is taken as 0, exact at double precision in
 * both uses (a mean of at least 30 sd plus sd*lambda, and 1 + x*lambda). */
static double hazard(double x)
{
    return x < -30 ? 0 : gsl_sf_hazard(x);
}

double sim_dist_mean(const sim_dist *d)
{
    switch (d->kind) {
    case SIM_DIST_CONSTANT:
        return d->a > 0 ? d->a : 0;
    case SIM_DIST_UNIFORM:
        return (d->a + d->b) / 2;
    case SIM_DIST_EXPONENTIAL:
        return d->a;
    case SIM_DIST_NORMAL:
        if (!(d->b > 0))
            return d->a > 0 ? d->a : 0;
        return d->a + d->b * hazard(-d->a / d->b);
    case SIM_DIST_LOGNORMAL:
        return d->a > 0 ? d->a : 0;
    case SIM_DIST_PARETO:
        return d->b > 1 ? d->b * d->a / (d->b - 1) : INFINITY;
    }
    assert(!"unknown distribution");
    return NAN;
}

double sim_dist_var(const sim_dist *d)
{
    switch (d->kind) {
    case SIM_DIST_CONSTANT:
        return 0;
    case SIM_DIST_UNIFORM:
        return (d->b - d->a) * (d->b - d->a) / 12;
    case SIM_DIST_EXPONENTIAL:
        return d->a * d->a;
    case SIM_DIST_NORMAL: {
        if (!(d->b > 0))
            return 0;
        double alpha = -d->a / d->b, lambda = hazard(alpha);
        return d->b * d->b * (1 + alpha * lambda - lambda * lambda);
    }
    case SIM_DIST_LOGNORMAL:
        return d->a > 0 ? d->b * d->b : 0;
    case SIM_DIST_PARETO: {
        double k = d->b, xm = d->a;
        return k > 2 ? xm * xm * k / ((k - 1) * (k - 1) * (k - 2)) : INFINITY;
    }
    }
    assert(!"unknown distribution");
    return NAN;
}
