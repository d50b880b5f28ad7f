/* `mqttsim compare`: two result directories side by side, figure by figure, with a verdict for each. */
#ifndef EXP_COMPARE_H
#define EXP_COMPARE_H

/*
 * Each figure of each QoS pair present in both directories gets an interval
 * on each side, and the verdict "agree" when the two intervals overlap,
 * otherwise "differ" with the difference B - A:
 *   - with replications (results.json has "ci95"): the 95% Student-t
 *     interval over replications that run wrote;
 *   - from a single run, for ratios: the exact 95% interval of the count
 *     behind the ratio: Clopper-Pearson for loss and out-of-order (a
 *     binomial count over `expected`), Garwood (Poisson) for duplicates;
 *   - from a single run, for latency quantiles: the value -/+ max(0.5 ms,
 *     5% of it), so two single runs agree when they are within
 *     max(1 ms, about 10%) of each other: 1 ms is the testbed's real-time
 *     band (timer slack, wake-up latency and the relay's slippage stay well
 *     under it, docs/testbed.md), 10% the run-to-run spread of a tail
 *     quantile from a few hundred messages;
 *   - with replications, for latency quantiles: the CI, widened to that band
 *     where the band is wider ("ci95+band"): replications that all see the
 *     same constant delay have a CI of zero width, yet a real run is known
 *     only to the band.
 */

/* The words after "mqttsim" (argv[0] is "compare"). Returns 0 when every
 * figure agrees, 1 when one differs, 2 for bad input (a missing or
 * unreadable results.json, no QoS pair in common, bad usage). */
int exp_cmd_compare(int argc, char **argv);

#endif
