/* Captures of a run (`--pcap`): every frame or segment as IPv4/TCP on port 1883, for Wireshark. */
#ifndef EXP_CAPTURE_H
#define EXP_CAPTURE_H

/*
 * Addresses come from the benchmarking range 198.18.0.0/15: the broker is
 * 198.18.0.1 port 1883 and client i (in config order, counts expanded) is
 * 198.18.0.2 + i. A client's k-th connection uses port 49152 + 2(k-1) mod
 * 16384, and a NAT rebinding moves it to the next port, as a capture taken
 * behind the NAT would show.
 *
 * Stream transport: the TCP model's own segments (handshake, data, ACKs,
 * retransmissions, FIN, RST) with their sequence and acknowledgement numbers.
 * Datagram transport: each frame is wrapped as one segment of an idealised
 * stream per client and direction (a handshake at the client's first frame,
 * sequence numbers advancing by every frame sent, lost ones included, and
 * each segment acknowledging all the other direction has sent); there is no
 * TCP behind it, so no ACK segments, and a receiver-side capture shows a
 * gap where a frame was lost.
 *
 * Sender side (the default): every frame as it was sent, lost or not, as a
 * capture at the sender's interface would hold it. Receiver side: the lost
 * ones are left out.
 */

#include <stdbool.h>
#include "models/net.h"

typedef struct exp_capture exp_capture;

/* Opens path for a capture. Returns NULL with a message in err. */
exp_capture *exp_capture_open(const char *path, bool receiver_side, char *err, size_t errlen);

/* The mq_net_hooks segment and frame callbacks, with the capture as their
 * context. */
void exp_capture_segment(void *cap, int client, const sim_tcp_seg_info *seg);
void exp_capture_frame(void *cap, int64_t t, int client, bool up, const uint8_t *buf,
                       size_t len, uint64_t zeros, bool lost);

/* Closes the file. Returns 0, or -1 with a message in err when any write
 * failed (the capture is then incomplete and must not be trusted). */
int exp_capture_close(exp_capture *c, char *err, size_t errlen);

#endif
