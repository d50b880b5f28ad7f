/* `mqttsim broker`: the engine's broker on real sockets, configured from a config's broker keys. */
#define _GNU_SOURCE /* getopt_long, strsignal */
#include "experiments/broker_cmd.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/config.h"
#include "models/sock.h"

static const char USAGE[] =
    "usage: mqttsim broker [--listen [HOST:]PORT] [--config FILE] [--set key.path=value]... "
    "[--verbose]\n";

static const char HELP[] =
    "Serves real MQTT 3.1.1 and 5.0 clients (mosquitto_pub, Paho, mqttsim client) with\n"
    "mqttsim's own broker engine over TCP, until SIGINT or SIGTERM.\n\n"
    "  --listen [HOST:]PORT  where to listen (default 127.0.0.1:1883; port 0: any free\n"
    "                        port, printed)\n"
    "  --config FILE         take the broker keys of an experiment config:\n"
    "                        broker.max_inflight, max_queued, qos2_method,\n"
    "                        queue_qos0_messages, retransmit, retry_interval_ms,\n"
    "                        max_retries (keepalive: a client silent for 1.5 x its\n"
    "                        CONNECT keepalive is closed)\n"
    "  --set key.path=value  override a config key (as for 'run'); repeatable\n"
    "  --verbose             print every connection opened and closed\n"
    "  -h, --help            show this help\n"
    "A malformed packet closes only its own connection and is counted. The counts are\n"
    "printed at exit and on SIGUSR1. Sessions live in memory only.\n"
    "Exit status: 0 stopped by a signal, 1 failure, 2 bad usage or config, or the\n"
    "address cannot be listened on.\n";

/* Without --config the broker keys take the key table's defaults, through
 * the loader like any config: a config needs a publisher and a subscriber,
 * which the broker ignores. */
static const char DEFAULT_CONFIG[] =
    "{\"name\": \"broker\", \"clients\": [{\"role\": \"publisher\", \"topic\": \"t\"}, "
    "{\"role\": \"subscriber\", \"subscribe\": [{\"filter\": \"t\", \"qos\": 0}]}]}";

static volatile sig_atomic_t b_stop, b_usr1;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        b_usr1 = 1;
    else
        b_stop = sig;
}

typedef struct {
    bool verbose;
    mq_sock_broker *sb;
} bstate;

static void on_transport(void *ctx, int64_t now, const mq_sock_transport *t)
{
    bstate *b = ctx;
    (void)now;
    if (!b->verbose)
        return;
    if (t->what == MQ_SOCK_OPEN)
        printf("connection from %s\n", t->peer->text);
    else if (t->what == MQ_SOCK_DOWN)
        printf("connection from %s down: %s%s%s\n", t->peer->text, mq_down_cause_name(t->down),
               t->err ? ": " : "", t->err ? strerror(t->err) : "");
    else if (t->what == MQ_SOCK_CLOSE)
        printf("connection from %s closed: %s\n", t->peer->text, mq_close_cause_name(t->close));
}

static void on_event(void *ctx, const mq_sock_addr *peer, mq_event ev, const mq_view *v)
{
    bstate *b = ctx;
    if (ev != MQ_EV_MALFORMED && ev != MQ_EV_UNEXPECTED && ev != MQ_EV_NOMEM)
        return;
    /* Always said: a peer broke the protocol, or memory ran out. */
    fprintf(stderr, "mqttsim broker: %s from %s%s%s\n",
            ev == MQ_EV_MALFORMED ? "malformed packet" : ev == MQ_EV_UNEXPECTED
                                                             ? "unexpected packet"
                                                             : "out of memory",
            peer->text, v ? ": " : "", v ? mq_type_name(v->type) : "");
    (void)b;
}

static void print_stats(FILE *f, const mq_sock_broker *sb)
{
    mq_sock_broker_stats st;
    mq_sock_broker_stats_get(sb, &st);
    fprintf(f, "connections: %" PRIu64 " accepted, %" PRIu64 " open, %" PRIu64
               " not accepted\n", st.accepted, st.open, st.accept_errors);
    fprintf(f, "protocol errors: %" PRIu64 " malformed packets, %" PRIu64
               " unexpected packets (each closed its connection)\n",
            st.events[MQ_EV_MALFORMED], st.events[MQ_EV_UNEXPECTED]);
    fprintf(f, "closed by the broker:");
    for (int i = 0; i < MQ_CLOSE__COUNT; i++)
        fprintf(f, " %s %" PRIu64, mq_close_cause_name((mq_close_cause)i), st.closes[i]);
    fprintf(f, "\nclosed by the peer or the network:");
    for (int i = 0; i < MQ_DOWN__COUNT; i++)
        fprintf(f, " %s %" PRIu64, mq_down_cause_name((mq_down_cause)i), st.downs[i]);
    fprintf(f, "\nmessages dropped:");
    for (int i = 0; i < MQ_DROP__COUNT; i++)
        fprintf(f, " %s %" PRIu64, mq_drop_reason_name((mq_drop_reason)i), st.drops[i]);
    fprintf(f, "\npackets sent:");
    for (uint8_t t = MQ_CONNECT; t <= MQ_AUTH; t++)
        if (st.packets_out[t])
            fprintf(f, " %s %" PRIu64, mq_type_name(t), st.packets_out[t]);
    fprintf(f, "\nbytes: %" PRIu64 " in, %" PRIu64 " out\n", st.bytes_in, st.bytes_out);
    fflush(f);
}

static int busage(const char *fmt, const char *a)
{
    fprintf(stderr, "mqttsim broker: ");
    fprintf(stderr, fmt, a);
    fprintf(stderr, "\n%sTry 'mqttsim broker --help' for more.\n", USAGE);
    return 2;
}

int exp_cmd_broker(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", 1, 0, 'l'}, {"config", 1, 0, 'c'}, {"set", 1, 0, 's'},
        {"verbose", 0, 0, 'v'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *listen_on = "127.0.0.1:1883", *path = NULL;
    char **sets = calloc((size_t)argc + 1, sizeof *sets);
    size_t nsets = 0;
    bstate bs = {0};
    int c, rc = 2;
    opterr = 0;
    optind = 1;
    if (!sets) {
        fprintf(stderr, "mqttsim broker: out of memory\n");
        return 1;
    }
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            printf("%s%s", USAGE, HELP);
            free(sets);
            return 0;
        case 'l': listen_on = optarg; break;
        case 'c': path = optarg; break;
        case 's': sets[nsets++] = optarg; break;
        case 'v': bs.verbose = true; break;
        case ':':
            free(sets);
            return busage("option '%s' needs a value", argv[optind - 1]);
        default:
            free(sets);
            return busage("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        free(sets);
        return busage("unexpected argument '%s'", argv[optind]);
    }
    char err[1024];
    exp_config cfg = {0};
    int lrc = path ? exp_config_load(path, sets, nsets, &cfg, err, sizeof err)
                   : exp_config_load_text(DEFAULT_CONFIG, "defaults", NULL, sets, nsets, &cfg, err,
                                          sizeof err);
    free(sets);
    if (lrc) {
        fprintf(stderr, "%s\n", err);
        return lrc;
    }
    mq_sock_addr addr, bound;
    mq_sock *l = NULL;
    if (mq_sock_resolve(listen_on, "127.0.0.1", &addr, err, sizeof err) != 0) {
        exp_config_free(&cfg);
        return busage("--listen %s", err);
    }
    if (cfg.persistence || cfg.restarts.n || cfg.restarts.mtbf_ns)
        fprintf(stderr, "mqttsim broker: note: broker.persistence and broker.restarts are not "
                        "applied: sessions live in this process's memory only\n");
    mq_session_config bc = {
        .role = MQ_ROLE_BROKER, .version = cfg.mqtt_version ? cfg.mqtt_version : MQ_V311,
        .max_inflight = cfg.max_inflight, .max_queued = cfg.max_queued,
        .retry_interval = cfg.retry_interval_ns, .max_retries = cfg.max_retries,
        .qos2_method = cfg.qos2_method, .transport = MQ_TRANSPORT_STREAM,
        .retransmit = !cfg.has_retransmit ? MQ_RETRANSMIT_AUTO
                      : cfg.retransmit == EXP_TIMER ? MQ_RETRANSMIT_TIMER
                                                    : MQ_RETRANSMIT_RECONNECT,
        .queue_qos0 = cfg.queue_qos0_messages,
    };
    mq_sock_broker_hooks h = {.ctx = &bs, .transport = on_transport, .event = on_event};
    l = mq_sock_new();
    bs.sb = l ? mq_sock_broker_new(l, &bc, &h) : NULL;
    if (!bs.sb) {
        fprintf(stderr, "mqttsim broker: %s\n", l ? "the engine refuses these broker settings"
                                                  : "out of memory");
        rc = 1;
        goto out;
    }
    /* Signals are taken from before the banner on: whoever reads it may
     * stop the broker at once. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &old);
    sigset_t wait_mask = old;
    sigdelset(&wait_mask, SIGINT);
    sigdelset(&wait_mask, SIGTERM);
    sigdelset(&wait_mask, SIGHUP);
    sigdelset(&wait_mask, SIGUSR1);
    if (mq_sock_broker_listen(bs.sb, &addr, &bound, err, sizeof err) != 0) {
        fprintf(stderr, "mqttsim broker: %s\n", err);
        sigprocmask(SIG_SETMASK, &old, NULL);
        rc = 2;
        goto out;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("mqttsim broker: listening on %s (MQTT 3.1.1 and 5.0; max_inflight %" PRIu32
           ", max_queued %" PRIu32 ", qos2_method %s, queue_qos0_messages %s, retransmit %s)\n",
           bound.text, bc.max_inflight, bc.max_queued, bc.qos2_method == MQ_QOS2_A ? "A" : "B",
           bc.queue_qos0 ? "true" : "false",
           bc.retransmit == MQ_RETRANSMIT_TIMER ? "timer" : "reconnect");
    while (!b_stop) {
        mq_sock_step(l, MQ_NEVER, &wait_mask);
        if (b_usr1) {
            b_usr1 = 0;
            print_stats(stdout, bs.sb);
        }
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("mqttsim broker: %s: stopping\n", strsignal(b_stop));
    print_stats(stdout, bs.sb);
    rc = 0;
out:
    mq_sock_broker_free(bs.sb);
    mq_sock_free(l);
    exp_config_free(&cfg);
    return rc;
}
