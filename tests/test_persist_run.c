/* Broker restarts with and without persistence in whole runs through mq_net: exact losses, and QoS 2 exactly once when every change is saved. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "models/metrics.h"
#include "models/net.h"

/*
 * Two pairs over streams with kept sessions (3.1.1 CleanSession 0, or 5.0
 * with an expiry longer than the run): publisher p0 at QoS 2 on t/0 to s0
 * subscribed at QoS 2, and p1 at QoS 1 on t/1 to s1 at QoS 1. Links are in
 * order with a constant one-way delay of 10 ms unless a test says
 * otherwise. The publish hook records when each message was published.
 */

#define D SIM_MS(10)

typedef struct {
    int64_t t[4096];
    int client[4096];
    size_t n;
    uint64_t restart_drops; /* drop reports broker_restart, at the broker */
} record;

typedef struct {
    mq_net_config net;
    mq_net_client c[4];
    mq_sub sub[2];
    mq_net_window restarts[4];
    mq_metrics *m;
    mq_net_stats st;
    record rec;
} world;

static sim_link_params plain_link(void)
{
    sim_link_params l = {0};
    l.delay.kind = SIM_DIST_CONSTANT;
    l.delay.a = 10;
    return l;
}

static void world_init(world *w, double rate_hz, int64_t duration)
{
    static const char *const names[4] = {"p0", "s0", "p1", "s1"};
    static const char *const topics[2] = {"t/0", "t/1"};
    memset(w, 0, sizeof *w);
    w->net = (mq_net_config){
        .seed = 5, .version = MQ_V311, .duration = duration, .drain = SIM_S(300),
        .broker = {.role = MQ_ROLE_BROKER, .retry_interval = SIM_MS(200), .max_retries = -1,
                   .qos2_method = MQ_QOS2_A},
        .restarts = w->restarts,
    };
    for (int i = 0; i < 2; i++) {
        uint8_t q = (uint8_t)(2 - i);
        w->sub[i] = (mq_sub){.filter = topics[i], .len = 3, .qos = q};
        for (int k = 0; k < 2; k++) {
            mq_net_client *c = &w->c[2 * i + k];
            *c = (mq_net_client){
                .name = names[2 * i + k], .publisher = k == 0, .up = plain_link(),
                .down = plain_link(), .retry_interval = SIM_MS(200), .max_retries = -1,
                .transport = MQ_TRANSPORT_STREAM, .keepalive_s = 2, .clean_start = false,
                .reconnect_initial = SIM_MS(500), .reconnect_max = SIM_S(2),
                .qos2_method = MQ_QOS2_A,
            };
            if (k == 0) {
                c->topic = topics[i];
                c->qos = q;
                c->rate_hz = rate_hz;
                c->payload_bytes = 32;
            } else {
                c->subs = &w->sub[i];
                c->n_subs = 1;
            }
        }
    }
}

static void on_publish(void *ctx, int64_t t, int client, uint64_t msg_id, uint8_t qos)
{
    record *r = ctx;
    (void)msg_id;
    (void)qos;
    assert_true(r->n < 4096);
    r->t[r->n] = t;
    r->client[r->n++] = client;
}

static void on_drop(void *ctx, int64_t t, int client, bool broker_side, uint64_t msg_id,
                    mq_drop_reason why)
{
    record *r = ctx;
    (void)t;
    (void)client;
    (void)msg_id;
    if (broker_side && why == MQ_DROP_BROKER_RESTART)
        r->restart_drops++;
}

static void world_run(world *w)
{
    char err[300] = "";
    w->m = mq_metrics_new();
    assert_non_null(w->m);
    mq_net_hooks hooks = {.ctx = &w->rec, .publish = on_publish, .drop = on_drop};
    mq_net *net = mq_net_new(&w->net, w->c, 4, w->m, &hooks, err, sizeof err);
    if (!net)
        fprintf(stderr, "mq_net_new: %s\n", err);
    assert_non_null(net);
    int rc = mq_net_run(net, &w->st, err, sizeof err);
    if (rc)
        fprintf(stderr, "run failed: %s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(mq_net_live_messages(net), 0); /* the saved image released too */
    mq_net_free(net);
}

/* Pair i's group; lost is the sum of its causes, always. */
static mq_group_result pair_result(world *w, int i)
{
    mq_group_result g;
    uint8_t q = w->c[2 * i].qos;
    mq_metrics_group(w->m, q, q, &g);
    assert_true(g.present);
    uint64_t sum = 0;
    for (int c = 0; c < MQ_LOSS__COUNT; c++)
        sum += g.lost_by[c];
    assert_int_equal(sum, g.lost);
    return g;
}

/* Publisher `client`'s messages published at t with t + off >= lo. */
static uint64_t published_from(const record *r, int client, int64_t off, int64_t lo)
{
    uint64_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        n += r->client[i] == client && r->t[i] + off >= lo;
    return n;
}

/*
 * Both subscribers' links go dark at 3 s (both ways) until 12 s; publishing
 * (10 Hz each) stops at 5 s; the broker restarts at 8 s for 1 s. Every
 * message whose PUBLISH left the broker for a subscriber (10 ms after it
 * was published) at or after 3 s was never delivered: first in flight on
 * the dead connection, then (the broker's keepalive closing it at about
 * 3 s + 1.5 x 2 s) queued in the kept session, which is what the restart
 * takes. Without persistence, QoS 1 and QoS 2 lose exactly those messages,
 * every one charged to broker_restart, each reported dropped once at the
 * broker; nothing is duplicated. With persistence and every change saved,
 * the same messages are all delivered once the links heal, and QoS 2 does
 * not duplicate.
 */
static void offline_subscriber_at_restart(bool persistence)
{
    world w;
    world_init(&w, 10, SIM_S(5));
    static const mq_net_window dark[1] = {{SIM_S(3), SIM_S(9)}};
    for (int i = 1; i < 4; i += 2)
        w.c[i].up_outages = w.c[i].down_outages = (mq_net_outages){.n = 1, .w = dark};
    w.restarts[0] = (mq_net_window){SIM_S(8), SIM_S(1)};
    w.net.n_restarts = 1;
    w.net.persistence = persistence;
    w.net.autosave_interval = 0;
    world_run(&w);
    uint64_t total_queued = 0;
    for (int i = 0; i < 2; i++) {
        mq_group_result g = pair_result(&w, i);
        uint64_t queued = published_from(&w.rec, 2 * i, D, SIM_S(3));
        total_queued += queued;
        printf("    QoS %u: %llu published, %llu after the outage began, lost %llu "
               "(broker_restart %llu), duplicates %llu\n",
               w.c[2 * i].qos, (unsigned long long)g.published, (unsigned long long)queued,
               (unsigned long long)g.lost,
               (unsigned long long)g.lost_by[MQ_LOSS_OF_DROP(MQ_DROP_BROKER_RESTART)],
               (unsigned long long)g.duplicates);
        assert_true(queued > 10 && queued < g.published);
        if (!persistence) {
            assert_int_equal(g.lost, queued);
            assert_int_equal(g.lost_by[MQ_LOSS_OF_DROP(MQ_DROP_BROKER_RESTART)], queued);
        } else {
            assert_int_equal(g.lost, 0);
        }
        if (g.qos == 2)
            assert_int_equal(g.duplicates, 0);
    }
    assert_int_equal(w.st.broker_restarts, 1);
    assert_int_equal(w.rec.restart_drops, persistence ? 0 : total_queued);
    mq_metrics_free(w.m);
}

/*
 * The same world saved every 4 s (saves at 4 s and, after the restart's
 * end at 9 s, at 13 s): the save at 4 s holds, in the subscribers' kept
 * sessions, every message the broker had taken by then; those it took
 * after (published from 4 s - 10 ms on) are lost at the restart, charged to
 * broker_restart; the others are delivered once the links heal, once each
 * (none had been delivered before, so none comes twice).
 */
static void saves_offline_subscriber_loses_what_came_after_the_save(void **state)
{
    (void)state;
    world w;
    world_init(&w, 10, SIM_S(5));
    static const mq_net_window dark[1] = {{SIM_S(3), SIM_S(9)}};
    for (int i = 1; i < 4; i += 2)
        w.c[i].up_outages = w.c[i].down_outages = (mq_net_outages){.n = 1, .w = dark};
    w.restarts[0] = (mq_net_window){SIM_S(8), SIM_S(1)};
    w.net.n_restarts = 1;
    w.net.persistence = true;
    w.net.autosave_interval = SIM_S(4);
    world_run(&w);
    for (int i = 0; i < 2; i++) {
        mq_group_result g = pair_result(&w, i);
        uint64_t after = published_from(&w.rec, 2 * i, D, SIM_S(4));
        uint64_t queued = published_from(&w.rec, 2 * i, D, SIM_S(3));
        printf("    QoS %u: %llu held for the subscriber, %llu of them after the save; lost %llu "
               "(broker_restart %llu), duplicates %llu\n",
               w.c[2 * i].qos, (unsigned long long)queued, (unsigned long long)after,
               (unsigned long long)g.lost,
               (unsigned long long)g.lost_by[MQ_LOSS_OF_DROP(MQ_DROP_BROKER_RESTART)],
               (unsigned long long)g.duplicates);
        assert_true(after > 5 && after < queued);
        assert_int_equal(g.lost, after);
        assert_int_equal(g.lost_by[MQ_LOSS_OF_DROP(MQ_DROP_BROKER_RESTART)], after);
        assert_int_equal(g.duplicates, 0);
    }
    assert_int_equal(w.rec.restart_drops, published_from(&w.rec, 0, D, SIM_S(4)) +
                                              published_from(&w.rec, 2, D, SIM_S(4)));
    mq_metrics_free(w.m);
}

static void no_persistence_offline_subscriber_loses_exactly_the_queue(void **state)
{
    (void)state;
    offline_subscriber_at_restart(false);
}

static void every_change_offline_subscriber_loses_nothing(void **state)
{
    (void)state;
    offline_subscriber_at_restart(true);
}

/*
 * Random small runs (fixed seed) with one to three broker restarts while
 * publishing (down 0 to 2 s each), persistence on and every change saved:
 * MQTT 3.1.1 or 5.0, either QoS 2 method at the broker and the subscribers,
 * random loss on every link (0 to 3%), keepalive 1 to 4 s, periodic or
 * Poisson publishing at 5 to 30 Hz for 2 to 6 s, and a drain of 300 s. QoS
 * 2 never loses and never duplicates, QoS 1 never loses, every run's
 * accounting holds (a lost pair without a cause fails the run), and no
 * message outlives it.
 */
#define SCENARIOS 200

static void every_change_random_restarts_qos2_exactly_once(void **state)
{
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    assert_non_null(r);
    gsl_rng_set(r, 20261202);
    uint64_t restarts = 0, published = 0, dup1 = 0;
    for (int k = 0; k < SCENARIOS; k++) {
        world w;
        int64_t duration = SIM_S(2) + (int64_t)gsl_rng_uniform_int(r, 5) * SIM_S(1);
        world_init(&w, 5 + 25 * gsl_rng_uniform(r), duration);
        w.net.seed = (uint64_t)k + 1;
        bool v5 = gsl_rng_uniform(r) < 0.5;
        w.net.version = v5 ? MQ_V5 : MQ_V311;
        w.net.broker.qos2_method = gsl_rng_uniform(r) < 0.5 ? MQ_QOS2_A : MQ_QOS2_B;
        w.net.persistence = true;
        w.net.autosave_interval = 0;
        double p = 0.03 * gsl_rng_uniform(r);
        bool poisson = gsl_rng_uniform(r) < 0.5;
        for (int i = 0; i < 4; i++) {
            mq_net_client *c = &w.c[i];
            if (p > 0) {
                c->up.loss.kind = c->down.loss.kind = SIM_LOSS_BERNOULLI;
                c->up.loss.p = c->down.loss.p = p;
            }
            c->keepalive_s = (uint16_t)(1 + gsl_rng_uniform_int(r, 4));
            c->session_expiry_s = v5 ? 100000 : 0;
            c->qos2_method = gsl_rng_uniform(r) < 0.5 ? MQ_QOS2_A : MQ_QOS2_B;
            c->poisson = poisson;
        }
        int n = 1 + (int)gsl_rng_uniform_int(r, 3);
        int64_t t = SIM_MS(200);
        for (int i = 0; i < n; i++) {
            t += (int64_t)(gsl_rng_uniform(r) * (double)duration / n);
            int64_t down = (int64_t)(gsl_rng_uniform(r) * 2e9);
            w.restarts[i] = (mq_net_window){t, down};
            t += down + SIM_MS(1);
        }
        w.net.n_restarts = (size_t)n;
        world_run(&w);
        mq_group_result g2 = pair_result(&w, 0), g1 = pair_result(&w, 1);
        if (g2.lost || g2.duplicates || g1.lost)
            fail_msg("scenario %d: QoS 2 lost %llu duplicated %llu, QoS 1 lost %llu", k,
                     (unsigned long long)g2.lost, (unsigned long long)g2.duplicates,
                     (unsigned long long)g1.lost);
        assert_true(g2.unique == g2.expected && g1.unique == g1.expected);
        restarts += w.st.broker_restarts;
        published += g2.published + g1.published;
        dup1 += g1.duplicates;
        mq_metrics_free(w.m);
    }
    gsl_rng_free(r);
    printf("    %d runs: %llu restarts, %llu messages, %llu QoS 1 duplicates, no QoS 2 loss or "
           "duplicate\n",
           SCENARIOS, (unsigned long long)restarts, (unsigned long long)published,
           (unsigned long long)dup1);
    assert_true(restarts >= SCENARIOS && dup1 > 0);
}

/*
 * The same worlds with saves every 0.3 to 3 s and restarts between them:
 * QoS 1 and 2 now lose what the broker took after the last save and
 * duplicate what was acknowledged since (broker.h), and stale identifiers
 * (held at the save, released since) make some new QoS 2 PUBLISHes look
 * like duplicates (charged to broker_restart too: on a stream nothing else
 * brings a stale identifier but a crash). Whatever happens, every lost pair has
 * exactly one cause (lost is the sum of its causes; a pair without one
 * fails the run) and no message outlives the run, saved image included.
 * And the scenarios do reach the losses and duplicates persistence brings.
 */
static void saves_random_restarts_every_loss_has_a_cause(void **state)
{
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    assert_non_null(r);
    gsl_rng_set(r, 20261203);
    uint64_t lost[3] = {0}, dups[3] = {0}, causes[MQ_LOSS__COUNT] = {0};
    for (int k = 0; k < SCENARIOS; k++) {
        world w;
        int64_t duration = SIM_S(2) + (int64_t)gsl_rng_uniform_int(r, 5) * SIM_S(1);
        world_init(&w, 5 + 25 * gsl_rng_uniform(r), duration);
        w.net.seed = (uint64_t)k + 1;
        bool v5 = gsl_rng_uniform(r) < 0.5;
        w.net.version = v5 ? MQ_V5 : MQ_V311;
        w.net.broker.qos2_method = gsl_rng_uniform(r) < 0.5 ? MQ_QOS2_A : MQ_QOS2_B;
        w.net.persistence = true;
        w.net.autosave_interval = SIM_MS(300) + (int64_t)(gsl_rng_uniform(r) * 2.7e9);
        double p = 0.03 * gsl_rng_uniform(r);
        for (int i = 0; i < 4; i++) {
            mq_net_client *c = &w.c[i];
            if (p > 0) {
                c->up.loss.kind = c->down.loss.kind = SIM_LOSS_BERNOULLI;
                c->up.loss.p = c->down.loss.p = p;
            }
            c->keepalive_s = (uint16_t)(1 + gsl_rng_uniform_int(r, 4));
            c->session_expiry_s = v5 ? 100000 : 0;
            c->qos2_method = gsl_rng_uniform(r) < 0.5 ? MQ_QOS2_A : MQ_QOS2_B;
        }
        int n = 1 + (int)gsl_rng_uniform_int(r, 3);
        int64_t t = SIM_MS(200);
        for (int i = 0; i < n; i++) {
            t += (int64_t)(gsl_rng_uniform(r) * (double)duration / n);
            int64_t down = (int64_t)(gsl_rng_uniform(r) * 2e9);
            w.restarts[i] = (mq_net_window){t, down};
            t += down + SIM_MS(1);
        }
        w.net.n_restarts = (size_t)n;
        world_run(&w);
        for (int i = 0; i < 2; i++) {
            mq_group_result g = pair_result(&w, i);
            lost[g.qos] += g.lost;
            dups[g.qos] += g.duplicates;
            for (int c = 0; c < MQ_LOSS__COUNT; c++)
                causes[c] += g.lost_by[c];
        }
        mq_metrics_free(w.m);
    }
    gsl_rng_free(r);
    printf("    %d runs: QoS 1 lost %llu duplicated %llu, QoS 2 lost %llu duplicated %llu; lost "
           "by cause:",
           SCENARIOS, (unsigned long long)lost[1], (unsigned long long)dups[1],
           (unsigned long long)lost[2], (unsigned long long)dups[2]);
    for (int c = 0; c < MQ_LOSS__COUNT; c++)
        if (causes[c])
            printf(" %s %llu", mq_loss_cause_name(c), (unsigned long long)causes[c]);
    printf("\n");
    assert_true(lost[1] > 0 && lost[2] > 0 && dups[1] > 0 && dups[2] > 0);
}

/* Without restarts persistence changes nothing: the same run with it on
 * (saved every 1 s, or on every change) and off gives the same figures,
 * the same number of events and the same end. */
static void persistence_without_restarts_changes_nothing(void **state)
{
    (void)state;
    mq_group_result g[3][2];
    mq_net_stats st[3];
    for (int k = 0; k < 3; k++) {
        world w;
        world_init(&w, 20, SIM_S(4));
        for (int i = 0; i < 4; i++) {
            w.c[i].up.loss.kind = w.c[i].down.loss.kind = SIM_LOSS_BERNOULLI;
            w.c[i].up.loss.p = w.c[i].down.loss.p = 0.02;
        }
        w.net.persistence = k > 0;
        w.net.autosave_interval = k == 1 ? SIM_S(1) : 0;
        world_run(&w);
        for (int i = 0; i < 2; i++)
            g[k][i] = pair_result(&w, i);
        st[k] = w.st;
        mq_metrics_free(w.m);
    }
    for (int k = 1; k < 3; k++) {
        for (int i = 0; i < 2; i++) {
            assert_int_equal(g[k][i].unique, g[0][i].unique);
            assert_int_equal(g[k][i].duplicates, g[0][i].duplicates);
            assert_int_equal(g[k][i].lost, g[0][i].lost);
            assert_true(g[k][i].lat_max == g[0][i].lat_max);
        }
        assert_int_equal(st[k].events, st[0].events);
        assert_int_equal(st[k].t_last, st[0].t_last);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_persistence_offline_subscriber_loses_exactly_the_queue),
        cmocka_unit_test(every_change_offline_subscriber_loses_nothing),
        cmocka_unit_test(saves_offline_subscriber_loses_what_came_after_the_save),
        cmocka_unit_test(every_change_random_restarts_qos2_exactly_once),
        cmocka_unit_test(saves_random_restarts_every_loss_has_a_cause),
        cmocka_unit_test(persistence_without_restarts_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
