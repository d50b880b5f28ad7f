/* Sweeps: confidence intervals, sweep-file parsing and validation, grid order,
 * shard slicing, and the aggregation of job results into sweep.csv. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_statistics_double.h>

#include "experiments/stats.h"
#include "experiments/sweep.h"
#include "experiments/sweep_csv.h"

/* A small valid experiment for sweeps that load their points. */
#define EXPERIMENT                                                                          \
    "{\"name\": \"t\", \"seed\": 3, \"replications\": 2, \"duration_s\": 1, \"drain_s\": 1," \
    " \"link\": {\"loss\": {\"model\": \"bernoulli\", \"p\": 0.1}},"                         \
    " \"clients\": [{\"role\": \"publisher\", \"topic\": \"a\", \"qos\": 1, \"rate_hz\": 5}," \
    "  {\"role\": \"subscriber\", \"subscribe\": [{\"filter\": \"a\", \"qos\": 1}]}]}"

static exp_sweep *parse(const char *text, bool validate, char *err)
{
    return exp_sweep_parse(text, "dir/my-sweep.json", "dir", validate, err, 1024);
}

/* ---- exp_ci95 ---------------------------------------------------------- */

static void ci95_matches_student_t(void **state)
{
    (void)state;
    /* mean 3, sd sqrt(2.5), t(0.975, 4) = 2.7764451052 (tables):
     * half width = 2.7764451052 * sqrt(2.5) / sqrt(5) = 1.9632432... */
    const double x[] = {1, 2, 3, 4, 5};
    double m, lo, hi;
    assert_int_equal(exp_ci95(x, 5, &m, &lo, &hi), 0);
    assert_true(fabs(m - 3) < 1e-12);
    double half = 2.7764451052 * sqrt(0.5);
    assert_true(fabs(lo - (3 - half)) < 1e-8);
    assert_true(fabs(hi - (3 + half)) < 1e-8);
    /* Two samples: t(0.975, 1) = tan(0.475 pi) = 12.7062047362. */
    const double y[] = {0.5, 0.3};
    assert_int_equal(exp_ci95(y, 2, &m, &lo, &hi), 0);
    assert_true(fabs(m - 0.4) < 1e-12);
    assert_true(fabs(hi - m - tan(0.475 * 3.14159265358979323846) * 0.1) < 1e-9);
    assert_true(fabs(m - lo - tan(0.475 * 3.14159265358979323846) * 0.1) < 1e-9);
}

static void ci95_edge_cases(void **state)
{
    (void)state;
    double m, lo, hi;
    const double one = 7.25;
    assert_int_equal(exp_ci95(&one, 1, &m, &lo, &hi), 0);
    assert_true(m == 7.25);
    assert_true(isnan(lo) && isnan(hi));
    const double same[] = {2, 2, 2};
    assert_int_equal(exp_ci95(same, 3, &m, &lo, &hi), 0);
    assert_true(m == 2 && lo == 2 && hi == 2);
    assert_int_equal(exp_ci95(NULL, 0, &m, &lo, &hi), -1);
    assert_true(isnan(m));
    assert_int_equal(exp_ci95(same, 3, NULL, NULL, &hi), 0);   /* outputs are optional */
}

/* The running form gives gsl_stats_mean's mean bit for bit (the same
 * recurrence) and nearly the two-pass standard deviation, on data shaped like
 * replication results: ratios of counts, latencies, and nearly constant
 * values (where a sum of squares would cancel). The two forms round the
 * long double variance to double from slightly different values, so sd
 * differs by one unit in the last place for a few sets in a hundred; the
 * half-width t sd / sqrt(n) then by about two of its own ulps, and a bound
 * m -/+ half by those plus its own rounding: within 4 ulps of the
 * half-width and one of the bound.
 * Printed with 12 significant digits, as results.csv and sweep.csv print
 * them, the bounds are the same. */
static double ulp_of(double v)
{
    return nextafter(fabs(v), INFINITY) - fabs(v);
}

static void rstat_matches_gsl_two_pass(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252u;   /* xorshift64: a fixed, portable sequence */
    size_t differ = 0;
    for (int set = 0; set < 3000; set++) {
        size_t n = 2 + (size_t)set % 40;
        double v[41];
        exp_rstat rs = {0};
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            double u = (double)(x >> 11) / 9007199254740992.0;
            v[i] = set % 3 == 0 ? (double)(2000 + (int)(u * 100)) / 3000
                 : set % 3 == 1 ? 20 + 400 * u : 1e6 + u * 1e-3;
            exp_rstat_add(&rs, v[i]);
        }
        double m, lo, hi;
        assert_int_equal(exp_rstat_ci95(&rs, &m, &lo, &hi), 0);
        double gm = gsl_stats_mean(v, 1, n);
        assert_true(m == gm);
        double ghalf = gsl_cdf_tdist_Pinv(0.975, (double)(n - 1)) * gsl_stats_sd_m(v, 1, n, gm) /
                       sqrt((double)n);
        double glo = gm - ghalf, ghi = gm + ghalf, ulp = ulp_of(ghalf);
        assert_true(fabs(lo - glo) <= 4 * ulp + ulp_of(glo));
        assert_true(fabs(hi - ghi) <= 4 * ulp + ulp_of(ghi));
        differ += lo != glo || hi != ghi;
        char a[64], b[64];
        snprintf(a, sizeof a, "%.12g %.12g", lo, hi);
        snprintf(b, sizeof b, "%.12g %.12g", glo, ghi);
        assert_string_equal(a, b);
    }
    /* Measured: 29 of the 3000 sets, all latency-like (a spread of 400
     * around 220): a few in a hundred, not a systematic difference. */
    assert_true(differ < 100);
}

/* ---- parsing ----------------------------------------------------------- */

static void grid_first_key_varies_slowest(void **state)
{
    (void)state;
    char err[1024];
    exp_sweep *sw = parse("{\"experiment\": " EXPERIMENT ", \"vary\": {"
                          "\"link.loss.p\": [0, 0.25, 0.5], \"broker.qos2_method\": [\"A\", \"B\"]}}",
                          true, err);
    assert_non_null(sw);
    assert_int_equal(exp_sweep_points(sw), 6);
    assert_int_equal(exp_sweep_keys(sw), 2);
    assert_string_equal(exp_sweep_key(sw, 0), "link.loss.p");
    assert_string_equal(exp_sweep_key(sw, 1), "broker.qos2_method");
    const char *want[6][2] = {{"0", "\"A\""}, {"0", "\"B\""}, {"0.25", "\"A\""},
                              {"0.25", "\"B\""}, {"0.5", "\"A\""}, {"0.5", "\"B\""}};
    for (size_t p = 1; p <= 6; p++) {
        assert_string_equal(exp_sweep_value(sw, p, 0), want[p - 1][0]);
        assert_string_equal(exp_sweep_value(sw, p, 1), want[p - 1][1]);
    }
    /* Replications from the experiment, name from the file, cdf point 1. */
    assert_int_equal(exp_sweep_replications(sw), 2);
    assert_string_equal(exp_sweep_name(sw), "my-sweep");
    assert_int_equal(exp_sweep_cdf_point(sw), 1);
    exp_sweep_free(sw);
}

static void sweep_keys_override_and_select(void **state)
{
    (void)state;
    char err[1024];
    exp_sweep *sw = parse("{\"name\": \"n\", \"seed\": 9, \"replications\": 4, \"experiment\": " EXPERIMENT
                          ", \"vary\": {\"link.loss.p\": [0, 0.1, 0.2], \"clients.0.qos\": [1, 2]},"
                          " \"figures\": [\"cdf\", \"delivery\"], \"cdf_point\": {\"link.loss.p\": 0.2}}",
                          true, err);
    assert_non_null(sw);
    assert_string_equal(exp_sweep_name(sw), "n");
    assert_int_equal(exp_sweep_replications(sw), 4);
    assert_int_equal(exp_sweep_cdf_point(sw), 5);   /* (0.2, 1) is the fifth point */
    exp_sweep_free(sw);
}

static void resolved_sweep_reparses_to_itself(void **state)
{
    (void)state;
    char err[1024];
    exp_sweep *sw = parse("{\"seed\": 5, \"experiment\": " EXPERIMENT
                          ", \"vary\": {\"link.loss.p\": [0, 0.3]}, \"figures\": [\"wire\"]}", true, err);
    assert_non_null(sw);
    const char *r = exp_sweep_resolved(sw);
    assert_non_null(r);
    assert_non_null(strstr(r, "\"replications\":\t2"));
    assert_non_null(strstr(r, "\"seed\":\t5"));
    exp_sweep *again = exp_sweep_parse(r, "out/sweep.json", "out", true, err, sizeof err);
    assert_non_null(again);
    assert_string_equal(exp_sweep_resolved(again), r);
    assert_string_equal(exp_sweep_name(again), "my-sweep");
    exp_sweep_free(again);
    exp_sweep_free(sw);
}

static void expect_error(const char *text, bool validate, const char *needle1, const char *needle2)
{
    char err[1024] = "";
    exp_sweep *sw = parse(text, validate, err);
    if (sw) fail_msg("accepted: %s", text);
    if (!strstr(err, needle1) || !strstr(err, needle2))
        fail_msg("message \"%s\" lacks \"%s\" or \"%s\"", err, needle1, needle2);
}

static void bad_sweeps_are_named(void **state)
{
    (void)state;
    expect_error("{\"experiment\": {}, \"vary\": {\"a\": [1]}, \"figurs\": []}", false,
                 "dir/my-sweep.json", "\"figurs\"");
    expect_error("{\"experiment\": " EXPERIMENT ", \"vary\": {\"link.los.p\": [0.1]}}", true,
                 "link.los.p", "not a config key");
    expect_error("{\"experiment\": " EXPERIMENT ", \"vary\": {\"link.loss.p\": [0.1, 1.5]}}", true,
                 "point 2 of 2 (link.loss.p=1.5)", "link.loss.p");
    expect_error("{\"experiment\": " EXPERIMENT ", \"vary\": {\"link.loss.p\": []}}", true,
                 "vary.link.loss.p", "non-empty array");
    expect_error("{\"experiment\": {}, \"vary\": {}}", false, "\"vary\"", "at least one key");
    expect_error("{\"experiment\": {}, \"base\": \"x.json\", \"vary\": {\"a\": [1]}}", false,
                 "\"base\"", "\"experiment\"");
    expect_error("{\"experiment\": {}, \"vary\": {\"a\": [1]}, \"figures\": [\"pie\"]}", false,
                 "\"pie\"", "delivery, duplicates, latency, wire, cdf");
    expect_error("{\"experiment\": {}, \"vary\": {\"a\": [1]}, \"replications\": 0}", false,
                 "\"replications\"", "from 1");
    expect_error("{\"experiment\": {}, \"vary\": {\"a\": [1]}, \"cdf_point\": {\"a\": 2}}", false,
                 "cdf_point", "no point");
    expect_error("{\"experiment\": {}, \"vary\": {\"replications\": [1, 2]}}", false,
                 "\"replications\"", "cannot vary");
    expect_error("{\"experiment\": {},\n \"vary\": {\"a\": [1],}}", false, "dir/my-sweep.json:2", "JSON");
    expect_error("{\"base\": \"no-such-base.json\", \"vary\": {\"link.loss.p\": [0]}}", true,
                 "base experiment", "no-such-base.json");
    /* A value given twice would make two points of one: equal as JSON values. */
    expect_error("{\"experiment\": {}, \"vary\": {\"a\": [1], \"b\": [0.1, 0.2, 0.10]}}", false,
                 "dir/my-sweep.json: vary.b: value 0.1 ", "appears twice (values 1 and 3)");
    expect_error("{\"experiment\": {}, \"vary\": {\"l\": [{\"m\": \"x\", \"p\": 1}, {\"p\": 1, \"m\": \"x\"}]}}",
                 false, "vary.l: value {\"p\":1,\"m\":\"x\"}", "(values 1 and 2)");
}

/* Two keys setting one config key would label sweep.csv rows with values that
 * never ran (the later --set wins): same key after index normalisation, or
 * one key a path prefix of another. */
static void overlapping_vary_keys_are_rejected(void **state)
{
    (void)state;
    expect_error("{\"experiment\": " EXPERIMENT ", \"vary\": {\"link.loss.p\": [0.1, 0.3],"
                 " \"link.loss\": [{\"model\": \"none\"}]}}", true,
                 "dir/my-sweep.json: vary: keys \"link.loss.p\" and \"link.loss\" overlap",
                 "\"link.loss\" contains \"link.loss.p\"");
    expect_error("{\"experiment\": " EXPERIMENT ", \"vary\": {\"clients.0.qos\": [0, 1],"
                 " \"clients.00.qos\": [2]}}", true,
                 "dir/my-sweep.json: vary: keys \"clients.0.qos\" and \"clients.00.qos\"",
                 "the same config key");
    /* Without validate too (merge reads sweep.json so), at any depth. */
    expect_error("{\"experiment\": {}, \"vary\": {\"a\": [1], \"b.07.c\": [1], \"b.7\": [2]}}", false,
                 "keys \"b.07.c\" and \"b.7\" overlap", "\"b.7\" contains \"b.07.c\"");
    expect_error("{\"experiment\": {}, \"vary\": {\"a\": [1], \"a\": [2]}}", false,
                 "key \"a\"", "appears twice");
    /* Shared text is not a shared path: these are four different keys. */
    char err[1024];
    exp_sweep *sw = parse("{\"experiment\": {}, \"vary\": {\"a.b\": [1], \"a.bc\": [2],"
                          " \"c.1\": [3], \"c.10\": [4]}}", false, err);
    if (!sw) fail_msg("rejected: %s", err);
    assert_int_equal(exp_sweep_keys(sw), 4);
    exp_sweep_free(sw);
}

/* cdf_point values match the grid's as JSON values, not as text; its keys
 * match vary keys as paths. */
static void cdf_point_compares_values_as_json(void **state)
{
    (void)state;
    char err[1024];
    const char *grid = "{\"experiment\": " EXPERIMENT ", \"vary\": {\"link.loss\": [{\"model\": \"none\"},"
                       " {\"model\": \"bernoulli\", \"p\": 0.1}], \"clients.0.qos\": [1, 2]}, \"cdf_point\": ";
    char text[2048];
    snprintf(text, sizeof text, "%s{\"link.loss\": {\"p\": 0.1, \"model\": \"bernoulli\"}, \"clients.0.qos\": 2}}", grid);
    exp_sweep *sw = parse(text, true, err);
    if (!sw) fail_msg("rejected: %s", err);
    assert_int_equal(exp_sweep_cdf_point(sw), 4);
    exp_sweep_free(sw);
    snprintf(text, sizeof text, "%s{\"clients.00.qos\": 2.0}}", grid);
    sw = parse(text, true, err);
    if (!sw) fail_msg("rejected: %s", err);
    assert_int_equal(exp_sweep_cdf_point(sw), 2);
    exp_sweep_free(sw);
    /* A value with a member more, or a number a bit off, is no grid value. */
    snprintf(text, sizeof text, "%s{\"link.loss\": {\"p\": 0.1, \"model\": \"bernoulli\", \"x\": 1}}}", grid);
    expect_error(text, true, "cdf_point", "no point");
    snprintf(text, sizeof text, "%s{\"link.loss\": {\"p\": 0.10000000000000002, \"model\": \"bernoulli\"}}}", grid);
    expect_error(text, true, "cdf_point", "no point");
}

/* ---- shards ------------------------------------------------------------ */

static void shards_deal_points_round_robin(void **state)
{
    (void)state;
    const int want[7] = {1, 2, 3, 1, 2, 3, 1};
    for (size_t p = 1; p <= 7; p++) assert_int_equal(exp_sweep_shard_of(p, 3), want[p - 1]);
    /* Every point of a grid is in exactly one shard, for any N. */
    for (int n = 1; n <= 9; n++) {
        int count[10] = {0};
        for (size_t p = 1; p <= 50; p++) {
            int s = exp_sweep_shard_of(p, n);
            assert_true(s >= 1 && s <= n);
            count[s]++;
        }
        for (int s = 1; s <= n; s++) assert_true(count[s] == 50 / n || count[s] == 50 / n + 1);
    }
}

/* "cases": labelled sets of settings as the grid's first key, "case"; a
 * point of case c loads with c's settings, before the vary keys' values. */
static void cases_are_the_first_key(void **state)
{
    (void)state;
    char err[1024];
    exp_sweep *sw = parse("{\"experiment\": " EXPERIMENT ", \"cases\": ["
                          "{\"case\": \"plain\"},"
                          " {\"case\": \"lossy, QoS 2\", \"set\": {\"link.loss.p\": 0.3, \"clients.0.qos\": 2}}],"
                          " \"vary\": {\"broker.qos2_method\": [\"A\", \"B\"]}}",
                          true, err);
    if (!sw) fail_msg("rejected: %s", err);
    assert_int_equal(exp_sweep_points(sw), 4);
    assert_int_equal(exp_sweep_keys(sw), 2);
    assert_string_equal(exp_sweep_key(sw, 0), "case");
    assert_string_equal(exp_sweep_value(sw, 1, 0), "\"plain\"");
    assert_string_equal(exp_sweep_value(sw, 3, 0), "\"lossy, QoS 2\"");
    assert_string_equal(exp_sweep_value(sw, 3, 1), "\"A\"");
    char *label = exp_sweep_point_label(sw, 4);
    assert_string_equal(label, "case=\"lossy, QoS 2\", broker.qos2_method=\"B\"");
    free(label);
    exp_config cfg;
    assert_int_equal(exp_sweep_load_point(sw, 1, &cfg, err, sizeof err), 0);
    assert_true(cfg.clients[0].qos == 1);
    assert_true(cfg.clients[0].up.loss.p == 0.1);
    exp_config_free(&cfg);
    assert_int_equal(exp_sweep_load_point(sw, 4, &cfg, err, sizeof err), 0);
    assert_true(cfg.clients[0].qos == 2);
    assert_true(cfg.clients[0].up.loss.p == 0.3);
    assert_true(cfg.qos2_method == MQ_QOS2_B);
    exp_config_free(&cfg);
    /* The resolved sweep keeps the cases and reparses to itself. */
    const char *r = exp_sweep_resolved(sw);
    assert_non_null(strstr(r, "\"cases\""));
    exp_sweep *again = exp_sweep_parse(r, "out/sweep.json", "out", true, err, sizeof err);
    if (!again) fail_msg("resolved sweep rejected: %s", err);
    assert_string_equal(exp_sweep_resolved(again), r);
    assert_true(exp_sweep_same(r, exp_sweep_resolved(again)));
    exp_sweep_free(again);
    exp_sweep_free(sw);
    /* Cases alone make a sweep. */
    sw = parse("{\"experiment\": " EXPERIMENT ", \"cases\": [{\"case\": \"a\"}, {\"case\": \"b\","
               " \"set\": {\"duration_s\": 2}}]}", true, err);
    if (!sw) fail_msg("rejected: %s", err);
    assert_int_equal(exp_sweep_points(sw), 2);
    assert_int_equal(exp_sweep_keys(sw), 1);
    exp_sweep_free(sw);
}

static void bad_cases_are_named(void **state)
{
    (void)state;
    expect_error("{\"experiment\": " EXPERIMENT ", \"cases\": []}", true, "\"cases\"", "non-empty array");
    expect_error("{\"experiment\": " EXPERIMENT ", \"cases\": [{\"set\": {}}]}", true, "cases[0]",
                 "non-empty string \"case\"");
    expect_error("{\"experiment\": " EXPERIMENT ", \"cases\": [{\"case\": \"a\"}, {\"case\": \"a\"}]}",
                 true, "label \"a\" appears twice", "cases 0 and 1");
    expect_error("{\"experiment\": " EXPERIMENT ", \"cases\": [{\"case\": \"a\", \"sett\": {}}]}", true,
                 "cases[0]", "unknown key \"sett\"");
    expect_error("{\"experiment\": " EXPERIMENT ", \"cases\": [{\"case\": \"a\", \"set\": 3}]}", true,
                 "cases[0].set", "expected an object");
    expect_error("{\"experiment\": " EXPERIMENT ", \"cases\": [{\"case\": \"a\", \"set\": {\"link.los\": 1}}]}",
                 true, "cases[0] (\"a\"): set: key \"link.los\"", "not a config key");
    expect_error("{\"experiment\": " EXPERIMENT ", \"cases\": [{\"case\": \"a\", \"set\": {\"link.loss\": "
                 "{\"model\": \"none\"}, \"link.loss.p\": 0.2}}]}", true, "cases[0] (\"a\")", "overlap");
    expect_error("{\"experiment\": " EXPERIMENT ", \"cases\": [{\"case\": \"a\", \"set\": {\"link.loss.p\": 0.2}}],"
                 " \"vary\": {\"link.loss\": [{\"model\": \"none\"}]}}", true,
                 "vary key \"link.loss\" is also set by case \"a\"", "not both");
    expect_error("{\"experiment\": {}, \"cases\": [{\"case\": \"a\"}], \"vary\": {\"case\": [1]}}", false,
                 "\"case\" names the cases", "cannot vary");
    /* A point's bad value names the case. */
    expect_error("{\"experiment\": " EXPERIMENT ", \"cases\": [{\"case\": \"bad\", \"set\": {\"link.loss.p\": 2}}]}",
                 true, "point 1 of 1 (case=\"bad\")", "link.loss.p");
}

/* ---- aggregation ------------------------------------------------------- */

static char tmpdir[64];

static void put(const char *job, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/jobs/%s", tmpdir, job);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/jobs/%s/results.csv", tmpdir, job);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void rm_job(const char *job)
{
    char path[256];
    snprintf(path, sizeof path, "%s/jobs/%s/results.csv", tmpdir, job);
    unlink(path);
    snprintf(path, sizeof path, "%s/jobs/%s", tmpdir, job);
    rmdir(path);
}

#define HEAD "name,seed,replications,pub_qos,sub_qos,qos,published,expected,unique,loss_ratio," \
             "latency_p50_ms,loss_ratio_ci_lo,loss_ratio_ci_hi,latency_p50_ms_ci_lo,latency_p50_ms_ci_hi\n"

static void csv_means_and_intervals(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/test_sweep.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char jobs[128];
    snprintf(jobs, sizeof jobs, "%s/jobs", tmpdir);
    assert_int_equal(mkdir(jobs, 0777), 0);

    char err[1024];
    exp_sweep *sw = parse("{\"experiment\": {}, \"replications\": 2,"
                          " \"vary\": {\"a\": [1, 2, \"s,t\"]}}", false, err);
    assert_non_null(sw);
    /* Point 1: rows out of (pub, sub) order; one replication without latency. */
    put("p0001-r00", HEAD "x,1,1,1,1,1,100,100,90,0.1,20,,,,\n"
                          "x,1,1,0,0,0,100,100,50,0.5,,,,,\n");
    put("p0001-r01", HEAD "x,1,1,0,0,0,100,100,70,0.3,10,,,,\n"
                          "x,1,1,1,1,1,100,100,94,0.06,30,,,,\n");
    put("p0002-r00", HEAD "x,1,1,0,0,0,100,100,50,0.5,1,,,,\n");   /* r01 missing */
    put("p0003-r00", HEAD "x,1,1,2,1,1,10,10,10,0,1,,,,\n");
    put("p0003-r01", HEAD "x,1,1,2,1,1,10,10,10,0,1.5,,,,\n");

    char *buf = NULL;
    size_t len = 0, incomplete = 99;
    FILE *out = open_memstream(&buf, &len);
    assert_int_equal(exp_sweep_write_csv(sw, jobs, out, &incomplete, err, sizeof err), 0);
    fclose(out);
    /* Intervals: mean -/+ t(0.975, 1) * sd / sqrt(2), t = 12.7062047362;
     * e.g. loss 0.5, 0.3: 0.4 -/+ 1.27062047362. */
    const char *want =
        "a,replications,pub_qos,sub_qos,qos,published,expected,unique,loss_ratio,latency_p50_ms,"
        "loss_ratio_ci_lo,loss_ratio_ci_hi,latency_p50_ms_ci_lo,latency_p50_ms_ci_hi\n"
        "1,2,0,0,0,100,100,60,0.4,10,-0.870620473617,1.67062047362,,\n"
        "1,2,1,1,1,100,100,92,0.08,25,-0.174124094723,0.334124094723,-38.5310236809,88.5310236809\n"
        "\"s,t\",2,2,1,1,10,10,10,0,1.25,0,0,-1.92655118404,4.42655118404\n";
    assert_string_equal(buf, want);
    assert_int_equal(incomplete, 1);
    free(buf);

    /* An unreadable results.csv is an error naming it. */
    put("p0002-r01", "");
    out = open_memstream(&buf, &len);
    assert_int_equal(exp_sweep_write_csv(sw, jobs, out, NULL, err, sizeof err), -1);
    fclose(out);
    free(buf);
    assert_non_null(strstr(err, "p0002-r01/results.csv"));

    const char *all[] = {"p0001-r00", "p0001-r01", "p0002-r00", "p0002-r01", "p0003-r00", "p0003-r01"};
    for (size_t i = 0; i < 6; i++) rm_job(all[i]);
    rmdir(jobs);
    rmdir(tmpdir);
    exp_sweep_free(sw);
}

/* With no complete point (an empty shard, say), sweep.csv still has a header. */
static void csv_header_without_points(void **state)
{
    (void)state;
    char dir[64] = "/tmp/test_sweep.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char err[1024];
    exp_sweep *sw = parse("{\"experiment\": {}, \"vary\": {\"a\": [1, 2], \"b,c\": [\"x\"]}}", false, err);
    assert_non_null(sw);
    char *buf = NULL;
    size_t len = 0, incomplete = 99;
    FILE *out = open_memstream(&buf, &len);
    assert_int_equal(exp_sweep_write_csv(sw, dir, out, &incomplete, err, sizeof err), 0);
    fclose(out);
    assert_string_equal(buf, "a,\"b,c\",replications,pub_qos,sub_qos,qos\n");
    assert_int_equal(incomplete, 2);
    free(buf);
    rmdir(dir);
    exp_sweep_free(sw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ci95_matches_student_t),
        cmocka_unit_test(ci95_edge_cases),
        cmocka_unit_test(rstat_matches_gsl_two_pass),
        cmocka_unit_test(grid_first_key_varies_slowest),
        cmocka_unit_test(sweep_keys_override_and_select),
        cmocka_unit_test(resolved_sweep_reparses_to_itself),
        cmocka_unit_test(bad_sweeps_are_named),
        cmocka_unit_test(overlapping_vary_keys_are_rejected),
        cmocka_unit_test(cdf_point_compares_values_as_json),
        cmocka_unit_test(shards_deal_points_round_robin),
        cmocka_unit_test(cases_are_the_first_key),
        cmocka_unit_test(bad_cases_are_named),
        cmocka_unit_test(csv_means_and_intervals),
        cmocka_unit_test(csv_header_without_points),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
