/* Block FIFO tests: order, indexing, growth, and memory that follows the length. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sim/fifo.h"

typedef struct {
    uint64_t a, b, c; /* 24 bytes, as the send buffer's pieces */
} elem;

static void push_val(sim_fifo *f, uint64_t v)
{
    elem *e = sim_fifo_push(f);
    assert_non_null(e);
    *e = (elem){v, ~v, v * 3};
}

static void check_val(const sim_fifo *f, size_t i, uint64_t v)
{
    const elem *e = sim_fifo_at(f, i);
    assert_int_equal(e->a, v);
    assert_int_equal(e->b, ~v);
    assert_int_equal(e->c, v * 3);
}

/* Elements come out in the order they went in, and every index reads the
 * right one, across block growth, several blocks and dropped blocks. */
static void order_and_index(void **state)
{
    (void)state;
    sim_fifo f;
    sim_fifo_init(&f, sizeof(elem), 2, 4); /* blocks of 4 up to 16 */
    assert_int_equal(sim_fifo_bytes(&f), 0);
    uint64_t next_in = 0, next_out = 0;
    /* Waves: push k, pop k/2 ... then drain, several times. */
    for (int round = 0; round < 3; round++) {
        for (int w = 1; w < 40; w++) {
            for (int k = 0; k < w; k++)
                push_val(&f, next_in++);
            for (int k = 0; k < w / 2; k++) {
                check_val(&f, 0, next_out);
                sim_fifo_pop(&f);
                next_out++;
            }
            assert_int_equal(sim_fifo_len(&f), next_in - next_out);
            for (size_t i = 0; i < sim_fifo_len(&f); i++)
                check_val(&f, i, next_out + i);
            /* The last element is writable in place (as a piece is grown). */
            elem *last = sim_fifo_at(&f, sim_fifo_len(&f) - 1);
            assert_int_equal(last->a, next_in - 1);
        }
        while (sim_fifo_len(&f)) {
            check_val(&f, 0, next_out++);
            sim_fifo_pop(&f);
        }
    }
    sim_fifo_free(&f);
    assert_int_equal(sim_fifo_bytes(&f), 0);
    assert_int_equal(sim_fifo_len(&f), 0);
    push_val(&f, 7); /* usable again after free */
    check_val(&f, 0, 7);
    sim_fifo_free(&f);
}

/* The memory held follows the length: after a burst of 100,000 elements
 * drains, the FIFO holds its smallest block (and map) again, not the
 * burst's size; during the burst it holds the elements plus a few blocks. */
static void memory_follows_length(void **state)
{
    (void)state;
    sim_fifo f;
    sim_fifo_init(&f, sizeof(elem), 2, 6); /* 4 up to 64 per block */
    push_val(&f, 0);
    size_t idle = sim_fifo_bytes(&f);
    assert_true(idle <= 4 * sizeof(elem) + 2 * sizeof(void *));
    sim_fifo_pop(&f);
    assert_int_equal(sim_fifo_bytes(&f), idle); /* kept: no malloc per message */
    const size_t N = 100000, blk = 64 * sizeof(elem);
    for (size_t i = 0; i < N; i++)
        push_val(&f, i);
    size_t full = sim_fifo_bytes(&f);
    assert_true(full >= N * sizeof(elem));
    /* Elements, a partly used block at each end, and a map at most 4 times
     * the blocks' count (it halves at a quarter). */
    assert_true(full <= N * sizeof(elem) + 2 * blk + 4 * (N / 64 + 2) * sizeof(void *));
    size_t peak = full;
    for (size_t i = 0; i < N; i++) {
        check_val(&f, 0, i);
        sim_fifo_pop(&f);
        size_t now = sim_fifo_bytes(&f), left = N - 1 - i;
        assert_true(now <= peak);
        /* What is held shrinks with what is left: the elements, at most
         * three blocks (first, last, spare), and the map. */
        assert_true(now <= left * sizeof(elem) + 3 * blk + 4 * (left / 64 + 2) * sizeof(void *) + 64);
    }
    assert_int_equal(sim_fifo_bytes(&f), idle);
    sim_fifo_free(&f); /* under the sanitizers: nothing leaks */
}

/* A FIFO going to and fro across a block boundary keeps its spare block
 * rather than freeing and allocating one each time; a short FIFO does not
 * halve and double at each step either. */
static void no_thrash_at_boundaries(void **state)
{
    (void)state;
    sim_fifo f;
    sim_fifo_init(&f, 8, 1, 3); /* 2 up to 8 per block */
    for (int i = 0; i < 8; i++)
        *(uint64_t *)sim_fifo_push(&f) = (uint64_t)i;
    size_t one = sim_fifo_bytes(&f);
    uint64_t v = 8;
    for (int k = 0; k < 100; k++) {
        *(uint64_t *)sim_fifo_push(&f) = v++;
        sim_fifo_pop(&f);
        assert_true(sim_fifo_bytes(&f) <= one + 8 * 8 + 2 * sizeof(void *));
        assert_int_equal(*(uint64_t *)sim_fifo_at(&f, 0), v - 8);
        assert_int_equal(*(uint64_t *)sim_fifo_at(&f, 7), v - 1);
    }
    sim_fifo_free(&f);
}

/* Elements of any size, including odd ones, keep their bytes. */
static void odd_element_size(void **state)
{
    (void)state;
    sim_fifo f;
    sim_fifo_init(&f, 5, 0, 2); /* one element up to 4 per block */
    for (int i = 0; i < 50; i++)
        memset(sim_fifo_push(&f), i, 5);
    for (int i = 0; i < 50; i++) {
        const uint8_t *p = sim_fifo_at(&f, 0);
        for (int k = 0; k < 5; k++)
            assert_int_equal(p[k], i);
        sim_fifo_pop(&f);
    }
    assert_int_equal(sim_fifo_len(&f), 0);
    sim_fifo_free(&f);
}

/* Bulk pushes and pops of bytes (as the send buffer's stored bytes) against
 * a plain array: the same bytes in the same order, read back in contiguous
 * runs; single pushes and pops mixed in; memory at most the bytes held
 * plus three blocks and the map, and back to one small block when empty. */
static void bulk_bytes_against_an_array(void **state)
{
    (void)state;
    enum { CAP = 1 << 20 };
    uint8_t *ref = malloc(CAP), *chunk = malloc(70000);
    assert_true(ref && chunk);
    size_t lo = 0, hi = 0; /* ref[lo, hi) is what the FIFO holds */
    sim_fifo f;
    sim_fifo_init(&f, 1, 4, 11); /* blocks of 16 bytes up to 2 KiB */
    uint64_t x = 88172645463325252ULL;
    size_t max_len = 0, reads = 0;
    for (int step = 0; step < 20000; step++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t k = (size_t)(x >> 40) % ((x & 1) ? 40 : 6000);
        if (((x >> 8) & 3) != 0 && hi + k < CAP) { /* push k (one at a time now and then) */
            for (size_t i = 0; i < k; i++)
                chunk[i] = (uint8_t)(hi + i) ^ (uint8_t)(x >> 16);
            if ((x >> 12) % 5 == 0) {
                for (size_t i = 0; i < k; i++) {
                    uint8_t *slot = sim_fifo_push(&f);
                    assert_non_null(slot);
                    *slot = chunk[i];
                }
            } else {
                if ((x >> 14) & 1)
                    assert_int_equal(sim_fifo_reserve(&f, k), 0);
                assert_int_equal(sim_fifo_push_n(&f, chunk, k), 0);
            }
            memcpy(ref + hi, chunk, k);
            hi += k;
        } else { /* pop up to k */
            size_t n = k < hi - lo ? k : hi - lo;
            if (n == 1 && ((x >> 20) & 1))
                sim_fifo_pop(&f);
            else
                sim_fifo_pop_n(&f, n);
            lo += n;
        }
        if (hi - lo > max_len)
            max_len = hi - lo;
        assert_int_equal(sim_fifo_len(&f), hi - lo);
        /* Read it all back in runs. */
        for (size_t i = 0; i < hi - lo;) {
            size_t run;
            const uint8_t *p = sim_fifo_run(&f, i, &run);
            assert_true(run >= 1 && run <= hi - lo - i && run <= 2048);
            assert_memory_equal(p, ref + lo + i, run);
            i += run;
            reads++;
        }
        /* the map: at most 4 pointers a block in use (it halves at a quarter) */
        size_t bound = (hi - lo) + 3 * 2048 + 4 * ((hi - lo) / 2048 + 3) * sizeof(void *);
        if (sim_fifo_bytes(&f) > bound)
            fail_msg("%zu bytes held for %zu elements (bound %zu)", sim_fifo_bytes(&f), hi - lo,
                     bound);
        if (hi == CAP - 1 || hi + 6000 >= CAP) { /* start over at the front of ref */
            sim_fifo_pop_n(&f, hi - lo);
            lo = hi = 0;
        }
    }
    sim_fifo_pop_n(&f, hi - lo);
    assert_int_equal(sim_fifo_len(&f), 0);
    assert_true(sim_fifo_bytes(&f) <= 16 + 2 * sizeof(void *)); /* one smallest block */
    assert_true(max_len > 20000 && reads > 100000); /* several blocks were exercised */
    sim_fifo_free(&f);
    assert_int_equal(sim_fifo_bytes(&f), 0);
    free(ref);
    free(chunk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(order_and_index),
        cmocka_unit_test(memory_follows_length),
        cmocka_unit_test(no_thrash_at_boundaries),
        cmocka_unit_test(odd_element_size),
        cmocka_unit_test(bulk_bytes_against_an_array),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
