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

/* Results. Decoding never reads past the length it is given. */
enum {
    MQ_OK = 0,
    MQ_ERR_NEED_MORE = -1,      /* buffer ends before the packet does (stream: wait) */
    MQ_ERR_NOSPACE = -2,        /* encode: output buffer too small */
    MQ_ERR_VARINT = -3,         /* Remaining Length / varint over 4 bytes */
    MQ_ERR_FLAGS = -4,          /* reserved fixed-header flag bits wrong */
    MQ_ERR_QOS = -5,            /* QoS 3 */
    MQ_ERR_ZERO_ID = -6,        /* packet identifier 0 where one is required */
    MQ_ERR_TRUNCATED = -7,      /* a field runs past the Remaining Length */
    MQ_ERR_WILDCARD = -8,       /* '+' or '#' in a PUBLISH topic */
    MQ_ERR_UTF8 = -9,           /* a string length or content invalid */
    MQ_ERR_TYPE = -10,          /* packet type 0, or unknown to the version */
    MQ_ERR_TRAILING = -11,      /* bytes left over inside the Remaining Length */
    MQ_ERR_PROPERTY = -12,      /* malformed or duplicated 5.0 property */
    MQ_ERR_PROTOCOL = -13,      /* other protocol violation (bad protocol name, ...) */
    MQ_ERR_INVALID = -14,       /* encode: the packet struct cannot be encoded */
};

/* A byte string inside a buffer (not NUL-terminated; on decode it points into
 * the caller's buffer). */
typedef struct {
    const char *s;
    uint16_t len;
} mq_str;

/* The 5.0 properties this simulator uses; a present flag per property.
 * Other valid properties are skipped on decode. */
typedef struct {
    bool has_receive_maximum, has_session_expiry, has_topic_alias;
    uint16_t receive_maximum;
    uint32_t session_expiry;
    uint16_t topic_alias;
} mq_props;

#define MQ_MAX_TOPICS 16 /* topic filters per SUBSCRIBE/UNSUBSCRIBE handled */

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
    const uint8_t *payload; /* encode: NULL means payload_len zero bytes */
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

/* Decodes one whole packet from buf[0..len) for protocol version `version`
 * (MQ_V311 or MQ_V5; CONNECT is decoded whatever version is passed, and sets
 * p->version). On success fills *p (its strings point into buf), sets *used to
 * the packet's total size and returns MQ_OK; otherwise returns a negative MQ_ERR_*
 * and leaves *used unset. Reads nothing at or past buf[len]. */
int mq_codec_decode(const uint8_t *buf, size_t len, uint8_t version, mq_packet *p,
                    size_t *used);

/* Encodes p for `version` into buf[0..cap). Returns MQ_OK and sets *used, or
 * MQ_ERR_NOSPACE / MQ_ERR_INVALID; never writes past buf[cap). */
int mq_codec_encode(const mq_packet *p, uint8_t version, uint8_t *buf, size_t cap,
                    size_t *used);

/* The encoded size of p, or 0 when it cannot be encoded. */
size_t mq_codec_size(const mq_packet *p, uint8_t version);

/* Variable Byte Integer (Remaining Length): encodes v (< 268435456) into out,
 * returns bytes written (1..4) or 0 if too large. Decode returns bytes read,
 * MQ_ERR_NEED_MORE or MQ_ERR_VARINT. */
int mq_varint_encode(uint32_t v, uint8_t out[4]);
int mq_varint_decode(const uint8_t *buf, size_t len, uint32_t *v);

/* "PUBLISH", "PUBACK", ... for a type; "?" for an unknown one. */
const char *mq_type_name(uint8_t type);

/* A short name for an MQ_ERR_* code. */
const char *mq_codec_strerror(int err);

#endif
