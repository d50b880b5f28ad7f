/* Random stream tests: seed mixing, reproducibility and independence of named streams. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/rng.h"

/* Pinned values: a change to the mixing would silently change every result
 * file, so it must show up here first. */
static void seed_golden_values(void **state)
{
    (void)state;
    assert_true(sim_rng_seed(0, 0, "") == 0x5c76f0dd35232f5bULL);
    assert_true(sim_rng_seed(1, 0, "client0.up") == 0x54f2c76977e997f3ULL);
    assert_true(sim_rng_seed(42, 3, "publisher7") == 0x1298201c5c5a40a7ULL);
    gsl_rng *r = sim_rng_new(1, 0, "client0.up");
    assert_non_null(r);
    assert_string_equal(gsl_rng_name(r), "taus2");
    assert_int_equal(gsl_rng_size(r), 3 * sizeof(unsigned long)); /* 24 bytes a stream */
    assert_int_equal(gsl_rng_get(r), 118180493UL);
    assert_int_equal(gsl_rng_get(r), 1719066426UL);
    gsl_rng_free(r);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Every (seed, rep, name) in a grid gives a distinct seed, and swapping seed
 * and rep, or reordering a name's letters, changes it. */
static void seeds_differ_when_any_input_changes(void **state)
{
    (void)state;
    static const char *names[] = {"", "a", "b", "ab", "ba", "client0.up", "client0.down",
                                  "client1.up", "publisher0"};
    enum { NN = sizeof names / sizeof names[0], NS = 100, NR = 10 };
    uint64_t *v = malloc(NN * NS * NR * sizeof *v);
    assert_non_null(v);
    size_t k = 0;
    for (int n = 0; n < NN; n++)
        for (uint64_t s = 0; s < NS; s++)
            for (uint64_t r = 0; r < NR; r++) {
                v[k] = sim_rng_seed(s, r, names[n]);
                assert_true(v[k] == sim_rng_seed(s, r, names[n])); /* pure */
                k++;
            }
    qsort(v, k, sizeof *v, cmp_u64);
    for (size_t i = 1; i < k; i++)
        assert_true(v[i] != v[i - 1]);
    free(v);
    for (uint64_t a = 0; a < 50; a++)
        for (uint64_t b = a + 1; b < 50; b++)
            assert_true(sim_rng_seed(a, b, "x") != sim_rng_seed(b, a, "x"));
    /* the top bit of the seed and of the replication count too */
    assert_true(sim_rng_seed(1ULL << 63, 0, "x") != sim_rng_seed(0, 0, "x"));
    assert_true(sim_rng_seed(0, 1ULL << 63, "x") != sim_rng_seed(0, 0, "x"));
}

/*
 * Avalanche: flipping one input bit flips each output bit with probability
 * 1/2, so the flipped count is Binomial(64, 1/2): mean 32, variance 16. Over
 * 64 bits x 100 seeds x 2 inputs = 12800 flips the mean count has standard
 * error sqrt(16/12800) = 0.035; we allow 0.25 (7 standard errors).
 */
static void seed_avalanche(void **state)
{
    (void)state;
    double sum = 0;
    int n = 0;
    for (uint64_t s = 0; s < 100; s++) {
        uint64_t base = sim_rng_seed(s * 0x1234567ULL, s, "link");
        for (int b = 0; b < 64; b++) {
            sum += __builtin_popcountll(base ^ sim_rng_seed((s * 0x1234567ULL) ^ (1ULL << b), s, "link"));
            sum += __builtin_popcountll(base ^ sim_rng_seed(s * 0x1234567ULL, s ^ (1ULL << b), "link"));
            n += 2;
        }
    }
    assert_true(fabs(sum / n - 32) < 0.25);
}

static void same_inputs_same_stream(void **state)
{
    (void)state;
    gsl_rng *a = sim_rng_new(7, 2, "client3.down"), *b = sim_rng_new(7, 2, "client3.down");
    assert_non_null(a);
    assert_non_null(b);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(gsl_rng_get(a), gsl_rng_get(b));
    gsl_rng_free(a);
    gsl_rng_free(b);
}

/* A generator built in a slot is the stream sim_rng_new gives, uniforms and
 * distributions alike. */
static void slot_stream_is_the_heap_stream(void **state)
{
    (void)state;
    sim_rng_slot slot;
    gsl_rng *a = sim_rng_new(7, 2, "c0.0.up"), *b = sim_rng_init(&slot, 7, 2, "c0.0.up");
    assert_non_null(a);
    assert_ptr_equal(b, &slot.r);
    assert_string_equal(gsl_rng_name(b), "taus2");
    for (int i = 0; i < 10000; i++) {
        assert_int_equal(gsl_rng_get(a), gsl_rng_get(b));
        assert_true(gsl_rng_uniform(a) == gsl_rng_uniform(b));
    }
    gsl_rng_free(a);
}

/* All 64 bits of the seed reach the generator: seeds whose 32-bit folds
 * (low ^ high) coincide still give different streams. */
static void whole_64_bit_seed_is_used(void **state)
{
    (void)state;
    gsl_rng *a = sim_rng_from_seed(0x0000000100000001ULL);
    gsl_rng *b = sim_rng_from_seed(0x0000000200000002ULL);
    gsl_rng *c = sim_rng_from_seed(0x8000000000000000ULL);
    gsl_rng *d = sim_rng_from_seed(0);
    int same_ab = 0, same_cd = 0;
    for (int i = 0; i < 100; i++) {
        same_ab += gsl_rng_get(a) == gsl_rng_get(b);
        same_cd += gsl_rng_get(c) == gsl_rng_get(d);
    }
    /* independent 32-bit outputs agree with probability 2^-32 each */
    assert_int_equal(same_ab, 0);
    assert_int_equal(same_cd, 0);
    gsl_rng_free(a);
    gsl_rng_free(b);
    gsl_rng_free(c);
    gsl_rng_free(d);
}

/*
 * Independence: under independence the sample correlation r of n pairs of
 * uniforms is about N(0, 1/n); with n = 1e5, sd(r) = 0.0032 and we allow
 * 5 sd = 0.0158. The mean of n uniforms has sd sqrt(1/12/n) = 0.00091; we
 * allow 5 sd = 0.0046. The pairs tested differ in one input each: the name,
 * the replication, the seed.
 */
static double corr(gsl_rng *x, gsl_rng *y, int n, double *mean_x)
{
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    for (int i = 0; i < n; i++) {
        double u = gsl_rng_uniform(x), v = gsl_rng_uniform(y);
        sx += u;
        sy += v;
        sxx += u * u;
        syy += v * v;
        sxy += u * v;
    }
    double cxy = sxy / n - (sx / n) * (sy / n);
    double vx = sxx / n - (sx / n) * (sx / n), vy = syy / n - (sy / n) * (sy / n);
    *mean_x = sx / n;
    return cxy / sqrt(vx * vy);
}

static void named_streams_are_uncorrelated(void **state)
{
    (void)state;
    const int n = 100000;
    const double tol_r = 5 / sqrt(n), tol_m = 5 * sqrt(1.0 / 12 / n);
    struct {
        uint64_t s1, r1;
        const char *n1;
        uint64_t s2, r2;
        const char *n2;
    } pairs[] = {
        {1, 0, "client0.up", 1, 0, "client0.down"},
        {1, 0, "client0.up", 1, 1, "client0.up"},
        {1, 0, "client0.up", 2, 0, "client0.up"},
        {1, 0, "client0.up", 1, 0, "client1.up"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        gsl_rng *a = sim_rng_new(pairs[i].s1, pairs[i].r1, pairs[i].n1);
        gsl_rng *b = sim_rng_new(pairs[i].s2, pairs[i].r2, pairs[i].n2);
        double m;
        double r = corr(a, b, n, &m);
        assert_true(fabs(r) < tol_r);
        assert_true(fabs(m - 0.5) < tol_m);
        /* a lagged pairing as well: stream a one step ahead */
        gsl_rng_uniform(a);
        r = corr(a, b, n, &m);
        assert_true(fabs(r) < tol_r);
        gsl_rng_free(a);
        gsl_rng_free(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seed_golden_values),
        cmocka_unit_test(seeds_differ_when_any_input_changes),
        cmocka_unit_test(seed_avalanche),
        cmocka_unit_test(same_inputs_same_stream),
        cmocka_unit_test(slot_stream_is_the_heap_stream),
        cmocka_unit_test(whole_64_bit_seed_is_used),
        cmocka_unit_test(named_streams_are_uncorrelated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
