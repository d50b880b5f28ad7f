/* A sweep's output directory: job directories by name, which are done, leftovers, and the lock. */
#ifndef EXP_SWEEP_JOBS_H
#define EXP_SWEEP_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Layout of a sweep's output directory OUT:
 *   OUT/sweep.json            the resolved sweep (base inlined); itself a sweep file
 *   OUT/jobs/pNNNN-rRR/       one finished job: results.json, results.csv, latency_cdf.csv
 *   OUT/jobs/.tmp-pNNNN-rRR/  a job being written; renamed when complete
 *   OUT/sweep.csv             one row per complete point and QoS pair
 *   OUT/latency_cdf.csv       the CDF of one run (cdf_point, replication 0)
 *   OUT/fig-NAME.png/.svg     the figures
 *   OUT/.lock                 held by the sweep or merge writing OUT
 * A job directory is renamed into place only when complete, so an interrupted
 * sweep resumes by skipping them, and shards are merged by copying them. One
 * without results.csv (damaged by hand) counts as missing and is replaced. */

/* The name of job (p, r)'s directory, "pNNNN-rRR"; malloc'd. */
char *exp_jobs_name(size_t p, uint32_t r);

/* jobs_dir/NAME, or jobs_dir/NAME/file when file is not NULL; malloc'd. */
char *exp_jobs_path(const char *jobs_dir, size_t p, uint32_t r, const char *file);

/* Whether job (p, r) under jobs_dir is finished: its results.csv is there. */
bool exp_jobs_done(const char *jobs_dir, size_t p, uint32_t r);

/* Removes the job directories left half-written (".tmp-*") under jobs_dir by
 * a run that was killed outright. The caller holds OUT's lock. */
void exp_jobs_remove_tmp(const char *jobs_dir);

/* Takes the lock on out_dir (OUT/.lock), so that two sweeps or merges never
 * write one directory. Returns the descriptor that holds it (close it to
 * release), -2 when another process holds it, or -1 when the lock file
 * cannot be opened. Cost: one open and one fcntl. */
int exp_jobs_lock(const char *out_dir);

#endif
