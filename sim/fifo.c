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
    size_t per = (size_t)1 << f->shift;
    if (f->nb == 0) {
        if (!f->map && map_resize(f, MAP_MIN))
            return NULL;
        uint8_t *b = malloc(block_bytes(f, f->min_shift));
        if (!b)
            return NULL;
        f->shift = f->min_shift;
        f->map[f->mhead] = b;
        f->nb = 1;
        f->head = 0;
    } else if (f->head + f->n == f->nb * per) {
        if (f->nb == 1 && f->shift < f->max_shift) {
            if (f->head && f->head >= per / 2) { /* at most half of it is used: compact */
                uint8_t *b = f->map[f->mhead];
                memmove(b, b + f->head * f->size, f->n * f->size);
                f->head = 0;
            } else if (rebuild_single(f, f->shift + 1u)) {
                return NULL;
            }
        } else {
            if (f->nb == f->mcap && map_resize(f, 2 * f->mcap))
                return NULL;
            uint8_t *b = f->spare ? f->spare : malloc(block_bytes(f, f->shift));
            if (!b)
                return NULL;
            f->spare = NULL;
            f->map[(f->mhead + f->nb) & (f->mcap - 1)] = b;
            f->nb++;
        }
    }
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

void sim_fifo_pop(sim_fifo *f)
{
    assert(f->n > 0);
    f->head++;
    f->n--;
    if (f->head == (size_t)1 << f->shift) {
        if (f->nb > 1)
            drop_first(f);
        else
            f->head = 0; /* it was the last element */
    }
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
    if (f->mcap > MAP_MIN && f->nb <= f->mcap / 4)
        (void)map_resize(f, f->mcap / 2); /* out of memory: keep the bigger one */
}

size_t sim_fifo_bytes(const sim_fifo *f)
{
    return (f->nb + (f->spare ? 1 : 0)) * block_bytes(f, f->shift) + f->mcap * sizeof *f->map;
}
