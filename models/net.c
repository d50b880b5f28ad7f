/* The host adapter: sessions and broker on the kernel's scheduler, over datagram links or the TCP model. */
#include "models/net.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/broker.h"
#include "models/pool.h"
#include "models/subs.h"
#include "sim/fifo.h"
#include "models/topic.h"
#include "sim/rng.h"
#include "sim/sched.h"

typedef struct client client;
typedef struct endpoint endpoint;
typedef struct sconn sconn;
typedef struct msgrec msgrec;

static char *expand_for(const client *c, const char *pattern);
static const char *name_of(const client *c, char *buf, size_t cap);
static const mq_sub *subs_of(const client *c, mq_sub **store);

/* How an endpoint's bytes travel. One table per transport; the engine calls
 * reach them through the endpoint's io, and nothing above this table knows
 * which transport it is. */
typedef struct {
    /* Puts one packet on the wire: buf[0..len), then zeros zero bytes; tag
     * rides along with a PUBLISH (v: its header). Returns 1 in transit, 0
     * lost, 2 written where the far end reads no more (stream), -1 on out of
     * memory, -2 when the transport is gone (a host bug). */
    int (*send)(endpoint *e, const uint8_t *buf, size_t len, uint64_t zeros, const mq_view *v,
                msgrec *tag);
} transport_ops;

/* One end of one client's connection: the client's, or the broker's context
 * (datagram: the one context, kept in the client; stream: one per
 * connection, kept in the connection). Its transport is its client's
 * (transport_of), and a datagram end sends on its client's up link (the
 * client's end) or down link (the broker's). */
struct endpoint {
    mq_net *net;
    client *c;
    bool broker_side;
    bool deferred;          /* the pending event is the deadline's second pass */
    mq_session *s;          /* the client's session, or the broker's context (NULL: none) */
    void *rx_tag;           /* datagram: the tag of the frame being handed in */
    sconn *sc;              /* stream: the connection it is on (client: the current one) */
    sim_event_id ev;        /* the pending timer event, if any */
    int64_t ev_at;          /* its time */
    int64_t want_at;        /* what the engine last asked for */
};

/* A subscriber a publisher's messages go to. */
typedef struct {
    int sub;                /* client index */
    uint8_t sub_qos;        /* highest QoS among its matching subscriptions */
    uint64_t max_seq;       /* the latest message of this publisher delivered to it */
} target;

/* A publisher's own part of its client record: held by publishers only. */
typedef struct {
    char *topic;            /* a group's publisher: its topic, expanded (else NULL) */
    target *targets;        /* in increasing subscriber order */
    size_t n_targets;
    gsl_rng *rng_arrival;
    int64_t period;         /* periodic arrivals: ns between messages */
    int64_t first_at, next_at;
    uint64_t k;             /* messages published */
    uint64_t slots;         /* arrivals, published or not (its process was down) */
    uint32_t per_group[3];  /* targets per subscription QoS */
} pubstate;

/* A client's resets, crashes and random outages (net.h "Faults"): held
 * only by the clients that have them. */
typedef struct {
    gsl_rng *rng_out[2], *rng_resets, *rng_crashes;
    size_t next_reset, next_crash; /* scheduled: the next entry */
    int64_t crash_since, up_at;
} faults;

/* Held once per client (100,000 of them in a large fleet), so its fields
 * are grouped by size, pointers and 64-bit figures first, to leave no
 * padding. */
struct client {
    const mq_net_client *cfg;
    pubstate *pb;           /* a publisher's: its state (NULL: not a publisher) */
    /* brk: datagram: the broker's context for this client; stream: only the
     * client's identity at the broker (drop reports name it) */
    endpoint cli, brk;
    sim_link *up, *down;    /* datagram: its links; stream: its path's */
    sim_tcp_path *path;     /* stream */
    sconn *conns;           /* stream: the connections still held, oldest first */
    sconn *cur;             /* stream: the client's current connection */
    gsl_rng *rng_reconnect;
    sim_rng_slot rs_up, rs_down; /* every client's two streams, held here (the
                                    links' and the path's: &rs_up.r, &rs_down.r) */
    /* connections: its figures (shared with every client that carries the
     * same QoS pairs: only their sums are reported); down_since: see mqtt_up */
    mq_conn_stats *cs;
    int64_t down_since;
    /* subscriber: group code (1 + 3 pub_qos + sub_qos) of the flow on each
     * packet identifier of the broker's end, for wire attribution */
    uint8_t *grp;           /* [0, n_grp): identifiers seen so far (0: none) */
    faults *flt;            /* NULL: it has no resets, crashes or random outages */
    int64_t fault_at;       /* the first fault since its last CONNACK, or -1 */

    int idx;
    uint32_t gi;            /* its index in its entry's group (cfg->count > 0) */
    int sess;               /* its session's index at the broker, or -1 */
    uint32_t stamp;         /* routing check: the epoch it was last routed to */
    uint32_t n_grp;         /* subscriber: see grp */
    int fault_cause;        /* from a crash or a broker restart to its next CONNACK: the
                               drop reason its disconnection's losses are charged to; -1 */
    int gone_cause;         /* subscriber: likewise for messages routed while its session
                               or subscription is missing, until they are back; -1 */
    uint16_t groups;        /* bit 3p+s: the QoS pairs it carries */
    bool stream;
    bool is_sub;            /* a subscriber: a target of publishers */
    bool ready, sub_sent;
    bool unsure;            /* subscriber: its session at the broker may lack its
                               subscriptions (then routing is checked) */
    bool subs_ok;           /* subscriber: its current session at the broker has them
                               (a SUBACK left since that session began) */
    bool mqtt_up, ever_up;  /* its MQTT connection is up; it was once */
    bool crashed;           /* its process is down */
    bool forgot;            /* it crashed without persistence: identifiers its
                               broker session held may come again as new */
};

/* Per target of a message: its deliveries (saturating at 65535) and the
 * cause noted for it (0: none; else 1 + loss cause, with HOP2 when it came
 * from the subscriber's hop). */
#define HOP2 0x80
typedef struct {
    uint16_t n;
    uint8_t cause;
} tstate;

/* A message's measurement tag: its identity and time, and its state per
 * target. The engine's messages built from the bytes at the broker and at
 * each subscriber all point to it. */
struct msgrec {
    client *pub;
    uint64_t id;            /* simulation-wide message id */
    uint64_t seq;           /* its publisher's count, from 1 */
    int64_t t_pub;          /* publish time, ns */
    uint32_t refs;          /* last: one target's state fits the padding (40 bytes) */
    tstate t[];
};

/* A frame on a link: the packet's bytes, then `zeros` zero bytes, and for a
 * PUBLISH its message's tag. */
typedef struct {
    msgrec *tag;
    uint32_t len;
    uint64_t zeros;
    uint8_t bytes[];
} frame;

/* Stream: a PUBLISH's place in its direction and its tag, 16 bytes (one is
 * held per PUBLISH in flight on a connection). The place is kept as the gap
 * from the previous entry's end: the FIFO keeps where its front entry starts
 * (tq_*). A gap is bytes written between two PUBLISHes that the reader has
 * not taken yet, stored in the send buffer: under 4 GiB. */
typedef struct {
    msgrec *tag;
    uint32_t gap;  /* bytes from the previous entry's end to its start (the front's: unused) */
    uint32_t lenq; /* its length (low 30 bits; a PUBLISH is at most 256 MB) and QoS */
} tagpos;

#define TAG_LEN_BITS 30

static uint32_t tagpos_len(const tagpos *tp) { return tp->lenq & ((1u << TAG_LEN_BITS) - 1); }
static uint8_t tagpos_qos(const tagpos *tp) { return (uint8_t)(tp->lenq >> TAG_LEN_BITS); }

/* The tag FIFOs' blocks: 8 entries up to 128 (2 KiB). */
#define TAGS_MIN_SHIFT 3
#define TAGS_MAX_SHIFT 7

/* Traces only: a packet's end in its direction, for its decode time. */
typedef struct {
    uint64_t end;
    mq_view v;
    uint64_t msg;
} pktpos;

/* A FIFO ring of fixed-size entries (capacity a power of two). */
typedef struct {
    void *v;
    size_t head, n, cap, size;
} ring;

/* One TCP connection of a stream client, from its open until neither end
 * is ours and the broker has let its context go. Direction 0 is client to
 * broker, 1 broker to client. */
struct sconn {
    client *c;
    sconn *next;            /* the client's list */
    uint32_t id;            /* the connection's number on the path */
    sim_tcp_end *ce, *se;   /* our handles on its ends; NULL once detached */
    bool ce_established;    /* the client's end completed its handshake */
    bool se_seen;           /* the server end was accepted */
    bool closed;            /* its end was counted (mq_conn_close) */
    bool released[2];       /* direction d's reader stopped: its FIFO was emptied */
    int busy;               /* callbacks of its ends in progress */
    endpoint brk;           /* the broker's context on it (brk.s NULL: none) */
    sim_fifo q[2];          /* tagpos */
    uint64_t qoff[2];       /* where q[d]'s front entry starts (when it has one) */
    uint64_t qend[2];       /* where the last entry pushed on q[d] ends */
    ring pq[2];             /* pktpos, traces only */
    uint64_t tx[2], rx[2];  /* bytes written and handed in, per direction */
};

/* Direction d's tag FIFO: its front entry (NULL: empty), where that ends,
 * pop and push. O(1) amortised. */
static tagpos *tq_front(sconn *sc, int d)
{
    return sim_fifo_len(&sc->q[d]) ? sim_fifo_at(&sc->q[d], 0) : NULL;
}

static uint64_t tq_front_end(sconn *sc, int d)
{
    return sc->qoff[d] + tagpos_len(tq_front(sc, d));
}

static void tq_pop(sconn *sc, int d)
{
    uint64_t end = tq_front_end(sc, d);
    sim_fifo_pop(&sc->q[d]);
    const tagpos *next = tq_front(sc, d);
    if (next)
        sc->qoff[d] = end + next->gap;
}

/* 0, or -1 when out of memory (or past a gap's 4 GiB). */
static int tq_push(sconn *sc, int d, uint64_t off, msgrec *tag, uint32_t len, uint8_t qos)
{
    assert(len < (1u << TAG_LEN_BITS) && qos < 4);
    bool empty = sim_fifo_len(&sc->q[d]) == 0;
    uint64_t gap = empty ? 0 : off - sc->qend[d];
    if (gap > UINT32_MAX)
        return -1;
    tagpos *tp = sim_fifo_push(&sc->q[d]);
    if (!tp)
        return -1;
    *tp = (tagpos){tag, (uint32_t)gap, len | (uint32_t)qos << TAG_LEN_BITS};
    if (empty)
        sc->qoff[d] = off;
    sc->qend[d] = off + len;
    return 0;
}

#define FRAME_POOLS 3 /* blocks of 40, 64 and 256 bytes: a message record of one target
                         is 40 (a 48-byte malloc chunk, not the 80 of a 64-byte block) */

/* A client session's settings, shared by consecutive clients with the same. */
typedef struct scfg {
    struct scfg *next;
    mq_session_config cfg;
} scfg;

struct mq_net {
    mq_net_config cfg;
    scfg *scfgs;            /* the clients' session settings, newest first */
    sim_sched *sched;
    mq_broker *broker;
    mq_metrics *metrics;
    mq_net_hooks hooks;
    bool has_hooks;
    client *clients;
    size_t n;
    size_t n_ready;
    bool publishing, failed, ending, freeing;
    char why[300];          /* what failed, when failed is set after setup */
    sim_event_id end_ev;
    sim_event_id broker_ev; /* the broker's own timer (session expiry) */
    int64_t broker_at;
    bool broker_down;       /* killed, not yet restarted */
    bool restored;          /* a restart restored an older save (its stale
                               identifiers cost broker_restart) */
    sim_event_id autosave_ev;
    int64_t broker_since;
    size_t next_restart;
    int64_t setup_limit;
    uint64_t next_msg_id;
    uint64_t live, peak_live;
    uint64_t held_frames, held_bytes; /* datagram frames in transit on the links */
    uint64_t arrivals;      /* frames and chunks delivered, for progress reports */
    uint64_t uncharged;     /* lost pairs that found no cause */
    /* routing checks */
    size_t n_unsure;
    uint32_t epoch;
    mq_route *routes;
    size_t cap_routes;
    client **sess_client;   /* session index -> client */
    size_t cap_sess;
    mq_pool frames[FRAME_POOLS]; /* datagram frames and message records, by size */
    mq_conn_stats *conn_of[1u << 9]; /* the clients' connection figures by their
                                        groups (client.groups), NULL: no such client */
    mq_net_stats st;
};

static void fail(mq_net *net, const char *why)
{
    if (!net->failed)
        snprintf(net->why, sizeof net->why, "%s", why);
    net->failed = true;
    sim_sched_stop(net->sched);
}

static void fail_oom(mq_net *net)
{
    fail(net, "out of memory");
}

/* Frames and message records come from the network's pools by size: most
 * are small (acknowledgements, PUBLISHes whose payload is mostly zeros,
 * which are not stored, and messages with a few targets), so each would
 * otherwise be a malloc and a free. NULL: too big for a pool. */
static mq_pool *block_pool(mq_net *net, size_t bytes)
{
    for (int i = 0; i < FRAME_POOLS; i++)
        if (bytes <= net->frames[i].size)
            return &net->frames[i];
    return NULL;
}

static size_t msgrec_bytes(const client *pub);

/* ---- rings ------------------------------------------------------------ */

static void *ring_at(const ring *r, size_t i)
{
    return (char *)r->v + ((r->head + i) & (r->cap - 1)) * r->size;
}

/* Appends a copy of x. Returns 0, or -1 when out of memory. Amortised O(1). */
static int ring_push(ring *r, const void *x, size_t size)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 8;
        char *v = malloc(cap * size);
        if (!v)
            return -1;
        for (size_t i = 0; i < r->n; i++)
            memcpy(v + i * size, ring_at(r, i), size);
        free(r->v);
        r->v = v;
        r->head = 0;
        r->cap = cap;
        r->size = size;
    }
    r->size = size;
    memcpy((char *)r->v + ((r->head + r->n) & (r->cap - 1)) * size, x, size);
    r->n++;
    return 0;
}

static void ring_pop(ring *r)
{
    r->head = (r->head + 1) & (r->cap - 1);
    r->n--;
}

static void ring_free(ring *r)
{
    free(r->v);
    *r = (ring){0};
}

/* ---- tags and the accounting of losses --------------------------------- */

static void tag_ref(void *t)
{
    ((msgrec *)t)->refs++;
}

/* A message record goes: each of its targets that never got it is charged
 * to its cause (net.h, "Accounting of losses"). O(targets). */
static void charge(mq_net *net, const msgrec *r)
{
    const client *p = r->pub;
    for (size_t i = 0; i < p->pb->n_targets; i++) {
        const tstate *ts = &r->t[i];
        if (ts->n)
            continue;
        int cause;
        if (net->ending && !(ts->cause & HOP2))
            cause = MQ_LOSS_OF_DROP(MQ_DROP_IN_FLIGHT_AT_END);
        else if ((ts->cause & ~HOP2) == 0) {
            net->uncharged++;
            continue;
        } else
            cause = (ts->cause & ~HOP2) - 1;
        mq_metrics_lost(net->metrics, p->cfg->qos, p->pb->targets[i].sub_qos, cause);
    }
}

static void tag_unref(void *t)
{
    msgrec *r = t;
    if (--r->refs == 0) {
        mq_net *net = r->pub->cli.net;
        if (!net->freeing)
            charge(net, r);
        net->live--;
        mq_pool *pool = block_pool(net, msgrec_bytes(r->pub));
        if (pool)
            mq_pool_put(pool, r);
        else
            free(r);
    }
}

static const mq_tag_ops tag_ops = {tag_ref, tag_unref};

/* A message record's size, which its publisher's targets fix. */
static size_t msgrec_bytes(const client *pub)
{
    size_t n = offsetof(msgrec, t) + pub->pb->n_targets * sizeof(tstate);
    return n > sizeof(msgrec) ? n : sizeof(msgrec);
}

static uint64_t tag_id(const msgrec *r)
{
    return r ? r->id : 0;
}

static msgrec *tag_of(const mq_msg *m)
{
    return m ? m->tag : NULL;
}

/* The ordinal of subscriber sub among publisher p's targets, or -1: a
 * binary search, O(log targets). */
static int32_t find_target(const client *p, int sub)
{
    size_t lo = 0, hi = p->pb->n_targets;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->pb->targets[mid].sub < sub)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < p->pb->n_targets && p->pb->targets[lo].sub == sub ? (int32_t)lo : -1;
}

/* Notes a final event for message r seen by client who: on the publisher's
 * hop (who is r's publisher) for every target without a cause from its own
 * hop; on a subscriber's hop for that subscriber alone. O(targets) on the
 * publisher's hop, O(1) on a subscriber's. */
static void note_cause(client *who, msgrec *r, int cause)
{
    if (!r)
        return;
    client *p = r->pub;
    uint8_t code = (uint8_t)(1 + cause);
    if (who == p) {
        for (size_t i = 0; i < p->pb->n_targets; i++)
            if (!(r->t[i].cause & HOP2))
                r->t[i].cause = code;
        return;
    }
    int32_t ord = find_target(p, who->idx);
    if (ord >= 0)
        r->t[ord].cause = HOP2 | code;
}

/* ---- session callbacks (both ends, both transports) --------------------- */

/* Makes a subscriber's identifier table cover id: it grows to the next power
 * of two, so it holds as many entries as the identifiers its broker-side
 * session has used (they rotate upwards from 1), at most 65536. */
static int grow_grp(client *c, uint16_t id)
{
    uint32_t n = c->n_grp ? c->n_grp : 16;
    while (n <= id)
        n *= 2;
    uint8_t *v = realloc(c->grp, n);
    if (!v)
        return -1;
    memset(v + c->n_grp, 0, n - c->n_grp);
    c->grp = v;
    c->n_grp = n;
    return 0;
}

/* Charges a packet to the (pub QoS, sub QoS) groups it serves. On a
 * publisher's hop all of the publisher's messages have the same targets, so a
 * packet is shared among their groups in proportion; on a subscriber's hop a
 * packet belongs to one flow, whose group a PUBLISH carries (through its
 * message's tag) and its acknowledgements inherit through the packet
 * identifier. */
static void wire_attribute(mq_net *net, client *c, const mq_view *v, mq_msg *m, size_t len,
                           bool resend)
{
    if (v->type < MQ_PUBLISH || v->type > MQ_PUBCOMP)
        return; /* connection control belongs to no group */
    if (c->cfg->publisher) {
        for (uint8_t s = 0; s < 3; s++)
            if (c->pb->per_group[s])
                mq_metrics_wire_group(net->metrics, c->cfg->qos, s,
                                      (double)c->pb->per_group[s] / (double)c->pb->n_targets,
                                      len, resend);
        return;
    }
    uint8_t code = 0;
    if (v->type == MQ_PUBLISH) {
        const msgrec *r = tag_of(m);
        if (!r)
            return;
        int32_t ord = find_target(r->pub, c->idx);
        if (ord < 0)
            return;
        code = (uint8_t)(1 + 3 * r->pub->cfg->qos + r->pub->pb->targets[ord].sub_qos);
        if (v->qos > 0) {
            if (v->id >= c->n_grp && grow_grp(c, v->id) != 0) {
                fail_oom(net);
                return;
            }
            c->grp[v->id] = code;
        }
    } else if (v->id < c->n_grp) {
        code = c->grp[v->id];
    }
    if (code)
        mq_metrics_wire_group(net->metrics, (uint8_t)((code - 1) / 3), (uint8_t)((code - 1) % 3),
                              1.0, len, resend);
}

static mq_packet packet_of(const mq_view *v)
{
    mq_packet p;
    memset(&p, 0, sizeof p);
    p.type = v->type;
    p.qos = v->qos;
    p.dup = v->dup;
    p.retain = v->retain;
    p.id = v->id;
    p.reason = v->reason;
    p.session_present = v->session_present;
    return p;
}

/* The trace hook takes the codec's packet struct; only traces pay for it. */
static void hook_packet(mq_net *net, int64_t now, endpoint *e, const mq_view *v, msgrec *r,
                        bool lost)
{
    mq_packet p = packet_of(v);
    net->hooks.packet(net->hooks.ctx, now, e->c->idx, !e->broker_side, &p, tag_id(r), lost);
}

static void set_unsure(mq_net *net, client *c, bool unsure)
{
    if (!unsure)
        c->gone_cause = -1; /* its subscriptions are in place again */
    if (!c->is_sub || c->unsure == unsure)
        return;
    c->unsure = unsure;
    if (unsure)
        net->n_unsure++;
    else
        net->n_unsure--;
}

static const transport_ops datagram, stream;

/* How endpoint e's bytes travel: its client's transport. */
static const transport_ops *transport_of(const endpoint *e)
{
    return e->c->stream ? &stream : &datagram;
}

static void on_send(void *ctx, const uint8_t *buf, size_t len, uint64_t zeros, const mq_view *v,
                    mq_msg *m, bool resend)
{
    endpoint *e = ctx;
    mq_net *net = e->net;
    msgrec *r = tag_of(m);
    size_t wire = len + zeros;
    mq_metrics_wire(net->metrics, v->type, v->qos, wire, resend);
    wire_attribute(net, e->c, v, m, wire, resend);
    int64_t now = sim_sched_now(net->sched);
    net->st.t_last = now;
    /* A SUBACK leaves the broker once the subscription is in place. */
    if (e->broker_side && v->type == MQ_SUBACK) {
        e->c->subs_ok = true;
        set_unsure(net, e->c, false);
    }
    int rc = transport_of(e)->send(e, buf, len, zeros, v, r);
    if (rc < 0) {
        /* Out of memory (or too much held, -3: failed already): the run
         * cannot be told honestly, so it fails. */
        fail(net, rc == -1 ? "out of memory" : "a packet was sent on a connection that is gone");
        return;
    }
    if (net->has_hooks && net->hooks.packet)
        hook_packet(net, now, e, v, r, rc == 0);
    if (net->has_hooks && net->hooks.frame && !e->c->stream)
        net->hooks.frame(net->hooks.ctx, now, e->c->idx, !e->broker_side, buf, len, zeros,
                         rc == 0);
    if (rc == 2 && net->has_hooks && net->hooks.received) {
        /* Written into a connection whose far end reads no more. */
        mq_packet p = packet_of(v);
        net->hooks.received(net->hooks.ctx, now, e->c->idx, !e->broker_side, &p, tag_id(r), true);
    }
    if (rc == 0) {
        mq_metrics_link_loss(net->metrics, v->type);
        if (v->type == MQ_PUBLISH && v->qos == 0)
            note_cause(e->c, r, MQ_LOSS_LINK); /* nobody sends it again */
    }
}

static void timer_fire(sim_sched *s, void *ctx)
{
    endpoint *e = ctx;
    int64_t now = sim_sched_now(s);
    e->ev = 0;
    if (e->want_at == MQ_NEVER)
        return;
    if (now < e->want_at) {
        /* Fired for an earlier deadline that has since moved later. */
        e->deferred = false;
        e->ev_at = e->want_at;
        e->ev = sim_sched_at(s, e->want_at, timer_fire, e);
        if (!e->ev)
            fail_oom(e->net);
        return;
    }
    if (!e->deferred) {
        /* An acknowledgement arriving at the very instant of the deadline is
         * taken first: the timer goes once more behind every event already
         * queued for now. Without this rule the tie would be settled by
         * insertion order, i.e. by the timer's history, and two identical
         * situations could end differently. */
        e->deferred = true;
        e->ev_at = now;
        e->ev = sim_sched_at(s, now, timer_fire, e);
        if (!e->ev)
            fail_oom(e->net);
        return;
    }
    e->deferred = false;
    if (e->broker_side)
        mq_broker_conn_timer(e->net->broker, e->s, now);
    else
        mq_session_on_timer(e->s, now);
}

/* The engine's single timer per endpoint. Moving a deadline later leaves the
 * pending event in place (it re-arms itself when it fires early), so the
 * common case, an ack pushing the deadline back, costs nothing here. */
static void on_timer(void *ctx, int64_t at)
{
    endpoint *e = ctx;
    e->want_at = at;
    if (at == MQ_NEVER)
        return;
    if (e->ev && e->ev_at <= at)
        return;
    if (e->ev)
        sim_sched_cancel(e->net->sched, e->ev);
    e->deferred = false;
    int64_t now = sim_sched_now(e->net->sched);
    e->ev_at = at < now ? now : at;
    e->ev = sim_sched_at(e->net->sched, e->ev_at, timer_fire, e);
    if (!e->ev)
        fail_oom(e->net); /* a timer lost would change the run silently */
}

/* Forgets an endpoint's timer (its context is gone). */
static void timer_forget(endpoint *e)
{
    if (e->ev)
        sim_sched_cancel(e->net->sched, e->ev);
    e->ev = 0;
    e->want_at = MQ_NEVER;
    e->deferred = false;
}

/* The reason a loss on client c's hop is charged to: between a crash or a
 * broker restart and c's next CONNACK, what its disconnection costs
 * (disconnected, session_lost) is that fault's. */
static mq_drop_reason fault_reason(const client *c, mq_drop_reason why)
{
    if (c->fault_cause >= 0 && (why == MQ_DROP_DISCONNECTED || why == MQ_DROP_SESSION_LOST))
        return (mq_drop_reason)c->fault_cause;
    return why;
}

static void report_drop(mq_net *net, endpoint *e, mq_msg *m, mq_drop_reason why)
{
    why = fault_reason(e->c, why);
    mq_metrics_drop(net->metrics, why);
    note_cause(e->c, tag_of(m), MQ_LOSS_OF_DROP(why));
    if (net->has_hooks && net->hooks.drop)
        net->hooks.drop(net->hooks.ctx, sim_sched_now(net->sched), e->c->idx, e->broker_side,
                        tag_id(tag_of(m)), why);
}

static void on_drop(void *ctx, mq_msg *m, uint8_t qos, mq_drop_reason why)
{
    endpoint *e = ctx;
    (void)qos;
    report_drop(e->net, e, m, why);
}

/* The broker's sessions report drops with their user pointer: the broker
 * end (datagram) or the broker-side identity (stream) of the client whose
 * session it is. */
static void broker_drop(void *ctx, void *user, mq_msg *m, uint8_t qos, mq_drop_reason why)
{
    (void)qos;
    report_drop(ctx, user, m, why);
}

/* A CONNECT bound a context to a session: the session's index names its
 * client in routing checks; a session without its subscriptions (a new
 * one) makes the routing of its client's messages worth checking until the
 * SUBACK. Every session of a client reports drops as the client's. */
static void *broker_bind(void *ctx, void *conn_ctx, int sess, const char *id, size_t len,
                         bool present)
{
    mq_net *net = ctx;
    endpoint *e = conn_ctx;
    client *c = e->c;
    (void)id;
    (void)len;
    if ((size_t)sess >= net->cap_sess) {
        size_t cap = net->cap_sess ? net->cap_sess : 16;
        while (cap <= (size_t)sess)
            cap *= 2;
        client **v = realloc(net->sess_client, cap * sizeof *v);
        if (!v) {
            fail_oom(net);
            return &c->brk;
        }
        memset(v + net->cap_sess, 0, (cap - net->cap_sess) * sizeof *v);
        net->sess_client = v;
        net->cap_sess = cap;
    }
    net->sess_client[sess] = c;
    c->sess = sess;
    /* A resumed session has its subscriptions only if they were made in it:
     * a client that crashed before its SUBSCRIBE went through resumes a
     * session without them, and a broker restored from an older save may
     * have lost them (broker_down_fire). */
    if (!present)
        c->subs_ok = false;
    set_unsure(net, c, !c->subs_ok);
    return &c->brk;
}

/* The broker is routing m: while some subscriber may lack its session or
 * subscription, the targets it does not reach are charged to session_lost
 * (on their own hop). Cost: nothing while every subscriber is known to be
 * in place; otherwise one route lookup, O(topic levels + routes + targets). */
static void broker_routed(void *ctx, mq_msg *m, uint8_t qos)
{
    mq_net *net = ctx;
    msgrec *r = tag_of(m);
    if (!r || net->n_unsure == 0)
        return;
    size_t n = mq_broker_route(net->broker, m->topic, m->topic_len, qos, net->routes,
                               net->cap_routes);
    if (n > net->cap_routes) {
        mq_route *v = realloc(net->routes, n * sizeof *v);
        if (!v) {
            fail_oom(net);
            return;
        }
        net->routes = v;
        net->cap_routes = n;
        n = mq_broker_route(net->broker, m->topic, m->topic_len, qos, net->routes, n);
    }
    uint32_t epoch = ++net->epoch;
    for (size_t i = 0; i < n; i++) {
        size_t sess = (size_t)net->routes[i].client;
        if (sess < net->cap_sess && net->sess_client[sess])
            net->sess_client[sess]->stamp = epoch;
    }
    client *p = r->pub;
    for (size_t i = 0; i < p->pb->n_targets; i++) {
        client *t = &net->clients[p->pb->targets[i].sub];
        if (t->stamp != epoch)
            r->t[i].cause = HOP2 | (uint8_t)(1 + MQ_LOSS_OF_DROP(
                                t->gone_cause >= 0 ? (mq_drop_reason)t->gone_cause
                                                   : MQ_DROP_SESSION_LOST));
    }
}

static void broker_timer_fire(sim_sched *s, void *ctx)
{
    mq_net *net = ctx;
    net->broker_ev = 0;
    net->broker_at = MQ_NEVER;
    mq_broker_on_timer(net->broker, sim_sched_now(s));
}

static void broker_timer(void *ctx, int64_t at)
{
    mq_net *net = ctx;
    if (net->broker_ev)
        sim_sched_cancel(net->sched, net->broker_ev);
    net->broker_ev = 0;
    net->broker_at = at;
    if (at != MQ_NEVER) {
        int64_t now = sim_sched_now(net->sched);
        net->broker_ev = sim_sched_at(net->sched, at < now ? now : at, broker_timer_fire, net);
        if (!net->broker_ev)
            fail_oom(net);
    }
}

static void on_event(void *ctx, mq_event ev, const mq_view *v)
{
    endpoint *e = ctx;
    (void)v;
    mq_metrics_event(e->net->metrics, ev);
    if (ev == MQ_EV_NOMEM)
        fail_oom(e->net);
    /* A QoS 2 PUBLISH taken for a duplicate: if it was a new message (its
     * identifier held for a stale copy), that is its end on this hop. On a
     * datagram link reordering brings stale copies; on a stream only a
     * sender that crashed and forgot the identifiers its peer still held
     * reuses one too early, and the loss is that crash's, or a broker
     * restored from an older save, which forgot identifiers and took up
     * its identifier rotation where the save had it, and the loss is that
     * restart's. */
    if (ev == MQ_EV_QOS2_DUP_SUPPRESSED && e->rx_tag)
        note_cause(e->c, e->rx_tag,
                   e->c->forgot ? MQ_LOSS_OF_DROP(MQ_DROP_CLIENT_CRASH)
                   : e->sc && e->net->restored ? MQ_LOSS_OF_DROP(MQ_DROP_BROKER_RESTART)
                                               : MQ_LOSS_SUPPRESSED);
}

static void start_publishing(mq_net *net);

static void client_ready(endpoint *e)
{
    if (e->c->ready)
        return;
    e->c->ready = true;
    if (++e->net->n_ready == e->net->n)
        start_publishing(e->net);
}

static void hook_conn(mq_net *net, client *c, const sconn *sc, bool broker_side,
                      mq_net_conn_event ev, int detail)
{
    if (c->stream && net->has_hooks && net->hooks.conn)
        net->hooks.conn(net->hooks.ctx, sim_sched_now(net->sched), c->idx, sc ? sc->id : 0,
                        broker_side, ev, detail);
}

/* The client's MQTT connection went down (its engine closed it or was told). */
static void mqtt_down(client *c, int64_t now)
{
    if (!c->mqtt_up)
        return;
    c->mqtt_up = false;
    c->down_since = now;
}

static void on_connected(void *ctx, bool present)
{
    endpoint *e = ctx;
    client *c = e->c;
    const mq_net_client *cc = c->cfg;
    int64_t now = sim_sched_now(e->net->sched);
    c->cs->connects++;
    if (c->ever_up && !c->mqtt_up)
        c->cs->disconnected_ns += now - c->down_since;
    c->mqtt_up = c->ever_up = true;
    if (c->fault_at >= 0) {
        int64_t d = now - c->fault_at;
        c->cs->reconnects++;
        c->cs->reconnect_ns += d;
        if (d > c->cs->reconnect_max_ns)
            c->cs->reconnect_max_ns = d;
        c->fault_at = -1;
    }
    c->fault_cause = -1;
    hook_conn(e->net, c, c->cur, false, MQ_NET_CONNECTED, present);
    if (cc->publisher || cc->n_subs == 0) {
        client_ready(e);
        return;
    }
    /* Once: the engine re-sends the list itself when a session is new. After
     * a crash (which forgot the list) the application subscribes again at
     * the first CONNACK that says its session is new. */
    if (c->sub_sent || (present && c->ready))
        return;
    c->sub_sent = true;
    mq_sub *store;
    const mq_sub *subs = subs_of(c, &store);
    int rc = subs ? mq_session_subscribe(e->s, now, subs, cc->n_subs) : MQ_ERR_NOMEM;
    free(store);
    if (rc != 0) {
        char why[200], nb[128];
        snprintf(why, sizeof why, "%s could not subscribe (error %d)", name_of(c, nb, sizeof nb),
                 rc);
        fail(e->net, why);
    }
}

static void on_subscribed(void *ctx, const uint8_t *codes, size_t n)
{
    endpoint *e = ctx;
    for (size_t i = 0; i < n; i++)
        if (codes[i] & 0x80) {
            char why[200], nb[128];
            snprintf(why, sizeof why, "the broker refused subscription %zu of %s (code 0x%02x)",
                     i, name_of(e->c, nb, sizeof nb), codes[i]);
            fail(e->net, why);
        }
    client_ready(e);
}

/* A subscriber's application receives a message: credited to the group of
 * its tag's publisher and this subscriber, after checking that the QoS the
 * PUBLISH carried is that group's (a routing or downgrade bug would show
 * here, rather than be credited to the wrong row). */
static void on_deliver(void *ctx, int64_t now, mq_msg *m, const mq_view *v)
{
    endpoint *e = ctx;
    mq_net *net = e->net;
    msgrec *r = tag_of(m);
    if (!r) {
        fail(net, "a delivery without its measurement tag");
        return;
    }
    int32_t ord = find_target(r->pub, e->c->idx);
    if (ord < 0) {
        char why[200], nb[128];
        snprintf(why, sizeof why, "%s got message %llu, which no subscription of its matches",
                 name_of(e->c, nb, sizeof nb), (unsigned long long)r->id);
        fail(net, why);
        return;
    }
    target *t = &r->pub->pb->targets[ord];
    uint8_t p = r->pub->cfg->qos, s = t->sub_qos;
    if (v->qos != (p < s ? p : s)) {
        char why[200], nb[128];
        snprintf(why, sizeof why, "%s got message %llu at QoS %u, not min(%u, %u)",
                 name_of(e->c, nb, sizeof nb), (unsigned long long)r->id, v->qos, p, s);
        fail(net, why);
        return;
    }
    bool first = r->t[ord].n == 0;
    if (r->t[ord].n < UINT16_MAX)
        r->t[ord].n++;
    if (first) {
        /* MQTT 4.6: messages of one topic arrive in the order published. */
        if (r->seq < t->max_seq)
            mq_metrics_out_of_order(net->metrics, p, s);
        else
            t->max_seq = r->seq;
    }
    mq_metrics_delivery(net->metrics, p, s, first, now - r->t_pub);
    if (net->has_hooks && net->hooks.deliver)
        net->hooks.deliver(net->hooks.ctx, now, e->c->idx, r->id, v->qos, first);
}

static void report_progress(mq_net *net, int64_t now)
{
    /* Progress is reported from the delivery path, not from events of its
     * own, so watching a run cannot change its event count. */
    if (net->has_hooks && net->hooks.progress && (++net->arrivals & 0xffff) == 0)
        net->hooks.progress(net->hooks.ctx, now, net->publishing ? net->st.t_ready : -1,
                            net->cfg.duration);
}

/* ---- the datagram transport: one frame per packet on a link ------------- */

static mq_pool *frame_pool(mq_net *net, uint32_t len)
{
    return block_pool(net, sizeof(frame) + len);
}

static void frame_free(mq_net *net, frame *f)
{
    if (f->tag)
        tag_unref(f->tag);
    mq_pool *p = frame_pool(net, f->len);
    if (p)
        mq_pool_put(p, f);
    else
        free(f);
}

static void release_frame(void *ctx, void *fr)
{
    frame_free(ctx, fr);
}

/* The most datagram frames, and bytes of theirs, a run may hold in transit
 * at once, all links together (a frame costs about 210 bytes with its
 * scheduler event, so some 450 MB; or 256 MB of packets, such as 1 MB
 * SUBSCRIBEs queued on a slow link): past either the offered load outruns
 * the links, most often a timer retry interval far below the round trip
 * (every resend is one more frame held for the whole delay), and memory
 * would grow without bound. The run fails. */
#define MAX_HELD_FRAMES (1u << 21)
#define MAX_HELD_BYTES (1u << 28)

static int dg_send(endpoint *e, const uint8_t *buf, size_t len, uint64_t zeros, const mq_view *v,
                   msgrec *tag)
{
    (void)v;
    mq_net *net = e->net;
    if (net->held_frames >= MAX_HELD_FRAMES || net->held_bytes + len > MAX_HELD_BYTES) {
        if (!net->failed) {
            char why[300];
            snprintf(why, sizeof why,
                     "%llu frames (%llu bytes) held on the links at once at t = %.6f s, the "
                     "most a run may hold (2^21 frames, 2^28 bytes): the offered load outruns "
                     "the links (a retry interval far below the round trip, or a link too slow "
                     "for its load)", (unsigned long long)net->held_frames,
                     (unsigned long long)net->held_bytes, sim_to_s(sim_sched_now(net->sched)));
            fail(net, why);
        }
        return -3;
    }
    mq_pool *p = len <= UINT32_MAX ? frame_pool(net, (uint32_t)len) : NULL;
    frame *f = p ? mq_pool_get(p) : malloc(sizeof *f + len);
    if (!f)
        return -1;
    f->tag = tag;
    f->len = (uint32_t)len;
    f->zeros = zeros;
    memcpy(f->bytes, buf, len);
    if (tag)
        tag_ref(tag);
    int rc = sim_link_send(e->broker_side ? e->c->down : e->c->up, f, len + zeros);
    if (rc <= 0) {
        frame_free(net, f);
    } else {
        net->held_frames++;
        net->held_bytes += len;
    }
    return rc;
}

static const transport_ops datagram = {dg_send};

static void on_arrive(void *ctx, void *fr, size_t bytes)
{
    endpoint *e = ctx;
    frame *f = fr;
    (void)bytes;
    mq_net *net = e->net;
    int64_t now = sim_sched_now(net->sched);
    net->st.t_last = now;
    net->held_frames--;
    net->held_bytes -= f->len;
    e->rx_tag = f->tag;
    if (e->broker_side)
        mq_broker_conn_frame(net->broker, e->s, now, f->bytes, f->len, f->zeros);
    else
        mq_session_on_frame(e->s, now, f->bytes, f->len, f->zeros);
    e->rx_tag = NULL;
    frame_free(net, f);
    report_progress(net, now);
}

/* ---- the stream transport: the engine over sim_tcp ----------------------- */

/* Connection ends, the engine's closes and the transport's downs, as one
 * cause per connection. */
static mq_conn_close close_cause(mq_close_cause why)
{
    switch (why) {
    case MQ_CLOSE_PROTOCOL_ERROR: return MQ_CC_PROTOCOL_ERROR;
    case MQ_CLOSE_KEEPALIVE: return MQ_CC_KEEPALIVE;
    case MQ_CLOSE_CONNECT_TIMEOUT: return MQ_CC_CONNECT_TIMEOUT;
    case MQ_CLOSE_CLIENT_DISCONNECT: return MQ_CC_CLIENT_DISCONNECT;
    case MQ_CLOSE_TAKEOVER: return MQ_CC_TAKEOVER;
    case MQ_CLOSE_REFUSED: return MQ_CC_REFUSED;
    case MQ_CLOSE_BROKER_RESTART: return MQ_CC_BROKER_RESTART;
    default: return MQ_CC_SERVER_DISCONNECT;
    }
}

static mq_conn_close down_cause(mq_down_cause why)
{
    switch (why) {
    case MQ_DOWN_FIN: return MQ_CC_PEER_CLOSED;
    case MQ_DOWN_RST: return MQ_CC_RESET;
    case MQ_DOWN_ABORT: return MQ_CC_TCP_ABORT;
    case MQ_DOWN_REFUSED: return MQ_CC_REFUSED;
    default: return MQ_CC_SYN_TIMEOUT;
    }
}

static void count_close(sconn *sc, mq_conn_close cause)
{
    if (sc->closed)
        return;
    sc->closed = true;
    sc->c->cs->closes[cause]++;
}

/* The tag of the PUBLISH whose first byte is at offset off of direction d:
 * entries before it have been handed in whole and go. O(1) amortised. */
static void *fifo_tag(sconn *sc, int d, uint64_t off)
{
    while (tq_front(sc, d) && tq_front_end(sc, d) <= off) {
        tag_unref(tq_front(sc, d)->tag);
        tq_pop(sc, d);
    }
    if (tq_front(sc, d) && sc->qoff[d] == off)
        return tq_front(sc, d)->tag;
    return NULL;
}

/* The frame's tag (datagram) or the FIFO's (stream) is what the engine gets
 * for the PUBLISH it decodes. */
static void *io_tag(void *ctx, uint64_t rx_offset)
{
    endpoint *e = ctx;
    if (!e->sc)
        return e->rx_tag;
    /* Kept while its FIFO entry is (stream_bytes, release_dir), for the
     * event its decoding may cause. */
    return e->rx_tag = fifo_tag(e->sc, e->broker_side ? 0 : 1, rx_offset);
}

/* Traces: the packets of direction d that end at or before offset `to`
 * have been handed in whole (lost: the direction ended first). */
static void trace_received(mq_net *net, sconn *sc, int d, uint64_t to, bool lost)
{
    ring *q = &sc->pq[d];
    int64_t now = sim_sched_now(net->sched);
    while (q->n) {
        pktpos *pp = ring_at(q, 0);
        if (!lost && pp->end > to)
            break;
        mq_packet p = packet_of(&pp->v);
        net->hooks.received(net->hooks.ctx, now, sc->c->idx, d == 0, &p, pp->msg, lost);
        ring_pop(q);
    }
}

/* Direction d's reader stopped reading: what its FIFO still holds was never
 * delivered on this connection. A QoS 0 PUBLISH among it is lost for good
 * (disconnected; in_flight_at_end when the run is over); a QoS 1 or 2 one
 * is still held by its sender's session. O(entries). */
static void release_dir(mq_net *net, sconn *sc, int d)
{
    if (sc->released[d])
        return;
    sc->released[d] = true;
    if (d == 0)
        sc->brk.rx_tag = NULL;
    else
        sc->c->cli.rx_tag = NULL;
    for (tagpos *tp; (tp = tq_front(sc, d));) {
        if (tagpos_qos(tp) == 0)
            note_cause(sc->c, tp->tag,
                       MQ_LOSS_OF_DROP(net->ending ? MQ_DROP_IN_FLIGHT_AT_END
                                                   : fault_reason(sc->c, MQ_DROP_DISCONNECTED)));
        tag_unref(tp->tag);
        tq_pop(sc, d);
    }
    if (net->has_hooks && net->hooks.received)
        trace_received(net, sc, d, 0, true);
}

/* Frees sc once nothing refers to it: neither end is ours, the broker has
 * no context on it, the client has moved on, and no handshake can still
 * reach the server (a client end that was established may have left its
 * final ACK on the way: such a connection waits for the end of the run). */
static void sconn_maybe_free(mq_net *net, sconn *sc)
{
    client *c = sc->c;
    if (sc->busy || sc->ce || sc->se || sc->brk.s || c->cur == sc ||
        (sc->ce_established && !sc->se_seen) || net->freeing)
        return;
    release_dir(net, sc, 0);
    release_dir(net, sc, 1);
    sconn **pp = &c->conns;
    while (*pp != sc)
        pp = &(*pp)->next;
    *pp = sc->next;
    for (int d = 0; d < 2; d++) {
        sim_fifo_free(&sc->q[d]);
        ring_free(&sc->pq[d]);
    }
    free(sc);
}

static void check_path(mq_net *net, client *c)
{
    if (sim_tcp_path_failed(c->path))
        fail(net, "out of memory in the TCP model");
}

static int st_send(endpoint *e, const uint8_t *buf, size_t len, uint64_t zeros, const mq_view *v,
                   msgrec *tag)
{
    sconn *sc = e->sc;
    int d = e->broker_side ? 1 : 0;
    sim_tcp_end *te = sc ? (d ? sc->se : sc->ce) : NULL;
    if (!te)
        return -2;
    mq_net *net = e->net;
    /* The far end no longer reads (it closed, or is gone): the bytes still
     * go out, as from a real socket, but reach no one. */
    bool unread = sc->released[d];
    if (unread) {
        if (tag && v->qos == 0)
            note_cause(sc->c, tag, MQ_LOSS_OF_DROP(fault_reason(sc->c, MQ_DROP_DISCONNECTED)));
    } else {
        if (tag) {
            assert(len + zeros <= UINT32_MAX); /* a PUBLISH is at most 256 MB */
            if (tq_push(sc, d, sc->tx[d], tag, (uint32_t)(len + zeros), v->qos))
                return -1;
            tag_ref(tag);
        }
        if (net->has_hooks && net->hooks.received) {
            pktpos pp = {sc->tx[d] + len + zeros, *v, tag_id(tag)};
            if (ring_push(&sc->pq[d], &pp, sizeof pp))
                return -1;
        }
    }
    sc->tx[d] += len + zeros;
    int rc = sim_tcp_write_with_zeros(te, buf, len, zeros);
    if (rc == SIM_TCP_ENOMEM || sim_tcp_path_failed(e->c->path))
        return -1;
    if (rc != 0)
        return -2;
    return unread ? 2 : 1;
}

static const transport_ops stream = {st_send};

/* Bytes arrived in order at one end of sc (d: their direction), handed to
 * its engine. */
static void stream_bytes(mq_net *net, sconn *sc, int d, const uint8_t *data, size_t len)
{
    int64_t now = sim_sched_now(net->sched);
    net->st.t_last = now;
    uint64_t to = sc->rx[d] + len;
    /* Traces show a packet decoded as its last byte is handed in, before
     * what its decoding causes. */
    if (net->has_hooks && net->hooks.received)
        trace_received(net, sc, d, to, false);
    endpoint *e = d == 1 ? &sc->c->cli : &sc->brk;
    if (d == 1)
        mq_session_on_bytes(sc->c->cli.s, now, data, len);
    else
        mq_broker_conn_bytes(net->broker, sc->brk.s, now, data, len);
    sc->rx[d] = to;
    /* What was handed in whole needs no tag any more. */
    if (!sc->released[d]) {
        while (tq_front(sc, d) && tq_front_end(sc, d) <= to) {
            if (tq_front(sc, d)->tag == e->rx_tag)
                e->rx_tag = NULL;
            tag_unref(tq_front(sc, d)->tag);
            tq_pop(sc, d);
        }
    }
    report_progress(net, now);
}

/* The client's end of sc is gone or closed by us: the client reads no more. */
static void detach_client_end(mq_net *net, sconn *sc)
{
    sc->ce = NULL;
    release_dir(net, sc, 1);
}

static void detach_server_end(mq_net *net, sconn *sc)
{
    sc->se = NULL;
    release_dir(net, sc, 0);
}

/* The broker lets go of the context on sc (after its close or its down). */
static void forget_context(mq_net *net, sconn *sc)
{
    timer_forget(&sc->brk);
    sc->brk.s = NULL;
    set_unsure(net, sc->c, true);
}

/* The client's transport went down under its engine (sc is its current
 * connection): counted, and the engine is told. */
static void client_down(mq_net *net, sconn *sc, mq_down_cause why)
{
    client *c = sc->c;
    int64_t now = sim_sched_now(net->sched);
    count_close(sc, down_cause(why));
    if (c->cur != sc)
        return;
    mqtt_down(c, now);
    c->cur = NULL;
    c->cli.sc = NULL;
    hook_conn(net, c, sc, false, MQ_NET_DOWN, down_cause(why));
    mq_session_on_down(c->cli.s, now, why);
}

static void cli_event(void *ctx, sim_tcp_end *e, sim_tcp_event ev)
{
    sconn *sc = ctx;
    client *c = sc->c;
    mq_net *net = c->cli.net;
    sc->busy++;
    switch (ev) {
    case SIM_TCP_EV_ESTABLISHED:
        sc->ce_established = true;
        hook_conn(net, c, sc, false, MQ_NET_ESTABLISHED, 0);
        if (c->cur == sc)
            mq_session_on_up(c->cli.s, sim_sched_now(net->sched));
        break;
    case SIM_TCP_EV_PEER_CLOSED:
        client_down(net, sc, MQ_DOWN_FIN);
        if (sc->ce == e) {
            sim_tcp_close(e); /* the application closes its socket */
            detach_client_end(net, sc);
        }
        break;
    default: {
        mq_down_cause why = ev == SIM_TCP_EV_RESET     ? MQ_DOWN_RST
                            : ev == SIM_TCP_EV_ABORTED ? MQ_DOWN_ABORT
                            : ev == SIM_TCP_EV_REFUSED ? MQ_DOWN_REFUSED
                                                       : MQ_DOWN_TIMEOUT;
        detach_client_end(net, sc); /* the end is gone */
        client_down(net, sc, why);
        break;
    }
    }
    check_path(net, c);
    sc->busy--;
    sconn_maybe_free(net, sc);
}

/* In-order bytes of direction d arrived at sc's reading end. */
static void stream_data(sconn *sc, int d, const uint8_t *data, size_t len)
{
    mq_net *net = sc->c->cli.net;
    /* Cannot happen: a connection the client left, or whose context the
     * broker let go, was closed then, and a closed end reads no more. */
    if (d == 1 ? sc->c->cur != sc : !sc->brk.s)
        return;
    sc->busy++;
    stream_bytes(net, sc, d, data, len);
    check_path(net, sc->c);
    sc->busy--;
    sconn_maybe_free(net, sc);
}

static void cli_data(void *ctx, sim_tcp_end *e, const uint8_t *data, size_t len)
{
    (void)e;
    stream_data(ctx, 1, data, len);
}

/* The broker's end of sc went down under its context. */
static void server_down(mq_net *net, sconn *sc, mq_down_cause why)
{
    count_close(sc, down_cause(why));
    mq_session *s = sc->brk.s;
    if (!s)
        return;
    forget_context(net, sc);
    hook_conn(net, sc->c, sc, true, MQ_NET_DOWN, down_cause(why));
    mq_broker_conn_down(net->broker, s, sim_sched_now(net->sched), why);
}

static void srv_event(void *ctx, sim_tcp_end *e, sim_tcp_event ev)
{
    sconn *sc = ctx;
    mq_net *net = sc->c->cli.net;
    sc->busy++;
    if (ev == SIM_TCP_EV_PEER_CLOSED) {
        server_down(net, sc, MQ_DOWN_FIN);
        if (sc->se == e) {
            sim_tcp_close(e);
            detach_server_end(net, sc);
        }
    } else {
        detach_server_end(net, sc);
        server_down(net, sc, ev == SIM_TCP_EV_RESET ? MQ_DOWN_RST : MQ_DOWN_ABORT);
    }
    check_path(net, sc->c);
    sc->busy--;
    sconn_maybe_free(net, sc);
}

static void srv_data(void *ctx, sim_tcp_end *e, const uint8_t *data, size_t len)
{
    (void)e;
    stream_data(ctx, 0, data, len);
}

static const sim_tcp_app cli_app = {cli_event, cli_data};
static const sim_tcp_app srv_app = {srv_event, srv_data};

/* The engine closes its end (stream). The bytes already written still
 * travel; the other end learns by the FIN. */
static void on_close(void *ctx, int64_t now, mq_close_cause why)
{
    endpoint *e = ctx;
    mq_net *net = e->net;
    sconn *sc = e->sc;
    if (!sc)
        return;
    count_close(sc, close_cause(why));
    hook_conn(net, e->c, sc, e->broker_side, MQ_NET_CLOSE, close_cause(why));
    if (e->broker_side) {
        forget_context(net, sc);
        if (sc->se) {
            sim_tcp_close(sc->se);
            detach_server_end(net, sc);
        }
    } else {
        client *c = e->c;
        mqtt_down(c, now);
        if (sc->ce) {
            sim_tcp_close(sc->ce);
            detach_client_end(net, sc);
        }
        if (c->cur == sc)
            c->cur = NULL;
        e->sc = NULL;
    }
    check_path(net, e->c);
    sconn_maybe_free(net, sc);
}

static const mq_session_io *endpoint_io(endpoint *e);

/* The client's engine asks for a connection: a new TCP connection on its
 * path, and the connection record that follows it. */
static void on_open(void *ctx, int64_t now)
{
    endpoint *e = ctx;
    mq_net *net = e->net;
    client *c = e->c;
    (void)now;
    sconn *sc = calloc(1, sizeof *sc);
    if (!sc) {
        fail_oom(net);
        return;
    }
    sc->c = c;
    for (int d = 0; d < 2; d++)
        sim_fifo_init(&sc->q[d], sizeof(tagpos), TAGS_MIN_SHIFT, TAGS_MAX_SHIFT);
    sc->brk = (endpoint){.net = net, .c = c, .broker_side = true, .sc = sc,
                         .want_at = MQ_NEVER};
    sconn **pp = &c->conns;
    while (*pp)
        pp = &(*pp)->next;
    *pp = sc;
    c->cur = sc;
    e->sc = sc;
    c->cs->opens++;
    sc->ce = sim_tcp_connect(c->path, &cli_app, sc);
    if (!sc->ce) {
        c->cur = NULL;
        e->sc = NULL;
        sconn_maybe_free(net, sc);
        fail_oom(net);
        return;
    }
    sc->id = sim_tcp_conn_id(sc->ce);
    hook_conn(net, c, sc, false, MQ_NET_OPEN, (int)sc->id);
    check_path(net, c);
}

/* The broker's listener on client c's path completed a handshake: a new
 * context for it. */
static void on_accept(void *ctx, sim_tcp_end *se)
{
    client *c = ctx;
    mq_net *net = c->cli.net;
    uint32_t id = sim_tcp_conn_id(se);
    sconn *sc = c->conns;
    while (sc && (sc->id != id || sc->se_seen))
        sc = sc->next;
    if (!sc) {
        sim_tcp_abort(se); /* cannot happen: the client end is kept until then */
        return;
    }
    sc->busy++;
    sc->se = se;
    sc->se_seen = true;
    sim_tcp_set_app(se, &srv_app, sc);
    sc->brk.s = mq_broker_accept_shared(net->broker, sim_sched_now(net->sched),
                                        MQ_TRANSPORT_STREAM, endpoint_io(&sc->brk), &sc->brk);
    if (!sc->brk.s) {
        fail_oom(net);
    } else {
        hook_conn(net, c, sc, true, MQ_NET_ACCEPTED, 0);
    }
    sc->busy--;
    sconn_maybe_free(net, sc);
}

static void on_segment(void *ctx, const sim_tcp_seg_info *seg)
{
    client *c = ctx;
    mq_net *net = c->cli.net;
    net->hooks.segment(net->hooks.ctx, c->idx, seg);
}

static double on_random(void *ctx)
{
    endpoint *e = ctx;
    return gsl_rng_uniform(e->c->rng_reconnect);
}

/* ---- faults ------------------------------------------------------------ */

static void hook_fault(mq_net *net, int client, uint32_t conn, mq_net_fault ev, int detail)
{
    if (net->has_hooks && net->hooks.fault)
        net->hooks.fault(net->hooks.ctx, sim_sched_now(net->sched), client, conn, ev, detail);
}

/* A fault hit client c: its time to reconnect runs from the first one since
 * its last CONNACK. */
static void fault_hit(client *c, int64_t now)
{
    if (c->fault_at < 0)
        c->fault_at = now;
}

/* An exponential time of mean `mean` ns from rng, in whole ns. */
static int64_t exp_ns(gsl_rng *rng, int64_t mean)
{
    return (int64_t)gsl_ran_exponential(rng, (double)mean);
}

static void reset_fire(sim_sched *s, void *ctx);
static void crash_fire(sim_sched *s, void *ctx);

/* The client's next reset after `now` (scheduled or random), if any. */
static void schedule_reset(mq_net *net, client *c, int64_t now)
{
    const mq_net_client *cc = c->cfg;
    int64_t at;
    if (!c->flt)
        return;
    if (cc->reset_mtbf > 0)
        at = now + exp_ns(c->flt->rng_resets, cc->reset_mtbf);
    else if (c->flt->next_reset < cc->n_resets)
        at = cc->resets[c->flt->next_reset++];
    else
        return;
    if (!sim_sched_at(net->sched, at < now ? now : at, reset_fire, c))
        fail_oom(net);
}

/* The client's next crash, from `now` (0, or its last restart). */
static void schedule_crash(mq_net *net, client *c, int64_t now)
{
    const mq_net_client *cc = c->cfg;
    int64_t at;
    if (!c->flt)
        return;
    if (cc->crash_mtbf > 0)
        at = now + exp_ns(c->flt->rng_crashes, cc->crash_mtbf);
    else if (c->flt->next_crash < cc->n_crashes)
        at = cc->crashes[c->flt->next_crash].start;
    else
        return;
    if (!sim_sched_at(net->sched, at < now ? now : at, crash_fire, c))
        fail_oom(net);
}

/*
 * A connection reset of client c's current connection (one whose handshake
 * both ends completed; otherwise there is nothing to reset and only the
 * trace shows it).
 *   rst: both ends are reset at this instant, as by a middlebox that sends
 *     each an RST: each TCP end is aborted (its RST goes on the wire, where
 *     captures show it, and meets an end that is already gone) and both
 *     engines are told MQ_DOWN_RST, the broker's first.
 *   silent: a NAT on the path forgets the connection's mapping
 *     (sim_tcp_nat_rebind). Neither end is told. The client's next segment
 *     (a PUBLISH, an acknowledgement, its PINGREQ at keepalive_s) reaches
 *     the broker's host as an unknown flow and is answered with RST: the
 *     client learns then (reset). The broker's segments go to the forgotten
 *     mapping and are dropped: its end stays half-open until its keepalive
 *     (1.5 x keepalive_s without input), a TCP abort of what it sends
 *     (retries2, user timeout), or the client's next CONNECT taking over.
 */
static void reset_fire(sim_sched *s, void *ctx)
{
    client *c = ctx;
    mq_net *net = c->cli.net;
    int64_t now = sim_sched_now(s);
    bool silent = c->cfg->reset_silent;
    c->cs->resets++;
    sconn *sc = c->cur;
    if (!sc || !sc->ce || !sc->se || !sc->brk.s) {
        hook_fault(net, c->idx, 0, MQ_NET_RESET, silent);
    } else {
        fault_hit(c, now);
        hook_fault(net, c->idx, sc->id, MQ_NET_RESET, silent);
        if (silent) {
            sim_tcp_nat_rebind(sc->ce);
        } else {
            sc->busy++;
            sim_tcp_abort(sc->se);
            detach_server_end(net, sc);
            server_down(net, sc, MQ_DOWN_RST);
            if (sc->ce) {
                sim_tcp_abort(sc->ce);
                detach_client_end(net, sc);
            }
            client_down(net, sc, MQ_DOWN_RST);
            sc->busy--;
        }
        check_path(net, c);
        sconn_maybe_free(net, sc);
    }
    schedule_reset(net, c, now);
}

static void restart_fire(sim_sched *s, void *ctx);
static void broker_down_fire(sim_sched *s, void *ctx);

/*
 * Client c's process dies. Its engine's session goes (mq_session_crash:
 * client_crash for every message it held), unless client_persistence keeps
 * it (mq_session_crash_keep). Its connection is closed as Linux closes a
 * dead process's sockets: close(2) on each, which sends what was written
 * and then FIN (Linux would send RST instead only for unread received
 * bytes, and the model's application reads every byte as it arrives). A
 * publisher publishes nothing while down. A crash while already down
 * (random crashes never overlap; scheduled ones are refused at load) only
 * moves the restart later.
 */
static void crash_fire(sim_sched *s, void *ctx)
{
    client *c = ctx;
    mq_net *net = c->cli.net;
    int64_t now = sim_sched_now(s);
    const mq_net_client *cc = c->cfg;
    int64_t down = cc->crash_mtbf > 0 ? cc->crash_down : cc->crashes[c->flt->next_crash++].len;
    if (c->crashed) {
        if (now + down > c->flt->up_at)
            c->flt->up_at = now + down;
        return;
    }
    c->crashed = true;
    c->flt->crash_since = now;
    c->flt->up_at = now + down;
    c->cs->crashes++;
    fault_hit(c, now);
    c->fault_cause = MQ_DROP_CLIENT_CRASH;
    if (c->is_sub)
        c->gone_cause = MQ_DROP_CLIENT_CRASH;
    sconn *sc = c->cur;
    hook_fault(net, c->idx, sc ? sc->id : 0, MQ_NET_CRASH, cc->client_persistence);
    mqtt_down(c, now);
    if (cc->client_persistence) {
        mq_session_crash_keep(c->cli.s, now);
    } else {
        mq_session_crash(c->cli.s, now);
        c->forgot = true;
    }
    c->sub_sent = false; /* the application forgot its subscriptions */
    if (sc) {
        sc->busy++;
        count_close(sc, MQ_CC_CLIENT_CRASH);
        c->cur = NULL;
        c->cli.sc = NULL;
        if (sc->ce) {
            sim_tcp_close(sc->ce);
            detach_client_end(net, sc);
        }
        check_path(net, c);
        sc->busy--;
        sconn_maybe_free(net, sc);
    }
    timer_forget(&c->cli);
    if (!sim_sched_at(net->sched, c->flt->up_at, restart_fire, c))
        fail_oom(net);
}

/* Client c's process runs again: it connects (clean_start as configured)
 * and, as after any CONNACK, a subscriber subscribes when its session is
 * new. */
static void restart_fire(sim_sched *s, void *ctx)
{
    client *c = ctx;
    mq_net *net = c->cli.net;
    int64_t now = sim_sched_now(s);
    if (!c->crashed || now < c->flt->up_at)
        return; /* moved later by a crash while down */
    c->crashed = false;
    c->cs->crash_down_ns += now - c->flt->crash_since;
    hook_fault(net, c->idx, 0, MQ_NET_CLIENT_RESTART, 0);
    if (mq_session_connect(c->cli.s, now) != 0)
        fail(net, "a client could not connect after its restart");
    schedule_crash(net, c, now);
}

/* Autosave (persistence with an interval): the broker saves its state
 * (mq_broker_save) every autosave_interval while it runs. */
static void autosave_fire(sim_sched *s, void *ctx)
{
    mq_net *net = ctx;
    int64_t now = sim_sched_now(s);
    net->autosave_ev = 0;
    if (mq_broker_save(net->broker, now))
        fail_oom(net);
    net->autosave_ev = sim_sched_at(s, now + net->cfg.autosave_interval, autosave_fire, net);
    if (!net->autosave_ev)
        fail_oom(net);
}

/* The broker (re)starts at `now`: its autosave timer starts with it
 * (Mosquitto's last_backup is its start time). Only while a restart is
 * still to come: a save no restart reads changes nothing, and a timer left
 * running would keep a run from ending before its drain is over. */
static void autosave_start(mq_net *net, int64_t now)
{
    if (!net->cfg.persistence || net->cfg.autosave_interval <= 0 ||
        net->next_restart >= net->cfg.n_restarts)
        return;
    net->autosave_ev =
        sim_sched_at(net->sched, now + net->cfg.autosave_interval, autosave_fire, net);
    if (!net->autosave_ev)
        fail_oom(net);
}

/*
 * The persistence hook: the broker process dies. Every live connection is
 * closed by its host's kernel (through the contexts' close: FIN after what
 * was written, as for any killed process; the model's broker reads every
 * byte as it arrives, so Linux would send no RST), and the broker keeps
 * what its persistence set (mq_broker_set_persistence at setup): nothing
 * (every session and everything it held is gone, broker_restart), every
 * kept session as it is (autosave on every change), or the last save
 * (restored now: nothing reaches a dead broker, so restoring at its death
 * or at its revival is the same, but for its own session expiry timer,
 * which runs on). Its autosave timer stops until it is back.
 */
static void broker_kill(mq_net *net, int64_t now)
{
    if (net->autosave_ev)
        sim_sched_cancel(net->sched, net->autosave_ev);
    net->autosave_ev = 0;
    if (net->cfg.persistence && net->cfg.autosave_interval > 0)
        net->restored = true;
    if (mq_broker_restart(net->broker, now))
        fail_oom(net);
}

static void broker_revive(mq_net *net, int64_t now)
{
    autosave_start(net, now);
}

static void broker_up_fire(sim_sched *s, void *ctx);

static void schedule_restart(mq_net *net)
{
    if (net->next_restart >= net->cfg.n_restarts)
        return;
    int64_t at = net->cfg.restarts[net->next_restart].start, now = sim_sched_now(net->sched);
    if (!sim_sched_at(net->sched, at < now ? now : at, broker_down_fire, net))
        fail_oom(net);
}

/*
 * The broker is killed (SIGKILL on a live host, as the testbed does): its
 * connections are closed by the kernel and its state is gone; while it is
 * down every client's SYN is answered with RST (connection refused: the
 * client backs off and tries again), and half-open handshakes are dropped.
 * After the window's time down it listens again.
 */
static void broker_down_fire(sim_sched *s, void *ctx)
{
    mq_net *net = ctx;
    int64_t now = sim_sched_now(s);
    const mq_net_window *w = &net->cfg.restarts[net->next_restart++];
    net->broker_down = true;
    net->broker_since = now;
    net->st.broker_restarts++;
    hook_fault(net, -1, 0, MQ_NET_BROKER_DOWN, net->cfg.persistence);
    for (size_t i = 0; i < net->n; i++) {
        client *c = &net->clients[i];
        if (!c->stream)
            continue;
        fault_hit(c, now);
        c->fault_cause = MQ_DROP_BROKER_RESTART;
        c->sess = -1;
        /* Every change saved keeps a kept session's subscriptions exactly;
         * a save may be older than them, and no persistence keeps none. */
        if (!(net->cfg.persistence && net->cfg.autosave_interval <= 0))
            c->subs_ok = false;
        if (c->is_sub) {
            set_unsure(net, c, true);
            c->gone_cause = MQ_DROP_BROKER_RESTART;
        }
        sim_tcp_listen(c->path, NULL, NULL);
    }
    broker_kill(net, now);
    for (size_t i = 0; i < net->n; i++)
        if (net->clients[i].stream)
            check_path(net, &net->clients[i]);
    if (!sim_sched_at(net->sched, now + w->len, broker_up_fire, net))
        fail_oom(net);
}

static void broker_up_fire(sim_sched *s, void *ctx)
{
    mq_net *net = ctx;
    int64_t now = sim_sched_now(s);
    net->broker_down = false;
    net->st.broker_down_ns += now - net->broker_since;
    broker_revive(net, now);
    hook_fault(net, -1, 0, MQ_NET_BROKER_UP, net->cfg.persistence);
    for (size_t i = 0; i < net->n; i++) {
        client *c = &net->clients[i];
        if (c->stream)
            sim_tcp_listen(c->path, on_accept, c);
    }
    schedule_restart(net);
}

/* Every fault's first event, at t = 0. */
static void schedule_faults(mq_net *net)
{
    for (size_t i = 0; i < net->n; i++) {
        client *c = &net->clients[i];
        if (!c->stream)
            continue;
        schedule_reset(net, c, 0);
        schedule_crash(net, c, 0);
    }
    schedule_restart(net);
}

/* ---- publishing ------------------------------------------------------- */

static void end_run(sim_sched *s, void *ctx)
{
    (void)ctx;
    sim_sched_stop(s);
}

static void stop_publishing(mq_net *net)
{
    if (!net->publishing)
        return;
    net->publishing = false;
    net->st.t_publish_end = sim_sched_now(net->sched);
    if (net->end_ev)
        sim_sched_cancel(net->sched, net->end_ev);
    net->end_ev = sim_sched_after(net->sched, net->cfg.drain, end_run, net);
    if (!net->end_ev)
        fail_oom(net);
}

static void publish_end(sim_sched *s, void *ctx)
{
    (void)s;
    mq_net *net = ctx;
    net->end_ev = 0;
    stop_publishing(net);
}

static void put_be64(uint8_t *b, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        b[i] = (uint8_t)v;
        v >>= 8;
    }
}

static void publish_one(sim_sched *s, void *ctx)
{
    client *c = ctx;
    mq_net *net = c->cli.net;
    if (!net->publishing)
        return;
    int64_t now = sim_sched_now(s);
    const mq_net_client *cc = c->cfg;
    if (c->crashed) {
        /* Its process is down: this arrival is not published (no message,
         * so no pair is expected of it), only counted. */
        c->cs->unpublished++;
        c->pb->slots++;
        goto next;
    }
    mq_pool *pool = block_pool(net, msgrec_bytes(c));
    msgrec *r = pool ? mq_pool_get(pool) : malloc(msgrec_bytes(c));
    if (!r) {
        fail_oom(net);
        return;
    }
    memset(r, 0, msgrec_bytes(c));
    r->refs = 1;
    r->pub = c;
    r->id = ++net->next_msg_id;
    r->seq = c->pb->k + 1;
    r->t_pub = now;
    if (++net->live > net->peak_live)
        net->peak_live = net->live;
    /* The payload's first 16 bytes: message id and publish time, big-endian,
     * as a real client would carry them; the rest is filler zeros, counted
     * and never stored. */
    uint8_t head[MQ_MSG_HEAD];
    put_be64(head, r->id);
    put_be64(head + 8, (uint64_t)now);
    size_t hn = cc->payload_bytes < sizeof head ? cc->payload_bytes : sizeof head;
    mq_msg *m = NULL;
    const char *topic = c->pb->topic ? c->pb->topic : cc->topic;
    int rc = mq_msg_new(topic, strlen(topic), head, hn, cc->payload_bytes, false, r,
                        &tag_ops, &m);
    if (rc != 0) {
        net->live--; /* never a message: no pair of it was expected */
        free(r);
        r = NULL;
    } else {
        tag_unref(r); /* the message holds the tag now */
    }
    if (rc == 0) {
        net->st.messages++;
        c->pb->k++;
        c->pb->slots++;
        for (int q = 0; q < 3; q++)
            mq_metrics_expect(net->metrics, cc->qos, (uint8_t)q, c->pb->per_group[q]);
        if (net->has_hooks && net->hooks.publish)
            net->hooks.publish(net->hooks.ctx, now, c->idx, r->id, cc->qos);
        rc = mq_session_publish(c->cli.s, now, m, cc->qos);
        mq_msg_unref(m);
    }
    if (rc < 0) {
        char why[200], nb[128];
        snprintf(why, sizeof why, "%s could not publish on \"%.60s\" (%s)",
                 name_of(c, nb, sizeof nb), topic,
                 rc == MQ_ERR_NOMEM ? "out of memory" : mq_codec_strerror(rc));
        fail(net, why);
        return;
    }

    if (net->cfg.max_messages && net->st.messages >= net->cfg.max_messages) {
        stop_publishing(net);
        return;
    }
next:
    if (cc->poisson)
        c->pb->next_at =
            now + sim_from_ms(gsl_ran_exponential(c->pb->rng_arrival, 1000.0 / cc->rate_hz));
    else
        c->pb->next_at = c->pb->first_at + (int64_t)c->pb->slots * c->pb->period; /* no drift */
    if (!sim_sched_at(s, c->pb->next_at, publish_one, c))
        fail_oom(net); /* publishing would stop silently */
}

static void start_publishing(mq_net *net)
{
    int64_t now = sim_sched_now(net->sched);
    net->publishing = true;
    net->st.t_ready = now;
    net->st.events_ready = sim_sched_events_run(net->sched);
    for (size_t i = 0; i < net->n; i++) {
        client *c = &net->clients[i];
        const mq_net_client *cc = c->cfg;
        if (!cc->publisher)
            continue;
        int64_t first;
        if (cc->poisson) {
            first =
                now + sim_from_ms(gsl_ran_exponential(c->pb->rng_arrival, 1000.0 / cc->rate_hz));
        } else {
            /* A random phase within one period keeps publishers of equal rate
             * from firing in lockstep. */
            c->pb->period = (int64_t)(1e9 / cc->rate_hz + 0.5);
            if (c->pb->period < 1)
                c->pb->period = 1;
            first =
                now + (int64_t)(gsl_rng_uniform(c->pb->rng_arrival) * (double)c->pb->period);
        }
        c->pb->first_at = c->pb->next_at = first;
        if (!sim_sched_at(net->sched, first, publish_one, c))
            fail_oom(net);
    }
    net->end_ev = sim_sched_after(net->sched, net->cfg.duration, publish_end, net);
    if (!net->end_ev)
        fail_oom(net);
}

/* ---- the setup limit ----------------------------------------------------- */

/*
 * How long setup may take before a run is declared failed. Setup is done
 * when every client has its CONNACK and every subscriber its SUBACK. Per
 * client, with
 *   d_up, d_down  a one-way delay that a frame exceeds with probability at
 *                 most 1e-6 (the distribution's quantile: constant ms,
 *                 uniform max_ms, exponential 13.8 mean, normal mean + 4.75
 *                 sd, the lognormal's and the pareto's own quantile),
 *   ser(b)        the serialisation of b bytes at the direction's bandwidth,
 *   RTT           d_up + d_down + ser(setup packet up + 40) + ser(answer + 40),
 *   q             1 - (1 - l_up)(1 - l_down), the chance that an exchange
 *                 (a frame and its answer) fails, from the loss models'
 *                 stationary rates l,
 *   A(f)          the attempts after which all failing has a chance below
 *                 1e-9 when one fails with chance f: ceil(ln 1e-9 / ln f),
 * the bound is, for a datagram client (CONNECT resent every retry interval R
 * until CONNACK, then SUBSCRIBE likewise: E = 1 or 2 exchanges)
 *   E ((A(q) - 1) R + RTT),
 * and for a stream client, whose connect attempt (SYN ladder from
 * rto_initial, doubling, syn_retries times; then CONNECT, resent by TCP from
 * an RTO of at most 3 s) is given up after connect_timeout CT and retried
 * after a backoff of at most reconnect_max (1 + jitter), so that one attempt
 * fails with chance at most f = q^S + q^S' (S SYNs and S' CONNECTs fit in
 * CT), plus the SUBSCRIBE exchange on TCP's own ladder,
 *   (A(f) - 1)(CT + Bmax) + CT + sum of A(q) ladder steps (each <= rto_max).
 * Outages add their length (scheduled windows that start before the bound,
 * repeatedly) or 20 mean down times (random: exceeded with chance 2e-9),
 * each with one more attempt's time; crashes and broker restarts that
 * start before the bound add their time down and an attempt, resets an
 * attempt (random crashes and resets: three of each, a margin, not a
 * probability bound). The limit is the largest bound, and at
 * least 60 s (what it always was: a config that sets up faster keeps its
 * runs, event for event), and twice the bound otherwise (a setup that takes
 * exactly the bound must not lose the tie). An impossible setup (every frame lost, or a
 * connect_timeout shorter than a connection takes) still gets a finite
 * limit, so that the run fails and says why.
 */

#define SETUP_FLOOR SIM_S(60)
#define LIMIT_CAP ((int64_t)4e18)

/* A one-way delay exceeded with probability at most 1e-6, in ms. */
static double delay_bound_ms(const sim_dist *d)
{
    const double z = 4.753424; /* gsl_cdf_ugaussian_Qinv(1e-6) */
    double v;
    switch (d->kind) {
    case SIM_DIST_CONSTANT: v = d->a; break;
    case SIM_DIST_UNIFORM: v = d->b; break;
    case SIM_DIST_EXPONENTIAL: v = d->a * 13.815511; break; /* -ln 1e-6 */
    case SIM_DIST_NORMAL: v = d->a + z * d->b; break;
    case SIM_DIST_LOGNORMAL: {
        double s2 = log(1 + (d->b * d->b) / (d->a * d->a));
        v = exp(log(d->a) - s2 / 2 + z * sqrt(s2));
        break;
    }
    default: v = d->a * pow(1e-6, -1.0 / d->b); break; /* pareto */
    }
    return isfinite(v) && v < 1e11 ? (v > 0 ? v : 0) : 1e11;
}

static double ser_ms(double bytes, uint64_t bps)
{
    return bps ? bytes * 8e3 / (double)bps : 0;
}

/* ln 1e-9 / ln f attempts, at least 1; +inf when f >= 1 (never). */
static double attempts(double f)
{
    if (f <= 0)
        return 1;
    if (f >= 1)
        return INFINITY;
    return fmax(1, ceil(log(1e-9) / log(f)));
}

/* The round trip of client c's setup exchanges, in ms. */
static double setup_rtt_ms(const mq_net_client *c, bool mean)
{
    /* A group: its last member's, whose expansions are the longest. */
    uint32_t last = c->count ? c->count - 1 : 0;
    int nl = c->name && c->count ? mq_topic_expand(c->name, last, NULL, 0) : -1;
    double up_bytes = 64 + (nl >= 0 ? (size_t)nl : c->name ? strlen(c->name) : 0) + 40,
           down_bytes = 64 + 40;
    for (size_t i = 0; i < c->n_subs; i++) {
        int fl = c->count ? mq_topic_expand(c->subs[i].filter, last, NULL, 0) : -1;
        up_bytes += (fl >= 0 ? (size_t)fl : c->subs[i].len) + 3;
    }
    double du = mean ? sim_dist_mean(&c->up.delay) : delay_bound_ms(&c->up.delay);
    double dd = mean ? sim_dist_mean(&c->down.delay) : delay_bound_ms(&c->down.delay);
    if (!isfinite(du) || du > 1e11)
        du = 1e11;
    if (!isfinite(dd) || dd > 1e11)
        dd = 1e11;
    return du + dd + ser_ms(up_bytes, c->up.bandwidth_bps) + ser_ms(down_bytes, c->down.bandwidth_bps);
}

static double exchange_loss(const mq_net_client *c)
{
    return 1 - (1 - sim_loss_rate(&c->up.loss)) * (1 - sim_loss_rate(&c->down.loss));
}

static void tcp_params_of(const mq_net_client *c, sim_tcp_params *tp)
{
    if (c->tcp.mss)
        *tp = c->tcp;
    else
        sim_tcp_params_default(tp);
}

static int64_t connect_timeout_of(const mq_net_client *c)
{
    return c->connect_timeout ? c->connect_timeout : SIM_S(30); /* the engine's default */
}

/* Client c's setup bound in ms (see above); one attempt's time into *attempt_ms. */
static double client_bound_ms(const mq_net_client *c, double *attempt_ms)
{
    double rtt = setup_rtt_ms(c, false), q = exchange_loss(c), bound;
    bool sub = !c->publisher && c->n_subs > 0;
    if (c->transport != MQ_TRANSPORT_STREAM) {
        double R = sim_to_ms(c->retry_interval > 0 ? c->retry_interval : SIM_MS(200));
        double a = attempts(q);
        if (!isfinite(a))
            a = 20; /* impossible: a limit to fail at, all the same */
        *attempt_ms = fmax(R, rtt);
        bound = (sub ? 2 : 1) * ((a - 1) * R + rtt);
    } else {
        sim_tcp_params tp;
        tcp_params_of(c, &tp);
        double ct = sim_to_ms(connect_timeout_of(c));
        double rmax = sim_to_ms(c->reconnect_max ? c->reconnect_max : SIM_S(60));
        double bmax = rmax * (1 + c->reconnect_jitter);
        double rto0 = sim_to_ms(tp.rto_initial), rtomax = sim_to_ms(tp.rto_max);
        int syns = 0, data = 0;
        for (int k = 0; k <= tp.syn_retries && k < 60; k++)
            if (rto0 * (ldexp(1, k) - 1) + rtt < ct)
                syns++;
        for (int k = 0; k < 60; k++)
            if (3000 * (ldexp(1, k) - 1) + 2 * rtt < ct)
                data++;
        double f = (syns ? pow(q, syns) : 1) + (data ? pow(q, data) : 1);
        double a = attempts(f);
        if (!isfinite(a))
            a = 20;
        double ladder = rtt, step = rto0 > 3000 ? rto0 : 3000;
        double n = attempts(q);
        if (!isfinite(n))
            n = 20;
        for (double k = 1; k < n && k < 1000; k++) {
            ladder += step;
            step = fmin(2 * step, rtomax);
        }
        *attempt_ms = ct + bmax;
        bound = (a - 1) * (ct + bmax) + ct + (sub ? ladder : 0);
    }
    /* Outages in setup push it back by their length and one more attempt. */
    for (int d = 0; d < 2; d++) {
        const mq_net_outages *o = d ? &c->down_outages : &c->up_outages;
        if (o->mtbf > 0) {
            bound += 20 * sim_to_ms(o->mttr) + *attempt_ms;
            continue;
        }
        for (size_t i = 0; i < o->n; i++)
            if (sim_to_ms(o->w[i].start) < bound)
                bound += sim_to_ms(o->w[i].len) + *attempt_ms;
    }
    /* So do the client's own faults: a crash its time down and one more
     * attempt (random ones: three of them), a reset one more attempt. */
    if (c->crash_mtbf > 0)
        bound += 3 * (sim_to_ms(c->crash_down) + *attempt_ms);
    for (size_t i = 0; i < c->n_crashes; i++)
        if (sim_to_ms(c->crashes[i].start) < bound)
            bound += sim_to_ms(c->crashes[i].len) + *attempt_ms;
    if (c->reset_mtbf > 0)
        bound += 3 * *attempt_ms;
    for (size_t i = 0; i < c->n_resets; i++)
        if (sim_to_ms(c->resets[i]) < bound)
            bound += *attempt_ms;
    return bound;
}

int64_t mq_net_setup_limit(const mq_net_config *cfg, const mq_net_client *clients, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double a;
        double b = client_bound_ms(&clients[i], &a);
        /* The broker's restarts in setup: their time down and a new attempt. */
        for (size_t k = 0; k < cfg->n_restarts; k++)
            if (sim_to_ms(cfg->restarts[k].start) < b)
                b += sim_to_ms(cfg->restarts[k].len) + a;
        if (b > worst)
            worst = b;
    }
    /* Twice the bound: a setup that takes exactly the bound must not lose
     * the tie to the limit. */
    worst *= 2;
    if (!(worst < 4e12)) /* ms: about the cap */
        return LIMIT_CAP;
    int64_t t = sim_from_ms(worst);
    return t > SETUP_FLOOR ? t : SETUP_FLOOR;
}

/* Why client c did not set up, as the config explains it. */
static void setup_cause(const client *c, char *buf, size_t cap)
{
    const mq_net_client *cc = c->cfg;
    double lu = sim_loss_rate(&cc->up.loss), ld = sim_loss_rate(&cc->down.loss);
    bool outages = cc->up_outages.n || cc->up_outages.mtbf > 0 || cc->down_outages.n ||
                   cc->down_outages.mtbf > 0;
    char nb[128];
    const char *name = name_of(c, nb, sizeof nb);
    const char *state = !c->ever_up && !c->mqtt_up ? "not connected" : "connected, not subscribed";
    double rtt = setup_rtt_ms(cc, true);
    sim_tcp_params tp;
    tcp_params_of(cc, &tp);
    double synack = sim_to_ms(tp.rto_initial) * (ldexp(1, tp.synack_retries + 1) - 1);
    if (c->stream && rtt >= synack)
        snprintf(buf, cap,
                 "%s: %s: a round trip on its link (about %.3g s at the configured delays and "
                 "bandwidth) outlasts the broker's SYN-ACK retransmissions (%.3g s, Linux's "
                 "tcp_synack_retries %d from rto_initial_ms): the handshake cannot complete",
                 name, state, rtt / 1e3, synack / 1e3, tp.synack_retries);
    else if (c->stream && 2 * rtt >= sim_to_ms(connect_timeout_of(cc)))
        snprintf(buf, cap,
                 "%s: %s: its connect_timeout_s (%g s) is shorter than connecting takes on its "
                 "link (about %.3g s for SYN, SYN-ACK, CONNECT and CONNACK at the configured "
                 "delays and bandwidth)", name, state,
                 sim_to_s(connect_timeout_of(cc)), 2 * rtt / 1e3);
    else if (lu >= 1 || ld >= 1)
        snprintf(buf, cap, "%s: %s: its link loses every frame (loss rate up %g, down %g)",
                 name, state, lu, ld);
    else if (lu > 0 || ld > 0)
        snprintf(buf, cap, "%s: %s: its %s kept being lost (loss rate up %g, down %g)%s",
                 name, state,
                 c->stream ? "handshake, CONNECT or SUBSCRIBE" : "CONNECT or SUBSCRIBE", lu, ld,
                 outages ? ", and its link had outages" : "");
    else if (outages)
        snprintf(buf, cap, "%s: %s: its link was down (outages) through the setup", name,
                 state);
    else
        snprintf(buf, cap,
                 "%s: %s: no loss and no outage on its link; its round trip (about %.3g s on "
                 "average with the configured delays and bandwidth, more when frames queue "
                 "behind resends) outlasted the limit", name, state, rtt / 1e3);
}

/* ---- construction and the run ----------------------------------------- */

static void setup_timeout(sim_sched *s, void *ctx)
{
    mq_net *net = ctx;
    if (!net->publishing && net->n_ready < net->n) {
        net->failed = true;
        sim_sched_stop(s);
    }
}

/* pattern expanded for c (as is when its entry is not a group), malloc'ed;
 * NULL when out of memory or not a valid pattern. */
static char *expand_for(const client *c, const char *pattern)
{
    if (!c->cfg->count)
        return strdup(pattern);
    int n = mq_topic_expand(pattern, c->gi, NULL, 0);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s)
        mq_topic_expand(pattern, c->gi, s, (size_t)n + 1);
    return s;
}

/* c's name, for messages: its entry's, or expanded into buf[cap]. */
static const char *name_of(const client *c, char *buf, size_t cap)
{
    if (!c->cfg->count)
        return c->cfg->name;
    if (mq_topic_expand(c->cfg->name, c->gi, buf, cap) < 0)
        snprintf(buf, cap, "%s", c->cfg->name);
    return buf;
}

/* c's subscriptions, with the filters expanded for a group's member:
 * *store (to free) holds them; NULL when out of memory. */
static const mq_sub *subs_of(const client *c, mq_sub **store)
{
    const mq_net_client *cc = c->cfg;
    *store = NULL;
    if (!cc->count || !cc->n_subs)
        return cc->subs;
    size_t bytes = 0;
    for (size_t k = 0; k < cc->n_subs; k++) {
        int n = mq_topic_expand(cc->subs[k].filter, c->gi, NULL, 0);
        if (n < 0 || n > UINT16_MAX)
            return NULL;
        bytes += (size_t)n + 1;
    }
    mq_sub *v = malloc(cc->n_subs * sizeof *v + bytes);
    if (!v)
        return NULL;
    char *text = (char *)(v + cc->n_subs);
    for (size_t k = 0; k < cc->n_subs; k++) {
        int n = mq_topic_expand(cc->subs[k].filter, c->gi, text, bytes);
        v[k] = (mq_sub){text, (uint16_t)n, cc->subs[k].qos};
        text += n + 1;
        bytes -= (size_t)n + 1;
    }
    *store = v;
    return v;
}

static void endpoint_init(endpoint *e, mq_net *net, client *c, bool broker_side)
{
    e->net = net;
    e->c = c;
    e->broker_side = broker_side;
    e->want_at = MQ_NEVER;
}

/* The endpoints' callbacks, shared by every session (each gets its endpoint
 * as ctx): a client's by transport (and jitter), the broker side's. */
#define IO_BASE                                                                           \
    .send = on_send, .deliver = on_deliver, .timer = on_timer, .drop = on_drop,           \
    .event = on_event, .tag = io_tag, .tag_ops = &tag_ops
static const mq_session_io io_cli_dg = {IO_BASE, .connected = on_connected,
                                        .subscribed = on_subscribed};
static const mq_session_io io_cli_st = {IO_BASE, .connected = on_connected,
                                        .subscribed = on_subscribed, .open = on_open,
                                        .close = on_close};
static const mq_session_io io_cli_st_jitter = {IO_BASE, .connected = on_connected,
                                               .subscribed = on_subscribed, .open = on_open,
                                               .close = on_close, .random = on_random};
static const mq_session_io io_brk_dg = {IO_BASE};
static const mq_session_io io_brk_st = {IO_BASE, .close = on_close};
#undef IO_BASE

static const mq_session_io *endpoint_io(endpoint *e)
{
    if (e->broker_side)
        return e->c->stream ? &io_brk_st : &io_brk_dg;
    if (!e->c->stream)
        return &io_cli_dg;
    return e->c->cfg->reconnect_jitter > 0 ? &io_cli_st_jitter : &io_cli_st;
}

static bool same_cfg(const mq_session_config *a, const mq_session_config *b)
{
    return a->role == b->role && a->version == b->version && a->client_id == b->client_id &&
           a->max_inflight == b->max_inflight && a->max_queued == b->max_queued &&
           a->retry_interval == b->retry_interval && a->max_retries == b->max_retries &&
           a->qos2_method == b->qos2_method && a->transport == b->transport &&
           a->retransmit == b->retransmit && a->keepalive_s == b->keepalive_s &&
           a->clean_start == b->clean_start && a->session_expiry_s == b->session_expiry_s &&
           a->connect_timeout == b->connect_timeout &&
           a->reconnect_initial == b->reconnect_initial &&
           a->reconnect_max == b->reconnect_max && a->reconnect_jitter == b->reconnect_jitter &&
           a->queue_qos0 == b->queue_qos0 && a->max_packet_size == b->max_packet_size;
}

/* sc kept by the net for sessions to borrow: the last one kept when they are
 * the same (clients of one group come one after another). NULL: out of memory. */
static const mq_session_config *share_cfg(mq_net *net, const mq_session_config *sc)
{
    if (net->scfgs && same_cfg(&net->scfgs->cfg, sc))
        return &net->scfgs->cfg;
    scfg *k = malloc(sizeof *k);
    if (!k)
        return NULL;
    k->cfg = *sc;
    k->next = net->scfgs;
    net->scfgs = k;
    return &k->cfg;
}

/* Collects a publisher's targets from the subscribers' index (called in
 * increasing subscriber order, with the highest matching QoS). */
typedef struct {
    mq_net *net;
    client *c;
    int failed;
} target_fill;

static void add_target(void *ctx, uint32_t sub, uint8_t best)
{
    target_fill *tf = ctx;
    client *c = tf->c;
    if (tf->failed)
        return;
    if ((c->pb->n_targets & (c->pb->n_targets - 1)) == 0) { /* 0, 1, 2, 4, ...: grow */
        size_t cap = c->pb->n_targets ? 2 * c->pb->n_targets : 1;
        target *v = realloc(c->pb->targets, cap * sizeof *v);
        if (!v) {
            tf->failed = 1;
            return;
        }
        c->pb->targets = v;
    }
    c->pb->targets[c->pb->n_targets++] = (target){.sub = (int)sub, .sub_qos = best};
    c->pb->per_group[best]++;
    uint16_t bit = (uint16_t)(1u << (3 * c->cfg->qos + best));
    c->groups |= bit;
    tf->net->clients[sub].groups |= bit;
}

/* Fills every publisher's targets: every subscriber with a matching filter,
 * at the highest QoS among its matching filters (an identical filter later
 * in the same list replaces the earlier, as the broker does, MQTT 3.8.4);
 * and the pairs each carries. The subscribers' filters go into an index of
 * their own for the purpose, so this costs O(filters + publishers x (topic
 * levels + targets)), and each publisher's targets are in increasing
 * subscriber order (find_target relies on it). A filter the engine would
 * refuse is left out: its SUBSCRIBE fails the run. */
static int build_targets(mq_net *net)
{
    mq_subs *ix = mq_subs_new();
    if (!ix)
        return -1;
    int rc = 0;
    for (size_t j = 0; j < net->n && rc == 0; j++) {
        const mq_net_client *sc = net->clients[j].cfg;
        if (sc->publisher)
            continue;
        mq_sub *store;
        const mq_sub *subs = subs_of(&net->clients[j], &store);
        if (!subs && sc->n_subs)
            rc = -1;
        for (size_t k = 0; k < sc->n_subs && rc == 0; k++)
            if (subs[k].qos <= 2 && mq_topic_filter_valid(subs[k].filter, subs[k].len))
                rc = mq_subs_add(ix, (uint32_t)j, subs[k].filter, subs[k].len, subs[k].qos) < 0
                         ? -1
                         : 0;
        free(store);
    }
    for (size_t i = 0; i < net->n && rc == 0; i++) {
        client *c = &net->clients[i];
        if (!c->cfg->publisher)
            continue;
        target_fill tf = {net, c, 0};
        const char *topic = c->pb->topic ? c->pb->topic : c->cfg->topic;
        if (mq_subs_match(ix, topic, strlen(topic), add_target, &tf) < 0 ||
            tf.failed)
            rc = -1;
    }
    mq_subs_free(ix);
    return rc;
}

/* Puts a direction's outages on its link. */
static int add_outages(mq_net *net, client *c, int d, const char *link_name)
{
    const mq_net_outages *o = d ? &c->cfg->down_outages : &c->cfg->up_outages;
    sim_link *l = d ? c->down : c->up;
    if (o->mtbf > 0) {
        char name[300];
        snprintf(name, sizeof name, "%s.outages", link_name);
        c->flt->rng_out[d] = sim_rng_new(net->cfg.seed, net->cfg.rep, name);
        if (!c->flt->rng_out[d])
            return -1;
        return sim_link_random_outages(l, o->mtbf, o->mttr, c->flt->rng_out[d]);
    }
    for (size_t i = 0; i < o->n; i++)
        if (sim_link_add_outage(l, o->w[i].start, o->w[i].start + o->w[i].len) != 0)
            return -1;
    return 0;
}

mq_net *mq_net_new(const mq_net_config *cfg, const mq_net_client *clients, size_t n,
                   mq_metrics *metrics, const mq_net_hooks *hooks, char *err, size_t errlen)
{
    mq_net *net = calloc(1, sizeof *net);
    if (!net)
        goto oom;
    net->cfg = *cfg;
    net->metrics = metrics;
    net->broker_at = MQ_NEVER;
    if (hooks) {
        net->hooks = *hooks;
        net->has_hooks = true;
    }
    size_t total = 0; /* clients, groups expanded */
    for (size_t e = 0; e < n; e++)
        total += clients[e].count ? clients[e].count : 1;
    net->n = total;
    mq_pool_init(&net->frames[0], 40);
    mq_pool_init(&net->frames[1], 64);
    mq_pool_init(&net->frames[2], 256);
    net->sched = sim_sched_new();
    mq_session_config bc = cfg->broker;
    bc.role = MQ_ROLE_BROKER;
    bc.version = cfg->version;
    bc.transport = MQ_TRANSPORT_DATAGRAM;
    if (mq_session_config_check(&bc) != MQ_OK) {
        snprintf(err, errlen, "the broker's settings are not runnable (retry interval %lld ns)",
                 (long long)bc.retry_interval);
        mq_net_free(net);
        return NULL;
    }
    mq_broker_io bio = {.ctx = net, .drop = broker_drop, .timer = broker_timer,
                        .bind = broker_bind, .routed = broker_routed};
    net->broker = mq_broker_new(&bc, &bio);
    net->clients = calloc(total ? total : 1, sizeof *net->clients);
    if (!net->sched || !net->broker || !net->clients)
        goto oom;
    mq_broker_set_persistence(net->broker, !cfg->persistence ? MQ_PERSIST_OFF
                                           : cfg->autosave_interval > 0 ? MQ_PERSIST_SAVES
                                                                        : MQ_PERSIST_EVERY_CHANGE);
    net->setup_limit = cfg->setup_timeout ? cfg->setup_timeout
                                          : mq_net_setup_limit(cfg, clients, n);

    char name[256], up_name[260], down_name[260];
    for (size_t i = 0, e = 0, gi = 0; i < total; i++) {
        client *c = &net->clients[i];
        const mq_net_client *cc = &clients[e];
        c->idx = (int)i;
        c->cfg = cc;
        c->gi = (uint32_t)gi;
        if (cc->publisher && !(c->pb = calloc(1, sizeof *c->pb)))
            goto oom;
        if (++gi >= (cc->count ? cc->count : 1)) {
            e++;
            gi = 0;
        }
        char cname_buf[240];
        const char *cname = cc->name;
        if (cc->count) {
            int nl = mq_topic_expand(cc->name, c->gi, cname_buf, sizeof cname_buf);
            if (nl < 0 || (size_t)nl >= sizeof cname_buf) {
                snprintf(err, errlen, "%s: not a valid group name (braces other than {i}, {{ "
                         "and }}, or over 239 bytes expanded)", cc->name);
                mq_net_free(net);
                return NULL;
            }
            cname = cname_buf;
            if (cc->publisher && !(c->pb->topic = expand_for(c, cc->topic)))
                goto oom;
        }
        c->sess = -1;
        c->fault_at = -1;
        c->fault_cause = c->gone_cause = -1;
        c->stream = cc->transport == MQ_TRANSPORT_STREAM;
        c->is_sub = !cc->publisher && cc->n_subs > 0;
        set_unsure(net, c, true); /* until its SUBACK */
        endpoint_init(&c->cli, net, c, false);
        endpoint_init(&c->brk, net, c, true);
        snprintf(up_name, sizeof up_name, "%s.up", cname);
        gsl_rng *rng_up = sim_rng_init(&c->rs_up, cfg->seed, cfg->rep, up_name);
        snprintf(down_name, sizeof down_name, "%s.down", cname);
        gsl_rng *rng_down = sim_rng_init(&c->rs_down, cfg->seed, cfg->rep, down_name);
        if (!rng_up || !rng_down)
            goto oom;
        if (cc->publisher) { /* its arrivals: nobody else draws them */
            snprintf(name, sizeof name, "%s.arrival", cname);
            if (!(c->pb->rng_arrival = sim_rng_new(cfg->seed, cfg->rep, name)))
                goto oom;
        }
        if (cc->reconnect_jitter > 0) {
            snprintf(name, sizeof name, "%s.reconnect", cname);
            if (!(c->rng_reconnect = sim_rng_new(cfg->seed, cfg->rep, name)))
                goto oom;
        }
        if (cc->n_resets || cc->reset_mtbf > 0 || cc->n_crashes || cc->crash_mtbf > 0 ||
            cc->up_outages.mtbf > 0 || cc->down_outages.mtbf > 0)
            if (!(c->flt = calloc(1, sizeof *c->flt)))
                goto oom;
        if (cc->reset_mtbf > 0) {
            snprintf(name, sizeof name, "%s.resets", cname);
            if (!(c->flt->rng_resets = sim_rng_new(cfg->seed, cfg->rep, name)))
                goto oom;
        }
        if (cc->crash_mtbf > 0) {
            snprintf(name, sizeof name, "%s.crashes", cname);
            if (!(c->flt->rng_crashes = sim_rng_new(cfg->seed, cfg->rep, name)))
                goto oom;
        }
        if (c->stream) {
            sim_tcp_params tp;
            tcp_params_of(cc, &tp);
            /* cc outlives the net: the path's links borrow its parameters */
            c->path = sim_tcp_path_new_shared(net->sched, &tp, &cc->up, rng_up, &cc->down,
                                              rng_down);
            if (!c->path)
                goto oom;
            c->up = sim_tcp_path_link(c->path, SIM_TCP_CLIENT);
            c->down = sim_tcp_path_link(c->path, SIM_TCP_SERVER);
            sim_tcp_listen(c->path, on_accept, c);
            if (net->has_hooks && net->hooks.segment)
                sim_tcp_path_set_tap(c->path, on_segment, c);
        } else {
            /* cc outlives the net: the links borrow its parameters */
            c->up = sim_link_new_shared(net->sched, &cc->up, rng_up, on_arrive, &c->brk);
            c->down = sim_link_new_shared(net->sched, &cc->down, rng_down, on_arrive,
                                          &c->cli);
            if (!c->up || !c->down)
                goto oom;
        }
        if (add_outages(net, c, 0, up_name) || add_outages(net, c, 1, down_name))
            goto oom;

        mq_session_config sc = {
            .role = MQ_ROLE_CLIENT, .version = cfg->version, .client_id = cname,
            .max_inflight = cc->own_window ? cc->max_inflight : cfg->broker.max_inflight,
            .max_queued = cc->own_window ? cc->max_queued : cfg->broker.max_queued,
            .retry_interval = cc->retry_interval, .max_retries = cc->max_retries,
            .qos2_method = cc->qos2_method, .transport = cc->transport,
            .retransmit = cc->retransmit, .keepalive_s = cc->keepalive_s,
            /* The datagram model's CONNECT is the wave-1 one: CleanSession 1. */
            .clean_start = cc->transport == MQ_TRANSPORT_DATAGRAM ? true : cc->clean_start,
            .session_expiry_s = cc->session_expiry_s, .connect_timeout = cc->connect_timeout,
            .reconnect_initial = cc->reconnect_initial, .reconnect_max = cc->reconnect_max,
            .reconnect_jitter = cc->reconnect_jitter,
        };
        if (mq_session_config_check(&sc) != MQ_OK) {
            snprintf(err, errlen, "%s: settings the engine cannot run (client id, retry interval "
                     "%lld ns, reconnect times)", cname, (long long)sc.retry_interval);
            mq_net_free(net);
            return NULL;
        }
        sc.client_id = NULL; /* the session's own: cname */
        const mq_session_config *shared = share_cfg(net, &sc);
        if (!shared)
            goto oom;
        c->cli.s = mq_session_new_shared(shared, cname, endpoint_io(&c->cli), &c->cli);
        if (!c->cli.s)
            goto oom;
        if (!c->stream) {
            /* Accepted in client order, so the broker's sessions are in client
             * order, which is the order it routes in. */
            c->brk.s = mq_broker_accept_shared(net->broker, 0, MQ_TRANSPORT_DATAGRAM,
                                               endpoint_io(&c->brk), &c->brk);
            if (!c->brk.s)
                goto oom;
        }
    }
    if (build_targets(net) != 0)
        goto oom;
    for (size_t i = 0; i < total; i++) { /* the groups are known now */
        client *c = &net->clients[i];
        assert(c->groups < sizeof net->conn_of / sizeof *net->conn_of);
        mq_conn_stats **cs = &net->conn_of[c->groups];
        if (!*cs && !(*cs = calloc(1, sizeof **cs)))
            goto oom;
        c->cs = *cs;
    }
    /* Faults close connections: a datagram client has none (the loader
     * refuses such configs; this guards other callers). */
    for (size_t i = 0; i < n; i++) {
        const mq_net_client *cc = &clients[i];
        if (cc->transport == MQ_TRANSPORT_STREAM)
            continue;
        if (cfg->n_restarts || cc->n_resets || cc->reset_mtbf > 0 || cc->n_crashes ||
            cc->crash_mtbf > 0) {
            snprintf(err, errlen, "%s: resets, crashes and broker restarts need the stream "
                     "transport", cc->name);
            mq_net_free(net);
            return NULL;
        }
    }
    return net;
oom:
    snprintf(err, errlen, "out of memory building the network");
    mq_net_free(net);
    return NULL;
}

static void stats_add(sim_link_stats *sum, const sim_link_stats *x)
{
    sum->frames_sent += x->frames_sent;
    sum->frames_lost += x->frames_lost;
    sum->frames_delivered += x->frames_delivered;
    sum->bytes_sent += x->bytes_sent;
    sum->bytes_lost += x->bytes_lost;
    sum->bytes_delivered += x->bytes_delivered;
}

/* A stream client's TCP figures, both sides of its path. */
static void tcp_figures(client *c)
{
    for (int side = 0; side < 2; side++) {
        const sim_tcp_stats *t = sim_tcp_path_stats(c->path, (sim_tcp_side)side);
        c->cs->tcp_segments += t->segments;
        c->cs->tcp_data_segments += t->data_segments;
        c->cs->tcp_retransmissions += t->retransmissions;
        c->cs->tcp_rto_expiries += t->rto_expiries;
        c->cs->tcp_fast_retransmits += t->fast_retransmits;
        c->cs->tcp_segments_lost += t->segments_lost;
        c->cs->ip_bytes += t->ip_bytes;
    }
}

int mq_net_run(mq_net *net, mq_net_stats *st, char *err, size_t errlen)
{
    for (size_t i = 0; i < net->n; i++)
        if (mq_session_connect(net->clients[i].cli.s, 0) != 0) {
            char nb[128];
            snprintf(err, errlen, "%s: the client id is not valid UTF-8",
                     name_of(&net->clients[i], nb, sizeof nb));
            return -1;
        }
    if (!sim_sched_at(net->sched, net->setup_limit, setup_timeout, net))
        fail_oom(net);
    schedule_faults(net);
    autosave_start(net, 0);
    sim_sched_set_event_limit(net->sched, net->cfg.max_events);
    sim_sched_run(net->sched);
    if (net->cfg.max_events && sim_sched_events_run(net->sched) >= net->cfg.max_events)
        fail(net, "the run's event budget (max_events) ran out");

    int64_t now = sim_sched_now(net->sched);
    /* Whatever is still held by a sender is lost to the run. */
    net->ending = true;
    for (size_t i = 0; i < net->n; i++) {
        client *c = &net->clients[i];
        mq_session_finish(c->cli.s, now);
        if (!c->stream)
            mq_session_finish(c->brk.s, now);
        for (sconn *sc = c->conns; sc; sc = sc->next)
            if (sc->brk.s)
                mq_session_finish(sc->brk.s, now);
    }
    mq_broker_finish(net->broker, now); /* sessions without a connection */
    for (size_t i = 0; i < net->n; i++) {
        client *c = &net->clients[i];
        if (c->stream) {
            for (sconn *sc = c->conns; sc; sc = sc->next) {
                release_dir(net, sc, 0);
                release_dir(net, sc, 1);
            }
            tcp_figures(c);
            check_path(net, c);
        } else {
            sim_link_release(c->up, release_frame, net);
            sim_link_release(c->down, release_frame, net);
        }
        stats_add(&net->st.up, sim_link_stats_get(c->up));
        stats_add(&net->st.down, sim_link_stats_get(c->down));
        if (c->ever_up && !c->mqtt_up)
            c->cs->disconnected_ns += now - c->down_since;
        if (c->crashed)
            c->cs->crash_down_ns += now - c->flt->crash_since;
        if (c->fault_at >= 0)
            c->cs->unrecovered++;
        for (int d = 0; d < 2; d++) {
            sim_link_outage_stats os;
            sim_link_outage_stats_get(d ? c->down : c->up, &os);
            c->cs->outages += os.outages;
            c->cs->outage_down_ns += os.down_ns;
        }
    }
    /* The figures are integer sums (and one maximum), so summing them by
     * groups first gives what summing them client by client did. */
    for (unsigned m = 0; m < sizeof net->conn_of / sizeof *net->conn_of; m++) {
        const mq_conn_stats *cs = net->conn_of[m];
        if (!cs)
            continue;
        mq_conn_stats_add(&net->st.conn, cs);
        for (int g = 0; g < 9; g++)
            if (m & (1u << g))
                mq_metrics_conn_group(net->metrics, (uint8_t)(g / 3), (uint8_t)(g % 3), cs);
    }
    if (net->broker_down)
        net->st.broker_down_ns += now - net->broker_since;
    net->st.events = sim_sched_events_run(net->sched);
    net->st.mean_pending = sim_sched_mean_pending(net->sched);
    net->st.peak_live_messages = net->peak_live;
    net->st.setup_limit = net->setup_limit;
    if (net->publishing)
        net->st.t_publish_end = now;
    *st = net->st;
    if (!net->failed && net->uncharged) {
        snprintf(net->why, sizeof net->why,
                 "%llu lost (message, subscriber) pairs had no recorded cause (an accounting "
                 "bug)", (unsigned long long)net->uncharged);
        net->failed = true;
    }
    if (net->failed) {
        size_t waiting = net->n - net->n_ready;
        if (net->why[0]) {
            snprintf(err, errlen, "%s", net->why);
        } else if (waiting) {
            char cause[300] = "";
            for (size_t i = 0; i < net->n; i++)
                if (!net->clients[i].ready) {
                    setup_cause(&net->clients[i], cause, sizeof cause);
                    break;
                }
            snprintf(err, errlen,
                     "%zu of %zu clients were not connected and subscribed after %.1f s of "
                     "simulated time (the setup limit); the first: %s",
                     waiting, net->n, sim_to_s(net->setup_limit), cause);
        } else {
            snprintf(err, errlen, "the run failed (out of memory or a refused subscription)");
        }
        return -1;
    }
    return 0;
}

void mq_net_free(mq_net *net)
{
    if (!net)
        return;
    net->freeing = true;
    for (size_t i = 0; i < net->n && net->clients; i++) {
        client *c = &net->clients[i];
        if (c->cli.s)
            mq_session_free(c->cli.s);
        c->cli.s = NULL;
        if (!c->stream) {
            if (c->up)
                sim_link_release(c->up, release_frame, net);
            if (c->down)
                sim_link_release(c->down, release_frame, net);
        }
        while (c->conns) {
            sconn *sc = c->conns;
            c->conns = sc->next;
            for (int d = 0; d < 2; d++) {
                for (tagpos *tp; (tp = tq_front(sc, d)); tq_pop(sc, d))
                    tag_unref(tp->tag);
                sim_fifo_free(&sc->q[d]);
                ring_free(&sc->pq[d]);
            }
            timer_forget(&sc->brk);
            free(sc);
        }
    }
    if (net->broker)
        mq_broker_free(net->broker);
    while (net->scfgs) {
        scfg *k = net->scfgs;
        net->scfgs = k->next;
        free(k);
    }
    for (size_t i = 0; i < net->n && net->clients; i++) {
        client *c = &net->clients[i];
        if (c->path)
            sim_tcp_path_free(c->path);
        else {
            if (c->up)
                sim_link_free(c->up);
            if (c->down)
                sim_link_free(c->down);
        }
        if (c->pb) {
            if (c->pb->rng_arrival)
                gsl_rng_free(c->pb->rng_arrival);
            free(c->pb->targets);
            free(c->pb->topic);
            free(c->pb);
        }
        if (c->rng_reconnect)
            gsl_rng_free(c->rng_reconnect);
        if (c->flt) {
            for (int d = 0; d < 2; d++)
                if (c->flt->rng_out[d])
                    gsl_rng_free(c->flt->rng_out[d]);
            if (c->flt->rng_resets)
                gsl_rng_free(c->flt->rng_resets);
            if (c->flt->rng_crashes)
                gsl_rng_free(c->flt->rng_crashes);
            free(c->flt);
        }
        free(c->grp);
    }
    free(net->clients);
    free(net->routes);
    free(net->sess_client);
    for (size_t m = 0; m < sizeof net->conn_of / sizeof *net->conn_of; m++)
        free(net->conn_of[m]);
    for (int i = 0; i < FRAME_POOLS; i++)
        mq_pool_clear(&net->frames[i]);
    if (net->sched)
        sim_sched_free(net->sched);
    free(net);
}

uint64_t mq_net_live_messages(const mq_net *net)
{
    return net->live;
}
