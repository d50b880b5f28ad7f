/* Application messages: construction from a publish or a decoded PUBLISH, payload access, release. */
#include "models/msg.h"

#include <stdlib.h>
#include <string.h>

#include "models/codec.h"
#include "models/topic.h"

/* The largest Remaining Length MQTT allows, and what a PUBLISH spends
 * besides topic and payload at most: topic length (2), identifier (2) and a
 * 5.0 Property Length of 0 (1). */
#define MAX_RL 268435455u
#define PUBLISH_OVERHEAD 5u

_Static_assert(sizeof(mq_msg) == 48, "a message is 48 bytes before its topic (msg.h)");

mq_msg *mq_msg_make(const char *topic, size_t topic_len, const uint8_t *head, size_t head_len,
                    uint32_t payload_len, bool retain, void *tag, const mq_tag_ops *ops)
{
    assert(topic_len <= UINT16_MAX && head_len <= MQ_MSG_HEAD && head_len <= payload_len);
    mq_msg *m = malloc(sizeof *m + topic_len + 1);
    if (!m)
        return NULL;
    m->refs = 1;
    m->topic_len = (uint16_t)topic_len;
    m->retain = retain;
    m->payload_len = payload_len;
    m->head_len = (uint8_t)(payload_len < MQ_MSG_HEAD ? payload_len : MQ_MSG_HEAD);
    m->has_body = false;
    memset(m->p.head, 0, sizeof m->p.head);
    if (head_len)
        memcpy(m->p.head, head, head_len);
    m->tag = tag;
    m->tag_ops = ops;
    if (tag && ops)
        ops->ref(tag);
    memcpy(m->topic, topic, topic_len);
    m->topic[topic_len] = '\0';
    return m;
}

uint8_t *mq_msg_set_body(mq_msg *m)
{
    assert(m->refs == 1 && !m->has_body);
    uint8_t *b = malloc(m->payload_len ? m->payload_len : 1);
    if (!b)
        return NULL;
    memcpy(b, m->p.head, m->head_len);
    memset(b + m->head_len, 0, m->payload_len - m->head_len);
    m->p.body = b;
    m->has_body = true;
    return b;
}

/* Checks the topic once, here, so that no send has to (the encoder trusts a
 * message's topic). Cost: O(topic_len + n). */
int mq_msg_new(const char *topic, size_t topic_len, const uint8_t *payload, size_t n,
               uint32_t payload_len, bool retain, void *tag, const mq_tag_ops *ops,
               mq_msg **out)
{
    if (!topic || !mq_topic_name_valid(topic, topic_len) || n > payload_len ||
        (n && !payload) || (uint64_t)payload_len + topic_len + PUBLISH_OVERHEAD > MAX_RL)
        return MQ_ERR_INVALID;
    size_t hn = n < MQ_MSG_HEAD ? n : MQ_MSG_HEAD;
    mq_msg *m = mq_msg_make(topic, topic_len, payload, hn, payload_len, retain, tag, ops);
    if (!m)
        return MQ_ERR_NOMEM;
    bool zeros = true;
    for (size_t i = hn; i < n && zeros; i++)
        zeros = payload[i] == 0;
    if (!zeros) {
        uint8_t *b = mq_msg_set_body(m);
        if (!b) {
            mq_msg_destroy(m);
            return MQ_ERR_NOMEM;
        }
        memcpy(b, payload, n);
    }
    *out = m;
    return 0;
}

void mq_msg_payload(const mq_msg *m, size_t off, uint8_t *out, size_t n)
{
    assert(off + n <= m->payload_len);
    if (m->has_body) {
        memcpy(out, m->p.body + off, n);
        return;
    }
    size_t i = 0;
    for (; i < n && off + i < m->head_len; i++)
        out[i] = m->p.head[off + i];
    memset(out + i, 0, n - i);
}

void mq_msg_destroy(mq_msg *m)
{
    if (m->tag && m->tag_ops)
        m->tag_ops->unref(m->tag);
    if (m->has_body)
        free(m->p.body);
    free(m);
}
