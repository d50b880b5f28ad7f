/* The discrete-event scheduler: events ordered by (time, insertion sequence). */
#ifndef SIM_SCHED_H
#define SIM_SCHED_H

#include <stddef.h>
#include <stdint.h>
#include "sim/time.h"

typedef struct sim_sched sim_sched;

/* An event handle. 0 is never a valid id; an id is never reused within one
 * scheduler, so cancelling a stale id is always safe and does nothing. */
typedef uint64_t sim_event_id;

typedef void (*sim_event_fn)(sim_sched *s, void *ctx);

/* Returns NULL when out of memory. */
sim_sched *sim_sched_new(void);

/* Frees the scheduler and every pending event record (the events' contexts are
 * the caller's). Not from inside a callback. */
void sim_sched_free(sim_sched *s);

/* Current simulation time (the time of the event being run, or of the last). */
sim_time sim_sched_now(const sim_sched *s);

/* Schedules fn(s, ctx) at absolute time t (asserts t >= now). Events at equal
 * times run in the order they were scheduled. Returns the event id, or 0 when
 * out of memory. O(log n); no allocation once the pool has grown. Safe to call
 * from inside a callback. */
sim_event_id sim_sched_at(sim_sched *s, sim_time t, sim_event_fn fn, void *ctx);

/* Same, at now + dt (asserts dt >= 0). */
sim_event_id sim_sched_after(sim_sched *s, sim_time dt, sim_event_fn fn, void *ctx);

/* Cancels a pending event. Returns 1 if it was pending, 0 if it already ran, was
 * already cancelled, or id is 0. O(1) amortised: the record stays queued and is
 * skipped when reached. Safe to call from inside a callback, also on the
 * running event's own id (which then returns 0: it is no longer pending). */
int sim_sched_cancel(sim_sched *s, sim_event_id id);

/* Runs events until none is left or sim_sched_stop() is called. Returns the
 * number of events run by this call. Not reentrant: a callback must not call
 * sim_sched_run or sim_sched_run_until. */
uint64_t sim_sched_run(sim_sched *s);

/* Runs every event with time <= t, then sets now to t (if it is later).
 * Returns the number of events run by this call. When stopped by
 * sim_sched_stop(), now stays at the time of the last event run. */
uint64_t sim_sched_run_until(sim_sched *s, sim_time t);

/* Makes the current run call return after the running event. Only affects a
 * run call in progress: every run call starts unstopped. */
void sim_sched_stop(sim_sched *s);

/* The time of the earliest pending event, or SIM_NEVER when none is pending:
 * what a host driving the scheduler from a real clock sleeps until. Cancelled
 * entries at the top of the queue are discarded on the way (each once), so
 * the cost is O(log n) amortised. Not from inside a callback. */
sim_time sim_sched_next_time(sim_sched *s);

/* Pending (not cancelled, not run) events. */
size_t sim_sched_pending(const sim_sched *s);

/* Events run since creation. */
uint64_t sim_sched_events_run(const sim_sched *s);

/* Makes every run call stop (as sim_sched_stop) once n events have run since
 * creation; 0: no limit (the default). For bounded runs (the fuzz harness). */
void sim_sched_set_event_limit(sim_sched *s, uint64_t n);
/* The mean number of pending events other than the one run, over the events
 * run so far (what a hold model of the same size holds), for the benchmarks. */
double sim_sched_mean_pending(const sim_sched *s);

/* Bytes currently held by the scheduler (heap and pool), for the benchmarks. */
size_t sim_sched_bytes(const sim_sched *s);

/*
 * Chains: events in time order that the heap holds one at a time.
 *
 * A chain is a FIFO of events with one callback and context, scheduled at
 * non-decreasing times (a FIFO link direction's frames in flight: they arrive
 * in the order sent). Each event takes its insertion sequence number when it
 * is scheduled, exactly as sim_sched_at would give it, but only the chain's
 * earliest event sits in the scheduler's heap; when it runs, the next one
 * takes its place with the sequence number it was given. Events therefore run
 * in exactly the (time, seq) order they would have had as separate events,
 * ties with every other event included, while the heap holds one entry per
 * non-empty chain instead of one per event.
 *
 * The struct is public so that an owner can embed it (one allocation less
 * per link direction); its fields are the scheduler's. A chain belongs to one
 * scheduler and must be empty (sim_chain_clear) before that scheduler is
 * freed.
 */
typedef struct {
    sim_time t;
    uint32_t seq;
} sim_chain_key;

typedef struct {
    sim_event_fn fn;
    void *ctx;
    union {
        sim_chain_key *ring; /* cap > 1: cap entries, a power of two; n from head */
        sim_chain_key one;   /* cap == 1: the one entry, inline (most chains hold
                                one event at a time: no allocation for them) */
    } keys;
    uint32_t cap, head, n;
    uint32_t slot;       /* the earliest event's record in the scheduler (n > 0) */
} sim_chain;

/* An empty chain whose events run fn(s, ctx). Allocates nothing; a chain
 * allocates only once it holds two events at once. */
void sim_chain_init(sim_chain *c, sim_event_fn fn, void *ctx);

/* Schedules the chain's next event at absolute time t (asserts t >= now and
 * t >= the time of the chain's last pending event). Returns 0, or -1 when out
 * of memory (nothing scheduled then). O(1) amortised when the chain already
 * has a pending event, else O(log n) in the heap. Safe from inside a
 * callback, also from the chain's own. */
int sim_chain_at(sim_sched *s, sim_chain *c, sim_time t);

/* Cancels every pending event of the chain. O(1): the heap entry of the
 * earliest is cancelled lazily, as sim_sched_cancel does. */
void sim_chain_clear(sim_sched *s, sim_chain *c);

/* Clears the chain (touching s only when events are pending) and frees its
 * storage; the chain may be initialised again afterwards. */
void sim_chain_destroy(sim_sched *s, sim_chain *c);

/* Pending events of the chain. */
static inline uint32_t sim_chain_len(const sim_chain *c) { return c->n; }

/* Testing hook: sets the internal 32-bit insertion counter (it may only grow),
 * so tests can reach its wrap-around without 4e9 insertions. Not for models. */
void sim_sched_test_set_seq(sim_sched *s, uint32_t seq);

#endif
