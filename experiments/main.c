/* mqttsim's command line: parses each command's arguments and hands them to the experiment code. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "experiments/compare.h"
#include "experiments/broker_cmd.h"
#include "experiments/client_cmd.h"
#include "experiments/config.h"
#include "experiments/keys.h"
#include "experiments/run.h"
#include "experiments/sweep.h"
#include "experiments/sweep_merge.h"
#include "experiments/sweep_workers.h"
#include "experiments/testbed.h"

#define MQTTSIM_VERSION "0.1.0"

/* Exit statuses (DESIGN.md "CLI"). */
enum { EXIT_OK = 0, EXIT_RUN_FAILURE = 1, EXIT_USAGE = 2 };

/* ---------------------------------------------------------------- options -- */

typedef enum {
    O_HELP = 1, O_SET, O_SEED, O_REPS, O_REP_INDEX, O_OUT, O_QUIET, O_JOBS, O_SHARD,
    O_MESSAGES, O_PCAP, O_PCAP_SIDE,
} opt_id;

typedef struct {
    const char *name;  /* long form, without "--" */
    char short_name;   /* 0: none */
    bool has_arg;
    opt_id id;
} opt_spec;

typedef struct {
    opt_id id;
    const char *arg;   /* points into argv, or NULL */
    char as[32];       /* "--name" or "-c", as used, for messages */
} opt_val;

struct command;
typedef int (*command_fn)(const struct command *cmd, const opt_val *opts, int nopts,
                          char **pos, int npos);

typedef struct command {
    const char *name;
    const char *usage;    /* the usage line, after "usage: " */
    const char *about;    /* what it does, one line */
    const char *details;  /* the options and notes */
    const opt_spec *opts; /* terminated by a NULL name */
    command_fn fn;
} command;

static void print_usage(FILE *f, const command *cmd)
{
    fprintf(f, "usage: %s\n", cmd->usage);
}

static void print_help(FILE *f, const command *cmd)
{
    print_usage(f, cmd);
    fprintf(f, "%s\n\n%s", cmd->about, cmd->details);
}

/* Bad usage: the problem, the command's usage line, and a pointer to --help,
 * on stderr. Returns EXIT_USAGE. */
static int usage_error(const command *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "mqttsim %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    print_usage(stderr, cmd);
    fprintf(stderr, "Try 'mqttsim %s --help' for more.\n", cmd->name);
    return EXIT_USAGE;
}

/* Splits argv[0..argc) (the words after the command name) into options and
 * positional arguments, in order. Options may come before or after the
 * positional arguments; "--opt=value", "--opt value", "-j4" and "-j 4" are all
 * accepted; "--" ends the options. opts and pos must hold argc entries.
 * Returns 0, or EXIT_USAGE after reporting the problem. */
static int split_args(const command *cmd, int argc, char **argv, opt_val *opts, int *nopts,
                      char **pos, int *npos)
{
    *nopts = *npos = 0;
    bool only_pos = false;
    for (int i = 0; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            pos[(*npos)++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        const opt_spec *spec = NULL;
        const char *inline_arg = NULL;
        if (a[1] == '-') {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            for (const opt_spec *s = cmd->opts; s->name; s++)
                if (strlen(s->name) == len && strncmp(s->name, name, len) == 0)
                    spec = s;
            if (spec && eq) {
                if (!spec->has_arg)
                    return usage_error(cmd, "option '--%s' takes no value", spec->name);
                inline_arg = eq + 1;
            }
        } else {
            for (const opt_spec *s = cmd->opts; s->name; s++)
                if (s->short_name && s->short_name == a[1])
                    spec = s;
            if (spec && a[2]) {
                if (!spec->has_arg)
                    return usage_error(cmd, "unknown option '%s'", a);
                inline_arg = a + 2;
            }
        }
        if (!spec)
            return usage_error(cmd, "unknown option '%s'", a);
        opt_val *o = &opts[(*nopts)++];
        o->id = spec->id;
        if (a[1] == '-')
            snprintf(o->as, sizeof o->as, "--%s", spec->name);
        else
            snprintf(o->as, sizeof o->as, "-%c", spec->short_name);
        o->arg = NULL;
        if (spec->has_arg) {
            if (inline_arg)
                o->arg = inline_arg;
            else if (i + 1 < argc)
                o->arg = argv[++i];
            else
                return usage_error(cmd, "option '%s' needs a value", o->as);
            /* "--out=" names no directory; an empty value is never meant. */
            if (!*o->arg && spec->id != O_SET)
                return usage_error(cmd, "option '%s' needs a non-empty value", o->as);
        }
    }
    return 0;
}

/* A decimal integer in [lo, hi]; false for anything else (signs, spaces,
 * trailing text, overflow). */
static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* Checks that exactly one positional argument (called what) was given. */
static int one_positional(const command *cmd, int npos, const char *what)
{
    if (npos == 0)
        return usage_error(cmd, "missing the %s file", what);
    if (npos > 1)
        return usage_error(cmd, "expected one %s file, got %d arguments", what, npos);
    return 0;
}

/* ------------------------------------------------------------ config args -- */

/* The --set list of run and trace: --set values and --seed/--reps, in the
 * order given (a later one wins, as with repeated --set). */
typedef struct {
    char **items;
    char **owned;   /* items this list allocated */
    size_t n, n_owned;
} set_list;

static void sets_add(set_list *l, char *item, bool owned)
{
    if (owned)
        l->owned[l->n_owned++] = item;
    l->items[l->n++] = item;
}

static void sets_free(set_list *l)
{
    for (size_t i = 0; i < l->n_owned; i++)
        free(l->owned[i]);
    free(l->owned);
    free(l->items);
}

/* Collects the config-shaping options (--set, --seed, --reps) of opts into l.
 * Returns 0, EXIT_USAGE after reporting a bad value, or EXIT_RUN_FAILURE when
 * out of memory. */
static int collect_sets(const command *cmd, const opt_val *opts, int nopts, set_list *l)
{
    l->items = calloc((size_t)nopts + 1, sizeof *l->items);
    l->owned = calloc((size_t)nopts + 1, sizeof *l->owned);
    l->n = l->n_owned = 0;
    if (!l->items || !l->owned) {
        fprintf(stderr, "mqttsim: out of memory\n");
        return EXIT_RUN_FAILURE;
    }
    for (int i = 0; i < nopts; i++) {
        const opt_val *o = &opts[i];
        int64_t v;
        char buf[64];
        if (o->id == O_SET) {
            sets_add(l, (char *)o->arg, false);
        } else if (o->id == O_SEED || o->id == O_REPS) {
            /* Read as --set reads seed=..., so --seed 1e3 is --set seed=1e3. */
            bool seed = o->id == O_SEED;
            if (!exp_config_parse_int(o->arg, seed ? 0 : 1,
                                      seed ? (int64_t)EXP_SEED_MAX : EXP_MAX_COUNT, &v))
                return usage_error(cmd, "%s: expected an integer from %d to %" PRIu64 ", got '%s'",
                                   o->as, seed ? 0 : 1,
                                   seed ? (uint64_t)EXP_SEED_MAX : (uint64_t)EXP_MAX_COUNT, o->arg);
            snprintf(buf, sizeof buf, "%s=%" PRId64, seed ? "seed" : "replications", v);
            char *item = strdup(buf);
            if (!item) {
                fprintf(stderr, "mqttsim: out of memory\n");
                return EXIT_RUN_FAILURE;
            }
            sets_add(l, item, true);
        }
    }
    return 0;
}

/* Warns (stderr) of a config that would measure nothing: no subscriber's
 * filter matches any publisher's topic, or the publishers are expected to
 * publish less than one message. */
static void warn_if_measures_nothing(const char *path, const exp_config *cfg)
{
    if (exp_config_match(cfg) == 0)
        fprintf(stderr, "warning: %s: no subscriber's filter matches any publisher's topic: "
                        "the run will measure nothing\n", path);
    double n = exp_config_expected_messages(cfg);
    if (n < 1)
        fprintf(stderr, "warning: %s: the publishers are expected to publish %.3g messages in "
                        "all (rate_hz x duration_s): the run may measure nothing\n", path, n);
}

/* Loads a config with the collected sets; prints the loader's message on
 * failure, its warnings on success. Returns 0 or the exit status. */
static int load_config(const char *path, const set_list *sets, exp_config *cfg)
{
    char err[1024];
    int rc = exp_config_load(path, sets->items, sets->n, cfg, err, sizeof err);
    if (rc) {
        fprintf(stderr, "%s\n", err);
        if (exp_config_is_sweep_file(path))
            fprintf(stderr, "(%s looks like a sweep file: try 'mqttsim sweep %s')\n", path, path);
    } else {
        if (cfg->warnings)
            fputs(cfg->warnings, stderr);
        warn_if_measures_nothing(path, cfg);
    }
    return rc;
}

/* --------------------------------------------------------------- commands -- */

static const opt_spec RUN_OPTS[] = {
    {"set", 0, true, O_SET}, {"seed", 0, true, O_SEED}, {"reps", 0, true, O_REPS},
    {"rep-index", 0, true, O_REP_INDEX}, {"out", 'o', true, O_OUT},
    {"quiet", 'q', false, O_QUIET}, {"pcap", 0, true, O_PCAP}, {"pcap-side", 0, true, O_PCAP_SIDE},
    {"help", 'h', false, O_HELP}, {NULL, 0, false, 0}};

/* --pcap FILE and --pcap-side sender|receiver. Returns 0 or the usage error. */
static int pcap_opts(const command *cmd, const opt_val *opts, int nopts, const char **file,
                     bool *receiver)
{
    const char *side = NULL;
    for (int i = 0; i < nopts; i++) {
        if (opts[i].id == O_PCAP)
            *file = opts[i].arg;
        else if (opts[i].id == O_PCAP_SIDE)
            side = opts[i].arg;
    }
    if (side && strcmp(side, "sender") != 0 && strcmp(side, "receiver") != 0)
        return usage_error(cmd, "--pcap-side: expected sender or receiver, got '%s'", side);
    if (side && !*file)
        return usage_error(cmd, "--pcap-side needs --pcap FILE");
    *receiver = side && strcmp(side, "receiver") == 0;
    return 0;
}

static int cmd_run(const command *cmd, const opt_val *opts, int nopts, char **pos, int npos)
{
    int rc0 = one_positional(cmd, npos, "CONFIG");
    if (rc0)
        return rc0;
    exp_run_opts ro = {NULL, -1, false, NULL, false};
    uint64_t v;
    bool rep_index = false;
    int prc = pcap_opts(cmd, opts, nopts, &ro.pcap, &ro.pcap_receiver);
    if (prc)
        return prc;
    for (int i = 0; i < nopts; i++) {
        const opt_val *o = &opts[i];
        if (o->id == O_OUT)
            ro.out_dir = o->arg;
        else if (o->id == O_QUIET)
            ro.quiet = true;
        else if (o->id == O_REP_INDEX) {
            if (!parse_u64(o->arg, 0, 999999, &v))
                return usage_error(cmd, "%s: expected an integer replication index >= 0, got '%s'",
                                   o->as, o->arg);
            ro.rep_index = (int)v;
            rep_index = true;
        }
    }
    set_list sets;
    int rc = collect_sets(cmd, opts, nopts, &sets);
    exp_config cfg = {0};
    if (!rc)
        rc = load_config(pos[0], &sets, &cfg);
    if (!rc && rep_index && (uint32_t)ro.rep_index >= cfg.replications)
        rc = usage_error(cmd, "--rep-index %d: out of range, the config has %" PRIu32
                              " replication%s (indices 0 to %" PRIu32 ")",
                         ro.rep_index, cfg.replications,
                         cfg.replications == 1 ? "" : "s", cfg.replications - 1);
    /* Only a cleanly loaded config reaches the run, so nothing is written for a bad one. */
    if (!rc)
        rc = exp_cmd_run(&cfg, &ro);
    exp_config_free(&cfg);
    sets_free(&sets);
    return rc;
}

static const opt_spec TRACE_OPTS[] = {
    {"messages", 'n', true, O_MESSAGES}, {"set", 0, true, O_SET}, {"seed", 0, true, O_SEED},
    {"pcap", 0, true, O_PCAP}, {"pcap-side", 0, true, O_PCAP_SIDE},
    {"help", 'h', false, O_HELP}, {NULL, 0, false, 0}};

static int cmd_trace(const command *cmd, const opt_val *opts, int nopts, char **pos, int npos)
{
    int rc0 = one_positional(cmd, npos, "CONFIG");
    if (rc0)
        return rc0;
    uint64_t messages = 5;
    const char *pcap = NULL;
    bool receiver = false;
    int prc = pcap_opts(cmd, opts, nopts, &pcap, &receiver);
    if (prc)
        return prc;
    for (int i = 0; i < nopts; i++)
        if (opts[i].id == O_MESSAGES && !parse_u64(opts[i].arg, 1, UINT32_MAX, &messages))
            return usage_error(cmd, "%s: expected an integer >= 1, got '%s'", opts[i].as,
                               opts[i].arg);
    set_list sets;
    int rc = collect_sets(cmd, opts, nopts, &sets);
    exp_config cfg = {0};
    if (!rc)
        rc = load_config(pos[0], &sets, &cfg);
    if (!rc)
        rc = exp_cmd_trace(&cfg, (uint32_t)messages, pcap, receiver, stdout);
    exp_config_free(&cfg);
    sets_free(&sets);
    return rc;
}

static const opt_spec SWEEP_OPTS[] = {
    {"jobs", 'j', true, O_JOBS}, {"out", 'o', true, O_OUT}, {"shard", 0, true, O_SHARD},
    {"help", 'h', false, O_HELP}, {NULL, 0, false, 0}};

static int cmd_sweep(const command *cmd, const opt_val *opts, int nopts, char **pos, int npos)
{
    int rc0 = one_positional(cmd, npos, "SWEEP");
    if (rc0)
        return rc0;
    int jobs = 0, shard_i = 0, shard_n = 0;
    const char *out = NULL;
    for (int i = 0; i < nopts; i++) {
        const opt_val *o = &opts[i];
        uint64_t v, n;
        if (o->id == O_JOBS) {
            if (!parse_u64(o->arg, 1, 4096, &v))
                return usage_error(cmd, "%s: expected a number of jobs from 1 to 4096, got '%s'",
                                   o->as, o->arg);
            jobs = (int)v;
        } else if (o->id == O_OUT) {
            out = o->arg;
        } else if (o->id == O_SHARD) {
            /* I/N with 1 <= I <= N: both parts strictly decimal. */
            const char *slash = strchr(o->arg, '/');
            char ibuf[24];
            size_t ilen = slash ? (size_t)(slash - o->arg) : 0;
            bool ok = slash && ilen > 0 && ilen < sizeof ibuf;
            if (ok) {
                memcpy(ibuf, o->arg, ilen);
                ibuf[ilen] = '\0';
                ok = parse_u64(ibuf, 1, 1000000, &v) && parse_u64(slash + 1, 1, 1000000, &n) &&
                     v <= n;
            }
            if (!ok)
                return usage_error(cmd, "%s: expected I/N with 1 <= I <= N (e.g. 2/4), got '%s'",
                                   o->as, o->arg);
            shard_i = (int)v;
            shard_n = (int)n;
        }
    }
    return exp_cmd_sweep(pos[0], jobs, out, shard_i, shard_n);
}

static const opt_spec MERGE_OPTS[] = {
    {"out", 'o', true, O_OUT}, {"help", 'h', false, O_HELP}, {NULL, 0, false, 0}};

static int cmd_merge(const command *cmd, const opt_val *opts, int nopts, char **pos, int npos)
{
    const char *out = NULL;
    for (int i = 0; i < nopts; i++)
        if (opts[i].id == O_OUT)
            out = opts[i].arg;
    if (npos < 1)
        return usage_error(cmd, "missing the sweep output directories to merge");
    if (!out)
        return usage_error(cmd, "missing --out DIR (where the merged sweep goes)");
    return exp_cmd_merge(pos, npos, out);
}

static const opt_spec CHECK_OPTS[] = {
    {"set", 0, true, O_SET}, {"seed", 0, true, O_SEED}, {"reps", 0, true, O_REPS},
    {"help", 'h', false, O_HELP}, {NULL, 0, false, 0}};

static int cmd_check(const command *cmd, const opt_val *opts, int nopts, char **pos, int npos)
{
    int rc0 = one_positional(cmd, npos, "CONFIG or SWEEP");
    if (rc0)
        return rc0;
    if (exp_config_is_sweep_file(pos[0])) {
        if (nopts > 0)
            return usage_error(cmd, "%s applies to a config, not to a sweep file", opts[0].as);
        return exp_cmd_check_sweep(pos[0]);
    }
    set_list sets;
    exp_config cfg = {0};
    int rc = collect_sets(cmd, opts, nopts, &sets);
    if (!rc)
        rc = load_config(pos[0], &sets, &cfg);
    sets_free(&sets);
    if (rc)
        return rc;
    uint64_t pubs = 0, subs = 0;
    for (size_t i = 0; i < cfg.n_clients; i++) {
        if (cfg.clients[i].role == EXP_PUBLISHER)
            pubs += cfg.clients[i].count;
        else
            subs += cfg.clients[i].count;
    }
    printf("%s: ok (%s: %" PRIu64 " publisher%s, %" PRIu64 " subscriber%s, duration %g s, "
           "%" PRIu32 " replication%s)\n",
           pos[0], cfg.name, pubs, pubs == 1 ? "" : "s", subs, subs == 1 ? "" : "s",
           cfg.duration_s, cfg.replications, cfg.replications == 1 ? "" : "s");
    /* A run holds every client at once: say what a large one costs. */
    bool qos0 = true;
    for (size_t i = 0; i < cfg.n_clients; i++) {
        const exp_client *c = &cfg.clients[i];
        qos0 &= c->role != EXP_PUBLISHER || c->qos == 0;
        for (size_t j = 0; j < c->n_subs; j++)
            qos0 &= c->subs[j].qos == 0;
    }
    int each = qos0 ? EXP_CLIENT_BYTES_QOS0 : EXP_CLIENT_BYTES;
    double bytes = 0;
    for (size_t i = 0; i < cfg.n_clients; i++) {
        const exp_client *c = &cfg.clients[i];
        bytes += (double)c->count *
                 (each + (c->transport == EXP_STREAM ? EXP_CLIENT_BYTES_STREAM : 0));
    }
    if (bytes >= 1e9)
        printf("note: %" PRIu64 " clients need about %.0f GB of memory while they run (about "
               "%.1f KB each at QoS %s)\n", pubs + subs, bytes / 1e9,
               bytes / (double)(pubs + subs) / 1000, qos0 ? "0" : "1 and 2");
    exp_config_free(&cfg);
    return EXIT_OK;
}

static const command COMMANDS[] = {
    {"run",
     "mqttsim run CONFIG [--set key.path=value]... [--seed N] [--reps N] [--rep-index I] "
     "[--out DIR] [--quiet] [--pcap FILE [--pcap-side sender|receiver]]",
     "Runs the experiment in CONFIG (every replication), prints a table per QoS pair and\n"
     "writes DIR/results.json, DIR/results.csv and DIR/latency_cdf.csv.",
     "options:\n"
     "  --set key.path=value  override a config key before validation; repeatable. The\n"
     "                        path is dotted, with array indices (clients.0.qos=2,\n"
     "                        link.loss.p=0.2); the value is JSON where it parses, else\n"
     "                        a string (--set name=foo)\n"
     "  --seed N              the base seed (same as --set seed=N)\n"
     "  --reps N              the number of replications (same as --set replications=N)\n"
     "  --rep-index I         run only replication I (0-based), with the seeds it has in\n"
     "                        a full run\n"
     "  -o, --out DIR         where the result files go (default: results/<name>)\n"
     "  -q, --quiet           print no table\n"
     "  --pcap FILE           write a capture of the run (the first replication) to FILE:\n"
     "                        classic pcap, IPv4/TCP on port 1883 with simulated times,\n"
     "                        one TCP stream per client connection (datagram frames\n"
     "                        wrapped as an idealised stream); Wireshark decodes MQTT\n"
     "  --pcap-side SIDE      sender (default): every frame as sent, lost ones too;\n"
     "                        receiver: lost frames left out\n"
     "  -h, --help            show this help\n"
     "--set, --seed and --reps apply in the order given: a later one wins.\n"
     "Nothing is written when the config is bad.\n"
     "Exit status: 0 success, 1 run failure, 2 bad usage or bad config.\n",
     RUN_OPTS, cmd_run},
    {"sweep", "mqttsim sweep SWEEP [-j N] [--out DIR] [--shard I/N]",
     "Runs every point of the parameter grid in SWEEP, writes DIR/sweep.csv (one row per\n"
     "point and QoS pair) and draws the sweep's figures.",
     "options:\n"
     "  -j, --jobs N          worker processes (default: the number of cores); results\n"
     "                        do not depend on it\n"
     "  -o, --out DIR         where the sweep output goes (default: results/<sweep name>)\n"
     "  --shard I/N           run only the I-th of N fixed slices of the grid\n"
     "                        (1 <= I <= N), so N machines can share a sweep; join\n"
     "                        their outputs with 'mqttsim merge'\n"
     "  -h, --help            show this help\n"
     "Exit status: 0 success, 1 some point failed, 2 bad usage or bad sweep file.\n",
     SWEEP_OPTS, cmd_sweep},
    {"merge", "mqttsim merge DIR... --out DIR",
     "Joins the output directories of sharded sweeps into one sweep.csv.",
     "options:\n"
     "  -o, --out DIR         where the merged sweep goes (required)\n"
     "  -h, --help            show this help\n"
     "Exit status: 0 success, 1 failure, 2 bad usage.\n",
     MERGE_OPTS, cmd_merge},
    {"trace",
     "mqttsim trace CONFIG [--messages N] [--set key.path=value]... [--seed N] "
     "[--pcap FILE [--pcap-side S]]",
     "Prints the packet flow of the first messages of CONFIG's experiment, as\n"
     "sender | direction | receiver lines, with lost packets marked.",
     "options:\n"
     "  -n, --messages N      how many messages to trace (default 5); the run stops\n"
     "                        publishing after them\n"
     "  --set key.path=value  override a config key (as for 'run'); repeatable\n"
     "  --seed N              the seed (same as --set seed=N)\n"
     "  --pcap FILE           write a capture of the run (the first replication) to FILE:\n"
     "                        classic pcap, IPv4/TCP on port 1883 with simulated times,\n"
     "                        one TCP stream per client connection (datagram frames\n"
     "                        wrapped as an idealised stream); Wireshark decodes MQTT\n"
     "  --pcap-side SIDE      sender (default): every frame as sent, lost ones too;\n"
     "                        receiver: lost frames left out\n"
     "  -h, --help            show this help\n"
     "Exit status: 0 success, 1 run failure, 2 bad usage or bad config.\n",
     TRACE_OPTS, cmd_trace},
    {"check", "mqttsim check CONFIG|SWEEP [--set key.path=value]... [--seed N] [--reps N]",
     "Validates a config or a sweep file (one with a top-level \"vary\") without running\n"
     "it, and prints a summary.",
     "options:\n"
     "  --set key.path=value  override a config key (as for 'run'); repeatable\n"
     "  --seed N              the seed (same as --set seed=N)\n"
     "  --reps N              the number of replications (same as --set replications=N)\n"
     "  -h, --help            show this help\n"
     "Warnings (stderr) name keys not simulated yet, faults after the run's end, and a\n"
     "config that would measure nothing. Exit status: 0 valid, 2 bad usage or bad file.\n",
     CHECK_OPTS, cmd_check},
};
#define N_COMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

static void print_main_help(FILE *f)
{
    fprintf(f,
            "usage: mqttsim COMMAND [ARGS]...\n"
            "A discrete-event simulator of MQTT delivery guarantees (QoS 0, 1, 2) over lossy,\n"
            "delayed links.\n\n"
            "commands:\n"
            "  run CONFIG              run an experiment and write its result files\n"
            "  sweep SWEEP             run a parameter sweep (a grid of experiments)\n"
            "  merge DIR... --out DIR  join sharded sweep outputs into one sweep.csv\n"
            "  trace CONFIG            print the packet flow of the first few messages\n"
            "  check CONFIG|SWEEP      validate a config or sweep file without running it\n"
            "  testbed CONFIG          run the experiment on real TCP and Mosquitto, in namespaces\n"
            "  compare DIR DIR         put two runs' results side by side, with a verdict each\n"
            "  broker --listen ADDR    serve real MQTT clients with mqttsim's broker engine\n"
            "  client --broker ADDR    run mqttsim's client engine against a real broker\n"
            "  combine DIR...          combine client reports into a run's result files\n"
            "  help [COMMAND]          show this help, or a command's\n"
            "  help config             list every config key with its default\n\n"
            "options:\n"
            "  -h, --help              show this help\n"
            "  --version               print the version\n\n"
            "'mqttsim COMMAND --help' shows a command's options.\n"
            "Exit status: 0 success, 1 run failure, 2 bad usage or bad config.\n");
}

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(COMMANDS[i].name, name) == 0)
            return &COMMANDS[i];
    return NULL;
}

static int unknown_command(const char *name)
{
    fprintf(stderr, "mqttsim: unknown command '%s'\n", name);
    fprintf(stderr, "usage: mqttsim COMMAND [ARGS]... (commands: run, sweep, merge, trace, "
                    "check, testbed, compare, broker, client, combine, help)\nTry 'mqttsim --help' for more.\n");
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_main_help(stderr);
        return EXIT_USAGE;
    }
    const char *first = argv[1];
    if (strcmp(first, "--help") == 0 || strcmp(first, "-h") == 0) {
        print_main_help(stdout);
        return EXIT_OK;
    }
    if (strcmp(first, "--version") == 0) {
        printf("mqttsim %s\n", MQTTSIM_VERSION);
        return EXIT_OK;
    }
    if (strcmp(first, "help") == 0) {
        if (argc == 2) {
            print_main_help(stdout);
            return EXIT_OK;
        }
        if (strcmp(argv[2], "config") == 0) {
            /* --markdown: the table of docs/config.md (make docs). */
            bool md = argc == 4 && strcmp(argv[3], "--markdown") == 0;
            if (argc > 4 || (argc == 4 && !md)) {
                fprintf(stderr, "mqttsim help config: unexpected '%s'\n"
                                "usage: mqttsim help config [--markdown]\n", argv[3]);
                return EXIT_USAGE;
            }
            if (!md)
                printf("Config keys (docs/config.md explains how they combine). N is an array "
                       "index;\nevery link key also goes in link.up, link.down, clients.N.link "
                       "and its up and down.\n\n");
            exp_key_print(stdout, md);
            return EXIT_OK;
        }
        char *help_argv[] = {argv[2], "--help", NULL};
        if (argc == 3 && strcmp(argv[2], "testbed") == 0)
            return exp_cmd_testbed(2, help_argv);
        if (argc == 3 && strcmp(argv[2], "compare") == 0)
            return exp_cmd_compare(2, help_argv);
        if (argc == 3 && strcmp(argv[2], "broker") == 0)
            return exp_cmd_broker(2, help_argv);
        if (argc == 3 && strcmp(argv[2], "client") == 0)
            return exp_cmd_client(2, help_argv);
        if (argc == 3 && strcmp(argv[2], "combine") == 0)
            return exp_cmd_combine(2, help_argv);
        const command *cmd = find_command(argv[2]);
        if (!cmd)
            return unknown_command(argv[2]);
        if (argc > 3) {
            fprintf(stderr, "mqttsim help: expected one COMMAND, got %d\n"
                            "usage: mqttsim help [COMMAND]\n", argc - 2);
            return EXIT_USAGE;
        }
        print_help(stdout, cmd);
        return EXIT_OK;
    }
    if (first[0] == '-') {
        fprintf(stderr, "mqttsim: unknown option '%s'\n"
                        "usage: mqttsim COMMAND [ARGS]...\nTry 'mqttsim --help' for more.\n",
                first);
        return EXIT_USAGE;
    }
    if (strcmp(first, "testbed") == 0)
        return exp_cmd_testbed(argc - 1, argv + 1);
    if (strcmp(first, "compare") == 0)
        return exp_cmd_compare(argc - 1, argv + 1);
    if (strcmp(first, "broker") == 0)
        return exp_cmd_broker(argc - 1, argv + 1);
    if (strcmp(first, "client") == 0)
        return exp_cmd_client(argc - 1, argv + 1);
    if (strcmp(first, "combine") == 0)
        return exp_cmd_combine(argc - 1, argv + 1);
    const command *cmd = find_command(first);
    if (!cmd)
        return unknown_command(first);

    int n = argc - 2;
    opt_val *opts = calloc((size_t)n + 1, sizeof *opts);
    char **pos = calloc((size_t)n + 1, sizeof *pos);
    int nopts = 0, npos = 0, rc;
    if (!opts || !pos) {
        fprintf(stderr, "mqttsim: out of memory\n");
        rc = EXIT_RUN_FAILURE;
    } else if ((rc = split_args(cmd, n, argv + 2, opts, &nopts, pos, &npos)) == 0) {
        bool help = false;
        for (int i = 0; i < nopts; i++)
            help |= opts[i].id == O_HELP;
        if (help) {
            print_help(stdout, cmd);
            rc = EXIT_OK;
        } else {
            rc = cmd->fn(cmd, opts, nopts, pos, npos);
        }
    }
    free(opts);
    free(pos);
    return rc;
}
