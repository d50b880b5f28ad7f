/* MQTT 3.1.1 / 5.0 wire codec: pure, bounded encode and decode of control packets. */
#include "models/codec.h"

#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "models/topic.h"
#include "models/utf8.h"

#define MAX_RL 268435455u /* largest Remaining Length a 4-byte varint holds */

/* ------------------------------------------------------------------------ */
/* Names */

const char *mq_type_name(uint8_t type)
{
    static const char *const names[] = {
        "?",       "CONNECT",   "CONNACK", "PUBLISH",     "PUBACK",   "PUBREC",
        "PUBREL",  "PUBCOMP",   "SUBSCRIBE", "SUBACK",    "UNSUBSCRIBE", "UNSUBACK",
        "PINGREQ", "PINGRESP",  "DISCONNECT", "AUTH",
    };
    return type < sizeof names / sizeof names[0] ? names[type] : "?";
}

const char *mq_codec_strerror(int err)
{
    switch (err) {
    case MQ_OK: return "ok";
    case MQ_ERR_NEED_MORE: return "need more bytes";
    case MQ_ERR_NOSPACE: return "output buffer too small";
    case MQ_ERR_VARINT: return "malformed variable byte integer";
    case MQ_ERR_FLAGS: return "reserved flag bits wrong";
    case MQ_ERR_QOS: return "QoS 3";
    case MQ_ERR_ZERO_ID: return "packet identifier 0";
    case MQ_ERR_TRUNCATED: return "field runs past its length";
    case MQ_ERR_WILDCARD: return "misplaced wildcard";
    case MQ_ERR_UTF8: return "invalid UTF-8 string";
    case MQ_ERR_TYPE: return "bad packet type";
    case MQ_ERR_TRAILING: return "trailing bytes";
    case MQ_ERR_PROPERTY: return "malformed property";
    case MQ_ERR_PROTOCOL: return "protocol violation";
    case MQ_ERR_INVALID: return "packet cannot be encoded";
    case MQ_ERR_TOO_MANY: return "too many topics";
    case MQ_ERR_TOO_BIG: return "packet too big";
    case MQ_ERR_LEVEL: return "unsupported protocol level";
    default: return "?";
    }
}

/* ------------------------------------------------------------------------ */
/* Topics */

/* Checks a topic name (filter=false) or filter as carried in a packet and says
 * which rule it breaks. An empty name is allowed only when allow_empty (a 5.0
 * PUBLISH that carries a Topic Alias). */
static int check_topic(mq_str t, bool filter, bool allow_empty)
{
    /* The common case in one pass (t.len is 16 bits: never too long): a
     * name of ASCII without NUL and without wildcards is valid UTF-8 and a
     * valid name (when not empty); a filter of ASCII without NUL is valid
     * UTF-8, and valid when each '+' or '#' fills its level and '#' is last.
     * A broken wildcard rule is only noted, since a later byte may break
     * UTF-8, which is reported first. Anything not ASCII takes the full
     * checks below. Each of a packet's filters is checked on every encode,
     * and a datagram SUBSCRIBE is encoded again on every resend, so this
     * pass is the cost of a long filter. */
    size_t i = 0;
    bool wild_ok = true;
    while (i < t.len) {
        unsigned char c = (unsigned char)t.s[i];
        if (c == 0 || c >= 0x80)
            break;
        if (c == '+' || c == '#') {
            if (!filter)
                break;
            bool alone = (i == 0 || t.s[i - 1] == '/') && (i + 1 == t.len || t.s[i + 1] == '/');
            if (!alone || (c == '#' && i + 1 != t.len))
                wild_ok = false;
        }
        i++;
    }
    if (i == t.len) {
        if (t.len == 0)
            return allow_empty ? MQ_OK : MQ_ERR_PROTOCOL;
        return wild_ok ? MQ_OK : MQ_ERR_WILDCARD;
    }
    if (!mq_utf8_valid(t.s, t.len))
        return MQ_ERR_UTF8;
    if (t.len == 0)
        return allow_empty ? MQ_OK : MQ_ERR_PROTOCOL;
    if (filter ? !mq_topic_filter_valid(t.s, t.len) : !mq_topic_name_valid(t.s, t.len))
        return MQ_ERR_WILDCARD; /* the only rule left that they can break */
    return MQ_OK;
}

/* ------------------------------------------------------------------------ */
/* Variable Byte Integer */

int mq_varint_encode(uint32_t v, uint8_t out[4])
{
    if (v > MAX_RL)
        return 0;
    int n = 0;
    do {
        uint8_t b = v & 0x7F;
        v >>= 7;
        out[n++] = b | (v ? 0x80 : 0);
    } while (v);
    return n;
}

/* Non-minimal encodings (e.g. 0x80 0x00 for 0) are rejected as MQ_ERR_VARINT:
 * 5.0 §1.5.5 requires the minimum number of bytes, and no 3.1.1 encoder
 * produces anything else. A fourth byte with its continuation bit set is
 * MQ_ERR_VARINT at once, without waiting for a fifth. */
int mq_varint_decode(const uint8_t *buf, size_t len, uint32_t *v)
{
    uint32_t val = 0;
    for (int i = 0; i < 4; i++) {
        if ((size_t)i >= len)
            return MQ_ERR_NEED_MORE;
        uint8_t b = buf[i];
        val |= (uint32_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            if (i > 0 && b == 0)
                return MQ_ERR_VARINT;
            *v = val;
            return i + 1;
        }
    }
    return MQ_ERR_VARINT;
}

static int varint_size(uint32_t v)
{
    return v < 128u ? 1 : v < 16384u ? 2 : v < 2097152u ? 3 : 4;
}

/* ------------------------------------------------------------------------ */
/* 5.0 properties (5.0 §2.2.2.2) */

enum { P_NONE, P_BYTE, P_U16, P_U32, P_VBI, P_STR, P_BIN, P_PAIR };

#define W(t) (1u << (t))
#define WILL 0 /* pseudo packet type 0: the Will Properties of a CONNECT */

/* Per property identifier: its data type and the packets that may carry it. */
static const struct {
    uint8_t kind;
    uint16_t where;
} props_tab[0x2B] = {
    [0x01] = {P_BYTE, W(MQ_PUBLISH) | W(WILL)},                /* Payload Format Indicator */
    [0x02] = {P_U32, W(MQ_PUBLISH) | W(WILL)},                 /* Message Expiry Interval */
    [0x03] = {P_STR, W(MQ_PUBLISH) | W(WILL)},                 /* Content Type */
    [0x08] = {P_STR, W(MQ_PUBLISH) | W(WILL)},                 /* Response Topic */
    [0x09] = {P_BIN, W(MQ_PUBLISH) | W(WILL)},                 /* Correlation Data */
    [0x0B] = {P_VBI, W(MQ_PUBLISH) | W(MQ_SUBSCRIBE)},         /* Subscription Identifier */
    [0x11] = {P_U32, W(MQ_CONNECT) | W(MQ_CONNACK) | W(MQ_DISCONNECT)}, /* Session Expiry */
    [0x12] = {P_STR, W(MQ_CONNACK)},                           /* Assigned Client Identifier */
    [0x13] = {P_U16, W(MQ_CONNACK)},                           /* Server Keep Alive */
    [0x15] = {P_STR, W(MQ_CONNECT) | W(MQ_CONNACK) | W(MQ_AUTH)}, /* Authentication Method */
    [0x16] = {P_BIN, W(MQ_CONNECT) | W(MQ_CONNACK) | W(MQ_AUTH)}, /* Authentication Data */
    [0x17] = {P_BYTE, W(MQ_CONNECT)},                          /* Request Problem Information */
    [0x18] = {P_U32, W(WILL)},                                 /* Will Delay Interval */
    [0x19] = {P_BYTE, W(MQ_CONNECT)},                          /* Request Response Information */
    [0x1A] = {P_STR, W(MQ_CONNACK)},                           /* Response Information */
    [0x1C] = {P_STR, W(MQ_CONNACK) | W(MQ_DISCONNECT)},        /* Server Reference */
    [0x1F] = {P_STR, W(MQ_CONNACK) | W(MQ_PUBACK) | W(MQ_PUBREC) | W(MQ_PUBREL) |
                         W(MQ_PUBCOMP) | W(MQ_SUBACK) | W(MQ_UNSUBACK) | W(MQ_DISCONNECT) |
                         W(MQ_AUTH)},                          /* Reason String */
    [0x21] = {P_U16, W(MQ_CONNECT) | W(MQ_CONNACK)},           /* Receive Maximum */
    [0x22] = {P_U16, W(MQ_CONNECT) | W(MQ_CONNACK)},           /* Topic Alias Maximum */
    [0x23] = {P_U16, W(MQ_PUBLISH)},                           /* Topic Alias */
    [0x24] = {P_BYTE, W(MQ_CONNACK)},                          /* Maximum QoS */
    [0x25] = {P_BYTE, W(MQ_CONNACK)},                          /* Retain Available */
    [0x26] = {P_PAIR, 0xFFFF},                                 /* User Property: anywhere */
    [0x27] = {P_U32, W(MQ_CONNECT) | W(MQ_CONNACK)},           /* Maximum Packet Size */
    [0x28] = {P_BYTE, W(MQ_CONNACK)},                          /* Wildcard Subscription Avail. */
    [0x29] = {P_BYTE, W(MQ_CONNACK)},                          /* Subscription Identifier Avail. */
    [0x2A] = {P_BYTE, W(MQ_CONNACK)},                          /* Shared Subscription Avail. */
};

#define PROP_SESSION_EXPIRY 0x11
#define PROP_RECEIVE_MAX 0x21
#define PROP_TOPIC_ALIAS 0x23

/* ------------------------------------------------------------------------ */
/* Bounded reader over one packet's variable header and payload */

typedef struct {
    const uint8_t *b;
    size_t n, i; /* end and position; i <= n always */
} rd;

static size_t rd_left(const rd *r)
{
    return r->n - r->i;
}

static int rd_u8(rd *r, uint8_t *v)
{
    if (rd_left(r) < 1)
        return MQ_ERR_TRUNCATED;
    *v = r->b[r->i++];
    return MQ_OK;
}

static int rd_u16(rd *r, uint16_t *v)
{
    if (rd_left(r) < 2)
        return MQ_ERR_TRUNCATED;
    *v = (uint16_t)(r->b[r->i] << 8 | r->b[r->i + 1]);
    r->i += 2;
    return MQ_OK;
}

static int rd_u32(rd *r, uint32_t *v)
{
    if (rd_left(r) < 4)
        return MQ_ERR_TRUNCATED;
    const uint8_t *b = r->b + r->i;
    *v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    r->i += 4;
    return MQ_OK;
}

static int rd_vbi(rd *r, uint32_t *v)
{
    int n = mq_varint_decode(r->b + r->i, rd_left(r), v);
    if (n == MQ_ERR_NEED_MORE)
        return MQ_ERR_TRUNCATED;
    if (n < 0)
        return n;
    r->i += (size_t)n;
    return MQ_OK;
}

/* A two-byte length and that many bytes (Binary Data, or a string unchecked). */
static int rd_bin(rd *r, mq_str *s)
{
    uint16_t len;
    int rc = rd_u16(r, &len);
    if (rc)
        return rc;
    if (rd_left(r) < len)
        return MQ_ERR_TRUNCATED;
    s->s = (const char *)r->b + r->i;
    s->len = len;
    r->i += len;
    return MQ_OK;
}

/* A UTF-8 Encoded String: the length must fit (else MQ_ERR_TRUNCATED), the
 * content must be well-formed without U+0000 (else MQ_ERR_UTF8). */
static int rd_str(rd *r, mq_str *s)
{
    int rc = rd_bin(r, s);
    if (rc)
        return rc;
    return mq_utf8_valid(s->s, s->len) ? MQ_OK : MQ_ERR_UTF8;
}

/* Reads a Property Length and the properties after it, for packet type
 * `ptype` (WILL for Will Properties). Fills out's known properties; skips the
 * others after checking their type, placement and value; rejects unknown
 * identifiers and forbidden repeats with MQ_ERR_PROPERTY. */
static int rd_props(rd *r, uint8_t ptype, mq_props *out)
{
    uint32_t plen;
    int rc = rd_vbi(r, &plen);
    if (rc)
        return rc;
    if (rd_left(r) < plen)
        return MQ_ERR_TRUNCATED;
    rd pr = {r->b, r->i + plen, r->i};
    r->i += plen;
    uint64_t seen = 0;
    while (rd_left(&pr) > 0) {
        /* The identifier is a Variable Byte Integer (5.0 §2.2.2.2); every
         * defined one fits in one byte, so any longer form is unknown. */
        uint32_t id;
        rc = rd_vbi(&pr, &id);
        if (rc)
            return rc;
        if (id >= sizeof props_tab / sizeof props_tab[0] || props_tab[id].kind == P_NONE)
            return MQ_ERR_PROPERTY;
        if (!(props_tab[id].where & W(ptype)))
            return MQ_ERR_PROPERTY;
        bool repeatable = id == 0x26 || (id == 0x0B && ptype == MQ_PUBLISH);
        if (!repeatable && (seen & (UINT64_C(1) << id)))
            return MQ_ERR_PROPERTY;
        seen |= UINT64_C(1) << id;
        uint8_t b8;
        uint16_t b16;
        uint32_t b32;
        mq_str s;
        switch (props_tab[id].kind) {
        case P_BYTE:
            if ((rc = rd_u8(&pr, &b8)))
                return rc;
            if (b8 > 1) /* every byte property defined is 0 or 1 */
                return MQ_ERR_PROPERTY;
            break;
        case P_U16:
            if ((rc = rd_u16(&pr, &b16)))
                return rc;
            if (b16 == 0 && (id == PROP_RECEIVE_MAX || id == PROP_TOPIC_ALIAS))
                return MQ_ERR_PROPERTY;
            if (id == PROP_RECEIVE_MAX && out) {
                out->has_receive_maximum = true;
                out->receive_maximum = b16;
            } else if (id == PROP_TOPIC_ALIAS && out) {
                out->has_topic_alias = true;
                out->topic_alias = b16;
            }
            break;
        case P_U32:
            if ((rc = rd_u32(&pr, &b32)))
                return rc;
            if (b32 == 0 && id == 0x27) /* Maximum Packet Size */
                return MQ_ERR_PROPERTY;
            if (id == PROP_SESSION_EXPIRY && out) {
                out->has_session_expiry = true;
                out->session_expiry = b32;
            }
            break;
        case P_VBI:
            if ((rc = rd_vbi(&pr, &b32)))
                return rc;
            if (b32 == 0) /* Subscription Identifier 0 */
                return MQ_ERR_PROPERTY;
            break;
        case P_STR:
            if ((rc = rd_str(&pr, &s)))
                return rc;
            break;
        case P_BIN:
            if ((rc = rd_bin(&pr, &s)))
                return rc;
            break;
        case P_PAIR:
            if ((rc = rd_str(&pr, &s)) || (rc = rd_str(&pr, &s)))
                return rc;
            break;
        }
    }
    return MQ_OK;
}

/* ------------------------------------------------------------------------ */
/* Reason codes (3.1.1 §3.2.2.3, §3.9.3; 5.0 §2.4 and each packet's table) */

static bool code_in(uint8_t c, const char *set, size_t n)
{
    return memchr(set, c, n) != NULL;
}
#define IN(c, lit) code_in((c), (lit), sizeof(lit) - 1)

/* Whether `c` is a defined reason (or return) code of `type` in `version`.
 * The sets are string literals starting with an explicit "\x00": sizeof - 1
 * drops only the terminator, so 0x00 is a member. */
static bool reason_valid(uint8_t type, uint8_t version, uint8_t c)
{
    if (version == MQ_V311) {
        switch (type) {
        case MQ_CONNACK: return c <= 5;
        case MQ_SUBACK: return c <= 2 || c == 0x80;
        default: return c == 0;
        }
    }
    switch (type) {
    case MQ_CONNACK:
        return IN(c, "\x00\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8A\x8C\x90\x95\x97\x99"
                     "\x9A\x9B\x9C\x9D\x9F");
    case MQ_PUBACK:
    case MQ_PUBREC:
        return IN(c, "\x00\x10\x80\x83\x87\x90\x91\x97\x99");
    case MQ_PUBREL:
    case MQ_PUBCOMP:
        return IN(c, "\x00\x92");
    case MQ_SUBACK:
        return IN(c, "\x00\x01\x02\x80\x83\x87\x8F\x91\x97\x9E\xA1\xA2");
    case MQ_UNSUBACK:
        return IN(c, "\x00\x11\x80\x83\x87\x8F\x91");
    case MQ_DISCONNECT:
        return IN(c, "\x00\x04\x80\x81\x82\x83\x87\x89\x8B\x8D\x8E\x8F\x90\x93\x94\x95\x96"
                     "\x97\x98\x99\x9A\x9B\x9C\x9D\x9E\x9F\xA0\xA1\xA2");
    case MQ_AUTH:
        return IN(c, "\x00\x18\x19");
    default:
        return c == 0;
    }
}

/* Subscription options byte: 3.1.1 §3.8.3.1 (QoS, the rest reserved) or
 * 5.0 §3.8.3.1 (QoS, No Local, Retain As Published, Retain Handling 0..2,
 * bits 6-7 reserved). */
static int check_sub_options(uint8_t o, uint8_t version)
{
    uint8_t reserved = version == MQ_V311 ? 0xFC : 0xC0;
    if (o & reserved)
        return MQ_ERR_FLAGS;
    if ((o & 3) == 3)
        return MQ_ERR_QOS;
    if (version == MQ_V5 && ((o >> 4) & 3) == 3)
        return MQ_ERR_PROTOCOL;
    return MQ_OK;
}

/* The fixed-header flags every type but PUBLISH must carry (3.1.1 §2.2.2). */
static uint8_t fixed_flags(uint8_t type)
{
    return (type == MQ_PUBREL || type == MQ_SUBSCRIBE || type == MQ_UNSUBSCRIBE) ? 2 : 0;
}

/* ------------------------------------------------------------------------ */
/* Decoding */

static int dec_connect(rd *r, mq_packet *p)
{
    mq_str name;
    uint8_t level, flags;
    int rc = rd_bin(r, &name);
    if (rc)
        return rc;
    bool v31 = name.len == 6 && memcmp(name.s, "MQIsdp", 6) == 0;
    if (!v31 && (name.len != 4 || memcmp(name.s, "MQTT", 4) != 0))
        return MQ_ERR_PROTOCOL;
    if ((rc = rd_u8(r, &level)))
        return rc;
    if (v31 || (level != MQ_V311 && level != MQ_V5))
        return MQ_ERR_LEVEL;
    p->version = level;
    if ((rc = rd_u8(r, &flags)) || (rc = rd_u16(r, &p->keepalive)))
        return rc;
    /* 3.1.1 §3.1.2.3 / 5.0 §3.1.2.3: bit 0 reserved; will QoS and retain only
     * with the will flag; 3.1.1 §3.1.2.9: no password without a user name. */
    if (flags & 0x01)
        return MQ_ERR_FLAGS;
    bool will = flags & 0x04, user = flags & 0x80, pass = flags & 0x40;
    uint8_t will_qos = (flags >> 3) & 3;
    if (will_qos == 3)
        return MQ_ERR_QOS;
    if (!will && (will_qos || (flags & 0x20)))
        return MQ_ERR_PROTOCOL;
    if (level == MQ_V311 && pass && !user)
        return MQ_ERR_PROTOCOL;
    p->clean_start = flags & 0x02;
    if (level == MQ_V5 && (rc = rd_props(r, MQ_CONNECT, &p->props)))
        return rc;
    if ((rc = rd_str(r, &p->client_id)))
        return rc;
    mq_str s;
    if (will) {
        if (level == MQ_V5 && (rc = rd_props(r, WILL, NULL)))
            return rc;
        if ((rc = rd_bin(r, &s)) || (rc = check_topic(s, false, false)))
            return rc;
        if ((rc = rd_bin(r, &s))) /* will payload: Binary Data */
            return rc;
    }
    if (user && (rc = rd_str(r, &s)))
        return rc;
    if (pass && (rc = rd_bin(r, &s)))
        return rc;
    return MQ_OK;
}

static int dec_connack(rd *r, uint8_t version, mq_packet *p)
{
    uint8_t ack;
    int rc;
    if ((rc = rd_u8(r, &ack)) || (rc = rd_u8(r, &p->reason)))
        return rc;
    if (ack & 0xFE)
        return MQ_ERR_FLAGS;
    p->session_present = ack & 1;
    if (!reason_valid(MQ_CONNACK, version, p->reason))
        return MQ_ERR_PROTOCOL;
    /* 3.1.1 §3.2.2.2 / 5.0 §3.2.2.1.1: a refusal has Session Present 0 */
    if (p->reason != 0 && p->session_present)
        return MQ_ERR_PROTOCOL;
    if (version == MQ_V5)
        return rd_props(r, MQ_CONNACK, &p->props);
    return MQ_OK;
}

static int dec_publish(rd *r, uint8_t version, uint8_t flags, mq_packet *p)
{
    p->dup = flags & 8;
    p->qos = (flags >> 1) & 3;
    p->retain = flags & 1;
    if (p->qos == 3)
        return MQ_ERR_QOS;
    if (p->qos == 0 && p->dup) /* 3.1.1 §3.3.1.1: DUP MUST be 0 for QoS 0 */
        return MQ_ERR_FLAGS;
    int rc = rd_bin(r, &p->topic);
    if (rc)
        return rc;
    if (p->qos > 0) {
        if ((rc = rd_u16(r, &p->id)))
            return rc;
        if (p->id == 0)
            return MQ_ERR_ZERO_ID;
    }
    if (version == MQ_V5 && (rc = rd_props(r, MQ_PUBLISH, &p->props)))
        return rc;
    /* Checked after the properties: an empty 5.0 topic needs a Topic Alias. */
    if ((rc = check_topic(p->topic, false, p->props.has_topic_alias)))
        return rc;
    p->payload = r->b + r->i;
    p->payload_len = (uint32_t)rd_left(r);
    r->i = r->n;
    return MQ_OK;
}

/* PUBACK, PUBREC, PUBREL, PUBCOMP: 3.1.1 §3.4-3.7, 5.0 §3.4-3.7 (the reason
 * code and properties may be left out from the end). */
static int dec_ack(rd *r, uint8_t version, uint8_t type, mq_packet *p)
{
    int rc = rd_u16(r, &p->id);
    if (rc)
        return rc;
    if (p->id == 0)
        return MQ_ERR_ZERO_ID;
    if (version == MQ_V311 || rd_left(r) == 0)
        return MQ_OK;
    if ((rc = rd_u8(r, &p->reason)))
        return rc;
    if (!reason_valid(type, version, p->reason))
        return MQ_ERR_PROTOCOL;
    if (rd_left(r) == 0)
        return MQ_OK;
    return rd_props(r, type, &p->props);
}

/* SUBSCRIBE and UNSUBSCRIBE: identifier, 5.0 properties, then at least one
 * filter (with an options byte for SUBSCRIBE). */
static int dec_sub(rd *r, uint8_t version, uint8_t type, mq_packet *p)
{
    int rc = rd_u16(r, &p->id);
    if (rc)
        return rc;
    if (p->id == 0)
        return MQ_ERR_ZERO_ID;
    if (version == MQ_V5 && (rc = rd_props(r, type, &p->props)))
        return rc;
    if (rd_left(r) == 0) /* 3.1.1 §3.8.3 / §3.10.3: at least one filter */
        return MQ_ERR_PROTOCOL;
    while (rd_left(r) > 0) {
        if (p->n_topics == MQ_MAX_TOPICS)
            return MQ_ERR_TOO_MANY;
        mq_topic_req *t = &p->topics[p->n_topics];
        t->options = 0; /* UNSUBSCRIBE has none; the array is not cleared */
        if ((rc = rd_bin(r, &t->filter)))
            return rc;
        if (type == MQ_SUBSCRIBE) {
            if ((rc = rd_u8(r, &t->options)))
                return rc;
        }
        if ((rc = check_topic(t->filter, true, false)))
            return rc;
        if (type == MQ_SUBSCRIBE && (rc = check_sub_options(t->options, version)))
            return rc;
        p->n_topics++;
    }
    return MQ_OK;
}

/* SUBACK, and UNSUBACK of 5.0: identifier, properties, at least one code. */
static int dec_subacks(rd *r, uint8_t version, uint8_t type, mq_packet *p)
{
    int rc = rd_u16(r, &p->id);
    if (rc)
        return rc;
    if (p->id == 0)
        return MQ_ERR_ZERO_ID;
    if (type == MQ_UNSUBACK && version == MQ_V311)
        return MQ_OK;
    if (version == MQ_V5 && (rc = rd_props(r, type, &p->props)))
        return rc;
    if (rd_left(r) == 0)
        return MQ_ERR_PROTOCOL;
    while (rd_left(r) > 0) {
        if (p->n_codes == MQ_MAX_TOPICS)
            return MQ_ERR_TOO_MANY;
        uint8_t c = r->b[r->i++];
        if (!reason_valid(type, version, c))
            return MQ_ERR_PROTOCOL;
        p->codes[p->n_codes++] = c;
    }
    return MQ_OK;
}

/* DISCONNECT and AUTH of 5.0: an absent reason code means 0x00, absent
 * properties mean none (5.0 §3.14.2.1, §3.15.2.1). */
static int dec_reason_props(rd *r, uint8_t type, mq_packet *p)
{
    if (rd_left(r) == 0)
        return MQ_OK;
    p->reason = r->b[r->i++];
    if (!reason_valid(type, MQ_V5, p->reason))
        return MQ_ERR_PROTOCOL;
    if (rd_left(r) == 0)
        return MQ_OK;
    return rd_props(r, type, &p->props);
}

int mq_codec_decode(const uint8_t *buf, size_t len, uint8_t version, mq_packet *p,
                    size_t *used)
{
    assert(buf || len == 0);
    if (len < 1)
        return MQ_ERR_NEED_MORE;
    /* Everything but the filter and code arrays, which n_topics and n_codes
     * bound: clearing those 400 bytes for every acknowledgement was most of
     * a decode's cost. */
    memset(p, 0, offsetof(mq_packet, topics));
    p->n_codes = 0;
    memset(&p->props, 0, sizeof p->props);
    uint8_t type = buf[0] >> 4, flags = buf[0] & 0x0F;
    if (type != MQ_CONNECT && version != MQ_V311 && version != MQ_V5)
        return MQ_ERR_PROTOCOL; /* no version negotiated yet */
    if (type == 0 || (type == MQ_AUTH && version != MQ_V5))
        return MQ_ERR_TYPE;
    if (type != MQ_PUBLISH && flags != fixed_flags(type))
        return MQ_ERR_FLAGS;
    uint32_t rl;
    int vl = mq_varint_decode(buf + 1, len - 1, &rl);
    if (vl < 0)
        return vl;
    size_t hdr = 1 + (size_t)vl;
    if (len - hdr < rl)
        return MQ_ERR_NEED_MORE;
    p->type = type;
    p->version = version;
    rd r = {buf, hdr + rl, hdr};
    int rc;
    switch (type) {
    case MQ_CONNECT: rc = dec_connect(&r, p); break;
    case MQ_CONNACK: rc = dec_connack(&r, version, p); break;
    case MQ_PUBLISH: rc = dec_publish(&r, version, flags, p); break;
    case MQ_PUBACK:
    case MQ_PUBREC:
    case MQ_PUBREL:
    case MQ_PUBCOMP: rc = dec_ack(&r, version, type, p); break;
    case MQ_SUBSCRIBE:
    case MQ_UNSUBSCRIBE: rc = dec_sub(&r, version, type, p); break;
    case MQ_SUBACK:
    case MQ_UNSUBACK: rc = dec_subacks(&r, version, type, p); break;
    case MQ_DISCONNECT:
    case MQ_AUTH:
        rc = version == MQ_V5 ? dec_reason_props(&r, type, p) : MQ_OK;
        break;
    default: rc = MQ_OK; break; /* PINGREQ, PINGRESP: no body */
    }
    if (rc)
        return rc;
    if (rd_left(&r) != 0)
        return MQ_ERR_TRAILING;
    *used = r.n;
    return MQ_OK;
}

/* ------------------------------------------------------------------------ */
/* Encoding */

/* A bounded writer. With b == NULL it only counts, which is how sizes are
 * found before anything is written. `checked` says that a counting pass over
 * the same packet has already passed its checks, so the writing pass skips
 * the ones that read whole strings (topics, filters, the client identifier):
 * a 64 KB filter is then scanned once per encode, not twice. */
typedef struct {
    uint8_t *b;
    size_t cap, pos;
    bool checked;
} wr;

static void put(wr *w, const void *src, size_t n)
{
    if (w->b) {
        assert(w->pos + n <= w->cap); /* the size pass checked the total */
        if (n && src)
            memcpy(w->b + w->pos, src, n);
        else if (n) /* a NULL PUBLISH payload stands for n zero bytes */
            memset(w->b + w->pos, 0, n);
    }
    w->pos += n;
}

static void put_u8(wr *w, uint8_t v)
{
    put(w, &v, 1);
}

static void put_u16(wr *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    put(w, b, 2);
}

static void put_u32(wr *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(w, b, 4);
}

static void put_vbi(wr *w, uint32_t v)
{
    uint8_t b[4];
    int n = mq_varint_encode(v, b);
    assert(n > 0);
    put(w, b, (size_t)n);
}

static void put_str(wr *w, mq_str s)
{
    put_u16(w, s.len);
    put(w, s.s, s.len);
}

static bool str_ok(mq_str s)
{
    return s.len == 0 || s.s != NULL;
}

/* Writes the Property Length and the known properties set in pr, after
 * checking each may appear in `type`. */
static int put_props(wr *w, uint8_t type, const mq_props *pr)
{
    uint32_t len = 0;
    if (pr->has_session_expiry) {
        if (!(props_tab[PROP_SESSION_EXPIRY].where & W(type)))
            return MQ_ERR_INVALID;
        len += 5;
    }
    if (pr->has_receive_maximum) {
        if (!(props_tab[PROP_RECEIVE_MAX].where & W(type)) || pr->receive_maximum == 0)
            return MQ_ERR_INVALID;
        len += 3;
    }
    if (pr->has_topic_alias) {
        if (!(props_tab[PROP_TOPIC_ALIAS].where & W(type)) || pr->topic_alias == 0)
            return MQ_ERR_INVALID;
        len += 3;
    }
    put_vbi(w, len);
    if (pr->has_session_expiry) {
        put_u8(w, PROP_SESSION_EXPIRY);
        put_u32(w, pr->session_expiry);
    }
    if (pr->has_receive_maximum) {
        put_u8(w, PROP_RECEIVE_MAX);
        put_u16(w, pr->receive_maximum);
    }
    if (pr->has_topic_alias) {
        put_u8(w, PROP_TOPIC_ALIAS);
        put_u16(w, pr->topic_alias);
    }
    return MQ_OK;
}

static bool props_empty(const mq_props *pr)
{
    return !pr->has_session_expiry && !pr->has_receive_maximum && !pr->has_topic_alias;
}

/* Writes the variable header and payload of p (everything after the
 * Remaining Length), or reports why p cannot be encoded. Accepts exactly what
 * the decoder accepts, so a successful encode always decodes back. */
static int put_body(wr *w, const mq_packet *p, uint8_t v)
{
    int rc;
    bool v5 = v == MQ_V5;
    switch (p->type) {
    case MQ_CONNECT:
        if (p->version != 0 && p->version != v)
            return MQ_ERR_INVALID;
        if (!str_ok(p->client_id) ||
            (!w->checked && !mq_utf8_valid(p->client_id.s, p->client_id.len)))
            return MQ_ERR_INVALID;
        put_str(w, (mq_str){"MQTT", 4});
        put_u8(w, v);
        put_u8(w, p->clean_start ? 0x02 : 0);
        put_u16(w, p->keepalive);
        if (v5 && (rc = put_props(w, MQ_CONNECT, &p->props)))
            return rc;
        put_str(w, p->client_id);
        return MQ_OK;
    case MQ_CONNACK:
        if (!reason_valid(MQ_CONNACK, v, p->reason) || (p->reason && p->session_present))
            return MQ_ERR_INVALID;
        put_u8(w, p->session_present ? 1 : 0);
        put_u8(w, p->reason);
        return v5 ? put_props(w, MQ_CONNACK, &p->props) : MQ_OK;
    case MQ_PUBLISH:
        if (p->qos > 2 || (p->qos == 0 && p->dup) || (p->qos > 0 && p->id == 0))
            return MQ_ERR_INVALID;
        if (!str_ok(p->topic) || p->payload_len > MAX_RL)
            return MQ_ERR_INVALID;
        if (!w->checked && check_topic(p->topic, false, v5 && p->props.has_topic_alias))
            return MQ_ERR_INVALID;
        put_str(w, p->topic);
        if (p->qos > 0)
            put_u16(w, p->id);
        if (v5 && (rc = put_props(w, MQ_PUBLISH, &p->props)))
            return rc;
        put(w, p->payload, p->payload_len);
        return MQ_OK;
    case MQ_PUBACK:
    case MQ_PUBREC:
    case MQ_PUBREL:
    case MQ_PUBCOMP:
        if (p->id == 0)
            return MQ_ERR_INVALID;
        put_u16(w, p->id);
        if (!v5)
            return MQ_OK;
        if (!reason_valid(p->type, v, p->reason))
            return MQ_ERR_INVALID;
        if (!props_empty(&p->props)) { /* none of ours is allowed here */
            put_u8(w, p->reason);
            return put_props(w, p->type, &p->props);
        }
        if (p->reason != 0) /* 5.0 §3.4.2.1: omit what can be omitted */
            put_u8(w, p->reason);
        return MQ_OK;
    case MQ_SUBSCRIBE:
    case MQ_UNSUBSCRIBE:
        if (p->id == 0 || p->n_topics == 0 || p->n_topics > MQ_MAX_TOPICS)
            return MQ_ERR_INVALID;
        for (int i = 0; i < p->n_topics; i++) {
            const mq_topic_req *t = &p->topics[i];
            if (!str_ok(t->filter) || (!w->checked && check_topic(t->filter, true, false)))
                return MQ_ERR_INVALID;
            if (p->type == MQ_SUBSCRIBE && check_sub_options(t->options, v))
                return MQ_ERR_INVALID;
        }
        put_u16(w, p->id);
        if (v5 && (rc = put_props(w, p->type, &p->props)))
            return rc;
        for (int i = 0; i < p->n_topics; i++) {
            put_str(w, p->topics[i].filter);
            if (p->type == MQ_SUBSCRIBE)
                put_u8(w, p->topics[i].options);
        }
        return MQ_OK;
    case MQ_SUBACK:
    case MQ_UNSUBACK:
        if (p->id == 0)
            return MQ_ERR_INVALID;
        if (p->type == MQ_UNSUBACK && !v5) { /* 3.1.1 §3.11: identifier only */
            put_u16(w, p->id);
            return MQ_OK;
        }
        if (p->n_codes == 0 || p->n_codes > MQ_MAX_TOPICS)
            return MQ_ERR_INVALID;
        for (int i = 0; i < p->n_codes; i++)
            if (!reason_valid(p->type, v, p->codes[i]))
                return MQ_ERR_INVALID;
        put_u16(w, p->id);
        if (v5 && (rc = put_props(w, p->type, &p->props)))
            return rc;
        put(w, p->codes, p->n_codes);
        return MQ_OK;
    case MQ_PINGREQ:
    case MQ_PINGRESP:
        return MQ_OK;
    case MQ_DISCONNECT:
    case MQ_AUTH:
        if (!v5)
            return p->type == MQ_AUTH ? MQ_ERR_INVALID : MQ_OK;
        if (!reason_valid(p->type, v, p->reason))
            return MQ_ERR_INVALID;
        if (!props_empty(&p->props)) {
            put_u8(w, p->reason);
            return put_props(w, p->type, &p->props);
        }
        if (p->reason != 0) /* 5.0 §3.14.2.1, §3.15.2.1 */
            put_u8(w, p->reason);
        return MQ_OK;
    default:
        return MQ_ERR_INVALID;
    }
}

/* Finds the Remaining Length and total size of p; MQ_ERR_INVALID if p cannot
 * be encoded. Cost: one pass over the fields, no payload copy. */
static int measure(const mq_packet *p, uint8_t version, uint32_t *rl, size_t *total)
{
    if (version != MQ_V311 && version != MQ_V5)
        return MQ_ERR_INVALID;
    wr c = {NULL, 0, 0, false};
    int rc = put_body(&c, p, version);
    if (rc)
        return rc;
    if (c.pos > MAX_RL)
        return MQ_ERR_INVALID;
    *rl = (uint32_t)c.pos;
    *total = 1 + (size_t)varint_size(*rl) + c.pos;
    return MQ_OK;
}

size_t mq_codec_size(const mq_packet *p, uint8_t version)
{
    uint32_t rl;
    size_t total;
    return measure(p, version, &rl, &total) ? 0 : total;
}

int mq_codec_encode(const mq_packet *p, uint8_t version, uint8_t *buf, size_t cap,
                    size_t *used)
{
    uint32_t rl;
    size_t total;
    int rc = measure(p, version, &rl, &total);
    if (rc)
        return rc;
    if (total > cap)
        return MQ_ERR_NOSPACE; /* nothing written */
    uint8_t first = (uint8_t)(p->type << 4);
    if (p->type == MQ_PUBLISH)
        first |= (uint8_t)((p->dup ? 8 : 0) | p->qos << 1 | (p->retain ? 1 : 0));
    else
        first |= fixed_flags(p->type);
    wr w = {buf, cap, 0, true}; /* measure() has checked p */
    put_u8(&w, first);
    put_vbi(&w, rl);
    rc = put_body(&w, p, version);
    assert(rc == MQ_OK && w.pos == total);
    (void)rc;
    *used = total;
    return MQ_OK;
}

/* ------------------------------------------------------------------------ */
/* The engine's fast paths: a PUBLISH head, acknowledgements */

int mq_codec_publish_head(const uint8_t *buf, size_t len, uint8_t version, mq_pubhead *h,
                          size_t *need)
{
    assert(buf || len == 0);
    if (len < 1) {
        *need = 1;
        return MQ_ERR_NEED_MORE;
    }
    uint8_t flags = buf[0] & 0x0F;
    if (buf[0] >> 4 != MQ_PUBLISH)
        return MQ_ERR_TYPE;
    if (version != MQ_V311 && version != MQ_V5)
        return MQ_ERR_PROTOCOL;
    uint32_t rl;
    int vl = mq_varint_decode(buf + 1, len - 1, &rl);
    if (vl == MQ_ERR_NEED_MORE) {
        *need = len + 1;
        return vl;
    }
    if (vl < 0)
        return vl;
    h->dup = flags & 8;
    h->qos = (flags >> 1) & 3;
    h->retain = flags & 1;
    if (h->qos == 3)
        return MQ_ERR_QOS;
    if (h->qos == 0 && h->dup) /* 3.1.1 §3.3.1.1 */
        return MQ_ERR_FLAGS;
    uint64_t total = 1 + (uint64_t)vl + rl;
    size_t avail = len < total ? len : (size_t)total;
    size_t pos = 1 + (size_t)vl;
    /* Each field: past the Remaining Length is malformed, past what we have
     * is a wait for more. */
#define FIELD(n)                                                                             \
    do {                                                                                     \
        if (pos + (n) > total)                                                               \
            return MQ_ERR_TRUNCATED;                                                         \
        if (pos + (n) > avail) {                                                             \
            *need = pos + (n);                                                               \
            return MQ_ERR_NEED_MORE;                                                         \
        }                                                                                    \
    } while (0)
    FIELD(2);
    uint16_t tl = (uint16_t)(buf[pos] << 8 | buf[pos + 1]);
    pos += 2;
    FIELD(tl);
    h->topic = (mq_str){(const char *)buf + pos, tl};
    pos += tl;
    h->id = 0;
    if (h->qos > 0) {
        FIELD(2);
        h->id = (uint16_t)(buf[pos] << 8 | buf[pos + 1]);
        pos += 2;
        if (h->id == 0)
            return MQ_ERR_ZERO_ID;
    }
    memset(&h->props, 0, sizeof h->props);
    if (version == MQ_V5) {
        uint32_t plen;
        int pv = mq_varint_decode(buf + pos, avail - pos, &plen);
        if (pv == MQ_ERR_NEED_MORE) {
            if (avail == total)
                return MQ_ERR_TRUNCATED;
            *need = avail + 1;
            return pv;
        }
        if (pv < 0)
            return pv;
        FIELD((size_t)pv + plen);
        rd r = {buf, pos + (size_t)pv + plen, pos};
        int rc = rd_props(&r, MQ_PUBLISH, &h->props);
        if (rc)
            return rc;
        pos = r.i;
    }
#undef FIELD
    int rc = check_topic(h->topic, false, h->props.has_topic_alias);
    if (rc)
        return rc;
    h->payload_off = (uint32_t)pos;
    h->payload_len = (uint32_t)(total - pos);
    h->total = total;
    return MQ_OK;
}

int mq_codec_publish_encode_head(uint8_t *buf, size_t cap, uint8_t version, uint8_t qos,
                                 bool dup, bool retain, uint16_t id, const char *topic,
                                 uint16_t topic_len, uint32_t payload_len, size_t *used)
{
    assert(qos <= 2 && !(qos == 0 && dup) && (qos == 0 || id != 0));
    assert(version == MQ_V311 || version == MQ_V5);
    bool v5 = version == MQ_V5;
    uint64_t rl = 2 + (uint64_t)topic_len + (qos ? 2 : 0) + (v5 ? 1 : 0) + payload_len;
    if (rl > MAX_RL)
        return MQ_ERR_INVALID;
    size_t head = 1 + (size_t)varint_size((uint32_t)rl) + (size_t)(rl - payload_len);
    if (head > cap)
        return MQ_ERR_NOSPACE;
    uint8_t *o = buf;
    *o++ = (uint8_t)(MQ_PUBLISH << 4 | (dup ? 8 : 0) | qos << 1 | (retain ? 1 : 0));
    o += mq_varint_encode((uint32_t)rl, o);
    *o++ = (uint8_t)(topic_len >> 8);
    *o++ = (uint8_t)topic_len;
    memcpy(o, topic, topic_len);
    o += topic_len;
    if (qos) {
        *o++ = (uint8_t)(id >> 8);
        *o++ = (uint8_t)id;
    }
    if (v5)
        *o++ = 0; /* Property Length */
    *used = (size_t)(o - buf);
    assert(*used == head);
    return MQ_OK;
}

size_t mq_codec_ack_encode(uint8_t out[5], uint8_t type, uint16_t id, uint8_t reason,
                           uint8_t version)
{
    assert(type >= MQ_PUBACK && type <= MQ_PUBCOMP && id != 0);
    bool with_reason = version == MQ_V5 && reason != 0;
    assert(!with_reason || reason_valid(type, MQ_V5, reason));
    out[0] = (uint8_t)(type << 4 | fixed_flags(type));
    out[1] = with_reason ? 3 : 2;
    out[2] = (uint8_t)(id >> 8);
    out[3] = (uint8_t)id;
    if (with_reason)
        out[4] = reason;
    return with_reason ? 5 : 4;
}

/* ------------------------------------------------------------------------ */
/* Stream framing */

enum { FR_FIXED, FR_WHOLE, FR_HEAD, FR_HEAD_OK, FR_BODY, FR_DONE };

#define FR_MIN_CAP 64
#define FR_KEEP_CAP 4096 /* a bigger buffer goes when its packet ends */

static int fr_reserve(mq_framer *f, size_t need)
{
    if (need <= f->cap)
        return 0;
    size_t cap = f->cap ? f->cap : FR_MIN_CAP;
    while (cap < need)
        cap *= 2;
    /* A PUBLISH head decoded already (while the first payload bytes come)
     * points into the buffer: it moves with it. (It used to be left in the
     * freed one, read when the head was handed over: found by the config
     * fuzzer with a topic near 65,535 bytes over a stream.) */
    ptrdiff_t topic_off = f->state == FR_HEAD_OK && f->pub.topic.s
                              ? (const uint8_t *)f->pub.topic.s - f->buf : -1;
    uint8_t *nb = realloc(f->buf, cap);
    if (!nb)
        return MQ_ERR_NOMEM;
    f->buf = nb;
    f->cap = (uint32_t)cap;
    if (topic_off >= 0)
        f->pub.topic.s = (const char *)nb + topic_off;
    return 0;
}

/* Appends up to `want` bytes of input (zeros when data is NULL). */
static int fr_take(mq_framer *f, const uint8_t *data, size_t n, size_t *taken, size_t want)
{
    size_t k = n - *taken < want ? n - *taken : want;
    if (fr_reserve(f, (size_t)f->len + k))
        return MQ_ERR_NOMEM;
    if (data)
        memcpy(f->buf + f->len, data + *taken, k);
    else
        memset(f->buf + f->len, 0, k);
    f->len += (uint32_t)k;
    f->got += k;
    *taken += k;
    return 0;
}

static void fr_next(mq_framer *f)
{
    f->offset += f->total;
    f->total = f->got = 0;
    f->len = 0;
    f->state = FR_FIXED;
    if (f->cap > FR_KEEP_CAP) {
        free(f->buf);
        f->buf = NULL;
        f->cap = 0;
    }
}

/* One state per step; every step either takes input, or reports an event,
 * or moves the state on, so the loop ends. */
int mq_framer_feed(mq_framer *f, uint8_t version, const uint8_t *data, size_t n,
                   size_t *taken, const uint8_t **out, size_t *out_n)
{
    *taken = 0;
    if (f->state == FR_DONE)
        fr_next(f);
    for (;;) {
        int rc;
        switch (f->state) {
        case FR_FIXED: {
            if (*taken == n)
                return MQ_FR_MORE;
            if ((rc = fr_take(f, data, n, taken, 1)))
                return rc;
            uint8_t type = f->buf[0] >> 4;
            if (type == 0)
                return MQ_ERR_TYPE;
            if (type != MQ_PUBLISH && (f->buf[0] & 0x0F) != fixed_flags(type))
                return MQ_ERR_FLAGS;
            if (f->len < 2)
                break;
            uint32_t rl;
            int vl = mq_varint_decode(f->buf + 1, f->len - 1, &rl);
            if (vl == MQ_ERR_NEED_MORE)
                break;
            if (vl < 0)
                return vl;
            f->total = 1 + (uint64_t)vl + rl;
            uint64_t max = f->max_packet ? f->max_packet : 1 + 4 + (uint64_t)MAX_RL;
            if (f->total > max)
                return MQ_ERR_TOO_BIG;
            f->state = type == MQ_PUBLISH ? FR_HEAD : FR_WHOLE;
            f->need = f->len;
            break;
        }
        case FR_WHOLE:
            if (f->got == f->total) {
                f->state = FR_DONE;
                return MQ_FR_PACKET;
            }
            if (*taken == n)
                return MQ_FR_MORE;
            if ((rc = fr_take(f, data, n, taken, (size_t)(f->total - f->got))))
                return rc;
            break;
        case FR_HEAD:
            if (f->len >= f->need) {
                size_t need;
                rc = mq_codec_publish_head(f->buf, f->len, version, &f->pub, &need);
                if (rc == MQ_OK) {
                    uint32_t head = f->pub.payload_len < MQ_FRAMER_HEAD ? f->pub.payload_len
                                                                        : MQ_FRAMER_HEAD;
                    f->need = f->pub.payload_off + head;
                    f->state = FR_HEAD_OK;
                    break;
                }
                if (rc != MQ_ERR_NEED_MORE)
                    return rc;
                f->need = (uint32_t)need;
            }
            if (*taken == n)
                return MQ_FR_MORE;
            if ((rc = fr_take(f, data, n, taken, f->need - f->len)))
                return rc;
            break;
        case FR_HEAD_OK:
            if (f->len >= f->need) {
                f->state = FR_BODY;
                return MQ_FR_HEAD;
            }
            if (*taken == n)
                return MQ_FR_MORE;
            if ((rc = fr_take(f, data, n, taken, f->need - f->len)))
                return rc;
            break;
        case FR_BODY: {
            if (f->got == f->total) {
                f->state = FR_DONE;
                return MQ_FR_END;
            }
            if (*taken == n)
                return MQ_FR_MORE;
            size_t k = n - *taken;
            if (k > f->total - f->got)
                k = (size_t)(f->total - f->got);
            *out = data ? data + *taken : NULL;
            *out_n = k;
            *taken += k;
            f->got += k;
            return MQ_FR_BODY;
        }
        default:
            assert(0);
            return MQ_ERR_PROTOCOL;
        }
    }
}

size_t mq_framer_held(const mq_framer *f)
{
    return f->state == FR_DONE ? 0 : f->len;
}

void mq_framer_reset(mq_framer *f)
{
    f->total = f->got = f->offset = 0;
    f->len = 0;
    f->state = FR_FIXED;
}

void mq_framer_free(mq_framer *f)
{
    free(f->buf);
    f->buf = NULL;
    f->cap = f->len = 0;
}
