/* One link direction: a loss model, a delay, serialisation behind earlier frames, and FIFO or reordering delivery. */
#include "sim/link.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <gsl/gsl_randist.h>

/*
 * Randomness, in a fixed order per frame (it matters for common random
 * numbers): every frame, lost or not and whatever the loss model (none
 * included), consumes exactly two uniforms from the link's stream, u_state and
 * then u_loss, followed by one delay sample. So two runs that differ only in
 * the loss model or its parameters see the same delay sample for every frame,
 * and with the same u_loss a frame lost at p = 0.1 is also lost at p = 0.2.
 *
 * Gilbert-Elliott: the chain starts in the good state and is stepped once per
 * frame: first the transition (G->B when u_state < p_gb, B->G when
 * u_state < p_bg), then the loss draw against the new state's rate
 * (u_loss < loss_good or loss_bad). A frame thus sees the stationary loss rate
 * pi_G*loss_good + pi_B*loss_bad with pi_B = p_gb/(p_gb+p_bg).
 *
 * Storage of frames in transit. With reorder off, arrivals are nondecreasing
 * in send order and each frame's event is scheduled at send time, so the
 * scheduler's (time, seq) order fires them in send order: frames wait in a
 * FIFO ring and every event (ctx = the link) delivers the ring's head. The
 * events are a scheduler chain (sim_chain_at): each takes its sequence number
 * at send time, as a separate event would, so every tie with another event
 * resolves as before, but only the earliest frame in flight sits in the
 * scheduler's heap (one entry per direction, not one per frame). With
 * reorder on, each frame gets a record (ctx = the record) from a pool of
 * blocks that never move, linked in send order for sim_link_release.
 *
 * Outages. Scheduled and random windows live in one sorted array of disjoint
 * [start, end) intervals; a cursor marks the first window that ends after the
 * last time checked, so checking a frame walks each window once over a run.
 * Random windows are appended lazily, from their own stream, as time reaches
 * them; those the cursor has passed are folded into running totals once they
 * are half the array, so a long run with short outages keeps a bounded array.
 * Scheduled windows are never folded (they are few, and a window may still be
 * added in the past). Nothing of this is touched unless an outage source was
 * configured (has_outages), so links without outages run exactly as before.
 */

typedef struct {
    void *frame;
    size_t bytes;
} fifo_ent;

typedef struct xrec {
    sim_link *l;
    void *frame;
    size_t bytes;
    sim_event_id id;
    struct xrec *prev, *next; /* in-transit list in send order; next links the free list */
} xrec;

typedef struct {
    sim_time start, end;
} window;

#define RING_INIT  4u
#define BLOCK_INIT 16u
#define FOLD_MIN   64u /* passed random windows kept before folding */

struct sim_link {
    sim_sched *s;
    const sim_link_params *p; /* borrowed (sim_link_new_shared) or after the link */
    gsl_rng *rng;
    sim_link_deliver_fn deliver;
    void *ctx;
    sim_time busy_until;   /* the line is busy serialising until then */
    sim_time last_arrival; /* latest arrival scheduled (reorder off) */
    int bad;               /* Gilbert-Elliott state */
    sim_link_stats st;
    size_t in_transit;
    /* reorder off */
    sim_chain chain;       /* one event per frame in the ring, in send order */
    fifo_ent *ring;
    size_t ring_cap, ring_head; /* ring_cap is a power of two; in_transit entries */
    /* reorder on */
    xrec **blocks;
    size_t n_blocks, block_size; /* block_size: records in the next block */
    xrec *free_list, *head, *tail;
    /* outages */
    bool has_outages;
    bool forced;              /* sim_link_set_down(true) in force */
    sim_time forced_since;
    uint64_t n_forced;
    sim_time forced_ns;       /* completed forced-down time */
    window *win;              /* sorted, disjoint, non-empty */
    size_t n_win, win_cap, cur;
    uint64_t folded_n;        /* random windows folded out of win[] */
    sim_time folded_ns;
    gsl_rng *out_rng;         /* random outages: the stream, else NULL */
    double mtbf_ns, mttr_ns;
    sim_time gen_until;       /* random windows are drawn up to this time */
    uint64_t out_frames_lost, out_bytes_lost;
};

static void fifo_fire(sim_sched *s, void *ctx);

static sim_link *link_new(sim_sched *s, const sim_link_params *p, bool shared, gsl_rng *rng,
                          sim_link_deliver_fn deliver, void *ctx)
{
    assert(s && p && rng && deliver);
    sim_link *l = calloc(1, sizeof *l + (shared ? 0 : sizeof *p));
    if (!l)
        return NULL;
    l->s = s;
    if (shared) {
        l->p = p;
    } else {
        sim_link_params *own = (sim_link_params *)(l + 1);
        *own = *p;
        l->p = own;
    }
    l->rng = rng;
    l->deliver = deliver;
    l->ctx = ctx;
    l->block_size = BLOCK_INIT;
    sim_chain_init(&l->chain, fifo_fire, l);
    return l;
}

sim_link *sim_link_new(sim_sched *s, const sim_link_params *p, gsl_rng *rng,
                       sim_link_deliver_fn deliver, void *ctx)
{
    return link_new(s, p, false, rng, deliver, ctx);
}

sim_link *sim_link_new_shared(sim_sched *s, const sim_link_params *p, gsl_rng *rng,
                              sim_link_deliver_fn deliver, void *ctx)
{
    return link_new(s, p, true, rng, deliver, ctx);
}

/* Cancels the delivery event of every frame in transit and forgets the frames,
 * handing each to fn (when not NULL) in send order. */
static void drop_in_transit(sim_link *l, void (*fn)(void *ctx, void *frame), void *ctx)
{
    if (!l->p->reorder) {
        size_t mask = l->ring_cap - 1;
        sim_chain_clear(l->s, &l->chain);
        for (size_t i = 0; i < l->in_transit; i++) {
            fifo_ent *e = &l->ring[(l->ring_head + i) & mask];
            if (fn)
                fn(ctx, e->frame);
        }
        l->ring_head = 0;
    } else {
        xrec *x = l->head;
        while (x) {
            xrec *next = x->next;
            sim_sched_cancel(l->s, x->id);
            if (fn)
                fn(ctx, x->frame);
            x->next = l->free_list;
            l->free_list = x;
            x = next;
        }
        l->head = l->tail = NULL;
    }
    l->in_transit = 0;
}

void sim_link_free(sim_link *l)
{
    if (!l)
        return;
    /* Touches the scheduler only when frames are still in transit. */
    if (l->in_transit)
        drop_in_transit(l, NULL, NULL);
    sim_chain_destroy(l->s, &l->chain); /* empty by now: frees its ring only */
    free(l->ring);
    for (size_t i = 0; i < l->n_blocks; i++)
        free(l->blocks[i]);
    free(l->blocks);
    free(l->win);
    free(l);
}

void sim_link_release(sim_link *l, void (*fn)(void *ctx, void *frame), void *ctx)
{
    drop_in_transit(l, fn, ctx);
}

size_t sim_link_in_transit(const sim_link *l) { return l->in_transit; }

const sim_link_stats *sim_link_stats_get(const sim_link *l) { return &l->st; }

double sim_loss_rate(const sim_loss *loss)
{
    switch (loss->kind) {
    case SIM_LOSS_NONE:
        return 0;
    case SIM_LOSS_BERNOULLI:
        return loss->p;
    case SIM_LOSS_GILBERT_ELLIOTT: {
        double sum = loss->p_gb + loss->p_bg;
        if (!(sum > 0)) /* the chain never leaves its start, the good state */
            return loss->loss_good;
        return (loss->p_bg * loss->loss_good + loss->p_gb * loss->loss_bad) / sum;
    }
    }
    assert(!"unknown loss model");
    return 0;
}

static sim_time sat_add(sim_time a, sim_time b)
{
    return b > SIM_NEVER - a ? SIM_NEVER : a + b;
}

/* Makes room for one more window. 0, or -1 when out of memory. */
static int win_reserve(sim_link *l)
{
    if (l->n_win < l->win_cap)
        return 0;
    size_t ncap = l->win_cap ? l->win_cap * 2 : 8;
    window *w = realloc(l->win, ncap * sizeof *w);
    if (!w)
        return -1;
    l->win = w;
    l->win_cap = ncap;
    return 0;
}

int sim_link_add_outage(sim_link *l, sim_time start, sim_time end)
{
    assert(0 <= start && start <= end);
    assert(!l->out_rng);
    if (start == end)
        return 0;
    if (win_reserve(l))
        return -1;
    /* Windows i..j-1 overlap or touch [start, end]; they become one. */
    size_t i = 0;
    while (i < l->n_win && l->win[i].end < start)
        i++;
    size_t j = i;
    while (j < l->n_win && l->win[j].start <= end)
        j++;
    window w = {start, end};
    if (j > i) {
        if (l->win[i].start < w.start)
            w.start = l->win[i].start;
        if (l->win[j - 1].end > w.end)
            w.end = l->win[j - 1].end;
    }
    /* Replace win[i..j) by w: the tail moves by 1 - (j - i). */
    memmove(&l->win[i + 1], &l->win[j], (l->n_win - j) * sizeof *l->win);
    l->win[i] = w;
    l->n_win = l->n_win - (j - i) + 1;
    l->cur = 0; /* re-walked once at the next check */
    l->has_outages = true;
    return 0;
}

void sim_link_random_outages(sim_link *l, sim_time mtbf, sim_time mttr, gsl_rng *rng)
{
    assert(mtbf > 0 && mttr > 0 && rng);
    assert(!l->out_rng && l->n_win == 0);
    l->out_rng = rng;
    l->mtbf_ns = (double)mtbf;
    l->mttr_ns = (double)mttr;
    l->gen_until = 0;
    l->has_outages = true;
}

/* An exponential sample of the given mean in ns, rounded, clamped to 1e18 ns
 * (31 years) so that time sums stay far from overflow. */
static sim_time exp_ns(gsl_rng *r, double mean)
{
    double x = gsl_ran_exponential(r, mean);
    return x >= 1e18 ? (sim_time)1000000000000000000LL : (sim_time)llround(x);
}

/* Draws random windows until they cover every time <= t (t is now). A window
 * that has already ended by t goes straight into the folded totals, as the
 * cursor would pass it at once: only the one still open at t is kept, so a
 * first frame long after the start (or tiny mtbf and mttr) costs time in the
 * windows drawn, not memory (it used to keep them all: 2 GB at mtbf 1 ns and
 * mttr 100 ns by t = 13 s). Amortised O(1) per window. Returns -1 when out of
 * memory (the window that did not fit is lost: the run should then be
 * abandoned, as for any allocation failure). */
static int gen_random(sim_link *l, sim_time t)
{
    while (l->gen_until <= t && l->gen_until != SIM_NEVER) {
        sim_time up = exp_ns(l->out_rng, l->mtbf_ns);
        sim_time down = exp_ns(l->out_rng, l->mttr_ns);
        sim_time s = sat_add(l->gen_until, up);
        sim_time e = sat_add(s, down);
        if (e > s && e <= t) {
            l->folded_n++;
            l->folded_ns += e - s;
        } else if (e > s) {
            if (win_reserve(l))
                return -1;
            l->win[l->n_win++] = (window){s, e};
        }
        l->gen_until = e;
    }
    return 0;
}

/* Folds the random windows before the cursor (all ended at or before the
 * last time checked) into the totals once they are half of the array. */
static void fold_passed(sim_link *l)
{
    if (!l->out_rng || l->cur < FOLD_MIN || 2 * l->cur < l->n_win)
        return;
    for (size_t i = 0; i < l->cur; i++) {
        l->folded_n++;
        l->folded_ns += l->win[i].end - l->win[i].start;
    }
    memmove(l->win, &l->win[l->cur], (l->n_win - l->cur) * sizeof *l->win);
    l->n_win -= l->cur;
    l->cur = 0;
}

/* The outage check at time t (t never decreases between calls, except after
 * sim_link_add_outage reset the cursor). */
static bool down_at(sim_link *l, sim_time t)
{
    if (l->forced)
        return true;
    if (l->out_rng)
        (void)gen_random(l, t); /* out of memory: the windows drawn so far apply */
    while (l->cur < l->n_win && l->win[l->cur].end <= t)
        l->cur++;
    bool down = l->cur < l->n_win && l->win[l->cur].start <= t;
    fold_passed(l);
    return down;
}

bool sim_link_is_down(sim_link *l)
{
    return l->has_outages && down_at(l, sim_sched_now(l->s));
}

void sim_link_set_down(sim_link *l, bool down)
{
    sim_time now = sim_sched_now(l->s);
    l->has_outages = true;
    if (down && !l->forced) {
        l->forced = true;
        l->forced_since = now;
        l->n_forced++;
    } else if (!down && l->forced) {
        l->forced = false;
        l->forced_ns += now - l->forced_since;
    }
}

void sim_link_outage_stats_get(sim_link *l, sim_link_outage_stats *out)
{
    sim_time now = sim_sched_now(l->s);
    memset(out, 0, sizeof *out);
    if (l->out_rng)
        (void)gen_random(l, now);
    out->outages = l->folded_n;
    out->down_ns = l->folded_ns;
    for (size_t i = 0; i < l->n_win && l->win[i].start < now; i++) {
        out->outages++;
        out->down_ns += (l->win[i].end < now ? l->win[i].end : now) - l->win[i].start;
    }
    out->forced = l->n_forced;
    out->forced_ns = l->forced_ns + (l->forced ? now - l->forced_since : 0);
    out->frames_lost = l->out_frames_lost;
    out->bytes_lost = l->out_bytes_lost;
}

/* Steps the loss model for one frame; 1 if the frame is lost. Always draws
 * exactly two uniforms (see the top of the file). */
static int loss_step(sim_link *l)
{
    double u_state = gsl_rng_uniform(l->rng);
    double u_loss = gsl_rng_uniform(l->rng);
    const sim_loss *m = &l->p->loss;
    switch (m->kind) {
    case SIM_LOSS_NONE:
        return 0;
    case SIM_LOSS_BERNOULLI:
        return u_loss < m->p;
    case SIM_LOSS_GILBERT_ELLIOTT:
        if (l->bad)
            l->bad = !(u_state < m->p_bg);
        else
            l->bad = u_state < m->p_gb;
        return u_loss < (l->bad ? m->loss_bad : m->loss_good);
    }
    assert(!"unknown loss model");
    return 0;
}

/* bytes*8 s / bps in ns, rounded half up; exact in 128-bit arithmetic (a
 * 1000-byte frame at 8 Mbit/s is exactly 1 ms). Saturates at SIM_NEVER. */
static sim_time serialisation_ns(size_t bytes, uint64_t bps)
{
    if (bps == 0)
        return 0;
    unsigned __int128 num = (unsigned __int128)bytes * 8000000000u + bps / 2;
    unsigned __int128 q = num / bps;
    return q > (unsigned __int128)SIM_NEVER ? SIM_NEVER : (sim_time)q;
}

static void fifo_fire(sim_sched *s, void *ctx)
{
    sim_link *l = ctx;
    assert(l->in_transit > 0);
    fifo_ent e = l->ring[l->ring_head];
    (void)s;
    l->ring_head = (l->ring_head + 1) & (l->ring_cap - 1);
    l->in_transit--;
    l->st.frames_delivered++;
    l->st.bytes_delivered += e.bytes;
    l->deliver(l->ctx, e.frame, e.bytes); /* last: it may send on this link */
}

static void reorder_fire(sim_sched *s, void *ctx)
{
    (void)s;
    xrec *x = ctx;
    sim_link *l = x->l;
    void *frame = x->frame;
    size_t bytes = x->bytes;
    if (x->prev)
        x->prev->next = x->next;
    else
        l->head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    else
        l->tail = x->prev;
    x->next = l->free_list;
    l->free_list = x;
    l->in_transit--;
    l->st.frames_delivered++;
    l->st.bytes_delivered += bytes;
    l->deliver(l->ctx, frame, bytes);
}

/* Makes room for one more frame in transit. 0, or -1 when out of memory. */
static int reserve(sim_link *l)
{
    if (!l->p->reorder) {
        if (l->in_transit < l->ring_cap)
            return 0;
        size_t ncap = l->ring_cap ? l->ring_cap * 2 : RING_INIT;
        fifo_ent *ring = malloc(ncap * sizeof *ring);
        if (!ring)
            return -1;
        for (size_t i = 0; i < l->in_transit; i++) /* unwrap into the new ring */
            ring[i] = l->ring[(l->ring_head + i) & (l->ring_cap - 1)];
        free(l->ring);
        l->ring = ring;
        l->ring_cap = ncap;
        l->ring_head = 0;
        return 0;
    }
    if (l->free_list)
        return 0;
    xrec **blocks = realloc(l->blocks, (l->n_blocks + 1) * sizeof *blocks);
    if (!blocks)
        return -1;
    l->blocks = blocks;
    xrec *b = malloc(l->block_size * sizeof *b);
    if (!b)
        return -1;
    l->blocks[l->n_blocks++] = b;
    for (size_t i = l->block_size; i-- > 0;) {
        b[i].next = l->free_list;
        l->free_list = &b[i];
    }
    l->block_size *= 2;
    return 0;
}

int sim_link_send(sim_link *l, void *frame, size_t bytes)
{
    if (reserve(l))
        return -1;
    sim_time now = sim_sched_now(l->s);
    int lost = loss_step(l);
    sim_time delay = sim_dist_sample(&l->p->delay, l->rng);
    sim_time start = now > l->busy_until ? now : l->busy_until;
    l->busy_until = sat_add(start, serialisation_ns(bytes, l->p->bandwidth_bps));
    l->st.frames_sent++;
    l->st.bytes_sent += bytes;
    if (l->has_outages && down_at(l, now)) {
        l->out_frames_lost++;
        l->out_bytes_lost += bytes;
        lost = 1;
    }
    if (lost) {
        l->st.frames_lost++;
        l->st.bytes_lost += bytes;
        return 0;
    }
    sim_time arrive = sat_add(l->busy_until, delay);
    if (!l->p->reorder) {
        if (arrive < l->last_arrival)
            arrive = l->last_arrival;
        if (sim_chain_at(l->s, &l->chain, arrive))
            return -1;
        l->last_arrival = arrive;
        l->ring[(l->ring_head + l->in_transit) & (l->ring_cap - 1)] = (fifo_ent){frame, bytes};
    } else {
        xrec *x = l->free_list;
        sim_event_id id = sim_sched_at(l->s, arrive, reorder_fire, x);
        if (!id)
            return -1;
        l->free_list = x->next;
        *x = (xrec){l, frame, bytes, id, l->tail, NULL};
        if (l->tail)
            l->tail->next = x;
        else
            l->head = x;
        l->tail = x;
    }
    l->in_transit++;
    return 1;
}
