/* `mqttsim client`: the engine's client over real sockets, its report, and `mqttsim combine` of reports into run's result files. */
#define _GNU_SOURCE /* getopt_long, dprintf */
#include "experiments/client_cmd.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <gsl/gsl_randist.h>

#include "experiments/fsutil.h"
#include "experiments/run.h"
#include "experiments/tally.h"
#include "models/metrics.h"
#include "models/sock.h"
#include "models/topic.h"
#include "sim/rng.h"

#define REPORT_FORMAT "mqttsim client report 1"
#define NS 1000000000.0

/* ------------------------------------------------------------- options -- */

typedef struct {
    const char *broker, *id, *pub, *out;
    uint8_t version, pub_qos;
    uint16_t keepalive;
    bool clean, have_pub, poisson, trace, quiet;
    uint32_t expiry, payload, max_inflight, max_queued;
    double rate, duration, drain;   /* duration < 0: not given */
    uint64_t count, seed, rep;      /* count 0: not given */
    mq_sub subs[MQ_MAX_TOPICS];
    size_t n_subs;
    int64_t reconnect_initial, reconnect_max, connect_timeout, retry_interval;
    double jitter;
    int32_t max_retries;
    mq_retransmit retransmit;
    mq_qos2_method qos2;
    int ready_fd;
    uint32_t withhold;              /* test only: acks to withhold, then abort */
} copts;

static const char CLIENT_USAGE[] =
    "usage: mqttsim client [--broker HOST:PORT] [--id ID] [--pub TOPIC [--qos Q]] [--sub FILTER "
    "[--qos Q]]... [options]\n";

static const char CLIENT_HELP[] =
    "Runs mqttsim's MQTT engine as a client of a real broker over TCP: publishes\n"
    "numbered, timestamped messages and/or subscribes, and reports loss, duplicates,\n"
    "order and latency per QoS pair, as 'mqttsim run' does for a simulated run.\n\n"
    "connection:\n"
    "  --broker HOST:PORT    the broker (default 127.0.0.1:1883; [v6addr]:PORT too)\n"
    "  --id ID               client identifier (default mqttsim-PID); the top 32 bits of\n"
    "                        every message id are a hash of it, so give publishers of one\n"
    "                        run distinct ids\n"
    "  --version 4|5         MQTT 3.1.1 (4, default) or 5.0\n"
    "  --keepalive S         keepalive seconds, 0 = off (default 60)\n"
    "  --clean-start         start a new session at every connect (default)\n"
    "  --session             keep the session (3.1.1 CleanSession 0; 5.0 with\n"
    "                        --session-expiry)\n"
    "  --session-expiry S    5.0 Session Expiry Interval (default 0: ends with the\n"
    "                        connection)\n"
    "  --connect-timeout S   close if no CONNACK within S (default 30)\n"
    "  --reconnect-initial MS, --reconnect-max MS, --reconnect-jitter F\n"
    "                        reconnect backoff (default 1000, 60000, 0)\n"
    "  --max-inflight N, --max-queued N\n"
    "                        the client's send window and queue (default 20, 1000; 0 =\n"
    "                        unlimited)\n"
    "  --retransmit reconnect|timer, --retry-interval MS, --max-retries N\n"
    "                        resend unacknowledged flows only on resumption (default),\n"
    "                        or also every MS while connected, giving up after N\n"
    "  --qos2-method A|B     when a received QoS 2 message is delivered (default A)\n"
    "publishing:\n"
    "  --pub TOPIC           publish on TOPIC once connected (and subscribed)\n"
    "  --qos Q               after --pub or --sub: its QoS 0, 1 or 2 (default 0)\n"
    "  --rate HZ             messages per second (default 1)\n"
    "  --arrival periodic|poisson  (default periodic, with a random phase)\n"
    "  --count N             stop after N messages (default: 1 without --duration)\n"
    "  --duration S          publish for S seconds; a subscriber alone: run for S\n"
    "  --drain S             then wait up to S for the flows to finish (default 10)\n"
    "  --payload BYTES       payload size, at least 16 (default 16): bytes 0-7 the message\n"
    "                        id, 8-15 the CLOCK_MONOTONIC publish time in ns (big-endian;\n"
    "                        latency is valid between processes of one machine), the rest\n"
    "                        zeros\n"
    "  --seed N, --rep N     the arrival stream ('ID.arrival', as the simulator draws it)\n"
    "subscribing:\n"
    "  --sub FILTER          subscribe to FILTER (repeatable, up to 16)\n"
    "output:\n"
    "  --out DIR             write client.json, deliveries.csv and results.json,\n"
    "                        results.csv, latency_cdf.csv there\n"
    "  --trace               print every packet sent and received (decoded from the bytes)\n"
    "  --ready-fd N          write a line on fd N once connected and subscribed\n"
    "  --quiet               print no table\n"
    "  --test-withhold-acks N  (tests) withhold the first N PUBACK/PUBREC, then abort the\n"
    "                        connection (RST) and reconnect\n"
    "  -h, --help            show this help\n"
    "A subscriber runs until --duration, SIGINT or SIGTERM, then reports. Reports of\n"
    "several clients are combined with 'mqttsim combine'.\n"
    "Exit status: 0 success, 1 connection or run failure, 2 bad usage.\n";

/* dir/name into buf; false when it does not fit. */
static bool join(char *buf, size_t n, const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    if (a + b + 2 > n)
        return false;
    memcpy(buf, dir, a);
    buf[a] = '/';
    memcpy(buf + a + 1, name, b + 1);
    return true;
}

static int cusage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int cusage(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "mqttsim client: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%sTry 'mqttsim client --help' for more.\n", CLIENT_USAGE);
    return 2;
}

static bool num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool uint_arg(const char *s, uint64_t hi, uint64_t *out)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno || v > hi)
        return false;
    *out = v;
    return true;
}

enum {
    O_BROKER = 256, O_ID, O_VERSION, O_KEEPALIVE, O_CLEAN, O_SESSION, O_EXPIRY, O_CTIMEOUT,
    O_RINIT, O_RMAX, O_RJIT, O_INFL, O_QUEUED, O_RETRANSMIT, O_RETRY, O_MAXRETRIES, O_QOS2,
    O_PUB, O_QOS, O_RATE, O_ARRIVAL, O_COUNT, O_DURATION, O_DRAIN, O_PAYLOAD, O_SEED, O_REP,
    O_SUB, O_OUT, O_TRACE, O_READY, O_QUIET, O_WITHHOLD, O_HELP,
};

static const struct option CLIENT_OPTS[] = {
    {"broker", 1, 0, O_BROKER}, {"id", 1, 0, O_ID}, {"version", 1, 0, O_VERSION},
    {"keepalive", 1, 0, O_KEEPALIVE}, {"clean-start", 0, 0, O_CLEAN},
    {"session", 0, 0, O_SESSION}, {"session-expiry", 1, 0, O_EXPIRY},
    {"connect-timeout", 1, 0, O_CTIMEOUT}, {"reconnect-initial", 1, 0, O_RINIT},
    {"reconnect-max", 1, 0, O_RMAX}, {"reconnect-jitter", 1, 0, O_RJIT},
    {"max-inflight", 1, 0, O_INFL}, {"max-queued", 1, 0, O_QUEUED},
    {"retransmit", 1, 0, O_RETRANSMIT}, {"retry-interval", 1, 0, O_RETRY},
    {"max-retries", 1, 0, O_MAXRETRIES}, {"qos2-method", 1, 0, O_QOS2},
    {"pub", 1, 0, O_PUB}, {"qos", 1, 0, O_QOS}, {"rate", 1, 0, O_RATE},
    {"arrival", 1, 0, O_ARRIVAL}, {"count", 1, 0, O_COUNT}, {"duration", 1, 0, O_DURATION},
    {"drain", 1, 0, O_DRAIN}, {"payload", 1, 0, O_PAYLOAD}, {"seed", 1, 0, O_SEED},
    {"rep", 1, 0, O_REP}, {"sub", 1, 0, O_SUB}, {"out", 1, 0, O_OUT},
    {"trace", 0, 0, O_TRACE}, {"ready-fd", 1, 0, O_READY}, {"quiet", 0, 0, O_QUIET},
    {"test-withhold-acks", 1, 0, O_WITHHOLD}, {"help", 0, 0, O_HELP}, {0, 0, 0, 0}};

/* Parses argv into *o. Returns -1 to go on, or an exit status (help: 0). */
static int parse_client(int argc, char **argv, copts *o)
{
    *o = (copts){.broker = "127.0.0.1:1883", .version = MQ_V311, .keepalive = 60, .clean = true,
                 .payload = 16, .max_inflight = 20, .max_queued = 1000, .rate = 1,
                 .duration = -1, .drain = 10, .seed = 1, .reconnect_initial = 1000000000,
                 .reconnect_max = 60000000000, .connect_timeout = 30000000000,
                 .retry_interval = 20000000000, .max_retries = -1,
                 .retransmit = MQ_RETRANSMIT_RECONNECT, .ready_fd = -1};
    int last = 0; /* O_PUB or O_SUB: what a --qos applies to */
    bool qos_given = false;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", CLIENT_OPTS, NULL)) != -1) {
        double d;
        uint64_t u;
        const char *a = optarg;
        switch (c) {
        case 'h':
        case O_HELP:
            printf("%s%s", CLIENT_USAGE, CLIENT_HELP);
            return 0;
        case O_BROKER: o->broker = a; break;
        case O_ID:
            if (strlen(a) > 65535)
                return cusage("--id: at most 65535 bytes");
            o->id = a;
            break;
        case O_VERSION:
            if (strcmp(a, "4") && strcmp(a, "5"))
                return cusage("--version: expected 4 (MQTT 3.1.1) or 5 (MQTT 5.0), got '%s'", a);
            o->version = (uint8_t)(a[0] - '0');
            break;
        case O_KEEPALIVE:
            if (!uint_arg(a, 65535, &u))
                return cusage("--keepalive: expected seconds from 0 to 65535, got '%s'", a);
            o->keepalive = (uint16_t)u;
            break;
        case O_CLEAN: o->clean = true; break;
        case O_SESSION: o->clean = false; break;
        case O_EXPIRY:
            if (!uint_arg(a, UINT32_MAX, &u))
                return cusage("--session-expiry: expected seconds from 0 to 4294967295, got '%s'", a);
            o->expiry = (uint32_t)u;
            break;
        case O_CTIMEOUT:
            if (!num(a, 0.001, 1e6, &d))
                return cusage("--connect-timeout: expected seconds > 0, got '%s'", a);
            o->connect_timeout = (int64_t)(d * NS);
            break;
        case O_RINIT:
        case O_RMAX:
            if (!num(a, 1, 1e9, &d))
                return cusage("%s: expected milliseconds >= 1, got '%s'", argv[optind - 2], a);
            *(c == O_RINIT ? &o->reconnect_initial : &o->reconnect_max) = (int64_t)(d * 1e6);
            break;
        case O_RJIT:
            if (!num(a, 0, 1, &o->jitter))
                return cusage("--reconnect-jitter: expected a fraction from 0 to 1, got '%s'", a);
            break;
        case O_INFL:
        case O_QUEUED:
            if (!uint_arg(a, UINT32_MAX, &u))
                return cusage("%s: expected a count >= 0 (0 = unlimited), got '%s'",
                              c == O_INFL ? "--max-inflight" : "--max-queued", a);
            *(c == O_INFL ? &o->max_inflight : &o->max_queued) = (uint32_t)u;
            break;
        case O_RETRANSMIT:
            if (strcmp(a, "reconnect") == 0)
                o->retransmit = MQ_RETRANSMIT_RECONNECT;
            else if (strcmp(a, "timer") == 0)
                o->retransmit = MQ_RETRANSMIT_TIMER;
            else
                return cusage("--retransmit: expected reconnect or timer, got '%s'", a);
            break;
        case O_RETRY:
            if (!num(a, 1, 1e9, &d))
                return cusage("--retry-interval: expected milliseconds >= 1, got '%s'", a);
            o->retry_interval = (int64_t)(d * 1e6);
            break;
        case O_MAXRETRIES:
            if (strcmp(a, "-1") == 0)
                o->max_retries = -1;
            else if (uint_arg(a, INT32_MAX, &u))
                o->max_retries = (int32_t)u;
            else
                return cusage("--max-retries: expected -1 (unlimited) or a count, got '%s'", a);
            break;
        case O_QOS2:
            if (strcmp(a, "A") && strcmp(a, "B"))
                return cusage("--qos2-method: expected A or B, got '%s'", a);
            o->qos2 = a[0] == 'A' ? MQ_QOS2_A : MQ_QOS2_B;
            break;
        case O_PUB:
            if (o->have_pub)
                return cusage("--pub: one topic per client (run one client per topic)");
            if (!mq_topic_name_valid(a, strlen(a)))
                return cusage("--pub: '%s' is not a valid topic name (1 to 65535 bytes of "
                              "UTF-8, no '+' or '#')", a);
            o->pub = a;
            o->have_pub = true;
            last = O_PUB;
            break;
        case O_SUB:
            if (o->n_subs == MQ_MAX_TOPICS)
                return cusage("--sub: at most %d filters", MQ_MAX_TOPICS);
            if (!mq_topic_filter_valid(a, strlen(a)))
                return cusage("--sub: '%s' is not a valid topic filter ('+' and '#' only as "
                              "whole levels, '#' last)", a);
            o->subs[o->n_subs++] = (mq_sub){a, (uint16_t)strlen(a), 0};
            last = O_SUB;
            break;
        case O_QOS:
            if (strlen(a) != 1 || a[0] < '0' || a[0] > '2')
                return cusage("--qos: expected 0, 1 or 2, got '%s'", a);
            if (last == O_PUB)
                o->pub_qos = (uint8_t)(a[0] - '0');
            else if (last == O_SUB)
                o->subs[o->n_subs - 1].qos = (uint8_t)(a[0] - '0');
            else
                return cusage("--qos must follow the --pub or --sub it applies to");
            qos_given = true;
            break;
        case O_RATE:
            if (!num(a, 1e-6, 1e6, &o->rate))
                return cusage("--rate: expected messages per second from 1e-6 to 1e6, got '%s'", a);
            break;
        case O_ARRIVAL:
            if (strcmp(a, "periodic") && strcmp(a, "poisson"))
                return cusage("--arrival: expected periodic or poisson, got '%s'", a);
            o->poisson = a[1] == 'o';
            break;
        case O_COUNT:
            if (!uint_arg(a, UINT32_MAX, &u) || u == 0)
                return cusage("--count: expected a count from 1 to 4294967295, got '%s'", a);
            o->count = u;
            break;
        case O_DURATION:
        case O_DRAIN:
            if (!num(a, 0, 1e9, &d))
                return cusage("%s: expected seconds >= 0, got '%s'",
                              c == O_DURATION ? "--duration" : "--drain", a);
            *(c == O_DURATION ? &o->duration : &o->drain) = d;
            break;
        case O_PAYLOAD:
            if (!uint_arg(a, 268435455 - 65535 - 16, &u) || u < 16)
                return cusage("--payload: expected at least 16 bytes (the message id and the "
                              "publish time), got '%s'", a);
            o->payload = (uint32_t)u;
            break;
        case O_SEED:
        case O_REP:
            if (!uint_arg(a, UINT64_MAX, &u))
                return cusage("%s: expected an integer >= 0, got '%s'",
                              c == O_SEED ? "--seed" : "--rep", a);
            *(c == O_SEED ? &o->seed : &o->rep) = u;
            break;
        case O_OUT: o->out = a; break;
        case O_TRACE: o->trace = true; break;
        case O_QUIET: o->quiet = true; break;
        case O_READY:
            if (!uint_arg(a, 1 << 20, &u))
                return cusage("--ready-fd: expected a file descriptor number, got '%s'", a);
            o->ready_fd = (int)u;
            break;
        case O_WITHHOLD:
            if (!uint_arg(a, 65535, &u))
                return cusage("--test-withhold-acks: expected a count, got '%s'", a);
            o->withhold = (uint32_t)u;
            break;
        case ':':
            return cusage("option '%s' needs a value", argv[optind - 1]);
        default:
            return cusage("unknown option '%s'", argv[optind - 1]);
        }
    }
    (void)qos_given;
    if (optind < argc)
        return cusage("unexpected argument '%s'", argv[optind]);
    if (!o->have_pub && !o->n_subs)
        return cusage("nothing to do: give --pub TOPIC and/or --sub FILTER");
    if (o->reconnect_initial > o->reconnect_max)
        return cusage("--reconnect-initial is above --reconnect-max");
    if (o->expiry && o->version != MQ_V5)
        return cusage("--session-expiry is MQTT 5.0 only (--version 5)");
    if (o->have_pub && o->count == 0 && o->duration < 0)
        o->count = 1;
    return -1;
}

/* ---------------------------------------------------------------- a run -- */

typedef struct {
    uint64_t packets, bytes;
} wcount;

typedef struct {
    copts o;
    char idbuf[64];
    mq_sock *l;
    mq_sock_addr addr;
    mq_sock_client *cl;
    mq_session *s;
    mq_metrics *m;
    exp_tally *tally;
    int pub_idx, sub_idx;
    bool self_match;             /* its own subscriptions match its own topic */
    uint32_t prefix;
    gsl_rng *arrival, *jitter;
    mq_sock_timer *pub_timer;
    int64_t t0, t_ready, t_pub_end, t_drain_end, t_end, period, first_at;
    uint64_t published, own_first;
    bool ever_connected, ready, publishing, pub_done, failed, draining;
    int status;
    uint8_t last_connack;        /* reason code of the last CONNACK received */
    bool got_connack;
    size_t subacks;
    FILE *dlog;
    char dlog_tmp[4200];
    uint64_t deliveries, unidentified;
    wcount wire[16][3][2];       /* type, QoS (PUBLISH) , resend */
    uint64_t opens, ups, downs[MQ_DOWN__COUNT], closes[MQ_CLOSE__COUNT], connacks;
    uint32_t withhold_left;
    uint64_t withheld;
} crun;

static volatile sig_atomic_t c_signal;

static void c_on_signal(int sig)
{
    c_signal = sig;
}

static double ms_since(const crun *r, int64_t t)
{
    return (double)(t - r->t0) / 1e6;
}

static void run_fail(crun *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void run_fail(crun *r, const char *fmt, ...)
{
    if (r->failed)
        return;
    r->failed = true;
    r->status = 1;
    va_list ap;
    fprintf(stderr, "mqttsim client: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static const char *connack_meaning(uint8_t version, uint8_t rc)
{
    if (version == MQ_V311) {
        static const char *const m[] = {"accepted", "unacceptable protocol version",
                                        "identifier rejected", "server unavailable",
                                        "bad user name or password", "not authorized"};
        return rc < 6 ? m[rc] : "unknown code";
    }
    switch (rc) {
    case 0x80: return "unspecified error";
    case 0x81: return "malformed packet";
    case 0x82: return "protocol error";
    case 0x84: return "unsupported protocol version";
    case 0x85: return "client identifier not valid";
    case 0x86: return "bad user name or password";
    case 0x87: return "not authorized";
    case 0x88: return "server unavailable";
    case 0x89: return "server busy";
    case 0x8A: return "banned";
    default: return "see MQTT 5.0 section 3.2.2.2";
    }
}

/* --- the engine's callbacks (through the host) --- */

static void on_deliver(void *ctx, int64_t now, mq_msg *m, const mq_view *v)
{
    crun *r = ctx;
    r->deliveries++;
    if (m->head_len < 16) {
        r->unidentified++;
        return;
    }
    uint64_t id = get_be64(mq_msg_head(m));
    int64_t lat = now - (int64_t)get_be64(mq_msg_head(m) + 8);
    if (r->dlog)
        fprintf(r->dlog, "%" PRIu64 ",%u,%d,%d,%" PRId64 "\n", id, v->qos, v->dup, v->retain, lat);
    int k = exp_tally_delivery(r->tally, r->m, r->sub_idx, id, v->qos, lat);
    if (k < 0)
        run_fail(r, "out of memory");
    else if (k == EXP_TALLY_FIRST && (uint32_t)(id >> 32) == r->prefix)
        r->own_first++;
}

static void on_drop(void *ctx, mq_msg *m, uint8_t qos, mq_drop_reason why)
{
    crun *r = ctx;
    (void)m;
    (void)qos;
    mq_metrics_drop(r->m, why);
}

static void on_event(void *ctx, mq_event ev, const mq_view *v)
{
    crun *r = ctx;
    (void)v;
    mq_metrics_event(r->m, ev);
    if (ev == MQ_EV_NOMEM)
        run_fail(r, "out of memory");
}

static void become_ready(crun *r, int64_t now);

static void on_connected(void *ctx, bool present)
{
    crun *r = ctx;
    int64_t now = mq_sock_now();
    r->connacks++;
    if (!r->o.quiet || r->ever_connected)
        fprintf(stderr, "mqttsim client: connected to %s as '%s' (MQTT %s, session present %d)\n",
                r->addr.text, r->o.id, r->o.version == MQ_V5 ? "5.0" : "3.1.1", present);
    r->ever_connected = true;
    if (!r->o.n_subs)
        become_ready(r, now);
}

static void on_subscribed(void *ctx, const uint8_t *codes, size_t n)
{
    crun *r = ctx;
    for (size_t i = 0; i < n && i < r->o.n_subs; i++) {
        if (codes[i] >= 0x80)
            run_fail(r, "%s refused the subscription to '%s' (SUBACK code 0x%02x)", r->addr.text,
                     r->o.subs[i].filter, codes[i]);
        else if (codes[i] != r->o.subs[i].qos && !r->o.quiet)
            fprintf(stderr, "mqttsim client: '%s' granted at QoS %u (asked for %u)\n",
                    r->o.subs[i].filter, codes[i], r->o.subs[i].qos);
    }
    become_ready(r, mq_sock_now());
}

static double on_random(void *ctx)
{
    crun *r = ctx;
    return gsl_rng_uniform(r->jitter);
}

static void on_transport(void *ctx, int64_t now, const mq_sock_transport *t)
{
    crun *r = ctx;
    switch (t->what) {
    case MQ_SOCK_OPEN:
        r->opens++;
        if (r->o.trace)
            printf("%10.3f ms  -- TCP connect to %s\n", ms_since(r, now), r->addr.text);
        break;
    case MQ_SOCK_UP:
        r->ups++;
        if (r->o.trace)
            printf("%10.3f ms  -- TCP established\n", ms_since(r, now));
        break;
    case MQ_SOCK_DOWN: {
        r->downs[t->down]++;
        const char *why = t->err == 0 ? "the broker closed the connection"
                                      : strerror(t->err);
        if (r->o.trace)
            printf("%10.3f ms  -- down: %s (%s)\n", ms_since(r, now), mq_down_cause_name(t->down),
                   why);
        if (r->pub_done && !r->publishing && r->draining)
            break;
        if (!r->ever_connected) {
            if (t->down == MQ_DOWN_REFUSED || t->down == MQ_DOWN_TIMEOUT)
                run_fail(r, "cannot connect to %s: %s", r->addr.text, why);
            else if (r->got_connack && r->last_connack)
                run_fail(r, "%s refused the connection: CONNACK code %u (%s)", r->addr.text,
                         r->last_connack, connack_meaning(r->o.version, r->last_connack));
            else
                run_fail(r, "%s: %s before CONNACK (not an MQTT broker, or it refused the "
                         "CONNECT)", r->addr.text, t->err ? why : "the peer closed the connection");
        } else {
            fprintf(stderr, "mqttsim client: connection to %s lost: %s; reconnecting\n",
                    r->addr.text, why);
        }
        break;
    }
    case MQ_SOCK_CLOSE:
        r->closes[t->close]++;
        if (r->o.trace)
            printf("%10.3f ms  -- closed by the client: %s\n", ms_since(r, now),
                   mq_close_cause_name(t->close));
        if (!r->ever_connected && t->close == MQ_CLOSE_REFUSED)
            run_fail(r, "%s refused the connection: CONNACK code %u (%s)", r->addr.text,
                     r->last_connack, connack_meaning(r->o.version, r->last_connack));
        else if (!r->ever_connected && t->close == MQ_CLOSE_CONNECT_TIMEOUT)
            run_fail(r, "%s: no CONNACK within the connect timeout", r->addr.text);
        else if (r->ever_connected && t->close != MQ_CLOSE_CLIENT_DISCONNECT)
            fprintf(stderr, "mqttsim client: closed the connection to %s: %s; reconnecting\n",
                    r->addr.text, mq_close_cause_name(t->close));
        break;
    }
}

static void on_packet(void *ctx, int64_t now, bool out, const mq_view *v, const char *topic,
                      size_t topic_len, size_t bytes, bool resend)
{
    crun *r = ctx;
    if (v->type == 0) {
        if (r->o.trace)
            printf("%10.3f ms  <- bytes that do not decode as MQTT\n", ms_since(r, now));
        return;
    }
    if (!out && v->type == MQ_CONNACK) {
        r->got_connack = true;
        r->last_connack = v->reason;
    }
    uint8_t q = v->type == MQ_PUBLISH ? v->qos : 0;
    wcount *w = &r->wire[v->type & 15][q][resend];
    w->packets++;
    w->bytes += bytes;
    if (!r->o.trace)
        return;
    printf("%10.3f ms  %s %s", ms_since(r, now), out ? "->" : "<-", mq_type_name(v->type));
    if (v->type == MQ_PUBLISH)
        printf(" id=%u qos=%u dup=%d retain=%d topic=%.*s", v->id, v->qos, v->dup, v->retain,
               (int)topic_len, topic);
    else if (v->type >= MQ_PUBACK && v->type <= MQ_PUBCOMP)
        printf(" id=%u", v->id);
    else if (v->type == MQ_CONNACK)
        printf(" session_present=%d code=%u", v->session_present, v->reason);
    else if (v->type == MQ_SUBSCRIBE || v->type == MQ_SUBACK)
        printf(" id=%u", v->id);
    printf(" (%zu bytes)%s\n", bytes, out && resend ? " resend" : "");
}

/* Test fault: the first N PUBACK/PUBREC never reach the socket; after the
 * N-th the connection is aborted, as if the client had crashed before
 * acknowledging. */
static bool on_pass(void *ctx, const mq_view *v)
{
    crun *r = ctx;
    if (!r->withhold_left || (v->type != MQ_PUBACK && v->type != MQ_PUBREC))
        return true;
    r->withhold_left--;
    r->withheld++;
    if (r->o.trace)
        printf("%10.3f ms  -> %s id=%u WITHHELD (test)\n", ms_since(r, mq_sock_now()),
               mq_type_name(v->type), v->id);
    if (!r->withhold_left)
        mq_sock_client_abort(r->cl);
    return false;
}

/* --- publishing --- */

static void publish_one(void *ctx, int64_t now)
{
    crun *r = ctx;
    if (!r->publishing || r->failed)
        return;
    uint8_t head[16];
    uint64_t seq = ++r->published;
    put_be64(head, (uint64_t)r->prefix << 32 | seq);
    put_be64(head + 8, (uint64_t)mq_sock_now());
    mq_msg *m = NULL;
    int rc = mq_msg_new(r->o.pub, strlen(r->o.pub), head, 16, r->o.payload, false, NULL, NULL, &m);
    if (rc == 0) {
        rc = mq_session_publish(r->s, now, m, r->o.pub_qos);
        mq_msg_unref(m);
    }
    if (rc < 0) {
        r->published--;
        run_fail(r, "cannot publish on '%s': %s", r->o.pub,
                 rc == MQ_ERR_NOMEM ? "out of memory" : mq_codec_strerror(rc));
        return;
    }
    if ((r->o.count && r->published >= r->o.count) || r->published == UINT32_MAX) {
        r->publishing = false;
        r->pub_done = true;
        return;
    }
    int64_t next = r->o.poisson
                       ? now + (int64_t)(gsl_ran_exponential(r->arrival, 1.0 / r->o.rate) * NS)
                       : r->first_at + (int64_t)r->published * r->period;
    mq_sock_timer_set(r->pub_timer, next);
}

static void become_ready(crun *r, int64_t now)
{
    if (r->ready || r->failed)
        return;
    r->ready = true;
    r->t_ready = now;
    if (r->o.ready_fd >= 0) {
        if (dprintf(r->o.ready_fd, "ready\n") < 0)
            run_fail(r, "--ready-fd %d: %s", r->o.ready_fd, strerror(errno));
        close(r->o.ready_fd);
        r->o.ready_fd = -1;
    }
    if (r->o.duration >= 0)
        r->t_pub_end = now + (int64_t)(r->o.duration * NS);
    if (!r->o.have_pub)
        return;
    r->publishing = true;
    int64_t first;
    if (r->o.poisson) {
        first = now + (int64_t)(gsl_ran_exponential(r->arrival, 1.0 / r->o.rate) * NS);
    } else {
        /* As the simulator: a random phase within one period. */
        r->period = (int64_t)(NS / r->o.rate + 0.5);
        if (r->period < 1)
            r->period = 1;
        first = now + (int64_t)(gsl_rng_uniform(r->arrival) * (double)r->period);
    }
    r->first_at = first;
    mq_sock_timer_set(r->pub_timer, first);
}

/* --------------------------------------------------------------- reports -- */

static cJSON *settings_json(const crun *r)
{
    const copts *o = &r->o;
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "client_id", o->id);
    cJSON_AddStringToObject(c, "broker", r->addr.text);
    cJSON_AddNumberToObject(c, "mqtt_version", o->version);
    cJSON_AddNumberToObject(c, "keepalive_s", o->keepalive);
    cJSON_AddBoolToObject(c, "clean_start", o->clean);
    cJSON_AddNumberToObject(c, "session_expiry_s", o->expiry);
    cJSON_AddNumberToObject(c, "max_inflight", o->max_inflight);
    cJSON_AddNumberToObject(c, "max_queued", o->max_queued);
    cJSON_AddStringToObject(c, "retransmit",
                            o->retransmit == MQ_RETRANSMIT_TIMER ? "timer" : "reconnect");
    cJSON_AddStringToObject(c, "qos2_method", o->qos2 == MQ_QOS2_A ? "A" : "B");
    cJSON_AddNumberToObject(c, "seed", (double)o->seed);
    cJSON_AddNumberToObject(c, "rep", (double)o->rep);
    if (o->have_pub) {
        cJSON *p = cJSON_AddObjectToObject(c, "publish");
        cJSON_AddStringToObject(p, "topic", o->pub);
        cJSON_AddNumberToObject(p, "qos", o->pub_qos);
        cJSON_AddNumberToObject(p, "rate_hz", o->rate);
        cJSON_AddStringToObject(p, "arrival", o->poisson ? "poisson" : "periodic");
        cJSON_AddNumberToObject(p, "payload_bytes", o->payload);
        if (o->count)
            cJSON_AddNumberToObject(p, "count", (double)o->count);
        if (o->duration >= 0)
            cJSON_AddNumberToObject(p, "duration_s", o->duration);
        cJSON_AddNumberToObject(p, "drain_s", o->drain);
    }
    cJSON *s = cJSON_AddArrayToObject(c, "subscribe");
    for (size_t i = 0; i < o->n_subs; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "filter", o->subs[i].filter);
        cJSON_AddNumberToObject(x, "qos", o->subs[i].qos);
        cJSON_AddItemToArray(s, x);
    }
    return c;
}

static char *report_json(const crun *r)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "format", REPORT_FORMAT);
    cJSON_AddItemToObject(root, "settings", settings_json(r));
    cJSON_AddNumberToObject(root, "prefix", r->prefix);
    cJSON_AddNumberToObject(root, "published", (double)r->published);
    cJSON_AddNumberToObject(root, "deliveries", (double)r->deliveries);
    cJSON_AddNumberToObject(root, "unidentified_deliveries", (double)r->unidentified);
    cJSON_AddNumberToObject(root, "run_s", (double)(r->t_end - r->t0) / NS);
    cJSON_AddNumberToObject(root, "publishing_s",
                            r->t_ready ? (double)((r->t_pub_end ? r->t_pub_end : r->t_end) -
                                                  r->t_ready) / NS : 0);
    cJSON *w = cJSON_AddArrayToObject(root, "wire");
    for (int t = 0; t < 16; t++)
        for (int q = 0; q < 3; q++)
            for (int rs = 0; rs < 2; rs++) {
                const wcount *c = &r->wire[t][q][rs];
                if (!c->packets)
                    continue;
                cJSON *x = cJSON_CreateObject();
                cJSON_AddStringToObject(x, "type", mq_type_name((uint8_t)t));
                cJSON_AddNumberToObject(x, "type_code", t);
                cJSON_AddNumberToObject(x, "qos", q);
                cJSON_AddBoolToObject(x, "resend", rs);
                cJSON_AddNumberToObject(x, "packets", (double)c->packets);
                cJSON_AddNumberToObject(x, "bytes", (double)c->bytes);
                cJSON_AddItemToArray(w, x);
            }
    cJSON *d = cJSON_AddObjectToObject(root, "drops");
    for (int i = 0; i < MQ_DROP__COUNT; i++)
        cJSON_AddNumberToObject(d, mq_drop_reason_name((mq_drop_reason)i),
                                (double)mq_metrics_drops(r->m, (mq_drop_reason)i));
    cJSON *e = cJSON_AddObjectToObject(root, "events");
    for (int i = 0; i < MQ_EV__COUNT; i++)
        cJSON_AddNumberToObject(e, mq_event_name((mq_event)i),
                                (double)mq_metrics_events(r->m, (mq_event)i));
    cJSON *cn = cJSON_AddObjectToObject(root, "connections");
    cJSON_AddNumberToObject(cn, "opened", (double)r->opens);
    cJSON_AddNumberToObject(cn, "established", (double)r->ups);
    cJSON_AddNumberToObject(cn, "connacks", (double)r->connacks);
    cJSON *dn = cJSON_AddObjectToObject(cn, "downs");
    for (int i = 0; i < MQ_DOWN__COUNT; i++)
        cJSON_AddNumberToObject(dn, mq_down_cause_name((mq_down_cause)i), (double)r->downs[i]);
    cJSON *cl = cJSON_AddObjectToObject(cn, "closes");
    for (int i = 0; i < MQ_CLOSE__COUNT; i++)
        cJSON_AddNumberToObject(cl, mq_close_cause_name((mq_close_cause)i), (double)r->closes[i]);
    cJSON_AddNumberToObject(root, "withheld_acks", (double)r->withheld);
    /* What this client's own tally found beyond the groups of results.json
     * (its own messages to its own subscriptions; combine recomputes these
     * for a whole run). */
    exp_tally_extra x;
    exp_tally_extra_get(r->tally, &x);
    cJSON *tx = cJSON_AddArrayToObject(root, "tally");
    for (int p = 0; p < 3; p++)
        for (int s = 0; s < 3; s++) {
            if (!x.out_of_order[p][s] && !x.qos_mismatch[p][s])
                continue;
            cJSON *g = cJSON_CreateObject();
            cJSON_AddNumberToObject(g, "pub_qos", p);
            cJSON_AddNumberToObject(g, "sub_qos", s);
            cJSON_AddNumberToObject(g, "out_of_order", (double)x.out_of_order[p][s]);
            cJSON_AddNumberToObject(g, "qos_mismatch", (double)x.qos_mismatch[p][s]);
            cJSON_AddItemToArray(tx, g);
        }
    cJSON_AddNumberToObject(root, "unknown_publisher_deliveries", (double)x.unknown);
    cJSON_AddNumberToObject(root, "unmatched_deliveries", (double)x.unmatched);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

static void print_extra(const exp_tally_extra *x, uint64_t unidentified)
{
    for (int p = 0; p < 3; p++)
        for (int s = 0; s < 3; s++) {
            if (x->out_of_order[p][s])
                printf("pub %d sub %d: %" PRIu64 " first deliveries out of order\n", p, s,
                       x->out_of_order[p][s]);
            if (x->qos_mismatch[p][s])
                printf("warning: pub %d sub %d: %" PRIu64 " deliveries at a QoS other than "
                       "min(%d, %d)\n", p, s, x->qos_mismatch[p][s], p, s);
        }
    if (x->unknown)
        printf("%" PRIu64 " deliveries from publishers not in this report (combine the "
               "publishers' reports with 'mqttsim combine')\n", x->unknown);
    if (x->unmatched)
        printf("warning: %" PRIu64 " deliveries on topics no subscription matches\n", x->unmatched);
    if (unidentified)
        printf("%" PRIu64 " deliveries with payloads under 16 bytes (no message id)\n",
               unidentified);
}

/* The client's own report files and result files. Returns 0 or 1. */
static int write_reports(crun *r)
{
    const copts *o = &r->o;
    exp_tally_extra x;
    exp_tally_extra_get(r->tally, &x);
    if (r->dlog) {
        bool bad = ferror(r->dlog) != 0;
        bad |= fclose(r->dlog) != 0;
        r->dlog = NULL;
        char path[4200];
        join(path, sizeof path, o->out, "deliveries.csv");
        if (bad || rename(r->dlog_tmp, path) != 0) {
            fprintf(stderr, "mqttsim client: cannot write %s: %s\n", path, strerror(errno));
            unlink(r->dlog_tmp);
            return 1;
        }
    }
    cJSON *settings = settings_json(r);
    char *cfgjson = cJSON_PrintUnformatted(settings);
    cJSON_Delete(settings);
    exp_config cfg = {.name = (char *)o->id, .seed = o->seed, .json = cfgjson,
                      .duration_s = r->t_ready ? (double)((r->t_pub_end ? r->t_pub_end : r->t_end)
                                                          - r->t_ready) / NS : 0};
    exp_measured meas = {r->m, false, (double)(r->t_end - r->t0) / NS,
                         (double)(r->t_end - r->t0) / NS, r->published, false};
    int rc = exp_results_write(&cfg, &meas, 1, o->out, o->quiet);
    free(cfgjson);
    if (!o->quiet)
        print_extra(&x, r->unidentified);
    if (o->out) {
        char *rep = report_json(r);
        char path[4200];
        join(path, sizeof path, o->out, "client.json");
        if (!rep || exp_fs_write_atomic(path, rep, strlen(rep)) != 0) {
            fprintf(stderr, "mqttsim client: cannot write %s: %s\n", path, strerror(errno));
            rc = 1;
        }
        free(rep);
    }
    return rc;
}

/* -------------------------------------------------------------- the loop -- */

/* Whether everything this client waits for at the end is done: nothing in
 * flight or queued, and each of its own messages its own subscriptions
 * match delivered once. */
static bool finished(const crun *r)
{
    return mq_session_idle(r->s) && (!r->self_match || r->own_first >= r->published);
}

static int run_client(crun *r)
{
    copts *o = &r->o;
    int64_t now = mq_sock_now();
    r->t0 = now;
    if (mq_session_subscribe(r->s, now, o->subs, o->n_subs) != 0 && o->n_subs) {
        run_fail(r, "cannot subscribe (out of memory)");
        return 1;
    }
    if (!o->quiet)
        fprintf(stderr, "mqttsim client: connecting to %s\n", r->addr.text);
    mq_session_connect(r->s, now);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, &old);
    sigset_t wait_mask = old;
    sigdelset(&wait_mask, SIGINT);
    sigdelset(&wait_mask, SIGTERM);
    sigdelset(&wait_mask, SIGHUP);
    bool stop = false;
    while (!stop && !r->failed) {
        int64_t until = MQ_NEVER;
        if (r->publishing && r->t_pub_end)
            until = r->t_pub_end;
        if (r->draining)
            until = r->t_drain_end;
        if (!o->have_pub && r->ready && r->t_pub_end)
            until = r->t_pub_end;
        mq_sock_step(r->l, until, &wait_mask);
        now = mq_sock_now();
        if (c_signal) {
            if (!o->quiet)
                fprintf(stderr, "mqttsim client: %s: stopping\n", strsignal(c_signal));
            stop = true;
            break;
        }
        if (r->publishing && r->t_pub_end && now >= r->t_pub_end) {
            r->publishing = false;
            r->pub_done = true;
            mq_sock_timer_set(r->pub_timer, MQ_NEVER);
        }
        if (o->have_pub && r->pub_done && !r->draining) {
            r->draining = true;
            r->t_pub_end = r->t_pub_end ? r->t_pub_end : now;
            r->t_drain_end = now + (int64_t)(o->drain * NS);
        }
        if (r->draining && (finished(r) || now >= r->t_drain_end))
            stop = true;
        if (!o->have_pub && r->ready && r->t_pub_end && now >= r->t_pub_end)
            stop = true;
    }
    /* The end, as a simulated run ends: what is still held is in flight at
     * the end; then a clean DISCONNECT. */
    now = mq_sock_now();
    r->t_end = now;
    if (!r->t_pub_end)
        r->t_pub_end = now;
    mq_session_finish(r->s, now);
    mq_session_disconnect(r->s, now);
    int64_t limit = mq_sock_now() + MQ_SOCK_LINGER;
    while (mq_sock_lingering(r->l) && mq_sock_now() < limit)
        mq_sock_step(r->l, limit, &wait_mask);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return r->status;
}

int exp_cmd_client(int argc, char **argv)
{
    crun r;
    memset(&r, 0, sizeof r);
    int rc = parse_client(argc, argv, &r.o);
    if (rc >= 0)
        return rc;
    copts *o = &r.o;
    if (!o->id) {
        snprintf(r.idbuf, sizeof r.idbuf, "mqttsim-%ld", (long)getpid());
        o->id = r.idbuf;
    }
    char err[512];
    if (mq_sock_resolve(o->broker, "127.0.0.1", &r.addr, err, sizeof err) != 0)
        return cusage("--broker %s", err);
    if (o->out) {
        if (exp_fs_mkdir_p(o->out) != 0 || !exp_fs_is_dir(o->out) || access(o->out, W_OK) != 0) {
            fprintf(stderr, "mqttsim client: --out %s: %s\n", o->out,
                    errno ? strerror(errno) : "not a writable directory");
            return 2;
        }
        snprintf(r.dlog_tmp, sizeof r.dlog_tmp, "%s/.deliveries.csv.tmp.%ld", o->out,
                 (long)getpid());
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = c_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    r.prefix = exp_tally_prefix(o->id);
    char name[200];
    snprintf(name, sizeof name, "%s.arrival", o->id);
    r.arrival = sim_rng_new(o->seed, o->rep, name);
    snprintf(name, sizeof name, "%s.reconnect", o->id);
    r.jitter = sim_rng_new(o->seed, o->rep, name);
    r.l = mq_sock_new();
    r.m = mq_metrics_new();
    r.tally = exp_tally_new();
    r.pub_idx = r.sub_idx = -1;
    rc = 1;
    if (!r.arrival || !r.jitter || !r.l || !r.m || !r.tally) {
        fprintf(stderr, "mqttsim client: out of memory\n");
        goto out;
    }
    if (o->have_pub)
        r.pub_idx = exp_tally_add_publisher(r.tally, r.prefix, o->pub, o->pub_qos);
    r.sub_idx = exp_tally_add_subscriber(r.tally, o->subs, o->n_subs);
    r.self_match = o->have_pub && exp_tally_sub_qos(r.tally, r.sub_idx, o->pub,
                                                    strlen(o->pub)) >= 0;
    r.pub_timer = mq_sock_timer_new(r.l, publish_one, &r);
    if ((o->have_pub && r.pub_idx < 0) || r.sub_idx < 0 || !r.pub_timer) {
        fprintf(stderr, "mqttsim client: out of memory\n");
        goto out;
    }
    if (o->out && !(r.dlog = fopen(r.dlog_tmp, "w"))) {
        fprintf(stderr, "mqttsim client: cannot write %s: %s\n", r.dlog_tmp, strerror(errno));
        rc = 2;
        goto out;
    }
    if (r.dlog)
        fprintf(r.dlog, "msg_id,qos,dup,retain,latency_ns\n");
    mq_session_config cfg = {
        .role = MQ_ROLE_CLIENT, .version = o->version, .client_id = o->id,
        .max_inflight = o->max_inflight, .max_queued = o->max_queued,
        .retry_interval = o->retry_interval, .max_retries = o->max_retries,
        .qos2_method = o->qos2, .transport = MQ_TRANSPORT_STREAM, .retransmit = o->retransmit,
        .keepalive_s = o->keepalive, .clean_start = o->clean, .session_expiry_s = o->expiry,
        .connect_timeout = o->connect_timeout, .reconnect_initial = o->reconnect_initial,
        .reconnect_max = o->reconnect_max, .reconnect_jitter = o->jitter,
    };
    mq_sock_client_hooks h = {
        .ctx = &r, .deliver = on_deliver, .drop = on_drop, .event = on_event,
        .connected = on_connected, .subscribed = on_subscribed, .random = on_random,
        .transport = on_transport, .packet = on_packet, .pass = o->withhold ? on_pass : NULL,
    };
    r.withhold_left = o->withhold;
    r.cl = mq_sock_client_new(r.l, &r.addr, &cfg, &h);
    if (!r.cl) {
        rc = cusage("the engine refuses these settings (client id '%s': valid UTF-8, at most "
                    "65535 bytes)", o->id);
        goto out;
    }
    r.s = mq_sock_client_session(r.cl);
    setvbuf(stdout, NULL, _IOLBF, 0);
    rc = run_client(&r);
    if (r.o.have_pub)
        exp_tally_set_published(r.tally, r.pub_idx, r.published);
    exp_tally_expect(r.tally, r.m);
    if (rc == 0 || r.ever_connected) {
        int wrc = write_reports(&r);
        if (rc == 0)
            rc = wrc;
    }
out:
    if (r.dlog) {
        fclose(r.dlog);
        unlink(r.dlog_tmp);
    }
    mq_sock_client_free(r.cl);
    mq_sock_timer_free(r.pub_timer);
    mq_sock_free(r.l);
    exp_tally_free(r.tally);
    mq_metrics_free(r.m);
    if (r.arrival)
        gsl_rng_free(r.arrival);
    if (r.jitter)
        gsl_rng_free(r.jitter);
    return rc;
}

/* --------------------------------------------------------------- combine -- */

/* One client's report, read back. */
typedef struct {
    char *dir;
    cJSON *root;
    const char *id;
    uint32_t prefix;
    int sub;                 /* tally subscriber index */
} creport;

static int read_report(const char *dir, creport *c, char *err, size_t errlen)
{
    char path[4200];
    join(path, sizeof path, dir, "client.json");
    char *text = exp_fs_read(path, NULL);
    if (!text) {
        snprintf(err, errlen, "%.900s: %s", path, strerror(errno));
        return 1;
    }
    c->root = cJSON_Parse(text);
    free(text);
    const cJSON *f = cJSON_GetObjectItem(c->root, "format");
    const cJSON *st = cJSON_GetObjectItem(c->root, "settings");
    const cJSON *id = cJSON_GetObjectItem(st, "client_id");
    const cJSON *px = cJSON_GetObjectItem(c->root, "prefix");
    if (!c->root || !cJSON_IsString(f) || strcmp(f->valuestring, REPORT_FORMAT) ||
        !cJSON_IsString(id) || !cJSON_IsNumber(px)) {
        snprintf(err, errlen, "%.900s: not a report of mqttsim client (format \"%s\")", path,
                 REPORT_FORMAT);
        return 1;
    }
    c->id = id->valuestring;
    c->prefix = (uint32_t)px->valuedouble;
    c->dir = (char *)dir;
    return 0;
}

static double jnum(const cJSON *o, const char *k)
{
    const cJSON *x = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(x) ? x->valuedouble : 0;
}

/* Replays a report's wire counts into m: packets x mq_metrics_wire with
 * the bytes split so that the sum is exact (the metrics keep sums only). */
static void replay_wire(mq_metrics *m, const cJSON *root)
{
    const cJSON *w;
    cJSON_ArrayForEach(w, cJSON_GetObjectItem(root, "wire")) {
        uint64_t packets = (uint64_t)jnum(w, "packets"), bytes = (uint64_t)jnum(w, "bytes");
        uint8_t type = (uint8_t)jnum(w, "type_code"), qos = (uint8_t)jnum(w, "qos");
        bool resend = cJSON_IsTrue(cJSON_GetObjectItem(w, "resend"));
        for (uint64_t i = 0; i < packets; i++)
            mq_metrics_wire(m, type, qos, bytes / packets + (i < bytes % packets), resend);
    }
    const cJSON *d = cJSON_GetObjectItem(root, "drops");
    for (int i = 0; i < MQ_DROP__COUNT; i++)
        for (uint64_t k = (uint64_t)jnum(d, mq_drop_reason_name((mq_drop_reason)i)); k; k--)
            mq_metrics_drop(m, (mq_drop_reason)i);
    const cJSON *e = cJSON_GetObjectItem(root, "events");
    for (int i = 0; i < MQ_EV__COUNT; i++)
        for (uint64_t k = (uint64_t)jnum(e, mq_event_name((mq_event)i)); k; k--)
            mq_metrics_event(m, (mq_event)i);
}

static int replay_deliveries(exp_tally *t, mq_metrics *m, const creport *c, char *err,
                             size_t errlen)
{
    char path[4200], line[256];
    join(path, sizeof path, c->dir, "deliveries.csv");
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%.900s: %s", path, strerror(errno));
        return 1;
    }
    unsigned long n = 0;
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        if (n++ == 0)
            continue; /* the header */
        uint64_t id;
        unsigned qos, dup, ret;
        int64_t lat;
        if (sscanf(line, "%" SCNu64 ",%u,%u,%u,%" SCNd64, &id, &qos, &dup, &ret, &lat) != 5 ||
            qos > 2) {
            snprintf(err, errlen, "%.900s: line %lu: expected msg_id,qos,dup,retain,latency_ns",
                     path, n);
            rc = 1;
            break;
        }
        if (exp_tally_delivery(t, m, c->sub, id, (uint8_t)qos, lat) < 0) {
            snprintf(err, errlen, "out of memory");
            rc = 1;
            break;
        }
    }
    fclose(f);
    return rc;
}

/* One replication: its reports into m (and what the metrics do not hold
 * into *x). Returns 0, 1 or 2 with err set. */
static int combine_rep(const char *const *dirs, size_t n, mq_metrics *m, exp_tally_extra *x,
                       exp_measured *meas, cJSON *clients, char *err, size_t errlen)
{
    creport *c = calloc(n ? n : 1, sizeof *c);
    exp_tally *t = exp_tally_new();
    int rc = 1;
    if (!c || !t) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if ((rc = read_report(dirs[i], &c[i], err, errlen)) != 0)
            goto out;
    rc = 2;
    for (size_t i = 0; i < n; i++) {
        const cJSON *st = cJSON_GetObjectItem(c[i].root, "settings");
        const cJSON *pub = cJSON_GetObjectItem(st, "publish");
        if (pub) {
            const cJSON *topic = cJSON_GetObjectItem(pub, "topic");
            int j = exp_tally_add_publisher(t, c[i].prefix, cJSON_IsString(topic) ?
                                            topic->valuestring : "", (uint8_t)jnum(pub, "qos"));
            if (j == -2) {
                for (size_t k = 0; k < i; k++)
                    if (c[k].prefix == c[i].prefix)
                        snprintf(err, errlen, "%s and %s: clients '%s' and '%s' share the "
                                 "message-id prefix %08x: run them with other --id values",
                                 c[k].dir, c[i].dir, c[k].id, c[i].id, c[i].prefix);
                goto out;
            }
            if (j < 0) {
                snprintf(err, errlen, "out of memory");
                rc = 1;
                goto out;
            }
            exp_tally_set_published(t, j, (uint64_t)jnum(c[i].root, "published"));
            meas->messages += (uint64_t)jnum(c[i].root, "published");
        }
        mq_sub subs[MQ_MAX_TOPICS];
        size_t ns = 0;
        const cJSON *s;
        cJSON_ArrayForEach(s, cJSON_GetObjectItem(st, "subscribe")) {
            const cJSON *fl = cJSON_GetObjectItem(s, "filter");
            if (ns < MQ_MAX_TOPICS && cJSON_IsString(fl))
                subs[ns++] = (mq_sub){fl->valuestring, (uint16_t)strlen(fl->valuestring),
                                      (uint8_t)jnum(s, "qos")};
        }
        c[i].sub = exp_tally_add_subscriber(t, subs, ns);
        double run_s = jnum(c[i].root, "run_s");
        if (run_s > meas->run_s)
            meas->run_s = meas->wall_s = run_s;
        replay_wire(m, c[i].root);
        if (clients)
            cJSON_AddItemToArray(clients, cJSON_Duplicate(st, true));
    }
    rc = 1;
    for (size_t i = 0; i < n; i++)
        if (cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(c[i].root, "settings"),
                                                   "subscribe")) > 0 &&
            replay_deliveries(t, m, &c[i], err, errlen) != 0)
            goto out;
    exp_tally_expect(t, m);
    exp_tally_extra_get(t, x);
    rc = 0;
out:
    for (size_t i = 0; c && i < n; i++)
        cJSON_Delete(c[i].root);
    free(c);
    exp_tally_free(t);
    return rc;
}

int exp_client_combine(const char *const *const *dirs, const size_t *n, size_t nreps,
                       const exp_config *cfg, const char *name, const char *out_dir, bool quiet)
{
    char err[1024] = "";
    int rc = 1;
    mq_metrics **ms = calloc(nreps ? nreps : 1, sizeof *ms);
    exp_measured *meas = calloc(nreps ? nreps : 1, sizeof *meas);
    cJSON *conf = cJSON_CreateObject();
    cJSON *clients = cJSON_AddArrayToObject(conf, "clients");
    exp_tally_extra total;
    memset(&total, 0, sizeof total);
    char *json = NULL;
    if (!ms || !meas || !nreps) {
        fprintf(stderr, "mqttsim combine: %s\n", nreps ? "out of memory" : "no reports");
        goto out;
    }
    for (size_t r = 0; r < nreps; r++) {
        exp_tally_extra x;
        if (!(ms[r] = mq_metrics_new())) {
            fprintf(stderr, "mqttsim combine: out of memory\n");
            goto out;
        }
        meas[r].m = ms[r];
        if ((rc = combine_rep(dirs[r], n[r], ms[r], &x, &meas[r], r == 0 ? clients : NULL, err,
                              sizeof err)) != 0) {
            fprintf(stderr, "mqttsim combine: %s\n", err);
            goto out;
        }
        for (int p = 0; p < 3; p++)
            for (int s = 0; s < 3; s++) {
                total.out_of_order[p][s] += x.out_of_order[p][s];
                total.qos_mismatch[p][s] += x.qos_mismatch[p][s];
            }
        total.unknown += x.unknown;
        total.unmatched += x.unmatched;
    }
    exp_config c0 = {0};
    if (cfg) {
        c0 = *cfg;
    } else {
        c0.name = (char *)(name ? name : "combined");
        c0.json = json = cJSON_PrintUnformatted(conf);
        c0.duration_s = meas[0].run_s;
    }
    rc = exp_results_write(&c0, meas, nreps, out_dir, quiet);
    if (!quiet)
        print_extra(&total, 0);
out:
    for (size_t r = 0; ms && r < nreps; r++)
        mq_metrics_free(ms[r]);
    free(ms);
    free(meas);
    free(json);
    cJSON_Delete(conf);
    return rc;
}

static bool has_report(const char *dir)
{
    char path[4200];
    join(path, sizeof path, dir, "client.json");
    return exp_fs_is_file(path);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The client directories below rep (one level), sorted; NULL when out of memory. */
static char **client_dirs(const char *rep, size_t *n)
{
    *n = 0;
    DIR *d = opendir(rep);
    if (!d)
        return NULL;
    size_t cap = 16;
    char **v = malloc(cap * sizeof *v);
    struct dirent *e;
    while (v && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4200];
        if (!join(path, sizeof path, rep, e->d_name))
            continue;
        if (!has_report(path))
            continue;
        if (*n == cap) {
            char **nv = realloc(v, 2 * cap * sizeof *v);
            if (!nv)
                break;
            v = nv;
            cap *= 2;
        }
        v[(*n)++] = strdup(path);
    }
    closedir(d);
    if (v)
        qsort(v, *n, sizeof *v, name_cmp);
    return v;
}

int exp_cmd_combine(int argc, char **argv)
{
    static const char usage[] = "usage: mqttsim combine DIR... [--out DIR] [--name NAME] [--quiet]\n";
    static const struct option opts[] = {{"out", 1, 0, 'o'}, {"name", 1, 0, 'n'},
                                         {"quiet", 0, 0, 'q'}, {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *out = NULL, *name = NULL;
    bool quiet = false;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":o:n:qh", opts, NULL)) != -1) {
        if (c == 'h') {
            printf("%sCombines the reports of 'mqttsim client' runs (their --out directories)\n"
                   "into run's result files: loss, duplicates and latency per QoS pair, with\n"
                   "what every publisher published and every subscriber received. Each DIR is a\n"
                   "client's directory (all of them one replication) or a replication's\n"
                   "directory of client directories (one replication each, with 95%% CIs).\n\n"
                   "  -o, --out DIR   write results.json, results.csv, latency_cdf.csv there\n"
                   "  --name NAME     the run's name in the files (default: combined)\n"
                   "  -q, --quiet     print no table\n"
                   "Exit status: 0 success, 1 unreadable report or write failure, 2 bad usage\n"
                   "or reports that contradict each other.\n", usage);
            return 0;
        }
        if (c == 'o')
            out = optarg;
        else if (c == 'n')
            name = optarg;
        else if (c == 'q')
            quiet = true;
        else {
            fprintf(stderr, "mqttsim combine: %s '%s'\n%s", c == ':' ? "option needs a value:" :
                    "unknown option", argv[optind - 1], usage);
            return 2;
        }
    }
    int npos = argc - optind;
    if (npos < 1) {
        fprintf(stderr, "mqttsim combine: missing the client report directories\n%s", usage);
        return 2;
    }
    char **pos = argv + optind;
    size_t nclient = 0;
    for (int i = 0; i < npos; i++)
        nclient += has_report(pos[i]);
    int rc = 2;
    if (nclient == (size_t)npos) {
        size_t n = (size_t)npos;
        const char *const *one[1] = {(const char *const *)pos};
        return exp_client_combine(one, &n, 1, NULL, name, out, quiet);
    }
    if (nclient) {
        fprintf(stderr, "mqttsim combine: give either client directories (with client.json) or "
                        "replication directories of them, not both\n");
        return 2;
    }
    char ***reps = calloc((size_t)npos, sizeof *reps);
    size_t *ns = calloc((size_t)npos, sizeof *ns);
    if (!reps || !ns) {
        fprintf(stderr, "mqttsim combine: out of memory\n");
        rc = 1;
        goto out;
    }
    for (int i = 0; i < npos; i++) {
        reps[i] = client_dirs(pos[i], &ns[i]);
        if (!reps[i] || !ns[i]) {
            fprintf(stderr, "mqttsim combine: %s: no client report (client.json) in it or in "
                            "its subdirectories\n", pos[i]);
            goto out;
        }
    }
    rc = exp_client_combine((const char *const *const *)reps, ns, (size_t)npos, NULL, name, out,
                            quiet);
out:
    for (int i = 0; reps && i < npos; i++) {
        for (size_t k = 0; reps[i] && k < ns[i]; k++)
            free(reps[i][k]);
        free(reps[i]);
    }
    free(reps);
    free(ns);
    return rc;
}
