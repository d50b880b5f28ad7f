/* A pool of fixed-size blocks: a free list in front of malloc. */
#include "models/pool.h"

#include <assert.h>
#include <stdlib.h>

struct mq_pool_block {
    mq_pool_block *next;
};

void mq_pool_init(mq_pool *p, size_t size)
{
    assert(size <= UINT32_MAX);
    p->size = (uint32_t)(size < sizeof(mq_pool_block) ? sizeof(mq_pool_block) : size);
    p->free = NULL;
    p->n_free = 0;
}

void *mq_pool_get(mq_pool *p)
{
    mq_pool_block *b = p->free;
    if (!b)
        return malloc(p->size);
    p->free = b->next;
    p->n_free--;
    return b;
}

void mq_pool_put(mq_pool *p, void *b)
{
    if (p->n_free >= MQ_POOL_KEEP) {
        free(b);
        return;
    }
    mq_pool_block *x = b;
    x->next = p->free;
    p->free = x;
    p->n_free++;
}

void mq_pool_clear(mq_pool *p)
{
    while (p->free) {
        mq_pool_block *b = p->free;
        p->free = b->next;
        free(b);
    }
    p->n_free = 0;
}
