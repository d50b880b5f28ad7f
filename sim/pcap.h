/* Classic pcap capture files of simulated IPv4/TCP segments, with simulated timestamps. */
#ifndef SIM_PCAP_H
#define SIM_PCAP_H

/*
 * A capture is a classic (libpcap 2.4) file with nanosecond timestamps and
 * link type LINKTYPE_RAW: each record is one IPv4 packet holding one TCP
 * segment, its headers synthesised from the fields given here (header and TCP
 * checksums are computed, so tools that verify them find them right).
 * Wireshark and tshark open it and decode port 1883 as MQTT. The writer knows
 * nothing about MQTT or about the TCP model: a caller gives it addresses,
 * ports, sequence and acknowledgement numbers, flags and the payload.
 *
 * A payload may end in a run of zero bytes given as a count (the simulator's
 * filler is never materialised); the run is written as zeros to the file.
 * Payloads longer than fit one IPv4 packet are split into consecutive
 * segments (sequence numbers advancing), for callers that wrap whole packets
 * of an idealised stream.
 */

#include <stddef.h>
#include <stdint.h>
#include "sim/time.h"

typedef struct sim_pcap sim_pcap;

/* TCP header flag bits. */
enum {
    SIM_PCAP_FIN = 0x01,
    SIM_PCAP_SYN = 0x02,
    SIM_PCAP_RST = 0x04,
    SIM_PCAP_PSH = 0x08,
    SIM_PCAP_ACK = 0x10,
};

/* One TCP segment as a capture shows it. Addresses are IPv4 in host order
 * (0xC6120001 is 198.18.0.1). */
typedef struct {
    uint32_t src, dst;
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t window;       /* the raw 16-bit window field */
} sim_pcap_seg;

/* The largest payload one record carries: an IPv4 packet is at most 65535
 * bytes, 40 of them headers. */
#define SIM_PCAP_MAX_PAYLOAD 65495

/* Creates (truncates) the file at path and writes the file header. Returns
 * NULL with a message in err (naming the path and the system's reason). */
sim_pcap *sim_pcap_open(const char *path, char *err, size_t errlen);

/* Appends the segment seg at time t carrying payload[0..len) followed by
 * `zeros` zero bytes (payload may be NULL when len is 0). A payload over
 * SIM_PCAP_MAX_PAYLOAD is written as several records at the same time, each
 * with seq advanced by the bytes before it. Returns 0, or -1 once a write has
 * failed (the error is kept for sim_pcap_close). Cost: O(len + zeros). */
int sim_pcap_write(sim_pcap *p, sim_time t, const sim_pcap_seg *seg, const uint8_t *payload,
                   size_t len, size_t zeros);

/* Records written so far. */
uint64_t sim_pcap_records(const sim_pcap *p);

/* Flushes and closes the file and frees p (NULL is fine). Returns 0, or -1
 * with a message in err when any write, the flush or the close failed, so a
 * cut-short capture is never taken for a whole one. */
int sim_pcap_close(sim_pcap *p, char *err, size_t errlen);

#endif
