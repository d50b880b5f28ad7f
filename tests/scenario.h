/* Packet-level scenario harness: clients and a broker on scripted datagram links or byte streams, with a manual clock. */
#ifndef TESTS_SCENARIO_H
#define TESTS_SCENARIO_H

/*
 * A scenario is one broker and a few clients ("P", "S", ...). Each client's
 * session and its connection context at the broker are joined by two
 * directions ("P>B" and "B>P") of constant one-way delay H_DELAY, in order.
 *
 * Datagram clients (cfg.transport 0, the default) send each packet as one
 * frame. A test scripts the links: lose the n-th packet of a type on a
 * direction, or delay it (which reorders it behind later packets).
 *
 * Stream clients (cfg.transport MQ_TRANSPORT_STREAM) have a connection: the
 * client's io->open starts one, established H_DELAY later at both ends
 * ("P up"; the broker accepts a context then), or refused then
 * (h_refuse). Each write is one segment; segments arrive in order, and the
 * receiver gets the bytes in scripted chunk sizes (h_chunks: a packet split
 * across chunks, several packets in one chunk) or one call per segment.
 * Zero runs stay counts end to end (mq_session_on_zeros). A close by the
 * engine ("P close keepalive") reaches the peer as a FIN after the bytes
 * before it ("B down fin"); h_break breaks a connection at both ends or at
 * one end only (the other end is left half-open: what it sends is lost, and
 * it learns only by its own keepalive). Stream tags travel in a per-direction
 * FIFO of (stream offset, tag), as a stream host keeps them.
 *
 * The clock moves only from event to event: arrivals, opens, and timers at
 * exactly the deadline they asked for. Equal-time arrivals run in the order
 * they were sent; arrivals run before timers due at the same time.
 *
 * Everything observable is recorded in order: every packet a session hands
 * to its transport (decoded again from the bytes, so the record shows what
 * the wire says), each delivery to a client application, each drop, each
 * protocol event and each connection event. h_expect() compares the record,
 * rendered one line each, with the exact list a test expects, for example
 *
 *     "t0 P>B PUBLISH id1 q1 m1 LOST"
 *     "t100 P>B PUBLISH id1 q1 dup m1 (resend)"
 *     "t120 S got m1 q1"
 *
 * Times are ms since the last h_clear(). Messages are m1, m2, ...: a
 * measurement tag travels with each (a message the engine built from bytes
 * without a tag shows as "m?N", N from its payload's first 8 bytes). Each
 * tag counts its references, so a test can check that every one was
 * returned.
 *
 * Functions are static inline so that each test file may use any subset.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/broker.h"
#include "models/codec.h"
#include "models/session.h"

#define H_MS(x) ((int64_t)(x) * 1000000)
#define H_DELAY H_MS(10)
#define H_RETRY H_MS(100)
#define H_MAX_ENDS 16
#define H_MAX_RULES 16
#define H_MAX_CHUNKS 32

typedef struct h_net h_net;

/* A message's measurement tag. */
typedef struct {
    uint32_t refs;
    uint32_t freed;   /* times the last reference went */
    uint64_t id;
} h_msg;

/* Bytes arrived at a stream receiver, not yet handed in: a copy of a
 * segment's bytes, or a zero run. */
typedef struct {
    uint8_t *bytes;   /* NULL: `len` zeros */
    size_t len, off;
} h_piece;

/* A stream direction's tag FIFO entry: the tag of the PUBLISH written at
 * this stream offset. */
typedef struct {
    uint64_t offset, end; /* the PUBLISH's first byte, and one past its last */
    h_msg *tag;
} h_tagpos;

/* One direction of a stream connection (0: client to broker, 1: back). */
typedef struct {
    bool dead;         /* what is sent vanishes (a break) */
    bool closed;       /* its sender closed it (a FIN is on its way) */
    uint64_t tx_off;
    uint64_t rx_off;   /* bytes handed to the receiver */
    int64_t last_arrival;
    h_tagpos *tags;
    size_t n_tags, cap_tags;
    h_piece *rx;
    size_t n_rx, cap_rx;
} h_dir;

typedef struct h_bctx h_bctx;

/* One stream connection of a client, from its open on. */
typedef struct h_conn {
    struct h_conn *next_all;
    int client;        /* the client's end index */
    bool up[2];        /* [0]: the client's end is up; [1]: the broker's */
    h_dir d[2];
    h_bctx *bc;        /* the broker's context on it (once established) */
} h_conn;

typedef struct {
    h_net *h;
    int idx;
    char name[8];      /* "P" for a client's end, "B" for the broker's end */
    char id[16];       /* client end: its client id (its name unless set) */
    char dir[20];      /* direction of what this end sends: "P>B" or "B>P" */
    mq_session *s;     /* client end: its session; broker end: the current context's */
    int peer;          /* end index of the other side */
    bool broker_side;
    bool stream;
    uint8_t version;
    int64_t timer_at;  /* client end's timer */
    int connected, subscribed;
    bool present;      /* last connected's session present */
    uint8_t codes[MQ_MAX_TOPICS];
    size_t n_codes;
    h_msg *rx_tag;     /* datagram: the tag of the frame being handed in */
    h_conn *conn;      /* client end, stream: the current connection */
    h_bctx *bc;        /* broker end: the current connection's context */
    int refuse;        /* client end: opens still to refuse */
    size_t chunks[H_MAX_CHUNKS]; /* scripted chunk sizes for what this end receives */
    size_t n_chunks, next_chunk;
} h_end;

/* One broker context (the io ctx the broker calls back with); it belongs to
 * broker end `end` and, for a stream, to connection `conn`. A half-open old
 * context lives on beside its client's new connection. */
struct h_bctx {
    h_net *h;
    h_end *end;
    h_conn *conn;      /* NULL for a datagram context */
    mq_session *s;     /* NULL once the broker has let it go */
    int64_t timer_at;
    h_msg *rx_tag;
    h_bctx *next_all;
};

enum { H_SEND, H_GOT, H_DROP, H_EVENT, H_CONNECTED, H_SUBSCRIBED, H_OPEN, H_UP, H_REFUSED,
       H_CLOSE, H_DOWN };

typedef struct {
    int kind;
    int64_t t;         /* ns since the last h_clear */
    int end;
    uint8_t type, qos;
    uint16_t id;
    bool dup, resend, lost, tagged, retain, body;
    int64_t extra;     /* H_SEND: extra delay given by a rule */
    uint64_t msg;      /* 0: none */
    int why;           /* drop reason, event, close or down cause */
    size_t bytes;
    uint64_t zeros;
} h_rec;

enum { HE_FRAME, HE_SEG, HE_FIN, HE_OPEN };

typedef struct {
    int64_t at;
    uint64_t seq;
    int kind;
    int to;            /* datagram frame: end index */
    h_bctx *bc;        /* datagram frame to the broker: its context */
    h_conn *conn;      /* stream events */
    int d;             /* stream: the direction */
    uint8_t *bytes;
    size_t len;
    uint64_t zeros;
    h_msg *tag;        /* datagram frame's tag (a reference) */
} h_frame;

typedef struct {
    char dir[20];
    uint8_t type;
    uint16_t id;       /* 0: any */
    int nth;           /* 1-based among matching packets; 0: every one */
    int64_t extra;     /* 0: lose it; > 0: delay it this much more */
    int seen;
} h_rule;

struct h_net {
    int64_t now, base;
    mq_broker *b;
    mq_session_config bcfg;
    int64_t btimer_at;
    h_end e[H_MAX_ENDS];
    int n_ends;
    h_bctx *bcs;       /* every broker context ever accepted */
    h_conn *conns;     /* every stream connection ever opened */
    h_frame *heap;
    size_t n_heap, cap_heap;
    uint64_t seq;
    h_rec *rec;
    size_t n_rec, cap_rec;
    h_rule rules[H_MAX_RULES];
    int n_rules;
    h_msg *msgs;
    size_t n_msgs, cap_msgs;
    int last_rc;       /* mq_session_publish's answer to the last h_publish */
    uint32_t payload_len; /* of what h_make builds (8) */
    double (*random)(void *ctx); /* clients' jitter source (NULL: none) */
    void *random_ctx;
    bool check;        /* run mq_session_check after every step */
    /* Optional, datagrams: lose this packet? (after the scripted rules) */
    bool (*lose)(void *ctx, const char *dir, const mq_view *v);
    void *lose_ctx;
    size_t max_rx_held; /* the most a stream receiver held for an unfinished packet */
    uint8_t got_payload[64]; /* the first bytes of the last delivery's payload */
};

/* ---- configs ------------------------------------------------------------ */

static inline mq_session_config h_cfg(uint8_t version, mq_qos2_method method)
{
    mq_session_config c = {
        .role = MQ_ROLE_CLIENT, .version = version, .client_id = NULL,
        .max_inflight = 0, .max_queued = 0, .retry_interval = H_RETRY,
        .max_retries = -1, .qos2_method = method,
    };
    return c;
}

/* A stream client: keepalive off, a kept session, reconnect 1 s doubling to
 * 8 s, no jitter (each can be changed after). */
static inline mq_session_config h_stream_cfg(uint8_t version, mq_qos2_method method)
{
    mq_session_config c = h_cfg(version, method);
    c.transport = MQ_TRANSPORT_STREAM;
    c.clean_start = false;
    c.session_expiry_s = version == MQ_V5 ? 3600 : 0;
    c.reconnect_initial = H_MS(1000);
    c.reconnect_max = H_MS(8000);
    return c;
}

/* ---- events: a binary min-heap on (time, send order) -------------------- */

static inline bool h_before(const h_frame *a, const h_frame *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static inline void h_push(h_net *h, h_frame f)
{
    if (h->n_heap == h->cap_heap) {
        h->cap_heap = h->cap_heap ? 2 * h->cap_heap : 64;
        h->heap = realloc(h->heap, h->cap_heap * sizeof *h->heap);
        assert_non_null(h->heap);
    }
    f.seq = h->seq++;
    size_t i = h->n_heap++;
    while (i > 0 && h_before(&f, &h->heap[(i - 1) / 2])) {
        h->heap[i] = h->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->heap[i] = f;
}

static inline h_frame h_pop(h_net *h)
{
    h_frame top = h->heap[0];
    h_frame last = h->heap[--h->n_heap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n_heap)
            break;
        if (c + 1 < h->n_heap && h_before(&h->heap[c + 1], &h->heap[c]))
            c++;
        if (!h_before(&h->heap[c], &last))
            break;
        h->heap[i] = h->heap[c];
        i = c;
    }
    if (h->n_heap)
        h->heap[i] = last;
    return top;
}

/* ---- tags --------------------------------------------------------------- */

static inline void h_tag_ref(void *t)
{
    ((h_msg *)t)->refs++;
}

static inline void h_tag_unref(void *t)
{
    h_msg *m = t;
    assert_true(m->refs > 0);
    if (--m->refs == 0)
        m->freed++;
}

static const mq_tag_ops h_tag_ops = {h_tag_ref, h_tag_unref};

static inline void h_event_free(h_frame *f)
{
    if (f->tag)
        h_tag_unref(f->tag);
    free(f->bytes);
}

/* The message number a PUBLISH's payload carries (first 8 bytes). */
static inline uint64_t h_payload_id(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = v << 8 | (i < n ? p[i] : 0);
    return v;
}

/* ---- recording ---------------------------------------------------------- */

static inline h_rec *h_add_rec(h_net *h, int kind, int end)
{
    if (h->n_rec == h->cap_rec) {
        h->cap_rec = h->cap_rec ? 2 * h->cap_rec : 256;
        h->rec = realloc(h->rec, h->cap_rec * sizeof *h->rec);
        assert_non_null(h->rec);
    }
    h_rec *r = &h->rec[h->n_rec++];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->t = h->now - h->base;
    r->end = end;
    return r;
}

/* ---- streams -------------------------------------------------------------- */

static inline void h_dir_clear(h_dir *d)
{
    for (size_t i = 0; i < d->n_tags; i++)
        h_tag_unref(d->tags[i].tag);
    d->n_tags = 0;
    for (size_t i = 0; i < d->n_rx; i++)
        free(d->rx[i].bytes);
    d->n_rx = 0;
}

static inline h_conn *h_conn_new(h_net *h, int client)
{
    h_conn *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->client = client;
    c->next_all = h->conns;
    h->conns = c;
    return c;
}

/* Once neither end of c is up, nothing more is delivered on it: what its
 * directions still hold (tags of PUBLISHes that never arrived) goes. */
static inline void h_conn_check_dead(h_conn *c)
{
    if (!c->up[0] && !c->up[1]) {
        h_dir_clear(&c->d[0]);
        h_dir_clear(&c->d[1]);
    }
}

/* The stream receiving end of direction d of c is still there. */
static inline bool h_receiver_up(const h_conn *c, int d)
{
    return c->up[d == 0 ? 1 : 0];
}

/* ---- session callbacks -------------------------------------------------- */

/* Records what a session sent (decoded again from the bytes) and carries it:
 * a datagram frame to `to` (or to broker context bc), or a segment on
 * direction d of conn. */
static inline void h_send_(h_net *h, h_end *e, h_conn *conn, int d, int to, h_bctx *to_bc,
                           const uint8_t *buf, size_t len, uint64_t zeros, const mq_view *v,
                           mq_msg *m, bool resend)
{
    h_rec *r = h_add_rec(h, H_SEND, e->idx);
    r->type = v->type;
    r->bytes = len + zeros;
    r->zeros = zeros;
    r->resend = resend;
    if (buf[0] >> 4 == MQ_PUBLISH) {
        mq_pubhead ph;
        size_t need;
        assert_int_equal(mq_codec_publish_head(buf, len, e->version, &ph, &need), MQ_OK);
        assert_int_equal(ph.total, len + zeros);
        assert_non_null(m);
        assert_int_equal(ph.qos, v->qos);
        assert_int_equal(ph.dup, v->dup);
        assert_int_equal(ph.id, v->id);
        assert_int_equal(ph.topic.len, m->topic_len);
        assert_memory_equal(ph.topic.s, m->topic, m->topic_len);
        assert_int_equal(ph.payload_len, m->payload_len);
        r->id = ph.id;
        r->qos = ph.qos;
        r->dup = ph.dup;
        r->tagged = m->tag != NULL;
        r->msg = m->tag ? ((h_msg *)m->tag)->id
                        : h_payload_id(buf + ph.payload_off, len - ph.payload_off);
    } else {
        mq_packet w;
        size_t used = 0;
        assert_int_equal(zeros, 0);
        assert_int_equal(mq_codec_decode(buf, len, e->version, &w, &used), MQ_OK);
        assert_int_equal(used, len);
        assert_int_equal(w.type, v->type);
        assert_int_equal(w.id, v->id);
        assert_null(m);
        r->id = w.id;
        if (w.type == MQ_CONNACK)
            r->why = w.reason; /* shown when it refuses */
    }
    h_msg *tag = m ? m->tag : NULL;
    int64_t extra = 0;
    bool lose = false;
    for (int i = 0; i < h->n_rules; i++) {
        h_rule *u = &h->rules[i];
        if (strcmp(u->dir, e->dir) != 0 || u->type != v->type || (u->id && u->id != v->id))
            continue;
        u->seen++;
        if (u->nth && u->seen != u->nth)
            continue;
        if (u->extra)
            extra += u->extra;
        else
            lose = true;
    }
    if (!conn && !lose && h->lose && h->lose(h->lose_ctx, e->dir, v))
        lose = true;
    r->extra = extra;
    if (conn) {
        h_dir *dd = &conn->d[d];
        if (dd->dead || dd->closed || !h_receiver_up(conn, d)) {
            r->lost = true; /* into a connection that is gone */
            return;
        }
        assert_false(lose); /* a stream loses nothing: break it instead */
        if (tag) {
            if (dd->n_tags == dd->cap_tags) {
                dd->cap_tags = dd->cap_tags ? 2 * dd->cap_tags : 16;
                dd->tags = realloc(dd->tags, dd->cap_tags * sizeof *dd->tags);
                assert_non_null(dd->tags);
            }
            h_tag_ref(tag);
            dd->tags[dd->n_tags++] = (h_tagpos){dd->tx_off, dd->tx_off + len + zeros, tag};
        }
        dd->tx_off += len + zeros;
        int64_t at = h->now + H_DELAY + extra;
        if (at < dd->last_arrival)
            at = dd->last_arrival; /* a byte stream is in order */
        dd->last_arrival = at;
        h_frame f = {.at = at, .kind = HE_SEG, .conn = conn, .d = d,
                     .bytes = malloc(len ? len : 1), .len = len, .zeros = zeros};
        assert_non_null(f.bytes);
        memcpy(f.bytes, buf, len);
        h_push(h, f);
        return;
    }
    r->lost = lose;
    if (lose)
        return;
    h_frame f = {.at = h->now + H_DELAY + extra, .kind = HE_FRAME, .to = to, .bc = to_bc,
                 .bytes = malloc(len ? len : 1), .len = len, .zeros = zeros, .tag = tag};
    assert_non_null(f.bytes);
    memcpy(f.bytes, buf, len);
    if (tag)
        h_tag_ref(tag); /* a frame in transit holds the tag */
    h_push(h, f);
}

static inline void h_io_send(void *ctx, const uint8_t *buf, size_t len, uint64_t zeros,
                             const mq_view *v, mq_msg *m, bool resend)
{
    h_end *e = ctx;
    h_net *h = e->h;
    h_send_(h, e, e->stream ? e->conn : NULL, 0, e->peer, h->e[e->peer].bc, buf, len, zeros, v,
            m, resend);
}

static inline void hb_send(void *ctx, const uint8_t *buf, size_t len, uint64_t zeros,
                           const mq_view *v, mq_msg *m, bool resend)
{
    h_bctx *bc = ctx;
    h_send_(bc->h, bc->end, bc->conn, 1, bc->end->peer, NULL, buf, len, zeros, v, m, resend);
}

static inline void h_io_deliver(void *ctx, int64_t now, mq_msg *m, const mq_view *v)
{
    h_end *e = ctx;
    assert_int_equal(now, e->h->now);
    assert_true(m->refs > 0);
    assert_int_equal(v->type, MQ_PUBLISH);
    h_rec *r = h_add_rec(e->h, H_GOT, e->idx);
    r->tagged = m->tag != NULL;
    r->msg = m->tag ? ((h_msg *)m->tag)->id : h_payload_id(mq_msg_head(m), m->head_len);
    r->qos = v->qos;
    r->dup = v->dup;
    r->retain = v->retain;
    r->id = v->id;
    r->bytes = m->payload_len;
    r->body = m->has_body;
    size_t n = m->payload_len < sizeof e->h->got_payload ? m->payload_len
                                                         : sizeof e->h->got_payload;
    mq_msg_payload(m, 0, e->h->got_payload, n);
}

static inline void h_timer_(h_net *h, int64_t *slot, int64_t at)
{
    assert_true(at == MQ_NEVER || at >= h->now);
    assert_int_not_equal(at, *slot); /* only changes are reported */
    *slot = at;
}

static inline void h_io_timer(void *ctx, int64_t at)
{
    h_end *e = ctx;
    h_timer_(e->h, &e->timer_at, at);
}

static inline void hb_timer(void *ctx, int64_t at)
{
    h_bctx *bc = ctx;
    h_timer_(bc->h, &bc->timer_at, at);
}

static inline void h_drop_(h_net *h, h_end *e, mq_msg *m, uint8_t qos, mq_drop_reason why)
{
    if (m)
        assert_true(m->refs > 0);
    h_rec *r = h_add_rec(h, H_DROP, e->idx);
    r->tagged = m && m->tag;
    r->msg = m ? (m->tag ? ((h_msg *)m->tag)->id : h_payload_id(mq_msg_head(m), m->head_len)) : 0;
    r->qos = qos;
    r->why = why;
}

static inline void h_io_drop(void *ctx, mq_msg *m, uint8_t qos, mq_drop_reason why)
{
    h_end *e = ctx;
    h_drop_(e->h, e, m, qos, why);
}

static inline void h_event_(h_net *h, h_end *e, mq_event ev, const mq_view *v)
{
    h_rec *r = h_add_rec(h, H_EVENT, e->idx);
    r->why = ev;
    if (v) {
        r->type = v->type;
        r->id = v->id;
    }
}

static inline void h_io_event(void *ctx, mq_event ev, const mq_view *v)
{
    h_end *e = ctx;
    h_event_(e->h, e, ev, v);
}

static inline void hb_event(void *ctx, mq_event ev, const mq_view *v)
{
    h_bctx *bc = ctx;
    h_event_(bc->h, bc->end, ev, v);
}

static inline void h_io_connected(void *ctx, bool present)
{
    h_end *e = ctx;
    e->connected++;
    e->present = present;
    h_rec *r = h_add_rec(e->h, H_CONNECTED, e->idx);
    r->why = present;
}

static inline void h_io_subscribed(void *ctx, const uint8_t *codes, size_t n)
{
    h_end *e = ctx;
    e->subscribed++;
    assert_true(n <= MQ_MAX_TOPICS);
    memcpy(e->codes, codes, n);
    e->n_codes = n;
    h_rec *r = h_add_rec(e->h, H_SUBSCRIBED, e->idx);
    r->why = n ? codes[0] : -1;
}

/* The client asks for a transport: established (or refused) H_DELAY later. */
static inline void h_io_open(void *ctx, int64_t now)
{
    h_end *e = ctx;
    h_net *h = e->h;
    assert_int_equal(now, h->now);
    assert_false(e->broker_side);
    h_add_rec(h, H_OPEN, e->idx);
    e->conn = h_conn_new(h, e->idx);
    h_frame f = {.at = now + H_DELAY, .kind = HE_OPEN, .conn = e->conn};
    h_push(h, f);
}

/* An engine closes its end of conn (direction d is what it sends): the
 * peer learns by a FIN after the bytes in flight, unless that direction is
 * dead (a break) or the peer is gone already. */
static inline void h_close_(h_net *h, h_end *e, h_conn *conn, int d, mq_close_cause why)
{
    h_rec *r = h_add_rec(h, H_CLOSE, e->idx);
    r->why = why;
    if (!conn)
        return;
    conn->up[d] = false; /* d 0 is the client's end, 1 the broker's */
    h_dir *dd = &conn->d[d];
    if (!dd->dead && !dd->closed && h_receiver_up(conn, d)) {
        int64_t at = h->now + H_DELAY;
        if (at < dd->last_arrival)
            at = dd->last_arrival;
        h_frame f = {.at = at, .kind = HE_FIN, .conn = conn, .d = d};
        h_push(h, f);
    }
    dd->closed = true;
    h_conn_check_dead(conn);
}

static inline void h_io_close(void *ctx, int64_t now, mq_close_cause why)
{
    h_end *e = ctx;
    assert_int_equal(now, e->h->now);
    h_close_(e->h, e, e->conn, 0, why);
}

static inline void hb_close(void *ctx, int64_t now, mq_close_cause why)
{
    h_bctx *bc = ctx;
    assert_int_equal(now, bc->h->now);
    h_close_(bc->h, bc->end, bc->conn, 1, why);
    bc->s = NULL; /* the broker has it now */
    bc->timer_at = MQ_NEVER;
    if (bc->end->bc == bc)
        bc->end->s = NULL;
}

/* Stream receivers: the tag of the PUBLISH at rx_offset of direction d. */
static inline void *h_tag_at(h_dir *dd, uint64_t rx_offset)
{
    size_t k = 0;
    while (k < dd->n_tags && dd->tags[k].offset < rx_offset)
        h_tag_unref(dd->tags[k++].tag); /* passed without being asked for */
    if (k)
        memmove(dd->tags, dd->tags + k, (dd->n_tags - k) * sizeof *dd->tags);
    dd->n_tags -= k;
    return dd->n_tags && dd->tags[0].offset == rx_offset ? dd->tags[0].tag : NULL;
}

static inline void *h_io_tag(void *ctx, uint64_t rx_offset)
{
    h_end *e = ctx;
    return e->stream ? h_tag_at(&e->conn->d[1], rx_offset) : e->rx_tag;
}

static inline void *hb_tag(void *ctx, uint64_t rx_offset)
{
    h_bctx *bc = ctx;
    return bc->conn ? h_tag_at(&bc->conn->d[0], rx_offset) : bc->rx_tag;
}

static inline double h_io_random(void *ctx)
{
    h_end *e = ctx;
    return e->h->random(e->h->random_ctx);
}

static inline mq_session_io h_io(h_end *e)
{
    mq_session_io io = {
        .ctx = e, .send = h_io_send, .deliver = h_io_deliver, .timer = h_io_timer,
        .drop = h_io_drop, .event = h_io_event, .connected = h_io_connected,
        .subscribed = h_io_subscribed, .open = h_io_open, .close = h_io_close,
        .tag = h_io_tag, .tag_ops = &h_tag_ops,
    };
    if (e->h->random)
        io.random = h_io_random;
    return io;
}

static inline void h_bio_timer(void *ctx, int64_t at)
{
    h_net *h = ctx;
    h->btimer_at = at;
}

/* Broker drops come with the session's user pointer: the broker context
 * that made the session (its io ctx), whose end names the client. */
static inline void h_bio_drop(void *ctx, void *user, mq_msg *m, uint8_t qos, mq_drop_reason why)
{
    h_bctx *bc = user;
    h_drop_(ctx, bc->end, m, qos, why);
}

/* ---- building a network ------------------------------------------------- */

/* A broker configured by bcfg (role forced to broker), no clients yet, room
 * for max_msgs messages. */
static inline h_net *h_new(const mq_session_config *bcfg, size_t max_msgs)
{
    h_net *h = calloc(1, sizeof *h);
    assert_non_null(h);
    h->bcfg = *bcfg;
    h->btimer_at = MQ_NEVER;
    h->payload_len = 8;
    mq_broker_io bio = {.ctx = h, .drop = h_bio_drop, .timer = h_bio_timer};
    h->b = mq_broker_new(bcfg, &bio);
    assert_non_null(h->b);
    h->cap_msgs = max_msgs;
    h->msgs = calloc(max_msgs ? max_msgs : 1, sizeof *h->msgs);
    assert_non_null(h->msgs);
    return h;
}

/* The broker accepts a transport for broker end b (conn: its connection). */
static inline h_bctx *h_accept(h_net *h, h_end *b, h_conn *conn)
{
    h_bctx *bc = calloc(1, sizeof *bc);
    assert_non_null(bc);
    bc->h = h;
    bc->end = b;
    bc->conn = conn;
    bc->timer_at = MQ_NEVER;
    bc->next_all = h->bcs;
    h->bcs = bc;
    mq_session_io io = {
        .ctx = bc, .send = hb_send, .timer = hb_timer, .event = hb_event, .close = hb_close,
        .tag = hb_tag, .tag_ops = &h_tag_ops,
    };
    b->bc = bc;
    bc->s = mq_broker_accept(h->b, h->now,
                             conn ? MQ_TRANSPORT_STREAM : MQ_TRANSPORT_DATAGRAM, &io);
    assert_non_null(bc->s);
    b->s = bc->s;
    if (conn)
        conn->bc = bc;
    return bc;
}

/* Adds client `name` with session config cfg (role forced to client). A
 * datagram client's context at the broker is accepted at once. Returns the
 * client's end index; the broker's end is that index + 1. */
static inline int h_client(h_net *h, const char *name, const mq_session_config *cfg)
{
    assert_true(h->n_ends + 2 <= H_MAX_ENDS);
    h_end *c = &h->e[h->n_ends], *b = &h->e[h->n_ends + 1];
    memset(c, 0, sizeof *c);
    memset(b, 0, sizeof *b);
    c->h = b->h = h;
    c->idx = h->n_ends;
    b->idx = h->n_ends + 1;
    c->peer = b->idx;
    b->peer = c->idx;
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(b->name, sizeof b->name, "B");
    snprintf(c->dir, sizeof c->dir, "%s>B", name);
    snprintf(b->dir, sizeof b->dir, "B>%s", name);
    c->timer_at = b->timer_at = MQ_NEVER;
    c->version = cfg->version;
    b->version = h->bcfg.version;
    b->broker_side = true;
    c->stream = b->stream = cfg->transport == MQ_TRANSPORT_STREAM;
    mq_session_config cc = *cfg;
    cc.role = MQ_ROLE_CLIENT;
    if (!cc.client_id)
        cc.client_id = c->name; /* a client id of its own unless cfg names one */
    snprintf(c->id, sizeof c->id, "%s", cc.client_id);
    mq_session_io io = h_io(c);
    c->s = mq_session_new(&cc, &io);
    assert_non_null(c->s);
    h->n_ends += 2;
    if (!c->stream)
        h_accept(h, b, NULL);
    return c->idx;
}

static inline h_end *h_find(h_net *h, const char *name)
{
    for (int i = 0; i < h->n_ends; i += 2)
        if (strcmp(h->e[i].name, name) == 0)
            return &h->e[i];
    fail_msg("no client %s", name);
    return NULL;
}

/* The broker's context holding client `name`'s session (with a connection or
 * not), or else its current connection's context (NULL: none). */
static inline mq_session *h_bsess(h_net *h, const char *name)
{
    h_end *c = h_find(h, name);
    const char *id = c->id;
    mq_session *s = mq_broker_find(h->b, id, strlen(id));
    return s ? s : h->e[c->peer].s;
}

static inline mq_session *h_csess(h_net *h, const char *name)
{
    return h_find(h, name)->s;
}

/* ---- scripting the links ------------------------------------------------ */

static inline void h_rule_add(h_net *h, const char *dir, uint8_t type, uint16_t id, int nth,
                              int64_t extra)
{
    assert_true(h->n_rules < H_MAX_RULES);
    h_rule *u = &h->rules[h->n_rules++];
    memset(u, 0, sizeof *u);
    snprintf(u->dir, sizeof u->dir, "%s", dir);
    u->type = type;
    u->id = id;
    u->nth = nth;
    u->extra = extra;
}

/* Lose the nth (1-based, counted from now on; 0: every) packet of `type`
 * sent on direction dir ("P>B", "B>S", ...). Datagrams only. */
static inline void h_lose(h_net *h, const char *dir, uint8_t type, int nth)
{
    h_rule_add(h, dir, type, 0, nth, 0);
}

/* Delay the nth packet of `type` on dir by extra_ms more than the link delay
 * (a stream keeps its order: what follows waits behind it). */
static inline void h_delay(h_net *h, const char *dir, uint8_t type, int nth, int extra_ms)
{
    h_rule_add(h, dir, type, 0, nth, H_MS(extra_ms));
}

/* The receiving end of direction dir gets its stream bytes in these chunk
 * sizes from now on (then all it has, at each arrival). */
static inline void h_chunks(h_net *h, const char *dir, const size_t *sizes, size_t n)
{
    assert_true(n <= H_MAX_CHUNKS);
    for (int i = 0; i < h->n_ends; i++)
        if (strcmp(h->e[i].dir, dir) == 0) {
            h_end *to = &h->e[h->e[i].peer];
            memcpy(to->chunks, sizes, n * sizeof *sizes);
            to->n_chunks = n;
            to->next_chunk = 0;
            return;
        }
    fail_msg("no direction %s", dir);
}

/* The next n opens of client `name` are refused (H_DELAY after the open). */
static inline void h_refuse(h_net *h, const char *name, int n)
{
    h_find(h, name)->refuse = n;
}

/* Who learns of a break at once: the client's end, the broker's, both, or
 * neither (a silent break: an outage, a lost NAT mapping). */
enum { H_NEITHER = 0, H_CLIENT_ONLY = 1, H_BROKER_ONLY = 2, H_BOTH = 3 };

/* Breaks client `name`'s current stream connection now: the bytes in flight
 * are lost both ways and nothing more gets through; `who` learns at once
 * (on_down with `why`); an end left out stays half-open and learns only by
 * itself (its keepalive). */
static inline void h_break(h_net *h, const char *name, int who, mq_down_cause why)
{
    h_end *c = h_find(h, name), *b = &h->e[c->peer];
    h_conn *conn = c->conn;
    assert_true(c->stream && conn);
    conn->d[0].dead = conn->d[1].dead = true;
    h_dir_clear(&conn->d[0]);
    h_dir_clear(&conn->d[1]);
    if ((who & H_CLIENT_ONLY) && conn->up[0]) {
        conn->up[0] = false;
        h_rec *r = h_add_rec(h, H_DOWN, c->idx);
        r->why = why;
        mq_session_on_down(c->s, h->now, why);
    }
    h_bctx *bc = conn->bc;
    if ((who & H_BROKER_ONLY) && conn->up[1] && bc && bc->s) {
        conn->up[1] = false;
        h_rec *r = h_add_rec(h, H_DOWN, b->idx);
        r->why = why;
        mq_session *s = bc->s;
        bc->s = NULL;
        bc->timer_at = MQ_NEVER;
        if (b->bc == bc)
            b->s = NULL;
        mq_broker_conn_down(h->b, s, h->now, why);
    }
    h_conn_check_dead(conn);
}

/* ---- running ------------------------------------------------------------ */

static inline void h_rx_push(h_dir *dd, uint8_t *bytes, size_t len)
{
    if (dd->n_rx == dd->cap_rx) {
        dd->cap_rx = dd->cap_rx ? 2 * dd->cap_rx : 16;
        dd->rx = realloc(dd->rx, dd->cap_rx * sizeof *dd->rx);
        assert_non_null(dd->rx);
    }
    dd->rx[dd->n_rx++] = (h_piece){bytes, len, 0};
}

/* Hands what arrived on direction d of conn to its receiver, in the
 * receiving end's scripted chunk sizes (then all there is). Stops when the
 * receiver's connection ends. */
static inline void h_rx_deliver(h_net *h, h_conn *conn, int d)
{
    h_dir *dd = &conn->d[d];
    h_end *e = d == 0 ? &h->e[conn->client + 1] : &h->e[conn->client];
    for (;;) {
        size_t avail = 0;
        for (size_t i = 0; i < dd->n_rx; i++)
            avail += dd->rx[i].len - dd->rx[i].off;
        if (avail == 0)
            return;
        size_t want = avail;
        if (e->next_chunk < e->n_chunks) {
            want = e->chunks[e->next_chunk];
            if (avail < want)
                return;
            e->next_chunk++;
        }
        while (want > 0) {
            if (!h_receiver_up(conn, d) || (d == 0 && !conn->bc->s))
                return; /* the engine closed: the rest goes with the connection */
            h_piece *p = &dd->rx[0];
            size_t k = p->len - p->off < want ? p->len - p->off : want;
            if (d == 0 && p->bytes)
                mq_broker_conn_bytes(h->b, conn->bc->s, h->now, p->bytes + p->off, k);
            else if (d == 0)
                mq_broker_conn_zeros(h->b, conn->bc->s, h->now, k);
            else if (p->bytes)
                mq_session_on_bytes(e->s, h->now, p->bytes + p->off, k);
            else
                mq_session_on_zeros(e->s, h->now, k);
            mq_session *rs = d == 0 ? conn->bc->s : e->s;
            if (rs && mq_session_rx_held(rs) > h->max_rx_held)
                h->max_rx_held = mq_session_rx_held(rs);
            dd->rx_off += k;
            /* A PUBLISH handed in whole has been decoded: its tag is done. */
            size_t done = 0;
            while (done < dd->n_tags && dd->tags[done].end <= dd->rx_off)
                h_tag_unref(dd->tags[done++].tag);
            if (done)
                memmove(dd->tags, dd->tags + done, (dd->n_tags - done) * sizeof *dd->tags);
            dd->n_tags -= done;
            if (dd->n_rx == 0)
                return; /* cleared by a break from inside */
            p = &dd->rx[0];
            p->off += k;
            want -= k;
            if (p->off == p->len) {
                free(p->bytes);
                memmove(dd->rx, dd->rx + 1, (dd->n_rx - 1) * sizeof *dd->rx);
                dd->n_rx--;
            }
        }
    }
}

static inline void h_established(h_net *h, h_conn *conn)
{
    h_end *c = &h->e[conn->client];
    if (c->conn != conn)
        return; /* superseded */
    if (c->refuse > 0) {
        c->refuse--;
        h_rec *r = h_add_rec(h, H_REFUSED, c->idx);
        r->why = MQ_DOWN_REFUSED;
        mq_session_on_down(c->s, h->now, MQ_DOWN_REFUSED);
        return;
    }
    conn->up[0] = conn->up[1] = true;
    h_add_rec(h, H_UP, c->idx);
    h_accept(h, &h->e[c->peer], conn);
    mq_session_on_up(c->s, h->now);
}

static inline void h_fire_frame(h_net *h)
{
    h_frame f = h_pop(h);
    assert_true(f.at >= h->now);
    h->now = f.at;
    switch (f.kind) {
    case HE_FRAME: {
        h_end *e = &h->e[f.to];
        if (e->broker_side) {
            h_bctx *bc = f.bc;
            bc->rx_tag = f.tag;
            mq_broker_conn_frame(h->b, bc->s, h->now, f.bytes, f.len, f.zeros);
            bc->rx_tag = NULL;
        } else {
            e->rx_tag = f.tag;
            mq_session_on_frame(e->s, h->now, f.bytes, f.len, f.zeros);
            e->rx_tag = NULL;
        }
        break;
    }
    case HE_OPEN:
        h_established(h, f.conn);
        break;
    case HE_SEG: {
        h_dir *dd = &f.conn->d[f.d];
        if (dd->dead || !h_receiver_up(f.conn, f.d))
            break;
        h_rx_push(dd, f.bytes, f.len);
        f.bytes = NULL;
        if (f.zeros)
            h_rx_push(dd, NULL, f.zeros);
        h_rx_deliver(h, f.conn, f.d);
        break;
    }
    case HE_FIN: {
        h_conn *conn = f.conn;
        int rd = f.d == 0 ? 1 : 0; /* the receiving end */
        if (conn->d[f.d].dead || !conn->up[rd])
            break;
        conn->up[rd] = false;
        if (rd == 1) {
            h_bctx *bc = conn->bc;
            h_rec *r = h_add_rec(h, H_DOWN, bc->end->idx);
            r->why = MQ_DOWN_FIN;
            mq_session *s = bc->s;
            bc->s = NULL;
            bc->timer_at = MQ_NEVER;
            if (bc->end->bc == bc)
                bc->end->s = NULL;
            if (s)
                mq_broker_conn_down(h->b, s, h->now, MQ_DOWN_FIN);
        } else {
            h_end *c = &h->e[conn->client];
            h_rec *r = h_add_rec(h, H_DOWN, c->idx);
            r->why = MQ_DOWN_FIN;
            if (c->conn == conn)
                mq_session_on_down(c->s, h->now, MQ_DOWN_FIN);
        }
        h_conn_check_dead(conn);
        break;
    }
    }
    h_event_free(&f);
}

static inline void h_check_all(h_net *h)
{
    if (!h->check)
        return;
    for (int i = 0; i < h->n_ends; i += 2)
        assert_true(mq_session_check(h->e[i].s));
    for (h_bctx *bc = h->bcs; bc; bc = bc->next_all)
        if (bc->s)
            assert_true(mq_session_check(bc->s));
}

static inline long h_run_(h_net *h, int64_t until)
{
    long n = 0;
    for (;;) {
        int64_t tf = h->n_heap ? h->heap[0].at : MQ_NEVER;
        int te = -1;
        h_bctx *tb = NULL;
        int64_t tt = MQ_NEVER;
        for (int i = 0; i < h->n_ends; i += 2)
            if (h->e[i].timer_at < tt) {
                tt = h->e[i].timer_at;
                te = i;
            }
        for (h_bctx *bc = h->bcs; bc; bc = bc->next_all)
            if (bc->s && bc->timer_at < tt) {
                tt = bc->timer_at;
                tb = bc;
                te = -1;
            }
        bool broker_timer = h->btimer_at < tt;
        if (broker_timer)
            tt = h->btimer_at;
        int64_t t = tf <= tt ? tf : tt;
        if (t == MQ_NEVER || t > until)
            return n;
        n++;
        if (tf <= tt) {
            h_fire_frame(h);
        } else if (broker_timer) {
            h->now = tt;
            h->btimer_at = MQ_NEVER;
            mq_broker_on_timer(h->b, h->now);
        } else if (tb) {
            h->now = tt;
            tb->timer_at = MQ_NEVER; /* consumed; the engine re-arms it */
            mq_broker_conn_timer(h->b, tb->s, h->now);
        } else {
            h->now = tt;
            h->e[te].timer_at = MQ_NEVER;
            mq_session_on_timer(h->e[te].s, h->now);
        }
        h_check_all(h);
    }
}

/* Runs every event due up to and including until_ms (ms since the last
 * h_clear), then sets the clock to until_ms. Returns the events run. */
static inline long h_run_until(h_net *h, int64_t until_ms)
{
    int64_t until = h->base + H_MS(until_ms);
    long n = h_run_(h, until);
    if (until > h->now)
        h->now = until;
    return n;
}

/* Whether anything is in transit or a timer is set. */
static inline bool h_busy(const h_net *h)
{
    bool busy = h->n_heap > 0 || h->btimer_at != MQ_NEVER;
    for (int i = 0; i < h->n_ends; i += 2)
        busy = busy || h->e[i].timer_at != MQ_NEVER;
    for (const h_bctx *bc = h->bcs; bc; bc = bc->next_all)
        busy = busy || (bc->s && bc->timer_at != MQ_NEVER);
    return busy;
}

/* Runs until no frame is in transit and no timer is set, failing the test
 * if that takes more than limit_ms. The clock stays at the last event. */
static inline void h_run_quiet(h_net *h, int64_t limit_ms)
{
    h_run_(h, h->base + H_MS(limit_ms));
    assert_false(h_busy(h));
}

/* Forgets the record and the rules, and makes now time 0 of the trace. */
static inline void h_clear(h_net *h)
{
    h->n_rec = 0;
    h->n_rules = 0;
    h->base = h->now;
}

/* Connects every client (CONNECT, CONNACK), then clears the record. */
static inline void h_connect_all(h_net *h)
{
    for (int i = 0; i < h->n_ends; i += 2)
        assert_int_equal(mq_session_connect(h->e[i].s, h->now), 0);
    h_run_quiet(h, 1000);
    for (int i = 0; i < h->n_ends; i += 2)
        assert_int_equal(h->e[i].connected, 1);
    h_clear(h);
}

/* Client `name` subscribes to one filter and the exchange runs to its end;
 * then the record is cleared. */
static inline void h_subscribe(h_net *h, const char *name, const char *filter, uint8_t qos)
{
    h_end *e = h_find(h, name);
    int before = e->subscribed;
    mq_sub sub = {filter, (uint16_t)strlen(filter), qos};
    assert_int_equal(mq_session_subscribe(e->s, h->now, &sub, 1), 0);
    h_run_quiet(h, 1000);
    assert_int_equal(e->subscribed, before + 1);
    assert_int_equal(e->codes[0], qos);
    h_clear(h);
}

/* Makes message m<n> (n = the next number) on topic: a tag, and a payload
 * of h->payload_len bytes whose first 8 carry n. The caller owns the one
 * reference it returns. */
static inline mq_msg *h_make(h_net *h, const char *topic)
{
    assert_true(h->n_msgs < h->cap_msgs);
    h_msg *t = &h->msgs[h->n_msgs++];
    memset(t, 0, sizeof *t);
    t->id = h->n_msgs;
    uint8_t head[8];
    for (int i = 0; i < 8; i++)
        head[i] = (uint8_t)(t->id >> (56 - 8 * i));
    mq_msg *m = NULL;
    size_t n = h->payload_len < 8 ? h->payload_len : 8;
    assert_int_equal(mq_msg_new(topic, strlen(topic), head, n, h->payload_len, false, t,
                                &h_tag_ops, &m),
                     0);
    return m;
}

/* Client `name` publishes a new message (m1, m2, ... in order) on topic at
 * qos now. The application's own reference is dropped at once, so from here
 * on only the engine, the frames and the broker hold it. Returns its id. */
static inline uint64_t h_publish(h_net *h, const char *name, const char *topic, uint8_t qos)
{
    mq_msg *m = h_make(h, topic);
    uint64_t id = h->n_msgs;
    h->last_rc = mq_session_publish(h_find(h, name)->s, h->now, m, qos);
    mq_msg_unref(m);
    h_check_all(h);
    return id;
}

/* Hands the bytes buf[0..len) to end `to` (an end index; a broker end: its
 * current context) as if they had just arrived: one frame, or one stream
 * chunk; with measurement tag `tag` (datagram; may be NULL). */
static inline void h_inject_bytes(h_net *h, int to, const uint8_t *buf, size_t len, h_msg *tag)
{
    h_end *e = &h->e[to];
    if (e->broker_side) {
        h_bctx *bc = e->bc;
        assert_non_null(bc && bc->s);
        bc->rx_tag = tag;
        if (e->stream)
            mq_broker_conn_bytes(h->b, bc->s, h->now, buf, len);
        else
            mq_broker_conn_frame(h->b, bc->s, h->now, buf, len, 0);
        bc->rx_tag = NULL;
        return;
    }
    e->rx_tag = tag;
    if (e->stream)
        mq_session_on_bytes(e->s, h->now, buf, len);
    else
        mq_session_on_packet(e->s, h->now, buf, len);
    e->rx_tag = NULL;
}

/* Hands packet p, encoded for the receiving end's version, to end `to`. */
static inline void h_inject(h_net *h, int to, const mq_packet *p, h_msg *tag)
{
    uint8_t buf[512];
    size_t used;
    assert_int_equal(mq_codec_encode(p, h->e[to].version, buf, sizeof buf, &used), MQ_OK);
    h_inject_bytes(h, to, buf, used, tag);
}

static inline void h_inject_ack(h_net *h, int to, uint8_t type, uint16_t id)
{
    mq_packet p;
    memset(&p, 0, sizeof p);
    p.type = type;
    p.id = id;
    h_inject(h, to, &p, NULL);
}

/* Finishes every session (client ends, then broker contexts with a
 * connection, then sessions without one): what is still held is reported as
 * in_flight_at_end and released. */
static inline void h_close_all(h_net *h)
{
    for (int i = 0; i < h->n_ends; i++)
        if (h->e[i].s)
            mq_session_finish(h->e[i].s, h->now);
    mq_broker_finish(h->b, h->now);
}

/* Drops every event in transit (their tag references with them). */
static inline void h_drop_transit(h_net *h)
{
    while (h->n_heap) {
        h_frame f = h_pop(h);
        h_event_free(&f);
    }
    for (h_conn *c = h->conns; c; c = c->next_all) {
        h_dir_clear(&c->d[0]);
        h_dir_clear(&c->d[1]);
    }
}

/* ---- checking ------------------------------------------------------------ */

static inline const char *h_close_name(int why)
{
    return mq_close_cause_name((mq_close_cause)why);
}

/* Renders record r as one trace line into buf. */
static inline void h_render(const h_net *h, const h_rec *r, char *buf, size_t cap)
{
    const h_end *e = &h->e[r->end];
    int n = snprintf(buf, cap, "t%lld ", (long long)(r->t / 1000000));
    char *o = buf + n;
    size_t left = cap - (size_t)n;
    const char *mq = r->tagged ? "m" : "m?";
    switch (r->kind) {
    case H_SEND: {
        int k = snprintf(o, left, "%s %s", e->dir, mq_type_name(r->type));
        if (r->id)
            k += snprintf(o + k, left - k, " id%u", r->id);
        if (r->type == MQ_PUBLISH)
            k += snprintf(o + k, left - k, " q%u%s %s%llu", r->qos, r->dup ? " dup" : "", mq,
                          (unsigned long long)r->msg);
        if (r->type == MQ_CONNACK && r->why)
            k += snprintf(o + k, left - k, " rc%d", r->why);
        if (r->resend)
            k += snprintf(o + k, left - k, " (resend)");
        if (r->extra)
            k += snprintf(o + k, left - k, " +%lldms", (long long)(r->extra / 1000000));
        if (r->lost)
            snprintf(o + k, left - k, " LOST");
        break;
    }
    case H_GOT:
        snprintf(o, left, "%s got %s%llu q%u%s%s", e->name, mq, (unsigned long long)r->msg,
                 r->qos, r->dup ? " dup" : "", r->retain ? " retain" : "");
        break;
    case H_DROP:
        if (r->msg)
            snprintf(o, left, "%s drop %s%llu q%u %s", e->name, mq, (unsigned long long)r->msg,
                     r->qos, mq_drop_reason_name(r->why));
        else
            snprintf(o, left, "%s drop - q%u %s", e->name, r->qos, mq_drop_reason_name(r->why));
        break;
    case H_EVENT:
        if (r->type)
            snprintf(o, left, "%s event %s %s id%u", e->name, mq_event_name(r->why),
                     mq_type_name(r->type), r->id);
        else
            snprintf(o, left, "%s event %s", e->name, mq_event_name(r->why));
        break;
    case H_CONNECTED:
        snprintf(o, left, "%s connected%s", e->name, r->why ? " present" : "");
        break;
    case H_SUBSCRIBED:
        snprintf(o, left, "%s subscribed %d", e->name, r->why);
        break;
    case H_OPEN:
        snprintf(o, left, "%s open", e->name);
        break;
    case H_UP:
        snprintf(o, left, "%s up", e->name);
        break;
    case H_REFUSED:
        snprintf(o, left, "%s refused", e->name);
        break;
    case H_CLOSE:
        snprintf(o, left, "%s close %s", e->name, h_close_name(r->why));
        break;
    case H_DOWN:
        snprintf(o, left, "%s down %s", e->name, mq_down_cause_name((mq_down_cause)r->why));
        break;
    }
}

static inline void h_print(const h_net *h)
{
    char line[160];
    for (size_t i = 0; i < h->n_rec; i++) {
        h_render(h, &h->rec[i], line, sizeof line);
        printf("    \"%s\",\n", line);
    }
}

/* Asserts that the record is exactly want[0..n), printing both on mismatch. */
static inline void h_expect_(const h_net *h, const char *const *want, size_t n)
{
    char line[160];
    bool ok = h->n_rec == n;
    for (size_t i = 0; ok && i < n; i++) {
        h_render(h, &h->rec[i], line, sizeof line);
        ok = strcmp(line, want[i]) == 0;
    }
    if (ok)
        return;
    printf("  expected:\n");
    for (size_t i = 0; i < n; i++)
        printf("    \"%s\",\n", want[i]);
    printf("  got:\n");
    h_print(h);
    fail_msg("trace differs");
}

#define h_expect(h, ...)                                                             \
    do {                                                                             \
        static const char *const want_[] = {__VA_ARGS__};                            \
        h_expect_((h), want_, sizeof want_ / sizeof want_[0]);                       \
    } while (0)

/* Every message made has had all its references returned, and its last
 * reference went exactly once. */
static inline void h_check_refs(const h_net *h)
{
    for (size_t i = 0; i < h->n_msgs; i++) {
        if (h->msgs[i].refs != 0 || h->msgs[i].freed != 1)
            fail_msg("m%zu: %u references left, freed %u times", i + 1, h->msgs[i].refs,
                     h->msgs[i].freed);
    }
}

/* How many records of this kind an end made about message msg (0: any). */
static inline size_t h_count(const h_net *h, int kind, const char *dir_or_name, uint8_t type,
                             uint64_t msg)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n_rec; i++) {
        const h_rec *r = &h->rec[i];
        const h_end *e = &h->e[r->end];
        if (r->kind != kind || (type && r->type != type) || (msg && r->msg != msg))
            continue;
        if (strcmp(kind == H_SEND ? e->dir : e->name, dir_or_name) != 0)
            continue;
        n++;
    }
    return n;
}

static inline void h_free(h_net *h)
{
    h_drop_transit(h);
    for (int i = 0; i < h->n_ends; i += 2)
        mq_session_free(h->e[i].s);
    mq_broker_free(h->b);
    while (h->bcs) {
        h_bctx *next = h->bcs->next_all;
        free(h->bcs);
        h->bcs = next;
    }
    while (h->conns) {
        h_conn *next = h->conns->next_all;
        free(h->conns->d[0].tags);
        free(h->conns->d[0].rx);
        free(h->conns->d[1].tags);
        free(h->conns->d[1].rx);
        free(h->conns);
        h->conns = next;
    }
    free(h->heap);
    free(h->rec);
    free(h->msgs);
    free(h);
}

/* The usual two-client network: publisher P and subscriber S (subscribed to
 * "t" at sub_qos), everything on `version`; the broker's and S's QoS 2
 * method is `method`. Connected and subscribed, record cleared. */
static inline h_net *h_pair(uint8_t version, mq_qos2_method method, uint8_t sub_qos,
                            size_t max_msgs)
{
    mq_session_config c = h_cfg(version, method);
    h_net *h = h_new(&c, max_msgs);
    h_client(h, "P", &c);
    h_client(h, "S", &c);
    h_connect_all(h);
    h_subscribe(h, "S", "t", sub_qos);
    return h;
}

/* The same over streams (keepalive off, kept sessions): P and S connected
 * and S subscribed, record cleared. */
static inline h_net *h_stream_pair(uint8_t version, mq_qos2_method method, uint8_t sub_qos,
                                   size_t max_msgs)
{
    mq_session_config b = h_cfg(version, method);
    mq_session_config c = h_stream_cfg(version, method);
    h_net *h = h_new(&b, max_msgs);
    h_client(h, "P", &c);
    h_client(h, "S", &c);
    h_connect_all(h);
    h_subscribe(h, "S", "t", sub_qos);
    return h;
}

#endif
