/* MQTT topic names and filters: validation and matching with '+' and '#'. */
#include "models/topic.h"

#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "models/utf8.h"

/* Topic level by level (3.1.1 §4.7.1, 5.0 §4.7.1). A topic of n '/' has n+1
 * levels, any of them possibly empty; `t_done` says the topic has no level
 * left, which is what lets "sport/#" match "sport" while "sport/+" does not.
 * A '+' or '#' that is not a whole level is compared as an ordinary
 * character: callers validate filters first. Cost: O(flen + tlen). */
bool mq_topic_match(const char *filter, size_t flen, const char *topic, size_t tlen)
{
    /* §4.7.2: a filter starting with a wildcard does not match "$..." */
    if (tlen > 0 && topic[0] == '$' && flen > 0 && (filter[0] == '+' || filter[0] == '#'))
        return false;
    size_t fi = 0, ti = 0;
    bool t_done = false;
    for (;;) {
        const char *fs = filter + fi;
        const char *fslash = memchr(fs, '/', flen - fi);
        size_t fl = fslash ? (size_t)(fslash - fs) : flen - fi;
        if (fl == 1 && fs[0] == '#')
            return true; /* this level and any below, or none (the parent) */
        if (t_done)
            return false;
        const char *ts = topic + ti;
        const char *tslash = memchr(ts, '/', tlen - ti);
        size_t tl = tslash ? (size_t)(tslash - ts) : tlen - ti;
        if (tslash)
            ti += tl + 1;
        else
            t_done = true;
        if (!(fl == 1 && fs[0] == '+') && (fl != tl || memcmp(fs, ts, fl) != 0))
            return false;
        if (!fslash)
            return t_done;
        fi += fl + 1;
    }
}

bool mq_topic_name_valid(const char *topic, size_t len)
{
    if (len == 0 || len > UINT16_MAX)
        return false;
    /* One pass for the common case, ASCII: a NUL or a wildcard makes the
     * name invalid; only a byte from 0x80 up needs the UTF-8 check. */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)topic[i];
        if (c >= 0x80)
            break;
        if (c == 0 || c == '+' || c == '#')
            return false;
        if (i + 1 == len)
            return true;
    }
    if (!mq_utf8_valid(topic, len))
        return false;
    return !memchr(topic, '+', len) && !memchr(topic, '#', len);
}

bool mq_topic_filter_valid(const char *filter, size_t len)
{
    if (len == 0 || len > UINT16_MAX || !mq_utf8_valid(filter, len))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = filter[i];
        if (c != '+' && c != '#')
            continue;
        bool alone = (i == 0 || filter[i - 1] == '/') && (i + 1 == len || filter[i + 1] == '/');
        if (!alone || (c == '#' && i + 1 != len))
            return false;
    }
    return true;
}

int mq_topic_expand(const char *pattern, uint32_t index, char *buf, size_t cap)
{
    char num[16];
    int nl = snprintf(num, sizeof num, "%" PRIu32, index);
    size_t n = 0;
#define PUT(ch)              \
    do {                     \
        if (n + 1 < cap)     \
            buf[n] = (ch);   \
        n++;                 \
    } while (0)
    for (const char *p = pattern; *p; p++) {
        if (*p == '{' && p[1] == '{') {
            PUT('{');
            p++;
        } else if (*p == '{' && p[1] == 'i' && p[2] == '}') {
            for (int k = 0; k < nl; k++)
                PUT(num[k]);
            p += 2;
        } else if (*p == '}' && p[1] == '}') {
            PUT('}');
            p++;
        } else if (*p == '{' || *p == '}') {
            return -1;
        } else {
            PUT(*p);
        }
    }
#undef PUT
    if (cap)
        buf[n < cap ? n : cap - 1] = '\0';
    return n > INT_MAX ? -1 : (int)n;
}
