/* A sweep's figures: gnuplot run on sweep.csv and latency_cdf.csv with the scripts in plots/. */
#ifndef EXP_SWEEP_FIG_H
#define EXP_SWEEP_FIG_H

#include "experiments/sweep.h"

/* Draws the figures the sweep asks for into out_dir (fig-NAME.png/.svg) from
 * out_dir/sweep.csv and latency_cdf.csv, with gnuplot and the scripts of
 * $MQTTSIM_PLOTS, <exe dir>/../plots or ./plots; when gnuplot or the scripts
 * are missing, prints the commands that would draw them. Returns 0, or 1
 * when a figure failed (reported). Cost: one gnuplot process per figure. */
int exp_sweep_draw_figures(const exp_sweep *sw, const char *out_dir);

#endif
