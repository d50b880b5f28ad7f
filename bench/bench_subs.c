/* Subscription-index benchmark: the broker's routing cost and memory per subscription, against a brute-force scan. */
#define _DEFAULT_SOURCE /* wait4 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gsl/gsl_rng.h>

#include "bench/bench.h"
#include "models/broker.h"
#include "models/codec.h"
#include "models/subs.h"
#include "models/topic.h"

/*
 * Everything goes through the broker's public API, with no config and no
 * simulator: clients are added with a send callback that only counts, and
 * subscribe with mq_broker_subscribe.
 *
 * - route: mq_broker_route, the index's answer alone;
 * - forward: a QoS 0 PUBLISH handed to a publisher's broker-side session,
 *   which the broker forwards through every matching subscriber's session
 *   (encode and send callback included);
 * - brute force: the broker's routing before the index, kept here as the
 *   reference: every client's filters scanned with mq_topic_match, the
 *   highest matching QoS per client. Its answers are compared with the
 *   index's, and the run fails if they differ.
 *
 * Scenarios:
 *   fan-out  10,000 subscribers on one exact topic;
 *   fleet    100,000 subscribers with 10 wildcard filters each, 1,000
 *            publishers' topics "site/<s>/dev/<d>/temp" (100 sites x 10
 *            devices); filters mostly about one device, a few site-wide;
 *   ratio    the fleet's shape at 1,000 subscribers: index against brute
 *            force, both timed in REPS turns taking turns going first, the
 *            best of each counting (the machine is shared);
 *   pair     one subscriber with one wildcard filter, likewise: the cost
 *            of the index where it has nothing to win.
 * Each scenario runs in a child process so its memory is its own. Times
 * are CPU times. Memory per subscription: the index's own count of what it
 * allocated (mq_subs_bytes of an index built alongside with the same
 * subscriptions), and the growth of resident memory while the broker
 * subscribed (which includes the allocator's overhead).
 *
 * Usage: bench_subs. Exits 0 whether or not the index is faster: it is a
 * measurement; it exits 1 if index and brute force disagree.
 */

#define REPS 5

/* Current resident set, KiB. */
static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &res) != 2)
        res = 0;
    fclose(f);
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- a broker with counting hosts --------------------------------------- */

typedef struct {
    uint64_t packets, bytes;
} sink;

static void io_send(void *ctx, const uint8_t *buf, size_t len, uint64_t zeros, const mq_view *v,
                    mq_msg *m, bool resend)
{
    (void)buf, (void)zeros, (void)v, (void)m, (void)resend;
    sink *k = ctx;
    k->packets++;
    k->bytes += len;
}

static void io_timer(void *ctx, int64_t at)
{
    (void)ctx, (void)at;
}

/* One client's filters, for the brute-force reference. */
typedef struct {
    const char **f;
    uint16_t *len;
    uint8_t *qos;
    size_t n;
} ref_client;

typedef struct {
    mq_broker *b;
    mq_session **ctx;      /* each client's connection context at the broker */
    mq_subs *mirror;       /* the same subscriptions, to read the index's size */
    sink k;
    size_t n_subscribers;  /* clients 0..n-1 subscribe; publishers follow */
    int first_pub;
    size_t n_pubs;
    ref_client *ref;
    size_t n_subs;
    double subscribe_s;    /* CPU time of the broker's subscribes */
    long rss_sub_kib;      /* resident growth during them */
    char *arena;           /* filter strings */
    size_t arena_used, arena_cap;
} world;

static const char *keep(world *w, const char *s)
{
    size_t n = strlen(s) + 1;
    if (w->arena_used + n > w->arena_cap) {
        fprintf(stderr, "bench_subs: filter arena full\n");
        exit(1);
    }
    char *p = w->arena + w->arena_used;
    memcpy(p, s, n);
    w->arena_used += n;
    return p;
}

static world *world_new(size_t n_subscribers, size_t n_pubs, size_t filters_each)
{
    world *w = calloc(1, sizeof *w);
    mq_session_config cfg = {
        .role = MQ_ROLE_BROKER, .version = MQ_V311, .retry_interval = 200000000,
        .max_retries = -1, .qos2_method = MQ_QOS2_A,
    };
    w->b = mq_broker_new(&cfg, NULL);
    w->ctx = calloc(n_subscribers + n_pubs, sizeof *w->ctx);
    w->mirror = mq_subs_new();
    w->ref = calloc(n_subscribers, sizeof *w->ref);
    w->arena_cap = n_subscribers * filters_each * 32 + 64;
    w->arena = malloc(w->arena_cap);
    if (!w->b || !w->ctx || !w->mirror || !w->ref || !w->arena) {
        fprintf(stderr, "bench_subs: out of memory\n");
        exit(1);
    }
    mq_session_io io = {.ctx = &w->k, .send = io_send, .timer = io_timer};
    for (size_t i = 0; i < n_subscribers + n_pubs; i++) {
        /* A datagram context, bound to session i by its client's CONNECT. */
        w->ctx[i] = mq_broker_accept(w->b, 0, MQ_TRANSPORT_DATAGRAM, &io);
        char id[24];
        uint8_t buf[64];
        size_t used;
        mq_packet cp;
        memset(&cp, 0, sizeof cp);
        cp.type = MQ_CONNECT;
        cp.clean_start = true;
        cp.client_id = (mq_str){id, (uint16_t)snprintf(id, sizeof id, "c%zu", i)};
        if (!w->ctx[i] || mq_codec_encode(&cp, MQ_V311, buf, sizeof buf, &used) != MQ_OK) {
            fprintf(stderr, "bench_subs: could not add client %zu\n", i);
            exit(1);
        }
        mq_broker_conn_frame(w->b, w->ctx[i], 0, buf, used, 0);
        if (mq_broker_session_index(w->ctx[i]) != (int)i) {
            fprintf(stderr, "bench_subs: client %zu has no session %zu\n", i, i);
            exit(1);
        }
        if (i < n_subscribers) {
            ref_client *r = &w->ref[i];
            r->f = malloc(filters_each * sizeof *r->f);
            r->len = malloc(filters_each * sizeof *r->len);
            r->qos = malloc(filters_each * sizeof *r->qos);
            if (!r->f || !r->len || !r->qos) {
                fprintf(stderr, "bench_subs: out of memory\n");
                exit(1);
            }
        }
    }
    w->n_subscribers = n_subscribers;
    w->first_pub = (int)n_subscribers;
    w->n_pubs = n_pubs;
    return w;
}

/* Subscribes the filters gen writes, in client order, timing the broker's
 * part and its resident growth. */
typedef void (*gen_fn)(gsl_rng *r, size_t client, size_t k, char *out, uint8_t *qos);

static void world_subscribe(world *w, size_t filters_each, gen_fn gen)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 1);
    /* the filters first, so the broker's part is timed alone */
    for (size_t i = 0; i < w->n_subscribers; i++) {
        ref_client *c = &w->ref[i];
        for (size_t k = 0; k < filters_each; k++) {
            char f[64];
            uint8_t q;
            gen(r, i, k, f, &q);
            const char *s = keep(w, f);
            size_t j = 0; /* an identical filter replaces the QoS, as in the broker */
            while (j < c->n && strcmp(c->f[j], s) != 0)
                j++;
            if (j == c->n)
                c->n++;
            c->f[j] = s;
            c->len[j] = (uint16_t)strlen(s);
            c->qos[j] = q;
        }
    }
    gsl_rng_free(r);
    long rss0 = rss_kib();
    double t0 = bench_cpu_s();
    for (size_t i = 0; i < w->n_subscribers; i++) {
        const ref_client *c = &w->ref[i];
        for (size_t j = 0; j < c->n; j++)
            if (mq_broker_subscribe(w->b, (int)i, c->f[j], c->len[j], c->qos[j]) != c->qos[j]) {
                fprintf(stderr, "bench_subs: subscribe refused\n");
                exit(1);
            }
    }
    w->subscribe_s = bench_cpu_s() - t0;
    w->rss_sub_kib = rss_kib() - rss0;
    for (size_t i = 0; i < w->n_subscribers; i++) {
        const ref_client *c = &w->ref[i];
        for (size_t j = 0; j < c->n; j++)
            if (mq_subs_add(w->mirror, (uint32_t)i, c->f[j], c->len[j], c->qos[j]) < 0) {
                fprintf(stderr, "bench_subs: out of memory\n");
                exit(1);
            }
        w->n_subs += c->n;
    }
}

/* The broker's routing before the index: every client, every filter. */
static size_t brute_route(const world *w, const char *t, size_t tl, uint8_t pub_qos,
                          mq_route *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < w->n_subscribers; i++) {
        const ref_client *c = &w->ref[i];
        int best = -1;
        for (size_t j = 0; j < c->n; j++)
            if (c->qos[j] > best && mq_topic_match(c->f[j], c->len[j], t, tl))
                best = c->qos[j];
        if (best < 0)
            continue;
        if (k < cap)
            out[k] = (mq_route){(int)i, (uint8_t)(best < pub_qos ? best : pub_qos)};
        k++;
    }
    return k;
}

/* Fails the run unless index and brute force give the same routes. */
static void check_same(const world *w, const char *t, mq_route *a, mq_route *b, size_t cap)
{
    size_t tl = strlen(t);
    size_t na = mq_broker_route(w->b, t, tl, 2, a, cap);
    size_t nb = brute_route(w, t, tl, 2, b, cap);
    bool same = na == nb && na <= cap;
    for (size_t i = 0; same && i < na; i++) /* field by field: mq_route has padding */
        same = a[i].client == b[i].client && a[i].qos == b[i].qos;
    if (!same) {
        fprintf(stderr, "bench_subs: index and brute force differ on \"%s\" (%zu, %zu)\n", t, na,
                nb);
        exit(1);
    }
}

/* CPU seconds per message over n messages cycling through topics;
 * *routes gets the number of routes found. */
static double time_route(const world *w, bool brute, char **topics, size_t n_topics, size_t n,
                         mq_route *out, size_t cap, uint64_t *routes)
{
    uint64_t sum = 0;
    double t0 = bench_cpu_s();
    for (size_t i = 0; i < n; i++) {
        const char *t = topics[i % n_topics];
        size_t tl = strlen(t);
        sum += brute ? brute_route(w, t, tl, 1, out, cap) : mq_broker_route(w->b, t, tl, 1, out, cap);
    }
    double dt = bench_cpu_s() - t0;
    *routes = sum;
    return dt / (double)n;
}

/* A QoS 0 PUBLISH on topic, as its publisher's broker-side context gets it. */
typedef struct {
    uint8_t buf[128];
    size_t len;
} wire_msg;

static void make_publish(wire_msg *x, const char *topic, uint64_t id)
{
    mq_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQ_PUBLISH;
    p.qos = 0;
    p.topic = (mq_str){topic, (uint16_t)strlen(topic)};
    p.payload_len = 16;
    if (mq_codec_encode(&p, MQ_V311, x->buf, sizeof x->buf, &x->len) != MQ_OK) {
        fprintf(stderr, "bench_subs: cannot encode a PUBLISH on %s\n", topic);
        exit(1);
    }
    (void)id;
}

/* CPU seconds per message for n messages forwarded by the broker through
 * the subscribers' sessions; checks that every route was forwarded. */
static double time_forward(world *w, wire_msg *msgs, size_t n_topics, size_t n,
                           uint64_t expect_routes_per_cycle, uint64_t *forwarded)
{
    uint64_t f0 = mq_broker_forwarded(w->b), p0 = w->k.packets;
    double t0 = bench_cpu_s();
    for (size_t i = 0; i < n; i++) {
        wire_msg *x = &msgs[i % n_topics];
        int pub = w->first_pub + (int)(i % w->n_pubs);
        mq_broker_conn_frame(w->b, w->ctx[pub], (int64_t)i, x->buf, x->len, 0);
    }
    double dt = bench_cpu_s() - t0;
    *forwarded = mq_broker_forwarded(w->b) - f0;
    if (*forwarded != w->k.packets - p0 ||
        (n % n_topics == 0 && *forwarded != expect_routes_per_cycle * (n / n_topics))) {
        fprintf(stderr, "bench_subs: forwarded %" PRIu64 ", sent %" PRIu64 ", expected %" PRIu64
                "\n", *forwarded, w->k.packets - p0, expect_routes_per_cycle * (n / n_topics));
        exit(1);
    }
    return dt / (double)n;
}

static void world_free(world *w)
{
    mq_broker_free(w->b);
    free(w->ctx);
    mq_subs_free(w->mirror);
    for (size_t i = 0; i < w->n_subscribers; i++) {
        free(w->ref[i].f);
        free(w->ref[i].len);
        free(w->ref[i].qos);
    }
    free(w->ref);
    free(w->arena);
    free(w);
}

static void print_memory(const world *w)
{
    printf("  subscribe: %.0f ns per subscription; memory per subscription: %.1f bytes "
           "(index's count), %.1f bytes (resident growth)\n",
           w->subscribe_s * 1e9 / (double)w->n_subs,
           (double)mq_subs_bytes(w->mirror) / (double)w->n_subs,
           (double)w->rss_sub_kib * 1024.0 / (double)w->n_subs);
}

/* ---- scenarios ---------------------------------------------------------- */

static void gen_fanout(gsl_rng *r, size_t client, size_t k, char *out, uint8_t *qos)
{
    (void)r, (void)k;
    strcpy(out, "fan/out");
    *qos = (uint8_t)(client % 3);
}

static int fanout(void)
{
    enum { N = 10000, MSGS = 2000, BRUTE_MSGS = 200 };
    world *w = world_new(N, 1, 1);
    world_subscribe(w, 1, gen_fanout);
    static mq_route a[N], b[N];
    char *topics[] = {"fan/out"};
    check_same(w, "fan/out", a, b, N);
    check_same(w, "fan/in", a, b, N);
    uint64_t routes, broutes, fwd;
    double idx = time_route(w, false, topics, 1, MSGS, a, N, &routes);
    double brute = time_route(w, true, topics, 1, BRUTE_MSGS, b, N, &broutes);
    wire_msg m;
    make_publish(&m, "fan/out", 1);
    double f = time_forward(w, &m, 1, MSGS, N, &fwd);
    printf("fan-out: one topic, %d subscribers\n", N);
    print_memory(w);
    printf("  route (index):        %8.2f us per message, %6.2f ns per route\n", idx * 1e6,
           idx * 1e9 / ((double)routes / MSGS));
    printf("  route (brute force):  %8.2f us per message, %6.2f ns per route\n", brute * 1e6,
           brute * 1e9 / ((double)broutes / BRUTE_MSGS));
    printf("  forward (index + sessions, QoS 0): %8.2f us per message, %6.2f ns per delivery\n",
           f * 1e6, f * 1e9 / ((double)fwd / MSGS));
    printf("  brute force / index, routing: %.1f\n", brute / idx);
    world_free(w);
    return 0;
}

/* Fleet filters: 60% one device ("site/S/dev/D/+"), 20% one device by a
 * wildcard middle level ("site/S/+/D/temp"), 15% one device under any
 * first level ("+/S/dev/D/#"), 4% a site's temperatures
 * ("site/S/dev/+/temp"), 1% a whole site ("site/S/#"). QoS uniform 0..2. */
static void gen_fleet(gsl_rng *r, size_t client, size_t k, char *out, uint8_t *qos)
{
    (void)client, (void)k;
    unsigned s = (unsigned)gsl_rng_uniform_int(r, 100), d = (unsigned)gsl_rng_uniform_int(r, 10);
    double u = gsl_rng_uniform(r);
    if (u < 0.60)
        sprintf(out, "site/%u/dev/%u/+", s, d);
    else if (u < 0.80)
        sprintf(out, "site/%u/+/%u/temp", s, d);
    else if (u < 0.95)
        sprintf(out, "+/%u/dev/%u/#", s, d);
    else if (u < 0.99)
        sprintf(out, "site/%u/dev/+/temp", s);
    else
        sprintf(out, "site/%u/#", s);
    *qos = (uint8_t)gsl_rng_uniform_int(r, 3);
}

enum { N_TOPICS = 1000 };

static char **fleet_topics(void)
{
    static char store[N_TOPICS][32];
    static char *t[N_TOPICS];
    for (int i = 0; i < N_TOPICS; i++) {
        /* interleaved so consecutive messages go to different sites */
        sprintf(store[i], "site/%d/dev/%d/temp", i % 100, i / 100);
        t[i] = store[i];
    }
    return t;
}

static int fleet(void)
{
    enum { N = 100000, F = 10, MSGS = 20000, FWD_MSGS = 2000, BRUTE_MSGS = 20 };
    world *w = world_new(N, N_TOPICS, F);
    world_subscribe(w, F, gen_fleet);
    char **topics = fleet_topics();
    mq_route *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    if (!a || !b)
        return 1;
    for (int i = 0; i < 20; i++)
        check_same(w, topics[i * 37 % N_TOPICS], a, b, N);
    check_same(w, "site/1/dev/1/hum", a, b, N);
    check_same(w, "$site/1/dev/1/temp", a, b, N);
    uint64_t routes, broutes, fwd, cycle;
    double idx = time_route(w, false, topics, N_TOPICS, MSGS, a, N, &routes);
    double brute = time_route(w, true, topics, N_TOPICS, BRUTE_MSGS, b, N, &broutes);
    time_route(w, false, topics, N_TOPICS, N_TOPICS, a, N, &cycle);
    wire_msg *m = malloc(N_TOPICS * sizeof *m);
    if (!m)
        return 1;
    for (int i = 0; i < N_TOPICS; i++)
        make_publish(&m[i], topics[i], (uint64_t)i + 1);
    double f = time_forward(w, m, N_TOPICS, FWD_MSGS, cycle, &fwd);
    printf("fleet: %d subscribers x %d wildcard filters (%zu distinct subscriptions), "
           "%d publishers' topics\n", N, F, w->n_subs, N_TOPICS);
    print_memory(w);
    printf("  routes per message: %.1f\n", (double)routes / MSGS);
    printf("  route (index):        %8.2f us per message, %6.2f ns per route\n", idx * 1e6,
           idx * 1e9 / ((double)routes / MSGS));
    printf("  route (brute force, %d messages): %8.2f us per message\n", BRUTE_MSGS, brute * 1e6);
    printf("  forward (index + sessions, QoS 0): %8.2f us per message, %6.2f ns per delivery\n",
           f * 1e6, f * 1e9 / ((double)fwd / FWD_MSGS));
    printf("  brute force / index, routing: %.0f\n", brute / idx);
    free(a);
    free(b);
    free(m);
    world_free(w);
    return 0;
}

static int ratio(void)
{
    enum { N = 1000, F = 10, MSGS = 200000, BRUTE_MSGS = 2000 };
    world *w = world_new(N, 1, F);
    world_subscribe(w, F, gen_fleet);
    char **topics = fleet_topics();
    static mq_route a[N], b[N];
    for (int i = 0; i < N_TOPICS; i++)
        check_same(w, topics[i], a, b, N);
    double best_idx = 1e9, best_brute = 1e9;
    uint64_t routes = 0, broutes = 0;
    for (int rep = 0; rep < REPS; rep++) {
        for (int turn = 0; turn < 2; turn++) {
            if ((turn == 0) == (rep % 2 == 0)) {
                double t = time_route(w, false, topics, N_TOPICS, MSGS, a, N, &routes);
                best_idx = t < best_idx ? t : best_idx;
            } else {
                double t = time_route(w, true, topics, N_TOPICS, BRUTE_MSGS, b, N, &broutes);
                best_brute = t < best_brute ? t : best_brute;
            }
        }
    }
    printf("ratio: the fleet's shape at %d subscribers x %d filters, best of %d\n", N, F, REPS);
    print_memory(w);
    printf("  routes per message: %.2f (brute force: %.2f)\n", (double)routes / MSGS,
           (double)broutes / BRUTE_MSGS);
    printf("  route (index):       %8.3f us per message\n", best_idx * 1e6);
    printf("  route (brute force): %8.3f us per message\n", best_brute * 1e6);
    printf("  brute force / index, routing at %d subscribers: %.0f\n", N, best_brute / best_idx);
    world_free(w);
    return 0;
}

static void gen_pair(gsl_rng *r, size_t client, size_t k, char *out, uint8_t *qos)
{
    (void)r, (void)client, (void)k;
    strcpy(out, "bench/#");
    *qos = 2;
}

/* The small end: one subscriber with one wildcard filter, as in the
 * end-to-end benchmark, where the index has nothing to gain. */
static int pair(void)
{
    enum { MSGS = 2000000 };
    world *w = world_new(1, 1, 1);
    world_subscribe(w, 1, gen_pair);
    char *topics[] = {"bench/1"};
    mq_route a[1], b[1];
    check_same(w, "bench/1", a, b, 1);
    double best_idx = 1e9, best_brute = 1e9;
    uint64_t routes;
    for (int rep = 0; rep < REPS; rep++) {
        for (int turn = 0; turn < 2; turn++) {
            bool brute = (turn == 0) != (rep % 2 == 0);
            double t = time_route(w, brute, topics, 1, MSGS, brute ? b : a, 1, &routes);
            if (brute)
                best_brute = t < best_brute ? t : best_brute;
            else
                best_idx = t < best_idx ? t : best_idx;
        }
    }
    printf("pair: one subscriber, filter \"bench/#\", topic \"bench/1\", best of %d\n", REPS);
    printf("  route (index): %.1f ns per message; brute force: %.1f ns; index / brute force: "
           "%.2f\n", best_idx * 1e9, best_brute * 1e9, best_idx / best_brute);
    world_free(w);
    return 0;
}

/* Runs one scenario in a child, so that its memory is its own. */
static int in_child(int (*fn)(void), const char *name)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        int rc = fn();
        fflush(stdout);
        _exit(rc);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_subs: %s failed\n", name);
        return 1;
    }
    printf("  peak RSS of the %s process: %ld MiB\n", name, ru.ru_maxrss / 1024);
    return 0;
}

int main(void)
{
    if (in_child(fanout, "fan-out") || in_child(fleet, "fleet") || in_child(ratio, "ratio") ||
        in_child(pair, "pair"))
        return 1;
    return 0;
}
