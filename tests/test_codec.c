/* Tests of the MQTT wire codec: spec vectors, round trips, malformed input, bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "models/codec.h"
#include "models/topic.h"
#include "models/utf8.h"

/* ------------------------------------------------------------------------ */
/* Helpers */

#define S(lit) {lit, sizeof(lit) - 1}
#define BYTES(...) .b = (const uint8_t[]){__VA_ARGS__}, .n = sizeof((const uint8_t[]){__VA_ARGS__})

static void assert_str_eq(mq_str a, mq_str b)
{
    assert_int_equal(a.len, b.len);
    if (a.len)
        assert_memory_equal(a.s, b.s, a.len);
}

/* Every field a packet of its type carries; the rest must be zero in both. */
static void assert_packet_eq(const mq_packet *a, const mq_packet *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->dup, b->dup);
    assert_int_equal(a->retain, b->retain);
    assert_int_equal(a->qos, b->qos);
    assert_int_equal(a->id, b->id);
    assert_str_eq(a->topic, b->topic);
    assert_int_equal(a->payload_len, b->payload_len);
    if (a->payload_len)
        assert_memory_equal(a->payload, b->payload, a->payload_len);
    if (a->type == MQ_CONNECT)
        assert_int_equal(a->version, b->version);
    assert_int_equal(a->clean_start, b->clean_start);
    assert_int_equal(a->keepalive, b->keepalive);
    assert_str_eq(a->client_id, b->client_id);
    assert_int_equal(a->session_present, b->session_present);
    assert_int_equal(a->reason, b->reason);
    assert_int_equal(a->n_topics, b->n_topics);
    for (int i = 0; i < a->n_topics; i++) {
        assert_str_eq(a->topics[i].filter, b->topics[i].filter);
        assert_int_equal(a->topics[i].options, b->topics[i].options);
    }
    assert_int_equal(a->n_codes, b->n_codes);
    if (a->n_codes)
        assert_memory_equal(a->codes, b->codes, a->n_codes);
    assert_int_equal(a->props.has_receive_maximum, b->props.has_receive_maximum);
    assert_int_equal(a->props.has_session_expiry, b->props.has_session_expiry);
    assert_int_equal(a->props.has_topic_alias, b->props.has_topic_alias);
    if (a->props.has_receive_maximum)
        assert_int_equal(a->props.receive_maximum, b->props.receive_maximum);
    if (a->props.has_session_expiry)
        assert_int_equal(a->props.session_expiry, b->props.session_expiry);
    if (a->props.has_topic_alias)
        assert_int_equal(a->props.topic_alias, b->props.topic_alias);
}

/* Decodes a copy of b[0..n) held in a heap block of exactly n bytes, so that
 * AddressSanitizer catches any read past the end. The decoded packet points
 * into the copy, which stays alive for the next few calls (a small ring). */
static uint8_t *copies[4];
static unsigned copy_next;

static int decode_exact(const uint8_t *b, size_t n, uint8_t v, mq_packet *p, size_t *used)
{
    unsigned slot = copy_next++ % 4;
    free(copies[slot]);
    uint8_t *copy = copies[slot] = malloc(n ? n : 1);
    assert_non_null(copy);
    if (n)
        memcpy(copy, b, n);
    return mq_codec_decode(copy, n, v, p, used);
}

static int free_copies(void **state)
{
    (void)state;
    for (int i = 0; i < 4; i++) {
        free(copies[i]);
        copies[i] = NULL;
    }
    return 0;
}

static int dec_rc(uint8_t v, const uint8_t *b, size_t n)
{
    mq_packet p;
    size_t used = 12345;
    int rc = decode_exact(b, n, v, &p, &used);
    if (rc != MQ_OK)
        assert_int_equal(used, 12345); /* left unset on error */
    return rc;
}

/* The decode result of the listed bytes. */
#define DEC(v, ...) dec_rc((v), (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}))

#define V4 MQ_V311
#define V5 MQ_V5

/* ------------------------------------------------------------------------ */
/* Byte-exact vectors, worked out by hand from the OASIS texts: MQTT 3.1.1
 * (29 October 2014) and MQTT 5.0 (7 March 2019). Section numbers below are
 * "3.1.1 §x" or "5.0 §x". `canonical` vectors are what the encoder must
 * produce for pkt; the others are other valid forms the decoder must accept
 * (pkt is what they decode to). */

typedef struct {
    const char *name;
    uint8_t version;
    bool canonical;
    mq_packet pkt;
    const uint8_t *b;
    size_t n;
} vec;

static const vec vecs[] = {
    /* 3.1.1 §3.1: protocol name 00 04 "MQTT", level 4, flags (clean 0x02),
     * keep alive, then the client identifier (§3.1.3.1). */
    {"3.1.1 §3.1 CONNECT", V4, true,
     {.type = MQ_CONNECT, .version = V4, .clean_start = true, .keepalive = 60,
      .client_id = S("c1")},
     BYTES(0x10, 0x0E, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x02,
           'c', '1')},
    /* 3.1.1 §3.1.3.1: a zero-byte client identifier is allowed */
    {"3.1.1 §3.1.3.1 CONNECT empty client id", V4, true,
     {.type = MQ_CONNECT, .version = V4, .clean_start = true},
     BYTES(0x10, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x00, 0x00, 0x00)},
    /* 3.1.1 §3.1.2.10 Figure 3.6: flags 0xCE = user name, password, will QoS 1,
     * will, clean; keep alive 10; §3.1.3 payload order: client id, will
     * topic, will message, user name, password. Will and credentials are
     * checked and skipped, so this is decode-only. */
    {"3.1.1 §3.1.2.10 CONNECT will+user+password", V4, false,
     {.type = MQ_CONNECT, .version = V4, .clean_start = true, .keepalive = 10,
      .client_id = S("c1")},
     BYTES(0x10, 0x1A, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0xCE, 0x00, 0x0A, 0x00, 0x02,
           'c', '1', 0x00, 0x01, 'w', 0x00, 0x01, 'x', 0x00, 0x01, 'u', 0x00, 0x01, 'p')},
    /* 3.1.1 §3.2.2: acknowledge flags (bit 0 Session Present), return code */
    {"3.1.1 §3.2 CONNACK session present", V4, true,
     {.type = MQ_CONNACK, .session_present = true}, BYTES(0x20, 0x02, 0x01, 0x00)},
    {"3.1.1 §3.2.2.3 CONNACK refused 5", V4, true, {.type = MQ_CONNACK, .reason = 5},
     BYTES(0x20, 0x02, 0x00, 0x05)},
    /* 3.1.1 §3.3.1: flags DUP(3) QoS(2-1) RETAIN(0); §3.3.2: topic, then a
     * packet identifier only when QoS > 0; the rest is payload. */
    {"3.1.1 §3.3 PUBLISH QoS 0", V4, true,
     {.type = MQ_PUBLISH, .topic = S("a/b"), .payload = (const uint8_t *)"hi", .payload_len = 2},
     BYTES(0x30, 0x07, 0x00, 0x03, 'a', '/', 'b', 'h', 'i')},
    /* 3.1.1 §3.3.2.3 Figure 3.11 variable header: "a/b", identifier 10 */
    {"3.1.1 §3.3.2.3 PUBLISH QoS 1 DUP RETAIN", V4, true,
     {.type = MQ_PUBLISH, .dup = true, .retain = true, .qos = 1, .id = 10, .topic = S("a/b"),
      .payload = (const uint8_t *)"hi", .payload_len = 2},
     BYTES(0x3B, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A, 'h', 'i')},
    {"3.1.1 §3.3.3 PUBLISH QoS 2 empty payload", V4, true,
     {.type = MQ_PUBLISH, .qos = 2, .id = 0xFFFF, .topic = S("a/b")},
     BYTES(0x34, 0x07, 0x00, 0x03, 'a', '/', 'b', 0xFF, 0xFF)},
    /* 3.1.1 §1.5.3: topic "é/€" is C3 A9 2F E2 82 AC */
    {"3.1.1 §1.5.3 PUBLISH UTF-8 topic", V4, true,
     {.type = MQ_PUBLISH, .topic = S("\xC3\xA9/\xE2\x82\xAC")},
     BYTES(0x30, 0x08, 0x00, 0x06, 0xC3, 0xA9, 0x2F, 0xE2, 0x82, 0xAC)},
    /* 3.1.1 §3.4-3.7: Remaining Length 2, the identifier; PUBREL flags 0010 */
    {"3.1.1 §3.4 PUBACK", V4, true, {.type = MQ_PUBACK, .id = 10}, BYTES(0x40, 0x02, 0x00, 0x0A)},
    {"3.1.1 §3.5 PUBREC", V4, true, {.type = MQ_PUBREC, .id = 10}, BYTES(0x50, 0x02, 0x00, 0x0A)},
    {"3.1.1 §3.6 PUBREL", V4, true, {.type = MQ_PUBREL, .id = 10}, BYTES(0x62, 0x02, 0x00, 0x0A)},
    {"3.1.1 §3.7 PUBCOMP", V4, true, {.type = MQ_PUBCOMP, .id = 10}, BYTES(0x70, 0x02, 0x00, 0x0A)},
    /* 3.1.1 §3.8.3 Figure 3.22: "a/b" QoS 1, "c/d" QoS 2 */
    {"3.1.1 §3.8 SUBSCRIBE", V4, true,
     {.type = MQ_SUBSCRIBE, .id = 10, .n_topics = 2, .topics = {{S("a/b"), 1}, {S("c/d"), 2}}},
     BYTES(0x82, 0x0E, 0x00, 0x0A, 0x00, 0x03, 'a', '/', 'b', 0x01, 0x00, 0x03, 'c', '/', 'd',
           0x02)},
    /* 3.1.1 §3.9.3 Figure 3.26: QoS 0, QoS 2, Failure */
    {"3.1.1 §3.9 SUBACK", V4, true,
     {.type = MQ_SUBACK, .id = 10, .n_codes = 3, .codes = {0x00, 0x02, 0x80}},
     BYTES(0x90, 0x05, 0x00, 0x0A, 0x00, 0x02, 0x80)},
    /* 3.1.1 §3.10.3 Figure 3.30: "a/b", "c/d" */
    {"3.1.1 §3.10 UNSUBSCRIBE", V4, true,
     {.type = MQ_UNSUBSCRIBE, .id = 10, .n_topics = 2, .topics = {{S("a/b"), 0}, {S("c/d"), 0}}},
     BYTES(0xA2, 0x0C, 0x00, 0x0A, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x03, 'c', '/', 'd')},
    {"3.1.1 §3.11 UNSUBACK", V4, true, {.type = MQ_UNSUBACK, .id = 10},
     BYTES(0xB0, 0x02, 0x00, 0x0A)},
    {"3.1.1 §3.12 PINGREQ", V4, true, {.type = MQ_PINGREQ}, BYTES(0xC0, 0x00)},
    {"3.1.1 §3.13 PINGRESP", V4, true, {.type = MQ_PINGRESP}, BYTES(0xD0, 0x00)},
    {"3.1.1 §3.14 DISCONNECT", V4, true, {.type = MQ_DISCONNECT}, BYTES(0xE0, 0x00)},

    /* 5.0 §3.1.2: level 5, then Property Length (§2.2.2.1) and properties:
     * Session Expiry Interval 0x11 (4 bytes), Receive Maximum 0x21 (2). */
    {"5.0 §3.1.2.11 CONNECT properties", V5, true,
     {.type = MQ_CONNECT, .version = V5, .clean_start = true, .keepalive = 60,
      .client_id = S("c1"),
      .props = {.has_session_expiry = true, .session_expiry = 10, .has_receive_maximum = true,
                .receive_maximum = 20}},
     BYTES(0x10, 0x17, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3C, 0x08, 0x11, 0x00,
           0x00, 0x00, 0x0A, 0x21, 0x00, 0x14, 0x00, 0x02, 'c', '1')},
    {"5.0 §3.1 CONNECT no properties", V5, true, {.type = MQ_CONNECT, .version = V5},
     BYTES(0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x00, 0x00, 0x00, 0x00, 0x00,
           0x00)},
    /* 5.0 §3.1.2.11.7 Request Problem Information 0x17, §3.1.2.11.8 User
     * Property 0x26 ("k","v"); §3.1.3.2 Will Properties: Will Delay Interval
     * 0x18, Payload Format Indicator 0x01; will topic "w", payload "x".
     * Everything but the client identifier is skipped: decode-only. */
    {"5.0 §3.1.3.2 CONNECT will properties", V5, false,
     {.type = MQ_CONNECT, .version = V5, .clean_start = true, .keepalive = 60,
      .client_id = S("c1")},
     BYTES(0x10, 0x26, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x06, 0x00, 0x3C, 0x09, 0x17, 0x01,
           0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', 0x00, 0x02, 'c', '1', 0x07, 0x18, 0x00, 0x00,
           0x00, 0x05, 0x01, 0x01, 0x00, 0x01, 'w', 0x00, 0x01, 'x')},
    /* 5.0 §3.2.2: flags, reason code, properties (always present) */
    {"5.0 §3.2 CONNACK", V5, true, {.type = MQ_CONNACK}, BYTES(0x20, 0x03, 0x00, 0x00, 0x00)},
    {"5.0 §3.2.2.3 CONNACK properties", V5, true,
     {.type = MQ_CONNACK, .session_present = true,
      .props = {.has_session_expiry = true, .session_expiry = 0x78, .has_receive_maximum = true,
                .receive_maximum = 10}},
     BYTES(0x20, 0x0B, 0x01, 0x00, 0x08, 0x11, 0x00, 0x00, 0x00, 0x78, 0x21, 0x00, 0x0A)},
    /* 5.0 §3.2.2.2: 0x87 Not authorized */
    {"5.0 §3.2.2.2 CONNACK refused 0x87", V5, true, {.type = MQ_CONNACK, .reason = 0x87},
     BYTES(0x20, 0x03, 0x00, 0x87, 0x00)},
    /* 5.0 §3.2.2.3: Assigned Client Identifier 0x12 "id", Server Keep Alive
     * 0x13, Maximum QoS 0x24, Topic Alias Maximum 0x22, Retain Available
     * 0x25, Maximum Packet Size 0x27, Reason String 0x1F "ok", Receive
     * Maximum 0x21 = 5: 5+3+2+3+2+5+5+3 = 28 bytes of properties. */
    {"5.0 §3.2.2.3 CONNACK skipped properties", V5, false,
     {.type = MQ_CONNACK, .props = {.has_receive_maximum = true, .receive_maximum = 5}},
     BYTES(0x20, 0x1F, 0x00, 0x00, 0x1C, 0x12, 0x00, 0x02, 'i', 'd', 0x13, 0x00, 0x1E, 0x24,
           0x01, 0x22, 0x00, 0x0A, 0x25, 0x00, 0x27, 0x00, 0x00, 0x10, 0x00, 0x1F, 0x00, 0x02,
           'o', 'k', 0x21, 0x00, 0x05)},
    /* 5.0 §3.3.2: topic, identifier, properties (Topic Alias 0x23 §3.3.2.3.4) */
    {"5.0 §3.3.2.3.4 PUBLISH topic alias", V5, true,
     {.type = MQ_PUBLISH, .qos = 1, .id = 10, .topic = S("a/b"),
      .payload = (const uint8_t *)"hi", .payload_len = 2,
      .props = {.has_topic_alias = true, .topic_alias = 5}},
     BYTES(0x32, 0x0D, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A, 0x03, 0x23, 0x00, 0x05, 'h', 'i')},
    /* 5.0 §3.3.2.1: a zero-length topic with a Topic Alias */
    {"5.0 §3.3.2.1 PUBLISH empty topic + alias", V5, true,
     {.type = MQ_PUBLISH, .payload = (const uint8_t *)"hi", .payload_len = 2,
      .props = {.has_topic_alias = true, .topic_alias = 5}},
     BYTES(0x30, 0x08, 0x00, 0x00, 0x03, 0x23, 0x00, 0x05, 'h', 'i')},
    {"5.0 §3.3 PUBLISH QoS 0", V5, true,
     {.type = MQ_PUBLISH, .topic = S("a/b"), .payload = (const uint8_t *)"hi", .payload_len = 2},
     BYTES(0x30, 0x08, 0x00, 0x03, 'a', '/', 'b', 0x00, 'h', 'i')},
    /* 5.0 §3.3.2.3: Payload Format Indicator 01 01, Message Expiry 02 +4,
     * Content Type 03 "x", Response Topic 08 "r", Correlation Data 09 AB CD,
     * Subscription Identifier 0B 129 (VBI 81 01) and 0B 5 (repeatable in
     * PUBLISH, §3.3.2.3.8), User Property, Topic Alias 7: 35 bytes. */
    {"5.0 §3.3.2.3 PUBLISH skipped properties", V5, false,
     {.type = MQ_PUBLISH, .qos = 2, .id = 1, .topic = S("t"), .payload = (const uint8_t *)"hi",
      .payload_len = 2, .props = {.has_topic_alias = true, .topic_alias = 7}},
     BYTES(0x34, 0x2B, 0x00, 0x01, 't', 0x00, 0x01, 0x23, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00,
           0x3C, 0x03, 0x00, 0x01, 'x', 0x08, 0x00, 0x01, 'r', 0x09, 0x00, 0x02, 0xAB, 0xCD,
           0x0B, 0x81, 0x01, 0x0B, 0x05, 0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', 0x23, 0x00,
           0x07, 'h', 'i')},
    /* 5.0 §3.4.2.1: reason 0 and no properties may be omitted (RL 2);
     * §3.4.2.2.1: RL < 4 means no Property Length. */
    {"5.0 §3.4.2.1 PUBACK short", V5, true, {.type = MQ_PUBACK, .id = 10},
     BYTES(0x40, 0x02, 0x00, 0x0A)},
    {"5.0 §3.4.2.1 PUBACK 0x10", V5, true, {.type = MQ_PUBACK, .id = 10, .reason = 0x10},
     BYTES(0x40, 0x03, 0x00, 0x0A, 0x10)},
    {"5.0 §3.4.2.2 PUBACK long form", V5, false, {.type = MQ_PUBACK, .id = 10},
     BYTES(0x40, 0x04, 0x00, 0x0A, 0x00, 0x00)},
    /* 5.0 §3.4.2.2.2: Reason String 0x1F "x" */
    {"5.0 §3.4.2.2.2 PUBACK reason string", V5, false,
     {.type = MQ_PUBACK, .id = 10, .reason = 0x80},
     BYTES(0x40, 0x08, 0x00, 0x0A, 0x80, 0x04, 0x1F, 0x00, 0x01, 'x')},
    {"5.0 §3.5.2.1 PUBREC 0x80", V5, true, {.type = MQ_PUBREC, .id = 10, .reason = 0x80},
     BYTES(0x50, 0x03, 0x00, 0x0A, 0x80)},
    {"5.0 §3.6.2.1 PUBREL 0x92", V5, true, {.type = MQ_PUBREL, .id = 10, .reason = 0x92},
     BYTES(0x62, 0x03, 0x00, 0x0A, 0x92)},
    {"5.0 §3.7 PUBCOMP short", V5, true, {.type = MQ_PUBCOMP, .id = 10},
     BYTES(0x70, 0x02, 0x00, 0x0A)},
    /* 5.0 §3.8.3.1: options 0x2D = QoS 1 | No Local 0x04 | Retain As
     * Published 0x08 | Retain Handling 2 << 4 */
    {"5.0 §3.8.3.1 SUBSCRIBE options", V5, true,
     {.type = MQ_SUBSCRIBE, .id = 10, .n_topics = 1, .topics = {{S("a/b"), 0x2D}}},
     BYTES(0x82, 0x09, 0x00, 0x0A, 0x00, 0x00, 0x03, 'a', '/', 'b', 0x2D)},
    /* 5.0 §3.8.2.1.2: Subscription Identifier 1 */
    {"5.0 §3.8.2.1.2 SUBSCRIBE subscription id", V5, false,
     {.type = MQ_SUBSCRIBE, .id = 10, .n_topics = 1, .topics = {{S("a/b"), 1}}},
     BYTES(0x82, 0x0B, 0x00, 0x0A, 0x02, 0x0B, 0x01, 0x00, 0x03, 'a', '/', 'b', 0x01)},
    /* 5.0 §3.9.3: 0x01 Granted QoS 1, 0x87 Not authorized */
    {"5.0 §3.9 SUBACK", V5, true,
     {.type = MQ_SUBACK, .id = 10, .n_codes = 2, .codes = {0x01, 0x87}},
     BYTES(0x90, 0x05, 0x00, 0x0A, 0x00, 0x01, 0x87)},
    {"5.0 §3.10 UNSUBSCRIBE", V5, true,
     {.type = MQ_UNSUBSCRIBE, .id = 10, .n_topics = 1, .topics = {{S("a/b"), 0}}},
     BYTES(0xA2, 0x08, 0x00, 0x0A, 0x00, 0x00, 0x03, 'a', '/', 'b')},
    /* 5.0 §3.11.3: 0x11 No subscription existed */
    {"5.0 §3.11 UNSUBACK", V5, true,
     {.type = MQ_UNSUBACK, .id = 10, .n_codes = 1, .codes = {0x11}},
     BYTES(0xB0, 0x04, 0x00, 0x0A, 0x00, 0x11)},
    {"5.0 §3.12 PINGREQ", V5, true, {.type = MQ_PINGREQ}, BYTES(0xC0, 0x00)},
    /* 5.0 §3.14.2.1: RL 0 means reason 0x00; §3.14.2.2.1: RL < 2 means no
     * properties */
    {"5.0 §3.14.2.1 DISCONNECT short", V5, true, {.type = MQ_DISCONNECT}, BYTES(0xE0, 0x00)},
    {"5.0 §3.14.2.1 DISCONNECT 0x04", V5, true, {.type = MQ_DISCONNECT, .reason = 0x04},
     BYTES(0xE0, 0x01, 0x04)},
    {"5.0 §3.14.2.2.2 DISCONNECT session expiry", V5, true,
     {.type = MQ_DISCONNECT, .props = {.has_session_expiry = true, .session_expiry = 0}},
     BYTES(0xE0, 0x07, 0x00, 0x05, 0x11, 0x00, 0x00, 0x00, 0x00)},
    {"5.0 §3.14.2.2 DISCONNECT long form", V5, false, {.type = MQ_DISCONNECT},
     BYTES(0xE0, 0x02, 0x00, 0x00)},
    /* 5.0 §3.15.2.1: RL 0 means Success; 0x18 Continue authentication with
     * Authentication Method 0x15 "m" */
    {"5.0 §3.15 AUTH short", V5, true, {.type = MQ_AUTH}, BYTES(0xF0, 0x00)},
    {"5.0 §3.15.2.1 AUTH 0x18", V5, true, {.type = MQ_AUTH, .reason = 0x18},
     BYTES(0xF0, 0x01, 0x18)},
    {"5.0 §3.15.2.2.2 AUTH method", V5, false, {.type = MQ_AUTH, .reason = 0x18},
     BYTES(0xF0, 0x06, 0x18, 0x04, 0x15, 0x00, 0x01, 'm')},
};

#define N_VECS (sizeof vecs / sizeof vecs[0])

static void vectors_decode_and_encode(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_VECS; k++) {
        const vec *v = &vecs[k];
        print_message("%s\n", v->name);
        mq_packet p;
        size_t used = 0;
        assert_int_equal(decode_exact(v->b, v->n, v->version, &p, &used), MQ_OK);
        assert_int_equal(used, v->n);
        assert_packet_eq(&p, &v->pkt);
        if (v->pkt.type != MQ_CONNECT)
            assert_int_equal(p.version, v->version);

        uint8_t out[256];
        size_t n = 0;
        int rc = mq_codec_encode(&v->pkt, v->version, out, sizeof out, &n);
        assert_int_equal(rc, MQ_OK);
        assert_int_equal(mq_codec_size(&v->pkt, v->version), n);
        if (v->canonical) {
            assert_int_equal(n, v->n);
            assert_memory_equal(out, v->b, n);
        }
        /* A canonical re-encoding of the decoded packet decodes the same. */
        mq_packet q;
        assert_int_equal(decode_exact(out, n, v->version, &q, &used), MQ_OK);
        assert_int_equal(used, n);
        assert_packet_eq(&q, &v->pkt);
    }
}

/* A stream holds the next packet right after: decode stops at the packet's end. */
static void vectors_followed_by_more(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_VECS; k++) {
        uint8_t buf[300];
        memcpy(buf, vecs[k].b, vecs[k].n);
        memcpy(buf + vecs[k].n, "\xC0\x00", 2);
        mq_packet p;
        size_t used = 0;
        assert_int_equal(mq_codec_decode(buf, vecs[k].n + 2, vecs[k].version, &p, &used), MQ_OK);
        assert_int_equal(used, vecs[k].n);
    }
}

/* A NULL payload encodes payload_len zero bytes: the simulator carries
 * message sizes, not contents, yet the wire size must be real. */
static void encode_null_payload_as_zeros(void **state)
{
    (void)state;
    mq_packet p = {.type = MQ_PUBLISH, .qos = 1, .id = 2, .topic = S("t"), .payload_len = 3};
    uint8_t out[16];
    memset(out, 0xEE, sizeof out);
    size_t used = 0;
    assert_int_equal(mq_codec_encode(&p, V4, out, sizeof out, &used), MQ_OK);
    /* 3.1.1 §3.3: RL = 3 (topic) + 2 (id) + 3 */
    static const uint8_t want[] = {0x32, 0x08, 0x00, 0x01, 't', 0x00, 0x02, 0x00, 0x00, 0x00};
    assert_int_equal(used, sizeof want);
    assert_memory_equal(out, want, sizeof want);
    assert_int_equal(out[sizeof want], 0xEE);
    assert_int_equal(mq_codec_size(&p, V5), sizeof want + 1);
}

/* Decoded strings and payload point into the caller's buffer. */
static void decode_points_into_buffer(void **state)
{
    (void)state;
    const uint8_t b[] = {0x32, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A, 'h', 'i'};
    mq_packet p;
    size_t used;
    assert_int_equal(mq_codec_decode(b, sizeof b, V4, &p, &used), MQ_OK);
    assert_ptr_equal(p.topic.s, (const char *)b + 4);
    assert_ptr_equal(p.payload, b + 9);
}

/* ------------------------------------------------------------------------ */
/* Variable Byte Integer: 3.1.1 §2.2.3 Table 2.4 / 5.0 §1.5.5 Table 1-1 */

static void varint_boundaries(void **state)
{
    (void)state;
    static const struct {
        uint32_t v;
        uint8_t b[4];
        int n;
    } t[] = {
        {0, {0x00}, 1},
        {127, {0x7F}, 1},
        {128, {0x80, 0x01}, 2},
        {16383, {0xFF, 0x7F}, 2},
        {16384, {0x80, 0x80, 0x01}, 3},
        {2097151, {0xFF, 0xFF, 0x7F}, 3},
        {2097152, {0x80, 0x80, 0x80, 0x01}, 4},
        {268435455, {0xFF, 0xFF, 0xFF, 0x7F}, 4},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        uint8_t out[4];
        assert_int_equal(mq_varint_encode(t[i].v, out), t[i].n);
        assert_memory_equal(out, t[i].b, (size_t)t[i].n);
        uint32_t v = 0;
        assert_int_equal(mq_varint_decode(t[i].b, (size_t)t[i].n, &v), t[i].n);
        assert_int_equal(v, t[i].v);
        for (int k = 0; k < t[i].n; k++) /* every proper prefix */
            assert_int_equal(mq_varint_decode(t[i].b, (size_t)k, &v), MQ_ERR_NEED_MORE);
    }
    uint8_t out[4];
    assert_int_equal(mq_varint_encode(268435456u, out), 0);
    assert_int_equal(mq_varint_encode(UINT32_MAX, out), 0);
}

static void varint_malformed(void **state)
{
    (void)state;
    uint32_t v;
    /* a fourth byte with a continuation bit: there could only be a fifth */
    assert_int_equal(mq_varint_decode((const uint8_t[]){0xFF, 0xFF, 0xFF, 0xFF}, 4, &v),
                     MQ_ERR_VARINT);
    assert_int_equal(mq_varint_decode((const uint8_t[]){0x80, 0x80, 0x80, 0x80, 0x01}, 5, &v),
                     MQ_ERR_VARINT);
    /* 5.0 §1.5.5: the minimum number of bytes */
    assert_int_equal(mq_varint_decode((const uint8_t[]){0x80, 0x00}, 2, &v), MQ_ERR_VARINT);
    assert_int_equal(mq_varint_decode((const uint8_t[]){0xFF, 0x80, 0x00}, 3, &v), MQ_ERR_VARINT);
    /* in a packet */
    assert_int_equal(DEC(V4, 0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F), MQ_ERR_VARINT);
    assert_int_equal(DEC(V4, 0xC0, 0x80, 0x00), MQ_ERR_VARINT);
    assert_int_equal(DEC(V4, 0x30, 0xFF, 0xFF, 0xFF, 0xFF), MQ_ERR_VARINT);
    /* a 5.0 Property Length and a Subscription Identifier are varints too */
    assert_int_equal(DEC(V5, 0x40, 0x08, 0x00, 0x0A, 0x00, 0x80, 0x80, 0x80, 0x80, 0x01),
                     MQ_ERR_VARINT);
    assert_int_equal(DEC(V5, 0x30, 0x07, 0x00, 0x01, 't', 0x03, 0x0B, 0x80, 0x00), MQ_ERR_VARINT);
}

/* ------------------------------------------------------------------------ */
/* Sizes */

/* PUBLISH QoS 0, topic "t": RL = 3 + payload (3.1.1) or 4 + payload (5.0). */
static void publish_rl_boundaries(void **state)
{
    (void)state;
    static const uint32_t rls[] = {127, 128, 16383, 16384, 2097151, 2097152};
    size_t max_total = 1 + 4 + 2097152;
    uint8_t *payload = malloc(2097152);
    uint8_t *buf = malloc(max_total);
    assert_non_null(payload);
    assert_non_null(buf);
    for (size_t i = 0; i < 2097152; i++)
        payload[i] = (uint8_t)(i * 7 + 3);
    for (uint8_t v = V4; v <= V5; v++) {
        uint32_t over = v == V5 ? 4 : 3;
        for (size_t k = 0; k < sizeof rls / sizeof rls[0]; k++) {
            uint32_t rl = rls[k];
            mq_packet p = {.type = MQ_PUBLISH, .topic = S("t"), .payload = payload,
                           .payload_len = rl - over};
            uint8_t hdr[4];
            int vl = mq_varint_encode(rl, hdr);
            size_t total = 1 + (size_t)vl + rl;
            assert_int_equal(mq_codec_size(&p, v), total);
            size_t used = 0;
            assert_int_equal(mq_codec_encode(&p, v, buf, total, &used), MQ_OK);
            assert_int_equal(used, total);
            assert_int_equal(buf[0], 0x30);
            assert_memory_equal(buf + 1, hdr, (size_t)vl);
            mq_packet q;
            assert_int_equal(mq_codec_decode(buf, total, v, &q, &used), MQ_OK);
            assert_int_equal(used, total);
            assert_int_equal(q.payload_len, rl - over);
            assert_ptr_equal(q.payload, buf + total - q.payload_len);
            assert_memory_equal(q.payload, payload, q.payload_len);
            /* one byte short: the stream needs more */
            assert_int_equal(mq_codec_decode(buf, total - 1, v, &q, &used), MQ_ERR_NEED_MORE);
        }
    }
    free(payload);
    free(buf);
}

/* The largest Remaining Length, measured without any buffer that big. */
static void publish_max_remaining_length(void **state)
{
    (void)state;
    uint8_t one = 0;
    mq_packet p = {.type = MQ_PUBLISH, .topic = S("t"), .payload = &one,
                   .payload_len = 268435455u - 3};
    assert_int_equal(mq_codec_size(&p, V4), 1 + 4 + 268435455u);
    p.payload_len++;
    assert_int_equal(mq_codec_size(&p, V4), 0);
    uint8_t buf[8];
    size_t used;
    assert_int_equal(mq_codec_encode(&p, V4, buf, sizeof buf, &used), MQ_ERR_INVALID);
    p.payload_len = UINT32_MAX;
    assert_int_equal(mq_codec_size(&p, V4), 0);
    /* a header announcing it, with nothing behind it */
    assert_int_equal(DEC(V4, 0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x01, 't'), MQ_ERR_NEED_MORE);
}

/* For a buffer of cap bytes, the largest payload that fits, and one more. */
static void encode_fills_buffer_exactly(void **state)
{
    (void)state;
    static uint8_t payload[20000];
    static const struct {
        size_t cap;
        uint32_t max_payload;
    } t[] = {
        /* total = 1 + varint(RL) + RL, RL = 3 + payload */
        {10, 5},       /* RL 8 */
        {129, 124},    /* RL 127, 1 + 1 + 127 */
        {130, 124},    /* RL 128 would need 131: the varint grows */
        {131, 125},    /* RL 128, 1 + 2 + 128 */
        {1000, 994},   /* RL 997 */
        {16386, 16380}, /* RL 16383, 1 + 2 + 16383 */
        {16387, 16380}, /* RL 16384 needs 16388 */
        {16388, 16381},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        uint8_t *buf = malloc(t[i].cap + 16);
        assert_non_null(buf);
        memset(buf, 0xA5, t[i].cap + 16);
        mq_packet p = {.type = MQ_PUBLISH, .topic = S("t"), .payload = payload,
                       .payload_len = t[i].max_payload};
        size_t used = 0;
        assert_int_equal(mq_codec_encode(&p, V4, buf, t[i].cap, &used), MQ_OK);
        assert_true(used <= t[i].cap);
        for (size_t k = t[i].cap; k < t[i].cap + 16; k++)
            assert_int_equal(buf[k], 0xA5);
        p.payload_len++;
        memset(buf, 0xA5, t[i].cap + 16);
        assert_int_equal(mq_codec_encode(&p, V4, buf, t[i].cap, &used), MQ_ERR_NOSPACE);
        for (size_t k = 0; k < t[i].cap + 16; k++) /* nothing written at all */
            assert_int_equal(buf[k], 0xA5);
        free(buf);
    }
}

static void encode_nospace_every_cap(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_VECS; k++) {
        if (!vecs[k].canonical)
            continue;
        for (size_t cap = 0; cap < vecs[k].n; cap++) {
            uint8_t *buf = malloc(cap ? cap : 1);
            size_t used = 777;
            assert_int_equal(mq_codec_encode(&vecs[k].pkt, vecs[k].version, buf, cap, &used),
                             MQ_ERR_NOSPACE);
            assert_int_equal(used, 777);
            free(buf);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Malformed input, one error code per case */

static void malformed_fixed_header_flags(void **state)
{
    (void)state;
    /* 3.1.1 §2.2.2 Table 2.2: PUBREL, SUBSCRIBE, UNSUBSCRIBE 0010, others
     * but PUBLISH 0000; anything else is malformed. Each packet below is
     * valid with its correct flags. */
    static const uint8_t ok[][6] = {
        {0x20, 0x02, 0x00, 0x00},                   /* CONNACK */
        {0x40, 0x02, 0x00, 0x01},                   /* PUBACK */
        {0x50, 0x02, 0x00, 0x01},                   /* PUBREC */
        {0x62, 0x02, 0x00, 0x01},                   /* PUBREL */
        {0x70, 0x02, 0x00, 0x01},                   /* PUBCOMP */
        {0x82, 0x06, 0x00, 0x01, 0x00, 0x01},       /* SUBSCRIBE (filter cut below) */
        {0x90, 0x03, 0x00, 0x01, 0x00},             /* SUBACK */
        {0xA2, 0x05, 0x00, 0x01, 0x00, 0x01},       /* UNSUBSCRIBE (cut below) */
        {0xB0, 0x02, 0x00, 0x01},                   /* UNSUBACK */
        {0xC0, 0x00},                               /* PINGREQ */
        {0xD0, 0x00},                               /* PINGRESP */
        {0xE0, 0x00},                               /* DISCONNECT */
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint8_t b[8];
        memcpy(b, ok[i], sizeof ok[i]);
        size_t n = 2 + b[1];
        if ((b[0] >> 4) == MQ_SUBSCRIBE) { /* filter "a" QoS 0 */
            b[4] = 0; b[5] = 1; b[6] = 'a'; b[7] = 0; n = 8;
        } else if ((b[0] >> 4) == MQ_UNSUBSCRIBE) {
            b[1] = 5; b[4] = 0; b[5] = 1; b[6] = 'a'; n = 7;
        }
        for (uint8_t f = 0; f < 16; f++) {
            b[0] = (uint8_t)((b[0] & 0xF0) | f);
            uint8_t want = (uint8_t)(ok[i][0] & 0x0F);
            assert_int_equal(dec_rc(V4, b, n), f == want ? MQ_OK : MQ_ERR_FLAGS);
        }
    }
    assert_int_equal(DEC(V4, 0x11, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x00,
                         0x00, 0x00),
                     MQ_ERR_FLAGS);
    assert_int_equal(DEC(V5, 0xF1, 0x00), MQ_ERR_FLAGS); /* AUTH */
    /* 3.1.1 §3.3.1.1: DUP must be 0 for QoS 0 */
    assert_int_equal(DEC(V4, 0x38, 0x03, 0x00, 0x01, 't'), MQ_ERR_FLAGS);
}

static void malformed_qos3(void **state)
{
    (void)state;
    /* 3.1.1 §3.3.1.2 */
    assert_int_equal(DEC(V4, 0x36, 0x05, 0x00, 0x01, 't', 0x00, 0x01), MQ_ERR_QOS);
    assert_int_equal(DEC(V5, 0x3E, 0x06, 0x00, 0x01, 't', 0x00, 0x01, 0x00), MQ_ERR_QOS);
    /* 3.1.1 §3.8.3.1: requested QoS 3 */
    assert_int_equal(DEC(V4, 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x03), MQ_ERR_QOS);
    /* 3.1.1 §3.1.2.6: Will QoS 3 (flags 0x1C: will, QoS bits 11) */
    assert_int_equal(DEC(V4, 0x10, 0x11, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x1C, 0x00, 0x00,
                         0x00, 0x00, 0x00, 0x01, 'w', 0x00, 0x00),
                     MQ_ERR_QOS);
}

static void malformed_zero_packet_id(void **state)
{
    (void)state;
    /* 3.1.1 §2.3.1: a non-zero identifier */
    assert_int_equal(DEC(V4, 0x32, 0x05, 0x00, 0x01, 't', 0x00, 0x00), MQ_ERR_ZERO_ID);
    assert_int_equal(DEC(V4, 0x34, 0x05, 0x00, 0x01, 't', 0x00, 0x00), MQ_ERR_ZERO_ID);
    assert_int_equal(DEC(V5, 0x32, 0x06, 0x00, 0x01, 't', 0x00, 0x00, 0x00), MQ_ERR_ZERO_ID);
    for (uint8_t v = V4; v <= V5; v++) {
        assert_int_equal(DEC(v, 0x40, 0x02, 0x00, 0x00), MQ_ERR_ZERO_ID);
        assert_int_equal(DEC(v, 0x50, 0x02, 0x00, 0x00), MQ_ERR_ZERO_ID);
        assert_int_equal(DEC(v, 0x62, 0x02, 0x00, 0x00), MQ_ERR_ZERO_ID);
        assert_int_equal(DEC(v, 0x70, 0x02, 0x00, 0x00), MQ_ERR_ZERO_ID);
        assert_int_equal(DEC(v, 0x90, 0x03, 0x00, 0x00, 0x00), MQ_ERR_ZERO_ID);
        assert_int_equal(DEC(v, 0xB0, 0x02, 0x00, 0x00), MQ_ERR_ZERO_ID);
    }
    assert_int_equal(DEC(V4, 0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 'a', 0x00), MQ_ERR_ZERO_ID);
    assert_int_equal(DEC(V4, 0xA2, 0x05, 0x00, 0x00, 0x00, 0x01, 'a'), MQ_ERR_ZERO_ID);
    /* QoS 0 has no identifier: these two bytes are payload */
    assert_int_equal(DEC(V4, 0x30, 0x05, 0x00, 0x01, 't', 0x00, 0x00), MQ_OK);
}

static void malformed_truncated(void **state)
{
    (void)state;
    /* a topic length running past the Remaining Length (the buffer holds
     * more, which must not be read as part of this packet) */
    assert_int_equal(DEC(V4, 0x30, 0x04, 0x00, 0x09, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'),
                     MQ_ERR_TRUNCATED);
    assert_int_equal(DEC(V4, 0x30, 0x01, 0x00), MQ_ERR_TRUNCATED);
    assert_int_equal(DEC(V4, 0x30, 0x00), MQ_ERR_TRUNCATED);
    /* identifier cut */
    assert_int_equal(DEC(V4, 0x32, 0x04, 0x00, 0x01, 't', 0x00), MQ_ERR_TRUNCATED);
    assert_int_equal(DEC(V4, 0x40, 0x01, 0x00), MQ_ERR_TRUNCATED);
    assert_int_equal(DEC(V5, 0x40, 0x00), MQ_ERR_TRUNCATED);
    assert_int_equal(DEC(V4, 0x20, 0x01, 0x00), MQ_ERR_TRUNCATED);
    assert_int_equal(DEC(V5, 0x20, 0x02, 0x00, 0x00), MQ_ERR_TRUNCATED); /* no Property Length */
    /* CONNECT cut after the protocol level, and a client id past the end */
    assert_int_equal(DEC(V4, 0x10, 0x07, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04), MQ_ERR_TRUNCATED);
    assert_int_equal(DEC(V4, 0x10, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x00,
                         0x00, 0x05),
                     MQ_ERR_TRUNCATED);
    /* the will message, user name, password announced by the flags, missing */
    assert_int_equal(DEC(V4, 0x10, 0x0F, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x06, 0x00, 0x00,
                         0x00, 0x00, 0x00, 0x01, 'w'),
                     MQ_ERR_TRUNCATED);
    assert_int_equal(DEC(V4, 0x10, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x82, 0x00, 0x00,
                         0x00, 0x00),
                     MQ_ERR_TRUNCATED);
    /* SUBSCRIBE filter without its options byte */
    assert_int_equal(DEC(V4, 0x82, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'), MQ_ERR_TRUNCATED);
    /* 5.0: Property Length past the packet; a property past the Property Length */
    assert_int_equal(DEC(V5, 0x30, 0x05, 0x00, 0x01, 't', 0x05, 0x01), MQ_ERR_TRUNCATED);
    assert_int_equal(DEC(V5, 0x30, 0x08, 0x00, 0x01, 't', 0x02, 0x23, 0x00, 0x07, 'x'),
                     MQ_ERR_TRUNCATED);
    assert_int_equal(DEC(V5, 0x40, 0x08, 0x00, 0x0A, 0x80, 0x04, 0x1F, 0x00, 0x05, 'x'),
                     MQ_ERR_TRUNCATED);
}

static void malformed_need_more(void **state)
{
    (void)state;
    /* Remaining Length beyond the buffer: a stream waits; a whole-frame
     * transport treats this as malformed */
    assert_int_equal(DEC(V4, 0x30, 0x0A, 0x00, 0x03, 'a'), MQ_ERR_NEED_MORE);
    assert_int_equal(DEC(V4, 0x30), MQ_ERR_NEED_MORE);
    assert_int_equal(DEC(V4, 0x30, 0x80), MQ_ERR_NEED_MORE);
    assert_int_equal(dec_rc(V4, NULL, 0), MQ_ERR_NEED_MORE);
}

static void malformed_wildcard_topic(void **state)
{
    (void)state;
    /* 3.1.1 §3.3.2.1 / 4.7.1: no wildcards in a Topic Name */
    assert_int_equal(DEC(V4, 0x30, 0x05, 0x00, 0x03, 'a', '/', '+'), MQ_ERR_WILDCARD);
    assert_int_equal(DEC(V4, 0x30, 0x05, 0x00, 0x03, 'a', '/', '#'), MQ_ERR_WILDCARD);
    assert_int_equal(DEC(V5, 0x30, 0x04, 0x00, 0x01, '#', 0x00), MQ_ERR_WILDCARD);
    assert_int_equal(DEC(V4, 0x30, 0x05, 0x00, 0x03, 'a', '+', 'b'), MQ_ERR_WILDCARD);
    /* 3.1.1 §4.7.1.2-3: misplaced wildcards in filters */
    assert_int_equal(DEC(V4, 0x82, 0x08, 0x00, 0x01, 0x00, 0x03, 'a', 'b', '#', 0x00),
                     MQ_ERR_WILDCARD);
    assert_int_equal(DEC(V4, 0x82, 0x08, 0x00, 0x01, 0x00, 0x03, '#', '/', 'a', 0x00),
                     MQ_ERR_WILDCARD);
    assert_int_equal(DEC(V4, 0xA2, 0x07, 0x00, 0x01, 0x00, 0x03, 'a', '+', '/'),
                     MQ_ERR_WILDCARD);
    /* 3.1.1 §3.1.3.2: the will topic is a topic name */
    assert_int_equal(DEC(V4, 0x10, 0x11, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x04, 0x00, 0x00,
                         0x00, 0x00, 0x00, 0x01, '#', 0x00, 0x00),
                     MQ_ERR_WILDCARD);
}

/* A string length that runs past the packet is MQ_ERR_TRUNCATED (it is a
 * length error, like any other); bad content is MQ_ERR_UTF8. */
static void malformed_utf8(void **state)
{
    (void)state;
    /* 3.1.1 §1.5.3: no U+0000 */
    assert_int_equal(DEC(V4, 0x30, 0x05, 0x00, 0x03, 'a', 0x00, 'b'), MQ_ERR_UTF8);
    /* ill-formed: overlong NUL, lone continuation, surrogate U+D800, above
     * U+10FFFF, a sequence cut by the string's end, F5 lead, overlong 3-byte */
    assert_int_equal(DEC(V4, 0x30, 0x04, 0x00, 0x02, 0xC0, 0x80), MQ_ERR_UTF8);
    assert_int_equal(DEC(V4, 0x30, 0x03, 0x00, 0x01, 0x80), MQ_ERR_UTF8);
    assert_int_equal(DEC(V4, 0x30, 0x05, 0x00, 0x03, 0xED, 0xA0, 0x80), MQ_ERR_UTF8);
    assert_int_equal(DEC(V4, 0x30, 0x06, 0x00, 0x04, 0xF4, 0x90, 0x80, 0x80), MQ_ERR_UTF8);
    assert_int_equal(DEC(V4, 0x30, 0x05, 0x00, 0x02, 0xE2, 0x82, 0xAC), MQ_ERR_UTF8);
    assert_int_equal(DEC(V4, 0x30, 0x06, 0x00, 0x04, 0xF5, 0x80, 0x80, 0x80), MQ_ERR_UTF8);
    assert_int_equal(DEC(V4, 0x30, 0x05, 0x00, 0x03, 0xE0, 0x80, 0xAF), MQ_ERR_UTF8);
    /* the longest code point, U+10FFFF, is fine */
    assert_int_equal(DEC(V4, 0x30, 0x06, 0x00, 0x04, 0xF4, 0x8F, 0xBF, 0xBF), MQ_OK);
    /* in a filter and in a client identifier */
    assert_int_equal(DEC(V4, 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00), MQ_ERR_UTF8);
    assert_int_equal(DEC(V4, 0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x00,
                         0x00, 0x01, 0xFF),
                     MQ_ERR_UTF8);
    /* a 5.0 string property (Reason String) */
    assert_int_equal(DEC(V5, 0x40, 0x08, 0x00, 0x0A, 0x80, 0x04, 0x1F, 0x00, 0x01, 0x00),
                     MQ_ERR_UTF8);
    /* the length runs past the packet */
    assert_int_equal(DEC(V4, 0x30, 0x03, 0x00, 0x02, 'a'), MQ_ERR_TRUNCATED);
}

static void malformed_connect(void **state)
{
    (void)state;
    /* 3.1.1 §3.1.2.1: protocol name must be "MQTT" */
    assert_int_equal(DEC(V4, 0x10, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'S', 0x04, 0x02, 0x00, 0x00,
                         0x00, 0x00),
                     MQ_ERR_PROTOCOL);
    assert_int_equal(DEC(V4, 0x10, 0x0C, 0x00, 0x04, 'm', 'q', 't', 't', 0x04, 0x02, 0x00, 0x00,
                         0x00, 0x00),
                     MQ_ERR_PROTOCOL);
    /* MQTT 3.1 "MQIsdp" level 3: a protocol this codec does not speak,
     * told apart so that a server can answer CONNACK 0x01 */
    assert_int_equal(DEC(V4, 0x10, 0x0E, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x03, 0x02,
                         0x00, 0x00, 0x00, 0x00),
                     MQ_ERR_LEVEL);
    /* 3.1.1 §3.1.2.2: an unsupported level */
    assert_int_equal(DEC(V4, 0x10, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x06, 0x02, 0x00, 0x00,
                         0x00, 0x00),
                     MQ_ERR_LEVEL);
    assert_int_equal(DEC(V4, 0x10, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x03, 0x02, 0x00, 0x00,
                         0x00, 0x00),
                     MQ_ERR_LEVEL);
    /* 3.1.1 §3.1.2.3: reserved flag bit 0 */
    assert_int_equal(DEC(V4, 0x10, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x03, 0x00, 0x00,
                         0x00, 0x00),
                     MQ_ERR_FLAGS);
    /* 3.1.1 §3.1.2.6-7: will QoS or will retain without the will flag */
    assert_int_equal(DEC(V4, 0x10, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x0A, 0x00, 0x00,
                         0x00, 0x00),
                     MQ_ERR_PROTOCOL);
    assert_int_equal(DEC(V4, 0x10, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x22, 0x00, 0x00,
                         0x00, 0x00),
                     MQ_ERR_PROTOCOL);
    /* 3.1.1 §3.1.2.9: a password without a user name; allowed in 5.0 */
    assert_int_equal(DEC(V4, 0x10, 0x0E, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x42, 0x00, 0x00,
                         0x00, 0x00, 0x00, 0x00),
                     MQ_ERR_PROTOCOL);
    assert_int_equal(DEC(V5, 0x10, 0x0F, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x42, 0x00, 0x00,
                         0x00, 0x00, 0x00, 0x00, 0x00),
                     MQ_OK);
    /* an empty will topic */
    assert_int_equal(DEC(V4, 0x10, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x04, 0x00, 0x00,
                         0x00, 0x00, 0x00, 0x00, 0x00, 0x00),
                     MQ_ERR_PROTOCOL);
    /* CONNECT decodes whatever version is passed, and reports its level */
    mq_packet p;
    size_t used;
    for (uint8_t v = 0; v < 7; v++) {
        assert_int_equal(decode_exact(vecs[0].b, vecs[0].n, v, &p, &used), MQ_OK);
        assert_int_equal(p.version, V4);
    }
}

static void malformed_trailing(void **state)
{
    (void)state;
    assert_int_equal(DEC(V4, 0xC0, 0x01, 0x00), MQ_ERR_TRAILING);
    assert_int_equal(DEC(V5, 0xD0, 0x01, 0x00), MQ_ERR_TRAILING);
    assert_int_equal(DEC(V4, 0xE0, 0x01, 0x00), MQ_ERR_TRAILING);
    assert_int_equal(DEC(V4, 0x40, 0x03, 0x00, 0x01, 0x00), MQ_ERR_TRAILING);
    assert_int_equal(DEC(V4, 0x62, 0x03, 0x00, 0x01, 0x00), MQ_ERR_TRAILING);
    assert_int_equal(DEC(V4, 0xB0, 0x03, 0x00, 0x01, 0x00), MQ_ERR_TRAILING);
    assert_int_equal(DEC(V4, 0x20, 0x03, 0x00, 0x00, 0x00), MQ_ERR_TRAILING);
    assert_int_equal(DEC(V4, 0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x00,
                         0x00, 0x00, 0x00),
                     MQ_ERR_TRAILING);
    assert_int_equal(DEC(V5, 0x20, 0x04, 0x00, 0x00, 0x00, 0x00), MQ_ERR_TRAILING);
}

static void malformed_subscribe_lists(void **state)
{
    (void)state;
    /* 3.1.1 §3.8.3, §3.10.3, 5.0 §3.8.3: at least one filter */
    assert_int_equal(DEC(V4, 0x82, 0x02, 0x00, 0x01), MQ_ERR_PROTOCOL);
    assert_int_equal(DEC(V5, 0x82, 0x03, 0x00, 0x01, 0x00), MQ_ERR_PROTOCOL);
    assert_int_equal(DEC(V4, 0xA2, 0x02, 0x00, 0x01), MQ_ERR_PROTOCOL);
    assert_int_equal(DEC(V4, 0x90, 0x02, 0x00, 0x01), MQ_ERR_PROTOCOL);
    assert_int_equal(DEC(V5, 0xB0, 0x03, 0x00, 0x01, 0x00), MQ_ERR_PROTOCOL);
    /* an empty filter (3.1.1 §4.7.3) */
    assert_int_equal(DEC(V4, 0x82, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00), MQ_ERR_PROTOCOL);

    /* MQ_MAX_TOPICS filters decode; one more is MQ_ERR_TOO_MANY */
    for (uint8_t type = MQ_SUBSCRIBE; type <= MQ_UNSUBSCRIBE; type += 2) {
        for (int n = MQ_MAX_TOPICS; n <= MQ_MAX_TOPICS + 1; n++) {
            uint8_t b[2 + 2 + 5 * (MQ_MAX_TOPICS + 1)];
            size_t k = 0, per = type == MQ_SUBSCRIBE ? 4 : 3;
            b[k++] = (uint8_t)(type << 4 | 2);
            b[k++] = (uint8_t)(2 + per * (size_t)n);
            b[k++] = 0;
            b[k++] = 7;
            for (int i = 0; i < n; i++) {
                b[k++] = 0;
                b[k++] = 1;
                b[k++] = (uint8_t)('a' + i);
                if (type == MQ_SUBSCRIBE)
                    b[k++] = 1;
            }
            mq_packet p;
            size_t used;
            int rc = decode_exact(b, k, V4, &p, &used);
            if (n == MQ_MAX_TOPICS) {
                assert_int_equal(rc, MQ_OK);
                assert_int_equal(p.n_topics, MQ_MAX_TOPICS);
                assert_int_equal(p.topics[MQ_MAX_TOPICS - 1].filter.s[0], 'a' + MQ_MAX_TOPICS - 1);
            } else {
                assert_int_equal(rc, MQ_ERR_TOO_MANY);
            }
        }
    }
    /* SUBACK with MQ_MAX_TOPICS + 1 codes */
    uint8_t b[4 + MQ_MAX_TOPICS + 1] = {0x90, 2 + MQ_MAX_TOPICS + 1, 0x00, 0x01};
    assert_int_equal(dec_rc(V4, b, sizeof b), MQ_ERR_TOO_MANY);
    b[1]--;
    assert_int_equal(dec_rc(V4, b, sizeof b - 1), MQ_OK);

    /* subscription options: 3.1.1 reserved bits; 5.0 reserved bits 6-7
     * and Retain Handling 3 (5.0 §3.8.3.1) */
    assert_int_equal(DEC(V4, 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x04), MQ_ERR_FLAGS);
    assert_int_equal(DEC(V5, 0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x40), MQ_ERR_FLAGS);
    assert_int_equal(DEC(V5, 0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x30),
                     MQ_ERR_PROTOCOL);
    assert_int_equal(DEC(V5, 0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x03), MQ_ERR_QOS);
    /* 3.1.1 §3.9.3: return codes other than 0, 1, 2, 0x80 */
    assert_int_equal(DEC(V4, 0x90, 0x03, 0x00, 0x01, 0x03), MQ_ERR_PROTOCOL);
    assert_int_equal(DEC(V4, 0x90, 0x03, 0x00, 0x01, 0x87), MQ_ERR_PROTOCOL);
}

static void malformed_type(void **state)
{
    (void)state;
    assert_int_equal(DEC(V4, 0x00, 0x00), MQ_ERR_TYPE);
    assert_int_equal(DEC(V5, 0x00, 0x00), MQ_ERR_TYPE);
    assert_int_equal(DEC(V4, 0xF0, 0x00), MQ_ERR_TYPE); /* AUTH is 5.0 only */
    /* before CONNECT fixes the version, only CONNECT can be decoded */
    assert_int_equal(DEC(0, 0xC0, 0x00), MQ_ERR_PROTOCOL);
    assert_int_equal(DEC(3, 0x40, 0x02, 0x00, 0x01), MQ_ERR_PROTOCOL);
}

static void malformed_connack(void **state)
{
    (void)state;
    /* 3.1.1 §3.2.2.1: bits 7-1 of the acknowledge flags are reserved */
    assert_int_equal(DEC(V4, 0x20, 0x02, 0x02, 0x00), MQ_ERR_FLAGS);
    assert_int_equal(DEC(V5, 0x20, 0x03, 0x80, 0x00, 0x00), MQ_ERR_FLAGS);
    /* 3.1.1 §3.2.2.2: a refusal has Session Present 0 */
    assert_int_equal(DEC(V4, 0x20, 0x02, 0x01, 0x05), MQ_ERR_PROTOCOL);
    /* 3.1.1 §3.2.2.3: codes 6-255 are reserved */
    assert_int_equal(DEC(V4, 0x20, 0x02, 0x00, 0x06), MQ_ERR_PROTOCOL);
    /* 5.0 §3.2.2.2: 0x05 is no CONNACK reason code */
    assert_int_equal(DEC(V5, 0x20, 0x03, 0x00, 0x05, 0x00), MQ_ERR_PROTOCOL);
}

static void malformed_v5_reason_codes(void **state)
{
    (void)state;
    /* 5.0 §3.4.2.1 and siblings: only the listed codes */
    assert_int_equal(DEC(V5, 0x40, 0x03, 0x00, 0x01, 0x92), MQ_ERR_PROTOCOL);
    assert_int_equal(DEC(V5, 0x50, 0x03, 0x00, 0x01, 0x01), MQ_ERR_PROTOCOL);
    assert_int_equal(DEC(V5, 0x62, 0x03, 0x00, 0x01, 0x80), MQ_ERR_PROTOCOL);
    assert_int_equal(DEC(V5, 0x70, 0x03, 0x00, 0x01, 0x10), MQ_ERR_PROTOCOL);
    assert_int_equal(DEC(V5, 0x90, 0x04, 0x00, 0x01, 0x00, 0x11), MQ_ERR_PROTOCOL);
    assert_int_equal(DEC(V5, 0xB0, 0x04, 0x00, 0x01, 0x00, 0x01), MQ_ERR_PROTOCOL);
    assert_int_equal(DEC(V5, 0xE0, 0x01, 0x01), MQ_ERR_PROTOCOL);
    assert_int_equal(DEC(V5, 0xF0, 0x01, 0x00 + 0x80), MQ_ERR_PROTOCOL);
    /* and every listed one decodes: 5.0 §3.4.2.1 PUBACK */
    static const uint8_t puback[] = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
    for (size_t i = 0; i < sizeof puback; i++)
        assert_int_equal(DEC(V5, 0x40, 0x03, 0x00, 0x01, puback[i]), MQ_OK);
}

static void malformed_v5_properties(void **state)
{
    (void)state;
    /* 5.0 §2.2.2.2: an unknown identifier (0x05, 0x2B, a two-byte VBI) */
    assert_int_equal(DEC(V5, 0x30, 0x06, 0x00, 0x01, 't', 0x01, 0x05, 0x00), MQ_ERR_PROPERTY);
    assert_int_equal(DEC(V5, 0x30, 0x06, 0x00, 0x01, 't', 0x02, 0x2B, 0x00), MQ_ERR_PROPERTY);
    assert_int_equal(DEC(V5, 0x30, 0x07, 0x00, 0x01, 't', 0x03, 0x81, 0x01, 0x00),
                     MQ_ERR_PROPERTY);
    /* a valid identifier in the wrong packet: Topic Alias in CONNACK,
     * Receive Maximum in PUBLISH, Will Delay outside the will */
    assert_int_equal(DEC(V5, 0x20, 0x06, 0x00, 0x00, 0x03, 0x23, 0x00, 0x01), MQ_ERR_PROPERTY);
    assert_int_equal(DEC(V5, 0x30, 0x07, 0x00, 0x01, 't', 0x03, 0x21, 0x00, 0x01),
                     MQ_ERR_PROPERTY);
    assert_int_equal(DEC(V5, 0x30, 0x09, 0x00, 0x01, 't', 0x05, 0x18, 0x00, 0x00, 0x00, 0x01),
                     MQ_ERR_PROPERTY);
    /* a repeat: Receive Maximum twice (5.0 §3.2.2.3.3); Subscription
     * Identifier twice in SUBSCRIBE (§3.8.2.1.2) */
    assert_int_equal(DEC(V5, 0x20, 0x09, 0x00, 0x00, 0x06, 0x21, 0x00, 0x01, 0x21, 0x00, 0x02),
                     MQ_ERR_PROPERTY);
    assert_int_equal(DEC(V5, 0x82, 0x0B, 0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01,
                         'a', 0x00),
                     MQ_ERR_PROPERTY);
    /* User Property may repeat */
    assert_int_equal(DEC(V5, 0x20, 0x0F, 0x00, 0x00, 0x0C, 0x26, 0x00, 0x00, 0x00, 0x01, 'v',
                         0x26, 0x00, 0x01, 'k', 0x00, 0x00),
                     MQ_OK);
    /* values: Receive Maximum 0, Topic Alias 0, Maximum Packet Size 0,
     * Subscription Identifier 0, a byte property of 2 */
    assert_int_equal(DEC(V5, 0x20, 0x06, 0x00, 0x00, 0x03, 0x21, 0x00, 0x00), MQ_ERR_PROPERTY);
    assert_int_equal(DEC(V5, 0x30, 0x07, 0x00, 0x01, 't', 0x03, 0x23, 0x00, 0x00),
                     MQ_ERR_PROPERTY);
    assert_int_equal(DEC(V5, 0x20, 0x08, 0x00, 0x00, 0x05, 0x27, 0x00, 0x00, 0x00, 0x00),
                     MQ_ERR_PROPERTY);
    assert_int_equal(DEC(V5, 0x30, 0x06, 0x00, 0x01, 't', 0x02, 0x0B, 0x00), MQ_ERR_PROPERTY);
    assert_int_equal(DEC(V5, 0x30, 0x06, 0x00, 0x01, 't', 0x02, 0x01, 0x02), MQ_ERR_PROPERTY);
    /* 5.0 §3.3.2.1: an empty topic needs a Topic Alias; 3.1.1 never allows it */
    assert_int_equal(DEC(V5, 0x30, 0x03, 0x00, 0x00, 0x00), MQ_ERR_PROTOCOL);
    assert_int_equal(DEC(V4, 0x30, 0x02, 0x00, 0x00), MQ_ERR_PROTOCOL);
}

/* ------------------------------------------------------------------------ */
/* Encoder refusals */

static int enc_rc(const mq_packet *p, uint8_t v)
{
    uint8_t buf[512];
    size_t used;
    int rc = mq_codec_encode(p, v, buf, sizeof buf, &used);
    assert_int_equal(mq_codec_size(p, v) == 0, rc != MQ_OK);
    return rc;
}

/* The decoder's one-pass check of topics and filters says what the
 * validators of utf8.c and topic.c say, rule broken first: every string of
 * up to 4 bytes over an alphabet of levels, wildcards, NUL and pieces of
 * UTF-8 (valid, cut, lone), as a PUBLISH's topic and a SUBSCRIBE's and an
 * UNSUBSCRIBE's filter, in both versions. */
static void topic_checks_agree_with_validators(void **state)
{
    (void)state;
    static const uint8_t alpha[] = {'a', '/', '+', '#', 0x00, 0xC3, 0xA9, 0x80};
    uint8_t t[4], b[16];
    size_t checked = 0;
    for (size_t len = 0; len <= 4; len++) {
        size_t combos = 1;
        for (size_t i = 0; i < len; i++)
            combos *= sizeof alpha;
        for (size_t c = 0; c < combos; c++) {
            size_t k = c;
            for (size_t i = 0; i < len; i++, k /= sizeof alpha)
                t[i] = alpha[k % sizeof alpha];
            const char *ts = (const char *)t;
            bool utf8 = mq_utf8_valid(ts, len);
            for (uint8_t v = MQ_V311; v <= MQ_V5; v++) {
                size_t pre = v == MQ_V5 ? 1 : 0; /* an empty property list */
                /* PUBLISH QoS 0: topic, properties, no payload */
                b[0] = 0x30;
                b[1] = (uint8_t)(2 + len + pre);
                b[2] = 0;
                b[3] = (uint8_t)len;
                memcpy(b + 4, t, len);
                b[4 + len] = 0;
                int want = !utf8 ? MQ_ERR_UTF8
                           : len == 0 ? MQ_ERR_PROTOCOL
                           : !mq_topic_name_valid(ts, len) ? MQ_ERR_WILDCARD : MQ_OK;
                assert_int_equal(dec_rc(v, b, 4 + len + pre), want);
                /* SUBSCRIBE (options QoS 0) and UNSUBSCRIBE, id 1, one filter */
                want = !utf8 ? MQ_ERR_UTF8
                       : len == 0 ? MQ_ERR_PROTOCOL
                       : !mq_topic_filter_valid(ts, len) ? MQ_ERR_WILDCARD : MQ_OK;
                for (int sub = 0; sub < 2; sub++) {
                    size_t n = 0;
                    b[n++] = sub ? 0x82 : 0xA2;
                    b[n++] = (uint8_t)(2 + pre + 2 + len + sub);
                    b[n++] = 0;
                    b[n++] = 1;
                    if (pre)
                        b[n++] = 0;
                    b[n++] = 0;
                    b[n++] = (uint8_t)len;
                    memcpy(b + n, t, len);
                    n += len;
                    if (sub)
                        b[n++] = 0;
                    assert_int_equal(dec_rc(v, b, n), want);
                }
                checked++;
            }
        }
    }
    assert_int_equal(checked, 2 * (1 + 8 + 64 + 512 + 4096));
}

static void encode_invalid(void **state)
{
    (void)state;
    mq_packet p = {.type = MQ_PUBLISH, .topic = S("t"), .qos = 3, .id = 1};
    assert_int_equal(enc_rc(&p, V4), MQ_ERR_INVALID);
    p.qos = 1;
    p.id = 0;
    assert_int_equal(enc_rc(&p, V4), MQ_ERR_INVALID);
    p.qos = 0;
    p.dup = true;
    assert_int_equal(enc_rc(&p, V4), MQ_ERR_INVALID);
    p.dup = false;
    p.topic = (mq_str)S("a/+");
    assert_int_equal(enc_rc(&p, V4), MQ_ERR_INVALID);
    p.topic = (mq_str){NULL, 0};
    assert_int_equal(enc_rc(&p, V4), MQ_ERR_INVALID);
    assert_int_equal(enc_rc(&p, V5), MQ_ERR_INVALID); /* empty without alias */
    p.props.has_topic_alias = true;
    p.props.topic_alias = 1;
    assert_int_equal(enc_rc(&p, V5), MQ_OK);
    assert_int_equal(enc_rc(&p, V4), MQ_ERR_INVALID);
    p.props.topic_alias = 0;
    assert_int_equal(enc_rc(&p, V5), MQ_ERR_INVALID);
    p.topic = (mq_str)S("t");
    p.props.has_topic_alias = false;
    p.payload_len = 0;
    assert_int_equal(enc_rc(&p, V4), MQ_OK);
    assert_int_equal(enc_rc(&p, 3), MQ_ERR_INVALID); /* no such version */
    p.type = 0;
    assert_int_equal(enc_rc(&p, V4), MQ_ERR_INVALID);
    p.type = 16;
    assert_int_equal(enc_rc(&p, V4), MQ_ERR_INVALID);

    mq_packet s = {.type = MQ_SUBSCRIBE, .id = 1, .n_topics = 0};
    assert_int_equal(enc_rc(&s, V4), MQ_ERR_INVALID);
    s.n_topics = MQ_MAX_TOPICS + 1;
    assert_int_equal(enc_rc(&s, V4), MQ_ERR_INVALID);
    s.n_topics = 1;
    s.topics[0] = (mq_topic_req){S("a/#/b"), 0};
    assert_int_equal(enc_rc(&s, V4), MQ_ERR_INVALID);
    s.topics[0] = (mq_topic_req){S("a/#"), 3};
    assert_int_equal(enc_rc(&s, V4), MQ_ERR_INVALID);
    s.topics[0].options = 0x2D; /* 5.0 options in 3.1.1 */
    assert_int_equal(enc_rc(&s, V4), MQ_ERR_INVALID);
    assert_int_equal(enc_rc(&s, V5), MQ_OK);
    s.id = 0;
    assert_int_equal(enc_rc(&s, V5), MQ_ERR_INVALID);

    mq_packet a = {.type = MQ_PUBACK, .id = 0};
    assert_int_equal(enc_rc(&a, V4), MQ_ERR_INVALID);
    a.id = 1;
    a.reason = 0x92;
    assert_int_equal(enc_rc(&a, V5), MQ_ERR_INVALID);
    a.reason = 0;
    a.props.has_receive_maximum = true; /* not a PUBACK property */
    a.props.receive_maximum = 1;
    assert_int_equal(enc_rc(&a, V5), MQ_ERR_INVALID);
    assert_int_equal(enc_rc(&a, V4), MQ_OK); /* 3.1.1 carries no properties */

    mq_packet c = {.type = MQ_CONNECT, .version = V5};
    assert_int_equal(enc_rc(&c, V4), MQ_ERR_INVALID); /* version mismatch */
    c.version = 0;
    assert_int_equal(enc_rc(&c, V4), MQ_OK);
    c.props.has_topic_alias = true;
    c.props.topic_alias = 1;
    assert_int_equal(enc_rc(&c, V5), MQ_ERR_INVALID);
    c.props.has_topic_alias = false;
    c.client_id = (mq_str){"a\0b", 3};
    assert_int_equal(enc_rc(&c, V5), MQ_ERR_INVALID);

    mq_packet k = {.type = MQ_CONNACK, .session_present = true, .reason = 0x87};
    assert_int_equal(enc_rc(&k, V5), MQ_ERR_INVALID);
    k.session_present = false;
    assert_int_equal(enc_rc(&k, V5), MQ_OK);
    assert_int_equal(enc_rc(&k, V4), MQ_ERR_INVALID);

    mq_packet g = {.type = MQ_SUBACK, .id = 1, .n_codes = 0};
    assert_int_equal(enc_rc(&g, V4), MQ_ERR_INVALID);
    g.n_codes = 1;
    g.codes[0] = 0x87;
    assert_int_equal(enc_rc(&g, V4), MQ_ERR_INVALID);
    assert_int_equal(enc_rc(&g, V5), MQ_OK);

    mq_packet au = {.type = MQ_AUTH};
    assert_int_equal(enc_rc(&au, V4), MQ_ERR_INVALID);
    assert_int_equal(enc_rc(&au, V5), MQ_OK);
}

/* ------------------------------------------------------------------------ */
/* Random round trips */

/* splitmix64: a small fixed-seed generator local to this test */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static uint32_t rnd(uint64_t *s, uint32_t n)
{
    return (uint32_t)(rng_next(s) % n);
}

/* A random valid topic name (filter = false) or filter in out, as UTF-8. */
static mq_str rand_topic(uint64_t *s, char *out, bool filter)
{
    static const char *const parts[] = {"a", "b", "sport", "", "\xC3\xA9", "\xE2\x82\xAC",
                                        "\xF0\x9F\x98\x80", "$SYS", "x y"};
    size_t n = 0;
    int levels = 1 + (int)rnd(s, 4);
    for (int l = 0; l < levels; l++) {
        if (l)
            out[n++] = '/';
        uint32_t r = rnd(s, 12);
        if (filter && r == 10) {
            out[n++] = '+';
        } else if (filter && r == 11 && l == levels - 1) {
            out[n++] = '#';
        } else {
            const char *p = parts[r % 9];
            memcpy(out + n, p, strlen(p));
            n += strlen(p);
        }
    }
    if (n == 0)
        out[n++] = 'z';
    return (mq_str){out, (uint16_t)n};
}

static void rand_props(uint64_t *s, uint8_t type, mq_props *pr)
{
    bool se = type == MQ_CONNECT || type == MQ_CONNACK || type == MQ_DISCONNECT;
    bool rm = type == MQ_CONNECT || type == MQ_CONNACK;
    if (se && rnd(s, 2)) {
        pr->has_session_expiry = true;
        pr->session_expiry = (uint32_t)rng_next(s);
    }
    if (rm && rnd(s, 2)) {
        pr->has_receive_maximum = true;
        pr->receive_maximum = (uint16_t)(1 + rnd(s, 65535));
    }
    if (type == MQ_PUBLISH && rnd(s, 2)) {
        pr->has_topic_alias = true;
        pr->topic_alias = (uint16_t)(1 + rnd(s, 65535));
    }
}

typedef struct {
    char strs[MQ_MAX_TOPICS + 2][64];
    uint8_t payload[3000];
} storage;

static void rand_packet(uint64_t *s, uint8_t v, mq_packet *p, storage *st)
{
    static const uint8_t acks5[] = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
    static const uint8_t sub5[] = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E,
                                   0xA1, 0xA2};
    static const uint8_t unsub5[] = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
    static const uint8_t sub4[] = {0x00, 0x01, 0x02, 0x80};
    memset(p, 0, sizeof *p);
    p->type = (uint8_t)(1 + rnd(s, v == MQ_V5 ? 15 : 14));
    switch (p->type) {
    case MQ_CONNECT:
        p->version = v;
        p->clean_start = rnd(s, 2);
        p->keepalive = (uint16_t)rng_next(s);
        p->client_id = rand_topic(s, st->strs[0], false);
        if (rnd(s, 4) == 0)
            p->client_id.len = 0;
        break;
    case MQ_CONNACK:
        p->reason = v == MQ_V5 ? (rnd(s, 2) ? 0 : 0x87) : (uint8_t)rnd(s, 6);
        p->session_present = p->reason == 0 && rnd(s, 2);
        break;
    case MQ_PUBLISH: {
        p->qos = (uint8_t)rnd(s, 3);
        p->dup = p->qos && rnd(s, 2);
        p->retain = rnd(s, 2);
        if (p->qos)
            p->id = (uint16_t)(1 + rnd(s, 65535));
        p->topic = rand_topic(s, st->strs[0], false);
        uint32_t sizes[] = {0, 1, (uint32_t)rnd(s, 200), (uint32_t)rnd(s, 3000)};
        p->payload_len = sizes[rnd(s, 4)];
        for (uint32_t i = 0; i < p->payload_len; i++)
            st->payload[i] = (uint8_t)rng_next(s);
        p->payload = p->payload_len ? st->payload : NULL;
        break;
    }
    case MQ_PUBACK:
    case MQ_PUBREC:
    case MQ_PUBREL:
    case MQ_PUBCOMP:
        p->id = (uint16_t)(1 + rnd(s, 65535));
        if (v == MQ_V5) {
            if (p->type == MQ_PUBACK || p->type == MQ_PUBREC)
                p->reason = acks5[rnd(s, sizeof acks5)];
            else
                p->reason = rnd(s, 2) ? 0 : 0x92;
        }
        break;
    case MQ_SUBSCRIBE:
    case MQ_UNSUBSCRIBE:
        p->id = (uint16_t)(1 + rnd(s, 65535));
        p->n_topics = (uint8_t)(1 + rnd(s, MQ_MAX_TOPICS));
        for (int i = 0; i < p->n_topics; i++) {
            p->topics[i].filter = rand_topic(s, st->strs[i + 1], true);
            if (p->type == MQ_SUBSCRIBE)
                p->topics[i].options = (uint8_t)(rnd(s, 3) |
                                                 (v == MQ_V5 ? rnd(s, 4) << 2 | rnd(s, 3) << 4 : 0));
        }
        break;
    case MQ_SUBACK:
    case MQ_UNSUBACK:
        p->id = (uint16_t)(1 + rnd(s, 65535));
        if (p->type == MQ_UNSUBACK && v == MQ_V311)
            break;
        p->n_codes = (uint8_t)(1 + rnd(s, MQ_MAX_TOPICS));
        for (int i = 0; i < p->n_codes; i++)
            p->codes[i] = p->type == MQ_UNSUBACK ? unsub5[rnd(s, sizeof unsub5)]
                          : v == MQ_V5           ? sub5[rnd(s, sizeof sub5)]
                                                 : sub4[rnd(s, sizeof sub4)];
        break;
    case MQ_DISCONNECT:
        if (v == MQ_V5)
            p->reason = rnd(s, 2) ? 0 : 0x04;
        break;
    case MQ_AUTH:
        p->reason = rnd(s, 2) ? 0x18 : 0x19;
        break;
    default:
        break;
    }
    if (v == MQ_V5)
        rand_props(s, p->type, &p->props);
    if (p->type == MQ_PUBLISH && p->props.has_topic_alias && rnd(s, 3) == 0)
        p->topic.len = 0;
}

static void random_round_trips(void **state)
{
    (void)state;
    uint64_t s = 20240601;
    static storage st;
    static uint8_t buf[4096];
    int per_type[16] = {0};
    for (int it = 0; it < 40000; it++) {
        uint8_t v = (it & 1) ? MQ_V5 : MQ_V311;
        mq_packet p, q;
        rand_packet(&s, v, &p, &st);
        size_t sz = mq_codec_size(&p, v), used = 0;
        assert_true(sz > 0);
        assert_int_equal(mq_codec_encode(&p, v, buf, sizeof buf, &used), MQ_OK);
        assert_int_equal(used, sz);
        size_t dused = 0;
        assert_int_equal(decode_exact(buf, used, v, &q, &dused), MQ_OK);
        assert_int_equal(dused, used);
        assert_packet_eq(&q, &p);
        per_type[p.type]++;
    }
    for (int t = 1; t <= 15; t++) /* every type was exercised */
        assert_true(per_type[t] > 500);
}

/* ------------------------------------------------------------------------ */
/* Bounds */

/* Every proper prefix of every vector is incomplete: NEED_MORE, never a
 * success with a shorter packet. ASan checks no byte past the prefix is read. */
static void bounds_every_prefix(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_VECS; k++)
        for (size_t len = 0; len < vecs[k].n; len++)
            assert_int_equal(dec_rc(vecs[k].version, vecs[k].b, len), MQ_ERR_NEED_MORE);
}

/* Every single-byte change of every vector, decoded from an exact-size heap
 * copy: whatever it decodes to must use no more than the buffer and must
 * encode again (the encoder accepts all the decoder accepts). */
static void bounds_every_mutation(void **state)
{
    (void)state;
    long ok = 0, bad = 0;
    for (size_t k = 0; k < N_VECS; k++) {
        const vec *v = &vecs[k];
        uint8_t *b = malloc(v->n);
        assert_non_null(b);
        for (size_t pos = 0; pos < v->n; pos++) {
            for (int val = 0; val < 256; val++) {
                if (val == v->b[pos])
                    continue;
                memcpy(b, v->b, v->n);
                b[pos] = (uint8_t)val;
                mq_packet p;
                size_t used = 0;
                int rc = mq_codec_decode(b, v->n, v->version, &p, &used);
                if (rc != MQ_OK) {
                    assert_true(rc < 0 && rc >= MQ_ERR_LEVEL && rc != MQ_ERR_TOO_BIG);
                    bad++;
                    continue;
                }
                ok++;
                assert_true(used >= 2 && used <= v->n);
                uint8_t ev = p.type == MQ_CONNECT ? p.version : v->version;
                uint8_t out[300];
                size_t n;
                assert_int_equal(mq_codec_encode(&p, ev, out, sizeof out, &n), MQ_OK);
                mq_packet q;
                assert_int_equal(decode_exact(out, n, ev, &q, &used), MQ_OK);
                assert_packet_eq(&q, &p);
            }
        }
        free(b);
    }
    print_message("mutations: %ld decode, %ld rejected\n", ok, bad);
    assert_true(ok > 0 && bad > 0);
}

/* Random bytes of random lengths, against both versions. */
static void bounds_random_bytes(void **state)
{
    (void)state;
    uint64_t s = 7;
    for (int it = 0; it < 200000; it++) {
        size_t n = rnd(&s, 40);
        uint8_t *b = malloc(n ? n : 1);
        for (size_t i = 0; i < n; i++)
            b[i] = (uint8_t)rng_next(&s);
        if (n && rnd(&s, 2)) /* plausible first bytes more often */
            b[0] = (uint8_t)(rnd(&s, 16) << 4 | (b[0] & 0x0F));
        if (n > 1 && rnd(&s, 2))
            b[1] = (uint8_t)rnd(&s, (uint32_t)n);
        mq_packet p;
        size_t used = 0;
        int rc = mq_codec_decode(b, n, (it & 1) ? MQ_V5 : MQ_V311, &p, &used);
        if (rc == MQ_OK)
            assert_true(used <= n);
        free(b);
    }
}

/* ------------------------------------------------------------------------ */

static void names(void **state)
{
    (void)state;
    assert_string_equal(mq_type_name(MQ_CONNECT), "CONNECT");
    assert_string_equal(mq_type_name(MQ_PUBREL), "PUBREL");
    assert_string_equal(mq_type_name(MQ_UNSUBACK), "UNSUBACK");
    assert_string_equal(mq_type_name(MQ_AUTH), "AUTH");
    assert_string_equal(mq_type_name(0), "?");
    assert_string_equal(mq_type_name(16), "?");
    assert_string_equal(mq_type_name(255), "?");
    for (int e = MQ_OK; e >= MQ_ERR_LEVEL; e--)
        assert_string_not_equal(mq_codec_strerror(e), "?");
    assert_string_equal(mq_codec_strerror(-99), "?");
}

/* The framer's PUBLISH head points into its buffer, which may grow between
 * the head's decoding and its report (the first payload bytes still to
 * come): the topic must move with it. Found by the config fuzzer (a topic
 * near 65,535 bytes over a stream, a use after free). Every topic length
 * that puts the payload at a power of two, fed whole and byte by byte. */
static void framer_head_follows_its_buffer(void **state)
{
    (void)state;
    static uint8_t wire[70000];
    static char topic[66000];
    memset(topic, 'a', sizeof topic);
    for (size_t off = 64; off <= 65536; off *= 2) {
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            /* payload_off = 1 + varint + 2 + topic: solve for the topic. */
            size_t vl = off - 3 < 128 ? 1 : off - 3 < 16384 ? 2 : 3;
            size_t tl = off - 3 - vl;
            if (tl > 65535)
                continue;
            mq_packet p = {.type = MQ_PUBLISH, .qos = 0, .topic = {topic, (uint16_t)tl},
                           .payload_len = 40};
            size_t n = 0;
            assert_int_equal(mq_codec_encode(&p, MQ_V311, wire, sizeof wire, &n), MQ_OK);
            mq_framer f = {0};
            size_t at = 0;
            bool head = false;
            while (at < n) {
                size_t k = bytewise ? 1 : n - at, taken = 0;
                const uint8_t *out;
                size_t out_n;
                int ev = mq_framer_feed(&f, MQ_V311, wire + at, k, &taken, &out, &out_n);
                assert_true(ev >= 0);
                at += taken;
                if (ev == MQ_FR_HEAD) {
                    head = true;
                    assert_int_equal(f.pub.topic.len, tl);
                    /* Inside the buffer as it is now, and the topic's bytes. */
                    assert_true((const uint8_t *)f.pub.topic.s >= f.buf &&
                                (const uint8_t *)f.pub.topic.s + tl <= f.buf + f.len);
                    assert_memory_equal(f.pub.topic.s, topic, tl);
                }
            }
            assert_true(head);
            mq_framer_free(&f);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vectors_decode_and_encode),
        cmocka_unit_test(vectors_followed_by_more),
        cmocka_unit_test(decode_points_into_buffer),
        cmocka_unit_test(encode_null_payload_as_zeros),
        cmocka_unit_test(varint_boundaries),
        cmocka_unit_test(varint_malformed),
        cmocka_unit_test(publish_rl_boundaries),
        cmocka_unit_test(publish_max_remaining_length),
        cmocka_unit_test(encode_fills_buffer_exactly),
        cmocka_unit_test(encode_nospace_every_cap),
        cmocka_unit_test(malformed_fixed_header_flags),
        cmocka_unit_test(malformed_qos3),
        cmocka_unit_test(malformed_zero_packet_id),
        cmocka_unit_test(malformed_truncated),
        cmocka_unit_test(malformed_need_more),
        cmocka_unit_test(malformed_wildcard_topic),
        cmocka_unit_test(malformed_utf8),
        cmocka_unit_test(topic_checks_agree_with_validators),
        cmocka_unit_test(malformed_connect),
        cmocka_unit_test(malformed_trailing),
        cmocka_unit_test(malformed_subscribe_lists),
        cmocka_unit_test(malformed_type),
        cmocka_unit_test(malformed_connack),
        cmocka_unit_test(malformed_v5_reason_codes),
        cmocka_unit_test(malformed_v5_properties),
        cmocka_unit_test(encode_invalid),
        cmocka_unit_test(random_round_trips),
        cmocka_unit_test(bounds_every_prefix),
        cmocka_unit_test(bounds_every_mutation),
        cmocka_unit_test(bounds_random_bytes),
        cmocka_unit_test(names),
        cmocka_unit_test(framer_head_follows_its_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, free_copies);
}
