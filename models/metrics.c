/* Run metrics: per-group counts and GSL running statistics, wire and drop counters. */
#include "models/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <gsl/gsl_histogram.h>

#include "models/codec.h"

/* Latency histogram for CDFs: log-spaced bins, BINS_PER_DECADE per decade from
 * 10^LO_DECADE ms (1 us) to 10^HI_DECADE ms (about 2.8 h). */
#define LO_DECADE (-3)
#define HI_DECADE 7
#define BINS_PER_DECADE 40
#define NBINS ((HI_DECADE - LO_DECADE) * BINS_PER_DECADE)

typedef struct {
    uint64_t published_pairs, expected, unique, duplicates;
    /* mean and max, updated as gsl_rstat_add does (the same operations in
     * the same order, so the same bits), without the variance, skewness,
     * kurtosis and P-squared median it also keeps, which nothing reads */
    uint64_t n_lat;
    double lat_mean, lat_max;
    gsl_histogram *hist;                /* quantiles and the CDF */
    double *bin_min, *bin_max;          /* the extreme latencies seen in each bin */
    size_t last_bin;                    /* the bin the previous latency fell in */
    double wire_packets, wire_bytes, resends; /* the group's share of the wire */
    uint64_t out_of_order;
    uint64_t lost_by[MQ_LOSS__COUNT];
    mq_conn_stats conn;
} group;

struct mq_metrics {
    group g[3][3];
    mq_wire_count by_type[16];
    mq_wire_count by_flow[4];
    uint64_t link_losses;
    uint64_t drops[MQ_DROP__COUNT];
    uint64_t events[MQ_EV__COUNT];
};

mq_metrics *mq_metrics_new(void)
{
    mq_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    double ranges[NBINS + 1];
    for (int i = 0; i <= NBINS; i++)
        ranges[i] = pow(10.0, LO_DECADE + (double)i / BINS_PER_DECADE);
    for (int p = 0; p < 3; p++)
        for (int s = 0; s < 3; s++) {
            group *g = &m->g[p][s];
            g->hist = gsl_histogram_alloc(NBINS);
            g->bin_min = calloc(NBINS, sizeof *g->bin_min);
            g->bin_max = calloc(NBINS, sizeof *g->bin_max);
            if (!g->hist || !g->bin_min || !g->bin_max) {
                mq_metrics_free(m);
                return NULL;
            }
            gsl_histogram_set_ranges(g->hist, ranges, NBINS + 1);
        }
    return m;
}

void mq_metrics_free(mq_metrics *m)
{
    if (!m)
        return;
    for (int p = 0; p < 3; p++)
        for (int s = 0; s < 3; s++) {
            group *g = &m->g[p][s];
            if (g->hist)
                gsl_histogram_free(g->hist);
            free(g->bin_min);
            free(g->bin_max);
        }
    free(m);
}

void mq_metrics_expect(mq_metrics *m, uint8_t p, uint8_t s, uint32_t n)
{
    if (n == 0)
        return;
    m->g[p][s].published_pairs++;
    m->g[p][s].expected += n;
}

void mq_metrics_delivery(mq_metrics *m, uint8_t p, uint8_t s, bool first, int64_t latency)
{
    group *g = &m->g[p][s];
    if (!first) {
        g->duplicates++;
        return;
    }
    g->unique++;
    double ms = (double)latency / 1e6;
    double delta = ms - g->lat_mean;
    if (g->n_lat == 0 || ms > g->lat_max)
        g->lat_max = ms;
    g->lat_mean += delta / (double)++g->n_lat;
    /* Out-of-range latencies land in the edge bins: the CDF stays complete. */
    double lo = g->hist->range[0], hi = g->hist->range[NBINS];
    double x = ms < lo ? lo : ms >= hi ? nextafter(hi, 0) : ms;
    /* Latencies cluster (a constant delay, a few paths): the previous bin
     * first, then GSL's binary search. Both give the bin i with
     * range[i] <= x < range[i + 1]. */
    size_t bin = g->last_bin;
    const double *r = g->hist->range;
    if ((r[bin] <= x && x < r[bin + 1]) || gsl_histogram_find(g->hist, x, &bin) == 0) {
        g->last_bin = bin;
        if (gsl_histogram_get(g->hist, bin) == 0 || ms < g->bin_min[bin])
            g->bin_min[bin] = ms;
        if (ms > g->bin_max[bin])
            g->bin_max[bin] = ms;
        g->hist->bin[bin] += 1; /* gsl_histogram_increment, without a second search */
    }
}

uint8_t mq_metrics_flow_of(uint8_t type, uint8_t packet_qos)
{
    switch (type) {
    case MQ_PUBLISH: return packet_qos;
    case MQ_PUBACK: return 1;
    case MQ_PUBREC:
    case MQ_PUBREL:
    case MQ_PUBCOMP: return 2;
    default: return MQ_FLOW_CONTROL;
    }
}

void mq_metrics_wire(mq_metrics *m, uint8_t type, uint8_t packet_qos, size_t bytes, bool resend)
{
    mq_wire_count *t = &m->by_type[type & 15];
    mq_wire_count *f = &m->by_flow[mq_metrics_flow_of(type, packet_qos)];
    t->packets++;
    t->bytes += bytes;
    f->packets++;
    f->bytes += bytes;
    if (resend) {
        t->resends++;
        f->resends++;
    }
}

void mq_metrics_wire_group(mq_metrics *m, uint8_t p, uint8_t s, double share, size_t bytes,
                           bool resend)
{
    group *g = &m->g[p][s];
    g->wire_packets += share;
    g->wire_bytes += share * (double)bytes;
    if (resend)
        g->resends += share;
}

/* The q-quantile (smallest latency with at least a fraction q of first
 * deliveries at or below it), read off the histogram: exact when the bin it
 * falls in holds one distinct latency (as with the retry-interval steps of
 * constant-delay links), else interpolated by rank between that bin's
 * smallest and largest latency, so never off by more than the bin's spread
 * (under 6%). */
static double quantile(const group *g, double q)
{
    double total = gsl_histogram_sum(g->hist), target = q * total, cum = 0;
    for (size_t i = 0; i < NBINS; i++) {
        double c = gsl_histogram_get(g->hist, i);
        if (c <= 0)
            continue;
        if (cum + c >= target) {
            double f = c > 1 ? (target - cum - 1) / (c - 1) : 0;
            f = f < 0 ? 0 : f > 1 ? 1 : f;
            return g->bin_min[i] + f * (g->bin_max[i] - g->bin_min[i]);
        }
        cum += c;
    }
    return g->lat_max;
}

void mq_metrics_out_of_order(mq_metrics *m, uint8_t p, uint8_t s)
{
    m->g[p][s].out_of_order++;
}

void mq_metrics_lost(mq_metrics *m, uint8_t p, uint8_t s, int cause)
{
    m->g[p][s].lost_by[cause]++;
}

void mq_conn_stats_add(mq_conn_stats *sum, const mq_conn_stats *x)
{
    sum->opens += x->opens;
    sum->connects += x->connects;
    for (int i = 0; i < MQ_CC__COUNT; i++)
        sum->closes[i] += x->closes[i];
    sum->disconnected_ns += x->disconnected_ns;
    sum->tcp_segments += x->tcp_segments;
    sum->tcp_data_segments += x->tcp_data_segments;
    sum->tcp_retransmissions += x->tcp_retransmissions;
    sum->tcp_rto_expiries += x->tcp_rto_expiries;
    sum->tcp_fast_retransmits += x->tcp_fast_retransmits;
    sum->tcp_segments_lost += x->tcp_segments_lost;
    sum->ip_bytes += x->ip_bytes;
    sum->resets += x->resets;
    sum->crashes += x->crashes;
    sum->outages += x->outages;
    sum->crash_down_ns += x->crash_down_ns;
    sum->outage_down_ns += x->outage_down_ns;
    sum->unpublished += x->unpublished;
    sum->reconnects += x->reconnects;
    sum->reconnect_ns += x->reconnect_ns;
    if (x->reconnect_max_ns > sum->reconnect_max_ns)
        sum->reconnect_max_ns = x->reconnect_max_ns;
    sum->unrecovered += x->unrecovered;
}

void mq_metrics_conn_group(mq_metrics *m, uint8_t p, uint8_t s, const mq_conn_stats *c)
{
    mq_conn_stats_add(&m->g[p][s].conn, c);
}

const char *mq_loss_cause_name(int cause)
{
    if (cause == MQ_LOSS_LINK)
        return "link";
    if (cause == MQ_LOSS_SUPPRESSED)
        return "dup_suppressed";
    if (cause > 0 && cause < MQ_LOSS__COUNT)
        return mq_drop_reason_name((mq_drop_reason)(cause - 1));
    return "?";
}

const char *mq_conn_close_name(mq_conn_close c)
{
    static const char *const names[MQ_CC__COUNT] = {
        "keepalive", "tcp_abort", "reset", "protocol_error", "client_disconnect", "takeover",
        "connect_timeout", "refused", "syn_timeout", "broker_restart", "server_disconnect",
        "peer_closed", "client_crash",
    };
    return (unsigned)c < MQ_CC__COUNT ? names[c] : "?";
}

void mq_metrics_link_loss(mq_metrics *m, uint8_t type)
{
    (void)type;
    m->link_losses++;
}

void mq_metrics_drop(mq_metrics *m, mq_drop_reason why)
{
    m->drops[why]++;
}

void mq_metrics_event(mq_metrics *m, mq_event ev)
{
    m->events[ev]++;
}

void mq_metrics_group(const mq_metrics *m, uint8_t p, uint8_t s, mq_group_result *out)
{
    const group *g = &m->g[p][s];
    uint8_t q = p < s ? p : s;
    *out = (mq_group_result){0};
    out->pub_qos = p;
    out->sub_qos = s;
    out->qos = q;
    out->present = g->expected > 0;
    out->published = g->published_pairs;
    out->expected = g->expected;
    out->unique = g->unique;
    out->duplicates = g->duplicates;
    out->lost = g->expected - g->unique;
    double e = (double)g->expected;
    out->loss_ratio = g->expected ? (double)out->lost / e : NAN;
    out->dup_ratio = g->expected ? (double)g->duplicates / e : NAN;
    out->delivery_ratio = g->expected ? (double)g->unique / e : NAN;
    if (g->unique) {
        out->lat_mean = g->lat_mean;
        out->lat_p50 = quantile(g, 0.50);
        out->lat_p90 = quantile(g, 0.90);
        out->lat_p99 = quantile(g, 0.99);
        out->lat_max = g->lat_max;
    } else {
        out->lat_mean = out->lat_p50 = out->lat_p90 = out->lat_p99 = out->lat_max = NAN;
    }
    /* The group's own packets: its flows on the subscriber's hop, and its
     * share of the publisher's hop (see mq_metrics_wire_group). */
    out->wire_packets_per_delivered = g->unique ? g->wire_packets / (double)g->unique : NAN;
    out->wire_bytes_per_delivered = g->unique ? g->wire_bytes / (double)g->unique : NAN;
    out->resends = g->resends;
    out->out_of_order = g->out_of_order;
    out->out_of_order_ratio = g->expected ? (double)g->out_of_order / e : NAN;
    for (int c = 0; c < MQ_LOSS__COUNT; c++)
        out->lost_by[c] = g->lost_by[c];
    out->conn = g->conn;
}

size_t mq_metrics_cdf(const mq_metrics *m, uint8_t p, uint8_t s, double *ms, double *frac,
                      size_t cap)
{
    const group *g = &m->g[p][s];
    double total = gsl_histogram_sum(g->hist);
    size_t n = 0;
    if (total <= 0)
        return 0;
    double cum = 0;
    for (size_t i = 0; i < NBINS && n < cap; i++) {
        double c = gsl_histogram_get(g->hist, i);
        if (c <= 0)
            continue;
        cum += c;
        /* Every sample of the bins so far is <= this bin's largest sample, so
         * the CDF is exact at these points: the bins only thin them out. */
        ms[n] = g->bin_max[i];
        frac[n] = cum / total;
        n++;
    }
    return n;
}

const mq_wire_count *mq_metrics_wire_by_type(const mq_metrics *m, uint8_t type)
{
    return &m->by_type[type & 15];
}

const mq_wire_count *mq_metrics_wire_by_flow(const mq_metrics *m, uint8_t flow)
{
    return &m->by_flow[flow & 3];
}

uint64_t mq_metrics_link_losses(const mq_metrics *m) { return m->link_losses; }
uint64_t mq_metrics_drops(const mq_metrics *m, mq_drop_reason why) { return m->drops[why]; }
uint64_t mq_metrics_events(const mq_metrics *m, mq_event ev) { return m->events[ev]; }
