/* The sans-IO MQTT session engine: connections, sessions, and the QoS 0/1/2 state machines. */
#include "models/session.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "models/pool.h"
#include "models/topic.h"
#include "models/utf8.h"

#define MAX_ID 65535u
#define MQ_PRECONNECT_KEEPALIVE_S 60 /* Mosquitto's keepalive before a CONNECT */
#define STACK_HEAD 256          /* PUBLISH headers up to this size need no scratch buffer */
#define DEFAULT_CONNECT_TIMEOUT INT64_C(30000000000) /* Paho C: 30 s */
#define DEFAULT_RECONNECT_INITIAL INT64_C(1000000000) /* Paho C: 1 s ... */
#define DEFAULT_RECONNECT_MAX INT64_C(60000000000)    /* ... doubling to 60 s */
#define NS_PER_S INT64_C(1000000000)

/* ------------------------------------------------------------------------ */
/* Identifier-keyed intrusive hash table.
 *
 * Used twice per session: sender flows in flight by packet identifier, and
 * the QoS 2 receiver's held identifiers. Chained, power-of-two buckets,
 * doubled when the load passes 1 and halved below 1/4 (but not below 64
 * buckets, so a window of a few dozen flows that fills and empties does not
 * rehash every time), so its memory follows what is held (none until the
 * first insert, then 8 buckets, 65536 at most) and a lookup is O(1) on
 * average. It also answers "is this identifier taken", so the session needs
 * no identifier bitmap. Fibonacci hashing spreads any identifier pattern. */

typedef struct idnode {
    struct idnode *next;
    uint16_t id;
    /* What would be padding, used by a flow for its small fields (so that a
     * flow is 56 bytes, a 64-byte malloc chunk rather than an 80-byte one:
     * a broker holds one per message not yet acknowledged). */
    uint8_t qos;
    uint8_t state;          /* mq_msg_state */
    int32_t resends;        /* timer resends of the current packet */
} idnode;

typedef struct {
    idnode **b;    /* NULL until the first insert */
    uint32_t bits; /* 1 << bits buckets */
    uint32_t n;
} idmap;

#define IDMAP_MIN_BITS 3
#define IDMAP_SHRINK_BITS 6 /* shrinking stops here */
#define IDMAP_MAX_BITS 16

static uint32_t idhash(uint16_t id, uint32_t bits)
{
    return ((uint32_t)id * 2654435761u) >> (32 - bits);
}

/* Rehashes into 1 << bits buckets. On out of memory the table stays as it
 * is: still correct, only with longer chains. Cost: O(buckets + n). */
static void idmap_resize(idmap *t, uint32_t bits)
{
    idnode **nb = calloc((size_t)1 << bits, sizeof *nb);
    if (!nb)
        return;
    for (size_t i = 0; t->b && i < (size_t)1 << t->bits; i++) {
        idnode *x = t->b[i];
        while (x) {
            idnode *next = x->next;
            uint32_t h = idhash(x->id, bits);
            x->next = nb[h];
            nb[h] = x;
            x = next;
        }
    }
    free(t->b);
    t->b = nb;
    t->bits = bits;
}

static idnode *idmap_find(const idmap *t, uint16_t id)
{
    if (!t->b)
        return NULL;
    for (idnode *x = t->b[idhash(id, t->bits)]; x; x = x->next)
        if (x->id == id)
            return x;
    return NULL;
}

/* x->id must not be present. Returns MQ_ERR_NOMEM only when the first
 * bucket array cannot be had; growing later never fails (see resize). */
static int idmap_insert(idmap *t, idnode *x)
{
    if (!t->b) {
        idmap_resize(t, IDMAP_MIN_BITS);
        if (!t->b)
            return MQ_ERR_NOMEM;
    }
    uint32_t h = idhash(x->id, t->bits);
    x->next = t->b[h];
    t->b[h] = x;
    if (++t->n > (1u << t->bits) && t->bits < IDMAP_MAX_BITS)
        idmap_resize(t, t->bits + 1);
    return 0;
}

/* x must be present. */
static void idmap_remove(idmap *t, idnode *x)
{
    idnode **pp = &t->b[idhash(x->id, t->bits)];
    while (*pp != x) {
        assert(*pp);
        pp = &(*pp)->next;
    }
    *pp = x->next;
    t->n--;
    if (t->bits > IDMAP_SHRINK_BITS && t->n < (1u << t->bits) / 4)
        idmap_resize(t, t->bits - 1);
}

/* Drops the buckets (the nodes belong to the caller). */
static void idmap_clear(idmap *t)
{
    free(t->b);
    t->b = NULL;
    t->bits = 0;
    t->n = 0;
}

/* ------------------------------------------------------------------------ */
/* Session state */

/* One sender-side message: queued, or in flight under an identifier. */
typedef struct flow {
    idnode node;            /* first member: keyed by packet identifier in flight; holds
                               the flow's qos, state and resends too */
    struct flow *prev, *next; /* in flight: the flight list; queued: the FIFO */
    mq_msg *m;              /* held; NULL once PUBREC has released it */
    int64_t deadline;       /* timer retransmission: when the current packet is resent */
    uint64_t seq;           /* start order, kept for resumption */
} flow;

_Static_assert(sizeof(flow) == 56, "a flow is 56 bytes (see idnode)");

/* One identifier a QoS 2 receiver holds between PUBLISH and PUBREL. */
typedef struct held {
    idnode node;            /* first member */
    mq_msg *m;              /* method A: the stored message; method B: NULL */
    bool dup, retain;       /* of the PUBLISH that was stored */
} held;

/* One SUBSCRIBE of the client's list: remembered for resubscription, and
 * waiting for its SUBACK while id != 0. The filters live after the array. */
typedef struct subreq {
    struct subreq *next;
    int64_t deadline;       /* datagram: when it is resent */
    uint16_t id;
    bool acked;             /* answered on the current session */
    uint8_t n;
    mq_sub subs[];
} subreq;

/* What a session is, apart from its connection: mq_session_take_state moves
 * it wholesale from one broker context to another. The flight list is in
 * ascending deadline with timer retransmission (new deadlines land at the
 * tail), and in start order otherwise (no deadlines). */
typedef struct {
    flow *fl_head, *fl_tail;
    flow *q_head, *q_tail;
    size_t n_inflight, n_queued;
    idmap flows;
    idmap held;
    uint32_t ids_used;        /* flows in flight + SUBSCRIBEs waiting */
    uint16_t next_id;         /* where the rotating allocator looks first */
    uint64_t seq;
} sstate;

/* A stream session's input: the framer and the PUBLISH being received. */
typedef struct {
    mq_framer fr;
    mq_msg *msg;              /* the PUBLISH being received */
    mq_pubhead head;
    uint64_t pos;             /* payload bytes taken so far */
    bool skip;                /* its message is not needed (a held QoS 2 duplicate) */
    bool lost;                /* its message could not be built (out of memory) */
} rxstate;

struct mq_session {
    /* Borrowed (mq_session_new_shared) or kept after the session (mq_session_new). */
    const mq_session_config *cfg;
    const mq_session_io *io;
    void *ctx;                /* passed to io's callbacks */
    char *client_id;
    void *owner;
    int64_t now;              /* `now` of the call being served */
    sstate st;

    /* client: the subscription list and the reconnect policy */
    subreq *subs, *subs_tail;
    bool started;             /* connect called; reconnect after closes */
    bool ever_connected;      /* datagram: a CONNACK was had */
    bool dg_connecting;       /* datagram: CONNECT waiting for CONNACK */
    uint32_t attempt;         /* reconnect ladder step */
    int64_t reconnect_at;
    int64_t connect_deadline; /* stream: connect timeout */
    int64_t dg_connect_at;    /* datagram: the CONNECT's resend deadline */

    /* the connection */
    uint8_t state;            /* mq_conn_state */
    uint8_t version;          /* of this connection */
    bool datagram, timer_mode;
    bool last_present;        /* broker: the session present of the CONNACK sent */
    bool ping_out;
    uint16_t keepalive;       /* s; broker: from the CONNECT */
    uint32_t window;          /* 0 = unlimited */
    int64_t last_rx, last_tx;
    uint64_t frames;          /* datagram frames taken: the tag offset */
    rxstate *rx;              /* stream input (NULL on datagrams: frames come whole) */

    int64_t timer_at;         /* last deadline given to io->timer */
    uint8_t *buf;             /* encode scratch for big packets (lazy) */
    size_t cap;
    /* flows and held identifiers ended on the packet path, kept for reuse
     * (plain malloc blocks: any other path may free one) */
    mq_pool flow_pool, held_pool;
};

/* ------------------------------------------------------------------------ */
/* Helpers */

static bool online(const mq_session *s)
{
    /* A datagram client has no connection to wait for: it sends at once, as
     * in the wave-1 model. */
    if (s->datagram && s->cfg->role == MQ_ROLE_CLIENT)
        return true;
    return s->state == MQ_CONN_UP;
}

static int reserve(mq_session *s, size_t need)
{
    if (need <= s->cap)
        return 0;
    size_t cap = s->cap ? s->cap : 256;
    while (cap < need)
        cap *= 2;
    uint8_t *nb = realloc(s->buf, cap);
    if (!nb)
        return MQ_ERR_NOMEM;
    s->buf = nb;
    s->cap = cap;
    return 0;
}

static void event(mq_session *s, mq_event ev, const mq_view *v)
{
    if (s->io->event)
        s->io->event(s->ctx, ev, v);
}

static void drop(mq_session *s, mq_msg *m, uint8_t qos, mq_drop_reason why)
{
    if (s->io->drop)
        s->io->drop(s->ctx, m, qos, why);
}

static void emit(mq_session *s, const uint8_t *buf, size_t len, uint64_t zeros,
                 const mq_view *v, mq_msg *m, bool resend)
{
    s->last_tx = s->now;
    s->io->send(s->ctx, buf, len, zeros, v, m, resend);
}

static void send_ack(mq_session *s, uint8_t type, uint16_t id, uint8_t reason, bool resend)
{
    uint8_t b[5];
    size_t n = mq_codec_ack_encode(b, type, id, reason, s->version);
    mq_view v = {.type = type, .id = id, .reason = reason};
    emit(s, b, n, 0, &v, NULL, resend);
}

/* Encodes a packet built in p (connection control: CONNECT, CONNACK,
 * SUBSCRIBE, SUBACK, PINGs, DISCONNECT) into a buffer and sends it. Every
 * such packet is built by this file, so a failure to encode is a bug; out of
 * memory skips the send (as if lost on the wire). Cost: one encode, into the
 * stack buffer or, once the scratch one has grown past it, into that; a
 * packet larger than both is measured and encoded again. So a long SUBSCRIBE
 * resent over datagrams has its filters checked once a resend, not thrice. */
static void send_packet(mq_session *s, const mq_packet *p, bool resend)
{
    uint8_t small[64];
    size_t used;
    uint8_t *b = s->cap > sizeof small ? s->buf : small;
    int rc = mq_codec_encode(p, s->version, b, s->cap > sizeof small ? s->cap : sizeof small,
                             &used);
    if (rc == MQ_ERR_NOSPACE) { /* nothing written */
        size_t need = mq_codec_size(p, s->version);
        assert(need > 0);
        if (reserve(s, need)) {
            event(s, MQ_EV_NOMEM, NULL);
            return;
        }
        b = s->buf;
        rc = mq_codec_encode(p, s->version, b, need, &used);
    }
    assert(rc == MQ_OK);
    if (rc != MQ_OK)
        return;
    mq_view v = {.type = p->type, .id = p->id, .reason = p->reason,
                 .session_present = p->session_present};
    emit(s, b, used, 0, &v, NULL, resend);
}

/* One encode per send: the header written straight into a stack buffer (or
 * the scratch one for long topics or stored payloads), the payload's head or
 * stored body after it, the rest of a head + zeros payload as a count. */
static void send_publish(mq_session *s, mq_msg *m, uint8_t qos, uint16_t id, bool dup,
                         bool resend)
{
    uint8_t small[STACK_HEAD];
    size_t body = m->has_body ? m->payload_len : m->head_len;
    size_t need = MQ_PUBLISH_HEAD_MAX + m->topic_len + body;
    uint8_t *b = small;
    if (need > sizeof small) {
        if (reserve(s, need)) {
            event(s, MQ_EV_NOMEM, NULL); /* as if lost on the wire */
            return;
        }
        b = s->buf;
    }
    size_t used;
    int rc = mq_codec_publish_encode_head(b, need, s->version, qos, dup, m->retain, id,
                                          m->topic, m->topic_len, m->payload_len, &used);
    assert(rc == MQ_OK); /* the message's size was checked when it was built */
    if (rc != MQ_OK)
        return;
    memcpy(b + used, mq_msg_head(m), body);
    mq_view v = {.type = MQ_PUBLISH, .qos = qos, .dup = dup, .retain = m->retain, .id = id};
    emit(s, b, used + body, m->payload_len - body, &v, m, resend);
}

static bool id_taken(const mq_session *s, uint16_t id)
{
    if (idmap_find(&s->st.flows, id))
        return true;
    for (const subreq *r = s->subs; r; r = r->next)
        if (r->id == id)
            return true;
    return false;
}

/* Rotating allocator: the first free identifier at or after next_id,
 * wrapping. The flight hash (and the client's few waiting SUBSCRIBEs) say
 * which are taken. Requires a free identifier. Cost: O(1) while identifiers
 * complete roughly in the order they were taken; at worst one pass. */
static uint16_t alloc_id(mq_session *s)
{
    assert(s->st.ids_used < MAX_ID);
    uint16_t id = s->st.next_id ? s->st.next_id : 1;
    while (id_taken(s, id))
        id = id == MAX_ID ? 1 : (uint16_t)(id + 1);
    s->st.ids_used++;
    s->st.next_id = id == MAX_ID ? 1 : (uint16_t)(id + 1);
    return id;
}

static void free_id(mq_session *s)
{
    assert(s->st.ids_used > 0);
    s->st.ids_used--;
}

/* Flight list. With a constant retry interval and a non-decreasing `now`
 * every insertion lands at the tail, so the walk back from the tail is O(1);
 * with no deadlines (MQ_NEVER) it is an append. */
static void fl_insert(mq_session *s, flow *f)
{
    flow *after = s->st.fl_tail;
    while (after && after->deadline > f->deadline)
        after = after->prev;
    f->prev = after;
    f->next = after ? after->next : s->st.fl_head;
    if (f->next)
        f->next->prev = f;
    else
        s->st.fl_tail = f;
    if (after)
        after->next = f;
    else
        s->st.fl_head = f;
}

static void fl_unlink(mq_session *s, flow *f)
{
    if (f->prev)
        f->prev->next = f->next;
    else
        s->st.fl_head = f->next;
    if (f->next)
        f->next->prev = f->prev;
    else
        s->st.fl_tail = f->prev;
    f->prev = f->next = NULL;
}

static void q_push(mq_session *s, flow *f)
{
    f->next = NULL;
    f->prev = s->st.q_tail;
    if (s->st.q_tail)
        s->st.q_tail->next = f;
    else
        s->st.q_head = f;
    s->st.q_tail = f;
    s->st.n_queued++;
}

static flow *q_pop(mq_session *s)
{
    flow *f = s->st.q_head;
    if (!f)
        return NULL;
    s->st.q_head = f->next;
    if (s->st.q_head)
        s->st.q_head->prev = NULL;
    else
        s->st.q_tail = NULL;
    f->next = NULL;
    s->st.n_queued--;
    return f;
}

/* Sorts the flight list into start order (a stable merge sort on seq, in
 * place). With timer retransmission the list is in deadline order, which a
 * PUBREC or a resend reshuffles; resumption and session ends want the
 * original order. Cost: O(n log n), no allocation. */
static void fl_sort_by_seq(mq_session *s)
{
    flow *list = s->st.fl_head;
    if (!list || !list->next)
        return;
    for (size_t width = 1;; width *= 2) {
        flow *p = list, *tail = NULL;
        list = NULL;
        size_t merges = 0;
        while (p) {
            merges++;
            flow *q = p;
            size_t psize = 0, qsize = width;
            while (psize < width && q) {
                psize++;
                q = q->next;
            }
            while (psize > 0 || (qsize > 0 && q)) {
                flow *e;
                if (psize == 0) {
                    e = q; q = q->next; qsize--;
                } else if (qsize == 0 || !q || p->seq <= q->seq) {
                    e = p; p = p->next; psize--;
                } else {
                    e = q; q = q->next; qsize--;
                }
                if (tail)
                    tail->next = e;
                else
                    list = e;
                e->prev = tail;
                tail = e;
            }
            p = q;
        }
        tail->next = NULL;
        if (merges <= 1) {
            s->st.fl_head = list;
            s->st.fl_tail = tail;
            return;
        }
    }
}

static uint32_t window_of(const mq_session *s)
{
    return s->window;
}

static bool window_open(const mq_session *s)
{
    uint32_t w = window_of(s);
    return (w == 0 || s->st.n_inflight < w) && s->st.ids_used < MAX_ID;
}

/* Puts f in flight under a fresh identifier and sends its PUBLISH. Returns
 * false when out of memory for the first bucket array: f is then back at the
 * head of the queue, for the next chance. */
static bool start_flow(mq_session *s, flow *f)
{
    f->node.id = alloc_id(s);
    if (idmap_insert(&s->st.flows, &f->node)) {
        free_id(s);
        f->next = s->st.q_head;
        f->prev = NULL;
        if (s->st.q_head)
            s->st.q_head->prev = f;
        else
            s->st.q_tail = f;
        s->st.q_head = f;
        s->st.n_queued++;
        event(s, MQ_EV_NOMEM, NULL);
        return false;
    }
    f->node.state = f->node.qos == 1 ? MQ_MS_WAIT_PUBACK : MQ_MS_WAIT_PUBREC;
    f->node.resends = 0;
    f->seq = ++s->st.seq;
    f->deadline = s->timer_mode ? s->now + s->cfg->retry_interval : MQ_NEVER;
    fl_insert(s, f);
    s->st.n_inflight++;
    send_publish(s, f->m, f->node.qos, f->node.id, false, false);
    return true;
}

/* Removes an in-flight flow and its identifier; returns its message (the
 * reference passes to the caller) and frees the flow. */
static mq_msg *take_flow(mq_session *s, flow *f)
{
    fl_unlink(s, f);
    idmap_remove(&s->st.flows, &f->node);
    free_id(s);
    s->st.n_inflight--;
    mq_msg *m = f->m;
    mq_pool_put(&s->flow_pool, f);
    return m;
}

static void end_flow(mq_session *s, flow *f)
{
    mq_msg *m = take_flow(s, f);
    if (m)
        mq_msg_unref(m);
}

/* Ends an in-flight flow with a drop report; m stays alive through it. */
static void drop_flow(mq_session *s, flow *f, mq_drop_reason why)
{
    uint8_t qos = f->node.qos;
    mq_msg *m = take_flow(s, f);
    drop(s, m, qos, why);
    if (m)
        mq_msg_unref(m);
}

/* Sends queued messages while the window and the identifier space allow
 * (a queued QoS 0 message, which only a broker keeps, just goes). */
static void drain_queue(mq_session *s)
{
    while (s->st.q_head && online(s)) {
        if (s->st.q_head->node.qos == 0) {
            flow *f = q_pop(s);
            send_publish(s, f->m, 0, 0, false, false);
            mq_msg_unref(f->m);
            mq_pool_put(&s->flow_pool, f);
            continue;
        }
        if (!window_open(s) || !start_flow(s, q_pop(s)))
            return;
    }
}

static int64_t keepalive_deadline(const mq_session *s)
{
    if (!s->datagram && s->cfg->role == MQ_ROLE_BROKER && s->state == MQ_CONN_CONNECTING) {
        /* A connection that has not sent its CONNECT yet is held to
         * Mosquitto's default keepalive (context.c: 60 s) like any other:
         * closed after 1.5 x that of silence, so it cannot hold a slot. */
        int64_t k = (int64_t)MQ_PRECONNECT_KEEPALIVE_S * NS_PER_S;
        return s->last_rx + k + k / 2;
    }
    if (s->datagram || s->state != MQ_CONN_UP || s->keepalive == 0)
        return MQ_NEVER;
    int64_t k = (int64_t)s->keepalive * NS_PER_S;
    if (s->cfg->role == MQ_ROLE_BROKER)
        return s->last_rx + k + k / 2; /* Mosquitto: 1.5 x keepalive */
    return (s->last_tx < s->last_rx ? s->last_tx : s->last_rx) + k;
}

static int64_t earliest_deadline(const mq_session *s)
{
    int64_t t = online(s) && s->st.fl_head ? s->st.fl_head->deadline : MQ_NEVER;
    if (s->dg_connecting && s->dg_connect_at < t)
        t = s->dg_connect_at;
    for (const subreq *r = s->subs; r; r = r->next)
        if (r->id && r->deadline < t)
            t = r->deadline;
    if (!s->datagram) {
        int64_t k = keepalive_deadline(s);
        if (k < t)
            t = k;
        if (s->connect_deadline < t)
            t = s->connect_deadline;
        if (s->reconnect_at < t)
            t = s->reconnect_at;
    }
    return t;
}

/* Tells the host when the earliest deadline has changed. Every public entry
 * point that can change a deadline ends here. */
static void update_timer(mq_session *s)
{
    int64_t t = earliest_deadline(s);
    if (t != s->timer_at) {
        s->timer_at = t;
        s->io->timer(s->ctx, t);
    }
}

static void free_flow_list(flow *f)
{
    while (f) {
        flow *next = f->next;
        if (f->m)
            mq_msg_unref(f->m);
        free(f);
        f = next;
    }
}

/* Releases every held identifier, reporting stored messages with `why`
 * unless why is MQ_DROP__COUNT (release without a report). */
static void release_held(mq_session *s, mq_drop_reason why)
{
    idmap *t = &s->st.held;
    for (size_t i = 0; t->b && i < (size_t)1 << t->bits; i++) {
        idnode *x = t->b[i];
        while (x) {
            idnode *next = x->next;
            held *h = (held *)x;
            if (h->m) {
                if (why != MQ_DROP__COUNT)
                    drop(s, h->m, 2, why);
                mq_msg_unref(h->m);
            }
            free(h);
            x = next;
        }
    }
    idmap_clear(t);
}

/* Ends every in-flight flow with a report, in original order. */
static void drop_inflight(mq_session *s, mq_drop_reason why)
{
    fl_sort_by_seq(s);
    while (s->st.fl_head)
        drop_flow(s, s->st.fl_head, why);
    idmap_clear(&s->st.flows);
}

static void drop_queued(mq_session *s, mq_drop_reason why)
{
    flow *f;
    while ((f = q_pop(s))) {
        drop(s, f->m, f->node.qos, why);
        mq_msg_unref(f->m);
        free(f);
    }
}

/* Frees the waiting identifiers of the client's SUBSCRIBEs. */
static void subs_unwait(mq_session *s)
{
    for (subreq *r = s->subs; r; r = r->next)
        if (r->id) {
            r->id = 0;
            free_id(s);
        }
}

/* The rx side of a connection goes back to the start of a stream. */
static void rx_reset(mq_session *s)
{
    rxstate *rx = s->rx;
    if (!rx)
        return;
    mq_framer_reset(&rx->fr);
    if (rx->msg) {
        mq_msg_unref(rx->msg);
        rx->msg = NULL;
    }
    rx->skip = rx->lost = false;
}

/* Whether this client's session ends with its connection: 3.1.1 Clean
 * Session 1, or a 5.0 Session Expiry Interval of 0 (3.1.2.4 / 3.1.2.11.2). */
static bool session_ends_with_connection(const mq_session *s)
{
    return s->version == MQ_V5 ? s->cfg->session_expiry_s == 0 : s->cfg->clean_start;
}

/* The client's session ends (its state is not reused): in-flight flows and
 * held identifiers go as session_lost; queued messages were never sent and
 * are not session state (MQTT 4.1), so they stay; waiting SUBSCRIBEs will be
 * sent again. */
static void client_session_lost(mq_session *s)
{
    drop_inflight(s, MQ_DROP_SESSION_LOST);
    release_held(s, MQ_DROP_SESSION_LOST);
    subs_unwait(s);
    for (subreq *r = s->subs; r; r = r->next)
        r->acked = false;
    s->st.next_id = 1;
}

/* The ladder: reconnect_initial doubling to reconnect_max, then jitter. */
static int64_t backoff(mq_session *s)
{
    int64_t d = s->cfg->reconnect_initial ? s->cfg->reconnect_initial
                                          : DEFAULT_RECONNECT_INITIAL;
    int64_t max = s->cfg->reconnect_max ? s->cfg->reconnect_max : DEFAULT_RECONNECT_MAX;
    for (uint32_t i = 0; i < s->attempt && d < max; i++)
        d = d > max / 2 ? max : 2 * d;
    if (d > max)
        d = max;
    if (s->attempt < UINT32_MAX)
        s->attempt++;
    if (s->cfg->reconnect_jitter > 0 && s->io->random) {
        double u = s->io->random(s->ctx);
        d = (int64_t)((double)d * (1.0 + s->cfg->reconnect_jitter * (2.0 * u - 1.0)));
        if (d < 0)
            d = 0;
    }
    return d;
}

/* The connection is gone (told by the host, or closed by the engine). */
static void conn_down(mq_session *s)
{
    if (s->state == MQ_CONN_DOWN)
        return;
    bool was_up = s->state == MQ_CONN_UP;
    s->state = MQ_CONN_DOWN;
    s->ping_out = false;
    s->connect_deadline = MQ_NEVER;
    rx_reset(s);
    if (s->cfg->role == MQ_ROLE_BROKER) {
        if (s->io->ended)
            s->io->ended(s->ctx, s->now);
        return;
    }
    if (was_up && session_ends_with_connection(s))
        client_session_lost(s);
    if (s->started)
        s->reconnect_at = s->now + backoff(s);
}

static void conn_close(mq_session *s, mq_close_cause why)
{
    if (s->state == MQ_CONN_DOWN)
        return;
    if (s->io->close)
        s->io->close(s->ctx, s->now, why);
    conn_down(s);
}

/* A stream packet that breaks the protocol: counted, and the connection is
 * closed (MQTT 3.1.1 §4.8, 5.0 §4.13). A datagram one is only counted. */
static void protocol_error(mq_session *s, mq_event ev, const mq_view *v)
{
    event(s, ev, v);
    if (!s->datagram)
        conn_close(s, MQ_CLOSE_PROTOCOL_ERROR);
}

/* ------------------------------------------------------------------------ */
/* Lifecycle */

int mq_session_config_check(const mq_session_config *cfg)
{
    if (cfg->version != MQ_V311 && cfg->version != MQ_V5)
        return MQ_ERR_INVALID;
    if (cfg->client_id) {
        size_t n = strlen(cfg->client_id);
        if (n > UINT16_MAX || !mq_utf8_valid(cfg->client_id, n))
            return MQ_ERR_INVALID;
    }
    bool stream = cfg->transport == MQ_TRANSPORT_STREAM;
    bool timer = cfg->retransmit == MQ_RETRANSMIT_TIMER ||
                 (cfg->retransmit == MQ_RETRANSMIT_AUTO && !stream);
    /* A 0 ns interval would resend at one instant for ever. */
    if ((timer || !stream) && cfg->retry_interval <= 0)
        return MQ_ERR_INVALID;
    if (cfg->connect_timeout < 0 || cfg->reconnect_initial < 0 || cfg->reconnect_max < 0)
        return MQ_ERR_INVALID;
    int64_t ri = cfg->reconnect_initial ? cfg->reconnect_initial : DEFAULT_RECONNECT_INITIAL;
    int64_t rm = cfg->reconnect_max ? cfg->reconnect_max : DEFAULT_RECONNECT_MAX;
    if (ri > rm)
        return MQ_ERR_INVALID;
    if (!(cfg->reconnect_jitter >= 0 && cfg->reconnect_jitter <= 1))
        return MQ_ERR_INVALID;
    if (cfg->max_retries < -1)
        return MQ_ERR_INVALID;
    return MQ_OK;
}

/* A session that keeps its own copies of its settings and callbacks, after it. */
typedef struct {
    mq_session s;
    mq_session_config cfg;
    mq_session_io io;
} owned;

static mq_session *session_init(mq_session *s, const mq_session_config *cfg,
                                const char *client_id, const mq_session_io *io, void *ctx)
{
    s->cfg = cfg;
    s->io = io;
    s->ctx = ctx;
    mq_pool_init(&s->flow_pool, sizeof(flow));
    mq_pool_init(&s->held_pool, sizeof(held));
    if (client_id) {
        size_t n = strlen(client_id);
        s->client_id = malloc(n + 1);
        if (!s->client_id) {
            free(s);
            return NULL;
        }
        memcpy(s->client_id, client_id, n + 1);
    }
    s->datagram = cfg->transport == MQ_TRANSPORT_DATAGRAM;
    s->timer_mode = cfg->retransmit == MQ_RETRANSMIT_TIMER ||
                    (cfg->retransmit == MQ_RETRANSMIT_AUTO && s->datagram);
    s->version = cfg->version;
    s->window = cfg->max_inflight;
    s->st.next_id = 1;
    s->timer_at = MQ_NEVER;
    s->reconnect_at = s->connect_deadline = MQ_NEVER;
    if (!s->datagram) {
        s->rx = calloc(1, sizeof *s->rx);
        if (!s->rx) {
            free(s->client_id);
            free(s);
            return NULL;
        }
        s->rx->fr.max_packet = cfg->max_packet_size;
    }
    s->state = MQ_CONN_DOWN;
    return s;
}

/* Cost: O(client id); about 700 bytes per session before it holds anything
 * (no identifier bitmap, no buckets, no buffers until they are needed). */
mq_session *mq_session_new(const mq_session_config *cfg, const mq_session_io *io)
{
    assert(cfg && io && io->send && io->timer);
    assert(cfg->role == MQ_ROLE_BROKER || io->deliver);
    if (mq_session_config_check(cfg) != MQ_OK)
        return NULL;
    owned *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->cfg = *cfg;
    o->cfg.client_id = NULL; /* the session's own copy is s->client_id */
    o->io = *io;
    return session_init(&o->s, &o->cfg, cfg->client_id, &o->io, io->ctx);
}

/* Cost: O(client id); about 480 bytes per session before it holds anything. */
mq_session *mq_session_new_shared(const mq_session_config *cfg, const char *client_id,
                                  const mq_session_io *io, void *ctx)
{
    assert(cfg && io && io->send && io->timer);
    assert(cfg->role == MQ_ROLE_BROKER || io->deliver);
    assert(!cfg->client_id);
    if (mq_session_config_check(cfg) != MQ_OK)
        return NULL;
    if (client_id) {
        mq_session_config c = *cfg;
        c.client_id = client_id;
        if (mq_session_config_check(&c) != MQ_OK)
            return NULL;
    }
    mq_session *s = calloc(1, sizeof *s);
    return s ? session_init(s, cfg, client_id, io, ctx) : NULL;
}

static void free_state(sstate *st)
{
    free_flow_list(st->fl_head);
    free_flow_list(st->q_head);
    idmap *t = &st->held;
    for (size_t i = 0; t->b && i < (size_t)1 << t->bits; i++) {
        idnode *x = t->b[i];
        while (x) {
            idnode *next = x->next;
            held *h = (held *)x;
            if (h->m)
                mq_msg_unref(h->m);
            free(h);
            x = next;
        }
    }
    free(st->flows.b);
    free(st->held.b);
    memset(st, 0, sizeof *st);
}

/* Cost: O(flows + held + buckets). */
void mq_session_free(mq_session *s)
{
    if (!s)
        return;
    free_state(&s->st);
    while (s->subs) {
        subreq *next = s->subs->next;
        free(s->subs);
        s->subs = next;
    }
    if (s->rx) {
        if (s->rx->msg)
            mq_msg_unref(s->rx->msg);
        mq_framer_free(&s->rx->fr);
        free(s->rx);
    }
    free(s->client_id);
    free(s->buf);
    mq_pool_clear(&s->flow_pool);
    mq_pool_clear(&s->held_pool);
    free(s);
}

/* Reports every sender-side flow (in flight in list order, then queued in
 * FIFO order) as MQ_DROP_IN_FLIGHT_AT_END; a flow waiting for PUBCOMP is
 * reported with m == NULL. Receiver state and waiting CONNECT/SUBSCRIBEs go
 * without a report. Cost: O(flows + held + buckets). */
void mq_session_finish(mq_session *s, int64_t now)
{
    s->now = now;
    while (s->st.fl_head)
        drop_flow(s, s->st.fl_head, MQ_DROP_IN_FLIGHT_AT_END);
    idmap_clear(&s->st.flows);
    drop_queued(s, MQ_DROP_IN_FLIGHT_AT_END);
    release_held(s, MQ_DROP__COUNT);
    /* A PUBLISH still arriving on a stream is receiver state too: its
     * message goes, and the rest of it would be delivered to no one. */
    if (s->rx && s->rx->msg) {
        mq_msg_unref(s->rx->msg);
        s->rx->msg = NULL;
        s->rx->lost = true;
    }
    s->dg_connecting = false;
    subs_unwait(s);
    s->reconnect_at = s->connect_deadline = MQ_NEVER;
    s->started = false;
    s->ping_out = false;
    /* The run is over: no deadline is left, not even a keepalive. */
    if (s->timer_at != MQ_NEVER) {
        s->timer_at = MQ_NEVER;
        s->io->timer(s->ctx, MQ_NEVER);
    }
}

/* What every crash forgets: the subscription list (and the identifier of a
 * SUBSCRIBE waiting for its SUBACK), the connection, the reconnect ladder
 * and a packet half received. */
static void crash_forget(mq_session *s)
{
    while (s->subs) {
        subreq *next = s->subs->next;
        if (s->subs->id)
            free_id(s);
        free(s->subs);
        s->subs = next;
    }
    s->subs_tail = NULL;
    s->started = false;
    s->dg_connecting = false;
    s->state = MQ_CONN_DOWN;
    s->ping_out = false;
    s->reconnect_at = s->connect_deadline = MQ_NEVER;
    s->attempt = 0;
    rx_reset(s);
}

void mq_session_crash(mq_session *s, int64_t now)
{
    s->now = now;
    drop_inflight(s, MQ_DROP_CLIENT_CRASH);
    drop_queued(s, MQ_DROP_CLIENT_CRASH);
    release_held(s, MQ_DROP_CLIENT_CRASH);
    crash_forget(s);
    s->st.next_id = 1;
    update_timer(s);
}

void mq_session_crash_keep(mq_session *s, int64_t now)
{
    s->now = now;
    crash_forget(s);
    update_timer(s);
}

/* ------------------------------------------------------------------------ */
/* Connection setup (client) */

/* CONNECT: clean start, keepalive (stream only: a datagram has none), and on
 * a 5.0 stream the Session Expiry Interval and Receive Maximum. */
static void send_connect(mq_session *s, bool resend)
{
    mq_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQ_CONNECT;
    p.version = s->version;
    p.clean_start = s->cfg->clean_start;
    p.keepalive = s->datagram ? 0 : s->cfg->keepalive_s;
    p.client_id.s = s->client_id ? s->client_id : "";
    p.client_id.len = (uint16_t)strlen(p.client_id.s);
    if (s->version == MQ_V5 && !s->datagram) {
        if (s->cfg->session_expiry_s) {
            p.props.has_session_expiry = true;
            p.props.session_expiry = s->cfg->session_expiry_s;
        }
        if (s->cfg->max_inflight) {
            p.props.has_receive_maximum = true;
            p.props.receive_maximum =
                (uint16_t)(s->cfg->max_inflight > MAX_ID ? MAX_ID : s->cfg->max_inflight);
        }
    }
    send_packet(s, &p, resend);
}

/* The transport is up: CONNECT goes out; with clean start the client first
 * discards its own session (3.1.2.4: both ends start a new one). */
static void stream_up(mq_session *s)
{
    s->state = MQ_CONN_CONNECTING;
    s->keepalive = s->cfg->keepalive_s;
    s->ping_out = false;
    s->last_rx = s->last_tx = s->now;
    rx_reset(s);
    if (s->cfg->clean_start)
        client_session_lost(s);
    send_connect(s, false);
}

static void stream_open(mq_session *s)
{
    s->reconnect_at = MQ_NEVER;
    s->state = MQ_CONN_OPENING;
    s->connect_deadline = s->now + (s->cfg->connect_timeout ? s->cfg->connect_timeout
                                                             : DEFAULT_CONNECT_TIMEOUT);
    s->io->open(s->ctx, s->now);
}

int mq_session_connect(mq_session *s, int64_t now)
{
    assert(s->cfg->role == MQ_ROLE_CLIENT);
    s->now = now;
    size_t idlen = s->client_id ? strlen(s->client_id) : 0;
    if (idlen > UINT16_MAX || (idlen && !mq_utf8_valid(s->client_id, idlen)))
        return MQ_ERR_INVALID;
    if (s->datagram) {
        if (s->dg_connecting)
            return 0;
        s->dg_connecting = true;
        s->dg_connect_at = now + s->cfg->retry_interval;
        send_connect(s, false);
        update_timer(s);
        return 0;
    }
    assert(s->io->open && s->io->close);
    if (s->started)
        return 0;
    s->started = true;
    s->attempt = 0;
    if (s->state == MQ_CONN_DOWN)
        stream_open(s);
    update_timer(s);
    return 0;
}

void mq_session_disconnect(mq_session *s, int64_t now)
{
    s->now = now;
    s->started = false;
    s->reconnect_at = MQ_NEVER;
    if (!s->datagram && s->state != MQ_CONN_DOWN) {
        if (s->state == MQ_CONN_UP) {
            mq_packet p;
            memset(&p, 0, sizeof p);
            p.type = MQ_DISCONNECT;
            send_packet(s, &p, false);
        }
        conn_close(s, MQ_CLOSE_CLIENT_DISCONNECT);
    }
    update_timer(s);
}

static void send_subreq(mq_session *s, subreq *r, bool resend)
{
    mq_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQ_SUBSCRIBE;
    p.id = r->id;
    p.n_topics = r->n;
    for (size_t i = 0; i < r->n; i++) {
        p.topics[i].filter.s = r->subs[i].filter;
        p.topics[i].filter.len = r->subs[i].len;
        p.topics[i].options = r->subs[i].qos;
    }
    send_packet(s, &p, resend);
}

/* Gives r a fresh identifier and sends it (datagram: resent until SUBACK). */
static void subreq_start(mq_session *s, subreq *r)
{
    if (r->id)
        free_id(s);
    r->id = alloc_id(s);
    r->deadline = s->datagram ? s->now + s->cfg->retry_interval : MQ_NEVER;
    send_subreq(s, r, false);
}

/* Cost: O(n + filter bytes). */
int mq_session_subscribe(mq_session *s, int64_t now, const mq_sub *subs, size_t n)
{
    assert(s->cfg->role == MQ_ROLE_CLIENT);
    s->now = now;
    if (n == 0 || n > MQ_MAX_TOPICS)
        return MQ_ERR_INVALID;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (subs[i].qos > 2 || !subs[i].filter ||
            !mq_topic_filter_valid(subs[i].filter, subs[i].len))
            return MQ_ERR_INVALID;
        bytes += subs[i].len + 1u;
    }
    if (online(s) && s->st.ids_used >= MAX_ID)
        return MQ_ERR_NOID;
    subreq *r = calloc(1, sizeof *r + n * sizeof r->subs[0] + bytes);
    if (!r)
        return MQ_ERR_NOMEM;
    char *text = (char *)&r->subs[n];
    r->n = (uint8_t)n;
    for (size_t i = 0; i < n; i++) {
        memcpy(text, subs[i].filter, subs[i].len);
        text[subs[i].len] = '\0';
        r->subs[i] = (mq_sub){text, subs[i].len, subs[i].qos};
        text += subs[i].len + 1;
    }
    if (s->subs_tail)
        s->subs_tail->next = r;
    else
        s->subs = r;
    s->subs_tail = r;
    /* A datagram client sends at once; a stream one when it is connected
     * (else the CONNACK sends it). */
    if (s->datagram || s->state == MQ_CONN_UP)
        subreq_start(s, r);
    update_timer(s);
    return 0;
}

/* QoS 0: one PUBLISH now, nothing kept (with no connection: dropped as
 * disconnected, or queued by a broker with queue_qos0). QoS 1/2: a reference
 * is taken and the message goes in flight at once (fresh identifier) if
 * connected, the window has room, no message is queued and an identifier is
 * free; otherwise it is queued, or, with max_queued already queued, dropped
 * (MQ_DROP_QUEUE_FULL) and 1 returned. Cost: O(1) amortised. */
int mq_session_publish(mq_session *s, int64_t now, mq_msg *m, uint8_t qos)
{
    assert(m && qos <= 2);
    s->now = now;
    bool on = online(s);
    if (qos == 0 && on) {
        send_publish(s, m, 0, 0, false, false);
        return 0;
    }
    if (qos == 0 && !(s->cfg->role == MQ_ROLE_BROKER && s->cfg->queue_qos0)) {
        drop(s, m, 0, MQ_DROP_DISCONNECTED);
        return 1;
    }
    bool can_send = on && !s->st.q_head && window_open(s);
    if (!can_send && s->cfg->max_queued && s->st.n_queued >= s->cfg->max_queued) {
        drop(s, m, qos, MQ_DROP_QUEUE_FULL);
        return 1;
    }
    flow *f = mq_pool_get(&s->flow_pool);
    if (!f)
        return MQ_ERR_NOMEM;
    memset(f, 0, sizeof *f);
    mq_msg_ref(m);
    f->m = m;
    f->node.qos = qos;
    f->node.state = MQ_MS_QUEUED;
    if (can_send) {
        start_flow(s, f);
        update_timer(s);
    } else {
        q_push(s, f);
    }
    return 0;
}

/* Resumption (3.1.1 §4.4, 5.0 §4.4, §4.6): every unacknowledged PUBLISH
 * again with DUP=1 and its identifier, PUBREL for flows past PUBREC, in the
 * original order. Mosquitto resends its whole inflight list the same way,
 * even beyond a lowered Receive Maximum (db__message_write_inflight_out_all). */
static void resume(mq_session *s)
{
    fl_sort_by_seq(s);
    for (flow *f = s->st.fl_head; f; f = f->next) {
        f->node.resends = 0;
        f->deadline = s->timer_mode ? s->now + s->cfg->retry_interval : MQ_NEVER;
        if (f->node.state == MQ_MS_WAIT_PUBCOMP)
            send_ack(s, MQ_PUBREL, f->node.id, 0, true);
        else
            send_publish(s, f->m, f->node.qos, f->node.id, true, true);
    }
}

/* ------------------------------------------------------------------------ */
/* Inbound packets: one handler per type */

static mq_view view_of(const mq_packet *p)
{
    mq_view v = {.type = p->type, .qos = p->qos, .dup = p->dup, .retain = p->retain,
                 .session_present = p->session_present, .reason = p->reason, .id = p->id};
    return v;
}

static void deliver(mq_session *s, mq_msg *m, const mq_view *v)
{
    s->io->deliver(s->ctx, s->now, m, v);
}

/* m is NULL only for a QoS 2 PUBLISH whose identifier is held (its message
 * was not built: it is suppressed). The caller keeps its own reference. */
static void on_publish(mq_session *s, const mq_view *v, mq_msg *m)
{
    if (s->cfg->role == MQ_ROLE_BROKER ? s->state != MQ_CONN_UP : !online(s)) {
        protocol_error(s, MQ_EV_UNEXPECTED, v);
        return;
    }
    switch (v->qos) {
    case 0:
        deliver(s, m, v);
        return;
    case 1:
        /* No deduplication: a DUP=1 PUBLISH may be the first copy to arrive. */
        deliver(s, m, v);
        send_ack(s, MQ_PUBACK, v->id, 0, false);
        return;
    default:
        break;
    }
    if (!m || idmap_find(&s->st.held, v->id)) {
        event(s, MQ_EV_QOS2_DUP_SUPPRESSED, v);
        send_ack(s, MQ_PUBREC, v->id, 0, false);
        return;
    }
    held *h = mq_pool_get(&s->held_pool);
    if (!h) {
        event(s, MQ_EV_NOMEM, v); /* as if lost on the wire; the sender resends */
        return;
    }
    h->node.id = v->id;
    h->dup = v->dup;
    h->retain = v->retain;
    h->m = NULL;
    if (idmap_insert(&s->st.held, &h->node)) {
        free(h);
        event(s, MQ_EV_NOMEM, v);
        return;
    }
    if (s->cfg->qos2_method == MQ_QOS2_A) {
        mq_msg_ref(m);
        h->m = m;
    } else {
        deliver(s, m, v);
    }
    send_ack(s, MQ_PUBREC, v->id, 0, false);
}

static void on_puback(mq_session *s, const mq_view *v)
{
    flow *f = (flow *)idmap_find(&s->st.flows, v->id);
    if (!f || f->node.state != MQ_MS_WAIT_PUBACK) {
        event(s, MQ_EV_UNKNOWN_PUBACK, v);
        return;
    }
    if (v->reason >= 0x80) /* 5.0 §4.3.2: the receiver refused it; the flow is over */
        drop_flow(s, f, MQ_DROP_REFUSED);
    else
        end_flow(s, f);
    drain_queue(s);
}

/* The receiver has the message: release it, and from now on only PUBREL is
 * (re)sent for this identifier. A 5.0 reason >= 0x80 ends the flow instead
 * (§4.3.3: no PUBREL; the identifier is free). */
static void on_pubrec(mq_session *s, const mq_view *v)
{
    flow *f = (flow *)idmap_find(&s->st.flows, v->id);
    if (f && f->node.state == MQ_MS_WAIT_PUBREC) {
        if (v->reason >= 0x80) {
            drop_flow(s, f, MQ_DROP_REFUSED);
            drain_queue(s);
            return;
        }
        mq_msg_unref(f->m);
        f->m = NULL;
        f->node.state = MQ_MS_WAIT_PUBCOMP;
        f->node.resends = 0; /* PUBREL gets its own max_retries budget */
        if (s->timer_mode) {
            fl_unlink(s, f);
            f->deadline = s->now + s->cfg->retry_interval;
            fl_insert(s, f);
        }
        send_ack(s, MQ_PUBREL, v->id, 0, false);
    } else if (f && f->node.state == MQ_MS_WAIT_PUBCOMP) {
        /* Our PUBREL or its PUBCOMP may be lost; answering now is cheaper
         * than waiting for the retry timer, whose deadline is left alone. */
        event(s, MQ_EV_DUP_PUBREC, v);
        send_ack(s, MQ_PUBREL, v->id, 0, false);
    } else {
        event(s, MQ_EV_UNKNOWN_PUBREC, v);
    }
}

static void on_pubrel(mq_session *s, const mq_view *v)
{
    held *h = (held *)idmap_find(&s->st.held, v->id);
    if (!h) {
        /* Our PUBCOMP was lost and the sender resent PUBREL: the flow is
         * already complete here, so only the answer is owed. */
        event(s, MQ_EV_UNKNOWN_PUBREL, v);
        send_ack(s, MQ_PUBCOMP, v->id, 0, false);
        return;
    }
    idmap_remove(&s->st.held, &h->node);
    mq_msg *m = h->m;
    mq_view pv = {.type = MQ_PUBLISH, .qos = 2, .dup = h->dup, .retain = h->retain, .id = v->id};
    mq_pool_put(&s->held_pool, h);
    if (m)
        deliver(s, m, &pv);
    send_ack(s, MQ_PUBCOMP, v->id, 0, false);
    if (m)
        mq_msg_unref(m);
}

static void on_pubcomp(mq_session *s, const mq_view *v)
{
    flow *f = (flow *)idmap_find(&s->st.flows, v->id);
    if (!f || f->node.state != MQ_MS_WAIT_PUBCOMP) {
        event(s, MQ_EV_UNKNOWN_PUBCOMP, v);
        return;
    }
    end_flow(s, f);
    drain_queue(s);
}

/* Broker: a CONNECT. The broker (io->connect) binds the session: it may move
 * a kept session's state into this context. Then CONNACK, and resumption. */
static void on_connect(mq_session *s, const mq_packet *p)
{
    mq_view v = view_of(p);
    if (s->cfg->role != MQ_ROLE_BROKER) {
        protocol_error(s, MQ_EV_UNEXPECTED, &v);
        return;
    }
    if (s->state == MQ_CONN_UP) {
        if (!s->datagram) { /* 3.1.1 §3.1.0-2, 5.0 §3.1.0-2: a protocol error */
            protocol_error(s, MQ_EV_UNEXPECTED, &v);
            return;
        }
        /* Datagram: a resent CONNECT whose CONNACK was lost; answered again. */
        mq_packet a;
        memset(&a, 0, sizeof a);
        a.type = MQ_CONNACK;
        a.session_present = s->last_present;
        send_packet(s, &a, false);
        return;
    }
    s->version = p->version;
    s->keepalive = s->datagram ? 0 : p->keepalive;
    s->window = s->cfg->max_inflight;
    if (!s->datagram && p->version == MQ_V5 && p->props.has_receive_maximum &&
        (s->window == 0 || p->props.receive_maximum < s->window))
        s->window = p->props.receive_maximum;
    bool present = false;
    uint8_t rc = s->io->connect ? s->io->connect(s->ctx, s->now, p, &present) : 0;
    mq_packet a;
    memset(&a, 0, sizeof a);
    a.type = MQ_CONNACK;
    a.reason = rc;
    if (rc) {
        send_packet(s, &a, false);
        if (!s->datagram)
            conn_close(s, MQ_CLOSE_REFUSED);
        return;
    }
    a.session_present = present;
    if (s->version == MQ_V5 && !s->datagram && s->cfg->max_inflight) {
        a.props.has_receive_maximum = true;
        a.props.receive_maximum =
            (uint16_t)(s->cfg->max_inflight > MAX_ID ? MAX_ID : s->cfg->max_inflight);
    }
    s->state = MQ_CONN_UP;
    s->last_present = present;
    s->last_rx = s->now;
    send_packet(s, &a, false);
    if (present)
        resume(s);
    drain_queue(s);
}

static void on_connack(mq_session *s, const mq_packet *p)
{
    mq_view v = view_of(p);
    if (s->cfg->role != MQ_ROLE_CLIENT) {
        protocol_error(s, MQ_EV_UNEXPECTED, &v);
        return;
    }
    if (s->datagram) {
        if (!s->dg_connecting) {
            event(s, MQ_EV_DUP_CONNACK, &v);
            return;
        }
        s->dg_connecting = false;
        bool first = !s->ever_connected;
        s->ever_connected = true;
        if (first && s->io->connected)
            s->io->connected(s->ctx, p->session_present);
        return;
    }
    if (s->state != MQ_CONN_CONNECTING) {
        protocol_error(s, MQ_EV_UNEXPECTED, &v);
        return;
    }
    if (p->reason) {
        conn_close(s, MQ_CLOSE_REFUSED);
        return;
    }
    s->state = MQ_CONN_UP;
    s->attempt = 0;
    s->connect_deadline = MQ_NEVER;
    s->window = s->cfg->max_inflight;
    if (s->version == MQ_V5 && p->props.has_receive_maximum &&
        (s->window == 0 || p->props.receive_maximum < s->window))
        s->window = p->props.receive_maximum;
    /* A new session: whatever the client held of the old one is gone
     * (session_lost), and its identifiers start again. */
    if (!p->session_present)
        client_session_lost(s);
    for (subreq *r = s->subs; r; r = r->next) {
        if (!p->session_present)
            r->acked = false;
        if (!r->acked && s->st.ids_used < MAX_ID)
            subreq_start(s, r);
    }
    if (p->session_present)
        resume(s);
    drain_queue(s);
    if (s->io->connected)
        s->io->connected(s->ctx, p->session_present);
}

static void on_subscribe(mq_session *s, const mq_packet *p)
{
    mq_view v = view_of(p);
    if (s->cfg->role != MQ_ROLE_BROKER || s->state != MQ_CONN_UP) {
        protocol_error(s, MQ_EV_UNEXPECTED, &v);
        return;
    }
    mq_packet a;
    memset(&a, 0, sizeof a);
    a.type = MQ_SUBACK;
    a.id = p->id;
    a.n_codes = p->n_topics;
    for (size_t i = 0; i < p->n_topics; i++) {
        const mq_topic_req *t = &p->topics[i];
        uint8_t qos = t->options & 3;
        a.codes[i] = s->io->subscribe
                         ? s->io->subscribe(s->ctx, t->filter.s, t->filter.len, qos)
                         : 0x80;
        if (a.codes[i] > 2)
            a.codes[i] = 0x80;
    }
    send_packet(s, &a, false);
}

static void on_suback(mq_session *s, const mq_packet *p)
{
    mq_view v = view_of(p);
    if (s->cfg->role != MQ_ROLE_CLIENT || !online(s)) {
        protocol_error(s, MQ_EV_UNEXPECTED, &v);
        return;
    }
    subreq *r = s->subs;
    while (r && r->id != p->id)
        r = r->next;
    if (!p->id || !r) {
        event(s, MQ_EV_DUP_SUBACK, &v);
        return;
    }
    r->id = 0;
    r->acked = true;
    free_id(s);
    drain_queue(s); /* the freed identifier may be the one a message waits for */
    if (s->io->subscribed)
        s->io->subscribed(s->ctx, p->codes, p->n_codes);
}

static void on_pingreq(mq_session *s, const mq_packet *p)
{
    mq_view v = view_of(p);
    /* No keepalive in the datagram model: a PINGREQ there is unexpected. */
    if (s->cfg->role != MQ_ROLE_BROKER || s->datagram || s->state != MQ_CONN_UP) {
        protocol_error(s, MQ_EV_UNEXPECTED, &v);
        return;
    }
    mq_packet a;
    memset(&a, 0, sizeof a);
    a.type = MQ_PINGRESP;
    send_packet(s, &a, false);
}

static void on_pingresp(mq_session *s, const mq_packet *p)
{
    mq_view v = view_of(p);
    if (s->cfg->role != MQ_ROLE_CLIENT || s->datagram || s->state != MQ_CONN_UP) {
        protocol_error(s, MQ_EV_UNEXPECTED, &v);
        return;
    }
    s->ping_out = false;
}

static void on_disconnect(mq_session *s, const mq_packet *p)
{
    mq_view v = view_of(p);
    if (s->datagram || s->state != MQ_CONN_UP) {
        protocol_error(s, MQ_EV_UNEXPECTED, &v);
        return;
    }
    /* The broker's side: the client said goodbye. The client's side: a 5.0
     * server DISCONNECT (Mosquitto sends 0x8E on a takeover). Either way the
     * connection is over; the client reconnects as after any close. */
    conn_close(s, s->cfg->role == MQ_ROLE_BROKER ? MQ_CLOSE_CLIENT_DISCONNECT
                                                : MQ_CLOSE_SERVER_DISCONNECT);
}

/* Dispatches a decoded packet other than PUBLISH. */
static void dispatch(mq_session *s, const mq_packet *p)
{
    mq_view v = view_of(p);
    s->last_rx = s->now;
    bool broker = s->cfg->role == MQ_ROLE_BROKER;
    /* Before its CONNECT a broker context takes nothing else; before CONNACK a
     * stream client takes nothing else. */
    if (p->type != MQ_CONNECT && broker && s->state != MQ_CONN_UP) {
        protocol_error(s, MQ_EV_UNEXPECTED, &v);
        return;
    }
    if (p->type != MQ_CONNACK && !broker && !online(s)) {
        protocol_error(s, MQ_EV_UNEXPECTED, &v);
        return;
    }
    switch (p->type) {
    case MQ_PUBACK: on_puback(s, &v); break;
    case MQ_PUBREC: on_pubrec(s, &v); break;
    case MQ_PUBREL: on_pubrel(s, &v); break;
    case MQ_PUBCOMP: on_pubcomp(s, &v); break;
    case MQ_CONNECT: on_connect(s, p); break;
    case MQ_CONNACK: on_connack(s, p); break;
    case MQ_SUBSCRIBE: on_subscribe(s, p); break;
    case MQ_SUBACK: on_suback(s, p); break;
    case MQ_PINGREQ: on_pingreq(s, p); break;
    case MQ_PINGRESP: on_pingresp(s, p); break;
    case MQ_DISCONNECT: on_disconnect(s, p); break;
    default: protocol_error(s, MQ_EV_UNEXPECTED, &v); break;
    }
}

static mq_view view_of_head(const mq_pubhead *h)
{
    mq_view v = {.type = MQ_PUBLISH, .qos = h->qos, .dup = h->dup, .retain = h->retain,
                 .id = h->id};
    return v;
}

/* Whether a decoded PUBLISH needs its message built: not for a QoS 2
 * duplicate of a held identifier, which is only answered. */
static bool needs_msg(const mq_session *s, const mq_pubhead *h)
{
    return !(h->qos == 2 && idmap_find(&s->st.held, h->id));
}

static void *tag_at(mq_session *s, uint64_t offset)
{
    return s->io->tag ? s->io->tag(s->ctx, offset) : NULL;
}

/* A whole PUBLISH from a frame: buf[0..len) then zeros. */
static void frame_publish(mq_session *s, const uint8_t *buf, size_t len, const mq_pubhead *h)
{
    mq_view v = view_of_head(h);
    s->last_rx = s->now;
    if (!needs_msg(s, h)) {
        (void)tag_at(s, s->frames - 1); /* see rx_feed */
        on_publish(s, &v, NULL);
        return;
    }
    size_t have = len - h->payload_off; /* payload bytes in buf; the rest are zeros */
    size_t hn = have < MQ_MSG_HEAD ? have : MQ_MSG_HEAD;
    if (hn > h->payload_len)
        hn = h->payload_len;
    mq_msg *m = mq_msg_make(h->topic.s, h->topic.len, buf + h->payload_off, hn, h->payload_len,
                            h->retain, tag_at(s, s->frames - 1), s->io->tag_ops);
    if (!m) {
        event(s, MQ_EV_NOMEM, &v); /* as if lost on the wire */
        return;
    }
    const uint8_t *rest = buf + h->payload_off + hn;
    size_t nrest = have - hn;
    bool zeros = true;
    for (size_t i = 0; i < nrest && zeros; i++)
        zeros = rest[i] == 0;
    if (!zeros) {
        uint8_t *b = mq_msg_set_body(m);
        if (!b) {
            mq_msg_unref(m);
            event(s, MQ_EV_NOMEM, &v);
            return;
        }
        memcpy(b + hn, rest, nrest);
    }
    on_publish(s, &v, m);
    mq_msg_unref(m);
}

void mq_session_on_frame(mq_session *s, int64_t now, const uint8_t *buf, size_t len,
                         uint64_t zeros)
{
    s->now = now;
    s->frames++;
    if (len == 0) {
        event(s, MQ_EV_MALFORMED, NULL);
        update_timer(s);
        return;
    }
    if (buf[0] >> 4 == MQ_PUBLISH) {
        mq_pubhead h;
        size_t need;
        int rc = mq_codec_publish_head(buf, len, s->version, &h, &need);
        if (rc == MQ_OK && h.total == len + zeros) {
            frame_publish(s, buf, len, &h);
        } else if (rc == MQ_ERR_NEED_MORE && zeros && len + zeros <= 65536) {
            /* The header runs into the zero run (no host of ours sends
             * that): materialise the frame and go again. */
            uint8_t *tmp = calloc(1, len + zeros);
            if (!tmp)
                event(s, MQ_EV_NOMEM, NULL);
            if (tmp) {
                memcpy(tmp, buf, len);
                if (mq_codec_publish_head(tmp, len + zeros, s->version, &h, &need) == MQ_OK &&
                    h.total == len + zeros)
                    frame_publish(s, tmp, len + zeros, &h);
                else
                    event(s, MQ_EV_MALFORMED, NULL);
                free(tmp);
            }
        } else {
            event(s, MQ_EV_MALFORMED, NULL);
        }
        update_timer(s);
        return;
    }
    const uint8_t *b = buf;
    uint8_t *tmp = NULL;
    if (zeros) {
        tmp = len + zeros <= 65536 ? calloc(1, len + zeros) : NULL;
        if (!tmp) {
            event(s, MQ_EV_MALFORMED, NULL);
            update_timer(s);
            return;
        }
        memcpy(tmp, buf, len);
        b = tmp;
    }
    mq_packet p;
    size_t used = 0;
    if (mq_codec_decode(b, len + zeros, s->version, &p, &used) != MQ_OK || used != len + zeros)
        event(s, MQ_EV_MALFORMED, NULL);
    else
        dispatch(s, &p);
    free(tmp);
    update_timer(s);
}

void mq_session_on_packet(mq_session *s, int64_t now, const uint8_t *buf, size_t len)
{
    if (!buf || len == 0) {
        s->now = now;
        s->frames++;
        event(s, MQ_EV_MALFORMED, NULL);
        update_timer(s);
        return;
    }
    mq_session_on_frame(s, now, buf, len, 0);
}

/* Broker, awaiting CONNECT: the CONNECT names a protocol level this engine
 * does not speak. 3.1.1 MQTT-3.1.2-2: answer CONNACK 0x01 (unacceptable
 * protocol version) before closing, in the 3.1.1 form that MQTT 3.1 clients
 * read too (Mosquitto does the same). */
static void refuse_level(mq_session *s)
{
    mq_packet a;
    memset(&a, 0, sizeof a);
    a.type = MQ_CONNACK;
    a.reason = 0x01;
    s->version = MQ_V311;
    send_packet(s, &a, false);
}

/* Stream input: frames packets out of the bytes and handles each. A
 * PUBLISH's message is built at its head and filled as the payload passes:
 * zero runs are only counted, and the first byte that is not zero makes the
 * message store the whole payload. Stops at a close. */
static void rx_feed(mq_session *s, const uint8_t *data, size_t n)
{
    if (s->datagram || s->state == MQ_CONN_DOWN || s->state == MQ_CONN_OPENING)
        return; /* the host broke the contract; nothing to frame against */
    rxstate *rx = s->rx;
    while (s->state != MQ_CONN_DOWN) {
        size_t taken;
        const uint8_t *out = NULL;
        size_t out_n = 0;
        uint8_t version = s->version;
        int ev = mq_framer_feed(&rx->fr, version, data, n, &taken, &out, &out_n);
        if (data)
            data += taken;
        n -= taken;
        if (ev < 0) {
            event(s, ev == MQ_ERR_NOMEM ? MQ_EV_NOMEM : MQ_EV_MALFORMED, NULL);
            conn_close(s, MQ_CLOSE_PROTOCOL_ERROR);
            return;
        }
        if (ev == MQ_FR_MORE)
            return;
        if (ev == MQ_FR_PACKET) {
            mq_packet p;
            size_t used = 0;
            int rc = mq_codec_decode(rx->fr.buf, rx->fr.len, version, &p, &used);
            if (rc != MQ_OK || used != rx->fr.len) {
                event(s, MQ_EV_MALFORMED, NULL);
                if (rc == MQ_ERR_LEVEL && s->cfg->role == MQ_ROLE_BROKER &&
                    s->state == MQ_CONN_CONNECTING)
                    refuse_level(s);
                conn_close(s, MQ_CLOSE_PROTOCOL_ERROR);
                return;
            }
            dispatch(s, &p);
        } else if (ev == MQ_FR_HEAD) {
            rx->head = rx->fr.pub;
            rx->pos = 0;
            rx->lost = false;
            rx->skip = !needs_msg(s, &rx->head);
            if (rx->skip)
                (void)tag_at(s, rx->fr.offset); /* the host learns which message is answered only */
            if (!rx->skip) {
                const mq_pubhead *h = &rx->head;
                size_t hn = rx->fr.len - h->payload_off;
                rx->msg = mq_msg_make(h->topic.s, h->topic.len, rx->fr.buf + h->payload_off, hn,
                                        h->payload_len, h->retain, tag_at(s, rx->fr.offset),
                                        s->io->tag_ops);
                if (!rx->msg) {
                    rx->lost = true; /* out of memory: the PUBLISH is lost */
                    event(s, MQ_EV_NOMEM, NULL);
                }
                rx->pos = hn;
            }
            /* The topic points into the framer's buffer: from the message on. */
            if (rx->msg)
                rx->head.topic.s = rx->msg->topic;
        } else if (ev == MQ_FR_BODY) {
            mq_msg *m = rx->msg;
            if (m && out) {
                if (!m->has_body) {
                    size_t i = 0;
                    while (i < out_n && out[i] == 0)
                        i++;
                    if (i < out_n && !mq_msg_set_body(m)) {
                        mq_msg_unref(m);
                        rx->msg = NULL;
                        m = NULL;
                        rx->lost = true;
                        event(s, MQ_EV_NOMEM, NULL);
                    }
                }
                if (m && m->has_body)
                    memcpy(m->p.body + rx->pos, out, out_n);
            }
            rx->pos += out_n;
        } else { /* MQ_FR_END */
            mq_view v = view_of_head(&rx->head);
            mq_msg *m = rx->msg;
            rx->msg = NULL;
            s->last_rx = s->now;
            if (!rx->lost && (m || rx->skip))
                on_publish(s, &v, m);
            if (m)
                mq_msg_unref(m);
        }
    }
}

void mq_session_on_bytes(mq_session *s, int64_t now, const uint8_t *buf, size_t len)
{
    s->now = now;
    if (len)
        rx_feed(s, buf, len);
    update_timer(s);
}

void mq_session_on_zeros(mq_session *s, int64_t now, uint64_t n)
{
    s->now = now;
    while (n > 0 && s->state != MQ_CONN_DOWN) {
        size_t k = n > SIZE_MAX ? SIZE_MAX : (size_t)n;
        rx_feed(s, NULL, k);
        n -= k;
    }
    update_timer(s);
}

void mq_session_on_up(mq_session *s, int64_t now)
{
    s->now = now;
    assert(!s->datagram || s->cfg->role == MQ_ROLE_BROKER);
    if (s->cfg->role == MQ_ROLE_BROKER) {
        /* A broker context starts with its transport up, awaiting CONNECT. */
        s->state = MQ_CONN_CONNECTING;
        s->last_rx = s->last_tx = now;
        rx_reset(s);
    } else if (s->state == MQ_CONN_OPENING) {
        stream_up(s);
    }
    update_timer(s);
}

void mq_session_on_down(mq_session *s, int64_t now, mq_down_cause why)
{
    (void)why; /* the host counts causes; the engine reacts alike */
    s->now = now;
    conn_down(s);
    update_timer(s);
}

/* The host timer fired and is consumed: everything due at `now` is done
 * (timer resends and give-ups while connected, datagram CONNECT/SUBSCRIBE
 * resends, keepalive, connect timeout, reconnect), freed windows are refilled
 * from the queue, and io->timer is called with the next deadline unless
 * there is none. Cost: O(flows due). */
void mq_session_on_timer(mq_session *s, int64_t now)
{
    s->now = now;
    s->timer_at = MQ_NEVER;
    while (online(s) && s->st.fl_head && s->st.fl_head->deadline <= now) {
        flow *f = s->st.fl_head;
        if (s->cfg->max_retries >= 0 && f->node.resends >= s->cfg->max_retries) {
            drop_flow(s, f, MQ_DROP_RETRIES_EXHAUSTED);
            continue;
        }
        f->node.resends++;
        fl_unlink(s, f);
        f->deadline = now + s->cfg->retry_interval;
        fl_insert(s, f);
        if (f->node.state == MQ_MS_WAIT_PUBCOMP)
            send_ack(s, MQ_PUBREL, f->node.id, 0, true);
        else
            send_publish(s, f->m, f->node.qos, f->node.id, true, true);
    }
    if (s->dg_connecting && s->dg_connect_at <= now) {
        s->dg_connect_at = now + s->cfg->retry_interval;
        send_connect(s, true);
    }
    for (subreq *r = s->subs; r; r = r->next) {
        if (!r->id || r->deadline > now)
            continue;
        r->deadline = now + s->cfg->retry_interval;
        send_subreq(s, r, true);
    }
    if (!s->datagram) {
        if (keepalive_deadline(s) <= now) {
            if (s->cfg->role == MQ_ROLE_BROKER || s->ping_out) {
                conn_close(s, MQ_CLOSE_KEEPALIVE);
            } else {
                /* libmosquitto: the PINGREQ restarts both clocks, so the
                 * next deadline is one keepalive on, and the ping must have
                 * been answered by then. */
                mq_packet p;
                memset(&p, 0, sizeof p);
                p.type = MQ_PINGREQ;
                s->ping_out = true;
                send_packet(s, &p, false);
                s->last_rx = now;
            }
        }
        if (s->connect_deadline <= now)
            conn_close(s, MQ_CLOSE_CONNECT_TIMEOUT);
        if (s->reconnect_at <= now && s->state == MQ_CONN_DOWN)
            stream_open(s);
    }
    drain_queue(s);
    update_timer(s);
}

/* ------------------------------------------------------------------------ */
/* For the broker */

void mq_session_take_state(mq_session *to, mq_session *from)
{
    assert(!to->st.fl_head && !to->st.q_head && !to->st.held.n && to != from);
    free(to->st.flows.b);
    free(to->st.held.b);
    to->st = from->st;
    memset(&from->st, 0, sizeof from->st);
    from->st.next_id = 1;
}

void mq_session_end_state(mq_session *s, int64_t now, mq_drop_reason why)
{
    s->now = now;
    drop_inflight(s, why);
    drop_queued(s, why);
    release_held(s, why);
    s->st.next_id = 1;
    s->st.seq = 0;
}

void mq_session_kick(mq_session *s, int64_t now, mq_close_cause why)
{
    s->now = now;
    if (s->state == MQ_CONN_DOWN)
        return;
    if (why == MQ_CLOSE_TAKEOVER && s->version == MQ_V5 && !s->datagram &&
        s->state == MQ_CONN_UP) {
        /* Mosquitto tells a 5.0 client why: DISCONNECT 0x8E, Session taken over. */
        mq_packet p;
        memset(&p, 0, sizeof p);
        p.type = MQ_DISCONNECT;
        p.reason = 0x8E;
        send_packet(s, &p, false);
    }
    if (s->io->close)
        s->io->close(s->ctx, now, why);
    s->state = MQ_CONN_DOWN;
    s->ping_out = false;
    rx_reset(s);
    s->timer_at = MQ_NEVER; /* the host forgot the transport, its timer too */
}

/* ------------------------------------------------------------------------ */
/* Persistence images */

typedef struct {
    mq_msg *m;              /* NULL for a flow past PUBREC */
    uint64_t seq;
    uint16_t id;            /* 0 while queued */
    uint8_t qos, state;
} img_flow;

typedef struct {
    mq_msg *m;              /* method A's stored message, or NULL */
    uint16_t id;
    bool dup, retain;
} img_held;

struct mq_session_image {
    img_flow *fl, *q;
    img_held *held;
    size_t n_fl, n_q, n_held;
    mq_msg **msgs;          /* every message referenced above, sorted by address */
    size_t n_msgs;
    uint16_t *ids;          /* the identifiers in flight, sorted */
    uint16_t next_id;
    uint64_t seq;
};

static int cmp_id(const void *a, const void *b)
{
    uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (mq_msg *const *)a, y = (uintptr_t) * (mq_msg *const *)b;
    return x < y ? -1 : x > y;
}

void mq_session_image_free(mq_session_image *im)
{
    if (!im)
        return;
    for (size_t i = 0; i < im->n_msgs; i++)
        mq_msg_unref(im->msgs[i]);
    free(im->fl);
    free(im->q);
    free(im->held);
    free(im->msgs);
    free(im->ids);
    free(im);
}

/* Cost: O(flows + held + messages x log messages). */
mq_session_image *mq_session_image_new(const mq_session *s)
{
    const sstate *st = &s->st;
    mq_session_image *im = calloc(1, sizeof *im);
    if (!im)
        return NULL;
    size_t nm = st->n_inflight + st->n_queued + st->held.n;
    im->fl = st->n_inflight ? malloc(st->n_inflight * sizeof *im->fl) : NULL;
    im->q = st->n_queued ? malloc(st->n_queued * sizeof *im->q) : NULL;
    im->held = st->held.n ? malloc(st->held.n * sizeof *im->held) : NULL;
    im->msgs = nm ? malloc(nm * sizeof *im->msgs) : NULL;
    im->ids = st->n_inflight ? malloc(st->n_inflight * sizeof *im->ids) : NULL;
    if ((st->n_inflight && (!im->fl || !im->ids)) || (st->n_queued && !im->q) ||
        (st->held.n && !im->held) || (nm && !im->msgs)) {
        mq_session_image_free(im);
        return NULL;
    }
    for (const flow *f = st->fl_head; f; f = f->next) {
        im->ids[im->n_fl] = f->node.id;
        im->fl[im->n_fl++] = (img_flow){f->m, f->seq, f->node.id, f->node.qos, f->node.state};
        if (f->m)
            im->msgs[im->n_msgs++] = f->m;
    }
    for (const flow *f = st->q_head; f; f = f->next) {
        im->q[im->n_q++] = (img_flow){f->m, 0, 0, f->node.qos, MQ_MS_QUEUED};
        im->msgs[im->n_msgs++] = f->m;
    }
    const idmap *t = &st->held;
    for (size_t i = 0; t->b && i < (size_t)1 << t->bits; i++)
        for (const idnode *x = t->b[i]; x; x = x->next) {
            const held *h = (const held *)x;
            im->held[im->n_held++] = (img_held){h->m, x->id, h->dup, h->retain};
            if (h->m)
                im->msgs[im->n_msgs++] = h->m;
        }
    for (size_t i = 0; i < im->n_msgs; i++)
        mq_msg_ref(im->msgs[i]);
    if (im->n_msgs)
        qsort(im->msgs, im->n_msgs, sizeof *im->msgs, cmp_ptr);
    if (im->n_fl)
        qsort(im->ids, im->n_fl, sizeof *im->ids, cmp_id);
    im->next_id = st->next_id;
    im->seq = st->seq;
    return im;
}

bool mq_session_image_has(const mq_session_image *im, const mq_msg *m)
{
    return m && im->n_msgs &&
           bsearch(&m, im->msgs, im->n_msgs, sizeof *im->msgs, cmp_ptr) != NULL;
}

/* Whether im has identifier id in flight. O(log flows). */
static bool image_has_id(const mq_session_image *im, uint16_t id)
{
    return im->n_fl && bsearch(&id, im->ids, im->n_fl, sizeof *im->ids, cmp_id) != NULL;
}

static flow *flow_of_image(const img_flow *x)
{
    flow *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->m = x->m;
    if (f->m)
        mq_msg_ref(f->m);
    f->node.id = x->id;
    f->seq = x->seq;
    f->node.qos = x->qos;
    f->node.state = x->state;
    f->deadline = MQ_NEVER; /* set again at the resumption */
    return f;
}

/* Cost: O(flows + held) and one allocation each. */
int mq_session_image_restore(mq_session *s, const mq_session_image *im)
{
    sstate *st = &s->st;
    assert(!st->fl_head && !st->q_head && !st->held.n && s->state == MQ_CONN_DOWN);
    for (size_t i = 0; i < im->n_fl; i++) {
        flow *f = flow_of_image(&im->fl[i]);
        if (!f || idmap_insert(&st->flows, &f->node)) {
            free_flow_list(f);
            goto nomem;
        }
        fl_insert(s, f); /* every deadline MQ_NEVER: appended, in start order */
        st->n_inflight++;
        st->ids_used++;
    }
    for (size_t i = 0; i < im->n_q; i++) {
        flow *f = flow_of_image(&im->q[i]);
        if (!f)
            goto nomem;
        q_push(s, f);
    }
    for (size_t i = 0; i < im->n_held; i++) {
        held *h = malloc(sizeof *h);
        if (!h)
            goto nomem;
        h->node.id = im->held[i].id;
        h->m = im->held[i].m;
        h->dup = im->held[i].dup;
        h->retain = im->held[i].retain;
        if (idmap_insert(&st->held, &h->node)) {
            free(h);
            goto nomem;
        }
        if (h->m)
            mq_msg_ref(h->m);
    }
    st->next_id = im->next_id;
    st->seq = im->seq;
    return 0;
nomem:
    free_state(st);
    st->next_id = 1;
    return MQ_ERR_NOMEM;
}

/* Cost: O((flows + held) x log of im's). */
void mq_session_end_state_except(mq_session *s, int64_t now, mq_drop_reason why,
                                 const mq_session_image *im)
{
    if (!im) {
        mq_session_end_state(s, now, why);
        return;
    }
    s->now = now;
    fl_sort_by_seq(s);
    while (s->st.fl_head) {
        flow *f = s->st.fl_head;
        bool kept = f->m ? mq_session_image_has(im, f->m) : image_has_id(im, f->node.id);
        if (kept)
            end_flow(s, f);
        else
            drop_flow(s, f, why);
    }
    idmap_clear(&s->st.flows);
    flow *f;
    while ((f = q_pop(s))) {
        if (!mq_session_image_has(im, f->m))
            drop(s, f->m, f->node.qos, why);
        mq_msg_unref(f->m);
        free(f);
    }
    idmap *t = &s->st.held;
    for (size_t i = 0; t->b && i < (size_t)1 << t->bits; i++) {
        idnode *x = t->b[i];
        while (x) {
            idnode *next = x->next;
            held *h = (held *)x;
            if (h->m) {
                if (!mq_session_image_has(im, h->m))
                    drop(s, h->m, 2, why);
                mq_msg_unref(h->m);
            }
            free(h);
            x = next;
        }
    }
    idmap_clear(t);
    s->st.next_id = 1;
    s->st.seq = 0;
}

mq_transport mq_session_transport(const mq_session *s)
{
    return s->cfg->transport;
}

void mq_session_set_owner(mq_session *s, void *owner)
{
    s->owner = owner;
}

void *mq_session_owner(const mq_session *s)
{
    return s->owner;
}

/* ------------------------------------------------------------------------ */
/* Queries */

size_t mq_session_inflight(const mq_session *s)
{
    return s->st.n_inflight;
}

size_t mq_session_queued(const mq_session *s)
{
    return s->st.n_queued;
}

mq_conn_state mq_session_state(const mq_session *s)
{
    return (mq_conn_state)s->state;
}

bool mq_session_idle(const mq_session *s)
{
    if (s->st.fl_head || s->st.q_head || s->dg_connecting)
        return false;
    for (const subreq *r = s->subs; r; r = r->next)
        if (r->id)
            return false;
    return true;
}

bool mq_session_flow_state(const mq_session *s, uint16_t id, mq_msg_state *state)
{
    const flow *f = (const flow *)idmap_find(&s->st.flows, id);
    if (!f)
        return false;
    if (state)
        *state = (mq_msg_state)f->node.state;
    return true;
}

bool mq_session_holds(const mq_session *s, uint16_t id)
{
    return idmap_find(&s->st.held, id) != NULL;
}

size_t mq_session_held(const mq_session *s)
{
    return s->st.held.n;
}

bool mq_session_id_in_use(const mq_session *s, uint16_t id)
{
    return id != 0 && id_taken(s, id);
}

uint32_t mq_session_window(const mq_session *s)
{
    return s->window;
}

size_t mq_session_rx_held(const mq_session *s)
{
    return s->rx ? mq_framer_held(&s->rx->fr) : 0;
}

bool mq_session_check(const mq_session *s)
{
    size_t n = 0, ids = 0;
    for (const flow *f = s->st.fl_head; f; f = f->next, n++) {
        if (f->node.id == 0 || idmap_find(&s->st.flows, f->node.id) != &f->node)
            return false;
        if ((f->node.state == MQ_MS_WAIT_PUBCOMP) != (f->m == NULL))
            return false;
        if (f->next && f->next->prev != f)
            return false;
        if (s->timer_mode && f->next && f->next->deadline < f->deadline)
            return false;
    }
    if (n != s->st.n_inflight || n != s->st.flows.n)
        return false;
    ids = n;
    for (const subreq *r = s->subs; r; r = r->next) {
        if (!r->id)
            continue;
        if (idmap_find(&s->st.flows, r->id))
            return false;
        for (const subreq *q = r->next; q; q = q->next)
            if (q->id == r->id)
                return false;
        ids++;
    }
    if (ids != s->st.ids_used)
        return false;
    n = 0;
    for (const flow *f = s->st.q_head; f; f = f->next, n++)
        if (!f->m || (f->next && f->next->prev != f))
            return false;
    return n == s->st.n_queued;
}

/* Stable lower-case names, as used in result files; "?" for anything else. */
const char *mq_drop_reason_name(mq_drop_reason r)
{
    switch (r) {
    case MQ_DROP_QUEUE_FULL: return "queue_full";
    case MQ_DROP_RETRIES_EXHAUSTED: return "retries_exhausted";
    case MQ_DROP_IN_FLIGHT_AT_END: return "in_flight_at_end";
    case MQ_DROP_DISCONNECTED: return "disconnected";
    case MQ_DROP_SESSION_LOST: return "session_lost";
    case MQ_DROP_REFUSED: return "refused";
    case MQ_DROP_BROKER_RESTART: return "broker_restart";
    case MQ_DROP_CLIENT_CRASH: return "client_crash";
    default: return "?";
    }
}

const char *mq_event_name(mq_event ev)
{
    switch (ev) {
    case MQ_EV_UNKNOWN_PUBACK: return "unknown_puback";
    case MQ_EV_UNKNOWN_PUBREC: return "unknown_pubrec";
    case MQ_EV_UNKNOWN_PUBCOMP: return "unknown_pubcomp";
    case MQ_EV_UNKNOWN_PUBREL: return "unknown_pubrel";
    case MQ_EV_DUP_PUBREC: return "dup_pubrec";
    case MQ_EV_QOS2_DUP_SUPPRESSED: return "qos2_dup_suppressed";
    case MQ_EV_MALFORMED: return "malformed";
    case MQ_EV_UNEXPECTED: return "unexpected";
    case MQ_EV_DUP_CONNACK: return "dup_connack";
    case MQ_EV_DUP_SUBACK: return "dup_suback";
    case MQ_EV_NOMEM: return "nomem";
    default: return "?";
    }
}

const char *mq_close_cause_name(mq_close_cause c)
{
    switch (c) {
    case MQ_CLOSE_PROTOCOL_ERROR: return "protocol_error";
    case MQ_CLOSE_KEEPALIVE: return "keepalive";
    case MQ_CLOSE_CONNECT_TIMEOUT: return "connect_timeout";
    case MQ_CLOSE_CLIENT_DISCONNECT: return "client_disconnect";
    case MQ_CLOSE_TAKEOVER: return "takeover";
    case MQ_CLOSE_REFUSED: return "refused";
    case MQ_CLOSE_BROKER_RESTART: return "broker_restart";
    case MQ_CLOSE_SERVER_DISCONNECT: return "server_disconnect";
    default: return "?";
    }
}

const char *mq_down_cause_name(mq_down_cause c)
{
    switch (c) {
    case MQ_DOWN_FIN: return "fin";
    case MQ_DOWN_RST: return "reset";
    case MQ_DOWN_ABORT: return "tcp_abort";
    case MQ_DOWN_REFUSED: return "refused";
    case MQ_DOWN_TIMEOUT: return "timeout";
    default: return "?";
    }
}
