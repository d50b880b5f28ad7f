/* The host adapter: binds MQTT sessions and the broker to the scheduler and the links. */
#ifndef MQ_NET_H
#define MQ_NET_H

/*
 * A network is one broker and n clients, each client joined to the broker by
 * a link pair (up: client to broker, down: broker to client). This module is
 * the only code that sees both the protocol engine and the kernel: it turns
 * the engine's actions into frames on links and scheduler events, and link
 * deliveries and timer events back into engine calls. Frames carry the real
 * encoded bytes (a PUBLISH's payload as its first 16 bytes, the message id
 * and publish time big-endian, and a count of zeros after them); a PUBLISH
 * frame also carries the message's measurement tag (its simulation-wide id,
 * publish time and per-subscriber delivery counts), which only the metrics
 * read: the engine routes and delivers by the decoded bytes.
 *
 * Each end of a client's connection is an endpoint; how its bytes travel is
 * its transport. The datagram transport (each packet one frame on the
 * client's link pair, the wave-1 model) is built; the stream transport over
 * sim/tcp is the next step (mq_net_new refuses it until then).
 *
 * A run: every client connects (CONNECT resent until CONNACK); subscribers
 * subscribe (resent until SUBACK); once every client is ready, publishers
 * publish for `duration` (or until max_messages), then the network runs
 * until no event is left or `drain` has passed. What is still in flight then
 * is dropped as in_flight_at_end.
 *
 * Ties: when a frame arrives at the same instant as a session's retry
 * deadline, the frame is handled first (an acknowledgement arriving exactly
 * at the deadline prevents the resend).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "models/metrics.h"
#include "models/session.h"
#include "sim/link.h"

typedef struct mq_net mq_net;

typedef struct {
    const char *name;          /* component name; seeds its random streams */
    bool publisher;
    sim_link_params up, down;
    int64_t retry_interval;    /* the client's own sender settings (ns) */
    int32_t max_retries;
    /* publisher */
    const char *topic;
    uint8_t qos;
    double rate_hz;
    bool poisson;              /* false: periodic, with a random phase */
    uint32_t payload_bytes;
    /* subscriber */
    const mq_sub *subs;
    size_t n_subs;
    mq_qos2_method qos2_method;
    /* connections and sessions (wave 2; the datagram transport ignores all
     * but retransmit and clean_start) */
    mq_transport transport;    /* MQ_TRANSPORT_DATAGRAM (0) or _STREAM */
    mq_retransmit retransmit;  /* MQ_RETRANSMIT_AUTO follows the transport */
    uint16_t keepalive_s;
    bool clean_start;          /* datagram clients always send CleanSession 1 */
    uint32_t session_expiry_s;
    int64_t reconnect_initial, reconnect_max; /* ns; 0 = engine defaults */
    double reconnect_jitter;
} mq_net_client;

typedef struct {
    uint64_t seed, rep;
    uint8_t version;            /* MQ_V311 or MQ_V5 */
    int64_t duration, drain;    /* ns */
    int64_t setup_timeout;      /* ns; the run fails if clients are not ready by then */
    uint64_t max_messages;      /* 0: no limit; else publishing stops after this many */
    mq_session_config broker;   /* template for the broker's sessions */
} mq_net_config;

/* Optional observation hooks (trace, progress). `up` tells the direction: client to broker. */
typedef struct {
    void *ctx;
    void (*publish)(void *ctx, int64_t t, int client, uint64_t msg_id, uint8_t qos);
    void (*packet)(void *ctx, int64_t t, int client, bool up, const mq_packet *p,
                   uint64_t msg_id, bool lost);
    void (*deliver)(void *ctx, int64_t t, int client, uint64_t msg_id, uint8_t qos, bool first);
    void (*drop)(void *ctx, int64_t t, int client, bool broker_side, uint64_t msg_id,
                 mq_drop_reason why);
    /* Now and then (every 65536 frames delivered): the time, when publishing
     * began (-1 before it did or after it ended) and the publishing duration. */
    void (*progress)(void *ctx, int64_t t, int64_t t_ready, int64_t duration);
} mq_net_hooks;

typedef struct {
    int64_t t_ready;            /* when publishing began */
    int64_t t_publish_end;      /* when it stopped */
    int64_t t_last;             /* last frame sent or delivered */
    uint64_t messages;          /* application messages published */
    uint64_t events;            /* scheduler events run */
    uint64_t peak_live_messages;
    sim_link_stats up, down;    /* summed over clients */
} mq_net_stats;

/* Builds the network. clients[] and the strings they point to must outlive
 * it. metrics receives every count; hooks may be NULL. Returns NULL on out of
 * memory or a bad setting (err says which: a setting the engine refuses, or
 * the stream transport, not built yet). */
mq_net *mq_net_new(const mq_net_config *cfg, const mq_net_client *clients, size_t n,
                   mq_metrics *metrics, const mq_net_hooks *hooks, char *err, size_t errlen);
void mq_net_free(mq_net *net);

/* Runs the whole experiment. Returns 0, or -1 when setup did not complete,
 * memory ran out, or the engine delivered a message at a QoS other than
 * min(publish QoS, subscription QoS) (err says why). Can be called once. */
int mq_net_run(mq_net *net, mq_net_stats *stats, char *err, size_t errlen);

/* Messages still referenced somewhere (0 after a run: none leaked). */
uint64_t mq_net_live_messages(const mq_net *net);

#endif
