/* The host adapter: sessions and broker on the kernel's scheduler and links. */
#include "models/net.h"

#include <gsl/gsl_randist.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/broker.h"
#include "models/topic.h"
#include "sim/rng.h"
#include "sim/sched.h"

typedef struct client client;
typedef struct endpoint endpoint;

/* How an endpoint's bytes travel. One table per transport; the engine calls
 * reach them through the endpoint's io, and nothing above this table knows
 * which transport it is. */
typedef struct {
    /* Puts one packet on the wire: buf[0..len), then zeros zero bytes; tag
     * rides along with a PUBLISH. Returns 1 in transit, 0 lost, negative on
     * out of memory. */
    int (*send)(endpoint *e, const uint8_t *buf, size_t len, uint64_t zeros, void *tag);
    /* End of run: hand back what is still in transit. */
    void (*release)(endpoint *e);
} transport_ops;

/* One end of one client's connection: the client's or the broker's. */
struct endpoint {
    mq_net *net;
    client *c;
    bool broker_side;
    mq_session *s;          /* the client's session, or the broker's context */
    const transport_ops *tr;
    sim_link *out;          /* datagram: the link this end sends on */
    void *rx_tag;           /* datagram: the tag of the frame being handed in */
    sim_event_id ev;        /* the pending timer event, if any */
    int64_t ev_at;          /* its time */
    int64_t want_at;        /* what the engine last asked for */
    bool deferred;          /* the pending event is the deadline's second pass */
};

/* A subscriber a publisher's messages go to. */
typedef struct {
    int sub;                /* client index */
    uint8_t sub_qos;        /* highest QoS among its matching subscriptions */
} target;

struct client {
    int idx;
    const mq_net_client *cfg;
    endpoint cli, brk;
    sim_link *up, *down;
    gsl_rng *rng_up, *rng_down, *rng_arrival;
    bool ready;
    /* publisher */
    target *targets;
    size_t n_targets;
    int32_t *target_of;     /* client index -> target ordinal, or -1 */
    uint32_t per_group[3];  /* targets per subscription QoS */
    int64_t period;         /* periodic arrivals: ns between messages */
    int64_t first_at, next_at;
    /* subscriber: group code (1 + 3 pub_qos + sub_qos) of the flow on each
     * packet identifier of the broker's end, for wire attribution */
    uint8_t *grp;
    uint64_t k;             /* messages published */
};

/* A message's measurement tag: its identity and time, and its delivery
 * counts per target (saturating at 65535). The engine's messages built from
 * the bytes at the broker and at each subscriber all point to it. */
typedef struct {
    uint32_t refs;
    client *pub;
    uint64_t id;            /* simulation-wide message id */
    int64_t t_pub;          /* publish time, ns */
    uint16_t counts[];
} msgrec;

/* A frame on a link: the packet's bytes, then `zeros` zero bytes, and for a
 * PUBLISH its message's tag. */
typedef struct {
    msgrec *tag;
    uint32_t len;
    uint64_t zeros;
    uint8_t bytes[];
} frame;

struct mq_net {
    mq_net_config cfg;
    sim_sched *sched;
    mq_broker *broker;
    mq_metrics *metrics;
    mq_net_hooks hooks;
    bool has_hooks;
    client *clients;
    size_t n;
    size_t n_ready;
    bool publishing, failed;
    char why[200];          /* what failed, when failed is set after setup */
    sim_event_id end_ev;
    sim_event_id broker_ev; /* the broker's own timer (session expiry) */
    int64_t broker_at;
    uint64_t next_msg_id;
    uint64_t live, peak_live;
    uint64_t arrivals;      /* frames delivered, for progress reports */
    mq_net_stats st;
};

static void fail(mq_net *net, const char *why)
{
    if (!net->failed)
        snprintf(net->why, sizeof net->why, "%s", why);
    net->failed = true;
    sim_sched_stop(net->sched);
}

/* ---- tags ------------------------------------------------------------- */

static void tag_ref(void *t)
{
    ((msgrec *)t)->refs++;
}

static void tag_unref(void *t)
{
    msgrec *r = t;
    if (--r->refs == 0) {
        r->pub->cli.net->live--;
        free(r);
    }
}

static const mq_tag_ops tag_ops = {tag_ref, tag_unref};

static uint64_t tag_id(const msgrec *r)
{
    return r ? r->id : 0;
}

static msgrec *tag_of(const mq_msg *m)
{
    return m ? m->tag : NULL;
}

/* The frame's tag is what the engine gets for the PUBLISH it decodes. */
static void *io_tag(void *ctx, uint64_t rx_offset)
{
    endpoint *e = ctx;
    (void)rx_offset;
    return e->rx_tag;
}

/* ---- the datagram transport: one frame per packet on a link ------------- */

static void frame_free(frame *f)
{
    if (f->tag)
        tag_unref(f->tag);
    free(f);
}

static void release_frame(void *ctx, void *fr)
{
    (void)ctx;
    frame_free(fr);
}

static int dg_send(endpoint *e, const uint8_t *buf, size_t len, uint64_t zeros, void *tag)
{
    frame *f = malloc(sizeof *f + len);
    if (!f)
        return -1;
    f->tag = tag;
    f->len = (uint32_t)len;
    f->zeros = zeros;
    memcpy(f->bytes, buf, len);
    if (tag)
        tag_ref(tag);
    int rc = sim_link_send(e->out, f, len + zeros);
    if (rc <= 0)
        frame_free(f);
    return rc;
}

static void dg_release(endpoint *e)
{
    sim_link_release(e->out, release_frame, NULL);
}

static const transport_ops datagram = {dg_send, dg_release};

static void on_arrive(void *ctx, void *fr, size_t bytes)
{
    endpoint *e = ctx;
    frame *f = fr;
    (void)bytes;
    mq_net *net = e->net;
    int64_t now = sim_sched_now(net->sched);
    net->st.t_last = now;
    e->rx_tag = f->tag;
    if (e->broker_side)
        mq_broker_conn_frame(net->broker, e->s, now, f->bytes, f->len, f->zeros);
    else
        mq_session_on_frame(e->s, now, f->bytes, f->len, f->zeros);
    e->rx_tag = NULL;
    frame_free(f);
    /* Progress is reported from the frame path, not from events of its own,
     * so watching a run cannot change its event count. */
    if (net->has_hooks && net->hooks.progress && (++net->arrivals & 0xffff) == 0)
        net->hooks.progress(net->hooks.ctx, now, net->publishing ? net->st.t_ready : -1,
                            net->cfg.duration);
}

/* ---- session callbacks (both ends) ------------------------------------ */

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
            if (c->per_group[s])
                mq_metrics_wire_group(net->metrics, c->cfg->qos, s,
                                      (double)c->per_group[s] / (double)c->n_targets, len, resend);
        return;
    }
    uint8_t code = 0;
    if (v->type == MQ_PUBLISH) {
        const msgrec *r = tag_of(m);
        if (!r)
            return;
        int32_t ord = r->pub->target_of[c->idx];
        if (ord < 0)
            return;
        code = (uint8_t)(1 + 3 * r->pub->cfg->qos + r->pub->targets[ord].sub_qos);
        if (v->qos > 0) {
            if (!c->grp && !(c->grp = calloc(65536, 1))) {
                fail(net, "out of memory");
                return;
            }
            c->grp[v->id] = code;
        }
    } else if (c->grp) {
        code = c->grp[v->id];
    }
    if (code)
        mq_metrics_wire_group(net->metrics, (uint8_t)((code - 1) / 3), (uint8_t)((code - 1) % 3),
                              1.0, len, resend);
}

/* The trace hook takes the codec's packet struct; only traces pay for it. */
static void hook_packet(mq_net *net, int64_t now, endpoint *e, const mq_view *v, msgrec *r,
                        bool lost)
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
    net->hooks.packet(net->hooks.ctx, now, e->c->idx, !e->broker_side, &p, tag_id(r), lost);
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
    int rc = e->tr->send(e, buf, len, zeros, r);
    if (rc < 0) {
        /* Out of memory: the run cannot be told honestly, so it fails. */
        fail(net, "out of memory");
        return;
    }
    if (net->has_hooks && net->hooks.packet)
        hook_packet(net, now, e, v, r, rc == 0);
    if (rc == 0)
        mq_metrics_link_loss(net->metrics, v->type);
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
}

static void report_drop(mq_net *net, endpoint *e, mq_msg *m, mq_drop_reason why)
{
    mq_metrics_drop(net->metrics, why);
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
 * end of the client whose session it is. */
static void broker_drop(void *ctx, void *user, mq_msg *m, uint8_t qos, mq_drop_reason why)
{
    (void)qos;
    report_drop(ctx, user, m, why);
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
    }
}

static void on_event(void *ctx, mq_event ev, const mq_view *v)
{
    endpoint *e = ctx;
    (void)v;
    mq_metrics_event(e->net->metrics, ev);
    if (ev == MQ_EV_NOMEM)
        fail(e->net, "out of memory");
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

static void on_connected(void *ctx, bool present)
{
    endpoint *e = ctx;
    const mq_net_client *cc = e->c->cfg;
    (void)present;
    if (cc->publisher || cc->n_subs == 0) {
        client_ready(e);
        return;
    }
    int rc = mq_session_subscribe(e->s, sim_sched_now(e->net->sched), cc->subs, cc->n_subs);
    if (rc != 0) {
        char why[200];
        snprintf(why, sizeof why, "%s could not subscribe (error %d)", cc->name, rc);
        fail(e->net, why);
    }
}

static void on_subscribed(void *ctx, const uint8_t *codes, size_t n)
{
    endpoint *e = ctx;
    for (size_t i = 0; i < n; i++)
        if (codes[i] & 0x80) {
            char why[200];
            snprintf(why, sizeof why, "the broker refused subscription %zu of %s (code 0x%02x)",
                     i, e->c->cfg->name, codes[i]);
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
    int32_t ord = r->pub->target_of[e->c->idx];
    if (ord < 0) {
        char why[200];
        snprintf(why, sizeof why, "%s got message %llu, which no subscription of its matches",
                 e->c->cfg->name, (unsigned long long)r->id);
        fail(net, why);
        return;
    }
    uint8_t p = r->pub->cfg->qos, s = r->pub->targets[ord].sub_qos;
    if (v->qos != (p < s ? p : s)) {
        char why[200];
        snprintf(why, sizeof why, "%s got message %llu at QoS %u, not min(%u, %u)",
                 e->c->cfg->name, (unsigned long long)r->id, v->qos, p, s);
        fail(net, why);
        return;
    }
    bool first = r->counts[ord] == 0;
    if (r->counts[ord] < UINT16_MAX)
        r->counts[ord]++;
    mq_metrics_delivery(net->metrics, p, s, first, now - r->t_pub);
    if (net->has_hooks && net->hooks.deliver)
        net->hooks.deliver(net->hooks.ctx, now, e->c->idx, r->id, v->qos, first);
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
    msgrec *r = calloc(1, sizeof *r + c->n_targets * sizeof r->counts[0]);
    if (!r) {
        fail(net, "out of memory");
        return;
    }
    r->refs = 1;
    r->pub = c;
    r->id = ++net->next_msg_id;
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
    int rc = mq_msg_new(cc->topic, strlen(cc->topic), head, hn, cc->payload_bytes, false, r,
                        &tag_ops, &m);
    tag_unref(r); /* the message holds the tag now (or nothing does) */
    if (rc == 0) {
        net->st.messages++;
        c->k++;
        for (int q = 0; q < 3; q++)
            mq_metrics_expect(net->metrics, cc->qos, (uint8_t)q, c->per_group[q]);
        if (net->has_hooks && net->hooks.publish)
            net->hooks.publish(net->hooks.ctx, now, c->idx, r->id, cc->qos);
        rc = mq_session_publish(c->cli.s, now, m, cc->qos);
        mq_msg_unref(m);
    }
    if (rc < 0) {
        char why[200];
        snprintf(why, sizeof why, "%s could not publish on \"%.60s\" (%s)", cc->name, cc->topic,
                 rc == MQ_ERR_NOMEM ? "out of memory" : mq_codec_strerror(rc));
        fail(net, why);
        return;
    }

    if (net->cfg.max_messages && net->st.messages >= net->cfg.max_messages) {
        stop_publishing(net);
        return;
    }
    if (cc->poisson)
        c->next_at = now + sim_from_ms(gsl_ran_exponential(c->rng_arrival, 1000.0 / cc->rate_hz));
    else
        c->next_at = c->first_at + (int64_t)c->k * c->period; /* no drift */
    sim_sched_at(s, c->next_at, publish_one, c);
}

static void start_publishing(mq_net *net)
{
    int64_t now = sim_sched_now(net->sched);
    net->publishing = true;
    net->st.t_ready = now;
    for (size_t i = 0; i < net->n; i++) {
        client *c = &net->clients[i];
        const mq_net_client *cc = c->cfg;
        if (!cc->publisher)
            continue;
        int64_t first;
        if (cc->poisson) {
            first = now + sim_from_ms(gsl_ran_exponential(c->rng_arrival, 1000.0 / cc->rate_hz));
        } else {
            /* A random phase within one period keeps publishers of equal rate
             * from firing in lockstep. */
            c->period = (int64_t)(1e9 / cc->rate_hz + 0.5);
            if (c->period < 1)
                c->period = 1;
            first = now + (int64_t)(gsl_rng_uniform(c->rng_arrival) * (double)c->period);
        }
        c->first_at = c->next_at = first;
        sim_sched_at(net->sched, first, publish_one, c);
    }
    net->end_ev = sim_sched_after(net->sched, net->cfg.duration, publish_end, net);
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

static void endpoint_init(endpoint *e, mq_net *net, client *c, bool broker_side)
{
    e->net = net;
    e->c = c;
    e->broker_side = broker_side;
    e->want_at = MQ_NEVER;
    e->tr = &datagram;
}

static mq_session_io endpoint_io(endpoint *e)
{
    mq_session_io io = {
        .ctx = e, .send = on_send, .deliver = on_deliver, .timer = on_timer,
        .drop = on_drop, .event = on_event, .connected = on_connected,
        .subscribed = on_subscribed, .tag = io_tag, .tag_ops = &tag_ops,
    };
    return io;
}

/* True when a later entry of the same SUBSCRIBE names the same filter: the
 * broker replaces a subscription to an identical filter (MQTT 3.8.4), so the
 * last one counts. */
static bool superseded(const mq_net_client *sc, size_t k)
{
    for (size_t j = k + 1; j < sc->n_subs; j++)
        if (sc->subs[j].len == sc->subs[k].len &&
            memcmp(sc->subs[j].filter, sc->subs[k].filter, sc->subs[k].len) == 0)
            return true;
    return false;
}

/* Fills a publisher's targets: every subscriber with a matching filter, at
 * the highest QoS among its matching filters. */
static int build_targets(mq_net *net, client *c)
{
    const mq_net_client *cc = c->cfg;
    size_t tlen = strlen(cc->topic);
    c->target_of = malloc(net->n * sizeof *c->target_of);
    c->targets = malloc(net->n * sizeof *c->targets);
    if (!c->target_of || !c->targets)
        return -1;
    for (size_t j = 0; j < net->n; j++) {
        const mq_net_client *sc = net->clients[j].cfg;
        int best = -1;
        c->target_of[j] = -1;
        if (sc->publisher)
            continue;
        for (size_t k = 0; k < sc->n_subs; k++)
            if (!superseded(sc, k) &&
                mq_topic_match(sc->subs[k].filter, sc->subs[k].len, cc->topic, tlen) &&
                sc->subs[k].qos > best)
                best = sc->subs[k].qos;
        if (best < 0)
            continue;
        c->target_of[j] = (int32_t)c->n_targets;
        c->targets[c->n_targets++] = (target){.sub = (int)j, .sub_qos = (uint8_t)best};
        c->per_group[best]++;
    }
    return 0;
}

mq_net *mq_net_new(const mq_net_config *cfg, const mq_net_client *clients, size_t n,
                   mq_metrics *metrics, const mq_net_hooks *hooks, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++)
        if (clients[i].transport != MQ_TRANSPORT_DATAGRAM) {
            snprintf(err, errlen, "%s: the stream transport is not built yet", clients[i].name);
            return NULL;
        }
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
    net->n = n;
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
    mq_broker_io bio = {.ctx = net, .drop = broker_drop, .timer = broker_timer};
    net->broker = mq_broker_new(&bc, &bio);
    net->clients = calloc(n ? n : 1, sizeof *net->clients);
    if (!net->sched || !net->broker || !net->clients)
        goto oom;

    char name[256];
    for (size_t i = 0; i < n; i++) {
        client *c = &net->clients[i];
        const mq_net_client *cc = &clients[i];
        c->idx = (int)i;
        c->cfg = cc;
        endpoint_init(&c->cli, net, c, false);
        endpoint_init(&c->brk, net, c, true);
        snprintf(name, sizeof name, "%s.up", cc->name);
        c->rng_up = sim_rng_new(cfg->seed, cfg->rep, name);
        snprintf(name, sizeof name, "%s.down", cc->name);
        c->rng_down = sim_rng_new(cfg->seed, cfg->rep, name);
        snprintf(name, sizeof name, "%s.arrival", cc->name);
        c->rng_arrival = sim_rng_new(cfg->seed, cfg->rep, name);
        if (!c->rng_up || !c->rng_down || !c->rng_arrival)
            goto oom;
        c->up = sim_link_new(net->sched, &cc->up, c->rng_up, on_arrive, &c->brk);
        c->down = sim_link_new(net->sched, &cc->down, c->rng_down, on_arrive, &c->cli);
        if (!c->up || !c->down)
            goto oom;
        c->cli.out = c->up;
        c->brk.out = c->down;

        mq_session_config sc = {
            .role = MQ_ROLE_CLIENT, .version = cfg->version, .client_id = cc->name,
            .max_inflight = cfg->broker.max_inflight, .max_queued = cfg->broker.max_queued,
            .retry_interval = cc->retry_interval, .max_retries = cc->max_retries,
            .qos2_method = cc->qos2_method, .transport = cc->transport,
            .retransmit = cc->retransmit, .keepalive_s = cc->keepalive_s,
            /* The datagram model's CONNECT is the wave-1 one: CleanSession 1. */
            .clean_start = cc->transport == MQ_TRANSPORT_DATAGRAM ? true : cc->clean_start,
            .session_expiry_s = cc->session_expiry_s,
            .reconnect_initial = cc->reconnect_initial, .reconnect_max = cc->reconnect_max,
            .reconnect_jitter = cc->reconnect_jitter,
        };
        if (mq_session_config_check(&sc) != MQ_OK) {
            snprintf(err, errlen, "%s: settings the engine cannot run (client id, retry interval "
                     "%lld ns, reconnect times)", cc->name, (long long)sc.retry_interval);
            mq_net_free(net);
            return NULL;
        }
        mq_session_io io = endpoint_io(&c->cli);
        c->cli.s = mq_session_new(&sc, &io);
        mq_session_io bio2 = endpoint_io(&c->brk);
        bio2.connected = NULL;
        bio2.subscribed = NULL;
        /* Accepted in client order, so the broker's sessions are in client
         * order, which is the order it routes in. */
        c->brk.s = mq_broker_accept(net->broker, 0, MQ_TRANSPORT_DATAGRAM, &bio2);
        if (!c->cli.s || !c->brk.s)
            goto oom;
    }
    for (size_t i = 0; i < n; i++)
        if (clients[i].publisher && build_targets(net, &net->clients[i]) != 0)
            goto oom;
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

int mq_net_run(mq_net *net, mq_net_stats *st, char *err, size_t errlen)
{
    for (size_t i = 0; i < net->n; i++)
        if (mq_session_connect(net->clients[i].cli.s, 0) != 0) {
            snprintf(err, errlen, "%s: the client id is not valid UTF-8",
                     net->clients[i].cfg->name);
            return -1;
        }
    sim_sched_at(net->sched, net->cfg.setup_timeout, setup_timeout, net);
    sim_sched_run(net->sched);

    int64_t now = sim_sched_now(net->sched);
    /* Whatever is still held by a sender is lost to the run. */
    for (size_t i = 0; i < net->n; i++) {
        mq_session_finish(net->clients[i].cli.s, now);
        mq_session_finish(net->clients[i].brk.s, now);
    }
    mq_broker_finish(net->broker, now); /* sessions without a connection */
    for (size_t i = 0; i < net->n; i++) {
        client *c = &net->clients[i];
        c->cli.tr->release(&c->cli);
        c->brk.tr->release(&c->brk);
        stats_add(&net->st.up, sim_link_stats_get(c->up));
        stats_add(&net->st.down, sim_link_stats_get(c->down));
    }
    net->st.events = sim_sched_events_run(net->sched);
    net->st.peak_live_messages = net->peak_live;
    if (net->publishing)
        net->st.t_publish_end = now;
    *st = net->st;
    if (net->failed) {
        size_t waiting = net->n - net->n_ready;
        if (net->why[0])
            snprintf(err, errlen, "%s", net->why);
        else if (waiting)
            snprintf(err, errlen,
                     "%zu of %zu clients were not connected and subscribed after %.1f s of "
                     "simulated time (CONNECT/SUBSCRIBE kept being lost, or a SUBSCRIBE was refused)",
                     waiting, net->n, sim_to_s(net->cfg.setup_timeout));
        else
            snprintf(err, errlen, "the run failed (out of memory or a refused subscription)");
        return -1;
    }
    return 0;
}

void mq_net_free(mq_net *net)
{
    if (!net)
        return;
    for (size_t i = 0; i < net->n && net->clients; i++) {
        client *c = &net->clients[i];
        if (c->cli.s)
            mq_session_free(c->cli.s);
        if (c->up)
            sim_link_release(c->up, release_frame, NULL);
        if (c->down)
            sim_link_release(c->down, release_frame, NULL);
    }
    if (net->broker)
        mq_broker_free(net->broker);
    for (size_t i = 0; i < net->n && net->clients; i++) {
        client *c = &net->clients[i];
        if (c->up)
            sim_link_free(c->up);
        if (c->down)
            sim_link_free(c->down);
        if (c->rng_up)
            gsl_rng_free(c->rng_up);
        if (c->rng_down)
            gsl_rng_free(c->rng_down);
        if (c->rng_arrival)
            gsl_rng_free(c->rng_arrival);
        free(c->targets);
        free(c->target_of);
        free(c->grp);
    }
    free(net->clients);
    if (net->sched)
        sim_sched_free(net->sched);
    free(net);
}

uint64_t mq_net_live_messages(const mq_net *net)
{
    return net->live;
}
