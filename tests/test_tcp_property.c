/* TCP model invariants over many random scenarios (fixed seed): streams byte for byte, the wire, completion, statistics, nothing left. */
#include "tests/tcp_property.h"

#include <stdio.h>

/* The scenarios and what they check: tests/tcp_property.h. */

#define SCENARIOS 1000

static void random_scenarios_keep_the_invariants(void **state)
{
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    assert_non_null(r);
    gsl_rng_set(r, 20261203);
    for (int k = 0; k < SCENARIOS; k++) {
        if (k % 10 == 0) { /* the same choices give the same segments */
            gsl_rng *again = gsl_rng_clone(r);
            assert_non_null(again);
            uint64_t h = tcp_scenario(r);
            assert_true(tcp_scenario(again) == h);
            gsl_rng_free(again);
        } else {
            tcp_scenario(r);
        }
    }
    gsl_rng_free(r);
    const tp_totals *t = &tp_total;
    printf("    %zu scenarios: %zu connections (%zu established, %zu refused, %zu SYN timeouts, "
           "%zu resets, %zu aborts, %zu FINs, %zu checked complete), %llu bytes delivered, "
           "%llu segments (%llu lost, %llu retransmitted, %llu RTO expiries, %llu fast "
           "retransmits)\n",
           t->scenarios, t->conns, t->established, t->refused, t->syn_timeouts, t->resets,
           t->aborts, t->peer_closed, t->complete, (unsigned long long)t->bytes,
           (unsigned long long)t->segments, (unsigned long long)t->lost,
           (unsigned long long)t->retransmissions, (unsigned long long)t->rto_expiries,
           (unsigned long long)t->fast_retransmits);
    /* The scenarios must have exercised what they check. */
    assert_true(t->complete > 100 && t->refused > 10 && t->syn_timeouts > 10);
    assert_true(t->resets > 50 && t->aborts > 10 && t->peer_closed > 100);
    assert_true(t->rto_expiries > 1000 && t->fast_retransmits > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_scenarios_keep_the_invariants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
