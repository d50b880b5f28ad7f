/* Fuzz harness for the client engine as `mqttsim client --broker` runs it: a hostile broker's bytes. */
#include "tests/fuzz/wire.h"

#include "models/msg.h"
#include "models/session.h"

/*
 * The input is a program. Its first four bytes choose the client's settings
 * (protocol version, clean start, session expiry, keepalive, window, queue,
 * QoS 2 method, retransmission); then each step takes an operation byte
 * and its operands: the transport it asked for comes up, or goes down (FIN,
 * RST, abort, refused, timed out); the broker sends raw bytes, zero bytes,
 * or a well-formed packet built from the next bytes (CONNACK with any
 * return code and session present, SUBACK and UNSUBACK with any codes,
 * PUBLISH of short topics at any QoS, DUP flag and identifier, the acks
 * with any identifier and 5.0 reason, PINGRESP, DISCONNECT), split at a
 * chosen byte; the application publishes at QoS 0, 1 or 2, subscribes, or
 * disconnects and connects again; time passes and the timer fires; the
 * client crashes, with or without its session kept. This is the path a
 * socket's bytes take into the engine (models/sock.c: mq_session_on_bytes
 * on a stream).
 *
 * Invariants (fuzz_fail when one breaks):
 *   - every packet the client sends decodes (whole, at its own length) to
 *     the type, QoS, DUP flag and identifier it says it is; a PUBLISH at
 *     QoS 1 or 2 has an identifier other than 0;
 *   - the first packet on a connection is CONNECT; nothing is sent while
 *     no transport is up;
 *   - the engine's own invariants (mq_session_check) after every step;
 *   - memory: AddressSanitizer's leak check at exit sees every message the
 *     application published or was handed freed.
 */

#define MAX_STEPS 4000

typedef struct {
    wire_in in;
    mq_session *s;
    int64_t now, timer_at;
    bool asked;  /* io->open was called and not answered */
    bool up;     /* the transport is up */
    bool sent_any;
    uint8_t version;
} fc;

size_t fuzz_client_connects, fuzz_client_deliveries;

static uint8_t next(fc *z) { return wire_next(&z->in); }

static void c_send(void *ctx, const uint8_t *buf, size_t len, uint64_t zeros, const mq_view *v,
                   mq_msg *m, bool resend)
{
    (void)m;
    (void)resend;
    fc *z = ctx;
    FUZZ_CHECK(z->up);
    FUZZ_CHECK(z->sent_any || v->type == MQ_CONNECT);
    z->sent_any = true;
    wire_check_sent(&z->in, buf, len, zeros, v);
}

static void c_deliver(void *ctx, int64_t now, mq_msg *m, const mq_view *v)
{
    (void)now;
    (void)v;
    (void)ctx;
    FUZZ_CHECK(m);
    fuzz_client_deliveries++;
}

static void c_timer(void *ctx, int64_t at)
{
    fc *z = ctx;
    z->timer_at = at;
}

static void c_open(void *ctx, int64_t now)
{
    (void)now;
    fc *z = ctx;
    FUZZ_CHECK(!z->up);
    z->asked = true;
}

static void c_close(void *ctx, int64_t now, mq_close_cause why)
{
    (void)now;
    (void)why;
    fc *z = ctx;
    FUZZ_CHECK(z->up || z->asked);
    z->up = z->asked = false;
}

static void c_connected(void *ctx, bool present)
{
    (void)present;
    (void)ctx;
    fuzz_client_connects++;
}

static double c_random(void *ctx)
{
    fc *z = ctx;
    return next(z) / 256.0;
}

/* A packet a broker might send, from the next bytes into out; its length,
 * or 0 when the encoder refuses what was drawn. */
static size_t gen_packet(fc *z, uint8_t *out, size_t cap, char *name)
{
    mq_packet p;
    memset(&p, 0, sizeof p);
    switch (next(z) % 12) {
    case 0:
    case 1:
        p.type = MQ_CONNACK;
        p.session_present = next(z) & 1;
        p.reason = next(z) % 4 ? 0 : next(z);
        if (z->version == MQ_V5 && (next(z) & 1)) {
            p.props.has_receive_maximum = true;
            p.props.receive_maximum = (uint16_t)(1 + next(z) % 4);
        }
        break;
    case 2:
    case 3:
        p.type = next(z) & 1 ? MQ_UNSUBACK : MQ_SUBACK;
        p.id = (uint16_t)(next(z) % 4);
        p.n_codes = (uint8_t)(1 + next(z) % 3);
        for (uint8_t i = 0; i < p.n_codes; i++)
            p.codes[i] = next(z) % 4 ? next(z) % 3 : 0x80;
        break;
    case 4:
    case 5:
    case 6:
        p.type = MQ_PUBLISH;
        p.qos = next(z) % 3;
        p.id = (uint16_t)(next(z) % 5);
        p.dup = p.qos && (next(z) & 1);
        p.retain = next(z) & 1;
        p.topic.s = name;
        p.topic.len = wire_name(&z->in, name);
        p.payload_len = (uint32_t)next(z) * 8;
        break;
    case 7:
    case 8:
    case 9: {
        static const uint8_t acks[] = {MQ_PUBACK, MQ_PUBREC, MQ_PUBREL, MQ_PUBCOMP};
        p.type = acks[next(z) % 4];
        p.id = (uint16_t)(next(z) % 5);
        if (z->version == MQ_V5 && (next(z) & 1))
            p.reason = next(z) & 1 ? 0x80 : 0x10;
        break;
    }
    case 10:
        p.type = MQ_PINGRESP;
        break;
    default:
        p.type = MQ_DISCONNECT;
        break;
    }
    size_t used = 0;
    if (mq_codec_encode(&p, z->version, out, cap, &used) != MQ_OK)
        return 0;
    return used;
}

static void publish(fc *z)
{
    char topic[8];
    uint16_t n = wire_name(&z->in, topic);
    uint8_t qos = next(z) % 3;
    uint8_t head[4] = {next(z), next(z), next(z), next(z)};
    mq_msg *m = NULL;
    if (mq_msg_new(topic, n, head, sizeof head, 4 + (uint32_t)next(z) * 4, false, NULL, NULL,
                   &m) != 0)
        return; /* a wildcard in the topic */
    int rc = mq_session_publish(z->s, z->now, m, qos);
    FUZZ_CHECK(rc == 0 || rc == 1);
    mq_msg_unref(m);
}

static void subscribe(fc *z)
{
    char f[3][8];
    mq_sub subs[3];
    size_t n = 1 + next(z) % 3;
    for (size_t i = 0; i < n; i++) {
        subs[i].filter = f[i];
        subs[i].len = wire_name(&z->in, f[i]);
        subs[i].qos = next(z) % 3;
    }
    int rc = mq_session_subscribe(z->s, z->now, subs, n);
    FUZZ_CHECK(rc == 0 || rc == MQ_ERR_INVALID || rc == MQ_ERR_NOID);
}

int fuzz_client(const uint8_t *data, size_t size)
{
    fc *z = calloc(1, sizeof *z);
    FUZZ_CHECK(z);
    z->in = (wire_in){.d = data, .n = size};
    z->timer_at = MQ_NEVER;
    uint8_t c0 = next(z), c1 = next(z), c2 = next(z), c3 = next(z);
    z->version = c0 & 1 ? MQ_V5 : MQ_V311;
    mq_session_config cfg = {
        .role = MQ_ROLE_CLIENT,
        .version = z->version,
        .client_id = c0 & 2 ? "fuzz" : "",
        .max_inflight = c1 % 8,
        .max_queued = c2 % 16,
        .retry_interval = 200000000,
        .max_retries = (c3 & 3) ? -1 : 2,
        .qos2_method = c0 & 4 ? MQ_QOS2_B : MQ_QOS2_A,
        .transport = MQ_TRANSPORT_STREAM,
        .retransmit = c0 & 8 ? MQ_RETRANSMIT_TIMER : MQ_RETRANSMIT_RECONNECT,
        .keepalive_s = c3 >> 6,
        .clean_start = c0 & 16,
        .session_expiry_s = z->version == MQ_V5 && (c0 & 32) ? 10 : 0,
        .reconnect_jitter = c0 & 64 ? 0.5 : 0,
        .max_packet_size = c3 & 4 ? 64 + (uint32_t)(c3 & 0x38) * 8 : 0,
    };
    if (!cfg.clean_start && !cfg.client_id[0])
        cfg.client_id = "k"; /* a kept session needs an identifier */
    mq_session_io io = {.ctx = z, .send = c_send, .deliver = c_deliver, .timer = c_timer,
                        .open = c_open, .close = c_close, .connected = c_connected,
                        .random = c_random};
    z->s = mq_session_new(&cfg, &io);
    FUZZ_CHECK(z->s);
    FUZZ_CHECK(mq_session_connect(z->s, z->now) == 0);

    uint8_t buf[4096];
    char name[8];
    for (int step = 0; step < MAX_STEPS && z->in.pos < z->in.n; step++) {
        switch (next(z) % 12) {
        case 0: /* the transport asked for comes up */
            if (z->asked && !z->up) {
                z->asked = false;
                z->up = true;
                z->sent_any = false;
                mq_session_on_up(z->s, z->now);
            }
            break;
        case 1: { /* it goes down, or could not be opened */
            static const mq_down_cause why[] = {MQ_DOWN_FIN, MQ_DOWN_RST, MQ_DOWN_ABORT,
                                                MQ_DOWN_REFUSED, MQ_DOWN_TIMEOUT};
            mq_down_cause c = why[next(z) % 5];
            if (z->up && (c == MQ_DOWN_FIN || c == MQ_DOWN_RST || c == MQ_DOWN_ABORT)) {
                z->up = false;
                mq_session_on_down(z->s, z->now, c);
            } else if (z->asked && (c == MQ_DOWN_REFUSED || c == MQ_DOWN_TIMEOUT)) {
                z->asked = false;
                mq_session_on_down(z->s, z->now, c);
            }
            break;
        }
        case 2: { /* raw bytes */
            size_t len = next(z);
            if (len > z->in.n - z->in.pos)
                len = z->in.n - z->in.pos;
            if (z->up && len)
                mq_session_on_bytes(z->s, z->now, z->in.d + z->in.pos, len);
            z->in.pos += len;
            break;
        }
        case 3:
        case 4:
        case 5: { /* a packet, in two pieces */
            size_t len = gen_packet(z, buf, sizeof buf, name);
            size_t cut = len ? next(z) % (len + 1) : 0;
            if (z->up && len && cut)
                mq_session_on_bytes(z->s, z->now, buf, cut);
            if (z->up && len > cut)
                mq_session_on_bytes(z->s, z->now, buf + cut, len - cut);
            break;
        }
        case 6:
            if (z->up)
                mq_session_on_zeros(z->s, z->now, (uint64_t)next(z) * next(z));
            break;
        case 7:
            publish(z);
            break;
        case 8:
            subscribe(z);
            break;
        case 9: { /* time passes */
            int64_t until = z->now + (int64_t)next(z) * 100000000;
            for (int k = 0; k < 10000 && z->timer_at != MQ_NEVER && z->timer_at <= until; k++) {
                if (z->timer_at > z->now)
                    z->now = z->timer_at;
                z->timer_at = MQ_NEVER;
                mq_session_on_timer(z->s, z->now);
            }
            if (until > z->now)
                z->now = until;
            break;
        }
        case 10: /* the application disconnects, then connects again */
            if (next(z) & 1) {
                mq_session_disconnect(z->s, z->now);
                FUZZ_CHECK(!z->up);
            }
            FUZZ_CHECK(mq_session_connect(z->s, z->now) == 0);
            break;
        default: { /* the client crashes (its process: the transport vanishes) */
            if (next(z) & 1)
                mq_session_crash_keep(z->s, z->now);
            else
                mq_session_crash(z->s, z->now);
            z->up = z->asked = false; /* the host makes the transport vanish */
            FUZZ_CHECK(mq_session_connect(z->s, z->now) == 0);
            break;
        }
        }
        FUZZ_CHECK(mq_session_check(z->s));
    }
    mq_session_finish(z->s, z->now);
    mq_session_free(z->s);
    free(z->in.mat);
    free(z);
    return 0;
}
