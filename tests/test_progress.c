/* The sweep's progress bar: what it shows, and an ETA that counts down between finished jobs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/progress.h"

static char *drawn(const exp_progress *pr, double now)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    exp_progress_draw(f, pr, now);
    fclose(f);
    return buf;
}

/* 10 jobs, 2 of them done before the start, 8 to run over 4 points. */
static void bar_shows_jobs_points_and_times(void **state)
{
    (void)state;
    exp_progress pr;
    exp_progress_start(&pr, 100, 10, 2, 5, 1, 8);
    char *s = drawn(&pr, 103);
    assert_string_equal(s, "\r[#####.......................] 2/10 jobs, 1/5 points, 00:03 elapsed, ETA --:--\033[K");
    free(s);
    /* One job in 10 s: 10 s per job, 7 left, 70 s. */
    exp_progress_job(&pr, 110, true);
    s = drawn(&pr, 110);
    assert_string_equal(s, "\r[########....................] 3/10 jobs, 2/5 points, 00:10 elapsed, ETA 01:10\033[K");
    free(s);
}

/* The old estimate, elapsed / finished * left taken at every redraw, grew
 * while no job finished: 70 s at 110, 105 s at 115. Now it counts down from
 * the estimate of the last finished job, and is re-estimated at the next. */
static void eta_counts_down_between_jobs(void **state)
{
    (void)state;
    exp_progress pr;
    exp_progress_start(&pr, 100, 8, 0, 4, 0, 8);
    assert_true(exp_progress_eta(&pr, 105) < 0);
    exp_progress_job(&pr, 110, false);
    assert_true(exp_progress_eta(&pr, 110) == 70);
    double last = 70;
    for (double t = 110.5; t < 120; t += 0.5) {
        double eta = exp_progress_eta(&pr, t);
        assert_true(eta <= last);
        assert_true(eta == 70 - (t - 110));
        last = eta;
    }
    /* Two jobs in 20 s: 60 s for the 6 left. */
    exp_progress_job(&pr, 120, true);
    assert_true(exp_progress_eta(&pr, 120) == 60);
    /* An estimate outlived shows 0, not a negative time. */
    assert_true(exp_progress_eta(&pr, 500) == 0);
    for (int i = 0; i < 6; i++) exp_progress_job(&pr, 130 + i, i % 2 == 1);
    assert_true(exp_progress_eta(&pr, 136) == 0);
    assert_int_equal(pr.done, 8);
    assert_int_equal(pr.pts_done, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bar_shows_jobs_points_and_times),
        cmocka_unit_test(eta_counts_down_between_jobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
