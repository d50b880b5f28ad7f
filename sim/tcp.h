/* A deterministic simulated-time TCP between a client and a server end over one link pair. */
#ifndef SIM_TCP_H
#define SIM_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <gsl/gsl_rng.h>
#include "sim/link.h"
#include "sim/sched.h"

/*
 * A path is what one client has to one server: two link directions (up:
 * client to server, down: server to client) and the two TCP stacks at their
 * ends. It owns the links, so successive connections on it (reconnects) share
 * their loss state, delays and outages. Connections are numbered on the path
 * from 1 (the number stands for the client's ephemeral port: a new connection
 * never matches an old one's segments). Each connection has two ends, the
 * client's (active open) and the server's (passive open); the application
 * talks to an end through its handle.
 *
 * What is modelled (RFC numbers and Linux names in tcp.c): the three-way
 * handshake with SYN retransmission; MSS-sized segments, each one link frame
 * of payload + 40 bytes (IPv4 + TCP headers); cumulative ACKs, optionally
 * delayed; the RFC 6298 retransmission timer (Linux's or the RFC's RTO
 * formula) with Karn's rule and exponential backoff; fast retransmit, limited
 * transmit and NewReno (RFC 6582) with the congestion window counted in
 * segments as Linux does; in-order delivery with out-of-order data held back;
 * FIN, RST, TIME_WAIT; RFC 5961 RST and SYN checks; Linux's abort budget
 * (tcp_retries2, tcp_syn_retries, TCP_USER_TIMEOUT); answers to segments for
 * connections that no longer exist. Not modelled: SACK, timestamps, window
 * scaling negotiation (the receive window is a fixed, large parameter, so
 * flow control and persist probes never arise), TLP/RACK, Nagle (every end
 * behaves as TCP_NODELAY), TCP keepalive, simultaneous open, MTU discovery.
 *
 * Memory is O(data in flight and buffered): segments on the links refer to
 * the sender's buffer instead of copying it; out-of-order data at the
 * receiver is kept as sequence ranges of that same buffer; a run of zero
 * bytes written with sim_tcp_write_zeros is stored as its length only. A
 * connection's records are freed once both ends are gone and no segment of it
 * is on a link.
 *
 * Application callbacks (sim_tcp_app, sim_tcp_accept_fn) may call any
 * function of this module (write on this or another end, close, abort,
 * vanish, connect, listen), except sim_tcp_path_free. The tap and the test
 * filter run in the middle of sending a segment and must not call into it.
 *
 * Out of memory inside the model (where no caller can be told: in an
 * event, or while sending) marks the path failed (sim_tcp_path_failed); a
 * run must check it and fail rather than report what it measured.
 */

/* TCP header flags, with their wire values. */
enum {
    SIM_TCP_FIN = 0x01,
    SIM_TCP_SYN = 0x02,
    SIM_TCP_RST = 0x04,
    SIM_TCP_PSH = 0x08,
    SIM_TCP_ACK = 0x10,
};

typedef enum {
    SIM_TCP_RTO_LINUX,   /* RTO = SRTT + max(4 RTTVAR, rto_min), Linux's estimator */
    SIM_TCP_RTO_RFC6298, /* RTO = max(SRTT + 4 RTTVAR, rto_min), RFC 6298 section 2 */
} sim_tcp_rto_formula;

typedef struct {
    uint32_t mss;            /* payload bytes per segment: 1460 */
    uint32_t init_cwnd;      /* initial window in segments: 10 (RFC 6928, Linux) */
    uint32_t rwnd;           /* receive window in bytes, fixed: 6291456 (Linux's tcp_rmem max) */
    sim_time rto_initial;    /* 1 s (RFC 6298 2.1, Linux TCP_TIMEOUT_INIT) */
    sim_time rto_min;        /* 200 ms (Linux TCP_RTO_MIN) */
    sim_time rto_max;        /* 120 s (Linux TCP_RTO_MAX) */
    int syn_retries;         /* SYN retransmissions: 6 (net.ipv4.tcp_syn_retries) */
    int synack_retries;      /* SYN-ACK retransmissions: 5 (net.ipv4.tcp_synack_retries) */
    int retries2;            /* abort budget: 15 (net.ipv4.tcp_retries2) */
    int orphan_retries;      /* budget after close: 0 = Linux's 8 (net.ipv4.tcp_orphan_retries) */
    sim_time user_timeout;   /* 0 = off (TCP_USER_TIMEOUT) */
    sim_time delayed_ack;    /* 0 = every segment acknowledged at once */
    sim_time fin_timeout;    /* FIN_WAIT_2 after close: 60 s (net.ipv4.tcp_fin_timeout) */
    sim_time time_wait;      /* 60 s (Linux TCP_TIMEWAIT_LEN) */
    sim_tcp_rto_formula rto_formula; /* SIM_TCP_RTO_LINUX */
} sim_tcp_params;

/* Fills p with the defaults above. */
void sim_tcp_params_default(sim_tcp_params *p);

/* Which end: also names a direction by its sender (SIM_TCP_CLIENT = up). */
typedef enum { SIM_TCP_CLIENT = 0, SIM_TCP_SERVER = 1 } sim_tcp_side;

typedef enum {
    SIM_TCP_EV_ESTABLISHED, /* client: the handshake completed */
    SIM_TCP_EV_PEER_CLOSED, /* FIN received: no more data will come; the end may
                             * still write, and should close */
    SIM_TCP_EV_RESET,       /* an acceptable RST arrived: the end is gone */
    SIM_TCP_EV_ABORTED,     /* retries2 or the user timeout ran out: the end is gone */
    SIM_TCP_EV_REFUSED,     /* client: the SYN was answered by RST: the end is gone */
    SIM_TCP_EV_SYN_TIMEOUT, /* client: syn_retries retransmissions unanswered: the end is gone */
} sim_tcp_event;

const char *sim_tcp_event_name(sim_tcp_event ev);

typedef struct sim_tcp_path sim_tcp_path;
typedef struct sim_tcp_end sim_tcp_end;

/* The application's side of an end. on_data gets the stream in order, in
 * chunks (a zero run comes as pointers to a static block of zeros); the
 * pointer is valid during the call only. After an event that says "the end
 * is gone" returns, the handle must not be used again. */
typedef struct {
    void (*on_event)(void *ctx, sim_tcp_end *e, sim_tcp_event ev);
    void (*on_data)(void *ctx, sim_tcp_end *e, const uint8_t *data, size_t len);
} sim_tcp_app;

/* Called when a server end completes its handshake (the final ACK, or the
 * first segment acknowledging the SYN-ACK, arrived). It must attach an
 * application with sim_tcp_set_app, or close, abort or vanish the end. */
typedef void (*sim_tcp_accept_fn)(void *ctx, sim_tcp_end *e);

/* One segment as it was put on a link, for captures. Sequence and
 * acknowledgement numbers are the wire values (each end's ISN plus its
 * offset, modulo 2^32), consistent across the handshake, retransmissions and
 * resets. */
typedef struct {
    sim_time t;
    sim_tcp_side from;
    uint32_t conn;           /* the connection's number on the path, from 1 */
    bool new_mapping;        /* sent by the client after a NAT rebind, or an answer
                              * to such a segment: the server sees another port */
    uint32_t seq, ack;       /* ack is 0 without SIM_TCP_ACK */
    uint8_t flags;           /* SIM_TCP_* */
    uint32_t window;         /* advertised window in bytes */
    const uint8_t *payload;  /* len bytes, materialised for the call */
    size_t len;
    bool retransmission;     /* resends data, SYN or FIN sent before */
    bool lost;               /* the link (loss model or outage) lost it */
} sim_tcp_seg_info;

typedef void (*sim_tcp_tap_fn)(void *ctx, const sim_tcp_seg_info *seg);

/* Per sending side of a path, summed over its connections. */
typedef struct {
    uint64_t segments;         /* every segment sent (SYN, data, pure ACK, FIN, RST) */
    uint64_t data_segments;    /* those carrying payload */
    uint64_t retransmissions;  /* segments resending data, SYN or FIN */
    uint64_t rto_expiries;     /* retransmission timer expiries */
    uint64_t fast_retransmits; /* entries into fast retransmit (3 duplicate ACKs) */
    uint64_t ip_bytes;         /* payload + 40 header bytes per segment */
    uint64_t payload_bytes;    /* payload sent, retransmissions included */
    uint64_t bytes_written;    /* by this side's applications */
    uint64_t bytes_delivered;  /* handed in order to this side's applications */
    uint64_t rsts_sent;
    uint64_t segments_lost;    /* this side's segments the link lost */
    uint64_t nat_dropped;      /* this side's segments a rebound NAT dropped */
} sim_tcp_stats;

/* A path on scheduler s with TCP parameters tp (copied; asserts mss > 0,
 * init_cwnd > 0, rwnd >= mss, 0 < rto_min <= rto_max, rto_initial > 0) and
 * one link per direction, created from the link parameters and the borrowed
 * streams (free them after the path). Returns NULL when out of memory. */
sim_tcp_path *sim_tcp_path_new(sim_sched *s, const sim_tcp_params *tp,
                               const sim_link_params *up, gsl_rng *rng_up,
                               const sim_link_params *down, gsl_rng *rng_down);

/* As sim_tcp_path_new, but the links borrow up and down (unchanged until the
 * path is freed) instead of copying them (sim_link_new_shared): 88 bytes
 * less a direction, for paths of the same parameters. */
sim_tcp_path *sim_tcp_path_new_shared(sim_sched *s, const sim_tcp_params *tp,
                                      const sim_link_params *up, gsl_rng *rng_up,
                                      const sim_link_params *down, gsl_rng *rng_down);

/* Frees the path, its links, every connection and segment (handles become
 * invalid; no callback runs). Cancels their events, so the scheduler must
 * still exist. Not from inside a callback. */
void sim_tcp_path_free(sim_tcp_path *p);

/* The link carrying segments sent by side `from` (for outages and link
 * statistics). Owned by the path. */
sim_link *sim_tcp_path_link(sim_tcp_path *p, sim_tcp_side from);

/* Statistics of the segments sent by one side. */
const sim_tcp_stats *sim_tcp_path_stats(const sim_tcp_path *p, sim_tcp_side from);

/* Calls fn for every segment put on either link (fn NULL: none). */
void sim_tcp_path_set_tap(sim_tcp_path *p, sim_tcp_tap_fn fn, void *ctx);

/* True once an allocation failed inside the model (in an event, where no
 * caller could be told): the run must then be abandoned. */
bool sim_tcp_path_failed(const sim_tcp_path *p);

/* Connection records the path holds (live, closing, or waiting for their
 * segments to leave the links). */
size_t sim_tcp_path_conns(const sim_tcp_path *p);

/* Bytes of memory the path's TCP state holds (records, buffers, pools;
 * not the links' own rings). O(connections). */
size_t sim_tcp_path_bytes(const sim_tcp_path *p);

/* Server side. With fn set, SYNs are answered (each completed handshake
 * is given to fn); with fn NULL, SYNs are answered with RST (refused) and
 * half-open handshakes are dropped. Established connections are not
 * affected either way. Starts off. */
void sim_tcp_listen(sim_tcp_path *p, sim_tcp_accept_fn fn, void *ctx);

/* Client side: opens a new connection (sends SYN now) whose client end
 * reports to app/ctx. Returns the end, or NULL when out of memory. */
sim_tcp_end *sim_tcp_connect(sim_tcp_path *p, const sim_tcp_app *app, void *ctx);

/* Attaches (or replaces) the application of an end. */
void sim_tcp_set_app(sim_tcp_end *e, const sim_tcp_app *app, void *ctx);

/* Error codes. */
enum {
    SIM_TCP_ENOMEM = -1, /* out of memory: abandon the run */
    SIM_TCP_ESTATE = -2, /* the end cannot send: not established, or closed */
};

/* Queues len bytes (copied) for sending and sends what the windows allow,
 * now. Only in the established and close-wait states, before close. 0, or
 * an error code (ENOMEM when the bytes could not be queued; a failure while
 * sending marks the path failed). The send buffer has no limit: the
 * application sees the backlog with sim_tcp_unsent. O(len) plus the
 * segments sent. */
int sim_tcp_write(sim_tcp_end *e, const void *buf, size_t len);

/* Queues n zero bytes, stored as a run length (O(1) memory, whatever n).
 * As sim_tcp_write otherwise. */
int sim_tcp_write_zeros(sim_tcp_end *e, uint64_t n);

/* Queues len bytes (copied) followed by n zeros (stored as a run length)
 * and only then sends what the windows allow: one write(2) of a buffer whose
 * tail is zeros, so that a small message is one segment, not two. As
 * sim_tcp_write otherwise. */
int sim_tcp_write_with_zeros(sim_tcp_end *e, const void *buf, size_t len, uint64_t n);

/* Closes the end (close(2): both directions). Data already written is still
 * sent, followed by FIN; the application gets no more callbacks and must not
 * use the handle again. Data arriving after this is answered with RST (as
 * Linux does for a closed socket). In SYN_SENT the attempt is dropped
 * silently. */
void sim_tcp_close(sim_tcp_end *e);

/* Aborts the end: sends RST (when the handshake is complete) and forgets
 * it. No callback; the handle is gone. */
void sim_tcp_abort(sim_tcp_end *e);

/* The end's state vanishes silently, as in a crashed host: nothing is sent;
 * later segments for it are answered with RST by its stack. No callback; the
 * handle is gone. */
void sim_tcp_vanish(sim_tcp_end *e);

/* A NAT on the path forgets this connection's mapping. From now on (by
 * arrival time) the client's segments reach the server as an unknown flow,
 * which the server's stack answers with RST; the server's segments to the
 * old mapping are dropped silently. Either end may be given. */
void sim_tcp_nat_rebind(sim_tcp_end *e);

uint32_t sim_tcp_conn_id(const sim_tcp_end *e);
sim_tcp_side sim_tcp_end_side(const sim_tcp_end *e);
sim_tcp_path *sim_tcp_end_path(const sim_tcp_end *e);

/* Bytes written and not yet acknowledged by the peer (sent or not). */
uint64_t sim_tcp_unacked(const sim_tcp_end *e);

/* Bytes written and not yet sent for the first time. */
uint64_t sim_tcp_unsent(const sim_tcp_end *e);

/* Bytes of written data the end holds in memory (zero runs cost none). */
size_t sim_tcp_stored(const sim_tcp_end *e);

/* Internal state, for tests and traces. */
typedef struct {
    const char *state;       /* "ESTABLISHED", "FIN_WAIT_1", ... */
    uint32_t cwnd, ssthresh; /* segments; ssthresh UINT32_MAX = infinite */
    uint32_t packets_out;    /* segments sent and not yet acknowledged */
    sim_time srtt, rttvar;   /* RTTVAR as the formula keeps it (Linux: 4 x mdev peak, >= rto_min) */
    sim_time rto;            /* current, with backoff */
    int retransmits;         /* RTO expiries since the last forward progress */
    bool in_recovery, in_loss;
    uint64_t snd_una, snd_nxt, rcv_nxt; /* stream offsets: the SYN is 0, byte k is k + 1 */
} sim_tcp_info;

void sim_tcp_get_info(const sim_tcp_end *e, sim_tcp_info *out);

/* Testing hook, not for models: fn sees every segment before it is put on a
 * link and returns true to lose it. The segment still travels the link (it
 * takes the line and the link's draws as any frame, and the link counts it
 * delivered) and is discarded on arrival; the tap reports it lost and
 * segments_lost counts it. For scripted losses ("the third data segment").
 * fn NULL removes the hook. */
void sim_tcp_test_set_filter(sim_tcp_path *p, bool (*fn)(void *ctx, const sim_tcp_seg_info *seg),
                             void *ctx);

#endif
