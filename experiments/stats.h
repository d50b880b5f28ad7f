/* Summary statistics over replications: running means and Student-t confidence intervals. */
#ifndef EXP_STATS_H
#define EXP_STATS_H

#include <stddef.h>

/* The running mean and sum of squared deviations of the samples added so
 * far (Welford's recurrence in long double), so that replications need not
 * be kept. Zero-initialise to start. */
typedef struct {
    size_t n;
    long double mean, m2;
} exp_rstat;

/* Adds sample x. O(1). */
void exp_rstat_add(exp_rstat *s, double x);

/* The mean of the samples added to s and the two-sided 95% Student-t
 * confidence interval of that mean, mean -/+ t(0.975, n-1) * sd / sqrt(n),
 * with sd the sample standard deviation. For n == 1 *lo and *hi are NaN (no
 * interval from one sample); when every sample is equal, lo == hi == mean.
 * Any output pointer may be NULL. Returns 0, or -1 when n == 0 (outputs are
 * then NaN). The mean is bit for bit gsl_stats_mean's (the same recurrence);
 * sd differs from the two-pass gsl_stats_sd_m in the last bit for about one
 * sample set in a thousand. Cost: one t quantile. */
int exp_rstat_ci95(const exp_rstat *s, double *mean, double *lo, double *hi);

/* exp_rstat_ci95 of the samples x[0..n). Cost: O(n). */
int exp_ci95(const double *x, size_t n, double *mean, double *lo, double *hi);

#endif
