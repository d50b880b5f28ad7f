/* The host adapter: binds MQTT sessions and the broker to the scheduler, the links and the TCP model. */
#ifndef MQ_NET_H
#define MQ_NET_H

/*
 * A network is one broker and n clients, each client joined to the broker by
 * a link pair (up: client to broker, down: broker to client). This module is
 * the only code that sees both the protocol engine and the kernel: it turns
 * the engine's actions into frames on links, TCP writes and scheduler
 * events, and deliveries, TCP events and timer events back into engine
 * calls. A PUBLISH's payload carries the message id and publish time
 * big-endian in its first 16 bytes, then a count of zeros; the host also
 * attaches the message's measurement tag (its simulation-wide id, publish
 * time and per-subscriber delivery state), which only the metrics read: the
 * engine routes and delivers by the decoded bytes.
 *
 * Each client has its own transport (mq_net_client.transport):
 *   datagram: each packet is one frame on the client's link pair (the
 *     wave-1 model); the broker's context for the client exists from the
 *     start, and nothing is a connection.
 *   stream: a sim_tcp path owns the client's link pair; the engine's open
 *     and close become sim_tcp connect and close, the TCP events become
 *     engine transport events (ESTABLISHED: up; FIN: down fin, and the host
 *     closes its end; RST: rst; retries2 or user timeout: abort; refused;
 *     SYN ladder run out: timeout), and bytes and zero runs flow both ways.
 *     The broker listens on every path and accepts each completed
 *     handshake as a new context. Measurement tags travel beside the bytes:
 *     per connection and direction a FIFO of (stream offset of a PUBLISH's
 *     first byte, one past its last, its tag), from which the engine's tag
 *     callback reads; what is left in it when the reading end stops reading
 *     was never delivered on that connection.
 * Link outages (scheduled windows or random up and down periods drawn from
 * the stream "<client>.up.outages" / ".down.outages") apply to either
 * transport: every frame or segment sent on a direction while it is down is
 * lost.
 *
 * Faults (stream clients only; see docs/model.md "Faults"): a reset of the
 * client's current connection, "rst" (both TCP ends aborted at once, both
 * engines told MQ_DOWN_RST) or silent (sim_tcp_nat_rebind: the client
 * learns from the RST its next segment meets, the broker's end is left
 * half-open); a client crash (mq_session_crash, or with
 * client_persistence mq_session_crash_keep; its socket closed, FIN after
 * what was written; arrivals while down not published; after the time down
 * mq_session_connect again); a broker restart (broker_kill, the hook where
 * persistence will plug in: mq_broker_restart, whose contexts' closes send
 * FIN; every path's listener refuses SYNs until the time down has passed).
 * Random resets and crashes draw from "<client>.resets" and
 * "<client>.crashes"; broker restarts come as windows (the caller draws
 * random ones as the testbed does).
 *
 * A run: every client connects at t = 0 (datagram: CONNECT resent until
 * CONNACK; stream: reconnecting with backoff after any close); subscribers
 * subscribe once (stream: the engine re-sends the list whenever a CONNACK
 * says the session is new); once every client is ready, publishers publish
 * for `duration` (or until max_messages), then the network runs until no
 * event is left or `drain` has passed. What is still held then is dropped
 * as in_flight_at_end.
 *
 * Accounting of losses: every (message, subscriber) pair that is never
 * delivered is charged to exactly one cause (metrics.h, mq_metrics_lost)
 * when the message's record goes. A cause is noted by the last final event
 * that concerned the pair, and an event on the subscriber's hop (the
 * broker's session with that subscriber, the subscriber's own session, its
 * link or connection) outranks one on the publisher's hop (the publisher's
 * session, the broker's session with the publisher, its link or
 * connection), which concerns every subscriber. Final events: a drop by an
 * engine (its reason); a QoS 0 PUBLISH frame lost on a datagram link
 * (link); a QoS 0 PUBLISH left in a connection's FIFO when its reader
 * stopped (disconnected); a message the broker routed while the subscriber
 * had no session or no subscription in place (session_lost: the session
 * that held them was lost); a QoS 2 PUBLISH its receiver took for a
 * duplicate (dup_suppressed; client_crash when its sender had crashed and
 * forgotten the identifier). Faults: from a client's crash, or a broker
 * restart, to the client's next CONNACK, a drop on its hop as disconnected
 * or session_lost (either end, or a FIFO released) is charged to that
 * fault (client_crash, broker_restart) instead, and so are messages routed
 * past a subscriber whose session or subscription that fault removed, until
 * they are back. A pair whose message is still held anywhere
 * when the run ends, with no cause from the subscriber's hop, is
 * in_flight_at_end. A pair left without a cause fails the run (an
 * accounting bug, never a silent undercount).
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
#include "sim/tcp.h"

typedef struct mq_net mq_net;

/* One direction's outages: scheduled windows w[0..n) (start, length; ns),
 * or with mtbf > 0 random ones (exponential up times of mean mtbf and down
 * times of mean mttr, ns). At most one of the two. */
typedef struct {
    int64_t start, len;
} mq_net_window;

typedef struct {
    size_t n;
    const mq_net_window *w;
    int64_t mtbf, mttr;
} mq_net_outages;

typedef struct {
    const char *name;          /* component name; seeds its random streams */
    /* 0: one client. N >= 1: a group of N clients, alike but for their index
     * i (0 .. N-1, in order among the network's clients): name, topic and
     * the subscriptions' filters are then patterns in which "{i}" is the
     * index ("{{" and "}}" literal braces; mq_topic_expand), expanded when
     * needed, so an entry costs the same for one client or 100,000. */
    uint32_t count;
    bool publisher;
    sim_link_params up, down;
    mq_net_outages up_outages, down_outages;
    int64_t retry_interval;    /* the client's own sender settings (ns) */
    int32_t max_retries;
    bool own_window;           /* false: max_inflight/max_queued are the broker's */
    uint32_t max_inflight, max_queued;
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
    /* connections and sessions (the datagram transport takes only
     * retransmit, and always sends CleanSession 1) */
    mq_transport transport;    /* MQ_TRANSPORT_DATAGRAM (0) or _STREAM */
    mq_retransmit retransmit;  /* MQ_RETRANSMIT_AUTO follows the transport */
    uint16_t keepalive_s;
    bool clean_start;
    uint32_t session_expiry_s;
    int64_t connect_timeout;   /* ns; 0 = the engine's (30 s) */
    int64_t reconnect_initial, reconnect_max; /* ns; 0 = engine defaults */
    double reconnect_jitter;   /* > 0: uniforms from the stream "<name>.reconnect" */
    sim_tcp_params tcp;        /* stream; mss 0: sim_tcp_params_default() */
    /* faults (stream only; see "Faults" above). Scheduled: times (resets)
     * or windows (crashes: start, time down), sorted, crashes not
     * overlapping; or random with mtbf > 0. At most one of the two each. */
    size_t n_resets;
    const int64_t *resets;
    int64_t reset_mtbf;
    bool reset_silent;         /* false: "rst" */
    size_t n_crashes;
    const mq_net_window *crashes;
    int64_t crash_mtbf, crash_down;
    bool client_persistence;   /* the session survives a crash (Paho's file persistence) */
} mq_net_client;

typedef struct {
    uint64_t seed, rep;
    uint8_t version;            /* MQ_V311 or MQ_V5 */
    int64_t duration, drain;    /* ns */
    /* ns; the run fails if clients are not ready by then. 0: derived from the
     * clients' links, retry intervals, TCP and reconnect settings and outages
     * (see mq_net_setup_limit). */
    int64_t setup_timeout;
    uint64_t max_messages;      /* 0: no limit; else publishing stops after this many */
    uint64_t max_events;        /* 0: no limit; else the run fails once this many scheduler
                                   events have run (bounded runs: the fuzz harness) */
    mq_session_config broker;   /* template for the broker's sessions */
    /* Broker restarts (stream clients only): windows (start, time down),
     * sorted and not overlapping, drawn by the caller (random restarts: as
     * exp_testbed_restarts draws them, so that the testbed agrees). */
    size_t n_restarts;
    const mq_net_window *restarts;
    bool persistence;           /* broker.persistence: passed to the restart hook */
    /* With persistence: 0, every change is saved (a restart keeps the kept
     * sessions as they are); else the broker saves every autosave_interval
     * ns from its start and from each restart's end (Mosquitto's
     * autosave_interval timer) while a restart is still to come (a save no
     * restart reads changes nothing), and a restart restores the last save. */
    int64_t autosave_interval;
} mq_net_config;

/* Connection events for traces (stream clients). */
typedef enum {
    MQ_NET_OPEN,        /* the client opens a connection (detail: its number on the path) */
    MQ_NET_ESTABLISHED, /* the client's TCP handshake completed */
    MQ_NET_ACCEPTED,    /* the broker accepted it */
    MQ_NET_CONNECTED,   /* CONNACK accepted by the client (detail: session present) */
    MQ_NET_CLOSE,       /* an engine closed its end (detail: mq_conn_close) */
    MQ_NET_DOWN,        /* an engine was told its transport went down (detail: mq_conn_close) */
} mq_net_conn_event;

/* Injected faults, for traces (client -1: the broker). */
typedef enum {
    MQ_NET_RESET,         /* detail: 1 silent, 0 rst; conn 0: no connection to reset */
    MQ_NET_CRASH,         /* the client's process died */
    MQ_NET_CLIENT_RESTART,/* it runs again (and connects) */
    MQ_NET_BROKER_DOWN,   /* the broker was killed */
    MQ_NET_BROKER_UP,     /* it listens again */
} mq_net_fault;

/* Optional observation hooks (trace, progress). `up` tells the direction: client to broker. */
typedef struct {
    void *ctx;
    void (*publish)(void *ctx, int64_t t, int client, uint64_t msg_id, uint8_t qos);
    /* A packet put on the wire (datagram: lost tells its fate; stream:
     * written into the connection, lost false). */
    void (*packet)(void *ctx, int64_t t, int client, bool up, const mq_packet *p,
                   uint64_t msg_id, bool lost);
    /* Stream: a packet written earlier was handed whole to its receiver (it
     * is decoded then), or with lost, the connection ended before it was. */
    void (*received)(void *ctx, int64_t t, int client, bool up, const mq_packet *p,
                     uint64_t msg_id, bool lost);
    void (*deliver)(void *ctx, int64_t t, int client, uint64_t msg_id, uint8_t qos, bool first);
    void (*drop)(void *ctx, int64_t t, int client, bool broker_side, uint64_t msg_id,
                 mq_drop_reason why);
    /* Stream: a connection event of client's connection number conn;
     * broker_side tells which end. */
    void (*conn)(void *ctx, int64_t t, int client, uint32_t conn, bool broker_side,
                 mq_net_conn_event ev, int detail);
    /* Stream: every TCP segment put on a link (for captures). */
    void (*segment)(void *ctx, int client, const sim_tcp_seg_info *seg);
    /* Datagram: every frame put on a link (for captures): the packet's bytes
     * buf[0..len) followed by `zeros` zero bytes, and whether the link lost
     * it. */
    void (*frame)(void *ctx, int64_t t, int client, bool up, const uint8_t *buf, size_t len,
                  uint64_t zeros, bool lost);
    /* Now and then (every 65536 frames or stream chunks delivered): the time,
     * when publishing began (-1 before it did or after it ended) and the
     * publishing duration. */
    void (*progress)(void *ctx, int64_t t, int64_t t_ready, int64_t duration);
    /* A fault was injected; conn: the client's connection it hit (0: none). */
    void (*fault)(void *ctx, int64_t t, int client, uint32_t conn, mq_net_fault ev, int detail);
} mq_net_hooks;

typedef struct {
    int64_t t_ready;            /* when publishing began */
    uint64_t events_ready;      /* scheduler events run by then (the setup's) */
    int64_t t_publish_end;      /* when it stopped */
    int64_t t_last;             /* last frame or bytes sent or delivered */
    int64_t setup_limit;        /* the setup limit the run used */
    uint64_t messages;          /* application messages published */
    uint64_t events;            /* scheduler events run */
    double mean_pending;        /* events pending as each ran, on average */
    uint64_t peak_live_messages;
    sim_link_stats up, down;    /* summed over clients (stream: TCP segments) */
    mq_conn_stats conn;         /* summed over clients */
    uint64_t broker_restarts;   /* begun */
    int64_t broker_down_ns;     /* time the broker was down (to the run's end) */
} mq_net_stats;

/* Builds the network of n client entries (each one client, or a group of
 * count). clients[] and the strings they point to must outlive it. metrics receives every count; hooks may be NULL. Returns NULL on out of
 * memory or a setting the engine refuses (err says which). */
mq_net *mq_net_new(const mq_net_config *cfg, const mq_net_client *clients, size_t n,
                   mq_metrics *metrics, const mq_net_hooks *hooks, char *err, size_t errlen);
void mq_net_free(mq_net *net);

/* Runs the whole experiment. Returns 0, or -1 when setup did not complete
 * (err names the clients' state and the cause the config points to),
 * memory ran out anywhere (the TCP model included), the engine delivered a
 * message at a QoS other than min(publish QoS, subscription QoS), or a lost
 * pair had no cause (err says why). Can be called once. */
int mq_net_run(mq_net *net, mq_net_stats *stats, char *err, size_t errlen);

/* The setup limit derived for cfg and clients (ns): at least 60 s, and long
 * enough that a client whose setup is possible at all completes it with
 * probability above 1 - 1e-9 (see net.c). */
int64_t mq_net_setup_limit(const mq_net_config *cfg, const mq_net_client *clients, size_t n);

/* Messages still referenced somewhere (0 after a run: none leaked). */
uint64_t mq_net_live_messages(const mq_net *net);

#endif
