/* UTF-8 Encoded Strings as MQTT requires them: validation only. */
#ifndef MQ_UTF8_H
#define MQ_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True if s[0..len) is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF) and contains no U+0000, as MQTT requires
 * of every UTF-8 Encoded String (3.1.1 §1.5.3, 5.0 §1.5.4). s needs no NUL;
 * len 0 is valid. Cost: O(len). */
bool mq_utf8_valid(const char *s, size_t len);

#endif
