/* MQTT topic names and filters: validation and matching with '+' and '#'. */
#ifndef MQ_TOPIC_H
#define MQ_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True if filter matches topic, following MQTT 3.1.1 section 4.7 (and 5.0
 * section 4.7): '#' matches the parent level and any number of child levels
 * ("sport/#" matches "sport"), '+' matches exactly one level, which may be
 * empty, and a filter starting with a wildcard does not match a topic starting
 * with '$'. Lengths are explicit; neither string needs a NUL. Both are meant
 * to be valid (see below); in an invalid filter a '+' or '#' that is not a
 * whole level is compared as a plain character. 5.0 shared subscriptions
 * ("$share/group/...") get no special treatment. Cost: O(flen + tlen). */
bool mq_topic_match(const char *filter, size_t flen, const char *topic, size_t tlen);

/* True for a valid topic name: 1 to 65535 bytes of well-formed UTF-8, no
 * U+0000, no '+' or '#'. Cost: O(len). */
bool mq_topic_name_valid(const char *topic, size_t len);

/* True for a valid topic filter: 1 to 65535 bytes of well-formed UTF-8, no
 * U+0000, '#' only as the whole last level, '+' only as a whole level.
 * Cost: O(len). */
bool mq_topic_filter_valid(const char *filter, size_t len);

/* pattern for member `index` of a group: "{i}" becomes the index in decimal,
 * "{{" and "}}" a literal brace. Writes at most cap bytes to buf (NUL
 * terminated when cap > 0; buf may be NULL when cap is 0) and returns the
 * expansion's length, or -1 when any other brace appears. Cost: O(len). */
int mq_topic_expand(const char *pattern, uint32_t index, char *buf, size_t cap);

#endif
