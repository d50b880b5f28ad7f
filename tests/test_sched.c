/* Scheduler tests: (time, seq) order, cancellation, run_until/stop, id reuse, compaction, seq wrap-around, chains against the plain heap. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sim/sched.h"

/* A trace of fired events: each event's context is its label. */
typedef struct {
    int label[4096];
    sim_time when[4096];
    size_t n;
} trace;

static trace tr;

static void rec_fn(sim_sched *s, void *ctx)
{
    assert_true(tr.n < 4096);
    tr.label[tr.n] = (int)(intptr_t)ctx;
    tr.when[tr.n] = sim_sched_now(s);
    tr.n++;
}

#define L(x) ((void *)(intptr_t)(x))

static int setup(void **state)
{
    memset(&tr, 0, sizeof tr);
    *state = sim_sched_new();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    sim_sched_free(*state);
    return 0;
}

static void order_by_time_then_insertion(void **state)
{
    sim_sched *s = *state;
    /* label = expected firing position */
    sim_sched_at(s, SIM_MS(5), rec_fn, L(5));
    sim_sched_at(s, SIM_MS(1), rec_fn, L(0));
    sim_sched_at(s, SIM_MS(3), rec_fn, L(2));
    sim_sched_at(s, SIM_MS(3), rec_fn, L(3));
    sim_sched_at(s, SIM_MS(1), rec_fn, L(1));
    sim_sched_at(s, SIM_MS(3), rec_fn, L(4));
    sim_sched_at(s, SIM_MS(9), rec_fn, L(6));
    assert_int_equal(sim_sched_pending(s), 7);
    assert_int_equal(sim_sched_run(s), 7);
    assert_int_equal(tr.n, 7);
    static const sim_time when[] = {SIM_MS(1), SIM_MS(1), SIM_MS(3), SIM_MS(3),
                                    SIM_MS(3), SIM_MS(5), SIM_MS(9)};
    for (int i = 0; i < 7; i++) {
        assert_int_equal(tr.label[i], i);
        assert_int_equal(tr.when[i], when[i]);
    }
    assert_int_equal(sim_sched_now(s), SIM_MS(9));
    assert_int_equal(sim_sched_pending(s), 0);
    assert_int_equal(sim_sched_events_run(s), 7);
}

/* Many equal times interleaved with other times, enough to grow the pool
 * several times: each time's events must come out in insertion order. */
static void equal_times_are_fifo(void **state)
{
    sim_sched *s = *state;
    for (int i = 0; i < 3000; i++)
        sim_sched_at(s, SIM_US(10 * (i % 3)), rec_fn, L(i));
    assert_int_equal(sim_sched_run(s), 3000);
    int k = 0;
    for (int g = 0; g < 3; g++)
        for (int i = g; i < 3000; i += 3) {
            assert_int_equal(tr.label[k], i);
            assert_int_equal(tr.when[k], SIM_US(10 * g));
            k++;
        }
}

/* An event scheduled from a callback for the current time runs after the
 * events already queued for that time. */
static void chain_fn(sim_sched *s, void *ctx)
{
    rec_fn(s, ctx);
    int l = (int)(intptr_t)ctx;
    if (l < 3)
        assert_int_not_equal(sim_sched_after(s, 0, chain_fn, L(l + 10)), 0);
}

static void schedule_from_callback(void **state)
{
    sim_sched *s = *state;
    sim_sched_at(s, 100, chain_fn, L(1));
    sim_sched_at(s, 100, rec_fn, L(2));
    sim_sched_at(s, 101, chain_fn, L(3));
    sim_sched_run(s);
    static const int want[] = {1, 2, 11, 3};
    assert_int_equal(tr.n, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(tr.label[i], want[i]);
    assert_int_equal(tr.when[2], 100);
}

/* An event that always schedules another: the event limit ends the run,
 * counting every event since creation, in each later run call too. */
static void forever_fn(sim_sched *s, void *ctx)
{
    rec_fn(s, ctx);
    assert_int_not_equal(sim_sched_after(s, 1, forever_fn, ctx), 0);
}

static void event_limit_stops_every_run(void **state)
{
    sim_sched *s = *state;
    sim_sched_at(s, 0, forever_fn, L(7));
    sim_sched_set_event_limit(s, 10);
    assert_int_equal(sim_sched_run(s), 10);
    assert_int_equal(tr.n, 10);
    assert_int_equal(sim_sched_now(s), 9);
    assert_int_equal(sim_sched_pending(s), 1);
    sim_sched_set_event_limit(s, 15);
    assert_int_equal(sim_sched_run(s), 5);
    assert_int_equal(sim_sched_events_run(s), 15);
    sim_sched_set_event_limit(s, 0);
    assert_int_equal(sim_sched_run_until(s, 100), 86);
}

static void cancel_pending(void **state)
{
    sim_sched *s = *state;
    sim_event_id a = sim_sched_at(s, 10, rec_fn, L(1));
    sim_event_id b = sim_sched_at(s, 20, rec_fn, L(2));
    sim_event_id c = sim_sched_at(s, 20, rec_fn, L(3));
    assert_int_not_equal(a, 0);
    assert_true(a != b && b != c && a != c);
    assert_int_equal(sim_sched_cancel(s, b), 1);
    assert_int_equal(sim_sched_cancel(s, b), 0); /* already cancelled */
    assert_int_equal(sim_sched_pending(s), 2);
    assert_int_equal(sim_sched_cancel(s, 0), 0);
    assert_int_equal(sim_sched_run(s), 2);
    assert_int_equal(tr.n, 2);
    assert_int_equal(tr.label[0], 1);
    assert_int_equal(tr.label[1], 3);
    assert_int_equal(sim_sched_cancel(s, a), 0); /* already ran */
    assert_int_equal(sim_sched_cancel(s, c), 0);
    assert_int_equal(sim_sched_events_run(s), 2);
}

/* next_time answers the earliest live event, skipping cancelled ones, and
 * changes nothing that runs afterwards. */
static void next_time_skips_cancelled(void **state)
{
    sim_sched *s = *state;
    assert_int_equal(sim_sched_next_time(s), SIM_NEVER);
    sim_event_id a = sim_sched_at(s, 10, rec_fn, L(1));
    sim_event_id b = sim_sched_at(s, 15, rec_fn, L(2));
    sim_sched_at(s, 30, rec_fn, L(3));
    assert_int_equal(sim_sched_next_time(s), 10);
    assert_int_equal(sim_sched_cancel(s, a), 1);
    assert_int_equal(sim_sched_cancel(s, b), 1);
    assert_int_equal(sim_sched_next_time(s), 30);
    assert_int_equal(sim_sched_next_time(s), 30);
    assert_int_equal(sim_sched_pending(s), 1);
    sim_sched_at(s, 20, rec_fn, L(4));
    assert_int_equal(sim_sched_next_time(s), 20);
    assert_int_equal(sim_sched_run_until(s, 25), 1);
    assert_int_equal(sim_sched_next_time(s), 30);
    assert_int_equal(sim_sched_run(s), 1);
    assert_int_equal(sim_sched_next_time(s), SIM_NEVER);
    assert_int_equal(tr.n, 2);
    assert_int_equal(tr.label[0], 4);
    assert_int_equal(tr.label[1], 3);
}

/* Callbacks that cancel other events, one later and one at the same time,
 * and try to cancel themselves. */
static sim_event_id victims[3];
static sim_event_id self_id;
static int self_cancel_rc = -1;

static void canceller(sim_sched *s, void *ctx)
{
    rec_fn(s, ctx);
    assert_int_equal(sim_sched_cancel(s, victims[0]), 1); /* same time, queued after us */
    assert_int_equal(sim_sched_cancel(s, victims[1]), 1); /* later */
    assert_int_equal(sim_sched_cancel(s, victims[2]), 0); /* ran before us */
    self_cancel_rc = sim_sched_cancel(s, self_id);
}

static void cancel_from_callback(void **state)
{
    sim_sched *s = *state;
    victims[2] = sim_sched_at(s, 50, rec_fn, L(1));
    self_id = sim_sched_at(s, 50, canceller, L(2));
    victims[0] = sim_sched_at(s, 50, rec_fn, L(3));
    victims[1] = sim_sched_at(s, 60, rec_fn, L(4));
    sim_sched_at(s, 70, rec_fn, L(5));
    assert_int_equal(sim_sched_run(s), 3);
    assert_int_equal(tr.n, 3);
    assert_int_equal(tr.label[0], 1);
    assert_int_equal(tr.label[1], 2);
    assert_int_equal(tr.label[2], 5);
    assert_int_equal(self_cancel_rc, 0); /* the running event is no longer pending */
    assert_int_equal(sim_sched_pending(s), 0);
}

/* Slots are recycled, ids never: an id whose slot now holds another event
 * must not cancel that event. */
static void stale_ids_are_harmless(void **state)
{
    sim_sched *s = *state;
    enum { N = 2000 };
    static sim_event_id ids[2 * N];
    for (int i = 0; i < N; i++)
        ids[i] = sim_sched_at(s, i, rec_fn, L(i));
    sim_sched_run(s);
    for (int i = 0; i < N; i++) /* these reuse the slots just freed */
        ids[N + i] = sim_sched_at(s, SIM_MS(1) + i, rec_fn, L(N + i));
    for (int i = 0; i < N; i++)
        assert_int_equal(sim_sched_cancel(s, ids[i]), 0);
    assert_int_equal(sim_sched_pending(s), N);
    /* no two ids equal */
    for (int i = 0; i < 2 * N; i++) {
        assert_int_not_equal(ids[i], 0);
        for (int j = i + 1; j < 2 * N; j++)
            assert_true(ids[i] != ids[j]);
    }
    /* forged ids: a slot never used, a wrong generation */
    assert_int_equal(sim_sched_cancel(s, ((uint64_t)1 << 32) | 999999u), 0);
    assert_int_equal(sim_sched_cancel(s, ids[N] + ((uint64_t)7 << 32)), 0);
    assert_int_equal(sim_sched_run(s), N);
    assert_int_equal(tr.n, 2 * N);
}

static void stopper(sim_sched *s, void *ctx)
{
    rec_fn(s, ctx);
    sim_sched_stop(s);
}

static void run_until_and_stop(void **state)
{
    sim_sched *s = *state;
    sim_sched_at(s, 10, rec_fn, L(1));
    sim_sched_at(s, 20, rec_fn, L(2));
    sim_sched_at(s, 20, stopper, L(3));
    sim_sched_at(s, 20, rec_fn, L(4));
    sim_sched_at(s, 30, rec_fn, L(5));
    sim_sched_at(s, 40, rec_fn, L(6));

    assert_int_equal(sim_sched_run_until(s, 15), 1); /* t inclusive, later ones stay */
    assert_int_equal(sim_sched_now(s), 15);
    assert_int_equal(sim_sched_pending(s), 5);

    /* stopped after label 3: now stays at the event time, not 35 */
    assert_int_equal(sim_sched_run_until(s, 35), 2);
    assert_int_equal(tr.label[tr.n - 1], 3);
    assert_int_equal(sim_sched_now(s), 20);

    /* the next call starts unstopped and includes events exactly at t */
    assert_int_equal(sim_sched_run_until(s, 30), 2);
    assert_int_equal(tr.label[tr.n - 1], 5);
    assert_int_equal(sim_sched_now(s), 30);

    /* a time in the past runs nothing and does not move now back */
    assert_int_equal(sim_sched_run_until(s, 5), 0);
    assert_int_equal(sim_sched_now(s), 30);

    /* stop outside a run has no effect on the next run */
    sim_sched_stop(s);
    assert_int_equal(sim_sched_run(s), 1);
    assert_int_equal(sim_sched_now(s), 40);

    /* running an empty queue up to t moves now to t */
    assert_int_equal(sim_sched_run_until(s, 1000), 0);
    assert_int_equal(sim_sched_now(s), 1000);
    assert_int_equal(sim_sched_after(s, 5, rec_fn, L(7)) != 0, 1);
    assert_int_equal(sim_sched_run(s), 1);
    assert_int_equal(tr.when[tr.n - 1], 1005);
    assert_int_equal(tr.n, 7);
}

static void stop_inside_run(void **state)
{
    sim_sched *s = *state;
    sim_sched_at(s, 1, rec_fn, L(1));
    sim_sched_at(s, 2, stopper, L(2));
    sim_sched_at(s, 3, rec_fn, L(3));
    assert_int_equal(sim_sched_run(s), 2);
    assert_int_equal(sim_sched_now(s), 2);
    assert_int_equal(sim_sched_pending(s), 1);
    assert_int_equal(sim_sched_run(s), 1);
    assert_int_equal(sim_sched_events_run(s), 3);
}

/*
 * Randomised comparison with a reference model: a plain array of
 * (time, seq, label, alive), searched for the minimum each step. Times are
 * drawn from a small range so ties are frequent; callbacks schedule and
 * cancel, and enough cancels happen to trigger compaction (1024 dead
 * entries) and pool growth. The kernel must fire exactly the reference order.
 */
typedef struct {
    sim_time t;
    uint64_t seq;
    sim_event_id id;
    int alive;
} ref_ev;

static struct {
    ref_ev *ev;
    size_t n;
    uint64_t seq;
    uint64_t x; /* xorshift state: the test's own deterministic numbers */
    size_t fired;
    size_t budget;
} rm;

static uint64_t rnd(void)
{
    rm.x ^= rm.x << 13;
    rm.x ^= rm.x >> 7;
    rm.x ^= rm.x << 17;
    return rm.x;
}

static void model_fn(sim_sched *s, void *ctx);

static void model_add(sim_sched *s, sim_time t)
{
    sim_event_id id = sim_sched_at(s, t, model_fn, L(rm.n));
    assert_int_not_equal(id, 0);
    rm.ev[rm.n++] = (ref_ev){t, rm.seq++, id, 1};
}

static size_t ref_min(void)
{
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < rm.n; i++)
        if (rm.ev[i].alive && (best == SIZE_MAX || rm.ev[i].t < rm.ev[best].t ||
                               (rm.ev[i].t == rm.ev[best].t && rm.ev[i].seq < rm.ev[best].seq)))
            best = i;
    return best;
}

static void model_fn(sim_sched *s, void *ctx)
{
    size_t me = (size_t)(intptr_t)ctx;
    size_t want = ref_min();
    assert_int_equal(me, want);
    assert_int_equal(sim_sched_now(s), rm.ev[me].t);
    rm.ev[me].alive = 0;
    rm.fired++;
    if (rm.budget == 0)
        return;
    int k = (int)(rnd() % 4); /* schedule 0..3 events */
    for (int i = 0; i < k && rm.budget > 0; i++, rm.budget--)
        model_add(s, sim_sched_now(s) + (sim_time)(rnd() % 50));
    if (rnd() % 2) { /* cancel a random past or present event */
        size_t v = (size_t)(rnd() % rm.n);
        int rc = sim_sched_cancel(s, rm.ev[v].id);
        assert_int_equal(rc, rm.ev[v].alive);
        rm.ev[v].alive = 0;
    }
}

static void matches_reference_model(void **state)
{
    sim_sched *s = *state;
    enum { CAP = 14000 };
    rm.ev = calloc(CAP, sizeof *rm.ev);
    assert_non_null(rm.ev);
    rm.n = 0;
    rm.seq = 0;
    rm.x = 88172645463325252ULL;
    rm.fired = 0;
    rm.budget = CAP - 5000;
    for (int i = 0; i < 2000; i++)
        model_add(s, (sim_time)(rnd() % 200));
    /* a wall of far-future events, mostly cancelled: 2700 of 5000 queued
     * entries dead passes the compaction threshold (more than half) */
    for (int i = 0; i < 3000; i++)
        model_add(s, SIM_S(100) + (sim_time)(rnd() % 3));
    size_t before = sim_sched_pending(s);
    size_t bytes = sim_sched_bytes(s);
    for (size_t i = 2000; i < 5000; i += 1) {
        if (i % 10 == 0)
            continue;
        assert_int_equal(sim_sched_cancel(s, rm.ev[i].id), 1);
        rm.ev[i].alive = 0;
    }
    assert_int_equal(sim_sched_pending(s), before - 2700);
    assert_int_equal(sim_sched_bytes(s), bytes);
    sim_sched_run(s);
    assert_int_equal(ref_min(), SIZE_MAX);
    assert_int_equal(sim_sched_pending(s), 0);
    assert_int_equal(sim_sched_events_run(s), rm.fired);
    assert_true(rm.fired > 8000);
    free(rm.ev);
}

/* Cancelled far-future timers must not accumulate: schedule-and-cancel in a
 * loop keeps the memory bounded while one live event is pending. */
static void cancelled_records_do_not_accumulate(void **state)
{
    sim_sched *s = *state;
    sim_sched_at(s, SIM_S(1000), rec_fn, L(1));
    size_t bytes_after_warmup = 0;
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < 1000; i++) {
            sim_event_id id = sim_sched_at(s, SIM_S(500) + i, rec_fn, L(2));
            assert_int_equal(sim_sched_cancel(s, id), 1);
        }
        if (round == 10)
            bytes_after_warmup = sim_sched_bytes(s);
    }
    /* 200000 cancelled timers; without compaction the pool would hold them all */
    assert_int_equal(sim_sched_bytes(s), bytes_after_warmup);
    assert_true(sim_sched_bytes(s) < 200 * 1024);
    assert_int_equal(sim_sched_pending(s), 1);
    assert_int_equal(sim_sched_run(s), 1);
    assert_int_equal(tr.label[0], 1);
}

/* The 32-bit insertion counter wraps: the queue is renumbered and FIFO order
 * among equal times survives, also for entries queued long before. Times
 * cycle over three values so that the heap's array order is far from the
 * (time, seq) order the renumbering must keep. */
static void seq_wraparound_keeps_order(void **state)
{
    sim_sched *s = *state;
    enum { N = 600 };
    sim_event_id id[N];
    for (int i = 0; i < N / 2; i++)
        id[i] = sim_sched_at(s, 100 * ((i * 7) % 3), rec_fn, L(i));
    sim_sched_test_set_seq(s, UINT32_MAX - 3);
    for (int i = N / 2; i < N; i++) /* the wrap comes after 3 of these */
        id[i] = sim_sched_at(s, 100 * ((i * 7) % 3), rec_fn, L(i));
    for (int i = 0; i < N; i += 5) /* cancelled ones are skipped across the wrap too */
        assert_int_equal(sim_sched_cancel(s, id[i]), 1);
    assert_int_equal(sim_sched_run(s), N - N / 5);
    size_t k = 0;
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < N; i++)
            if ((i * 7) % 3 == t && i % 5 != 0) {
                assert_int_equal(tr.label[k], i);
                assert_int_equal(tr.when[k], 100 * t);
                k++;
            }
    assert_int_equal(k, tr.n);
}

/*
 * Chains against the plain heap. The same random world runs twice: once with
 * K chains (sim_chain_at), once with every chained event scheduled as its own
 * event (sim_sched_at: the plain heap, the reference). Plain events are mixed
 * in at equal and nearby times, so ties between chained and plain events are
 * frequent; callbacks schedule on any chain (their own included) and now and
 * then clear one. Every decision comes from one xorshift stream consumed in
 * event order, so the two runs stay in step exactly as long as the events
 * fire in the same (time, seq) order: the traces (label, time, pending) must
 * be equal event for event.
 */
enum { CK = 6, CMAX = 20000 };

typedef struct {
    sim_sched *s;
    int chained;
    uint64_t x;
    int budget;
    sim_chain chain[CK];
    int chain_label[CK];
    sim_time last[CK];
    /* reference mode: the pending events of each chain, oldest first */
    sim_event_id ids[CK][CMAX];
    size_t id_head[CK], id_n[CK];
    /* the trace */
    int label[CMAX * 2];
    sim_time when[CMAX * 2];
    size_t pend[CMAX * 2];
    size_t n;
} cworld;

static cworld *cw;

static uint64_t crnd(void)
{
    cw->x ^= cw->x << 13;
    cw->x ^= cw->x >> 7;
    cw->x ^= cw->x << 17;
    return cw->x;
}

static void cw_fire(sim_sched *s, int label);

static void cw_plain_fn(sim_sched *s, void *ctx) { cw_fire(s, (int)(intptr_t)ctx); }

static void cw_chain_fn(sim_sched *s, void *ctx)
{
    int k = *(int *)ctx;
    if (!cw->chained) { /* the reference pops its own record of the chain */
        assert_true(cw->id_n[k] > 0);
        cw->id_head[k]++;
        cw->id_n[k]--;
    }
    cw_fire(s, 1000 + k);
}

static void cw_chain_add(sim_sched *s, int k, sim_time t)
{
    if (t < cw->last[k])
        t = cw->last[k];
    cw->last[k] = t;
    if (cw->chained) {
        assert_int_equal(sim_chain_at(s, &cw->chain[k], t), 0);
    } else {
        sim_event_id id = sim_sched_at(s, t, cw_chain_fn, &cw->chain_label[k]);
        assert_int_not_equal(id, 0);
        assert_true(cw->id_head[k] + cw->id_n[k] < CMAX);
        cw->ids[k][cw->id_head[k] + cw->id_n[k]++] = id;
    }
}

static void cw_chain_clear(sim_sched *s, int k)
{
    if (cw->chained) {
        sim_chain_clear(s, &cw->chain[k]);
    } else {
        for (size_t i = 0; i < cw->id_n[k]; i++)
            assert_int_equal(sim_sched_cancel(s, cw->ids[k][cw->id_head[k] + i]), 1);
        cw->id_head[k] += cw->id_n[k];
        cw->id_n[k] = 0;
    }
}

static void cw_act(sim_sched *s)
{
    sim_time now = sim_sched_now(s);
    int acts = (int)(crnd() % 4);
    for (int i = 0; i < acts && cw->budget > 0; i++, cw->budget--) {
        uint64_t r = crnd() % 100;
        sim_time dt = (sim_time)(crnd() % 4); /* 0..3 ns: many equal times */
        if (r < 35)
            assert_int_not_equal(sim_sched_at(s, now + dt, cw_plain_fn, L(cw->budget)), 0);
        else if (r < 97)
            cw_chain_add(s, (int)(crnd() % CK), now + dt);
        else
            cw_chain_clear(s, (int)(crnd() % CK));
    }
}

static void cw_fire(sim_sched *s, int label)
{
    assert_true(cw->n < CMAX * 2);
    cw->label[cw->n] = label;
    cw->when[cw->n] = sim_sched_now(s);
    cw->pend[cw->n] = sim_sched_pending(s);
    cw->n++;
    cw_act(s);
}

static cworld *chain_world(uint64_t seed, int chained, uint32_t start_seq)
{
    cworld *w = calloc(1, sizeof *w);
    assert_non_null(w);
    cw = w;
    w->s = sim_sched_new();
    assert_non_null(w->s);
    w->chained = chained;
    w->x = seed;
    w->budget = CMAX - 200;
    for (int k = 0; k < CK; k++) {
        w->chain_label[k] = k;
        sim_chain_init(&w->chain[k], cw_chain_fn, &w->chain_label[k]);
    }
    if (start_seq)
        sim_sched_test_set_seq(w->s, start_seq);
    for (int i = 0; i < 100; i++) { /* the seed events, at 0..19 */
        sim_time t = (sim_time)(crnd() % 20);
        if (crnd() % 2)
            assert_int_not_equal(sim_sched_at(w->s, t, cw_plain_fn, L(-i)), 0);
        else
            cw_chain_add(w->s, (int)(crnd() % CK), t);
    }
    sim_sched_run(w->s);
    assert_int_equal(sim_sched_pending(w->s), 0);
    for (int k = 0; k < CK; k++) {
        assert_int_equal(sim_chain_len(&w->chain[k]), 0);
        sim_chain_destroy(w->s, &w->chain[k]);
    }
    sim_sched_free(w->s);
    return w;
}

static void chain_matches_plain_heap(uint32_t start_seq)
{
    for (uint64_t seed = 1; seed <= 5; seed++) {
        cworld *a = chain_world(seed * 0x9E3779B97F4A7C15ULL, 1, start_seq);
        cworld *b = chain_world(seed * 0x9E3779B97F4A7C15ULL, 0, start_seq);
        assert_true(a->n > 5000);
        assert_int_equal(a->n, b->n);
        size_t chained = 0;
        for (size_t i = 0; i < a->n; i++) {
            assert_int_equal(a->label[i], b->label[i]);
            assert_int_equal(a->when[i], b->when[i]);
            assert_int_equal(a->pend[i], b->pend[i]);
            chained += a->label[i] >= 1000;
        }
        assert_true(chained > a->n / 3); /* the chains carried a fair share */
        free(a);
        free(b);
    }
}

static void chain_tie_order_matches_plain_heap(void **state)
{
    (void)state;
    chain_matches_plain_heap(0);
}

/* The same across the 32-bit counter's wrap: renumbering must reach the
 * events waiting in chains as well as those in the heap. */
static void chain_tie_order_across_seq_wrap(void **state)
{
    (void)state;
    chain_matches_plain_heap(UINT32_MAX - 3000);
}

/* A chain's events share the heap one at a time: FIFO among its own, and an
 * equal-time plain event scheduled between two chained ones runs between
 * them. */
static void chain_interleaves_by_insertion(void **state)
{
    sim_sched *s = *state;
    sim_chain c;
    sim_chain_init(&c, rec_fn, L(7));
    assert_int_equal(sim_chain_at(s, &c, 10), 0);
    sim_sched_at(s, 10, rec_fn, L(1));
    assert_int_equal(sim_chain_at(s, &c, 10), 0);
    sim_sched_at(s, 5, rec_fn, L(2));
    assert_int_equal(sim_chain_at(s, &c, 20), 0);
    sim_sched_at(s, 20, rec_fn, L(3));
    assert_int_equal(sim_sched_pending(s), 6);
    assert_int_equal(sim_chain_len(&c), 3);
    assert_int_equal(sim_sched_run(s), 6);
    int want[] = {2, 7, 1, 7, 7, 3};
    sim_time when[] = {5, 10, 10, 10, 20, 20};
    assert_int_equal(tr.n, 6);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(tr.label[i], want[i]);
        assert_int_equal(tr.when[i], when[i]);
    }
    assert_int_equal(sim_chain_len(&c), 0);
    sim_chain_destroy(s, &c);
}

static sim_chain *self_chain;

static void chain_self_clear(sim_sched *s, void *ctx)
{
    rec_fn(s, ctx);
    sim_chain_clear(s, self_chain); /* from its own callback: the rest goes */
}

/* Clearing cancels every pending event of the chain, also from the chain's
 * own callback, and the chain can be used again afterwards. */
static void chain_clear_cancels_all(void **state)
{
    sim_sched *s = *state;
    sim_chain c;
    self_chain = &c;
    sim_chain_init(&c, chain_self_clear, L(4));
    for (int i = 0; i < 5; i++)
        assert_int_equal(sim_chain_at(s, &c, 10 + i), 0);
    sim_sched_at(s, 100, rec_fn, L(1));
    assert_int_equal(sim_sched_pending(s), 6);
    assert_int_equal(sim_sched_run(s), 2); /* the first chained event, then 1 */
    assert_int_equal(tr.label[0], 4);
    assert_int_equal(tr.label[1], 1);
    assert_int_equal(sim_sched_pending(s), 0);
    sim_chain_destroy(s, &c);
    sim_chain_init(&c, rec_fn, L(5));
    for (int i = 0; i < 3; i++)
        assert_int_equal(sim_chain_at(s, &c, 200), 0);
    sim_chain_clear(s, &c);
    assert_int_equal(sim_sched_pending(s), 0);
    assert_int_equal(sim_chain_at(s, &c, 300), 0);
    assert_int_equal(sim_sched_run(s), 1);
    assert_int_equal(tr.label[2], 5);
    assert_int_equal(tr.when[2], 300);
    sim_chain_destroy(s, &c);
}

static void bytes_per_pending_event(void **state)
{
    sim_sched *s = *state;
    for (int i = 0; i < 100000; i++)
        sim_sched_at(s, i, rec_fn, L(0));
    /* 40 bytes per event in pool and heap; 100000 sits in a 131072 pool */
    double per = (double)sim_sched_bytes(s) / 100000;
    assert_true(per <= 64);
    assert_true(per >= 40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(order_by_time_then_insertion, setup, teardown),
        cmocka_unit_test_setup_teardown(equal_times_are_fifo, setup, teardown),
        cmocka_unit_test_setup_teardown(schedule_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(event_limit_stops_every_run, setup, teardown),
        cmocka_unit_test_setup_teardown(cancel_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(next_time_skips_cancelled, setup, teardown),
        cmocka_unit_test_setup_teardown(cancel_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(stale_ids_are_harmless, setup, teardown),
        cmocka_unit_test_setup_teardown(run_until_and_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(stop_inside_run, setup, teardown),
        cmocka_unit_test_setup_teardown(matches_reference_model, setup, teardown),
        cmocka_unit_test_setup_teardown(cancelled_records_do_not_accumulate, setup, teardown),
        cmocka_unit_test_setup_teardown(seq_wraparound_keeps_order, setup, teardown),
        cmocka_unit_test_setup_teardown(bytes_per_pending_event, setup, teardown),
        cmocka_unit_test(chain_tie_order_matches_plain_heap),
        cmocka_unit_test(chain_tie_order_across_seq_wrap),
        cmocka_unit_test_setup_teardown(chain_interleaves_by_insertion, setup, teardown),
        cmocka_unit_test_setup_teardown(chain_clear_cancels_all, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
