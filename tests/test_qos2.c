/* Session engine scenarios: QoS 2 flows for both receiver methods, losses, duplicates, reordering. */
#include "tests/scenario.h"

/*
 * In every test P publishes "t" at QoS 2 and S subscribes to it at QoS 2;
 * the scripted loss or delay is on P's hop, so the broker's session for P is
 * the QoS 2 receiver under test. The broker and S use the same method: A
 * stores the message at PUBLISH and passes it on at PUBREL (so the broker
 * forwards to S only at PUBREL), B passes it on at the first PUBLISH and
 * keeps only the identifier.
 */

static uint8_t v311 = MQ_V311, v5 = MQ_V5;
#define VERSION(state) (*(uint8_t *)*(state))

/* ---- no loss ------------------------------------------------------------ */

static void qos2_a_normal_flow(void **state)
{
    h_net *h = h_pair(VERSION(state), MQ_QOS2_A, 2, 4);
    mq_session *p = h_csess(h, "P"), *b = h_bsess(h, "P");
    h_publish(h, "P", "t", 2);
    mq_msg_state st;
    assert_true(mq_session_flow_state(p, 1, &st));
    assert_int_equal(st, MQ_MS_WAIT_PUBREC);
    h_run_until(h, 10);
    assert_true(mq_session_holds(b, 1));
    assert_int_equal(h->msgs[0].refs, 2); /* P's, and the broker's stored copy */
    h_run_until(h, 20);
    /* After PUBREC the sender keeps only the identifier. */
    assert_true(mq_session_flow_state(p, 1, &st));
    assert_int_equal(st, MQ_MS_WAIT_PUBCOMP);
    assert_int_equal(h->msgs[0].refs, 1);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q2 m1",
             "t10 B>P PUBREC id1",
             "t20 P>B PUBREL id1",
             "t30 B>S PUBLISH id1 q2 m1",
             "t30 B>P PUBCOMP id1",
             "t40 S>B PUBREC id1",
             "t50 B>S PUBREL id1",
             "t60 S got m1 q2",
             "t60 S>B PUBCOMP id1");
    assert_false(mq_session_holds(b, 1));
    assert_false(mq_session_flow_state(p, 1, NULL));
    h_check_refs(h);
    h_free(h);
}

static void qos2_b_normal_flow(void **state)
{
    h_net *h = h_pair(VERSION(state), MQ_QOS2_B, 2, 4);
    h_publish(h, "P", "t", 2);
    h_run_until(h, 10);
    assert_true(mq_session_holds(h_bsess(h, "P"), 1));
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q2 m1",
             "t10 B>S PUBLISH id1 q2 m1",
             "t10 B>P PUBREC id1",
             "t20 S got m1 q2",
             "t20 S>B PUBREC id1",
             "t20 P>B PUBREL id1",
             "t30 B>S PUBREL id1",
             "t30 B>P PUBCOMP id1",
             "t40 S>B PUBCOMP id1");
    assert_false(mq_session_holds(h_bsess(h, "P"), 1));
    h_check_refs(h);
    h_free(h);
}

/* ---- PUBLISH lost ------------------------------------------------------- */

static void qos2_a_publish_lost_resent_dup(void **state)
{
    h_net *h = h_pair(VERSION(state), MQ_QOS2_A, 2, 4);
    h_lose(h, "P>B", MQ_PUBLISH, 1);
    h_publish(h, "P", "t", 2);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q2 m1 LOST",
             "t100 P>B PUBLISH id1 q2 dup m1 (resend)",
             "t110 B>P PUBREC id1",
             "t120 P>B PUBREL id1",
             "t130 B>S PUBLISH id1 q2 m1",
             "t130 B>P PUBCOMP id1",
             "t140 S>B PUBREC id1",
             "t150 B>S PUBREL id1",
             "t160 S got m1 q2",
             "t160 S>B PUBCOMP id1");
    h_check_refs(h);
    h_free(h);
}

static void qos2_b_publish_lost_resent_dup(void **state)
{
    h_net *h = h_pair(VERSION(state), MQ_QOS2_B, 2, 4);
    h_lose(h, "P>B", MQ_PUBLISH, 1);
    h_publish(h, "P", "t", 2);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q2 m1 LOST",
             "t100 P>B PUBLISH id1 q2 dup m1 (resend)",
             "t110 B>S PUBLISH id1 q2 m1",
             "t110 B>P PUBREC id1",
             "t120 S got m1 q2",
             "t120 S>B PUBREC id1",
             "t120 P>B PUBREL id1",
             "t130 B>S PUBREL id1",
             "t130 B>P PUBCOMP id1",
             "t140 S>B PUBCOMP id1");
    h_check_refs(h);
    h_free(h);
}

/* ---- PUBREC lost: the resent PUBLISH is a duplicate, not delivered ------ */

static void qos2_a_pubrec_lost_no_second_delivery(void **state)
{
    h_net *h = h_pair(VERSION(state), MQ_QOS2_A, 2, 4);
    h_lose(h, "B>P", MQ_PUBREC, 1);
    h_publish(h, "P", "t", 2);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q2 m1",
             "t10 B>P PUBREC id1 LOST",
             "t100 P>B PUBLISH id1 q2 dup m1 (resend)",
             "t110 B event qos2_dup_suppressed PUBLISH id1",
             "t110 B>P PUBREC id1",
             "t120 P>B PUBREL id1",
             "t130 B>S PUBLISH id1 q2 m1",
             "t130 B>P PUBCOMP id1",
             "t140 S>B PUBREC id1",
             "t150 B>S PUBREL id1",
             "t160 S got m1 q2",
             "t160 S>B PUBCOMP id1");
    h_check_refs(h);
    h_free(h);
}

static void qos2_b_pubrec_lost_no_second_delivery(void **state)
{
    h_net *h = h_pair(VERSION(state), MQ_QOS2_B, 2, 4);
    h_lose(h, "B>P", MQ_PUBREC, 1);
    h_publish(h, "P", "t", 2);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q2 m1",
             "t10 B>S PUBLISH id1 q2 m1",
             "t10 B>P PUBREC id1 LOST",
             "t20 S got m1 q2",
             "t20 S>B PUBREC id1",
             "t30 B>S PUBREL id1",
             "t40 S>B PUBCOMP id1",
             "t100 P>B PUBLISH id1 q2 dup m1 (resend)",
             "t110 B event qos2_dup_suppressed PUBLISH id1",
             "t110 B>P PUBREC id1",
             "t120 P>B PUBREL id1",
             "t130 B>P PUBCOMP id1");
    h_check_refs(h);
    h_free(h);
}

/* ---- PUBREL lost: only PUBREL is resent, never PUBLISH ------------------ */

static void qos2_a_pubrel_lost_pubrel_resent(void **state)
{
    h_net *h = h_pair(VERSION(state), MQ_QOS2_A, 2, 4);
    h_lose(h, "P>B", MQ_PUBREL, 1);
    h_publish(h, "P", "t", 2);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q2 m1",
             "t10 B>P PUBREC id1",
             "t20 P>B PUBREL id1 LOST",
             "t120 P>B PUBREL id1 (resend)",
             "t130 B>S PUBLISH id1 q2 m1",
             "t130 B>P PUBCOMP id1",
             "t140 S>B PUBREC id1",
             "t150 B>S PUBREL id1",
             "t160 S got m1 q2",
             "t160 S>B PUBCOMP id1");
    h_check_refs(h);
    h_free(h);
}

static void qos2_b_pubrel_lost_pubrel_resent(void **state)
{
    h_net *h = h_pair(VERSION(state), MQ_QOS2_B, 2, 4);
    h_lose(h, "P>B", MQ_PUBREL, 1);
    h_publish(h, "P", "t", 2);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q2 m1",
             "t10 B>S PUBLISH id1 q2 m1",
             "t10 B>P PUBREC id1",
             "t20 S got m1 q2",
             "t20 S>B PUBREC id1",
             "t20 P>B PUBREL id1 LOST",
             "t30 B>S PUBREL id1",
             "t40 S>B PUBCOMP id1",
             "t120 P>B PUBREL id1 (resend)",
             "t130 B>P PUBCOMP id1");
    h_check_refs(h);
    h_free(h);
}

/* ---- PUBCOMP lost: the resent PUBREL is answered after the id is gone --- */

static void qos2_a_pubcomp_lost_pubrel_answered_after_discard(void **state)
{
    h_net *h = h_pair(VERSION(state), MQ_QOS2_A, 2, 4);
    h_lose(h, "B>P", MQ_PUBCOMP, 1);
    h_publish(h, "P", "t", 2);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q2 m1",
             "t10 B>P PUBREC id1",
             "t20 P>B PUBREL id1",
             "t30 B>S PUBLISH id1 q2 m1",
             "t30 B>P PUBCOMP id1 LOST",
             "t40 S>B PUBREC id1",
             "t50 B>S PUBREL id1",
             "t60 S got m1 q2",
             "t60 S>B PUBCOMP id1",
             "t120 P>B PUBREL id1 (resend)",
             "t130 B event unknown_pubrel PUBREL id1",
             "t130 B>P PUBCOMP id1");
    h_check_refs(h);
    h_free(h);
}

static void qos2_b_pubcomp_lost_pubrel_answered_after_discard(void **state)
{
    h_net *h = h_pair(VERSION(state), MQ_QOS2_B, 2, 4);
    h_lose(h, "B>P", MQ_PUBCOMP, 1);
    h_publish(h, "P", "t", 2);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q2 m1",
             "t10 B>S PUBLISH id1 q2 m1",
             "t10 B>P PUBREC id1",
             "t20 S got m1 q2",
             "t20 S>B PUBREC id1",
             "t20 P>B PUBREL id1",
             "t30 B>S PUBREL id1",
             "t30 B>P PUBCOMP id1 LOST",
             "t40 S>B PUBCOMP id1",
             "t120 P>B PUBREL id1 (resend)",
             "t130 B event unknown_pubrel PUBREL id1",
             "t130 B>P PUBCOMP id1");
    h_check_refs(h);
    h_free(h);
}

/* ---- a PUBREC that crosses the resent PUBLISH ----------------------------- */

/* The first PUBREC is slow (arrives at t115), so P resends PUBLISH at t100;
 * the broker suppresses it and answers PUBREC again, which reaches P while
 * it already waits for PUBCOMP: P answers with PUBREL at once (not a retry
 * resend), the broker meets that PUBREL after it has discarded the id and
 * answers PUBCOMP all the same, and P ignores the second PUBCOMP. One
 * delivery. */
static void qos2_dup_pubrec_answered_with_pubrel(void **state)
{
    h_net *h = h_pair(VERSION(state), MQ_QOS2_A, 2, 4);
    h_delay(h, "B>P", MQ_PUBREC, 1, 95);
    h_publish(h, "P", "t", 2);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q2 m1",
             "t10 B>P PUBREC id1 +95ms",
             "t100 P>B PUBLISH id1 q2 dup m1 (resend)",
             "t110 B event qos2_dup_suppressed PUBLISH id1",
             "t110 B>P PUBREC id1",
             "t115 P>B PUBREL id1",
             "t120 P event dup_pubrec PUBREC id1",
             "t120 P>B PUBREL id1",
             "t125 B>S PUBLISH id1 q2 m1",
             "t125 B>P PUBCOMP id1",
             "t130 B event unknown_pubrel PUBREL id1",
             "t130 B>P PUBCOMP id1",
             "t135 S>B PUBREC id1",
             "t140 P event unknown_pubcomp PUBCOMP id1",
             "t145 B>S PUBREL id1",
             "t155 S got m1 q2",
             "t155 S>B PUBCOMP id1");
    h_check_refs(h);
    h_free(h);
}

/* ---- a late duplicate PUBLISH after the flow completed ------------------ */

/*
 * On a reordering link the first PUBLISH of m1 is overtaken: it arrives at
 * t160, after its DUP=1 resend (sent t100) has carried the whole flow to
 * completion (PUBCOMP back at P at t140). The broker has forgotten
 * identifier 1 at PUBREL, so the stale copy looks like a new message:
 *
 *  - Method A stores it and answers PUBREC; P has no flow 1 and ignores the
 *    PUBREC (unknown_pubrec). The broker now waits for a PUBREL that P will
 *    never send for this message, holding m1 (a reference) and identifier 1.
 *    Nothing is delivered twice, for now.
 *  - Method B delivers it at once (S gets m1 a second time: exactly-once is
 *    broken) and holds identifier 1, waiting likewise.
 *
 * MQTT assumes an in-order transport (TCP); a reordering link breaks the
 * assumption that the QoS 2 handshake rests on, and the two methods fail
 * differently. The second part of each test shows what happens when P's
 * rotating identifiers come back round to 1 (after 65534 other messages) for
 * a new message m65536: the broker still holds 1, so it takes the new
 * PUBLISH for a duplicate of the stale one and suppresses it.
 *
 *  - Method A then delivers, at the new flow's PUBREL, the message it
 *    stored: the stale m1, a second delivery of m1, while m65536 is lost.
 *  - Method B delivers nothing at PUBREL: m65536 is lost (m1 was already
 *    delivered twice).
 *
 * Either way the new message is lost and m1 is delivered twice; A merely
 * postpones the duplicate until the identifier is reused, and never
 * delivers it if the identifier is not reused before the session ends.
 */

/* Publishes 65534 QoS 1 messages on a topic S does not take, so that P's
 * next identifier is 1 again; runs them to completion; clears the trace. */
static void wrap_identifiers(h_net *h)
{
    for (int i = 0; i < 65534; i++)
        h_publish(h, "P", "fill", 1);
    h_run_quiet(h, 5000);
    h_clear(h);
}

static void qos2_a_late_duplicate_publish_held_until_id_reused(void **state)
{
    h_net *h = h_pair(VERSION(state), MQ_QOS2_A, 2, 65536);
    h_delay(h, "P>B", MQ_PUBLISH, 1, 150);
    h_publish(h, "P", "t", 2);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q2 m1 +150ms",
             "t100 P>B PUBLISH id1 q2 dup m1 (resend)",
             "t110 B>P PUBREC id1",
             "t120 P>B PUBREL id1",
             "t130 B>S PUBLISH id1 q2 m1",
             "t130 B>P PUBCOMP id1",
             "t140 S>B PUBREC id1",
             "t150 B>S PUBREL id1",
             "t160 B>P PUBREC id1",
             "t160 S got m1 q2",
             "t160 S>B PUBCOMP id1",
             "t170 P event unknown_pubrec PUBREC id1");
    assert_true(mq_session_holds(h_bsess(h, "P"), 1));
    assert_int_equal(h->msgs[0].refs, 1); /* the broker's stored stale copy */

    wrap_identifiers(h);
    h_publish(h, "P", "t", 2);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q2 m65536",
             "t10 B event qos2_dup_suppressed PUBLISH id1",
             "t10 B>P PUBREC id1",
             "t20 P>B PUBREL id1",
             "t30 B>S PUBLISH id2 q2 m1",
             "t30 B>P PUBCOMP id1",
             "t40 S>B PUBREC id2",
             "t50 B>S PUBREL id2",
             "t60 S got m1 q2",
             "t60 S>B PUBCOMP id2");
    assert_false(mq_session_holds(h_bsess(h, "P"), 1));
    h_check_refs(h); /* m65536 was freed without ever being delivered */
    h_free(h);
}

static void qos2_a_late_duplicate_publish_never_delivered_without_reuse(void **state)
{
    h_net *h = h_pair(VERSION(state), MQ_QOS2_A, 2, 4);
    h_delay(h, "P>B", MQ_PUBLISH, 1, 150);
    h_publish(h, "P", "t", 2);
    h_run_quiet(h, 1000);
    assert_int_equal(h_count(h, H_GOT, "S", 0, 1), 1);
    assert_true(mq_session_holds(h_bsess(h, "P"), 1));
    assert_int_equal(mq_session_held(h_bsess(h, "P")), 1);
    /* End of run: the stored copy is released without a report (it is
     * receiver state, not a sender flow). */
    h_clear(h);
    h_close_all(h);
    assert_int_equal(h->n_rec, 0);
    assert_int_equal(mq_session_held(h_bsess(h, "P")), 0);
    h_check_refs(h);
    h_free(h);
}

static void qos2_b_late_duplicate_publish_delivered_again(void **state)
{
    h_net *h = h_pair(VERSION(state), MQ_QOS2_B, 2, 65536);
    h_delay(h, "P>B", MQ_PUBLISH, 1, 150);
    h_publish(h, "P", "t", 2);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q2 m1 +150ms",
             "t100 P>B PUBLISH id1 q2 dup m1 (resend)",
             "t110 B>S PUBLISH id1 q2 m1",
             "t110 B>P PUBREC id1",
             "t120 S got m1 q2",
             "t120 S>B PUBREC id1",
             "t120 P>B PUBREL id1",
             "t130 B>S PUBREL id1",
             "t130 B>P PUBCOMP id1",
             "t140 S>B PUBCOMP id1",
             "t160 B>S PUBLISH id2 q2 m1",
             "t160 B>P PUBREC id1",
             "t170 S got m1 q2",
             "t170 S>B PUBREC id2",
             "t170 P event unknown_pubrec PUBREC id1",
             "t180 B>S PUBREL id2",
             "t190 S>B PUBCOMP id2");
    assert_true(mq_session_holds(h_bsess(h, "P"), 1));
    h_check_refs(h); /* B keeps only the identifier */

    wrap_identifiers(h);
    h_publish(h, "P", "t", 2);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q2 m65536",
             "t10 B event qos2_dup_suppressed PUBLISH id1",
             "t10 B>P PUBREC id1",
             "t20 P>B PUBREL id1",
             "t30 B>P PUBCOMP id1");
    assert_false(mq_session_holds(h_bsess(h, "P"), 1));
    h_check_refs(h);
    h_free(h);
}

/* ---- the method is per session ------------------------------------------ */

/* A method-A broker forwards at PUBREL to a method-B subscriber, which
 * delivers at the PUBLISH: each hop follows its own receiver's method. */
static void qos2_subscriber_method_is_its_own(void **state)
{
    mq_session_config bc = h_cfg(VERSION(state), MQ_QOS2_A);
    mq_session_config sc = h_cfg(VERSION(state), MQ_QOS2_B);
    h_net *h = h_new(&bc, 4);
    h_client(h, "P", &bc);
    h_client(h, "S", &sc);
    h_connect_all(h);
    h_subscribe(h, "S", "t", 2);
    h_publish(h, "P", "t", 2);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q2 m1",
             "t10 B>P PUBREC id1",
             "t20 P>B PUBREL id1",
             "t30 B>S PUBLISH id1 q2 m1",
             "t30 B>P PUBCOMP id1",
             "t40 S got m1 q2",
             "t40 S>B PUBREC id1",
             "t50 B>S PUBREL id1",
             "t60 S>B PUBCOMP id1");
    h_check_refs(h);
    h_free(h);
}

/* A duplicate PUBLISH at a method-A subscriber (its PUBREC lost) is
 * suppressed there; the message is delivered once, at PUBREL. */
static void qos2_a_subscriber_pubrec_lost_delivered_once(void **state)
{
    h_net *h = h_pair(VERSION(state), MQ_QOS2_A, 2, 4);
    h_lose(h, "S>B", MQ_PUBREC, 1);
    h_publish(h, "P", "t", 2);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q2 m1",
             "t10 B>P PUBREC id1",
             "t20 P>B PUBREL id1",
             "t30 B>S PUBLISH id1 q2 m1",
             "t30 B>P PUBCOMP id1",
             "t40 S>B PUBREC id1 LOST",
             "t130 B>S PUBLISH id1 q2 dup m1 (resend)",
             "t140 S event qos2_dup_suppressed PUBLISH id1",
             "t140 S>B PUBREC id1",
             "t150 B>S PUBREL id1",
             "t160 S got m1 q2",
             "t160 S>B PUBCOMP id1");
    h_check_refs(h);
    h_free(h);
}

/* ---- scale ---------------------------------------------------------------- */

/* A receiver holding every identifier at once: 65535 QoS 2 flows whose
 * PUBRELs are all slow (arriving at t80 instead of t30), so at t50 the
 * broker holds 65535 identifiers and stored messages. Each message is then
 * delivered exactly once (S takes them at QoS 0 to keep the fan-out cheap). */
static void qos2_receiver_holds_all_identifiers(void **state)
{
    enum { N = 65535 };
    h_net *h = h_pair(VERSION(state), MQ_QOS2_A, 0, N);
    h_rule_add(h, "P>B", MQ_PUBREL, 0, 0, H_MS(50));
    for (int i = 0; i < N; i++)
        h_publish(h, "P", "t", 2);
    h_run_until(h, 50);
    mq_session *b = h_bsess(h, "P");
    assert_int_equal(mq_session_held(b), N);
    assert_true(mq_session_holds(b, 1) && mq_session_holds(b, N));
    assert_int_equal(h_count(h, H_GOT, "S", 0, 0), 0);
    h_run_quiet(h, 1000);
    assert_int_equal(mq_session_held(b), 0);
    uint8_t *got = calloc(N + 1, 1);
    assert_non_null(got);
    for (size_t i = 0; i < h->n_rec; i++)
        if (h->rec[i].kind == H_GOT)
            got[h->rec[i].msg]++;
    for (uint64_t m = 1; m <= N; m++)
        assert_int_equal(got[m], 1);
    free(got);
    h_check_refs(h);
    h_free(h);
}

#define V(f) cmocka_unit_test_prestate(f, &v311), cmocka_unit_test_prestate(f, &v5)

int main(void)
{
    const struct CMUnitTest tests[] = {
        V(qos2_a_normal_flow),
        V(qos2_b_normal_flow),
        V(qos2_a_publish_lost_resent_dup),
        V(qos2_b_publish_lost_resent_dup),
        V(qos2_a_pubrec_lost_no_second_delivery),
        V(qos2_b_pubrec_lost_no_second_delivery),
        V(qos2_a_pubrel_lost_pubrel_resent),
        V(qos2_b_pubrel_lost_pubrel_resent),
        V(qos2_a_pubcomp_lost_pubrel_answered_after_discard),
        V(qos2_b_pubcomp_lost_pubrel_answered_after_discard),
        V(qos2_dup_pubrec_answered_with_pubrel),
        V(qos2_a_late_duplicate_publish_held_until_id_reused),
        V(qos2_a_late_duplicate_publish_never_delivered_without_reuse),
        V(qos2_b_late_duplicate_publish_delivered_again),
        V(qos2_subscriber_method_is_its_own),
        V(qos2_a_subscriber_pubrec_lost_delivered_once),
        cmocka_unit_test_prestate(qos2_receiver_holds_all_identifiers, &v5),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
