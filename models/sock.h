/* The real-socket host: the unchanged engine's client and broker over non-blocking TCP, poll and CLOCK_MONOTONIC. */
#ifndef MQ_SOCK_H
#define MQ_SOCK_H

/*
 * This host does for real sockets what net.c does for the simulator, and
 * nothing more (STYLE.md 15): it turns the engine's actions into socket
 * calls and timers, and what the sockets and the clock say back into engine
 * inputs. Every protocol decision stays in the engine.
 *
 *   engine                      host
 *   io->send(bytes, zeros)  ->  sendmsg(MSG_NOSIGNAL) of the bytes and the zero
 *                               run (iovecs on one static zero buffer); what
 *                               the socket does not take waits in a queue,
 *                               zero runs as counts, sent on POLLOUT
 *   io->timer(at)           ->  a deadline in a binary min-heap, CLOCK_MONOTONIC
 *   io->open (client)       ->  a non-blocking connect; established:
 *                               mq_session_on_up; failed: on_down(REFUSED, or
 *                               TIMEOUT for ETIMEDOUT)
 *   io->close               ->  the context is forgotten at once; the socket
 *                               sends what is queued, then FIN, reads until the
 *                               peer's FIN (at most MQ_SOCK_LINGER), closes
 *   recv                    ->  mq_session_on_bytes / mq_broker_conn_bytes
 *   EOF / ECONNRESET, EPIPE /   on_down(FIN / RST / ABORT)
 *   ETIMEDOUT and the rest
 *
 * The engine never learns of a socket error inside one of its own callbacks
 * (a failed write during send, a connect refused at once during open): the
 * host notes it and reports it from the loop, as the engine's contract asks.
 * Sockets get TCP_NODELAY (MQTT packets are small and latency is measured).
 *
 * Time is CLOCK_MONOTONIC in ns: the same clock for every process on one
 * machine (network namespaces share it), so a publish time written into a
 * payload by one process can be subtracted from a delivery time read in
 * another on the same machine; across machines it means nothing.
 *
 * Single-threaded. No callback may free the loop, a client or a broker.
 */

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "models/broker.h"
#include "models/session.h"

/* How long a closed connection may take to send what it had queued and see
 * the peer's FIN before its socket is closed regardless. */
#define MQ_SOCK_LINGER INT64_C(2000000000)

/* The most bytes (zero runs included) one connection may have queued for
 * the socket; beyond that the peer is not reading and the connection is
 * aborted (MQ_DOWN_ABORT, ENOBUFS), as a kernel would give up on it. */
#define MQ_SOCK_QUEUE_MAX ((uint64_t)64 << 20)

typedef struct mq_sock mq_sock;
typedef struct mq_sock_timer mq_sock_timer;
typedef struct mq_sock_client mq_sock_client;
typedef struct mq_sock_broker mq_sock_broker;

/* A resolved socket address, and how it was written ("127.0.0.1:1883",
 * "[::1]:1883"). */
typedef struct {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[80];
} mq_sock_addr;

/* Parses "[HOST:]PORT" ("1883", "127.0.0.1:1883", "localhost:1883",
 * "[::1]:1883"); default_host stands for a missing HOST. The host is
 * resolved with getaddrinfo (the first TCP address). Port 0 is accepted
 * (listen: any free port). Returns 0, or -1 with a message in err (a bad
 * port, an unknown host). */
int mq_sock_resolve(const char *spec, const char *default_host, mq_sock_addr *out, char *err,
                    size_t errlen);

/* ---- the loop ------------------------------------------------------------- */

/* Returns NULL when out of memory. */
mq_sock *mq_sock_new(void);

/* Closes every socket still open. Clients and brokers must be freed first. */
void mq_sock_free(mq_sock *l);

/* CLOCK_MONOTONIC in ns. */
int64_t mq_sock_now(void);

/* One round of the loop: reports what earlier calls left pending, waits in
 * ppoll with the signal mask `mask` (NULL: the current one) until a socket
 * is ready, a timer is due, or `until` (MQ_NEVER: no limit), then handles
 * every ready socket and every due timer. Returns 0, or 1 when a signal
 * interrupted the wait (the caller checks its flags). Cost: O(sockets) per
 * round for the poll set, O(log timers) per timer. */
int mq_sock_step(mq_sock *l, int64_t until, const sigset_t *mask);

/* Connections closed by the engine that are still sending their last bytes
 * (a caller that is about to exit steps until this is 0). */
size_t mq_sock_lingering(const mq_sock *l);

/* A timer of the application's: fn(ctx, now) at the time set, once. */
mq_sock_timer *mq_sock_timer_new(mq_sock *l, void (*fn)(void *ctx, int64_t now), void *ctx);
/* Sets (or moves) the deadline; MQ_NEVER stops it. O(log timers). */
void mq_sock_timer_set(mq_sock_timer *t, int64_t at);
void mq_sock_timer_free(mq_sock_timer *t);

/* ---- what the host tells its user ----------------------------------------- */

typedef enum {
    MQ_SOCK_OPEN,    /* a TCP connect started (client) / a connection accepted (broker) */
    MQ_SOCK_UP,      /* the TCP connection is established (client) */
    MQ_SOCK_DOWN,    /* the transport went down: `down`, and errno in `err` (0: the
                        peer closed, EOF); the engine was told */
    MQ_SOCK_CLOSE,   /* the engine closed the connection: `close` */
} mq_sock_what;

typedef struct {
    mq_sock_what what;
    mq_down_cause down;
    int err;
    mq_close_cause close;
    const mq_sock_addr *peer;
} mq_sock_transport;

/* ---- client ---------------------------------------------------------------- */

typedef struct {
    void *ctx;
    /* The engine's callbacks, passed through unchanged (session.h). */
    void (*deliver)(void *ctx, int64_t now, mq_msg *m, const mq_view *v); /* required */
    void (*drop)(void *ctx, mq_msg *m, uint8_t qos, mq_drop_reason why);
    void (*event)(void *ctx, mq_event ev, const mq_view *v);
    void (*connected)(void *ctx, bool session_present);
    void (*subscribed)(void *ctx, const uint8_t *codes, size_t n);
    double (*random)(void *ctx);
    /* Optional: the transport's life (see mq_sock_transport). */
    void (*transport)(void *ctx, int64_t now, const mq_sock_transport *t);
    /* Optional: every packet that went into the socket (out: as the engine
     * encoded it; resend as the engine said) or came out of it (decoded
     * again from the received bytes by the host's own framer, independently
     * of the engine; resend: a PUBLISH with DUP set). bytes: its size on the
     * wire; topic: a PUBLISH's (else NULL). A received stream that fails to
     * decode is reported once with v->type 0. */
    void (*packet)(void *ctx, int64_t now, bool out, const mq_view *v, const char *topic,
                   size_t topic_len, size_t bytes, bool resend);
    /* Optional, for fault injection in tests: false withholds a packet the
     * engine sends (its bytes never reach the socket). */
    bool (*pass)(void *ctx, const mq_view *v);
} mq_sock_client_hooks;

/* A client of the broker at addr: the engine's client session (cfg; role
 * and transport are forced to client and stream) and its TCP connections.
 * Drive it through mq_sock_client_session (connect, subscribe, publish,
 * disconnect, finish). Returns NULL when out of memory or when the engine
 * refuses cfg. */
mq_sock_client *mq_sock_client_new(mq_sock *l, const mq_sock_addr *addr,
                                   const mq_session_config *cfg, const mq_sock_client_hooks *h);

/* Closes its connection at once (nothing more is sent) and frees the session. */
void mq_sock_client_free(mq_sock_client *c);

mq_session *mq_sock_client_session(mq_sock_client *c);

/* Aborts the current connection (an RST to the broker, nothing more sent);
 * the engine is told (MQ_DOWN_RST, ECONNABORTED) on the next step, and
 * reconnects as after any break. For fault injection. Returns 0, or -1 when
 * there is no connection. */
int mq_sock_client_abort(mq_sock_client *c);

/* ---- broker ---------------------------------------------------------------- */

typedef struct {
    uint64_t accepted, open;          /* connections accepted, and open now */
    uint64_t accept_errors;           /* accept failures (EMFILE...) and contexts not made */
    uint64_t bytes_in, bytes_out;
    uint64_t queued_peak;             /* the most bytes one connection had waiting for
                                         its socket (zero runs included) */
    uint64_t packets_out[16];         /* by packet type, as the engine sent them */
    uint64_t closes[MQ_CLOSE__COUNT]; /* closed by the engine, by cause */
    uint64_t downs[MQ_DOWN__COUNT];   /* went down under it, by cause */
    uint64_t events[MQ_EV__COUNT];    /* protocol events (malformed packets...) */
    uint64_t drops[MQ_DROP__COUNT];   /* messages the broker's sessions dropped */
} mq_sock_broker_stats;

typedef struct {
    void *ctx;
    /* Optional: a connection's life (MQ_SOCK_OPEN at accept, DOWN, CLOSE). */
    void (*transport)(void *ctx, int64_t now, const mq_sock_transport *t);
    /* Optional: a protocol event on a connection (v NULL for malformed bytes). */
    void (*event)(void *ctx, const mq_sock_addr *peer, mq_event ev, const mq_view *v);
} mq_sock_broker_hooks;

/* The engine's broker (cfg: the template of its sessions, broker.h) served
 * on real sockets. h may be NULL. Returns NULL when out of memory or when
 * the engine refuses cfg. */
mq_sock_broker *mq_sock_broker_new(mq_sock *l, const mq_session_config *cfg,
                                   const mq_sock_broker_hooks *h);

/* Closes the listening sockets and every connection at once (no more bytes
 * are sent), then frees the broker with every session. */
void mq_sock_broker_free(mq_sock_broker *b);

/* Listens on addr (SO_REUSEADDR, backlog 128). Returns 0 and sets *bound
 * (the port the kernel chose for port 0), or -1 with a message in err
 * naming the address and the reason ("address already in use"). */
int mq_sock_broker_listen(mq_sock_broker *b, const mq_sock_addr *addr, mq_sock_addr *bound,
                          char *err, size_t errlen);

void mq_sock_broker_stats_get(const mq_sock_broker *b, mq_sock_broker_stats *st);

mq_broker *mq_sock_broker_engine(mq_sock_broker *b);

#endif
