/* mq_net_client.count: a group entry runs exactly as its members written out one by one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/metrics.h"
#include "models/net.h"
#include "models/topic.h"

/*
 * N publishers "p<i>" on "g/<i>/t" (QoS 1, 10% loss) and N subscribers
 * "s<i>" on "g/<i>/+" plus one on "g/#" for the first: either as 2 + 1
 * entries (two groups of N and one single client) or as 2N + 1 single
 * entries. Every count, the deliveries and the event count must agree.
 */

#define N 7

typedef struct {
    mq_net_stats st;
    mq_group_result g;
    uint64_t deliveries;
    int client[4096];
    uint64_t msg[4096];
    size_t n;
} outcome;

static void on_deliver(void *ctx, int64_t t, int client, uint64_t msg_id, uint8_t qos, bool first)
{
    (void)t, (void)qos, (void)first;
    outcome *o = ctx;
    if (o->n < 4096) {
        o->client[o->n] = client;
        o->msg[o->n++] = msg_id;
    }
    o->deliveries++;
}

static sim_link_params lossy(void)
{
    sim_link_params l = {0};
    l.loss.kind = SIM_LOSS_BERNOULLI;
    l.loss.p = 0.1;
    l.delay.kind = SIM_DIST_CONSTANT;
    l.delay.a = 5;
    return l;
}

static mq_net_client base(const char *name, bool pub)
{
    return (mq_net_client){.name = name, .publisher = pub, .up = lossy(), .down = lossy(),
                           .retry_interval = SIM_MS(100), .max_retries = -1,
                           .keepalive_s = 60, .qos = 1, .rate_hz = 20, .payload_bytes = 20};
}

static void run(bool grouped, outcome *o)
{
    memset(o, 0, sizeof *o);
    static char names[2 * N][16], topics[N][16], filters[N][16];
    mq_net_client c[2 * N + 1];
    mq_sub subs[N], wide = {"g/#", 3, 1}, gsub = {"g/{i}/+", 7, 1};
    size_t n = 0;
    if (grouped) {
        c[n] = base("p{i}", true);
        c[n].count = N;
        c[n++].topic = "g/{i}/t";
        c[n] = base("s{i}", false);
        c[n].count = N;
        c[n].subs = &gsub;
        c[n++].n_subs = 1;
    } else {
        for (int i = 0; i < N; i++) {
            snprintf(names[i], 16, "p%d", i);
            snprintf(topics[i], 16, "g/%d/t", i);
            c[n] = base(names[i], true);
            c[n++].topic = topics[i];
        }
        for (int i = 0; i < N; i++) {
            snprintf(names[N + i], 16, "s%d", i);
            snprintf(filters[i], 16, "g/%d/+", i);
            subs[i] = (mq_sub){filters[i], (uint16_t)strlen(filters[i]), 1};
            c[n] = base(names[N + i], false);
            c[n].subs = &subs[i];
            c[n++].n_subs = 1;
        }
    }
    c[n] = base("all", false);
    c[n].subs = &wide;
    c[n++].n_subs = 1;
    mq_net_config cfg = {.seed = 3, .version = MQ_V311, .duration = SIM_S(2),
                         .drain = SIM_S(30),
                         .broker = {.role = MQ_ROLE_BROKER, .retry_interval = SIM_MS(100),
                                    .max_retries = -1}};
    mq_metrics *m = mq_metrics_new();
    assert_non_null(m);
    mq_net_hooks hooks = {.ctx = o, .deliver = on_deliver};
    char err[256];
    mq_net *net = mq_net_new(&cfg, c, n, m, &hooks, err, sizeof err);
    assert_non_null(net);
    assert_int_equal(mq_net_run(net, &o->st, err, sizeof err), 0);
    mq_metrics_group(m, 1, 1, &o->g);
    mq_net_free(net);
    mq_metrics_free(m);
}

static void test_group_equals_members(void **state)
{
    (void)state;
    outcome *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    run(false, a);
    run(true, b);
    assert_true(a->deliveries > 2 * N); /* every subscriber got something */
    assert_int_equal(a->st.events, b->st.events);
    assert_int_equal(a->st.messages, b->st.messages);
    assert_int_equal(a->st.up.frames_lost, b->st.up.frames_lost);
    assert_int_equal(a->g.unique, b->g.unique);
    assert_int_equal(a->g.expected, b->g.expected);
    assert_int_equal(a->deliveries, b->deliveries);
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->client[i], b->client[i]);
        assert_int_equal(a->msg[i], b->msg[i]);
    }
    free(a);
    free(b);
}

static void test_expand(void **state)
{
    (void)state;
    char buf[32];
    assert_int_equal(mq_topic_expand("a/{i}/{{x}}", 42, buf, sizeof buf), 8);
    assert_string_equal(buf, "a/42/{x}");
    assert_int_equal(mq_topic_expand("a/{j}", 1, buf, sizeof buf), -1);
    assert_int_equal(mq_topic_expand("s{i}", 123456, NULL, 0), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_equals_members),
        cmocka_unit_test(test_expand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
