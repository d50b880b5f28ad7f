/* Tests of the real-socket host on loopback: addresses, timers, a 4 MB zero-run payload through a full socket, malformed input, a refused connect. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "models/codec.h"
#include "models/sock.h"

#define MS INT64_C(1000000)

static void resolve_forms(void **state)
{
    (void)state;
    mq_sock_addr a;
    char err[256];
    assert_int_equal(mq_sock_resolve("1883", "127.0.0.1", &a, err, sizeof err), 0);
    assert_string_equal(a.text, "127.0.0.1:1883");
    assert_int_equal(mq_sock_resolve("127.0.0.2:0", "x", &a, err, sizeof err), 0);
    assert_string_equal(a.text, "127.0.0.2:0");
    assert_int_equal(mq_sock_resolve("[::1]:8883", "x", &a, err, sizeof err), 0);
    assert_string_equal(a.text, "[::1]:8883");
    assert_int_equal(mq_sock_resolve("127.0.0.1:65536", "x", &a, err, sizeof err), -1);
    assert_non_null(strstr(err, "expected a port from 0 to 65535"));
    assert_int_equal(mq_sock_resolve(":1", "x", &a, err, sizeof err), -1);
    assert_int_equal(mq_sock_resolve("127.0.0.1:", "x", &a, err, sizeof err), -1);
    assert_int_equal(mq_sock_resolve("[::1:1", "x", &a, err, sizeof err), -1);
}

/* ---- timers ---------------------------------------------------------------- */

typedef struct {
    int order[8];
    int n;
    int id;
    int *log;
    int *nlog;
    mq_sock_timer *self;
    bool rearm;
} tctx;

static int tlog[16], ntlog;

static void tfire(void *ctx, int64_t now)
{
    tctx *t = ctx;
    (void)now;
    tlog[ntlog++] = t->id;
    if (t->rearm) {
        t->rearm = false;
        mq_sock_timer_set(t->self, now); /* due again at once: fires in a later round */
    }
}

/* Timers fire by deadline, equal deadlines in the order they were set, a
 * stopped one never, a moved one at its new time, and one re-armed for now
 * inside its own callback in the next round. */
static void timers_order(void **state)
{
    (void)state;
    mq_sock *l = mq_sock_new();
    tctx c[5];
    mq_sock_timer *t[5];
    for (int i = 0; i < 5; i++) {
        c[i] = (tctx){.id = i};
        t[i] = mq_sock_timer_new(l, tfire, &c[i]);
        c[i].self = t[i];
    }
    int64_t now = mq_sock_now();
    ntlog = 0;
    mq_sock_timer_set(t[0], now + 30 * MS);
    mq_sock_timer_set(t[1], now + 10 * MS);
    mq_sock_timer_set(t[2], now + 20 * MS);
    mq_sock_timer_set(t[3], now + 20 * MS);
    mq_sock_timer_set(t[4], now + 5 * MS);
    mq_sock_timer_set(t[4], MQ_NEVER);      /* stopped */
    mq_sock_timer_set(t[0], now + 25 * MS); /* moved earlier */
    c[1].rearm = true;
    while (ntlog < 5 && mq_sock_now() < now + 1000 * MS)
        mq_sock_step(l, now + 1000 * MS, NULL);
    assert_int_equal(ntlog, 5);
    int want[] = {1, 1, 2, 3, 0};
    for (int i = 0; i < 5; i++)
        assert_int_equal(tlog[i], want[i]);
    assert_true(mq_sock_now() >= now + 25 * MS);
    for (int i = 0; i < 5; i++)
        mq_sock_timer_free(t[i]);
    mq_sock_free(l);
}

/* ---- a broker and raw peers ------------------------------------------------ */

static int raw_connect(const mq_sock_addr *a, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (rcvbuf)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    assert_int_equal(connect(fd, (const struct sockaddr *)&a->ss, a->len), 0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

static void raw_send_packet(int fd, const mq_packet *p)
{
    uint8_t buf[256];
    size_t n;
    assert_int_equal(mq_codec_encode(p, MQ_V311, buf, sizeof buf, &n), MQ_OK);
    assert_int_equal(send(fd, buf, n, 0), (ssize_t)n);
}

static void raw_connect_packet(int fd, const char *id)
{
    mq_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQ_CONNECT;
    p.clean_start = true;
    p.client_id = (mq_str){id, (uint16_t)strlen(id)};
    raw_send_packet(fd, &p);
}

/* Reads what fd has into buf (appending at *n, at most cap), stepping the
 * loop meanwhile, until *n reaches want or a deadline passes; returns
 * false on EOF. */
static bool raw_read(mq_sock *l, int fd, uint8_t *buf, size_t cap, size_t *n, size_t want,
                     int64_t limit_ms)
{
    int64_t end = mq_sock_now() + limit_ms * MS;
    while (*n < want && mq_sock_now() < end) {
        mq_sock_step(l, mq_sock_now() + 2 * MS, NULL);
        ssize_t r = recv(fd, buf + *n, cap - *n, 0);
        if (r == 0)
            return false;
        if (r > 0)
            *n += (size_t)r;
    }
    return true;
}

typedef struct {
    mq_msg *got;
    int delivered;
    bool connected;
    int subscribed;
} pctx;

static void p_deliver(void *ctx, int64_t now, mq_msg *m, const mq_view *v)
{
    pctx *p = ctx;
    (void)now;
    (void)v;
    p->delivered++;
    (void)m;
}

static void p_connected(void *ctx, bool present)
{
    (void)present;
    ((pctx *)ctx)->connected = true;
}

static void step_until(mq_sock *l, bool *flag, int64_t limit_ms)
{
    int64_t end = mq_sock_now() + limit_ms * MS;
    while (!*flag && mq_sock_now() < end)
        mq_sock_step(l, mq_sock_now() + 5 * MS, NULL);
}

/* A 4 MB PUBLISH whose payload is 16 bytes and zeros goes from an engine
 * client through the engine's broker to a raw subscriber that does not
 * read for a while (a 4 KB receive buffer): the broker's socket fills, the
 * rest waits in its queue as a zero count, and every byte arrives, in
 * order, once the subscriber reads: the header, the 16 head bytes, then
 * 4 MB - 16 zeros. */
static void big_zero_payload_through_a_full_socket(void **state)
{
    (void)state;
    mq_sock *l = mq_sock_new();
    mq_session_config bc = {.role = MQ_ROLE_BROKER, .version = MQ_V311,
                            .transport = MQ_TRANSPORT_STREAM, .retry_interval = 1000 * MS};
    mq_sock_broker *b = mq_sock_broker_new(l, &bc, NULL);
    assert_non_null(b);
    mq_sock_addr a, bound;
    char err[256];
    assert_int_equal(mq_sock_resolve("127.0.0.1:0", "x", &a, err, sizeof err), 0);
    assert_int_equal(mq_sock_broker_listen(b, &a, &bound, err, sizeof err), 0);

    int sub = raw_connect(&bound, 4096);
    raw_connect_packet(sub, "rawsub");
    mq_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQ_SUBSCRIBE;
    p.id = 1;
    p.n_topics = 1;
    p.topics[0].filter = (mq_str){"big", 3};
    p.topics[0].options = 0;
    raw_send_packet(sub, &p);
    uint8_t ack[64];
    size_t n = 0;
    assert_true(raw_read(l, sub, ack, sizeof ack, &n, 4 + 5, 2000)); /* CONNACK, SUBACK */
    assert_int_equal(n, 9);
    assert_int_equal(ack[0], 0x20);
    assert_int_equal(ack[4], 0x90);

    pctx pc = {0};
    mq_sock_client_hooks h = {.ctx = &pc, .deliver = p_deliver, .connected = p_connected};
    mq_session_config cc = {.version = MQ_V311, .client_id = "pub", .clean_start = true};
    mq_sock_client *cl = mq_sock_client_new(l, &bound, &cc, &h);
    assert_non_null(cl);
    mq_session *s = mq_sock_client_session(cl);
    assert_int_equal(mq_session_connect(s, mq_sock_now()), 0);
    step_until(l, &pc.connected, 2000);
    assert_true(pc.connected);
    const uint32_t big = 4u << 20;
    uint8_t head[16];
    for (int i = 0; i < 16; i++)
        head[i] = (uint8_t)(0xA0 + i);
    mq_msg *m;
    assert_int_equal(mq_msg_new("big", 3, head, 16, big, false, NULL, NULL, &m), 0);
    assert_int_equal(mq_session_publish(s, mq_sock_now(), m, 0), 0);
    mq_msg_unref(m);
    /* The subscriber reads nothing for 100 ms: the loop runs on. */
    int64_t until = mq_sock_now() + 100 * MS;
    while (mq_sock_now() < until)
        mq_sock_step(l, until, NULL);

    size_t total = 1 + 4 + 2 + 3 + big; /* fixed header (4-byte length), topic, payload */
    uint8_t *buf = malloc(total + 16);
    n = 0;
    assert_true(raw_read(l, sub, buf, total + 16, &n, total, 10000));
    assert_int_equal(n, total);
    assert_int_equal(buf[0], 0x30);
    uint32_t rl;
    assert_int_equal(mq_varint_decode(buf + 1, 4, &rl), 4);
    assert_int_equal(rl, 2 + 3 + big);
    assert_memory_equal(buf + 5, "\x00\x03" "big", 5);
    assert_memory_equal(buf + 10, head, 16);
    size_t nonzero = 0;
    for (size_t i = 10 + 16; i < total; i++)
        nonzero += buf[i] != 0;
    assert_int_equal(nonzero, 0);
    free(buf);
    mq_sock_broker_stats st;
    mq_sock_broker_stats_get(b, &st);
    assert_int_equal(st.packets_out[MQ_PUBLISH], 1);
    assert_true(st.bytes_out >= total);
    /* The socket did not take it all at once: the rest waited as a count. */
    assert_true(st.queued_peak > 0 && st.queued_peak < big);
    close(sub);
    mq_sock_client_free(cl);
    mq_sock_broker_free(b);
    mq_sock_free(l);
}

/* Malformed bytes close their own connection (the peer reads EOF), are
 * counted, and a connection beside it is served on. */
static void malformed_closes_only_its_connection(void **state)
{
    (void)state;
    mq_sock *l = mq_sock_new();
    mq_session_config bc = {.role = MQ_ROLE_BROKER, .version = MQ_V311,
                            .transport = MQ_TRANSPORT_STREAM, .retry_interval = 1000 * MS};
    mq_sock_broker *b = mq_sock_broker_new(l, &bc, NULL);
    mq_sock_addr a, bound;
    char err[256];
    assert_int_equal(mq_sock_resolve("127.0.0.1:0", "x", &a, err, sizeof err), 0);
    assert_int_equal(mq_sock_broker_listen(b, &a, &bound, err, sizeof err), 0);
    int good = raw_connect(&bound, 0), bad = raw_connect(&bound, 0);
    raw_connect_packet(good, "good");
    /* A Remaining Length of five bytes (MQTT 1.5.5: at most four). */
    assert_int_equal(send(bad, "\x10\xff\xff\xff\xff\x01", 6, 0), 6);
    uint8_t buf[64];
    size_t n = 0;
    assert_false(raw_read(l, bad, buf, sizeof buf, &n, 1, 2000)); /* EOF */
    assert_int_equal(n, 0);
    n = 0;
    assert_true(raw_read(l, good, buf, sizeof buf, &n, 4, 2000));
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "\x20\x02\x00\x00", 4);
    mq_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQ_PINGREQ;
    raw_send_packet(good, &p);
    n = 0;
    assert_true(raw_read(l, good, buf, sizeof buf, &n, 2, 2000));
    assert_memory_equal(buf, "\xd0\x00", 2);
    mq_sock_broker_stats st;
    mq_sock_broker_stats_get(b, &st);
    assert_int_equal(st.events[MQ_EV_MALFORMED], 1);
    assert_int_equal(st.closes[MQ_CLOSE_PROTOCOL_ERROR], 1);
    assert_int_equal(st.accepted, 2);
    assert_int_equal(st.open, 1);
    close(good);
    close(bad);
    mq_sock_broker_free(b);
    mq_sock_free(l);
}

typedef struct {
    int downs;
    mq_down_cause cause;
    int err;
    int opens;
} rctx;

static void r_transport(void *ctx, int64_t now, const mq_sock_transport *t)
{
    rctx *r = ctx;
    (void)now;
    if (t->what == MQ_SOCK_OPEN)
        r->opens++;
    if (t->what == MQ_SOCK_DOWN) {
        r->downs++;
        r->cause = t->down;
        r->err = t->err;
    }
}

/* A connect to a port nothing listens on is told to the engine as refused
 * (from the loop, never inside io->open), and the engine's backoff opens
 * again after reconnect_initial. */
static void refused_connect_and_backoff(void **state)
{
    (void)state;
    mq_sock *l = mq_sock_new();
    /* A port that was just free: listen, note it, close. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    socklen_t sl = sizeof sin;
    getsockname(fd, (struct sockaddr *)&sin, &sl);
    close(fd);
    char spec[32], err[256];
    snprintf(spec, sizeof spec, "127.0.0.1:%u", ntohs(sin.sin_port));
    mq_sock_addr a;
    assert_int_equal(mq_sock_resolve(spec, "x", &a, err, sizeof err), 0);
    rctx r = {0};
    pctx pc = {0};
    mq_sock_client_hooks h = {.ctx = &r, .deliver = p_deliver, .transport = r_transport};
    (void)pc;
    mq_session_config cc = {.version = MQ_V311, .client_id = "c", .clean_start = true,
                            .reconnect_initial = 50 * MS, .reconnect_max = 50 * MS};
    mq_sock_client *cl = mq_sock_client_new(l, &a, &cc, &h);
    int64_t t0 = mq_sock_now();
    mq_session_connect(mq_sock_client_session(cl), t0);
    assert_int_equal(r.downs, 0); /* not inside open */
    while (r.downs < 2 && mq_sock_now() < t0 + 2000 * MS)
        mq_sock_step(l, mq_sock_now() + 10 * MS, NULL);
    assert_int_equal(r.downs, 2);
    assert_int_equal(r.opens, 2);
    assert_int_equal(r.cause, MQ_DOWN_REFUSED);
    assert_int_equal(r.err, ECONNREFUSED);
    assert_true(mq_sock_now() - t0 >= 50 * MS);
    mq_sock_client_free(cl);
    mq_sock_free(l);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resolve_forms),
        cmocka_unit_test(timers_order),
        cmocka_unit_test(big_zero_payload_through_a_full_socket),
        cmocka_unit_test(malformed_closes_only_its_connection),
        cmocka_unit_test(refused_connect_and_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
