/* The modelled broker: connection contexts, sessions keyed by client id, subscriptions, fan-out with QoS downgrade. */
#ifndef MQ_BROKER_H
#define MQ_BROKER_H

/*
 * The host hands the broker each transport it accepts (mq_broker_accept) and
 * gets a connection context back: an mq_session in the broker role, driven
 * through the mq_broker_conn_* calls below (never mq_session_on_* directly,
 * so that the broker can free what a call ended). A context's CONNECT binds
 * it to the session of its client id (MQTT 3.1.1 / 5.0 §3.1, Mosquitto's
 * connect__on_authorised):
 *   - no session, or clean start: a new session (a kept old one is ended:
 *     everything it held is dropped as MQ_DROP_SESSION_LOST), session present 0;
 *   - a kept session: its state (flows in flight and queued with their
 *     identifiers and states, held QoS 2 identifiers and stored messages,
 *     subscriptions) moves into this context, session present 1, and the
 *     unacknowledged flows are resent (DUP=1, same identifier; PUBREL past
 *     PUBREC) in their original order before the queue drains;
 *   - a live connection with that client id is closed first
 *     (MQ_CLOSE_TAKEOVER, MQTT-3.1.4-2; 5.0: DISCONNECT 0x8E, as Mosquitto).
 * When a connection ends, its session ends with it (3.1.1 CleanSession 1;
 * 5.0 Session Expiry 0), or stays without a connection until its 5.0 expiry
 * (io->timer, mq_broker_on_timer) or for ever (3.1.1 CleanSession 0). While
 * a session has no connection its QoS>0 messages queue up to max_queued,
 * and QoS 0 is dropped (MQ_DROP_DISCONNECTED) unless queue_qos0.
 *
 * Every session has a dense index (0, 1, ...), the order messages are routed
 * in. An accepted context reserves one, and a new session takes its
 * context's; a resumed session keeps its own. So a host that accepts its
 * clients' transports in client order gets sessions in client order.
 *
 * Persistence (mq_broker_set_persistence, mq_broker_save; Mosquitto's
 * persist_write.c / persist_read.c): the persistent state of the broker is
 * exactly its kept sessions (those that do not end with their connection:
 * 3.1.1 CleanSession 0, 5.0 Session Expiry > 0), each with its client id,
 * expiry, subscriptions and session state (mq_session_image: flows in
 * flight with their identifiers and states, the queue, held QoS 2
 * identifiers with method A's stored messages, the identifier rotation). A
 * session that ends with its connection is never saved. Messages are
 * immutable and shared by reference, so a save copies records and takes
 * references, never payloads.
 */

#include <stddef.h>
#include <stdint.h>
#include "models/session.h"

typedef struct mq_broker mq_broker;

/* Where one message goes: a session (by index) and the QoS it is delivered
 * at, min(publish QoS, the highest QoS among that session's matching
 * subscriptions). */
typedef struct {
    int client;
    uint8_t qos;
} mq_route;

typedef struct {
    void *ctx;
    /* Optional. A message held by a session was dropped; user is that
     * session's (see bind). */
    void (*drop)(void *ctx, void *user, mq_msg *m, uint8_t qos, mq_drop_reason why);
    /* Required when a 5.0 session can expire: call mq_broker_on_timer at
     * `at`; MQ_NEVER: no timer. Called when the earliest expiry changes. */
    void (*timer)(void *ctx, int64_t at);
    /* Optional. A CONNECT on the connection whose io ctx is conn_ctx bound it
     * to session `sess` of client_id[0..len); present: the session existed.
     * Returns the session's user pointer for drop (NULL: keep the one it
     * had; a new session starts with conn_ctx). */
    void *(*bind)(void *ctx, void *conn_ctx, int sess, const char *client_id, size_t len,
                  bool present);
    /* Optional. Message m, decoded at QoS qos, is about to be routed (offered
     * to the sessions whose subscriptions match its topic, as
     * mq_broker_route would list them now). For hosts that account for the
     * subscribers a message did not reach because they had no session or no
     * subscription at that moment. Must not call into the broker except for
     * mq_broker_route. */
    void (*routed)(void *ctx, mq_msg *m, uint8_t qos);
} mq_broker_io;

/* cfg is the template for every context (role forced to MQ_ROLE_BROKER):
 * max_inflight, max_queued, retry_interval, max_retries, qos2_method,
 * retransmit, queue_qos0, max_packet_size and version (the version packets
 * are decoded with until a CONNECT says otherwise). io may be NULL. Returns
 * NULL when out of memory or when cfg is refused (mq_session_config_check). */
mq_broker *mq_broker_new(const mq_session_config *cfg, const mq_broker_io *io);

/* Frees every context and session (releasing what they hold, unreported). */
void mq_broker_free(mq_broker *b);

/* A transport was accepted (stream: established; datagram: the client's link
 * exists). conn carries the host's callbacks for it: send, timer, close
 * (stream), event, tag and tag_ops (the others are the broker's). Returns
 * the context, awaiting CONNECT, or NULL on out of memory. */
mq_session *mq_broker_accept(mq_broker *b, int64_t now, mq_transport transport,
                             const mq_session_io *conn);

/* As mq_broker_accept, but borrows conn (unchanged until the context is
 * freed) and passes ctx to its callbacks instead of conn->ctx: a host with
 * many connections of the same callbacks saves about 130 bytes each. */
mq_session *mq_broker_accept_shared(mq_broker *b, int64_t now, mq_transport transport,
                                    const mq_session_io *conn, void *ctx);

/* Input for context s, as mq_session_on_bytes / _zeros / _frame / _down /
 * _timer. After a down, or after the engine called conn->close, the host
 * must forget s: the broker frees it (or keeps it for its session). */
void mq_broker_conn_bytes(mq_broker *b, mq_session *s, int64_t now, const uint8_t *buf,
                          size_t len);
void mq_broker_conn_zeros(mq_broker *b, mq_session *s, int64_t now, uint64_t n);
void mq_broker_conn_frame(mq_broker *b, mq_session *s, int64_t now, const uint8_t *buf,
                          size_t len, uint64_t zeros);
void mq_broker_conn_down(mq_broker *b, mq_session *s, int64_t now, mq_down_cause why);
void mq_broker_conn_timer(mq_broker *b, mq_session *s, int64_t now);

/* The broker's own timer (io->timer) fired: sessions past their expiry end
 * (MQ_DROP_SESSION_LOST). */
void mq_broker_on_timer(mq_broker *b, int64_t now);

/* End of run: every session's sender side is reported as in_flight_at_end
 * (mq_session_finish), in session index order. Sessions a host has already
 * finished report nothing more. The saved image is released (without a
 * report). */
void mq_broker_finish(mq_broker *b, int64_t now);

/* What survives a restart (mq_broker_restart). */
typedef enum {
    /* Nothing (Mosquitto's default, persistence false). */
    MQ_PERSIST_OFF,
    /* The state saved by the last mq_broker_save (Mosquitto's autosave on a
     * timer, then a crash: what changed since the save is lost or comes back
     * as it was); before the first save, nothing. */
    MQ_PERSIST_SAVES,
    /* Every kept session as it is at the restart: a save after every change.
     * Nothing is saved: the live state is the image (see broker.c). */
    MQ_PERSIST_EVERY_CHANGE,
} mq_persist;

/* Sets what a restart keeps (default MQ_PERSIST_OFF). */
void mq_broker_set_persistence(mq_broker *b, mq_persist p);

/* MQ_PERSIST_SAVES: replaces the saved image with one of the broker's
 * persistent state now (see above). Other modes: does nothing. Returns 0,
 * or MQ_ERR_NOMEM with the previous image kept. Cost: O(kept sessions +
 * their subscriptions x levels + their flows, queued and held messages
 * (x log of each session's)), and memory of about 180 bytes per kept
 * session plus its client id, 16 per subscription plus its filter, and
 * what mq_session_image says per flow, held identifier and message
 * reference (messages are shared, never copied). The new image is built
 * before the old one goes, so a save needs room for both for a moment. */
int mq_broker_save(mq_broker *b, int64_t now);

/* Sessions in the saved image (0 before the first save). */
size_t mq_broker_saved_sessions(const mq_broker *b);

/* Broker restart (a crash: nothing is saved on the way down). Every
 * connection vanishes (conn->close, MQ_CLOSE_BROKER_RESTART). Then:
 *   MQ_PERSIST_OFF: every session with everything it held is gone
 *     (MQ_DROP_BROKER_RESTART).
 *   MQ_PERSIST_EVERY_CHANGE: sessions that end with their connection are
 *     gone (MQ_DROP_BROKER_RESTART); every kept session stays as it is,
 *     without a connection (its expiry counting from now).
 *   MQ_PERSIST_SAVES: the broker becomes the saved image: each message a
 *     session holds that the image's copy of that session does not (by
 *     identity) is dropped (MQ_DROP_BROKER_RESTART), every session is gone,
 *     and the image's sessions come back without a connection, at their
 *     saved session indices, with their subscriptions and state as saved
 *     (a session connected at the save has its expiry counting from now;
 *     one offline then keeps its saved expiry time). What they hold that
 *     was acknowledged since the save is resent at their resumption. The
 *     image stays: a second restart before the next save restores it
 *     again.
 * Returns 0, or MQ_ERR_NOMEM (a restored session could not be built: it is
 * missing, and MQ_EV_NOMEM was not sent anywhere; the host must fail). */
int mq_broker_restart(mq_broker *b, int64_t now);

/* The context holding client_id's session (with or without a connection),
 * or NULL. O(1) average. */
mq_session *mq_broker_find(const mq_broker *b, const char *client_id, size_t len);

/* The session index a context holds (or has reserved), or -1. */
int mq_broker_session_index(const mq_session *s);

/* Sessions that exist (bound by a CONNECT), and live connections. */
size_t mq_broker_sessions(const mq_broker *b);
size_t mq_broker_connections(const mq_broker *b);

/* Adds (or replaces) session sess's subscription to filter at QoS qos.
 * Returns the granted QoS (qos itself), or 0x80 for an invalid filter. This
 * is what a SUBSCRIBE does; it is public so tests can build a table. */
uint8_t mq_broker_subscribe(mq_broker *b, int sess, const char *filter, size_t len,
                            uint8_t qos);

/* Fills out[0..cap) with the routes for a message on topic published at
 * pub_qos, in session order, one per matching session. Returns the number
 * of matching sessions (which may exceed cap; only cap are written). */
size_t mq_broker_route(const mq_broker *b, const char *topic, size_t len, uint8_t pub_qos,
                       mq_route *out, size_t cap);

/* Counters: messages routed in, and messages offered to sessions. */
uint64_t mq_broker_routed(const mq_broker *b);
uint64_t mq_broker_forwarded(const mq_broker *b);

#endif
