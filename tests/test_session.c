/* Session engine scenarios: QoS 0 and 1 flows, setup, identifiers, window, retries, corner cases. */
#include "tests/scenario.h"

/* Test state for the tests that run under both protocol versions. */
static uint8_t v311 = MQ_V311, v5 = MQ_V5;
#define VERSION(state) (*(uint8_t *)*(state))

/* ---- QoS 0 -------------------------------------------------------------- */

static void qos0_sent_once_delivered_once(void **state)
{
    h_net *h = h_pair(VERSION(state), MQ_QOS2_A, 2, 4);
    h_publish(h, "P", "t", 0);
    assert_int_equal(h->last_rc, 0);
    assert_int_equal(mq_session_inflight(h_csess(h, "P")), 0);
    assert_true(mq_session_idle(h_csess(h, "P")));
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH q0 m1",
             "t10 B>S PUBLISH q0 m1",
             "t20 S got m1 q0");
    h_check_refs(h);
    h_free(h);
}

static void qos0_lost_never_resent(void **state)
{
    (void)state;
    h_net *h = h_pair(MQ_V311, MQ_QOS2_A, 2, 4);
    h_lose(h, "P>B", MQ_PUBLISH, 1);
    h_publish(h, "P", "t", 0);
    h_run_quiet(h, 1000);
    h_expect(h, "t0 P>B PUBLISH q0 m1 LOST");
    h_check_refs(h);
    h_free(h);
}

/* ---- QoS 1 -------------------------------------------------------------- */

static void qos1_normal_flow(void **state)
{
    h_net *h = h_pair(VERSION(state), MQ_QOS2_A, 1, 4);
    h_publish(h, "P", "t", 1);
    mq_msg_state st;
    assert_true(mq_session_flow_state(h_csess(h, "P"), 1, &st));
    assert_int_equal(st, MQ_MS_WAIT_PUBACK);
    assert_int_equal(h->msgs[0].refs, 2); /* the sender's and the frame's */
    h_run_quiet(h, 1000);
    /* The broker forwards before it acknowledges: the inbound flow's
     * "deliver" is the fan-out. */
    h_expect(h,
             "t0 P>B PUBLISH id1 q1 m1",
             "t10 B>S PUBLISH id1 q1 m1",
             "t10 B>P PUBACK id1",
             "t20 S got m1 q1",
             "t20 S>B PUBACK id1");
    assert_false(mq_session_flow_state(h_csess(h, "P"), 1, NULL));
    assert_false(mq_session_id_in_use(h_csess(h, "P"), 1));
    h_check_refs(h);
    h_free(h);
}

static void qos1_publish_lost_resent_with_dup(void **state)
{
    h_net *h = h_pair(VERSION(state), MQ_QOS2_A, 1, 4);
    h_lose(h, "P>B", MQ_PUBLISH, 1);
    h_publish(h, "P", "t", 1);
    h_run_quiet(h, 1000);
    /* The broker's onward flow is a new flow: DUP=0 towards S. */
    h_expect(h,
             "t0 P>B PUBLISH id1 q1 m1 LOST",
             "t100 P>B PUBLISH id1 q1 dup m1 (resend)",
             "t110 B>S PUBLISH id1 q1 m1",
             "t110 B>P PUBACK id1",
             "t120 S got m1 q1",
             "t120 S>B PUBACK id1");
    h_check_refs(h);
    h_free(h);
}

static void qos1_puback_lost_duplicate_delivery(void **state)
{
    h_net *h = h_pair(VERSION(state), MQ_QOS2_A, 1, 4);
    h_lose(h, "B>P", MQ_PUBACK, 1);
    h_publish(h, "P", "t", 1);
    h_run_quiet(h, 1000);
    /* The broker cannot tell the DUP=1 resend from a new message (QoS 1
     * receivers never deduplicate), so it forwards m1 again, as a new flow
     * with its own identifier: S gets m1 twice. */
    h_expect(h,
             "t0 P>B PUBLISH id1 q1 m1",
             "t10 B>S PUBLISH id1 q1 m1",
             "t10 B>P PUBACK id1 LOST",
             "t20 S got m1 q1",
             "t20 S>B PUBACK id1",
             "t100 P>B PUBLISH id1 q1 dup m1 (resend)",
             "t110 B>S PUBLISH id2 q1 m1",
             "t110 B>P PUBACK id1",
             "t120 S got m1 q1",
             "t120 S>B PUBACK id2");
    h_check_refs(h);
    h_free(h);
}

static void qos1_downstream_puback_lost_dup_delivered(void **state)
{
    h_net *h = h_pair(VERSION(state), MQ_QOS2_A, 1, 4);
    h_lose(h, "S>B", MQ_PUBACK, 1);
    h_publish(h, "P", "t", 1);
    h_run_quiet(h, 1000);
    /* S delivers the DUP=1 resend again, with its dup flag. */
    h_expect(h,
             "t0 P>B PUBLISH id1 q1 m1",
             "t10 B>S PUBLISH id1 q1 m1",
             "t10 B>P PUBACK id1",
             "t20 S got m1 q1",
             "t20 S>B PUBACK id1 LOST",
             "t110 B>S PUBLISH id1 q1 dup m1 (resend)",
             "t120 S got m1 q1 dup",
             "t120 S>B PUBACK id1");
    h_check_refs(h);
    h_free(h);
}

/* Exact sizes, so the two encodings are really in use. PUBLISH to "t" with 8
 * payload bytes: 1 + 1 (Remaining Length) + 3 (topic) + 2 (id) + 8 = 15;
 * 5.0 adds a property length byte. PUBACK with reason 0 is 4 bytes in both
 * (5.0 omits a zero reason code). CONNECT for "P": 1 + 1 + 6 ("MQTT") + 1
 * (level) + 1 (flags) + 2 (keepalive) + 3 (client id) = 15, 5.0 one more. */
static void wire_sizes_follow_version(void **state)
{
    (void)state;
    for (int v = 0; v < 2; v++) {
        uint8_t ver = v ? MQ_V5 : MQ_V311;
        mq_session_config c = h_cfg(ver, MQ_QOS2_A);
        h_net *h = h_new(&c, 4);
        h_client(h, "P", &c);
        assert_int_equal(mq_session_connect(h_csess(h, "P"), h->now), 0);
        h_run_quiet(h, 1000);
        assert_int_equal(h->rec[0].type, MQ_CONNECT);
        assert_int_equal(h->rec[0].bytes, 15 + v);
        assert_int_equal(h->rec[1].type, MQ_CONNACK);
        assert_int_equal(h->rec[1].bytes, v ? 5 : 4);
        h_clear(h);
        h_publish(h, "P", "t", 1);
        h_run_quiet(h, 1000);
        h_expect(h, "t0 P>B PUBLISH id1 q1 m1", "t10 B>P PUBACK id1");
        assert_int_equal(h->rec[0].bytes, 15 + v);
        assert_int_equal(h->rec[1].bytes, 4);
        h_check_refs(h);
        h_free(h);
    }
}

/* ---- connection setup --------------------------------------------------- */

static void connect_lost_resent_until_connack(void **state)
{
    mq_session_config c = h_cfg(VERSION(state), MQ_QOS2_A);
    h_net *h = h_new(&c, 1);
    h_client(h, "P", &c);
    h_lose(h, "P>B", MQ_CONNECT, 1);
    h_lose(h, "B>P", MQ_CONNACK, 1);
    assert_int_equal(mq_session_connect(h_csess(h, "P"), h->now), 0);
    assert_false(mq_session_idle(h_csess(h, "P")));
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B CONNECT LOST",
             "t100 P>B CONNECT (resend)",
             "t110 B>P CONNACK LOST",
             "t200 P>B CONNECT (resend)",
             "t210 B>P CONNACK",
             "t220 P connected");
    assert_true(mq_session_idle(h_csess(h, "P")));
    h_free(h);
}

static void connack_late_duplicate_counted_connected_once(void **state)
{
    (void)state;
    mq_session_config c = h_cfg(MQ_V311, MQ_QOS2_A);
    h_net *h = h_new(&c, 1);
    h_client(h, "P", &c);
    h_delay(h, "B>P", MQ_CONNACK, 1, 95);
    assert_int_equal(mq_session_connect(h_csess(h, "P"), h->now), 0);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B CONNECT",
             "t10 B>P CONNACK +95ms",
             "t100 P>B CONNECT (resend)",
             "t110 B>P CONNACK",
             "t115 P connected",
             "t120 P event dup_connack CONNACK id0");
    assert_int_equal(h_find(h, "P")->connected, 1);
    h_free(h);
}

static void suback_lost_subscribe_resent_subscribed_once(void **state)
{
    mq_session_config c = h_cfg(VERSION(state), MQ_QOS2_A);
    h_net *h = h_new(&c, 2);
    h_client(h, "P", &c);
    h_client(h, "S", &c);
    h_connect_all(h);
    h_lose(h, "B>S", MQ_SUBACK, 1);
    mq_sub sub = {"t", 1, 1};
    assert_int_equal(mq_session_subscribe(h_csess(h, "S"), h->now, &sub, 1), 0);
    assert_true(mq_session_id_in_use(h_csess(h, "S"), 1));
    h_run_quiet(h, 1000);
    /* The broker answers the resent SUBSCRIBE again (the table entry is
     * replaced by an identical one). */
    h_expect(h,
             "t0 S>B SUBSCRIBE id1",
             "t10 B>S SUBACK id1 LOST",
             "t100 S>B SUBSCRIBE id1 (resend)",
             "t110 B>S SUBACK id1",
             "t120 S subscribed 1");
    assert_false(mq_session_id_in_use(h_csess(h, "S"), 1));
    assert_true(mq_session_idle(h_csess(h, "S")));
    /* The subscription works, once. */
    h_clear(h);
    h_publish(h, "P", "t", 1);
    h_run_quiet(h, 1000);
    assert_int_equal(h_count(h, H_GOT, "S", 0, 1), 1);
    h_check_refs(h);
    h_free(h);
}

static void suback_duplicate_ignored(void **state)
{
    (void)state;
    mq_session_config c = h_cfg(MQ_V311, MQ_QOS2_A);
    h_net *h = h_new(&c, 1);
    h_client(h, "S", &c);
    h_connect_all(h);
    h_delay(h, "B>S", MQ_SUBACK, 1, 95);
    mq_sub sub = {"t/+", 3, 2};
    assert_int_equal(mq_session_subscribe(h_csess(h, "S"), h->now, &sub, 1), 0);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 S>B SUBSCRIBE id1",
             "t10 B>S SUBACK id1 +95ms",
             "t100 S>B SUBSCRIBE id1 (resend)",
             "t110 B>S SUBACK id1",
             "t115 S subscribed 2",
             "t120 S event dup_suback SUBACK id1");
    assert_int_equal(h_find(h, "S")->subscribed, 1);
    h_free(h);
}

/* ---- packet identifiers ------------------------------------------------- */

/* Identifiers rotate: a completed identifier comes round again only after
 * the other 65534, and one still in flight is skipped. */
static void pid_rotates_skips_in_flight_reuses_completed(void **state)
{
    (void)state;
    enum { N = 65535 };
    mq_session_config c = h_cfg(MQ_V311, MQ_QOS2_A);
    h_net *h = h_new(&c, N + 2);
    h_client(h, "P", &c);
    h_connect_all(h);
    mq_session *p = h_csess(h, "P");
    /* m1 takes identifier 1 and never gets an answer. */
    h_lose(h, "P>B", MQ_PUBLISH, 0);
    h_publish(h, "P", "x", 1);
    h->n_rules = 0;
    /* m2..m65535 take 2..65535 and complete. */
    for (int i = 1; i < N; i++)
        h_publish(h, "P", "x", 1);
    h_run_until(h, 50);
    assert_int_equal(mq_session_inflight(p), 1);
    assert_true(mq_session_id_in_use(p, 1));
    assert_false(mq_session_id_in_use(p, 2));
    /* The next message: the rotation wraps to 1, which is in flight, so it
     * takes 2, which completed. */
    h_clear(h);
    h_publish(h, "P", "x", 1);
    assert_int_equal(h->rec[0].type, MQ_PUBLISH);
    assert_int_equal(h->rec[0].id, 2);
    assert_int_equal(h->rec[0].msg, N + 1);
    mq_msg_state st;
    assert_true(mq_session_flow_state(p, 1, &st));
    assert_int_equal(st, MQ_MS_WAIT_PUBACK);
    /* m1's resend at t100 gets through and everything completes. */
    h_run_quiet(h, 1000);
    assert_true(mq_session_idle(p));
    h_check_refs(h);
    h_free(h);
}

/* With 65535 messages in flight (max_inflight 0) every identifier is taken:
 * the next message waits in the queue until one completes, then goes at
 * once under the freed identifier. */
static void pid_all_in_flight_next_waits_in_queue(void **state)
{
    (void)state;
    enum { N = 65535 };
    mq_session_config c = h_cfg(MQ_V311, MQ_QOS2_A);
    h_net *h = h_new(&c, N + 1);
    h_client(h, "P", &c);
    h_connect_all(h);
    mq_session *p = h_csess(h, "P");
    for (int i = 0; i < N; i++) {
        h_publish(h, "P", "x", 1);
        assert_int_equal(h->last_rc, 0);
        assert_int_equal(h->rec[i].id, i + 1);
    }
    assert_int_equal(mq_session_inflight(p), N);
    for (uint32_t id = 1; id <= N; id++)
        assert_true(mq_session_id_in_use(p, (uint16_t)id));
    h_publish(h, "P", "x", 1);
    assert_int_equal(h->last_rc, 0);
    assert_int_equal(mq_session_queued(p), 1);
    assert_int_equal(h->n_rec, N); /* nothing sent for it */
    /* Every PUBLISH arrives at t10, every PUBACK is back at t20. */
    h_run_until(h, 19);
    assert_int_equal(mq_session_queued(p), 1);
    h_clear(h);
    h_run_quiet(h, 1000);
    /* The first PUBACK (identifier 1) lets the queued message go, at once
     * and under identifier 1: the first record after it. */
    size_t i = 0;
    while (h->rec[i].type != MQ_PUBLISH)
        i++;
    assert_int_equal(h->rec[i].msg, N + 1);
    assert_int_equal(h->rec[i].id, 1);
    assert_int_equal(i, 0);
    assert_int_equal(h->rec[i].t, H_MS(1)); /* t20: the trace restarted at t19 */
    h_check_refs(h);
    assert_true(mq_session_idle(p));
    h_free(h);
}

/* ---- the in-flight window and the queue --------------------------------- */

static void window_full_queues_then_queue_full_drops(void **state)
{
    (void)state;
    mq_session_config c = h_cfg(MQ_V311, MQ_QOS2_A);
    mq_session_config pc = c;
    pc.max_inflight = 2;
    pc.max_queued = 2;
    h_net *h = h_new(&c, 8);
    h_client(h, "P", &pc);
    h_connect_all(h);
    mq_session *p = h_csess(h, "P");
    int rc[5];
    for (int i = 0; i < 5; i++) {
        h_publish(h, "P", "x", 1);
        rc[i] = h->last_rc;
    }
    assert_int_equal(rc[0], 0);
    assert_int_equal(rc[1], 0);
    assert_int_equal(rc[2], 0);
    assert_int_equal(rc[3], 0);
    assert_int_equal(rc[4], 1);
    assert_int_equal(mq_session_inflight(p), 2);
    assert_int_equal(mq_session_queued(p), 2);
    /* QoS 0 is never held back by the window. */
    h_publish(h, "P", "x", 0);
    assert_int_equal(h->last_rc, 0);
    h_run_quiet(h, 1000);
    /* Each PUBACK lets one queued message go at once. */
    h_expect(h,
             "t0 P>B PUBLISH id1 q1 m1",
             "t0 P>B PUBLISH id2 q1 m2",
             "t0 P drop m5 q1 queue_full",
             "t0 P>B PUBLISH q0 m6",
             "t10 B>P PUBACK id1",
             "t10 B>P PUBACK id2",
             "t20 P>B PUBLISH id3 q1 m3",
             "t20 P>B PUBLISH id4 q1 m4",
             "t30 B>P PUBACK id3",
             "t30 B>P PUBACK id4");
    h_check_refs(h);
    h_free(h);
}

/* A QoS 2 flow occupies its window slot until PUBCOMP, not PUBREC. */
static void window_held_until_pubcomp(void **state)
{
    (void)state;
    mq_session_config c = h_cfg(MQ_V311, MQ_QOS2_A);
    mq_session_config pc = c;
    pc.max_inflight = 1;
    h_net *h = h_new(&c, 4);
    h_client(h, "P", &pc);
    h_connect_all(h);
    h_publish(h, "P", "x", 2);
    h_publish(h, "P", "x", 2);
    assert_int_equal(mq_session_queued(h_csess(h, "P")), 1);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q2 m1",
             "t10 B>P PUBREC id1",
             "t20 P>B PUBREL id1",
             "t30 B>P PUBCOMP id1",
             "t40 P>B PUBLISH id2 q2 m2",
             "t50 B>P PUBREC id2",
             "t60 P>B PUBREL id2",
             "t70 B>P PUBCOMP id2");
    h_check_refs(h);
    h_free(h);
}

/* ---- retries ------------------------------------------------------------ */

static void max_retries_gives_up_after_exact_resends(void **state)
{
    (void)state;
    mq_session_config c = h_cfg(MQ_V311, MQ_QOS2_A);
    mq_session_config pc = c;
    pc.max_retries = 2;
    h_net *h = h_new(&c, 4);
    h_client(h, "P", &pc);
    h_connect_all(h);
    h_lose(h, "P>B", MQ_PUBLISH, 0);
    h_publish(h, "P", "x", 1);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q1 m1 LOST",
             "t100 P>B PUBLISH id1 q1 dup m1 (resend) LOST",
             "t200 P>B PUBLISH id1 q1 dup m1 (resend) LOST",
             "t300 P drop m1 q1 retries_exhausted");
    mq_session *p = h_csess(h, "P");
    assert_false(mq_session_flow_state(p, 1, NULL));
    assert_false(mq_session_id_in_use(p, 1));
    assert_true(mq_session_idle(p));
    h_check_refs(h); /* released with the drop */
    h_free(h);
}

/* A PUBREL that is never answered is given up too, reported without a
 * message (the sender released it at PUBREC). A method-A broker then holds
 * the message for good: it was never released by PUBREL. */
static void qos2_pubrel_given_up_reported_without_message(void **state)
{
    (void)state;
    mq_session_config c = h_cfg(MQ_V311, MQ_QOS2_A);
    mq_session_config pc = c;
    pc.max_retries = 1;
    h_net *h = h_new(&c, 4);
    h_client(h, "P", &pc);
    h_connect_all(h);
    h_lose(h, "P>B", MQ_PUBREL, 0);
    h_publish(h, "P", "x", 2);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q2 m1",
             "t10 B>P PUBREC id1",
             "t20 P>B PUBREL id1 LOST",
             "t120 P>B PUBREL id1 (resend) LOST",
             "t220 P drop - q2 retries_exhausted");
    assert_true(mq_session_holds(h_bsess(h, "P"), 1));
    assert_int_equal(h->msgs[0].refs, 1); /* the broker's stored copy */
    h_clear(h);
    h_close_all(h);
    assert_int_equal(h->n_rec, 0); /* receiver state goes without a report */
    h_check_refs(h);
    h_free(h);
}

/* All 65535 identifiers in flight with max_retries 1 and a dead link: each
 * flow is resent exactly once and then given up; the message waiting in the
 * queue goes out under identifier 1, freed by the give-ups. */
static void retries_exhausted_frees_identifiers_for_queue(void **state)
{
    (void)state;
    enum { N = 65535 };
    mq_session_config c = h_cfg(MQ_V311, MQ_QOS2_A);
    mq_session_config pc = c;
    pc.max_retries = 1;
    h_net *h = h_new(&c, N + 1);
    h_client(h, "P", &pc);
    h_connect_all(h);
    h_lose(h, "P>B", MQ_PUBLISH, 0);
    for (int i = 0; i <= N; i++)
        h_publish(h, "P", "x", 1);
    assert_int_equal(mq_session_queued(h_csess(h, "P")), 1);
    h_run_until(h, 199);
    assert_int_equal(h_count(h, H_SEND, "P>B", MQ_PUBLISH, 0), 2 * (size_t)N);
    assert_int_equal(h_count(h, H_DROP, "P", 0, 0), 0);
    h_clear(h);
    h_run_until(h, 1); /* t200 */
    assert_int_equal(h_count(h, H_DROP, "P", 0, 0), N);
    assert_int_equal(h->n_rec, N + 1);
    const h_rec *last = &h->rec[N];
    assert_int_equal(last->type, MQ_PUBLISH);
    assert_int_equal(last->msg, N + 1);
    assert_int_equal(last->id, 1);
    assert_false(last->dup);
    h_run_quiet(h, 1000);
    h_check_refs(h);
    h_free(h);
}

/* ---- acknowledgements that match nothing -------------------------------- */

static void unknown_acks_ignored_and_counted(void **state)
{
    (void)state;
    h_net *h = h_pair(MQ_V311, MQ_QOS2_A, 2, 4);
    int p = h_find(h, "P")->idx;
    mq_session *ps = h_csess(h, "P");
    h_lose(h, "P>B", MQ_PUBLISH, 0);
    h_publish(h, "P", "x", 2); /* id1 waits for PUBREC */
    h_publish(h, "P", "x", 1); /* id2 waits for PUBACK */
    h_inject_ack(h, p, MQ_PUBACK, 7);
    h_inject_ack(h, p, MQ_PUBREC, 7);
    h_inject_ack(h, p, MQ_PUBCOMP, 7);
    h_inject_ack(h, p, MQ_PUBACK, 1);  /* wrong state: 1 waits for PUBREC */
    h_inject_ack(h, p, MQ_PUBCOMP, 1); /* likewise */
    h_inject_ack(h, p, MQ_PUBREC, 2);  /* 2 waits for PUBACK */
    h_inject_ack(h, p, MQ_PUBCOMP, 2);
    h_inject_ack(h, p, MQ_PUBREL, 9);  /* answered all the same */
    h_expect(h,
             "t0 P>B PUBLISH id1 q2 m1 LOST",
             "t0 P>B PUBLISH id2 q1 m2 LOST",
             "t0 P event unknown_puback PUBACK id7",
             "t0 P event unknown_pubrec PUBREC id7",
             "t0 P event unknown_pubcomp PUBCOMP id7",
             "t0 P event unknown_puback PUBACK id1",
             "t0 P event unknown_pubcomp PUBCOMP id1",
             "t0 P event unknown_pubrec PUBREC id2",
             "t0 P event unknown_pubcomp PUBCOMP id2",
             "t0 P event unknown_pubrel PUBREL id9",
             "t0 P>B PUBCOMP id9");
    mq_msg_state st;
    assert_true(mq_session_flow_state(ps, 1, &st));
    assert_int_equal(st, MQ_MS_WAIT_PUBREC);
    assert_true(mq_session_flow_state(ps, 2, &st));
    assert_int_equal(st, MQ_MS_WAIT_PUBACK);
    assert_int_equal(mq_session_inflight(ps), 2);
    h_close_all(h);
    h_check_refs(h);
    h_free(h);
}

/* A packet type the role does not take is counted and ignored. */
static void unexpected_packets_counted(void **state)
{
    (void)state;
    h_net *h = h_pair(MQ_V311, MQ_QOS2_A, 2, 4);
    int p = h_find(h, "P")->idx, b = h_find(h, "P")->peer;
    mq_packet k;
    memset(&k, 0, sizeof k);
    k.type = MQ_CONNACK;
    h_inject(h, b, &k, NULL);
    k.type = MQ_CONNECT;
    k.client_id = (mq_str){"x", 1};
    h_inject(h, p, &k, NULL);
    memset(&k, 0, sizeof k);
    k.type = MQ_SUBSCRIBE;
    k.id = 3;
    k.n_topics = 1;
    k.topics[0].filter = (mq_str){"a", 1};
    h_inject(h, p, &k, NULL);
    k.type = MQ_SUBACK;
    k.n_codes = 1;
    h_inject(h, b, &k, NULL);
    memset(&k, 0, sizeof k);
    k.type = MQ_PINGREQ; /* the datagram model has no keepalive */
    h_inject(h, b, &k, NULL);
    /* (A PUBLISH without a measurement tag is no longer one of these: the
     * engine builds its message from the bytes; see test_stream.c.) */
    h_expect(h,
             "t0 B event unexpected CONNACK id0",
             "t0 P event unexpected CONNECT id0",
             "t0 P event unexpected SUBSCRIBE id3",
             "t0 B event unexpected SUBACK id3",
             "t0 B event unexpected PINGREQ id0");
    h_free(h);
}

/* Bytes that do not decode to exactly one packet are counted, nothing else. */
static void malformed_bytes_counted_not_crashing(void **state)
{
    (void)state;
    static const struct {
        uint8_t b[12];
        size_t len;
    } bad[] = {
        {{0}, 0},                                  /* nothing */
        {{0x00, 0x00}, 2},                         /* packet type 0 */
        {{0x40, 0x02, 0x00}, 3},                   /* PUBACK cut short */
        {{0x40, 0x02, 0x00, 0x00}, 4},             /* PUBACK for identifier 0 */
        {{0x60, 0x02, 0x00, 0x01}, 4},             /* PUBREL with flags 0 */
        {{0x36, 0x05, 0x00, 0x01, 't', 0x00, 0x01}, 7}, /* PUBLISH QoS 3 */
        {{0x32, 0x05, 0x00, 0x01, '#', 0x00, 0x01}, 7}, /* wildcard topic */
        {{0x30, 0xff, 0xff, 0xff, 0xff, 0x7f}, 6}, /* 5-byte Remaining Length */
        {{0x40, 0x02, 0x00, 0x01, 0x40, 0x02, 0x00, 0x01}, 8}, /* two packets */
        {{0x40, 0x03, 0x00, 0x01, 0x00}, 5},       /* 3.1.1 PUBACK with a byte too many */
    };
    h_net *h = h_pair(MQ_V311, MQ_QOS2_A, 2, 4);
    h_msg tag = {.refs = 1, .id = 99};
    for (int end = 0; end < 2; end++) {
        int to = h_find(h, "P")->idx + end;
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            h_inject_bytes(h, to, bad[i].len ? bad[i].b : NULL, bad[i].len, &tag);
    }
    assert_int_equal(h->n_rec, 2 * sizeof bad / sizeof bad[0]);
    for (size_t i = 0; i < h->n_rec; i++) {
        assert_int_equal(h->rec[i].kind, H_EVENT);
        assert_int_equal(h->rec[i].why, MQ_EV_MALFORMED);
    }
    assert_int_equal(tag.refs, 1); /* no reference kept */
    h_run_quiet(h, 1000);
    assert_int_equal(h->n_rec, 2 * sizeof bad / sizeof bad[0]); /* and nothing sent */
    h_free(h);
}

/* ---- end of run --------------------------------------------------------- */

static void close_reports_in_flight_and_queued(void **state)
{
    (void)state;
    mq_session_config c = h_cfg(MQ_V311, MQ_QOS2_A);
    mq_session_config pc = c;
    pc.max_inflight = 2;
    h_net *h = h_new(&c, 4);
    h_client(h, "P", &pc);
    h_connect_all(h);
    h_lose(h, "P>B", MQ_PUBLISH, 1); /* m1 stays in WAIT_PUBACK */
    h_lose(h, "B>P", MQ_PUBCOMP, 0); /* m2 reaches WAIT_PUBCOMP and stays */
    h_publish(h, "P", "x", 1);
    h_publish(h, "P", "x", 2);
    h_publish(h, "P", "x", 1); /* m3 queued */
    h_run_until(h, 50);
    mq_msg_state st;
    assert_true(mq_session_flow_state(h_csess(h, "P"), 2, &st));
    assert_int_equal(st, MQ_MS_WAIT_PUBCOMP);
    h_clear(h);
    h_close_all(h);
    h_expect(h,
             "t0 P drop m1 q1 in_flight_at_end",
             "t0 P drop - q2 in_flight_at_end",
             "t0 P drop m3 q1 in_flight_at_end");
    assert_true(mq_session_idle(h_csess(h, "P")));
    assert_int_equal(h_find(h, "P")->timer_at, MQ_NEVER);
    /* Frames still in transit hold the last references. */
    h_drop_transit(h);
    h_check_refs(h);
    h_free(h);
}

/* Freeing a busy session releases everything without a report. */
static void free_releases_without_report(void **state)
{
    (void)state;
    mq_session_config c = h_cfg(MQ_V311, MQ_QOS2_A);
    mq_session_config pc = c;
    pc.max_inflight = 1;
    h_net *h = h_new(&c, 4);
    h_client(h, "P", &pc);
    h_connect_all(h);
    h_lose(h, "P>B", MQ_PUBLISH, 0);
    h_publish(h, "P", "x", 1);
    h_publish(h, "P", "x", 2);
    h_clear(h);
    mq_session_free(h_csess(h, "P"));
    h_find(h, "P")->s = NULL;
    assert_int_equal(h->n_rec, 0);
    h_check_refs(h);
    h_free(h);
}

#define V(f) cmocka_unit_test_prestate(f, &v311), cmocka_unit_test_prestate(f, &v5)

int main(void)
{
    const struct CMUnitTest tests[] = {
        V(qos0_sent_once_delivered_once),
        cmocka_unit_test(qos0_lost_never_resent),
        V(qos1_normal_flow),
        V(qos1_publish_lost_resent_with_dup),
        V(qos1_puback_lost_duplicate_delivery),
        V(qos1_downstream_puback_lost_dup_delivered),
        cmocka_unit_test(wire_sizes_follow_version),
        V(connect_lost_resent_until_connack),
        cmocka_unit_test(connack_late_duplicate_counted_connected_once),
        V(suback_lost_subscribe_resent_subscribed_once),
        cmocka_unit_test(suback_duplicate_ignored),
        cmocka_unit_test(pid_rotates_skips_in_flight_reuses_completed),
        cmocka_unit_test(pid_all_in_flight_next_waits_in_queue),
        cmocka_unit_test(window_full_queues_then_queue_full_drops),
        cmocka_unit_test(window_held_until_pubcomp),
        cmocka_unit_test(max_retries_gives_up_after_exact_resends),
        cmocka_unit_test(qos2_pubrel_given_up_reported_without_message),
        cmocka_unit_test(retries_exhausted_frees_identifiers_for_queue),
        cmocka_unit_test(unknown_acks_ignored_and_counted),
        cmocka_unit_test(unexpected_packets_counted),
        cmocka_unit_test(malformed_bytes_counted_not_crashing),
        cmocka_unit_test(close_reports_in_flight_and_queued),
        cmocka_unit_test(free_releases_without_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
