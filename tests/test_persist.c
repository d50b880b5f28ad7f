/* Broker restarts with persistence: what a saved image brings back, what is lost since the save, and what comes twice. */
#include "tests/scenario.h"

/*
 * P publishes on "t", S subscribes to it; both on streams with kept sessions
 * (3.1.1 CleanSession 0, 5.0 Session Expiry 3600 s), as in test_resume.c: a
 * reconnect comes 1 s after a close, is up 10 ms later, and each packet
 * takes 10 ms. A restart closes every connection at once (the FIN reaches
 * the client 10 ms later, after the bytes sent before it).
 */

typedef struct {
    uint8_t version;
    mq_qos2_method method;
} variant;

static variant v311a = {MQ_V311, MQ_QOS2_A}, v5a = {MQ_V5, MQ_QOS2_A};
static variant v311b = {MQ_V311, MQ_QOS2_B}, v5b = {MQ_V5, MQ_QOS2_B};
#define VAR(state) ((const variant *)*(state))

static h_net *pair(const variant *v, mq_persist p)
{
    h_net *h = h_stream_pair(v->version, v->method, 2, 8);
    mq_broker_set_persistence(h->b, p);
    h->check = true;
    return h;
}

/* S leaves (DISCONNECT; its session stays at the broker) and the exchange
 * runs out. */
static void leave(h_net *h, const char *name)
{
    mq_session_disconnect(h_csess(h, name), h->now);
}

static void back(h_net *h, const char *name)
{
    assert_int_equal(mq_session_connect(h_csess(h, name), h->now), 0);
}

/* Every change saved: S is offline with m1 (QoS 1) and m2 (QoS 2) queued
 * for it when the broker restarts. Both clients come back to their
 * sessions (present), and S gets each message once. */
static void every_change_offline_subscriber_gets_queue_once(void **state)
{
    h_net *h = pair(VAR(state), MQ_PERSIST_EVERY_CHANGE);
    leave(h, "S");
    h_run_until(h, 50);
    h_publish(h, "P", "t", 1);
    h_publish(h, "P", "t", 2);
    h_run_until(h, 500);
    assert_int_equal(mq_session_queued(h_bsess(h, "S")), 2);
    assert_int_equal(mq_broker_restart(h->b, h->now), 0);
    assert_int_equal(mq_broker_sessions(h->b), 2);
    h_run_until(h, 2000);
    back(h, "S");
    h_run_quiet(h, 5000);
    if (VAR(state)->method == MQ_QOS2_A)
        h_expect(h,
                 "t0 S>B DISCONNECT",
                 "t0 S close client_disconnect",
                 "t10 B close client_disconnect",
                 "t50 P>B PUBLISH id1 q1 m1",
                 "t50 P>B PUBLISH id2 q2 m2",
                 "t60 B>P PUBACK id1",
                 "t60 B>P PUBREC id2",
                 "t70 P>B PUBREL id2",
                 "t80 B>P PUBCOMP id2",
                 "t500 B close broker_restart",
                 "t510 P down fin",
                 "t1510 P open",
                 "t1520 P up",
                 "t1520 P>B CONNECT",
                 "t1530 B>P CONNACK",
                 "t1540 P connected present",
                 "t2000 S open",
                 "t2010 S up",
                 "t2010 S>B CONNECT",
                 "t2020 B>S CONNACK",
                 "t2020 B>S PUBLISH id1 q1 m1",
                 "t2020 B>S PUBLISH id2 q2 m2",
                 "t2030 S connected present",
                 "t2030 S got m1 q1",
                 "t2030 S>B PUBACK id1",
                 "t2030 S>B PUBREC id2",
                 "t2040 B>S PUBREL id2",
                 "t2050 S got m2 q2",
                 "t2050 S>B PUBCOMP id2");
    else
        h_expect(h,
                 "t0 S>B DISCONNECT",
                 "t0 S close client_disconnect",
                 "t10 B close client_disconnect",
                 "t50 P>B PUBLISH id1 q1 m1",
                 "t50 P>B PUBLISH id2 q2 m2",
                 "t60 B>P PUBACK id1",
                 "t60 B>P PUBREC id2",
                 "t70 P>B PUBREL id2",
                 "t80 B>P PUBCOMP id2",
                 "t500 B close broker_restart",
                 "t510 P down fin",
                 "t1510 P open",
                 "t1520 P up",
                 "t1520 P>B CONNECT",
                 "t1530 B>P CONNACK",
                 "t1540 P connected present",
                 "t2000 S open",
                 "t2010 S up",
                 "t2010 S>B CONNECT",
                 "t2020 B>S CONNACK",
                 "t2020 B>S PUBLISH id1 q1 m1",
                 "t2020 B>S PUBLISH id2 q2 m2",
                 "t2030 S connected present",
                 "t2030 S got m1 q1",
                 "t2030 S>B PUBACK id1",
                 "t2030 S got m2 q2",
                 "t2030 S>B PUBREC id2",
                 "t2040 B>S PUBREL id2",
                 "t2050 S>B PUBCOMP id2");
    assert_int_equal(h_count(h, H_GOT, "S", 0, 1), 1);
    assert_int_equal(h_count(h, H_GOT, "S", 0, 2), 1);
    assert_int_equal(h_count(h, H_DROP, "B", 0, 0), 0);
    h_close_all(h);
    h_check_refs(h);
    h_free(h);
}


/* Every change saved: the broker holds m1's QoS 2 identifier (PUBREC
 * sent) when it restarts; P's PUBREL, resent on its resumed session, finds
 * it. Method A delivers the stored m1 then; method B had forwarded it at
 * the PUBLISH. S gets m1 once either way. Without persistence the PUBREL
 * finds nothing (unknown_pubrel) and method A loses m1. */
static void every_change_held_qos2_id_survives(void **state)
{
    const variant *v = VAR(state);
    h_net *h = pair(v, MQ_PERSIST_EVERY_CHANGE);
    h_publish(h, "P", "t", 2);
    h_run_until(h, 15);
    assert_true(mq_session_holds(h_bsess(h, "P"), 1));
    assert_int_equal(mq_broker_restart(h->b, h->now), 0);
    h_run_quiet(h, 5000);
    if (VAR(state)->method == MQ_QOS2_A)
        h_expect(h,
                 "t0 P>B PUBLISH id1 q2 m1",
                 "t10 B>P PUBREC id1",
                 "t15 B close broker_restart",
                 "t15 B close broker_restart",
                 "t20 P>B PUBREL id1 LOST",
                 "t25 S down fin",
                 "t25 P down fin",
                 "t1025 P open",
                 "t1025 S open",
                 "t1035 P up",
                 "t1035 P>B CONNECT",
                 "t1035 S up",
                 "t1035 S>B CONNECT",
                 "t1045 B>P CONNACK",
                 "t1045 B>S CONNACK",
                 "t1055 P>B PUBREL id1 (resend)",
                 "t1055 P connected present",
                 "t1055 S connected present",
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
                 "t15 B close broker_restart",
                 "t15 B close broker_restart",
                 "t20 S got m1 q2",
                 "t20 S>B PUBREC id1 LOST",
                 "t20 P>B PUBREL id1 LOST",
                 "t25 S down fin",
                 "t25 P down fin",
                 "t1025 P open",
                 "t1025 S open",
                 "t1035 P up",
                 "t1035 P>B CONNECT",
                 "t1035 S up",
                 "t1035 S>B CONNECT",
                 "t1045 B>P CONNACK",
                 "t1045 B>S CONNACK",
                 "t1045 B>S PUBLISH id1 q2 dup m1 (resend)",
                 "t1055 P>B PUBREL id1 (resend)",
                 "t1055 P connected present",
                 "t1055 S connected present",
                 "t1055 S event qos2_dup_suppressed PUBLISH id1",
                 "t1055 S>B PUBREC id1",
                 "t1065 B>P PUBCOMP id1",
                 "t1065 B>S PUBREL id1",
                 "t1075 S>B PUBCOMP id1");
    assert_int_equal(h_count(h, H_GOT, "S", 0, 1), 1);
    assert_int_equal(h_count(h, H_DROP, "B", 0, 0), 0);
    h_close_all(h);
    h_check_refs(h);
    h_free(h);
}

/* The same restart without persistence: P's resent PUBREL finds no
 * identifier; with method A m1 is lost (it was stored at the broker). */
static void off_held_qos2_id_forgotten(void **state)
{
    const variant *v = VAR(state);
    h_net *h = pair(v, MQ_PERSIST_OFF);
    h_publish(h, "P", "t", 2);
    h_run_until(h, 15);
    assert_int_equal(mq_broker_restart(h->b, h->now), 0);
    assert_int_equal(mq_broker_sessions(h->b), 0);
    h_run_quiet(h, 5000);
    if (VAR(state)->method == MQ_QOS2_A)
        h_expect(h,
                 "t0 P>B PUBLISH id1 q2 m1",
                 "t10 B>P PUBREC id1",
                 "t15 B close broker_restart",
                 "t15 B close broker_restart",
                 "t15 B drop m1 q2 broker_restart",
                 "t20 P>B PUBREL id1 LOST",
                 "t25 S down fin",
                 "t25 P down fin",
                 "t1025 P open",
                 "t1025 S open",
                 "t1035 P up",
                 "t1035 P>B CONNECT",
                 "t1035 S up",
                 "t1035 S>B CONNECT",
                 "t1045 B>P CONNACK",
                 "t1045 B>S CONNACK",
                 "t1055 P drop - q2 session_lost",
                 "t1055 P connected",
                 "t1055 S>B SUBSCRIBE id1",
                 "t1055 S connected",
                 "t1065 B>S SUBACK id1",
                 "t1075 S subscribed 2");
    else
        h_expect(h,
                 "t0 P>B PUBLISH id1 q2 m1",
                 "t10 B>S PUBLISH id1 q2 m1",
                 "t10 B>P PUBREC id1",
                 "t15 B close broker_restart",
                 "t15 B close broker_restart",
                 "t15 B drop m1 q2 broker_restart",
                 "t20 S got m1 q2",
                 "t20 S>B PUBREC id1 LOST",
                 "t20 P>B PUBREL id1 LOST",
                 "t25 S down fin",
                 "t25 P down fin",
                 "t1025 P open",
                 "t1025 S open",
                 "t1035 P up",
                 "t1035 P>B CONNECT",
                 "t1035 S up",
                 "t1035 S>B CONNECT",
                 "t1045 B>P CONNACK",
                 "t1045 B>S CONNACK",
                 "t1055 P drop - q2 session_lost",
                 "t1055 P connected",
                 "t1055 S>B SUBSCRIBE id1",
                 "t1055 S connected",
                 "t1065 B>S SUBACK id1",
                 "t1075 S subscribed 2");
    assert_int_equal(h_count(h, H_GOT, "S", 0, 1), VAR(state)->method == MQ_QOS2_A ? 0 : 1);
    h_close_all(h);
    h_check_refs(h);
    h_free(h);
}

/* A save at t100 holds S's queue (m1 QoS 1, m2 QoS 2). S then takes both
 * and leaves again; m3 (QoS 1) and m4 (QoS 2) queue for it after the save.
 * The restart brings back the image: m3 and m4, received after the save,
 * are lost (broker_restart, on S's session); m1 and m2, acknowledged after
 * the save, come back queued and are sent again as new flows (DUP 0, fresh
 * identifiers): S gets each a second time, at QoS 2 too. S's subscription,
 * saved with its session, routes m5 after the restart. */
static void saves_restart_between_saves_loses_and_duplicates(void **state)
{
    h_net *h = pair(VAR(state), MQ_PERSIST_SAVES);
    leave(h, "S");
    h_run_until(h, 50);
    h_publish(h, "P", "t", 1);
    h_publish(h, "P", "t", 2);
    h_run_until(h, 100);
    assert_int_equal(mq_broker_save(h->b, h->now), 0);
    assert_int_equal(mq_broker_saved_sessions(h->b), 2);
    h_run_until(h, 200);
    back(h, "S");
    h_run_until(h, 500);
    leave(h, "S");
    h_run_until(h, 600);
    h_publish(h, "P", "t", 1);
    h_publish(h, "P", "t", 2);
    h_run_until(h, 700);
    assert_int_equal(mq_broker_restart(h->b, h->now), 0);
    h_run_until(h, 2000);
    back(h, "S");
    h_run_until(h, 2500);
    h_publish(h, "P", "t", 1);
    h_run_quiet(h, 5000);
    if (VAR(state)->method == MQ_QOS2_A)
        h_expect(h,
                 "t0 S>B DISCONNECT",
                 "t0 S close client_disconnect",
                 "t10 B close client_disconnect",
                 "t50 P>B PUBLISH id1 q1 m1",
                 "t50 P>B PUBLISH id2 q2 m2",
                 "t60 B>P PUBACK id1",
                 "t60 B>P PUBREC id2",
                 "t70 P>B PUBREL id2",
                 "t80 B>P PUBCOMP id2",
                 "t200 S open",
                 "t210 S up",
                 "t210 S>B CONNECT",
                 "t220 B>S CONNACK",
                 "t220 B>S PUBLISH id1 q1 m1",
                 "t220 B>S PUBLISH id2 q2 m2",
                 "t230 S connected present",
                 "t230 S got m1 q1",
                 "t230 S>B PUBACK id1",
                 "t230 S>B PUBREC id2",
                 "t240 B>S PUBREL id2",
                 "t250 S got m2 q2",
                 "t250 S>B PUBCOMP id2",
                 "t500 S>B DISCONNECT",
                 "t500 S close client_disconnect",
                 "t510 B close client_disconnect",
                 "t600 P>B PUBLISH id3 q1 m3",
                 "t600 P>B PUBLISH id4 q2 m4",
                 "t610 B>P PUBACK id3",
                 "t610 B>P PUBREC id4",
                 "t620 P>B PUBREL id4",
                 "t630 B>P PUBCOMP id4",
                 "t700 B close broker_restart",
                 "t700 B drop m3 q1 broker_restart",
                 "t700 B drop m4 q2 broker_restart",
                 "t710 P down fin",
                 "t1710 P open",
                 "t1720 P up",
                 "t1720 P>B CONNECT",
                 "t1730 B>P CONNACK",
                 "t1740 P connected present",
                 "t2000 S open",
                 "t2010 S up",
                 "t2010 S>B CONNECT",
                 "t2020 B>S CONNACK",
                 "t2020 B>S PUBLISH id1 q1 m1",
                 "t2020 B>S PUBLISH id2 q2 m2",
                 "t2030 S connected present",
                 "t2030 S got m1 q1",
                 "t2030 S>B PUBACK id1",
                 "t2030 S>B PUBREC id2",
                 "t2040 B>S PUBREL id2",
                 "t2050 S got m2 q2",
                 "t2050 S>B PUBCOMP id2",
                 "t2500 P>B PUBLISH id5 q1 m5",
                 "t2510 B>S PUBLISH id3 q1 m5",
                 "t2510 B>P PUBACK id5",
                 "t2520 S got m5 q1",
                 "t2520 S>B PUBACK id3");
    else
        h_expect(h,
                 "t0 S>B DISCONNECT",
                 "t0 S close client_disconnect",
                 "t10 B close client_disconnect",
                 "t50 P>B PUBLISH id1 q1 m1",
                 "t50 P>B PUBLISH id2 q2 m2",
                 "t60 B>P PUBACK id1",
                 "t60 B>P PUBREC id2",
                 "t70 P>B PUBREL id2",
                 "t80 B>P PUBCOMP id2",
                 "t200 S open",
                 "t210 S up",
                 "t210 S>B CONNECT",
                 "t220 B>S CONNACK",
                 "t220 B>S PUBLISH id1 q1 m1",
                 "t220 B>S PUBLISH id2 q2 m2",
                 "t230 S connected present",
                 "t230 S got m1 q1",
                 "t230 S>B PUBACK id1",
                 "t230 S got m2 q2",
                 "t230 S>B PUBREC id2",
                 "t240 B>S PUBREL id2",
                 "t250 S>B PUBCOMP id2",
                 "t500 S>B DISCONNECT",
                 "t500 S close client_disconnect",
                 "t510 B close client_disconnect",
                 "t600 P>B PUBLISH id3 q1 m3",
                 "t600 P>B PUBLISH id4 q2 m4",
                 "t610 B>P PUBACK id3",
                 "t610 B>P PUBREC id4",
                 "t620 P>B PUBREL id4",
                 "t630 B>P PUBCOMP id4",
                 "t700 B close broker_restart",
                 "t700 B drop m3 q1 broker_restart",
                 "t700 B drop m4 q2 broker_restart",
                 "t710 P down fin",
                 "t1710 P open",
                 "t1720 P up",
                 "t1720 P>B CONNECT",
                 "t1730 B>P CONNACK",
                 "t1740 P connected present",
                 "t2000 S open",
                 "t2010 S up",
                 "t2010 S>B CONNECT",
                 "t2020 B>S CONNACK",
                 "t2020 B>S PUBLISH id1 q1 m1",
                 "t2020 B>S PUBLISH id2 q2 m2",
                 "t2030 S connected present",
                 "t2030 S got m1 q1",
                 "t2030 S>B PUBACK id1",
                 "t2030 S got m2 q2",
                 "t2030 S>B PUBREC id2",
                 "t2040 B>S PUBREL id2",
                 "t2050 S>B PUBCOMP id2",
                 "t2500 P>B PUBLISH id5 q1 m5",
                 "t2510 B>S PUBLISH id3 q1 m5",
                 "t2510 B>P PUBACK id5",
                 "t2520 S got m5 q1",
                 "t2520 S>B PUBACK id3");
    for (uint64_t m = 1; m <= 2; m++)
        assert_int_equal(h_count(h, H_GOT, "S", 0, m), 2);
    for (uint64_t m = 3; m <= 4; m++) {
        assert_int_equal(h_count(h, H_GOT, "S", 0, m), 0);
        assert_int_equal(h_count(h, H_DROP, "B", 0, m), 1);
    }
    assert_int_equal(h_count(h, H_GOT, "S", 0, 5), 1);
    h_close_all(h);
    h_check_refs(h);
    h_free(h);
}

/* Before the first save the image is empty: a restart loses everything, as
 * without persistence. */
static void saves_before_first_save_loses_all(void **state)
{
    h_net *h = pair(VAR(state), MQ_PERSIST_SAVES);
    leave(h, "S");
    h_run_until(h, 50);
    h_publish(h, "P", "t", 1);
    h_publish(h, "P", "t", 2);
    h_run_until(h, 100);
    assert_int_equal(mq_broker_restart(h->b, h->now), 0);
    assert_int_equal(mq_broker_sessions(h->b), 0);
    h_run_until(h, 2000);
    back(h, "S");
    h_run_quiet(h, 5000);
    h_expect(h,
             "t0 S>B DISCONNECT",
             "t0 S close client_disconnect",
             "t10 B close client_disconnect",
             "t50 P>B PUBLISH id1 q1 m1",
             "t50 P>B PUBLISH id2 q2 m2",
             "t60 B>P PUBACK id1",
             "t60 B>P PUBREC id2",
             "t70 P>B PUBREL id2",
             "t80 B>P PUBCOMP id2",
             "t100 B close broker_restart",
             "t100 B drop m1 q1 broker_restart",
             "t100 B drop m2 q2 broker_restart",
             "t110 P down fin",
             "t1110 P open",
             "t1120 P up",
             "t1120 P>B CONNECT",
             "t1130 B>P CONNACK",
             "t1140 P connected",
             "t2000 S open",
             "t2010 S up",
             "t2010 S>B CONNECT",
             "t2020 B>S CONNACK",
             "t2030 S>B SUBSCRIBE id1",
             "t2030 S connected",
             "t2040 B>S SUBACK id1",
             "t2050 S subscribed 2");
    h_close_all(h);
    h_check_refs(h);
    h_free(h);
}

/* A QoS 2 flow to S saved waiting for PUBREC, completed after the save:
 * the restored flow is resent on S's resumption (DUP 1, same identifier),
 * S no longer holds the identifier, and takes it for a new message: a
 * duplicate. */
static void saves_restored_qos2_flow_delivered_again(void **state)
{
    const variant *v = VAR(state);
    h_net *h = pair(v, MQ_PERSIST_SAVES);
    h_publish(h, "P", "t", 2);
    /* just after the broker sent m1 to S: at the PUBREL (method A) or at
     * the PUBLISH (method B) */
    h_run_until(h, v->method == MQ_QOS2_A ? 32 : 12);
    mq_msg_state st;
    assert_true(mq_session_flow_state(h_bsess(h, "S"), 1, &st));
    assert_int_equal(st, MQ_MS_WAIT_PUBREC);
    assert_int_equal(mq_broker_save(h->b, h->now), 0);
    h_run_until(h, 100);
    assert_true(mq_session_idle(h_bsess(h, "S")));
    assert_int_equal(mq_broker_restart(h->b, h->now), 0);
    h_run_quiet(h, 5000);
    if (VAR(state)->method == MQ_QOS2_A)
        h_expect(h,
                 "t0 P>B PUBLISH id1 q2 m1",
                 "t10 B>P PUBREC id1",
                 "t20 P>B PUBREL id1",
                 "t30 B>S PUBLISH id1 q2 m1",
                 "t30 B>P PUBCOMP id1",
                 "t40 S>B PUBREC id1",
                 "t50 B>S PUBREL id1",
                 "t60 S got m1 q2",
                 "t60 S>B PUBCOMP id1",
                 "t100 B close broker_restart",
                 "t100 B close broker_restart",
                 "t110 S down fin",
                 "t110 P down fin",
                 "t1110 P open",
                 "t1110 S open",
                 "t1120 P up",
                 "t1120 P>B CONNECT",
                 "t1120 S up",
                 "t1120 S>B CONNECT",
                 "t1130 B>P CONNACK",
                 "t1130 B>S CONNACK",
                 "t1130 B>S PUBLISH id1 q2 dup m1 (resend)",
                 "t1140 P connected present",
                 "t1140 S connected present",
                 "t1140 S>B PUBREC id1",
                 "t1150 B>S PUBREL id1",
                 "t1160 S got m1 q2 dup",
                 "t1160 S>B PUBCOMP id1");
    else
        h_expect(h,
                 "t0 P>B PUBLISH id1 q2 m1",
                 "t10 B>S PUBLISH id1 q2 m1",
                 "t10 B>P PUBREC id1",
                 "t20 S got m1 q2",
                 "t20 S>B PUBREC id1",
                 "t20 P>B PUBREL id1",
                 "t30 B>S PUBREL id1",
                 "t30 B>P PUBCOMP id1",
                 "t40 S>B PUBCOMP id1",
                 "t100 B close broker_restart",
                 "t100 B close broker_restart",
                 "t110 S down fin",
                 "t110 P down fin",
                 "t1110 P open",
                 "t1110 S open",
                 "t1120 P up",
                 "t1120 P>B CONNECT",
                 "t1120 S up",
                 "t1120 S>B CONNECT",
                 "t1130 B>P CONNACK",
                 "t1130 B>S CONNACK",
                 "t1130 B>S PUBLISH id1 q2 dup m1 (resend)",
                 "t1140 P connected present",
                 "t1140 S connected present",
                 "t1140 S got m1 q2 dup",
                 "t1140 S>B PUBREC id1",
                 "t1150 B>S PUBREL id1",
                 "t1160 S>B PUBCOMP id1");
    assert_int_equal(h_count(h, H_GOT, "S", 0, 1), 2);
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
        VM(every_change_offline_subscriber_gets_queue_once),
        VM(every_change_held_qos2_id_survives),
        VM(off_held_qos2_id_forgotten),
        VM(saves_restart_between_saves_loses_and_duplicates),
        V(saves_before_first_save_loses_all),
        VM(saves_restored_qos2_flow_delivered_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
