/* The one step every power-of-two ring shares when it grows: its elements, unwrapped into a new array. */
#ifndef SIM_RING_H
#define SIM_RING_H

#include <stddef.h>
#include <string.h>

/* Copies the n elements of sz bytes that ring src holds (capacity cap, a
 * power of two, or 1 for an element kept inline; the first at index head)
 * into dst from index 0, in order. dst has room for n; n <= cap. O(n). */
static inline void sim_ring_unwrap(void *dst, const void *src, size_t head, size_t n, size_t cap,
                                   size_t sz)
{
    if (n == 0)
        return;
    size_t first = cap - head < n ? cap - head : n; /* up to the array's end */
    memcpy(dst, (const char *)src + head * sz, first * sz);
    memcpy((char *)dst + first * sz, src, (n - first) * sz);
}

#endif
