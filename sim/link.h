/* One direction of a link: loss, delay, bandwidth and ordering for opaque frames. */
#ifndef SIM_LINK_H
#define SIM_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <gsl/gsl_rng.h>
#include "sim/dist.h"
#include "sim/sched.h"

typedef enum {
    SIM_LOSS_NONE,
    SIM_LOSS_BERNOULLI,       /* p */
    SIM_LOSS_GILBERT_ELLIOTT, /* p_gb, p_bg, loss_good, loss_bad */
} sim_loss_kind;

typedef struct {
    sim_loss_kind kind;
    double p;
    double p_gb, p_bg, loss_good, loss_bad;
} sim_loss;

typedef struct {
    sim_loss loss;
    sim_dist delay;
    uint64_t bandwidth_bps; /* 0 = unlimited */
    bool reorder;           /* false: FIFO, no frame overtakes an earlier one */
} sim_link_params;

typedef struct {
    uint64_t frames_sent, frames_lost, frames_delivered;
    uint64_t bytes_sent, bytes_lost, bytes_delivered;
} sim_link_stats;

typedef struct sim_link sim_link;

/* Called when a frame arrives at the far end. */
typedef void (*sim_link_deliver_fn)(void *ctx, void *frame, size_t bytes);

/* A link direction on scheduler s. rng is borrowed (the caller frees it after
 * the link) and is the only randomness the link uses. Returns NULL when out of
 * memory. */
sim_link *sim_link_new(sim_sched *s, const sim_link_params *p, gsl_rng *rng,
                       sim_link_deliver_fn deliver, void *ctx);

/* As sim_link_new, but borrows p (unchanged until the link is freed) instead
 * of copying it: links of the same parameters share one (80 bytes a link). */
sim_link *sim_link_new_shared(sim_sched *s, const sim_link_params *p, gsl_rng *rng,
                              sim_link_deliver_fn deliver, void *ctx);

/* Frees the link. Frames still in transit are forgotten and their delivery
 * events cancelled (so the scheduler must still exist then); call
 * sim_link_release first to get the frames back, after which freeing the link
 * no longer touches the scheduler. */
void sim_link_free(sim_link *l);

/* Sends a frame of the given size now. The frame serialises after the frames
 * before it (bytes*8/bps each, in ns rounded), then travels for one delay
 * sample: arrive = max(now, busy_until) + bytes*8e9/bps + delay; with reorder
 * off its arrival is also no earlier than any earlier frame's (equal arrivals
 * are delivered in send order). Returns 1 if it will be delivered (deliver is
 * called with it later), 0 if it was lost (the caller keeps the frame), -1 when
 * out of memory (the run should then be abandoned). The loss model is stepped
 * once per frame. A lost frame still occupied the sender's line for its
 * serialisation time. Randomness per frame, always in this order and for lost
 * frames too: two uniforms for the loss model (whatever the model), then one
 * delay sample; see link.c. With reorder off the frames in flight are one
 * scheduler chain (sim_chain_at): O(1) amortised while earlier frames are in
 * flight, else O(log n) in the scheduler's heap; with reorder on, O(log n). */
int sim_link_send(sim_link *l, void *frame, size_t bytes);

/* Hands every frame still in transit to fn (in send order; fn may be NULL)
 * and forgets it (its delivery event is cancelled), so the owner can free
 * frames at the end of a run. Released frames count as neither lost nor
 * delivered. */
void sim_link_release(sim_link *l, void (*fn)(void *ctx, void *frame), void *ctx);

/* Frames sent but not yet delivered. */
size_t sim_link_in_transit(const sim_link *l);

const sim_link_stats *sim_link_stats_get(const sim_link *l);

/*
 * Outages. A direction can be down: every frame *sent* while it is down is
 * lost (counted in frames_lost/bytes_lost as any loss, and in the outage
 * statistics below). Frames already in transit when an outage begins are not
 * touched: the outage sits at the sender's end of the line, and what has left
 * it arrives. The loss model and the delay are drawn for a frame sent during
 * an outage exactly as for any other frame (two uniforms and one delay
 * sample, and the Gilbert-Elliott chain is stepped), and it still occupies
 * the line for its serialisation time, so configuring outages never shifts
 * the link stream's draws: every frame outside the outages sees what it would
 * have seen without them.
 *
 * Three sources, combined by "or": scheduled windows, random windows (at most
 * one of these two per direction), and a host-driven switch.
 */

/* Adds the scheduled window [start, end): a frame sent at t with
 * start <= t < end is lost. Overlapping or touching windows are merged (not
 * an error); an empty window (start == end) adds nothing. Windows may be
 * added at any time, also in the past (they then only count in the
 * statistics). Asserts 0 <= start <= end and that random outages are not
 * configured. Returns 0, or -1 when out of memory (nothing changed then).
 * O(n) in the windows held; checking a frame against the windows costs
 * O(1) amortised (a cursor walks the sorted list as time advances). */
int sim_link_add_outage(sim_link *l, sim_time start, sim_time end);

/* Random outages: alternating up and down periods from time 0, up times
 * exponential with mean mtbf, down times exponential with mean mttr (both
 * > 0, in ns), each rounded to the nanosecond; a down period that rounds to
 * 0 ns is no outage. Drawn lazily, in order, from rng alone (borrowed: free
 * it after the link; use a stream of its own, such as "<link stream>.outages",
 * so the link's own draws stay put): two exponentials per up/down cycle, so
 * the windows do not depend on when frames are sent. Asserts that no
 * scheduled window was added and that this is called once. Returns 0, or -1
 * when out of memory (nothing changed then). */
int sim_link_random_outages(sim_link *l, sim_time mtbf, sim_time mttr, gsl_rng *rng);

/* Host-driven fault: sets the direction down (true) or up (false) from now
 * on, independently of the windows. Idempotent. Returns 0, or -1 when out of
 * memory (nothing changed then: a link's outage state is allocated when its
 * first outage source is configured). */
int sim_link_set_down(sim_link *l, bool down);

/* Whether a frame sent now would be lost to an outage. O(1) amortised; may
 * draw random windows up to now. */
bool sim_link_is_down(sim_link *l);

typedef struct {
    uint64_t outages;       /* windows (scheduled or random) begun before now */
    sim_time down_ns;       /* their total length within [0, now) */
    uint64_t forced;        /* times sim_link_set_down(true) took it down */
    sim_time forced_ns;     /* total time down by sim_link_set_down, up to now */
    uint64_t frames_lost;   /* frames sent while down (included in frames_lost) */
    uint64_t bytes_lost;
} sim_link_outage_stats;

/* Outage statistics up to the scheduler's current time (scheduled windows
 * and forced downs that overlap are counted in both). O(windows held). */
void sim_link_outage_stats_get(sim_link *l, sim_link_outage_stats *out);

/* Theoretical stationary loss rate of a loss model: p, or for Gilbert-Elliott
 * (p_bg*loss_good + p_gb*loss_bad) / (p_gb + p_bg) (loss_good when both
 * transition probabilities are 0: the chain starts and stays good). */
double sim_loss_rate(const sim_loss *loss);

#endif
