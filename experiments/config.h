/* Experiment configuration: the plain C form of a JSON config (DESIGN.md "Config"). */
#ifndef EXP_CONFIG_H
#define EXP_CONFIG_H

/*
 * The loader (config.c) is the only code that sees JSON. It reads a config,
 * applies `--set key.path=value` overrides to the JSON, validates every key
 * against the key table (keys.c: each key's type, range, default and doc,
 * also printed by `mqttsim help config` and in docs/config.md), fills in the
 * defaults and resolves each client's link, and hands back an exp_config.
 * Nothing here changes after loading.
 *
 * Link resolution, for each client and direction d ("up": client to broker,
 * "down": broker to client), later layers winning key by key:
 *   defaults < link < link.d < clients.N.link < clients.N.link.d
 * A layer's "loss" (or "delay") object is merged into the one below it key by
 * key, unless it names a different "model" (or "dist"): then it replaces the
 * whole object, so no parameter of the old model leaks into the new one.
 * After merging, every parameter present must belong to the model and every
 * parameter the model needs must be present.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "models/session.h"
#include "sim/link.h"

typedef enum { EXP_PUBLISHER, EXP_SUBSCRIBER } exp_role;
typedef enum { EXP_PERIODIC, EXP_POISSON } exp_arrival;
typedef enum { EXP_STREAM, EXP_DATAGRAM } exp_transport;
typedef enum { EXP_RECONNECT, EXP_TIMER } exp_retransmit;
typedef enum { EXP_RTO_LINUX, EXP_RTO_RFC6298 } exp_rto_formula;
typedef enum { EXP_RESET_RST, EXP_RESET_SILENT } exp_reset_kind;

#define EXP_MAX_SUBS MQ_MAX_TOPICS

/* The most replications, and the most clients in one `count` group. */
#define EXP_MAX_COUNT 1000000

/* The most clients a run takes, all groups together. */
#define EXP_MAX_CLIENTS 1000000

/* What one client costs a run in memory, about: the growth of the peak RSS
 * (results.json's peak_rss_kib) of `mqttsim run
 * experiments/qos1-duplicates.json --set duration_s=1 --set replications=1
 * --set clients.1.count=N` (one publisher, N subscribers; --set transport
 * and the QoS keys as stated) from N = 10^4 to 5*10^4, divided by the
 * 4*10^4 clients added: over datagrams 2.13 KB a client when every publish
 * and subscription is QoS 0, 4.05 KB at QoS 1 and 2 (the messages in
 * flight to each subscriber at 10% loss); over streams 8.6 KB more (the TCP
 * path: its two links, connection, buffers and segment pool). `check`
 * states the cost of large configs from them. */
#define EXP_CLIENT_BYTES_QOS0 2100
#define EXP_CLIENT_BYTES 4100
#define EXP_CLIENT_BYTES_STREAM 8600

/* The least publishing rate: its period, 1e17 ns (3.2 years), and a Poisson
 * gap drawn from it (GSL's exponential from a uniform of 2^-53 resolution is
 * at most 36.7 times the mean), added to a time within the longest run
 * (duration_s and drain_s up to 1e9 s each, 2e18 ns), stay below INT64_MAX
 * (9.2e18): 2e18 + 36.7 * 1e17 = 5.7e18. */
#define EXP_MIN_RATE_HZ 1e-8

/* The largest seed: JSON numbers are doubles, exact up to 2^53 - 1. */
#define EXP_SEED_MAX 9007199254740991ULL

/* Times below are int64 nanoseconds (sim_time), converted from the config's
 * seconds or milliseconds at load as the hosts convert (sim_from_ms), and
 * bounded there: none overflows, and none that must be positive is 0. They
 * count from the start of the simulation (t = 0, when clients start
 * connecting). */

/* One scheduled event: at at_ns, lasting len_ns (0 for an instant). */
typedef struct {
    int64_t at_ns, len_ns;
} exp_window;

/* When a fault happens (docs/config.md "Faults"). Either scheduled: w[0..n)
 * sorted by at_ns (link outages merged where they overlap; restarts and
 * crashes never overlap); or random: mtbf_ns > 0, exponential times between
 * one fault's end and the next one's start with mean mtbf_ns, each lasting
 * down_ns (link outages: an exponential with that mean; broker restarts and
 * client crashes: exactly that; resets: 0). Neither: n == 0 and mtbf_ns == 0. */
typedef struct {
    size_t n;
    exp_window *w;
    int64_t mtbf_ns, down_ns;
} exp_sched;

/* The TCP model's settings (DESIGN.md "The TCP model"); defaults are Linux's. */
typedef struct {
    uint32_t mss;              /* bytes of payload per segment */
    int64_t rto_min_ns, rto_max_ns, rto_initial_ns; /* rto_min_ns <= rto_max_ns */
    exp_rto_formula rto_formula;
    uint32_t retries2;         /* consecutive RTO expiries before an abort (tcp_retries2) */
    uint32_t syn_retries;      /* SYN retransmissions before connect fails (tcp_syn_retries) */
    int64_t user_timeout_ns;   /* abort after this long without an ACK; 0: off */
    int64_t delayed_ack_ns;    /* delay of a lone ACK; 0: ACK at once */
    uint32_t initial_cwnd;     /* segments */
} exp_tcp;

/* Reconnect backoff: the first wait, doubling up to the most, each wait
 * multiplied by a uniform factor in [1 - jitter, 1 + jitter]. */
typedef struct {
    int64_t initial_ns, max_ns; /* initial_ns <= max_ns */
    double jitter;              /* 0..1 */
} exp_backoff;

typedef struct {
    char *filter;
    uint8_t qos;
    bool pattern;              /* filter has {i}, {{ or }}: see exp_config_expand */
} exp_sub;

/* One entry of "clients": `count` identical clients. */
typedef struct {
    exp_role role;
    uint32_t count;
    sim_link_params up, down;  /* resolved: top-level link, merged with the client's */
    exp_sched up_outages, down_outages; /* likewise */
    /* publisher */
    char *topic;
    bool topic_pattern;        /* topic has {i}, {{ or }}: see exp_config_expand */
    uint8_t qos;
    double rate_hz;
    exp_arrival arrival;
    uint32_t payload_bytes;
    /* both roles */
    double retry_interval_ms;  /* default: the broker's (a subscriber's paces its
                                  CONNECT/SUBSCRIBE resends) */
    int64_t retry_interval_ns; /* the same in ns: sim_from_ms(retry_interval_ms) */
    int32_t max_retries;       /* default: the broker's */
    /* subscriber */
    size_t n_subs;
    exp_sub subs[EXP_MAX_SUBS];
    bool has_qos2_method;      /* false: takes the broker's */
    mq_qos2_method qos2_method;/* always filled: the client's own, else the broker's */
    /* connections and sessions (both roles) */
    exp_transport transport;   /* default: the top-level one */
    exp_tcp tcp;               /* the top-level tcp, merged with the client's */
    uint16_t keepalive_s;      /* 0: off */
    bool clean_start;
    uint32_t session_expiry_s; /* MQTT 5.0 only */
    exp_backoff reconnect;
    int64_t connect_timeout_ns;
    bool has_retransmit;       /* false: not set on the client */
    exp_retransmit retransmit; /* always filled: the client's own, else the broker's
                                  setting, else by its transport */
    exp_retransmit broker_retransmit; /* the broker's sessions with this client:
                                  broker.retransmit, else by this client's transport */
    uint32_t max_inflight, max_queued; /* the client's own sessions; default: the broker's */
    bool client_persistence;
    exp_sched resets;          /* down_ns 0 */
    exp_reset_kind reset_kind;
    exp_sched crashes;
} exp_client;

typedef struct {
    char *name;
    uint64_t seed;             /* 0..EXP_SEED_MAX */
    uint32_t replications;
    double duration_s;
    double drain_s;
    int64_t duration_ns, drain_ns; /* the same in ns: sim_from_ms(x * 1000) */
    uint8_t mqtt_version;      /* "mqtt_version": 4 (3.1.1, default) or 5 */
    exp_transport transport;
    /* broker */
    mq_qos2_method qos2_method;
    uint32_t max_inflight, max_queued;
    double retry_interval_ms;
    int64_t retry_interval_ns;
    int32_t max_retries;
    bool has_retransmit;       /* false: each session's by its connection's transport */
    exp_retransmit retransmit; /* only with has_retransmit */
    bool persistence;
    int64_t autosave_interval_ns; /* 0: on every change */
    bool queue_qos0_messages;
    exp_sched restarts;        /* down_ns: the time down */
    /* the top-level link and tcp, resolved (every client's start from them) */
    sim_link_params link_up, link_down;
    exp_sched link_up_outages, link_down_outages;
    exp_tcp tcp;
    size_t n_clients;
    exp_client *clients;
    char *json;                /* the resolved config as JSON text (for results.json) */
    char *warnings;            /* lines for stderr ("warning: ...\n"), or NULL */
    char *origin;              /* the file the config came from (or load_text's origin) */
    char *base_dir;            /* the directory relative paths resolve against: the
                                  file's directory, or load_text's base_dir */
} exp_config;

/* Loads the config file at path, applies sets[0..nsets) (each "key.path=value")
 * and validates the result into *cfg. Returns 0 on success; 2 for a bad
 * config, an unreadable file or a bad --set, with a one-line message in
 * err[0..errlen) naming the file (or "--set"), the key path and what was
 * expected; 1 when out of memory. On failure *cfg is left empty (all zero),
 * and exp_config_free is safe on it. Cost: linear in the file's size. */
int exp_config_load(const char *path, char *const *sets, size_t nsets, exp_config *cfg,
                    char *err, size_t errlen);

/* The same for config text already in memory. origin names it in messages
 * (NULL: "<config>") and gives the default name (its base name without
 * ".json"); base_dir goes to cfg->base_dir (NULL: "."). */
int exp_config_load_text(const char *text, const char *origin, const char *base_dir,
                         char *const *sets, size_t nsets, exp_config *cfg,
                         char *err, size_t errlen);

/* Frees what a successful load allocated and zeroes *cfg. Safe on a zeroed or
 * already freed config. */
void exp_config_free(exp_config *cfg);

/* Whether key_path ("link.loss.p", "clients.0.qos") names a key of the config
 * schema that --set may set (a leaf or a whole object or array; any
 * non-negative index where the schema has an array). Returns 0 if so, else 2
 * with a message (with a did-you-mean when a key is close to a valid one) in
 * err. Checks the schema only: whether an index exists depends on the config. */
int exp_config_check_path(const char *key_path, char *err, size_t errlen);

/* True when the file at path parses as a JSON object with a top-level "vary"
 * key, i.e. it is a sweep file rather than a config. False for anything else,
 * including an unreadable file or invalid JSON (loading it as a config then
 * reports the problem). */
bool exp_config_is_sweep_file(const char *path);

/* The resolved config as compact JSON (malloc'd; NULL when out of memory):
 * cfg->json with all = false; with all = true also the keys not simulated yet
 * (which cfg->json and so results.json leave out). Loading it gives the same
 * config. */
char *exp_config_json(const exp_config *cfg, bool all);

/* Expands a topic or filter pattern for the client at 0-based index `index`
 * in its count group: "{i}" becomes the index in decimal, "{{" and "}}" one
 * brace. Writes at most cap bytes with the NUL (none when cap is 0) and
 * returns the length of the whole expansion (as snprintf), or -1 when the
 * pattern is not one (a brace otherwise). A string without braces expands to
 * itself. O(length). */
int exp_config_expand(const char *pattern, uint32_t index, char *buf, size_t cap);

/* Clients in all: the sum of the groups' counts. */
uint64_t exp_config_clients(const exp_config *cfg);

/* Whether some publisher's topic matches some subscriber's filter: 1 yes, 0
 * no (the run measures nothing), -1 not known (patterns in groups too large
 * to try every pair: the first EXP_MATCH_TRIES clients of each group are
 * tried). O(entries^2 * subscriptions * tries^2 * topic length). */
#define EXP_MATCH_TRIES 64
int exp_config_match(const exp_config *cfg);

/* The messages the publishers are expected to publish in duration_s: the
 * sum over publishers of rate_hz * duration_s. */
double exp_config_expected_messages(const exp_config *cfg);

/* Reads text as --set reads a value (JSON where it parses) and tells whether
 * it is an integer in [lo, hi] (into *out): `--seed 1e3` is `--set seed=1e3`. */
bool exp_config_parse_int(const char *text, int64_t lo, int64_t hi, int64_t *out);

#endif
