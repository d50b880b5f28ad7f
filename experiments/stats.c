/* Summary statistics over replications: running means and Student-t confidence intervals. */
#include "experiments/stats.h"

#include <math.h>
#include <gsl/gsl_cdf.h>

/* The mean's recurrence is gsl_stats_mean's, in the same long double
 * operations, so that the mean of a set is the same whether it was kept or
 * streamed. m2 is Welford's: numerically stable, unlike a sum of squares. */
void exp_rstat_add(exp_rstat *s, double x)
{
    s->n++;
    long double d = x - s->mean;
    s->mean += d / (long double)s->n;
    s->m2 += d * (x - s->mean);
}

int exp_rstat_ci95(const exp_rstat *s, double *mean, double *lo, double *hi)
{
    double m = NAN, l = NAN, h = NAN;
    int rc = -1;
    size_t n = s->n;
    if (n > 0) {
        m = (double)s->mean;
        rc = 0;
    }
    if (n > 1) {
        /* As gsl_stats_sd_m: the population variance rounded to double, then
         * scaled to the sample variance. */
        double var = (double)(s->m2 / (long double)n);
        double sd = sqrt(var * ((double)n / (double)(n - 1)));
        double half = gsl_cdf_tdist_Pinv(0.975, (double)(n - 1)) * sd / sqrt((double)n);
        l = m - half;
        h = m + half;
    }
    if (mean) *mean = m;
    if (lo) *lo = l;
    if (hi) *hi = h;
    return rc;
}

int exp_ci95(const double *x, size_t n, double *mean, double *lo, double *hi)
{
    exp_rstat s = {0};
    for (size_t i = 0; i < n; i++) exp_rstat_add(&s, x[i]);
    return exp_rstat_ci95(&s, mean, lo, hi);
}
