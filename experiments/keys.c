/* The config key table (keys.h): one row per key, and the help and docs printed from it. */
#include "experiments/keys.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "experiments/config.h"

/* ------------------------------------------------------------ row helpers -- */

/* Where a field is, checked at compile time: the field must have the size of
 * the C type the row names (a wrong row does not build). */
#define SIZE_IS(T, m, n) (0 * sizeof(char[sizeof(((T *)0)->m) == (n) ? 1 : -1]))
#define FIELD(A, T, m, C, n) .at = (A), .ctype = (C), .off = offsetof(T, m) + SIZE_IS(T, m, n)

#define FIELD_(A, T, ...) FIELD(A, T, __VA_ARGS__)
#define CFG(...) FIELD_(EXP_AT_CONFIG, exp_config, __VA_ARGS__)
#define CLI(...) FIELD_(EXP_AT_CLIENT, exp_client, __VA_ARGS__)
#define SUB(...) FIELD_(EXP_AT_SUB, exp_sub, __VA_ARGS__)

#define TCP(s, ...) .slot = (s), FIELD_(EXP_AT_TCP, exp_tcp, __VA_ARGS__)

#define U8(m) m, EXP_C_U8, 1
#define U16(m) m, EXP_C_U16, 2
#define U32(m) m, EXP_C_U32, 4
#define I32(m) m, EXP_C_I32, 4
#define U64(m) m, EXP_C_U64, 8
#define DBL(m) m, EXP_C_DOUBLE, 8
#define ENUM(m) m, EXP_C_ENUM, sizeof(int)
#define STR(m) m, EXP_C_STR, sizeof(char *)
#define BOOL(m) m, EXP_C_BOOL, sizeof(bool)
#define NS(m) m, EXP_C_NS, 8
#define SCHED(m) m, EXP_C_SCHED, sizeof(exp_sched)
/* A double time whose nanoseconds also go to field n. */
#define NS_TOO(T, n) .off_ns = offsetof(T, n) + SIZE_IS(T, n, 8)

#define LINK(s) .at = EXP_AT_LINK, .slot = (s)

/* The bounds that keep every derived nanosecond count inside int64: seconds
 * up to 1e9 (1e18 ns), milliseconds up to 1e9 (1e15 ns). */
#define MAX_S 1e9
#define MAX_MS 1e9
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

static const char P_WHAT[] = "a probability, a number from 0 to 1";
static const char MS_WHAT[] = "a number of milliseconds from 0 to 1e9";
static const char MS_POS[] = "a number of milliseconds > 0 and <= 1e9";
static const char S_WHAT[] = "a number of seconds from 0 to 1e9";
static const char S_POS[] = "a number of seconds > 0 and <= 1e9";
static const char QOS_WHAT[] = "an integer 0, 1 or 2";
static const char RETRIES_WHAT[] = "an integer >= -1 (-1: unlimited)";
static const char COUNT_WHAT[] = "an integer from 1 to " STRINGIFY(EXP_MAX_COUNT);

static const char *const QOS2_METHODS[] = {"A", "B", NULL};
static const char *const ROLES[] = {"publisher", "subscriber", NULL};
static const char *const ARRIVALS[] = {"periodic", "poisson", NULL};
static const char *const LOSS_MODELS[] = {"none", "bernoulli", "gilbert_elliott", NULL};
static const char *const TRANSPORTS[] = {"stream", "datagram", NULL};
static const char *const RETRANSMITS[] = {"reconnect", "timer", NULL};
static const char *const RTO_FORMULAS[] = {"linux", "rfc6298", NULL};
static const char *const RESET_KINDS[] = {"rst", "silent", NULL};
/* A schedule's entries: [time, duration] pairs, or times. */
static const char *const WINDOW_T_DOWN[] = {"t_s", "down_s", NULL};
static const char *const WINDOW_OUTAGE[] = {"start_s", "duration_s", NULL};
static const char *const TIMES[] = {"t_s", NULL};
static const char *const DISTS[] = {"constant", "uniform", "exponential", "normal",
                                    "lognormal", "pareto", NULL};

/* The name tables are indexed by the C enums. */
_Static_assert(SIM_LOSS_NONE == 0 && SIM_LOSS_BERNOULLI == 1 && SIM_LOSS_GILBERT_ELLIOTT == 2,
               "LOSS_MODELS order");
_Static_assert(SIM_DIST_CONSTANT == 0 && SIM_DIST_UNIFORM == 1 && SIM_DIST_EXPONENTIAL == 2 &&
                   SIM_DIST_NORMAL == 3 && SIM_DIST_LOGNORMAL == 4 && SIM_DIST_PARETO == 5,
               "DISTS order");
_Static_assert(MQ_QOS2_A == 0 && MQ_QOS2_B == 1, "QOS2_METHODS order");
_Static_assert(EXP_PUBLISHER == 0 && EXP_SUBSCRIBER == 1 && EXP_PERIODIC == 0 &&
                   EXP_POISSON == 1, "ROLES and ARRIVALS order");
_Static_assert(EXP_STREAM == 0 && EXP_DATAGRAM == 1 && EXP_RECONNECT == 0 && EXP_TIMER == 1 &&
                   EXP_RTO_LINUX == 0 && EXP_RTO_RFC6298 == 1 && EXP_RESET_RST == 0 &&
                   EXP_RESET_SILENT == 1, "TRANSPORTS, RETRANSMITS, RTO_FORMULAS, RESET_KINDS order");
_Static_assert(sizeof(mq_qos2_method) == sizeof(int) && sizeof(exp_role) == sizeof(int) &&
                   sizeof(exp_arrival) == sizeof(int) && sizeof(exp_transport) == sizeof(int) &&
                   sizeof(exp_retransmit) == sizeof(int) && sizeof(exp_rto_formula) == sizeof(int) &&
                   sizeof(exp_reset_kind) == sizeof(int), "enums are stored as int");

#define BOTH (EXP_F_PUB | EXP_F_SUB)
#define WAVE2 EXP_F_PENDING

/* ------------------------------------------------------------------ table -- */

const exp_key exp_keys[] = {
    /* The experiment */
    {.path = "name", .type = EXP_K_STRING, .code = EXP_CODE_NAME, CFG(STR(name)),
     .what = "a name: a non-empty string of at most 200 bytes, without '/' or control "
             "characters, not \".\" or \"..\"",
     .def_doc = "the file's base name without `.json`",
     .doc = "the experiment's name; results go to results/<name>"},
    {.path = "seed", .type = EXP_K_INT, .lo = 0, .hi = (double)EXP_SEED_MAX, .def = 1,
     CFG(U64(seed)), .what = "an integer seed from 0 to 9007199254740991",
     .doc = "base seed of every random stream; written into every result file"},
    {.path = "replications", .type = EXP_K_INT, .lo = 1, .hi = EXP_MAX_COUNT, .def = 1,
     CFG(U32(replications)), .what = COUNT_WHAT,
     .doc = "independent replications; with more than one, a 95% Student-t CI"},
    {.path = "duration_s", .type = EXP_K_S, .flags = EXP_F_LO_OPEN | EXP_F_NS_TOO, .lo = 0,
     .hi = MAX_S, .def = 10, CFG(DBL(duration_s)), NS_TOO(exp_config, duration_ns),
     .what = "a number of seconds > 0 and <= 1e9",
     .doc = "publishing time, from when every client has connected and subscribed"},
    {.path = "drain_s", .type = EXP_K_S, .flags = EXP_F_NS_TOO, .lo = 0, .hi = MAX_S,
     .def = 60, CFG(DBL(drain_s)), NS_TOO(exp_config, drain_ns),
     .what = "a number of seconds from 0 to 1e9",
     .doc = "time after publishing stops for flows to finish; what is left is in_flight_at_end"},
    {.path = "mqtt_version", .type = EXP_K_INT, .lo = 4, .hi = 5, .def = 4,
     CFG(U8(mqtt_version)), .what = "4 (MQTT 3.1.1) or 5 (MQTT 5.0)",
     .doc = "the wire format: 4 = MQTT 3.1.1, 5 = MQTT 5.0"},
    {.path = "transport", .type = EXP_K_ENUM, .names = TRANSPORTS,
     .def = EXP_STREAM, CFG(ENUM(transport)), .what = "a transport",
     .doc = "\"stream\": MQTT over the TCP model, as deployed; \"datagram\": each packet one "
            "frame on the lossy link (MQTT-SN-like)"},

    /* The broker */
    {.path = "broker", .type = EXP_K_OBJECT, .what = "an object",
     .doc = "the broker's settings; its sessions' settings are every client's defaults"},
    {.path = "broker.qos2_method", .type = EXP_K_ENUM, .names = QOS2_METHODS, .def = MQ_QOS2_A,
     CFG(ENUM(qos2_method)), .what = "a QoS 2 method",
     .doc = "\"A\": store at PUBLISH, pass on at PUBREL; \"B\": pass on at PUBLISH"},
    {.path = "broker.max_inflight", .type = EXP_K_INT, .lo = 0, .hi = 65535, .def = 20,
     CFG(U32(max_inflight)), .what = "an integer from 0 to 65535 (0: unlimited)",
     .doc = "QoS>0 messages in flight per session and direction (Mosquitto 2.0's default)"},
    {.path = "broker.max_queued", .type = EXP_K_INT, .lo = 0, .hi = 4294967295.0, .def = 1000,
     CFG(U32(max_queued)), .what = "an integer from 0 to 4294967295 (0: unlimited)",
     .doc = "messages waiting behind them; one more is dropped as queue_full (Mosquitto 2.0's)"},
    {.path = "broker.retry_interval_ms", .type = EXP_K_MS, .flags = EXP_F_LO_OPEN | EXP_F_NS_TOO,
     .lo = 0, .hi = MAX_MS, .def = 200, CFG(DBL(retry_interval_ms)),
     NS_TOO(exp_config, retry_interval_ns), .what = MS_POS,
     .doc = "resend period of unacknowledged PUBLISH (DUP=1) and PUBREL"},
    {.path = "broker.max_retries", .type = EXP_K_INT, .lo = -1, .hi = INT32_MAX, .def = -1,
     CFG(I32(max_retries)), .what = RETRIES_WHAT,
     .doc = "resends before giving up (retries_exhausted); -1 = never"},
    {.path = "broker.retransmit", .type = EXP_K_ENUM,
     .flags = EXP_F_HAS | EXP_F_NODEF | EXP_F_IF_GIVEN, .names = RETRANSMITS,
     CFG(ENUM(retransmit)),
     .off_has = offsetof(exp_config, has_retransmit), .what = "a retransmission rule",
     .def_doc = "by each connection's transport: \"reconnect\" on stream, \"timer\" on datagram",
     .doc = "\"reconnect\": resend unacknowledged PUBLISH and PUBREL only when a session "
            "resumes; \"timer\": also every retry_interval_ms while connected"},
    {.path = "broker.persistence", .type = EXP_K_BOOL, .def = 0,
     CFG(BOOL(persistence)), .what = "true or false",
     .doc = "true: kept sessions, their subscriptions and messages survive a restart as of the "
            "last save (Mosquitto's default: false)"},
    {.path = "broker.autosave_interval_s", .type = EXP_K_S, .lo = 0, .hi = MAX_S,
     .def = 1800, CFG(NS(autosave_interval_ns)),
     .what = "a number of seconds from 0 to 1e9 (0: on every change)",
     .doc = "how often persistent state is saved, from the broker's start and from each restart "
            "(Mosquitto 2.0's default); 0: after every change, so a restart loses nothing kept"},
    {.path = "broker.queue_qos0_messages", .type = EXP_K_BOOL, .def = 0,
     CFG(BOOL(queue_qos0_messages)), .what = "true or false",
     .doc = "also queue QoS 0 messages for offline subscribers with kept sessions (Mosquitto: false)"},
    {.path = "broker.restarts", .type = EXP_K_SCHEDULE, .names = WINDOW_T_DOWN,
     CFG(SCHED(restarts)),
     .what = "[], a list of [t_s, down_s] pairs, or {\"mtbf_s\": ..., \"down_s\": ...}",
     .doc = "broker crash and restart: down at t_s, back after down_s (every client on stream)"},
    {.path = "broker.restarts.mtbf_s", .type = EXP_K_S, .flags = EXP_F_REQUIRED | EXP_F_LO_OPEN,
     .lo = 0, .hi = MAX_S, .what = S_POS, .missing = S_POS,
     .doc = "random restarts: mean time from one restart's end to the next (exponential)"},
    {.path = "broker.restarts.down_s", .type = EXP_K_S, .flags = EXP_F_REQUIRED, .lo = 0,
     .hi = MAX_S, .what = S_WHAT, .missing = S_WHAT, .doc = "random restarts: time down"},

    /* Links: these keys also sit in link.up, link.down, clients.N.link and its up
     * and down (see config.c for how the layers merge). */
    {.path = "link", .type = EXP_K_OBJECT, .code = EXP_CODE_LINK, .what = "an object",
     .doc = "every client's connection, both directions; layers below"},
    {.path = "link.loss", .type = EXP_K_OBJECT, .what = "an object",
     .doc = "the loss model and its parameters"},
    {.path = "link.loss.model", .type = EXP_K_ENUM, .names = LOSS_MODELS, .def = SIM_LOSS_NONE,
     LINK(EXP_LS_MODEL), .what = "a loss model",
     .doc = "\"none\", \"bernoulli\" {p}, \"gilbert_elliott\" {p_gb, p_bg, loss_good, loss_bad}"},
    {.path = "link.loss.p", .type = EXP_K_NUM, .flags = EXP_F_NODEF, .lo = 0, .hi = 1,
     LINK(EXP_LS_P), .what = P_WHAT, .def_doc = "(required by bernoulli)",
     .doc = "bernoulli: each frame is lost with probability p"},
    {.path = "link.loss.p_gb", .type = EXP_K_NUM, .flags = EXP_F_NODEF, .lo = 0, .hi = 1,
     LINK(EXP_LS_P_GB), .what = P_WHAT, .def_doc = "(required by gilbert_elliott)",
     .doc = "gilbert_elliott: probability of going from the good to the bad state, per frame"},
    {.path = "link.loss.p_bg", .type = EXP_K_NUM, .flags = EXP_F_NODEF, .lo = 0, .hi = 1,
     LINK(EXP_LS_P_BG), .what = P_WHAT, .def_doc = "(required by gilbert_elliott)",
     .doc = "gilbert_elliott: probability of going from the bad to the good state"},
    {.path = "link.loss.loss_good", .type = EXP_K_NUM, .flags = EXP_F_NODEF, .lo = 0, .hi = 1,
     LINK(EXP_LS_LOSS_GOOD), .what = P_WHAT, .def_doc = "0 (gilbert_elliott)",
     .doc = "gilbert_elliott: loss probability in the good state"},
    {.path = "link.loss.loss_bad", .type = EXP_K_NUM, .flags = EXP_F_NODEF, .lo = 0, .hi = 1,
     LINK(EXP_LS_LOSS_BAD), .what = P_WHAT, .def_doc = "1 (gilbert_elliott)",
     .doc = "gilbert_elliott: loss probability in the bad state"},
    {.path = "link.delay", .type = EXP_K_OBJECT, .what = "an object",
     .doc = "the one-way delay distribution and its parameters"},
    {.path = "link.delay.dist", .type = EXP_K_ENUM, .names = DISTS, .def = SIM_DIST_CONSTANT,
     LINK(EXP_LS_DIST), .what = "a delay distribution",
     .doc = "constant {ms}, uniform {min_ms, max_ms}, exponential {mean_ms}, normal "
            "{mean_ms, sd_ms}, lognormal {mean_ms, sd_ms}, pareto {scale_ms, shape}"},
    {.path = "link.delay.ms", .type = EXP_K_NUM, .lo = 0, .hi = MAX_MS, .def = 0,
     LINK(EXP_LS_MS), .what = MS_WHAT, .doc = "constant: the delay"},
    {.path = "link.delay.min_ms", .type = EXP_K_NUM, .flags = EXP_F_NODEF, .lo = 0, .hi = MAX_MS,
     LINK(EXP_LS_MIN_MS), .what = MS_WHAT, .def_doc = "(required by uniform)",
     .doc = "uniform: the least delay"},
    {.path = "link.delay.max_ms", .type = EXP_K_NUM, .flags = EXP_F_NODEF, .lo = 0, .hi = MAX_MS,
     LINK(EXP_LS_MAX_MS), .what = MS_WHAT, .def_doc = "(required by uniform)",
     .doc = "uniform: the greatest delay (>= min_ms)"},
    {.path = "link.delay.mean_ms", .type = EXP_K_NUM, .flags = EXP_F_NODEF, .lo = 0,
     .hi = MAX_MS, LINK(EXP_LS_MEAN_MS), .what = MS_WHAT,
     .def_doc = "(required by exponential, normal, lognormal)",
     .doc = "the mean (lognormal: its own mean, > 0)"},
    {.path = "link.delay.sd_ms", .type = EXP_K_NUM, .flags = EXP_F_NODEF, .lo = 0, .hi = MAX_MS,
     LINK(EXP_LS_SD_MS), .what = MS_WHAT, .def_doc = "(required by normal, lognormal)",
     .doc = "the standard deviation (normal: before truncation at 0)"},
    {.path = "link.delay.scale_ms", .type = EXP_K_NUM, .flags = EXP_F_NODEF | EXP_F_LO_OPEN,
     .lo = 0, .hi = MAX_MS, LINK(EXP_LS_SCALE_MS), .what = MS_POS,
     .def_doc = "(required by pareto)", .doc = "pareto: the scale (the least delay)"},
    {.path = "link.delay.shape", .type = EXP_K_NUM, .flags = EXP_F_NODEF | EXP_F_LO_OPEN,
     .lo = 0, .hi = 1e6, LINK(EXP_LS_SHAPE), .what = "a number > 0 and <= 1e6",
     .def_doc = "(required by pareto)", .doc = "pareto: the shape (tail index)"},
    {.path = "link.bandwidth_bps", .type = EXP_K_INT, .lo = 0, .hi = (double)EXP_SEED_MAX,
     .def = 0, LINK(EXP_LS_BANDWIDTH),
     .what = "an integer number of bits per second >= 0 (0: unlimited)",
     .doc = "serialisation of bytes*8/bps behind earlier frames"},
    {.path = "link.reorder", .type = EXP_K_BOOL, .def = 0, LINK(EXP_LS_REORDER),
     .what = "true or false",
     .doc = "false: frames never overtake earlier ones; true: jitter may reorder them"},
    {.path = "link.outages", .type = EXP_K_SCHEDULE, .flags = EXP_F_LO_OPEN | EXP_F_MERGE,
     .names = WINDOW_OUTAGE, LINK(EXP_LS_OUTAGES),
     .what = "[], a list of [start_s, duration_s] pairs, or {\"mtbf_s\": ..., \"mttr_s\": ...}",
     .doc = "the direction is down: every frame sent is lost; a layer's outages replace the "
            "lower one's"},
    {.path = "link.outages.mtbf_s", .type = EXP_K_S, .flags = EXP_F_REQUIRED | EXP_F_LO_OPEN,
     .lo = 0, .hi = MAX_S, .what = S_POS, .missing = S_POS,
     .doc = "random outages: mean time from one outage's end to the next (exponential)"},
    {.path = "link.outages.mttr_s", .type = EXP_K_S, .flags = EXP_F_REQUIRED | EXP_F_LO_OPEN,
     .lo = 0, .hi = MAX_S, .what = S_POS, .missing = S_POS,
     .doc = "random outages: mean duration (exponential)"},
    {.path = "link.up", .type = EXP_K_OBJECT, .flags = EXP_F_TOP_LINK | EXP_F_DIR,
     .mount = "link", .what = "an object",
     .doc = "client to broker: a link's keys but up/down, over the link's"},
    {.path = "link.down", .type = EXP_K_OBJECT, .flags = EXP_F_TOP_LINK | EXP_F_DIR,
     .mount = "link", .what = "an object",
     .doc = "broker to client: likewise"},

    /* TCP (the stream transport's model); clients.N.tcp merges over it key by key */
    {.path = "tcp", .type = EXP_K_OBJECT, .code = EXP_CODE_TCP,
     .what = "an object", .doc = "the TCP model of every stream connection (Linux's defaults)"},
    {.path = "tcp.mss", .type = EXP_K_INT, .lo = 536, .hi = 65495, .def = 1460,
     TCP(EXP_TS_MSS, U32(mss)), .what = "an integer number of bytes from 536 to 65495",
     .doc = "most payload bytes per segment"},
    {.path = "tcp.rto_min_ms", .type = EXP_K_MS, .flags = EXP_F_LO_OPEN, .lo = 0,
     .hi = MAX_MS, .def = 200, TCP(EXP_TS_RTO_MIN, NS(rto_min_ns)), .what = MS_POS,
     .doc = "least retransmission timeout (Linux's TCP_RTO_MIN); at most rto_max_ms"},
    {.path = "tcp.rto_max_ms", .type = EXP_K_MS, .flags = EXP_F_LO_OPEN, .lo = 0,
     .hi = MAX_MS, .def = 120000, TCP(EXP_TS_RTO_MAX, NS(rto_max_ns)), .what = MS_POS,
     .doc = "greatest retransmission timeout (TCP_RTO_MAX)"},
    {.path = "tcp.rto_initial_ms", .type = EXP_K_MS, .flags = EXP_F_LO_OPEN, .lo = 0,
     .hi = MAX_MS, .def = 1000, TCP(EXP_TS_RTO_INITIAL, NS(rto_initial_ns)), .what = MS_POS,
     .doc = "timeout before the first RTT sample, SYN included (RFC 6298 2.1, TCP_TIMEOUT_INIT)"},
    {.path = "tcp.rto_formula", .type = EXP_K_ENUM, .names = RTO_FORMULAS,
     .def = EXP_RTO_LINUX, TCP(EXP_TS_RTO_FORMULA, ENUM(rto_formula)),
     .what = "an RTO formula",
     .doc = "\"linux\": SRTT + max(4 RTTVAR, rto_min) as tcp_set_rto computes it; "
            "\"rfc6298\": max(SRTT + 4 RTTVAR, rto_min) (RFC 6298 2.2-2.4)"},
    {.path = "tcp.retries2", .type = EXP_K_INT, .lo = 1, .hi = 255, .def = 15,
     TCP(EXP_TS_RETRIES2, U32(retries2)), .what = "an integer from 1 to 255",
     .doc = "consecutive RTO expiries before the connection aborts (tcp_retries2)"},
    {.path = "tcp.syn_retries", .type = EXP_K_INT, .lo = 1, .hi = 127, .def = 6,
     TCP(EXP_TS_SYN_RETRIES, U32(syn_retries)), .what = "an integer from 1 to 127",
     .doc = "SYN retransmissions before a connect fails (tcp_syn_retries)"},
    {.path = "tcp.user_timeout_ms", .type = EXP_K_MS, .lo = 0, .hi = MAX_MS,
     .def = 0, TCP(EXP_TS_USER_TIMEOUT, NS(user_timeout_ns)),
     .what = "a number of milliseconds from 0 to 1e9 (0: off)",
     .doc = "abort when sent data stays unacknowledged this long (TCP_USER_TIMEOUT)"},
    {.path = "tcp.delayed_ack_ms", .type = EXP_K_MS, .lo = 0, .hi = MAX_MS,
     .def = 0, TCP(EXP_TS_DELAYED_ACK, NS(delayed_ack_ns)),
     .what = "a number of milliseconds from 0 to 1e9 (0: at once)",
     .doc = "how long a lone ACK may wait for company"},
    {.path = "tcp.initial_cwnd", .type = EXP_K_INT, .lo = 1, .hi = 1000,
     .def = 10, TCP(EXP_TS_INITIAL_CWND, U32(initial_cwnd)), .what = "an integer from 1 to 1000",
     .doc = "initial congestion window, in segments (RFC 6928)"},

    /* Clients */
    {.path = "clients", .type = EXP_K_ARRAY, .code = EXP_CODE_CLIENTS, .flags = EXP_F_REQUIRED, .lo = 1, .hi = INFINITY,
     .what = "a non-empty array of client objects (publishers and subscribers)",
     .missing = "an array of client objects (publishers and subscribers)",
     .doc = "at least one publisher and one subscriber"},
    {.path = "clients.*", .type = EXP_K_OBJECT, .what = "a client object",
     .doc = "`count` identical clients"},
    {.path = "clients.*.role", .type = EXP_K_ENUM, .flags = EXP_F_REQUIRED | BOTH,
     .names = ROLES, CLI(ENUM(role)), .what = "a role",
     .missing = "\"publisher\" or \"subscriber\"", .doc = "what the client does"},
    {.path = "clients.*.count", .type = EXP_K_INT, .flags = BOTH, .lo = 1, .hi = EXP_MAX_COUNT,
     .def = 1, CLI(U32(count)), .what = COUNT_WHAT, .doc = "identical clients"},
    {.path = "clients.*.link", .type = EXP_K_OBJECT, .flags = BOTH | EXP_F_WRITE_LAST,
     .code = EXP_CODE_LINK,
     .mount = "link", .what = "an object",
     .doc = "the client's own link, over the top-level one (and its up/down)"},
    {.path = "clients.*.topic", .type = EXP_K_STRING, .flags = EXP_F_REQUIRED | EXP_F_PUB,
     .code = EXP_CODE_TOPIC, CLI(STR(topic)),
     .what = "a topic name (a non-empty string without '+' or '#')",
     .missing = "a topic name string", .doc = "the topic it publishes on"},
    {.path = "clients.*.qos", .type = EXP_K_INT, .flags = EXP_F_PUB, .lo = 0, .hi = 2, .def = 0,
     CLI(U8(qos)), .what = QOS_WHAT, .doc = "the QoS it publishes at"},
    {.path = "clients.*.rate_hz", .type = EXP_K_NUM, .flags = EXP_F_PUB | EXP_F_LO_OPEN,
     .code = EXP_CODE_RATE,
     .lo = 0, .hi = 1e9, .def = 10, CLI(DBL(rate_hz)),
     .what = "a rate in messages per second > 0 and <= 1e9",
     .doc = "messages per second (at least 1e-8: a longer period does not fit the clock)"},
    {.path = "clients.*.arrival", .type = EXP_K_ENUM, .flags = EXP_F_PUB, .names = ARRIVALS,
     .def = EXP_PERIODIC, CLI(ENUM(arrival)), .what = "an arrival process",
     .doc = "\"periodic\" (with a random phase) or \"poisson\""},
    {.path = "clients.*.payload_bytes", .type = EXP_K_INT, .flags = EXP_F_PUB, .lo = 0,
     .hi = 268435000, .def = 32, CLI(U32(payload_bytes)),
     .what = "an integer number of bytes from 0 to 268435000",
     .doc = "application payload of each message"},
    {.path = "clients.*.retry_interval_ms", .type = EXP_K_MS,
     .flags = BOTH | EXP_F_LO_OPEN | EXP_F_NS_TOO | EXP_F_SUB_OWN, .lo = 0, .hi = MAX_MS,
     .inherit = "broker.retry_interval_ms", CLI(DBL(retry_interval_ms)),
     NS_TOO(exp_client, retry_interval_ns), .what = MS_POS,
     .doc = "the client's own resend period (a subscriber's paces CONNECT and SUBSCRIBE)"},
    {.path = "clients.*.max_retries", .type = EXP_K_INT, .flags = BOTH | EXP_F_SUB_OWN,
     .lo = -1, .hi = INT32_MAX, .inherit = "broker.max_retries", CLI(I32(max_retries)),
     .what = RETRIES_WHAT, .doc = "the client's own resend limit"},
    {.path = "clients.*.subscribe", .type = EXP_K_ARRAY, .flags = EXP_F_REQUIRED | EXP_F_SUB,
     .code = EXP_CODE_SUBSCRIBE,
     .lo = 1, .hi = EXP_MAX_SUBS, .noun = "subscriptions",
     .what = "an array of 1 to 16 {\"filter\", \"qos\"} objects",
     .missing = "an array of 1 to 16 {\"filter\", \"qos\"} objects",
     .doc = "what it subscribes to, in one SUBSCRIBE"},
    {.path = "clients.*.subscribe.*", .type = EXP_K_OBJECT, .what = "an object",
     .doc = "one subscription"},
    {.path = "clients.*.subscribe.*.filter", .type = EXP_K_STRING, .flags = EXP_F_REQUIRED,
     .code = EXP_CODE_FILTER, SUB(STR(filter)),
     .what = "a topic filter (non-empty; '+' alone in its level; '#' alone in the last level)",
     .missing = "a topic filter string", .doc = "a topic filter, with + and #"},
    {.path = "clients.*.subscribe.*.qos", .type = EXP_K_INT, .flags = EXP_F_REQUIRED, .lo = 0,
     .hi = 2, SUB(U8(qos)), .what = QOS_WHAT, .missing = QOS_WHAT,
     .doc = "the subscription's maximum QoS"},
    {.path = "clients.*.qos2_method", .type = EXP_K_ENUM, .flags = EXP_F_SUB | EXP_F_HAS,
     .names = QOS2_METHODS, .inherit = "broker.qos2_method", CLI(ENUM(qos2_method)),
     .off_has = offsetof(exp_client, has_qos2_method), .what = "a QoS 2 method",
     .doc = "how the subscriber receives QoS 2"},
    {.path = "clients.*.transport", .type = EXP_K_ENUM, .flags = BOTH,
     .names = TRANSPORTS, .inherit = "transport", CLI(ENUM(transport)), .what = "a transport",
     .doc = "the client's connection"},
    {.path = "clients.*.tcp", .type = EXP_K_OBJECT, .flags = BOTH, .mount = "tcp",
     .code = EXP_CODE_TCP, .what = "an object",
     .doc = "the client's own TCP settings, over the top-level tcp key by key"},
    {.path = "clients.*.keepalive_s", .type = EXP_K_INT, .flags = BOTH, .lo = 0,
     .hi = 65535, .def = 60, CLI(U16(keepalive_s)),
     .what = "an integer number of seconds from 0 to 65535 (0: off)",
     .doc = "PINGREQ after this long without sending; the broker closes after 1.5 times it"},
    {.path = "clients.*.clean_start", .type = EXP_K_BOOL, .flags = BOTH, .def = 1,
     CLI(BOOL(clean_start)), .what = "true or false",
     .doc = "true: a new session at every connect (Paho's and mosquitto_pub's default)"},
    {.path = "clients.*.session_expiry_s", .type = EXP_K_INT, .flags = BOTH, .lo = 0,
     .hi = 4294967295.0, .def = 0, .code = EXP_CODE_V5_ONLY, CLI(U32(session_expiry_s)),
     .what = "an integer number of seconds from 0 to 4294967295",
     .doc = "MQTT 5.0 only: how long a kept session outlives its connection (0: not at all)"},
    {.path = "clients.*.reconnect", .type = EXP_K_OBJECT, .flags = BOTH,
     .code = EXP_CODE_RECONNECT, .what = "an object",
     .doc = "backoff after a close (Paho C's: 1 s doubling to 60 s)"},
    {.path = "clients.*.reconnect.initial_ms", .type = EXP_K_MS, .flags = EXP_F_LO_OPEN,
     .lo = 0, .hi = MAX_MS, .def = 1000, CLI(NS(reconnect.initial_ns)), .what = MS_POS,
     .doc = "the first wait; at most max_ms"},
    {.path = "clients.*.reconnect.max_ms", .type = EXP_K_MS, .flags = EXP_F_LO_OPEN,
     .lo = 0, .hi = MAX_MS, .def = 60000, CLI(NS(reconnect.max_ns)), .what = MS_POS,
     .doc = "the longest wait"},
    {.path = "clients.*.reconnect.jitter", .type = EXP_K_NUM, .lo = 0, .hi = 1,
     .def = 0, CLI(DBL(reconnect.jitter)), .what = "a fraction from 0 to 1",
     .doc = "each wait is multiplied by a uniform factor in [1 - jitter, 1 + jitter]"},
    {.path = "clients.*.connect_timeout_s", .type = EXP_K_S,
     .flags = BOTH | EXP_F_LO_OPEN, .lo = 0, .hi = MAX_S, .def = 30,
     CLI(NS(connect_timeout_ns)), .what = S_POS,
     .doc = "give up a connect without CONNACK after this long, then back off (Paho C's)"},
    {.path = "clients.*.retransmit", .type = EXP_K_ENUM,
     .flags = BOTH | EXP_F_HAS | EXP_F_NODEF, .names = RETRANSMITS,
     CLI(ENUM(retransmit)), .off_has = offsetof(exp_client, has_retransmit),
     .what = "a retransmission rule", .def_doc = "`broker.retransmit`, else by transport",
     .doc = "the client's own sessions' rule"},
    {.path = "clients.*.max_inflight", .type = EXP_K_INT, .flags = BOTH, .lo = 0,
     .hi = 65535, .inherit = "broker.max_inflight", CLI(U32(max_inflight)),
     .what = "an integer from 0 to 65535 (0: unlimited)",
     .doc = "the client's own session's outgoing window (a publisher's messages in flight)"},
    {.path = "clients.*.max_queued", .type = EXP_K_INT, .flags = BOTH, .lo = 0,
     .hi = 4294967295.0, .inherit = "broker.max_queued", CLI(U32(max_queued)),
     .what = "an integer from 0 to 4294967295 (0: unlimited)",
     .doc = "the client's own queue behind that window (a publisher's, also while disconnected)"},
    {.path = "clients.*.client_persistence", .type = EXP_K_BOOL, .flags = BOTH,
     .def = 0, CLI(BOOL(client_persistence)), .what = "true or false",
     .doc = "true: the client's session and queued messages survive its crash (Paho's file persistence)"},
    {.path = "clients.*.resets", .type = EXP_K_SCHEDULE, .flags = BOTH, .names = TIMES,
     CLI(SCHED(resets)), .what = "[], a list of times t_s, or {\"mtbf_s\": ...}",
     .doc = "the connection is reset at these times (see reset_kind; stream only)"},
    {.path = "clients.*.resets.mtbf_s", .type = EXP_K_S, .flags = EXP_F_REQUIRED | EXP_F_LO_OPEN,
     .lo = 0, .hi = MAX_S, .what = S_POS, .missing = S_POS,
     .doc = "random resets: mean time between them (exponential)"},
    {.path = "clients.*.reset_kind", .type = EXP_K_ENUM, .flags = BOTH,
     .names = RESET_KINDS, .def = EXP_RESET_RST, CLI(ENUM(reset_kind)), .what = "a reset kind",
     .doc = "\"rst\": both ends reset at once; \"silent\": a NAT forgets the connection (the "
            "client learns at its next send, the broker's end is left half-open)"},
    {.path = "clients.*.crashes", .type = EXP_K_SCHEDULE, .flags = BOTH,
     .names = WINDOW_T_DOWN, CLI(SCHED(crashes)),
     .what = "[], a list of [t_s, down_s] pairs, or {\"mtbf_s\": ..., \"down_s\": ...}",
     .doc = "the client process crashes at t_s (its memory lost) and restarts after down_s "
            "(stream only)"},
    {.path = "clients.*.crashes.mtbf_s", .type = EXP_K_S, .flags = EXP_F_REQUIRED | EXP_F_LO_OPEN,
     .lo = 0, .hi = MAX_S, .what = S_POS, .missing = S_POS,
     .doc = "random crashes: mean time from one restart to the next crash (exponential)"},
    {.path = "clients.*.crashes.down_s", .type = EXP_K_S, .flags = EXP_F_REQUIRED, .lo = 0,
     .hi = MAX_S, .what = S_WHAT, .missing = S_WHAT, .doc = "random crashes: time down"},
};

const size_t exp_n_keys = sizeof exp_keys / sizeof exp_keys[0];

/* ---------------------------------------------------------------- lookups -- */

const exp_key *exp_key_find(const char *path)
{
    for (size_t i = 0; i < exp_n_keys; i++)
        if (strcmp(exp_keys[i].path, path) == 0)
            return &exp_keys[i];
    return NULL;
}

const char *exp_key_name(const exp_key *k)
{
    const char *dot = strrchr(k->path, '.');
    return dot ? dot + 1 : k->path;
}

/* Whether row k sits directly below the row whose path is parent ("" for the top). */
static bool is_child(const exp_key *k, const char *parent)
{
    size_t n = strlen(parent);
    if (n == 0)
        return strchr(k->path, '.') == NULL;
    return strncmp(k->path, parent, n) == 0 && k->path[n] == '.' &&
           strchr(k->path + n + 1, '.') == NULL;
}

size_t exp_key_children(const exp_key *node, const exp_key **out, size_t cap)
{
    const exp_key *base = node;
    if (node && node->mount) {
        base = exp_key_find(node->mount);
        assert(base);
    }
    bool dir = node && (node->flags & EXP_F_DIR);
    size_t n = 0;
    for (size_t i = 0; i < exp_n_keys; i++) {
        const exp_key *k = &exp_keys[i];
        if (!is_child(k, base ? base->path : "") || strcmp(exp_key_name(k), "*") == 0)
            continue;
        if (dir && (k->flags & EXP_F_TOP_LINK))
            continue;
        assert(n < cap);
        out[n++] = k;
    }
    return n;
}

const exp_key *exp_key_element(const exp_key *node)
{
    char path[128];
    snprintf(path, sizeof path, "%s.*", node->path);
    const exp_key *e = exp_key_find(path);
    assert(e);
    return e;
}

/* ------------------------------------------------------------------- docs -- */

/* A number as a person writes it: 1e9 for 1000000000, 0.5, 120000. */
static void plain_number(double d, char *buf, size_t n)
{
    if (d != 0 && fabs(d) >= 1e6 && d == floor(d)) {
        int e = (int)floor(log10(fabs(d)));
        double m = d / pow(10, e);
        if (m == floor(m)) {
            snprintf(buf, n, "%.0fe%d", m, e);
            return;
        }
    }
    snprintf(buf, n, "%.15g", d);
}

/* The default of k as the docs show it. */
static void default_text(const exp_key *k, char *buf, size_t n)
{
    char num[40];
    if (k->def_doc) {
        snprintf(buf, n, "%s", k->def_doc);
    } else if (k->inherit) {
        snprintf(buf, n, "`%s`", k->inherit);
    } else if (k->flags & EXP_F_REQUIRED) {
        snprintf(buf, n, "(required)");
    } else {
        switch (k->type) {
        case EXP_K_INT:
        case EXP_K_NUM:
        case EXP_K_MS:
        case EXP_K_S:
            plain_number(k->def, num, sizeof num);
            snprintf(buf, n, "%s", num);
            break;
        case EXP_K_BOOL:
            snprintf(buf, n, "%s", k->def ? "true" : "false");
            break;
        case EXP_K_ENUM:
            snprintf(buf, n, "\"%s\"", k->names[(int)k->def]);
            break;
        case EXP_K_SCHEDULE:
            snprintf(buf, n, "[]");
            break;
        default:
            snprintf(buf, n, "-");
            break;
        }
    }
}

/* The path as the docs show it: "clients.N.topic". */
static void doc_path(const exp_key *k, char *buf, size_t n)
{
    size_t j = 0;
    for (const char *p = k->path; *p && j + 2 < n; p++) {
        if (*p == '*') {
            buf[j++] = 'N';
        } else {
            buf[j++] = *p;
        }
    }
    buf[j] = '\0';
}

/* The "takes" text: what, with an enum's values. */
static void takes_text(const exp_key *k, char *buf, size_t n)
{
    size_t used = (size_t)snprintf(buf, n, "%s", k->what ? k->what : "");
    if (k->type == EXP_K_ENUM && used < n) {
        used += (size_t)snprintf(buf + used, n - used, ": ");
        for (int i = 0; k->names[i] && used < n; i++)
            used += (size_t)snprintf(buf + used, n - used, "%s\"%s\"", i ? ", " : "",
                                     k->names[i]);
    }
}

/* Escapes what markdown would read as markup in a table cell: '|', and '<'
 * where it could open an HTML tag ("<name>"). */
static void md_cell(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", f);
        else if (*s == '<' && (s[1] == '/' || ((s[1] | 32) >= 'a' && (s[1] | 32) <= 'z')))
            fputs("&lt;", f);
        else
            fputc(*s, f);
    }
}

void exp_key_print(FILE *f, bool markdown)
{
    char path[128], def[160], takes[400];
    if (markdown) {
        fputs("| key | default | takes | meaning |\n| --- | --- | --- | --- |\n", f);
    }
    for (size_t i = 0; i < exp_n_keys; i++) {
        const exp_key *k = &exp_keys[i];
        doc_path(k, path, sizeof path);
        default_text(k, def, sizeof def);
        takes_text(k, takes, sizeof takes);
        const char *pending = (k->flags & EXP_F_PENDING) ? " (not simulated yet)" : "";
        const char *role = "";
        if ((k->flags & (EXP_F_PUB | EXP_F_SUB)) == EXP_F_PUB)
            role = "publishers: ";
        else if ((k->flags & (EXP_F_PUB | EXP_F_SUB)) == EXP_F_SUB)
            role = "subscribers: ";
        if (markdown) {
            fprintf(f, "| `%s` | ", path);
            md_cell(f, def);
            fputs(" | ", f);
            md_cell(f, takes);
            fputs(" | ", f);
            md_cell(f, role);
            md_cell(f, k->doc);
            md_cell(f, pending);
            fputs(" |\n", f);
        } else {
            fprintf(f, "%s\n    default: %s\n    takes:   %s\n    %s%s%s\n", path, def, takes,
                    role, k->doc, pending);
        }
    }
}
