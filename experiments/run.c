/* Running experiments: scenario assembly, replications, result files, the table, traces. */
#include "experiments/run.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "experiments/capture.h"
#include "experiments/csv.h"
#include "experiments/fsutil.h"
#include "experiments/stats.h"
#include "experiments/str.h"
#include "experiments/testbed.h"
#include "models/codec.h"
#include "models/metrics.h"
#include "models/net.h"

#define CDF_CAP 512

/* The network form of a config: one mq_net_client per config entry, a
 * group of `count` clients (mq_net expands its name, topic and filters for
 * each), so an entry costs the same for one client or 100,000. */
typedef struct {
    mq_net_config net;
    mq_net_client *clients;
    mq_sub *subs;            /* every entry's subscriptions, back to back */
    char **names;            /* entry e's name pattern, "c<e>.{i}" */
    size_t n;                /* entries (those of count 0 left out) */
    size_t *first;           /* entry k's first client among the network's */
    mq_net_window *windows;  /* every entry's outage windows, both directions */
    int64_t *reset_times;    /* every entry's scheduled resets */
    mq_net_window *crash_w;  /* every entry's scheduled crashes */
    mq_net_window *restart_w;/* the broker's restarts in this replication */
} scenario;

/* Everything one replication measured. */
typedef struct {
    mq_group_result g[3][3];
    mq_wire_count by_type[16], by_flow[4];
    uint64_t link_losses, drops[MQ_DROP__COUNT], events[MQ_EV__COUNT];
    mq_net_stats st;
    double wall_s;
    bool unmeasured;         /* outside the simulator, without the wave-2 figures */
    size_t cdf_n[3][3];
    double cdf_ms[3][3][CDF_CAP], cdf_frac[3][3][CDF_CAP];
} rep_result;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void scenario_free(scenario *sc)
{
    for (size_t i = 0; i < sc->n && sc->names; i++)
        free(sc->names[i]);
    free(sc->names);
    free(sc->first);
    free(sc->clients);
    free(sc->subs);
    free(sc->windows);
    free(sc->reset_times);
    free(sc->crash_w);
    free(sc->restart_w);
}

/* An entry's outages in the network's form; windows are copied to w. */
static mq_net_outages outages_of(const exp_sched *o, mq_net_window *w)
{
    for (size_t i = 0; i < o->n; i++)
        w[i] = (mq_net_window){o->w[i].at_ns, o->w[i].len_ns};
    return (mq_net_outages){.n = o->n, .w = w, .mtbf = o->mtbf_ns, .mttr = o->down_ns};
}

static void tcp_of(const exp_tcp *t, sim_tcp_params *tp)
{
    sim_tcp_params_default(tp);
    tp->mss = t->mss;
    tp->init_cwnd = t->initial_cwnd;
    tp->rto_initial = t->rto_initial_ns;
    tp->rto_min = t->rto_min_ns;
    tp->rto_max = t->rto_max_ns;
    tp->rto_formula = t->rto_formula == EXP_RTO_RFC6298 ? SIM_TCP_RTO_RFC6298 : SIM_TCP_RTO_LINUX;
    tp->retries2 = (int)t->retries2;
    tp->syn_retries = (int)t->syn_retries;
    tp->user_timeout = t->user_timeout_ns;
    tp->delayed_ack = t->delayed_ack_ns;
}

static mq_retransmit retransmit_of(exp_retransmit r)
{
    return r == EXP_TIMER ? MQ_RETRANSMIT_TIMER : MQ_RETRANSMIT_RECONNECT;
}

/* The entry of the network's client `client` (its index among every
 * client), and in *i its index within the entry. O(log entries). */
static const mq_net_client *entry_of(const scenario *sc, int client, uint32_t *i)
{
    size_t lo = 0, hi = sc->n; /* the last entry whose first client <= client */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (sc->first[mid] <= (size_t)client)
            lo = mid;
        else
            hi = mid;
    }
    *i = (uint32_t)((size_t)client - sc->first[lo]);
    return &sc->clients[lo];
}

/* The entry's pattern (name or topic) for client `client`, expanded into
 * buf[cap] (config.h: exp_config_expand). */
static const char *client_text(const scenario *sc, int client, bool topic, char *buf,
                               size_t cap)
{
    uint32_t i;
    const mq_net_client *c = entry_of(sc, client, &i);
    const char *pattern = topic ? c->topic : c->name;
    if (exp_config_expand(pattern, i, buf, cap) < 0)
        snprintf(buf, cap, "%s", pattern);
    return buf;
}

/* Client `client`'s name, "c<entry>.<instance>", in buf[cap]. */
static const char *client_name(const scenario *sc, int client, char *buf, size_t cap)
{
    return client_text(sc, client, false, buf, cap);
}

/* Turns cfg's client entries into the network's groups. Component names
 * are "c<entry>.<instance>", so a client's random streams depend only on
 * its place in the config, not on any other client's settings. Topics and
 * filters are passed as they are: one without braces is not a pattern
 * (config.c) and expands to itself. */
static int scenario_build(const exp_config *cfg, uint64_t rep, scenario *sc)
{
    size_t nsubs = 0, nwin = 0, nres = 0, ncr = 0;
    *sc = (scenario){0};
    for (size_t e = 0; e < cfg->n_clients; e++) {
        nsubs += cfg->clients[e].n_subs;
        nwin += cfg->clients[e].up_outages.n + cfg->clients[e].down_outages.n;
        nres += cfg->clients[e].resets.n;
        ncr += cfg->clients[e].crashes.n;
    }
    sc->reset_times = calloc(nres ? nres : 1, sizeof *sc->reset_times);
    sc->crash_w = calloc(ncr ? ncr : 1, sizeof *sc->crash_w);
    if (!sc->reset_times || !sc->crash_w)
        return -1;
    size_t ne = cfg->n_clients;
    sc->clients = calloc(ne ? ne : 1, sizeof *sc->clients);
    sc->subs = calloc(nsubs ? nsubs : 1, sizeof *sc->subs);
    sc->names = calloc(ne ? ne : 1, sizeof *sc->names);
    sc->first = calloc(ne ? ne : 1, sizeof *sc->first);
    sc->windows = calloc(nwin ? nwin : 1, sizeof *sc->windows);
    if (!sc->clients || !sc->subs || !sc->names || !sc->first || !sc->windows)
        return -1;
    size_t k = 0, s = 0, w = 0, wr = 0, wc = 0, first = 0;
    for (size_t e = 0; e < cfg->n_clients; e++) {
        const exp_client *ec = &cfg->clients[e];
        const int64_t *resets = &sc->reset_times[wr];
        for (size_t j = 0; j < ec->resets.n; j++)
            sc->reset_times[wr++] = ec->resets.w[j].at_ns;
        const mq_net_window *crashes = &sc->crash_w[wc];
        for (size_t j = 0; j < ec->crashes.n; j++)
            sc->crash_w[wc++] = (mq_net_window){ec->crashes.w[j].at_ns, ec->crashes.w[j].len_ns};
        /* One copy of the entry's windows serves all its instances. */
        mq_net_outages up_out = outages_of(&ec->up_outages, &sc->windows[w]);
        w += ec->up_outages.n;
        mq_net_outages down_out = outages_of(&ec->down_outages, &sc->windows[w]);
        w += ec->down_outages.n;
        if (ec->count) {
            mq_net_client *c = &sc->clients[k];
            char buf[64];
            snprintf(buf, sizeof buf, "c%zu.{i}", e);
            sc->names[k] = strdup(buf);
            if (!sc->names[k])
                return -1;
            sc->n = k + 1;
            sc->first[k] = first;
            first += ec->count;
            c->name = sc->names[k];
            c->count = ec->count;
            c->publisher = ec->role == EXP_PUBLISHER;
            c->up = ec->up;
            c->down = ec->down;
            c->retry_interval = sim_from_ms(ec->retry_interval_ms);
            c->max_retries = ec->max_retries;
            c->topic = ec->topic;
            c->qos = ec->qos;
            c->rate_hz = ec->rate_hz;
            c->poisson = ec->arrival == EXP_POISSON;
            c->payload_bytes = ec->payload_bytes;
            c->subs = &sc->subs[s];
            c->n_subs = ec->n_subs;
            if (ec->role == EXP_PUBLISHER && !c->topic)
                return -1;
            for (size_t j = 0; j < ec->n_subs; j++, s++) {
                const exp_sub *es = &ec->subs[j];
                sc->subs[s] = (mq_sub){.filter = es->filter, .len = (uint16_t)strlen(es->filter),
                                       .qos = es->qos};
            }
            c->qos2_method = ec->has_qos2_method ? ec->qos2_method : cfg->qos2_method;
            c->up_outages = up_out;
            c->down_outages = down_out;
            c->own_window = true;
            c->max_inflight = ec->max_inflight;
            c->max_queued = ec->max_queued;
            c->transport = ec->transport == EXP_STREAM ? MQ_TRANSPORT_STREAM
                                                       : MQ_TRANSPORT_DATAGRAM;
            c->retransmit = retransmit_of(ec->retransmit);
            c->keepalive_s = ec->keepalive_s;
            c->clean_start = ec->clean_start;
            c->session_expiry_s = ec->session_expiry_s;
            c->connect_timeout = ec->connect_timeout_ns;
            c->reconnect_initial = ec->reconnect.initial_ns;
            c->reconnect_max = ec->reconnect.max_ns;
            c->reconnect_jitter = ec->reconnect.jitter;
            tcp_of(&ec->tcp, &c->tcp);
            c->n_resets = ec->resets.n;
            c->resets = resets;
            c->reset_mtbf = ec->resets.mtbf_ns;
            c->reset_silent = ec->reset_kind == EXP_RESET_SILENT;
            c->n_crashes = ec->crashes.n;
            c->crashes = crashes;
            c->crash_mtbf = ec->crashes.mtbf_ns;
            c->crash_down = ec->crashes.down_ns;
            c->client_persistence = ec->client_persistence;
            k++;
        }
    }
    /* The broker's restarts, drawn as the testbed draws them. */
    exp_window *rw = NULL;
    long nr = exp_testbed_restarts(cfg, rep, &rw);
    if (nr < 0)
        return -1;
    sc->restart_w = calloc(nr ? (size_t)nr : 1, sizeof *sc->restart_w);
    if (!sc->restart_w) {
        free(rw);
        return -1;
    }
    for (long j = 0; j < nr; j++)
        sc->restart_w[j] = (mq_net_window){rw[j].at_ns, rw[j].len_ns};
    free(rw);
    sc->n = k;
    sc->net = (mq_net_config){
        .seed = cfg->seed, .rep = rep, .version = cfg->mqtt_version ? cfg->mqtt_version : MQ_V311,
        .duration = sim_from_ms(cfg->duration_s * 1000.0),
        .drain = sim_from_ms(cfg->drain_s * 1000.0),
        .setup_timeout = 0, /* derived from the clients' settings */
        .broker = {
            .role = MQ_ROLE_BROKER, .max_inflight = cfg->max_inflight,
            .max_queued = cfg->max_queued, .retry_interval = sim_from_ms(cfg->retry_interval_ms),
            .max_retries = cfg->max_retries, .qos2_method = cfg->qos2_method,
            /* unset: each context's follows its transport */
            .retransmit = cfg->has_retransmit ? retransmit_of(cfg->retransmit)
                                              : MQ_RETRANSMIT_AUTO,
            .queue_qos0 = cfg->queue_qos0_messages,
        },
        .n_restarts = (size_t)nr, .restarts = sc->restart_w, .persistence = cfg->persistence,
        .autosave_interval = cfg->autosave_interval_ns,
    };
    return 0;
}

static void rep_fill(rep_result *r, const mq_metrics *m);

/* Runs replication `rep` of cfg into *r. hooks and max_messages serve trace. */
static int run_rep(const exp_config *cfg, uint64_t rep, const mq_net_hooks *hooks,
                   uint64_t max_messages, rep_result *r, char *err, size_t errlen)
{
    scenario sc;
    mq_metrics *m = NULL;
    mq_net *net = NULL;
    int rc = -1;
    memset(r, 0, sizeof *r);
    if (scenario_build(cfg, rep, &sc) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    sc.net.max_messages = max_messages;
    m = mq_metrics_new();
    if (!m) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    net = mq_net_new(&sc.net, sc.clients, sc.n, m, hooks, err, errlen);
    if (!net)
        goto out;
    double t0 = now_s();
    rc = mq_net_run(net, &r->st, err, errlen);
    r->wall_s = now_s() - t0;
    rep_fill(r, m);
out:
    mq_net_free(net);
    mq_metrics_free(m);
    scenario_free(&sc);
    return rc;
}

int exp_run_bounded(const exp_config *cfg, uint64_t max_messages, uint64_t max_events,
                    mq_net_stats *st, uint64_t *live, char *err, size_t errlen)
{
    scenario sc;
    mq_metrics *m = NULL;
    mq_net *net = NULL;
    int rc = -1;
    *live = 0;
    memset(st, 0, sizeof *st);
    if (scenario_build(cfg, 0, &sc) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    sc.net.max_messages = max_messages;
    sc.net.max_events = max_events;
    m = mq_metrics_new();
    if (!m) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    net = mq_net_new(&sc.net, sc.clients, sc.n, m, NULL, err, errlen);
    if (!net)
        goto out;
    rc = mq_net_run(net, st, err, errlen);
    *live = mq_net_live_messages(net);
out:
    mq_net_free(net);
    mq_metrics_free(m);
    scenario_free(&sc);
    return rc;
}

/* Copies what metrics m measured into r (groups, CDFs, wire, drops, events). */
static void rep_fill(rep_result *r, const mq_metrics *m)
{
    for (uint8_t p = 0; p < 3; p++)
        for (uint8_t s = 0; s < 3; s++) {
            mq_metrics_group(m, p, s, &r->g[p][s]);
            r->cdf_n[p][s] = mq_metrics_cdf(m, p, s, r->cdf_ms[p][s], r->cdf_frac[p][s], CDF_CAP);
        }
    for (uint8_t t = 0; t < 16; t++)
        r->by_type[t] = *mq_metrics_wire_by_type(m, t);
    for (uint8_t f = 0; f < 4; f++)
        r->by_flow[f] = *mq_metrics_wire_by_flow(m, f);
    r->link_losses = mq_metrics_link_losses(m);
    for (int d = 0; d < MQ_DROP__COUNT; d++)
        r->drops[d] = mq_metrics_drops(m, (mq_drop_reason)d);
    for (int e = 0; e < MQ_EV__COUNT; e++)
        r->events[e] = mq_metrics_events(m, (mq_event)e);
}

/* ---- aggregation over replications ------------------------------------ */

enum {
    M_PUBLISHED, M_EXPECTED, M_UNIQUE, M_DUPLICATES, M_LOST, M_LOSS, M_DUP, M_DELIVERY,
    M_LAT_MEAN, M_LAT_P50, M_LAT_P90, M_LAT_P99, M_LAT_MAX, M_WIRE_PKTS, M_WIRE_BYTES,
    M_RESENDS,
    /* Wave 2: in results.csv after the columns above and their intervals, so
     * that a row of the first columns reads as it always did. */
    M_OOO, M_OOO_RATIO,
    M_LOST_BY,                                  /* MQ_LOSS__COUNT causes */
    M_OPENS = M_LOST_BY + MQ_LOSS__COUNT, M_CONNECTS,
    M_CLOSES,                                   /* the causes before client_crash */
    M_DISCONNECTED = M_CLOSES + MQ_CC_CLIENT_CRASH, M_TCP_SEGMENTS, M_TCP_RETX, M_TCP_RTO,
    M_TCP_FAST, M_TCP_LOST, M_IP_BYTES,
    /* Faults: a third block, after the second and its intervals. */
    M_CLOSE_CRASH, M_RESETS, M_CRASHES, M_RESTARTS, M_OUTAGES, M_CRASH_DOWN, M_BROKER_DOWN,
    M_OUTAGE_DOWN, M_UNPUBLISHED, M_RECONNECTS, M_RECONNECT_MEAN, M_RECONNECT_MAX,
    M_UNRECOVERED,
    M__COUNT
};
#define M_NEW_FIRST M_OOO
#define M_FAULT_FIRST M_CLOSE_CRASH

/* Metrics with a 95% interval: the ratios, latencies and wire costs. */
static bool has_ci(int k)
{
    return (k >= M_LOSS && k <= M_WIRE_BYTES) || k == M_OOO_RATIO;
}

static const char *const base_name[M_LOST_BY] = {
    "published", "expected", "unique", "duplicates", "lost", "loss_ratio", "dup_ratio",
    "delivery_ratio", "latency_mean_ms", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms",
    "latency_max_ms", "wire_packets_per_delivered", "wire_bytes_per_delivered", "resends",
    "out_of_order", "out_of_order_ratio",
};

static const char *const tail_name[M__COUNT - M_DISCONNECTED] = {
    "disconnected_s", "tcp_segments", "tcp_retransmissions", "tcp_rto_expiries",
    "tcp_fast_retransmits", "tcp_segments_lost", "ip_bytes",
    "closes_client_crash", "faults_resets", "faults_crashes", "faults_broker_restarts",
    "faults_outages", "crash_down_s", "broker_down_s", "outage_down_s", "unpublished_while_down",
    "reconnects", "reconnect_mean_s", "reconnect_max_s", "faults_unrecovered",
};

/* A metric's column name (results.csv, sweep.csv); lost_* and closes_* are
 * made from the causes' names. */
static const char *metric_name(int k)
{
    static char made[M__COUNT][48];
    if (k < M_LOST_BY)
        return base_name[k];
    if (k >= M_DISCONNECTED)
        return tail_name[k - M_DISCONNECTED];
    if (k == M_OPENS)
        return "tcp_connections";
    if (k == M_CONNECTS)
        return "connects";
    if (!made[k][0]) {
        if (k < M_OPENS)
            snprintf(made[k], sizeof made[k], "lost_%s", mq_loss_cause_name(k - M_LOST_BY));
        else
            snprintf(made[k], sizeof made[k], "closes_%s",
                     mq_conn_close_name((mq_conn_close)(k - M_CLOSES)));
    }
    return made[k];
}

/* Metric k of group g; st: its replication's network figures (the
 * broker's restarts are the run's), or NULL for a total without them. */
static double metric(const mq_group_result *g, const mq_net_stats *st, int k)
{
    if (k >= M_LOST_BY && k < M_OPENS)
        return (double)g->lost_by[k - M_LOST_BY];
    if (k >= M_CLOSES && k < M_DISCONNECTED)
        return (double)g->conn.closes[k - M_CLOSES];
    switch (k) {
    case M_PUBLISHED: return (double)g->published;
    case M_EXPECTED: return (double)g->expected;
    case M_UNIQUE: return (double)g->unique;
    case M_DUPLICATES: return (double)g->duplicates;
    case M_LOST: return (double)g->lost;
    case M_LOSS: return g->loss_ratio;
    case M_DUP: return g->dup_ratio;
    case M_DELIVERY: return g->delivery_ratio;
    case M_LAT_MEAN: return g->lat_mean;
    case M_LAT_P50: return g->lat_p50;
    case M_LAT_P90: return g->lat_p90;
    case M_LAT_P99: return g->lat_p99;
    case M_LAT_MAX: return g->lat_max;
    case M_WIRE_PKTS: return g->wire_packets_per_delivered;
    case M_WIRE_BYTES: return g->wire_bytes_per_delivered;
    case M_RESENDS: return g->resends;
    case M_OOO: return (double)g->out_of_order;
    case M_OOO_RATIO: return g->out_of_order_ratio;
    case M_OPENS: return (double)g->conn.opens;
    case M_CONNECTS: return (double)g->conn.connects;
    case M_DISCONNECTED: return sim_to_s(g->conn.disconnected_ns);
    case M_TCP_SEGMENTS: return (double)g->conn.tcp_segments;
    case M_TCP_RETX: return (double)g->conn.tcp_retransmissions;
    case M_TCP_RTO: return (double)g->conn.tcp_rto_expiries;
    case M_TCP_FAST: return (double)g->conn.tcp_fast_retransmits;
    case M_TCP_LOST: return (double)g->conn.tcp_segments_lost;
    case M_IP_BYTES: return (double)g->conn.ip_bytes;
    case M_CLOSE_CRASH: return (double)g->conn.closes[MQ_CC_CLIENT_CRASH];
    case M_RESETS: return (double)g->conn.resets;
    case M_CRASHES: return (double)g->conn.crashes;
    case M_RESTARTS: return st ? (double)st->broker_restarts : NAN;
    case M_OUTAGES: return (double)g->conn.outages;
    case M_CRASH_DOWN: return sim_to_s(g->conn.crash_down_ns);
    case M_BROKER_DOWN: return st ? sim_to_s(st->broker_down_ns) : NAN;
    case M_OUTAGE_DOWN: return sim_to_s(g->conn.outage_down_ns);
    case M_UNPUBLISHED: return (double)g->conn.unpublished;
    case M_RECONNECTS: return (double)g->conn.reconnects;
    case M_RECONNECT_MEAN:
        return g->conn.reconnects ? sim_to_s(g->conn.reconnect_ns) / (double)g->conn.reconnects
                                  : NAN;
    case M_RECONNECT_MAX: return g->conn.reconnects ? sim_to_s(g->conn.reconnect_max_ns) : NAN;
    default: return (double)g->conn.unrecovered;
    }
}

/* One group's figures over all replications: mean and 95% CI per metric. */
typedef struct {
    bool present;
    uint8_t p, s, q;
    double mean[M__COUNT], lo[M__COUNT], hi[M__COUNT];
} group_summary;

/* The replications run so far, folded in as each one finishes: running
 * statistics per group and metric, and the totals of the counters. Its size
 * does not grow with the number of replications; only the first one's CDF
 * (latency_cdf.csv) is kept, as text. */
typedef struct {
    size_t n;
    bool present[3][3];
    exp_rstat m[3][3][M__COUNT];   /* over the replications where the metric is defined */
    mq_wire_count by_type[16], by_flow[4];
    uint64_t link_losses, drops[MQ_DROP__COUNT], events[MQ_EV__COUNT], sched_events, messages;
    double sim_s, wall_s;          /* sums in replication order */
    mq_conn_stats conn;            /* summed over replications */
    uint64_t broker_restarts;      /* summed over replications */
    int64_t broker_down_ns;
    bool stream;                   /* some client runs over the stream transport */
    bool unmeasured;               /* a replication lacks the connection figures */
    int64_t setup_limit;           /* the last replication's (the same in every one) */
} rep_totals;

static void wire_add(mq_wire_count *sum, const mq_wire_count *w)
{
    sum->packets += w->packets;
    sum->bytes += w->bytes;
    sum->resends += w->resends;
}

/* Folds replication r into t. O(groups x metrics). */
static void totals_add(rep_totals *t, const rep_result *r)
{
    t->n++;
    for (uint8_t p = 0; p < 3; p++)
        for (uint8_t s = 0; s < 3; s++) {
            t->present[p][s] |= r->g[p][s].present;
            for (int k = 0; k < (r->unmeasured ? M_NEW_FIRST : M__COUNT); k++) {
                double v = metric(&r->g[p][s], &r->st, k);
                if (!isnan(v))
                    exp_rstat_add(&t->m[p][s][k], v);
            }
        }
    for (int i = 0; i < 16; i++)
        wire_add(&t->by_type[i], &r->by_type[i]);
    for (int f = 0; f < 4; f++)
        wire_add(&t->by_flow[f], &r->by_flow[f]);
    t->link_losses += r->link_losses;
    for (int d = 0; d < MQ_DROP__COUNT; d++)
        t->drops[d] += r->drops[d];
    for (int e = 0; e < MQ_EV__COUNT; e++)
        t->events[e] += r->events[e];
    t->sched_events += r->st.events;
    t->messages += r->st.messages;
    t->sim_s += sim_to_s(r->st.t_last);
    t->wall_s += r->wall_s;
    mq_conn_stats_add(&t->conn, &r->st.conn);
    t->broker_restarts += r->st.broker_restarts;
    t->broker_down_ns += r->st.broker_down_ns;
    t->setup_limit = r->st.setup_limit;
    t->unmeasured |= r->unmeasured;
}

/* The groups present in any replication, in (pub, sub) order, with the mean
 * and (with replications) the 95% interval of each metric. */
static void summarise(const rep_totals *t, group_summary out[9], size_t *ngroups)
{
    *ngroups = 0;
    for (uint8_t p = 0; p < 3; p++)
        for (uint8_t s = 0; s < 3; s++) {
            if (!t->present[p][s])
                continue;
            group_summary *gs = &out[(*ngroups)++];
            gs->present = true;
            gs->p = p;
            gs->s = s;
            gs->q = p < s ? p : s;
            for (int k = 0; k < M__COUNT; k++) {
                exp_rstat_ci95(&t->m[p][s][k], &gs->mean[k], &gs->lo[k], &gs->hi[k]);
                if (t->n == 1)
                    gs->lo[k] = gs->hi[k] = NAN;
            }
        }
}

/* ---- result files ----------------------------------------------------- */

/* A growable string for trace text. */
typedef struct {
    char *s;
    size_t len, cap;
    bool oom;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends to b, growing it; on out of memory sets b->oom and stops adding. */
static void sb_printf(strbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0 || b->oom)
            return;
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap - b->len <= (size_t)n)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

/* Text written through a stdio stream into memory (open_memstream). */
typedef struct {
    char *buf;
    size_t len;
    FILE *f;
} memtext;

/* Opens m's stream and writes head (a CSV header line) to it. Returns the
 * stream, or NULL when out of memory. */
static FILE *mem_open(memtext *m, const char *head)
{
    *m = (memtext){0};
    m->f = open_memstream(&m->buf, &m->len);
    if (m->f)
        fputs(head, m->f);
    return m->f;
}

/* The text written to m, or NULL (freeing it) when a write failed, as when
 * memory ran out: a file cut short is never written. */
static char *mem_text(memtext *m)
{
    bool bad = ferror(m->f) != 0;
    if (fclose(m->f) != 0 || bad) {
        free(m->buf);
        return NULL;
    }
    return m->buf;
}

static char *results_csv(const exp_config *cfg, size_t nreps, const group_summary *gs, size_t ng)
{
    memtext m;
    FILE *f = mem_open(&m, "name,seed,replications,pub_qos,sub_qos,qos");
    if (!f)
        return NULL;
    /* Two blocks, each its metrics then their intervals: the first is the
     * wave-1 columns, as they always were. */
    static const int block[4] = {0, M_NEW_FIRST, M_FAULT_FIRST, M__COUNT};
    for (int b = 0; b < 3; b++) {
        for (int k = block[b]; k < block[b + 1]; k++)
            fprintf(f, ",%s", metric_name(k));
        for (int k = block[b]; k < block[b + 1]; k++)
            if (has_ci(k))
                fprintf(f, ",%s_ci_lo,%s_ci_hi", metric_name(k), metric_name(k));
    }
    fputc('\n', f);
    for (size_t i = 0; i < ng; i++) {
        exp_csv_put_cell(f, cfg->name ? cfg->name : "");
        fprintf(f, ",%llu,%zu,%u,%u,%u", (unsigned long long)cfg->seed, nreps, gs[i].p, gs[i].s,
                gs[i].q);
        for (int b = 0; b < 3; b++) {
            for (int k = block[b]; k < block[b + 1]; k++) {
                fputc(',', f);
                exp_csv_put_num(f, gs[i].mean[k]);
            }
            for (int k = block[b]; k < block[b + 1]; k++) {
                if (!has_ci(k))
                    continue;
                fputc(',', f);
                exp_csv_put_num(f, gs[i].lo[k]);
                fputc(',', f);
                exp_csv_put_num(f, gs[i].hi[k]);
            }
        }
        fputc('\n', f);
    }
    return mem_text(&m);
}

static char *cdf_csv(const rep_result *r)
{
    memtext m;
    FILE *f = mem_open(&m, "pub_qos,sub_qos,qos,latency_ms,cdf\n");
    if (!f)
        return NULL;
    for (int p = 0; p < 3; p++)
        for (int s = 0; s < 3; s++)
            for (size_t i = 0; i < r->cdf_n[p][s]; i++)
                fprintf(f, "%d,%d,%d,%.6g,%.9g\n", p, s, p < s ? p : s, r->cdf_ms[p][s][i],
                        r->cdf_frac[p][s][i]);
    return mem_text(&m);
}

static cJSON *num_or_null(double v)
{
    return isnan(v) ? cJSON_CreateNull() : cJSON_CreateNumber(v);
}

static void add_num(cJSON *o, const char *k, double v)
{
    cJSON_AddItemToObject(o, k, num_or_null(v));
}

static cJSON *pair(double lo, double hi)
{
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, num_or_null(lo));
    cJSON_AddItemToArray(a, num_or_null(hi));
    return a;
}

static const char *const lat_key[5] = {"mean", "p50", "p90", "p99", "max"};

static void add_wire(cJSON *o, const mq_wire_count *w)
{
    cJSON_AddNumberToObject(o, "packets", (double)w->packets);
    cJSON_AddNumberToObject(o, "bytes", (double)w->bytes);
    cJSON_AddNumberToObject(o, "resends", (double)w->resends);
}

/* The connection metrics (indices M_OPENS ...) of a total, divided by n. */
static void conn_means(const mq_conn_stats *c, double n, double *v)
{
    mq_group_result g = {.conn = *c};
    for (int k = M_OPENS; k < M__COUNT; k++)
        v[k] = metric(&g, NULL, k) / n;
    /* A mean time is not divided by the replications. */
    v[M_RECONNECT_MEAN] *= n;
    v[M_RECONNECT_MAX] *= n;
}

/* "connections" and "tcp" objects from metric values v[M_OPENS ...]. */
static void add_conn(cJSON *o, const double *v)
{
    cJSON *c = cJSON_AddObjectToObject(o, "connections");
    add_num(c, "tcp_connections", v[M_OPENS]);
    add_num(c, "connects", v[M_CONNECTS]);
    cJSON *cl = cJSON_AddObjectToObject(c, "closes");
    for (int k = 0; k < MQ_CC_CLIENT_CRASH; k++)
        add_num(cl, mq_conn_close_name((mq_conn_close)k), v[M_CLOSES + k]);
    add_num(cl, mq_conn_close_name(MQ_CC_CLIENT_CRASH), v[M_CLOSE_CRASH]);
    add_num(c, "disconnected_s", v[M_DISCONNECTED]);
    cJSON *tc = cJSON_AddObjectToObject(o, "tcp");
    add_num(tc, "segments", v[M_TCP_SEGMENTS]);
    add_num(tc, "retransmissions", v[M_TCP_RETX]);
    add_num(tc, "rto_expiries", v[M_TCP_RTO]);
    add_num(tc, "fast_retransmits", v[M_TCP_FAST]);
    add_num(tc, "segments_lost", v[M_TCP_LOST]);
    add_num(tc, "ip_bytes", v[M_IP_BYTES]);
    cJSON *f = cJSON_AddObjectToObject(o, "faults");
    for (int k = M_RESETS; k < M__COUNT; k++)
        add_num(f, metric_name(k), v[k]);
}

static char *results_json(const exp_config *cfg, const exp_run_opts *opts, const rep_totals *t,
                          const group_summary *gs, size_t ng, double wall_s)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "name", cfg->name ? cfg->name : "");
    cJSON_AddNumberToObject(root, "seed", (double)cfg->seed);
    cJSON_AddNumberToObject(root, "replications", (double)t->n);
    if (opts->rep_index >= 0)
        cJSON_AddNumberToObject(root, "rep_index", opts->rep_index);
    cJSON *conf = cfg->json ? cJSON_Parse(cfg->json) : NULL;
    cJSON_AddItemToObject(root, "config", conf ? conf : cJSON_CreateNull());

    cJSON *groups = cJSON_AddArrayToObject(root, "groups");
    for (size_t i = 0; i < ng; i++) {
        const group_summary *g = &gs[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "pub_qos", g->p);
        cJSON_AddNumberToObject(o, "sub_qos", g->s);
        cJSON_AddNumberToObject(o, "qos", g->q);
        for (int k = M_PUBLISHED; k <= M_DELIVERY; k++)
            add_num(o, metric_name(k), g->mean[k]);
        cJSON *lat = cJSON_AddObjectToObject(o, "latency_ms");
        for (int k = 0; k < 5; k++)
            add_num(lat, lat_key[k], g->mean[M_LAT_MEAN + k]);
        add_num(o, "wire_packets_per_delivered", g->mean[M_WIRE_PKTS]);
        add_num(o, "wire_bytes_per_delivered", g->mean[M_WIRE_BYTES]);
        add_num(o, "resends", g->mean[M_RESENDS]);
        add_num(o, "out_of_order", g->mean[M_OOO]);
        add_num(o, "out_of_order_ratio", g->mean[M_OOO_RATIO]);
        cJSON *lb = cJSON_AddObjectToObject(o, "lost_by_cause");
        for (int c = 0; c < MQ_LOSS__COUNT; c++)
            add_num(lb, mq_loss_cause_name(c), g->mean[M_LOST_BY + c]);
        add_conn(o, g->mean);
        if (t->n > 1) {
            cJSON *ci = cJSON_AddObjectToObject(o, "ci95");
            for (int k = M_LOSS; k <= M_DELIVERY; k++)
                cJSON_AddItemToObject(ci, metric_name(k), pair(g->lo[k], g->hi[k]));
            cJSON_AddItemToObject(ci, "out_of_order_ratio", pair(g->lo[M_OOO_RATIO], g->hi[M_OOO_RATIO]));
            cJSON *cl = cJSON_AddObjectToObject(ci, "latency_ms");
            for (int k = 0; k < 5; k++)
                cJSON_AddItemToObject(cl, lat_key[k], pair(g->lo[M_LAT_MEAN + k], g->hi[M_LAT_MEAN + k]));
            cJSON_AddItemToObject(ci, "wire_packets_per_delivered", pair(g->lo[M_WIRE_PKTS], g->hi[M_WIRE_PKTS]));
            cJSON_AddItemToObject(ci, "wire_bytes_per_delivered", pair(g->lo[M_WIRE_BYTES], g->hi[M_WIRE_BYTES]));
        }
        cJSON_AddItemToArray(groups, o);
    }

    /* Counters below are sums over replications. */
    cJSON *wire = cJSON_AddObjectToObject(root, "wire");
    for (uint8_t ty = MQ_CONNECT; ty <= MQ_AUTH; ty++)
        if (t->by_type[ty].packets)
            add_wire(cJSON_AddObjectToObject(wire, mq_type_name(ty)), &t->by_type[ty]);
    cJSON *byq = cJSON_AddObjectToObject(wire, "by_qos");
    static const char *const flow_name[4] = {"0", "1", "2", "control"};
    for (int f = 0; f < 4; f++)
        add_wire(cJSON_AddObjectToObject(byq, flow_name[f]), &t->by_flow[f]);
    cJSON *drops = cJSON_AddObjectToObject(root, "drops");
    cJSON_AddNumberToObject(drops, "link", (double)t->link_losses);
    for (int d = 0; d < MQ_DROP__COUNT; d++)
        cJSON_AddNumberToObject(drops, mq_drop_reason_name((mq_drop_reason)d), (double)t->drops[d]);
    double conn[M__COUNT] = {0};
    conn_means(&t->conn, 1, conn);
    conn[M_RESTARTS] = (double)t->broker_restarts;
    conn[M_BROKER_DOWN] = sim_to_s(t->broker_down_ns);
    for (int k = M_OPENS; t->unmeasured && k < M__COUNT; k++)
        conn[k] = NAN; /* not measured: null */
    add_conn(root, conn); /* totals over the replications, as below */
    if (!t->unmeasured)
        cJSON_AddNumberToObject(cJSON_GetObjectItem(root, "connections"), "setup_limit_s",
                                sim_to_s(t->setup_limit));
    cJSON *events = cJSON_AddObjectToObject(root, "events");
    cJSON_AddNumberToObject(events, "scheduler", (double)t->sched_events);
    cJSON *proto = cJSON_AddObjectToObject(events, "protocol");
    for (int e = 0; e < MQ_EV__COUNT; e++)
        cJSON_AddNumberToObject(proto, mq_event_name((mq_event)e), (double)t->events[e]);
    cJSON *tm = cJSON_AddObjectToObject(root, "timings");
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    cJSON_AddNumberToObject(tm, "wall_s", wall_s);
    cJSON_AddNumberToObject(tm, "simulated_s", t->sim_s);
    cJSON_AddNumberToObject(tm, "messages", (double)t->messages);
    cJSON_AddNumberToObject(tm, "messages_per_wall_s",
                            t->wall_s > 0 ? (double)t->messages / t->wall_s : 0);
    cJSON_AddNumberToObject(tm, "events_per_wall_s",
                            t->wall_s > 0 ? (double)t->sched_events / t->wall_s : 0);
    cJSON_AddNumberToObject(tm, "peak_rss_kib", (double)ru.ru_maxrss);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

/* ---- the table -------------------------------------------------------- */

/* A mean of counts: an integer as one, otherwise with two decimals (0.45,
 * 2719.35), or two significant digits below 1 (0.004): never rounded to a
 * count that no replication had. */
static void fmt_count(char *buf, size_t n, double v)
{
    if (v == floor(v) || !isfinite(v)) {
        snprintf(buf, n, "%.0f", v);
        return;
    }
    int digits = (int)floor(log10(fabs(v))) + 3;
    snprintf(buf, n, "%.*g", digits < 2 ? 2 : digits, v);
}

/* Prints text right-aligned in width columns; "±" takes two bytes but one
 * column. */
static void print_cell(const char *text, int width)
{
    printf(" %*s", width + (strstr(text, "±") ? 1 : 0), text);
}

/* The metrics of the table after the counts, and their formats. */
#define TABLE_N 6
static const int table_metric[TABLE_N] = {M_LOSS, M_DUP, M_OOO_RATIO, M_LAT_P50, M_LAT_P99,
                                          M_LAT_MAX};
static const char *const table_fmt[TABLE_N] = {"%.6f", "%.6f", "%.6f", "%.3f", "%.3f", "%.3f"};

/* One line of named counts, "name value" for each nonzero one. */
static void print_counts(const char *head, const char *const *names, const double *v, size_t n)
{
    char cell[64];
    int k = 0;
    printf("%s", head);
    for (size_t i = 0; i < n; i++) {
        if (v[i] == 0)
            continue;
        fmt_count(cell, sizeof cell, v[i]);
        printf("%s %s %s", k++ ? "," : "", names[i], cell);
    }
    printf("%s\n", k ? "" : " none");
}

/* The table: one line per QoS pair with the means (over replications) of
 * the counts, ratios and latencies; with replications, a second line under
 * each with the half-widths of the 95% intervals in the same columns; then
 * the drops by cause, so that every loss shows where it came from. */
static void print_table(const exp_config *cfg, const rep_totals *t, const group_summary *gs,
                        size_t ng, double wall_s)
{
    size_t nreps = t->n;
    char cell[64];
    printf("%s: seed %llu, %zu replication%s, %.0f s publishing, %.2f s wall\n",
           cfg->name ? cfg->name : "", (unsigned long long)cfg->seed, nreps,
           nreps == 1 ? "" : "s", cfg->duration_s, wall_s);
    printf("pub sub qos %10s %10s %10s %10s %10s %12s %12s %12s %12s %12s %12s\n", "published",
           "expected", "unique", "dups", "lost", "loss_ratio", "dup_ratio", "ooo_ratio",
           "lat_p50_ms", "lat_p99_ms", "lat_max_ms");
    for (size_t i = 0; i < ng; i++) {
        const group_summary *g = &gs[i];
        printf("%3u %3u %3u", g->p, g->s, g->q);
        for (int k = M_PUBLISHED; k <= M_LOST; k++) {
            fmt_count(cell, sizeof cell, g->mean[k]);
            print_cell(cell, 10);
        }
        for (int c = 0; c < TABLE_N; c++) {
            double v = g->mean[table_metric[c]];
            if (isnan(v))
                snprintf(cell, sizeof cell, "-");
            else
                snprintf(cell, sizeof cell, table_fmt[c], v);
            print_cell(cell, 12);
        }
        printf("\n");
        if (nreps == 1)
            continue;
        printf("%66s", "95% CI");
        for (int c = 0; c < TABLE_N; c++) {
            int k = table_metric[c];
            if (isnan(g->lo[k]))
                snprintf(cell, sizeof cell, "-");
            else {
                /* Two significant digits, without an exponent. */
                double half = (g->hi[k] - g->lo[k]) / 2;
                snprintf(cell, sizeof cell, half < 100 ? "±%.2g" : "±%.0f", half);
            }
            print_cell(cell, 12);
        }
        printf("\n");
    }
    printf(nreps == 1 ? "drops:" : "drops (mean per replication):");
    fmt_count(cell, sizeof cell, (double)t->link_losses / (double)nreps);
    printf(" link %s", cell);
    for (int d = 0; d < MQ_DROP__COUNT; d++) {
        fmt_count(cell, sizeof cell, (double)t->drops[d] / (double)nreps);
        printf(", %s %s", mq_drop_reason_name((mq_drop_reason)d), cell);
    }
    printf("\n");
    /* Every lost pair by its one cause, per QoS pair. */
    const char *names[MQ_LOSS__COUNT > MQ_CC__COUNT ? MQ_LOSS__COUNT : MQ_CC__COUNT];
    double v[M__COUNT];
    for (int c = 0; c < MQ_LOSS__COUNT; c++)
        names[c] = mq_loss_cause_name(c);
    for (size_t i = 0; i < ng; i++) {
        const group_summary *g = &gs[i];
        if (!(g->mean[M_LOST] > 0))
            continue;
        char head[64];
        snprintf(head, sizeof head, "lost by cause (%u, %u):", g->p, g->s);
        print_counts(head, names, &g->mean[M_LOST_BY], MQ_LOSS__COUNT);
    }
    if (!t->stream)
        return;
    conn_means(&t->conn, (double)nreps, v);
    fmt_count(cell, sizeof cell, v[M_OPENS]);
    printf("connections%s: %s TCP connections, ", nreps == 1 ? "" : " (mean per replication)",
           cell);
    fmt_count(cell, sizeof cell, v[M_CONNECTS]);
    printf("%s CONNACKs, %.6g s disconnected in all; closes:", cell, v[M_DISCONNECTED]);
    double closes[MQ_CC__COUNT];
    for (int c = 0; c < MQ_CC__COUNT; c++) {
        names[c] = mq_conn_close_name((mq_conn_close)c);
        closes[c] = c == MQ_CC_CLIENT_CRASH ? v[M_CLOSE_CRASH] : v[M_CLOSES + c];
    }
    print_counts("", names, closes, MQ_CC__COUNT);
    static const char *const tcp_names[6] = {"segments", "retransmissions", "rto_expiries",
                                             "fast_retransmits", "segments_lost", "ip_bytes"};
    print_counts("tcp:", tcp_names, &v[M_TCP_SEGMENTS], 6);
    v[M_RESTARTS] = (double)t->broker_restarts / (double)nreps;
    v[M_BROKER_DOWN] = sim_to_s(t->broker_down_ns) / (double)nreps;
    if (v[M_RESETS] + v[M_CRASHES] + v[M_RESTARTS] + v[M_OUTAGES] == 0)
        return;
    static const char *const fault_names[4] = {"resets", "crashes", "broker_restarts", "outages"};
    print_counts("faults:", fault_names, &v[M_RESETS], 4);
    printf("down: clients' processes %.6g s, broker %.6g s, links %.6g s; ", v[M_CRASH_DOWN],
           v[M_BROKER_DOWN], v[M_OUTAGE_DOWN]);
    fmt_count(cell, sizeof cell, v[M_RECONNECTS]);
    printf("reconnects after a fault %s", cell);
    if (v[M_RECONNECTS] > 0)
        printf(" (mean %.6g s, max %.6g s)", v[M_RECONNECT_MEAN], v[M_RECONNECT_MAX]);
    fmt_count(cell, sizeof cell, v[M_UNRECOVERED]);
    printf(", unrecovered %s", cell);
    fmt_count(cell, sizeof cell, v[M_UNPUBLISHED]);
    printf("; not published while down %s\n", cell);
}

/* ---- commands --------------------------------------------------------- */

/* Progress of a long run on a terminal, redrawn at most twice a second. */
typedef struct {
    size_t rep, nreps;
    double last;
    exp_capture *cap;      /* --pcap: the first replication's capture, or NULL */
} progress;

/* The capture's hooks, reached through the run's own hook context. */
static void run_segment(void *ctx, int client, const sim_tcp_seg_info *seg)
{
    exp_capture_segment(((progress *)ctx)->cap, client, seg);
}

static void run_frame(void *ctx, int64_t t, int client, bool up, const uint8_t *buf, size_t len,
                      uint64_t zeros, bool lost)
{
    exp_capture_frame(((progress *)ctx)->cap, t, client, up, buf, len, zeros, lost);
}

static void show_progress(void *ctx, int64_t t, int64_t t_ready, int64_t duration)
{
    progress *pr = ctx;
    double w = now_s();
    if (w - pr->last < 0.5)
        return;
    pr->last = w;
    if (t_ready < 0)
        fprintf(stderr, "\rreplication %zu/%zu: %s, %.0f s simulated   ", pr->rep + 1, pr->nreps,
                "setting up or draining", sim_to_s(t));
    else
        fprintf(stderr, "\rreplication %zu/%zu: %3.0f%% of publishing time   ", pr->rep + 1,
                pr->nreps, 100.0 * (double)(t - t_ready) / (double)duration);
}

static int write_results(const exp_config *cfg, const exp_run_opts *opts, const rep_totals *tot,
                         const char *cdf, const char *dir, double wall_s);

int exp_cmd_run(const exp_config *cfg, const exp_run_opts *opts)
{
    char err[512];
    size_t first = 0, nreps = cfg->replications ? cfg->replications : 1;
    if (opts->rep_index >= 0) {
        first = (size_t)opts->rep_index;
        nreps = 1;
    }
    int status = 1;
    /* The output directory is made (and proved writable) before the run, so
     * a long run is never wasted on a bad --out; a failed run removes it
     * again if it made it and left it empty. */
    char dir[4096];
    if (opts->out_dir)
        snprintf(dir, sizeof dir, "%s", opts->out_dir);
    else
        snprintf(dir, sizeof dir, "results/%s", cfg->name ? cfg->name : "run");
    struct stat sb;
    bool made = stat(dir, &sb) != 0;
    errno = 0;
    if ((!made && !S_ISDIR(sb.st_mode)) || exp_fs_mkdir_p(dir) != 0 || access(dir, W_OK) != 0) {
        fprintf(stderr, "mqttsim: --out %s: %s\n", dir,
                !made && !S_ISDIR(sb.st_mode) ? "exists and is not a directory"
                : errno ? strerror(errno) : "not a writable directory");
        return 2;
    }
    double t0 = now_s();
    bool show = !opts->quiet && isatty(2);
    progress pr = {.nreps = nreps};
    mq_net_hooks hooks = {.ctx = &pr, .progress = show_progress};
    /* One replication's results at a time, folded into the totals. */
    rep_result *rep = malloc(sizeof *rep);
    rep_totals *tot = calloc(1, sizeof *tot);
    char *cdf = NULL;
    if (!rep || !tot) {
        fprintf(stderr, "mqttsim: out of memory\n");
        goto out;
    }
    for (size_t e = 0; e < cfg->n_clients; e++)
        tot->stream |= cfg->clients[e].transport == EXP_STREAM;
    if (opts->pcap && !(pr.cap = exp_capture_open(opts->pcap, opts->pcap_receiver, err,
                                                   sizeof err))) {
        fprintf(stderr, "mqttsim: --pcap %s\n", err);
        status = 2;
        goto out;
    }
    for (size_t r = 0; r < nreps; r++) {
        pr.rep = r;
        if (show && nreps > 1)
            fprintf(stderr, "\rreplication %zu/%zu ...", r + 1, nreps);
        /* The capture holds the first replication run. */
        mq_net_hooks h = hooks;
        if (!show)
            h.progress = NULL;
        if (r == 0 && pr.cap) {
            h.segment = run_segment;
            h.frame = run_frame;
        }
        bool with_hooks = h.progress || h.segment;
        int rc = run_rep(cfg, first + r, with_hooks ? &h : NULL, 0, rep, err, sizeof err);
        if (r == 0 && pr.cap) {
            char cerr[512];
            int cr = exp_capture_close(pr.cap, cerr, sizeof cerr);
            pr.cap = NULL;
            if (cr != 0 && rc == 0) {
                fprintf(stderr, "mqttsim: --pcap %s\n", cerr);
                goto out;
            }
        }
        if (rc != 0) {
            if (show)
                fprintf(stderr, "\n");
            fprintf(stderr, "mqttsim: %s: replication %zu: %s\n", cfg->name ? cfg->name : "",
                    first + r, err);
            goto out;
        }
        if (r == 0 && !(cdf = cdf_csv(rep))) {
            fprintf(stderr, "mqttsim: out of memory\n");
            goto out;
        }
        totals_add(tot, rep);
    }
    if (show)
        fprintf(stderr, "\r%*s\r", 60, "");
    double wall_s = now_s() - t0;
    status = write_results(cfg, opts, tot, cdf, dir, wall_s);
out:
    if (pr.cap) {
        char cerr[512];
        exp_capture_close(pr.cap, cerr, sizeof cerr);
    }
    if (status != 0 && made)
        rmdir(dir); /* only if still empty */
    free(cdf);
    free(tot);
    free(rep);
    return status;
}

/* Writes the result files of the replications folded into tot (cdf: the
 * first one's latency_cdf.csv) into dir and prints the table unless quiet.
 * Returns 0, or 1 after saying why the files could not be written. */
static int write_results(const exp_config *cfg, const exp_run_opts *opts, const rep_totals *tot,
                         const char *cdf, const char *dir, double wall_s)
{
    group_summary gs[9];
    size_t ng = 0;
    summarise(tot, gs, &ng);
    char *json = results_json(cfg, opts, tot, gs, ng, wall_s);
    char *csv = results_csv(cfg, tot->n, gs, ng);
    /* The three files are one set: all new, or (on a failed write) all as
     * they were, never a mix. */
    int werr = !json || !csv;
    if (!werr && dir) {
        const exp_fs_file set[] = {{"results.json", json, strlen(json)},
                                   {"results.csv", csv, strlen(csv)},
                                   {"latency_cdf.csv", cdf, strlen(cdf)}};
        werr = exp_fs_write_set(dir, set, 3) != 0;
    }
    if (werr)
        fprintf(stderr, "mqttsim: cannot write results to %s: %s\n", dir,
                errno ? strerror(errno) : "out of memory");
    if (!opts->quiet) {
        print_table(cfg, tot, gs, ng, wall_s);
        if (!werr && dir)
            printf("results: %s/results.json, %s/results.csv\n", dir, dir);
    }
    free(json);
    free(csv);
    return werr ? 1 : 0;
}

/* Folds each measured replication in as a simulated one, with the group
 * wire figures left undefined where they were not measured. Cost: one
 * replication's results at a time. */
int exp_results_write(const exp_config *cfg, const exp_measured *reps, size_t n, const char *dir,
                      bool quiet)
{
    assert(n >= 1);
    rep_result *r = malloc(sizeof *r);
    rep_totals *tot = calloc(1, sizeof *tot);
    char *cdf = NULL;
    int status = 1;
    double wall_s = 0;
    if (!r || !tot || (dir && exp_fs_mkdir_p(dir) != 0)) {
        fprintf(stderr, "mqttsim: cannot write results to %s: %s\n", dir,
                r && tot ? strerror(errno) : "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        memset(r, 0, sizeof *r);
        rep_fill(r, reps[i].m);
        if (!reps[i].wire_groups)
            for (int p = 0; p < 3; p++)
                for (int s = 0; s < 3; s++) {
                    r->g[p][s].wire_packets_per_delivered = NAN;
                    r->g[p][s].wire_bytes_per_delivered = NAN;
                    r->g[p][s].resends = NAN;
                }
        r->unmeasured = !reps[i].transport_figures;
        r->st.t_last = (int64_t)(reps[i].run_s * 1e9);
        r->st.messages = reps[i].messages;
        r->wall_s = reps[i].wall_s;
        wall_s += reps[i].wall_s;
        if (i == 0 && !(cdf = cdf_csv(r))) {
            fprintf(stderr, "mqttsim: out of memory\n");
            goto out;
        }
        totals_add(tot, r);
    }
    exp_run_opts o = {.out_dir = dir, .rep_index = -1, .quiet = quiet};
    status = write_results(cfg, &o, tot, cdf ? cdf : "", dir, wall_s);
out:
    free(cdf);
    free(tot);
    free(r);
    return status;
}

/* ---- trace ------------------------------------------------------------ */

/* Which message a packet identifier stands for on one hop: set when a PUBLISH
 * with that identifier is sent, so the acks that follow are attributed to it. */
typedef struct {
    int client;
    bool flow_up;
    uint16_t id;
    uint64_t msg;
} flow_key;

typedef struct {
    uint32_t n;            /* messages asked for */
    strbuf *blocks;        /* one per message, [0] for connection setup */
    size_t capblocks;      /* grown as messages come, so a large n costs nothing */
    flow_key *keys;
    size_t nkeys, capkeys;
    const scenario *sc;
    bool oom;              /* some text is missing: the trace fails */
    int width;             /* of the packet column: 34, or 40 with streams */
    strbuf conns;          /* stream connection events and faults */
    bool faults;           /* some fault was injected */
    exp_capture *cap;      /* --pcap, or NULL */
} tracer;

static void trace_segment(void *ctx, int client, const sim_tcp_seg_info *seg)
{
    exp_capture_segment(((tracer *)ctx)->cap, client, seg);
}

static void trace_frame(void *ctx, int64_t t, int client, bool up, const uint8_t *buf,
                        size_t len, uint64_t zeros, bool lost)
{
    exp_capture_frame(((tracer *)ctx)->cap, t, client, up, buf, len, zeros, lost);
}

/* The text block of message msg, or NULL beyond the messages asked for (or
 * when memory ran out, noted in t->oom). */
static strbuf *trace_block(tracer *t, uint64_t msg)
{
    if (msg > t->n)
        return NULL;
    if (msg >= t->capblocks) {
        size_t cap = t->capblocks ? t->capblocks : 64;
        while (cap <= msg)
            cap *= 2;
        if (cap > (size_t)t->n + 1)
            cap = (size_t)t->n + 1;
        strbuf *b = realloc(t->blocks, cap * sizeof *b);
        if (!b) {
            t->oom = true;
            return NULL;
        }
        memset(b + t->capblocks, 0, (cap - t->capblocks) * sizeof *b);
        t->blocks = b;
        t->capblocks = cap;
    }
    return &t->blocks[msg];
}

static void trace_publish(void *ctx, int64_t now, int client, uint64_t msg, uint8_t qos)
{
    tracer *t = ctx;
    strbuf *b = trace_block(t, msg);
    if (!b)
        return;
    char name[64], topic[65536];
    sb_printf(b, "message %llu: %s publishes at QoS %u on \"%s\" at %.3f ms\n",
              (unsigned long long)msg, client_name(t->sc, client, name, sizeof name), qos,
              client_text(t->sc, client, true, topic, sizeof topic), sim_to_ms(now));
    sb_printf(b, "  %12s  %-8s | %-*s | %s\n", "time", "sender", t->width, "packet", "receiver");
}

/* How a packet is shown: sent on a datagram link (arrived or lost), or on
 * a stream written, read whole by its receiver, or never read (its
 * connection ended first). */
enum { TR_SENT, TR_LOST, TR_WRITTEN, TR_READ, TR_UNREAD };

static void trace_line(tracer *t, int64_t now, int client, bool up, const mq_packet *p,
                       uint64_t msg, int how)
{
    char nb[64];
    const char *name = client_name(t->sc, client, nb, sizeof nb);
    bool is_flow_sender_pkt = p->type == MQ_PUBLISH || p->type == MQ_PUBREL;
    bool is_ack = p->type == MQ_PUBACK || p->type == MQ_PUBREC || p->type == MQ_PUBCOMP;
    bool flow_up = is_flow_sender_pkt ? up : !up;
    if (p->type == MQ_PUBLISH && p->qos > 0 && how != TR_READ && how != TR_UNREAD) {
        size_t i;
        for (i = 0; i < t->nkeys; i++)
            if (t->keys[i].client == client && t->keys[i].flow_up == flow_up && t->keys[i].id == p->id)
                break;
        if (i == t->nkeys) {
            if (t->nkeys == t->capkeys) {
                size_t cap = t->capkeys ? t->capkeys * 2 : 64;
                flow_key *k = realloc(t->keys, cap * sizeof *k);
                if (!k) {
                    t->oom = true;
                    return;
                }
                t->keys = k;
                t->capkeys = cap;
            }
            t->nkeys++;
        }
        t->keys[i] = (flow_key){client, flow_up, p->id, msg};
    } else if (is_ack || p->type == MQ_PUBREL) {
        msg = 0;
        for (size_t i = 0; i < t->nkeys; i++)
            if (t->keys[i].client == client && t->keys[i].flow_up == flow_up && t->keys[i].id == p->id)
                msg = t->keys[i].msg;
        if (!msg)
            return;
    }
    strbuf *b = trace_block(t, msg);
    if (!b)
        return;
    /* The flow's sender stands on the left, as in the classic QoS tables. */
    const char *left = flow_up ? name : "broker";
    const char *right = flow_up ? "broker" : name;
    char pkt[80];
    if (p->type == MQ_PUBLISH)
        snprintf(pkt, sizeof pkt, "PUBLISH id=%u QoS %u DUP %d", p->id, p->qos, p->dup);
    else if (p->type == MQ_PUBREL || is_ack)
        snprintf(pkt, sizeof pkt, "%s id=%u", mq_type_name(p->type), p->id);
    else
        snprintf(pkt, sizeof pkt, "%s", mq_type_name(p->type));
    bool rightward = msg == 0 ? up : (is_flow_sender_pkt || p->type == MQ_PUBLISH);
    if (msg == 0) {
        left = name;
        right = "broker";
    }
    static const char *const right_mark[] = {"-->", "--X  LOST", "==>", "==> read", "==X  unread"};
    static const char *const left_mark[] = {"<-- ", "LOST  X-- ", "<== ", "read <== ",
                                            "unread  X== "};
    char cell[120];
    if (rightward)
        snprintf(cell, sizeof cell, "%s %s", pkt, right_mark[how]);
    else
        snprintf(cell, sizeof cell, "%s%s", left_mark[how], pkt);
    sb_printf(b, "  %9.3f ms  %-8s | %-*s | %s\n", sim_to_ms(now), left, t->width, cell, right);
}

static void trace_packet(void *ctx, int64_t now, int client, bool up, const mq_packet *p,
                         uint64_t msg, bool lost)
{
    tracer *t = ctx;
    uint32_t i;
    bool stream = entry_of(t->sc, client, &i)->transport == MQ_TRANSPORT_STREAM;
    trace_line(t, now, client, up, p, msg, stream ? TR_WRITTEN : lost ? TR_LOST : TR_SENT);
}

static void trace_received(void *ctx, int64_t now, int client, bool up, const mq_packet *p,
                           uint64_t msg, bool lost)
{
    trace_line(ctx, now, client, up, p, msg, lost ? TR_UNREAD : TR_READ);
}

/* Connection events, in one block of their own. */
static void trace_conn(void *ctx, int64_t now, int client, uint32_t conn, bool broker_side,
                       mq_net_conn_event ev, int detail)
{
    tracer *t = ctx;
    char nb[64];
    const char *name = client_name(t->sc, client, nb, sizeof nb);
    char what[120];
    switch (ev) {
    case MQ_NET_OPEN: snprintf(what, sizeof what, "%s opens connection %u", name, conn); break;
    case MQ_NET_ESTABLISHED:
        snprintf(what, sizeof what, "%s: connection %u established (TCP)", name, conn);
        break;
    case MQ_NET_ACCEPTED:
        snprintf(what, sizeof what, "broker accepts %s's connection %u", name, conn);
        break;
    case MQ_NET_CONNECTED:
        snprintf(what, sizeof what, "%s connected (CONNACK, session present %d) on connection %u",
                 name, detail, conn);
        break;
    case MQ_NET_CLOSE:
        if (broker_side)
            snprintf(what, sizeof what, "broker closes %s's connection %u (%s)", name, conn,
                     mq_conn_close_name((mq_conn_close)detail));
        else
            snprintf(what, sizeof what, "%s closes its connection %u (%s)", name, conn,
                     mq_conn_close_name((mq_conn_close)detail));
        break;
    default:
        snprintf(what, sizeof what, "%s: %s connection %u is down (%s)",
                 broker_side ? "broker" : name, broker_side ? "the" : "its", conn,
                 mq_conn_close_name((mq_conn_close)detail));
        break;
    }
    sb_printf(&t->conns, "  %9.3f ms  %s\n", sim_to_ms(now), what);
}

/* Faults go into the connections list, in time order with what they cause. */
static void trace_fault(void *ctx, int64_t now, int client, uint32_t conn, mq_net_fault ev,
                        int detail)
{
    tracer *t = ctx;
    char nb[64];
    const char *name = client >= 0 ? client_name(t->sc, client, nb, sizeof nb) : "broker";
    char what[160];
    t->faults = true;
    switch (ev) {
    case MQ_NET_RESET:
        if (!conn)
            snprintf(what, sizeof what, "FAULT %s reset of %s's connection: none is open, "
                     "nothing to reset", detail ? "silent" : "rst", name);
        else if (detail)
            snprintf(what, sizeof what, "FAULT silent reset: a NAT forgets %s's connection %u "
                     "(neither end is told)", name, conn);
        else
            snprintf(what, sizeof what, "FAULT rst reset of %s's connection %u: RST to both ends",
                     name, conn);
        break;
    case MQ_NET_CRASH:
        snprintf(what, sizeof what, "FAULT %s crashes (%s); its kernel closes connection %u",
                 name, detail ? "its session kept on disk" : "its session and queue are lost",
                 conn);
        if (!conn)
            snprintf(what, sizeof what, "FAULT %s crashes (%s), with no connection open", name,
                     detail ? "its session kept on disk" : "its session and queue are lost");
        break;
    case MQ_NET_CLIENT_RESTART:
        snprintf(what, sizeof what, "FAULT %s restarts and connects", name);
        break;
    case MQ_NET_BROKER_DOWN:
        snprintf(what, sizeof what, "FAULT broker killed (persistence %s): its connections "
                 "closed, every session lost; SYNs refused while down", detail ? "on" : "off");
        break;
    default:
        snprintf(what, sizeof what, "FAULT broker restarted: listening again");
        break;
    }
    sb_printf(&t->conns, "  %9.3f ms  %s\n", sim_to_ms(now), what);
}

static void trace_deliver(void *ctx, int64_t now, int client, uint64_t msg, uint8_t qos, bool first)
{
    tracer *t = ctx;
    strbuf *b = trace_block(t, msg);
    char nb[64];
    if (b)
        sb_printf(b, "  %9.3f ms  %-8s | %-*s | %s delivers it (QoS %u)%s\n", sim_to_ms(now), "",
                  t->width, "", client_name(t->sc, client, nb, sizeof nb), qos,
                  first ? "" : " again: DUPLICATE");
}

static void trace_drop(void *ctx, int64_t now, int client, bool broker_side, uint64_t msg,
                       mq_drop_reason why)
{
    tracer *t = ctx;
    strbuf *b = trace_block(t, msg);
    char nb[64];
    if (b)
        sb_printf(b, "  %9.3f ms  %-8s | dropped: %-*s |\n", sim_to_ms(now),
                  broker_side ? "broker" : client_name(t->sc, client, nb, sizeof nb), t->width - 9,
                  mq_drop_reason_name(why));
}

/* One scheduled outage's begin or end, for the connections list. */
typedef struct {
    int64_t t;
    int client;
    bool up, begin;
    int64_t len;
} outage_mark;

static int by_mark_time(const void *a, const void *b)
{
    const outage_mark *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if (x->client != y->client)
        return x->client < y->client ? -1 : 1;
    return (int)y->up - (int)x->up; /* up first */
}

/* The connections list with the scheduled link outages that begin before
 * `end` merged in by time (an outage before an event of the same instant).
 * Random outages are drawn inside the links and are not listed. Returns a
 * new text (NULL: none to add, or out of memory, which *oom tells). */
static char *with_outages(const tracer *t, int64_t end, bool *oom)
{
    const scenario *sc = t->sc;
    size_t n = 0;
    for (size_t e = 0; e < sc->n; e++)
        n += 2 * (size_t)sc->clients[e].count *
             (sc->clients[e].up_outages.n + sc->clients[e].down_outages.n);
    if (!n)
        return NULL;
    outage_mark *mk = malloc(n * sizeof *mk);
    if (!mk) {
        *oom = true;
        return NULL;
    }
    size_t k = 0;
    for (size_t e = 0; e < sc->n; e++)
        for (uint32_t g = 0; g < sc->clients[e].count; g++) {
            size_t i = sc->first[e] + g;
            for (int d = 0; d < 2; d++) {
                const mq_net_outages *o =
                    d ? &sc->clients[e].down_outages : &sc->clients[e].up_outages;
                for (size_t j = 0; j < o->n; j++) {
                    if (o->w[j].start >= end)
                        continue;
                    mk[k++] = (outage_mark){o->w[j].start, (int)i, d == 0, true, o->w[j].len};
                    if (o->w[j].start + o->w[j].len < end)
                        mk[k++] = (outage_mark){o->w[j].start + o->w[j].len, (int)i, d == 0,
                                                false, 0};
                }
            }
        }
    qsort(mk, k, sizeof *mk, by_mark_time);
    strbuf b = {0};
    const char *p = t->conns.s ? t->conns.s : "";
    size_t m = 0;
    for (;;) {
        const char *nl = strchr(p, '\n');
        double at = *p ? strtod(p, NULL) : INFINITY;
        while (m < k && sim_to_ms(mk[m].t) <= at) {
            const outage_mark *x = &mk[m++];
            char nb[64];
            const char *name = client_name(sc, x->client, nb, sizeof nb);
            if (x->begin)
                sb_printf(&b, "  %9.3f ms  FAULT outage of %s's %s link begins (%.6g s): every "
                          "frame sent is lost\n", sim_to_ms(x->t), name,
                          x->up ? "up" : "down", sim_to_s(x->len));
            else
                sb_printf(&b, "  %9.3f ms  FAULT outage of %s's %s link ends\n",
                          sim_to_ms(x->t), name, x->up ? "up" : "down");
        }
        if (!*p)
            break;
        size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
        sb_printf(&b, "%.*s", (int)len, p);
        p += len;
    }
    free(mk);
    if (b.oom) {
        free(b.s);
        *oom = true;
        return NULL;
    }
    return b.s;
}

int exp_cmd_trace(const exp_config *cfg, uint32_t messages, const char *pcap,
                  bool pcap_receiver, FILE *out)
{
    char err[512];
    scenario sc = {0};
    tracer t = {.n = messages};
    int status = 1;
    rep_result *r = malloc(sizeof *r);
    if (!r || scenario_build(cfg, 0, &sc) != 0) {
        fprintf(stderr, "mqttsim: out of memory\n");
        goto out;
    }
    t.sc = &sc;
    bool stream = false;
    for (size_t e = 0; e < cfg->n_clients; e++)
        stream |= cfg->clients[e].transport == EXP_STREAM;
    t.width = stream ? 40 : 34;
    mq_net_hooks hooks = {.ctx = &t, .publish = trace_publish, .packet = trace_packet,
                          .deliver = trace_deliver, .drop = trace_drop};
    if (stream) {
        hooks.received = trace_received;
        hooks.conn = trace_conn;
        hooks.fault = trace_fault;
    }
    if (pcap) {
        if (!(t.cap = exp_capture_open(pcap, pcap_receiver, err, sizeof err))) {
            fprintf(stderr, "mqttsim: --pcap %s\n", err);
            status = 2;
            goto out;
        }
        hooks.segment = trace_segment;
        hooks.frame = trace_frame;
    }
    int rc = run_rep(cfg, 0, &hooks, messages, r, err, sizeof err);
    if (t.cap) {
        char cerr[512];
        int cr = exp_capture_close(t.cap, cerr, sizeof cerr);
        t.cap = NULL;
        if (cr != 0 && rc == 0) {
            fprintf(stderr, "mqttsim: --pcap %s\n", cerr);
            goto out;
        }
    }
    if (rc != 0) {
        fprintf(stderr, "mqttsim: %s\n", err);
        goto out;
    }
    bool oom = t.oom || t.conns.oom;
    size_t traced = 0;   /* messages are numbered from 1 as published, up to n */
    for (size_t i = 1; i < t.capblocks; i++) {
        oom |= t.blocks[i].oom;
        if (t.blocks[i].s)
            traced = i;
    }
    if (oom) {
        fprintf(stderr, "mqttsim: out of memory for the trace text\n");
        goto out;
    }
    char what[96];
    if (traced == messages)
        snprintf(what, sizeof what, "the first %zu message%s", traced, traced == 1 ? "" : "s");
    else
        snprintf(what, sizeof what, "all %zu message%s published, fewer than the %u asked for", traced,
                 traced == 1 ? "" : "s", messages);
    fprintf(out, "%s: trace of %s (seed %llu, replication 0; broker QoS 2 method %s)\n\n",
            cfg->name ? cfg->name : "", what, (unsigned long long)cfg->seed,
            cfg->qos2_method == MQ_QOS2_A ? "A" : "B");
    if (stream) {
        char *merged = with_outages(&t, r->st.t_publish_end + sc.net.drain, &oom);
        if (oom) {
            fprintf(stderr, "mqttsim: out of memory for the trace text\n");
            goto out;
        }
        if (merged) {
            free(t.conns.s);
            t.conns.s = merged;
            t.faults = true;
        }
        /* Over streams a packet is written into its connection, read whole
         * by the receiver later (==> read), or never (==X unread: the
         * connection ended first); TCP's own segments are not shown. */
        fprintf(out, "connections%s (over the whole run):\n%s\n", t.faults ? " and faults" : "",
                t.conns.s ? t.conns.s : "  none\n");
    }
    for (size_t i = 1; i <= traced; i++)
        if (t.blocks[i].s)
            fprintf(out, "%s\n", t.blocks[i].s);
    status = 0;
out:
    scenario_free(&sc);
    for (size_t i = 0; i < t.capblocks; i++)
        free(t.blocks[i].s);
    free(t.blocks);
    free(t.keys);
    free(t.conns.s);
    free(r);
    return status;
}
