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

#define EXP_MAX_SUBS MQ_MAX_TOPICS

/* The most replications, and the most clients in one `count` group. */
#define EXP_MAX_COUNT 1000000

/* The largest seed: JSON numbers are doubles, exact up to 2^53 - 1. */
#define EXP_SEED_MAX 9007199254740991ULL

typedef struct {
    char *filter;
    uint8_t qos;
} exp_sub;

/* One entry of "clients": `count` identical clients. */
typedef struct {
    exp_role role;
    uint32_t count;
    sim_link_params up, down;  /* resolved: top-level link, merged with the client's */
    /* publisher */
    char *topic;
    uint8_t qos;
    double rate_hz;
    exp_arrival arrival;
    uint32_t payload_bytes;
    double retry_interval_ms;  /* default: the broker's (subscribers: always the
                                  broker's; it paces CONNECT/SUBSCRIBE resends) */
    int64_t retry_interval_ns; /* the same in ns: sim_from_ms(retry_interval_ms) */
    int32_t max_retries;       /* default: the broker's */
    /* subscriber */
    size_t n_subs;
    exp_sub subs[EXP_MAX_SUBS];
    bool has_qos2_method;      /* false: takes the broker's */
    mq_qos2_method qos2_method;/* always filled: the client's own, else the broker's */
} exp_client;

typedef struct {
    char *name;
    uint64_t seed;             /* 0..EXP_SEED_MAX */
    uint32_t replications;
    double duration_s;
    double drain_s;
    int64_t duration_ns, drain_ns; /* the same in ns: sim_from_ms(x * 1000) */
    uint8_t mqtt_version;      /* "mqtt_version": 4 (3.1.1, default) or 5 */
    /* broker */
    mq_qos2_method qos2_method;
    uint32_t max_inflight, max_queued;
    double retry_interval_ms;
    int64_t retry_interval_ns;
    int32_t max_retries;
    sim_link_params link_up, link_down; /* the top-level link, resolved per direction */
    size_t n_clients;
    exp_client *clients;
    char *json;                /* the resolved config as JSON text (for results.json) */
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

#endif
