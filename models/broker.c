/* The modelled broker: connection contexts, sessions keyed by client id, subscriptions, fan-out with QoS downgrade. */
#include "models/broker.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "models/subs.h"
#include "models/topic.h"

#define NS_PER_S INT64_C(1000000000)
#define NEVER_EXPIRES UINT32_MAX /* 3.1.1 CleanSession 0: no expiry (Mosquitto: UINT32_MAX) */

typedef struct bctx bctx;

/* A session slot. Its index is the session's place in routing order (its
 * subscriber number in the subscription index); an accepted context
 * reserves one (bound false) until its CONNECT. */
typedef struct {
    bctx *c;                /* the context holding or reserving it; NULL: free */
    bool bound;             /* a session (a CONNECT made it) */
    bool ends_with_conn;    /* 3.1.1 CleanSession 1, 5.0 expiry 0 */
    uint32_t expiry_s;      /* 5.0 Session Expiry Interval; NEVER_EXPIRES */
    int64_t expire_at;      /* while it has no connection and expiry is finite */
    size_t hpos;            /* 1 + its place in the expiry heap; 0: not there */
    char *id;               /* client id (owned) */
    uint16_t id_len;
    int hnext;              /* client-id hash chain, or free list: next slot, -1 */
    void *user;
} bslot;

/* One connection context: the mq_session the host drives, and the host's
 * callbacks for its transport. A context whose connection ended stays,
 * without a connection, while its session is kept. */
struct bctx {
    mq_broker *b;
    mq_session *s;
    const mq_session_io *host; /* borrowed (mq_broker_accept_shared), or after the context */
    void *host_ctx;            /* what host's callbacks get */
    int sess;               /* slot index held or reserved; -1 none */
    bool live;              /* has a connection */
    bool dead;              /* to be freed when the current call returns */
    bctx *next_dead;
    bctx *prev, *next;      /* every context */
};

/* One kept session in the saved image. */
typedef struct {
    char *filter;
    uint16_t len;
    uint8_t qos;
} psub;

typedef struct {
    int slot;               /* its session index */
    char *id;
    uint16_t id_len;
    bool online;            /* it had a connection at the save */
    uint32_t expiry_s;
    int64_t expire_at;      /* when offline at the save with a finite expiry */
    void *user;
    mq_transport transport;
    psub *subs;
    size_t n_subs, cap_subs;
    mq_session_image *st;
} psess;

typedef struct {
    psess *v;
    size_t n;
    int64_t at;
} bimage;

struct mq_broker {
    mq_session_config cfg;
    mq_session_config cfg_tr[2]; /* cfg with each transport: the contexts' shared settings */
    mq_session_io sio;          /* the contexts' shared callbacks (sio_set: with this tag_ops) */
    bool sio_set;
    mq_persist persist;
    bimage saved;           /* MQ_PERSIST_SAVES: the last save */
    mq_broker_io io;
    bslot *slot;
    size_t n_slots, cap_slots;
    int free_head;          /* free slots, through hnext */
    int *hash;              /* client id -> first slot of the chain, -1 */
    size_t hbits;
    size_t n_sessions, n_conns;
    bctx *ctxs, *dead;
    int depth;              /* host calls in progress (contexts die only at 0) */
    mq_subs *subs;          /* subscribers are session slots: routing goes in slot order */
    int *heap;              /* slots with an expiry, a binary min-heap on expire_at */
    size_t n_heap, cap_heap;
    int64_t timer_at;
    uint64_t routed, forwarded;
};

static void image_clear(bimage *im);

/* ---- client-id hash ------------------------------------------------------ */

static uint32_t id_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static int id_find(const mq_broker *b, const char *id, size_t len)
{
    if (!b->hash)
        return -1;
    size_t h = id_hash(id, len) & (((size_t)1 << b->hbits) - 1);
    for (int j = b->hash[h]; j >= 0; j = b->slot[j].hnext)
        if (b->slot[j].id_len == len && memcmp(b->slot[j].id, id, len) == 0)
            return j;
    return -1;
}

static int id_rehash(mq_broker *b, size_t bits)
{
    int *nh = malloc(((size_t)1 << bits) * sizeof *nh);
    if (!nh)
        return MQ_ERR_NOMEM;
    for (size_t i = 0; i < (size_t)1 << bits; i++)
        nh[i] = -1;
    for (size_t j = 0; j < b->n_slots; j++) {
        bslot *x = &b->slot[j];
        if (!x->bound || !x->id_len)
            continue;
        size_t h = id_hash(x->id, x->id_len) & (((size_t)1 << bits) - 1);
        x->hnext = nh[h];
        nh[h] = (int)j;
    }
    free(b->hash);
    b->hash = nh;
    b->hbits = bits;
    return 0;
}

/* Slot j (bound, with an id) goes into the hash. */
static int id_add(mq_broker *b, int j)
{
    if (!b->hash || b->n_sessions > ((size_t)1 << b->hbits)) {
        if (id_rehash(b, b->hash ? b->hbits + 1 : 6))
            return b->hash ? 0 : MQ_ERR_NOMEM; /* an old table still works */
        return 0; /* the rehash took j in */
    }
    bslot *x = &b->slot[j];
    size_t h = id_hash(x->id, x->id_len) & (((size_t)1 << b->hbits) - 1);
    x->hnext = b->hash[h];
    b->hash[h] = j;
    return 0;
}

static void id_remove(mq_broker *b, int j)
{
    bslot *x = &b->slot[j];
    if (!x->id_len || !b->hash)
        return;
    size_t h = id_hash(x->id, x->id_len) & (((size_t)1 << b->hbits) - 1);
    int *pp = &b->hash[h];
    while (*pp >= 0 && *pp != j)
        pp = &b->slot[*pp].hnext;
    if (*pp == j)
        *pp = x->hnext;
}

/* ---- expiry heap ---------------------------------------------------------- */

static bool heap_less(const mq_broker *b, int x, int y)
{
    return b->slot[x].expire_at < b->slot[y].expire_at ||
           (b->slot[x].expire_at == b->slot[y].expire_at && x < y);
}

static void heap_set(mq_broker *b, size_t i, int j)
{
    b->heap[i] = j;
    b->slot[j].hpos = i + 1;
}

static void heap_up(mq_broker *b, size_t i)
{
    int j = b->heap[i];
    while (i > 0 && heap_less(b, j, b->heap[(i - 1) / 2])) {
        heap_set(b, i, b->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(b, i, j);
}

static void heap_down(mq_broker *b, size_t i)
{
    int j = b->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= b->n_heap)
            break;
        if (c + 1 < b->n_heap && heap_less(b, b->heap[c + 1], b->heap[c]))
            c++;
        if (!heap_less(b, b->heap[c], j))
            break;
        heap_set(b, i, b->heap[c]);
        i = c;
    }
    heap_set(b, i, j);
}

/* O(log n). Out of memory: the session simply never expires (kept). */
static void heap_push(mq_broker *b, int j)
{
    if (b->n_heap == b->cap_heap) {
        size_t cap = b->cap_heap ? 2 * b->cap_heap : 16;
        int *nh = realloc(b->heap, cap * sizeof *nh);
        if (!nh)
            return;
        b->heap = nh;
        b->cap_heap = cap;
    }
    b->heap[b->n_heap] = j;
    heap_up(b, b->n_heap++);
}

static void heap_remove(mq_broker *b, int j)
{
    size_t p = b->slot[j].hpos;
    if (!p)
        return;
    b->slot[j].hpos = 0;
    size_t i = p - 1;
    int last = b->heap[--b->n_heap];
    if (i == b->n_heap)
        return;
    heap_set(b, i, last);
    heap_up(b, i);
    heap_down(b, b->slot[last].hpos - 1);
}

static void update_timer(mq_broker *b)
{
    int64_t t = b->n_heap ? b->slot[b->heap[0]].expire_at : MQ_NEVER;
    if (t != b->timer_at) {
        b->timer_at = t;
        if (b->io.timer)
            b->io.timer(b->io.ctx, t);
    }
}

/* ---- slots ----------------------------------------------------------------- */

static int slot_alloc(mq_broker *b)
{
    if (b->free_head >= 0) {
        int j = b->free_head;
        b->free_head = b->slot[j].hnext;
        memset(&b->slot[j], 0, sizeof b->slot[j]);
        b->slot[j].hnext = -1;
        return j;
    }
    if (b->n_slots == b->cap_slots) {
        size_t cap = b->cap_slots ? 2 * b->cap_slots : 8;
        bslot *ns = realloc(b->slot, cap * sizeof *ns);
        if (!ns)
            return MQ_ERR_NOMEM;
        b->slot = ns;
        b->cap_slots = cap;
    }
    memset(&b->slot[b->n_slots], 0, sizeof b->slot[0]);
    b->slot[b->n_slots].hnext = -1;
    return (int)b->n_slots++;
}

static void slot_free(mq_broker *b, int j)
{
    bslot *x = &b->slot[j];
    if (x->bound) {
        id_remove(b, j);
        heap_remove(b, j);
        mq_subs_remove_all(b->subs, (uint32_t)j);
        b->n_sessions--;
    }
    free(x->id);
    memset(x, 0, sizeof *x);
    x->hnext = b->free_head;
    b->free_head = j;
}

/* Ends session j: everything it held is dropped with `why`, its
 * subscriptions and client id go, and the slot is free. */
static void session_end(mq_broker *b, int j, int64_t now, mq_drop_reason why)
{
    bslot *x = &b->slot[j];
    assert(x->bound && x->c);
    mq_session_end_state(x->c->s, now, why);
    x->c->sess = -1;
    slot_free(b, j);
}

/* ---- contexts --------------------------------------------------------------- */

static void ctx_kill(mq_broker *b, bctx *c)
{
    if (c->dead)
        return;
    if (c->live) {
        c->live = false;
        b->n_conns--;
    }
    c->dead = true;
    c->next_dead = b->dead;
    b->dead = c;
}

static void ctx_free(mq_broker *b, bctx *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        b->ctxs = c->next;
    if (c->next)
        c->next->prev = c->prev;
    mq_session_free(c->s);
    free(c);
}

/* Frees the contexts that died during the host's call, once it unwinds. A
 * dead context still holding a slot gives it up (a reservation never bound,
 * or a session ended elsewhere). */
static void reap(mq_broker *b)
{
    while (b->dead) {
        bctx *c = b->dead;
        b->dead = c->next_dead;
        if (c->sess >= 0 && b->slot[c->sess].c == c)
            slot_free(b, c->sess);
        ctx_free(b, c);
    }
}

static void enter(mq_broker *b)
{
    b->depth++;
}

static void leave(mq_broker *b)
{
    if (--b->depth == 0)
        reap(b);
}

/* ---- the contexts' io: host callbacks passed through, routing, sessions --- */

static void c_send(void *ctx, const uint8_t *buf, size_t len, uint64_t zeros, const mq_view *v,
                   mq_msg *m, bool resend)
{
    bctx *c = ctx;
    c->host->send(c->host_ctx, buf, len, zeros, v, m, resend);
}

static void c_timer(void *ctx, int64_t at)
{
    bctx *c = ctx;
    if (c->live)
        c->host->timer(c->host_ctx, at);
}

static void c_close(void *ctx, int64_t now, mq_close_cause why)
{
    bctx *c = ctx;
    if (c->host->close)
        c->host->close(c->host_ctx, now, why);
}

static void c_drop(void *ctx, mq_msg *m, uint8_t qos, mq_drop_reason why)
{
    bctx *c = ctx;
    mq_broker *b = c->b;
    void *user = c->sess >= 0 && b->slot[c->sess].bound ? b->slot[c->sess].user : c->host_ctx;
    if (b->io.drop)
        b->io.drop(b->io.ctx, user, m, qos, why);
}

static void c_event(void *ctx, mq_event ev, const mq_view *v)
{
    bctx *c = ctx;
    if (c->host->event)
        c->host->event(c->host_ctx, ev, v);
}

static void *c_tag(void *ctx, uint64_t off)
{
    bctx *c = ctx;
    return c->host->tag ? c->host->tag(c->host_ctx, off) : NULL;
}

/* One message being forwarded. */
typedef struct {
    bctx *from;
    int64_t now;
    mq_msg *m;
    const mq_view *v;
} fwd;

static void forward(void *ctx, uint32_t sess, uint8_t sub_qos)
{
    fwd *f = ctx;
    mq_broker *b = f->from->b;
    bslot *x = &b->slot[sess];
    assert(x->bound);
    b->forwarded++;
    /* The onward flow is a new one: DUP=0, the session's own identifier. */
    uint8_t q = sub_qos < f->v->qos ? sub_qos : f->v->qos;
    if (mq_session_publish(x->c->s, f->now, f->m, q) == MQ_ERR_NOMEM)
        c_event(f->from, MQ_EV_NOMEM, f->v);
}

/* A client's inbound flow says deliver (QoS 0/1 at PUBLISH, QoS 2 at PUBLISH
 * for method B and at PUBREL for method A): offer m, built from the decoded
 * PUBLISH, to every session whose subscriptions match its decoded topic,
 * once, in session order, at min(decoded QoS, subscription QoS); online or
 * not (an offline session queues or drops). The publisher gets its own
 * message back if it subscribes to it. The index fixes the set of sessions
 * before the first is offered the message. Cost: O(topic levels + matching
 * subscriptions), plus the sessions' publishes. */
static void c_deliver(void *ctx, int64_t now, mq_msg *m, const mq_view *v)
{
    bctx *c = ctx;
    mq_broker *b = c->b;
    b->routed++;
    if (b->io.routed)
        b->io.routed(b->io.ctx, m, v->qos);
    fwd f = {c, now, m, v};
    /* Only a match nested in another's callbacks can fail, and no session
     * callback routes a message (a publish only sends). */
    if (mq_subs_match(b->subs, m->topic, m->topic_len, forward, &f) < 0)
        c_event(c, MQ_EV_NOMEM, v);
}

static uint8_t c_subscribe(void *ctx, const char *filter, size_t len, uint8_t qos)
{
    bctx *c = ctx;
    if (c->sess < 0 || !c->b->slot[c->sess].bound)
        return 0x80;
    return mq_broker_subscribe(c->b, c->sess, filter, len, qos);
}

static void *bind_user(mq_broker *b, bctx *c, int j, bool present)
{
    bslot *x = &b->slot[j];
    void *u = b->io.bind ? b->io.bind(b->io.ctx, c->host_ctx, j, x->id ? x->id : "",
                                      x->id_len, present)
                         : NULL;
    return u ? u : x->user ? x->user : c->host_ctx;
}

/* A CONNECT on context c (Mosquitto: connect__on_authorised). See broker.h. */
static uint8_t c_connect(void *ctx, int64_t now, const mq_packet *p, bool *present)
{
    bctx *c = ctx;
    mq_broker *b = c->b;
    const char *id = p->client_id.s;
    size_t len = p->client_id.len;
    bool v5 = p->version == MQ_V5;
    uint32_t expiry = v5 ? (p->props.has_session_expiry ? p->props.session_expiry : 0)
                         : (p->clean_start ? 0 : NEVER_EXPIRES);
    *present = false;
    /* A zero-length id needs a clean session (3.1.1 §3.1.3-8: 0x02); a 5.0
     * server would assign one, which this broker does not model (0x85). */
    if (len == 0 && !p->clean_start)
        return v5 ? 0x85 : 0x02;
    assert(c->sess >= 0 && !b->slot[c->sess].bound);
    int j = len ? id_find(b, id, len) : -1;
    if (j >= 0) {
        bslot *o = &b->slot[j];
        bctx *oc = o->c;
        bool keep = !p->clean_start && !o->ends_with_conn;
        if (oc->live) {
            mq_session_kick(oc->s, now, MQ_CLOSE_TAKEOVER);
            ctx_kill(b, oc);
        }
        if (keep) {
            mq_session_take_state(c->s, oc->s);
            slot_free(b, c->sess);
            c->sess = j;
            oc->sess = -1;
            o->c = c;
            o->expiry_s = expiry;
            o->ends_with_conn = expiry == 0;
            heap_remove(b, j);
            update_timer(b);
            ctx_kill(b, oc);
            o->user = bind_user(b, c, j, true);
            *present = true;
            return 0;
        }
        session_end(b, j, now, MQ_DROP_SESSION_LOST);
        ctx_kill(b, oc);
        update_timer(b);
    }
    bslot *x = &b->slot[c->sess];
    if (len) {
        x->id = malloc(len);
        if (!x->id) {
            c_event(c, MQ_EV_NOMEM, NULL);
            return v5 ? 0x89 : 0x03; /* server busy / unavailable */
        }
        memcpy(x->id, id, len);
    }
    x->id_len = (uint16_t)len;
    x->bound = true;
    x->expiry_s = expiry;
    x->ends_with_conn = expiry == 0;
    b->n_sessions++;
    if (len && id_add(b, c->sess)) {
        c_event(c, MQ_EV_NOMEM, NULL);
        free(x->id);
        x->id = NULL;
        x->id_len = 0;
        x->bound = false;
        b->n_sessions--;
        return v5 ? 0x89 : 0x03;
    }
    x->user = NULL;
    x->user = bind_user(b, c, c->sess, false);
    return 0;
}

/* Context c's connection ended: its session ends with it, or stays without
 * a connection until it expires (or for ever). */
static void c_ended(void *ctx, int64_t now)
{
    bctx *c = ctx;
    mq_broker *b = c->b;
    if (c->live) {
        c->live = false;
        b->n_conns--;
    }
    if (c->sess < 0 || !b->slot[c->sess].bound) {
        ctx_kill(b, c);
        return;
    }
    bslot *x = &b->slot[c->sess];
    if (x->ends_with_conn) {
        session_end(b, c->sess, now, MQ_DROP_SESSION_LOST);
        ctx_kill(b, c);
        return;
    }
    if (x->expiry_s != NEVER_EXPIRES) {
        x->expire_at = now + (int64_t)x->expiry_s * NS_PER_S;
        heap_push(b, c->sess);
        update_timer(b);
    }
}

/* ---- public API --------------------------------------------------------- */

mq_broker *mq_broker_new(const mq_session_config *cfg, const mq_broker_io *io)
{
    mq_session_config t = *cfg;
    t.role = MQ_ROLE_BROKER;
    t.client_id = NULL;
    if (mq_session_config_check(&t) != MQ_OK)
        return NULL;
    mq_broker *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->cfg = t;
    b->cfg_tr[MQ_TRANSPORT_DATAGRAM] = b->cfg_tr[MQ_TRANSPORT_STREAM] = t;
    b->cfg_tr[MQ_TRANSPORT_DATAGRAM].transport = MQ_TRANSPORT_DATAGRAM;
    b->cfg_tr[MQ_TRANSPORT_STREAM].transport = MQ_TRANSPORT_STREAM;
    if (io)
        b->io = *io;
    b->free_head = -1;
    b->timer_at = MQ_NEVER;
    b->subs = mq_subs_new();
    if (!b->subs) {
        free(b);
        return NULL;
    }
    return b;
}

/* Cost: O(contexts + sessions + subscriptions + held flows). */
void mq_broker_free(mq_broker *b)
{
    if (!b)
        return;
    while (b->ctxs)
        ctx_free(b, b->ctxs);
    for (size_t j = 0; j < b->n_slots; j++)
        free(b->slot[j].id);
    mq_subs_free(b->subs);
    image_clear(&b->saved);
    free(b->slot);
    free(b->hash);
    free(b->heap);
    free(b);
}

/* The contexts' own callbacks, with tag_ops (restored contexts: none). */
static mq_session_io ctx_io(const mq_tag_ops *tag_ops)
{
    return (mq_session_io){
        .send = c_send, .deliver = c_deliver, .timer = c_timer, .drop = c_drop,
        .event = c_event, .close = c_close, .tag = c_tag, .tag_ops = tag_ops,
        .subscribe = c_subscribe, .connect = c_connect, .ended = c_ended,
    };
}

/* A context with nothing of the host's: a restored session's until it is taken over. */
static const mq_session_io no_host;

/* A context with host's callbacks given ctx, borrowing host when shared, else
 * copying it after the context. Its session shares the broker's settings
 * for transport, and its callbacks when host's tag_ops are those of the
 * broker's table (the first host's). */
static bctx *ctx_new(mq_broker *b, mq_transport transport, const mq_session_io *host, void *ctx,
                     bool shared)
{
    bctx *c = calloc(1, sizeof *c + (shared ? 0 : sizeof *host));
    if (!c)
        return NULL;
    c->b = b;
    if (shared) {
        c->host = host;
    } else {
        mq_session_io *own = (mq_session_io *)(c + 1);
        *own = *host;
        c->host = own;
    }
    c->host_ctx = ctx;
    if (!b->sio_set) {
        b->sio = ctx_io(host->tag_ops);
        b->sio_set = true;
    }
    if (b->sio.tag_ops == host->tag_ops) {
        c->s = mq_session_new_shared(&b->cfg_tr[transport], NULL, &b->sio, c);
    } else {
        mq_session_config cfg = b->cfg_tr[transport];
        mq_session_io sio = ctx_io(host->tag_ops);
        sio.ctx = c;
        c->s = mq_session_new(&cfg, &sio);
    }
    if (!c->s) {
        free(c);
        return NULL;
    }
    return c;
}

/* Cost: O(1) amortised; a context is about 550 bytes before it holds anything
 * (shared: about 420). */
static mq_session *accept(mq_broker *b, int64_t now, mq_transport transport,
                          const mq_session_io *conn, void *ctx, bool shared)
{
    assert(conn && conn->send && conn->timer);
    assert(transport == MQ_TRANSPORT_DATAGRAM || conn->close);
    int j = slot_alloc(b);
    if (j < 0)
        return NULL;
    bctx *c = ctx_new(b, transport, conn, ctx, shared);
    if (!c) {
        slot_free(b, j);
        return NULL;
    }
    c->sess = j;
    b->slot[j].c = c;
    mq_session_set_owner(c->s, c);
    c->live = true;
    b->n_conns++;
    c->next = b->ctxs;
    if (b->ctxs)
        b->ctxs->prev = c;
    b->ctxs = c;
    enter(b);
    mq_session_on_up(c->s, now);
    leave(b);
    return c->s;
}

mq_session *mq_broker_accept(mq_broker *b, int64_t now, mq_transport transport,
                             const mq_session_io *conn)
{
    assert(conn);
    return accept(b, now, transport, conn, conn->ctx, false);
}

mq_session *mq_broker_accept_shared(mq_broker *b, int64_t now, mq_transport transport,
                                    const mq_session_io *conn, void *ctx)
{
    return accept(b, now, transport, conn, ctx, true);
}

static bctx *ctx_of(mq_session *s)
{
    bctx *c = mq_session_owner(s);
    assert(c && c->s == s && !c->dead);
    return c;
}

void mq_broker_conn_bytes(mq_broker *b, mq_session *s, int64_t now, const uint8_t *buf,
                          size_t len)
{
    ctx_of(s);
    enter(b);
    mq_session_on_bytes(s, now, buf, len);
    leave(b);
}

void mq_broker_conn_zeros(mq_broker *b, mq_session *s, int64_t now, uint64_t n)
{
    ctx_of(s);
    enter(b);
    mq_session_on_zeros(s, now, n);
    leave(b);
}

void mq_broker_conn_frame(mq_broker *b, mq_session *s, int64_t now, const uint8_t *buf,
                          size_t len, uint64_t zeros)
{
    ctx_of(s);
    enter(b);
    mq_session_on_frame(s, now, buf, len, zeros);
    leave(b);
}

void mq_broker_conn_down(mq_broker *b, mq_session *s, int64_t now, mq_down_cause why)
{
    ctx_of(s);
    enter(b);
    mq_session_on_down(s, now, why);
    leave(b);
}

void mq_broker_conn_timer(mq_broker *b, mq_session *s, int64_t now)
{
    ctx_of(s);
    enter(b);
    mq_session_on_timer(s, now);
    leave(b);
}

/* Cost: O(log n) per expired session, plus what it held. */
void mq_broker_on_timer(mq_broker *b, int64_t now)
{
    enter(b);
    b->timer_at = MQ_NEVER;
    while (b->n_heap && b->slot[b->heap[0]].expire_at <= now) {
        int j = b->heap[0];
        bctx *c = b->slot[j].c;
        session_end(b, j, now, MQ_DROP_SESSION_LOST);
        ctx_kill(b, c);
    }
    update_timer(b);
    leave(b);
}

void mq_broker_finish(mq_broker *b, int64_t now)
{
    enter(b);
    for (size_t j = 0; j < b->n_slots; j++)
        if (b->slot[j].bound)
            mq_session_finish(b->slot[j].c->s, now);
    image_clear(&b->saved);
    leave(b);
}

/* ---- persistence ----------------------------------------------------------- */

static void image_clear(bimage *im)
{
    for (size_t i = 0; i < im->n; i++) {
        psess *p = &im->v[i];
        for (size_t k = 0; k < p->n_subs; k++)
            free(p->subs[k].filter);
        free(p->subs);
        free(p->id);
        mq_session_image_free(p->st);
    }
    free(im->v);
    *im = (bimage){0};
}

typedef struct {
    psess *p;
    bool nomem;
} subs_copy;

static void copy_sub(void *ctx, const char *filter, size_t len, uint8_t qos)
{
    subs_copy *sc = ctx;
    psess *p = sc->p;
    if (sc->nomem)
        return;
    if (p->n_subs == p->cap_subs) {
        size_t cap = p->cap_subs ? 2 * p->cap_subs : 4;
        psub *v = realloc(p->subs, cap * sizeof *v);
        if (!v) {
            sc->nomem = true;
            return;
        }
        p->subs = v;
        p->cap_subs = cap;
    }
    char *f = malloc(len ? len : 1);
    if (!f) {
        sc->nomem = true;
        return;
    }
    memcpy(f, filter, len);
    p->subs[p->n_subs++] = (psub){f, (uint16_t)len, qos};
}

void mq_broker_set_persistence(mq_broker *b, mq_persist p)
{
    b->persist = p;
}

/* Whether slot j's session is persistent: kept past its connection, and
 * named (a zero-length id always has a clean session; Mosquitto skips one
 * too). */
static bool persistent(const bslot *x)
{
    return x->bound && !x->ends_with_conn && x->id_len > 0;
}

/* Cost: see broker.h. Session order is slot order. */
int mq_broker_save(mq_broker *b, int64_t now)
{
    if (b->persist != MQ_PERSIST_SAVES)
        return 0;
    bimage im = {.at = now};
    size_t n = 0;
    for (size_t j = 0; j < b->n_slots; j++)
        n += persistent(&b->slot[j]);
    if (n && !(im.v = calloc(n, sizeof *im.v)))
        return MQ_ERR_NOMEM;
    for (size_t j = 0; j < b->n_slots; j++) {
        const bslot *x = &b->slot[j];
        if (!persistent(x))
            continue;
        psess *p = &im.v[im.n++];
        p->slot = (int)j;
        p->id_len = x->id_len;
        p->online = x->c->live;
        p->expiry_s = x->expiry_s;
        p->expire_at = x->hpos ? x->expire_at : MQ_NEVER;
        p->user = x->user;
        p->transport = mq_session_transport(x->c->s);
        p->id = malloc(x->id_len);
        p->st = mq_session_image_new(x->c->s);
        subs_copy sc = {p, false};
        if (!p->id || !p->st || mq_subs_each(b->subs, (uint32_t)j, copy_sub, &sc) || sc.nomem) {
            image_clear(&im);
            return MQ_ERR_NOMEM;
        }
        memcpy(p->id, x->id, x->id_len);
    }
    image_clear(&b->saved);
    b->saved = im;
    return 0;
}

size_t mq_broker_saved_sessions(const mq_broker *b)
{
    return b->saved.n;
}

/* The image's copy of slot j's session (client id id), or NULL. The image
 * is in slot order and a kept session keeps its slot, so the copy is
 * usually at slot j: O(log saved sessions); else O(saved sessions). */
static const psess *image_find(const bimage *im, int j, const char *id, size_t len)
{
    size_t lo = 0, hi = im->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (im->v[mid].slot < j)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < im->n && im->v[lo].slot == j && im->v[lo].id_len == len &&
        memcmp(im->v[lo].id, id, len) == 0)
        return &im->v[lo];
    for (size_t i = 0; i < im->n; i++)
        if (im->v[i].id_len == len && memcmp(im->v[i].id, id, len) == 0)
            return &im->v[i];
    return NULL;
}

/* Slot j (free: slots never shrink, so a saved index is below n_slots)
 * is taken off the free list for a restored session. O(free slots). */
static void slot_take(mq_broker *b, int j)
{
    assert((size_t)j < b->n_slots && !b->slot[j].c);
    int *pp = &b->free_head;
    while (*pp >= 0 && *pp != j)
        pp = &b->slot[*pp].hnext;
    assert(*pp == j);
    *pp = b->slot[j].hnext;
    memset(&b->slot[j], 0, sizeof b->slot[j]);
    b->slot[j].hnext = -1;
}

/* A context without a connection holding the saved session p. */
static int restore_session(mq_broker *b, int64_t now, const psess *p)
{
    /* Its callbacks have no tag_ops (as before: a restored session keeps no tags). */
    static const mq_session_io none_io = {
        .send = c_send, .deliver = c_deliver, .timer = c_timer, .drop = c_drop,
        .event = c_event, .close = c_close, .tag = c_tag, .subscribe = c_subscribe,
        .connect = c_connect, .ended = c_ended,
    };
    bctx *c = calloc(1, sizeof *c);
    if (!c)
        return MQ_ERR_NOMEM;
    c->b = b;
    c->host = &no_host;
    c->sess = -1;
    c->s = mq_session_new_shared(&b->cfg_tr[p->transport], NULL, &none_io, c);
    if (!c->s || mq_session_image_restore(c->s, p->st)) {
        mq_session_free(c->s);
        free(c);
        return MQ_ERR_NOMEM;
    }
    mq_session_set_owner(c->s, c);
    c->next = b->ctxs;
    if (b->ctxs)
        b->ctxs->prev = c;
    b->ctxs = c;
    int j = p->slot;
    slot_take(b, j);
    bslot *x = &b->slot[j];
    x->c = c;
    x->bound = true;
    x->expiry_s = p->expiry_s;
    x->ends_with_conn = false;
    x->user = p->user;
    x->id = malloc(p->id_len);
    c->sess = j;
    b->n_sessions++;
    if (!x->id || (memcpy(x->id, p->id, p->id_len), x->id_len = p->id_len, id_add(b, j))) {
        session_end(b, j, now, MQ_DROP_BROKER_RESTART);
        ctx_kill(b, c);
        return MQ_ERR_NOMEM;
    }
    for (size_t k = 0; k < p->n_subs; k++)
        if (mq_subs_add(b->subs, (uint32_t)j, p->subs[k].filter, p->subs[k].len,
                        p->subs[k].qos) < 0)
            return MQ_ERR_NOMEM;
    if (p->expiry_s != NEVER_EXPIRES) {
        x->expire_at = p->online ? now + (int64_t)p->expiry_s * NS_PER_S : p->expire_at;
        heap_push(b, j);
    }
    return 0;
}

/* Every change saved: the image would be the kept sessions exactly as they
 * are, so they are kept as they are. This is exactly a save after every
 * change followed by a restore: the persistent state is what an image holds
 * (broker.h), a restored session is a context without a connection with the
 * same state, identifiers and subscriptions (the identifier rotation and
 * start order too), and what a restart loses besides is what a connection
 * loses when it closes (a PUBLISH half received, the send window, timer
 * deadlines), which a resumption resets in both cases. Mosquitto saves at
 * most once per loop round; a simulated restart falls between events, so
 * no change is ever unsaved. */
static void restart_every_change(mq_broker *b, int64_t now)
{
    for (size_t j = 0; j < b->n_slots; j++) {
        bslot *x = &b->slot[j];
        if (!x->c)
            continue;
        bctx *c = x->c;
        if (!x->bound) {
            ctx_kill(b, c);
            continue;
        }
        if (x->ends_with_conn || !x->id_len) {
            session_end(b, (int)j, now, MQ_DROP_BROKER_RESTART);
            ctx_kill(b, c);
            continue;
        }
        if (c->live) {
            c->live = false;
            b->n_conns--;
            if (x->expiry_s != NEVER_EXPIRES) {
                x->expire_at = now + (int64_t)x->expiry_s * NS_PER_S;
                heap_push(b, (int)j);
            }
        }
    }
    /* Contexts that hold no slot: connections whose session moved on. */
    for (bctx *c = b->ctxs; c; c = c->next)
        if (c->live)
            ctx_kill(b, c);
}

/* The broker becomes its saved image (see broker.h). */
static int restart_from_image(mq_broker *b, int64_t now)
{
    for (size_t j = 0; j < b->n_slots; j++) {
        bslot *x = &b->slot[j];
        if (!x->c)
            continue;
        bctx *c = x->c;
        if (x->bound) {
            const psess *p = x->id_len ? image_find(&b->saved, (int)j, x->id, x->id_len) : NULL;
            mq_session_end_state_except(c->s, now, MQ_DROP_BROKER_RESTART, p ? p->st : NULL);
            c->sess = -1;
        } else {
            c->sess = -1;
        }
        slot_free(b, (int)j);
        ctx_kill(b, c);
    }
    for (bctx *c = b->ctxs; c; c = c->next)
        ctx_kill(b, c);
    int rc = 0;
    for (size_t i = 0; i < b->saved.n; i++)
        if (restore_session(b, now, &b->saved.v[i]))
            rc = MQ_ERR_NOMEM;
    return rc;
}

int mq_broker_restart(mq_broker *b, int64_t now)
{
    enter(b);
    for (bctx *c = b->ctxs; c; c = c->next)
        if (c->live && !c->dead)
            mq_session_kick(c->s, now, MQ_CLOSE_BROKER_RESTART);
    int rc = 0;
    if (b->persist == MQ_PERSIST_EVERY_CHANGE) {
        restart_every_change(b, now);
        update_timer(b);
        leave(b);
        return 0;
    }
    if (b->persist == MQ_PERSIST_SAVES) {
        rc = restart_from_image(b, now);
        update_timer(b);
        leave(b);
        return rc;
    }
    for (bctx *c = b->ctxs; c; c = c->next)
        if (c->live && !c->dead)
            mq_session_kick(c->s, now, MQ_CLOSE_BROKER_RESTART);
    for (size_t j = 0; j < b->n_slots; j++) {
        bslot *x = &b->slot[j];
        if (!x->c)
            continue;
        bctx *c = x->c;
        if (x->bound)
            session_end(b, (int)j, now, MQ_DROP_BROKER_RESTART);
        ctx_kill(b, c);
    }
    for (bctx *c = b->ctxs; c; c = c->next)
        ctx_kill(b, c);
    update_timer(b);
    leave(b);
    return rc;
}

mq_session *mq_broker_find(const mq_broker *b, const char *client_id, size_t len)
{
    int j = id_find(b, client_id, len);
    return j >= 0 ? b->slot[j].c->s : NULL;
}

int mq_broker_session_index(const mq_session *s)
{
    const bctx *c = mq_session_owner(s);
    return c ? c->sess : -1;
}

size_t mq_broker_sessions(const mq_broker *b)
{
    return b->n_sessions;
}

size_t mq_broker_connections(const mq_broker *b)
{
    return b->n_conns;
}

/* Replaces the QoS of an identical filter (byte for byte) or adds it.
 * A QoS above 2, an invalid filter or out of memory answer 0x80 and change
 * nothing. Cost: O(len) expected (see mq_subs_add). */
uint8_t mq_broker_subscribe(mq_broker *b, int sess, const char *filter, size_t len,
                            uint8_t qos)
{
    assert(sess >= 0 && (size_t)sess < b->n_slots && b->slot[sess].bound);
    if (qos > 2 || !filter || !mq_topic_filter_valid(filter, len))
        return 0x80;
    return mq_subs_add(b->subs, (uint32_t)sess, filter, len, qos) < 0 ? 0x80 : qos;
}

/* Fills one route per matching session. */
typedef struct {
    mq_route *out;
    size_t cap, k;
    uint8_t qos;
} routes;

static void put_route(void *ctx, uint32_t sess, uint8_t sub_qos)
{
    routes *r = ctx;
    if (r->k < r->cap)
        r->out[r->k] = (mq_route){(int)sess, sub_qos < r->qos ? sub_qos : r->qos};
    r->k++;
}

/* Cost: O(topic levels + matching subscriptions); no allocation. */
size_t mq_broker_route(const mq_broker *b, const char *topic, size_t len, uint8_t pub_qos,
                       mq_route *out, size_t cap)
{
    routes r = {out, cap, 0, pub_qos};
    int rc = mq_subs_match(b->subs, topic, len, put_route, &r);
    assert(rc >= 0); /* not nested in a match: it neither allocates nor fails */
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
