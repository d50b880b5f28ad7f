/* The sweep file: its grid of points, the config of each point, and the identity of a sweep. */
#ifndef EXP_SWEEP_H
#define EXP_SWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "experiments/config.h"

struct cJSON;

/* `mqttsim check SWEEP`: validates a sweep file (its base experiment and every
 * vary path and value) without running it. Returns the exit status (0 or 2). */
int exp_cmd_check_sweep(const char *path);

/* The parsed sweep, for the commands and for tests. Points are numbered
 * from 1 in grid order (the first vary key varies slowest); job (p, r) is
 * replication r (from 0) of point p. A sweep with "cases" (labelled sets of
 * settings) has them as its first key, named "case", whose values are the
 * labels (JSON strings); a point of case c runs with c's settings. */
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
/* The number of values of vary key `key`, and value v of it (compact JSON). */
size_t exp_sweep_n_values(const exp_sweep *sw, size_t key);
const char *exp_sweep_key_value(const exp_sweep *sw, size_t key, size_t v);
/* The value of vary key `key` at point p (1-based), as compact JSON text. */
const char *exp_sweep_value(const exp_sweep *sw, size_t p, size_t key);
/* The point whose latency CDF is kept: the first point of the grid with the
 * values that "cdf_point" names (compared as JSON values), default 1. */
size_t exp_sweep_cdf_point(const exp_sweep *sw);
/* The resolved sweep (base experiment inlined, defaults applied) as JSON text:
 * what OUT/sweep.json records. NULL when parsed without validate. */
const char *exp_sweep_resolved(const exp_sweep *sw);

/* The figures a sweep can ask for, by "figures" name, in drawing order. */
enum { EXP_FIG_DELIVERY, EXP_FIG_DUPLICATES, EXP_FIG_LATENCY, EXP_FIG_WIRE, EXP_FIG_CDF,
       EXP_FIG_TRANSPORT, EXP_FIG_FAULTS, EXP_FIG__COUNT };
extern const char *const exp_sweep_figure_names[EXP_FIG__COUNT];
/* The figures the sweep asks for: bit i for exp_sweep_figure_names[i]. */
unsigned exp_sweep_figures(const exp_sweep *sw);

/* "key=value, key=value" for point p, for messages; malloc'd. */
char *exp_sweep_point_label(const exp_sweep *sw, size_t p);

/* Loads the experiment of point p into *cfg (p == 0: the base with the
 * sweep's overrides only), as exp_config_load does. Returns 0, or non-zero
 * with the loader's message in err. Cost: one config load. */
int exp_sweep_load_point(const exp_sweep *sw, size_t p, exp_config *cfg, char *err, size_t errlen);

/* The resolved config of point p as JSON text (what its jobs' results.json
 * hold as "config"), malloc'd; NULL when it does not load, which cannot
 * happen to a sweep parsed with validate, nor to a recorded sweep.json
 * (its base is inlined). Cost: one config load. */
char *exp_sweep_point_config(const exp_sweep *sw, size_t p);

/* Whether two resolved sweeps (sweep.json texts) run the same jobs, so that
 * the job results of one belong to the other: equal as JSON values, with
 * vary's keys in the same order (the order numbers the points). "figures" is
 * left out: it changes no job and no result file, only what is drawn.
 * Unparsable text is never the same sweep. Cost: parses both texts once. */
bool exp_sweep_same(const char *a_text, const char *b_text);

/* Whether two JSON values are equal as values: object members in any order,
 * names compared case-sensitively, arrays in order, numbers exactly. A NULL
 * is equal to nothing. Cost: O(size x object width). */
bool exp_sweep_json_equal(const struct cJSON *a, const struct cJSON *b);

/* The shard (1..shard_n) that runs point p: fixed slices of the grid, dealt
 * round-robin so that neighbouring points (often of similar cost) spread out. */
int exp_sweep_shard_of(size_t p, int shard_n);

#endif
