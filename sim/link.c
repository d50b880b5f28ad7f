/* One link direction: a loss model, a delay, serialisation behind earlier frames, and FIFO or reordering delivery. */
#include "sim/link.h"
#include "sim/ring.h"

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
 * added in the past). Nothing of this exists unless an outage source was
 * configured (the link's outage block is allocated then), so links without
 * outages run exactly as before.
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

/* A direction's outage state, allocated when its first outage source is
 * configured: most links never have one. */
typedef struct {
    bool forced;              /* sim_link_set_down(true) in force */
    sim_time forced_since;
    uint64_t n_forced;
    sim_time forced_ns;       /* completed forced-down time */
    window *win;              /* sorted, disjoint, non-empty */
    size_t n_win, win_cap, cur;
    uint64_t folded_n;        /* random windows folded out of win[] */
    sim_time folded_ns;
    gsl_rng *rng;             /* random outages: the stream, else NULL */
    double mtbf_ns, mttr_ns;
    sim_time gen_until;       /* random windows are drawn up to this time */
    uint64_t frames_lost, bytes_lost;
} outage;

/* A link is held per client direction, so its size is most of an idle
 * client's: what only some links use (reordering, outages) is kept out of
 * the common part, and a FIFO link's one frame in flight needs no ring. */
struct sim_link {
    sim_sched *s;
    const sim_link_params *p; /* borrowed (sim_link_new_shared) or after the link */
    gsl_rng *rng;
    sim_link_deliver_fn deliver;
    void *ctx;
    sim_time busy_until;   /* the line is busy serialising until then */
    sim_time last_arrival; /* latest arrival scheduled (reorder off) */
    int bad;               /* Gilbert-Elliott state */
    size_t in_transit;
    sim_link_stats st;
    outage *out;           /* NULL: no outage source configured */
    union {
        struct { /* reorder off */
            sim_chain chain; /* one event per frame in the ring, in send order */
            union {
                fifo_ent *ring; /* cap > 1 */
                fifo_ent one;   /* cap == 1: inline */
            } ents;
            uint32_t cap, head; /* cap is a power of two; in_transit entries from head */
        } f;
        struct { /* reorder on */
            xrec **blocks;
            size_t n_blocks, block_size; /* block_size: records in the next block */
            xrec *free_list, *head, *tail;
        } r;
    } u;
};

/* A FIFO link's ring of frames in transit. */
static inline fifo_ent *ring_of(sim_link *l)
{
    return l->u.f.cap > 1 ? l->u.f.ents.ring : &l->u.f.ents.one;
}

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
    if (p->reorder) {
        l->u.r.block_size = BLOCK_INIT;
    } else {
        l->u.f.cap = 1;
        sim_chain_init(&l->u.f.chain, fifo_fire, l);
    }
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
        size_t mask = l->u.f.cap - 1;
        fifo_ent *ring = ring_of(l);
        sim_chain_clear(l->s, &l->u.f.chain);
        for (size_t i = 0; i < l->in_transit; i++) {
            fifo_ent *e = &ring[(l->u.f.head + i) & mask];
            if (fn)
                fn(ctx, e->frame);
        }
        l->u.f.head = 0;
    } else {
        xrec *x = l->u.r.head;
        while (x) {
            xrec *next = x->next;
            sim_sched_cancel(l->s, x->id);
            if (fn)
                fn(ctx, x->frame);
            x->next = l->u.r.free_list;
            l->u.r.free_list = x;
            x = next;
        }
        l->u.r.head = l->u.r.tail = NULL;
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
    if (!l->p->reorder) {
        sim_chain_destroy(l->s, &l->u.f.chain); /* empty by now: frees its ring only */
        if (l->u.f.cap > 1)
            free(l->u.f.ents.ring);
    } else {
        for (size_t i = 0; i < l->u.r.n_blocks; i++)
            free(l->u.r.blocks[i]);
        free(l->u.r.blocks);
    }
    if (l->out)
        free(l->out->win);
    free(l->out);
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
static int win_reserve(outage *o)
{
    if (o->n_win < o->win_cap)
        return 0;
    size_t ncap = o->win_cap ? o->win_cap * 2 : 8;
    window *w = realloc(o->win, ncap * sizeof *w);
    if (!w)
        return -1;
    o->win = w;
    o->win_cap = ncap;
    return 0;
}

/* The link's outage state, allocated on first use. NULL when out of memory. */
static outage *outage_of(sim_link *l)
{
    if (!l->out)
        l->out = calloc(1, sizeof *l->out);
    return l->out;
}

int sim_link_add_outage(sim_link *l, sim_time start, sim_time end)
{
    assert(0 <= start && start <= end);
    assert(!l->out || !l->out->rng);
    if (start == end)
        return 0;
    outage *o = outage_of(l);
    if (!o || win_reserve(o))
        return -1;
    /* Windows i..j-1 overlap or touch [start, end]; they become one. */
    size_t i = 0;
    while (i < o->n_win && o->win[i].end < start)
        i++;
    size_t j = i;
    while (j < o->n_win && o->win[j].start <= end)
        j++;
    window w = {start, end};
    if (j > i) {
        if (o->win[i].start < w.start)
            w.start = o->win[i].start;
        if (o->win[j - 1].end > w.end)
            w.end = o->win[j - 1].end;
    }
    /* Replace win[i..j) by w: the tail moves by 1 - (j - i). */
    memmove(&o->win[i + 1], &o->win[j], (o->n_win - j) * sizeof *o->win);
    o->win[i] = w;
    o->n_win = o->n_win - (j - i) + 1;
    o->cur = 0; /* re-walked once at the next check */
    return 0;
}

int sim_link_random_outages(sim_link *l, sim_time mtbf, sim_time mttr, gsl_rng *rng)
{
    assert(mtbf > 0 && mttr > 0 && rng);
    assert(!l->out || (!l->out->rng && l->out->n_win == 0));
    outage *o = outage_of(l);
    if (!o)
        return -1;
    o->rng = rng;
    o->mtbf_ns = (double)mtbf;
    o->mttr_ns = (double)mttr;
    o->gen_until = 0;
    return 0;
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
static int gen_random(outage *o, sim_time t)
{
    while (o->gen_until <= t && o->gen_until != SIM_NEVER) {
        sim_time up = exp_ns(o->rng, o->mtbf_ns);
        sim_time down = exp_ns(o->rng, o->mttr_ns);
        sim_time s = sat_add(o->gen_until, up);
        sim_time e = sat_add(s, down);
        if (e > s && e <= t) {
            o->folded_n++;
            o->folded_ns += e - s;
        } else if (e > s) {
            if (win_reserve(o))
                return -1;
            o->win[o->n_win++] = (window){s, e};
        }
        o->gen_until = e;
    }
    return 0;
}

/* Folds the random windows before the cursor (all ended at or before the
 * last time checked) into the totals once they are half of the array. */
static void fold_passed(outage *o)
{
    if (!o->rng || o->cur < FOLD_MIN || 2 * o->cur < o->n_win)
        return;
    for (size_t i = 0; i < o->cur; i++) {
        o->folded_n++;
        o->folded_ns += o->win[i].end - o->win[i].start;
    }
    memmove(o->win, &o->win[o->cur], (o->n_win - o->cur) * sizeof *o->win);
    o->n_win -= o->cur;
    o->cur = 0;
}

/* The outage check at time t (t never decreases between calls, except after
 * sim_link_add_outage reset the cursor). */
static bool down_at(outage *o, sim_time t)
{
    if (o->forced)
        return true;
    if (o->rng)
        (void)gen_random(o, t); /* out of memory: the windows drawn so far apply */
    while (o->cur < o->n_win && o->win[o->cur].end <= t)
        o->cur++;
    bool down = o->cur < o->n_win && o->win[o->cur].start <= t;
    fold_passed(o);
    return down;
}

bool sim_link_is_down(sim_link *l)
{
    return l->out && down_at(l->out, sim_sched_now(l->s));
}

int sim_link_set_down(sim_link *l, bool down)
{
    sim_time now = sim_sched_now(l->s);
    if (!down && !l->out)
        return 0; /* never down: nothing to end */
    outage *o = outage_of(l);
    if (!o)
        return -1;
    if (down && !o->forced) {
        o->forced = true;
        o->forced_since = now;
        o->n_forced++;
    } else if (!down && o->forced) {
        o->forced = false;
        o->forced_ns += now - o->forced_since;
    }
    return 0;
}

void sim_link_outage_stats_get(sim_link *l, sim_link_outage_stats *out)
{
    sim_time now = sim_sched_now(l->s);
    memset(out, 0, sizeof *out);
    outage *o = l->out;
    if (!o)
        return;
    if (o->rng)
        (void)gen_random(o, now);
    out->outages = o->folded_n;
    out->down_ns = o->folded_ns;
    for (size_t i = 0; i < o->n_win && o->win[i].start < now; i++) {
        out->outages++;
        out->down_ns += (o->win[i].end < now ? o->win[i].end : now) - o->win[i].start;
    }
    out->forced = o->n_forced;
    out->forced_ns = o->forced_ns + (o->forced ? now - o->forced_since : 0);
    out->frames_lost = o->frames_lost;
    out->bytes_lost = o->bytes_lost;
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
    fifo_ent e = ring_of(l)[l->u.f.head];
    (void)s;
    l->u.f.head = (l->u.f.head + 1) & (l->u.f.cap - 1);
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
        l->u.r.head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    else
        l->u.r.tail = x->prev;
    x->next = l->u.r.free_list;
    l->u.r.free_list = x;
    l->in_transit--;
    l->st.frames_delivered++;
    l->st.bytes_delivered += bytes;
    l->deliver(l->ctx, frame, bytes);
}

/* Makes room for one more frame in transit. 0, or -1 when out of memory. */
static int reserve(sim_link *l)
{
    if (!l->p->reorder) {
        if (l->in_transit < l->u.f.cap)
            return 0;
        if (l->u.f.cap > UINT32_MAX / 2)
            return -1;
        uint32_t ncap = l->u.f.cap > 1 ? l->u.f.cap * 2 : RING_INIT;
        fifo_ent *ring = malloc(ncap * sizeof *ring);
        if (!ring)
            return -1;
        sim_ring_unwrap(ring, ring_of(l), l->u.f.head, l->in_transit, l->u.f.cap, sizeof *ring);
        if (l->u.f.cap > 1)
            free(l->u.f.ents.ring);
        l->u.f.ents.ring = ring;
        l->u.f.cap = ncap;
        l->u.f.head = 0;
        return 0;
    }
    if (l->u.r.free_list)
        return 0;
    xrec **blocks = realloc(l->u.r.blocks, (l->u.r.n_blocks + 1) * sizeof *blocks);
    if (!blocks)
        return -1;
    l->u.r.blocks = blocks;
    xrec *b = malloc(l->u.r.block_size * sizeof *b);
    if (!b)
        return -1;
    l->u.r.blocks[l->u.r.n_blocks++] = b;
    for (size_t i = l->u.r.block_size; i-- > 0;) {
        b[i].next = l->u.r.free_list;
        l->u.r.free_list = &b[i];
    }
    l->u.r.block_size *= 2;
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
    if (l->out && down_at(l->out, now)) {
        l->out->frames_lost++;
        l->out->bytes_lost += bytes;
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
        if (sim_chain_at(l->s, &l->u.f.chain, arrive))
            return -1;
        l->last_arrival = arrive;
        ring_of(l)[(l->u.f.head + l->in_transit) & (l->u.f.cap - 1)] = (fifo_ent){frame, bytes};
    } else {
        xrec *x = l->u.r.free_list;
        sim_event_id id = sim_sched_at(l->s, arrive, reorder_fire, x);
        if (!id)
            return -1;
        l->u.r.free_list = x->next;
        *x = (xrec){l, frame, bytes, id, l->u.r.tail, NULL};
        if (l->u.r.tail)
            l->u.r.tail->next = x;
        else
            l->u.r.head = x;
        l->u.r.tail = x;
    }
    l->in_transit++;
    return 1;
}
