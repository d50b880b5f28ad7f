/* TCP model tests: handshake, RTO ladder and abort, outages, loss, fast retransmit, NewReno, delayed ACK, RST, NAT rebind, zero runs, reuse. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sim/rng.h"
#include "sim/tcp.h"

/* ---- harness ---- */

typedef struct {
    sim_time t;
    int from;
    uint32_t conn, seq, ack;
    uint8_t flags;
    size_t len;
    bool lost, rtx, new_mapping;
} tseg;

typedef struct world world;

typedef struct {
    world *w;
    sim_tcp_end *e;
    int ev[16];
    sim_time ev_at[16];
    int n_ev;
    uint8_t *data;
    size_t n, cap;
    sim_time first_at, last_at;
    bool echo;         /* write back what arrives */
    bool close_on_fin; /* close at PEER_CLOSED */
    bool write_on_fin; /* write 100 bytes at PEER_CLOSED */
} app_rec;

struct world {
    sim_sched *s;
    gsl_rng *ru, *rd;
    sim_tcp_path *p;
    tseg *segs;
    size_t nseg, segcap;
    app_rec cli[4], srv[4];
    int ncli, nsrv;
    /* the scripted-loss filter: drop segments whose per-side data-segment
     * count (1-based) is listed, or the first SYN / SYN-ACK */
    int data_seen[2];
    int drop_data[2][8];
    int n_drop[2];
    int drop_syn; /* SYNs from the client to drop (the first ones) */
    bool drop_all_from[2];
};

static void rec_event(void *ctx, sim_tcp_end *e, sim_tcp_event ev)
{
    app_rec *a = ctx;
    assert_ptr_equal(a->e, e);
    assert_true(a->n_ev < 16);
    a->ev[a->n_ev] = (int)ev;
    a->ev_at[a->n_ev++] = sim_sched_now(a->w->s);
    if (ev == SIM_TCP_EV_PEER_CLOSED && a->write_on_fin) {
        uint8_t buf[100];
        memset(buf, 7, sizeof buf);
        assert_int_equal(sim_tcp_write(e, buf, sizeof buf), 0);
    }
    if (ev == SIM_TCP_EV_PEER_CLOSED && a->close_on_fin)
        sim_tcp_close(e);
}

static void rec_data(void *ctx, sim_tcp_end *e, const uint8_t *d, size_t len)
{
    app_rec *a = ctx;
    assert_ptr_equal(a->e, e);
    if (a->n + len > a->cap) {
        a->cap = 2 * (a->n + len);
        a->data = realloc(a->data, a->cap);
        assert_non_null(a->data);
    }
    memcpy(a->data + a->n, d, len);
    if (a->n == 0)
        a->first_at = sim_sched_now(a->w->s);
    a->last_at = sim_sched_now(a->w->s);
    a->n += len;
    if (a->echo)
        assert_int_equal(sim_tcp_write(e, d, len), 0);
}

static const sim_tcp_app REC = {rec_event, rec_data};

static void on_accept(void *ctx, sim_tcp_end *e)
{
    world *w = ctx;
    assert_true(w->nsrv < 4);
    app_rec *a = &w->srv[w->nsrv++];
    a->w = w;
    a->e = e;
    a->ev_at[0] = sim_sched_now(w->s); /* accept time, kept as ev[0] = -1 */
    a->ev[0] = -1;
    a->n_ev = 1;
    sim_tcp_set_app(e, &REC, a);
}

static void tap(void *ctx, const sim_tcp_seg_info *g)
{
    world *w = ctx;
    if (w->nseg == w->segcap) {
        w->segcap = w->segcap ? 2 * w->segcap : 64;
        w->segs = realloc(w->segs, w->segcap * sizeof *w->segs);
        assert_non_null(w->segs);
    }
    w->segs[w->nseg++] = (tseg){g->t, g->from, g->conn, g->seq, g->ack, g->flags, g->len,
                                g->lost, g->retransmission, g->new_mapping};
}

static bool filter(void *ctx, const sim_tcp_seg_info *g)
{
    world *w = ctx;
    if (w->drop_all_from[g->from])
        return true;
    if ((g->flags & SIM_TCP_SYN) && g->from == SIM_TCP_CLIENT && w->drop_syn > 0) {
        w->drop_syn--;
        return true;
    }
    if (g->len == 0)
        return false;
    int k = ++w->data_seen[g->from];
    for (int i = 0; i < w->n_drop[g->from]; i++)
        if (w->drop_data[g->from][i] == k)
            return true;
    return false;
}

static sim_link_params link_ms(double delay_ms, double loss)
{
    sim_link_params l;
    memset(&l, 0, sizeof l);
    l.delay.kind = SIM_DIST_CONSTANT;
    l.delay.a = delay_ms;
    if (loss > 0) {
        l.loss.kind = SIM_LOSS_BERNOULLI;
        l.loss.p = loss;
    }
    return l;
}

/* A world on a path over up and down: the links copy them, or with shared
 * borrow them (sim_tcp_path_new_shared), the caller keeping them until
 * world_free. */
static world *world_new_path(const sim_tcp_params *tp, const sim_link_params *up,
                             const sim_link_params *down, uint64_t seed, bool shared)
{
    world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->s = sim_sched_new();
    w->ru = sim_rng_new(seed, 0, "up");
    w->rd = sim_rng_new(seed, 0, "down");
    sim_tcp_params def;
    sim_tcp_params_default(&def);
    if (!tp)
        tp = &def;
    w->p = shared ? sim_tcp_path_new_shared(w->s, tp, up, w->ru, down, w->rd)
                  : sim_tcp_path_new(w->s, tp, up, w->ru, down, w->rd);
    assert_non_null(w->p);
    sim_tcp_path_set_tap(w->p, tap, w);
    sim_tcp_test_set_filter(w->p, filter, w);
    return w;
}

static world *world_new_links(const sim_tcp_params *tp, sim_link_params up, sim_link_params down,
                              uint64_t seed)
{
    return world_new_path(tp, &up, &down, seed, false);
}

static world *world_new(const sim_tcp_params *tp, double delay_ms)
{
    return world_new_links(tp, link_ms(delay_ms, 0), link_ms(delay_ms, 0), 1);
}

static void world_free(world *w)
{
    sim_tcp_path_free(w->p);
    gsl_rng_free(w->ru);
    gsl_rng_free(w->rd);
    sim_sched_free(w->s);
    for (int i = 0; i < 4; i++) {
        free(w->cli[i].data);
        free(w->srv[i].data);
    }
    free(w->segs);
    free(w);
}

static app_rec *world_connect(world *w)
{
    app_rec *a = &w->cli[w->ncli++];
    a->w = w;
    a->e = sim_tcp_connect(w->p, &REC, a);
    assert_non_null(a->e);
    return a;
}

static void run_to(world *w, sim_time t) { sim_sched_run_until(w->s, t); }

/* Listening, a connection made at time 0 and run until t. */
static app_rec *world_established(world *w, sim_time t)
{
    sim_tcp_listen(w->p, on_accept, w);
    app_rec *c = world_connect(w);
    run_to(w, t);
    assert_int_equal(c->n_ev, 1);
    assert_int_equal(c->ev[0], SIM_TCP_EV_ESTABLISHED);
    assert_int_equal(w->nsrv, 1);
    return c;
}

static void fill_pattern(uint8_t *b, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b[i] = (uint8_t)x;
    }
}

/* Data segments from side `from` in the tap, in order. */
static size_t data_segs(const world *w, int from, const tseg **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < w->nseg; i++)
        if (w->segs[i].from == from && w->segs[i].len > 0 && n < max)
            out[n++] = &w->segs[i];
    return n;
}

/* ---- the handshake ---- */

/* SYN at 0, SYN-ACK at d, ACK at 2d with 10 ms one-way delays: the client is
 * established at 20 ms, the server accepts at 30 ms; wire numbers follow the
 * ISNs; each side takes its handshake RTT sample (20 ms), so the Linux RTO is
 * SRTT + max(4 x 10 ms, 200 ms) = 220 ms on both. */
static void handshake_timing_and_numbers(void **state)
{
    (void)state;
    world *w = world_new(NULL, 10);
    sim_tcp_listen(w->p, on_accept, w);
    app_rec *c = world_connect(w);
    run_to(w, SIM_MS(100));
    assert_int_equal(c->n_ev, 1);
    assert_int_equal(c->ev[0], SIM_TCP_EV_ESTABLISHED);
    assert_int_equal(c->ev_at[0], SIM_MS(20));
    assert_int_equal(w->nsrv, 1);
    assert_int_equal(w->srv[0].ev_at[0], SIM_MS(30));
    assert_int_equal(w->nseg, 3);
    const tseg *syn = &w->segs[0], *synack = &w->segs[1], *ack = &w->segs[2];
    assert_int_equal(syn->t, 0);
    assert_int_equal(syn->flags, SIM_TCP_SYN);
    assert_int_equal(synack->t, SIM_MS(10));
    assert_int_equal(synack->flags, SIM_TCP_SYN | SIM_TCP_ACK);
    assert_int_equal(synack->ack, syn->seq + 1);
    assert_int_equal(ack->t, SIM_MS(20));
    assert_int_equal(ack->flags, SIM_TCP_ACK);
    assert_int_equal(ack->seq, syn->seq + 1);
    assert_int_equal(ack->ack, synack->seq + 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(w->segs[i].conn, 1);
    sim_tcp_info ci, si;
    sim_tcp_get_info(c->e, &ci);
    sim_tcp_get_info(w->srv[0].e, &si);
    assert_string_equal(ci.state, "ESTABLISHED");
    assert_string_equal(si.state, "ESTABLISHED");
    assert_int_equal(ci.rto, SIM_MS(220));
    assert_int_equal(si.rto, SIM_MS(220));
    assert_int_equal(ci.cwnd, 10);
    const sim_tcp_stats *cs = sim_tcp_path_stats(w->p, SIM_TCP_CLIENT);
    assert_int_equal(cs->segments, 2);
    assert_int_equal(cs->ip_bytes, 80);
    assert_int_equal(sim_tcp_path_stats(w->p, SIM_TCP_SERVER)->segments, 1);
    /* first data: one segment of payload + 40 bytes on the link */
    assert_int_equal(sim_tcp_write(c->e, "hello", 5), 0);
    run_to(w, SIM_MS(200));
    assert_int_equal(w->srv[0].n, 5);
    assert_memory_equal(w->srv[0].data, "hello", 5);
    assert_int_equal(w->srv[0].first_at, SIM_MS(110));
    assert_int_equal(sim_link_stats_get(sim_tcp_path_link(w->p, SIM_TCP_CLIENT))->bytes_sent,
                     40 + 40 + 45);
    world_free(w);
}

/* A path whose links borrow their parameters runs as one that copies them:
 * the same segments, losses and bytes over a lossy transfer. */
static void shared_link_params_same_run(void **state)
{
    (void)state;
    sim_link_params up = link_ms(10, 0.1), down = link_ms(10, 0.1);
    world *w[2] = {world_new_links(NULL, up, down, 7), world_new_path(NULL, &up, &down, 7, true)};
    static uint8_t buf[50000];
    fill_pattern(buf, sizeof buf, 3);
    for (int k = 0; k < 2; k++) {
        app_rec *c = world_established(w[k], SIM_S(5));
        assert_int_equal(sim_tcp_write(c->e, buf, sizeof buf), 0);
        run_to(w[k], SIM_S(120));
    }
    for (int side = 0; side < 2; side++) {
        const sim_tcp_stats *a = sim_tcp_path_stats(w[0]->p, (sim_tcp_side)side);
        const sim_tcp_stats *b = sim_tcp_path_stats(w[1]->p, (sim_tcp_side)side);
        assert_int_equal(a->segments, b->segments);
        assert_int_equal(a->retransmissions, b->retransmissions);
        assert_int_equal(a->segments_lost, b->segments_lost);
        assert_int_equal(a->bytes_delivered, b->bytes_delivered);
    }
    assert_int_equal(sim_tcp_path_stats(w[1]->p, SIM_TCP_SERVER)->bytes_delivered, sizeof buf);
    assert_true(sim_tcp_path_stats(w[1]->p, SIM_TCP_CLIENT)->segments_lost > 0);
    world_free(w[0]);
    world_free(w[1]);
}

/* A lost SYN: retransmitted at 1 s; Karn's rule gives no handshake sample,
 * so the client's RTO for data is 3 s (RFC 6298 5.7); the server's SYN-ACK
 * was not retransmitted and gives it a 20 ms sample. */
static void lost_syn_uses_fallback_rto(void **state)
{
    (void)state;
    world *w = world_new(NULL, 10);
    w->drop_syn = 1;
    sim_tcp_listen(w->p, on_accept, w);
    app_rec *c = world_connect(w);
    run_to(w, SIM_S(2));
    assert_int_equal(c->ev[0], SIM_TCP_EV_ESTABLISHED);
    assert_int_equal(c->ev_at[0], SIM_S(1) + SIM_MS(20));
    assert_true(w->segs[0].lost && !w->segs[1].lost);
    assert_true(w->segs[1].rtx);
    assert_int_equal(w->segs[1].t, SIM_S(1));
    sim_tcp_info ci, si;
    sim_tcp_get_info(c->e, &ci);
    sim_tcp_get_info(w->srv[0].e, &si);
    assert_int_equal(ci.rto, SIM_S(3));
    assert_int_equal(ci.cwnd, 10); /* one handshake retransmission keeps IW10 */
    assert_int_equal(si.rto, SIM_MS(220));
    world_free(w);
}

/* Into a dead link the SYN goes at 0, 1, 3, 7, 15, 31, 63 s (RTO 1 s,
 * doubling, 6 retransmissions) and the attempt gives up when the timer
 * expires with 6 retransmissions done: 63 + 64 = 127 s. */
static void syn_retry_ladder_and_timeout(void **state)
{
    (void)state;
    world *w = world_new(NULL, 10);
    sim_tcp_listen(w->p, on_accept, w);
    sim_link_set_down(sim_tcp_path_link(w->p, SIM_TCP_CLIENT), true);
    app_rec *c = world_connect(w);
    run_to(w, SIM_S(1000));
    const sim_time at[] = {0, SIM_S(1), SIM_S(3), SIM_S(7), SIM_S(15), SIM_S(31), SIM_S(63)};
    assert_int_equal(w->nseg, 7);
    for (int i = 0; i < 7; i++) {
        assert_int_equal(w->segs[i].t, at[i]);
        assert_int_equal(w->segs[i].flags, SIM_TCP_SYN);
        assert_true(w->segs[i].lost);
        assert_int_equal(w->segs[i].rtx, i > 0);
        assert_int_equal(w->segs[i].seq, w->segs[0].seq);
    }
    assert_int_equal(c->n_ev, 1);
    assert_int_equal(c->ev[0], SIM_TCP_EV_SYN_TIMEOUT);
    assert_int_equal(c->ev_at[0], SIM_S(127));
    const sim_tcp_stats *cs = sim_tcp_path_stats(w->p, SIM_TCP_CLIENT);
    assert_int_equal(cs->retransmissions, 6);
    assert_int_equal(cs->rto_expiries, 7);
    assert_int_equal(cs->segments_lost, 7);
    assert_int_equal(sim_tcp_path_conns(w->p), 0);
    world_free(w);
}

/* Not listening: the SYN is answered with RST|ACK (seq 0, ack = ISN + 1):
 * refused one round trip later. Listening afterwards, a new attempt works. */
static void refused_then_accepted(void **state)
{
    (void)state;
    world *w = world_new(NULL, 10);
    app_rec *c = world_connect(w);
    run_to(w, SIM_S(1));
    assert_int_equal(c->n_ev, 1);
    assert_int_equal(c->ev[0], SIM_TCP_EV_REFUSED);
    assert_int_equal(c->ev_at[0], SIM_MS(20));
    assert_int_equal(w->nseg, 2);
    assert_int_equal(w->segs[1].flags, SIM_TCP_RST | SIM_TCP_ACK);
    assert_int_equal(w->segs[1].seq, 0);
    assert_int_equal(w->segs[1].ack, w->segs[0].seq + 1);
    assert_int_equal(sim_tcp_path_conns(w->p), 0);
    sim_tcp_listen(w->p, on_accept, w);
    app_rec *c2 = world_connect(w);
    run_to(w, SIM_S(2));
    assert_int_equal(c2->ev[0], SIM_TCP_EV_ESTABLISHED);
    assert_int_equal(sim_tcp_conn_id(c2->e), 2);
    assert_int_equal(w->nsrv, 1);
    world_free(w);
}

/* ---- the retransmission timer ---- */

/*
 * The RTO ladder of one segment sent at t0 into a dead link, and the abort.
 * With initial RTO r (after the handshake sample) the k-th expiry comes at
 * t0 + r (2^k - 1) while r 2^(k-1) <= rto_max, then every rto_max (120 s).
 * Linux gives up at the first expiry (after at least one retransmission)
 * where now - t0 >= budget, t0 being the segment's transmission time before
 * its first retransmission, and with tcp_retries2 = 15 and rto_min = 200 ms
 * budget = (2^10 - 1) 0.2 + (15 - 9) 120 = 204.6 + 720 = 924.6 s
 * (ilog2(120 / 0.2) = 9 doublings before the cap).
 * - r = 200 ms (Linux formula, zero delay: SRTT 0 + max(0, 200 ms); or the
 *   RFC formula with 10 ms delays: max(20 + 4 x 10, 200) ms): expiries at
 *   t0 + 0.2, 0.6, ..., 204.6 (k = 10), then 324.6, ..., 924.6: the abort
 *   falls exactly on the budget, after 15 retransmissions.
 * - r = 220 ms (Linux, 10 ms delays: 20 + max(40, 200) ms): k = 10 at
 *   0.22 x 1023 = 225.06 s, then +120 s: 345.06, ..., 825.06 (k = 15,
 *   elapsed < 924.6), and the abort at 945.06 s, also after 15.
 * The expected times below are rebuilt from that rule and checked to the ns.
 */
static void rto_ladder_case(sim_tcp_rto_formula f, double delay_ms, sim_time r0, sim_time abort_after)
{
    sim_tcp_params tp;
    sim_tcp_params_default(&tp);
    tp.rto_formula = f;
    world *w = world_new(&tp, delay_ms);
    app_rec *c = world_established(w, SIM_S(1));
    sim_tcp_info ci;
    sim_tcp_get_info(c->e, &ci);
    assert_int_equal(ci.rto, r0);
    sim_link_set_down(sim_tcp_path_link(w->p, SIM_TCP_CLIENT), true);
    const sim_time t0 = SIM_S(2);
    run_to(w, t0);
    uint8_t buf[100] = {1};
    assert_int_equal(sim_tcp_write(c->e, buf, sizeof buf), 0);
    run_to(w, SIM_S(2000));
    const tseg *d[32];
    size_t n = data_segs(w, SIM_TCP_CLIENT, d, 32);
    /* the rule, step by step */
    sim_time expect[32], t = t0, rto = r0;
    size_t m = 0;
    expect[m++] = t0;
    sim_time abort_at = 0;
    for (;;) {
        t += rto;
        if (m > 1 && t - t0 >= SIM_MS(924600)) {
            abort_at = t;
            break;
        }
        expect[m++] = t;
        rto = 2 * rto > SIM_S(120) ? SIM_S(120) : 2 * rto;
    }
    assert_int_equal(n, m);
    assert_int_equal(m, 16); /* the original and 15 retransmissions */
    for (size_t i = 0; i < m; i++) {
        assert_int_equal(d[i]->t, expect[i]);
        assert_true(d[i]->lost);
        assert_int_equal(d[i]->seq, d[0]->seq);
    }
    assert_int_equal(abort_at, t0 + abort_after);
    assert_int_equal(c->n_ev, 2);
    assert_int_equal(c->ev[1], SIM_TCP_EV_ABORTED);
    assert_int_equal(c->ev_at[1], abort_at);
    const sim_tcp_stats *cs = sim_tcp_path_stats(w->p, SIM_TCP_CLIENT);
    assert_int_equal(cs->rto_expiries, 16);
    assert_int_equal(cs->retransmissions, 15);
    world_free(w);
}

static void rto_ladder_and_abort_linux(void **state)
{
    (void)state;
    rto_ladder_case(SIM_TCP_RTO_LINUX, 0, SIM_MS(200), SIM_MS(924600));
    rto_ladder_case(SIM_TCP_RTO_LINUX, 10, SIM_MS(220), SIM_MS(945060));
}

static void rto_ladder_and_abort_rfc6298(void **state)
{
    (void)state;
    rto_ladder_case(SIM_TCP_RTO_RFC6298, 10, SIM_MS(200), SIM_MS(924600));
}

/* TCP_USER_TIMEOUT 5 s: expiries at t0 + 0.2, 0.6, 1.4, 3.0; the next
 * (6.2) is clamped to the user timeout, where the end aborts: t0 + 5 s. */
static void user_timeout_aborts_on_time(void **state)
{
    (void)state;
    sim_tcp_params tp;
    sim_tcp_params_default(&tp);
    tp.user_timeout = SIM_S(5);
    world *w = world_new(&tp, 0);
    app_rec *c = world_established(w, SIM_S(1));
    sim_link_set_down(sim_tcp_path_link(w->p, SIM_TCP_CLIENT), true);
    assert_int_equal(sim_tcp_write(c->e, "x", 1), 0);
    run_to(w, SIM_S(100));
    const tseg *d[8];
    size_t n = data_segs(w, SIM_TCP_CLIENT, d, 8);
    const sim_time at[] = {0, SIM_MS(200), SIM_MS(600), SIM_MS(1400), SIM_MS(3000)};
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(d[i]->t, SIM_S(1) + at[i]);
    assert_int_equal(c->ev[1], SIM_TCP_EV_ABORTED);
    assert_int_equal(c->ev_at[1], SIM_S(6));
    world_free(w);

    /* A user timeout shorter than the first RTO: the first expiry (200 ms)
     * cannot abort (no retransmission yet); its retransmission finds the
     * timeout passed and re-arms for one jiffy: the abort comes at 201 ms. */
    tp.user_timeout = SIM_MS(100);
    w = world_new(&tp, 0);
    c = world_established(w, SIM_S(1));
    sim_link_set_down(sim_tcp_path_link(w->p, SIM_TCP_CLIENT), true);
    assert_int_equal(sim_tcp_write(c->e, "x", 1), 0);
    run_to(w, SIM_S(100));
    assert_int_equal(c->ev[1], SIM_TCP_EV_ABORTED);
    assert_int_equal(c->ev_at[1], SIM_S(1) + SIM_MS(201));
    world_free(w);
}

/*
 * Estimator arithmetic, exactly. 100 ms one-way delays and a 40 ms delayed
 * ACK: the handshake sample is 200 ms, each one-segment write then gives a
 * 240 ms sample (the receiver delays its ACK by 40 ms).
 * Linux (ns; srtt x 8, mdev x 4): after the handshake srtt = 200, mdev4 =
 * 400, rttvar4 = mdev_max4 = 400, RTO = 600 ms. Sample 240: err = 40,
 * srtt = 205; err - mdev4/4 = -60, mdev4 = 340; a window has passed: rttvar4
 * stays 400 (mdev_max4 is not below it), mdev_max4 := 200; RTO = 605 ms.
 * Sample 240: err = 35, srtt8 = 1675 (srtt 209.375); 35 - 85 = -50, mdev4 =
 * 290 > mdev_max4 (200) so mdev_max4 = 290; window passed: rttvar4 -=
 * (400 - 290) / 4 = 27.5 -> 372.5; RTO = 209.375 + 372.5 = 581.875 ms.
 * RFC 6298: SRTT 200, RTTVAR 100, RTO 600; then RTTVAR = (300 + 40) / 4 =
 * 85, SRTT = (1400 + 240) / 8 = 205, RTO = 545; then RTTVAR = (255 + 35) / 4
 * = 72.5, SRTT = 209.375, RTO = 209.375 + 290 = 499.375 ms.
 */
static void estimator_case(sim_tcp_rto_formula f, const sim_time *rto)
{
    sim_tcp_params tp;
    sim_tcp_params_default(&tp);
    tp.rto_formula = f;
    tp.delayed_ack = SIM_MS(40);
    world *w = world_new(&tp, 100);
    app_rec *c = world_established(w, SIM_S(1));
    sim_tcp_info ci;
    sim_tcp_get_info(c->e, &ci);
    assert_int_equal(ci.rto, rto[0]);
    for (int i = 1; i <= 2; i++) {
        assert_int_equal(sim_tcp_write(c->e, "abc", 3), 0);
        run_to(w, SIM_S(1 + i));
        sim_tcp_get_info(c->e, &ci);
        assert_int_equal(ci.rto, rto[i]);
    }
    world_free(w);
}

static void rto_estimators_exact(void **state)
{
    (void)state;
    const sim_time lx[] = {SIM_MS(600), SIM_MS(605), SIM_US(581875)};
    const sim_time rfc[] = {SIM_MS(600), SIM_MS(545), SIM_US(499375)};
    estimator_case(SIM_TCP_RTO_LINUX, lx);
    estimator_case(SIM_TCP_RTO_RFC6298, rfc);
}

/*
 * An outage [1 s, 5 s) on the client's link, shorter than the abort time;
 * 100 bytes written at 2 s. RTO 220 ms: expiries at 2.22, 2.66, 3.54 (all
 * inside) and 2 + 0.22 x 15 = 5.30 s, the first retransmission after the
 * outage: delivered at 5.31 s exactly, acknowledged at 5.32 s. The ACK
 * covers retransmitted data only (Karn), so the RTO stays backed off at
 * 0.22 x 16 = 3.52 s until the next clean sample (a write at 6 s, 20 ms)
 * collapses it to 220 ms again.
 */
static void recovery_after_outage(void **state)
{
    (void)state;
    world *w = world_new(NULL, 10);
    app_rec *c = world_established(w, SIM_MS(500));
    assert_int_equal(sim_link_add_outage(sim_tcp_path_link(w->p, SIM_TCP_CLIENT), SIM_S(1), SIM_S(5)), 0);
    run_to(w, SIM_S(2));
    uint8_t buf[100];
    fill_pattern(buf, sizeof buf, 3);
    assert_int_equal(sim_tcp_write(c->e, buf, sizeof buf), 0);
    run_to(w, SIM_S(6));
    app_rec *s = &w->srv[0];
    assert_int_equal(s->n, 100);
    assert_memory_equal(s->data, buf, 100);
    assert_int_equal(s->first_at, SIM_MS(5310));
    const tseg *d[8];
    size_t n = data_segs(w, SIM_TCP_CLIENT, d, 8);
    const sim_time at[] = {SIM_S(2), SIM_MS(2220), SIM_MS(2660), SIM_MS(3540), SIM_MS(5300)};
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(d[i]->t, at[i]);
        assert_int_equal(d[i]->lost, i < 4);
    }
    assert_int_equal(sim_tcp_unacked(c->e), 0);
    sim_tcp_info ci;
    sim_tcp_get_info(c->e, &ci);
    assert_int_equal(ci.rto, SIM_MS(3520));
    assert_int_equal(ci.retransmits, 0);
    assert_int_equal(c->n_ev, 1); /* no abort, no reset */
    assert_int_equal(sim_tcp_write(c->e, buf, 10), 0);
    run_to(w, SIM_S(7));
    sim_tcp_get_info(c->e, &ci);
    assert_int_equal(ci.rto, SIM_MS(220));
    sim_link_outage_stats os;
    sim_link_outage_stats_get(sim_tcp_path_link(w->p, SIM_TCP_CLIENT), &os);
    assert_int_equal(os.outages, 1);
    assert_int_equal(os.frames_lost, 4);
    /* A second, longer outage: the abort budget counts from this episode's
     * segment (200 s): 200 + 945.06 s. Timed from the first episode (2 s)
     * it would end at the first expiry 924.6 s after 2 s: 200 + 225.06 +
     * 5 x 120 = 1025.06 s. */
    assert_int_equal(sim_link_add_outage(sim_tcp_path_link(w->p, SIM_TCP_CLIENT), SIM_S(150), SIM_S(5000)), 0);
    run_to(w, SIM_S(200));
    assert_int_equal(sim_tcp_write(c->e, buf, 10), 0);
    run_to(w, SIM_S(3000));
    assert_int_equal(c->n_ev, 2);
    assert_int_equal(c->ev[1], SIM_TCP_EV_ABORTED);
    assert_int_equal(c->ev_at[1], SIM_S(200) + SIM_MS(945060));
    world_free(w);
}

/* Bytes written while a segment waits for its retransmission leave in
 * segments of their own, never inside the retransmission (Linux keeps its
 * retransmission queue apart from the data not yet sent): 100 bytes sent
 * into an outage at 2 s, 50 more written at 3 s; the retransmission at
 * 5.30 s carries exactly the first 100, and the 50 follow at once in a new
 * segment (the window allows them: cwnd is 1 after the timeout, so they wait
 * for the ACK of the retransmission at 5.32 s). */
static void retransmission_carries_no_new_bytes(void **state)
{
    (void)state;
    world *w = world_new(NULL, 10);
    app_rec *c = world_established(w, SIM_MS(500));
    assert_int_equal(sim_link_add_outage(sim_tcp_path_link(w->p, SIM_TCP_CLIENT), SIM_S(1), SIM_S(5)), 0);
    run_to(w, SIM_S(2));
    uint8_t buf[150];
    fill_pattern(buf, sizeof buf, 4);
    assert_int_equal(sim_tcp_write(c->e, buf, 100), 0);
    run_to(w, SIM_S(3));
    assert_int_equal(sim_tcp_write(c->e, buf + 100, 50), 0);
    run_to(w, SIM_S(7));
    const tseg *d[16] = {0};
    size_t n = data_segs(w, SIM_TCP_CLIENT, d, 16);
    assert_true(n >= 2 && n <= 16);
    for (size_t i = 0; i + 1 < n; i++) {
        assert_int_equal(d[i]->len, 100); /* every copy of the first write alone */
        assert_int_equal(d[i]->seq, d[0]->seq);
    }
    assert_int_equal(d[n - 2]->t, SIM_MS(5300));
    assert_false(d[n - 2]->lost);
    assert_int_equal(d[n - 1]->len, 50);
    assert_int_equal(d[n - 1]->seq, d[0]->seq + 100);
    assert_false(d[n - 1]->rtx);
    assert_int_equal(d[n - 1]->t, SIM_MS(5320));
    app_rec *sv = &w->srv[0];
    assert_int_equal(sv->n, 150);
    assert_memory_equal(sv->data, buf, 150);
    world_free(w);
}

/* ---- loss, fast retransmit, NewReno ---- */

/* FNV-1a over the tap, for determinism checks. */
static uint64_t tap_hash(const world *w)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < w->nseg; i++) {
        const tseg *g = &w->segs[i];
        uint64_t v[] = {(uint64_t)g->t, (uint64_t)g->from, g->seq, g->ack, g->flags, g->len, g->lost};
        for (size_t j = 0; j < sizeof v / sizeof v[0]; j++)
            for (int b = 0; b < 8; b++) {
                h ^= (v[j] >> (8 * b)) & 0xff;
                h *= 0x100000001b3ULL;
            }
    }
    return h;
}

/*
 * A long stream each way under 20% loss on both directions (one of them
 * reordering, with exponential delays): every byte arrives intact and in
 * order, through fast retransmits and timeouts alike; the same seed gives
 * the same segments.
 */
static uint64_t heavy_loss_run(uint64_t seed)
{
    enum { N = 300000 };
    sim_link_params up = link_ms(10, 0.2), down = link_ms(0, 0.2);
    down.delay.kind = SIM_DIST_EXPONENTIAL;
    down.delay.a = 15;
    down.reorder = true;
    world *w = world_new_links(NULL, up, down, seed);
    sim_tcp_path_set_tap(w->p, tap, w);
    sim_tcp_test_set_filter(w->p, NULL, NULL);
    sim_tcp_listen(w->p, on_accept, w);
    app_rec *c = world_connect(w);
    while (c->n_ev == 0)
        run_to(w, sim_sched_now(w->s) + SIM_MS(100));
    assert_int_equal(c->ev[0], SIM_TCP_EV_ESTABLISHED);
    while (w->nsrv == 0)
        run_to(w, sim_sched_now(w->s) + SIM_MS(100));
    uint8_t *a = malloc(N), *b = malloc(N);
    fill_pattern(a, N, seed);
    fill_pattern(b, N, seed + 100);
    gsl_rng *r = sim_rng_new(seed, 0, "writes");
    size_t wa = 0, wb = 0;
    while (wa < N || wb < N) { /* writes of 1..4000 bytes every 0..20 ms */
        size_t k = 1 + gsl_rng_uniform_int(r, 4000);
        if (wa < N) {
            size_t n = k < N - wa ? k : N - wa;
            assert_int_equal(sim_tcp_write(c->e, a + wa, n), 0);
            wa += n;
        }
        if (wb < N) {
            size_t n = k / 2 + 1 < N - wb ? k / 2 + 1 : N - wb;
            assert_int_equal(sim_tcp_write(w->srv[0].e, b + wb, n), 0);
            wb += n;
        }
        run_to(w, sim_sched_now(w->s) + (sim_time)gsl_rng_uniform_int(r, SIM_MS(20)));
    }
    gsl_rng_free(r);
    for (int i = 0; i < 100000 && (w->srv[0].n < N || c->n < N); i++)
        run_to(w, sim_sched_now(w->s) + SIM_S(1));
    assert_int_equal(w->srv[0].n, N);
    assert_int_equal(c->n, N);
    assert_memory_equal(w->srv[0].data, a, N);
    assert_memory_equal(c->data, b, N);
    assert_int_equal(c->n_ev, 1); /* never reset or aborted */
    assert_int_equal(w->srv[0].n_ev, 1);
    const sim_tcp_stats *cs = sim_tcp_path_stats(w->p, SIM_TCP_CLIENT);
    const sim_tcp_stats *ss = sim_tcp_path_stats(w->p, SIM_TCP_SERVER);
    assert_true(cs->fast_retransmits > 0 && cs->rto_expiries > 0);
    assert_true(ss->fast_retransmits > 0 && ss->rto_expiries > 0);
    assert_int_equal(cs->bytes_delivered, N);
    assert_int_equal(ss->bytes_delivered, N);
    assert_int_equal(cs->bytes_written, N);
    assert_false(sim_tcp_path_failed(w->p));
    uint64_t h = tap_hash(w);
    free(a);
    free(b);
    world_free(w);
    return h;
}

static void in_order_under_heavy_loss(void **state)
{
    (void)state;
    uint64_t h1 = heavy_loss_run(7);
    uint64_t h2 = heavy_loss_run(7);
    assert_true(h1 == h2);
}

/*
 * Ten full segments written at t0 (the initial window), the third lost. The
 * client's link serialises a 1500-byte frame in 1 ms (12 Mbit/s), so
 * segment k arrives at t0 + k + 10 ms and each ACK has its own time (down
 * link: 10 ms, unlimited). ACK 1 and 2 come back at t0 + 21 and 22 (slow
 * start: cwnd 10 -> 12, nothing more to send); segments 4, 5, 6 draw
 * duplicates arriving at t0 + 24, 25, 26: the third triggers the fast
 * retransmit of segment 3 at t0 + 26 ms, well before the RTO (220 ms);
 * ssthresh = FlightSize / 2 = 8 / 2 = 4, cwnd = 4 + 3 = 7, then +1 for each
 * of the four later duplicates (t0 + 27..30): 11. The retransmission leaves
 * at t0 + 27, arrives at t0 + 37, and the full ACK at t0 + 47 ends recovery
 * with cwnd = ssthresh = 4.
 */
static void fast_retransmit_on_three_dupacks(void **state)
{
    (void)state;
    sim_link_params up = link_ms(10, 0);
    up.bandwidth_bps = 12000000;
    world *w = world_new_links(NULL, up, link_ms(10, 0), 1);
    app_rec *c = world_established(w, SIM_S(1));
    w->drop_data[SIM_TCP_CLIENT][0] = 3;
    w->n_drop[SIM_TCP_CLIENT] = 1;
    enum { N = 10 * 1460 };
    uint8_t *buf = malloc(N);
    fill_pattern(buf, N, 9);
    const sim_time t0 = SIM_S(1);
    assert_int_equal(sim_tcp_write(c->e, buf, N), 0);
    sim_tcp_info ci;
    run_to(w, t0 + SIM_MS(25));
    sim_tcp_get_info(c->e, &ci);
    assert_false(ci.in_recovery); /* two duplicates so far */
    assert_int_equal(ci.cwnd, 12);
    run_to(w, t0 + SIM_MS(26));
    sim_tcp_get_info(c->e, &ci);
    assert_true(ci.in_recovery);
    assert_int_equal(ci.ssthresh, 4);
    assert_int_equal(ci.cwnd, 7);
    run_to(w, t0 + SIM_MS(30));
    sim_tcp_get_info(c->e, &ci);
    assert_int_equal(ci.cwnd, 11);
    run_to(w, t0 + SIM_MS(47));
    sim_tcp_get_info(c->e, &ci);
    assert_false(ci.in_recovery);
    assert_int_equal(ci.cwnd, 4);
    assert_int_equal(ci.ssthresh, 4);
    const tseg *d[16];
    size_t n = data_segs(w, SIM_TCP_CLIENT, d, 16);
    assert_int_equal(n, 11);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(d[i]->t, t0);
        assert_int_equal(d[i]->len, 1460);
        assert_int_equal(d[i]->lost, i == 2);
    }
    assert_int_equal(d[10]->t, t0 + SIM_MS(26));
    assert_true(d[10]->rtx);
    assert_int_equal(d[10]->seq, d[2]->seq);
    /* the receiver's ACKs: segment 2's, then 7 duplicates of the same number */
    size_t dups = 0;
    for (size_t i = 0; i < w->nseg; i++)
        if (w->segs[i].from == SIM_TCP_SERVER && w->segs[i].ack == d[2]->seq)
            dups++;
    assert_int_equal(dups, 8);
    app_rec *s = &w->srv[0];
    assert_int_equal(s->n, N);
    assert_memory_equal(s->data, buf, N);
    assert_int_equal(s->last_at, t0 + SIM_MS(37));
    const sim_tcp_stats *cs = sim_tcp_path_stats(w->p, SIM_TCP_CLIENT);
    assert_int_equal(cs->fast_retransmits, 1);
    assert_int_equal(cs->retransmissions, 1);
    assert_int_equal(cs->rto_expiries, 0);
    free(buf);
    world_free(w);
}

/*
 * Limited transmit (RFC 3042): init_cwnd 5, eight segments written, the
 * first lost. Segments 2..5 draw four duplicates (all at t0 + 20 ms): the
 * first two each let one new segment out (6 and 7) although cwnd is full,
 * the third triggers fast retransmit. FlightSize then is 7 segments minus
 * the 2 sent by limited transmit (RFC 5681 3.2): ssthresh = max(5 / 2, 2)
 * = 2 (counting them would give 3), cwnd = 2 + 3 = 5, 6 after the fourth
 * duplicate (7 in flight: nothing more goes). With init_cwnd 3 and segment
 * 1 lost, only limited transmit gets a third duplicate at all: without it
 * segments 2 and 3 give two, and the loss waits for the RTO. With it, 4 and
 * 5 go at t0 + 20, their duplicates bring the fast retransmit at t0 + 40,
 * and the fourth duplicate (cwnd 2 + 3 + 1 = 6 > 5 in flight) lets 6 out.
 */
static void limited_transmit_reaches_three_dupacks(void **state)
{
    (void)state;
    for (int v = 0; v < 2; v++) {
        sim_tcp_params tp;
        sim_tcp_params_default(&tp);
        tp.init_cwnd = v == 0 ? 5 : 3;
        world *w = world_new(&tp, 10);
        app_rec *c = world_established(w, SIM_S(1));
        w->drop_data[SIM_TCP_CLIENT][0] = 1;
        w->n_drop[SIM_TCP_CLIENT] = 1;
        enum { N = 8 * 1460 };
        uint8_t *buf = malloc(N);
        fill_pattern(buf, N, 13);
        const sim_time t0 = SIM_S(1);
        assert_int_equal(sim_tcp_write(c->e, buf, N), 0);
        const tseg *d[16];
        sim_tcp_info ci;
        if (v == 0) {
            run_to(w, t0 + SIM_MS(20));
            size_t n = data_segs(w, SIM_TCP_CLIENT, d, 16);
            assert_int_equal(n, 8);
            for (int i = 0; i < 5; i++)
                assert_int_equal(d[i]->t, t0);
            for (int i = 5; i < 8; i++)
                assert_int_equal(d[i]->t, t0 + SIM_MS(20));
            assert_false(d[5]->rtx || d[6]->rtx);
            assert_int_equal(d[6]->seq, d[4]->seq + 2 * 1460);
            assert_true(d[7]->rtx);
            assert_int_equal(d[7]->seq, d[0]->seq);
            sim_tcp_get_info(c->e, &ci);
            assert_true(ci.in_recovery);
            assert_int_equal(ci.ssthresh, 2);
            assert_int_equal(ci.cwnd, 6);
        } else {
            run_to(w, t0 + SIM_MS(40));
            size_t n = data_segs(w, SIM_TCP_CLIENT, d, 16);
            assert_int_equal(n, 7);
            assert_int_equal(d[3]->t, t0 + SIM_MS(20));
            assert_int_equal(d[4]->t, t0 + SIM_MS(20));
            assert_int_equal(d[5]->t, t0 + SIM_MS(40)); /* fast retransmit */
            assert_int_equal(d[5]->seq, d[0]->seq);
            assert_int_equal(d[6]->t, t0 + SIM_MS(40)); /* segment 6, by the inflation */
            assert_false(d[6]->rtx);
        }
        run_to(w, SIM_S(2));
        assert_int_equal(w->srv[0].n, N);
        assert_memory_equal(w->srv[0].data, buf, N);
        assert_int_equal(sim_tcp_path_stats(w->p, SIM_TCP_CLIENT)->rto_expiries, 0);
        free(buf);
        world_free(w);
    }
}

/*
 * RFC 6582's "impatient" timer: restarted by the first partial ACK only.
 * Segments 3, 6 and 9 of ten lost, and the retransmission of 9 too. Fast
 * retransmit of 3 at t0 + 20 ms; the partial ACK at t0 + 40 restarts the
 * timer (RTO 220 ms: t0 + 260) and retransmits 6; the second partial ACK at
 * t0 + 60 retransmits 9 (lost) without restarting it; then nothing comes
 * back, and the timer fires at t0 + 260 (not t0 + 280): go back to 9 in
 * slow start (cwnd 1; ssthresh stays 4, cut once in the episode), delivered
 * at t0 + 270.
 */
static void newreno_timer_restarts_on_first_partial_ack(void **state)
{
    (void)state;
    world *w = world_new(NULL, 10);
    app_rec *c = world_established(w, SIM_S(1));
    const int drops[] = {3, 6, 9, 13}; /* data segment 13 = the retransmission of 9 */
    for (int i = 0; i < 4; i++)
        w->drop_data[SIM_TCP_CLIENT][i] = drops[i];
    w->n_drop[SIM_TCP_CLIENT] = 4;
    enum { N = 10 * 1460 };
    uint8_t *buf = malloc(N);
    fill_pattern(buf, N, 14);
    const sim_time t0 = SIM_S(1);
    assert_int_equal(sim_tcp_write(c->e, buf, N), 0);
    run_to(w, t0 + SIM_MS(261));
    sim_tcp_info ci;
    sim_tcp_get_info(c->e, &ci);
    assert_true(ci.in_loss);
    assert_int_equal(ci.cwnd, 1);
    assert_int_equal(ci.ssthresh, 4);
    run_to(w, SIM_S(2));
    const tseg *d[16];
    size_t n = data_segs(w, SIM_TCP_CLIENT, d, 16);
    assert_int_equal(n, 14);
    const sim_time at[] = {SIM_MS(20), SIM_MS(40), SIM_MS(60), SIM_MS(260)};
    const int hole[] = {2, 5, 8, 8};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(d[10 + i]->t, t0 + at[i]);
        assert_int_equal(d[10 + i]->seq, d[hole[i]]->seq);
    }
    assert_int_equal(w->srv[0].n, N);
    assert_memory_equal(w->srv[0].data, buf, N);
    assert_int_equal(w->srv[0].last_at, t0 + SIM_MS(270));
    const sim_tcp_stats *cs = sim_tcp_path_stats(w->p, SIM_TCP_CLIENT);
    assert_int_equal(cs->fast_retransmits, 1);
    assert_int_equal(cs->rto_expiries, 1);
    free(buf);
    world_free(w);
}

/* An application-limited flow (one small write per round trip) never
 * fills its window, so cwnd does not grow (Linux tcp_is_cwnd_limited: in
 * slow start cwnd must stay below twice the peak in flight); a sender that
 * fills it grows in slow start: 10 segments acknowledged, cwnd 20. */
static void cwnd_grows_only_when_used(void **state)
{
    (void)state;
    world *w = world_new(NULL, 10);
    app_rec *c = world_established(w, SIM_S(1));
    for (int i = 0; i < 100; i++) {
        assert_int_equal(sim_tcp_write(c->e, "tick", 4), 0);
        run_to(w, SIM_S(1) + (sim_time)(i + 1) * SIM_MS(50));
    }
    sim_tcp_info ci;
    sim_tcp_get_info(c->e, &ci);
    assert_int_equal(ci.cwnd, 10);
    uint8_t buf[10 * 1460] = {0};
    assert_int_equal(sim_tcp_write(c->e, buf, sizeof buf), 0);
    run_to(w, SIM_S(7));
    sim_tcp_get_info(c->e, &ci);
    assert_int_equal(ci.cwnd, 20);
    world_free(w);
}

/*
 * NewReno with two holes in one window: segments 3 and 6 of ten lost.
 * t0+20: ACK 1, 2 (cwnd 12), duplicates 1..3 -> fast retransmit of 3,
 * ssthresh 4, cwnd 7, then duplicates 4..6 -> cwnd 10. t0+40: the partial
 * ACK (up to segment 6) acknowledges 3 segments: retransmit 6 at once,
 * cwnd = 10 - 3 + 1 = 8, still in recovery. t0+60: the full ACK: cwnd =
 * ssthresh = 4. No timeout.
 */
static void newreno_partial_ack(void **state)
{
    (void)state;
    world *w = world_new(NULL, 10);
    app_rec *c = world_established(w, SIM_S(1));
    w->drop_data[SIM_TCP_CLIENT][0] = 3;
    w->drop_data[SIM_TCP_CLIENT][1] = 6;
    w->n_drop[SIM_TCP_CLIENT] = 2;
    enum { N = 10 * 1460 };
    uint8_t *buf = malloc(N);
    fill_pattern(buf, N, 10);
    const sim_time t0 = SIM_S(1);
    assert_int_equal(sim_tcp_write(c->e, buf, N), 0);
    sim_tcp_info ci;
    run_to(w, t0 + SIM_MS(20));
    sim_tcp_get_info(c->e, &ci);
    assert_true(ci.in_recovery);
    assert_int_equal(ci.ssthresh, 4);
    assert_int_equal(ci.cwnd, 10);
    run_to(w, t0 + SIM_MS(40));
    sim_tcp_get_info(c->e, &ci);
    assert_true(ci.in_recovery);
    assert_int_equal(ci.cwnd, 8);
    run_to(w, t0 + SIM_MS(60));
    sim_tcp_get_info(c->e, &ci);
    assert_false(ci.in_recovery);
    assert_int_equal(ci.cwnd, 4);
    const tseg *d[16];
    size_t n = data_segs(w, SIM_TCP_CLIENT, d, 16);
    assert_int_equal(n, 12);
    assert_int_equal(d[10]->t, t0 + SIM_MS(20));
    assert_int_equal(d[10]->seq, d[2]->seq);
    assert_int_equal(d[11]->t, t0 + SIM_MS(40));
    assert_int_equal(d[11]->seq, d[5]->seq);
    assert_int_equal(w->srv[0].n, N);
    assert_memory_equal(w->srv[0].data, buf, N);
    const sim_tcp_stats *cs = sim_tcp_path_stats(w->p, SIM_TCP_CLIENT);
    assert_int_equal(cs->fast_retransmits, 1);
    assert_int_equal(cs->retransmissions, 2);
    assert_int_equal(cs->rto_expiries, 0);
    free(buf);
    world_free(w);
}

/*
 * A loss with too few segments behind it for three duplicates: the RTO
 * recovers it, in slow start from cwnd 1 (RFC 5681 3.1): one segment at the
 * expiry, ssthresh = FlightSize / 2 = max(2 / 2, 2) = 2.
 */
static void timeout_recovery_slow_start(void **state)
{
    (void)state;
    world *w = world_new(NULL, 10);
    app_rec *c = world_established(w, SIM_S(1));
    w->drop_data[SIM_TCP_CLIENT][0] = 1;
    w->n_drop[SIM_TCP_CLIENT] = 1;
    uint8_t buf[2 * 1460];
    fill_pattern(buf, sizeof buf, 11);
    assert_int_equal(sim_tcp_write(c->e, buf, sizeof buf), 0);
    run_to(w, SIM_S(1) + SIM_MS(221));
    sim_tcp_info ci;
    sim_tcp_get_info(c->e, &ci);
    assert_true(ci.in_loss);
    assert_int_equal(ci.cwnd, 1);
    assert_int_equal(ci.ssthresh, 2);
    assert_int_equal(ci.packets_out, 1);
    run_to(w, SIM_S(2));
    const tseg *d[8];
    size_t n = data_segs(w, SIM_TCP_CLIENT, d, 8);
    assert_int_equal(n, 3);
    assert_int_equal(d[2]->t, SIM_S(1) + SIM_MS(220));
    assert_int_equal(d[2]->seq, d[0]->seq);
    /* the receiver had segment 2: one cumulative ACK covers both */
    assert_int_equal(w->srv[0].n, sizeof buf);
    assert_int_equal(w->srv[0].last_at, SIM_S(1) + SIM_MS(230));
    assert_int_equal(sim_tcp_path_stats(w->p, SIM_TCP_CLIENT)->retransmissions, 1);
    sim_tcp_get_info(c->e, &ci);
    assert_false(ci.in_loss);
    world_free(w);
}

/* ---- delayed ACK ---- */

/*
 * delayed_ack 40 ms, 10 ms delays. One small segment: its ACK leaves 40 ms
 * after it arrived. Two full segments together: the second is ACKed at once
 * (more than one MSS unacknowledged). Three: the first two at once, the
 * third after 40 ms. An answer written by the receiving application carries
 * the ACK itself (no pure ACK).
 */
static void delayed_ack_timing(void **state)
{
    (void)state;
    sim_tcp_params tp;
    sim_tcp_params_default(&tp);
    tp.delayed_ack = SIM_MS(40);
    world *w = world_new(&tp, 10);
    app_rec *c = world_established(w, SIM_S(1));
    size_t base = w->nseg;
    assert_int_equal(sim_tcp_write(c->e, "abc", 3), 0);
    run_to(w, SIM_S(2));
    assert_int_equal(w->nseg, base + 2);
    assert_int_equal(w->segs[base + 1].from, SIM_TCP_SERVER);
    assert_int_equal(w->segs[base + 1].t, SIM_S(1) + SIM_MS(50));
    assert_int_equal(w->segs[base + 1].len, 0);
    uint8_t buf[3 * 1460] = {0};
    base = w->nseg;
    assert_int_equal(sim_tcp_write(c->e, buf, 2 * 1460), 0);
    run_to(w, SIM_S(3));
    assert_int_equal(w->nseg, base + 3);
    assert_int_equal(w->segs[base + 2].t, SIM_S(2) + SIM_MS(10));
    assert_int_equal(w->segs[base + 2].ack, w->segs[base + 1].seq + 1460);
    base = w->nseg;
    assert_int_equal(sim_tcp_write(c->e, buf, 3 * 1460), 0);
    run_to(w, SIM_S(4));
    assert_int_equal(w->nseg, base + 5);
    assert_int_equal(w->segs[base + 3].t, SIM_S(3) + SIM_MS(10));
    assert_int_equal(w->segs[base + 4].t, SIM_S(3) + SIM_MS(50));
    assert_int_equal(w->segs[base + 4].ack, w->segs[base + 2].seq + 1460);
    /* an echoing server: its answer carries the ACK */
    w->srv[0].echo = true;
    base = w->nseg;
    assert_int_equal(sim_tcp_write(c->e, "ping", 4), 0);
    run_to(w, SIM_S(5));
    assert_int_equal(w->segs[base + 1].from, SIM_TCP_SERVER);
    assert_int_equal(w->segs[base + 1].len, 4);
    assert_int_equal(w->segs[base + 1].t, SIM_S(4) + SIM_MS(10));
    assert_int_equal(w->segs[base + 1].ack, w->segs[base].seq + 4);
    for (size_t i = base + 2; i < w->nseg; i++) /* the client's delayed ACK of the echo */
        assert_false(w->segs[i].from == SIM_TCP_SERVER && w->segs[i].len == 0);
    assert_int_equal(c->n, 4);
    world_free(w);

    /* Filling a hole is acknowledged at once even with little data
     * (RFC 5681 4.2): "a" lost, "b" arrives out of order (immediate
     * duplicate ACK); the RTO (220 ms) resends "ab" from snd_una, which
     * fills the hole: ACKed on arrival at t0 + 230 ms, not 40 ms later. */
    w = world_new(&tp, 10);
    c = world_established(w, SIM_S(1));
    w->drop_data[SIM_TCP_CLIENT][0] = 1;
    w->n_drop[SIM_TCP_CLIENT] = 1;
    assert_int_equal(sim_tcp_write(c->e, "a", 1), 0);
    run_to(w, SIM_S(1) + SIM_MS(1));
    assert_int_equal(sim_tcp_write(c->e, "b", 1), 0);
    run_to(w, SIM_S(2));
    const tseg *d[4];
    assert_int_equal(data_segs(w, SIM_TCP_CLIENT, d, 4), 3);
    assert_int_equal(d[2]->t, SIM_S(1) + SIM_MS(220));
    assert_int_equal(d[2]->len, 2);
    const tseg *last = &w->segs[w->nseg - 1];
    assert_int_equal(last->from, SIM_TCP_SERVER);
    assert_int_equal(last->t, SIM_S(1) + SIM_MS(230));
    assert_int_equal(last->ack, d[0]->seq + 2);
    assert_int_equal(w->srv[0].n, 2);
    assert_memory_equal(w->srv[0].data, "ab", 2);
    world_free(w);
}

/* ---- RST, vanish, NAT ---- */

/* The server vanishes (a crash): the client's next write meets an RST from
 * the server's stack (seq = the client's ACK number) one round trip later. */
static void write_to_vanished_end_meets_rst(void **state)
{
    (void)state;
    world *w = world_new(NULL, 10);
    app_rec *c = world_established(w, SIM_S(1));
    sim_tcp_vanish(w->srv[0].e);
    run_to(w, SIM_S(2));
    size_t base = w->nseg;
    assert_int_equal(base, 3); /* nothing was sent by the vanishing */
    assert_int_equal(sim_tcp_write(c->e, "data", 4), 0);
    run_to(w, SIM_S(3));
    assert_int_equal(c->n_ev, 2);
    assert_int_equal(c->ev[1], SIM_TCP_EV_RESET);
    assert_int_equal(c->ev_at[1], SIM_S(2) + SIM_MS(20));
    assert_int_equal(w->nseg, base + 2);
    const tseg *rst = &w->segs[base + 1];
    assert_int_equal(rst->flags, SIM_TCP_RST);
    assert_int_equal(rst->seq, w->segs[base].ack);
    assert_int_equal(w->srv[0].n, 0);
    assert_int_equal(sim_tcp_path_conns(w->p), 0);
    world_free(w);
}

/*
 * NAT rebind at 1 s. The server writes at 1.5 s: dropped at the NAT, and
 * it retransmits into it; the client hears nothing and its end stays up.
 * The client writes at 2 s: its segment reaches the server as an unknown
 * flow, answered by RST on the new mapping: the client is reset at 2.02 s.
 * The server end stays half-open until its own abort: its ladder from 1.5 s
 * with RTO 220 ms ends at 1.5 + 945.06 s.
 */
static void nat_rebind_both_ends(void **state)
{
    (void)state;
    world *w = world_new(NULL, 10);
    app_rec *c = world_established(w, SIM_S(1) - SIM_MS(10));
    app_rec *s = &w->srv[0];
    run_to(w, SIM_S(1));
    sim_tcp_nat_rebind(c->e);
    run_to(w, SIM_MS(1500));
    assert_int_equal(sim_tcp_write(s->e, "to client", 9), 0);
    run_to(w, SIM_S(2));
    assert_int_equal(c->n, 0);
    assert_int_equal(c->n_ev, 1);
    size_t base = w->nseg;
    assert_int_equal(sim_tcp_write(c->e, "to server", 9), 0);
    run_to(w, SIM_S(3));
    assert_int_equal(c->n_ev, 2);
    assert_int_equal(c->ev[1], SIM_TCP_EV_RESET);
    assert_int_equal(c->ev_at[1], SIM_S(2) + SIM_MS(20));
    assert_int_equal(s->n, 0);
    const tseg *g = &w->segs[base];
    assert_true(g->from == SIM_TCP_CLIENT && g->new_mapping && !g->lost);
    bool saw_rst = false;
    for (size_t i = base; i < w->nseg; i++)
        if (w->segs[i].from == SIM_TCP_SERVER && (w->segs[i].flags & SIM_TCP_RST)) {
            saw_rst = true;
            assert_true(w->segs[i].new_mapping);
            assert_int_equal(w->segs[i].t, SIM_S(2) + SIM_MS(10));
        }
    assert_true(saw_rst);
    sim_tcp_info si;
    sim_tcp_get_info(s->e, &si);
    assert_string_equal(si.state, "ESTABLISHED");
    assert_true(si.retransmits > 0);
    assert_int_equal(s->n_ev, 1);
    run_to(w, SIM_S(2000));
    assert_int_equal(s->n_ev, 2);
    assert_int_equal(s->ev[1], SIM_TCP_EV_ABORTED);
    assert_int_equal(s->ev_at[1], SIM_MS(1500) + SIM_MS(945060));
    const sim_tcp_stats *ss = sim_tcp_path_stats(w->p, SIM_TCP_SERVER);
    assert_int_equal(ss->nat_dropped, 16); /* the original and 15 retransmissions */
    assert_int_equal(sim_tcp_path_conns(w->p), 0);
    world_free(w);
}

/*
 * An abort whose RST lands above rcv_nxt (the data before it was lost) is
 * not taken at once: the receiver sends a challenge ACK (RFC 5961 3.2), the
 * aborted end's stack answers it with an RST at exactly rcv_nxt, and that
 * one resets the connection, one round trip after the first RST arrived.
 */
static void rst_in_window_draws_challenge_ack(void **state)
{
    (void)state;
    world *w = world_new(NULL, 10);
    app_rec *c = world_established(w, SIM_S(1));
    w->drop_data[SIM_TCP_SERVER][0] = 1;
    w->n_drop[SIM_TCP_SERVER] = 1;
    assert_int_equal(sim_tcp_write(w->srv[0].e, "lost", 4), 0);
    sim_tcp_abort(w->srv[0].e);
    run_to(w, SIM_S(2));
    assert_int_equal(c->n_ev, 2);
    assert_int_equal(c->ev[1], SIM_TCP_EV_RESET);
    assert_int_equal(c->ev_at[1], SIM_S(1) + SIM_MS(30));
    size_t rsts = 0, acks = 0;
    for (size_t i = 3; i < w->nseg; i++) {
        rsts += (w->segs[i].flags & SIM_TCP_RST) != 0;
        acks += w->segs[i].from == SIM_TCP_CLIENT && w->segs[i].flags == SIM_TCP_ACK;
    }
    assert_int_equal(rsts, 2);
    assert_int_equal(acks, 1);
    assert_int_equal(c->n, 0);
    world_free(w);
}

/* ---- closing ---- */

/*
 * Graceful close: the client closes at 1 s (FIN), the server hears
 * PEER_CLOSED at 1.01 s and closes (FIN at 1.01), the client's ACK of it at
 * 1.02 s starts TIME_WAIT (60 s); the server's end is gone at 1.03 s, the
 * client's at 61.02 s, and the path then holds no connection.
 */
static void graceful_close_and_time_wait(void **state)
{
    (void)state;
    world *w = world_new(NULL, 10);
    app_rec *c = world_established(w, SIM_S(1));
    app_rec *s = &w->srv[0];
    s->close_on_fin = true;
    assert_int_equal(sim_tcp_write(c->e, "bye", 3), 0);
    sim_tcp_close(c->e);
    run_to(w, SIM_S(2));
    assert_int_equal(s->n, 3);
    assert_int_equal(s->n_ev, 2);
    assert_int_equal(s->ev[1], SIM_TCP_EV_PEER_CLOSED);
    assert_int_equal(s->ev_at[1], SIM_S(1) + SIM_MS(10));
    assert_int_equal(sim_tcp_path_conns(w->p), 1);
    size_t fins = 0;
    for (size_t i = 0; i < w->nseg; i++)
        fins += (w->segs[i].flags & SIM_TCP_FIN) != 0;
    assert_int_equal(fins, 2);
    run_to(w, SIM_S(61));
    assert_int_equal(sim_tcp_path_conns(w->p), 1);
    run_to(w, SIM_S(61) + SIM_MS(20));
    assert_int_equal(sim_tcp_path_conns(w->p), 0);
    assert_int_equal(c->n_ev, 1); /* a closed end hears nothing */
    world_free(w);
}

/*
 * The client's last ACK is lost: the server (LAST_ACK) resends its FIN at
 * 1.01 + 0.22 = 1.23 s; the client, in TIME_WAIT, acknowledges it again and
 * restarts TIME_WAIT (RFC 793): its end is gone at 1.24 + 60 s, not 61.02.
 */
static bool drop_client_pure_ack_once(void *ctx, const sim_tcp_seg_info *g)
{
    int *n = ctx;
    if (g->from == SIM_TCP_CLIENT && g->flags == SIM_TCP_ACK && g->t > SIM_S(1) && *n == 0) {
        (*n)++;
        return true;
    }
    return false;
}

static void time_wait_restarts_on_fin_retransmission(void **state)
{
    (void)state;
    world *w = world_new(NULL, 10);
    app_rec *c = world_established(w, SIM_S(1));
    w->srv[0].close_on_fin = true;
    int dropped = 0;
    sim_tcp_test_set_filter(w->p, drop_client_pure_ack_once, &dropped);
    sim_tcp_close(c->e);
    run_to(w, SIM_S(2));
    assert_int_equal(dropped, 1);
    size_t fins = 0;
    sim_time last_fin = 0;
    for (size_t i = 0; i < w->nseg; i++)
        if (w->segs[i].from == SIM_TCP_SERVER && (w->segs[i].flags & SIM_TCP_FIN)) {
            fins++;
            last_fin = w->segs[i].t;
        }
    assert_int_equal(fins, 2);
    assert_int_equal(last_fin, SIM_MS(1230));
    assert_int_equal(sim_tcp_path_conns(w->p), 1);
    run_to(w, SIM_S(61) + SIM_MS(100));
    assert_int_equal(sim_tcp_path_conns(w->p), 1);
    run_to(w, SIM_S(61) + SIM_MS(240));
    assert_int_equal(sim_tcp_path_conns(w->p), 0);
    world_free(w);
}

/*
 * A FIN that arrives before the data in front of it is remembered: the
 * first of four writes is lost, the three others and the FIN draw four
 * duplicates, and the fast retransmission carries the lost bytes only (its
 * old extent). When it fills the hole the receiver takes the FIN it already
 * has: PEER_CLOSED on arrival, at t0 + 30 ms, with every byte in order.
 */
static void out_of_order_fin_is_kept(void **state)
{
    (void)state;
    world *w = world_new(NULL, 10);
    app_rec *c = world_established(w, SIM_S(1));
    w->drop_data[SIM_TCP_CLIENT][0] = 1;
    w->n_drop[SIM_TCP_CLIENT] = 1;
    const char *parts[] = {"one,", "two,", "three,", "four"};
    for (int i = 0; i < 4; i++)
        assert_int_equal(sim_tcp_write(c->e, parts[i], strlen(parts[i])), 0);
    sim_tcp_close(c->e);
    run_to(w, SIM_S(2));
    const tseg *d[8];
    assert_int_equal(data_segs(w, SIM_TCP_CLIENT, d, 8), 5);
    assert_int_equal(d[4]->t, SIM_S(1) + SIM_MS(20));
    assert_int_equal(d[4]->len, 4);
    assert_false(d[4]->flags & SIM_TCP_FIN);
    app_rec *s = &w->srv[0];
    assert_int_equal(s->n, 18);
    assert_memory_equal(s->data, "one,two,three,four", 18);
    assert_int_equal(s->n_ev, 2);
    assert_int_equal(s->ev[1], SIM_TCP_EV_PEER_CLOSED);
    assert_int_equal(s->ev_at[1], SIM_S(1) + SIM_MS(30));
    world_free(w);
}

/*
 * Closed with data outstanding into a dead link: the orphan's budget is
 * tcp_orphan_retries (0 means 8 while the RTO is below rto_max), i.e.
 * (2^9 - 1) x 0.2 = 102.2 s at RTO 200 ms, reached exactly by the ninth
 * expiry (0.2 x 511). The end then disappears without a word (no RST, no
 * event): the record is freed at t0 + 102.2 s.
 */
static void orphan_gives_up_after_its_budget(void **state)
{
    (void)state;
    world *w = world_new(NULL, 0);
    app_rec *c = world_established(w, SIM_S(1));
    sim_link_set_down(sim_tcp_path_link(w->p, SIM_TCP_CLIENT), true);
    assert_int_equal(sim_tcp_write(c->e, "last words", 10), 0);
    sim_tcp_close(c->e);
    run_to(w, SIM_S(1) + SIM_MS(102199));
    assert_int_equal(sim_tcp_path_conns(w->p), 1);
    sim_tcp_vanish(w->srv[0].e); /* the server end would otherwise wait forever */
    run_to(w, SIM_S(1) + SIM_MS(102200));
    assert_int_equal(sim_tcp_path_conns(w->p), 0);
    assert_int_equal(c->n_ev, 1);
    const tseg *d[16];
    assert_int_equal(data_segs(w, SIM_TCP_CLIENT, d, 16), 9); /* the original and 8 resends */
    size_t rsts = 0;
    for (size_t i = 0; i < w->nseg; i++)
        rsts += (w->segs[i].flags & SIM_TCP_RST) != 0;
    assert_int_equal(rsts, 0);
    world_free(w);
}

/*
 * The peer never closes: the closed client sits in FIN_WAIT_2 for
 * tcp_fin_timeout (60 s from the ACK of its FIN, at 1.02 s), then is gone;
 * a later write from the server meets an RST from the client's stack.
 */
static void fin_wait_2_times_out(void **state)
{
    (void)state;
    world *w = world_new(NULL, 10);
    app_rec *c = world_established(w, SIM_S(1));
    app_rec *s = &w->srv[0];
    sim_tcp_close(c->e);
    run_to(w, SIM_S(2));
    assert_int_equal(s->ev[1], SIM_TCP_EV_PEER_CLOSED);
    run_to(w, SIM_S(61) + SIM_MS(19));
    assert_int_equal(sim_tcp_path_conns(w->p), 1);
    size_t before = w->nseg;
    run_to(w, SIM_S(62));
    assert_int_equal(w->nseg, before); /* it went silently */
    assert_int_equal(sim_tcp_write(s->e, "late", 4), 0);
    run_to(w, SIM_S(63));
    assert_int_equal(s->n_ev, 3);
    assert_int_equal(s->ev[2], SIM_TCP_EV_RESET);
    assert_int_equal(s->ev_at[2], SIM_S(62) + SIM_MS(20));
    assert_int_equal(sim_tcp_path_conns(w->p), 0);
    world_free(w);
}

/* Data written to an end that has closed: its stack answers RST (as Linux
 * does for a closed socket) and the writer is reset. */
static void data_after_close_is_reset(void **state)
{
    (void)state;
    world *w = world_new(NULL, 10);
    app_rec *c = world_established(w, SIM_S(1));
    app_rec *s = &w->srv[0];
    s->write_on_fin = true;
    sim_tcp_close(c->e);
    run_to(w, SIM_S(2));
    assert_int_equal(s->n_ev, 3);
    assert_int_equal(s->ev[1], SIM_TCP_EV_PEER_CLOSED);
    assert_int_equal(s->ev[2], SIM_TCP_EV_RESET);
    assert_int_equal(s->ev_at[2], SIM_S(1) + SIM_MS(30));
    assert_int_equal(c->n, 0);
    run_to(w, SIM_S(3));
    assert_int_equal(sim_tcp_path_conns(w->p), 0);
    world_free(w);
}

/* ---- zero runs and memory ---- */

typedef struct {
    world *w;
    sim_tcp_end *sender;
    size_t max_stored, max_bytes;
    uint64_t zeros, other, n;
    uint8_t head[3], tail[3];
} zcheck;

static void z_event(void *ctx, sim_tcp_end *e, sim_tcp_event ev)
{
    (void)ctx;
    (void)e;
    (void)ev;
}

static void z_data(void *ctx, sim_tcp_end *e, const uint8_t *d, size_t len)
{
    (void)e;
    zcheck *z = ctx;
    for (size_t i = 0; i < len; i++, z->n++) {
        if (z->n < 3)
            z->head[z->n] = d[i];
        else if (d[i] == 0)
            z->zeros++;
        else
            z->tail[z->other++ % 3] = d[i];
    }
    size_t st = sim_tcp_stored(z->sender), by = sim_tcp_path_bytes(z->w->p);
    if (st > z->max_stored)
        z->max_stored = st;
    if (by > z->max_bytes)
        z->max_bytes = by;
}

static zcheck *z_target;

static void z_accept(void *ctx, sim_tcp_end *e)
{
    (void)ctx;
    static const sim_tcp_app za = {z_event, z_data};
    sim_tcp_set_app(e, &za, z_target);
}

/*
 * "HDR", a run of n zeros, "END" over 1% loss: the receiver sees exactly
 * that, the sender never stores more than the six real bytes, and the
 * path's memory stays far below the run (the same bound for 1 MB and 64 MB).
 */
static void zero_run_case(uint64_t n, size_t *max_bytes)
{
    sim_tcp_params tp;
    sim_tcp_params_default(&tp);
    world *w = world_new_links(&tp, link_ms(10, 0.01), link_ms(10, 0), 5);
    sim_tcp_test_set_filter(w->p, NULL, NULL);
    sim_tcp_path_set_tap(w->p, NULL, NULL);
    zcheck z;
    memset(&z, 0, sizeof z);
    z.w = w;
    z_target = &z;
    sim_tcp_listen(w->p, z_accept, NULL);
    app_rec *c = world_connect(w);
    run_to(w, SIM_S(1));
    z.sender = c->e;
    assert_int_equal(sim_tcp_write(c->e, "HDR", 3), 0);
    assert_int_equal(sim_tcp_write_zeros(c->e, n), 0);
    assert_int_equal(sim_tcp_write_zeros(c->e, 0), 0);
    assert_int_equal(sim_tcp_write(c->e, "END", 3), 0);
    assert_int_equal(sim_tcp_stored(c->e), 6);
    while (z.n < n + 6)
        run_to(w, sim_sched_now(w->s) + SIM_S(10));
    assert_memory_equal(z.head, "HDR", 3);
    assert_int_equal(z.zeros, n);
    assert_int_equal(z.other, 3);
    assert_memory_equal(z.tail, "END", 3);
    assert_true(z.max_stored <= 6);
    assert_true(sim_tcp_path_stats(w->p, SIM_TCP_CLIENT)->retransmissions > 0);
    run_to(w, sim_sched_now(w->s) + SIM_S(1));
    assert_int_equal(sim_tcp_stored(c->e), 0);
    *max_bytes = z.max_bytes;
    world_free(w);
}

static void zero_runs_cost_no_memory(void **state)
{
    (void)state;
    size_t small, big;
    zero_run_case(1 << 20, &small);
    zero_run_case(64 << 20, &big);
    assert_true(small < 64 * 1024);
    assert_true(big < 64 * 1024);
}

/* One write of bytes and zeros is one segment: a small MQTT PUBLISH (head,
 * then its payload's zeros) leaves as one frame of 23 + 16 + 40 bytes, where
 * two writes with no Nagle delay would send two. The receiver gets the head,
 * then the zeros. */
static void bytes_and_zeros_in_one_write_are_one_segment(void **state)
{
    (void)state;
    world *w = world_new(NULL, 10);
    app_rec *c = world_established(w, SIM_S(1));
    app_rec *srv = &w->srv[0];
    size_t before = w->nseg;
    uint8_t head[23];
    memset(head, 0x5a, sizeof head);
    assert_int_equal(sim_tcp_write_with_zeros(c->e, head, sizeof head, 16), 0);
    assert_int_equal(sim_tcp_stored(c->e), sizeof head);
    size_t data = 0;
    for (size_t i = before; i < w->nseg; i++)
        if (w->segs[i].from == SIM_TCP_CLIENT && w->segs[i].len) {
            data++;
            assert_int_equal(w->segs[i].len, 39);
        }
    assert_int_equal(data, 1);
    run_to(w, SIM_S(2));
    assert_int_equal(srv->n, 39);
    assert_memory_equal(srv->data, head, sizeof head);
    for (size_t i = sizeof head; i < 39; i++)
        assert_int_equal(srv->data[i], 0);
    assert_int_equal(sim_tcp_path_stats(w->p, SIM_TCP_CLIENT)->bytes_written, 39);
    /* The same as two writes: two segments. */
    before = w->nseg;
    assert_int_equal(sim_tcp_write(c->e, head, sizeof head), 0);
    assert_int_equal(sim_tcp_write_zeros(c->e, 16), 0);
    data = 0;
    for (size_t i = before; i < w->nseg; i++)
        data += w->segs[i].from == SIM_TCP_CLIENT && w->segs[i].len;
    assert_int_equal(data, 2);
    world_free(w);
}

/* ---- a path reused ---- */

/*
 * Connection 1's client aborts while the server's data to it is in flight
 * (50 ms delays); connection 2 opens on the same path right after. The old
 * segments reach the dead end 1 and draw RSTs from the client's stack, the
 * server end 1 is reset; connection 2 is not disturbed and carries its
 * data; the links (and their statistics) are the same.
 */
static void path_reused_by_successive_connections(void **state)
{
    (void)state;
    world *w = world_new(NULL, 50);
    app_rec *c1 = world_established(w, SIM_S(1));
    app_rec *s1 = &w->srv[0];
    uint8_t buf[10000];
    fill_pattern(buf, sizeof buf, 12);
    assert_int_equal(sim_tcp_write(s1->e, buf, sizeof buf), 0);
    run_to(w, SIM_S(1) + SIM_MS(1));
    sim_tcp_abort(c1->e);
    run_to(w, SIM_S(1) + SIM_MS(2));
    app_rec *c2 = world_connect(w);
    run_to(w, SIM_S(2));
    assert_int_equal(c2->ev[0], SIM_TCP_EV_ESTABLISHED);
    assert_int_equal(sim_tcp_conn_id(c2->e), 2);
    assert_int_equal(w->nsrv, 2);
    app_rec *s2 = &w->srv[1];
    assert_int_equal(s1->ev[1], SIM_TCP_EV_RESET);
    assert_int_equal(s1->ev_at[1], SIM_S(1) + SIM_MS(51));
    assert_int_equal(sim_tcp_write(c2->e, buf, sizeof buf), 0);
    assert_int_equal(sim_tcp_write(s2->e, buf, 100), 0);
    run_to(w, SIM_S(3));
    assert_int_equal(s2->n, sizeof buf);
    assert_memory_equal(s2->data, buf, sizeof buf);
    assert_int_equal(c2->n, 100);
    assert_int_equal(c2->n_ev, 1);
    assert_int_equal(s2->n_ev, 1);
    assert_int_equal(c1->n, 0);
    size_t rsts_from_client = 0;
    for (size_t i = 0; i < w->nseg; i++)
        if (w->segs[i].conn == 1 && w->segs[i].from == SIM_TCP_CLIENT && (w->segs[i].flags & SIM_TCP_RST))
            rsts_from_client++;
    assert_true(rsts_from_client >= 2); /* the abort and the answers to old data */
    const sim_link_stats *ls = sim_link_stats_get(sim_tcp_path_link(w->p, SIM_TCP_CLIENT));
    assert_int_equal(ls->frames_sent, sim_tcp_path_stats(w->p, SIM_TCP_CLIENT)->segments);
    sim_tcp_close(c2->e);
    sim_tcp_close(s2->e);
    run_to(w, SIM_S(100));
    assert_int_equal(sim_tcp_path_conns(w->p), 0);
    world_free(w);
}

/* Listening off drops half-open handshakes; freeing a path with
 * connections and segments in flight releases everything (ASan checks). */
static void free_with_everything_in_flight(void **state)
{
    (void)state;
    world *w = world_new(NULL, 30);
    app_rec *c = world_established(w, SIM_S(1));
    uint8_t buf[50000] = {0};
    assert_int_equal(sim_tcp_write(c->e, buf, sizeof buf), 0);
    assert_int_equal(sim_tcp_write_zeros(c->e, 1 << 20), 0);
    app_rec *c2 = world_connect(w);
    run_to(w, SIM_S(1) + SIM_MS(35)); /* c2's SYN reached the server at 1.03 s */
    sim_tcp_listen(w->p, NULL, NULL); /* drops c2's half-open server end */
    run_to(w, SIM_S(1) + SIM_MS(70)); /* its SYN-ACK arrived: the ACK meets an RST */
    assert_int_equal(w->nsrv, 1);
    assert_int_equal(sim_tcp_path_conns(w->p), 2);
    assert_int_equal(c2->n_ev, 1);
    assert_int_equal(c2->ev[0], SIM_TCP_EV_ESTABLISHED);
    run_to(w, SIM_S(1) + SIM_MS(130));
    assert_int_equal(c2->n_ev, 2);
    assert_int_equal(c2->ev[1], SIM_TCP_EV_RESET);
    assert_int_equal(c2->ev_at[1], SIM_S(1) + SIM_MS(120));
    assert_true(sim_tcp_unacked(c->e) > 0);
    assert_true(sim_link_in_transit(sim_tcp_path_link(w->p, SIM_TCP_CLIENT)) +
                sim_link_in_transit(sim_tcp_path_link(w->p, SIM_TCP_SERVER)) > 0);
    world_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(handshake_timing_and_numbers),
        cmocka_unit_test(shared_link_params_same_run),
        cmocka_unit_test(lost_syn_uses_fallback_rto),
        cmocka_unit_test(syn_retry_ladder_and_timeout),
        cmocka_unit_test(refused_then_accepted),
        cmocka_unit_test(rto_ladder_and_abort_linux),
        cmocka_unit_test(rto_ladder_and_abort_rfc6298),
        cmocka_unit_test(user_timeout_aborts_on_time),
        cmocka_unit_test(rto_estimators_exact),
        cmocka_unit_test(recovery_after_outage),
        cmocka_unit_test(retransmission_carries_no_new_bytes),
        cmocka_unit_test(in_order_under_heavy_loss),
        cmocka_unit_test(fast_retransmit_on_three_dupacks),
        cmocka_unit_test(limited_transmit_reaches_three_dupacks),
        cmocka_unit_test(cwnd_grows_only_when_used),
        cmocka_unit_test(newreno_timer_restarts_on_first_partial_ack),
        cmocka_unit_test(newreno_partial_ack),
        cmocka_unit_test(timeout_recovery_slow_start),
        cmocka_unit_test(delayed_ack_timing),
        cmocka_unit_test(write_to_vanished_end_meets_rst),
        cmocka_unit_test(nat_rebind_both_ends),
        cmocka_unit_test(rst_in_window_draws_challenge_ack),
        cmocka_unit_test(graceful_close_and_time_wait),
        cmocka_unit_test(time_wait_restarts_on_fin_retransmission),
        cmocka_unit_test(out_of_order_fin_is_kept),
        cmocka_unit_test(data_after_close_is_reset),
        cmocka_unit_test(orphan_gives_up_after_its_budget),
        cmocka_unit_test(fin_wait_2_times_out),
        cmocka_unit_test(zero_runs_cost_no_memory),
        cmocka_unit_test(bytes_and_zeros_in_one_write_are_one_segment),
        cmocka_unit_test(path_reused_by_successive_connections),
        cmocka_unit_test(free_with_everything_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
