/* Broker: subscription table, routing with '+' and '#', QoS downgrade, fan-out through sessions. */
#include "tests/scenario.h"

/* A broker with n connected clients C0, C1, ... and their sessions 0, 1, ...
 * (the sessions exist from their CONNECT on). */
static h_net *table_net(int n)
{
    mq_session_config c = h_cfg(MQ_V311, MQ_QOS2_A);
    h_net *h = h_new(&c, 4);
    static const char *const names[] = {"C0", "C1", "C2", "C3"};
    assert_true(n <= 4);
    for (int i = 0; i < n; i++)
        h_client(h, names[i], &c);
    h_connect_all(h);
    assert_int_equal(mq_broker_sessions(h->b), n);
    for (int i = 0; i < n; i++)
        assert_int_equal(mq_broker_session_index(h_bsess(h, names[i])), i);
    return h;
}

static uint8_t sub(h_net *h, int client, const char *filter, uint8_t qos)
{
    return mq_broker_subscribe(h->b, client, filter, strlen(filter), qos);
}

static size_t route(h_net *h, const char *topic, uint8_t qos, mq_route *out, size_t cap)
{
    return mq_broker_route(h->b, topic, strlen(topic), qos, out, cap);
}

/* ---- the table ---------------------------------------------------------- */

static void subscribe_grants_qos_refuses_bad_filters(void **state)
{
    (void)state;
    h_net *h = table_net(1);
    assert_int_equal(sub(h, 0, "a/b", 0), 0);
    assert_int_equal(sub(h, 0, "a/+", 1), 1);
    assert_int_equal(sub(h, 0, "#", 2), 2);
    assert_int_equal(sub(h, 0, "+/+/#", 2), 2);
    assert_int_equal(sub(h, 0, "a/#/b", 1), 0x80); /* '#' not last */
    assert_int_equal(sub(h, 0, "a+", 1), 0x80);    /* '+' not a whole level */
    assert_int_equal(sub(h, 0, "a#", 1), 0x80);
    assert_int_equal(sub(h, 0, "", 1), 0x80);
    assert_int_equal(sub(h, 0, "a", 3), 0x80);     /* no QoS 3 */
    mq_route r[2];
    /* The refused ones left nothing behind: "a" matches only "#". */
    assert_int_equal(route(h, "a", 2, r, 2), 1);
    assert_int_equal(r[0].qos, 2);
    h_free(h);
}

/* Subscribing again to the same filter replaces its QoS (it does not add a
 * second entry, and a lower QoS does lower it). */
static void resubscribe_same_filter_replaces_qos(void **state)
{
    (void)state;
    h_net *h = table_net(1);
    mq_route r[1];
    assert_int_equal(sub(h, 0, "a/+", 2), 2);
    assert_int_equal(route(h, "a/x", 2, r, 1), 1);
    assert_int_equal(r[0].qos, 2);
    assert_int_equal(sub(h, 0, "a/+", 0), 0);
    assert_int_equal(route(h, "a/x", 2, r, 1), 1);
    assert_int_equal(r[0].qos, 0);
    assert_int_equal(sub(h, 0, "a/+", 1), 1);
    assert_int_equal(route(h, "a/x", 2, r, 1), 1);
    assert_int_equal(r[0].qos, 1);
    h_free(h);
}

/* ---- routing ------------------------------------------------------------ */

static void route_wildcards_client_order_once_per_client(void **state)
{
    (void)state;
    h_net *h = table_net(4);
    sub(h, 0, "sport/tennis/+", 1);
    sub(h, 1, "sport/#", 2);
    sub(h, 1, "sport/tennis/player1", 0); /* overlaps: the highest QoS wins */
    sub(h, 2, "sport/+", 2);
    sub(h, 3, "#", 0);
    mq_route r[4];
    assert_int_equal(route(h, "sport/tennis/player1", 2, r, 4), 3);
    assert_int_equal(r[0].client, 0);
    assert_int_equal(r[0].qos, 1);
    assert_int_equal(r[1].client, 1);
    assert_int_equal(r[1].qos, 2);
    assert_int_equal(r[2].client, 3);
    assert_int_equal(r[2].qos, 0);
    /* "sport/#" matches its parent level; "sport/+" needs one level. */
    assert_int_equal(route(h, "sport", 1, r, 4), 2);
    assert_int_equal(r[0].client, 1);
    assert_int_equal(r[0].qos, 1);
    assert_int_equal(r[1].client, 3);
    assert_int_equal(route(h, "sport/", 2, r, 4), 3); /* '+' matches the empty level */
    assert_int_equal(r[1].client, 2);
    assert_int_equal(route(h, "other", 2, r, 4), 1);
    /* More matches than room: the count is still right, only cap written. */
    r[1].client = -7;
    assert_int_equal(route(h, "sport/tennis/player1", 1, r, 1), 3);
    assert_int_equal(r[0].client, 0);
    assert_int_equal(r[1].client, -7);
    h_free(h);
}

/* Topics starting with '$' are not matched by filters starting with a
 * wildcard, only by filters that name the '$' level. */
static void dollar_topics_need_explicit_filters(void **state)
{
    (void)state;
    h_net *h = table_net(4);
    sub(h, 0, "#", 2);
    sub(h, 1, "+/info", 2);
    sub(h, 2, "$SYS/#", 1);
    sub(h, 3, "$SYS/+", 2);
    mq_route r[4];
    assert_int_equal(route(h, "$SYS/info", 2, r, 4), 2);
    assert_int_equal(r[0].client, 2);
    assert_int_equal(r[0].qos, 1);
    assert_int_equal(r[1].client, 3);
    assert_int_equal(r[1].qos, 2);
    assert_int_equal(route(h, "sys/info", 2, r, 4), 2); /* without '$': "#" and "+/info" */
    assert_int_equal(r[0].client, 0);
    assert_int_equal(r[1].client, 1);
    h_free(h);
}

/* ---- the QoS downgrade table, packet by packet -------------------------- */

/* Every row of the table: publish QoS x subscription QoS -> delivered QoS,
 * min of the two. Three subscribers S0, S1, S2 subscribe to "t" at QoS 0,
 * 1, 2; P publishes one message at each QoS. The QoS is read from the
 * PUBLISH the broker puts on the wire to each subscriber, and each
 * subscriber's application gets the message exactly once at that QoS. */
static void downgrade_table_all_nine_rows(void **state)
{
    static const uint8_t table[9][3] = {
        /* publish, subscription, received */
        {0, 0, 0}, {0, 1, 0}, {0, 2, 0},
        {1, 0, 0}, {1, 1, 1}, {1, 2, 1},
        {2, 0, 0}, {2, 1, 1}, {2, 2, 2},
    };
    static const char *const dirs[] = {"B>S0", "B>S1", "B>S2"};
    static const char *const subs[] = {"S0", "S1", "S2"};
    mq_session_config c = h_cfg(*(uint8_t *)*state, MQ_QOS2_A);
    h_net *h = h_new(&c, 4);
    h_client(h, "P", &c);
    for (int s = 0; s < 3; s++)
        h_client(h, subs[s], &c);
    h_connect_all(h);
    for (int s = 0; s < 3; s++)
        h_subscribe(h, subs[s], "t", (uint8_t)s);
    for (int row = 0; row < 9; row++) {
        uint8_t pq = table[row][0], sq = table[row][1], want = table[row][2];
        if (sq == 0) { /* one publish per publish QoS, checked for all three */
            h_clear(h);
            h_publish(h, "P", "t", pq);
            h_run_quiet(h, 1000);
        }
        uint64_t m = h->n_msgs;
        size_t n = 0;
        for (size_t i = 0; i < h->n_rec; i++) {
            const h_rec *r = &h->rec[i];
            if (r->kind == H_SEND && r->type == MQ_PUBLISH &&
                strcmp(h->e[r->end].dir, dirs[sq]) == 0) {
                assert_int_equal(r->msg, m);
                assert_int_equal(r->qos, want);
                assert_false(r->dup);
                n++;
            }
            if (r->kind == H_GOT && strcmp(h->e[r->end].name, subs[sq]) == 0) {
                assert_int_equal(r->msg, m);
                assert_int_equal(r->qos, want);
            }
        }
        assert_int_equal(n, 1);
        assert_int_equal(h_count(h, H_GOT, subs[sq], 0, m), 1);
    }
    assert_int_equal(mq_broker_routed(h->b), 3);
    assert_int_equal(mq_broker_forwarded(h->b), 9);
    h_check_refs(h);
    h_free(h);
}

/* The whole exchange for one message fanned out at three QoS levels. */
static void fanout_qos2_publish_to_three_subscription_levels(void **state)
{
    (void)state;
    mq_session_config c = h_cfg(MQ_V311, MQ_QOS2_B);
    h_net *h = h_new(&c, 4);
    h_client(h, "P", &c);
    h_client(h, "S0", &c);
    h_client(h, "S1", &c);
    h_client(h, "S2", &c);
    h_connect_all(h);
    h_subscribe(h, "S0", "t/#", 0);
    h_subscribe(h, "S1", "+", 1);
    h_subscribe(h, "S2", "t", 2);
    h_publish(h, "P", "t", 2);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q2 m1",
             "t10 B>S0 PUBLISH q0 m1",
             "t10 B>S1 PUBLISH id1 q1 m1",
             "t10 B>S2 PUBLISH id1 q2 m1",
             "t10 B>P PUBREC id1",
             "t20 S0 got m1 q0",
             "t20 S1 got m1 q1",
             "t20 S1>B PUBACK id1",
             "t20 S2 got m1 q2",
             "t20 S2>B PUBREC id1",
             "t20 P>B PUBREL id1",
             "t30 B>S2 PUBREL id1",
             "t30 B>P PUBCOMP id1",
             "t40 S2>B PUBCOMP id1");
    h_check_refs(h);
    h_free(h);
}

/* One SUBSCRIBE with several filters gets one code per filter. */
static void subscribe_packet_with_several_filters(void **state)
{
    (void)state;
    mq_session_config c = h_cfg(MQ_V5, MQ_QOS2_A);
    h_net *h = h_new(&c, 4);
    h_client(h, "P", &c);
    h_client(h, "S", &c);
    h_connect_all(h);
    mq_sub subs[] = {{"a/#", 3, 1}, {"b", 1, 2}, {"a/x", 3, 0}};
    assert_int_equal(mq_session_subscribe(h_csess(h, "S"), h->now, subs, 3), 0);
    h_run_quiet(h, 1000);
    h_end *s = h_find(h, "S");
    assert_int_equal(s->n_codes, 3);
    assert_int_equal(s->codes[0], 1);
    assert_int_equal(s->codes[1], 2);
    assert_int_equal(s->codes[2], 0);
    mq_route r[2];
    assert_int_equal(mq_broker_route(h->b, "a/x", 3, 2, r, 2), 1);
    assert_int_equal(r[0].client, 1);
    assert_int_equal(r[0].qos, 1);
    h_free(h);
}

/* A client subscribed to its own topic gets its message back: the broker
 * publishes on that client's session from inside the same session's deliver
 * callback. */
static void self_subscription_gets_own_message(void **state)
{
    (void)state;
    mq_session_config c = h_cfg(MQ_V311, MQ_QOS2_A);
    h_net *h = h_new(&c, 4);
    h_client(h, "P", &c);
    h_connect_all(h);
    h_subscribe(h, "P", "t", 2);
    h_publish(h, "P", "t", 2);
    h_run_quiet(h, 1000);
    /* P's SUBSCRIBE took identifier 1 (one identifier space per session), so
     * the PUBLISH rotates on to 2; the broker's session for P has its own
     * space and starts at 1. */
    h_expect(h,
             "t0 P>B PUBLISH id2 q2 m1",
             "t10 B>P PUBREC id2",
             "t20 P>B PUBREL id2",
             "t30 B>P PUBLISH id1 q2 m1",
             "t30 B>P PUBCOMP id2",
             "t40 P>B PUBREC id1",
             "t50 B>P PUBREL id1",
             "t60 P got m1 q2",
             "t60 P>B PUBCOMP id1");
    h_check_refs(h);
    h_free(h);
}

/* The broker's sessions have their own window and queue: a slow subscriber
 * overflows them and the broker counts the drop. */
static void broker_queue_full_drops_towards_subscriber(void **state)
{
    (void)state;
    mq_session_config c = h_cfg(MQ_V311, MQ_QOS2_A);
    mq_session_config bc = c;
    bc.max_inflight = 1;
    bc.max_queued = 1;
    h_net *h = h_new(&bc, 4);
    h_client(h, "P", &c);
    h_client(h, "S", &c);
    h_connect_all(h);
    h_subscribe(h, "S", "t", 1);
    for (int i = 0; i < 3; i++)
        h_publish(h, "P", "t", 1);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q1 m1",
             "t0 P>B PUBLISH id2 q1 m2",
             "t0 P>B PUBLISH id3 q1 m3",
             "t10 B>S PUBLISH id1 q1 m1",
             "t10 B>P PUBACK id1",
             "t10 B>P PUBACK id2",
             "t10 B drop m3 q1 queue_full",
             "t10 B>P PUBACK id3",
             "t20 S got m1 q1",
             "t20 S>B PUBACK id1",
             "t30 B>S PUBLISH id2 q1 m2",
             "t40 S got m2 q1",
             "t40 S>B PUBACK id2");
    h_check_refs(h);
    h_free(h);
}

static uint8_t v311 = MQ_V311, v5 = MQ_V5;

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(subscribe_grants_qos_refuses_bad_filters),
        cmocka_unit_test(resubscribe_same_filter_replaces_qos),
        cmocka_unit_test(route_wildcards_client_order_once_per_client),
        cmocka_unit_test(dollar_topics_need_explicit_filters),
        cmocka_unit_test_prestate(downgrade_table_all_nine_rows, &v311),
        cmocka_unit_test_prestate(downgrade_table_all_nine_rows, &v5),
        cmocka_unit_test(fanout_qos2_publish_to_three_subscription_levels),
        cmocka_unit_test(subscribe_packet_with_several_filters),
        cmocka_unit_test(self_subscription_gets_own_message),
        cmocka_unit_test(broker_queue_full_drops_towards_subscriber),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
