/* The sans-IO MQTT session engine: connections, sessions, and the QoS 0/1/2 state machines. */
#ifndef MQ_SESSION_H
#define MQ_SESSION_H

/*
 * One mq_session is one end of MQTT: a client (its session and its current
 * connection), or, inside the broker, one connection context (see broker.h:
 * the broker creates these, and moves a kept session's state from context to
 * context across connections, as Mosquitto does). It never reads a clock, a
 * socket or a scheduler: every call takes `now` (ns), and the engine answers
 * through the callbacks in mq_session_io (send these bytes, deliver this
 * message, open or close the transport, set the timer, count this drop or
 * protocol event). The host carries them out: the simulator (net.c) and a
 * real-socket host drive the very same engine.
 *
 * Transports (cfg.transport):
 *   datagram: each packet is one frame (mq_session_on_frame), there is no
 *     connection: no keepalive, no resumption; CONNECT and SUBSCRIBE are
 *     resent every retry_interval until answered (the wave-1 world).
 *   stream: a byte stream in any segmentation (mq_session_on_bytes, runs of
 *     zero bytes as counts with mq_session_on_zeros), framed with the codec's
 *     need-more path. The client asks the host to open a transport (io->open)
 *     and is told when it is up (mq_session_on_up) or down
 *     (mq_session_on_down); CONNECT is sent once per connection. Malformed
 *     bytes, a packet above max_packet_size, an unexpected packet or a second
 *     CONNECT close the connection (io->close, MQ_CLOSE_PROTOCOL_ERROR).
 *
 * Sender side (the client publishing, or the broker forwarding):
 *   QoS 0: PUBLISH once, keep nothing; with no connection: dropped
 *     (MQ_DROP_DISCONNECTED; a broker with queue_qos0 queues it instead).
 *   QoS 1: QUEUED -> WAIT_PUBACK -> done
 *   QoS 2: QUEUED -> WAIT_PUBREC -> (PUBREL sent) WAIT_PUBCOMP -> done
 *   A message is QUEUED while the window (max_inflight, capped by the peer's
 *   5.0 Receive Maximum) is full, no identifier is free, or there is no
 *   connection; max_queued wait and one more is dropped (MQ_DROP_QUEUE_FULL).
 *   The message reference is released at PUBREC, so a PUBLISH is never sent
 *   again once PUBREL has been. A 5.0 PUBACK/PUBREC with a reason code >= 0x80
 *   ends the flow (MQ_DROP_REFUSED).
 *   Retransmission (cfg.retransmit): "reconnect" resends unacknowledged
 *   PUBLISH (DUP=1, same identifier) and PUBREL only when a session is
 *   resumed, in their original order, then sends queued messages as the
 *   window allows; a flow is never given up inside a connection. "timer"
 *   also resends them every retry_interval while connected, and gives a flow
 *   up after max_retries resends (-1: never; MQ_DROP_RETRIES_EXHAUSTED).
 *   Packet identifiers are 1..65535; none is in two flows (or a flow and a
 *   SUBSCRIBE) at once on one session, ever; they rotate, and one is reused
 *   only after its flow ended.
 *
 * Receiver side:
 *   QoS 0: deliver.  QoS 1: deliver every PUBLISH, DUP or not, answer PUBACK.
 *   QoS 2: hold the identifier and answer PUBREC to every PUBLISH; method A
 *     stores the message and delivers it at the first PUBREL, method B
 *     delivers at the first PUBLISH. Every PUBREL is answered with PUBCOMP,
 *     known identifier or not; the identifier is released at PUBREL.
 *   Every message is built from the decoded bytes (topic, QoS, DUP, retain,
 *   identifier, payload); the host's optional measurement tag rides along.
 *
 * Connections and sessions (stream):
 *   Client: mq_session_connect opens a transport now; on up, CONNECT
 *   (clean_start, keepalive, 5.0 Session Expiry and Receive Maximum). After
 *   CONNACK: a session present 0 while the client holds in-flight flows ends
 *   them (MQ_DROP_SESSION_LOST; queued messages, never sent, stay); the
 *   subscription list is (re)sent when the session is new or a SUBSCRIBE
 *   went unanswered; unacknowledged flows are resent; the queue drains. A
 *   session that ends with its connection (3.1.1 clean_start, 5.0 expiry 0)
 *   loses its in-flight flows at the close. No CONNACK within connect_timeout
 *   of opening closes (MQ_CLOSE_CONNECT_TIMEOUT). After any close the client
 *   reopens after a backoff: reconnect_initial doubling to reconnect_max,
 *   scaled by 1 + jitter x (2u - 1) with u from io->random (no callback: no
 *   jitter); the ladder restarts at a CONNACK. mq_session_disconnect sends
 *   DISCONNECT and stops reconnecting.
 *   Keepalive (client, keepalive_s > 0): PINGREQ when nothing was sent, or
 *   nothing received, for keepalive_s (libmosquitto); if no PINGRESP came by
 *   the next such deadline the connection is closed (MQ_CLOSE_KEEPALIVE). The
 *   broker's side closes a connection that sent nothing for 1.5 x the
 *   keepalive of its CONNECT (Mosquitto).
 *
 * Re-entrancy: deliver, drop, connected and subscribed may call
 * mq_session_publish, _subscribe or _connect on any session, this one
 * included. send, timer, open and close must not call into this session; no
 * callback may free it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "models/codec.h"
#include "models/msg.h"

#define MQ_NEVER INT64_MAX

/* Session errors, beyond the codec's MQ_ERR_INVALID and msg.h's MQ_ERR_NOMEM. */
enum {
    MQ_ERR_NOID = -33,      /* all 65535 packet identifiers are in use */
};

typedef struct mq_session mq_session;

typedef enum { MQ_ROLE_CLIENT, MQ_ROLE_BROKER } mq_role;
typedef enum { MQ_QOS2_A, MQ_QOS2_B } mq_qos2_method;
typedef enum { MQ_TRANSPORT_DATAGRAM, MQ_TRANSPORT_STREAM } mq_transport;
/* AUTO follows the transport: TIMER on datagrams, RECONNECT on streams. */
typedef enum { MQ_RETRANSMIT_AUTO, MQ_RETRANSMIT_TIMER, MQ_RETRANSMIT_RECONNECT } mq_retransmit;

/* The named states of a sender-side message (see above). */
typedef enum {
    MQ_MS_QUEUED,
    MQ_MS_WAIT_PUBACK,
    MQ_MS_WAIT_PUBREC,
    MQ_MS_WAIT_PUBCOMP,
} mq_msg_state;

/* Why a message (or a flow) was dropped. The order is that of result files. */
typedef enum {
    MQ_DROP_QUEUE_FULL,
    MQ_DROP_RETRIES_EXHAUSTED,
    MQ_DROP_IN_FLIGHT_AT_END,
    MQ_DROP_DISCONNECTED,     /* QoS 0 with no connection to send it on */
    MQ_DROP_SESSION_LOST,     /* the session holding it ended */
    MQ_DROP_REFUSED,          /* 5.0 PUBACK/PUBREC reason code >= 0x80 */
    MQ_DROP_BROKER_RESTART,   /* the broker restarted without keeping it */
    MQ_DROP_CLIENT_CRASH,     /* the client crashed without keeping it */
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
    MQ_EV_MALFORMED,          /* bytes that failed to decode, or a packet too large */
    MQ_EV_UNEXPECTED,         /* a packet this role or state does not take */
    MQ_EV_DUP_CONNACK,        /* CONNACK when none is awaited (a resent CONNECT's answer) */
    MQ_EV_DUP_SUBACK,         /* SUBACK for no waiting SUBSCRIBE (a resent one's answer) */
    MQ_EV_NOMEM,              /* out of memory: a packet was not sent, or one received not
                                 kept (as if lost); a host that must not undercount fails */
    MQ_EV__COUNT
} mq_event;

/* Why the engine closes a connection (io->close). */
typedef enum {
    MQ_CLOSE_PROTOCOL_ERROR,  /* malformed or too large, unexpected packet, second CONNECT */
    MQ_CLOSE_KEEPALIVE,       /* client: PINGREQ unanswered; broker: silent 1.5 x keepalive */
    MQ_CLOSE_CONNECT_TIMEOUT, /* client: no CONNACK within connect_timeout of opening */
    MQ_CLOSE_CLIENT_DISCONNECT, /* DISCONNECT sent (client) or received (broker) */
    MQ_CLOSE_TAKEOVER,        /* broker: a new connection took over this client id */
    MQ_CLOSE_REFUSED,         /* CONNACK with a refusal (sent by the broker, got by the client) */
    MQ_CLOSE_BROKER_RESTART,  /* broker: every connection vanishes */
    MQ_CLOSE_SERVER_DISCONNECT, /* client: the broker sent DISCONNECT (5.0) */
    MQ_CLOSE__COUNT
} mq_close_cause;

/* Why the host says a transport went down (mq_session_on_down). */
typedef enum {
    MQ_DOWN_FIN,              /* the peer closed */
    MQ_DOWN_RST,              /* reset */
    MQ_DOWN_ABORT,            /* the transport gave up (TCP retries2, user timeout) */
    MQ_DOWN_REFUSED,          /* client: the open was refused */
    MQ_DOWN_TIMEOUT,          /* client: the open timed out */
    MQ_DOWN__COUNT
} mq_down_cause;

/* Connection state: a client is DOWN, OPENING (io->open asked), CONNECTING
 * (CONNECT sent) or UP (CONNACK got); a broker context is CONNECTING
 * (awaiting CONNECT), UP or DOWN. A datagram client is UP from its first
 * CONNECT on (its sends need no connection); a datagram context from CONNECT. */
typedef enum { MQ_CONN_DOWN, MQ_CONN_OPENING, MQ_CONN_CONNECTING, MQ_CONN_UP } mq_conn_state;

typedef struct {
    mq_role role;
    uint8_t version;         /* MQ_V311 or MQ_V5 (a broker context adopts its CONNECT's) */
    const char *client_id;   /* client: CONNECT client identifier (copied; NULL = "") */
    uint32_t max_inflight;   /* 0 = unlimited; 5.0: also the Receive Maximum sent */
    uint32_t max_queued;     /* 0 = unlimited */
    int64_t retry_interval;  /* ns; > 0 whenever something is resent on a timer */
    int32_t max_retries;     /* -1 = unlimited (timer retransmission only) */
    mq_qos2_method qos2_method;
    mq_transport transport;  /* a broker context takes its accept's */
    mq_retransmit retransmit;
    uint16_t keepalive_s;    /* client, stream: CONNECT keepalive; 0 = off */
    bool clean_start;        /* client: 3.1.1 CleanSession / 5.0 Clean Start */
    uint32_t session_expiry_s; /* client, 5.0: Session Expiry Interval (0: ends with the connection) */
    int64_t connect_timeout; /* client, stream, ns; 0 = 30 s (Paho C) */
    int64_t reconnect_initial, reconnect_max; /* client, stream, ns; 0 = 1 s and 60 s (Paho C) */
    double reconnect_jitter; /* client, stream: fraction in [0, 1] */
    bool queue_qos0;         /* broker: queue QoS 0 for offline sessions (Mosquitto:
                                queue_qos0_messages, default false) */
    uint32_t max_packet_size; /* stream input limit, bytes; 0 = MQTT's (268435460) */
} mq_session_config;

typedef struct {
    void *ctx;
    /* Required. Put these bytes on the wire now: buf[0..len) followed by
     * `zeros` zero bytes (a PUBLISH whose payload is head + zeros; the host
     * may store the frame compactly). buf is valid only during the call; v is
     * the packet's decoded header; m is the message a PUBLISH carries (NULL
     * otherwise; the host refs m, or m->tag, if it keeps it); resend is true
     * for a retransmission (timer or resumption). */
    void (*send)(void *ctx, const uint8_t *buf, size_t len, uint64_t zeros, const mq_view *v,
                 mq_msg *m, bool resend);
    /* Required (client). Pass a message to the application. v is the header of
     * the PUBLISH that carried it (method A: the stored PUBLISH's, delivered
     * at PUBREL). now is the time of the call into the engine that caused it. */
    void (*deliver)(void *ctx, int64_t now, mq_msg *m, const mq_view *v);
    /* Required. Call mq_session_on_timer at `at` (ns); MQ_NEVER: no timer.
     * Called whenever the session's earliest deadline changes. */
    void (*timer)(void *ctx, int64_t at);
    /* Optional. A message or flow dropped; m is NULL when the sender no longer
     * held the message (a flow past PUBREC). */
    void (*drop)(void *ctx, mq_msg *m, uint8_t qos, mq_drop_reason why);
    /* Optional. v is NULL when there is no decoded packet (MQ_EV_MALFORMED). */
    void (*event)(void *ctx, mq_event ev, const mq_view *v);
    /* Client, optional: CONNACK accepted (datagram: the first one only). */
    void (*connected)(void *ctx, bool session_present);
    /* Client, optional: SUBACK for a waiting SUBSCRIBE, with its codes. */
    void (*subscribed)(void *ctx, const uint8_t *codes, size_t n);
    /* Client, stream, required there: open a new transport now; answer later
     * with mq_session_on_up, or mq_session_on_down (REFUSED / TIMEOUT). */
    void (*open)(void *ctx, int64_t now);
    /* Stream, required there: close the transport now (bytes already sent
     * may still be delivered). The connection is down for the engine at once:
     * the host must not call on_down, or feed bytes, for that transport. */
    void (*close)(void *ctx, int64_t now, mq_close_cause why);
    /* Optional: the measurement tag of the PUBLISH being decoded; rx_offset
     * is the stream offset of its first byte on this connection (datagram:
     * the count of frames before it). Borrowed: the engine refs it through
     * tag_ops if it keeps it. NULL: no tag. On a stream it is asked for
     * every PUBLISH decoded, a QoS 2 duplicate that is only answered too. */
    void *(*tag)(void *ctx, uint64_t rx_offset);
    const mq_tag_ops *tag_ops;
    /* Client, optional: a uniform variate in [0, 1) for reconnect jitter. */
    double (*random)(void *ctx);
    /* Broker role (the broker fills these in): a SUBSCRIBE asks for filter at
     * QoS qos, return the granted QoS or 0x80; a CONNECT arrived, return the
     * CONNACK code (0: accepted) and set *present; the connection ended. */
    uint8_t (*subscribe)(void *ctx, const char *filter, size_t len, uint8_t qos);
    uint8_t (*connect)(void *ctx, int64_t now, const mq_packet *p, bool *present);
    void (*ended)(void *ctx, int64_t now);
} mq_session_io;

typedef struct {
    const char *filter;
    uint16_t len;
    uint8_t qos;
} mq_sub;

/* MQ_OK, or MQ_ERR_INVALID for a config the engine cannot run: a version
 * other than 4 or 5, a client id that is not valid UTF-8 or longer than
 * 65535 bytes, a retry_interval <= 0 where something is resent on a timer
 * (datagram, or timer retransmission), a jitter outside [0, 1], negative
 * times, reconnect_initial > reconnect_max. */
int mq_session_config_check(const mq_session_config *cfg);

/* Returns NULL when out of memory or when mq_session_config_check refuses
 * cfg. cfg and io are copied (the client id too). */
mq_session *mq_session_new(const mq_session_config *cfg, const mq_session_io *io);

/* As mq_session_new, but borrows cfg and io instead of copying them, for a
 * host with many sessions of the same settings: both must stay unchanged
 * until the session is freed. cfg->client_id must be NULL; client_id (copied;
 * NULL = "") is the session's own. Every callback gets ctx (io->ctx is not
 * read). Saves about 220 bytes per session. */
mq_session *mq_session_new_shared(const mq_session_config *cfg, const char *client_id,
                                  const mq_session_io *io, void *ctx);

/* Frees the session, releasing (without reporting) every message it holds.
 * Calls no callback. */
void mq_session_free(mq_session *s);

/* Client: start. Datagram: send CONNECT (resent until CONNACK). Stream: ask
 * io->open now (and reconnect after every close from now on). Returns 0
 * (also when already started), MQ_ERR_INVALID (client id not valid UTF-8) or
 * MQ_ERR_NOMEM. */
int mq_session_connect(mq_session *s, int64_t now);

/* Client, stream: send DISCONNECT if up, close (MQ_CLOSE_CLIENT_DISCONNECT)
 * and stop reconnecting until mq_session_connect. */
void mq_session_disconnect(mq_session *s, int64_t now);

/* Client: subscribe to subs[0..n) (n <= MQ_MAX_TOPICS) in one SUBSCRIBE. The
 * list is remembered (filters copied) and re-sent whenever a CONNACK says
 * the session is new. Sent now when connected (datagram: resent until
 * SUBACK). Returns 0, MQ_ERR_INVALID (bad n, QoS or filter), MQ_ERR_NOID or
 * MQ_ERR_NOMEM. */
int mq_session_subscribe(mq_session *s, int64_t now, const mq_sub *subs, size_t n);

/* Publish m at QoS qos (0..2). Takes a reference while it holds m (the
 * topic was checked by mq_msg_new). Returns 0 when m was sent or queued, 1
 * when it was dropped (queue full, or QoS 0 with no connection; io->drop
 * was told), MQ_ERR_NOMEM on out of memory (nothing sent or held). */
int mq_session_publish(mq_session *s, int64_t now, mq_msg *m, uint8_t qos);

/* Stream input. Client: the transport asked for is up (CONNECT goes out). */
void mq_session_on_up(mq_session *s, int64_t now);

/* Stream input: the transport is down (or, client, could not be opened).
 * Ignored when the engine already considers the connection down. */
void mq_session_on_down(mq_session *s, int64_t now, mq_down_cause why);

/* Stream input: bytes in any segmentation; on_zeros: n zero bytes. */
void mq_session_on_bytes(mq_session *s, int64_t now, const uint8_t *buf, size_t len);
void mq_session_on_zeros(mq_session *s, int64_t now, uint64_t n);

/* Datagram input: one frame, buf[0..len) followed by `zeros` zero bytes,
 * which must hold exactly one packet; anything else counts MQ_EV_MALFORMED
 * and changes nothing. on_packet is on_frame without zeros. */
void mq_session_on_frame(mq_session *s, int64_t now, const uint8_t *buf, size_t len,
                         uint64_t zeros);
void mq_session_on_packet(mq_session *s, int64_t now, const uint8_t *buf, size_t len);

/* The timer set through io->timer fired (early or late is safe: only what is
 * due at `now` is done). Consumes the host's timer: the engine answers with
 * io->timer(next deadline) unless nothing is left. */
void mq_session_on_timer(mq_session *s, int64_t now);

/* End of run: every message the sender side holds (in flight, then queued) is
 * reported through io->drop as MQ_DROP_IN_FLIGHT_AT_END and released;
 * receiver-side state (held identifiers, stored messages, a PUBLISH still
 * arriving on a stream) is released without a report; the timer is cleared.
 * Nothing is sent or closed. The session stays usable. */
void mq_session_finish(mq_session *s, int64_t now);

/* Client crash: the session and the queue vanish (MQ_DROP_CLIENT_CRASH for
 * each message held, in flight then queued; receiver state and the
 * subscription list are forgotten), the connection is down without a word
 * on the wire (the host makes the transport vanish), and nothing reopens
 * until mq_session_connect. */
void mq_session_crash(mq_session *s, int64_t now);

/* Client crash with the session kept on disk (Paho's file persistence):
 * as mq_session_crash, but the sender's flows in flight and queued (their
 * identifiers, states and order) and the receiver's held QoS 2 identifiers
 * (method A: with their stored messages) survive, and nothing is dropped;
 * the subscription list is forgotten all the same (it is the application's,
 * not the persisted session's). After mq_session_connect the kept flows are
 * resumed as after any reconnect (CONNACK session present 1: resent with
 * DUP=1, PUBREL past PUBREC; present 0: session_lost). */
void mq_session_crash_keep(mq_session *s, int64_t now);

/* ---- queries (O(1) unless said; no callback) ---------------------------- */

size_t mq_session_inflight(const mq_session *s);
size_t mq_session_queued(const mq_session *s);
mq_conn_state mq_session_state(const mq_session *s);

/* True when the session has no sender flow in flight or queued and no
 * CONNECT/SUBSCRIBE waiting for its answer. */
bool mq_session_idle(const mq_session *s);

/* The state of the in-flight flow using packet identifier id; false when
 * none uses it. */
bool mq_session_flow_state(const mq_session *s, uint16_t id, mq_msg_state *state);

/* Receiver side: whether a QoS 2 identifier is held (PUBLISH seen, PUBREL not
 * yet), and how many are. */
bool mq_session_holds(const mq_session *s, uint16_t id);
size_t mq_session_held(const mq_session *s);

/* Sender side: whether identifier id is taken, by a flow or by a SUBSCRIBE
 * waiting for its SUBACK. O(1) average. */
bool mq_session_id_in_use(const mq_session *s, uint16_t id);

/* Current send window (0 = unlimited): max_inflight capped by the peer's
 * Receive Maximum on this connection. */
uint32_t mq_session_window(const mq_session *s);

/* Bytes the stream input holds for a packet not yet complete (a whole
 * non-PUBLISH packet, or a PUBLISH's header and payload head: never more of
 * a payload than MQ_MSG_HEAD bytes while it is head + zeros). */
size_t mq_session_rx_held(const mq_session *s);

/* Walks the engine's own invariants (every flow's identifier unique and in
 * the hash, counts matching lists, no identifier shared with a SUBSCRIBE) and
 * returns false at the first broken one. For tests. Cost: O(flows). */
bool mq_session_check(const mq_session *s);

/* Stable lower-case names, as used in result files; "?" otherwise. */
const char *mq_drop_reason_name(mq_drop_reason r);
const char *mq_event_name(mq_event ev);
const char *mq_close_cause_name(mq_close_cause c);
const char *mq_down_cause_name(mq_down_cause c);

/* ---- for the broker (broker.c) ------------------------------------------ */

/* A broker context's session state moves: `to` (a context that has just
 * received CONNECT, in the connect callback) takes over everything `from`
 * holds (flows, queue, held identifiers, the identifier rotation), and
 * `from` is left empty. */
void mq_session_take_state(mq_session *to, mq_session *from);

/* Ends the session state of s: every message held is reported with `why`
 * (in flight in original order, then queued), held identifiers and stored
 * messages are released (stored ones reported too); the connection is not
 * touched. */
void mq_session_end_state(mq_session *s, int64_t now, mq_drop_reason why);

/* Closes s's connection for the broker (takeover, restart): io->close(why),
 * state DOWN, no io->ended. */
void mq_session_kick(mq_session *s, int64_t now, mq_close_cause why);

/* ---- persistence (broker.c) ---------------------------------------------- */

/* A saved image of a broker context's session state, as Mosquitto's
 * persistence keeps it (persist_write.c: each client message with its
 * identifier, QoS, state and DUP flag; the client's last_mid): the flows in
 * flight with their identifiers and states (WAIT_PUBACK, WAIT_PUBREC,
 * WAIT_PUBCOMP) and start order, the queue, the QoS 2 identifiers held
 * between PUBLISH and PUBREL (with a method A stored message), the
 * identifier rotation. Messages are shared by reference (one each), never
 * copied. Cost: O((flows + held) x log) time; about 100 bytes, plus 26 per
 * flow in flight, 24 per queued one, 16 per held identifier and 8 per
 * message held. */
typedef struct mq_session_image mq_session_image;

/* A deep copy of s's session state, or NULL when out of memory. */
mq_session_image *mq_session_image_new(const mq_session *s);
void mq_session_image_free(mq_session_image *im);

/* Whether im holds message m (by identity). O(log messages). */
bool mq_session_image_has(const mq_session_image *im, const mq_msg *m);

/* s, a broker context with no session state and no connection, takes a
 * deep copy of im (im is unchanged and may be restored again). Every
 * restored flow is resent at the next resumption like any kept one. Returns
 * 0, or MQ_ERR_NOMEM with s left empty. */
int mq_session_image_restore(mq_session *s, const mq_session_image *im);

/* mq_session_end_state, except that what im also holds is released without
 * a report: a message (by identity), or a flow past PUBREC whose
 * identifier im has in flight. im NULL: mq_session_end_state. */
void mq_session_end_state_except(mq_session *s, int64_t now, mq_drop_reason why,
                                 const mq_session_image *im);

/* The transport a session was made for. */
mq_transport mq_session_transport(const mq_session *s);

/* The opaque pointer the broker keeps with a context. */
void mq_session_set_owner(mq_session *s, void *owner);
void *mq_session_owner(const mq_session *s);

#endif
