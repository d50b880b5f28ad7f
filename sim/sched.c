/* The discrete-event scheduler: a 4-ary min-heap of (time, seq) keys over a pool of event records. */
#include "sim/sched.h"
#include "sim/ring.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/*
 * Layout. The heap holds 16-byte entries {time, seq << 32 | slot}: the whole
 * ordering key lives inline, so sifting never touches the records. Comparing
 * the second word as one unsigned integer orders by seq (slot never decides,
 * seqs are unique among queued entries). The records {fn, ctx, gen, next} sit
 * in a pool indexed by slot, reached once per event when it fires. A pending
 * event costs 16 + 24 = 40 bytes; with doubling growth, at most 80.
 *
 * The heap is 4-ary with the root at index 0, so the children of i are
 * 4i+1..4i+4. The array starts 3 entries into a 64-byte aligned block, which
 * puts every group of four siblings in exactly one cache line; sifting down
 * prefetches the grandchildren's lines a level ahead.
 *
 * Pop is lazy: the root is left vacant while the event runs, and the first
 * push (typically the callback scheduling its successor, as in the hold
 * model) drops into it and sifts down once, where pop-then-push would sift
 * twice. Whatever comes next fills a still vacant root with the last entry.
 *
 * Sequence numbers are 32 bits to keep entries at 16 bytes. When the counter
 * is about to wrap, every pending event (chained ones included) is
 * renumbered 0..n-1 by the rank of its seq, which keeps every relative order
 * (and so the heap). That costs O(n log n) once per 4e9 insertions.
 *
 * Chains (see sched.h and chain_advance) keep all but the earliest of their
 * events out of the heap, each with its (time, seq) key in the chain's ring.
 *
 * Ids are gen << 32 | slot. A slot's generation is bumped whenever the slot is
 * recycled, so an old id no longer matches; gen starts at 1, so 0 is never an
 * id. A slot whose generation would wrap to 0 is retired for good (never put
 * back on the free list): ids stay unique for the scheduler's whole life at the
 * price of 24 leaked bytes per 4e9 reuses of one slot.
 *
 * Cancel is lazy: the record's fn is cleared and the entry is skipped (and its
 * slot recycled) when it reaches the top. Cancelled far-future timers would
 * otherwise pile up, so when dead entries exceed half the queue (and at least
 * COMPACT_MIN) the heap is compacted and rebuilt in O(n). That bounds the dead
 * entries to the live ones (plus COMPACT_MIN) at an amortised O(1) per cancel.
 */

typedef struct {
    sim_time t;
    uint64_t k; /* seq << 32 | slot */
} ent;

typedef struct {
    sim_event_fn fn; /* NULL: free, or cancelled while still queued */
    void *ctx;
    uint32_t gen;
    uint32_t next; /* free-list link */
} rec;

#define NONE        UINT32_MAX
#define INIT_CAP    64u
#define MAX_CAP     (UINT32_MAX / 2)
#define COMPACT_MIN 1024u
#define HEAP_SKEW   3 /* entries before heap[0] in the aligned block */

struct sim_sched {
    ent *heap;        /* heap[0] is the root */
    void *heap_block; /* the aligned allocation heap points into */
    size_t heap_bytes;
    size_t n;         /* queued entries, live and dead */
    rec *pool;
    uint32_t cap;     /* slots in the pool; the heap has room for as many */
    uint32_t used;    /* slots handed out at least once */
    uint32_t free_head;
    uint32_t seq;     /* next insertion sequence number */
    size_t pending;   /* live queued events */
    size_t dead;      /* cancelled entries still queued */
    sim_time now;
    uint64_t events_run;
    uint64_t event_limit; /* run calls stop once events_run reaches it; 0: none */
    uint64_t pending_sum; /* of the pending count as each event ran */
    int stopped, running;
    int hole;         /* heap[0] is vacant: the event just popped left it */
};

/* Times are never negative (now starts at 0 and nothing is scheduled before
 * now), so (t, k) compares as one unsigned 128-bit number: branch-free. */
static inline int less(const ent *a, const ent *b)
{
    unsigned __int128 x = (unsigned __int128)(uint64_t)a->t << 64 | a->k;
    unsigned __int128 y = (unsigned __int128)(uint64_t)b->t << 64 | b->k;
    return x < y;
}

/* Places x at hole i and moves it towards the root. */
static inline void sift_up(ent *h, size_t i, ent x)
{
    while (i > 0) {
        size_t p = (i - 1) / 4;
        if (!less(&x, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

/* Places x at hole i of a heap of n entries and moves it towards the leaves. */
static inline void sift_down(ent *h, size_t n, size_t i, ent x)
{
    for (;;) {
        size_t c = 4 * i + 1, m;
        /* The four grandchild groups, one cache line each: whichever child
         * wins, its children are on their way by the next level. Without
         * this the branch-free compare serialises one miss per level. */
        size_t g = 4 * c + 1;
        if (g + 12 < n) {
            __builtin_prefetch(&h[g]);
            __builtin_prefetch(&h[g + 4]);
            __builtin_prefetch(&h[g + 8]);
            __builtin_prefetch(&h[g + 12]);
        } else {
            for (; g < n; g += 4)
                __builtin_prefetch(&h[g]);
        }
        if (c + 3 < n) { /* the common case: four children, a two-round tournament */
            size_t a = less(&h[c + 1], &h[c]) ? c + 1 : c;
            size_t b = less(&h[c + 3], &h[c + 2]) ? c + 3 : c + 2;
            m = less(&h[b], &h[a]) ? b : a;
        } else if (c < n) {
            m = c;
            for (size_t j = c + 1; j < n; j++)
                if (less(&h[j], &h[m]))
                    m = j;
        } else {
            break;
        }
        if (!less(&h[m], &x))
            break;
        h[i] = h[m];
        i = m;
    }
    h[i] = x;
}

static void heapify(ent *h, size_t n)
{
    if (n < 2)
        return;
    for (size_t i = (n - 2) / 4 + 1; i-- > 0;)
        sift_down(h, n, i, h[i]);
}

static size_t heap_block_bytes(uint32_t cap)
{
    size_t b = ((size_t)cap + HEAP_SKEW) * sizeof(ent);
    return (b + 63) & ~(size_t)63;
}

/* Doubles the pool and the heap. Returns 0, or -1 when out of memory (nothing
 * changed then). O(cap). */
static int grow(sim_sched *s)
{
    if (s->cap >= MAX_CAP)
        return -1;
    uint32_t ncap = s->cap * 2;
    size_t hb = heap_block_bytes(ncap);
    void *block = aligned_alloc(64, hb);
    if (!block)
        return -1;
    rec *pool = realloc(s->pool, (size_t)ncap * sizeof(rec));
    if (!pool) {
        free(block);
        return -1;
    }
    ent *heap = (ent *)block + HEAP_SKEW;
    memcpy(heap, s->heap, s->n * sizeof(ent));
    free(s->heap_block);
    s->heap_block = block;
    s->heap_bytes = hb;
    s->heap = heap;
    s->pool = pool;
    s->cap = ncap;
    return 0;
}

static inline uint32_t alloc_slot(sim_sched *s)
{
    uint32_t slot = s->free_head;
    if (slot != NONE) {
        s->free_head = s->pool[slot].next;
        return slot;
    }
    if (s->used == s->cap && grow(s))
        return NONE;
    slot = s->used++;
    s->pool[slot].gen = 1;
    return slot;
}

static inline void free_slot(sim_sched *s, uint32_t slot)
{
    rec *r = &s->pool[slot];
    r->fn = NULL;
    r->ctx = NULL;
    if (++r->gen == 0)
        return; /* retired: its ids must never come back */
    r->next = s->free_head;
    s->free_head = slot;
}

/* Drops every cancelled entry from the heap and recycles its slot. Keeps the
 * live entries in their array order (not yet a heap). O(n). */
static void drop_dead(sim_sched *s)
{
    size_t j = 0;
    for (size_t i = 0; i < s->n; i++) {
        uint32_t slot = (uint32_t)s->heap[i].k;
        if (s->pool[slot].fn)
            s->heap[j++] = s->heap[i];
        else
            free_slot(s, slot);
    }
    s->n = j;
    s->dead = 0;
}

/* Puts x at the vacant root of the heap and sifts it down. The first level
 * is done here: it settles the next event to run, whose record is prefetched
 * at once so that cache miss overlaps the rest of the sift. */
static inline void place_root(sim_sched *s, ent x)
{
    ent *h = s->heap;
    size_t n = s->n;
    if (n < 5) {
        sift_down(h, n, 0, x);
        return;
    }
    size_t a = less(&h[2], &h[1]) ? 2 : 1;
    size_t b = less(&h[4], &h[3]) ? 4 : 3;
    size_t m = less(&h[b], &h[a]) ? b : a;
    if (!less(&h[m], &x)) {
        h[0] = x;
        return;
    }
    __builtin_prefetch(&s->pool[(uint32_t)h[m].k]);
    h[0] = h[m];
    sift_down(h, n, m, x);
}

/* Fills the vacant root with the last entry. */
static inline void fill_hole(sim_sched *s)
{
    s->hole = 0;
    if (--s->n > 0)
        place_root(s, s->heap[s->n]);
}

static void compact(sim_sched *s)
{
    if (s->hole)
        fill_hole(s);
    drop_dead(s);
    heapify(s->heap, s->n);
}

/*
 * Chains. The chain's earliest event is an ordinary heap entry whose record
 * has chain_fire as its fn (a marker: run_loop recognises it and never calls
 * it) and the chain as its context. When that entry is popped, run_loop
 * calls chain_advance before the chain's callback: the next event of the
 * chain takes the same record and drops into the root the popped entry left
 * vacant, under the seq it was given when scheduled. So the heap holds every
 * non-empty chain's earliest event whenever a callback runs (renumber relies
 * on it), and advancing a chain never allocates.
 */
/* The chain's key ring: inline while its capacity is one. */
static inline sim_chain_key *chain_keys(sim_chain *c)
{
    return c->cap > 1 ? c->keys.ring : &c->keys.one;
}

static void chain_fire(sim_sched *s, void *ctx)
{
    (void)s;
    (void)ctx;
    assert(!"chain_fire is a marker, never called");
}

/* The chain's earliest event (record slot, popped from the root: the root is
 * vacant) is running: the next one, if any, takes its record and the root. */
static inline void chain_advance(sim_sched *s, sim_chain *c, uint32_t slot)
{
    assert(c->n > 0 && c->slot == slot && chain_keys(c)[c->head].t == s->now);
    c->head = (c->head + 1) & (c->cap - 1);
    if (--c->n == 0) {
        free_slot(s, slot);
        return;
    }
    const sim_chain_key *k = &chain_keys(c)[c->head];
    s->hole = 0;
    place_root(s, (ent){k->t, (uint64_t)k->seq << 32 | slot});
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The new number of old sequence number q: its rank among the sorted old
 * numbers (which are unique). */
static uint32_t rank_of(const uint32_t *sorted, size_t n, uint32_t q)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] < q)
            lo = mid + 1;
        else
            hi = mid;
    }
    assert(lo < n && sorted[lo] == q);
    return (uint32_t)lo;
}

/* The sequence counter is about to wrap: give every pending event, queued in
 * the heap or waiting in a chain, its rank among the pending sequence numbers
 * as its new one. Every seq handed out since the last renumbering is below
 * the counter, so ranks keep every relative order and the heap stays valid.
 * Every non-empty chain has its earliest event in the heap, so the heap
 * finds them all. Returns 0, or -1 when out of memory (only the dead entries
 * are gone then).
 * O(n log n), once per 4e9 insertions. */
static int renumber(sim_sched *s)
{
    if (s->hole)
        fill_hole(s);
    drop_dead(s);
    heapify(s->heap, s->n); /* drop_dead kept the array order, not the heap */
    size_t total = s->n;
    for (size_t i = 0; i < s->n; i++) {
        rec *r = &s->pool[(uint32_t)s->heap[i].k];
        if (r->fn == chain_fire)
            total += ((sim_chain *)r->ctx)->n - 1;
    }
    uint32_t *old = malloc((total ? total : 1) * sizeof *old);
    if (!old)
        return -1;
    size_t j = 0;
    for (size_t i = 0; i < s->n; i++) {
        old[j++] = (uint32_t)(s->heap[i].k >> 32);
        rec *r = &s->pool[(uint32_t)s->heap[i].k];
        if (r->fn == chain_fire) {
            sim_chain *c = r->ctx;
            for (uint32_t e = 1; e < c->n; e++)
                old[j++] = chain_keys(c)[(c->head + e) & (c->cap - 1)].seq;
        }
    }
    assert(j == total);
    qsort(old, total, sizeof *old, cmp_u32);
    for (size_t i = 0; i < s->n; i++) {
        uint32_t slot = (uint32_t)s->heap[i].k;
        uint32_t q = rank_of(old, total, (uint32_t)(s->heap[i].k >> 32));
        s->heap[i].k = (uint64_t)q << 32 | slot;
        rec *r = &s->pool[slot];
        if (r->fn == chain_fire) {
            sim_chain *c = r->ctx;
            for (uint32_t e = 0; e < c->n; e++) {
                sim_chain_key *key = &chain_keys(c)[(c->head + e) & (c->cap - 1)];
                key->seq = e == 0 ? q : rank_of(old, total, key->seq);
            }
        }
    }
    free(old);
    s->seq = (uint32_t)total;
    return 0;
}

sim_sched *sim_sched_new(void)
{
    sim_sched *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cap = INIT_CAP;
    s->heap_bytes = heap_block_bytes(s->cap);
    s->heap_block = aligned_alloc(64, s->heap_bytes);
    s->pool = malloc((size_t)s->cap * sizeof(rec));
    if (!s->heap_block || !s->pool)
        goto fail;
    s->heap = (ent *)s->heap_block + HEAP_SKEW;
    s->free_head = NONE;
    return s;
fail:
    free(s->heap_block);
    free(s->pool);
    free(s);
    return NULL;
}

void sim_sched_free(sim_sched *s)
{
    if (!s)
        return;
    assert(!s->running);
    free(s->heap_block);
    free(s->pool);
    free(s);
}

sim_time sim_sched_now(const sim_sched *s) { return s->now; }

/* Queues the key (t, seq) for fn(s, ctx): into the vacant root when there is
 * one (a callback scheduling its successor: one sift instead of two), else
 * at the bottom. Returns the slot, or NONE when out of memory. */
static inline uint32_t push_key(sim_sched *s, sim_time t, uint32_t seq, sim_event_fn fn,
                                void *ctx)
{
    uint32_t slot = alloc_slot(s);
    if (slot == NONE)
        return NONE;
    rec *r = &s->pool[slot];
    r->fn = fn;
    r->ctx = ctx;
    ent e = {t, (uint64_t)seq << 32 | slot};
    if (s->hole) {
        s->hole = 0;
        place_root(s, e);
    } else {
        sift_up(s->heap, s->n++, e);
    }
    return slot;
}

sim_event_id sim_sched_at(sim_sched *s, sim_time t, sim_event_fn fn, void *ctx)
{
    assert(fn);
    assert(t >= s->now);
    if (s->seq == UINT32_MAX && renumber(s))
        return 0;
    uint32_t slot = push_key(s, t, s->seq, fn, ctx);
    if (slot == NONE)
        return 0;
    s->seq++;
    s->pending++;
    return (uint64_t)s->pool[slot].gen << 32 | slot;
}

sim_event_id sim_sched_after(sim_sched *s, sim_time dt, sim_event_fn fn, void *ctx)
{
    assert(dt >= 0);
    assert(dt <= SIM_NEVER - s->now);
    return sim_sched_at(s, s->now + dt, fn, ctx);
}

int sim_sched_cancel(sim_sched *s, sim_event_id id)
{
    uint32_t slot = (uint32_t)id, gen = (uint32_t)(id >> 32);
    if (gen == 0 || slot >= s->used)
        return 0;
    rec *r = &s->pool[slot];
    if (r->gen != gen || !r->fn)
        return 0;
    r->fn = NULL;
    r->ctx = NULL;
    s->pending--;
    s->dead++;
    if (s->dead >= COMPACT_MIN && s->dead > s->n / 2)
        compact(s);
    return 1;
}

/* Pops and runs events with time <= limit until the queue empties or a
 * callback stops the run. */
static uint64_t run_loop(sim_sched *s, sim_time limit)
{
    assert(!s->running);
    uint64_t ran = 0;
    s->stopped = 0;
    s->running = 1;
    while (!s->stopped) {
        if (s->hole)
            fill_hole(s);
        if (s->n == 0)
            break;
        ent top = s->heap[0];
        if (top.t > limit)
            break;
        /* Popped lazily: the root stays vacant until the next push (usually
         * from this very callback) or pop fills it. */
        s->hole = 1;
        uint32_t slot = (uint32_t)top.k;
        sim_event_fn fn = s->pool[slot].fn;
        void *ctx = s->pool[slot].ctx;
        if (!fn) {
            free_slot(s, slot);
            s->dead--;
            continue;
        }
        s->pending--;
        s->now = top.t;
        if (fn == chain_fire) {
            sim_chain *c = ctx;
            chain_advance(s, c, slot);
            fn = c->fn;
            ctx = c->ctx;
        } else {
            /* Recycled before the call: the callback may schedule into this
             * very slot, and cancelling its own id must answer 0. */
            free_slot(s, slot);
        }
        s->events_run++;
        s->pending_sum += s->pending;
        ran++;
        fn(s, ctx);
        if (s->event_limit && s->events_run >= s->event_limit)
            s->stopped = 1;
    }
    if (s->hole)
        fill_hole(s);
    s->running = 0;
    return ran; /* s->stopped tells the caller why it ended */
}

uint64_t sim_sched_run(sim_sched *s) { return run_loop(s, SIM_NEVER); }

uint64_t sim_sched_run_until(sim_sched *s, sim_time t)
{
    uint64_t ran = run_loop(s, t);
    /* Stopped early: events up to t may remain, so now must not pass them. */
    if (!s->stopped && t > s->now)
        s->now = t;
    return ran;
}

void sim_sched_stop(sim_sched *s) { s->stopped = 1; }

sim_time sim_sched_next_time(sim_sched *s)
{
    assert(!s->running);
    for (;;) {
        if (s->hole)
            fill_hole(s);
        if (s->n == 0)
            return SIM_NEVER;
        uint32_t slot = (uint32_t)s->heap[0].k;
        if (s->pool[slot].fn)
            return s->heap[0].t;
        /* A cancelled root: popped now as run_loop would pop it later. */
        s->hole = 1;
        free_slot(s, slot);
        s->dead--;
    }
}

void sim_chain_init(sim_chain *c, sim_event_fn fn, void *ctx)
{
    assert(fn);
    *c = (sim_chain){.fn = fn, .ctx = ctx, .cap = 1};
}

int sim_chain_at(sim_sched *s, sim_chain *c, sim_time t)
{
    assert(t >= s->now);
    assert(c->n == 0 || t >= chain_keys(c)[(c->head + c->n - 1) & (c->cap - 1)].t);
    if (c->n == c->cap) {
        uint32_t ncap = c->cap > 1 ? c->cap * 2 : 4;
        if (ncap == 0)
            return -1;
        sim_chain_key *ring = malloc((size_t)ncap * sizeof *ring);
        if (!ring)
            return -1;
        sim_ring_unwrap(ring, chain_keys(c), c->head, c->n, c->cap, sizeof *ring);
        if (c->cap > 1)
            free(c->keys.ring);
        c->keys.ring = ring;
        c->cap = ncap;
        c->head = 0;
    }
    if (s->seq == UINT32_MAX && renumber(s))
        return -1;
    if (c->n == 0) {
        uint32_t slot = push_key(s, t, s->seq, chain_fire, c);
        if (slot == NONE)
            return -1;
        c->slot = slot;
    }
    chain_keys(c)[(c->head + c->n) & (c->cap - 1)] = (sim_chain_key){t, s->seq};
    c->n++;
    s->seq++;
    s->pending++;
    return 0;
}

void sim_chain_clear(sim_sched *s, sim_chain *c)
{
    if (c->n == 0)
        return;
    rec *r = &s->pool[c->slot];
    assert(r->fn == chain_fire && r->ctx == c);
    r->fn = NULL;
    r->ctx = NULL;
    s->pending -= c->n;
    s->dead++;
    c->n = 0;
    c->head = 0;
    if (s->dead >= COMPACT_MIN && s->dead > s->n / 2)
        compact(s);
}

void sim_chain_destroy(sim_sched *s, sim_chain *c)
{
    sim_chain_clear(s, c);
    if (c->cap > 1)
        free(c->keys.ring);
    sim_chain_init(c, c->fn, c->ctx);
}

size_t sim_sched_pending(const sim_sched *s) { return s->pending; }

uint64_t sim_sched_events_run(const sim_sched *s) { return s->events_run; }

void sim_sched_set_event_limit(sim_sched *s, uint64_t n) { s->event_limit = n; }
double sim_sched_mean_pending(const sim_sched *s)
{
    return s->events_run ? (double)s->pending_sum / (double)s->events_run : 0.0;
}

size_t sim_sched_bytes(const sim_sched *s)
{
    return sizeof *s + s->heap_bytes + (size_t)s->cap * sizeof(rec);
}

void sim_sched_test_set_seq(sim_sched *s, uint32_t seq)
{
    assert(seq >= s->seq);
    s->seq = seq;
}
