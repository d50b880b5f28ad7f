/* The broker's subscription index: exact filters in a hash, wildcard filters in a topic tree. */
#ifndef MQ_SUBS_H
#define MQ_SUBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * An index of (subscriber, filter, QoS) triples that answers "who gets a
 * message on this topic, at which QoS" in O(topic levels + matching
 * subscriptions), however many subscribers and filters it holds.
 *
 * A subscriber is a 32-bit number the caller chooses (the broker uses its
 * client index); the index attaches no meaning to it except its order:
 * matches are reported in increasing subscriber order, which is what makes
 * a broker's forwarding order, and so a simulation, deterministic.
 *
 * Filters must be valid (mq_topic_filter_valid); matching follows
 * mq_topic_match exactly, including the parent-level '#' ("a/#" matches
 * "a"), empty levels and the '$' rule of MQTT 4.7.2.
 */

typedef struct mq_subs mq_subs;

enum { MQ_SUBS_ENOMEM = -32 /* the value of the session's MQ_ERR_NOMEM */ };

/* Called once per matching subscriber with the highest QoS among that
 * subscriber's matching filters. */
typedef void (*mq_subs_fn)(void *ctx, uint32_t sub, uint8_t qos);

/* Returns NULL when out of memory. */
mq_subs *mq_subs_new(void);
void mq_subs_free(mq_subs *x);

/* Subscribes sub to filter[0..len) at qos (0..2). An identical filter (byte
 * for byte) from the same subscriber has its QoS replaced (MQTT 3.8.4).
 * Returns 0 when added, 1 when replaced, MQ_SUBS_ENOMEM (index unchanged)
 * when out of memory. */
int mq_subs_add(mq_subs *x, uint32_t sub, const char *filter, size_t len, uint8_t qos);

/* Unsubscribes sub from filter[0..len) (UNSUBSCRIBE). Returns whether that
 * subscription existed. Never allocates. */
bool mq_subs_remove(mq_subs *x, uint32_t sub, const char *filter, size_t len);

/* Removes every filter of sub (its session ended) and returns how many.
 * Never allocates. */
size_t mq_subs_remove_all(mq_subs *x, uint32_t sub);

/* Calls fn(ctx, filter, len, qos) once for each of sub's filters, in no
 * particular order; filter[0..len) is valid only during the call. fn must
 * not change the index. Returns 0, or MQ_SUBS_ENOMEM (for the scratch
 * buffer filters are rebuilt in) having called fn for some. Cost: O(sub's
 * filters x their levels). */
typedef void (*mq_subs_each_fn)(void *ctx, const char *filter, size_t len, uint8_t qos);
int mq_subs_each(const mq_subs *x, uint32_t sub, mq_subs_each_fn fn, void *ctx);

/* Calls fn once for every subscriber with a filter matching topic[0..len),
 * in increasing subscriber order, and returns how many it called. topic may
 * be any bytes (it needs no NUL).
 *
 * The set is fixed before the first call of fn, so fn may add and remove
 * subscriptions and call mq_subs_match again (not free the index). A match
 * that is not inside another's fn never allocates and never fails; a nested
 * one may need room for its set and returns MQ_SUBS_ENOMEM, having called
 * nothing, if it cannot have it. */
int mq_subs_match(mq_subs *x, const char *topic, size_t len, mq_subs_fn fn, void *ctx);

/* Subscriptions held, subscribers holding at least one, and the bytes the
 * index has allocated (its own count of what it asked malloc for, without
 * the allocator's overhead). O(1). */
size_t mq_subs_count(const mq_subs *x);
size_t mq_subs_subscribers(const mq_subs *x);
size_t mq_subs_bytes(const mq_subs *x);

#endif
