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
