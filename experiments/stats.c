/* Summary statistics over replications: means and Student-t confidence intervals. */
#include "experiments/stats.h"

#include <math.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_statistics_double.h>

int exp_ci95(const double *x, size_t n, double *mean, double *lo, double *hi)
{
    double m = NAN, l = NAN, h = NAN;
    int rc = -1;
    if (n > 0) {
        m = gsl_stats_mean(x, 1, n);
        rc = 0;
    }
    if (n > 1) {
        double sd = gsl_stats_sd_m(x, 1, n, m);
        double half = gsl_cdf_tdist_Pinv(0.975, (double)(n - 1)) * sd / sqrt((double)n);
        l = m - half;
        h = m + half;
    }
    if (mean) *mean = m;
    if (lo) *lo = l;
    if (hi) *hi = h;
    return rc;
}
