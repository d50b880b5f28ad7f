/* Delivery accounting of runs on real sockets: publishers by id prefix, per-pair bitmaps, groups into mq_metrics. */
#include "experiments/tally.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "models/topic.h"

typedef struct {
    uint32_t prefix;
    char *topic;
    uint8_t qos;
    uint64_t published;
} pubinfo;

typedef struct {
    mq_sub *subs;
    size_t n;
    char *text;
} subinfo;

/* One (subscriber, publisher) pair. */
typedef struct {
    int8_t sub_qos;        /* -2: not worked out yet; -1: no filter matches */
    uint8_t *bits;         /* sequence numbers delivered at least once */
    uint64_t cap;          /* bits */
    uint64_t max_seq;      /* highest sequence number first-delivered */
} pairinfo;

struct exp_tally {
    pubinfo *pub;
    size_t n_pub, cap_pub;
    subinfo *sub;
    size_t n_sub, cap_sub;
    pairinfo *pair;        /* n_sub x n_pub, made at the first delivery */
    int *by_prefix;        /* publisher indices sorted by prefix */
    exp_tally_extra x;
};

uint32_t exp_tally_prefix(const char *client_id)
{
    uint32_t h = 2166136261u;
    for (const char *p = client_id; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h ? h : 1;
}

exp_tally *exp_tally_new(void)
{
    return calloc(1, sizeof(exp_tally));
}

void exp_tally_free(exp_tally *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_pub; i++)
        free(t->pub[i].topic);
    for (size_t i = 0; i < t->n_sub; i++) {
        free(t->sub[i].subs);
        free(t->sub[i].text);
    }
    if (t->pair)
        for (size_t i = 0; i < t->n_sub * t->n_pub; i++)
            free(t->pair[i].bits);
    free(t->pair);
    free(t->by_prefix);
    free(t->pub);
    free(t->sub);
    free(t);
}

static int grow(void **p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? 2 * *cap : 8;
    void *q = realloc(*p, c * size);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

int exp_tally_add_publisher(exp_tally *t, uint32_t prefix, const char *topic, uint8_t qos)
{
    assert(!t->pair && qos <= 2);
    for (size_t i = 0; i < t->n_pub; i++)
        if (t->pub[i].prefix == prefix)
            return -2;
    if (grow((void **)&t->pub, &t->cap_pub, t->n_pub, sizeof *t->pub))
        return -1;
    char *tp = strdup(topic);
    if (!tp)
        return -1;
    t->pub[t->n_pub] = (pubinfo){prefix, tp, qos, 0};
    return (int)t->n_pub++;
}

void exp_tally_set_published(exp_tally *t, int pub, uint64_t n)
{
    assert(pub >= 0 && (size_t)pub < t->n_pub);
    t->pub[pub].published = n;
}

int exp_tally_add_subscriber(exp_tally *t, const mq_sub *subs, size_t n)
{
    assert(!t->pair);
    if (grow((void **)&t->sub, &t->cap_sub, t->n_sub, sizeof *t->sub))
        return -1;
    size_t bytes = 1;
    for (size_t i = 0; i < n; i++)
        bytes += subs[i].len + 1u;
    subinfo si = {calloc(n ? n : 1, sizeof *si.subs), n, malloc(bytes)};
    if (!si.subs || !si.text) {
        free(si.subs);
        free(si.text);
        return -1;
    }
    char *p = si.text;
    for (size_t i = 0; i < n; i++) {
        memcpy(p, subs[i].filter, subs[i].len);
        p[subs[i].len] = '\0';
        si.subs[i] = (mq_sub){p, subs[i].len, subs[i].qos};
        p += subs[i].len + 1;
    }
    t->sub[t->n_sub] = si;
    return (int)t->n_sub++;
}

int exp_tally_sub_qos(const exp_tally *t, int sub, const char *topic, size_t len)
{
    const subinfo *si = &t->sub[sub];
    int q = -1;
    for (size_t i = 0; i < si->n; i++)
        if (si->subs[i].qos > q && mq_topic_match(si->subs[i].filter, si->subs[i].len, topic, len))
            q = si->subs[i].qos;
    return q;
}

static const exp_tally *sort_ctx;

static int by_prefix_cmp(const void *a, const void *b)
{
    uint32_t x = sort_ctx->pub[*(const int *)a].prefix, y = sort_ctx->pub[*(const int *)b].prefix;
    return x < y ? -1 : x > y;
}

/* The pair table and the prefix index, once every client is known. */
static int freeze(exp_tally *t)
{
    t->pair = calloc(t->n_sub * t->n_pub + 1, sizeof *t->pair);
    t->by_prefix = calloc(t->n_pub + 1, sizeof *t->by_prefix);
    if (!t->pair || !t->by_prefix) {
        free(t->pair);
        free(t->by_prefix);
        t->pair = NULL;
        t->by_prefix = NULL;
        return -1;
    }
    for (size_t i = 0; i < t->n_sub * t->n_pub; i++)
        t->pair[i].sub_qos = -2;
    for (size_t i = 0; i < t->n_pub; i++)
        t->by_prefix[i] = (int)i;
    sort_ctx = t;
    qsort(t->by_prefix, t->n_pub, sizeof *t->by_prefix, by_prefix_cmp);
    sort_ctx = NULL;
    return 0;
}

static int find_pub(const exp_tally *t, uint32_t prefix)
{
    size_t lo = 0, hi = t->n_pub;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        uint32_t p = t->pub[t->by_prefix[mid]].prefix;
        if (p == prefix)
            return t->by_prefix[mid];
        if (p < prefix)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int exp_tally_delivery(exp_tally *t, mq_metrics *m, int sub, uint64_t msg_id, uint8_t qos,
                       int64_t latency_ns)
{
    assert(sub >= 0 && (size_t)sub < t->n_sub);
    if (!t->pair && freeze(t))
        return -1;
    uint64_t seq = msg_id & 0xffffffffu;
    int pub = find_pub(t, (uint32_t)(msg_id >> 32));
    if (pub < 0 || seq == 0) {
        t->x.unknown++;
        return EXP_TALLY_UNKNOWN;
    }
    const pubinfo *pi = &t->pub[pub];
    pairinfo *pr = &t->pair[(size_t)sub * t->n_pub + (size_t)pub];
    if (pr->sub_qos == -2)
        pr->sub_qos = (int8_t)exp_tally_sub_qos(t, sub, pi->topic, strlen(pi->topic));
    if (pr->sub_qos < 0) {
        t->x.unmatched++;
        return EXP_TALLY_UNMATCHED;
    }
    if (seq >= pr->cap) {
        uint64_t cap = pr->cap ? pr->cap : 1024;
        while (cap <= seq)
            cap *= 2;
        uint8_t *b = realloc(pr->bits, (size_t)(cap / 8));
        if (!b)
            return -1;
        memset(b + pr->cap / 8, 0, (size_t)((cap - pr->cap) / 8));
        pr->bits = b;
        pr->cap = cap;
    }
    uint8_t p = pi->qos, s = (uint8_t)pr->sub_qos;
    if (qos != (p < s ? p : s))
        t->x.qos_mismatch[p][s]++;
    uint8_t bit = (uint8_t)(1u << (seq & 7));
    bool first = !(pr->bits[seq / 8] & bit);
    pr->bits[seq / 8] |= bit;
    if (first) {
        if (seq < pr->max_seq) {
            t->x.out_of_order[p][s]++;
            mq_metrics_out_of_order(m, p, s); /* results.json's out_of_order, as run's */
        } else
            pr->max_seq = seq;
    }
    mq_metrics_delivery(m, p, s, first, latency_ns);
    return first ? EXP_TALLY_FIRST : EXP_TALLY_DUP;
}

void exp_tally_expect(const exp_tally *t, mq_metrics *m)
{
    for (size_t j = 0; j < t->n_pub; j++) {
        const pubinfo *pi = &t->pub[j];
        uint32_t n[3] = {0, 0, 0};
        for (size_t i = 0; i < t->n_sub; i++) {
            int q = exp_tally_sub_qos(t, (int)i, pi->topic, strlen(pi->topic));
            if (q >= 0)
                n[q]++;
        }
        for (uint64_t k = 0; k < pi->published; k++)
            for (uint8_t s = 0; s < 3; s++)
                mq_metrics_expect(m, pi->qos, s, n[s]);
    }
}

void exp_tally_extra_get(const exp_tally *t, exp_tally_extra *x)
{
    *x = t->x;
}
