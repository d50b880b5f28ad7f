/* Statistical and exact validation of MQTT over the TCP model: whole runs through mq_net against times and counts derived here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "models/metrics.h"
#include "models/net.h"

/*
 * Each test builds a network of publishers, each with a subscriber of its
 * own ("pair" i: publisher 2i on topic t/i, subscriber 2i+1 on t/i), runs
 * it with a fixed seed and compares what it measured with what the model's
 * rules give. Links are in order with a constant one-way delay D = 10 ms and
 * no bandwidth limit unless a test says otherwise. The hooks record every
 * publish time, every first delivery time, and when the broker decoded each
 * message's first PUBLISH, so that times can be checked to the nanosecond.
 *
 * Times that the derivations use (sim/tcp.h, models/session.h):
 *   - a client opens at t = 0: SYN at 0, SYN-ACK back at 2D (ESTABLISHED:
 *     CONNECT written), CONNECT at the broker at 3D (the handshake's last
 *     ACK rides on it: accepted), CONNACK at the client at 4D (SUBSCRIBE
 *     written), SUBSCRIBE at the broker at 5D, SUBACK at 6D;
 *   - every RTT sample is exactly 2D (the receiver ACKs each segment at
 *     once, before its application answers), so Linux's estimator gives
 *     SRTT = 2D and RTTVAR = rto_min: RTO = 2D + 200 ms = 220 ms;
 *   - a segment lost and alone in flight is resent at RTO, then at 2 RTO,
 *     4 RTO... after the previous transmission (its k-th retransmission at
 *     t + RTO (2^k - 1)); the retransmission carries everything unacked from
 *     snd_una, up to one MSS;
 *   - keepalive K: a client sends PINGREQ when it has sent or received
 *     nothing for K (min(last sent, last received) + K) and closes when the
 *     next such deadline comes without an answer; the broker closes a
 *     connection silent for 1.5 K; a client reconnects after
 *     reconnect_initial (1 s; the ladder restarts at every CONNACK); a SYN
 *     is resent at 1, 3, 7, 15... s after the first (rto_initial 1 s).
 */

#define D_MS 10
#define D SIM_MS(D_MS)
#define RTO (2 * D + SIM_MS(200))
#define MAX_PAIRS 4

/* cmocka 1.1 compares floats only in single precision: compare doubles here. */
static void assert_close(const char *what, double got, double want, double se)
{
    double z = se > 0 ? (got - want) / se : (got == want ? 0 : INFINITY);
    printf("    %-48s measured %.6f  theory %.6f  (z = %+.2f)\n", what, got, want, z);
    assert_true(fabs(z) <= 4.0);
}

typedef struct {
    int64_t *pub_t;          /* publish time of each message (id - 1) */
    int64_t *first_t;        /* first delivery, or -1 */
    int64_t *broker_rx;      /* the broker decoded its first PUBLISH, or -1 */
    int *client_of;          /* publisher of each message */
    size_t cap, n;
} record;

typedef struct {
    mq_net_config net;
    mq_net_client c[2 * MAX_PAIRS];
    mq_sub sub[MAX_PAIRS];
    char topic[MAX_PAIRS][16];
    int pairs;
    mq_metrics *m;
    mq_net_stats st;
    record rec;
} world;

static sim_link_params plain_link(void)
{
    sim_link_params l = {0};
    l.delay.kind = SIM_DIST_CONSTANT;
    l.delay.a = D_MS;
    return l;
}

static sim_link_params bernoulli(double p)
{
    sim_link_params l = plain_link();
    if (p > 0) {
        l.loss.kind = SIM_LOSS_BERNOULLI;
        l.loss.p = p;
    }
    return l;
}

/* Pairs i = 0..n-1 publish at QoS qos[i] (and subscribe at it) at rate_hz,
 * over streams with unlimited windows and queues, keepalive 60 s. */
static void world_init(world *w, int n, const uint8_t *qos, double rate_hz, int64_t duration)
{
    static const char *const names[2 * MAX_PAIRS] = {"p0", "s0", "p1", "s1", "p2", "s2", "p3", "s3"};
    memset(w, 0, sizeof *w);
    w->pairs = n;
    w->net = (mq_net_config){
        .seed = 11, .version = MQ_V311, .duration = duration, .drain = SIM_S(300),
        .broker = {.role = MQ_ROLE_BROKER, .max_inflight = 0, .max_queued = 0,
                   .retry_interval = SIM_MS(200), .max_retries = -1, .qos2_method = MQ_QOS2_A},
    };
    for (int i = 0; i < n; i++) {
        snprintf(w->topic[i], sizeof w->topic[i], "t/%d", i);
        w->sub[i] = (mq_sub){.filter = w->topic[i], .len = (uint16_t)strlen(w->topic[i]),
                             .qos = qos[i]};
        for (int k = 0; k < 2; k++) {
            mq_net_client *c = &w->c[2 * i + k];
            *c = (mq_net_client){
                .name = names[2 * i + k], .publisher = k == 0, .up = plain_link(),
                .down = plain_link(), .retry_interval = SIM_MS(200), .max_retries = -1,
                .transport = MQ_TRANSPORT_STREAM, .keepalive_s = 60, .clean_start = true,
                .qos2_method = MQ_QOS2_A,
            };
            if (k == 0) {
                c->topic = w->topic[i];
                c->qos = qos[i];
                c->rate_hz = rate_hz;
                c->payload_bytes = 32;
            } else {
                c->subs = &w->sub[i];
                c->n_subs = 1;
            }
        }
    }
}

static void grow(record *r, uint64_t id)
{
    if (id <= r->cap)
        return;
    size_t cap = r->cap ? r->cap : 1024;
    while (cap < id)
        cap *= 2;
    r->pub_t = realloc(r->pub_t, cap * sizeof *r->pub_t);
    r->first_t = realloc(r->first_t, cap * sizeof *r->first_t);
    r->broker_rx = realloc(r->broker_rx, cap * sizeof *r->broker_rx);
    r->client_of = realloc(r->client_of, cap * sizeof *r->client_of);
    assert_non_null(r->pub_t);
    assert_non_null(r->first_t);
    assert_non_null(r->broker_rx);
    assert_non_null(r->client_of);
    for (size_t i = r->cap; i < cap; i++)
        r->first_t[i] = r->broker_rx[i] = -1;
    r->cap = cap;
}

static void h_publish(void *ctx, int64_t t, int client, uint64_t id, uint8_t qos)
{
    record *r = ctx;
    (void)qos;
    grow(r, id);
    r->pub_t[id - 1] = t;
    r->client_of[id - 1] = client;
    if (id > r->n)
        r->n = id;
}

static void h_deliver(void *ctx, int64_t t, int client, uint64_t id, uint8_t qos, bool first)
{
    record *r = ctx;
    (void)client;
    (void)qos;
    if (first)
        r->first_t[id - 1] = t;
}

static void h_received(void *ctx, int64_t t, int client, bool up, const mq_packet *p,
                       uint64_t id, bool lost)
{
    record *r = ctx;
    (void)client;
    if (up && !lost && id && p->type == MQ_PUBLISH && r->broker_rx[id - 1] < 0)
        r->broker_rx[id - 1] = t;
}

static void world_run(world *w)
{
    char err[300] = "";
    w->m = mq_metrics_new();
    assert_non_null(w->m);
    mq_net_hooks hooks = {.ctx = &w->rec, .publish = h_publish, .deliver = h_deliver,
                          .received = h_received};
    mq_net *net = mq_net_new(&w->net, w->c, (size_t)(2 * w->pairs), w->m, &hooks, err,
                             sizeof err);
    if (!net)
        fprintf(stderr, "mq_net_new: %s\n", err);
    assert_non_null(net);
    int rc = mq_net_run(net, &w->st, err, sizeof err);
    if (rc)
        fprintf(stderr, "run failed: %s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(mq_net_live_messages(net), 0); /* no message outlived the run */
    mq_net_free(net);
}

static void world_done(world *w)
{
    mq_metrics_free(w->m);
    free(w->rec.pub_t);
    free(w->rec.first_t);
    free(w->rec.broker_rx);
    free(w->rec.client_of);
}

static mq_group_result pair_result(world *w, int i)
{
    mq_group_result g;
    uint8_t q = w->c[2 * i].qos;
    mq_metrics_group(w->m, q, q, &g);
    assert_true(g.present);
    /* lost == the sum of its causes, always. */
    uint64_t sum = 0;
    for (int c = 0; c < MQ_LOSS__COUNT; c++)
        sum += g.lost_by[c];
    assert_int_equal(sum, g.lost);
    return g;
}

/* The messages of publisher `client` published at t with lo <= t + off < hi. */
static uint64_t count_routed(const record *r, int client, int64_t off, int64_t lo, int64_t hi)
{
    uint64_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->client_of[i] == client && r->pub_t[i] + off >= lo && r->pub_t[i] + off < hi)
            n++;
    return n;
}

/* ---- lossless: the datagram model's latencies ------------------------------ */

/*
 * Without loss a stream delivers each packet after the one-way delay plus
 * its serialisation, as a datagram link does: QoS 0 and 1 in 2 one-way
 * delays, QoS 2 with method A in 6 (PUBLISH, PUBREC, PUBREL per hop), B in
 * 2. Without a bandwidth limit the latencies are exactly the datagram
 * model's. With one (8 Mbit/s: 1 us per byte), a segment carries the
 * packet plus 40 header bytes, so each of the two PUBLISH hops of QoS 0 and
 * 1 takes 40 us more: the stream's latency is the datagram's + 80 us, to the
 * nanosecond (at 10 Hz no segment waits behind another).
 */
static void lossless_latency(mq_transport tr, uint64_t bw, mq_qos2_method method,
                             mq_group_result g[3])
{
    world w;
    const uint8_t qos[3] = {0, 1, 2};
    world_init(&w, 3, qos, 10, SIM_S(200));
    w.net.broker.qos2_method = method;
    for (int i = 0; i < 6; i++) {
        w.c[i].transport = tr;
        w.c[i].keepalive_s = 0;
        w.c[i].qos2_method = method;
        w.c[i].up.bandwidth_bps = w.c[i].down.bandwidth_bps = bw;
    }
    world_run(&w);
    for (int i = 0; i < 3; i++) {
        g[i] = pair_result(&w, i);
        assert_int_equal(g[i].lost, 0);
        assert_int_equal(g[i].duplicates, 0);
        assert_int_equal(g[i].out_of_order, 0);
    }
    world_done(&w);
}

static void lossless_stream_latencies_equal_the_datagram_models(void **state)
{
    (void)state;
    for (int method = 0; method < 2; method++) {
        mq_group_result s[3], dg[3];
        lossless_latency(MQ_TRANSPORT_STREAM, 0, (mq_qos2_method)method, s);
        lossless_latency(MQ_TRANSPORT_DATAGRAM, 0, (mq_qos2_method)method, dg);
        double steps[3] = {2, 2, method == MQ_QOS2_A ? 6 : 2};
        for (int q = 0; q < 3; q++) {
            printf("    QoS %d, method %c: stream %.6f ms, datagram %.6f ms\n", q, "AB"[method],
                   s[q].lat_max, dg[q].lat_max);
            assert_true(s[q].lat_mean == dg[q].lat_mean && s[q].lat_max == dg[q].lat_max);
            assert_true(s[q].lat_p50 == dg[q].lat_p50 && s[q].lat_p99 == dg[q].lat_p99);
            assert_true(fabs(s[q].lat_max - steps[q] * D_MS) < 1e-9);
            assert_true(fabs(s[q].lat_mean - steps[q] * D_MS) < 1e-9);
        }
    }
    mq_group_result s[3], dg[3];
    lossless_latency(MQ_TRANSPORT_STREAM, 8000000, MQ_QOS2_A, s);
    lossless_latency(MQ_TRANSPORT_DATAGRAM, 8000000, MQ_QOS2_A, dg);
    for (int q = 0; q < 2; q++) {
        printf("    QoS %d at 8 Mbit/s: stream %.6f ms, datagram %.6f ms\n", q, s[q].lat_max,
               dg[q].lat_max);
        assert_true(fabs(s[q].lat_max - (dg[q].lat_max + 0.080)) < 1e-9);
        assert_true(fabs(s[q].lat_mean - (dg[q].lat_mean + 0.080)) < 1e-9);
        assert_true(s[q].lat_max == s[q].lat_p50); /* every message alike */
    }
}

/* ---- an outage on the publisher's link ------------------------------------- */

/*
 * Publishers at QoS 0, 1 and 2 (10 Hz), each with an outage of its up
 * direction (what it sends is lost) from T0 = 30.05 s for DO = 5 s: shorter
 * than any keepalive detection (K = 60 s; the broker's 1.5 K) and than TCP's
 * abort (924.6 s). No connection breaks, so nothing can be lost or
 * duplicated, at any QoS. The first segment the publisher sends in the
 * outage, at t_h (its first PUBLISH at or after T0; for QoS 2 a PUBREL
 * answering a PUBREC that arrives after T0 may come first), is lost and is
 * alone in flight (everything before it was acknowledged: the down
 * direction works), so its retransmissions follow the ladder
 * t_h + RTO (2^k - 1); the first at or after T0 + DO gets through, carrying
 * the bytes from t_h's on (less than one MSS), so the broker decodes the
 * first message published in the outage exactly D after it. Then the same
 * outage on both directions of each publisher's link: no loss, no
 * duplicate (the ACKs of segments sent just before T0 are lost too, so the
 * ladder starts earlier; only the promise is checked).
 */
static void publisher_outage(bool both, world *w)
{
    const uint8_t qos[3] = {0, 1, 2};
    static mq_net_window win[1] = {{SIM_MS(30050), SIM_S(5)}};
    world_init(w, 3, qos, 10, SIM_S(60));
    for (int i = 0; i < 3; i++) {
        w->c[2 * i].up_outages = (mq_net_outages){.n = 1, .w = win};
        if (both)
            w->c[2 * i].down_outages = (mq_net_outages){.n = 1, .w = win};
    }
    world_run(w);
    for (int i = 0; i < 3; i++) {
        mq_group_result g = pair_result(w, i);
        assert_int_equal(g.expected, 600);
        assert_int_equal(g.lost, 0);
        assert_int_equal(g.duplicates, 0);
        assert_int_equal(g.out_of_order, 0);
    }
    assert_int_equal(w->st.conn.opens, 6); /* no connection broke */
}

static void publisher_outage_no_loss_first_message_on_the_rto_ladder(void **state)
{
    (void)state;
    world w;
    publisher_outage(false, &w);
    const int64_t t0 = SIM_MS(30050), end = t0 + SIM_S(5);
    for (int i = 0; i < 3; i++) {
        int pub = 2 * i;
        /* The first message published in the outage, and the one before it. */
        size_t first = SIZE_MAX, prev = SIZE_MAX;
        for (size_t k = 0; k < w.rec.n; k++) {
            if (w.rec.client_of[k] != pub)
                continue;
            if (w.rec.pub_t[k] >= t0) {
                first = k;
                break;
            }
            prev = k;
        }
        assert_true(first != SIZE_MAX && prev != SIZE_MAX);
        int64_t th = w.rec.pub_t[first];
        /* QoS 2: the previous message's PUBREL leaves at its PUBREC's arrival, 2D on. */
        if (i == 2 && w.rec.pub_t[prev] + 2 * D >= t0 && w.rec.pub_t[prev] + 2 * D < th)
            th = w.rec.pub_t[prev] + 2 * D;
        int64_t rtx = th;
        for (int k = 1; rtx < end; k++)
            rtx = th + RTO * ((INT64_C(1) << k) - 1);
        printf("    QoS %d: first in the outage published %.6f s, decoded %.6f s, "
               "ladder %.6f s + D\n", i, w.rec.pub_t[first] / 1e9, w.rec.broker_rx[first] / 1e9,
               rtx / 1e9);
        assert_true(w.rec.broker_rx[first] == rtx + D);
    }
    world_done(&w);
}

static void publisher_outage_both_ways_no_loss_no_duplicate(void **state)
{
    (void)state;
    world w;
    publisher_outage(true, &w);
    world_done(&w);
}

/* ---- an outage on the subscriber's link, longer than keepalive ------------ */

/*
 * Pairs at QoS 0, 1 and 2 (10 Hz); each subscriber has keepalive K = 5 s and
 * an outage of both directions of its link from T0 = 100.505 s for 20 s (more
 * than 1.5 K): both ends detect it, the subscriber reconnects.
 *
 * The QoS 0 subscriber sends nothing but PINGREQ: it sent SUBSCRIBE at 4D,
 * so its PINGREQs go at 4D + nK, each answered 2D later; the first at or
 * after T0, P1 = 4D + ceil((T0 - 4D) / K) K, is lost, and at P1 + K it
 * closes (keepalive). It reopens 1 s later (T_open); its SYNs go at T_open +
 * 0, 1, 3, 7, 15 s, and the first at or after the outage's end, T_syn, gets
 * through (within connect_timeout, 30 s). Its CONNECT reaches the broker at
 * T_syn + 3D (T_bind), its SUBSCRIBE (a new session) at T_syn + 5D (T_sub).
 * A message is routed D after it is published (the publishers' links are
 * clean). What the broker routes to it before T0 is delivered (sent before
 * the outage); from T0 on it goes into the dead connection (until the
 * broker's keepalive closes it) or, with the session kept, into nothing
 * (offline: QoS 0 is not queued) until the new connection binds the session
 * at T_bind:
 *   kept session:  lost(0,0) = #{t0 <= t + D < T_bind}, all disconnected;
 *   clean start:   lost(0,0) = #{t0 <= t + D < T_sub}, disconnected (in the
 *                  dead connection) or session_lost (routed while it had no
 *                  session or subscription).
 * With a kept session QoS 1 and 2 lose nothing (the broker queues, and
 * resends what was in flight with DUP=1); QoS 2 never duplicates; QoS 1
 * duplicates at most what was in flight at the break: the messages routed
 * in [T0 - 2D, T0), whose PUBACK had not come back; exactly those routed in
 * [T0 - D, T0), which arrived but whose PUBACK went into the outage (with
 * this seed one: T0 is placed 3.3 ms after such a routing).
 * With a clean start QoS 1 and 2 lose everything in flight or queued when
 * the session ended, and what came while the subscriber had none, all as
 * session_lost. The QoS 1 subscriber answers each PUBLISH at once, so it
 * last sent and received at a1, the arrival (t + 2D) of the last PUBLISH
 * sent before T0; its PINGREQ goes at a1 + K and it closes at a1 + 2K; a
 * message routed from T0 on is lost: lost(1,1) = #{T0 <= t + D < T_sub1}.
 * The QoS 2 subscriber (method A both hops) delivers at PUBREL, which the
 * broker sends at t + 5D (routed at t + 3D, when the first hop's PUBREL
 * arrives): lost(2,2) = #{t + 5D >= T0 and t + 3D < T_sub2}; it last
 * heard (and answered) at a2, the latest arrival of a PUBLISH sent at t + 3D
 * < T0 (at t + 4D) or a PUBREL sent at t + 5D < T0 (at t + 6D), and closes at
 * a2 + 2K.
 */
#define SUB_T0 SIM_US(100505000)
#define SUB_DO SIM_S(20)
#define SUB_K 5

static void subscriber_outage(bool clean, world *w)
{
    const uint8_t qos[3] = {0, 1, 2};
    static mq_net_window win[1] = {{SUB_T0, SUB_DO}};
    world_init(w, 3, qos, 10, SIM_S(200));
    for (int i = 0; i < 3; i++) {
        mq_net_client *s = &w->c[2 * i + 1];
        s->keepalive_s = SUB_K;
        s->clean_start = clean;
        s->up_outages = s->down_outages = (mq_net_outages){.n = 1, .w = win};
    }
    world_run(w);
}

/* When a subscriber that closes at `close` gets its CONNECT to the broker. */
static int64_t bind_time(int64_t close)
{
    int64_t open = close + SIM_S(1), end = SUB_T0 + SUB_DO, syn = open;
    for (int k = 1; syn < end; k++)
        syn = open + SIM_S(1) * ((INT64_C(1) << k) - 1);
    assert_true(syn < open + SIM_S(30)); /* within connect_timeout */
    return syn + 3 * D;
}

/* The latest arrival, at the subscriber of pair `pair`, of a packet the
 * broker sent before T0: PUBLISH at t + first, and for QoS 2 PUBREL at
 * t + 5D. */
static int64_t last_heard(const record *r, int pub, int64_t first, bool qos2)
{
    int64_t a = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (r->client_of[i] != pub)
            continue;
        int64_t t = r->pub_t[i];
        if (t + first < SUB_T0 && t + first + D > a)
            a = t + first + D;
        if (qos2 && t + 5 * D < SUB_T0 && t + 6 * D > a)
            a = t + 6 * D;
    }
    return a;
}

static void subscriber_outage_kept_session(void **state)
{
    (void)state;
    world w;
    subscriber_outage(false, &w);
    int64_t k = SIM_S(SUB_K);
    int64_t p1 = 4 * D + (SUB_T0 - 4 * D + k - 1) / k * k;
    int64_t bind = bind_time(p1 + k);
    mq_group_result g0 = pair_result(&w, 0), g1 = pair_result(&w, 1), g2 = pair_result(&w, 2);
    uint64_t want0 = count_routed(&w.rec, 0, D, SUB_T0, bind);
    printf("    QoS 0: lost %llu, expected %llu (closed %.2f s, bound again %.6f s)\n",
           (unsigned long long)g0.lost, (unsigned long long)want0, (p1 + k) / 1e9, bind / 1e9);
    assert_int_equal(g0.lost, want0);
    assert_int_equal(g0.lost_by[MQ_LOSS_OF_DROP(MQ_DROP_DISCONNECTED)], want0);
    assert_int_equal(g0.duplicates, 0);
    uint64_t in_flight = count_routed(&w.rec, 2, D, SUB_T0 - 2 * D, SUB_T0);
    printf("    QoS 1: lost %llu, duplicates %llu (in flight at the break: %llu)\n",
           (unsigned long long)g1.lost, (unsigned long long)g1.duplicates,
           (unsigned long long)in_flight);
    assert_int_equal(g1.lost, 0);
    assert_true(g1.duplicates <= in_flight);
    uint64_t acked_into_outage = count_routed(&w.rec, 2, D, SUB_T0 - D, SUB_T0);
    assert_int_equal(acked_into_outage, 1);
    assert_int_equal(g1.duplicates, acked_into_outage);
    printf("    QoS 2: lost %llu, duplicates %llu\n", (unsigned long long)g2.lost,
           (unsigned long long)g2.duplicates);
    assert_int_equal(g2.lost, 0);
    assert_int_equal(g2.duplicates, 0);
    /* Each subscriber's connection closed once (keepalive) and came back. */
    assert_int_equal(w.st.conn.closes[MQ_CC_KEEPALIVE], 3);
    assert_int_equal(w.st.conn.connects, 9);
    world_done(&w);
}

static void subscriber_outage_clean_start(void **state)
{
    (void)state;
    world w;
    subscriber_outage(true, &w);
    int64_t k = SIM_S(SUB_K);
    int64_t p1 = 4 * D + (SUB_T0 - 4 * D + k - 1) / k * k;
    int64_t sub0 = bind_time(p1 + k) + 2 * D;
    int64_t sub1 = bind_time(last_heard(&w.rec, 2, D, false) + 2 * k) + 2 * D;
    int64_t sub2 = bind_time(last_heard(&w.rec, 4, 3 * D, true) + 2 * k) + 2 * D;
    mq_group_result g0 = pair_result(&w, 0), g1 = pair_result(&w, 1), g2 = pair_result(&w, 2);
    uint64_t want0 = count_routed(&w.rec, 0, D, SUB_T0, sub0);
    uint64_t want1 = count_routed(&w.rec, 2, D, SUB_T0, sub1);
    uint64_t want2 = 0;
    for (size_t i = 0; i < w.rec.n; i++)
        if (w.rec.client_of[i] == 4 && w.rec.pub_t[i] + 5 * D >= SUB_T0 &&
            w.rec.pub_t[i] + 3 * D < sub2)
            want2++;
    printf("    lost: QoS 0 %llu (expected %llu), QoS 1 %llu (%llu), QoS 2 %llu (%llu)\n",
           (unsigned long long)g0.lost, (unsigned long long)want0, (unsigned long long)g1.lost,
           (unsigned long long)want1, (unsigned long long)g2.lost, (unsigned long long)want2);
    assert_int_equal(g0.lost, want0);
    assert_int_equal(g0.lost_by[MQ_LOSS_OF_DROP(MQ_DROP_DISCONNECTED)] +
                         g0.lost_by[MQ_LOSS_OF_DROP(MQ_DROP_SESSION_LOST)], want0);
    assert_int_equal(g1.lost, want1);
    assert_int_equal(g1.lost_by[MQ_LOSS_OF_DROP(MQ_DROP_SESSION_LOST)], want1);
    assert_int_equal(g2.lost, want2);
    assert_int_equal(g2.lost_by[MQ_LOSS_OF_DROP(MQ_DROP_SESSION_LOST)], want2);
    assert_int_equal(g2.duplicates, 0);
    world_done(&w);
}

/* ---- Bernoulli loss on a stream --------------------------------------------- */

/* Loss p = 0.05 on every direction of every link: TCP hides it from MQTT,
 * which loses nothing and duplicates nothing at any QoS, in order. */
static void bernoulli_stream_loses_and_duplicates_nothing(void **state)
{
    (void)state;
    world w;
    const uint8_t qos[3] = {0, 1, 2};
    world_init(&w, 3, qos, 10, SIM_S(1000));
    for (int i = 0; i < 6; i++)
        w.c[i].up = w.c[i].down = bernoulli(0.05);
    world_run(&w);
    for (int i = 0; i < 3; i++) {
        mq_group_result g = pair_result(&w, i);
        printf("    QoS %d: %llu expected, lost %llu, duplicates %llu, p99 %.3f ms\n", i,
               (unsigned long long)g.expected, (unsigned long long)g.lost,
               (unsigned long long)g.duplicates, g.lat_p99);
        assert_int_equal(g.expected, 10000);
        assert_int_equal(g.lost, 0);
        assert_int_equal(g.duplicates, 0);
        assert_int_equal(g.out_of_order, 0);
        assert_true(g.lat_p99 > 2 * D_MS); /* the loss was real */
    }
    assert_true(w.st.conn.tcp_retransmissions > 1000);
    world_done(&w);
}

/*
 * The latency ladder. Only the publishers' up directions lose (p = 0.05);
 * one message a second, keepalive off, so each PUBLISH is one segment alone
 * in flight. Message k's segment is lost j_k times (geometric: P(j) =
 * p^j (1 - p)). Its first retransmission comes one RTO after it was sent;
 * the RTO is 220 ms when the previous message's ACK gave a valid sample
 * (j_{k-1} = 0), and stays backed off (doubled per expiry) after a message
 * that needed retransmissions (Karn). So:
 *   P(latency = 2D)          = 1 - p
 *   P(latency = 2D + 220 ms) = p (1 - p) (1 - p)   (j_k = 1, j_{k-1} = 0)
 *   P(latency > 2D + 220 ms) = p - p (1 - p)^2 = 2p^2 - p^3 = 0.004875
 * (a message stuck behind one that needs 3 or more retransmissions, 1.54 s,
 * has probability p^3 = 1.25e-4, far below 4 standard errors). The p99 is
 * therefore exactly 2D + 220 ms, the ladder's first step: above it lie
 * 0.49% of messages, at or above it 5%.
 */
static void stream_p99_is_the_first_rto_step(void **state)
{
    (void)state;
    world w;
    const uint8_t qos[2] = {0, 1};
    const double p = 0.05;
    const size_t n = 100000;
    world_init(&w, 2, qos, 1, SIM_S(50000));
    for (int i = 0; i < 4; i++)
        w.c[i].keepalive_s = 0;
    w.c[0].up = w.c[2].up = bernoulli(p);
    world_run(&w);
    for (int i = 0; i < 2; i++) {
        mq_group_result g = pair_result(&w, i);
        assert_int_equal(g.expected, n / 2);
        assert_int_equal(g.lost, 0);
        assert_int_equal(g.duplicates, 0);
        size_t at0 = 0, at1 = 0, total = 0;
        for (size_t k = 0; k < w.rec.n; k++) {
            if (w.rec.client_of[k] != 2 * i)
                continue;
            int64_t lat = w.rec.first_t[k] - w.rec.pub_t[k];
            total++;
            at0 += lat == 2 * D;
            at1 += lat == 2 * D + SIM_MS(220);
        }
        double m = (double)total, f0 = (double)at0 / m, f1 = (double)at1 / m;
        double w1 = p * (1 - p) * (1 - p);
        printf("    QoS %d: p99 %.3f ms (ladder: %.3f ms)\n", i, g.lat_p99, 2.0 * D_MS + 220);
        assert_close("fraction on time (2D)", f0, 1 - p, sqrt(p * (1 - p) / m));
        assert_close("fraction at 2D + 220 ms", f1, w1, sqrt(w1 * (1 - w1) / m));
        assert_true(fabs(g.lat_p99 - (2.0 * D_MS + 220)) < 1e-9);
    }
    world_done(&w);
}

/* ---- random outages on the publisher's link: QoS 0's loss ------------------ */

typedef struct {
    record *rec;
    int64_t *connacked;      /* the publisher's CONNACK times, in order */
    size_t n_connacked, cap;
} outage_record;

static void h_o_publish(void *ctx, int64_t t, int client, uint64_t id, uint8_t qos)
{
    outage_record *o = ctx;
    h_publish(o->rec, t, client, id, qos);
}

static void h_o_conn(void *ctx, int64_t t, int client, uint32_t conn, bool broker_side,
                     mq_net_conn_event ev, int detail)
{
    outage_record *o = ctx;
    (void)conn;
    (void)detail;
    if (client != 0 || broker_side || ev != MQ_NET_CONNECTED)
        return;
    if (o->n_connacked == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 1024;
        o->connacked = realloc(o->connacked, o->cap * sizeof *o->connacked);
        assert_non_null(o->connacked);
    }
    o->connacked[o->n_connacked++] = t;
}

/*
 * Outages on both directions of a QoS 0 publisher's link, alternating up
 * times ~ Exp(mtbf = 300 s) (at least 5 s) and down times ~ Exp(mttr =
 * 30 s) (drawn here and given as windows), Poisson publishes at 2 Hz, keepalive K = 1 s,
 * connect timeout 0.5 s, reconnect backoff 0.1 s (initial = max, no
 * jitter). For an outage [s, e), by the model's rules:
 *   - every segment sent in it is lost; a message published before s is
 *     delivered (its segment left before the outage began);
 *   - the client pings at its first keepalive deadline p in [s, s + K) and
 *     closes at p + K when no answer has come: so an outage of 2K or more
 *     always breaks the connection (the close falls inside it), and what
 *     the dead connection held is lost (disconnected);
 *   - it reconnects 0.1 s after the close and every 0.6 s after that (a SYN
 *     lost in the outage is not resent before the 0.5 s connect timeout:
 *     the SYN RTO is 1 s); the first SYN sent at or after e gets through,
 *     W ~ U[0, 0.6 s) after e, and its CONNACK arrives 4D = 40 ms later;
 *     a publish before that CONNACK is dropped (disconnected).
 * So QoS 0 loses exactly the publishes in [s, R), R the first CONNACK after
 * s, with R - e in [40 ms, 640 ms) when the outage lasts 2K or more; over
 * those that is lambda * sum(D + 0.3 s + 0.04 s) in expectation, plus at
 * most lambda * (2K + 0.74 s) for each shorter one (which may or may not
 * break the connection: when it does, the close comes at p + K < s + 2K,
 * possibly after the outage's end, and the CONNACK within 0.74 s of it). The loss is Poisson given the windows (variance: its mean,
 * plus lambda^2 Var W = lambda^2 * 0.03 s^2 per outage).
 */
static void random_publisher_outages_qos0_loses_the_disconnected_publishes(void **state)
{
    (void)state;
    const double lambda = 2, mtbf = 300, mttr = 30;
    const int64_t T = SIM_S(300000), K = SIM_S(1);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 77);
    size_t cap = 4096, n = 0;
    mq_net_window *win = malloc(cap * sizeof *win);
    assert_non_null(win);
    int64_t t = SIM_S(10);
    double long_sum = 0, short_bound = 0;
    size_t n_long = 0;
    for (;;) {
        /* Up times under 5 s are drawn again (1.7% of them), so that each
         * outage's reconnect is over before the next begins. */
        int64_t up;
        do
            up = (int64_t)(gsl_ran_exponential(r, mtbf) * 1e9);
        while (up < SIM_S(5));
        int64_t down = (int64_t)(gsl_ran_exponential(r, mttr) * 1e9);
        if (down < SIM_MS(1))
            down = SIM_MS(1);
        t += up;
        if (t + down + SIM_S(2) >= T)
            break;
        assert_true(n < cap);
        win[n++] = (mq_net_window){t, down};
        if (down >= 2 * K) {
            long_sum += (double)down / 1e9 + 0.3 + 0.04;
            n_long++;
        } else {
            short_bound += 2.0 + 0.74; /* 2K + 0.7 s + 4D at the most */
        }
        t += down;
    }
    gsl_rng_free(r);

    world w;
    const uint8_t qos[1] = {0};
    world_init(&w, 1, qos, lambda, T);
    w.net.drain = SIM_S(60);
    for (int i = 0; i < 2; i++) {
        w.c[i].keepalive_s = 1;
        w.c[i].connect_timeout = SIM_MS(500);
        w.c[i].reconnect_initial = w.c[i].reconnect_max = SIM_MS(100);
    }
    w.c[0].poisson = true;
    w.c[0].up_outages = w.c[0].down_outages = (mq_net_outages){.n = n, .w = win};
    outage_record o = {.rec = &w.rec};
    char err[300] = "";
    w.m = mq_metrics_new();
    assert_non_null(w.m);
    mq_net_hooks hooks = {.ctx = &o, .publish = h_o_publish, .conn = h_o_conn};
    mq_net *net = mq_net_new(&w.net, w.c, 2, w.m, &hooks, err, sizeof err);
    if (!net)
        fprintf(stderr, "mq_net_new: %s\n", err);
    assert_non_null(net);
    int rc = mq_net_run(net, &w.st, err, sizeof err);
    if (rc)
        fprintf(stderr, "run failed: %s\n", err);
    assert_int_equal(rc, 0);
    mq_net_free(net);
    mq_group_result g = pair_result(&w, 0);
    assert_int_equal(g.duplicates, 0);
    assert_int_equal(g.lost, g.lost_by[MQ_LOSS_OF_DROP(MQ_DROP_DISCONNECTED)]);

    /* Exactly: the publishes from each breaking outage's start to the next
     * CONNACK, with that CONNACK 40 to 640 ms after the outage's end. */
    uint64_t exact = 0;
    size_t k = 0, broke = 0, long_broke = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t s = win[i].start, e = s + win[i].len;
        while (k < o.n_connacked && o.connacked[k] < s)
            k++;
        assert_true(k < o.n_connacked);
        int64_t R = o.connacked[k];
        if (R >= e && R < (i + 1 < n ? win[i + 1].start : T)) {
            /* a CONNACK after the outage ended: this outage broke it */
            if (win[i].len >= 2 * K) /* closed inside the outage */
                assert_true(R - e >= 4 * D && R - e < SIM_MS(600) + 4 * D);
            else /* closed at p + K < s + 2K, back within 0.74 s of that */
                assert_true(R - s < 2 * K + SIM_MS(700) + 4 * D);
            exact += count_routed(&w.rec, 0, 0, s, R);
            broke++;
            long_broke += win[i].len >= 2 * K;
        } else if (win[i].len >= 2 * K) {
            printf("    outage %zu [%.3f, %.3f) s: next CONNACK at %.3f s, next outage at %.3f s\n", i,
                   (double)s / 1e9, (double)e / 1e9, (double)R / 1e9,
                   i + 1 < n ? (double)win[i + 1].start / 1e9 : -1.0);
        }
    }
    assert_int_equal(long_broke, n_long); /* every outage of 2K or more broke it */
    assert_int_equal(g.lost, exact);

    /* In expectation, from the windows alone. */
    double lo = lambda * long_sum, hi = lo + lambda * short_bound;
    double sd = sqrt(hi + lambda * lambda * 0.03 * (double)broke);
    printf("    %zu outages, %zu broke the connection (%zu of 2 K or more); lost %llu,"
           " expected %.0f to %.0f (sd %.0f)\n", n, broke, n_long, (unsigned long long)g.lost,
           lo, hi, sd);
    assert_true((double)g.lost >= lo - 4 * sd && (double)g.lost <= hi + 4 * sd);
    free(o.connacked);
    free(win);
    world_done(&w);
}

/* ---- accounting over random scenarios ---------------------------------------- */

/*
 * Every lost (message, subscriber) pair is charged to exactly one cause, so
 * per QoS pair lost == the sum of lost_by; a pair left without a cause fails
 * the run. Checked over random small scenarios (fixed seed): three
 * publishers at random QoS and three subscribers with overlapping filters
 * ("t/#", "t/+", the pair's own topic) at random QoS, each client on a
 * random transport (mostly streams), with random loss, random or scheduled
 * outages, clean or kept sessions, MQTT 3.1.1 or 5.0 (with a random session
 * expiry), small or unlimited windows and queues, timer retransmission with
 * a retry limit or reconnect retransmission, and a drain that may be too
 * short: so that every cause the model has comes up.
 */
static void lost_equals_the_sum_of_its_causes_in_random_scenarios(void **state)
{
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 20240607);
    static mq_net_window win[2][1];
    static const char *const filters[3] = {"t/#", "t/+", NULL};
    uint64_t causes[MQ_LOSS__COUNT] = {0};
    for (int sc = 0; sc < 40; sc++) {
        world w;
        uint8_t qos[3];
        for (int i = 0; i < 3; i++)
            qos[i] = (uint8_t)gsl_rng_uniform_int(r, 3);
        world_init(&w, 3, qos, 20, SIM_S(20));
        bool v5 = gsl_rng_uniform(r) < 0.3;
        w.net.version = v5 ? MQ_V5 : MQ_V311;
        w.net.drain = gsl_rng_uniform(r) < 0.3 ? SIM_S(1) : SIM_S(120);
        w.net.broker.max_inflight = gsl_rng_uniform(r) < 0.5 ? 5 : 0;
        w.net.broker.max_queued = gsl_rng_uniform(r) < 0.5 ? 20 : 0;
        w.net.broker.queue_qos0 = gsl_rng_uniform(r) < 0.3;
        for (int d = 0; d < 2; d++)
            win[d][0] = (mq_net_window){SIM_S(3) + (int64_t)gsl_rng_uniform_int(r, 10) * SIM_S(1),
                                        SIM_S(2) + (int64_t)gsl_rng_uniform_int(r, 20) * SIM_S(1)};
        for (int i = 0; i < 6; i++) {
            mq_net_client *c = &w.c[i];
            bool dg = gsl_rng_uniform(r) < 0.25;
            c->transport = dg ? MQ_TRANSPORT_DATAGRAM : MQ_TRANSPORT_STREAM;
            double p = gsl_rng_uniform(r) < 0.5 ? 0.2 * gsl_rng_uniform(r) : 0;
            c->up = c->down = bernoulli(p);
            if (dg && gsl_rng_uniform(r) < 0.2) {
                c->up.reorder = c->down.reorder = true;
                c->up.delay = c->down.delay = (sim_dist){.kind = SIM_DIST_EXPONENTIAL, .a = 50};
            }
            double o = gsl_rng_uniform(r);
            if (o < 0.3)
                c->up_outages = c->down_outages = (mq_net_outages){.n = 1, .w = win[i & 1]};
            else if (o < 0.45)
                c->down_outages = (mq_net_outages){.mtbf = SIM_S(8), .mttr = SIM_S(3)};
            c->keepalive_s = (uint16_t)(1 + gsl_rng_uniform_int(r, 3));
            c->clean_start = gsl_rng_uniform(r) < 0.5;
            c->session_expiry_s = v5 ? (uint32_t)gsl_rng_uniform_int(r, 6) : 0;
            c->reconnect_initial = SIM_MS(200);
            c->reconnect_max = SIM_S(2);
            c->reconnect_jitter = gsl_rng_uniform(r) < 0.3 ? 0.2 : 0;
            c->own_window = gsl_rng_uniform(r) < 0.5;
            c->max_inflight = 3;
            c->max_queued = 10;
            if (gsl_rng_uniform(r) < 0.3) {
                c->retransmit = MQ_RETRANSMIT_TIMER;
                c->max_retries = (int32_t)gsl_rng_uniform_int(r, 3);
            }
            if (i & 1) {
                const char *f = filters[gsl_rng_uniform_int(r, 3)];
                if (f) {
                    w.sub[i / 2].filter = f;
                    w.sub[i / 2].len = (uint16_t)strlen(f);
                }
            }
        }
        world_run(&w);
        for (uint8_t ps = 0; ps < 9; ps++) {
            mq_group_result g;
            mq_metrics_group(w.m, ps / 3, ps % 3, &g);
            uint64_t sum = 0;
            for (int c = 0; c < MQ_LOSS__COUNT; c++) {
                sum += g.lost_by[c];
                causes[c] += g.lost_by[c];
            }
            assert_int_equal(sum, g.lost);
        }
        world_done(&w);
    }
    printf("    lost pairs by cause over the scenarios:");
    for (int c = 0; c < MQ_LOSS__COUNT; c++)
        printf(" %s %llu", mq_loss_cause_name(c), (unsigned long long)causes[c]);
    printf("\n");
    /* The scenarios reach the causes the model has without faults. */
    static const int reached[] = {MQ_LOSS_LINK, MQ_LOSS_OF_DROP(MQ_DROP_QUEUE_FULL),
                                  MQ_LOSS_OF_DROP(MQ_DROP_RETRIES_EXHAUSTED),
                                  MQ_LOSS_OF_DROP(MQ_DROP_IN_FLIGHT_AT_END),
                                  MQ_LOSS_OF_DROP(MQ_DROP_DISCONNECTED),
                                  MQ_LOSS_OF_DROP(MQ_DROP_SESSION_LOST)};
    for (size_t i = 0; i < sizeof reached / sizeof reached[0]; i++)
        assert_true(causes[reached[i]] > 0);
    gsl_rng_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lossless_stream_latencies_equal_the_datagram_models),
        cmocka_unit_test(publisher_outage_no_loss_first_message_on_the_rto_ladder),
        cmocka_unit_test(publisher_outage_both_ways_no_loss_no_duplicate),
        cmocka_unit_test(subscriber_outage_kept_session),
        cmocka_unit_test(subscriber_outage_clean_start),
        cmocka_unit_test(bernoulli_stream_loses_and_duplicates_nothing),
        cmocka_unit_test(stream_p99_is_the_first_rto_step),
        cmocka_unit_test(random_publisher_outages_qos0_loses_the_disconnected_publishes),
        cmocka_unit_test(lost_equals_the_sum_of_its_causes_in_random_scenarios),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
