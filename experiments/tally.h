/* Delivery accounting of runs on real sockets: message ids and publish times read from payloads, per (publisher, subscriber) pair, into run's metrics. */
#ifndef EXP_TALLY_H
#define EXP_TALLY_H

/*
 * Over real sockets a message carries its identity in its payload (the
 * first 16 bytes, big-endian): an 8-byte id, whose top 32 bits are its
 * publisher's prefix and whose low 32 bits count that publisher's messages
 * from 1, and the 8-byte CLOCK_MONOTONIC time it was published at. A tally
 * knows the publishers (prefix, topic, QoS, how many they published) and
 * the subscribers (their filters), and turns each delivery into what a
 * simulated run records, in an mq_metrics:
 *   - group (publish QoS, subscription QoS): the publisher's QoS and the
 *     highest QoS among the subscriber's filters matching its topic;
 *   - first delivery of the (message, subscriber) pair or a duplicate,
 *     from a bitmap of the publisher's sequence numbers per pair;
 *   - latency: delivery time minus the publish time in the payload;
 *   - out of order: a first delivery whose sequence number is below one
 *     already delivered to that subscriber from that publisher (one topic
 *     per publisher, so this is MQTT §4.6's ordered topic);
 *   - expected: every published message times every subscriber whose
 *     filters match its publisher's topic.
 * A delivery whose prefix is no known publisher's is counted as unknown,
 * one whose topic the subscriber's filters do not match as unmatched, and
 * one at a QoS other than min(publish QoS, subscription QoS) as a QoS
 * mismatch of its group: none of these is hidden in the groups' figures.
 *
 * Publishers and subscribers are all added before the first delivery.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "models/metrics.h"
#include "models/session.h"

typedef struct exp_tally exp_tally;

/* What a delivery was. */
typedef enum {
    EXP_TALLY_FIRST,      /* first delivery of the (message, subscriber) pair */
    EXP_TALLY_DUP,        /* a duplicate */
    EXP_TALLY_UNKNOWN,    /* no known publisher has the id's prefix, or seq 0 */
    EXP_TALLY_UNMATCHED,  /* the subscriber's filters do not match the publisher's topic */
} exp_tally_kind;

/* Figures the metrics do not hold. */
typedef struct {
    uint64_t out_of_order[3][3];  /* by (publish QoS, subscription QoS) */
    uint64_t qos_mismatch[3][3];  /* deliveries at a QoS other than min(p, s) */
    uint64_t unknown, unmatched;
} exp_tally_extra;

/* The prefix of a client id: FNV-1a, 32 bits (never 0). */
uint32_t exp_tally_prefix(const char *client_id);

/* Returns NULL when out of memory. */
exp_tally *exp_tally_new(void);
void exp_tally_free(exp_tally *t);

/* A publisher on topic at QoS qos whose message ids start with prefix.
 * Returns its index (0, 1, ...), -1 when out of memory, or -2 when another
 * publisher has that prefix already. O(publishers). */
int exp_tally_add_publisher(exp_tally *t, uint32_t prefix, const char *topic, uint8_t qos);

/* How many messages publisher pub published (ids prefix:1 .. prefix:n). */
void exp_tally_set_published(exp_tally *t, int pub, uint64_t n);

/* A subscriber with filters subs[0..n) (copied). Returns its index, or -1
 * when out of memory. */
int exp_tally_add_subscriber(exp_tally *t, const mq_sub *subs, size_t n);

/* A delivery of message msg_id to subscriber sub at the decoded QoS qos,
 * latency_ns after it was published; recorded in m (mq_metrics_delivery)
 * when it belongs to a group. Returns what it was, or -1 when out of memory
 * (nothing recorded). Cost: O(log publishers), amortised O(1) bitmap growth. */
int exp_tally_delivery(exp_tally *t, mq_metrics *m, int sub, uint64_t msg_id, uint8_t qos,
                       int64_t latency_ns);

/* Records in m what was expected: for every publisher's every message, each
 * matching subscriber in its group (mq_metrics_expect). Call once, at the
 * end. Cost: O(publishers x (subscribers + published)). */
void exp_tally_expect(const exp_tally *t, mq_metrics *m);

void exp_tally_extra_get(const exp_tally *t, exp_tally_extra *x);

/* The subscription QoS subscriber sub has for topic (the highest among its
 * matching filters), or -1 when none matches. O(filters x topic length). */
int exp_tally_sub_qos(const exp_tally *t, int sub, const char *topic, size_t len);

#endif
