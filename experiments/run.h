/* Running experiments: one config, its replications, its result files; and traces. */
#ifndef EXP_RUN_H
#define EXP_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "experiments/config.h"
#include "models/metrics.h"
#include "models/net.h"

typedef struct {
    const char *out_dir;   /* NULL: results/<name> */
    int rep_index;         /* >= 0: run only this replication (its seeds as in a full run) */
    bool quiet;            /* no table on stdout */
    const char *pcap;      /* --pcap FILE: a capture of the first replication run, or NULL */
    bool pcap_receiver;    /* --pcap-side receiver: lost frames left out */
} exp_run_opts;

/* `mqttsim run`: runs cfg's replications, prints a table per QoS pair, writes
 * out_dir/results.json, results.csv and latency_cdf.csv (each to a temporary
 * file, then renamed). Returns the exit status: 0, or 1 on a run failure. */
int exp_cmd_run(const exp_config *cfg, const exp_run_opts *opts);

/* One replication measured outside the simulator (`mqttsim client`, the
 * testbed): its metrics, and what a simulated run would take from its
 * network statistics. */
typedef struct {
    const mq_metrics *m;   /* groups, wire, drops, events and the latency CDF */
    bool wire_groups;      /* false: the per-group wire figures were not measured
                              (written as null, never as 0) */
    double run_s;          /* how long the run lasted (timings.simulated_s) */
    double wall_s;
    uint64_t messages;     /* application messages published */
    bool transport_figures; /* false: out-of-order counts, lost pairs by cause and
                              connection figures were not measured (written as
                              null, never as 0) */
} exp_measured;

/* Writes dir/results.json, results.csv and latency_cdf.csv for reps[0..n)
 * (n >= 1) exactly as `run` writes its replications (cfg gives name, seed,
 * duration_s and the "config" JSON), making dir if needed (NULL: no files),
 * and prints run's table unless quiet. Returns 0, or 1 after saying on stderr why the files
 * could not be written. */
int exp_results_write(const exp_config *cfg, const exp_measured *reps, size_t n, const char *dir,
                      bool quiet);

/* `mqttsim trace`: prints the packet flows of the first `messages` messages
 * (the run stops publishing after them), and with pcap writes the run's
 * capture there (experiments/capture.h). */
int exp_cmd_trace(const exp_config *cfg, uint32_t messages, const char *pcap,
                  bool pcap_receiver, FILE *out);

/* Replication 0 of cfg as run runs it, but stopped after max_messages
 * messages and failed once max_events scheduler events have run (0: no
 * limit), writing nothing: for the config fuzz harness. Returns 0 or -1 as
 * mq_net_run (err says why); *live is the messages still referenced after
 * the run (0 unless one leaked). */
int exp_run_bounded(const exp_config *cfg, uint64_t max_messages, uint64_t max_events,
                    mq_net_stats *st, uint64_t *live, char *err, size_t errlen);

#endif
