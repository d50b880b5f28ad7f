/* A sweep's output directory: its lock, job directories by name, and whether a job's files are complete. */
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
 *   OUT/.lock                 locked while a sweep, its workers or a merge write OUT
 * A job directory is renamed into place only when complete, so an interrupted
 * sweep resumes by skipping them, and shards are merged by copying them. One
 * whose files are not complete and consistent (damaged by hand, say) is
 * replaced: see exp_jobs_check. */

/* Makes out_dir (mkdir -p) and takes its lock, so that two sweeps or merges
 * never write one directory. The lock is held by the returned descriptor and
 * by every process that inherits it (a sweep's workers): a sweep killed
 * outright keeps its directory locked until its last worker has exited. When
 * the lock is held by the workers of a sweep that is gone (its recorded pid no
 * longer runs), waits up to 10 s for them to exit. Returns the descriptor
 * (close-on-exec; close it to release), or -1 after reporting on stderr what
 * is wrong (out_dir not a directory, not writable, or in use by another
 * sweep or merge, whose pid is given). Cost: a few system calls, plus the
 * wait. */
int exp_jobs_claim(const char *out_dir);

/* The name of job (p, r)'s directory, "pNNNN-rRR"; malloc'd. */
char *exp_jobs_name(size_t p, uint32_t r);

/* jobs_dir/NAME, or jobs_dir/NAME/file when file is not NULL; malloc'd. */
char *exp_jobs_path(const char *jobs_dir, size_t p, uint32_t r, const char *file);

/* Whether job (p, r) under jobs_dir has its results.csv: what sweep.csv
 * takes as present. Sweep and merge have checked the jobs (exp_jobs_check)
 * and removed the damaged ones before they aggregate. */
bool exp_jobs_done(const char *jobs_dir, size_t p, uint32_t r);

typedef enum { EXP_JOB_MISSING, EXP_JOB_DONE, EXP_JOB_DAMAGED } exp_job_state;

/* The state of job (p, r) under jobs_dir: MISSING without its directory;
 * DONE when its files are complete and consistent: results.json parses and is
 * replication r alone of the config config_json (the point's resolved config,
 * compared as JSON values; NULL: not checked), results.csv has a header and
 * one complete line per group of results.json, with the same QoS pairs in the
 * same order, and latency_cdf.csv has its header and complete lines; DAMAGED
 * otherwise, with the reason in why. Cost: reads and parses the three files. */
exp_job_state exp_jobs_check(const char *jobs_dir, size_t p, uint32_t r, const char *config_json,
                             char *why, size_t whylen);

struct exp_sweep;

/* Reports job (p, r) of sw on stderr with its parameters:
 * "mqttsim: HEAD: point P (key=value, ...), replication R TAIL". */
void exp_jobs_report(const struct exp_sweep *sw, size_t p, uint32_t r, const char *head, const char *tail);

/* Checks the jobs of point p under jobs_dir (exp_jobs_check) against the
 * point's resolved config config_json (exp_sweep_point_config), storing each
 * replication's state in state[0..R). A damaged job is reported
 * (exp_jobs_report, head "PREFIXjob NAME in jobs_dir is damaged (why)", then
 * tail) while *reported < 20, and *reported counts them all. */
void exp_jobs_check_point(const struct exp_sweep *sw, const char *jobs_dir, size_t p,
                          const char *config_json, const char *prefix, const char *tail,
                          exp_job_state *state, size_t *reported);

/* Removes the job directories left half-written (".tmp-*") under jobs_dir by
 * a run that was killed outright. The caller holds OUT's lock. */
void exp_jobs_remove_tmp(const char *jobs_dir);

#endif
