/* MQTT topic names and filters: validation and matching with '+' and '#'. */
#ifndef MQ_TOPIC_H
#define MQ_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

/* True if filter matches topic, following MQTT 3.1.1 section 4.7 (and 5.0
 * section 4.7): '#' matches the parent level and any number of child levels
 * ("sport/#" matches "sport"), '+' matches exactly one level, which may be
 * empty, and a filter starting with a wildcard does not match a topic starting
 * with '$'. Lengths are explicit; neither string needs a NUL. */
bool mq_topic_match(const char *filter, size_t flen, const char *topic, size_t tlen);

/* True for a valid topic name (non-empty, no wildcards, no NUL). */
bool mq_topic_name_valid(const char *topic, size_t len);

/* True for a valid topic filter ('#' only last and alone in its level, '+'
 * alone in its level, non-empty, no NUL). */
bool mq_topic_filter_valid(const char *filter, size_t len);

#endif
