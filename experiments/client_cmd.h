/* `mqttsim client` (the engine's client against a real broker) and `mqttsim combine` (its reports into run's result files). */
#ifndef EXP_CLIENT_CMD_H
#define EXP_CLIENT_CMD_H

/*
 * A client writes, with --out DIR, its own report: DIR/client.json (its
 * settings, what it published, its subscriptions, wire counts, drops,
 * protocol events, connection events) and DIR/deliveries.csv (one line per
 * message delivered to it: msg_id,qos,dup,retain,latency_ns), plus
 * results.json / results.csv / latency_cdf.csv of what it can tell alone
 * (its own messages to its own subscriptions). A subscriber in another
 * process than the publisher cannot know what was published; combining
 * the reports of every client of a run gives the run's figures:
 *
 *     mqttsim combine PUB_DIR SUB_DIR... --out DIR        one replication
 *     mqttsim combine REP0_DIR REP1_DIR... --out DIR      one per directory
 *                                                         of client directories
 *
 * (a directory that holds client.json is a client's; one whose
 * subdirectories hold client.json is a replication's). The result files are
 * run's (experiments/run.h exp_results_write), so `mqttsim compare` puts
 * them beside a simulated run's.
 */

#include <stdbool.h>
#include <stddef.h>
#include "experiments/config.h"

/* `mqttsim client ARGS`: argv[0] is "client". Returns the exit status. */
int exp_cmd_client(int argc, char **argv);

/* `mqttsim combine ARGS`: argv[0] is "combine". Returns the exit status. */
int exp_cmd_combine(int argc, char **argv);

/* Combines replication r's client report directories dirs[r][0..n[r]) for
 * r in [0, nreps) into out_dir's result files (out_dir NULL: none), as one
 * run of cfg (NULL: a config named `name`, seed 0) and prints run's table
 * unless quiet. Returns 0, 1 (a report that cannot be read, or a write that
 * failed) or 2 (reports that contradict each other), with a message on
 * stderr. For the testbed. */
int exp_client_combine(const char *const *const *dirs, const size_t *n, size_t nreps,
                       const exp_config *cfg, const char *name, const char *out_dir, bool quiet);

#endif
