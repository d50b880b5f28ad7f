/* Aggregation of a sweep's job results into sweep.csv: per point and QoS pair, means and 95% intervals over replications. */
#ifndef EXP_SWEEP_CSV_H
#define EXP_SWEEP_CSV_H

#include <stddef.h>
#include <stdio.h>

#include "experiments/sweep.h"

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

/* Writes OUT/sweep.csv and OUT/latency_cdf.csv (the cdf_point's replication
 * 0, when that job is done) from OUT/jobs. Returns 0, or 1 on an error
 * (reported on stderr). *incomplete receives the points lacking a job. */
int exp_sweep_finish(const exp_sweep *sw, const char *out_dir, size_t *incomplete);

#endif
