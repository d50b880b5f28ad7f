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
 *  - encoding that again gives the same bytes (the encoding is canonical);
 *  - a PUBLISH: mq_codec_publish_head of it, and of every prefix, agrees
 *    with the decoder (or needs more bytes, asking for a longer prefix),
 *    and mq_codec_publish_encode_head writes the bytes it starts with (5.0:
 *    when it has no properties);
 *  - a PUBACK, PUBREC, PUBREL or PUBCOMP: mq_codec_ack_encode writes what
 *    mq_codec_encode writes.
 * Whatever decodes or not, the whole input is fed to a stream framer in
 * chunks whose sizes the input's bytes give (and again in one piece): both
 * feeds report the same events (payload slices aside), each whole packet it reports decodes (or is malformed) in its own length, each
 * PUBLISH head agrees with mq_codec_publish_head, and the payload it passes
 * adds up to the head's payload length.
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

/* What a framer reported over a stream, to compare two feeds of it. */
typedef struct {
    uint64_t hash, events, body;
    int err;
} feed_log;

static void mix(feed_log *l, uint64_t x)
{
    l->hash = (l->hash ^ x) * 1099511628211u;
}

/* Feeds data[0..n) to a fresh framer in chunks of 1 + chunk[i % nchunk]
 * bytes (all at once when nchunk is 0), checking each event. */
static void feed(const uint8_t *data, size_t n, uint8_t v, const uint8_t *chunk, size_t nchunk,
                 feed_log *l)
{
    mq_framer f;
    memset(&f, 0, sizeof f);
    f.max_packet = 1 << 16;
    memset(l, 0, sizeof *l);
    uint64_t payload_left = 0;
    size_t pos = 0, ci = 0;
    while (pos < n && !l->err) {
        size_t len = nchunk ? 1 + (size_t)chunk[ci++ % nchunk] : n;
        if (len > n - pos)
            len = n - pos;
        /* An exact-size copy of the chunk, so a read past it is caught. */
        uint8_t *c = malloc(len);
        FUZZ_CHECK(c);
        memcpy(c, data + pos, len);
        size_t off = 0;
        for (;;) {
            size_t taken = 0, on = 0;
            const uint8_t *out = NULL;
            int ev = mq_framer_feed(&f, v, c + off, len - off, &taken, &out, &on);
            FUZZ_CHECK(taken <= len - off);
            off += taken;
            if (ev < 0) {
                FUZZ_CHECK(ev != MQ_ERR_NEED_MORE);
                l->err = ev;
                break;
            }
            if (ev == MQ_FR_MORE) {
                FUZZ_CHECK(off == len);
                break;
            }
            /* Payload comes in slices as the chunks fall: only its sum is compared. */
            if (ev != MQ_FR_BODY) {
                l->events++;
                mix(l, (uint64_t)ev);
            }
            if (ev == MQ_FR_PACKET) {
                mq_packet p;
                size_t used = 0;
                /* The framer frames; checking the packet is the decoder's
                 * job, which needs no more bytes than the frame. */
                FUZZ_CHECK(f.len >= 2);
                int rc = mq_codec_decode(f.buf, f.len, v, &p, &used);
                FUZZ_CHECK(rc != MQ_ERR_NEED_MORE);
                FUZZ_CHECK(rc != MQ_OK || (used == f.len && p.type != MQ_PUBLISH));
                for (size_t i = 0; i < f.len; i++)
                    mix(l, f.buf[i]);
            } else if (ev == MQ_FR_HEAD) {
                mq_pubhead h;
                size_t need = 0;
                FUZZ_CHECK(mq_codec_publish_head(f.buf, f.len, v, &h, &need) == MQ_OK);
                FUZZ_CHECK(h.total == f.pub.total && h.payload_len == f.pub.payload_len);
                size_t held = f.len > h.payload_off ? f.len - h.payload_off : 0;
                FUZZ_CHECK(held <= h.payload_len);
                payload_left = h.payload_len - held;
                mix(l, h.total);
                mix(l, h.id);
            } else if (ev == MQ_FR_BODY) {
                FUZZ_CHECK(on > 0 && on <= payload_left);
                FUZZ_CHECK(out == NULL || (out >= c && out + on <= c + off));
                payload_left -= on;
                l->body += on;
            } else if (ev == MQ_FR_END) {
                FUZZ_CHECK(payload_left == 0);
            }
        }
        free(c);
        pos += len;
    }
    mix(l, (uint64_t)(int64_t)l->err);
    mq_framer_free(&f);
}

/* The PUBLISH fast paths agree with the decoder on p, decoded from b[0..n). */
static void check_publish(const uint8_t *b, size_t n, uint8_t v, const mq_packet *p)
{
    mq_pubhead h;
    size_t need = 0;
    FUZZ_CHECK(mq_codec_publish_head(b, n, v, &h, &need) == MQ_OK);
    FUZZ_CHECK(h.total == n && h.qos == p->qos && h.dup == p->dup && h.retain == p->retain &&
               (p->qos == 0 || h.id == p->id) && str_eq(h.topic, p->topic) &&
               h.payload_len == p->payload_len && h.payload_off + h.payload_len == n &&
               (v != MQ_V5 || props_eq(&h.props, &p->props)));
    /* A prefix decodes, or asks for a longer one that is still within the packet. */
    size_t cuts[] = {0, 1, 2, h.payload_off / 2, h.payload_off - 1, h.payload_off};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        size_t c = cuts[i];
        if (c > n)
            continue;
        uint8_t *pre = malloc(c ? c : 1);
        FUZZ_CHECK(pre);
        memcpy(pre, b, c);
        mq_pubhead g;
        size_t need2 = 0;
        int rc = mq_codec_publish_head(pre, c, v, &g, &need2);
        if (c >= h.payload_off)
            FUZZ_CHECK(rc == MQ_OK && g.total == h.total && g.payload_off == h.payload_off);
        else
            FUZZ_CHECK(rc == MQ_ERR_NEED_MORE && need2 > c && need2 <= n);
        free(pre);
    }
    bool plain = v != MQ_V5 || (!p->props.has_topic_alias && !p->props.has_receive_maximum &&
                                !p->props.has_session_expiry);
    if (plain && p->topic.len > 0) {
        uint8_t head[MQ_PUBLISH_HEAD_MAX + 65535];
        size_t used = 0;
        FUZZ_CHECK(mq_codec_publish_encode_head(head, sizeof head, v, p->qos, p->dup, p->retain,
                                                p->id, p->topic.s, p->topic.len, p->payload_len,
                                                &used) == MQ_OK);
        FUZZ_CHECK(used == h.payload_off && memcmp(head, b, used) == 0);
        FUZZ_CHECK(mq_codec_publish_encode_head(head, used - 1, v, p->qos, p->dup, p->retain,
                                                p->id, p->topic.s, p->topic.len,
                                                p->payload_len, &used) == MQ_ERR_NOSPACE);
    }
}

int fuzz_codec(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t v = (data[0] & 1) ? MQ_V5 : MQ_V311;
    data++;
    size--;

    /* The stream framer, in chunks the first bytes size, then in one piece. */
    size_t nchunk = size < 8 ? size : 8u;
    feed_log a, b;
    feed(data, size, v, data, nchunk, &a);
    feed(data, size, v, NULL, 0, &b);
    FUZZ_CHECK(a.hash == b.hash && a.events == b.events && a.body == b.body && a.err == b.err);

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

    if (p.type == MQ_PUBLISH)
        check_publish(out, n, ev, &q);
    if (p.type >= MQ_PUBACK && p.type <= MQ_PUBCOMP) {
        uint8_t ack[5];
        size_t an = mq_codec_ack_encode(ack, p.type, p.id, ev == MQ_V5 ? p.reason : 0, ev);
        FUZZ_CHECK(ev != MQ_V5 || (an == n && memcmp(ack, out, n) == 0));
        FUZZ_CHECK(ev == MQ_V5 || (an == 4 && n == 4 && memcmp(ack, out, 4) == 0));
    }

    free(out2);
    free(again);
    free(out);
    free(in);
    return 0;
}
