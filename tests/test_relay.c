/* Relay tests over socketpairs: the simulator's loss stream replayed exactly, delays never early, serialisation, outages. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "experiments/relay.h"
#include "sim/rng.h"
#include "sim/sched.h"

/*
 * Each test forks a relay over one pair: the test holds ends A (the client's
 * side) and B (the broker's side) of two SOCK_SEQPACKET socketpairs, the relay
 * the other ends. A packet written on A travels "up" and is read on B; one
 * written on B travels "down" to A. Every packet carries its sequence number
 * and the CLOCK_MONOTONIC time it was written.
 *
 * Timing checks have two sides. "Never early" is exact: the relay reads a
 * packet no earlier than it was written and writes it no earlier than its
 * arrival time, so a packet written at w arrives at or after w + delay (+
 * serialisation). "Not too late" depends on the machine's load: the bound is
 * SLACK, 5 ms, about one scheduler time slice on a busy 2-core machine;
 * testbed.json reports the slippage actually measured. A loaded machine can
 * still stall the relay or the test longer than that, now and then: so each
 * timing test is a trial that asserts the exact properties every time and
 * returns whether the load-dependent ones held, and it is tried up to TRIES
 * times, passing when one trial met them all (a relay that is slow every time
 * still fails).
 */
#define SLACK SIM_MS(5)
#define TRIES 3
#define SEED 7
#define REP 0

typedef struct {
    uint64_t seq;
    int64_t sent;
    unsigned char pad[1024];
} msg;

/* Real-time priorities as the testbed gives its relay and its hosts (the test
 * process plays the hosts), so that a loaded machine delays neither; where
 * SCHED_FIFO is not allowed the tests run as they are, and TRIES absorbs an
 * unlucky stall. */
#define RT_PRIO_RELAY 10
#define RT_PRIO_HOSTS 5

static void set_fifo(int prio)
{
    struct sched_param sp = {.sched_priority = prio};
    (void)sched_setscheduler(0, SCHED_FIFO, &sp);
}

typedef struct {
    int a, b;             /* the test's ends */
    pid_t pid;
    exp_relay_report *rep;
    int64_t t0;
} rig;

static void rig_start(rig *g, sim_link_params up, sim_link_params down, const exp_sched *out_up)
{
    int sa[2], sb[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sa), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sb), 0);
    g->a = sa[0];
    g->b = sb[0];
    g->rep = exp_relay_shared_new(1);
    assert_non_null(g->rep);
    g->t0 = exp_relay_mono_ns();
    g->pid = fork();
    assert_true(g->pid >= 0);
    if (g->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test must leave no relay */
        set_fifo(RT_PRIO_RELAY);
        close(sa[0]);
        close(sb[0]);
        exp_relay_pair p = {.name = "c0.0", .fd_client = sa[1], .fd_broker = sb[1],
                            .up = up, .down = down, .outages_up = out_up};
        char err[256];
        exp_relay *r = exp_relay_new(&p, 1, SEED, REP, g->rep, err, sizeof err);
        if (!r)
            fprintf(stderr, "%s\n", err);
        int rc = r ? exp_relay_run(r, g->t0, -1) : -1;
        exp_relay_free(r);
        _exit(rc ? 1 : 0);
    }
    close(sa[1]);
    close(sb[1]);
    int st;
    while (exp_relay_state(g->rep) == 0 && waitpid(g->pid, &st, WNOHANG) == 0)
        usleep(1000);
    assert_int_equal(exp_relay_state(g->rep), 1);
}

static void rig_stop(rig *g)
{
    int st;
    kill(g->pid, SIGTERM);
    assert_int_equal(waitpid(g->pid, &st, 0), g->pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(exp_relay_state(g->rep), 2);
    close(g->a);
    close(g->b);
}

static void rig_free(rig *g) { exp_relay_shared_free(g->rep); }

static void send_msg(int fd, uint64_t seq, size_t len)
{
    msg m = {.seq = seq, .sent = exp_relay_mono_ns()};
    assert_true(len >= 16 && len <= sizeof m);
    assert_int_equal(write(fd, &m, len), (ssize_t)len);
}

typedef struct {
    size_t n, cap;
    uint64_t *seq;
    int64_t *sent, *at;
} arrivals;

/* Reads the packets that arrive on fd until the deadline (CLOCK_MONOTONIC
 * ns), recording each one's sequence number, write time and arrival time as
 * soon as it comes. */
static void collect_until(int fd, int64_t deadline, arrivals *a)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (;;) {
        int64_t left = deadline - exp_relay_mono_ns();
        if (left <= 0)
            return;
        struct timespec ts = {left / 1000000000, left % 1000000000};
        if (ppoll(&p, 1, &ts, NULL) != 1)
            continue;
        msg m;
        ssize_t len = read(fd, &m, sizeof m);
        assert_true(len >= 16);
        int64_t t = exp_relay_mono_ns();
        if (a->n < a->cap) {
            a->seq[a->n] = m.seq;
            if (a->sent)
                a->sent[a->n] = m.sent;
            if (a->at)
                a->at[a->n] = t;
        }
        a->n++;
    }
}

/* Reads every packet that arrives on fd until none has come for quiet_ms.
 * Returns the count; sequence numbers and times as collect_until. */
static size_t drain(int fd, int quiet_ms, uint64_t *seq, int64_t *sent, int64_t *at, size_t cap)
{
    arrivals a = {0, cap, seq, sent, at};
    size_t before;
    do {
        before = a.n;
        collect_until(fd, exp_relay_mono_ns() + (int64_t)quiet_ms * 1000000, &a);
    } while (a.n != before);
    return a.n;
}

static sim_link_params lossless(double ms, uint64_t bps)
{
    return (sim_link_params){.loss = {.kind = SIM_LOSS_NONE},
                             .delay = {SIM_DIST_CONSTANT, ms, 0}, .bandwidth_bps = bps};
}

static void check_balance(const exp_relay_dir_stats *d)
{
    assert_int_equal(d->sent, d->lost + d->lost_outage + d->delivered + d->in_transit);
    assert_int_equal(d->write_errors, 0);
}

/* 10 ms each way: every packet arrives no earlier than 10 ms after it was
 * written, in order, and the median is within SLACK of 10 ms. */
static bool constant_delay_trial(void)
{
    rig g;
    rig_start(&g, lossless(10, 0), lossless(10, 0), NULL);
    enum { N = 50 };
    uint64_t seq[N];
    int64_t sent[N], at[N];
    arrivals a = {0, N, seq, sent, at};
    for (int i = 0; i < N; i++) {
        send_msg(g.a, (uint64_t)i, 64);
        collect_until(g.b, exp_relay_mono_ns() + SIM_MS(2), &a);
    }
    size_t n = a.n + drain(g.b, 100, seq + a.n, sent + a.n, at + a.n, N - a.n);
    assert_int_equal(n, N);
    int64_t d[N];
    for (int i = 0; i < N; i++) {
        assert_int_equal(seq[i], (uint64_t)i);
        d[i] = at[i] - sent[i];
        assert_true(d[i] >= SIM_MS(10));
    }
    for (int i = 1; i < N; i++) /* insertion sort for the median */
        for (int j = i; j > 0 && d[j] < d[j - 1]; j--) {
            int64_t t = d[j];
            d[j] = d[j - 1];
            d[j - 1] = t;
        }
    bool in_time = d[N / 2] < SIM_MS(10) + SLACK;
    /* And down: one packet back. */
    send_msg(g.b, 99, 64);
    assert_int_equal(drain(g.a, 100, seq, sent, at, N), 1);
    assert_true(at[0] - sent[0] >= SIM_MS(10));
    rig_stop(&g);
    assert_int_equal(g.rep->pair[0].up.sent, N);
    assert_int_equal(g.rep->pair[0].up.delivered, N);
    assert_int_equal(g.rep->pair[0].down.delivered, 1);
    check_balance(&g.rep->pair[0].up);
    assert_int_equal(g.rep->slip.frames, N + 1);
    assert_true(g.rep->slip.max_us >= g.rep->slip.p50_us && g.rep->slip.p50_us >= 0);
    rig_free(&g);
    return in_time;
}

/* Runs a timing trial up to TRIES times, until one meets its load-dependent
 * bounds; says on stderr which did not. */
static void try_timing(const char *name, bool (*trial)(void))
{
    for (int t = 1; t <= TRIES; t++) {
        if (trial())
            return;
        fprintf(stderr, "%s: trial %d of %d missed its real-time bound (machine load?)\n",
                name, t, TRIES);
    }
    fail_msg("%s: no trial of %d met its real-time bound", name, TRIES);
}

static void constant_delay_never_early(void **state)
{
    (void)state;
    try_timing("constant_delay_never_early", constant_delay_trial);
}

/* The relay draws from the stream the simulator gives the direction
 * ("c0.0.up", "c0.0.down" of seed 7, replication 0): the packets it loses are
 * exactly the frames a sim_link with that stream loses, frame for frame. */
typedef struct {
    size_t n;
    uint8_t got[4096];
} replay_sink;

static void replay_deliver(void *ctx, void *frame, size_t bytes)
{
    (void)bytes;
    replay_sink *k = ctx;
    k->got[(size_t)(uintptr_t)frame - 1] = 1;
    k->n++;
}

static void replay(const char *stream, sim_link_params p, size_t n, replay_sink *k)
{
    sim_sched *s = sim_sched_new();
    gsl_rng *rng = sim_rng_new(SEED, REP, stream);
    memset(k, 0, sizeof *k);
    sim_link *l = sim_link_new(s, &p, rng, replay_deliver, k);
    for (size_t i = 0; i < n; i++)
        sim_link_send(l, (void *)(uintptr_t)(i + 1), 64);
    sim_sched_run(s);
    sim_link_free(l);
    gsl_rng_free(rng);
    sim_sched_free(s);
}

static void loss_replays_the_simulator_stream(void **state)
{
    (void)state;
    sim_link_params up = lossless(0, 0), down = lossless(0, 0);
    up.loss = (sim_loss){.kind = SIM_LOSS_BERNOULLI, .p = 0.3};
    down.loss = (sim_loss){.kind = SIM_LOSS_GILBERT_ELLIOTT, .p_gb = 0.05, .p_bg = 0.2,
                           .loss_good = 0.01, .loss_bad = 0.8};
    rig g;
    rig_start(&g, up, down, NULL);
    enum { N = 2000, BATCH = 100 };
    static uint64_t seq[N];
    uint8_t got_up[N] = {0}, got_down[N] = {0};
    size_t n_up = 0, n_down = 0;
    for (int b = 0; b < N / BATCH; b++) {
        /* In batches, so no socket buffer can overflow: each batch is read
         * before the next is written. */
        for (int i = 0; i < BATCH; i++)
            send_msg(g.a, (uint64_t)(b * BATCH + i), 64);
        size_t n = drain(g.b, 30, seq, NULL, NULL, N);
        for (size_t i = 0; i < n; i++)
            got_up[seq[i]] = 1;
        n_up += n;
        for (int i = 0; i < BATCH; i++)
            send_msg(g.b, (uint64_t)(b * BATCH + i), 64);
        n = drain(g.a, 30, seq, NULL, NULL, N);
        for (size_t i = 0; i < n; i++)
            got_down[seq[i]] = 1;
        n_down += n;
    }
    rig_stop(&g);
    replay_sink k;
    replay("c0.0.up", up, N, &k);
    assert_int_equal(n_up, k.n);
    assert_memory_equal(got_up, k.got, N);
    assert_int_equal(g.rep->pair[0].up.lost, N - k.n);
    replay("c0.0.down", down, N, &k);
    assert_int_equal(n_down, k.n);
    assert_memory_equal(got_down, k.got, N);
    assert_int_equal(g.rep->pair[0].down.lost, N - k.n);
    check_balance(&g.rep->pair[0].up);
    check_balance(&g.rep->pair[0].down);
    rig_free(&g);
}

/* 1000-byte packets at 800 kbit/s serialise in exactly 10 ms each: written
 * back to back, packet k (from 0) arrives no earlier than 10 (k + 1) ms after
 * the first was written, and within SLACK of that after the last was. */
static bool bandwidth_trial(void)
{
    rig g;
    rig_start(&g, lossless(0, 800000), lossless(0, 0), NULL);
    enum { N = 10 };
    int64_t first = exp_relay_mono_ns();
    for (int i = 0; i < N; i++)
        send_msg(g.a, (uint64_t)i, 1000);
    int64_t last = exp_relay_mono_ns();
    uint64_t seq[N];
    int64_t at[N];
    assert_int_equal(drain(g.b, 100, seq, NULL, at, N), N);
    bool in_time = true;
    for (int k = 0; k < N; k++) {
        assert_int_equal(seq[k], (uint64_t)k);
        assert_true(at[k] >= first + SIM_MS(10) * (k + 1));
        in_time &= at[k] <= last + SIM_MS(10) * (k + 1) + SLACK;
        fprintf(stderr, "DBG k=%d late=%.2f ms\n", k, (at[k] - last - SIM_MS(10) * (k + 1)) / 1e6);
    }
    rig_stop(&g);
    assert_int_equal(g.rep->pair[0].up.bytes_delivered, N * 1000);
    fprintf(stderr, "DBG slip max %.0f us p50 %.0f late1ms %lu\n", g.rep->slip.max_us, g.rep->slip.p50_us, (unsigned long)g.rep->slip.late_1ms);
    rig_free(&g);
    return in_time;
}

static void bandwidth_serialises(void **state)
{
    (void)state;
    try_timing("bandwidth_serialises", bandwidth_trial);
}

/* An outage [100 ms, 200 ms) on up: a packet written every 5 ms is lost when
 * the relay reads it inside the window. Those written more than SLACK before
 * or after the window arrive; those written inside it, SLACK from its edges,
 * do not; down is untouched. */
static bool outage_trial(void)
{
    exp_window win = {SIM_MS(100), SIM_MS(100)};
    exp_sched sched = {1, &win, 0, 0};
    struct { sim_time start, end; } w = {SIM_MS(100), SIM_MS(200)};
    rig g;
    rig_start(&g, lossless(1, 0), lossless(1, 0), &sched);
    enum { N = 60 };
    int64_t sent_at[N];
    uint64_t seq[N];
    for (int i = 0; i < N; i++) {
        /* Pace by the relay's own time 0 so the window is where it should be. */
        int64_t due = g.t0 + SIM_MS(5) * i;
        while (exp_relay_mono_ns() < due)
            usleep(200);
        sent_at[i] = exp_relay_mono_ns() - g.t0;
        send_msg(g.a, (uint64_t)i, 64);
        send_msg(g.b, (uint64_t)i, 64);
        drain(g.a, 0, seq, NULL, NULL, 0);
    }
    size_t n = drain(g.b, 50, seq, NULL, NULL, N);
    uint8_t got[N] = {0};
    for (size_t i = 0; i < n && i < N; i++)
        got[seq[i]] = 1;
    bool in_time = true;
    for (int i = 0; i < N; i++) {
        if (sent_at[i] + SLACK < w.start || sent_at[i] >= w.end)
            in_time &= got[i];
        if (sent_at[i] >= w.start && sent_at[i] + SLACK < w.end)
            in_time &= !got[i];
    }
    rig_stop(&g);
    const exp_relay_dir_stats *up = &g.rep->pair[0].up, *down = &g.rep->pair[0].down;
    assert_int_equal(up->lost_outage, N - n);
    in_time &= up->lost_outage >= 20 - 2 && up->lost_outage <= 20 + 2;
    assert_int_equal(down->lost_outage, 0);
    assert_int_equal(down->sent, N);
    check_balance(up);
    check_balance(down);
    rig_free(&g);
    return in_time;
}

static void outage_window_loses_what_it_covers(void **state)
{
    (void)state;
    try_timing("outage_window_loses_what_it_covers", outage_trial);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    set_fifo(RT_PRIO_HOSTS);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(constant_delay_never_early),
        cmocka_unit_test(loss_replays_the_simulator_stream),
        cmocka_unit_test(bandwidth_serialises),
        cmocka_unit_test(outage_window_loses_what_it_covers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
