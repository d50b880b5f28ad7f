/* An MQTT application message, built from decoded bytes or by the host, shared by reference. */
#ifndef MQ_MSG_H
#define MQ_MSG_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "models/codec.h"

/*
 * A message is what a PUBLISH carries: a topic, the retain flag and a
 * payload. The engine builds one from every decoded PUBLISH it must keep or
 * pass on, and the host builds one for an application publish
 * (mq_msg_new). Messages are immutable once built and shared by reference:
 * the engine takes a reference for as long as it holds one (queued, in
 * flight, stored by a QoS 2 method-A receiver, handed to deliver), and the
 * last mq_msg_unref frees it.
 *
 * Payload: the first MQ_MSG_HEAD bytes are always stored (head); when any
 * byte after them is not zero the whole payload is stored (body), so a real
 * peer's payload is passed on intact; a payload that is head + zeros keeps
 * only the head and the length, so a 1 MB zero payload costs 16 bytes.
 *
 * Measurement tag (like an ns-3 packet tag): an opaque host pointer the
 * engine never reads. The engine copies it from an incoming PUBLISH (the
 * host's io->tag callback) to the message it builds, and every copy the
 * broker forwards is that same message, so the tag travels with it. The
 * message holds one tag reference (tag_ops->ref at build, ->unref at free).
 * A message without a tag (NULL) works the same.
 */

#define MQ_MSG_HEAD 16

typedef struct {
    void (*ref)(void *tag);
    void (*unref)(void *tag);
} mq_tag_ops;

/* 48 bytes before the topic: a message of a short topic (up to 7 bytes) is
 * a 64-byte malloc chunk, and the broker holds one per message it has not
 * yet delivered. The body pointer shares the head's bytes: a stored body
 * holds the head too. Read the head through mq_msg_head. */
typedef struct mq_msg {
    uint32_t refs;
    uint32_t payload_len;      /* bytes of payload on the wire */
    uint16_t topic_len;
    uint8_t head_len;          /* min(payload_len, MQ_MSG_HEAD) */
    bool retain;
    bool has_body;             /* the whole payload is stored (body), not only the head */
    union {
        uint8_t head[MQ_MSG_HEAD]; /* !has_body: the payload's first head_len bytes */
        uint8_t *body;             /* has_body: the whole payload */
    } p;
    void *tag;                 /* host measurement tag, or NULL */
    const mq_tag_ops *tag_ops; /* how to ref and unref tag (NULL: tags are not counted) */
    char topic[];              /* topic_len bytes and a NUL */
} mq_msg;

/* The payload's first head_len bytes. */
static inline const uint8_t *mq_msg_head(const mq_msg *m)
{
    return m->has_body ? m->p.body : m->p.head;
}

/* The whole payload (payload_len bytes), or NULL when it is head + zeros. */
static inline const uint8_t *mq_msg_body(const mq_msg *m)
{
    return m->has_body ? m->p.body : NULL;
}

/* Builds a message for an application publish. topic[0..topic_len) must be
 * a valid topic name (1..65535 bytes of UTF-8, no wildcard): it is checked
 * here, once, and copied. The payload is payload_len bytes: payload[0..n)
 * (n <= payload_len, payload may be NULL when n is 0) followed by zeros.
 * tag (may be NULL) gets one reference through ops. On success *out holds
 * the message with one reference, the caller's. Returns 0, MQ_ERR_INVALID
 * (bad topic, n > payload_len, or a payload that cannot fit in one MQTT
 * packet) or MQ_ERR_NOMEM. Cost: O(topic_len + n), one allocation (two
 * when the payload is not head + zeros). */
int mq_msg_new(const char *topic, size_t topic_len, const uint8_t *payload, size_t n,
               uint32_t payload_len, bool retain, void *tag, const mq_tag_ops *ops,
               mq_msg **out);

/* The engine's constructor for a decoded PUBLISH: no validation (the codec
 * did it). head[0..head_len) are the payload's first bytes; the rest of the
 * payload is taken as zeros until mq_msg_set_body. Returns NULL when out of
 * memory. Cost: O(topic_len), one allocation. */
mq_msg *mq_msg_make(const char *topic, size_t topic_len, const uint8_t *head, size_t head_len,
                    uint32_t payload_len, bool retain, void *tag, const mq_tag_ops *ops);

/* Gives m a whole-payload buffer: copies the head, zeros the rest, and
 * returns the buffer for the caller to fill from offset `from` (the bytes
 * before it that came after the head were zeros). For building a message
 * whose payload turned out not to be head + zeros. Returns NULL when out of
 * memory (m is unchanged). Only while the builder holds the sole reference. */
uint8_t *mq_msg_set_body(mq_msg *m);

/* Copies payload bytes [off, off + n) into out (n bytes; zeros past a
 * head-only payload's head). off + n must not exceed payload_len. */
void mq_msg_payload(const mq_msg *m, size_t off, uint8_t *out, size_t n);

/* Frees m (tag unref, body, record). Called by mq_msg_unref. */
void mq_msg_destroy(mq_msg *m);

static inline void mq_msg_ref(mq_msg *m)
{
    m->refs++;
}

static inline void mq_msg_unref(mq_msg *m)
{
    assert(m->refs > 0);
    if (--m->refs == 0)
        mq_msg_destroy(m);
}

#endif
