/* `mqttsim testbed`: namespaces, TUN devices, the relay, the broker and the clients of a real-time run, and their cleanup. */
#define _GNU_SOURCE
#include "experiments/testbed.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "experiments/fsutil.h"
#include "experiments/client_cmd.h"
#include "experiments/relay.h"
#include "experiments/testbed_tcp.h"
#include "models/topic.h"
#include "sim/rng.h"
#include <gsl/gsl_randist.h>

/* SCHED_FIFO priorities: the relay before everything, the broker and the
 * clients before the rest of the machine. */
#define EXP_TB_RT_PRIO_RELAY 10
#define EXP_TB_RT_PRIO_HOSTS 5

/* ------------------------------------------------------------ plan checks -- */

static size_t instances(const exp_config *cfg)
{
    size_t n = 0;
    for (size_t e = 0; e < cfg->n_clients; e++)
        n += cfg->clients[e].count;
    return n;
}

/* MQTT packets of one message's flow on one hop, by QoS. */
static const double FLOW_PACKETS[3] = {1, 2, 4};

/* Topic and filter of instance i of a group, expanded ({i}); "" when too long. */
static void expand(const char *pattern, uint32_t i, char *buf, size_t cap)
{
    int n = exp_config_expand(pattern, i, buf, cap);
    if (n < 0 || (size_t)n >= cap)
        buf[0] = '\0';
}

double exp_testbed_packet_rate(const exp_config *cfg)
{
    double pps = 0;
    char topic[1024], filter[1024];
    for (size_t e = 0; e < cfg->n_clients; e++) {
        const exp_client *p = &cfg->clients[e];
        if (p->role != EXP_PUBLISHER)
            continue;
        for (uint32_t pi = 0; pi < p->count; pi++) {
            expand(p->topic, pi, topic, sizeof topic);
            double per_msg = 2 * FLOW_PACKETS[p->qos];
            for (size_t f = 0; f < cfg->n_clients; f++) {
                const exp_client *s = &cfg->clients[f];
                for (uint32_t si = 0; s->role == EXP_SUBSCRIBER && si < s->count; si++) {
                    int best = -1; /* the highest QoS among the matching filters */
                    for (size_t j = 0; j < s->n_subs; j++) {
                        expand(s->subs[j].filter, si, filter, sizeof filter);
                        if (mq_topic_match(filter, strlen(filter), topic, strlen(topic)) &&
                            s->subs[j].qos > best)
                            best = s->subs[j].qos;
                    }
                    if (best >= 0)
                        per_msg += 2 * FLOW_PACKETS[best < p->qos ? best : p->qos];
                }
            }
            pps += p->rate_hz * per_msg;
        }
    }
    return pps;
}

int exp_testbed_check(const exp_config *cfg, const exp_testbed_opts *o, char *err, size_t errlen)
{
    bool datagram = cfg->transport == EXP_DATAGRAM;
    for (size_t e = 0; e < cfg->n_clients; e++)
        datagram |= cfg->clients[e].transport == EXP_DATAGRAM;
    if (datagram) {
        snprintf(err, errlen, "%s: transport \"datagram\": the testbed runs MQTT over real TCP "
                 "and cannot reproduce the datagram model (each packet a frame on the lossy link); "
                 "use \"transport\": \"stream\"", cfg->origin ? cfg->origin : "config");
        return 2;
    }
    const char *origin = cfg->origin ? cfg->origin : "config";
    for (size_t e = 0; e < cfg->n_clients; e++) {
        const exp_client *c = &cfg->clients[e];
        if (c->role == EXP_PUBLISHER && c->payload_bytes < 16) {
            snprintf(err, errlen, "%s: clients.%zu.payload_bytes: %" PRIu32 " bytes; the testbed's "
                     "publishers need at least 16 (a real payload carries the message id in bytes "
                     "0-7 and the publish time in bytes 8-15, from which the subscribers count "
                     "and time what they receive)", origin, e, c->payload_bytes);
            return 2;
        }
    }
    /* Faults the testbed does not inject: refused rather than ignored. */
    const char *fault = NULL;
    size_t fe = 0;
    for (size_t e = 0; !fault && e < cfg->n_clients; e++) {
        const exp_client *c = &cfg->clients[e];
        fe = e;
        if (c->resets.n || c->resets.mtbf_ns)
            fault = "resets";
        else if (c->crashes.n || c->crashes.mtbf_ns)
            fault = "crashes";
    }
    if (fault) {
        snprintf(err, errlen, "%s: clients.%zu.%s: the testbed does not inject this fault (it "
                 "applies loss, delay, bandwidth, link.outages and broker.restarts)", origin, fe,
                 fault);
        return 2;
    }
    if (o->broker == EXP_TB_MQTTSIM && cfg->persistence &&
        (cfg->restarts.n || cfg->restarts.mtbf_ns)) {
        snprintf(err, errlen, "%s: broker.persistence true with broker.restarts: 'mqttsim broker' "
                 "keeps its sessions in memory only, so a restarted one has lost them; run it "
                 "with --broker mosquitto", origin);
        return 2;
    }
    for (size_t e = 1; e < cfg->n_clients; e++) {
        const exp_tcp *a = &cfg->clients[0].tcp, *b = &cfg->clients[e].tcp;
        if (a->retries2 != b->retries2 || a->rto_max_ns != b->rto_max_ns) {
            snprintf(err, errlen, "%s: clients.%zu.tcp: retries2 and rto_max_ms differ from "
                     "clients.0's; the broker's namespace has one value of each for all its "
                     "connections (net.ipv4.tcp_retries2, tcp_rto_max_ms)", origin, e);
            return 2;
        }
    }
    size_t n = instances(cfg);
    if (n > o->max_clients) {
        snprintf(err, errlen, "%s: %zu client instances (clients.N.count summed), more than the "
                 "testbed's limit of %" PRIu32 " (--max-clients; each instance is a process and a "
                 "network namespace of its own, up to %d)", cfg->origin ? cfg->origin : "config",
                 n, o->max_clients, EXP_TB_MAX_CLIENTS_HARD);
        return 2;
    }
    double cost = cfg->replications * (cfg->duration_s + cfg->drain_s);
    if (cost > o->max_seconds) {
        snprintf(err, errlen, "%s: the testbed runs in real time, and this config may take up to "
                 "%.0f s (%" PRIu32 " replication%s x (duration_s %g + drain_s %g)), more than "
                 "--max-seconds %g", cfg->origin ? cfg->origin : "config", cost,
                 cfg->replications, cfg->replications == 1 ? "" : "s", cfg->duration_s,
                 cfg->drain_s, o->max_seconds);
        return 2;
    }
    double pps = exp_testbed_packet_rate(cfg);
    if (pps > EXP_TB_MAX_PPS) {
        snprintf(err, errlen, "%s: the relay would carry about %.0f packets/s (publishers' "
                 "rate_hz x count x packets per message on every hop, as TCP segments and ACKs); "
                 "it applies the link model in real time to at most %.0f packets/s",
                 cfg->origin ? cfg->origin : "config", pps, EXP_TB_MAX_PPS);
        return 2;
    }
    return 0;
}

void exp_testbed_client_addr(size_t k, char *buf, size_t len)
{
    assert(k < EXP_TB_MAX_CLIENTS_HARD);
    snprintf(buf, len, "198.18.%zu.%zu", 1 + k / 250, 1 + k % 250);
}

/* ------------------------------------------------------------------ seam -- */

/* An argv under construction: pointers and their strings in one block. */
typedef struct {
    char *words[96];
    size_t n;
    char text[8192];
    size_t used;
    bool full;
} argv_buf;

static void arg(argv_buf *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void arg(argv_buf *a, const char *fmt, ...)
{
    if (a->full || a->n + 1 >= sizeof a->words / sizeof a->words[0]) {
        a->full = true;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(a->text + a->used, sizeof a->text - a->used, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof a->text - a->used) {
        a->full = true;
        return;
    }
    a->words[a->n++] = a->text + a->used;
    a->used += (size_t)k + 1;
}

/* The argv in one allocation: the pointer array, then the strings. */
static char **argv_take(const argv_buf *a)
{
    if (a->full)
        return NULL;
    size_t ptrs = (a->n + 1) * sizeof(char *);
    char **v = malloc(ptrs + a->used);
    if (!v)
        return NULL;
    char *text = (char *)v + ptrs;
    memcpy(text, a->text, a->used);
    for (size_t i = 0; i < a->n; i++)
        v[i] = text + (a->words[i] - a->text);
    v[a->n] = NULL;
    return v;
}

/*
 * The client command, as the real-socket client of issue 11 will take it.
 * Publishers publish for duration_s (the simulator's publishing time) and
 * then wait up to drain_s for their own flows to finish; the arrival process
 * draws from the stream the simulator uses ("<name>.arrival" of seed and
 * replication). Subscribers run until the testbed stops them (SIGTERM, after
 * the drain) and then write their report. Each client writes a line on fd 3
 * once connected (and subscribed): the testbed starts the publishers only
 * when every subscriber has done so, as the simulator starts publishing once
 * every subscription is in place.
 */
char **exp_testbed_client_argv(const char *self, const exp_config *cfg, size_t entry,
                               uint32_t instance, uint64_t rep, const char *out_dir)
{
    assert(entry < cfg->n_clients && instance < cfg->clients[entry].count);
    const exp_client *c = &cfg->clients[entry];
    argv_buf a = {0};
    arg(&a, "%s", self);
    arg(&a, "client");
    arg(&a, "--broker");
    arg(&a, "%s:%d", EXP_TB_BROKER_ADDR, EXP_TB_PORT);
    arg(&a, "--id");
    arg(&a, "c%zu.%" PRIu32, entry, instance);
    arg(&a, "--version");
    arg(&a, "%u", cfg->mqtt_version ? cfg->mqtt_version : 4);
    arg(&a, "--keepalive");
    arg(&a, "%u", c->keepalive_s);
    arg(&a, c->clean_start ? "--clean-start" : "--session");
    if (cfg->mqtt_version == 5 && c->session_expiry_s) {
        arg(&a, "--session-expiry");
        arg(&a, "%" PRIu32, c->session_expiry_s);
    }
    /* The client's connection and session keys, as the simulator's client
     * takes them (models/net.c): every one explicit, so the argv is the
     * record of what ran. */
    arg(&a, "--connect-timeout");
    arg(&a, "%.17g", (double)c->connect_timeout_ns / 1e9);
    arg(&a, "--reconnect-initial");
    arg(&a, "%.17g", (double)c->reconnect.initial_ns / 1e6);
    arg(&a, "--reconnect-max");
    arg(&a, "%.17g", (double)c->reconnect.max_ns / 1e6);
    if (c->reconnect.jitter > 0) {
        arg(&a, "--reconnect-jitter");
        arg(&a, "%.17g", c->reconnect.jitter);
    }
    arg(&a, "--max-inflight");
    arg(&a, "%" PRIu32, c->max_inflight);
    arg(&a, "--max-queued");
    arg(&a, "%" PRIu32, c->max_queued);
    arg(&a, "--retransmit");
    arg(&a, "%s", c->retransmit == EXP_TIMER ? "timer" : "reconnect");
    if (c->retransmit == EXP_TIMER) {
        arg(&a, "--retry-interval");
        arg(&a, "%.17g", c->retry_interval_ms);
        arg(&a, "--max-retries");
        arg(&a, "%" PRId32, c->max_retries);
    }
    char x[1024];
    if (c->role == EXP_PUBLISHER) {
        arg(&a, "--pub");
        expand(c->topic, instance, x, sizeof x);
        arg(&a, "%s", x);
        arg(&a, "--qos");
        arg(&a, "%u", c->qos);
        arg(&a, "--rate");
        arg(&a, "%.17g", c->rate_hz);
        arg(&a, "--arrival");
        arg(&a, "%s", c->arrival == EXP_POISSON ? "poisson" : "periodic");
        arg(&a, "--payload");
        arg(&a, "%" PRIu32, c->payload_bytes);
        arg(&a, "--duration");
        arg(&a, "%.17g", cfg->duration_s);
        arg(&a, "--drain");
        arg(&a, "%.17g", cfg->drain_s);
        arg(&a, "--seed");
        arg(&a, "%" PRIu64, cfg->seed);
        arg(&a, "--rep");
        arg(&a, "%" PRIu64, rep);
    } else {
        arg(&a, "--qos2-method");
        arg(&a, "%s", c->qos2_method == MQ_QOS2_B ? "B" : "A");
        for (size_t j = 0; j < c->n_subs; j++) {
            arg(&a, "--sub");
            expand(c->subs[j].filter, instance, x, sizeof x);
            arg(&a, "%s", x);
            arg(&a, "--qos");
            arg(&a, "%u", c->subs[j].qos);
        }
    }
    arg(&a, "--out");
    arg(&a, "%s", out_dir);
    arg(&a, "--ready-fd");
    arg(&a, "3");
    return argv_take(&a);
}

/* ---------------------------------------------------------------- system -- */

/* Whether this process can make namespaces and TUN devices: effective
 * CAP_SYS_ADMIN (unshare, setns, mount) and CAP_NET_ADMIN (TUN, addresses),
 * and an openable /dev/net/tun. 0, or 2 with the exact reason. */
static int check_privileges(char *err, size_t errlen)
{
    unsigned long long eff = 0;
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "CapEff: %llx", &eff) == 1)
            break;
    if (f)
        fclose(f);
    bool net_admin = (eff >> 12) & 1, sys_admin = (eff >> 21) & 1;
    if (!net_admin || !sys_admin) {
        snprintf(err, errlen, "mqttsim testbed: needs CAP_SYS_ADMIN (to create network "
                 "namespaces) and CAP_NET_ADMIN (to configure TUN devices); this process "
                 "(uid %d) lacks %s: run it as root", (int)getuid(),
                 !net_admin && !sys_admin ? "both" : !net_admin ? "CAP_NET_ADMIN" : "CAP_SYS_ADMIN");
        return 2;
    }
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "mqttsim testbed: cannot open /dev/net/tun: %s (the TUN driver: "
                 "'modprobe tun', or give the container the device)", strerror(errno));
        return 2;
    }
    close(fd);
    return 0;
}

/* Runs argv (PATH searched) with stdout and stderr into buf, stdin from
 * /dev/null. Returns its exit status, or -1 if it could not run. */
static int run_capture(char *const *argv, char *buf, size_t len)
{
    int p[2];
    buf[0] = '\0';
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        dup2(in, 0);
        dup2(p[1], 1);
        dup2(p[1], 2);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    size_t used = 0;
    ssize_t k;
    while ((k = read(p[0], buf + used, len - 1 - used)) > 0 && used + (size_t)k < len - 1)
        used += (size_t)k;
    if (k > 0)
        used += (size_t)k;
    buf[used] = '\0';
    close(p[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Finds the mosquitto binary (PATH, then /usr/sbin, where Debian puts it) and
 * its version. 0, or 2 with the reason. */
static int find_mosquitto(char *path, size_t plen, char *version, size_t vlen, char *err,
                          size_t errlen)
{
    const char *env = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s:/usr/sbin:/usr/local/sbin", env ? env : "");
    path[0] = '\0';
    for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(path, plen, "%s/mosquitto", d);
        if (access(path, X_OK) == 0)
            break;
        path[0] = '\0';
    }
    if (!path[0]) {
        snprintf(err, errlen, "mqttsim testbed: mosquitto not found (the Debian package "
                 "'mosquitto'; 'make test' installs it, or apt-get install mosquitto)");
        return 2;
    }
    char out[4096];
    char *argv[] = {path, "-h", NULL};
    run_capture(argv, out, sizeof out);
    const char *v = strstr(out, "version ");
    snprintf(version, vlen, "%s", v ? v + 8 : "unknown");
    version[strcspn(version, " \n")] = '\0';
    return 0;
}

/* Whether `self CMD --help` succeeds: does this build have the command? */
static bool has_command(const char *self, const char *cmd)
{
    char out[256];
    char *argv[] = {(char *)self, (char *)cmd, "--help", NULL};
    return run_capture(argv, out, sizeof out) == 0;
}

/* The name --keep gives a namespace: mqttsim-<config name>-<who>, with the
 * config name reduced to [A-Za-z0-9_.-]. */
static void netns_name(const exp_config *cfg, const char *who, char *buf, size_t len)
{
    char name[65];
    size_t j = 0;
    for (const char *s = cfg->name ? cfg->name : "run"; *s && j < sizeof name - 1; s++)
        name[j++] = (isalnum((unsigned char)*s) || strchr("_.-", *s)) ? *s : '_';
    name[j] = '\0';
    snprintf(buf, len, "mqttsim-%s-%s", name, who);
}

/* -------------------------------------------------------------- network -- */

static int write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Sets flags on interface name in the current namespace. */
static int if_flags(int s, const char *name, short set)
{
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
        return -1;
    ifr.ifr_flags |= set;
    return ioctl(s, SIOCSIFFLAGS, &ifr);
}

static void set_sin(struct sockaddr *sa, const char *addr)
{
    struct sockaddr_in *in = (struct sockaddr_in *)sa;
    memset(in, 0, sizeof *in);
    in->sin_family = AF_INET;
    inet_pton(AF_INET, addr, &in->sin_addr);
}

/* Moves this process into a new network namespace and prepares it: IPv6
 * off (so no router solicitation or MLD packet ever crosses the relay:
 * the relay's counts are the experiment's packets only), loopback up.
 * Returns an fd of the namespace, or -1 with the reason in err. */
static int netns_new(char *err, size_t errlen)
{
    if (unshare(CLONE_NEWNET) != 0) {
        snprintf(err, errlen, "unshare(CLONE_NEWNET): %s", strerror(errno));
        return -1;
    }
    int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    write_text("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
    write_text("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || s < 0 || if_flags(s, "lo", IFF_UP) != 0) {
        snprintf(err, errlen, "preparing a network namespace: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    if (s >= 0)
        close(s);
    return fd;
}

/* A TUN device called name in the current namespace, point to point from
 * local to peer (both /32), up. Returns its fd, or -1 with the reason. */
static int tun_new(const char *name, const char *local, const char *peer, uint32_t mtu,
                   char *err, size_t errlen)
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    struct ifreq ifr = {0};
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const char *step = "open /dev/net/tun";
    if (fd >= 0 && s >= 0) {
        step = "TUNSETIFF";
        if (ioctl(fd, TUNSETIFF, &ifr) == 0) {
            step = "SIOCSIFADDR";
            set_sin(&ifr.ifr_addr, local);
            if (ioctl(s, SIOCSIFADDR, &ifr) == 0) {
                step = "SIOCSIFDSTADDR";
                set_sin(&ifr.ifr_dstaddr, peer);
                if (ioctl(s, SIOCSIFDSTADDR, &ifr) == 0) {
                    step = "SIOCSIFNETMASK";
                    set_sin(&ifr.ifr_netmask, "255.255.255.255");
                    if (ioctl(s, SIOCSIFNETMASK, &ifr) == 0) {
                        step = "SIOCSIFMTU";
                        ifr.ifr_mtu = (int)mtu;
                        if (ioctl(s, SIOCSIFMTU, &ifr) == 0) {
                            step = "SIOCSIFFLAGS";
                            if (if_flags(s, name, IFF_UP | IFF_RUNNING) == 0)
                                step = NULL;
                        }
                    }
                }
            }
        }
    }
    if (step) {
        snprintf(err, errlen, "TUN device %s (%s to %s): %s: %s", name, local, peer, step,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    if (s >= 0)
        close(s);
    return fd;
}

/* The inode number of a namespace fd, as `lsns` and /proc/PID/ns show it. */
static unsigned long ns_inode(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (unsigned long)st.st_ino : 0;
}

/* Whether a TCP connection to addr:port opens from inside namespace ns. */
static bool tcp_reachable(int ns, int ns_home, const char *addr, int port)
{
    if (setns(ns, CLONE_NEWNET) != 0)
        return false;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setns(ns_home, CLONE_NEWNET);
    if (s < 0)
        return false;
    struct sockaddr_in in;
    set_sin((struct sockaddr *)&in, addr);
    in.sin_port = htons((uint16_t)port);
    bool ok = connect(s, (struct sockaddr *)&in, sizeof in) == 0;
    close(s);
    return ok;
}

/* Binds namespace fd ns to /run/netns/name, as `ip netns add` does, so it
 * outlives its processes. */
static int netns_attach(int ns, const char *name, char *err, size_t errlen)
{
    char path[300], src[64];
    mkdir("/run/netns", 0755);
    snprintf(path, sizeof path, "/run/netns/%s", name);
    int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    close(fd);
    snprintf(src, sizeof src, "/proc/self/fd/%d", ns);
    if (mount(src, path, "none", MS_BIND, NULL) != 0) {
        snprintf(err, errlen, "bind-mounting %s: %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ processes -- */

typedef enum { K_RELAY, K_BROKER, K_CLIENT } child_kind;

typedef struct {
    child_kind kind;
    char name[48];          /* "relay", "broker", "c0.0" */
    pid_t pid;              /* 0: not started */
    bool running, stopping; /* stopping: asked to stop, so any exit is expected */
    int status;             /* waitpid status, once exited */
    int ready_fd;           /* read end of its ready pipe, -1 when none or closed */
    bool ready;
    bool append;            /* its log continues an earlier one's (a restarted broker) */
    char log[4400];
} child;

/* One client instance of the config. */
typedef struct {
    size_t entry;
    uint32_t index;
    char name[40], addr[16], netns[160];
    int ns, tun_c, tun_b;   /* -1 when closed */
    unsigned long ino;      /* the namespace's inode, for the record */
    child proc;
} inst;

typedef struct {
    const exp_config *cfg;
    const exp_testbed_opts *o;
    char self[4096], out[4096], tmp[4200], mosquitto[4096], mosquitto_version[64];
    int sfd;                /* signalfd: SIGCHLD, SIGINT, SIGTERM, SIGHUP */
    int ns_home;            /* the namespace the testbed started in */
    pid_t init_pid;         /* init of the PID namespace, 0 when none */
    size_t n;
    inst *in;
    int ns_broker;
    unsigned long ino_broker;
    char netns_broker[160];
    child broker, relay;
    exp_relay_report *report;
    int interrupted;        /* the signal that stopped the run, 0 when none */
    bool failed;
    char err[2048];
    cJSON *doc, *reps;      /* testbed.json */
    int64_t t_cmd, t0;      /* the command's start; the replication's time 0 */
    /* The broker's restarts in this replication (ns from t0), the next one,
     * whether it is down now, and what happened (testbed.json). */
    exp_window *rw;
    long nrw, ri;
    bool timeline, broker_down;
    uint64_t rep;
    char conf[4400], persist_dir[4300], resolved[4300];
    cJSON *restarts;
    exp_tb_tcp_counts kt;   /* the kernel's TCP counters, all namespaces, at the end */
    bool have_kt;
} tb;

static void tb_fail(tb *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records the first failure of the run (later ones follow from it). */
static void tb_fail(tb *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->err, sizeof t->err, fmt, ap);
    va_end(ap);
    t->failed = true;
}

static child *child_by_pid(tb *t, pid_t pid)
{
    if (t->relay.pid == pid)
        return &t->relay;
    if (t->broker.pid == pid)
        return &t->broker;
    for (size_t i = 0; i < t->n; i++)
        if (t->in[i].proc.pid == pid)
            return &t->in[i].proc;
    return NULL;
}

static void describe_exit(int st, char *buf, size_t len)
{
    if (WIFSIGNALED(st))
        snprintf(buf, len, "was killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
}

/* Reaps every exited child. An exit nobody asked for fails the run: any exit
 * of the relay or the broker, a client's non-zero one. */
static void reap(tb *t)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        if (pid == t->init_pid) {
            t->init_pid = 0;
            tb_fail(t, "the testbed's PID namespace init (pid %d) died", (int)pid);
            continue;
        }
        child *c = child_by_pid(t, pid);
        if (!c)
            continue;
        c->running = false;
        c->status = st;
        bool ok = c->stopping || (c->kind == K_CLIENT && WIFEXITED(st) && WEXITSTATUS(st) == 0);
        if (!ok) {
            char how[128];
            describe_exit(st, how, sizeof how);
            tb_fail(t, "%s%s (pid %d) %s; its output: %s", c->kind == K_CLIENT ? "client " : "",
                    c->name, (int)pid, how, c->log);
        }
    }
}

enum { W_DONE, W_TIMEOUT, W_STOP };

typedef bool (*cond_fn)(tb *t, void *arg);

/*
 * Waits until done(t, arg) holds or the deadline (CLOCK_MONOTONIC ns)
 * passes, handling everything that may happen meanwhile: exited children
 * (reap), ready lines from clients, SIGINT/SIGTERM/SIGHUP and the broker's
 * scheduled restarts (timeline). Returns W_DONE,
 * W_TIMEOUT, or W_STOP when the run has failed or was interrupted. Checks the
 * condition at least every step_ns (for conditions nothing signals, such as
 * the broker's port opening).
 */
static int64_t timeline(tb *t);

static int wait_for(tb *t, int64_t deadline, cond_fn done, void *arg, int64_t step_ns)
{
    struct pollfd *p = calloc(t->n + 1, sizeof *p);
    inst **who = calloc(t->n + 1, sizeof *who);
    int rc = W_STOP;
    if (!p || !who) {
        tb_fail(t, "out of memory");
        goto out;
    }
    for (;;) {
        if (t->failed || t->interrupted)
            break;
        if (done && done(t, arg)) {
            rc = W_DONE;
            break;
        }
        int64_t now = exp_relay_mono_ns();
        if (now >= deadline) {
            rc = W_TIMEOUT;
            break;
        }
        size_t np = 0;
        p[np++] = (struct pollfd){.fd = t->sfd, .events = POLLIN};
        for (size_t i = 0; i < t->n; i++)
            if (t->in[i].proc.ready_fd >= 0) {
                who[np] = &t->in[i];
                p[np++] = (struct pollfd){.fd = t->in[i].proc.ready_fd, .events = POLLIN};
            }
        int64_t left = deadline - now < step_ns ? deadline - now : step_ns;
        int64_t next = timeline(t); /* the broker's restarts: what is due, and when next */
        if (t->failed)
            break;
        if (next - now < left)
            left = next > now ? next - now : 0;
        struct timespec ts = {left / 1000000000, left % 1000000000};
        if (ppoll(p, np, &ts, NULL) < 0 && errno != EINTR) {
            tb_fail(t, "ppoll: %s", strerror(errno));
            break;
        }
        if (p[0].revents) {
            struct signalfd_siginfo si;
            while (read(t->sfd, &si, sizeof si) == sizeof si)
                if (si.ssi_signo != SIGCHLD)
                    t->interrupted = (int)si.ssi_signo;
            reap(t);
        }
        for (size_t k = 1; k < np; k++) {
            if (!p[k].revents)
                continue;
            char buf[256];
            ssize_t r = read(p[k].fd, buf, sizeof buf);
            if (r > 0) {
                who[k]->proc.ready = true;
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                close(p[k].fd); /* it closed fd 3: it will not say it is ready */
                who[k]->proc.ready_fd = -1;
            }
        }
    }
out:
    free(p);
    free(who);
    return rc;
}

/* Child side of every spawn: its own process group (Ctrl-C reaches only the
 * testbed, which stops everything in order), death with the testbed, the
 * namespace, and stdout/stderr to its log. */
static void child_setup(const child *c, int ns)
{
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (ns >= 0 && setns(ns, CLONE_NEWNET) != 0)
        _exit(126);
    int in = open("/dev/null", O_RDONLY);
    int lg = open(c->log, O_WRONLY | O_CREAT | O_CLOEXEC | (c->append ? O_APPEND : O_TRUNC), 0644);
    if (in < 0 || lg < 0)
        _exit(126);
    dup2(in, 0);
    dup2(lg, 1);
    dup2(lg, 2);
}

static void parent_setup(child *c, pid_t pid)
{
    setpgid(pid, pid); /* also here: whichever runs first */
    c->pid = pid;
    c->running = true;
    c->stopping = false;
}

/* Runs argv in namespace ns as child c. With ready, fd 3 of the child is
 * the write end of a pipe whose read end becomes c->ready_fd. env: extra
 * "K=V" strings, NULL-terminated (may be NULL). 0, or -1 (run failed). */
static int spawn(tb *t, child *c, int ns, char *const *argv, char *const *env, bool ready)
{
    int rp[2] = {-1, -1};
    if (ready && pipe2(rp, O_CLOEXEC) != 0) {
        tb_fail(t, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        tb_fail(t, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        child_setup(c, ns);
        /* Real-time priority, below the relay's: the simulator's hosts take
         * no time to process a packet, and a client or broker that waits
         * for a time slice behind another process's build would add that
         * wait to every latency it measures. They sleep between packets, so
         * they cannot starve the machine. */
        struct sched_param sp = {.sched_priority = EXP_TB_RT_PRIO_HOSTS};
        if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0)
            fprintf(stderr, "mqttsim testbed: no SCHED_FIFO for %s (%s): latencies may be larger\n",
                    c->name, strerror(errno));
        if (ready) {
            if (rp[1] == 3)
                fcntl(3, F_SETFD, 0);
            else
                dup2(rp[1], 3);
        }
        close_range(ready ? 4 : 3, ~0U, 0);
        for (size_t i = 0; env && env[i]; i++)
            putenv(env[i]);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execvp(argv[0], argv);
        fprintf(stderr, "mqttsim testbed: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    parent_setup(c, pid);
    if (ready) {
        close(rp[1]);
        c->ready_fd = rp[0];
    }
    return 0;
}

/* Asks the running children among cs to stop (SIGTERM), waits up to
 * grace_ns for them, then kills the rest (SIGKILL) and reaps them. Never
 * fails: whatever is left dies with the PID namespace. */
static void stop_children(tb *t, child **cs, size_t n, int64_t grace_ns)
{
    for (size_t i = 0; i < n; i++)
        if (cs[i]->running) {
            cs[i]->stopping = true;
            kill(cs[i]->pid, SIGTERM);
        }
    int64_t deadline = exp_relay_mono_ns() + grace_ns;
    for (;;) {
        reap(t);
        bool any = false;
        for (size_t i = 0; i < n; i++)
            any |= cs[i]->running;
        if (!any)
            return;
        if (exp_relay_mono_ns() >= deadline)
            break;
        usleep(5000);
    }
    for (size_t i = 0; i < n; i++)
        if (cs[i]->running) {
            kill(cs[i]->pid, SIGKILL);
            int st;
            if (waitpid(cs[i]->pid, &st, 0) == cs[i]->pid) {
                cs[i]->running = false;
                cs[i]->status = st;
            }
        }
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Starts the broker in its namespace: Mosquitto with the config written
 * for this replication, or `mqttsim broker` with the config's keys. A
 * restarted one appends to the first one's log. 0, or -1 (run failed). */
static int start_broker(tb *t)
{
    if (t->o->broker == EXP_TB_MOSQUITTO) {
        char *argv[] = {t->mosquitto, "-c", t->conf, NULL};
        return spawn(t, &t->broker, t->ns_broker, argv, NULL, false);
    }
    char listen[64];
    snprintf(listen, sizeof listen, "%s:%d", EXP_TB_BROKER_ADDR, EXP_TB_PORT);
    char *argv[] = {t->self, "broker", "--listen", listen, "--config", t->resolved, NULL};
    return spawn(t, &t->broker, t->ns_broker, argv, NULL, false);
}

/*
 * The broker's restarts, as a crash: at each window's start the broker is
 * killed (SIGKILL: no goodbye to its clients, no save of its state; what
 * persistence keeps is what it saved before), and at its end a new one
 * starts, reading its persistence file when there is one. Does what is due
 * now and returns the CLOCK_MONOTONIC time of the next event (INT64_MAX:
 * none). Cost: O(1) per call.
 */
static int64_t timeline(tb *t)
{
    if (!t->timeline)
        return INT64_MAX;
    for (;;) {
        if (t->ri >= t->nrw)
            return INT64_MAX;
        const exp_window *w = &t->rw[t->ri];
        int64_t now = exp_relay_mono_ns();
        int64_t due = t->t0 + w->at_ns + (t->broker_down ? w->len_ns : 0);
        if (now < due)
            return due;
        double at_s = (double)(now - t->t0) / 1e9;
        if (!t->broker_down) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddNumberToObject(r, "scheduled_s", (double)w->at_ns / 1e9);
            cJSON_AddNumberToObject(r, "killed_s", at_s);
            if (t->broker.running) {
                cJSON_AddNumberToObject(r, "pid_killed", t->broker.pid);
                t->broker.stopping = true;
                kill(t->broker.pid, SIGKILL);
            }
            cJSON_AddItemToArray(t->restarts, r);
            t->broker_down = true;
        } else {
            reap(t);
            if (t->broker.running) { /* not dead yet: look again shortly */
                return now + SIM_MS(1);
            }
            t->broker.append = true;
            if (start_broker(t) != 0)
                return INT64_MAX;
            cJSON *r = cJSON_GetArrayItem(t->restarts, cJSON_GetArraySize(t->restarts) - 1);
            cJSON_AddNumberToObject(r, "started_s", at_s);
            cJSON_AddNumberToObject(r, "pid_started", t->broker.pid);
            t->broker_down = false;
            t->ri++;
        }
    }
}

/* ----------------------------------------------------------------- a run -- */

/* After the publishers are done, the drain ends when the relay has carried
 * no packet for this long (the simulator's ends when no flow is left), or
 * when drain_s has passed. */
#define QUIET_NS SIM_S(1)
#define SETUP_NS SIM_S(60)   /* subscribers' connections: the simulator's setup_timeout */
#define START_NS SIM_S(10)   /* the broker's port and the relay coming up */
#define GRACE_NS SIM_S(5)    /* a stopped process's time to exit before SIGKILL */

static bool broker_listening(tb *t, void *arg)
{
    (void)arg;
    return tcp_reachable(t->ns_broker, t->ns_home, EXP_TB_BROKER_ADDR, EXP_TB_PORT);
}

static bool relay_up(tb *t, void *arg)
{
    (void)arg;
    return exp_relay_state(t->report) != 0;
}

static bool role_settled(tb *t, void *arg)
{
    /* arg: the role whose instances must be ready (or already gone) */
    exp_role role = *(const exp_role *)arg;
    for (size_t i = 0; i < t->n; i++)
        if (t->cfg->clients[t->in[i].entry].role == role && t->in[i].proc.running &&
            !t->in[i].proc.ready)
            return false;
    return true;
}

static bool role_exited(tb *t, void *arg)
{
    exp_role role = *(const exp_role *)arg;
    for (size_t i = 0; i < t->n; i++)
        if (t->cfg->clients[t->in[i].entry].role == role && t->in[i].proc.running)
            return false;
    return true;
}

static bool drained(tb *t, void *arg)
{
    (void)arg;
    exp_role sub = EXP_SUBSCRIBER;
    int64_t now = exp_relay_mono_ns() - t->t0;
    return role_exited(t, &sub) || now - exp_relay_last_activity(t->report) >= QUIET_NS;
}

int exp_testbed_mosquitto_conf(const exp_config *cfg, const char *addr, int port,
                               const char *dir, char *buf, size_t cap)
{
    /* autosave_interval_s: Mosquitto counts whole seconds, saving once
     * last_save + interval < now (src/loop.c), so N means every N + 1 s at
     * most; 0 in the config (every change) is Mosquitto's
     * autosave_on_changes with a threshold of 1: a save after every loop
     * round that changed a subscription or queued a message. (Mosquitto's
     * own autosave_interval 0 would mean "only at exit", which a SIGKILL
     * never reaches.) */
    int64_t s = cfg->autosave_interval_ns / 1000000000;
    bool on_changes = cfg->autosave_interval_ns == 0;
    return snprintf(buf, cap,
                    "# written by mqttsim testbed from the config's broker keys\n"
                    "listener %d %s\nallow_anonymous true\n"
                    "# stay root: a process that changes its uid loses PR_SET_PDEATHSIG\n"
                    "user root\n"
                    "# the TCP model has no Nagle; the engine's client sets TCP_NODELAY too\n"
                    "set_tcp_nodelay true\n"
                    "max_inflight_messages %" PRIu32 "\nmax_queued_messages %" PRIu32 "\n"
                    "queue_qos0_messages %s\n"
                    "persistence %s\npersistence_location %s/\n"
                    "autosave_on_changes %s\nautosave_interval %lld\n"
                    "log_dest stderr\nlog_type all\n",
                    port, addr, cfg->max_inflight, cfg->max_queued,
                    cfg->queue_qos0_messages ? "true" : "false",
                    cfg->persistence ? "true" : "false", dir, on_changes ? "true" : "false",
                    on_changes ? 1LL : (long long)(s > 0 ? s : 1));
}

static int write_mosquitto_conf(tb *t, const char *path, const char *dir)
{
    char text[2048];
    int n = exp_testbed_mosquitto_conf(t->cfg, EXP_TB_BROKER_ADDR, EXP_TB_PORT, dir, text,
                                       sizeof text);
    FILE *f = n > 0 && (size_t)n < sizeof text ? fopen(path, "w") : NULL;
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

long exp_testbed_restarts(const exp_config *cfg, uint64_t rep, exp_window **w)
{
    const exp_sched *r = &cfg->restarts;
    *w = NULL;
    if (r->n) {
        if (!(*w = malloc(r->n * sizeof **w)))
            return -1;
        memcpy(*w, r->w, r->n * sizeof **w);
        return (long)r->n;
    }
    if (r->mtbf_ns <= 0)
        return 0;
    /* As the simulator draws them: from 0, an exponential up time, then
     * down_ns down, again, until the run's end. */
    gsl_rng *g = sim_rng_new(cfg->seed, rep, "broker.restarts");
    if (!g)
        return -1;
    int64_t end = cfg->duration_ns + cfg->drain_ns, at = 0;
    long n = 0, cap = 0;
    for (;;) {
        at += (int64_t)(gsl_ran_exponential(g, (double)r->mtbf_ns));
        if (at >= end)
            break;
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            exp_window *nw = realloc(*w, (size_t)cap * sizeof *nw);
            if (!nw) {
                free(*w);
                *w = NULL;
                gsl_rng_free(g);
                return -1;
            }
            *w = nw;
        }
        (*w)[n++] = (exp_window){at, r->down_ns};
        at += r->down_ns;
    }
    gsl_rng_free(g);
    return n;
}

/* Builds the network of one replication: the client namespaces with their
 * TUN devices, the broker's namespace with one TUN device per client. */
static int build_network(tb *t)
{
    char err[512];
    exp_tb_kernel kc;
    for (size_t k = 0; k < t->n; k++) {
        inst *c = &t->in[k];
        exp_tb_kernel_of(&t->cfg->clients[c->entry].tcp, t->o->tcp, &kc);
        c->ns = netns_new(err, sizeof err);
        if (c->ns < 0 ||
            (c->tun_c = tun_new("tb0", c->addr, EXP_TB_BROKER_ADDR, kc.mtu, err, sizeof err)) < 0 ||
            exp_tb_kernel_sysctls(&kc, err, sizeof err) != 0 ||
            exp_tb_route_set("tb0", EXP_TB_BROKER_ADDR, c->addr, &kc, err, sizeof err) != 0)
            goto fail;
        c->ino = ns_inode(c->ns);
    }
    if ((t->ns_broker = netns_new(err, sizeof err)) < 0)
        goto fail;
    t->ino_broker = ns_inode(t->ns_broker);
    /* The broker's namespace-wide settings are the first client's (the
     * check refuses configs whose clients differ in them). */
    exp_tb_kernel_of(t->n ? &t->cfg->clients[t->in[0].entry].tcp : &t->cfg->tcp, t->o->tcp, &kc);
    if (exp_tb_kernel_sysctls(&kc, err, sizeof err) != 0)
        goto fail;
    for (size_t k = 0; k < t->n; k++) {
        char dev[32];
        snprintf(dev, sizeof dev, "tb%zu", k);
        exp_tb_kernel_of(&t->cfg->clients[t->in[k].entry].tcp, t->o->tcp, &kc);
        if ((t->in[k].tun_b = tun_new(dev, EXP_TB_BROKER_ADDR, t->in[k].addr, kc.mtu, err,
                                      sizeof err)) < 0 ||
            exp_tb_route_set(dev, t->in[k].addr, EXP_TB_BROKER_ADDR, &kc, err, sizeof err) != 0)
            goto fail;
    }
    setns(t->ns_home, CLONE_NEWNET);
    return 0;
fail:
    setns(t->ns_home, CLONE_NEWNET);
    tb_fail(t, "building the network: %s", err);
    return -1;
}

/* The relay: a forked child running exp_relay_run over every pair. */
static int start_relay(tb *t, uint64_t rep, int64_t t0)
{
    exp_relay_pair *pairs = calloc(t->n ? t->n : 1, sizeof *pairs);
    if (!pairs) {
        tb_fail(t, "out of memory");
        return -1;
    }
    for (size_t k = 0; k < t->n; k++) {
        const exp_client *ec = &t->cfg->clients[t->in[k].entry];
        pairs[k] = (exp_relay_pair){.name = t->in[k].name, .fd_client = t->in[k].tun_c,
                                    .fd_broker = t->in[k].tun_b, .up = ec->up, .down = ec->down,
                                    .outages_up = &ec->up_outages,
                                    .outages_down = &ec->down_outages};
    }
    memset(t->report->pair, 0, t->n * sizeof t->report->pair[0]);
    memset(&t->report->slip, 0, sizeof t->report->slip);
    t->report->state = 0;
    t->report->last_activity = 0;
    t->report->packets = 0;
    pid_t pid = fork();
    if (pid < 0) {
        free(pairs);
        tb_fail(t, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        child_setup(&t->relay, -1);
        /* Real time: the relay preempts the clients, the broker and whatever
         * else runs on the machine, so a due packet waits for no time slice.
         * It sleeps whenever nothing is due, so it cannot starve a core. */
        struct sched_param sp = {.sched_priority = EXP_TB_RT_PRIO_RELAY};
        if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0)
            fprintf(stderr, "relay: no SCHED_FIFO (%s): slippage may be larger\n", strerror(errno));
        char err[256];
        exp_relay *r = exp_relay_new(pairs, t->n, t->cfg->seed, rep, t->report, err, sizeof err);
        if (!r) {
            fprintf(stderr, "%s\n", err);
            _exit(1);
        }
        int rc = exp_relay_run(r, t0, -1);
        if (rc)
            fprintf(stderr, "%s\n", t->report->error);
        exp_relay_free(r);
        _exit(rc ? 1 : 0);
    }
    parent_setup(&t->relay, pid);
    free(pairs);
    return 0;
}

static int start_client(tb *t, inst *c, uint64_t rep, const char *rep_dir)
{
    char out[4096];
    snprintf(out, sizeof out, "%s/%s", rep_dir, c->name);
    if (exp_fs_mkdir_p(out) != 0) {
        tb_fail(t, "%s: %s", out, strerror(errno));
        return -1;
    }
    char **argv = exp_testbed_client_argv(t->self, t->cfg, c->entry, c->index, rep, out);
    if (!argv) {
        tb_fail(t, "out of memory");
        return -1;
    }
    int rc;
    if (!t->o->client_cmd) {
        rc = spawn(t, &c->proc, c->ns, argv, NULL, true);
    } else {
        /* Test traffic in place of the real client: the command gets the
         * client's parameters, and the argv the real client would get. */
        const exp_client *ec = &t->cfg->clients[c->entry];
        char joined[8192] = "", filters[2048] = "";
        for (char **a = argv; *a; a++)
            snprintf(joined + strlen(joined), sizeof joined - strlen(joined), "%s%s",
                     a == argv ? "" : " ", *a);
        char x[1024];
        for (size_t j = 0; j < ec->n_subs; j++) {
            expand(ec->subs[j].filter, c->index, x, sizeof x);
            snprintf(filters + strlen(filters), sizeof filters - strlen(filters), "%s%s:%u",
                     j ? " " : "", x, ec->subs[j].qos);
        }
        char e[12][8300];
        snprintf(e[0], sizeof e[0], "MQTTSIM_TB_CLIENT=%s", c->name);
        snprintf(e[1], sizeof e[1], "MQTTSIM_TB_ROLE=%s",
                 ec->role == EXP_PUBLISHER ? "publisher" : "subscriber");
        snprintf(e[2], sizeof e[2], "MQTTSIM_TB_BROKER=%s", EXP_TB_BROKER_ADDR);
        snprintf(e[3], sizeof e[3], "MQTTSIM_TB_PORT=%d", EXP_TB_PORT);
        snprintf(e[4], sizeof e[4], "MQTTSIM_TB_ADDR=%s", c->addr);
        if (ec->topic)
            expand(ec->topic, c->index, x, sizeof x);
        snprintf(e[5], sizeof e[5], "MQTTSIM_TB_TOPIC=%s", ec->topic ? x : "");
        snprintf(e[6], sizeof e[6], "MQTTSIM_TB_QOS=%u", ec->qos);
        snprintf(e[7], sizeof e[7], "MQTTSIM_TB_RATE_HZ=%.17g", ec->rate_hz);
        snprintf(e[8], sizeof e[8], "MQTTSIM_TB_FILTERS=%s", filters);
        snprintf(e[9], sizeof e[9], "MQTTSIM_TB_OUT=%s", out);
        snprintf(e[10], sizeof e[10], "MQTTSIM_TB_ARGV=%s", joined);
        snprintf(e[11], sizeof e[11], "MQTTSIM_TB_DURATION_S=%.17g", t->cfg->duration_s);
        char *env[13];
        for (int i = 0; i < 12; i++)
            env[i] = e[i];
        env[12] = NULL;
        char *sh[] = {"/bin/sh", "-c", (char *)t->o->client_cmd, NULL};
        rc = spawn(t, &c->proc, c->ns, sh, env, true);
    }
    free(argv);
    return rc;
}

static cJSON *dir_json(const exp_relay_dir_stats *d)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "sent", (double)d->sent);
    cJSON_AddNumberToObject(o, "lost", (double)d->lost);
    cJSON_AddNumberToObject(o, "lost_outage", (double)d->lost_outage);
    cJSON_AddNumberToObject(o, "delivered", (double)d->delivered);
    cJSON_AddNumberToObject(o, "in_transit", (double)d->in_transit);
    cJSON_AddNumberToObject(o, "write_errors", (double)d->write_errors);
    cJSON_AddNumberToObject(o, "oversize", (double)d->oversize);
    cJSON_AddNumberToObject(o, "bytes_sent", (double)d->bytes_sent);
    cJSON_AddNumberToObject(o, "bytes_delivered", (double)d->bytes_delivered);
    return o;
}

static void add_pid(cJSON *o, const char *k, const child *c)
{
    if (c->pid > 0)
        cJSON_AddNumberToObject(o, k, c->pid);
}

/* The replication's entry in testbed.json, as it stands. */
static cJSON *rep_json(tb *t, uint64_t rep, const double wall[4])
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "rep", (double)rep);
    cJSON *pids = cJSON_AddObjectToObject(r, "pids");
    if (t->init_pid > 0)
        cJSON_AddNumberToObject(pids, "pid_namespace_init", t->init_pid);
    add_pid(pids, "relay", &t->relay);
    add_pid(pids, "broker", &t->broker);
    cJSON *cp = cJSON_AddObjectToObject(pids, "clients");
    for (size_t k = 0; k < t->n; k++)
        add_pid(cp, t->in[k].name, &t->in[k].proc);
    cJSON *ino = cJSON_AddArrayToObject(r, "netns_inodes");
    if (t->ino_broker)
        cJSON_AddItemToArray(ino, cJSON_CreateNumber((double)t->ino_broker));
    for (size_t k = 0; k < t->n; k++)
        if (t->in[k].ino)
            cJSON_AddItemToArray(ino, cJSON_CreateNumber((double)t->in[k].ino));
    cJSON *links = cJSON_AddArrayToObject(r, "links");
    for (size_t k = 0; k < t->n; k++) {
        cJSON *l = cJSON_CreateObject();
        cJSON_AddStringToObject(l, "client", t->in[k].name);
        cJSON_AddItemToObject(l, "up", dir_json(&t->report->pair[k].up));
        cJSON_AddItemToObject(l, "down", dir_json(&t->report->pair[k].down));
        cJSON_AddItemToArray(links, l);
    }
    const exp_relay_slip *s = &t->report->slip;
    cJSON *sl = cJSON_AddObjectToObject(r, "slippage");
    cJSON_AddNumberToObject(sl, "frames", (double)s->frames);
    cJSON_AddNumberToObject(sl, "late_over_100us", (double)s->late_100us);
    cJSON_AddNumberToObject(sl, "late_over_1ms", (double)s->late_1ms);
    cJSON_AddNumberToObject(sl, "mean_us", s->mean_us);
    cJSON_AddNumberToObject(sl, "p50_us", s->p50_us);
    cJSON_AddNumberToObject(sl, "p99_us", s->p99_us);
    cJSON_AddNumberToObject(sl, "max_us", s->max_us);
    cJSON *ex = cJSON_AddObjectToObject(r, "client_exits");
    for (size_t k = 0; k < t->n; k++) {
        const child *c = &t->in[k].proc;
        if (c->pid > 0 && !c->running) {
            char how[128];
            describe_exit(c->status, how, sizeof how);
            cJSON_AddStringToObject(ex, c->name, how);
        }
    }
    if (t->restarts)
        cJSON_AddItemToObject(r, "broker_restarts", cJSON_Duplicate(t->restarts, true));
    if (t->have_kt) {
        const exp_tb_tcp_counts *c = &t->kt;
        cJSON *k = cJSON_AddObjectToObject(r, "kernel_tcp");
        cJSON_AddNumberToObject(k, "out_segs", (double)c->out_segs);
        cJSON_AddNumberToObject(k, "retrans_segs", (double)c->retrans_segs);
        cJSON_AddNumberToObject(k, "rto_expiries", (double)c->timeouts);
        cJSON_AddNumberToObject(k, "fast_retransmits", (double)c->fast_retrans);
        cJSON_AddNumberToObject(k, "reno_recoveries", (double)c->reno_recovery);
        cJSON_AddNumberToObject(k, "sack_recoveries", (double)c->sack_recovery);
        cJSON_AddNumberToObject(k, "loss_probes", (double)c->loss_probes);
        cJSON_AddNumberToObject(k, "spurious_rtos", (double)c->spurious_rtos);
    }
    cJSON *w = cJSON_AddObjectToObject(r, "wall_s");
    static const char *const phase[4] = {"setup", "clients", "drain", "teardown"};
    for (int i = 0; i < 4; i++)
        cJSON_AddNumberToObject(w, phase[i], wall[i]);
    return r;
}

static int write_doc(tb *t, const char *status)
{
    cJSON_ReplaceItemInObject(t->doc, "status", cJSON_CreateString(status));
    cJSON_ReplaceItemInObject(t->doc, "error", t->err[0] ? cJSON_CreateString(t->err)
                                                         : cJSON_CreateNull());
    cJSON_ReplaceItemInObject(t->doc, "wall_s",
                              cJSON_CreateNumber((double)(exp_relay_mono_ns() - t->t_cmd) / 1e9));
    char *text = cJSON_Print(t->doc);
    char tmp[4200], dst[4200];
    snprintf(dst, sizeof dst, "%s/testbed.json", t->out);
    snprintf(tmp, sizeof tmp, "%s/.testbed.json.tmp", t->out);
    FILE *f = text ? fopen(tmp, "w") : NULL;
    int ok = f && fputs(text, f) >= 0;
    ok &= f && fclose(f) == 0;
    free(text);
    if (!ok || rename(tmp, dst) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Closes one replication's network, or with keep names it and keeps it. */
static void teardown_network(tb *t, bool keep)
{
    char err[1024];
    if (keep) {
        printf("kept the network for inspection (no process runs in it); remove it with:\n");
        int nss[EXP_TB_MAX_CLIENTS_HARD + 1];
        const char *names[EXP_TB_MAX_CLIENTS_HARD + 1];
        size_t m = 0;
        nss[m] = t->ns_broker, names[m++] = t->netns_broker;
        for (size_t k = 0; k < t->n; k++) {
            nss[m] = t->in[k].ns, names[m++] = t->in[k].netns;
            int one = 1;
            ioctl(t->in[k].tun_c, TUNSETPERSIST, one);
            ioctl(t->in[k].tun_b, TUNSETPERSIST, one);
        }
        for (size_t i = 0; i < m; i++) {
            if (nss[i] >= 0 && netns_attach(nss[i], names[i], err, sizeof err) == 0)
                printf("  ip netns delete %s\n", names[i]);
            else
                fprintf(stderr, "mqttsim testbed: --keep: %s\n", err);
        }
        printf("(inspect with e.g. 'ip -n %s addr'; the broker's config and files stay in %s)\n",
               t->netns_broker, t->tmp);
    }
    for (size_t k = 0; k < t->n; k++) {
        close_fd(&t->in[k].tun_c);
        close_fd(&t->in[k].tun_b);
        close_fd(&t->in[k].ns);
        close_fd(&t->in[k].proc.ready_fd);
    }
    close_fd(&t->ns_broker);
}

/* One replication, start to end. 0, or -1 when it failed or was stopped
 * (t->failed / t->interrupted say which). */
static int run_rep(tb *t, uint64_t rep, bool last)
{
    double wall[4] = {0};
    int64_t w0 = exp_relay_mono_ns();
    char rep_dir[4200];
    snprintf(rep_dir, sizeof rep_dir, "%s/rep%" PRIu64, t->out, rep);
    int rc = -1;
    child *all[EXP_TB_MAX_CLIENTS_HARD + 2];
    exp_role pub = EXP_PUBLISHER, sub = EXP_SUBSCRIBER;
    t->relay = (child){.kind = K_RELAY, .ready_fd = -1};
    t->broker = (child){.kind = K_BROKER, .ready_fd = -1};
    snprintf(t->relay.name, sizeof t->relay.name, "relay");
    snprintf(t->broker.name, sizeof t->broker.name, "broker");
    snprintf(t->relay.log, sizeof t->relay.log, "%s/relay.log", rep_dir);
    snprintf(t->broker.log, sizeof t->broker.log, "%s/broker.log", rep_dir);
    for (size_t k = 0; k < t->n; k++) {
        t->in[k].ns = t->in[k].tun_c = t->in[k].tun_b = -1;
        t->in[k].ino = 0;
        t->in[k].proc = (child){.kind = K_CLIENT, .ready_fd = -1};
        snprintf(t->in[k].proc.name, sizeof t->in[k].proc.name, "%s", t->in[k].name);
        snprintf(t->in[k].proc.log, sizeof t->in[k].proc.log, "%s/%s.log", rep_dir, t->in[k].name);
    }
    t->ns_broker = -1;
    t->ino_broker = 0;
    t->rep = rep;
    t->have_kt = false;
    t->ri = 0;
    t->broker_down = t->timeline = false;
    free(t->rw);
    t->restarts = cJSON_CreateArray();
    if ((t->nrw = exp_testbed_restarts(t->cfg, rep, &t->rw)) < 0 || !t->restarts) {
        t->nrw = 0;
        tb_fail(t, "out of memory");
        goto out;
    }
    if (exp_fs_mkdir_p(rep_dir) != 0) {
        tb_fail(t, "%s: %s", rep_dir, strerror(errno));
        goto out;
    }
    if (build_network(t) != 0)
        goto out;

    /* The broker, and its port open; its persistence files are this
     * replication's own (a fresh broker for each). */
    snprintf(t->persist_dir, sizeof t->persist_dir, "%s/rep%" PRIu64, t->tmp, rep);
    snprintf(t->conf, sizeof t->conf, "%s/mosquitto.conf", t->persist_dir);
    if (exp_fs_mkdir_p(t->persist_dir) != 0) {
        tb_fail(t, "%s: %s", t->persist_dir, strerror(errno));
        goto out;
    }
    if (t->o->broker == EXP_TB_MOSQUITTO && write_mosquitto_conf(t, t->conf, t->persist_dir) != 0) {
        tb_fail(t, "%s: %s", t->conf, strerror(errno));
        goto out;
    }
    if (start_broker(t) != 0)
        goto out;
    int w = wait_for(t, exp_relay_mono_ns() + START_NS, broker_listening, NULL, SIM_MS(10));
    if (w == W_TIMEOUT)
        tb_fail(t, "the broker did not open %s:%d within %.0f s; its output: %s",
                EXP_TB_BROKER_ADDR, EXP_TB_PORT, START_NS / 1e9, t->broker.log);
    if (w != W_DONE)
        goto out;

    /* Time 0 of the run: the relay's clock starts, then the clients; the
     * broker's restarts count from here, as the simulator's from its t = 0. */
    t->t0 = exp_relay_mono_ns();
    t->timeline = true;
    if (start_relay(t, rep, t->t0) != 0)
        goto out;
    if ((w = wait_for(t, exp_relay_mono_ns() + START_NS, relay_up, NULL, SIM_MS(1))) != W_DONE) {
        if (w == W_TIMEOUT)
            tb_fail(t, "the relay did not start within %.0f s", START_NS / 1e9);
        goto out;
    }
    wall[0] = (double)(exp_relay_mono_ns() - w0) / 1e9;
    int64_t w1 = exp_relay_mono_ns();
    for (size_t k = 0; k < t->n; k++)
        if (t->cfg->clients[t->in[k].entry].role == EXP_SUBSCRIBER &&
            start_client(t, &t->in[k], rep, rep_dir) != 0)
            goto out;
    w = wait_for(t, exp_relay_mono_ns() + SETUP_NS, role_settled, &sub, SIM_S(1));
    if (w == W_TIMEOUT)
        tb_fail(t, "subscribers not ready (a line on fd 3) within %.0f s", SETUP_NS / 1e9);
    if (w != W_DONE)
        goto out;
    for (size_t k = 0; k < t->n; k++)
        if (t->cfg->clients[t->in[k].entry].role == EXP_PUBLISHER &&
            start_client(t, &t->in[k], rep, rep_dir) != 0)
            goto out;
    /* Pids and namespaces on record while the run goes on. */
    cJSON_AddItemToArray(t->reps, rep_json(t, rep, wall));
    write_doc(t, "running");
    int64_t pub_deadline = exp_relay_mono_ns() +
                           sim_from_ms((t->cfg->duration_s + t->cfg->drain_s) * 1000) + SETUP_NS;
    w = wait_for(t, pub_deadline, role_exited, &pub, SIM_MS(100));
    if (w == W_TIMEOUT)
        tb_fail(t, "publishers still running %.0f s after duration_s + drain_s",
                SETUP_NS / 1e9);
    if (w != W_DONE)
        goto out;
    wall[1] = (double)(exp_relay_mono_ns() - w1) / 1e9;
    int64_t w2 = exp_relay_mono_ns();
    w = wait_for(t, w2 + sim_from_ms(t->cfg->drain_s * 1000), drained, NULL, SIM_MS(50));
    if (w == W_STOP)
        goto out;
    wall[2] = (double)(exp_relay_mono_ns() - w2) / 1e9;
    rc = 0;
out:;
    /* Clients first, then the relay (which counts what is still in
     * transit) and the broker. */
    int64_t w3 = exp_relay_mono_ns();
    t->timeline = false;
    size_t m = 0;
    for (size_t k = 0; k < t->n; k++)
        all[m++] = &t->in[k].proc;
    stop_children(t, all, m, GRACE_NS);
    all[0] = &t->relay;
    all[1] = &t->broker;
    stop_children(t, all, 2, GRACE_NS);
    if (t->relay.pid > 0 && exp_relay_state(t->report) == -1)
        tb_fail(t, "relay: %s", t->report->error);
    /* The kernel's own TCP figures, summed over the namespaces: each
     * segment is counted by the one end that sent it. */
    t->kt = (exp_tb_tcp_counts){0};
    t->have_kt = t->ns_broker >= 0;
    for (size_t k = 0; k <= t->n && t->have_kt; k++) {
        int ns = k < t->n ? t->in[k].ns : t->ns_broker;
        t->have_kt = ns >= 0 && setns(ns, CLONE_NEWNET) == 0 && exp_tb_tcp_counts_read(&t->kt) == 0;
    }
    setns(t->ns_home, CLONE_NEWNET);
    bool kept = last && t->o->keep && !t->interrupted;
    teardown_network(t, kept);
    wall[3] = (double)(exp_relay_mono_ns() - w3) / 1e9;
    cJSON *r = rep_json(t, rep, wall);
    int nreps = cJSON_GetArraySize(t->reps);
    cJSON *lastr = cJSON_GetArrayItem(t->reps, nreps - 1);
    cJSON *rn = cJSON_GetObjectItemCaseSensitive(lastr, "rep");
    if (lastr && cJSON_IsNumber(rn) && (uint64_t)rn->valuedouble == rep)
        cJSON_ReplaceItemInArray(t->reps, nreps - 1, r);
    else
        cJSON_AddItemToArray(t->reps, r);
    cJSON_Delete(t->restarts);
    t->restarts = NULL;
    return t->failed || t->interrupted ? -1 : rc;
}

/* ------------------------------------------------------------- command -- */

static const char USAGE[] =
    "usage: mqttsim testbed CONFIG [--set key.path=value]... [--seed N] [--reps N]\n"
    "                       [--broker mosquitto|mqttsim] [--out DIR] [--keep]\n"
    "                       [--max-seconds S] [--max-clients N] [--tcp model|linux]\n"
    "                       [--client-cmd CMD]\n";

static const char HELP[] =
    "Runs CONFIG's experiment in real time on real Linux TCP and a real broker: the broker\n"
    "in a network namespace of its own, each client instance in its own, joined by TUN\n"
    "devices and a relay that applies each client's link (loss, delay, bandwidth,\n"
    "outages) with the simulator's own link code and random streams. Writes\n"
    "DIR/testbed.json (kernel and broker versions, the relay's packet counts per client\n"
    "and direction, real-time slippage, wall times) and, from the clients' reports,\n"
    "results.json and results.csv as 'mqttsim run' does. Needs root (CAP_SYS_ADMIN and\n"
    "CAP_NET_ADMIN) and /dev/net/tun; leaves no namespace, device or process behind.\n\n"
    "options:\n"
    "  --set key.path=value  override a config key (as for 'run'); repeatable\n"
    "  --seed N, --reps N    the seed and the number of replications (each a fresh network)\n"
    "  --broker B            mosquitto (default: Debian's Mosquitto 2.0, configured from the\n"
    "                        config's broker keys) or mqttsim ('mqttsim broker')\n"
    "  -o, --out DIR         where the files go (default: results/<name>-testbed)\n"
    "  --keep                keep the last replication's network (namespaces named\n"
    "                        mqttsim-<name>-*, TUN devices) and print how to remove it\n"
    "  --max-seconds S       refuse configs that may take longer in real time (default 600)\n"
    "  --max-clients N       refuse configs with more client instances (default 32)\n"
    "  --tcp model|linux     model (default): Linux TCP set to what the simulator's TCP model\n"
    "                        implements (no SACK, timestamps, RACK, TLP or F-RTO; with\n"
    "                        tcp.delayed_ack_ms 0 an ACK for every segment at once);\n"
    "                        linux: Linux's loss recovery and delayed ACKs as shipped\n"
    "  --client-cmd CMD      run 'sh -c CMD' as each client instead of 'mqttsim client'\n"
    "                        (test traffic: it gets MQTTSIM_TB_* variables and must write a\n"
    "                        line on fd 3 once ready; see docs/testbed.md)\n"
    "  -h, --help            show this help\n"
    "Exit status: 0 success, 1 run failure, 2 bad usage, refused config or missing\n"
    "privileges, 128+N when stopped by signal N.\n";

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "mqttsim testbed: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%sTry 'mqttsim testbed --help' for more.\n", USAGE);
    return 2;
}

/* The PID namespace every later child is born into, and its init: when the
 * init dies (with the testbed, by PR_SET_PDEATHSIG), the kernel kills every
 * process in the namespace. 0 when none could be made (then only each
 * child's own PR_SET_PDEATHSIG stands). */
static pid_t start_pid_namespace(void)
{
#if defined(__SANITIZE_ADDRESS__)
    /* LeakSanitizer stops this process from a tracer it forks at exit; born
     * in the PID namespace, the tracer could not see its parent and the
     * check would hang. Sanitizer builds rely on PR_SET_PDEATHSIG alone
     * (testbed.json says "pid_namespace": false). */
    return 0;
#endif
    if (unshare(CLONE_NEWPID) != 0)
        return 0;
    pid_t pid = fork();
    if (pid != 0)
        return pid > 0 ? pid : 0;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    close_range(3, ~0U, 0);
    for (;;) /* reap whatever is reparented here */
        if (waitpid(-1, NULL, 0) < 0 && errno == ECHILD)
            sleep(1);
}

/* exp_client_combine over every replication's client directories, into
 * the output directory. Returns its status (0, 1 or 2). */
static int combine_reports(tb *t)
{
    uint32_t nreps = t->cfg->replications;
    char ***dirs = calloc(nreps, sizeof *dirs);
    size_t *n = calloc(nreps, sizeof *n);
    int rc = 1;
    for (uint32_t r = 0; dirs && n && r < nreps; r++) {
        if (!(dirs[r] = calloc(t->n ? t->n : 1, sizeof *dirs[r])))
            goto out;
        for (size_t k = 0; k < t->n; k++) {
            char d[4400];
            snprintf(d, sizeof d, "%s/rep%" PRIu32 "/%s", t->out, r, t->in[k].name);
            if (!(dirs[r][k] = strdup(d)))
                goto out;
            n[r]++;
        }
    }
    if (dirs && n) {
        fflush(stdout);
        rc = exp_client_combine((const char *const *const *)dirs, n, nreps, t->cfg, NULL, t->out,
                                false);
    } else {
        fprintf(stderr, "mqttsim testbed: out of memory\n");
    }
out:
    for (uint32_t r = 0; dirs && r < nreps; r++) {
        for (size_t k = 0; dirs[r] && k < t->n; k++)
            free(dirs[r][k]);
        free(dirs[r]);
    }
    free(dirs);
    free(n);
    return rc;
}

static void print_summary(tb *t)
{
    cJSON *r;
    cJSON_ArrayForEach(r, t->reps) {
        printf("replication %d:\n", cJSON_GetObjectItemCaseSensitive(r, "rep")->valueint);
        printf("  %-8s %-4s %8s %8s %8s %10s %10s\n", "client", "dir", "sent", "lost",
               "outage", "delivered", "in_transit");
        cJSON *l;
        cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(r, "links")) {
            for (int d = 0; d < 2; d++) {
                cJSON *o = cJSON_GetObjectItemCaseSensitive(l, d ? "down" : "up");
#define N(k) cJSON_GetObjectItemCaseSensitive(o, k)->valuedouble
                printf("  %-8s %-4s %8.0f %8.0f %8.0f %10.0f %10.0f\n",
                       cJSON_GetObjectItemCaseSensitive(l, "client")->valuestring,
                       d ? "down" : "up", N("sent"), N("lost"), N("lost_outage"),
                       N("delivered"), N("in_transit"));
#undef N
            }
        }
        cJSON *s = cJSON_GetObjectItemCaseSensitive(r, "slippage");
#define S(k) cJSON_GetObjectItemCaseSensitive(s, k)->valuedouble
        printf("  slippage over %.0f deliveries: mean %.1f us, p50 %.1f us, p99 %.1f us, max %.1f us;"
               " %.0f later than 1 ms\n", S("frames"), S("mean_us"), S("p50_us"), S("p99_us"),
               S("max_us"), S("late_over_1ms"));
#undef S
    }
}

int exp_cmd_testbed(int argc, char **argv)
{
    static const struct option LONG[] = {
        {"set", required_argument, NULL, 's'}, {"seed", required_argument, NULL, 'S'},
        {"reps", required_argument, NULL, 'R'}, {"broker", required_argument, NULL, 'b'},
        {"out", required_argument, NULL, 'o'}, {"keep", no_argument, NULL, 'k'},
        {"max-seconds", required_argument, NULL, 'm'},
        {"max-clients", required_argument, NULL, 'c'},
        {"client-cmd", required_argument, NULL, 'C'}, {"tcp", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    exp_testbed_opts o = {.broker = EXP_TB_MOSQUITTO, .max_seconds = EXP_TB_MAX_SECONDS,
                          .max_clients = EXP_TB_MAX_CLIENTS};
    char **sets = calloc((size_t)argc + 1, sizeof *sets);
    char *owned[2] = {NULL, NULL};
    size_t nsets = 0;
    exp_config cfg = {0};
    tb t = {.sfd = -1, .ns_home = -1, .ns_broker = -1};
    int status = 2, opt;
    char err[2048];
    if (!sets) {
        fprintf(stderr, "mqttsim: out of memory\n");
        status = 1;
        goto done;
    }
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":ho:", LONG, NULL)) != -1) {
        char *end;
        switch (opt) {
        case 's':
            sets[nsets++] = optarg;
            break;
        case 'S':
        case 'R': {
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            bool seed = opt == 'S';
            if (!*optarg || *end || errno || *optarg == '-' || (seed ? v > EXP_SEED_MAX : (v < 1 || v > 1000000))) {
                status = usage("--%s: expected an integer %s, got '%s'", seed ? "seed" : "reps",
                               seed ? "from 0 to 2^53-1" : "from 1 to 1000000", optarg);
                goto done;
            }
            char buf[64];
            snprintf(buf, sizeof buf, "%s=%llu", seed ? "seed" : "replications", v);
            free(owned[seed]);
            owned[seed] = strdup(buf);
            sets[nsets++] = owned[seed];
            break;
        }
        case 'b':
            if (strcmp(optarg, "mosquitto") == 0)
                o.broker = EXP_TB_MOSQUITTO;
            else if (strcmp(optarg, "mqttsim") == 0)
                o.broker = EXP_TB_MQTTSIM;
            else {
                status = usage("--broker: expected mosquitto or mqttsim, got '%s'", optarg);
                goto done;
            }
            break;
        case 'o':
            o.out_dir = optarg;
            break;
        case 'k':
            o.keep = true;
            break;
        case 'm':
            o.max_seconds = strtod(optarg, &end);
            if (!*optarg || *end || !(o.max_seconds > 0)) {
                status = usage("--max-seconds: expected a number of seconds > 0, got '%s'", optarg);
                goto done;
            }
            break;
        case 'c': {
            unsigned long v = strtoul(optarg, &end, 10);
            if (!*optarg || *end || *optarg == '-' || v < 1 || v > EXP_TB_MAX_CLIENTS_HARD) {
                status = usage("--max-clients: expected an integer from 1 to %d, got '%s'",
                               EXP_TB_MAX_CLIENTS_HARD, optarg);
                goto done;
            }
            o.max_clients = (uint32_t)v;
            break;
        }
        case 'C':
            o.client_cmd = optarg;
            break;
        case 'T':
            if (strcmp(optarg, "model") == 0)
                o.tcp = EXP_TB_TCP_MODEL;
            else if (strcmp(optarg, "linux") == 0)
                o.tcp = EXP_TB_TCP_LINUX;
            else {
                status = usage("--tcp: expected model or linux, got '%s'", optarg);
                goto done;
            }
            break;
        case 'h':
            printf("%s%s", USAGE, HELP);
            status = 0;
            goto done;
        case ':':
            status = usage("option '%s' needs a value", argv[optind - 1]);
            goto done;
        default:
            status = usage("unknown option '%s'", argv[optind - 1]);
            goto done;
        }
    }
    if (argc - optind != 1) {
        status = usage(argc - optind == 0 ? "missing the CONFIG file%s"
                                          : "expected one CONFIG file%s", "");
        goto done;
    }
    const char *path = argv[optind];
    if ((status = exp_config_load(path, sets, nsets, &cfg, err, sizeof err)) != 0) {
        fprintf(stderr, "%s\n", err);
        goto done;
    }
    if ((status = exp_testbed_check(&cfg, &o, err, sizeof err)) != 0) {
        fprintf(stderr, "mqttsim testbed: %s\n", err);
        goto done;
    }
    status = 2;
    ssize_t sl = readlink("/proc/self/exe", t.self, sizeof t.self - 1);
    if (sl <= 0) {
        fprintf(stderr, "mqttsim testbed: cannot find its own binary: %s\n", strerror(errno));
        goto done;
    }
    t.self[sl] = '\0';
    if (o.broker == EXP_TB_MQTTSIM && !has_command(t.self, "broker")) {
        fprintf(stderr, "mqttsim testbed: --broker mqttsim needs 'mqttsim broker' (the engine's "
                        "broker over real sockets), which this build does not have yet\n");
        goto done;
    }
    if (!o.client_cmd && !has_command(t.self, "client")) {
        fprintf(stderr, "mqttsim testbed: the testbed runs each config client as 'mqttsim "
                        "client' (the engine over real sockets), which this build does not have "
                        "yet; until it does, only test traffic given with --client-cmd can run\n");
        goto done;
    }
    if (check_privileges(err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        goto done;
    }
    if (o.broker == EXP_TB_MOSQUITTO &&
        find_mosquitto(t.mosquitto, sizeof t.mosquitto, t.mosquitto_version,
                       sizeof t.mosquitto_version, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        goto done;
    }

    /* The instances, their names and addresses; no namespace of these names may exist. */
    t.cfg = &cfg;
    t.o = &o;
    t.n = instances(&cfg);
    t.in = calloc(t.n ? t.n : 1, sizeof *t.in);
    if (!t.in) {
        fprintf(stderr, "mqttsim: out of memory\n");
        status = 1;
        goto done;
    }
    size_t k = 0;
    for (size_t e = 0; e < cfg.n_clients; e++)
        for (uint32_t i = 0; i < cfg.clients[e].count; i++, k++) {
            inst *c = &t.in[k];
            c->entry = e;
            c->index = i;
            c->ns = c->tun_c = c->tun_b = c->proc.ready_fd = -1;
            snprintf(c->name, sizeof c->name, "c%zu.%" PRIu32, e, i);
            exp_testbed_client_addr(k, c->addr, sizeof c->addr);
            netns_name(&cfg, c->name, c->netns, sizeof c->netns);
        }
    netns_name(&cfg, "broker", t.netns_broker, sizeof t.netns_broker);
    for (size_t i = 0; i <= t.n; i++) {
        const char *nm = i < t.n ? t.in[i].netns : t.netns_broker;
        char p[256];
        struct stat st;
        snprintf(p, sizeof p, "/run/netns/%s", nm);
        if (stat(p, &st) == 0) {
            fprintf(stderr, "mqttsim testbed: network namespace %s exists (a network kept with "
                            "--keep?); remove it with 'ip netns delete %s'\n", nm, nm);
            goto done;
        }
    }

    /* Output and scratch directories. */
    char def[4096];
    snprintf(def, sizeof def, "results/%s-testbed", cfg.name ? cfg.name : "run");
    snprintf(t.out, sizeof t.out, "%s", o.out_dir ? o.out_dir : def);
    char abs_out[PATH_MAX];
    if (exp_fs_mkdir_p(t.out) != 0 || access(t.out, W_OK) != 0 || !realpath(t.out, abs_out)) {
        fprintf(stderr, "mqttsim testbed: --out %s: %s\n", t.out, strerror(errno));
        goto done;
    }
    snprintf(t.out, sizeof t.out, "%s", abs_out); /* the clients run elsewhere */
    /* The broker's scratch files (its config, its persistence) live in the
     * output directory, so that even a SIGKILL of the testbed, after which
     * nothing can remove them, leaves them only there. */
    snprintf(t.tmp, sizeof t.tmp, "%s/.scratch.XXXXXX", t.out);
    if (!mkdtemp(t.tmp)) {
        fprintf(stderr, "mqttsim testbed: mkdtemp: %s\n", strerror(errno));
        t.tmp[0] = '\0';
        goto done;
    }
    /* Result files of an earlier run here would be taken for this one's. */
    static const char *const stale[] = {"results.json", "results.csv", "latency_cdf.csv"};
    for (size_t i = 0; i < 3; i++) {
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", t.out, stale[i]);
        unlink(p);
    }
    /* mqttsim broker reads the config as resolved (with every --set). */
    snprintf(t.resolved, sizeof t.resolved, "%s/config.json", t.tmp);
    if (o.broker == EXP_TB_MQTTSIM &&
        exp_fs_write_atomic(t.resolved, cfg.json, strlen(cfg.json)) != 0) {
        fprintf(stderr, "mqttsim testbed: %s: %s\n", t.resolved, strerror(errno));
        status = 1;
        goto done;
    }
    t.report = exp_relay_shared_new(t.n);
    t.ns_home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    t.sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (!t.report || t.ns_home < 0 || t.sfd < 0) {
        fprintf(stderr, "mqttsim testbed: setting up: %s\n", strerror(errno));
        status = 1;
        goto done;
    }
    t.t_cmd = exp_relay_mono_ns();
    t.init_pid = start_pid_namespace();

    /* testbed.json, kept up to date from here on. */
    struct utsname un;
    uname(&un);
    t.doc = cJSON_CreateObject();
    cJSON_AddStringToObject(t.doc, "status", "running");
    cJSON_AddNullToObject(t.doc, "error");
    cJSON_AddStringToObject(t.doc, "name", cfg.name ? cfg.name : "");
    cJSON_AddNumberToObject(t.doc, "seed", (double)cfg.seed);
    cJSON_AddNumberToObject(t.doc, "replications", cfg.replications);
    cJSON *conf = cfg.json ? cJSON_Parse(cfg.json) : NULL;
    cJSON_AddItemToObject(t.doc, "config", conf ? conf : cJSON_CreateNull());
    cJSON *sys = cJSON_AddObjectToObject(t.doc, "system");
    cJSON_AddStringToObject(sys, "kernel", un.release);
    cJSON_AddNumberToObject(sys, "testbed_pid", getpid());
    cJSON_AddBoolToObject(sys, "pid_namespace", t.init_pid > 0);
    cJSON_AddStringToObject(sys, "broker", o.broker == EXP_TB_MOSQUITTO ? "mosquitto" : "mqttsim");
    if (o.broker == EXP_TB_MOSQUITTO)
        cJSON_AddStringToObject(sys, "mosquitto_version", t.mosquitto_version);
    cJSON_AddStringToObject(sys, "tcp", o.tcp == EXP_TB_TCP_MODEL ? "model" : "linux");
    cJSON_AddNumberToObject(sys, "sched_fifo_relay", EXP_TB_RT_PRIO_RELAY);
    cJSON_AddNumberToObject(sys, "sched_fifo_broker_clients", EXP_TB_RT_PRIO_HOSTS);
    cJSON *na = cJSON_AddArrayToObject(sys, "config_keys_not_applied");
    if (o.broker == EXP_TB_MOSQUITTO) {
        /* Mosquitto passes QoS 2 on at PUBREL (the broker's method A) and
         * resends only when a session resumes. */
        static const char *const not_applied[] = {"broker.qos2_method", "broker.retry_interval_ms",
                                                  "broker.max_retries"};
        for (size_t i = 0; i < 3; i++)
            cJSON_AddItemToArray(na, cJSON_CreateString(not_applied[i]));
        if (cfg.has_retransmit && cfg.retransmit == EXP_TIMER)
            cJSON_AddItemToArray(na, cJSON_CreateString("broker.retransmit"));
    }
    {
        /* The tcp keys Linux cannot take, over every client; said on stderr
         * too, since they change what the run means. */
        const char *keys[8], *all_keys[8];
        size_t na_n = 0;
        bool rto_max = exp_tb_have_rto_max();
        for (size_t e = 0; e < cfg.n_clients; e++) {
            size_t k = exp_tb_tcp_not_applied(&cfg.clients[e].tcp, o.tcp, rto_max, keys, 8);
            for (size_t i = 0; i < k && i < 8; i++) {
                bool seen = false;
                for (size_t j = 0; j < na_n; j++)
                    seen |= strcmp(all_keys[j], keys[i]) == 0;
                if (!seen && na_n < 8)
                    all_keys[na_n++] = keys[i];
            }
        }
        for (size_t i = 0; i < na_n; i++) {
            cJSON_AddItemToArray(na, cJSON_CreateString(all_keys[i]));
            fprintf(stderr, "mqttsim testbed: warning: %s: Linux has no setting for this value "
                            "in --tcp %s mode; the real run uses Linux's own\n", all_keys[i],
                    o.tcp == EXP_TB_TCP_MODEL ? "model" : "linux");
        }
    }
    cJSON_AddStringToObject(sys, "client_command", o.client_cmd ? o.client_cmd : "mqttsim client");
    cJSON *net = cJSON_AddObjectToObject(t.doc, "network");
    cJSON_AddStringToObject(net, "broker", EXP_TB_BROKER_ADDR ":1883");
    cJSON_AddStringToObject(net, "broker_netns_if_kept", t.netns_broker);
    cJSON *cl = cJSON_AddArrayToObject(net, "clients");
    for (size_t i = 0; i < t.n; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "name", t.in[i].name);
        cJSON_AddStringToObject(c, "addr", t.in[i].addr);
        cJSON_AddStringToObject(c, "netns_if_kept", t.in[i].netns);
        cJSON_AddItemToArray(cl, c);
    }
    t.reps = cJSON_AddArrayToObject(t.doc, "reps");
    cJSON_AddNullToObject(t.doc, "results");
    cJSON_AddNumberToObject(t.doc, "wall_s", 0);
    write_doc(&t, "running");

    for (uint32_t r = 0; r < cfg.replications; r++) {
        if (cfg.replications > 1)
            fprintf(stderr, "mqttsim testbed: replication %" PRIu32 "/%" PRIu32 "\n", r + 1,
                    cfg.replications);
        if (run_rep(&t, r, r + 1 == cfg.replications) != 0)
            break;
    }
    /* The result files, from the clients' reports: one replication per
     * directory DIR/rep<N>, in run's format. */
    const char *results = "not written: the run did not complete";
    if (o.client_cmd) {
        results = "not written: the clients were --client-cmd test traffic, which reports no "
                  "messages";
    } else if (!t.failed && !t.interrupted) {
        int crc = combine_reports(&t);
        if (crc != 0) {
            tb_fail(&t, "combining the clients' reports into results.json failed (exit %d; "
                    "see above)", crc);
            results = "not written: combining the clients' reports failed";
        } else {
            results = "results.json, results.csv, latency_cdf.csv";
        }
    }
    cJSON_ReplaceItemInObject(t.doc, "results", cJSON_CreateString(results));
    status = t.interrupted ? 128 + t.interrupted : t.failed ? 1 : 0;
    if (t.failed)
        fprintf(stderr, "mqttsim testbed: %s\n", t.err);
    if (t.interrupted)
        fprintf(stderr, "mqttsim testbed: stopped by signal %d (%s); everything it started is "
                        "stopped and removed\n", t.interrupted, strsignal(t.interrupted));
    if (write_doc(&t, t.interrupted ? "interrupted" : t.failed ? "failed" : "done") != 0) {
        fprintf(stderr, "mqttsim testbed: cannot write %s/testbed.json: %s\n", t.out, strerror(errno));
        if (!status)
            status = 1;
    }
    if (!t.interrupted)
        print_summary(&t);
    printf("testbed: %s/testbed.json\n", t.out);
done:
    /* The PID namespace's init (which holds no fd) stays until this process
     * exits and takes it along (PR_SET_PDEATHSIG): once it is gone, no
     * process can be made here any more, and exit handlers (LeakSanitizer's
     * among them) may need to make one. */
    if (t.tmp[0] && !(o.keep && status == 0))
        exp_fs_rm_tree(t.tmp);
    if (t.sfd >= 0)
        close(t.sfd);
    if (t.ns_home >= 0)
        close(t.ns_home);
    exp_relay_shared_free(t.report);
    cJSON_Delete(t.doc);
    cJSON_Delete(t.restarts);
    free(t.rw);
    free(t.in);
    exp_config_free(&cfg);
    free(owned[0]);
    free(owned[1]);
    free(sets);
    return status;
}
