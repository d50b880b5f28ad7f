/* Block pool tests: reuse, sizes, and giving every kept block back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "models/pool.h"

/* A block put back is the next one got (last in, first out); a new one is
 * made only when none is kept, and each is usable for its whole size. */
static void blocks_are_reused(void **state)
{
    (void)state;
    mq_pool p;
    mq_pool_init(&p, 100);
    void *a = mq_pool_get(&p), *b = mq_pool_get(&p);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    memset(a, 0xab, 100);
    memset(b, 0xcd, 100);
    mq_pool_put(&p, a);
    mq_pool_put(&p, b);
    assert_ptr_equal(mq_pool_get(&p), b);
    assert_ptr_equal(mq_pool_get(&p), a);
    assert_null(p.free);
    void *c = mq_pool_get(&p); /* none kept: a new one */
    assert_non_null(c);
    assert_ptr_not_equal(c, a);
    assert_ptr_not_equal(c, b);
    mq_pool_put(&p, a);
    mq_pool_put(&p, b);
    mq_pool_put(&p, c);
    mq_pool_clear(&p); /* under the sanitizers: no leak, no double free */
    assert_null(p.free);
}

/* A block smaller than the free list's link is made big enough for it. */
static void tiny_blocks_hold_the_link(void **state)
{
    (void)state;
    mq_pool p;
    mq_pool_init(&p, 1);
    assert_true(p.size >= sizeof(void *));
    void *a = mq_pool_get(&p);
    assert_non_null(a);
    mq_pool_put(&p, a);
    mq_pool_clear(&p);
}

/* After a burst, the pool keeps MQ_POOL_KEEP blocks and gives the rest
 * back to malloc (under the sanitizers: freed once, not leaked). */
static void a_burst_is_given_back(void **state)
{
    (void)state;
    mq_pool p;
    mq_pool_init(&p, 48);
    enum { BURST = 3 * MQ_POOL_KEEP };
    void *b[BURST];
    for (int i = 0; i < BURST; i++) {
        b[i] = mq_pool_get(&p);
        assert_non_null(b[i]);
    }
    assert_int_equal(p.n_free, 0);
    for (int i = 0; i < BURST; i++)
        mq_pool_put(&p, b[i]);
    assert_int_equal(p.n_free, MQ_POOL_KEEP);
    size_t kept = 0;
    for (mq_pool_block *x = p.free; x; x = *(mq_pool_block **)x)
        kept++;
    assert_int_equal(kept, MQ_POOL_KEEP);
    /* The kept ones are reused first; then new ones come from malloc. */
    void *c[MQ_POOL_KEEP + 1];
    for (int i = 0; i <= MQ_POOL_KEEP; i++)
        assert_non_null(c[i] = mq_pool_get(&p));
    assert_int_equal(p.n_free, 0);
    assert_null(p.free);
    for (int i = 0; i <= MQ_POOL_KEEP; i++)
        mq_pool_put(&p, c[i]);
    mq_pool_clear(&p);
    assert_int_equal(p.n_free, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blocks_are_reused),
        cmocka_unit_test(tiny_blocks_hold_the_link),
        cmocka_unit_test(a_burst_is_given_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
