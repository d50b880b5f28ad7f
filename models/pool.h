/* A pool of fixed-size blocks: what a host allocates and frees once per packet, kept for reuse. */
#ifndef MQ_POOL_H
#define MQ_POOL_H

#include <stddef.h>
#include <stdint.h>

/*
 * A free list of blocks of one size. mq_pool_get returns a block freed
 * before if there is one, else a new one from malloc; mq_pool_put keeps a
 * block for reuse, up to MQ_POOL_KEEP of them, and gives the others back to
 * malloc (so that a burst's blocks do not stay the pool's for good: malloc
 * can hand them to whatever needs memory next). mq_pool_clear gives every
 * kept block back. What the blocks hold is the caller's: a block comes back
 * uninitialised.
 */
#define MQ_POOL_KEEP 256 /* blocks a pool keeps for reuse, at most */
typedef struct mq_pool_block mq_pool_block;

typedef struct {
    mq_pool_block *free;  /* blocks kept for reuse */
    uint32_t size;        /* bytes per block (at least a pointer's) */
    uint32_t n_free;      /* ... how many (at most MQ_POOL_KEEP) */
} mq_pool;                /* 16 bytes: every session holds two */

/* An empty pool of blocks of size bytes (asserts size < 4 GiB). */
void mq_pool_init(mq_pool *p, size_t size);

/* A block, or NULL when out of memory. O(1). */
void *mq_pool_get(mq_pool *p);

/* Keeps block b (from mq_pool_get of this pool) for reuse, or frees it when
 * MQ_POOL_KEEP are kept. O(1). */
void mq_pool_put(mq_pool *p, void *b);

/* Frees every block kept; blocks still in use stay the caller's to put. */
void mq_pool_clear(mq_pool *p);

#endif
