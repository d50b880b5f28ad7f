/* MQTT 3.1.1 / 5.0 wire codec: pure, bounded encode and decode of control packets. */
#ifndef MQ_CODEC_H
#define MQ_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MQ_V311 4 /* protocol level byte of MQTT 3.1.1 */
#define MQ_V5   5 /* protocol level byte of MQTT 5.0 */

typedef enum {
    MQ_CONNECT = 1, MQ_CONNACK, MQ_PUBLISH, MQ_PUBACK, MQ_PUBREC, MQ_PUBREL,
    MQ_PUBCOMP, MQ_SUBSCRIBE, MQ_SUBACK, MQ_UNSUBSCRIBE, MQ_UNSUBACK,
    MQ_PINGREQ, MQ_PINGRESP, MQ_DISCONNECT, MQ_AUTH,
} mq_type;

/* Results. Decoding never reads past the length it is given.
 *
 * MQ_ERR_NEED_MORE is the only answer that is not final: on a byte stream the
 * caller waits for more bytes and decodes again. A transport that hands over
 * whole frames (as the simulator's links do) must treat it as malformed: the
 * frame announced more than it holds. Every other MQ_ERR_* is a malformed
 * packet or protocol error, on which MQTT closes the connection.
 *
 * A length that runs past its enclosing length (a string's, a Property
 * Length's, a field's) is MQ_ERR_TRUNCATED; a string whose bytes are there but
 * are not well-formed UTF-8, or contain U+0000, is MQ_ERR_UTF8. */
enum {
    MQ_OK = 0,
    MQ_ERR_NEED_MORE = -1,      /* buffer ends before the packet does (stream: wait) */
    MQ_ERR_NOSPACE = -2,        /* encode: output buffer too small (nothing written) */
    MQ_ERR_VARINT = -3,         /* varint over 4 bytes, or not in its shortest form */
    MQ_ERR_FLAGS = -4,          /* reserved flag bits wrong: fixed header (DUP on QoS 0
                                   too), CONNECT flags, CONNACK flags, subscription
                                   options */
    MQ_ERR_QOS = -5,            /* QoS 3 (PUBLISH, will, subscription) */
    MQ_ERR_ZERO_ID = -6,        /* packet identifier 0 where one is required */
    MQ_ERR_TRUNCATED = -7,      /* a field runs past the Remaining Length (or past its
                                   5.0 Property Length) */
    MQ_ERR_WILDCARD = -8,       /* '+' or '#' in a topic name (PUBLISH, will), or one
                                   that is not a whole level in a filter */
    MQ_ERR_UTF8 = -9,           /* string content not well-formed UTF-8, or U+0000 */
    MQ_ERR_TYPE = -10,          /* packet type 0, or unknown to the version (AUTH in 3.1.1) */
    MQ_ERR_TRAILING = -11,      /* bytes left over inside the Remaining Length */
    MQ_ERR_PROPERTY = -12,      /* 5.0 property unknown, in the wrong packet, repeated,
                                   or with a forbidden value */
    MQ_ERR_PROTOCOL = -13,      /* other violation: protocol name or level, empty topic
                                   or filter list, reason code not defined for the
                                   packet, ... */
    MQ_ERR_INVALID = -14,       /* encode: the packet struct cannot be encoded */
    MQ_ERR_TOO_MANY = -15,      /* well-formed, but more than MQ_MAX_TOPICS filters or
                                   codes: a limit of this codec, not of MQTT */
    MQ_ERR_TOO_BIG = -16,       /* stream: a packet larger than the maximum packet size */
    MQ_ERR_LEVEL = -17,         /* CONNECT of a protocol this codec does not speak (name
                                   "MQTT" with a level other than 4 or 5, or MQTT 3.1's
                                   "MQIsdp"): the server answers CONNACK 0x01 and closes
                                   (3.1.1 MQTT-3.1.2-2, 5.0 0x84) */
    MQ_ERR_NOMEM = -32,         /* out of memory (the framer, and the engine's modules);
                                   nothing was sent or kept */
};

/* A byte string inside a buffer (not NUL-terminated; on decode it points into
 * the caller's buffer). */
typedef struct {
    const char *s;
    uint16_t len;
} mq_str;

/* The 5.0 properties this simulator uses; a present flag per property.
 * Other valid properties are checked (type, placement, value) and skipped on
 * decode. Encoding writes those present, in identifier order, and refuses
 * (MQ_ERR_INVALID) one the packet type may not carry or a zero Receive
 * Maximum or Topic Alias. 3.1.1 has no properties: they are ignored. */
typedef struct {
    bool has_receive_maximum, has_session_expiry, has_topic_alias;
    uint16_t receive_maximum;
    uint32_t session_expiry;
    uint16_t topic_alias;
} mq_props;

/* Topic filters per SUBSCRIBE/UNSUBSCRIBE, and codes per SUBACK/UNSUBACK, this
 * codec holds. A decoded packet with more is MQ_ERR_TOO_MANY (rather than
 * silently cut, which would acknowledge the wrong number of filters). */
#define MQ_MAX_TOPICS 16

typedef struct {
    mq_str filter;
    uint8_t options; /* SUBSCRIBE: requested QoS in bits 0-1 (5.0: more option bits) */
} mq_topic_req;

typedef struct {
    uint8_t type;          /* mq_type */
    /* PUBLISH fixed-header flags */
    bool dup, retain;
    uint8_t qos;
    uint16_t id;           /* packet identifier where the type has one */
    /* PUBLISH */
    mq_str topic;
    const uint8_t *payload; /* encode: NULL stands for payload_len zero bytes */
    uint32_t payload_len;
    /* CONNECT */
    uint8_t version;       /* MQ_V311 or MQ_V5 (CONNECT protocol level) */
    bool clean_start;
    uint16_t keepalive;
    mq_str client_id;
    /* CONNACK */
    bool session_present;
    /* CONNACK return code, 5.0 reason code of acks and DISCONNECT */
    uint8_t reason;
    /* SUBSCRIBE, UNSUBSCRIBE: requests; SUBACK, UNSUBACK (5.0): codes */
    uint8_t n_topics;
    mq_topic_req topics[MQ_MAX_TOPICS];
    uint8_t n_codes;
    uint8_t codes[MQ_MAX_TOPICS];
    mq_props props;        /* 5.0 only */
} mq_packet;

/* The decoded header of a packet: what the engine tells its host about a
 * packet it sends or got (type, PUBLISH flags, identifier, reason code,
 * CONNACK's session present). Small on purpose: no strings. */
typedef struct {
    uint8_t type, qos;
    bool dup, retain, session_present;
    uint8_t reason;
    uint16_t id;
} mq_view;

/* Decodes one whole packet from buf[0..len) for protocol version `version`
 * (MQ_V311 or MQ_V5; CONNECT is decoded whatever version is passed, and sets
 * p->version to its protocol level; any other packet with a version that is
 * neither is MQ_ERR_PROTOCOL, and sets p->version to `version`). On success
 * fills *p (its strings and payload point into buf; fields the packet does
 * not carry are zero, an omitted 5.0 reason code reads as 0; topics[] and
 * codes[] past n_topics and n_codes are left as they were, so a decode need
 * not clear the whole struct), sets *used to
 * the packet's total size, which may be less than len, and returns MQ_OK;
 * otherwise returns a negative MQ_ERR_*, leaves *used unset and *p partly
 * filled. Reads nothing at or past buf[len].
 *
 * Checks: every rule listed with the error codes above, on every field,
 * including the will, user name and password of CONNECT, which are then
 * skipped (mq_packet has no place for them). The first problem found is
 * reported. Cost: O(packet size), no allocation. */
int mq_codec_decode(const uint8_t *buf, size_t len, uint8_t version, mq_packet *p,
                    size_t *used);

/* Encodes p for `version` into buf[0..cap). Returns MQ_OK and sets *used, or
 * MQ_ERR_NOSPACE (nothing written) / MQ_ERR_INVALID; never writes past
 * buf[cap). The encoder accepts exactly what the decoder accepts, so whatever
 * it writes decodes back to p. Fields the type or version does not carry
 * are ignored (a 3.1.1 PUBACK's reason, a QoS 0 PUBLISH's id, 3.1.1 UNSUBACK
 * codes). CONNECT: p->version must be 0 or `version`; it is sent without
 * will, user name or password. 5.0 acks, DISCONNECT and AUTH are written in
 * their shortest form (no reason code when it is 0 and there are no
 * properties). Cost: two passes over the fields (size, then write), one copy
 * of the payload. */
int mq_codec_encode(const mq_packet *p, uint8_t version, uint8_t *buf, size_t cap,
                    size_t *used);

/* The encoded size of p, or 0 when it cannot be encoded. Reads no payload. */
size_t mq_codec_size(const mq_packet *p, uint8_t version);

/* ---- the engine's fast paths and stream framing ------------------------- */

/* A PUBLISH's header as decoded before its payload is in. */
typedef struct {
    bool dup, retain;
    uint8_t qos;
    uint16_t id;
    mq_str topic;           /* points into the caller's buffer */
    mq_props props;         /* 5.0 */
    uint32_t payload_off;   /* offset of the payload from the packet's first byte */
    uint32_t payload_len;
    uint64_t total;         /* the whole packet's size */
} mq_pubhead;

/* Decodes the header of a PUBLISH from buf[0..len), which holds the packet's
 * first len bytes and may end anywhere after them (inside the payload, or
 * past the packet: bytes after `total` are not looked at). Checks everything
 * mq_codec_decode checks of a PUBLISH except the payload (which it has no
 * rules for). Returns MQ_OK with *h filled; MQ_ERR_NEED_MORE with *need set
 * to the length of prefix that is needed to go on (> len, <= total once the
 * Remaining Length is known); or the MQ_ERR_* of the first rule broken
 * (MQ_ERR_TYPE when buf is not a PUBLISH). Cost: O(header), no allocation. */
int mq_codec_publish_head(const uint8_t *buf, size_t len, uint8_t version, mq_pubhead *h,
                          size_t *need);

/* Writes a PUBLISH's fixed header, topic, identifier (QoS > 0) and, for 5.0,
 * an empty Property Length into buf[0..cap): everything but the payload_len
 * payload bytes, which the caller puts after it. The topic is trusted (a
 * message's topic is checked once, when the message is built); the flags
 * and id are asserted. Returns MQ_OK and sets *used; MQ_ERR_NOSPACE (nothing
 * written); MQ_ERR_INVALID when the packet would exceed MQTT's largest
 * Remaining Length. Writes the same bytes as mq_codec_encode of that PUBLISH.
 * Cost: O(topic_len), one pass. */
int mq_codec_publish_encode_head(uint8_t *buf, size_t cap, uint8_t version, uint8_t qos,
                                 bool dup, bool retain, uint16_t id, const char *topic,
                                 uint16_t topic_len, uint32_t payload_len, size_t *used);

/* The largest encoding of a PUBLISH header that is not its topic. */
#define MQ_PUBLISH_HEAD_MAX (1 + 4 + 2 + 2 + 1)

/* Writes PUBACK, PUBREC, PUBREL or PUBCOMP for id in its shortest form (5.0:
 * the reason code only when it is not 0) into out; returns the size (4 or
 * 5). The reason must be valid for the type (asserted). Cost: O(1). */
size_t mq_codec_ack_encode(uint8_t out[5], uint8_t type, uint16_t id, uint8_t reason,
                           uint8_t version);

/* Incremental framing of one direction of an MQTT byte stream. Embed one,
 * zeroed, per connection and give it max_packet (0: MQTT's limit). It holds
 * a whole packet until it is complete, except a PUBLISH: its header and the
 * first min(payload_len, MQ_FRAMER_HEAD) payload bytes are held, and the
 * rest of the payload is passed through as it comes (zero runs as counts),
 * so a large payload is never buffered here. */
#define MQ_FRAMER_HEAD 16

typedef struct {
    uint8_t *buf;           /* bytes held for the current packet (or NULL) */
    uint32_t len, cap;
    uint32_t max_packet;
    uint64_t total, got;    /* current packet: size (0 = not known yet), bytes taken */
    uint64_t offset;        /* stream offset of the current packet's first byte */
    uint32_t need;          /* PUBLISH head: prefix length asked for */
    uint8_t state, version;
    mq_pubhead pub;         /* valid from MQ_FR_HEAD to MQ_FR_END */
} mq_framer;

typedef enum {
    MQ_FR_MORE,             /* all input taken; nothing to report */
    MQ_FR_PACKET,           /* buf[0..len) is one whole packet, not a PUBLISH */
    MQ_FR_HEAD,             /* a PUBLISH head: pub, and buf[0..len) = its first bytes */
    MQ_FR_BODY,             /* payload bytes after the head: out (NULL = zeros), n */
    MQ_FR_END,              /* the PUBLISH whose head was reported is complete */
} mq_fr_event;

/* Takes input (data[0..n), or n zero bytes when data is NULL) up to the next
 * event and reports it; *taken says how much input it used (MQ_FR_BODY's
 * slice is data + taken - *out_n .. with *out_n bytes: the slice itself,
 * not a copy). Call again, with the rest of the input (possibly none), until
 * it answers MQ_FR_MORE. A negative answer is an MQ_ERR_* (a malformed
 * packet, MQ_ERR_TOO_BIG, MQ_ERR_NOMEM): the stream cannot go on. `version`
 * is the one packets are checked against (a PUBLISH head). Cost: O(taken);
 * allocates only to hold a packet (or head) larger than what it holds. */
int mq_framer_feed(mq_framer *f, uint8_t version, const uint8_t *data, size_t n,
                   size_t *taken, const uint8_t **out, size_t *out_n);

/* Bytes held for the packet in progress. */
size_t mq_framer_held(const mq_framer *f);

/* Forgets the packet in progress (a new connection starts a new stream);
 * keeps the buffer. free releases it. */
void mq_framer_reset(mq_framer *f);
void mq_framer_free(mq_framer *f);

/* Variable Byte Integer (Remaining Length): encodes v (< 268435456) into out,
 * returns bytes written (1..4) or 0 if too large. Decode returns bytes read,
 * MQ_ERR_NEED_MORE or MQ_ERR_VARINT (a fourth byte with its continuation bit
 * set, or a longer form than needed, which 5.0 §1.5.5 forbids). */
int mq_varint_encode(uint32_t v, uint8_t out[4]);
int mq_varint_decode(const uint8_t *buf, size_t len, uint32_t *v);

/* "PUBLISH", "PUBACK", ... for a type; "?" for an unknown one. */
const char *mq_type_name(uint8_t type);

/* A short name for an MQ_ERR_* code. */
const char *mq_codec_strerror(int err);

#endif
