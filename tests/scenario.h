/* Packet-level scenario harness: client sessions and a broker wired by in-memory links and a manual clock. */
#ifndef TESTS_SCENARIO_H
#define TESTS_SCENARIO_H

/*
 * A scenario is one broker and a few clients ("P", "S", ...). Each client's
 * session and the broker's session for it are joined by two in-memory links
 * ("P>B" and "B>P") of constant one-way delay H_DELAY, in order. A test
 * scripts the network: lose the n-th packet of a type on a direction, or
 * delay it (which reorders it behind later packets). The clock moves only
 * from event to event: frame arrivals, and session timers at exactly the
 * deadline they asked for. Equal-time frames run in the order they were
 * sent; frames run before timers due at the same time.
 *
 * Everything observable is recorded in order: every packet a session hands
 * to its link (decoded again from the bytes, so the record shows what the
 * wire says), each delivery to a client application, each drop and each
 * protocol event. h_expect() compares the record, rendered one line each,
 * with the exact list a test expects, for example
 *
 *     "t0 P>B PUBLISH id1 q1 m1 LOST"
 *     "t100 P>B PUBLISH id1 q1 dup m1 (resend)"
 *     "t120 S got m1 q1"
 *
 * Times are ms since the last h_clear(). Messages are m1, m2, ... and each
 * counts the on_free calls it gets, so a test can check that every
 * reference was returned.
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

typedef struct h_net h_net;

typedef struct {
    h_net *h;
    int idx;
    char name[8];      /* "P" for a client's end, "B" for the broker's end */
    char dir[20];      /* direction of what this end sends: "P>B" or "B>P" */
    mq_session *s;
    int peer;          /* end index of the other side */
    int client;        /* broker client index */
    bool broker_side;
    uint8_t version;
    int64_t timer_at;
    int connected, subscribed;
    uint8_t codes[MQ_MAX_TOPICS];
    size_t n_codes;
} h_end;

enum { H_SEND, H_GOT, H_DROP, H_EVENT, H_CONNECTED, H_SUBSCRIBED };

typedef struct {
    int kind;
    int64_t t;         /* ns since the last h_clear */
    int end;
    uint8_t type, qos;
    uint16_t id;
    bool dup, resend, lost;
    int64_t extra;     /* H_SEND: extra delay given by a rule */
    uint64_t msg;      /* 0: none */
    int why;           /* drop reason or event */
    size_t bytes;
} h_rec;

typedef struct {
    int64_t at;
    uint64_t seq;
    int to;
    uint8_t *bytes;
    size_t len;
    mq_msg *m;
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
    h_end e[H_MAX_ENDS];
    int n_ends;
    h_frame *heap;
    size_t n_heap, cap_heap;
    uint64_t seq;
    h_rec *rec;
    size_t n_rec, cap_rec;
    h_rule rules[H_MAX_RULES];
    int n_rules;
    mq_msg *msgs;
    uint32_t *freed;
    size_t n_msgs, cap_msgs;
    int last_rc;       /* mq_session_publish's answer to the last h_publish */
    char **lines;      /* h_lines() rendering */
    size_t n_lines;
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

/* ---- frames: a binary min-heap on (arrival, send order) ----------------- */

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

static inline void h_on_free(mq_msg *m, void *ctx)
{
    h_net *h = ctx;
    assert_true(m->id >= 1 && m->id <= h->n_msgs);
    h->freed[m->id - 1]++;
}

/* ---- session callbacks -------------------------------------------------- */

static inline void h_io_send(void *ctx, const uint8_t *buf, size_t len, const mq_packet *p,
                             mq_msg *m, bool resend)
{
    h_end *e = ctx;
    h_net *h = e->h;
    /* What the wire says, not what the engine meant. */
    mq_packet w;
    size_t used = 0;
    assert_int_equal(mq_codec_decode(buf, len, e->version, &w, &used), MQ_OK);
    assert_int_equal(used, len);
    assert_int_equal(w.type, p->type);
    assert_int_equal(w.id, p->id);
    if (w.type == MQ_PUBLISH) {
        assert_non_null(m);
        assert_int_equal(w.qos, p->qos);
        assert_int_equal(w.dup, p->dup);
        assert_int_equal(w.topic.len, m->topic_len);
        assert_memory_equal(w.topic.s, m->topic, m->topic_len);
        assert_int_equal(w.payload_len, m->payload_len);
    } else {
        assert_null(m);
    }
    h_rec *r = h_add_rec(h, H_SEND, e->idx);
    r->type = w.type;
    r->id = w.id;
    r->qos = w.qos;
    r->dup = w.dup;
    r->resend = resend;
    r->msg = m ? m->id : 0;
    r->bytes = len;
    int64_t extra = 0;
    bool lose = false;
    for (int i = 0; i < h->n_rules; i++) {
        h_rule *u = &h->rules[i];
        if (strcmp(u->dir, e->dir) != 0 || u->type != w.type || (u->id && u->id != w.id))
            continue;
        u->seen++;
        if (u->nth && u->seen != u->nth)
            continue;
        if (u->extra)
            extra += u->extra;
        else
            lose = true;
    }
    r->lost = lose;
    r->extra = extra;
    if (lose)
        return;
    h_frame f = {h->now + H_DELAY + extra, h->seq++, e->peer, malloc(len ? len : 1), len, m};
    assert_non_null(f.bytes);
    memcpy(f.bytes, buf, len);
    if (m)
        mq_msg_ref(m); /* a frame in transit holds the message */
    h_push(h, f);
}

static inline void h_io_deliver(void *ctx, int64_t now, mq_msg *m, uint8_t qos, bool dup)
{
    h_end *e = ctx;
    assert_int_equal(now, e->h->now);
    assert_true(m->refs > 0);
    h_rec *r = h_add_rec(e->h, H_GOT, e->idx);
    r->msg = m->id;
    r->qos = qos;
    r->dup = dup;
}

static inline void h_io_timer(void *ctx, int64_t at)
{
    h_end *e = ctx;
    assert_true(at == MQ_NEVER || at > e->h->now);
    assert_int_not_equal(at, e->timer_at); /* only changes are reported */
    e->timer_at = at;
}

static inline void h_io_drop(void *ctx, mq_msg *m, uint8_t qos, mq_drop_reason why)
{
    h_end *e = ctx;
    if (m)
        assert_true(m->refs > 0);
    h_rec *r = h_add_rec(e->h, H_DROP, e->idx);
    r->msg = m ? m->id : 0;
    r->qos = qos;
    r->why = why;
}

static inline void h_io_event(void *ctx, mq_event ev, const mq_packet *p)
{
    h_end *e = ctx;
    h_rec *r = h_add_rec(e->h, H_EVENT, e->idx);
    r->why = ev;
    if (p) {
        r->type = p->type;
        r->id = p->id;
    }
}

static inline void h_io_connected(void *ctx)
{
    h_end *e = ctx;
    e->connected++;
    h_add_rec(e->h, H_CONNECTED, e->idx);
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

static inline mq_session_io h_io(h_end *e)
{
    mq_session_io io = {
        .ctx = e, .send = h_io_send, .deliver = h_io_deliver, .timer = h_io_timer,
        .drop = h_io_drop, .event = h_io_event, .connected = h_io_connected,
        .subscribed = h_io_subscribed,
    };
    return io;
}

/* ---- building a network ------------------------------------------------- */

/* A broker configured by bcfg (role forced to broker), no clients yet, room
 * for max_msgs messages. */
static inline h_net *h_new(const mq_session_config *bcfg, size_t max_msgs)
{
    h_net *h = calloc(1, sizeof *h);
    assert_non_null(h);
    h->bcfg = *bcfg;
    h->b = mq_broker_new(bcfg);
    assert_non_null(h->b);
    h->cap_msgs = max_msgs;
    h->msgs = calloc(max_msgs, sizeof *h->msgs);
    h->freed = calloc(max_msgs, sizeof *h->freed);
    assert_non_null(h->msgs);
    assert_non_null(h->freed);
    return h;
}

/* Adds client `name` with session config cfg (role forced to client) and its
 * connection at the broker. Returns the client's end index; the broker's end
 * is that index + 1. */
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
    mq_session_config cc = *cfg;
    cc.role = MQ_ROLE_CLIENT;
    cc.client_id = c->name;
    mq_session_io io = h_io(c);
    c->s = mq_session_new(&cc, &io);
    assert_non_null(c->s);
    io = h_io(b);
    io.connected = NULL;
    io.subscribed = NULL;
    b->client = mq_broker_add_client(h->b, &io);
    assert_true(b->client >= 0);
    c->client = b->client;
    b->s = mq_broker_session(h->b, b->client);
    h->n_ends += 2;
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

/* The broker's session for client `name`. */
static inline mq_session *h_bsess(h_net *h, const char *name)
{
    return h->e[h_find(h, name)->peer].s;
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
 * sent on direction dir ("P>B", "B>S", ...). */
static inline void h_lose(h_net *h, const char *dir, uint8_t type, int nth)
{
    h_rule_add(h, dir, type, 0, nth, 0);
}

/* Delay the nth packet of `type` on dir by extra_ms more than the link delay. */
static inline void h_delay(h_net *h, const char *dir, uint8_t type, int nth, int extra_ms)
{
    h_rule_add(h, dir, type, 0, nth, H_MS(extra_ms));
}

/* ---- running ------------------------------------------------------------ */

static inline void h_fire_frame(h_net *h)
{
    h_frame f = h_pop(h);
    assert_true(f.at >= h->now);
    h->now = f.at;
    mq_session_on_packet(h->e[f.to].s, h->now, f.bytes, f.len, f.m);
    if (f.m)
        mq_msg_unref(f.m);
    free(f.bytes);
}

static inline long h_run_(h_net *h, int64_t until)
{
    long n = 0;
    for (;;) {
        int64_t tf = h->n_heap ? h->heap[0].at : MQ_NEVER;
        int te = -1;
        int64_t tt = MQ_NEVER;
        for (int i = 0; i < h->n_ends; i++)
            if (h->e[i].timer_at < tt) {
                tt = h->e[i].timer_at;
                te = i;
            }
        int64_t t = tf <= tt ? tf : tt;
        if (t == MQ_NEVER || t > until)
            return n;
        n++;
        if (tf <= tt) {
            h_fire_frame(h);
        } else {
            h->now = tt;
            h->e[te].timer_at = MQ_NEVER; /* consumed; the engine re-arms it */
            mq_session_on_timer(h->e[te].s, h->now);
        }
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

/* Runs until no frame is in transit and no timer is set, failing the test
 * if that takes more than limit_ms. The clock stays at the last event. */
static inline void h_run_quiet(h_net *h, int64_t limit_ms)
{
    h_run_(h, h->base + H_MS(limit_ms));
    bool busy = h->n_heap > 0;
    for (int i = 0; i < h->n_ends; i++)
        busy = busy || h->e[i].timer_at != MQ_NEVER;
    assert_false(busy);
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

/* Client `name` publishes a new message (m1, m2, ... in order) on topic at
 * qos now. The application's own reference is dropped at once, so from here
 * on only the engine, the frames and the broker hold it. Returns its id. */
static inline uint64_t h_publish(h_net *h, const char *name, const char *topic, uint8_t qos)
{
    assert_true(h->n_msgs < h->cap_msgs);
    mq_msg *m = &h->msgs[h->n_msgs++];
    memset(m, 0, sizeof *m);
    m->refs = 1;
    m->qos = qos;
    m->topic = topic;
    m->topic_len = (uint16_t)strlen(topic);
    m->payload_len = 8;
    m->id = h->n_msgs;
    m->t_pub = h->now;
    m->on_free = h_on_free;
    m->free_ctx = h;
    h->last_rc = mq_session_publish(h_find(h, name)->s, h->now, m, qos);
    mq_msg_unref(m);
    return m->id;
}

/* Hands packet p, encoded for the receiving end's version, to end `to`
 * (an end index) as if it had just arrived. */
static inline void h_inject(h_net *h, int to, const mq_packet *p, mq_msg *m)
{
    uint8_t buf[512];
    size_t used;
    assert_int_equal(mq_codec_encode(p, h->e[to].version, buf, sizeof buf, &used), MQ_OK);
    mq_session_on_packet(h->e[to].s, h->now, buf, used, m);
}

static inline void h_inject_ack(h_net *h, int to, uint8_t type, uint16_t id)
{
    mq_packet p;
    memset(&p, 0, sizeof p);
    p.type = type;
    p.id = id;
    h_inject(h, to, &p, NULL);
}

/* Closes every session (client ends, then broker ends): what is still held
 * is reported as in_flight_at_end and released. */
static inline void h_close_all(h_net *h)
{
    for (int i = 0; i < h->n_ends; i++)
        mq_session_close(h->e[i].s, h->now);
}

/* ---- checking ------------------------------------------------------------ */

/* Renders record r as one trace line into buf. */
static inline void h_render(const h_net *h, const h_rec *r, char *buf, size_t cap)
{
    const h_end *e = &h->e[r->end];
    int n = snprintf(buf, cap, "t%lld ", (long long)(r->t / 1000000));
    char *o = buf + n;
    size_t left = cap - (size_t)n;
    switch (r->kind) {
    case H_SEND: {
        int k = snprintf(o, left, "%s %s", e->dir, mq_type_name(r->type));
        if (r->id)
            k += snprintf(o + k, left - k, " id%u", r->id);
        if (r->type == MQ_PUBLISH)
            k += snprintf(o + k, left - k, " q%u%s m%llu", r->qos, r->dup ? " dup" : "",
                          (unsigned long long)r->msg);
        if (r->resend)
            k += snprintf(o + k, left - k, " (resend)");
        if (r->extra)
            k += snprintf(o + k, left - k, " +%lldms", (long long)(r->extra / 1000000));
        if (r->lost)
            snprintf(o + k, left - k, " LOST");
        break;
    }
    case H_GOT:
        snprintf(o, left, "%s got m%llu q%u%s", e->name, (unsigned long long)r->msg, r->qos,
                 r->dup ? " dup" : "");
        break;
    case H_DROP:
        if (r->msg)
            snprintf(o, left, "%s drop m%llu q%u %s", e->name, (unsigned long long)r->msg,
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
        snprintf(o, left, "%s connected", e->name);
        break;
    case H_SUBSCRIBED:
        snprintf(o, left, "%s subscribed %d", e->name, r->why);
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

/* Every message published has had all its references returned, and on_free
 * ran exactly once for it. */
static inline void h_check_refs(const h_net *h)
{
    for (size_t i = 0; i < h->n_msgs; i++) {
        if (h->msgs[i].refs != 0 || h->freed[i] != 1)
            fail_msg("m%zu: %u references left, freed %u times", i + 1, h->msgs[i].refs,
                     h->freed[i]);
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
    while (h->n_heap) {
        h_frame f = h_pop(h);
        if (f.m)
            mq_msg_unref(f.m);
        free(f.bytes);
    }
    for (int i = 0; i < h->n_ends; i += 2)
        mq_session_free(h->e[i].s);
    mq_broker_free(h->b);
    free(h->heap);
    free(h->rec);
    free(h->msgs);
    free(h->freed);
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

#endif
