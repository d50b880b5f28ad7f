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
 * delay sample; see link.c. O(log n) in the scheduler's queue. */
int sim_link_send(sim_link *l, void *frame, size_t bytes);

/* Hands every frame still in transit to fn (in send order; fn may be NULL)
 * and forgets it (its delivery event is cancelled), so the owner can free
 * frames at the end of a run. Released frames count as neither lost nor
 * delivered. */
void sim_link_release(sim_link *l, void (*fn)(void *ctx, void *frame), void *ctx);

/* Frames sent but not yet delivered. */
size_t sim_link_in_transit(const sim_link *l);

const sim_link_stats *sim_link_stats_get(const sim_link *l);

/* Theoretical stationary loss rate of a loss model: p, or for Gilbert-Elliott
 * (p_bg*loss_good + p_gb*loss_bad) / (p_gb + p_bg) (loss_good when both
 * transition probabilities are 0: the chain starts and stays good). */
double sim_loss_rate(const sim_loss *loss);

#endif
