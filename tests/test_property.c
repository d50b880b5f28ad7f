/* Engine invariants over many small random scenarios (fixed seed): identifiers, PUBREL, references, exactly-once. */
#include "tests/property.h"

/* The scenarios and what they check: tests/property.h. */

#define SCENARIOS 400

static void random_scenarios_keep_the_invariants(void **state)
{
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    assert_non_null(r);
    gsl_rng_set(r, 20240611);
    for (int k = 0; k < SCENARIOS; k++)
        one_scenario(r, k);
    gsl_rng_free(r);
    printf("    %zu scenarios (%zu over streams): %zu messages published, %zu deliveries "
           "(%zu flagged DUP), %zu resends, %zu packets lost, %zu ends told of a break\n",
           totals.scenarios, totals.stream, totals.published, totals.got, totals.dup_got,
           totals.resends, totals.lost, totals.breaks);
    /* The scenarios must have exercised what they check. */
    assert_true(totals.resends > 100 && totals.breaks > 100 && totals.lost > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_scenarios_keep_the_invariants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
