/* The real-socket host: engine actions to socket calls and timers, socket events and the clock to engine inputs. */
#define _GNU_SOURCE /* accept4, SOCK_NONBLOCK, ppoll */
#include "models/sock.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "models/codec.h"

/* Zero runs of PUBLISH payloads go out as iovecs on this one buffer. */
static const uint8_t zerobuf[65536];

#define RBUF 65536
#define READS_PER_ROUND 8     /* recv calls per socket per round, for fairness */
#define ACCEPTS_PER_ROUND 64
#define IOV_MAX_HERE 16

/* ---- timers: a binary min-heap on (at, seq) ------------------------------ */

struct mq_sock_timer {
    mq_sock *l;
    void (*fn)(void *ctx, int64_t now);
    void *ctx;
    int64_t at;
    uint64_t seq;       /* ties fire in the order they were set */
    size_t pos;         /* 1 + place in the heap; 0: not armed */
};

typedef struct chunk chunk;
/* Bytes the socket has not taken yet: data[off..len), then `zeros` zeros. */
struct chunk {
    chunk *next;
    size_t len, off;
    uint64_t zeros;
    uint8_t data[];
};

typedef enum { C_CONNECTING, C_UP, C_LINGER, C_DEAD } cstate;

typedef struct conn conn;
struct conn {
    mq_sock *l;
    conn *prev, *next;
    int fd;
    cstate st;
    mq_sock_client *client;    /* the owner: a client's connection ... */
    mq_sock_broker *broker;    /* ... or one the broker accepted */
    mq_session *s;             /* the engine's end while attached, else NULL */
    mq_sock_timer *timer;      /* broker side: its context's engine timer */
    chunk *oh, *ot;
    uint64_t queued;           /* bytes and zeros waiting in the chunks */
    bool report;               /* a down waits to be told to the engine */
    bool report_up;            /* client: connected at once, on_up waits */
    mq_down_cause cause;
    int err;
    bool wr_shut;
    int64_t linger_until;
    mq_sock_addr peer;
    bool decode;               /* client: decode what arrives for the packet hook */
    bool decode_failed;
    mq_framer fr;
    uint8_t version;
};

typedef struct listener listener;
struct listener {
    listener *next;
    int fd;
    mq_sock_broker *b;
    int64_t paused_until;      /* after EMFILE: accept again from then */
};

struct mq_sock {
    mq_sock_timer **heap;
    size_t n_heap, cap_heap;
    uint64_t seq;
    conn *conns;
    size_t n_lingering;
    bool pending;              /* some connection has a report waiting */
    listener *listeners;
    struct pollfd *pfd;
    void **pobj;               /* conn or listener per pollfd */
    bool *pis_listener;
    size_t cap_p;
    uint8_t rbuf[RBUF];
};

struct mq_sock_client {
    mq_sock *l;
    mq_sock_addr addr;
    mq_session *s;
    mq_sock_client_hooks h;
    mq_sock_timer *timer;
    conn *conn;                /* the attached connection, or NULL */
    uint8_t version;
};

struct mq_sock_broker {
    mq_sock *l;
    mq_broker *b;
    mq_sock_broker_hooks h;
    mq_sock_timer *timer;      /* the broker's own (session expiry) */
    mq_sock_broker_stats st;
};

int64_t mq_sock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- addresses --------------------------------------------------------------- */

static void addr_text(mq_sock_addr *a)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->ss;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
        port = ntohs(s4->sin_port);
        snprintf(a->text, sizeof a->text, "%s:%u", host, port);
    } else if (a->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
        port = ntohs(s6->sin6_port);
        snprintf(a->text, sizeof a->text, "[%s]:%u", host, port);
    } else {
        snprintf(a->text, sizeof a->text, "?");
    }
}

int mq_sock_resolve(const char *spec, const char *default_host, mq_sock_addr *out, char *err,
                    size_t errlen)
{
    char host[256], port[16];
    const char *colon = strrchr(spec, ':');
    const char *p = colon ? colon + 1 : spec;
    size_t hl = colon ? (size_t)(colon - spec) : 0;
    if (colon && spec[0] == '[') {
        if (hl < 2 || spec[hl - 1] != ']') {
            snprintf(err, errlen, "'%s': expected [IPv6]:PORT", spec);
            return -1;
        }
        spec++;
        hl -= 2;
    }
    if (hl >= sizeof host) {
        snprintf(err, errlen, "'%s': host name too long", spec);
        return -1;
    }
    if (colon && hl == 0 && spec[0] != '[') {
        snprintf(err, errlen, "'%s': expected HOST:PORT or PORT", spec);
        return -1;
    }
    memcpy(host, spec, hl);
    host[hl] = '\0';
    if (!colon)
        snprintf(host, sizeof host, "%s", default_host);
    char *end;
    errno = 0;
    unsigned long v = strtoul(p, &end, 10);
    if (!*p || *end || errno || v > 65535 || *p < '0' || *p > '9') {
        snprintf(err, errlen, "'%s': expected a port from 0 to 65535, got '%s'", spec, p);
        return -1;
    }
    snprintf(port, sizeof port, "%lu", v);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "cannot resolve host '%s': %s", host,
                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return -1;
    }
    memset(out, 0, sizeof *out);
    memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    freeaddrinfo(res);
    addr_text(out);
    return 0;
}

/* ---- timers --------------------------------------------------------------- */

static bool t_less(const mq_sock_timer *a, const mq_sock_timer *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void h_put(mq_sock *l, size_t i, mq_sock_timer *t)
{
    l->heap[i] = t;
    t->pos = i + 1;
}

static void h_up(mq_sock *l, size_t i)
{
    mq_sock_timer *t = l->heap[i];
    while (i > 0 && t_less(t, l->heap[(i - 1) / 2])) {
        h_put(l, i, l->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    h_put(l, i, t);
}

static void h_down(mq_sock *l, size_t i)
{
    mq_sock_timer *t = l->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= l->n_heap)
            break;
        if (c + 1 < l->n_heap && t_less(l->heap[c + 1], l->heap[c]))
            c++;
        if (!t_less(l->heap[c], t))
            break;
        h_put(l, i, l->heap[c]);
        i = c;
    }
    h_put(l, i, t);
}

static void h_remove(mq_sock *l, mq_sock_timer *t)
{
    if (!t->pos)
        return;
    size_t i = t->pos - 1;
    t->pos = 0;
    mq_sock_timer *last = l->heap[--l->n_heap];
    if (i == l->n_heap)
        return;
    h_put(l, i, last);
    h_up(l, i);
    h_down(l, last->pos - 1);
}

mq_sock_timer *mq_sock_timer_new(mq_sock *l, void (*fn)(void *ctx, int64_t now), void *ctx)
{
    mq_sock_timer *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->l = l;
    t->fn = fn;
    t->ctx = ctx;
    t->at = MQ_NEVER;
    return t;
}

/* The heap grows ahead of need in mq_sock_timer_new's callers' lifetimes;
 * out of memory here would lose a deadline, so it aborts instead of
 * silently never firing: an engine timer that never fires would be a lie
 * (a retransmission or keepalive that never happens). */
void mq_sock_timer_set(mq_sock_timer *t, int64_t at)
{
    mq_sock *l = t->l;
    h_remove(l, t);
    t->at = at;
    if (at == MQ_NEVER)
        return;
    t->seq = l->seq++;
    if (l->n_heap == l->cap_heap) {
        size_t cap = l->cap_heap ? 2 * l->cap_heap : 64;
        mq_sock_timer **nh = realloc(l->heap, cap * sizeof *nh);
        if (!nh) {
            fprintf(stderr, "mqttsim: out of memory for a timer\n");
            abort();
        }
        l->heap = nh;
        l->cap_heap = cap;
    }
    h_put(l, l->n_heap, t);
    h_up(l, l->n_heap++);
}

void mq_sock_timer_free(mq_sock_timer *t)
{
    if (!t)
        return;
    h_remove(t->l, t);
    free(t);
}

/* ---- connections ------------------------------------------------------------ */

static conn *conn_new(mq_sock *l, int fd)
{
    conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->l = l;
    c->fd = fd;
    c->next = l->conns;
    if (l->conns)
        l->conns->prev = c;
    l->conns = c;
    return c;
}

static void conn_close_fd(conn *c, bool rst)
{
    if (c->fd >= 0) {
        if (rst) {
            struct linger lg = {1, 0};
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        close(c->fd);
        c->fd = -1;
    }
    if (c->st == C_LINGER)
        c->l->n_lingering--;
    c->st = C_DEAD;
    while (c->oh) {
        chunk *k = c->oh;
        c->oh = k->next;
        free(k);
    }
    c->ot = NULL;
    c->queued = 0;
}

static void conn_free(conn *c)
{
    mq_sock *l = c->l;
    conn_close_fd(c, false);
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    mq_sock_timer_free(c->timer);
    mq_framer_free(&c->fr);
    free(c);
}

/* The engine's view of a socket error: which down cause it is. */
static mq_down_cause cause_of(int err)
{
    switch (err) {
    case 0: return MQ_DOWN_FIN;
    case ECONNRESET:
    case EPIPE:
    case ECONNABORTED: return MQ_DOWN_RST;
    default: return MQ_DOWN_ABORT;
    }
}

/* Notes a down to be told to the engine from the loop (never from inside
 * one of the engine's callbacks). */
static void conn_note_down(conn *c, mq_down_cause why, int err)
{
    if (c->report)
        return;
    c->report = true;
    c->cause = why;
    c->err = err;
    c->l->pending = true;
}

/* Writes as much of buf[0..*len) and then *zeros zero bytes as the socket
 * takes now, advancing them. Returns 0 (all written, or the socket is full)
 * or an errno. */
static int put(conn *c, const uint8_t **buf, size_t *len, uint64_t *zeros, uint64_t *sent)
{
    while (*len || *zeros) {
        struct iovec iov[IOV_MAX_HERE];
        int k = 0;
        size_t offered = 0;
        if (*len) {
            iov[k++] = (struct iovec){(void *)*buf, *len};
            offered += *len;
        }
        uint64_t z = *zeros;
        while (z && k < IOV_MAX_HERE) {
            size_t n = z > sizeof zerobuf ? sizeof zerobuf : (size_t)z;
            iov[k++] = (struct iovec){(void *)zerobuf, n};
            z -= n;
            offered += n;
        }
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)k};
        ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return errno;
        }
        size_t w = (size_t)n;
        *sent += w;
        size_t b = w < *len ? w : *len;
        *buf += b;
        *len -= b;
        *zeros -= w - b;
        if (w < offered)
            return 0;
    }
    return 0;
}

static uint64_t *bytes_out_of(conn *c)
{
    static uint64_t sink;
    return c->broker ? &c->broker->st.bytes_out : &sink;
}

/* Queues what put() left. Returns 0 or ENOBUFS / ENOMEM. */
static int enqueue(conn *c, const uint8_t *buf, size_t len, uint64_t zeros)
{
    if (c->queued + len + zeros > MQ_SOCK_QUEUE_MAX)
        return ENOBUFS;
    chunk *k = malloc(sizeof *k + len);
    if (!k)
        return ENOMEM;
    k->next = NULL;
    k->len = len;
    k->off = 0;
    k->zeros = zeros;
    if (len)
        memcpy(k->data, buf, len);
    if (c->ot)
        c->ot->next = k;
    else
        c->oh = k;
    c->ot = k;
    c->queued += len + zeros;
    if (c->broker && c->queued > c->broker->st.queued_peak)
        c->broker->st.queued_peak = c->queued;
    return 0;
}

/* One packet from the engine: straight into the socket when nothing waits,
 * the rest queued. A connection that broke discards it (its down is on the
 * way to the engine). */
static void conn_write(conn *c, const uint8_t *buf, size_t len, uint64_t zeros)
{
    if (c->st != C_UP || c->report)
        return;
    int e = 0;
    if (!c->oh)
        e = put(c, &buf, &len, &zeros, bytes_out_of(c));
    if (!e && (len || zeros))
        e = enqueue(c, buf, len, zeros);
    if (e)
        conn_note_down(c, e == ENOBUFS || e == ENOMEM ? MQ_DOWN_ABORT : cause_of(e), e);
}

/* Sends queued chunks on POLLOUT. Returns 0 or an errno. */
static int conn_flush(conn *c)
{
    while (c->oh) {
        chunk *k = c->oh;
        const uint8_t *p = k->data + k->off;
        size_t len = k->len - k->off;
        uint64_t z = k->zeros;
        uint64_t before = len + z;
        int e = put(c, &p, &len, &z, bytes_out_of(c));
        c->queued -= before - (len + z);
        k->off = k->len - len;
        k->zeros = z;
        if (e)
            return e;
        if (len || z)
            return 0;
        c->oh = k->next;
        if (!c->oh)
            c->ot = NULL;
        free(k);
    }
    return 0;
}

/* The engine let the connection go (io->close): it is forgotten at once;
 * the socket finishes sending and closes on its own. */
static void conn_linger(conn *c, int64_t now)
{
    c->s = NULL;
    if (c->timer)
        mq_sock_timer_set(c->timer, MQ_NEVER);
    if (c->st != C_UP || c->report) {
        conn_close_fd(c, false);
        return;
    }
    c->st = C_LINGER;
    c->l->n_lingering++;
    c->linger_until = now + MQ_SOCK_LINGER;
    if (!c->oh && shutdown(c->fd, SHUT_WR) == 0)
        c->wr_shut = true;
}

static void tell(void (*fn)(void *, int64_t, const mq_sock_transport *), void *ctx, int64_t now,
                 mq_sock_what what, mq_down_cause down, int err, mq_close_cause cl,
                 const mq_sock_addr *peer)
{
    if (!fn)
        return;
    mq_sock_transport t = {what, down, err, cl, peer};
    fn(ctx, now, &t);
}

static void conn_tell(conn *c, int64_t now, mq_sock_what what, mq_down_cause down, int err,
                      mq_close_cause cl)
{
    if (c->client)
        tell(c->client->h.transport, c->client->h.ctx, now, what, down, err, cl, &c->peer);
    else if (c->broker)
        tell(c->broker->h.transport, c->broker->h.ctx, now, what, down, err, cl, &c->peer);
}

/* The transport of an attached connection is gone: the engine is told,
 * and the connection is forgotten. Called from the loop only. */
static void conn_down(conn *c, int64_t now, mq_down_cause why, int err)
{
    mq_session *s = c->s;
    c->s = NULL;
    if (c->timer)
        mq_sock_timer_set(c->timer, MQ_NEVER);
    conn_close_fd(c, why == MQ_DOWN_RST && err == ECONNABORTED);
    if (!s)
        return;
    conn_tell(c, now, MQ_SOCK_DOWN, why, err, 0);
    if (c->client) {
        c->client->conn = NULL;
        mq_session_on_down(s, now, why);
    } else {
        c->broker->st.downs[why]++;
        mq_broker_conn_down(c->broker->b, s, now, why);
    }
}

/* ---- the packet hook's own decode of received bytes (client) ------------- */

static void decode_rx(conn *c, int64_t now, const uint8_t *data, size_t n)
{
    mq_sock_client *cl = c->client;
    while (!c->decode_failed) {
        size_t taken;
        const uint8_t *out;
        size_t out_n;
        int ev = mq_framer_feed(&c->fr, c->version, data, n, &taken, &out, &out_n);
        data += taken;
        n -= taken;
        mq_view v = {0};
        if (ev == MQ_FR_MORE)
            return;
        if (ev == MQ_FR_PACKET) {
            mq_packet p;
            size_t used;
            uint8_t ver = c->version;
            if (mq_codec_decode(c->fr.buf, c->fr.len, ver, &p, &used) != MQ_OK) {
                ev = -1;
            } else {
                v = (mq_view){.type = p.type, .qos = p.qos, .dup = p.dup, .retain = p.retain,
                              .session_present = p.session_present, .reason = p.reason,
                              .id = p.id};
                cl->h.packet(cl->h.ctx, now, false, &v, NULL, 0, used, false);
                continue;
            }
        }
        if (ev == MQ_FR_HEAD) {
            const mq_pubhead *h = &c->fr.pub;
            v = (mq_view){.type = MQ_PUBLISH, .qos = h->qos, .dup = h->dup, .retain = h->retain,
                          .id = h->id};
            cl->h.packet(cl->h.ctx, now, false, &v, h->topic.s, h->topic.len, h->total, h->dup);
            continue;
        }
        if (ev == MQ_FR_BODY || ev == MQ_FR_END)
            continue;
        /* The stream cannot be framed any further: said once. */
        c->decode_failed = true;
        v.type = 0;
        cl->h.packet(cl->h.ctx, now, false, &v, NULL, 0, 0, false);
    }
}

/* ---- reading ------------------------------------------------------------------- */

static void conn_readable(conn *c, int64_t now)
{
    mq_sock *l = c->l;
    for (int i = 0; i < READS_PER_ROUND && c->st != C_DEAD; i++) {
        ssize_t n = recv(c->fd, l->rbuf, RBUF, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (c->st == C_LINGER) {
            /* Only waiting for the peer's FIN: what it still sends is for
             * nobody. */
            if (n <= 0)
                conn_close_fd(c, false);
            continue;
        }
        if (n <= 0) {
            int e = n == 0 ? 0 : errno;
            conn_down(c, now, cause_of(e), e);
            return;
        }
        if (c->broker)
            c->broker->st.bytes_in += (uint64_t)n;
        if (c->decode)
            decode_rx(c, now, l->rbuf, (size_t)n);
        if (c->client)
            mq_session_on_bytes(c->s, now, l->rbuf, (size_t)n);
        else
            mq_broker_conn_bytes(c->broker->b, c->s, now, l->rbuf, (size_t)n);
        if (!c->s || c->report)
            return; /* the engine closed it, or a write inside broke it */
        if ((size_t)n < RBUF)
            return;
    }
}

/* ---- client ------------------------------------------------------------------ */

static mq_sock_client *cl_of(void *ctx)
{
    return ctx;
}

static void cl_send(void *ctx, const uint8_t *buf, size_t len, uint64_t zeros, const mq_view *v,
                    mq_msg *m, bool resend)
{
    mq_sock_client *cl = cl_of(ctx);
    (void)m;
    conn *c = cl->conn;
    if (!c)
        return;
    if (cl->h.pass && !cl->h.pass(cl->h.ctx, v))
        return;
    conn_write(c, buf, len, zeros);
    if (cl->h.packet) {
        const char *topic = m && v->type == MQ_PUBLISH ? m->topic : NULL;
        cl->h.packet(cl->h.ctx, mq_sock_now(), true, v, topic, topic ? m->topic_len : 0,
                     len + zeros, resend);
    }
}

static void cl_deliver(void *ctx, int64_t now, mq_msg *m, const mq_view *v)
{
    mq_sock_client *cl = cl_of(ctx);
    cl->h.deliver(cl->h.ctx, now, m, v);
}

static void cl_timer(void *ctx, int64_t at)
{
    mq_sock_timer_set(cl_of(ctx)->timer, at);
}

static void cl_timer_fire(void *ctx, int64_t now)
{
    mq_sock_client *cl = ctx;
    mq_session_on_timer(cl->s, now);
}

static void cl_drop(void *ctx, mq_msg *m, uint8_t qos, mq_drop_reason why)
{
    mq_sock_client *cl = cl_of(ctx);
    if (cl->h.drop)
        cl->h.drop(cl->h.ctx, m, qos, why);
}

static void cl_event(void *ctx, mq_event ev, const mq_view *v)
{
    mq_sock_client *cl = cl_of(ctx);
    if (cl->h.event)
        cl->h.event(cl->h.ctx, ev, v);
}

static void cl_connected(void *ctx, bool present)
{
    mq_sock_client *cl = cl_of(ctx);
    if (cl->h.connected)
        cl->h.connected(cl->h.ctx, present);
}

static void cl_subscribed(void *ctx, const uint8_t *codes, size_t n)
{
    mq_sock_client *cl = cl_of(ctx);
    if (cl->h.subscribed)
        cl->h.subscribed(cl->h.ctx, codes, n);
}

static double cl_random(void *ctx)
{
    mq_sock_client *cl = cl_of(ctx);
    return cl->h.random(cl->h.ctx);
}

/* io->open: a non-blocking connect. Whatever the outcome, the engine hears
 * of it from the loop. */
static void cl_open(void *ctx, int64_t now)
{
    mq_sock_client *cl = cl_of(ctx);
    assert(!cl->conn);
    int fd = socket(cl->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int e = fd < 0 ? errno : 0;
    conn *c = conn_new(cl->l, fd);
    if (!c) {
        /* Out of memory: no connection object to report through; the
         * engine's connect timeout will close and retry. */
        if (fd >= 0)
            close(fd);
        return;
    }
    c->client = cl;
    c->s = cl->s;
    c->peer = cl->addr;
    c->st = C_CONNECTING;
    c->version = cl->version;
    c->decode = cl->h.packet != NULL;
    cl->conn = c;
    conn_tell(c, now, MQ_SOCK_OPEN, 0, 0, 0);
    if (!e) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, (const struct sockaddr *)&cl->addr.ss, cl->addr.len) == 0) {
            c->report_up = true;
            cl->l->pending = true;
            return;
        }
        e = errno;
        if (e == EINPROGRESS)
            return;
    }
    conn_note_down(c, e == ETIMEDOUT ? MQ_DOWN_TIMEOUT : MQ_DOWN_REFUSED, e);
}

static void cl_close(void *ctx, int64_t now, mq_close_cause why)
{
    mq_sock_client *cl = cl_of(ctx);
    conn *c = cl->conn;
    if (!c)
        return;
    cl->conn = NULL;
    conn_tell(c, now, MQ_SOCK_CLOSE, 0, 0, why);
    conn_linger(c, now);
}

/* The connect finished (POLLOUT on a connecting socket). */
static void conn_connected(conn *c, int64_t now)
{
    int e = 0;
    socklen_t el = sizeof e;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0)
        e = errno;
    if (e == EINPROGRESS || e == EALREADY)
        return;
    if (e) {
        conn_down(c, now, e == ETIMEDOUT ? MQ_DOWN_TIMEOUT : MQ_DOWN_REFUSED, e);
        return;
    }
    c->st = C_UP;
    conn_tell(c, now, MQ_SOCK_UP, 0, 0, 0);
    if (c->s)
        mq_session_on_up(c->s, now);
}

mq_sock_client *mq_sock_client_new(mq_sock *l, const mq_sock_addr *addr,
                                   const mq_session_config *cfg, const mq_sock_client_hooks *h)
{
    assert(h && h->deliver);
    mq_sock_client *cl = calloc(1, sizeof *cl);
    if (!cl)
        return NULL;
    cl->l = l;
    cl->addr = *addr;
    cl->h = *h;
    cl->timer = mq_sock_timer_new(l, cl_timer_fire, cl);
    mq_session_config c = *cfg;
    c.role = MQ_ROLE_CLIENT;
    c.transport = MQ_TRANSPORT_STREAM;
    cl->version = c.version;
    mq_session_io io = {
        .ctx = cl, .send = cl_send, .deliver = cl_deliver, .timer = cl_timer, .drop = cl_drop,
        .event = cl_event, .connected = cl_connected, .subscribed = cl_subscribed,
        .open = cl_open, .close = cl_close, .random = h->random ? cl_random : NULL,
    };
    cl->s = cl->timer ? mq_session_new(&c, &io) : NULL;
    if (!cl->s) {
        mq_sock_timer_free(cl->timer);
        free(cl);
        return NULL;
    }
    return cl;
}

void mq_sock_client_free(mq_sock_client *c)
{
    if (!c)
        return;
    if (c->conn) {
        c->conn->s = NULL;
        c->conn->client = NULL;
        conn_close_fd(c->conn, false);
    }
    mq_session_free(c->s);
    mq_sock_timer_free(c->timer);
    free(c);
}

mq_session *mq_sock_client_session(mq_sock_client *c)
{
    return c->s;
}

int mq_sock_client_abort(mq_sock_client *c)
{
    if (!c->conn || c->conn->st != C_UP)
        return -1;
    conn_note_down(c->conn, MQ_DOWN_RST, ECONNABORTED);
    return 0;
}

/* ---- broker ----------------------------------------------------------------- */

static void bc_send(void *ctx, const uint8_t *buf, size_t len, uint64_t zeros, const mq_view *v,
                    mq_msg *m, bool resend)
{
    conn *c = ctx;
    (void)m;
    (void)resend;
    c->broker->st.packets_out[v->type & 15]++;
    conn_write(c, buf, len, zeros);
}

static void bc_timer(void *ctx, int64_t at)
{
    conn *c = ctx;
    if (c->timer)
        mq_sock_timer_set(c->timer, at);
}

static void bc_timer_fire(void *ctx, int64_t now)
{
    conn *c = ctx;
    if (c->s)
        mq_broker_conn_timer(c->broker->b, c->s, now);
}

static void bc_close(void *ctx, int64_t now, mq_close_cause why)
{
    conn *c = ctx;
    c->broker->st.closes[why]++;
    conn_tell(c, now, MQ_SOCK_CLOSE, 0, 0, why);
    conn_linger(c, now);
}

static void bc_event(void *ctx, mq_event ev, const mq_view *v)
{
    conn *c = ctx;
    c->broker->st.events[ev]++;
    if (c->broker->h.event)
        c->broker->h.event(c->broker->h.ctx, &c->peer, ev, v);
}

static void b_drop(void *ctx, void *user, mq_msg *m, uint8_t qos, mq_drop_reason why)
{
    mq_sock_broker *b = ctx;
    (void)user;
    (void)m;
    (void)qos;
    b->st.drops[why]++;
}

static void b_timer(void *ctx, int64_t at)
{
    mq_sock_broker *b = ctx;
    mq_sock_timer_set(b->timer, at);
}

static void b_timer_fire(void *ctx, int64_t now)
{
    mq_sock_broker *b = ctx;
    mq_broker_on_timer(b->b, now);
}

/* A session's drops are counted for the whole broker: the user pointer is
 * the broker itself, which outlives every connection (a connection's
 * would dangle once it closed while its session stays). */
static void *b_bind(void *ctx, void *conn_ctx, int sess, const char *id, size_t len, bool present)
{
    (void)conn_ctx;
    (void)sess;
    (void)id;
    (void)len;
    (void)present;
    return ctx;
}

mq_sock_broker *mq_sock_broker_new(mq_sock *l, const mq_session_config *cfg,
                                   const mq_sock_broker_hooks *h)
{
    mq_sock_broker *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->l = l;
    if (h)
        b->h = *h;
    b->timer = mq_sock_timer_new(l, b_timer_fire, b);
    mq_broker_io io = {.ctx = b, .drop = b_drop, .timer = b_timer, .bind = b_bind};
    b->b = b->timer ? mq_broker_new(cfg, &io) : NULL;
    if (!b->b) {
        mq_sock_timer_free(b->timer);
        free(b);
        return NULL;
    }
    return b;
}

void mq_sock_broker_free(mq_sock_broker *b)
{
    if (!b)
        return;
    mq_sock *l = b->l;
    for (listener **pp = &l->listeners; *pp;) {
        listener *x = *pp;
        if (x->b == b) {
            close(x->fd);
            *pp = x->next;
            free(x);
        } else {
            pp = &x->next;
        }
    }
    for (conn *c = l->conns; c; c = c->next)
        if (c->broker == b) {
            c->s = NULL;
            conn_close_fd(c, false);
        }
    for (conn *c = l->conns, *n; c; c = n) {
        n = c->next;
        if (c->broker == b)
            conn_free(c);
    }
    mq_broker_free(b->b);
    mq_sock_timer_free(b->timer);
    free(b);
}

int mq_sock_broker_listen(mq_sock_broker *b, const mq_sock_addr *addr, mq_sock_addr *bound,
                          char *err, size_t errlen)
{
    int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (const struct sockaddr *)&addr->ss, addr->len) != 0 || listen(fd, 128) != 0) {
        int e = errno;
        snprintf(err, errlen, "cannot listen on %s: %s%s", addr->text, strerror(e),
                 e == EADDRINUSE ? " (another process listens on that port: pick another "
                                   "with --listen)" : "");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    listener *x = calloc(1, sizeof *x);
    if (!x) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    x->fd = fd;
    x->b = b;
    x->next = b->l->listeners;
    b->l->listeners = x;
    if (bound) {
        memset(bound, 0, sizeof *bound);
        bound->len = sizeof bound->ss;
        getsockname(fd, (struct sockaddr *)&bound->ss, &bound->len);
        addr_text(bound);
    }
    return 0;
}

static void accept_some(listener *x, int64_t now)
{
    mq_sock_broker *b = x->b;
    for (int i = 0; i < ACCEPTS_PER_ROUND; i++) {
        mq_sock_addr peer;
        memset(&peer, 0, sizeof peer);
        peer.len = sizeof peer.ss;
        int fd = accept4(x->fd, (struct sockaddr *)&peer.ss, &peer.len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                /* EMFILE and the like: stop accepting for a while rather
                 * than spin on a listener that stays readable. */
                b->st.accept_errors++;
                x->paused_until = now + 100000000;
            }
            return;
        }
        addr_text(&peer);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn *c = conn_new(b->l, fd);
        if (c) {
            c->broker = b;
            c->st = C_UP;
            c->peer = peer;
            c->timer = mq_sock_timer_new(b->l, bc_timer_fire, c);
        }
        mq_session_io io = {.ctx = c, .send = bc_send, .timer = bc_timer, .close = bc_close,
                            .event = bc_event};
        mq_session *s = c && c->timer ? mq_broker_accept(b->b, now, MQ_TRANSPORT_STREAM, &io)
                                      : NULL;
        if (!s) {
            b->st.accept_errors++;
            if (c)
                conn_free(c);
            else
                close(fd);
            continue;
        }
        c->s = s;
        b->st.accepted++;
        conn_tell(c, now, MQ_SOCK_OPEN, 0, 0, 0);
    }
}

void mq_sock_broker_stats_get(const mq_sock_broker *b, mq_sock_broker_stats *st)
{
    *st = b->st;
    st->open = mq_broker_connections(b->b);
}

mq_broker *mq_sock_broker_engine(mq_sock_broker *b)
{
    return b->b;
}

/* ---- the loop ---------------------------------------------------------------- */

mq_sock *mq_sock_new(void)
{
    return calloc(1, sizeof(mq_sock));
}

void mq_sock_free(mq_sock *l)
{
    if (!l)
        return;
    while (l->conns)
        conn_free(l->conns);
    while (l->listeners) {
        listener *x = l->listeners;
        l->listeners = x->next;
        close(x->fd);
        free(x);
    }
    free(l->heap);
    free(l->pfd);
    free(l->pobj);
    free(l->pis_listener);
    free(l);
}

size_t mq_sock_lingering(const mq_sock *l)
{
    return l->n_lingering;
}

/* Reports what engine callbacks left pending: connects that finished or
 * failed at once, writes that broke. Reporting may leave more (a reopen
 * that fails at once), so it repeats until nothing is left. */
static void report_pending(mq_sock *l)
{
    while (l->pending) {
        l->pending = false;
        int64_t now = mq_sock_now();
        for (conn *c = l->conns; c; c = c->next) {
            if (c->report_up) {
                c->report_up = false;
                c->st = C_UP;
                conn_tell(c, now, MQ_SOCK_UP, 0, 0, 0);
                if (c->s)
                    mq_session_on_up(c->s, now);
            }
            if (c->report && c->st != C_DEAD) {
                c->report = false;
                if (c->s)
                    conn_down(c, now, c->cause, c->err);
                else
                    conn_close_fd(c, c->err == ECONNABORTED);
            }
        }
    }
}

static void reap(mq_sock *l)
{
    for (conn *c = l->conns, *n; c; c = n) {
        n = c->next;
        if (c->st == C_DEAD && !c->s && !(c->client && c->client->conn == c))
            conn_free(c);
    }
}

static int grow_poll(mq_sock *l, size_t n)
{
    if (n <= l->cap_p)
        return 0;
    size_t cap = l->cap_p ? l->cap_p : 16;
    while (cap < n)
        cap *= 2;
    struct pollfd *p = realloc(l->pfd, cap * sizeof *p);
    if (p)
        l->pfd = p;
    void **o = realloc(l->pobj, cap * sizeof *o);
    if (o)
        l->pobj = o;
    bool *is = realloc(l->pis_listener, cap * sizeof *is);
    if (is)
        l->pis_listener = is;
    if (!p || !o || !is)
        return -1;
    l->cap_p = cap;
    return 0;
}

int mq_sock_step(mq_sock *l, int64_t until, const sigset_t *mask)
{
    report_pending(l);
    reap(l);
    int64_t now = mq_sock_now();
    int64_t wake = until;
    if (l->n_heap && l->heap[0]->at < wake)
        wake = l->heap[0]->at;
    size_t n = 0;
    for (conn *c = l->conns; c; c = c->next)
        n++;
    for (listener *x = l->listeners; x; x = x->next)
        n++;
    if (grow_poll(l, n)) {
        fprintf(stderr, "mqttsim: out of memory for the poll set\n");
        abort();
    }
    n = 0;
    for (conn *c = l->conns; c; c = c->next) {
        if (c->fd < 0 || c->st == C_DEAD)
            continue;
        short ev = 0;
        if (c->st == C_CONNECTING || c->oh)
            ev |= POLLOUT;
        if (c->st == C_UP || c->st == C_LINGER)
            ev |= POLLIN;
        if (c->st == C_LINGER && c->linger_until < wake)
            wake = c->linger_until;
        l->pfd[n] = (struct pollfd){c->fd, ev, 0};
        l->pobj[n] = c;
        l->pis_listener[n++] = false;
    }
    for (listener *x = l->listeners; x; x = x->next) {
        if (x->paused_until > now) {
            if (x->paused_until < wake)
                wake = x->paused_until;
            continue;
        }
        l->pfd[n] = (struct pollfd){x->fd, POLLIN, 0};
        l->pobj[n] = x;
        l->pis_listener[n++] = true;
    }
    struct timespec ts, *tsp = NULL;
    if (wake != MQ_NEVER) {
        int64_t d = wake > now ? wake - now : 0;
        ts.tv_sec = (time_t)(d / 1000000000);
        ts.tv_nsec = (long)(d % 1000000000);
        tsp = &ts;
    }
    int rc = ppoll(l->pfd, (nfds_t)n, tsp, mask);
    if (rc < 0 && errno != EINTR) {
        fprintf(stderr, "mqttsim: poll: %s\n", strerror(errno));
        abort();
    }
    bool interrupted = rc < 0;
    now = mq_sock_now();
    for (size_t i = 0; rc > 0 && i < n; i++) {
        short re = l->pfd[i].revents;
        if (!re)
            continue;
        if (l->pis_listener[i]) {
            accept_some(l->pobj[i], now);
            continue;
        }
        conn *c = l->pobj[i];
        if (c->st == C_DEAD || c->fd != l->pfd[i].fd)
            continue;
        if (c->st == C_CONNECTING) {
            conn_connected(c, now);
            continue;
        }
        if ((re & POLLOUT) && c->oh) {
            int e = conn_flush(c);
            if (e) {
                if (c->s)
                    conn_down(c, now, cause_of(e), e);
                else
                    conn_close_fd(c, false);
                continue;
            }
            if (c->st == C_LINGER && !c->oh && !c->wr_shut && shutdown(c->fd, SHUT_WR) == 0)
                c->wr_shut = true;
        }
        if (re & (POLLIN | POLLHUP | POLLERR))
            conn_readable(c, now);
    }
    /* Lingering sockets past their time close regardless. */
    for (conn *c = l->conns; c; c = c->next)
        if (c->st == C_LINGER && c->linger_until <= now)
            conn_close_fd(c, false);
    /* Due timers, each once; one set again for now by its callback waits
     * for the next round, so a round always ends. */
    uint64_t seq_end = l->seq;
    while (l->n_heap && l->heap[0]->at <= now && l->heap[0]->seq < seq_end) {
        mq_sock_timer *t = l->heap[0];
        h_remove(l, t);
        t->at = MQ_NEVER;
        t->fn(t->ctx, now);
    }
    report_pending(l);
    return interrupted ? 1 : 0;
}
