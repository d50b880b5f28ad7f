/* Captures of a run (`--pcap`): every frame or segment as IPv4/TCP on port 1883, for Wireshark. */
#include "experiments/capture.h"

#include <stdlib.h>
#include <string.h>

#include "sim/pcap.h"

#define BROKER_IP 0xC6120001u /* 198.18.0.1 */
#define CLIENT_IP0 0xC6120002u
#define RANGE_END 0xC613FFFFu /* 198.19.255.255, the end of 198.18.0.0/15 */
#define MQTT_PORT 1883
#define EPHEMERAL 49152
#define ISN_CLIENT 1000u      /* idealised streams' initial sequence numbers */
#define ISN_BROKER 5000u

/* A datagram client's idealised stream: bytes sent each way so far. */
typedef struct {
    bool open;
    uint32_t sent[2];         /* [0]: up (client to broker), [1]: down */
} dgstream;

struct exp_capture {
    sim_pcap *p;
    bool receiver_side;
    dgstream *dg;
    size_t n_dg;
    bool failed;              /* out of memory for the stream table */
};

static uint32_t client_ip(int client)
{
    uint64_t ip = (uint64_t)CLIENT_IP0 + (uint64_t)client;
    /* Past the range's 131,069 client addresses the numbers wrap: a capture
     * of a larger fleet shows some clients sharing an address. */
    return (uint32_t)(CLIENT_IP0 + (ip - CLIENT_IP0) % (RANGE_END - CLIENT_IP0));
}

static uint16_t client_port(uint32_t conn, bool new_mapping)
{
    uint32_t k = conn ? conn - 1 : 0;
    return (uint16_t)(EPHEMERAL + (2 * k + (new_mapping ? 1 : 0)) % 16384);
}

exp_capture *exp_capture_open(const char *path, bool receiver_side, char *err, size_t errlen)
{
    exp_capture *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    c->p = sim_pcap_open(path, err, errlen);
    if (!c->p) {
        free(c);
        return NULL;
    }
    c->receiver_side = receiver_side;
    return c;
}

static void seg_addrs(sim_pcap_seg *s, int client, bool up, uint16_t cport)
{
    uint32_t ip = client_ip(client);
    s->src = up ? ip : BROKER_IP;
    s->dst = up ? BROKER_IP : ip;
    s->sport = up ? cport : MQTT_PORT;
    s->dport = up ? MQTT_PORT : cport;
}

/* Cost: O(segment). */
void exp_capture_segment(void *cap, int client, const sim_tcp_seg_info *seg)
{
    exp_capture *c = cap;
    if (seg->lost && c->receiver_side)
        return;
    bool up = seg->from == SIM_TCP_CLIENT;
    sim_pcap_seg s;
    seg_addrs(&s, client, up, client_port(seg->conn, seg->new_mapping));
    s.seq = seg->seq;
    s.ack = seg->ack;
    /* The model's flag bits are the wire's. */
    s.flags = seg->flags;
    s.window = seg->window > 65535 ? 65535 : (uint16_t)seg->window;
    sim_pcap_write(c->p, seg->t, &s, seg->payload, seg->len, 0);
}

static dgstream *stream_of(exp_capture *c, int client)
{
    if ((size_t)client >= c->n_dg) {
        size_t n = c->n_dg ? c->n_dg : 16;
        while (n <= (size_t)client)
            n *= 2;
        dgstream *g = realloc(c->dg, n * sizeof *g);
        if (!g)
            return NULL;
        memset(g + c->n_dg, 0, (n - c->n_dg) * sizeof *g);
        c->dg = g;
        c->n_dg = n;
    }
    return &c->dg[client];
}

/* The idealised stream's handshake, written with the client's first frame
 * (both sides of a capture see it: it stands for a connection the datagram
 * model does not have). */
static void dg_handshake(exp_capture *c, int64_t t, int client)
{
    uint16_t port = client_port(1, false);
    sim_pcap_seg s;
    seg_addrs(&s, client, true, port);
    s.seq = ISN_CLIENT;
    s.ack = 0;
    s.flags = SIM_PCAP_SYN;
    s.window = 65535;
    sim_pcap_write(c->p, t, &s, NULL, 0, 0);
    seg_addrs(&s, client, false, port);
    s.seq = ISN_BROKER;
    s.ack = ISN_CLIENT + 1;
    s.flags = SIM_PCAP_SYN | SIM_PCAP_ACK;
    sim_pcap_write(c->p, t, &s, NULL, 0, 0);
    seg_addrs(&s, client, true, port);
    s.seq = ISN_CLIENT + 1;
    s.ack = ISN_BROKER + 1;
    s.flags = SIM_PCAP_ACK;
    sim_pcap_write(c->p, t, &s, NULL, 0, 0);
}

/* Cost: O(frame), amortised O(1) for the stream table. */
void exp_capture_frame(void *cap, int64_t t, int client, bool up, const uint8_t *buf,
                       size_t len, uint64_t zeros, bool lost)
{
    exp_capture *c = cap;
    dgstream *g = stream_of(c, client);
    if (!g) {
        c->failed = true;
        return;
    }
    if (!g->open) {
        g->open = true;
        dg_handshake(c, t, client);
    }
    int d = up ? 0 : 1;
    uint32_t seq = (up ? ISN_CLIENT : ISN_BROKER) + 1 + g->sent[d];
    uint32_t ack = (up ? ISN_BROKER : ISN_CLIENT) + 1 + g->sent[1 - d];
    g->sent[d] += (uint32_t)(len + zeros);
    if (lost && c->receiver_side)
        return;
    sim_pcap_seg s;
    seg_addrs(&s, client, up, client_port(1, false));
    s.seq = seq;
    s.ack = ack;
    s.flags = SIM_PCAP_PSH | SIM_PCAP_ACK;
    s.window = 65535;
    sim_pcap_write(c->p, t, &s, buf, len, zeros);
}

int exp_capture_close(exp_capture *c, char *err, size_t errlen)
{
    if (!c)
        return 0;
    int rc = sim_pcap_close(c->p, err, errlen);
    if (c->failed && rc == 0) {
        snprintf(err, errlen, "the capture is incomplete: out of memory");
        rc = -1;
    }
    free(c->dg);
    free(c);
    return rc;
}
