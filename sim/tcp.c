/* The TCP model: handshake, MSS segments, cumulative ACKs, RFC 6298 timer, NewReno, in-order delivery, FIN and RST, over a link pair. */
#include "sim/tcp.h"
#include "sim/fifo.h"
#include "sim/ring.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/*
 * Sequence space. Each direction uses 64-bit stream offsets that never wrap:
 * the SYN is offset 0, data byte k is k + 1, the FIN follows the last byte.
 * Wire numbers (the tap's) are ISN + offset modulo 2^32.
 *
 * Zero copy. A segment on a link is a small pooled record {connection, seq,
 * ack, len, flags}; its payload stays in the sender's buffer, which keeps
 * every byte from snd_una on. The receiver reads bytes from that buffer when
 * they become in order: its rcv_nxt is never below the sender's snd_una
 * (acknowledgements only report rcv_nxt), so everything it still needs is
 * there, and out-of-order data is kept as ranges only. A connection's
 * buffers live as long as its record, which lives while either end does or a
 * segment of it is on a link; so data from an end that vanished or aborted
 * can still be read by segments that were in flight. The send buffer is a
 * sequence of pieces, each a run of stored bytes followed by a run of zeros
 * with no storage (either may be empty): a PUBLISH whose payload is mostly
 * zeros makes one.
 *
 * Timers. Each end has three deadlines (retransmission, delayed ACK, and the
 * state timer of TIME_WAIT and FIN_WAIT_2) and at most one scheduler event,
 * at or before the earliest. Moving a deadline later (the RTO restart on
 * every ACK) costs nothing: the event fires early, finds nothing due and
 * re-arms. Only a deadline moved earlier than the pending event costs a
 * cancel and a schedule.
 *
 * Where the RFCs leave a choice, Linux's is taken; departures are marked.
 * - Handshake: SYN retransmitted from rto_initial (1 s, RFC 6298 2.1),
 *   doubling; given up when the timer expires with syn_retries
 *   retransmissions done (tcp_write_timeout: icsk_retransmits >= retry_until),
 *   so 6 retries give up at 1+2+4+8+16+32+64 = 127 s. The server's SYN-ACK
 *   likewise with synack_retries (5: gone at 63 s, silently). A SYN to a path
 *   not listening is answered with RST|ACK (refused). An RTT sample from the
 *   handshake is taken unless the SYN (SYN-ACK) was retransmitted (Karn); with
 *   none, the RTO becomes 3 s for data (RFC 6298 5.7; Linux tcp_init_metrics,
 *   TCP_TIMEOUT_FALLBACK). cwnd starts at init_cwnd, or 1 after more than one
 *   handshake retransmission (Linux tcp_init_transfer).
 * - RTT and RTO (RFC 6298 section 2, 3 and 5): one sample per ACK that
 *   acknowledges new data, from the oldest newly acknowledged segment, and
 *   none if any newly acknowledged segment was retransmitted (Karn; Linux
 *   tcp_clean_rtx_queue). SIM_TCP_RTO_LINUX is Linux's tcp_rtt_estimator in
 *   ns (srtt x 8, mdev x 4, the per-window peak mdev_max and rttvar >= rto_min,
 *   the smaller gain when the RTT falls), RTO = srtt + rttvar (__tcp_set_rto),
 *   i.e. SRTT + max(4 RTTVAR, rto_min); SIM_TCP_RTO_RFC6298 is RFC 6298 2.2-2.3
 *   in integer ns (floor division), RTO = max(SRTT + 4 RTTVAR, rto_min). Both
 *   are capped at rto_max. An expiry doubles the RTO (5.5, up to rto_max); it
 *   stays backed off until a valid sample recomputes it. The timer is
 *   restarted by every ACK of new data (5.3) and stopped when nothing is
 *   outstanding (5.2).
 * - Abort (Linux tcp_write_timeout / retransmits_timed_out): at an expiry,
 *   after at least one earlier expiry without forward progress, the end
 *   gives up if now - retrans_stamp >= budget, where retrans_stamp is the
 *   last transmission time of the oldest segment when it was first
 *   retransmitted in this loss episode, and the budget is
 *   tcp_model_timeout(retries2, rto_min):
 *     thresh = ilog2(rto_max / rto_min)                 (9 with the defaults)
 *     budget = (2^(retries2+1) - 1) rto_min                   if retries2 <= thresh
 *            = (2^(thresh+1) - 1) rto_min + (retries2 - thresh) rto_max  else
 *   (15: 1023 x 0.2 + 6 x 120 = 924.6 s), or user_timeout when set; with a
 *   user timeout the timer is clamped to fire when it runs out
 *   (tcp_clamp_rto_to_user_timeout; 1 ms, Linux's jiffy at HZ=1000, when it
 *   has already passed). Linux takes TCP_RTO_MIN and TCP_RTO_MAX here, which
 *   are our defaults. After close, the orphan budget applies
 *   (tcp_orphan_retries: 8 while the RTO is below rto_max). No RST is sent.
 *   Forward progress (snd_una advancing) resets the expiry count;
 *   retrans_stamp is cleared once all retransmitted data is acknowledged.
 * - Congestion control: NewReno (RFC 6582) on RFC 5681, with cwnd and ssthresh
 *   counted in segments as Linux's snd_cwnd is (RFC's SMSS = 1 segment).
 *   Slow start and congestion avoidance as Linux's tcp_reno_cong_avoid
 *   (tcp_slow_start, tcp_cong_avoid_ai), which grow cwnd only while the flow
 *   is cwnd-limited (tcp_is_cwnd_limited: in slow start while cwnd <
 *   2 x the peak in flight of the last window). Limited transmit (RFC 3042):
 *   one new segment on each of the first two duplicate ACKs. On the third
 *   (if the ACK covers more than recover, RFC 6582 3.2 step 2): ssthresh =
 *   max(FlightSize / 2, 2) without the limited-transmit segments (RFC 5681
 *   3.2 eq. 4), retransmit the oldest segment, cwnd = ssthresh + 3, +1 per
 *   further duplicate; a partial ACK retransmits the next hole, deflates cwnd
 *   by the segments acknowledged and adds one back, and restarts the timer
 *   only the first time (RFC 6582 3.2 step 5, "impatient"); the full ACK
 *   sets cwnd = ssthresh (RFC 6582 step 3 option 2, as Linux ends a
 *   reduction). Linux's default is CUBIC with PRR and SACK; not modelled.
 *   A timeout (RFC 5681 3.1, Linux tcp_enter_loss): ssthresh = max(FlightSize
 *   / 2, 2) unless already reduced in this episode, cwnd = 1, go back to
 *   snd_una and resend in slow start; fast retransmit waits until the ACK
 *   passes the data outstanding at the timeout (recover).
 * - Delayed ACK (delayed_ack > 0): an in-order segment is acknowledged at
 *   once when more than one MSS is then unacknowledged (so every second
 *   full-sized segment; Linux __tcp_ack_snd_check), otherwise when the timer
 *   (delayed_ack after the first unacknowledged segment) fires or when a
 *   segment is sent (every segment carries the ACK). Out-of-order, duplicate
 *   and hole-filling segments and FIN are acknowledged at once (RFC 5681 4.2).
 *   Linux's quick-ACK mode at connection start and its adaptive ATO (40 to
 *   200 ms) are not modelled: the delay is fixed.
 * - Closing: close is close(2) (both directions; the application hears no
 *   more): FIN after the data, FIN_WAIT_1/2, CLOSING, TIME_WAIT (time_wait),
 *   LAST_ACK; FIN_WAIT_2 lasts at most fin_timeout. New data arriving after
 *   close is answered with RST and the end is gone (Linux: RFC 1122 4.2.2.13).
 *   A retransmitted FIN in TIME_WAIT is acknowledged and restarts it.
 * - RST: sent by abort (RST|ACK at snd_max, as tcp_send_active_reset) and by
 *   a stack for a segment of a connection it has no state for (RFC 793
 *   "Reset Generation": seq = SEG.ACK, or seq 0 and ack = SEG.SEQ+SEG.LEN
 *   when the segment had no ACK); never in answer to an RST. An RST is
 *   accepted in a synchronized state only at exactly rcv_nxt; elsewhere in
 *   the window it draws a challenge ACK (RFC 5961 3.2, which the peer's
 *   stack answers with an exact RST); a SYN there draws a challenge ACK
 *   (RFC 5961 4.2; also how a repeated SYN-ACK is answered). Linux's rate
 *   limit on challenge ACKs is not modelled. In SYN_SENT an RST that
 *   acknowledges the SYN means refused.
 * - Sequence checks are simplified: the ACK field of a segment is processed
 *   whatever its sequence number (RFC 793 would drop a pure ACK below
 *   rcv_nxt); segments beyond the receive window are dropped and answered.
 */

#define HDR_BYTES         40              /* IPv4 + TCP headers, no options */
#define TIMEOUT_FALLBACK  SIM_S(3)        /* RFC 6298 5.7, Linux TCP_TIMEOUT_FALLBACK */
#define DUPTHRESH         3               /* RFC 5681 3.2 */
#define JIFFY             SIM_MS(1)       /* Linux "fire ASAP" at HZ = 1000 */
#define ORPHAN_RETRIES_ALIVE 8            /* Linux tcp_orphan_retries() */
#define INF_SSTHRESH      UINT32_MAX
#define CWND_CLAMP        (1u << 24)
#define SEG_BLOCK         256             /* segment records per pool block, at most */
#define SEG_BLOCK_FIRST   8               /* ... and in a path's first (then doubling) */
#define NO_EVENT          (-1)
#define PIECES_MIN_SHIFT  2               /* send-buffer pieces per block: 4 ... */
#define PIECES_MAX_SHIFT  7               /* ... up to 128 (2 KiB) */
#define BYTES_MIN_SHIFT   8               /* send-buffer stored bytes per block: 256 ... */
#define BYTES_MAX_SHIFT   11              /* ... up to 2 KiB */

enum {
    ST_NONE, ST_SYN_SENT, ST_SYN_RCVD, ST_ESTABLISHED, ST_CLOSE_WAIT, ST_FIN_WAIT1,
    ST_FIN_WAIT2, ST_CLOSING, ST_LAST_ACK, ST_TIME_WAIT, ST_DEAD,
};

static const char *const state_name[] = {
    "NONE", "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT_1",
    "FIN_WAIT_2", "CLOSING", "LAST_ACK", "TIME_WAIT", "CLOSED",
};

enum { CA_OPEN, CA_RECOVERY, CA_LOSS };

/* seg.x: facts about a segment that are not TCP flags. */
enum { XF_RTX = 1, XF_NEW_MAPPING = 2, XF_SEQ0 = 4, XF_DOOMED = 8 /* test filter */ };

static const uint8_t zeros[16384];

/* A piece runs from its seq to the next piece's (the last one: to the
 * buffer's end): first its stored bytes, from off up to the next piece's off
 * (the last one: bwritten), then zeros. So it is 16 bytes, and a PUBLISH
 * whose payload is mostly zeros makes one. */
typedef struct {
    uint64_t seq;
    uint64_t off; /* offset of its first stored byte in the stored-byte stream */
} piece;

/* The send buffer: stream [base, end), pieces in a block FIFO, stored bytes in
 * another (so that what holds them follows what is buffered, block by block,
 * and never moves as a whole), whose first byte has stored-stream offset
 * boff. */
typedef struct {
    sim_fifo pc;            /* piece */
    sim_fifo by;            /* stored bytes */
    uint64_t boff, bwritten;
    uint64_t base, end;
} sendbuf;

/* A sent, unacknowledged segment: [previous end (or snd_una), end). */
typedef struct {
    uint64_t end;
    sim_time sent;
    uint8_t rtx; /* this extent was sent before */
} txrec;

typedef struct {
    uint64_t start, end;
} range;

typedef struct conn conn;

struct sim_tcp_end {
    conn *c;
    uint8_t side, state, ca;
    bool attached;         /* the application holds the handle */
    bool app_closed;       /* close() was called: orphan */
    bool ever_established;
    bool fin_queued;       /* our FIN follows the data, at sb.end */
    bool ack_pending;      /* a delayed ACK is owed */
    bool stamp_set;        /* retrans_stamp is valid */
    bool cwnd_limited;     /* Linux tp->is_cwnd_limited */
    bool partial_seen;     /* a partial ACK arrived in this recovery */
    bool peer_fin_known;   /* an out-of-order FIN was seen at peer_fin_seq */
    sim_tcp_app app;
    void *ctx;
    /* sender */
    sendbuf sb;
    uint64_t snd_una, snd_nxt, snd_max;
    txrec *tx;
    size_t txcap, txhead, txn;
    uint32_t cwnd, ssthresh, cwnd_cnt, dupacks, lt_sent, max_packets_out;
    uint64_t max_packets_seq, recover, rtx_high;
    int retransmits, handshake_rtx;
    sim_time retrans_stamp;
    /* RTT estimation */
    sim_time rto;
    int64_t srtt8, mdev4, mdev_max4, rttvar4; /* Linux, in ns */
    uint64_t rtt_seq;
    sim_time srtt, rttvar;                    /* RFC 6298 */
    bool have_rtt;
    /* receiver */
    uint64_t rcv_nxt, rcv_wup, peer_fin_seq;
    range *ooo;
    size_t oon, oocap;
    /* timers */
    sim_time rto_at, delack_at, state_at, timer_at;
    sim_event_id timer_id;
};

struct conn {
    sim_tcp_path *p;
    conn *prev, *next;
    uint32_t id;
    uint32_t refs; /* segments on links + handlers running */
    uint32_t isn[2];
    bool nat_rebound;
    sim_tcp_end e[2];
};

typedef struct seg {
    conn *c;
    uint64_t seq, ack;
    uint32_t len;
    uint8_t flags, from, x;
    struct seg *next; /* free list */
} seg;

struct sim_tcp_path {
    sim_sched *s;
    sim_tcp_params tp;
    sim_link *link[2];
    sim_tcp_stats st[2];
    conn *conns;
    size_t n_conns;
    uint32_t next_id;
    sim_tcp_accept_fn accept;
    void *accept_ctx;
    sim_tcp_tap_fn tap;
    void *tap_ctx;
    bool (*filter)(void *ctx, const sim_tcp_seg_info *seg);
    void *filter_ctx;
    seg *free_segs;
    seg **blocks;
    size_t n_blocks;
    size_t block_size;  /* records in the next block */
    uint8_t *scratch; /* one segment's payload, for the tap and filter (only then) */
    bool failed;
};

/* ---- parameters and names ---- */

void sim_tcp_params_default(sim_tcp_params *p)
{
    *p = (sim_tcp_params){
        .mss = 1460,
        .init_cwnd = 10,
        .rwnd = 6291456,
        .rto_initial = SIM_S(1),
        .rto_min = SIM_MS(200),
        .rto_max = SIM_S(120),
        .syn_retries = 6,
        .synack_retries = 5,
        .retries2 = 15,
        .orphan_retries = 0,
        .user_timeout = 0,
        .delayed_ack = 0,
        .fin_timeout = SIM_S(60),
        .time_wait = SIM_S(60),
        .rto_formula = SIM_TCP_RTO_LINUX,
    };
}

const char *sim_tcp_event_name(sim_tcp_event ev)
{
    switch (ev) {
    case SIM_TCP_EV_ESTABLISHED: return "established";
    case SIM_TCP_EV_PEER_CLOSED: return "peer_closed";
    case SIM_TCP_EV_RESET: return "reset";
    case SIM_TCP_EV_ABORTED: return "aborted";
    case SIM_TCP_EV_REFUSED: return "refused";
    case SIM_TCP_EV_SYN_TIMEOUT: return "syn_timeout";
    }
    return "?";
}

static inline sim_time now_of(const sim_tcp_end *e) { return sim_sched_now(e->c->p->s); }
static inline const sim_tcp_params *tp_of(const sim_tcp_end *e) { return &e->c->p->tp; }
static inline sim_tcp_stats *st_of(sim_tcp_end *e) { return &e->c->p->st[e->side]; }
static inline bool gone(const sim_tcp_end *e) { return e->state == ST_NONE || e->state == ST_DEAD; }

/* ---- rings ---- */

/* Doubles a ring of n elements of sz bytes (capacity a power of two, or 0:
 * then init), unwrapping it so that it starts at index 0. Returns the new
 * array and updates *cap and *head, or returns NULL (out of memory) and
 * leaves everything as it was. O(n). */
static void *ring_grow(void *buf, size_t *cap, size_t *head, size_t n, size_t sz, size_t init)
{
    size_t ncap = *cap ? 2 * *cap : init;
    char *nb = malloc(ncap * sz);
    if (!nb)
        return NULL;
    sim_ring_unwrap(nb, buf, *head, n, *cap, sz);
    free(buf);
    *cap = ncap;
    *head = 0;
    return nb;
}

/* ---- send buffer ---- */

static piece *sb_piece(const sendbuf *b, size_t i) { return sim_fifo_at(&b->pc, i); }

/* Where piece i ends. */
static uint64_t sb_piece_end(const sendbuf *b, size_t i)
{
    return i + 1 < sim_fifo_len(&b->pc) ? sb_piece(b, i + 1)->seq : b->end;
}

/* Where piece i's stored bytes end (its zeros start). */
static uint64_t sb_piece_data_end(const sendbuf *b, size_t i)
{
    uint64_t noff = i + 1 < sim_fifo_len(&b->pc) ? sb_piece(b, i + 1)->off : b->bwritten;
    return sb_piece(b, i)->seq + (noff - sb_piece(b, i)->off);
}

static int sb_push_piece(sendbuf *b, piece p)
{
    piece *q = sim_fifo_push(&b->pc);
    if (!q)
        return -1;
    *q = p;
    return 0;
}

/* Appends len bytes (copied). 0, or -1 when out of memory (nothing changed).
 * O(len). */
static int sb_append(sendbuf *b, const uint8_t *data, size_t len)
{
    if (sim_fifo_reserve(&b->by, len))
        return -1;
    /* A new piece when the last one ends in zeros (or there is none). */
    size_t pn = sim_fifo_len(&b->pc);
    if (!pn || sb_piece_data_end(b, pn - 1) < b->end) {
        if (sb_push_piece(b, (piece){b->end, b->bwritten}))
            return -1;
    }
    (void)sim_fifo_push_n(&b->by, data, len); /* reserved: cannot fail */
    b->bwritten += len;
    b->end += len;
    return 0;
}

/* Appends a run of n zeros: O(1), no storage. */
static int sb_zeros(sendbuf *b, uint64_t n)
{
    /* They end the last piece (or make one of no stored bytes). */
    if (!sim_fifo_len(&b->pc) && sb_push_piece(b, (piece){b->end, b->bwritten}))
        return -1;
    b->end += n;
    return 0;
}

/* Forgets the stream before `to` (to <= end). O(pieces dropped). */
static void sb_trim(sendbuf *b, uint64_t to)
{
    if (to <= b->base)
        return;
    assert(to <= b->end);
    while (sim_fifo_len(&b->pc)) {
        if (sb_piece_end(b, 0) > to)
            break;
        sim_fifo_pop(&b->pc);
    }
    uint64_t need = b->bwritten; /* the first stored byte still held */
    if (sim_fifo_len(&b->pc)) {
        piece *q = sb_piece(b, 0);
        if (q->seq < to) {
            uint64_t d = to - q->seq, stored = sb_piece_data_end(b, 0) - q->seq;
            q->seq = to;
            q->off += d < stored ? d : stored;
        }
        need = q->off;
    }
    b->base = to;
    sim_fifo_pop_n(&b->by, (size_t)(need - b->boff));
    b->boff = need;
}

/* Reads the stream [pos, to) in chunks. */
typedef struct {
    const sendbuf *b;
    size_t i;
    uint64_t pos, to;
} sb_iter;

/* O(log pieces). Asserts that the range is held. */
static void sb_iter_init(sb_iter *it, const sendbuf *b, uint64_t from, uint64_t to)
{
    assert(from >= b->base && to <= b->end && from <= to);
    size_t lo = 0, hi = sim_fifo_len(&b->pc);
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (sb_piece(b, mid)->seq <= from)
            lo = mid;
        else
            hi = mid;
    }
    *it = (sb_iter){b, lo, from, to};
}

/* The next chunk: a pointer into the stored bytes or into `zeros`. */
static bool sb_next(sb_iter *it, const uint8_t **ptr, size_t *len)
{
    if (it->pos >= it->to)
        return false;
    const sendbuf *b = it->b;
    const piece *q = sb_piece(b, it->i);
    uint64_t qend;
    while (it->pos >= (qend = sb_piece_end(b, it->i)))
        q = sb_piece(b, ++it->i);
    uint64_t dend = sb_piece_data_end(b, it->i);
    uint64_t n;
    if (it->pos < dend) {
        size_t run;
        *ptr = sim_fifo_run(&b->by, (size_t)(q->off + (it->pos - q->seq) - b->boff), &run);
        n = dend - it->pos;
        if (n > run)
            n = run; /* up to the end of its block */
    } else {
        n = qend - it->pos;
        if (n > sizeof zeros)
            n = sizeof zeros;
        *ptr = zeros;
    }
    if (n > it->to - it->pos)
        n = it->to - it->pos;
    *len = (size_t)n;
    it->pos += n;
    return true;
}

/* ---- sent-segment queue and out-of-order ranges ---- */

static txrec *tx_at(const sim_tcp_end *e, size_t i) { return &e->tx[(e->txhead + i) & (e->txcap - 1)]; }

static int tx_push(sim_tcp_end *e, txrec r)
{
    if (e->txn == e->txcap) {
        txrec *n = ring_grow(e->tx, &e->txcap, &e->txhead, e->txn, sizeof *n, 16);
        if (!n)
            return -1;
        e->tx = n;
    }
    *tx_at(e, e->txn++) = r;
    return 0;
}

static void tx_pop(sim_tcp_end *e)
{
    e->txhead = (e->txhead + 1) & (e->txcap - 1);
    e->txn--;
}

/* Adds [start, end) to the sorted, disjoint out-of-order ranges, merging.
 * O(ranges). 0, or -1 when out of memory. */
static int ooo_add(sim_tcp_end *e, uint64_t start, uint64_t end)
{
    size_t i = 0;
    while (i < e->oon && e->ooo[i].end < start)
        i++;
    size_t j = i;
    while (j < e->oon && e->ooo[j].start <= end)
        j++;
    range r = {start, end};
    if (j > i) {
        if (e->ooo[i].start < r.start)
            r.start = e->ooo[i].start;
        if (e->ooo[j - 1].end > r.end)
            r.end = e->ooo[j - 1].end;
    } else if (e->oon == e->oocap) {
        size_t ncap = e->oocap ? 2 * e->oocap : 8;
        range *n = realloc(e->ooo, ncap * sizeof *n);
        if (!n)
            return -1;
        e->ooo = n;
        e->oocap = ncap;
    }
    memmove(&e->ooo[i + 1], &e->ooo[j], (e->oon - j) * sizeof *e->ooo);
    e->ooo[i] = r;
    e->oon = e->oon - (j - i) + 1;
    return 0;
}

/* ---- segment pool ---- */

static seg *seg_alloc(sim_tcp_path *p)
{
    if (!p->free_segs) {
        seg **blocks = realloc(p->blocks, (p->n_blocks + 1) * sizeof *blocks);
        if (!blocks)
            return NULL;
        p->blocks = blocks;
        /* A path's pool grows with what it holds in flight: an idle
         * client's connection needs a few records, not 10 KB of them. */
        size_t n = p->block_size ? p->block_size : SEG_BLOCK_FIRST;
        seg *b = malloc(n * sizeof *b);
        if (!b)
            return NULL;
        p->blocks[p->n_blocks++] = b;
        p->block_size = n < SEG_BLOCK ? 2 * n : SEG_BLOCK;
        for (size_t i = n; i-- > 0;) {
            b[i].next = p->free_segs;
            p->free_segs = &b[i];
        }
    }
    seg *s = p->free_segs;
    p->free_segs = s->next;
    return s;
}

static void seg_free(sim_tcp_path *p, seg *s)
{
    s->next = p->free_segs;
    p->free_segs = s;
}

/* ---- connections ---- */

static uint32_t mix32(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return (uint32_t)(x ^ (x >> 31));
}

static void end_init(sim_tcp_end *e, conn *c, int side)
{
    memset(e, 0, sizeof *e);
    e->c = c;
    e->side = (uint8_t)side;
    e->state = ST_NONE;
    e->sb.base = e->sb.end = 1;
    sim_fifo_init(&e->sb.pc, sizeof(piece), PIECES_MIN_SHIFT, PIECES_MAX_SHIFT);
    sim_fifo_init(&e->sb.by, 1, BYTES_MIN_SHIFT, BYTES_MAX_SHIFT);
    e->cwnd = c->p->tp.init_cwnd;
    e->ssthresh = INF_SSTHRESH;
    e->rto = c->p->tp.rto_initial;
    e->rto_at = e->delack_at = e->state_at = e->timer_at = SIM_NEVER;
}

static void end_release(sim_tcp_end *e)
{
    if (e->timer_id)
        sim_sched_cancel(e->c->p->s, e->timer_id);
    e->timer_id = 0;
    sim_fifo_free(&e->sb.pc);
    sim_fifo_free(&e->sb.by);
    free(e->tx);
    free(e->ooo);
}

static conn *conn_new(sim_tcp_path *p)
{
    conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->p = p;
    c->id = ++p->next_id;
    for (int i = 0; i < 2; i++) {
        c->isn[i] = mix32((uint64_t)c->id << 1 | (uint64_t)i);
        end_init(&c->e[i], c, i);
    }
    c->next = p->conns;
    if (p->conns)
        p->conns->prev = c;
    p->conns = c;
    p->n_conns++;
    return c;
}

static void conn_free(conn *c)
{
    sim_tcp_path *p = c->p;
    if (c->prev)
        c->prev->next = c->next;
    else
        p->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    p->n_conns--;
    end_release(&c->e[0]);
    end_release(&c->e[1]);
    free(c);
}

/* Frees the record once both ends are gone and nothing refers to it. */
static void conn_maybe_free(conn *c)
{
    if (c->refs == 0 && gone(&c->e[0]) && gone(&c->e[1]))
        conn_free(c);
}

static void conn_unref(conn *c)
{
    assert(c->refs > 0);
    c->refs--;
    conn_maybe_free(c);
}

/* ---- timers ---- */

static void end_timer_fire(sim_sched *s, void *ctx);

/* (Re)arms the end's one event for its earliest deadline. O(1) unless the
 * deadline moved before the pending event (then O(log n) in the scheduler). */
static void timer_update(sim_tcp_end *e)
{
    sim_time want = e->rto_at;
    if (e->delack_at < want)
        want = e->delack_at;
    if (e->state_at < want)
        want = e->state_at;
    if (want == SIM_NEVER || (e->timer_id && e->timer_at <= want))
        return;
    sim_sched *s = e->c->p->s;
    if (e->timer_id)
        sim_sched_cancel(s, e->timer_id);
    if (want < sim_sched_now(s))
        want = sim_sched_now(s);
    e->timer_id = sim_sched_at(s, want, end_timer_fire, e);
    e->timer_at = e->timer_id ? want : SIM_NEVER;
    if (!e->timer_id)
        e->c->p->failed = true;
}

/* The end is gone: no timers, no more segments of its own, no application.
 * With ev >= 0 the application (if attached) is told. Its buffers stay
 * until the record is freed (segments in flight may still read them). */
static void end_die(sim_tcp_end *e, int ev)
{
    e->state = ST_DEAD;
    if (e->timer_id)
        sim_sched_cancel(e->c->p->s, e->timer_id);
    e->timer_id = 0;
    e->timer_at = e->rto_at = e->delack_at = e->state_at = SIM_NEVER;
    e->ack_pending = false;
    e->oon = 0;
    bool tell = e->attached && ev >= 0 && e->app.on_event;
    e->attached = false;
    if (tell)
        e->app.on_event(e->ctx, e, (sim_tcp_event)ev);
}

/* ---- putting segments on the links ---- */

static void make_info(sim_tcp_path *p, const seg *s, sim_tcp_seg_info *out)
{
    const conn *c = s->c;
    *out = (sim_tcp_seg_info){
        .t = sim_sched_now(p->s),
        .from = (sim_tcp_side)s->from,
        .conn = c->id,
        .new_mapping = s->x & XF_NEW_MAPPING,
        .seq = (s->x & XF_SEQ0) ? 0 : c->isn[s->from] + (uint32_t)s->seq,
        .ack = (s->flags & SIM_TCP_ACK) ? c->isn[!s->from] + (uint32_t)s->ack : 0,
        .flags = s->flags,
        .window = p->tp.rwnd,
        .len = s->len,
        .retransmission = s->x & XF_RTX,
    };
    if (s->len && p->scratch) { /* no scratch: out of memory, and the path failed */
        sb_iter it;
        const uint8_t *ptr;
        size_t n, at = 0;
        sb_iter_init(&it, &c->e[s->from].sb, s->seq, s->seq + s->len);
        while (sb_next(&it, &ptr, &n)) {
            memcpy(p->scratch + at, ptr, n);
            at += n;
        }
        out->payload = p->scratch;
    }
}

/* Puts one segment on side `from`'s link. The per-segment path: a pooled
 * record, the statistics, the link; the tap and filter only when set.
 * 0, or -1 when out of memory (recorded in p->failed). */
static int emit(conn *c, int from, uint64_t seq, uint64_t ack, uint32_t len, uint8_t flags,
                uint8_t x)
{
    sim_tcp_path *p = c->p;
    sim_tcp_stats *st = &p->st[from];
    if (from == SIM_TCP_CLIENT && c->nat_rebound)
        x |= XF_NEW_MAPPING;
    seg *s = seg_alloc(p);
    if (!s) {
        p->failed = true;
        return -1;
    }
    *s = (seg){c, seq, ack, len, flags, (uint8_t)from, x, NULL};
    st->segments++;
    st->ip_bytes += len + HDR_BYTES;
    st->payload_bytes += len;
    st->data_segments += len > 0;
    st->retransmissions += (x & XF_RTX) != 0;
    st->rsts_sent += (flags & SIM_TCP_RST) != 0;
    sim_tcp_seg_info info;
    if (p->tap || p->filter)
        make_info(p, s, &info);
    bool doomed = p->filter && p->filter(p->filter_ctx, &info);
    if (doomed)
        s->x |= XF_DOOMED;
    int rc = sim_link_send(p->link[from], s, len + HDR_BYTES);
    if (rc < 0) {
        seg_free(p, s);
        p->failed = true;
        return -1;
    }
    if (rc == 0) {
        seg_free(p, s);
    } else {
        c->refs++;
    }
    if (rc == 0 || doomed)
        st->segments_lost++;
    if (p->tap) {
        info.lost = rc == 0 || doomed;
        p->tap(p->tap_ctx, &info);
    }
    return 0;
}

/* A segment from an end: with ACK it carries rcv_nxt, which settles any ACK
 * owed. */
static int end_emit(sim_tcp_end *e, uint64_t seq, uint32_t len, uint8_t flags, uint8_t x)
{
    uint64_t ack = 0;
    if (flags & SIM_TCP_ACK) {
        ack = e->rcv_nxt;
        e->ack_pending = false;
        e->delack_at = SIM_NEVER;
        e->rcv_wup = e->rcv_nxt;
    }
    return emit(e->c, e->side, seq, ack, len, flags, x);
}

/* A pure ACK, at snd_max (Linux's snd_nxt never moves back). */
static void send_ack(sim_tcp_end *e)
{
    (void)end_emit(e, e->snd_max, 0, SIM_TCP_ACK, 0);
}

/* The answer of side `side`'s stack to a segment it has no connection for
 * (RFC 793 3.4 "Reset Generation"). Never called for an RST. */
static void reset_reply(conn *c, int side, const seg *in, uint8_t x)
{
    assert(!(in->flags & SIM_TCP_RST));
    if (in->flags & SIM_TCP_ACK) {
        (void)emit(c, side, in->ack, 0, 0, SIM_TCP_RST, x);
    } else {
        uint64_t ack = in->seq + in->len + ((in->flags & SIM_TCP_SYN) != 0) +
                       ((in->flags & SIM_TCP_FIN) != 0);
        (void)emit(c, side, 0, ack, 0, SIM_TCP_RST | SIM_TCP_ACK, x | XF_SEQ0);
    }
}

/*
 * Sends the segment that starts at stream offset seq: the SYN (or SYN-ACK)
 * at 0, else up to mss bytes of the buffer (within the receive window), with
 * FIN when it reaches the end of the data after close. With `head` it
 * resends the oldest unacknowledged segment over exactly its extent (its
 * record is updated in place; no window check); else the segment is queued.
 * Arms the retransmission timer if it is not running. Returns 1 if sent, 0 if
 * there was nothing to send, -1 when out of memory. O(1) (plus the payload
 * copy for a tap).
 */
static int xmit(sim_tcp_end *e, uint64_t seq, bool head)
{
    const sim_tcp_params *tp = tp_of(e);
    uint8_t flags;
    uint32_t len = 0;
    uint64_t end;
    if (seq == 0) {
        flags = SIM_TCP_SYN | (e->side == SIM_TCP_SERVER ? SIM_TCP_ACK : 0);
        end = 1;
    } else {
        uint64_t data_end = e->sb.end;
        uint64_t lim = head ? tx_at(e, 0)->end : UINT64_MAX;
        uint64_t n = data_end > seq ? data_end - seq : 0;
        if (n > tp->mss)
            n = tp->mss;
        if (!head) {
            uint64_t wnd_end = e->snd_una + tp->rwnd;
            if (seq + n > wnd_end)
                n = wnd_end > seq ? wnd_end - seq : 0;
            /* A retransmission carries only bytes sent before: Linux keeps
             * sent data (its retransmission queue, whose small segments it
             * may collapse) apart from data not yet sent, so new bytes go
             * out in segments of their own, after it. */
            if (seq < e->snd_max && seq + n > e->snd_max)
                n = e->snd_max - seq;
        }
        if (seq + n > lim)
            n = lim - seq;
        len = (uint32_t)n;
        flags = SIM_TCP_ACK | (len ? SIM_TCP_PSH : 0);
        if (e->fin_queued && seq + len == data_end && lim > data_end)
            flags |= SIM_TCP_FIN;
        if (len == 0 && !(flags & SIM_TCP_FIN))
            return 0;
        end = seq + len + ((flags & SIM_TCP_FIN) != 0);
    }
    sim_time now = now_of(e);
    bool rtx = seq < e->snd_max;
    if (rtx) {
        if (!e->stamp_set) {
            e->retrans_stamp = head && e->txn ? tx_at(e, 0)->sent : now;
            e->stamp_set = true;
        }
        if (end > e->rtx_high)
            e->rtx_high = end;
        if (seq == 0)
            e->handshake_rtx++;
    }
    if (end_emit(e, seq, len, flags, rtx ? XF_RTX : 0))
        return -1;
    if (head) {
        txrec *r = tx_at(e, 0);
        r->sent = now;
        r->rtx = 1;
    } else if (tx_push(e, (txrec){end, now, rtx})) {
        e->c->p->failed = true;
        return -1;
    }
    if (end > e->snd_nxt)
        e->snd_nxt = end;
    if (end > e->snd_max)
        e->snd_max = end;
    if (e->rto_at == SIM_NEVER)
        e->rto_at = now + e->rto;
    return 1;
}

static bool can_send(const sim_tcp_end *e)
{
    switch (e->state) {
    case ST_ESTABLISHED: case ST_CLOSE_WAIT: case ST_FIN_WAIT1: case ST_CLOSING: case ST_LAST_ACK:
        return true;
    default:
        return false;
    }
}

/* Linux tcp_cwnd_validate: tracks the peak in flight per window and whether
 * the flow was cwnd-limited then. */
static void cwnd_validate(sim_tcp_end *e, bool limited)
{
    if (e->snd_una >= e->max_packets_seq || e->txn > e->max_packets_out || limited) {
        e->max_packets_out = (uint32_t)e->txn;
        e->max_packets_seq = e->snd_nxt;
        e->cwnd_limited = limited;
    }
}

/* Sends what the congestion and receive windows allow (no Nagle: partial
 * segments go at once). O(segments sent). */
static void try_send(sim_tcp_end *e)
{
    if (!can_send(e))
        return;
    const sim_tcp_params *tp = tp_of(e);
    int sent = 0;
    for (;;) {
        uint64_t data_end = e->sb.end;
        bool fin_pending = e->fin_queued && e->snd_nxt <= data_end;
        if (e->snd_nxt >= data_end && !fin_pending)
            break;
        uint32_t limit = e->cwnd;
        if (e->ca == CA_OPEN && e->dupacks > 0 && e->dupacks < DUPTHRESH)
            limit += e->dupacks; /* RFC 3042 limited transmit */
        if (e->txn >= limit)
            break;
        if (e->snd_nxt < data_end && e->snd_nxt >= e->snd_una + tp->rwnd)
            break;
        bool lt = e->txn >= e->cwnd;
        if (xmit(e, e->snd_nxt, false) <= 0)
            break;
        e->lt_sent += lt;
        sent++;
    }
    bool limited = e->txn >= e->cwnd;
    if (sent || limited)
        cwnd_validate(e, limited);
}

/* ---- RTT, RTO and the abort budget ---- */

static void rtt_sample(sim_tcp_end *e, sim_time m)
{
    const sim_tcp_params *tp = tp_of(e);
    if (tp->rto_formula == SIM_TCP_RTO_LINUX) {
        /* Linux tcp_rtt_estimator, in ns instead of us. */
        if (e->srtt8 != 0) {
            int64_t err = m - (e->srtt8 >> 3);
            e->srtt8 += err;
            if (err < 0) {
                err = -err - (e->mdev4 >> 2);
                if (err > 0)
                    err >>= 3; /* a falling RTT moves mdev with gain 1/32 */
            } else {
                err -= e->mdev4 >> 2;
            }
            e->mdev4 += err;
            if (e->mdev4 > e->mdev_max4) {
                e->mdev_max4 = e->mdev4;
                if (e->mdev_max4 > e->rttvar4)
                    e->rttvar4 = e->mdev_max4;
            }
            if (e->snd_una > e->rtt_seq) { /* a window has passed */
                if (e->mdev_max4 < e->rttvar4)
                    e->rttvar4 -= (e->rttvar4 - e->mdev_max4) >> 2;
                e->rtt_seq = e->snd_nxt;
                e->mdev_max4 = tp->rto_min;
            }
        } else {
            e->srtt8 = m << 3;
            e->mdev4 = m << 1; /* RTTVAR = m/2, times 4 */
            e->rttvar4 = e->mdev4 > tp->rto_min ? e->mdev4 : tp->rto_min;
            e->mdev_max4 = e->rttvar4;
            e->rtt_seq = e->snd_nxt;
        }
        if (e->srtt8 < 1)
            e->srtt8 = 1;
        e->rto = (e->srtt8 >> 3) + e->rttvar4;
    } else {
        /* RFC 6298 2.2 and 2.3 (RTTVAR first, with the old SRTT). */
        if (e->have_rtt) {
            sim_time d = e->srtt > m ? e->srtt - m : m - e->srtt;
            e->rttvar = (3 * e->rttvar + d) / 4;
            e->srtt = (7 * e->srtt + m) / 8;
        } else {
            e->srtt = m;
            e->rttvar = m / 2;
            e->have_rtt = true;
        }
        e->rto = e->srtt + 4 * e->rttvar;
        if (e->rto < tp->rto_min)
            e->rto = tp->rto_min;
    }
    if (e->rto > tp->rto_max)
        e->rto = tp->rto_max;
}

static int ilog2_64(uint64_t x)
{
    return 63 - __builtin_clzll(x);
}

/* Linux tcp_model_timeout: the time `boundary` backed-off retransmissions
 * take from an RTO of rto_min, linear once they reach rto_max. */
static sim_time model_timeout(const sim_tcp_params *tp, int boundary)
{
    sim_time base = tp->rto_min;
    int thresh = ilog2_64((uint64_t)(tp->rto_max / base));
    if (boundary <= thresh)
        return ((INT64_C(2) << boundary) - 1) * base;
    return ((INT64_C(2) << thresh) - 1) * base + (sim_time)(boundary - thresh) * tp->rto_max;
}

/* Linux retransmits_timed_out. */
static bool timed_out(const sim_tcp_end *e, int boundary, sim_time user_timeout)
{
    if (e->retransmits == 0)
        return false;
    assert(e->stamp_set);
    sim_time budget = user_timeout ? user_timeout : model_timeout(tp_of(e), boundary);
    return now_of(e) - e->retrans_stamp >= budget;
}

/* Linux tcp_clamp_rto_to_user_timeout. */
static sim_time clamp_to_user_timeout(const sim_tcp_end *e)
{
    sim_time ut = tp_of(e)->user_timeout;
    if (!ut)
        return e->rto;
    sim_time remaining = ut - (now_of(e) - e->retrans_stamp);
    if (remaining <= 0)
        return JIFFY;
    return remaining < e->rto ? remaining : e->rto;
}

/* Linux tcp_write_timeout: true if the end gave up (and is gone). */
static bool write_timeout(sim_tcp_end *e)
{
    const sim_tcp_params *tp = tp_of(e);
    if (e->state == ST_SYN_SENT) {
        if (e->retransmits < tp->syn_retries)
            return false;
        end_die(e, SIM_TCP_EV_SYN_TIMEOUT);
        return true;
    }
    if (e->state == ST_SYN_RCVD) {
        if (e->retransmits < tp->synack_retries)
            return false;
        end_die(e, NO_EVENT); /* a half-open handshake the application never saw */
        return true;
    }
    int limit = tp->retries2;
    if (e->app_closed) {
        limit = tp->orphan_retries;
        if (limit == 0 && e->rto < tp->rto_max)
            limit = ORPHAN_RETRIES_ALIVE;
    }
    if (!timed_out(e, limit, tp->user_timeout))
        return false;
    end_die(e, e->app_closed ? NO_EVENT : SIM_TCP_EV_ABORTED);
    return true;
}

/* The retransmission timer expired (RFC 6298 5.4-5.6, Linux
 * tcp_retransmit_timer). */
static void on_rto(sim_tcp_end *e)
{
    if (e->txn == 0)
        return;
    st_of(e)->rto_expiries++;
    if (write_timeout(e))
        return;
    if (e->state != ST_SYN_SENT && e->state != ST_SYN_RCVD) {
        /* Linux tcp_enter_loss: ssthresh is cut once per episode. */
        if (e->ca == CA_OPEN || e->snd_una > e->recover || (e->ca == CA_LOSS && e->retransmits == 0)) {
            uint32_t half = (uint32_t)(e->txn / 2);
            e->ssthresh = half > 2 ? half : 2;
        }
        e->cwnd = 1;
        e->cwnd_cnt = 0;
        e->ca = CA_LOSS;
        e->recover = e->snd_max - 1;
        e->dupacks = 0;
        e->lt_sent = 0;
    }
    if (!e->stamp_set) {
        e->retrans_stamp = tx_at(e, 0)->sent;
        e->stamp_set = true;
    }
    /* Go back to snd_una: what was sent after it is resent as the window
     * reopens (or skipped if an ACK shows it arrived). */
    e->txn = 0;
    e->txhead = 0;
    e->snd_nxt = e->snd_una;
    (void)xmit(e, e->snd_una, false);
    e->retransmits++;
    e->rto = e->rto < tp_of(e)->rto_max / 2 ? 2 * e->rto : tp_of(e)->rto_max;
    e->rto_at = now_of(e) + clamp_to_user_timeout(e);
}

/* ---- congestion control ---- */

/* Linux tcp_is_cwnd_limited. */
static bool is_cwnd_limited(const sim_tcp_end *e)
{
    if (e->cwnd < e->ssthresh)
        return e->cwnd < 2 * e->max_packets_out;
    return e->cwnd_limited;
}

/* Linux tcp_reno_cong_avoid: slow start, then +1 per cwnd segments acked. */
static void cong_avoid(sim_tcp_end *e, uint32_t acked)
{
    if (!is_cwnd_limited(e) || e->cwnd >= CWND_CLAMP)
        return;
    if (e->cwnd < e->ssthresh) {
        uint64_t c = (uint64_t)e->cwnd + acked;
        if (c > e->ssthresh)
            c = e->ssthresh;
        acked -= (uint32_t)(c - e->cwnd);
        e->cwnd = (uint32_t)c;
        if (!acked)
            return;
    }
    if (e->cwnd_cnt >= e->cwnd) {
        e->cwnd_cnt = 0;
        e->cwnd++;
    }
    e->cwnd_cnt += acked;
    if (e->cwnd_cnt >= e->cwnd) {
        uint32_t delta = e->cwnd_cnt / e->cwnd;
        e->cwnd_cnt -= delta * e->cwnd;
        e->cwnd += delta;
    }
}

/* Third duplicate ACK (RFC 5681 3.2 steps 2-3, RFC 6582 3.2 step 2). */
static void enter_fast_retransmit(sim_tcp_end *e)
{
    uint32_t flight = (uint32_t)e->txn - e->lt_sent;
    e->ssthresh = flight / 2 > 2 ? flight / 2 : 2;
    e->recover = e->snd_max - 1;
    e->ca = CA_RECOVERY;
    e->partial_seen = false;
    st_of(e)->fast_retransmits++;
    (void)xmit(e, e->snd_una, true);
    e->cwnd = e->ssthresh + DUPTHRESH;
}

static void on_dupack(sim_tcp_end *e)
{
    switch (e->ca) {
    case CA_OPEN:
        e->dupacks++;
        if (e->dupacks == DUPTHRESH && e->snd_una > e->recover)
            enter_fast_retransmit(e);
        break;
    case CA_RECOVERY:
        if (e->cwnd < CWND_CLAMP)
            e->cwnd++; /* RFC 5681 3.2 step 4: inflation */
        break;
    default:
        break;
    }
}

static void fin_acked(sim_tcp_end *e)
{
    const sim_tcp_params *tp = tp_of(e);
    switch (e->state) {
    case ST_FIN_WAIT1:
        e->state = ST_FIN_WAIT2;
        e->state_at = now_of(e) + tp->fin_timeout;
        break;
    case ST_CLOSING:
        e->state = ST_TIME_WAIT;
        e->state_at = now_of(e) + tp->time_wait;
        break;
    case ST_LAST_ACK:
        end_die(e, NO_EVENT);
        break;
    default:
        break;
    }
}

/* Processes the ACK field of a segment in a synchronized state. O(1) in the
 * common case (plus the records it frees). */
static void on_ack(sim_tcp_end *e, const seg *s)
{
    uint64_t a = s->ack;
    if (a > e->snd_max || a < e->snd_una)
        return;
    if (a == e->snd_una) {
        /* RFC 5681 section 2: a duplicate ACK carries no data, SYN or FIN and
         * arrives while data is outstanding (the window never changes here). */
        if (e->snd_una < e->snd_max && s->len == 0 && !(s->flags & (SIM_TCP_SYN | SIM_TCP_FIN)))
            on_dupack(e);
        return;
    }
    sim_time now = now_of(e);
    uint32_t acked = 0;
    bool rtx_acked = false;
    sim_time first = -1;
    while (e->txn && tx_at(e, 0)->end <= a) {
        txrec *r = tx_at(e, 0);
        if (r->rtx)
            rtx_acked = true;
        else if (first < 0)
            first = r->sent;
        tx_pop(e);
        acked++;
    }
    e->snd_una = a;
    if (e->snd_nxt < a)
        e->snd_nxt = a;
    sb_trim(&e->sb, a < e->sb.end ? a : e->sb.end);
    e->retransmits = 0;
    if (first >= 0 && !rtx_acked)
        rtt_sample(e, now - first);
    if (e->stamp_set && a >= e->rtx_high)
        e->stamp_set = false;
    bool rearm = true;
    switch (e->ca) {
    case CA_OPEN:
        cong_avoid(e, acked);
        break;
    case CA_LOSS:
        cong_avoid(e, acked);
        if (a > e->recover)
            e->ca = CA_OPEN;
        break;
    case CA_RECOVERY:
        if (a > e->recover) { /* full ACK */
            e->cwnd = e->ssthresh;
            e->ca = CA_OPEN;
        } else { /* partial ACK: the next hole */
            if (e->txn)
                (void)xmit(e, e->snd_una, true);
            e->cwnd = (e->cwnd > acked ? e->cwnd - acked : 0) + (acked ? 1 : 0);
            if (e->cwnd < 1)
                e->cwnd = 1;
            rearm = !e->partial_seen;
            e->partial_seen = true;
        }
        break;
    }
    e->dupacks = 0;
    e->lt_sent = 0;
    if (e->txn == 0)
        e->rto_at = SIM_NEVER;
    else if (rearm)
        e->rto_at = now + e->rto;
    if (e->fin_queued && a == e->sb.end + 1)
        fin_acked(e);
}

/* ---- the receiving side ---- */

/* Hands [from, to) of the peer's stream to the application, in chunks, as
 * long as it stays attached. */
static void deliver(sim_tcp_end *e, uint64_t from, uint64_t to)
{
    if (from >= to || !e->attached)
        return;
    sim_tcp_stats *st = st_of(e);
    sb_iter it;
    const uint8_t *ptr;
    size_t n;
    sb_iter_init(&it, &e->c->e[!e->side].sb, from, to);
    while (e->attached && sb_next(&it, &ptr, &n)) {
        st->bytes_delivered += n;
        if (e->app.on_data)
            e->app.on_data(e->ctx, e, ptr, n);
    }
}

static void peer_fin(sim_tcp_end *e)
{
    switch (e->state) {
    case ST_ESTABLISHED:
        e->state = ST_CLOSE_WAIT;
        if (e->attached && e->app.on_event)
            e->app.on_event(e->ctx, e, SIM_TCP_EV_PEER_CLOSED);
        break;
    case ST_FIN_WAIT1:
        e->state = ST_CLOSING;
        break;
    case ST_FIN_WAIT2:
        e->state = ST_TIME_WAIT;
        e->state_at = now_of(e) + tp_of(e)->time_wait;
        break;
    default:
        break;
    }
}

/* Processes the data and FIN of a segment in a synchronized state. */
static void on_data(sim_tcp_end *e, const seg *s)
{
    const sim_tcp_params *tp = tp_of(e);
    bool fin = s->flags & SIM_TCP_FIN;
    if (s->len == 0 && !fin)
        return;
    uint64_t seq = s->seq, dend = seq + s->len;
    if (dend + fin <= e->rcv_nxt) { /* all old: a duplicate */
        send_ack(e);
        return;
    }
    if (seq >= e->rcv_nxt + tp->rwnd) {
        send_ack(e);
        return;
    }
    if (e->app_closed && s->len && dend > e->rcv_nxt) {
        /* New data for a closed socket: Linux answers RST (seq = SEG.ACK)
         * and drops the connection (RFC 1122 4.2.2.13). */
        (void)emit(e->c, e->side, s->ack, 0, 0, SIM_TCP_RST, 0);
        end_die(e, NO_EVENT);
        return;
    }
    if (seq > e->rcv_nxt) { /* out of order: keep the range, ACK at once */
        if (s->len && ooo_add(e, seq, dend))
            e->c->p->failed = true;
        if (fin) {
            e->peer_fin_known = true;
            e->peer_fin_seq = dend;
        }
        send_ack(e);
        return;
    }
    bool had_hole = e->oon > 0;
    uint64_t nxt = dend;
    size_t k = 0;
    while (k < e->oon && e->ooo[k].start <= nxt) {
        if (e->ooo[k].end > nxt)
            nxt = e->ooo[k].end;
        k++;
    }
    if (k) {
        memmove(e->ooo, &e->ooo[k], (e->oon - k) * sizeof *e->ooo);
        e->oon -= k;
    }
    bool fin_now = (fin && dend == nxt) || (e->peer_fin_known && e->peer_fin_seq == nxt);
    uint64_t from = e->rcv_nxt;
    e->rcv_nxt = nxt + fin_now;
    if (tp->delayed_ack == 0 || had_hole || e->oon || fin_now || e->rcv_nxt - e->rcv_wup > tp->mss) {
        send_ack(e);
    } else {
        e->ack_pending = true;
        if (e->delack_at == SIM_NEVER)
            e->delack_at = now_of(e) + tp->delayed_ack;
    }
    deliver(e, from, nxt);
    if (fin_now && !gone(e))
        peer_fin(e);
}

/* ---- input by state ---- */

/* The handshake segment (SYN or SYN-ACK) was acknowledged. */
static void ack_handshake(sim_tcp_end *e)
{
    txrec r = *tx_at(e, 0);
    tx_pop(e);
    e->snd_una = 1;
    if (e->snd_nxt < 1)
        e->snd_nxt = 1;
    e->retransmits = 0;
    e->stamp_set = false;
    e->rto_at = SIM_NEVER;
    if (!r.rtx) {
        rtt_sample(e, now_of(e) - r.sent);
    } else { /* RFC 6298 5.7 */
        e->rto = TIMEOUT_FALLBACK;
        e->rttvar4 = e->mdev4 = e->mdev_max4 = TIMEOUT_FALLBACK;
    }
}

static void establish(sim_tcp_end *e)
{
    e->state = ST_ESTABLISHED;
    e->ever_established = true;
    e->cwnd = e->handshake_rtx > 1 ? 1 : tp_of(e)->init_cwnd;
    e->ssthresh = INF_SSTHRESH;
    e->ca = CA_OPEN;
    e->recover = 0; /* RFC 6582: the ISS */
}

static void input_syn_sent(sim_tcp_end *e, const seg *s)
{
    if (s->flags & SIM_TCP_RST) {
        if ((s->flags & SIM_TCP_ACK) && s->ack == 1)
            end_die(e, SIM_TCP_EV_REFUSED);
        return;
    }
    if ((s->flags & (SIM_TCP_SYN | SIM_TCP_ACK)) != (SIM_TCP_SYN | SIM_TCP_ACK))
        return; /* simultaneous open is not modelled */
    if (s->ack != 1) {
        reset_reply(e->c, e->side, s, 0);
        return;
    }
    ack_handshake(e);
    e->rcv_nxt = e->rcv_wup = s->seq + 1;
    establish(e);
    send_ack(e);
    if (e->attached && e->app.on_event)
        e->app.on_event(e->ctx, e, SIM_TCP_EV_ESTABLISHED);
}

static void input_sync(sim_tcp_end *e, const seg *s);

static void input_syn_rcvd(sim_tcp_end *e, const seg *s)
{
    sim_tcp_path *p = e->c->p;
    if (s->flags & SIM_TCP_RST) {
        if (s->seq == e->rcv_nxt)
            end_die(e, NO_EVENT);
        return;
    }
    if (s->flags & SIM_TCP_SYN) {
        if (!(s->flags & SIM_TCP_ACK) && s->seq == 0 && e->txn)
            (void)xmit(e, 0, true); /* the SYN again: so is the SYN-ACK */
        return;
    }
    if (!(s->flags & SIM_TCP_ACK))
        return;
    if (s->ack != 1) {
        reset_reply(e->c, e->side, s, 0);
        return;
    }
    ack_handshake(e);
    establish(e);
    assert(p->accept);
    p->accept(p->accept_ctx, e);
    assert(e->attached || e->app_closed || gone(e));
    if (gone(e))
        return;
    on_data(e, s);
    if (!gone(e))
        try_send(e);
}

static void input_sync(sim_tcp_end *e, const seg *s)
{
    const sim_tcp_params *tp = tp_of(e);
    if (s->flags & SIM_TCP_RST) {
        if (s->seq == e->rcv_nxt)
            end_die(e, e->state == ST_TIME_WAIT || e->app_closed ? NO_EVENT : SIM_TCP_EV_RESET);
        else if (s->seq > e->rcv_nxt && s->seq < e->rcv_nxt + tp->rwnd)
            send_ack(e); /* RFC 5961 3.2 challenge ACK */
        return;
    }
    if (s->flags & SIM_TCP_SYN) {
        send_ack(e); /* RFC 5961 4.2 */
        return;
    }
    if (e->state == ST_TIME_WAIT) {
        if (s->flags & SIM_TCP_FIN)
            e->state_at = now_of(e) + tp->time_wait;
        send_ack(e);
        return;
    }
    if (!(s->flags & SIM_TCP_ACK))
        return;
    on_ack(e, s);
    if (gone(e))
        return;
    on_data(e, s);
    if (!gone(e))
        try_send(e);
}

/* A SYN reached the server side of a connection that has no server end
 * (or only a dead half-open one) while listening. */
static void listen_syn(conn *c, const seg *s)
{
    sim_tcp_end *e = &c->e[SIM_TCP_SERVER];
    end_release(e);
    end_init(e, c, SIM_TCP_SERVER);
    e->state = ST_SYN_RCVD;
    e->rcv_nxt = e->rcv_wup = s->seq + 1;
    (void)xmit(e, 0, false);
}

/* A frame arrived at the far end of a link. */
static void on_arrive(void *ctx, void *frame, size_t bytes)
{
    (void)bytes;
    sim_tcp_path *p = ctx;
    seg *fs = frame;
    seg s = *fs;
    seg_free(p, fs);
    conn *c = s.c; /* the frame's reference is held until the end */
    if (s.x & XF_DOOMED)
        goto out;
    if (c->nat_rebound) {
        if (s.from == SIM_TCP_CLIENT) { /* an unknown flow at the server */
            if (!(s.flags & SIM_TCP_RST))
                reset_reply(c, SIM_TCP_SERVER, &s, XF_NEW_MAPPING);
            goto out;
        }
        if (!(s.x & XF_NEW_MAPPING)) { /* to the forgotten mapping */
            p->st[SIM_TCP_SERVER].nat_dropped++;
            goto out;
        }
    }
    sim_tcp_end *e = &c->e[!s.from];
    switch (e->state) {
    case ST_NONE:
    case ST_DEAD:
        if (e->side == SIM_TCP_SERVER && p->accept && !e->ever_established &&
            (s.flags & (SIM_TCP_SYN | SIM_TCP_ACK | SIM_TCP_RST)) == SIM_TCP_SYN)
            listen_syn(c, &s);
        else if (!(s.flags & SIM_TCP_RST))
            reset_reply(c, e->side, &s, 0);
        break;
    case ST_SYN_SENT:
        input_syn_sent(e, &s);
        break;
    case ST_SYN_RCVD:
        input_syn_rcvd(e, &s);
        break;
    default:
        input_sync(e, &s);
        break;
    }
    if (!gone(e))
        timer_update(e);
out:
    conn_unref(c);
}

static void end_timer_fire(sim_sched *s, void *ctx)
{
    sim_tcp_end *e = ctx;
    conn *c = e->c;
    sim_time now = sim_sched_now(s);
    e->timer_id = 0;
    e->timer_at = SIM_NEVER;
    c->refs++;
    if (e->rto_at <= now) {
        e->rto_at = SIM_NEVER;
        on_rto(e);
    }
    if (!gone(e) && e->delack_at <= now) {
        e->delack_at = SIM_NEVER;
        if (e->ack_pending)
            send_ack(e);
    }
    if (!gone(e) && e->state_at <= now) { /* TIME_WAIT or FIN_WAIT_2 ran out */
        e->state_at = SIM_NEVER;
        end_die(e, NO_EVENT);
    }
    if (!gone(e))
        timer_update(e);
    conn_unref(c);
}

/* ---- the path ---- */

static sim_tcp_path *path_new(sim_sched *s, const sim_tcp_params *tp, bool shared,
                              const sim_link_params *up, gsl_rng *rng_up,
                              const sim_link_params *down, gsl_rng *rng_down)
{
    assert(s && tp && up && down && rng_up && rng_down);
    assert(tp->mss > 0 && tp->init_cwnd > 0 && tp->rwnd >= tp->mss);
    assert(tp->rto_min > 0 && tp->rto_min <= tp->rto_max && tp->rto_initial > 0);
    sim_tcp_path *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->s = s;
    p->tp = *tp;
    sim_link *(*link_new)(sim_sched *, const sim_link_params *, gsl_rng *,
                          sim_link_deliver_fn, void *) =
        shared ? sim_link_new_shared : sim_link_new;
    p->link[SIM_TCP_CLIENT] = link_new(s, up, rng_up, on_arrive, p);
    p->link[SIM_TCP_SERVER] = link_new(s, down, rng_down, on_arrive, p);
    if (!p->link[0] || !p->link[1]) {
        sim_tcp_path_free(p);
        return NULL;
    }
    return p;
}

sim_tcp_path *sim_tcp_path_new(sim_sched *s, const sim_tcp_params *tp,
                               const sim_link_params *up, gsl_rng *rng_up,
                               const sim_link_params *down, gsl_rng *rng_down)
{
    return path_new(s, tp, false, up, rng_up, down, rng_down);
}

sim_tcp_path *sim_tcp_path_new_shared(sim_sched *s, const sim_tcp_params *tp,
                                      const sim_link_params *up, gsl_rng *rng_up,
                                      const sim_link_params *down, gsl_rng *rng_down)
{
    return path_new(s, tp, true, up, rng_up, down, rng_down);
}

void sim_tcp_path_free(sim_tcp_path *p)
{
    if (!p)
        return;
    for (int i = 0; i < 2; i++)
        if (p->link[i])
            sim_link_release(p->link[i], NULL, NULL); /* the records go with the pool */
    while (p->conns)
        conn_free(p->conns);
    for (int i = 0; i < 2; i++)
        sim_link_free(p->link[i]);
    for (size_t i = 0; i < p->n_blocks; i++)
        free(p->blocks[i]);
    free(p->blocks);
    free(p->scratch);
    free(p);
}

sim_link *sim_tcp_path_link(sim_tcp_path *p, sim_tcp_side from) { return p->link[from]; }

const sim_tcp_stats *sim_tcp_path_stats(const sim_tcp_path *p, sim_tcp_side from)
{
    return &p->st[from];
}

/* The tap and the filter read each segment's payload from one scratch
 * buffer, allocated when either is first set (a path without them, every
 * one of a fleet, does without its MSS bytes). Out of memory fails the
 * path. */
static void want_scratch(sim_tcp_path *p)
{
    if (!p->scratch && !(p->scratch = malloc(p->tp.mss)))
        p->failed = true;
}

void sim_tcp_path_set_tap(sim_tcp_path *p, sim_tcp_tap_fn fn, void *ctx)
{
    p->tap = fn;
    p->tap_ctx = ctx;
    want_scratch(p);
}

void sim_tcp_test_set_filter(sim_tcp_path *p, bool (*fn)(void *ctx, const sim_tcp_seg_info *seg),
                             void *ctx)
{
    p->filter = fn;
    p->filter_ctx = ctx;
    want_scratch(p);
}

bool sim_tcp_path_failed(const sim_tcp_path *p) { return p->failed; }

size_t sim_tcp_path_conns(const sim_tcp_path *p) { return p->n_conns; }

size_t sim_tcp_path_bytes(const sim_tcp_path *p)
{
    size_t recs = 0; /* the blocks' sizes: SEG_BLOCK_FIRST, doubling, then SEG_BLOCK each */
    for (size_t i = 0, b = SEG_BLOCK_FIRST; i < p->n_blocks; i++, b = b < SEG_BLOCK ? 2 * b : b)
        recs += b;
    size_t n = sizeof *p + (p->scratch ? p->tp.mss : 0) + recs * sizeof(seg) +
               p->n_blocks * sizeof(seg *);
    for (const conn *c = p->conns; c; c = c->next) {
        n += sizeof *c;
        for (int i = 0; i < 2; i++) {
            const sim_tcp_end *e = &c->e[i];
            n += sim_fifo_bytes(&e->sb.pc) + sim_fifo_bytes(&e->sb.by) + e->txcap * sizeof(txrec) +
                 e->oocap * sizeof(range);
        }
    }
    return n;
}

void sim_tcp_listen(sim_tcp_path *p, sim_tcp_accept_fn fn, void *ctx)
{
    p->accept = fn;
    p->accept_ctx = ctx;
    if (fn)
        return;
    /* The listener's queue of half-open handshakes goes with it. */
    conn *next;
    for (conn *c = p->conns; c; c = next) {
        next = c->next;
        if (c->e[SIM_TCP_SERVER].state == ST_SYN_RCVD) {
            end_die(&c->e[SIM_TCP_SERVER], NO_EVENT);
            conn_maybe_free(c);
        }
    }
}

/* ---- the application's calls ---- */

sim_tcp_end *sim_tcp_connect(sim_tcp_path *p, const sim_tcp_app *app, void *ctx)
{
    assert(app);
    conn *c = conn_new(p);
    if (!c)
        return NULL;
    sim_tcp_end *e = &c->e[SIM_TCP_CLIENT];
    e->state = ST_SYN_SENT;
    e->attached = true;
    e->app = *app;
    e->ctx = ctx;
    if (xmit(e, 0, false) < 0) {
        e->attached = false;
        end_die(e, NO_EVENT);
        conn_maybe_free(c);
        return NULL;
    }
    timer_update(e);
    return e;
}

void sim_tcp_set_app(sim_tcp_end *e, const sim_tcp_app *app, void *ctx)
{
    assert(app && !gone(e) && !e->app_closed);
    e->attached = true;
    e->app = *app;
    e->ctx = ctx;
}

static bool writable(const sim_tcp_end *e)
{
    return e->attached && (e->state == ST_ESTABLISHED || e->state == ST_CLOSE_WAIT);
}

int sim_tcp_write(sim_tcp_end *e, const void *buf, size_t len)
{
    if (!writable(e))
        return SIM_TCP_ESTATE;
    if (len == 0)
        return 0;
    if (sb_append(&e->sb, buf, len))
        return SIM_TCP_ENOMEM;
    st_of(e)->bytes_written += len;
    try_send(e);
    timer_update(e);
    return 0;
}

int sim_tcp_write_zeros(sim_tcp_end *e, uint64_t n)
{
    if (!writable(e))
        return SIM_TCP_ESTATE;
    if (n == 0)
        return 0;
    if (sb_zeros(&e->sb, n))
        return SIM_TCP_ENOMEM;
    st_of(e)->bytes_written += n;
    try_send(e);
    timer_update(e);
    return 0;
}

int sim_tcp_write_with_zeros(sim_tcp_end *e, const void *buf, size_t len, uint64_t n)
{
    if (!writable(e))
        return SIM_TCP_ESTATE;
    if (len && sb_append(&e->sb, buf, len))
        return SIM_TCP_ENOMEM;
    st_of(e)->bytes_written += len;
    if (n && sb_zeros(&e->sb, n)) {
        /* The bytes are queued: send them, and report the failure. */
        try_send(e);
        timer_update(e);
        return SIM_TCP_ENOMEM;
    }
    st_of(e)->bytes_written += n;
    if (len + n == 0)
        return 0;
    try_send(e);
    timer_update(e);
    return 0;
}

void sim_tcp_close(sim_tcp_end *e)
{
    if (gone(e) || e->app_closed)
        return;
    e->attached = false;
    e->app_closed = true;
    switch (e->state) {
    case ST_SYN_SENT:
    case ST_SYN_RCVD:
        end_die(e, NO_EVENT);
        conn_maybe_free(e->c);
        return;
    case ST_ESTABLISHED:
        e->state = ST_FIN_WAIT1;
        break;
    case ST_CLOSE_WAIT:
        e->state = ST_LAST_ACK;
        break;
    default:
        break;
    }
    e->fin_queued = true;
    try_send(e);
    timer_update(e);
}

void sim_tcp_abort(sim_tcp_end *e)
{
    if (gone(e))
        return;
    if (e->state != ST_SYN_SENT && e->state != ST_SYN_RCVD && e->state != ST_TIME_WAIT)
        (void)emit(e->c, e->side, e->snd_max, e->rcv_nxt, 0, SIM_TCP_RST | SIM_TCP_ACK, 0);
    e->attached = false;
    end_die(e, NO_EVENT);
    conn_maybe_free(e->c);
}

void sim_tcp_vanish(sim_tcp_end *e)
{
    if (gone(e))
        return;
    e->attached = false;
    end_die(e, NO_EVENT);
    conn_maybe_free(e->c);
}

void sim_tcp_nat_rebind(sim_tcp_end *e) { e->c->nat_rebound = true; }

uint32_t sim_tcp_conn_id(const sim_tcp_end *e) { return e->c->id; }
sim_tcp_side sim_tcp_end_side(const sim_tcp_end *e) { return (sim_tcp_side)e->side; }
sim_tcp_path *sim_tcp_end_path(const sim_tcp_end *e) { return e->c->p; }

uint64_t sim_tcp_unacked(const sim_tcp_end *e)
{
    uint64_t una = e->snd_una > 1 ? e->snd_una : 1;
    return e->sb.end > una ? e->sb.end - una : 0;
}

uint64_t sim_tcp_unsent(const sim_tcp_end *e)
{
    uint64_t sent = e->snd_max > 1 ? e->snd_max : 1;
    return e->sb.end > sent ? e->sb.end - sent : 0;
}

size_t sim_tcp_stored(const sim_tcp_end *e) { return sim_fifo_len(&e->sb.by); }

void sim_tcp_get_info(const sim_tcp_end *e, sim_tcp_info *out)
{
    bool linux_rto = tp_of(e)->rto_formula == SIM_TCP_RTO_LINUX;
    *out = (sim_tcp_info){
        .state = state_name[e->state],
        .cwnd = e->cwnd,
        .ssthresh = e->ssthresh,
        .packets_out = (uint32_t)e->txn,
        .srtt = linux_rto ? e->srtt8 >> 3 : e->srtt,
        .rttvar = linux_rto ? e->rttvar4 : e->rttvar,
        .rto = e->rto,
        .retransmits = e->retransmits,
        .in_recovery = e->ca == CA_RECOVERY,
        .in_loss = e->ca == CA_LOSS,
        .snd_una = e->snd_una,
        .snd_nxt = e->snd_nxt,
        .rcv_nxt = e->rcv_nxt,
    };
}
