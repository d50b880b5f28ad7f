/* A FIFO of fixed-size elements in blocks, whose memory follows its length. */
#ifndef SIM_FIFO_H
#define SIM_FIFO_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * Elements are appended at the back, dropped at the front and read by index
 * from the front. They live in blocks of 2^shift elements, all of one size,
 * found through a ring of block pointers (the map), so an element never
 * moves once the FIFO spans several blocks. A short FIFO is one block that
 * doubles from 2^min_shift elements up to 2^max_shift as it fills, and
 * halves again when at most a quarter of it is used, so that an idle user
 * holds a few elements' worth; beyond one block of 2^max_shift, blocks are
 * added at the back and given back at the front as they empty (one is kept
 * spare, so that a FIFO going to and fro across a block boundary does not
 * call malloc each time). What a FIFO holds is therefore at most its
 * elements plus about three blocks and its map: memory follows the length
 * now, not the longest the FIFO ever was (a doubling ring that never shrinks
 * keeps the latter for good).
 *
 * The struct is the caller's (embed it); a zeroed struct is not valid:
 * initialise it with sim_fifo_init. Pointers to elements stay valid until
 * the next push, reserve or pop.
 */
typedef struct {
    uint8_t **map;        /* ring of block pointers, capacity a power of two */
    size_t mcap, mhead;   /* the map's capacity and first block */
    size_t nb;            /* blocks in use */
    size_t head;          /* the first element's index in the first block */
    size_t n;             /* elements */
    uint8_t *spare;       /* an emptied block of 2^max_shift elements, or NULL */
    uint32_t size;        /* bytes per element */
    uint8_t shift;        /* elements per block: 1 << shift */
    uint8_t min_shift, max_shift;
} sim_fifo;

/* An empty FIFO of elements of size bytes, blocks of 2^min_shift up to
 * 2^max_shift elements (asserts size > 0, min_shift <= max_shift <= 24).
 * Allocates nothing. */
void sim_fifo_init(sim_fifo *f, size_t size, unsigned min_shift, unsigned max_shift);

/* Frees every block; the FIFO is empty and may be used again. */
void sim_fifo_free(sim_fifo *f);

static inline size_t sim_fifo_len(const sim_fifo *f) { return f->n; }

/* Element i from the front (i < length, unchecked). O(1). */
static inline void *sim_fifo_at(const sim_fifo *f, size_t i)
{
    size_t j = f->head + i;
    return f->map[(f->mhead + (j >> f->shift)) & (f->mcap - 1)] +
           (j & (((size_t)1 << f->shift) - 1)) * f->size;
}

/* Appends an element and returns its slot (uninitialised), or NULL when out
 * of memory (nothing changed). Amortised O(1). */
void *sim_fifo_push(sim_fifo *f);

/* Drops the first element (asserts one). Amortised O(1). */
void sim_fifo_pop(sim_fifo *f);

/* Makes room for k more elements at the back without adding them, so that
 * pushing them cannot fail. 0, or -1 when out of memory (the elements are
 * unchanged; the room made so far is kept). O(k / block + length of a
 * single block that moves). */
int sim_fifo_reserve_slow(sim_fifo *f, size_t k);

/* Room for elements at the back that the blocks held now have. */
static inline size_t sim_fifo_room(const sim_fifo *f)
{
    return f->nb ? (f->nb << f->shift) - f->head - f->n : 0;
}

static inline int sim_fifo_reserve(sim_fifo *f, size_t k)
{
    return sim_fifo_room(f) >= k ? 0 : sim_fifo_reserve_slow(f, k);
}

/* Appends the k elements at src (copied), or nothing: 0, or -1 when out of
 * memory (as sim_fifo_reserve). O(k) plus the reserve. */
int sim_fifo_push_n_slow(sim_fifo *f, const void *src, size_t k);

static inline int sim_fifo_push_n(sim_fifo *f, const void *src, size_t k)
{
    size_t per = (size_t)1 << f->shift, j = f->head + f->n, off = j & (per - 1);
    if (j < f->nb * per && j + k <= f->nb * per && off + k <= per) { /* in the tail block */
        uint8_t *b = f->map[(f->mhead + (j >> f->shift)) & (f->mcap - 1)];
        memcpy(b + off * f->size, src, k * f->size);
        f->n += k;
        return 0;
    }
    return sim_fifo_push_n_slow(f, src, k);
}

/* Drops the first k elements (asserts k <= length). O(k / block) plus a
 * single block's shrinking. */
void sim_fifo_pop_n(sim_fifo *f, size_t k);

/* Element i (i < length, unchecked) and, in *run, how many elements from it
 * on are contiguous in memory (at least 1: up to its block's end or the
 * FIFO's). O(1). */
static inline void *sim_fifo_run(const sim_fifo *f, size_t i, size_t *run)
{
    size_t per = (size_t)1 << f->shift, off = (f->head + i) & (per - 1);
    size_t in_block = per - off, left = f->n - i;
    *run = in_block < left ? in_block : left;
    return sim_fifo_at(f, i);
}

/* Bytes of memory the FIFO holds: its blocks, the spare and the map. */
size_t sim_fifo_bytes(const sim_fifo *f);

#endif
