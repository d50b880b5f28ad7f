/* The progress bar of a sweep on a terminal: jobs and points done, elapsed time and ETA. */
#ifndef EXP_PROGRESS_H
#define EXP_PROGRESS_H

#include <stddef.h>
#include <stdio.h>

/* Redraws the bar on its terminal line of out: done of total jobs, pts_done
 * of pts_total points, the elapsed seconds, and an ETA of elapsed / ran *
 * todo_left ("--:--" before the first job has run). */
void exp_progress_draw(FILE *out, size_t done, size_t total, size_t pts_done, size_t pts_total,
                       double elapsed, size_t ran, size_t todo_left);

#endif
