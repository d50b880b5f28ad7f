/* Run-level invariants over thousands of small random networks through the host (mq_net), fixed seeds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <gsl/gsl_rng.h>

#include "models/codec.h"
#include "models/metrics.h"
#include "models/net.h"

/*
 * tests/test_property.c checks the engine's invariants on scripted sessions;
 * this checks whole runs as `mqttsim run` makes them: mq_net_new and
 * mq_net_run over the links, the TCP model and the broker. Each scenario
 * draws 1 or 2 publishers (QoS 0 to 2, 5 to 60 Hz, topics t/0 and t/1) and
 * 1 to 3 subscribers (one or two filters each, QoS 0 to 2), MQTT 3.1.1 or
 * 5.0, QoS 2 method A or B, a transport (datagram or stream, per scenario),
 * Bernoulli loss from 0 to 0.3 on each hop, a constant or uniform delay
 * (reordering on some datagram scenarios), the broker's window and queue
 * (unlimited, or 20 and 1000), a retry interval from 50 to 300 ms, and
 * unlimited or 0 to 3 retries, keepalive 60 or 2 s, clean or kept sessions
 * (5.0: expiring at once or after an hour), and on a tenth of the link
 * directions one outage of 20 ms to 3 s. Publishing lasts 0.1 to 0.6 s,
 * draining up to 120 s. Checked for every scenario:
 *   - the run succeeds and no message record outlives it (live count 0,
 *     and the peak is at least one record when anything was published);
 *   - per QoS pair: unique + lost = expected, and lost is the sum of its
 *     causes;
 *   - QoS 0 publications are never duplicated (in-order links);
 *   - QoS 1 and 2 with unlimited retries and queues never lose a pair on
 *     datagram links (reordering links: only the QoS 2 pairs a receiver
 *     took for duplicates, dup_suppressed);
 *   - QoS 2 is never delivered twice on in-order links;
 *   - the wire balances between the ends: datagram, per direction, frames
 *     put on the links = frames delivered + frames lost (nothing is left in
 *     transit after the drain), and per packet type the metrics' counts
 *     and link losses equal what the hooks saw sent and lost; stream, per
 *     direction and packet type, every packet written into a connection
 *     was either handed whole to its reader or reported lost with it.
 */

#define SCENARIOS 10000

typedef struct {
    /* [up][type]: packets put on the wire, of them lost (datagram); stream:
     * written, then handed over or lost with the connection */
    uint64_t sent[2][16], lost[2][16], got[2][16], gone[2][16];
    uint64_t frames[2];
    uint64_t published;
} tally;

static void h_publish(void *ctx, int64_t t, int client, uint64_t id, uint8_t qos)
{
    (void)t, (void)client, (void)id, (void)qos;
    ((tally *)ctx)->published++;
}

static void h_packet(void *ctx, int64_t t, int client, bool up, const mq_packet *p,
                     uint64_t id, bool lost)
{
    (void)t, (void)client, (void)id;
    tally *y = ctx;
    y->sent[up][p->type & 15]++;
    y->lost[up][p->type & 15] += lost;
}

static void h_received(void *ctx, int64_t t, int client, bool up, const mq_packet *p,
                       uint64_t id, bool lost)
{
    (void)t, (void)client, (void)id;
    tally *y = ctx;
    if (lost)
        y->gone[up][p->type & 15]++;
    else
        y->got[up][p->type & 15]++;
}

static void h_frame(void *ctx, int64_t t, int client, bool up, const uint8_t *buf, size_t len,
                    uint64_t zeros, bool lost)
{
    (void)t, (void)client, (void)buf, (void)len, (void)zeros, (void)lost;
    ((tally *)ctx)->frames[up]++;
}

static sim_link_params link_of(gsl_rng *r, bool reorder)
{
    static const double losses[] = {0, 0, 0.05, 0.1, 0.3};
    sim_link_params l = {0};
    double p = losses[gsl_rng_uniform_int(r, 5)];
    l.loss.kind = p > 0 ? SIM_LOSS_BERNOULLI : SIM_LOSS_NONE;
    l.loss.p = p;
    if (gsl_rng_uniform(r) < 0.5) {
        l.delay.kind = SIM_DIST_CONSTANT;
        l.delay.a = 1 + (double)gsl_rng_uniform_int(r, 20);
    } else {
        l.delay.kind = SIM_DIST_UNIFORM;
        l.delay.a = (double)gsl_rng_uniform_int(r, 5);
        l.delay.b = l.delay.a + 1 + (double)gsl_rng_uniform_int(r, 30);
    }
    l.reorder = reorder;
    return l;
}

typedef struct {
    size_t scenarios, stream, reorder, published, delivered, duplicates, lost, causes;
    size_t lossless_checked, outages, stream_gone;
} totals_t;

static totals_t totals;

static void one_run(gsl_rng *r, int k)
{
    static const char *const topics[] = {"t/0", "t/1"};
    static const char *const filters[] = {"t/#", "t/0", "t/1", "+/1"};
    bool stream = gsl_rng_uniform(r) < 0.4;
    bool reorder = !stream && gsl_rng_uniform(r) < 0.2;
    bool unlimited = gsl_rng_uniform(r) < 0.7; /* retries and queues */
    size_t outages = 0;
    mq_net_config net = {
        .seed = (uint64_t)k + 1, .rep = 0,
        .version = gsl_rng_uniform(r) < 0.5 ? MQ_V311 : MQ_V5,
        .duration = SIM_MS(100) + (int64_t)gsl_rng_uniform_int(r, 500) * SIM_MS(1),
        .drain = SIM_S(120),
        .broker = {.role = MQ_ROLE_BROKER,
                   .max_inflight = unlimited && gsl_rng_uniform(r) < 0.5 ? 0 : 20,
                   .max_queued = unlimited ? 0 : 1000,
                   .retry_interval = SIM_MS(50) + (int64_t)gsl_rng_uniform_int(r, 250) * SIM_MS(1),
                   .max_retries = unlimited ? -1 : (int32_t)gsl_rng_uniform_int(r, 4),
                   .qos2_method = gsl_rng_uniform(r) < 0.5 ? MQ_QOS2_A : MQ_QOS2_B},
    };
    size_t npub = 1 + gsl_rng_uniform_int(r, 2), nsub = 1 + gsl_rng_uniform_int(r, 3);
    mq_net_client c[5];
    mq_sub subs[3][2];
    char names[5][24];
    mq_net_window outage[5][2];
    memset(c, 0, sizeof c);
    for (size_t i = 0; i < npub + nsub; i++) {
        bool pub = i < npub;
        snprintf(names[i], sizeof names[i], "%c%zu", pub ? 'p' : 's', i);
        mq_net_client *x = &c[i];
        x->name = names[i];
        x->publisher = pub;
        x->up = link_of(r, reorder);
        x->down = link_of(r, reorder);
        x->retry_interval = net.broker.retry_interval;
        x->max_retries = net.broker.max_retries;
        x->transport = stream ? MQ_TRANSPORT_STREAM : MQ_TRANSPORT_DATAGRAM;
        x->keepalive_s = (uint16_t)(gsl_rng_uniform(r) < 0.5 ? 60 : 2);
        x->clean_start = gsl_rng_uniform(r) < 0.5;
        if (net.version == MQ_V5 && !x->clean_start)
            x->session_expiry_s = (uint32_t)gsl_rng_uniform_int(r, 2) * 3600;
        /* Now and then the link goes down for a while, one direction. */
        for (int d = 0; d < 2; d++)
            if (gsl_rng_uniform(r) < 0.1) {
                outage[i][d] = (mq_net_window){
                    .start = (int64_t)gsl_rng_uniform_int(r, 600) * SIM_MS(1),
                    .len = SIM_MS(20) + (int64_t)gsl_rng_uniform_int(r, 3000) * SIM_MS(1)};
                mq_net_outages o = {.n = 1, .w = &outage[i][d]};
                if (d)
                    x->down_outages = o;
                else
                    x->up_outages = o;
                outages++;
            }
        if (pub) {
            x->topic = topics[i];
            x->qos = (uint8_t)gsl_rng_uniform_int(r, 3);
            x->rate_hz = 5 + (double)gsl_rng_uniform_int(r, 56);
            x->poisson = gsl_rng_uniform(r) < 0.5;
            x->payload_bytes = (uint32_t)gsl_rng_uniform_int(r, 100);
        } else {
            size_t j = i - npub, n = 1 + gsl_rng_uniform_int(r, 2);
            for (size_t f = 0; f < n; f++) {
                const char *flt = filters[gsl_rng_uniform_int(r, 4)];
                /* Overlapping filters of one subscriber: MQTT delivers once
                 * at the higher QoS, not twice; keep them apart here. */
                if (f == 1 && (strcmp(flt, subs[j][0].filter) == 0 || flt[0] == '+' ||
                               subs[j][0].filter[2] == '#' || flt[2] == '#'))
                    break;
                subs[j][f] = (mq_sub){.filter = flt, .len = (uint16_t)strlen(flt),
                                      .qos = (uint8_t)gsl_rng_uniform_int(r, 3)};
                x->n_subs = f + 1;
            }
            x->subs = subs[j];
            x->qos2_method = gsl_rng_uniform(r) < 0.5 ? MQ_QOS2_A : MQ_QOS2_B;
        }
    }
    size_t n = npub + nsub;

    tally y;
    memset(&y, 0, sizeof y);
    mq_net_hooks hooks = {.ctx = &y, .publish = h_publish, .packet = h_packet,
                          .received = h_received, .frame = h_frame};
    mq_metrics *m = mq_metrics_new();
    assert_non_null(m);
    char err[300] = "";
    mq_net *nw = mq_net_new(&net, c, n, m, &hooks, err, sizeof err);
    if (!nw)
        print_error("scenario %d: %s\n", k, err);
    assert_non_null(nw);
    mq_net_stats st;
    int rc = mq_net_run(nw, &st, err, sizeof err);
    if (rc)
        print_error("scenario %d: %s\n", k, err);
    assert_int_equal(rc, 0);
    /* No message record outlives the run. */
    assert_int_equal(mq_net_live_messages(nw), 0);
    mq_net_free(nw);
    assert_int_equal(st.messages, y.published);
    if (y.published)
        assert_true(st.peak_live_messages >= 1);

    for (uint8_t p = 0; p < 3; p++)
        for (uint8_t s = 0; s < 3; s++) {
            mq_group_result g;
            mq_metrics_group(m, p, s, &g);
            if (!g.present)
                continue;
            uint64_t causes = 0;
            for (int i = 0; i < MQ_LOSS__COUNT; i++)
                causes += g.lost_by[i];
            if (g.unique + g.lost != g.expected || causes != g.lost)
                print_error("scenario %d group %u/%u: expected %llu unique %llu lost %llu "
                            "causes %llu\n", k, p, s, (unsigned long long)g.expected,
                            (unsigned long long)g.unique, (unsigned long long)g.lost,
                            (unsigned long long)causes);
            assert_int_equal(g.unique + g.lost, g.expected);
            assert_int_equal(causes, g.lost);
            if (p == 0 && !reorder)
                assert_int_equal(g.duplicates, 0);
            if (p == 2 && s == 2 && !reorder)
                assert_int_equal(g.duplicates, 0);
            if (!stream && unlimited && p >= 1 && s >= 1) {
                uint64_t allowed = reorder ? g.lost_by[MQ_LOSS_SUPPRESSED] : 0;
                if (g.lost != allowed) {
                    for (int i = 0; i < MQ_LOSS__COUNT; i++)
                        if (g.lost_by[i])
                            print_error("scenario %d group %u/%u: %llu lost to %s\n", k, p, s,
                                        (unsigned long long)g.lost_by[i],
                                        mq_loss_cause_name(i));
                }
                assert_int_equal(g.lost, allowed);
                totals.lossless_checked++;
            }
            totals.delivered += g.unique;
            totals.duplicates += g.duplicates;
            totals.lost += g.lost;
            totals.causes += causes;
        }

    /* The wire balances between the ends. */
    for (int up = 0; up < 2; up++) {
        const sim_link_stats *ls = up ? &st.up : &st.down;
        uint64_t sent = 0, lost = 0;
        for (int t = 0; t < 16; t++) {
            sent += y.sent[up][t];
            lost += y.lost[up][t];
            if (stream)
                assert_int_equal(y.sent[up][t], y.got[up][t] + y.gone[up][t]);
        }
        if (!stream) {
            assert_int_equal(y.frames[up], sent);
            assert_int_equal(ls->frames_sent, sent);
            assert_int_equal(ls->frames_lost, lost);
            assert_int_equal(ls->frames_delivered + ls->frames_lost, ls->frames_sent);
        }
    }
    if (!stream) {
        uint64_t link_lost = 0;
        for (int t = 0; t < 16; t++) {
            assert_int_equal(mq_metrics_wire_by_type(m, (uint8_t)t)->packets,
                             y.sent[0][t] + y.sent[1][t]);
            link_lost += y.lost[0][t] + y.lost[1][t];
        }
        assert_int_equal(mq_metrics_link_losses(m), link_lost);
    }
    mq_metrics_free(m);
    totals.scenarios++;
    totals.stream += stream;
    totals.reorder += reorder;
    totals.outages += outages;
    for (int t = 0; t < 16; t++)
        totals.stream_gone += y.gone[0][t] + y.gone[1][t];
    totals.published += y.published;
}

static void random_runs_keep_the_invariants(void **state)
{
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    assert_non_null(r);
    gsl_rng_set(r, 20261202);
    for (int k = 0; k < SCENARIOS; k++)
        one_run(r, k);
    gsl_rng_free(r);
    printf("    %zu runs (%zu over streams, %zu over reordering links, %zu outages): %zu "
           "messages published, %zu pairs delivered, %zu duplicates, %zu lost (%zu QoS>=1 "
           "groups checked lossless), %zu stream packets lost with their connection\n",
           totals.scenarios, totals.stream, totals.reorder, totals.outages, totals.published,
           totals.delivered, totals.duplicates, totals.lost, totals.lossless_checked,
           totals.stream_gone);
    /* The scenarios must have exercised what they check. */
    assert_true(totals.lost > 100 && totals.duplicates > 100 && totals.lossless_checked > 500 &&
                totals.stream_gone > 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_runs_keep_the_invariants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
