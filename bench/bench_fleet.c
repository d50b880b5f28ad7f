/* Fleet benchmark: CPU per message and peak memory against the number of clients, fan-out through the whole simulation, and one pair against the scheduler's hold model. */
#define _DEFAULT_SOURCE /* wait4 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gsl/gsl_randist.h>

#include "bench/bench.h"
#include "models/metrics.h"
#include "models/net.h"
#include "sim/rng.h"
#include "sim/sched.h"

/*
 * Everything runs through mq_net (the host adapter, the engine, the links
 * and the scheduler), as `mqttsim run` does, each case in a child process so
 * that its peak RSS is its own. Times are the child's CPU time (user +
 * system), building the network included.
 *
 * - scaling: N = 10 .. 100,000 pairs, publisher i on "fleet/<i>/temp" and
 *   its own subscriber on the same filter, QoS 1, 10% Bernoulli loss on
 *   every direction, 10 ms delay, 1,000 messages per second in total
 *   (periodic, each publisher at 1000/N Hz), MSGS messages. Figures: CPU
 *   per message, peak RSS, and the ratios of N = 100,000 to N = 10.
 * - idle: 100,000 subscribers with one filter each that nothing publishes
 *   to (one publisher on another topic): the resident memory per idle
 *   client, from the peak RSS against a run of 1,000 such clients.
 * - fan-out: one publisher, QoS 1 to 10,000 subscribers of its topic
 *   against the same to 10: CPU per delivery, and its ratio.
 * - hold: one pair, QoS 1, 10% loss, 10 kHz (the end-to-end bench's shape),
 *   its events per CPU second against the scheduler's hold model (bare
 *   scheduler events with exponential increments) at the pair's mean
 *   pending-set size, in the same process, in turn, best of REPS each.
 *
 * Usage: bench_fleet one N MSGS [bare]: one scaling case in this process,
 * its phases apart, then (unless bare) the hold model at its pending-set
 * size. bench_fleet [MSGS [MAX_N [only]]] (defaults 100000, 100000: the
 * scaling series stops at MAX_N pairs, its last ratio then of MAX_N to 10;
 * a third argument: the scaling series only); bench_fleet idle [QOS
 * [stream|datagram [N [inproc]]]]: the idle case alone (default QoS 1,
 * datagram, 100,000), inproc: one run of N in this process, for massif. Exits 0 whether or not the
 * targets are met: it is a measurement; 1 when a run fails.
 */

#define REPS 3

typedef struct {
    double cpu_s, setup_s;
    double ready_s;          /* CPU time at the first publish (building and setup) */
    uint64_t events_ready;   /* events run by then */
    uint64_t messages, events, delivered, expected;
    double mean_pending;
    long rss_kib;
} result;

/* A case: n_pubs publishers and n_subs subscribers. Publisher i publishes on
 * topic(i); subscriber j subscribes to filter(j). */
typedef struct {
    size_t n_pubs, n_subs;
    double total_hz;
    uint64_t messages;
    double loss;
    int shape; /* 0 pairs, 1 fan-out (every subscriber on "fan/out"), 2 idle */
    uint8_t qos;         /* idle: the subscriptions' and the publisher's QoS (others: 1) */
    mq_transport transport;
} fcase;

/* The publish hook: the CPU time of the first publish (the end of setup). */
typedef struct {
    double t0, at;
} first_pub;

static void on_publish(void *ctx, int64_t t, int client, uint64_t msg_id, uint8_t qos)
{
    (void)t, (void)client, (void)msg_id, (void)qos;
    first_pub *fp = ctx;
    if (fp->at < 0)
        fp->at = bench_cpu_s() - fp->t0;
}

static int run(const fcase *fc, result *r)
{
    double t0 = bench_cpu_s();
    first_pub fp = {t0, -1};
    mq_net_hooks hooks = {.ctx = &fp, .publish = on_publish};
    /* Two entries: the publishers as one group ("p{i}" on topic i), the
     * subscribers as another ("s{i}" on filter i), as a config's `count`
     * groups are: the entries cost the same for 10 clients or 100,000. */
    size_t n = 2;
    mq_net_client c[2];
    mq_sub sub;
    const char *topic = fc->shape == 1 ? "fan/out" : "fleet/{i}/temp";
    for (size_t i = 0; i < 2; i++) {
        bool pub = i == 0;
        c[i] = (mq_net_client){.name = pub ? "p{i}" : "s{i}",
                               .count = (uint32_t)(pub ? fc->n_pubs : fc->n_subs),
                               .publisher = pub, .up = bench_lossy_link(fc->loss),
                               .down = bench_lossy_link(fc->loss), .retry_interval = SIM_MS(200),
                               .max_retries = -1, .keepalive_s = 60,
                               .transport = fc->transport};
        uint8_t qos = fc->shape == 2 ? fc->qos : 1;
        if (pub) {
            c[i].topic = fc->shape == 2 ? "nobody/listens" : topic;
            c[i].qos = qos;
            c[i].rate_hz = fc->total_hz / (double)fc->n_pubs;
            c[i].payload_bytes = 32;
        } else {
            sub = (mq_sub){.filter = topic, .len = (uint16_t)strlen(topic), .qos = qos};
            c[i].subs = &sub;
            c[i].n_subs = 1;
        }
    }
    mq_net_config cfg = {
        .seed = 1, .version = MQ_V311, .drain = SIM_S(600), .setup_timeout = SIM_S(600),
        .max_messages = fc->messages,
        .duration = (int64_t)((double)SIM_S(1) * (double)fc->messages / fc->total_hz) + SIM_S(1),
        .broker = {.role = MQ_ROLE_BROKER, .max_inflight = 0, .max_queued = 0,
                   .retry_interval = SIM_MS(200), .max_retries = -1, .qos2_method = MQ_QOS2_A},
    };
    char err[512];
    mq_metrics *m = mq_metrics_new();
    mq_net *net = m ? mq_net_new(&cfg, c, n, m, &hooks, err, sizeof err) : NULL;
    if (!net) {
        fprintf(stderr, "bench_fleet: %s\n", m ? err : "out of memory");
        return 1;
    }
    r->setup_s = bench_cpu_s() - t0;
    mq_net_stats st;
    if (mq_net_run(net, &st, err, sizeof err) != 0) {
        fprintf(stderr, "bench_fleet: %s\n", err);
        return 1;
    }
    r->cpu_s = bench_cpu_s() - t0;
    r->ready_s = fp.at;
    r->events_ready = st.events_ready;
    mq_group_result g;
    mq_metrics_group(m, 1, 1, &g);
    r->messages = st.messages;
    r->events = st.events;
    r->delivered = g.unique;
    r->expected = g.expected;
    r->mean_pending = st.mean_pending;
    mq_net_free(net);
    mq_metrics_free(m);
    return 0;
}

/* Runs fc in a child; the child reports through a pipe, wait4 gives its RSS. */
static int run_case(const void *ctx, void *out)
{
    result *r = out;
    *r = (result){0};
    return run(ctx, r);
}

static int run_child(const fcase *fc, result *r)
{
    return bench_in_child(run_case, fc, r, sizeof *r, &r->rss_kib);
}

/* ---- the hold model on the scheduler (as bench_sched's kernel side) ---- */

#define INCR_N (1u << 16)
static sim_time incr[INCR_N];

typedef struct {
    uint64_t done, target;
    uint32_t idx;
} hold;

static void hold_cb(sim_sched *s, void *ctx)
{
    hold *h = ctx;
    sim_sched_after(s, incr[h->idx++ & (INCR_N - 1)], hold_cb, h);
    if (++h->done == h->target)
        sim_sched_stop(s);
}

/* The hold model's increments: exponential, mean 1 ms. Returns 0, or 1. */
static int fill_incr(void)
{
    gsl_rng *rng = sim_rng_new(1, 0, "bench_fleet");
    if (!rng)
        return 1;
    for (uint32_t i = 0; i < INCR_N; i++)
        incr[i] = sim_from_ms(gsl_ran_exponential(rng, 1.0));
    gsl_rng_free(rng);
    return 0;
}

/* Hold operations per CPU second with n events pending. */
static double hold_rate(size_t n, uint64_t ops)
{
    sim_sched *s = sim_sched_new();
    hold h = {0, ops, 0};
    for (size_t i = 0; s && i < n; i++)
        if (!sim_sched_at(s, incr[h.idx++ & (INCR_N - 1)], hold_cb, &h))
            s = NULL;
    if (!s) {
        fprintf(stderr, "bench_fleet: out of memory\n");
        exit(1);
    }
    double t0 = bench_cpu_s();
    sim_sched_run(s);
    double dt = bench_cpu_s() - t0;
    sim_sched_free(s);
    return (double)ops / dt;
}

static void print_row(const char *label, const result *r, double per)
{
    printf("%-10s %10" PRIu64 " %10.2f %10.3f %12.2f %10ld %12" PRIu64 " %12" PRIu64 " %8.2f\n",
           label, r->messages, r->cpu_s, r->setup_s, per * 1e6, r->rss_kib, r->delivered,
           r->expected, (double)r->events / (double)r->messages);
    fflush(stdout);
}

/* The idle case: n_large against 1,000 idle subscribers at QoS qos over
 * transport t; prints and returns the bytes per idle client (-1: failed). */
static double idle_case(uint8_t qos, mq_transport t, size_t n_large)
{
    result idle[2];
    fcase small = {1, 1000, 1, 1, 0.0, 2, qos, t}, large = {1, n_large, 1, 1, 0.0, 2, qos, t};
    if (run_child(&small, &idle[0]) || run_child(&large, &idle[1])) {
        fprintf(stderr, "bench_fleet: idle run failed\n");
        return -1;
    }
    double per_idle = (double)(idle[1].rss_kib - idle[0].rss_kib) * 1024.0 / (double)(n_large - 1000);
    printf("idle: %zu subscribers (QoS %u, %s), one filter each, nothing published to them: peak RSS "
           "%ld KiB (1000 of them: %ld KiB): %.0f bytes per idle client (target <= ~2048) %s\n",
           n_large, qos, t == MQ_TRANSPORT_STREAM ? "stream" : "datagram", idle[1].rss_kib,
           idle[0].rss_kib, per_idle, per_idle <= 2048 ? "met" : "NOT met");
    return per_idle;
}

/* One pair against the hold model at its mean pending-set size, best of
 * REPS each, in turn. Returns 0, or 1 on a failure. */
static int hold_case(uint64_t msgs)
{
    if (fill_incr())
        return 1;
    fcase pair = {1, 1, 10000, 10 * msgs, 0.1, 0, 1, MQ_TRANSPORT_DATAGRAM};
    double best_m = 0, best_h = 0;
    result pr = {0};
    for (int rep = 0; rep < REPS; rep++) {
        result x;
        if (run_child(&pair, &x) != 0) {
            fprintf(stderr, "bench_fleet: the pair's run failed\n");
            return 1;
        }
        double em = (double)x.events / x.cpu_s;
        if (em > best_m) {
            best_m = em;
            pr = x;
        }
        double eh = hold_rate((size_t)(x.mean_pending + 1.5), x.events);
        if (eh > best_h)
            best_h = eh;
    }
    printf("one pair, QoS 1, 10%% loss, 10 kHz, %" PRIu64 " messages: %.2f Mevents/s, %.1f events "
           "and %.3f us per message, %.1f events pending on average; hold model at %zu pending: "
           "%.2f Mevents/s (%.3f us per message's events); best of %d, in turn\n",
           pr.messages, best_m / 1e6, (double)pr.events / (double)pr.messages,
           pr.cpu_s * 1e6 / (double)pr.messages, pr.mean_pending,
           (size_t)(pr.mean_pending + 1.5), best_h / 1e6,
           (double)pr.events / (double)pr.messages / best_h * 1e6, REPS);
    printf("one pair / hold model, events per second: %.3f (target >= 0.35) %s\n",
           best_m / best_h, best_m / best_h >= 0.35 ? "met" : "NOT met");
    return 0;
}

static const char *const head = "%-10s %10s %10s %10s %12s %10s %12s %12s %8s\n";

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "idle") == 0) {
        /* bench_fleet idle [QOS [stream [N [inproc]]]]: the idle case alone;
         * with inproc, one run of N idle clients in this process (for
         * valgrind --tool=massif). */
        uint8_t qos = argc > 2 ? (uint8_t)atoi(argv[2]) : 1;
        mq_transport t = argc > 3 && strcmp(argv[3], "stream") == 0 ? MQ_TRANSPORT_STREAM
                                                                      : MQ_TRANSPORT_DATAGRAM;
        size_t n = argc > 4 ? strtoull(argv[4], NULL, 10) : 100000;
        if (argc > 5) {
            fcase fc = {1, n, 1, 1, 0.0, 2, qos, t};
            result r;
            return run(&fc, &r);
        }
        return idle_case(qos, t, n) < 0;
    }

    if (argc > 1 && strcmp(argv[1], "one") == 0) {
        /* bench_fleet one N MSGS [bare]: one case of the scaling series in
         * this process (for perf, cachegrind), its phases apart; then the
         * hold model at its pending-set size, unless bare. */
        size_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 100000;
        uint64_t m = argc > 3 ? strtoull(argv[3], NULL, 10) : 100000;
        fcase fc = {n, n, 1000, m, 0.1, 0, 1, MQ_TRANSPORT_DATAGRAM};
        result r;
        if (run(&fc, &r) != 0)
            return 1;
        printf("N %zu, %" PRIu64 " messages: CPU %.3f s: building %.3f s, setup to the first "
               "publish %.3f s (%" PRIu64 " events), publishing %.3f s (%" PRIu64
               " events): %.3f us and %.2f events per message\n",
               n, r.messages, r.cpu_s, r.setup_s, r.ready_s - r.setup_s, r.events_ready,
               r.cpu_s - r.ready_s, r.events - r.events_ready,
               (r.cpu_s - r.ready_s) * 1e6 / (double)r.messages,
               (double)(r.events - r.events_ready) / (double)r.messages);
        if (argc > 4)
            return 0;
        /* The bare scheduler at this run's pending-set size: what its
         * events would cost with callbacks that do nothing. */
        if (fill_incr())
            return 1;
        size_t pend = (size_t)(r.mean_pending + 0.5);
        double h = hold_rate(pend ? pend : 1, r.events > 1000000 ? r.events : 1000000);
        printf("%.0f events pending on average; hold model at that size: %.1f ns per event, "
               "%.3f us per message's events while publishing\n", r.mean_pending, 1e9 / h,
               (double)(r.events - r.events_ready) / (double)r.messages / h * 1e6);
        return 0;
    }

    uint64_t msgs = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000;
    /* A third argument "hold" runs the one-pair case against the hold model
     * alone; any other runs the scaling series alone. */
    bool hold_only = argc > 3 && strcmp(argv[3], "hold") == 0;
    size_t max_n = argc > 2 ? strtoull(argv[2], NULL, 10) : 100000;
    static const size_t sizes[] = {10, 100, 1000, 10000, 100000};
    int NS = 0;
    while (NS < 5 && sizes[NS] <= max_n)
        NS++;
    if (NS < 1)
        return 1;
    if (hold_only)
        return hold_case(msgs);

    /* scaling */
    printf("scaling: N pairs, QoS 1, 10%% loss each direction, 10 ms delay, 1000 msg/s in total, "
           "%" PRIu64 " messages\n", msgs);
    printf(head, "N", "messages", "cpu_s", "setup_s", "us/message", "rss_kib", "delivered",
           "expected", "ev/msg");
    result sc[5];
    for (int i = 0; i < NS; i++) {
        fcase fc = {sizes[i], sizes[i], 1000, msgs, 0.1, 0, 1, MQ_TRANSPORT_DATAGRAM};
        char label[24];
        snprintf(label, sizeof label, "%zu", sizes[i]);
        if (run_child(&fc, &sc[i]) != 0) {
            fprintf(stderr, "bench_fleet: N = %zu failed\n", sizes[i]);
            return 1;
        }
        print_row(label, &sc[i], sc[i].cpu_s / (double)sc[i].messages);
    }
    double c0 = sc[0].cpu_s / (double)sc[0].messages;
    double c4 = sc[NS - 1].cpu_s / (double)sc[NS - 1].messages;
    printf("N = %zu / N = 10:", sizes[NS - 1]);
    printf(" CPU per message %.2f (target <= 3) %s; peak RSS %.1f "
           "(%.0f MiB; target < 1024 MiB) %s\n", c4 / c0, c4 / c0 <= 3 ? "met" : "NOT met",
           (double)sc[NS - 1].rss_kib / (double)sc[0].rss_kib, (double)sc[NS - 1].rss_kib / 1024,
           sc[NS - 1].rss_kib < 1024 * 1024 ? "met" : "NOT met");

    if (NS == 5) {
        /* The same fleet with 10 messages per pair: the clients' setup
         * (connect and subscribe, each a few packets) spread thinner. */
        result ten;
        fcase fc = {100000, 100000, 1000, 10 * msgs, 0.1, 0, 1, MQ_TRANSPORT_DATAGRAM};
        if (run_child(&fc, &ten) != 0) {
            fprintf(stderr, "bench_fleet: N = 100000, %" PRIu64 " messages failed\n", 10 * msgs);
            return 1;
        }
        print_row("100000", &ten, ten.cpu_s / (double)ten.messages);
        printf("N = 100000 with %" PRIu64 " messages / N = 10: CPU per message %.2f\n", 10 * msgs,
               ten.cpu_s / (double)ten.messages / c0);
        /* Steady state, beside (not instead of) the ratios above: the
         * publishing phase alone (from the first publish, when every client
         * is connected and subscribed, to the end of the drain), and the
         * marginal cost of the 9 x MSGS messages more of the second run. */
        const result *a = &sc[NS - 1];
        double p0 = (sc[0].cpu_s - sc[0].ready_s) / (double)sc[0].messages;
        double pa = (a->cpu_s - a->ready_s) / (double)a->messages;
        double pt = (ten.cpu_s - ten.ready_s) / (double)ten.messages;
        double marg = (ten.cpu_s - a->cpu_s) / (double)(ten.messages - a->messages);
        printf("steady state, N = 100000 / N = 10: CPU per message after setup %.2f (%.2f us) "
               "with %" PRIu64 " messages, %.2f (%.2f us) with %" PRIu64 "; marginal CPU per "
               "message between the two runs %.2f (%.2f us); N = 10 after setup %.2f us; setup "
               "(building and connecting) %.2f s, %.1f events per client\n",
               pa / p0, pa * 1e6, a->messages, pt / p0, pt * 1e6, ten.messages, marg / p0,
               marg * 1e6, p0 * 1e6, ten.ready_s, (double)ten.events_ready / 200000.0);
    }
    if (argc > 3)
        return 0; /* the scaling series only */

    /* idle clients */
    if (idle_case(1, MQ_TRANSPORT_DATAGRAM, 100000) < 0)
        return 1;

    /* fan-out */
    result fo[2];
    fcase f10 = {1, 10, 100, 20000, 0.1, 1, 1, MQ_TRANSPORT_DATAGRAM},
          f10k = {1, 10000, 100, 200, 0.1, 1, 1, MQ_TRANSPORT_DATAGRAM};
    if (run_child(&f10, &fo[0]) || run_child(&f10k, &fo[1])) {
        fprintf(stderr, "bench_fleet: fan-out run failed\n");
        return 1;
    }
    printf("fan-out: one publisher, QoS 1, 10%% loss, 100 msg/s, to 10 and to 10000 subscribers "
           "of its topic\n");
    printf(head, "subs", "messages", "cpu_s", "setup_s", "us/delivery", "rss_kib", "delivered",
           "expected", "ev/msg");
    print_row("10", &fo[0], fo[0].cpu_s / (double)fo[0].expected);
    print_row("10000", &fo[1], fo[1].cpu_s / (double)fo[1].expected);
    printf("fan-out 10000 / 10: CPU per delivery %.2f\n",
           (fo[1].cpu_s / (double)fo[1].expected) / (fo[0].cpu_s / (double)fo[0].expected));

    return hold_case(msgs);
}
