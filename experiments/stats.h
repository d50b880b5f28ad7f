/* Summary statistics over replications: means and Student-t confidence intervals. */
#ifndef EXP_STATS_H
#define EXP_STATS_H

#include <stddef.h>

/* Mean of x[0..n) and the two-sided 95% Student-t confidence interval of that
 * mean, mean -/+ t(0.975, n-1) * sd / sqrt(n), with sd the sample standard
 * deviation. For n == 1 *lo and *hi are NaN (no interval from one sample); when
 * every sample is equal, lo == hi == mean. Any output pointer may be NULL.
 * Returns 0, or -1 when n == 0 (outputs are then NaN). Cost: O(n). */
int exp_ci95(const double *x, size_t n, double *mean, double *lo, double *hi);

#endif
