/* Connection scenarios over streams: CONNECT rules, takeover, keepalive, connect timeout, reconnect backoff, 5.0 Receive Maximum. */
#include "tests/scenario.h"

/*
 * Times: a client's open is established 10 ms later at both ends ("P up",
 * the broker accepting a context), and every byte takes 10 ms each way, so
 * CONNECT goes at t+10, CONNACK at t+20 and the client is connected at
 * t+30. Reconnect backoff is 1 s doubling to 8 s, without jitter, unless a
 * test says otherwise (h_stream_cfg).
 */

static uint8_t v311 = MQ_V311, v5 = MQ_V5;
#define VERSION(state) (*(uint8_t *)*(state))

/* Connects every client and runs until until_ms (timers such as keepalive
 * never let a stream network go quiet), then clears the record. */
static void connect_until(h_net *h, int64_t until_ms)
{
    for (int i = 0; i < h->n_ends; i += 2)
        assert_int_equal(mq_session_connect(h->e[i].s, h->now), 0);
    h_run_until(h, until_ms);
    for (int i = 0; i < h->n_ends; i += 2)
        assert_int_equal(h->e[i].connected, 1);
    h_clear(h);
}

/* A broker and one stream client P with keepalive k seconds. */
static h_net *one_client(uint8_t version, uint16_t k)
{
    mq_session_config b = h_cfg(version, MQ_QOS2_A);
    mq_session_config c = h_stream_cfg(version, MQ_QOS2_A);
    c.keepalive_s = k;
    h_net *h = h_new(&b, 16);
    h->check = true;
    h_client(h, "P", &c);
    return h;
}

/* ---- CONNECT ---------------------------------------------------------- */

static void stream_connect_exchange(void **state)
{
    h_net *h = one_client(VERSION(state), 0);
    assert_int_equal(mq_session_connect(h_csess(h, "P"), h->now), 0);
    assert_int_equal(mq_session_state(h_csess(h, "P")), MQ_CONN_OPENING);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P open",
             "t10 P up",
             "t10 P>B CONNECT",
             "t20 B>P CONNACK",
             "t30 P connected");
    assert_int_equal(mq_session_state(h_csess(h, "P")), MQ_CONN_UP);
    assert_int_equal(mq_broker_sessions(h->b), 1);
    assert_int_equal(mq_broker_connections(h->b), 1);
    h_free(h);
}

/* 3.1.1 §3.1.0-2, 5.0 §3.1.0-2: a second CONNECT is a protocol error; the
 * broker closes, the client learns by the FIN and reconnects, resuming its
 * kept session. */
static void second_connect_is_protocol_error(void **state)
{
    h_net *h = one_client(VERSION(state), 0);
    connect_until(h, 100);
    mq_packet k;
    memset(&k, 0, sizeof k);
    k.type = MQ_CONNECT;
    k.client_id = (mq_str){"P", 1};
    h_inject(h, h_find(h, "P")->peer, &k, NULL);
    h_run_until(h, 2000);
    h_expect(h,
             "t0 B event unexpected CONNECT id0",
             "t0 B close protocol_error",
             "t10 P down fin",
             "t1010 P open",
             "t1020 P up",
             "t1020 P>B CONNECT",
             "t1030 B>P CONNACK",
             "t1040 P connected present");
    h_free(h);
}

/* Mosquitto holds a connection that has not sent its CONNECT to its default
 * keepalive of 60 s: after 1.5 x 60 s = 90 s of silence it is closed, so
 * connections that never speak cannot pile up. Here the CONNECT is held back
 * 100 s on the way (the client's connect timeout is longer still). */
static void broker_closes_connection_without_connect(void **state)
{
    (void)state;
    mq_session_config b = h_cfg(MQ_V311, MQ_QOS2_A);
    mq_session_config c = h_stream_cfg(MQ_V311, MQ_QOS2_A);
    c.connect_timeout = H_MS(200000);
    h_net *h = h_new(&b, 4);
    h_client(h, "P", &c);
    h_delay(h, "P>B", MQ_CONNECT, 1, 100000);
    assert_int_equal(mq_session_connect(h_csess(h, "P"), h->now), 0);
    h_run_until(h, 90020);
    h_expect(h,
             "t0 P open",
             "t10 P up",
             "t10 P>B CONNECT +100000ms",
             "t90010 B close keepalive",
             "t90020 P down fin");
    assert_int_equal(mq_broker_connections(h->b), 0);
    assert_int_equal(mq_broker_sessions(h->b), 0);
    h_free(h);
}

/* 3.1.1 MQTT-3.1.2-2: a CONNECT for a protocol level the server does not
 * speak (here MQTT 3.1's "MQIsdp" level 3, and "MQTT" level 3) is answered
 * with CONNACK 0x01 before the close, as Mosquitto answers. */
static void unsupported_level_gets_connack_0x01(void **state)
{
    (void)state;
    static const uint8_t v31[] = {0x10, 0x0F, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x03,
                                  0x02, 0x00, 0x3C, 0x00, 0x01, 'X'};
    static const uint8_t l3[] = {0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x03,
                                 0x02, 0x00, 0x3C, 0x00, 0x01, 'X'};
    const uint8_t *pk[] = {v31, l3};
    size_t len[] = {sizeof v31, sizeof l3};
    for (int k = 0; k < 2; k++) {
        mq_session_config b = h_cfg(MQ_V311, MQ_QOS2_A);
        mq_session_config c = h_stream_cfg(MQ_V311, MQ_QOS2_A);
        c.connect_timeout = H_MS(200000);
        h_net *h = h_new(&b, 4);
        h_client(h, "P", &c);
        h_delay(h, "P>B", MQ_CONNECT, 1, 100000);
        assert_int_equal(mq_session_connect(h_csess(h, "P"), h->now), 0);
        h_run_until(h, 20);
        h_clear(h);
        h_inject_bytes(h, h_find(h, "P")->peer, pk[k], len[k], NULL);
        h_run_until(h, 20);
        h_expect(h,
                 "t0 B event malformed",
                 "t0 B>P CONNACK rc1",
                 "t0 B close protocol_error",
                 "t10 P close refused");
        assert_int_equal(mq_broker_connections(h->b), 0);
        h_free(h);
    }
}

/* MQTT-3.1.4-2: a CONNECT for a client id with a live connection closes that
 * connection. Here the old one is half-open (only the client saw the break),
 * so the broker still thinks it is live until the new CONNECT. */
static void takeover_closes_old_connection(void **state)
{
    (void)state;
    h_net *h = one_client(MQ_V311, 0);
    connect_until(h, 100);
    h_break(h, "P", H_CLIENT_ONLY, MQ_DOWN_RST);
    assert_int_equal(mq_broker_connections(h->b), 1);
    h_run_until(h, 2000);
    h_expect(h,
             "t0 P down reset",
             "t1000 P open",
             "t1010 P up",
             "t1010 P>B CONNECT",
             "t1020 B close takeover",
             "t1020 B>P CONNACK",
             "t1030 P connected present");
    assert_int_equal(mq_broker_connections(h->b), 1);
    assert_int_equal(mq_broker_sessions(h->b), 1);
    h_free(h);
}

/* The same with a live old connection of another client using the same id,
 * in 5.0: the broker tells the old one why (DISCONNECT 0x8E, as Mosquitto),
 * closes it, and the new connection gets the session. */
static void takeover_v5_sends_disconnect_to_old_connection(void **state)
{
    (void)state;
    mq_session_config b = h_cfg(MQ_V5, MQ_QOS2_A);
    mq_session_config c = h_stream_cfg(MQ_V5, MQ_QOS2_A);
    c.client_id = "X";
    h_net *h = h_new(&b, 4);
    h_client(h, "P", &c);
    h_client(h, "Q", &c);
    assert_int_equal(mq_session_connect(h_csess(h, "P"), h->now), 0);
    h_run_until(h, 100);
    h_clear(h);
    assert_int_equal(mq_session_connect(h_csess(h, "Q"), h->now), 0);
    h_run_until(h, 40);
    h_expect(h,
             "t0 Q open",
             "t10 Q up",
             "t10 Q>B CONNECT",
             "t20 B>P DISCONNECT",
             "t20 B close takeover",
             "t20 B>Q CONNACK",
             "t30 P close server_disconnect",
             "t30 Q connected present");
    h_free(h);
}

/* A DISCONNECT closes both ends (client_disconnect) and the client stays
 * away; its kept session stays at the broker (5.0: until its expiry, 3600 s
 * after the close, when it ends). */
static void disconnect_closes_and_stops_reconnecting(void **state)
{
    h_net *h = one_client(VERSION(state), 0);
    connect_until(h, 100);
    mq_session_disconnect(h_csess(h, "P"), h->now);
    h_run_until(h, 100000);
    h_expect(h,
             "t0 P>B DISCONNECT",
             "t0 P close client_disconnect",
             "t10 B close client_disconnect");
    assert_int_equal(mq_broker_connections(h->b), 0);
    assert_int_equal(mq_broker_sessions(h->b), 1);
    assert_int_equal(mq_session_state(h_csess(h, "P")), MQ_CONN_DOWN);
    if (VERSION(state) == MQ_V5) {
        assert_int_equal(h->btimer_at, h->base + H_MS(10) + H_MS(3600000));
        h_run_until(h, 10 + 3600000);
        assert_int_equal(mq_broker_sessions(h->b), 0);
    }
    h_run_quiet(h, 10000000);
    assert_int_equal(h->n_rec, 3);
    h_free(h);
}

/* ---- keepalive ---------------------------------------------------------- */

/* Idle: PINGREQ one keepalive after the last send or receipt, whichever is
 * earlier (CONNECT went at 10, CONNACK came at 30: the first PINGREQ at
 * 5010, i.e. t4910 after the record starts at 100); the PINGREQ restarts
 * both clocks, so the next is 5 s after it. */
static void keepalive_client_pingreq_after_idle(void **state)
{
    h_net *h = one_client(VERSION(state), 5);
    connect_until(h, 100);
    h_run_until(h, 10000);
    h_expect(h,
             "t4910 P>B PINGREQ",
             "t4920 B>P PINGRESP",
             "t9910 P>B PINGREQ",
             "t9920 B>P PINGRESP");
    h_free(h);
}

/* A steady QoS 0 publisher sends every second, so a send-only rule would
 * never ping; nothing comes back, so the receive clock runs out at 5030. */
static void keepalive_pingreq_despite_steady_qos0_publishing(void **state)
{
    (void)state;
    h_net *h = one_client(MQ_V311, 5);
    connect_until(h, 100);
    for (int i = 1; i <= 5; i++) {
        h_run_until(h, 1000 * i);
        h_publish(h, "P", "t", 0);
    }
    h_run_until(h, 5500);
    h_expect(h,
             "t1000 P>B PUBLISH q0 m1",
             "t2000 P>B PUBLISH q0 m2",
             "t3000 P>B PUBLISH q0 m3",
             "t4000 P>B PUBLISH q0 m4",
             "t4930 P>B PINGREQ",
             "t4940 B>P PINGRESP",
             "t5000 P>B PUBLISH q0 m5");
    h_check_refs(h);
    h_free(h);
}

/* A silent break (neither end told). The broker closes 1.5 x keepalive
 * after the last packet it got (CONNECT at 20: 7520, t7420); the client
 * pings at 5010 into the void and closes at the next deadline, 10010,
 * reconnects 1 s later and resumes its session (kept by the broker). */
static void keepalive_close_both_ends_on_silent_break(void **state)
{
    h_net *h = one_client(VERSION(state), 5);
    connect_until(h, 100);
    h_break(h, "P", H_NEITHER, MQ_DOWN_RST);
    h_run_until(h, 11000);
    h_expect(h,
             "t4910 P>B PINGREQ LOST",
             "t7420 B close keepalive",
             "t9910 P close keepalive",
             "t10910 P open",
             "t10920 P up",
             "t10920 P>B CONNECT",
             "t10930 B>P CONNACK",
             "t10940 P connected present");
    h_free(h);
}

/* Mosquitto's rule on its own: a client whose packets stop arriving (its
 * sends vanish, it does not notice) is closed by the broker 1.5 x its
 * keepalive after the last one; keepalive 0 never. */
static void keepalive_broker_closes_after_one_and_a_half(void **state)
{
    (void)state;
    mq_session_config b = h_cfg(MQ_V311, MQ_QOS2_A);
    mq_session_config c = h_stream_cfg(MQ_V311, MQ_QOS2_A);
    c.keepalive_s = 60;
    mq_session_config c0 = c;
    c0.keepalive_s = 0;
    h_net *h = h_new(&b, 4);
    h_client(h, "P", &c);
    h_client(h, "Q", &c0);
    connect_until(h, 100);
    h_break(h, "P", H_NEITHER, MQ_DOWN_RST);
    h_break(h, "Q", H_NEITHER, MQ_DOWN_RST);
    /* CONNECT got at 20, + 90 s = 90020: t89920, and not a nanosecond
     * before. P pinged at 60010 (t59910) into the void; it would close only
     * at 120010. */
    h_run_(h, h->base + H_MS(89920) - 1);
    assert_int_equal(h_count(h, H_CLOSE, "B", 0, 0), 0);
    h_run_until(h, 90000);
    h_expect(h,
             "t59910 P>B PINGREQ LOST",
             "t89920 B close keepalive");
    h_clear(h);
    h_run_until(h, 1000000);
    /* Q, keepalive 0, is never closed by either end. */
    assert_int_equal(h_count(h, H_CLOSE, "B", 0, 0), 0);
    assert_int_equal(mq_session_state(h_csess(h, "Q")), MQ_CONN_UP);
    h_free(h);
}

/* ---- connect timeout and backoff ---------------------------------------- */

/* No CONNACK within 30 s of the open (Paho C's connect timeout): the client
 * closes, the broker learns by the FIN, and the client tries again 1 s
 * later; the late CONNACK of the first connection arrives on nothing. */
static void connect_timeout_closes_and_reconnects(void **state)
{
    h_net *h = one_client(VERSION(state), 0);
    h_delay(h, "B>P", MQ_CONNACK, 1, 40000);
    assert_int_equal(mq_session_connect(h_csess(h, "P"), h->now), 0);
    h_run_until(h, 45000);
    h_expect(h,
             "t0 P open",
             "t10 P up",
             "t10 P>B CONNECT",
             "t20 B>P CONNACK +40000ms",
             "t30000 P close connect_timeout",
             "t30010 B down fin",
             "t31000 P open",
             "t31010 P up",
             "t31010 P>B CONNECT",
             "t31020 B>P CONNACK",
             "t31030 P connected present");
    assert_int_equal(h_find(h, "P")->connected, 1);
    h_free(h);
}

/* Refused opens: 1, 2, 4, 8, then 8 s (capped); a CONNACK resets the ladder. */
static void reconnect_backoff_ladder_exact(void **state)
{
    h_net *h = one_client(VERSION(state), 0);
    h_refuse(h, "P", 5);
    assert_int_equal(mq_session_connect(h_csess(h, "P"), h->now), 0);
    h_run_until(h, 23100);
    h_break(h, "P", H_BOTH, MQ_DOWN_RST);
    h_run_until(h, 24200);
    h_expect(h,
             "t0 P open",
             "t10 P refused",
             "t1010 P open",
             "t1020 P refused",
             "t3020 P open",
             "t3030 P refused",
             "t7030 P open",
             "t7040 P refused",
             "t15040 P open",
             "t15050 P refused",
             "t23050 P open",
             "t23060 P up",
             "t23060 P>B CONNECT",
             "t23070 B>P CONNACK",
             "t23080 P connected",
             "t23100 P down reset",
             "t23100 B down reset",
             "t24100 P open",
             "t24110 P up",
             "t24110 P>B CONNECT",
             "t24120 B>P CONNACK",
             "t24130 P connected present");
    h_free(h);
}

/* Jitter 0.5 scales each step by 1 + 0.5 (2u - 1): u = 0, 0.75, 0.5, 0.25
 * give 0.5 x 1 s, 1.25 x 2 s, 1 x 4 s, 0.75 x 8 s. */
static double seq_values[] = {0.0, 0.75, 0.5, 0.25};
static size_t seq_next;

static double seq_random(void *ctx)
{
    (void)ctx;
    return seq_values[seq_next++ % 4];
}

static void reconnect_backoff_with_jitter(void **state)
{
    (void)state;
    mq_session_config b = h_cfg(MQ_V311, MQ_QOS2_A);
    mq_session_config c = h_stream_cfg(MQ_V311, MQ_QOS2_A);
    c.reconnect_jitter = 0.5;
    h_net *h = h_new(&b, 4);
    seq_next = 0;
    h->random = seq_random;
    h_client(h, "P", &c);
    h_refuse(h, "P", 4);
    assert_int_equal(mq_session_connect(h_csess(h, "P"), h->now), 0);
    h_run_until(h, 14000);
    h_expect(h,
             "t0 P open",
             "t10 P refused",
             "t510 P open",
             "t520 P refused",
             "t3020 P open",
             "t3030 P refused",
             "t7030 P open",
             "t7040 P refused",
             "t13040 P open",
             "t13050 P up",
             "t13050 P>B CONNECT",
             "t13060 B>P CONNACK",
             "t13070 P connected");
    assert_int_equal(seq_next, 4);
    h_free(h);
}

/* ---- what the engine refuses (issue 13, item 14) -------------------------- */

static void rejected_session_configs(void **state)
{
    (void)state;
    mq_session_io io = {.send = h_io_send, .deliver = h_io_deliver, .timer = h_io_timer};
    mq_session_config c = h_cfg(MQ_V311, MQ_QOS2_A);
    assert_int_equal(mq_session_config_check(&c), MQ_OK);
    /* A client id that is not UTF-8 cannot go into a CONNECT. */
    c.client_id = "bad\xff";
    assert_int_equal(mq_session_config_check(&c), MQ_ERR_INVALID);
    assert_null(mq_session_new(&c, &io));
    c.client_id = "nul\xc0\x80"; /* an overlong U+0000 */
    assert_int_equal(mq_session_config_check(&c), MQ_ERR_INVALID);
    c.client_id = "P";
    /* A 0 ns retry interval would resend at one instant for ever. */
    c.retry_interval = 0;
    assert_int_equal(mq_session_config_check(&c), MQ_ERR_INVALID);
    assert_null(mq_session_new(&c, &io));
    assert_null(mq_broker_new(&c, NULL));
    c.retry_interval = -5;
    assert_int_equal(mq_session_config_check(&c), MQ_ERR_INVALID);
    /* ... unless nothing is resent on a timer: a stream that resends only on
     * reconnect needs no interval. */
    c.retry_interval = 0;
    c.transport = MQ_TRANSPORT_STREAM;
    assert_int_equal(mq_session_config_check(&c), MQ_OK);
    c.retransmit = MQ_RETRANSMIT_TIMER;
    assert_int_equal(mq_session_config_check(&c), MQ_ERR_INVALID);
    c.retransmit = MQ_RETRANSMIT_RECONNECT;
    c.reconnect_initial = H_MS(5000);
    c.reconnect_max = H_MS(1000);
    assert_int_equal(mq_session_config_check(&c), MQ_ERR_INVALID);
    c.reconnect_max = 0;
    c.reconnect_jitter = 1.5;
    assert_int_equal(mq_session_config_check(&c), MQ_ERR_INVALID);
    c.reconnect_jitter = 0;
    c.version = 3;
    assert_int_equal(mq_session_config_check(&c), MQ_ERR_INVALID);
}

/* ---- 5.0 Receive Maximum ------------------------------------------------- */

/* The broker's max_inflight 2 goes out in CONNACK; P (its own 5) keeps to
 * min(5, 2) = 2; S's CONNECT carries its 1, and the broker keeps to
 * min(2, 1) = 1 towards S. Sizes: CONNECT of "P" with Session Expiry (5)
 * and Receive Maximum (3) is 24 bytes; CONNACK with Receive Maximum 8. */
static void v5_receive_maximum_both_ways(void **state)
{
    (void)state;
    mq_session_config b = h_cfg(MQ_V5, MQ_QOS2_A);
    b.max_inflight = 2;
    mq_session_config pc = h_stream_cfg(MQ_V5, MQ_QOS2_A);
    pc.max_inflight = 5;
    mq_session_config sc = pc;
    sc.max_inflight = 1;
    h_net *h = h_new(&b, 8);
    h->check = true;
    h_client(h, "P", &pc);
    h_client(h, "S", &sc);
    assert_int_equal(mq_session_connect(h_csess(h, "P"), h->now), 0);
    h_run_quiet(h, 1000);
    assert_int_equal(h->rec[2].type, MQ_CONNECT);
    assert_int_equal(h->rec[2].bytes, 24);
    assert_int_equal(h->rec[3].type, MQ_CONNACK);
    assert_int_equal(h->rec[3].bytes, 8);
    assert_int_equal(mq_session_connect(h_csess(h, "S"), h->now), 0);
    h_run_quiet(h, 1000);
    h_clear(h);
    h_subscribe(h, "S", "t", 1);
    assert_int_equal(mq_session_window(h_csess(h, "P")), 2);
    assert_int_equal(mq_session_window(h_csess(h, "S")), 1);
    assert_int_equal(mq_session_window(h_bsess(h, "P")), 2);
    assert_int_equal(mq_session_window(h_bsess(h, "S")), 1);
    for (int i = 0; i < 3; i++)
        h_publish(h, "P", "t", 1);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q1 m1",
             "t0 P>B PUBLISH id2 q1 m2",
             "t10 B>S PUBLISH id1 q1 m1",
             "t10 B>P PUBACK id1",
             "t10 B>P PUBACK id2",
             "t20 S got m1 q1",
             "t20 S>B PUBACK id1",
             "t20 P>B PUBLISH id3 q1 m3",
             "t30 B>S PUBLISH id2 q1 m2",
             "t30 B>P PUBACK id3",
             "t40 S got m2 q1",
             "t40 S>B PUBACK id2",
             "t50 B>S PUBLISH id3 q1 m3",
             "t60 S got m3 q1",
             "t60 S>B PUBACK id3");
    h_check_refs(h);
    h_free(h);
}

#define V(f) cmocka_unit_test_prestate(f, &v311), cmocka_unit_test_prestate(f, &v5)

int main(void)
{
    const struct CMUnitTest tests[] = {
        V(stream_connect_exchange),
        V(second_connect_is_protocol_error),
        cmocka_unit_test(broker_closes_connection_without_connect),
        cmocka_unit_test(unsupported_level_gets_connack_0x01),
        cmocka_unit_test(takeover_closes_old_connection),
        cmocka_unit_test(takeover_v5_sends_disconnect_to_old_connection),
        V(disconnect_closes_and_stops_reconnecting),
        V(keepalive_client_pingreq_after_idle),
        cmocka_unit_test(keepalive_pingreq_despite_steady_qos0_publishing),
        V(keepalive_close_both_ends_on_silent_break),
        cmocka_unit_test(keepalive_broker_closes_after_one_and_a_half),
        V(connect_timeout_closes_and_reconnects),
        V(reconnect_backoff_ladder_exact),
        cmocka_unit_test(reconnect_backoff_with_jitter),
        cmocka_unit_test(rejected_session_configs),
        cmocka_unit_test(v5_receive_maximum_both_ways),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
