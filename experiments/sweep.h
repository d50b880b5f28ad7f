/* Sweeps: a grid of experiments run by worker processes, sharded, merged, plotted. */
#ifndef EXP_SWEEP_H
#define EXP_SWEEP_H

/* `mqttsim sweep`. jobs <= 0: the number of cores; shard_n == 0: no sharding.
 * Returns the exit status: 0, 1 when some point failed, 2 for a bad sweep file. */
int exp_cmd_sweep(const char *path, int jobs, const char *out_dir, int shard_i, int shard_n);

/* `mqttsim merge DIR... --out DIR`. Returns the exit status. */
int exp_cmd_merge(char *const *dirs, int n, const char *out_dir);

/* `mqttsim check SWEEP`: validates a sweep file (its base experiment and every
 * vary path and value) without running it. Returns the exit status (0 or 2). */
int exp_cmd_check_sweep(const char *path);

#endif
