/* An application message, shared by reference among the sessions and frames that hold it. */
#ifndef MQ_MSG_H
#define MQ_MSG_H

#include <assert.h>
#include <stdint.h>

typedef struct mq_msg mq_msg;
typedef void (*mq_msg_free_fn)(mq_msg *m, void *ctx);

/* The protocol engine treats a message as opaque content with an identity: it
 * takes a reference (mq_msg_ref) for as long as it holds the message (queued,
 * in flight, or stored by a QoS 2 method-A receiver) and drops it with
 * mq_msg_unref. A frame in transit that carries a PUBLISH also holds one. When
 * the last reference goes, on_free runs: no copy of the message is left
 * anywhere, so no further delivery of it is possible. */
struct mq_msg {
    uint32_t refs;
    uint8_t qos;            /* QoS the publisher used */
    uint16_t topic_len;
    const char *topic;      /* owned by the creator; outlives the message */
    uint32_t payload_len;   /* bytes of application payload on the wire */
    uint64_t id;            /* simulation-wide message id */
    int64_t t_pub;          /* publish time, ns */
    mq_msg_free_fn on_free;
    void *free_ctx;
};

static inline void mq_msg_ref(mq_msg *m)
{
    m->refs++;
}

static inline void mq_msg_unref(mq_msg *m)
{
    assert(m->refs > 0);
    if (--m->refs == 0 && m->on_free)
        m->on_free(m, m->free_ctx);
}

#endif
