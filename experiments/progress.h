/* The progress bar of a sweep on a terminal: jobs and points done, elapsed time and a steady ETA. */
#ifndef EXP_PROGRESS_H
#define EXP_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* What the bar shows and what its ETA is estimated from. Times are seconds
 * on one clock (the caller's). */
typedef struct {
    double t0;              /* when the jobs started */
    size_t total, done;     /* jobs of the sweep (or shard), and done (skipped ones included) */
    size_t pts_total, pts_done;
    size_t todo, finished;  /* jobs to run at t0, and how many of them have finished */
    double t_finished;      /* when the last of them finished */
    double eta_then;        /* the ETA estimated at t_finished; < 0: none yet */
} exp_progress;

/* Starts the bar at t0 with total jobs of which done are done already, and
 * todo to run; points likewise. */
void exp_progress_start(exp_progress *pr, double t0, size_t total, size_t done, size_t pts_total,
                        size_t pts_done, size_t todo);

/* Counts a job finished (run or failed) at time now, and the point it
 * completed, if any. The ETA is re-estimated here only: the mean time per
 * job so far, (now - t0) / finished, times the jobs left. */
void exp_progress_job(exp_progress *pr, double now, bool point_done);

/* The ETA in seconds at time now: the estimate of the last finished job,
 * counting down since (never below 0), so that it does not climb while no
 * job finishes. Negative before the first job has finished. */
double exp_progress_eta(const exp_progress *pr, double now);

/* Redraws the bar on its terminal line of out at time now. */
void exp_progress_draw(FILE *out, const exp_progress *pr, double now);

#endif
