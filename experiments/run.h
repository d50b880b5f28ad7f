/* Running experiments: one config, its replications, its result files; and traces. */
#ifndef EXP_RUN_H
#define EXP_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "experiments/config.h"

typedef struct {
    const char *out_dir;   /* NULL: results/<name> */
    int rep_index;         /* >= 0: run only this replication (its seeds as in a full run) */
    bool quiet;            /* no table on stdout */
} exp_run_opts;

/* `mqttsim run`: runs cfg's replications, prints a table per QoS pair, writes
 * out_dir/results.json, results.csv and latency_cdf.csv (each to a temporary
 * file, then renamed). Returns the exit status: 0, or 1 on a run failure. */
int exp_cmd_run(const exp_config *cfg, const exp_run_opts *opts);

/* `mqttsim trace`: prints the packet flows of the first `messages` messages. */
int exp_cmd_trace(const exp_config *cfg, uint32_t messages, FILE *out);

#endif
