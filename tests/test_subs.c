/* Tests of the subscription index: matching against mq_topic_match, QoS replace, removal, order, re-entrancy. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "models/subs.h"
#include "models/topic.h"

/* ---- helpers ------------------------------------------------------------ */

#define MAXHIT 4096

typedef struct {
    uint32_t sub[MAXHIT];
    uint8_t qos[MAXHIT];
    int n;
} hits;

static void collect(void *ctx, uint32_t sub, uint8_t qos)
{
    hits *h = ctx;
    assert_true(h->n < MAXHIT);
    h->sub[h->n] = sub;
    h->qos[h->n] = qos;
    h->n++;
}

static int match(mq_subs *x, const char *topic, hits *h)
{
    h->n = 0;
    int rc = mq_subs_match(x, topic, strlen(topic), collect, h);
    assert_int_equal(rc, h->n);
    return rc;
}

static int add(mq_subs *x, uint32_t sub, const char *f, uint8_t qos)
{
    return mq_subs_add(x, sub, f, strlen(f), qos);
}

static bool rm(mq_subs *x, uint32_t sub, const char *f)
{
    return mq_subs_remove(x, sub, f, strlen(f));
}

/* Asserts that topic matches exactly the subscribers subs[0..n) (in this
 * order) at qos[0..n). */
static void expect(mq_subs *x, const char *topic, int n, const uint32_t *subs, const uint8_t *qos)
{
    hits h;
    match(x, topic, &h);
    if (h.n != n)
        fail_msg("\"%s\": %d matches, expected %d", topic, h.n, n);
    for (int i = 0; i < n; i++) {
        if (h.sub[i] != subs[i] || h.qos[i] != qos[i])
            fail_msg("\"%s\" match %d: subscriber %u qos %u, expected %u qos %u", topic, i,
                     h.sub[i], h.qos[i], subs[i], qos[i]);
    }
}

#define EXPECT(x, topic, ...)                                                              \
    do {                                                                                   \
        const uint32_t pairs_[] = {__VA_ARGS__};                                           \
        enum { N_ = sizeof pairs_ / sizeof pairs_[0] / 2 };                                \
        uint32_t s_[N_ + 1];                                                               \
        uint8_t q_[N_ + 1];                                                                \
        for (int i_ = 0; i_ < N_; i_++) {                                                  \
            s_[i_] = pairs_[2 * i_];                                                       \
            q_[i_] = (uint8_t)pairs_[2 * i_ + 1];                                          \
        }                                                                                  \
        expect(x, topic, N_, s_, q_);                                                      \
    } while (0)

static void expect_none(mq_subs *x, const char *topic)
{
    hits h;
    if (match(x, topic, &h) != 0)
        fail_msg("\"%s\": %d matches, expected none", topic, h.n);
}

/* ---- exact cases -------------------------------------------------------- */

/* Exact and wildcard filters together; one callback per subscriber, in
 * subscriber order, at the highest QoS among its matching filters. */
static void exact_and_wildcard_once_per_subscriber(void **state)
{
    (void)state;
    mq_subs *x = mq_subs_new();
    assert_non_null(x);
    assert_int_equal(add(x, 7, "sport/tennis/player1", 0), 0);
    assert_int_equal(add(x, 3, "sport/#", 2), 0);
    assert_int_equal(add(x, 3, "sport/tennis/player1", 0), 0); /* overlaps: 2 wins */
    assert_int_equal(add(x, 5, "sport/tennis/+", 1), 0);
    assert_int_equal(add(x, 1, "sport/+", 2), 0);
    assert_int_equal(add(x, 9, "#", 0), 0);
    assert_int_equal(add(x, 9, "+/+/player1", 1), 0);
    assert_int_equal(mq_subs_count(x), 7);
    assert_int_equal(mq_subs_subscribers(x), 5);
    EXPECT(x, "sport/tennis/player1", 3, 2, 5, 1, 7, 0, 9, 1);
    EXPECT(x, "sport", 3, 2, 9, 0);          /* '#' takes its parent level */
    EXPECT(x, "sport/", 1, 2, 3, 2, 9, 0);   /* '+' takes an empty level */
    EXPECT(x, "sport/tennis", 1, 2, 3, 2, 9, 0);
    EXPECT(x, "other", 9, 0);
    EXPECT(x, "sport/tennis/player2", 3, 2, 5, 1, 9, 0);
    mq_subs_free(x);
}

/* Subscribers joining out of order, with ids far apart, still come out in
 * increasing order. */
static void order_is_subscriber_order(void **state)
{
    (void)state;
    mq_subs *x = mq_subs_new();
    static const uint32_t ids[] = {4000000000u, 17, 0, 123456789, 18, 2, 999};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        assert_int_equal(add(x, ids[i], "t", (uint8_t)(i % 3)), 0);
        assert_int_equal(add(x, ids[i], i % 2 ? "+" : "#", 0), 0);
    }
    EXPECT(x, "t", 0, 2, 2, 2, 17, 1, 18, 1, 999, 0, 123456789, 0, 4000000000u, 0);
    EXPECT(x, "u", 0, 0, 2, 0, 17, 0, 18, 0, 999, 0, 123456789, 0, 4000000000u, 0);
    mq_subs_free(x);
}

/* MQTT 3.8.4: an identical filter replaces the QoS (up or down); a filter
 * differing in any byte is another subscription. */
static void same_filter_replaces_qos(void **state)
{
    (void)state;
    mq_subs *x = mq_subs_new();
    assert_int_equal(add(x, 1, "a/+", 2), 0);
    EXPECT(x, "a/x", 1, 2);
    assert_int_equal(add(x, 1, "a/+", 0), 1);
    EXPECT(x, "a/x", 1, 0);
    assert_int_equal(add(x, 1, "a/+", 1), 1);
    EXPECT(x, "a/x", 1, 1);
    assert_int_equal(add(x, 1, "a/b", 2), 0);
    assert_int_equal(add(x, 1, "a/b", 0), 1);
    EXPECT(x, "a/b", 1, 1);
    assert_int_equal(add(x, 1, "a/+/", 2), 0); /* a third filter */
    assert_int_equal(mq_subs_count(x), 3);
    EXPECT(x, "a/x/", 1, 2);
    /* the same filter from another subscriber is its own */
    assert_int_equal(add(x, 2, "a/+", 2), 0);
    EXPECT(x, "a/x", 1, 1, 2, 2);
    assert_int_equal(mq_subs_count(x), 4);
    mq_subs_free(x);
}

/* UNSUBSCRIBE: only the named filter of the named subscriber goes. */
static void remove_one_filter(void **state)
{
    (void)state;
    mq_subs *x = mq_subs_new();
    add(x, 1, "a/b", 1);
    add(x, 1, "a/+", 2);
    add(x, 2, "a/+", 0);
    add(x, 2, "a/#", 1);
    assert_false(rm(x, 1, "a/#"));  /* 2's filter, not 1's */
    assert_false(rm(x, 3, "a/+"));  /* no such subscriber */
    assert_false(rm(x, 1, "a/c"));  /* no such filter */
    assert_false(rm(x, 1, "a/+/c"));
    assert_int_equal(mq_subs_count(x), 4);
    assert_true(rm(x, 1, "a/+"));
    assert_false(rm(x, 1, "a/+"));
    EXPECT(x, "a/b", 1, 1, 2, 1);
    EXPECT(x, "a/c", 2, 1);
    assert_true(rm(x, 2, "a/#"));
    EXPECT(x, "a/c", 2, 0);
    expect_none(x, "a");
    mq_subs_free(x);
}

/* Session end: every filter of one subscriber, and nothing else. Adding and
 * removing the same set again leaves the index at the same size: removed
 * filters leave no nodes behind. */
static void remove_all_and_no_residue(void **state)
{
    (void)state;
    mq_subs *x = mq_subs_new();
    static const char *const fs[] = {"a/b/c", "a/+/c", "a/#", "#", "+/+", "+", "a//b",
                                     "$SYS/#", "/", "x/y/z/+/#"};
    enum { NF = sizeof fs / sizeof *fs };
    size_t size = 0;
    for (int round = 0; round < 3; round++) {
        for (uint32_t s = 0; s < 20; s++)
            for (int i = 0; i < NF; i++)
                if ((s + (uint32_t)i) % 3)
                    assert_int_equal(add(x, s, fs[i], (uint8_t)(s % 3)), 0);
        size_t n = mq_subs_count(x);
        size_t k = 0;
        for (int i = 0; i < NF; i++)
            k += (5 + (uint32_t)i) % 3 != 0;
        assert_int_equal(mq_subs_remove_all(x, 5), k);
        assert_int_equal(mq_subs_remove_all(x, 5), 0);
        assert_int_equal(mq_subs_count(x), n - k);
        hits h;
        match(x, "a/b/c", &h);
        for (int i = 0; i < h.n; i++)
            assert_int_not_equal(h.sub[i], 5);
        assert_true(h.n > 0);
        for (uint32_t s = 0; s < 20; s++)
            mq_subs_remove_all(x, s);
        assert_int_equal(mq_subs_count(x), 0);
        assert_int_equal(mq_subs_subscribers(x), 0);
        expect_none(x, "a/b/c");
        expect_none(x, "a");
        if (round == 0)
            size = mq_subs_bytes(x);
        else
            assert_int_equal(mq_subs_bytes(x), size);
    }
    mq_subs_free(x);
}

/* MQTT 4.7.2: a filter starting with a wildcard does not match a topic
 * starting with '$'; filters naming the '$' level do, wildcards after it
 * included. */
static void dollar_topics(void **state)
{
    (void)state;
    mq_subs *x = mq_subs_new();
    add(x, 0, "#", 2);
    add(x, 1, "+/info", 2);
    add(x, 2, "$SYS/#", 1);
    add(x, 3, "$SYS/+", 2);
    add(x, 4, "$SYS/info", 0);
    add(x, 5, "+", 1);
    add(x, 6, "+/#", 1);
    EXPECT(x, "$SYS/info", 2, 1, 3, 2, 4, 0);
    EXPECT(x, "$SYS", 2, 1);
    expect_none(x, "$");              /* any '$' start stops the wildcards */
    EXPECT(x, "a/$SYS", 0, 2, 6, 1);  /* only the first level counts */
    EXPECT(x, "/$SYS", 0, 2, 6, 1);
    mq_subs_free(x);
}

static void empty_levels(void **state)
{
    (void)state;
    mq_subs *x = mq_subs_new();
    add(x, 0, "a//b", 1);
    add(x, 1, "a/+/b", 1);
    add(x, 2, "/a", 1);
    add(x, 3, "+/a", 1);
    add(x, 4, "a/", 1);
    add(x, 5, "a/+", 1);
    add(x, 6, "a/#", 1);
    add(x, 7, "/", 1);
    add(x, 8, "+/+", 1);
    add(x, 9, "//", 1);
    add(x, 10, "/#", 1);
    EXPECT(x, "a//b", 0, 1, 1, 1, 6, 1);
    EXPECT(x, "/a", 2, 1, 3, 1, 8, 1, 10, 1);
    EXPECT(x, "a/", 4, 1, 5, 1, 6, 1, 8, 1);
    EXPECT(x, "a", 6, 1);
    EXPECT(x, "/", 7, 1, 8, 1, 10, 1);
    EXPECT(x, "//", 9, 1, 10, 1);
    EXPECT(x, "", 10, 1); /* one empty level, then '#' at its parent */
    mq_subs_free(x);
}

/* '#' alone, and '+' at every level of a deep filter. */
static void hash_alone_and_plus_everywhere(void **state)
{
    (void)state;
    mq_subs *x = mq_subs_new();
    add(x, 0, "#", 0);
    add(x, 1, "+/+/+/+/+/+/+/+", 2);
    add(x, 2, "+/b/+/d/+/f/+/h", 1);
    add(x, 3, "a/+/c/+/e/+/g/+", 1);
    add(x, 4, "+/+/+/+/+/+/+/+/#", 1);
    EXPECT(x, "a/b/c/d/e/f/g/h", 0, 0, 1, 2, 2, 1, 3, 1, 4, 1);
    EXPECT(x, "a/b/c/d/e/f/g", 0, 0);
    EXPECT(x, "a/b/c/d/e/f/g/h/i", 0, 0, 4, 1);
    EXPECT(x, "///////", 0, 0, 1, 2, 4, 1);
    EXPECT(x, "x", 0, 0);
    mq_subs_free(x);
}

/* A filter of 32768 levels, and one of 65535 bytes: nothing recursive. */
static void deep_and_long_filters(void **state)
{
    (void)state;
    mq_subs *x = mq_subs_new();
    char *f = malloc(65535);
    assert_non_null(f);
    for (int i = 0; i < 65535; i++)
        f[i] = i % 2 ? '/' : '+';
    assert_int_equal(mq_subs_add(x, 1, f, 65535, 1), 0);
    memset(f, 'a', 65535);
    assert_int_equal(mq_subs_add(x, 2, f, 65535, 2), 0);
    for (int i = 0; i < 65535; i++)
        f[i] = i % 2 ? '/' : 'z';
    hits h = {.n = 0};
    assert_int_equal(mq_subs_match(x, f, 65535, collect, &h), 1);
    assert_int_equal(h.sub[0], 1);
    memset(f, 'a', 65535);
    h.n = 0;
    assert_int_equal(mq_subs_match(x, f, 65535, collect, &h), 1);
    assert_int_equal(h.sub[0], 2);
    for (int i = 0; i < 65535; i++)
        f[i] = i % 2 ? '/' : '+';
    assert_true(mq_subs_remove(x, 1, f, 65535));
    assert_int_equal(mq_subs_count(x), 1);
    free(f);
    mq_subs_free(x);
}

/* ---- re-entrancy -------------------------------------------------------- */

typedef struct {
    mq_subs *x;
    hits outer, inner;
    int calls;
} reent;

/* At the first callback: remove every subscription, add new ones and match
 * again from inside. The outer match still reports the set it found. */
static void meddle(void *ctx, uint32_t sub, uint8_t qos)
{
    reent *r = ctx;
    collect(&r->outer, sub, qos);
    if (r->calls++)
        return;
    for (uint32_t s = 0; s < 50; s++)
        mq_subs_remove_all(r->x, s);
    for (uint32_t s = 100; s < 400; s++)
        assert_int_equal(add(r->x, s, s % 2 ? "t/+" : "t/#", (uint8_t)(s % 3)), 0);
    r->inner.n = 0;
    assert_int_equal(mq_subs_match(r->x, "t/1", 3, collect, &r->inner), 300);
}

static void callbacks_may_change_and_match(void **state)
{
    (void)state;
    reent r = {.x = mq_subs_new()};
    for (uint32_t s = 0; s < 50; s++)
        assert_int_equal(add(r.x, s, "t/1", (uint8_t)(s % 3)), 0);
    assert_int_equal(mq_subs_match(r.x, "t/1", 3, meddle, &r), 50);
    assert_int_equal(r.outer.n, 50);
    for (int i = 0; i < 50; i++) {
        assert_int_equal(r.outer.sub[i], i);
        assert_int_equal(r.outer.qos[i], i % 3);
    }
    assert_int_equal(r.inner.n, 300);
    for (int i = 0; i < 300; i++) {
        assert_int_equal(r.inner.sub[i], 100 + i);
        assert_int_equal(r.inner.qos[i], (100 + i) % 3);
    }
    assert_int_equal(mq_subs_count(r.x), 300);
    mq_subs_free(r.x);
}

/* ---- property test against mq_topic_match ------------------------------- */

/* A brute-force model: the list of (subscriber, filter, QoS) kept with the
 * same replace and remove rules, matched by scanning it. */
#define MF 24

typedef struct {
    uint32_t sub;
    char f[MF];
    uint8_t qos;
    bool live;
} entry;

typedef struct {
    entry *e;
    size_t n, cap;
} model;

static void model_add(model *m, uint32_t sub, const char *f, uint8_t qos)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->e[i].live && m->e[i].sub == sub && strcmp(m->e[i].f, f) == 0) {
            m->e[i].qos = qos;
            return;
        }
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->e = realloc(m->e, m->cap * sizeof *m->e);
        assert_non_null(m->e);
    }
    entry *e = &m->e[m->n++];
    e->sub = sub;
    snprintf(e->f, sizeof e->f, "%s", f);
    e->qos = qos;
    e->live = true;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The expected match: subscribers in increasing order, each at its highest
 * QoS among its matching filters. */
static void model_match(const model *m, const char *t, hits *h)
{
    h->n = 0;
    for (size_t i = 0; i < m->n; i++) {
        const entry *e = &m->e[i];
        if (!e->live || !mq_topic_match(e->f, strlen(e->f), t, strlen(t)))
            continue;
        int j = 0;
        while (j < h->n && h->sub[j] != e->sub)
            j++;
        if (j == h->n) {
            h->sub[h->n] = e->sub;
            h->qos[h->n++] = e->qos;
        } else if (e->qos > h->qos[j]) {
            h->qos[j] = e->qos;
        }
    }
    /* sort by subscriber, carrying QoS: sort keys with QoS packed below */
    uint32_t packed[MAXHIT][2];
    for (int i = 0; i < h->n; i++)
        packed[i][0] = h->sub[i], packed[i][1] = h->qos[i];
    qsort(packed, (size_t)h->n, sizeof packed[0], cmp_u32);
    for (int i = 0; i < h->n; i++)
        h->sub[i] = packed[i][0], h->qos[i] = (uint8_t)packed[i][1];
}

static const char *const LEVELS[] = {"a", "b", "c", "", "$s", "ab"};
enum { NLEVELS = sizeof LEVELS / sizeof *LEVELS };

/* A random filter of 1..5 levels: literal levels (empty ones too), '+',
 * and '#' at the end; never the empty string, which is not a filter. */
static void random_filter(gsl_rng *r, char *out)
{
    int n = 1 + (int)gsl_rng_uniform_int(r, 5);
    out[0] = 0;
    if (n == 1 && gsl_rng_uniform(r) < 0.2) {
        strcat(out, gsl_rng_uniform(r) < 0.5 ? "#" : "+");
        return;
    }
    for (int i = 0; i < n; i++) {
        if (i)
            strcat(out, "/");
        double u = gsl_rng_uniform(r);
        if (i == n - 1 && u < 0.2)
            strcat(out, "#");
        else if (u < 0.45)
            strcat(out, "+");
        else
            strcat(out, LEVELS[gsl_rng_uniform_int(r, NLEVELS)]);
    }
    if (!out[0])
        strcat(out, "a");
}

static void random_topic(gsl_rng *r, char *out)
{
    int n = 1 + (int)gsl_rng_uniform_int(r, 6);
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        if (i)
            strcat(out, "/");
        strcat(out, LEVELS[gsl_rng_uniform_int(r, NLEVELS)]);
    }
}

static void check_topic(mq_subs *x, const model *m, const char *t, long *pairs)
{
    hits want, got;
    model_match(m, t, &want);
    match(x, t, &got);
    if (got.n != want.n)
        fail_msg("\"%s\": index %d matches, scan %d", t, got.n, want.n);
    for (int i = 0; i < want.n; i++)
        if (got.sub[i] != want.sub[i] || got.qos[i] != want.qos[i])
            fail_msg("\"%s\" #%d: index %u@%u, scan %u@%u", t, i, got.sub[i], got.qos[i],
                     want.sub[i], want.qos[i]);
    *pairs += want.n;
}

/* For random filter sets (with random replaces, removals and session ends
 * in between) and random topics, the index's match set, order and QoS equal
 * the brute-force scan's. Fixed seed; subscriber ids are sparse. */
static void property_against_brute_force(void **state)
{
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    assert_non_null(r);
    gsl_rng_set(r, 12);
    long topics = 0, pairs = 0;
    for (int round = 0; round < 300; round++) {
        mq_subs *x = mq_subs_new();
        model m = {0};
        int n_subscribers = 1 + (int)gsl_rng_uniform_int(r, 40);
        int ops = (int)gsl_rng_uniform_int(r, 400);
        for (int op = 0; op < ops; op++) {
            uint32_t sub = (uint32_t)gsl_rng_uniform_int(r, (unsigned long)n_subscribers) * 2654435761u;
            char f[MF];
            random_filter(r, f);
            double u = gsl_rng_uniform(r);
            if (u < 0.8) {
                uint8_t qos = (uint8_t)gsl_rng_uniform_int(r, 3);
                bool had = false;
                for (size_t i = 0; i < m.n; i++)
                    had |= m.e[i].live && m.e[i].sub == sub && !strcmp(m.e[i].f, f);
                assert_int_equal(add(x, sub, f, qos), had ? 1 : 0);
                model_add(&m, sub, f, qos);
            } else if (u < 0.97) {
                /* remove a filter the subscriber may or may not have */
                bool had = false;
                for (size_t i = 0; i < m.n; i++)
                    if (m.e[i].live && m.e[i].sub == sub && !strcmp(m.e[i].f, f))
                        had = true, m.e[i].live = false;
                assert_int_equal(rm(x, sub, f), had);
            } else {
                size_t had = 0;
                for (size_t i = 0; i < m.n; i++)
                    if (m.e[i].live && m.e[i].sub == sub)
                        had++, m.e[i].live = false;
                assert_int_equal(mq_subs_remove_all(x, sub), had);
            }
            if (op % 50 == 49) {
                char t[64];
                random_topic(r, t);
                check_topic(x, &m, t, &pairs);
                topics++;
            }
        }
        size_t live = 0;
        for (size_t i = 0; i < m.n; i++)
            live += m.e[i].live;
        assert_int_equal(mq_subs_count(x), live);
        for (int k = 0; k < 150; k++) {
            char t[64];
            random_topic(r, t);
            check_topic(x, &m, t, &pairs);
            topics++;
        }
        free(m.e);
        mq_subs_free(x);
    }
    gsl_rng_free(r);
    print_message("%ld topics, %ld (subscriber, topic) matches\n", topics, pairs);
    /* Both counts depend only on the seed (every topic agreed with the scan
     * above); fixed so that a change in coverage shows. */
    assert_int_equal(topics, 46088);
    assert_int_equal(pairs, 320436);
}

/* ---- listing a subscriber's filters (for the broker's persistence) ---- */

typedef struct {
    char text[16][64];
    uint8_t qos[16];
    int n;
} listing;

static void list_one(void *ctx, const char *filter, size_t len, uint8_t qos)
{
    listing *l = ctx;
    assert_true(l->n < 16 && len < 64);
    memcpy(l->text[l->n], filter, len);
    l->text[l->n][len] = '\0';
    l->qos[l->n++] = qos;
}

/* Every filter comes back byte for byte with its QoS, exact or wildcard,
 * with empty levels, shared prefixes and another subscriber's beside it;
 * rebuilding an index from the listing routes as the original. */
static void each_lists_filters_exactly(void **state)
{
    (void)state;
    static const char *const f[] = {"a/b", "a/+/c", "a/#", "#", "+", "/", "a//+", "+/+/#",
                                    "$SYS/+", "x"};
    mq_subs *x = mq_subs_new(), *y = mq_subs_new();
    assert_non_null(x);
    assert_non_null(y);
    size_t n = sizeof f / sizeof f[0];
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(mq_subs_add(x, 7, f[i], strlen(f[i]), (uint8_t)(i % 3)), 0);
        assert_int_equal(mq_subs_add(x, 3, f[i], strlen(f[i]), 2), 0);
    }
    listing l = {.n = 0};
    assert_int_equal(mq_subs_each(x, 7, list_one, &l), 0);
    assert_int_equal(l.n, (int)n);
    for (size_t i = 0; i < n; i++) {
        int k = -1;
        for (int j = 0; j < l.n; j++)
            if (strcmp(l.text[j], f[i]) == 0)
                k = j;
        assert_true(k >= 0);
        assert_int_equal(l.qos[k], i % 3);
        assert_int_equal(mq_subs_add(y, 7, l.text[k], strlen(l.text[k]), l.qos[k]), 0);
    }
    static const char *const topics[] = {"a/b", "a/q/c", "a", "", "/", "a//z", "$SYS/x", "x/y"};
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++) {
        hits hx, hy;
        hx.n = hy.n = 0;
        mq_subs_match(x, topics[i], strlen(topics[i]), collect, &hx);
        mq_subs_match(y, topics[i], strlen(topics[i]), collect, &hy);
        assert_int_equal(hy.n, hx.n > 0 && hx.sub[hx.n - 1] == 7 ? 1 : 0);
        if (hy.n)
            assert_int_equal(hy.qos[0], hx.qos[hx.n - 1]);
    }
    l.n = 0;
    assert_int_equal(mq_subs_each(x, 99, list_one, &l), 0);
    assert_int_equal(l.n, 0);
    mq_subs_free(x);
    mq_subs_free(y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_and_wildcard_once_per_subscriber),
        cmocka_unit_test(order_is_subscriber_order),
        cmocka_unit_test(same_filter_replaces_qos),
        cmocka_unit_test(remove_one_filter),
        cmocka_unit_test(remove_all_and_no_residue),
        cmocka_unit_test(dollar_topics),
        cmocka_unit_test(empty_levels),
        cmocka_unit_test(hash_alone_and_plus_everywhere),
        cmocka_unit_test(deep_and_long_filters),
        cmocka_unit_test(callbacks_may_change_and_match),
        cmocka_unit_test(each_lists_filters_exactly),
        cmocka_unit_test(property_against_brute_force),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
