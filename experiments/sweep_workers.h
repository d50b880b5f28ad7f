/* `mqttsim sweep`: runs a sweep's jobs in worker processes, resumes from the finished ones, stops cleanly on a signal. */
#ifndef EXP_SWEEP_WORKERS_H
#define EXP_SWEEP_WORKERS_H

/* `mqttsim sweep`. jobs <= 0: the number of cores; shard_n == 0: no sharding.
 * Returns the exit status: 0, 1 when some point failed, 2 for a bad sweep
 * file or output directory, 130 when stopped by SIGINT or SIGTERM. */
int exp_cmd_sweep(const char *path, int jobs, const char *out_dir, int shard_i, int shard_n);

#endif
