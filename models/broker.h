/* The modelled broker: one session per client, a subscription table, fan-out with QoS downgrade. */
#ifndef MQ_BROKER_H
#define MQ_BROKER_H

#include <stddef.h>
#include <stdint.h>
#include "models/session.h"

typedef struct mq_broker mq_broker;

/* Where one message goes: a client and the QoS it is delivered at,
 * min(publish QoS, the highest QoS among the client's matching subscriptions). */
typedef struct {
    int client;
    uint8_t qos;
} mq_route;

/* cfg is the template for every client's broker-side session (role is forced
 * to MQ_ROLE_BROKER): max_inflight, max_queued, retry_interval, max_retries,
 * qos2_method and version. Returns NULL when out of memory. */
mq_broker *mq_broker_new(const mq_session_config *cfg);
void mq_broker_free(mq_broker *b);

/* Adds a client connection and returns its index (0, 1, ...), or negative on
 * out of memory. io carries the host's send, timer, drop and event callbacks
 * for this client's connection; the broker answers deliver and subscribe
 * itself (deliver routes the message to the matching clients' sessions). */
int mq_broker_add_client(mq_broker *b, const mq_session_io *io);

/* The broker's end of client c's connection. */
mq_session *mq_broker_session(mq_broker *b, int client);
size_t mq_broker_clients(const mq_broker *b);

/* Adds (or replaces) client c's subscription to filter at QoS qos. Returns
 * the granted QoS (qos itself), or 0x80 for an invalid filter. This is what a
 * SUBSCRIBE does; it is public so tests can build a table directly. */
uint8_t mq_broker_subscribe(mq_broker *b, int client, const char *filter, size_t len,
                            uint8_t qos);

/* Fills out[0..cap) with the routes for a message on topic published at
 * pub_qos, in client order, one per matching client. Returns the number of
 * matching clients (which may exceed cap; only cap are written). */
size_t mq_broker_route(const mq_broker *b, const char *topic, size_t len, uint8_t pub_qos,
                       mq_route *out, size_t cap);

/* Counters: messages routed in, and messages offered to client sessions. */
uint64_t mq_broker_routed(const mq_broker *b);
uint64_t mq_broker_forwarded(const mq_broker *b);

#endif
