/* The modelled broker: one session per client, a subscription table, fan-out with QoS downgrade. */
#include "models/broker.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "models/subs.h"
#include "models/topic.h"

/* One client connection. Its address is the broker-side session's io ctx,
 * so clients are allocated one by one and never move. */
typedef struct {
    mq_broker *b;
    int index;
    mq_session *s;
    mq_session_io host; /* the host's callbacks for this connection */
} conn;

struct mq_broker {
    mq_session_config cfg;
    conn **c;
    size_t n, cap;
    mq_subs *subs; /* subscribers are client indexes: routing goes in client order */
    uint64_t routed, forwarded;
};

/* ---- the broker-side sessions' io: host callbacks passed through ------- */

static void c_send(void *ctx, const uint8_t *buf, size_t len, const mq_packet *p, mq_msg *m,
                   bool resend)
{
    conn *c = ctx;
    c->host.send(c->host.ctx, buf, len, p, m, resend);
}

static void c_timer(void *ctx, int64_t at)
{
    conn *c = ctx;
    c->host.timer(c->host.ctx, at);
}

static void c_drop(void *ctx, mq_msg *m, uint8_t qos, mq_drop_reason why)
{
    conn *c = ctx;
    if (c->host.drop)
        c->host.drop(c->host.ctx, m, qos, why);
}

static void c_event(void *ctx, mq_event ev, const mq_packet *p)
{
    conn *c = ctx;
    if (c->host.event)
        c->host.event(c->host.ctx, ev, p);
}

/* One message being forwarded. */
typedef struct {
    mq_broker *b;
    int64_t now;
    mq_msg *m;
    uint8_t qos;
} fwd;

static void forward(void *ctx, uint32_t client, uint8_t sub_qos)
{
    fwd *f = ctx;
    f->b->forwarded++;
    mq_session_publish(f->b->c[client]->s, f->now, f->m, sub_qos < f->qos ? sub_qos : f->qos);
}

/* A client's inbound flow says deliver (QoS 0/1 at PUBLISH, QoS 2 at PUBLISH
 * for method B and at PUBREL for method A): offer m to every matching client
 * once, in client order, at the downgraded QoS. The publisher gets its own
 * message back if it subscribes to it. The index fixes the set of clients
 * before the first is offered the message, and needs no allocation for it;
 * a host's callback may route another message meanwhile. Cost: O(topic
 * levels + matching subscriptions), plus the sessions' publishes. */
static void c_deliver(void *ctx, int64_t now, mq_msg *m, uint8_t qos, bool dup)
{
    conn *c = ctx;
    mq_broker *b = c->b;
    (void)dup; /* the onward flow is a new one: DUP=0 */
    b->routed++;
    fwd f = {b, now, m, qos};
    int rc = mq_subs_match(b->subs, m->topic, m->topic_len, forward, &f);
    /* Only a match nested in another's callbacks can fail, and no session
     * callback routes a message (mq_session_on_packet is not among the
     * calls a callback may make). */
    assert(rc >= 0);
    (void)rc;
}

static uint8_t c_subscribe(void *ctx, const char *filter, size_t len, uint8_t qos)
{
    conn *c = ctx;
    return mq_broker_subscribe(c->b, c->index, filter, len, qos);
}

/* ---- public API --------------------------------------------------------- */

/* Cost: O(1). */
mq_broker *mq_broker_new(const mq_session_config *cfg)
{
    mq_broker *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->cfg = *cfg;
    b->cfg.role = MQ_ROLE_BROKER;
    b->cfg.client_id = NULL;
    b->subs = mq_subs_new();
    if (!b->subs) {
        free(b);
        return NULL;
    }
    return b;
}

/* Frees every session (releasing what they hold, unreported) and the table.
 * Cost: O(clients + subscriptions + held flows). */
void mq_broker_free(mq_broker *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++) {
        conn *c = b->c[i];
        mq_session_free(c->s);
        free(c);
    }
    mq_subs_free(b->subs);
    free(b->c);
    free(b);
}

/* io must carry send and timer (drop and event are optional; deliver,
 * subscribe, connected and subscribed are ignored). Cost: O(1) amortised. */
int mq_broker_add_client(mq_broker *b, const mq_session_io *io)
{
    assert(io && io->send && io->timer);
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 8;
        conn **nc = realloc(b->c, cap * sizeof *nc);
        if (!nc)
            return MQ_ERR_NOMEM;
        b->c = nc;
        b->cap = cap;
    }
    conn *c = calloc(1, sizeof *c);
    if (!c)
        return MQ_ERR_NOMEM;
    c->b = b;
    c->index = (int)b->n;
    c->host = *io;
    mq_session_io sio = {
        .ctx = c, .send = c_send, .deliver = c_deliver, .timer = c_timer,
        .drop = c_drop, .event = c_event, .subscribe = c_subscribe,
    };
    c->s = mq_session_new(&b->cfg, &sio);
    if (!c->s) {
        free(c);
        return MQ_ERR_NOMEM;
    }
    b->c[b->n++] = c;
    return c->index;
}

/* The accessors below are O(1). */

mq_session *mq_broker_session(mq_broker *b, int client)
{
    assert(client >= 0 && (size_t)client < b->n);
    return b->c[client]->s;
}

size_t mq_broker_clients(const mq_broker *b)
{
    return b->n;
}

/* Replaces the QoS of an identical filter (byte for byte) or adds it.
 * A QoS above 2, an invalid filter or out of memory answer 0x80 and change
 * nothing. Cost: O(len) expected (see mq_subs_add). */
uint8_t mq_broker_subscribe(mq_broker *b, int client, const char *filter, size_t len,
                            uint8_t qos)
{
    assert(client >= 0 && (size_t)client < b->n);
    if (qos > 2 || !filter || !mq_topic_filter_valid(filter, len))
        return 0x80;
    return mq_subs_add(b->subs, (uint32_t)client, filter, len, qos) < 0 ? 0x80 : qos;
}

/* Fills one route per matching client. */
typedef struct {
    mq_route *out;
    size_t cap, k;
    uint8_t qos;
} routes;

static void put_route(void *ctx, uint32_t client, uint8_t sub_qos)
{
    routes *r = ctx;
    if (r->k < r->cap)
        r->out[r->k] = (mq_route){(int)client, sub_qos < r->qos ? sub_qos : r->qos};
    r->k++;
}

/* Cost: O(topic levels + matching subscriptions); no allocation. */
size_t mq_broker_route(const mq_broker *b, const char *topic, size_t len, uint8_t pub_qos,
                       mq_route *out, size_t cap)
{
    routes r = {out, cap, 0, pub_qos};
    int rc = mq_subs_match(b->subs, topic, len, put_route, &r);
    assert(rc >= 0); /* as in c_deliver */
    (void)rc;
    return r.k;
}

uint64_t mq_broker_routed(const mq_broker *b)
{
    return b->routed;
}

uint64_t mq_broker_forwarded(const mq_broker *b)
{
    return b->forwarded;
}
