/* Fuzz harness for the broker as `mqttsim broker --listen` runs it: hostile clients' bytes on up to four connections. */
#include "tests/fuzz/fuzz.h"

#include "models/broker.h"
#include "tests/fuzz/wire.h"

/*
 * The input is a program. Its first four bytes choose the broker's settings
 * (protocol version until a CONNECT says otherwise, QoS 2 method,
 * retransmission on a timer or at resumption, QoS 0 queueing, persistence,
 * window, queue and packet size limits); then each step takes an operation
 * byte and its operands: accept a connection, feed it raw bytes, feed it a
 * well-formed packet built from the next bytes (CONNECT with one of four
 * client ids, SUBSCRIBE and UNSUBSCRIBE of short filters, PUBLISH of short
 * topics at any QoS and identifier, the acks, PINGREQ, DISCONNECT), split
 * at a chosen byte so that it comes in two pieces, or zero bytes; break a
 * connection (FIN, RST, abort); let time pass and the timers fire; save;
 * restart. This is the path a socket's bytes take into the engine
 * (models/sock.c: mq_broker_accept on a stream, mq_broker_conn_bytes).
 *
 * Invariants (fuzz_fail when one breaks):
 *   - every packet the broker sends decodes (whole, at its own length, under
 *     3.1.1 or 5.0) to the type, QoS, DUP flag and identifier it says it
 *     is; a PUBLISH at QoS 1 or 2 has an identifier other than 0;
 *   - the first packet on a connection is CONNACK; nothing is sent on a
 *     connection after its close, or after the host took it down;
 *   - the broker's connection count matches the connections open;
 *   - memory: AddressSanitizer's leak check at exit (libFuzzer and
 *     `make asan`) sees every message, session and context freed by
 *     mq_broker_free.
 */

#define SLOTS 4
#define MAX_STEPS 4000

typedef struct fz fz;

typedef struct {
    fz *z;
    mq_session *s;    /* NULL: no connection in this slot */
    int64_t timer_at; /* MQ_NEVER: none */
    bool sent_any;
    uint8_t version;  /* the last generated CONNECT's, 0 before one */
} slot;

struct fz {
    wire_in in;
    mq_broker *b;
    int64_t now, broker_timer;
    slot sl[SLOTS];
    size_t open;
};

size_t fuzz_broker_connacks, fuzz_broker_publishes;

static uint8_t next(fz *z) { return wire_next(&z->in); }

/* ---- the connections' host ---- */

static void c_send(void *ctx, const uint8_t *buf, size_t len, uint64_t zeros, const mq_view *v,
                   mq_msg *m, bool resend)
{
    (void)m;
    (void)resend;
    slot *x = ctx;
    fz *z = x->z;
    FUZZ_CHECK(x->s); /* nothing after a close or a down */
    FUZZ_CHECK(x->sent_any || v->type == MQ_CONNACK);
    x->sent_any = true;
    if (v->type == MQ_CONNACK && v->reason == 0)
        fuzz_broker_connacks++;
    if (v->type == MQ_PUBLISH)
        fuzz_broker_publishes++;
    wire_check_sent(&z->in, buf, len, zeros, v);
}

static void c_timer(void *ctx, int64_t at)
{
    slot *x = ctx;
    x->timer_at = at;
}

static void c_close(void *ctx, int64_t now, mq_close_cause why)
{
    (void)now;
    (void)why;
    slot *x = ctx;
    FUZZ_CHECK(x->s);
    x->s = NULL;
    x->timer_at = MQ_NEVER;
    x->z->open--;
}

static void b_timer(void *ctx, int64_t at)
{
    fz *z = ctx;
    z->broker_timer = at;
}

static void *b_bind(void *ctx, void *conn_ctx, int sess, const char *id, size_t len, bool present)
{
    (void)conn_ctx;
    (void)sess;
    (void)id;
    (void)len;
    (void)present;
    return ctx; /* drops are the broker's, as in models/sock.c */
}

/* ---- the clients' bytes ---- */

/* A well-formed packet from the next bytes into out; its length, or 0 when
 * the encoder refuses what was drawn (a wildcard in a topic, identifier 0). */
static size_t gen_packet(fz *z, slot *x, uint8_t *out, size_t cap, char names[][8])
{
    static const char *const ids[] = {"", "a", "b", "cc"};
    mq_packet p;
    memset(&p, 0, sizeof p);
    uint8_t ver = x->version ? x->version : (next(z) & 1 ? MQ_V5 : MQ_V311);
    switch (next(z) % 12) {
    case 0:
        p.type = MQ_CONNECT;
        ver = next(z) & 1 ? MQ_V5 : MQ_V311;
        p.version = ver;
        p.clean_start = next(z) & 1;
        p.keepalive = next(z) % 4;
        p.client_id.s = ids[next(z) % 4];
        p.client_id.len = (uint16_t)strlen(p.client_id.s);
        if (ver == MQ_V5 && (next(z) & 1)) {
            p.props.has_session_expiry = true;
            p.props.session_expiry = next(z) % 4;
        }
        if (ver == MQ_V5 && (next(z) & 1)) {
            p.props.has_receive_maximum = true;
            p.props.receive_maximum = (uint16_t)(1 + next(z) % 4);
        }
        x->version = ver;
        break;
    case 1:
    case 2:
        p.type = next(z) & 1 ? MQ_UNSUBSCRIBE : MQ_SUBSCRIBE;
        p.id = wire_next16(&z->in);
        p.n_topics = (uint8_t)(1 + next(z) % 3);
        for (uint8_t i = 0; i < p.n_topics; i++) {
            p.topics[i].filter.s = names[i];
            p.topics[i].filter.len = wire_name(&z->in, names[i]);
            p.topics[i].options = next(z) % 3;
        }
        break;
    case 3:
    case 4:
    case 5:
        p.type = MQ_PUBLISH;
        p.qos = next(z) % 3;
        p.id = (uint16_t)(next(z) % 5);
        p.dup = p.qos && (next(z) & 1);
        p.retain = next(z) & 1;
        p.topic.s = names[0];
        p.topic.len = wire_name(&z->in, names[0]);
        p.payload_len = (uint32_t)next(z) * 8;
        break;
    case 6:
    case 7:
    case 8:
    case 9: {
        static const uint8_t acks[] = {MQ_PUBACK, MQ_PUBREC, MQ_PUBREL, MQ_PUBCOMP};
        p.type = acks[next(z) % 4];
        p.id = (uint16_t)(next(z) % 5);
        if (ver == MQ_V5 && (next(z) & 1))
            p.reason = next(z) & 1 ? 0x80 : 0x10;
        break;
    }
    case 10:
        p.type = MQ_PINGREQ;
        break;
    default:
        p.type = MQ_DISCONNECT;
        break;
    }
    size_t used = 0;
    if (mq_codec_encode(&p, ver, out, cap, &used) != MQ_OK)
        return 0;
    return used;
}

/* ---- time ---- */

/* Fires the earliest timer due by `until`; false when none is. */
static bool fire_one(fz *z, int64_t until)
{
    int best = -1;
    int64_t at = z->broker_timer;
    for (int i = 0; i < SLOTS; i++)
        if (z->sl[i].s && z->sl[i].timer_at < at) {
            at = z->sl[i].timer_at;
            best = i;
        }
    if (at == MQ_NEVER || at > until)
        return false;
    if (at > z->now)
        z->now = at;
    if (best < 0) {
        z->broker_timer = MQ_NEVER;
        mq_broker_on_timer(z->b, z->now);
    } else {
        z->sl[best].timer_at = MQ_NEVER;
        mq_broker_conn_timer(z->b, z->sl[best].s, z->now);
    }
    return true;
}

static void check_open(const fz *z)
{
    size_t n = 0;
    for (int i = 0; i < SLOTS; i++)
        n += z->sl[i].s != NULL;
    FUZZ_CHECK(n == z->open);
    FUZZ_CHECK(mq_broker_connections(z->b) == z->open);
}

int fuzz_broker(const uint8_t *data, size_t size)
{
    fz *z = calloc(1, sizeof *z);
    FUZZ_CHECK(z);
    z->in = (wire_in){.d = data, .n = size};
    z->broker_timer = MQ_NEVER;
    uint8_t c0 = next(z), c1 = next(z), c2 = next(z), c3 = next(z);
    mq_session_config cfg = {
        .role = MQ_ROLE_BROKER,
        .version = c0 & 1 ? MQ_V5 : MQ_V311,
        .max_inflight = c1 % 8,
        .max_queued = c2 % 16,
        .retry_interval = 200000000,
        .max_retries = (c3 & 3) ? -1 : 2,
        .qos2_method = c0 & 2 ? MQ_QOS2_B : MQ_QOS2_A,
        .retransmit = c0 & 4 ? MQ_RETRANSMIT_TIMER : MQ_RETRANSMIT_RECONNECT,
        .queue_qos0 = c0 & 8,
        .max_packet_size = c3 & 4 ? 64 + (uint32_t)c3 * 4 : 0,
    };
    mq_broker_io io = {.ctx = z, .timer = b_timer, .bind = b_bind};
    z->b = mq_broker_new(&cfg, &io);
    FUZZ_CHECK(z->b);
    static const mq_persist modes[] = {MQ_PERSIST_OFF, MQ_PERSIST_SAVES, MQ_PERSIST_EVERY_CHANGE};
    mq_broker_set_persistence(z->b, modes[(c0 >> 4) % 3]);
    for (int i = 0; i < SLOTS; i++)
        z->sl[i] = (slot){.z = z, .timer_at = MQ_NEVER};

    uint8_t buf[4096];
    char names[MQ_MAX_TOPICS][8];
    for (int step = 0; step < MAX_STEPS && z->in.pos < z->in.n; step++) {
        uint8_t op = next(z) % 10;
        slot *x = &z->sl[next(z) % SLOTS];
        switch (op) {
        case 0: /* accept */
            if (!x->s) {
                mq_session_io cio = {.ctx = x, .send = c_send, .timer = c_timer,
                                     .close = c_close};
                x->sent_any = false;
                x->version = 0;
                x->timer_at = MQ_NEVER;
                x->s = mq_broker_accept(z->b, z->now, MQ_TRANSPORT_STREAM, &cio);
                FUZZ_CHECK(x->s);
                z->open++;
            }
            break;
        case 1: { /* raw bytes */
            size_t len = next(z);
            if (len > z->in.n - z->in.pos)
                len = z->in.n - z->in.pos;
            if (x->s && len)
                mq_broker_conn_bytes(z->b, x->s, z->now, z->in.d + z->in.pos, len);
            z->in.pos += len;
            break;
        }
        case 2:
        case 3:
        case 4: { /* a packet, in two pieces */
            if (!x->s)
                break;
            size_t len = gen_packet(z, x, buf, sizeof buf, names);
            size_t cut = len ? next(z) % (len + 1) : 0;
            if (len && cut)
                mq_broker_conn_bytes(z->b, x->s, z->now, buf, cut);
            if (len > cut && x->s)
                mq_broker_conn_bytes(z->b, x->s, z->now, buf + cut, len - cut);
            break;
        }
        case 5: /* zero bytes: a payload, or garbage */
            if (x->s)
                mq_broker_conn_zeros(z->b, x->s, z->now, (uint64_t)next(z) * next(z));
            break;
        case 6: /* the transport breaks */
            if (x->s) {
                static const mq_down_cause why[] = {MQ_DOWN_FIN, MQ_DOWN_RST, MQ_DOWN_ABORT};
                mq_session *s = x->s;
                x->s = NULL;
                x->timer_at = MQ_NEVER;
                z->open--;
                mq_broker_conn_down(z->b, s, z->now, why[next(z) % 3]);
            }
            break;
        case 7: { /* time passes */
            int64_t until = z->now + (int64_t)next(z) * 100000000;
            for (int k = 0; k < 10000 && fire_one(z, until); k++)
                ;
            if (until > z->now)
                z->now = until;
            break;
        }
        case 8:
            FUZZ_CHECK(mq_broker_save(z->b, z->now) == 0);
            break;
        default:
            if (next(z) % 4 == 0)
                FUZZ_CHECK(mq_broker_restart(z->b, z->now) == 0);
            break;
        }
        check_open(z);
    }
    mq_broker_finish(z->b, z->now);
    mq_broker_free(z->b);
    free(z->in.mat);
    free(z);
    return 0;
}
