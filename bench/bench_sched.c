/* Hold-model benchmark: the scheduler through its public API against a bare binary heap of (time, seq) pairs. */
#define _DEFAULT_SOURCE /* wait4, for bench/bench.h */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <gsl/gsl_randist.h>

#include "bench/bench.h"
#include "sim/rng.h"
#include "sim/sched.h"

/*
 * The classic hold model: N events pending; each hold operation removes the
 * earliest and inserts one at its time + exponential(mean 1 ms). Both sides
 * use the same precomputed increments in the same order (filling first, then
 * one per hold), so they pop exactly the same times; a checksum of the popped
 * times proves it. Only the hold operations are timed; each measurement is
 * repeated REPS times with kernel and bare taking turns going first, and the
 * best time of each counts, so the shared machine's noise hits both alike.
 *
 * Usage: bench_sched [HOLD_OPS]   (default 3e6 hold operations per N and rep)
 * Exits 0 whether or not the targets are met: it is a measurement.
 */

#define INCR_BITS 18
#define INCR_N    (1u << INCR_BITS)
#define REPS      5

static sim_time incr[INCR_N];

/* ---- the kernel ---- */

typedef struct {
    uint64_t done, target;
    uint32_t idx;
    uint64_t sum; /* of popped times */
} hold;

static void hold_cb(sim_sched *s, void *ctx)
{
    hold *h = ctx;
    h->sum += (uint64_t)sim_sched_now(s);
    sim_sched_after(s, incr[h->idx++ & (INCR_N - 1)], hold_cb, h);
    if (++h->done == h->target)
        sim_sched_stop(s);
}

static double run_kernel(size_t n, uint64_t ops, uint64_t *sum, double *bytes_per)
{
    sim_sched *s = sim_sched_new();
    if (!s) {
        fprintf(stderr, "bench_sched: out of memory\n");
        exit(1);
    }
    hold h = {0, ops, 0, 0};
    for (size_t i = 0; i < n; i++)
        if (!sim_sched_at(s, incr[h.idx++ & (INCR_N - 1)], hold_cb, &h)) {
            fprintf(stderr, "bench_sched: out of memory\n");
            exit(1);
        }
    *bytes_per = (double)sim_sched_bytes(s) / (double)sim_sched_pending(s);
    double t0 = bench_wall_s();
    sim_sched_run(s);
    double dt = bench_wall_s() - t0;
    *sum = h.sum;
    sim_sched_free(s);
    return dt;
}

/* ---- the bare binary heap ---- */

typedef struct {
    int64_t t;
    uint64_t seq;
} pair;

static inline int pair_less(pair a, pair b)
{
    return a.t < b.t || (a.t == b.t && a.seq < b.seq);
}

static inline void bare_push(pair *h, size_t *n, pair x)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!pair_less(x, h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static inline pair bare_pop(pair *h, size_t *n)
{
    pair top = h[0], x = h[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m)
            break;
        if (c + 1 < m && pair_less(h[c + 1], h[c]))
            c++;
        if (!pair_less(h[c], x))
            break;
        h[i] = h[c];
        i = c;
    }
    if (m > 0)
        h[i] = x;
    return top;
}

static double run_bare(size_t n, uint64_t ops, uint64_t *sum)
{
    pair *h = malloc((n + 1) * sizeof *h);
    if (!h) {
        fprintf(stderr, "bench_sched: out of memory\n");
        exit(1);
    }
    size_t len = 0;
    uint64_t seq = 0;
    uint32_t idx = 0;
    for (size_t i = 0; i < n; i++)
        bare_push(h, &len, (pair){incr[idx++ & (INCR_N - 1)], seq++});
    uint64_t acc = 0;
    double t0 = bench_wall_s();
    for (uint64_t k = 0; k < ops; k++) {
        pair e = bare_pop(h, &len);
        acc += (uint64_t)e.t;
        bare_push(h, &len, (pair){e.t + incr[idx++ & (INCR_N - 1)], seq++});
    }
    double dt = bench_wall_s() - t0;
    *sum = acc;
    free(h);
    return dt;
}

int main(int argc, char **argv)
{
    uint64_t ops = argc > 1 ? strtoull(argv[1], NULL, 10) : 3000000;
    static const size_t sizes[] = {1000, 100000, 1000000};
    enum { NS = sizeof sizes / sizeof sizes[0] };

    gsl_rng *r = sim_rng_new(1, 0, "bench_sched");
    if (!r)
        return 1;
    for (uint32_t i = 0; i < INCR_N; i++)
        incr[i] = sim_from_ms(gsl_ran_exponential(r, 1.0));
    gsl_rng_free(r);

    double best_k[NS], best_b[NS], bytes_per[NS];
    int same[NS];
    for (int i = 0; i < NS; i++) {
        best_k[i] = best_b[i] = 1e300;
        same[i] = 1;
    }
    for (int rep = 0; rep < REPS; rep++) {
        for (int i = 0; i < NS; i++) {
            uint64_t sk, sb;
            double tk, tb;
            if (rep % 2 == 0) {
                tk = run_kernel(sizes[i], ops, &sk, &bytes_per[i]);
                tb = run_bare(sizes[i], ops, &sb);
            } else {
                tb = run_bare(sizes[i], ops, &sb);
                tk = run_kernel(sizes[i], ops, &sk, &bytes_per[i]);
            }
            same[i] &= sk == sb;
            if (tk < best_k[i])
                best_k[i] = tk;
            if (tb < best_b[i])
                best_b[i] = tb;
        }
    }

    int met = 1;
    printf("hold model: %" PRIu64 " hold operations per N, exponential(1 ms) increments, best of %d\n",
           ops, REPS);
    for (int i = 0; i < NS; i++) {
        double ek = ops / best_k[i], eb = ops / best_b[i], ratio = ek / eb;
        printf("N=%-8zu kernel %6.2f Mevents/s  bare heap %6.2f Mevents/s  ratio %.3f  "
               "%.1f bytes/pending event  same pops: %s\n",
               sizes[i], ek / 1e6, eb / 1e6, ratio, bytes_per[i], same[i] ? "yes" : "NO");
        met &= ratio >= 0.7 && bytes_per[i] <= 64 && same[i];
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS %ld KiB\n", ru.ru_maxrss);
    printf("targets (ratio >= 0.7, <= 64 bytes/pending event at every N): %s\n",
           met ? "met" : "NOT met");
    return 0;
}
