/* The modelled broker: one session per client, a subscription table, fan-out with QoS downgrade. */
#include "models/broker.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "models/topic.h"

typedef struct {
    char *filter; /* owned copy */
    uint16_t len;
    uint8_t qos;
} bsub;

/* One client connection. Its address is the broker-side session's io ctx,
 * so clients are allocated one by one and never move. */
typedef struct {
    mq_broker *b;
    int index;
    mq_session *s;
    mq_session_io host; /* the host's callbacks for this connection */
    bsub *subs;
    size_t n_subs, cap_subs;
} conn;

struct mq_broker {
    mq_session_config cfg;
    conn **c;
    size_t n, cap;
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

/* The QoS this client gets topic at: the highest QoS among its matching
 * subscriptions, or -1 when none matches. Cost: O(subscriptions x topic). */
static int client_qos(const conn *c, const char *topic, size_t len)
{
    int best = -1;
    for (size_t i = 0; i < c->n_subs; i++) {
        const bsub *x = &c->subs[i];
        if (x->qos > best && mq_topic_match(x->filter, x->len, topic, len))
            best = x->qos;
    }
    return best;
}

/* A client's inbound flow says deliver (QoS 0/1 at PUBLISH, QoS 2 at PUBLISH
 * for method B and at PUBREL for method A): offer m to every matching client
 * once, at the downgraded QoS. The publisher gets its own message back if it
 * subscribes to it. Walking the clients directly, rather than filling a
 * route buffer, keeps this allocation-free and safe if a host's callback
 * routes another message before the loop ends. */
static void c_deliver(void *ctx, int64_t now, mq_msg *m, uint8_t qos, bool dup)
{
    conn *c = ctx;
    mq_broker *b = c->b;
    (void)dup; /* the onward flow is a new one: DUP=0 */
    b->routed++;
    for (size_t i = 0; i < b->n; i++) {
        int q = client_qos(b->c[i], m->topic, m->topic_len);
        if (q < 0)
            continue;
        b->forwarded++;
        mq_session_publish(b->c[i]->s, now, m, (uint8_t)(q < qos ? q : qos));
    }
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
        for (size_t j = 0; j < c->n_subs; j++)
            free(c->subs[j].filter);
        free(c->subs);
        free(c);
    }
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

/* Replaces the QoS of an identical filter (byte for byte) or adds a copy.
 * A QoS above 2, an invalid filter or out of memory answer 0x80 and change
 * nothing. Cost: O(client's subscriptions + len). */
uint8_t mq_broker_subscribe(mq_broker *b, int client, const char *filter, size_t len,
                            uint8_t qos)
{
    assert(client >= 0 && (size_t)client < b->n);
    conn *c = b->c[client];
    if (qos > 2 || !filter || !mq_topic_filter_valid(filter, len))
        return 0x80;
    for (size_t i = 0; i < c->n_subs; i++) {
        if (c->subs[i].len == len && memcmp(c->subs[i].filter, filter, len) == 0) {
            c->subs[i].qos = qos;
            return qos;
        }
    }
    if (c->n_subs == c->cap_subs) {
        size_t cap = c->cap_subs ? 2 * c->cap_subs : 4;
        bsub *ns = realloc(c->subs, cap * sizeof *ns);
        if (!ns)
            return 0x80;
        c->subs = ns;
        c->cap_subs = cap;
    }
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return 0x80;
    memcpy(copy, filter, len);
    c->subs[c->n_subs++] = (bsub){copy, (uint16_t)len, qos};
    return qos;
}

/* Cost: O(total subscriptions x topic length); no allocation. */
size_t mq_broker_route(const mq_broker *b, const char *topic, size_t len, uint8_t pub_qos,
                       mq_route *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++) {
        int q = client_qos(b->c[i], topic, len);
        if (q < 0)
            continue;
        if (k < cap)
            out[k] = (mq_route){(int)i, (uint8_t)(q < pub_qos ? q : pub_qos)};
        k++;
    }
    return k;
}

uint64_t mq_broker_routed(const mq_broker *b)
{
    return b->routed;
}

uint64_t mq_broker_forwarded(const mq_broker *b)
{
    return b->forwarded;
}
