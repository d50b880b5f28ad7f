/* Session scenarios over streams: resumption resends, clean start, session present, expiry, offline queueing, refusals. */
#include "tests/scenario.h"

/*
 * P publishes on "t", S subscribes to it; both on streams with kept sessions
 * (3.1.1 CleanSession 0, 5.0 Session Expiry 3600 s). h_stream_pair connects
 * and subscribes them and clears the record, so t0 is a quiet moment. A
 * reconnect comes 1 s after the break (the first backoff step), is up 10 ms
 * later, and CONNECT/CONNACK take 10 ms each way.
 */

typedef struct {
    uint8_t version;
    mq_qos2_method method;
} variant;

static variant v311a = {MQ_V311, MQ_QOS2_A}, v5a = {MQ_V5, MQ_QOS2_A};
static variant v311b = {MQ_V311, MQ_QOS2_B}, v5b = {MQ_V5, MQ_QOS2_B};
#define VAR(state) ((const variant *)*(state))

/* ---- resumption resends --------------------------------------------------- */

/* The PUBLISH is lost with the connection; on resumption it goes again with
 * DUP=1 and the same identifier, after the CONNACK. */
static void reconnect_resends_qos1_publish_dup_same_id(void **state)
{
    h_net *h = h_stream_pair(VAR(state)->version, MQ_QOS2_A, 1, 4);
    h->check = true;
    h_publish(h, "P", "t", 1);
    h_run_until(h, 5);
    h_break(h, "P", H_BOTH, MQ_DOWN_RST);
    h_run_quiet(h, 5000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q1 m1",
             "t5 P down reset",
             "t5 B down reset",
             "t1005 P open",
             "t1015 P up",
             "t1015 P>B CONNECT",
             "t1025 B>P CONNACK",
             "t1035 P>B PUBLISH id1 q1 dup m1 (resend)",
             "t1035 P connected present",
             "t1045 B>S PUBLISH id1 q1 m1",
             "t1045 B>P PUBACK id1",
             "t1055 S got m1 q1",
             "t1055 S>B PUBACK id1");
    h_check_refs(h);
    h_free(h);
}

/* The PUBACK is lost with the connection: the broker already forwarded m1,
 * so the resent copy is forwarded again (QoS 1: at least once). */
static void reconnect_after_puback_lost_qos1_delivers_twice(void **state)
{
    h_net *h = h_stream_pair(VAR(state)->version, MQ_QOS2_A, 1, 4);
    h_publish(h, "P", "t", 1);
    h_run_until(h, 15);
    h_break(h, "P", H_BOTH, MQ_DOWN_RST);
    h_run_quiet(h, 5000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q1 m1",
             "t10 B>S PUBLISH id1 q1 m1",
             "t10 B>P PUBACK id1",
             "t15 P down reset",
             "t15 B down reset",
             "t20 S got m1 q1",
             "t20 S>B PUBACK id1",
             "t1015 P open",
             "t1025 P up",
             "t1025 P>B CONNECT",
             "t1035 B>P CONNACK",
             "t1045 P>B PUBLISH id1 q1 dup m1 (resend)",
             "t1045 P connected present",
             "t1055 B>S PUBLISH id2 q1 m1",
             "t1055 B>P PUBACK id1",
             "t1065 S got m1 q1",
             "t1065 S>B PUBACK id2");
    h_check_refs(h);
    h_free(h);
}

/* Past PUBREC the sender resends PUBREL, never the PUBLISH (§4.4): the
 * PUBREL was lost with the connection. Method A forwards at that PUBREL;
 * method B forwarded at the PUBLISH. */
static void qos2_after_pubrec_resends_pubrel_not_publish(void **state)
{
    const variant *v = VAR(state);
    h_net *h = h_stream_pair(v->version, v->method, 2, 4);
    h->check = true;
    h_publish(h, "P", "t", 2);
    h_run_until(h, 25);
    h_break(h, "P", H_BOTH, MQ_DOWN_RST);
    h_run_quiet(h, 5000);
    if (v->method == MQ_QOS2_A)
        h_expect(h,
                 "t0 P>B PUBLISH id1 q2 m1",
                 "t10 B>P PUBREC id1",
                 "t20 P>B PUBREL id1",
                 "t25 P down reset",
                 "t25 B down reset",
                 "t1025 P open",
                 "t1035 P up",
                 "t1035 P>B CONNECT",
                 "t1045 B>P CONNACK",
                 "t1055 P>B PUBREL id1 (resend)",
                 "t1055 P connected present",
                 "t1065 B>S PUBLISH id1 q2 m1",
                 "t1065 B>P PUBCOMP id1",
                 "t1075 S>B PUBREC id1",
                 "t1085 B>S PUBREL id1",
                 "t1095 S got m1 q2",
                 "t1095 S>B PUBCOMP id1");
    else
        h_expect(h,
                 "t0 P>B PUBLISH id1 q2 m1",
                 "t10 B>S PUBLISH id1 q2 m1",
                 "t10 B>P PUBREC id1",
                 "t20 S got m1 q2",
                 "t20 S>B PUBREC id1",
                 "t20 P>B PUBREL id1",
                 "t25 P down reset",
                 "t25 B down reset",
                 "t30 B>S PUBREL id1",
                 "t40 S>B PUBCOMP id1",
                 "t1025 P open",
                 "t1035 P up",
                 "t1035 P>B CONNECT",
                 "t1045 B>P CONNACK",
                 "t1055 P>B PUBREL id1 (resend)",
                 "t1055 P connected present",
                 "t1065 B>P PUBCOMP id1");
    h_check_refs(h);
    h_free(h);
}

/* The PUBCOMP is lost: the broker has completed the flow and forgotten the
 * identifier; P resends only PUBREL, the broker answers it all the same, and
 * m1 is delivered once. */
static void no_publish_resent_after_pubrel(void **state)
{
    h_net *h = h_stream_pair(VAR(state)->version, MQ_QOS2_A, 2, 4);
    h->check = true;
    h_publish(h, "P", "t", 2);
    h_run_until(h, 35);
    h_break(h, "P", H_BOTH, MQ_DOWN_RST);
    h_run_quiet(h, 5000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q2 m1",
             "t10 B>P PUBREC id1",
             "t20 P>B PUBREL id1",
             "t30 B>S PUBLISH id1 q2 m1",
             "t30 B>P PUBCOMP id1",
             "t35 P down reset",
             "t35 B down reset",
             "t40 S>B PUBREC id1",
             "t50 B>S PUBREL id1",
             "t60 S got m1 q2",
             "t60 S>B PUBCOMP id1",
             "t1035 P open",
             "t1045 P up",
             "t1045 P>B CONNECT",
             "t1055 B>P CONNACK",
             "t1065 P>B PUBREL id1 (resend)",
             "t1065 P connected present",
             "t1075 B event unknown_pubrel PUBREL id1",
             "t1075 B>P PUBCOMP id1");
    assert_int_equal(h_count(h, H_SEND, "P>B", MQ_PUBLISH, 1), 1);
    assert_int_equal(h_count(h, H_GOT, "S", 0, 1), 1);
    assert_true(mq_session_idle(h_csess(h, "P")));
    h_check_refs(h);
    h_free(h);
}

/* Four QoS 1 messages, a window of 2: two in flight and two queued when the
 * connection breaks. The two are resent first, in their order, then the
 * queue follows as PUBACKs free the window: S gets m1..m4 in order. */
static void order_kept_across_reconnect(void **state)
{
    uint8_t version = VAR(state)->version;
    mq_session_config b = h_cfg(version, MQ_QOS2_A);
    mq_session_config c = h_stream_cfg(version, MQ_QOS2_A);
    mq_session_config pc = c;
    pc.max_inflight = 2;
    h_net *h = h_new(&b, 8);
    h->check = true;
    h_client(h, "P", &pc);
    h_client(h, "S", &c);
    h_connect_all(h);
    h_subscribe(h, "S", "t", 1);
    for (int i = 0; i < 4; i++)
        h_publish(h, "P", "t", 1);
    h_run_until(h, 5);
    h_break(h, "P", H_BOTH, MQ_DOWN_RST);
    h_run_quiet(h, 5000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q1 m1",
             "t0 P>B PUBLISH id2 q1 m2",
             "t5 P down reset",
             "t5 B down reset",
             "t1005 P open",
             "t1015 P up",
             "t1015 P>B CONNECT",
             "t1025 B>P CONNACK",
             "t1035 P>B PUBLISH id1 q1 dup m1 (resend)",
             "t1035 P>B PUBLISH id2 q1 dup m2 (resend)",
             "t1035 P connected present",
             "t1045 B>S PUBLISH id1 q1 m1",
             "t1045 B>P PUBACK id1",
             "t1045 B>S PUBLISH id2 q1 m2",
             "t1045 B>P PUBACK id2",
             "t1055 S got m1 q1",
             "t1055 S>B PUBACK id1",
             "t1055 P>B PUBLISH id3 q1 m3",
             "t1055 S got m2 q1",
             "t1055 S>B PUBACK id2",
             "t1055 P>B PUBLISH id4 q1 m4",
             "t1065 B>S PUBLISH id3 q1 m3",
             "t1065 B>P PUBACK id3",
             "t1065 B>S PUBLISH id4 q1 m4",
             "t1065 B>P PUBACK id4",
             "t1075 S got m3 q1",
             "t1075 S>B PUBACK id3",
             "t1075 S got m4 q1",
             "t1075 S>B PUBACK id4");
    h_check_refs(h);
    h_free(h);
}

/* With timer retransmission the flight list is in deadline order: m1's
 * PUBREC at t20 moves it behind m2 (deadlines t120 and t115). Resumption
 * still goes in the original order: PUBREL for m1, then m2's PUBLISH. No
 * timer resend happens while disconnected. */
static void original_order_across_reconnect_with_timer_retransmit(void **state)
{
    (void)state;
    mq_session_config b = h_cfg(MQ_V311, MQ_QOS2_A);
    mq_session_config c = h_stream_cfg(MQ_V311, MQ_QOS2_A);
    mq_session_config pc = c;
    pc.retransmit = MQ_RETRANSMIT_TIMER;
    h_net *h = h_new(&b, 8);
    h->check = true;
    h_client(h, "P", &pc);
    h_client(h, "S", &c);
    h_connect_all(h);
    h_subscribe(h, "S", "t", 2);
    h_publish(h, "P", "t", 2);
    h_run_until(h, 15);
    h_publish(h, "P", "t", 1);
    h_run_until(h, 22);
    h_break(h, "P", H_BOTH, MQ_DOWN_RST);
    h_run_until(h, 1070);
    h_expect(h,
             "t0 P>B PUBLISH id1 q2 m1",
             "t10 B>P PUBREC id1",
             "t15 P>B PUBLISH id2 q1 m2",
             "t20 P>B PUBREL id1",
             "t22 P down reset",
             "t22 B down reset",
             "t1022 P open",
             "t1032 P up",
             "t1032 P>B CONNECT",
             "t1042 B>P CONNACK",
             "t1052 P>B PUBREL id1 (resend)",
             "t1052 P>B PUBLISH id2 q1 dup m2 (resend)",
             "t1052 P connected present",
             "t1062 B>S PUBLISH id1 q2 m1",
             "t1062 B>P PUBCOMP id1",
             "t1062 B>S PUBLISH id2 q1 m2",
             "t1062 B>P PUBACK id2");
    h_run_quiet(h, 5000);
    assert_int_equal(h_count(h, H_GOT, "S", 0, 1), 1);
    assert_int_equal(h_count(h, H_GOT, "S", 0, 2), 1);
    h_check_refs(h);
    h_free(h);
}

/* Subscribes and runs for ms (keepalive never lets the network go quiet). */
static void h_subscribe_until(h_net *h, const char *name, const char *filter, uint8_t qos,
                              int64_t ms)
{
    h_end *e = h_find(h, name);
    mq_sub sub = {filter, (uint16_t)strlen(filter), qos};
    assert_int_equal(mq_session_subscribe(e->s, h->now, &sub, 1), 0);
    h_run_until(h, ms);
    assert_int_equal(e->subscribed, 1);
    h_clear(h);
}

/* A QoS 2 message neither lost nor duplicated across a reconnect, for a
 * break at every 5 ms of its flow on either hop (the flow over both hops
 * takes 60 ms with method A, 40 with B), one end told, the other, or both;
 * with keepalive 5 s, so that a half-open end finds out and reconnects. */
static void qos2_neither_lost_nor_duplicated_across_reconnect(void **state)
{
    const variant *v = VAR(state);
    static const char *const who[] = {"P", "S"};
    static const int tell[] = {H_BOTH, H_CLIENT_ONLY, H_BROKER_ONLY};
    int runs = 0;
    for (int w = 0; w < 2; w++)
        for (int k = 0; k < 3; k++)
            for (int t = 0; t <= 70; t += 5) {
                mq_session_config b = h_cfg(v->version, v->method);
                mq_session_config c = h_stream_cfg(v->version, v->method);
                c.keepalive_s = 5; /* how a half-open end finds out */
                h_net *h = h_new(&b, 4);
                h->check = true;
                h_client(h, "P", &c);
                h_client(h, "S", &c);
                for (int i = 0; i < h->n_ends; i += 2)
                    assert_int_equal(mq_session_connect(h->e[i].s, h->now), 0);
                h_run_until(h, 100);
                h_clear(h);
                h_subscribe_until(h, "S", "t", 2, 100);
                h_publish(h, "P", "t", 2);
                h_run_until(h, t);
                h_break(h, who[w], tell[k], MQ_DOWN_RST);
                h_run_until(h, 60000);
                if (h_count(h, H_GOT, "S", 0, 1) != 1) {
                    h_print(h);
                    fail_msg("break of %s (%d) at t%d: m1 delivered %zu times", who[w], tell[k],
                             t, h_count(h, H_GOT, "S", 0, 1));
                }
                h_close_all(h);
                h_drop_transit(h);
                h_check_refs(h);
                h_free(h);
                runs++;
            }
    assert_int_equal(runs, 2 * 3 * 15);
}

/* The broker's PUBLISH to S is lost with S's connection; when S resumes, the
 * broker resends it (DUP=1, same identifier) right after its CONNACK. */
static void broker_resends_to_resumed_subscriber(void **state)
{
    h_net *h = h_stream_pair(VAR(state)->version, MQ_QOS2_A, 1, 4);
    h->check = true;
    h_publish(h, "P", "t", 1);
    h_run_until(h, 15);
    h_break(h, "S", H_BOTH, MQ_DOWN_RST);
    h_run_quiet(h, 5000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q1 m1",
             "t10 B>S PUBLISH id1 q1 m1",
             "t10 B>P PUBACK id1",
             "t15 S down reset",
             "t15 B down reset",
             "t1015 S open",
             "t1025 S up",
             "t1025 S>B CONNECT",
             "t1035 B>S CONNACK",
             "t1035 B>S PUBLISH id1 q1 dup m1 (resend)",
             "t1045 S connected present",
             "t1045 S got m1 q1 dup",
             "t1045 S>B PUBACK id1");
    h_check_refs(h);
    h_free(h);
}

/* ---- session ends ----------------------------------------------------------- */

/* Broker end: S's kept session holds m1 (queued while S was away); a client
 * connecting with S's id and clean start ends it (session_lost) and gets
 * session present 0. */
static void clean_start_discards_broker_session(void **state)
{
    uint8_t version = VAR(state)->version;
    mq_session_config b = h_cfg(version, MQ_QOS2_A);
    mq_session_config c = h_stream_cfg(version, MQ_QOS2_A);
    mq_session_config tc = c;
    tc.clean_start = true;
    tc.client_id = "S";
    h_net *h = h_new(&b, 4);
    h_client(h, "P", &c);
    h_client(h, "S", &c);
    h_client(h, "T", &tc);
    assert_int_equal(mq_session_connect(h_csess(h, "P"), h->now), 0);
    assert_int_equal(mq_session_connect(h_csess(h, "S"), h->now), 0);
    h_run_quiet(h, 1000);
    h_clear(h);
    h_subscribe(h, "S", "t", 1);
    h_break(h, "S", H_BOTH, MQ_DOWN_RST);
    h_publish(h, "P", "t", 1);
    h_run_until(h, 100);
    assert_int_equal(mq_session_queued(h_bsess(h, "S")), 1);
    assert_int_equal(mq_session_connect(h_csess(h, "T"), h->now), 0);
    h_run_until(h, 200);
    h_expect(h,
             "t0 S down reset",
             "t0 B down reset",
             "t0 P>B PUBLISH id1 q1 m1",
             "t10 B>P PUBACK id1",
             "t100 T open",
             "t110 T up",
             "t110 T>B CONNECT",
             "t120 B drop m1 q1 session_lost",
             "t120 B>T CONNACK",
             "t130 T connected");
    assert_int_equal(mq_broker_sessions(h->b), 2);
    h_close_all(h);
    h_drop_transit(h);
    h_check_refs(h);
    h_free(h);
}

/* Client end: with a session that ends with its connection (3.1.1 clean
 * start, 5.0 expiry 0), P's in-flight m1 is lost at the break
 * (session_lost); m2, only queued behind the window, was never sent and is
 * not session state, so it goes on the next connection. */
static void clean_session_client_loses_inflight_keeps_queued(void **state)
{
    uint8_t version = VAR(state)->version;
    mq_session_config b = h_cfg(version, MQ_QOS2_A);
    mq_session_config c = h_stream_cfg(version, MQ_QOS2_A);
    mq_session_config pc = c;
    pc.clean_start = true;
    pc.session_expiry_s = 0;
    pc.max_inflight = 1;
    h_net *h = h_new(&b, 4);
    h->check = true;
    h_client(h, "P", &pc);
    h_client(h, "S", &c);
    h_connect_all(h);
    h_subscribe(h, "S", "t", 1);
    h_publish(h, "P", "t", 1);
    h_publish(h, "P", "t", 1);
    h_run_until(h, 5);
    h_break(h, "P", H_BOTH, MQ_DOWN_RST);
    h_run_quiet(h, 5000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q1 m1",
             "t5 P down reset",
             "t5 P drop m1 q1 session_lost",
             "t5 B down reset",
             "t1005 P open",
             "t1015 P up",
             "t1015 P>B CONNECT",
             "t1025 B>P CONNACK",
             "t1035 P>B PUBLISH id1 q1 m2",
             "t1035 P connected",
             "t1045 B>S PUBLISH id1 q1 m2",
             "t1045 B>P PUBACK id1",
             "t1055 S got m2 q1",
             "t1055 S>B PUBACK id1");
    h_check_refs(h);
    h_free(h);
}

/* The broker loses everything (a restart without persistence) while P has
 * m1 in flight: every connection is closed, both clients reconnect, get
 * session present 0, P ends m1 (session_lost) and S subscribes again from
 * its list. */
static void session_present_0_after_broker_restart(void **state)
{
    h_net *h = h_stream_pair(VAR(state)->version, MQ_QOS2_A, 1, 4);
    h->check = true;
    h_publish(h, "P", "t", 1);
    h_run_until(h, 5);
    mq_broker_restart(h->b, h->now);
    h_run_until(h, 1100);
    h_expect(h,
             "t0 P>B PUBLISH id1 q1 m1",
             "t5 B close broker_restart",
             "t5 B close broker_restart",
             "t15 S down fin",
             "t15 P down fin",
             "t1015 P open",
             "t1015 S open",
             "t1025 P up",
             "t1025 P>B CONNECT",
             "t1025 S up",
             "t1025 S>B CONNECT",
             "t1035 B>P CONNACK",
             "t1035 B>S CONNACK",
             "t1045 P drop m1 q1 session_lost",
             "t1045 P connected",
             "t1045 S>B SUBSCRIBE id1",
             "t1045 S connected",
             "t1055 B>S SUBACK id1",
             "t1065 S subscribed 1");
    h_check_refs(h);
    h_free(h);
}

/* 5.0, expiry 2 s: P's session at the broker expires during a long outage
 * (two refused opens), so the CONNACK says session present 0 to a client
 * with a flow in flight: m1 is lost (session_lost); m2, published during the
 * outage and only queued, goes under a fresh identifier. */
static void session_present_0_to_client_with_state(void **state)
{
    (void)state;
    mq_session_config b = h_cfg(MQ_V5, MQ_QOS2_A);
    mq_session_config c = h_stream_cfg(MQ_V5, MQ_QOS2_A);
    c.session_expiry_s = 2;
    h_net *h = h_new(&b, 4);
    h->check = true;
    h_client(h, "P", &c);
    h_connect_all(h);
    h_publish(h, "P", "t", 1);
    h_run_until(h, 5);
    h_break(h, "P", H_BOTH, MQ_DOWN_RST);
    h_refuse(h, "P", 2);
    h_run_until(h, 4000);
    assert_int_equal(mq_broker_sessions(h->b), 0); /* expired at t2005 */
    h_publish(h, "P", "t", 1);
    h_run_quiet(h, 10000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q1 m1",
             "t5 P down reset",
             "t5 B down reset",
             "t1005 P open",
             "t1015 P refused",
             "t3015 P open",
             "t3025 P refused",
             "t7025 P open",
             "t7035 P up",
             "t7035 P>B CONNECT",
             "t7045 B>P CONNACK",
             "t7055 P drop m1 q1 session_lost",
             "t7055 P>B PUBLISH id1 q1 m2",
             "t7055 P connected",
             "t7065 B>P PUBACK id1");
    h_check_refs(h);
    h_free(h);
}

/* 5.0, expiry 0: S's session ends with its connection, subscriptions and
 * all, so m1 goes nowhere; S's CONNACK says present 0 and S subscribes again
 * from its list (a fresh session: identifier 1). */
static void v5_session_expiry_zero_ends_with_connection(void **state)
{
    (void)state;
    mq_session_config b = h_cfg(MQ_V5, MQ_QOS2_A);
    mq_session_config c = h_stream_cfg(MQ_V5, MQ_QOS2_A);
    mq_session_config sc = c;
    sc.session_expiry_s = 0;
    h_net *h = h_new(&b, 4);
    h->check = true;
    h_client(h, "P", &c);
    h_client(h, "S", &sc);
    h_connect_all(h);
    h_subscribe(h, "S", "t", 1);
    h_break(h, "S", H_BOTH, MQ_DOWN_RST);
    assert_int_equal(mq_broker_sessions(h->b), 1);
    h_run_until(h, 100);
    h_publish(h, "P", "t", 1);
    h_run_until(h, 1100);
    h_publish(h, "P", "t", 1);
    h_run_quiet(h, 5000);
    h_expect(h,
             "t0 S down reset",
             "t0 B down reset",
             "t100 P>B PUBLISH id1 q1 m1",
             "t110 B>P PUBACK id1",
             "t1000 S open",
             "t1010 S up",
             "t1010 S>B CONNECT",
             "t1020 B>S CONNACK",
             "t1030 S>B SUBSCRIBE id1",
             "t1030 S connected",
             "t1040 B>S SUBACK id1",
             "t1050 S subscribed 1",
             "t1100 P>B PUBLISH id2 q1 m2",
             "t1110 B>S PUBLISH id1 q1 m2",
             "t1110 B>P PUBACK id2",
             "t1120 S got m2 q1",
             "t1120 S>B PUBACK id1");
    h_check_refs(h);
    h_free(h);
}

/* ---- queueing without a connection --------------------------------------- */

/* At the broker: S's kept session has no connection; QoS 1 and 2 queue up
 * to max_queued (2), the next is queue_full, and QoS 0 is dropped as
 * disconnected (Mosquitto's queue_qos0_messages false). Method B, so the
 * QoS 2 message is passed on at its PUBLISH. When S is back, the queue
 * drains in order. */
static void broker_queues_for_offline_session(void **state)
{
    uint8_t version = VAR(state)->version;
    mq_session_config b = h_cfg(version, MQ_QOS2_B);
    b.max_queued = 2;
    mq_session_config c = h_stream_cfg(version, MQ_QOS2_B);
    h_net *h = h_new(&b, 8);
    h->check = true;
    h_client(h, "P", &c);
    h_client(h, "S", &c);
    h_connect_all(h);
    h_subscribe(h, "S", "t", 2);
    h_break(h, "S", H_BOTH, MQ_DOWN_RST);
    h_publish(h, "P", "t", 1);
    h_publish(h, "P", "t", 2);
    h_publish(h, "P", "t", 1);
    h_publish(h, "P", "t", 0);
    h_run_quiet(h, 5000);
    h_expect(h,
             "t0 S down reset",
             "t0 B down reset",
             "t0 P>B PUBLISH id1 q1 m1",
             "t0 P>B PUBLISH id2 q2 m2",
             "t0 P>B PUBLISH id3 q1 m3",
             "t0 P>B PUBLISH q0 m4",
             "t10 B>P PUBACK id1",
             "t10 B>P PUBREC id2",
             "t10 B drop m3 q1 queue_full",
             "t10 B>P PUBACK id3",
             "t10 B drop m4 q0 disconnected",
             "t20 P>B PUBREL id2",
             "t30 B>P PUBCOMP id2",
             "t1000 S open",
             "t1010 S up",
             "t1010 S>B CONNECT",
             "t1020 B>S CONNACK",
             "t1020 B>S PUBLISH id1 q1 m1",
             "t1020 B>S PUBLISH id2 q2 m2",
             "t1030 S connected present",
             "t1030 S got m1 q1",
             "t1030 S>B PUBACK id1",
             "t1030 S got m2 q2",
             "t1030 S>B PUBREC id2",
             "t1040 B>S PUBREL id2",
             "t1050 S>B PUBCOMP id2");
    h_check_refs(h);
    h_free(h);
}

/* With queue_qos0 the broker keeps QoS 0 for an offline session too, in
 * order with the rest, and sends it once when S is back. */
static void broker_queues_qos0_when_asked(void **state)
{
    (void)state;
    mq_session_config b = h_cfg(MQ_V311, MQ_QOS2_B);
    b.queue_qos0 = true;
    mq_session_config c = h_stream_cfg(MQ_V311, MQ_QOS2_B);
    h_net *h = h_new(&b, 8);
    h_client(h, "P", &c);
    h_client(h, "S", &c);
    h_connect_all(h);
    h_subscribe(h, "S", "t", 1);
    h_break(h, "S", H_BOTH, MQ_DOWN_RST);
    h_publish(h, "P", "t", 1);
    h_publish(h, "P", "t", 0);
    h_publish(h, "P", "t", 1);
    h_run_until(h, 100);
    assert_int_equal(mq_session_queued(h_bsess(h, "S")), 3);
    h_clear(h);
    h_run_quiet(h, 5000);
    h_expect(h,
             "t900 S open",
             "t910 S up",
             "t910 S>B CONNECT",
             "t920 B>S CONNACK",
             "t920 B>S PUBLISH id1 q1 m1",
             "t920 B>S PUBLISH q0 m2",
             "t920 B>S PUBLISH id2 q1 m3",
             "t930 S connected present",
             "t930 S got m1 q1",
             "t930 S>B PUBACK id1",
             "t930 S got m2 q0",
             "t930 S got m3 q1",
             "t930 S>B PUBACK id2");
    h_check_refs(h);
    h_free(h);
}

/* At the client: while disconnected its QoS 1 message waits (sent, not as a
 * resend, on the next connection) and QoS 0 is dropped as disconnected. */
static void client_queues_while_disconnected(void **state)
{
    h_net *h = h_stream_pair(VAR(state)->version, MQ_QOS2_A, 1, 4);
    h->check = true;
    h_break(h, "P", H_BOTH, MQ_DOWN_RST);
    h_publish(h, "P", "t", 1);
    assert_int_equal(h->last_rc, 0);
    assert_int_equal(mq_session_queued(h_csess(h, "P")), 1);
    h_publish(h, "P", "t", 0);
    assert_int_equal(h->last_rc, 1);
    h_run_quiet(h, 5000);
    h_expect(h,
             "t0 P down reset",
             "t0 B down reset",
             "t0 P drop m2 q0 disconnected",
             "t1000 P open",
             "t1010 P up",
             "t1010 P>B CONNECT",
             "t1020 B>P CONNACK",
             "t1030 P>B PUBLISH id1 q1 m1",
             "t1030 P connected present",
             "t1040 B>S PUBLISH id1 q1 m1",
             "t1040 B>P PUBACK id1",
             "t1050 S got m1 q1",
             "t1050 S>B PUBACK id1");
    h_check_refs(h);
    h_free(h);
}

/* ---- 5.0 refusals ------------------------------------------------------------ */

/* §4.3.2, §4.3.3: a PUBACK or PUBREC with a reason code >= 0x80 ends the
 * flow (refused; no PUBREL). The refusals are injected ahead of the
 * broker's real answers, which then match no flow. */
static void v5_puback_pubrec_reason_ends_flow_refused(void **state)
{
    (void)state;
    h_net *h = h_pair(MQ_V5, MQ_QOS2_A, 2, 4);
    h->check = true;
    int p = h_find(h, "P")->idx;
    h_publish(h, "P", "x", 1);
    h_publish(h, "P", "x", 2);
    mq_packet k;
    memset(&k, 0, sizeof k);
    k.type = MQ_PUBACK;
    k.id = 1;
    k.reason = 0x87; /* not authorized */
    h_inject(h, p, &k, NULL);
    k.type = MQ_PUBREC;
    k.id = 2;
    k.reason = 0x80; /* unspecified error */
    h_inject(h, p, &k, NULL);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q1 m1",
             "t0 P>B PUBLISH id2 q2 m2",
             "t0 P drop m1 q1 refused",
             "t0 P drop m2 q2 refused",
             "t10 B>P PUBACK id1",
             "t10 B>P PUBREC id2",
             "t20 P event unknown_puback PUBACK id1",
             "t20 P event unknown_pubrec PUBREC id2");
    assert_true(mq_session_idle(h_csess(h, "P")));
    h_close_all(h);
    h_check_refs(h);
    h_free(h);
}

#define V(f) cmocka_unit_test_prestate(f, &v311a), cmocka_unit_test_prestate(f, &v5a)
#define VM(f)                                                                          \
    cmocka_unit_test_prestate(f, &v311a), cmocka_unit_test_prestate(f, &v5a),          \
        cmocka_unit_test_prestate(f, &v311b), cmocka_unit_test_prestate(f, &v5b)

int main(void)
{
    const struct CMUnitTest tests[] = {
        V(reconnect_resends_qos1_publish_dup_same_id),
        V(reconnect_after_puback_lost_qos1_delivers_twice),
        VM(qos2_after_pubrec_resends_pubrel_not_publish),
        V(no_publish_resent_after_pubrel),
        V(order_kept_across_reconnect),
        cmocka_unit_test(original_order_across_reconnect_with_timer_retransmit),
        VM(qos2_neither_lost_nor_duplicated_across_reconnect),
        V(broker_resends_to_resumed_subscriber),
        V(clean_start_discards_broker_session),
        V(clean_session_client_loses_inflight_keeps_queued),
        V(session_present_0_after_broker_restart),
        cmocka_unit_test(session_present_0_to_client_with_state),
        cmocka_unit_test(v5_session_expiry_zero_ends_with_connection),
        V(broker_queues_for_offline_session),
        cmocka_unit_test(broker_queues_qos0_when_asked),
        V(client_queues_while_disconnected),
        cmocka_unit_test(v5_puback_pubrec_reason_ends_flow_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
