/* The sans-IO MQTT session engine: QoS 0/1/2 sender and receiver state machines. */
#ifndef MQ_SESSION_H
#define MQ_SESSION_H

/*
 * One mq_session is one end of one MQTT connection: a client's end or the
 * broker's end of a client's connection. It never reads a clock, a socket or
 * the scheduler: every call takes `now` (ns), and the engine answers through
 * the callbacks in mq_session_io (send these bytes, deliver this message, set
 * the session's timer, count this drop or protocol event). The host carries
 * them out. The same engine runs in the simulator and could run on a socket.
 *
 * Sender side (the client publishing, or the broker forwarding):
 *   QoS 0: PUBLISH once, keep nothing.
 *   QoS 1: QUEUED -> WAIT_PUBACK -> done
 *   QoS 2: QUEUED -> WAIT_PUBREC -> (PUBREL sent) WAIT_PUBCOMP -> done
 *   A message is QUEUED while max_inflight QoS>0 messages are in flight (or no
 *   packet identifier is free); max_queued wait behind them and a message that
 *   finds the queue full is dropped (MQ_DROP_QUEUE_FULL). Unacknowledged
 *   PUBLISH is resent with DUP=1, and unacknowledged PUBREL resent, every
 *   retry_interval; after max_retries resends (-1: never) the flow is given up
 *   (MQ_DROP_RETRIES_EXHAUSTED). The message reference is released at PUBREC
 *   (the sender keeps only the identifier while it waits for PUBCOMP), so a
 *   PUBLISH is never resent once PUBREL has been sent.
 *   Packet identifiers are 1..65535; none is used by two flows at once; an
 *   identifier is reused only after its flow completes or is given up.
 *
 * Receiver side:
 *   QoS 0: deliver.  QoS 1: deliver every PUBLISH, DUP or not, answer PUBACK.
 *   QoS 2: remember the identifier and answer PUBREC to every PUBLISH;
 *     method A stores the message and delivers it at the first PUBREL,
 *     method B delivers at the first PUBLISH and stores only the identifier.
 *     Every PUBREL is answered with PUBCOMP, known identifier or not; the
 *     identifier is forgotten at PUBREL.
 *
 * Acks for unknown identifiers (PUBACK, PUBREC, PUBCOMP) are ignored and
 * counted as protocol events; so is any packet that fails to decode or is
 * unexpected for the role. Nothing the far end sends can crash the engine.
 *
 * Connection setup: a client's mq_session_connect() sends CONNECT, resent
 * every retry_interval until CONNACK; mq_session_subscribe() sends SUBSCRIBE,
 * resent likewise until SUBACK. The broker's end answers every CONNECT with
 * CONNACK and every SUBSCRIBE with SUBACK (asking io->subscribe for each
 * filter), duplicates included.
 *
 * Re-entrancy: the deliver, drop, connected and subscribed callbacks may call
 * mq_session_publish, _subscribe or _connect on any session, this one
 * included (the broker forwards a client's message back to that client when
 * it subscribes to its own topic). send and timer must not call into this
 * session; no callback may close or free it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "models/codec.h"
#include "models/msg.h"

#define MQ_NEVER INT64_MAX

/* Session errors, beyond the codec's MQ_ERR_INVALID. */
enum {
    MQ_ERR_NOMEM = -32,     /* out of memory; nothing was sent or kept */
    MQ_ERR_NOID = -33,      /* all 65535 packet identifiers are in use */
};

typedef struct mq_session mq_session;

typedef enum { MQ_ROLE_CLIENT, MQ_ROLE_BROKER } mq_role;
typedef enum { MQ_QOS2_A, MQ_QOS2_B } mq_qos2_method;

/* The named states of a sender-side message (see above). */
typedef enum {
    MQ_MS_QUEUED,
    MQ_MS_WAIT_PUBACK,
    MQ_MS_WAIT_PUBREC,
    MQ_MS_WAIT_PUBCOMP,
} mq_msg_state;

typedef enum {
    MQ_DROP_QUEUE_FULL,
    MQ_DROP_RETRIES_EXHAUSTED,
    MQ_DROP_IN_FLIGHT_AT_END,
    MQ_DROP__COUNT
} mq_drop_reason;

/* Counted protocol events: nothing is wrong with the engine, the far end or
 * the network did something worth counting. */
typedef enum {
    MQ_EV_UNKNOWN_PUBACK,     /* PUBACK for an identifier not waiting for one */
    MQ_EV_UNKNOWN_PUBREC,
    MQ_EV_UNKNOWN_PUBCOMP,
    MQ_EV_UNKNOWN_PUBREL,     /* answered with PUBCOMP all the same */
    MQ_EV_DUP_PUBREC,         /* PUBREC while already waiting for PUBCOMP: PUBREL re-sent */
    MQ_EV_QOS2_DUP_SUPPRESSED,/* QoS 2 PUBLISH for an identifier already held */
    MQ_EV_MALFORMED,          /* bytes that failed to decode */
    MQ_EV_UNEXPECTED,         /* a packet type this role does not take */
    MQ_EV_DUP_CONNACK,        /* CONNACK when none is awaited (a resent CONNECT's answer) */
    MQ_EV_DUP_SUBACK,         /* SUBACK for no waiting SUBSCRIBE (a resent one's answer) */
    MQ_EV__COUNT
} mq_event;

typedef struct {
    mq_role role;
    uint8_t version;         /* MQ_V311 or MQ_V5 */
    const char *client_id;   /* client role: CONNECT client identifier */
    uint32_t max_inflight;   /* 0 = unlimited */
    uint32_t max_queued;     /* 0 = unlimited */
    int64_t retry_interval;  /* ns, > 0 */
    int32_t max_retries;     /* -1 = unlimited */
    mq_qos2_method qos2_method;
} mq_session_config;

typedef struct {
    void *ctx;
    /* Required. Put these bytes on the wire now. buf is valid only during the
     * call; p is the decoded view of the same packet; m is the message a
     * PUBLISH carries (NULL otherwise) and the host takes its own reference if
     * it keeps it; resend is true for a retransmission by the retry timer. */
    void (*send)(void *ctx, const uint8_t *buf, size_t len, const mq_packet *p,
                 mq_msg *m, bool resend);
    /* Required. Pass a message to the application (or, at the broker, on).
     * now is the time of the call into the engine that caused it. */
    void (*deliver)(void *ctx, int64_t now, mq_msg *m, uint8_t qos, bool dup);
    /* Required. Call mq_session_on_timer at `at` (ns); MQ_NEVER: no timer.
     * Called whenever the session's earliest deadline changes. */
    void (*timer)(void *ctx, int64_t at);
    /* Optional. A flow dropped; m is NULL when the sender no longer held the
     * message (a PUBREL given up). */
    void (*drop)(void *ctx, mq_msg *m, uint8_t qos, mq_drop_reason why);
    /* Optional. p is NULL for MQ_EV_MALFORMED. */
    void (*event)(void *ctx, mq_event ev, const mq_packet *p);
    /* Client role, optional: CONNACK received (the first time). */
    void (*connected)(void *ctx);
    /* Client role, optional: SUBACK received (the first time), with its codes. */
    void (*subscribed)(void *ctx, const uint8_t *codes, size_t n);
    /* Broker role, required there: a SUBSCRIBE asks for filter at QoS qos;
     * return the granted QoS, or 0x80 to refuse. Called again, with the same
     * arguments, for a resent SUBSCRIBE. */
    uint8_t (*subscribe)(void *ctx, const char *filter, size_t len, uint8_t qos);
} mq_session_io;

typedef struct {
    const char *filter;
    uint16_t len;
    uint8_t qos;
} mq_sub;

/* Returns NULL when out of memory. cfg and io are copied. */
mq_session *mq_session_new(const mq_session_config *cfg, const mq_session_io *io);

/* Frees the session, releasing (without reporting) every message it holds. */
void mq_session_free(mq_session *s);

/* Client: send CONNECT (resent until CONNACK; the cfg.client_id string must
 * outlive the exchange). Returns 0 (also when already waiting for CONNACK),
 * MQ_ERR_INVALID or MQ_ERR_NOMEM. */
int mq_session_connect(mq_session *s, int64_t now);

/* Client: send one SUBSCRIBE carrying subs[0..n) (n <= MQ_MAX_TOPICS; resent
 * until SUBACK). The filter strings must outlive the exchange. Returns 0,
 * MQ_ERR_INVALID (bad n, QoS or filter), MQ_ERR_NOID or MQ_ERR_NOMEM. */
int mq_session_subscribe(mq_session *s, int64_t now, const mq_sub *subs, size_t n);

/* Publish m at QoS qos (0..2) on this session. Takes a reference while it
 * holds m. Returns 0 when m was sent or queued, 1 when it was dropped because
 * the queue is full (io->drop was told), MQ_ERR_INVALID when m cannot be
 * encoded (bad topic), MQ_ERR_NOMEM on out of memory. */
int mq_session_publish(mq_session *s, int64_t now, mq_msg *m, uint8_t qos);

/* One packet arrived: buf[0..len) is exactly one encoded packet. m is the
 * message a PUBLISH carries (NULL otherwise); the engine takes its own
 * reference if it keeps it. */
void mq_session_on_packet(mq_session *s, int64_t now, const uint8_t *buf, size_t len,
                          mq_msg *m);

/* The timer set through io->timer fired (calling it early or late is safe:
 * only what is due at `now` is done). The call consumes the host's timer: the
 * engine answers with io->timer(next deadline) unless nothing is left. */
void mq_session_on_timer(mq_session *s, int64_t now);

/* End of run: every message the sender side still holds (in flight or queued)
 * is reported through io->drop with MQ_DROP_IN_FLIGHT_AT_END and released;
 * receiver-side state is released without a report. The timer is cleared. */
void mq_session_close(mq_session *s, int64_t now);

/* Sender-side QoS>0 flows in flight, and messages queued behind them. */
size_t mq_session_inflight(const mq_session *s);
size_t mq_session_queued(const mq_session *s);

/* True when the session has no sender flow in flight or queued and no
 * CONNECT/SUBSCRIBE waiting for its answer. */
bool mq_session_idle(const mq_session *s);

/* The state of the in-flight flow using packet identifier id; returns false
 * when none uses it. For tests and traces. */
bool mq_session_flow_state(const mq_session *s, uint16_t id, mq_msg_state *state);

/* Receiver side: true while a QoS 2 identifier is held (PUBLISH seen, PUBREL
 * not yet), and how many are held. For tests and traces. Cost: O(1). */
bool mq_session_holds(const mq_session *s, uint16_t id);
size_t mq_session_held(const mq_session *s);

/* Sender side: true while identifier id is taken, by a flow or by a
 * SUBSCRIBE waiting for its SUBACK. Cost: O(1). */
bool mq_session_id_in_use(const mq_session *s, uint16_t id);

const char *mq_drop_reason_name(mq_drop_reason r);
const char *mq_event_name(mq_event ev);

#endif
