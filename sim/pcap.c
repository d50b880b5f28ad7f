/* Classic pcap capture files of simulated IPv4/TCP segments, with simulated timestamps. */
#include "sim/pcap.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC_NS 0xa1b23c4du /* classic pcap, nanosecond timestamps */
#define LINKTYPE_RAW 101     /* each record an IP packet, no link header */
#define SNAPLEN 65535
#define HDRS 40              /* IPv4 (20) + TCP (20), no options */

struct sim_pcap {
    FILE *f;
    char *path;
    uint64_t records;
    uint16_t ip_id;          /* IPv4 identification, one counter for the file */
    int err;                 /* errno of the first failed write, 0 if none */
};

static const uint8_t ZEROS[4096];

static void put16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

static void put32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

/* The file header and record headers are in the writer's byte order, which
 * readers detect from the magic number. */
static void put32le(uint8_t *b, uint32_t v)
{
    memcpy(b, &v, 4);
}

/* Adds buf[0..len) to a ones' complement sum of big-endian 16-bit words
 * (RFC 1071); `odd` carries whether an odd byte is pending across calls. */
static uint32_t sum16(uint32_t acc, const uint8_t *buf, size_t len, bool *odd)
{
    for (size_t i = 0; i < len; i++) {
        acc += *odd ? buf[i] : (uint32_t)buf[i] << 8;
        *odd = !*odd;
    }
    return acc;
}

static uint16_t fold(uint32_t acc)
{
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return (uint16_t)~acc;
}

static void write_bytes(sim_pcap *p, const void *buf, size_t len)
{
    if (!p->err && len && fwrite(buf, 1, len, p->f) != len)
        p->err = errno ? errno : EIO;
}

static void write_zeros(sim_pcap *p, size_t n)
{
    while (n && !p->err) {
        size_t k = n < sizeof ZEROS ? n : sizeof ZEROS;
        write_bytes(p, ZEROS, k);
        n -= k;
    }
}

/* Cost: O(1) beyond opening the file. */
sim_pcap *sim_pcap_open(const char *path, char *err, size_t errlen)
{
    sim_pcap *p = calloc(1, sizeof *p);
    if (p)
        p->path = strdup(path);
    if (!p || !p->path) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    p->f = fopen(path, "wb");
    if (!p->f) {
        snprintf(err, errlen, "%s: cannot create the capture: %s", path, strerror(errno));
        goto fail;
    }
    uint8_t h[24];
    put32le(h, MAGIC_NS);
    uint16_t ver[2] = {2, 4};
    memcpy(h + 4, ver, 4);
    memset(h + 8, 0, 8); /* thiszone, sigfigs */
    put32le(h + 16, SNAPLEN);
    put32le(h + 20, LINKTYPE_RAW);
    write_bytes(p, h, sizeof h);
    if (p->err) {
        snprintf(err, errlen, "%s: cannot write the capture: %s", path, strerror(p->err));
        goto fail;
    }
    return p;
fail:
    if (p && p->f)
        fclose(p->f);
    if (p)
        free(p->path);
    free(p);
    return NULL;
}

/* One record: headers for payload[0..len) + zeros, which fit one packet. */
static void write_record(sim_pcap *p, sim_time t, const sim_pcap_seg *s, uint32_t seq,
                         const uint8_t *payload, size_t len, size_t zeros)
{
    size_t data = len + zeros;
    uint8_t rec[16], hd[HDRS];
    uint32_t total = (uint32_t)(HDRS + data);
    if (t < 0)
        t = 0;
    put32le(rec, (uint32_t)(t / 1000000000));
    put32le(rec + 4, (uint32_t)(t % 1000000000));
    put32le(rec + 8, total);
    put32le(rec + 12, total);

    /* IPv4 */
    hd[0] = 0x45;
    hd[1] = 0;
    put16(hd + 2, (uint16_t)total);
    put16(hd + 4, p->ip_id++);
    put16(hd + 6, 0x4000); /* don't fragment */
    hd[8] = 64;
    hd[9] = 6;             /* TCP */
    put16(hd + 10, 0);
    put32(hd + 12, s->src);
    put32(hd + 16, s->dst);
    bool odd = false;
    put16(hd + 10, fold(sum16(0, hd, 20, &odd)));

    /* TCP */
    uint8_t *tcp = hd + 20;
    put16(tcp, s->sport);
    put16(tcp + 2, s->dport);
    put32(tcp + 4, seq);
    put32(tcp + 8, s->flags & SIM_PCAP_ACK ? s->ack : 0);
    tcp[12] = 5 << 4;
    tcp[13] = s->flags;
    put16(tcp + 14, s->window);
    put16(tcp + 16, 0);
    put16(tcp + 18, 0);
    /* Checksum over the pseudo-header, the header and the payload; trailing
     * zeros add nothing to the sum but count in the length. */
    uint8_t pseudo[12];
    put32(pseudo, s->src);
    put32(pseudo + 4, s->dst);
    pseudo[8] = 0;
    pseudo[9] = 6;
    put16(pseudo + 10, (uint16_t)(20 + data));
    odd = false;
    uint32_t acc = sum16(0, pseudo, sizeof pseudo, &odd);
    acc = sum16(acc, tcp, 20, &odd);
    acc = sum16(acc, payload, len, &odd);
    put16(tcp + 16, fold(acc));

    write_bytes(p, rec, sizeof rec);
    write_bytes(p, hd, sizeof hd);
    write_bytes(p, payload, len);
    write_zeros(p, zeros);
    p->records++;
}

/* Splits what does not fit one packet: bytes first, then zeros. */
int sim_pcap_write(sim_pcap *p, sim_time t, const sim_pcap_seg *seg, const uint8_t *payload,
                   size_t len, size_t zeros)
{
    uint32_t seq = seg->seq;
    do {
        size_t room = SIM_PCAP_MAX_PAYLOAD;
        size_t nb = len < room ? len : room;
        size_t nz = zeros < room - nb ? zeros : room - nb;
        write_record(p, t, seg, seq, payload, nb, nz);
        seq += (uint32_t)(nb + nz);
        if (payload)
            payload += nb;
        len -= nb;
        zeros -= nz;
    } while (len || zeros);
    return p->err ? -1 : 0;
}

uint64_t sim_pcap_records(const sim_pcap *p)
{
    return p->records;
}

int sim_pcap_close(sim_pcap *p, char *err, size_t errlen)
{
    if (!p)
        return 0;
    if (fflush(p->f) != 0 && !p->err)
        p->err = errno ? errno : EIO;
    if (fclose(p->f) != 0 && !p->err)
        p->err = errno ? errno : EIO;
    int rc = 0;
    if (p->err) {
        snprintf(err, errlen, "%s: the capture could not be written: %s", p->path,
                 strerror(p->err));
        rc = -1;
    }
    free(p->path);
    free(p);
    return rc;
}
