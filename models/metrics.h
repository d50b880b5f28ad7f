/* Run metrics: per (publish QoS, subscription QoS) group counts and latency, wire, drops, events. */
#ifndef MQ_METRICS_H
#define MQ_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "models/session.h"

/* Flow QoS classes for wire accounting: 0..2, plus connection control. */
#define MQ_FLOW_CONTROL 3

typedef struct mq_metrics mq_metrics;

/* Why a (message, subscriber) pair was lost: MQ_LOSS_LINK (a QoS 0 PUBLISH
 * frame lost on a datagram link), 1 + its mq_drop_reason, or
 * MQ_LOSS_SUPPRESSED (a QoS 2 receiver took the PUBLISH for a duplicate:
 * its identifier was still held for a stale copy, which reordering links
 * bring). Every lost pair is charged to exactly one of these (see
 * net.h for which). */
#define MQ_LOSS_LINK 0
#define MQ_LOSS_OF_DROP(r) (1 + (int)(r))
#define MQ_LOSS_SUPPRESSED (1 + MQ_DROP__COUNT)
#define MQ_LOSS__COUNT (2 + MQ_DROP__COUNT)

/* "link", the drop reasons' names, "dup_suppressed"; "?" otherwise. */
const char *mq_loss_cause_name(int cause);

/* How a transport connection ended, seen once per connection: the first of
 * its ends to close it says why (an engine's close cause), else what the
 * transport reported. The order is that of result files. */
typedef enum {
    MQ_CC_KEEPALIVE,          /* either end's keepalive */
    MQ_CC_TCP_ABORT,          /* TCP gave up: retries2 or the user timeout */
    MQ_CC_RESET,              /* an RST nobody's close explains */
    MQ_CC_PROTOCOL_ERROR,
    MQ_CC_CLIENT_DISCONNECT,
    MQ_CC_TAKEOVER,           /* a newer connection of the same client id */
    MQ_CC_CONNECT_TIMEOUT,    /* no CONNACK within connect_timeout of opening */
    MQ_CC_REFUSED,            /* CONNACK refusal, or the SYN answered by RST */
    MQ_CC_SYN_TIMEOUT,        /* the SYN ladder ran out */
    MQ_CC_BROKER_RESTART,
    MQ_CC_SERVER_DISCONNECT,  /* the broker's 5.0 DISCONNECT */
    MQ_CC_PEER_CLOSED,        /* a FIN nobody's close explains */
    MQ_CC_CLIENT_CRASH,       /* the client's process died (its kernel closed the socket) */
    MQ_CC__COUNT
} mq_conn_close;

/* Stable lower-case names ("keepalive", "tcp_abort", ...); "?" otherwise. */
const char *mq_conn_close_name(mq_conn_close c);

/* The connection figures of a set of clients (a run's, or a QoS pair's). */
typedef struct {
    uint64_t opens;                 /* transport connections opened (stream) */
    uint64_t connects;              /* CONNACKs accepted (a datagram client has one) */
    uint64_t closes[MQ_CC__COUNT];  /* connections ended, by cause */
    int64_t disconnected_ns;        /* time clients spent without a connection after
                                       their first CONNACK */
    uint64_t tcp_segments, tcp_data_segments, tcp_retransmissions, tcp_rto_expiries,
        tcp_fast_retransmits, tcp_segments_lost;
    uint64_t ip_bytes;              /* TCP segments' payload + 40 header bytes each */
    /* faults (net.h "Faults") */
    uint64_t resets;                /* connection resets injected */
    uint64_t crashes;               /* client crashes injected */
    uint64_t outages;               /* link outages begun (both directions) */
    int64_t crash_down_ns;          /* time the client's process was down */
    int64_t outage_down_ns;         /* time its link directions were down, summed */
    uint64_t unpublished;           /* a publisher's arrivals while its process was down */
    uint64_t reconnects;            /* faults followed by a CONNACK (time to reconnect) */
    int64_t reconnect_ns, reconnect_max_ns; /* their sum and largest */
    uint64_t unrecovered;           /* faults with no CONNACK after them by the run's end */
} mq_conn_stats;

/* sum += x, field by field (reconnect_max_ns: the larger). */
void mq_conn_stats_add(mq_conn_stats *sum, const mq_conn_stats *x);

/* One group's figures at the end of a run (ratios NaN when expected is 0,
 * latencies NaN when nothing was delivered). Quantiles come from a histogram
 * with 40 bins per decade that keeps each bin's extreme values: exact when a
 * bin holds one distinct latency, else within that bin's spread. */
typedef struct {
    bool present;                 /* any message was expected in this group */
    uint8_t pub_qos, sub_qos, qos;
    uint64_t published, expected, unique, duplicates, lost;
    double loss_ratio, dup_ratio, delivery_ratio;
    double lat_mean, lat_p50, lat_p90, lat_p99, lat_max; /* ms */
    double wire_packets_per_delivered, wire_bytes_per_delivered;
    double resends;               /* the group's share of retransmissions */
    /* first deliveries that came after a later message of the same publisher
     * (so of the same topic), per subscriber; the ratio is over expected */
    uint64_t out_of_order;
    double out_of_order_ratio;
    uint64_t lost_by[MQ_LOSS__COUNT]; /* lost pairs by cause: they sum to lost */
    mq_conn_stats conn;           /* of the clients that carry this pair */
} mq_group_result;

typedef struct {
    uint64_t packets, bytes, resends;
} mq_wire_count;

/* Returns NULL when out of memory. */
mq_metrics *mq_metrics_new(void);
void mq_metrics_free(mq_metrics *m);

/* A message was published whose targets include n pairs in group (p, s). */
void mq_metrics_expect(mq_metrics *m, uint8_t p, uint8_t s, uint32_t n);

/* A delivery in group (p, s); first is true for the first delivery of the
 * (message, subscriber) pair, whose latency (ns) is recorded. O(1). */
void mq_metrics_delivery(mq_metrics *m, uint8_t p, uint8_t s, bool first, int64_t latency);

/* A packet put on the wire (lost or not). O(1). */
void mq_metrics_wire(mq_metrics *m, uint8_t type, uint8_t packet_qos, size_t bytes, bool resend);

/* Attributes `share` of one packet of `bytes` to group (p, s): a packet on a
 * subscriber's hop belongs wholly to the group of the flow it is part of; a
 * packet on a publisher's hop is shared among the groups of the publisher's
 * targets in proportion to their number. O(1). */
void mq_metrics_wire_group(mq_metrics *m, uint8_t p, uint8_t s, double share, size_t bytes,
                           bool resend);

/* A first delivery in group (p, s) that came after a later message of its
 * publisher had been delivered to that subscriber. O(1). */
void mq_metrics_out_of_order(mq_metrics *m, uint8_t p, uint8_t s);

/* One lost (message, subscriber) pair of group (p, s), charged to `cause`
 * (MQ_LOSS_LINK or MQ_LOSS_OF_DROP(reason)). O(1). */
void mq_metrics_lost(mq_metrics *m, uint8_t p, uint8_t s, int cause);

/* Adds a client's connection figures to group (p, s). O(1). */
void mq_metrics_conn_group(mq_metrics *m, uint8_t p, uint8_t s, const mq_conn_stats *c);

/* A frame lost on a link. */
void mq_metrics_link_loss(mq_metrics *m, uint8_t type);

void mq_metrics_drop(mq_metrics *m, mq_drop_reason why);
void mq_metrics_event(mq_metrics *m, mq_event ev);

/* Group (p, s) figures; see mq_group_result. */
void mq_metrics_group(const mq_metrics *m, uint8_t p, uint8_t s, mq_group_result *out);

/* Latency CDF of group (p, s): fills up to cap points (latency ms, fraction of
 * first deliveries at or below it), one per non-empty bin of a log-binned
 * histogram (1/40 decade), placed at the largest latency seen in the bin so
 * that the CDF is exact at every point it gives;
 * returns the number of points. */
size_t mq_metrics_cdf(const mq_metrics *m, uint8_t p, uint8_t s, double *ms, double *frac,
                      size_t cap);

const mq_wire_count *mq_metrics_wire_by_type(const mq_metrics *m, uint8_t type);
const mq_wire_count *mq_metrics_wire_by_flow(const mq_metrics *m, uint8_t flow);
uint64_t mq_metrics_link_losses(const mq_metrics *m);
uint64_t mq_metrics_drops(const mq_metrics *m, mq_drop_reason why);
uint64_t mq_metrics_events(const mq_metrics *m, mq_event ev);

/* The flow QoS a packet belongs to: a PUBLISH's own QoS, 1 for PUBACK, 2 for
 * PUBREC/PUBREL/PUBCOMP, MQ_FLOW_CONTROL otherwise. */
uint8_t mq_metrics_flow_of(uint8_t type, uint8_t packet_qos);

#endif
