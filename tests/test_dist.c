/* Delay distribution tests: sample mean and variance of each distribution against theory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_math.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_statistics_double.h>

#include "sim/dist.h"
#include "sim/rng.h"

/*
 * The statistical check. For n i.i.d. samples with mean mu, variance s2 and
 * fourth central moment m4, the sample mean has standard error sqrt(s2/n) and
 * the sample variance, for large n, has standard error sqrt((m4 - s2^2)/n)
 * (its exact variance is (m4 - s2^2 (n-3)/(n-1))/n, the difference is
 * O(1/n^2)). Both are asymptotically normal, so with a fixed seed we allow
 * Z = 5 standard errors: a correct sampler fails with probability ~6e-7 per
 * check, while a wrong parameterisation (e.g. pareto's a and b swapped, sd
 * taken as the underlying normal's sigma) is off by hundreds of errors.
 *
 * The theoretical moments are computed here independently of sim/dist.c from
 * raw moments E[X^k], and sim_dist_mean/var are checked against them.
 */
#define N 200000
#define Z 5.0

typedef struct {
    double mean, var, m4; /* m4: fourth central moment */
} moments;

/* Central moments from raw moments r[1..4]. */
static moments from_raw(const double r[5])
{
    double m = r[1];
    moments mo;
    mo.mean = m;
    mo.var = r[2] - m * m;
    mo.m4 = r[4] - 4 * m * r[3] + 6 * m * m * r[2] - 3 * m * m * m * m;
    return mo;
}

/*
 * Normal(m, s) truncated to [0, inf). With alpha = -m/s, Z ~ N(0,1) given
 * Z >= alpha has moments M0 = 1, M1 = lambda = phi(alpha)/Q(alpha) and, by
 * integrating z^(k-1) * z phi(z) by parts,
 * M_k = (k-1) M_(k-2) + alpha^(k-1) lambda. X - mean = c + s Z with
 * c = m - mean, so the central moments are sums of binomial terms in M_k.
 */
static moments trunc_normal(double m, double s)
{
    double alpha = -m / s;
    double lambda = gsl_ran_ugaussian_pdf(alpha) / gsl_cdf_ugaussian_Q(alpha);
    double M[5] = {1, lambda, 0, 0, 0};
    for (int k = 2; k <= 4; k++)
        M[k] = (k - 1) * M[k - 2] + pow(alpha, k - 1) * lambda;
    moments mo;
    mo.mean = m + s * lambda;
    double c = m - mo.mean;
    mo.var = c * c + 2 * c * s * M[1] + s * s * M[2];
    mo.m4 = pow(c, 4) + 4 * pow(c, 3) * s * M[1] + 6 * c * c * s * s * M[2] +
            4 * c * pow(s, 3) * M[3] + pow(s, 4) * M[4];
    return mo;
}

/* Samples d n times and checks mean and variance against mo. */
static void check_sampler(const sim_dist *d, moments mo, const char *stream)
{
    double *x = malloc(N * sizeof *x);
    assert_non_null(x);
    gsl_rng *r = sim_rng_new(1, 0, stream);
    assert_non_null(r);
    for (int i = 0; i < N; i++) {
        x[i] = sim_dist_sample_ms(d, r);
        assert_true(x[i] >= 0);
    }
    double mean = gsl_stats_mean(x, 1, N), var = gsl_stats_variance_m(x, 1, N, mean);
    double se_mean = sqrt(mo.var / N), se_var = sqrt((mo.m4 - mo.var * mo.var) / N);
    if (fabs(mean - mo.mean) > Z * se_mean || fabs(var - mo.var) > Z * se_var)
        fail_msg("%s: mean %.6g (theory %.6g, se %.3g), var %.6g (theory %.6g, se %.3g)", stream,
                 mean, mo.mean, se_mean, var, mo.var, se_var);
    /* the module's closed forms agree with the moments derived here */
    assert_true(gsl_fcmp(sim_dist_mean(d), mo.mean, 1e-9) == 0);
    assert_true(gsl_fcmp(sim_dist_var(d), mo.var, 1e-9) == 0);
    gsl_rng_free(r);
    free(x);
}

static void constant(void **state)
{
    (void)state;
    sim_dist d = {SIM_DIST_CONSTANT, 1.5, 0};
    gsl_rng *r = sim_rng_new(1, 0, "constant");
    for (int i = 0; i < 100; i++) {
        assert_true(sim_dist_sample_ms(&d, r) == 1.5);
        assert_int_equal(sim_dist_sample(&d, r), 1500000);
    }
    assert_true(sim_dist_mean(&d) == 1.5);
    assert_true(sim_dist_var(&d) == 0);
    gsl_rng_free(r);
}

static void uniform(void **state)
{
    (void)state;
    /* width w: var w^2/12, m4 w^4/80 */
    sim_dist d = {SIM_DIST_UNIFORM, 2, 8};
    check_sampler(&d, (moments){5, 3, 1296.0 / 80}, "uniform");
}

static void exponential(void **state)
{
    (void)state;
    /* mean m: var m^2, m4 9 m^4 */
    sim_dist d = {SIM_DIST_EXPONENTIAL, 3, 0};
    check_sampler(&d, (moments){3, 9, 9 * 81}, "exponential");
}

static void normal_truncated(void **state)
{
    (void)state;
    /* hardly truncated (alpha = -5), heavily (alpha = -0.5), at the mean
     * (alpha = 0: half-normal), and a negative mean (alpha = 1, where GSL
     * switches from resampling to its tail method) */
    static const double ms[][2] = {{10, 2}, {1, 2}, {0, 1}, {-1, 1}};
    static const char *names[] = {"normal-a", "normal-b", "normal-c", "normal-d"};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        sim_dist d = {SIM_DIST_NORMAL, ms[i][0], ms[i][1]};
        check_sampler(&d, trunc_normal(ms[i][0], ms[i][1]), names[i]);
    }
    /* the half-normal in closed form: mean sqrt(2/pi), var 1 - 2/pi */
    sim_dist h = {SIM_DIST_NORMAL, 0, 1};
    assert_true(gsl_fcmp(sim_dist_mean(&h), sqrt(2 / M_PI), 1e-12) == 0);
    assert_true(gsl_fcmp(sim_dist_var(&h), 1 - 2 / M_PI, 1e-12) == 0);
    /* sd 0: the mean itself, clipped at 0 */
    sim_dist c = {SIM_DIST_NORMAL, 4, 0};
    gsl_rng *r = sim_rng_new(1, 0, "normal0");
    assert_true(sim_dist_sample_ms(&c, r) == 4);
    assert_true(sim_dist_mean(&c) == 4 && sim_dist_var(&c) == 0);
    gsl_rng_free(r);
}

/* A mean far above 0 in standard deviations: the truncation changes nothing
 * a double can hold, and the moments must say so rather than abort (GSL's
 * hazard function underflowed there). */
static void normal_far_from_zero(void **state)
{
    (void)state;
    static const double ms[][2] = {{29.9, 1}, {30, 1}, {30.1, 1}, {40, 1}, {1e3, 1}, {1e6, 0.5}};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        sim_dist d = {SIM_DIST_NORMAL, ms[i][0], ms[i][1]};
        assert_true(gsl_fcmp(sim_dist_mean(&d), ms[i][0], 1e-12) == 0);
        assert_true(gsl_fcmp(sim_dist_var(&d), ms[i][1] * ms[i][1], 1e-12) == 0);
    }
    gsl_rng *r = sim_rng_new(1, 0, "normalfar");
    sim_dist d = {SIM_DIST_NORMAL, 40, 1};
    for (int i = 0; i < 1000; i++) {
        double x = sim_dist_sample_ms(&d, r);
        assert_true(x > 30 && x < 50);
    }
    gsl_rng_free(r);
}

static void lognormal(void **state)
{
    (void)state;
    /* given mean M and sd S: sigma^2 = ln(1 + S^2/M^2), mu = ln M - sigma^2/2,
     * and E[X^k] = exp(k mu + k^2 sigma^2 / 2) */
    double M = 5, S = 2;
    double s2 = log(1 + S * S / (M * M)), mu = log(M) - s2 / 2;
    double raw[5];
    for (int k = 0; k <= 4; k++)
        raw[k] = exp(k * mu + k * k * s2 / 2);
    moments mo = from_raw(raw);
    assert_true(gsl_fcmp(mo.mean, M, 1e-12) == 0);
    assert_true(gsl_fcmp(mo.var, S * S, 1e-12) == 0);
    sim_dist d = {SIM_DIST_LOGNORMAL, M, S};
    check_sampler(&d, mo, "lognormal");
}

static void pareto(void **state)
{
    (void)state;
    /* scale xm, shape k: E[X^j] = k xm^j / (k - j) for j < k; shape 5 > 4
     * keeps the fourth moment, and so the variance check, finite */
    double xm = 2, k = 5;
    double raw[5];
    for (int j = 0; j <= 4; j++)
        raw[j] = k * pow(xm, j) / (k - j);
    sim_dist d = {SIM_DIST_PARETO, xm, k};
    check_sampler(&d, from_raw(raw), "pareto");
    /* no finite variance below shape 2, no finite mean at or below shape 1 */
    sim_dist h = {SIM_DIST_PARETO, 1, 1.5};
    assert_true(gsl_fcmp(sim_dist_mean(&h), 3, 1e-12) == 0);
    assert_true(isinf(sim_dist_var(&h)));
    sim_dist e = {SIM_DIST_PARETO, 1, 0.5};
    assert_true(isinf(sim_dist_mean(&e)));
    /* heavy tail: samples are clamped, never overflow a time */
    gsl_rng *r = sim_rng_new(1, 0, "pareto-heavy");
    for (int i = 0; i < 100000; i++) {
        double x = sim_dist_sample_ms(&e, r);
        assert_true(x >= 1 && x <= 1e11);
    }
    gsl_rng_free(r);
}

/* sim_dist_sample is the ms sample rounded to ns, from the same draws. */
static void sample_ns_matches_ms(void **state)
{
    (void)state;
    sim_dist d = {SIM_DIST_LOGNORMAL, 10, 3};
    gsl_rng *a = sim_rng_new(3, 0, "ns"), *b = sim_rng_new(3, 0, "ns");
    for (int i = 0; i < 10000; i++)
        assert_int_equal(sim_dist_sample(&d, a), sim_from_ms(sim_dist_sample_ms(&d, b)));
    gsl_rng_free(a);
    gsl_rng_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(constant),
        cmocka_unit_test(uniform),
        cmocka_unit_test(exponential),
        cmocka_unit_test(normal_truncated),
        cmocka_unit_test(normal_far_from_zero),
        cmocka_unit_test(lognormal),
        cmocka_unit_test(pareto),
        cmocka_unit_test(sample_ns_matches_ms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
