/* A FIFO of fixed-size elements in blocks, whose memory follows its length. */
#include "sim/fifo.h"
#include "sim/ring.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define MAP_MIN 2 /* block pointers in the smallest map */

void sim_fifo_init(sim_fifo *f, size_t size, unsigned min_shift, unsigned max_shift)
{
    assert(size > 0 && size <= UINT32_MAX && min_shift <= max_shift && max_shift <= 24);
    *f = (sim_fifo){.size = (uint32_t)size, .shift = (uint8_t)min_shift,
                    .min_shift = (uint8_t)min_shift, .max_shift = (uint8_t)max_shift};
}

void sim_fifo_free(sim_fifo *f)
{
    for (size_t i = 0; i < f->nb; i++)
        free(f->map[(f->mhead + i) & (f->mcap - 1)]);
    free(f->map);
    free(f->spare);
    sim_fifo_init(f, f->size, f->min_shift, f->max_shift);
}

static size_t block_bytes(const sim_fifo *f, unsigned shift)
{
    return ((size_t)1 << shift) * f->size;
}

/* Moves the map's nb pointers into a map of cap (>= nb) pointers, from 0.
 * 0, or -1 when out of memory (nothing changed). O(cap). */
static int map_resize(sim_fifo *f, size_t cap)
{
    uint8_t **m = malloc(cap * sizeof *m);
    if (!m)
        return -1;
    sim_ring_unwrap(m, f->map, f->mhead, f->nb, f->mcap, sizeof *m);
    free(f->map);
    f->map = m;
    f->mcap = cap;
    f->mhead = 0;
    return 0;
}

/* The single block, with the n elements from head, moved into a new block
 * of 2^shift elements from its start. 0, or -1 when out of memory. O(n). */
static int rebuild_single(sim_fifo *f, unsigned shift)
{
    uint8_t *b = malloc(block_bytes(f, shift));
    if (!b)
        return -1;
    uint8_t *old = f->map[f->mhead];
    memcpy(b, old + f->head * f->size, f->n * f->size);
    free(old);
    f->map[f->mhead] = b;
    f->shift = (uint8_t)shift;
    f->head = 0;
    return 0;
}

void *sim_fifo_push(sim_fifo *f)
{
    if (sim_fifo_reserve(f, 1))
        return NULL;
    f->n++;
    return sim_fifo_at(f, f->n - 1);
}

/* The first block is used up: it goes (kept as the spare if there is none). */
static void drop_first(sim_fifo *f)
{
    uint8_t *b = f->map[f->mhead];
    if (!f->spare && f->shift == f->max_shift)
        f->spare = b;
    else
        free(b);
    f->mhead = (f->mhead + 1) & (f->mcap - 1);
    f->nb--;
    f->head = 0;
}

/* After elements were dropped from the front: a single block shrinks, and
 * the map with the blocks. */
static void shrink(sim_fifo *f)
{
    if (f->n == 0)
        f->head = 0;
    if (f->nb == 1) {
        /* One block: halve it while at most a quarter of it would be used,
         * so that it is at most half full after (no to and fro). */
        unsigned s = f->shift;
        while (s > f->min_shift && f->n <= ((size_t)1 << s) / 4)
            s--;
        if (s < f->shift) {
            free(f->spare);
            f->spare = NULL;
            (void)rebuild_single(f, s); /* out of memory: keep the bigger one */
        }
    }
    size_t m = f->mcap;
    while (m > MAP_MIN && f->nb <= m / 4)
        m /= 2;
    if (m < f->mcap)
        (void)map_resize(f, m); /* out of memory: keep the bigger one */
}

void sim_fifo_pop(sim_fifo *f)
{
    assert(f->n > 0);
    sim_fifo_pop_n(f, 1);
}

int sim_fifo_reserve_slow(sim_fifo *f, size_t k)
{
    if (k == 0)
        return 0;
    if (f->nb == 0) {
        if (!f->map && map_resize(f, MAP_MIN))
            return -1;
        unsigned s = f->min_shift;
        while (s < f->max_shift && ((size_t)1 << s) < k)
            s++;
        uint8_t *b = malloc(block_bytes(f, s));
        if (!b)
            return -1;
        f->shift = (uint8_t)s;
        f->map[f->mhead] = b;
        f->nb = 1;
        f->head = 0;
    }
    size_t per = (size_t)1 << f->shift;
    if (f->nb == 1 && f->shift < f->max_shift && f->head + f->n + k > per) {
        if (f->n + k <= per && f->head >= per / 2) { /* at most half of it is used: compact */
            uint8_t *b = f->map[f->mhead];
            memmove(b, b + f->head * f->size, f->n * f->size);
            f->head = 0;
        } else { /* grow it (moving what it holds to its start) to fit, up to the largest */
            unsigned s = f->shift + 1u;
            while (s < f->max_shift && ((size_t)1 << s) < f->n + k)
                s++;
            if (rebuild_single(f, s))
                return -1;
            per = (size_t)1 << f->shift;
        }
    }
    /* Several blocks (of the largest size): add blocks at the back. */
    while (f->head + f->n + k > f->nb * per) {
        if (f->nb == f->mcap && map_resize(f, 2 * f->mcap))
            return -1;
        uint8_t *b = f->spare ? f->spare : malloc(block_bytes(f, f->shift));
        if (!b)
            return -1;
        f->spare = NULL;
        f->map[(f->mhead + f->nb) & (f->mcap - 1)] = b;
        f->nb++;
    }
    return 0;
}

int sim_fifo_push_n_slow(sim_fifo *f, const void *src, size_t k)
{
    if (sim_fifo_reserve(f, k))
        return -1;
    const uint8_t *from = src;
    size_t per = (size_t)1 << f->shift;
    while (k) {
        size_t j = f->head + f->n, off = j & (per - 1);
        size_t take = per - off < k ? per - off : k;
        uint8_t *b = f->map[(f->mhead + (j >> f->shift)) & (f->mcap - 1)];
        memcpy(b + off * f->size, from, take * f->size);
        from += take * f->size;
        f->n += take;
        k -= take;
    }
    return 0;
}

void sim_fifo_pop_n(sim_fifo *f, size_t k)
{
    assert(k <= f->n);
    if (k == 0)
        return;
    while (k) {
        size_t per = (size_t)1 << f->shift;
        size_t first = f->nb > 1 ? per - f->head : f->n; /* elements in the first block */
        size_t take = first < k ? first : k;
        f->head += take;
        f->n -= take;
        k -= take;
        if (f->head == per) {
            if (f->nb > 1)
                drop_first(f);
            else
                f->head = 0;
        }
    }
    shrink(f);
}

size_t sim_fifo_bytes(const sim_fifo *f)
{
    return (f->nb + (f->spare ? 1 : 0)) * block_bytes(f, f->shift) + f->mcap * sizeof *f->map;
}
