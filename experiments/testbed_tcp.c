/* The testbed's kernel TCP: sysctls and route metrics that make a namespace's Linux TCP the config's. */
#define _GNU_SOURCE
#include "experiments/testbed_tcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define IP_TCP_HEADERS 40 /* IPv4 + TCP without options: the model's per-segment overhead */

void exp_tb_kernel_of(const exp_tcp *tcp, exp_tb_tcp_mode mode, exp_tb_kernel *k)
{
    *k = (exp_tb_kernel){
        .mtu = tcp->mss + IP_TCP_HEADERS,
        .rto_min_ms = (uint32_t)((tcp->rto_min_ns + 999999) / 1000000),
        .initcwnd = tcp->initial_cwnd,
        .quickack = mode == EXP_TB_TCP_MODEL && tcp->delayed_ack_ns == 0,
        .retries2 = tcp->retries2,
        .syn_retries = tcp->syn_retries,
        .rto_max_ms = (uint32_t)((tcp->rto_max_ns + 999999) / 1000000),
        .model_recovery = mode == EXP_TB_TCP_MODEL,
    };
}

size_t exp_tb_tcp_not_applied(const exp_tcp *tcp, exp_tb_tcp_mode mode, bool have_rto_max,
                              const char **keys, size_t cap)
{
    size_t n = 0;
#define NOT(k) do { if (n < cap) keys[n] = (k); n++; } while (0)
    /* Linux computes its RTO as SRTT + max(4 RTTVAR, rto_min) (tcp_set_rto)
     * and starts from 1 s (TCP_TIMEOUT_INIT); neither is a setting. */
    if (tcp->rto_formula != EXP_RTO_LINUX)
        NOT("tcp.rto_formula");
    if (tcp->rto_initial_ns != 1000000000)
        NOT("tcp.rto_initial_ms");
    if (tcp->rto_max_ns != 120000000000LL && !have_rto_max)
        NOT("tcp.rto_max_ms");
    /* The broker's sockets are Mosquitto's: no TCP_USER_TIMEOUT there. */
    if (tcp->user_timeout_ns != 0)
        NOT("tcp.user_timeout_ms");
    /* Linux delays ACKs by its own adaptive timer (40 ms up to 200 ms) or,
     * with quickack, not at all: a delay of the model's fixed length, or
     * none in linux mode, is not to be had. */
    if ((mode == EXP_TB_TCP_MODEL && tcp->delayed_ack_ns != 0) ||
        (mode == EXP_TB_TCP_LINUX && tcp->delayed_ack_ns == 0))
        NOT("tcp.delayed_ack_ms");
#undef NOT
    return n;
}

bool exp_tb_have_rto_max(void)
{
    return access("/proc/sys/net/ipv4/tcp_rto_max_ms", W_OK) == 0;
}

static int put_sysctl(const char *name, unsigned v, char *err, size_t errlen)
{
    char path[128], text[32];
    snprintf(path, sizeof path, "/proc/sys/net/ipv4/%s", name);
    int len = snprintf(text, sizeof text, "%u", v);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ssize_t w = fd >= 0 ? write(fd, text, (size_t)len) : -1;
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (w != len) {
        snprintf(err, errlen, "writing %u to %s: %s", v, path, strerror(e));
        return -1;
    }
    return 0;
}

int exp_tb_kernel_sysctls(const exp_tb_kernel *k, char *err, size_t errlen)
{
    if (put_sysctl("tcp_retries2", k->retries2, err, errlen) ||
        put_sysctl("tcp_syn_retries", k->syn_retries, err, errlen))
        return -1;
    if (exp_tb_have_rto_max() && put_sysctl("tcp_rto_max_ms", k->rto_max_ms, err, errlen))
        return -1;
    if (!k->model_recovery)
        return 0;
    /* tcp_recovery 0: no RACK (bit 1); tcp_early_retrans 0: no TLP. */
    static const char *const off[] = {"tcp_sack", "tcp_dsack", "tcp_timestamps", "tcp_recovery",
                                      "tcp_early_retrans", "tcp_frto"};
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++)
        if (put_sysctl(off[i], 0, err, errlen))
            return -1;
    return 0;
}

/* Appends attribute (type, data) to the message in buf (capacity cap). */
static struct rtattr *put_attr(struct nlmsghdr *h, size_t cap, unsigned short type,
                               const void *data, size_t len)
{
    size_t at = NLMSG_ALIGN(h->nlmsg_len);
    if (at + RTA_SPACE(len) > cap)
        return NULL;
    struct rtattr *a = (struct rtattr *)((char *)h + at);
    a->rta_type = type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    if (len)
        memcpy(RTA_DATA(a), data, len);
    h->nlmsg_len = (uint32_t)(at + RTA_SPACE(len));
    return a;
}

/*
 * RTM_NEWROUTE with NLM_F_REPLACE: the kernel's own route to the peer
 * (table main, metric 0, scope link) replaced by the same route with
 * metrics, as `ip route replace DST dev DEV src SRC rto_min Nms initcwnd N
 * quickack 1` would. Cost: one netlink round trip.
 */
int exp_tb_route_set(const char *dev, const char *dst, const char *src, const exp_tb_kernel *k,
                     char *err, size_t errlen)
{
    union {
        struct nlmsghdr h;
        char buf[512];
    } m;
    memset(&m, 0, sizeof m);
    m.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
    m.h.nlmsg_type = RTM_NEWROUTE;
    m.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
    m.h.nlmsg_seq = 1;
    struct rtmsg *r = NLMSG_DATA(&m.h);
    r->rtm_family = AF_INET;
    r->rtm_dst_len = 32;
    r->rtm_table = RT_TABLE_MAIN;
    r->rtm_protocol = RTPROT_STATIC;
    r->rtm_scope = RT_SCOPE_LINK;
    r->rtm_type = RTN_UNICAST;
    struct in_addr d, s;
    unsigned oif = if_nametoindex(dev);
    if (inet_pton(AF_INET, dst, &d) != 1 || inet_pton(AF_INET, src, &s) != 1 || !oif) {
        snprintf(err, errlen, "route to %s via %s: no such address or device", dst, dev);
        return -1;
    }
    int ioif = (int)oif;
    put_attr(&m.h, sizeof m, RTA_DST, &d, 4);
    put_attr(&m.h, sizeof m, RTA_PREFSRC, &s, 4);
    put_attr(&m.h, sizeof m, RTA_OIF, &ioif, sizeof ioif);
    struct rtattr *mx = put_attr(&m.h, sizeof m, RTA_METRICS, NULL, 0);
    uint32_t quick = 1;
    put_attr(&m.h, sizeof m, RTAX_RTO_MIN, &k->rto_min_ms, 4); /* in ms, as iproute2 sends it */
    put_attr(&m.h, sizeof m, RTAX_INITCWND, &k->initcwnd, 4);
    if (k->quickack)
        put_attr(&m.h, sizeof m, RTAX_QUICKACK, &quick, 4);
    mx->rta_len = (unsigned short)((char *)&m.h + m.h.nlmsg_len - (char *)mx);

    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) {
        snprintf(err, errlen, "netlink socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_nl nl = {.nl_family = AF_NETLINK};
    int rc = -1;
    if (sendto(fd, &m, m.h.nlmsg_len, 0, (struct sockaddr *)&nl, sizeof nl) < 0) {
        snprintf(err, errlen, "route to %s via %s: sending to netlink: %s", dst, dev,
                 strerror(errno));
        goto out;
    }
    char ans[1024];
    ssize_t n = recv(fd, ans, sizeof ans, 0);
    struct nlmsghdr *h = (struct nlmsghdr *)ans;
    if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) || h->nlmsg_type != NLMSG_ERROR) {
        snprintf(err, errlen, "route to %s via %s: no answer from netlink", dst, dev);
        goto out;
    }
    const struct nlmsgerr *e = NLMSG_DATA(h);
    if (e->error) {
        snprintf(err, errlen, "route to %s via %s with rto_min %u ms, initcwnd %u%s: %s", dst,
                 dev, k->rto_min_ms, k->initcwnd, k->quickack ? ", quickack" : "",
                 strerror(-e->error));
        goto out;
    }
    rc = 0;
out:
    close(fd);
    return rc;
}

/* The value of column name in the "prefix" rows of text (a header row of
 * names, then a row of values, as /proc/net/snmp and netstat lay them out).
 * 0 when found, -1 when not. */
static int proc_value(const char *text, const char *prefix, const char *name, uint64_t *v)
{
    size_t pl = strlen(prefix);
    const char *hdr = text;
    while (hdr && strncmp(hdr, prefix, pl) != 0) {
        hdr = strchr(hdr, '\n');
        hdr = hdr ? hdr + 1 : NULL;
    }
    const char *val = hdr ? strchr(hdr, '\n') : NULL;
    if (!val || strncmp(val + 1, prefix, pl) != 0)
        return -1;
    val += 1 + pl;
    const char *h = hdr + pl;
    for (;;) {
        while (*h == ' ')
            h++;
        while (*val == ' ')
            val++;
        if (*h == '\n' || !*h || *val == '\n' || !*val)
            return -1;
        size_t n = strcspn(h, " \n");
        if (n == strlen(name) && strncmp(h, name, n) == 0) {
            char *end;
            unsigned long long x = strtoull(val, &end, 10);
            if (end == val)
                return -1;
            *v += x;
            return 0;
        }
        h += n;
        val += strcspn(val, " \n");
    }
}

int exp_tb_tcp_counts_parse(const char *snmp, const char *netstat, exp_tb_tcp_counts *c)
{
    int rc = 0;
    rc |= proc_value(snmp, "Tcp:", "OutSegs", &c->out_segs);
    rc |= proc_value(snmp, "Tcp:", "RetransSegs", &c->retrans_segs);
    rc |= proc_value(netstat, "TcpExt:", "TCPTimeouts", &c->timeouts);
    rc |= proc_value(netstat, "TcpExt:", "TCPFastRetrans", &c->fast_retrans);
    rc |= proc_value(netstat, "TcpExt:", "TCPRenoRecovery", &c->reno_recovery);
    rc |= proc_value(netstat, "TcpExt:", "TCPSackRecovery", &c->sack_recovery);
    rc |= proc_value(netstat, "TcpExt:", "TCPLossProbes", &c->loss_probes);
    rc |= proc_value(netstat, "TcpExt:", "TCPSpuriousRTOs", &c->spurious_rtos);
    return rc ? -1 : 0;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 16384, len = 0;
    char *buf = malloc(cap);
    size_t k;
    while (buf && (k = fread(buf + len, 1, cap - 1 - len, f)) > 0) {
        len += k;
        if (len + 1 == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

int exp_tb_tcp_counts_read(exp_tb_tcp_counts *c)
{
    /* /proc/self/net is the namespace of the reading thread. */
    char *snmp = slurp("/proc/self/net/snmp"), *netstat = slurp("/proc/self/net/netstat");
    int rc = snmp && netstat ? exp_tb_tcp_counts_parse(snmp, netstat, c) : -1;
    free(snmp);
    free(netstat);
    return rc;
}
