/* The engine's client crash, with and without the session kept (client persistence): what survives, what is dropped, what is resent. */
#include "tests/scenario.h"

/*
 * P and S on streams with kept sessions (h_stream_pair; t0 is a quiet
 * moment after setup). A crash is the engine call alone (mq_session_crash
 * or mq_session_crash_keep) plus what the host does with the transport: the
 * broker's end learns by the FIN of the dead process's socket (here:
 * h_break at the broker's end only), and the client's end is gone without
 * a word. The process runs again with mq_session_connect.
 */

static void crash(h_net *h, const char *name, bool keep)
{
    h_break(h, name, H_BROKER_ONLY, MQ_DOWN_FIN);
    if (keep)
        mq_session_crash_keep(h_csess(h, name), h->now);
    else
        mq_session_crash(h_csess(h, name), h->now);
    assert_true(mq_session_check(h_csess(h, name)));
    assert_int_equal(mq_session_state(h_csess(h, name)), MQ_CONN_DOWN);
}

/* m1 (QoS 1) is in flight when P crashes at 5 (the harness's break loses
 * it on the wire, so the broker never sees it):
 * without the session it is dropped as client_crash and, after the restart
 * at 100, nothing is resent; its identifiers start again from 1. */
static void crash_drops_inflight_and_queue(void **state)
{
    (void)state;
    h_net *h = h_stream_pair(MQ_V311, MQ_QOS2_A, 1, 4);
    h->check = true;
    h_publish(h, "P", "t", 1);
    h_run_until(h, 5);
    crash(h, "P", false);
    assert_int_equal(mq_session_inflight(h_csess(h, "P")), 0);
    h_publish(h, "P", "t", 1); /* while down, before any connect: queued */
    assert_int_equal(mq_session_queued(h_csess(h, "P")), 1);
    h_run_until(h, 100);
    assert_int_equal(mq_session_connect(h_csess(h, "P"), h->now), 0);
    h_run_quiet(h, 5000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q1 m1",
             "t5 B down fin",
             "t5 P drop m1 q1 client_crash",
             "t100 P open",
             "t110 P up",
             "t110 P>B CONNECT",
             "t120 B>P CONNACK",
             "t130 P>B PUBLISH id1 q1 m2",
             "t130 P connected present",
             "t140 B>S PUBLISH id1 q1 m2",
             "t140 B>P PUBACK id1",
             "t150 S got m2 q1",
             "t150 S>B PUBACK id1");
    h_check_refs(h);
    h_free(h);
}

/* The same with the session kept: m1 survives the crash in WAIT_PUBACK,
 * nothing is dropped, and on the kept session's resumption it is resent
 * with DUP=1 and its identifier before the queue (m2) drains. */
static void crash_keep_resends_inflight_then_queue(void **state)
{
    (void)state;
    h_net *h = h_stream_pair(MQ_V311, MQ_QOS2_A, 1, 4);
    h->check = true;
    h_publish(h, "P", "t", 1);
    h_run_until(h, 5);
    crash(h, "P", true);
    mq_msg_state st;
    assert_true(mq_session_flow_state(h_csess(h, "P"), 1, &st) && st == MQ_MS_WAIT_PUBACK);
    h_publish(h, "P", "t", 1);
    h_run_until(h, 100);
    assert_int_equal(mq_session_connect(h_csess(h, "P"), h->now), 0);
    h_run_quiet(h, 5000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q1 m1",
             "t5 B down fin",
             "t100 P open",
             "t110 P up",
             "t110 P>B CONNECT",
             "t120 B>P CONNACK",
             "t130 P>B PUBLISH id1 q1 dup m1 (resend)",
             "t130 P>B PUBLISH id2 q1 m2",
             "t130 P connected present",
             "t140 B>S PUBLISH id1 q1 m1",
             "t140 B>P PUBACK id1",
             "t140 B>S PUBLISH id2 q1 m2",
             "t140 B>P PUBACK id2",
             "t150 S got m1 q1",
             "t150 S>B PUBACK id1",
             "t150 S got m2 q1",
             "t150 S>B PUBACK id2");
    h_check_refs(h);
    h_free(h);
}

/* S (method A) holds identifier 1 with the stored m1 (PUBLISH read at 40,
 * PUBREC written) when it crashes at 45; the harness's break loses that
 * PUBREC in flight, so on resumption the broker resends the PUBLISH
 * (DUP=1). With the session kept, S still holds the identifier: the copy is
 * only answered (qos2_dup_suppressed) and the PUBREL releases the stored
 * m1, delivered once. Without it the stored copy was dropped as
 * client_crash and the resent PUBLISH is a new message to S: stored again,
 * delivered once at the PUBREL (the delivery shows the DUP flag of the copy
 * that carried it). */
static void crash_held_qos2(bool keep)
{
    h_net *h = h_stream_pair(MQ_V311, MQ_QOS2_A, 2, 4);
    h->check = true;
    h_publish(h, "P", "t", 2);
    h_run_until(h, 45);
    assert_true(mq_session_holds(h_csess(h, "S"), 1));
    crash(h, "S", keep);
    assert_int_equal(mq_session_holds(h_csess(h, "S"), 1), keep);
    assert_int_equal(mq_session_held(h_csess(h, "S")), keep ? 1 : 0);
    h_run_until(h, 100);
    assert_int_equal(mq_session_connect(h_csess(h, "S"), h->now), 0);
    h_run_quiet(h, 5000);
    if (keep)
        h_expect(h,
                 "t0 P>B PUBLISH id1 q2 m1",
                 "t10 B>P PUBREC id1",
                 "t20 P>B PUBREL id1",
                 "t30 B>S PUBLISH id1 q2 m1",
                 "t30 B>P PUBCOMP id1",
                 "t40 S>B PUBREC id1",
                 "t45 B down fin",
                 "t100 S open",
                 "t110 S up",
                 "t110 S>B CONNECT",
                 "t120 B>S CONNACK",
                 "t120 B>S PUBLISH id1 q2 dup m1 (resend)",
                 "t130 S connected present",
                 "t130 S event qos2_dup_suppressed PUBLISH id1",
                 "t130 S>B PUBREC id1",
                 "t140 B>S PUBREL id1",
                 "t150 S got m1 q2",
                 "t150 S>B PUBCOMP id1");
    else
        h_expect(h,
                 "t0 P>B PUBLISH id1 q2 m1",
                 "t10 B>P PUBREC id1",
                 "t20 P>B PUBREL id1",
                 "t30 B>S PUBLISH id1 q2 m1",
                 "t30 B>P PUBCOMP id1",
                 "t40 S>B PUBREC id1",
                 "t45 B down fin",
                 "t45 S drop m1 q2 client_crash",
                 "t100 S open",
                 "t110 S up",
                 "t110 S>B CONNECT",
                 "t120 B>S CONNACK",
                 "t120 B>S PUBLISH id1 q2 dup m1 (resend)",
                 "t130 S connected present",
                 "t130 S>B PUBREC id1",
                 "t140 B>S PUBREL id1",
                 "t150 S got m1 q2 dup",
                 "t150 S>B PUBCOMP id1");
    h_check_refs(h);
    h_free(h);
}

static void crash_keep_holds_qos2_identifier(void **state)
{
    (void)state;
    crash_held_qos2(true);
}

static void crash_forgets_qos2_identifier(void **state)
{
    (void)state;
    crash_held_qos2(false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crash_drops_inflight_and_queue),
        cmocka_unit_test(crash_keep_resends_inflight_then_queue),
        cmocka_unit_test(crash_keep_holds_qos2_identifier),
        cmocka_unit_test(crash_forgets_qos2_identifier),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
