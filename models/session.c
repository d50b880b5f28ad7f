/* The sans-IO MQTT session engine: QoS 0/1/2 sender and receiver state machines. */
#include "models/session.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ID 65535u
#define SCRATCH_MIN 256 /* holds every ack, CONNACK and SUBACK this engine makes */

/* ------------------------------------------------------------------------ */
/* Identifier-keyed intrusive hash table.
 *
 * Used twice per session: sender flows in flight by packet identifier, and
 * the QoS 2 receiver's held identifiers. Chained, power-of-two buckets,
 * doubled when the load passes 1 and halved below 1/4 (but not below 64
 * buckets, so a window of a few dozen flows that fills and empties does not
 * rehash every time), so its memory follows what is held (8 buckets to
 * start, 65536 at most) and a lookup is O(1) on average. Fibonacci hashing spreads any identifier pattern, though the
 * rotating allocator's runs of consecutive ids would spread well anyway. */

typedef struct idnode {
    struct idnode *next;
    uint16_t id;
} idnode;

typedef struct {
    idnode **b;
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

static int idmap_init(idmap *t)
{
    t->bits = IDMAP_MIN_BITS;
    t->n = 0;
    t->b = calloc((size_t)1 << t->bits, sizeof *t->b);
    return t->b ? 0 : -1;
}

/* Rehashes into 1 << bits buckets. On out of memory the table stays as it
 * is: still correct, only with longer chains. Cost: O(buckets + n). */
static void idmap_resize(idmap *t, uint32_t bits)
{
    idnode **nb = calloc((size_t)1 << bits, sizeof *nb);
    if (!nb)
        return;
    for (size_t i = 0; i < (size_t)1 << t->bits; i++) {
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
    for (idnode *x = t->b[idhash(id, t->bits)]; x; x = x->next)
        if (x->id == id)
            return x;
    return NULL;
}

/* x->id must not be present. Never fails (see idmap_resize). */
static void idmap_insert(idmap *t, idnode *x)
{
    uint32_t h = idhash(x->id, t->bits);
    x->next = t->b[h];
    t->b[h] = x;
    if (++t->n > (1u << t->bits) && t->bits < IDMAP_MAX_BITS)
        idmap_resize(t, t->bits + 1);
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

/* ------------------------------------------------------------------------ */
/* Session state */

/* One sender-side QoS>0 message: queued, or in flight under an identifier. */
typedef struct flow {
    idnode node;            /* first member: keyed by packet identifier in flight */
    struct flow *prev, *next; /* the deadline list (in flight) or the FIFO (queued) */
    mq_msg *m;              /* held; NULL once PUBREC has released it */
    int64_t deadline;       /* in flight: when the current packet is resent */
    int32_t resends;        /* retry-timer resends of the current packet */
    uint8_t qos;
    uint8_t state;          /* mq_msg_state */
} flow;

/* One identifier a QoS 2 receiver holds between PUBLISH and PUBREL. */
typedef struct held {
    idnode node;            /* first member */
    mq_msg *m;              /* method A: the stored message; method B: NULL */
    bool dup;               /* DUP flag of the PUBLISH that was stored */
} held;

/* One SUBSCRIBE waiting for its SUBACK. */
typedef struct pend_sub {
    struct pend_sub *next;
    int64_t deadline;
    uint16_t id;
    uint8_t n;
    mq_sub subs[];
} pend_sub;

struct mq_session {
    mq_session_config cfg;
    mq_session_io io;

    /* sender */
    flow *fl_head, *fl_tail;  /* in flight, ascending deadline */
    flow *q_head, *q_tail;    /* queued, FIFO */
    size_t n_inflight, n_queued;
    idmap flows;
    uint32_t ids_used;        /* flows in flight + SUBSCRIBEs waiting */
    uint16_t next_id;         /* where the rotating allocator looks first */

    /* receiver */
    idmap held;

    /* connection setup */
    bool connecting;
    int64_t connect_at;
    pend_sub *subs;

    int64_t timer_at;         /* last deadline given to io->timer */
    uint8_t *buf;             /* encode scratch */
    size_t cap;

    uint64_t idbits[(MAX_ID + 1) / 64]; /* identifiers in use; bit 0 always set */
};

/* ------------------------------------------------------------------------ */
/* Helpers */

static int reserve(mq_session *s, size_t need)
{
    if (need <= s->cap)
        return 0;
    size_t cap = s->cap;
    while (cap < need)
        cap *= 2;
    uint8_t *nb = realloc(s->buf, cap);
    if (!nb)
        return MQ_ERR_NOMEM;
    s->buf = nb;
    s->cap = cap;
    return 0;
}

/* Encodes p into the scratch buffer and hands it to io->send. The caller has
 * reserved room for anything variable-sized (PUBLISH, CONNECT, SUBSCRIBE);
 * every packet is built by this file, so a failure to encode is a bug. */
static void send_packet(mq_session *s, const mq_packet *p, mq_msg *m, bool resend)
{
    size_t used;
    int rc = mq_codec_encode(p, s->cfg.version, s->buf, s->cap, &used);
    if (rc == MQ_ERR_NOSPACE) {
        /* A reply bigger than planned for: grow once, or give up the send
         * (the far end resends, as after a loss). */
        size_t need = mq_codec_size(p, s->cfg.version);
        if (!need || reserve(s, need))
            return;
        rc = mq_codec_encode(p, s->cfg.version, s->buf, s->cap, &used);
    }
    assert(rc == MQ_OK);
    if (rc != MQ_OK)
        return;
    s->io.send(s->io.ctx, s->buf, used, p, m, resend);
}

static void fill_publish(mq_packet *p, const mq_msg *m, uint8_t qos, uint16_t id, bool dup)
{
    memset(p, 0, sizeof *p);
    p->type = MQ_PUBLISH;
    p->qos = qos;
    p->dup = dup;
    p->id = id;
    p->topic.s = m->topic;
    p->topic.len = m->topic_len;
    p->payload = NULL; /* the codec writes payload_len zero bytes */
    p->payload_len = m->payload_len;
}

static void send_ack(mq_session *s, uint8_t type, uint16_t id, bool resend)
{
    mq_packet p;
    memset(&p, 0, sizeof p);
    p.type = type;
    p.id = id;
    send_packet(s, &p, NULL, resend);
}

static void send_connect(mq_session *s, bool resend)
{
    mq_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQ_CONNECT;
    p.version = s->cfg.version;
    p.clean_start = true;
    p.client_id.s = s->cfg.client_id ? s->cfg.client_id : "";
    p.client_id.len = (uint16_t)strlen(p.client_id.s);
    send_packet(s, &p, NULL, resend);
}

static void fill_subscribe(mq_packet *p, const pend_sub *ps)
{
    memset(p, 0, sizeof *p);
    p->type = MQ_SUBSCRIBE;
    p->id = ps->id;
    p->n_topics = ps->n;
    for (size_t i = 0; i < ps->n; i++) {
        p->topics[i].filter.s = ps->subs[i].filter;
        p->topics[i].filter.len = ps->subs[i].len;
        p->topics[i].options = ps->subs[i].qos;
    }
}

static void event(mq_session *s, mq_event ev, const mq_packet *p)
{
    if (s->io.event)
        s->io.event(s->io.ctx, ev, p);
}

static void drop(mq_session *s, mq_msg *m, uint8_t qos, mq_drop_reason why)
{
    if (s->io.drop)
        s->io.drop(s->io.ctx, m, qos, why);
}

/* Rotating allocator: the first free identifier at or after next_id,
 * wrapping, skipping whole words of used ones. Requires a free identifier.
 * Cost: O(1) while identifiers complete roughly in order; at worst one pass
 * over the 1024-word bitmap. */
static uint16_t alloc_id(mq_session *s)
{
    assert(s->ids_used < MAX_ID);
    uint32_t id = s->next_id;
    for (;;) {
        uint64_t w = s->idbits[id >> 6];
        if (w == ~(uint64_t)0) {
            id = ((id | 63) + 1) & MAX_ID;
            continue;
        }
        if (!((w >> (id & 63)) & 1))
            break;
        id = (id + 1) & MAX_ID;
    }
    s->idbits[id >> 6] |= (uint64_t)1 << (id & 63);
    s->ids_used++;
    s->next_id = (uint16_t)(id == MAX_ID ? 1 : id + 1);
    return (uint16_t)id;
}

static void free_id(mq_session *s, uint16_t id)
{
    assert(id != 0 && (s->idbits[id >> 6] >> (id & 63) & 1));
    s->idbits[id >> 6] &= ~((uint64_t)1 << (id & 63));
    s->ids_used--;
}

/* Deadline list. With a constant retry interval and a non-decreasing `now`
 * every insertion lands at the tail, so the walk back from the tail is O(1);
 * it keeps the order right even if a host hands in an earlier `now`. */
static void fl_insert(mq_session *s, flow *f)
{
    flow *after = s->fl_tail;
    while (after && after->deadline > f->deadline)
        after = after->prev;
    f->prev = after;
    f->next = after ? after->next : s->fl_head;
    if (f->next)
        f->next->prev = f;
    else
        s->fl_tail = f;
    if (after)
        after->next = f;
    else
        s->fl_head = f;
}

static void fl_unlink(mq_session *s, flow *f)
{
    if (f->prev)
        f->prev->next = f->next;
    else
        s->fl_head = f->next;
    if (f->next)
        f->next->prev = f->prev;
    else
        s->fl_tail = f->prev;
    f->prev = f->next = NULL;
}

static void q_push(mq_session *s, flow *f)
{
    f->next = NULL;
    f->prev = s->q_tail;
    if (s->q_tail)
        s->q_tail->next = f;
    else
        s->q_head = f;
    s->q_tail = f;
    s->n_queued++;
}

static flow *q_pop(mq_session *s)
{
    flow *f = s->q_head;
    if (!f)
        return NULL;
    s->q_head = f->next;
    if (s->q_head)
        s->q_head->prev = NULL;
    else
        s->q_tail = NULL;
    f->next = NULL;
    s->n_queued--;
    return f;
}

static bool window_open(const mq_session *s)
{
    return (s->cfg.max_inflight == 0 || s->n_inflight < s->cfg.max_inflight) &&
           s->ids_used < MAX_ID;
}

/* Puts f in flight under a fresh identifier and sends its PUBLISH. */
static void start_flow(mq_session *s, int64_t now, flow *f)
{
    f->node.id = alloc_id(s);
    idmap_insert(&s->flows, &f->node);
    f->state = f->qos == 1 ? MQ_MS_WAIT_PUBACK : MQ_MS_WAIT_PUBREC;
    f->resends = 0;
    f->deadline = now + s->cfg.retry_interval;
    fl_insert(s, f);
    s->n_inflight++;
    mq_packet p;
    fill_publish(&p, f->m, f->qos, f->node.id, false);
    send_packet(s, &p, f->m, false);
}

/* Removes an in-flight flow, frees its identifier and releases its message. */
static void end_flow(mq_session *s, flow *f)
{
    fl_unlink(s, f);
    idmap_remove(&s->flows, &f->node);
    free_id(s, f->node.id);
    s->n_inflight--;
    if (f->m)
        mq_msg_unref(f->m);
    free(f);
}

/* Sends queued messages while the window and the identifier space allow. */
static void drain_queue(mq_session *s, int64_t now)
{
    while (s->q_head && window_open(s))
        start_flow(s, now, q_pop(s));
}

static int64_t earliest_deadline(const mq_session *s)
{
    int64_t t = s->fl_head ? s->fl_head->deadline : MQ_NEVER;
    if (s->connecting && s->connect_at < t)
        t = s->connect_at;
    for (const pend_sub *ps = s->subs; ps; ps = ps->next)
        if (ps->deadline < t)
            t = ps->deadline;
    return t;
}

/* Tells the host when the earliest deadline has changed. Every public entry
 * point that can change a deadline ends here. */
static void update_timer(mq_session *s)
{
    int64_t t = earliest_deadline(s);
    if (t != s->timer_at) {
        s->timer_at = t;
        s->io.timer(s->io.ctx, t);
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

static void free_held(mq_session *s)
{
    for (size_t i = 0; i < (size_t)1 << s->held.bits; i++) {
        idnode *x = s->held.b[i];
        while (x) {
            idnode *next = x->next;
            held *h = (held *)x;
            if (h->m)
                mq_msg_unref(h->m);
            free(h);
            x = next;
        }
        s->held.b[i] = NULL;
    }
    s->held.n = 0;
}

static void free_subs(mq_session *s)
{
    while (s->subs) {
        pend_sub *next = s->subs->next;
        free_id(s, s->subs->id);
        free(s->subs);
        s->subs = next;
    }
}

/* ------------------------------------------------------------------------ */
/* Lifecycle */

/* Cost: O(1); about 9 KiB per session (the identifier bitmap, two minimal
 * hash tables and the scratch buffer). */
mq_session *mq_session_new(const mq_session_config *cfg, const mq_session_io *io)
{
    assert(cfg && io && io->send && io->deliver && io->timer);
    assert(cfg->retry_interval > 0);
    assert(cfg->version == MQ_V311 || cfg->version == MQ_V5);
    mq_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cfg = *cfg;
    s->io = *io;
    s->next_id = 1;
    s->idbits[0] = 1; /* identifier 0 is never used */
    s->timer_at = MQ_NEVER;
    s->cap = SCRATCH_MIN;
    s->buf = malloc(s->cap);
    if (!s->buf || idmap_init(&s->flows))
        goto fail;
    if (idmap_init(&s->held))
        goto fail;
    return s;
fail:
    free(s->flows.b);
    free(s->buf);
    free(s);
    return NULL;
}

/* Releases every message reference the session holds, reporting nothing and
 * calling no io callback. Cost: O(flows + held + buckets). */
void mq_session_free(mq_session *s)
{
    if (!s)
        return;
    free_flow_list(s->fl_head);
    free_flow_list(s->q_head);
    free_held(s);
    while (s->subs) {
        pend_sub *next = s->subs->next;
        free(s->subs);
        s->subs = next;
    }
    free(s->flows.b);
    free(s->held.b);
    free(s->buf);
    free(s);
}

/* Reports every sender-side flow (in flight in deadline order, then queued
 * in FIFO order) as MQ_DROP_IN_FLIGHT_AT_END and releases it; a flow waiting
 * for PUBCOMP is reported with m == NULL. Receiver-side identifiers and
 * stored messages, and CONNECT/SUBSCRIBE waiting for answers, are released
 * without a report. The host timer is cancelled (io->timer(MQ_NEVER)) if it
 * was set. The session stays usable. Cost: O(flows + held + buckets). */
void mq_session_close(mq_session *s, int64_t now)
{
    (void)now;
    while (s->fl_head) {
        flow *f = s->fl_head;
        fl_unlink(s, f);
        idmap_remove(&s->flows, &f->node);
        free_id(s, f->node.id);
        s->n_inflight--;
        drop(s, f->m, f->qos, MQ_DROP_IN_FLIGHT_AT_END);
        if (f->m)
            mq_msg_unref(f->m);
        free(f);
    }
    flow *f;
    while ((f = q_pop(s))) {
        drop(s, f->m, f->qos, MQ_DROP_IN_FLIGHT_AT_END);
        mq_msg_unref(f->m);
        free(f);
    }
    free_held(s);
    idmap_resize(&s->held, IDMAP_MIN_BITS);
    s->held.n = 0;
    s->connecting = false;
    free_subs(s);
    update_timer(s);
}

/* ------------------------------------------------------------------------ */
/* Application calls */

/* Sends CONNECT (clean start, cfg.client_id, keepalive 0) and resends it
 * every retry_interval until CONNACK; calling it again while waiting only
 * restarts nothing and returns 0. Returns MQ_ERR_NOMEM when the client id
 * does not fit the scratch buffer. Cost: O(client id). */
int mq_session_connect(mq_session *s, int64_t now)
{
    if (s->connecting)
        return 0;
    size_t idlen = s->cfg.client_id ? strlen(s->cfg.client_id) : 0;
    if (idlen > UINT16_MAX)
        return MQ_ERR_INVALID;
    if (reserve(s, idlen + 64))
        return MQ_ERR_NOMEM;
    s->connecting = true;
    s->connect_at = now + s->cfg.retry_interval;
    send_connect(s, false);
    update_timer(s);
    return 0;
}

/* Sends one SUBSCRIBE under an identifier from the session's identifier
 * space, resent every retry_interval until its SUBACK; io->subscribed runs
 * at the first SUBACK. Returns 0, MQ_ERR_INVALID for n == 0, n >
 * MQ_MAX_TOPICS, a QoS above 2 or a filter the codec refuses, MQ_ERR_NOID
 * when all 65535 identifiers are in use, MQ_ERR_NOMEM. Cost: O(n + filter
 * bytes). */
int mq_session_subscribe(mq_session *s, int64_t now, const mq_sub *subs, size_t n)
{
    if (n == 0 || n > MQ_MAX_TOPICS)
        return MQ_ERR_INVALID;
    for (size_t i = 0; i < n; i++)
        if (subs[i].qos > 2)
            return MQ_ERR_INVALID;
    if (s->ids_used >= MAX_ID)
        return MQ_ERR_NOID;
    pend_sub *ps = malloc(sizeof *ps + n * sizeof ps->subs[0]);
    if (!ps)
        return MQ_ERR_NOMEM;
    ps->n = (uint8_t)n;
    ps->id = 1; /* a placeholder for sizing */
    memcpy(ps->subs, subs, n * sizeof subs[0]);
    mq_packet p;
    fill_subscribe(&p, ps);
    size_t need = mq_codec_size(&p, s->cfg.version);
    if (!need) {
        free(ps);
        return MQ_ERR_INVALID;
    }
    if (reserve(s, need)) {
        free(ps);
        return MQ_ERR_NOMEM;
    }
    ps->id = alloc_id(s);
    ps->deadline = now + s->cfg.retry_interval;
    ps->next = s->subs;
    s->subs = ps;
    p.id = ps->id;
    send_packet(s, &p, NULL, false);
    update_timer(s);
    return 0;
}

/* QoS 0: one PUBLISH now, nothing kept. QoS 1/2: a reference is taken and
 * the message goes in flight at once (fresh identifier, PUBLISH sent, retry
 * deadline set) if the window has room, no message is queued and an
 * identifier is free; otherwise it is queued, or, with max_queued messages
 * already queued, dropped: io->drop(MQ_DROP_QUEUE_FULL) and 1 returned.
 * Returns MQ_ERR_INVALID when m cannot be encoded (bad topic), MQ_ERR_NOMEM
 * on out of memory (nothing sent or held). Cost: O(1) amortised. */
int mq_session_publish(mq_session *s, int64_t now, mq_msg *m, uint8_t qos)
{
    assert(m && qos <= 2);
    mq_packet p;
    fill_publish(&p, m, qos, qos ? 1 : 0, false);
    size_t need = mq_codec_size(&p, s->cfg.version);
    if (!need)
        return MQ_ERR_INVALID;
    if (reserve(s, need))
        return MQ_ERR_NOMEM;
    if (qos == 0) {
        send_packet(s, &p, m, false);
        return 0;
    }
    bool can_send = !s->q_head && window_open(s);
    if (!can_send && s->cfg.max_queued && s->n_queued >= s->cfg.max_queued) {
        drop(s, m, qos, MQ_DROP_QUEUE_FULL);
        return 1;
    }
    flow *f = calloc(1, sizeof *f);
    if (!f)
        return MQ_ERR_NOMEM;
    mq_msg_ref(m);
    f->m = m;
    f->qos = qos;
    f->state = MQ_MS_QUEUED;
    if (can_send) {
        start_flow(s, now, f);
        update_timer(s);
    } else {
        q_push(s, f);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Inbound packets: one handler per type */

static void on_publish(mq_session *s, int64_t now, const mq_packet *p, mq_msg *m)
{
    if (!m) {
        /* The host must say which message a PUBLISH frame carries. */
        event(s, MQ_EV_UNEXPECTED, p);
        return;
    }
    switch (p->qos) {
    case 0:
        s->io.deliver(s->io.ctx, now, m, 0, p->dup);
        return;
    case 1:
        /* No deduplication: a DUP=1 PUBLISH may be the first copy to arrive. */
        s->io.deliver(s->io.ctx, now, m, 1, p->dup);
        send_ack(s, MQ_PUBACK, p->id, false);
        return;
    default:
        break;
    }
    if (idmap_find(&s->held, p->id)) {
        event(s, MQ_EV_QOS2_DUP_SUPPRESSED, p);
        send_ack(s, MQ_PUBREC, p->id, false);
        return;
    }
    held *h = malloc(sizeof *h);
    if (!h)
        return; /* out of memory: as if lost on the wire; the sender resends */
    h->node.id = p->id;
    h->dup = p->dup;
    h->m = NULL;
    idmap_insert(&s->held, &h->node);
    if (s->cfg.qos2_method == MQ_QOS2_A) {
        mq_msg_ref(m);
        h->m = m;
    } else {
        s->io.deliver(s->io.ctx, now, m, 2, p->dup);
    }
    send_ack(s, MQ_PUBREC, p->id, false);
}

static void on_puback(mq_session *s, int64_t now, const mq_packet *p)
{
    flow *f = (flow *)idmap_find(&s->flows, p->id);
    if (!f || f->state != MQ_MS_WAIT_PUBACK) {
        event(s, MQ_EV_UNKNOWN_PUBACK, p);
        return;
    }
    end_flow(s, f);
    drain_queue(s, now);
}

/* The receiver has the message: release it, and from now on only PUBREL is
 * (re)sent for this identifier. A v5 PUBREC reason code is not examined:
 * this engine's receivers never refuse. */
static void on_pubrec(mq_session *s, int64_t now, const mq_packet *p)
{
    flow *f = (flow *)idmap_find(&s->flows, p->id);
    if (f && f->state == MQ_MS_WAIT_PUBREC) {
        mq_msg_unref(f->m);
        f->m = NULL;
        f->state = MQ_MS_WAIT_PUBCOMP;
        f->resends = 0; /* PUBREL gets its own max_retries budget */
        fl_unlink(s, f);
        f->deadline = now + s->cfg.retry_interval;
        fl_insert(s, f);
        send_ack(s, MQ_PUBREL, p->id, false);
    } else if (f && f->state == MQ_MS_WAIT_PUBCOMP) {
        /* Our PUBREL or its PUBCOMP may be lost; answering now is cheaper
         * than waiting for the retry timer, whose deadline is left alone. */
        event(s, MQ_EV_DUP_PUBREC, p);
        send_ack(s, MQ_PUBREL, p->id, false);
    } else {
        event(s, MQ_EV_UNKNOWN_PUBREC, p);
    }
}

static void on_pubrel(mq_session *s, int64_t now, const mq_packet *p)
{
    held *h = (held *)idmap_find(&s->held, p->id);
    if (!h) {
        /* Our PUBCOMP was lost and the sender resent PUBREL: the flow is
         * already complete here, so only the answer is owed. */
        event(s, MQ_EV_UNKNOWN_PUBREL, p);
        send_ack(s, MQ_PUBCOMP, p->id, false);
        return;
    }
    idmap_remove(&s->held, &h->node);
    mq_msg *m = h->m;
    bool dup = h->dup;
    free(h);
    if (m)
        s->io.deliver(s->io.ctx, now, m, 2, dup);
    send_ack(s, MQ_PUBCOMP, p->id, false);
    if (m)
        mq_msg_unref(m);
}

static void on_pubcomp(mq_session *s, int64_t now, const mq_packet *p)
{
    flow *f = (flow *)idmap_find(&s->flows, p->id);
    if (!f || f->state != MQ_MS_WAIT_PUBCOMP) {
        event(s, MQ_EV_UNKNOWN_PUBCOMP, p);
        return;
    }
    end_flow(s, f);
    drain_queue(s, now);
}

static void on_connect(mq_session *s, const mq_packet *p)
{
    if (s->cfg.role != MQ_ROLE_BROKER) {
        event(s, MQ_EV_UNEXPECTED, p);
        return;
    }
    mq_packet a;
    memset(&a, 0, sizeof a);
    a.type = MQ_CONNACK;
    send_packet(s, &a, NULL, false);
}

static void on_connack(mq_session *s, const mq_packet *p)
{
    if (s->cfg.role != MQ_ROLE_CLIENT) {
        event(s, MQ_EV_UNEXPECTED, p);
        return;
    }
    if (!s->connecting) {
        event(s, MQ_EV_DUP_CONNACK, p);
        return;
    }
    s->connecting = false;
    if (s->io.connected)
        s->io.connected(s->io.ctx);
}

static void on_subscribe(mq_session *s, const mq_packet *p)
{
    if (s->cfg.role != MQ_ROLE_BROKER) {
        event(s, MQ_EV_UNEXPECTED, p);
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
        a.codes[i] = s->io.subscribe
                         ? s->io.subscribe(s->io.ctx, t->filter.s, t->filter.len, qos)
                         : 0x80;
        if (a.codes[i] > 2)
            a.codes[i] = 0x80;
    }
    send_packet(s, &a, NULL, false);
}

static void on_suback(mq_session *s, int64_t now, const mq_packet *p)
{
    if (s->cfg.role != MQ_ROLE_CLIENT) {
        event(s, MQ_EV_UNEXPECTED, p);
        return;
    }
    pend_sub **pp = &s->subs;
    while (*pp && (*pp)->id != p->id)
        pp = &(*pp)->next;
    pend_sub *ps = *pp;
    if (!ps) {
        event(s, MQ_EV_DUP_SUBACK, p);
        return;
    }
    *pp = ps->next;
    free_id(s, ps->id);
    free(ps);
    drain_queue(s, now); /* the freed identifier may be the one a message waits for */
    if (s->io.subscribed)
        s->io.subscribed(s->io.ctx, p->codes, p->n_codes);
}

/* Decodes buf[0..len) with the session's version and dispatches it. Bytes
 * that fail to decode, or hold more than one packet, count MQ_EV_MALFORMED
 * and change nothing. Cost: O(len) to decode, O(1) average to handle (plus
 * the fan-out the deliver callback does). */
void mq_session_on_packet(mq_session *s, int64_t now, const uint8_t *buf, size_t len,
                          mq_msg *m)
{
    mq_packet p;
    size_t used = 0;
    if (!buf || mq_codec_decode(buf, len, s->cfg.version, &p, &used) != MQ_OK || used != len) {
        event(s, MQ_EV_MALFORMED, NULL);
        return;
    }
    switch (p.type) {
    case MQ_PUBLISH: on_publish(s, now, &p, m); break;
    case MQ_PUBACK: on_puback(s, now, &p); break;
    case MQ_PUBREC: on_pubrec(s, now, &p); break;
    case MQ_PUBREL: on_pubrel(s, now, &p); break;
    case MQ_PUBCOMP: on_pubcomp(s, now, &p); break;
    case MQ_CONNECT: on_connect(s, &p); break;
    case MQ_CONNACK: on_connack(s, &p); break;
    case MQ_SUBSCRIBE: on_subscribe(s, &p); break;
    case MQ_SUBACK: on_suback(s, now, &p); break;
    default: event(s, MQ_EV_UNEXPECTED, &p); break;
    }
    update_timer(s);
}

/* The host timer fired and is consumed: everything due at `now` is done
 * (resends, give-ups, CONNECT/SUBSCRIBE resends), freed windows are refilled
 * from the queue, and io->timer is called with the next deadline unless
 * there is none. Cost: O(flows due). */
void mq_session_on_timer(mq_session *s, int64_t now)
{
    s->timer_at = MQ_NEVER;
    while (s->fl_head && s->fl_head->deadline <= now) {
        flow *f = s->fl_head;
        if (s->cfg.max_retries >= 0 && f->resends >= s->cfg.max_retries) {
            mq_msg *m = f->m;
            uint8_t qos = f->qos;
            if (m)
                mq_msg_ref(m); /* keep it alive through the report */
            end_flow(s, f);
            drop(s, m, qos, MQ_DROP_RETRIES_EXHAUSTED);
            if (m)
                mq_msg_unref(m);
            continue;
        }
        f->resends++;
        fl_unlink(s, f);
        f->deadline = now + s->cfg.retry_interval;
        fl_insert(s, f);
        if (f->state == MQ_MS_WAIT_PUBCOMP) {
            send_ack(s, MQ_PUBREL, f->node.id, true);
        } else {
            mq_packet p;
            fill_publish(&p, f->m, f->qos, f->node.id, true);
            send_packet(s, &p, f->m, true);
        }
    }
    if (s->connecting && s->connect_at <= now) {
        s->connect_at = now + s->cfg.retry_interval;
        send_connect(s, true);
    }
    for (pend_sub *ps = s->subs; ps; ps = ps->next) {
        if (ps->deadline > now)
            continue;
        ps->deadline = now + s->cfg.retry_interval;
        mq_packet p;
        fill_subscribe(&p, ps);
        send_packet(s, &p, NULL, true);
    }
    drain_queue(s, now);
    update_timer(s);
}

/* ------------------------------------------------------------------------ */
/* Queries */

/* The queries below are O(1) and call no callback. */

size_t mq_session_inflight(const mq_session *s)
{
    return s->n_inflight;
}

size_t mq_session_queued(const mq_session *s)
{
    return s->n_queued;
}

bool mq_session_idle(const mq_session *s)
{
    return !s->fl_head && !s->q_head && !s->connecting && !s->subs;
}

bool mq_session_flow_state(const mq_session *s, uint16_t id, mq_msg_state *state)
{
    const flow *f = (const flow *)idmap_find(&s->flows, id);
    if (!f)
        return false;
    if (state)
        *state = (mq_msg_state)f->state;
    return true;
}

bool mq_session_holds(const mq_session *s, uint16_t id)
{
    return idmap_find(&s->held, id) != NULL;
}

size_t mq_session_held(const mq_session *s)
{
    return s->held.n;
}

bool mq_session_id_in_use(const mq_session *s, uint16_t id)
{
    return id != 0 && (s->idbits[id >> 6] >> (id & 63) & 1);
}

/* Stable lower-case names, as used in result files; "?" for anything else. */
const char *mq_drop_reason_name(mq_drop_reason r)
{
    switch (r) {
    case MQ_DROP_QUEUE_FULL: return "queue_full";
    case MQ_DROP_RETRIES_EXHAUSTED: return "retries_exhausted";
    case MQ_DROP_IN_FLIGHT_AT_END: return "in_flight_at_end";
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
    default: return "?";
    }
}
