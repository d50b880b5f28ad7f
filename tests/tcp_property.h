/* Random TCP scenarios and their invariants, shared by the TCP property test and the TCP fuzzer. */
#ifndef TESTS_TCP_PROPERTY_H
#define TESTS_TCP_PROPERTY_H

/*
 * Each scenario is one path (sim/tcp.h) with random TCP parameters (MSS,
 * initial window, delayed ACK, RTO formula, abort budgets, user timeout,
 * TIME_WAIT and FIN_WAIT_2 lengths) over two random links (delay
 * distribution, reordering, bandwidth, Bernoulli or Gilbert-Elliott loss,
 * scheduled outages). Up to TP_CONNS connections are opened on it one after
 * another or side by side, and at random moments either end writes bytes,
 * zero runs or both in one write, closes, aborts or vanishes; a NAT forgets a
 * mapping; the server stops and starts listening (in three scenarios in
 * ten the applications only write and connect). Then everything runs until
 * no event is left, every end still open is closed, and it runs out again.
 * Every choice comes from the GSL generator the caller gives: a seeded one
 * for tests/test_tcp_property.c, one that reads the fuzzer's bytes for
 * tests/fuzz/tcp.c.
 *
 * Checked (a violation fails the cmocka test, or, outside one, exits, which
 * libFuzzer reports):
 *   - each end receives a prefix of what its peer wrote, byte for byte, no
 *     byte that no segment the links did not lose carried, and nothing
 *     after FIN; FIN only once the peer closed, and only after all
 *     it wrote;
 *   - no callback after an event that says the end is gone, or after the
 *     application closed, aborted or vanished it; a client's first event is
 *     ESTABLISHED, REFUSED, SYN_TIMEOUT, RESET or ABORTED, and no data comes
 *     before ESTABLISHED;
 *   - every data segment on the wire carries the bytes written at its
 *     sequence number (as the tap shows them), at most MSS of them; a
 *     segment that is not marked a retransmission starts where the highest
 *     sent byte ended; a retransmission carries no byte not sent before;
 *     an ACK never acknowledges a byte its sender's application was not
 *     handed (while that application holds the end);
 *   - a connection nobody broke (no abort, vanish, NAT rebind, RST or abort
 *     by timeout at either end) and nobody closed has delivered all both
 *     ends wrote once the scheduler runs dry;
 *   - the path's statistics agree with the applications (bytes written,
 *     bytes handed over) and with themselves (IP bytes = payload + 40 per
 *     segment);
 *   - nothing is left once every end is closed and the scheduler runs dry:
 *     no connection record, nothing on the links, no failure.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "sim/tcp.h"

#define TP_CONNS 6             /* connections a scenario opens, at most */
#define TP_MAX_WRITTEN (1 << 18) /* bytes an end writes, at most */
#define TP_EVENTS 20000000     /* scheduler events a scenario may take */

typedef struct tp_world tp_world;

typedef struct {
    tp_world *w;
    sim_tcp_end *e;      /* NULL before accept, and once gone */
    int conn;            /* index into w->c */
    int side;            /* SIM_TCP_CLIENT or SIM_TCP_SERVER */
    bool established;    /* may write (client: ESTABLISHED seen; server: accepted) */
    bool app_done;       /* the application closed, aborted or vanished it */
    bool closed;         /* ... by sim_tcp_close (FIN follows what it wrote) */
    bool gone;           /* an event said the end is gone */
    bool broken;         /* aborted, vanished, reset or timed out */
    bool fin;            /* PEER_CLOSED seen */
    int n_events;
    uint8_t *out;        /* what this end wrote, zeros included */
    uint8_t *sent;       /* per byte of out: 1 once a segment not lost carried it */
    size_t n_out, cap_out;
    size_t sent_prefix;  /* sent[0 .. sent_prefix) are all 1 */
    size_t n_in;         /* bytes received, in order */
    size_t written_at_close;
} tp_end;

typedef struct {
    uint32_t id;         /* the path's connection number */
    tp_end end[2];       /* client, server */
    bool isn_known[2];
    uint32_t isn[2];
    uint64_t sent_hi[2]; /* the highest stream offset sent + 1, per side */
    uint64_t acked_hi[2]; /* the highest ACK sent, as an offset in the peer's stream */
    bool rebound;        /* a NAT forgot its mapping */
} tp_conn;

struct tp_world {
    gsl_rng *r;
    sim_sched *s;
    gsl_rng *ru, *rd;
    sim_tcp_path *p;
    sim_tcp_params tp;
    tp_conn c[TP_CONNS];
    int n_conns;
    uint64_t tap_hash;
    uint64_t written[2], handed[2]; /* per side, over every connection */
    bool closing;  /* the final drain: an end accepted now is closed at once */
    tp_conn *opening; /* the connection sim_tcp_connect is opening (its SYN is sent inside) */
    bool calm;     /* the applications only write and connect: nobody breaks anything */
};

/* What the scenarios did, over a whole test: to show that they exercise
 * what they check. */
typedef struct {
    size_t scenarios, conns, established, refused, syn_timeouts, resets, aborts, peer_closed;
    size_t complete; /* connections nobody broke, checked complete */
    uint64_t bytes, segments, retransmissions, rto_expiries, fast_retransmits, lost;
} tp_totals;

static tp_totals tp_total;

static inline uint64_t tp_draw(tp_world *w, uint64_t n) /* uniform in [0, n) */
{
    return n <= 1 ? 0 : gsl_rng_uniform_int(w->r, (unsigned long)n);
}

static inline bool tp_chance(tp_world *w, double p) { return gsl_rng_uniform(w->r) < p; }

static inline tp_conn *tp_conn_of(tp_world *w, uint32_t id)
{
    for (int i = 0; i < w->n_conns; i++)
        if (w->c[i].id == id)
            return &w->c[i];
    return NULL;
}

/* ---- the applications ---- */

static inline void tp_on_event(void *ctx, sim_tcp_end *e, sim_tcp_event ev)
{
    tp_end *a = ctx;
    assert_ptr_equal(a->e, e);
    assert_false(a->gone);
    assert_false(a->app_done);
    a->n_events++;
    if (a->side == SIM_TCP_CLIENT && !a->established)
        assert_true(ev != SIM_TCP_EV_PEER_CLOSED);
    switch (ev) {
    case SIM_TCP_EV_ESTABLISHED:
        assert_int_equal(a->side, SIM_TCP_CLIENT);
        assert_false(a->established);
        assert_int_equal(a->n_events, 1);
        a->established = true;
        tp_total.established++;
        break;
    case SIM_TCP_EV_PEER_CLOSED: {
        const tp_end *peer = &a->w->c[a->conn].end[!a->side];
        assert_false(a->fin);
        assert_true(peer->closed); /* a FIN comes only from close */
        assert_int_equal(a->n_in, peer->written_at_close);
        a->fin = true;
        tp_total.peer_closed++;
        break;
    }
    case SIM_TCP_EV_REFUSED:
    case SIM_TCP_EV_SYN_TIMEOUT:
        assert_int_equal(a->side, SIM_TCP_CLIENT);
        assert_false(a->established);
        if (ev == SIM_TCP_EV_REFUSED)
            tp_total.refused++;
        else
            tp_total.syn_timeouts++;
        a->gone = a->broken = true;
        a->e = NULL;
        break;
    case SIM_TCP_EV_RESET:
    case SIM_TCP_EV_ABORTED:
        if (ev == SIM_TCP_EV_RESET)
            tp_total.resets++;
        else
            tp_total.aborts++;
        a->gone = a->broken = true;
        a->e = NULL;
        break;
    default:
        fail_msg("unknown event %d", (int)ev);
    }
}

static inline void tp_on_data(void *ctx, sim_tcp_end *e, const uint8_t *d, size_t len)
{
    tp_end *a = ctx;
    assert_ptr_equal(a->e, e);
    assert_false(a->gone);
    assert_false(a->app_done);
    assert_true(a->established);
    assert_false(a->fin);
    assert_true(len > 0);
    const tp_end *peer = &a->w->c[a->conn].end[!a->side];
    /* A prefix of what the peer wrote, byte for byte, and only what
     * segments the links did not lose carried. */
    assert_true(a->n_in + len <= peer->n_out);
    assert_true(a->n_in + len <= peer->sent_prefix);
    assert_memory_equal(d, peer->out + a->n_in, len);
    a->n_in += len;
    a->w->handed[a->side] += len;
}

static const sim_tcp_app TP_APP = {tp_on_event, tp_on_data};

static inline void tp_accept(void *ctx, sim_tcp_end *e)
{
    tp_world *w = ctx;
    tp_conn *c = tp_conn_of(w, sim_tcp_conn_id(e));
    assert_non_null(c); /* a connection this scenario opened */
    tp_end *a = &c->end[SIM_TCP_SERVER];
    assert_null(a->e);
    assert_false(a->established || a->gone || a->app_done);
    assert_int_equal(sim_tcp_end_side(e), SIM_TCP_SERVER);
    a->e = e;
    if (w->closing || tp_chance(w, 0.03)) { /* the server takes it and closes at once */
        a->app_done = a->closed = true;
        a->established = true;
        a->e = NULL;
        sim_tcp_close(e);
        return;
    }
    a->established = true;
    sim_tcp_set_app(e, &TP_APP, a);
}

/* ---- the wire ---- */

static inline void tp_tap(void *ctx, const sim_tcp_seg_info *g)
{
    tp_world *w = ctx;
    uint64_t h = w->tap_hash ^ ((uint64_t)g->t * 31 + g->seq * 7 + g->ack * 3 + g->flags + g->len);
    w->tap_hash = h * 0x100000001b3ULL;
    tp_conn *c = tp_conn_of(w, g->conn);
    if (!c && w->opening && g->from == SIM_TCP_CLIENT && (g->flags & SIM_TCP_SYN)) {
        c = w->opening;
        c->id = g->conn;
    }
    if (!c || (g->flags & SIM_TCP_RST))
        return; /* answers for unknown flows and resets: no stream to check */
    int s = g->from;
    if (g->flags & SIM_TCP_SYN) {
        if (c->isn_known[s])
            assert_int_equal(c->isn[s], g->seq); /* a SYN resent has the same ISN */
        c->isn_known[s] = true;
        c->isn[s] = g->seq;
        assert_int_equal(g->len, 0);
        return;
    }
    if (!c->isn_known[s])
        fail_msg("conn %u: a segment from side %d (flags 0x%x, len %zu, seq %u, ack %u, at %lld) "
                 "before its SYN", g->conn, s, g->flags, g->len, g->seq, g->ack, (long long)g->t);
    if (g->len > 0) {
        assert_true(g->len <= w->tp.mss);
        uint64_t off = (uint32_t)(g->seq - c->isn[s] - 1); /* streams stay below 4 GiB */
        const tp_end *a = &c->end[s];
        assert_true(off + g->len <= a->n_out);
        assert_memory_equal(g->payload, a->out + off, g->len);
        if (!g->lost) {
            tp_end *sender = &c->end[s];
            memset(sender->sent + off, 1, g->len);
            while (sender->sent_prefix < sender->n_out && sender->sent[sender->sent_prefix])
                sender->sent_prefix++;
        }
        if (g->retransmission) {
            assert_true(off + g->len <= c->sent_hi[s]);
        } else {
            assert_int_equal(off, c->sent_hi[s]);
            c->sent_hi[s] = off + g->len;
        }
    }
    /* What this side has acknowledged while its application held the end
     * (checked between events by tp_check_acks: within one, the ACK may
     * leave before the application is handed what it acknowledges). */
    const tp_end *a = &c->end[s];
    if ((g->flags & SIM_TCP_ACK) && c->isn_known[!s] && a->e && !a->app_done) {
        uint64_t acked = (uint32_t)(g->ack - c->isn[!s]);
        assert_true(acked >= 1);
        if (acked > c->acked_hi[s])
            c->acked_hi[s] = acked;
    }
}

/* An ACK covers at most what its sender's application was handed, the
 * peer's SYN and its FIN. */
static inline void tp_check_acks(const tp_world *w)
{
    for (int i = 0; i < w->n_conns; i++)
        for (int s = 0; s < 2; s++) {
            const tp_conn *c = &w->c[i];
            const tp_end *a = &c->end[s];
            if (a->e && !a->app_done && c->acked_hi[s] > 1 + a->n_in + (a->fin ? 1 : 0))
                fail_msg("conn %u: side %d acknowledged %llu bytes of the stream, its "
                         "application was handed %zu%s",
                         c->id, s, (unsigned long long)c->acked_hi[s] - 1, a->n_in,
                         a->fin ? " and the FIN" : "");
        }
}

/* ---- the applications' actions ---- */

static inline void tp_grow(tp_end *a, size_t n)
{
    if (a->n_out + n > a->cap_out) {
        size_t cap = a->cap_out ? a->cap_out : 4096;
        while (cap < a->n_out + n)
            cap *= 2;
        uint8_t *o = realloc(a->out, cap), *t = realloc(a->sent, cap);
        assert_true(o && t);
        memset(t + a->cap_out, 0, cap - a->cap_out);
        a->out = o;
        a->sent = t;
        a->cap_out = cap;
    }
}

/* A random write (bytes, zeros, or both in one) on end a, which may write. */
static inline void tp_write(tp_world *w, tp_end *a)
{
    size_t room = TP_MAX_WRITTEN - a->n_out;
    if (room == 0)
        return;
    size_t len = 0, zeros = 0;
    int kind = (int)tp_draw(w, 4);
    if (kind != 1) /* 0, 3: bytes; 2: bytes then zeros */
        len = 1 + (size_t)(tp_chance(w, 0.3) ? tp_draw(w, 20000) : tp_draw(w, 300));
    if (kind == 1 || kind == 2)
        zeros = 1 + (size_t)tp_draw(w, tp_chance(w, 0.3) ? 30000 : 100);
    if (len > room)
        len = room;
    if (len + zeros > room)
        zeros = room - len;
    tp_grow(a, len + zeros);
    uint8_t *b = a->out + a->n_out;
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)(1 + tp_draw(w, 255)); /* never zero, so a misplaced zero run shows */
    memset(b + len, 0, zeros);
    a->n_out += len + zeros; /* before the write: it sends what it can at once */
    w->written[a->side] += len + zeros;
    int rc;
    if (len && zeros)
        rc = sim_tcp_write_with_zeros(a->e, b, len, zeros);
    else if (zeros)
        rc = sim_tcp_write_zeros(a->e, zeros);
    else
        rc = sim_tcp_write(a->e, b, len);
    assert_int_equal(rc, 0);
}

/* An end that the application holds, chosen at random (NULL when none). */
static inline tp_end *tp_pick(tp_world *w, bool need_established)
{
    tp_end *cand[2 * TP_CONNS];
    int n = 0;
    for (int i = 0; i < w->n_conns; i++)
        for (int s = 0; s < 2; s++) {
            tp_end *a = &w->c[i].end[s];
            if (a->e && !a->gone && !a->app_done && (a->established || !need_established))
                cand[n++] = a;
        }
    return n ? cand[tp_draw(w, (uint64_t)n)] : NULL;
}

static inline void tp_connect(tp_world *w)
{
    if (w->n_conns == TP_CONNS)
        return;
    tp_conn *c = &w->c[w->n_conns];
    memset(c, 0, sizeof *c);
    for (int s = 0; s < 2; s++) {
        c->end[s].w = w;
        c->end[s].conn = w->n_conns;
        c->end[s].side = s;
    }
    w->opening = c;
    sim_tcp_end *e = sim_tcp_connect(w->p, &TP_APP, &c->end[SIM_TCP_CLIENT]);
    w->opening = NULL;
    assert_non_null(e);
    c->end[SIM_TCP_CLIENT].e = e;
    assert_int_equal(c->id, sim_tcp_conn_id(e)); /* the SYN went out, with its number */
    assert_int_equal(sim_tcp_end_side(e), SIM_TCP_CLIENT);
    c->id = 0;
    assert_null(tp_conn_of(w, sim_tcp_conn_id(e))); /* numbers are never reused */
    c->id = sim_tcp_conn_id(e);
    w->n_conns++;
    tp_total.conns++;
}

static inline void tp_end_app(tp_end *a, int how) /* 0 close, 1 abort, 2 vanish */
{
    sim_tcp_end *e = a->e;
    a->app_done = true;
    a->e = NULL;
    if (how == 0) {
        a->closed = true;
        a->written_at_close = a->n_out;
        sim_tcp_close(e);
    } else {
        a->broken = true;
        if (how == 1)
            sim_tcp_abort(e);
        else
            sim_tcp_vanish(e);
    }
}

static inline void tp_act(tp_world *w)
{
    uint64_t k = tp_draw(w, w->calm ? 83 : 100);
    tp_end *a;
    if (k < 75) {
        if ((a = tp_pick(w, true)))
            tp_write(w, a);
    } else if (k < 83) {
        tp_connect(w);
    } else if (k < 90) {
        if ((a = tp_pick(w, false)))
            tp_end_app(a, 0);
    } else if (k < 93) {
        if ((a = tp_pick(w, false)))
            tp_end_app(a, 1);
    } else if (k < 95) {
        if ((a = tp_pick(w, false)))
            tp_end_app(a, 2);
    } else if (k < 97) {
        if ((a = tp_pick(w, true))) {
            w->c[a->conn].rebound = true;
            sim_tcp_nat_rebind(a->e);
        }
    } else if (k < 98) {
        sim_tcp_listen(w->p, NULL, NULL); /* refuse for a while */
    } else {
        sim_tcp_listen(w->p, tp_accept, w);
    }
}

/* ---- the scenario ---- */

static inline void tp_random_link(tp_world *w, sim_link_params *l)
{
    memset(l, 0, sizeof *l);
    double d = 1 + (double)tp_draw(w, 100);
    switch (tp_draw(w, 4)) {
    case 0:
        l->delay.kind = SIM_DIST_CONSTANT;
        l->delay.a = d;
        break;
    case 1:
        l->delay.kind = SIM_DIST_UNIFORM;
        l->delay.a = d;
        l->delay.b = d + (double)tp_draw(w, 200);
        break;
    case 2:
        l->delay.kind = SIM_DIST_EXPONENTIAL;
        l->delay.a = d;
        break;
    default:
        l->delay.kind = SIM_DIST_NORMAL;
        l->delay.a = d;
        l->delay.b = d / 2;
        break;
    }
    l->reorder = l->delay.kind != SIM_DIST_CONSTANT && tp_chance(w, 0.5);
    if (tp_chance(w, 0.4))
        l->bandwidth_bps = 64000 + tp_draw(w, 100000000);
    switch (tp_draw(w, 3)) {
    case 0:
        l->loss.kind = SIM_LOSS_NONE;
        break;
    case 1:
        l->loss.kind = SIM_LOSS_BERNOULLI;
        l->loss.p = 0.25 * gsl_rng_uniform(w->r);
        break;
    default:
        l->loss.kind = SIM_LOSS_GILBERT_ELLIOTT;
        l->loss.p_gb = 0.1 * gsl_rng_uniform(w->r);
        l->loss.p_bg = 0.1 + 0.8 * gsl_rng_uniform(w->r);
        l->loss.loss_good = 0.02 * gsl_rng_uniform(w->r);
        l->loss.loss_bad = gsl_rng_uniform(w->r);
        break;
    }
}

static inline void tp_random_params(tp_world *w, sim_tcp_params *tp)
{
    sim_tcp_params_default(tp);
    static const uint32_t mss[] = {1460, 536, 100, 1};
    tp->mss = mss[tp_draw(w, 4)];
    if (tp->mss == 1)
        tp->mss = 1 + (uint32_t)tp_draw(w, 1460);
    tp->init_cwnd = 1 + (uint32_t)tp_draw(w, 10);
    if (tp_chance(w, 0.3))
        tp->rwnd = tp->mss * (1 + (uint32_t)tp_draw(w, 64));
    tp->delayed_ack = tp_chance(w, 0.5) ? 0 : SIM_MS(1 + tp_draw(w, 200));
    tp->rto_formula = tp_chance(w, 0.5) ? SIM_TCP_RTO_LINUX : SIM_TCP_RTO_RFC6298;
    tp->rto_min = SIM_MS(1 + tp_draw(w, 300));
    tp->rto_max = tp->rto_min + SIM_MS(tp_draw(w, 120000));
    tp->rto_initial = SIM_MS(1 + tp_draw(w, 2000));
    tp->syn_retries = (int)tp_draw(w, 7);
    tp->synack_retries = (int)tp_draw(w, 6);
    tp->retries2 = 1 + (int)tp_draw(w, 15);
    tp->orphan_retries = (int)tp_draw(w, 9);
    tp->user_timeout = tp_chance(w, 0.2) ? SIM_MS(1 + tp_draw(w, 60000)) : 0;
    tp->fin_timeout = SIM_MS(1 + tp_draw(w, 60000));
    tp->time_wait = SIM_MS(1 + tp_draw(w, 60000));
}

/* Runs the scheduler until no event is left (asserting that it ends). */
static inline void tp_run_dry(tp_world *w)
{
    uint64_t before = sim_sched_events_run(w->s);
    sim_sched_run(w->s);
    assert_true(sim_sched_pending(w->s) == 0);
    assert_true(sim_sched_events_run(w->s) - before < TP_EVENTS);
    assert_false(sim_tcp_path_failed(w->p));
}

/* One scenario; returns the hash of every segment the tap saw (for the
 * determinism check). */
static inline uint64_t tcp_scenario(gsl_rng *r)
{
    tp_world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->r = r;
    w->tap_hash = 0xcbf29ce484222325ULL;
    w->s = sim_sched_new();
    assert_non_null(w->s);
    sim_sched_set_event_limit(w->s, TP_EVENTS);
    w->ru = gsl_rng_alloc(gsl_rng_taus2);
    w->rd = gsl_rng_alloc(gsl_rng_taus2);
    assert_true(w->ru && w->rd);
    gsl_rng_set(w->ru, gsl_rng_get(r));
    gsl_rng_set(w->rd, gsl_rng_get(r));
    sim_link_params up, down;
    tp_random_params(w, &w->tp);
    tp_random_link(w, &up);
    tp_random_link(w, &down);
    w->p = sim_tcp_path_new(w->s, &w->tp, &up, w->ru, &down, w->rd);
    assert_non_null(w->p);
    sim_tcp_path_set_tap(w->p, tp_tap, w);
    for (int s = 0; s < 2; s++) {
        int n = (int)tp_draw(w, 3);
        for (int i = 0; i < n; i++) {
            sim_time a = SIM_MS(tp_draw(w, 120000));
            assert_int_equal(sim_link_add_outage(sim_tcp_path_link(w->p, (sim_tcp_side)s), a,
                                                 a + SIM_MS(tp_draw(w, 60000))),
                             0);
        }
    }
    w->calm = tp_chance(w, 0.3);
    sim_tcp_listen(w->p, tp_accept, w);
    tp_connect(w);

    int steps = 1 + (int)tp_draw(w, 300);
    for (int i = 0; i < steps; i++) {
        sim_time dt = tp_chance(w, 0.1) ? SIM_MS(tp_draw(w, 30000)) : SIM_MS(tp_draw(w, 300));
        sim_sched_run_until(w->s, sim_sched_now(w->s) + dt);
        assert_false(sim_tcp_path_failed(w->p));
        tp_check_acks(w);
        tp_act(w);
    }
    sim_tcp_listen(w->p, tp_accept, w);
    tp_run_dry(w);
    tp_check_acks(w);

    /* Nobody broke it and both ends are open: everything written has
     * arrived. (Once one end is closed, the other may never hear its FIN
     * without being told: an orphan gives up silently when its budget runs
     * out, as Linux's does. That FIN, when it comes, is checked above.) */
    for (int i = 0; i < w->n_conns; i++) {
        tp_conn *c = &w->c[i];
        tp_end *cl = &c->end[0], *sv = &c->end[1];
        if (c->rebound || cl->broken || sv->broken || !cl->established || !sv->established ||
            cl->closed || sv->closed)
            continue;
        assert_int_equal(cl->n_in, sv->n_out);
        assert_int_equal(sv->n_in, cl->n_out);
        tp_total.complete++;
    }
    for (int s = 0; s < 2; s++) {
        const sim_tcp_stats *st = sim_tcp_path_stats(w->p, (sim_tcp_side)s);
        assert_int_equal(st->bytes_written, w->written[s]);
        assert_int_equal(st->bytes_delivered, w->handed[s]);
        assert_int_equal(st->ip_bytes, st->payload_bytes + 40 * st->segments);
        assert_true(st->data_segments <= st->segments);
        assert_true(st->retransmissions <= st->segments);
        assert_true(st->segments_lost <= st->segments);
        tp_total.segments += st->segments;
        tp_total.retransmissions += st->retransmissions;
        tp_total.rto_expiries += st->rto_expiries;
        tp_total.fast_retransmits += st->fast_retransmits;
        tp_total.lost += st->segments_lost;
        tp_total.bytes += st->bytes_delivered;
    }

    /* Every end still held is closed: nothing may be left. */
    w->closing = true;
    for (int i = 0; i < w->n_conns; i++)
        for (int s = 0; s < 2; s++) {
            tp_end *a = &w->c[i].end[s];
            if (a->e && !a->gone && !a->app_done)
                tp_end_app(a, 0);
        }
    tp_run_dry(w);
    assert_int_equal(sim_tcp_path_conns(w->p), 0);
    assert_int_equal(sim_link_in_transit(sim_tcp_path_link(w->p, SIM_TCP_CLIENT)), 0);
    assert_int_equal(sim_link_in_transit(sim_tcp_path_link(w->p, SIM_TCP_SERVER)), 0);

    uint64_t h = w->tap_hash;
    sim_tcp_path_free(w->p);
    gsl_rng_free(w->ru);
    gsl_rng_free(w->rd);
    sim_sched_free(w->s);
    for (int i = 0; i < w->n_conns; i++)
        for (int s = 0; s < 2; s++)
            free(w->c[i].end[s].out), free(w->c[i].end[s].sent);
    free(w);
    tp_total.scenarios++;
    return h;
}

#endif
