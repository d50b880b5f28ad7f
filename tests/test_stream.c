/* Byte streams and decoded bytes: framing across chunks, zero runs, malformed input, untagged messages, routing by the decoded topic. */
#include "tests/scenario.h"

static uint8_t v311 = MQ_V311, v5 = MQ_V5;
#define VERSION(state) (*(uint8_t *)*(state))

/* A QoS 1 PUBLISH to "t" with 8 payload bytes is 15 bytes (16 in 5.0); QoS 0,
 * 13 (14). */

/* m1 arrives at t10 but its chunk needs 20 bytes, 5 of them from m2, which
 * arrives at t15: m1 is decoded at t15, and m2 is split between that chunk
 * and ten 1-byte chunks, handed in the same instant. */
static void stream_packet_split_across_chunks(void **state)
{
    uint8_t v = VERSION(state);
    h_net *h = h_stream_pair(v, MQ_QOS2_A, 1, 4);
    h->check = true;
    size_t first = v == MQ_V5 ? 21 : 20;
    size_t plan[12] = {first, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    h_chunks(h, "P>B", plan, v == MQ_V5 ? 12 : 11);
    h_publish(h, "P", "t", 1);
    h_run_until(h, 5);
    h_publish(h, "P", "t", 1);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q1 m1",
             "t5 P>B PUBLISH id2 q1 m2",
             "t15 B>S PUBLISH id1 q1 m1",
             "t15 B>P PUBACK id1",
             "t15 B>S PUBLISH id2 q1 m2",
             "t15 B>P PUBACK id2",
             "t25 S got m1 q1",
             "t25 S>B PUBACK id1",
             "t25 S got m2 q1",
             "t25 S>B PUBACK id2");
    assert_true(h->max_rx_held > 0);
    h_check_refs(h);
    h_free(h);
}

/* Three QoS 0 PUBLISHes written 1 ms apart reach the broker in one chunk at
 * t12; the broker decodes all three from it. */
static void stream_many_packets_in_one_chunk(void **state)
{
    uint8_t v = VERSION(state);
    h_net *h = h_stream_pair(v, MQ_QOS2_A, 0, 4);
    size_t plan[1] = {3 * (v == MQ_V5 ? 14u : 13u)};
    h_chunks(h, "P>B", plan, 1);
    for (int i = 0; i < 3; i++) {
        h_run_until(h, i);
        h_publish(h, "P", "t", 0);
    }
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH q0 m1",
             "t1 P>B PUBLISH q0 m2",
             "t2 P>B PUBLISH q0 m3",
             "t12 B>S PUBLISH q0 m1",
             "t12 B>S PUBLISH q0 m2",
             "t12 B>S PUBLISH q0 m3",
             "t22 S got m1 q0",
             "t22 S got m2 q0",
             "t22 S got m3 q0");
    h_check_refs(h);
    h_free(h);
}

/* A 1 MB payload of zeros after its 16-byte head: the wire carries 25 bytes
 * and a count of 1048560 zeros (a 3-byte Remaining Length), both hops; the
 * receivers hold the header and head (25 bytes), never the payload, across
 * chunks that split the header and cut the zeros into pieces; the message
 * delivered keeps only its head. */
static void stream_large_zero_payload_consumed_without_buffering(void **state)
{
    (void)state;
    h_net *h = h_stream_pair(MQ_V311, MQ_QOS2_A, 1, 4);
    h->check = true;
    h->payload_len = 1u << 20;
    size_t plan[4] = {10, 300000, 300000, 300000};
    h_chunks(h, "P>B", plan, 4);
    h_publish(h, "P", "t", 1);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 P>B PUBLISH id1 q1 m1",
             "t10 B>S PUBLISH id1 q1 m1",
             "t10 B>P PUBACK id1",
             "t20 S got m1 q1",
             "t20 S>B PUBACK id1");
    assert_int_equal(h->rec[0].bytes, 9 + (1u << 20));
    assert_int_equal(h->rec[0].zeros, (1u << 20) - 16);
    assert_int_equal(h->rec[1].zeros, (1u << 20) - 16);
    assert_int_equal(h->rec[3].bytes, 1u << 20); /* the payload length delivered */
    assert_false(h->rec[3].body);
    assert_true(h->max_rx_held <= 25);
    assert_true(h->max_rx_held >= 10);
    h_check_refs(h);
    h_free(h);
}

/* A real peer's payload (not head + zeros) is stored whole and forwarded
 * intact, here fed to the broker one byte at a time. */
static void stream_payload_forwarded_intact(void **state)
{
    uint8_t v = VERSION(state);
    h_net *h = h_stream_pair(v, MQ_QOS2_A, 1, 4);
    static const char text[] = "\0\0\0\0\0\0\0\x07hello, MQTT, a payload that is not zeros";
    mq_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQ_PUBLISH;
    p.qos = 1;
    p.id = 5;
    p.topic = (mq_str){"t", 1};
    p.payload = (const uint8_t *)text;
    p.payload_len = sizeof text - 1;
    uint8_t buf[128];
    size_t used;
    assert_int_equal(mq_codec_encode(&p, v, buf, sizeof buf, &used), MQ_OK);
    int b = h_find(h, "P")->peer;
    for (size_t i = 0; i < used; i++)
        h_inject_bytes(h, b, buf + i, 1, NULL);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 B>S PUBLISH id1 q1 m?7",
             "t0 B>P PUBACK id5",
             "t10 S got m?7 q1",
             "t10 S>B PUBACK id1",
             "t10 P event unknown_puback PUBACK id5"); /* P sent nothing */
    assert_true(h->rec[2].body);
    assert_int_equal(h->rec[2].bytes, sizeof text - 1);
    assert_memory_equal(h->got_payload, text, sizeof text - 1);
    assert_int_equal(h->rec[0].zeros, 0);
    h_free(h);
}

/* Bytes that do not frame close the connection (protocol error, counted);
 * the client learns by the FIN and comes back to its kept session. The same
 * at the client's end. */
static void stream_malformed_closes_with_protocol_error(void **state)
{
    h_net *h = h_stream_pair(VERSION(state), MQ_QOS2_A, 1, 4);
    static const uint8_t type0[] = {0x00, 0x00};
    h_inject_bytes(h, h_find(h, "P")->peer, type0, sizeof type0, NULL);
    static const uint8_t wildcard[] = {0x32, 0x05, 0x00, 0x01, '#', 0x00, 0x01};
    h_inject_bytes(h, h_find(h, "S")->idx, wildcard, sizeof wildcard, NULL);
    h_run_until(h, 2000);
    h_expect(h,
             "t0 B event malformed",
             "t0 B close protocol_error",
             "t0 S event malformed",
             "t0 S close protocol_error",
             "t10 P down fin",
             "t10 B down fin",
             "t1000 S open",
             "t1010 S up",
             "t1010 S>B CONNECT",
             "t1010 P open",
             "t1020 B>S CONNACK",
             "t1020 P up",
             "t1020 P>B CONNECT",
             "t1030 S connected present",
             "t1030 B>P CONNACK",
             "t1040 P connected present");
    h_free(h);
}

/* A Remaining Length above the broker's maximum packet size closes at the
 * fixed header, before the payload comes; every resend meets the same. */
static void stream_packet_above_max_size_closes(void **state)
{
    (void)state;
    mq_session_config b = h_cfg(MQ_V311, MQ_QOS2_A);
    b.max_packet_size = 64;
    mq_session_config c = h_stream_cfg(MQ_V311, MQ_QOS2_A);
    h_net *h = h_new(&b, 4);
    h_client(h, "P", &c);
    h_connect_all(h);
    h->payload_len = 100;
    h_publish(h, "P", "t", 1);
    h_run_until(h, 1100);
    h_expect(h,
             "t0 P>B PUBLISH id1 q1 m1",
             "t10 B event malformed",
             "t10 B close protocol_error",
             "t20 P down fin",
             "t1020 P open",
             "t1030 P up",
             "t1030 P>B CONNECT",
             "t1040 B>P CONNACK",
             "t1050 P>B PUBLISH id1 q1 dup m1 (resend)",
             "t1050 P connected present",
             "t1060 B event malformed",
             "t1060 B close protocol_error",
             "t1070 P down fin");
    h_free(h);
}

/* ---- messages from decoded bytes (issue 11) ------------------------------- */

static size_t publish_bytes(uint8_t version, const char *topic, uint8_t qos, uint16_t id,
                            bool dup, bool retain, uint64_t payload_id, uint8_t *buf, size_t cap)
{
    uint8_t pay[8];
    for (int i = 0; i < 8; i++)
        pay[i] = (uint8_t)(payload_id >> (56 - 8 * i));
    mq_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQ_PUBLISH;
    p.qos = qos;
    p.id = id;
    p.dup = dup;
    p.retain = retain;
    p.topic = (mq_str){topic, (uint16_t)strlen(topic)};
    p.payload = pay;
    p.payload_len = 8;
    size_t used;
    assert_int_equal(mq_codec_encode(&p, version, buf, cap, &used), MQ_OK);
    return used;
}

/* A PUBLISH without a measurement tag (a real peer's) is a message of its
 * own, built from the bytes: routed, forwarded and delivered the same. */
static void publish_without_tag_builds_message_from_bytes(void **state)
{
    uint8_t v = VERSION(state);
    for (int stream = 0; stream < 2; stream++) {
        h_net *h = stream ? h_stream_pair(v, MQ_QOS2_A, 2, 4) : h_pair(v, MQ_QOS2_A, 2, 4);
        uint8_t buf[64];
        size_t n = publish_bytes(v, "t", 1, 7, false, false, 42, buf, sizeof buf);
        h_inject_bytes(h, h_find(h, "P")->peer, buf, n, NULL);
        h_run_quiet(h, 1000);
        h_expect(h,
                 "t0 B>S PUBLISH id1 q1 m?42",
                 "t0 B>P PUBACK id7",
                 "t10 S got m?42 q1",
                 "t10 S>B PUBACK id1",
                 "t10 P event unknown_puback PUBACK id7"); /* P sent nothing */
        h_free(h);
    }
}

/* The bytes say topic "a", the tag belongs to a message made for "b": the
 * broker routes on the bytes, so S (on "a") gets it, tag and all, and S2 (on
 * "b") does not. Routing on the tag, as the wave-1 broker did on its message
 * pointer, would have sent it to S2 and passed. */
static void broker_routes_on_decoded_topic_not_tag(void **state)
{
    uint8_t v = VERSION(state);
    mq_session_config c = h_cfg(v, MQ_QOS2_A);
    h_net *h = h_new(&c, 4);
    h_client(h, "P", &c);
    h_client(h, "S", &c);
    h_client(h, "S2", &c);
    h_connect_all(h);
    h_subscribe(h, "S", "a", 1);
    h_subscribe(h, "S2", "b", 1);
    mq_msg *m = h_make(h, "b"); /* m1: the host thinks "b" */
    uint8_t buf[64];
    size_t n = publish_bytes(v, "a", 1, 3, false, false, 1, buf, sizeof buf);
    h_inject_bytes(h, h_find(h, "P")->peer, buf, n, &h->msgs[0]);
    mq_msg_unref(m);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 B>S PUBLISH id1 q1 m1",
             "t0 B>P PUBACK id3",
             "t10 S got m1 q1",
             "t10 S>B PUBACK id1",
             "t10 P event unknown_puback PUBACK id3"); /* P sent nothing */
    assert_int_equal(h_count(h, H_GOT, "S2", 0, 0), 0);
    h_check_refs(h);
    h_free(h);
}

/* A delivery reports the decoded packet: its QoS, DUP and retain flags,
 * whatever the tag's message was published with. A QoS 2 PUBLISH with DUP
 * and RETAIN, stored (method A) and delivered at PUBREL, reports the stored
 * PUBLISH's header; a QoS 0 one its own. */
static void deliveries_report_decoded_packet(void **state)
{
    uint8_t v = VERSION(state);
    h_net *h = h_pair(v, MQ_QOS2_A, 2, 4);
    mq_msg *m = h_make(h, "t");
    int s = h_find(h, "S")->idx;
    uint8_t buf[64];
    size_t n = publish_bytes(v, "t", 2, 9, true, true, 1, buf, sizeof buf);
    h_inject_bytes(h, s, buf, n, &h->msgs[0]);
    h_inject_ack(h, s, MQ_PUBREL, 9);
    n = publish_bytes(v, "t", 0, 0, false, true, 1, buf, sizeof buf);
    h_inject_bytes(h, s, buf, n, &h->msgs[0]);
    mq_msg_unref(m);
    h_run_quiet(h, 1000);
    h_expect(h,
             "t0 S>B PUBREC id9",
             "t0 S got m1 q2 dup retain",
             "t0 S>B PUBCOMP id9",
             "t0 S got m1 q0 retain",
             "t10 B event unknown_pubrec PUBREC id9",
             "t10 B event unknown_pubcomp PUBCOMP id9");
    h_close_all(h);
    h_check_refs(h);
    h_free(h);
}

/* The codec's fast PUBLISH header writes the same bytes as its full encoder,
 * and its head decoder reads them back, on every prefix answering "need
 * more" with a need that grows, never past the packet. */
static void publish_head_encode_decode_agree(void **state)
{
    (void)state;
    static const char *const topics[] = {"t", "a/b/c", "sensors/room/42/temperature"};
    static const uint32_t lens[] = {0, 1, 8, 16, 200, 70000};
    for (int v = 0; v < 2; v++)
        for (size_t ti = 0; ti < 3; ti++)
            for (size_t li = 0; li < 6; li++)
                for (uint8_t qos = 0; qos <= 2; qos++) {
                    uint8_t version = v ? MQ_V5 : MQ_V311;
                    uint32_t plen = lens[li];
                    mq_packet p;
                    memset(&p, 0, sizeof p);
                    p.type = MQ_PUBLISH;
                    p.qos = qos;
                    p.id = qos ? 77 : 0;
                    p.dup = qos > 0;
                    p.retain = qos == 1;
                    p.topic = (mq_str){topics[ti], (uint16_t)strlen(topics[ti])};
                    p.payload_len = plen;
                    size_t full_len = mq_codec_size(&p, version);
                    uint8_t *full = malloc(full_len);
                    assert_non_null(full);
                    size_t used;
                    assert_int_equal(mq_codec_encode(&p, version, full, full_len, &used), MQ_OK);
                    uint8_t head[128];
                    size_t hl;
                    assert_int_equal(mq_codec_publish_encode_head(
                                         head, sizeof head, version, qos, p.dup, p.retain, p.id,
                                         p.topic.s, p.topic.len, plen, &hl),
                                     MQ_OK);
                    assert_int_equal(hl + plen, full_len);
                    assert_memory_equal(head, full, hl);
                    mq_pubhead ph;
                    size_t need = 0, last = 0;
                    for (size_t k = 0; k < hl; k++) {
                        assert_int_equal(mq_codec_publish_head(full, k, version, &ph, &need),
                                         MQ_ERR_NEED_MORE);
                        assert_true(need > k && need <= hl && need >= last);
                        last = need;
                    }
                    assert_int_equal(mq_codec_publish_head(full, hl, version, &ph, &need), MQ_OK);
                    assert_int_equal(ph.payload_off, hl);
                    assert_int_equal(ph.payload_len, plen);
                    assert_int_equal(ph.total, full_len);
                    assert_int_equal(ph.qos, qos);
                    assert_int_equal(ph.id, p.id);
                    assert_int_equal(ph.dup, p.dup);
                    assert_int_equal(ph.retain, p.retain);
                    free(full);
                }
}

#define V(f) cmocka_unit_test_prestate(f, &v311), cmocka_unit_test_prestate(f, &v5)

int main(void)
{
    const struct CMUnitTest tests[] = {
        V(stream_packet_split_across_chunks),
        V(stream_many_packets_in_one_chunk),
        cmocka_unit_test(stream_large_zero_payload_consumed_without_buffering),
        V(stream_payload_forwarded_intact),
        V(stream_malformed_closes_with_protocol_error),
        cmocka_unit_test(stream_packet_above_max_size_closes),
        V(publish_without_tag_builds_message_from_bytes),
        V(broker_routes_on_decoded_topic_not_tag),
        V(deliveries_report_decoded_packet),
        cmocka_unit_test(publish_head_encode_decode_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
