/* What the engine harnesses share: an input read as a program, short names, and the check of each packet sent. */
#ifndef TESTS_FUZZ_WIRE_H
#define TESTS_FUZZ_WIRE_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "models/codec.h"
#include "tests/fuzz/fuzz.h"

/* The input, read a byte at a time (zero once it is used up). */
typedef struct {
    const uint8_t *d;
    size_t n, pos;
    uint8_t *mat; /* a sent packet, materialised (wire_check_sent) */
    size_t mat_cap;
} wire_in;

static inline uint8_t wire_next(wire_in *w) { return w->pos < w->n ? w->d[w->pos++] : 0; }

static inline uint16_t wire_next16(wire_in *w)
{
    uint16_t hi = wire_next(w);
    return (uint16_t)(hi << 8 | wire_next(w));
}

/* A topic or filter of 1 to 6 characters from a small alphabet (so that
 * filters and topics match each other, and wildcards land anywhere). */
static inline uint16_t wire_name(wire_in *w, char *out)
{
    static const char alpha[] = "ab/+#";
    uint16_t n = (uint16_t)(1 + wire_next(w) % 6);
    for (uint16_t i = 0; i < n; i++)
        out[i] = alpha[wire_next(w) % 5];
    return n;
}

/* A packet an engine sent (buf[0..len) and `zeros` zero bytes, which it
 * says is v) must decode, whole and at its own length, under 3.1.1 or 5.0,
 * to that type, with its QoS, DUP flag and identifier. */
static inline void wire_check_sent(wire_in *w, const uint8_t *buf, size_t len, uint64_t zeros,
                                   const mq_view *v)
{
    if (v->type == MQ_PUBLISH)
        FUZZ_CHECK(v->qos <= 2 && (v->qos == 0 || v->id != 0));
    if (len + zeros > (1u << 22))
        return; /* not materialised; the inputs keep payloads far below */
    size_t total = len + (size_t)zeros;
    if (total > w->mat_cap) {
        uint8_t *nb = realloc(w->mat, total);
        FUZZ_CHECK(nb);
        w->mat = nb;
        w->mat_cap = total;
    }
    memcpy(w->mat, buf, len);
    memset(w->mat + len, 0, (size_t)zeros);
    bool ok = false;
    for (int k = 0; k < 2 && !ok; k++) {
        mq_packet p;
        size_t used = 0;
        memset(&p, 0, sizeof p);
        if (mq_codec_decode(w->mat, total, k ? MQ_V5 : MQ_V311, &p, &used) != MQ_OK ||
            used != total || p.type != v->type)
            continue;
        if (p.type == MQ_PUBLISH)
            ok = p.qos == v->qos && p.dup == v->dup && (p.qos == 0 || p.id == v->id);
        else if (p.type == MQ_PUBACK || p.type == MQ_PUBREC || p.type == MQ_PUBREL ||
                 p.type == MQ_PUBCOMP || p.type == MQ_SUBACK || p.type == MQ_UNSUBACK ||
                 p.type == MQ_SUBSCRIBE || p.type == MQ_UNSUBSCRIBE)
            ok = p.id == v->id;
        else
            ok = true;
    }
    FUZZ_CHECK(ok);
}

#endif
