/* Fuzz harness for the codec: decode, re-encode, decode again must agree; prefixes need more bytes. */
#include "tests/fuzz/fuzz.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "models/codec.h"

/*
 * Input: byte 0 picks the protocol version (bit 0: 3.1.1 or 5.0), the rest
 * is offered to the decoder as received bytes, held in a heap block of
 * exactly their size so AddressSanitizer sees any read past the end.
 * Invariants for a packet that decodes:
 *  - every proper prefix of it answers MQ_ERR_NEED_MORE (a stream framer
 *    would otherwise close a connection that is only waiting for bytes);
 *  - mq_codec_size gives the encoded size, and encoding succeeds into a
 *    buffer of exactly that size and fails with MQ_ERR_NOSPACE one byte short;
 *  - the encoding decodes to the same packet (every field its type carries);
 *  - encoding that again gives the same bytes (the encoding is canonical).
 */

static bool str_eq(mq_str a, mq_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.s, b.s, a.len) == 0);
}

static bool props_eq(const mq_props *a, const mq_props *b)
{
    return a->has_receive_maximum == b->has_receive_maximum &&
           (!a->has_receive_maximum || a->receive_maximum == b->receive_maximum) &&
           a->has_session_expiry == b->has_session_expiry &&
           (!a->has_session_expiry || a->session_expiry == b->session_expiry) &&
           a->has_topic_alias == b->has_topic_alias &&
           (!a->has_topic_alias || a->topic_alias == b->topic_alias);
}

static bool topics_eq(const mq_packet *a, const mq_packet *b, bool options)
{
    if (a->n_topics != b->n_topics)
        return false;
    for (size_t i = 0; i < a->n_topics; i++)
        if (!str_eq(a->topics[i].filter, b->topics[i].filter) ||
            (options && a->topics[i].options != b->topics[i].options))
            return false;
    return true;
}

static bool codes_eq(const mq_packet *a, const mq_packet *b)
{
    return a->n_codes == b->n_codes && memcmp(a->codes, b->codes, a->n_codes) == 0;
}

/* The fields a packet of this type carries, compared; others are ignored
 * (a decoder need not clear what the type does not use). */
static bool packet_eq(const mq_packet *a, const mq_packet *b, uint8_t v)
{
    if (a->type != b->type)
        return false;
    bool v5 = v == MQ_V5;
    if (v5 && !props_eq(&a->props, &b->props) && a->type != MQ_PINGREQ &&
        a->type != MQ_PINGRESP)
        return false;
    switch (a->type) {
    case MQ_PUBLISH:
        return a->dup == b->dup && a->retain == b->retain && a->qos == b->qos &&
               (a->qos == 0 || a->id == b->id) && str_eq(a->topic, b->topic) &&
               a->payload_len == b->payload_len &&
               (a->payload_len == 0 || memcmp(a->payload, b->payload, a->payload_len) == 0);
    case MQ_CONNECT:
        return a->version == b->version && a->clean_start == b->clean_start &&
               a->keepalive == b->keepalive && str_eq(a->client_id, b->client_id);
    case MQ_CONNACK:
        return a->session_present == b->session_present && a->reason == b->reason;
    case MQ_PUBACK: case MQ_PUBREC: case MQ_PUBREL: case MQ_PUBCOMP:
        return a->id == b->id && (!v5 || a->reason == b->reason);
    case MQ_SUBSCRIBE:
        return a->id == b->id && topics_eq(a, b, true);
    case MQ_UNSUBSCRIBE:
        return a->id == b->id && topics_eq(a, b, false);
    case MQ_SUBACK:
        return a->id == b->id && codes_eq(a, b);
    case MQ_UNSUBACK:
        return a->id == b->id && (!v5 || codes_eq(a, b));
    case MQ_DISCONNECT: case MQ_AUTH:
        return !v5 || a->reason == b->reason;
    default:
        return true;
    }
}

/* Decodes from a heap copy of exactly n bytes; *copy is the caller's to free. */
static int decode_copy(const uint8_t *b, size_t n, uint8_t v, mq_packet *p, size_t *used,
                       uint8_t **copy)
{
    *copy = malloc(n ? n : 1);
    FUZZ_CHECK(*copy);
    if (n)
        memcpy(*copy, b, n);
    return mq_codec_decode(*copy, n, v, p, used);
}

int fuzz_codec(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t v = (data[0] & 1) ? MQ_V5 : MQ_V311;
    data++;
    size--;

    mq_packet p;
    size_t used = 0;
    uint8_t *in;
    int rc = decode_copy(data, size, v, &p, &used, &in);
    if (rc != MQ_OK) {
        FUZZ_CHECK(rc < 0);
        free(in);
        return 0;
    }
    FUZZ_CHECK(used >= 2 && used <= size);

    size_t cuts[] = {0, 1, used / 2, used - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        mq_packet q;
        size_t u2;
        uint8_t *pre;
        FUZZ_CHECK(decode_copy(data, cuts[i], v, &q, &u2, &pre) == MQ_ERR_NEED_MORE);
        free(pre);
    }

    /* A CONNECT re-encodes at the version it announced. */
    uint8_t ev = p.type == MQ_CONNECT ? p.version : v;
    size_t need = mq_codec_size(&p, ev);
    FUZZ_CHECK(need > 0);
    uint8_t *out = malloc(need);
    FUZZ_CHECK(out);
    size_t n = 0;
    FUZZ_CHECK(mq_codec_encode(&p, ev, out, need - 1, &n) == MQ_ERR_NOSPACE);
    FUZZ_CHECK(mq_codec_encode(&p, ev, out, need, &n) == MQ_OK && n == need);

    mq_packet q;
    size_t u2 = 0;
    uint8_t *again;
    FUZZ_CHECK(decode_copy(out, n, ev, &q, &u2, &again) == MQ_OK && u2 == n);
    FUZZ_CHECK(packet_eq(&p, &q, ev));

    uint8_t *out2 = malloc(need);
    FUZZ_CHECK(out2);
    size_t n2 = 0;
    FUZZ_CHECK(mq_codec_encode(&q, ev, out2, need, &n2) == MQ_OK);
    FUZZ_CHECK(n2 == n && memcmp(out, out2, n) == 0);

    free(out2);
    free(again);
    free(out);
    free(in);
    return 0;
}
