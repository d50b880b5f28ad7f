/* Metrics: group counts and ratios, latency statistics, the CDF, wire attribution. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "models/codec.h"
#include "models/metrics.h"
#include "sim/time.h"

static void group_counts_and_ratios(void **state)
{
    (void)state;
    mq_metrics *m = mq_metrics_new();
    mq_group_result g;
    /* 10 messages to 2 subscribers each in group (1, 2): 20 pairs. */
    for (int i = 0; i < 10; i++)
        mq_metrics_expect(m, 1, 2, 2);
    for (int i = 0; i < 15; i++)
        mq_metrics_delivery(m, 1, 2, true, SIM_MS(20));
    for (int i = 0; i < 3; i++)
        mq_metrics_delivery(m, 1, 2, false, SIM_MS(400));
    mq_metrics_group(m, 1, 2, &g);
    assert_true(g.present);
    assert_int_equal(g.qos, 1);
    assert_int_equal(g.published, 10);
    assert_int_equal(g.expected, 20);
    assert_int_equal(g.unique, 15);
    assert_int_equal(g.duplicates, 3);
    assert_int_equal(g.lost, 5);
    assert_true(g.loss_ratio == 0.25 && g.dup_ratio == 0.15 && g.delivery_ratio == 0.75);
    /* Duplicates do not enter the latency: every first delivery took 20 ms. */
    assert_true(g.lat_mean == 20.0 && g.lat_max == 20.0 && g.lat_p50 == 20.0);
    mq_metrics_group(m, 0, 0, &g);
    assert_false(g.present);
    assert_true(isnan(g.loss_ratio) && isnan(g.lat_mean));
    mq_metrics_free(m);
}

/* The CDF is exact at the points it gives: each point's fraction is the share
 * of samples at or below its latency. */
static void cdf_is_exact_at_its_points(void **state)
{
    (void)state;
    mq_metrics *m = mq_metrics_new();
    double lat[] = {0, 20, 20, 20.5, 21, 220, 220, 420, 5000, 5000};
    size_t n = sizeof lat / sizeof lat[0];
    for (size_t i = 0; i < n; i++)
        mq_metrics_delivery(m, 2, 2, true, sim_from_ms(lat[i]));
    double ms[64], frac[64];
    size_t k = mq_metrics_cdf(m, 2, 2, ms, frac, 64);
    assert_true(k >= 5);
    for (size_t j = 0; j < k; j++) {
        size_t below = 0;
        for (size_t i = 0; i < n; i++)
            below += lat[i] <= ms[j];
        assert_true(fabs(frac[j] - (double)below / (double)n) < 1e-12);
        if (j)
            assert_true(ms[j] > ms[j - 1] && frac[j] > frac[j - 1]);
    }
    assert_true(ms[0] == 0 && ms[k - 1] == 5000 && frac[k - 1] == 1.0);
    mq_metrics_free(m);
}

/* Wire counts are kept per packet type and per flow QoS (PUBACK counts at 1,
 * PUBREC/PUBREL/PUBCOMP at 2, a PUBLISH at its own QoS, CONNECT as control);
 * a group's cost per delivered message is its attributed share over its
 * unique deliveries. */
static void wire_attribution(void **state)
{
    (void)state;
    mq_metrics *m = mq_metrics_new();
    mq_group_result g;
    assert_int_equal(mq_metrics_flow_of(MQ_PUBLISH, 2), 2);
    assert_int_equal(mq_metrics_flow_of(MQ_PUBACK, 0), 1);
    assert_int_equal(mq_metrics_flow_of(MQ_PUBREL, 0), 2);
    assert_int_equal(mq_metrics_flow_of(MQ_CONNECT, 0), MQ_FLOW_CONTROL);
    mq_metrics_wire(m, MQ_PUBLISH, 1, 40, false);
    mq_metrics_wire(m, MQ_PUBLISH, 1, 40, true);
    mq_metrics_wire(m, MQ_PUBACK, 0, 4, false);
    mq_metrics_wire(m, MQ_CONNECT, 0, 20, false);
    assert_int_equal(mq_metrics_wire_by_type(m, MQ_PUBLISH)->packets, 2);
    assert_int_equal(mq_metrics_wire_by_type(m, MQ_PUBLISH)->resends, 1);
    assert_int_equal(mq_metrics_wire_by_flow(m, 1)->bytes, 84);
    assert_int_equal(mq_metrics_wire_by_flow(m, MQ_FLOW_CONTROL)->bytes, 20);

    mq_metrics_expect(m, 1, 1, 2);
    mq_metrics_delivery(m, 1, 1, true, 0);
    mq_metrics_delivery(m, 1, 1, true, 0);
    mq_metrics_wire_group(m, 1, 1, 0.5, 40, false);
    mq_metrics_wire_group(m, 1, 1, 1.0, 40, true);
    mq_metrics_wire_group(m, 1, 1, 1.0, 4, false);
    mq_metrics_group(m, 1, 1, &g);
    assert_true(g.wire_packets_per_delivered == 1.25);  /* 2.5 packets, 2 deliveries */
    assert_true(g.wire_bytes_per_delivered == 32.0);    /* (20 + 40 + 4) / 2 */
    assert_true(g.resends == 1.0);
    mq_metrics_free(m);
}

/* Quantiles are exact when each latency value has a bin of its own, as with
 * the retry-interval steps of constant-delay links. */
static void quantiles_exact_on_discrete_latencies(void **state)
{
    (void)state;
    mq_metrics *m = mq_metrics_new();
    mq_group_result g;
    /* 90.25% at 20 ms, 8% at 220 ms (98.25% in all), 1.75% at 420 ms:
     * p50 = p90 = 20, p99 = 420. */
    for (int i = 0; i < 9025; i++)
        mq_metrics_delivery(m, 1, 1, true, SIM_MS(20));
    for (int i = 0; i < 800; i++)
        mq_metrics_delivery(m, 1, 1, true, SIM_MS(220));
    for (int i = 0; i < 175; i++)
        mq_metrics_delivery(m, 1, 1, true, SIM_MS(420));
    mq_metrics_group(m, 1, 1, &g);
    assert_true(g.lat_p50 == 20.0);
    assert_true(g.lat_p90 == 20.0);
    assert_true(g.lat_p99 == 420.0);
    assert_true(g.lat_max == 420.0);
    mq_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(group_counts_and_ratios),
        cmocka_unit_test(cdf_is_exact_at_its_points),
        cmocka_unit_test(wire_attribution),
        cmocka_unit_test(quantiles_exact_on_discrete_latencies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
