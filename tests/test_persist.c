/* Broker restarts with persistence: what a saved image brings back, what is lost since the save, and what comes twice. */
#include "tests/property.h"

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


/* A save between S's CONNECT and its SUBSCRIBE holds S's session without
 * the subscription. After the restart S is told its session is present,
 * so it does not subscribe again, and m1 is routed to no one: what a
 * subscription made after the save would have brought is lost. */
static void saves_subscription_after_the_save_is_lost(void **state)
{
    const variant *v = VAR(state);
    mq_session_config b = h_cfg(v->version, v->method);
    mq_session_config c = h_stream_cfg(v->version, v->method);
    h_net *h = h_new(&b, 4);
    mq_broker_set_persistence(h->b, MQ_PERSIST_SAVES);
    h->check = true;
    h_client(h, "P", &c);
    h_client(h, "S", &c);
    h_connect_all(h);
    assert_int_equal(mq_broker_save(h->b, h->now), 0);
    h_subscribe(h, "S", "t", 1);
    assert_int_equal(mq_broker_restart(h->b, h->now), 0);
    h_run_quiet(h, 5000);
    h_publish(h, "P", "t", 1);
    h_run_quiet(h, 5000);
    h_expect(h,
             "t0 B close broker_restart",
             "t0 B close broker_restart",
             "t10 S down fin",
             "t10 P down fin",
             "t1010 P open",
             "t1010 S open",
             "t1020 P up",
             "t1020 P>B CONNECT",
             "t1020 S up",
             "t1020 S>B CONNECT",
             "t1030 B>P CONNACK",
             "t1030 B>S CONNACK",
             "t1040 P connected present",
             "t1040 S connected present",
             "t1040 P>B PUBLISH id1 q1 m1",
             "t1050 B>P PUBACK id1");
    assert_int_equal(h_count(h, H_GOT, "S", 0, 1), 0);
    assert_int_equal(h_count(h, H_SEND, "S>B", MQ_SUBSCRIBE, 0), 0);
    h_close_all(h);
    h_check_refs(h);
    h_free(h);
}

/* The save (t0) has S's session with nothing in flight. m1 goes to S
 * under identifier 1; the broker restarts while S holds it (PUBREC sent,
 * PUBREL not yet had). The restored session forgot the flow (m1 dropped at
 * the broker, broker_restart) and its identifier rotation starts at 1
 * again: m2 goes to S under identifier 1, which S still holds, so S takes
 * it for a duplicate of m1 and m2 is lost. Method A then delivers its
 * stored m1 at m2's PUBREL; method B had delivered m1 at its PUBLISH. */
static void saves_restored_rotation_reuses_an_identifier_s_holds(void **state)
{
    const variant *v = VAR(state);
    h_net *h = pair(v, MQ_PERSIST_SAVES);
    assert_int_equal(mq_broker_save(h->b, h->now), 0);
    h_publish(h, "P", "t", 2);
    h_run_until(h, v->method == MQ_QOS2_A ? 45 : 25);
    assert_true(mq_session_holds(h_csess(h, "S"), 1));
    assert_int_equal(mq_broker_restart(h->b, h->now), 0);
    h_run_quiet(h, 5000);
    h_publish(h, "P", "t", 2);
    h_run_quiet(h, 5000);
    if (v->method == MQ_QOS2_A)
        h_expect(h,
                 "t0 P>B PUBLISH id1 q2 m1",
                 "t10 B>P PUBREC id1",
                 "t20 P>B PUBREL id1",
                 "t30 B>S PUBLISH id1 q2 m1",
                 "t30 B>P PUBCOMP id1",
                 "t40 S>B PUBREC id1",
                 "t45 B close broker_restart",
                 "t45 B close broker_restart",
                 "t45 B drop m1 q2 broker_restart",
                 "t55 S down fin",
                 "t55 P down fin",
                 "t1055 P open",
                 "t1055 S open",
                 "t1065 P up",
                 "t1065 P>B CONNECT",
                 "t1065 S up",
                 "t1065 S>B CONNECT",
                 "t1075 B>P CONNACK",
                 "t1075 B>S CONNACK",
                 "t1085 P connected present",
                 "t1085 S connected present",
                 "t1085 P>B PUBLISH id2 q2 m2",
                 "t1095 B>P PUBREC id2",
                 "t1105 P>B PUBREL id2",
                 "t1115 B>S PUBLISH id1 q2 m2",
                 "t1115 B>P PUBCOMP id2",
                 "t1125 S event qos2_dup_suppressed PUBLISH id1",
                 "t1125 S>B PUBREC id1",
                 "t1135 B>S PUBREL id1",
                 "t1145 S got m1 q2",
                 "t1145 S>B PUBCOMP id1");
    else
        h_expect(h,
                 "t0 P>B PUBLISH id1 q2 m1",
                 "t10 B>S PUBLISH id1 q2 m1",
                 "t10 B>P PUBREC id1",
                 "t20 S got m1 q2",
                 "t20 S>B PUBREC id1",
                 "t20 P>B PUBREL id1",
                 "t25 B close broker_restart",
                 "t25 B close broker_restart",
                 "t25 B drop m1 q2 broker_restart",
                 "t35 S down fin",
                 "t35 P down fin",
                 "t1035 P open",
                 "t1035 S open",
                 "t1045 P up",
                 "t1045 P>B CONNECT",
                 "t1045 S up",
                 "t1045 S>B CONNECT",
                 "t1055 B>P CONNACK",
                 "t1055 B>S CONNACK",
                 "t1065 P>B PUBREL id1 (resend)",
                 "t1065 P connected present",
                 "t1065 S connected present",
                 "t1075 B event unknown_pubrel PUBREL id1",
                 "t1075 B>P PUBCOMP id1",
                 "t1085 P>B PUBLISH id2 q2 m2",
                 "t1095 B>S PUBLISH id1 q2 m2",
                 "t1095 B>P PUBREC id2",
                 "t1105 S event qos2_dup_suppressed PUBLISH id1",
                 "t1105 S>B PUBREC id1",
                 "t1105 P>B PUBREL id2",
                 "t1115 B>S PUBREL id1",
                 "t1115 B>P PUBCOMP id2",
                 "t1125 S>B PUBCOMP id1");
    assert_int_equal(h_count(h, H_GOT, "S", 0, 1), 1);
    assert_int_equal(h_count(h, H_GOT, "S", 0, 2), 0);
    h_close_all(h);
    h_check_refs(h);
    h_free(h);
}

/* ---- property: every change saved, QoS 2 neither lost nor duplicated ---- */

#define SCENARIOS 300

static struct {
    size_t restarts, published, got, dup_got, resends, breaks;
} ptot;

/* One random scenario in tests/property.h's world, over streams only
 * (kept sessions, keepalive 2 s, reconnect 200 ms to 1 s, random protocol
 * version, QoS 2 methods, windows and subscription QoS), with broker
 * restarts beside the breaks, every change saved. Checked: the wire rules
 * of property.h (no identifier in two flows, no PUBLISH after PUBREL), QoS
 * 2 delivered exactly once to each subscriber taking it at QoS 2, QoS 1 at
 * least once, nothing at QoS 1 or 2 dropped anywhere (QoS 0 without a
 * connection is), every session idle after the
 * drain, every reference returned. */
static void persist_scenario(gsl_rng *r, int k)
{
    uint8_t version = gsl_rng_uniform(r) < 0.5 ? MQ_V311 : MQ_V5;
    mq_qos2_method bm = gsl_rng_uniform(r) < 0.5 ? MQ_QOS2_A : MQ_QOS2_B;
    mq_qos2_method sm = gsl_rng_uniform(r) < 0.5 ? MQ_QOS2_A : MQ_QOS2_B;
    mq_session_config b = h_cfg(version, bm);
    b.max_inflight = (uint32_t)gsl_rng_uniform_int(r, 4);
    mq_session_config c = h_stream_cfg(version, sm);
    c.keepalive_s = 2;
    c.reconnect_initial = H_MS(200);
    c.reconnect_max = H_MS(1000);
    c.session_expiry_s = version == MQ_V5 ? 0xFFFFFFFFu : 0;
    if (gsl_rng_uniform(r) < 0.3)
        c.retransmit = MQ_RETRANSMIT_TIMER;
    c.max_inflight = (uint32_t)gsl_rng_uniform_int(r, 4);
    h_net *h = h_new(&b, MAX_MSGS);
    mq_broker_set_persistence(h->b, MQ_PERSIST_EVERY_CHANGE);
    h->check = true;
    h_client(h, "P", &c);
    h_client(h, "S1", &c);
    h_client(h, "S2", &c);
    uint8_t q1 = (uint8_t)gsl_rng_uniform_int(r, 3), q2 = (uint8_t)gsl_rng_uniform_int(r, 3);
    mq_sub s1 = {"t/a", 3, q1}, s2 = {"t/#", 3, q2};
    for (int i = 0; i < h->n_ends; i += 2)
        assert_int_equal(mq_session_connect(h->e[i].s, h->now), 0);
    assert_int_equal(mq_session_subscribe(h_csess(h, "S1"), h->now, &s1, 1), 0);
    assert_int_equal(mq_session_subscribe(h_csess(h, "S2"), h->now, &s2, 1), 0);
    h_run_until(h, 200);
    assert_int_equal(h_find(h, "S1")->subscribed, 1);
    assert_int_equal(h_find(h, "S2")->subscribed, 1);
    h_clear(h);
    static const char *const names[] = {"P", "S1", "S2"};
    uint8_t pq[MAX_MSGS + 1];
    uint64_t n = 0;
    int64_t t = 0;
    int steps = 10 + (int)gsl_rng_uniform_int(r, 30);
    for (int i = 0; i < steps; i++) {
        t += (int64_t)gsl_rng_uniform_int(r, 300);
        h_run_until(h, t);
        double u = gsl_rng_uniform(r);
        if (u < 0.6 && n < MAX_MSGS) {
            uint8_t q = (uint8_t)gsl_rng_uniform_int(r, 3);
            h_publish(h, "P", "t/a", q);
            pq[++n] = q;
        } else if (u < 0.8) {
            assert_int_equal(mq_broker_restart(h->b, h->now), 0);
            ptot.restarts++;
        } else {
            const char *who = names[gsl_rng_uniform_int(r, 3)];
            h_end *e = h_find(h, who);
            if (e->conn && e->conn->up[0])
                h_break(h, who, (int)gsl_rng_uniform_int(r, 4), MQ_DOWN_RST);
        }
    }
    h_run_until(h, t + 120000);

    char why[200];
    const char *bad = check_wire(h, why, sizeof why);
    static const char *const subs[] = {"S1", "S2"};
    const uint8_t sq[2] = {q1, q2};
    for (int s = 0; s < 2 && !bad; s++)
        for (uint64_t m = 1; m <= n && !bad; m++) {
            size_t got = 0;
            for (size_t i = 0; i < h->n_rec; i++) {
                const h_rec *x = &h->rec[i];
                got += x->kind == H_GOT && x->msg == m && strcmp(h->e[x->end].name, subs[s]) == 0;
            }
            uint8_t q = pq[m] < sq[s] ? pq[m] : sq[s];
            if ((q == 2 && got != 1) || (q == 1 && got == 0)) {
                snprintf(why, sizeof why, "%s got m%llu (QoS %u) %zu times", subs[s],
                         (unsigned long long)m, q, got);
                bad = why;
            }
        }
    for (size_t i = 0; i < h->n_rec && !bad; i++)
        if (h->rec[i].kind == H_DROP && h->rec[i].qos > 0) {
            snprintf(why, sizeof why, "a QoS %u drop (record %zu)", h->rec[i].qos, i);
            bad = why;
        }
    for (int i = 0; i < h->n_ends && !bad; i += 2)
        if (!mq_session_idle(h->e[i].s)) {
            snprintf(why, sizeof why, "%s still busy after the drain", h->e[i].name);
            bad = why;
        }
    if (bad) {
        h_print(h);
        fail_msg("scenario %d (v%u, methods %c%c, sub QoS %u %u): %s", k, version,
                 bm == MQ_QOS2_A ? 'A' : 'B', sm == MQ_QOS2_A ? 'A' : 'B', q1, q2, bad);
    }
    ptot.published += n;
    for (size_t i = 0; i < h->n_rec; i++) {
        const h_rec *x = &h->rec[i];
        ptot.got += x->kind == H_GOT;
        ptot.dup_got += x->kind == H_GOT && x->dup;
        ptot.resends += x->kind == H_SEND && x->resend;
        ptot.breaks += x->kind == H_DOWN;
    }
    h_close_all(h);
    h_drop_transit(h);
    h_check_refs(h);
    h_free(h);
}

static void every_change_random_restarts_qos2_exactly_once(void **state)
{
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    assert_non_null(r);
    gsl_rng_set(r, 20261202);
    for (int k = 0; k < SCENARIOS; k++)
        persist_scenario(r, k);
    gsl_rng_free(r);
    printf("    %d scenarios: %zu restarts, %zu messages published, %zu deliveries (%zu flagged "
           "DUP), %zu resends, %zu ends told of a break\n",
           SCENARIOS, ptot.restarts, ptot.published, ptot.got, ptot.dup_got, ptot.resends,
           ptot.breaks);
    /* The scenarios must have exercised what they check. */
    assert_true(ptot.restarts > 300 && ptot.resends > 100 && ptot.dup_got > 50);
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
        V(saves_subscription_after_the_save_is_lost),
        VM(saves_restored_rotation_reuses_an_identifier_s_holds),
        cmocka_unit_test(every_change_random_restarts_qos2_exactly_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
