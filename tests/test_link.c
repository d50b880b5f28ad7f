/* Link tests: loss models against theory, serialisation, ordering, draw order, release, determinism. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "sim/link.h"
#include "sim/rng.h"

#define F(k) ((void *)(intptr_t)((k) + 1)) /* frame k as an opaque pointer */
#define K(f) ((size_t)((intptr_t)(f) - 1))

/* Records every delivery. */
typedef struct {
    sim_sched *s;
    size_t n, cap;
    size_t *id;
    sim_time *at;
    size_t *bytes;
    sim_link *echo_on; /* when set, frame 0's delivery sends frame 1000 on it */
} sink;

static void sink_init(sink *k, sim_sched *s, size_t cap)
{
    memset(k, 0, sizeof *k);
    k->s = s;
    k->cap = cap;
    k->id = calloc(cap, sizeof *k->id);
    k->at = calloc(cap, sizeof *k->at);
    k->bytes = calloc(cap, sizeof *k->bytes);
    assert_true(k->id && k->at && k->bytes);
}

static void sink_done(sink *k)
{
    free(k->id);
    free(k->at);
    free(k->bytes);
}

static void sink_fn(void *ctx, void *frame, size_t bytes)
{
    sink *k = ctx;
    assert_true(k->n < k->cap);
    k->id[k->n] = K(frame);
    k->at[k->n] = sim_sched_now(k->s);
    k->bytes[k->n] = bytes;
    k->n++;
    if (k->echo_on && K(frame) == 0)
        assert_int_equal(sim_link_send(k->echo_on, F(1000), 10), 1);
}

static sim_link_params params(sim_loss loss, sim_dist delay, uint64_t bps, bool reorder)
{
    return (sim_link_params){loss, delay, bps, reorder};
}

static const sim_loss NO_LOSS = {SIM_LOSS_NONE, 0, 0, 0, 0, 0};

static sim_loss bernoulli(double p) { return (sim_loss){SIM_LOSS_BERNOULLI, p, 0, 0, 0, 0}; }

static sim_loss gilbert(double p_gb, double p_bg, double lg, double lb)
{
    return (sim_loss){SIM_LOSS_GILBERT_ELLIOTT, 0, p_gb, p_bg, lg, lb};
}

static sim_dist constant_ms(double ms) { return (sim_dist){SIM_DIST_CONSTANT, ms, 0}; }

/* Sends n frames at time 0 (running the queue every 1000 to keep it small)
 * and stores whether each was lost. */
static void send_many(sim_link *l, sim_sched *s, size_t n, unsigned char *lost)
{
    for (size_t i = 0; i < n; i++) {
        int rc = sim_link_send(l, F(i), 100);
        assert_true(rc == 0 || rc == 1);
        lost[i] = rc == 0;
        if (i % 1000 == 999)
            sim_sched_run(s);
    }
    sim_sched_run(s);
}

static void loss_rate_formula(void **state)
{
    (void)state;
    sim_loss none = NO_LOSS, b = bernoulli(0.2);
    sim_loss g = gilbert(0.05, 0.25, 0.01, 0.5), frozen = gilbert(0, 0, 0.03, 0.9);
    assert_true(sim_loss_rate(&none) == 0);
    assert_true(sim_loss_rate(&b) == 0.2);
    assert_true(fabs(sim_loss_rate(&g) - (5.0 / 6 * 0.01 + 1.0 / 6 * 0.5)) < 1e-15);
    assert_true(sim_loss_rate(&frozen) == 0.03);
}

/* Bernoulli(p): the loss count of n frames is Binomial(n, p), the rate's
 * standard error sqrt(p(1-p)/n) = 0.00089 for n = 2e5, p = 0.2; we allow 5.
 * The counters must add up exactly. */
static void bernoulli_rate_and_counters(void **state)
{
    (void)state;
    enum { N = 200000 };
    sim_sched *s = sim_sched_new();
    gsl_rng *r = sim_rng_new(1, 0, "bernoulli");
    sink k;
    sink_init(&k, s, N);
    sim_link_params p = params(bernoulli(0.2), constant_ms(1), 0, false);
    sim_link *l = sim_link_new(s, &p, r, sink_fn, &k);
    unsigned char *lost = malloc(N);
    send_many(l, s, N, lost);
    const sim_link_stats *st = sim_link_stats_get(l);
    assert_int_equal(st->frames_sent, N);
    assert_int_equal(st->bytes_sent, 100 * (uint64_t)N);
    assert_int_equal(st->frames_lost + st->frames_delivered, N);
    assert_int_equal(st->bytes_lost, 100 * st->frames_lost);
    assert_int_equal(st->bytes_delivered, 100 * st->frames_delivered);
    assert_int_equal(k.n, st->frames_delivered);
    assert_int_equal(sim_link_in_transit(l), 0);
    size_t nl = 0;
    for (size_t i = 0; i < N; i++)
        nl += lost[i];
    assert_int_equal(nl, st->frames_lost);
    double rate = (double)nl / N, se = sqrt(0.2 * 0.8 / N);
    assert_true(fabs(rate - 0.2) < 5 * se);
    free(lost);
    sink_done(&k);
    sim_link_free(l);
    gsl_rng_free(r);
    sim_sched_free(s);
}

/*
 * Gilbert-Elliott stationary loss rate. With the chain S_t stepped before
 * each frame's loss draw, the frame's loss indicator Y_t has
 * E[Y_t | S_t] = l(S_t), so E[Y] = pi_G l_G + pi_B l_B =: r with
 * pi_B = p_gb/(p_gb+p_bg). The Y_t are correlated through the chain: for
 * k >= 1, Cov(Y_0, Y_k) = Cov(l(S_0), l(S_k)) = (l_B-l_G)^2 pi_B pi_G lam^k
 * with lam = 1 - p_gb - p_bg, the chain's second eigenvalue. The variance of
 * the mean of n frames is therefore
 *   (1/n) [ r(1-r) + 2 (l_B-l_G)^2 pi_B pi_G lam/(1-lam) ],
 * here (0.0833 + 0.1556)/n: an inflation of 2.9 over the independent case.
 * For n = 2e5 the standard error is 0.0011; we allow 5. Starting in the good
 * state biases the mean by at most |l_G - r|/((1-lam) n) = 1.4e-6: negligible.
 */
static void gilbert_elliott_stationary_rate(void **state)
{
    (void)state;
    enum { N = 200000 };
    const double p_gb = 0.05, p_bg = 0.25, lg = 0.01, lb = 0.5;
    sim_sched *s = sim_sched_new();
    gsl_rng *r = sim_rng_new(1, 0, "ge-rate");
    sink k;
    sink_init(&k, s, N);
    sim_loss g = gilbert(p_gb, p_bg, lg, lb);
    sim_link_params p = params(g, constant_ms(1), 0, false);
    sim_link *l = sim_link_new(s, &p, r, sink_fn, &k);
    unsigned char *lost = malloc(N);
    send_many(l, s, N, lost);
    double pb = p_gb / (p_gb + p_bg), pg = 1 - pb, lam = 1 - p_gb - p_bg;
    double rate_th = sim_loss_rate(&g);
    double v = rate_th * (1 - rate_th) + 2 * (lb - lg) * (lb - lg) * pb * pg * lam / (1 - lam);
    double se = sqrt(v / N);
    double rate = (double)sim_link_stats_get(l)->frames_lost / N;
    if (fabs(rate - rate_th) > 5 * se)
        fail_msg("loss rate %.5f, theory %.5f, se %.5f", rate, rate_th, se);
    free(lost);
    sink_done(&k);
    sim_link_free(l);
    gsl_rng_free(r);
    sim_sched_free(s);
}

/*
 * Burst lengths. With loss_good = 0 and loss_bad = 1 a frame is lost exactly
 * when the chain is bad, so a run of consecutive losses is a sojourn in B:
 * by the Markov property the sojourns are i.i.d. geometric with
 * P(leave) = p_bg per frame: mean 1/p_bg, variance (1-p_bg)/p_bg^2. Likewise
 * runs of deliveries have mean 1/p_gb, variance (1-p_gb)/p_gb^2. The runs
 * are independent, so the mean of K runs has standard error sd/sqrt(K), no
 * inflation. Here p_gb = 0.02, p_bg = 0.2, n = 2e5: about
 * n pi_B p_bg = 3600 bursts, mean 5 (se 0.074) and gaps of mean 50 (se 0.82);
 * we allow 5 se. The last run, cut off by the end, is left out.
 */
static void gilbert_elliott_burst_length(void **state)
{
    (void)state;
    enum { N = 200000 };
    const double p_gb = 0.02, p_bg = 0.2;
    sim_sched *s = sim_sched_new();
    gsl_rng *r = sim_rng_new(1, 0, "ge-burst");
    sink k;
    sink_init(&k, s, N);
    sim_link_params p = params(gilbert(p_gb, p_bg, 0, 1), constant_ms(1), 0, false);
    sim_link *l = sim_link_new(s, &p, r, sink_fn, &k);
    unsigned char *lost = malloc(N);
    send_many(l, s, N, lost);
    double sum[2] = {0, 0};
    size_t runs[2] = {0, 0}, len = 1;
    for (size_t i = 1; i < N; i++) {
        if (lost[i] == lost[i - 1]) {
            len++;
            continue;
        }
        sum[lost[i - 1]] += (double)len;
        runs[lost[i - 1]]++;
        len = 1;
    }
    double mean_burst = sum[1] / runs[1], mean_gap = sum[0] / runs[0];
    double se_burst = sqrt((1 - p_bg) / (p_bg * p_bg) / runs[1]);
    double se_gap = sqrt((1 - p_gb) / (p_gb * p_gb) / runs[0]);
    assert_true(runs[1] > 3000);
    if (fabs(mean_burst - 1 / p_bg) > 5 * se_burst || fabs(mean_gap - 1 / p_gb) > 5 * se_gap)
        fail_msg("burst %.3f (theory %.3f, se %.3f), gap %.3f (theory %.3f, se %.3f)", mean_burst,
                 1 / p_bg, se_burst, mean_gap, 1 / p_gb, se_gap);
    free(lost);
    sink_done(&k);
    sim_link_free(l);
    gsl_rng_free(r);
    sim_sched_free(s);
}

/*
 * The documented draw order, replayed exactly: per frame two uniforms
 * (u_state, u_loss), then one delay sample, lost or not; then
 * arrive = max(now, busy_until) + serialisation + delay, held back behind
 * the previous arrival when reorder is off. A replica of the link's stream
 * predicts every frame's fate and arrival time to the nanosecond.
 */
static void replay_draw_order(bool reorder, sim_loss loss)
{
    enum { N = 5000 };
    const uint64_t bps = 1000000; /* 300-byte frames: 2.4 ms each */
    sim_sched *s = sim_sched_new();
    gsl_rng *r = sim_rng_new(5, 1, "replay"), *twin = sim_rng_new(5, 1, "replay");
    sink k;
    sink_init(&k, s, N);
    sim_dist delay = {SIM_DIST_UNIFORM, 0, 50};
    sim_link_params p = params(loss, delay, bps, reorder);
    sim_link *l = sim_link_new(s, &p, r, sink_fn, &k);
    sim_time *want = malloc(N * sizeof *want);
    sim_time busy = 0, last = 0;
    size_t delivered = 0;
    int bad = 0;
    for (size_t i = 0; i < N; i++) {
        sim_time now = (sim_time)i * SIM_MS(2); /* a little faster than the line */
        sim_sched_run_until(s, now);
        double u_state = gsl_rng_uniform(twin), u_loss = gsl_rng_uniform(twin);
        int lost;
        if (loss.kind == SIM_LOSS_BERNOULLI) {
            lost = u_loss < loss.p;
        } else { /* Gilbert-Elliott: transition first, then the new state's loss */
            bad = bad ? !(u_state < loss.p_bg) : u_state < loss.p_gb;
            lost = u_loss < (bad ? loss.loss_bad : loss.loss_good);
        }
        sim_time d = sim_dist_sample(&delay, twin);
        busy = (now > busy ? now : busy) + SIM_US(2400);
        sim_time a = busy + d;
        if (!reorder && a < last)
            a = last;
        if (!lost && !reorder)
            last = a;
        want[i] = lost ? -1 : a;
        delivered += !lost;
        assert_int_equal(sim_link_send(l, F(i), 300), !lost);
    }
    sim_sched_run(s);
    assert_int_equal(k.n, delivered);
    for (size_t j = 0; j < k.n; j++) {
        assert_int_not_equal(want[k.id[j]], -1);
        assert_int_equal(k.at[j], want[k.id[j]]);
        assert_int_equal(k.bytes[j], 300);
    }
    free(want);
    sink_done(&k);
    sim_link_free(l);
    gsl_rng_free(r);
    gsl_rng_free(twin);
    sim_sched_free(s);
}

static void draw_order_fifo(void **state)
{
    (void)state;
    replay_draw_order(false, bernoulli(0.1));
    replay_draw_order(false, gilbert(0.1, 0.3, 0.05, 0.7));
}

static void draw_order_reorder(void **state)
{
    (void)state;
    replay_draw_order(true, bernoulli(0.1));
    replay_draw_order(true, gilbert(0.1, 0.3, 0.05, 0.7));
}

/* Heavy jitter (0..100 ms) against 1 ms spacing: with reorder off the frames
 * arrive in send order at nondecreasing times; with it on, many overtake. */
static void ordering_under_jitter(void **state)
{
    (void)state;
    enum { N = 5000 };
    for (int reorder = 0; reorder <= 1; reorder++) {
        sim_sched *s = sim_sched_new();
        gsl_rng *r = sim_rng_new(1, 0, "jitter");
        sink k;
        sink_init(&k, s, N);
        sim_link_params p = params(NO_LOSS, (sim_dist){SIM_DIST_UNIFORM, 0, 100}, 0, reorder);
        sim_link *l = sim_link_new(s, &p, r, sink_fn, &k);
        for (size_t i = 0; i < N; i++) {
            sim_sched_run_until(s, (sim_time)i * SIM_MS(1));
            assert_int_equal(sim_link_send(l, F(i), 50), 1);
        }
        sim_sched_run(s);
        assert_int_equal(k.n, N);
        size_t inversions = 0;
        unsigned char *seen = calloc(N, 1);
        for (size_t j = 0; j < N; j++) {
            assert_int_equal(seen[k.id[j]], 0);
            seen[k.id[j]] = 1;
            sim_time lat = k.at[j] - (sim_time)k.id[j] * SIM_MS(1);
            assert_true(lat >= 0);
            if (reorder)
                assert_true(lat <= SIM_MS(100));
            if (j > 0) {
                assert_true(k.at[j] >= k.at[j - 1]);
                inversions += k.id[j] < k.id[j - 1];
            }
        }
        if (!reorder) {
            for (size_t j = 0; j < N; j++)
                assert_int_equal(k.id[j], j);
        } else {
            assert_true(inversions > N / 4);
        }
        free(seen);
        sink_done(&k);
        sim_link_free(l);
        gsl_rng_free(r);
        sim_sched_free(s);
    }
}

/* 1000-byte frames at 8 Mbit/s take exactly 1 ms each: a burst of ten sent
 * at once arrives at exact multiples (plus the 5 ms delay); lost frames
 * still take their turn on the line; an idle line starts afresh. */
static void serialisation_is_exact(void **state)
{
    (void)state;
    for (int lossy = 0; lossy <= 1; lossy++) {
        sim_sched *s = sim_sched_new();
        gsl_rng *r = sim_rng_new(1, 0, "serialise");
        sink k;
        sink_init(&k, s, 64);
        sim_link_params p = params(lossy ? bernoulli(0.5) : NO_LOSS, constant_ms(5), 8000000, false);
        sim_link *l = sim_link_new(s, &p, r, sink_fn, &k);
        int sent_ok = 0;
        for (size_t i = 0; i < 20; i++)
            sent_ok += sim_link_send(l, F(i), 1000);
        sim_sched_run_until(s, SIM_MS(100));
        sent_ok += sim_link_send(l, F(20), 1000);
        sent_ok += sim_link_send(l, F(21), 1000);
        sim_sched_run(s);
        const sim_link_stats *st = sim_link_stats_get(l);
        assert_int_equal(k.n, st->frames_delivered);
        for (size_t j = 0; j < k.n; j++) {
            size_t i = k.id[j];
            if (i < 20)
                assert_int_equal(k.at[j], SIM_MS(i + 1) + SIM_MS(5));
            else /* sent at 100 ms on an idle line (frame 21 queues behind 20) */
                assert_int_equal(k.at[j], SIM_MS(100) + SIM_MS(i - 19) + SIM_MS(5));
        }
        assert_int_equal(st->frames_sent, 22);
        assert_int_equal(k.n, sent_ok);
        if (!lossy)
            assert_int_equal(sent_ok, 22);
        else
            assert_true(sent_ok > 0 && sent_ok < 20); /* fixed seed: some of each */
        assert_int_equal(st->bytes_sent, 1000 * st->frames_sent);
        sink_done(&k);
        sim_link_free(l);
        gsl_rng_free(r);
        sim_sched_free(s);
    }
}

/* bytes*8e9/bps nanoseconds, rounded half up, exact for large products. */
static void serialisation_rounding(void **state)
{
    (void)state;
    static const struct {
        size_t bytes;
        uint64_t bps;
        sim_time ns;
    } c[] = {
        {1, 3, 2666666667},                 /* 2666666666.67 */
        {1, 16000000000ULL, 1},             /* 0.5: half up */
        {1, 17000000000ULL, 0},             /* 0.47 */
        {1500, 1000000000, 12000},
        {1000000000, 1000000000, SIM_S(8)}, /* 8e18 before dividing: no overflow */
        {1000000000, 1, 8000000000000000000LL}, /* 8e18 ns: near the int64 limit */
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        sim_sched *s = sim_sched_new();
        gsl_rng *r = sim_rng_new(1, 0, "rounding");
        sink k;
        sink_init(&k, s, 1);
        sim_link_params p = params(NO_LOSS, constant_ms(0), c[i].bps, false);
        sim_link *l = sim_link_new(s, &p, r, sink_fn, &k);
        assert_int_equal(sim_link_send(l, F(0), c[i].bytes), 1);
        sim_sched_run(s);
        assert_int_equal(k.n, 1);
        assert_int_equal(k.at[0], c[i].ns);
        sink_done(&k);
        sim_link_free(l);
        gsl_rng_free(r);
        sim_sched_free(s);
    }
}

/* Common random numbers: the same stream under different loss settings gives
 * every frame the same delay, and a frame lost at p = 0.1 is lost at 0.3. */
static void loss_settings_keep_streams_aligned(void **state)
{
    (void)state;
    enum { N = 3000 };
    sim_loss models[] = {NO_LOSS, bernoulli(0.1), bernoulli(0.3), gilbert(0.1, 0.3, 0, 0.8)};
    enum { M = sizeof models / sizeof models[0] };
    sim_time *at[M];
    for (int m = 0; m < M; m++) {
        sim_sched *s = sim_sched_new();
        gsl_rng *r = sim_rng_new(9, 0, "crn");
        sink k;
        sink_init(&k, s, N);
        sim_link_params p = params(models[m], (sim_dist){SIM_DIST_EXPONENTIAL, 10, 0}, 0, true);
        sim_link *l = sim_link_new(s, &p, r, sink_fn, &k);
        for (size_t i = 0; i < N; i++)
            sim_link_send(l, F(i), 10);
        sim_sched_run(s);
        at[m] = malloc(N * sizeof **at);
        for (size_t i = 0; i < N; i++)
            at[m][i] = -1;
        for (size_t j = 0; j < k.n; j++)
            at[m][k.id[j]] = k.at[j];
        sink_done(&k);
        sim_link_free(l);
        gsl_rng_free(r);
        sim_sched_free(s);
    }
    size_t lost1 = 0, lost3 = 0;
    for (size_t i = 0; i < N; i++) {
        assert_int_not_equal(at[0][i], -1); /* no loss: all delivered */
        for (int m = 1; m < M; m++)
            if (at[m][i] != -1)
                assert_int_equal(at[m][i], at[0][i]);
        if (at[1][i] == -1)
            assert_int_equal(at[2][i], -1);
        lost1 += at[1][i] == -1;
        lost3 += at[2][i] == -1;
    }
    assert_true(lost1 > 0 && lost3 > lost1);
    for (int m = 0; m < M; m++)
        free(at[m]);
}

/* The FIFO ring wraps around and then grows; order survives, and a delivery
 * callback may send on the link that delivers to it. */
static void fifo_ring_wraps_and_grows(void **state)
{
    (void)state;
    sim_sched *s = sim_sched_new();
    gsl_rng *r = sim_rng_new(1, 0, "ring");
    sink k;
    sink_init(&k, s, 64);
    sim_link_params p = params(NO_LOSS, constant_ms(1), 0, false);
    sim_link *l = sim_link_new(s, &p, r, sink_fn, &k);
    for (size_t i = 100; i < 112; i++)
        sim_link_send(l, F(i), 1);
    sim_sched_run_until(s, SIM_MS(1));
    assert_int_equal(k.n, 12);
    k.echo_on = l;
    sim_link_send(l, F(0), 1);
    for (size_t i = 1; i < 30; i++) /* the ring (16) wraps, then grows */
        sim_link_send(l, F(i), 1);
    assert_int_equal(sim_link_in_transit(l), 30);
    sim_sched_run(s);
    assert_int_equal(k.n, 12 + 31);
    for (size_t j = 0; j < 30; j++) {
        assert_int_equal(k.id[12 + j], j);
        assert_int_equal(k.at[12 + j], SIM_MS(2));
    }
    assert_int_equal(k.id[42], 1000); /* sent from frame 0's delivery */
    assert_int_equal(k.at[42], SIM_MS(3));
    sink_done(&k);
    sim_link_free(l);
    gsl_rng_free(r);
    sim_sched_free(s);
}

typedef struct {
    size_t n;
    size_t id[1000];
} bag;

/* Frames on a FIFO link keep the place in the (time, seq) order that a
 * separate event scheduled at send time would have: equal-time events
 * scheduled between two sends run between the two deliveries. And however
 * many frames are in flight, the scheduler holds one heap entry for them. */
typedef struct {
    sim_sched *s;
    char order[16];
    size_t n;
} tie_log;

static tie_log tl;

static void tie_event(sim_sched *s, void *ctx)
{
    (void)s;
    tl.order[tl.n++] = (char)(intptr_t)ctx;
}

static void tie_frame(void *ctx, void *frame, size_t bytes)
{
    (void)ctx;
    (void)bytes;
    tl.order[tl.n++] = (char)('0' + K(frame));
}

static void fifo_frames_tie_by_send_order(void **state)
{
    (void)state;
    sim_sched *s = sim_sched_new();
    gsl_rng *r = sim_rng_new(1, 0, "tie");
    sim_link_params p = params(NO_LOSS, constant_ms(10), 0, false);
    sim_link *l = sim_link_new(s, &p, r, tie_frame, NULL);
    assert_non_null(l);
    memset(&tl, 0, sizeof tl);
    sim_sched_at(s, SIM_MS(10), tie_event, (void *)(intptr_t)'A');
    assert_int_equal(sim_link_send(l, F(0), 10), 1);
    sim_sched_at(s, SIM_MS(10), tie_event, (void *)(intptr_t)'B');
    assert_int_equal(sim_link_send(l, F(1), 10), 1);
    assert_int_equal(sim_link_send(l, F(2), 10), 1);
    sim_sched_at(s, SIM_MS(10), tie_event, (void *)(intptr_t)'C');
    sim_sched_at(s, SIM_MS(9), tie_event, (void *)(intptr_t)'D');
    assert_int_equal(sim_sched_pending(s), 7);
    assert_int_equal(sim_sched_run(s), 7);
    assert_string_equal(tl.order, "DA0B12C");

    /* 5,000 frames in flight: the scheduler does not grow for them */
    size_t bytes = sim_sched_bytes(s);
    for (size_t i = 0; i < 5000; i++)
        assert_int_equal(sim_link_send(l, F(i % 10), 10), 1);
    assert_int_equal(sim_sched_pending(s), 5000);
    assert_int_equal(sim_sched_bytes(s), bytes);
    sim_link_release(l, NULL, NULL);
    assert_int_equal(sim_sched_pending(s), 0);
    sim_link_free(l);
    gsl_rng_free(r);
    sim_sched_free(s);
}

static void bag_fn(void *ctx, void *frame)
{
    bag *b = ctx;
    b->id[b->n++] = K(frame);
}

/* Release hands back exactly the frames in transit, in send order, and
 * cancels their deliveries; free does the same silently. */
static void release_and_free_in_transit(void **state)
{
    (void)state;
    for (int reorder = 0; reorder <= 1; reorder++) {
        sim_sched *s = sim_sched_new();
        gsl_rng *r = sim_rng_new(1, 0, "release");
        sink k;
        sink_init(&k, s, 1000);
        sim_link_params p = params(bernoulli(0.2), (sim_dist){SIM_DIST_UNIFORM, 1, 20}, 0, reorder);
        sim_link *l = sim_link_new(s, &p, r, sink_fn, &k);
        unsigned char fate[400] = {0}; /* 1 lost, 2 delivered, 3 released */
        size_t sent = 0;
        for (size_t i = 0; i < 400; i++) {
            sim_sched_run_until(s, (sim_time)i * SIM_US(50));
            fate[i] = sim_link_send(l, F(i), 10) ? 0 : 1;
            sent += !fate[i];
        }
        sim_sched_run_until(s, SIM_MS(25));
        for (size_t j = 0; j < k.n; j++)
            fate[k.id[j]] = 2;
        assert_int_equal(sim_link_in_transit(l), sent - k.n);
        assert_int_equal(sim_sched_pending(s), sent - k.n);
        assert_true(k.n > 0 && sent > k.n);
        bag b = {0, {0}};
        sim_link_release(l, bag_fn, &b);
        assert_int_equal(b.n, sent - k.n);
        for (size_t j = 0; j < b.n; j++) {
            assert_int_equal(fate[b.id[j]], 0);
            fate[b.id[j]] = 3;
            if (j > 0)
                assert_true(b.id[j] > b.id[j - 1]);
        }
        for (size_t i = 0; i < 400; i++)
            assert_int_not_equal(fate[i], 0);
        assert_int_equal(sim_link_in_transit(l), 0);
        assert_int_equal(sim_sched_pending(s), 0);
        size_t delivered = k.n;
        assert_int_equal(sim_sched_run(s), 0);
        assert_int_equal(k.n, delivered);
        /* the link still works after a release */
        for (size_t i = 0; i < 50; i++)
            sim_link_send(l, F(500 + i), 10);
        size_t in_transit = sim_link_in_transit(l);
        assert_true(in_transit > 0);
        sim_link_free(l); /* with frames in transit: their events go too */
        assert_int_equal(sim_sched_pending(s), 0);
        assert_int_equal(sim_sched_run(s), 0);
        assert_int_equal(k.n, delivered);
        sink_done(&k);
        gsl_rng_free(r);
        sim_sched_free(s);
    }
}

/*
 * Determinism of a whole run: frames ping-pong between two ends over two
 * link directions (one FIFO with bandwidth, one reordering), each with its
 * own named stream, and every delivery (time, frame, hop, direction) is
 * hashed. The same seed must give the same hash and counters; another seed
 * a different hash.
 */
typedef struct {
    sim_sched *s;
    sim_link *ab, *ba;
    uint64_t hash;
    uint64_t deliveries;
    int hops[200];
} pingpong;

static void mix(uint64_t *h, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        *h ^= (v >> (8 * i)) & 0xff;
        *h *= 0x100000001b3ULL;
    }
}

static void pp_at(pingpong *pp, void *frame, int dir)
{
    size_t f = K(frame);
    mix(&pp->hash, (uint64_t)sim_sched_now(pp->s));
    mix(&pp->hash, f);
    mix(&pp->hash, (uint64_t)pp->hops[f]);
    mix(&pp->hash, (uint64_t)dir);
    pp->deliveries++;
    if (++pp->hops[f] < 30) {
        sim_link *out = dir ? pp->ab : pp->ba;
        while (sim_link_send(out, frame, 40 + f) == 0) /* resend until it goes */
            ;
    }
}

static void pp_at_b(void *ctx, void *frame, size_t bytes)
{
    (void)bytes;
    pp_at(ctx, frame, 0);
}

static void pp_at_a(void *ctx, void *frame, size_t bytes)
{
    (void)bytes;
    pp_at(ctx, frame, 1);
}

static void pp_run(uint64_t seed, uint64_t *hash, uint64_t *deliveries, uint64_t *lost)
{
    pingpong pp;
    memset(&pp, 0, sizeof pp);
    pp.hash = 0xcbf29ce484222325ULL;
    pp.s = sim_sched_new();
    gsl_rng *rab = sim_rng_new(seed, 0, "a2b"), *rba = sim_rng_new(seed, 0, "b2a");
    sim_link_params pab = params(gilbert(0.05, 0.3, 0.01, 0.6),
                                 (sim_dist){SIM_DIST_LOGNORMAL, 20, 10}, 2000000, false);
    sim_link_params pba = params(bernoulli(0.1), (sim_dist){SIM_DIST_NORMAL, 15, 10}, 0, true);
    pp.ab = sim_link_new(pp.s, &pab, rab, pp_at_b, &pp);
    pp.ba = sim_link_new(pp.s, &pba, rba, pp_at_a, &pp);
    for (size_t f = 0; f < 200; f++) {
        sim_sched_run_until(pp.s, (sim_time)f * SIM_US(300));
        sim_link_send(pp.ab, F(f), 40 + f);
    }
    sim_sched_run(pp.s);
    *hash = pp.hash;
    *deliveries = pp.deliveries;
    *lost = sim_link_stats_get(pp.ab)->frames_lost + sim_link_stats_get(pp.ba)->frames_lost;
    sim_link_free(pp.ab);
    sim_link_free(pp.ba);
    gsl_rng_free(rab);
    gsl_rng_free(rba);
    sim_sched_free(pp.s);
}

static void same_seed_same_run(void **state)
{
    (void)state;
    uint64_t h1, h2, h3, d1, d2, d3, l1, l2, l3;
    pp_run(1, &h1, &d1, &l1);
    pp_run(1, &h2, &d2, &l2);
    pp_run(2, &h3, &d3, &l3);
    assert_true(h1 == h2);
    assert_int_equal(d1, d2);
    assert_int_equal(l1, l2);
    assert_true(l1 > 0);
    assert_true(h1 != h3);
}

/* ---- Outages ---- */

/* Sends frame i at time i ms (i < n) with constant 5 ms delay and no loss,
 * returning 1/0 per frame in sent[]. */
static void send_each_ms(sim_link *l, sim_sched *s, size_t n, int *sent)
{
    for (size_t i = 0; i < n; i++) {
        sim_sched_run_until(s, SIM_MS(i));
        sent[i] = sim_link_send(l, F(i), 100);
        assert_true(sent[i] == 0 || sent[i] == 1);
    }
}

/* Scheduled windows: a frame sent at t is lost iff start <= t < end;
 * overlapping and touching windows merge; empty windows add nothing; frames
 * already in transit when a window opens still arrive; the statistics count
 * merged windows and clip them at now. */
static void scheduled_outages_lose_frames_sent_inside(void **state)
{
    (void)state;
    sim_sched *s = sim_sched_new();
    gsl_rng *r = sim_rng_new(1, 0, "out");
    sink k;
    sink_init(&k, s, 200);
    sim_link_params p = params(NO_LOSS, constant_ms(5), 0, false);
    sim_link *l = sim_link_new(s, &p, r, sink_fn, &k);
    /* [10,20) and [15,25) overlap -> [10,25); [25,30) touches it -> [10,30);
     * [50,50) is empty; [60,70) is added before [40,45) (out of order). */
    assert_int_equal(sim_link_add_outage(l, SIM_MS(10), SIM_MS(20)), 0);
    assert_int_equal(sim_link_add_outage(l, SIM_MS(60), SIM_MS(70)), 0);
    assert_int_equal(sim_link_add_outage(l, SIM_MS(15), SIM_MS(25)), 0);
    assert_int_equal(sim_link_add_outage(l, SIM_MS(25), SIM_MS(30)), 0);
    assert_int_equal(sim_link_add_outage(l, SIM_MS(50), SIM_MS(50)), 0);
    assert_int_equal(sim_link_add_outage(l, SIM_MS(40), SIM_MS(45)), 0);
    assert_int_equal(sim_link_add_outage(l, SIM_MS(62), SIM_MS(64)), 0); /* inside [60,70) */
    int sent[100];
    send_each_ms(l, s, 100, sent);
    sim_sched_run(s);
    size_t lost = 0;
    for (size_t i = 0; i < 100; i++) {
        bool down = (i >= 10 && i < 30) || (i >= 40 && i < 45) || (i >= 60 && i < 70);
        assert_int_equal(sent[i], down ? 0 : 1);
        lost += down;
    }
    /* frame 9 was sent at 9 ms, in transit when the window opened at 10 ms */
    assert_int_equal(k.id[9], 9);
    assert_int_equal(k.at[9], SIM_MS(14));
    assert_int_equal(k.n, 100 - lost);
    const sim_link_stats *st = sim_link_stats_get(l);
    assert_int_equal(st->frames_lost, lost);
    assert_int_equal(st->frames_sent, 100);
    sim_link_outage_stats os;
    sim_sched_run_until(s, SIM_MS(65)); /* no-op: now is already 104 ms */
    sim_link_outage_stats_get(l, &os);
    assert_int_equal(os.outages, 3);
    assert_int_equal(os.down_ns, SIM_MS(20 + 5 + 10));
    assert_int_equal(os.frames_lost, lost);
    assert_int_equal(os.bytes_lost, lost * 100);
    assert_int_equal(os.forced, 0);
    sink_done(&k);
    sim_link_free(l);
    gsl_rng_free(r);
    sim_sched_free(s);

    /* Statistics clip a window that is still open at now, and ignore one
     * that has not begun. */
    s = sim_sched_new();
    r = sim_rng_new(1, 0, "out");
    sink_init(&k, s, 10);
    l = sim_link_new(s, &p, r, sink_fn, &k);
    assert_int_equal(sim_link_add_outage(l, SIM_S(1), SIM_S(3)), 0);
    assert_int_equal(sim_link_add_outage(l, SIM_S(5), SIM_S(6)), 0);
    sim_sched_run_until(s, SIM_MS(2500));
    sim_link_outage_stats_get(l, &os);
    assert_int_equal(os.outages, 1);
    assert_int_equal(os.down_ns, SIM_MS(1500));
    assert_true(sim_link_is_down(l));
    sim_sched_run_until(s, SIM_S(3));
    assert_false(sim_link_is_down(l)); /* windows are half-open */
    sink_done(&k);
    sim_link_free(l);
    gsl_rng_free(r);
    sim_sched_free(s);
}

/* Random outages drawn up to a first frame long after the start keep only
 * the window still open (found by the config fuzzer: mtbf 1 ns and mttr
 * 100 ns kept every window drawn, 2 GB by t = 13 s; here 2 s held some 2e7
 * of them, 320 MB): the passed ones go straight into the totals, which
 * still say how much of the time the link was down. */
static long peak_rss_kib(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

static void random_outages_keep_only_open_windows(void **state)
{
    (void)state;
    sim_sched *s = sim_sched_new();
    gsl_rng *r = sim_rng_new(1, 0, "fast");
    gsl_rng *ro = sim_rng_new(1, 0, "fast.outages");
    sink k;
    sink_init(&k, s, 10);
    sim_link_params p = params(bernoulli(0), (sim_dist){SIM_DIST_CONSTANT, 1, 0}, 0, false);
    sim_link *l = sim_link_new(s, &p, r, sink_fn, &k);
    sim_link_random_outages(l, 1, 100, ro);
    long before = peak_rss_kib();
    sim_sched_run_until(s, SIM_S(2));
    (void)sim_link_send(l, F(0), 100);
    long grew = peak_rss_kib() - before;
    sim_link_outage_stats os;
    sim_link_outage_stats_get(l, &os);
    print_message("    %llu windows, down %.4f of the time, peak RSS grew %ld KiB\n",
                  (unsigned long long)os.outages, (double)os.down_ns / SIM_S(2), grew);
    assert_true(grew < 32 * 1024);
    /* 2 s / 101 ns windows, each down 100 of its 101 ns (the mean). */
    assert_true(fabs((double)os.outages / (2e9 / 101) - 1) < 0.01);
    assert_true(fabs((double)os.down_ns / SIM_S(2) - 100.0 / 101) < 0.001);
    sim_sched_run(s);
    sink_done(&k);
    sim_link_free(l);
    gsl_rng_free(r);
    gsl_rng_free(ro);
    sim_sched_free(s);
}

/* Adding outages never shifts the link stream: with and without windows (and
 * with random outages from another stream), every frame sent outside the
 * outages has the same fate and arrival time, for Bernoulli and
 * Gilbert-Elliott loss, FIFO and reordering, and the link stream ends in the
 * same state. */
static void outages_keep_link_draws(void **state)
{
    (void)state;
    enum { N = 2000 };
    sim_loss models[] = {bernoulli(0.2), gilbert(0.1, 0.3, 0.05, 0.7)};
    for (int m = 0; m < 2; m++) {
        for (int reorder = 0; reorder <= 1; reorder++) {
            sim_time at[3][N];
            int fate[3][N];
            unsigned long next[3];
            bool was_down[3][N];
            for (int v = 0; v < 3; v++) { /* none, scheduled, random */
                sim_sched *s = sim_sched_new();
                gsl_rng *r = sim_rng_new(5, 0, "draws");
                gsl_rng *ro = sim_rng_new(5, 0, "draws.outages");
                sink k;
                sink_init(&k, s, N);
                sim_link_params p = params(models[m], (sim_dist){SIM_DIST_EXPONENTIAL, 3, 0},
                                           1000000, reorder);
                sim_link *l = sim_link_new(s, &p, r, sink_fn, &k);
                if (v == 1)
                    for (int w = 0; w < 10; w++)
                        assert_int_equal(sim_link_add_outage(l, SIM_MS(100 * w + 7),
                                                             SIM_MS(100 * w + 37)), 0);
                if (v == 2)
                    sim_link_random_outages(l, SIM_MS(50), SIM_MS(20), ro);
                for (size_t i = 0; i < N; i++) {
                    sim_sched_run_until(s, (sim_time)i * SIM_US(500));
                    was_down[v][i] = sim_link_is_down(l);
                    fate[v][i] = sim_link_send(l, F(i), 100);
                    at[v][i] = -1;
                }
                sim_sched_run(s);
                for (size_t j = 0; j < k.n; j++)
                    at[v][k.id[j]] = k.at[j];
                next[v] = gsl_rng_get(r);
                sink_done(&k);
                sim_link_free(l);
                gsl_rng_free(r);
                gsl_rng_free(ro);
                sim_sched_free(s);
            }
            assert_true(next[0] == next[1] && next[0] == next[2]);
            for (int v = 1; v < 3; v++) {
                size_t downs = 0;
                for (size_t i = 0; i < N; i++) {
                    if (was_down[v][i]) {
                        assert_int_equal(fate[v][i], 0);
                        downs++;
                        continue;
                    }
                    assert_int_equal(fate[v][i], fate[0][i]);
                    if (reorder) /* FIFO arrivals depend on earlier frames' */
                        assert_int_equal(at[v][i], at[0][i]);
                }
                assert_true(downs > 100 && downs < N - 100);
            }
            for (size_t i = 0; i < N; i++)
                assert_false(was_down[0][i]);
        }
    }
}

/*
 * Random outages against the renewal process they define. Up periods are
 * exponential with mean U = mtbf, down periods with mean D = mttr, so one
 * cycle has mean mu = U + D and variance U^2 + D^2. Over T = 20000 mu the
 * number of outages n is about T/mu with SE sqrt(T (U^2+D^2)/mu^3) (renewal
 * CLT); the mean outage length down_ns/n estimates D with SE D/sqrt(n). A
 * frame sent at a uniformly spread time is lost with probability D/mu; with
 * frames 1 ms apart (much shorter than a cycle) the per-frame indicators are
 * correlated within a period, so the check uses the exact stats instead: the
 * fraction of frames lost must match down_ns/T within the discretisation
 * (at most 1 ms per window edge: 2 n ms over T). The windows do not depend
 * on when (or whether) frames are sent: a link that only queries its
 * statistics at the end gets the same count and down time.
 */
static void random_outages_match_renewal_theory(void **state)
{
    (void)state;
    const double U = 500, D = 100, mu = U + D; /* ms */
    const sim_time T = SIM_MS(20000 * 600);
    sim_link_outage_stats os[2];
    uint64_t frames_lost = 0, frames = 0;
    for (int v = 0; v < 2; v++) {
        sim_sched *s = sim_sched_new();
        gsl_rng *r = sim_rng_new(3, 0, "l");
        gsl_rng *ro = sim_rng_new(3, 0, "l.outages");
        sim_link_params p = params(NO_LOSS, constant_ms(0), 0, false);
        sim_link *l = sim_link_new(s, &p, r, sink_fn, NULL);
        sim_link_random_outages(l, SIM_MS(U), SIM_MS(D), ro);
        if (v == 0) {
            for (sim_time t = 0; t < T; t += SIM_MS(1)) {
                sim_sched_run_until(s, t);
                frames_lost += sim_link_is_down(l);
                frames++;
            }
        }
        sim_sched_run_until(s, T);
        sim_link_outage_stats_get(l, &os[v]);
        sim_link_free(l);
        gsl_rng_free(r);
        gsl_rng_free(ro);
        sim_sched_free(s);
    }
    assert_int_equal(os[0].outages, os[1].outages);
    assert_int_equal(os[0].down_ns, os[1].down_ns);
    double n = (double)os[0].outages, Tm = sim_to_ms(T);
    double se_n = sqrt(Tm * (U * U + D * D) / (mu * mu * mu));
    assert_true(fabs(n - Tm / mu) < 4 * se_n);
    double mean_down = sim_to_ms(os[0].down_ns) / n;
    assert_true(fabs(mean_down - D) < 4 * D / sqrt(n));
    double frac = (double)frames_lost / (double)frames;
    assert_true(fabs(frac - sim_to_ms(os[0].down_ns) / Tm) <= 2 * n / Tm);
}

/* The host switch: frames sent while down are lost; the statistics count
 * each down period and its length, including one still in force. */
static void forced_down_and_up(void **state)
{
    (void)state;
    sim_sched *s = sim_sched_new();
    gsl_rng *r = sim_rng_new(1, 0, "f");
    sink k;
    sink_init(&k, s, 10);
    sim_link_params p = params(NO_LOSS, constant_ms(1), 0, false);
    sim_link *l = sim_link_new(s, &p, r, sink_fn, &k);
    assert_int_equal(sim_link_send(l, F(0), 10), 1);
    sim_link_set_down(l, true);
    sim_link_set_down(l, true); /* idempotent */
    assert_int_equal(sim_link_send(l, F(1), 10), 0);
    sim_sched_run_until(s, SIM_MS(10));
    sim_link_set_down(l, false);
    assert_int_equal(sim_link_send(l, F(2), 10), 1);
    sim_sched_run_until(s, SIM_MS(30));
    sim_link_set_down(l, true);
    sim_sched_run_until(s, SIM_MS(35));
    sim_link_outage_stats os;
    sim_link_outage_stats_get(l, &os);
    assert_int_equal(os.forced, 2);
    assert_int_equal(os.forced_ns, SIM_MS(15));
    assert_int_equal(os.outages, 0);
    assert_int_equal(os.frames_lost, 1);
    sim_sched_run(s);
    assert_int_equal(k.n, 2);
    assert_int_equal(k.at[0], SIM_MS(1)); /* sent before the switch: delivered */
    sink_done(&k);
    sim_link_free(l);
    gsl_rng_free(r);
    sim_sched_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loss_rate_formula),
        cmocka_unit_test(bernoulli_rate_and_counters),
        cmocka_unit_test(gilbert_elliott_stationary_rate),
        cmocka_unit_test(gilbert_elliott_burst_length),
        cmocka_unit_test(draw_order_fifo),
        cmocka_unit_test(draw_order_reorder),
        cmocka_unit_test(ordering_under_jitter),
        cmocka_unit_test(serialisation_is_exact),
        cmocka_unit_test(serialisation_rounding),
        cmocka_unit_test(loss_settings_keep_streams_aligned),
        cmocka_unit_test(fifo_ring_wraps_and_grows),
        cmocka_unit_test(fifo_frames_tie_by_send_order),
        cmocka_unit_test(release_and_free_in_transit),
        cmocka_unit_test(same_seed_same_run),
        cmocka_unit_test(scheduled_outages_lose_frames_sent_inside),
        cmocka_unit_test(outages_keep_link_draws),
        cmocka_unit_test(random_outages_keep_only_open_windows),
        cmocka_unit_test(random_outages_match_renewal_theory),
        cmocka_unit_test(forced_down_and_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
