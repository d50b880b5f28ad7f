/* Experiment configuration: the plain C form of a JSON config (DESIGN.md "Config"). */
#ifndef EXP_CONFIG_H
#define EXP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "models/session.h"
#include "sim/link.h"

typedef enum { EXP_PUBLISHER, EXP_SUBSCRIBER } exp_role;
typedef enum { EXP_PERIODIC, EXP_POISSON } exp_arrival;

#define EXP_MAX_SUBS MQ_MAX_TOPICS

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
    double retry_interval_ms;  /* default: the broker's */
    int32_t max_retries;       /* default: the broker's */
    /* subscriber */
    size_t n_subs;
    exp_sub subs[EXP_MAX_SUBS];
    bool has_qos2_method;      /* false: takes the broker's */
    mq_qos2_method qos2_method;
} exp_client;

typedef struct {
    char *name;
    uint64_t seed;
    uint32_t replications;
    double duration_s;
    double drain_s;
    uint8_t mqtt_version;      /* "mqtt_version": 4 (3.1.1, default) or 5 */
    /* broker */
    mq_qos2_method qos2_method;
    uint32_t max_inflight, max_queued;
    double retry_interval_ms;
    int32_t max_retries;
    size_t n_clients;
    exp_client *clients;
    char *json;                /* the resolved config as JSON text (for results.json) */
} exp_config;

#endif
