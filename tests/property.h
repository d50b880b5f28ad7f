/* Random engine scenarios and their invariants, shared by the property test and the session fuzzer. */
#ifndef TESTS_PROPERTY_H
#define TESTS_PROPERTY_H

/*
 * Each scenario: a publisher P and two subscribers (S1 on "t/a", S2 on
 * "t/#", random subscription QoS), random protocol version and QoS 2
 * methods, over streams (kept sessions, keepalive 2 s, reconnect 200 ms to
 * 1 s) with random breaks (told to both ends, one, or neither), or over
 * datagrams (in order) with random loss. P publishes random QoS on "t/a"
 * at random moments; then everything runs for 120 s of quiet. Every choice
 * comes from the GSL generator the caller gives: a seeded one for
 * tests/test_property.c, one that reads the fuzzer's bytes for
 * tests/fuzz/session.c.
 *
 * Checked, at every step or from the record (a violation fails the cmocka
 * test, or, outside one, exits, which libFuzzer reports):
 *   - the engine's own invariants (mq_session_check, every step);
 *   - no packet identifier in two flows at once on a sender direction: a
 *     new PUBLISH (DUP=0) with identifier I only after the receiver
 *     answered the previous flow on I to its end (PUBACK, or PUBCOMP);
 *   - no PUBLISH after PUBREL for that identifier, and no DUP=1 PUBLISH of
 *     another message than the flow's own;
 *   - QoS 2 never delivered twice to a subscriber (in-order transports,
 *     kept sessions), and every message published at QoS >= 1 reaches every
 *     subscriber that takes it at QoS >= 1 (unlimited retries and queues,
 *     sessions never lost);
 *   - every tag reference returned once everything is finished.
 * Sessions are never lost here (no clean start, no expiry, no restart), so
 * a flow ends only by its acknowledgement: that is what makes the second
 * rule checkable from the wire.
 */

#include "tests/scenario.h"

#include <gsl/gsl_rng.h>

#define MAX_MSGS 64

typedef struct {
    gsl_rng *r;
    double p;
} lossy;

static inline bool lose_some(void *ctx, const char *dir, const mq_view *v)
{
    (void)dir;
    (void)v;
    lossy *l = ctx;
    return gsl_rng_uniform(l->r) < l->p;
}

/* Per sender direction and identifier: the flow the wire shows. */
typedef struct {
    uint8_t state;  /* 0: none, 1: PUBLISH seen, 2: PUBREL seen */
    uint8_t qos;
    bool done;      /* the receiver answered it to its end */
    uint64_t msg;
} wflow;

typedef struct {
    char dir[20];
    wflow *f;       /* 65536 */
} wdir;

static inline const char *reverse(const char *dir, char *out, size_t cap)
{
    const char *gt = strchr(dir, '>');
    snprintf(out, cap, "%s>%.*s", gt + 1, (int)(gt - dir), dir);
    return out;
}

static inline wflow *flows_of(wdir *d, size_t *n, const char *dir)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(d[i].dir, dir) == 0)
            return d[i].f;
    assert_true(*n < 8);
    snprintf(d[*n].dir, sizeof d[*n].dir, "%s", dir);
    d[*n].f = calloc(65536, sizeof *d[*n].f);
    assert_non_null(d[*n].f);
    return d[(*n)++].f;
}

/* Walks the record and checks the wire rules; returns a description of the
 * first violation, or NULL. */
static inline const char *check_wire(const h_net *h, char *why, size_t cap)
{
    wdir d[8];
    size_t nd = 0;
    const char *bad = NULL;
    for (size_t i = 0; i < h->n_rec && !bad; i++) {
        const h_rec *r = &h->rec[i];
        if (r->kind != H_SEND || !r->id)
            continue;
        const char *dir = h->e[r->end].dir;
        char rev[20];
        if (r->type == MQ_PUBLISH || r->type == MQ_PUBREL) {
            wflow *f = &flows_of(d, &nd, dir)[r->id];
            if (r->type == MQ_PUBREL) {
                if (f->state == 0 || f->qos != 2)
                    bad = "PUBREL for no QoS 2 flow";
                f->state = 2;
            } else if (!r->dup) {
                if (f->state != 0 && !f->done)
                    bad = "identifier in two flows at once";
                *f = (wflow){1, r->qos, false, r->msg};
            } else if (f->state == 2) {
                bad = "PUBLISH after PUBREL";
            } else if (f->state == 1 && f->msg != r->msg) {
                bad = "DUP PUBLISH of another message";
            }
        } else if (r->type == MQ_PUBACK || r->type == MQ_PUBCOMP) {
            wflow *f = &flows_of(d, &nd, reverse(dir, rev, sizeof rev))[r->id];
            if ((r->type == MQ_PUBACK && f->state == 1 && f->qos == 1) ||
                (r->type == MQ_PUBCOMP && f->state == 2))
                f->done = true;
        }
        if (bad)
            snprintf(why, cap, "%s: %s on %s id %u at t%lld", bad, mq_type_name(r->type), dir,
                     r->id, (long long)(r->t / 1000000));
    }
    for (size_t i = 0; i < nd; i++)
        free(d[i].f);
    return bad ? why : NULL;
}

/* What the scenarios did, printed so that a run shows it tested something. */
static struct {
    size_t scenarios, stream, published, got, resends, breaks, lost, dup_got;
} totals;

typedef struct {
    uint8_t pub_qos[MAX_MSGS + 1];
    size_t n;
} published;

static inline void one_scenario(gsl_rng *r, int k)
{
    bool stream = gsl_rng_uniform(r) < 0.7;
    uint8_t version = gsl_rng_uniform(r) < 0.5 ? MQ_V311 : MQ_V5;
    mq_qos2_method bm = gsl_rng_uniform(r) < 0.5 ? MQ_QOS2_A : MQ_QOS2_B;
    mq_qos2_method sm = gsl_rng_uniform(r) < 0.5 ? MQ_QOS2_A : MQ_QOS2_B;
    mq_session_config b = h_cfg(version, bm);
    b.max_inflight = (uint32_t)gsl_rng_uniform_int(r, 4); /* 0 (unlimited) .. 3 */
    mq_session_config c = stream ? h_stream_cfg(version, sm) : h_cfg(version, sm);
    if (stream) {
        c.keepalive_s = 2;
        c.reconnect_initial = H_MS(200);
        c.reconnect_max = H_MS(1000);
        c.session_expiry_s = version == MQ_V5 ? 0xFFFFFFFFu : 0;
        if (gsl_rng_uniform(r) < 0.3)
            c.retransmit = MQ_RETRANSMIT_TIMER;
    }
    c.max_inflight = (uint32_t)gsl_rng_uniform_int(r, 4);
    h_net *h = h_new(&b, MAX_MSGS);
    h->check = true;
    h_client(h, "P", &c);
    h_client(h, "S1", &c);
    h_client(h, "S2", &c);
    uint8_t q1 = (uint8_t)gsl_rng_uniform_int(r, 3), q2 = (uint8_t)gsl_rng_uniform_int(r, 3);
    mq_sub s1 = {"t/a", 3, q1}, s2 = {"t/#", 3, q2};
    for (int i = 0; i < h->n_ends; i += 2)
        assert_int_equal(mq_session_connect(h->e[i].s, h->now), 0);
    assert_int_equal(mq_session_subscribe(h_csess(h, "S1"), h->now, &s1, 1), 0);
    assert_int_equal(mq_session_subscribe(h_csess(h, "S2"), h->now, &s2, 1), 0);
    h_run_until(h, 200);
    assert_int_equal(h_find(h, "S1")->subscribed, 1);
    assert_int_equal(h_find(h, "S2")->subscribed, 1);
    lossy l = {r, stream ? 0 : 0.3 * gsl_rng_uniform(r)};
    if (!stream) {
        h->lose = lose_some;
        h->lose_ctx = &l;
    }
    h_clear(h);
    static const char *const names[] = {"P", "S1", "S2"};
    published pub = {{0}, 0};
    int64_t t = 0;
    int steps = 10 + (int)gsl_rng_uniform_int(r, 30);
    for (int i = 0; i < steps; i++) {
        t += (int64_t)gsl_rng_uniform_int(r, 300);
        h_run_until(h, t);
        double u = gsl_rng_uniform(r);
        if (u < 0.7 && pub.n < MAX_MSGS) {
            uint8_t q = (uint8_t)gsl_rng_uniform_int(r, 3);
            h_publish(h, "P", "t/a", q);
            pub.pub_qos[++pub.n] = q;
        } else if (stream) {
            const char *who = names[gsl_rng_uniform_int(r, 3)];
            h_end *e = h_find(h, who);
            if (e->conn && e->conn->up[0])
                h_break(h, who, (int)gsl_rng_uniform_int(r, 4), MQ_DOWN_RST);
        }
    }
    h->lose = NULL; /* and the drain heals every link */
    h_run_until(h, t + 120000);

    char why[200];
    const char *bad = check_wire(h, why, sizeof why);
    if (!bad) {
        static const char *const subs[] = {"S1", "S2"};
        const uint8_t sq[2] = {q1, q2};
        for (int s = 0; s < 2 && !bad; s++)
            for (uint64_t m = 1; m <= pub.n && !bad; m++) {
                size_t got = 0, got2 = 0;
                for (size_t i = 0; i < h->n_rec; i++) {
                    const h_rec *x = &h->rec[i];
                    if (x->kind == H_GOT && x->msg == m && strcmp(h->e[x->end].name, subs[s]) == 0) {
                        got++;
                        got2 += x->qos == 2;
                    }
                }
                uint8_t q = pub.pub_qos[m] < sq[s] ? pub.pub_qos[m] : sq[s];
                if (got2 > 1) {
                    snprintf(why, sizeof why, "%s got m%llu %zu times at QoS 2", subs[s],
                             (unsigned long long)m, got2);
                    bad = why;
                } else if (q >= 1 && got == 0) {
                    snprintf(why, sizeof why, "%s never got m%llu (QoS %u)", subs[s],
                             (unsigned long long)m, q);
                    bad = why;
                }
            }
    }
    for (int i = 0; i < h->n_ends && !bad; i += 2)
        if (!mq_session_idle(h->e[i].s)) {
            snprintf(why, sizeof why, "%s still busy after the drain", h->e[i].name);
            bad = why;
        }
    if (bad) {
        h_print(h);
        fail_msg("scenario %d (%s, v%u, methods %c%c, sub QoS %u %u): %s", k,
                 stream ? "stream" : "datagram", version, bm == MQ_QOS2_A ? 'A' : 'B',
                 sm == MQ_QOS2_A ? 'A' : 'B', q1, q2, bad);
    }
    totals.scenarios++;
    totals.stream += stream;
    totals.published += pub.n;
    for (size_t i = 0; i < h->n_rec; i++) {
        const h_rec *x = &h->rec[i];
        totals.got += x->kind == H_GOT;
        totals.resends += x->kind == H_SEND && x->resend;
        totals.breaks += x->kind == H_DOWN;
        totals.lost += x->kind == H_SEND && x->lost;
        totals.dup_got += x->kind == H_GOT && x->dup;
    }
    h_close_all(h);
    h_drop_transit(h);
    h_check_refs(h);
    h_free(h);
}

#endif
