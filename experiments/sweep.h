/* Sweeps: a grid of experiments run by worker processes, sharded, merged, plotted. */
#ifndef EXP_SWEEP_H
#define EXP_SWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* `mqttsim sweep`. jobs <= 0: the number of cores; shard_n == 0: no sharding.
 * Returns the exit status: 0, 1 when some point failed, 2 for a bad sweep file. */
int exp_cmd_sweep(const char *path, int jobs, const char *out_dir, int shard_i, int shard_n);

/* `mqttsim merge DIR... --out DIR`. Returns the exit status. */
int exp_cmd_merge(char *const *dirs, int n, const char *out_dir);

/* `mqttsim check SWEEP`: validates a sweep file (its base experiment and every
 * vary path and value) without running it. Returns the exit status (0 or 2). */
int exp_cmd_check_sweep(const char *path);

/* The parsed sweep, for the commands above and for tests. Points are numbered
 * from 1 in grid order (the first vary key varies slowest); job (p, r) is
 * replication r (from 0) of point p. */
typedef struct exp_sweep exp_sweep;

/* Parses sweep JSON text. origin names it in messages; base_dir resolves a
 * relative "base". Vary keys that name the same config key ("clients.1.qos",
 * "clients.01.qos") or one inside another ("link.loss", "link.loss.p") are
 * an error, with or without validate. With validate, every vary path is checked against the
 * config schema and every point's config is loaded (cost: one config load per
 * point); without, only the sweep's own structure is checked (merge reads a
 * recorded sweep.json this way). Without "name", the sweep is named after
 * origin's base name without .json. Returns NULL with a message in err (naming the
 * origin, the key or the point, and what was expected) on a bad sweep. */
exp_sweep *exp_sweep_parse(const char *text, const char *origin, const char *base_dir,
                           bool validate, char *err, size_t errlen);
/* exp_sweep_parse on a file, with its directory as base_dir. */
exp_sweep *exp_sweep_load(const char *path, bool validate, char *err, size_t errlen);
void exp_sweep_free(exp_sweep *sw);

const char *exp_sweep_name(const exp_sweep *sw);
size_t exp_sweep_points(const exp_sweep *sw);
uint32_t exp_sweep_replications(const exp_sweep *sw);
size_t exp_sweep_keys(const exp_sweep *sw);
const char *exp_sweep_key(const exp_sweep *sw, size_t key);
/* The value of vary key `key` at point p (1-based), as compact JSON text. */
const char *exp_sweep_value(const exp_sweep *sw, size_t p, size_t key);
/* The point whose latency CDF is kept: the first point of the grid with the
 * values that "cdf_point" names (compared as JSON values), default 1. */
size_t exp_sweep_cdf_point(const exp_sweep *sw);
/* The resolved sweep (base experiment inlined, defaults applied) as JSON text:
 * what OUT/sweep.json records. NULL when parsed without validate. */
const char *exp_sweep_resolved(const exp_sweep *sw);

/* The shard (1..shard_n) that runs point p: fixed slices of the grid, dealt
 * round-robin so that neighbouring points (often of similar cost) spread out. */
int exp_sweep_shard_of(size_t p, int shard_n);

/* Writes the sweep.csv text for the job results under jobs_dir to out: a
 * header line, then one row per complete point (all replications present) and
 * QoS pair; a job is present when its results.csv is. The metric columns come
 * from the jobs' results.csv, so with no complete point the header holds only
 * the vary keys and replications, pub_qos, sub_qos, qos. Stores the number of
 * incomplete points in *incomplete (may be NULL). Returns 0, or -1 with a
 * message in err when a results.csv cannot be read or parsed.
 * Cost: reads every job's results.csv once. */
int exp_sweep_write_csv(const exp_sweep *sw, const char *jobs_dir, FILE *out,
                        size_t *incomplete, char *err, size_t errlen);

#endif
