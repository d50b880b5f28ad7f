/* Tests of the delivery tally of real runs: groups, duplicates, order, expectations, and what it refuses to hide. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "experiments/tally.h"

#define ID(prefix, seq) ((uint64_t)(prefix) << 32 | (seq))

/* Two publishers (QoS 1 on a/1, QoS 2 on b/1), two subscribers (a/# at 2
 * and b/+ at 0; + at 1). Every figure follows from the deliveries given. */
static void groups_duplicates_order_expectations(void **state)
{
    (void)state;
    exp_tally *t = exp_tally_new();
    mq_metrics *m = mq_metrics_new();
    uint32_t pa = exp_tally_prefix("pa"), pb = exp_tally_prefix("pb");
    int a = exp_tally_add_publisher(t, pa, "a/1", 1);
    int b = exp_tally_add_publisher(t, pb, "b/1", 2);
    assert_int_equal(exp_tally_add_publisher(t, pa, "x", 0), -2); /* prefix taken */
    mq_sub s0[] = {{"a/#", 3, 2}};
    mq_sub s1[] = {{"b/+", 3, 0}, {"+/1", 3, 1}};
    int x = exp_tally_add_subscriber(t, s0, 1), y = exp_tally_add_subscriber(t, s1, 2);
    exp_tally_set_published(t, a, 4);
    exp_tally_set_published(t, b, 3);
    /* x gets a's 1, 3, 2 (2 late: out of order), 3 again (duplicate); 4 lost. */
    assert_int_equal(exp_tally_delivery(t, m, x, ID(pa, 1), 1, 5000000), EXP_TALLY_FIRST);
    assert_int_equal(exp_tally_delivery(t, m, x, ID(pa, 3), 1, 7000000), EXP_TALLY_FIRST);
    assert_int_equal(exp_tally_delivery(t, m, x, ID(pa, 2), 1, 9000000), EXP_TALLY_FIRST);
    assert_int_equal(exp_tally_delivery(t, m, x, ID(pa, 3), 1, 1000000), EXP_TALLY_DUP);
    /* y gets a's 1..4 at sub QoS 1 (+/1), and b's 1..3 at sub QoS 1 (the
     * higher of b/+ at 0 and +/1 at 1), one of them at a wrong QoS. */
    for (uint32_t k = 1; k <= 4; k++)
        assert_int_equal(exp_tally_delivery(t, m, y, ID(pa, k), 1, 2000000), EXP_TALLY_FIRST);
    assert_int_equal(exp_tally_delivery(t, m, y, ID(pb, 1), 1, 3000000), EXP_TALLY_FIRST);
    assert_int_equal(exp_tally_delivery(t, m, y, ID(pb, 2), 2, 3000000), EXP_TALLY_FIRST);
    /* x has no filter for b/1; an unknown prefix; sequence 0. */
    assert_int_equal(exp_tally_delivery(t, m, x, ID(pb, 1), 2, 1), EXP_TALLY_UNMATCHED);
    assert_int_equal(exp_tally_delivery(t, m, x, ID(12345, 1), 2, 1), EXP_TALLY_UNKNOWN);
    assert_int_equal(exp_tally_delivery(t, m, x, ID(pa, 0), 2, 1), EXP_TALLY_UNKNOWN);
    /* A large sequence number grows the bitmap. */
    assert_int_equal(exp_tally_delivery(t, m, x, ID(pa, 100000), 1, 1000000), EXP_TALLY_FIRST);
    exp_tally_expect(t, m);

    mq_group_result g;
    mq_metrics_group(m, 1, 2, &g); /* a -> x */
    assert_int_equal(g.published, 4);
    assert_int_equal(g.expected, 4);
    assert_int_equal(g.unique, 4); /* 1, 2, 3 and 100000 */
    assert_int_equal(g.duplicates, 1);
    assert_true(g.lat_max > 9.0 - 1e-9 && g.lat_max < 9.0 + 1e-9);
    assert_int_equal(g.out_of_order, 1); /* in the metrics too, for results.json */
    mq_metrics_group(m, 1, 1, &g); /* a -> y */
    assert_int_equal(g.out_of_order, 0);
    assert_int_equal(g.expected, 4);
    assert_int_equal(g.unique, 4);
    assert_int_equal(g.lost, 0);
    mq_metrics_group(m, 2, 1, &g); /* b -> y */
    assert_int_equal(g.published, 3);
    assert_int_equal(g.expected, 3);
    assert_int_equal(g.unique, 2);
    assert_int_equal(g.lost, 1);
    mq_metrics_group(m, 2, 0, &g);
    assert_false(g.present);
    exp_tally_extra e;
    exp_tally_extra_get(t, &e);
    assert_int_equal(e.out_of_order[1][2], 1);
    assert_int_equal(e.out_of_order[1][1], 0);
    assert_int_equal(e.qos_mismatch[2][1], 1);
    assert_int_equal(e.qos_mismatch[1][2], 0);
    assert_int_equal(e.unmatched, 1);
    assert_int_equal(e.unknown, 2);
    assert_int_equal(exp_tally_sub_qos(t, y, "b/1", 3), 1);
    assert_int_equal(exp_tally_sub_qos(t, x, "b/1", 3), -1);
    mq_metrics_free(m);
    exp_tally_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(groups_duplicates_order_expectations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
